"""``mlops monitor run``, ``mlops endpoints`` and ``mlops invoke``: the served model, its traffic and its drift.

Each command starts a local runtime on the data directory the main ``mlops`` group sets up: the
hosting emulator keeps endpoints on disk, so an endpoint deployed by an earlier ``mlops demo`` is
served again. Register with ``main.add_command(monitor)``, ``main.add_command(endpoints)`` and
``main.add_command(invoke)``.

``monitor run ENDPOINT`` is the local stand-in for the scheduled Model Monitor job (in AWS an
EventBridge Scheduler schedule runs ``jobs/monitor.py`` as a SageMaker processing job); see
:mod:`governed_mlops_local.services.monitoring`. Exit codes: 0 no violations, or "insufficient data" (fewer
captured rows in the window than the model's ``monitoring.min_samples``: no verdict, nothing acted on),
3 violations found (an alert was sent, ``monitoring.violation`` audited and a ``Model Drift Detected`` event
put on the bus), 2 the endpoint cannot be monitored (reason on stderr), 1 the retraining it started failed
(with ``--wait``).

``monitor run ENDPOINT --aws --stack NAME`` analyses a deployed endpoint: the Data Capture objects under
``s3://<ArtifactsBucket>/data-capture/<endpoint>/``, the serving model's archive and training split from
S3, the lineage from the stack's registry; the reports go to the artifacts bucket under
``monitoring/<endpoint>/<run id>/``. It reports drift (exit 3) without alerting, auditing or starting a
retraining, and says "insufficient data" (exit 2) when nothing was captured since the previous run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from governed_mlops.errors import PipelineError
from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import fail as aws_fail
from governed_mlops_local.cli.aws import reading_stack, stack_options

EXIT_DRIFT = 3


def _echo(text: str = "", *, err: bool = False, **style: Any) -> None:
    # The runtime routes only its handler threads' output to their logs: this thread writes to sys.stdout.
    click.secho(text, err=err, **style)


def _fail(message: str, hint: str = "") -> NoReturn:
    _echo(f"error: {message}", err=True, fg="red")
    if hint:
        _echo(f"  {hint}", err=True)
    raise SystemExit(2)


def _dirs(obj: Any) -> tuple[Path, Path]:
    project_dir, data_dir = getattr(obj, "project_dir", None), getattr(obj, "data_dir", None)
    if project_dir is None or data_dir is None:
        raise click.UsageError("no project or data directory: run this as `mlops ...`")
    return Path(project_dir), Path(data_dir)


@contextmanager
def _runtime(obj: Any, *, serve_http: bool = True) -> Iterator[Any]:
    from governed_mlops_local.runtime import LocalRuntime

    project_dir, data_dir = _dirs(obj)
    if not data_dir.is_dir():
        _fail(f"no local runtime state in {data_dir}", "deploy a model first (mlops demo) or pass --data-dir")
    with LocalRuntime(project_dir, data_dir, serve_http=serve_http, warm_jobs=False) as runtime:
        yield runtime


def flatten_deliveries(deliveries: list[Any]) -> list[dict[str, Any]]:
    """``runtime.send_event``'s deliveries as the monitoring service's plain dicts: one per execution the
    Trigger started (its result lists them under ``runs``), one per model it skipped, one per failed delivery."""
    flat: list[dict[str, Any]] = []
    for d in deliveries:
        result = d.result or {}
        base = {"rule": d.rule, "target": d.target, "kind": result.get("kind")}
        if d.error:
            flat.append(
                base
                | {
                    "status": "error",
                    "execution_name": None,
                    "execution_arn": None,
                    "error": f"{d.error_type}: {d.error}",
                }
            )
            continue
        for run in result.get("runs", []):
            flat.append(
                base
                | {
                    "status": run.get("status"),
                    "execution_name": run.get("execution_name"),
                    "execution_arn": run.get("execution_arn"),
                    "model": run.get("model"),
                    "error": None,
                }
            )
        for skipped in result.get("skipped", []):
            reason = f"model {skipped.get('model')} not retrained: {skipped.get('reason')}"
            flat.append(base | {"status": "skipped", "execution_name": None, "execution_arn": None, "error": reason})
    return flat


# -- monitor --------------------------------------------------------------------------------------
@click.group("monitor")
def monitor() -> None:
    """Model monitoring: captured traffic against the serving model's training baseline."""


@monitor.command("run")
@click.argument("endpoint", required=False)
@click.option("--model", "model", default=None, help="The model whose endpoint to analyse (instead of ENDPOINT).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the run.json document).")
@click.option("--wait", is_flag=True, help="On drift, return only when the retraining execution ends.")
@click.option("--approve-as", default=None, metavar="NAME", help="With --wait: approve the retrained model as NAME.")
@stack_options
@click.pass_obj
def monitor_run(
    obj: Any,
    endpoint: str | None,
    model: str | None,
    as_json: bool,
    wait: bool,
    approve_as: str | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Analyse ENDPOINT's traffic captured since the previous run; on drift alert, audit and start a retraining.

    Exit 0: no violations, or insufficient data (fewer captured rows than the model's monitoring.min_samples);
    3: violations found (retraining started); 2: cannot monitor; 1: with --wait, the retraining failed.
    With --aws: a deployed endpoint, reports only (no alert, audit record or retraining).
    """
    endpoint = _endpoint_of(obj, endpoint, model)
    if aws:
        if wait or approve_as:
            raise click.UsageError("--wait and --approve-as start and follow a local retraining: not with --aws")
        _monitor_stack(endpoint, as_json, stack_name, region, profile)
        return
    from governed_mlops.adapters.approvals import LocalOutbox
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
    from governed_mlops.adapters.model_registry import LocalModelRegistry
    from governed_mlops_local.services.monitoring import MonitoringDeps, MonitoringSettings, run_monitoring
    from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION

    with _runtime(obj) as runtime:
        data_dir = runtime.data_dir
        deps = MonitoringDeps(
            hosting=runtime.hosting,
            store=runtime.store,
            registry=LocalModelRegistry(data_dir),
            notifier=LocalOutbox(data_dir),
            audit=LocalAuditLedger(data_dir, load_or_create_key(data_dir)),
            put_event=lambda event: flatten_deliveries(runtime.send_event(event)),
        )
        settings = MonitoringSettings(
            artifacts_bucket=runtime.template.buckets["ArtifactsBucket"].name,
            account=LOCAL_ACCOUNT,
            region=LOCAL_REGION,
        )
        try:
            run = run_monitoring(endpoint, settings, deps)
        except PipelineError as exc:
            _fail(str(exc), "send traffic first: mlops invoke NAME --body ... (captured requests are analysed)")
        if as_json:
            _echo(json.dumps(run.model_dump(mode="json"), indent=2))
        else:
            _render_run(run)
        started = [d["execution_arn"] for d in run.retraining if d["status"] == "started" and d["execution_arn"]]
        failed = False
        if wait and started:
            tick = _approver(runtime, approve_as, started)
            for result in runtime.wait(started, on_tick=tick):
                colour = "green" if result["status"] == "SUCCEEDED" else "red"
                _echo(f"{result['name']}: {result['status']}", err=as_json, fg=colour)
                failed = failed or result["status"] != "SUCCEEDED"
        elif started:
            # The execution runs inside this process (as EventBridge -> Trigger -> Step Functions would in AWS).
            _echo(
                "the retraining runs in this process: it is left RUNNING when it exits; use --wait to see it through",
                err=True,
                fg="yellow",
            )
    raise SystemExit(1 if failed else EXIT_DRIFT if run.drift else 0)


def _monitor_stack(
    endpoint: str, as_json: bool, stack_name: str | None, region: str | None, profile: str | None
) -> None:
    import tempfile

    from governed_mlops_local.services.monitoring import (
        InsufficientCaptureData,
        MonitoringDeps,
        MonitoringSettings,
        run_monitoring,
    )

    with reading_stack(stack_name, region, profile) as stack, tempfile.TemporaryDirectory(prefix="capture-") as tmp:
        hosting = stack.hosting(Path(tmp))
        deps = MonitoringDeps(hosting=hosting, store=stack.store(), registry=stack.registry())
        settings = MonitoringSettings(
            artifacts_bucket=stack.artifacts_bucket,
            account=stack.account,
            region=stack.region,
            act_on_violations=False,
        )
        try:
            run = run_monitoring(endpoint, settings, deps)
        except InsufficientCaptureData as exc:
            aws_fail(
                str(exc),
                f"Data Capture writes under s3://{stack.artifacts_bucket}/{hosting.capture_prefix(endpoint)} "
                "as the endpoint serves requests",
            )
    if as_json:
        aws_echo(json.dumps(run.model_dump(mode="json"), indent=2))
    else:
        _render_run(run, acted=False)
    raise SystemExit(EXIT_DRIFT if run.drift else 0)


def _endpoint_of(obj: Any, endpoint: str | None, model: str | None) -> str:
    """ENDPOINT as given, or the endpoint of ``--model`` (or of the only model project)."""
    if endpoint is not None and model is not None:
        raise click.UsageError("give ENDPOINT or --model NAME, not both")
    if endpoint is not None:
        return endpoint
    from governed_mlops.model_projects import load_project

    name = obj.model(model)
    return load_project(obj.project_dir, name)[1].endpoint_name


def _approver(runtime: Any, approve_as: str | None, arns: list[str]) -> Any:
    if approve_as is None:
        return None
    from governed_mlops_local.approval_client import auto_approver, execution_names

    return auto_approver(
        runtime.data_dir,
        approve_as,
        "retraining after drift approved (--approve-as)",
        executions=execution_names(arns),
    )


def _render_labelled_verdicts(run: Any) -> None:
    """The verdicts that need ground-truth labels: model quality and bias drift."""
    quality = run.model_quality
    if quality is None:
        _echo("Quality      not assessed: no labels uploaded (mlops labels upload FILE --endpoint NAME)")
    else:
        colour = {"violations": "red", "no_violations": "green"}.get(quality["status"], "yellow")
        _echo(f"Quality      {quality['reason']} ({run.reports['model_quality']})", fg=colour)
        if quality["unknown_labels"]:
            _echo(f"             labels not counted (neither outcome of the model): {quality['unknown_labels']}")
    bias = run.bias_drift
    if bias is not None:
        colour = {"violations": "red", "no_violations": "green"}.get(bias["status"], "yellow")
        _echo(f"Bias drift   {bias['reason']} ({run.reports.get('bias_drift', '-')})", fg=colour)
        for breach in bias["breaches"]:
            _echo(f"             {breach['description']}", fg="red")


def _render_run(run: Any, *, acted: bool = True) -> None:
    _echo(f"Endpoint     {run.endpoint_name} (config {run.endpoint_config_name})")
    _echo(f"Model        {run.model_version} (trained by {run.training_execution})")
    _echo(f"Window       {run.window_start} .. {run.window_end}: {run.records} records, {run.rows} rows")
    _echo(f"Run          {run.run_id}")
    _echo(f"Report       {run.reports['constraint_violations']}")
    _render_labelled_verdicts(run)
    if run.insufficient_data:
        _echo(
            f"Insufficient data: {run.rows} captured rows in the window, fewer than the minimum of "
            f"{run.min_samples} (monitoring.min_samples). No verdict on drift or completeness, nothing acted on; "
            "the next run analyses these requests again together with newer ones.",
            fg="yellow",
        )
        return
    if not run.violations:
        _echo("No violations: the captured traffic matches the training baseline.", fg="green")
        return
    _echo(f"\n{len(run.violations)} violation(s); drifted columns: {', '.join(run.drifted_features) or '-'}", fg="red")
    rows = [("feature", "check", "PSI", "description")]
    for violation in run.violations:
        metrics = run.feature_metrics.get(violation["feature_name"], {})
        psi = metrics.get("psi")
        rows.append(
            (
                violation["feature_name"],
                violation["constraint_check_type"],
                f"{psi:.3f}" if isinstance(psi, float) else "-",
                violation["description"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        _echo(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    if not acted:
        _echo("\nReported only (--aws): no alert, audit record or retraining was started from this machine.")
        return
    _echo(f"\nAlert sent (message {run.alert_message_id}); audit: monitoring.violation on {run.model_version}")
    if not run.retraining:
        _echo("No rule matched the Model Drift Detected event: no retraining started.", fg="yellow")
    for delivery in run.retraining:
        if delivery["error"]:
            colour = "yellow" if delivery["status"] == "skipped" else "red"
            _echo(f"rule {delivery['rule']} -> {delivery['target']}: {delivery['error']}", fg=colour)
        else:
            _echo(f"rule {delivery['rule']} -> {delivery['target']}: {delivery['status']} {delivery['execution_name']}")


# -- endpoints ------------------------------------------------------------------------------------
@click.command("endpoints")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--model", "model", default=None, help="Only this model's endpoint.")
@click.pass_obj
def endpoints(obj: Any, as_json: bool, model: str | None) -> None:
    """Endpoints with status, serving config and model, and per-variant invocation counts."""
    from governed_mlops_local.endpoint_listing import list_endpoints

    _, data_dir = _dirs(obj)
    listed = list_endpoints(data_dir) if data_dir.is_dir() else None
    if listed is None:
        # Missing state (a clear error) or an interrupted rollout only the hosting emulator can finish.
        listed = _endpoints_from_runtime(obj)
    if model is not None:
        name = _endpoint_of(obj, None, model)
        listed = [e for e in listed if e["EndpointName"] == name]
    _print_endpoints(listed, as_json)


def _endpoints_from_runtime(obj: Any) -> list[dict[str, Any]]:
    with _runtime(obj, serve_http=False) as runtime:
        hosting = runtime.hosting
        listed = []
        for summary in hosting.list_endpoints()["Endpoints"]:
            name = summary["EndpointName"]
            described = hosting.describe_endpoint(name)
            config = hosting.describe_endpoint_config(described["EndpointConfigName"])
            listed.append(
                {
                    "EndpointName": name,
                    "EndpointStatus": described["EndpointStatus"],
                    "EndpointConfigName": described["EndpointConfigName"],
                    "Models": {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]},
                    "LastModifiedTime": described["LastModifiedTime"],
                    "Invocations": [
                        {k: v[k] for k in ("EndpointConfigName", "VariantName", "Invocations", "Invocation4XXErrors")}
                        | {"Invocation5XXErrors": v["Invocation5XXErrors"]}
                        for v in hosting.invocation_stats(name)["Variants"]
                    ],
                }
            )
    return listed


def _print_endpoints(listed: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _echo(json.dumps({"Endpoints": listed}, indent=2))
        return
    if not listed:
        _echo("No endpoints: a run deploys one after approval (mlops demo).")
    for endpoint in listed:
        _echo(f"{endpoint['EndpointName']}  {endpoint['EndpointStatus']}  serving {endpoint['EndpointConfigName']}")
        for variant, model in endpoint["Models"].items():
            _echo(f"  variant {variant}: model {model}")
        for stats in endpoint["Invocations"]:
            _echo(
                f"  {stats['EndpointConfigName']}/{stats['VariantName']}: {stats['Invocations']} invocations, "
                f"{stats['Invocation4XXErrors']} 4xx, {stats['Invocation5XXErrors']} 5xx"
            )


# -- invoke ---------------------------------------------------------------------------------------
@click.command("invoke")
@click.argument("name")
@click.option(
    "--body", required=True, help="Request body (CSV rows without a header, or JSON instances); @FILE reads FILE."
)
@click.option(
    "--content-type",
    type=click.Choice(["text/csv", "application/json"]),
    default=None,
    help="Default: application/json if the body starts with '{', else text/csv.",
)
@click.option(
    "--accept",
    type=click.Choice(["application/json", "text/csv"]),
    default="application/json",
    show_default=True,
    help="JSON: score, decision, threshold, model version and reason codes per row; CSV: one score per line.",
)
@click.option(
    "--inference-id",
    default=None,
    help="InvokeEndpoint's InferenceId (1-64 printable characters): labels uploaded later join on it.",
)
@click.pass_obj
def invoke(obj: Any, name: str, body: str, content_type: str | None, accept: str, inference_id: str | None) -> None:
    """POST BODY to endpoint NAME through the local runtime's HTTP gateway; print the answer and its variant.

    The answer goes to stdout as the endpoint gave it; a readable summary of each decision and its
    reasons, and the variant that answered, go to stderr.
    """
    import urllib.error
    import urllib.request

    if body.startswith("@"):
        try:
            body = Path(body[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read the body from {body[1:]}: {exc}")
    kind = content_type or ("application/json" if body.lstrip().startswith("{") else "text/csv")
    headers_out = {"Content-Type": kind, "Accept": accept}
    if inference_id is not None:
        headers_out[INFERENCE_ID_HEADER] = inference_id

    def post(gateway_url: str) -> tuple[str, dict[str, str]]:
        url = f"{gateway_url.rstrip('/')}/endpoints/{name}/invocations"
        request = urllib.request.Request(  # noqa: S310 - our own local gateway, http://127.0.0.1
            url, data=body.encode(), headers=headers_out, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own local gateway
                return response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            _fail(f"{exc.code} {exc.read().decode(errors='replace').strip()}")

    from governed_mlops_local.approval_client import serving_runtime

    running = serving_runtime(_dirs(obj)[1])
    answered = None
    if running is not None:  # `mlops serve` (or a demo) is up: ask it, no runtime to boot
        try:
            answered = post(running.url)
        except urllib.error.URLError:
            answered = None  # it stopped between the check and the call
    if answered is None:
        with _runtime(obj) as runtime:
            assert runtime.gateway is not None
            answered = post(runtime.gateway.url)
    answer, headers = answered
    variant = next((v for k, v in headers.items() if k.lower() == "x-amzn-invoked-production-variant"), "?")
    _echo(answer.rstrip())
    if accept == "application/json":
        for line in describe_predictions(json.loads(answer)):
            _echo(line, err=True)
    _echo(f"variant: {variant}", err=True)


#: InvokeEndpoint's ``InferenceId`` header (``model_server.INFERENCE_ID_HEADER``; not imported: numpy).
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


def describe_predictions(answer: Mapping[str, Any]) -> list[str]:
    """The endpoint's JSON answer in words: one line per decision, one per reason code under it."""
    lines = []
    for number, prediction in enumerate(answer.get("predictions") or [], start=1):
        lines.append(
            f"row {number}: {prediction['decision']} (score {prediction['score']:.3f}, threshold "
            f"{prediction['threshold']:g}, model {prediction.get('model_version') or 'unregistered'})"
        )
        reasons = prediction.get("reasons") or []
        if not reasons:
            lines.append("  no feature lowered the score")
        lines += [f"  {reason['text']}" for reason in reasons]
    return lines
