"""Parity tier fixtures: one moto account and one deployed parity stack for the whole tests/parity package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.parity.stack import REPO_ROOT, ParityStack, deploy_parity_stack

REGION = "us-east-1"
TEMPLATE = REPO_ROOT / "template.yaml"
#: The moto configuration every parity test runs under (the ASL interpreter on, no Docker for Lambda).
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
#: TrainingImage and ProcessingImage have no default: the framework images `mlops deploy-params` names.
PARITY_PARAMETERS = {
    "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ProcessingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
    # The monitoring schedule is off by default (dev); the parity stack deploys it to prove it.
    "MonitoringEnabled": "true",
}


@pytest.fixture(scope="package")
def parity_aws() -> Iterator[None]:
    """moto, active for the parity package only (not for the tiers collected after it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        # moto checks TOTP codes only with this switch on (otherwise any code passes).
        patch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
        with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
            yield


@pytest.fixture(scope="package")
def parity_stack(parity_aws: None, request: pytest.FixtureRequest) -> ParityStack:
    """template.yaml deployed into moto as CloudFormation would (deployed once, shared: do not mutate it)."""
    stack = deploy_parity_stack(TEMPLATE, parameters=PARITY_PARAMETERS)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        moto_made = len(stack.physical_ids) - len(stack.provisioned_by_harness)
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nparity stack: {len(stack.physical_ids)} resources deployed in {stack.deploy_seconds:.1f} s "
                f"({moto_made} by moto's CloudFormation, {len(stack.provisioned_by_harness)} by the harness)"
            )
    return stack
