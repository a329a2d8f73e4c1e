"""Tables that describe model directories (stages `base` and `sft`).

Every model directory (`models/base/<m>`, `models/sft/<m>`) carries `manifest.parquet`, one
row saying what it is and what was checked before it was put in place; an SFT'd model also
lists the train rows it learned from in `sft_examples.parquet`. The files of a directory are
the model-directory contract of `mathforge.modeling.directory`.
"""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

MANIFEST_FILE = "manifest.parquet"
EXAMPLES_FILE = "sft_examples.parquet"

MODELS = Table(
    name="models",
    doc="One row per model directory: what it is, its size, how it is prompted, and the load "
    "check it passed before it was put in place.",
    glob="models/*/*/manifest.parquet",
    columns=(
        Column("stage", pl.String, "the stage that wrote it", False,
               values=("base", "pretrain", "sft")),
        Column("model", pl.String, "its name (a base.models key)", False,
               regex=r"^[a-z0-9][a-z0-9_-]*$"),
        Column("kind", pl.String, "built here, or a pointer to a pretrained one", False,
               values=("built", "pretrained")),
        Column("pretrained", pl.String, "HF name or path of a pretrained model; null: built"),
        Column("parent", pl.String, "the model directory it was trained from; null for base"),
        Column("parameters", pl.Int64, "parameter count; null for a pointer", between=(1, None)),
        Column("vocab_size", pl.Int64, "tokenizer size; null for a pointer", between=(1, None)),
        Column("system_prompt", pl.Boolean, "prompts open with the format-teaching system "
               "message", False),
        Column("examples", pl.Int64, "training rows it learned from; null for base",
               between=(1, None)),
        Column("load_check", pl.String, "reloaded with from_pretrained and ran: forward (finite "
               "logits) or generate; skipped for a pointer", False,
               values=("forward", "generate", "skipped")),
    ),
    rules=lambda gxe: [
        gxe.ExpectColumnValuesToNotBeNull(
            column="parameters", row_condition='kind=="built"', condition_parser="pandas"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="pretrained", row_condition='kind=="pretrained"', condition_parser="pandas"
        ),
    ],
    rules_doc="A built model has a parameter count; a pointer names its pretrained model.",
)  # fmt: skip

SFT_EXAMPLES = Table(
    name="sft_examples",
    doc="The train rows an SFT'd model learned from (lineage from a model to its data).",
    glob="models/sft/*/sft_examples.parquet",
    stage="sft",
    min_rows=1,
    columns=(
        Column("model", pl.String, "the SFT'd model", False),
        Column("question_id", pl.String, "the train row", False, True),
        Column("subject", pl.String, "its subject", False),
        Column("generator", pl.String, "who wrote its reference solution", False,
               values=("seed", "programmatic", "llm")),
    ),
)  # fmt: skip
