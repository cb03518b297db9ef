"""``mlops deploy-params``: the region's SageMaker images as ``sam deploy`` parameter overrides.

Usage: ``sam deploy --config-env dev $(mlops deploy-params --region eu-west-1)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from governed_mlops.errors import ConfigError
from governed_mlops_local.deploy_params import (
    SDK_PYTHON,
    image_specs,
    parameter_overrides,
    resolve_images,
    template_parameters,
)


def _project_dir(ctx: click.Context) -> Path:
    # Under the `mlops` group the root context knows the project; run alone, the working directory.
    return Path(getattr(ctx.find_root().obj, "project_dir", None) or Path.cwd())


@click.command("deploy-params")
@click.option("--region", required=True, envvar="AWS_REGION", help="Region to deploy to (default: $AWS_REGION).")
@click.option(
    "--processing-framework",
    type=click.Choice(["xgboost", "sklearn"]),
    default="xgboost",
    show_default=True,
    help="Image of the evaluation (processing) job; the evaluation script needs XGBoost.",
)
@click.option(
    "--sdk-python",
    type=click.Path(path_type=Path),
    envvar="MLOPS_SAGEMAKER_SDK_PYTHON",
    default=None,
    help=f"Interpreter of the SageMaker SDK tool environment (default: <project>/{SDK_PYTHON}).",
)
@click.pass_context
def deploy_params(ctx: click.Context, region: str, processing_framework: str, sdk_python: Path | None) -> None:
    """Print --parameter-overrides with the SageMaker image URIs for REGION (make deploy-tools first)."""
    project = _project_dir(ctx)
    try:
        images = resolve_images(
            region, image_specs(processing_framework), sdk_python=sdk_python or project / SDK_PYTHON
        )
        overrides, skipped = parameter_overrides(images, template_parameters(project / "template.yaml"))
    except ConfigError as exc:
        click.secho(f"error: {exc}", file=sys.stderr, fg="red")
        raise SystemExit(2) from exc
    for name in skipped:
        # Resolved for the states that will use them; the template does not declare them yet.
        click.echo(f"note: template.yaml has no {name} parameter; {name}={images[name]} left out", err=True)
    click.echo(overrides)
