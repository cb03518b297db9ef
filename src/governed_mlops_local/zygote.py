"""A warm interpreter that forks SageMaker job scripts, so a job does not pay ~1.5 s of imports.

The emulated container still runs the job's real entry point: a ``python3`` shim on the job's
``PATH`` hands its argv, working directory, environment and standard streams (as file
descriptors) to this process over a Unix socket; the zygote forks, the child becomes the job
(``runpy`` on the script, exactly as ``python3 script.py`` would), and the shim exits with the
child's exit code. Only third-party libraries are pre-imported: the job's own code
(``governed_mlops_ml`` from the job's sourcedir) is imported fresh in every child, so the code
that runs is the code whose hash the lineage records.

The zygote listens before it imports anything: a job that arrives while it is still importing
waits in the socket's backlog, which is faster than a cold interpreter importing the same libraries
on the same cores. Once idle it warms up (:func:`_warm_up_steps`), so a job's first plot or first
CSV does not pay for lazy imports and font loading either. If the zygote is not running, or goes
away before it takes a job, the shim simply ``exec``s the real interpreter.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import runpy
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType

_THRESHOLD = 0.5  # any threshold: the warm-up only exercises the calls

#: Imported before the zygote takes its first job: what the data-bias job, the first job of every
#: pipeline run, needs (its chart is SVG text written by the job itself: no plotting library; the
#: standard library's XML escaping it uses pulls in urllib and http.client, ~8 ms a job otherwise).
FIRST_MODULES = ("numpy", "pandas", "xml.sax.saxutils")
#: Imported next, between jobs (xgboost alone takes over a second): training, evaluation,
#: explanation, model bias and monitoring.
LATER_MODULES = ("xgboost", "sklearn.metrics", "scipy.stats")
#: Everything the zygote imports: what the job scripts (jobs/*.py, governed_mlops_ml) import.
WARM_MODULES = FIRST_MODULES + LATER_MODULES
#: First-party packages a job imports from its sourcedir (see ``packaging.JOB_PACKAGE_ROOTS``).
JOB_PACKAGES = frozenset({"governed_mlops", "governed_mlops_ml"})
ENV_SOCKET = "MLOPS_ZYGOTE_SOCKET"
#: Next to the zygote's socket: the job modules compiled so far, by source text (see ``_compile_once``).
BYTECODE_DIR = "job-bytecode"
_MAX_MESSAGE = 4 * 1024 * 1024
#: Jobs that may wait for the zygote at once (the emulator runs at most one per CPU).
_BACKLOG = 64
#: Sent to the shim once the zygote has taken a job (the child's exit code follows).
_ACCEPTED = b"+"
#: A job's exit code when it ended without reporting one (killed by a signal): EX_SOFTWARE.
_NO_EXIT_CODE = 70
#: prctl option: signal this process when its parent dies.
_PR_SET_PDEATHSIG = 1
#: How often the zygote checks that its runtime is still alive.
_PARENT_CHECK_SECONDS = 0.5

SHIM = """#!{python} -S
# python3 for emulated SageMaker jobs: run through the warm zygote when it is up, else exec.
# Only built-in modules: this runs once per job, and json/socket/array would cost it ~8 ms more.
import _socket, os, sys
path = os.environ.get("{env}")
if path:
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.connect(path)
    except OSError:
        sock = None
    if sock is not None:
        # The request as zygote.encode_request frames it: argument count, arguments, cwd, KEY=VALUE...
        fields = [str(len(sys.argv) - 1).encode(), *map(os.fsencode, sys.argv[1:]), os.getcwdb()]
        payload = b"\\0".join(fields + [k + b"=" + v for k, v in os.environb.items()])
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        sock.sendmsg([len(payload).to_bytes(4, "big") + payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        answer = b""
        while True:
            try:
                chunk = sock.recv(64)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        # "+" means the zygote took the job; then the job's pid and ";", then its exit code.
        # Without "+" the job never ran.
        if answer.startswith(b"+"):
            sys.exit(int(answer.partition(b";")[2] or b"{no_exit_code}"))
os.execv("{python}", ["{python}", *sys.argv[1:]])
"""


def write_shim(bin_dir: Path) -> Path:
    """The ``python3`` the emulated container's PATH finds first."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "python3"
    shim.write_text(SHIM.format(python=sys.executable, env=ENV_SOCKET, no_exit_code=_NO_EXIT_CODE))
    shim.chmod(0o755)
    return shim


def _compile_once(directory: Path) -> None:
    """In a forked job: compile each module of the job's own code once per source text, across jobs.

    Every job unpacks its code into a directory of its own, so Python's ``__pycache__`` (keyed by path
    and modification time) never has the module and each job compiled the same sources again (20-45 ms
    a job). Here compiled code is kept in ``directory`` by the sha256 of the interpreter's magic number,
    the optimization level and the source bytes, and given the importing file's name when loaded
    (tracebacks name the job's own file). The source is still read and is the key: the code that runs is
    what that source compiles to. A file is used only if this user owns it and nobody else may write it
    (loading compiled code runs it); anything unreadable or foreign is compiled again.
    """
    compile_source = importlib.machinery.SourceFileLoader.source_to_code

    def source_to_code(
        loader: importlib.machinery.SourceFileLoader, data: bytes | str, path: str, *, _optimize: int = -1
    ) -> CodeType:
        source = data.encode() if isinstance(data, str) else bytes(data)
        digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + str(_optimize).encode() + b"\0" + source)
        kept = directory / f"{digest.hexdigest()}.code"
        code = _trusted_code(kept)
        if code is not None:
            return _renamed(code, str(path))
        code = compile_source(loader, data, path, _optimize=_optimize)
        with contextlib.suppress(OSError, ValueError):
            _keep(kept, marshal.dumps(code))
        return code

    importlib.machinery.SourceFileLoader.source_to_code = source_to_code  # type: ignore[assignment,method-assign]


def _trusted_code(path: Path) -> CodeType | None:
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None  # not this user's own file: never loaded
            code = marshal.load(handle)  # noqa: S302 - this user's own file, written by _keep below
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _keep(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (another job may be reading or writing it)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` (and the functions and classes it defines) as compiled from ``filename``."""
    if code.co_filename == filename:
        return code
    constants = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=constants)


def _run_child(conn: socket.socket, request: dict[str, object], fds: list[int], bytecode: Path) -> None:
    """In the forked child: become the job, report the exit code, never return."""
    code = 1
    try:
        _compile_once(bytecode)
        conn.sendall(f"{os.getpid()};".encode())  # who to stop if the job outlives its MaxRuntimeInSeconds
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        argv = [str(a) for a in list(request["argv"])]  # type: ignore[call-overload]
        # The job's own packages come from its sourcedir, never from this process.
        for name in [m for m in sys.modules if m.partition(".")[0] in JOB_PACKAGES]:
            del sys.modules[name]
        python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        script = argv[0]
        sys.path[:] = [
            str(Path(script).resolve().parent),
            *python_path,
            *[p for p in sys.path if "site-packages" in p or "lib/python" in p],
        ]
        sys.argv = argv
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - report like an interpreter would
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(str(code).encode())
        os._exit(code)


def hand_over(
    socket_path: str, argv: list[str], *, cwd: Path, env: dict[str, str], output: int, timeout: float
) -> int | None:
    """Run ``python3 *argv`` in the zygote, as the shim would, without starting the shim's interpreter.

    The emulator calls this for a job whose entry point is the container's ``python3`` (the shim on the
    job's ``PATH``): the same request goes over the same socket, so the job runs exactly as through the
    shim, minus a ~35 ms interpreter start per job. Standard input is empty; standard output and error
    are ``output``. Returns the job's exit code, ``-SIGKILL`` if it ran past ``timeout`` seconds (the
    job is killed), or None if the zygote did not take the job (the caller then runs the shim itself).
    """
    deadline = time.monotonic() + timeout
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(socket_path)
    except OSError:
        sock.close()
        return None
    with sock, open(os.devnull, "rb") as stdin:  # noqa: PTH123 - a file descriptor to hand over, not a path to read
        payload = encode_request(argv, cwd=str(cwd), env=env)
        try:
            sock.sendmsg(
                [struct.pack("!I", len(payload)) + payload],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [stdin.fileno(), output, output]))],
            )
        except OSError:
            return None
        return _await_exit(sock, deadline)


def _await_exit(sock: socket.socket, deadline: float) -> int | None:
    """The exit code the zygote's child reports on ``sock`` (see :func:`hand_over`)."""
    answer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pid, separator, _ = answer[len(_ACCEPTED) :].partition(b";")
            if separator:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            return -signal.SIGKILL
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(64)
        except TimeoutError:
            continue
        except OSError:
            chunk = b""
        if chunk:
            answer += chunk
            continue
        if not answer.startswith(_ACCEPTED):
            return None  # the zygote went away before taking the job: it never ran
        _, separator, code = answer[len(_ACCEPTED) :].partition(b";")
        return int(code) if separator and code else _NO_EXIT_CODE


def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    fds = array.array("i")
    message, ancillary, _, _ = conn.recvmsg(_MAX_MESSAGE, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    (length,) = struct.unpack("!I", message[:4])
    body = message[4:]
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return decode_request(body), list(fds)


def encode_request(argv: list[str], *, cwd: str, env: dict[str, str]) -> bytes:
    """A job request as the shim frames it: NUL-separated argument count, arguments, cwd, ``KEY=VALUE``s.

    NUL cannot occur in an argument, a path or the environment, so no field needs escaping, and the
    shim builds this with built-in modules only (it runs once per job).
    """
    fields = [str(len(argv)), *argv, cwd, *(f"{key}={value}" for key, value in env.items())]
    return b"\0".join(os.fsencode(field) for field in fields)


def decode_request(payload: bytes) -> dict[str, object]:
    """``{"argv", "cwd", "env"}`` of a request framed by :func:`encode_request` (ValueError if malformed)."""
    fields = [os.fsdecode(field) for field in payload.split(b"\0")]
    count = int(fields[0])
    if count < 0 or len(fields) < count + 2:
        raise ValueError("truncated job request")
    entries = [entry.partition("=") for entry in fields[count + 2 :]]
    if any(not separator for _, separator, _ in entries):
        raise ValueError("malformed environment entry in job request")
    return {
        "argv": fields[1 : count + 1],
        "cwd": fields[count + 1],
        "env": {key: value for key, _, value in entries},
    }


def _die_with_parent() -> None:
    """In a forked job: the kernel kills it if the zygote dies (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(socket_path: Path, runtime_pid: int | None = None, listening_fd: int | None = None) -> None:
    """The zygote's main loop (single-threaded; each job is a forked child).

    It exits when the runtime that started it is gone (even after ``kill -9``), and its jobs with it:
    a crashed runtime leaves no process behind, and ``mlops redrive`` reruns the unfinished job.
    ``listening_fd`` is the socket already bound to ``socket_path`` by :class:`Zygote`.
    """
    bytecode = socket_path.parent / BYTECODE_DIR
    bytecode.mkdir(mode=0o700, exist_ok=True)
    # The emulator runs every job with one OpenMP/BLAS thread; libraries read this when imported,
    # so a forked job gets what a cold ``python3`` with the job's environment would get.
    os.environ["OMP_NUM_THREADS"] = "1"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    if listening_fd is not None:
        server = socket.socket(fileno=listening_fd)
    else:
        socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(socket_path))
        server.listen(_BACKLOG)  # from here on a job waits in the backlog instead of starting cold
    for module in FIRST_MODULES:
        with contextlib.suppress(ImportError):
            __import__(module)
    (socket_path.parent / f"{socket_path.name}.ready").write_text(str(os.getpid()))
    warm_up: Iterator[Callable[[], object]] | None = _warm_up_steps()
    server.settimeout(_PARENT_CHECK_SECONDS)
    while runtime_pid is None or os.getppid() == runtime_pid:
        # The later imports and the warm-up run only while no job is waiting, one step at a time.
        if warm_up is not None and not select.select([server], [], [], 0)[0]:
            warm_up = _warm_up_once(warm_up)
            continue
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        try:
            request, fds = _receive(conn)
            conn.sendall(_ACCEPTED)
        except (OSError, ValueError, struct.error):
            conn.close()
            continue
        if os.fork() == 0:
            server.close()
            _die_with_parent()
            _run_child(conn, request, fds, bytecode)
        for fd in fds:
            os.close(fd)
        conn.close()


def _warm_up_once(steps: Iterator[Callable[[], object]]) -> Iterator[Callable[[], object]] | None:
    """Run the next warm-up step; None when none is left. A failing step only costs a job that time."""
    try:
        step = next(steps)
    except Exception:  # noqa: BLE001 - StopIteration, or the steps themselves failed: stop warming up
        return None
    with contextlib.suppress(Exception):
        step()
    return steps


def _warm_up_steps() -> Iterator[Callable[[], object]]:
    """The imports of :data:`LATER_MODULES`, then what a job's first call into the libraries would
    otherwise pay, done once in the zygote.

    Lazy imports, pandas' CSV engine, XGBoost's first booster, scikit-learn's metrics. Library
    state only: the job's own modules are imported afresh by every child, and nothing here changes
    a job's results (XGBoost gets its own seed and one thread).
    """
    for module in LATER_MODULES:
        yield functools.partial(importlib.import_module, module)

    import io

    import numpy as np
    import pandas as pd

    def tables() -> None:  # read_dataset's CSV options, the encoders' conversions, predictions.csv
        frame = pd.read_csv(io.StringIO("a,b\n1,x\n2,\n"), dtype=str, keep_default_na=False, na_values=[""])
        pd.to_numeric(frame["a"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        pd.Index(["x"], dtype=object).get_indexer(frame["b"].astype(str).to_numpy(dtype=object))
        frame["b"].astype("string").str.startswith("x")
        pd.factorize(frame["b"], use_na_sentinel=False)
        frame.to_csv(io.StringIO(), index=False)

    def booster() -> None:  # DMatrix, training, TreeSHAP, JSON round trip
        import xgboost as xgb

        rows = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        data = xgb.DMatrix(rows, label=[0, 1, 1, 0], missing=np.nan, nthread=1)
        trained = xgb.train({"objective": "binary:logistic", "nthread": 1, "seed": 0}, data, num_boost_round=1)
        trained.predict(data, pred_contribs=True)
        xgb.Booster().load_model(bytearray(trained.save_raw(raw_format="json")))

    def metrics() -> None:  # the evaluation's first scikit-learn calls
        from sklearn import metrics as sk

        labels, scores = np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.6, 0.3])
        predicted = (scores >= _THRESHOLD).astype(np.int64)
        sk.roc_auc_score(labels, scores)
        sk.roc_curve(labels, scores)
        sk.confusion_matrix(labels, predicted, labels=[0, 1])
        for score in (sk.accuracy_score, sk.precision_score, sk.recall_score, sk.f1_score):
            score(labels, predicted)

    yield from (tables, booster, metrics)


class Zygote:
    """Starts and stops the zygote process for one runtime."""

    def __init__(self, run_dir: Path) -> None:
        self.socket_path = run_dir / "zygote.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start_in_background(self) -> str:
        """Spawn the zygote and return at once, without waiting for its imports.

        Its socket listens from this moment: a job sent before the imports are done waits for them
        in the socket's backlog. Jobs fall back to a cold interpreter only if the zygote cannot start.
        """
        with self._lock, contextlib.suppress(OSError):
            self._spawn()
        return str(self.socket_path)

    def start(self, timeout: float = 60.0) -> str:
        """Spawn the zygote (unless it runs) and wait until it takes jobs."""
        with self._lock:
            process = self._spawn()
            ready = self.socket_path.parent / f"{self.socket_path.name}.ready"
            deadline = time.monotonic() + timeout
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the job zygote did not start")
                time.sleep(0.02)
            return str(self.socket_path)

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        (self.socket_path.parent / f"{self.socket_path.name}.ready").unlink(missing_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        # Bound here and handed over, so the socket exists before the zygote's interpreter even starts.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(self.socket_path))
            listener.listen(_BACKLOG)
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "governed_mlops_local.zygote",
                    str(self.socket_path),
                    str(os.getpid()),
                    str(listener.fileno()),
                ],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(listener.fileno(),),
            )
        return self._process

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=5)
                self._process = None
            self.socket_path.unlink(missing_ok=True)


if __name__ == "__main__":
    serve(
        Path(sys.argv[1]),
        *(int(arg) for arg in sys.argv[2:4]),
    )
