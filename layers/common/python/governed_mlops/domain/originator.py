"""Who caused a run, from evidence an engineer cannot choose (pure).

Segregation of duties needs the *person* behind a push or an upload. The principal an event carries
is not always one:

- an IAM user (``arn:aws:iam::<account>:user/<path>/<name>``): IAM authenticated that user; the
  person is the user name;
- an IAM Identity Center session (``arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<set>_<id>/<name>``):
  Identity Center names the session after the signed-in user, which the user cannot change; the
  person is that name;
- any other assumed role (``.../assumed-role/<role>/<session>``): the session name is whatever the
  caller passed to ``AssumeRole``; it proves nothing about who they are;
- an account id, the account root, a service or a ``system:`` principal: not a person;
- locally (a plain name: the pusher or uploader the local runtime recorded): that person.

A data arrival's S3 event names only the bucket owner's account. The person comes from the
upload's CloudTrail data event instead (:func:`resolve_cloudtrail_identity`): its ``userIdentity``
is the signed principal, and for a role whose trust policy requires it (a parameter of the stack
lists those roles), the ``sts:SourceIdentity`` set when the engineer signed in through the identity
provider, which no session can change afterwards.

When no person can be resolved, the approval policy asks two distinct approvers (four-eyes) so that
whoever caused the run cannot approve it alone, and the approval page says why.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FOUR_EYES", "Originator", "resolve_cloudtrail_identity", "resolve_originator"]

#: Distinct approvers a run needs when no person can be resolved as its originator.
FOUR_EYES = 2

_IAM_USER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:user/(?:[^/]+/)*(?P<name>[^/]+)$")
_IDENTITY_CENTER = re.compile(
    r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/(?:aws-reserved/sso\.amazonaws\.com/(?:[^/]+/)?)?"
    r"AWSReservedSSO_[^/]+/(?P<name>[^/]+)$"
)
_ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)$")
_ROOT = re.compile(r"^(?:\d{12}|arn:aws[a-z-]*:iam::\d{12}:root)$")
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


@dataclass(frozen=True)
class Originator:
    """The principal an event named, the person resolved from it (None: none can be), and how."""

    principal: str
    person: str | None
    evidence: str

    @property
    def resolved(self) -> bool:
        return self.person is not None


def resolve_originator(principal: str) -> Originator:  # noqa: PLR0911 - one return per principal form (IAM user, Identity Center, assumed role, root, platform, local)
    """The person behind ``principal`` (lower case), or why none can be resolved."""
    text = principal.strip()
    if match := _IAM_USER.match(text):
        return Originator(text, match["name"].lower(), "IAM user (authenticated by IAM)")
    if match := _IDENTITY_CENTER.match(text):
        return Originator(text, match["name"].lower(), "IAM Identity Center session (named by Identity Center)")
    if match := _ASSUMED_ROLE.match(text):
        return Originator(
            text,
            None,
            f"assumed role {match['role']}: its session name {match['session']!r} is chosen by the caller, "
            "not verified",
        )
    if _ROOT.match(text):
        return Originator(text, None, "an AWS account, not a person")
    if text.startswith("system:"):
        return Originator(text, None, "started by the platform (no person)")
    if text.startswith("arn:"):
        return Originator(text, None, "not a user or an Identity Center session")
    if _LOCAL_NAME.match(text):
        return Originator(text, text.lower(), "local user (the runtime's pusher or uploader)")
    return Originator(text, None, "no principal a person can be resolved from")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def resolve_cloudtrail_identity(
    identity: Mapping[str, Any], trusted_source_identity_roles: Collection[str]
) -> Originator:
    """The person behind a CloudTrail ``userIdentity`` (an upload's data event).

    ``trusted_source_identity_roles``: ARNs of the roles whose trust policy requires
    ``sts:SourceIdentity`` to equal the identity provider's user name; only their sessions' source
    identity names a person. Otherwise the principal's ARN is resolved as any other.
    """
    arn = str(identity.get("arn") or "")
    context = _mapping(identity.get("sessionContext"))
    source = str(context.get("sourceIdentity") or "")
    role = str(_mapping(context.get("sessionIssuer")).get("arn") or "")
    if source and role in trusted_source_identity_roles:
        if not _LOCAL_NAME.match(source):
            return Originator(arn, None, f"source identity {source!r} is not a user name")
        return Originator(
            arn, source.lower(), f"sts:SourceIdentity, which role {role.rsplit('/', 1)[-1]} requires at sign-in"
        )
    resolved = resolve_originator(arn or str(identity.get("accountId") or ""))
    if source and not resolved.resolved:
        why = f"{resolved.evidence}; its source identity {source!r} is not trusted (role not listed)"
        return Originator(resolved.principal, None, why)
    return resolved
