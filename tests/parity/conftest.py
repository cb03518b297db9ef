"""Parity tier fixtures: a moto account and a deployed parity stack for one test module.

Module scope, not package scope: moto's backends are process-wide, and a context still open while a
shuffled run (pytest-randomly) starts another module's world would share them with it (that world's
``mock_aws`` is then nested and neither starts nor ends empty). Each module's moto context starts on empty
backends and empties them when the module ends, as every :func:`tests.parity.world.parity_world` does.
"""

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


@pytest.fixture(scope="module")
def parity_aws() -> Iterator[None]:
    """moto, active for one module (empty at its start, emptied at its end)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        # moto checks TOTP codes only with this switch on (otherwise any code passes).
        patch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
        with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
            yield


@pytest.fixture(scope="module")
def parity_stack(parity_aws: None, request: pytest.FixtureRequest) -> ParityStack:
    """template.yaml deployed into moto as CloudFormation would (once per module, shared: do not mutate it)."""
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
