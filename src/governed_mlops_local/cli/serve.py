"""``mlops serve``: the long-lived local server every link points at (foreground, --background, --status, --stop)."""

from __future__ import annotations

import signal
import time
from typing import Any

import click

from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context
from governed_mlops_local.cli.progress import approval_watcher


@click.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: $MLOPS_PORT, else 8765).")
@click.option("--as", "user", default=None, help="The local user the pages act as (default: the OS user).")
@click.option(
    "--background", is_flag=True, help="Start detached (output in <data dir>/logs/serve.log); return once it serves."
)
@click.option(
    "--any-port-if-taken", is_flag=True, hidden=True, help="Take any free port if --port is held when binding."
)
@click.option("--status", "show_status", is_flag=True, help="Which server serves this data directory (exit 1 if none).")
@click.option("--stop", is_flag=True, help="Stop the server of this data directory and wait until it has exited.")
@click.pass_obj
def serve(
    obj: Context,
    port: int | None,
    user: str | None,
    background: bool,
    any_port_if_taken: bool,
    show_status: bool,
    stop: bool,
) -> None:
    """Run the local runtime as the long-lived server every link points at: approval pages and API, history
    pages, endpoints; `upload`, `trigger` and `redrive` hand their work to it."""
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    if background + show_status + stop > 1:
        fail("--background, --status and --stop exclude each other")
    if show_status or stop:
        stale = local_server.stale_runtime_json(obj.data_dir)
        if stale is not None:
            echo(f"removed a stale runtime.json: its process (pid {stale or '?'}) is gone", fg="yellow")
    if show_status:
        _serve_status(obj)
        return
    if stop:
        try:
            stopped = local_server.stop(obj.data_dir)
        except local_server.LocalServerError as exc:
            fail(f"{type(exc).__name__}: {exc}")
        echo(f"stopped {stopped.url} (pid {stopped.pid})" if stopped else f"no local server serves {obj.data_dir}")
        return
    running = serving_runtime(obj.data_dir)
    if running is not None:
        fail(
            f"{running.url} (pid {running.pid}) already serves {obj.data_dir}",
            "see it with: mlops serve --status; stop it with: mlops serve --stop",
        )
    try:
        port = local_server.configured_port(port)
        if port and not any_port_if_taken and not local_server.port_free(port):
            raise local_server.LocalServerError(f"port {port} is in use on 127.0.0.1")
        if background:
            serving = local_server.start_in_background(
                obj.project_dir, obj.data_dir, port, user=user, any_port_if_taken=any_port_if_taken
            )
    except local_server.LocalServerError as exc:
        fail(f"{type(exc).__name__}: {exc}", "choose another port with --port (or $MLOPS_PORT)")
    if background:
        echo(f"Local runtime serving on {serving.url} (pid {serving.pid}); log {local_server.log_path(obj.data_dir)}")
        echo("stop it with: mlops serve --stop")
        return
    _serve_here(obj, port, user, any_port_if_taken=any_port_if_taken)


def _serve_status(obj: Context) -> None:
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    serving = serving_runtime(obj.data_dir)
    if serving is None:
        echo(f"no local server serves {obj.data_dir}")
        raise SystemExit(1)
    if not local_server.identify(serving, obj.data_dir):
        echo(f"pid {serving.pid} holds runtime.json ({serving.url}) but does not answer as this data dir's server")
        raise SystemExit(1)
    echo(f"serving {serving.url} (pid {serving.pid}) for {obj.data_dir}")
    echo(f"  log: {local_server.log_path(obj.data_dir)} (when started in the background)")


def _serve_here(obj: Context, port: int, user: str | None, *, any_port_if_taken: bool = False) -> None:
    from governed_mlops_local import local_server
    from governed_mlops_local.redrive import interrupted_waiting_for_approval

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # `mlops serve --stop`: leave as on Ctrl-C (runtime.json removed, jobs stopped)

    signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C (SIGINT) stops the server wherever it was started: a command a non-interactive shell runs in the
    # background inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it.
    signal.signal(signal.SIGINT, terminate)
    try:
        with obj.runtime(user=user, port=port, any_port_if_taken=any_port_if_taken) as runtime:
            runtime.gateway.mount("/local", local_server.work_routes(runtime))
            tick = approval_watcher(runtime, ())
            # A run that waited for a person when its process died waits again: its link still works.
            for execution in interrupted_waiting_for_approval(runtime.executions, runtime.data_dir):
                started = runtime.redrive(execution["executionArn"])
                runtime.wait_until_waiting(started.execution_arn)
                echo(f"resumed {started.name}: waiting at {started.resumed_state!r} again (same approval link)")
            for execution in runtime.executions.list_executions():
                if execution["status"] == "INTERRUPTED":
                    echo(f"INTERRUPTED: {execution['name']} (continue it with: mlops redrive {execution['name']})")
            local_server.mark_ready(obj.data_dir, runtime.gateway.url)
            echo(f"Local runtime serving on {runtime.gateway.url} (Ctrl-C or `mlops serve --stop` to stop)")
            while True:
                tick()
                time.sleep(0.5)
    except KeyboardInterrupt:
        echo("stopped")
