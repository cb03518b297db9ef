"""``mlops endpoints`` read straight from the hosting emulator's files, without starting it.

:class:`~governed_mlops_local.endpoints.LocalSageMakerHosting` keeps each endpoint's state in
``<data dir>/endpoints/<name>/endpoint.json``, endpoint configurations in ``_endpoint-configs/`` and
one JSON line per invocation in ``<name>/metrics/<config>.jsonl``. Importing that module loads numpy,
scikit-learn and XGBoost (seconds); listing needs none of it. The one thing only the emulator can do
is finish a transition whose driving process is gone (it rolls the update back, a write): for such
an endpoint :func:`list_endpoints` answers ``None`` and the caller starts the emulator.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from pathlib import Path
from typing import Any

#: Statuses the emulator drives to an end; one whose driver is gone must be recovered, not just read.
_TRANSITIONAL = ("Creating", "Updating", "RollingBack")


def _driver_alive(driver: dict[str, Any] | None) -> bool:
    if not driver:
        return False
    try:
        os.kill(int(driver.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _invocations(metrics_dir: Path) -> list[dict[str, Any]]:
    """Per fleet and variant: invocations, 4xx and 5xx errors (a torn last line is not counted)."""
    stats = []
    for path in sorted(metrics_dir.glob("*.jsonl")):
        totals: dict[str, dict[str, int]] = {}
        for line in path.read_bytes().split(b"\n"):
            try:
                measurement = json.loads(line)
            except json.JSONDecodeError:
                continue
            counts = totals.setdefault(str(measurement["variant"]), {"all": 0, "4xx": 0, "5xx": 0})
            counts["all"] += 1
            status = int(measurement["status"])
            if HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
                counts["4xx"] += 1
            elif status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                counts["5xx"] += 1
        stats += [
            {
                "EndpointConfigName": path.stem,
                "VariantName": variant,
                "Invocations": counts["all"],
                "Invocation4XXErrors": counts["4xx"],
                "Invocation5XXErrors": counts["5xx"],
            }
            for variant, counts in sorted(totals.items())
        ]
    return stats


def list_endpoints(data_dir: Path) -> list[dict[str, Any]] | None:
    """Every endpoint, newest first, as ``mlops endpoints --json`` lists it; ``None`` if one needs recovery."""
    root = data_dir / "endpoints"
    listed = []
    for state_path in root.glob("*/endpoint.json"):
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state["EndpointStatus"] in _TRANSITIONAL and not _driver_alive(state.get("Driver")):
            return None
        config_path = root / "_endpoint-configs" / f"{state['EndpointConfigName']}.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        listed.append(
            {
                "EndpointName": state["EndpointName"],
                "EndpointStatus": state["EndpointStatus"],
                "EndpointConfigName": state["EndpointConfigName"],
                "Models": {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]},
                "LastModifiedTime": state["LastModifiedTime"],
                "CreationTime": state["CreationTime"],
                "Invocations": _invocations(state_path.parent / "metrics"),
            }
        )
    listed.sort(key=lambda e: e["CreationTime"], reverse=True)
    for endpoint in listed:
        del endpoint["CreationTime"]
    return listed
