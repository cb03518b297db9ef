"""``mlops models``: the model inventory a model-risk office asks for, read from disk without the runtime.

One row per model project: its risk tier and approval policy, its champion (the newest approved
version of its registry group), its endpoint and status, its last run and its last monitoring result.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.errors import PipelineError
from governed_mlops.model_projects import load_project, project_configs
from governed_mlops_local.endpoint_listing import list_endpoints
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.template import local_resource_name

#: The local artifacts bucket, named as the runtime names it.
LOCAL_ARTIFACTS_BUCKET = local_resource_name("ArtifactsBucket")


@dataclass(frozen=True)
class ModelRow:
    model: str
    risk_tier: str
    approvals_required: int
    endpoint: str
    endpoint_status: str
    champion: str | None
    versions: int
    last_run: str | None
    last_run_status: str | None
    last_monitoring: str | None
    problem: str | None = None


def inventory(project_dir: Path, data_dir: Path) -> list[ModelRow]:
    registry = LocalModelRegistry(data_dir) if (data_dir / "registry.db").exists() else None
    versions = registry.list_versions() if registry is not None else []
    endpoints = {e["EndpointName"]: e for e in (list_endpoints(data_dir) or [])} if data_dir.exists() else {}
    runs = ExecutionStore(data_dir).list_executions() if data_dir.exists() else []
    store = LocalObjectStore(data_dir) if (data_dir / "s3" / "_index.db").exists() else None
    rows = []
    for name in project_configs(project_dir):
        try:
            _, spec = load_project(project_dir, name)
        except PipelineError as exc:
            rows.append(ModelRow(name, "?", 0, "?", "?", None, 0, None, None, None, problem=str(exc)))
            continue
        own = [v for v in versions if v.model_package_group == spec.model_package_group]
        approved = [v for v in own if v.status == "Approved"]
        champion = max(approved, key=lambda v: v.created_at).model_version if approved else None
        last = next((r for r in runs if r.get("model") == name), None)
        rows.append(
            ModelRow(
                model=name,
                risk_tier=spec.risk_tier,
                approvals_required=spec.approvals_required,
                endpoint=spec.endpoint_name,
                endpoint_status=str(endpoints.get(spec.endpoint_name, {}).get("EndpointStatus", "not deployed")),
                champion=champion,
                versions=len(own),
                last_run=str(last["name"]) if last else None,
                last_run_status=str(last["status"]) if last else None,
                last_monitoring=_last_monitoring(store, spec.endpoint_name),
            )
        )
    return rows


def _last_monitoring(store: LocalObjectStore | None, endpoint: str) -> str | None:
    """The verdict of the newest ``monitoring/<endpoint>/<run>/run.json`` (``mlops monitor run``)."""
    if store is None:
        return None
    reports = [
        o
        for o in store.list_objects(LOCAL_ARTIFACTS_BUCKET, f"monitoring/{endpoint}/")
        if o.ref.key.endswith("/run.json")
    ]
    if not reports:
        return None
    newest = max(reports, key=lambda o: o.sequencer or "")
    try:
        run: dict[str, Any] = json.loads(store.get(newest.ref))
    except (PipelineError, ValueError):
        return None
    if run.get("status"):
        verdict = str(run["status"])
    elif run.get("violations"):
        verdict = "drift in " + (", ".join(run.get("drifted_features") or []) or "constraints")
    else:
        verdict = "no violations"
    return f"{verdict}, {run.get('records', '?')} requests (run {run.get('run_id', '?')})"


def render(rows: list[ModelRow], as_json: bool) -> str:
    if as_json:
        return json.dumps({"models": [asdict(r) for r in rows]}, indent=2)
    if not rows:
        return (
            "No model projects in models/. Onboard one: "
            "mlops models add NAME --data FILE --target COLUMN --positive-label VALUE"
        )
    header = f"{'MODEL':<20} {'TIER':<7} {'APPROVERS':<9} {'ENDPOINT':<20} {'STATUS':<13} {'CHAMPION':<22} LAST RUN"
    lines = [header]
    for r in rows:
        if r.problem:
            lines.append(f"{r.model:<20} config error: {r.problem}")
            continue
        policy = "auto" if r.approvals_required == 0 else str(r.approvals_required)
        run = f"{r.last_run} {r.last_run_status}" if r.last_run else "-"
        lines.append(
            f"{r.model:<20} {r.risk_tier:<7} {policy:<9} {r.endpoint:<20} {r.endpoint_status:<13} "
            f"{r.champion or '-':<22} {run}"
        )
        if r.last_monitoring:
            lines.append(f"{'':<20} last monitoring: {r.last_monitoring}")
    return "\n".join(lines)
