"""No GET request to the approval API, whatever its path or query, resumes or fails an execution."""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governed_mlops.adapters.approvals import FileSecret, LocalApprovalStore, LocalOutbox
from governed_mlops.domain.approval import approval_link
from governed_mlops.services.approval import ApprovalDeps
from governed_mlops.services.audit import NullAudit
from tests.conftest import PROJECT_DIR, FixedLambdaContext, pending_approval

APP = PROJECT_DIR / "functions" / "approval_api" / "app.py"


class RecordingSfn:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def send_task_success(self, **kwargs: Any) -> None:
        self.calls.append("SendTaskSuccess")

    def send_task_failure(self, **kwargs: Any) -> None:
        self.calls.append("SendTaskFailure")


class OneModelRegistry:
    """The registered model the approval is about (read by the evidence page of a valid link)."""

    def get(self, model_version: str) -> Any:
        from tests.unit.test_reports import _record

        return _record(reports={})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ApprovalDeps, RecordingSfn, str]:
    root = tmp_path_factory.mktemp("approvals")
    environ = {
        "MLOPS_BACKEND": "local",
        "MLOPS_LOCAL_ROOT": str(root),
        "AWS_REGION": "us-east-1",
        "ARTIFACTS_BUCKET": "artifacts",
        "APPROVALS_TABLE": "t",
        "APPROVAL_RETENTION_DAYS": "2557",
        "REGISTRY_TABLE": "r",
        "SIGNING_SECRET_ID": "s",
        "APPROVAL_TOPIC_ARN": "a",
        "APPROVAL_API_URL": "http://127.0.0.1:1",
        "APPROVER_GROUP": "model-approvers",
        "POWERTOOLS_SERVICE_NAME": "test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "t",
    }
    with mock.patch.dict(os.environ, environ):
        spec = importlib.util.spec_from_file_location("approval_api_under_test", APP)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["approval_api_under_test"] = module
        spec.loader.exec_module(module)
    sfn = RecordingSfn()
    store = LocalApprovalStore(root)
    now = datetime.now(UTC)
    record = pending_approval(now)
    store.create(record, "token-that-must-never-be-used")
    deps = ApprovalDeps(
        store=store,
        registry=OneModelRegistry(),
        objects=mock.Mock(),
        secret=FileSecret(root / "key"),
        notifier=LocalOutbox(root),
        sfn=sfn,
        audit=NullAudit(),
    )  # type: ignore[arg-type]
    module.dependencies = lambda: deps  # type: ignore[attr-defined]
    link = approval_link("http://127.0.0.1:1", deps.secret.get(), record.approval_id, record.expires_at)
    return module, deps, sfn, link


def _event(path: str, query: dict[str, str], user: str) -> dict[str, Any]:
    from governed_mlops_local.gateway import proxy_event

    claims = {"cognito:username": user, "cognito:groups": "model-approvers"}
    return proxy_event("GET", path, query, {"Accept": "text/html"}, b"", claims=claims)


paths = st.one_of(
    st.just("/approvals"),
    st.builds(lambda s: f"/approvals/{s}", st.text("AB-_xyz019", min_size=0, max_size=40)),
    st.builds(lambda s: f"/approvals/{s}/decision", st.sampled_from(["A" * 32, "B" * 32, ""])),
    st.just("/approvals/" + "A" * 32),
)
queries = st.dictionaries(
    st.sampled_from(["exp", "sig", "decision", "csrf_token", "reason"]), st.text(max_size=70), max_size=5
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=paths, query=queries, user=st.sampled_from(["carol.approver", "alice", "", "mallory"]), genuine=st.booleans()
)
def test_no_get_changes_any_state(
    api: tuple[ModuleType, ApprovalDeps, RecordingSfn, str],
    lambda_context: FixedLambdaContext,
    *,
    path: str,
    query: dict[str, str],
    user: str,
    genuine: bool,
) -> None:
    module, deps, sfn, link = api
    if genuine:  # also the genuine link, with its valid signature, and extra parameters such as decision=approve
        path, raw = link.split("127.0.0.1:1", 1)[1].split("?")
        query = {**query, **dict(part.split("=", 1) for part in raw.split("&"))}
    answer = module.lambda_handler(_event(path, query, user), lambda_context)
    # No identity (user "") means no session: a browser GET is sent to sign in (302), never served.
    assert answer["statusCode"] in ({302, 404, 405} if not user else {200, 403, 404, 405})
    if genuine and path.count("/") == 2 and user:
        assert answer["statusCode"] == 200, "the genuine link shows the evidence page"
    assert sfn.calls == []
    assert deps.store.get("A" * 32).status == "pending"
