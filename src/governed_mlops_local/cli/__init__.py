"""``mlops``: the command line for engineers and on-call staff (local runtime by default).

One module per command group; the shared pieces are :mod:`.context` (what every command is given),
:mod:`.console` (output and errors), :mod:`.aws` (``--aws`` options and errors) and :mod:`.progress`
(following runs). Importing the CLI loads no scientific library and no runtime: each command imports
what it needs when it runs, so ``mlops --help`` and the read commands answer at once.
"""

from __future__ import annotations

from pathlib import Path

import click

# The command modules are imported as modules, never their commands by name: a name bound here would hide the
# submodule of the same name (``governed_mlops_local.cli.monitor`` must stay the module, not the ``monitor`` group).
from governed_mlops_local.cli import (
    approvals,
    audit,
    demo,
    deploy,
    executions,
    explain,
    githook,
    labels,
    models,
    monitor,
    pipeline,
    release,
    reproduce,
    serve,
    ui,
)
from governed_mlops_local.cli.console import fail
from governed_mlops_local.cli.context import Context

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MLOPS_DATA_DIR",
    default=None,
    help="Where the local runtime keeps its state (default: .mlops in the project).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Governed MLOps: the AWS training pipeline, run locally from the same template and ASL."""
    from governed_mlops_local.project import find_project_dir

    try:
        project = find_project_dir()
    except FileNotFoundError as exc:
        fail(str(exc))
    ctx.obj = Context(project, (data_dir or project / ".mlops").resolve())


for _command in (
    # running the pipeline
    pipeline.upload,
    pipeline.trigger,
    pipeline.redrive,
    pipeline.abandon,
    demo.demo,
    serve.serve,
    # reading state
    executions.executions,
    executions.history,
    models.models,
    models.lineage,
    approvals.approvals,
    # manual approval
    approvals.approve,
    approvals.reject,
    # feature areas
    audit.audit,
    ui.ui,
    deploy.deploy_params,
    explain.explain,
    githook.git_hook,
    monitor.monitor,
    monitor.endpoints,
    monitor.invoke,
    labels.labels,
    reproduce.reproduce,
    release.package_jobs,
):
    main.add_command(_command)
