"""Two costs moto's interpreter pays per execution and per task that change no behaviour.

* The ASL is parsed (ANTLR) for every execution: ~0.45 s of CPU for the pipeline's definition,
  under the interpreter lock, so 50 executions at once queue behind 22 s of parsing. The parsed
  program is a plain object tree: a deep copy of a cached parse is the same program (~13 ms).
  CreateStateMachine's validation parses the definition too: it fills the same cache, so a fresh
  runtime's first execution does not parse the definition a second time. The cache keeps the
  programs of the last :data:`PARSED_DEFINITIONS` definitions (~0.5 MB each; every local redrive
  runs a definition of its own).
* Every task builds a new boto3 client (~10 ms of CPU each, ~25 tasks per execution; 13 % of a
  50-execution burst's samples). moto's ``boto_client_for(region, service, state_credentials)``
  signs every client with the same fixed key and reaches the same backends, and clients are
  thread-safe: one per (region, service, role the state runs as, moto's interception switch) is
  reused, as a Lambda container reuses its clients across warm invocations. The role is part of
  the key so that, should moto ever sign with the state's credentials, one role's client is never
  handed to a state that runs as another.
* Every JSONPath a state evaluates (InputPath, Parameters' ``.$`` fields, ResultSelector,
  ResultPath, OutputPath, Choice variables) is parsed again, and jsonpath_ng's parse builds a new
  ply parser, LALR tables included, each time: ~0.5 ms a path, ~0.26 s of CPU per pipeline run
  (30 % of the runtime's own CPU in a warm run). A parsed path is an immutable expression tree
  (finding and updating change the data, never the expression): each distinct path is parsed once.
* The state data (an execution's input, each state's input, result and output, every value a
  JSONPath selects) is copied with ``copy.deepcopy`` at every step: ~750 copies, 0.10 s a run.
  Step Functions data is JSON, so a copy that knows dicts, lists and scalars makes the same
  values at a third of the cost (anything else still goes through ``copy.deepcopy``). The one
  difference: deepcopy keeps two references to one object as one; JSON has no such sharing
  (AWS passes the data between states as text), so two equal copies are what it would pass.

Each ``install_*`` returns its undo function.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType
from typing import Any

from botocore.client import BaseClient
from moto.core.models import botocore_stubber
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.eval import states
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from governed_mlops_local.program_store import ProgramStore

#: The factory moto's task evaluators import by name (``from ...boto_client import boto_client_for``).
_CLIENT_FACTORY = "boto_client_for"
#: Parsed definitions kept (least recently used first out).
PARSED_DEFINITIONS = 8
#: Parsed JSONPaths kept (the pipeline's definitions hold ~200 distinct ones).
PARSED_JSON_PATHS = 4096
#: moto's modules that parse JSONPaths with the function they imported as ``parse``.
_JSON_PATH_USERS: tuple[ModuleType, ...] = (json_path, result_path)
#: moto's modules whose ``copy.deepcopy`` calls copy state data only (JSON values).
_STATE_DATA_COPIERS: tuple[ModuleType, ...] = (states, string_expression, result_path)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_PARSER_PACKAGE = "moto.stepfunctions.parser."


class _ParsedPrograms:
    """The most recently used definitions' parsed programs, backed by a :class:`ProgramStore` if given."""

    def __init__(self, max_definitions: int, store: ProgramStore | None) -> None:
        self._programs: OrderedDict[str, EvalComponent] = OrderedDict()
        self._max = max_definitions
        self._store = store
        self._lock = threading.Lock()

    def lookup(self, definition: str) -> EvalComponent | None:
        with self._lock:
            program = self._programs.get(definition)
            if program is not None:
                self._programs.move_to_end(definition)
        if program is None and self._store is not None:
            program = self._store.load(definition)
            if program is not None:
                self._keep(definition, program)
        return program

    def parsed(self, definition: str, program: EvalComponent) -> None:
        self._keep(definition, program)
        if self._store is not None:
            self._store.save(definition, program)

    def _keep(self, definition: str, program: EvalComponent) -> None:
        with self._lock:
            self._programs[definition] = program
            self._programs.move_to_end(definition)
            while len(self._programs) > self._max:
                self._programs.popitem(last=False)


def install_program_cache(
    max_definitions: int = PARSED_DEFINITIONS, store: ProgramStore | None = None
) -> Callable[[], None]:
    """Parse each definition once (``store``: also across processes, see :mod:`.program_store`)."""
    original = ExecutionWorker._get_evaluation_entrypoint
    original_validate = StepFunctionsParserBackend._validate_definition
    programs = _ParsedPrograms(max_definitions, store)

    def entrypoint(worker: ExecutionWorker) -> EvalComponent:
        definition = worker._evaluation_details.state_machine_details.definition
        program = programs.lookup(definition)
        if program is None:
            program = original(worker)
            programs.parsed(definition, program)
        # Each execution gets its own copy: nothing evaluated in one can leak into another.
        return copy.deepcopy(program)

    def validate(definition: str) -> None:
        if programs.lookup(definition) is not None:
            return  # parsed before: valid
        try:
            program = AmazonStateLanguageParser.parse(definition)[0]
        except Exception:
            original_validate(definition)  # raises moto's InvalidDefinition, worded as moto words it
            raise
        programs.parsed(definition, program)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]
    StepFunctionsParserBackend._validate_definition = staticmethod(validate)  # type: ignore[method-assign]

    def undo() -> None:
        ExecutionWorker._get_evaluation_entrypoint = original  # type: ignore[method-assign]
        StepFunctionsParserBackend._validate_definition = staticmethod(original_validate)  # type: ignore[method-assign]

    return undo


def _task_client_factories() -> list[ModuleType]:
    """moto's interpreter modules that imported ``boto_client_for`` by name (Lambda, aws-sdk, SNS, SQS...)."""
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith(_PARSER_PACKAGE)
        and module is not boto_client  # the definition stays: it is what the cache calls
        and getattr(module, _CLIENT_FACTORY, None) is boto_client.boto_client_for
    ]


def install_task_client_cache() -> Callable[[], None]:
    """Reuse one task client per (region, service, state role, interception): see the module docstring."""
    original: Callable[..., BaseClient] = boto_client.boto_client_for
    modules = _task_client_factories()
    if not modules:
        return lambda: None  # installed already: every importer holds the cached factory
    clients: dict[tuple[str, str, str | None, bool], BaseClient] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        # A state's credentials are its role (StateCredentials.role_arn: the execution role, or the
        # state's own ``Credentials.RoleArn``); the stubber switch decides which endpoint the client uses.
        role = getattr(state_credentials, "role_arn", None)
        key = (region, service, None if role is None else str(role), bool(botocore_stubber.enabled))
        with lock:
            client = clients.get(key)
        if client is None:
            client = original(region, service, state_credentials)
            with lock:
                client = clients.setdefault(key, client)
        return client

    for module in modules:
        setattr(module, _CLIENT_FACTORY, client_for)

    def undo() -> None:
        for module in modules:
            setattr(module, _CLIENT_FACTORY, original)

    return undo


def install_json_path_cache(max_paths: int = PARSED_JSON_PATHS) -> Callable[[], None]:
    """Parse each distinct JSONPath once in moto's interpreter (see the module docstring)."""
    originals = {module: module.parse for module in _JSON_PATH_USERS}
    if any(hasattr(parse, "cache_info") for parse in originals.values()):
        return lambda: None  # installed already
    for module, parse in originals.items():
        module.parse = functools.lru_cache(maxsize=max_paths)(parse)  # type: ignore[attr-defined]

    def undo() -> None:
        for module, parse in originals.items():
            module.parse = parse  # type: ignore[attr-defined]

    return undo


def json_deepcopy(value: Any) -> Any:
    """A deep copy of JSON data: dicts and lists copied, scalars shared; anything else via ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: json_deepcopy(item) for key, item in value.items()}
    if kind is list:
        return [json_deepcopy(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


class _JsonCopyModule:
    """Stands for the ``copy`` module in a moto module that copies only state data."""

    deepcopy = staticmethod(json_deepcopy)


def install_json_copy() -> Callable[[], None]:
    """Copy moto's state data as JSON (see the module docstring)."""
    originals = {module: module.copy for module in _STATE_DATA_COPIERS}
    if any(original is _JsonCopyModule for original in originals.values()):
        return lambda: None  # installed already
    for module in originals:
        module.copy = _JsonCopyModule  # type: ignore[attr-defined]

    def undo() -> None:
        for module, original in originals.items():
            module.copy = original  # type: ignore[attr-defined]

    return undo
