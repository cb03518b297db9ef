"""A differently shaped credit dataset runs the whole pipeline with only its own configuration.

The synthetic lending data shares no column name, label or facet with German credit; the pipeline
code is the same. This is the proof behind "a new dataset needs a YAML file, not a code change".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.config import parse_config
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.services.explain_decision import load_model
from tests.conftest import PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow

SYNTHETIC_DATA = PROJECT_DIR / "data" / "synthetic_lending" / "synthetic_lending.csv"
SYNTHETIC_CONFIG = PROJECT_DIR / "models" / "synthetic-lending" / "config.yaml"


def test_synthetic_lending_trains_gates_and_registers_a_model(data_dir: Path):
    # Given the synthetic lending CSV and its configuration
    data = SYNTHETIC_DATA.read_bytes()
    config = parse_config(SYNTHETIC_CONFIG.read_text())
    # When the CSV lands under the data prefix of a runtime configured for it
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(data, "datasets/synthetic-lending/synthetic_lending.csv")
        assert [d.error for d in deliveries] == [None]
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    # Then the execution succeeds and registers an approved model whose lineage pins this data and config
    assert result["status"] == "SUCCEEDED", result.get("cause")
    (record,) = LocalModelRegistry(data_dir).list_versions()
    assert record.execution_name == result["name"]
    assert record.status == "Approved"
    assert record.data.sha256 == hashlib.sha256(data).hexdigest()
    assert record.data.ref.key == "datasets/synthetic-lending/synthetic_lending.csv"
    assert record.config.sha256 == hashlib.sha256(SYNTHETIC_CONFIG.read_bytes()).hexdigest()
    assert record.metrics["auc"] >= config.gates.min_auc
    assert record.metrics["ks"] >= config.gates.min_ks
    assert {"validation", "evaluation", "gates"} <= set(record.reports)
    # And the model reads exactly the configured features: the protected attributes stay out of it
    model = load_model(LocalModelRegistry(data_dir), LocalObjectStore(data_dir), record.model_version)
    assert model.spec.target == "loan_status"
    assert (model.spec.positive_label, model.spec.negative_label) == ("repaid", "defaulted")
    assert list(model.spec.raw_features) == config.dataset.features
    assert not {"gender", "applicant_age"} & set(model.spec.raw_features)
