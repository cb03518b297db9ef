"""The model registry and inventory: ``models`` (and ``models versions``) and ``lineage``, local or --aws.

``models add`` (onboarding a dataset) is in :mod:`governed_mlops_local.cli.models_add`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from governed_mlops.errors import PipelineError
from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import reading_stack, stack_options
from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context
from governed_mlops_local.cli.models_add import models_add


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@stack_options
@click.pass_context
def models(
    ctx: click.Context, as_json: bool, aws: bool, region: str | None, profile: str | None, stack_name: str | None
) -> None:
    """The model inventory: every model project with tier, champion, endpoint, last run and monitoring.

    With --aws: every registered version of the stack's registry (as `mlops models versions`).
    Subcommands: `add` onboards a dataset, `versions` lists registered versions.
    """
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            records = stack.registry().list_versions()
        aws_echo(_models_text(records, as_json))
        return
    from governed_mlops_local.inventory import inventory, render

    echo(render(inventory(obj.project_dir, obj.data_dir), as_json))


@models.command("versions")
@click.option("--model", "model", default=None, help="Only this model's registry group.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def model_versions(obj: Context, model: str | None, as_json: bool) -> None:
    """Registered model versions with status and headline metrics."""
    from governed_mlops.adapters.model_registry import LocalModelRegistry
    from governed_mlops.model_projects import load_project

    records = LocalModelRegistry(obj.data_dir).list_versions()
    if model is not None:
        group = load_project(obj.project_dir, obj.model(model))[1].model_package_group
        records = [r for r in records if r.model_package_group == group]
    echo(_models_text(records, as_json))


def _models_text(records: list[Any], as_json: bool) -> str:
    if as_json:
        return json.dumps([r.model_dump(mode="json") for r in records], indent=2)
    if not records:
        return "No model versions registered yet."
    return "\n".join(
        f"{r.model_version:<20} {r.status:<24} auc={r.metrics.get('auc', float('nan')):.4f} "
        f"execution={r.execution_name} commit={r.code.commit_id[:12]}"
        for r in records
    )


@click.command()
@click.argument("model_version")
@click.option("--json", "as_json", is_flag=True, help="The full lineage record as JSON.")
@stack_options
@click.pass_obj
def lineage(
    obj: Context,
    model_version: str,
    as_json: bool,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """What produced this model: data, code, configuration, job, hyperparameters, metrics, approval."""
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            remote = stack.registry().get(model_version)
        aws_echo(_lineage_text(remote, as_json))
        return
    from governed_mlops.adapters.model_registry import LocalModelRegistry

    try:
        record = LocalModelRegistry(obj.data_dir).get(model_version)
    except PipelineError as exc:
        fail(str(exc))
    echo(_lineage_text(record, as_json))


def _lineage_text(record: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True)
    rows: list[tuple[str, str]] = [
        (
            "model version",
            f"{record.model_version}  [{record.status}]  registered {record.created_at:%Y-%m-%d %H:%M:%S}Z",
        ),
        ("model artifact", f"{record.model_artifact.ref.pinned_uri}  sha256 {record.model_artifact.sha256}"),
        ("execution", f"{record.execution_name}  (ASL sha256 {record.definition_sha256 or '-'})"),
        (
            "trigger",
            f"{record.trigger.kind} by {record.trigger.principal} at {record.trigger.event_time:%Y-%m-%d %H:%M:%S}Z "
            f"(event {record.trigger.event_id})",
        ),
        ("data", f"{record.data.ref.pinned_uri}  sha256 {record.data.sha256}  ({record.data.size} bytes)"),
        ("code", f"{record.code.repository}@{record.code.branch} commit {record.code.commit_id}"),
        ("job code", f"sourcedir sha256 {record.source_sha256}"),
        ("config", f"{record.config.ref.pinned_uri}  sha256 {record.config.sha256}"),
        ("training job", f"{record.training_job_name} on {record.training_image}"),
        (
            "hyperparameters",
            ", ".join(f"{k}={v}" for k, v in sorted(record.hyperparameters.items()) if not k.startswith("sagemaker_")),
        ),
        ("seed", str(record.seed)),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(record.library_versions.items()))),
        ("metrics", ", ".join(f"{k}={v:.4f}" for k, v in sorted(record.metrics.items()))),
    ]
    rows += [(f"report {name}", f"{d.ref.uri}  sha256 {d.sha256}") for name, d in sorted(record.reports.items())]
    if record.approval is not None:
        a = record.approval
        rows.append(("approval", f"{a.decision} by {a.decided_by} at {a.decided_at:%Y-%m-%d %H:%M:%S}Z  {a.reason}"))
    rows += [("deployment", ", ".join(f"{k}={v}" for k, v in d.items())) for d in record.deployments]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


models.add_command(models_add)
