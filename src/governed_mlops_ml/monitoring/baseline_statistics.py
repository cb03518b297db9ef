"""The training baseline: ``statistics.json`` and ``constraints.json`` in the shape SageMaker Model Monitor writes.

Plus what drift detection needs: ``drift_baseline`` per numeric feature (the baseline's quantile
bin edges and fractions and a sorted sample of its values); categorical features keep their
category counts in the standard buckets. The statistics embed the ``feature_spec`` so a monitoring
job needs only the baseline and the captured data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import FeatureSpec

__all__ = ["baseline", "bin_fractions"]

_QUANTILES = np.linspace(0.1, 0.9, 9)
"""Interior quantiles whose (deduplicated) values are the numeric PSI bin edges: deciles."""
_KLL_BUCKETS = 10


def baseline(
    frame: pd.DataFrame, spec: FeatureSpec, *, sample_size: int = 2000
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model Monitor's ``statistics.json`` and ``constraints.json`` for the raw features of ``frame``.

    Numeric features get mean, sum, population standard deviation, min, max and ten equal-width
    KLL-style buckets; categorical features get their distinct count and category counts. A feature
    whose spec states a missing-value limit gets ``completeness`` = 1 - that limit in the constraints
    (otherwise the observed completeness). Each
    numeric feature also keeps ``drift_baseline``: decile bin edges (deduplicated, so a feature with
    few distinct values gets one bin per value), the fraction of rows per bin, and up to
    ``sample_size`` of its values (sorted; evenly spaced quantiles when there are more).

    Raises:
        JobInputError: a feature column is missing or the frame has no rows.
    """
    missing = [name for name in spec.raw_features if name not in frame.columns]
    if missing:
        raise JobInputError(f"baseline data is missing feature columns: {missing}")
    if frame.empty:
        raise JobInputError("baseline data has no rows")
    rows = len(frame)
    features: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    for name in spec.numeric_features:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        present = np.sort(values[~np.isnan(values)])
        statistics, constraint = _numeric_baseline(name, present, rows, sample_size)
        features.append(statistics)
        constraints.append(constraint)
    for feature in spec.categorical_features:
        column = frame[feature.name]
        present_text = column[column.notna()].astype(str)
        counts = present_text.value_counts()
        buckets = [
            {"value": str(value), "count": int(count)}
            for value, count in sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
        ]
        num_present = int(present_text.size)
        features.append(
            {
                "name": feature.name,
                "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": num_present, "num_missing": rows - num_present},
                    "distinct_count": float(len(buckets)),
                    "distribution": {"categorical": {"buckets": buckets}},
                },
            }
        )
        constraints.append(
            {
                "name": feature.name,
                "inferred_type": "String",
                "completeness": num_present / rows,
                "string_constraints": {"domains": sorted(str(value) for value in counts.index)},
            }
        )
    for constraint in constraints:
        limit = spec.missing_for(str(constraint["name"])).max_fraction
        if limit is not None:
            # The policy's floor, not the training data's observed completeness: what monitoring enforces.
            constraint["completeness"] = 1.0 - limit
    statistics_document = {
        "version": 0.0,
        "dataset": {"item_count": rows},
        "features": features,
        "feature_spec": spec.to_json_dict(),
    }
    constraints_document = {
        "version": 0.0,
        "features": constraints,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
            },
        },
    }
    return statistics_document, constraints_document


def _numeric_baseline(
    name: str, present: npt.NDArray[np.float64], rows: int, sample_size: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    num_present = int(present.size)
    common = {"num_present": num_present, "num_missing": rows - num_present}
    integral = bool(num_present) and bool(np.all(np.floor(present) == present))
    inferred = "Integral" if integral else "Fractional"
    if not num_present:
        numerical: dict[str, Any] = {"common": common}
        drift: dict[str, Any] = {"bin_edges": [], "bin_fractions": [1.0], "sample": []}
    else:
        low, high = float(present[0]), float(present[-1])
        edges = _unique_edges(present)
        numerical = {
            "common": common,
            "mean": float(present.mean()),
            "sum": float(present.sum()),
            "std_dev": float(present.std()),
            "min": low,
            "max": high,
            "distribution": {"kll": {"buckets": _kll_buckets(present, low, high)}},
        }
        drift = {
            "bin_edges": edges,
            "bin_fractions": bin_fractions(present, edges).tolist(),
            "sample": _sample(present, sample_size),
        }
    statistics = {"name": name, "inferred_type": inferred, "numerical_statistics": numerical, "drift_baseline": drift}
    constraint = {
        "name": name,
        "inferred_type": inferred,
        "completeness": num_present / rows,
        "num_constraints": {"is_non_negative": bool(num_present) and bool(present[0] >= 0)},
    }
    return statistics, constraint


def _kll_buckets(present: npt.NDArray[np.float64], low: float, high: float) -> list[dict[str, float]]:
    if high == low:
        return [{"lower_bound": low, "upper_bound": high, "count": float(present.size)}]
    counts, edges = np.histogram(present, bins=_KLL_BUCKETS, range=(low, high))
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(_KLL_BUCKETS)
    ]


def _unique_edges(present: npt.NDArray[np.float64]) -> list[float]:
    return [float(edge) for edge in np.unique(np.quantile(present, _QUANTILES))]


def bin_fractions(values: npt.NDArray[np.float64], edges: Sequence[float]) -> npt.NDArray[np.float64]:
    """Fraction of ``values`` per bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left"), minlength=len(edges) + 1
    )
    return np.asarray(counts / max(values.size, 1), dtype=np.float64)


def _sample(present: npt.NDArray[np.float64], size: int) -> list[float]:
    if present.size <= size:
        return [float(v) for v in present]
    return [float(v) for v in np.quantile(present, np.linspace(0.0, 1.0, size))]
