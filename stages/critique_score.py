"""critique_score: the critique model writes a critique of every path of the scored problems.

Reads   TRAIN       data/splits/train.parquet: the problems' text (and, for the judge, their
                    reference solutions)
        PATHS_DIR   data/paths/ (stage sample): every sampled path
        MODEL       models/critique/ (stage critique_train); not used with
                    critique_model.critic: judge, where the judge of critique_label.judge
                    critiques the paths itself (mathforge.judging), in the same format
Writes  OUT         data/scores/critique.parquet (contract and view `critique_scores`): one row
                    per path of a problem whose role is `score` (mathforge.scoring): the
                    critique, its check verdicts and the score parsed from it (null, with the
                    reason, when the critique does not parse: a reject, never a zero)
        METRICS     metrics/critique_score.json: paths, unparseable, score counts, the share
                    it accepts of the correct and of the incorrect paths (seconds and
                    critiques/s: the run log, metrics/critique_score.run.json)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import polars as pl
from transformers.utils import logging as hf_logging

from mathforge.config import CritiqueModelParams, CritiqueParams, load_params
from mathforge.contracts.scores import CRITIQUE_SCORES
from mathforge.contracts.splits import TRAIN
from mathforge.critique.format import score_counts
from mathforge.critique.model import write_critiques
from mathforge.errors import UserError, run_stage
from mathforge.evaluation import model_generator
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet
from mathforge.judging import judge_items, run_judge
from mathforge.scoring import read_paths, with_roles
from mathforge.stage import Stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train", "paths_dir", "model", "out", "metrics"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: CritiqueModelParams = load_params("critique_model", args.params)
    roles = cfg.scoring
    hf_logging.disable_progress_bar()
    stage = Stage("critique_score")

    paths = read_paths(
        args.paths_dir,
        ["path_id", "question_id", "text", "reference", "predicted", "error_kind", "correct"],
    )
    paths = with_roles(paths, roles.fit_fraction, roles.heldout_fraction, roles.seed)
    paths = paths.filter(pl.col("role") == "score").sort("path_id")
    if paths.height == 0:
        raise UserError(
            f"no sampled problem has the role score (scoring.fit_fraction {roles.fit_fraction})"
        )
    questions = TRAIN.read(args.train, ["question_id", "question", "solution", "generator"])
    paths = paths.join(questions, on="question_id", how="left")
    if paths["question"].null_count():
        raise UserError(f"{args.paths_dir}: paths of problems not in {args.train}")

    started = time.perf_counter()
    if cfg.critic == "judge":
        judge: CritiqueParams = load_params("critique_label", args.params)
        judgements = run_judge(judge_items(paths), judge)
        stage.uses_sandbox(sandbox_isolation(judge.sandbox))
        rows = [(j.critique, j.score, j.checks, j.error) for j in judgements]
    else:
        generator, _ = model_generator(
            args.model, device="cpu" if cfg.use_cpu else "cuda",
            batch_size=cfg.generate_batch_size, threads=cfg.threads,
        )  # fmt: skip
        critiques = write_critiques(generator, paths, cfg.max_new_tokens)
        rows = [(c.text, c.score, c.checks, c.error) for c in critiques]
    seconds = time.perf_counter() - started
    text, score, checks, error = zip(*rows, strict=True)
    scores = CRITIQUE_SCORES.frame(
        paths.select("path_id", "question_id").with_columns(
            critique=pl.Series(text, dtype=pl.String),
            critique_score=pl.Series(score, dtype=pl.Int64),
            checks=pl.Series([json.dumps(c) for c in checks], dtype=pl.String),
            critique_error=pl.Series(error, dtype=pl.String),
        )
    )
    stage.validate(scores, CRITIQUE_SCORES, row_count=paths.height)
    write_parquet(scores, args.out)

    accepted = scores["critique_score"].fill_null(-1) >= roles.accept_threshold
    correct = paths["correct"].fill_null(False)
    metrics = {
        "critic": cfg.critic,
        "paths": scores.height,
        "problems": scores["question_id"].n_unique(),
        "unparseable": int(scores["critique_score"].is_null().sum()),
        "unparseable_reasons": dict(Counter(e for e in scores["critique_error"] if e)),
        "scores": score_counts(scores["critique_score"]),
        "accepted": int(accepted.sum()),
        "accepted_share_of_correct": _share(accepted.filter(correct)),
        "accepted_share_of_incorrect": _share(accepted.filter(~correct)),
        "seconds": round(seconds, 2),
        "critiques_per_second": round(scores.height / seconds, 2),
    }
    stage.write_metrics(args.metrics, **metrics)
    print(
        f"critique_score ({cfg.critic}): {scores.height} paths in {seconds:.1f} s; accepted "
        f"{metrics['accepted']} ({metrics['accepted_share_of_correct']} of the correct, "
        f"{metrics['accepted_share_of_incorrect']} of the incorrect); unparseable "
        f"{metrics['unparseable']}"
    )


def _share(flags: pl.Series) -> float | None:
    return round(float(flags.mean()), 4) if flags.len() else None


if __name__ == "__main__":
    run_stage("critique_score", main)
