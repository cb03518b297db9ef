"""The moto internals the local runtime patches or imports: fail loudly, and say where, if they move.

``governed_mlops.local`` replaces two private moto methods and uses two moto internals. A moto upgrade
that renames any of them would otherwise surface as executions that "succeed" with echoed payloads or
as a confusing AttributeError deep inside a run. Only imports moto: no server, no sockets.
"""

from __future__ import annotations

import inspect
import json
import tomllib
from pathlib import Path
from typing import Any

import moto
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_HOST = "governed_mlops/local/lambda_host.py (LambdaHost.patch_moto)"
RUNTIME = "governed_mlops/local/runtime.py"


def locked_version(package: str) -> str:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    versions = [entry["version"] for entry in lock.get("package", []) if entry.get("name") == package]
    assert len(versions) == 1, f"uv.lock should pin exactly one {package} version, found {versions}"
    return str(versions[0])


def parameter_names(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_installed_moto_is_the_locked_version() -> None:
    # The patch points below were verified against the locked moto; a different one may have moved them.
    locked = locked_version("moto")

    assert moto.__version__ == locked, (
        f"moto {moto.__version__} is installed but uv.lock pins {locked}: run 'uv sync', or after a deliberate "
        f"upgrade re-check every patch point in {LAMBDA_HOST} and {RUNTIME} and update this test"
    )


def test_lambda_simple_backend_invoke_is_the_patch_point() -> None:
    # Given the backend moto's Step Functions interpreter calls for Lambda tasks without Docker
    from moto.awslambda_simple.models import LambdaSimpleBackend

    # Then its invoke has the signature the in-process host replaces it with
    invoke = getattr(LambdaSimpleBackend, "invoke", None)
    assert callable(invoke), (
        f"moto.awslambda_simple.models.LambdaSimpleBackend.invoke is gone: find moto's new Lambda invoke "
        f"entry point and update {LAMBDA_HOST}"
    )
    assert parameter_names(invoke) == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ], f"LambdaSimpleBackend.invoke{inspect.signature(invoke)} changed: update the replacement in {LAMBDA_HOST}"


def test_step_functions_parser_start_execution_is_the_patch_point() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start_execution = getattr(StepFunctionsParserBackend, "start_execution", None)
    assert callable(start_execution), (
        "moto.stepfunctions.parser.models.StepFunctionsParserBackend.start_execution is gone: update "
        f"LocalRuntime._patch_durable_names in {RUNTIME}"
    )
    assert parameter_names(start_execution) == [
        "self",
        "state_machine_arn",
        "name",
        "execution_input",
        "trace_header",
    ], (
        f"StepFunctionsParserBackend.start_execution{inspect.signature(start_execution)} changed: update "
        f"LocalRuntime._patch_durable_names in {RUNTIME}"
    )


S3_EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "data-bucket"}, "object": {"key": "datasets/german_credit.csv"}},
}
PATTERN_FIX = f"moto.events.models.EventPattern changed: update LocalRuntime.send_event in {RUNTIME}"


def event_pattern_matches(pattern: dict[str, Any], event: Any) -> bool:
    from moto.events.models import EventPattern

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.s3"], "detail-type": ["Object Created"]}, True),
        ({"source": ["aws.codecommit"]}, False),
        ({"detail": {"object": {"key": [{"prefix": "datasets/"}]}}}, True),
        ({"detail": {"object": {"key": [{"prefix": "models/"}]}}}, False),
    ],
    ids=["exact-match", "exact-mismatch", "prefix-match", "prefix-mismatch"],
)
def test_event_pattern_matches_like_eventbridge(pattern: dict[str, Any], expected: bool) -> None:
    assert event_pattern_matches(pattern, S3_EVENT) is expected, PATTERN_FIX


def test_execution_already_exists_is_importable_with_its_aws_error_code() -> None:
    # The runtime raises it for a reused name; boto3 must see the code StepFunctionsPipeline.start catches.
    try:
        from moto.stepfunctions.exceptions import ExecutionAlreadyExists
    except ImportError as exc:  # pragma: no cover - only when moto moved it
        pytest.fail(f"moto.stepfunctions.exceptions.ExecutionAlreadyExists is gone ({exc}): update {RUNTIME}")

    error = ExecutionAlreadyExists("Execution Already Exists: 'arn'")

    assert error.error_type == "ExecutionAlreadyExists", (
        f"ExecutionAlreadyExists now reports {error.error_type!r}: duplicate detection in "
        f"governed_mlops/adapters/pipeline.py and the raise in {RUNTIME} need updating"
    )
