"""``mlops reproduce MODEL_VERSION``: retrain a registered model from its lineage and compare.

Exit status: 0 when the new model artifact's sha256 and every re-evaluated metric are identical to
the registered ones (and the pinned inputs are unchanged), 1 on any difference (including a lineage
whose commit packs to another job code sha256: refused before anything is trained), 2 when the model
version does not exist, its commit cannot be read (or the state machine has no train/evaluate
states to mirror). The comparison
is printed field by field (``--json``: the whole report).

``--aws --stack NAME`` reproduces a version of the deployed stack on this machine: the lineage from the
stack's registry, the job templates from its deployed state machine, the pinned data, configuration
and job code from S3 by version id; the jobs run in the local SageMaker emulator (the code path of
the local command) and everything they write stays under ``<data dir>/aws/<stack>/reproduce``.
Nothing is written to the stack (no audit record: the deployed ledger is the functions').
"""

from __future__ import annotations

import getpass
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from governed_mlops_local.cli.aws import reading_stack, stack_options

if TYPE_CHECKING:
    from governed_mlops_local.services.reproduce import FieldCheck, ReproductionReport

#: The state machine whose "Train Model" / "Evaluate Model" states the reproduction mirrors.
PIPELINE_LOGICAL_ID = "TrainingPipeline"


def _paths(obj: Any) -> tuple[Path, Path]:
    project_dir, data_dir = getattr(obj, "project_dir", None), getattr(obj, "data_dir", None)
    if project_dir is None or data_dir is None:
        raise click.UsageError("no project or data directory: run this as `mlops reproduce ...`")
    return Path(project_dir), Path(data_dir)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return repr(value) if isinstance(value, float) else str(value)


def _mark(check: FieldCheck) -> str:
    if not check.checked:
        return "·"
    return "✓" if check.ok else "✗"


def render_table(report: ReproductionReport) -> str:
    """``mark  field  expected  actual``, one line per field, columns aligned."""
    rows = [("", "FIELD", "EXPECTED (registered)", "ACTUAL (reproduced)")]
    rows += [(_mark(f), f.name, _cell(f.expected), _cell(f.actual)) for f in report.fields]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{mark:<{widths[0]}}  {name:<{widths[1]}}  {expected:<{widths[2]}}  {actual}".rstrip()
        for mark, name, expected, actual in rows
    )


def summary(report: ReproductionReport) -> str:
    """One line: reproduced, or which fields differ and why nothing more was compared."""
    if report.ok:
        metrics = sum(1 for f in report.fields if f.name.startswith("metrics."))
        return f"REPRODUCED: model artifact sha256 and {metrics} metrics identical"
    differing = ", ".join(f.name for f in report.mismatches) or "none compared"
    line = f"NOT REPRODUCED: {len(report.mismatches)} field(s) differ: {differing}"
    if report.unchecked:
        line += f"; {len(report.unchecked)} not compared"
    return line + (f"\n  {report.reason}" if report.reason else "")


@click.command("reproduce")
@click.argument("model_version")
@click.option("--json", "as_json", is_flag=True, help="Print the reproduction report as JSON.")
@stack_options
@click.pass_obj
def reproduce(
    obj: Any,
    model_version: str,
    as_json: bool,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Retrain MODEL_VERSION from its lineage alone and compare artifact sha256 and metrics.

    Uses the pinned data, configuration and job code (by version id, checked by sha256), the recorded
    hyperparameters, seed and training image; exits 0 only if everything is identical. With --aws the
    version is the deployed stack's, retrained here from its S3 objects.
    """
    if aws:
        _reproduce_from_stack(obj, model_version, as_json, stack_name, region, profile)
        return
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
    from governed_mlops.adapters.code_repository import LocalCodeCommit
    from governed_mlops.adapters.model_registry import LocalModelRegistry
    from governed_mlops.errors import (
        ConfigError,
        ModelVersionNotFoundError,
        PipelineError,
        RepositoryNotFoundError,
        SourceMismatchError,
    )
    from governed_mlops_local.runtime import LocalRuntime
    from governed_mlops_local.services.reproduce import JobTemplates, check_source_commit
    from governed_mlops_local.services.reproduce import reproduce as reproduce_model

    project_dir, data_dir = _paths(obj)
    try:
        record = LocalModelRegistry(data_dir).get(model_version)
    except ModelVersionNotFoundError as exc:
        click.secho(f"error: {exc}", err=True, fg="red")
        raise SystemExit(2) from exc
    sources = LocalCodeCommit(data_dir)
    try:  # before the runtime starts: a refused lineage retrains nothing
        check_source_commit(record, sources)
    except (SourceMismatchError, RepositoryNotFoundError, ConfigError) as exc:
        _refuse(exc)
    user = getpass.getuser() or "local-user"
    started = time.perf_counter()
    # The runtime publishes the current configuration and job code as it starts; the reproduction
    # reads only the versions the record pins, so that cannot change what is retrained.
    with LocalRuntime(project_dir, data_dir, serve_http=False, local_user=user) as runtime:
        machine = runtime.template.state_machines.get(PIPELINE_LOGICAL_ID)
        try:
            if machine is None:
                raise ConfigError(f"template.yaml has no state machine {PIPELINE_LOGICAL_ID}")
            templates = JobTemplates.from_definition(machine.definition)
        except PipelineError as exc:  # the deployment, not the model, is wrong: nothing was compared
            click.secho(f"error: {exc}", err=True, fg="red")
            raise SystemExit(2) from exc
        report = reproduce_model(
            record,
            store=runtime.store,
            sagemaker=runtime.sagemaker,
            artifacts_bucket=runtime.template.buckets["ArtifactsBucket"].name,
            templates=templates,
            now=datetime.now(UTC),
            ledger=LocalAuditLedger(data_dir, load_or_create_key(data_dir)),
            actor=user,
            sources=sources,
        )
    _print(report, as_json, time.perf_counter() - started, report.artifacts_prefix)


def _refuse(exc: Exception) -> None:
    """A lineage whose commit and job code disagree (1), or whose commit cannot be read (2)."""
    from governed_mlops.errors import SourceMismatchError

    click.secho(f"refused: {type(exc).__name__}: {exc}", err=True, fg="red")
    raise SystemExit(1 if isinstance(exc, SourceMismatchError) else 2) from exc


def _print(report: ReproductionReport, as_json: bool, seconds: float, where: str) -> None:
    """The report (table and summary, or JSON), then exit 0 if reproduced, else 1."""
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        jobs = ", ".join(j for j in (report.training_job_name, report.processing_job_name) if j) or "no jobs run"
        click.echo(f"reproduce {report.model_version} ({jobs}); inputs and report under {where}")
        click.echo(render_table(report))
        click.secho(summary(report) + f" ({seconds:.1f}s)", fg="green" if report.ok else "red")
    raise SystemExit(0 if report.ok else 1)


def _reproduce_from_stack(
    obj: Any, model_version: str, as_json: bool, stack_name: str | None, region: str | None, profile: str | None
) -> None:
    from governed_mlops.adapters.code_repository import CodeCommitRepository
    from governed_mlops.adapters.object_store import LocalObjectStore
    from governed_mlops.errors import ConfigError, RepositoryNotFoundError, SourceMismatchError
    from governed_mlops.models import S3Ref
    from governed_mlops_local.aws_stack import LocalCopyStore
    from governed_mlops_local.sagemaker import SageMakerEmulator
    from governed_mlops_local.services.reproduce import JobTemplates, check_source_commit
    from governed_mlops_local.services.reproduce import reproduce as reproduce_model

    _, data_dir = _paths(obj)
    started = time.perf_counter()
    with reading_stack(stack_name, region, profile) as stack:
        record = stack.registry().get(model_version)
        # The operator's credentials read the commit from the stack's CodeCommit repository.
        sources = CodeCommitRepository(stack.client("codecommit"))
        try:
            check_source_commit(record, sources)
        except (SourceMismatchError, RepositoryNotFoundError, ConfigError) as exc:
            _refuse(exc)
        # The deployed definition, substitutions applied: the jobs are built as the stack builds them.
        templates = JobTemplates.from_definition(stack.executions().definition(stack.pipeline_arn))
        work = data_dir / "aws" / stack.name / "reproduce"
        local = LocalObjectStore(work)
        report = reproduce_model(
            record,
            store=LocalCopyStore(local, stack.store()),
            sagemaker=SageMakerEmulator(work, local),
            artifacts_bucket=stack.artifacts_bucket,
            templates=templates,
            now=datetime.now(UTC),
            ledger=None,
            actor=getpass.getuser() or "local-user",
            sources=sources,
        )
    stored = S3Ref.from_uri(report.artifacts_prefix + "report.json")
    _print(report, as_json, time.perf_counter() - started, str(local.mirror_path(stored.bucket, stored.key).parent))
