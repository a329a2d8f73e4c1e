"""Tables of the `evaluate` stage: every graded solution of every model stage on the eval split,
so a query can say which problems each stage solved (README, "Evaluating every stage")."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.paths import PATHS

EVAL_MODES = ("greedy", "sampled")
# The `paths` columns an evaluated solution keeps (its model is `stage`; its reference is gold).
PATH_COLUMNS = (
    "question_id", "subject", "sample_index", "text", "programs", "final_answer", "exec_ok",
    "error_kind", "exec_stdout", "exec_stderr", "predicted", "reference",
    "correct", "prompt_tokens", "completion_tokens", "finish_reason",
)  # fmt: skip

EVAL_PATHS = Table(
    name="eval_paths",
    doc="One row per graded solution of the evaluate stage: each model of `evaluate.models` on "
    "the same eval-split problems, greedy (one solution, sample_index 0) and sampled "
    "(`evaluate.k` solutions at `evaluate.temperature`, the majority vote's). The columns of "
    "`paths`, with the stage's name for the model.",
    glob="data/eval/paths.parquet",
    stage="evaluate",
    min_rows=1,
    columns=(
        Column("stage", pl.String, "the model's name in evaluate.models (pretrained, sft, ...)",
               False),
        Column("model_dir", pl.String, "its model directory", False),
        Column("mode", pl.String, "greedy | sampled (the majority vote's k samples)", False,
               values=EVAL_MODES),
        Column("path_id", pl.String, "`p_` + 16 hex of question_id, stage, sample_index "
               "(unique within a stage and mode)", False, regex=r"^p_[0-9a-f]{16}$"),
        Column("ood", pl.Boolean, "the problem is out of distribution", False),
        *(PATHS.column(name) for name in PATH_COLUMNS),
    ),
    rules=lambda gxe: [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["stage", "mode", "path_id"]),
        gxe.ExpectColumnValuesToBeInSet(
            column="sample_index", value_set=[0], row_condition='mode=="greedy"',
            condition_parser="pandas",
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="reference"),
    ],
    rules_doc="(stage, mode, path_id) is unique; a greedy solution has sample_index 0; every "
    "row has its problem's reference answer.",
)  # fmt: skip
