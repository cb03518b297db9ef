"""The approval API refuses malformed decisions (400, audited) and offers forms only to people who may decide."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from governed_mlops.adapters.approvals import FileSecret, LocalApprovalStore, LocalOutbox
from governed_mlops.domain import approval as rules
from governed_mlops.errors import MalformedDecision
from governed_mlops.services.approval import ApprovalDeps
from governed_mlops_local.gateway import proxy_event
from tests.conftest import PROJECT_DIR, FixedLambdaContext, pending_approval

APP = PROJECT_DIR / "functions" / "approval_api" / "app.py"
APPROVAL_ID = "A" * 32
GROUP = "model-approvers"
CONTEXT = FixedLambdaContext(function_name="governed-mlops-approval-api")


class RecordingAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, dict[str, Any]]] = []

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        self.records.append((actor, action, subject, details or {}))

    def seal(self) -> None:
        return None


class OneModelRegistry:
    def get(self, model_version: str) -> Any:
        from tests.unit.test_reports import _record

        return _record(reports={})


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    environ = {
        "MLOPS_BACKEND": "local",
        "MLOPS_LOCAL_ROOT": str(tmp_path_factory.mktemp("unused")),
        "AWS_REGION": "us-east-1",
        "ARTIFACTS_BUCKET": "artifacts",
        "APPROVALS_TABLE": "t",
        "APPROVAL_RETENTION_DAYS": "2557",
        "REGISTRY_TABLE": "r",
        "SIGNING_SECRET_ID": "s",
        "APPROVAL_TOPIC_ARN": "a",
        "APPROVAL_API_URL": "http://127.0.0.1:1",
        "APPROVER_GROUP": GROUP,
        "POWERTOOLS_SERVICE_NAME": "test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "t",
    }
    with mock.patch.dict(os.environ, environ):
        spec = importlib.util.spec_from_file_location("approval_api_refusals_under_test", APP)
        assert spec is not None
        assert spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["approval_api_refusals_under_test"] = loaded
        spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture
def api(module: ModuleType, tmp_path: Path) -> tuple[ModuleType, ApprovalDeps, RecordingAudit, dict[str, str]]:
    """The handler over a pending request that alice's upload triggered; the signed link's query."""
    store = LocalApprovalStore(tmp_path)
    record = pending_approval(datetime.now(UTC), APPROVAL_ID)
    store.create(record, "token-that-must-never-be-used")
    audit = RecordingAudit()
    deps = ApprovalDeps(
        store=store,
        registry=OneModelRegistry(),  # type: ignore[arg-type]
        objects=mock.Mock(),
        secret=FileSecret(tmp_path / "key"),
        notifier=LocalOutbox(tmp_path),
        sfn=mock.Mock(),
        audit=audit,
    )
    module.dependencies = lambda: deps  # type: ignore[attr-defined]
    exp = int(record.expires_at.timestamp())
    query = {"exp": str(exp), "sig": rules.link_signature(deps.secret.get(), APPROVAL_ID, exp)}
    return module, deps, audit, query


def _claims(user: str, *, approver: bool = True) -> dict[str, str]:
    return {"cognito:username": user, "cognito:groups": GROUP if approver else ""}


def _post(module: ModuleType, body: str, content_type: str = "application/json") -> dict[str, Any]:
    headers = {"Accept": "application/json", "Content-Type": content_type}
    event = proxy_event(
        "POST", f"/approvals/{APPROVAL_ID}/decision", {}, headers, body.encode(), claims=_claims("carol.approver")
    )
    return dict(module.lambda_handler(event, CONTEXT))


def _get(module: ModuleType, query: dict[str, str], claims: dict[str, str], accept: str) -> dict[str, Any]:
    event = proxy_event("GET", f"/approvals/{APPROVAL_ID}", query, {"Accept": accept}, b"", claims=claims)
    return dict(module.lambda_handler(event, CONTEXT))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ('["approve"]', "application/json"),
        ("[[[[[[[[[[" * 20000, "application/json"),
        ('{"decision": "maybe", "csrf_token": "t", "exp": "1", "sig": "s"}', "application/json"),
        ('{"decision": "approve", "csrf_token": 7, "exp": "1", "sig": "s"}', "application/json"),
        ('{"csrf_token": "t", "exp": "1", "sig": "s"}', "application/json"),
        ('{"decision": "approve"}', "application/json"),
        ("reason=fine&csrf_token=t&exp=1&sig=s", "application/x-www-form-urlencoded"),
    ],
    ids=[
        "invalid-json",
        "json-array",
        "deeply-nested",
        "unknown-decision",
        "non-string-field",
        "no-decision",
        "no-token-or-link",
        "form-without-decision",
    ],
)
def test_a_malformed_decision_is_a_400_named_error_not_a_crash(
    api: tuple[ModuleType, ApprovalDeps, RecordingAudit, dict[str, str]], body: str, content_type: str
):
    module, deps, _, _ = api
    answer = _post(module, body, content_type)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"] == MalformedDecision.__name__
    assert deps.store.get(APPROVAL_ID).status == "pending"


def test_a_malformed_decision_is_recorded_as_refused_without_the_secrets_it_carried(
    api: tuple[ModuleType, ApprovalDeps, RecordingAudit, dict[str, str]],
):
    # Given a body with the real link signature and CSRF token but an unknown decision
    module, deps, audit, query = api
    token = rules.csrf_token(deps.secret.get(), APPROVAL_ID, "carol.approver")
    _post(module, json.dumps({"decision": "yes-please", "csrf_token": token, **query}))
    # Then the ledger says who was refused and why, and holds neither the token nor the signature
    ((actor, action, subject, details),) = audit.records
    assert (actor, action, subject) == ("carol.approver", "approval.refused", "credit-risk/1")
    assert details["error"] == MalformedDecision.__name__
    assert "decision" in details["message"]
    assert token not in json.dumps(details)
    assert query["sig"] not in json.dumps(details)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (_claims("mallory", approver=False), "not in the approvers group"),
        (_claims("alice"), "triggered this run"),
    ],
    ids=["not-an-approver", "triggered-the-run"],
)
def test_someone_who_may_not_decide_sees_why_and_no_forms_or_csrf_token(
    api: tuple[ModuleType, ApprovalDeps, RecordingAudit, dict[str, str]], claims: dict[str, str], why: str
):
    module, deps, _, query = api
    token = rules.csrf_token(deps.secret.get(), APPROVAL_ID, claims["cognito:username"])
    page = _get(module, query, claims, "text/html")
    assert page["statusCode"] == 200
    assert why in page["body"]
    assert "approve-form" not in page["body"]
    assert "reject-form" not in page["body"]
    assert token not in page["body"]
    summary = json.loads(_get(module, query, claims, "application/json")["body"])
    assert "csrf_token" not in summary
    assert summary["may_decide"] is False
    assert why in summary["why_not"]


def test_an_approver_who_did_not_trigger_the_run_gets_the_forms_and_token(
    api: tuple[ModuleType, ApprovalDeps, RecordingAudit, dict[str, str]],
):
    module, deps, _, query = api
    token = rules.csrf_token(deps.secret.get(), APPROVAL_ID, "carol.approver")
    page = _get(module, query, _claims("carol.approver"), "text/html")["body"]
    assert "approve-form" in page
    assert "reject-form" in page
    assert token in page
    summary = json.loads(_get(module, query, _claims("carol.approver"), "application/json")["body"])
    assert summary["csrf_token"] == token
    assert summary["may_decide"] is True
