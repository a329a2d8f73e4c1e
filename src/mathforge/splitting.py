"""Seeded, stratified draws: the train / eval / test split and every stratified subset.

One convention for both: within each group (a subject), rows are ordered by `question_id` and
shuffled by one numpy generator seeded with the stage's seed, groups in sorted order
(:func:`shuffled_groups`). The result depends only on the seed and the set of rows, never on
their order in the input.

The split: in-distribution problems of each subject are cut into eval, test and train by the
configured fractions; out-of-distribution problems (variant `ood`) never reach train: they go
to eval or test. Seeds (generator `seed`) always go to train: they carry the scarce reference
solutions. `stratified_sample` draws at most n rows with each subject's proportional share.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mathforge.config import SplitParams


def shuffled_groups(df: pl.DataFrame, seed: int, by: str = "subject") -> dict[str, pl.DataFrame]:
    """`df`'s rows per `by` group (sorted group names), each group in a seeded random order."""
    rng = np.random.default_rng(seed)
    groups = {key: g.sort("question_id") for (key,), g in df.group_by(by)}
    return {
        name: groups[name][rng.permutation(groups[name].height).tolist()] for name in sorted(groups)
    }


def assign_splits(questions: pl.DataFrame, cfg: SplitParams) -> pl.DataFrame:
    """`questions` plus a `split` column and an `ood` flag; row order by synth_index."""
    assigned: dict[str, str] = {}
    for qid in questions.filter(pl.col("generator") == "seed")["question_id"]:
        assigned[qid] = "train"
    in_dist = questions.filter((pl.col("generator") != "seed") & (pl.col("variant") != "ood"))
    for rows in shuffled_groups(in_dist, cfg.seed).values():
        n_eval = round(rows.height * cfg.eval_fraction)
        n_test = round(rows.height * cfg.test_fraction)
        for i, qid in enumerate(rows["question_id"]):
            assigned[qid] = "eval" if i < n_eval else "test" if i < n_eval + n_test else "train"
    ood = questions.filter(pl.col("variant") == "ood")
    for rows in shuffled_groups(ood, cfg.seed + 1).values():
        n_ood_eval = round(rows.height * cfg.ood_eval_fraction)
        for i, qid in enumerate(rows["question_id"]):
            assigned[qid] = "eval" if i < n_ood_eval else "test"
    return questions.sort("synth_index").with_columns(
        pl.col("question_id").replace_strict(assigned, return_dtype=pl.String).alias("split"),
        (pl.col("variant") == "ood").alias("ood"),
    )


def stratified_sample(
    df: pl.DataFrame, n: int | None, seed: int, by: str = "subject"
) -> pl.DataFrame:
    """At most `n` rows of `df`, each `by` group getting its proportional share (largest
    remainder; every group at least one row while n allows), sorted by question_id. The same
    rows for the same `seed` and set of rows, whatever the input order."""
    df = df.sort("question_id")
    if n is None or n >= df.height:
        return df
    groups = shuffled_groups(df, seed, by)
    names = list(groups)
    sizes = np.array([groups[k].height for k in names])
    exact = sizes * n / sizes.sum()
    take = np.minimum(np.floor(exact).astype(int), sizes)
    if n >= len(names):  # every group is represented
        take = np.maximum(take, np.minimum(1, sizes))
    while take.sum() > n:  # the floor of 1 overshot: trim the most over-served group
        over = np.where(take > 1, take - exact, -np.inf)
        take[int(np.argmax(over))] -= 1
    order = np.argsort(-(exact - take), kind="stable")  # largest remainders first
    for i in order:
        if take.sum() >= n:
            break
        if take[i] < sizes[i]:
            take[i] += 1
    picked = [groups[name].head(int(k)) for name, k in zip(names, take, strict=True)]
    return pl.concat(picked).sort("question_id")
