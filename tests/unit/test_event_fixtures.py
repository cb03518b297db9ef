"""Every function has an event fixture under events/, in the shape it really receives, and its handler accepts it.

Shapes come from where AWS builds them: a Task state's ``Parameters`` (the state machine's payload to the function),
EventBridge (the trigger's rules, the execution monitor's status changes) and API Gateway's proxy integration (the
approval API). The fixtures are shared with ``mlops trigger`` / ``sam local invoke``; a drifted fixture fails here.
"""

from __future__ import annotations

import ast
import importlib
import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, EventBridgeModel

from governed_mlops.domain import trigger as trigger_domain
from governed_mlops.errors import UnsupportedEventError
from governed_mlops.services.approval import DecisionForm
from governed_mlops_local.runtime import LOCAL_IMAGES, STACK_NAME
from governed_mlops_local.template import load_template
from tests.asl import ASL_FILES
from tests.conftest import EVENTS_DIR, PROJECT_DIR

FUNCTIONS_DIR = PROJECT_DIR / "functions"
MAIN_BRANCH = "main"

#: Each function's event fixtures: the trigger's EventBridge events at the top of events/ (as ``mlops trigger`` takes
#: them), every other function's under events/<function>/. A Task-state fixture names the state whose ``Parameters``
#: it is the payload of; an EventBridge / API Gateway fixture names None. ``refused`` is the named error the handler
#: answers with (README: a push to another branch starts nothing).
FIXTURES: dict[str, dict[str, dict[str, Any]]] = {
    "trigger": {
        "s3_object_created.json": {"state": None},
        "codecommit_push.json": {"state": None},
        "model_drift_detected.json": {"state": None},
        "codecommit_push_feature_branch.json": {"state": None, "refused": UnsupportedEventError},
        "s3_upload_call.json": {"state": None},
    },
    "validate_data": {"validate_data/validate_data.json": {"state": "Validate Data"}},
    "prepare_data": {"prepare_data/prepare_data.json": {"state": "Prepare Data"}},
    "compare_champion": {"compare_champion/compare_with_champion.json": {"state": "Compare with Champion"}},
    "check_bias_gates": {
        "check_bias_gates/gate_data_bias.json": {"state": "Gate Data Bias"},
        "check_bias_gates/gate_model_bias.json": {"state": "Gate Model Bias"},
    },
    "check_quality_gates": {"check_quality_gates/check_quality_gates.json": {"state": "Check Quality Gates"}},
    "register_model": {"register_model/register_model.json": {"state": "Register Model"}},
    "request_approval": {"request_approval/request_approval.json": {"state": "Request Approval"}},
    "record_approval_outcome": {"record_approval_outcome/record_approval.json": {"state": "Record Approval"}},
    "verify_deployment": {"verify_deployment/verify_deployment.json": {"state": "Verify Deployment"}},
    "execution_monitor": {
        "execution_monitor/execution_succeeded.json": {"state": None},
        "execution_monitor/execution_failed.json": {"state": None},
    },
    "approval_api": {
        "approval_api/get_approval_page.json": {"state": None},
        "approval_api/post_decision.json": {"state": None},
    },
    "approver_authorizer": {"approver_authorizer/request.json": {"state": None}},
    "start_monitoring": {"start_monitoring/scheduled.json": {"state": None}},
    "monitoring_result": {
        "monitoring_result/job_completed.json": {"state": None},
        "monitoring_result/job_failed.json": {"state": None},
    },
    "approval_login": {
        "approval_login/login.json": {"state": None},
    },
}

CASES = [(function, name) for function, fixtures in FIXTURES.items() for name in fixtures]
TASK_CASES = [(function, name) for function, name in CASES if FIXTURES[function][name]["state"] is not None]


def _walk(states: dict[str, Any]) -> Any:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _walk(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _walk(state[key]["States"])


def _function_dirs_by_logical_id() -> dict[str, str]:
    template = load_template(PROJECT_DIR / "template.yaml", stack_name=STACK_NAME, parameter_overrides=LOCAL_IMAGES)
    return {spec.logical_id: spec.code_dir.name for spec in template.functions.values()}


def task_payloads() -> dict[str, tuple[str, set[str]]]:
    """Task state name -> (function directory it invokes, the top-level keys of the payload it sends)."""
    by_logical_id = _function_dirs_by_logical_id()
    found: dict[str, tuple[str, set[str]]] = {}
    for path in ASL_FILES:
        for name, state in _walk(json.loads(path.read_text(encoding="utf-8"))["States"]):
            if state["Type"] != "Task":
                continue
            parameters = state.get("Parameters", {})
            if state["Resource"].startswith("${"):
                target, payload = state["Resource"], parameters
            elif "FunctionName" in parameters:  # lambda:invoke(.waitForTaskToken): the payload is Payload
                target, payload = parameters["FunctionName"], parameters.get("Payload", {})
            else:
                continue  # a SageMaker integration: no function of ours
            logical_id = target.removeprefix("${").removesuffix("Arn}")
            found[name] = (by_logical_id[logical_id], {key.removesuffix(".$") for key in payload})
    return found


def load(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def handler_input_model(function: str) -> type[Any] | None:
    """The pydantic model ``functions/<function>/app.py`` parses its event into (``parse(..., model=X)``)."""
    tree = ast.parse((FUNCTIONS_DIR / function / "app.py").read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "parse":
            model = next(k.value for k in node.keywords if k.arg == "model")
            assert isinstance(model, ast.Name), ast.unparse(model)
            return getattr(importlib.import_module(imported[model.id]), model.id)  # type: ignore[no-any-return]
    return None


def test_every_function_has_an_event_fixture() -> None:
    functions = {path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py")}
    assert set(FIXTURES) == functions
    assert all(FIXTURES[f] for f in functions)


def test_every_fixture_file_belongs_to_a_function_and_exists() -> None:
    claimed = [name for fixtures in FIXTURES.values() for name in fixtures]
    assert len(claimed) == len(set(claimed)), "a fixture is claimed twice"
    assert sorted(claimed) == sorted(p.relative_to(EVENTS_DIR).as_posix() for p in EVENTS_DIR.rglob("*.json"))


@pytest.mark.parametrize(("function", "name"), TASK_CASES, ids=[name for _, name in TASK_CASES])
def test_a_task_fixture_is_the_payload_its_state_sends(function: str, name: str) -> None:
    invoked, keys = task_payloads()[FIXTURES[function][name]["state"]]
    # Given the state's Parameters in the ASL, Then the fixture goes to this function with exactly those keys
    assert invoked == function
    assert set(load(name)) == keys


def test_every_function_a_task_invokes_has_a_task_fixture() -> None:
    covered = {FIXTURES[f][n]["state"] for f, n in CASES}
    invoked = {function for function, _ in task_payloads().values()}
    for function in invoked:
        states = {s for s, (f, _) in task_payloads().items() if f == function}
        assert states & covered, f"{function}: no fixture for any of {sorted(states)}"


def _check_parsed(function: str, name: str, event: dict[str, Any], parsed: Any) -> None:
    """What a handler with a typed input read from its fixture."""
    if FIXTURES[function][name]["state"] is not None:
        # Nothing the state sends is dropped on the way in
        assert set(event) <= set(parsed.model_dump(exclude_unset=True))
    elif function == "start_monitoring":  # the schedule's Input: every endpoint in service
        assert parsed.endpoints is None
    elif function == "monitoring_result":  # SageMaker's state change of an ended monitoring job
        assert parsed.detail_type == event["detail-type"] == "SageMaker Processing Job State Change"
        assert parsed.detail["ProcessingJobStatus"] in {"Completed", "Failed"}
        assert parsed.detail["ProcessingJobName"].startswith("mon-")
    else:  # the execution monitor: an EventBridge status change of an ended execution
        assert parsed.detail_type == event["detail-type"] == "Step Functions Execution Status Change"
        assert parsed.detail.status in {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@pytest.mark.parametrize(("function", "name"), CASES, ids=[name for _, name in CASES])
def test_the_handler_parses_its_fixture(function: str, name: str) -> None:
    event = load(name)
    model = handler_input_model(function)
    if model is not None:
        parsed = parse(event=event, model=model)
        _check_parsed(function, name, event, parsed)
    elif function == "trigger":
        parsed_event = trigger_domain.parse_event(event)
        assert parse(event=event, model=EventBridgeModel).source == event["source"]
        refused = FIXTURES[function][name].get("refused")
        if isinstance(parsed_event, trigger_domain.CodeCommitPushEvent):
            if refused is None:
                trigger_domain.push_target(parsed_event, MAIN_BRANCH)
            else:
                with pytest.raises(refused, match="only 'main' triggers the pipeline"):
                    trigger_domain.push_target(parsed_event, MAIN_BRANCH)
    elif function == "approver_authorizer":
        # API Gateway's REQUEST authorizer input: the method's ARN and the request's headers (the session cookie)
        assert event["type"] == "REQUEST"
        assert event["methodArn"].startswith("arn:aws:execute-api:")
        assert "__Host-" in event["headers"]["Cookie"]
    elif function == "approval_login":
        proxy = parse(event=event, model=APIGatewayProxyEventModel)
        assert proxy.resource in {"/auth/login", "/auth/callback", "/auth/logout", "/auth/signed-out"}
    else:
        assert function == "approval_api"
        proxy = parse(event=event, model=APIGatewayProxyEventModel)
        # Then the route exists in the template, the authorizer vouched for a signed-in approver, a decision is a form
        assert proxy.resource in {"/approvals", "/approvals/{approval_id}", "/approvals/{approval_id}/decision"}
        assert event["requestContext"]["authorizer"]["signedIn"] == "true"
        assert event["requestContext"]["authorizer"]["principalId"]
        if proxy.httpMethod == "POST":
            fields = {k: v[0] for k, v in parse_qs(proxy.body or "").items()}
            assert DecisionForm.model_validate(fields).decision in {"approve", "reject"}


def test_the_trigger_fixtures_match_the_templates_rules_except_the_refused_one() -> None:
    from moto.events.models import EventPattern

    template = load_template(PROJECT_DIR / "template.yaml", stack_name=STACK_NAME, parameter_overrides=LOCAL_IMAGES)
    (trigger,) = [spec for spec in template.functions.values() if spec.code_dir.name == "trigger"]
    for name, expected in FIXTURES["trigger"].items():
        event = load(name)
        matched = [r.logical_id for r in trigger.rules if EventPattern.load(json.dumps(r.pattern)).matches_event(event)]
        assert bool(matched) is (expected.get("refused") is None), (name, matched)


def test_the_monitor_fixtures_are_status_changes_of_the_pipeline() -> None:
    template = load_template(PROJECT_DIR / "template.yaml", stack_name=STACK_NAME, parameter_overrides=LOCAL_IMAGES)
    (monitor,) = [spec for spec in template.functions.values() if spec.code_dir.name == "execution_monitor"]
    from moto.events.models import EventPattern

    for name in FIXTURES["execution_monitor"]:
        event = load(name)
        assert any(EventPattern.load(json.dumps(r.pattern)).matches_event(event) for r in monitor.rules), name
