"""The table of the `synthesize` stage: every kept problem, seeds first."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

VARIANTS = ("base", "hard", "ood")
GENERATORS = ("seed", "programmatic", "llm")
QUESTION_ID = r"^q_[0-9a-f]{16}$"


def question_columns() -> tuple[Column, ...]:
    """The columns every problem table carries (questions, and the splits built from it)."""
    return (
        Column("question_id", pl.String, "content hash of the question (mathforge.lineage)",
               False, True, regex=QUESTION_ID),
        Column("subject", pl.String, "subject", False, non_empty=True),
        Column("skill", pl.String, "skill", False, non_empty=True),
        Column("variant", pl.String, "ood rows are held out by `split`", False, values=VARIANTS),
        Column("question", pl.String, "the problem statement", False, non_empty=True),
        Column("answer", pl.String, "reference answer; null only for llm problems without one"),
        Column("solution", pl.String, "reference mixed CoT+PoT solution; null when unknown"),
        Column("generator", pl.String, "who wrote it", False, values=GENERATORS),
        Column("seed_ids", pl.List(pl.String), "the seeds it was drawn or prompted from", False),
        Column("params", pl.String, "JSON of the draw (teacher parameters, prompt round, ...)",
               False, json=True),
        Column("synth_index", pl.Int64, "position in the novelty filter's order (seeds first)",
               False),
    )  # fmt: skip


def _answers(gxe) -> list:
    # Seed and programmatic problems always carry an exact answer.
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column="answer", row_condition='generator!="llm"', condition_parser="pandas"
        )
    ]


QUESTIONS = Table(
    name="questions",
    doc="One row per kept problem: the seeds, then the novel synthesized problems.",
    glob="data/questions/questions.parquet",
    stage="synthesize",
    min_rows=1,
    columns=question_columns(),
    rules=_answers,
    rules_doc="Seed and programmatic rows have an answer.",
)

# Every seed and programmatic reference solution, executed in the sandbox, prints its answer.
REFERENCE_CHECKS = Table(
    name="reference_checks",
    doc="One row per executed seed or programmatic reference solution (not written; checked).",
    columns=(
        Column("question_id", pl.String, "the problem", False),
        Column("generator", pl.String, "seed | programmatic", False, values=GENERATORS[:2]),
        Column("check", pl.String, "ok, or what the executed solution printed instead", False,
               values=("ok",)),
    ),
)  # fmt: skip
