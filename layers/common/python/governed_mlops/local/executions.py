"""Durable Step Functions state for the local runtime: executions and their histories on disk.

moto runs the executions in memory; this store is what survives the process. It also makes
execution names unique across processes, as Step Functions does, so a duplicate event sent
from a second terminal starts nothing.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.fileio import sqlite_connection
from governed_mlops.errors import ExecutionNotFoundError

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS executions (
        execution_arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL,
        status TEXT NOT NULL, start_date TEXT NOT NULL, stop_date TEXT, input TEXT NOT NULL,
        output TEXT, error TEXT, cause TEXT, owner_pid INTEGER NOT NULL, history TEXT NOT NULL DEFAULT '[]',
        UNIQUE (state_machine_arn, name))""",
]

SAGEMAKER_PREFIX = "local-sagemaker-"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TOKEN = re.compile(r'("task_?[tT]oken"\s*:\s*")[^"]+(")')
REDACTED = "<redacted: task tokens are kept only in the approvals store>"


def redact_task_tokens(event: dict[str, Any]) -> dict[str, Any]:
    """Task tokens resume executions: never persist them in the history that on-call staff read."""
    clean = dict(event)
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            clean[key] = {
                k: _TOKEN.sub(rf"\g<1>{REDACTED}\g<2>", v) if isinstance(v, str) else v for k, v in details.items()
            }
    return clean


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
    def __init__(self, root: Path) -> None:
        self._db = root / "stepfunctions.db"
        with sqlite_connection(self._db) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

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

    def save(self, describe: dict[str, Any], history: list[dict[str, Any]]) -> None:
        with sqlite_connection(self._db) as conn:
            conn.execute(
                "UPDATE executions SET status=?, stop_date=?, output=?, error=?, cause=?, history=? "
                "WHERE execution_arn=?",
                (
                    describe["status"],
                    _iso(describe.get("stopDate")),
                    describe.get("output"),
                    describe.get("error"),
                    describe.get("cause"),
                    json.dumps(to_aws_history(history)),
                    describe["executionArn"],
                ),
            )

    def _rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with sqlite_connection(self._db) as conn:
            conn.row_factory = _dict_row
            # ``where`` is one of this module's literal clauses; values are bound parameters.
            query = f"SELECT * FROM executions {where} ORDER BY start_date DESC"  # noqa: S608
            rows = conn.execute(query, params).fetchall()
        for row in rows:
            if row["status"] == "RUNNING" and not _pid_alive(row["owner_pid"]):
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
            }
            for r in self._rows()
        ]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        rows = self._rows("WHERE name=? OR execution_arn=?", (name_or_arn, name_or_arn))
        if not rows:
            raise ExecutionNotFoundError(f"no execution named {name_or_arn!r}; list them with: mlops executions")
        r = rows[0]
        described = {
            "executionArn": r["execution_arn"],
            "stateMachineArn": r["state_machine_arn"],
            "name": r["name"],
            "status": r["status"],
            "startDate": r["start_date"],
            "input": r["input"],
        }
        for key, column in (("stopDate", "stop_date"), ("output", "output"), ("error", "error"), ("cause", "cause")):
            if r[column] is not None:
                described[key] = r[column]
        return described

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        arn = self.describe(name_or_arn)["executionArn"]
        with sqlite_connection(self._db) as conn:
            (events,) = conn.execute("SELECT history FROM executions WHERE execution_arn=?", (arn,)).fetchone()
        return list(json.loads(events))


def _dict_row(cursor: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}
