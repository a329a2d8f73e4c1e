"""The judge's audit of the RFT set: how many right-answer-wrong-reasoning paths got in.

The filter keeps paths by their answer and the critique model's score, the judge's stand-in
on the `score` problems. This audit asks the judge itself (the programmatic one: it runs the
path, checks its numbers and claims, reruns it on redrawn numbers; mathforge.critique.judge)
about the filtered paths and the selected ones: the share it rejects is what critique
filtering let through. With `filter.critique_threshold: 0` (answer-only filtering) the same
audit says what answer-only filtering lets through, so the two are compared by one
experiment. At most `limit` paths of each set are judged (a seeded draw), so the audit's cost
stays bounded at the recipe's scale (the judge: about 644 paths/s on 2 cores).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mathforge.config import SandboxParams
from mathforge.critique import judge_many
from mathforge.evaluation import summary
from mathforge.judging import judge_items


def audit(
    paths: pl.DataFrame,
    sandbox: SandboxParams,
    *,
    limit: int,
    seed: int,
    trials: int,
    threshold: int,
) -> dict[str, Any]:
    """Judge at most `limit` of `paths` (question, reference, text, predicted, solution,
    generator; a seeded draw by path_id) and say how many the judge rejects, with a 95%
    bootstrap interval of the share."""
    if paths.height == 0:
        return {"paths": 0, "rejected": 0, "rejected_share": None, "ci95": None}
    drawn = paths.sort("path_id")
    if drawn.height > limit:
        drawn = drawn.sample(limit, seed=seed).sort("path_id")
    items = judge_items(drawn)
    judgements = judge_many(items, sandbox, seed=seed, trials=trials, threshold=threshold)
    rejected = [0.0 if j.accepted else 1.0 for j in judgements]
    share = summary(rejected, seed=seed)
    return {
        "paths": len(rejected),
        "rejected": int(sum(rejected)),
        "rejected_share": share["accuracy"],
        "ci95": share["ci95"],
    }
