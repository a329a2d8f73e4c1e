"""Tables of the `taxonomy` stage: the seed problems and the subject → skill taxonomy."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

SEEDS = Table(
    name="seeds",
    doc="One row per seed problem read from `data/seeds/*.jsonl` (format: `mathforge.seeds`).",
    glob="data/taxonomy/seeds.parquet",
    stage="taxonomy",
    min_rows=1,
    columns=(
        Column("seed_id", pl.String, "the seed's `id`, unique across files", False, True, True),
        Column("subject", pl.String, "subject, e.g. arithmetic", False, non_empty=True),
        Column("skill", pl.String, "skill within the subject (`general` if unset)", False,
               non_empty=True),
        Column("question", pl.String, "the problem statement", False, non_empty=True),
        Column("answer", pl.String, "the reference answer", False, non_empty=True),
        Column("solution", pl.String, "reference mixed CoT+PoT solution; null if none"),
        Column("source", pl.String, "where it came from (file name if unset)", False),
        Column("file", pl.String, "seed file it was read from", False),
        Column("line", pl.Int64, "line in that file (1-based)", False, between=(1, None)),
    ),
)  # fmt: skip

TAXONOMY = Table(
    name="taxonomy",
    doc="One row per (subject, skill): seed counts and which synthesis path serves it.",
    glob="data/taxonomy/taxonomy.parquet",
    stage="taxonomy",
    min_rows=1,
    columns=(
        Column("subject", pl.String, "subject", False),
        Column("skill", pl.String, "skill (from the seeds or the teacher)", False),
        Column("n_seeds", pl.Int64, "seeds of this skill", False, between=(0, None)),
        Column("n_subject_seeds", pl.Int64, "seeds of the subject", False, between=(1, None)),
        Column("path", pl.String, "who synthesizes it", False, values=("programmatic", "llm")),
    ),
    rules=lambda gxe: [gxe.ExpectCompoundColumnsToBeUnique(column_list=["subject", "skill"])],
    rules_doc="(subject, skill) is unique.",
)  # fmt: skip
