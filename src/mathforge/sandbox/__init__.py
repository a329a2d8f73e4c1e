"""Run model-written Python programs in bubblewrap, many at once, each judged by its CPU time.

    from mathforge.sandbox import run_programs
    results = run_programs(["print(1 + 1)", "while True: pass"], timeout_s=1.0)
    results[0].stdout == "2\\n"; results[1].error_kind == "timeout"

What it guarantees (how, and the trade-offs: ``docs/sandbox.md``; speed:
``benchmarks/SANDBOX.md``):

- One ``ExecResult`` per program, in input order, always.  Every program is treated as
  hostile: one that loops, forks, fills memory, deletes files, opens sockets or kills its
  worker gets an ``error_kind`` and the batch goes on.
- Isolation: each worker is one ``bwrap`` process tree with new PID, network, IPC, UTS (and
  cgroup) namespaces: no network, no host processes, nothing outlives the worker.  The
  filesystem is a tmpfs root with ``/usr`` and the interpreter bound read-only; the home
  directory and the repository are not there.  The environment is cleared and fixed
  (``_SANDBOX_ENV``).  A program runs at an unprivileged uid (as root: one per slot and lane,
  so it cannot signal the worker or another program) in a fresh work dir that is removed,
  with what it left in ``/tmp``, after it.  Without bubblewrap the sandbox refuses to run
  (``SandboxUnavailable``) unless ``allow_unsandboxed=True`` (then rlimits only, and
  ``isolation`` says ``"none"``).
- Limits: address space (the preloaded worker's + ``memory_mb``), ``NPROC_LIMIT`` processes
  and threads, ``FSIZE_LIMIT`` per file, 256 fds, no core files, ``output_limit`` bytes of
  stdout + stderr.
- Time is CPU time, so a verdict depends neither on the batch nor on the machine's load.  A
  program is stopped as ``timeout`` once it has used ``timeout_s`` seconds of CPU (user +
  system: a forked program's whole session, with the children it reaped; a vetted program's
  time in the runner), to a clock tick (10 ms); ``RLIMIT_CPU`` (``ceil(timeout_s) + 1`` s) is a
  backstop on every process.  Waiting for a CPU does not count.  A program that sleeps or
  blocks is stopped as ``timeout`` once it has spent ``wall_timeout_s`` (default
  ``WALL_FACTOR`` = 5 x ``timeout_s``) neither running nor waiting to run.  The last line of
  its stderr says which limit stopped it, and ``ExecResult.cpu_s`` is the CPU time it used.
  Backstop: a program still running after 4 x ``wall_timeout_s`` of wall time is stopped as
  ``sandbox`` (the machine gave it too little CPU: not the program's fault).  CPU time itself
  varies with the load (caches, shared cores: up to +40% measured), so a program that needs
  close to ``timeout_s`` can still land on either side.
- Determinism: every program starts from the same interpreter state (``PYTHONHASHSEED=0``,
  ``random`` and numpy seeded 0, a fresh decimal context), whichever worker, path or lane
  runs it.
- Error kinds (``ERROR_KINDS``): timeout, memory, exception, syntax, exit, output_limit,
  killed, sandbox.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mathforge.errors import UserError

__all__ = [
    "ERROR_KINDS",
    "ExecResult",
    "SandboxUnavailable",
    "isolation_level",
    "run_programs",
    "shutdown",
]

ERROR_KINDS: dict[str, str] = {
    "timeout": "used more than timeout_s of CPU time, or spent wall_timeout_s sleeping or "
    "blocked; killed (stderr's last line says which)",
    "memory": "raised MemoryError: hit the address-space limit (memory_mb)",
    "exception": "raised an uncaught exception; the traceback is in stderr",
    "syntax": "did not compile (SyntaxError, or a NUL byte); the error is in stderr",
    "exit": "called sys.exit()/os._exit() with a non-zero status",
    "output_limit": "stdout+stderr went over output_limit bytes (or a file over 16 MiB); killed",
    "killed": "died from a signal (segfault, abort...) or killed its own worker process",
    "sandbox": "the sandbox failed (a worker did not start or hung), or the machine gave the "
    "program too little CPU to finish within its backstop; not the program's fault",
}

OUTPUT_LIMIT = 1 << 16  # bytes of stdout+stderr kept per program; more kills it
NPROC_LIMIT = 64  # processes+threads a program may have (fork bombs stop here)
FSIZE_LIMIT = 16 << 20  # largest file a program may write in its temp dir
_START_TIMEOUT_S = 120.0  # bwrap + python + import sympy/numpy, on a busy 2-core machine
_CHUNK = 16  # programs per host <-> worker message
_GRACE_S = 10.0  # extra wall time for the worker's own cleanup before the host gives up on it
_LANES = 8  # forked programs in flight at once per worker (as root: each lane its own uid)
_WINDOW = 32  # programs handed to a worker and not answered yet (queued there or running)
_SLICE_S = 0.05  # wall s: a runner program past it, while others wait, is detached
WALL_FACTOR = 5.0  # default wall_timeout_s = WALL_FACTOR * timeout_s (sleeping or blocked)
_BACKSTOP_FACTOR = 4.0  # any program is stopped past this many wall_timeout_s of wall time

_SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "HOME": "/tmp/work",
    "TMPDIR": "/tmp/work",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONNOUSERSITE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
# What the fork-servers import once.  Forking an interpreter that has imported sympy costs
# ~3x more than one without it (its ~40 MB heap), so there are two kinds of slot: "light"
# for programs whose source never names sympy, "sympy" for the rest.  The choice depends only on
# the source text, so the same program always starts from the same interpreter state.
_LIGHT = [
    "math",
    "cmath",
    "fractions",
    "decimal",
    "itertools",
    "functools",
    "collections",
    "statistics",
    "random",
    "re",
    "string",
    "heapq",
    "bisect",
    "operator",
    "numbers",
    "typing",
    "dataclasses",
    "copy",
    "traceback",
    "io",
    "numpy",
]
PRELOAD = {"light": _LIGHT, "sympy": _LIGHT + ["sympy"]}
_ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")


class SandboxUnavailable(UserError):
    """bubblewrap is missing or cannot create namespaces, and weaker isolation was not allowed."""


@dataclass(frozen=True)
class ExecResult:
    """What one program did.  ``error_kind`` is None when ok, else a key of ERROR_KINDS."""

    ok: bool
    stdout: str
    stderr: str
    error_kind: str | None
    duration_s: float  # wall-clock seconds
    isolation: str = "bubblewrap"  # "bubblewrap" or "none" (allow_unsandboxed without bwrap)
    cpu_s: float = 0.0  # CPU seconds it used (what timeout_s limits)


# ---------------------------------------------------------------------------- isolation level

_LEVEL: str | None = None


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def isolation_level() -> str:
    """'bubblewrap' when bwrap is installed and can create the sandbox here, else 'none'."""
    global _LEVEL
    if _LEVEL is None:
        _LEVEL = "none"
        path = _bwrap()
        if path:
            argv = [path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net"]
            if os.geteuid() != 0:
                argv += ["--unshare-user"]
            try:
                probe = subprocess.run(argv + ["true"], capture_output=True, timeout=30, env={})
                if probe.returncode == 0:
                    _LEVEL = "bubblewrap"
            except (OSError, subprocess.SubprocessError):
                pass
    return _LEVEL


# ------------------------------------------------------------------------------- the worker


def _slot_uid(slot: int, runner: bool = False, lane: int = 0) -> int:
    """An unprivileged uid for the programs of one slot's lane (as root): distinct per slot,
    per lane, per host process and for the slot's runner, so RLIMIT_NPROC of one program never
    counts another's processes and a forked program cannot signal the runner, a sibling in
    another lane, or the reverse."""
    return 1_000_000 + (os.getpid() % 100_000) * 1024 + (slot % 64) * 16 + (15 if runner else lane)


def _site_dirs() -> list[str]:
    """The caller's site-packages (the venv's, and any on sys.path), bound read-only inside."""
    candidates = [sysconfig.get_paths()[key] for key in ("purelib", "platlib")]
    candidates += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    dirs = []
    for path in map(os.path.realpath, candidates):
        if os.path.isdir(path) and path not in dirs:
            dirs.append(path)
    return dirs


def _flavour(source: str) -> str:
    return "sympy" if "sympy" in source else "light"


def _worker_argv(
    slot: int, level: str, flavour: str, tmp_root: str | None
) -> tuple[list[str], dict]:
    here = Path(__file__).parent
    source = (here / "vet.py").read_text() + "\n\n" + (here / "worker.py").read_text()
    as_root = os.geteuid() == 0
    config = {
        "uids": None,
        "lanes": 1,
        "slice_s": _SLICE_S,
        "runner_uid": None,
        "nproc": NPROC_LIMIT,
        "fsize": FSIZE_LIMIT,
        "site_dirs": [],
        "tmp_root": "/tmp",
        "pid_namespace": level == "bubblewrap",
        "preload": PRELOAD[flavour],
    }
    if level != "bubblewrap":
        config["tmp_root"] = tmp_root
        env = dict(_SANDBOX_ENV, HOME=f"{tmp_root}/work", TMPDIR=f"{tmp_root}/work")
        argv = [sys.executable, "-s", "-B", "-c", source, json.dumps(config)]
        return argv, env

    base = os.path.realpath(sys.base_prefix)
    exe = os.path.realpath(sys.executable)
    inner_exe = (
        "/opt/python/" + os.path.relpath(exe, base)
        if exe.startswith(base + os.sep)
        else f"/opt/python/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
    )
    argv = [_bwrap() or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
    argv += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    argv += ["--die-with-parent", "--new-session"]
    if as_root:
        # No user namespace: a namespace mapped to root would be exempt from RLIMIT_NPROC.
        argv += ["--cap-drop", "ALL"]
        for cap in _ROOT_CAPS:
            argv += ["--cap-add", cap]
        config["uids"] = [_slot_uid(slot, lane=lane) for lane in range(_LANES)]
        config["lanes"] = _LANES
        config["runner_uid"] = _slot_uid(slot, runner=True)
    else:
        argv += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    argv += ["--perms", "0755", "--dir", "/etc"]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    argv += ["--perms", "0755", "--dir", "/opt", "--ro-bind", base, "/opt/python"]
    for i, path in enumerate(_site_dirs()):
        if not path.startswith(base + os.sep):
            argv += ["--ro-bind", path, f"/opt/site{i}"]
            config["site_dirs"].append(f"/opt/site{i}")
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--tmpfs", "/tmp"]
    argv += ["--chdir", "/tmp", "--clearenv"]
    env = dict(_SANDBOX_ENV, LD_LIBRARY_PATH="/opt/python/lib")
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += [inner_exe, "-s", "-B", "-c", source, json.dumps(config)]
    return argv, {}


class _WorkerDied(Exception):
    pass


class _Worker:
    """Host side of one pool slot: a bwrap'd fork-server speaking length-prefixed JSON."""

    def __init__(self, slot: int, level: str, flavour: str) -> None:
        self.slot = slot
        self.level = level
        self.flavour = flavour
        self.proc: subprocess.Popen | None = None
        self.tmp_root: str | None = None
        self.errlog = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the slot)
        self.rbuf = bytearray()  # bytes from the worker not yet parsed
        self.wbuf = bytearray()  # bytes for the worker not yet written

    def start(self) -> None:
        if self.level != "bubblewrap" and self.tmp_root is None:
            self.tmp_root = tempfile.mkdtemp(prefix="mathforge-sandbox-")
        argv, env = _worker_argv(self.slot, self.level, self.flavour, self.tmp_root)
        self.errlog.seek(0)
        self.errlog.truncate()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errlog,
            env=env,
            close_fds=True,
            start_new_session=True,
            cwd="/",
        )
        assert self.proc.stdin is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.rbuf = bytearray()
        self.wbuf = bytearray()

    def wait_ready(self) -> None:
        try:
            self.exchange(time.monotonic() + _START_TIMEOUT_S)
        except _WorkerDied as err:
            self.stop()
            raise SandboxUnavailable(f"sandbox worker failed to start: {err}") from None

    def ensure_started(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
            self.wait_ready()

    def send(self, params: dict, items: list[tuple[int, str]]) -> None:
        """Queue programs for the worker (written by ``exchange``, never blocking)."""
        data = json.dumps({"params": params, "items": items}).encode()
        self.wbuf += len(data).to_bytes(4, "big") + data

    def exchange(self, deadline: float) -> object:
        """Write what is queued for the worker while waiting for its next message."""
        assert self.proc is not None and self.proc.stdin is not None
        assert self.proc.stdout is not None
        fd_in, fd_out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        while True:
            if len(self.rbuf) >= 4:
                size = int.from_bytes(self.rbuf[:4], "big")
                if len(self.rbuf) >= 4 + size:
                    msg = json.loads(self.rbuf[4 : 4 + size])
                    del self.rbuf[: 4 + size]
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _WorkerDied("no answer from the worker in time")
            writers = [fd_in] if self.wbuf else []
            ready_r, ready_w, _ = select.select([fd_out], writers, [], remaining)
            if ready_w:
                try:
                    n = os.write(fd_in, self.wbuf)
                except BlockingIOError:
                    n = 0
                except OSError as err:
                    raise _WorkerDied(str(err)) from None
                del self.wbuf[:n]
            if ready_r:
                chunk = os.read(fd_out, 1 << 20)
                if not chunk:
                    raise _WorkerDied(self.stderr_tail() or "worker exited")
                self.rbuf += chunk

    def stderr_tail(self) -> str:
        self.errlog.seek(0)
        return self.errlog.read()[-2000:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self.proc = None

    def close(self) -> None:
        self.stop()
        self.errlog.close()
        if self.tmp_root is not None:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
            self.tmp_root = None


# ------------------------------------------------------------------------------- the pool

_POOL: dict[tuple[str, str], list[_Worker]] = {}
_POOL_LOCK = threading.Lock()


def shutdown() -> None:
    """Stop every pooled worker (the next run_programs starts new ones)."""
    with _POOL_LOCK:
        for workers in _POOL.values():
            for worker in workers:
                worker.close()
        _POOL.clear()


def _ensure_workers(level: str, flavour: str, n: int) -> list[_Worker]:
    workers = _POOL.setdefault((level, flavour), [])
    offset = 0 if flavour == "light" else 32  # distinct uids for the two kinds of slot
    new = [_Worker(offset + slot, level, flavour) for slot in range(len(workers), n)]
    for worker in new:
        worker.start()
    try:
        for worker in new:
            worker.wait_ready()
    except SandboxUnavailable:
        for worker in new:
            worker.close()
        raise
    workers.extend(new)
    return workers[:n]


def _to_result(answer: dict, level: str) -> ExecResult:
    status = answer["status"]
    stderr = answer["stderr"]
    kind: str | None
    if status == "ok":
        kind = None
    elif status.startswith("signal:"):
        kind = "killed"
        stderr += f"\n[sandbox] the program was killed by {status.split(':', 1)[1]}\n"
    elif status in ERROR_KINDS:
        kind = status
    else:
        kind = "sandbox"
    return ExecResult(
        ok=kind is None,
        stdout=answer["stdout"],
        stderr=stderr,
        error_kind=kind,
        duration_s=float(answer["duration_s"]),
        isolation=level,
        cpu_s=float(answer.get("cpu_s", 0.0)),
    )


def _serve(
    worker: _Worker,
    params: dict,
    level: str,
    programs: list[str],
    take,
    results: list[ExecResult | None],
) -> None:
    """Keep up to ``_WINDOW`` programs from ``take(n)`` in flight in ``worker`` (it answers
    each as it finishes, so one that runs long holds a lane, not the queue behind it)."""
    outstanding: set[int] = set()
    while True:
        while len(outstanding) < _WINDOW:
            more = take(_WINDOW - len(outstanding))
            if not more:
                break
            try:
                worker.ensure_started()
            except SandboxUnavailable as err:
                for i in more:
                    results[i] = ExecResult(False, "", str(err), "sandbox", 0.0, level)
                continue
            worker.send(params, [(i, programs[i]) for i in more])
            outstanding.update(more)
        if not outstanding:
            return
        # The worker stops every program within hard_s of wall time (twice for one the runner
        # hands back to a forked child) and answers each as it ends; the host gives up on a
        # worker that answers none of them in that long.
        deadline = time.monotonic() + 2 * params["hard_s"] + _GRACE_S
        start = time.monotonic()
        try:
            answers = worker.exchange(deadline)
            if not isinstance(answers, list):
                raise _WorkerDied("malformed answer from the worker")
            for i, answer in answers:
                if i in outstanding:
                    outstanding.discard(i)
                    results[i] = _to_result(answer, level)
        except (_WorkerDied, ValueError, TypeError, KeyError) as err:
            duration = time.monotonic() - start
            alive = worker.proc is not None and worker.proc.poll() is None
            worker.stop()  # the next programs on this slot start a fresh worker
            left = sorted(outstanding)
            outstanding.clear()
            if len(left) > 1:  # find the culprit: each program again, alone
                for i in left:
                    _serve(worker, params, level, programs, _once([i]), results)
            elif alive:  # it hung past timeout + grace: the sandbox's fault
                msg = f"[sandbox] {err}"
                results[left[0]] = ExecResult(False, "", msg, "sandbox", duration, level)
            else:
                msg = "[sandbox] the worker process died while running this program\n"
                results[left[0]] = ExecResult(False, "", msg, "killed", duration, level)


def _once(indices: list[int]):
    pending = list(indices)

    def take(n: int) -> list[int]:
        out = pending[:n]
        del pending[:n]
        return out

    return take


def run_programs(
    programs: list[str],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    workers: int | None = None,
    output_limit: int = OUTPUT_LIMIT,
    allow_unsandboxed: bool = False,
    wall_timeout_s: float | None = None,
) -> list[ExecResult]:
    """Run each program (Python source that prints its answer) in the sandbox.

    Returns one ExecResult per program, in input order.  ``timeout_s`` is CPU time per
    program (its processes together); ``wall_timeout_s`` (default ``WALL_FACTOR`` *
    timeout_s) is how long it may sleep or block; see the module docstring.  ``memory_mb``
    is the address space a program may add to the preloaded worker's; ``workers`` defaults to
    the number of CPUs (never more than the programs).
    Raises SandboxUnavailable when bubblewrap cannot be used and ``allow_unsandboxed`` is False.
    """
    if wall_timeout_s is None:
        wall_timeout_s = WALL_FACTOR * timeout_s
    if timeout_s <= 0 or wall_timeout_s <= 0 or memory_mb <= 0 or output_limit <= 0:
        raise ValueError("timeout_s, wall_timeout_s, memory_mb and output_limit must be positive")
    level = isolation_level()
    if level != "bubblewrap" and not allow_unsandboxed:
        raise SandboxUnavailable(
            "bubblewrap is not available here (install the `bubblewrap` package: "
            "apt-get install bubblewrap), so model-written programs cannot be isolated; pass "
            "allow_unsandboxed=True to run them with rlimits only"
        )
    if not programs:
        return []
    n = max(1, min(workers or os.cpu_count() or 1, 32))
    queues: dict[str, list[int]] = {"light": [], "sympy": []}
    for i, source in enumerate(programs):
        queues[_flavour(source)].append(i)
    results: list[ExecResult | None] = [None] * len(programs)
    iters = {flavour: iter(indices) for flavour, indices in queues.items()}
    index_lock = threading.Lock()

    params = {
        "timeout_s": float(timeout_s),
        "wall_s": float(wall_timeout_s),
        "hard_s": _BACKSTOP_FACTOR * float(wall_timeout_s),
        "memory_mb": int(memory_mb),
        "output_limit": int(output_limit),
    }
    # Programs go to a worker in chunks (one message each way per chunk), small enough that
    # the workers stay balanced to the end of the batch.
    chunk = {f: max(1, min(_CHUNK, len(q) // (4 * n))) for f, q in queues.items()}

    def serve(worker: _Worker) -> None:
        def take(n: int) -> list[int]:
            with index_lock:
                return list(itertools.islice(iters[worker.flavour], min(n, chunk[worker.flavour])))

        _serve(worker, params, level, programs, take, results)

    with _POOL_LOCK:
        pool = [
            worker
            for flavour, indices in queues.items()
            if indices
            for worker in _ensure_workers(level, flavour, min(n, len(indices)))
        ]
        threads = [threading.Thread(target=serve, args=(w,), daemon=True) for w in pool]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [r for r in results if r is not None]


import atexit  # noqa: E402

atexit.register(shutdown)
