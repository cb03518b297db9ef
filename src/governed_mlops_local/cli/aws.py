"""The CLI side of ``--aws``: the options every read command shares, and how it reports AWS errors.

A command takes ``--aws --region --profile --stack`` with :func:`stack_options` and, when ``aws``
is set, reads the deployed stack through :func:`connect` (see :mod:`governed_mlops_local.aws_stack`)::

    @stack_options
    def models(obj, as_json, aws, region, profile, stack_name):
        if aws:
            with reading_stack(stack_name, region, profile) as stack:
                records = stack.registry().list_versions()

Output goes through click (``sys.stdout`` / ``sys.stderr``): with ``--aws`` no local runtime runs in
the process, so nothing needs the console routing of :func:`governed_mlops_local.cli.console.echo`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from governed_mlops.errors import PipelineError
from governed_mlops_local.project import STACK_ENV

if TYPE_CHECKING:
    from governed_mlops_local.aws_stack import StackResources

#: What an ``--aws`` command exits with when the stack, its outputs, credentials or the named item are missing.
EXIT_AWS_ERROR = 2


def aws_flag_options() -> list[Callable[[Any], Any]]:
    """``--aws``, ``--region`` and ``--profile`` (``history`` and ``redrive`` add ``--state-machine-arn``)."""
    return [
        click.option("--aws", is_flag=True, help="Read the deployed stack in AWS instead of the local runtime."),
        click.option("--region", default=None, help="With --aws: the region (default: the profile's)."),
        click.option("--profile", default=None, help="With --aws: the AWS profile (default: boto3's)."),
    ]


def stack_option() -> Callable[[Any], Any]:
    return click.option(
        "--stack",
        "stack_name",
        default=None,
        metavar="NAME",
        help=f"With --aws: the CloudFormation stack (default: ${STACK_ENV}).",
    )


def stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--aws --region --profile --stack``; the command receives ``aws``, ``region``, ``profile``, ``stack_name``."""
    for option in reversed([*aws_flag_options(), stack_option()]):
        command = option(command)
    return command


def echo(text: str = "", *, err: bool = False, **style: Any) -> None:
    click.secho(text, err=err, **style)


def fail(message: str, hint: str = "", code: int = EXIT_AWS_ERROR) -> NoReturn:
    echo(f"error: {message}", err=True, fg="red")
    if hint:
        echo(f"  {hint}", err=True)
    raise SystemExit(code)


def connect(stack_name: str | None, region: str | None, profile: str | None) -> StackResources:
    """The stack's resources, or the named error printed and exit 2."""
    # boto3 and the AWS adapters load only when --aws is given: the local reads stay fast.
    from governed_mlops_local.aws_stack import StackResources

    try:
        return StackResources.connect(stack_name, region=region, profile=profile)
    except PipelineError as exc:
        fail(f"{type(exc).__name__}: {exc}")


@contextmanager
def reading_stack(stack_name: str | None, region: str | None, profile: str | None) -> Iterator[StackResources]:
    """:func:`connect`, then any named error (or botocore error) inside the block printed as one line, exit 2."""
    from governed_mlops_local.aws_stack import aws_errors

    stack = connect(stack_name, region, profile)
    try:
        with aws_errors(f"stack {stack.name!r}"):
            yield stack
    except PipelineError as exc:
        fail(f"{type(exc).__name__}: {exc}")
