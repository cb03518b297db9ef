"""The warm job interpreter: a job sent early waits for it, a job it never took still runs, exit codes pass through."""

from __future__ import annotations

import json
import marshal
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from governed_mlops_local.zygote import ENV_SOCKET, Zygote, hand_over, write_shim
from tests.waiting import until

#: Prints where it ran: a forked zygote child has pandas imported before the script starts.
PROBE = "import sys\nprint('warm' if 'pandas' in sys.modules else 'cold')\nsys.exit(int(sys.argv[1]))\n"


@pytest.fixture
def job(tmp_path: Path) -> tuple[Path, Path]:
    """A job directory with the python3 shim and the probe script; (shim, script)."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return write_shim(tmp_path / "bin"), script


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[str]:
    started = Zygote(tmp_path / "run")
    yield started.start_in_background()
    started.stop()


def _run(shim: Path, script: Path, socket_path: str | None, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}", "PYTHONHASHSEED": "0"}
    if socket_path:
        env[ENV_SOCKET] = socket_path
    return subprocess.run(
        [str(shim), str(script), str(code)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_job_sent_while_the_zygote_still_imports_waits_for_it(job: tuple[Path, Path], zygote: str) -> None:
    # Given a zygote that was started a moment ago (its imports take about a second)
    # When a job is sent at once
    answer = _run(*job, zygote)

    # Then it ran in the zygote (queued on its socket) rather than in a cold interpreter
    assert (answer.returncode, answer.stdout.strip()) == (0, "warm"), answer.stderr


def test_the_job_exit_code_is_the_shim_exit_code(job: tuple[Path, Path], zygote: str) -> None:
    assert _run(*job, zygote, code=3).returncode == 3


def test_without_a_zygote_the_job_runs_in_a_fresh_interpreter(job: tuple[Path, Path], tmp_path: Path) -> None:
    answer = _run(*job, str(tmp_path / "nobody.sock"))
    assert (answer.returncode, answer.stdout.strip()) == (0, "cold"), answer.stderr


def test_a_job_the_zygote_never_took_still_runs(job: tuple[Path, Path], tmp_path: Path) -> None:
    # Given a socket whose owner goes away after reading the request, before taking the job
    path = tmp_path / "dying.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def drop_one() -> None:
        conn, _ = server.accept()
        conn.recv(1 << 20)
        conn.close()

    dropper = threading.Thread(target=drop_one, daemon=True)
    dropper.start()

    # When a job is sent to it
    answer = _run(*job, str(path))

    # Then the shim runs the job itself, once
    dropper.join(timeout=10)
    server.close()
    assert (answer.returncode, answer.stdout.strip()) == (0, "cold"), answer.stderr


#: A job that imports a module of its own code and prints the file its function says it was compiled from.
IMPORTER = "import helper\nprint(helper.where())\n"
HELPER = "def where():\n    return where.__code__.co_filename\n"


def _job_code(directory: Path, helper: str = HELPER) -> Path:
    directory.mkdir(parents=True)
    (directory / "helper.py").write_text(helper)
    script = directory / "job.py"
    script.write_text(IMPORTER)
    return script


def _bytecode(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "run" / "job-bytecode").glob("*.code"))


def test_the_same_source_in_another_jobs_directory_is_compiled_once_and_names_its_own_file(
    tmp_path: Path, zygote: str
) -> None:
    shim = write_shim(tmp_path / "bin")

    # Given a job whose code (one module besides its script) ran in the zygote
    first = _run(shim, _job_code(tmp_path / "job-1"), zygote)
    assert first.returncode == 0, first.stderr
    kept = _bytecode(tmp_path)

    # When a second job brings the same module source in a directory of its own
    second = _run(shim, _job_code(tmp_path / "job-2"), zygote)

    # Then the module was not compiled again (nothing new kept), and its code names the second job's file
    assert second.returncode == 0, second.stderr
    assert len(kept) == 1
    assert _bytecode(tmp_path) == kept
    assert second.stdout.strip() == str(tmp_path / "job-2" / "helper.py")


def test_a_changed_source_is_compiled_afresh(tmp_path: Path, zygote: str) -> None:
    shim = write_shim(tmp_path / "bin")
    assert _run(shim, _job_code(tmp_path / "job-1"), zygote).returncode == 0

    changed = _run(shim, _job_code(tmp_path / "job-2", HELPER.replace("where.__code__", "(where).__code__")), zygote)

    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == str(tmp_path / "job-2" / "helper.py")
    assert len(_bytecode(tmp_path)) == 2


def test_kept_code_that_others_may_write_is_never_loaded(tmp_path: Path, zygote: str) -> None:
    shim = write_shim(tmp_path / "bin")
    assert _run(shim, _job_code(tmp_path / "job-1"), zygote).returncode == 0
    (kept,) = _bytecode(tmp_path)

    # Given the kept code replaced by other code, in a file its group may write
    kept.write_bytes(marshal.dumps(compile("def where():\n    return 'tampered'\n", "x", "exec")))
    kept.chmod(0o664)

    # When the same source is imported by another job, Then it is compiled from the source, not loaded
    again = _run(shim, _job_code(tmp_path / "job-2"), zygote)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(tmp_path / "job-2" / "helper.py")


def test_a_job_handed_over_reports_its_exit_code(tmp_path: Path, zygote: str) -> None:
    script = tmp_path / "exit.py"
    script.write_text("import sys\nsys.exit(3)\n")
    with (tmp_path / "job.log").open("w") as log:
        code = hand_over(
            zygote, [str(script)], cwd=tmp_path, env={"PATH": os.environ["PATH"]}, output=log.fileno(), timeout=60
        )

    assert code == 3


def test_a_job_handed_over_that_outlives_its_limit_is_killed(tmp_path: Path, zygote: str) -> None:
    # Given a job that writes its pid, then waits for a signal that never comes
    pid_file = tmp_path / "pid"
    script = tmp_path / "forever.py"
    script.write_text(f"import os, signal\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nsignal.pause()\n")

    # When it is handed over with a limit of 3 s
    with (tmp_path / "job.log").open("w") as log:
        code = hand_over(
            zygote, [str(script)], cwd=tmp_path, env={"PATH": os.environ["PATH"]}, output=log.fileno(), timeout=3
        )

    # Then it is reported as killed (-SIGKILL, what MaxRuntimeInSeconds gives) and the process is gone
    assert code == -signal.SIGKILL
    pid = int(pid_file.read_text())
    until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the job past its limit to be gone")


ECHO = (
    "import json, os, sys\n"
    "print(json.dumps({'warm': 'pandas' in sys.modules, 'argv': [os.fsencode(a).hex() for a in sys.argv[1:]],"
    " 'cwd': os.getcwd(), 'env': {k.hex(): v.hex() for k, v in os.environb.items()}}))\n"
)


def test_a_job_run_through_the_shim_gets_its_exact_arguments_directory_and_environment(
    tmp_path: Path, zygote: str
) -> None:
    # Given a job whose arguments and environment hold spaces, '=', NUL-free non-UTF-8 bytes and an empty value
    shim = write_shim(tmp_path / "bin")
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    argv = [b"--name", b"a b=c", b"", "caf\u00e9".encode(), b"\xff\xfe"]
    env = {
        b"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}".encode(),
        ENV_SOCKET.encode(): zygote.encode(),
        b"SM_HPS": b'{"max_depth": "4", "eta": "0.2"}',
        b"EMPTY": b"",
        b"EQUALS": b"a=b=c",
        b"RAW": b"\xff",
    }

    # When the shim runs it through the warm zygote, and once more with no zygote (a fresh interpreter)
    def run(environment: dict[bytes, bytes]) -> dict[str, Any]:
        answer = subprocess.run(
            [str(shim), str(script), *argv], cwd=workdir, env=environment, capture_output=True, timeout=120, check=False
        )
        assert answer.returncode == 0, answer.stderr
        return cast("dict[str, Any]", json.loads(answer.stdout))

    warm = run(env)
    cold = run({**env, ENV_SOCKET.encode(): str(tmp_path / "no-zygote.sock").encode()})

    # Then the job saw exactly what a python3 started that way sees
    assert (warm.pop("warm"), cold.pop("warm")) == (True, False)
    assert [bytes.fromhex(a) for a in warm["argv"]] == argv
    assert warm["cwd"] == str(workdir)
    seen_env = {bytes.fromhex(k): bytes.fromhex(v) for k, v in warm["env"].items()}
    assert seen_env.items() >= env.items()
    cold["env"][ENV_SOCKET.encode().hex()] = zygote.encode().hex()
    assert warm == cold
