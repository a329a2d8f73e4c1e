"""The fork-server that runs INSIDE the sandbox (one per pool slot).

It is started by :mod:`mathforge.sandbox` as ``python -s -B -c <vet.py + this file> <config>``
inside bubblewrap, so it imports nothing from mathforge and reads nothing from the repository.
It preloads the modules programs use, then serves programs on its stdin/stdout, streaming:

    request  = 4-byte big-endian length + JSON {"params": {"timeout_s" (CPU s), "wall_s"
               (sleeping or blocked s), "hard_s" (wall s), "memory_mb", "output_limit"},
               "items": [[id, source]...]}
    response = 4-byte big-endian length + JSON [[id, {"status", "stdout", "stderr",
               "duration_s", "cpu_s"}]...]   (in the order programs finish; the host reorders)

One event loop (poll on the host pipe, the children's pipes and pidfds, the runners' pipes,
with a timer per program for its next look at its clocks, ``_Watch``) keeps several programs
in flight.  A vetted program (``is_vetted``) goes to the runner (``_Runner``: a long-lived
child at its own uid that execs programs one after another, see docs/sandbox.md); one that
runs past ``SLICE_S`` of wall time while others wait is *detached*: that runner goes on with
it alone in a lane (its own CPU timer still ends it at timeout_s) and a fresh runner takes the
queue.  When a runner says "rerun" (or
dies), and for every other program, the worker forks a child in a free lane (up to ``LANES``
at once: 8 as root, where each lane has its own unprivileged uid and work dir ``/tmp/work`` or
``/tmp/work-<n>``; 1 otherwise) that drops to the lane's uid, starts a new session, applies
rlimits, chdirs into its work dir and exec()s the program with stdout/stderr on pipes.  The
worker reads the pipes up to the output cap, enforces the time limits (``_Watch``: CPU time,
time sleeping or blocked, a wall-clock backstop), kills the child's session and then
every orphan of that lane's uid (re-parented to the worker, a child subreaper: read from
``/proc/<pid>/task/<pid>/children``, so nothing is scanned when there are none), and removes
what that uid left in ``/tmp``.  ``status`` is one of: ok, exception, syntax, memory, exit,
timeout, output_limit, sandbox, signal:<NAME>.
"""

# ruff: noqa: SIM105  (plain try/except: this file imports as little as it can)
# ruff: noqa: F821  (ALLOWED_IMPORTS, is_vetted: from vet.py, sent ahead of this file)

import json
import os
import signal
import sys

CONFIG = json.loads(sys.argv[1])
TMP = CONFIG["tmp_root"]  # "/tmp" in bubblewrap (a private tmpfs), else a host temp dir
WORK = TMP + "/work"
EXIT_EXCEPTION, EXIT_SYNTAX, EXIT_MEMORY, EXIT_SETUP = 101, 102, 103, 104
PRELOAD = CONFIG["preload"]


def _prctl(option, arg):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, arg, 0, 0, 0)


def _vm_size_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    return 0


def _setup():
    for path in CONFIG.get("site_dirs", []):
        import site

        site.addsitedir(path)
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    # Warm up what every child calls: numpy's first ``random.seed`` lazily builds its global
    # RandomState (~30 ms on the CI VM), which every forked child would otherwise pay again.
    import random

    random.seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    if "sympy" in sys.modules:
        # Likewise sympy's first solve fills caches and lazy state (~80 ms): paid once here,
        # not by every runner and child (a runner past its slice is replaced by a fresh one).
        # The same fixed warm-up in every worker: each program still starts from one state.
        try:
            sympy = sys.modules["sympy"]
            x = sympy.Symbol("x")
            sympy.solve(sympy.Eq(2 * x + 1, 3), x)
            sympy.factorint(12)
        except Exception:  # noqa: BLE001 - an optimisation only
            pass
    import gc

    gc.collect()
    gc.freeze()  # keep the preloaded objects out of the children's collections (fewer COW pages)
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of a program are re-parented to us
    _prctl(4, 0)  # PR_SET_DUMPABLE=0: a same-uid program cannot ptrace the worker
    # Protocol fds move away from 0/1/2; the children close everything above 2.
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return proto_in, proto_out


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _send(fd, obj):
    data = json.dumps(obj).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data) :]


LANES = CONFIG["lanes"]  # forked programs in flight at once (>1 only with a uid per lane)
UIDS = CONFIG["uids"]  # the unprivileged uid of each lane (as root), else None
SLICE_S = CONFIG["slice_s"]  # wall s: past this a runner program is detached from the queue
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid):
    """CPU seconds (user + system) used by process ``pid``, 0.0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _work_dir(lane):
    return WORK if lane == 0 else f"{WORK}-{lane}"


def _lane_uid(lane):
    return None if UIDS is None else UIDS[lane]


def _child(req, out_w, err_w, base_vm_kb, lane):
    import math
    import resource

    try:
        os.setsid()
        uid = _lane_uid(lane)
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        work = _work_dir(lane)
        os.chdir(work)
        if lane:
            os.environ["HOME"] = os.environ["TMPDIR"] = work
        # A backstop per process (each of its children too): the worker stops the program
        # when its session's CPU time passes timeout_s, to a clock tick.
        cpu = math.ceil(req["timeout_s"]) + 1
        limits = [
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, ((base_vm_kb * 1024) + req["memory_mb"] * 2**20,) * 2),
            (resource.RLIMIT_NPROC, (CONFIG["nproc"],) * 2),
            (resource.RLIMIT_FSIZE, (CONFIG["fsize"],) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
            (resource.RLIMIT_NOFILE, (256, 256)),
        ]
        for which, value in limits:
            resource.setrlimit(which, value)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 20)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001 - report and leave
        os.write(err_w, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(EXIT_SETUP)

    import builtins
    import io
    import traceback

    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace"
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.argv = ["<program>"]
    # Determinism: random reseeds from the OS after fork(), numpy's global state differs per
    # worker; every program starts from the same fixed seeds instead.
    import random

    random.seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    code = 0
    try:
        compiled = compile(req["source"], "<program>", "exec")
    except (SyntaxError, ValueError):
        traceback.print_exc(limit=0)
        code = EXIT_SYNTAX
    else:
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as exc:
            if exc.code not in (None, 0):
                if not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
                code = exc.code if isinstance(exc.code, int) and 0 < exc.code < 100 else 1
        except MemoryError:
            traceback.print_exc()
            code = EXIT_MEMORY
        except BaseException as exc:  # noqa: BLE001 - a program's error is a result
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
            code = EXIT_EXCEPTION
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - e.g. output over RLIMIT_FSIZE or closed pipe
            pass
    os._exit(code)


def _children(me):
    """Our direct children: the programs' orphans are re-parented to us (child subreaper)."""
    pids = set()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            pids.update(int(p) for p in f.read().split())
    except OSError:
        pass
    return pids


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def _sweep(keep, uid=None):
    """Kill every orphan a program left (re-parented to us) and theirs, until none is left.

    ``uid``: only processes of that uid (the program's lane, or the runner's) are its
    leftovers; a sibling lane's processes run at another uid and are never touched.  Without
    lanes (one forked program at a time) every child but ``keep`` is a leftover."""
    me = os.getpid()
    for _ in range(5000):
        strays = _children(me) - set(keep)
        if uid is not None and strays:
            strays = {pid for pid in strays if _uid_of(pid) == uid}
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in strays:  # blocking but bounded: each one has SIGKILL pending
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    sys.exit("could not kill the program's processes")


def _remove(path):
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _make_work(lane):
    work = _work_dir(lane)
    if not os.path.isdir(work):
        os.mkdir(work, 0o700)
        uid = _lane_uid(lane)
        if uid is not None:
            os.chown(work, uid, uid)


def _empty_tmp():
    """Remove everything in /tmp (and /dev/shm) but an empty, intact /tmp/work (one lane)."""
    dirs = [TMP, "/dev/shm"] if CONFIG["pid_namespace"] else [TMP]
    for d in dirs:
        for name in os.listdir(d):
            path = os.path.join(d, name)
            if path == WORK and not os.listdir(WORK) and _work_intact(0):
                continue  # the program left its cwd empty: keep it for the next one
            _remove(path)
    _make_work(0)


def _clean_lane(lane):
    """After the program of ``lane``: remove only what that program left.  With one lane,
    everything in /tmp; with lanes, its own work dir and whatever its uid owns in /tmp and
    /dev/shm (siblings run at other uids and cannot write there: /tmp is the worker's)."""
    if LANES == 1:
        _empty_tmp()
        return
    uid = _lane_uid(lane)
    work = _work_dir(lane)
    if lane or os.listdir(work) or not _work_intact(lane):
        _remove(work)  # lanes past 0 exist only while one of their programs runs
    for d in [TMP, "/dev/shm"] if CONFIG["pid_namespace"] else [TMP]:
        for name in os.listdir(d):
            path = os.path.join(d, name)
            try:
                if os.lstat(path).st_uid == uid:
                    _remove(path)
            except OSError:
                pass
    _make_work(0)


def _work_intact(lane):
    st = os.lstat(_work_dir(lane))
    uid = os.getuid() if _lane_uid(lane) is None else _lane_uid(lane)
    return st.st_uid == uid and (st.st_mode & 0o7777) == 0o700


def _sched_s(pid):
    """(seconds on a CPU, seconds waiting for one) of ``pid``'s main thread, or None where the
    kernel has no schedstat."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            fields = f.read().split()
        return int(fields[0]) / 1e9, int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _session_cpu_s(sid):
    """CPU seconds (user + system) of every live process in session ``sid``, plus what they
    have reaped of their children.  Inside bubblewrap /proc lists only the sandbox's own
    processes, so the scan is short."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == sid:
                total += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / _TICK


class _Watch:
    """The clocks of one program in flight, and its priority.

    The verdict (``poll``): "cpu" once it has used more than ``timeout_s`` of CPU time (its
    session's processes for a forked program, the runner process for a vetted one);
    "blocked" once it has spent ``wall_s`` neither on a CPU nor waiting for one (sleeping or
    blocked; from schedstat, else wall minus CPU time); "starved" past ``hard_s`` of wall
    time whatever it did (the machine gave it no CPU: the sandbox's fault, not the
    program's).  Time waiting for a CPU counts against none of them, so neither the batch nor
    the machine's load changes the verdict.

    Every program runs at the same priority.  Nicing long programs (as this worker once did,
    to keep wall-clock deadlines for quick ones) no longer buys anything: the CPU work of a
    batch is the same in any order.  And a niced program loses its share to every other
    process on the machine, not just to the quick programs: under load it starved past the
    backstop."""

    def __init__(self, pid, req, start, session, cpu_slack=0.0):
        self.pid, self.req, self.start = pid, req, start
        self.session = session  # sum its session's CPU (a forked program) or just its own
        self.cpu_limit = req["timeout_s"] + cpu_slack
        # A forked child starts from zero.  A runner's clocks before this program are read at
        # the first look (after SLICE_S), not here: that costs ~30 us on every quick program,
        # and the runner's own CPU timer is what ends its program (the worker's is a backstop).
        self.cpu0 = 0.0 if session else None
        self.sched0 = (0.0, 0.0) if session else None
        self.t0 = start  # when cpu0 and sched0 were read
        self.cpu = 0.0
        self.check = start + min(SLICE_S, self.cpu_limit)  # CPU time <= wall time: not sooner

    def poll(self, now):
        """Look at the clocks: None, or why the program must stop ("cpu", "blocked",
        "starved"); also sets when to look next (``check``)."""
        cpu = _session_cpu_s(self.pid) if self.session else _cpu_s(self.pid)
        sched = _sched_s(self.pid)
        if self.cpu0 is None:
            self.cpu0, self.sched0, self.t0 = cpu, sched, now
        self.cpu = cpu - self.cpu0
        wall = now - self.start
        if sched is not None and self.sched0 is not None:
            busy = sched[0] - self.sched0[0] + sched[1] - self.sched0[1]
        else:
            busy = self.cpu
        blocked = max(0.0, now - self.t0 - busy)
        if self.cpu >= self.cpu_limit:
            return "cpu"
        if blocked >= self.req["wall_s"]:
            return "blocked"
        if wall >= self.req["hard_s"]:
            return "starved"
        left = [self.cpu_limit - self.cpu, self.req["wall_s"] - blocked, self.req["hard_s"] - wall]
        # Half of what is left: CPU time grows at most as fast as wall time per thread, so
        # the limit is overshot by a clock tick at most (two threads: one more look).
        self.check = now + max(0.005, min(left) / 2)
        return None

    def note(self, verdict):
        """The line a killed program's stderr gets: which limit stopped it."""
        req = self.req
        if verdict == "cpu":
            why = (
                f"used {self.cpu:.2f} s of CPU time (the limit, timeout_s, is {req['timeout_s']} s)"
            )
        elif verdict == "blocked":
            why = (
                f"spent {req['wall_s']} s sleeping or blocked (the wall-clock guard; "
                f"{self.cpu:.2f} s of CPU time used)"
            )
        else:
            why = (
                f"got only {self.cpu:.2f} s of CPU time in {req['hard_s']} s of wall time: "
                "the machine is overloaded (not the program's fault)"
            )
        return f"\n[sandbox] killed: {why}\n"


class _Job:
    """One forked program in flight in a lane."""

    def __init__(self, job_id, req, lane, base_vm_kb):
        import time

        _make_work(lane)
        self.id = job_id
        self.req = req
        self.lane = lane
        self.exited = False
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(err_r)
            _child(req, out_w, err_w, base_vm_kb, lane)
        os.close(out_w)
        os.close(err_w)
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.out_r, self.err_r = out_r, err_r
        self.bufs = {out_r: bytearray(), err_r: bytearray()}
        self.open = {out_r, err_r}
        self.watch = _Watch(pid, req, self.start, session=True)

    def fds(self):
        return (self.out_r, self.err_r, self.pidfd)

    def size(self):
        return len(self.bufs[self.out_r]) + len(self.bufs[self.err_r])

    def read(self, fd, poller):
        data = os.read(fd, 65536)
        if data:
            self.bufs[fd] += data
        else:
            poller.unregister(fd)
            self.open.discard(fd)

    def drain(self):
        """Read what the program wrote before it exited (a straggler may hold the pipes)."""
        cap = self.req["output_limit"]
        for fd in list(self.open):
            os.set_blocking(fd, False)
            try:
                while len(self.bufs[fd]) <= cap:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    self.bufs[fd] += data
            except BlockingIOError:
                pass

    def finish(self, status, keep, note=""):
        import time

        duration = time.monotonic() - self.start
        for kill in (os.killpg, os.kill):  # its session (before the pid can be reused), itself
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _, wstatus, usage = os.wait4(self.pid, 0)
        # its own CPU time and its reaped children's (the same clock as RLIMIT_CPU)
        cpu = max(usage.ru_utime + usage.ru_stime, self.watch.cpu)
        os.close(self.pidfd)
        _sweep(keep, _lane_uid(self.lane))
        _clean_lane(self.lane)
        for fd in (self.out_r, self.err_r):
            os.close(fd)
        req = self.req
        if status is None:
            if os.WIFSIGNALED(wstatus):
                sig = os.WTERMSIG(wstatus)
                # SIGXCPU: past RLIMIT_CPU's soft limit; SIGKILL with that much CPU: its hard one
                if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= req["timeout_s"]):
                    status = "timeout"
                    note = f"\n[sandbox] killed: used {cpu:.2f} s of CPU time (RLIMIT_CPU)\n"
                elif sig == signal.SIGXFSZ:
                    status = "output_limit"
                else:
                    status = "signal:" + signal.Signals(sig).name
            else:
                code = os.WEXITSTATUS(wstatus)
                status = {
                    0: "ok",
                    EXIT_EXCEPTION: "exception",
                    EXIT_SYNTAX: "syntax",
                    EXIT_MEMORY: "memory",
                    EXIT_SETUP: "sandbox",
                }.get(code, "exit")
        cap = req["output_limit"]
        return {
            "status": status,
            "stdout": bytes(self.bufs[self.out_r][:cap]).decode("utf-8", "backslashreplace"),
            "stderr": bytes(self.bufs[self.err_r][:cap]).decode("utf-8", "backslashreplace") + note,
            "duration_s": duration,
            "cpu_s": cpu,
        }


# ------------------------------------------------------------------------------- the runner
# A long-lived child that runs vetted programs (``is_vetted``, from vet.py, sent ahead of this
# file) one after another in fresh globals, after resetting the shared state they can reach.


class _Tainted(BaseException):
    pass


class _Capped:
    """A text sink for sys.stdout/stderr that stops the program past the output cap."""

    def __init__(self, cap):
        self.parts = []
        self.size = 0
        self.cap = cap
        self.over = False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.size += len(text)
        if self.size > self.cap:
            self.over = True
            raise _Tainted("output over the cap")
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def getvalue(self):
        return "".join(self.parts)


def _runner_main(cmd_r, res_w, memory_mb, base_vm_kb):
    import builtins
    import resource
    import time
    import traceback

    os.setsid()
    if CONFIG["runner_uid"] is not None:
        os.setgroups([])
        os.setgid(CONFIG["runner_uid"])
        os.setuid(CONFIG["runner_uid"])
    os.chdir("/")
    limits = [
        (resource.RLIMIT_AS, ((base_vm_kb * 1024) + memory_mb * 2**20,) * 2),
        (resource.RLIMIT_NPROC, (CONFIG["nproc"],) * 2),
        (resource.RLIMIT_FSIZE, (0, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (256, 256)),
    ]
    for which, value in limits:
        resource.setrlimit(which, value)
    for fd in range(3):
        os.dup2(os.open("/dev/null", os.O_RDWR), fd)
    keep = sorted((cmd_r, res_w))
    os.closerange(3, keep[0])
    os.closerange(keep[0] + 1, keep[1])
    os.closerange(keep[1] + 1, 1 << 20)

    cpu_end = [0.0]  # process_time() at which the current program's CPU time is up

    def on_alarm(signum, frame):
        # ITIMER_PROF counts CPU time sampled at clock ticks, which can run a few % ahead of
        # the process's exact CPU time (process_time) when CPUs are shared: check that clock
        # and wait for what is really left.
        left = cpu_end[0] - time.process_time()
        if left > 0:
            signal.setitimer(signal.ITIMER_PROF, max(left, 0.001))
            return
        raise _Tainted("timeout")

    # The time limit is CPU time: ITIMER_PROF counts this process's user + system time.
    signal.signal(signal.SIGPROF, on_alarm)
    import decimal
    import random

    np = sys.modules.get("numpy")
    watched = [builtins] + [sys.modules[m] for m in ALLOWED_IMPORTS if m in sys.modules]
    watched += [sys.modules[m] for m in ("random", "decimal", "fractions") if m in sys.modules]
    snapshot = [(vars(m), dict(vars(m))) for m in watched]
    ctx_fields = ("prec", "rounding", "Emin", "Emax", "capitals", "clamp")
    default_vals = [getattr(decimal.DefaultContext, f) for f in ctx_fields]
    np_print = np.get_printoptions() if np else None
    np_err = np.geterr() if np else None
    rec_limit = sys.getrecursionlimit()
    int_digits = sys.get_int_max_str_digits()
    sympy_params = None
    if "sympy" in sys.modules:
        from sympy.core.parameters import global_parameters

        sympy_params = (global_parameters, dict(vars(global_parameters)))

    def intact():
        for live, saved in snapshot:
            if len(live) != len(saved):
                # A lazily imported submodule (sympy.combinatorics...) is the only addition
                # allowed; it joins the snapshot.
                for key in set(live) - set(saved):
                    value = live[key]
                    if type(value) is not type(sys) or not value.__name__.startswith(
                        live.get("__name__", "") + "."
                    ):
                        return False
                    saved[key] = value
                if len(live) != len(saved):
                    return False
            for key, value in saved.items():
                if live.get(key) is not value:
                    return False
        try:
            if os.waitpid(-1, os.WNOHANG) is not None:
                return False  # it has children
        except ChildProcessError:
            pass
        return len(os.listdir("/proc/self/task")) == 1  # and no threads

    def run(req):
        for field, value in zip(ctx_fields, default_vals, strict=True):
            setattr(decimal.DefaultContext, field, value)
        decimal.setcontext(decimal.Context())
        random.seed(0)
        if np is not None:
            np.random.seed(0)
            np.set_printoptions(**np_print)
            np.seterr(**np_err)
        sys.setrecursionlimit(rec_limit)
        sys.set_int_max_str_digits(int_digits)
        if sympy_params is not None:
            vars(sympy_params[0]).update(sympy_params[1])
        out, err = _Capped(req["output_limit"]), _Capped(req["output_limit"])
        sys.stdout, sys.stderr = out, err
        status = "ok"
        start = time.monotonic()
        cpu0 = time.process_time()
        cpu_end[0] = cpu0 + req["timeout_s"]
        signal.setitimer(signal.ITIMER_PROF, req["timeout_s"])
        try:
            try:
                exec(
                    compile(req["source"], "<program>", "exec"),
                    {"__name__": "__main__", "__builtins__": builtins},
                )
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    if not isinstance(exc.code, int):
                        print(exc.code, file=err)
                    status = "exit"
            except _Tainted as exc:
                status = "timeout" if str(exc) == "timeout" and not out.over else "rerun"
            except (MemoryError, RecursionError):
                status = "rerun"  # the limits differ from a fresh child's: let one decide
            except BaseException as exc:  # noqa: BLE001 - a program's error is a result
                traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next, file=err)
                status = "exception"
            signal.setitimer(signal.ITIMER_PROF, 0)
        except BaseException:  # noqa: BLE001 - the alarm or the cap fired in our own code
            signal.setitimer(signal.ITIMER_PROF, 0)
            status = "rerun"
        duration = time.monotonic() - start
        cpu = time.process_time() - cpu0
        sys.stdout = sys.stderr = None
        if out.over or err.over:
            status = "rerun"
        ok = status in ("ok", "exception", "exit") and intact()
        if status == "timeout":
            limit = req["timeout_s"]
            err.parts.append(
                f"\n[sandbox] killed: used {cpu:.2f} s of CPU time (the limit, timeout_s, is "
                f"{limit} s)\n"
            )
        return {
            "status": status if ok or status == "timeout" else "rerun",
            "stdout": out.getvalue(),
            "stderr": err.getvalue(),
            "duration_s": duration,
            "cpu_s": cpu,
            "replace": not ok,
        }

    while True:
        try:
            size = int.from_bytes(_read_exact(cmd_r, 4), "big")
            req = json.loads(_read_exact(cmd_r, size))
        except EOFError:
            os._exit(0)
        answer = run(req)
        _send(res_w, answer)
        if answer["replace"]:
            os._exit(0)


class _Runner:
    """Worker side of the runner: starts it, sends one program, waits with a backstop."""

    def __init__(self):
        self.pid = None
        self.memory_mb = None

    def keep(self):
        return () if self.pid is None else (self.pid,)

    def start(self, memory_mb, base_vm_kb):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(self.cmd_w)
                os.close(self.res_r)
                _runner_main(cmd_r, res_w, memory_mb, base_vm_kb)
            finally:
                os._exit(EXIT_SETUP)
        os.close(cmd_r)
        os.close(res_w)
        self.pid = pid
        self.memory_mb = memory_mb

    def stop(self, keep=()):
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.cmd_w)
        os.close(self.res_r)
        self.pid = None
        # whatever it left behind (it may not fork: this is a backstop)
        _sweep(keep, CONFIG["runner_uid"] if LANES > 1 else None)

    def submit(self, req, base_vm_kb, keep):
        """Hand one program to the runner; False when it could not take it."""
        if self.pid is not None and self.memory_mb != req["memory_mb"]:
            self.stop(keep)
        if self.pid is None:
            self.start(req["memory_mb"], base_vm_kb)
        try:
            _send(self.cmd_w, req)
        except OSError:
            self.stop(keep)
            return False
        return True

    def collect(self, req, keep):
        """The runner's answer (its pipe is readable), or None when the program must go to a
        fresh child."""
        try:
            size = int.from_bytes(_read_exact(self.res_r, 4), "big")
            if size > 8 * req["output_limit"] + 4096:
                raise EOFError
            answer = json.loads(_read_exact(self.res_r, size))
            if answer["replace"]:
                self.stop(keep)
        except (EOFError, OSError, ValueError, KeyError):
            self.stop(keep)
            return None
        if answer["status"] == "rerun":
            return None
        return answer


class _Busy:
    """A runner with a program in flight: the queue's ``runner`` (``lane`` None) or one
    detached from the queue when its program ran past the slice (it holds a lane until it
    answers, then is stopped)."""

    def __init__(self, runner, job_id, req, start):
        self.runner, self.id, self.req, self.start = runner, job_id, req, start
        self.lane = None
        # The runner's own ITIMER_PROF ends the program at timeout_s of CPU; the worker stops
        # the runner a little later if it did not (a long call into C), as a backstop.
        self.watch = _Watch(runner.pid, req, start, session=False, cpu_slack=0.25)


FLUSH = 8  # answers sent back together (or sooner when the worker runs out of queued work)
FLUSH_S = 0.01


def main():
    import heapq
    import math
    import select
    import time
    from collections import deque

    proto_in, proto_out = _setup()
    _empty_tmp()
    base_vm_kb = _vm_size_kb()
    _send(proto_out, {"ready": True, "base_vm_kb": base_vm_kb})
    runner = _Runner()  # takes the vetted programs, one after another
    runner_q, fork_q = deque(), deque()  # (id, req), in arrival order
    free = list(range(LANES))  # a heap: the lowest free lane first
    jobs = {}  # pid -> _Job
    by_fd = {}  # fd -> _Job
    busy = {}  # res_r -> _Busy
    poller = select.poll()
    poller.register(proto_in, select.POLLIN)
    out = []  # [id, answer] not yet sent
    out_since = 0.0

    def keep():
        return set(jobs) | {b.runner.pid for b in busy.values()} | set(runner.keep())

    def done(job_id, answer):
        nonlocal out_since
        if not out:
            out_since = time.monotonic()
        out.append([job_id, answer])

    def finish(job, status, note=""):
        del jobs[job.pid]
        for fd in job.fds():
            by_fd.pop(fd, None)
            if fd in job.open or fd == job.pidfd:
                poller.unregister(fd)
        done(job.id, job.finish(status, keep(), note))
        heapq.heappush(free, job.lane)

    def release(fd, stop):
        """Forget a busy runner's program; stop the runner if asked (a detached one always:
        it served its one program) and free its lane."""
        poller.unregister(fd)
        b = busy.pop(fd)
        if stop or b.lane is not None:
            b.runner.stop(keep())
        if b.lane is not None:
            heapq.heappush(free, b.lane)
        return b

    while True:
        if runner_q and not any(b.runner is runner for b in busy.values()):
            job_id, req = runner_q.popleft()
            if runner.submit(req, base_vm_kb, keep()):
                busy[runner.res_r] = _Busy(runner, job_id, req, time.monotonic())
                poller.register(runner.res_r, select.POLLIN)
            else:
                fork_q.appendleft((job_id, req))
        while fork_q and free:
            job_id, req = fork_q.popleft()
            job = _Job(job_id, req, heapq.heappop(free), base_vm_kb)
            jobs[job.pid] = job
            for fd in job.fds():
                by_fd[fd] = job
                poller.register(fd, select.POLLIN)
        now = time.monotonic()
        if out and (len(out) >= FLUSH or not (runner_q or fork_q) or now - out_since > FLUSH_S):
            _send(proto_out, out)
            out = []
        timers = [job.watch.check for job in jobs.values()]
        for b in busy.values():
            timers.append(b.watch.check)
            if b.lane is None and free and runner_q:
                timers.append(b.start + SLICE_S)  # when to detach it
        if out:
            timers.append(out_since + FLUSH_S)
        wait_ms = -1 if not timers else max(0, math.ceil((min(timers) - now) * 1000))
        for fd, _ev in poller.poll(wait_ms):
            if fd == proto_in:
                try:
                    size = int.from_bytes(_read_exact(proto_in, 4), "big")
                    batch = json.loads(_read_exact(proto_in, size))
                except EOFError:
                    return
                for job_id, source in batch["items"]:
                    req = dict(batch["params"], source=source)
                    (runner_q if is_vetted(source) else fork_q).append((job_id, req))
            elif fd in busy:
                b = busy[fd]
                answer = b.runner.collect(b.req, keep() - {b.runner.pid})
                release(fd, stop=False)
                if answer is None:
                    fork_q.appendleft((b.id, b.req))
                else:
                    done(b.id, answer)
            else:
                job = by_fd.get(fd)
                if job is None:
                    continue
                if fd == job.pidfd:
                    job.exited = True
                elif fd in job.open:
                    job.read(fd, poller)
        now = time.monotonic()
        for job in list(jobs.values()):
            cap = job.req["output_limit"]
            if job.size() > cap:
                finish(job, "output_limit")
            elif job.exited:
                job.drain()
                finish(job, "output_limit" if job.size() > cap else None)
            elif now >= job.watch.check:
                verdict = job.watch.poll(now)
                if verdict is not None:
                    status = "sandbox" if verdict == "starved" else "timeout"
                    finish(job, status, job.watch.note(verdict))
        for fd, b in list(busy.items()):
            if now >= b.watch.check:
                verdict = b.watch.poll(now)
                if verdict is not None:  # the runner cannot end it: stop the runner
                    release(fd, stop=True)
                    done(
                        b.id,
                        {
                            "status": "sandbox" if verdict == "starved" else "timeout",
                            "stdout": "",
                            "stderr": b.watch.note(verdict),
                            "duration_s": now - b.start,
                            "cpu_s": b.watch.cpu,
                        },
                    )
                    continue
            if b.lane is None and free and runner_q and now - b.start >= SLICE_S:
                # Long for the runner: it goes on with this program alone, in a lane (its own
                # CPU timer still ends it at timeout_s), and a fresh runner takes the quick
                # programs queued behind it.
                b.lane = heapq.heappop(free)
                runner = _Runner()


if __name__ == "__main__":
    main()
