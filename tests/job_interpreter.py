"""One warm job interpreter per test process, shared by every runtime that process starts.

A ``LocalRuntime`` starts its own job zygote (:mod:`governed_mlops_local.zygote`), which imports numpy,
pandas, XGBoost, scikit-learn and SciPy: ~1.7 s of CPU, paid again by each of the hundreds of runtimes
(and parity worlds) a test session starts, most of which run one pipeline. The zygote holds no state of
any job: each job is a fork of it that imports the job's own code afresh, and the parent never runs job
code. So a test process starts one, on first use, and every runtime in that process hands its jobs to it.

What stays per runtime, as in production: a runtime started in another process (the CLI's, a server's,
the ``kill -9`` tests') starts its own zygote, which dies with that runtime; tests/integration/
test_job_zygote.py starts zygotes of its own to test them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from governed_mlops_local.zygote import Zygote

_lock = threading.Lock()
_started: dict[str, tuple[Zygote, str]] = {}


def shared_socket() -> str:
    """The socket of this process's zygote, started (in the background) on the first call."""
    with _lock:
        if "zygote" not in _started:
            directory = Path(tempfile.mkdtemp(prefix="mlops-test-zygote-"))
            zygote = Zygote(directory)
            _started["zygote"] = (zygote, zygote.start_in_background())
            atexit.register(_stop, zygote, directory)
        return _started["zygote"][1]


def _stop(zygote: Zygote, directory: Path) -> None:
    zygote.stop()
    shutil.rmtree(directory, ignore_errors=True)


class SharedZygote:
    """Stands in for :class:`~governed_mlops_local.zygote.Zygote` in an in-process ``LocalRuntime``."""

    def __init__(self, run_dir: Path) -> None:
        del run_dir  # the shared zygote lives in a directory of its own

    def start_in_background(self) -> str:
        return shared_socket()

    def stop(self) -> None:
        """Nothing: the process's zygote outlives each runtime and stops when the process ends."""
