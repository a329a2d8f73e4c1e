"""dpo: the RFT'd target policy + the mined pairs → a DPO'd policy (TRL DPOTrainer).

Reads   PAIRS        data/pairs/pairs.parquet (contract `pairs`): pair_id, question_id,
                     subject, strategy, pair_type, prompt (the question), chosen, rejected
        EVAL         data/splits/eval.parquet: question_id, subject, question, answer, ood
        INIT_MODEL   models/rft/<target>/ (stage rft; the sft directory format)
Writes  OUT_DIR      models/dpo/<target>/: the model and tokenizer (save_pretrained), the
                     init model's mathforge_prompt.json, manifest.parquet (`policy_models`)
        METRICS      metrics/dpo.json: pairs, problems, steps, epochs, the loss and its
                     weights, the trainer's reward accuracy / margin / log-probs (first and
                     last logging step), held-out accuracy; the pairs by type and strategy
        PLOT         plots/dpo/train.csv: step, loss, reward_accuracy, reward_margin,
                     logps_chosen, logps_rejected, learning_rate
Each pair is TRL's conversational preference row on the chat `solve_prompt(question)` the
policy is sampled with (`mathforge.training.dpo`); the init model is also the frozen
reference; the loss is ``loss_type=["sigmoid", "sft"]``, ``loss_weights=[1, dpo.sft_weight]``.
The pair strategy is the pairs stage's (``dvc exp run -S pairs.strategy=best_worst`` is the
recipe's ablation). The saved model is reloaded and must generate before the output is put
in place; held-out accuracy is `heldout_accuracy` on the eval problems sft and rft measure
(the same `accuracy_problems` and `seed`). Wall-clock time is printed, never written to the
metrics (it would change them on every rerun).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transformers.utils import logging as hf_logging

from mathforge.config import DpoParams, load_params
from mathforge.contracts.splits import EVAL
from mathforge.errors import run_stage
from mathforge.io import write_text
from mathforge.stage import Stage
from mathforge.training.dpo import CURVE, INPUT_COLUMNS, train_dpo
from mathforge.training.policy import (
    check_init_model,
    curve_csv,
    read_pairs,
    train_policy,
)

EVAL_COLUMNS = ("question_id", "subject", "question", "answer", "ood")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("eval", type=Path)
    parser.add_argument("init_model", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("plot", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: DpoParams = load_params("dpo", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    check_init_model(args.init_model)

    stage = Stage("dpo")
    pairs = read_pairs(args.pairs, [*INPUT_COLUMNS, "strategy", "pair_type"])
    eval_df = EVAL.read(args.eval, EVAL_COLUMNS)
    name = args.out_dir.name

    metrics, curve, sample, seconds = train_policy(
        stage, cfg, args.init_model, args.out_dir, eval_df, pairs["prompt"][0],
        lambda path, out, system: train_dpo(path, pairs, cfg, out, system), "pairs",
    )  # fmt: skip

    by_type = pairs.group_by("pair_type").len().sort("pair_type")
    metrics |= {
        "strategy": ",".join(sorted(set(pairs["strategy"]))),
        "pairs_by_type": dict(zip(by_type["pair_type"], by_type["len"], strict=True)),
    }
    stage.write_metrics(args.metrics, **metrics, train_seconds=seconds)
    write_text(curve_csv(curve, list(CURVE)), args.plot)
    print(
        f"dpo {name}: {metrics['pairs']} pairs, {metrics['steps']} steps in {seconds} s; loss "
        f"{metrics['train_loss_final']}, reward accuracy {metrics['reward_accuracy_final']}, "
        f"margin {metrics['reward_margin_final']}; held-out accuracy "
        f"{metrics['heldout_accuracy']}; sample {sample!r}"
    )


if __name__ == "__main__":
    run_stage("dpo", main)
