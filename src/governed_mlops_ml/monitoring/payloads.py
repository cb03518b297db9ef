"""Inference payloads: the request and response formats of the model endpoint, as SageMaker's XGBoost container
reads them.

``text/csv`` rows without a header, each either the model's encoded numeric columns or the raw
feature values in the feature spec's raw order (decided per row by field count), or
``application/json`` ``{"instances": [{feature: value} | [values]]}``. The local endpoint, the
inference handler and :func:`~governed_mlops_ml.monitoring.capture.read_capture` all use them, so
captured traffic is read back exactly as the endpoint read it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops_ml.features import FeatureSpec, MissingValueRefused, apply_missing_treatment
from governed_mlops_ml.monitoring.content_types import (
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    MAX_PAYLOAD_BYTES,
    PayloadError,
    media_type,
)

#: A one-hot column above this value is the row's category.
_HOT = 0.5

__all__ = ["InferencePayload", "parse_payload"]

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
        hot = int(np.nanargmax(block)) if block.size and not np.isnan(block).all() and np.nanmax(block) > _HOT else -1
        decoded[feature.name] = feature.categories[hot] if hot >= 0 else None
    return decoded
