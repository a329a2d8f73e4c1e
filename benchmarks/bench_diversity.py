"""Benchmark: mathforge.diversity (normalize + select per problem) at the recipe's shape.

Synthetic paths, 100 per problem, generated here so the script is self-contained: each
problem has its own numbers and 8 reasonings (product, repeated addition in a loop, closed
form, ``math.prod``, Decimal, ``sum`` over a comprehension, a helper function, ``divmod``),
drawn Zipf-like (a few dominate, as sampled paths do); every path is written with random
names, comments, a docstring, debug prints, operand order and import style; 35% of paths
repeat an earlier path of the problem verbatim (temperature sampling repeats itself) and 3%
are cut off mid-line (they do not parse: the text fallback).

    OMP_NUM_THREADS=1 python benchmarks/bench_diversity.py                # 1M paths, 1 and 2 procs
    OMP_NUM_THREADS=1 python benchmarks/bench_diversity.py --paths 100000 --naive-problems 3
    OMP_NUM_THREADS=1 python benchmarks/bench_diversity.py --stage      # the stage's two passes

``--stage`` measures what the `diversity` stage runs instead (mathforge.diversity.rft): the
same synthetic paths written as `paths` Parquet shards (10,000 rows each, two models), then
``survey`` (every program hashed as written and normalized, one shard per process) and
``select_candidates`` on ``--candidates`` paths per problem (the filter's top M).

The naive reference it replaces: raw-text dedup, then a pure-Python character edit distance
(normalized by the longer text) with the same farthest-first + swap selection, on the first
``--naive-problems`` problems; both run on the same paths, side by side.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from mathforge.diversity import normalize_program, select_with_reasons  # noqa: E402
from mathforge.diversity.select import spread_subset  # noqa: E402

NAMES = [
    ["n1", "a", "apples", "price", "x", "first", "cost", "qty"],
    ["n2", "b", "boxes", "count", "y", "second", "units", "per_box"],
    ["n3", "c", "extra", "fee", "z", "third", "bonus", "delta"],
]
COMMENTS = ["# given", "# from the question", "# step 1", "# compute", "# the total"]
PATHS_PER_PROBLEM = 100
K = 8


def _body(t: int, a: str, b: str, c: str, rng: random.Random) -> list[str]:
    swap = rng.random() < 0.5
    ab = f"{b} * {a}" if swap else f"{a} * {b}"
    if t == 0:
        return [f"total = {ab} + {c}" if rng.random() < 0.5 else f"total = {c} + {ab}",
                "print(total)"]  # fmt: skip
    if t == 1:
        acc = rng.choice(["s", "acc", "total"])
        step = f"{acc} += {a}" if rng.random() < 0.5 else f"{acc} = {acc} + {a}"
        return [f"{acc} = {c}", f"for i in range({b}):", f"    {step}", f"print({acc})"]
    if t == 2:
        return [f"print({a} + {a} * ({b} - 1) + {c})"]
    if t == 3:
        if swap:
            return ["import math", f"print(math.prod([{a}, {b}]) + {c})"]
        return ["from math import prod", f"print(prod([{a}, {b}]) + {c})"]
    if t == 4:
        return ["from decimal import Decimal",
                f"print(Decimal({a}) * Decimal({b}) + Decimal({c}))"]  # fmt: skip
    if t == 5:
        return [f"print(sum({a} for _ in range({b})) + {c})"]
    if t == 6:
        f = rng.choice(["times", "mul", "f"])
        return [f"def {f}(p, q):", "    return p * q", f"print({f}({a}, {b}) + {c})"]
    return [f"q, r = divmod({ab} + {c}, 1)", "print(q)"]


def make_path(rng: random.Random, numbers: tuple[int, int, int]) -> str:
    t = min(int(rng.paretovariate(1.2)) - 1, 7)  # Zipf-like: reasoning 0 most often
    a, b, c = (rng.choice(names) for names in NAMES)
    lines = []
    if rng.random() < 0.2:
        lines.append('"""Solve the problem."""')
    bindings = [f"{a} = {numbers[0]}", f"{b} = {numbers[1]}", f"{c} = {numbers[2]}"]
    if rng.random() < 0.3:
        bindings[0], bindings[1] = bindings[1], bindings[0]
    for line in bindings:
        lines.append(line + (f"  {rng.choice(COMMENTS)}" if rng.random() < 0.3 else ""))
    if rng.random() < 0.3:
        lines.append(f"print({a}, {b})")
    body = _body(t, a, b, c, rng)
    if rng.random() < 0.3:
        body[-1] = body[-1].replace("print(", 'print("Answer:", ', 1)
    lines += body
    return "\n".join(lines) + "\n"


def make_problem(seed: int) -> list[str]:
    rng = random.Random(seed)
    numbers = (rng.randint(2, 99), rng.randint(2, 30), rng.randint(0, 50))
    paths: list[str] = []
    for _ in range(PATHS_PER_PROBLEM):
        if paths and rng.random() < 0.35:
            paths.append(rng.choice(paths))
        elif rng.random() < 0.03:
            full = make_path(rng, numbers)
            paths.append(full[: rng.randint(5, len(full) - 3)])
        else:
            paths.append(make_path(rng, numbers))
    return paths


def _worker(seeds: list[int]) -> tuple[int, int, int, float]:
    """Generate the problems (not timed), then normalize + select each one (timed).

    Returns (paths, kept, dropped as duplicates, seconds of normalize + select)."""
    problems = [make_problem(seed) for seed in seeds]
    paths = kept = duplicates = 0
    start = time.perf_counter()
    for programs in problems:
        sel = select_with_reasons(programs, K)
        paths += len(programs)
        kept += len(sel.kept)
        duplicates += sum(d.reason == "duplicate" for d in sel.dropped.values())
    return paths, kept, duplicates, time.perf_counter() - start


def run_ours(n_problems: int, procs: int) -> dict:
    """Each process gets an equal share of the problems; the time is the slowest one's."""
    shares = [list(range(n_problems))[i::procs] for i in range(procs)]
    if procs == 1:
        results = [_worker(shares[0])]
    else:
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            results = pool.map(_worker, shares, chunksize=1)
    paths, kept, dups = (sum(r[i] for r in results) for i in range(3))
    seconds = max(r[3] for r in results)
    return {"procs": procs, "paths": paths, "seconds": seconds,
            "per_process_s": [r[3] for r in results], "kept": kept, "duplicates": dups,
            "load_avg": os.getloadavg()[0]}  # fmt: skip


def char_distance(x: str, y: str) -> float:
    """Levenshtein over characters in pure Python, normalized by the longer text."""
    if len(x) < len(y):
        x, y = y, x
    if not x:
        return 0.0
    previous = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        current = [i]
        for j, cy in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (cx != cy)))
        previous = current
    return previous[-1] / len(x)


def naive(programs: list[str], k: int) -> list[int]:
    reps = list(dict.fromkeys(programs))  # raw-text dedup, first occurrence stands
    m = len(reps)
    dist = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            dist[i, j] = dist[j, i] = char_distance(reps[i], reps[j])
    chosen = spread_subset(dist, k)
    first = {text: programs.index(text) for text in reps}
    return sorted(first[reps[p]] for p in chosen)


def run_stage(n_problems: int, procs: int, candidates: int, out: Path) -> dict:
    """The diversity stage's passes on Parquet shards of the synthetic paths."""
    import polars as pl

    from mathforge.diversity.rft import select_candidates, survey

    shard_rows = 10_000
    per_shard = shard_rows // PATHS_PER_PROBLEM
    files, filtered = [], []
    for shard, start in enumerate(range(0, n_problems, per_shard)):
        qids, programs = [], []
        for seed in range(start, min(start + per_shard, n_problems)):
            paths = make_problem(seed)
            qids += [f"q_{seed:016x}"] * len(paths)
            programs += [[code] for code in paths]
        frame = pl.DataFrame({
            "path_id": [f"p_{shard:08x}{i:08x}" for i in range(len(qids))],
            "question_id": qids,
            "model": ["policy_small", "policy_tiny"] * (len(qids) // 2),
            "programs": programs,
            "correct": [True] * len(qids),
        })  # fmt: skip
        file = out / f"shard-{shard:05d}.parquet"
        frame.write_parquet(file)
        files.append(str(file))
        filtered.append(
            frame.with_columns(
                keep_rank=pl.int_range(1, pl.len() + 1).over("question_id"),
                critique_score=pl.lit(9, dtype=pl.Int64),
            ).filter(pl.col("keep_rank") <= candidates)
        )
    filtered = pl.concat(filtered)
    start = time.perf_counter()
    surveyed = survey(files, procs)
    survey_s = time.perf_counter() - start
    start = time.perf_counter()
    verdicts, _ = select_candidates(filtered, K, procs)
    select_s = time.perf_counter() - start
    paths = surveyed.height
    return {"procs": procs, "paths": paths, "survey_s": survey_s,
            "candidates": filtered.height, "select_s": select_s,
            "selected": int(verdicts["selected"].sum()),
            "extrapolated_10M_s": (survey_s + select_s) * 10_000_000 / paths,
            "load_avg": os.getloadavg()[0]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--naive-problems", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/results/diversity.json")
    parser.add_argument("--stage", action="store_true", help="the diversity stage's passes")
    parser.add_argument("--candidates", type=int, default=16, help="--stage: paths per problem")
    args = parser.parse_args()
    n_problems = args.paths // PATHS_PER_PROBLEM
    if args.stage:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            runs = [
                run_stage(n_problems, procs, args.candidates, Path(tmp)) for procs in args.procs
            ]
        for run in runs:
            print(json.dumps(run), flush=True)
        out = Path(args.json).with_name("diversity_stage.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
        return
    report: dict = {"machine": f"{os.cpu_count()} cores, Python {platform.python_version()}"}

    # side by side on a few problems: the naive approach vs ours
    rows = []
    for seed in range(args.naive_problems):
        programs = make_problem(seed)
        start = time.perf_counter()
        kept_naive = naive(programs, K)
        t_naive = time.perf_counter() - start
        start = time.perf_counter()
        kept_ours = select_with_reasons(programs, K).kept
        t_ours = time.perf_counter() - start
        forms = [normalize_program(programs[i]) for i in kept_naive]
        rows.append({"naive_s": t_naive, "ours_s": t_ours,
                     "naive_distinct_raw": len(set(programs)),
                     "naive_kept_same_reasoning_twice": len(forms) - len(set(forms)),
                     "ours_kept": len(kept_ours)})  # fmt: skip
    naive_s = sum(r["naive_s"] for r in rows)
    ours_s = sum(r["ours_s"] for r in rows)
    paths = args.naive_problems * PATHS_PER_PROBLEM
    report["side_by_side"] = {"paths": paths, "naive_paths_per_s": paths / naive_s,
                              "ours_paths_per_s": paths / ours_s, "speedup": naive_s / ours_s,
                              "problems": rows}  # fmt: skip
    print(json.dumps(report["side_by_side"], indent=1), flush=True)

    report["runs"] = []
    for procs in args.procs:
        run = run_ours(n_problems, procs)
        run["paths_per_s"] = run["paths"] / run["seconds"]
        run["extrapolated_10M_s"] = 10_000_000 / run["paths_per_s"]
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
