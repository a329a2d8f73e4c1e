"""Stratified, seeded train / eval / test assignment.

In-distribution problems of each subject are shuffled with the split seed and
cut into eval, test and train by the configured fractions; out-of-distribution
problems (variant `ood`) never reach train: they go to eval or test. Seeds
(generator `seed`) always go to train: they carry the scarce reference solutions.
"""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from mathforge.config import SplitParams

SPLITS = ("train", "eval", "test")


def assign_splits(questions: pl.DataFrame, cfg: SplitParams) -> pl.DataFrame:
    """`questions` plus a `split` column and an `ood` flag; row order by synth_index."""
    rng = random.Random(cfg.seed)
    assigned: dict[str, str] = {}
    ordered = questions.sort("synth_index")
    for subject in sorted(ordered["subject"].unique()):
        rows = ordered.filter(pl.col("subject") == subject)
        for qid in rows.filter(pl.col("generator") == "seed")["question_id"]:
            assigned[qid] = "train"
        in_dist = rows.filter((pl.col("generator") != "seed") & (pl.col("variant") != "ood"))
        ids = in_dist["question_id"].to_list()
        rng.shuffle(ids)
        n_eval = round(len(ids) * cfg.eval_fraction)
        n_test = round(len(ids) * cfg.test_fraction)
        for i, qid in enumerate(ids):
            assigned[qid] = "eval" if i < n_eval else "test" if i < n_eval + n_test else "train"
        ood = rows.filter(pl.col("variant") == "ood")["question_id"].to_list()
        rng.shuffle(ood)
        n_ood_eval = round(len(ood) * cfg.ood_eval_fraction)
        for i, qid in enumerate(ood):
            assigned[qid] = "eval" if i < n_ood_eval else "test"
    return ordered.with_columns(
        pl.col("question_id").replace_strict(assigned, return_dtype=pl.String).alias("split"),
        (pl.col("variant") == "ood").alias("ood"),
    )


def stratified_sample(
    df: pl.DataFrame, n: int | None, seed: int, by: str = "subject"
) -> pl.DataFrame:
    """At most `n` rows of `df`, each `by` group getting its proportional share (largest
    remainder; every group at least one row while n allows). The same rows, in the same
    order, for the same `seed` and set of rows, whatever the input order."""
    df = df.sort("question_id")
    if n is None or n >= df.height:
        return df
    rng = np.random.default_rng(seed)
    groups = {key: g for (key,), g in df.group_by(by, maintain_order=True)}
    names = sorted(groups)
    sizes = np.array([groups[k].height for k in names])
    exact = sizes * n / sizes.sum()
    take = np.minimum(np.floor(exact).astype(int), sizes)
    if n >= len(names):  # every subject is represented
        take = np.maximum(take, np.minimum(1, sizes))
    while take.sum() > n:  # the floor of 1 overshot: trim the most over-served subject
        over = np.where(take > 1, take - exact, -np.inf)
        take[int(np.argmax(over))] -= 1
    order = np.argsort(-(exact - take), kind="stable")  # largest remainders first
    for i in order:
        if take.sum() >= n:
            break
        if take[i] < sizes[i]:
            take[i] += 1
    picked = []
    for name, k in zip(names, take, strict=True):
        group = groups[name]
        idx = np.sort(rng.permutation(group.height)[:k])
        picked.append(group[idx.tolist()])
    return pl.concat(picked).sort("question_id")
