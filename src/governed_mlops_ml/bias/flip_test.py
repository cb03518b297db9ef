"""Clarify's counterfactual flip test (FT): a k-nearest-neighbour vote among facet a for each member of facet d.

Also the flip test's feature space: the model's input matrix, min-max scaled, without the facet's own columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from governed_mlops.errors import JobInputError
from governed_mlops_ml.bias.counts import Matrix, UndefinedMetricError, binary, facet_mask

_MATRIX = 2  # rows x columns

__all__ = ["FLIP_TEST_NEIGHBOURS", "feature_matrix", "flip_test", "flip_test_features", "unit_range", "without_source"]

FLIP_TEST_NEIGHBOURS = 5
"""k of the flip test's k-nearest-neighbour vote (odd, so a binary vote never ties)."""

_FLIP_TEST_CHUNK_ROWS = 256


def flip_test(
    predicted: npt.ArrayLike, facet_d: npt.ArrayLike, features: npt.ArrayLike, k: int = FLIP_TEST_NEIGHBOURS
) -> float:
    """FT = (F⁺ − F⁻) / n_d — the counterfactual flip test, with Clarify's k-nearest-neighbour method.

    Each member of facet d is compared with its ``k`` nearest members of facet a (Euclidean distance
    between rows of ``features``; at equal distance the earlier row wins, so the result is
    deterministic). The majority of those neighbours' predicted labels is the label the member would
    have received as a member of facet a. ``F⁺`` counts facet d members predicted 0 whose neighbours
    vote 1 (they would have been accepted as facet a); ``F⁻`` counts members predicted 1 whose
    neighbours vote 0. Positive FT: facet d is predicted worse than comparable facet a members.

    The model is not re-invoked with a flipped facet value: as in Clarify, facet a's predictions act
    as the counterfactual outcome, which also works when the facet is not a model input.

    Raises:
        UndefinedMetricError: facet a has fewer than ``k`` members.
        JobInputError: ``k`` is not a positive odd number or ``features`` has another number of rows.
    """
    predicted_array = binary(predicted, "predicted labels")
    mask = facet_mask(facet_d, predicted_array.size)
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != _MATRIX or matrix.shape[0] != predicted_array.size:
        raise JobInputError(f"features must have one row per label ({predicted_array.size}), got shape {matrix.shape}")
    if k < 1 or k % 2 == 0:
        raise JobInputError(f"the flip test's k must be a positive odd number, got {k}")
    facet_a_rows, facet_d_rows = matrix[~mask], matrix[mask]
    if facet_a_rows.shape[0] < k:
        raise UndefinedMetricError(f"facet a has {facet_a_rows.shape[0]} members, fewer than k = {k}")
    facet_a_predicted = predicted_array[~mask]
    columns = np.ascontiguousarray(facet_a_rows.T)  # one contiguous row per feature: the inner loop reads rows
    votes = np.empty(facet_d_rows.shape[0], dtype=np.int64)
    for start in range(0, facet_d_rows.shape[0], _FLIP_TEST_CHUNK_ROWS):
        chunk = facet_d_rows[start : start + _FLIP_TEST_CHUNK_ROWS]
        chosen = _nearest(_squared_distances(chunk, columns), k)
        votes[start : start + chunk.shape[0]] = (chosen @ facet_a_predicted) * 2 > k
    own = predicted_array[mask]
    flips_up = int(((own == 0) & (votes == 1)).sum())
    flips_down = int(((own == 1) & (votes == 0)).sum())
    return (flips_up - flips_down) / own.size


def _squared_distances(chunk: Matrix, columns: Matrix) -> Matrix:
    """Squared Euclidean distance of every ``chunk`` row to every facet a row (``columns``: one row per feature).

    Summed feature by feature in feature order, as a person writes the sum: the same floating-point result as
    the loop oracle, so exact ties (one-hot columns make many) stay ties. One (rows x facet a) buffer at a time,
    not a (rows x facet a x features) block.
    """
    distances = np.zeros((chunk.shape[0], columns.shape[1]))
    difference = np.empty_like(distances)
    for feature, values in enumerate(columns):
        np.subtract(chunk[:, feature, None], values[None, :], out=difference)
        np.multiply(difference, difference, out=difference)
        distances += difference
    return distances


def _nearest(distances: Matrix, k: int) -> npt.NDArray[np.bool_]:
    """Per row, the ``k`` smallest distances; of equal distances at the k-th place the earlier columns win.

    A partition finds each row's k-th smallest distance in linear time (a full sort is n log n); every
    closer column is in, and the tied ones fill the remaining places in column order.
    """
    kth = np.partition(distances, k - 1, axis=1)[:, k - 1 : k]
    closer = distances < kth
    tied = distances == kth
    places_left = k - closer.sum(axis=1, keepdims=True)
    chosen: npt.NDArray[np.bool_] = closer | (tied & (np.cumsum(tied, axis=1) <= places_left))
    return chosen


def flip_test_features(matrix: npt.ArrayLike, sources: Sequence[str], exclude: str) -> Matrix:
    """The feature space of the flip test: the model's input matrix without the facet's own columns.

    ``sources`` names the raw column each matrix column was encoded from; columns from ``exclude``
    (the facet column) are dropped, so neighbours are found on everything but the sensitive
    attribute. Every remaining column is min-max scaled to [0, 1] over all rows (one-hot columns
    stay 0/1; a constant column becomes 0), so a wide numeric range such as a credit amount does not
    decide the distance alone; a missing value becomes its column's median.
    """
    return without_source(unit_range(feature_matrix(matrix, sources)), sources, exclude)


def feature_matrix(matrix: npt.ArrayLike, sources: Sequence[str]) -> Matrix:
    """``matrix`` as float64, checked to have one column per entry of ``sources``."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != _MATRIX or array.shape[1] != len(sources):
        raise JobInputError(f"feature matrix has shape {array.shape} but {len(sources)} column sources were given")
    return array


def without_source(scaled: Matrix, sources: Sequence[str], exclude: str) -> Matrix:
    """``scaled`` without the columns encoded from raw column ``exclude``; refused if none would be left."""
    kept = np.array([source != exclude for source in sources], dtype=bool)
    if not kept.any():
        raise JobInputError(f"the flip test has no feature left once facet column {exclude!r} is removed")
    return scaled[:, kept]


def unit_range(array: Matrix) -> Matrix:
    """Every column min-max scaled to [0, 1] over its finite values, a gap filled with the column's median.

    Column by column this is independent of the other columns, so scaling the whole matrix once and
    dropping a facet's columns afterwards gives the same numbers as dropping them first.
    """
    if array.shape[0] == 0:
        return np.zeros_like(array)
    finite = np.isfinite(array)
    low = np.where(finite, array, np.inf).min(axis=0)
    high = np.where(finite, array, -np.inf).max(axis=0)
    filled = array.copy()
    # Only columns with some (not all) values missing need a median; the encoded data rarely has any.
    for position in np.flatnonzero(finite.any(axis=0) & ~finite.all(axis=0)):
        column, present = array[:, position], finite[:, position]
        filled[:, position] = np.where(present, column, float(np.median(column[present])))
    # A constant column, or one without any finite value, becomes 0.
    spread = high - low
    varying = np.isfinite(spread) & (spread > 0)
    scaled = np.zeros_like(array)
    scaled[:, varying] = (filled[:, varying] - low[varying]) / spread[varying]
    return scaled
