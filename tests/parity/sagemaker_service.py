"""SageMaker on the parity stack: the service side of jobs and endpoints, and Step Functions' integration.

moto stores SageMaker resources but runs nothing (a training job is "Completed" the moment it is
created, and there is no ``UpdateEndpoint``), and moto's Step Functions interpreter does not know
the optimized SageMaker integrations (``States.Runtime``). This module adds what AWS does, without
touching the deployed definition:

* **Step Functions' SageMaker integration** (``arn:aws:states:::sagemaker:<api>[.sync]``): a task
  service registered in moto's interpreter for the service name ``sagemaker``. It calls the
  SageMaker API with the client moto's interpreter gives every task (signed with the state
  machine's role, see :mod:`tests.parity.runtime`), and for ``.sync`` polls ``Describe*Job`` until
  the job ends, as Step Functions does; a failed job fails the task with ``States.TaskFailed`` and the
  Describe output as cause. History events are AWS's ``TaskScheduled`` / ``TaskSucceeded`` with
  resource type ``sagemaker``.
* **The SageMaker service**: ``CreateTrainingJob`` / ``CreateProcessingJob`` really run the job
  scripts through the local job runner (the same code as the embedded runtime, with the same warm job
  interpreter, :mod:`governed_mlops_local.zygote`: the container's ``python3`` runs the script in a fork
  that has the libraries imported, the job's own code imported fresh), reading every input
  channel from moto S3 and writing every output to moto S3 **with the job's own role** (the
  ``RoleArn`` of the request, i.e. the template's SageMaker execution role), so those reads and
  writes are recorded and checked like any other call. ``UpdateEndpoint`` is added (moto lacks it):
  without a DeploymentConfig the endpoint moves to the new endpoint config at once; with a blue/green
  policy :class:`~tests.parity.hosting.ParityHosting` drives the update (traffic steps, bakes, alarms,
  rollback).
* **Hosting**: ``InvokeEndpoint`` (SageMaker Runtime) runs the model's own inference code, its stdout
  lands in the endpoint's log group and the metric filters turn it into metrics
  (:mod:`tests.parity.hosting`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from governed_mlops.models import S3Ref
from governed_mlops_local.sagemaker import SageMakerEmulator, SageMakerError
from tests.job_interpreter import shared_socket
from tests.parity.hosting import ModelError, ParityHosting

#: The APIs of Step Functions' optimized SageMaker integration (AWS's list).
_INTEGRATED_APIS = {
    "CreateEndpoint",
    "CreateEndpointConfig",
    "CreateHyperParameterTuningJob",
    "CreateLabelingJob",
    "CreateModel",
    "CreateProcessingJob",
    "CreateTrainingJob",
    "CreateTransformJob",
    "StopTrainingJob",
    "UpdateEndpoint",
}
#: What the optimized integration supports (AWS: Request Response everywhere, .sync for jobs).
_SYNC_ACTIONS = {"create_training_job": "TrainingJob", "create_processing_job": "ProcessingJob"}
_TERMINAL = {"Completed", "Failed", "Stopped"}

Credentials = Callable[[str], boto3.Session]
#: How Step Functions' tasks get a client (the runtime installs one signed with the state machine's role).
client_factory: Callable[..., Any] = boto_client_for


class _S3JobStore:
    """The three object-store calls the job runner makes, on moto S3 as the job's role."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, ref: S3Ref) -> bytes:
        return bytes(self._s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read())

    def keys_under(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys


class ParityJobRunner(SageMakerEmulator):
    """The local job runner with S3 I/O through boto3 as the job's execution role."""

    def __init__(self, root: Path, s3: Any, zygote_socket: str | None) -> None:
        super().__init__(root, None)  # type: ignore[arg-type]  # every store use is overridden below
        self._store = _S3JobStore(s3)  # type: ignore[assignment]
        self.zygote_socket = zygote_socket

    def _download(self, uri: str, target: Path) -> None:
        ref = S3Ref.from_uri(uri)
        keys = self._store.keys_under(ref.bucket, ref.key)  # type: ignore[attr-defined]
        if not keys:
            raise SageMakerError("SageMaker.ValidationException", f"No S3 objects found under S3 URL {uri!r}")
        target.mkdir(parents=True, exist_ok=True)
        base = ref.key if ref.key.endswith("/") else ref.key.rsplit("/", 1)[0] + "/"
        for key in keys:
            relative = key[len(base) :] or key.rsplit("/", 1)[-1]
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(self._store.get(S3Ref(bucket=ref.bucket, key=key)))

    def _upload_dir(self, source: Path, uri: str) -> None:
        ref = S3Ref.from_uri(uri.rstrip("/") + "/x")
        prefix = ref.key[:-1]
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            self._store.put(ref.bucket, prefix + path.relative_to(source).as_posix(), path.read_bytes())


class SageMakerService:
    """What SageMaker does behind its API on the parity stack (see the module docstring)."""

    def __init__(self, work_dir: Path, sessions: Credentials, region: str, harness: Callable[[str], Any]) -> None:
        self._work_dir = work_dir
        self._sessions = sessions
        self.hosting = ParityHosting(work_dir, sessions, region, harness)
        #: job name -> the Describe*Job answer once the job ended (None while it runs)
        self.jobs: dict[str, dict[str, Any] | None] = {}
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        #: Faults to inject: API name (``CreateTrainingJob``) -> (error code, message), used once each.
        self.faults: dict[str, tuple[str, str]] = {}
        #: The warm job interpreter the jobs run in (this test process's, see tests/job_interpreter.py).
        self._zygote_socket: str | None = None

    def _inject(self, api: str) -> None:
        with self._lock:
            fault = self.faults.pop(api, None)
        if fault is not None:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError(*fault)

    # -- jobs -----------------------------------------------------------------------------------
    def _run(self, kind: str, request: dict[str, Any]) -> None:
        name = request["TrainingJobName" if kind == "TrainingJob" else "ProcessingJobName"]
        s3 = self._sessions(request["RoleArn"]).client("s3")
        runner = ParityJobRunner(self._work_dir, s3, self._zygote_socket)
        try:
            if kind == "TrainingJob":
                describe = runner.create_training_job_sync(request)
            else:
                describe = runner.create_processing_job_sync(request)
        except SageMakerError as exc:
            describe = _failed_describe(kind, name, request, exc)
        except Exception as exc:  # noqa: BLE001 - any crash of the job is a failed job, as in SageMaker
            describe = _failed_describe(kind, name, request, exc)
        with self._lock:
            self.jobs[name] = describe

    def start(self, kind: str, request: dict[str, Any]) -> None:
        name = request["TrainingJobName" if kind == "TrainingJob" else "ProcessingJobName"]
        with self._lock:
            self.jobs[name] = None
        thread = threading.Thread(target=self._run, args=(kind, request), name=f"sagemaker-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def describe(self, name: str, moto_answer: dict[str, Any], kind: str) -> dict[str, Any]:
        with self._lock:
            if name not in self.jobs:
                return moto_answer
            ended = self.jobs[name]
        if ended is None:
            return {**moto_answer, f"{kind}Status": "InProgress"}
        return {**moto_answer, **ended}

    @contextmanager
    def installed(self) -> Iterator[SageMakerService]:
        """Patch moto's SageMaker backend and Step Functions' task factory for the duration."""
        service = self
        patches: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, value: Any) -> None:
            patches.append((owner, name, getattr(owner, name, None)))
            setattr(owner, name, value)

        original_training = SageMakerResponse.create_training_job
        original_processing = SageMakerResponse.create_processing_job
        original_describe_training = SageMakerModelBackend.describe_training_job
        original_describe_processing = SageMakerModelBackend.describe_processing_job

        # The request as SageMaker received it (moto's backend drops members it does not model, such as
        # ProcessingResources): the job runs from the API request, after moto stored the job.
        def create_training_job(response: SageMakerResponse) -> Any:
            service._inject("CreateTrainingJob")
            answer = original_training(response)
            service.start("TrainingJob", json.loads(response.body))
            return answer

        def create_processing_job(response: SageMakerResponse) -> Any:
            service._inject("CreateProcessingJob")
            answer = original_processing(response)
            service.start("ProcessingJob", json.loads(response.body))
            return answer

        def describe_training_job(backend: SageMakerModelBackend, training_job_name: str) -> dict[str, Any]:
            answer = original_describe_training(backend, training_job_name)
            return service.describe(training_job_name, answer, "TrainingJob")

        def describe_processing_job(backend: SageMakerModelBackend, processing_job_name: str) -> dict[str, Any]:
            answer = original_describe_processing(backend, processing_job_name)
            return service.describe(processing_job_name, answer, "ProcessingJob")

        def update_endpoint(
            backend: SageMakerModelBackend,
            endpoint_name: str,
            endpoint_config_name: str,
            deployment_config: dict[str, Any] | None = None,
        ) -> Any:
            endpoint = backend.endpoints.get(endpoint_name)
            if endpoint is None:
                from moto.sagemaker.exceptions import ValidationError

                raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
            config = backend.describe_endpoint_config(endpoint_config_name)
            if deployment_config and deployment_config.get("BlueGreenUpdatePolicy"):
                service.hosting.start_update(backend, endpoint, endpoint_config_name, deployment_config)
                return endpoint
            endpoint.endpoint_config_name = endpoint_config_name
            endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
            endpoint.data_capture_config = config.get("DataCaptureConfig")
            return endpoint

        def update_endpoint_response(response: SageMakerResponse) -> ActionResult:
            endpoint = response.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
                endpoint_name=response._get_param("EndpointName"),
                endpoint_config_name=response._get_param("EndpointConfigName"),
                deployment_config=response._get_param("DeploymentConfig"),
            )
            return ActionResult({"EndpointArn": endpoint.arn})

        def invoke_endpoint(response: SageMakerRuntimeResponse) -> Any:
            from moto.core.exceptions import JsonRESTError
            from moto.sagemaker.models import sagemaker_backends

            backend = sagemaker_backends[response.current_account][response.region]
            try:
                body, content_type, variant = service.hosting.invoke(
                    backend,
                    response._get_param("EndpointName") or response.path.split("/")[2],
                    response.body if isinstance(response.body, bytes) else str(response.body).encode(),
                    response.headers.get("Content-Type", "application/json"),
                    response.headers.get("Accept", "application/json"),
                )
            except LookupError as exc:
                raise JsonRESTError("ValidationError", str(exc)) from exc
            except ModelError as exc:
                error = JsonRESTError("ModelError", f"Received client error ({exc.status}) from primary: {exc}")
                error.code = 424
                raise error from exc
            return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, body

        original_factory = state_task_factory.state_task_service_for

        def state_task_service_for(service_name: str) -> Any:
            if service_name == "sagemaker":
                return StateTaskServiceSageMaker()
            return original_factory(service_name)

        with ExitStack() as stack:
            self._zygote_socket = shared_socket()
            patch(SageMakerResponse, "create_training_job", create_training_job)
            patch(SageMakerResponse, "create_processing_job", create_processing_job)
            patch(SageMakerModelBackend, "describe_training_job", describe_training_job)
            patch(SageMakerModelBackend, "describe_processing_job", describe_processing_job)
            patch(SageMakerModelBackend, "update_endpoint", update_endpoint)
            patch(SageMakerResponse, "update_endpoint", update_endpoint_response)
            patch(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)
            patch(state_task_factory, "state_task_service_for", state_task_service_for)

            def undo() -> None:
                for owner, name, value in reversed(patches):
                    if value is None:
                        delattr(owner, name)
                    else:
                        setattr(owner, name, value)

            stack.callback(undo)
            stack.callback(self.hosting.close)
            yield self

    def wait_idle(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self.threads):
            thread.join(max(0.0, deadline - time.monotonic()))


def _failed_describe(kind: str, name: str, request: dict[str, Any], exc: Exception) -> dict[str, Any]:
    if isinstance(exc, SageMakerError) and exc.error_type == "SageMakerJobFailed":
        return dict(json.loads(str(exc)))
    return {**request, f"{kind}Status": "Failed", "FailureReason": f"{type(exc).__name__}: {exc}"}


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    """``arn:aws:states:::sagemaker:<api>`` with Request Response, and ``.sync`` for the two job APIs."""

    def __init__(self) -> None:
        # AWS offers Request Response and .sync. WaitForTaskToken is listed only because moto's callback
        # base class always interrupts a callback endpoint after a .sync task and has none without it.
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})

    def _get_supported_parameters(self) -> set[str] | None:
        """The request members of an integrated API (None: not an API of the integration)."""
        import botocore.session

        api = next((a for a in _INTEGRATED_APIS if a.lower() == self.resource.api_action.lower()), None)
        if api is None:
            return None
        shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(api).input_shape
        return set(shape.members) if shape is not None else set()

    def _client(self, resource_runtime_part: Any, state_credentials: Any) -> Any:
        return client_factory(
            region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials
        )

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        from botocore.exceptions import ClientError

        if isinstance(ex, ClientError):
            error = f"SageMaker.{ex.response['Error']['Code']}"
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # one detail per event, as AWS
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=error,
                        cause=ex.response["Error"].get("Message", ""),
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        action = self._get_boto_service_action()
        response = getattr(self._client(resource_runtime_part, state_credentials), action)(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        if action in _SYNC_ACTIONS:
            kind = _SYNC_ACTIONS[action]
            response[f"{kind}Name"] = normalised_parameters[f"{kind}Name"]
        env.stack.append(response)

    def _ensure_job_events_rule(self, env: Any, kind: str, resource_runtime_part: Any, state_credentials: Any) -> None:
        """What Step Functions does, as the state machine's role, before it waits on a SageMaker job.

        A ``.sync`` task learns that a job ended from a managed EventBridge rule in the account
        (``StepFunctionsGetEventsForSageMaker<Kind>sRule``), which it creates on first use: the role
        needs ``events:PutTargets``, ``events:PutRule`` and ``events:DescribeRule`` on it.
        """
        events = client_factory(
            region=resource_runtime_part.region, service="events", state_credentials=state_credentials
        )
        rule = f"StepFunctionsGetEventsForSageMaker{kind}sRule"
        try:
            events.describe_rule(Name=rule)
        except events.exceptions.ResourceNotFoundException:
            detail_type = (
                "SageMaker Training Job State Change"
                if kind == "TrainingJob"
                else "SageMaker Processing Job State Change"
            )
            events.put_rule(
                Name=rule,
                EventPattern=json.dumps({"source": ["aws.sagemaker"], "detail-type": [detail_type]}),
                Description="This rule is used to notify the AWS Step Functions service about SageMaker jobs",
            )
            events.put_targets(
                Rule=rule,
                Targets=[
                    {"Id": "StepFunctions", "Arn": env.states.context_object.context_object_data["StateMachine"]["Id"]}
                ],
            )

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> Callable[[], Any] | None:
        action = self._get_boto_service_action()
        if action not in _SYNC_ACTIONS:
            return super()._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        kind = _SYNC_ACTIONS[action]
        name = env.stack.pop()[f"{kind}Name"]
        client = self._client(resource_runtime_part, state_credentials)
        self._ensure_job_events_rule(env, kind, resource_runtime_part, state_credentials)
        describe = getattr(client, f"describe_{'training' if kind == 'TrainingJob' else 'processing'}_job")

        def resolve() -> Any | None:
            answer: dict[str, Any] = describe(**{f"{kind}Name": name})
            answer.pop("ResponseMetadata", None)
            status = answer.get(f"{kind}Status")
            if status not in _TERMINAL:
                return None
            if status == "Completed":
                return json.loads(to_json_str(answer))
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=StatesErrorNameType.StatesTaskFailed.to_name(),
                            cause=to_json_str(answer),
                        )
                    ),
                )
            )

        return resolve
