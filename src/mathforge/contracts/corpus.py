"""The table of the `corpus` stage: the pretraining stand-in's rows."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.questions import QUESTION_ID

CORPUS = Table(
    name="corpus",
    doc="One row per (problem, format) of the pretraining corpus: fresh teacher problems of "
    "the domain, none of them in a split, decontaminated against eval and test.",
    glob="data/corpus/corpus.parquet",
    stage="corpus",
    min_rows=1,
    columns=(
        Column("row_id", pl.String, "`c_` + 16 hex of question_id and format", False, True,
               regex=r"^c_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "the drawn problem's content hash", False,
               regex=QUESTION_ID),
        Column("subject", pl.String, "subject", False),
        Column("skill", pl.String, "skill", False),
        Column("variant", pl.String, "base | hard (never ood)", False, values=("base", "hard")),
        Column("format", pl.String, "how the problem is rendered", False,
               values=("program", "numbers", "key_information", "reasoning",
                       "reasoning_program", "long_numbers")),
        Column("prompt", pl.String, "the user message", False, non_empty=True),
        Column("completion", pl.String, "what the model learns to answer", False,
               non_empty=True),
        Column("draw_index", pl.Int64, "position among the draws (seeded order)", False,
               between=(0, None)),
    ),
)  # fmt: skip
