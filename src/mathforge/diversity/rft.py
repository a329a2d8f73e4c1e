"""The `diversity` stage's library: survey every sampled program, select a spread-out set of
each problem's filtered paths (the RFT training set), and count what the selection and the
normalization did.

Two passes, both streaming and parallel across processes (``workers``), so the recipe's 10M
paths fit in memory and time (benchmarks/bench_diversity.py measures the per-path cost):

1. ``survey``: every path of every shard (one shard per task) gets two 64-bit hashes, of its
   program as written and of its normalized program (``normalize_program``). Only the hashes,
   the problem id, the model and the grade come back: 10M short rows, not 10M programs. They
   give the distinct-path counts before selection, over all samples and over the correct ones,
   and the pooled models' shares of the distinct correct paths.
2. ``select_candidates``: the filtered paths (table `filtered`: at most filter.top_m per
   problem), a problem at a time, through ``select_with_reasons``: normalized duplicates
   collapse to their most preferred path (higher critique score, then better `keep_rank`), and
   at most k forms are kept, chosen for the largest minimum pairwise distance.

Which program a path has: its fenced blocks joined as the sandbox ran them
(``mathforge.solution.program_of``); a path without a program has the empty program.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence

import polars as pl

from mathforge.diversity.normalize import normalize_program
from mathforge.diversity.select import select_with_reasons
from mathforge.parallel import pool_map
from mathforge.solution import ParsedSolution, program_of

# What the survey reads of each `paths` shard.
SURVEY_COLUMNS = ("question_id", "model", "programs", "correct")


def program_text(programs: Sequence[str] | None) -> str:
    """A path's blocks joined into the one program the sandbox ran (empty: no program)."""
    return program_of(ParsedSolution("", list(programs or ()), None, [], ()))


def form_id(normalized: str) -> str:
    """`f_` + 16 hex of a normalized program: equal forms, equal ids."""
    return "f_" + hashlib.blake2b(normalized.encode(), digest_size=8).hexdigest()


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little",
                          signed=True)  # fmt: skip


def survey_file(path: str) -> pl.DataFrame:
    """One shard's paths as (question_id, model, correct, raw, form): `raw` hashes the program
    as written, `form` its normalized program (a verbatim repeat is normalized once)."""
    frame = pl.read_parquet(path, columns=list(SURVEY_COLUMNS))
    forms: dict[str, int] = {}
    raw, form = [], []
    for programs in frame["programs"].to_list():
        code = program_text(programs)
        raw.append(_hash64(code))
        if code not in forms:
            forms[code] = _hash64(normalize_program(code))
        form.append(forms[code])
    return frame.select("question_id", "model", "correct").with_columns(
        raw=pl.Series(raw, dtype=pl.Int64), form=pl.Series(form, dtype=pl.Int64)
    )


def survey(
    files: Sequence[str], workers: int = 1, progress: Callable[[int], None] | None = None
) -> pl.DataFrame:
    """Every path of the `paths` shards `files`, hashed (survey_file), one shard per task."""
    parts = list(pool_map(survey_file, list(files), workers, progress))
    return pl.concat(parts) if parts else survey_file_schema()


def survey_file_schema() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "question_id": pl.String,
            "model": pl.String,
            "correct": pl.Boolean,
            "raw": pl.Int64,
            "form": pl.Int64,
        }  # fmt: skip
    )


def select_problem(rows: list[dict], k: int) -> tuple[list[dict], float | None]:
    """The verdict on each of one problem's filtered paths (`rows`, in keep_rank order) and
    the selected set's minimum pairwise distance (None: fewer than 2 selected)."""
    programs = [program_text(row["programs"]) for row in rows]
    selection = select_with_reasons(programs, k, scores=[row["critique_score"] for row in rows])
    verdicts = []
    for i, row in enumerate(rows):
        dropped = selection.dropped.get(i)
        verdicts.append({
            "path_id": row["path_id"],
            "normalized": selection.forms[i],
            "form_id": form_id(selection.forms[i]),
            "selected": dropped is None,
            "drop_reason": dropped.reason if dropped else None,
            "of_path_id": rows[dropped.of]["path_id"] if dropped else None,
            "distance": round(dropped.distance, 6) if dropped else None,
        })  # fmt: skip
    spread = selection.min_distance
    return verdicts, (None if math.isinf(spread) else round(spread, 6))


def _select_chunk(task: tuple[list[list[dict]], int]) -> list[tuple[list[dict], float | None]]:
    problems, k = task
    return [select_problem(rows, k) for rows in problems]


def select_candidates(
    candidates: pl.DataFrame,
    k: int,
    workers: int = 1,
    problems_per_task: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The verdict on every candidate (the DIVERSITY table's selection columns, by path_id) and
    one row per problem with its selected set's `min_distance`. `candidates` needs path_id,
    question_id, keep_rank, critique_score and programs; problems go to the workers in tasks
    of `problems_per_task`, and `progress` counts problems."""
    if k < 1:
        raise ValueError(f"diversity.k must be at least 1, got {k}")
    ordered = candidates.select("path_id", "question_id", "keep_rank", "critique_score",
                                "programs").sort("question_id", "keep_rank", "path_id")  # fmt: skip
    groups = [group.to_dicts() for _, group in ordered.group_by("question_id", maintain_order=True)]
    tasks = [
        (groups[i : i + problems_per_task], k) for i in range(0, len(groups), problems_per_task)
    ]

    verdicts: list[dict] = []
    spreads: list[dict] = []
    for task, results in zip(tasks, pool_map(_select_chunk, tasks, workers, None), strict=True):
        for rows, (problem_verdicts, spread) in zip(task[0], results, strict=True):
            verdicts += problem_verdicts
            spreads.append({"question_id": rows[0]["question_id"], "min_distance": spread})
        if progress:
            progress(len(task[0]))
    schema = {"path_id": pl.String, "normalized": pl.String, "form_id": pl.String,
              "selected": pl.Boolean, "drop_reason": pl.String, "of_path_id": pl.String,
              "distance": pl.Float64}  # fmt: skip
    return (
        pl.DataFrame(verdicts, schema=schema),
        pl.DataFrame(spreads, schema={"question_id": pl.String, "min_distance": pl.Float64}),
    )


def problem_counts(surveyed: pl.DataFrame) -> pl.DataFrame:
    """Per problem: samples, distinct programs as written and normalized, the same among the
    correct paths."""
    correct = pl.col("correct").fill_null(False)
    return surveyed.group_by("question_id").agg(
        samples=pl.len().cast(pl.Int64),
        distinct_raw=pl.col("raw").n_unique().cast(pl.Int64),
        distinct_forms=pl.col("form").n_unique().cast(pl.Int64),
        correct_paths=correct.sum().cast(pl.Int64),
        correct_raw=pl.col("raw").filter(correct).n_unique().cast(pl.Int64),
        correct_forms=pl.col("form").filter(correct).n_unique().cast(pl.Int64),
    )


def model_shares(keyed: pl.DataFrame, models: Iterable[str]) -> dict:
    """Who produced the distinct paths: `keyed` has one row per (question_id, form key, model)
    occurrence. Returns the distinct forms (over problems), each model's share of them (a form
    two models produced counts for both, so shares can sum past 1), each model's share it
    alone produced, and the overlap: the share produced by two models or more."""
    per_form = keyed.group_by("question_id", "key").agg(pl.col("model").unique())
    forms = per_form.height
    result: dict = {"forms": forms, "share": {}, "only": {}, "overlap": None}
    for model in sorted(models):
        has = per_form["model"].list.contains(model)
        alone = has & (per_form["model"].list.len() == 1)
        result["share"][model] = _share(int(has.sum()), forms)
        result["only"][model] = _share(int(alone.sum()), forms)
    result["overlap"] = _share(int((per_form["model"].list.len() > 1).sum()), forms)
    return result


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def distinct_histogram(problems: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """For each count 0..max: how many of `problems` have that many, per column (a plot's
    rows: one line per column)."""
    top = max((int(problems[c].max() or 0) for c in columns), default=0)
    counts = pl.DataFrame({"count": list(range(top + 1))}, schema={"count": pl.Int64})
    for column in columns:
        tally = problems.group_by(column).len().rename({column: "count", "len": column})
        counts = counts.join(tally.cast({"count": pl.Int64, column: pl.Int64}), on="count",
                             how="left")  # fmt: skip
    return counts.fill_null(0)
