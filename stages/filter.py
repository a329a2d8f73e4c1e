"""filter: keep the best paths of every `score` problem, and say why each other one was dropped.

Reads   PATHS_DIR   data/paths/<model>/shard-*.parquet (contract `paths`, stage sample)
        REWARD      data/scores/reward.parquet (contract `reward_scores`, stage reward_score):
                    one reward per path of every `score` problem
        CRITIQUE    data/scores/critique.parquet (contract `critique_scores`, stage
                    critique_score): one critique score (or why it did not parse) per such path
Writes  OUT_DIR/scores.parquet     one row per path of a `score` problem (contract and view
                    `scores`): reward, reward_rank, critique score, keep_rank, kept, drop_reason
                    (execution_failed | wrong_answer | critique_unparseable |
                    below_critique_threshold | below_top_m; null iff kept)
        OUT_DIR/filtered.parquet   the kept paths, with text, programs and the hard flag
                    (contract and view `filtered`)
        OUT_DIR/problems.parquet   one row per `score` problem (contract and view
                    `scored_problems`): paths, passed, kept, the first paths judged, hard
        METRICS     paths in, scored, kept, dropped_<reason>, problems, hard problems (seconds:
                    the run log, metrics/filter.run.json)
The verdicts, their precedence and the hard flag: mathforge.filtering. Which problems are
`score` problems: scoring.* (mathforge.scoring); the other problems' paths train and measure the
scorers and are not filtered here. Rows: scores = paths of score problems; filtered = kept
scores rows (at most filter.top_m per problem); problems = score problems.

Built for 10M paths: DuckDB joins, ranks and writes (COPY) without pulling rows into Python,
spilling to a scratch directory beside OUT_DIR past filter.memory_limit. The rejects of this
stage are the `scores` rows with kept false (each with its reason; counted as dropped_<reason>),
not a rejects.parquet built row by row. Validation: DuckDB checks every row of every output
against its contract and the relations between them (mathforge.sqlchecks); Great Expectations
runs the same contracts' suites on at most filter.validate_rows rows of each (a deterministic
sample), since it works on a pandas copy of the table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mathforge.config import FilterParams, load_params
from mathforge.contracts import Table
from mathforge.contracts.filtering import FILTERED, SCORED_PROBLEMS, SCORES
from mathforge.errors import UserError, run_stage
from mathforge.expectations import ExpectationFailed
from mathforge.filtering import (
    FILTERED_FILE,
    PROBLEMS_FILE,
    SCORES_FILE,
    FilterSettings,
    check_inputs,
    connect,
    count_score_paths,
    input_problems,
    path_files,
    register_score_problems,
    relation_checks,
    run_filter,
)
from mathforge.sqlchecks import contract_violations, relation_violations, report, source
from mathforge.stage import Stage, atomic_dir


def settings_of(cfg: FilterParams) -> FilterSettings:
    return FilterSettings(
        top_m=cfg.top_m,
        critique_threshold=cfg.threshold,
        hard_first_paths=cfg.hard_first_paths,
        hard_max_share=cfg.hard_max_share,
        seed=cfg.scoring.seed,
        fit_fraction=cfg.scoring.fit_fraction,
        heldout_fraction=cfg.scoring.heldout_fraction,
    )


def validate(stage: Stage, con, out_dir: Path, expected: dict[str, int], cfg: FilterParams) -> None:
    """Every row in DuckDB (contracts and relations), then GX on a bounded sample of each
    output; a violation raises ExpectationFailed and nothing is written."""
    outputs: list[tuple[Table, str, str]] = [
        (SCORES, SCORES_FILE, "path_id"),
        (FILTERED, FILTERED_FILE, "path_id"),
        (SCORED_PROBLEMS, PROBLEMS_FILE, "question_id"),
    ]
    failures, evaluated = [], 0
    for table, file, _ in outputs:
        found, n = contract_violations(con, table, out_dir / file, expected[table.name])
        failures += [f"{table.name}: {f}" for f in found]
        evaluated += n
    found, n = relation_violations(con, relation_checks(out_dir, expected[SCORES.name], cfg.top_m))
    failures += found
    evaluated += n
    stage.expectations_evaluated += evaluated
    if failures:
        raise ExpectationFailed(report("filter outputs", failures, evaluated))
    for table, file, key in outputs:
        sample = con.sql(
            f"SELECT * FROM {source(out_dir / file)} ORDER BY hash({key}), {key} "
            f"LIMIT {int(cfg.validate_rows)}"
        ).pl()
        stage.validate(sample, table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, help="the sample stage's directory (data/paths)")
    parser.add_argument("reward", type=Path)
    parser.add_argument("critique", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: FilterParams = load_params("filter", args.params)
    settings = settings_of(cfg)
    stage = Stage("filter")
    started = time.perf_counter()

    files = path_files(args.paths)
    check_inputs(files, args.reward, args.critique)
    args.out_dir.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(
            prefix=f".{args.out_dir.name}.spill-", suffix=".tmp", dir=args.out_dir.parent
        ) as spill,
        atomic_dir(args.out_dir) as tmp,
    ):
        con = connect(cfg.threads, cfg.memory_limit, Path(spill))
        problems = register_score_problems(con, files, settings)
        disagreements = input_problems(con, files, args.reward, args.critique)
        if disagreements:
            raise UserError("the inputs disagree:\n  - " + "\n  - ".join(disagreements))
        expected_scored = count_score_paths(con, files)
        counts = run_filter(con, files, args.reward, args.critique, tmp, settings)
        filtered_at = time.perf_counter()
        expected = {
            SCORES.name: expected_scored,
            FILTERED.name: counts["kept"],
            SCORED_PROBLEMS.name: problems,
        }
        validate(stage, con, tmp, expected, cfg)
        con.close()

    dropped = counts.pop("dropped")
    stage.dropped.update(dropped)  # the rows themselves: scores rows with kept false
    stage.write_metrics(
        args.metrics,
        **counts,
        top_m=cfg.top_m,
        critique_threshold=settings.critique_threshold,
        seconds_filter=round(filtered_at - started, 2),
        seconds=round(time.perf_counter() - started, 2),
    )
    print(
        f"filter: {counts['paths_scored']} paths of {counts['problems_scored']} score problems; "
        f"kept {counts['kept']}; dropped "
        + ", ".join(f"{reason} {n}" for reason, n in dropped.items())
        + f"; {counts['problems_hard']} hard problems"
    )


if __name__ == "__main__":
    run_stage("filter", main)
