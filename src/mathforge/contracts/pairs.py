"""Table of the `pairs` stage: DPO preference pairs mined from the filter's verdicts
(mathforge.pairs)."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

STRATEGIES = ("hard", "best_worst", "margin")

# The pair types of the `hard` strategy, in the order a problem's pairs take turns (one of each
# type per round, mathforge.pairs), then the one type of each other strategy.
HARD_PAIR_TYPES = (
    "cot_wrong_pot_right",
    "rounding",
    "one_step_wrong",
    "wrong_reasoning",
    "hard_problem",
)
PAIR_TYPES = (*HARD_PAIR_TYPES, "best_worst", "margin")

PATH_ID = r"^p_[0-9a-f]{16}$"

PAIRS = Table(
    name="pairs",
    doc="One row per DPO pair (prompt, chosen, rejected) of a `score` problem: two of its paths, "
    "the chosen one passed every check of the filter; `pair_type` says why the rejected one "
    "was picked (mathforge.pairs).",
    glob="data/pairs/pairs.parquet",
    stage="pairs",
    min_rows=1,
    columns=(
        Column("pair_id", pl.String, "`d_` + 16 hex of a hash of pair_type, chosen_path_id and "
               "rejected_path_id", False, True, regex=r"^d_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "the problem (table `train`)", False,
               regex=r"^q_[0-9a-f]{16}$"),
        Column("subject", pl.String, "its subject", False),
        Column("strategy", pl.String, "pairs.strategy that mined it", False, values=STRATEGIES),
        Column("pair_type", pl.String, "why the rejected path was picked (mathforge.pairs)",
               False, values=PAIR_TYPES),
        Column("prompt", pl.String, "the question text (train.question)", False,
               non_empty=True),
        Column("chosen", pl.String, "the chosen path's text with its printed answer stated as "
               "its final answer (trainset.restate_final_answer)", False, non_empty=True),
        Column("rejected", pl.String, "the rejected path's text as generated", False),
        Column("chosen_path_id", pl.String, "the chosen path (tables `paths`, `scores`)", False,
               regex=PATH_ID),
        Column("rejected_path_id", pl.String, "the rejected path; each one in one pair only",
               False, True, regex=PATH_ID),
        Column("chosen_model", pl.String, "the policy that sampled the chosen path", False),
        Column("rejected_model", pl.String, "the policy that sampled the rejected path", False),
        Column("chosen_critique_score", pl.Int64, "the chosen path's critique score", False,
               between=(0, 10)),
        Column("rejected_critique_score", pl.Int64, "the rejected path's; null: unparseable",
               between=(0, 10)),
        Column("chosen_reward", pl.Float64, "the chosen path's reward", False),
        Column("rejected_reward", pl.Float64, "the rejected path's reward", False),
        Column("hard", pl.Boolean, "the problem is hard (table `scored_problems`)", False),
        Column("detail", pl.String, "JSON: what the pair was picked on (the written and printed "
               "answers, the relative error, the program distance, the scores' target)", False,
               json=True),
    ),
    rules=lambda gxe: [
        # No row where chosen and rejected are one path: pair_id is never null, so any such
        # row breaks "pair_id is null there".
        gxe.ExpectColumnValuesToBeNull(
            column="pair_id", row_condition="chosen_path_id==rejected_path_id",
            condition_parser="pandas",
        ),
    ],
    rules_doc="`chosen_path_id` differs from `rejected_path_id` on every row.",
)  # fmt: skip
