"""``mlops git-hook``: a local git remote whose pushes reach the pipeline as CodeCommit events.

Registered in :mod:`governed_mlops_local.cli` with ``main.add_command(git_hook)``. ``install`` creates a
bare repository (or uses ``--remote PATH``) with a ``post-receive`` hook; see :mod:`governed_mlops_local.git_hook`
for the event it sends and how the pusher is named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from governed_mlops.errors import ConfigError
from governed_mlops_local.git_hook import PUSHER_VARIABLE, install

_FALLBACK_REPOSITORY = "model-projects"
_FALLBACK_BRANCH = "main"


def _template_defaults(project_dir: Path) -> tuple[str, str]:
    """The repository and branch the template's push rule watches (CodeRepositoryName, MainBranch defaults)."""
    # Only the Parameters section: loading the whole local runtime (moto) would take seconds.
    from samtranslator.yaml_helper import yaml_parse

    try:
        parameters = yaml_parse((project_dir / "template.yaml").read_text(encoding="utf-8")).get("Parameters") or {}
    except (OSError, ValueError):
        parameters = {}

    def default(name: str, fallback: str) -> str:
        value = (parameters.get(name) or {}).get("Default")
        return value if isinstance(value, str) and value else fallback

    return default("CodeRepositoryName", _FALLBACK_REPOSITORY), default("MainBranch", _FALLBACK_BRANCH)


@click.group("git-hook")
def git_hook() -> None:
    """A local git remote that sends CodeCommit push events to the local runtime."""


@git_hook.command("install")
@click.option(
    "--remote",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository to install into (created bare if missing; default: <data dir>/git/<name>.git).",
)
@click.option(
    "--repository-name",
    default=None,
    help="CodeCommit repository name in the events (default: the template's CodeRepositoryName).",
)
@click.option(
    "--branch",
    default=None,
    help="Default branch of a new repository (default: the template's MainBranch).",
)
@click.pass_obj
def install_command(obj: Any, remote: Path | None, repository_name: str | None, branch: str | None) -> None:
    """Create the repository (or reuse it) and (re)write its post-receive hook."""
    watched_repository, watched_branch = _template_defaults(obj.project_dir)
    repository_name = repository_name or watched_repository
    branch = branch or watched_branch
    try:
        done = install(
            data_dir=obj.data_dir,
            project_dir=obj.project_dir,
            repository_name=repository_name,
            branch=branch,
            remote=remote,
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'Created' if done.created else 'Using'} repository {done.repository}")
    click.echo(f"Installed {done.hook} (repository {repository_name}, id {done.repository_id})")
    if done.backup is not None:
        click.echo(f"The hook that was there is kept as {done.backup}")
    if repository_name != watched_repository or branch != watched_branch:
        click.secho(
            f"note: the template's rule watches {watched_repository}@{watched_branch}; "
            f"pushes here ({repository_name}@{branch}) will start nothing",
            fg="yellow",
        )
    click.echo("\nAdd it as a remote and push:")
    click.echo(f"  git remote add mlops {done.repository}")
    click.echo(f"  {PUSHER_VARIABLE}=<your IAM user name> git push mlops HEAD:{watched_branch}")
    click.echo(f"The pusher is ${PUSHER_VARIABLE} if set, else your OS user; follow runs with: mlops executions")
