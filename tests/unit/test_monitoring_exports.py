"""``governed_mlops_ml.monitoring`` loads its public names from their submodules on first use (PEP 562).

The lazy map repeats names the submodules define; these tests keep the two from drifting apart.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from governed_mlops_ml import monitoring


@pytest.mark.parametrize("name", sorted(monitoring._SOURCES))
def test_each_lazy_name_is_the_submodules_public_object(name: str) -> None:
    source = importlib.import_module(f"governed_mlops_ml.monitoring.{monitoring._SOURCES[name]}")

    assert getattr(monitoring, name) is getattr(source, name)
    assert name in getattr(source, "__all__", [name])


def test_the_payload_module_exports_exactly_what_the_package_maps_to_it() -> None:
    payloads = importlib.import_module("governed_mlops_ml.monitoring.payloads")

    assert {name for name, source in monitoring._SOURCES.items() if source == "payloads"} == set(payloads.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = monitoring.nothing_here  # type: ignore[attr-defined]


def test_importing_the_payload_helpers_does_not_load_scipy() -> None:
    probe = "import sys; from governed_mlops_ml.monitoring import parse_payload; print('scipy' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)

    assert answer.stdout.strip() == "False"
