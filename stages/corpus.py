"""corpus: the pretraining stand-in, fresh teacher problems in formats other than the mixed one.

Reads   SPLITS_DIR/{train,eval,test}.parquet   (stage split) problems the corpus must not hold
Writes  OUT_DIR/corpus.parquet    one row per (problem, format) (contract `corpus`)
        OUT_DIR/rejects.parquet   draws left out: in_split (the question is in a split),
                                  contaminated (split's n-gram rule against eval and test,
                                  for the question and its long_numbers rewrite),
                                  duplicate_question (drawn before)
        METRICS                   drawn, kept, dropped by reason; rows per format and subject
The draws come from the domain (`domain.subjects`), base and hard variants only (ood stays
held out by construction). A real base model brings these skills from pretraining; the CPU
demo's models get them here, while the mixed solutions stay the scarce SFT set.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections import Counter
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import CorpusParams, load_params
from mathforge.contracts.corpus import CORPUS
from mathforge.contracts.splits import SPLIT_TABLES
from mathforge.decontam import HeldOutIndex
from mathforge.errors import run_stage
from mathforge.io import write_parquet
from mathforge.lineage import question_id
from mathforge.stage import Stage, atomic_dir
from mathforge.teacher import domain_skills
from mathforge.teacher.corpus import draw_problems, long_numbers_rewrite, render_formats


def row_id(qid: str, fmt: str) -> str:
    return "c_" + hashlib.sha256(f"{qid}\0{fmt}".encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("splits", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: CorpusParams = load_params("corpus", args.params)
    stage = Stage("corpus")

    splits = {
        name: table.read(args.splits / f"{name}.parquet", ["question_id", "question"])
        for name, table in SPLIT_TABLES.items()
    }
    in_split = set(pl.concat(splits.values())["question_id"])
    held_out = pl.concat([splits["eval"], splits["test"]])
    index = HeldOutIndex(
        held_out["question_id"].to_list(), held_out["question"].to_list(), cfg.split.decontam_ngram
    )
    skills = domain_skills(cfg.domain.subjects)
    rows, seen = [], set()
    draws = draw_problems(skills, cfg.problems, cfg.hard_fraction, random.Random(cfg.seed))
    for i, problem in enumerate(tqdm(draws, total=cfg.problems, desc="corpus", disable=None)):
        qid = question_id(problem.question)
        drop = {"subject": problem.subject, "question": problem.question, "question_id": qid}
        if qid in in_split:
            stage.drop("in_split", **drop, detail={"skill": problem.skill})
            continue
        if qid in seen:
            stage.drop("duplicate_question", **drop, detail={"skill": problem.skill})
            continue
        shown = [problem.question]  # every question a row shows
        if "long_numbers" in cfg.formats:
            shown.append(long_numbers_rewrite(problem)[0])
        hit = max(
            (h for h in map(index.check, shown) if h is not None),
            key=lambda h: h.overlap,
            default=None,
        )
        if hit is not None and hit.overlap >= cfg.split.decontam_threshold:
            detail = {"overlap": round(hit.overlap, 4), "closest_id": hit.closest_id}
            stage.drop("contaminated", **drop, detail=detail)
            continue
        seen.add(qid)
        for rendered in render_formats(problem, cfg.formats):
            rows.append(
                {
                    "row_id": row_id(qid, rendered["format"]),
                    "question_id": qid,
                    "subject": problem.subject,
                    "skill": problem.skill,
                    "variant": problem.variant,
                    "draw_index": i,
                    **rendered,
                }
            )
    corpus = CORPUS.frame(rows)
    stage.validate(corpus, CORPUS, row_count=len(seen) * len(cfg.formats))

    with atomic_dir(args.out_dir) as tmp:
        write_parquet(corpus, tmp / "corpus.parquet")
        stage.write_rejects(tmp / "rejects.parquet")
    by = Counter(zip(corpus["format"], corpus["subject"], strict=True))
    stage.write_metrics(
        args.metrics,
        drawn=cfg.problems,
        problems=len(seen),
        rows=corpus.height,
        rows_by_format=dict(sorted(Counter(corpus["format"]).items())),
        problems_by_skill=dict(
            sorted(Counter(corpus.filter(pl.col("format") == cfg.formats[0])["skill"]).items())
        ),
        rows_by_format_and_subject={f"{f}/{s}": n for (f, s), n in sorted(by.items())},
    )
    print(f"corpus: {len(seen)} problems, {corpus.height} rows; dropped {len(stage.rejects)}")


if __name__ == "__main__":
    run_stage("corpus", main)
