"""Fault-injection matrix: every Task state of the training pipeline x (exception, service error, timeout).

The Task states come from the ASL file itself, so a new Task state is covered (or the matrix fails
and says which fault it cannot inject). For each state:

(a) exception   - Lambda: the handler raises (``InjectedFault``); SageMaker job: the job really fails
                  (an argument its script refuses) -> ``SageMakerJobFailed``; SageMaker API: the
                  integration raises. Not retried: the run ends in "Pipeline Failed" with that error.
(b) service     - Lambda: the Lambda service fails the Invoke call once (``Lambda.<code>``, a real HTTP
                  error from moto's Lambda API); SageMaker: ``SageMaker.ThrottlingException`` once.
                  Retried: the run reaches the end its path was designed for.
(c) timeout     - Lambda: the function outlives its (shortened) ``Timeout`` -> ``Sandbox.Timedout``;
                  SageMaker: the call outlives the state's ``TimeoutSeconds`` (shortened for that one
                  execution) -> ``States.Timeout``. Not retried: "Pipeline Failed" with that error.

Every case then checks: the execution's status, error and final state; the failed state's failure
events (once, or once then a success for retried service errors); exactly one alert per failed
execution (none for a successful one) naming the failed state; and that the registry and the endpoint
claim nothing that did not happen: no model version registered, approved or deployed past the
failure, and the endpoint serves only approved model versions.

Cost: the cases are split into four slices (:func:`slice_of`), each run by its own test module in its own
runtime, so that a two-worker session runs them side by side: test_fault_matrix.py (the runs that deploy),
test_fault_matrix_before_deployment.py, test_fault_matrix_expiry.py and test_fault_matrix_champion.py. Within a
slice the executions run concurrently in one runtime; each service-error run covers a whole path (every state on
it fails once). The deployment states share one endpoint and only the newest approved model version may take it,
so the runs that deploy register in a fixed order (held at "Register Model") and are approved one at a time in
that order. The runs that must let an approval expire have a short approval timeout; the champion path's runs a
low-risk project with an approved champion.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.approval_client import ApprovalClientError, decide
from governed_mlops_local.asl_engine import install_fail_state_forwards_states_errors
from governed_mlops_local.cloudwatch import (
    CREATE_LOG_GROUP_RESOURCE,
    PUT_METRIC_ALARM_RESOURCE,
    PUT_METRIC_FILTER_RESOURCE,
    PUT_RETENTION_POLICY_RESOURCE,
)
from governed_mlops_local.lambda_host import LambdaServiceError
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.sagemaker import SageMakerError, local_function_arn
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR
from tests.dataset_variants import reexported
from tests.waiting import stall, within

ASL_PATH = PROJECT_DIR / "statemachines" / "training_pipeline.asl.json"
DEFINITION: dict[str, Any] = json.loads(ASL_PATH.read_text(encoding="utf-8"))

#: The target function's timeout in a timeout case (for that one execution's call only: under the
#: load of the whole matrix, other calls of the same function may take longer than this).
LAMBDA_TIMEOUT_SECONDS = 1.0
#: A SageMaker Task's TimeoutSeconds in the one execution whose call is made to hang. Not 1 s: with
#: the whole matrix running at once, the task's call can start more than a second after the state
#: does, and the state would time out before the fault was injected.
STATE_TIMEOUT_SECONDS = 4
#: The Invoke API errors Step Functions reports as Lambda.<code>; the service run rotates through them.
LAMBDA_SERVICE_ERRORS = (
    "ServiceException",
    "AWSLambdaException",
    "SdkClientException",
    "TooManyRequestsException",
    "ClientExecutionTimeoutException",
)
SAGEMAKER_SERVICE_ERROR = "SageMaker.ThrottlingException"
CLOUDWATCH_SERVICE_ERROR = "CloudWatch.LimitExceededException"
CLOUDWATCH_LOGS_SERVICE_ERROR = "CloudWatchLogs.ServiceUnavailableException"
#: States reached only on one path; every other state is on the approved path. The champion path
#: runs in a runtime where credit-risk is low risk (approved automatically) and already has an
#: approved version, the champion the challenger is evaluated against.
PATHS = {
    "Evaluate Champion": "champion",
    "Check Champion Gate": "champion",
    "Record Automatic Approval": "champion",
    "Record Rejection": "reject",
    "Record Approval Expired": "expire",
    "Create Endpoint": "first-deploy",
    "Update Endpoint": "redeploy",
    "Record Superseded Deployment": "superseded",
}
APPROVER = "carol.approver"
SECOND_APPROVER = "dave.risk"
FINAL_STATE = {"approve": "Pipeline Succeeded", "reject": "Model Rejected", "expire": "Approval Expired"}
FINAL_ERROR = {"approve": None, "reject": "ApprovalRejected", "expire": "ApprovalExpired"}
#: The deployment record Verify Deployment (or Record Superseded Deployment) leaves, per path.
DEPLOYMENT_STATUS = {
    "first-deploy": "InService",
    "redeploy": "InService",
    "superseded": "Superseded",
    "champion": "InService",
}
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

Fault = Literal["exception", "service", "timeout"]
Kind = Literal["lambda", "sagemaker-job", "sagemaker-api"]


class InjectedFault(RuntimeError):
    """What a handler (or an emulated integration) raises in an exception case; no Retry lists it."""


# --------------------------------------------------------------------------------------------------
# The states, from the ASL


@dataclass(frozen=True)
class TaskState:
    name: str
    kind: Kind
    #: Template logical id (Lambda) or the local emulator's function ARN (SageMaker, CloudWatch).
    function: str
    #: What the service reports when it fails (a non-Lambda task's service error; the ASL retries it).
    service_error: str = SAGEMAKER_SERVICE_ERROR


def _scopes(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield definition
    for state in definition.get("States", {}).values():
        for branch in state.get("Branches") or []:
            yield from _scopes(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _scopes(state[key])


def _task_state(name: str, state: Mapping[str, Any]) -> TaskState:
    resource = str(state.get("Resource", ""))
    if resource.startswith("arn:aws:states:::lambda:invoke"):
        resource = str((state.get("Parameters") or {}).get("FunctionName", ""))
    function = re.fullmatch(r"\$\{(\w+Function)Arn\}", resource)
    if function:
        return TaskState(name, "lambda", function.group(1))
    if re.fullmatch(r"arn:aws:states:::(aws-sdk:)?sagemaker:[A-Za-z]+(\.sync)?", resource):
        kind: Kind = "sagemaker-job" if resource.endswith(".sync") else "sagemaker-api"
        return TaskState(name, kind, local_function_arn(resource))
    if resource == PUT_METRIC_ALARM_RESOURCE:
        # The local CloudWatch (governed_mlops_local.cloudwatch) is an emulator function like SageMaker's.
        return TaskState(name, "sagemaker-api", local_function_arn(resource), CLOUDWATCH_SERVICE_ERROR)
    if resource in (CREATE_LOG_GROUP_RESOURCE, PUT_RETENTION_POLICY_RESOURCE, PUT_METRIC_FILTER_RESOURCE):
        return TaskState(name, "sagemaker-api", local_function_arn(resource), CLOUDWATCH_LOGS_SERVICE_ERROR)
    raise ValueError(f"{name}: no fault injection for resource {resource!r}; teach tests/integration/fault_matrix.py")


def task_states(definition: Mapping[str, Any]) -> dict[str, TaskState]:
    return {
        name: _task_state(name, state)
        for scope in _scopes(definition)
        for name, state in scope.get("States", {}).items()
        if state.get("Type") == "Task"
    }


#: Task states the default template never reaches, each with the state it is a twin of: same resource,
#: TimeoutSeconds, Retry and Catch (test_a_twin_state_handles_faults_as_its_twin), so the twin's cases
#: cover its fault handling. "Update Endpoint Linearly" runs only with TrafficShiftType LINEAR.
TWINS = {"Update Endpoint Linearly": "Update Endpoint"}
TASKS = {name: task for name, task in task_states(DEFINITION).items() if name not in TWINS}


def _successors(name: str, *, caught: bool) -> set[str]:
    state = DEFINITION["States"][name]
    targets = {state.get("Next"), state.get("Default")}
    targets |= {choice.get("Next") for choice in state.get("Choices") or []}
    if caught:
        targets |= {catcher.get("Next") for catcher in state.get("Catch") or []}
    return {t for t in targets if t}


def reachable_after(name: str, *, caught: bool = True) -> set[str]:
    """States that can run after ``name`` completed (with ``caught``, also through Catch routes)."""
    seen: set[str] = set()
    pending = [DEFINITION["States"][name]["Next"]]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(_successors(current, caught=caught) - seen)
    return seen


AFTER_REGISTRATION = reachable_after("Register Model")
AFTER_APPROVAL_REQUEST = reachable_after("Request Approval")
AFTER_APPROVAL = reachable_after("Record Approval")
#: The deployment part of the approved path: what runs once an approver said yes.
DEPLOYMENT = {"Record Approval"} | AFTER_APPROVAL
#: States that run after this execution's Create/Update Endpoint succeeded (the endpoint may serve it).
AFTER_ENDPOINT_CHANGE = reachable_after("Create Endpoint", caught=False) | reachable_after(
    "Update Endpoint", caught=False
)


def path_of(state: str) -> str:
    return PATHS.get(state, "approve")


def lambda_service_error(state: str) -> str:
    """The Invoke API error code the service-error run gives this state (they take turns)."""
    return LAMBDA_SERVICE_ERRORS[list(TASKS).index(state) % len(LAMBDA_SERVICE_ERRORS)]


def service_error_name(state: str) -> str:
    """The error name Step Functions reports for that service error."""
    return f"Lambda.{lambda_service_error(state)}" if TASKS[state].kind == "lambda" else TASKS[state].service_error


# --------------------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class Case:
    id: str
    fault: Fault
    states: tuple[str, ...]
    path: str

    @property
    def approval(self) -> str:
        return {"reject": "reject", "expire": "expire"}.get(self.path, "approve")

    @property
    def waits_for_a_decision(self) -> bool:
        """Should this run ask for approval (its fault, if any, comes after the request)?"""
        return self.fault == "service" or self.states[0] in AFTER_APPROVAL_REQUEST

    @property
    def deploys(self) -> bool:
        """Does this run go into the deployment states (which share the endpoint)?"""
        return self.approval == "approve" and (self.fault == "service" or self.states[0] in AFTER_APPROVAL)


def build_cases() -> list[Case]:
    cases = [
        Case(f"{state}: {fault}", fault, (state,), path_of(state))
        for state in TASKS
        for fault in ("exception", "timeout")
    ]
    # Service errors: one execution per path, every Task state on it fails once and recovers. The
    # states before the decision ride with the rejected run; the deployment states with the first deployment.
    by_path: dict[str, list[str]] = {}
    for state in TASKS:
        path = path_of(state)
        if path == "approve":
            path = "first-deploy" if state in DEPLOYMENT else "reject"
        by_path.setdefault(path, []).append(state)
    cases += [
        Case(f"service errors on the {path} path", "service", tuple(states), path) for path, states in by_path.items()
    ]
    return cases


CASES = build_cases()


def case_for(state: str, fault: Fault) -> Case:
    return next(c for c in CASES if c.fault == fault and state in c.states)


def case_data(case: Case) -> bytes:
    """German credit in bytes of its own per case (same rows): no run is an identical retrain of an
    approved version, which would end at No Change before the states under test."""
    return reexported(GERMAN_CREDIT.read_bytes(), CASES.index(case) + 1)


def deployment_order(cases: list[Case]) -> list[Case]:
    """The order the deploying runs register and are approved in.

    Only the newest approved version may take the endpoint, so they are approved oldest first. The
    endpoint must not exist yet for Create Endpoint's cases and must exist for Update Endpoint's; a
    superseded run needs a newer approved version: it registers first and is approved last.
    """

    def rank(case: Case) -> int:
        if case.path == "superseded":
            return 4
        if case.path == "first-deploy":
            return 1 if case.fault == "service" else 0  # the creating run after those that need none
        if case.path == "redeploy" or case.states[0] in AFTER_ENDPOINT_CHANGE:
            return 3
        return 2

    return sorted((c for c in cases if c.deploys), key=rank)


# --------------------------------------------------------------------------------------------------
# Running them


@dataclass
class Outcome:
    status: str
    error: str | None
    final_state: str | None
    #: (state, error) of every failed attempt, in order; and the states that completed.
    failures: list[tuple[str, str]]
    completed: list[str]
    versions: list[dict[str, Any]]
    endpoint: dict[str, Any] | None
    #: Seconds from the matrix's start to this run's end (to see where the time goes).
    ended_after: float


@dataclass
class Run:
    case: Case
    name: str
    arn: str
    #: Position among the deploying runs (None for the others).
    order: int | None = None
    fired: list[str] = field(default_factory=list)
    #: (function, state the history showed) for each call the hook let through: a miss explains itself.
    passed: list[tuple[str, str | None]] = field(default_factory=list)
    #: Set when the host gave this run's call the short timeout: the hook then only has to be slow.
    timing_out: bool = False
    link: str | None = None
    decided: bool = False
    outcome: Outcome | None = None


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, Mapping)), {})


def summarize_history(events: list[dict[str, Any]]) -> tuple[str | None, list[tuple[str, str]], list[str]]:
    state: str | None = None
    final: str | None = None
    failures: list[tuple[str, str]] = []
    completed: list[str] = []
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            state = final = event["stateEnteredEventDetails"]["name"]
        elif kind.endswith("StateExited"):
            completed.append(event["stateExitedEventDetails"]["name"])
        elif (kind.endswith(("Failed", "TimedOut"))) and not kind.startswith("Execution") and state:
            failures.append((state, str(_details(event).get("error", ""))))
    return final, failures, completed


class Matrix:
    """Launches every case's execution in one runtime, injects the faults, decides approvals, records outcomes."""

    def __init__(self, runtime: LocalRuntime, cases: list[Case]) -> None:
        self.runtime = runtime
        self.cases = cases
        self.registry = LocalModelRegistry(runtime.data_dir)
        self.endpoint_name = "credit-risk"
        self.runs: dict[str, Run] = {}
        self._launching = threading.Lock()
        self._outbox_seen: set[str] = set()
        self._deployer: Run | None = None
        self._order = deployment_order(cases)
        superseded = [c for c in self._order if c.path == "superseded"]
        #: Registration order: superseded runs first (they must be older), then the approval order.
        self._registration = superseded + [c for c in self._order if c.path != "superseded"]
        machine = next(iter(runtime.template.state_machines.values()))
        self._machine_arn, self._alias_arn = machine.arn, machine.alias_arn
        self._started = time.monotonic()

    # -- which execution and state an invocation belongs to -----------------------------------------
    def _run_named(self, name: str) -> Run | None:
        with self._launching:  # an execution still being launched is registered when this returns
            return self.runs.get(name)

    def _run_for(self, payload: Any) -> Run | None:
        if not isinstance(payload, Mapping):
            return None
        if isinstance(payload.get("execution_name"), str):
            return self._run_named(payload["execution_name"])
        for key in ("TrainingJobName", "ProcessingJobName", "ModelName", "EndpointConfigName"):
            if isinstance(payload.get(key), str):
                with self._launching:
                    return next((r for n, r in self.runs.items() if payload[key].startswith(f"{n}-")), None)
        # DescribeEndpoint, ListModelPackages...: only the one approved deployment makes such calls.
        return self._deployer

    def times_out(self, payload: Any) -> bool:
        """LambdaHost.set_timeout(when=...): is this the call a timeout case makes hang?"""
        now = datetime.now(UTC)
        run = self._run_for(payload)
        if run is None or run.case.fault != "timeout" or TASKS[run.case.states[0]].kind != "lambda":
            return False
        if self._state_of(run, now) != run.case.states[0]:
            return False
        # Recorded here, before the timer starts: under load the hook may not get far in one second.
        run.fired.append(run.case.states[0])
        run.timing_out = True
        return True

    def _state_of(self, run: Run, at: datetime) -> str | None:
        """The state ``run`` was in at ``at`` (the history may be read late: the host is busy)."""
        events = self.runtime.sfn.get_execution_history(executionArn=run.arn)["events"]
        entered = [e for e in events if e["type"].endswith("StateEntered") and e["timestamp"] <= at]
        return str(entered[-1]["stateEnteredEventDetails"]["name"]) if entered else None

    # -- the hooks ----------------------------------------------------------------------------------
    def lambda_hook(self, function: str, payload: Any) -> None:
        """LambdaHost.fault_hook: template functions and the SageMaker emulators' local functions."""
        now = datetime.now(UTC)
        run = self._run_for(payload)
        if run is None:
            return
        if function == TASKS["Register Model"].function and run.order is not None:
            self._wait_for_turn_to_register(run)
        if function not in {TASKS[s].function for s in run.case.states}:
            return
        if run.timing_out:
            stall(LAMBDA_TIMEOUT_SECONDS + 2)
            raise InjectedFault(f"{function} outlived its timeout and nothing stopped it")
        state = self._state_of(run, now)
        if state not in run.case.states:
            run.passed.append((function, state))
            return
        task = TASKS[state]
        fault = run.case.fault
        if fault == "service":
            if state in run.fired:
                return  # once per state: the retry succeeds
            run.fired.append(state)
            if task.kind == "lambda":
                raise LambdaServiceError(lambda_service_error(state), "injected: the Lambda service failed")
            raise SageMakerError(task.service_error, "injected: Rate exceeded")
        if fault == "exception" and task.kind != "sagemaker-job":
            run.fired.append(state)
            raise InjectedFault(f"injected into {state} ({function})")
        if fault == "timeout" and task.kind != "lambda":
            run.fired.append(state)
            stall(STATE_TIMEOUT_SECONDS + 2)
            # Only reached after the state gave up (or, if nothing stopped it, reported by the case).
            raise InjectedFault(f"{state} outlived its timeout")

    def _wait_for_turn_to_register(self, run: Run, patience: float = 240) -> None:
        """Hold a deploying run until those before it registered: model versions follow that order."""
        assert run.order is not None
        earlier = {r.name: r for r in self.runs.values() if r.order is not None and r.order < run.order}

        def their_turn_is_over() -> bool:
            registered = {v.execution_name for v in self.registry.list_versions()}
            return all(name in registered or r.outcome for name, r in earlier.items())

        # Past its patience the run goes on regardless (as it always has): only the order is at stake.
        within(their_turn_is_over, patience, poll=0.2)

    def sagemaker_hook(self, operation: str, request: dict[str, Any]) -> None:
        """SageMakerEmulator.fault_hook: make the job itself fail, with an input its script refuses."""
        now = datetime.now(UTC)
        run = self._run_for(request)
        if run is None or run.case.fault != "exception":
            return
        state = self._state_of(run, now)
        if state not in run.case.states:
            return
        run.fired.append(state)
        if operation == "CreateTrainingJob":
            request["HyperParameters"]["injected_fault"] = "1"  # unknown hyperparameters fail the job
        else:
            request["AppSpecification"]["ContainerArguments"].append("--injected-fault")

    # -- launching ----------------------------------------------------------------------------------
    def _deploy(self, definition: str) -> None:
        """What ``sam deploy`` does with AutoPublishAlias: publish the definition and point the alias at it."""
        sfn = self.runtime.sfn
        version = sfn.update_state_machine(stateMachineArn=self._machine_arn, definition=definition, publish=True)
        if self._alias_arn is not None:  # the trigger starts the alias: its target is what runs
            sfn.update_state_machine_alias(
                stateMachineAliasArn=self._alias_arn,
                routingConfiguration=[{"stateMachineVersionArn": version["stateMachineVersionArn"], "weight": 100}],
            )

    def _launch(self, case: Case) -> None:
        task = TASKS[case.states[0]]
        with self._launching:
            original = None
            if case.fault == "timeout" and task.kind != "lambda":
                # This one execution's state gives up after STATE_TIMEOUT_SECONDS (executions snapshot
                # the definition when they start).
                original = self.runtime.sfn.describe_state_machine(stateMachineArn=self._machine_arn)["definition"]
                shortened = json.loads(original)
                shortened["States"][task.name]["TimeoutSeconds"] = STATE_TIMEOUT_SECONDS
                self._deploy(json.dumps(shortened))
            try:
                key = (
                    "datasets/credit-risk/fault-matrix-"
                    + re.sub(r"[^a-z0-9]+", "-", case.id.lower()).strip("-")
                    + ".csv"
                )
                _, deliveries = self.runtime.upload(case_data(case), key)
            finally:
                if original is not None:
                    self._deploy(original)
            assert [d.error for d in deliveries] == [None], deliveries
            assert deliveries[0].result is not None
            arn = str(deliveries[0].result["runs"][0]["execution_arn"])
            name = arn.rsplit(":", 1)[-1]
            order = self._registration.index(case) if case in self._registration else None
            self.runs[name] = Run(case, name, arn, order)

    # -- approvals ----------------------------------------------------------------------------------
    def _read_approval_requests(self) -> None:
        for message in read_outbox(self.runtime.data_dir):
            link = message.get("attributes", {}).get("link")
            if not link or message["message_id"] in self._outbox_seen:
                continue
            self._outbox_seen.add(message["message_id"])
            execution = self.registry.get(message["attributes"]["model_version"]).execution_name
            if execution in self.runs:
                self.runs[execution].link = link

    def _decide(self, run: Run, decision: str) -> None:
        assert run.link is not None
        run.decided = True
        # credit-risk is high risk: an approval takes two approvers (the first answer is "pending").
        for approver in (APPROVER, SECOND_APPROVER) if decision == "approve" else (APPROVER,):
            try:
                answer = decide(run.link, approver, decision, f"fault matrix: {run.case.id}")
            except ApprovalClientError as exc:
                if exc.status != 409:  # 409: the run already stopped waiting
                    raise
                return
            if answer.get("status") != "pending":
                return

    def _endpoint(self) -> dict[str, Any] | None:
        try:
            described = self.runtime.hosting.describe_endpoint(self.endpoint_name)
        except SageMakerError:
            return None
        return {
            "status": described["EndpointStatus"],
            "config": described["EndpointConfigName"],
            "pending": (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
        }

    def _approve_next_deployment(self) -> None:
        """Let the next deploying run into the deployment states once the last one ended and settled."""
        if self._deployer is not None and self._deployer.outcome is None:
            return
        self._deployer = None
        endpoint = self._endpoint()
        if endpoint is not None and (endpoint["status"] not in {"InService", "Failed"} or endpoint["pending"]):
            return  # the last deployment is still settling
        for case in self._order:
            run = next(r for r in self.runs.values() if r.case == case)
            if run.outcome is not None:
                continue  # done (or ended before asking, which its case then reports)
            if run.link and not run.decided:
                self._deployer = run
                self._decide(run, "approve")
            return

    def _tick(self) -> None:
        self._read_approval_requests()
        for run in self.runs.values():
            if not run.link or run.decided or run.case.deploys or run.case.approval == "expire":
                continue
            # A run whose fault should have stopped it before the request is rejected: it must not deploy.
            self._decide(run, run.case.approval if run.case.waits_for_a_decision else "reject")
        self._approve_next_deployment()

    # -- outcomes -----------------------------------------------------------------------------------
    def _record(self, run: Run) -> None:
        describe = self.runtime.persist(run.arn)
        events = self.runtime.sfn.get_execution_history(executionArn=run.arn)["events"]
        final, failures, completed = summarize_history(events)
        versions = [v.model_dump(mode="json") for v in self.registry.list_versions() if v.execution_name == run.name]
        run.outcome = Outcome(
            describe["status"],
            describe.get("error"),
            final,
            failures,
            completed,
            versions,
            self._endpoint(),
            round(time.monotonic() - self._started, 1),
        )

    def run(self, timeout: float = 900) -> dict[str, Run]:
        """Run every case; the deploying runs start first, as their deployments must queue one by one."""
        later = [c for c in self.cases if not c.deploys]
        for case in self.cases:
            if case.deploys:
                self._launch(case)

        def step() -> bool:
            """One turn of the driver: launch, record what ended, decide approvals; True once all ended."""
            nonlocal later
            # The others start once the first deployment waits to go: their work overlaps the queue.
            if later and (not self.runs or any(r.link or r.outcome for r in self.runs.values())):
                for case in later:
                    self._launch(case)
                later = []
            listed = self.runtime.sfn.list_executions(stateMachineArn=self._machine_arn, maxResults=1000)
            status = {e["name"]: e["status"] for e in listed["executions"]}
            for run in self.runs.values():
                if run.outcome is None and status.get(run.name) in TERMINAL:
                    self._record(run)
            self._tick()
            return not later and all(r.outcome is not None for r in self.runs.values())

        if not within(step, timeout, poll=0.5):
            raise AssertionError(f"still running: {[r.case.id for r in self.runs.values() if r.outcome is None]}")
        return {run.case.id: run for run in self.runs.values()}

    def alerts(self) -> dict[str, list[dict[str, Any]]]:
        """Alert and notification attributes per execution name.

        Complete once ``run`` returned: ``_record`` called ``LocalRuntime.persist`` for every run, which returns only
        after the end was announced and what the announcement triggers (the monitor's alert) was delivered.
        """
        found: dict[str, list[dict[str, Any]]] = {}
        for message in read_outbox(self.runtime.data_dir):
            attributes = message.get("attributes", {})
            if attributes.get("kind") in ("alert", "notification"):
                found.setdefault(attributes.get("execution", ""), []).append(attributes)
        return found


@dataclass
class Results:
    runs: dict[str, Run]
    alerts: dict[str, list[dict[str, Any]]]
    #: Registry status of every execution's model version in the runtime that has the endpoint.
    statuses: dict[str, str]

    def approved(self, endpoint_config: str) -> bool:
        """Is the endpoint config one an execution with an approved model version created?"""
        return any(endpoint_config.startswith(f"{name}-") and s == "Approved" for name, s in self.statuses.items())


def _run_matrix(runtime: LocalRuntime, cases: list[Case]) -> tuple[dict[str, Run], dict[str, list[dict[str, Any]]]]:
    # "Pipeline Failed" forwards a caught States.Timeout through ErrorPath; without this fix moto's
    # engine ends such runs as States.Runtime. (LocalRuntime should install it; harmless twice.)
    undo_fail_state_fix = install_fail_state_forwards_states_errors()
    matrix = Matrix(runtime, cases)
    runtime.host.fault_hook = matrix.lambda_hook
    runtime.sagemaker.fault_hook = matrix.sagemaker_hook
    for task in {TASKS[c.states[0]] for c in cases if c.fault == "timeout"}:
        if task.kind == "lambda":
            runtime.host.set_timeout(task.function, LAMBDA_TIMEOUT_SECONDS, when=matrix.times_out)
    try:
        runs = matrix.run()
        return runs, matrix.alerts()
    finally:
        runtime.host.fault_hook = None
        runtime.sagemaker.fault_hook = None
        undo_fail_state_fix()


def low_risk_project(directory: Path) -> Path:
    """credit-risk's configuration with risk tier low: Register Model goes on to Record Automatic Approval."""
    text = (PROJECT_DIR / "models" / "credit-risk" / "config.yaml").read_text(encoding="utf-8")
    assert "risk_tier: high" in text
    config = directory / "config.yaml"
    config.write_text(text.replace("risk_tier: high", "risk_tier: low"), encoding="utf-8")
    return config


def crown_champion(runtime: LocalRuntime) -> None:
    """Train, approve (automatically) and deploy German credit: the champion of the champion path's runs."""
    _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/champion.csv")
    (result,) = runtime.wait([str(deliveries[0].result["runs"][0]["execution_arn"])])
    assert result["status"] == "SUCCEEDED", result
    (champion,) = LocalModelRegistry(runtime.data_dir).list_versions()
    assert str(champion.status) == "Approved"


# --------------------------------------------------------------------------------------------------
# The slices: each test module runs one, in a runtime of its own, so a two-worker session runs them side by side


Slice = Literal["deployment", "before-deployment", "expiry", "champion"]


def slice_of(case: Case) -> Slice:
    """Which test module runs ``case``.

    The runs that deploy share one endpoint (they queue for it, in :func:`deployment_order`); the runs that end
    before any deployment state need none of it and run in a runtime of their own. The expiring runs need a short
    approval timeout, the champion runs a low-risk project with a champion: a runtime each.
    """
    if case.path == "expire":
        return "expiry"
    if case.path == "champion":
        return "champion"
    return "deployment" if case.deploys else "before-deployment"


def cases_of(name: Slice) -> list[Case]:
    return [case for case in CASES if slice_of(case) == name]


def matrix_of(name: Slice) -> list[tuple[str, Fault]]:
    """The (state, fault) pairs whose case ``name`` runs, for ``pytest.mark.parametrize``."""
    return [(state, case.fault) for case in cases_of(name) for state in case.states]


def matrix_ids(name: Slice) -> list[str]:
    return [f"{state}-{fault}" for state, fault in matrix_of(name)]


#: Canary bake and termination wait off: the deployments run one after another here.
FAST_DEPLOYS = {"CanaryBakeSeconds": "0", "TerminationWaitSeconds": "0"}


def _statuses(data_dir: Path) -> dict[str, str]:
    return {v.execution_name: str(v.status) for v in LocalModelRegistry(data_dir).list_versions()}


def run_slice(name: Slice, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Run every case of slice ``name`` in a fresh runtime configured for it."""
    data_dir = tmp_path_factory.mktemp(f"fault-matrix-{name}") / "data"
    models: dict[str, Path] | None = None
    overrides = FAST_DEPLOYS
    if name == "expiry":
        overrides = {"ApprovalTimeoutSeconds": "3"}
    if name == "champion":
        models = {"credit-risk": low_risk_project(tmp_path_factory.mktemp("low-risk"))}
    with LocalRuntime(PROJECT_DIR, data_dir, models=models, parameter_overrides=overrides) as runtime:
        if name == "champion":
            crown_champion(runtime)
        runs, alerts = _run_matrix(runtime, cases_of(name))
    return Results(runs, alerts, _statuses(data_dir))


# --------------------------------------------------------------------------------------------------
# The checks (each test module calls them on its slice's results)


def _expected_error(state: TaskState, fault: Fault) -> str:
    if fault == "timeout":
        return "Sandbox.Timedout" if state.kind == "lambda" else "States.Timeout"
    return "SageMakerJobFailed" if state.kind == "sagemaker-job" else "InjectedFault"


def check_fault(results: Results, state: str, fault: Fault) -> None:
    """What every case checks (the module docstring): status, error, final state, failures, alerts, registry."""
    case = case_for(state, fault)
    run = results.runs[case.id]
    outcome = run.outcome
    assert outcome is not None
    # Given the fault really happened where it was meant to
    assert state in run.fired, (
        f"the fault was never injected into {state!r} (is it on the {case.path} path?): the run ended"
        f" {outcome.status} {outcome.error} in {outcome.final_state!r} after {outcome.ended_after} s;"
        f" failures {outcome.failures}; completed {outcome.completed}; the hook let through {run.passed}"
    )
    failures_here = [error for failed_state, error in outcome.failures if failed_state == state]
    alerts = results.alerts.get(run.name, [])

    if fault == "service":
        # Then it was retried once (later failures here are designed routes, e.g. a rejection) and the
        # run went on to the end its path was designed for
        injected = service_error_name(state)
        assert failures_here[:1] == [injected], outcome.failures
        assert failures_here.count(injected) == 1, outcome.failures
        assert state in outcome.completed
        approval = case.approval
        assert (outcome.final_state, outcome.error) == (FINAL_STATE[approval], FINAL_ERROR[approval])
        assert outcome.status == ("SUCCEEDED" if approval == "approve" else "FAILED")
        # A rejection or an expiry is a person's decision: the owners are notified, on-call is not paged
        expected_messages = [] if approval == "approve" else [("notification", "human_decision")]
        assert [(a["kind"], a["outcome"]) for a in alerts] == expected_messages, alerts
        (version,) = outcome.versions
        if approval == "approve":
            # And the deployment it recorded is the one that happened
            assert version["status"] == "Approved"
            (deployment,) = version["deployments"]
            assert deployment["status"] == DEPLOYMENT_STATUS[case.path]
            assert outcome.endpoint is not None
            serves_it = outcome.endpoint["config"] == deployment["endpoint_config"]
            assert serves_it is (case.path != "superseded"), (outcome.endpoint, deployment)
        else:
            assert version["status"] == "Rejected"
            assert version["deployments"] == []
        return

    # Then the run failed at once (no blind retry) with the named error, in the named state
    expected = _expected_error(TASKS[state], fault)
    assert (outcome.status, outcome.error, outcome.final_state) == ("FAILED", expected, "Pipeline Failed"), outcome
    assert failures_here == [expected], outcome.failures
    # And on-call staff got exactly one alert, naming the failed state
    assert [(a["kind"], a["failed_state"], a["error"]) for a in alerts] == [("alert", state, expected)]
    # And the registry claims nothing the run did not finish
    if state not in AFTER_REGISTRATION:
        assert outcome.versions == []
    else:
        (version,) = outcome.versions
        assert version["status"] == ("Approved" if state in AFTER_APPROVAL else "PendingManualApproval")
        assert version["deployments"] == []
    # And the endpoint serves this run's model only if the run got as far as changing it
    if outcome.endpoint is not None and state not in AFTER_ENDPOINT_CHANGE:
        configs = {outcome.endpoint["config"], outcome.endpoint["pending"]} - {None}
        assert not [c for c in configs if c.startswith(f"{run.name}-")], outcome.endpoint


def check_the_endpoint_only_ever_serves_approved_models(results: Results) -> None:
    served = {
        run.outcome.endpoint[key]
        for run in results.runs.values()
        if run.outcome and run.outcome.endpoint
        for key in ("config", "pending")
        if run.outcome.endpoint[key]
    }
    assert served, "no deployment happened: the check would be vacuous"
    assert all(results.approved(config) for config in served), (served, results.statuses)
