"""grpo: the RFT'd target policy + train problems → a GRPO'd policy (TRL GRPOTrainer).

Reads   TRAIN        data/splits/train.parquet: question_id, subject, question, answer,
                     solution (the judge's reference, nullable)
        PAIRS        data/pairs/pairs.parquet (contract `pairs`): question_id, the problems
                     DPO learns from (with `grpo.problems: null`, GRPO's problems too)
        EVAL         data/splits/eval.parquet: question_id, subject, question, answer, ood
        INIT_MODEL   models/rft/<target>/ (stage rft; the sft directory format)
Writes  OUT_DIR      models/grpo/<target>/: the model and tokenizer (save_pretrained), the
                     init model's mathforge_prompt.json, manifest.parquet (`policy_models`)
        METRICS      metrics/grpo.json: problems (and why others were left out), steps,
                     epochs, rollouts and their outcomes (correct, wrong_answer, judge_rejected,
                     or the sandbox's error kind), the mean reward at the first and last
                     logging step, held-out accuracy
        PLOT         plots/grpo/train.csv: step, loss, reward, reward_std,
                     completion_length, learning_rate
The online-RL comparison to DPO: `grpo.num_generations` completions per problem sampled from
the current policy, each rewarded 1 when its programs, run in the sandbox, print an answer
`answers_match` accepts against the gold one (and, with `grpo.judge`, the programmatic judge
accepts the path), else 0 (`mathforge.training.grpo`). The saved model is reloaded and must
generate before the output is put in place; held-out accuracy is `heldout_accuracy` on the eval
problems sft, rft and dpo measure. Wall-clock time is printed, never written to the metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transformers.utils import logging as hf_logging

from mathforge.config import GrpoParams, load_params
from mathforge.contracts.splits import EVAL, TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.io import write_text
from mathforge.stage import Stage
from mathforge.training.grpo import (
    CURVE,
    INPUT_COLUMNS,
    NoProblemFits,
    select_problems,
    train_grpo,
)
from mathforge.training.policy import (
    check_init_model,
    curve_csv,
    read_pairs,
    train_policy,
)

EVAL_COLUMNS = ("question_id", "subject", "question", "answer", "ood")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("pairs", type=Path)
    parser.add_argument("eval", type=Path)
    parser.add_argument("init_model", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("plot", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: GrpoParams = load_params("grpo", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    check_init_model(args.init_model)

    stage = Stage("grpo")
    train = TRAIN.read(args.train, INPUT_COLUMNS)
    # grpo.problems: null takes the pairs' problems, so it needs pairs; a number does not
    pairs = read_pairs(args.pairs, ["question_id"], allow_empty=cfg.problems is not None)
    pair_problems = pairs["question_id"].unique().sort().to_list()
    if cfg.problems is None:
        missing = sorted(set(pair_problems) - set(train["question_id"]))
        if missing:
            raise UserError(
                f"{args.pairs}: {len(missing)} pair problem(s) not in {args.train}, e.g. "
                f"{missing[0]} (the pairs come from another split: run `dvc repro pairs`)"
            )
    problems, dropped = select_problems(train, pair_problems, cfg.problems, cfg.seed)
    if problems.height == 0:
        raise UserError(f"no GRPO problem: none with a gold answer in {args.train} ({dropped})")
    eval_df = EVAL.read(args.eval, EVAL_COLUMNS)
    name = args.out_dir.name

    try:
        metrics, curve, sample, seconds = train_policy(
            stage, cfg, args.init_model, args.out_dir, eval_df, problems["question"][0],
            lambda path, out, system: train_grpo(path, problems, cfg, out, system), "problems",
        )  # fmt: skip
    except NoProblemFits as err:
        raise UserError(f"{err}: raise grpo.max_length or lower max_completion_length") from err

    metrics |= {
        "problem_source": "pairs" if cfg.problems is None else "train_draw",
        **{f"dropped_{reason}": n for reason, n in dropped.items()},
    }
    stage.write_metrics(args.metrics, **metrics, train_seconds=seconds)
    write_text(curve_csv(curve, list(CURVE)), args.plot)
    print(
        f"grpo {name}: {metrics['problems']} problems, {metrics['steps']} steps "
        f"({metrics['rollouts']} rollouts, {metrics['rollouts_correct']} rewarded) in {seconds} s; "
        f"reward {metrics['reward_first']} -> {metrics['reward_final']}; held-out accuracy "
        f"{metrics['heldout_accuracy']}; sample {sample!r}"
    )


if __name__ == "__main__":
    run_stage("grpo", main)
