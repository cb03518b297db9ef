"""The model card of a registered model version, in the SageMaker Model Card content schema (pure).

:func:`build_model_card` returns the ``Content`` document of ``CreateModelCard`` (JSON schema
version 0.1): ``model_overview``, ``intended_uses``, ``business_details``, ``training_details``,
``evaluation_details`` and ``additional_information``. Facts come from the registry record and the
stage reports; only what no report can know (intended uses, ownership, business context, risk
rating) is supplied by people, through the arguments and :class:`CardNarrative`. The model's risk
tier (its project's ``model.risk_tier``) sets the card's risk rating unless the narrative states
one, and ``custom_details`` record the approval policy the tier applies and, once decided, who
approved under which policy.

Text fields are cut to the schema's maximum lengths (with an ellipsis) so a long narrative cannot
make ``CreateModelCard`` fail; identifiers and digests are far below those limits. The helpers
:func:`metric_rows`, :func:`gate_checks` and :func:`bias_checks` read the stage reports for both
the card and the HTML evidence page, so the two always agree.

Report shapes read here:

- evaluation: the Model Registry "ModelQuality" statistics of ``jobs/evaluate.py``
  (``binary_classification_metrics.<metric>.value``, ``confusion_matrix``, ROC curve, ``threshold``),
- gates: the Check Quality Gates report (``{passed, threshold, checks: [{metric, value, limit, passed}]}``),
- bias: Clarify's ``analysis.json`` with ``pre_training_bias_metrics`` and/or ``post_training_bias_metrics``
  (``facets.<name>: [{value_or_threshold, metrics: [{name, description, value, error?, limit? {min?, max?}}]}]``;
  pass both stages' reports merged into one dict),
- explainability: ``jobs/explain.py``'s ``explainability.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.domain.approval import policy_text
from governed_mlops.domain.bias_plain import not_assessed_reason
from governed_mlops.models import ModelSpec, ModelVersion
from governed_mlops.reports.stage_reports import (
    METRIC_NAMES,
    STAGE_TITLES,
    BiasCheck,
    bias_checks,
    gate_checks,
    is_finite_number,
    metric_rows,
)

__all__ = [
    "MODEL_CARD_SCHEMA_VERSION",
    "CardNarrative",
    "build_model_card",
]

MODEL_CARD_SCHEMA_VERSION = "0.1"

RiskRating = Literal["High", "Medium", "Low", "Unknown"]

#: The card's risk rating of each risk tier.
TIER_RATINGS: dict[str, RiskRating] = {"high": "High", "medium": "Medium", "low": "Low"}

DEFAULT_RISK_EXPLANATION = (
    "No risk tier was given for this model, so it is rated High: state the reason for its rating in the "
    "project's configuration (model.risk_tier, and model.card.risk_explanation)."
)

"""Display names of the evaluation metrics, in report order."""


# Maximum lengths of the schema's fields (characters).
_NAME = 63
_METRIC_NAME = 255
_SHORT = 1024
_LONG = 2048
_OBSERVATION = 2096
_MAX_DATASETS = 10
_MAX_HYPERPARAMETERS = 100
_MAX_TRAINING_METRICS = 50


class CardNarrative(BaseModel):
    """What people state about the model (the card's non-derivable fields); every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_owner: str | None = Field(default=None, description="Individual or team that maintains the model.")
    model_creator: str | None = Field(default=None, description="Organisation or team that built the model.")
    purpose_of_model: str | None = None
    factors_affecting_model_efficiency: str | None = None
    risk_rating: RiskRating = "High"
    explanations_for_risk_rating: str = DEFAULT_RISK_EXPLANATION
    business_problem: str | None = None
    business_stakeholders: str | None = None
    line_of_business: str | None = None
    ethical_considerations: str | None = None
    caveats_and_recommendations: str | None = None


def build_model_card(  # noqa: PLR0913 - keyword-only past the record: one parameter per stage report on the card
    record: ModelVersion,
    *,
    intended_uses: str,
    evaluation: Mapping[str, Any],
    bias: Mapping[str, Any] | None,
    explainability: Mapping[str, Any] | None,
    gates: Mapping[str, Any] | None = None,
    training_metrics: Mapping[str, Any] | None = None,
    narrative: CardNarrative | None = None,
    model: ModelSpec | None = None,
    decisions: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The SageMaker Model Card ``Content`` of a registered model version.

    ``decisions`` names the favourable and unfavourable outcome (the config's ``model.decisions``);
    without it the card speaks of the positive label and its complement.

    ``training_metrics`` is the training job's ``training_metrics.json`` (its numeric entries become
    the card's training metrics); ``gates`` the quality-gates report. Sections without a source
    (no bias or explainability report) are left out of ``evaluation_details`` and said so in the
    ethical considerations. ``model`` (the run's request) gives the risk tier: the card's risk rating
    when the narrative does not state one, and the approval policy in ``custom_details``.
    """
    story = _with_tier_rating(narrative or CardNarrative(), model)
    threshold = evaluation.get("threshold")
    positive = str(evaluation.get("positive_label", "the favourable outcome"))
    favourable, unfavourable = decisions or (repr(positive), f"not {positive!r}")
    decision_rule = (
        f"{favourable} when P({positive}) >= {threshold}, {unfavourable} below"
        if is_finite_number(threshold)
        else f"{favourable} or {unfavourable}"
    )
    return {
        "model_overview": _model_overview(record, story, positive),
        "intended_uses": _drop_none(
            {
                "purpose_of_model": _clip(
                    story.purpose_of_model
                    or f"Estimate the probability that the outcome is '{positive}' to support the decision "
                    f"({decision_rule}).",
                    _LONG,
                ),
                "intended_uses": _clip(intended_uses, _LONG),
                "factors_affecting_model_efficiency": _clip(
                    story.factors_affecting_model_efficiency or _default_efficiency_factors(record), _LONG
                ),
                "risk_rating": story.risk_rating,
                "explanations_for_risk_rating": _clip(story.explanations_for_risk_rating, _LONG),
            }
        ),
        "business_details": _drop_none(
            {
                "business_problem": _clip(story.business_problem or f"Decide per case: {decision_rule}.", _LONG),
                "business_stakeholders": _clip_optional(story.business_stakeholders, _LONG),
                "line_of_business": _clip_optional(story.line_of_business, _LONG),
            }
        ),
        "training_details": _training_details(record, training_metrics),
        "evaluation_details": [
            _holdout_evaluation(record, evaluation, gates),
            *_bias_evaluations(bias),
            *_explainability_evaluation(explainability),
        ],
        "additional_information": {
            "ethical_considerations": _clip(
                story.ethical_considerations or _default_ethics(bias, explainability), _LONG
            ),
            "caveats_and_recommendations": _clip(
                story.caveats_and_recommendations or _default_caveats(record, explainability), _LONG
            ),
            "custom_details": _custom_details(record, model),
        },
    }


def _with_tier_rating(story: CardNarrative, model: ModelSpec | None) -> CardNarrative:
    """The narrative, rated by the model's risk tier unless it states a rating of its own."""
    if model is None or "risk_rating" in story.model_fields_set:
        return story
    update: dict[str, Any] = {"risk_rating": TIER_RATINGS[model.risk_tier]}
    if "explanations_for_risk_rating" not in story.model_fields_set:
        update["explanations_for_risk_rating"] = (
            f"Risk tier {model.risk_tier} in the project's configuration (models/{model.name}/config.yaml, "
            f"model.risk_tier); approval policy: {_policy(model)}."
        )
    return story.model_copy(update=update)


def _policy(model: ModelSpec) -> str:
    return policy_text(model.approvals_required, model.approvers_group, model.risk_tier)


def _model_overview(record: ModelVersion, story: CardNarrative, positive: str) -> dict[str, Any]:
    xgboost = record.library_versions.get("xgboost")
    objective = record.hyperparameters.get("objective", "binary:logistic")
    overview: dict[str, Any] = {
        "model_id": record.model_package_arn or record.model_version,
        "model_name": record.model_package_group,
        "model_description": _clip(
            f"Gradient-boosted trees (XGBoost, objective {objective}) scoring P({positive}) per case. "
            f"Version {record.model_version}, trained by pipeline execution {record.execution_name} "
            f"from commit {record.code.commit_id} of {record.code.repository} on {record.data.ref.pinned_uri}.",
            _SHORT,
        ),
        "problem_type": "Binary Classification",
        "algorithm_type": f"Gradient Boosted Trees (XGBoost {xgboost})"
        if xgboost
        else "Gradient Boosted Trees (XGBoost)",
        "model_creator": _clip(story.model_creator or "Governed MLOps pipeline", _SHORT),
        "model_owner": _clip_optional(story.model_owner, _SHORT),
        "model_artifact": [record.model_artifact.ref.pinned_uri],
        "inference_environment": {"container_image": [record.training_image]},
    }
    version = _version_number(record.model_version)
    if version is not None:
        overview["model_version"] = version
    return _drop_none(overview)


def _training_details(record: ModelVersion, training_metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    objective = record.hyperparameters.get("objective", "binary:logistic")
    job: dict[str, Any] = {
        "training_arn": record.training_job_name,
        "training_datasets": [record.data.ref.pinned_uri],
        "training_environment": {"container_image": [record.training_image]},
        "hyper_parameters": [
            {"name": _clip(name, _METRIC_NAME), "value": _clip(value, _METRIC_NAME) or "-"}
            for name, value in sorted(record.hyperparameters.items())
        ][:_MAX_HYPERPARAMETERS],
    }
    numeric = [
        {"name": _clip(str(name), _METRIC_NAME), "value": float(value)}
        for name, value in (training_metrics or {}).items()
        if is_finite_number(value)
    ]
    if numeric:
        job["training_metrics"] = numeric[:_MAX_TRAINING_METRICS]
    return {
        "objective_function": {
            "function": {"function": "Minimize", "facet": "Loss", "condition": _clip(objective, _NAME)},
            "notes": f"XGBoost objective {objective}: the log loss of P(positive label).",
        },
        "training_observations": _clip(
            f"SageMaker training job {record.training_job_name} (image {record.training_image}), seed {record.seed}, "
            f"one thread: the model file is byte-identical across reruns (sha256 {record.model_artifact.sha256}).",
            _SHORT,
        ),
        "training_job_details": job,
    }


def _holdout_evaluation(
    record: ModelVersion, evaluation: Mapping[str, Any], gates: Mapping[str, Any] | None
) -> dict[str, Any]:
    metrics = [
        {"name": row.label, "type": "number", "value": row.value, "notes": row.metric}
        for row in metric_rows(evaluation)
    ]
    groups: list[dict[str, Any]] = [{"name": "Hold-out metrics", "metric_data": metrics}]
    matrix = _confusion_matrix_metric(evaluation)
    if matrix is not None:
        groups.append({"name": "Confusion matrix", "metric_data": [matrix]})
    roc = _roc_metric(evaluation)
    if roc is not None:
        groups.append({"name": "ROC curve", "metric_data": [roc]})
    checks = gate_checks(gates)
    if checks:
        groups.append(
            {
                "name": "Quality gates",
                "metric_data": [
                    {
                        "name": f"{METRIC_NAMES.get(check.metric, check.metric)} >= {check.limit:g}",
                        "type": "boolean",
                        "value": check.passed,
                        "notes": f"hold-out value {_number(check.value)}",
                    }
                    for check in checks
                ],
            }
        )
    rows = evaluation.get("rows")
    threshold = evaluation.get("threshold")
    verdict = ""
    if checks:
        failed = [check.metric for check in checks if not check.passed]
        verdict = f" Quality gates: {'all passed' if not failed else 'failed: ' + ', '.join(failed)}."
    evaluation_digest = record.reports.get("evaluation")
    metadata = {"decision_threshold": str(threshold)}
    if evaluation_digest is not None:
        metadata |= {"report": evaluation_digest.ref.pinned_uri, "report_sha256": evaluation_digest.sha256}
    return {
        "name": "Hold-out evaluation",
        "evaluation_observation": _clip(
            f"Scored on {rows} held-out rows (stratified split of the training data source) at decision "
            f"threshold {threshold}.{verdict}",
            _OBSERVATION,
        ),
        "datasets": [record.data.ref.pinned_uri],
        "metadata": {key: _clip(value, _SHORT) for key, value in metadata.items()},
        "metric_groups": groups,
    }


def _confusion_matrix_metric(evaluation: Mapping[str, Any]) -> dict[str, Any] | None:
    section = evaluation.get("binary_classification_metrics")
    matrix = section.get("confusion_matrix") if isinstance(section, Mapping) else None
    positive, negative = evaluation.get("positive_label"), evaluation.get("negative_label")
    if not isinstance(matrix, Mapping) or positive is None or negative is None:
        return None
    labels = [str(positive), str(negative)]
    try:
        counts = [[float(matrix[actual][predicted]) for predicted in labels] for actual in labels]
    except (KeyError, TypeError, ValueError):
        return None
    return {
        "name": "Confusion matrix (rows: actual, columns: predicted)",
        "type": "matrix",
        "value": counts,
        "x_axis_name": [f"predicted {label}"[:_NAME] for label in labels],
        "y_axis_name": [f"actual {label}"[:_NAME] for label in labels],
    }


def _roc_metric(evaluation: Mapping[str, Any]) -> dict[str, Any] | None:
    section = evaluation.get("binary_classification_metrics")
    curve = section.get("receiver_operating_characteristic_curve") if isinstance(section, Mapping) else None
    if not isinstance(curve, Mapping):
        return None
    fpr, tpr = curve.get("false_positive_rates"), curve.get("true_positive_rates")
    if not isinstance(fpr, list) or not isinstance(tpr, list) or len(fpr) != len(tpr) or not fpr:
        return None
    if not all(is_finite_number(value) for value in [*fpr, *tpr]):
        return None
    return {
        "name": "ROC curve",
        "type": "linear_graph",
        "value": [[float(x), float(y)] for x, y in zip(fpr, tpr, strict=True)],
        "x_axis_name": "False positive rate",
        "y_axis_name": "True positive rate",
    }


def _bias_evaluations(bias: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    checks = bias_checks(bias)
    evaluations = []
    for section_name, title in STAGE_TITLES.items():
        stage_checks = [check for check in checks if check.stage == section_name]
        if not stage_checks:
            continue
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for check in stage_checks:
            groups.setdefault((check.facet, check.group), []).append(_bias_metric(check))
        limited = [check for check in stage_checks if check.passed is not None]
        failed = [f"{check.facet}/{check.metric}" for check in limited if not check.passed]
        outcome = (
            "no limits configured"
            if not limited
            else f"{len(limited) - len(failed)} of {len(limited)} limited metrics within limits"
            + (f"; outside: {', '.join(failed)}" if failed else "")
        )
        evaluations.append(
            {
                "name": title,
                "evaluation_observation": _clip(f"SageMaker Clarify metrics per facet: {outcome}.", _OBSERVATION),
                "metric_groups": [
                    {"name": _clip(f"{facet}: {group}", _NAME), "metric_data": metrics}
                    for (facet, group), metrics in groups.items()
                ],
            }
        )
    return evaluations


def _bias_metric(check: BiasCheck) -> dict[str, Any]:
    verdict = {True: "within limit", False: "OUTSIDE limit", None: "no limit"}[check.passed]
    notes = f"{check.description}; limit {check.limit_text}; {verdict}"
    if check.error:
        notes += f"; {check.error}"
    if check.value is None:
        return {"name": check.metric, "type": "string", "value": "undefined", "notes": _clip(notes, _SHORT)}
    return {"name": check.metric, "type": "number", "value": check.value, "notes": _clip(notes, _SHORT)}


def _explainability_evaluation(explainability: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    label = _tree_shap_label(explainability)
    if explainability is None or label is None:
        return []
    values = label.get("global_shap_values")
    metrics = [
        {"name": _clip(str(feature), _METRIC_NAME), "type": "number", "value": float(value)}
        for feature, value in (values.items() if isinstance(values, Mapping) else [])
        if is_finite_number(value)
    ]
    dataset = explainability.get("dataset")
    rows = dataset.get("rows") if isinstance(dataset, Mapping) else None
    return [
        {
            "name": "Explainability (TreeSHAP)",
            "evaluation_observation": _clip(
                f"Exact TreeSHAP contributions on {rows} rows, summed over the one-hot columns of each "
                f"categorical feature; global importance is the mean absolute contribution in log-odds. "
                f"Expected value (log-odds): {_number(label.get('expected_value'))}. Per-decision reason "
                "codes are the features with the most negative contributions.",
                _OBSERVATION,
            ),
            "metric_groups": [{"name": "Global mean |SHAP| (log-odds)", "metric_data": metrics}],
        }
    ]


def _tree_shap_label(explainability: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not explainability:
        return None
    explanations = explainability.get("explanations")
    tree_shap = explanations.get("tree_shap") if isinstance(explanations, Mapping) else None
    label = tree_shap.get("label0") if isinstance(tree_shap, Mapping) else None
    return label if isinstance(label, Mapping) else None


def _custom_details(record: ModelVersion, model: ModelSpec | None = None) -> dict[str, str]:
    details = {
        "approval_status": record.status,
        "registered_at": record.created_at.isoformat(),
        "execution_name": record.execution_name,
        "trigger": f"{record.trigger.kind} by {record.trigger.principal} ({record.trigger.detail_type}, "
        f"event {record.trigger.event_id} at {record.trigger.event_time.isoformat()})",
        "code": f"{record.code.repository}@{record.code.branch} commit {record.code.commit_id}",
        "data_object": record.data.ref.pinned_uri,
        "data_sha256": record.data.sha256,
        "config_object": record.config.ref.pinned_uri,
        "config_sha256": record.config.sha256,
        "job_code_sha256": record.source_sha256,
        "asl_definition_sha256": record.definition_sha256 or "not recorded",
        "state_machine_version": record.state_machine_version_arn or "not recorded (started unqualified)",
        "model_artifact_sha256": record.model_artifact.sha256,
        "training_job": record.training_job_name,
        "seed": str(record.seed),
        "library_versions": json.dumps(record.library_versions, sort_keys=True)
        if record.library_versions
        else "not recorded",
    }
    details |= {f"report_{name}_sha256": digest.sha256 for name, digest in sorted(record.reports.items())}
    if model is not None:
        details |= {"risk_tier": model.risk_tier, "approval_policy": _policy(model)}
    if record.approval is not None:
        approval = record.approval
        details["approval_decision"] = (
            f"{approval.decision} by {approval.decided_by} at {approval.decided_at.isoformat()}: {approval.reason}"
        )
        if approval.risk_tier is not None:
            details["risk_tier"] = approval.risk_tier
        if approval.policy:
            details["approval_policy_applied"] = approval.policy
        if approval.approvers:
            details["approvers"] = "; ".join(f"{a.approver} at {a.approved_at.isoformat()}" for a in approval.approvers)
    return {key: _clip(value, _SHORT) for key, value in details.items()}


def _default_efficiency_factors(record: ModelVersion) -> str:
    return (
        f"Measured on a hold-out split of {record.data.ref.pinned_uri}. Performance may degrade when the "
        "cases scored (their population, products or conditions) differ from that data. A category unseen in "
        "training is treated like a missing one, and a missing number follows the trees' default branches."
    )


def _default_ethics(bias: Mapping[str, Any] | None, explainability: Mapping[str, Any] | None) -> str:
    checks = bias_checks(bias)
    if checks:
        facets = sorted({check.facet for check in checks})
        limited = [check for check in checks if check.passed is not None]
        failed = [check for check in limited if not check.passed]
        bias_text = (
            f"Bias was measured with SageMaker Clarify metrics for the facets {', '.join(facets)}; "
            f"{len(limited) - len(failed)} of the {len(limited)} metrics that have limits are within them."
        )
    elif (reason := not_assessed_reason(bias)) is not None:
        bias_text = f"Bias was not assessed: the configuration names no protected attribute ({reason})."
    else:
        bias_text = "No bias report was supplied for this version: fairness across groups is unverified."
    explain_text = (
        "Each decision can be explained with exact TreeSHAP reason codes (the features that lowered the score)."
        if _tree_shap_label(explainability) is not None
        else "No explainability report was supplied for this version."
    )
    return (
        f"{bias_text} {explain_text} Features such as personal status, age or nationality may be, or stand in "
        "for, protected characteristics; their use must be justified and reviewed under fair-lending rules."
    )


def _default_caveats(record: ModelVersion, explainability: Mapping[str, Any] | None) -> str:
    text = (
        f"Status: {record.status}. Use only the artifact with sha256 {record.model_artifact.sha256}. "
        "Re-validate (data, quality gates, bias, explanations) before any change of use, population or threshold."
    )
    if _tree_shap_label(explainability) is not None:
        text += " SHAP values are in log-odds and explain the model, not causes in the world."
    return text


def _version_number(model_version: str) -> int | None:
    tail = model_version.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() and int(tail) >= 1 else None


def _number(value: Any) -> str:
    return f"{float(value):.4f}" if is_finite_number(value) else "n/a"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_optional(text: str | None, limit: int) -> str | None:
    return None if text is None else _clip(text, limit)


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}
