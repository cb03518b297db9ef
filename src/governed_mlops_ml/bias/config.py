"""The bias job's configuration, ``bias_config.json``: label, facets, group column, limits, decision threshold.

Parsed without pydantic (the SageMaker processing container of the bias job has none); every mistake
raises :class:`JobInputError` naming the offending key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governed_mlops.domain.bias_names import GROUP_METRICS, metric_stage
from governed_mlops.errors import JobInputError

__all__ = ["BIAS_CONFIG_FILE", "BiasJobConfig", "Facet", "parse_bias_config"]

BIAS_CONFIG_FILE = "bias_config.json"

_CONFIG_KEYS = frozenset(
    {"label", "positive_label", "facets", "group_column", "thresholds", "decision_threshold", "not_assessed_reason"}
)
_FACET_KEYS = frozenset({"name", "column", "values", "prefix", "threshold"})
_FACET_SELECTORS = ("values", "prefix", "threshold")
_LIMIT_KEYS = frozenset({"min", "max"})


@dataclass(frozen=True)
class Facet:
    """A sensitive attribute and the rule selecting its disadvantaged group (facet d).

    Exactly one selector is set: ``values`` (the column's value is one of them), ``prefix`` (the
    value starts with it) or ``threshold`` (the value, as a number, is at most the threshold).
    Every other row, including rows with a missing value under ``values``/``prefix``, is facet a.
    """

    name: str
    column: str
    values: tuple[str, ...] | None = None
    prefix: str | None = None
    threshold: float | None = None

    @property
    def value_or_threshold(self) -> str:
        """How the report names facet d: ``a,b`` (values), ``female*`` (prefix), ``(-inf, 25]`` (threshold)."""
        if self.values is not None:
            return ",".join(self.values)
        if self.prefix is not None:
            return f"{self.prefix}*"
        return f"(-inf, {self.threshold:g}]"


@dataclass(frozen=True)
class BiasJobConfig:
    """The decoded ``bias_config.json``: label, facets, optional group column, limits, decision threshold."""

    label: str
    positive_label: str
    facets: tuple[Facet, ...]
    group_column: str | None
    thresholds: dict[str, dict[str, dict[str, float]]]
    decision_threshold: float | None
    #: Why no facet is analysed (the data holds no protected attribute): set exactly when ``facets`` is empty.
    not_assessed_reason: str | None = None


def parse_bias_config(raw: Any) -> BiasJobConfig:
    """Validate a decoded ``bias_config.json`` document.

    Keys: ``label``, ``positive_label``, ``facets`` (list of ``{name, column, values | prefix |
    threshold}``), optional ``group_column``, optional ``thresholds`` (facet name -> Clarify metric
    name -> ``{min, max}``), optional ``decision_threshold`` (needed for post-training metrics).

    Raises:
        JobInputError: naming the offending key (unknown or missing keys, wrong types, a facet with
            zero or several selectors, duplicate facet names, limits for an unknown facet or metric).
    """
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{BIAS_CONFIG_FILE} must hold a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    missing = sorted({"label", "positive_label", "facets"} - set(raw))
    if unknown or missing:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: missing keys {missing}, unknown keys {unknown}")
    facets_raw = raw["facets"]
    reason = raw.get("not_assessed_reason")
    if not isinstance(facets_raw, list):
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'facets' must be a list, got {facets_raw!r}")
    if not facets_raw and not (isinstance(reason, str) and reason.strip()):
        raise JobInputError(
            f"{BIAS_CONFIG_FILE}: 'facets' is empty and no 'not_assessed_reason' says why no attribute is analysed"
        )
    if facets_raw and reason is not None:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'not_assessed_reason' is only for a configuration with no facets")
    facets = tuple(_parse_facet(entry, position) for position, entry in enumerate(facets_raw))
    names = [facet.name for facet in facets]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: facet names used more than once: {duplicated}")
    group_column = raw.get("group_column")
    if group_column is not None and (not isinstance(group_column, str) or not group_column):
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'group_column' must be a non-empty string, got {group_column!r}")
    decision_threshold = raw.get("decision_threshold")
    if decision_threshold is not None:
        if not _is_number(decision_threshold) or not 0.0 < decision_threshold < 1.0:
            raise JobInputError(
                f"{BIAS_CONFIG_FILE}: 'decision_threshold' must be a number strictly between 0 and 1, "
                f"got {decision_threshold!r}"
            )
        decision_threshold = float(decision_threshold)
    return BiasJobConfig(
        label=_text(raw, "label", BIAS_CONFIG_FILE),
        positive_label=_text(raw, "positive_label", BIAS_CONFIG_FILE),
        facets=facets,
        group_column=group_column,
        thresholds=_parse_thresholds(raw.get("thresholds") or {}, set(names), group_column is not None),
        decision_threshold=decision_threshold,
        not_assessed_reason=reason.strip() if isinstance(reason, str) else None,
    )


def _parse_facet(entry: Any, position: int) -> Facet:
    where = f"{BIAS_CONFIG_FILE}: facets[{position}]"
    if not isinstance(entry, Mapping):
        raise JobInputError(f"{where} must be an object, got {entry!r}")
    unknown = sorted(set(entry) - _FACET_KEYS)
    if unknown:
        raise JobInputError(f"{where}: unknown keys {unknown}")
    name, column = _text(entry, "name", where), _text(entry, "column", where)
    selectors = [key for key in _FACET_SELECTORS if entry.get(key) is not None]
    if len(selectors) != 1:
        raise JobInputError(f"{where} ({name!r}) needs exactly one of {list(_FACET_SELECTORS)}, got {selectors}")
    selector = selectors[0]
    value = entry[selector]
    if selector == "values":
        if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
            raise JobInputError(f"{where} ({name!r}): 'values' must be a non-empty list of strings, got {value!r}")
        return Facet(name=name, column=column, values=tuple(value))
    if selector == "prefix":
        if not isinstance(value, str) or not value:
            raise JobInputError(f"{where} ({name!r}): 'prefix' must be a non-empty string, got {value!r}")
        return Facet(name=name, column=column, prefix=value)
    if not _is_number(value):
        raise JobInputError(f"{where} ({name!r}): 'threshold' must be a finite number, got {value!r}")
    return Facet(name=name, column=column, threshold=float(value))


def _parse_thresholds(raw: Any, facet_names: set[str], has_group: bool) -> dict[str, dict[str, dict[str, float]]]:
    where = f"{BIAS_CONFIG_FILE}: thresholds"
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{where} must be an object, got {raw!r}")
    parsed: dict[str, dict[str, dict[str, float]]] = {}
    for facet_name, limits in raw.items():
        if facet_name not in facet_names:
            raise JobInputError(f"{where}: unknown facet {facet_name!r} (facets: {sorted(facet_names)})")
        if not isinstance(limits, Mapping):
            raise JobInputError(f"{where}.{facet_name} must be an object, got {limits!r}")
        parsed[facet_name] = {}
        for metric, limit in limits.items():
            if metric_stage(metric) is None:
                raise JobInputError(f"{where}.{facet_name}: unknown Clarify metric {metric!r}")
            if metric in GROUP_METRICS and not has_group:
                raise JobInputError(f"{where}.{facet_name}: {metric} needs a 'group_column'")
            parsed[facet_name][metric] = _parse_limit(limit, f"{where}.{facet_name}.{metric}")
    return parsed


def _parse_limit(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping) or set(raw) - _LIMIT_KEYS:
        raise JobInputError(f"{where} must be an object with 'min' and/or 'max', got {raw!r}")
    limit = {key: raw[key] for key in ("min", "max") if raw.get(key) is not None}
    if not limit or not all(_is_number(value) for value in limit.values()):
        raise JobInputError(f"{where} needs a numeric 'min' and/or 'max', got {raw!r}")
    if "min" in limit and "max" in limit and limit["min"] > limit["max"]:
        raise JobInputError(f"{where}: min {limit['min']} is greater than max {limit['max']}")
    return {key: float(value) for key, value in limit.items()}


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise JobInputError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a JSON true is not a threshold.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
