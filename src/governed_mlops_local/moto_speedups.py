"""Two costs moto's interpreter pays per execution and per task that change no behaviour.

* The ASL is parsed (ANTLR) for every execution: ~0.45 s of CPU for the pipeline's definition,
  under the interpreter lock, so 50 executions at once queue behind 22 s of parsing. The parsed
  program is a plain object tree: a deep copy of a cached parse is the same program (~13 ms).
  CreateStateMachine's validation parses the definition too: it fills the same cache, so a fresh
  runtime's first execution does not parse the definition a second time. The cache keeps the
  programs of the last :data:`PARSED_DEFINITIONS` definitions (~0.5 MB each; every local redrive
  runs a definition of its own).
* Every Lambda task builds a new boto3 client (~10 ms of CPU each, ~25 tasks per execution).
  Clients are thread-safe and the arguments never change: one per (region, service) is reused.

Each ``install_*`` returns its undo function.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botocore.client import BaseClient
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from governed_mlops_local.program_store import ProgramStore

_CLIENT_FACTORY = "boto_client_for"
#: Parsed definitions kept (least recently used first out).
PARSED_DEFINITIONS = 8


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


def install_task_client_cache() -> Callable[[], None]:
    # The name lambda_eval_utils imported (and calls) is the one to replace.
    original: Callable[..., BaseClient] = getattr(lambda_eval_utils, _CLIENT_FACTORY)
    clients: dict[tuple[str, str], BaseClient] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        if state_credentials is not None:
            # A state with its own credentials (cross-account) gets its own client, as before.
            return original(region, service, state_credentials)
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = original(region, service)
        return client

    setattr(lambda_eval_utils, _CLIENT_FACTORY, client_for)

    def undo() -> None:
        setattr(lambda_eval_utils, _CLIENT_FACTORY, original)

    return undo
