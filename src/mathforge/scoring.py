"""Which sampled problems train the scorers and which ones they score.

The reward model and the critique model learn from the judge's labels of some problems'
paths and then score the paths of *other* problems: a scorer never scores a problem whose
paths it was trained on. Every sampled problem gets one role, from a hash of its id and
`scoring.seed` (stable whatever the order or number of problems):

- ``train``: the judge labels its paths; the critique model trains on them, and the reward
  model's preference pairs come from them;
- ``heldout``: the judge labels its paths too, but no scorer trains on them: critique-judge
  agreement and the reward model's pairwise accuracy are measured here;
- ``score``: the scorers score its paths, and the filter keeps or drops them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from mathforge.contracts.paths import PATHS
from mathforge.errors import UserError

ROLES = ("train", "heldout", "score")


def scoring_role(question_id: str, fit_fraction: float, heldout_fraction: float, seed: int) -> str:
    """The role of one problem: ``score`` with probability 1 - `fit_fraction`; otherwise
    ``heldout`` with probability `heldout_fraction` (a share of the fit problems), else
    ``train``."""
    if not (0 <= fit_fraction <= 1 and 0 <= heldout_fraction <= 1):
        raise ValueError("fit_fraction and heldout_fraction are shares between 0 and 1")
    digest = hashlib.sha256(f"{seed}:{question_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u >= fit_fraction:
        return "score"
    return "heldout" if u < fit_fraction * heldout_fraction else "train"


def with_roles(frame: pl.DataFrame, fit_fraction: float, heldout_fraction: float, seed: int):
    """`frame` (with a question_id column) with each row's problem role in column `role`
    (hashed once per problem, not per row)."""
    roles = {
        q: scoring_role(q, fit_fraction, heldout_fraction, seed)
        for q in frame["question_id"].unique()
    }
    return frame.with_columns(
        role=pl.col("question_id").replace_strict(roles, return_dtype=pl.String)
    )


def read_paths(
    paths_dir: Path, columns: list[str], question_ids: set[str] | None = None
) -> pl.DataFrame:
    """The `columns` of every sampled path (all models' shards of stage sample, contract
    `paths`), of the problems in `question_ids` only when given, one shard at a time."""
    files = sorted(Path(paths_dir).glob("*/shard-*.parquet"))
    if not files:
        raise UserError(f"{paths_dir}: no sampled paths (run `dvc repro sample`)")
    frames = []
    for file in files:
        missing = [c for c in columns if c not in pl.read_parquet_schema(file)]
        if missing:  # before polars' own error, naming the file
            raise UserError(f"{file}: not a `paths` table: lacks column(s) {', '.join(missing)}")
        frame = PATHS.check_input(pl.read_parquet(file, columns=columns), file, columns)
        if question_ids is not None:
            frame = frame.filter(pl.col("question_id").is_in(list(question_ids)))
        frames.append(frame)
    return pl.concat(frames, how="vertical")
