"""reward_score: the reward model scores every path of the problems it is meant to score.

Reads   PATHS       data/paths/ (stage sample): <model>/shard-*.parquet, path_id, question_id,
                    text, correct
        TRAIN       data/splits/train.parquet: question_id, question (the problems' text)
        MODEL       models/reward/ (stage reward_train): the reward model, its prompt setting
                    and pairs.parquet (contract `reward_pairs`: the problems it learned from
                    or was measured on)
Writes  OUT         data/scores/reward.parquet (contract `reward_scores`): path_id,
                    question_id, reward; one row per path of every `score` problem
        METRICS     metrics/reward_score.json: paths, problems (seconds and paths/s: the run
                    log, metrics/reward_score.run.json), paths cut to
                    reward.max_length, and how the rewards separate correct from incorrect
                    paths (the answer-only grade): across problems (AUC over all paths) and
                    within them (mean AUC per problem, pooled pair accuracy, top-1 correct)
        SCORES      plots/reward/scores.csv: reward (bin center), correct, incorrect (the share
                    of each kind's paths in the bin)
        WITHIN      plots/reward/within.csv: the same for the reward minus its problem's mean
The problems are those whose role is `score` (mathforge.scoring, `scoring.*`); a problem the
model trained on is an error, never scored. A path longer than `reward.max_length` tokens is
scored on its first max_length tokens and counted (`truncated_paths`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from transformers.utils import logging as hf_logging

from mathforge.config import RewardParams, load_params
from mathforge.contracts.scores import REWARD_SCORES
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.io import write_parquet, write_text
from mathforge.modeling import resolve_model_path, uses_system_prompt
from mathforge.reward import (
    PAIRS_FILE,
    check_disjoint,
    encode,
    histogram_csv,
    load_reward_model,
    path_chat,
    score_ids,
    separation,
)
from mathforge.scoring import read_paths, with_roles
from mathforge.stage import Stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("paths", "train", "model", "out", "metrics", "scores_plot", "within_plot"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: RewardParams = load_params("reward", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if not (args.model / PAIRS_FILE).is_file():
        raise UserError(f"{args.model} is not a reward model directory (run `dvc repro "
                        "reward_train`)")  # fmt: skip
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)

    stage = Stage("reward_score")
    scoring = cfg.scoring
    paths = read_paths(args.paths, ["path_id", "question_id", "text", "correct"])
    paths = with_roles(paths, scoring.fit_fraction, scoring.heldout_fraction, scoring.seed)
    paths = paths.filter(pl.col("role") == "score").drop("role")
    if paths.height == 0:
        raise UserError(
            f"no problem of {args.paths} has the role `score` (scoring.fit_fraction="
            f"{scoring.fit_fraction}): nothing to score"
        )
    # Its pairs' problems (train and held out) must not be among those it scores.
    fitted = pl.read_parquet(args.model / PAIRS_FILE, columns=["question_id"])
    check_disjoint(fitted, paths, "paths to score")
    questions = TRAIN.read(args.train, ["question_id", "question"])
    paths = paths.join(questions, on="question_id", how="left")
    if paths["question"].null_count():
        raise UserError(f"{args.train}: lacks {paths['question'].null_count()} sampled problems")

    model, tokenizer = load_reward_model(resolve_model_path(args.model), cfg.use_cpu)
    system = uses_system_prompt(args.model)
    start = time.perf_counter()
    chats = [path_chat(q, t, system) for q, t in zip(paths["question"], paths["text"], strict=True)]
    ids = encode(tokenizer, chats)
    truncated = sum(len(x) > cfg.max_length for x in ids)
    rewards = score_ids(model, [x[: cfg.max_length] for x in ids], tokenizer.pad_token_id,
                        cfg.score_batch_size)  # fmt: skip
    seconds = time.perf_counter() - start
    if not np.isfinite(rewards).all():
        raise FloatingPointError(f"{args.model}: non-finite rewards")

    scored = paths.with_columns(reward=pl.Series(rewards)).sort("question_id", "path_id")
    out = REWARD_SCORES.frame(scored.select("path_id", "question_id", "reward"))
    stage.validate(out, REWARD_SCORES, row_count=paths.height)
    write_parquet(out, args.out)

    view = scored.select("question_id", "reward", "correct")
    metrics = {
        "paths": paths.height,
        "problems": paths["question_id"].n_unique(),
        "truncated_paths": truncated,
        "score_seconds": round(seconds, 2),
        "paths_per_second": round(paths.height / seconds, 1),
        "threads": torch.get_num_threads(),
        "batch_size": cfg.score_batch_size,
        **separation(view),
    }
    stage.write_metrics(args.metrics, **metrics)
    write_text(histogram_csv(view, cfg.histogram_bins), args.scores_plot)
    write_text(histogram_csv(view, cfg.histogram_bins, within=True), args.within_plot)
    print(
        f"reward_score: {metrics['paths']} paths of {metrics['problems']} problems in "
        f"{metrics['score_seconds']} s ({metrics['paths_per_second']} paths/s); AUC correct vs "
        f"incorrect across problems {metrics['auc_across']}, within {metrics['auc_within_mean']}"
    )


if __name__ == "__main__":
    run_stage("reward_score", main)
