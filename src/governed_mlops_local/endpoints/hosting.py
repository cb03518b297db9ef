"""LocalSageMakerHosting: the SageMaker hosting API over collaborators with one job each.

The API methods take and return the SageMaker API shapes (requests are checked against botocore's
service model), so the ASL's ``sagemaker:createModel`` / ``createEndpointConfig`` /
``createEndpoint`` / ``updateEndpoint`` tasks and ``aws-sdk:sagemaker:describeEndpoint`` polling run
against this class unchanged (see :meth:`LocalSageMakerHosting.functions`). The class checks each
request and hands the work on: files to :class:`~.store.EndpointStore`, alarm definitions to
:class:`~.store.AlarmRegistry`, transitions (creation, blue/green updates, rollback, recovery) to
:class:`~.deployment.DeploymentDriver`, requests to :class:`~.invocation.Invoker` (with
:class:`~.routing.TrafficRouter`, :class:`~.containers.ModelContainers`, :class:`~.metrics.MetricsLog`
and :class:`~.capture.DataCapture`), and DescribeEndpoint's shape to :func:`~.description.describe`.

CloudWatch alarms are evaluated locally from :class:`AlarmRule` definitions registered per endpoint
(:meth:`LocalSageMakerHosting.register_alarms`); in AWS the same names refer to real CloudWatch alarms.
A later process sees the endpoints and serves them; an update whose driving process exited is rolled back.
"""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.errors import ArtifactNotFoundError, InvalidEventError
from governed_mlops.models import S3Ref
from governed_mlops_local.endpoints.alarms import (
    AlarmRule,
)
from governed_mlops_local.endpoints.capture import DataCapture, check_capture_config
from governed_mlops_local.endpoints.containers import ModelContainers
from governed_mlops_local.endpoints.deployment import (
    TRANSITIONAL_STATUSES,
    DeploymentDriver,
    check_deployment_config,
)
from governed_mlops_local.endpoints.description import describe
from governed_mlops_local.endpoints.invocation import Invoker, InvokeResult
from governed_mlops_local.endpoints.metrics import MetricsLog
from governed_mlops_local.endpoints.naming import arn, check_name, invalid
from governed_mlops_local.endpoints.routing import TrafficRouter
from governed_mlops_local.endpoints.store import AlarmRegistry, EndpointStore, now, record_event
from governed_mlops_local.sagemaker import _validate, local_function_arn

__all__ = [
    "CREATE_ENDPOINT_CONFIG_RESOURCE",
    "CREATE_ENDPOINT_RESOURCE",
    "CREATE_MODEL_RESOURCE",
    "DESCRIBE_ENDPOINT_RESOURCE",
    "UPDATE_ENDPOINT_RESOURCE",
    "LocalSageMakerHosting",
]


CREATE_MODEL_RESOURCE = "arn:aws:states:::sagemaker:createModel"
CREATE_ENDPOINT_CONFIG_RESOURCE = "arn:aws:states:::sagemaker:createEndpointConfig"
CREATE_ENDPOINT_RESOURCE = "arn:aws:states:::sagemaker:createEndpoint"
UPDATE_ENDPOINT_RESOURCE = "arn:aws:states:::sagemaker:updateEndpoint"
DESCRIBE_ENDPOINT_RESOURCE = "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"

# -- the hosting emulator ----------------------------------------------------------------------


class LocalSageMakerHosting:
    """SageMaker hosting on this machine: thread-safe, persisted under ``root/endpoints``.

    ``time_scale`` multiplies every wait (provisioning, baking, rollback); ``rng_seed`` seeds traffic
    routing and data-capture sampling. Close the instance (or use it as a context manager): an
    update it is still driving is then rolled back, as a later instance would do.
    """

    def __init__(
        self, root: Path, store: LocalObjectStore, *, time_scale: float = 1.0, rng_seed: int | None = None
    ) -> None:
        if not math.isfinite(time_scale) or time_scale < 0:
            raise ValueError(f"time_scale must be a finite number >= 0, got {time_scale}")
        self._endpoints = EndpointStore(root)
        self._alarms = AlarmRegistry(self._endpoints)
        self._store = store
        self._metrics = MetricsLog()
        router = TrafficRouter(rng_seed)
        self._containers = ModelContainers(self._endpoints, store)
        self._capture = DataCapture(self._endpoints, store, router.draw)
        self._invoker = Invoker(self._endpoints, router, self._containers, self._metrics, self._capture)
        self._driver = DeploymentDriver(
            self._endpoints, self._alarms, self._metrics, self._containers, time_scale=time_scale
        )
        self.instance_id = self._driver.instance_id
        self._closed = False
        for name in self._endpoints.endpoint_names():
            self._driver.recover_if_orphaned(name)

    @property
    def time_scale(self) -> float:
        """What every wait (provisioning, baking, rollback) is multiplied by."""
        return self._driver.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self._driver.time_scale = value

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LocalSageMakerHosting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop driving transitions (an in-flight update is rolled back, a creation completed) and close files."""
        if self._closed:
            return
        self._closed = True
        self._driver.close()
        self._metrics.close()
        self._capture.close()
        self._endpoints.close()

    def functions(self) -> dict[str, Callable[[Any], Any]]:
        """Local function ARNs of the Step Functions SageMaker integrations this class emulates.

        The optimized integrations answer as the API does (``{"ModelArn"}``, ``{"EndpointArn"}``...);
        ``aws-sdk:sagemaker:describeEndpoint`` answers with the DescribeEndpoint shape.
        """
        return {
            local_function_arn(CREATE_MODEL_RESOURCE): self.create_model,
            local_function_arn(CREATE_ENDPOINT_CONFIG_RESOURCE): self.create_endpoint_config,
            local_function_arn(CREATE_ENDPOINT_RESOURCE): self.create_endpoint,
            local_function_arn(UPDATE_ENDPOINT_RESOURCE): self.update_endpoint,
            local_function_arn(DESCRIBE_ENDPOINT_RESOURCE): lambda request: self.describe_endpoint(
                request["EndpointName"]
            ),
        }

    # -- models and endpoint configs ------------------------------------------------------------
    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateModel: the model data is a ``model.tar.gz`` in the local store, pinned to its current version."""
        _validate("CreateModel", request)
        name = request["ModelName"]
        check_name(name, "model")
        container = request.get("PrimaryContainer") or next(iter(request.get("Containers") or []), None)
        url = (container or {}).get("ModelDataUrl")
        if not url:
            raise invalid("local hosting serves the model in PrimaryContainer.ModelDataUrl (an s3:// model.tar.gz)")
        try:
            stored = self._store.stat(S3Ref.from_uri(url))
        except (InvalidEventError, ArtifactNotFoundError) as exc:
            raise invalid(f"Could not access model data at {url}: {exc}") from exc
        model_arn = arn("model", name)
        document = {
            "ModelName": name,
            "ModelArn": model_arn,
            "CreationTime": now(),
            "PrimaryContainer": container,
            "ModelData": {
                "Bucket": stored.ref.bucket,
                "Key": stored.ref.key,
                "VersionId": stored.ref.version_id,
                "Sha256": stored.sha256,
            },
        }
        for key in ("ExecutionRoleArn", "EnableNetworkIsolation", "VpcConfig", "Tags"):
            if key in request:
                document[key] = request[key]
        self._endpoints.add_model(name, document)
        return {"ModelArn": model_arn}

    def describe_model(self, name: str) -> dict[str, Any]:
        """DescribeModel (plus ``ModelData``: the pinned bucket, key, version id and sha256 of the archive)."""
        return copy.deepcopy(self._endpoints.model(name))

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateEndpointConfig: production variants of existing models, optional data capture."""
        _validate("CreateEndpointConfig", request)
        name = request["EndpointConfigName"]
        check_name(name, "endpoint configuration")
        variants = request["ProductionVariants"]
        names = [v["VariantName"] for v in variants]
        if len(set(names)) != len(names):
            raise invalid(f"ProductionVariants have duplicate VariantName values: {names}")
        for variant in variants:
            if not variant.get("ModelName"):
                raise invalid(
                    f"variant {variant['VariantName']!r} needs a ModelName (inference components are not emulated)"
                )
            self._endpoints.model(variant["ModelName"])
            if "ServerlessConfig" not in variant and not (
                variant.get("InstanceType") and variant.get("InitialInstanceCount")
            ):
                raise invalid(f"variant {variant['VariantName']!r} needs InstanceType and InitialInstanceCount")
        if sum(float(v.get("InitialVariantWeight", 1.0)) for v in variants) <= 0:
            raise invalid("the sum of InitialVariantWeight over ProductionVariants must be greater than 0")
        capture = request.get("DataCaptureConfig")
        if capture is not None:
            check_capture_config(capture)
        config_arn = arn("endpoint-config", name)
        self._endpoints.add_config(name, {**request, "EndpointConfigArn": config_arn, "CreationTime": now()})
        return {"EndpointConfigArn": config_arn}

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._endpoints.config(name))

    # -- endpoints ------------------------------------------------------------------------------
    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateEndpoint: ``Creating`` now, ``InService`` once the fleet is provisioned (or ``Failed``)."""
        _validate("CreateEndpoint", request)
        name = request["EndpointName"]
        check_name(name, "endpoint")
        config_name = request["EndpointConfigName"]
        endpoint_arn = arn("endpoint", name)
        with self._endpoints.exclusive():
            self._endpoints.config(config_name)
            if self._endpoints.read_state(name) is not None:
                raise invalid(f'Cannot create already existing endpoint "{endpoint_arn}".')
            created = now()
            state: dict[str, Any] = {
                "EndpointName": name,
                "EndpointArn": endpoint_arn,
                "EndpointConfigName": config_name,
                "EndpointStatus": "Creating",
                "CreationTime": created,
                "LastModifiedTime": created,
                "Driver": self._driver.identity(),
                "Rollbacks": [],
            }
            if "Tags" in request:
                state["Tags"] = request["Tags"]
            record_event(state, f"creating the endpoint with configuration {config_name}")
            self._endpoints.write_state(name, state)
        self._driver.start_creation(name)
        return {"EndpointArn": endpoint_arn}

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        """UpdateEndpoint: a blue/green deployment of another endpoint config, driven in the background.

        Our rule on top of SageMaker's: a CANARY or LINEAR update must name at least one alarm in
        AutoRollbackConfiguration, and every alarm must be registered for the endpoint.
        """
        _validate("UpdateEndpoint", request)
        name = request["EndpointName"]
        config_name = request["EndpointConfigName"]
        deployment_config = request.get("DeploymentConfig")
        self._driver.recover_if_orphaned(name)
        with self._endpoints.exclusive():
            state = self._endpoints.require_state(name)
            status = state["EndpointStatus"]
            if status in TRANSITIONAL_STATUSES:
                raise invalid(f'Cannot update in-progress endpoint "{state["EndpointArn"]}" (status {status}).')
            if status != "InService":
                raise invalid(f'Cannot update endpoint "{state["EndpointArn"]}" with status {status}.')
            if config_name == state["EndpointConfigName"]:
                raise invalid(f"endpoint {name} already uses endpoint configuration {config_name}")
            config = self._endpoints.config(config_name)
            alarms = check_deployment_config(name, deployment_config, config, self._alarms)
            deployment = {
                "Id": uuid.uuid4().hex,
                "EndpointConfigName": config_name,
                "DeploymentConfig": deployment_config,
                "StartTime": now(),
                "Phase": "Provisioning",
                "GreenTraffic": 0.0,
                "Step": "provisioning the new fleet",
                "StepStartTime": now(),
                "Alarms": alarms,
                "AlarmStates": {},
            }

            def start(s: dict[str, Any]) -> None:
                s["EndpointStatus"] = "Updating"
                s["Deployment"] = deployment
                s["Driver"] = self._driver.identity()
                record_event(
                    s, f"updating to {config_name}: provisioning the new fleet", EndpointConfigName=config_name
                )

            self._endpoints.mutate(name, start)
        self._driver.start_update(name, deployment["Id"])
        return {"EndpointArn": state["EndpointArn"]}

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        """DescribeEndpoint.

        During an update ``EndpointConfigName`` and ``ProductionVariants`` are still the old fleet's; the new
        fleet is in ``PendingDeploymentSummary`` (its VariantStatus message gives its share of the traffic).
        """
        self._driver.recover_if_orphaned(name)
        return describe(self._endpoints.require_state(name), self._endpoints)

    def list_endpoints(self) -> dict[str, Any]:
        """ListEndpoints, newest first."""
        summaries = []
        for name in self._endpoints.endpoint_names():
            state = self._endpoints.read_state(name)
            if state is None:
                continue
            summaries.append(
                {k: state[k] for k in ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime")}
                | {"EndpointStatus": state["EndpointStatus"]}
            )
        summaries.sort(key=lambda s: s["CreationTime"], reverse=True)
        return {"Endpoints": summaries}

    def delete_endpoint(self, name: str) -> dict[str, Any]:
        """DeleteEndpoint (measurements and capture files stay, as CloudWatch metrics and S3 objects do)."""
        self._driver.recover_if_orphaned(name)
        with self._endpoints.exclusive():
            state = self._endpoints.require_state(name)
            if state["EndpointStatus"] in TRANSITIONAL_STATUSES:
                raise invalid(f'Cannot delete endpoint "{state["EndpointArn"]}" while it is {state["EndpointStatus"]}.')
            self._endpoints.delete_state(name)
        return {}

    def wait_for_status(self, name: str, statuses: Collection[str], timeout: float = 60.0) -> dict[str, Any]:
        """Poll DescribeEndpoint until its status is one of ``statuses``; the last description either way."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.describe_endpoint(name)
            if answer["EndpointStatus"] in statuses or time.monotonic() >= deadline:
                return answer
            time.sleep(0.01)

    def deployment_events(self, name: str) -> list[dict[str, Any]]:
        """Every status change and traffic shift of the endpoint, oldest first (for reports and the demo)."""
        return copy.deepcopy(self._endpoints.require_state(name).get("Events", []))

    def rollbacks(self, name: str) -> list[dict[str, Any]]:
        """Rolled-back (or failed) updates: time, attempted and restored configs, reason and alarm."""
        return copy.deepcopy(self._endpoints.require_state(name).get("Rollbacks", []))

    # -- alarms -----------------------------------------------------------------------------------
    def register_alarms(self, endpoint_name: str, rules: Sequence[AlarmRule]) -> None:
        """Define (or replace, by name) the alarms an update of ``endpoint_name`` may name for auto-rollback."""
        self._alarms.register(endpoint_name, rules)

    def describe_alarms(self, endpoint_name: str) -> list[dict[str, Any]]:
        """The registered alarms with their last evaluated state (CloudWatch DescribeAlarms-like)."""
        state = self._endpoints.read_state(endpoint_name) or {}
        deployment = state.get("Deployment") or {}
        states = deployment.get("AlarmStates") or state.get("LastAlarmStates") or {}
        answers = []
        for rule in self._alarms.rules(endpoint_name).values():
            evaluation = states.get(rule.alarm_name)
            answers.append(
                {
                    "AlarmName": rule.alarm_name,
                    "MetricName": rule.metric,
                    "Threshold": rule.threshold,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "StateValue": evaluation["state"] if evaluation else "INSUFFICIENT_DATA",
                    "StateReason": evaluation["reason"] if evaluation else "not evaluated yet",
                    "Rule": rule.to_json_dict(),
                }
            )
        return answers

    # -- invocations ------------------------------------------------------------------------------
    def invoke(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str | None = None,
        *,
        inference_id: str | None = None,
    ) -> InvokeResult:
        """InvokeEndpoint: route by the current traffic shares, run the model, record metrics and capture.

        ``inference_id`` (InvokeEndpoint's ``InferenceId``) is recorded in the captured record, where
        monitoring joins ground-truth labels on it.

        Raises:
            InvocationError: 400 ``ValidationError`` when the endpoint does not exist or is not in service,
                or the inference id is not 1-64 printable characters.
            ModelError: 4xx for a body, content type or accept the model cannot serve (the message says
                what is wrong); 5xx when the model fails. ``variant`` names who answered.
        """
        return self._invoker.invoke(endpoint_name, body, content_type, accept, inference_id=inference_id)

    # -- statistics -------------------------------------------------------------------------------
    def invocation_stats(self, endpoint_name: str, since: float | None = None) -> dict[str, Any]:
        """Per fleet (endpoint config) and variant: invocations, 4xx and 5xx errors, rows, positive prediction
        rate (score >= 0.5), model latency p50 / p99 in ms. ``since`` (epoch seconds) limits it to the measurements
        from then on (within the most recent 200,000 per fleet)."""
        self._metrics.flush()  # a fleet's first measurements may still be queued: its file would be missing
        fleets = []
        for path in sorted((self._endpoints.endpoint_dir(endpoint_name) / "metrics").glob("*.jsonl")):
            fleets.extend(self._metrics.variant_stats(path, since))
        return {"EndpointName": endpoint_name, "Variants": fleets}

    # -- data capture -----------------------------------------------------------------------------
    def capture_files(self, endpoint_name: str) -> list[Path]:
        """The endpoint's local capture files, oldest hour first."""
        return self._capture.files(endpoint_name)

    def upload_capture(self, endpoint_name: str) -> list[S3Ref]:
        """Copy the capture files to the DestinationS3Uri of the endpoint's (newest capturing) config.

        Keys follow SageMaker's layout: ``<prefix>/<endpoint>/<variant>/YYYY/MM/DD/HH/capture.jsonl``;
        uploading again puts a new version holding every complete line written so far.
        """
        return self._capture.upload(endpoint_name)
