"""What AWS does around the deployed functions, on the parity stack in moto.

The stack (:mod:`tests.parity.stack`) is what CloudFormation created; this module plays the AWS
services that act on it, each with exactly the identity AWS would use:

* **Lambda**: every handler runs in-process with ``MLOPS_BACKEND=aws`` from its own template
  environment (read back from moto's Lambda), plus what the Lambda runtime adds (``AWS_REGION``,
  ``AWS_LAMBDA_FUNCTION_NAME``, and the credentials of the function's execution role, obtained with
  ``sts:AssumeRole`` after checking that the role trusts ``lambda.amazonaws.com``). Each function
  is its own sandbox, as in AWS: its own import of the layer package (module-level caches and
  boto3 clients are never shared between functions) and its own environment; invocations run one
  at a time because ``os.environ`` is process-wide.
  What a handler prints (Powertools' JSON records, an unhandled exception) goes to the function's
  CloudWatch Logs group (its ``LoggingConfig.LogGroup``, which GetFunctionConfiguration answers as
  Lambda does), framed by Lambda's ``START``/``END``/``REPORT`` lines with the request id, in one log
  stream per sandbox (an execution environment runs one request at a time), as Lambda writes it.
* **EventBridge**: an event goes through every rule of the stack (patterns from moto's events
  backend, matched with moto's pattern matcher) and is delivered to the rule's targets, after
  checking the target function's resource policy admits ``events.amazonaws.com`` from that rule.
* **Step Functions**: moto's interpreter runs the deployed definition; every service call it makes
  (Lambda invokes, ``aws-sdk`` integrations, SageMaker) is signed with the state machine's role.
  When an execution ends, the ``Step Functions Execution Status Change`` event goes to the bus.
* **API Gateway + the session authorizer**: a request carries the approver's session cookie; the
  template's Lambda REQUEST authorizer runs under its own role and its IAM policy decides (403 on Deny);
  its principalId and context reach the function in a REST API proxy event. Approvers sign in through
  the login function and a double of the managed login (:mod:`tests.parity.managed_login`) with SRP and
  TOTP on moto's user pool; the ID tokens are moto's, verified against the JWKS moto serves.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.session
from botocore.config import Config
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.events.models import EventPattern, EventsBackend

from governed_mlops.domain.login import SESSION_COOKIE
from governed_mlops_local.asl_engine import install_fail_state_forwards_states_errors, install_qualified_start_execution
from governed_mlops_local.moto_speedups import install_json_copy, install_json_path_cache, install_program_cache
from tests.parity import sagemaker_service
from tests.parity.codecommit import GitCodeCommit
from tests.parity.iam import CallRecorder
from tests.parity.managed_login import MOTO_TOTP_SWITCH, ManagedLoginDouble
from tests.parity.redrive import install_redrive_api
from tests.parity.sagemaker_service import SageMakerService
from tests.parity.stack import HARNESS_CREDENTIALS, DeployedFunction, ParityStack
from tests.waiting import within

#: Packages a Lambda function imports from its layer: each function gets its own copy.
_LAYER_PACKAGES = ("governed_mlops",)
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


_THREAD = threading.local()


def _thread_default_session() -> Callable[[], None]:
    """``boto3.client()`` in a function's invocation thread uses that function's session."""
    original = boto3._get_default_session

    def default_session() -> boto3.Session:
        session = getattr(_THREAD, "session", None)
        return session if session is not None else original()

    boto3._get_default_session = default_session

    def undo() -> None:
        boto3._get_default_session = original

    return undo


class InvocationError(Exception):
    """The Lambda error shape: the handler's exception class name and message."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class DeliveryRefused(Exception):
    """A service could not invoke a function: its resource policy does not admit the caller."""


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "parity"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class Identities:
    """Credentials per role, from ``sts:AssumeRole`` on moto, each registered with the call recorder."""

    def __init__(self, stack: ParityStack, recorder: CallRecorder) -> None:
        self._stack = stack
        self._recorder = recorder
        self._iam = boto3.client("iam", region_name=stack.region, **HARNESS_CREDENTIALS)
        self._sts = boto3.client("sts", region_name=stack.region, **HARNESS_CREDENTIALS)
        self._credentials: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        recorder.ignore(HARNESS_CREDENTIALS["aws_access_key_id"])

    def trusts(self, role_arn: str, service: str) -> bool:
        document = self._iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        for statement in document.get("Statement", []):
            principals = statement.get("Principal", {}).get("Service", [])
            principals = [principals] if isinstance(principals, str) else principals
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and service in principals and "sts:AssumeRole" in actions:
                return True
        return False

    def credentials(self, role_arn: str, service: str) -> dict[str, str]:
        """What ``service`` gets when it assumes ``role_arn`` (refused unless the role trusts it)."""
        with self._lock:
            cached = self._credentials.get(role_arn)
            if cached is not None:
                return cached
            if not self.trusts(role_arn, service):
                raise DeliveryRefused(f"{role_arn} does not trust {service} (AssumeRolePolicyDocument)")
            answer = self._sts.assume_role(RoleArn=role_arn, RoleSessionName=service.split(".")[0])["Credentials"]
            creds = {
                "aws_access_key_id": answer["AccessKeyId"],
                "aws_secret_access_key": answer["SecretAccessKey"],
                "aws_session_token": answer["SessionToken"],
            }
            self._recorder.register(answer["AccessKeyId"], role_arn)
            self._credentials[role_arn] = creds
            return creds

    def session(self, role_arn: str, service: str) -> boto3.Session:
        return boto3.Session(region_name=self._stack.region, **self.credentials(role_arn, service))


class _LogRouter(io.TextIOBase):
    """sys.stdout while the runtime is up: an invocation's output goes to its function's log file."""

    def __init__(self, console: TextIO) -> None:
        self.console = console
        self.sink: TextIO | None = None

    def write(self, text: str) -> int:
        return (self.sink or self.console).write(text)

    def flush(self) -> None:
        (self.sink or self.console).flush()


@dataclass
class _Sandbox:
    function: DeployedFunction
    environment: dict[str, str]
    module: ModuleType | None = None
    layer_modules: dict[str, ModuleType] = field(default_factory=dict)
    #: What the current invocation printed (delivered to CloudWatch Logs when it ends).
    printed: io.StringIO = field(default_factory=io.StringIO)


class _Tee(io.TextIOBase):
    """The function's log file and the invocation's buffer."""

    def __init__(self, file: TextIO, buffer: io.StringIO) -> None:
        self._file, self._buffer = file, buffer

    def write(self, text: str) -> int:
        self._buffer.write(text)
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()


class ParityLambda:
    """The Lambda service for the stack's functions (see the module docstring)."""

    def __init__(self, stack: ParityStack, identities: Identities, log_dir: Path) -> None:
        self._stack = stack
        self._identities = identities
        self.log_dir = log_dir
        self._by_arn = {f.arn: f for f in stack.functions.values()} | {f.name: f for f in stack.functions.values()}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._lock = threading.RLock()
        #: Every template variable of every function: none of them leaks into another function.
        self._template_keys = {k for f in stack.functions.values() for k in f.environment}
        self.invocations: list[tuple[str, str]] = []
        self._router: _LogRouter | None = None
        self._log_groups = function_log_groups(stack)
        self._logs = boto3.client("logs", region_name=stack.region, **HARNESS_CREDENTIALS)
        self._streams: dict[str, str] = {}

    def function(self, arn_or_name: str) -> DeployedFunction:
        key = arn_or_name.split(":$LATEST")[0]
        function = self._by_arn.get(key) or self._by_arn.get(key.rsplit(":", 1)[-1])
        if function is None:
            raise InvocationError("ResourceNotFoundException", f"Function not found: {arn_or_name}")
        return function

    def _sandbox(self, function: DeployedFunction) -> _Sandbox:
        sandbox = self._sandboxes.get(function.logical_id)
        if sandbox is None:
            runtime_env = {
                "AWS_REGION": self._stack.region,
                "AWS_DEFAULT_REGION": self._stack.region,
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "LAMBDA_TASK_ROOT": str(function.code_dir),
                # Lambda's X-Ray daemon is not here; the tracer would only warn about it.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
            creds = self._identities.credentials(function.role_arn, "lambda.amazonaws.com")
            runtime_env |= {
                "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": creds["aws_session_token"],
            }
            sandbox = _Sandbox(function, {**function.environment, **runtime_env})
            self._sandboxes[function.logical_id] = sandbox
        return sandbox

    @contextlib.contextmanager
    def _inside(self, sandbox: _Sandbox) -> Iterator[None]:
        """Make the process look like ``sandbox``'s: its environment, its layer modules, its log."""
        # The function's environment replaces os.environ as a whole (an atomic rebinding), never by mutating
        # the process's mapping: another thread iterating os.environ (botocore reads proxies from it when it
        # builds a client) must never see keys vanish under it.
        process_environ = os.environ
        environment = {k: v for k, v in process_environ.items() if k not in self._template_keys}
        environment.update(sandbox.environment)
        os.environ = environment  # type: ignore[assignment]  # noqa: B003 - a view for this process, not a clear
        saved_modules = {k: m for k, m in sys.modules.items() if k.split(".")[0] in _LAYER_PACKAGES}
        for key in saved_modules:
            del sys.modules[key]
        sys.modules.update(sandbox.layer_modules)
        # The handler's boto3.client(...) calls use its role: a default session for this thread only (other
        # threads keep theirs; os.environ carries the credentials too, as Lambda's does).
        previous_session = getattr(_THREAD, "session", None)
        _THREAD.session = boto3.Session(
            aws_access_key_id=sandbox.environment["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=sandbox.environment["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=sandbox.environment["AWS_SESSION_TOKEN"],
            region_name=self._stack.region,
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        router = self._router
        with (self.log_dir / f"{sandbox.function.logical_id}.log").open("a", encoding="utf-8") as file:
            previous_sink = router.sink if router else None
            log = _Tee(file, sandbox.printed)
            # sys.stdout is the router for the invocation: pytest's output capture swaps sys.stdout between
            # test phases, and a handler's logger binds the stream it finds when its module is imported.
            previous_stdout = sys.stdout
            if router:
                router.sink = log
                sys.stdout = router
            try:
                yield
            finally:
                if router:
                    router.sink = previous_sink
                    sys.stdout = previous_stdout
                sandbox.layer_modules = {k: m for k, m in sys.modules.items() if k.split(".")[0] in _LAYER_PACKAGES}
                for key in sandbox.layer_modules:
                    del sys.modules[key]
                sys.modules.update(saved_modules)
                _THREAD.session = previous_session
                os.environ = process_environ  # noqa: B003 - the process mapping back

    def _deliver_logs(self, sandbox: _Sandbox, request_id: str, started: float, status: str) -> None:
        """The invocation's lines into the function's log group, as Lambda writes them (see the module docstring)."""
        function = sandbox.function
        group = self._log_groups[function.name]
        stream = self._streams.get(function.logical_id)
        if stream is None:
            with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                self._logs.create_log_group(logGroupName=group)  # the template's group exists: nothing to do
            stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
            self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[function.logical_id] = stream
        printed = sandbox.printed.getvalue()
        sandbox.printed.seek(0)
        sandbox.printed.truncate()
        duration = (time.monotonic() - started) * 1000
        ended = int(time.time() * 1000)
        begun = ended - int(duration)
        lines = [line for line in printed.splitlines() if line.strip()]
        lines.append(f"END RequestId: {request_id}")
        report = f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {function.memory_size} MB"
        lines.append(report + ("" if status == "ok" else f"\tStatus: error\tError Type: {status}"))
        events = [{"timestamp": begun, "message": f"START RequestId: {request_id} Version: $LATEST"}]
        self._logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=events + [{"timestamp": ended, "message": line} for line in lines],
        )

    def invoke(self, arn_or_name: str, payload: Any) -> Any:
        """Run the handler; raises :class:`InvocationError` with the exception's class name."""
        function = self.function(arn_or_name)
        with self._lock:
            sandbox = self._sandbox(function)
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            status = "ok"
            try:
                return self._invoke(sandbox, function, payload, request_id)
            except InvocationError as exc:
                status = exc.error_type
                raise
            finally:
                self._deliver_logs(sandbox, request_id, started, status)

    def _invoke(self, sandbox: _Sandbox, function: DeployedFunction, payload: Any, request_id: str) -> Any:
        with self._inside(sandbox):
            try:
                if sandbox.module is None:
                    sandbox.module = _import_handler(function)
                handler = getattr(sandbox.module, function.handler.rpartition(".")[2])
                context = LambdaContext(
                    function_name=function.name,
                    invoked_function_arn=function.arn,
                    memory_limit_in_mb=function.memory_size,
                    aws_request_id=request_id,
                    log_group_name=self._log_groups[function.name],
                    deadline=time.monotonic() + function.timeout,
                )
                result = handler(json.loads(json.dumps(payload)), context)
            except Exception as exc:
                self.invocations.append((function.logical_id, type(exc).__name__))
                print(f"[ERROR] {type(exc).__name__}: {exc}")
                raise InvocationError(type(exc).__name__, str(exc)) from exc
        self.invocations.append((function.logical_id, "ok"))
        return json.loads(json.dumps(result))

    def log_text(self, logical_id: str) -> str:
        path = self.log_dir / f"{logical_id}.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def check_invoke_permission(self, function: DeployedFunction, principal: str, source_arn: str) -> None:
        """Refuse unless the function's resource policy admits ``principal`` from ``source_arn``."""
        client = boto3.client("lambda", region_name=self._stack.region, **HARNESS_CREDENTIALS)
        policy = json.loads(client.get_policy(FunctionName=function.name)["Policy"])
        for statement in policy.get("Statement", []):
            if statement.get("Effect") != "Allow" or statement.get("Principal", {}).get("Service") != principal:
                continue
            condition = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            if condition is None or _arn_like(source_arn, condition):
                return
        raise DeliveryRefused(
            f"{function.logical_id}'s resource policy does not let {principal} invoke it from {source_arn}"
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[ParityLambda]:
        """Route moto's Lambda invocations (Step Functions' tasks) to this service."""
        original = LambdaSimpleBackend.invoke
        service = self

        def invoke(  # noqa: PLR0917 - moto's LambdaSimpleBackend.invoke, which moto calls positionally
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            payload = json.loads(body) if body else {}
            try:
                return json.dumps(service.invoke(function_name, payload)).encode()
            except InvocationError as exc:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}).encode()

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        undo_session = _thread_default_session()
        self._router = _LogRouter(sys.stdout)
        previous_stdout, sys.stdout = sys.stdout, self._router
        try:
            yield self
        finally:
            sys.stdout = previous_stdout
            undo_session()
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


def cookies_set(headers: dict[str, str]) -> dict[str, str]:
    """``name -> value`` of the ``Set-Cookie`` headers of an answer (one per line, as :class:`ParityApi` joins them)."""
    jar = {}
    for line in (headers.get("Set-Cookie") or "").splitlines():
        name, _, value = line.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()
    return jar


@contextlib.contextmanager
def _environment_variable(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _bucket_policies_judged_by_the_checker() -> Callable[[], None]:
    """moto applies bucket policies to object requests with its own evaluator, which counts every
    condition operator but ``StringEquals`` as satisfied: the template's conditional Deny statements
    (encryption, transport) would refuse every put. Bucket policies are evaluated by the IAM checker
    instead (``IamChecker(resource_policies=...)``), with their conditions; moto's check is turned off.
    """
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission

    def get_permission(bucket: FakeBucket, action: str, resource: str) -> PermissionResult:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign,assignment]

    def undo() -> None:
        FakeBucket.get_permission = original  # type: ignore[method-assign]

    return undo


def _context_has_redrive_count() -> Callable[[], None]:
    """``$$.Execution.RedriveCount`` as Step Functions sets it (moto's context object lacks it)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    from tests.parity.redrive import redrive_count

    original = ExecutionWorker._get_evaluation_environment

    def environment(worker: ExecutionWorker) -> Any:
        env = original(worker)
        arn = worker._evaluation_details.execution_details.arn
        execution = env.states.context_object.context_object_data["Execution"]
        execution["RedriveCount"] = redrive_count(arn)  # type: ignore[typeddict-unknown-key]
        return env

    ExecutionWorker._get_evaluation_environment = environment  # type: ignore[method-assign,assignment]

    def undo() -> None:
        ExecutionWorker._get_evaluation_environment = original  # type: ignore[method-assign]

    return undo


def _put_metric_filter_replaces_a_filter_of_the_same_name() -> Callable[[], None]:
    """PutMetricFilter with the name of a filter the log group has replaces it, as CloudWatch Logs does ("creates or
    updates"); moto's adds a second one (a redeployment of an endpoint would list each filter twice)."""
    from moto.logs.metric_filters import MetricFilters

    original = MetricFilters.add_filter

    def add_filter(
        filters: MetricFilters, filter_name: str, filter_pattern: str, log_group_name: str, transformations: str
    ) -> None:
        filters.metric_filters = [
            f for f in filters.metric_filters if (f["filterName"], f["logGroupName"]) != (filter_name, log_group_name)
        ]
        original(filters, filter_name, filter_pattern, log_group_name, transformations)

    MetricFilters.add_filter = add_filter  # type: ignore[method-assign]

    def restore() -> None:
        MetricFilters.add_filter = original  # type: ignore[method-assign]

    return restore


#: How often a ``.sync`` task asks whether its job ended. moto's interpreter asks every 0.5 s; Step Functions
#: learns it from the job's state-change event (the rule ``_ensure_job_events_rule`` creates), within moments.
#: A job of a few tenths of a second would otherwise wait up to half a second more to be seen as ended.
SYNC_CHECK_SECONDS = 0.05


def _sync_tasks_check_every(seconds: float) -> Callable[[], None]:
    """moto's ``.sync`` tasks check their job's status every ``seconds`` (see :data:`SYNC_CHECK_SECONDS`)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    name = "_DELAY_SECONDS_SYNC_CONDITION_CHECK"
    original = getattr(state_task_service_callback, name)
    setattr(state_task_service_callback, name, seconds)

    def restore() -> None:
        setattr(state_task_service_callback, name, original)

    return restore


def _stop_execution_keeps_error_and_cause() -> Callable[[], None]:
    """StopExecution's ``error`` and ``cause`` end up in the ``ExecutionAborted`` event, as Step Functions
    records them (moto's response handler drops both; its interpreter carries them when given), and an
    execution waiting for a task token stops at once (moto's would wait out the state's timeout, then FAIL)."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.stop_execution

    def stop_execution(response: StepFunctionResponse) -> Any:
        arn = response._get_param("executionArn")
        error, cause = response._get_param("error"), response._get_param("cause")
        if error is None and cause is None:
            return original(response)
        backend = response.stepfunction_backend
        backend._validate_execution_arn(arn)
        machine = backend._get_state_machine_for_execution(arn)
        execution = next((e for e in machine.executions if e.execution_arn == arn), None)
        if execution is None:
            return original(response)  # its ExecutionDoesNotExist
        execution.stop(stop_date=datetime.now(UTC), error=error, cause=cause)
        # A task waiting for its token must stop waiting too (moto's engine would wait until the state's
        # timeout and then record the execution FAILED; Step Functions ends it ABORTED at once).
        worker = execution.exec_worker
        pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
        for endpoint in list(getattr(pool, "_pool", {}).values()):
            endpoint.interrupt_all()
        from moto.core.responses import ActionResult

        return ActionResult({"stopDate": execution.stop_date})

    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign,assignment]
    # The interrupted wait then fails the task; a stopped execution stays stopped (moto's engine would
    # let that failure replace the stop and record the execution FAILED).
    original_set_error = Environment.set_error

    def set_error(env: Environment, error: Any) -> None:
        if not isinstance(env._program_state, ProgramStopped):
            original_set_error(env, error)

    Environment.set_error = set_error  # type: ignore[method-assign]

    def undo() -> None:
        StepFunctionResponse.stop_execution = original  # type: ignore[method-assign]
        Environment.set_error = original_set_error  # type: ignore[method-assign]

    return undo


def function_log_groups(stack: ParityStack) -> dict[str, str]:
    """Function name → the log group its template ``LoggingConfig`` names (Lambda's default without one)."""
    groups = {}
    for logical_id, function in stack.functions.items():
        properties = stack.template["Resources"][logical_id].get("Properties", {})
        group = (properties.get("LoggingConfig") or {}).get("LogGroup")
        if isinstance(group, dict) and "Ref" in group:
            group = stack.ref(group["Ref"])
        groups[function.name] = group if isinstance(group, str) else f"/aws/lambda/{function.name}"
    return groups


def _function_configuration_has_logging_config(groups: dict[str, str]) -> Callable[[], None]:
    """GetFunctionConfiguration answers ``LoggingConfig`` as Lambda does (moto's Lambda discards it; the
    stack's deployment checks the property on the template instead)."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.get_configuration

    def get_configuration(function: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = original(function, on_create)
        group = groups.get(str(config.get("FunctionName")))
        if group is not None:
            config["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": group}
        return config

    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]

    def undo() -> None:
        LambdaFunction.get_configuration = original  # type: ignore[method-assign]

    return undo


def _sdk_errors_named_as_aws_names_them() -> Callable[[], None]:
    """``aws-sdk:sagemaker:*`` errors are ``SageMaker.<Exception>`` in Step Functions; moto's engine has
    no binding for SageMaker and would name them ``sagemaker.sagemakerException``."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    names: dict[str, str] = aws_sdk._SERVICE_ERROR_NAMES
    added = "sagemaker" not in names
    names.setdefault("sagemaker", "SageMaker")
    # aws-sdk:cloudwatchlogs:* - Step Functions' name for the service botocore calls "logs"; its errors
    # are CloudWatchLogs.<Exception>, and its PascalCase parameters become the API's camelCase members.
    overrides: dict[str, str] = aws_sdk.StateTaskServiceAwsSdk._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    logs_added = "cloudwatchlogs" not in overrides
    overrides.setdefault("cloudwatchlogs", "logs")
    names.setdefault("cloudwatchlogs", "CloudWatchLogs")
    # The SDK integration's output is JSON (timestamps as ISO strings); moto's engine leaves botocore's
    # datetime objects in it, which then cannot be serialised (DescribeEndpoint's CreationTime).
    original_eval = aws_sdk.StateTaskServiceAwsSdk._eval_service_task

    def eval_service_task(task: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        if task.resource.api_name == "cloudwatchlogs":
            operation = task.resource.api_action[0].upper() + task.resource.api_action[1:]
            shape = botocore.session.get_session().get_service_model("logs").operation_model(operation).input_shape
            parameters = kwargs["normalised_parameters"] if "normalised_parameters" in kwargs else args[1]
            task._to_boto_request(parameters, shape)
        original_eval(task, env, *args, **kwargs)
        env.stack.append(json.loads(json.dumps(env.stack.pop(), default=_iso)))

    aws_sdk.StateTaskServiceAwsSdk._eval_service_task = eval_service_task  # type: ignore[method-assign,assignment]

    def undo() -> None:
        aws_sdk.StateTaskServiceAwsSdk._eval_service_task = original_eval  # type: ignore[method-assign]
        if added:
            names.pop("sagemaker", None)
        if logs_added:
            overrides.pop("cloudwatchlogs", None)
            names.pop("cloudwatchlogs", None)

    return undo


def _sends_to_eventbridge(account_id: str, bucket: str) -> bool:
    """The bucket's notification configuration as S3 holds it (moto's GetBucketNotificationConfiguration
    response drops the empty ``EventBridgeConfiguration`` element, so the service's own state is read)."""
    from moto.s3.models import s3_backends

    stored = s3_backends[account_id]["aws"].buckets[bucket].notification_configuration
    return stored is not None and stored.event_bridge is not None


def _put_object_record(
    bucket: str, key: str, version: str | None, identity: dict[str, Any], stack: Any
) -> dict[str, Any]:
    """CloudTrail's data event for a PutObject, as EventBridge delivers it (``detail``)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject",
        "awsRegion": stack.region,
        "sourceIPAddress": "198.51.100.7",
        "requestParameters": {"bucketName": bucket, "key": key},
        "responseElements": {"x-amz-version-id": version} if version else None,
        "requestID": uuid.uuid4().hex[:16].upper(),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": stack.account_id,
        "eventCategory": "Data",
    }


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _import_handler(function: DeployedFunction) -> ModuleType:
    file_name = function.handler.rpartition(".")[0]
    source = function.code_dir / f"{file_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"parity_function_{function.logical_id}", source)
    if spec is None or spec.loader is None:
        raise InvocationError("Runtime.ImportModuleError", f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arn_like(value: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class Delivery:
    rule: str
    target: str
    result: Any = None
    error_type: str | None = None
    error: str | None = None


class ParityEventBus:
    """EventBridge's default bus for the stack's rules (see the module docstring)."""

    def __init__(self, stack: ParityStack, functions: ParityLambda) -> None:
        self._stack = stack
        self._functions = functions
        self.delivered: list[Delivery] = []
        #: Events a function put on the default bus (PutEvents), waiting for :meth:`deliver_queued`.
        self.queued: list[dict[str, Any]] = []
        self._queue_lock = threading.Lock()

    def deliver_queued(self) -> list[Delivery]:
        """Deliver what functions put on the default bus to the stack's rules (EventBridge does it after the
        PutEvents call returned; the harness does it when the test asks, never inside the putting function)."""
        with self._queue_lock:
            events, self.queued = self.queued, []
        return [delivery for event in events for delivery in self.put(event)]

    @contextlib.contextmanager
    def receiving_put_events(self) -> Iterator[ParityEventBus]:
        """PutEvents on the default bus queues each entry for the stack's rules. moto's own PutEvents raises
        NotImplementedError for a rule with a Lambda target (it delivers to none), so it is replaced here."""
        original = EventsBackend.put_events
        bus = self

        def put_events(backend: EventsBackend, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            answers: list[dict[str, Any]] = []
            for entry in entries:
                missing = [key for key in ("Source", "DetailType", "Detail") if not entry.get(key)]
                if missing:
                    answers.append({"ErrorCode": "InvalidArgument", "ErrorMessage": f"{missing[0]} is required"})
                    continue
                if entry.get("EventBusName", "default").rsplit("/", 1)[-1] != "default":
                    answers.append({"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "only the default bus"})
                    continue
                event_id = str(uuid.uuid4())
                detail = json.loads(entry["Detail"])
                event = bus.event(entry["Source"], entry["DetailType"], detail, entry.get("Resources"))
                with bus._queue_lock:
                    bus.queued.append(event | {"id": event_id})
                answers.append({"EventId": event_id})
            return answers

        EventsBackend.put_events = put_events  # type: ignore[method-assign]
        try:
            yield self
        finally:
            EventsBackend.put_events = original  # type: ignore[method-assign]

    def event(
        self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None
    ) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": self._stack.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._stack.region,
            "resources": resources or [],
            "detail": detail,
        }

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for rule in self._stack.rules.values():
            if not EventPattern.load(json.dumps(rule.pattern)).matches_event(event):  # type: ignore[arg-type]
                continue
            for target in rule.targets:
                function = self._functions.function(target["Arn"])
                self._functions.check_invoke_permission(function, "events.amazonaws.com", rule.arn)
                try:
                    result = self._functions.invoke(target["Arn"], event)
                    deliveries.append(Delivery(rule.logical_id, function.logical_id, result))
                except InvocationError as exc:
                    deliveries.append(Delivery(rule.logical_id, function.logical_id, None, exc.error_type, str(exc)))
        self.delivered += deliveries
        return deliveries


class ParityApi:
    """API Gateway's REST API in front of the stack's functions, with the template's Lambda REQUEST authorizer.

    As API Gateway does for a method with a Lambda authorizer: it checks the authorizer function's resource
    policy, invokes it (under its own role, in its own sandbox) with the REQUEST event, evaluates the IAM
    policy it returns against the method ARN (403 unless it allows ``execute-api:Invoke``), and hands the
    function the authorizer's ``principalId`` and context in ``requestContext.authorizer``. The managed
    login is a double (:mod:`tests.parity.managed_login`); the ID tokens are moto's.
    """

    def __init__(self, stack: ParityStack, functions: ParityLambda) -> None:
        self._stack = stack
        self._functions = functions
        self._cognito = boto3.client("cognito-idp", region_name=stack.region, **HARNESS_CREDENTIALS)
        self._apigateway = boto3.client("apigateway", region_name=stack.region, **HARNESS_CREDENTIALS)
        self.managed_login = ManagedLoginDouble(stack)
        #: One entry per request: what the stage's access log records (method, path, status, user).
        self.access_log: list[dict[str, Any]] = []

    @property
    def host(self) -> str:
        return f"{self._stack.api_id}.execute-api.{self._stack.region}.amazonaws.com"

    def sign_in(self, username: str, password: str, *, return_to: str = "/prod/approvals") -> str:
        """An approver's browser signing in; returns the session cookie's value (a moto-minted ID token).

        GET /auth/login (the login function) → the managed login (double: SRP + TOTP on moto) → GET
        /auth/callback with the code and the round-trip cookie (the login function exchanges it with the
        PKCE verifier and verifies the ID token) → the ``__Host-`` session cookie.
        """
        status, headers, body = self.request("GET", "/auth/login", query={"return_to": return_to})
        if status != 302:
            raise AssertionError(f"/auth/login answered {status}: {body[:300]}")
        jar = cookies_set(headers)
        callback = urlsplit(self.managed_login.authorize(headers["Location"], username=username, password=password))
        query = {k: v[-1] for k, v in parse_qs(callback.query).items()}
        status, headers, body = self.request(
            "GET", callback.path.removeprefix(f"/{self._stack.api_stage}"), query=query, cookies=jar
        )
        if status != 200:
            raise AssertionError(f"/auth/callback answered {status}: {body[:300]}")
        return cookies_set(headers)[SESSION_COOKIE]

    def create_user(self, username: str, password: str, *, groups: tuple[str, ...] = ()) -> None:
        self._cognito.admin_create_user(
            UserPoolId=self._stack.user_pool_id, Username=username, MessageAction="SUPPRESS"
        )
        self._cognito.admin_set_user_password(
            UserPoolId=self._stack.user_pool_id, Username=username, Password=password, Permanent=True
        )
        for group in groups:
            self._cognito.admin_add_user_to_group(
                UserPoolId=self._stack.user_pool_id, Username=username, GroupName=group
            )

    def _authorize(
        self, route: Any, event: dict[str, Any], method_arn: str
    ) -> tuple[dict[str, Any] | None, tuple[int, dict[str, str], str] | None]:
        """The authorizer's context, or the answer API Gateway gives instead of calling the method."""
        function = self._functions.function(
            self._stack.functions[self._stack.api_authorizer_functions[route.authorizer]].arn
        )
        authorizers = self._apigateway.get_authorizers(restApiId=self._stack.api_id)["items"]
        authorizer_id = next(a["id"] for a in authorizers if a["name"] == route.authorizer)
        api_arn = f"arn:aws:execute-api:{self._stack.region}:{self._stack.account_id}:{self._stack.api_id}"
        source = f"{api_arn}/authorizers/{authorizer_id}"
        self._functions.check_invoke_permission(function, "apigateway.amazonaws.com", source)
        request = {k: v for k, v in event.items() if k not in {"body", "isBase64Encoded"}}
        try:
            answer = self._functions.invoke(function.arn, {"type": "REQUEST", "methodArn": method_arn, **request})
        except InvocationError as exc:
            if str(exc) == "Unauthorized":
                return None, (401, {}, json.dumps({"message": "Unauthorized"}))
            return None, (500, {}, json.dumps({"message": None, "error": "AuthorizerConfigurationException"}))
        from moto.iam.access_control import IAMPolicy, PermissionResult

        verdict = IAMPolicy(json.dumps(answer["policyDocument"])).is_action_permitted("execute-api:Invoke", method_arn)
        if verdict != PermissionResult.PERMITTED:
            message = "User is not authorized to access this resource with an explicit deny"
            return {"principalId": answer.get("principalId")}, (403, {}, json.dumps({"Message": message}))
        context = {k: str(v) for k, v in (answer.get("context") or {}).items()}
        return {**context, "principalId": str(answer["principalId"]), "integrationLatency": 0}, None

    def request(
        self,
        method: str,
        path: str,
        *,
        id_token: str | None = None,
        cookies: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One browser request; ``id_token`` is sent as the session cookie (what a signed-in browser sends)."""
        route, path_parameters = self._route(method, path)
        jar = dict(cookies or {})
        if id_token is not None:
            jar[SESSION_COOKIE] = id_token
        request_headers = {"Host": self.host, **(headers or {})}
        if jar:
            request_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        api_arn = f"arn:aws:execute-api:{self._stack.region}:{self._stack.account_id}:{self._stack.api_id}"
        event = {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": request_headers,
            "multiValueHeaders": {k: [v] for k, v in request_headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self._stack.api_stage}{path}",
                "stage": self._stack.api_stage,
                "requestId": str(uuid.uuid4()),
                "accountId": self._stack.account_id,
                "apiId": self._stack.api_id,
                "identity": {"sourceIp": "198.51.100.7", "userAgent": "parity"},
            },
            "body": body,
            "isBase64Encoded": False,
        }
        authorizer: dict[str, Any] = {}
        if route.authorizer:
            method_arn = f"{api_arn}/{self._stack.api_stage}/{method}{path}"
            context, refused = self._authorize(route, event, method_arn)
            if refused is not None:
                self._log(method, path, refused[0], (context or {}).get("principalId"))
                return refused
            authorizer = context or {}
        event["requestContext"]["authorizer"] = authorizer  # type: ignore[index]
        function = self._functions.function(self._stack.functions[route.function_logical_id].arn)
        self._functions.check_invoke_permission(
            function, "apigateway.amazonaws.com", f"{api_arn}/{self._stack.api_stage}/{method}{route.path}"
        )
        try:
            answer = self._functions.invoke(function.arn, event)
        except InvocationError as exc:
            self._log(method, path, 502, authorizer.get("principalId"))
            return 502, {}, json.dumps({"message": "Internal server error", "error": exc.error_type})
        text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        response_headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
        for key, values in (answer.get("multiValueHeaders") or {}).items():
            response_headers[key] = "\n".join(str(v) for v in values)
        self._log(method, path, int(answer["statusCode"]), authorizer.get("principalId"))
        return int(answer["statusCode"]), response_headers, text

    def _log(self, method: str, path: str, status: int, principal: Any) -> None:
        self.access_log.append({"method": method, "path": path, "status": status, "user": principal or ""})

    def _route(self, method: str, path: str) -> tuple[Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        for route in self._stack.api_routes:
            if route.method.upper() != method.upper():
                continue
            template = route.path.strip("/").split("/")
            if len(template) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(template, parts, strict=True):
                if want.startswith("{") and want.endswith("}"):
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return route, params
        raise LookupError(f"no route for {method} {path} in the approval API")


class ParityRuntime:
    """The deployed stack plus the AWS services that act on it (see the module docstring)."""

    def __init__(self, stack: ParityStack, recorder: CallRecorder, work_dir: Path) -> None:
        self.stack = stack
        self.recorder = recorder
        self.work_dir = work_dir
        self.identities = Identities(stack, recorder)
        self.functions = ParityLambda(stack, self.identities, work_dir / "logs")
        self.bus = ParityEventBus(stack, self.functions)
        self.api = ParityApi(stack, self.functions)
        self.sagemaker = SageMakerService(
            work_dir / "sagemaker",
            lambda role: self.identities.session(role, "sagemaker.amazonaws.com"),
            stack.region,
            # The CloudWatch services themselves (metric filters, alarm evaluation): the harness's identity.
            lambda service: boto3.client(service, region_name=stack.region, **HARNESS_CREDENTIALS),
        )
        self.sfn = boto3.client("stepfunctions", region_name=stack.region, **HARNESS_CREDENTIALS)
        self.s3 = boto3.client("s3", region_name=stack.region, **HARNESS_CREDENTIALS)
        self.cloudtrail = boto3.client("cloudtrail", region_name=stack.region, **HARNESS_CREDENTIALS)
        #: Deliveries of the CloudTrail data events that followed uploads (who uploaded).
        self.trail_deliveries: list[Delivery] = []
        #: The engineers' CodeCommit repository, answered from a real git repository (tests/parity/codecommit.py).
        self.codecommit = GitCodeCommit(
            work_dir / "codecommit", region=stack.region, account=stack.account_id, credentials=HARNESS_CREDENTIALS
        )
        self._announced: set[tuple[str, str]] = set()
        self._stack = contextlib.ExitStack()

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> ParityRuntime:
        self._stack.callback(_bucket_policies_judged_by_the_checker())
        self._stack.callback(_context_has_redrive_count())
        # moto refuses a Fail state's ErrorPath that yields a States.* name; AWS forwards it (same fix as local).
        self._stack.callback(install_fail_state_forwards_states_errors())
        # moto's StartExecution refuses the alias ARN the trigger starts (AWS runs the version it points to).
        self._stack.callback(install_qualified_start_execution())
        self._stack.callback(_sdk_errors_named_as_aws_names_them())
        self._stack.callback(_stop_execution_keeps_error_and_cause())
        self._stack.callback(_sync_tasks_check_every(SYNC_CHECK_SECONDS))
        self._stack.callback(_put_metric_filter_replaces_a_filter_of_the_same_name())
        self._stack.callback(_function_configuration_has_logging_config(function_log_groups(self.stack)))
        self._stack.enter_context(self.functions.installed())
        self._stack.enter_context(self.bus.receiving_put_events())
        self._stack.enter_context(self.sagemaker.installed())
        self._stack.enter_context(self.codecommit.installed())
        self._stack.enter_context(self.api.managed_login.installed())
        self._stack.enter_context(_environment_variable(MOTO_TOTP_SWITCH, "true"))
        self._stack.callback(install_redrive_api())
        self._stack.callback(self._sign_state_machine_calls())
        # Last, so that every parse sees the patches above (a task's service is resolved when the definition
        # is parsed): each definition is parsed once (~0.5 s of CPU) instead of once per execution, and every
        # execution gets its own deep copy of the program, as in the local runtime (moto_speedups).
        self._stack.callback(install_program_cache())
        self._stack.callback(install_json_path_cache())
        self._stack.callback(install_json_copy())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _sign_state_machine_calls(self) -> Callable[[], None]:
        """Every client moto's interpreter makes for a task is signed with the state machine's role."""
        creds = self.identities.credentials(self.stack.state_machine_role_arn, "states.amazonaws.com")
        clients: dict[tuple[str, str], Any] = {}
        lock = threading.Lock()

        def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            with lock:
                client = clients.get((region, service))
                if client is None:
                    client = clients[(region, service)] = boto3.client(
                        service,
                        region_name=region,
                        config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}),
                        **creds,
                    )
            return client

        patched: list[tuple[ModuleType, Any]] = []
        for name, module in list(sys.modules.items()):
            if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
                patched.append((module, module.boto_client_for))
                module.boto_client_for = client_for  # type: ignore[attr-defined]
        previous = sagemaker_service.client_factory
        sagemaker_service.client_factory = client_for

        def undo() -> None:
            for module, original in patched:
                module.boto_client_for = original  # type: ignore[attr-defined]
            sagemaker_service.client_factory = previous

        return undo

    # -- what a test does -----------------------------------------------------------------------
    def upload(
        self, bucket: str, key: str, data: bytes, *, requester: str, identity: dict[str, Any] | None = None
    ) -> list[Delivery]:
        """An operator's PutObject; a bucket with EventBridge notifications on sends ``Object Created``.

        ``identity`` is the CloudTrail ``userIdentity`` of the caller (default: the account's root).
        When a logging trail records writes to the object, CloudTrail's data event follows on the bus
        (AWS delivers it within minutes; here right after): its deliveries are in :attr:`trail_deliveries`.
        """
        answer = self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        if not _sends_to_eventbridge(self.stack.account_id, bucket):
            return []
        head = self.s3.head_object(Bucket=bucket, Key=key)
        version = answer.get("VersionId", head.get("VersionId"))
        detail = {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": len(data),
                "etag": answer["ETag"].strip('"'),
                "version-id": version,
                "sequencer": f"{time.time_ns():018X}",
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": requester,
            "source-ip-address": "198.51.100.7",
            "reason": "PutObject",
        }
        deliveries = self.bus.put(self.bus.event("aws.s3", "Object Created", detail, [f"arn:aws:s3:::{bucket}"]))
        if self._trail_records_write(bucket, key):
            caller = identity or {
                "type": "Root",
                "arn": f"arn:aws:iam::{self.stack.account_id}:root",
                "accountId": self.stack.account_id,
            }
            self.trail_deliveries.extend(
                self.bus.put(
                    self.bus.event(
                        "aws.s3",
                        "AWS API Call via CloudTrail",
                        _put_object_record(bucket, key, version, caller, self.stack),
                    )
                )
            )
        return deliveries

    def _trail_records_write(self, bucket: str, key: str) -> bool:
        """Does a logging trail of the stack record a write to ``s3://bucket/key`` (data event selectors)?"""
        cloudtrail = self.cloudtrail
        for trail in cloudtrail.describe_trails()["trailList"]:
            if not cloudtrail.get_trail_status(Name=trail["Name"])["IsLogging"]:
                continue
            for selector in cloudtrail.get_event_selectors(TrailName=trail["Name"]).get("EventSelectors", []):
                if selector.get("ReadWriteType", "All") not in ("WriteOnly", "All"):
                    continue
                for resource in selector.get("DataResources", []):
                    prefixes = resource["Values"] if resource["Type"] == "AWS::S3::Object" else []
                    if any(f"arn:aws:s3:::{bucket}/{key}".startswith(prefix) for prefix in prefixes):
                        return True
        return False

    def wait(self, execution_arn: str, *, timeout: float = 180.0, until: set[str] | None = None) -> dict[str, Any]:
        """Wait for the execution to reach ``until`` (default: any end); an end is announced on the bus."""
        wanted = until or TERMINAL
        described: dict[str, Any] = {}

        def reached() -> bool:
            described.clear()
            described.update(self.sfn.describe_execution(executionArn=execution_arn))
            return described["status"] in wanted

        if not within(reached, timeout):
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout:.0f} s")
        if described["status"] in TERMINAL:
            self.announce(described)
        return dict(described)

    def announce(self, described: dict[str, Any]) -> list[Delivery]:
        """Step Functions' ``Execution Status Change`` event for an execution that ended (once)."""
        arn = described["executionArn"]
        # A redriven execution ends again under the same ARN: each end is announced once.
        end = (arn, str(described.get("stopDate")))
        if end in self._announced:
            return []
        self._announced.add(end)
        detail = {
            "executionArn": arn,
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": int(described["startDate"].timestamp() * 1000),
            "stopDate": int(described.get("stopDate", datetime.now(UTC)).timestamp() * 1000),
            "input": described.get("input"),
            "output": described.get("output"),
            "error": described.get("error"),
            "cause": described.get("cause"),
        }
        event = self.bus.event("aws.states", "Step Functions Execution Status Change", detail, [arn])
        return self.bus.put(event)

    def announce_processing_job(self, name: str) -> list[Delivery]:
        """SageMaker's ``SageMaker Processing Job State Change`` event for a job that ended (its detail is the
        DescribeProcessingJob answer, as SageMaker sends it)."""
        sagemaker = boto3.client("sagemaker", region_name=self.stack.region, **HARNESS_CREDENTIALS)
        described = sagemaker.describe_processing_job(ProcessingJobName=name)
        described.pop("ResponseMetadata", None)
        if described["ProcessingJobStatus"] not in {"Completed", "Failed", "Stopped"}:
            raise RuntimeError(f"processing job {name} is still {described['ProcessingJobStatus']}")
        tags = sagemaker.list_tags(ResourceArn=described["ProcessingJobArn"]).get("Tags", [])
        detail = json.loads(json.dumps(described | {"Tags": tags}, default=_iso))
        event = self.bus.event(
            "aws.sagemaker", "SageMaker Processing Job State Change", detail, [described["ProcessingJobArn"]]
        )
        return self.bus.put(event)

    def executions(self) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.stack.state_machine_arn)["executions"])

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])
