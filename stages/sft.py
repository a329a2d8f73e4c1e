"""sft: one base model + the train split's reference solutions → an SFT'd policy (TRL SFTTrainer).

Reads   TRAIN        data/splits/train.parquet: question_id, subject, question, solution
                     (nullable), generator (seed | programmatic | llm)
        EVAL         data/splits/eval.parquet: the same columns, plus ood
        BASE_MODEL   models/pretrained/<name>/ (stage pretrain; on the GPU profile a
                     pretrained pointer from models/base/<name>/)
Writes  OUT_DIR      models/sft/<name>/: the fine-tuned model and tokenizer (save_pretrained),
                     plus sft_examples.parquet (contract `sft_examples`) naming the train rows
                     it learned from, for lineage, and manifest.parquet (contract `models`)
        METRICS      metrics/sft/<name>.json: examples, tokens, steps, final train
                     loss, held-out loss before/after on eval reference solutions, and why
                     train rows were left out (no_solution, source_not_selected,
                     over_max_examples)
        PLOT         plots/sft/<name>.csv: step, loss, learning_rate (the training curve)
Each example is the chat `solve_prompt(question)` → the reference solution,
with the loss on the completion only. Only `sft.sources` rows, at most
`sft.max_examples` of them (seeded, stratified by subject): reference solutions
stay scarce so RFT has problems left to add paths for. The held-out loss uses
`sft.eval_examples` in-distribution eval rows (stratified by subject). The
saved model is reloaded and must generate before the output is put in place.
After training, `sft.accuracy_problems` eval-split problems (stratified by subject and
in/out of distribution) are solved greedily, executed in the sandbox and graded by
`mathforge.evaluation` (`heldout_accuracy`, `heldout_ood_accuracy`, with 95% intervals).
Timings and accuracies at the default params: the README's "Where the CPU demo stands".
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import polars as pl
from transformers.utils import logging as hf_logging

from mathforge.config import SFTParams, load_params
from mathforge.contracts.models import EXAMPLES_FILE, SFT_EXAMPLES
from mathforge.contracts.splits import EVAL, TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.evaluation import heldout_accuracy
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet, write_text
from mathforge.modeling import PROMPT_FILE, resolve_model_path, uses_system_prompt
from mathforge.modeling.manifest import write_trained_manifest
from mathforge.solution import solve_prompt
from mathforge.splitting import stratified_sample
from mathforge.stage import Stage, atomic_dir
from mathforge.training.sft import INPUT_COLUMNS, curve_csv, select_examples, train_sft


def heldout_rows(eval_df: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """In-distribution eval rows with a reference solution, `n` drawn per subject share."""
    rows = eval_df.filter(pl.col("solution").is_not_null())
    if "ood" in rows.columns:
        rows = rows.filter(~pl.col("ood"))
    if rows.height == 0:
        raise UserError("eval split has no in-distribution row with a reference solution")
    return stratified_sample(rows, n, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("eval", type=Path)
    parser.add_argument("base_model", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("plot", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SFTParams = load_params("sft", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if not args.base_model.is_dir():
        raise UserError(f"base model {args.base_model} not found (run `dvc repro base`)")

    stage = Stage("sft")
    train = TRAIN.read(args.train, INPUT_COLUMNS)
    examples, dropped = select_examples(train, cfg.sources, cfg.max_examples, cfg.seed)
    if examples.height == 0:
        raise UserError(
            f"no SFT examples: no train row with a solution from sources {cfg.sources} "
            f"(left out: {dropped})"
        )
    eval_df = EVAL.read(args.eval, [*INPUT_COLUMNS, "answer", "ood"])
    heldout = heldout_rows(eval_df, cfg.eval_examples, cfg.seed)
    name = args.out_dir.name

    with atomic_dir(args.out_dir) as tmp:
        system = uses_system_prompt(args.base_model)
        base = resolve_model_path(args.base_model)
        metrics, curve = train_sft(base, examples, heldout, cfg, tmp, system)
        # Sampling builds its prompts the way this model was trained.
        shutil.copy(args.base_model / PROMPT_FILE, tmp / PROMPT_FILE)
        (tmp / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
        learned = SFT_EXAMPLES.frame(
            examples.select("question_id", "subject", "generator").with_columns(model=pl.lit(name))
        )
        stage.validate(learned, SFT_EXAMPLES, row_count=examples.height)
        write_parquet(learned, tmp / EXAMPLES_FILE)
        probe = solve_prompt(heldout["question"][0], system=system)
        sample = write_trained_manifest(
            stage, tmp, name, args.base_model, system, examples.height, probe
        )
        metrics |= heldout_accuracy(tmp, eval_df, cfg)
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))

    by_subject = examples.group_by("subject").len().sort("subject")
    by_generator = examples.group_by("generator").len().sort("generator")
    metrics |= {
        "model": name,
        "base_model": str(args.base_model),
        "system_prompt": system,
        "train_rows": train.height,
        **{f"dropped_{reason}": n for reason, n in sorted(dropped.items())},
        "examples_by_subject": dict(zip(by_subject["subject"], by_subject["len"], strict=True)),
        "examples_by_generator": dict(
            zip(by_generator["generator"], by_generator["len"], strict=True)
        ),
    }
    stage.write_metrics(args.metrics, **metrics)
    write_text(curve_csv(curve), args.plot)
    print(
        f"sft {name}: {metrics['examples']} examples, {metrics['steps']} steps in "
        f"{metrics['train_seconds']} s; train loss {metrics['train_loss_final']}, held-out "
        f"{metrics['heldout_loss_before']} -> {metrics['heldout_loss']}; sample {sample!r}"
    )


if __name__ == "__main__":
    run_stage("sft", main)
