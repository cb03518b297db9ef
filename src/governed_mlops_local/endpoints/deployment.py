"""The driver of endpoint transitions: creation, blue/green updates (all at once, canary, linear) and rollback.

Updates are blue/green deployments as SageMaker documents them: the old fleet (blue) keeps serving
while the new fleet (green) is provisioned; traffic then shifts to green (``ALL_AT_ONCE``,
``CANARY`` or ``LINEAR``), each shift followed by a baking period during which the
AutoRollbackConfiguration alarms are evaluated on green's own measurements; after the
``TerminationWaitInSeconds`` bake the blue fleet is terminated and the endpoint reports the new
EndpointConfigName. An alarm in ALARM at any point sends all traffic back to blue: the endpoint goes
``RollingBack`` then ``InService`` with the *old* EndpointConfigName, and the reason and alarm are
recorded. All waits are multiplied by ``time_scale``.

Each transition runs in a thread of the process that started it, recorded in the endpoint's state
(``Driver``); a transition whose driver is gone (process exited, instance closed) is finished by
whoever looks next: a creation is completed, an update rolled back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governed_mlops_local.endpoints.alarms import AlarmEvaluation, AlarmRule, end_of_bake, evaluate_alarm
from governed_mlops_local.endpoints.containers import ModelContainers
from governed_mlops_local.endpoints.metrics import MetricsLog
from governed_mlops_local.endpoints.naming import invalid
from governed_mlops_local.endpoints.store import AlarmRegistry, EndpointStore, now, record_event
from governed_mlops_local.executions import pid_alive

__all__ = [
    "ALARM_PERIOD_SECONDS",
    "MAX_SHIFT_FRACTION",
    "PROVISION_SECONDS",
    "ROLLBACK_SECONDS",
    "TRANSITIONAL_STATUSES",
    "DeploymentDriver",
    "TrafficStep",
    "check_deployment_config",
    "fleet_instances",
    "traffic_plan",
]

logger = logging.getLogger(__name__)

PROVISION_SECONDS = 4.0
"""Time to provision a fleet (new endpoint, or the green fleet of an update), before ``time_scale``."""
ROLLBACK_SECONDS = 2.0
"""Time an endpoint stays RollingBack (green fleet terminated) after all traffic went back to blue."""
ALARM_PERIOD_SECONDS = 0.02
"""Real seconds between alarm evaluations during a bake (CloudWatch: the alarm period)."""
MAX_SHIFT_FRACTION = 0.5
"""SageMaker: a canary (or linear step) may be at most 50% of the new fleet's capacity."""
TRANSITIONAL_STATUSES = ("Creating", "Updating", "RollingBack")
"""Endpoint statuses a driver moves on from; no other change is accepted meanwhile."""

_LIVE_DRIVERS: set[str] = set()
"""Drivers of this process that have not been closed (their in-flight transitions are not orphaned)."""


class _Stopped(Exception):
    """The driver is closing, or the deployment is gone: a driver thread leaves the endpoint to recovery."""


@dataclass(frozen=True)
class TrafficStep:
    """One traffic shift of an update: green's share, how long it bakes (seconds, unscaled), what it is."""

    fraction: float
    bake_seconds: float
    label: str


@dataclass(frozen=True)
class _Update:
    """What the bake of an update watches."""

    name: str
    deployment_id: str
    rules: Sequence[AlarmRule]
    metrics_path: Path
    maximum: Any
    deadline: float


def fleet_instances(config: Mapping[str, Any]) -> int:
    """The instances of an endpoint config's fleet, over all its production variants."""
    return sum(int(v.get("InitialInstanceCount", 1)) for v in config["ProductionVariants"])


def _capacity_fraction(size: Mapping[str, Any], instances: int, what: str) -> float:
    value = float(size["Value"])
    fraction = value / 100.0 if size["Type"] == "CAPACITY_PERCENT" else value / max(instances, 1)
    if fraction > MAX_SHIFT_FRACTION:
        raise invalid(
            f"{what} {size['Type']} {size['Value']} is {fraction:.0%} of the new fleet ({instances} instances): "
            f"it must be at most {MAX_SHIFT_FRACTION:.0%} of the new fleet's capacity"
        )
    return fraction


def traffic_plan(policy: Mapping[str, Any] | None, instances: int) -> list[TrafficStep]:
    """The traffic shifts of a blue/green update, each with its baking period (seconds, unscaled)."""
    if not policy:
        # No DeploymentConfig: SageMaker's default blue/green update, all at once, no baking.
        return [TrafficStep(1.0, 0.0, "all traffic on the new fleet")]
    routing = policy["TrafficRoutingConfiguration"]
    kind, wait = routing["Type"], float(routing["WaitIntervalInSeconds"])
    steps: list[TrafficStep] = []
    if kind == "ALL_AT_ONCE":
        steps.append(TrafficStep(1.0, wait, "all traffic on the new fleet"))
    elif kind == "CANARY":
        if "CanarySize" not in routing:
            raise invalid("TrafficRoutingConfiguration.CanarySize is required for CANARY traffic routing")
        fraction = _capacity_fraction(routing["CanarySize"], instances, "CanarySize")
        steps.append(TrafficStep(fraction, wait, f"canary: {fraction:.0%} of traffic on the new fleet"))
    else:
        if "LinearStepSize" not in routing:
            raise invalid("TrafficRoutingConfiguration.LinearStepSize is required for LINEAR traffic routing")
        step = _capacity_fraction(routing["LinearStepSize"], instances, "LinearStepSize")
        count = math.ceil(1.0 / step - 1e-9)
        for index in range(1, count + 1):
            fraction = min(1.0, step * index)
            steps.append(TrafficStep(fraction, wait, f"linear step {index}/{count}: {fraction:.0%} of traffic"))
    termination = float(policy.get("TerminationWaitInSeconds", 0))
    steps.append(
        TrafficStep(1.0, termination, "all traffic on the new fleet, baking before the old fleet is terminated")
    )
    maximum = policy.get("MaximumExecutionTimeoutInSeconds")
    total = sum(s.bake_seconds for s in steps)
    if maximum is not None and total >= float(maximum):
        raise invalid(
            f"MaximumExecutionTimeoutInSeconds ({maximum}) must be larger than the total waiting time "
            f"({total:g} s of WaitIntervalInSeconds and TerminationWaitInSeconds)"
        )
    return steps


def check_deployment_config(
    name: str, deployment_config: Mapping[str, Any] | None, config: Mapping[str, Any], alarms: AlarmRegistry
) -> list[str]:
    """The alarms an UpdateEndpoint's DeploymentConfig names; ValidationException for one this emulation refuses.

    Our rule on top of SageMaker's: a CANARY or LINEAR update must name at least one alarm in
    AutoRollbackConfiguration, and every alarm must be registered for the endpoint.
    """
    if not deployment_config:
        return []
    if "RollingUpdatePolicy" in deployment_config:
        raise invalid("RollingUpdatePolicy is not emulated locally: use BlueGreenUpdatePolicy")
    policy = deployment_config.get("BlueGreenUpdatePolicy")
    named = [a["AlarmName"] for a in (deployment_config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
    if policy is not None:
        kind = policy["TrafficRoutingConfiguration"]["Type"]
        if kind in ("CANARY", "LINEAR") and not named:
            raise invalid(
                f"a {kind} update must name at least one alarm in AutoRollbackConfiguration.Alarms: "
                "without one nothing watches the new fleet"
            )
        traffic_plan(policy, fleet_instances(config))
    rules = alarms.rules(name)
    unknown = [alarm for alarm in named if alarm not in rules]
    if unknown:
        raise invalid(f"AutoRollbackConfiguration names alarms not registered for endpoint {name}: {unknown}")
    return named


def _driver_alive(driver: Mapping[str, Any] | None) -> bool:
    if not driver:
        return False
    pid = int(driver.get("pid", -1))
    if pid == os.getpid():
        return driver.get("instance") in _LIVE_DRIVERS
    return pid_alive(pid)


class DeploymentDriver:
    """Drives endpoint transitions in background threads, one job: move an endpoint's state along.

    ``time_scale`` multiplies every wait (provisioning, baking, rollback). Close it to stop: an update it
    is still driving is then rolled back, a creation completed, as a later driver would do.
    """

    def __init__(
        self,
        endpoints: EndpointStore,
        alarms: AlarmRegistry,
        metrics: MetricsLog,
        containers: ModelContainers,
        *,
        time_scale: float,
    ) -> None:
        self._endpoints = endpoints
        self._alarms = alarms
        self._metrics = metrics
        self._containers = containers
        self.time_scale = time_scale
        self._lock = threading.Lock()
        self._drivers: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self.instance_id = uuid.uuid4().hex
        self._closed = False
        _LIVE_DRIVERS.add(self.instance_id)

    def close(self) -> None:
        """Stop driving: wait for the driver threads, then finish what they left as recovery would."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        for thread in list(self._drivers.values()):
            thread.join(timeout=10)
        _LIVE_DRIVERS.discard(self.instance_id)
        for name in list(self._drivers):
            self.recover_if_orphaned(name)

    def identity(self) -> dict[str, Any]:
        """This driver as an endpoint's state records it (``Driver``): process id and instance."""
        return {"pid": os.getpid(), "instance": self.instance_id}

    def start_creation(self, name: str) -> None:
        """Provision the new endpoint ``name`` in the background: InService, or Failed with the reason."""
        self._start_driver(name, lambda: self._drive_creation(name))

    def start_update(self, name: str, deployment_id: str) -> None:
        """Drive the update ``deployment_id`` of endpoint ``name`` in the background: complete or rolled back."""
        self._start_driver(name, lambda: self._drive_update(name, deployment_id))

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

    def _set_step(self, name: str, deployment_id: str, step: TrafficStep) -> None:
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
        rules_by_name = self._alarms.rules(name)
        update = _Update(
            name,
            deployment_id,
            rules=[rules_by_name[alarm] for alarm in deployment["Alarms"] if alarm in rules_by_name],
            metrics_path=self._endpoints.metrics_path(name, green_name),
            maximum=maximum,
            deadline=started + float(maximum) * self.time_scale if maximum is not None else math.inf,
        )
        for step in traffic_plan(policy, fleet_instances(green)):
            if self._bake(update, step):
                return
        self._complete_update(name, deployment_id)

    def _bake(self, update: _Update, step: TrafficStep) -> bool:
        """Shift traffic to ``step`` and bake, evaluating the alarms each period; whether it rolled back."""
        window_start = time.time()
        self._set_step(update.name, update.deployment_id, step)
        bake_end = time.monotonic() + step.bake_seconds * self.time_scale
        final = False
        while True:
            tripped = self._evaluate_alarms(update, window_start, final=final)
            if tripped is not None:
                reason = f"alarm {tripped.alarm_name} went to ALARM: {tripped.reason}"
                self._roll_back(update.name, update.deployment_id, reason, tripped.alarm_name)
                return True
            if final:
                return False
            if time.monotonic() >= update.deadline:
                reason = f"the update exceeded MaximumExecutionTimeoutInSeconds ({update.maximum})"
                self._roll_back(update.name, update.deployment_id, reason, None)
                return True
            remaining = bake_end - time.monotonic()
            if remaining <= 0:
                final = True
                continue
            self._sleep_real(min(ALARM_PERIOD_SECONDS, remaining))

    def _evaluate_alarms(self, update: _Update, window_start: float, *, final: bool) -> AlarmEvaluation | None:
        """Evaluate every alarm on green's measurements in this bake window; the first in ALARM, if any."""
        if not update.rules:
            return None
        measurements = self._metrics.since(update.metrics_path, window_start)
        evaluations = []
        for rule in update.rules:
            evaluation = evaluate_alarm(rule, measurements)
            evaluations.append(end_of_bake(rule, evaluation) if final else evaluation)
        recorded = self._deployment(update.name, update.deployment_id).get("AlarmStates", {})
        if any(recorded.get(e.alarm_name, {}).get("state") != e.state for e in evaluations) or final:

            def note(s: dict[str, Any]) -> None:
                deployment = s.get("Deployment") or {}
                if deployment.get("Id") != update.deployment_id:
                    raise _Stopped
                deployment["AlarmStates"] = {e.alarm_name: e.to_json_dict() for e in evaluations}

            self._endpoints.mutate(update.name, note)
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

    def recover_if_orphaned(self, name: str) -> None:
        """Finish a transition whose driving process (or closed instance) is gone.

        Creating: provision now (InService or Failed). Updating / RollingBack: all traffic back to
        the old fleet, InService on the old config, with the reason recorded.
        """
        state = self._endpoints.read_state(name)
        if state is None or state["EndpointStatus"] not in TRANSITIONAL_STATUSES or _driver_alive(state.get("Driver")):
            return
        with self._endpoints.exclusive():
            state = self._endpoints.read_state(name)
            if (
                state is None
                or state["EndpointStatus"] not in TRANSITIONAL_STATUSES
                or _driver_alive(state.get("Driver"))
            ):
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
