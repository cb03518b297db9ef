"""LambdaHost: the fault hook, Lambda service errors and the function timeout, on a tiny handler.

No moto, no sockets: the host imports a handler written to a temporary directory and runs it in-process.
"""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from governed_mlops_local.lambda_host import TIMED_OUT, InvocationError, LambdaHost, LambdaServiceError
from governed_mlops_local.template import FunctionSpec
from tests.waiting import stall, until

LOCAL_ARN = "arn:aws:lambda:us-east-1:000000000000:function:local-sagemaker-createModel"
HANDLER = textwrap.dedent(
    """
    from tests.waiting import stall

    CALLS = []

    def lambda_handler(event, context):
        CALLS.append(event)
        if event.get("sleep"):
            # A slow handler: many short steps, as real work is many Python instructions.
            stall(event["sleep"])
            CALLS.append("finished after sleeping")
        return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis()}
    """
)


class InjectedFault(RuntimeError):
    """A handler exception that no Retry lists."""


def make_spec(tmp_path: Path, timeout: int = 30) -> FunctionSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(HANDLER, encoding="utf-8")
    return FunctionSpec(
        logical_id="EchoFunction",
        name="stack-echofunction",
        arn="arn:aws:lambda:us-east-1:000000000000:function:stack-echofunction",
        code_dir=code,
        handler="app.lambda_handler",
        environment={},
        timeout=timeout,
    )


@pytest.fixture
def spec(tmp_path: Path) -> FunctionSpec:
    return make_spec(tmp_path)


@pytest.fixture
def host(tmp_path: Path, spec: FunctionSpec) -> LambdaHost:
    lambda_host = LambdaHost(tmp_path / "logs", {})
    lambda_host.add_function(spec)
    return lambda_host


def handler_calls(host: LambdaHost) -> list[Any]:
    # The module the host cold-started (private on purpose: tests look at what the handler saw).
    return list(host._modules["EchoFunction"].CALLS)


def test_the_hook_sees_the_logical_id_and_payload_of_every_invocation(host: LambdaHost, spec: FunctionSpec) -> None:
    seen: list[tuple[str, Any]] = []
    host.fault_hook = lambda function, payload: seen.append((function, payload))

    result = host.invoke(spec.arn, {"n": 1})

    assert result["echo"] == {"n": 1}
    assert seen == [("EchoFunction", {"n": 1})]


def test_an_exception_from_the_hook_fails_the_invocation_like_the_handler_would(
    host: LambdaHost, spec: FunctionSpec
) -> None:
    # Given a hook that raises before the handler runs
    def fail(function: str, payload: Any) -> None:
        raise InjectedFault(f"{function} failed on {payload}")

    host.fault_hook = fail

    # When the function is invoked
    with pytest.raises(InvocationError) as caught:
        host.invoke(spec.arn, {"n": 2})

    # Then Step Functions would see the exception's class name, and the handler never ran
    assert caught.value.error_type == "InjectedFault"
    assert "EchoFunction failed" in str(caught.value)
    assert handler_calls(host) == []


@pytest.mark.parametrize(
    ("code", "status"),
    [("ServiceException", 500), ("TooManyRequestsException", 429), ("SdkClientException", 500)],
    ids=["service-exception", "throttled", "sdk-client"],
)
def test_a_lambda_service_error_reaches_the_caller_with_its_code_and_status(
    host: LambdaHost, spec: FunctionSpec, code: str, status: int
) -> None:
    def service_down(function: str, payload: Any) -> None:
        raise LambdaServiceError(code)

    host.fault_hook = service_down

    with pytest.raises(LambdaServiceError) as caught:
        host.invoke(spec.arn, {})

    assert (caught.value.code, caught.value.status, caught.value.error_type) == (code, status, code)
    assert handler_calls(host) == []


def test_a_handler_that_outlives_its_timeout_fails_with_sandbox_timedout(host: LambdaHost, spec: FunctionSpec) -> None:
    # Given a function whose timeout is shortened to 0.2 s
    host.set_timeout("EchoFunction", 0.2)

    # When its handler needs 1 s
    with pytest.raises(InvocationError) as caught:
        host.invoke(spec.arn, {"sleep": 1.0})

    # Then the invocation fails as Lambda reports a timeout, without waiting for the handler
    assert caught.value.error_type == TIMED_OUT == "Sandbox.Timedout"
    assert str(caught.value).startswith("RequestId: ")
    assert str(caught.value).endswith("Error: Task timed out after 0.20 seconds")
    assert "finished after sleeping" not in handler_calls(host)


def test_a_timed_out_handler_is_stopped_and_does_no_more_work(host: LambdaHost, spec: FunctionSpec) -> None:
    host.set_timeout(spec.name, 0.2)

    with pytest.raises(InvocationError):
        host.invoke(spec.arn, {"sleep": 0.6})
    # Once its thread is gone (a handler left running would finish after 0.6 s and say so)
    until(
        lambda: not [t for t in threading.enumerate() if t.name == "lambda-EchoFunction"],
        5,
        "the timed-out handler's thread to end",
        poll=0.01,
    )

    assert "finished after sleeping" not in handler_calls(host)


def test_a_slow_hook_counts_against_the_timeout(host: LambdaHost, spec: FunctionSpec) -> None:
    host.set_timeout(spec.arn, 0.2)

    def slow(function: str, payload: Any) -> None:
        stall(1.0)

    host.fault_hook = slow

    with pytest.raises(InvocationError) as caught:
        host.invoke(spec.arn, {})

    assert caught.value.error_type == "Sandbox.Timedout"
    assert handler_calls(host) == []


def test_a_handler_within_its_timeout_returns_and_sees_the_shortened_deadline(
    host: LambdaHost, spec: FunctionSpec
) -> None:
    host.set_timeout("EchoFunction", 2)

    result = host.invoke(spec.arn, {"sleep": 0.05})

    assert 0 < result["remaining_ms"] <= 2000


def test_the_template_timeout_applies_until_overridden_and_after_a_reset(host: LambdaHost, spec: FunctionSpec) -> None:
    assert host.timeout_of(spec) == 30.0
    host.set_timeout("EchoFunction", 1.5)
    assert host.timeout_of(spec) == 1.5
    host.set_timeout("EchoFunction", None)
    assert host.timeout_of(spec) == 30.0


def test_a_scoped_timeout_applies_only_to_the_invocations_it_accepts(host: LambdaHost, spec: FunctionSpec) -> None:
    # Given a 0.2 s timeout for one execution's invocations only
    host.set_timeout("EchoFunction", 0.2, when=lambda payload: payload.get("execution_name") == "slow-run")

    # When both executions' calls need 0.4 s
    other = host.invoke(spec.arn, {"execution_name": "other-run", "sleep": 0.4})
    with pytest.raises(InvocationError) as caught:
        host.invoke(spec.arn, {"execution_name": "slow-run", "sleep": 0.4})

    # Then only the chosen one times out
    assert other["echo"]["execution_name"] == "other-run"
    assert caught.value.error_type == "Sandbox.Timedout"


@pytest.mark.parametrize(
    ("function", "seconds", "error"), [("NoSuchFunction", 1.0, KeyError), ("EchoFunction", 0, ValueError)]
)
def test_a_bad_timeout_override_is_refused(host: LambdaHost, function: str, seconds: float, error: type) -> None:
    with pytest.raises(error):
        host.set_timeout(function, seconds)


def test_a_local_emulator_function_gets_the_hook_with_its_arn(host: LambdaHost) -> None:
    # Given an emulated service integration (no Lambda timeout applies to those)
    host.add_local_function(LOCAL_ARN, lambda request: {"ModelArn": request["ModelName"]})
    seen: list[str] = []
    host.fault_hook = lambda function, payload: seen.append(function)

    result = host.invoke(LOCAL_ARN, {"ModelName": "m"})

    assert result == {"ModelArn": "m"}
    assert seen == [LOCAL_ARN]


def test_an_error_from_the_hook_on_a_local_function_keeps_its_error_type(host: LambdaHost) -> None:
    class SageMakerThrottled(Exception):
        error_type = "SageMaker.ThrottlingException"

    def throttle(function: str, payload: Any) -> None:
        raise SageMakerThrottled("Rate exceeded")

    host.add_local_function(LOCAL_ARN, lambda request: {})
    host.fault_hook = throttle

    with pytest.raises(InvocationError) as caught:
        host.invoke(LOCAL_ARN, {})

    assert caught.value.error_type == "SageMaker.ThrottlingException"
