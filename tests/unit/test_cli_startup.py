"""The CLI starts without the scientific stack: read commands and --help must not pay for it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "xgboost", "sklearn", "scipy", "shap", "boto3", "moto", "pydantic")


def test_importing_the_cli_and_its_command_modules_loads_none_of_the_heavy_libraries() -> None:
    probe = f"import sys, governed_mlops_local.cli\nprint(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == ""


def test_the_cli_sends_the_inference_id_header_the_endpoint_reads() -> None:
    # cli_monitor spells it out so that `mlops invoke` does not import the model server (numpy, xgboost)
    from governed_mlops_local import cli_monitor, model_server

    assert cli_monitor.INFERENCE_ID_HEADER == model_server.INFERENCE_ID_HEADER
