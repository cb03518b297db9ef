"""SageMaker real-time hosting on the parity stack, with the CloudWatch services around it.

moto stores endpoints but serves nothing (InvokeEndpoint answers canned data), has no UpdateEndpoint,
applies no metric filter and evaluates no alarm. This module adds what AWS does for a deployed model:

* **Containers.** InvokeEndpoint runs the model's own inference code: for each (endpoint, model) a
  container process is started from the model archive in S3 (read as the model's execution role), with
  the environment CreateModel gave it, calling ``model_fn`` once and ``input_fn`` / ``predict_fn`` /
  ``output_fn`` per request, as SageMaker's script mode does. Requests and answers travel on dedicated
  pipes; the process's **real stdout** is the container's log.
* **Endpoint logs.** What a container prints goes to the log group ``/aws/sagemaker/Endpoints/<endpoint>``,
  stream ``<variant>/<instance id>``, written with the model's execution role (recorded and IAM-checked
  like every call), as SageMaker ships container output.
* **Metric filters.** Each batch of events written is run through the log group's metric filters as
  stored in moto (:mod:`tests.parity.cloudwatch_emulation`), and the datapoints are put into moto
  CloudWatch, as CloudWatch Logs does.
* **Alarms.** :meth:`ParityHosting.evaluate_alarm` evaluates a stored alarm over its last period (metric
  math included) and sets its state in moto CloudWatch, as CloudWatch does every period.
* **Blue/green updates.** UpdateEndpoint with a BlueGreenUpdatePolicy provisions the new fleet (its
  containers have loaded their model: the health check passes), shifts
  traffic in the steps of its TrafficRoutingConfiguration (the local emulator's
  :func:`~governed_mlops_local.endpoints.deployment.traffic_plan`, which checks SageMaker's rules),
  bakes each step while evaluating the AutoRollbackConfiguration alarms, and on ALARM sends all traffic
  back to the old fleet: RollingBack, then InService on the old config with the reason in FailureReason.
  Waits are multiplied by ``time_scale``.

Not emulated: SageMaker's own AWS/SageMaker metrics (Invocation5XXErrors, ModelLatency) are not
published, so alarms on them see no data (TreatMissingData decides).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from governed_mlops_local.endpoints.deployment import fleet_instances, traffic_plan
from governed_mlops_local.sagemaker import SageMakerError
from tests.parity.cloudwatch_emulation import breaches, evaluate_expression, metric_data

__all__ = ["ParityHosting"]

PROVISION_SECONDS = 4.0
"""Time to provision the new fleet of an update, before ``time_scale``."""
ROLLBACK_SECONDS = 2.0
"""Time an endpoint stays RollingBack, before ``time_scale``."""
ALARM_PERIOD_SECONDS = 0.1
"""Real seconds between alarm evaluations during a bake."""

_CONTAINER = r"""
import base64, importlib, json, os, sys
submit = os.environ["SAGEMAKER_SUBMIT_DIRECTORY"]
sys.path.insert(0, submit)
module = importlib.import_module(os.environ["SAGEMAKER_PROGRAM"].removesuffix(".py"))
model = module.model_fn(sys.argv[1])
requests = os.fdopen(int(sys.argv[2]), "r")
answers = os.fdopen(int(sys.argv[3]), "w")
answers.write(json.dumps({"status": 200, "ready": True}) + "\n")  # the health check (/ping) passes
answers.flush()
for line in requests:
    request = json.loads(line)
    try:
        data = module.input_fn(base64.b64decode(request["body"]), request["content_type"])
        body, content_type = module.output_fn(module.predict_fn(data, model), request["accept"])
        answer = {"status": 200, "body": base64.b64encode(body).decode(), "content_type": content_type}
    except Exception as exc:
        answer = {"status": int(getattr(exc, "status_code", 500)), "message": f"{type(exc).__name__}: {exc}"}
    sys.stdout.flush()
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
"""

Sessions = Callable[[str], boto3.Session]


class ModelError(Exception):
    """The container answered with an error status (SageMaker Runtime's ModelError)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Container:
    """One model's container process serving one endpoint's variant."""

    process: subprocess.Popen[bytes]
    requests: Any
    answers: Any
    log_group: str
    log_stream: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None
    #: The container loaded its model and said so (SageMaker's /ping); None until it answered or exited.
    healthy: bool | None = None

    def wait_healthy(self) -> bool:
        """Block until the container has loaded its model (True) or exited before it did (False)."""
        with self.lock:
            if self.healthy is None:
                line = self.answers.readline()
                self.healthy = bool(line) and bool(json.loads(line).get("ready"))
            return self.healthy


@dataclass
class _Deployment:
    """An endpoint's in-flight blue/green update: the green config and green's share of traffic."""

    green_config: str
    share: float = 0.0


class ParityHosting:
    """Endpoint serving, logs, metric filters, alarms and blue/green updates (see the module docstring)."""

    def __init__(self, work_dir: Path, sessions: Sessions, region: str, harness: Callable[[str], Any]) -> None:
        self._work_dir = work_dir
        self._sessions = sessions
        self._region = region
        self._harness = harness
        self.time_scale = 0.05
        self._lock = threading.Lock()
        self._containers: dict[tuple[str, str], _Container] = {}
        self._deployments: dict[str, _Deployment] = {}
        self._stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self._draw = random.Random(7)
        #: Alarms that went to ALARM during updates: (alarm name, state, the step during which it fired).
        self.alarm_history: list[tuple[str, str, str]] = []
        #: Traffic shifts of blue/green updates: (endpoint, green's share, the step's label).
        self.shifts: list[tuple[str, float, str]] = []

    # -- serving --------------------------------------------------------------------------------
    def invoke(self, backend: Any, endpoint_name: str, body: bytes, content_type: str, accept: str) -> Any:
        """InvokeEndpoint: (body, content type, variant) from the fleet the traffic shares choose."""
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status not in ("InService", "Updating", "RollingBack"):
            raise LookupError(f"Endpoint {endpoint_name} of account {backend.account_id} not found.")
        config_name = endpoint.endpoint_config_name
        with self._lock:
            deployment = self._deployments.get(endpoint_name)
            if deployment is not None and deployment.share > 0 and self._draw.random() < deployment.share:
                config_name = deployment.green_config
        config = backend.describe_endpoint_config(config_name)
        variant = config["ProductionVariants"][0]
        container = self._container(backend, endpoint_name, variant)
        if not container.wait_healthy():
            raise ModelError(500, f"the container of {variant['ModelName']} exited before it loaded its model")
        request = {"body": base64.b64encode(body).decode(), "content_type": content_type, "accept": accept}
        with container.lock:
            container.requests.write(json.dumps(request) + "\n")
            container.requests.flush()
            answer = json.loads(container.answers.readline() or '{"status": 500, "message": "container exited"}')
        if answer["status"] != 200:
            raise ModelError(int(answer["status"]), str(answer["message"]))
        return base64.b64decode(answer["body"]), answer["content_type"], variant["VariantName"]

    def _container(self, backend: Any, endpoint_name: str, variant: dict[str, Any]) -> _Container:
        key = (endpoint_name, variant["ModelName"])
        with self._lock:
            container = self._containers.get(key)
            if container is None:
                container = self._containers[key] = self._start_container(backend, endpoint_name, variant)
        return container

    def _start_container(self, backend: Any, endpoint_name: str, variant: dict[str, Any]) -> _Container:
        model = backend.describe_model(variant["ModelName"])
        role = model.execution_role_arn
        primary = model.primary_container
        model_dir = self._work_dir / "endpoints" / endpoint_name / variant["ModelName"]
        bucket, _, key = primary["ModelDataUrl"].removeprefix("s3://").partition("/")
        archive = self._sessions(role).client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
        environment = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
            "OMP_NUM_THREADS": "1",
            **dict(primary.get("Environment") or {}),
        }
        # /opt/ml/model is where SageMaker unpacks the archive; here it is model_dir.
        environment["SAGEMAKER_SUBMIT_DIRECTORY"] = str(
            model_dir
            / environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code").removeprefix("/opt/ml/model/")
        )
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-c", _CONTAINER, str(model_dir), str(request_read), str(answer_write)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=model_dir,
            pass_fds=(request_read, answer_write),
        )
        os.close(request_read)
        os.close(answer_write)
        container = _Container(
            process=process,
            requests=os.fdopen(request_write, "w"),
            answers=os.fdopen(answer_read, "r"),
            log_group=f"/aws/sagemaker/Endpoints/{endpoint_name}",
            log_stream=f"{variant['VariantName']}/i-{uuid.uuid4().hex[:17]}",
        )
        container.reader = threading.Thread(
            target=self._ship_logs, args=(container, role), name=f"logs-{endpoint_name}", daemon=True
        )
        container.reader.start()
        return container

    # -- logs and metric filters ----------------------------------------------------------------
    def _ship_logs(self, container: _Container, role: str) -> None:
        """The container's stdout, line by line, into its log stream; then through the metric filters."""
        logs = self._sessions(role).client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=container.log_group)
        logs.create_log_stream(logGroupName=container.log_group, logStreamName=container.log_stream)
        assert container.process.stdout is not None
        for raw in container.process.stdout:
            message = raw.decode(errors="replace").rstrip("\n")
            if not message:
                continue
            event = {"timestamp": int(time.time() * 1000), "message": message}
            logs.put_log_events(logGroupName=container.log_group, logStreamName=container.log_stream, logEvents=[event])
            self.apply_metric_filters(container.log_group, [message])

    def apply_metric_filters(self, log_group: str, messages: list[str]) -> int:
        """What CloudWatch Logs does with events written to ``log_group``: every stored metric filter turns
        the matching ones into datapoints in CloudWatch. Returns the datapoints put."""
        filters = self._harness("logs").describe_metric_filters(logGroupName=log_group)["metricFilters"]
        put = 0
        cloudwatch = self._harness("cloudwatch")
        for metric_filter in filters:
            for message in messages:
                for datum in metric_data(metric_filter, message):
                    namespace = datum.pop("Namespace")
                    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[datum])
                    put += 1
        return put

    # -- alarms ---------------------------------------------------------------------------------
    def evaluate_alarm(self, name: str, now: datetime | None = None) -> str:
        """CloudWatch's evaluation of alarm ``name`` over its last period; sets and returns its state."""
        cloudwatch = self._harness("cloudwatch")
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        end = now or datetime.now(UTC)
        if "Metrics" in alarm:
            values: dict[str, float | None] = {}
            expression = None
            for query in alarm["Metrics"]:
                if "MetricStat" in query:
                    stat = query["MetricStat"]
                    values[query["Id"]] = self._statistic(cloudwatch, stat["Metric"], stat["Period"], stat["Stat"], end)
                if query.get("ReturnData", True) and "Expression" in query:
                    expression = query["Expression"]
            value = evaluate_expression(expression, values) if expression is not None else None
        else:
            metric = {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")}
            stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
            value = self._statistic(cloudwatch, metric, alarm["Period"], stat, end)
        if value is None:
            missing = alarm.get("TreatMissingData", "missing")
            state = {"breaching": "ALARM", "notBreaching": "OK"}.get(missing, "INSUFFICIENT_DATA")
            reason = f"no datapoints in the last period (TreatMissingData {missing})"
        elif breaches(value, alarm["ComparisonOperator"], alarm["Threshold"]):
            state, reason = (
                "ALARM",
                f"Threshold Crossed: value {value} {alarm['ComparisonOperator']} {alarm['Threshold']}",
            )
        else:
            state, reason = "OK", f"value {value} within {alarm['ComparisonOperator']} {alarm['Threshold']}"
        if state != alarm["StateValue"]:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        return state

    @staticmethod
    def _statistic(cloudwatch: Any, metric: dict[str, Any], period: int, stat: str, end: datetime) -> float | None:
        request: dict[str, Any] = {
            "Namespace": metric["Namespace"],
            "MetricName": metric["MetricName"],
            "Dimensions": metric.get("Dimensions", []),
            "StartTime": end - timedelta(seconds=period),
            "EndTime": end + timedelta(seconds=1),
            "Period": period + 1,
        }
        if stat.startswith("p"):
            points = cloudwatch.get_metric_statistics(**request, ExtendedStatistics=[stat])["Datapoints"]
            return float(points[0]["ExtendedStatistics"][stat]) if points else None
        points = cloudwatch.get_metric_statistics(**request, Statistics=[stat])["Datapoints"]
        return float(sum(p[stat] for p in points)) if points else None

    # -- blue/green updates ---------------------------------------------------------------------
    def start_update(
        self, backend: Any, endpoint: Any, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None:
        """UpdateEndpoint: checked now (ValidationException), driven in the background."""
        from moto.sagemaker.exceptions import ValidationError

        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint {endpoint.arn!r}.")
        config = backend.describe_endpoint_config(config_name)
        policy = (deployment_config or {}).get("BlueGreenUpdatePolicy")
        try:
            steps = traffic_plan(policy, fleet_instances(config))
        except SageMakerError as exc:  # the emulator's ValidationException, as SageMaker's
            raise ValidationError(message=str(exc)) from exc
        alarms = [
            a["AlarmName"] for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        ]
        endpoint.endpoint_status = "Updating"
        with self._lock:
            self._deployments[endpoint.endpoint_name] = _Deployment(config_name)
        thread = threading.Thread(
            target=self._drive,
            args=(backend, endpoint, config, steps, alarms),
            name=f"update-{endpoint.endpoint_name}",
            daemon=True,
        )
        self.threads.append(thread)
        thread.start()

    def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` scaled; False when the hosting is closing."""
        return not self._stop.wait(seconds * self.time_scale)

    def _drive(self, backend: Any, endpoint: Any, config: dict[str, Any], steps: list[Any], alarms: list[str]) -> None:
        name = endpoint.endpoint_name
        # The green fleet is provisioned before any traffic shifts to it: its containers have loaded their
        # model and pass the health check (on a loaded machine loading takes seconds; a bake that started
        # before would pass with no request answered by the new model).
        green = [self._container(backend, name, variant) for variant in config["ProductionVariants"]]
        if not self._sleep(PROVISION_SECONDS):
            return
        if not all(container.wait_healthy() for container in green):
            with self._lock:
                self._deployments.pop(name, None)
            endpoint.failure_reason = (
                f"Update failed: a container of {config['EndpointConfigName']} did not pass the health check; "
                f"all traffic stays on {endpoint.endpoint_config_name}"
            )
            endpoint.endpoint_status = "InService"
            return
        for step in steps:
            with self._lock:
                self._deployments[name].share = step.fraction
                self.shifts.append((name, step.fraction, step.label))
            deadline = time.monotonic() + step.bake_seconds * self.time_scale
            while True:
                for alarm in alarms:
                    state = self.evaluate_alarm(alarm)
                    if state == "ALARM":
                        self.alarm_history.append((alarm, state, step.label))
                        self._roll_back(endpoint, alarm, step.label)
                        return
                if time.monotonic() >= deadline or self._stop.wait(ALARM_PERIOD_SECONDS):
                    break
        with self._lock:
            self._deployments.pop(name, None)
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.data_capture_config = config.get("DataCaptureConfig")
        endpoint.failure_reason = None
        endpoint.endpoint_status = "InService"

    def _roll_back(self, endpoint: Any, alarm: str, step: str) -> None:
        with self._lock:
            self._deployments[endpoint.endpoint_name].share = 0.0
        endpoint.endpoint_status = "RollingBack"
        self._sleep(ROLLBACK_SECONDS)
        with self._lock:
            self._deployments.pop(endpoint.endpoint_name, None)
        endpoint.failure_reason = (
            f"Deployment rolled back: alarm {alarm} went to ALARM during the {step}; all traffic is back on "
            f"{endpoint.endpoint_config_name}"
        )
        endpoint.endpoint_status = "InService"

    def close(self) -> None:
        """Stop the update drivers and the container processes."""
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        for container in self._containers.values():
            container.requests.close()
            container.process.wait(timeout=30)
            if container.reader is not None:
                container.reader.join(timeout=10)
