"""What the Validate Data stage counts as a missing value and as a number, and how many missing values it allows."""

from __future__ import annotations

import math
from typing import Final

from governed_mlops.config import PipelineConfig

__all__ = ["MISSING_TOKENS", "is_missing", "missing_limit", "parse_number"]

#: Exactly the strings pandas' ``read_csv`` reads as NaN by default, so what this stage counts as
#: missing is what the training job will see as missing. Matching is case-sensitive on purpose:
#: ``none`` is a real category of the German credit data, while ``None`` is pandas' missing marker.
MISSING_TOKENS: Final = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def is_missing(value: str) -> bool:
    """Whether a raw CSV field counts as a missing value (blank or one of :data:`MISSING_TOKENS`)."""
    return value in MISSING_TOKENS or value.strip() == ""


def missing_limit(config: PipelineConfig, column: str) -> float:
    """Share of rows allowed to miss feature ``column``: 0 for policy ``reject``, else the column's
    ``dataset.missing.<column>.max_fraction`` or, when it sets none, ``validation.max_missing_fraction``."""
    entry = config.dataset.missing.get(column)
    if entry is not None and entry.policy == "reject":
        return 0.0
    if entry is not None and entry.max_fraction is not None:
        return entry.max_fraction
    return config.validation.max_missing_fraction


def parse_number(value: str) -> float | None:
    """Parse a finite float, or return None; refuses forms Python accepts but data exports should not use."""
    if "_" in value:  # float("1_000") is 1000.0 in Python but a typo in data
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
