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
import json
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import SplitParams, load_params
from mathforge.decontam import HeldOutIndex
from mathforge.errors import run_stage
from mathforge.expectations import expectations_module, table_contract, validate
from mathforge.io import rejects_frame, write_json, write_parquet
from mathforge.splitting import SPLITS, assign_splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SplitParams = load_params("split", args.params)

    questions = pl.read_parquet(args.questions)
    split = assign_splits(questions, cfg)

    held_out = split.filter(pl.col("split") != "train")
    index = HeldOutIndex(
        held_out["question_id"].to_list(), held_out["question"].to_list(), cfg.decontam_ngram
    )
    contaminated: dict[str, float] = {}
    rejects = []
    train = split.filter(pl.col("split") == "train")
    for row in tqdm(
        train.iter_rows(named=True), total=train.height, desc="decontaminate", disable=None
    ):
        hit = index.check(row["question"])
        if hit is not None and hit.overlap >= cfg.decontam_threshold:
            contaminated[row["question_id"]] = hit.overlap
            rejects.append(
                {
                    "stage": "split",
                    "reason": "contaminated",
                    "subject": row["subject"],
                    "question_id": row["question_id"],
                    "question": row["question"],
                    "detail": json.dumps(
                        {"overlap": round(hit.overlap, 4), "closest_id": hit.closest_id}
                    ),
                }
            )
    split = split.filter(~pl.col("question_id").is_in(list(contaminated)))
    parts = {name: split.filter(pl.col("split") == name) for name in SPLITS}

    gxe = expectations_module()
    evaluated = 0
    for name, part in parts.items():
        suite = table_contract(
            gxe,
            split.columns,
            not_null=["question_id", "subject", "question", "split", "ood"],
            unique=["question_id"],
            in_set={"split": [name]},
            min_rows=1,
        )
        if name == "train":
            suite.append(gxe.ExpectColumnValuesToBeInSet(column="ood", value_set=[False]))
        evaluated += validate(part, f"split_{name}", suite)["evaluated"]
    # Row-count relation with the upstream stage: nothing lost, nothing duplicated.
    evaluated += validate(
        split,
        "split_all",
        table_contract(
            gxe,
            split.columns,
            unique=["question_id"],
            row_count=questions.height - len(contaminated),
        ),
    )["evaluated"]

    for name, part in parts.items():
        write_parquet(part, args.out_dir / f"{name}.parquet")
    write_parquet(rejects_frame(rejects), args.out_dir / "rejects.parquet")
    counts = split.group_by("split", "subject").len().sort("split", "subject")
    write_json(
        {
            "questions": questions.height,
            "rows": {name: part.height for name, part in parts.items()},
            "ood": {name: int(part["ood"].sum()) for name, part in parts.items()},
            "per_subject": {
                name: dict(
                    counts.filter(pl.col("split") == name).select("subject", "len").iter_rows()
                )
                for name in SPLITS
            },
            "dropped_contaminated": len(contaminated),
            "expectations_evaluated": evaluated,
        },
        args.metrics,
    )
    print(
        "split: "
        + ", ".join(f"{name} {part.height}" for name, part in parts.items())
        + f"; dropped {len(contaminated)} contaminated"
    )


if __name__ == "__main__":
    run_stage("split", main)
