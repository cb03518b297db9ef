"""Where local hosting keeps its state: ``<root>/endpoints/``.

One JSON file per model (``_models/``), endpoint config (``_endpoint-configs/``) and endpoint
(``<name>/endpoint.json``), written atomically; the alarms registered for an endpoint
(``<name>/alarms.json``); per-fleet invocation measurements (``<name>/metrics/<config>.jsonl``) and
data capture (``<name>/capture/...``) are append-only files beside them. Mutations take an exclusive
lock that holds across this instance's threads and other processes.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.fileio import atomic_write
from governed_mlops_local.endpoints.alarms import AlarmRule
from governed_mlops_local.endpoints.naming import arn, check_name, invalid, is_valid_name

__all__ = ["AlarmRegistry", "EndpointStore", "now", "record_event"]

_ENDPOINTS_DIR = "endpoints"

Stamp = tuple[int, int, int]


def now() -> str:
    """The time as the SageMaker API shows it in state and events (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat()


def record_event(state: dict[str, Any], message: str, **details: Any) -> None:
    """Append a deployment event (time, the endpoint's status, message, details) to an endpoint's state."""
    state.setdefault("Events", []).append(
        {"Time": now(), "EndpointStatus": state["EndpointStatus"], "Message": message, **details}
    )


def _stamp(path: Path) -> Stamp:
    info = path.stat()
    return info.st_mtime_ns, info.st_ino, info.st_size


def _fd_stamp(fd: int) -> Stamp:
    info = os.fstat(fd)
    return info.st_mtime_ns, info.st_ino, info.st_size


class EndpointStore:
    """The files of models, endpoint configs and endpoints under ``root/endpoints``, cached until they change."""

    def __init__(self, root: Path) -> None:
        self.root = root / _ENDPOINTS_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._flock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._flock_depth = 0
        # The parsed state files by endpoint. A leaf lock of its own: InvokeEndpoint reads the state on
        # every request and must not wait for a mutation, which holds self._lock across an fsync.
        self._states_lock = threading.Lock()
        self._states: dict[str, tuple[Stamp, dict[str, Any]]] = {}
        # A leaf lock (never held while taking another lock), so reading a model document in an
        # invoke thread and a state mutation holding self._lock cannot wait on each other.
        self._documents_lock = threading.Lock()
        self._documents: dict[Path, dict[str, Any]] = {}

    def close(self) -> None:
        os.close(self._flock_fd)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Mutations: this instance's threads (RLock) and other processes (flock on endpoints/.lock)."""
        with self._lock:
            if self._flock_depth == 0:
                fcntl.flock(self._flock_fd, fcntl.LOCK_EX)
            self._flock_depth += 1
            try:
                yield
            finally:
                self._flock_depth -= 1
                if self._flock_depth == 0:
                    fcntl.flock(self._flock_fd, fcntl.LOCK_UN)

    # -- paths ----------------------------------------------------------------------------------
    def endpoint_dir(self, name: str) -> Path:
        return self.root / name

    def metrics_path(self, endpoint: str, config: str) -> Path:
        return self.endpoint_dir(endpoint) / "metrics" / f"{config}.jsonl"

    def _state_path(self, name: str) -> Path:
        return self.endpoint_dir(name) / "endpoint.json"

    def _model_path(self, name: str) -> Path:
        return self.root / "_models" / f"{name}.json"

    def _config_path(self, name: str) -> Path:
        return self.root / "_endpoint-configs" / f"{name}.json"

    # -- endpoints ------------------------------------------------------------------------------
    def endpoint_names(self) -> list[str]:
        """Every endpoint with a state file, by name."""
        return sorted(path.parent.name for path in self.root.glob("*/endpoint.json"))

    def read_state(self, name: str) -> dict[str, Any] | None:
        """The endpoint's state as on disk (cached until the file changes); treat as read-only.

        Never waits for a mutation: the file is replaced atomically, so a reader sees the state before
        or after it, as a DescribeEndpoint during an UpdateEndpoint does.
        """
        if not is_valid_name(name):
            return None
        path = self._state_path(name)
        try:
            stamp = _stamp(path)
            with self._states_lock:
                cached = self._states.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            # Stamp and content from one open file: a replacement between them cannot pair old and new.
            with path.open("rb") as handle:
                stamp = _fd_stamp(handle.fileno())
                state: dict[str, Any] = json.loads(handle.read())
        except FileNotFoundError:
            with self._states_lock:
                self._states.pop(name, None)
            return None
        with self._states_lock:
            self._states[name] = (stamp, state)
        return state

    def require_state(self, name: str) -> dict[str, Any]:
        """The endpoint's state; ValidationException when there is no such endpoint."""
        state = self.read_state(name)
        if state is None:
            raise invalid(f'Could not find endpoint "{arn("endpoint", name)}".')
        return state

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        path = self._state_path(name)
        with self._lock:
            atomic_write(path, json.dumps(state, indent=2).encode())
            stamp = _stamp(path)
            with self._states_lock:
                self._states[name] = (stamp, state)

    def mutate(self, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read-modify-write of the endpoint state under the exclusive lock; ``change`` edits a copy."""
        with self.exclusive():
            current = self.read_state(name)
            if current is None:
                raise invalid(f'Could not find endpoint "{arn("endpoint", name)}".')
            state = copy.deepcopy(current)
            change(state)
            state["LastModifiedTime"] = now()
            self.write_state(name, state)
            return state

    def delete_state(self, name: str) -> None:
        """Forget the endpoint (its measurements and capture stay); call under :meth:`exclusive`."""
        with self._lock:
            self._state_path(name).unlink()
            with self._states_lock:
                self._states.pop(name, None)

    # -- models and endpoint configs (immutable once written) -----------------------------------
    def _document(self, path: Path, missing: str) -> dict[str, Any]:
        """A model or endpoint config document (immutable once written, so cached forever)."""
        with self._documents_lock:
            cached = self._documents.get(path)
        if cached is not None:
            return cached
        try:
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise invalid(missing) from exc
        with self._documents_lock:
            return self._documents.setdefault(path, document)

    def model(self, name: str) -> dict[str, Any]:
        """The CreateModel document of model ``name``; ValidationException when there is none."""
        if not is_valid_name(name):
            raise invalid(f'Could not find model "{arn("model", name)}".')
        return self._document(self._model_path(name), f'Could not find model "{arn("model", name)}".')

    def config(self, name: str) -> dict[str, Any]:
        """The CreateEndpointConfig document of ``name``; ValidationException when there is none."""
        missing = f'Could not find endpoint configuration "{arn("endpoint-config", name)}".'
        if not is_valid_name(name):
            raise invalid(missing)
        return self._document(self._config_path(name), missing)

    def add_model(self, name: str, document: dict[str, Any]) -> None:
        """Write model ``name``; ValidationException when it exists already."""
        self._add(self._model_path(name), document, f'Cannot create already existing model "{document["ModelArn"]}".')

    def add_config(self, name: str, document: dict[str, Any]) -> None:
        """Write endpoint config ``name``; ValidationException when it exists already."""
        exists = f'Cannot create already existing endpoint configuration "{document["EndpointConfigArn"]}".'
        self._add(self._config_path(name), document, exists)

    def _add(self, path: Path, document: dict[str, Any], exists: str) -> None:
        with self.exclusive():
            if path.exists():
                raise invalid(exists)
            atomic_write(path, json.dumps(document, indent=2).encode())


class AlarmRegistry:
    """The alarms registered per endpoint (``<endpoint>/alarms.json``): what an update may name for auto-rollback."""

    def __init__(self, store: EndpointStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Stamp, dict[str, AlarmRule]]] = {}

    def _path(self, name: str) -> Path:
        return self._store.endpoint_dir(name) / "alarms.json"

    def register(self, endpoint_name: str, rules: Sequence[AlarmRule]) -> None:
        """Define (or replace, by name) alarms of ``endpoint_name``."""
        check_name(endpoint_name, "endpoint")
        with self._store.exclusive():
            current = self.rules(endpoint_name)
            current |= {rule.alarm_name: rule for rule in rules}
            document = {"Alarms": [rule.to_json_dict() for rule in current.values()]}
            atomic_write(self._path(endpoint_name), json.dumps(document, indent=2).encode())

    def rules(self, name: str) -> dict[str, AlarmRule]:
        """The alarms registered for endpoint ``name``, by alarm name (a copy)."""
        path = self._path(name)
        with self._lock:
            try:
                stamp = _stamp(path)
            except FileNotFoundError:
                return {}
            cached = self._cache.get(name)
            if cached is not None and cached[0] == stamp:
                return dict(cached[1])
            documents = json.loads(path.read_text(encoding="utf-8"))["Alarms"]
            rules = {rule.alarm_name: rule for rule in (AlarmRule.from_json_dict(d) for d in documents)}
            self._cache[name] = (stamp, rules)
            return dict(rules)
