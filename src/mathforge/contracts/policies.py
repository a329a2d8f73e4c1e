"""Table of the policy stages after RFT (`dpo`, `grpo`; `rft` may write it too): the manifest
of a policy trained from another policy directory.

Its rows have the `models` table's columns, so `models/<stage>/<name>/manifest.parquet` is a
row of the `models` view too (that view's glob covers it); only the stages a row may name
differ. The `models` contract itself stays as it is: its file is a dep of every stage from
`base` to `sample`, so widening it would rerun them all.
"""

from __future__ import annotations

from dataclasses import replace

from mathforge.contracts import Table
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
