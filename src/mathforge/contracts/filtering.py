"""Tables of the `filter` stage: every scored path with its verdict, the kept paths, and one row
per scored problem (mathforge.filtering)."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.paths import PATH_ERROR_KINDS, REFERENCE_SOURCES

# Why a path is dropped, in the order the filter asks (the first that applies is its reason):
# what the path is (it did not run, its answer is wrong), then what the critique model says of
# it, then its rank among the paths that passed all of that (mathforge.filtering).
DROP_REASONS = (
    "execution_failed",
    "wrong_answer",
    "critique_unparseable",
    "below_critique_threshold",
    "below_top_m",
)

SCORES = Table(
    name="scores",
    doc="One row per path of a `score` problem (mathforge.scoring): its reward and critique "
    "scores, the checks it passed, and whether the filter kept it; `drop_reason` says why not "
    "(the first of execution_failed, wrong_answer, critique_unparseable, "
    "below_critique_threshold, below_top_m that applies).",
    glob="data/filter/scores.parquet",
    stage="filter",
    min_rows=1,
    columns=(
        Column("path_id", pl.String, "the path (table `paths`)", False, True,
               regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "its problem", False),
        Column("subject", pl.String, "its subject", False),
        Column("model", pl.String, "the policy that sampled it", False),
        Column("sample_index", pl.Int64, "0..n-1 within (question, model)", False,
               between=(0, None)),
        Column("error_kind", pl.String, "why its program did not print an answer; null: it did",
               values=PATH_ERROR_KINDS),
        Column("reference_source", pl.String, "gold | majority | none (table `paths`)", False,
               values=REFERENCE_SOURCES),
        Column("correct", pl.Boolean, "the answer's grade; null: ungradable or no reference"),
        Column("reward", pl.Float64, "the reward model's score (compares paths of one problem)",
               False),
        Column("reward_rank", pl.Int64, "1 = the problem's highest reward, over all its paths "
               "(ties: by path_id)", False, between=(1, None)),
        Column("critique_score", pl.Int64, "the critique model's score 0-10; null: unparseable",
               between=(0, 10)),
        Column("critique_error", pl.String, "why the critique did not parse; null: parsed"),
        Column("keep_rank", pl.Int64, "rank by reward among the problem's paths that passed "
               "every check (ties: by path_id); null: it failed one", between=(1, None)),
        Column("kept", pl.Boolean, "passed every check and keep_rank <= filter.top_m", False),
        Column("drop_reason", pl.String, "why it was dropped; null iff kept", values=DROP_REASONS),
    ),
    rules=lambda gxe: [
        gxe.ExpectColumnValuesToBeNull(
            column="drop_reason", row_condition="kept==True", condition_parser="pandas"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="drop_reason", row_condition="kept==False", condition_parser="pandas"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="keep_rank", row_condition='drop_reason=="below_top_m"',
            condition_parser="pandas",
        ),
    ],
    rules_doc="`drop_reason` is null exactly where `kept` is true; a path dropped `below_top_m` "
    "passed every check (it has a `keep_rank`).",
)  # fmt: skip

FILTERED = Table(
    name="filtered",
    doc="One row per kept path: what the later stages (diversity selection, RFT, DPO) read, "
    "with its problem's hard flag.",
    glob="data/filter/filtered.parquet",
    stage="filter",
    columns=(
        Column("path_id", pl.String, "the path", False, True, regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "its problem", False),
        Column("subject", pl.String, "its subject", False),
        Column("model", pl.String, "the policy that sampled it", False),
        Column("sample_index", pl.Int64, "0..n-1 within (question, model)", False,
               between=(0, None)),
        Column("text", pl.String, "the completion as generated", False),
        Column("programs", pl.List(pl.String), "its fenced python blocks, in order"),
        Column("predicted", pl.String, "the answer its program printed", False),
        Column("reference", pl.String, "the answer graded against; null: none"),
        Column("reward", pl.Float64, "the reward model's score", False),
        Column("keep_rank", pl.Int64, "1..filter.top_m: rank by reward among the problem's "
               "paths that passed every check", False, between=(1, None)),
        Column("critique_score", pl.Int64, "the critique model's score", False,
               between=(0, 10)),
        Column("hard", pl.Boolean, "its problem is hard (table `scored_problems`)", False),
    ),
)  # fmt: skip

SCORED_PROBLEMS = Table(
    name="scored_problems",
    doc="One row per `score` problem: its paths, how many passed every check and were kept, "
    "and whether it is hard: fewer than filter.hard_max_share of its first "
    "filter.hard_first_paths paths (by sample_index, then model) passed every check "
    "(judged correct: ran, not a wrong answer, critique score at or above the threshold).",
    glob="data/filter/problems.parquet",
    stage="filter",
    min_rows=1,
    columns=(
        Column("question_id", pl.String, "the problem", False, True),
        Column("subject", pl.String, "its subject", False),
        Column("reference_source", pl.String, "gold | majority | none", False,
               values=REFERENCE_SOURCES),
        Column("paths", pl.Int64, "its scored paths, every model", False, between=(1, None)),
        Column("passed", pl.Int64, "of them, passed every check (kept or below_top_m)", False,
               between=(0, None)),
        Column("kept", pl.Int64, "of them, kept: min(passed, filter.top_m)", False,
               between=(0, None)),
        Column("first_paths", pl.Int64, "paths the hard flag looks at: min(paths, "
               "filter.hard_first_paths)", False, between=(1, None)),
        Column("judged_correct_first", pl.Int64, "of those, passed every check", False,
               between=(0, None)),
        Column("hard", pl.Boolean, "judged_correct_first < hard_max_share x first_paths",
               False),
    ),
)  # fmt: skip
