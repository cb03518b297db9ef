"""Drift detection: a ``constraint_violations.json`` document comparing captured rows with the baseline.

Per feature: PSI and two-sample Kolmogorov-Smirnov (numeric) or chi-square homogeneity and PSI
(categorical), from scipy, plus data type and completeness checks; every number is kept under
``drift_metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import FeatureSpec, MissingTreatment, feature_spec_from_dict
from governed_mlops_ml.monitoring.baseline_statistics import bin_fractions

#: A chi-square test needs two categories.
_MIN_CATEGORIES = 2

__all__ = [
    "INSUFFICIENT_DATA",
    "NO_VIOLATIONS",
    "VIOLATIONS",
    "DriftThresholds",
    "detect_drift",
    "spec_from_statistics",
]

#: ``constraint_violations.json`` ``status``: the verdict of one analysis.
NO_VIOLATIONS = "no_violations"
VIOLATIONS = "violations"
INSUFFICIENT_DATA = "insufficient_data"
"""Fewer captured rows than ``DriftThresholds.min_samples``: neither drift nor a completeness failure, no verdict."""

_PSI_FLOOR = 1e-4
"""Bin fractions are floored at this value so an empty bin gives a large, finite PSI term."""


@dataclass(frozen=True)
class DriftThresholds:
    """When a captured feature counts as drifted or failing a check.

    A numeric feature drifts when its PSI exceeds ``psi`` or the KS p-value is below ``ks_p_value``;
    a categorical feature when its PSI exceeds ``psi`` or the chi-square p-value is below
    ``chi2_p_value``. Set a limit to ``None`` to switch that test off. Drift is judged only for
    features with at least ``min_rows`` present values. Fewer than ``min_samples`` captured rows in the
    window give no verdict at all (status ``insufficient_data``; the pipeline's ``monitoring.min_samples``).

    Completeness fails when a feature's missing fraction exceeds the limit of its missing-value policy
    stored in the feature spec (``max_fraction``; 0 for ``reject``). A spec that states no limit (format
    version 1) falls back to the old rule: completeness more than ``completeness_tolerance`` below the
    baseline's.
    """

    psi: float | None = 0.2
    ks_p_value: float | None = 0.01
    chi2_p_value: float | None = 0.01
    completeness_tolerance: float = 0.01
    min_rows: int = 30
    min_samples: int = 1

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_drift(
    baseline_statistics: Mapping[str, Any],
    captured: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare captured raw feature rows with the baseline; a ``constraint_violations.json`` document.

    ``status`` is the verdict: ``no_violations``, ``violations``, or ``insufficient_data`` when the
    capture has fewer than ``thresholds.min_samples`` rows (then nothing is judged and ``violations``
    is empty). ``violations`` lists, per feature, ``missing_column_check``, ``data_type_check``,
    ``completeness_check`` (missing fraction above the limit of the feature's missing-value policy)
    and ``baseline_drift_check`` failures; ``drift_metrics`` holds every computed number (PSI, KS
    statistic and p-value, chi-square statistic and p-value, completeness, missing count, policy and
    limit, imputed value, rows) for every feature, drifted or not. ``constraints``
    (``constraints.json``) supplies the data type match threshold; without it every present value must match.

    Raises:
        JobInputError: the statistics document lacks the features or drift baseline written by :func:`baseline`.
    """
    limits = thresholds or DriftThresholds()
    datatype_threshold = float((constraints or {}).get("monitoring_config", {}).get("datatype_check_threshold", 1.0))
    try:
        features = list(baseline_statistics["features"])
        baseline_rows = int(baseline_statistics["dataset"]["item_count"])
    except (KeyError, TypeError) as exc:
        raise JobInputError(f"baseline statistics are malformed: {exc!r}") from exc
    spec = spec_from_statistics(baseline_statistics) if "feature_spec" in baseline_statistics else None
    rows = len(captured)
    if rows < limits.min_samples:
        return {
            "status": INSUFFICIENT_DATA,
            "violations": [],
            "drift_metrics": {
                "rows": rows,
                "baseline_rows": baseline_rows,
                "thresholds": limits.to_json_dict(),
                "drifted_features": [],
                "features": {},
                "insufficient_data": (
                    f"{rows} captured rows, fewer than min_samples={limits.min_samples}: no verdict on drift "
                    "or completeness"
                ),
            },
        }
    violations: list[dict[str, str]] = []
    metrics: dict[str, dict[str, Any]] = {}
    for feature in features:
        name = str(feature["name"])
        if name not in captured.columns:
            violations.append(_violation(name, "missing_column_check", f"Column {name!r} is missing from the data"))
            metrics[name] = {"rows": rows, "missing_column": True}
            continue
        if "numerical_statistics" in feature:
            found, checks = _numeric_drift(feature, captured[name], limits, datatype_threshold)
        elif "string_statistics" in feature:
            found, checks = _categorical_drift(feature, captured[name], limits)
        else:
            raise JobInputError(f"baseline feature {name!r} has neither numerical nor string statistics")
        found["baseline_completeness"] = _baseline_completeness(feature, baseline_rows)
        checks.extend(_completeness_checks(found, spec.missing_for(name) if spec else None, limits))
        metrics[name] = found
        violations.extend(_violation(name, check, description) for check, description in checks)
    return {
        "status": VIOLATIONS if violations else NO_VIOLATIONS,
        "violations": violations,
        "drift_metrics": {
            "rows": rows,
            "baseline_rows": baseline_rows,
            "thresholds": limits.to_json_dict(),
            "drifted_features": sorted(
                {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"}
            ),
            "features": metrics,
        },
    }


def _completeness_checks(
    found: dict[str, Any], treatment: MissingTreatment | None, limits: DriftThresholds
) -> list[tuple[str, str]]:
    """The completeness check of one feature, judged against its missing-value policy; adds its numbers to ``found``.

    The policy and limit come from the feature spec the model was trained with, as do imputed values: the
    endpoint filled each missing value of an ``impute-*`` feature with ``imputed_value`` before scoring.
    """
    rows, present = int(found["rows"]), int(found["present"])
    missing = rows - present
    fraction = missing / rows if rows else 0.0
    policy = treatment.policy if treatment is not None else "allow"
    limit = treatment.max_fraction if treatment is not None else None
    found |= {"missing": missing, "missing_fraction": fraction, "missing_policy": policy, "max_missing_fraction": limit}
    if treatment is not None and treatment.value is not None:
        found |= {"imputed_value": treatment.value, "imputed": missing}
    if limit is None:
        # No stated limit (a feature spec of format version 1): compare with the baseline's completeness.
        expected, completeness = float(found["baseline_completeness"]), float(found["completeness"])
        if rows and completeness < expected - limits.completeness_tolerance:
            return [
                (
                    "completeness_check",
                    f"Data completeness check: expected completeness {expected:.1%}, "
                    f"observed {completeness:.1%} (tolerance {limits.completeness_tolerance:.1%})",
                )
            ]
        return []
    if fraction <= limit:
        return []
    allowed = "no missing value" if policy == "reject" else f"at most {limit:.1%} missing"
    return [
        (
            "completeness_check",
            f"Data completeness check: {missing} of {rows} values ({fraction:.1%}) are missing; the feature's "
            f"missing-value policy {policy} allows {allowed}",
        )
    ]


def _violation(name: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def _baseline_completeness(feature: Mapping[str, Any], baseline_rows: int) -> float:
    block = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    present = float(block.get("common", {}).get("num_present", baseline_rows))
    return present / baseline_rows if baseline_rows else 1.0


def _numeric_drift(
    feature: Mapping[str, Any], column: pd.Series, limits: DriftThresholds, datatype_threshold: float
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    name = str(feature["name"])
    inferred = str(feature.get("inferred_type", "Fractional"))
    drift_baseline = feature.get("drift_baseline")
    if not isinstance(drift_baseline, Mapping):
        raise JobInputError(f"baseline feature {name!r} has no drift_baseline (compute it with ml.monitoring.baseline)")
    present_mask = column.notna().to_numpy() & (column.astype(str).str.strip() != "").to_numpy()
    values = pd.to_numeric(column[present_mask], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    numeric = values[np.isfinite(values)]
    present = int(present_mask.sum())
    matching = int(np.sum(np.floor(numeric) == numeric)) if inferred == "Integral" else int(numeric.size)
    match_fraction = matching / present if present else 1.0
    found: dict[str, Any] = {
        "type": "numeric",
        "rows": len(column),
        "present": present,
        "completeness": present / len(column) if len(column) else 1.0,
        "data_type_match": match_fraction,
    }
    checks: list[tuple[str, str]] = []
    if match_fraction < datatype_threshold:
        checks.append(
            (
                "data_type_check",
                f"Data type match requirement is not met. Expected data type: {inferred}, expected match: "
                f"{datatype_threshold:.1%}. Observed: only {match_fraction:.1%} of the data is {inferred}.",
            )
        )
    if numeric.size < limits.min_rows or not drift_baseline.get("sample"):
        found["drift_skipped"] = f"{numeric.size} numeric values, fewer than min_rows={limits.min_rows}"
        return found, checks
    edges = [float(e) for e in drift_baseline["bin_edges"]]
    expected = np.asarray(drift_baseline["bin_fractions"], dtype=np.float64)
    observed = bin_fractions(numeric, edges)
    psi = _psi(expected, observed)
    ks = stats.ks_2samp(np.asarray(drift_baseline["sample"], dtype=np.float64), numeric)
    found |= {
        "psi": psi,
        "ks_statistic": float(ks.statistic),
        "ks_p_value": float(ks.pvalue),
        "mean": float(numeric.mean()),
        "baseline_mean": float(feature["numerical_statistics"].get("mean", math.nan)),
    }
    reasons = []
    if limits.psi is not None and psi > limits.psi:
        reasons.append(f"PSI {psi:.4f} exceeds {limits.psi}")
    if limits.ks_p_value is not None and ks.pvalue < limits.ks_p_value:
        reasons.append(f"KS p-value {ks.pvalue:.3g} is below {limits.ks_p_value} (KS statistic {ks.statistic:.4f})")
    found["drifted"] = bool(reasons)
    if reasons:
        checks.append(("baseline_drift_check", "Baseline drift distance: " + "; ".join(reasons)))
    return found, checks


def _categorical_drift(
    feature: Mapping[str, Any], column: pd.Series, limits: DriftThresholds
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    baseline_counts = {str(bucket["value"]): float(bucket["count"]) for bucket in buckets}
    present_values = column[column.notna()].astype(str)
    present_values = present_values[present_values.str.strip() != ""]
    observed_counts = present_values.value_counts()
    present = int(present_values.size)
    unseen = int(sum(count for value, count in observed_counts.items() if str(value) not in baseline_counts))
    found: dict[str, Any] = {
        "type": "categorical",
        "rows": len(column),
        "present": present,
        "completeness": present / len(column) if len(column) else 1.0,
        "unseen_fraction": unseen / present if present else 0.0,
    }
    checks: list[tuple[str, str]] = []
    if present < limits.min_rows:
        found["drift_skipped"] = f"{present} values, fewer than min_rows={limits.min_rows}"
        return found, checks
    categories = sorted(set(baseline_counts) | {str(value) for value in observed_counts.index})
    expected_counts = np.array([baseline_counts.get(c, 0.0) for c in categories])
    observed = np.array([float(observed_counts.get(c, 0)) for c in categories])
    psi = _psi(expected_counts / expected_counts.sum(), observed / observed.sum())
    table = np.vstack([expected_counts, observed])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < _MIN_CATEGORIES:  # one category in both samples: nothing to compare
        chi2_statistic, chi2_p = 0.0, 1.0
    else:
        result = stats.chi2_contingency(table)
        chi2_statistic, chi2_p = float(result.statistic), float(result.pvalue)
    found |= {"psi": psi, "chi2_statistic": chi2_statistic, "chi2_p_value": chi2_p}
    reasons = []
    if limits.psi is not None and psi > limits.psi:
        reasons.append(f"PSI {psi:.4f} exceeds {limits.psi}")
    if limits.chi2_p_value is not None and chi2_p < limits.chi2_p_value:
        reasons.append(f"chi-square p-value {chi2_p:.3g} is below {limits.chi2_p_value}")
    found["drifted"] = bool(reasons)
    if reasons:
        checks.append(("baseline_drift_check", "Baseline drift distance: " + "; ".join(reasons)))
    return found, checks


def _psi(expected: npt.NDArray[np.float64], observed: npt.NDArray[np.float64]) -> float:
    """Population stability index: sum of (observed - expected) * ln(observed / expected) over bins."""
    e = np.maximum(expected, _PSI_FLOOR)
    o = np.maximum(observed, _PSI_FLOOR)
    return float(np.sum((o - e) * np.log(o / e)))


def spec_from_statistics(statistics: Mapping[str, Any]) -> FeatureSpec:
    """The feature spec embedded in a ``statistics.json`` written by :func:`baseline`.

    Raises:
        JobInputError: the document has no (valid) ``feature_spec``.
    """
    document = statistics.get("feature_spec")
    if not isinstance(document, Mapping):
        raise JobInputError("baseline statistics have no feature_spec (compute them with ml.monitoring.baseline)")
    return feature_spec_from_dict(document)
