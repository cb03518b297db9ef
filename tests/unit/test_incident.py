"""The incident view's logic: next action per outcome, the comparison with the last successful run, filters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from governed_mlops_local.incident import (
    CommandTarget,
    RunFacts,
    Serving,
    build_incident,
    compare_runs,
    config_diff,
    evaluation_metrics,
    metric_rows,
    next_actions,
    state_io,
    trigger_of,
)
from governed_mlops_local.ui.event_filter import FAILURES, apply_filter, parse_event_filter
from governed_mlops_local.ui.history_view import timeline

NAME = "data-0123"


def kinds(status: str, error: str | None, **kwargs: Any) -> list[str]:
    return [action.kind for action in next_actions(NAME, status, error, **kwargs)]


def commands(status: str, error: str | None, **kwargs: Any) -> list[str]:
    return [action.command or "" for action in next_actions(NAME, status, error, **kwargs)]


# -- next action ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("FAILED", "Lambda.ServiceException"),
        ("FAILED", "SageMaker.ThrottlingException"),
        ("FAILED", "States.Timeout"),
        ("FAILED", "Sandbox.Timedout"),
        ("FAILED", "TransientStorageError"),
        ("TIMED_OUT", "States.Timeout"),
    ],
)
def test_a_transient_or_service_fault_is_redriven(status: str, error: str) -> None:
    assert kinds(status, error) == ["redrive"]
    assert commands(status, error) == [f"mlops redrive {NAME}"]


def test_an_interrupted_run_is_redriven_or_abandoned() -> None:
    assert kinds("INTERRUPTED", None) == ["redrive", "abandon"]
    assert commands("INTERRUPTED", None)[1] == f'mlops abandon {NAME} --reason "WHY"'


# -- next action of a run in a deployed stack ----------------------------------------------------------
STACK = CommandTarget(stack="gm-prod", region="eu-west-1")
DATA = {"bucket": "gm-prod-data", "key": "datasets/credit-risk/g.csv", "version_id": "v1"}


def test_a_stack_runs_redrive_carries_the_stack_and_region() -> None:
    assert commands("FAILED", "Lambda.ServiceException", commands=STACK) == [
        f"mlops redrive {NAME} --aws --stack gm-prod --region eu-west-1"
    ]


def test_a_stack_runs_bad_data_is_uploaded_with_the_aws_cli_to_the_bucket_and_key_it_read() -> None:
    (command,) = commands("FAILED", "DataValidationError", model="credit-risk", data=DATA, commands=STACK)

    assert command == "aws s3 cp CORRECTED.csv s3://gm-prod-data/datasets/credit-risk/g.csv --region eu-west-1"


def test_a_stack_runs_code_push_gets_no_local_trigger_command() -> None:
    push = trigger_of({"trigger": {"kind": "code-push", "principal": "bob"}, "code": {"branch": "main"}})

    (command,) = commands("FAILED", "QualityGateFailed", trigger=push, commands=STACK)

    assert command.startswith("git push origin main")
    assert "mlops trigger" not in command


def test_a_stack_command_quotes_what_the_shell_would_split() -> None:
    target = CommandTarget(stack="my stack")

    assert target.mlops("redrive", "run-1") == "mlops redrive run-1 --aws --stack 'my stack'"


@pytest.mark.parametrize("error", ["QualityGateFailed", "BiasThresholdExceeded", "ChampionGateFailed"])
def test_a_policy_stop_is_never_redriven(error: str) -> None:
    actions = next_actions(NAME, "FAILED", error, model="credit-risk", data_key="datasets/credit-risk/g.csv")
    assert [a.kind for a in actions] == ["new-run"]
    assert "redrive" not in (actions[0].command or "")
    assert actions[0].command == "mlops upload DATA.csv --model credit-risk --key datasets/credit-risk/g.csv"


@pytest.mark.parametrize("error", ["ApprovalRejected", "ApprovalExpired"])
def test_a_human_decision_is_never_redriven(error: str) -> None:
    assert kinds("FAILED", error) == ["new-run"]
    assert not any("redrive" in c for c in commands("FAILED", error))


def test_bad_data_gets_the_upload_of_a_corrected_file_not_a_redrive() -> None:
    actions = next_actions(NAME, "FAILED", "DataValidationError", model="m", data_key="datasets/m/bad file.csv")
    assert [a.kind for a in actions] == ["new-data"]
    assert actions[0].command == "mlops upload CORRECTED.csv --model m --key 'datasets/m/bad file.csv'"


def test_a_bug_is_redriven_once_fixed() -> None:
    [action] = next_actions(NAME, "FAILED", "KeyError")
    assert action.kind == "fix-then-redrive"
    assert action.command == f"mlops redrive {NAME}"
    assert "fix" in action.title.lower()


def test_an_abandoned_run_needs_nothing_and_a_succeeded_one_has_no_incident() -> None:
    assert kinds("ABORTED", "Abandoned") == ["none"]
    assert next_actions(NAME, "SUCCEEDED", None) == []


def test_a_code_push_is_retried_by_pushing_the_fix() -> None:
    trigger = trigger_of({"trigger": {"kind": "code-push", "principal": "bob"}, "code": {"commit_id": "abc"}})
    assert commands("FAILED", "ConfigError", trigger=trigger)[0].startswith("git push")


# -- trigger ------------------------------------------------------------------------------------------
def test_trigger_of_a_push_names_commit_and_author() -> None:
    trigger = trigger_of(
        {
            "trigger": {"kind": "code-push", "principal": "alice", "event_time": "2026-01-01T00:00:00Z"},
            "code": {"repository": "repo", "branch": "main", "commit_id": "0123456789abcdef"},
        }
    )
    assert trigger.summary == "a push to main by alice (commit 0123456789ab)"
    assert ("commit", "0123456789abcdef") in trigger.facts


def test_trigger_of_a_data_arrival_names_object_version_and_uploader() -> None:
    trigger = trigger_of(
        {
            "trigger": {"kind": "data-arrival", "principal": "bob"},
            "data": {"bucket": "b", "key": "datasets/m/x.csv", "version_id": "v1"},
        }
    )
    assert trigger.summary == "bob uploaded datasets/m/x.csv (version v1)"
    assert ("object", "s3://b/datasets/m/x.csv") in trigger.facts


def test_trigger_of_a_monitoring_retrain() -> None:
    assert "drift" in trigger_of({"trigger": {"kind": "drift", "principal": "monitor"}}).summary


# -- comparison ---------------------------------------------------------------------------------------
BASE = RunFacts(
    "data-old",
    data_key="d.csv",
    data_version="v1",
    data_sha256="a" * 64,
    rows=1000,
    commit="c1",
    config_text="a: 1\nb: 2\n",
    metrics={"auc": 0.82, "f1": 0.84},
)


def test_no_earlier_success_compares_nothing() -> None:
    assert compare_runs(BASE, None) == ()


def test_same_inputs_are_reported_unchanged() -> None:
    diffs = {d.aspect: d for d in compare_runs(BASE, BASE)}
    assert [diffs[a].changed for a in ("data", "code", "config")] == [False, False, False]


def test_a_new_dataset_version_with_other_content_and_rows_is_a_data_change() -> None:
    current = RunFacts("data-new", data_key="d.csv", data_version="v2", data_sha256="b" * 64, rows=900)
    data = compare_runs(current, BASE)[0]
    assert data.changed
    assert data.summary == "different dataset, -100 rows"


def test_a_reupload_of_the_same_bytes_is_the_same_data() -> None:
    current = RunFacts("data-new", data_key="d.csv", data_version="v2", data_sha256="a" * 64, rows=1000)
    assert not compare_runs(current, BASE)[0].changed


def test_config_diff_is_a_unified_diff_of_the_two_versions() -> None:
    current = RunFacts("data-new", commit="c2", config_text="a: 1\nb: 3\n")
    _, code, config = compare_runs(current, BASE)
    assert code.changed
    assert config.changed
    assert config.summary == "2 configuration line(s) changed"
    assert "-b: 2" in config.lines
    assert "+b: 3" in config.lines
    assert config_diff("x", "x") == []
    assert config_diff(None, "x") == []


def test_metrics_are_side_by_side_with_their_change() -> None:
    rows = metric_rows({"auc": 0.82, "f1": 0.84}, {"auc": 0.70, "ks": 0.5})
    assert [(r.name, r.before, r.now) for r in rows] == [("auc", 0.82, 0.70), ("f1", 0.84, None), ("ks", None, 0.5)]
    assert rows[0].delta == pytest.approx(-0.12)
    assert rows[1].delta is None


def test_evaluation_metrics_reads_the_report_values() -> None:
    report = {"binary_classification_metrics": {"auc": {"value": 0.8, "standard_deviation": "NaN"}}, "n": 3}
    assert evaluation_metrics(report) == {"auc": 0.8}


# -- whole incident -----------------------------------------------------------------------------------
def history_failing_in(state: str, error: str, cause: str) -> list[dict[str, Any]]:
    return [
        {"id": 1, "type": "ExecutionStarted", "timestamp": "2026-01-01T00:00:00+00:00"},
        {
            "id": 2,
            "type": "TaskStateEntered",
            "timestamp": "2026-01-01T00:00:01+00:00",
            "stateEnteredEventDetails": {"name": state, "input": '{"x": 1}'},
        },
        {
            "id": 3,
            "type": "LambdaFunctionScheduled",
            "timestamp": "2026-01-01T00:00:01+00:00",
            "lambdaFunctionScheduledEventDetails": {"resource": "arn:f:fn", "input": '{"payload": 2}'},
        },
        {
            "id": 4,
            "type": "LambdaFunctionFailed",
            "timestamp": "2026-01-01T00:00:02+00:00",
            "lambdaFunctionFailedEventDetails": {"error": error, "cause": cause},
        },
        {
            "id": 5,
            "type": "ExecutionFailed",
            "timestamp": "2026-01-01T00:00:02+00:00",
            "executionFailedEventDetails": {"error": error, "cause": cause},
        },
    ]


def described(error: str, cause: str) -> dict[str, Any]:
    execution_input = {
        "trigger": {"kind": "data-arrival", "principal": "bob"},
        "model": {"name": "m", "endpoint_name": "m-endpoint"},
        "data": {"bucket": "b", "key": "datasets/m/x.csv", "version_id": "v1"},
    }
    return {"name": NAME, "status": "FAILED", "error": error, "cause": cause, "input": json.dumps(execution_input)}


def test_the_incident_names_state_class_cause_and_the_failed_states_io() -> None:
    cause = json.dumps({"errorType": "QualityGateFailed", "errorMessage": "auc 0.61 < 0.70"})
    serving = Serving("m-endpoint", "InService", (("AllTraffic", "m/3", 1.0),), "2026-01-01")
    incident = build_incident(
        described("QualityGateFailed", cause),
        history_failing_in("Check Quality Gates", "QualityGateFailed", cause),
        serving=serving,
    )
    assert incident is not None
    assert (incident.state, incident.outcome, incident.message) == (
        "Check Quality Gates",
        "policy_stop",
        "auc 0.61 < 0.70",
    )
    assert incident.serving == serving
    assert incident.baseline is None
    assert incident.differences == ()
    assert [a.kind for a in incident.actions] == ["new-run"]
    assert json.loads(incident.state_io.input or "") == {"payload": 2}
    assert incident.state_io.error == "QualityGateFailed"
    assert incident.state_io.resource == "arn:f:fn"


def test_a_succeeded_execution_has_no_incident() -> None:
    assert build_incident({"name": NAME, "status": "SUCCEEDED"}, []) is None


def test_state_io_of_a_state_never_entered_is_empty() -> None:
    assert state_io(history_failing_in("A", "E", "c"), "B").input is None


# -- event filter -------------------------------------------------------------------------------------
ENTRIES = timeline({"States": {"Validate Data": {"Type": "Task"}}}, history_failing_in("Validate Data", "E", "c"))


def test_the_filter_keeps_one_states_events() -> None:
    chosen = parse_event_filter({"state": ["Validate Data"]}, ["Validate Data"], [e.kind for e in ENTRIES])
    assert chosen.problems == ()
    assert {e.state for e in apply_filter(ENTRIES, chosen)} == {"Validate Data"}


def test_the_filter_keeps_one_event_type_or_failures_only() -> None:
    by_type = parse_event_filter({"type": ["LambdaFunctionScheduled"]}, [], [e.kind for e in ENTRIES])
    assert [e.kind for e in apply_filter(ENTRIES, by_type)] == ["LambdaFunctionScheduled"]
    failures = parse_event_filter({"type": [FAILURES]}, [], [e.kind for e in ENTRIES])
    assert [e.kind for e in apply_filter(ENTRIES, failures)] == ["LambdaFunctionFailed", "ExecutionFailed"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": ["Nope"]}, "No state named 'Nope' in this execution; showing every event. States: Validate Data."),
        ({"type": ["Bogus"]}, "No event of type 'Bogus' in this execution; showing every event."),
    ],
)
def test_an_unknown_state_or_type_is_dropped_with_a_message(query: dict[str, list[str]], message: str) -> None:
    chosen = parse_event_filter(query, ["Validate Data"], ["TaskStateEntered"])
    assert not chosen.active
    assert chosen.problems[0].startswith(message)
    assert len(apply_filter(ENTRIES, chosen)) == len(ENTRIES)


def test_blank_filter_values_mean_no_filter() -> None:
    chosen = parse_event_filter({"state": [""], "type": [" "]}, ["A"], ["B"])
    assert (chosen.active, chosen.problems) == (False, ())
