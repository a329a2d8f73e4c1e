"""Two models on the same problems, paired by problem (`mathforge compare`).

    report = paired_difference(baseline_paths, candidate_paths, split)

The paths are what `mathforge evaluate --paths` writes (graded, one row per path). Each
problem's outcome is the share of its paths that are correct (greedy: solved or not); the
difference of two models is the mean of the per-problem differences, with a 95% bootstrap
interval over problems (`mathforge.evaluation.bootstrap_ci`). Pairing removes the spread
between problems that two separate intervals would carry: a +7 point difference can be clear
while the two accuracies' intervals overlap.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mathforge.errors import UserError
from mathforge.evaluation import bootstrap_ci


def stage_paths(paths: pl.DataFrame, source: object, stage: str | None, mode: str) -> pl.DataFrame:
    """The graded paths of one model: `paths` as they are (one model's, `mathforge evaluate
    --paths`), or, from an `eval_paths` file holding every stage's, the rows of `stage` in
    `mode` (greedy | sampled). `source` names the file in errors."""
    if "stage" not in paths.columns:
        if stage is not None:
            raise UserError(f"{source} holds one model's paths (no stage column): drop --stage")
        return paths
    stages = sorted(set(paths["stage"]))
    if stage is None:
        raise UserError(
            f"{source} holds the paths of several stages (an eval_paths file): pick one with "
            f"--stage / --candidate-stage ({', '.join(stages)})"
        )
    if stage not in stages:
        raise UserError(f"{source} has no stage {stage!r} ({', '.join(stages)})")
    rows = paths.filter((pl.col("stage") == stage) & (pl.col("mode") == mode))
    if rows.height == 0:
        modes = ", ".join(sorted(set(paths["mode"])))
        raise UserError(f"{source} has no {mode!r} paths of stage {stage!r} (modes: {modes})")
    return rows


def paired_difference(
    baseline: pl.DataFrame,
    candidate: pl.DataFrame,
    problems: pl.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Candidate minus baseline, paired by problem: two models' graded paths on the same
    problems (`mathforge evaluate --paths`), each problem's outcome the share of its paths
    that are correct (greedy: solved or not). For the problems both graded, overall and, with
    `problems` (question_id, ood), in and out of distribution: each model's accuracy, the
    difference and a 95% bootstrap interval of the mean per-problem difference."""

    def per_problem(paths: pl.DataFrame) -> pl.DataFrame:
        missing = [c for c in ("question_id", "correct") if c not in paths.columns]
        if missing:
            raise UserError(f"graded paths lack column(s) {', '.join(missing)}")
        solved = pl.col("correct").fill_null(False).cast(pl.Float64).mean()
        return paths.group_by("question_id").agg(outcome=solved)

    both = per_problem(baseline).join(per_problem(candidate), on="question_id", suffix="_candidate")
    if both.height == 0:
        raise UserError("the two sets of paths share no problem")
    if problems is not None:
        both = both.join(problems.select("question_id", "ood"), on="question_id", how="left")
    else:
        both = both.with_columns(ood=pl.lit(None, dtype=pl.Boolean))
    both = both.sort("question_id")

    def entry(rows: pl.DataFrame) -> dict[str, Any]:
        a, b = rows["outcome"].to_numpy(), rows["outcome_candidate"].to_numpy()
        return {
            "baseline": round(float(a.mean()), 4) if a.size else None,
            "candidate": round(float(b.mean()), 4) if b.size else None,
            "difference": round(float((b - a).mean()), 4) if a.size else None,
            "ci95": bootstrap_ci(b - a, seed),
            "problems": rows.height,
        }

    report = {"overall": entry(both)}
    if problems is not None:
        report["in_distribution"] = entry(both.filter(pl.col("ood") == False))  # noqa: E712
        report["ood"] = entry(both.filter(pl.col("ood")))
    return report
