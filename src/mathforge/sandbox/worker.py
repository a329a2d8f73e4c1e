"""The fork-server that runs INSIDE the sandbox (one per pool slot).

It is started by :mod:`mathforge.sandbox` as ``python -s -B -c <vet.py + this file> <config>``
inside bubblewrap, so it imports nothing from mathforge and reads nothing from the repository.
It preloads the modules programs use, then serves programs on its stdin/stdout, streaming:

    request  = 4-byte big-endian length + JSON {"params": {"timeout_s", "memory_mb",
               "output_limit"}, "items": [[id, source]...]}
    response = 4-byte big-endian length + JSON [[id, {"status", "stdout", "stderr",
               "duration_s"}]...]   (answers in the order programs finish; the host reorders)

One event loop (poll on the host pipe, the children's pipes and pidfds, the runners' pipes,
with per-program wall-clock deadlines) keeps several programs in flight.  A vetted program
(``is_vetted``) goes to the runner (``_Runner``: a long-lived child at its own uid that execs
programs one after another, see the package docstring); one that runs past ``SLICE_S`` while
others wait is *detached*: that runner goes on with it alone in a lane (niced, its own alarm
still ends it at timeout_s) and a fresh runner takes the queue.  When a runner says "rerun" (or
dies), and for every other program, the worker forks a child in a free lane (up to ``LANES``
at once: 8 as root, where each lane has its own unprivileged uid and work dir ``/tmp/work`` or
``/tmp/work-<n>``; 1 otherwise) that drops to the lane's uid, starts a new session, applies
rlimits, chdirs into its work dir and exec()s the program with stdout/stderr on pipes.  The
worker reads the pipes up to the output cap, enforces the timeout, lowers the priority of
children and detached runners as they use CPU time (``NICE_STEPS``; also their session's
autogroup, else nice would not count across sessions), kills the child's session and then
every orphan of that lane's uid (re-parented to the worker, a child subreaper: read from
``/proc/<pid>/task/<pid>/children``, so nothing is scanned when there are none), and removes
what that uid left in ``/tmp``.  ``status`` is one of: ok, exception, syntax, memory, exit,
timeout, output_limit, signal:<NAME>.
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
SLICE_S = CONFIG["slice_s"]  # past this: a runner program is detached, a child niced
# A forked program's nice value by the CPU time it has used (a multi-level feedback queue):
# quick programs keep the CPUs, long ones share what is left, all at the same priority.
NICE_STEPS = ((SLICE_S, 5), (2 * SLICE_S, 10), (4 * SLICE_S, 19))
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
        cpu = int(req["timeout_s"]) + 1
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


def _set_autogroup_nice(sid, nice):
    """The nice value of session ``sid``'s autogroup (no CAP_SYS_NICE needed for >= 0)."""
    try:
        with open(f"/proc/{sid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass


def _set_nice(pgid, uid, nice):
    """Lower the priority of a program's process group (its session: ``pgid`` is also its
    session id).  The kernel may group the CPU share by session (autogroup), so the session's
    autogroup gets the nice value too, else nice would not count against other sessions.
    As root the worker takes the program's uid as its effective uid for setpriority (it has no
    CAP_SYS_NICE) and takes uid 0 back at once."""
    _set_autogroup_nice(pgid, nice)
    try:
        if uid is not None:
            os.seteuid(uid)
        os.setpriority(os.PRIO_PGRP, pgid, nice)
    except OSError:
        pass
    finally:
        if uid is not None:
            os.seteuid(0)


class _Priority:
    """Lowers a program's priority step by step as it uses CPU time (``NICE_STEPS``)."""

    def __init__(self, pid, uid, start):
        self.pid, self.uid = pid, uid
        self.cpu0 = _cpu_s(pid)  # a runner's CPU time before this program
        self.step = 0  # index into NICE_STEPS of the next priority drop
        self.check = start + NICE_STEPS[0][0]  # CPU time <= wall time: not sooner

    def update(self, now):
        if self.step >= len(NICE_STEPS) or now < self.check:
            return
        cpu = _cpu_s(self.pid) - self.cpu0
        threshold, nice = NICE_STEPS[self.step]
        if cpu < threshold:
            self.check = now + max(threshold - cpu, 0.01)
            return
        self.step += 1
        if self.step < len(NICE_STEPS):
            self.check = now + NICE_STEPS[self.step][0] - cpu
        _set_nice(self.pid, self.uid, nice)

    def timer(self):
        return self.check if self.step < len(NICE_STEPS) else None


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
        self.deadline = self.start + req["timeout_s"]
        self.priority = _Priority(pid, _lane_uid(lane), self.start)

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

    def finish(self, status, keep):
        import time

        duration = time.monotonic() - self.start
        for kill in (os.killpg, os.kill):  # its session (before the pid can be reused), itself
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _, wstatus = os.waitpid(self.pid, 0)
        os.close(self.pidfd)
        _sweep(keep, _lane_uid(self.lane))
        _clean_lane(self.lane)
        for fd in (self.out_r, self.err_r):
            os.close(fd)
        req = self.req
        if status is None:
            if os.WIFSIGNALED(wstatus):
                sig = os.WTERMSIG(wstatus)
                if sig == signal.SIGXCPU or (
                    sig == signal.SIGKILL and duration >= req["timeout_s"] * 0.9
                ):
                    status = "timeout"
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
            "stderr": bytes(self.bufs[self.err_r][:cap]).decode("utf-8", "backslashreplace"),
            "duration_s": duration,
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

    def on_alarm(signum, frame):
        raise _Tainted("timeout")

    signal.signal(signal.SIGALRM, on_alarm)
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
        signal.setitimer(signal.ITIMER_REAL, req["timeout_s"])
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
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException:  # noqa: BLE001 - the alarm or the cap fired in our own code
            signal.setitimer(signal.ITIMER_REAL, 0)
            status = "rerun"
        duration = time.monotonic() - start
        sys.stdout = sys.stderr = None
        if out.over or err.over:
            status = "rerun"
        ok = status in ("ok", "exception", "exit") and intact()
        return {
            "status": status if ok or status == "timeout" else "rerun",
            "stdout": out.getvalue(),
            "stderr": err.getvalue(),
            "duration_s": duration,
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
    # Runners with a program in flight: res_r -> [runner, id, req, start, lane or None,
    # priority (a _Priority once detached; None once its alarm is due)].  The
    # one with lane None is ``runner``; the others were detached from the queue when their
    # program ran past the slice: each holds a lane until it answers, then is stopped.
    busy = {}
    poller = select.poll()
    poller.register(proto_in, select.POLLIN)
    out = []  # [id, answer] not yet sent
    out_since = 0.0

    def keep():
        return set(jobs) | {entry[0].pid for entry in busy.values()} | set(runner.keep())

    def done(job_id, answer):
        nonlocal out_since
        if not out:
            out_since = time.monotonic()
        out.append([job_id, answer])

    def finish(job, status):
        del jobs[job.pid]
        for fd in job.fds():
            by_fd.pop(fd, None)
            if fd in job.open or fd == job.pidfd:
                poller.unregister(fd)
        done(job.id, job.finish(status, keep()))
        heapq.heappush(free, job.lane)

    def release(fd, stop):
        """Forget a busy runner's program; stop the runner if asked (a detached one always:
        it served its one program) and free its lane."""
        poller.unregister(fd)
        entry = busy.pop(fd)
        if stop or entry[4] is not None:
            entry[0].stop(keep())
        if entry[4] is not None:
            heapq.heappush(free, entry[4])
        return entry

    while True:
        if runner_q and not any(entry[0] is runner for entry in busy.values()):
            job_id, req = runner_q.popleft()
            if runner.submit(req, base_vm_kb, keep()):
                runner.cpu0 = _cpu_s(runner.pid)
                busy[runner.res_r] = [runner, job_id, req, time.monotonic(), None, 0]
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
        timers = [job.deadline for job in jobs.values()]
        timers += [job.priority.timer() or job.deadline for job in jobs.values()]
        for entry in busy.values():
            timers.append(entry[3] + entry[2]["timeout_s"] + 1.0)  # the backstop
            if entry[4] is None and free and runner_q:
                timers.append(entry[3] + SLICE_S)  # when to detach it
            elif entry[4] is not None and entry[5] is not None:
                timers.append(entry[5].timer() or entry[3] + entry[2]["timeout_s"])
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
                entry = busy[fd]
                answer = entry[0].collect(entry[2], keep() - {entry[0].pid})
                release(fd, stop=False)
                if answer is None:
                    fork_q.appendleft((entry[1], entry[2]))
                else:
                    done(entry[1], answer)
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
            elif now >= job.deadline:
                finish(job, "timeout")
            else:
                job.priority.update(now)
        for fd, entry in list(busy.items()):
            r, job_id, req, start, lane, stage = entry
            if now - start >= req["timeout_s"] + 1.0:  # it ignored its alarm: the backstop
                release(fd, stop=True)
                answer = {"status": "timeout", "stdout": "", "stderr": ""}
                done(job_id, dict(answer, duration_s=now - start))
            elif lane is None and free and runner_q and now - start >= SLICE_S:
                # Long for the runner: it goes on with this program alone, in a lane, niced
                # (its own alarm still ends it at timeout_s), and a fresh runner takes the
                # quick programs queued behind it.
                entry[4] = heapq.heappop(free)
                entry[5] = _Priority(r.pid, CONFIG["runner_uid"], start)
                entry[5].cpu0 = r.cpu0
                _set_nice(r.pid, CONFIG["runner_uid"], NICE_STEPS[1][1])
                runner = _Runner()
            elif lane is not None and stage is not None:
                if now - start < req["timeout_s"]:
                    stage.update(now)
                else:
                    # Its alarm is due: give its session its CPU share back so that it ends
                    # now (a niced session would handle its alarm late, holding its lane).
                    entry[5] = None
                    _set_autogroup_nice(r.pid, 0)


if __name__ == "__main__":
    main()
