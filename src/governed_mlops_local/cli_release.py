"""``mlops package-jobs``: the release step that template.yaml's ``TrainingSourceKey`` and ``ConfigKey`` name.

It builds the job scripts' deterministic ``sourcedir.tar.gz`` (the code version lineage records) and
uploads it with the pipeline configuration to the stack's artifacts bucket, at the keys the stack
was deployed with. Without ``--aws`` it only builds the tarball and prints its sha256.

    mlops package-jobs --aws --stack governed-mlops-dev --config config/german_credit.yaml
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from governed_mlops_local.cli_aws import echo, reading_stack, stack_options

if TYPE_CHECKING:
    from governed_mlops_local.cli import Context

#: The template's defaults for the two keys (parameters ConfigKey and TrainingSourceKey).
DEFAULT_CONFIG_KEY = "config/pipeline.yaml"
DEFAULT_SOURCE_KEY = "code/sourcedir.tar.gz"


@click.command("package-jobs")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The pipeline configuration to publish (default: config/german_credit.yaml).",
)
@click.option("--config-key", default=DEFAULT_CONFIG_KEY, show_default=True, help="The stack's ConfigKey parameter.")
@click.option(
    "--source-key", default=DEFAULT_SOURCE_KEY, show_default=True, help="The stack's TrainingSourceKey parameter."
)
@stack_options
@click.pass_obj
def package_jobs(
    obj: Context,
    config_path: Path | None,
    config_key: str,
    source_key: str,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Build the jobs' sourcedir.tar.gz and, with --aws, publish it and the configuration to the stack."""
    from governed_mlops.config import parse_config
    from governed_mlops_local.packaging import build_sourcedir

    project = obj.project_dir
    config_path = config_path or project / "config" / "german_credit.yaml"
    # The same checks the pipeline applies: a configuration the pipeline would refuse is not published.
    parse_config(config_path.read_text(encoding="utf-8"), source=str(config_path))
    tarball = build_sourcedir(project)
    digest = hashlib.sha256(tarball).hexdigest()
    echo(f"sourcedir.tar.gz  {len(tarball):,} bytes  sha256 {digest}")
    if not aws:
        echo("(not published: add --aws --stack NAME to upload it and the configuration)")
        return
    with reading_stack(stack_name, region, profile) as stack:
        store = stack.store()
        bucket = stack.artifacts_bucket
        code = store.put(bucket, source_key, tarball, "application/x-tar")
        config = store.put(bucket, config_key, config_path.read_bytes(), "application/yaml")
    echo(f"published s3://{bucket}/{source_key} (version {code.ref.version_id})")
    echo(f"published s3://{bucket}/{config_key} (version {config.ref.version_id}) from {config_path}")
