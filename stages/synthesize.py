"""synthesize: seeds → new problems per subject, kept only when novel.

Reads   SEEDS                        data/taxonomy/seeds.parquet (stage taxonomy)
Writes  OUT_DIR/questions.parquet    one row a problem (contract: mathforge.contracts.questions)
        OUT_DIR/rejects.parquet      every dropped problem with its reason
        METRICS                      drawn / kept / dropped by reason, per subject
Seeds are the first rows (generator=seed) and the novelty filter's initial pool.
With the default params: per_subject + ood_per_subject rows for each of the 7
programmatic subjects, plus the seeds.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from tqdm import tqdm

from mathforge.config import SynthesizeParams, load_params
from mathforge.contracts.questions import QUESTIONS, REFERENCE_CHECKS
from mathforge.contracts.seeds import SEEDS
from mathforge.errors import UserError, run_stage
from mathforge.generation import build_generator
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet
from mathforge.lineage import question_id
from mathforge.stage import Stage, atomic_dir
from mathforge.synthesis.programmatic import NoveltyPool
from mathforge.synthesis.rows import Synthesis, lineage_seeds, plan_paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SynthesizeParams = load_params("synthesize", args.params)
    stage = Stage("synthesize")

    run = Synthesis(cfg, stage, random.Random(cfg.seed), NoveltyPool(cfg.novelty_threshold))
    seeds = run.in_domain(SEEDS.read(args.seeds))
    if seeds.height == 0:
        raise UserError(f"{args.seeds}: no seed inside domain.subjects {cfg.domain.subjects}")
    subjects = sorted(seeds["subject"].unique())
    paths = plan_paths(subjects, cfg)
    rows = run.seed_rows(seeds)
    lineage = lineage_seeds(seeds)
    generator = build_generator(cfg.self_instruct.endpoint) if "llm" in paths.values() else None
    # Progress: problems for programmatic subjects, one unit per llm subject.
    total = sum(
        cfg.per_subject + cfg.ood_per_subject if path == "programmatic" else 1
        for path in paths.values()
    )
    with tqdm(total=total, desc="synthesize", unit="problem", disable=None) as bar:
        run.progress = bar.update
        for subject in subjects:
            if paths[subject] == "programmatic":
                rows += run.programmatic_rows(subject, lineage)
            else:
                rows += run.llm_rows(subject, seeds, generator)

    rows, checks = run.check_references(rows)
    stage.uses_sandbox(sandbox_isolation(cfg.sandbox))
    questions = QUESTIONS.frame(
        {**row, "question_id": question_id(row["question"]), "synth_index": i}
        for i, row in enumerate(rows)
    )
    stage.validate(checks, REFERENCE_CHECKS)
    stage.validate(questions, QUESTIONS)

    with atomic_dir(args.out_dir) as tmp:
        write_parquet(questions, tmp / "questions.parquet")
        rejects = stage.write_rejects(tmp / "rejects.parquet")
    stage.write_metrics(
        args.metrics,
        questions=questions.height,
        by_generator=dict(questions.group_by("generator").len().sort("generator").iter_rows()),
        by_variant=dict(questions.group_by("variant").len().sort("variant").iter_rows()),
        per_subject=run.subject_metrics(),
        paths=paths,
    )
    print(f"synthesize: kept {questions.height} problems, rejected {rejects.height}")


if __name__ == "__main__":
    run_stage("synthesize", main)
