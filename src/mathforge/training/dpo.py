"""DPO on the mined pairs (stage dpo): TRL's DPOTrainer from the RFT'd policy, with the same
policy, frozen, as its reference.

Input columns (table `pairs`): ``pair_id, question_id, prompt, chosen, rejected`` (``prompt``
is the question's text). A DPO row is TRL's conversational preference row::

    prompt   = solve_prompt(question, system=<the model directory's setting>)
    chosen   = [{"role": "assistant", "content": chosen}]
    rejected = [{"role": "assistant", "content": rejected}]

so the policy is trained on the chat it is sampled and evaluated with. The loss is
``loss_type=["sigmoid", "sft"]`` with ``loss_weights=[1.0, dpo.sft_weight]`` (TRL 1.16's
replacement of ``rpo_alpha``): DPO's sigmoid loss plus the chosen paths' mean token NLL,
which keeps the policy near text it writes well.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch

from mathforge.config import DpoParams
from mathforge.solution import solve_prompt
from mathforge.training.policy import curve_from_log
from mathforge.training.run import trainer_args, write_training_record

INPUT_COLUMNS = ("pair_id", "question_id", "subject", "prompt", "chosen", "rejected")
LOSS_TYPE = ["sigmoid", "sft"]
# plots/dpo/<target>.csv: column -> DPOTrainer's log key (trl/trainer/dpo_trainer.py)
CURVE = {
    "loss": "loss",
    "reward_accuracy": "rewards/accuracies",
    "reward_margin": "rewards/margins",
    "logps_chosen": "logps/chosen",
    "logps_rejected": "logps/rejected",
    "learning_rate": "learning_rate",
}


def preference_rows(pairs: pl.DataFrame, system: bool = True) -> list[dict[str, Any]]:
    """TRL conversational preference rows, one per pair (prompt = the question's text)."""
    return [
        {
            "prompt": solve_prompt(question, system=system),
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
        for question, chosen, rejected in zip(
            pairs["prompt"], pairs["chosen"], pairs["rejected"], strict=True
        )
    ]


def dpo_config(cfg: DpoParams, output_dir: Path):
    """TRL's DPOConfig from our params: the shared CPU-safe fields, beta, and the sigmoid + SFT
    loss weighted [1, sft_weight]."""
    from trl import DPOConfig

    return DPOConfig(
        **trainer_args(cfg, output_dir),
        max_length=cfg.max_length,
        beta=cfg.beta,
        loss_type=list(LOSS_TYPE),
        loss_weights=[1.0, cfg.sft_weight],
    )


def dpo_trainer(model_path: str, rows: list[dict[str, Any]], cfg: DpoParams, scratch: Path):
    """A DPOTrainer on `rows` for the model at `model_path`, a second copy of which is the
    frozen reference (explicit, rather than TRL's reload of the model's recorded path)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    reference = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    return DPOTrainer(
        model=model,
        ref_model=reference,
        args=dpo_config(cfg, scratch),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )


def train_dpo(
    model_path: str, pairs: pl.DataFrame, cfg: DpoParams, out_dir: Path, system: bool = True
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """DPO of the model at `model_path` on `pairs`; saves model + tokenizer to `out_dir`.

    Returns the metrics (pairs, steps, final loss, the trainer's logged reward accuracy and
    margin and chosen / rejected log-probs at the last logging step, and over the run) and the
    curve, one entry per logging step. Seconds are in `seconds` of the result only for the
    stage to print (never in the metrics file).
    """
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    rows = preference_rows(pairs, system)
    with tempfile.TemporaryDirectory(prefix="dpo-trainer-") as scratch:
        trainer = dpo_trainer(model_path, rows, cfg, Path(scratch))
        trained_pairs = len(trainer.train_dataset)
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        curve = curve_from_log(trainer.state.log_history, CURVE)
        trainer.save_model(str(out_dir))
        write_training_record(trainer, out_dir)
    trainer.processing_class.save_pretrained(str(out_dir))
    (out_dir / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
    steps = int(trainer.state.global_step)
    effective_batch = cfg.batch_size * cfg.gradient_accumulation_steps
    last = curve[-1] if curve else {}
    metrics = {
        "pairs": len(rows),
        "pairs_trained": trained_pairs,
        # TRL drops a pair whose prompt alone fills max_length (nothing left to learn from)
        "dropped_prompt_fills_max_length": len(rows) - trained_pairs,
        "problems": pairs["question_id"].n_unique(),
        "steps": steps,
        "effective_batch_size": effective_batch,
        "epochs": round(steps * effective_batch / max(trained_pairs, 1), 3),
        "loss_type": list(LOSS_TYPE),
        "loss_weights": [1.0, cfg.sft_weight],
        "train_loss_final": _round(last.get("loss")),
        "train_loss_mean": round(float(result.training_loss), 5),
        "reward_accuracy_first": _round(curve[0].get("reward_accuracy") if curve else None),
        "reward_accuracy_final": _round(last.get("reward_accuracy")),
        "reward_margin_first": _round(curve[0].get("reward_margin") if curve else None),
        "reward_margin_final": _round(last.get("reward_margin")),
        "logps_chosen_final": _round(last.get("logps_chosen")),
        "logps_rejected_final": _round(last.get("logps_rejected")),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
    }
    if not math.isfinite(metrics["train_loss_mean"]):
        raise FloatingPointError(f"DPO diverged: loss {metrics['train_loss_mean']}")
    return metrics | {"seconds": round(seconds, 2)}, curve


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 5)
