"""The rejects table every stage writes: each dropped row with its reason."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

REJECTS = Table(
    name="rejects",
    doc="Every row a stage dropped, with the stage and the reason (`dropped_<reason>` in its "
    "metrics counts the same rows).",
    glob="data/*/rejects.parquet",
    columns=(
        Column("stage", pl.String, "the stage that dropped it", False, non_empty=True),
        Column("reason", pl.String, "why (snake_case; the metrics counter is dropped_<reason>)",
               False, regex=r"^[a-z][a-z0-9_]*$"),
        Column("subject", pl.String, "subject of the dropped problem"),
        Column("question_id", pl.String, "`q_` + 16 hex (mathforge.lineage)",
               regex=r"^q_[0-9a-f]{16}$"),
        Column("question", pl.String, "the dropped text (a problem, or an unparsed response)"),
        Column("detail", pl.String, "JSON: what the reason was measured on", json=True),
    ),
)  # fmt: skip
