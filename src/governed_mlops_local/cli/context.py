"""What every local command is given (``ctx.obj``): the project, its data directory, and how to reach them."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from governed_mlops.errors import PipelineError
from governed_mlops_local.cli.console import fail


class Context:
    def __init__(self, project_dir: Path, data_dir: Path) -> None:
        self.project_dir = project_dir
        self.data_dir = data_dir

    @contextmanager
    def runtime(self, *, user: str | None = None, port: int = 0, any_port_if_taken: bool = False) -> Iterator[Any]:
        from governed_mlops_local.runtime import LocalRuntime

        with LocalRuntime(
            self.project_dir,
            self.data_dir,
            local_user=user or os_user(),
            port=port,
            any_port_if_taken=any_port_if_taken,
        ) as runtime:
            yield runtime

    def model(self, name: str | None) -> str:
        """The model a command is about: ``--model NAME``, or the only model project there is."""
        from governed_mlops.errors import UnknownModelError
        from governed_mlops.model_projects import load_project, project_configs

        projects = project_configs(self.project_dir)
        if name is None:
            if len(projects) == 1:
                return next(iter(projects))
            if not projects:
                fail(
                    "no model project in models/",
                    "create one: mlops models add NAME --data FILE --target COLUMN --positive-label VALUE",
                )
            fail(f"there are {len(projects)} models ({', '.join(projects)}): say which with --model NAME")
        try:
            load_project(self.project_dir, name)
        except UnknownModelError as exc:
            fail(f"UnknownModelError: {exc}")
        except PipelineError as exc:
            fail(f"{type(exc).__name__}: {exc}", f"fix models/{name}/config.yaml")
        return name


def os_user() -> str:
    return getpass.getuser() or "local-user"


def execution_store(obj: Context) -> Any:
    """The executions of the data directory, read from disk without starting the runtime."""
    from governed_mlops_local.executions import ExecutionStore

    return ExecutionStore(obj.data_dir)
