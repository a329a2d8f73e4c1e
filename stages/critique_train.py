"""critique_train: fine-tune a causal LM to write the judge's critiques, and measure it.

Reads   TRAIN       data/splits/train.parquet: the problems' text
        PATHS_DIR   data/paths/ (stage sample): the paths' text
        JUDGED      data/scores/judged.parquet (stage critique_label): the judge's critique of
                    every path of the `train` and `heldout` problems (mathforge.scoring)
        BASE_MODEL  the model it starts from (`critique_model.base_model`)
Writes  OUT_DIR     models/critique/: the model, its tokenizer and manifest (contract `models`)
        METRICS     metrics/critique_train.json: training (steps, losses; its seconds in the
                    run log, metrics/critique_train.run.json), and the
                    agreement of its accept/reject decisions with the judge's on the heldout
                    problems' paths, on all of them and on the judge's "right answer, wrong
                    reasoning" ones apart
        PLOT        plots/critique/train.csv: step, loss, learning_rate
        HISTOGRAM   plots/critique/heldout_scores.csv: per score, the judge's and the
                    critique model's paths on the heldout problems (a dvc plots histogram)
TRL's SFTTrainer, loss on the critique only; the prompt has no rubric (the model learns it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

from mathforge.config import CritiqueModelParams, load_params
from mathforge.contracts.models import MANIFEST_FILE
from mathforge.contracts.scores import CRITIQUE_MODEL, JUDGED
from mathforge.contracts.splits import TRAIN
from mathforge.critique.model import (
    agreement,
    critique_chats,
    score_histogram,
    training_rows,
    write_critiques,
)
from mathforge.errors import UserError, run_stage
from mathforge.evaluation import model_generator
from mathforge.io import write_parquet, write_text
from mathforge.modeling import resolve_model_path
from mathforge.modeling.manifest import check_generates
from mathforge.scoring import read_paths
from mathforge.stage import Stage, atomic_dir
from mathforge.training.sft import curve_csv, train_chat


def judged_paths(train: Path, paths_dir: Path, judged: Path) -> pl.DataFrame:
    """The judged paths with what the critique model reads: question, reference, text."""
    labels = JUDGED.read(judged)
    paths = read_paths(paths_dir, ["path_id", "text", "reference", "predicted", "error_kind"])
    questions = TRAIN.read(train, ["question_id", "question"])
    rows = labels.join(paths, on="path_id", how="left").join(questions, on="question_id",
                                                             how="left")  # fmt: skip
    lost = rows.filter(pl.col("text").is_null() | pl.col("question").is_null())
    if lost.height:
        raise UserError(
            f"{judged}: {lost.height} labelled path(s) not in {paths_dir} or {train} (e.g. "
            f"{lost['path_id'][0]}): rerun `dvc repro critique_label`"
        )
    return rows.sort("path_id")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train", "paths_dir", "judged", "base_model", "out_dir", "metrics", "plot",
                 "histogram"):  # fmt: skip
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: CritiqueModelParams = load_params("critique_model", args.params)
    threshold = cfg.scoring.accept_threshold
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if not args.base_model.is_dir():
        raise UserError(f"base model {args.base_model} not found (critique_model.base_model)")
    stage = Stage("critique_train")
    rows = judged_paths(args.train, args.paths_dir, args.judged)
    train = rows.filter(pl.col("role") == "train")
    heldout = rows.filter(pl.col("role") == "heldout")
    for name, part in (("train", train), ("heldout", heldout)):
        if part.height == 0:
            raise UserError(
                f"{args.judged}: no path of a `{name}` problem (scoring.fit_fraction and "
                "scoring.heldout_fraction leave none)"
            )

    with atomic_dir(args.out_dir) as tmp:
        metrics, curve = train_chat(
            resolve_model_path(args.base_model), training_rows(train), training_rows(heldout),
            cfg, tmp,
        )  # fmt: skip
        (tmp / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
        check_generates(tmp, critique_chats(heldout.head(1))[0])  # reloads, and generates
        manifest = CRITIQUE_MODEL.frame(
            [{"parent": str(args.base_model), "parameters": metrics["parameters"],
              "vocab_size": len(AutoTokenizer.from_pretrained(tmp)), "examples": train.height,
              "threshold": threshold}]
        )  # fmt: skip
        stage.validate(manifest, CRITIQUE_MODEL, row_count=1)
        write_parquet(manifest, tmp / MANIFEST_FILE)
        generator, _ = model_generator(
            tmp, device="cpu" if cfg.use_cpu else "cuda", batch_size=cfg.generate_batch_size,
            threads=cfg.threads,
        )  # fmt: skip
        started = time.perf_counter()
        critiques = write_critiques(generator, heldout, cfg.max_new_tokens)
        seconds = time.perf_counter() - started

    model_scores = [c.score for c in critiques]
    wrong_reasoning = (heldout["correct"].fill_null(False) & ~heldout["accepted"]).to_list()
    agree = agreement(heldout["accepted"].to_list(), model_scores, wrong_reasoning, threshold)
    metrics |= {
        "train_paths": train.height,
        "train_problems": train["question_id"].n_unique(),
        "train_accepted_share": round(float(train["accepted"].mean()), 4),
        "heldout_problems": heldout["question_id"].n_unique(),
        "heldout": agree,
        "heldout_exact_score_share": round(
            sum(a == b for a, b in zip(heldout["judge_score"], model_scores, strict=True))
            / heldout.height,
            4,
        ),  # fmt: skip
        "critiques_per_second": round(heldout.height / seconds, 2),
        "threshold": threshold,
    }
    stage.write_metrics(args.metrics, **metrics)
    write_text(curve_csv(curve), args.plot)
    write_text(score_histogram(heldout["judge_score"].to_list(), model_scores), args.histogram)
    print(
        f"critique_train: {train.height} paths, {metrics['steps']} steps in "
        f"{metrics['train_seconds']} s; heldout agreement with the judge {agree['agreement']} "
        f"({agree['paths']} paths; rejecting all: {agree['always_reject_agreement']}), on "
        f"right-answer-wrong-reasoning paths "
        f"{agree['wrong_reasoning_agreement']} ({agree['wrong_reasoning_paths']})"
    )


if __name__ == "__main__":
    run_stage("critique_train", main)
