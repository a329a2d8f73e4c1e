"""Benchmark: mathforge.novelty.novelty_filter vs Self-Instruct's ROUGE-L filter.

The reference is a faithful re-implementation of the filter loop in Self-Instruct's
``bootstrap_instructions.py``: every candidate is scored with
``rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)`` against every kept instruction
through ``multiprocessing.Pool.map(partial(scorer.score, inst), kept)`` and dropped when
``max(scores) > threshold``; the kept list grows one problem at a time.  (Self-Instruct
opens a fresh ``Pool(4)`` per candidate; here one ``Pool(--ref-procs)`` is reused for the
whole run, which only makes the reference faster.)

Both run on the SAME generated problems (realistic templated math word problems with many
near-duplicates, generated here so the script is self-contained).

    python benchmarks/bench_novelty.py                       # 500 1000 2000 + 10k 50k 100k
    python benchmarks/bench_novelty.py --sizes 500 --big-sizes 10000
    python benchmarks/bench_novelty.py --corpus distinct     # worst case: ~everything kept
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rouge_score import rouge_scorer  # noqa: E402

from mathforge.novelty import novelty_filter  # noqa: E402


def _words(text: str, sep: str = "|") -> list[str]:
    return text.split(sep)


NAMES = _words(
    "Alice Bob Carla Diego Emma Farid Grace Hiro Ines Jamal Kofi Lena Mateo Nadia Omar Priya "
    "Quinn Rosa Sam Tariq Uma Victor Wen Ximena Yusuf Zoe Liam Olivia Noah Ava Ethan Mia Lucas "
    "Sofia Mason Chloe Arjun Hana Felix Ivy Marco Nora Pablo Rina Theo Vera Wyatt Yara",
    " ",
)
OBJECTS = _words(
    "apples|oranges|marbles|stickers|pencils|cookies|books|stamps|cupcakes|balloons|shells|"
    "cards|toy cars|beads|candies|muffins|crayons|coins|erasers|notebooks|flowers|eggs|"
    "bananas|lemons|chairs|tickets|bottles|plates|stones|feathers|buttons|ribbons"
)
PLACES = _words(
    "the store|the bakery|the market|school|the library|the park|the fair|the farm|the zoo|"
    "the museum|the beach|the garden|the mall|the club|the office"
)
ITEMS = _words("shirt|book|bike|lamp|game|jacket|pair of shoes|backpack|watch|camera")
JOBS = _words("babysitting|mowing lawns|walking dogs|tutoring|washing cars|selling lemonade")
VEHICLES = _words("car|train|bus|bike|boat|truck")

TEMPLATES = [
    "{a} has {n1} {o}. {b} gives {a} {n2} more {o}. How many {o} does {a} have now?",
    "{a} had {n1} {o} and gave {n2} of them to {b}. How many {o} does {a} have left?",
    "{a} buys {n1} {o} at {p} for ${n2} each. How much money does {a} spend in total?",
    "There are {n1} {o} in a box. {a} takes out {n2} {o}. How many {o} are left in the box?",
    "{a} reads {n1} pages of a book every day. How many pages will {a} read in {n2} days?",
    "A {v} travels at {n1} miles per hour. How far does it travel in {n2} hours?",
    "{a} earns ${n1} per hour {j}. How much does {a} earn after working {n2} hours?",
    "A {i} costs ${n3}. {a} has saved ${n1} and earns ${n2} a week. How many weeks until "
    "{a} can buy the {i}?",
    "{a} is {n1} years old. {b} is {n2} years older than {a}. How old will {b} be in {n3} years?",
    "{a} bakes {n1} trays of {o} with {n2} {o} on each tray. {a} sells {n3} of them. How "
    "many {o} remain?",
    "A rectangle has a length of {n1} cm and a width of {n2} cm. What is its area?",
    "A rectangular garden is {n1} meters long and {n2} meters wide. What is the perimeter "
    "of the garden?",
    "{a} shares {n1} {o} equally among {n2} friends. How many {o} does each friend get and "
    "how many are left over?",
    "The price of a {i} is ${n1}. It is on sale for {n2}% off. What is the sale price?",
    "{a} scored {n1}, {n2} and {n3} points in three games. What was the average score?",
    "{a} walks {n1} blocks to {p} and then {n2} blocks back home. How many blocks does {a} "
    "walk in all?",
    "In a class of {n3} students, {n1} are boys. How many girls are in the class?",
    "{a} collects {n1} {o} on Monday and twice as many on Tuesday. How many {o} did {a} "
    "collect on both days?",
    "{a} has three times as many {o} as {b}. If {b} has {n1} {o}, how many {o} do they have "
    "together?",
    "A tank holds {n3} liters of water. It leaks {n1} liters every hour. How much water is "
    "left after {n2} hours?",
    "{a} spent ${n1} on {o} and ${n2} on a {i}. {a} started with ${n3}. How much money is left?",
    "Tickets to {p} cost ${n1} for adults and ${n2} for children. How much do {n3} adults "
    "and 2 children pay?",
    "{a} runs {n1} kilometers every morning and {n2} kilometers every evening. How many "
    "kilometers does {a} run in a week?",
    "A bag contains {n1} red marbles and {n2} blue marbles. What is the probability of "
    "drawing a red marble?",
    "{a} planted {n1} rows of trees with {n2} trees in each row. {n3} trees died. How many "
    "trees are still alive?",
    "A recipe needs {n1} cups of flour for {n2} cookies. How much flour is needed for {n3} "
    "cookies?",
    "{a} and {b} together have {n3} {o}. {a} has {n1} more than {b}. How many {o} does {b} have?",
    "The sum of two numbers is {n3} and their difference is {n1}. What are the two numbers?",
    "A {v} leaves at {n1} o'clock and arrives {n2} hours later. At what time does it arrive?",
    "{a} saves {n1}% of a ${n3} paycheck from {j}. How much does {a} save?",
    "What is {n1} percent of {n3}?",
    "Solve for x: {n1}x + {n2} = {n3}.",
    "{a} divides {n3} {o} into bags of {n1}. How many full bags can {a} make?",
    "A school orders {n1} boxes of {o}. Each box holds {n2} {o}. The school gives away {n3} "
    "{o}. How many {o} does the school keep?",
    "{a} is twice as old as {b}. In {n1} years the sum of their ages will be {n3}. How old "
    "is {b} now?",
    "A shop sold {n1} {o} on Saturday and {n2} on Sunday at ${n3} each. What was the total "
    "revenue?",
]
PREFIXES = ["", "", "", "Problem: ", "Question: ", "Solve the following. ", "Word problem: "]
EXTRAS = [
    "",
    "",
    "",
    "",
    " It was a sunny day.",
    " {b} watched and laughed.",
    " Show your work.",
    " Give the answer as a whole number.",
    " {a} likes {o} very much.",
    " Round to the nearest tenth.",
    " Assume there is no tax.",
    " Explain each step.",
]


def make_problems(n: int, seed: int = 0) -> list[str]:
    """n realistic templated math word problems with many near-duplicates."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.sample(NAMES, 2)
        slots = {
            "a": a,
            "b": b,
            "o": rng.choice(OBJECTS),
            "p": rng.choice(PLACES),
            "i": rng.choice(ITEMS),
            "j": rng.choice(JOBS),
            "v": rng.choice(VEHICLES),
            "n1": rng.randint(2, 60),
            "n2": rng.randint(2, 40),
            "n3": rng.randint(50, 500),
        }
        text = rng.choice(PREFIXES) + rng.choice(TEMPLATES) + rng.choice(EXTRAS)
        if rng.random() < 0.15:  # a second problem sentence glued on
            second = rng.choice(TEMPLATES)
            text += " Then " + second[0].lower() + second[1:]
        out.append(text.format(**slots))
    return out


def make_distinct(n: int, seed: int = 0) -> list[str]:
    """Worst case for the filter: Zipf-random word sequences, nearly all novel (kept)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(20000)]
    weights = [1 / (i + 1) for i in range(len(words))]
    return [" ".join(rng.choices(words, weights, k=rng.randint(15, 50))) for _ in range(n)]


def reference_filter(texts: list[str], threshold: float, procs: int) -> list[bool]:
    """Self-Instruct's loop: Pool.map(partial(scorer.score, inst), kept); drop if max > t."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept: list[str] = []
    decisions = []
    with multiprocessing.Pool(procs) as p:
        for inst in texts:
            if kept:
                rouge_scores = p.map(partial(scorer.score, inst), kept)
                rouge_scores = [score["rougeL"].fmeasure for score in rouge_scores]
                if max(rouge_scores) > threshold:
                    decisions.append(False)
                    continue
            kept.append(inst)
            decisions.append(True)
    return decisions


def exponent(rows: list[dict], key: str) -> None:
    prev = None
    for row in rows:
        if prev is not None and row.get(key) and prev.get(key):
            row[key + "_exponent"] = round(
                math.log(row[key] / prev[key]) / math.log(row["n"] / prev["n"]), 2
            )
        prev = row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[500, 1000, 2000],
        help="sizes run with BOTH the reference and ours",
    )
    ap.add_argument(
        "--big-sizes",
        type=int,
        nargs="*",
        default=[10000, 50000, 100000],
        help="sizes run with ours only",
    )
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--corpus",
        choices=["templated", "distinct"],
        default="templated",
        help="templated math problems (default) or near-duplicate-free texts",
    )
    ap.add_argument("--ref-procs", type=int, default=4, help="Pool size (Self-Instruct: 4)")
    ap.add_argument("--json", default="benchmarks/results/novelty.json")
    args = ap.parse_args()

    make = make_problems if args.corpus == "templated" else make_distinct
    rows: list[dict] = []
    for n in args.sizes:
        problems = make(n, args.seed)
        t0 = time.perf_counter()
        ours = novelty_filter(problems, args.threshold)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_filter(problems, args.threshold, args.ref_procs)
        t_ref = time.perf_counter() - t0
        agree = sum(x == y for x, y in zip(ours, ref, strict=True)) / n
        row = {
            "n": n,
            "ref_s": round(t_ref, 3),
            "ours_s": round(t_ours, 4),
            "speedup": round(t_ref / t_ours, 1),
            "kept": sum(ours),
            "ref_kept": sum(ref),
            "agreement": agree,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    for n in args.big_sizes:
        problems = make(n, args.seed)
        t0 = time.perf_counter()
        ours = novelty_filter(problems, args.threshold)
        t_ours = time.perf_counter() - t0
        row = {
            "n": n,
            "ref_s": None,
            "ours_s": round(t_ours, 4),
            "speedup": None,
            "kept": sum(ours),
            "ref_kept": None,
            "agreement": None,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    rows.sort(key=lambda r: r["n"])
    exponent(rows, "ours_s")
    exponent([r for r in rows if r["ref_s"]], "ref_s")

    print("| N | reference (s) | ours (s) | speed-up | kept | agreement | exp. ref | exp. ours |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:

        def fmt(v, spec=""):
            return "—" if v is None else format(v, spec)

        print(
            f"| {r['n']:,} | {fmt(r['ref_s'], '.1f')} | {r['ours_s']:.3f} | "
            f"{fmt(r['speedup'], ',.0f')}{'' if r['speedup'] is None else '×'} | "
            f"{r['kept']:,} | "
            f"{'—' if r['agreement'] is None else format(r['agreement'], '.0%')} | "
            f"{fmt(r.get('ref_s_exponent'))} | {fmt(r.get('ours_s_exponent'))} |"
        )

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "corpus": args.corpus,
        "threshold": args.threshold,
        "seed": args.seed,
        "ref_procs": args.ref_procs,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    if any(r["agreement"] is not None and r["agreement"] < 1 for r in rows):
        sys.exit("decisions differ from the reference")


if __name__ == "__main__":
    main()
