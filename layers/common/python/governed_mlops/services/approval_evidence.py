"""The evidence an approver sees (GET, read-only): the approval page, and its facts as JSON for `mlops approve`.

Changes nothing: the link is verified, the registry record and its stored reports are read, and the CSRF token of the
decision forms is given only to someone who may decide.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.config import parse_config
from governed_mlops.domain import approval as rules
from governed_mlops.domain.bias_plain import BiasFinding, bias_findings, facet_words
from governed_mlops.errors import ArtifactNotFoundError, ConfigError
from governed_mlops.models import ApprovalRecord, ModelVersion
from governed_mlops.reports.approval_page import EVIDENCE_REPORT, render_approval_page
from governed_mlops.reports.images import is_figure_key
from governed_mlops.services.approval import ApprovalDeps, verify_link_of


def _images(record: ModelVersion, objects: ObjectStore) -> dict[str, bytes]:
    return {name: objects.get(digest.ref) for name, digest in record.reports.items() if is_figure_key(digest.ref.key)}


def _json_report(record: ModelVersion, objects: ObjectStore, name: str) -> dict[str, Any] | None:
    digest = record.reports.get(name)
    return json.loads(objects.get(digest.ref)) if digest is not None else None


def _viewer_csrf_token(
    approval: ApprovalRecord, identity: rules.Identity, deps: ApprovalDeps, approver_group: str
) -> tuple[str | None, str | None]:
    """(CSRF token, None) for someone who may decide; (None, why not) for anyone else, who gets no forms."""
    why_not = rules.why_may_not_decide(
        identity,
        approver_group=rules.approver_group(approval, approver_group),
        originator=rules.originator_of(approval),
    )
    if why_not is not None:
        return None, why_not
    return rules.csrf_token(deps.secret.get(), approval.approval_id, identity.user), None


def evidence_page(
    approval_id: str,
    exp: str | None,
    sig: str | None,
    identity: rules.Identity,
    deps: ApprovalDeps,
    *,
    approver_group: str,
    now: datetime,
) -> str:
    """GET: verify the link and render the evidence, with Approve / Reject forms for those who may decide.

    Changes nothing. Anyone else (outside the model's approvers group — ``approver_group`` for requests
    made before risk tiers — or who triggered the run) is told why they may not decide and gets no
    forms and no CSRF token. Someone who already approved is offered only the Reject form.
    """
    approval = deps.store.get(approval_id)
    expires = verify_link_of(approval, exp, sig, deps, now)
    record = deps.registry.get(approval.model_version)
    token, why_not = _viewer_csrf_token(approval, identity, deps, approver_group)
    bias = {n: r for n in ("bias_pre", "bias_post") if (r := _json_report(record, deps.objects, n))}
    return render_approval_page(
        approval=approval,
        record=record,
        gates=_json_report(record, deps.objects, "gates"),
        bias=bias,
        explainability=_json_report(record, deps.objects, "explainability"),
        images=_images(record, deps.objects),
        csrf_token=token,
        may_not_decide=why_not,
        viewer=identity.user,
        link_query={"exp": str(expires or exp), "sig": sig or ""},
        viewer_approved=rules.has_approved(approval, identity.user) if identity.user else False,
        champion=_json_report(record, deps.objects, "champion_comparison"),
        evaluation=_json_report(record, deps.objects, "evaluation"),
        findings=_bias_findings(record, deps.objects, bias),
        evidence_report=_stored_report(record, deps.objects, EVIDENCE_REPORT),
        link_expired=expires is None,
    )


def _stored_report(record: ModelVersion, objects: ObjectStore, name: str) -> bytes | None:
    digest = record.reports.get(name)
    return objects.get(digest.ref) if digest is not None else None


def _bias_findings(record: ModelVersion, objects: ObjectStore, bias: dict[str, dict[str, Any]]) -> list[BiasFinding]:
    """The bias reports in plain language, worded and limited by the model's pinned configuration.

    The groups' words and the limits come from the configuration the version was trained with (its
    sha256 checked); should it be unreadable, the facets are called by name and the limits the
    reports carry are shown, and the page says nothing it cannot source.
    """
    if not bias:
        return []
    try:
        pinned = objects.get(record.config.ref)
        if hashlib.sha256(pinned).hexdigest() != record.config.sha256:
            raise ConfigError(f"{record.config.ref.pinned_uri} does not match its sha256 in the lineage")
        config = parse_config(pinned, source=record.config.ref.pinned_uri).bias
    except (ConfigError, ArtifactNotFoundError):
        config = None
    if config is None:
        return bias_findings(bias)
    groups = {facet.name: facet_words(facet) for facet in config.facets}
    return bias_findings(bias, groups=groups, thresholds=config.thresholds)


def evidence_summary(
    approval_id: str,
    exp: str | None,
    sig: str | None,
    identity: rules.Identity,
    deps: ApprovalDeps,
    *,
    approver_group: str,
    now: datetime,
) -> dict[str, Any]:
    """The evidence page's facts as JSON (for `mlops approve`): the CSRF token only for those who may decide."""
    approval = deps.store.get(approval_id)
    verify_link_of(approval, exp, sig, deps, now)
    record = deps.registry.get(approval.model_version)
    token, why_not = _viewer_csrf_token(approval, identity, deps, approver_group)
    summary: dict[str, Any] = {
        "approval": approval.model_dump(mode="json"),
        "model_version": record.model_version,
        "metrics": record.metrics,
        "trigger": record.trigger.model_dump(mode="json"),
        "may_decide": token is not None,
        "progress": rules.progress(approval),
        "policy": rules.policy_text(approval.approvals_required, approval.approvers_group, approval.risk_tier),
        "viewer_approved": rules.has_approved(approval, identity.user) if identity.user else False,
    }
    if token is not None:
        summary["csrf_token"] = token
    else:
        summary["why_not"] = why_not
    return summary
