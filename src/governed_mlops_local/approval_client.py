"""Client side of the approval API, for `mlops approve/reject/approvals` and unattended demos.

It goes through the same HTTP API a person's browser uses (GET the signed link for the CSRF
token, then POST the decision), so the CLI gets exactly the same checks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from governed_mlops.adapters.approvals import OutboxFollower, read_outbox
from governed_mlops_local.executions import pid_alive
from governed_mlops_local.local_identity import DEFAULT_APPROVERS, SIGNATURE_HEADER, identity_key, sign_user

USER_HEADER = "X-Mlops-User"


class ApprovalClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServingRuntime:
    pid: int
    url: str


def serving_runtime(data_dir: Path) -> ServingRuntime | None:
    """The local runtime serving ``data_dir`` now: its ``runtime.json``, unless the process that wrote it is gone
    (a ``kill -9`` leaves the file behind) or the file is unreadable."""
    try:
        data = json.loads((data_dir / "runtime.json").read_text(encoding="utf-8"))
        serving = ServingRuntime(pid=int(data["pid"]), url=str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return serving if pid_alive(serving.pid) else None


def link_for(data_dir: Path, approval_id: str) -> str | None:
    """The signed link the notification carried (the local outbox holds what SNS would send)."""
    for message in reversed(read_outbox(data_dir)):
        if message.get("attributes", {}).get("approval_id") == approval_id:
            return str(message["attributes"]["link"])
    return None


def rebase(link: str, base_url: str) -> str:
    """The same signed path and query on another origin (the runtime now serving the approval API)."""
    parts, base = urlsplit(link), urlsplit(base_url)
    return parts._replace(scheme=base.scheme, netloc=base.netloc).geturl()


def _call(request: urllib.request.Request) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback URL of our runtime
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
            message = f"{detail.get('error', exc.code)}: {detail.get('message', '')}"
        except (json.JSONDecodeError, ValueError):
            message = str(exc)
        raise ApprovalClientError(exc.code, message) from exc


def signed_as(user: str) -> dict[str, str]:
    """The headers that make the local API act as ``user``: the name, signed with this OS user's key."""
    return {USER_HEADER: user, SIGNATURE_HEADER: sign_user(user, identity_key())}


def list_approvals(base_url: str, user: str) -> list[dict[str, Any]]:
    headers = {"Accept": "application/json", **signed_as(user)}
    request = urllib.request.Request(f"{base_url}/approvals", headers=headers)  # noqa: S310 - our loopback API
    return list(_call(request)["approvals"])


def decide(link: str, user: str, decision: str, reason: str) -> dict[str, Any]:
    """GET the link as ``user`` (CSRF token), then POST the decision to the same API.

    The answer is the approval request; its ``status`` stays ``pending`` (HTTP 202, with ``message``
    and ``progress``, e.g. ``approvals: 1 of 2 (carol.approver)``) when the model's risk tier needs
    another approver.
    """
    headers = {"Accept": "application/json", **signed_as(user)}
    summary = _call(urllib.request.Request(link, headers=headers))  # noqa: S310 - our loopback API
    if "csrf_token" not in summary:  # the API offers the forms only to people who may decide
        raise ApprovalClientError(403, f"ApprovalForbidden: {summary.get('why_not') or f'{user} may not decide'}")
    parts = urlsplit(link)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    body = {"decision": decision, "reason": reason, "csrf_token": summary["csrf_token"], **query}
    post = urllib.request.Request(  # noqa: S310 - our loopback API
        f"{parts.scheme}://{parts.netloc}{parts.path}/decision",
        data=json.dumps(body).encode(),
        method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )
    return _call(post)


def approval_backlog(data_dir: Path, outbox: OutboxFollower, executions: Collection[str]) -> list[dict[str, Any]]:
    """Mark what ``outbox`` holds now as read; return its approval requests that are still pending and belong to
    one of ``executions`` (names), in the order they were published.

    A watcher made after its runs started (their events are sent first) must not skip a request a fast run
    published before it looked; requests of other runs already there are not its business.
    """
    earlier = outbox.new_messages()
    wanted = [
        m
        for m in earlier
        if m.get("attributes", {}).get("execution") in executions and "link" in m.get("attributes", {})
    ]
    if not wanted:
        return []
    from governed_mlops.adapters.approvals import LocalApprovalStore  # noqa: PLC0415 - the store (and its cryptography) loads only when a run's request is already there
    from governed_mlops.errors import ApprovalNotFound  # noqa: PLC0415 - with the store

    store = LocalApprovalStore(data_dir)
    backlog = []
    for message in wanted:
        try:
            if store.get(message["attributes"]["approval_id"]).status == "pending":
                backlog.append(message)
        except ApprovalNotFound:
            continue  # published by another data directory's runtime
    return backlog


def execution_names(arns: Collection[str]) -> frozenset[str]:
    """The execution names of Step Functions execution ARNs (the name is the ARN's last field)."""
    return frozenset(arn.rsplit(":", 1)[-1] for arn in arns)


def auto_approver(
    data_dir: Path, user: str | Sequence[str], reason: str = "unattended approval", *, executions: Collection[str] = ()
) -> Callable[[], None]:
    """A poll callback that approves every approval request published from now on, through the API, and the
    pending ones already published by ``executions`` (names of runs started before the callback was made).

    ``user`` approves first. When the model's risk tier needs more distinct approvers (two for a
    high-risk model), the next approvers approve too, until the request is decided: the rest of
    ``user`` when it is a sequence, else the local runtime's other default approvers (each a
    different person, with the same checks as anyone). Requests already in the outbox belong to
    earlier runs (their links may point at a runtime that is gone).
    """
    approvers = [user, *sorted(DEFAULT_APPROVERS - {user})] if isinstance(user, str) else list(user)
    outbox = OutboxFollower(data_dir)
    backlog = approval_backlog(data_dir, outbox, executions)  # the rest already there: earlier runs'

    def tick() -> None:
        messages = [*backlog, *outbox.new_messages()]
        backlog.clear()
        for message in messages:
            link = message.get("attributes", {}).get("link")
            if link:
                for approver in approvers:
                    try:
                        if decide(link, approver, "approve", reason).get("status") != "pending":
                            break
                    except ApprovalClientError as exc:
                        # 409: already decided (or expired) earlier, or this approver already approved it.
                        if exc.status != HTTPStatus.CONFLICT:
                            raise

    return tick
