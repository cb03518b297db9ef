"""Approver sign-in (no authorizer): /auth/login → managed login with PKCE → /auth/callback → session cookie."""

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.errors import LoginFailed, SessionRejected
from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.reports.approval_page import render_error_page
from governed_mlops.services import wiring
from governed_mlops.services.approver_session import HttpAnswer, SessionDeps, begin_login, finish_login, sign_out
from governed_mlops.settings import ApprovalLoginSettings

SETTINGS = ApprovalLoginSettings.from_environ(os.environ)
app = APIGatewayRestResolver()


@cache
def dependencies() -> SessionDeps:
    return wiring.approval_login(SETTINGS)


def _url(route: str) -> str:
    """This API's own absolute URL for ``route`` (as registered in the app client's callback/logout URLs)."""
    event = app.current_event
    return f"https://{event.headers.get('host') or event.headers.get('Host')}/{event.request_context.stage}{route}"


def _answer(answer: HttpAnswer) -> Response[str]:
    headers: dict[str, str | list[str]] = {**answer.headers, "Set-Cookie": answer.cookies}
    return Response(status_code=answer.status, headers=headers, body=answer.body or None)


@app.exception_handler(LoginFailed)
@app.exception_handler(SessionRejected)
def refused(exc: LoginFailed | SessionRejected) -> Response[str]:
    logger.warning("sign-in refused", extra={"error": type(exc).__name__, "reason": str(exc)})
    body = render_error_page(403, type(exc).__name__, str(exc))
    return Response(status_code=403, content_type="text/html; charset=utf-8", body=body)


@app.get("/auth/login")
def login() -> Response[str]:
    return_to = (app.current_event.query_string_parameters or {}).get("return_to")
    return _answer(begin_login(return_to, callback_url=_url("/auth/callback"), deps=dependencies()))


@app.get("/auth/callback")
def callback() -> Response[str]:
    query, event = app.current_event.query_string_parameters or {}, app.current_event
    cookie = event.headers.get("cookie") or event.headers.get("Cookie")
    answer = finish_login(
        query.get("code"),
        query.get("state"),
        cookie,
        callback_url=_url("/auth/callback"),
        deps=dependencies(),
        now=datetime.now(UTC),
    )
    return _answer(answer)


@app.post("/auth/logout")
def logout() -> Response[str]:
    return _answer(sign_out(signed_out_url=_url("/auth/signed-out"), deps=dependencies()))


@app.get("/auth/signed-out")
def signed_out() -> Response[str]:
    body = "<!doctype html><html lang=en><meta charset=utf-8><title>Signed out</title><p>You are signed out.</p>"
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
