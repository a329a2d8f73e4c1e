"""Tables of the `sample` stage: every sampled path, and one row per sampled problem."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.sandbox import ERROR_KINDS

# A path's error kind: the sandbox's, or no_program (nothing to run) / no_output (ran, printed
# nothing); null when the program ran cleanly and printed an answer.
PATH_ERROR_KINDS = (*ERROR_KINDS, "no_program", "no_output")
REFERENCE_SOURCES = ("gold", "majority", "none")
FINISH_REASONS = ("stop", "length")

PATHS = Table(
    name="paths",
    doc="One row per sampled path: its text, programs, execution and grade. `correct` is true "
    "when the printed answer matches the reference, false when a reference exists and the path "
    "did not produce a matching answer (no program, a crash, a timeout, no output, a wrong "
    "answer), null only when the grader calls the answer ungradable or there is no reference.",
    glob="data/paths/*/shard-*.parquet",
    stage="sample",
    columns=(
        Column("path_id", pl.String, "`p_` + 16 hex of question_id, model, sample_index", False,
               True, regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "the problem (train split)", False),
        Column("subject", pl.String, "its subject", False),
        Column("model", pl.String, "the policy model (models/sft/<model>)", False),
        Column("sample_index", pl.Int64, "0..n-1 within (question, model)", False,
               between=(0, None)),
        Column("text", pl.String, "the completion as generated", False),
        Column("programs", pl.List(pl.String), "its fenced python blocks, in order"),
        Column("final_answer", pl.String, "what the text states (`Final answer: ...`), "
               "unexecuted"),
        Column("exec_ok", pl.Boolean, "the joined program exited cleanly; null: no program"),
        Column("error_kind", pl.String, "what went wrong; null when it ran and printed",
               values=PATH_ERROR_KINDS),
        Column("exec_stdout", pl.String, "tail of what the program printed"),
        Column("exec_stderr", pl.String, "tail of its stderr (tracebacks)"),
        Column("predicted", pl.String, "last non-empty stdout line: the path's answer"),
        Column("reference", pl.String, "the answer graded against (gold, or the majority's)"),
        Column("reference_source", pl.String, "where the reference came from", False,
               values=REFERENCE_SOURCES),
        Column("correct", pl.Boolean, "graded answer (see above); null: ungradable or no "
               "reference"),
        Column("prompt_tokens", pl.Int64, "prompt length in tokens", between=(0, None)),
        Column("completion_tokens", pl.Int64, "completion length in tokens", between=(0, None)),
        Column("finish_reason", pl.String, "why generation stopped", values=FINISH_REASONS),
    ),
    rules=lambda gxe: [
        # A path with a reference is graded unless the grader itself gave up on the answer.
        gxe.ExpectColumnValuesToNotBeNull(
            column="correct",
            row_condition='reference_source!="none" and predicted.isnull()',
            condition_parser="pandas",
        ),
        # Without a reference nothing is graded.
        gxe.ExpectColumnValuesToBeNull(
            column="correct", row_condition='reference_source=="none"', condition_parser="pandas"
        ),
    ],
    rules_doc="`correct` is not null where there is a reference and no predicted answer; it is "
    "null where there is no reference.",
)  # fmt: skip

SAMPLED = Table(
    name="sampled",
    doc="One row per sampled problem: the reference its paths were graded against, where it "
    "came from, and its paths and correct paths over every model.",
    glob="data/paths/problems.parquet",
    stage="sample",
    min_rows=1,
    columns=(
        Column("question_id", pl.String, "the problem", False, True),
        Column("subject", pl.String, "its subject", False),
        Column("reference", pl.String, "the reference answer; null: none (no majority)"),
        Column("reference_source", pl.String, "gold | majority | none", False,
               values=REFERENCE_SOURCES),
        Column("majority_share", pl.Float64, "share of the paths giving the majority answer "
               "(problems without a gold answer)", between=(0, 1)),
        Column("paths", pl.Int64, "paths sampled for it, every model", False, between=(1, None)),
        Column("correct_paths", pl.Int64, "of them, correct", False, between=(0, None)),
        Column("ungradable_paths", pl.Int64, "of them, ungradable (correct is null with a "
               "reference)", False, between=(0, None)),
    ),
)  # fmt: skip
