"""Durable Step Functions state for the local runtime: executions and their histories on disk.

moto runs the executions in memory; this store is what survives the process. It also makes
execution names unique across processes, as Step Functions does, so a duplicate event sent
from a second terminal starts nothing.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.fileio import sqlite_connection
from governed_mlops.domain.task_tokens import redact_task_tokens
from governed_mlops.errors import AbandonNotPossible, ExecutionNotFoundError, RedriveNotPossible

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS executions (
        execution_arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL,
        status TEXT NOT NULL, start_date TEXT NOT NULL, stop_date TEXT, input TEXT NOT NULL,
        output TEXT, error TEXT, cause TEXT, owner_pid INTEGER NOT NULL, history TEXT NOT NULL DEFAULT '[]',
        UNIQUE (state_machine_arn, name))""",
]
#: Columns added after the first release of this store (older data directories get them on open).
_ADDED_COLUMNS = {
    "redrive_count": "redrive_count INTEGER NOT NULL DEFAULT 0",
    "redrive_date": "redrive_date TEXT",
}

SAGEMAKER_PREFIX = "local-sagemaker-"


class AmbiguousExecutionName(ExecutionNotFoundError):
    """A name prefix matches more than one execution; ``candidates`` holds their names, newest first."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        super().__init__(f"{prefix!r} matches {len(candidates)} executions: {', '.join(candidates)}")
        self.candidates = candidates


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs; one that has exited but is not yet reaped by its parent (a zombie) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(pid, 0) is all there is
    return state != "Z"


def to_aws_history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Map the emulator's LambdaFunction* events back to the Task* events AWS records for SageMaker."""
    mapped: list[dict[str, Any]] = []
    current: str | None = None
    for raw in events:
        event = {k: _iso(v) for k, v in raw.items()}
        kind = event["type"]
        if kind == "LambdaFunctionScheduled":
            details = event["lambdaFunctionScheduledEventDetails"]
            function = details["resource"].rsplit(":", 1)[-1]
            if function.startswith(SAGEMAKER_PREFIX):
                action = function[len(SAGEMAKER_PREFIX) :]
                current = action.replace("-sync", ".sync")
                event = {k: v for k, v in event.items() if k != "lambdaFunctionScheduledEventDetails"}
                event |= {
                    "type": "TaskScheduled",
                    "taskScheduledEventDetails": {
                        "resourceType": "sagemaker",
                        "resource": current,
                        "region": details["resource"].split(":")[3],
                        "parameters": details.get("input", "{}"),
                    },
                }
            else:
                current = None
        elif current and kind.startswith("LambdaFunction"):
            suffix = kind[len("LambdaFunction") :]
            old_key = next((k for k in event if k.endswith("EventDetails")), None)
            details = dict(event.pop(old_key)) if old_key else {}
            base = {"resourceType": "sagemaker", "resource": current}
            event["type"] = f"Task{suffix}"
            event[f"task{suffix}EventDetails"] = base | details
            if suffix in {"Succeeded", "Failed", "TimedOut"}:
                current = None
        mapped.append(redact_task_tokens(event))
    return mapped


class ExecutionStore:
    """Executions in SQLite; each attempt's history events in an append-only journal file.

    The journal is written as moto's interpreter records each event (see ``runtime.py``),
    so after ``kill -9`` the history on disk is exactly what had happened: the basis of
    ``mlops redrive``. Task tokens are redacted before an event reaches the disk.
    """

    def __init__(self, root: Path) -> None:
        self._db = root / "stepfunctions.db"
        self._journals = root / "stepfunctions" / "journal"
        with sqlite_connection(self._db) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(executions)")}
            for column, ddl in _ADDED_COLUMNS.items():
                if column not in columns:
                    conn.execute(f"ALTER TABLE executions ADD COLUMN {ddl}")

    def reserve(
        self, state_machine_arn: str, execution_arn: str, name: str, execution_input: str, start: datetime
    ) -> bool:
        """Claim the name; False when it was used before (by this or any earlier process)."""
        with sqlite_connection(self._db) as conn:
            taken = conn.execute(
                "SELECT 1 FROM executions WHERE state_machine_arn=? AND name=?", (state_machine_arn, name)
            ).fetchone()
            if taken:
                return False
            conn.execute(
                "INSERT INTO executions (execution_arn, state_machine_arn, name, status, start_date, input, owner_pid)"
                " VALUES (?, ?, ?, 'RUNNING', ?, ?, ?)",
                (execution_arn, state_machine_arn, name, start.isoformat(), execution_input, os.getpid()),
            )
        return True

    def claim_redrive(self, name_or_arn: str, at: datetime) -> dict[str, Any]:
        """Take an unsuccessful execution for a redrive: one caller wins, the attempt number goes up.

        Raises ``RedriveNotPossible`` for a succeeded execution or one still running in a live process.
        """
        with sqlite_connection(self._db) as conn:
            row, status = _latest(conn, name_or_arn)
            refuse_unless_redrivable(row["name"], status, row["owner_pid"])
            conn.execute(
                "UPDATE executions SET status='RUNNING', stop_date=NULL, output=NULL, error=NULL, cause=NULL, "
                "owner_pid=?, redrive_count=redrive_count+1, redrive_date=? WHERE execution_arn=?",
                (os.getpid(), at.isoformat(), row["execution_arn"]),
            )
            row["previous_status"] = status
            row["redrive_count"] += 1
        return dict(row)

    def abandon(self, name_or_arn: str, reason: str, at: datetime) -> dict[str, Any]:
        """End an interrupted execution as ABORTED (error ``Abandoned``, the reason as cause).

        The reason is appended to the current attempt's history as an ``ExecutionAborted`` event,
        so ``mlops history`` and the execution page show who closed it and why.

        Raises:
            ExecutionNotFoundError: no such execution.
            AbandonNotPossible: it is still running in a live process, or it already ended.
        """
        if not reason.strip():
            raise AbandonNotPossible("say why the execution is abandoned: --reason TEXT (it goes into its history)")
        with sqlite_connection(self._db) as conn:
            row, status = _latest(conn, name_or_arn)
            if status == "RUNNING":
                raise AbandonNotPossible(
                    f"{row['name']} is still running in process {row['owner_pid']}: stop that process first "
                    "(it is then INTERRUPTED and can be abandoned or redriven)"
                )
            if status != "INTERRUPTED":
                raise AbandonNotPossible(f"{row['name']} already ended ({status}): there is nothing to abandon")
            conn.execute(
                "UPDATE executions SET status='ABORTED', stop_date=?, error='Abandoned', cause=? WHERE execution_arn=?",
                (at.isoformat(), reason, row["execution_arn"]),
            )
        path = self.journal_path(row["execution_arn"], int(row["redrive_count"]))
        events = read_journal(path)
        journal = self.open_journal(row["execution_arn"], int(row["redrive_count"]))
        try:
            journal.append(
                {
                    "timestamp": at,
                    "type": "ExecutionAborted",
                    "id": len(events) + 1,
                    "previousEventId": len(events),
                    "executionAbortedEventDetails": {"error": "Abandoned", "cause": reason},
                }
            )
        finally:
            journal.close()
        return self.describe(row["execution_arn"])

    def save(self, describe: dict[str, Any]) -> None:
        """Record the outcome of the current attempt (the history is already in the journal)."""
        with sqlite_connection(self._db) as conn:
            conn.execute(
                "UPDATE executions SET status=?, stop_date=?, output=?, error=?, cause=? WHERE execution_arn=?",
                (
                    describe["status"],
                    _iso(describe.get("stopDate")),
                    describe.get("output"),
                    describe.get("error"),
                    describe.get("cause"),
                    describe["executionArn"],
                ),
            )

    # -- the journal ----------------------------------------------------------------------------
    def journal_path(self, execution_arn: str, attempt: int) -> Path:
        _, _, machine, name = execution_arn.rsplit(":", 3)
        return self._journals / machine / name / f"attempt-{attempt}.jsonl"

    def attempt(self, execution_arn: str) -> int:
        """The current attempt of an execution (0 unless it was redriven)."""
        with sqlite_connection(self._db) as conn:
            row = conn.execute(
                "SELECT redrive_count FROM executions WHERE execution_arn=?", (execution_arn,)
            ).fetchone()
        return int(row[0]) if row else 0

    def open_journal(self, execution_arn: str, attempt: int) -> Journal:
        return Journal(self.journal_path(execution_arn, attempt))

    def _attempt_events(self, execution_arn: str, attempts: int) -> list[list[dict[str, Any]]]:
        return [read_journal(self.journal_path(execution_arn, n)) for n in range(attempts + 1)]

    # -- reads ----------------------------------------------------------------------------------
    def _rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with sqlite_connection(self._db) as conn:
            conn.row_factory = _dict_row
            # ``where`` is one of this module's literal clauses; values are bound parameters.
            query = f"SELECT * FROM executions {where} ORDER BY start_date DESC"  # noqa: S608
            rows = conn.execute(query, params).fetchall()
        for row in rows:
            if row["status"] == "RUNNING" and not pid_alive(row["owner_pid"]):
                # The process that ran it is gone: moto's in-memory execution died with it.
                row["status"] = "INTERRUPTED"
        return rows

    def list_executions(self) -> list[dict[str, Any]]:
        """ListExecutions-shaped summaries, newest first."""
        return [
            {
                "executionArn": r["execution_arn"],
                "stateMachineArn": r["state_machine_arn"],
                "name": r["name"],
                "status": r["status"],
                "startDate": r["start_date"],
                **({"stopDate": r["stop_date"]} if r["stop_date"] else {}),
                **({"redriveCount": r["redrive_count"]} if r["redrive_count"] else {}),
                # Not in ListExecutions: the on-call reader wants the failure without a second command,
                # and which model the run is for (from its input).
                **({"error": r["error"]} if r["error"] else {}),
                **({"model": model} if (model := _model_of(r["input"])) else {}),
            }
            for r in self._rows()
        ]

    def resolve(self, name_or_prefix: str) -> str:
        """The execution name that ``name_or_prefix`` (a name, an ARN or a unique prefix of a name) denotes.

        Raises ``ExecutionNotFoundError`` when nothing matches, ``AmbiguousExecutionName`` when a
        prefix matches several executions.
        """
        exact = self._rows("WHERE name=? OR execution_arn=?", (name_or_prefix, name_or_prefix))
        if exact:
            return str(exact[0]["name"])
        # substr, not LIKE: a prefix is compared case-sensitively and '_' / '%' are plain characters.
        matches = self._rows("WHERE substr(name, 1, ?) = ?", (len(name_or_prefix), name_or_prefix))
        names = list(dict.fromkeys(str(r["name"]) for r in matches))
        if not names:
            raise ExecutionNotFoundError(f"no execution named {name_or_prefix!r}; list them with: mlops executions")
        if len(names) > 1:
            raise AmbiguousExecutionName(name_or_prefix, names)
        return names[0]

    def _row(self, name_or_arn: str) -> dict[str, Any]:
        rows = self._rows("WHERE name=? OR execution_arn=?", (name_or_arn, name_or_arn))
        if not rows:
            raise ExecutionNotFoundError(f"no execution named {name_or_arn!r}; list them with: mlops executions")
        return rows[0]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        r = self._row(name_or_arn)
        described = {
            "executionArn": r["execution_arn"],
            "stateMachineArn": r["state_machine_arn"],
            "name": r["name"],
            "status": r["status"],
            "startDate": r["start_date"],
            "input": r["input"],
            "redriveCount": r["redrive_count"],
        }
        for key, column in (
            ("stopDate", "stop_date"),
            ("output", "output"),
            ("error", "error"),
            ("cause", "cause"),
            ("redriveDate", "redrive_date"),
        ):
            if r[column] is not None:
                described[key] = r[column]
        return described

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory-shaped events of every attempt, numbered as one history."""
        r = self._row(name_or_arn)
        attempts = self._attempt_events(r["execution_arn"], r["redrive_count"])
        if not any(attempts) and r["history"] not in (None, "[]"):
            # Written by an earlier version of this store (the whole history in one column).
            return list(json.loads(r["history"]))
        return to_aws_history(merge_attempts(attempts))


def refuse_unless_redrivable(name: str, status: str, owner_pid: int | None = None) -> None:
    """Step Functions redrives failed, timed-out and aborted executions; locally also interrupted ones."""
    if status == "RUNNING":
        where = f" (in process {owner_pid})" if owner_pid else ""
        raise RedriveNotPossible(f"{name} is still running{where}; wait for it or stop that process")
    if status == "SUCCEEDED":
        raise RedriveNotPossible(f"{name} succeeded: there is nothing to redrive; start a new execution")


class Journal:
    """An append-only JSON-lines file: one history event per line, flushed as it is written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(redact_task_tokens({k: _iso(v) for k, v in event.items()}), default=str)
        with self._lock:
            self._handle.write(line + "\n")
            # Flushed to the OS at once: a killed process loses nothing it recorded.
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The events of one attempt; a torn last line (the process died mid-write) is dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return events


def merge_attempts(attempts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One history from the attempts of a redriven execution, event ids continuing across them."""
    merged: list[dict[str, Any]] = []
    for events in attempts:
        offset = len(merged)
        for event in events:
            renumbered = dict(event)
            renumbered["id"] = int(event["id"]) + offset
            previous = int(event.get("previousEventId", 0))
            renumbered["previousEventId"] = previous + offset if previous or offset else 0
            merged.append(renumbered)
    return merged


def _latest(conn: Any, name_or_arn: str) -> tuple[dict[str, Any], str]:
    """The newest row of an execution and its status (RUNNING in a process that is gone: INTERRUPTED)."""
    conn.row_factory = _dict_row
    rows = conn.execute(
        "SELECT * FROM executions WHERE name=? OR execution_arn=? ORDER BY start_date DESC", (name_or_arn, name_or_arn)
    ).fetchall()
    if not rows:
        raise ExecutionNotFoundError(f"no execution named {name_or_arn!r}; list them with: mlops executions")
    row = rows[0]
    interrupted = row["status"] == "RUNNING" and not pid_alive(row["owner_pid"])
    return row, "INTERRUPTED" if interrupted else str(row["status"])


def _dict_row(cursor: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


def _model_of(execution_input: str) -> str | None:
    """The model name in an execution's input (``request.model.name``), if it has one."""
    try:
        model = json.loads(execution_input).get("model")
    except (ValueError, AttributeError):
        return None
    return str(model["name"]) if isinstance(model, dict) and "name" in model else None
