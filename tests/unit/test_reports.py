"""Governance evidence rendering: the SageMaker model card and the self-contained HTML evidence page."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from governed_mlops.config import parse_config
from governed_mlops.models import ApprovalDecision, CodeRef, ModelVersion, ObjectDigest, S3Ref, TriggerInfo
from governed_mlops.reports.evidence_html import render_evidence_html
from governed_mlops.reports.model_card import CardNarrative, build_model_card
from governed_mlops.reports.stage_reports import bias_checks
from governed_mlops_ml.svg import Drawing

MALICIOUS = "<script>alert('x')</script>"
INTENDED_USES = "Support credit officers deciding consumer loan applications; not for automated final decisions."


def _digest(bucket: str, key: str, fill: str, size: int = 1000, version: str | None = "v1") -> ObjectDigest:
    return ObjectDigest(ref=S3Ref(bucket=bucket, key=key, version_id=version), sha256=fill * 64, size=size)


def _record(**changes: Any) -> ModelVersion:
    artifacts = "governed-mlops-artifactsbucket"
    record = ModelVersion(
        model_version="credit-risk/3",
        model_package_group="credit-risk",
        model_package_arn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/credit-risk/3",
        status="PendingManualApproval",
        created_at=datetime(2026, 11, 28, 15, 35, 52, tzinfo=UTC),
        execution_name="data-d25e16c8079af10dac747843",
        trigger=TriggerInfo(
            kind="data-arrival",
            event_id="000018ec-3f7a-d8a1-ce12-2c0bae00275c",
            event_time=datetime(2026, 11, 28, 15, 35, 48, tzinfo=UTC),
            principal="arn:aws:iam::123456789012:user/analyst",
            source="aws.s3",
            detail_type="Object Created",
        ),
        data=_digest("governed-mlops-databucket", "datasets/credit-risk/german_credit.csv", "a", 268042),
        code=CodeRef(repository="model-projects", branch="main", commit_id="3fecb6dfd76ea78aae6e59f83b6119ee40dfb2f8"),
        config=_digest(artifacts, "config/pipeline.yaml", "b", 1956),
        model_artifact=_digest(
            artifacts, "training-jobs/data-d25e16c8079af10dac747843-train/output/model.tar.gz", "c", 34776, None
        ),
        training_job_name="data-d25e16c8079af10dac747843-train",
        training_image="141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        source_sha256="d" * 64,
        definition_sha256="e" * 64,
        state_machine_version_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:gm-training-pipeline:4",
        hyperparameters={"eta": "0.1", "max_depth": "3", "num_round": "150", "objective": "binary:logistic"},
        seed=7,
        library_versions={"xgboost": "3.2.0", "numpy": "2.3.5", "python": "3.11.14"},
        metrics={"auc": 0.8208, "ks": 0.5505, "accuracy": 0.768},
        reports={
            "evaluation": _digest(artifacts, "runs/x/evaluation/evaluation.json", "f", 4725),
            "gates": _digest(artifacts, "runs/x/gates/report.json", "1", 607),
        },
    )
    return record.model_copy(update=changes)


EVALUATION: dict[str, Any] = {
    "binary_classification_metrics": {
        "auc": {"value": 0.8208, "standard_deviation": "NaN"},
        "ks": {"value": 0.5505, "standard_deviation": "NaN"},
        "accuracy": {"value": 0.768, "standard_deviation": "NaN"},
        "precision": {"value": 0.794, "standard_deviation": "NaN"},
        "recall": {"value": 0.903, "standard_deviation": "NaN"},
        "f1": {"value": 0.845, "standard_deviation": "NaN"},
        "true_positive_rate": {"value": 0.903, "standard_deviation": "NaN"},
        "false_positive_rate": {"value": 0.547, "standard_deviation": "NaN"},
        "confusion_matrix": {"good": {"good": 158, "bad": 17}, "bad": {"good": 41, "bad": 34}},
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [0.0, 0.2, 0.547, 1.0],
            "true_positive_rates": [0.0, 0.6, 0.903, 1.0],
        },
    },
    "threshold": 0.5,
    "rows": 250,
    "positive_label": "good",
    "negative_label": "bad",
}

GATES: dict[str, Any] = {
    "passed": False,
    "threshold": 0.5,
    "checks": [
        {"metric": "auc", "value": 0.8208, "limit": 0.7, "passed": True},
        {"metric": "ks", "value": 0.5505, "limit": 0.6, "passed": False},
        {"metric": "accuracy", "value": 0.768, "limit": 0.65, "passed": True},
    ],
}


def _bias(facet: str = "sex", group: str = "female*") -> dict[str, Any]:
    return {
        "version": "1.0",
        "pre_training_bias_metrics": {
            "label": "creditability",
            "label_value_or_threshold": "good",
            "facets": {
                facet: [
                    {
                        "value_or_threshold": group,
                        "metrics": [
                            {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.38},
                            {
                                "name": "DPL",
                                "description": "Difference in Positive Proportions in Labels (DPL)",
                                "value": -0.0187,
                                "limit": {"min": -0.1, "max": 0.1},
                            },
                        ],
                    }
                ]
            },
        },
        "post_training_bias_metrics": {
            "label": "creditability",
            "label_value_or_threshold": "good",
            "facets": {
                facet: [
                    {
                        "value_or_threshold": group,
                        "metrics": [
                            {
                                "name": "DI",
                                "description": "Disparate Impact (DI)",
                                "value": 0.71,
                                "limit": {"min": 0.8},
                            },
                            {
                                "name": "FT",
                                "description": "Flip Test (FT)",
                                "value": None,
                                "error": "FT is undefined: no feature matrix was given",
                                "limit": {"max": 0.1},
                            },
                        ],
                    }
                ]
            },
        },
    }


def _explainability(feature: str = "status_of_existing_checking_account", text: str | None = None) -> dict[str, Any]:
    reason_text = text or "Status of existing checking account '... < 0 DM' lowered the score by 0.42 (log-odds)"
    return {
        "version": "1.0",
        "explanations": {
            "tree_shap": {
                "label0": {
                    "global_shap_values": {feature: 0.7538, "duration_in_month": 0.3609, "purpose": 0.3442},
                    "expected_value": 0.8526,
                }
            }
        },
        "method": {"output": "log-odds of P(creditability == 'good')"},
        "dataset": {"file": "train.csv", "rows": 750},
        "decision_threshold": 0.5,
        "feature_labels": {feature: "Status of existing checking account", "duration_in_month": "Duration in month"},
        "reason_code_examples": [
            {
                "row_index": 4,
                "score": 0.28,
                "decision": "deny",
                "margin": -0.94,
                "base_value": 0.85,
                "reasons": [{"feature": feature, "value": "... < 0 DM", "contribution": -0.42, "text": reason_text}],
            }
        ],
    }


def _png(width: int = 2, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def _svg(width: int = 2, height: int = 1) -> bytes:
    """A chart as the jobs write it: SVG of shapes and text, with a title and description."""
    drawing = Drawing(width, height)
    drawing.rect(0, 0, width / 2, height, fill="#4C72B0", css_class="bar within")
    drawing.text(0, height, "0.500", size=1)
    return drawing.to_bytes("A chart", "One bar: 0.500.")


def _card(record: ModelVersion | None = None, **options: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "intended_uses": INTENDED_USES,
        "evaluation": EVALUATION,
        "bias": _bias(),
        "explainability": _explainability(),
        "gates": GATES,
        "training_metrics": {"train_auc": 0.93, "rows": 750, "library_versions": {"xgboost": "3.2.0"}},
    }
    return build_model_card(record or _record(), **(arguments | options))


def _html(record: ModelVersion | None = None, **options: Any) -> str:
    record = record or _record()
    arguments: dict[str, Any] = {
        "model_card": _card(record),
        "evaluation": EVALUATION,
        "bias": _bias(),
        "explainability": _explainability(),
        "images": {"shap_summary.svg": _svg(), "pre_training_bias.png": _png(3, 2)},
        "gates": GATES,
    }
    return render_evidence_html(record, **(arguments | options))


# --- the SageMaker model card schema -------------------------------------------------------------
#
# The structure of the SageMaker Model Card content JSON schema (version 0.1) as the SageMaker
# developer guide publishes it: every object closed (additionalProperties false), enumerations for
# the risk rating, objective function and metric types, and the length / count limits. The section
# bodies follow the published model-package card schema; model_overview's fields (model_id,
# model_name, model_version >= 1, ...) follow the full card schema and the SageMaker Python SDK.

_TEXT_1024 = {"type": "string", "maxLength": 1024}
_TEXT_2048 = {"type": "string", "maxLength": 2048}
_IMAGES = {"type": "array", "maxItems": 15, "items": _TEXT_1024}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": list(required)}


_NAMED = {"type": "string", "pattern": "^.{1,255}$"}
_AXIS = {"type": "string", "maxLength": 63}
MODEL_CARD_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "training_metric": _closed(
            {"name": _NAMED, "notes": _TEXT_1024, "value": {"type": "number"}}, ("name", "value")
        ),
        "hyper_parameter": _closed({"name": _NAMED, "value": _NAMED}, ("name", "value")),
        "simple_metric": _closed(
            {
                "name": _NAMED,
                "notes": _TEXT_1024,
                "type": {"enum": ["number", "string", "boolean"]},
                "value": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 63}, {"type": "boolean"}]},
                "x_axis_name": _AXIS,
                "y_axis_name": _AXIS,
            },
            ("name", "type", "value"),
        ),
        "linear_graph_metric": _closed(
            {
                "name": _NAMED,
                "notes": _TEXT_1024,
                "type": {"enum": ["linear_graph"]},
                "value": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                },
                "x_axis_name": _AXIS,
                "y_axis_name": _AXIS,
            },
            ("name", "type", "value"),
        ),
        "matrix_metric": _closed(
            {
                "name": _NAMED,
                "notes": _TEXT_1024,
                "type": {"enum": ["matrix"]},
                "value": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 20,
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 20},
                },
                "x_axis_name": {"type": "array", "items": _AXIS},
                "y_axis_name": {"type": "array", "items": _AXIS},
            },
            ("name", "type", "value"),
        ),
    },
    **_closed(
        {
            "model_overview": _closed(
                {
                    "model_id": _TEXT_1024,
                    "model_name": _TEXT_1024,
                    "model_description": _TEXT_1024,
                    "model_version": {"type": "number", "minimum": 1},
                    "problem_type": _TEXT_1024,
                    "algorithm_type": _TEXT_1024,
                    "model_creator": _TEXT_1024,
                    "model_owner": _TEXT_1024,
                    "model_artifact": _IMAGES,
                    "inference_environment": _closed({"container_image": _IMAGES}),
                }
            ),
            "intended_uses": _closed(
                {
                    "purpose_of_model": _TEXT_2048,
                    "intended_uses": _TEXT_2048,
                    "factors_affecting_model_efficiency": _TEXT_2048,
                    "risk_rating": {"enum": ["High", "Medium", "Low", "Unknown"]},
                    "explanations_for_risk_rating": _TEXT_2048,
                }
            ),
            "business_details": _closed(
                {"business_problem": _TEXT_2048, "business_stakeholders": _TEXT_2048, "line_of_business": _TEXT_2048}
            ),
            "training_details": _closed(
                {
                    "objective_function": _closed(
                        {
                            "function": _closed(
                                {
                                    "function": {"enum": ["Maximize", "Minimize"]},
                                    "facet": {"type": "string", "maxLength": 63},
                                    "condition": {"type": "string", "maxLength": 63},
                                }
                            ),
                            "notes": _TEXT_1024,
                        }
                    ),
                    "training_observations": _TEXT_1024,
                    "training_job_details": _closed(
                        {
                            "training_arn": _TEXT_1024,
                            "training_datasets": {"type": "array", "maxItems": 15, "items": _TEXT_1024},
                            "training_environment": _closed({"container_image": _IMAGES}),
                            "training_metrics": {
                                "type": "array",
                                "maxItems": 50,
                                "items": {"$ref": "#/definitions/training_metric"},
                            },
                            "user_provided_training_metrics": {
                                "type": "array",
                                "maxItems": 50,
                                "items": {"$ref": "#/definitions/training_metric"},
                            },
                            "hyper_parameters": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {"$ref": "#/definitions/hyper_parameter"},
                            },
                            "user_provided_hyper_parameters": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {"$ref": "#/definitions/hyper_parameter"},
                            },
                        }
                    ),
                }
            ),
            "evaluation_details": {
                "type": "array",
                "items": _closed(
                    {
                        "name": {"type": "string", "pattern": "^.{1,63}$"},
                        "evaluation_observation": {"type": "string", "maxLength": 2096},
                        "evaluation_job_arn": {"type": "string", "maxLength": 256},
                        "datasets": {"type": "array", "maxItems": 10, "items": _TEXT_1024},
                        "metadata": {"type": "object", "additionalProperties": _TEXT_1024},
                        "metric_groups": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "metric_data"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^.{1,63}$"},
                                    "metric_data": {
                                        "type": "array",
                                        "items": {
                                            "anyOf": [
                                                {"$ref": "#/definitions/simple_metric"},
                                                {"$ref": "#/definitions/linear_graph_metric"},
                                                {"$ref": "#/definitions/matrix_metric"},
                                            ]
                                        },
                                    },
                                },
                            },
                        },
                    },
                    ("name",),
                ),
            },
            "additional_information": _closed(
                {
                    "ethical_considerations": _TEXT_2048,
                    "caveats_and_recommendations": _TEXT_2048,
                    "custom_details": {"type": "object", "additionalProperties": _TEXT_1024},
                }
            ),
        }
    ),
}


def _assert_valid_card(card: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(MODEL_CARD_SCHEMA)
    errors = sorted(jsonschema.Draft7Validator(MODEL_CARD_SCHEMA).iter_errors(card), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_model_card_is_valid_against_the_model_card_schema() -> None:
    _assert_valid_card(_card())


def test_model_card_without_bias_explainability_gates_or_training_metrics_is_valid() -> None:
    _assert_valid_card(_card(bias=None, explainability=None, gates=None, training_metrics=None))


def test_model_card_with_long_narrative_and_odd_values_is_still_valid() -> None:
    # Given text far over the schema's limits and a record with an unnumbered version
    narrative = CardNarrative(model_owner="x" * 5000, business_problem="y" * 5000, ethical_considerations="z" * 5000)
    card = _card(_record(model_version="pending"), intended_uses="u" * 5000, narrative=narrative)

    _assert_valid_card(card)
    assert "model_version" not in card["model_overview"]
    assert card["intended_uses"]["intended_uses"].endswith("…")


def test_the_schema_rejects_a_card_with_an_unknown_section() -> None:
    # The schema test is only worth something if it can fail
    card = _card() | {"model_risk": {}}

    with pytest.raises(AssertionError, match="Additional properties"):
        _assert_valid_card(card)


def test_model_card_has_the_six_content_sections() -> None:
    assert list(_card()) == [
        "model_overview",
        "intended_uses",
        "business_details",
        "training_details",
        "evaluation_details",
        "additional_information",
    ]


def test_model_overview_identifies_the_registered_version_and_its_artifact() -> None:
    overview = _card()["model_overview"]

    assert overview["model_id"] == "arn:aws:sagemaker:eu-west-1:123456789012:model-package/credit-risk/3"
    assert (overview["model_name"], overview["model_version"]) == ("credit-risk", 3)
    assert overview["model_artifact"] == [
        "s3://governed-mlops-artifactsbucket/training-jobs/data-d25e16c8079af10dac747843-train/output/model.tar.gz"
    ]
    assert overview["inference_environment"] == {"container_image": [_record().training_image]}
    assert (overview["problem_type"], overview["algorithm_type"]) == (
        "Binary Classification",
        "Gradient Boosted Trees (XGBoost 3.2.0)",
    )


def test_model_id_falls_back_to_the_version_without_a_model_package_arn() -> None:
    assert _card(_record(model_package_arn=None))["model_overview"]["model_id"] == "credit-risk/3"


def test_intended_uses_carry_the_given_text_and_a_high_risk_rating_by_default() -> None:
    uses = _card()["intended_uses"]

    assert uses["intended_uses"] == INTENDED_USES
    assert uses["risk_rating"] == "High"
    assert "No risk tier was given for this model" in uses["explanations_for_risk_rating"]


def test_training_details_list_every_hyperparameter_and_the_numeric_training_metrics() -> None:
    job = _card()["training_details"]["training_job_details"]

    assert job["hyper_parameters"] == [
        {"name": "eta", "value": "0.1"},
        {"name": "max_depth", "value": "3"},
        {"name": "num_round", "value": "150"},
        {"name": "objective", "value": "binary:logistic"},
    ]
    assert job["training_metrics"] == [{"name": "train_auc", "value": 0.93}, {"name": "rows", "value": 750.0}]
    assert job["training_datasets"] == [
        "s3://governed-mlops-databucket/datasets/credit-risk/german_credit.csv?versionId=v1"
    ]


def test_holdout_evaluation_has_the_metrics_the_confusion_matrix_and_the_gates() -> None:
    holdout = _card()["evaluation_details"][0]
    groups = {group["name"]: group["metric_data"] for group in holdout["metric_groups"]}

    assert holdout["name"] == "Hold-out evaluation"
    assert groups["Hold-out metrics"][0] == {"name": "AUC", "type": "number", "value": 0.8208, "notes": "auc"}
    assert groups["Confusion matrix"][0]["value"] == [[158.0, 17.0], [41.0, 34.0]]
    assert [(m["name"], m["value"]) for m in groups["Quality gates"]] == [
        ("AUC >= 0.7", True),
        ("KS >= 0.6", False),
        ("Accuracy >= 0.65", True),
    ]


def test_bias_evaluations_name_facet_group_and_limit_outcomes() -> None:
    details = _card()["evaluation_details"]
    pre, post = details[1], details[2]

    assert (pre["name"], post["name"]) == ("Pre-training bias", "Post-training bias")
    assert pre["metric_groups"][0]["name"] == "sex: female*"
    assert "1 of 1 limited metrics within limits" in pre["evaluation_observation"]
    assert "0 of 2 limited metrics within limits; outside: sex/DI, sex/FT" in post["evaluation_observation"]
    assert post["metric_groups"][0]["metric_data"][1] == {
        "name": "FT",
        "type": "string",
        "value": "undefined",
        "notes": "Flip Test (FT); limit at most 0.1; OUTSIDE limit; FT is undefined: no feature matrix was given",
    }


def test_explainability_evaluation_lists_global_shap_values() -> None:
    explain = _card()["evaluation_details"][3]

    assert explain["name"] == "Explainability (TreeSHAP)"
    assert explain["metric_groups"][0]["metric_data"][0] == {
        "name": "status_of_existing_checking_account",
        "type": "number",
        "value": 0.7538,
    }


def test_custom_details_carry_the_lineage_digests() -> None:
    details = _card()["additional_information"]["custom_details"]

    assert details["data_sha256"] == "a" * 64
    assert details["config_sha256"] == "b" * 64
    assert details["job_code_sha256"] == "d" * 64
    assert details["asl_definition_sha256"] == "e" * 64
    assert details["state_machine_version"].endswith(":stateMachine:gm-training-pipeline:4")
    assert details["model_artifact_sha256"] == "c" * 64
    assert details["report_evaluation_sha256"] == "f" * 64
    assert details["code"] == "model-projects@main commit 3fecb6dfd76ea78aae6e59f83b6119ee40dfb2f8"


def test_ethical_considerations_say_when_no_bias_report_was_supplied() -> None:
    text = _card(bias=None)["additional_information"]["ethical_considerations"]

    assert "No bias report was supplied" in text


def test_model_card_is_a_pure_function_of_its_inputs() -> None:
    assert json.dumps(_card(), sort_keys=True) == json.dumps(_card(), sort_keys=True)


def test_bias_checks_fail_an_undefined_metric_that_has_a_limit() -> None:
    checks = {(c.metric, c.passed) for c in bias_checks(_bias())}

    assert checks == {("CI", None), ("DPL", True), ("DI", False), ("FT", False)}


# --- the HTML evidence page ----------------------------------------------------------------------


def test_evidence_page_is_one_html_document() -> None:
    page = _html()

    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1
    assert page.rstrip().endswith("</html>")


def test_evidence_page_shows_version_and_status_in_the_header() -> None:
    header = _html().split("</header>")[0]

    assert "<h1>credit-risk/3</h1>" in header
    assert "Pending manual approval" in header


def test_evidence_page_shows_who_approved_and_why() -> None:
    approval = ApprovalDecision(
        approval_id="ap-1",
        decision="approved",
        decided_by="risk.officer@example.com",
        decided_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        reason="Gates and bias within limits",
    )

    page = _html(_record(status="Approved", approval=approval))

    assert "Approved by <strong>risk.officer@example.com</strong> at 2026-11-29 09:00:00 UTC" in page
    assert "Gates and bias within limits" in page


@pytest.mark.parametrize(
    "value",
    [
        "a" * 64,  # data sha256
        "b" * 64,  # config sha256
        "d" * 64,  # job code sha256
        "e" * 64,  # ASL sha256
        "f" * 64,  # evaluation report sha256
        "3fecb6dfd76ea78aae6e59f83b6119ee40dfb2f8",  # commit
        "s3://governed-mlops-databucket/datasets/credit-risk/german_credit.csv?versionId=v1",
        "binary:logistic",  # a hyperparameter
        "3.2.0",  # a library version
    ],
)
def test_lineage_table_shows_every_digest_and_identifier(value: str) -> None:
    lineage = _html().split("id='lineage'")[1].split("</section>")[0]

    assert value in lineage


def test_lineage_says_when_the_asl_digest_was_not_recorded() -> None:
    lineage = _html(_record(definition_sha256=None)).split("id='lineage'")[1].split("</section>")[0]

    assert "State machine (ASL) sha256</th><td><span class='muted'>not recorded</span>" in lineage


def test_lineage_names_the_pipeline_version_that_ran_or_says_it_was_not_started_through_the_alias() -> None:
    with_version = _html().split("id='lineage'")[1].split("</section>")[0]
    without = _html(_record(state_machine_version_arn=None)).split("id='lineage'")[1].split("</section>")[0]

    assert "gm-training-pipeline:4</code>" in with_version
    assert "State machine version</th><td><span class='muted'>not recorded (started without the alias)" in without


def test_metrics_table_shows_value_minimum_and_result_in_words() -> None:
    performance = _html().split("id='performance'")[1].split("</section>")[0]

    assert "<td>AUC</td><td class='num'>0.8208</td><td class='num'>≥ 0.7000</td><td class='pass'>✓ Pass</td>" in (
        performance
    )
    assert "<td>KS</td><td class='num'>0.5505</td><td class='num'>≥ 0.6000</td><td class='fail'>✗ Fail</td>" in (
        performance
    )
    assert "<td>F1</td><td class='num'>0.8450</td><td class='num'>—</td><td class='na'>— Not gated</td>" in (
        performance
    )


def test_bias_tables_show_pre_and_post_metrics_with_limits_and_results() -> None:
    bias = _html().split("id='bias'")[1].split("</section>")[0]

    assert "<caption>Pre-training bias</caption>" in bias
    assert "<caption>Post-training bias</caption>" in bias
    assert "between -0.1 and 0.1</td><td class='pass'>✓ Pass</td>" in bias
    assert "at least 0.8</td><td class='fail'>✗ Fail</td>" in bias
    assert "<td class='num'>undefined</td><td>at most 0.1</td><td class='fail'>✗ Fail</td>" in bias
    assert "none</td><td class='na'>— No limit</td>" in bias


def test_explainability_section_ranks_features_and_shows_reason_codes() -> None:
    section = _html().split("id='explainability'")[1].split("</section>")[0]

    assert section.index("Status of existing checking account") < section.index("Duration in month")
    assert "lowered the score by 0.42 (log-odds)" in section
    assert "✗ Deny" in section


def test_images_are_embedded_as_data_uris_in_their_sections() -> None:
    page = _html()
    shap_svg, bias_png = _svg(), _png(3, 2)

    explainability = page.split("id='explainability'")[1].split("</section>")[0]
    bias = page.split("id='bias'")[1].split("</section>")[0]
    assert f"src='data:image/svg+xml;base64,{base64.b64encode(shap_svg).decode()}'" in explainability
    assert f"src='data:image/png;base64,{base64.b64encode(bias_png).decode()}'" in bias


def test_an_image_that_is_not_a_picture_is_reported_not_embedded() -> None:
    page = _html(images={"notes.svg": b"<svg onload='alert(1)'></svg>"})

    assert "Not embedded" in page
    assert "<svg" not in page


def test_page_loads_nothing_external_and_runs_no_script() -> None:
    page = _html()

    assert not re.search(r"""(?:src|href)\s*=\s*['"]?\s*(?:https?:)?//""", page, flags=re.IGNORECASE)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page.lower()
    assert "url(" not in page
    assert all(link.startswith("#") for link in re.findall(r"href='([^']*)'", page))
    assert all(source.startswith("data:image/") for source in re.findall(r"src='([^']*)'", page))


def test_page_forbids_loading_external_resources_with_a_content_security_policy() -> None:
    assert "default-src 'none'; img-src data:; style-src 'unsafe-inline'" in _html()


def _malicious_inputs() -> tuple[ModelVersion, dict[str, Any]]:
    record = _record(
        execution_name=MALICIOUS,
        training_job_name=MALICIOUS,
        hyperparameters={"objective": MALICIOUS, MALICIOUS: "1"},
        library_versions={MALICIOUS: MALICIOUS},
        trigger=_record().trigger.model_copy(update={"principal": MALICIOUS}),
        approval=ApprovalDecision(
            approval_id="a",
            decision="rejected",
            decided_by=MALICIOUS,
            decided_at=datetime(2026, 11, 29, tzinfo=UTC),
            reason=MALICIOUS,
        ),
    )
    explainability = _explainability(feature=MALICIOUS, text=MALICIOUS)
    bias = _bias(facet=MALICIOUS, group=MALICIOUS)
    evaluation = EVALUATION | {"positive_label": MALICIOUS, "rows": MALICIOUS}
    card = build_model_card(
        record,
        intended_uses=MALICIOUS,
        evaluation=evaluation,
        bias=bias,
        explainability=explainability,
        narrative=CardNarrative(model_owner=MALICIOUS),
    )
    return record, {
        "model_card": card,
        "evaluation": evaluation,
        "bias": bias,
        "explainability": explainability,
        "images": {MALICIOUS: _png(), f"{MALICIOUS}.bin": b"\x00"},
        "gates": GATES,
    }


def test_every_user_controlled_string_is_html_escaped() -> None:
    record, arguments = _malicious_inputs()

    page = render_evidence_html(record, **arguments)

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # Values inside attributes are escaped too
    assert all("<" not in alt and ">" not in alt for alt in re.findall(r"alt='([^']*)'", page))


def test_a_quote_in_a_value_cannot_break_out_of_an_attribute() -> None:
    page = _html(images={"x' onerror='alert(1).png": _png()})

    assert "onerror='alert" not in page
    assert "x&#x27; onerror=&#x27;alert(1)" in page


def test_evidence_page_without_bias_or_explainability_says_so() -> None:
    page = _html(bias=None, explainability=None, images={}, model_card=_card(bias=None, explainability=None))

    assert page.split("id='bias'")[1].split("</section>")[0].count("Not supplied") == 1
    assert "No explainability report was supplied." in page


def test_evidence_page_is_a_pure_function_of_its_inputs() -> None:
    assert _html() == _html()


CREDIT_CONFIG_FILE = Path(__file__).resolve().parents[2] / "models" / "credit-risk" / "config.yaml"


def _credit_config(**model: Any) -> dict[str, Any]:
    """models/credit-risk/config.yaml without its decisions and card, with ``model`` set instead."""
    document = yaml.safe_load(CREDIT_CONFIG_FILE.read_text(encoding="utf-8"))
    kept = {key: value for key, value in document["model"].items() if key not in {"decisions", "card"}}
    document["model"] = kept | model
    return document


def _card_text(config: dict[str, Any]) -> str:
    """The model card of ``config``'s stated text and decisions, as JSON text."""
    pipeline = parse_config(yaml.safe_dump(config))
    narrative = pipeline.model.card
    decisions = pipeline.model.decisions
    card = build_model_card(
        _record(),
        intended_uses=narrative.intended_uses or "uses",
        evaluation={"threshold": 0.5, "positive_label": pipeline.dataset.positive_label},
        bias=None,
        explainability=None,
        narrative=CardNarrative(**({"purpose_of_model": narrative.purpose} if narrative.purpose else {})),
        decisions=None if decisions is None else (decisions.favourable, decisions.unfavourable),
    )
    return json.dumps(card)


def test_a_model_card_without_stated_text_speaks_of_the_models_own_outcome() -> None:
    document = _credit_config()
    document["dataset"]["positive_label"] = "good"

    text = _card_text(document)

    # (the record these tests share names a credit-risk group and a german_credit.csv object)
    assert "credit" not in text.lower().replace("credit-risk", "").replace("german_credit.csv", "")
    assert "applicant" not in text.lower()
    assert "'good' when P(good) >= 0.5, not 'good' below" in text


def test_the_configured_decisions_and_stated_purpose_reach_the_model_card() -> None:
    text = _card_text(
        _credit_config(decisions={"favourable": "grant", "unfavourable": "decline"}, card={"purpose": "Why."})
    )

    assert "grant when P(good) >= 0.5, decline below" in text
    assert '"purpose_of_model": "Why."' in text


def test_the_credit_project_states_its_credit_use_on_its_card() -> None:
    card = parse_config(CREDIT_CONFIG_FILE.read_text(encoding="utf-8")).model.card

    assert card.intended_uses is not None
    assert "credit" in card.intended_uses.lower()
    assert card.risk_explanation is not None
    assert "Annex III" in card.risk_explanation
