"""The moto internals the local runtime patches or imports: fail loudly, and say where, if they move.

``governed_mlops_local`` replaces private moto methods and module globals and uses moto internals. A moto
upgrade that renames any of them would otherwise surface as executions that "succeed" with echoed payloads
or as a confusing AttributeError deep inside a run. Only imports moto: no server, no sockets.
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
LAMBDA_HOST = "governed_mlops_local/lambda_host.py (LambdaHost.patch_moto)"
RUNTIME = "governed_mlops_local/runtime.py"
ASL_ENGINE = "governed_mlops_local/asl_engine.py"


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


def test_lambda_task_error_naming_is_the_patch_point() -> None:
    # Given the method moto's engine uses to name a plain-ARN Lambda Task's failure, and the helper the
    # lambda:invoke integration uses to name Lambda API errors (Lambda.<code>) that the patch reuses
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

    from_error = getattr(StateTaskLambda, "_from_error", None)
    name_client_error = getattr(StateTaskServiceLambda, "_error_cause_from_client_error", None)

    # Then both are where, and as, the patch expects
    assert callable(from_error), f"StateTaskLambda._from_error is gone: update the error naming in {LAMBDA_HOST}"
    assert parameter_names(from_error) == ["self", "env", "ex"], (
        f"StateTaskLambda._from_error{inspect.signature(from_error)} changed: update {LAMBDA_HOST}"
    )
    assert callable(name_client_error), (
        f"StateTaskServiceLambda._error_cause_from_client_error is gone: name Lambda API errors in {LAMBDA_HOST}"
    )
    assert parameter_names(name_client_error) == ["client_error"], (
        f"_error_cause_from_client_error{inspect.signature(name_client_error)} changed: update {LAMBDA_HOST}"
    )


def test_fail_state_error_name_is_the_patch_point() -> None:
    # Given the Fail state's module, whose error name the local runtime lets carry States.* names
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.fail import state_fail

    # Then it still builds that name from its module global CustomErrorName
    assert getattr(state_fail, "CustomErrorName", None) is CustomErrorName, (
        f"moto's state_fail module no longer imports CustomErrorName: update {ASL_ENGINE}"
    )
    assert "CustomErrorName(error_value)" in inspect.getsource(state_fail.StateFail._eval_state), (
        f"StateFail._eval_state no longer builds its error with CustomErrorName: update {ASL_ENGINE}"
    )


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


REDRIVE = "governed_mlops_local/redrive.py"
SPEEDUPS = "governed_mlops_local/moto_speedups.py"


def test_execution_worker_hooks_used_by_the_journal_redrive_and_program_cache() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    for name in ("_get_evaluation_environment", "_get_evaluation_entrypoint", "_execution_logic"):
        assert callable(getattr(ExecutionWorker, name, None)), (
            f"ExecutionWorker.{name} is gone: update {REDRIVE} and {SPEEDUPS}"
        )
    assert callable(getattr(Execution, "_get_start_execution_worker", None)), (
        f"Execution._get_start_execution_worker is gone: update _RedrivenExecution in {REDRIVE}"
    )
    assert "input_data" in parameter_names(Execution.__init__), f"Execution() changed: update redrive() in {REDRIVE}"


def test_create_state_machine_validates_through_the_patched_static_method() -> None:
    # The program cache replaces it so that the validation's parse serves the first execution too.
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    validate = inspect.getattr_static(StepFunctionsParserBackend, "_validate_definition", None)
    assert isinstance(validate, staticmethod), (
        f"StepFunctionsParserBackend._validate_definition is gone or no longer static: update {SPEEDUPS}"
    )
    assert parameter_names(validate.__func__) == ["definition"]
    assert "._validate_definition(" in inspect.getsource(StepFunctionsParserBackend.create_state_machine), (
        f"create_state_machine no longer validates through _validate_definition: update {SPEEDUPS}"
    )


def test_the_event_list_the_journal_replaces_and_the_context_redrive_count_extends() -> None:
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.states import States

    manager = EventManager(cloud_watch_logging_session=None)
    assert isinstance(getattr(manager, "_history_event_list", None), list), (
        f"EventManager._history_event_list is gone: update install_journal in {REDRIVE}"
    )
    assert callable(getattr(States, "reset", None)), f"States.reset is gone: update _RedriveWorker in {REDRIVE}"


def test_the_task_client_factory_is_a_module_global_of_lambda_eval_utils() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    assert callable(getattr(lambda_eval_utils, "boto_client_for", None)), (
        f"lambda_eval_utils.boto_client_for is gone: update install_task_client_cache in {SPEEDUPS}"
    )


S3_EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "data-bucket"}, "object": {"key": "datasets/credit-risk/german_credit.csv"}},
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
