"""rft: the target policy fine-tuned on the RFT set and its SFT data, hard samples weighted up.

Reads   TRAIN        data/splits/train.parquet: the SFT examples' questions and solutions
        EVAL         data/splits/eval.parquet: held-out loss and accuracy (the problems sft
                     measures, so the two are compared like for like)
        SELECTED     data/diversity/selected.parquet (stage diversity, contract `selected`):
                     the RFT paths, each with its problem's hard flag
        SFT_MODEL    models/sft/<rft.target>/ (stage sft): its sft_examples.parquet (which
                     train rows it learned from), its prompt setting; the model RFT starts
                     from with rft.init: sft
        --pretrained models/pretrained/<rft.target>/ (stage pretrain): the model RFT starts
                     from with rft.init: pretrained (the default: SFT's own start, so RFT and
                     SFT differ by their data only)
Writes  OUT_DIR      models/rft/<rft.target>/: model and tokenizer, the prompt file, the
                     manifest (contract `policy_models`) and rft_examples.parquet (contract
                     `rft_examples`: every row it learned from, with its path_id)
        METRICS      metrics/rft.json: rows by source, hard rows, steps, losses, the hard
                     weight at the end, held-out loss and accuracy with 95% intervals
        PLOT         plots/rft/train.csv: step, loss, learning_rate, hard_weight
The weighting (rft.weighting none | fixed | dynamic): mathforge.training.weighted. Prompts are
built as the SFT model was trained (its system-prompt setting). Timings are printed, not put
in the metrics.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import polars as pl
from transformers.utils import logging as hf_logging

from mathforge.config import RftParams, load_params
from mathforge.contracts.diversity import SELECTED
from mathforge.contracts.models import EXAMPLES_FILE, SFT_EXAMPLES
from mathforge.contracts.policies import POLICY_MODELS, RFT_EXAMPLES
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
from mathforge.training.weighted import curve_csv, train_weighted

RFT_EXAMPLES_FILE = Path(RFT_EXAMPLES.glob).name  # type: ignore[arg-type]
HELDOUT_EXAMPLES = 64  # eval reference solutions for the held-out loss, as sft.eval_examples


def training_rows(selected: pl.DataFrame, sft: pl.DataFrame | None, target: str) -> pl.DataFrame:
    """One row per example: question, completion, hard, and its lineage (RFT_EXAMPLES): the
    RFT paths, then the SFT examples (`sft`: train rows with their solutions; None: none)."""
    rows = selected.select(
        "question_id", "subject", "path_id", "hard",
        question=pl.col("prompt"), completion=pl.col("text"), source=pl.lit("rft_path"),
    )  # fmt: skip
    if sft is not None:
        examples = sft.select(
            "question_id", "subject", "question",
            path_id=pl.lit(None, pl.String), hard=pl.lit(False), completion=pl.col("solution"),
            source=pl.lit("sft_example"),
        )  # fmt: skip
        rows = pl.concat([rows, examples.select(rows.columns)])
    return rows.with_columns(model=pl.lit(target))


def start_model(args: argparse.Namespace, cfg: RftParams) -> Path:
    """The model directory RFT fine-tunes: the SFT model, or (rft.init: pretrained) the
    pretrained model SFT itself started from."""
    if cfg.init == "sft":
        return args.sft_model
    if args.pretrained is None:
        raise UserError("rft.init is pretrained: pass --pretrained models/pretrained/<target>")
    if args.pretrained.name != cfg.target:
        raise UserError(f"{args.pretrained}: not the pretrained model of rft.target ({cfg.target})")
    if not args.pretrained.is_dir():
        raise UserError(
            f"pretrained model {args.pretrained} not found (run `dvc repro pretrain@{cfg.target}`)"
        )
    return args.pretrained


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train", "eval", "selected", "sft_model", "out_dir", "metrics", "plot"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--pretrained", type=Path, help="models/pretrained/<rft.target>")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: RftParams = load_params("rft", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if args.sft_model.name != cfg.target:
        raise UserError(f"{args.sft_model}: not the SFT model of rft.target ({cfg.target})")
    if not args.sft_model.is_dir():
        raise UserError(f"SFT model {args.sft_model} not found (run `dvc repro sft@{cfg.target}`)")
    start = start_model(args, cfg)
    stage = Stage("rft")

    selected = SELECTED.read(args.selected, ["question_id", "subject", "path_id", "prompt",
                                             "text", "hard"])  # fmt: skip
    sft = None
    if cfg.sft_data:
        learned = SFT_EXAMPLES.read(args.sft_model / EXAMPLES_FILE, ["question_id"])
        train = TRAIN.read(args.train, ["question_id", "subject", "question", "solution"])
        sft = train.join(learned, on="question_id", how="semi")
        if sft.height != learned.height:
            raise UserError(
                f"{args.sft_model / EXAMPLES_FILE}: {learned.height - sft.height} of its rows "
                f"are not in {args.train} (rerun `dvc repro sft@{cfg.target}`)"
            )
    rows = training_rows(selected, sft, cfg.target)
    eval_df = EVAL.read(args.eval, ["question_id", "subject", "question", "solution", "answer",
                                    "ood"])  # fmt: skip
    heldout = stratified_sample(
        eval_df.filter(pl.col("solution").is_not_null() & ~pl.col("ood")), HELDOUT_EXAMPLES,
        cfg.seed,
    )  # fmt: skip

    system = uses_system_prompt(args.sft_model)

    def chats(questions, completions):
        return [
            {"prompt": solve_prompt(q, system=system),
             "completion": [{"role": "assistant", "content": c}]}
            for q, c in zip(questions, completions, strict=True)
        ]  # fmt: skip

    with atomic_dir(args.out_dir) as tmp:
        metrics, curve = train_weighted(
            resolve_model_path(start),
            chats(rows["question"], rows["completion"]),
            rows["hard"].to_list(),
            chats(heldout["question"], heldout["solution"]),
            cfg,
            tmp,
        )
        shutil.copy(args.sft_model / PROMPT_FILE, tmp / PROMPT_FILE)
        lineage = RFT_EXAMPLES.frame(rows)
        stage.validate(lineage, RFT_EXAMPLES, row_count=rows.height)
        write_parquet(lineage, tmp / RFT_EXAMPLES_FILE)
        probe = solve_prompt(heldout["question"][0], system=system)
        sample = write_trained_manifest(
            stage, tmp, cfg.target, start, system, rows.height, probe, POLICY_MODELS
        )
        metrics |= heldout_accuracy(tmp, eval_df, cfg)
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))

    by_source = dict(rows.group_by("source").len().iter_rows())
    metrics = {
        "model": cfg.target,
        "parent": str(start),
        "init": cfg.init,
        "weighting": cfg.weighting,
        "rft_paths": by_source.get("rft_path", 0),
        "sft_examples": by_source.get("sft_example", 0),
        "rft_problems": selected["question_id"].n_unique(),
        "hard_paths": int(selected["hard"].sum()),
        **metrics,
    }
    stage.write_metrics(args.metrics, **metrics)
    write_text(curve_csv(curve), args.plot)
    print(
        f"rft {cfg.target}: {metrics['rft_paths']} RFT paths ({metrics['hard_paths']} hard) + "
        f"{metrics['sft_examples']} SFT examples, {metrics['steps']} steps; hard weight at the "
        f"end {metrics['hard_weight_final']}; held-out loss {metrics['heldout_loss_before']} -> "
        f"{metrics['heldout_loss']}, accuracy {metrics['heldout_accuracy']}; sample {sample!r}"
    )


if __name__ == "__main__":
    run_stage("rft", main)
