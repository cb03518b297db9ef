"""Reaching the local server of a data directory: the one running, or one started in the background now."""

from __future__ import annotations

from typing import Any

from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context


def server_for(obj: Context, port: int | None = None) -> Any:
    """The server of this data directory: the running one, or one started now in the background and left running."""
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    serving = serving_runtime(obj.data_dir)
    if serving is not None:
        return serving
    try:
        wanted = local_server.configured_port(port)
        # An explicit port must be had; the default one, when taken (another data directory's server), need not.
        if port is None and wanted and not local_server.port_free(wanted):
            echo(f"port {wanted} is in use: the server takes any free port", err=True)
            wanted = 0
        echo(f"No local server serves {obj.data_dir}: starting one in the background ...")
        # Free a moment ago is no promise (a second terminal may be starting its own server now): the server
        # takes any free port if the default is gone by the time it binds.
        serving = local_server.start_in_background(
            obj.project_dir, obj.data_dir, wanted, any_port_if_taken=port is None
        )
    except local_server.LocalServerError as exc:
        fail(f"{type(exc).__name__}: {exc}", "start it yourself to see why: mlops serve")
    echo(
        f"Local server {serving.url} (pid {serving.pid}) keeps the links answering; "
        f"log {local_server.log_path(obj.data_dir)}; stop it with: mlops serve --stop"
    )
    return serving


def hand_over(obj: Context, serving: Any, user: str, action: str, **fields: Any) -> dict[str, Any]:
    from governed_mlops_local import local_server

    try:
        return local_server.hand_over(serving, user, action, **fields)
    except local_server.LocalServerError as exc:
        fail(f"{type(exc).__name__}: {exc}", f"the server's log: {local_server.log_path(obj.data_dir)}")


def running_server(obj: Context) -> Any:
    from governed_mlops_local import approval_client

    serving = approval_client.serving_runtime(obj.data_dir)
    if serving is None:
        fail(
            "no local runtime is serving the approval API for this data directory",
            "the run waiting for approval lives in the local server that ran it; see: mlops serve --status",
        )
    return serving
