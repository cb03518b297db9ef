"""What the use cases need of the audit ledger (adapters/audit_ledger.py implements it)."""

from __future__ import annotations

from typing import Any, Protocol


class AuditSink(Protocol):
    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> Any: ...

    def seal(self) -> Any:
        """Cover every record so far with a signed digest and move the chain head anchor to it.

        Called after the record of an execution's end and of an approval decision, so the ledger
        has no unsealed tail once nothing is running (``digest_every`` stays the cadence between).
        """
        ...


class NullAudit:
    """For unit tests of a use case that do not look at the ledger."""

    def append(
        self,
        actor: str,  # noqa: ARG002
        action: str,  # noqa: ARG002
        subject: str,  # noqa: ARG002
        details: dict[str, Any] | None = None,  # noqa: ARG002
        evidence: dict[str, str] | None = None,  # noqa: ARG002
    ) -> Any:
        return None

    def seal(self) -> Any:
        return None
