"""SFT on reference solutions: example selection, prompt-completion data, TRL's SFTTrainer.

Input columns (train / eval splits): ``question_id, subject, question, solution
(nullable), generator``. An SFT example is a conversational prompt-completion
row::

    prompt     = solve_prompt(question)            # system + user, as sampling uses
    completion = [{"role": "assistant", "content": solution}]

and the loss covers the completion only (its tokens and the closing ``<|eos|>``
the chat template adds); every prompt token is labelled -100.

Reference solutions are scarce on purpose (DESIGN.md, "Two profiles"): only
rows whose ``generator`` is in ``sft.sources`` and that have a solution are
eligible, and at most ``sft.max_examples`` of them are drawn with ``sft.seed``,
stratified by subject, so later RFT has problems left to add paths for.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import torch

from mathforge.config import SFTParams, TrainingParams
from mathforge.solution import solve_prompt
from mathforge.splitting import stratified_sample
from mathforge.training.run import trainer_args, write_training_record

INPUT_COLUMNS = ("question_id", "subject", "question", "solution", "generator")


def select_examples(
    train: pl.DataFrame, sources: Sequence[str], max_examples: int | None, seed: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The train rows SFT uses (INPUT_COLUMNS needed), and why each other row was left out
    (counts by reason)."""
    dropped: Counter[str] = Counter()
    has_solution = train["solution"].is_not_null() & (
        train["solution"].str.strip_chars().str.len_chars() > 0
    )
    dropped["no_solution"] = int((~has_solution).sum())
    rows = train.filter(has_solution)
    in_sources = rows["generator"].is_in(list(sources))
    dropped["source_not_selected"] = int((~in_sources).sum())
    rows = rows.filter(in_sources)
    kept = stratified_sample(rows, max_examples, seed)
    dropped["over_max_examples"] = rows.height - kept.height
    return kept, dict(dropped)


def prompt_completion_rows(df: pl.DataFrame, system: bool = True) -> list[dict[str, Any]]:
    """Conversational prompt-completion examples, one per row of `df` (question, solution)."""
    return [
        {
            "prompt": solve_prompt(question, system=system),
            "completion": [{"role": "assistant", "content": solution}],
        }
        for question, solution in zip(df["question"], df["solution"], strict=True)
    ]


def chat_rows(prompts: Sequence[str], completions: Sequence[str]) -> list[dict[str, Any]]:
    """Prompt-completion chat rows from a user message and the assistant's answer each."""
    return [
        {
            "prompt": [{"role": "user", "content": prompt}],
            "completion": [{"role": "assistant", "content": completion}],
        }
        for prompt, completion in zip(prompts, completions, strict=True)
    ]


def to_dataset(df: pl.DataFrame, system: bool = True):
    """The prompt-completion rows as a `datasets.Dataset` (only the two columns TRL reads)."""
    from datasets import Dataset

    return Dataset.from_list(prompt_completion_rows(df, system))


def tokenize_chat(rows, tokenizer, max_length: int | None):
    """Prompt-completion chat rows (a list, or a `datasets.Dataset` of them) as the
    trainer-ready `datasets.Dataset` TRL's SFTTrainer would prepare from them: ``input_ids``
    of prompt + completion through the chat template and ``labels`` (-100 over the prompt),
    cut to `max_length` from the start, rows with nothing left to learn dropped.

    TRL prepares row by row (a `Dataset.map` per step, a chat-template render and an encode
    per row); on the 76k-row pretraining corpus that took a minute of each pretrain stage.
    Here the chat template renders and the tokenizer encodes whole batches at once.
    `tests/test_sft.py` checks the rows equal TRL's own preparation."""
    from datasets import Dataset
    from trl.data_utils import common_prefix_length

    rows = rows.to_list() if isinstance(rows, Dataset) else rows
    prompts = [row["prompt"] for row in rows]
    full = [row["prompt"] + row["completion"] for row in rows]
    ids: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
    for start in range(0, len(rows), 4096):  # bounded memory, whatever the corpus size
        with _tokenizers_parallelism():
            prompt_ids = tokenizer.apply_chat_template(
                prompts[start : start + 4096], tokenize=True, add_generation_prompt=True,
                return_dict=True,
            )["input_ids"]  # fmt: skip
            full_ids = tokenizer.apply_chat_template(
                full[start : start + 4096], tokenize=True, return_dict=True
            )["input_ids"]
        for prompt, sequence in zip(prompt_ids, full_ids, strict=True):
            # where prompt and prompt + completion diverge, as TRL counts it
            cut = common_prefix_length(prompt, sequence)
            labels = [-100] * cut + sequence[cut:]
            if max_length is not None:
                sequence, labels = sequence[:max_length], labels[:max_length]
            if any(label != -100 for label in labels):
                ids["input_ids"].append(sequence)
                ids["labels"].append(labels)
    return Dataset.from_dict(ids)


@contextlib.contextmanager
def _tokenizers_parallelism():
    """Batch encodes on every core: the stages switch tokenizers' threads off (they would fight
    the sandbox's workers), but no program runs while a training set is tokenized."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def sft_config(cfg: TrainingParams, output_dir: Path):
    """TRL's SFTConfig from our params: CPU-safe, no checkpoints, no hub, no progress bars."""
    from trl import SFTConfig

    return SFTConfig(
        **trainer_args(cfg, output_dir),
        per_device_eval_batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        completion_only_loss=True,
        # Batches of similar lengths: the corpus mixes 60- and 250-token rows, and padding to
        # the longest made a step 1.9x slower (benchmarks/bench_training.py).
        train_sampling_strategy="group_by_length",
        # the datasets arrive tokenized (`tokenize_chat`), with labels and cut to max_length
        dataset_kwargs={"skip_prepare_dataset": True},
    )


def plain_loss_trainer():
    """TRL's SFTTrainer computing the loss with a plain cross-entropy (the same mean over
    completion tokens) instead of TRL's chunked fused LM head, whose tiles cost these tiny CPU
    models 1.4x a step and which feeds only the entropy / token-accuracy logs. In training the
    LM head runs on the completion positions alone: the prompt's logits have no label, and
    on the corpus's rows they were half of the head's work (benchmarks/bench_training.py)."""
    from transformers import PreTrainedModel
    from trl import SFTTrainer

    class PlainLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs or not isinstance(model, PreTrainedModel):
                # evaluation wants the outputs; a wrapped model (DDP, DeepSpeed) its own forward
                outputs = model(**inputs, use_cache=False, num_items_in_batch=num_items_in_batch)
                return (outputs.loss, outputs) if return_outputs else outputs.loss
            return completion_loss(model, inputs, num_items_in_batch)

    return PlainLossSFTTrainer


def completion_loss(model, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
    """The causal-LM loss of `inputs` (with ``labels``, -100 where nothing is learned) from
    logits at the labelled positions only: the sum of their cross-entropies over
    `num_items_in_batch` (gradient accumulation's count), or their mean."""
    features = {k: v for k, v in inputs.items() if k != "labels"}
    hidden = model.get_decoder()(**features, use_cache=False).last_hidden_state
    targets = inputs["labels"][:, 1:]
    learned = targets != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][learned])
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[learned], reduction="sum")
    return loss / (learned.sum() if num_items_in_batch is None else num_items_in_batch)


def train_sft(
    model_path: str,
    train_rows: pl.DataFrame,
    eval_rows: pl.DataFrame,
    cfg: SFTParams,
    out_dir: Path,
    system: bool = True,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Fine-tune the model at `model_path` on the reference solutions of `train_rows` (the
    mixed format, `solve_prompt`; `system`: with the format-teaching system message)."""
    return train_chat(
        model_path, to_dataset(train_rows, system), to_dataset(eval_rows, system), cfg, out_dir
    )


def train_chat(
    model_path: str, train, held_out, cfg: TrainingParams, out_dir: Path
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Train the model at `model_path` on prompt-completion chat rows (lists or `Dataset`s,
    loss on the completions only) and save model + tokenizer to `out_dir`.

    Returns the metrics (final train loss, steps, examples, tokens, seconds, held-out loss
    on `held_out` before and after) and the training curve, one entry per logging step.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    examples, heldout_examples = len(train), len(held_out)
    train = tokenize_chat(train, tokenizer, cfg.max_length)
    held_out = tokenize_chat(held_out, tokenizer, cfg.max_length)
    # The Trainer wants a working directory; nothing is saved there (save_strategy="no").
    with tempfile.TemporaryDirectory(prefix="sft-trainer-") as scratch:
        args = sft_config(cfg, Path(scratch))
        trainer = plain_loss_trainer()(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=held_out,
            processing_class=tokenizer,
        )
        prepared = trainer.train_dataset
        example_tokens = sum(len(ids) for ids in prepared["input_ids"])
        completion_tokens = sum(
            sum(1 for t in labels if t != -100) for labels in prepared["labels"]
        )

        before = trainer.evaluate()["eval_loss"]
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        after = trainer.evaluate()["eval_loss"]

        curve = [
            {
                "step": int(e["step"]),
                "loss": float(e["loss"]),
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
        "examples": examples,
        "example_tokens": example_tokens,
        "completion_tokens": completion_tokens,
        "steps": steps,
        "effective_batch_size": effective_batch,
        "epochs": round(steps * effective_batch / max(len(train), 1), 3),
        "sequences_seen": steps * effective_batch,
        "train_loss_final": round(curve[-1]["loss"], 5) if curve else None,
        "train_loss_mean": round(float(result.training_loss), 5),
        "heldout_examples": heldout_examples,
        "heldout_loss_before": round(float(before), 5),
        "heldout_loss": round(float(after), 5),
        "train_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / max(steps, 1), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    for value in (metrics["heldout_loss"], metrics["train_loss_mean"]):
        if not math.isfinite(value):
            raise FloatingPointError(f"training diverged: loss {value}")
    return metrics, curve


def curve_csv(curve: list[dict[str, float]]) -> str:
    """The training curve as the stage's plot file: step, loss, learning_rate."""
    lines = ["step,loss,learning_rate"]
    lines += [f"{p['step']},{p['loss']:.6f},{p['learning_rate']:.8g}" for p in curve]
    return "\n".join(lines) + "\n"
