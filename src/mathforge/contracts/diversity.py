"""Tables of the `diversity` stage: the RFT training set, the verdict on every filtered path,
and one row per sampled problem with its distinct-path counts (mathforge.diversity)."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table
from mathforge.contracts.paths import REFERENCE_SOURCES

# Why a filtered path is not in the RFT set (mathforge.diversity.select_with_reasons).
DIVERSITY_DROP_REASONS = ("duplicate", "less_spread")
ROLES = ("train", "heldout", "score")  # mathforge.scoring

_PATH_ID = r"^p_[0-9a-f]{16}$"
_FORM_ID = r"^f_[0-9a-f]{16}$"

SELECTED = Table(
    name="selected",
    doc="The RFT training set: one row per selected path, at most diversity.k per problem, "
    "spread apart by their normalized programs. `text` states the answer the program printed "
    "(mathforge.trainset.restate_final_answer); the path as generated is in `paths`.",
    glob="data/diversity/selected.parquet",
    stage="diversity",
    columns=(
        Column("path_id", pl.String, "the path (table `paths`)", False, True, regex=_PATH_ID),
        Column("question_id", pl.String, "its problem", False),
        Column("subject", pl.String, "its subject", False),
        Column("model", pl.String, "the policy that sampled it", False),
        Column("sample_index", pl.Int64, "0..n-1 within (question, model)", False,
               between=(0, None)),
        Column("prompt", pl.String, "the problem's question (table `train`)", False,
               non_empty=True),
        Column("text", pl.String, "the completion with its executed answer as the final "
               "answer: what RFT trains on", False, non_empty=True),
        Column("predicted", pl.String, "the answer its program printed", False),
        Column("reference", pl.String, "the answer it was graded against; null: none"),
        Column("critique_score", pl.Int64, "the critique model's score", False,
               between=(0, 10)),
        Column("reward", pl.Float64, "the reward model's score", False),
        Column("keep_rank", pl.Int64, "its rank by reward among the problem's paths that "
               "passed every check (table `filtered`)", False, between=(1, None)),
        Column("form_id", pl.String, "`f_` + 16 hex of its normalized program "
               "(mathforge.diversity.normalize_program)", False, regex=_FORM_ID),
        Column("hard", pl.Boolean, "its problem is hard (table `scored_problems`)", False),
    ),
)  # fmt: skip

DIVERSITY = Table(
    name="diversity",
    doc="One row per filtered path (table `filtered`): its normalized program and whether "
    "the diversity selection kept it; if not, `drop_reason` says why and `of_path_id` names "
    "the kept path it duplicates (duplicate) or the nearest kept path (less_spread).",
    glob="data/diversity/candidates.parquet",
    stage="diversity",
    min_rows=1,
    columns=(
        Column("path_id", pl.String, "the path", False, True, regex=_PATH_ID),
        Column("question_id", pl.String, "its problem", False),
        Column("model", pl.String, "the policy that sampled it", False),
        Column("keep_rank", pl.Int64, "its rank in `filtered` (the selection's tie order)",
               False, between=(1, None)),
        Column("critique_score", pl.Int64, "the critique model's score (preferred higher)",
               False, between=(0, 10)),
        Column("normalized", pl.String, "its program after normalize_program", False),
        Column("form_id", pl.String, "`f_` + 16 hex of `normalized`", False, regex=_FORM_ID),
        Column("selected", pl.Boolean, "in the RFT set (table `selected`)", False),
        Column("drop_reason", pl.String, "duplicate | less_spread; null iff selected",
               values=DIVERSITY_DROP_REASONS),
        Column("of_path_id", pl.String, "the kept path it duplicates or is nearest to; null "
               "iff selected", regex=_PATH_ID),
        Column("distance", pl.Float64, "program distance to `of_path_id` (0 for a duplicate); "
               "null iff selected", between=(0, 1)),
    ),
    rules=lambda gxe: [
        gxe.ExpectColumnValuesToBeNull(
            column=column, row_condition="selected==True", condition_parser="pandas"
        )
        for column in ("drop_reason", "of_path_id", "distance")
    ] + [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column, row_condition="selected==False", condition_parser="pandas"
        )
        for column in ("drop_reason", "of_path_id", "distance")
    ],
    rules_doc="`drop_reason`, `of_path_id` and `distance` are null exactly where `selected` is "
    "true.",
)  # fmt: skip

DIVERSITY_PROBLEMS = Table(
    name="diversity_problems",
    doc="One row per sampled problem: its paths, how many distinct programs they hold as "
    "written and after normalization, the same among its correct paths, and (for `score` "
    "problems) the filtered candidates and how many were selected.",
    glob="data/diversity/problems.parquet",
    stage="diversity",
    min_rows=1,
    columns=(
        Column("question_id", pl.String, "the problem", False, True),
        Column("subject", pl.String, "its subject", False),
        Column("role", pl.String, "train | heldout | score (mathforge.scoring)", False,
               values=ROLES),
        Column("reference_source", pl.String, "gold | majority | none", False,
               values=REFERENCE_SOURCES),
        Column("samples", pl.Int64, "its sampled paths, every model", False,
               between=(1, None)),
        Column("distinct_raw", pl.Int64, "distinct programs as written (byte-equal)", False,
               between=(1, None)),
        Column("distinct_forms", pl.Int64, "distinct normalized programs", False,
               between=(1, None)),
        Column("correct_paths", pl.Int64, "paths whose printed answer is correct", False,
               between=(0, None)),
        Column("correct_raw", pl.Int64, "distinct programs as written among them", False,
               between=(0, None)),
        Column("correct_forms", pl.Int64, "distinct normalized programs among them", False,
               between=(0, None)),
        Column("candidates", pl.Int64, "its filtered paths (0 for a problem the filter does "
               "not see)", False, between=(0, None)),
        Column("candidate_forms", pl.Int64, "distinct normalized programs among them", False,
               between=(0, None)),
        Column("selected", pl.Int64, "of them, selected: min(candidate_forms, diversity.k)",
               False, between=(0, None)),
        Column("min_distance", pl.Float64, "the selected set's smallest pairwise program "
               "distance; null: fewer than 2 selected", between=(0, 1)),
    ),
)  # fmt: skip
