"""The fork-server that runs INSIDE the sandbox (one per pool slot).

It is started by :mod:`mathforge.sandbox` as ``python -s -B -c <vet.py + this file> <config>``
inside bubblewrap, so it imports nothing from mathforge and reads nothing from the repository.
It preloads the modules programs use, then serves batches on its stdin/stdout:

    request  = 4-byte big-endian length + JSON {"params": {"timeout_s", "memory_mb",
               "output_limit"}, "sources": [...]}
    response = 4-byte big-endian length + JSON [{"status", "stdout", "stderr", "duration_s"}...]

A vetted program (``is_vetted``) goes to the runner (``_Runner``: a long-lived child at its own
uid that execs programs one after another, see the package docstring); when the runner says
"rerun" (or dies), and for every other program, the worker forks a child that drops to the
slot's unprivileged uid (when started as root), starts a new session, applies rlimits, chdirs
into ``/tmp/work`` and exec()s the program with stdout/stderr on pipes.  The parent reads the
pipes up to the output cap, enforces the wall-clock timeout (poll on the pipes and a pidfd, no
sleeps), kills the child's session and any orphan it left (re-parented to the worker, a child
subreaper: read from ``/proc/<pid>/task/<pid>/children``, so nothing is scanned when there are
none), and empties ``/tmp`` only when the program left something there.  ``status`` is one of:
ok, exception, syntax, memory, exit, timeout, output_limit, signal:<NAME>.
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


def _child(req, out_w, err_w, base_vm_kb):
    import resource

    try:
        os.setsid()
        if CONFIG["uid"] is not None:
            os.setgroups([])
            os.setgid(CONFIG["gid"])
            os.setuid(CONFIG["uid"])
        os.chdir(WORK)
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


def _clean_up(pgid, keep=()):
    """Kill the program's session, then every orphan it left (re-parented to us) and theirs."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    me = os.getpid()
    for _ in range(5000):
        strays = _children(me) - set(keep)
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


def _empty_tmp():
    """Remove everything a program left in /tmp (and /dev/shm); cheap when it left nothing."""
    import shutil

    dirs = [TMP, "/dev/shm"] if CONFIG["pid_namespace"] else [TMP]
    for d in dirs:
        for name in os.listdir(d):
            path = os.path.join(d, name)
            if path == WORK and not os.listdir(WORK) and _work_intact():
                continue  # the program left its cwd empty: keep it for the next one
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    if not os.path.isdir(WORK):
        os.mkdir(WORK, 0o700)
        if CONFIG["uid"] is not None:
            os.chown(WORK, CONFIG["uid"], CONFIG["gid"])


def _work_intact():
    st = os.lstat(WORK)
    uid = os.getuid() if CONFIG["uid"] is None else CONFIG["uid"]
    return st.st_uid == uid and (st.st_mode & 0o7777) == 0o700


def _run(req, base_vm_kb):
    import select
    import time

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        _child(req, out_w, err_w, base_vm_kb)
    os.close(out_w)
    os.close(err_w)
    pidfd = os.pidfd_open(pid)
    bufs = {out_r: bytearray(), err_r: bytearray()}
    cap = req["output_limit"]
    deadline = start + req["timeout_s"]
    poller = select.poll()
    for fd in (out_r, err_r, pidfd):
        poller.register(fd, select.POLLIN)
    open_fds = {out_r, err_r}
    status = None
    exited = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = "timeout"
            break
        events = poller.poll(remaining * 1000)
        for fd, _ev in events:
            if fd == pidfd:
                exited = True
                continue
            data = os.read(fd, 65536)
            if data:
                bufs[fd] += data
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
        if len(bufs[out_r]) + len(bufs[err_r]) > cap:
            status = "output_limit"
            break
        if exited:
            # Drain what the program wrote before it exited (a straggler may hold the pipes).
            for fd in list(open_fds):
                os.set_blocking(fd, False)
                try:
                    while len(bufs[fd]) <= cap:
                        data = os.read(fd, 65536)
                        if not data:
                            break
                        bufs[fd] += data
                except BlockingIOError:
                    pass
            if len(bufs[out_r]) + len(bufs[err_r]) > cap:
                status = "output_limit"
            break
    duration = time.monotonic() - start
    if not exited:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, wstatus = os.waitpid(pid, 0)
    os.close(pidfd)
    _clean_up(pid, keep=RUNNER.keep())
    _empty_tmp()
    for fd in (out_r, err_r):
        os.close(fd)
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
    return {
        "status": status,
        "stdout": bytes(bufs[out_r][:cap]).decode("utf-8", "backslashreplace"),
        "stderr": bytes(bufs[err_r][:cap]).decode("utf-8", "backslashreplace"),
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

    def stop(self):
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
        pid, self.pid = self.pid, None
        _clean_up(pid)  # whatever it left behind (it may not fork: this is a backstop)

    def run(self, req, base_vm_kb):
        """The runner's answer, or None when the program must go to a fresh child."""
        import select
        import time

        if self.pid is not None and self.memory_mb != req["memory_mb"]:
            self.stop()
        if self.pid is None:
            self.start(req["memory_mb"], base_vm_kb)
        start = time.monotonic()
        ready = [True]
        try:
            _send(self.cmd_w, req)
            ready, _, _ = select.select([self.res_r], [], [], req["timeout_s"] + 1.0)
            if not ready:
                raise EOFError  # it ignored its alarm: the backstop
            size = int.from_bytes(_read_exact(self.res_r, 4), "big")
            if size > 8 * req["output_limit"] + 4096:
                raise EOFError
            answer = json.loads(_read_exact(self.res_r, size))
            if answer["replace"]:
                self.stop()
        except (EOFError, OSError, ValueError, KeyError):
            timed_out = self.pid is not None and not ready
            self.stop()
            if timed_out:
                duration = time.monotonic() - start
                return {"status": "timeout", "stdout": "", "stderr": "", "duration_s": duration}
            return None
        if answer["status"] == "rerun":
            return None
        return answer


RUNNER = _Runner()


def main():
    proto_in, proto_out = _setup()
    _empty_tmp()
    base_vm_kb = _vm_size_kb()
    _send(proto_out, {"ready": True, "base_vm_kb": base_vm_kb})
    while True:
        try:
            size = int.from_bytes(_read_exact(proto_in, 4), "big")
            batch = json.loads(_read_exact(proto_in, size))
        except EOFError:
            return
        answers = []
        for source in batch["sources"]:
            req = dict(batch["params"], source=source)
            answer = RUNNER.run(req, base_vm_kb) if is_vetted(source) else None
            answers.append(answer or _run(req, base_vm_kb))
        _send(proto_out, answers)


if __name__ == "__main__":
    main()
