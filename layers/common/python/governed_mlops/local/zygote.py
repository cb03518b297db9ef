"""A warm interpreter that forks SageMaker job scripts, so a job does not pay ~1.5 s of imports.

The emulated container still runs the job's real entry point: a ``python3`` shim on the job's
``PATH`` hands its argv, working directory, environment and standard streams (as file
descriptors) to this process over a Unix socket; the zygote forks, the child becomes the job
(``runpy`` on the script, exactly as ``python3 script.py`` would), and the shim exits with the
child's exit code. Only third-party libraries are pre-imported: the job's own code
(``governed_mlops.ml`` from the job's sourcedir) is imported fresh in every child, so the code
that runs is the code whose hash the lineage records.

If the zygote is not running, the shim simply ``exec``s the real interpreter.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import runpy
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Imported once in the zygote; what every job script needs anyway.
WARM_MODULES = ("numpy", "pandas", "scipy.stats", "sklearn.metrics", "xgboost", "matplotlib.pyplot", "shap")
ENV_SOCKET = "MLOPS_ZYGOTE_SOCKET"
_MAX_MESSAGE = 4 * 1024 * 1024

SHIM = """#!{python} -S
# python3 for emulated SageMaker jobs: run through the warm zygote when it is up, else exec.
import array, json, os, socket, struct, sys
path = os.environ.get("{env}")
argv = ["python3", *sys.argv[1:]]
if path:
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    except OSError:
        sock = None
    if sock is not None:
        payload = json.dumps({{"argv": argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
        sock.sendmsg([struct.pack("!I", len(payload)) + payload],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        answer = b""
        while True:
            chunk = sock.recv(64)
            if not chunk:
                break
            answer += chunk
        sys.exit(int(answer or b"70"))
os.execv("{python}", ["{python}", *sys.argv[1:]])
"""


def write_shim(bin_dir: Path) -> Path:
    """The ``python3`` the emulated container's PATH finds first."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "python3"
    shim.write_text(SHIM.format(python=sys.executable, env=ENV_SOCKET))
    shim.chmod(0o755)
    return shim


def _run_child(conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the job, report the exit code, never return."""
    code = 1
    try:
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        argv = [str(a) for a in list(request["argv"])]  # type: ignore[call-overload]
        # The job's own package comes from its sourcedir, never from this process.
        for name in [m for m in sys.modules if m == "governed_mlops" or m.startswith("governed_mlops.")]:
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
    return json.loads(body), list(fds)


def serve(socket_path: Path) -> None:
    """The zygote's main loop (single-threaded; each job is a forked child)."""
    for module in WARM_MODULES:
        with contextlib.suppress(ImportError):
            __import__(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    socket_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    server.listen(64)
    (socket_path.parent / f"{socket_path.name}.ready").write_text(str(os.getpid()))
    while True:
        conn, _ = server.accept()
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError, struct.error):
            conn.close()
            continue
        if os.fork() == 0:
            server.close()
            _run_child(conn, request, fds)
        for fd in fds:
            os.close(fd)
        conn.close()


class Zygote:
    """Starts and stops the zygote process for one runtime."""

    def __init__(self, run_dir: Path) -> None:
        self.socket_path = run_dir / "zygote.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start_in_background(self) -> str:
        """Spawn the zygote and return at once; jobs fall back to a cold interpreter until it is ready."""
        threading.Thread(target=self._start_quietly, name="zygote-start", daemon=True).start()
        return str(self.socket_path)

    def _start_quietly(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.start()

    def start(self, timeout: float = 60.0) -> str:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return str(self.socket_path)
            ready = self.socket_path.parent / f"{self.socket_path.name}.ready"
            ready.unlink(missing_ok=True)
            self.socket_path.parent.mkdir(parents=True, exist_ok=True)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "governed_mlops.local.zygote", str(self.socket_path)],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while not ready.exists():
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the job zygote did not start")
                time.sleep(0.02)
            return str(self.socket_path)

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=5)
                self._process = None
            self.socket_path.unlink(missing_ok=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
