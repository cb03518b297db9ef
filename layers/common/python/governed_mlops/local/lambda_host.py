"""Run Lambda handlers in-process, as moto's Step Functions interpreter invokes them.

Each function module is imported once (its cold start) with exactly the environment the
template gives it, under a lock because ``os.environ`` is process-wide. Handler output
(Powertools JSON logs, EMF metrics) goes to a per-function log file, like CloudWatch Logs,
so the console stays readable.
"""

from __future__ import annotations

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
from typing import Any, TextIO

from moto.awslambda_simple.models import LambdaSimpleBackend

from governed_mlops.local.template import FunctionSpec

LocalFunction = Callable[[Any], Any]

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


class LambdaHost:
    """Maps function ARNs to template functions or local emulator functions and runs them."""

    def __init__(self, log_dir: Path, extra_environment: dict[str, str]) -> None:
        self._log_dir = log_dir
        self._extra_env = extra_environment
        self._specs: dict[str, FunctionSpec] = {}
        self._local: dict[str, LocalFunction] = {}
        self._modules: dict[str, ModuleType] = {}
        self._load_lock = threading.Lock()
        self.invocations: list[tuple[str, float]] = []

    def set_environment(self, name: str, value: str) -> None:
        """Override a variable for every function not yet cold-started (e.g. the local API's URL)."""
        self._extra_env[name] = value

    def add_function(self, spec: FunctionSpec) -> None:
        self._specs[spec.arn] = spec
        self._specs[spec.name] = spec

    def add_local_function(self, arn: str, func: LocalFunction) -> None:
        self._local[arn] = func

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
        """Invoke by ARN or name; raises InvocationError with the handler's exception class name."""
        started = time.perf_counter()
        arn = function.split(":$LATEST")[0]
        try:
            if arn in self._local:
                with self._log_sink(arn.rsplit(":", 1)[-1]):
                    return self._local[arn](payload)
            spec = self._specs.get(arn) or self._specs.get(arn.rsplit(":", 1)[-1])
            if spec is None:
                raise InvocationError("ResourceNotFoundException", f"Function not found: {function}")
            module = self._module(spec)
            handler = getattr(module, spec.handler.rpartition(".")[2])
            context = LambdaContext(
                function_name=spec.name,
                invoked_function_arn=spec.arn,
                log_group_name=f"/aws/lambda/{spec.name}",
                deadline=time.monotonic() + spec.timeout,
            )
            with self._log_sink(spec.logical_id):
                return handler(payload, context)
        except InvocationError:
            raise
        except Exception as exc:
            with self._log_sink("errors"):
                traceback.print_exc(file=sys.stdout)
            raise InvocationError(getattr(exc, "error_type", type(exc).__name__), str(exc)) from exc
        finally:
            self.invocations.append((function, time.perf_counter() - started))

    def patch_moto(self) -> Callable[[], None]:
        """Route moto's Lambda invocations to this host; returns the undo function."""
        original = LambdaSimpleBackend.invoke
        host = self

        def invoke(
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
            except InvocationError as exc:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}).encode()
            return json.dumps(result).encode()

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]

        def undo() -> None:
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]

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
