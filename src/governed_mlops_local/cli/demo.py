"""``mlops demo``: a fresh data directory, one model's pipeline end to end, then a push and a canary rollout."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context
from governed_mlops_local.cli.progress import finish, report_deliveries

#: The example model and its data: what `mlops demo` runs without options.
DEMO_MODEL = "credit-risk"
DEMO_DATA = Path("data") / "german_credit" / "german_credit.csv"


@click.command()
@click.option("--model", "model", default=None, help=f"The model project to run (default: {DEMO_MODEL}).")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Dataset CSV (default for {DEMO_MODEL}: the German credit data; required for other models).",
)
@click.option(
    "--approve-as",
    multiple=True,
    metavar="NAME",
    help="Approve through the approval API as NAME (an approver) instead of waiting for a person; "
    "repeat for a model whose risk tier needs two approvers.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port of the local API (approval and history pages); default: $MLOPS_PORT, else 8765 "
    "(any free port if taken).",
)
@click.pass_obj
def demo(
    obj: Context, model: str | None, data_file: Path | None, approve_as: tuple[str, ...], port: int | None
) -> None:
    """Fresh data directory, upload a model's dataset, run its pipeline end to end, then a canary push.

    The local server is left running on the same port, so the links the demo printed keep answering.
    """
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    model = obj.model(model or DEMO_MODEL)
    if data_file is None:
        if model != DEMO_MODEL:
            fail(f"--data FILE is required for model {model!r} (the bundled data is {DEMO_MODEL}'s)")
        data_file = obj.project_dir / DEMO_DATA
    running = serving_runtime(obj.data_dir)
    try:
        if running is not None:
            echo(f"Stopping the local server {running.url} (pid {running.pid}): the demo starts from a fresh data dir")
            local_server.stop(obj.data_dir)
            port = port if port is not None else urlsplit(running.url).port
        explicit = port is not None
        port = local_server.configured_port(port)
    except local_server.LocalServerError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    if not explicit and port and not local_server.port_free(port):
        port = 0
    if obj.data_dir.exists():
        shutil.rmtree(obj.data_dir)
    echo(f"Local runtime: template {obj.project_dir / 'template.yaml'}, data dir {obj.data_dir} (fresh)")
    begin = time.perf_counter()
    with obj.runtime(port=port) as runtime:
        echo(
            f"Runtime ready in {time.perf_counter() - begin:.2f}s (local API {runtime.gateway.url}); "
            f"uploading {data_file.name} for model {model} as {runtime.local_user}"
        )
        _, deliveries = runtime.upload(
            data_file.read_bytes(), f"datasets/{model}/{data_file.name}", requester=runtime.local_user
        )
        arns = report_deliveries(deliveries)
        code = finish(runtime, arns, True, deliveries, approve_as)
        for arn in arns:
            _summary(runtime, runtime.executions.describe(arn))
        if code == 0:
            code = _canary_phase(runtime, model, data_file, approve_as)
        url = runtime.gateway.url
    echo(f"Done in {time.perf_counter() - begin:.2f}s")
    try:
        serving = local_server.start_in_background(obj.project_dir, obj.data_dir, urlsplit(url).port or 0)
    except local_server.LocalServerError as exc:
        echo(f"the links above stopped answering: {exc}", err=True, fg="red")
        raise SystemExit(code or 1) from exc
    echo(
        f"The local server {serving.url} (pid {serving.pid}) keeps the links above answering "
        f"(log {local_server.log_path(obj.data_dir)}); stop it with: mlops serve --stop"
    )
    raise SystemExit(code)


def _canary_phase(runtime: Any, model: str, data_file: Path, approve_as: tuple[str, ...]) -> int:
    """A push of unchanged code ends as No Change; a new dataset version retrains and rolls out as a canary."""
    from governed_mlops.model_projects import load_project
    from governed_mlops_local.dataset_versions import reexported
    from governed_mlops_local.traffic import TrafficGenerator

    config, spec = load_project(runtime.project_dir, model)
    endpoint = spec.endpoint_name
    event = json.loads((runtime.project_dir / "events" / "codecommit_push.json").read_text())
    head = runtime.current_commit()
    if head:
        event["detail"]["commitId"] = head
    event["detail"]["callerUserArn"] = f"arn:aws:iam::000000000000:user/{runtime.local_user}"
    echo(
        f"\nPhase 2: a push of commit {event['detail']['commitId'][:12]}: its data, job code and configuration "
        "are the champion's, so nothing is retrained",
        bold=True,
    )
    deliveries = runtime.send_event(event)
    arns = report_deliveries(deliveries)
    code = finish(runtime, arns, True, deliveries, approve_as)
    for arn in arns:
        _summary(runtime, runtime.executions.describe(arn))
    if code != 0:
        return code
    version = f"{data_file.stem}-reexport{data_file.suffix}"
    echo(
        f"\nPhase 3: {version} arrives (the same rows, re-exported: new bytes, a new dataset version); it "
        f"retrains, is compared with the champion and rolls out to {endpoint} as a canary while clients send "
        "requests",
        bold=True,
    )
    features = config.dataset.features
    traffic = TrafficGenerator(
        runtime.gateway.url, endpoint, TrafficGenerator.rows_from_csv(data_file.read_bytes(), features)
    )
    traffic.start()
    try:
        _, deliveries = runtime.upload(
            reexported(data_file.read_bytes()), f"datasets/{model}/{version}", requester=runtime.local_user
        )
        arns = report_deliveries(deliveries)
        code = finish(runtime, arns, True, deliveries, approve_as)
    finally:
        traffic.stop()
    for arn in arns:
        _summary(runtime, runtime.executions.describe(arn))
    described = runtime.hosting.describe_endpoint(endpoint)
    echo(
        f"\nEndpoint {endpoint}: {described['EndpointStatus']}, serving {described['EndpointConfigName']} "
        "(100% of traffic)",
        bold=True,
    )
    echo(f"  client requests during the rollout: {traffic.sent}, failed: {sum(traffic.errors.values())}")
    for config_name, count in traffic.by_config.most_common():
        echo(f"    {config_name:<52} {count:>5}  ({100 * count / max(1, traffic.sent):.0f}%)")
    return code


def _summary(runtime: Any, described: dict[str, Any]) -> None:
    echo("")
    echo(f"Execution  {described['name']}  {described['status']}", bold=True)
    if described["status"] != "SUCCEEDED":
        return
    output = json.loads(described["output"])
    if output.get("outcome") == "NoChange":
        echo(f"  No Change: {output.get('reason') or 'an identical retrain'}; {output.get('champion')} stays")
        return
    for name, value in output.get("gates", {}).get("summary", {}).items():
        if name in {"auc", "ks", "accuracy", "precision", "recall", "f1"}:
            echo(f"  {name:<10} {value:.4f}")
    registration = output.get("registration", {})
    outcome = output.get("outcome")
    status = (outcome.get("status") if isinstance(outcome, dict) else None) or registration.get("status")
    echo(f"  model version  {registration.get('model_version')} ({status})")
    if output.get("approval"):
        echo(f"  approved by    {output['approval'].get('decided_by')}")
    from governed_mlops.adapters.model_registry import LocalModelRegistry

    record = LocalModelRegistry(runtime.data_dir).get(registration["model_version"])
    echo("  evidence (open the HTML report in a browser; it needs no server):")
    for name in (
        "evidence_report",
        "model_card",
        "bias_pre",
        "bias_post",
        "shap_plot",
        "explainability",
        "bias_pre_plot",
        "bias_post_plot",
        "evaluation",
        "validation",
        "gates",
    ):
        digest = record.reports.get(name)
        if digest is not None:
            echo(f"    {name:<16} {runtime.store.mirror_path(digest.ref.bucket, digest.ref.key)}")
    echo(f"  lineage        mlops lineage {record.model_version}")
