"""What every bias metric is a formula of: per-facet counts, taken with one ``np.bincount`` over the facet mask.

Each public metric function validates its own arguments and counts for itself; :mod:`.report` counts
once per facet (:func:`facet_cells`) and hands the same counts to every formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from governed_mlops.errors import JobInputError

__all__ = [
    "Confusion",
    "Distributions",
    "Labels",
    "Mask",
    "Matrix",
    "UndefinedMetricError",
    "binary",
    "confusions",
    "distributions",
    "facet_cells",
    "facet_mask",
    "kl",
    "label_distributions",
    "ratio",
]

Labels = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Matrix = npt.NDArray[np.float64]
Distributions = tuple[Matrix, Matrix]
"""``(P_a, P_d)``: each facet's distribution over the label values (0, 1)."""


class UndefinedMetricError(ArithmeticError):
    """The metric's formula is undefined for this data (e.g. a zero denominator); the message says why."""


def binary(values: npt.ArrayLike, what: str) -> Labels:
    """``values`` as a 1-D int64 array of 0 and 1.

    Raises:
        JobInputError: not 1-D, or a value other than 0 and 1 (``what`` names the vector).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise JobInputError(f"{what} must be a 1-D array, got shape {array.shape}")
    if not ((array == 0) | (array == 1)).all():
        raise JobInputError(f"{what} must hold only 0 and 1")
    return array.astype(np.int64)


def facet_mask(facet_d: npt.ArrayLike, size: int) -> Mask:
    """``facet_d`` checked as a boolean mask of ``size`` rows with members on both sides.

    Raises:
        JobInputError: another shape or dtype, or facet d is empty or every row.
    """
    mask = np.asarray(facet_d)
    if mask.shape != (size,) or mask.dtype != np.bool_:
        raise JobInputError(f"facet mask must be a boolean array of length {size}, got {mask.dtype} {mask.shape}")
    members = int(mask.sum())
    if members in (0, size):
        raise JobInputError(f"facet d has {members} of {size} rows; facet d and facet a both need members")
    return mask


def ratio(numerator: float, denominator: float, what: str) -> float:
    """``numerator / denominator``, or :class:`UndefinedMetricError` saying ``what`` is 0."""
    if denominator == 0:
        raise UndefinedMetricError(f"{what} is 0")
    return numerator / denominator


@dataclass(frozen=True)
class Confusion:
    """Counts of one facet: observed labels, predicted labels and their confusion matrix."""

    n: int
    observed_1: int
    observed_0: int
    predicted_1: int
    predicted_0: int
    tp: int
    fp: int
    tn: int
    fn: int

    @classmethod
    def of(cls, cells: npt.NDArray[np.int64]) -> Confusion:
        """From a facet's 2×2 counts, ``cells[observed label, predicted label]``."""
        tn, fp, fn, tp = (int(count) for count in cells.ravel())
        return cls(
            n=tn + fp + fn + tp,
            observed_1=fn + tp,
            observed_0=tn + fp,
            predicted_1=fp + tp,
            predicted_0=tn + fn,
            tp=tp,
            fp=fp,
            tn=tn,
            fn=fn,
        )

    def predicted_distribution(self) -> Matrix:
        """``(1 − q', q')`` with ``q' = n̂^(1) / n``: the distribution of the predicted labels."""
        rate = self.predicted_1 / (self.predicted_0 + self.predicted_1)
        return np.array([1.0 - rate, rate], dtype=np.float64)


def facet_cells(mask: Mask, *codes: Labels) -> npt.NDArray[np.int64]:
    """Rows per (facet, code, ...): one ``np.bincount`` over the facet mask and 0/1 codes.

    Index 0 of the first axis is facet a, 1 facet d; each further axis is one of ``codes``.
    """
    cell = mask.astype(np.int64)
    for code in codes:
        cell = cell * 2 + code
    return np.bincount(cell, minlength=2 ** (len(codes) + 1)).reshape((2,) * (len(codes) + 1))


def distributions(cells: npt.NDArray[np.int64]) -> Distributions:
    """``(P_a, P_d)`` from the 2×2 counts ``cells[facet, label]`` of :func:`facet_cells`."""
    (a_0, a_1), (d_0, d_1) = cells.tolist()
    q_a, q_d = a_1 / (a_0 + a_1), d_1 / (d_0 + d_1)
    return np.array([1.0 - q_a, q_a], dtype=np.float64), np.array([1.0 - q_d, q_d], dtype=np.float64)


def label_distributions(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> Distributions:
    """``P_a`` and ``P_d`` over the label values (0, 1), from unchecked arguments."""
    label_array = binary(labels, "labels")
    mask = facet_mask(facet_d, label_array.size)
    return distributions(facet_cells(mask, label_array))


def confusions(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> tuple[Confusion, Confusion]:
    """Counts of facet a and facet d, from unchecked arguments."""
    label_array = binary(labels, "labels")
    predicted_array = binary(predicted, "predicted labels")
    if predicted_array.shape != label_array.shape:
        raise JobInputError(
            f"labels and predicted labels differ in length: {label_array.size} != {predicted_array.size}"
        )
    mask = facet_mask(facet_d, label_array.size)
    cells = facet_cells(mask, label_array, predicted_array)
    return Confusion.of(cells[0]), Confusion.of(cells[1])


def kl(p: Matrix, q: Matrix) -> float:
    """Σ_y p(y)·ln(p(y)/q(y)), with 0·ln(0/x) = 0; infinite (undefined) where q(y) = 0 < p(y)."""
    total = 0.0
    for p_y, q_y in zip(p.tolist(), q.tolist(), strict=True):
        if p_y == 0.0:
            continue
        if q_y == 0.0:
            raise UndefinedMetricError("a label value occurs in facet a but never in facet d (infinite divergence)")
        total += p_y * math.log(p_y / q_y)
    return total
