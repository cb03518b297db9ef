"""Approval API (API Gateway): GET shows evidence and never changes state; POST records one decision."""

import json
import os
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.domain.approval import Identity, progress
from governed_mlops.domain.login import SIGNED_IN
from governed_mlops.errors import (
    ApprovalAlreadyDecided,
    ApprovalError,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalNotWaiting,
    DuplicateApprover,
    MalformedDecision,
    SignInRequired,
)
from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.reports.approval_page import render_error_page
from governed_mlops.services import approval_deps
from governed_mlops.services.approval import ApprovalDeps, decide, decision_page, read_decision, utcnow
from governed_mlops.services.approval_evidence import evidence_page, evidence_summary
from governed_mlops.settings import ApprovalSettings

SETTINGS = ApprovalSettings.from_environ(os.environ)
app = APIGatewayRestResolver()
_STATUS = {
    MalformedDecision: 400,
    ApprovalNotFound: 404,
    ApprovalAlreadyDecided: 409,
    # Not a missing right (403): the approver's approval is already part of the request's state.
    DuplicateApprover: 409,
    ApprovalExpired: 403,
    # A request without a session: a browser GET is redirected to sign in, anything else is told to.
    SignInRequired: 401,
    ApprovalNotWaiting: 503,
}


@cache
def dependencies() -> ApprovalDeps:
    return approval_deps.build(SETTINGS)


def identity() -> Identity:
    """The caller as the API's authorizer vouches for them (in AWS: a verified session; locally: the runtime)."""
    context = app.current_event.request_context.authorizer.raw_event or {}
    user = str(context.get("principalId") or "")
    if context.get("signedIn") != SIGNED_IN or not user:
        raise SignInRequired("sign in as an approver first: open the approval link in a browser, or /auth/login")
    return Identity(user=user, groups=frozenset(str(context.get("groups") or "").split()))


def _sign_in_redirect() -> Response[str]:
    """302 to /auth/login with this page (stage prefix, path and the link's signed query) to return to."""
    event = app.current_event
    full_path = event.request_context.path or event.path
    base = full_path[: len(full_path) - len(event.path)] if full_path.endswith(event.path) else ""
    query = urlencode(event.query_string_parameters or {})
    return_to = full_path + (f"?{query}" if query else "")
    location = f"{base}/auth/login?return_to={quote(return_to, safe='')}"
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"}, body=None)


def _wants_json() -> bool:
    return "application/json" in (app.current_event.headers.get("accept") or "")


@app.exception_handler(ApprovalError)
def refused(exc: ApprovalError) -> Response[str]:
    if isinstance(exc, SignInRequired) and app.current_event.http_method == "GET" and not _wants_json():
        return _sign_in_redirect()
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 403)
    if isinstance(exc, ApprovalAlreadyDecided) or "stopped waiting" in str(exc):
        status = 409
    logger.warning("approval request refused", extra={"status": status, "error": type(exc).__name__})
    if _wants_json():
        body = json.dumps({"error": type(exc).__name__, "message": str(exc)})
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=render_error_page(status, type(exc).__name__, str(exc)),
    )


@app.get("/approvals")
def list_approvals() -> dict[str, Any]:
    identity()  # signed-in callers only: the authorizer lets requests without a session through as anonymous
    records = dependencies().store.list_records()
    return {"approvals": [r.model_dump(mode="json") | {"progress": progress(r)} for r in records]}


@app.get("/approvals/<approval_id>")
def show(approval_id: str) -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    who, group = identity(), SETTINGS.approver_group
    exp, sig = query.get("exp"), query.get("sig")
    if _wants_json():
        summary = evidence_summary(approval_id, exp, sig, who, dependencies(), approver_group=group, now=utcnow())
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps(summary),
            headers={"Cache-Control": "no-store"},
        )
    page = evidence_page(approval_id, exp, sig, who, dependencies(), approver_group=group, now=utcnow())
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=page,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


@app.post("/approvals/<approval_id>/decision")
def post_decision(approval_id: str) -> Response[str]:
    who, content_type = identity(), app.current_event.headers.get("content-type") or ""
    form = read_decision(approval_id, app.current_event.decoded_body or "", content_type, who, dependencies())
    record = decide(approval_id, form, who, dependencies(), approver_group=SETTINGS.approver_group, now=utcnow())
    # 202: the approval is recorded but the request waits for another approver (nothing resumed yet).
    status = 202 if record.status == "pending" else 200
    if _wants_json():
        answer = record.model_dump(mode="json") | {"progress": progress(record)}
        if record.status == "pending":
            answer["message"] = f"{progress(record)}; waiting for another approver"
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer))
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=decision_page(record))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
