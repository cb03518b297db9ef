"""A real failing run, after a successful one of the same model: `mlops history` and the execution page
give the same outcome class, cause, next action, production and comparison with the last success."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops_local.approval_client import auto_approver
from governed_mlops_local.cli.ui import local_definitions
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.incident_sources import LocalIncidentSources
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.ui.evidence_links import local_evidence_links
from governed_mlops_local.ui.server import UiRoutes
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR

pytestmark = pytest.mark.slow

BUG = "InjectedBug: list index out of range in the validator"


class InjectedBug(RuntimeError):
    """A bug in Validate Data's code, raised by the Lambda host's fault hook (no Retry lists it)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One data dir: a succeeded run of credit-risk (deployed), then one on other data that a bug fails."""
    data_dir = tmp_path_factory.mktemp("incident") / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/g.csv", requester="alice")
        [good] = runtime.wait(
            [deliveries[0].result["runs"][0]["execution_arn"]],
            on_tick=auto_approver(data_dir, "carol.approver", "test"),
            timeout=600,
        )
        assert good["status"] == "SUCCEEDED", good

        def hook(function: str, payload: Any) -> None:
            if function == "ValidateDataFunction":
                raise InjectedBug(BUG.split(": ", 1)[1])

        runtime.host.fault_hook = hook
        fewer_rows = b"\n".join(GERMAN_CREDIT.read_bytes().splitlines()[:-10]) + b"\n"
        _, deliveries = runtime.upload(fewer_rows, "datasets/credit-risk/h.csv", requester="bob.engineer")
        [bad] = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], timeout=300)
        runtime.host.fault_hook = None
    assert bad["status"] == "FAILED", bad
    return {"data_dir": data_dir, "good": good["name"], "bad": bad["name"]}


def history_text(data_dir: Path, name: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "governed_mlops_local.cli", "--data-dir", str(data_dir), "history", name],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def page_text(data_dir: Path, name: str) -> str:
    store = ExecutionStore(data_dir)
    routes = UiRoutes(
        store,
        local_definitions(PROJECT_DIR),
        local_evidence_links(data_dir),
        incidents=LocalIncidentSources(data_dir, store).view,
    )
    status, _, body = routes.handle("GET", f"/executions/{name}")
    assert status == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body.decode())).split())


def test_history_gives_class_cause_next_action_production_and_what_changed(runs: dict[str, Any]):
    text = history_text(runs["data_dir"], runs["bad"])
    lines = text.splitlines()
    # The state the alert blames, the class, the cause and a redrive once the bug is fixed
    [alert] = [m for m in read_outbox(runs["data_dir"]) if m["attributes"].get("execution") == runs["bad"]]
    assert lines[1] == f"FAILED in state: {alert['attributes']['failed_state']}" == "FAILED in state: Validate Data"
    assert "error: InjectedBug" in lines
    assert f"cause: {BUG.split(': ', 1)[1]}" in lines
    assert "outcome: fault: someone must fix it" in lines
    assert "next action: Fix the cause, then retry from the failed state." in text
    assert f"  mlops redrive {runs['bad']}" in lines
    # What production serves: the model the successful run deployed
    assert "production: endpoint credit-risk (InService) serves credit-risk/1 (AllTraffic 100%) since" in text
    assert "trigger: bob.engineer uploaded datasets/credit-risk/h.csv" in text
    # What differs from the last success: the data (10 rows fewer), not the code or the configuration
    assert f"since last success ({runs['good']}, started" in text
    assert "  data    changed  different dataset" in text
    assert "  code    same     same commit" in text
    assert "  config  same     same configuration" in text
    assert "metrics of the last success: auc 0." in text
    # And the failed state's traceback from the Lambda host's log
    assert "InjectedBug: list index out of range in the validator" in text.split("logs (", 1)[1]


def test_the_page_says_what_history_says(runs: dict[str, Any]):
    text = page_text(runs["data_dir"], runs["bad"])
    assert "Failed in state “Validate Data”" in text
    assert "fault: someone must fix it" in text
    assert "Fix the cause, then retry from the failed state" in text
    assert f"mlops redrive {runs['bad']}" in text
    assert "Endpoint credit-risk (InService) serves credit-risk/1 (AllTraffic, 100% of traffic)" in text
    assert f"Last successful run of credit-risk: {runs['good']}" in text
    assert "bob.engineer uploaded datasets/credit-risk/h.csv" in text
    assert "InjectedBug: list index out of range in the validator" in text


def test_a_succeeded_run_has_no_incident(runs: dict[str, Any]):
    text = history_text(runs["data_dir"], runs["good"])
    assert "in state:" not in text
    assert "next action" not in text
    assert "What it means and what to do" not in page_text(runs["data_dir"], runs["good"])
