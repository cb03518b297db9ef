"""Locally, the approvers belong to every approvers group a model project names (as the pool's groups in AWS)."""

from __future__ import annotations

from pathlib import Path

from governed_mlops_local.approval_client import signed_as
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CONFIG, PROJECT_DIR


def test_a_models_own_approvers_group_is_one_the_local_approvers_belong_to(tmp_path: Path) -> None:
    # Given credit-risk's approvals go to its own group
    config = tmp_path / "config.yaml"
    config.write_text(
        GERMAN_CONFIG.read_text().replace("approvers_group: model-approvers", "approvers_group: credit-committee")
    )
    with LocalRuntime(PROJECT_DIR, tmp_path / "data", models={"credit-risk": config}, warm_jobs=False) as runtime:
        # Then an approver's claims name that group next to the stack's, and a non-approver's none
        approver = runtime.gateway.claims_for(signed_as("carol.approver"))["cognito:groups"].split()
        outsider = runtime.gateway.claims_for(signed_as("mallory"))["cognito:groups"]

    assert {"credit-committee", "model-approvers"} <= set(approver)
    assert outsider == ""
