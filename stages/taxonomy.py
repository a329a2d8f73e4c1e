"""taxonomy: seed files → the seeds table and the subject → skill taxonomy.

Reads   SEED_DIR/<taxonomy.seed_glob>     seed JSONL files (format: mathforge.seeds)
Writes  OUT_DIR/seeds.parquet             seed_id, subject, skill, question, answer,
                                          solution, source, file, line   (one row a seed)
        OUT_DIR/taxonomy.parquet          subject, skill, n_seeds, n_subject_seeds, path
        METRICS                           seeds per subject, subjects, skills
A malformed seed file fails the stage with file:line and writes nothing. With the
shipped seeds: 7 subjects, one row per seed in seeds.parquet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mathforge.config import load_params
from mathforge.contracts.seeds import SEEDS, TAXONOMY
from mathforge.errors import run_stage
from mathforge.io import write_parquet
from mathforge.seeds import build_taxonomy, read_seed_files
from mathforge.stage import Stage, atomic_dir
from mathforge.teacher import SUBJECTS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg = load_params("taxonomy", args.params)
    stage = Stage("taxonomy")

    seeds = read_seed_files(sorted(args.seed_dir.glob(cfg.seed_glob)))
    taxonomy = build_taxonomy(seeds, SUBJECTS)
    stage.validate(seeds, SEEDS)
    seed_total = stage.gxe.ExpectColumnSumToBeBetween(
        column="n_seeds", min_value=len(seeds), max_value=len(seeds)
    )
    stage.validate(taxonomy, TAXONOMY, extra=[seed_total])

    with atomic_dir(args.out_dir) as tmp:
        write_parquet(seeds, tmp / "seeds.parquet")
        write_parquet(taxonomy, tmp / "taxonomy.parquet")
    per_subject = dict(seeds.group_by("subject").len().sort("subject").iter_rows())
    stage.write_metrics(
        args.metrics,
        seeds=len(seeds),
        subjects=len(per_subject),
        skills=taxonomy.height,
        seeds_per_subject=per_subject,
    )
    print(f"taxonomy: {len(seeds)} seeds, {len(per_subject)} subjects, {taxonomy.height} skills")


if __name__ == "__main__":
    run_stage("taxonomy", main)
