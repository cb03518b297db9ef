"""Local emulation of SageMaker real-time hosting: models, endpoint configs, endpoints and invocations.

The API methods take and return the SageMaker API shapes (requests are checked against botocore's
service model), so the ASL's ``sagemaker:createModel`` / ``createEndpointConfig`` /
``createEndpoint`` / ``updateEndpoint`` tasks and ``aws-sdk:sagemaker:describeEndpoint`` polling run
against this class unchanged (see :meth:`LocalSageMakerHosting.functions`).

Updates are blue/green deployments as SageMaker documents them: the old fleet (blue) keeps serving
while the new fleet (green) is provisioned; traffic then shifts to green (``ALL_AT_ONCE``,
``CANARY`` or ``LINEAR``), each shift followed by a baking period during which the
AutoRollbackConfiguration alarms are evaluated on green's own measurements; after the
``TerminationWaitInSeconds`` bake the blue fleet is terminated and the endpoint reports the new
EndpointConfigName. An alarm in ALARM at any point sends all traffic back to blue: the endpoint goes
``RollingBack`` then ``InService`` with the *old* EndpointConfigName, and the reason and alarm are
recorded. All waits are multiplied by ``time_scale``.

CloudWatch alarms are evaluated locally from :class:`AlarmRule` definitions registered per endpoint
(:meth:`LocalSageMakerHosting.register_alarms`); in AWS the same names refer to real CloudWatch alarms.

State lives under ``<root>/endpoints/``: one JSON file per model (``_models/``), endpoint config
(``_endpoint-configs/``) and endpoint (``<name>/endpoint.json``), written atomically; per-fleet
invocation measurements (``<name>/metrics/<config>.jsonl``) and data capture
(``<name>/capture/<variant>/YYYY/MM/DD/HH/capture.jsonl``) are append-only JSON lines. A later
process sees the endpoints and serves them; an update whose driving process exited is rolled back.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.errors import ArtifactNotFoundError, InvalidEventError
from governed_mlops.models import S3Ref
from governed_mlops_local.endpoints.alarms import (
    ALARM_METRICS,
    AlarmEvaluation,
    AlarmRule,
    end_of_bake,
    evaluate_alarm,
)
from governed_mlops_local.endpoints.capture import DataCapture, check_capture_config
from governed_mlops_local.endpoints.containers import ModelContainers
from governed_mlops_local.endpoints.invocation import InvocationError, Invoker, InvokeResult, ModelError
from governed_mlops_local.endpoints.metrics import Measurement, MetricsLog
from governed_mlops_local.endpoints.naming import arn, check_name, invalid
from governed_mlops_local.endpoints.routing import TrafficRouter
from governed_mlops_local.endpoints.store import AlarmRegistry, EndpointStore, now, record_event
from governed_mlops_local.sagemaker import _validate, local_function_arn

__all__ = [
    "ALARM_METRICS",
    "CREATE_ENDPOINT_CONFIG_RESOURCE",
    "CREATE_ENDPOINT_RESOURCE",
    "CREATE_MODEL_RESOURCE",
    "DESCRIBE_ENDPOINT_RESOURCE",
    "PROVISION_SECONDS",
    "ROLLBACK_SECONDS",
    "UPDATE_ENDPOINT_RESOURCE",
    "AlarmEvaluation",
    "AlarmRule",
    "InvocationError",
    "InvokeResult",
    "LocalSageMakerHosting",
    "Measurement",
    "ModelError",
    "evaluate_alarm",
]

logger = logging.getLogger(__name__)

CREATE_MODEL_RESOURCE = "arn:aws:states:::sagemaker:createModel"
CREATE_ENDPOINT_CONFIG_RESOURCE = "arn:aws:states:::sagemaker:createEndpointConfig"
CREATE_ENDPOINT_RESOURCE = "arn:aws:states:::sagemaker:createEndpoint"
UPDATE_ENDPOINT_RESOURCE = "arn:aws:states:::sagemaker:updateEndpoint"
DESCRIBE_ENDPOINT_RESOURCE = "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"

PROVISION_SECONDS = 4.0
"""Time to provision a fleet (new endpoint, or the green fleet of an update), before ``time_scale``."""
ROLLBACK_SECONDS = 2.0
"""Time an endpoint stays RollingBack (green fleet terminated) after all traffic went back to blue."""
ALARM_PERIOD_SECONDS = 0.02
"""Real seconds between alarm evaluations during a bake (CloudWatch: the alarm period)."""
MAX_SHIFT_FRACTION = 0.5
"""SageMaker: a canary (or linear step) may be at most 50% of the new fleet's capacity."""

_TRANSITIONAL = ("Creating", "Updating", "RollingBack")
_LIVE_INSTANCES: set[str] = set()
"""Hosting instances of this process that have not been closed (drivers of in-flight transitions)."""


class _Stopped(Exception):
    """The hosting instance is closing: a driver thread leaves the endpoint to recovery."""


@dataclass(frozen=True)
class _Step:
    fraction: float
    bake_seconds: float
    label: str


def _driver_alive(driver: Mapping[str, Any] | None) -> bool:
    if not driver:
        return False
    pid = int(driver.get("pid", -1))
    if pid == os.getpid():
        return driver.get("instance") in _LIVE_INSTANCES
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _capacity_fraction(size: Mapping[str, Any], instances: int, what: str) -> float:
    value = float(size["Value"])
    fraction = value / 100.0 if size["Type"] == "CAPACITY_PERCENT" else value / max(instances, 1)
    if fraction > MAX_SHIFT_FRACTION:
        raise invalid(
            f"{what} {size['Type']} {size['Value']} is {fraction:.0%} of the new fleet ({instances} instances): "
            f"it must be at most {MAX_SHIFT_FRACTION:.0%} of the new fleet's capacity"
        )
    return fraction


def _traffic_plan(policy: Mapping[str, Any] | None, instances: int) -> list[_Step]:
    """The traffic shifts of a blue/green update, each with its baking period (seconds, unscaled)."""
    if not policy:
        # No DeploymentConfig: SageMaker's default blue/green update, all at once, no baking.
        return [_Step(1.0, 0.0, "all traffic on the new fleet")]
    routing = policy["TrafficRoutingConfiguration"]
    kind, wait = routing["Type"], float(routing["WaitIntervalInSeconds"])
    steps: list[_Step] = []
    if kind == "ALL_AT_ONCE":
        steps.append(_Step(1.0, wait, "all traffic on the new fleet"))
    elif kind == "CANARY":
        if "CanarySize" not in routing:
            raise invalid("TrafficRoutingConfiguration.CanarySize is required for CANARY traffic routing")
        fraction = _capacity_fraction(routing["CanarySize"], instances, "CanarySize")
        steps.append(_Step(fraction, wait, f"canary: {fraction:.0%} of traffic on the new fleet"))
    else:
        if "LinearStepSize" not in routing:
            raise invalid("TrafficRoutingConfiguration.LinearStepSize is required for LINEAR traffic routing")
        step = _capacity_fraction(routing["LinearStepSize"], instances, "LinearStepSize")
        count = math.ceil(1.0 / step - 1e-9)
        for index in range(1, count + 1):
            fraction = min(1.0, step * index)
            steps.append(_Step(fraction, wait, f"linear step {index}/{count}: {fraction:.0%} of traffic"))
    termination = float(policy.get("TerminationWaitInSeconds", 0))
    steps.append(_Step(1.0, termination, "all traffic on the new fleet, baking before the old fleet is terminated"))
    maximum = policy.get("MaximumExecutionTimeoutInSeconds")
    total = sum(s.bake_seconds for s in steps)
    if maximum is not None and total >= float(maximum):
        raise invalid(
            f"MaximumExecutionTimeoutInSeconds ({maximum}) must be larger than the total waiting time "
            f"({total:g} s of WaitIntervalInSeconds and TerminationWaitInSeconds)"
        )
    return steps


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
        self.time_scale = time_scale
        self._lock = threading.Lock()
        self._drivers: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._metrics = MetricsLog()
        router = TrafficRouter(rng_seed)
        self._containers = ModelContainers(self._endpoints, store)
        self._capture = DataCapture(self._endpoints, store, router.draw)
        self._invoker = Invoker(self._endpoints, router, self._containers, self._metrics, self._capture)
        self.instance_id = uuid.uuid4().hex
        self._closed = False
        _LIVE_INSTANCES.add(self.instance_id)
        for name in self._endpoints.endpoint_names():
            self._recover_if_orphaned(name)

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
        self._stop.set()
        for thread in list(self._drivers.values()):
            thread.join(timeout=10)
        _LIVE_INSTANCES.discard(self.instance_id)
        for name in list(self._drivers):
            self._recover_if_orphaned(name)
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

    def _driver(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "instance": self.instance_id}

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
                "Driver": self._driver(),
                "Rollbacks": [],
            }
            if "Tags" in request:
                state["Tags"] = request["Tags"]
            record_event(state, f"creating the endpoint with configuration {config_name}")
            self._endpoints.write_state(name, state)
        self._start_driver(name, lambda: self._drive_creation(name))
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
        self._recover_if_orphaned(name)
        with self._endpoints.exclusive():
            state = self._endpoints.require_state(name)
            status = state["EndpointStatus"]
            if status in _TRANSITIONAL:
                raise invalid(f'Cannot update in-progress endpoint "{state["EndpointArn"]}" (status {status}).')
            if status != "InService":
                raise invalid(f'Cannot update endpoint "{state["EndpointArn"]}" with status {status}.')
            if config_name == state["EndpointConfigName"]:
                raise invalid(f"endpoint {name} already uses endpoint configuration {config_name}")
            config = self._endpoints.config(config_name)
            alarms = self._check_deployment_config(name, deployment_config, config)
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
                s["Driver"] = self._driver()
                record_event(
                    s, f"updating to {config_name}: provisioning the new fleet", EndpointConfigName=config_name
                )

            self._endpoints.mutate(name, start)
        self._start_driver(name, lambda: self._drive_update(name, deployment["Id"]))
        return {"EndpointArn": state["EndpointArn"]}

    def _check_deployment_config(
        self, name: str, deployment_config: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> list[str]:
        if not deployment_config:
            return []
        if "RollingUpdatePolicy" in deployment_config:
            raise invalid("RollingUpdatePolicy is not emulated locally: use BlueGreenUpdatePolicy")
        policy = deployment_config.get("BlueGreenUpdatePolicy")
        alarms = [a["AlarmName"] for a in (deployment_config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        if policy is not None:
            kind = policy["TrafficRoutingConfiguration"]["Type"]
            if kind in ("CANARY", "LINEAR") and not alarms:
                raise invalid(
                    f"a {kind} update must name at least one alarm in AutoRollbackConfiguration.Alarms: "
                    "without one nothing watches the new fleet"
                )
            _traffic_plan(policy, self._instances(config))
        rules = self._alarms.rules(name)
        unknown = [alarm for alarm in alarms if alarm not in rules]
        if unknown:
            raise invalid(f"AutoRollbackConfiguration names alarms not registered for endpoint {name}: {unknown}")
        return alarms

    @staticmethod
    def _instances(config: Mapping[str, Any]) -> int:
        return sum(int(v.get("InitialInstanceCount", 1)) for v in config["ProductionVariants"])

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        """DescribeEndpoint.

        During an update ``EndpointConfigName`` and ``ProductionVariants`` are still the old fleet's; the new
        fleet is in ``PendingDeploymentSummary`` (its VariantStatus message gives its share of the traffic).
        """
        self._recover_if_orphaned(name)
        return self._describe(self._endpoints.require_state(name))

    def _describe(self, state: Mapping[str, Any]) -> dict[str, Any]:
        status = state["EndpointStatus"]
        config = self._endpoints.config(state["EndpointConfigName"])
        serving = status not in ("Creating", "Failed")
        answer: dict[str, Any] = {
            "EndpointName": state["EndpointName"],
            "EndpointArn": state["EndpointArn"],
            "EndpointConfigName": state["EndpointConfigName"],
            "ProductionVariants": [
                self._variant_summary(v, serving, None if serving else status) for v in config["ProductionVariants"]
            ],
        }
        capture = config.get("DataCaptureConfig")
        if capture:
            answer["DataCaptureConfig"] = {
                "EnableCapture": bool(capture.get("EnableCapture", True)),
                "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
                "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
                "DestinationS3Uri": capture["DestinationS3Uri"],
                "KmsKeyId": capture.get("KmsKeyId", ""),
            }
        answer["EndpointStatus"] = status
        if state.get("FailureReason"):
            answer["FailureReason"] = state["FailureReason"]
        answer["CreationTime"] = state["CreationTime"]
        answer["LastModifiedTime"] = state["LastModifiedTime"]
        if state.get("LastDeploymentConfig"):
            answer["LastDeploymentConfig"] = state["LastDeploymentConfig"]
        deployment = state.get("Deployment")
        if deployment:
            green = self._endpoints.config(deployment["EndpointConfigName"])
            provisioned = deployment["Phase"] != "Provisioning"
            message = f"{deployment['GreenTraffic']:.0%} of endpoint traffic; {deployment['Step']}"
            variant_status = {
                "Status": {"Provisioning": "Creating", "RollingBack": "Deleting"}.get(deployment["Phase"], "Baking"),
                "StatusMessage": message,
                "StartTime": deployment["StepStartTime"],
            }
            answer["PendingDeploymentSummary"] = {
                "EndpointConfigName": deployment["EndpointConfigName"],
                "ProductionVariants": [
                    {
                        **self._variant_summary(v, provisioned, None),
                        **({"InstanceType": v["InstanceType"]} if v.get("InstanceType") else {}),
                        "VariantStatus": [variant_status],
                    }
                    for v in green["ProductionVariants"]
                ],
                "StartTime": deployment["StartTime"],
            }
        return answer

    def _variant_summary(self, variant: Mapping[str, Any], provisioned: bool, status: str | None) -> dict[str, Any]:
        weight = float(variant.get("InitialVariantWeight", 1.0))
        count = int(variant.get("InitialInstanceCount", 1))
        summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
        image = (self._endpoints.model(variant["ModelName"]).get("PrimaryContainer") or {}).get("Image")
        if image:
            summary["DeployedImages"] = [{"SpecifiedImage": image, "ResolvedImage": image}]
        summary |= {
            "CurrentWeight": weight if provisioned else 0.0,
            "DesiredWeight": weight,
            "CurrentInstanceCount": count if provisioned else 0,
            "DesiredInstanceCount": count,
        }
        if status == "Creating":
            summary["VariantStatus"] = [{"Status": "Creating"}]
        return summary

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
        self._recover_if_orphaned(name)
        with self._endpoints.exclusive():
            state = self._endpoints.require_state(name)
            if state["EndpointStatus"] in _TRANSITIONAL:
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

    # -- driving transitions --------------------------------------------------------------------
    def _start_driver(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"endpoint-{name}", daemon=True)
        with self._lock:
            self._drivers[name] = thread
        thread.start()

    def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of emulated time; raises _Stopped when the instance closes."""
        self._sleep_real(seconds * self.time_scale)

    def _sleep_real(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise _Stopped

    def _drive_creation(self, name: str) -> None:
        try:
            self._sleep(PROVISION_SECONDS)
            self._finish_creation(name)
        except _Stopped:
            return
        except Exception:  # a bug must not leave the endpoint Creating forever
            logger.exception("creating endpoint %s failed", name)
            self._endpoints.mutate(name, lambda s: self._set_failed(s, "InternalFailure: see the local runtime log"))

    def _finish_creation(self, name: str) -> None:
        state = self._endpoints.require_state(name)
        failure = self._containers.provision(self._endpoints.config(state["EndpointConfigName"]))

        def finish(s: dict[str, Any]) -> None:
            if failure:
                self._set_failed(s, failure)
                return
            s["EndpointStatus"] = "InService"
            s.pop("Driver", None)
            record_event(s, "the endpoint is in service")

        self._endpoints.mutate(name, finish)

    def _set_failed(self, state: dict[str, Any], reason: str) -> None:
        state["EndpointStatus"] = "Failed"
        state["FailureReason"] = reason
        state.pop("Driver", None)
        record_event(state, f"creation failed: {reason}")

    def _drive_update(self, name: str, deployment_id: str) -> None:
        try:
            self._run_update(name, deployment_id)
        except _Stopped:
            return
        except Exception as exc:  # never leave traffic half-shifted because of a bug
            logger.exception("updating endpoint %s failed", name)
            with contextlib.suppress(_Stopped):
                self._roll_back(name, deployment_id, f"InternalFailure: {type(exc).__name__}: {exc}", None)

    def _deployment(self, name: str, deployment_id: str) -> dict[str, Any]:
        """The in-flight deployment ``deployment_id``; _Stopped when it is gone (finished or recovered elsewhere)."""
        deployment: dict[str, Any] = (self._endpoints.read_state(name) or {}).get("Deployment") or {}
        if deployment.get("Id") != deployment_id:
            raise _Stopped
        return deployment

    def _set_step(self, name: str, deployment_id: str, step: _Step) -> None:
        def shift(s: dict[str, Any]) -> None:
            deployment = s.get("Deployment") or {}
            if deployment.get("Id") != deployment_id:
                raise _Stopped
            deployment |= {
                "Phase": "Baking",
                "GreenTraffic": step.fraction,
                "Step": step.label,
                "StepStartTime": now(),
            }
            record_event(
                s,
                f"{step.label}; baking {step.bake_seconds:g} s",
                GreenTraffic=step.fraction,
                EndpointConfigName=deployment["EndpointConfigName"],
            )

        self._endpoints.mutate(name, shift)

    def _run_update(self, name: str, deployment_id: str) -> None:
        deployment = self._deployment(name, deployment_id)
        green_name = deployment["EndpointConfigName"]
        green = self._endpoints.config(green_name)
        started = time.monotonic()
        self._sleep(PROVISION_SECONDS)
        failure = self._containers.provision(green)
        if failure:
            self._end_failed_update(name, deployment_id, failure)
            return
        policy = (deployment.get("DeploymentConfig") or {}).get("BlueGreenUpdatePolicy")
        maximum = (policy or {}).get("MaximumExecutionTimeoutInSeconds")
        deadline = started + float(maximum) * self.time_scale if maximum is not None else math.inf
        rules_by_name = self._alarms.rules(name)
        rules = [rules_by_name[alarm] for alarm in deployment["Alarms"] if alarm in rules_by_name]
        metrics_path = self._endpoints.metrics_path(name, green_name)
        for step in _traffic_plan(policy, self._instances(green)):
            window_start = time.time()
            self._set_step(name, deployment_id, step)
            bake_end = time.monotonic() + step.bake_seconds * self.time_scale
            final = False
            while True:
                tripped = self._evaluate_alarms(name, deployment_id, rules, metrics_path, window_start, final=final)
                if tripped is not None:
                    reason = f"alarm {tripped.alarm_name} went to ALARM: {tripped.reason}"
                    self._roll_back(name, deployment_id, reason, tripped.alarm_name)
                    return
                if final:
                    break
                if time.monotonic() >= deadline:
                    self._roll_back(
                        name, deployment_id, f"the update exceeded MaximumExecutionTimeoutInSeconds ({maximum})", None
                    )
                    return
                remaining = bake_end - time.monotonic()
                if remaining <= 0:
                    final = True
                    continue
                self._sleep_real(min(ALARM_PERIOD_SECONDS, remaining))
        self._complete_update(name, deployment_id)

    def _evaluate_alarms(
        self,
        name: str,
        deployment_id: str,
        rules: Sequence[AlarmRule],
        metrics_path: Path,
        window_start: float,
        *,
        final: bool,
    ) -> AlarmEvaluation | None:
        """Evaluate every alarm on green's measurements in this bake window; the first in ALARM, if any."""
        if not rules:
            return None
        measurements = self._metrics.since(metrics_path, window_start)
        evaluations = []
        for rule in rules:
            evaluation = evaluate_alarm(rule, measurements)
            evaluations.append(end_of_bake(rule, evaluation) if final else evaluation)
        recorded = self._deployment(name, deployment_id).get("AlarmStates", {})
        if any(recorded.get(e.alarm_name, {}).get("state") != e.state for e in evaluations) or final:

            def note(s: dict[str, Any]) -> None:
                deployment = s.get("Deployment") or {}
                if deployment.get("Id") != deployment_id:
                    raise _Stopped
                deployment["AlarmStates"] = {e.alarm_name: e.to_json_dict() for e in evaluations}

            self._endpoints.mutate(name, note)
        return next((e for e in evaluations if e.state == "ALARM"), None)

    def _roll_back(self, name: str, deployment_id: str, reason: str, alarm: str | None) -> None:
        """All traffic back to blue now; RollingBack while green is terminated; then InService on the old config."""

        def begin(s: dict[str, Any]) -> None:
            deployment = s.get("Deployment") or {}
            if deployment.get("Id") != deployment_id:
                raise _Stopped
            s["EndpointStatus"] = "RollingBack"
            deployment |= {
                "Phase": "RollingBack",
                "GreenTraffic": 0.0,
                "Step": "rolling back",
                "StepStartTime": now(),
                "RollbackReason": reason,
                "RollbackAlarm": alarm,
            }
            record_event(s, f"rolling back to {s['EndpointConfigName']}: {reason}", GreenTraffic=0.0, AlarmName=alarm)

        self._endpoints.mutate(name, begin)
        with contextlib.suppress(_Stopped):
            self._sleep(ROLLBACK_SECONDS)
        self._finish_rollback(name, reason, alarm, deployment_id)

    def _finish_rollback(self, name: str, reason: str, alarm: str | None, deployment_id: str | None = None) -> None:
        def finish(s: dict[str, Any]) -> None:
            if deployment_id is not None and (s.get("Deployment") or {}).get("Id") != deployment_id:
                raise _Stopped
            deployment = s.pop("Deployment", None) or {}
            s["EndpointStatus"] = "InService"
            s["FailureReason"] = f"Deployment rolled back: {reason}"
            if deployment.get("DeploymentConfig"):
                s["LastDeploymentConfig"] = deployment["DeploymentConfig"]
            s["LastAlarmStates"] = deployment.get("AlarmStates", {})
            s.pop("Driver", None)
            s.setdefault("Rollbacks", []).append(
                {
                    "Time": now(),
                    "AttemptedEndpointConfigName": deployment.get("EndpointConfigName"),
                    "RestoredEndpointConfigName": s["EndpointConfigName"],
                    "Reason": reason,
                    "AlarmName": alarm,
                    "AlarmStates": deployment.get("AlarmStates", {}),
                }
            )
            record_event(s, f"rolled back: serving {s['EndpointConfigName']} again", GreenTraffic=0.0, AlarmName=alarm)

        self._endpoints.mutate(name, finish)

    def _end_failed_update(self, name: str, deployment_id: str, reason: str) -> None:
        """The new fleet never served: back to InService on the old config with the failure reason."""

        def finish(s: dict[str, Any]) -> None:
            deployment = s.get("Deployment") or {}
            if deployment.get("Id") != deployment_id:
                raise _Stopped
            s.pop("Deployment")
            s["EndpointStatus"] = "InService"
            s["FailureReason"] = reason
            if deployment.get("DeploymentConfig"):
                s["LastDeploymentConfig"] = deployment["DeploymentConfig"]
            s.pop("Driver", None)
            s.setdefault("Rollbacks", []).append(
                {
                    "Time": now(),
                    "AttemptedEndpointConfigName": deployment["EndpointConfigName"],
                    "RestoredEndpointConfigName": s["EndpointConfigName"],
                    "Reason": reason,
                    "AlarmName": None,
                    "AlarmStates": {},
                }
            )
            record_event(s, f"update failed, still serving {s['EndpointConfigName']}: {reason}")

        self._endpoints.mutate(name, finish)

    def _complete_update(self, name: str, deployment_id: str) -> None:
        def finish(s: dict[str, Any]) -> None:
            deployment = s.get("Deployment") or {}
            if deployment.get("Id") != deployment_id:
                raise _Stopped
            old = s["EndpointConfigName"]
            s.pop("Deployment")
            s["EndpointConfigName"] = deployment["EndpointConfigName"]
            s["EndpointStatus"] = "InService"
            s.pop("FailureReason", None)
            if deployment.get("DeploymentConfig"):
                s["LastDeploymentConfig"] = deployment["DeploymentConfig"]
            s["LastAlarmStates"] = deployment.get("AlarmStates", {})
            s.pop("Driver", None)
            record_event(
                s,
                f"update complete: old fleet ({old}) terminated, serving {s['EndpointConfigName']}",
                GreenTraffic=1.0,
                EndpointConfigName=s["EndpointConfigName"],
            )

        self._endpoints.mutate(name, finish)

    def _recover_if_orphaned(self, name: str) -> None:
        """Finish a transition whose driving process (or closed instance) is gone.

        Creating: provision now (InService or Failed). Updating / RollingBack: all traffic back to
        the old fleet, InService on the old config, with the reason recorded.
        """
        state = self._endpoints.read_state(name)
        if state is None or state["EndpointStatus"] not in _TRANSITIONAL or _driver_alive(state.get("Driver")):
            return
        with self._endpoints.exclusive():
            state = self._endpoints.read_state(name)
            if state is None or state["EndpointStatus"] not in _TRANSITIONAL or _driver_alive(state.get("Driver")):
                return
            driver = state.get("Driver") or {}
            if state["EndpointStatus"] == "Creating":
                self._finish_creation(name)
                return
            reason = (
                f"the update was interrupted: the local process driving it (pid {driver.get('pid')}) stopped "
                "before it completed"
            )
            deployment = state.get("Deployment") or {}
            if deployment.get("RollbackReason"):  # it was already rolling back: finish that rollback
                reason = str(deployment["RollbackReason"])
            self._finish_rollback(name, reason, deployment.get("RollbackAlarm"))

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
