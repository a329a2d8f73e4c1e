"""Reward-model training: TRL's RewardTrainer on tokenized preference pairs.

Input: rows of ``chosen_ids`` and ``rejected_ids`` (`mathforge.reward.encode` of the chat of
the solving prompt and each path; TRL takes such a processed dataset as it is). The model is
the starting causal LM loaded by TRL as ``AutoModelForSequenceClassification`` with
``num_labels=1``: its transformer's weights, a new score head read at the last non-pad token.
The loss is TRL's Bradley-Terry loss, ``-log sigmoid(r_chosen - r_rejected)``.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mathforge.config import OptimizerParams
from mathforge.training.run import trainer_args, write_training_record


def reward_config(cfg: OptimizerParams, output_dir: Path):
    """TRL's RewardConfig from our params: CPU-safe, no checkpoints, no hub, no progress bars."""
    from trl import RewardConfig

    return RewardConfig(
        **trainer_args(cfg, output_dir),
        per_device_eval_batch_size=cfg.batch_size,
        max_length=cfg.max_length,
    )


def train_reward(
    model_path: str, pairs: list[dict[str, list[int]]], cfg: OptimizerParams, out_dir: Path
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Train a reward model from the causal LM at `model_path` on tokenized `pairs`
    (``chosen_ids``, ``rejected_ids``; each within cfg.max_length) and save it, with its
    tokenizer, to `out_dir`.

    Returns the metrics (steps, seconds, final train loss and accuracy) and the training
    curve, one entry per logging step (step, loss, accuracy, learning_rate).
    """
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardTrainer

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    # The Trainer wants a working directory; nothing is saved there (save_strategy="no").
    with tempfile.TemporaryDirectory(prefix="reward-trainer-") as scratch:
        trainer = RewardTrainer(
            model=model_path,  # TRL loads it with num_labels=1, after seeding the new head
            args=reward_config(cfg, Path(scratch)),
            train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer,
        )
        kept = len(trainer.train_dataset)
        if kept != len(pairs):  # the stage leaves longer pairs out first, and counts them
            raise ValueError(f"RewardTrainer dropped {len(pairs) - kept} pair(s) over max_length")
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        curve = [
            {
                "step": int(e["step"]),
                "loss": float(e["loss"]),
                "accuracy": float(e["accuracy"]),
                "learning_rate": float(e["learning_rate"]),
            }
            for e in trainer.state.log_history
            if "loss" in e and "step" in e
        ]
        trainer.save_model(str(out_dir))
        write_training_record(trainer, out_dir)
    tokenizer.save_pretrained(str(out_dir))
    steps = int(trainer.state.global_step)
    effective_batch = cfg.batch_size * cfg.gradient_accumulation_steps
    metrics = {
        "steps": steps,
        "effective_batch_size": effective_batch,
        "epochs": round(steps * effective_batch / max(len(pairs), 1), 3),
        "train_loss_final": round(curve[-1]["loss"], 5) if curve else None,
        "train_accuracy_final": round(curve[-1]["accuracy"], 4) if curve else None,
        "train_loss_mean": round(float(result.training_loss), 5),
        "train_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / max(steps, 1), 4),
    }
    if not math.isfinite(metrics["train_loss_mean"]):
        raise FloatingPointError(f"training diverged: loss {metrics['train_loss_mean']}")
    return metrics, curve


def curve_csv(curve: list[dict[str, float]]) -> str:
    """The training curve as the stage's plot file: step, loss, accuracy, learning_rate."""
    lines = ["step,loss,accuracy,learning_rate"]
    lines += [
        f"{p['step']},{p['loss']:.6f},{p['accuracy']:.4f},{p['learning_rate']:.8g}" for p in curve
    ]
    return "\n".join(lines) + "\n"
