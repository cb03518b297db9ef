"""Wiring of the approval use cases from settings (shared by the three approval functions)."""

from __future__ import annotations

from functools import partial

from governed_mlops.adapters import factory
from governed_mlops.services.approval import ApprovalDeps
from governed_mlops.services.uploads import find_upload
from governed_mlops.settings import ApprovalSettings


def build(settings: ApprovalSettings) -> ApprovalDeps:
    objects = factory.object_store(settings)
    return ApprovalDeps(
        store=factory.approval_store(
            settings, settings.approvals_table, retention_days=settings.approval_retention_days
        ),
        registry=factory.model_registry(settings, settings.registry_table),
        objects=objects,
        secret=factory.signing_secret(settings, settings.signing_secret_id),
        notifier=factory.notifier(settings, settings.approval_topic_arn),
        sfn=factory.client("stepfunctions", settings),
        audit=factory.audit_ledger(settings),
        uploads=partial(find_upload, objects, settings.audit_bucket),
    )
