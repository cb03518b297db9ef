"""The incident view of a run that did not succeed: cause, production now, trigger, what changed, what to do.

Pure: no I/O, no clock. :mod:`governed_mlops_local.incident_sources` reads a data directory into the
inputs here (:class:`RunFacts` of this run and of the model's last successful run, :class:`Serving`);
the execution page (:mod:`governed_mlops_local.ui.incident_html`) and ``mlops history``
(:mod:`governed_mlops_local.incident_text`) render the :class:`Incident` built by :func:`build_incident`.

The cause blames the state :func:`~governed_mlops_local.ui.history_view.describe_failure` names (the
page's failure box uses the same), and the outcome class is :func:`governed_mlops.domain.outcomes.classify`'s,
so alert, page and CLI agree. :func:`next_actions` offers ``mlops redrive`` only when running the
failed state again can end differently: a transient or service fault, an interrupted process, or a
bug once it is fixed; never for a gate's refusal, a person's decision, or data that fails the same way.
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

from governed_mlops.domain.outcomes import OUTCOME_LABELS, Outcome, classify
from governed_mlops_local.ui.history_view import describe_failure, event_details, parse_time

__all__ = [
    "CommandTarget",
    "Difference",
    "Incident",
    "MetricRow",
    "NextAction",
    "RunFacts",
    "Serving",
    "StateIO",
    "Trigger",
    "build_incident",
    "compare_runs",
    "config_diff",
    "error_meaning",
    "evaluation_metrics",
    "metric_rows",
    "next_actions",
    "retry_helps",
    "state_io",
    "trigger_of",
    "when",
]

#: Errors a retry of the same state can get past: the service or the machine failed, not the run's inputs.
_TRANSIENT = frozenset(
    {
        "States.Timeout",
        "Sandbox.Timedout",
        "TransientStorageError",
        "ResourceLimitExceeded",
        "EndpointNotReady",
        "Interrupted",
        "States.Heartbeat",
    }
)
_SERVICE_PREFIXES = ("Lambda.", "SageMaker.", "CloudWatch.", "States.Http")
#: Errors that come from the dataset itself: the same file fails the same way.
_BAD_DATA = frozenset({"DataValidationError", "DatasetNotFoundError", "FacetError"})
#: Errors that come from the model's configuration, pinned by version in the run's input.
_BAD_CONFIG = frozenset({"ConfigError", "UnknownModelError"})

_MEANINGS: dict[str, str] = {
    "DataValidationError": (
        "The dataset failed validation, so no model was trained from it. The run's input pins this exact "
        "file version: running it again reads the same rows and fails the same way."
    ),
    "DatasetNotFoundError": "The dataset the run was started for could not be read (deleted, or never written).",
    "FacetError": "A bias facet the configuration names is not in the data (a missing or renamed column).",
    "ConfigError": "The model's configuration is invalid; the run's input pins that configuration version.",
    "UnknownModelError": "The run names a model project that has no configuration.",
    "QualityGateFailed": (
        "The trained model missed a quality threshold of its configuration: the gate refused it, as designed. "
        "Nothing is broken; production keeps what it serves."
    ),
    "BiasThresholdExceeded": (
        "A bias metric of the trained model is over its limit: the gate refused it, as designed. "
        "Nothing is broken; production keeps what it serves."
    ),
    "ChampionGateFailed": (
        "The new model did not beat the model in production (the champion): the gate kept the champion, as designed."
    ),
    "ApprovalRejected": "An approver rejected the model version; the run ended as they decided.",
    "ApprovalExpired": "Nobody decided about the model version before its approval request expired.",
    "Abandoned": "An operator closed the interrupted run for good (the reason is the cause).",
    "Interrupted": "The local process that ran this execution stopped before it finished.",
    "States.Timeout": "The state ran longer than its TimeoutSeconds (a slow or hung service call or job).",
    "Sandbox.Timedout": "The Lambda function ran out of time before it returned.",
    "TransientStorageError": "A storage or AWS API call failed in a way that usually passes on a second try.",
    "ResourceLimitExceeded": "A service quota was reached (e.g. concurrent SageMaker jobs).",
    "SageMakerJobFailed": "A SageMaker job (training, processing or transform) failed; its FailureReason is the cause.",
    "DeploymentRolledBack": (
        "The new endpoint configuration failed its checks and was rolled back: the previous model keeps serving."
    ),
}

ActionKind = Literal["redrive", "fix-then-redrive", "new-data", "new-run", "abandon", "none"]


@dataclass(frozen=True)
class CommandTarget:
    """Where the printed next-action commands act: the local runtime (``stack`` None) or a deployed stack.

    For a stack, every ``mlops`` command carries ``--aws --stack S`` (and ``--region R`` when the view was
    read with one), and a new dataset is uploaded with the AWS CLI to the data bucket the run read (there
    is no ``mlops upload --aws``: the upload's own ``Object Created`` event starts the run in the stack).
    """

    stack: str | None = None
    region: str | None = None

    def mlops(self, *words: str) -> str:
        """``mlops WORDS`` for this target (``words`` already quoted where they need it)."""
        command = "mlops " + " ".join(words)
        if self.stack is None:
            return command
        command += f" --aws --stack {shlex.quote(self.stack)}"
        return command + (f" --region {shlex.quote(self.region)}" if self.region else "")

    def upload(self, file: str, model: str | None, data: Mapping[str, Any]) -> str:
        """The command that uploads ``file`` as the model's dataset (the upload starts a run)."""
        key = data.get("key")
        if self.stack is None:
            target = f" --model {shlex.quote(model)}" if model else ""
            return f"mlops upload {file}{target}" + (f" --key {shlex.quote(str(key))}" if key else "")
        bucket = data.get("bucket") or "DATA_BUCKET"
        key = key or f"datasets/{model or 'MODEL'}/{file}"
        region = f" --region {shlex.quote(self.region)}" if self.region else ""
        return f"aws s3 cp {file} {shlex.quote(f's3://{bucket}/{key}')}{region}"


LOCAL_COMMANDS = CommandTarget()


# -- what the sources hand in ---------------------------------------------------------------------
@dataclass(frozen=True)
class RunFacts:
    """What one run was made of: the data, code and configuration versions it pinned, and its metrics."""

    name: str
    status: str = ""
    started: str = ""
    data_key: str | None = None
    data_version: str | None = None
    data_sha256: str | None = None
    rows: int | None = None
    commit: str | None = None
    config_version: str | None = None
    config_text: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Serving:
    """What an endpoint serves now: per variant, the model version (or SageMaker model name) and its weight."""

    endpoint: str
    status: str
    variants: tuple[tuple[str, str, float], ...]
    since: str | None = None


@dataclass(frozen=True)
class StateIO:
    """The failed state's last visit: its input, what it returned or raised, and the function it called."""

    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    resource: str | None = None


# -- what the incident says -----------------------------------------------------------------------
@dataclass(frozen=True)
class Trigger:
    kind: str
    summary: str
    facts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Difference:
    """One aspect (data, code, config) of this run against the last successful one."""

    aspect: str
    changed: bool
    summary: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricRow:
    name: str
    before: float | None
    now: float | None

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.now is None else self.now - self.before


@dataclass(frozen=True)
class NextAction:
    kind: ActionKind
    title: str
    why: str
    command: str | None = None


@dataclass(frozen=True)
class Incident:
    name: str
    status: str
    outcome: Outcome
    outcome_label: str
    state: str | None
    error: str
    message: str
    meaning: str
    model: str | None
    trigger: Trigger
    serving: Serving | None
    endpoint: str | None
    baseline: RunFacts | None
    differences: tuple[Difference, ...]
    metrics: tuple[MetricRow, ...]
    actions: tuple[NextAction, ...]
    state_io: StateIO


# -- the pieces -----------------------------------------------------------------------------------
def when(value: str | None) -> str:
    """A timestamp as ``2026-12-05 16:20:58 UTC`` (as it came when it is not one; ``?`` when missing)."""
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else (value or "?")


def retry_helps(status: str, error: str | None) -> bool:
    """Whether running the failed state again can end differently without anyone changing anything."""
    if status == "INTERRUPTED":
        return True
    name = error or ""
    return name in _TRANSIENT or name.startswith(_SERVICE_PREFIXES) or name.endswith("ThrottlingException")


def error_meaning(status: str, error: str | None) -> str:
    """What the error means, in plain words, for someone who did not write the pipeline."""
    name = error or ""
    if status == "INTERRUPTED" or name == "Interrupted":
        return _MEANINGS["Interrupted"] + " The states that finished are not run again when it is continued."
    if name in _MEANINGS:
        return _MEANINGS[name]
    if name.startswith(_SERVICE_PREFIXES) or name.endswith("ThrottlingException"):
        service = name.split(".", 1)[0]
        return f"The {service} service failed the call (throttled or unavailable) more times than the state retries."
    if status == "TIMED_OUT":
        return "The execution ran longer than its time limit."
    return (
        f"The code of the failed state raised {name or 'an error'}: most likely a bug or an unexpected input. "
        "Its logs and input are below."
    )


def trigger_of(execution_input: Mapping[str, Any]) -> Trigger:
    """Who or what started the run and why, from the execution input the trigger wrote."""
    trigger = execution_input.get("trigger") or {}
    kind = str(trigger.get("kind") or "unknown")
    who = str(trigger.get("principal") or "unknown")
    when = str(trigger.get("event_time") or "")
    data = execution_input.get("data") or {}
    code = execution_input.get("code") or {}
    commit = str(code.get("commit_id") or "")
    facts: list[tuple[str, str]] = [("kind", kind), ("by", who)]
    if when:
        facts.append(("at", when))
    if kind == "code-push":
        summary = f"a push to {code.get('branch') or '?'} by {who} (commit {commit[:12] or '?'})"
        facts += [("repository", str(code.get("repository") or "?")), ("commit", commit or "?")]
    elif kind == "data-arrival":
        summary = f"{who} uploaded {data.get('key') or '?'} (version {data.get('version_id') or '?'})"
        facts += [("object", f"s3://{data.get('bucket', '?')}/{data.get('key', '?')}")]
        facts += [("version", str(data.get("version_id") or "?"))]
    elif kind == "drift":
        summary = f"a monitoring run found drift and retrained (by {who})"
    elif kind == "manual":
        summary = f"started by hand by {who}"
    else:
        summary = f"{kind} by {who}"
    if kind != "code-push" and commit:
        facts.append(("code commit", commit))
    return Trigger(kind=kind, summary=summary, facts=tuple(facts))


def evaluation_metrics(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """``{metric: value}`` from an evaluation report (``{"<group>_metrics": {name: {"value": x}}}``)."""
    metrics: dict[str, float] = {}
    for group in evaluation.values():
        if not isinstance(group, Mapping):
            continue
        for name, entry in group.items():
            value = entry.get("value") if isinstance(entry, Mapping) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[str(name)] = float(value)
    return metrics


def config_diff(before: str | None, after: str | None, *, before_name: str = "", after_name: str = "") -> list[str]:
    """A unified diff of two configuration texts (``[]`` when equal or either is unknown)."""
    if before is None or after is None or before == after:
        return []
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            before.splitlines(), after.splitlines(), before_name or "before", after_name or "now", lineterm=""
        )
    ]


def metric_rows(before: Mapping[str, float], now: Mapping[str, float]) -> list[MetricRow]:
    """Every metric either run has, side by side, in the order the last successful run lists them."""
    names = list(before) + [name for name in now if name not in before]
    return [MetricRow(name, before.get(name), now.get(name)) for name in names]


def _short(value: str | None, length: int = 12) -> str:
    return (value or "?")[:length]


def _data_difference(current: RunFacts, baseline: RunFacts) -> Difference:
    same_object = current.data_key == baseline.data_key and current.data_version == baseline.data_version
    same_bytes = current.data_sha256 is not None and current.data_sha256 == baseline.data_sha256
    lines = (
        f"last success: {baseline.data_key} version {baseline.data_version} "
        f"sha256 {_short(baseline.data_sha256)} · {baseline.rows if baseline.rows is not None else '?'} rows",
        f"this run:     {current.data_key} version {current.data_version} "
        f"sha256 {_short(current.data_sha256)} · {current.rows if current.rows is not None else '?'} rows",
    )
    if same_object or same_bytes:
        return Difference("data", False, "same dataset (same content)", lines)
    rows = ""
    if current.rows is not None and baseline.rows is not None and current.rows != baseline.rows:
        rows = f", {current.rows - baseline.rows:+d} rows"
    return Difference("data", True, f"different dataset{rows}", lines)


def _code_difference(current: RunFacts, baseline: RunFacts) -> Difference:
    lines = (f"last success: {baseline.commit or '?'}", f"this run:     {current.commit or '?'}")
    if current.commit == baseline.commit:
        return Difference("code", False, f"same commit {_short(current.commit)}", lines)
    return Difference("code", True, f"commit {_short(baseline.commit)} → {_short(current.commit)}", lines)


def _config_difference(current: RunFacts, baseline: RunFacts) -> Difference:
    if current.config_text is None or baseline.config_text is None:
        same = current.config_version == baseline.config_version
        summary = "same configuration version" if same else "configuration version differs (content unavailable)"
        return Difference("config", not same, summary)
    diff = config_diff(
        baseline.config_text,
        current.config_text,
        before_name=f"config of {baseline.name}",
        after_name=f"config of {current.name}",
    )
    if not diff:
        return Difference("config", False, "same configuration")
    changed = sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return Difference("config", True, f"{changed} configuration line(s) changed", tuple(diff))


def compare_runs(current: RunFacts, baseline: RunFacts | None) -> tuple[Difference, ...]:
    """Data, code and configuration of ``current`` against ``baseline`` (nothing without a baseline)."""
    if baseline is None:
        return ()
    return (
        _data_difference(current, baseline),
        _code_difference(current, baseline),
        _config_difference(current, baseline),
    )


def _new_run(trigger: Trigger, model: str | None, data: Mapping[str, Any], commands: CommandTarget) -> str:
    """The command that starts a fresh run of the model the way this one was started."""
    if trigger.kind == "code-push":
        if commands.stack is not None:
            return "git push origin main   # the fix, committed: the push starts a run in the stack"
        return "git push origin main   # the fix, committed; or: mlops trigger events/codecommit_push.json"
    if trigger.kind == "drift" and commands.stack is None:
        return "mlops monitor run" + (f" --model {shlex.quote(model)}" if model else "")
    return commands.upload("DATA.csv", model, data)


def next_actions(  # noqa: PLR0911 - one return per failure kind, each with its own next actions
    name: str,
    status: str,
    error: str | None,
    *,
    trigger: Trigger | None = None,
    model: str | None = None,
    data_key: str | None = None,
    data: Mapping[str, Any] | None = None,
    commands: CommandTarget = LOCAL_COMMANDS,
) -> list[NextAction]:
    """What to do about the run, first the action that fixes it, each with a command to copy.

    ``mlops redrive`` only when a retry can help (:func:`retry_helps`) or after a bug is fixed; bad data
    gets the upload of a corrected file; a gate's refusal or a person's decision gets no retry.
    """
    trigger = trigger or Trigger("unknown", "")
    outcome = classify(status, error)
    run = shlex.quote(name)
    data = dict(data or {}) | ({"key": data_key} if data_key else {})
    if status == "SUCCEEDED" or outcome == "running":
        return []
    if status == "ABORTED" and error == "Abandoned":
        return [NextAction("none", "Nothing to do", "The run was closed for good on purpose; its reason is the cause.")]
    if retry_helps(status, error):
        actions = [
            NextAction(
                "redrive",
                "Retry from the failed state",
                "The failure came from the service or the machine, not from the run's inputs: running the state "
                "again can pass. The states that finished are not run again.",
                commands.mlops("redrive", run),
            )
        ]
        if status == "INTERRUPTED":
            actions.append(
                NextAction(
                    "abandon",
                    "Or close it for good",
                    "If this run should not continue (e.g. a newer run replaces it).",
                    commands.mlops("abandon", run, '--reason "WHY"'),
                )
            )
        return actions
    if outcome == "policy_stop":
        return [
            NextAction(
                "new-run",
                "No retry: the gate did its job",
                "The model owners were notified. A retry would refuse the same model; to change the outcome, "
                "improve the data, features or configuration and start a new run.",
                _new_run(trigger, model, data, commands),
            )
        ]
    if outcome == "human_decision":
        return [
            NextAction(
                "new-run",
                "No retry: a person decided",
                "The decision stands. If it should be revisited, start a new run and ask the approvers again.",
                _new_run(trigger, model, data, commands),
            )
        ]
    if (error or "") in _BAD_DATA:
        return [
            NextAction(
                "new-data",
                "Upload a corrected file",
                "A retry reads the same file version and fails the same way (so no redrive). Fix the file and "
                "upload it under the same key: the upload starts a new run.",
                commands.upload("CORRECTED.csv", model, data),
            )
        ]
    if (error or "") in _BAD_CONFIG:
        return [
            NextAction(
                "new-run",
                "Fix the configuration, then start a new run",
                "The run's input pins the configuration version it read, so a retry fails the same way. Fix "
                + (f"models/{model}/config.yaml" if model else "the model's config.yaml")
                + " and start a new run.",
                _new_run(trigger, model, data, commands),
            )
        ]
    return [
        NextAction(
            "fix-then-redrive",
            "Fix the cause, then retry from the failed state",
            "The failed state's code raised an error (a bug or an unexpected input; see its input and logs "
            "below). Once the fix is in place, a retry runs the state again with the fixed code.",
            commands.mlops("redrive", run),
        )
    ]


def state_io(events: Sequence[Mapping[str, Any]], state: str | None) -> StateIO:
    """Input, output, error and cause of the last visit to top-level ``state`` (all None if never entered).

    The input is what the state's task was called with (the Lambda payload or job request) when it
    called one, else the state's input; the output is its last task result or the state's output.
    """
    entered = [
        index
        for index, event in enumerate(events)
        if str(event.get("type", "")).endswith("StateEntered") and event_details(event).get("name") == state
    ]
    if state is None or not entered:
        return StateIO()
    found: dict[str, Any] = {"input": event_details(events[entered[-1]]).get("input")}
    for event in events[entered[-1] + 1 :]:
        kind = str(event.get("type", ""))
        details = event_details(event)
        if kind.endswith("StateExited") and details.get("name") == state:
            found.setdefault("output", details.get("output"))
            break
        if kind.endswith("Scheduled") and "resource" in details:
            found["resource"] = str(details["resource"])
            found["input"] = details.get("input") or details.get("parameters") or found["input"]
        if details.get("error") is not None or details.get("cause") is not None:
            found["error"], found["cause"] = details.get("error"), details.get("cause")
        if kind.endswith("Succeeded") and "output" in details and not kind.startswith("Execution"):
            found["output"] = details["output"]
    return StateIO(
        input=_pretty(found.get("input")),
        output=None if found.get("error") else _pretty(found.get("output")),
        error=found.get("error"),
        cause=_pretty(found.get("cause")),
        resource=found.get("resource"),
    )


def _pretty(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def build_incident(
    described: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    definition: Mapping[str, Any] | None = None,
    *,
    current: RunFacts | None = None,
    baseline: RunFacts | None = None,
    serving: Serving | None = None,
    commands: CommandTarget = LOCAL_COMMANDS,
) -> Incident | None:
    """The incident of an execution that did not succeed (None for a succeeded or running one).

    ``current`` and ``baseline`` are the facts of this run and of the model's last successful run
    before it (None: there was none); ``serving`` what the model's endpoint serves now (None: nothing).
    """
    failure = describe_failure(described, events, definition)
    if failure is None:
        return None
    try:
        execution_input = json.loads(described.get("input") or "{}")
    except ValueError:
        execution_input = {}
    if not isinstance(execution_input, dict):
        execution_input = {}
    model_spec = execution_input.get("model") or {}
    model = model_spec.get("name") if isinstance(model_spec, dict) else None
    data = execution_input.get("data") or {}
    data = data if isinstance(data, dict) else {}
    trigger = trigger_of(execution_input)
    name = str(described.get("name", ""))
    current = current or RunFacts(name)
    outcome = classify(failure.status, failure.error)
    actions = next_actions(
        name, failure.status, failure.error, trigger=trigger, model=model, data=data, commands=commands
    )
    return Incident(
        name=name,
        status=failure.status,
        outcome=outcome,
        outcome_label=OUTCOME_LABELS[outcome],
        state=failure.state,
        error=failure.error,
        message=failure.message,
        meaning=error_meaning(failure.status, failure.error),
        model=model,
        trigger=trigger,
        serving=serving,
        endpoint=model_spec.get("endpoint_name") if isinstance(model_spec, dict) else None,
        baseline=baseline,
        differences=compare_runs(current, baseline),
        metrics=tuple(metric_rows(baseline.metrics if baseline else {}, current.metrics)),
        actions=tuple(actions),
        state_io=state_io(events, failure.state),
    )
