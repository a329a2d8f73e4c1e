"""Tables the training stages after sampling write beside their models: which rows a model
learned from, for lineage from a model back to its paths and problems."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

RFT_SOURCES = ("rft_path", "sft_example")

RFT_EXAMPLES = Table(
    name="rft_examples",
    doc="The rows an RFT'd model learned from: the RFT set's paths (table `selected`) and, "
    "with rft.sft_data, its SFT examples (the train split's reference solutions); `hard` rows "
    "were weighted by rft.weighting.",
    glob="models/rft/*/rft_examples.parquet",
    stage="rft",
    min_rows=1,
    columns=(
        Column("model", pl.String, "the RFT'd model", False),
        Column("source", pl.String, "rft_path (a selected path) | sft_example (a reference "
               "solution)", False, values=RFT_SOURCES),
        Column("question_id", pl.String, "its problem (train split)", False),
        Column("path_id", pl.String, "the path (rft_path); null for an SFT example",
               regex=r"^p_[0-9a-f]{16}$"),
        Column("subject", pl.String, "its subject", False),
        Column("hard", pl.Boolean, "its problem is hard (the filter's flag; false for an SFT "
               "example)", False),
    ),
    rules=lambda gxe: [
        gxe.ExpectColumnValuesToNotBeNull(
            column="path_id", row_condition='source=="rft_path"', condition_parser="pandas"
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="path_id", row_condition='source=="sft_example"', condition_parser="pandas"
        ),
    ],
    rules_doc="`path_id` is set exactly for the rft_path rows.",
)  # fmt: skip
