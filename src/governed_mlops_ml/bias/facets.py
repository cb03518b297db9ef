"""From the job's data frame to what the metrics count: the 0/1 label vector and each facet's mask."""

from __future__ import annotations

import numpy as np
import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.bias.config import Facet
from governed_mlops_ml.bias.counts import Labels, Mask

__all__ = ["binary_labels", "facet_d_mask"]


def binary_labels(column: pd.Series, positive_label: str) -> Labels:
    """1 where ``column`` equals the positive (favourable) label, 0 for every other value.

    Raises:
        JobInputError: the column has missing values, or the positive label never occurs in it (a
            misspelt positive label would otherwise make every row unfavourable and every metric 0).
    """
    name = column.name
    if column.isna().any():
        raise JobInputError(f"label column {name!r} has {int(column.isna().sum())} missing values")
    # Each distinct value is turned into text once, then the rows take their value's answer.
    codes, distinct = pd.factorize(column)
    text = pd.Series(distinct).astype(str)
    favourable = (text == positive_label).to_numpy(dtype=bool)
    if not favourable.any():
        seen = sorted(set(text.tolist()))[:5]
        raise JobInputError(f"positive label {positive_label!r} never occurs in label column {name!r} (values: {seen})")
    return np.asarray(favourable[codes], dtype=np.int64)


def facet_d_mask(frame: pd.DataFrame, facet: Facet) -> Mask:
    """True for the rows of facet d (the disadvantaged group), False for facet a.

    Raises:
        JobInputError: the facet's column is missing; a threshold facet's column holds missing or
            non-numeric values; or the facet selects no row or every row (no comparison is possible).
    """
    if facet.column not in frame.columns:
        raise JobInputError(f"facet {facet.name!r}: column {facet.column!r} is not in the data")
    column = frame[facet.column]
    if facet.values is not None:
        mask = column.isin(facet.values).to_numpy(dtype=bool)
    elif facet.prefix is not None:
        # The prefix is tested once per distinct value; a missing value (code -1) is facet a.
        codes, distinct = pd.factorize(column)
        selected = pd.Series(distinct).astype("string").str.startswith(facet.prefix).to_numpy(dtype=bool)
        mask = np.append(selected, False)[codes]
    else:
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            examples = column[bad].astype(str).unique().tolist()[:5]
            raise JobInputError(
                f"facet {facet.name!r}: column {facet.column!r} has {int(bad.sum())} missing or non-numeric "
                f"values, e.g. {examples}"
            )
        mask = (numbers <= facet.threshold).to_numpy(dtype=bool)
    members = int(mask.sum())
    if members in (0, mask.size):
        side = "no rows" if members == 0 else "every row"
        raise JobInputError(
            f"facet {facet.name!r}: {facet.value_or_threshold!r} on column {facet.column!r} selects {side} "
            f"({members} of {mask.size}); facet d and facet a both need members"
        )
    return np.asarray(mask, dtype=np.bool_)
