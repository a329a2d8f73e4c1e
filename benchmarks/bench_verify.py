"""Benchmark: mathforge.verify.answers_match_batch vs plain math-verify.

The reference is plain math-verify as most pipelines call it, single process:
``verify(parse(gold), parse(pred))`` with its default extraction and timeouts.  Both run on
the SAME labelled pairs, built here so the script is self-contained: our canonical answer
forms (integers, reduced fractions, rounded decimals, pairs, matrices, polynomials) as gold,
and model-style renderings of the same or of a wrong value as pred (``\\boxed{}``, "The
answer is ...", "Final answer: ...", units, thousands separators, LaTeX fractions, decimals,
``$..$``).  Every pair is distinct, so no result is reused.  Labels follow the grading rule
(docs/grading.md): a decimal rounded to a few places is not an exact fraction or surd (label
False), a float repr of it is (label True).

    python benchmarks/bench_verify.py                  # 3000 pairs, 2 workers
    python benchmarks/bench_verify.py --pairs 1000 --workers 2

Prints a Markdown table; writes benchmarks/results/verify.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from math_verify import parse, verify  # noqa: E402

from mathforge.verify import answers_match_batch, shutdown_workers  # noqa: E402
from mathforge.verify.fast import decide_fast  # noqa: E402


def _latex_frac(f: Fraction) -> str:
    sign = "-" if f < 0 else ""
    return f"{sign}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


def _wrap(rng: random.Random, body: str, latex: bool) -> str:
    """A model-style rendering of an answer body."""
    style = rng.choice(["bare", "boxed", "answer_is", "final", "dollar", "boxed_text"])
    if style == "bare":
        return body
    if style == "boxed":
        return f"So the result is $\\boxed{{{body}}}$."
    if style == "answer_is":
        return f"The answer is {body}."
    if style == "final":
        return f"We compute it step by step.\n\nFinal answer: {body}"
    if style == "dollar":
        return f"${body}$" if latex or rng.random() < 0.5 else body
    return f"Therefore \\boxed{{{body}}}"


def _int_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        value = rng.choice(
            [rng.randint(0, 99), rng.randint(100, 9999), rng.randint(10_000, 9_999_999)]
        )
        truth = rng.random() < 0.5
        shown = value if truth else value + rng.choice([-10, -1, 1, 2, 100])
        form = rng.choice(["plain", "commas", "unit", "dollar", "decimal0"])
        if form == "commas":
            body = f"{shown:,}"
        elif form == "unit":
            body = f"{shown} {rng.choice(['cm', 'km', 'dollars', 'apples', 'minutes', 'kg'])}"
        elif form == "dollar":
            body = f"\\${shown}"
        elif form == "decimal0":
            body = f"{shown}.0"
        else:
            body = str(shown)
        out.append((_wrap(rng, body, False), str(value), truth, f"int/{form}"))
    return out


def _frac_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        value = Fraction(rng.randint(-40, 40), rng.randint(2, 12))
        if value.denominator == 1:
            value += Fraction(1, 3)
        truth = rng.random() < 0.5
        shown = value if truth else value + Fraction(rng.choice([1, -1]), rng.randint(2, 9))
        form = rng.choice(["slash", "latex", "decimal4", "float", "unreduced"])
        if form == "slash":
            body = f"{shown.numerator}/{shown.denominator}"
        elif form == "latex":
            body = _latex_frac(shown)
        elif form == "unreduced":
            body = f"{shown.numerator * 2}/{shown.denominator * 2}"
        elif form == "float":  # what print(float(x)) prints: float precision, a match
            body = repr(float(shown))
        else:  # rounded to 4 places: equal to the exact fraction only if it is that decimal
            body = f"{float(shown):.4f}"
            truth = Fraction(body) == value
        gold = f"{value.numerator}/{value.denominator}"
        out.append((_wrap(rng, body, form == "latex"), gold, truth, f"fraction/{form}"))
    return out


def _decimal_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        cents = rng.randint(1, 999_999)
        gold = f"{cents / 100:.2f}"
        truth = rng.random() < 0.5
        shown = cents if truth else cents + rng.choice([-7, -1, 1, 3, 50])
        form = rng.choice(["same", "short", "dollar", "percent"])
        if form == "same":
            body = f"{shown / 100:.2f}"
        elif form == "short":
            body = f"{shown / 100:.2f}".rstrip("0").rstrip(".")
        elif form == "dollar":
            body = f"${shown / 100:,.2f}"
        else:
            body = f"{shown / 100:.2f}\\%"
        out.append((_wrap(rng, body, False), gold, truth, f"decimal/{form}"))
    return out


def _tuple_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        x, y = rng.randint(-20, 20), Fraction(rng.randint(-20, 20), rng.choice([1, 2, 4]))
        gold = f"({x}, {y})"
        truth = rng.random() < 0.5
        sx, sy = (x, y) if truth else rng.choice([(y, x), (x + 1, y), (x, y - 1)])
        if sx == x and sy == y:
            truth = True
        form = rng.choice(["plain", "latex"])
        if form == "latex":
            fy = _latex_frac(Fraction(sy)) if Fraction(sy).denominator != 1 else str(sy)
            body = f"\\left({sx}, {fy}\\right)"
        else:
            body = f"({sx}, {sy})"
        out.append((_wrap(rng, body, form == "latex"), gold, truth, f"pair/{form}"))
    return out


def _matrix_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        m = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
        gold = str(m)
        truth = rng.random() < 0.5
        shown = [row[:] for row in m]
        if not truth:
            shown[rng.randint(0, 1)][rng.randint(0, 1)] += rng.choice([-1, 1])
        form = rng.choice(["list", "pmatrix"])
        if form == "pmatrix":
            body = (
                "\\begin{pmatrix}"
                + " \\\\ ".join(" & ".join(map(str, r)) for r in shown)
                + "\\end{pmatrix}"
            )
        else:
            body = str(shown)
        out.append((_wrap(rng, body, form == "pmatrix"), gold, truth, f"matrix/{form}"))
    return out


def _poly_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    def sympy_form(a: int, b: int, c: int) -> str:
        terms = [f"{a}*x**2"]
        terms.append(f"{'+' if b >= 0 else '-'} {abs(b)}*x")
        terms.append(f"{'+' if c >= 0 else '-'} {abs(c)}")
        return " ".join(terms)

    def latex_form(a: int, b: int, c: int) -> str:
        return f"{a}x^2 {'+' if b >= 0 else '-'} {abs(b)}x {'+' if c >= 0 else '-'} {abs(c)}"

    out = []
    for _ in range(n):
        a, b, c = rng.randint(1, 9), rng.randint(-9, 9), rng.randint(-9, 9)
        gold = sympy_form(a, b, c)
        truth = rng.random() < 0.5
        sa, sb, sc = (a, b, c) if truth else (a, b, c + rng.choice([-1, 1]))
        form = rng.choice(["sympy", "latex", "nested"])
        if form == "sympy":
            body = sympy_form(sa, sb, sc)
        elif form == "latex":
            body = latex_form(sa, sb, sc)
        else:  # x(ax + b) + c: only sympy can tell
            body = (
                f"x({sa}x {'+' if sb >= 0 else '-'} {abs(sb)}) {'+' if sc >= 0 else '-'} {abs(sc)}"
            )
        out.append((_wrap(rng, body, form == "latex"), gold, truth, f"polynomial/{form}"))
    return out


def _radical_pairs(rng: random.Random, n: int) -> list[tuple[str, str, bool, str]]:
    out = []
    for _ in range(n):
        k, r = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
        gold = f"{k}*sqrt({r})"  # as sympy prints it
        truth = rng.random() < 0.5
        sk, sr = (k, r) if truth else rng.choice([(k + 1, r), (k, r + 1 if r != 3 else 2)])
        form = rng.choice(["latex", "inside", "decimal", "float", "pi"])
        if form == "latex":
            body = f"{sk}\\sqrt{{{sr}}}"
        elif form == "inside":
            body = f"\\sqrt{{{sk * sk * sr}}}"
        elif form == "decimal":  # rounded to 3 places: never the exact surd
            body, truth = f"{sk * sr**0.5:.3f}", False
        elif form == "float":  # print(k * math.sqrt(r)): float precision, a match
            body = repr(sk * sr**0.5)
        else:  # a different kind of answer: never equal
            body, truth = f"{sk}\\pi", False
        out.append((_wrap(rng, body, form != "decimal"), gold, truth, f"radical/{form}"))
    return out


def build_pairs(n: int, seed: int = 0) -> list[tuple[str, str, bool, str]]:
    rng = random.Random(seed)
    share = {_int_pairs: 0.32, _frac_pairs: 0.18, _decimal_pairs: 0.18, _tuple_pairs: 0.1,
             _matrix_pairs: 0.07, _poly_pairs: 0.1, _radical_pairs: 0.05}  # fmt: skip
    pairs: dict[tuple[str, str], tuple[str, str, bool, str]] = {}
    for make, frac in share.items():
        target = len(pairs) + int(n * frac)
        while len(pairs) < target:
            for row in make(rng, target - len(pairs)):
                pairs.setdefault((row[0], row[1]), row)
    return list(pairs.values())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "verify.json")
    args = ap.parse_args()

    rows = build_pairs(args.pairs, args.seed)
    preds, golds, labels, kinds = zip(*rows, strict=True)

    start = time.perf_counter()
    plain = []
    for pred, gold in zip(preds, golds, strict=True):
        plain.append(bool(verify(parse(gold), parse(pred))))
    plain_s = time.perf_counter() - start

    start = time.perf_counter()
    # start the slow-path workers (two slow pairs: one per worker)
    answers_match_batch(["(x+1)^2", "(x+2)^2"], ["x^2+2x+1", "x^2+4x+4"], workers=args.workers)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = answers_match_batch(list(preds), list(golds), workers=args.workers)
    ours_s = time.perf_counter() - start
    shutdown_workers()

    n = len(rows)
    slow = sum(not decide_fast(p, g)[0] for p, g in zip(preds, golds, strict=True))
    plain_acc = sum(p == label for p, label in zip(plain, labels, strict=True)) / n
    ours_acc = sum(o is label for o, label in zip(ours, labels, strict=True)) / n
    regressions = [
        {"pred": p, "gold": g, "label": label, "plain": pl, "ours": o, "kind": k}
        for p, g, label, k, pl, o in zip(preds, golds, labels, kinds, plain, ours, strict=True)
        if pl == label and o is not label
    ]
    by_kind: dict[str, dict[str, int]] = {}
    for label, k, pl, o in zip(labels, kinds, plain, ours, strict=True):
        entry = by_kind.setdefault(
            k.split("/")[0], {"n": 0, "plain_ok": 0, "ours_ok": 0, "ours_none": 0}
        )
        entry["n"] += 1
        entry["plain_ok"] += pl == label
        entry["ours_ok"] += o is label
        entry["ours_none"] += o is None
    result = {
        "pairs": n,
        "true_labels": sum(labels),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "plain_math_verify": {
            "seconds": plain_s,
            "pairs_per_s": n / plain_s,
            "accuracy": plain_acc,
        },
        "mathforge": {
            "seconds": ours_s,
            "warmup_seconds": warmup_s,
            "pairs_per_s": n / ours_s,
            "pairs_per_s_with_warmup": n / (ours_s + warmup_s),
            "accuracy": ours_acc,
            "none": sum(o is None for o in ours),
        },
        "slow_path_pairs": slow,
        "speedup": plain_s / ours_s,
        "speedup_with_warmup": plain_s / (ours_s + warmup_s),
        "by_kind": by_kind,
        "plain_right_ours_wrong": regressions,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{n} labelled pairs ({sum(labels)} true), {args.workers} workers, {os.cpu_count()} CPUs\n"
    )
    print("| verifier | pairs/s | seconds | accuracy | None |")
    print("|---|---:|---:|---:|---:|")
    plain_row = f"{n / plain_s:,.0f} | {plain_s:.2f} | {plain_acc:.2%} | -"
    ours_row = f"{n / ours_s:,.0f} | {ours_s:.2f} | {ours_acc:.2%} | {result['mathforge']['none']}"
    cold_s = ours_s + warmup_s
    print(f"| plain math-verify `verify(parse(gold), parse(pred))` | {plain_row} |")
    print(f"| mathforge `answers_match_batch` | {ours_row} |")
    cold_row = f"{n / cold_s:,.0f} | {cold_s:.2f} | | "
    print(f"| mathforge incl. worker start ({warmup_s:.2f} s) | {cold_row}|")
    print(f"| mathforge: pairs sent to the slow path | {slow} | | | |")
    speedup = f"{plain_s / ours_s:.1f}x ({plain_s / cold_s:.1f}x including worker start)"
    print(f"\nspeedup: {speedup}\n")
    print("| kind | pairs | plain correct | ours correct | ours None |")
    print("|---|---:|---:|---:|---:|")
    for k, e in sorted(by_kind.items()):
        print(f"| {k} | {e['n']} | {e['plain_ok']} | {e['ours_ok']} | {e['ours_none']} |")
    print(f"\nplain math-verify right, ours wrong: {len(regressions)}")
    for r in regressions[:20]:
        print(f"- pred={r['pred']!r} gold={r['gold']!r} label={r['label']} ours={r['ours']}")


if __name__ == "__main__":
    main()
