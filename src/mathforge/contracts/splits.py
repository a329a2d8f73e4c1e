"""Tables of the `split` stage: train, eval and test."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.questions import question_columns

SPLITS = ("train", "eval", "test")


def _split_table(name: str) -> Table:
    def rules(gxe) -> list:
        if name != "train":
            return []
        return [gxe.ExpectColumnValuesToBeInSet(column="ood", value_set=[False])]

    return Table(
        name=name,
        doc=f"The {name} split: the `questions` columns plus `split` and `ood`"
        + (" (no out-of-distribution problem, decontaminated against eval and test)."
           if name == "train" else "."),
        glob=f"data/splits/{name}.parquet",
        stage="split",
        min_rows=1,
        columns=(
            *question_columns(),
            Column("split", pl.String, "the split it belongs to", False, values=(name,)),
            Column("ood", pl.Boolean, "out-of-distribution (variant ood)", False),
        ),
        rules=rules,
        rules_doc="No out-of-distribution row." if name == "train" else "",
    )  # fmt: skip


TRAIN, EVAL, TEST = (_split_table(name) for name in SPLITS)
SPLIT_TABLES = {"train": TRAIN, "eval": EVAL, "test": TEST}
