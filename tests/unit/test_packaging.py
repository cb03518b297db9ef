"""The Lambda layer installs exactly the versions the lock file pins (reproducible deployments)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import PROJECT_DIR


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((PROJECT_DIR / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


def test_layer_requirements_are_pinned_to_the_lock_file():
    locked = _locked_versions()
    lines = (PROJECT_DIR / "layers/common/python/requirements.txt").read_text().splitlines()
    pins = [re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==([0-9][^ ]*)", line) for line in lines if line.strip()]
    assert all(pins), f"every layer requirement must be name==version: {lines}"
    for match in pins:
        assert match is not None
        name, version = match.group(1).lower(), match.group(3)
        assert locked.get(name) == version, f"{name}=={version} in the layer, {locked.get(name)} in uv.lock"


def test_layer_stays_free_of_ml_and_local_runtime_dependencies():
    text = (PROJECT_DIR / "layers/common/python/requirements.txt").read_text().lower()
    for heavy in ("xgboost", "pandas", "numpy", "scikit-learn", "moto", "shap"):
        assert heavy not in text
