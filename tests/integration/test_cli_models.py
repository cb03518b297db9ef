"""``--model`` on the CLI and the model inventory: which model a command is about, and bad names refused.

These run against this checkout's two model projects (credit-risk, synthetic-lending) and a scratch
checkout with one; nothing here starts the runtime (the inventory reads state from disk).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GERMAN_CREDIT, PROJECT_DIR

MLOPS = str(Path(sys.executable).with_name("mlops"))


def _mlops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a person runs it, in the current directory (the checkout it finds from there)."""
    return subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
        check=False,
    )


def test_the_inventory_lists_every_model_project_with_its_tier_and_approval_policy(tmp_path: Path) -> None:
    result = _mlops(tmp_path / "data", "models", "--json")

    assert result.returncode == 0, result.stderr
    rows = {row["model"]: row for row in json.loads(result.stdout)["models"]}
    assert set(rows) == {"credit-risk", "synthetic-lending"}
    assert (rows["credit-risk"]["risk_tier"], rows["credit-risk"]["approvals_required"]) == ("high", 2)
    assert (rows["synthetic-lending"]["risk_tier"], rows["synthetic-lending"]["approvals_required"]) == ("medium", 1)
    assert rows["synthetic-lending"]["endpoint"] == "synthetic-lending"
    assert rows["credit-risk"]["endpoint_status"] == "not deployed"
    assert rows["credit-risk"]["champion"] is None


def test_the_inventory_text_has_one_line_per_model(tmp_path: Path) -> None:
    result = _mlops(tmp_path / "data", "models")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["MODEL", "TIER", "APPROVERS", "ENDPOINT"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["credit-risk", "high", "2"],
        ["synthetic-lending", "medium", "1"],
    ]


def test_upload_without_model_when_there_are_several_says_which_exist(tmp_path: Path) -> None:
    result = _mlops(tmp_path / "data", "upload", str(GERMAN_CREDIT), "--wait")

    assert result.returncode == 2
    assert "there are 2 models (credit-risk, synthetic-lending): say which with --model NAME" in result.stderr
    assert not (tmp_path / "data").exists(), "nothing may start before the model is known"


@pytest.mark.parametrize(
    ("name", "message"),
    [("no-such-model", "no model project 'no-such-model'"), ("Bad_Name", "not a valid model name")],
    ids=["unknown", "invalid"],
)
def test_an_unknown_or_invalid_model_is_refused_by_name(tmp_path: Path, name: str, message: str) -> None:
    for command in (["upload", str(GERMAN_CREDIT), "--wait"], ["executions"], ["approvals"], ["models", "versions"]):
        result = _mlops(tmp_path / "data", *command, "--model", name)

        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "UnknownModelError" in result.stderr
        assert message in result.stderr


def test_monitor_run_takes_the_models_endpoint(tmp_path: Path) -> None:
    # No state yet: the error names the data directory, i.e. --model resolved to an endpoint first
    result = _mlops(tmp_path / "data", "monitor", "run", "--model", "synthetic-lending")
    assert result.returncode == 2
    assert "no local runtime state" in result.stderr

    both = _mlops(tmp_path / "data", "monitor", "run", "credit-risk", "--model", "credit-risk")
    assert both.returncode == 2
    assert "ENDPOINT or --model NAME, not both" in both.stderr


def test_with_one_model_project_the_model_may_be_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a checkout with only the credit-risk project
    checkout = tmp_path / "checkout"
    (checkout / "statemachines").mkdir(parents=True)
    (checkout / "template.yaml").write_text("# scratch\n")
    (checkout / "models" / "credit-risk").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "models" / "credit-risk" / "config.yaml", checkout / "models" / "credit-risk")
    monkeypatch.chdir(checkout)

    # Then commands resolve it without --model
    result = _mlops(tmp_path / "data", "monitor", "run")
    assert "no local runtime state" in result.stderr
    listed = json.loads(_mlops(tmp_path / "data", "models", "--json").stdout)["models"]
    assert [row["model"] for row in listed] == ["credit-risk"]


def test_a_broken_model_config_is_shown_in_the_inventory_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    checkout = tmp_path / "checkout"
    (checkout / "statemachines").mkdir(parents=True)
    (checkout / "template.yaml").write_text("# scratch\n")
    (checkout / "models" / "broken").mkdir(parents=True)
    (checkout / "models" / "broken" / "config.yaml").write_text("model:\n  risk_tier: extreme\n")
    monkeypatch.chdir(checkout)

    result = _mlops(tmp_path / "data", "models")

    assert result.returncode == 0, result.stderr
    assert "broken" in result.stdout
    assert "config error" in result.stdout
    assert "risk_tier" in result.stdout


def test_package_jobs_checks_every_project_and_names_each_models_resources(tmp_path: Path) -> None:
    result = _mlops(tmp_path / "data", "package-jobs")

    assert result.returncode == 0, result.stderr
    assert "model credit-risk: endpoint credit-risk, group credit-risk, high risk" in result.stdout
    assert "model synthetic-lending: endpoint synthetic-lending, group synthetic-lending, medium risk" in result.stdout
