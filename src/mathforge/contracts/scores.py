"""Tables of the scoring stages: the judge's labels, the reward and critique models' scores."""

from __future__ import annotations

import polars as pl

from mathforge.contracts import Column, Table

JUDGED = Table(
    name="judged",
    doc="One row per sampled path of a problem whose role is `train` or `heldout`: the judge's "
    "critique and score (mathforge.critique.judge). `accepted` is the judge's verdict on the "
    "path as a whole (score at or above the acceptance threshold); a judge output that did not "
    "parse is a reject with its reason in `judge_error`, never a zero.",
    glob="data/scores/judged.parquet",
    stage="critique_label",
    min_rows=1,
    columns=(
        Column("path_id", pl.String, "the path (table `paths`)", False, True,
               regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "its problem", False),
        Column("subject", pl.String, "its subject", False),
        Column("model", pl.String, "the policy that sampled it", False),
        Column("role", pl.String, "train: scorers learn from it; heldout: they are measured on "
               "it (mathforge.scoring)", False, values=("train", "heldout")),
        Column("correct", pl.Boolean, "the answer-only grade (table `paths`)"),
        Column("judge_score", pl.Int64, "0-10; null: the judge's output did not parse",
               between=(0, 10)),
        Column("accepted", pl.Boolean, "judge_score >= the threshold (false when unparseable)",
               False),
        Column("critique", pl.String, "the judge's step checks and score, in the critique "
               "format (mathforge.critique.format)", False),
        Column("checks", pl.String, "JSON: check name -> pass | fail | skip", json=True),
        Column("judge_error", pl.String, "why the judge's output was rejected; null: parsed"),
    ),
)  # fmt: skip

REWARD_SCORES = Table(
    name="reward_scores",
    doc="One row per path of a `score` problem: the reward model's scalar. It compares paths "
    "of one problem; across problems it means little.",
    glob="data/scores/reward.parquet",
    stage="reward_score",
    min_rows=1,
    columns=(
        Column("path_id", pl.String, "the path", False, True, regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "its problem", False),
        Column("reward", pl.Float64, "the reward model's score", False),
    ),
)  # fmt: skip

CRITIQUE_SCORES = Table(
    name="critique_scores",
    doc="One row per path of a `score` problem: the critique model's critique and the score "
    "parsed from it. An unparseable critique has a null score and its reason.",
    glob="data/scores/critique.parquet",
    stage="critique_score",
    min_rows=1,
    columns=(
        Column("path_id", pl.String, "the path", False, True, regex=r"^p_[0-9a-f]{16}$"),
        Column("question_id", pl.String, "its problem", False),
        Column("critique", pl.String, "what the critique model wrote", False),
        Column("critique_score", pl.Int64, "0-10 parsed from it; null: unparseable",
               between=(0, 10)),
        Column("checks", pl.String, "JSON: check name -> pass | fail | skip, the check lines "
               "that parsed", False, json=True),
        Column("critique_error", pl.String, "why it did not parse; null: parsed"),
    ),
    rules=lambda gxe: [
        gxe.ExpectColumnValuesToNotBeNull(
            column="critique_error", row_condition="critique_score.isnull()",
            condition_parser="pandas",
        ),
    ],
    rules_doc="Every row without a score says why (`critique_error`).",
)  # fmt: skip

REWARD_PAIRS = Table(
    name="reward_pairs",
    doc="The reward model's preference pairs (models/reward/pairs.parquet): two paths of one "
    "problem, the one preferred first. `train` pairs trained it, `heldout` pairs measured it; "
    "no pair comes from a `score` problem.",
    glob="models/reward/pairs.parquet",
    stage="reward_train",
    columns=(
        Column("question_id", pl.String, "the problem both paths answer", False),
        Column("role", pl.String, "train or heldout (mathforge.scoring)", False,
               values=("train", "heldout")),
        Column("kind", pl.String, "correct_over_incorrect, or accepted_over_wrong_reasoning "
               "(judge-accepted over right answer, rejected reasoning)", False,
               values=("correct_over_incorrect", "accepted_over_wrong_reasoning")),
        Column("chosen_path_id", pl.String, "the preferred path", False,
               regex=r"^p_[0-9a-f]{16}$"),
        Column("rejected_path_id", pl.String, "the other one", False, regex=r"^p_[0-9a-f]{16}$"),
    ),
)  # fmt: skip

REWARD_MODEL = Table(
    name="reward_model",
    doc="One row describing the reward model directory (models/reward/manifest.parquet): what "
    "it is and what it learned from. It reloaded as a sequence classifier and gave a finite "
    "score to every held-out path before it was put in place.",
    glob="models/reward/manifest.parquet",
    stage="reward_train",
    min_rows=1,
    columns=(
        Column("kind", pl.String, "trained here, or a pointer to a pretrained reward model",
               False, values=("built", "pretrained")),
        Column("pretrained", pl.String, "HF name or path of the pretrained one; null: built"),
        Column("parent", pl.String, "the model directory it was trained from; null: pretrained"),
        Column("parameters", pl.Int64, "parameter count", False, between=(1, None)),
        Column("system_prompt", pl.Boolean, "its prompts open with the format-teaching system "
               "message", False),
        Column("pairs", pl.Int64, "preference pairs it trained on (0: pretrained)", False,
               between=(0, None)),
    ),
)  # fmt: skip

CRITIQUE_MODEL = Table(
    name="critique_model",
    doc="One row describing the critique model directory (models/critique/manifest.parquet): "
    "the model it was fine-tuned from and the judged paths it learned from. It reloaded and "
    "generated for a held-out path's prompt before it was put in place.",
    glob="models/critique/manifest.parquet",
    stage="critique_train",
    min_rows=1,
    columns=(
        Column("parent", pl.String, "the model directory it was fine-tuned from", False),
        Column("parameters", pl.Int64, "parameter count", False, between=(1, None)),
        Column("vocab_size", pl.Int64, "tokenizer vocabulary", False, between=(1, None)),
        Column("examples", pl.Int64, "judged paths (critiques) it trained on", False,
               between=(1, None)),
        Column("threshold", pl.Int64, "the accept threshold its scores are read against "
               "(scoring.accept_threshold)", False, between=(0, 10)),
    ),
)  # fmt: skip
