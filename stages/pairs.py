"""pairs: mine DPO pairs (prompt, chosen, rejected) from the filter's verdicts.

Reads   PATHS_DIR   data/paths/<model>/shard-*.parquet (contract `paths`, stage sample): each
                    path's text, programs, written final answer, printed answer, reference
        FILTER_DIR  data/filter/scores.parquet (contract `scores`, stage filter): every path of
                    a `score` problem with its reward, critique score, keep_rank, kept and
                    drop_reason; data/filter/problems.parquet (`scored_problems`): the hard flag
        TRAIN       data/splits/train.parquet (contract `train`, stage split): the prompts
Writes  OUT_DIR/pairs.parquet   one row per pair (contract and view `pairs`): prompt, chosen
                    (restated: its printed answer as its final answer), rejected (as
                    generated), both path ids, models, critique scores and rewards, pair_type,
                    the hard flag, a JSON detail
        METRICS     strategy, pairs, pairs by type (every type, zeros too), problems, hard ones,
                    without a good path, with a pair, paths used (its seconds: the run log,
                    metrics/pairs.run.json)
The strategies and pair types: mathforge.pairs (`pairs.strategy`: hard, best_worst, margin).
Rows: at most pairs.max_per_problem per problem (hard; one for the others), every chosen path
passed every check of the filter, every rejected path in one pair only.

Validation: Great Expectations on every row against the `pairs` contract (chosen and rejected
are two paths), then on the pairs joined with `scores`: both paths are their problem's, the
chosen one passed every check, the pair types are the strategy's, and the caps hold. A failure
writes nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from mathforge.config import PairsParams, load_params
from mathforge.contracts.pairs import HARD_PAIR_TYPES, PAIRS
from mathforge.errors import UserError, run_stage
from mathforge.filtering import path_files
from mathforge.io import write_parquet
from mathforge.pairs import (
    PAIRS_FILE,
    SCORES_FILE,
    check_inputs,
    mine_batch,
    problem_batches,
    problem_counts,
    summary,
)
from mathforge.stage import Stage, atomic_dir


def check_relations(stage: Stage, pairs: pl.DataFrame, scores: Path, cfg: PairsParams) -> None:
    """GX on the pairs joined with the filter's verdicts of both paths, and on the counts per
    problem and type: what the contract alone cannot see."""
    verdicts = pl.scan_parquet(scores).select("path_id", "question_id", "drop_reason")
    joined = (
        pairs.lazy()
        .select("pair_id", "question_id", "pair_type", "chosen_path_id", "rejected_path_id")
        .join(verdicts.rename(lambda c: f"chosen_{c}"), on="chosen_path_id", how="left")
        .join(verdicts.rename(lambda c: f"rejected_{c}"), on="rejected_path_id", how="left")
        .collect()
    )
    gxe = stage.gxe
    same = gxe.ExpectColumnPairValuesToBeEqual
    types = list(HARD_PAIR_TYPES) if cfg.strategy == "hard" else [cfg.strategy]
    stage.check(
        joined,
        "pairs joined with scores",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="chosen_question_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="rejected_question_id"),
            same(column_A="question_id", column_B="chosen_question_id"),
            same(column_A="question_id", column_B="rejected_question_id"),
            # passed every check: drop_reason null (a map expectation skips it) or below_top_m
            gxe.ExpectColumnValuesToBeInSet(column="chosen_drop_reason", value_set=["below_top_m"]),
            gxe.ExpectColumnValuesToBeInSet(column="pair_type", value_set=types),
        ],
    )  # fmt: skip
    per_problem = 1 if cfg.strategy != "hard" else cfg.max_per_problem
    per_type = 1 if cfg.strategy != "hard" else cfg.max_per_type
    counts = (
        pairs.group_by("question_id", "pair_type")
        .len("of_type")
        .group_by("question_id")
        .agg(pairs=pl.col("of_type").sum(), most_of_one_type=pl.col("of_type").max())
    )
    stage.check(
        counts,
        "pairs per problem",
        [
            gxe.ExpectColumnMaxToBeBetween(column="pairs", max_value=per_problem),
            gxe.ExpectColumnMaxToBeBetween(column="most_of_one_type", max_value=per_type),
        ],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, help="the sample stage's directory (data/paths)")
    parser.add_argument("filter_dir", type=Path, help="the filter stage's directory")
    parser.add_argument("train", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: PairsParams = load_params("pairs", args.params)
    stage = Stage("pairs")
    started = time.perf_counter()

    files = [Path(file) for file in path_files(args.paths)]
    check_inputs(files, args.filter_dir, args.train)
    batches = problem_batches(args.filter_dir, cfg.batch_problems)
    frames = [mine_batch(files, args.filter_dir, args.train, qids, cfg) for qids in batches]
    pairs = pl.concat(frames, how="vertical") if frames else PAIRS.empty()
    mined_at = time.perf_counter()
    problems, without_good, hard = problem_counts(args.filter_dir)
    if pairs.height == 0:
        raise UserError(
            f"no pair mined (strategy {cfg.strategy}) from {problems} problems of "
            f"{args.filter_dir / SCORES_FILE}, {without_good} of them without a path that "
            "passed every check: nothing to train on"
        )
    stage.validate(pairs, PAIRS, row_count=pairs.height)
    check_relations(stage, pairs, args.filter_dir / SCORES_FILE, cfg)

    with atomic_dir(args.out_dir) as tmp:
        write_parquet(pairs, tmp / PAIRS_FILE)
    counts = summary(pairs, problems, without_good, hard)
    seconds = round(time.perf_counter() - started, 2)
    stage.write_metrics(
        args.metrics, strategy=cfg.strategy, **counts, seconds_mining=round(mined_at - started, 2),
        seconds=seconds,
    )  # fmt: skip
    print(
        f"pairs ({cfg.strategy}): {counts['pairs']} pairs from {counts['problems_with_pair']} of "
        f"{problems} problems; "
        + ", ".join(f"{t} {n}" for t, n in counts["by_type"].items() if n)
        + f"; mined in {mined_at - started:.1f} s, {seconds:.1f} s in all"
    )


if __name__ == "__main__":
    run_stage("pairs", main)
