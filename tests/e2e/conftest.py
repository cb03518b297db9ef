"""Opt-in tests against a deployed stack: ``MLOPS_STACK_NAME=governed-mlops-dev pytest tests/e2e``.

They run only with real AWS credentials and a stack name; anything else skips them with the reason.
They never run under moto: an active mock or moto's fake credentials skip them too.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

#: Credentials that moto's docs, the local runtime and tests/integration use; never a real account.
_FAKE_ACCESS_KEYS = {"testing", "test", "FOOBARKEY", "AKIAIOSFODNN7EXAMPLE"}


def _skip_reason() -> str | None:
    stack = os.environ.get("MLOPS_STACK_NAME", "")
    if not stack:
        return "e2e: set MLOPS_STACK_NAME to the deployed stack (e.g. governed-mlops-dev)"
    if any(name.startswith("MOTO_") for name in os.environ) or os.environ.get("MLOPS_BACKEND") == "local":
        return "e2e: moto or the local runtime is configured in this process; these tests need real AWS"
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        return "e2e: no AWS credentials (profile, environment or instance role) found"
    if credentials.get_frozen_credentials().access_key in _FAKE_ACCESS_KEYS:
        return "e2e: the AWS credentials are moto's fake ones; these tests need a real account"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def stack_outputs() -> dict[str, str]:
    """The deployed stack's outputs by key."""
    name = os.environ["MLOPS_STACK_NAME"]
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="session")
def sfn() -> Any:
    return boto3.client("stepfunctions")
