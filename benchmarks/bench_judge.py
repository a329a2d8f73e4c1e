"""The scorers' cost per path on real sampled paths: the programmatic judge against the
answer-only grading it adds to, and the critique model's generation at several batch sizes;
and the judge's calibration: how many of the teacher's reference solutions (every subject,
skill and variant) it accepts.

    OMP_NUM_THREADS=1 python benchmarks/bench_judge.py [--paths N] [--model models/critique]

Reads data/paths and data/splits/train.parquet (after `dvc repro sample`) and, for the
critique model, models/critique (after `dvc repro critique_train`). The judge and the grading
see the same paths in the same run; each is timed twice and the faster run kept (the sandbox's
workers start on the first call). Prints a Markdown table and writes --json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

import polars as pl

from mathforge.config import load_params
from mathforge.critique import JudgeItem, judge_many
from mathforge.critique.model import write_critiques
from mathforge.evaluation import model_generator
from mathforge.grading import grade_solutions
from mathforge.scoring import read_paths
from mathforge.teacher import SUBJECTS, generate


def best_of(runs: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1024, help="sampled paths to time")
    parser.add_argument("--model", type=Path, default=Path("models/critique"))
    parser.add_argument("--references", type=int, default=4, help="per skill and variant")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/judge.json"))
    args = parser.parse_args()
    sandbox = load_params("sandbox", "params.yaml")
    paths = read_paths(
        Path("data/paths"),
        ["path_id", "question_id", "text", "reference", "predicted", "error_kind"],
    )
    train = pl.read_parquet("data/splits/train.parquet", columns=["question_id", "question",
                                                                   "solution"])  # fmt: skip
    rows = paths.join(train, on="question_id").sort("path_id").head(args.paths)
    items = [JudgeItem(r["question"], r["reference"], r["text"], r["solution"])
             for r in rows.iter_rows(named=True)]  # fmt: skip

    results = {"paths": len(items)}
    grade_s, graded = best_of(2, lambda: grade_solutions(
        [i.solution for i in items], [i.reference for i in items], sandbox))  # fmt: skip
    judge_s, judged = best_of(2, lambda: judge_many(items, sandbox))
    plain_s, _ = best_of(2, lambda: judge_many(items, sandbox, trials=0))
    correct = sum(bool(g.correct) for g in graded)
    results |= {
        "grade_paths_per_s": round(len(items) / grade_s, 1),
        "judge_paths_per_s": round(len(items) / judge_s, 1),
        "judge_without_counterfactual_paths_per_s": round(len(items) / plain_s, 1),
        "judge_over_grade_time": round(judge_s / grade_s, 2),
        "correct_paths": correct,
        "accepted_paths": sum(j.accepted for j in judged),
    }
    print("| what | paths/s | time vs answer-only grading |\n|---|---:|---:|")
    print(f"| answer-only grading (`grade_solutions`) | {results['grade_paths_per_s']} | 1.00x |")
    print(f"| judge, no counterfactual | {results['judge_without_counterfactual_paths_per_s']} "
          f"| {plain_s / grade_s:.2f}x |")  # fmt: skip
    print(f"| judge (2 counterfactual draws per right answer) | {results['judge_paths_per_s']} "
          f"| {judge_s / grade_s:.2f}x |")  # fmt: skip

    # The judge's calibration beyond the default domain: the teacher's own reference
    # solutions, every subject, skill and variant.
    rng = random.Random(1)
    drawn = [(subject, skill, variant, generate(subject, skill, rng, variant))
             for subject, skills in SUBJECTS.items() for skill in skills
             for variant in ("base", "hard", "ood") for _ in range(args.references)]  # fmt: skip
    verdicts = judge_many([JudgeItem(p.question, p.answer, p.solution, p.solution)
                           for *_, p in drawn], sandbox)  # fmt: skip
    rejected = Counter(f"{s}/{k}" for (s, k, _, _), v in zip(drawn, verdicts, strict=True)
                       if not v.accepted)  # fmt: skip
    results["references"] = len(drawn)
    results["references_accepted"] = sum(v.accepted for v in verdicts)
    results["references_rejected_by_skill"] = dict(rejected.most_common())
    print(f"\nteacher reference solutions accepted: {results['references_accepted']} of "
          f"{len(drawn)}; rejected by skill: {dict(rejected.most_common())}")  # fmt: skip

    if args.model.is_dir():
        cfg = load_params("critique_model", "params.yaml")
        sample = rows.head(256)
        print("\n| critique model batch | critiques/s |\n|---:|---:|")
        for batch in (16, 64, 256):
            generator, _ = model_generator(args.model, batch_size=batch, threads=cfg.threads)
            generator.progress = False
            seconds, _ = best_of(
                1, lambda g=generator: write_critiques(g, sample, cfg.max_new_tokens)
            )
            results[f"critique_per_s_batch_{batch}"] = round(sample.height / seconds, 1)
            print(f"| {batch} | {results[f'critique_per_s_batch_{batch}']} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
