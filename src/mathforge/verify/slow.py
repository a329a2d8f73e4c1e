"""The slow path: math-verify (``parse`` + ``verify``) in a pool of worker subprocesses.

Workers are plain ``subprocess.Popen`` interpreters speaking JSON lines, shared by all
threads of a process; a forked child starts its own pool.  Each call has a deadline; a
worker that overruns it is killed and replaced and the call returns None.  Each worker caps
its address space and exits when its parent dies.  Why not pebble or loky (measured):
docs/grading.md, "The worker pool".
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

from mathforge.verify.extract import to_latex
from mathforge.verify.fast import FLOAT_NOISE, _Num, parse_fast, states_at_float_precision

SLOW_PATH_DEADLINE_S = 3.0  # per slow-path call; a worker that overruns is killed -> None
WORKER_START_TIMEOUT_S = 60.0  # importing math-verify + sympy in a fresh worker
WORKER_MEMORY_BYTES = 4 << 30  # RLIMIT_AS of each worker (10**10**10 would need ~4 GB)
FLOAT_ROUNDING = 12  # math-verify's float rounding (its default, 6 places, is a tolerance)

_PARSE_CACHE: dict[str, list] = {}  # per worker process: an answer is parsed once
_PARSE_CACHE_MAX = 8192


def _parse_cached(text: str) -> list:
    from math_verify import parse

    out = _PARSE_CACHE.get(text)
    if out is None:
        out = parse(text, parsing_timeout=None) if text else []
        if len(_PARSE_CACHE) >= _PARSE_CACHE_MAX:
            _PARSE_CACHE.clear()
        _PARSE_CACHE[text] = out
    return out


_PROBE_POINT = (0.7371, 1.3093, 0.4127, 2.2719)  # values for the free symbols, in name order


def _numerically_different(a, b) -> bool:
    """True when two plain sympy expressions differ at a probe point by more than 1e-10
    (relative, evaluated to 30 digits): a cheap, sound rejection before verify's simplify,
    and no float tolerance for decimals inside expressions; False: unknown."""
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda x: x.name)
    if len(symbols) > len(_PROBE_POINT):
        return False
    point = dict(zip(symbols, _PROBE_POINT, strict=False))
    try:
        va = complex(a.evalf(30, subs=point))
        vb = complex(b.evalf(30, subs=point))
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return False
    if any(v != v or abs(v) == float("inf") for v in (va, vb)):
        return False
    return abs(va - vb) > 1e-10 * max(1.0, abs(va), abs(vb))


def _imaginary_unit(a, b):
    """(a, b) with the symbol ``i`` read as the imaginary unit when it is their only free
    symbol (``e^{i\\pi}``, ``3 + 2i``): math-verify parses ``i`` as a variable."""
    import sympy

    exprs = [x for x in (a, b) if isinstance(x, sympy.Basic)]
    free = set().union(*(x.free_symbols for x in exprs)) if exprs else set()
    if len(free) != 1 or next(iter(free)).name != "i":
        return a, b
    (i,) = free
    return tuple(x.subs(i, sympy.I) if isinstance(x, sympy.Basic) else x for x in (a, b))


def _constants_match(a, b, a_norm: str, b_norm: str) -> bool | None:
    """The decimal rule for two constants (sympy expressions without free symbols): equal up
    to float noise (evaluated to 40 digits), or a decimal side at float precision; no other
    tolerance (math-verify's rounds to 6 places: 2.718282 would be e).  None: not both finite
    constants."""
    import sympy

    if not all(isinstance(x, sympy.Expr) and not x.free_symbols for x in (a, b)):
        return None
    try:
        va, vb, diff = (complex(x.evalf(40)) for x in (a, b, a - b))
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return None
    if any(v != v or abs(v) == float("inf") for v in (va, vb, diff)):
        return None
    if abs(diff) <= float(FLOAT_NOISE) * max(abs(va), abs(vb)):
        return True
    for norm, other in ((a_norm, vb), (b_norm, va)):
        num = parse_fast(norm)
        decimal = isinstance(num, _Num) and num.places is not None and not num.pct
        if (
            decimal
            and other.imag == 0
            and states_at_float_precision(num.value, num.places, num.sig, other.real)
        ):
            return True
    return False


def _slow_pair(a_norm: str, b_norm: str, a_raw: str, b_raw: str) -> bool | None:
    """math-verify on one pair, both directions (runs inside a worker process)."""
    from math_verify import verify

    def parsed(norm: str, raw: str) -> list:
        return _parse_cached(to_latex(norm) if norm else "") or _parse_cached(raw)

    p, g = parsed(a_norm, a_raw), parsed(b_norm, b_raw)
    if not p or not g:
        return None
    first_p, first_g = _imaginary_unit(p[0], g[0])
    constants = _constants_match(first_p, first_g, a_norm, b_norm)
    if constants is not None:
        return constants
    if _numerically_different(first_p, first_g):
        return False
    p, g = [first_p, *p[1:]], [first_g, *g[1:]]
    kwargs = {"timeout_seconds": None, "float_rounding": FLOAT_ROUNDING}
    return bool(verify(g, p, **kwargs) or verify(p, g, **kwargs))


def _worker_main() -> None:
    """Loop of one slow-path worker: JSON requests on stdin, JSON results on stdout."""
    import logging
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import math_verify  # noqa: F401  (import before announcing readiness)

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    parent = os.getppid()

    def watchdog() -> None:  # exit if the parent dies while we are stuck in sympy
        import time

        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            args = json.loads(line)
            result = _slow_pair(*args)
        except BaseException:  # noqa: BLE001 - any failure in sympy is "ungradable"
            result = None
        out.write(json.dumps(result) + "\n")
        out.flush()


_WORKER_CODE = "from mathforge.verify.slow import _worker_main; _worker_main()"


class _Worker:
    def __init__(self) -> None:
        src = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        env["OMP_NUM_THREADS"] = "1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from mathforge.verify.slow import _worker_main; _worker_main()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.ready = False
        self._buf = b""

    def _readline(self, timeout: float) -> bytes | None:
        import time

        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None  # worker died
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def call(self, args: list[str], deadline: float) -> tuple[bool, bool | None]:
        """(alive, result). alive=False: the worker overran or died and must be replaced."""
        if not self.ready:
            if self._readline(WORKER_START_TIMEOUT_S) != b"ready":
                return False, None
            self.ready = True
        try:
            self.proc.stdin.write((json.dumps(args) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            return False, None
        line = self._readline(deadline)
        if line is None:
            return False, None
        return True, json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass


_RESULT_CACHE_MAX = 65536


class _Pool:
    """Slow-path workers shared by all threads of this process; grows on demand."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.size = 0
        self.available = threading.Condition(self.lock)
        self.capacity = max(1, min(os.cpu_count() or 1, 4))
        self.results: dict[tuple[str, ...], bool | None] = {}  # slow-path verdicts, by pair

    def run(self, args: list[str], deadline: float) -> bool | None:
        key = tuple(args)
        with self.lock:
            if key in self.results:
                return self.results[key]
        alive, result = self._run(args, deadline)
        if alive:  # an overrun may be load, not the pair: do not remember it
            with self.lock:
                if len(self.results) >= _RESULT_CACHE_MAX:
                    self.results.clear()
                self.results[key] = result
        return result

    def _run(self, args: list[str], deadline: float) -> tuple[bool, bool | None]:
        with self.available:
            while not self.idle and self.size >= self.capacity:
                self.available.wait()
            if self.idle:
                worker = self.idle.pop()
            else:
                worker = _Worker()
                self.size += 1
        alive, result = worker.call(args, deadline)
        if not alive:
            worker.kill()
            worker = _Worker()  # replace now, so it warms up while we return
        with self.available:
            self.idle.append(worker)
            self.available.notify()
        return alive, result

    def close(self) -> None:
        with self.lock:
            for worker in self.idle:
                worker.kill()
            self.idle.clear()
            self.size = 0


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool(capacity: int | None = None) -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():  # new process (fork): never reuse pipes
            _POOL = _Pool()
        if capacity is not None and capacity > _POOL.capacity:
            with _POOL.available:
                _POOL.capacity = capacity
                _POOL.available.notify_all()
        return _POOL


def shutdown_workers() -> None:
    """Stop the slow-path worker processes (they also stop when this process exits)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.pid == os.getpid():
            _POOL.close()
        _POOL = None


atexit.register(shutdown_workers)
