"""The metric sets count once per facet and apply every formula to those counts: the same values as the
per-metric functions, which validate and count for themselves (governed_mlops_ml.bias.report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governed_mlops.errors import JobInputError
from governed_mlops_ml import bias
from governed_mlops_ml.bias import UndefinedMetricError, bias_report, parse_bias_config

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]

PRE: dict[str, Callable[[Arrays], float]] = {
    "CI": lambda c: bias.class_imbalance(c[2]),
    "DPL": lambda c: bias.difference_in_positive_proportions(c[0], c[2]),
    "KL": lambda c: bias.kl_divergence(c[0], c[2]),
    "JS": lambda c: bias.jensen_shannon_divergence(c[0], c[2]),
    "LP": lambda c: bias.lp_norm(c[0], c[2]),
    "TVD": lambda c: bias.total_variation_distance(c[0], c[2]),
    "KS": lambda c: bias.kolmogorov_smirnov(c[0], c[2]),
    "CDDL": lambda c: bias.conditional_demographic_disparity(c[0], c[2], c[3]),
}
POST: dict[str, Callable[[Arrays], float]] = {
    "DPPL": lambda c: bias.difference_in_positive_proportions(c[1], c[2]),
    "DI": lambda c: bias.disparate_impact(c[1], c[2]),
    "DCA": lambda c: bias.difference_in_conditional_acceptance(c[0], c[1], c[2]),
    "DCR": lambda c: bias.difference_in_conditional_rejection(c[0], c[1], c[2]),
    "RD": lambda c: bias.recall_difference(c[0], c[1], c[2]),
    "DAR": lambda c: bias.difference_in_acceptance_rates(c[0], c[1], c[2]),
    "DRR": lambda c: bias.difference_in_rejection_rates(c[0], c[1], c[2]),
    "AD": lambda c: bias.accuracy_difference(c[0], c[1], c[2]),
    "TE": lambda c: bias.treatment_equality(c[0], c[1], c[2]),
    "CDDPL": lambda c: bias.conditional_demographic_disparity(c[1], c[2], c[3]),
}


@st.composite
def cases(draw: st.DrawFn) -> Arrays:
    size = draw(st.integers(min_value=2, max_value=40))
    members = draw(st.integers(min_value=1, max_value=size - 1))
    facet = draw(st.permutations([True] * members + [False] * (size - members)))
    vector = st.lists(st.integers(min_value=0, max_value=1), min_size=size, max_size=size)
    groups = draw(st.lists(st.sampled_from(["g1", "g2", "g3"]), min_size=size, max_size=size))
    return np.array(draw(vector)), np.array(draw(vector)), np.array(facet, dtype=bool), groups


def _alone(compute: Callable[[], float]) -> tuple[float | None, str | None]:
    """What one per-metric function gives: its value, or None and the reason it is undefined."""
    try:
        return compute(), None
    except UndefinedMetricError as exc:
        return None, str(exc)


def _in_set(result: Any) -> tuple[float | None, str | None]:
    reason = None if result.error is None else result.error.split(" is undefined: ", 1)[1]
    return result.value, reason


@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_pre_training_set_equals_each_metric_function_exactly(case: Arrays) -> None:
    labels, _, facet, groups = case

    results = bias.pre_training_metrics(labels, facet, groups)

    # Bit for bit: the same counts go through the same arithmetic, only counted once.
    assert {name: _in_set(result) for name, result in results.items()} == {
        name: _alone(lambda compute=compute: compute(case)) for name, compute in PRE.items()
    }


@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_post_training_set_equals_each_metric_function_exactly(case: Arrays) -> None:
    labels, predicted, facet, groups = case

    results = bias.post_training_metrics(labels, predicted, facet, groups)

    expected = {name: _alone(lambda compute=compute: compute(case)) for name, compute in POST.items()}
    assert {name: _in_set(result) for name, result in results.items() if name != "FT"} == expected


def test_post_training_set_refuses_predictions_of_another_length() -> None:
    with pytest.raises(JobInputError, match="differ in length: 4 != 3"):
        bias.post_training_metrics([1, 0, 1, 0], [1, 0, 1], [True, False, True, False])


def test_post_training_set_names_the_predicted_labels_when_they_are_not_binary() -> None:
    with pytest.raises(JobInputError, match="predicted labels must hold only 0 and 1"):
        bias.post_training_metrics([1, 0, 1, 0], [1, 2, 1, 0], np.array([True, False, True, False]))


@pytest.mark.parametrize("metrics", [bias.pre_training_metrics, bias.post_training_metrics], ids=["pre", "post"])
def test_metric_sets_refuse_a_group_column_of_another_length(metrics: Callable[..., Any]) -> None:
    labels, facet = np.array([1, 0, 1, 0]), np.array([True, False, True, False])
    arguments = (labels, facet) if metrics is bias.pre_training_metrics else (labels, labels, facet)

    with pytest.raises(JobInputError, match="group column has 3 values for 4 labels"):
        metrics(*arguments, ["g1", "g2", "g1"])


def test_report_counts_groups_once_for_every_facet_with_the_same_result_as_each_metric() -> None:
    # Given two facets and a group column with a missing value (a group of its own)
    frame = pd.DataFrame(
        {
            "credit": ["good", "bad", "good", "good", "bad", "bad", "good", "good"],
            "sex": ["f", "m", "f", "m", "f", "m", "m", "f"],
            "age": [22, 40, 25, 26, 61, 19, 33, 45],
            "purpose": ["car", "car", None, "tv", "tv", None, "car", "tv"],
        }
    )
    config = parse_bias_config(
        {
            "label": "credit",
            "positive_label": "good",
            "group_column": "purpose",
            "facets": [
                {"name": "female", "column": "sex", "values": ["f"]},
                {"name": "young", "column": "age", "threshold": 25},
            ],
        }
    )
    labels = (frame["credit"] == "good").to_numpy().astype(np.int64)

    # When the pre-training report is computed
    report = bias_report(frame, config, stage="pre")

    # Then each facet's CDDL is what the per-metric function gives for that facet's mask
    facets = report["pre_training_bias_metrics"]["facets"]
    for name, mask in (("female", frame["sex"] == "f"), ("young", frame["age"] <= 25)):
        cddl = next(m["value"] for m in facets[name][0]["metrics"] if m["name"] == "CDDL")
        assert cddl == bias.conditional_demographic_disparity(labels, mask.to_numpy(), frame["purpose"])
