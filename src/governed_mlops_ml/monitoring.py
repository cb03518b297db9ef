"""Model monitoring: how an endpoint reads request bodies, the training baseline, and drift detection.

Three parts, all numpy / pandas / scipy (this module runs inside a SageMaker processing container):

- **Inference payloads** (:func:`parse_payload`, :func:`negotiate_accept`): the request and response
  formats of the model endpoint, as SageMaker's XGBoost container reads them: ``text/csv`` rows
  without a header, each either the model's encoded numeric columns or the raw feature values in the
  feature spec's raw order (decided per row by field count), or ``application/json``
  ``{"instances": [{feature: value} | [values]]}``. The local endpoint and :func:`read_capture` both
  use them, so captured traffic is read back exactly as the endpoint read it.
- **Baseline** (:func:`baseline`): ``statistics.json`` and ``constraints.json`` in the shape SageMaker
  Model Monitor writes, plus what drift detection needs (``drift_baseline`` per numeric feature: the
  baseline's quantile bin edges and fractions and a sorted sample of its values; categorical
  features keep their category counts in the standard buckets). The statistics embed the
  ``feature_spec`` so a monitoring job needs only the baseline and the captured data.
- **Drift** (:func:`detect_drift`): a ``constraint_violations.json`` document with per-feature PSI
  and two-sample Kolmogorov-Smirnov (numeric) or chi-square homogeneity and PSI (categorical), plus
  data type and completeness checks; every number is kept under ``drift_metrics``.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import (
    FeatureSpec,
    MissingTreatment,
    MissingValueRefused,
    apply_missing_treatment,
    feature_spec_from_dict,
)

__all__ = [
    "CSV_CONTENT_TYPE",
    "INSUFFICIENT_DATA",
    "JSON_CONTENT_TYPE",
    "MAX_PAYLOAD_BYTES",
    "NO_VIOLATIONS",
    "VIOLATIONS",
    "DriftThresholds",
    "InferencePayload",
    "PayloadError",
    "baseline",
    "detect_drift",
    "media_type",
    "negotiate_accept",
    "parse_payload",
    "read_capture",
    "spec_from_statistics",
]

CSV_CONTENT_TYPE = "text/csv"
JSON_CONTENT_TYPE = "application/json"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time endpoints refuse request bodies above 6 MB."""

#: ``constraint_violations.json`` ``status``: the verdict of one analysis.
NO_VIOLATIONS = "no_violations"
VIOLATIONS = "violations"
INSUFFICIENT_DATA = "insufficient_data"
"""Fewer captured rows than ``DriftThresholds.min_samples``: neither drift nor a completeness failure, no verdict."""

_PSI_FLOOR = 1e-4
"""Bin fractions are floored at this value so an empty bin gives a large, finite PSI term."""
_QUANTILES = np.linspace(0.1, 0.9, 9)
"""Interior quantiles whose (deduplicated) values are the numeric PSI bin edges: deciles."""
_KLL_BUCKETS = 10


# -- inference payloads ------------------------------------------------------------------------


class PayloadError(ValueError):
    """A request body, content type or accept header the model cannot serve; ``status_code`` is the HTTP status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


RowKind = Literal["raw", "encoded"]


@dataclass(frozen=True)
class InferencePayload:
    """Decoded request rows in request order: raw feature rows and already-encoded rows.

    ``raw_rows[i]`` maps every raw feature to its value (``None`` = missing) and ``encoded_rows[i]``
    holds the encoded columns; for each position exactly one of the two is set.
    """

    kinds: tuple[RowKind, ...]
    raw_rows: tuple[dict[str, Any] | None, ...]
    encoded_rows: tuple[tuple[float, ...] | None, ...]

    @property
    def row_count(self) -> int:
        return len(self.kinds)

    def matrix(self, spec: FeatureSpec) -> npt.NDArray[np.float64]:
        """The model's input matrix: raw rows encoded as :func:`~governed_mlops_ml.features.encode_frame` encodes
        them (row by row, without pandas' per-call overhead), encoded rows as sent; then missing values are
        resolved by the very function training used, :func:`~governed_mlops_ml.features.apply_missing_treatment`,
        with the imputed values stored in ``spec``.

        Raises:
            PayloadError: a raw numeric value is not a finite number, or a feature whose missing-value policy
                is ``reject`` is missing (400, naming the row and the feature).
        """
        matrix = np.zeros((self.row_count, len(spec.encoded_columns)), dtype=np.float64)
        categories = _category_positions(spec)
        for position, (raw, encoded) in enumerate(zip(self.raw_rows, self.encoded_rows, strict=True)):
            if encoded is not None:
                matrix[position] = encoded
                continue
            row = raw or {}
            for column, name in enumerate(spec.numeric_features):
                matrix[position, column] = _numeric_value(position + 1, name, row.get(name))
            for name, columns, block in categories:
                value = row.get(name)
                if value is None:
                    matrix[position, block] = np.nan  # missing, as encode_frame marks it
                    continue
                column_of = columns.get(str(value))
                if column_of is not None:
                    matrix[position, column_of] = 1.0
        try:
            return apply_missing_treatment(matrix, spec)
        except MissingValueRefused as exc:
            raise PayloadError(
                400,
                f"row {exc.rows[0] + 1}, feature {exc.feature!r}: the value is missing and the feature's "
                "missing-value policy is reject: send a value",
            ) from exc

    def frame(self, spec: FeatureSpec) -> pd.DataFrame:
        """Raw feature values, one row per request row; encoded rows are decoded with ``spec``.

        A one-hot block with no column set decodes to a missing value (as an unseen category encodes).
        """
        rows = [
            raw if raw is not None else _decode_encoded_row(encoded or (), spec)
            for raw, encoded in zip(self.raw_rows, self.encoded_rows, strict=True)
        ]
        return pd.DataFrame(rows, columns=list(spec.raw_features), dtype=object)


@functools.cache
def _category_positions(spec: FeatureSpec) -> tuple[tuple[str, dict[str, int], slice], ...]:
    """Per categorical feature, the matrix column of each known category and the feature's block of columns
    (as ``encode_frame`` lays them out)."""
    offset = len(spec.numeric_features)
    positions = []
    for feature in spec.categorical_features:
        columns = {category: offset + i for i, category in enumerate(feature.categories)}
        positions.append((feature.name, columns, slice(offset, offset + len(feature.categories))))
        offset += len(feature.categories)
    return tuple(positions)


def _numeric_value(position: int, name: str, value: Any) -> float:
    """A raw numeric value as ``encode_frame`` reads it (``pandas.to_numeric``): missing is NaN; text that is not
    a plain decimal number, NaN or infinity is refused."""
    if value is None:
        return math.nan
    number: float | None
    if isinstance(value, str):
        text = value.strip()
        try:
            # pandas refuses what Python's float() also accepts: digit separators and non-ASCII digits.
            number = float(text) if text.isascii() and "_" not in text else None
        except ValueError:
            number = None
    else:
        number = float(value)
    if number is None or math.isnan(number):
        raise PayloadError(400, f"row {position}, numeric feature {name!r}: {value!r} is not a number")
    if math.isinf(number):
        raise PayloadError(400, f"row {position}, numeric feature {name!r}: {value!r} is infinite")
    return number


def media_type(header: str | None) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv`` (lower case, parameters dropped)."""
    return (header or "").split(";", 1)[0].strip().lower()


def parse_payload(body: bytes, content_type: str | None, spec: FeatureSpec) -> InferencePayload:
    """Decode a request body into rows the model can score.

    Raises:
        PayloadError: 413 for a body above 6 MB, 415 for another content type, 400 for a body that is
            empty, not UTF-8, malformed, or has a row whose length matches neither the raw features
            nor the encoded columns (the message names the row and what was expected).
    """
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadError(413, f"request body of {len(body)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
    kind = media_type(content_type)
    if kind not in (CSV_CONTENT_TYPE, JSON_CONTENT_TYPE):
        raise PayloadError(
            415, f"unsupported content type {content_type!r}: send {CSV_CONTENT_TYPE} or {JSON_CONTENT_TYPE}"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"request body is not UTF-8: {exc}") from exc
    if not text.strip():
        raise PayloadError(400, "request body is empty: send at least one row")
    rows = _csv_rows(text, spec) if kind == CSV_CONTENT_TYPE else _json_rows(text, spec)
    return InferencePayload(
        kinds=tuple(kind for kind, _, _ in rows),
        raw_rows=tuple(raw for _, raw, _ in rows),
        encoded_rows=tuple(encoded for _, _, encoded in rows),
    )


_Row = tuple[RowKind, dict[str, Any] | None, tuple[float, ...] | None]


def negotiate_accept(accept: str | None) -> str:
    """The content type to answer in: CSV (the default, and for ``*/*``) or JSON.

    Raises:
        PayloadError: 406 when the accept header names neither CSV, JSON nor a wildcard.
    """
    return _negotiate(accept)


def _negotiate(accept: str | None) -> str:
    if accept is None or not accept.strip():
        return CSV_CONTENT_TYPE
    for candidate in accept.split(","):
        kind = media_type(candidate)
        if kind in (CSV_CONTENT_TYPE, JSON_CONTENT_TYPE):
            return kind
        if kind in ("*/*", "text/*"):
            return CSV_CONTENT_TYPE
        if kind == "application/*":
            return JSON_CONTENT_TYPE
    raise PayloadError(406, f"unsupported accept {accept!r}: ask for {CSV_CONTENT_TYPE} or {JSON_CONTENT_TYPE}")


def _csv_rows(text: str, spec: FeatureSpec) -> list[_Row]:
    try:
        records = [record for record in csv.reader(io.StringIO(text, newline="")) if record]
    except csv.Error as exc:
        raise PayloadError(400, f"request body is not valid CSV: {exc}") from exc
    if not records:
        raise PayloadError(400, "request body is empty: send at least one row")
    if tuple(records[0]) in (spec.raw_features, spec.encoded_columns):
        raise PayloadError(400, "CSV input must not have a header row: send the values only, one row per line")
    return [_classify(position, record, spec, from_json=False) for position, record in enumerate(records, start=1)]


def _json_rows(text: str, spec: FeatureSpec) -> list[_Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(400, f"request body is not valid JSON: {exc}") from exc
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise PayloadError(400, 'JSON input must be an object {"instances": [...]} with at least one instance')
    rows: list[_Row] = []
    for position, instance in enumerate(instances, start=1):
        if isinstance(instance, dict):
            rows.append(("raw", _raw_from_mapping(position, instance, spec), None))
        elif isinstance(instance, list):
            rows.append(_classify(position, instance, spec, from_json=True))
        else:
            raise PayloadError(
                400, f"instance {position} is a {type(instance).__name__}: send an object of features or a list"
            )
    return rows


def _classify(position: int, values: Sequence[Any], spec: FeatureSpec, *, from_json: bool) -> _Row:
    width = len(values)
    raw_width, encoded_width = len(spec.raw_features), len(spec.encoded_columns)
    what = "instance" if from_json else "row"
    if width == encoded_width and (width != raw_width or _all_numeric(values)):
        return "encoded", None, _encoded(position, values, spec, what)
    if width == raw_width:
        raw = {
            name: _raw_value(position, name, value, spec) for name, value in zip(spec.raw_features, values, strict=True)
        }
        return "raw", raw, None
    raise PayloadError(
        400,
        f"{what} {position} has {width} values; expected {raw_width} raw feature values "
        f"({', '.join(spec.raw_features)}) or {encoded_width} encoded model columns",
    )


def _all_numeric(values: Sequence[Any]) -> bool:
    return all(_as_float(value) is not None for value in values)


def _as_float(value: Any) -> float | None:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _encoded(position: int, values: Sequence[Any], spec: FeatureSpec, what: str) -> tuple[float, ...]:
    numbers: list[float] = []
    for column, value in zip(spec.encoded_columns, values, strict=True):
        number = _as_float(value)
        if number is None or math.isinf(number):
            raise PayloadError(400, f"{what} {position}, column {column!r}: {value!r} is not a finite number")
        numbers.append(number)
    return tuple(numbers)


def _raw_from_mapping(position: int, instance: Mapping[str, Any], spec: FeatureSpec) -> dict[str, Any]:
    missing = [name for name in spec.raw_features if name not in instance]
    unknown = sorted(set(instance) - set(spec.raw_features))
    if missing or unknown:
        raise PayloadError(
            400,
            f"instance {position}: missing features {missing}, unknown features {unknown} "
            "(send every raw feature; use null for a missing value)",
        )
    return {name: _raw_value(position, name, instance[name], spec) for name in spec.raw_features}


def _raw_value(position: int, name: str, value: Any, spec: FeatureSpec) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(400, f"instance {position}, feature {name!r}: {value!r} is not a number or a string")
    if name in spec.numeric_features:
        return value
    return value if isinstance(value, str) else _number_text(value)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _decode_encoded_row(row: Sequence[float], spec: FeatureSpec) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for position, name in enumerate(spec.numeric_features):
        decoded[name] = None if math.isnan(row[position]) else row[position]
    offset = len(spec.numeric_features)
    for feature in spec.categorical_features:
        block = np.asarray(row[offset : offset + len(feature.categories)], dtype=np.float64)
        offset += len(feature.categories)
        hot = int(np.nanargmax(block)) if block.size and not np.isnan(block).all() and np.nanmax(block) > 0.5 else -1
        decoded[feature.name] = feature.categories[hot] if hot >= 0 else None
    return decoded


# -- capture -----------------------------------------------------------------------------------


def read_capture(files: Iterable[Path], spec: FeatureSpec) -> pd.DataFrame:
    """Raw feature rows of the requests recorded in SageMaker Data Capture JSON lines files.

    Each record's ``captureData.endpointInput`` (``CSV``, ``JSON`` or ``BASE64`` encoded) is decoded
    with :func:`parse_payload` and the feature spec, exactly as the endpoint read it. A record that
    cannot be decoded (e.g. a line torn by a crash) is skipped; the number skipped is in
    ``frame.attrs["skipped_records"]`` and the number read in ``frame.attrs["records"]``.
    """
    frames: list[pd.DataFrame] = []
    skipped = records = 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            records += 1
            try:
                payload = _captured_input(json.loads(line), spec)
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            frames.append(payload.frame(spec))
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(spec.raw_features), dtype=object)
    )
    frame.attrs["skipped_records"] = skipped
    frame.attrs["records"] = records
    return frame


def _captured_input(record: Mapping[str, Any], spec: FeatureSpec) -> InferencePayload:
    captured = record["captureData"]["endpointInput"]
    encoding = captured.get("encoding", "BASE64")
    data = captured["data"]
    body = base64.b64decode(data) if encoding == "BASE64" else str(data).encode("utf-8")
    return parse_payload(body, captured.get("observedContentType"), spec)


# -- baseline ----------------------------------------------------------------------------------


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
            "bin_fractions": _bin_fractions(present, edges).tolist(),
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


def _bin_fractions(values: npt.NDArray[np.float64], edges: Sequence[float]) -> npt.NDArray[np.float64]:
    """Fraction of ``values`` per bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left"), minlength=len(edges) + 1
    )
    return np.asarray(counts / max(values.size, 1), dtype=np.float64)


def _sample(present: npt.NDArray[np.float64], size: int) -> list[float]:
    if present.size <= size:
        return [float(v) for v in present]
    return [float(v) for v in np.quantile(present, np.linspace(0.0, 1.0, size))]


# -- drift -------------------------------------------------------------------------------------


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
    observed = _bin_fractions(numeric, edges)
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
    if table.shape[1] < 2:  # one category in both samples: nothing to compare
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
