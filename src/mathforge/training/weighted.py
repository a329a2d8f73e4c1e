"""SFT with a per-sample loss weight: RFT's dynamic hard-sample weighting (stage rft).

The recipe: hard samples (paths of problems where fewer than half of the first 10 paths were
judged correct; the filter's `hard` flag) need many more steps than easy ones, which converge
in the first few, so hard samples get a larger loss weight. TRL's SFTTrainer has no
per-sample weight (its users ask: huggingface/trl #5613, #5761), so this is a thin subclass of
the project's SFT trainer (``training.sft.plain_loss_trainer``):

- a ``hard`` column (0/1) survives the trainer's column filter (``_set_signature_columns_if_
  needed``) and its collator (``KeepColumn`` wraps TRL's and stacks the flags);
- ``compute_loss`` takes each sample's *mean* token loss over its completion, multiplies it by
  the sample's weight and averages over the micro-batch, so a sample's weight, not its length,
  sets its share of the gradient;
- that loss is not scaled for gradient accumulation (``loss_is_scaled_for_ga = False``): the
  Trainer divides it by the accumulation steps, so batch 4 x 1 step and batch 2 x 2
  accumulated steps give the same update (tests/test_rft.py checks it).

The weights (``HardWeights``), by ``rft.weighting``:

- ``none``: every sample 1 (the ablation);
- ``fixed``: hard samples ``rft.hard_weight``, easy ones 1;
- ``dynamic``: hard samples ``clip(hard_loss / easy_loss, 1, rft.hard_weight)``, where the two
  are running means (exponential, ``rft.loss_ema``) of the hard and easy samples' losses
  seen in training; 1 until both have been seen. Early on both losses are high and the
  weight stays near 1; as the easy samples converge their loss falls faster, and the hard
  samples' weight rises toward the ceiling: the schedule "rises as easy samples converge".
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mathforge.config import RftParams
from mathforge.training.run import write_training_record
from mathforge.training.sft import plain_loss_trainer, sft_config, tokenize_chat

WEIGHT_COLUMN = "hard"  # the column the weights are computed from (0/1)


class HardWeights:
    """The loss weight of each sample by its hard flag, under one of the three rules."""

    def __init__(self, weighting: str, hard_weight: float, ema: float) -> None:
        if weighting not in ("none", "fixed", "dynamic"):
            raise ValueError(f"unknown weighting {weighting!r}")
        if hard_weight < 1:
            raise ValueError(f"hard_weight must be at least 1, got {hard_weight}")
        self.weighting, self.hard_weight, self.ema = weighting, hard_weight, ema
        self.hard_loss: float | None = None  # running means of the losses seen in training
        self.easy_loss: float | None = None

    def hard(self) -> float:
        """The hard samples' weight now (easy samples always weigh 1)."""
        if self.weighting == "none":
            return 1.0
        if self.weighting == "fixed":
            return self.hard_weight
        if self.hard_loss is None or self.easy_loss is None or self.easy_loss <= 0:
            return 1.0
        return min(max(self.hard_loss / self.easy_loss, 1.0), self.hard_weight)

    def weights(self, hard: torch.Tensor) -> torch.Tensor:
        """One weight per sample of a batch (`hard`: its 0/1 flags)."""
        return torch.where(hard.bool(), self.hard(), 1.0).to(torch.float32)

    def update(self, losses: torch.Tensor, hard: torch.Tensor) -> None:
        """Fold a training batch's per-sample losses into the running means."""
        for flag, attr in ((True, "hard_loss"), (False, "easy_loss")):
            chosen = losses[hard.bool() == flag]
            if chosen.numel():
                mean = float(chosen.mean())
                old = getattr(self, attr)
                setattr(self, attr, mean if old is None else self.ema * old + (1 - self.ema) * mean)


def sample_losses(model, inputs: dict[str, Any]) -> torch.Tensor:
    """Each sample's mean cross-entropy over its labelled (completion) tokens; the LM head
    runs on those positions alone, as ``training.sft.completion_loss`` does."""
    features = {k: v for k, v in inputs.items() if k != "labels"}
    hidden = model.get_decoder()(**features, use_cache=False).last_hidden_state
    targets = inputs["labels"][:, 1:]
    learned = targets != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][learned])
    token = torch.nn.functional.cross_entropy(logits.float(), targets[learned], reduction="none")
    rows = learned.nonzero()[:, 0]
    sums = torch.zeros(targets.shape[0], dtype=token.dtype, device=token.device)
    sums = sums.index_add(0, rows, token)
    return sums / learned.sum(dim=1).clamp(min=1)


class KeepColumn:
    """A collator that passes one integer column through beside what `collator` builds."""

    def __init__(self, collator, column: str = WEIGHT_COLUMN) -> None:
        self.collator, self.column = collator, column

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if not examples or self.column not in examples[0]:
            return self.collator(examples)
        values = [int(example[self.column]) for example in examples]
        batch = self.collator(
            [{k: v for k, v in example.items() if k != self.column} for example in examples]
        )
        batch[self.column] = torch.tensor(values, dtype=torch.long)
        return batch


def weighted_trainer(weights: HardWeights):
    """The SFT trainer class whose loss weights each sample by `weights` (module docstring)."""
    from transformers import PreTrainedModel

    base = plain_loss_trainer()

    class WeightedSFTTrainer(base):
        loss_is_scaled_for_ga = False  # a mean over the micro-batch: the Trainer divides by GA

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.data_collator = KeepColumn(self.data_collator)
            self.hard_weights = weights

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if WEIGHT_COLUMN not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, WEIGHT_COLUMN]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            hard = inputs.pop(WEIGHT_COLUMN, None)
            if hard is None or return_outputs or not isinstance(model, PreTrainedModel):
                # held-out loss (no flags), or a wrapped model: the plain, unweighted loss
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            losses = sample_losses(model, inputs)
            loss = (self.hard_weights.weights(hard).to(losses.device) * losses).mean()
            if model.training:
                self.hard_weights.update(losses.detach(), hard)
            return loss

        def log(self, logs: dict[str, float], *args, **kwargs) -> None:
            if "loss" in logs:
                logs["hard_weight"] = round(self.hard_weights.hard(), 4)
            super().log(logs, *args, **kwargs)

    return WeightedSFTTrainer


def weighted_dataset(rows: list[dict[str, Any]], hard: list[bool], tokenizer, max_length: int):
    """Prompt-completion chat rows tokenized as SFT's (``tokenize_chat``), each with its 0/1
    ``hard`` flag (rows with nothing left to learn after the cut are dropped, as there)."""
    from datasets import concatenate_datasets

    parts = []
    for flag in (False, True):
        subset = [row for row, h in zip(rows, hard, strict=True) if h == flag]
        if subset:
            part = tokenize_chat(subset, tokenizer, max_length)
            parts.append(part.add_column(WEIGHT_COLUMN, [int(flag)] * len(part)))
    return concatenate_datasets(parts)


def train_weighted(
    model_path: str,
    rows: list[dict[str, Any]],
    hard: list[bool],
    held_out: list[dict[str, Any]],
    cfg: RftParams,
    out_dir: Path,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Fine-tune the model at `model_path` on `rows` (chat prompt-completion, loss on the
    completions), weighting each by its `hard` flag under ``cfg.weighting``; save model and
    tokenizer to `out_dir`. Returns the metrics (losses before/after on `held_out`, steps,
    the hard weight at the end) and the curve (step, loss, learning rate, hard weight)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    train = weighted_dataset(rows, hard, tokenizer, cfg.max_length)
    heldout = tokenize_chat(held_out, tokenizer, cfg.max_length)
    weights = HardWeights(cfg.weighting, cfg.hard_weight, cfg.loss_ema)
    with tempfile.TemporaryDirectory(prefix="rft-trainer-") as scratch:
        trainer = weighted_trainer(weights)(
            model=model,
            args=sft_config(cfg, Path(scratch)),
            train_dataset=train,
            eval_dataset=heldout,
            processing_class=tokenizer,
        )
        before = trainer.evaluate()["eval_loss"]
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        after = trainer.evaluate()["eval_loss"]
        curve = [
            {"step": int(e["step"]), "loss": float(e["loss"]),
             "learning_rate": float(e["learning_rate"]), "hard_weight": float(e["hard_weight"])}
            for e in trainer.state.log_history
            if "loss" in e and "step" in e
        ]  # fmt: skip
        trainer.save_model(str(out_dir))
        write_training_record(trainer, out_dir)
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
    steps = int(trainer.state.global_step)
    metrics = {
        "train_rows": len(train),
        "hard_rows": int(sum(train[WEIGHT_COLUMN])),
        "steps": steps,
        "sequences_seen": steps * cfg.batch_size * cfg.gradient_accumulation_steps,
        "train_loss_final": round(curve[-1]["loss"], 5) if curve else None,
        "train_loss_mean": round(float(result.training_loss), 5),
        "hard_weight_final": round(weights.hard(), 4),
        "running_loss_hard": None if weights.hard_loss is None else round(weights.hard_loss, 5),
        "running_loss_easy": None if weights.easy_loss is None else round(weights.easy_loss, 5),
        "heldout_examples": len(heldout),
        "heldout_loss_before": round(float(before), 5),
        "heldout_loss": round(float(after), 5),
    }
    for value in (metrics["heldout_loss"], metrics["train_loss_mean"]):
        if not math.isfinite(value):
            raise FloatingPointError(f"training diverged: loss {value}")
    print(f"rft: {steps} steps in {seconds:.1f} s ({seconds / max(steps, 1):.3f} s a step)")
    return metrics, curve


def curve_csv(curve: list[dict[str, float]]) -> str:
    """The training curve as the stage's plot file: step, loss, learning_rate, hard_weight."""
    lines = ["step,loss,learning_rate,hard_weight"]
    lines += [
        f"{p['step']},{p['loss']:.6f},{p['learning_rate']:.8g},{p['hard_weight']:.4f}"
        for p in curve
    ]
    return "\n".join(lines) + "\n"
