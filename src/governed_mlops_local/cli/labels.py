"""``mlops labels upload FILE --endpoint NAME``: ground-truth outcomes for answers the endpoint gave.

The file is checked before anything is written (header ``inference_id,label``, ids of 1-64 printable
characters, no repeated id, no empty label; :func:`governed_mlops_ml.quality.parse_label_file`)
and stored under ``ground-truth/<endpoint>/`` of the artifacts bucket, where the next
``mlops monitor run`` joins it with the captured answers by inference id. Locally that is the data
directory's object store (no runtime is started); with ``--aws`` the stack's artifacts bucket,
encrypted with the stack's key by the bucket's default encryption.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import fail as aws_fail
from governed_mlops_local.cli.aws import reading_stack, stack_options

__all__ = ["label_key", "labels"]


def label_key(endpoint: str, data: bytes, now: datetime) -> str:
    """``ground-truth/<endpoint>/<UTC time>-<sha256[:12]>.csv``: uploads sort by time; a file is never overwritten."""
    from governed_mlops_ml.quality import GROUND_TRUTH_PREFIX  # scikit-learn: not on the CLI's start-up path

    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{GROUND_TRUTH_PREFIX.format(endpoint=endpoint)}{stamp}-{hashlib.sha256(data).hexdigest()[:12]}.csv"


@click.group("labels")
def labels() -> None:
    """Ground-truth labels for the endpoint's answers (model-quality monitoring)."""


@labels.command("upload")
@click.argument("label_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--endpoint", required=True, help="The endpoint whose answers the labels are for.")
@stack_options
@click.pass_obj
def upload_labels(
    obj: Any,
    label_file: Path,
    endpoint: str,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Check LABEL_FILE (CSV: inference_id,label) and store it for ENDPOINT's next monitoring run."""
    from governed_mlops_ml.quality import LabelFileError, parse_label_file

    fail = aws_fail
    try:
        data = label_file.read_bytes()
    except OSError as exc:
        fail(f"LabelFileError: cannot read {label_file}: {exc}", "give the path of a CSV file", code=2)
    try:
        parsed = parse_label_file(data, str(label_file))
    except LabelFileError as exc:
        fail(f"LabelFileError: {exc}", "nothing was stored; fix the file and upload it again", code=2)
    key = label_key(endpoint, data, datetime.now(UTC))
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            stored = stack.store().put(stack.artifacts_bucket, key, data, "text/csv")
    else:
        from governed_mlops.adapters.object_store import LocalObjectStore
        from governed_mlops_local.inventory import LOCAL_ARTIFACTS_BUCKET

        stored = LocalObjectStore(obj.data_dir).put(LOCAL_ARTIFACTS_BUCKET, key, data, "text/csv")
    aws_echo(f"stored {len(parsed)} labels for {endpoint}: {stored.ref.pinned_uri} (sha256 {stored.sha256[:12]})")
    aws_echo(f"the next monitoring run judges the model's answers against them: mlops monitor run {endpoint}")
