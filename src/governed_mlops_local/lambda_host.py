"""Run Lambda handlers in-process, as moto's Step Functions interpreter invokes them.

Each function module is imported once (its cold start) with exactly the environment the
template gives it, under a lock because ``os.environ`` is process-wide. Handler output
(Powertools JSON logs, EMF metrics) goes to a per-function log file, like CloudWatch Logs,
so the console stays readable.

The template's ``Timeout`` is enforced as Lambda enforces it: an invocation still running when
it expires fails with ``Sandbox.Timedout`` ("Task timed out after N.NN seconds"), and its thread
is stopped at its next Python instruction (Lambda kills the sandbox; a blocking C call here runs
to its end first). The cold start is not timed (Lambda gives the Init phase its own limit).

Fault injection (tests): :attr:`LambdaHost.fault_hook` runs at the start of every invocation,
inside it; :meth:`LambdaHost.set_timeout` shortens a function's timeout. A hook raising
:class:`LambdaServiceError` makes the Invoke API call itself fail with that HTTP error, as when the
Lambda service fails; Step Functions then reports ``Lambda.<code>``, e.g. ``Lambda.ServiceException``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, cast

from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from governed_mlops_local.template import FunctionSpec

LocalFunction = Callable[[Any], Any]
#: ``fault_hook(function, payload)``: ``function`` is the template logical id (``ValidateDataFunction``)
#: or, for a local emulator function, its ARN.
FaultHook = Callable[[str, Any], None]
#: The error type Lambda reports for an invocation that ran out of time.
TIMED_OUT = "Sandbox.Timedout"

_env_lock = threading.Lock()
_sink = threading.local()


class _ThreadRoutedStdout(io.TextIOBase):
    """sys.stdout replacement: writes from an invocation go to that function's log file."""

    def __init__(self, console: TextIO) -> None:
        self.console = console

    def write(self, text: str) -> int:
        target: TextIO | None = getattr(_sink, "stream", None)
        return (target or self.console).write(text)

    def flush(self) -> None:
        target = getattr(_sink, "stream", None)
        (target or self.console).flush()

    def isatty(self) -> bool:
        return self.console.isatty()


def install_stdout_router() -> None:
    """Must run before any handler (and so Powertools' Logger) is imported."""
    if not isinstance(sys.stdout, _ThreadRoutedStdout):
        sys.stdout = _ThreadRoutedStdout(sys.stdout)


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class InvocationError(Exception):
    """Carries the Lambda error shape (errorType / errorMessage) back to Step Functions."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class LambdaServiceError(InvocationError):
    """The Lambda service failed the Invoke call itself (the handler did not run).

    ``code`` is the Invoke API error code (``ServiceException``, ``TooManyRequestsException``...),
    returned with HTTP ``status``; Step Functions names the failure ``Lambda.<code>``.
    """

    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        super().__init__(code, message or f"{code} (injected Lambda service error)")
        self.code = code
        self.status = status or (429 if code == "TooManyRequestsException" else 500)


class _SandboxStopped(BaseException):
    """Raised inside an invocation's thread when its timeout expired (BaseException: handlers must not catch it)."""


class _Sandbox:
    """One invocation's thread, which the host can stop once (and never after it finished)."""

    def __init__(self, name: str, body: Callable[[], Any]) -> None:
        self._body = body
        self._lock = threading.Lock()
        self._finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            try:
                self.result = self._body()
            except _SandboxStopped:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised in the invoking thread
                self.error = exc
            with self._lock:
                self._finished = True
        except _SandboxStopped:
            return

    def run(self, timeout: float) -> bool:
        """Run the body; False when it was still running after ``timeout`` seconds (it is then stopped)."""
        self._thread.start()
        self._thread.join(timeout)
        with self._lock:
            if self._finished:
                return True
            ident = self._thread.ident
            if ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_SandboxStopped))
            return False


class LambdaHost:
    """Maps function ARNs to template functions or local emulator functions and runs them."""

    def __init__(self, log_dir: Path, extra_environment: dict[str, str]) -> None:
        self._log_dir = log_dir
        self._extra_env = extra_environment
        self._specs: dict[str, FunctionSpec] = {}
        self._local: dict[str, LocalFunction] = {}
        self._modules: dict[str, ModuleType] = {}
        self._load_lock = threading.Lock()
        self._timeouts: dict[str, tuple[float, Callable[[Any], bool] | None]] = {}
        self.invocations: list[tuple[str, float]] = []
        #: Tests inject faults through this hook (see the module docstring): raise an exception to fail
        #: like the handler, :class:`LambdaServiceError` to fail like the Lambda service, or be slow.
        self.fault_hook: FaultHook | None = None

    def set_environment(self, name: str, value: str) -> None:
        """Override a variable for every function not yet cold-started (e.g. the local API's URL)."""
        self._extra_env[name] = value

    def add_function(self, spec: FunctionSpec) -> None:
        self._specs[spec.arn] = spec
        self._specs[spec.name] = spec

    def add_local_function(self, arn: str, func: LocalFunction) -> None:
        self._local[arn] = func

    def _spec(self, function: str) -> FunctionSpec | None:
        return self._specs.get(function) or self._specs.get(function.rsplit(":", 1)[-1])

    def set_timeout(self, function: str, seconds: float | None, *, when: Callable[[Any], bool] | None = None) -> None:
        """Override a template function's ``Timeout`` (by logical id, name or ARN); None restores it.

        With ``when``, only invocations whose payload it accepts get the override, so a test can time
        out one execution's call while other executions run the same function normally.
        """
        spec = self._spec(function) or next((s for s in self._specs.values() if s.logical_id == function), None)
        if spec is None:
            raise KeyError(f"no template function {function!r}")
        if seconds is None:
            self._timeouts.pop(spec.logical_id, None)
        elif seconds > 0:
            self._timeouts[spec.logical_id] = (seconds, when)
        else:
            raise ValueError(f"a timeout must be positive, got {seconds}")

    def timeout_of(self, spec: FunctionSpec, payload: Any = None) -> float:
        """The timeout an invocation of ``spec`` with ``payload`` gets: the template's, unless overridden."""
        override = self._timeouts.get(spec.logical_id)
        if override is not None and (override[1] is None or override[1](payload)):
            return override[0]
        return float(spec.timeout)

    def _module(self, spec: FunctionSpec) -> ModuleType:
        with self._load_lock:
            module = self._modules.get(spec.logical_id)
            if module is not None:
                return module
            file_name, _, _ = spec.handler.rpartition(".")
            source = spec.code_dir / f"{file_name.replace('.', '/')}.py"
            loader_spec = importlib.util.spec_from_file_location(f"mlops_function_{spec.logical_id}", source)
            if loader_spec is None or loader_spec.loader is None:
                raise InvocationError("Runtime.ImportModuleError", f"cannot load {source}")
            module = importlib.util.module_from_spec(loader_spec)
            with _env_lock, _environment({**spec.environment, **self._extra_env}):
                loader_spec.loader.exec_module(module)
            self._modules[spec.logical_id] = module
            return module

    @contextmanager
    def _log_sink(self, name: str) -> Iterator[None]:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with (self._log_dir / f"{name}.log").open("a", encoding="utf-8") as stream:
            previous = getattr(_sink, "stream", None)
            _sink.stream = stream
            try:
                yield
            finally:
                _sink.stream = previous

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke by ARN or name.

        Raises InvocationError with the handler's exception class name as ``error_type`` (``Sandbox.Timedout``
        when it ran out of time), or LambdaServiceError when the (injected) Lambda service failed the call.
        """
        started = time.perf_counter()
        arn = function.split(":$LATEST", maxsplit=1)[0]
        try:
            if arn in self._local:
                with self._log_sink(arn.rsplit(":", 1)[-1]):
                    self._inject_fault(arn, payload)
                    return self._local[arn](payload)
            spec = self._spec(arn)
            if spec is None:
                raise InvocationError("ResourceNotFoundException", f"Function not found: {function}")
            return self._run(spec, payload)
        except InvocationError:
            raise
        except Exception as exc:
            with self._log_sink("errors"):
                traceback.print_exception(exc, file=sys.stdout)
            raise InvocationError(getattr(exc, "error_type", type(exc).__name__), str(exc)) from exc
        finally:
            self.invocations.append((function, time.perf_counter() - started))

    def _inject_fault(self, function: str, payload: Any) -> None:
        hook = self.fault_hook
        if hook is not None:
            hook(function, payload)

    def _run(self, spec: FunctionSpec, payload: Any) -> Any:
        """One invocation of a template function, in its own thread, bounded by the function's timeout."""
        module = self._module(spec)
        handler = getattr(module, spec.handler.rpartition(".")[2])
        timeout = self.timeout_of(spec, payload)
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            log_group_name=f"/aws/lambda/{spec.name}",
            deadline=time.monotonic() + timeout,
        )

        def body() -> Any:
            with self._log_sink(spec.logical_id):
                self._inject_fault(spec.logical_id, payload)
                return handler(payload, context)

        sandbox = _Sandbox(f"lambda-{spec.logical_id}", body)
        if not sandbox.run(timeout):
            raise InvocationError(
                TIMED_OUT, f"RequestId: {context.aws_request_id} Error: Task timed out after {timeout:.2f} seconds"
            )
        if sandbox.error is not None:
            raise sandbox.error
        return sandbox.result

    def patch_moto(self) -> Callable[[], None]:
        """Route moto's Lambda invocations to this host; returns the undo function.

        Also names Lambda API errors on plain-ARN Lambda tasks ``Lambda.<code>``, as Step Functions
        does (moto's engine calls them all ``Exception``; it already does it for ``lambda:invoke``).
        """
        original_invoke = LambdaSimpleBackend.invoke
        original_from_error = StateTaskLambda._from_error
        host = self

        def invoke(  # noqa: PLR0917 - moto's LambdaSimpleBackend.invoke, which moto calls positionally
            backend: LambdaSimpleBackend,  # noqa: ARG001 - moto's signature
            function_name: str,
            qualifier: str | None,  # noqa: ARG001
            body: Any,
            headers: Any,  # noqa: ARG001
            response_headers: Any,
        ) -> bytes:
            payload = json.loads(body) if body else {}
            try:
                result = host.invoke(function_name, payload)
            except LambdaServiceError as exc:
                api_error = JsonRESTError(exc.code, str(exc))
                api_error.code = exc.status
                raise api_error from exc
            except InvocationError as exc:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}).encode()
            return json.dumps(result).encode()

        def from_error(task: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
            if not isinstance(ex, ClientError):
                return original_from_error(task, env, ex)
            error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.LambdaFunctionFailed,
                # EventDetails is a total TypedDict in moto's stubs, yet one detail per event is AWS's shape.
                event_details=cast(
                    EventDetails,
                    {"lambdaFunctionFailedEventDetails": LambdaFunctionFailedEventDetails(error=error, cause=cause)},
                ),
            )

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        StateTaskLambda._from_error = from_error  # type: ignore[method-assign,assignment]

        def undo() -> None:
            LambdaSimpleBackend.invoke = original_invoke  # type: ignore[method-assign]
            StateTaskLambda._from_error = original_from_error  # type: ignore[method-assign]

        return undo


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` for a cold start, then put back exactly those keys.

    Never ``clear()`` the environment: other threads (moto's execution workers, boto3 clients) read
    it concurrently, and a moment without MOTO_ACCOUNT_ID or the fake credentials sends their calls
    to another account's backend.
    """
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
