"""Who uploaded a dataset: recorded from the upload's CloudTrail data event, read when approval is asked.

An S3 ``Object Created`` event starts the run, but names only the bucket owner's account, so
segregation of duties cannot tell who caused it. CloudTrail records the upload call with the
identity that signed it; EventBridge delivers that record (source ``aws.s3``, which no one but AWS
can put on a bus). The trigger keeps it in the audit bucket, whose Object Lock keeps it unchanged,
under a key derived from the object's bucket, key and version. Request Approval reads it back for
the run's pinned dataset: the uploader cannot approve alone. CloudTrail delivers within minutes,
before a run reaches approval; when the record is not there (yet), the run needs two approvers.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel

from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.domain import trigger as domain
from governed_mlops.domain.originator import Originator, resolve_cloudtrail_identity
from governed_mlops.errors import ArtifactNotFoundError
from governed_mlops.models import S3Ref
from governed_mlops.services.audit import AuditSink


class UploadEvidence(BaseModel):
    """The upload call behind a dataset version, and the person resolved from its identity."""

    bucket: str
    key: str
    version_id: str
    principal: str
    person: str | None
    evidence: str
    event_id: str
    event_time: datetime

    @property
    def originator(self) -> Originator:
        return Originator(self.principal, self.person, f"{self.evidence} (CloudTrail event {self.event_id})")


def record_upload(
    call: domain.UploadCall,
    *,
    trusted_roles: Collection[str],
    objects: ObjectStore,
    audit_bucket: str,
    audit: AuditSink,
) -> UploadEvidence:
    """Keep who wrote the object (idempotent: a redelivered event writes the same record)."""
    who = resolve_cloudtrail_identity(call.identity, trusted_roles)
    evidence = UploadEvidence(
        bucket=call.bucket,
        key=call.key,
        version_id=call.version_id,
        principal=who.principal,
        person=who.person,
        evidence=who.evidence,
        event_id=call.event_id,
        event_time=call.event_time,
    )
    body = evidence.model_dump_json(indent=1).encode()
    stored = objects.put(
        audit_bucket, domain.upload_evidence_key(call.bucket, call.key, call.version_id), body, "application/json"
    )
    subject = S3Ref(bucket=call.bucket, key=call.key, version_id=call.version_id).pinned_uri
    details = {"person": who.person or "", "evidence": who.evidence, "event_id": call.event_id}
    audit.append(who.principal, "data.uploaded", subject, details, {"upload_record": stored.sha256})
    return evidence


def find_upload(objects: ObjectStore, audit_bucket: str | None, data: S3Ref) -> UploadEvidence | None:
    """The recorded upload of the pinned dataset ``data``; None when its event has not been recorded."""
    if not data.version_id or not audit_bucket:
        return None
    key = domain.upload_evidence_key(data.bucket, data.key, data.version_id)
    try:
        raw = objects.get(S3Ref(bucket=audit_bucket, key=key))
    except ArtifactNotFoundError:
        return None
    found = UploadEvidence.model_validate(json.loads(raw))
    same = (found.bucket, found.key, found.version_id) == (data.bucket, data.key, data.version_id)
    return found if same else None
