"""split: questions → train / eval / test, stratified by subject, decontaminated.

Reads   QUESTIONS                    data/questions/questions.parquet (stage synthesize)
Writes  OUT_DIR/train.parquet        the questions columns plus
        OUT_DIR/eval.parquet             split   train | eval | test
        OUT_DIR/test.parquet             ood     true for out-of-distribution problems
        OUT_DIR/rejects.parquet      train problems dropped as contaminated, with overlap
        METRICS                      rows per split and subject, ood counts, dropped
Out-of-distribution problems (variant ood) are only in eval and test. A train
problem whose word n-gram overlap with any eval/test problem reaches
split.decontam_threshold is dropped and counted (reason `contaminated`).
Row counts: train + eval + test + contaminated = questions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import SplitParams, load_params
from mathforge.contracts.questions import QUESTIONS
from mathforge.contracts.splits import SPLIT_TABLES, SPLITS
from mathforge.decontam import HeldOutIndex
from mathforge.errors import run_stage
from mathforge.io import write_parquet
from mathforge.splitting import assign_splits
from mathforge.stage import Stage, atomic_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SplitParams = load_params("split", args.params)
    stage = Stage("split")

    questions = QUESTIONS.read(args.questions)
    split = assign_splits(questions, cfg)

    held_out = split.filter(pl.col("split") != "train")
    index = HeldOutIndex(
        held_out["question_id"].to_list(), held_out["question"].to_list(), cfg.decontam_ngram
    )
    contaminated: set[str] = set()
    train = split.filter(pl.col("split") == "train")
    for row in tqdm(
        train.iter_rows(named=True), total=train.height, desc="decontaminate", disable=None
    ):
        hit = index.check(row["question"])
        if hit is not None and hit.overlap >= cfg.decontam_threshold:
            contaminated.add(row["question_id"])
            stage.drop(
                "contaminated",
                subject=row["subject"],
                question=row["question"],
                question_id=row["question_id"],
                detail={"overlap": round(hit.overlap, 4), "closest_id": hit.closest_id},
            )
    split = split.filter(~pl.col("question_id").is_in(list(contaminated)))
    parts = {name: split.filter(pl.col("split") == name) for name in SPLITS}
    for name, part in parts.items():
        stage.validate(part, SPLIT_TABLES[name])
    # Row-count relation with the upstream stage: nothing lost, nothing duplicated.
    gxe = stage.gxe
    stage.check(
        split,
        "split_all",
        [
            gxe.ExpectColumnValuesToBeUnique(column="question_id"),
            gxe.ExpectTableRowCountToEqual(value=questions.height - len(contaminated)),
        ],
    )

    with atomic_dir(args.out_dir) as tmp:
        for name, part in parts.items():
            write_parquet(part, tmp / f"{name}.parquet")
        stage.write_rejects(tmp / "rejects.parquet")
    counts = split.group_by("split", "subject").len().sort("split", "subject")
    stage.write_metrics(
        args.metrics,
        questions=questions.height,
        rows={name: part.height for name, part in parts.items()},
        ood={name: int(part["ood"].sum()) for name, part in parts.items()},
        per_subject={
            name: dict(counts.filter(pl.col("split") == name).select("subject", "len").iter_rows())
            for name in SPLITS
        },
    )
    print(
        "split: "
        + ", ".join(f"{name} {part.height}" for name, part in parts.items())
        + f"; dropped {len(contaminated)} contaminated"
    )


if __name__ == "__main__":
    run_stage("split", main)
