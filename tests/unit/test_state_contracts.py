"""Every state machine definition against the typed state contracts (``governed_mlops.contracts``).

The checker is a set of plain functions returning problems (empty when clean); it runs on every
``statemachines/*.asl.json`` (must be clean) and on copies broken one way each (must complain).

Checks:
(a) every ``$.…`` path a state reads (``InputPath``, ``Parameters``, ``OutputPath``, Choice variables,
    ``*Path`` fields) resolves in the state data model, :class:`PipelineState` (the first state reads
    the execution input, :class:`PipelineRequest`), and was written on every way to that state;
(b) every ``ResultPath`` writes a field of :class:`PipelineState` whose type is what the state yields:
    a Lambda state's output model, a Pass state's ``Parameters``, a service task's ``ResultSelector``
    (whose own paths must exist in the AWS API's response shape, from botocore's service model), a
    ``Catch``'s error object;
(c) a Lambda Task is registered in ``LAMBDA_STATES`` with the function the template wires to its
    resource; its ``Parameters`` (or ``Payload``) give exactly fields of the state's input model, all
    the required ones, from paths of a compatible type; the input model narrows the model the
    function's handler parses; a service task's ``Parameters`` keys are members of the API's request;
(d) every ``ErrorEquals`` name is a ``States.*`` error, a service error of the task's own service
    (``Lambda.*`` for Lambda tasks, ``SageMaker.*`` for SageMaker tasks, ...), or one of the errors
    the registry says the state can raise; and each of those is constructed (``raise X(...)``) in a
    module the function's handler imports, directly or not (a ``waitForTaskToken`` state's error may
    instead be the ``error=`` of a ``send_task_failure`` call there).
"""

from __future__ import annotations

import ast
import copy
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from pydantic import BaseModel
from samtranslator.yaml_helper import yaml_parse

from governed_mlops import contracts
from governed_mlops.contracts import LAMBDA_STATES, PipelineState, StateContract, StateError
from governed_mlops.models import PipelineRequest
from tests.asl import ASL_FILES, STATES_ERRORS

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_ROOT = REPO_ROOT / "layers" / "common" / "python"

StateJson = Mapping[str, Any]

#: Context object paths the definitions may read ($$.…).
CONTEXT_PATHS = frozenset(
    {
        "$$.Execution.Id",
        "$$.Execution.Name",
        "$$.Execution.StartTime",
        "$$.Execution.RedriveCount",
        "$$.Execution.Input",
        "$$.StateMachine.Id",
        "$$.StateMachine.Name",
        "$$.State.Name",
        "$$.State.EnteredTime",
        "$$.State.RetryCount",
        "$$.Task.Token",
    }
)
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_FUNCTION_SUBSTITUTION = re.compile(r"^\$\{(\w+FunctionArn)\}$")
_SERVICE_RESOURCE = re.compile(
    r"^arn:aws:states:::(?:aws-sdk:)?(?P<service>[a-z0-9]+):(?P<action>\w+)(?P<sync>\.sync)?$"
)
#: botocore service name -> the prefix Step Functions gives its errors.
_ERROR_PREFIX = {"sagemaker": "SageMaker", "cloudwatch": "CloudWatch", "logs": "CloudWatchLogs"}
#: Step Functions' aws-sdk service name -> botocore's, where they differ.
_BOTO_SERVICE = {"cloudwatchlogs": "logs"}
#: ``.sync`` returns the job's Describe* answer, not the Create* one.
_SYNC_DESCRIBE = {"CreateTrainingJob": "DescribeTrainingJob", "CreateProcessingJob": "DescribeProcessingJob"}
_PATH_IN_TEXT = re.compile(r"\$\$?(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*")
_ARRAY_GET_ITEM = re.compile(r"^States\.ArrayGetItem\((?P<path>\$[^,]*),\s*\d+\)$")


# --------------------------------------------------------------------------------------------------
# Paths and types


def split_path(path: str) -> list[str | int]:
    """``$.a.b[0].c`` -> ``["a", "b", 0, "c"]``."""
    segments: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path[1:]):
        segments.append(name if name else int(index))
    return segments


def _members(annotation: Any) -> list[Any]:
    """The alternatives of ``X | Y | None`` (without None), or ``[annotation]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def resolve(annotation: Any, segments: list[str | int]) -> list[Any]:
    """The types ``segments`` can lead to from ``annotation`` (empty: the path does not exist)."""
    if not segments:
        return [annotation]
    head, rest = segments[0], segments[1:]
    found: list[Any] = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if member is Any:
            found.append(Any)
        elif _is_model(member) and isinstance(head, str):
            field = member.model_fields.get(head)
            if field is not None:
                found += resolve(field.annotation, rest)
            elif member.model_config.get("extra") == "allow":
                found.append(Any)
        elif origin is dict and isinstance(head, str):
            found += resolve(typing.get_args(member)[1], rest)
        elif origin is list and isinstance(head, int):
            found += resolve(typing.get_args(member)[0], rest)
    return found


def paths_in(value: str) -> list[str]:
    """The paths a ``.$`` value reads: the value itself, or the paths inside an intrinsic function."""
    if value.startswith("States."):
        return _PATH_IN_TEXT.findall(value)
    return [value]


def parameter_reads(template: Any) -> Iterator[tuple[str, str]]:
    """(key, path) for every ``"key.$": …`` of a Parameters / ResultSelector template, at any depth."""
    if isinstance(template, Mapping):
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                for path in paths_in(value):
                    yield key, path
            else:
                yield from parameter_reads(value)
    elif isinstance(template, list):
        for item in template:
            yield from parameter_reads(item)


def _choice_reads(rule: Any) -> Iterator[str]:
    if not isinstance(rule, Mapping):
        return
    for key, value in rule.items():
        if key == "Variable" or (key.endswith("Path") and key != "Next" and isinstance(value, str)):
            yield value
        elif key in {"And", "Or"}:
            for sub in value:
                yield from _choice_reads(sub)
        elif key == "Not":
            yield from _choice_reads(value)


def state_reads(state: StateJson) -> list[tuple[str, str]]:
    """(where, path) of every path the state evaluates against its input (not the task's result)."""
    reads = [(field, state[field]) for field in ("InputPath", "OutputPath") if isinstance(state.get(field), str)]
    for field in (
        "SecondsPath",
        "TimestampPath",
        "ErrorPath",
        "CausePath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
    ):
        if isinstance(state.get(field), str):
            reads.append((field, state[field]))
    reads += [(f"Parameters.{key}", path) for key, path in parameter_reads(state.get("Parameters"))]
    for index, choice in enumerate(state.get("Choices") or []):
        reads += [(f"Choices[{index}]", path) for path in _choice_reads(choice)]
    return reads


def model_shape_problems(template: Any, model: type[BaseModel], where: str) -> list[str]:
    """A Parameters-like template must give fields of ``model`` only, and every required one."""
    if not isinstance(template, Mapping):
        return [f"{where}: expected an object for {model.__name__}"]
    problems = []
    given = {key.removesuffix(".$"): key for key in template}
    for name, key in given.items():
        field = model.model_fields.get(name)
        if field is None:
            problems.append(f"{where}: {name!r} is not a field of {model.__name__}")
            continue
        nested = [m for m in _members(field.annotation) if _is_model(m)]
        if not key.endswith(".$") and isinstance(template[key], Mapping) and nested:
            problems += model_shape_problems(template[key], nested[0], f"{where}.{name}")
    problems += [
        f"{where}: required field {name!r} of {model.__name__} is not given"
        for name, field in model.model_fields.items()
        if field.is_required() and name not in given
    ]
    return problems


def compatible(source: list[Any], target: Any) -> bool:
    """Whether a value of one of the ``source`` types validates as ``target`` (models by their fields)."""
    targets = _members(target)
    source = [member for s in source for member in _members(s)]
    if any(t is Any for t in targets) or any(s is Any for s in source):
        return True
    for candidate in source:
        for wanted in targets:
            if _is_model(wanted):
                if _is_model(candidate) and (
                    issubclass(candidate, wanted)
                    or all(
                        name in candidate.model_fields
                        and compatible([candidate.model_fields[name].annotation], f.annotation)
                        for name, f in wanted.model_fields.items()
                        if f.is_required()
                    )
                ):
                    return True
            elif not _is_model(candidate):
                return True  # scalars and containers: pydantic decides at run time
    return False


# --------------------------------------------------------------------------------------------------
# The template, the handlers' code and botocore's service models


@cache
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse((REPO_ROOT / "template.yaml").read_text(encoding="utf-8"))
    return parsed


def function_of_substitution(variable: str) -> str:
    """``ValidateDataFunctionArn`` -> ``validate_data`` (the folder of the function the template wires)."""
    for resource in template()["Resources"].values():
        substitutions = resource.get("Properties", {}).get("DefinitionSubstitutions") or {}
        if variable in substitutions:
            value = substitutions[variable]
            target = value["Fn::GetAtt"] if isinstance(value, Mapping) else value
            logical_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
            code_uri = template()["Resources"][logical_id]["Properties"]["CodeUri"]
            return str(code_uri).rstrip("/").rsplit("/", 1)[-1]
    raise AssertionError(f"no DefinitionSubstitutions entry {variable}")


def lambda_function(state: StateJson) -> str | None:
    """The function folder a Lambda Task invokes, or None for another kind of task."""
    resource = str(state.get("Resource", ""))
    if resource.startswith(_LAMBDA_INVOKE):
        resource = str((state.get("Parameters") or {}).get("FunctionName", ""))
    match = _FUNCTION_SUBSTITUTION.match(resource)
    return function_of_substitution(match.group(1)) if match else None


def lambda_payload(state: StateJson) -> Any:
    parameters = state.get("Parameters")
    if str(state.get("Resource", "")).startswith(_LAMBDA_INVOKE):
        return (parameters or {}).get("Payload")
    return parameters


def _module_file(module: str) -> Path | None:
    for root in (LAYER_ROOT, REPO_ROOT / "src"):
        base = root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@cache
def handler_modules(function: str) -> tuple[tuple[Path, ast.Module], ...]:
    """The handler and every project module it imports, directly or not (parsed)."""
    start = REPO_ROOT / "functions" / function / "app.py"
    seen: dict[Path, ast.Module] = {}
    pending = [start]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        seen[path] = tree
        for module in _imports(tree):
            if module.split(".")[0] in {"governed_mlops", "governed_mlops_local"}:
                found = _module_file(module)
                if found is not None:
                    pending.append(found)
    return tuple(seen.items())


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _definitions(function: str) -> dict[str, list[ast.AST]]:
    """Name -> every function, method and class of that name in the handler's modules."""
    found: dict[str, list[ast.AST]] = {}
    for _, tree in handler_modules(function):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.setdefault(node.name, []).append(node)
    return found


@cache
def reachable_calls(function: str) -> frozenset[str]:
    """Names called by ``lambda_handler`` and by everything it calls, transitively (by name).

    Over-approximate on purpose: a call ``x.get(...)`` reaches every ``get`` in the handler's modules,
    a class's construction reaches all its methods. An error class is raised by constructing it, so an
    error whose name is not in here cannot come out of the handler.
    """
    definitions = _definitions(function)
    called: set[str] = set()
    pending: list[ast.AST] = list(definitions["lambda_handler"])
    visited: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        bodies = node.body if isinstance(node, ast.ClassDef) else [node]
        for body in bodies:
            for inner in ast.walk(body):
                if isinstance(inner, ast.Call) and (name := _callee(inner)) is not None:
                    if name not in called:
                        called.add(name)
                    pending += definitions.get(name, [])
    return frozenset(called)


@cache
def constructed_errors(function: str) -> frozenset[str]:
    """Names called like ``X(...)`` on the handler's call graph (an error is raised by constructing it)."""
    return reachable_calls(function)


@cache
def task_failure_errors(function: str) -> frozenset[str]:
    """``error=`` names of ``send_task_failure`` calls in the handler's modules (they end a waiting task)."""
    return frozenset(
        keyword.value.value
        for _, tree in handler_modules(function)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _callee(node) == "send_task_failure"
        for keyword in node.keywords
        if keyword.arg == "error" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)
    )


def parsed_event_model(function: str) -> type[BaseModel]:
    """The model ``functions/<function>/app.py`` parses its event with (``parse(event=…, model=X)``)."""
    (app_path, tree), *_ = handler_modules(function)
    names = [
        keyword.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _callee(node) == "parse"
        for keyword in node.keywords
        if keyword.arg == "model" and isinstance(keyword.value, ast.Name)
    ]
    assert len(names) == 1, f"{app_path} should parse its event with one model, found {names}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == names[0] for a in node.names):
            module = __import__(node.module, fromlist=[names[0]])
            model: type[BaseModel] = getattr(module, names[0])
            return model
    raise AssertionError(f"{app_path}: {names[0]} is not imported from a module")


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def service_operation(resource: str) -> tuple[str, str, str] | None:
    """(service, request operation, response operation) of a service integration resource."""
    match = _SERVICE_RESOURCE.match(resource)
    if match is None or match.group("service") == "lambda":
        return None
    action = match.group("action")
    operation = action[0].upper() + action[1:]
    answer = _SYNC_DESCRIBE.get(operation, operation) if match.group("sync") else operation
    return _BOTO_SERVICE.get(match.group("service"), match.group("service")), operation, answer


def shape_at(shape: Shape, segments: list[str | int]) -> Shape | None:
    for segment in segments:
        if isinstance(shape, StructureShape) and isinstance(segment, str) and segment in shape.members:
            shape = shape.members[segment]
        elif isinstance(shape, ListShape) and isinstance(segment, int):
            shape = shape.member
        elif isinstance(shape, MapShape) and isinstance(segment, str):
            shape = shape.value
        else:
            return None
    return shape


def request_key_problems(template_value: Any, shape: Shape, where: str) -> list[str]:
    """Every key of a service task's Parameters is a member of the API request's shape.

    Step Functions' SDK integrations name parameters in PascalCase even where the API's members are
    camelCase (CloudWatch Logs' ``logGroupName`` is ``LogGroupName``), so both spellings are members.
    """
    problems: list[str] = []
    if isinstance(template_value, Mapping) and isinstance(shape, StructureShape):
        members = {**{m[0].upper() + m[1:]: m for m in shape.members}, **{m: m for m in shape.members}}
        for key, value in template_value.items():
            name = key.removesuffix(".$")
            if name not in members:
                problems.append(f"{where}: {name!r} is not a member of {shape.name}")
            elif not key.endswith(".$"):
                problems += request_key_problems(value, shape.members[members[name]], f"{where}.{name}")
    elif isinstance(template_value, list) and isinstance(shape, ListShape):
        for index, item in enumerate(template_value):
            problems += request_key_problems(item, shape.member, f"{where}[{index}]")
    return problems


def model_mirrors_shape(model: type[BaseModel], shape: Shape, where: str) -> list[str]:
    """A model standing for an AWS structure may only name members of that structure."""
    if not isinstance(shape, StructureShape):
        return [f"{where}: {model.__name__} stands for {shape.name}, which is not a structure"]
    problems = []
    for name, field in model.model_fields.items():
        if name not in shape.members:
            problems.append(f"{where}: {model.__name__}.{name} is not a member of {shape.name}")
            continue
        for nested in (m for m in _members(field.annotation) if _is_model(m)):
            problems += model_mirrors_shape(nested, shape.members[name], f"{where}.{name}")
    return problems


# --------------------------------------------------------------------------------------------------
# The checker


def _top_field(path: str) -> str | None:
    segments = split_path(path)
    return segments[0] if segments and isinstance(segments[0], str) else None


def _successors(state: StateJson) -> Iterator[tuple[str, str | None]]:
    """(next state, field the transition writes or None): Next/Default/Choices, and each Catch."""
    if state.get("Type") == "Choice":
        for choice in state.get("Choices") or []:
            yield choice["Next"], None
        if "Default" in state:
            yield state["Default"], None
    elif "Next" in state:
        result_path = state.get("ResultPath", "$")
        yield state["Next"], (_top_field(result_path) if isinstance(result_path, str) else None)
    for handler in state.get("Catch") or []:
        result_path = handler.get("ResultPath", "$")
        yield handler["Next"], (_top_field(result_path) if isinstance(result_path, str) else None)


def written_before(definition: StateJson) -> dict[str, frozenset[str]]:
    """State name -> the PipelineState fields present on every way into it (a must-analysis).

    The first state replaces the execution input with its ``Parameters`` (Record Request), so what
    follows it starts from that object's fields.
    """
    states: Mapping[str, StateJson] = definition["States"]
    everything = frozenset(PipelineState.model_fields)
    start = definition["StartAt"]
    entry: dict[str, frozenset[str]] = dict.fromkeys(states, everything)
    entry[start] = frozenset()
    changed = True
    while changed:
        changed = False
        incoming: dict[str, list[frozenset[str]]] = {name: [] for name in states}
        for name, state in states.items():
            present = entry[name]
            if name == start and state.get("Type") == "Pass" and "ResultPath" not in state:
                present = frozenset(key.removesuffix(".$") for key in state.get("Parameters") or {})
            for target, written in _successors(state):
                incoming[target].append(present | {written} if written else present)
        for name in states:
            if name == start:
                continue
            new = frozenset.intersection(*incoming[name]) if incoming[name] else everything
            if new != entry[name]:
                entry[name], changed = new, True
    return entry


def read_problems(definition: StateJson) -> list[str]:
    """(a) Paths that do not resolve in the state data, or read before any state wrote them."""
    problems = []
    states: Mapping[str, StateJson] = definition["States"]
    start = definition["StartAt"]
    present = written_before(definition)
    for name, state in states.items():
        document = PipelineRequest if name == start else PipelineState
        for where, path in state_reads(state):
            if path.startswith("$$"):
                if path not in CONTEXT_PATHS:
                    problems.append(f"{name}: {where} reads unknown context path {path!r}")
                continue
            if not resolve(document, split_path(path)):
                problems.append(f"{name}: {where} reads {path!r}, which {document.__name__} has no field for")
            elif document is PipelineState and (field := _top_field(path)) and field not in present[name]:
                problems.append(f"{name}: {where} reads {path!r} before every way here has written ${field}")
    return problems


def _written_field(name: str, result_path: Any) -> tuple[str | None, list[str]]:
    if result_path is None:
        return None, []
    segments = split_path(result_path)
    if len(segments) != 1 or not isinstance(segments[0], str):
        return None, [f"{name}: ResultPath {result_path!r} should name one top-level field"]
    if segments[0] not in PipelineState.model_fields:
        return None, [f"{name}: ResultPath {result_path!r} is not a field of PipelineState"]
    return segments[0], []


def _field_models(field: str) -> list[Any]:
    return _members(PipelineState.model_fields[field].annotation)


def write_problems(definition: StateJson) -> list[str]:
    """(b) What each ResultPath (and each Catch's ResultPath) writes is what PipelineState declares there."""
    problems: list[str] = []
    for name, state in definition["States"].items():
        kind = state.get("Type")
        for index, handler in enumerate(state.get("Catch") or []):
            field, found = _written_field(f"{name}: Catch[{index}]", handler.get("ResultPath", "$"))
            problems += found
            if field and StateError not in _field_models(field):
                problems.append(f"{name}: Catch[{index}] writes an error to ${field}, which cannot hold StateError")
        if kind not in {"Task", "Pass"} or (kind == "Pass" and name == definition["StartAt"]):
            continue
        if "ResultPath" not in state:
            problems.append(f"{name}: a {kind} without ResultPath replaces the whole state data")
            continue
        field, found = _written_field(name, state["ResultPath"])
        problems += found
        if field is None:
            continue
        models = [m for m in _field_models(field) if _is_model(m)]
        function = lambda_function(state) if kind == "Task" else None
        if kind == "Pass" or "ResultSelector" in state:
            built = state.get("Parameters") if kind == "Pass" else state["ResultSelector"]
            if not any(not model_shape_problems(built, model, name) for model in models):
                problems += model_shape_problems(built, models[0], f"{name} -> ${field}") if models else []
        elif function is not None and name in LAMBDA_STATES:
            output = LAMBDA_STATES[name].output
            if not any(issubclass(output, model) for model in models):
                problems.append(f"{name}: writes {output.__name__} to ${field}, declared as {models}")
        elif function is None:
            problems.append(f"{name}: a service task keeps its whole answer at ${field}; select it (ResultSelector)")
    return problems


def service_problems(definition: StateJson) -> list[str]:
    """(b, c) Service tasks: Parameters keys are request members; ResultSelector paths exist in the answer."""
    problems: list[str] = []
    for name, state in definition["States"].items():
        if state.get("Type") != "Task" or lambda_function(state) is not None:
            continue
        found = service_operation(str(state.get("Resource", "")))
        if found is None:
            problems.append(f"{name}: unknown service resource {state.get('Resource')!r}")
            continue
        service, request_op, answer_op = found
        model = service_model(service)
        problems += request_key_problems(
            state.get("Parameters") or {}, model.operation_model(request_op).input_shape, f"{name}: Parameters"
        )
        answer = model.operation_model(answer_op).output_shape
        field = _top_field(state.get("ResultPath") or "") if state.get("ResultPath") else None
        for key, value in (state.get("ResultSelector") or {}).items():
            item = _ARRAY_GET_ITEM.match(value)
            path = item.group("path") if item else value
            shape = shape_at(answer, split_path(path)) if path.startswith("$") else None
            if shape is None:
                problems.append(f"{name}: ResultSelector {key} reads {value!r}, not in {answer_op}'s answer")
                continue
            if item is not None and isinstance(shape, ListShape):
                shape = shape.member
            selected = key.removesuffix(".$")
            for target in (m for m in _field_models(field) if _is_model(m)) if field else []:
                nested = target.model_fields.get(selected)
                for mirror in (m for m in _members(nested.annotation) if _is_model(m)) if nested else []:
                    problems += model_mirrors_shape(mirror, shape, f"{name}: ${field}.{selected}")
    return problems


def _service_prefix(state: StateJson) -> str:
    if lambda_function(state) is not None:
        return "Lambda."
    found = service_operation(str(state.get("Resource", "")))
    return f"{_ERROR_PREFIX.get(found[0], found[0])}." if found else "?"


def lambda_state_problems(definition: StateJson) -> list[str]:
    """(c) Each Lambda Task against its registered contract."""
    problems: list[str] = []
    states: Mapping[str, StateJson] = definition["States"]
    for name, state in states.items():
        function = lambda_function(state) if state.get("Type") == "Task" else None
        if function is None:
            continue
        contract = LAMBDA_STATES.get(name)
        if contract is None:
            problems.append(f"{name}: Lambda Task has no entry in governed_mlops.contracts.LAMBDA_STATES")
            continue
        if contract.function != function:
            problems.append(f"{name}: invokes {function}, but its contract names {contract.function}")
        payload = lambda_payload(state)
        problems += model_shape_problems(payload, contract.input, f"{name}: Parameters")
        document = PipelineRequest if name == definition["StartAt"] else PipelineState
        for key, value in (payload or {}).items():
            field = contract.input.model_fields.get(key.removesuffix(".$"))
            if field is None or not key.endswith(".$") or value.startswith(("States.", "$$")):
                continue
            source = resolve(document, split_path(value))
            if source and not compatible(source, field.annotation):
                problems.append(f"{name}: {key} takes {value!r} ({source}), which is no {field.annotation}")
    return problems


def error_problems(definition: StateJson) -> list[str]:
    """(d) Retry / Catch names a state cannot meet."""
    problems: list[str] = []
    for name, state in definition["States"].items():
        if state.get("Type") != "Task":
            continue
        contract = LAMBDA_STATES.get(name)
        can_raise = {error.__name__ for error in contract.raises} if contract else set()
        prefix = _service_prefix(state)
        for field in ("Retry", "Catch"):
            for index, handler in enumerate(state.get(field) or []):
                for error in handler.get("ErrorEquals") or []:
                    if error in STATES_ERRORS or error.startswith(prefix) or error in can_raise:
                        continue
                    problems.append(
                        f"{name}: {field}[{index}] names {error!r}, which this state cannot raise "
                        f"(not States.*, not {prefix}*, not in its contract's raises)"
                    )
    return problems


def check(definition: StateJson) -> list[str]:
    return (
        read_problems(definition)
        + write_problems(definition)
        + service_problems(definition)
        + lambda_state_problems(definition)
        + error_problems(definition)
    )


# --------------------------------------------------------------------------------------------------
# The real definitions


def _load(path: Path) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return definition


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return _load(REPO_ROOT / "statemachines" / "training_pipeline.asl.json")


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=[p.name for p in ASL_FILES])
def test_definition_keeps_every_state_contract(asl_file: Path) -> None:
    definition = _load(asl_file)
    # Nested scopes (Parallel / Map) would need their own state data model: none exist yet.
    assert all(s.get("Type") not in {"Parallel", "Map"} for s in definition["States"].values())

    assert check(definition) == []


def test_every_registered_state_is_a_lambda_task_of_some_definition() -> None:
    lambda_tasks = {
        name
        for path in ASL_FILES
        for name, state in _load(path)["States"].items()
        if state.get("Type") == "Task" and lambda_function(state) is not None
    }

    assert set(LAMBDA_STATES) == lambda_tasks


@pytest.mark.parametrize("state", sorted(LAMBDA_STATES), ids=sorted(LAMBDA_STATES))
def test_every_error_a_state_can_raise_is_raised_by_its_code(state: str) -> None:
    contract = LAMBDA_STATES[state]
    raised = constructed_errors(contract.function) | task_failure_errors(contract.function)

    missing = sorted(error.__name__ for error in contract.raises if error.__name__ not in raised)

    assert missing == [], f"{state}: nothing {contract.function} imports raises {missing}"


@pytest.mark.parametrize("state", sorted(LAMBDA_STATES), ids=sorted(LAMBDA_STATES))
def test_state_input_model_narrows_what_the_handler_parses(state: str) -> None:
    # The handler parses the function's model; each state's model may make fields required or
    # narrower, never add one (the function's model would refuse it).
    contract: StateContract = LAMBDA_STATES[state]
    parsed = parsed_event_model(contract.function)

    assert issubclass(contract.input, parsed)
    assert set(contract.input.model_fields) == set(parsed.model_fields)


def test_the_handler_scan_sees_the_approval_rejection_sent_with_the_task_token() -> None:
    # Guards task_failure_errors: Request Approval's ApprovalRejected comes from the decision, not a raise.
    assert "ApprovalRejected" in task_failure_errors("request_approval")
    assert "ApprovalRejected" not in constructed_errors("request_approval")


def test_model_package_summary_names_only_members_of_the_sagemaker_shape() -> None:
    shape = service_model("sagemaker").shape_for("ModelPackageSummary")

    assert model_mirrors_shape(contracts.ModelPackageSummary, shape, "ModelPackageSummary") == []


# --------------------------------------------------------------------------------------------------
# Broken copies: each must be reported


def _broken(definition: dict[str, Any], state: str) -> tuple[dict[str, Any], dict[str, Any]]:
    copied = copy.deepcopy(definition)
    return copied, copied["States"][state]


def test_a_retry_for_an_error_a_service_task_cannot_raise_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Train Model")
    state["Retry"][0]["ErrorEquals"].append("CapacityError")

    assert error_problems(broken) == [
        "Train Model: Retry[0] names 'CapacityError', which this state cannot raise "
        "(not States.*, not SageMaker.*, not in its contract's raises)"
    ]


def test_a_retry_for_another_states_error_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Validate Data")
    state["Retry"][1]["ErrorEquals"].append("QualityGateFailed")

    assert [p for p in error_problems(broken) if "QualityGateFailed" in p] == [
        "Validate Data: Retry[1] names 'QualityGateFailed', which this state cannot raise "
        "(not States.*, not Lambda.*, not in its contract's raises)"
    ]


def test_a_sagemaker_error_on_a_lambda_task_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Register Model")
    state["Retry"][0]["ErrorEquals"].append("SageMaker.ThrottlingException")

    assert len(error_problems(broken)) == 1


def test_a_renamed_parameter_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Gate Data Bias")
    state["Parameters"]["bias_pre_url.$"] = state["Parameters"].pop("bias_pre_uri.$")

    assert lambda_state_problems(broken) == [
        "Gate Data Bias: Parameters: 'bias_pre_url' is not a field of GateDataBiasInput",
        "Gate Data Bias: Parameters: required field 'bias_pre_uri' of GateDataBiasInput is not given",
    ]


def test_a_path_into_a_renamed_field_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Train Model")
    state["Parameters"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri.$"] = "$.prepared.channel.train"

    assert read_problems(broken) == [
        "Train Model: Parameters.S3Uri.$ reads '$.prepared.channel.train', which PipelineState has no field for"
    ]


def test_a_renamed_result_selector_field_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Check Data Bias")
    state["ResultSelector"] = {"report_url.$": state["ResultSelector"]["report_uri.$"]}

    assert write_problems(broken) == [
        "Check Data Bias -> $bias_pre: 'report_url' is not a field of ReportLocation",
        "Check Data Bias -> $bias_pre: required field 'report_uri' of ReportLocation is not given",
    ]


def test_a_result_selector_path_missing_from_the_aws_answer_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Train Model")
    state["ResultSelector"]["model_artifact.$"] = "$.ModelArtifacts.S3ModelArtifact"

    assert service_problems(broken) == [
        "Train Model: ResultSelector model_artifact.$ reads '$.ModelArtifacts.S3ModelArtifact', "
        "not in DescribeTrainingJob's answer"
    ]


def test_a_service_parameter_the_api_does_not_take_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Train Model")
    state["Parameters"]["ResourceConfig"]["InstanceKind"] = "ml.m5.large"

    assert service_problems(broken) == [
        "Train Model: Parameters.ResourceConfig: 'InstanceKind' is not a member of ResourceConfig"
    ]


def test_a_read_before_the_state_that_writes_it_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Prepare Data")
    state["Parameters"]["training.$"] = "$.training"

    assert "Prepare Data: Parameters.training.$ reads '$.training' before every way here has written $training" in (
        read_problems(broken)
    )


def test_a_read_written_on_only_one_way_in_is_reported(pipeline: dict[str, Any]) -> None:
    # Register Model is reached with and without Evaluate Champion: its output is not always there.
    broken, state = _broken(pipeline, "Register Model")
    state["Parameters"]["champion_evaluation_uri.$"] = "$.champion_evaluation.evaluation_uri"

    assert any("before every way here has written $champion_evaluation" in p for p in read_problems(broken))


def test_a_lambda_output_written_where_another_model_is_declared_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Register Model")
    state["ResultPath"] = "$.gates"

    assert write_problems(broken) == [
        f"Register Model: writes RegistrationOutput to $gates, declared as {_field_models('gates')}"
    ]


def test_a_path_fed_to_the_wrong_model_is_reported(pipeline: dict[str, Any]) -> None:
    broken, state = _broken(pipeline, "Prepare Data")
    state["Parameters"]["validation.$"] = "$.bias_pre"

    assert [p for p in lambda_state_problems(broken) if "validation" in p] != []
