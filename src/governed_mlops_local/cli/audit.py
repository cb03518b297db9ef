"""``mlops audit``: read and verify the tamper-evident audit ledger of the local runtime.

The group reads ``data_dir`` from the context object the main ``mlops`` group sets up, so it
works on whatever ``--data-dir`` / ``MLOPS_DATA_DIR`` names. Neither command writes anything:
in particular a missing HMAC key is reported, never silently created. ``verify --aws --stack NAME``
checks the deployed ledger instead (the stack's ``AuditBucketName``, digests checked with
``kms:VerifyMac`` on ``AuditMacKeyArn``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from governed_mlops.errors import AuditLedgerCorrupt
from governed_mlops_local.cli.aws import reading_stack, stack_options

if TYPE_CHECKING:
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger
    from governed_mlops.domain.audit import AuditRecord
    from governed_mlops.domain.audit_verification import VerificationResult

_COLUMNS = ("seq", "time", "actor", "action", "subject", "hash")


def _data_dir(obj: Any) -> Path:
    data_dir = getattr(obj, "data_dir", None)
    if data_dir is None:
        raise click.UsageError("no data directory: run this as `mlops audit ...`")
    return Path(data_dir)


def _ledger(data_dir: Path) -> tuple[LocalAuditLedger, bool]:
    """The ledger, and whether its signing key exists (reading records does not need it)."""
    # Imported here, not at the top: every `mlops` command loads this module to register `audit`.
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_key

    key = load_key(data_dir)
    # Without a key no digest can be checked; a throwaway one lets records still be read and
    # makes every existing digest fail verification, which is the truth.
    return LocalAuditLedger(data_dir, key or os.urandom(32)), key is not None


def _table(records: list[AuditRecord]) -> str:
    rows = [(str(r.sequence), r.time, r.actor, r.action, r.subject, r.record_hash[:12]) for r in records]
    widths = [max([len(title), *(len(row[i]) for row in rows)]) for i, title in enumerate(_COLUMNS)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [_COLUMNS, *rows]
    ]
    return "\n".join(lines)


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit ledger: who did what, hash-chained and signed."""


@audit.command("log")
@click.option("--json", "as_json", is_flag=True, help="Print the records as a JSON list.")
@click.option("--subject", default=None, help="Only records about this subject (execution name, model version).")
@click.pass_obj
def log(obj: Any, as_json: bool, subject: str | None) -> None:
    """Every recorded action, oldest first."""
    ledger, _ = _ledger(_data_dir(obj))
    try:
        records = ledger.records(subject=subject)
    except AuditLedgerCorrupt as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2, ensure_ascii=False))
    elif records:
        click.echo(_table(records))
    else:
        click.echo("no audit records" + (f" about {subject}" if subject else ""))


@audit.command("verify")
@stack_options
@click.pass_obj
def verify_command(obj: Any, aws: bool, region: str | None, profile: str | None, stack_name: str | None) -> None:
    """Recompute every hash and check every signature; exit 1 at the first problem (--aws: the deployed ledger)."""
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            _report(stack.audit_ledger().verify())
        return
    data_dir = _data_dir(obj)
    ledger, has_key = _ledger(data_dir)
    result = ledger.verify()
    if not has_key and result.digests:
        from governed_mlops.adapters.audit_ledger import KEY_FILE

        click.echo(
            f"ledger FAILED: {result.digests} digests exist but the key {data_dir / KEY_FILE} is missing, "
            "so no signature can be checked",
        )
        raise SystemExit(1)
    _report(result)


def _report(result: VerificationResult) -> None:
    """``ledger OK: ...`` or ``ledger FAILED at record #N: ...`` and exit 1."""
    if not result.ok:
        click.echo(f"ledger FAILED at record #{result.first_bad_sequence}: {result.problem}")
        raise SystemExit(1)
    coverage = f"last digest covers up to #{result.covered_up_to}" if result.digests else "no digest yet"
    click.echo(f"ledger OK: {result.records} records, {result.digests} digests, {coverage}")
    if result.note:
        click.echo(f"note: {result.note}")
