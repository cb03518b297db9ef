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

When no person can be resolved, the approval policy asks two distinct approvers (four-eyes) so that
whoever caused the run cannot approve it alone, and the approval page says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FOUR_EYES", "Originator", "resolve_originator"]

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


def resolve_originator(principal: str) -> Originator:
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
