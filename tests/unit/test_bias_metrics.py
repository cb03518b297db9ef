"""Clarify bias metrics (governed_mlops_ml.bias) against independent oracles, to 1e-9.

Oracles, per metric:
- library: fairlearn (MetricFrame by facet: selection rate, recall, precision, NPV, accuracy), aif360
  (statistical parity difference, disparate impact ratio, equal opportunity difference), scipy
  (entropy, Jensen-Shannon distance, Minkowski / city-block distances, two-sample KS) and
  scikit-learn (per-facet scores, k-nearest-neighbour vote for the flip test);
- for every metric, a re-implementation from the developer guide's formula that counts with plain
  Python loops and exact fractions, run on hypothesis-generated label / prediction vectors;
- a ten-row example computed by hand (the counts are in the comments).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cityblock, jensenshannon, minkowski
from scipy.stats import entropy, ks_2samp
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, recall_score
from sklearn.neighbors import KNeighborsClassifier

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.bias_names import METRIC_DESCRIPTIONS, POST_TRAINING_METRICS, PRE_TRAINING_METRICS
from governed_mlops.errors import JobInputError
from governed_mlops_ml import bias
from governed_mlops_ml.artifacts import read_dataset
from governed_mlops_ml.bias import (
    BiasJobConfig,
    Facet,
    UndefinedMetricError,
    bias_report,
    facet_d_mask,
    flip_test,
    flip_test_features,
    parse_bias_config,
    post_training_metrics,
    pre_training_metrics,
)
from governed_mlops_ml.features import encode_frame, fit_feature_spec
from governed_mlops_ml.job_config import JobConfig

GERMAN_CREDIT_CSV = Path(__file__).resolve().parents[2] / "data" / "german_credit" / "german_credit.csv"
TOLERANCE = 1e-9

LabelsFn = Callable[[Any, Any], float]
ConfusionFn = Callable[[Any, Any, Any], float]

# aif360 logs missing optional extras (tensorflow, ...) at import through the root logger.
logging.getLogger().setLevel(logging.ERROR)


# --------------------------------------------------------------------------------------------------
# The hand-computed example: 10 rows, facet d = rows 0-3, facet a = rows 4-9
#
#   facet d: y = 1 0 0 1   ŷ = 1 1 1 0   -> TP 1, FP 2, TN 0, FN 1; n̂(1) 3, n̂(0) 1; q 1/2, q' 3/4
#   facet a: y = 1 1 1 0 1 0  ŷ = 1 1 0 0 1 1 -> TP 3, FP 1, TN 1, FN 1; n̂(1) 4, n̂(0) 2; q 2/3, q' 2/3
#   groups:  d = g1 g1 g2 g2,  a = g1 g1 g1 g2 g2 g2
# --------------------------------------------------------------------------------------------------

HAND_LABELS = np.array([1, 0, 0, 1, 1, 1, 1, 0, 1, 0])
HAND_PREDICTED = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 1])
HAND_FACET = np.array([True] * 4 + [False] * 6)
HAND_GROUPS = ["g1", "g1", "g2", "g2", "g1", "g1", "g1", "g2", "g2", "g2"]

_P_A, _P_D, _MIX = (1 / 3, 2 / 3), (1 / 2, 1 / 2), (5 / 12, 7 / 12)
HAND_PRE = {
    "CI": (6 - 4) / 10,
    "DPL": 2 / 3 - 1 / 2,
    "KL": (1 / 3) * math.log((1 / 3) / (1 / 2)) + (2 / 3) * math.log((2 / 3) / (1 / 2)),
    "JS": 0.5 * sum(p * math.log(p / m) for dist in (_P_A, _P_D) for p, m in zip(dist, _MIX, strict=True)),
    "LP": math.sqrt(2) / 6,
    "TVD": 1 / 6,
    "KS": 1 / 6,
    # g1: n 5, rejected {d1} -> d share 1, accepted {d0,a0,a1,a2} -> 1/4: DD 3/4
    # g2: n 5, rejected {d2,a3,a5} -> 1/3, accepted {d3,a4} -> 1/2: DD -1/6;  CDDL = (5·3/4 - 5/6) / 10
    "CDDL": 7 / 24,
}
HAND_POST = {
    "DPPL": 2 / 3 - 3 / 4,
    "DI": (3 / 4) / (2 / 3),
    "DCA": 4 / 4 - 2 / 3,  # c_a = n_a(1)/n̂_a(1) = 4/4, c_d = 2/3
    "DCR": 2 / 1 - 2 / 2,  # r_d = n_d(0)/n̂_d(0) = 2/1, r_a = 2/2
    "RD": 3 / 4 - 1 / 2,
    "DAR": 3 / 4 - 1 / 3,
    "DRR": 0 / 1 - 1 / 2,
    "AD": 4 / 6 - 1 / 4,
    "TE": 1 / 2 - 1 / 1,
    # predicted: g1 rejected {a2} -> 0, accepted {d0,d1,a0,a1} -> 1/2: DD -1/2;
    #            g2 rejected {d3,a3} -> 1/2, accepted {d2,a4,a5} -> 1/3: DD 1/6;  CDDPL = (-5/2 + 5/6) / 10
    "CDDPL": -1 / 6,
}


@pytest.mark.parametrize(("name", "expected"), sorted(HAND_PRE.items()))
def test_pre_training_metric_matches_the_hand_computed_example(name: str, expected: float) -> None:
    results = pre_training_metrics(HAND_LABELS, HAND_FACET, HAND_GROUPS)

    assert results[name].value == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize(("name", "expected"), sorted(HAND_POST.items()))
def test_post_training_metric_matches_the_hand_computed_example(name: str, expected: float) -> None:
    results = post_training_metrics(HAND_LABELS, HAND_PREDICTED, HAND_FACET, HAND_GROUPS)

    assert results[name].value == pytest.approx(expected, abs=TOLERANCE)


def test_metric_sets_follow_clarify_names_and_order() -> None:
    features = np.arange(10, dtype=np.float64).reshape(-1, 1)

    pre = pre_training_metrics(HAND_LABELS, HAND_FACET, HAND_GROUPS)
    post = post_training_metrics(HAND_LABELS, HAND_PREDICTED, HAND_FACET, HAND_GROUPS, features)

    assert (tuple(pre), tuple(post)) == (PRE_TRAINING_METRICS, POST_TRAINING_METRICS)


def test_group_metrics_are_left_out_without_a_group_column() -> None:
    pre = pre_training_metrics(HAND_LABELS, HAND_FACET)
    post = post_training_metrics(HAND_LABELS, HAND_PREDICTED, HAND_FACET)

    assert ("CDDL" in pre, "CDDPL" in post) == (False, False)


# --------------------------------------------------------------------------------------------------
# Loop oracle: the developer guide's formulas, counted with plain Python loops and exact fractions
# --------------------------------------------------------------------------------------------------


class Undefined(Exception):
    """The oracle's formula divides by zero (or takes the log of zero)."""


@dataclass
class Counts:
    n: int = 0
    y1: int = 0
    y0: int = 0
    p1: int = 0
    p0: int = 0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0


def loop_counts(labels: list[int], predicted: list[int], facet: list[bool]) -> tuple[Counts, Counts]:
    a, d = Counts(), Counts()
    for y, p, in_d in zip(labels, predicted, facet, strict=True):
        c = d if in_d else a
        c.n += 1
        if y == 1:
            c.y1 += 1
        else:
            c.y0 += 1
        if p == 1:
            c.p1 += 1
        else:
            c.p0 += 1
        if y == 1 and p == 1:
            c.tp += 1
        elif y == 0 and p == 1:
            c.fp += 1
        elif y == 0 and p == 0:
            c.tn += 1
        else:
            c.fn += 1
    return a, d


def frac(numerator: int | Fraction, denominator: int | Fraction) -> Fraction:
    if denominator == 0:
        raise Undefined
    return Fraction(numerator) / Fraction(denominator)


def loop_kl(p: list[Fraction], q: list[Fraction]) -> float:
    total = 0.0
    for p_y, q_y in zip(p, q, strict=True):
        if p_y == 0:
            continue
        if q_y == 0:
            raise Undefined
        total += float(p_y) * math.log(p_y / q_y)
    return total


def loop_pre(name: str, labels: list[int], facet: list[bool], groups: list[str]) -> float:  # noqa: PLR0911 - the oracle: one return per Clarify metric, as the definitions list them
    a, d = loop_counts(labels, labels, facet)
    p_a = [frac(a.y0, a.n), frac(a.y1, a.n)]
    p_d = [frac(d.y0, d.n), frac(d.y1, d.n)]
    if name == "CI":
        return float(frac(a.n - d.n, a.n + d.n))
    if name == "DPL":
        return float(p_a[1] - p_d[1])
    if name == "KL":
        return loop_kl(p_a, p_d)
    if name == "JS":
        mixture = [(x + y) / 2 for x, y in zip(p_a, p_d, strict=True)]
        return 0.5 * (loop_kl(p_a, mixture) + loop_kl(p_d, mixture))
    if name == "LP":
        return math.sqrt(sum(float(x - y) ** 2 for x, y in zip(p_a, p_d, strict=True)))
    if name == "TVD":
        return float(sum(abs(x - y) for x, y in zip(p_a, p_d, strict=True)) / 2)
    if name == "KS":
        return float(max(abs(x - y) for x, y in zip(p_a, p_d, strict=True)))
    if name == "CDDL":
        return loop_cdd(labels, facet, groups)
    raise AssertionError(name)


def loop_cdd(labels: list[int], facet: list[bool], groups: list[str]) -> float:
    if all(y == 1 for y in labels) or all(y == 0 for y in labels):
        raise Undefined
    total = Fraction(0)
    for group in sorted(set(groups)):
        size = rejected = accepted = d_rejected = d_accepted = 0
        for y, in_d, g in zip(labels, facet, groups, strict=True):
            if g != group:
                continue
            size += 1
            if y == 0:
                rejected += 1
                d_rejected += in_d
            else:
                accepted += 1
                d_accepted += in_d
        share_rejected = Fraction(d_rejected, rejected) if rejected else Fraction(0)
        share_accepted = Fraction(d_accepted, accepted) if accepted else Fraction(0)
        total += size * (share_rejected - share_accepted)
    return float(total / len(labels))


def loop_post(name: str, labels: list[int], predicted: list[int], facet: list[bool], groups: list[str]) -> float:
    a, d = loop_counts(labels, predicted, facet)
    formulas: dict[str, Callable[[], Fraction | float]] = {
        "DPPL": lambda: frac(a.p1, a.n) - frac(d.p1, d.n),
        "DI": lambda: frac(frac(d.p1, d.n), frac(a.p1, a.n)),
        "DCA": lambda: frac(a.y1, a.p1) - frac(d.y1, d.p1),
        "DCR": lambda: frac(d.y0, d.p0) - frac(a.y0, a.p0),
        "RD": lambda: frac(a.tp, a.tp + a.fn) - frac(d.tp, d.tp + d.fn),
        "DAR": lambda: frac(a.tp, a.tp + a.fp) - frac(d.tp, d.tp + d.fp),
        "DRR": lambda: frac(d.tn, d.tn + d.fn) - frac(a.tn, a.tn + a.fn),
        "AD": lambda: frac(a.tp + a.tn, a.n) - frac(d.tp + d.tn, d.n),
        "TE": lambda: frac(d.fn, d.fp) - frac(a.fn, a.fp),
        "CDDPL": lambda: loop_cdd(predicted, facet, groups),
    }
    return float(formulas[name]())


def loop_flip_test(predicted: list[int], facet: list[bool], features: list[list[float]], k: int) -> float:
    a_rows = [(row, p) for row, p, in_d in zip(features, predicted, facet, strict=True) if not in_d]
    if len(a_rows) < k:
        raise Undefined
    flips_up = flips_down = members = 0
    for row, own, in_d in zip(features, predicted, facet, strict=True):
        if not in_d:
            continue
        members += 1
        ranked = []
        for position, (other, _) in enumerate(a_rows):
            distance = 0.0
            for x, y in zip(row, other, strict=True):
                distance += (x - y) ** 2
            ranked.append((distance, position))
        ranked.sort()
        votes_for_1 = sum(a_rows[position][1] for _, position in ranked[:k])
        vote = 1 if 2 * votes_for_1 > k else 0
        if own == 0 and vote == 1:
            flips_up += 1
        elif own == 1 and vote == 0:
            flips_down += 1
    return (flips_up - flips_down) / members


def _assert_matches(compute: Callable[[], float], oracle: Callable[[], float]) -> None:
    try:
        expected = oracle()
    except Undefined:
        with pytest.raises(UndefinedMetricError):
            compute()
        return
    assert compute() == pytest.approx(expected, abs=TOLERANCE)


# --------------------------------------------------------------------------------------------------
# Hypothesis: random label / prediction vectors against the loop oracle and scipy / scikit-learn
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    labels: list[int]
    predicted: list[int]
    facet: list[bool]
    groups: list[str]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.labels), np.array(self.predicted), np.array(self.facet, dtype=bool)

    def by_facet(self, values: list[int]) -> tuple[list[int], list[int]]:
        a = [v for v, in_d in zip(values, self.facet, strict=True) if not in_d]
        d = [v for v, in_d in zip(values, self.facet, strict=True) if in_d]
        return a, d


@st.composite
def cases(draw: st.DrawFn, max_size: int = 40) -> Case:
    size = draw(st.integers(min_value=2, max_value=max_size))
    members = draw(st.integers(min_value=1, max_value=size - 1))
    facet = draw(st.permutations([True] * members + [False] * (size - members)))
    vector = st.lists(st.integers(min_value=0, max_value=1), min_size=size, max_size=size)
    groups = draw(st.lists(st.sampled_from(["g1", "g2", "g3"]), min_size=size, max_size=size))
    return Case(labels=draw(vector), predicted=draw(vector), facet=list(facet), groups=groups)


PRE_FUNCTIONS: dict[str, Callable[[Case], float]] = {
    "CI": lambda c: bias.class_imbalance(c.arrays()[2]),
    "DPL": lambda c: bias.difference_in_positive_proportions(c.arrays()[0], c.arrays()[2]),
    "KL": lambda c: bias.kl_divergence(c.arrays()[0], c.arrays()[2]),
    "JS": lambda c: bias.jensen_shannon_divergence(c.arrays()[0], c.arrays()[2]),
    "LP": lambda c: bias.lp_norm(c.arrays()[0], c.arrays()[2]),
    "TVD": lambda c: bias.total_variation_distance(c.arrays()[0], c.arrays()[2]),
    "KS": lambda c: bias.kolmogorov_smirnov(c.arrays()[0], c.arrays()[2]),
    "CDDL": lambda c: bias.conditional_demographic_disparity(c.arrays()[0], c.arrays()[2], c.groups),
}
POST_FUNCTIONS: dict[str, Callable[[Case], float]] = {
    "DPPL": lambda c: bias.difference_in_positive_proportions(c.arrays()[1], c.arrays()[2]),
    "DI": lambda c: bias.disparate_impact(c.arrays()[1], c.arrays()[2]),
    "DCA": lambda c: bias.difference_in_conditional_acceptance(*c.arrays()),
    "DCR": lambda c: bias.difference_in_conditional_rejection(*c.arrays()),
    "RD": lambda c: bias.recall_difference(*c.arrays()),
    "DAR": lambda c: bias.difference_in_acceptance_rates(*c.arrays()),
    "DRR": lambda c: bias.difference_in_rejection_rates(*c.arrays()),
    "AD": lambda c: bias.accuracy_difference(*c.arrays()),
    "TE": lambda c: bias.treatment_equality(*c.arrays()),
    "CDDPL": lambda c: bias.conditional_demographic_disparity(c.arrays()[1], c.arrays()[2], c.groups),
}


@pytest.mark.parametrize("name", sorted(PRE_FUNCTIONS))
@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_pre_training_metric_matches_the_loop_oracle(name: str, case: Case) -> None:
    _assert_matches(
        lambda: PRE_FUNCTIONS[name](case),
        lambda: loop_pre(name, case.labels, case.facet, case.groups),
    )


@pytest.mark.parametrize("name", sorted(POST_FUNCTIONS))
@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_post_training_metric_matches_the_loop_oracle(name: str, case: Case) -> None:
    _assert_matches(
        lambda: POST_FUNCTIONS[name](case),
        lambda: loop_post(name, case.labels, case.predicted, case.facet, case.groups),
    )


def _distributions(case: Case) -> tuple[list[float], list[float]]:
    y_a, y_d = case.by_facet(case.labels)
    return [1 - sum(y_a) / len(y_a), sum(y_a) / len(y_a)], [1 - sum(y_d) / len(y_d), sum(y_d) / len(y_d)]


@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_divergences_match_scipy(case: Case) -> None:
    p_a, p_d = _distributions(case)
    labels, _, facet = case.arrays()
    expected_kl = float(entropy(p_a, p_d))

    if math.isinf(expected_kl):
        with pytest.raises(UndefinedMetricError):
            bias.kl_divergence(labels, facet)
    else:
        assert bias.kl_divergence(labels, facet) == pytest.approx(expected_kl, abs=TOLERANCE)
    assert bias.jensen_shannon_divergence(labels, facet) == pytest.approx(
        float(jensenshannon(p_a, p_d)) ** 2, abs=TOLERANCE
    )


@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_distances_match_scipy(case: Case) -> None:
    p_a, p_d = _distributions(case)
    y_a, y_d = case.by_facet(case.labels)
    labels, _, facet = case.arrays()

    assert (
        bias.lp_norm(labels, facet),
        bias.total_variation_distance(labels, facet),
        bias.kolmogorov_smirnov(labels, facet),
    ) == pytest.approx((minkowski(p_a, p_d, 2), 0.5 * cityblock(p_a, p_d), ks_2samp(y_a, y_d).statistic), abs=TOLERANCE)


def _sklearn_rate(score: Callable[..., float], y: list[int], p: list[int]) -> float:
    return float(score(y, p, zero_division=np.nan))


@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_rate_differences_match_scikit_learn(case: Case) -> None:
    (y_a, y_d), (p_a, p_d) = case.by_facet(case.labels), case.by_facet(case.predicted)
    labels, predicted, facet = case.arrays()
    npv = partial(precision_score, pos_label=0)
    pairs = {
        "RD": (bias.recall_difference, recall_score, False),
        "DAR": (bias.difference_in_acceptance_rates, precision_score, False),
        "DRR": (bias.difference_in_rejection_rates, npv, True),
    }
    for function, score, d_minus_a in pairs.values():
        first, second = _sklearn_rate(score, y_a, p_a), _sklearn_rate(score, y_d, p_d)
        expected = second - first if d_minus_a else first - second
        if math.isnan(expected):
            with pytest.raises(UndefinedMetricError):
                function(labels, predicted, facet)
        else:
            assert function(labels, predicted, facet) == pytest.approx(expected, abs=TOLERANCE)
    assert bias.accuracy_difference(labels, predicted, facet) == pytest.approx(
        accuracy_score(y_a, p_a) - accuracy_score(y_d, p_d), abs=TOLERANCE
    )


@settings(max_examples=100, deadline=None)
@given(case=cases())
def test_treatment_equality_matches_scikit_learn_confusion_matrices(case: Case) -> None:
    (y_a, y_d), (p_a, p_d) = case.by_facet(case.labels), case.by_facet(case.predicted)
    _, fp_a, fn_a, _ = confusion_matrix(y_a, p_a, labels=[0, 1]).ravel()
    _, fp_d, fn_d, _ = confusion_matrix(y_d, p_d, labels=[0, 1]).ravel()

    if 0 in (fp_a, fp_d):
        with pytest.raises(UndefinedMetricError):
            bias.treatment_equality(*case.arrays())
    else:
        assert bias.treatment_equality(*case.arrays()) == pytest.approx(fn_d / fp_d - fn_a / fp_a, abs=TOLERANCE)


@st.composite
def flip_cases(draw: st.DrawFn) -> tuple[Case, list[list[float]]]:
    case = draw(cases(max_size=30))
    width = draw(st.integers(min_value=1, max_value=3))
    # Small integers: many rows are equally distant, so the tie rule (earlier row first) is exercised.
    coordinate = st.integers(min_value=0, max_value=3).map(float)
    rows = draw(
        st.lists(
            st.lists(coordinate, min_size=width, max_size=width), min_size=len(case.labels), max_size=len(case.labels)
        )
    )
    return case, rows


@settings(max_examples=100, deadline=None)
@given(flip=flip_cases(), k=st.sampled_from([1, 3, 5]))
def test_flip_test_matches_the_loop_oracle(flip: tuple[Case, list[list[float]]], k: int) -> None:
    case, rows = flip
    _, predicted, facet = case.arrays()

    _assert_matches(
        lambda: flip_test(predicted, facet, np.array(rows), k=k),
        lambda: loop_flip_test(case.predicted, case.facet, rows, k),
    )


# --------------------------------------------------------------------------------------------------
# German credit: fairlearn, aif360 and scikit-learn as oracles
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GermanCredit:
    frame: pd.DataFrame
    config: BiasJobConfig
    labels: np.ndarray
    predicted: np.ndarray
    features: np.ndarray
    sources: list[str]


@pytest.fixture(scope="module")
def german(german_credit_config: PipelineConfig) -> GermanCredit:
    """German credit with a transparent rule as the 'model' (unit tests do not train XGBoost)."""
    frame = read_dataset(GERMAN_CREDIT_CSV)
    dataset = german_credit_config.dataset
    assert german_credit_config.bias is not None
    config = parse_bias_config(
        german_credit_config.bias.job_document(
            label=dataset.target, positive_label=dataset.positive_label, decision_threshold=0.5
        )
    )
    short = frame["duration_in_month"].astype(int) <= 24
    no_overdraft = frame["status_of_existing_checking_account"] != "... < 0 DM"
    job_config = JobConfig(
        target=dataset.target,
        positive_label=dataset.positive_label,
        numeric_features=tuple(dataset.numeric_features),
        categorical_features=tuple(dataset.categorical_features),
        seed=0,
        decision_threshold=0.5,
    )
    spec = fit_feature_spec(frame, job_config)
    sources = [*spec.numeric_features, *(f.name for f in spec.categorical_features for _ in f.categories)]
    return GermanCredit(
        frame=frame,
        config=config,
        labels=(frame[dataset.target] == dataset.positive_label).to_numpy().astype(int),
        predicted=(short & no_overdraft).to_numpy().astype(int),
        features=encode_frame(frame, spec),
        sources=sources,
    )


FACET_NAMES = ["sex", "age_25_or_younger", "foreign_worker"]


def _facet(german: GermanCredit, name: str) -> Facet:
    return next(facet for facet in german.config.facets if facet.name == name)


def test_german_credit_pre_training_values_match_the_tooling_facts(german: GermanCredit) -> None:
    # TOOLING_FACTS: facet sex=female CI 0.38, DPL -0.0187; facet age<=25 CI 0.62, DPL 0.1494.
    observed = {}
    for name in ("sex", "age_25_or_younger"):
        results = pre_training_metrics(german.labels, facet_d_mask(german.frame, _facet(german, name)))
        observed[name] = (round(results["CI"].value or 0, 4), round(results["DPL"].value or 0, 4))

    assert observed == {"sex": (0.38, -0.0187), "age_25_or_younger": (0.62, 0.1494)}


def _aif360(german: GermanCredit, mask: np.ndarray) -> tuple[pd.Series, dict[str, Any]]:
    y_true = pd.Series(german.labels, index=pd.Index(mask.astype(int), name="facet_d"))
    return y_true, {"prot_attr": "facet_d", "priv_group": 0, "pos_label": 1}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # aif360's own modules, on import
@pytest.mark.parametrize("name", FACET_NAMES)
def test_german_credit_label_and_prediction_parity_match_aif360(german: GermanCredit, name: str) -> None:
    from aif360.sklearn.metrics import (
        disparate_impact_ratio,
        equal_opportunity_difference,
        statistical_parity_difference,
    )

    mask = facet_d_mask(german.frame, _facet(german, name))
    y_true, options = _aif360(german, mask)
    results = post_training_metrics(german.labels, german.predicted, mask)
    pre = pre_training_metrics(german.labels, mask)

    # aif360 subtracts the privileged group (facet a) from the unprivileged one (facet d).
    assert (pre["DPL"].value, results["DPPL"].value, results["DI"].value, results["RD"].value) == pytest.approx(
        (
            -statistical_parity_difference(y_true, **options),
            -statistical_parity_difference(y_true, german.predicted, **options),
            disparate_impact_ratio(y_true, german.predicted, **options),
            -equal_opportunity_difference(y_true, german.predicted, **options),
        ),
        abs=TOLERANCE,
    )


def _base_rate(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(y_true))


@pytest.mark.parametrize("name", FACET_NAMES)
def test_german_credit_post_training_metrics_match_fairlearn_metric_frames(german: GermanCredit, name: str) -> None:
    from fairlearn.metrics import MetricFrame, count, false_negative_rate, false_positive_rate, selection_rate

    mask = facet_d_mask(german.frame, _facet(german, name))
    frame = MetricFrame(
        metrics={
            "count": count,
            "selection": selection_rate,
            "base": _base_rate,
            "recall": recall_score,
            "precision": precision_score,
            "npv": partial(precision_score, pos_label=0),
            "accuracy": accuracy_score,
            "fnr": false_negative_rate,
            "fpr": false_positive_rate,
        },
        y_true=german.labels,
        y_pred=german.predicted,
        sensitive_features=pd.Series(mask, name="facet_d"),
    ).by_group
    a, d = frame.loc[False], frame.loc[True]

    def counts(row: pd.Series) -> tuple[float, float]:
        # FN = FNR · observed positives, FP = FPR · observed negatives
        positives = row["base"] * row["count"]
        return row["fnr"] * positives, row["fpr"] * (row["count"] - positives)

    (fn_a, fp_a), (fn_d, fp_d) = counts(a), counts(d)
    expected = {
        "DPPL": a["selection"] - d["selection"],
        "DI": d["selection"] / a["selection"],
        "DCA": a["base"] / a["selection"] - d["base"] / d["selection"],
        "DCR": (1 - d["base"]) / (1 - d["selection"]) - (1 - a["base"]) / (1 - a["selection"]),
        "RD": a["recall"] - d["recall"],
        "DAR": a["precision"] - d["precision"],
        "DRR": d["npv"] - a["npv"],
        "AD": a["accuracy"] - d["accuracy"],
        "TE": fn_d / fp_d - fn_a / fp_a,
    }
    results = post_training_metrics(german.labels, german.predicted, mask)

    assert {metric: results[metric].value for metric in expected} == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize("name", FACET_NAMES)
def test_german_credit_group_metrics_match_the_loop_oracle(german: GermanCredit, name: str) -> None:
    mask = facet_d_mask(german.frame, _facet(german, name))
    groups = german.frame["purpose"].tolist()

    pre = pre_training_metrics(german.labels, mask, groups)["CDDL"].value
    post = post_training_metrics(german.labels, german.predicted, mask, groups)["CDDPL"].value

    assert (pre, post) == pytest.approx(
        (
            loop_cdd(german.labels.tolist(), mask.tolist(), groups),
            loop_cdd(german.predicted.tolist(), mask.tolist(), groups),
        ),
        abs=TOLERANCE,
    )


@pytest.mark.parametrize("name", FACET_NAMES)
def test_german_credit_flip_test_matches_scikit_learn_nearest_neighbours(german: GermanCredit, name: str) -> None:
    facet = _facet(german, name)
    mask = facet_d_mask(german.frame, facet)
    features = flip_test_features(german.features, german.sources, facet.column)
    neighbours = KNeighborsClassifier(n_neighbors=bias.FLIP_TEST_NEIGHBOURS).fit(
        features[~mask], german.predicted[~mask]
    )
    vote, own = neighbours.predict(features[mask]), german.predicted[mask]
    expected = (int(((own == 0) & (vote == 1)).sum()) - int(((own == 1) & (vote == 0)).sum())) / own.size

    assert flip_test(german.predicted, mask, features) == pytest.approx(expected, abs=TOLERANCE)


# --------------------------------------------------------------------------------------------------
# Flip test details
# --------------------------------------------------------------------------------------------------


def test_flip_test_counts_facet_d_members_whose_facet_a_neighbours_are_accepted() -> None:
    # Given facet d at x=0 (predicted 0) and x=10 (predicted 0); facet a around them
    features = np.array([[0.0], [10.0], [1.0], [2.0], [3.0], [11.0], [12.0], [13.0]])
    facet = np.array([True, True, False, False, False, False, False, False])
    predicted = np.array([0, 0, 1, 1, 0, 0, 0, 1])

    # When each member's 3 nearest facet a neighbours vote: x=0 -> (1,1,0) = 1; x=10 -> (0,0,1) = 0
    # Then one of two members flips up
    assert flip_test(predicted, facet, features, k=3) == 0.5


def test_flip_test_subtracts_members_whose_neighbours_are_rejected() -> None:
    features = np.array([[0.0], [10.0], [1.0], [2.0], [3.0], [11.0], [12.0], [13.0]])
    facet = np.array([True, True, False, False, False, False, False, False])
    predicted = np.array([1, 1, 1, 1, 0, 0, 0, 1])

    # x=0 keeps 1 (vote 1); x=10 is predicted 1 but its neighbours vote 0: F- = 1
    assert flip_test(predicted, facet, features, k=3) == -0.5


def test_flip_test_breaks_distance_ties_by_row_order() -> None:
    # Facet a rows at x=1 (predicted 1) and x=-1 (predicted 0) are equally far from the facet d row at 0
    features = np.array([[0.0], [1.0], [-1.0]])
    facet = np.array([True, False, False])

    assert flip_test(np.array([0, 1, 0]), facet, features, k=1) == 1.0


def test_flip_test_is_undefined_when_facet_a_is_smaller_than_k() -> None:
    with pytest.raises(UndefinedMetricError, match="fewer than k = 5"):
        flip_test(np.array([0, 1, 1]), np.array([True, False, False]), np.zeros((3, 1)))


def test_flip_test_features_drop_the_facet_column_and_scale_to_unit_range() -> None:
    matrix = np.array([[20.0, 1.0, 0.0, 1000.0], [40.0, 0.0, 1.0, 3000.0], [30.0, 0.0, 1.0, np.nan]])
    sources = ["age", "sex", "sex", "amount"]

    scaled = flip_test_features(matrix, sources, exclude="sex")

    np.testing.assert_allclose(scaled, [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])


def test_flip_test_without_features_is_reported_undefined() -> None:
    result = post_training_metrics(HAND_LABELS, HAND_PREDICTED, HAND_FACET)["FT"]

    assert (result.value, result.error) == (
        None,
        "FT is undefined: no feature matrix was given for the nearest-neighbour search",
    )


# --------------------------------------------------------------------------------------------------
# Edge cases: undefined metrics, degenerate facets and labels
# --------------------------------------------------------------------------------------------------


def test_disparate_impact_without_facet_a_acceptances_is_undefined_and_reported_as_null() -> None:
    # Given a model that accepts nobody in facet a
    predicted = np.where(HAND_FACET, 1, 0)

    result = post_training_metrics(HAND_LABELS, predicted, HAND_FACET)["DI"]

    assert result.value is None
    assert "q'_a" in (result.error or "")


def test_a_facet_without_any_positive_prediction_has_zero_dppl_but_undefined_conditional_metrics() -> None:
    predicted = np.where(HAND_FACET, 0, 1)

    results = post_training_metrics(HAND_LABELS, predicted, HAND_FACET)

    assert (results["DPPL"].value, results["DI"].value) == (1.0, 0.0)
    assert (results["DCA"].value, results["DAR"].value) == (None, None)


def test_all_positive_labels_give_zero_label_divergences_and_undefined_cddl() -> None:
    labels = np.ones(10, dtype=int)

    results = pre_training_metrics(labels, HAND_FACET, HAND_GROUPS)

    assert {name: results[name].value for name in ("DPL", "KL", "JS", "LP", "TVD", "KS")} == dict.fromkeys(
        ("DPL", "KL", "JS", "LP", "TVD", "KS"), 0.0
    )
    assert results["CDDL"].value is None


def test_kl_is_undefined_when_facet_d_never_has_a_label_value_facet_a_has() -> None:
    labels = np.where(HAND_FACET, 1, HAND_LABELS)

    with pytest.raises(UndefinedMetricError, match="never in facet d"):
        bias.kl_divergence(labels, HAND_FACET)


@pytest.mark.parametrize("facet_d", [np.zeros(10, dtype=bool), np.ones(10, dtype=bool)])
def test_metric_functions_refuse_a_facet_that_is_empty_or_everything(facet_d: np.ndarray) -> None:
    with pytest.raises(JobInputError, match="both need members"):
        bias.difference_in_positive_proportions(HAND_LABELS, facet_d)


def test_metric_functions_refuse_labels_that_are_not_zero_or_one() -> None:
    with pytest.raises(JobInputError, match="only 0 and 1"):
        bias.difference_in_positive_proportions(HAND_LABELS * 2, HAND_FACET)


FRAME = pd.DataFrame(
    {
        "sex": ["female : married", "male : single", "female : single", "male : married", None],
        "age": ["22", "40", "25", "26", "61"],
        "credit": ["good", "bad", "good", "good", "bad"],
    }
)


@pytest.mark.parametrize(
    ("facet", "expected"),
    [
        (Facet(name="sex", column="sex", prefix="female"), [True, False, True, False, False]),
        (
            Facet(name="sex", column="sex", values=("male : single", "male : married")),
            [False, True, False, True, False],
        ),
        (Facet(name="young", column="age", threshold=25), [True, False, True, False, False]),
    ],
)
def test_facet_selectors_pick_facet_d(facet: Facet, expected: list[bool]) -> None:
    assert facet_d_mask(FRAME, facet).tolist() == expected


def test_a_missing_facet_column_names_the_facet_and_the_column() -> None:
    with pytest.raises(JobInputError, match=r"facet 'sex': column 'gender' is not in the data"):
        facet_d_mask(FRAME, Facet(name="sex", column="gender", prefix="female"))


@pytest.mark.parametrize(
    "facet",
    [Facet(name="nobody", column="sex", values=("other",)), Facet(name="everybody", column="age", threshold=100)],
    ids=["empty", "everyone"],
)
def test_a_facet_selecting_no_row_or_every_row_is_refused_by_name(facet: Facet) -> None:
    with pytest.raises(JobInputError, match=f"facet '{facet.name}'"):
        facet_d_mask(FRAME, facet)


def test_a_threshold_facet_on_a_non_numeric_column_is_refused() -> None:
    with pytest.raises(JobInputError, match=r"facet 'sex'.*non-numeric"):
        facet_d_mask(FRAME, Facet(name="sex", column="sex", threshold=1))


# --------------------------------------------------------------------------------------------------
# analysis.json and bias_config.json
# --------------------------------------------------------------------------------------------------

CONFIG = {
    "label": "credit",
    "positive_label": "good",
    "facets": [{"name": "young", "column": "age", "threshold": 25}],
    "thresholds": {"young": {"DPL": {"min": -0.2, "max": 0.2}, "DI": {"min": 0.8}}},
}


def test_pre_training_report_has_clarifys_analysis_shape_with_limits() -> None:
    report = bias_report(FRAME, parse_bias_config(CONFIG), stage="pre")

    assert list(report) == ["version", "pre_training_bias_metrics"]
    section = report["pre_training_bias_metrics"]
    assert (section["label"], section["label_value_or_threshold"]) == ("credit", "good")
    [entry] = section["facets"]["young"]
    assert entry["value_or_threshold"] == "(-inf, 25]"
    assert entry["metrics"][1] == {
        "name": "DPL",
        "description": METRIC_DESCRIPTIONS["DPL"],
        "value": pytest.approx(1 / 3 - 1),
        "limit": {"min": -0.2, "max": 0.2},
    }


def test_post_training_report_reports_undefined_metrics_with_their_error() -> None:
    # young: rows 0, 2 (both predicted 1); facet a: rows 1, 3, 4 predicted 0 -> DI undefined
    report = bias_report(FRAME, parse_bias_config(CONFIG), stage="post", predicted=np.array([1, 0, 1, 0, 0]))

    metrics = {m["name"]: m for m in report["post_training_bias_metrics"]["facets"]["young"][0]["metrics"]}
    assert (metrics["DI"]["value"], metrics["DI"]["limit"]) == (None, {"min": 0.8})
    assert metrics["DI"]["error"].startswith("DI is undefined")


def test_post_training_report_needs_predicted_labels() -> None:
    with pytest.raises(JobInputError, match="predicted labels"):
        bias_report(FRAME, parse_bias_config(CONFIG), stage="post")


def test_report_refuses_a_positive_label_that_never_occurs() -> None:
    with pytest.raises(JobInputError, match="'Good' never occurs"):
        bias_report(FRAME, parse_bias_config({**CONFIG, "positive_label": "Good"}), stage="pre")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labl": "credit"}, "unknown keys \\['labl'\\]"),
        ({"facets": [{"name": "x", "column": "age"}]}, "exactly one of"),
        ({"facets": [{"name": "x", "column": "age", "prefix": "a", "threshold": 1}]}, "exactly one of"),
        ({"thresholds": {"old": {"DPL": {"max": 1}}}}, "unknown facet 'old'"),
        ({"thresholds": {"young": {"DPLL": {"max": 1}}}}, "unknown Clarify metric 'DPLL'"),
        ({"thresholds": {"young": {"CDDL": {"max": 1}}}}, "CDDL needs a 'group_column'"),
        ({"thresholds": {"young": {"DI": {"min": 2, "max": 1}}}}, "greater than max"),
        ({"decision_threshold": 1.5}, "strictly between 0 and 1"),
    ],
)
def test_bias_config_mistakes_are_refused_naming_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(JobInputError, match=message):
        parse_bias_config({**CONFIG, **change})


def test_flip_test_matches_the_loop_oracle_across_chunks_with_many_ties() -> None:
    # Given more facet d members than one chunk of the distance computation, on a coarse grid (many exact ties)
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 3, size=(900, 3)).astype(float)
    facet = rng.random(900) < 0.4
    predicted = (rng.random(900) < 0.5).astype(int)
    # Then the chunked, partition-based vote equals the row-by-row sorted vote
    assert flip_test(predicted, facet, rows, k=5) == pytest.approx(
        loop_flip_test(predicted.tolist(), facet.tolist(), rows.tolist(), 5), abs=TOLERANCE
    )
