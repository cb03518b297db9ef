"""The local runtime: template.yaml + ASL + handlers on moto, state on disk.

One ``LocalRuntime`` is one process's view of the "deployed stack". Executions run in moto's
Step Functions interpreter (real ASL semantics); Lambda tasks run in-process; the SageMaker
integrations run real jobs in subprocesses; objects, the registry and execution histories
live under the data directory so every later command sees them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import boto3
from moto import mock_aws
from moto.events.models import EventPattern
from moto.stepfunctions.exceptions import ExecutionAlreadyExists
from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

from governed_mlops.adapters.code_repository import LocalGitRepository
from governed_mlops.adapters.execution_history import unqualified_state_machine_arn
from governed_mlops.adapters.fileio import atomic_write
from governed_mlops.adapters.object_store import LocalObjectStore, StoredObject
from governed_mlops.config import parse_config
from governed_mlops.errors import RepositoryNotFoundError
from governed_mlops.model_projects import config_key, model_spec, project_configs
from governed_mlops_local import cloudwatch, model_server
from governed_mlops_local.approval_client import serving_runtime
from governed_mlops_local.asl_engine import install_fail_state_forwards_states_errors, install_qualified_start_execution
from governed_mlops_local.endpoints import LocalSageMakerHosting
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.gateway import LocalGateway
from governed_mlops_local.lambda_host import InvocationError, LambdaHost, install_stdout_router
from governed_mlops_local.local_identity import DEFAULT_APPROVERS as DEFAULT_APPROVERS  # noqa: PLC0414 - explicit re-export: callers import it from the runtime
from governed_mlops_local.moto_speedups import (
    install_json_copy,
    install_json_path_cache,
    install_program_cache,
    install_task_client_cache,
)
from governed_mlops_local.packaging import build_sourcedir
from governed_mlops_local.program_store import ProgramStore
from governed_mlops_local.project import find_project_dir as find_project_dir  # noqa: PLC0414 - explicit re-export: callers import it from the runtime
from governed_mlops_local.redrive import Redrive, install_journal, parser_executions, redrive
from governed_mlops_local.sagemaker import SageMakerEmulator, local_function_arn
from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_STACK_NAME, LocalTemplate, load_template
from governed_mlops_local.zygote import Zygote

STACK_NAME = LOCAL_STACK_NAME
LOCAL_IMAGES = {
    "TrainingImage": "local-emulated/sagemaker-xgboost:3.2-script-mode",
    "ProcessingImage": "local-emulated/sagemaker-scikit-learn:processing",
}
#: Local values for template parameters whose AWS defaults make no sense on a laptop.
LOCAL_PARAMETERS = {
    "ApprovalTimeoutSeconds": "900",
    # With LOCAL_TIME_SCALE 0.25: an 8 s bake is 2 s of wall time, 4 s of termination wait is 1 s.
    "CanaryPercent": "20",
    "CanaryBakeSeconds": "8",
    "TerminationWaitSeconds": "4",
    "EndpointPollSeconds": "1",
    "EndpointMaxPolls": "120",
}
#: Endpoint provisioning and bake times run this much faster locally (documented in the README).
LOCAL_TIME_SCALE = 0.25
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{STACK_NAME}-statemachine-role"
# Only one runtime may patch moto per process.
_active_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    """One rule match: which rule, which target, and what the target answered."""

    rule: str
    target: str
    result: dict[str, Any] | None
    error: str | None = None
    error_type: str | None = None


class LocalRuntime:
    def __init__(  # noqa: PLR0913 - keyword-only past the data directory: the runtime's options, named at the call site
        self,
        project_dir: Path,
        data_dir: Path,
        *,
        models: Mapping[str, Path] | None = None,
        parameter_overrides: dict[str, str] | None = None,
        serve_http: bool = True,
        warm_jobs: bool = True,
        port: int = 0,
        any_port_if_taken: bool = False,
        local_user: str = "local-user",
        approvers: frozenset[str] = DEFAULT_APPROVERS,
    ) -> None:
        self.project_dir = project_dir
        self.data_dir = data_dir
        #: Model name -> config file published in place of (or next to) the checkout's models/<name>/.
        self.model_overrides = dict(models or {})
        self.template: LocalTemplate = load_template(
            project_dir / "template.yaml",
            stack_name=STACK_NAME,
            parameter_overrides={**LOCAL_IMAGES, **LOCAL_PARAMETERS, **(parameter_overrides or {})},
        )
        self.store = LocalObjectStore(data_dir)
        self.executions = ExecutionStore(data_dir)
        self.sagemaker = SageMakerEmulator(data_dir, self.store)
        self.host = LambdaHost(
            data_dir / "logs",
            {
                "MLOPS_BACKEND": "local",
                "MLOPS_LOCAL_ROOT": str(data_dir),
                "LOCAL_GIT_DIR": str(project_dir),
                "AWS_REGION": LOCAL_REGION,
                "AWS_DEFAULT_REGION": LOCAL_REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
        )
        self._stack = ExitStack()
        self.sfn: Any = None
        self._serve_http = serve_http
        self._warm_jobs = warm_jobs
        self.time_scale = LOCAL_TIME_SCALE
        self._port = port
        self._any_port_if_taken = any_port_if_taken
        self.local_user = local_user
        self.approvers = approvers
        self.gateway: LocalGateway | None = None
        #: Executions whose end was recorded and announced; the event is set once that is done.
        self._announced: dict[str, threading.Event] = {}
        self._announce_lock = threading.Lock()
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        if not _active_lock.acquire(blocking=False):
            raise RuntimeError("a LocalRuntime is already active in this process")
        self._stack.callback(_active_lock.release)
        if self._warm_jobs:
            # First: the job interpreter imports its libraries while the rest of the stack starts.
            zygote = Zygote(self.data_dir / "run")
            self.sagemaker.zygote_socket = zygote.start_in_background()
            self._stack.callback(zygote.stop)
        install_stdout_router()
        # Resource ARNs in the template resolve to the local account; moto must agree.
        os.environ["MOTO_ACCOUNT_ID"] = LOCAL_ACCOUNT
        # Powertools warns on every invocation that publishes no custom metric; in AWS that goes to
        # the function's log, here it would interleave with the console's progress lines.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # moto logs a long traceback for every Fail state; the history already says it all.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        )
        self._stack.callback(self.host.patch_moto())
        # First: the durable-name wrapper below hands qualified (alias) ARNs on to this fix.
        self._stack.callback(install_qualified_start_execution())
        self._stack.callback(self._patch_durable_names())
        self._stack.callback(install_journal(self.executions))
        self._stack.callback(install_program_cache(store=ProgramStore.for_project(self.project_dir)))
        self._stack.callback(install_task_client_cache())
        self._stack.callback(install_json_path_cache())
        self._stack.callback(install_json_copy())
        self._stack.callback(install_fail_state_forwards_states_errors())
        for spec in self.template.functions.values():
            self.host.add_function(spec)
        for arn, function in self.sagemaker.functions().items():
            self.host.add_local_function(arn, function)
        self.hosting = LocalSageMakerHosting(self.data_dir, self.store, time_scale=self.time_scale)
        self._stack.callback(self.hosting.close)
        for arn, function in self.hosting.functions().items():
            self.host.add_local_function(arn, function)
        for arn, function in cloudwatch.functions(self.hosting).items():
            self.host.add_local_function(arn, function)
        self.sfn = boto3.client("stepfunctions", region_name=LOCAL_REGION)
        if self._serve_http:
            self._start_gateway()
        for machine in self.template.state_machines.values():
            # SageMaker integrations run in the local emulators (moto's engine does not support them).
            definition = re.sub(
                r'"(arn:aws:states:::(?:aws-sdk:)?sagemaker:[A-Za-z.]+|'
                r'arn:aws:states:::aws-sdk:cloudwatch:putMetricAlarm|arn:aws:states:::aws-sdk:cloudwatchlogs:\w+)"',
                lambda m: f'"{local_function_arn(m.group(1))}"',
                machine.definition,
            )
            created = self.sfn.create_state_machine(
                name=machine.name, definition=definition, roleArn=_ROLE, publish=machine.alias is not None
            )
            if machine.alias is not None:  # AutoPublishAlias: version 1 of this runtime's definition, live
                self.sfn.create_state_machine_alias(
                    name=machine.alias,
                    routingConfiguration=[{"stateMachineVersionArn": created["stateMachineVersionArn"], "weight": 100}],
                )
        self.publish_release()
        finalizer = threading.Thread(target=self._finalize_ended, name="execution-finalizer", daemon=True)
        finalizer.start()
        self._stack.callback(finalizer.join)
        self._stack.callback(self._stopping.set)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def current_commit(self) -> str | None:
        """The working repository's HEAD (what a push of this checkout would carry), if any."""
        try:
            return LocalGitRepository(self.project_dir).branch_head("", "")
        except RepositoryNotFoundError:
            return None

    def _start_gateway(self) -> None:
        api = self.template.functions.get("ApprovalApiFunction")
        self.gateway = LocalGateway(
            self.host,
            api.arn if api else "",
            default_user=self.local_user,
            approvers=set(self.approvers),
            # Locally the approvers belong to the stack's group and every group a model project names
            # (identity is asserted here, not authenticated; in AWS membership is the user pool's).
            approver_group=" ".join(self._approver_groups()),
        )
        self._mount_history_pages(self.gateway)
        self.gateway.mount("/endpoints", model_server.mount(self.hosting))
        url = self.gateway.start(self._port, any_port_if_taken=self._any_port_if_taken)
        self._stack.callback(self.gateway.stop)
        # Handlers are imported at their first invocation (cold start), after this: they see the URL.
        self.host.set_environment("APPROVAL_API_URL", url)
        self.host.set_environment("HISTORY_URL_TEMPLATE", f"{url}/executions/{{name}}")
        # runtime.json names the server every link points at; while `mlops serve` runs, it stays the one.
        if serving_runtime(self.data_dir) is None:
            info = self.data_dir / "runtime.json"
            atomic_write(info, json.dumps({"pid": os.getpid(), "url": url}).encode())
            self._stack.callback(lambda: _remove_own_runtime_json(info))

    def _approver_groups(self) -> list[str]:
        groups = {self.template.parameters.get("ApproverGroup", "model-approvers")}
        for path in {**project_configs(self.project_dir), **self.model_overrides}.values():
            groups.add(parse_config(path.read_text(encoding="utf-8"), source=str(path)).model.approvers_group)
        return sorted(groups)

    def _mount_history_pages(self, gateway: LocalGateway) -> None:
        """The execution-history pages for on-call staff, read-only, on the same local port."""
        from governed_mlops_local.incident_sources import LocalIncidentSources  # noqa: PLC0415 - the on-call pages load only when the runtime mounts them
        from governed_mlops_local.ui.evidence_links import local_evidence_links  # noqa: PLC0415 - the on-call pages load only when the runtime mounts them
        from governed_mlops_local.ui.server import UiRoutes  # noqa: PLC0415 - the on-call pages load only when the runtime mounts them

        definitions = {m.arn: json.loads(m.definition) for m in self.template.state_machines.values()}
        routes = UiRoutes(
            self.executions,
            definitions,
            local_evidence_links(self.data_dir),
            incidents=LocalIncidentSources(self.data_dir, self.executions).view,
            source="local runtime",
        )

        def pages(method: str, path: str, query: dict[str, str], _headers: dict[str, str], _body: bytes) -> Any:
            return routes.handle(method, path, urlencode(query))

        for prefix in ("/executions", "/healthz"):
            gateway.mount(prefix, pages)

    def _patch_durable_names(self) -> Callable[[], None]:
        original = StepFunctionsParserBackend.start_execution
        store = self.executions

        def start_execution(
            backend: StepFunctionsParserBackend,
            state_machine_arn: str,
            name: str | None = None,
            execution_input: str | None = None,
            trace_header: Any = None,
        ) -> Any:
            unqualified = unqualified_state_machine_arn(state_machine_arn)  # an alias runs under its machine
            machine = unqualified.rsplit(":", 1)[-1]
            arn = f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:execution:{machine}:{name}"
            if not store.reserve(unqualified, arn, str(name), execution_input or "{}", datetime.now(UTC)):
                raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
            return original(backend, state_machine_arn, name, execution_input, trace_header)  # type: ignore[arg-type]

        StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign,assignment]

        def undo() -> None:
            StepFunctionsParserBackend.start_execution = original  # type: ignore[method-assign]

        return undo

    def publish_release(self) -> None:
        """What ``sam deploy`` + the release step put in place: every model project's configuration and the job code.

        Run at start-up and before each upload or event handed to the server, so a project added with
        ``mlops models add`` (or an edited one) is published before the run it starts; an unchanged file
        is not put again. Each configuration is parsed first: a broken ``models/<name>/config.yaml``
        stops the runtime, or refuses the upload, with the file and field named.
        """
        artifacts = self.template.buckets["ArtifactsBucket"].name
        params = self.template.parameters
        published: list[tuple[str, bytes]] = []
        for name, path in {**project_configs(self.project_dir), **self.model_overrides}.items():
            source = str(path)
            model_spec(name, parse_config(path.read_text(encoding="utf-8"), source=source))
            published.append((config_key(params["ModelsPrefix"], name), path.read_bytes()))
        for key, data in (*published, (params["TrainingSourceKey"], build_sourcedir(self.project_dir))):
            current = self.store.latest_under(artifacts, key)
            if current is None or current.ref.key != key or self.store.get(current.ref) != data:
                self.store.put(artifacts, key, data)

    # -- events ---------------------------------------------------------------------------------
    @property
    def data_bucket(self) -> str:
        return self.template.buckets["DataBucket"].name

    def upload(
        self, data: bytes, key: str, *, bucket: str | None = None, requester: str = "local-user"
    ) -> tuple[StoredObject, list[Delivery]]:
        """Put an object; a bucket with EventBridge notifications emits ``Object Created``."""
        bucket = bucket or self.data_bucket
        stored = self.store.put(bucket, key, data, "text/csv")
        spec = next((b for b in self.template.buckets.values() if b.name == bucket), None)
        if spec is None or not spec.eventbridge:
            return stored, []
        event = s3_object_created_event(stored, requester)
        return stored, self.send_event(event)

    def send_event(self, event: dict[str, Any]) -> list[Delivery]:
        """Match against every rule in the template and invoke each matching target (EventBridge)."""
        deliveries: list[Delivery] = []
        for function in self.template.functions.values():
            for rule in function.rules:
                if not EventPattern.load(json.dumps(rule.pattern)).matches_event(event):  # type: ignore[arg-type]
                    continue
                try:
                    result = self.host.invoke(function.arn, event)
                    deliveries.append(Delivery(rule.logical_id, function.logical_id, result))
                except InvocationError as exc:
                    deliveries.append(Delivery(rule.logical_id, function.logical_id, None, str(exc), exc.error_type))
        return deliveries

    # -- executions -----------------------------------------------------------------------------
    @property
    def _backend(self) -> StepFunctionsParserBackend:
        return stepfunctions_parser_backends[LOCAL_ACCOUNT][LOCAL_REGION]

    def _live(self, execution_arn: str, since: int | None) -> tuple[str, list[dict[str, Any]]]:
        """Status and (with ``since``) the history events after ``since``, from moto's objects directly."""
        execution = cast(ParserExecution, self._backend.describe_execution(execution_arn))
        worker = execution.exec_worker
        env = worker.env if worker is not None else None
        events = []
        if since is not None and env is not None:
            events = [dict(e) for e in env.event_manager._history_event_list[since:]]
        return str(execution.exec_status.value if execution.exec_status else "RUNNING"), events

    def persist(self, execution_arn: str) -> dict[str, Any]:
        """Record the execution's outcome (its history is journaled as it happens); announce its end once."""
        describe = self.sfn.describe_execution(executionArn=execution_arn)
        if describe["status"] not in TERMINAL:
            return dict(describe)
        with self._announce_lock:
            done = self._announced.get(execution_arn)
            first = done is None
            if done is None:
                done = self._announced[execution_arn] = threading.Event()
        if first:
            try:
                self.executions.save(describe)
                # Step Functions sends this to EventBridge on its own; here the runtime plays that part.
                self.send_event(execution_status_event(dict(describe)))
            finally:
                done.set()
        else:
            # Another thread is announcing it: what it triggers (the alert, the audit record) is part of the end.
            done.wait()
        return dict(describe)

    def _finalize_ended(self) -> None:
        """Record and announce every execution that ends, whether or not a command waits for it."""
        while not self._stopping.wait(0.1):
            try:
                ended = [
                    e.exec_arn
                    for e in parser_executions(self._backend)
                    if e.exec_status is not None
                    and e.exec_status.value in TERMINAL
                    and e.exec_arn not in self._announced
                ]
                for arn in ended:
                    self.persist(arn)
            except Exception:
                logging.getLogger(__name__).exception("finalizing ended executions")

    def redrive(self, name_or_arn: str) -> Redrive:
        """``RedriveExecution``: continue an unsuccessful or interrupted execution where it stopped."""
        started = redrive(self._backend, self.executions, name_or_arn)
        with self._announce_lock:
            self._announced.pop(started.execution_arn, None)
        return started

    def wait_until_waiting(self, execution_arn: str, *, timeout: float = 120) -> bool:
        """Block until the execution waits for a callback (its task token is handed out) or ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, events = self._live(execution_arn, 0)
            if status in TERMINAL or any(e["type"] == "TaskSubmitted" for e in events):
                return status not in TERMINAL
            time.sleep(0.05)
        return False

    def wait(
        self,
        execution_arns: list[str],
        *,
        timeout: float = 3600,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        poll: float = 0.02,
    ) -> list[dict[str, Any]]:
        """Block until every execution ends; ``on_event`` sees each new history event once."""
        seen: dict[str, int] = dict.fromkeys(execution_arns, 0)
        results: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(results) < len(execution_arns):
            for arn in execution_arns:
                if arn in results:
                    continue
                status, events = self._live(arn, seen[arn] if on_event is not None else None)
                if on_event is not None:
                    for event in events:
                        on_event(arn, event)
                    seen[arn] += len(events)
                if status in TERMINAL:
                    results[arn] = self.persist(arn)
            if on_tick is not None:
                on_tick()
            if time.monotonic() > deadline:
                raise TimeoutError(f"executions still running after {timeout:.0f}s")
            if len(results) < len(execution_arns):
                time.sleep(poll)
        return [results[a] for a in execution_arns]


def _remove_own_runtime_json(info: Path) -> None:
    serving = serving_runtime(info.parent)
    if serving is None or serving.pid == os.getpid():
        info.unlink(missing_ok=True)


def execution_status_event(describe: dict[str, Any]) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event Step Functions sends to EventBridge."""

    def epoch_ms(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    detail = {
        "executionArn": describe["executionArn"],
        "stateMachineArn": describe["stateMachineArn"],
        "name": describe["name"],
        "status": describe["status"],
        "startDate": epoch_ms(describe.get("startDate")),
        "stopDate": epoch_ms(describe.get("stopDate")),
        "input": describe.get("input"),
        "output": describe.get("output"),
        "error": describe.get("error"),
        "cause": describe.get("cause"),
    }
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{describe['executionArn']}#{describe['status']}")),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": LOCAL_ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [describe["executionArn"]],
        "detail": detail,
    }


def s3_object_created_event(stored: StoredObject, requester: str) -> dict[str, Any]:
    """The EventBridge event S3 sends for a PutObject on a bucket with EventBridge enabled."""
    return {
        "version": "0",
        "id": str(uuid.UUID(hashlib.sha256(f"{stored.ref.pinned_uri}{stored.sequencer}".encode()).hexdigest()[:32])),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": LOCAL_ACCOUNT,
        "time": stored.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:s3:::{stored.ref.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": stored.ref.bucket},
            "object": {
                "key": stored.ref.key,
                "size": stored.size,
                "etag": stored.etag,
                "version-id": stored.ref.version_id,
                "sequencer": stored.sequencer,
            },
            "request-id": stored.sha256[:16].upper(),
            "requester": requester,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


@contextmanager
def local_runtime(project_dir: Path, data_dir: Path, **kwargs: Any) -> Iterator[LocalRuntime]:
    with LocalRuntime(project_dir, data_dir, **kwargs) as runtime:
        yield runtime
