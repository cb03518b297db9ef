"""Lint every state machine definition against the contract with the handlers and the template.

The linter is a handful of plain functions that return a list of problems (empty when clean), so
it is tested twice: on every ``statemachines/*.asl.json`` (must be clean) and on small synthetic
definitions that break one rule each (must report exactly that rule).

Checks:
(a) every ``ErrorEquals`` name is a real Step Functions / Lambda / SageMaker integration error or a
    named error exported by ``governed_mlops.errors`` (Step Functions matches names exactly, so a
    typo silently never matches);
(b) every ``${Var}`` has a ``DefinitionSubstitutions`` entry on the template's state machine that
    uses the file, and no substitution is unused;
(c) every Task has a timeout and a Catch, and a Lambda Task retries Lambda service errors;
(d) every transition target exists and every state is reachable from ``StartAt``;
(e) state names are verb-noun Title Case ("Validate Data", "Pipeline Failed");
(f) a Lambda Task's ``TimeoutSeconds`` exceeds its function's ``Timeout`` (template), so a hung handler
    fails as the function's own ``Sandbox.Timedout`` rather than racing the state's ``States.Timeout``.
States nested in Parallel branches and Map processors are linted in their own scope.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from governed_mlops import errors
from tests.asl import ASL_FILES, STATES_ERRORS

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"

StateMachineJson = Mapping[str, Any]

LAMBDA_ERRORS = frozenset(
    {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
    }
)
SAGEMAKER_ERRORS = frozenset(
    {
        "SageMaker.AmazonSageMakerException",
        # aws-sdk:sagemaker:* tasks: SDK errors are named after the SDK's exception class (parity tier).
        "SageMaker.SageMakerException",
        "SageMaker.ThrottlingException",
        "SageMaker.ResourceLimitExceededException",
        "SageMaker.ResourceInUse",
        "SageMaker.ValidationException",
        # aws-sdk:cloudwatch:putMetricAlarm (Ensure Canary Alarms): the SDK's exception classes.
        "CloudWatch.CloudWatchException",
        "CloudWatch.LimitExceededException",
        # aws-sdk:cloudwatchlogs:* (Ensure Endpoint Log Group, Put ... Metric Filter).
        "CloudWatchLogs.CloudWatchLogsException",
        "CloudWatchLogs.ServiceUnavailableException",
        "CloudWatchLogs.ResourceAlreadyExistsException",
    }
)
#: A Lambda Task must retry these: the invocation itself failed, the handler never ran (the list AWS's
#: "Handle Lambda service exceptions" best practice gives).
LAMBDA_RETRY_REQUIRED = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
#: Seconds a Lambda Task's TimeoutSeconds must exceed its function's Timeout by (the Init phase may take 10 s).
LAMBDA_TIMEOUT_MARGIN = 10


def pipeline_error_names() -> frozenset[str]:
    """Names a handler can raise: exported strict subclasses of PipelineError.

    The base class itself is left out: handlers raise subclasses, and Step Functions compares the
    raised class's name exactly (no inheritance), so ``ErrorEquals: ["PipelineError"]`` never matches.
    """
    names = set()
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.PipelineError) and value is not errors.PipelineError:
            names.add(name)
    return frozenset(names)


KNOWN_ERRORS = STATES_ERRORS | LAMBDA_ERRORS | SAGEMAKER_ERRORS | pipeline_error_names()

_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")
_LAMBDA_SUBSTITUTION = re.compile(r"^\$\{[A-Za-z0-9]*FunctionArn\}$")
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:")
_LAMBDA_INTEGRATION = "arn:aws:states:::lambda:invoke"
#: Short words Title Case leaves in lower case ("Wait for Training Job").
_MINOR_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)
_TITLE_WORD = re.compile(r"^(?:[A-Z][a-z0-9]*|[A-Z][A-Z0-9]+)$")
_MAX_STATE_NAME = 80  # Step Functions' limit


# --------------------------------------------------------------------------------------------------
# The linter


def iter_scopes(definition: StateMachineJson, where: str = "") -> Iterator[tuple[str, StateMachineJson]]:
    """Yield every (location, StartAt/States block): the top level, Parallel branches, Map processors."""
    yield where or "<top level>", definition
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        prefix = f"{where}/{name}" if where else name
        for index, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, Mapping):
                yield from iter_scopes(branch, f"{prefix}.Branches[{index}]")
        for key in ("ItemProcessor", "Iterator"):
            processor = state.get(key)
            if isinstance(processor, Mapping):
                yield from iter_scopes(processor, f"{prefix}.{key}")


def iter_states(definition: StateMachineJson) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Yield (qualified name, name, state) for every state at any depth."""
    for where, scope in iter_scopes(definition):
        states = scope.get("States")
        if not isinstance(states, Mapping):
            continue
        for name, state in states.items():
            if isinstance(state, Mapping):
                qualified = name if where == "<top level>" else f"{where}/{name}"
                yield qualified, name, state


def _handlers(state: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for field in ("Retry", "Catch"):
        for index, handler in enumerate(state.get(field) or []):
            if isinstance(handler, Mapping):
                yield field, index, handler


def error_name_problems(definition: StateMachineJson, known: frozenset[str] = KNOWN_ERRORS) -> list[str]:
    """(a) Unknown ``ErrorEquals`` names; ``States.ALL`` not alone or not in the last handler."""
    problems = []
    for qualified, _, state in iter_states(definition):
        for field in ("Retry", "Catch"):
            handlers = [h for h in state.get(field) or [] if isinstance(h, Mapping)]
            for index, handler in enumerate(handlers):
                names = handler.get("ErrorEquals") or []
                where = f"{qualified}: {field}[{index}]"
                if not names:
                    problems.append(f"{where}: empty ErrorEquals")
                problems.extend(
                    f"{where}: unknown error name {name!r} (not a States./Lambda./SageMaker. error "
                    "nor a PipelineError subclass in governed_mlops.errors.__all__)"
                    for name in names
                    if name not in known
                )
                if "States.ALL" in names and (len(names) > 1 or index != len(handlers) - 1):
                    problems.append(f"{where}: States.ALL must be alone and in the last {field} entry")
    return problems


def substitution_problems(asl_text: str, substitutions: Mapping[str, Any], label: str) -> list[str]:
    """(b) ``${Var}`` without a substitution, and substitutions the file never uses."""
    used = set(_SUBSTITUTION.findall(asl_text))
    problems = [
        f"{label}: ${{{name}}} has no DefinitionSubstitutions entry" for name in sorted(used - set(substitutions))
    ]
    problems.extend(
        f"{label}: DefinitionSubstitutions entry {name!r} is never used" for name in sorted(set(substitutions) - used)
    )
    return problems


def is_lambda_resource(resource: object) -> bool:
    return isinstance(resource, str) and bool(
        _LAMBDA_SUBSTITUTION.match(resource) or _LAMBDA_ARN.match(resource) or resource.startswith(_LAMBDA_INTEGRATION)
    )


def task_problems(definition: StateMachineJson) -> list[str]:
    """(c) Tasks without a timeout or a Catch; Lambda Tasks that do not retry Lambda service errors.

    A Task inside a Parallel branch is caught when its Parallel state catches ``States.ALL``: a
    branch's error fails the Parallel, whose Catch routes it (a Catch cannot leave a branch).
    """
    problems = []
    states = {qualified: state for qualified, _, state in iter_states(definition)}
    for qualified, _, state in iter_states(definition):
        if state.get("Type") != "Task":
            continue
        if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
            problems.append(f"{qualified}: Task has no TimeoutSeconds / TimeoutSecondsPath")
        enclosing = states.get(qualified.rsplit(".Branches[", 1)[0]) if ".Branches[" in qualified else None
        caught_by_parallel = enclosing is not None and any(
            "States.ALL" in (handler.get("ErrorEquals") or []) for handler in enclosing.get("Catch") or []
        )
        if not state.get("Catch") and not caught_by_parallel:
            problems.append(f"{qualified}: Task has no Catch")
        if is_lambda_resource(state.get("Resource")):
            retries_service_errors = any(
                set(LAMBDA_RETRY_REQUIRED) <= set(handler.get("ErrorEquals") or [])
                for field, _, handler in _handlers(state)
                if field == "Retry"
            )
            if not retries_service_errors:
                problems.append(
                    f"{qualified}: Lambda Task needs a Retry whose ErrorEquals includes "
                    f"{', '.join(LAMBDA_RETRY_REQUIRED)}"
                )
    return problems


def _targets(state: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for index, choice in enumerate(state.get("Choices") or []):
        if isinstance(choice, Mapping) and "Next" in choice:
            yield f"Choices[{index}].Next", choice["Next"]
    for field, index, handler in _handlers(state):
        if field == "Catch":
            yield f"Catch[{index}].Next", handler.get("Next")


def transition_problems(definition: StateMachineJson) -> list[str]:
    """(d) Dangling StartAt / Next / Default / Catch targets, dead ends and unreachable states, per scope."""
    problems = []
    for where, scope in iter_scopes(definition):
        states = scope.get("States")
        if not isinstance(states, Mapping) or not states:
            problems.append(f"{where}: no States")
            continue
        start = scope.get("StartAt")
        if start not in states:
            problems.append(f"{where}: StartAt {start!r} is not a state")
        edges: dict[str, set[str]] = {}
        for name, state in states.items():
            edges[name] = set()
            kind = state.get("Type")
            if kind not in {"Choice", "Succeed", "Fail"} and "Next" not in state and state.get("End") is not True:
                problems.append(f"{where}: {name!r} has neither Next nor End: true")
            for field, target in _targets(state):
                if target in states:
                    edges[name].add(str(target))
                else:
                    problems.append(f"{where}: {name!r} {field} -> {target!r} is not a state")
        reached: set[str] = set()
        pending: list[str] = [str(start)] if start in states else []
        while pending:
            current = pending.pop()
            if current not in reached:
                reached.add(current)
                pending.extend(edges[current] - reached)
        problems.extend(
            f"{where}: {name!r} is unreachable from StartAt"
            for name in states
            if name not in reached and start in states
        )
    return problems


def is_verb_noun_title(name: str) -> bool:
    words = name.split(" ")
    if len(words) < 2 or len(name) > _MAX_STATE_NAME:
        return False
    inner = words[1:-1]
    return all(_TITLE_WORD.match(word) for word in (words[0], words[-1])) and all(
        _TITLE_WORD.match(word) or word in _MINOR_WORDS for word in inner
    )


def state_name_problems(definition: StateMachineJson) -> list[str]:
    """(e) State names that are not two or more Title Case words."""
    return [
        f"{qualified}: state name {name!r} is not verb-noun Title Case (e.g. 'Validate Data')"
        for qualified, name, _ in iter_states(definition)
        if not is_verb_noun_title(name)
    ]


def lint(definition: StateMachineJson) -> list[str]:
    """Every structural rule (a, c, d, e); substitutions (b) need the template."""
    return [
        *error_name_problems(definition),
        *task_problems(definition),
        *transition_problems(definition),
        *state_name_problems(definition),
    ]


# --------------------------------------------------------------------------------------------------
# The template side


def load_template() -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    return template


def state_machines(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Logical id -> Properties of every state machine resource in the template."""
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") in {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}
    }


def machines_using(template: Mapping[str, Any], asl_file: Path) -> dict[str, Mapping[str, Any]]:
    """State machines whose ``DefinitionUri`` is ``asl_file``."""
    return {
        logical_id: properties
        for logical_id, properties in state_machines(template).items()
        if isinstance(properties.get("DefinitionUri"), str)
        and (TEMPLATE.parent / properties["DefinitionUri"]).resolve() == asl_file.resolve()
    }


# --------------------------------------------------------------------------------------------------
# The real definitions


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def load_definition(path: Path) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return definition


def test_there_are_state_machine_definitions_to_lint() -> None:
    # A glob that matches nothing would make every parametrised test below vacuous.
    assert ASL_FILES, "no statemachines/*.asl.json found: the lint would check nothing"


def test_every_exported_error_is_a_class_of_that_name() -> None:
    # Step Functions sees the raised class's __name__, so an alias in __all__ would be a name nothing raises.
    mismatched = [
        name
        for name in errors.__all__
        if not (isinstance(getattr(errors, name, None), type) and getattr(errors, name).__name__ == name)
    ]

    assert mismatched == []


asl_files = pytest.mark.parametrize("asl_file", ASL_FILES, ids=[path.name for path in ASL_FILES])


@asl_files
def test_error_names_are_known(asl_file: Path) -> None:
    assert error_name_problems(load_definition(asl_file)) == []


@asl_files
def test_substitutions_match_the_template(asl_file: Path, template: dict[str, Any]) -> None:
    # Given the state machines in template.yaml that use this file
    machines = machines_using(template, asl_file)
    assert machines, f"no state machine in template.yaml has DefinitionUri {asl_file.relative_to(REPO_ROOT)}"

    # When each one's DefinitionSubstitutions is compared with the ${Var}s in the file
    text = asl_file.read_text(encoding="utf-8")
    problems = [
        problem
        for logical_id, properties in machines.items()
        for problem in substitution_problems(text, properties.get("DefinitionSubstitutions") or {}, logical_id)
    ]

    # Then every variable is substituted and every substitution is used
    assert problems == []


@asl_files
def test_tasks_have_timeout_catch_and_lambda_retry(asl_file: Path) -> None:
    assert task_problems(load_definition(asl_file)) == []


@asl_files
def test_transitions_resolve_and_every_state_is_reachable(asl_file: Path) -> None:
    assert transition_problems(load_definition(asl_file)) == []


@asl_files
def test_state_names_are_verb_noun_title_case(asl_file: Path) -> None:
    assert state_name_problems(load_definition(asl_file)) == []


def function_timeouts(template: Mapping[str, Any]) -> dict[str, int]:
    """Logical id -> Timeout of every function (its own, else the Globals one)."""
    default = int(((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3))
    return {
        logical_id: int((resource.get("Properties") or {}).get("Timeout", default))
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") in {"AWS::Serverless::Function", "AWS::Lambda::Function"}
    }


def lambda_timeout_problems(
    definition: StateMachineJson, substitutions: Mapping[str, Any], timeouts: Mapping[str, int]
) -> list[str]:
    """(f) Lambda Tasks whose TimeoutSeconds does not exceed their function's Timeout by the margin."""
    problems = []
    for qualified, _, state in iter_states(definition):
        if state.get("Type") != "Task" or "TimeoutSeconds" not in state:
            continue
        resource = state.get("Resource")
        if isinstance(resource, str) and resource.startswith(_LAMBDA_INTEGRATION):
            resource = (state.get("Parameters") or {}).get("FunctionName")
        match = _SUBSTITUTION.fullmatch(resource) if isinstance(resource, str) else None
        target = substitutions.get(match.group(1)) if match else None
        function = (target or {}).get("Fn::GetAtt", [None])[0] if isinstance(target, Mapping) else None
        if function in timeouts and state["TimeoutSeconds"] < timeouts[function] + LAMBDA_TIMEOUT_MARGIN:
            problems.append(
                f"{qualified}: TimeoutSeconds {state['TimeoutSeconds']} must exceed {function}'s Timeout "
                f"{timeouts[function]} by at least {LAMBDA_TIMEOUT_MARGIN} s"
            )
    return problems


@asl_files
def test_lambda_tasks_outlast_their_functions(asl_file: Path, template: dict[str, Any]) -> None:
    # Given each state machine using this file and the functions' timeouts
    definition = load_definition(asl_file)
    timeouts = function_timeouts(template)

    # Then every Lambda Task waits longer than its function may run
    problems = [
        problem
        for properties in machines_using(template, asl_file).values()
        for problem in lambda_timeout_problems(definition, properties.get("DefinitionSubstitutions") or {}, timeouts)
    ]
    assert problems == []


def test_a_lambda_task_timing_out_with_its_function_is_reported() -> None:
    # Given a Task that gives up exactly when its function's own timeout fires
    definition = clean_definition()
    substitutions = {"ValidateDataFunctionArn": {"Fn::GetAtt": ["ValidateDataFunction", "Arn"]}}

    problems = lambda_timeout_problems(definition, substitutions, {"ValidateDataFunction": 60})

    assert problems == [
        "Validate Data: TimeoutSeconds 60 must exceed ValidateDataFunction's Timeout 60 by at least 10 s"
    ]
    assert lambda_timeout_problems(definition, substitutions, {"ValidateDataFunction": 50}) == []


def test_every_template_state_machine_uses_a_definition_file(template: dict[str, Any]) -> None:
    # House style: no inline definitions; a DefinitionUri outside statemachines/ would escape this lint.
    linted = {path.resolve() for path in ASL_FILES}
    offenders = {
        logical_id: properties.get("DefinitionUri")
        for logical_id, properties in state_machines(template).items()
        if not isinstance(properties.get("DefinitionUri"), str)
        or (TEMPLATE.parent / properties["DefinitionUri"]).resolve() not in linted
    }

    assert offenders == {}


# --------------------------------------------------------------------------------------------------
# The linter catches what it should (synthetic definitions)

LAMBDA_RETRY = {"ErrorEquals": list(LAMBDA_RETRY_REQUIRED), "MaxAttempts": 3}
CATCH_ALL = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Pipeline Failed"}


def lambda_task(resource: str = "${ValidateDataFunctionArn}", next_state: str = "Pipeline Succeeded") -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": resource,
        "TimeoutSeconds": 60,
        "Retry": [copy.deepcopy(LAMBDA_RETRY)],
        "Catch": [copy.deepcopy(CATCH_ALL)],
        "Next": next_state,
    }


def clean_definition() -> dict[str, Any]:
    """A small definition that follows every rule; each synthetic case breaks exactly one."""
    return {
        "StartAt": "Validate Data",
        "States": {
            "Validate Data": lambda_task(),
            "Pipeline Succeeded": {"Type": "Succeed"},
            "Pipeline Failed": {"Type": "Fail"},
        },
    }


def parallel_definition(branch_states: dict[str, Any], start: str) -> dict[str, Any]:
    definition = clean_definition()
    definition["StartAt"] = "Run Checks"
    definition["States"]["Run Checks"] = {
        "Type": "Parallel",
        "Branches": [{"StartAt": start, "States": branch_states}],
        "Catch": [copy.deepcopy(CATCH_ALL)],
        "Next": "Validate Data",
    }
    return definition


def test_clean_synthetic_definition_has_no_problems() -> None:
    # The baseline for every case below: each one's problems come from its own change alone.
    assert lint(clean_definition()) == []


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("${ValidateDataFunctionArn}", True),
        ("arn:aws:states:::lambda:invoke", True),
        ("arn:aws:states:::lambda:invoke.waitForTaskToken", True),
        ("arn:aws:lambda:us-east-1:000000000000:function:local-sagemaker-createTrainingJob-sync", True),
        ("arn:aws:states:::sagemaker:createTrainingJob.sync", False),
        ("${TrainingImage}", False),
    ],
    ids=["substituted-arn", "invoke-integration", "invoke-wait-for-token", "plain-lambda-arn", "sagemaker", "image"],
)
def test_lambda_resources_are_recognised(resource: str, expected: bool) -> None:
    assert is_lambda_resource(resource) is expected


def test_unknown_error_name_is_reported() -> None:
    # Given a Retry on a misspelt named error (Step Functions would never match it)
    definition = clean_definition()
    definition["States"]["Validate Data"]["Retry"].append({"ErrorEquals": ["TransientStorageErorr"]})

    problems = error_name_problems(definition)

    assert len(problems) == 1
    assert "'TransientStorageErorr'" in problems[0]
    assert problems[0].startswith("Validate Data: Retry[1]")


def test_pipeline_error_base_class_is_not_a_known_error_name() -> None:
    definition = clean_definition()
    definition["States"]["Validate Data"]["Catch"].insert(
        0, {"ErrorEquals": ["PipelineError"], "Next": "Pipeline Failed"}
    )

    problems = error_name_problems(definition)

    assert len(problems) == 1
    assert "'PipelineError'" in problems[0]


@pytest.mark.parametrize(
    "name",
    ["States.ALL", "Lambda.TooManyRequestsException", "SageMaker.ResourceInUse", "QualityGateFailed"],
    ids=["states", "lambda", "sagemaker", "pipeline-error"],
)
def test_known_error_names_are_accepted(name: str) -> None:
    definition = clean_definition()
    definition["States"]["Validate Data"]["Catch"] = [{"ErrorEquals": [name], "Next": "Pipeline Failed"}]

    assert error_name_problems(definition) == []


def test_states_all_before_another_catcher_is_reported() -> None:
    definition = clean_definition()
    definition["States"]["Validate Data"]["Catch"].append(
        {"ErrorEquals": ["QualityGateFailed"], "Next": "Pipeline Failed"}
    )

    assert error_name_problems(definition) == [
        "Validate Data: Catch[0]: States.ALL must be alone and in the last Catch entry"
    ]


def test_unknown_error_name_inside_a_parallel_branch_is_reported() -> None:
    # Given a Task nested in a Parallel branch catching a made-up error
    inner = lambda_task(next_state="Pipeline Failed")
    inner.pop("Next")
    inner["End"] = True
    inner["Catch"] = [{"ErrorEquals": ["NoSuchError"], "Next": "Branch Failed"}]
    definition = parallel_definition({"Check Bias": inner, "Branch Failed": {"Type": "Fail"}}, "Check Bias")

    problems = error_name_problems(definition)

    assert len(problems) == 1
    assert problems[0].startswith("Run Checks.Branches[0]/Check Bias: Catch[0]")


def test_task_without_catch_is_reported() -> None:
    definition = clean_definition()
    del definition["States"]["Validate Data"]["Catch"]

    problems = task_problems(definition)

    assert problems == ["Validate Data: Task has no Catch"]


def test_task_without_timeout_is_reported() -> None:
    definition = clean_definition()
    del definition["States"]["Validate Data"]["TimeoutSeconds"]

    assert task_problems(definition) == ["Validate Data: Task has no TimeoutSeconds / TimeoutSecondsPath"]


def test_timeout_seconds_path_counts_as_a_timeout() -> None:
    definition = clean_definition()
    task = definition["States"]["Validate Data"]
    task["TimeoutSecondsPath"] = task.pop("TimeoutSeconds")

    assert task_problems(definition) == []


def test_lambda_task_without_service_error_retry_is_reported() -> None:
    # Given a Lambda Task that retries only two of the three service errors
    definition = clean_definition()
    definition["States"]["Validate Data"]["Retry"] = [
        {"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException"]}
    ]

    problems = task_problems(definition)

    assert len(problems) == 1
    assert "Lambda.SdkClientException" in problems[0]


def test_sagemaker_task_needs_no_lambda_retry() -> None:
    definition = clean_definition()
    task = definition["States"]["Validate Data"]
    task["Resource"] = "arn:aws:states:::sagemaker:createTrainingJob.sync"
    task["Retry"] = [{"ErrorEquals": ["SageMaker.ThrottlingException"]}]

    assert task_problems(definition) == []


def test_task_without_catch_inside_a_map_is_reported() -> None:
    definition = clean_definition()
    inner = lambda_task()
    del inner["Catch"], inner["Next"]
    inner["End"] = True
    definition["StartAt"] = "Score Batches"
    definition["States"]["Score Batches"] = {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "Score Batch", "States": {"Score Batch": inner}},
        "Catch": [copy.deepcopy(CATCH_ALL)],
        "Next": "Validate Data",
    }

    assert task_problems(definition) == ["Score Batches.ItemProcessor/Score Batch: Task has no Catch"]


def test_missing_substitution_is_reported() -> None:
    text = json.dumps(clean_definition())

    problems = substitution_problems(text, {}, "TrainingPipeline")

    assert problems == ["TrainingPipeline: ${ValidateDataFunctionArn} has no DefinitionSubstitutions entry"]


def test_unused_substitution_is_reported() -> None:
    text = json.dumps(clean_definition())
    substitutions = {"ValidateDataFunctionArn": "arn", "TrainingImage": "image"}

    problems = substitution_problems(text, substitutions, "TrainingPipeline")

    assert problems == ["TrainingPipeline: DefinitionSubstitutions entry 'TrainingImage' is never used"]


def test_substitution_inside_a_longer_string_is_found() -> None:
    text = json.dumps({"S3OutputPath": "s3://${ArtifactsBucket}/training-jobs"})

    assert substitution_problems(text, {"ArtifactsBucket": "b"}, "M") == []


def test_dangling_next_is_reported() -> None:
    definition = clean_definition()
    definition["States"]["Validate Data"]["Next"] = "Prepare Dataa"

    assert transition_problems(definition) == [
        "<top level>: 'Validate Data' Next -> 'Prepare Dataa' is not a state",
        "<top level>: 'Pipeline Succeeded' is unreachable from StartAt",
    ]


def test_dangling_catch_target_is_reported() -> None:
    definition = clean_definition()
    definition["States"]["Validate Data"]["Catch"][0]["Next"] = "Handle Failure"

    assert "<top level>: 'Validate Data' Catch[0].Next -> 'Handle Failure' is not a state" in (
        transition_problems(definition)
    )


def test_dangling_choice_default_is_reported() -> None:
    definition = clean_definition()
    definition["StartAt"] = "Choose Path"
    definition["States"]["Choose Path"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Validate Data"}],
        "Default": "Skip Training",
    }

    assert transition_problems(definition) == ["<top level>: 'Choose Path' Default -> 'Skip Training' is not a state"]


def test_unreachable_state_is_reported() -> None:
    definition = clean_definition()
    definition["States"]["Archive Report"] = {"Type": "Pass", "End": True}

    assert transition_problems(definition) == ["<top level>: 'Archive Report' is unreachable from StartAt"]


def test_missing_start_at_is_reported() -> None:
    definition = clean_definition()
    definition["StartAt"] = "Record Request"

    assert "<top level>: StartAt 'Record Request' is not a state" in transition_problems(definition)


def test_state_without_next_or_end_is_reported() -> None:
    definition = clean_definition()
    del definition["States"]["Validate Data"]["Next"]

    assert "<top level>: 'Validate Data' has neither Next nor End: true" in transition_problems(definition)


def test_parallel_branch_is_its_own_scope() -> None:
    # Given a branch state whose Next names a top-level state (illegal: branches are closed scopes)
    inner = lambda_task(next_state="Pipeline Succeeded")
    inner["Catch"][0]["Next"] = "Branch Failed"
    definition = parallel_definition({"Check Bias": inner, "Branch Failed": {"Type": "Fail"}}, "Check Bias")

    assert transition_problems(definition) == [
        "Run Checks.Branches[0]: 'Check Bias' Next -> 'Pipeline Succeeded' is not a state"
    ]


@pytest.mark.parametrize(
    "name",
    ["Validate Data", "Pipeline Failed", "Check Quality Gates", "Wait for Training Job", "Compute SHAP Values"],
    ids=["verb-noun", "noun-verb-outcome", "three-words", "minor-word", "acronym"],
)
def test_title_case_state_names_are_accepted(name: str) -> None:
    assert is_verb_noun_title(name)


@pytest.mark.parametrize(
    "name",
    ["ValidateData", "validate data", "Validate data", "Validate_Data", "Validate", "Validate Data!", "V" * 81],
    ids=["pascal-case", "lower-case", "sentence-case", "underscore", "one-word", "punctuation", "too-long"],
)
def test_other_state_names_are_rejected(name: str) -> None:
    assert not is_verb_noun_title(name)


def test_bad_state_name_is_reported_with_its_location() -> None:
    definition = clean_definition()
    definition["States"]["pipeline_failed"] = definition["States"].pop("Pipeline Failed")

    assert state_name_problems(definition) == [
        "pipeline_failed: state name 'pipeline_failed' is not verb-noun Title Case (e.g. 'Validate Data')"
    ]


def test_a_task_in_a_parallel_branch_is_caught_only_if_the_parallel_catches_all() -> None:
    branch_task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricAlarm",
        "TimeoutSeconds": 5,
        "End": True,
    }
    parallel: dict[str, Any] = {
        "Type": "Parallel",
        "Branches": [{"StartAt": "Put", "States": {"Put": branch_task}}],
        "End": True,
    }
    definition = {"StartAt": "Alarms", "States": {"Alarms": parallel}}

    assert task_problems(definition) == ["Alarms.Branches[0]/Put: Task has no Catch"]
    parallel["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Alarms"}]
    assert task_problems(definition) == []
