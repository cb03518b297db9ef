"""Where the incident view's facts live in a local data directory (read-only: nothing here writes).

- this run and the model's last successful run: the execution store (inputs pin the data, code and
  configuration versions), the object store (dataset digest, configuration text, the run's
  validation report and evaluation under ``runs/<name>/``);
- what production serves: ``endpoints/<endpoint>/endpoint.json`` and its endpoint configuration, with
  model versions from the registry;
- the failed state's logs: ``logs/<Function>.log`` (Powertools JSON, correlation id = execution name),
  the host's ``logs/errors.log`` (tracebacks of handler exceptions) and SageMaker ``job.log`` files;
- the files the run produced: ``runs/<name>/`` in the artifacts bucket.

Reads open no runtime and import no ML library or pydantic model: the object index and the registry
are read straight from their SQLite files, opened read-only (a page view writes nothing), so
``mlops history`` stays fast.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from governed_mlops_local.incident import (
    LOCAL_COMMANDS,
    CommandTarget,
    Incident,
    RunFacts,
    Serving,
    build_incident,
    evaluation_metrics,
)

#: Log lines shown per source (the newest); the files hold everything.
LOG_LINES = 40
#: Characters of a JSON report shown inline.
INLINE_LIMIT = 4000
#: A failure's cause that names its report (``report: s3://bucket/key``), as the gate stages write it.
REPORT_IN_CAUSE = re.compile(r"report: s3://([^/\s]+)/([^\s?)]+)")
_JOB_NAME = re.compile(r'"(?:Training|Processing|Transform)JobName"\s*:\s*"([A-Za-z0-9-]+)"')
_CHAINED = ("The above exception", "During handling of the above exception")


@dataclass(frozen=True)
class EvidenceFile:
    """A file the run produced: its key in the artifacts bucket, where it is on disk, and (for the report
    named in the cause) its content to show inline."""

    key: str
    #: Where a person finds it: a path on disk locally, ``s3://bucket/key?versionId=...`` in AWS.
    path: Path | str
    inline: str | None = None


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    logs: tuple[tuple[str, tuple[str, ...]], ...]
    evidence: tuple[EvidenceFile, ...]


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
        yield conn


@dataclass(frozen=True)
class StoredFile:
    bucket: str
    key: str
    version_id: str
    sha256: str


class LocalObjects:
    """Read-only view of the local object store (``<data dir>/s3``: an SQLite index and content-addressed blobs),
    as :class:`governed_mlops.adapters.object_store.LocalObjectStore` writes it."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "s3"
        self._index = self.root / "_index.db"

    def stat(self, bucket: str, key: str, version_id: str | None = None) -> StoredFile | None:
        """A version of ``s3://bucket/key`` (the newest when ``version_id`` is None); None if there is none."""
        query = "SELECT version_id, sha256 FROM objects WHERE bucket=? AND key=?"
        params: tuple[str, ...] = (bucket, key)
        if version_id:
            query, params = query + " AND version_id=?", (*params, version_id)
        with _read_only(self._index) as conn:
            row = conn.execute(query + " ORDER BY sequencer DESC LIMIT 1", params).fetchone()
        return StoredFile(bucket, key, str(row[0]), str(row[1])) if row else None

    def read(self, stored: StoredFile) -> bytes | None:
        path = self.root / "_blobs" / stored.sha256[:2] / stored.sha256
        try:
            return path.read_bytes()
        except OSError:
            return None

    def under(self, bucket: str, prefix: str) -> list[StoredFile]:
        """The newest version of every key under ``prefix``, by key."""
        with _read_only(self._index) as conn:
            rows = conn.execute(
                "SELECT key, version_id, sha256 FROM objects o WHERE bucket=? AND substr(key, 1, ?)=? AND sequencer = "
                "(SELECT max(sequencer) FROM objects i WHERE i.bucket=o.bucket AND i.key=o.key) ORDER BY key",
                (bucket, len(prefix), prefix),
            ).fetchall()
        return [StoredFile(bucket, str(k), str(v), str(h)) for k, v, h in rows]

    def mirror_path(self, bucket: str, key: str) -> Path:
        """Where a person finds the newest version on disk."""
        return self.root / bucket / key


def json_object(text: str | bytes | None) -> dict[str, Any]:
    """``text`` as a JSON object; ``{}`` when it is empty, not JSON or not an object (history is read, not judged)."""
    try:
        value = json.loads(text or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


class IncidentSource(Protocol):
    """Where one execution environment keeps an incident's facts: a local data directory
    (:class:`LocalIncidentSources`) or a deployed stack
    (:class:`governed_mlops_local.aws_incident_sources.AwsIncidentSources`). :func:`incident_view`
    builds the same :class:`IncidentView` from either."""

    #: How the next-action commands reach the run (``--aws --stack S`` for a stack).
    commands: CommandTarget

    def last_success(self, model: str, before: str) -> Mapping[str, Any] | None:
        """DescribeExecution of ``model``'s newest successful run started before ``before`` (ISO), or None."""
        ...

    def run_facts(self, described: Mapping[str, Any]) -> RunFacts:
        """Data, code, configuration and metrics of one run."""
        ...

    def serving(self, endpoint: str) -> Serving | None:
        """What ``endpoint`` serves now; None if it does not exist."""
        ...

    def logs(
        self,
        name: str,
        resource: str | None,
        message: str,
        state_input: str = "",
        described: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(source, lines) of the failed state's code for this run."""
        ...

    def evidence(self, name: str, cause: str) -> list[EvidenceFile]:
        """The files the run wrote; the report the cause names first, inline."""
        ...


def incident_view(
    source: IncidentSource,
    described: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    definition: Mapping[str, Any] | None = None,
) -> IncidentView | None:
    """The incident of ``described`` with its logs and evidence, read from ``source``; None when it did not fail."""
    execution_input = json_object(described.get("input"))
    model_spec = execution_input.get("model") or {}
    model = model_spec.get("name") if isinstance(model_spec, dict) else None
    baseline_described = source.last_success(str(model), str(described.get("startDate") or "")) if model else None
    endpoint = str(model_spec.get("endpoint_name") or "") if isinstance(model_spec, dict) else ""
    incident = build_incident(
        described,
        events,
        definition,
        current=source.run_facts(described),
        baseline=source.run_facts(baseline_described) if baseline_described else None,
        serving=source.serving(endpoint),
        commands=source.commands,
    )
    if incident is None:
        return None
    name = incident.name
    logs = source.logs(name, incident.state_io.resource, incident.message, incident.state_io.input or "", described)
    return IncidentView(incident, tuple(logs), tuple(source.evidence(name, str(described.get("cause") or ""))))


class LocalIncidentSources:
    """Builds :class:`IncidentView` for executions of one data directory.

    ``store`` is the data directory's :class:`~governed_mlops_local.executions.ExecutionStore` (or
    anything with ``list_executions`` and ``describe``).
    """

    commands = LOCAL_COMMANDS

    def __init__(self, data_dir: Path, store: Any) -> None:
        self._data_dir = data_dir
        self._store = store

    def view(
        self,
        described: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]],
        definition: Mapping[str, Any] | None = None,
    ) -> IncidentView | None:
        """The incident of ``described`` with its logs and evidence; None when it did not fail."""
        return incident_view(self, described, events, definition)

    # -- runs --------------------------------------------------------------------------------------
    def last_success(self, model: str, before: str) -> dict[str, Any] | None:
        for row in self._store.list_executions():  # newest first
            if row.get("model") == model and row.get("status") == "SUCCEEDED" and str(row.get("startDate")) < before:
                described: dict[str, Any] = self._store.describe(row["executionArn"])
                return described
        return None

    def _objects(self) -> LocalObjects | None:
        objects = LocalObjects(self._data_dir)
        return objects if (objects.root / "_index.db").exists() else None

    def run_facts(self, described: Mapping[str, Any]) -> RunFacts:
        """Data, code, configuration and metrics of one run, as far as the data directory has them."""
        execution_input = json_object(described.get("input"))
        data = execution_input.get("data") or {}
        config = execution_input.get("config") or {}
        facts: dict[str, Any] = {
            "name": str(described.get("name", "")),
            "status": str(described.get("status", "")),
            "started": str(described.get("startDate") or ""),
            "data_key": data.get("key"),
            "data_version": data.get("version_id"),
            "commit": (execution_input.get("code") or {}).get("commit_id"),
            "config_version": config.get("version_id"),
        }
        objects = self._objects()
        if objects is not None:
            facts |= self._stored_facts(objects, execution_input, data, config)
        return RunFacts(**facts)

    def _stored_facts(
        self,
        objects: LocalObjects,
        execution_input: Mapping[str, Any],
        data: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        dataset = (
            objects.stat(str(data["bucket"]), str(data["key"]), data.get("version_id")) if is_object_ref(data) else None
        )
        if dataset is not None:
            facts["data_sha256"] = dataset.sha256
        stored = (
            objects.stat(str(config["bucket"]), str(config["key"]), config.get("version_id"))
            if is_object_ref(config)
            else None
        )
        text = objects.read(stored) if stored else None
        if text is not None:
            facts["config_text"] = text.decode("utf-8", "replace")
        bucket, prefix = run_prefix(execution_input)
        if bucket:
            report = _read_json(objects, bucket, prefix + "validation/report.json")
            if isinstance(report.get("rows"), int):
                facts["rows"] = report["rows"]
            facts["metrics"] = evaluation_metrics(_read_json(objects, bucket, prefix + "evaluation/evaluation.json"))
        return facts

    # -- production --------------------------------------------------------------------------------
    def serving(self, endpoint: str) -> Serving | None:
        """What ``endpoint`` serves now: its variants' model versions, since when; None if it does not exist."""
        root = self._data_dir / "endpoints"
        state_path = root / endpoint / "endpoint.json"
        if not endpoint or not state_path.is_file():
            return None
        state = json.loads(state_path.read_text(encoding="utf-8"))
        config_path = root / "_endpoint-configs" / f"{state['EndpointConfigName']}.json"
        variants = json.loads(config_path.read_text(encoding="utf-8")).get("ProductionVariants", [])
        versions = self._versions_by_execution()
        served = tuple(
            (
                str(v.get("VariantName")),
                versions.get(str(v.get("ModelName", "")).removesuffix("-model"), str(v.get("ModelName"))),
                float(v.get("InitialVariantWeight", 1)),
            )
            for v in variants
        )
        in_service = [e["Time"] for e in state.get("Events", []) if e.get("EndpointStatus") == "InService"]
        since = in_service[-1] if in_service else state.get("LastModifiedTime")
        return Serving(endpoint, str(state.get("EndpointStatus")), served, since)

    def _versions_by_execution(self) -> dict[str, str]:
        registry = self._data_dir / "registry.db"
        if not registry.exists():
            return {}
        with _read_only(registry) as conn:
            rows = conn.execute("SELECT execution_name, model_version FROM model_versions").fetchall()
        return {str(execution): str(version) for execution, version in rows}

    # -- logs and evidence -------------------------------------------------------------------------
    def logs(
        self,
        name: str,
        resource: str | None,
        message: str,
        state_input: str = "",
        described: Mapping[str, Any] | None = None,  # noqa: ARG002 - the protocol's; log files are read whole
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(source, lines) of the failed state: its function's log lines of this run, the traceback of
        its exception, and the SageMaker job logs of this run."""
        log_dir = self._data_dir / "logs"
        found: list[tuple[str, tuple[str, ...]]] = []
        function = (resource or "").rsplit(":", 1)[-1]
        short = function.rsplit("-", 1)[-1].lower()
        for path in sorted(log_dir.glob("*.log")) if function else []:
            if path.stem.lower() == short:
                lines = [line for line in _lines(path) if _correlation(line) == name]
                if lines:
                    found.append((str(path), tuple(lines[-LOG_LINES:])))
        traceback = _traceback_with(log_dir / "errors.log", message)
        if traceback:
            found.append((str(log_dir / "errors.log"), traceback))
        if "sagemaker" in function:
            # The failed state's own job when its request names one, else every job of the run.
            jobs = _JOB_NAME.findall(state_input) or [f"{name}-*"]
            paths = {p for job in jobs for p in self._data_dir.glob(f"sagemaker/*/{job}/job.log")}
            for path in sorted(paths):
                found.append((str(path), tuple(_lines(path)[-LOG_LINES:])))
        return found

    def evidence(self, name: str, cause: str) -> list[EvidenceFile]:
        """The files under ``runs/<name>/`` of the artifacts bucket; the report the cause names first, inline."""
        objects = self._objects()
        if objects is None:
            return []
        named = REPORT_IN_CAUSE.search(cause)
        files: list[EvidenceFile] = []
        buckets = {named.group(1)} if named else set()
        buckets |= {
            b.name for b in (self._data_dir / "s3").iterdir() if b.is_dir() and b.name.endswith("artifactsbucket")
        }
        for bucket in sorted(buckets):
            for stored in objects.under(bucket, f"runs/{name}/"):
                path = objects.mirror_path(bucket, stored.key)
                if named and (bucket, stored.key) == (named.group(1), named.group(2)):
                    text = (objects.read(stored) or b"").decode("utf-8", "replace")
                    clipped = text if len(text) <= INLINE_LIMIT else text[:INLINE_LIMIT] + "\n… (the file has more)"
                    files.insert(0, EvidenceFile(stored.key, path, clipped))
                else:
                    files.append(EvidenceFile(stored.key, path))
        return files


def is_object_ref(pointer: Mapping[str, Any]) -> bool:
    """Whether an S3 pointer of the execution input names a bucket and a key."""
    return bool(pointer.get("bucket") and pointer.get("key"))


def run_prefix(execution_input: Mapping[str, Any]) -> tuple[str, str]:
    """The run's artifacts bucket and key prefix (ending in ``/``); ``("", "")`` when the input names none."""
    prefix = str(execution_input.get("artifacts_prefix") or "")
    if not prefix.startswith("s3://"):
        return "", ""
    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    return bucket, key if key.endswith("/") or not key else key + "/"


def _read_json(objects: LocalObjects, bucket: str, key: str) -> dict[str, Any]:
    stored = objects.stat(bucket, key)
    return json_object(objects.read(stored)) if stored else {}


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _correlation(line: str) -> str | None:
    if '"correlation_id"' not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    value = record.get("correlation_id") if isinstance(record, dict) else None
    return str(value) if value is not None else None


def _traceback_with(path: Path, message: str) -> tuple[str, ...]:
    """The last traceback in ``path`` that mentions ``message`` (its first 80 characters), chained causes included."""
    needle = message.strip()[:80]
    if not needle:
        return ()
    records: list[list[str]] = []
    previous = ""
    for line in _lines(path):
        starts = line.startswith("Traceback (most recent call last):") and not previous.startswith(_CHAINED)
        if starts or not records:
            records.append([])
        records[-1].append(line)
        if line.strip():
            previous = line
    matching = [record for record in records if any(needle in line for line in record)]
    return tuple(matching[-1][-LOG_LINES:]) if matching else ()
