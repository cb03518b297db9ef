"""Two costs moto's interpreter pays per execution and per task that change no behaviour.

* The ASL is parsed (ANTLR) for every execution: ~0.45 s of CPU for the pipeline's definition,
  under the interpreter lock, so 50 executions at once queue behind 22 s of parsing. The parsed
  program is a plain object tree: a deep copy of a cached parse is the same program (~13 ms).
* Every task builds a new boto3 client (~10 ms of CPU each, ~25 tasks per execution; 13 % of a
  50-execution burst's samples). moto's ``boto_client_for(region, service, state_credentials)``
  signs every client with the same fixed key and reaches the same backends, and clients are
  thread-safe: one per (region, service, role the state runs as, moto's interception switch) is
  reused, as a Lambda container reuses its clients across warm invocations. The role is part of
  the key so that, should moto ever sign with the state's credentials, one role's client is never
  handed to a state that runs as another.

Each ``install_*`` returns its undo function.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from botocore.client import BaseClient
from moto.core.models import botocore_stubber
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

#: The factory moto's task evaluators import by name (``from ...boto_client import boto_client_for``).
_CLIENT_FACTORY = "boto_client_for"
_PARSER_PACKAGE = "moto.stepfunctions.parser."


def install_program_cache() -> Callable[[], None]:
    original = ExecutionWorker._get_evaluation_entrypoint
    parsed: dict[str, EvalComponent] = {}
    lock = threading.Lock()

    def entrypoint(worker: ExecutionWorker) -> EvalComponent:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            program = parsed.get(definition)
        if program is None:
            program = original(worker)
            with lock:
                parsed[definition] = program
        # Each execution gets its own copy: nothing evaluated in one can leak into another.
        return copy.deepcopy(program)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]

    def undo() -> None:
        ExecutionWorker._get_evaluation_entrypoint = original  # type: ignore[method-assign]

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
