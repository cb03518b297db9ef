"""``mlops package-jobs``: the release step that template.yaml's ``TrainingSourceKey`` and ``ModelsPrefix`` name.

It builds the job scripts' deterministic ``sourcedir.tar.gz`` (the code version the lineage of a data-arrival
or drift run records; a push's run packs its own commit instead) and
uploads it with every model project's configuration (``models/<name>/config.yaml``) to the stack's
artifacts bucket, at the keys the stack was deployed with. Without ``--aws`` it only builds the
tarball, checks every configuration and prints what it would publish.

    mlops package-jobs --aws --stack governed-mlops-dev
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import click

from governed_mlops_local.cli.aws import echo, fail, reading_stack, stack_options

if TYPE_CHECKING:
    from governed_mlops_local.cli.context import Context

#: The template's defaults (parameters ModelsPrefix and TrainingSourceKey).
DEFAULT_MODELS_PREFIX = "models/"
DEFAULT_SOURCE_KEY = "code/sourcedir.tar.gz"


@click.command("package-jobs")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Publish only this model project's configuration (repeatable; default: every project in models/).",
)
@click.option(
    "--models-prefix", default=DEFAULT_MODELS_PREFIX, show_default=True, help="The stack's ModelsPrefix parameter."
)
@click.option(
    "--source-key", default=DEFAULT_SOURCE_KEY, show_default=True, help="The stack's TrainingSourceKey parameter."
)
@stack_options
@click.pass_obj
def package_jobs(
    obj: Context,
    models: tuple[str, ...],
    models_prefix: str,
    source_key: str,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Build the jobs' sourcedir.tar.gz and, with --aws, publish it and the model configurations to the stack."""
    from governed_mlops.errors import PipelineError
    from governed_mlops.model_projects import config_key, endpoint_owners, load_project, project_configs
    from governed_mlops_local.packaging import build_sourcedir

    project = obj.project_dir
    configs = project_configs(project)
    chosen = list(models) or list(configs)
    # The same checks the trigger applies: a configuration the pipeline would refuse is not published,
    # and two projects claiming one endpoint or registry group are refused together.
    try:
        specs = {name: load_project(project, name)[1] for name in chosen}
        endpoint_owners({name: load_project(project, name)[1] for name in configs})
    except PipelineError as exc:
        fail(f"{type(exc).__name__}: {exc}", code=2)
    if not specs:
        fail("no model project in models/: nothing to publish", code=2)
    tarball = build_sourcedir(project)
    digest = hashlib.sha256(tarball).hexdigest()
    echo(f"sourcedir.tar.gz  {len(tarball):,} bytes  sha256 {digest}")
    for name, spec in specs.items():
        echo(f"model {name}: endpoint {spec.endpoint_name}, group {spec.model_package_group}, {spec.risk_tier} risk")
    if not aws:
        echo("(not published: add --aws --stack NAME to upload it and the configurations)")
        return
    with reading_stack(stack_name, region, profile) as stack:
        store = stack.store()
        bucket = stack.artifacts_bucket
        code = store.put(bucket, source_key, tarball, "application/x-tar")
        published = [
            (name, store.put(bucket, config_key(models_prefix, name), configs[name].read_bytes(), "application/yaml"))
            for name in specs
        ]
    echo(f"published s3://{bucket}/{source_key} (version {code.ref.version_id})")
    for name, stored in published:
        echo(
            f"published s3://{bucket}/{stored.ref.key} (version {stored.ref.version_id}) from models/{name}/config.yaml"
        )
