"""Manual approval from the terminal: ``approvals`` (list, local or --aws), ``approve`` and ``reject``."""

from __future__ import annotations

import json
from typing import Any

import click

from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import reading_stack, stack_options
from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context, os_user
from governed_mlops_local.cli.serving import running_server


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "user", default=None, help="Who is asking (default: the OS user).")
@click.option("--model", "model", default=None, help="Only this model's approval requests.")
@stack_options
@click.pass_obj
def approvals(
    obj: Context,
    as_json: bool,
    user: str | None,
    model: str | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """List approval requests, pending first (through the approval API, or from disk if none is serving).

    With --aws: the stack's approvals table (the records only: task tokens are never read).
    """
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            records = stack.approvals().list_records()
        rows = [r.model_dump(mode="json") for r in records]
        aws_echo(_approvals_text([r for r in rows if model is None or r.get("model_name") == model], as_json))
        return
    from governed_mlops.adapters.approvals import LocalApprovalStore
    from governed_mlops_local import approval_client

    wanted = obj.model(model) if model is not None else None
    serving = approval_client.serving_runtime(obj.data_dir)
    if serving is not None:
        rows = approval_client.list_approvals(serving.url, user or os_user())
    else:
        rows = [r.model_dump(mode="json") for r in LocalApprovalStore(obj.data_dir).list_records()]
    if wanted is not None:
        rows = [r for r in rows if r.get("model_name") == wanted]
    echo(_approvals_text(rows, as_json))


def _approvals_text(rows: list[dict[str, Any]], as_json: bool) -> str:
    rows = sorted(rows, key=lambda r: (r["status"] != "pending", r["requested_at"]))
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "No approval requests."
    lines = []
    for r in rows:
        decided = f" by {r['decided_by']}" if r.get("decided_by") else ""
        progress = f"  {r['progress']}" if r.get("progress") and r["status"] == "pending" else ""
        tier = f" ({r['risk_tier']} risk)" if r.get("risk_tier") else ""
        lines.append(
            f"{r['approval_id']}  {r['status']:<9}{decided}  {r['model_version']}{tier}{progress}  "
            f"execution={r['execution_name']} triggered_by={r['triggered_by']}  expires={r['expires_at'][:19]}"
        )
    return "\n".join(lines)


def _decide(obj: Context, approval_id: str, user: str, decision: str, reason: str) -> None:
    from governed_mlops_local import approval_client

    serving = running_server(obj)
    link = approval_client.link_for(obj.data_dir, approval_id)
    if link is None:
        fail(f"no approval request {approval_id!r} was notified here", "list them with: mlops approvals")
    # The signed path and query are what count; the runtime serving them now may listen elsewhere.
    link = approval_client.rebase(link, serving.url)
    try:
        answer = approval_client.decide(link, user, decision, reason)
    except approval_client.ApprovalClientError as exc:
        fail(f"HTTP {exc.status}: {exc}")
    if answer.get("status") == "pending":
        echo(f"{answer['model_version']}: {answer.get('message') or answer.get('progress')}", fg="yellow")
        return
    echo(f"{answer['model_version']}: {answer['status']} by {answer['decided_by']}", fg="green")


@click.command()
@click.argument("approval_id")
@click.option("--as", "user", required=True, help="The approver (must be in the approvers group).")
@click.option("--reason", default="", help="Optional comment recorded with the approval.")
@click.pass_obj
def approve(obj: Context, approval_id: str, user: str, reason: str) -> None:
    """Approve a model version through the approval API (same checks as the web page)."""
    _decide(obj, approval_id, user, "approve", reason)


@click.command()
@click.argument("approval_id")
@click.option("--as", "user", required=True, help="The approver (must be in the approvers group).")
@click.option("--reason", required=True, help="Why the model is rejected (recorded in its lineage).")
@click.pass_obj
def reject(obj: Context, approval_id: str, user: str, reason: str) -> None:
    """Reject a model version through the approval API; the execution ends and nothing is deployed."""
    _decide(obj, approval_id, user, "reject", reason)
