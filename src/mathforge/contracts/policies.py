"""Tables of the policy stages from RFT on (`rft`, `dpo`, `grpo`): the manifest of a policy
trained from another policy directory, and the rows an RFT'd policy learned from.

The manifest's rows have the `models` table's columns, so
`models/<stage>/<name>/manifest.parquet` is a row of the `models` view too (that view's
glob covers it); only the stages a row may name differ. The `models` contract itself stays
as it is: its file is a dep of every stage from `base` to `sample`, so widening it would
rerun them all.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.models import MODELS

POLICY_STAGES = ("rft", "dpo", "grpo")

POLICY_MODELS = Table(
    name="policy_models",
    doc="One row per policy directory written after RFT (models/{rft,dpo,grpo}/<name>/"
    "manifest.parquet, also rows of the `models` view): the policy it was trained from, its "
    "size, how it is prompted, what it learned from, and the load check it passed before it "
    "was put in place.",
    columns=tuple(
        replace(column, values=POLICY_STAGES) if column.name == "stage"
        else replace(column, doc="the policy directory it was trained from", nullable=False)
        if column.name == "parent"
        else replace(column, doc="DPO pairs, GRPO problems or RFT rows it learned from",
                     nullable=False)
        if column.name == "examples"
        else column
        for column in MODELS.columns
    ),
    min_rows=1,
    rules=MODELS.rules,
    rules_doc=MODELS.rules_doc,
)  # fmt: skip

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
