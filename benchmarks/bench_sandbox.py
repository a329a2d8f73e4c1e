"""Benchmark: mathforge.sandbox.run_programs vs OpenAI human-eval's execution approach.

The reference re-implements the design of human-eval's ``human_eval/execution.py`` (written
from its known design, not copied): per program, ``check_correctness`` opens a
``multiprocessing.Manager()`` for a result list, starts one ``multiprocessing.Process`` running
``unsafe_execute`` (a temporary directory it chdirs into, stdin/stdout/stderr swallowed, a
``signal.setitimer`` time limit, ``reliability_guard()`` disabling destructive os / shutil /
subprocess / builtins functions, then ``exec``), joins it with ``timeout + 1`` and kills it if
it is still alive; many programs run at once from a ``ThreadPoolExecutor`` (human-eval's
``evaluate_functional_correctness`` default: 4 workers).  Two changes for program-of-thought:
the printed output is captured (human-eval only records pass/fail), and the benchmark process
imports sympy/numpy before forking, so a program's ``import sympy`` is a dict lookup in the
reference too (without it each sympy program would pay a ~1 s import there: this only makes
the reference faster).

Both run the SAME programs, generated here (seeded): (a) quick realistic PoT programs
(fractions, integer arithmetic, math, decimal, and ~20% small sympy computations) that print a
number; (b) the same mix with 5% raising and 5% infinite loops, at a 1 s timeout.  Outputs are
checked to agree between the two.

    python benchmarks/bench_sandbox.py                  # 1000 programs, both workloads
    python benchmarks/bench_sandbox.py -n 200 --workers 2 --ref-workers 4
    python benchmarks/bench_sandbox.py --workload quick   # the quick workload only
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import json
import multiprocessing
import os
import platform
import random
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy  # noqa: E402,F401  (preloaded for the reference, see the docstring)
import sympy  # noqa: E402,F401

from mathforge import sandbox  # noqa: E402

# ------------------------------------------------------------------------------ programs

TEMPLATES = [
    "from fractions import Fraction\n"
    "a = Fraction({a}, {b})\nb = Fraction({c}, {d})\ntotal = a + b * {e}\nprint(total)",
    "price = {a}\nqty = {b}\ndiscount = {c} / 100\ncost = price * qty * (1 - discount)\n"
    "print(round(cost, 2))",
    "import math\nn = {a} + {b}\nk = {c} % 7 + 1\nprint(math.comb(n, k) // math.gcd({a}, {d}))",
    "apples = {a}\ngiven = {b} % apples\nbought = {c}\nleft = apples - given + bought * 2\n"
    "per_box = {d} % 9 + 2\nprint(left // per_box, left % per_box)",
    "from decimal import Decimal\nrate = Decimal('{c}') / 100\nprincipal = Decimal({a})\n"
    "years = {d} % 10 + 1\namount = principal * (1 + rate) ** years\n"
    "print(amount.quantize(Decimal('0.01')))",
    "def digit_sum(n):\n    return sum(int(ch) for ch in str(n))\n"
    "print(sum(digit_sum(i) for i in range({a}, {a} + {b})))",
    "import math\nr = {a} / {b}\narea = math.pi * r ** 2\nprint(f'{{area:.4f}}')",
    "speeds = [{a}, {b}, {c}]\ntimes = [{d}, {e}, {a}]\n"
    "distance = sum(s * t for s, t in zip(speeds, times))\nprint(distance / sum(times))",
    "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(sp.Eq({a} * x + {b}, {c}), x)[0])",
    "from sympy import Rational, factorint\nprint(Rational({a}, {b}) + Rational({c}, {d}))\n"
    "print(max(factorint({a} * {c} + 1)))",
]
RAISING = "values = [{a}, {b}, 0]\nprint(sum(values) / values[-1])"
LOOPING = "n = {a}\nwhile n > 0:\n    n = n + 1"


def make_programs(n: int, seed: int, hostile: bool) -> list[str]:
    rng = random.Random(seed)
    progs = []
    for _ in range(n):
        nums = {k: rng.randint(2, 99) for k in "abcde"}
        roll = rng.random()
        if hostile and roll < 0.05:
            template = RAISING
        elif hostile and roll < 0.10:
            template = LOOPING
        else:
            template = rng.choice(TEMPLATES)
        progs.append(template.format(**nums))
    return progs


# ------------------------------------------------------------- the human-eval reference


class TimeoutException(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def handler(signum, frame):
        raise TimeoutException("Timed out!")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def create_tempdir():
    with tempfile.TemporaryDirectory() as dirname:
        cwd = os.getcwd()
        os.chdir(dirname)
        try:
            yield dirname
        finally:
            os.chdir(cwd)


def reliability_guard() -> None:
    """human-eval's guard: disable destructive functions (NOT a security sandbox)."""
    import builtins
    import shutil
    import subprocess

    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in [
        "kill",
        "system",
        "putenv",
        "remove",
        "removedirs",
        "rmdir",
        "fchdir",
        "setuid",
        "fork",
        "forkpty",
        "killpg",
        "rename",
        "renames",
        "truncate",
        "replace",
        "unlink",
        "fchmod",
        "fchown",
        "chmod",
        "chown",
        "chroot",
        "lchflags",
        "lchmod",
        "lchown",
        "getcwd",
        "chdir",
    ]:
        setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def unsafe_execute(program: str, timeout: float, result) -> None:
    with create_tempdir():
        import shutil

        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        out = io.StringIO()
        reliability_guard()
        try:
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(io.StringIO()),
                time_limit(timeout),
            ):
                exec(program, {"__name__": "__main__"})
            result.append(("passed", out.getvalue()))
        except TimeoutException:
            result.append(("timed out", out.getvalue()))
        except BaseException as e:  # noqa: BLE001
            result.append((f"failed: {e}", out.getvalue()))
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def check_correctness(program: str, timeout: float) -> tuple[str, str]:
    manager = multiprocessing.Manager()
    try:
        result = manager.list()
        p = multiprocessing.Process(target=unsafe_execute, args=(program, timeout, result))
        p.start()
        p.join(timeout=timeout + 1)
        if p.is_alive():
            p.kill()
        return tuple(result[0]) if result else ("timed out", "")
    finally:
        manager.shutdown()


def run_reference(programs: list[str], timeout: float, workers: int) -> list[tuple[str, str]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: check_correctness(p, timeout), programs))


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="programs per workload")
    ap.add_argument(
        "--workers", type=int, default=None, help="mathforge sandbox workers (default: CPUs)"
    )
    ap.add_argument(
        "--ref-workers", type=int, default=4, help="human-eval's n_workers (its default)"
    )
    ap.add_argument("--timeout", type=float, default=1.0, help="timeout_s: CPU seconds")
    ap.add_argument(
        "--workload", choices=("quick", "mix", "both"), default="both", help="which to run"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sandbox.json"))
    args = ap.parse_args(argv)
    multiprocessing.set_start_method("fork", force=True)

    rows = []
    workloads = [("quick", False), ("mix 90/5/5", True)]
    for name, hostile in workloads:
        if args.workload not in ("both", name.split()[0]):
            continue
        progs = make_programs(args.n, seed=0, hostile=hostile)
        sandbox.shutdown()
        t = time.perf_counter()
        nw = args.workers or os.cpu_count() or 1
        warm = ["print(1)", "import sympy\nprint(1)"] * nw  # start every worker
        sandbox.run_programs(warm, timeout_s=args.timeout, workers=args.workers)
        start_s = time.perf_counter() - t  # starting the pool (bwrap, python, imports)
        t = time.perf_counter()
        ours = sandbox.run_programs(progs, timeout_s=args.timeout, workers=args.workers)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        ref = run_reference(progs, args.timeout, args.ref_workers)
        ref_s = time.perf_counter() - t
        agree = sum(
            (o.ok and r[0] == "passed" and o.stdout == r[1]) or (not o.ok and r[0] != "passed")
            for o, r in zip(ours, ref, strict=True)
        )
        rows.append(
            {
                "workload": name,
                "programs": len(progs),
                "ours_s": ours_s,
                "ours_pool_start_s": start_s,
                "ours_per_s": len(progs) / ours_s,
                "ours_per_s_incl_start": len(progs) / (ours_s + start_s),
                "ref_s": ref_s,
                "ref_per_s": len(progs) / ref_s,
                "ratio": ref_s / ours_s,
                "ratio_incl_start": ref_s / (ours_s + start_s),
                "outcomes_agree": agree,
                "ours_error_kinds": {
                    k: sum(o.error_kind == k for o in ours) for k in {o.error_kind for o in ours}
                },
            }
        )
    sandbox.shutdown()

    print(
        f"\nisolation: {sandbox.isolation_level()}, timeout {args.timeout} s, "
        f"mathforge workers {args.workers}, human-eval n_workers {args.ref_workers}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| workload | programs | human-eval programs/s | mathforge programs/s (warm) | "
        "ratio | mathforge incl. pool start | ratio incl. start | outcomes agree |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workload']} | {r['programs']} | {r['ref_per_s']:.0f} | "
            f"{r['ours_per_s']:.0f} | {r['ratio']:.1f}x | {r['ours_per_s_incl_start']:.0f} | "
            f"{r['ratio_incl_start']:.1f}x | {r['outcomes_agree']}/{r['programs']} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "euid": os.geteuid(),
                },
                "isolation": sandbox.isolation_level(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
