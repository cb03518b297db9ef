"""Fixtures shared by every test tier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from governed_mlops.models import ApprovalRecord
from governed_mlops_local import runtime as runtime_module
from governed_mlops_local.runtime import LocalRuntime, find_project_dir
from tests.job_interpreter import SharedZygote

PROJECT_DIR = find_project_dir(Path(__file__).parent)
EVENTS_DIR = PROJECT_DIR / "events"
GERMAN_CREDIT = PROJECT_DIR / "data" / "german_credit" / "german_credit.csv"
GERMAN_CONFIG = PROJECT_DIR / "models" / "credit-risk" / "config.yaml"

# Property tests judge the code, not the machine: on a loaded 2-core box, drawing 14 inputs took 0.1 s each and
# Hypothesis failed the test as "too slow" (and a busy scheduler can stretch one example past the deadline).
settings.register_profile("governed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("governed")


@dataclass(frozen=True)
class FixedLambdaContext:
    """The Lambda context as handlers see it: the attributes Powertools reads, and a fixed time budget.

    Logger's ``inject_lambda_context`` reads function_name, memory_limit_in_mb, invoked_function_arn and
    aws_request_id; a handler may ask get_remaining_time_in_millis. The budget is a number, not a clock: a test
    that cares sets it (e.g. ``remaining_ms=100``) instead of waiting for it to run down.
    """

    function_name: str = "governed-mlops-test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:governed-mlops-test-function"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/governed-mlops-test-function"
    log_stream_name: str = "2026/01/05/[$LATEST]test"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of a module marked ``in_file_order`` run in file order; the module itself is shuffled like any other.

    Modules marked ``schedule_early`` come first (in their shuffled order), then the others (in theirs). With
    ``--dist loadfile --no-loadscope-reorder`` (the Makefile) xdist hands modules to workers in this order, so
    the modules that take minutes start while there are short ones left to fill the other worker's time, and
    the session does not end with one worker idle while the other runs a long module that started last.
    pytest-randomly shuffles (in its hook wrapper) before this runs, and keeps each module's tests together.
    """
    early: list[pytest.Item] = []
    late: list[pytest.Item] = []
    start = 0
    while start < len(items):
        module = getattr(items[start], "module", None)
        end = start
        while end < len(items) and getattr(items[end], "module", None) is module:
            end += 1
        block = items[start:end]
        marks = _module_marks(module) if module is not None else []
        if any(m.name == "in_file_order" for m in marks):
            block = sorted(block, key=lambda item: item.reportinfo()[1] or 0)
        (early if any(m.name == "schedule_early" for m in marks) else late).extend(block)
        start = end
    items[:] = early + late


def _module_marks(module: Any) -> list[pytest.Mark]:
    marks = getattr(module, "pytestmark", [])
    return list(marks) if isinstance(marks, list) else [marks]


@pytest.fixture
def lambda_context() -> FixedLambdaContext:
    """A Lambda context for invoking a handler in a test (30 s left)."""
    return FixedLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    """An event fixture from events/ (shared with `mlops trigger` and `sam local invoke`)."""
    return json.loads((EVENTS_DIR / name).read_text())


def stop_local_servers(under: Path) -> None:
    """Stop every `mlops serve` a test left running on a data directory under ``under`` (commands start them)."""
    from governed_mlops_local.local_server import LocalServerError, stop

    for info in under.glob("**/runtime.json"):
        try:
            stop(info.parent)
        except LocalServerError:
            continue  # not a server of ours (e.g. this process's own runtime): left alone


@pytest.fixture(autouse=True)
def _no_local_server_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tmp_path = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if isinstance(tmp_path, Path) and tmp_path.exists():
        stop_local_servers(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _one_job_interpreter_per_test_process() -> Iterator[None]:
    """Every in-process LocalRuntime hands its jobs to this process's zygote (see tests/job_interpreter.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime_module, "Zygote", SharedZygote)
        yield


@pytest.fixture(scope="session", autouse=True)
def _no_local_server_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    stop_local_servers(tmp_path_factory.getbasetemp())


@pytest.fixture
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture
def german_credit_bytes() -> bytes:
    return GERMAN_CREDIT.read_bytes()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "mlops-data"


@pytest.fixture
def runtime(data_dir: Path) -> Iterator[LocalRuntime]:
    """A local runtime on a fresh data directory with the German credit configuration."""
    with LocalRuntime(PROJECT_DIR, data_dir) as active:
        yield active


def auto_approver(runtime: LocalRuntime, user: str = "carol.approver") -> Any:
    """An on_tick callback for LocalRuntime.wait that approves each new request through the API."""
    from governed_mlops_local.approval_client import auto_approver as approver

    return approver(runtime.data_dir, user, "approved by the test suite")


def pending_approval(now: datetime, approval_id: str = "A" * 32) -> ApprovalRecord:
    """A pending request for model credit-risk/1 that alice's data upload triggered, open for an hour."""
    return ApprovalRecord(
        approval_id=approval_id,
        execution_name="data-x",
        execution_arn="arn:x",
        model_version="credit-risk/1",
        triggered_by="alice",
        trigger_kind="data-arrival",
        requested_at=now,
        expires_at=now + timedelta(hours=1),
        status="pending",
    )


#: Where each parity world leaves its per-role call table (tests/parity/world.py writes them).
CALL_TABLES = PROJECT_DIR / ".cache" / "parity"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per role, the AWS API calls the parity paths made and the permissions checked (written by each world)."""
    tables = sorted(CALL_TABLES.glob("*.calls.txt")) if CALL_TABLES.exists() else []
    if tables:
        terminalreporter.section("parity: AWS API calls per role (every one checked against its IAM policies)")
        for table in tables:
            terminalreporter.write_line(table.read_text(encoding="utf-8"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Tables of an earlier run are not this run's."""
    if not hasattr(session.config, "workerinput"):  # the controller, once (not each xdist worker)
        for table in CALL_TABLES.glob("*.calls.txt") if CALL_TABLES.exists() else []:
            table.unlink()
