"""How the CLI speaks to a person: a line on the real console, or an error with a hint and exit 2.

Handlers' logs are routed to ``.mlops/logs`` while a local runtime runs in the process, so these write to
``sys.__stdout__`` / ``sys.__stderr__``: the console gets only what is meant for a person. (The ``--aws``
commands run no runtime and write through click: :mod:`governed_mlops_local.cli.aws`.)
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


def echo(text: str = "", *, err: bool = False, **style: Any) -> None:
    stream = sys.__stderr__ if err else sys.__stdout__
    click.secho(text, file=stream, **style)


def fail(message: str, hint: str = "") -> NoReturn:
    """``error: message`` in red (and the hint under it) on stderr, then exit 2."""
    echo(f"error: {message}", err=True, fg="red")
    if hint:
        echo(f"  {hint}", err=True)
    raise SystemExit(2)


def short_cause(cause: str | None) -> str:
    """A failure's cause as one readable line: a Lambda error's message, a job's FailureReason, else as it is."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("FailureReason") or cause)
    return cause
