"""A model whose data holds no protected attribute: bias is "not assessed", with a reason people see.

Before, ``mlops models add`` wrote such a configuration without a bias section and promised that no bias
gate would run, while Prepare Data refused any configuration without one: every such dataset failed after
the README's commands. Now the configuration carries ``bias.facets: []`` with ``bias.not_assessed_reason``,
the bias jobs run and report no facet with that reason, the gates pass, and the approval page, the
evidence report and the model card say "not assessed" and why, instead of "not supplied".
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from governed_mlops.config import BiasConfig, parse_config
from governed_mlops.domain.bias_plain import bias_findings, not_assessed_reason
from governed_mlops.errors import JobInputError
from governed_mlops.reports.images import image_mime
from governed_mlops_ml.bias import bias_report, parse_bias_config
from governed_mlops_ml.bias_plots import plot_stage
from tests.unit.test_approval_page import _page
from tests.unit.test_onboarding import _base, _onboard
from tests.unit.test_reports import _card, _html

SVG = "{http://www.w3.org/2000/svg}"
REASON = "no column of tumours.csv is named like a protected attribute; a reviewer confirmed none is present"
JOB_CONFIG: dict[str, Any] = {"label": "diagnosis", "positive_label": "benign", "facets": [], "decision_threshold": 0.5}


def _analysis(stage: str) -> dict[str, Any]:
    frame = pd.DataFrame({"diagnosis": ["benign", "malignant"] * 20, "size": np.arange(40.0)})
    config = parse_bias_config(JOB_CONFIG | {"not_assessed_reason": REASON})
    predicted = np.array([1, 0] * 20) if stage == "post" else None
    return bias_report(frame, config, stage=stage, predicted=predicted)


# -- the configuration ---------------------------------------------------------------------------------


def test_no_facet_needs_a_reason():
    with pytest.raises(ValidationError, match="not_assessed_reason why the data holds none"):
        BiasConfig(facets=[])


def test_a_reason_next_to_facets_is_refused():
    facet = {"name": "young", "column": "age", "threshold": 25}
    with pytest.raises(ValidationError, match="only for a configuration with no facets"):
        BiasConfig.model_validate({"facets": [facet], "not_assessed_reason": REASON})


def test_the_reason_reaches_the_bias_job_document():
    config = BiasConfig(facets=[], not_assessed_reason=REASON)
    document = config.job_document(label="diagnosis", positive_label="benign", decision_threshold=0.5)
    assert document["facets"] == []
    assert document["not_assessed_reason"] == REASON
    assert parse_bias_config(document).not_assessed_reason == REASON


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "'facets' is empty and no 'not_assessed_reason'"),
        ({"not_assessed_reason": "  "}, "'facets' is empty and no 'not_assessed_reason'"),
        ({"facets": "age"}, "'facets' must be a list"),
        (
            {"facets": [{"name": "y", "column": "age", "threshold": 25}], "not_assessed_reason": REASON},
            "only for a configuration with no facets",
        ),
    ],
)
def test_the_bias_job_refuses_an_unexplained_or_contradictory_facet_list(changes: dict[str, Any], message: str):
    with pytest.raises(JobInputError, match=message):
        parse_bias_config(JOB_CONFIG | changes)


# -- the bias jobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_the_job_reports_no_facet_and_the_reason(stage: str, tmp_path: Path):
    report = _analysis(stage)
    (section,) = (value for key, value in report.items() if key != "version")
    assert section["facets"] == {}
    assert section["not_assessed_reason"] == REASON
    chart = plot_stage(report, stage, tmp_path / f"{stage}.svg").read_bytes()
    assert image_mime(chart) == "image/svg+xml"
    root = ET.fromstring(chart)
    shown = next(text for text in root.iter(f"{SVG}text") if text.get("class") == "not-assessed")
    assert " ".join(shown.itertext()) == f"Not assessed: {REASON}"
    assert root.findtext(f"{SVG}desc") == f"Not assessed: {REASON}"
    assert plot_stage(report, stage, tmp_path / "again.svg").read_bytes() == chart


def test_an_empty_report_without_a_reason_still_cannot_be_plotted(tmp_path: Path):
    report = _analysis("pre")
    del report["pre_training_bias_metrics"]["not_assessed_reason"]
    with pytest.raises(JobInputError, match="lists no facets"):
        plot_stage(report, "pre", tmp_path / "pre.svg")


# -- the reason, read back -------------------------------------------------------------------------------


def test_the_reason_is_read_from_per_stage_reports_and_from_a_merged_one():
    reports = {"bias_pre": _analysis("pre"), "bias_post": _analysis("post")}
    merged = {key: value for report in reports.values() for key, value in report.items() if key != "version"}
    assert not_assessed_reason(reports) == REASON
    assert not_assessed_reason(merged) == REASON


def test_a_report_that_analysed_a_facet_means_bias_was_assessed():
    assessed = {"bias_pre": _analysis("pre"), "bias_post": _analysis("post")}
    del assessed["bias_post"]["post_training_bias_metrics"]["not_assessed_reason"]
    assessed["bias_post"]["post_training_bias_metrics"]["facets"] = {"young": []}
    assert not_assessed_reason(assessed) is None
    assert not_assessed_reason(None) is None
    assert not_assessed_reason({}) is None


# -- what people read ------------------------------------------------------------------------------------


def test_the_approval_page_says_not_assessed_and_why_in_the_decision_panel():
    reports = {"bias_pre": _analysis("pre"), "bias_post": _analysis("post")}
    page = _page(bias=reports, findings=bias_findings(reports))
    panel = page[page.index("data-testid='decision-panel'") : page.index("</section>")]
    assert "Not assessed" in panel
    assert REASON in panel
    assert "no bias limits are configured" not in page
    assert "The bias reports hold no metrics" not in page
    assert "Approving accepts that reason" in page


def test_the_evidence_report_and_the_model_card_say_not_assessed_and_why():
    merged = {key: value for stage in ("pre", "post") for key, value in _analysis(stage).items() if key != "version"}
    page = _html(bias=merged, model_card=_card(bias=merged))
    assert page.count("Not assessed") >= 2  # the summary card and the bias section
    assert REASON in page
    assert "No bias report was supplied" not in page
    card = _card(bias=merged)
    assert f"Bias was not assessed: the configuration names no protected attribute ({REASON})" in json.dumps(card)


# -- onboarding --------------------------------------------------------------------------------------------


def test_models_add_without_protected_columns_writes_no_facet_and_the_reason():
    proposal, text, config = _onboard(_base())
    assert config.bias is not None
    assert config.bias.facets == []
    assert config.bias.not_assessed_reason is not None
    assert "loans.csv" in config.bias.not_assessed_reason
    assert yaml.safe_load(text)["bias"] == {"facets": [], "not_assessed_reason": config.bias.not_assessed_reason}
    assert parse_config(text.encode()).bias == config.bias
    assert any("not assessed" in note for note in proposal.notes)


def test_bias_drift_of_a_model_with_no_facet_is_not_assessed_not_insufficient_data():
    from governed_mlops_ml.monitoring.bias_drift import bias_drift

    config = parse_bias_config(JOB_CONFIG | {"not_assessed_reason": REASON})
    samples = pd.DataFrame({"diagnosis": ["benign", "malignant"] * 100, "score": [0.9, 0.1] * 100})
    report = bias_drift(samples, config, negative_label="malignant", min_labelled=10)
    assert report["status"] == "not_assessed"
    assert REASON in report["reason"]
    assert report["breaches"] == []
