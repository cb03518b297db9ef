"""Explanations: exact TreeSHAP, aggregation to original columns, global importance, reason codes, the plot."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost as xgb

from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.errors import JobInputError
from governed_mlops.reports.images import image_mime
from governed_mlops_ml.explain import (
    ContributionTable,
    explain_rows,
    global_importance,
    humanise_feature_name,
    reason_codes,
)
from governed_mlops_ml.explain_plots import BAR_COLOUR, importance_bar_svg
from governed_mlops_ml.features import FeatureSpec, encode_frame, fit_feature_spec
from governed_mlops_ml.job_config import DecisionLabels, JobConfig
from governed_mlops_ml.model import predict_scores, train_booster
from governed_mlops_ml.training import TrainedModel

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
THRESHOLD = 0.5
# XGBoost computes contributions and margins in float32: on German credit the sum of contributions plus
# the base value differs from the margin by at most ~3.3e-6 (170 of 1000 rows exceed 1e-6).
FLOAT32_TOLERANCE = 1e-5
SVG = "{http://www.w3.org/2000/svg}"

#: What models/credit-risk/config.yaml names the two outcomes.
CREDIT_DECISIONS = DecisionLabels(favourable="approve", unfavourable="deny")


@pytest.fixture(scope="module")
def frame(german_credit_frame: pd.DataFrame) -> pd.DataFrame:
    return german_credit_frame


@pytest.fixture(scope="module")
def trained(german_credit_model: TrainedModel) -> TrainedModel:
    """The German credit model, trained as the training job trains it."""
    return german_credit_model


@pytest.fixture(scope="module")
def table(trained: TrainedModel, frame: pd.DataFrame) -> ContributionTable:
    return explain_rows(trained.booster, trained.spec, frame)


def _row(frame: pd.DataFrame, index: int) -> dict[str, str | None]:
    return {name: (None if pd.isna(value) else str(value)) for name, value in frame.iloc[index].items()}


def _margins(booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    matrix = xgb.DMatrix(encode_frame(frame, spec), missing=np.nan)
    return np.asarray(booster.predict(matrix, output_margin=True), dtype=np.float64)


def _first_denied_row(trained: TrainedModel, frame: pd.DataFrame) -> int:
    return int(np.flatnonzero(predict_scores(trained.booster, trained.spec, frame) < THRESHOLD)[0])


# --- contributions -------------------------------------------------------------------------------


def test_contributions_plus_base_value_equal_the_model_margin_for_every_row(
    table: ContributionTable, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    margins = _margins(trained.booster, trained.spec, frame)

    np.testing.assert_allclose(
        table.contributions.sum(axis=1) + table.base_value, margins, rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_aggregated_contributions_sum_to_the_encoded_contributions_of_each_row(table: ContributionTable) -> None:
    np.testing.assert_allclose(
        table.contributions.sum(axis=1), table.encoded_contributions.sum(axis=1), rtol=0, atol=1e-12
    )


def test_a_categorical_contribution_is_the_sum_of_its_one_hot_columns(
    table: ContributionTable, trained: TrainedModel
) -> None:
    purpose_columns = [i for i, name in enumerate(table.encoded_columns) if name.startswith("purpose=")]
    purpose = table.features.index("purpose")

    assert len(purpose_columns) == len(trained.spec.categorical_features[2].categories) > 1
    np.testing.assert_allclose(
        table.contributions[:, purpose], table.encoded_contributions[:, purpose_columns].sum(axis=1), atol=1e-12
    )


def test_a_numeric_contribution_is_its_encoded_column(table: ContributionTable) -> None:
    duration = table.features.index("duration_in_month")

    np.testing.assert_array_equal(
        table.contributions[:, duration],
        table.encoded_contributions[:, table.encoded_columns.index("duration_in_month")],
    )


def test_contributions_are_reported_on_the_original_columns(table: ContributionTable, trained: TrainedModel) -> None:
    assert table.features == trained.spec.raw_features
    assert table.contributions.shape == (1000, 20)
    assert table.encoded_contributions.shape == (1000, len(trained.spec.encoded_columns))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # shap's colour maps, at import
def test_contributions_equal_shap_tree_explainer_on_the_booster(
    table: ContributionTable, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    import shap  # imported here: slow to import, and only this test uses it

    explainer = shap.TreeExplainer(trained.booster)
    values = explainer.shap_values(encode_frame(frame, trained.spec))

    np.testing.assert_allclose(table.encoded_contributions, values, atol=1e-7)
    assert table.base_value == pytest.approx(float(explainer.expected_value), abs=1e-7)


def test_explaining_twice_gives_identical_contributions(
    table: ContributionTable, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    again = explain_rows(trained.booster, trained.spec, frame)

    assert np.array_equal(again.contributions, table.contributions)


def test_contributions_are_the_exact_shapley_values_of_the_path_dependent_game() -> None:
    # Given a small model, so Shapley values can be computed from their definition over every coalition
    rng = np.random.default_rng(3)
    rows = 300
    colour = rng.choice(["red", "green", "blue"], size=rows)
    amount = rng.integers(1, 100, size=rows).astype(float)
    age = rng.integers(18, 70, size=rows).astype(float)
    logit = 0.04 * (amount - 50) - 0.05 * (age - 40) + (colour == "red") * 1.5
    labels = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "good", "bad")
    frame = pd.DataFrame({"amount": amount.astype(str), "age": age.astype(str), "colour": colour, "y": labels})
    spec = fit_feature_spec(frame, JobConfig("y", "good", ("amount", "age"), ("colour",), 1, 0.5))
    features = encode_frame(frame, spec)
    hyperparameters = parse_hyperparameters({"num_round": 6, "max_depth": 3, "eta": 0.3})
    booster = train_booster(features, (labels == "good").astype(np.int64), hyperparameters, seed=1)

    # When the first rows are explained
    table = explain_rows(booster, spec, frame.head(5))

    # Then every encoded contribution is the exact Shapley value and the base value is v(empty set)
    for index in range(5):
        expected_phi, expected_base = _PathDependentShapley(booster, features[index]).shapley(features[index])
        np.testing.assert_allclose(table.encoded_contributions[index], expected_phi, atol=1e-5)
        assert table.base_value == pytest.approx(expected_base, abs=1e-5)


class _PathDependentShapley:
    """Shapley values by definition: v(S) = E[f(x) | x_S] with tree covers as the conditional distribution.

    The base margin is read from the model as v(all features) - sum of leaf values, so the oracle
    does not depend on how XGBoost stores ``base_score``.
    """

    def __init__(self, booster: xgb.Booster, x: npt.NDArray[np.float64]) -> None:
        nodes = booster.trees_to_dataframe()
        self.trees: list[dict[str, dict[str, Any]]] = [
            {str(node["ID"]): node for node in group.to_dict("records")}
            for _, group in nodes.groupby("Tree", sort=True)
        ]
        self.features = booster.num_features()
        margin = float(booster.predict(xgb.DMatrix(x[np.newaxis, :], missing=np.nan), output_margin=True)[0])
        self.base_margin = 0.0
        self.base_margin = margin - self.value(x, frozenset(range(self.features)))

    def value(self, x: npt.NDArray[np.float64], known: frozenset[int]) -> float:
        return self.base_margin + sum(
            self._expectation(tree, f"{number}-0", x, known) for number, tree in enumerate(self.trees)
        )

    def shapley(self, x: npt.NDArray[np.float64]) -> tuple[list[float], float]:
        players = range(self.features)
        phi = []
        for player in players:
            others = [p for p in players if p != player]
            total = 0.0
            for size in range(len(others) + 1):
                weight = math.factorial(size) * math.factorial(self.features - size - 1) / math.factorial(self.features)
                for coalition in itertools.combinations(others, size):
                    known = frozenset(coalition)
                    total += weight * (self.value(x, known | {player}) - self.value(x, known))
            phi.append(total)
        return phi, self.value(x, frozenset())

    def _expectation(
        self, tree: dict[str, dict[str, Any]], node_id: str, x: npt.NDArray[np.float64], known: frozenset[int]
    ) -> float:
        node = tree[node_id]
        if node["Feature"] == "Leaf":
            return float(node["Gain"])
        feature = int(str(node["Feature"]).removeprefix("f"))
        yes, no = str(node["Yes"]), str(node["No"])
        if feature in known:
            value = x[feature]
            # XGBoost compares in float32: x < split goes to "Yes", a missing value to "Missing".
            goes_yes = bool(np.float32(value) < np.float32(node["Split"]))
            branch = str(node["Missing"]) if np.isnan(value) else (yes if goes_yes else no)
            return self._expectation(tree, branch, x, known)
        cover_yes, cover_no = float(tree[yes]["Cover"]), float(tree[no]["Cover"])
        expected_yes = self._expectation(tree, yes, x, known)
        expected_no = self._expectation(tree, no, x, known)
        return (cover_yes * expected_yes + cover_no * expected_no) / (cover_yes + cover_no)


def test_explaining_a_frame_without_a_feature_column_is_refused(trained: TrainedModel, frame: pd.DataFrame) -> None:
    with pytest.raises(JobInputError, match="missing required columns"):
        explain_rows(trained.booster, trained.spec, frame.drop(columns=["purpose"]))


def test_explaining_no_rows_is_refused(trained: TrainedModel, frame: pd.DataFrame) -> None:
    with pytest.raises(JobInputError, match="no rows"):
        explain_rows(trained.booster, trained.spec, frame.head(0))


# --- global importance ---------------------------------------------------------------------------


def test_global_importance_is_the_mean_absolute_contribution_per_original_column(table: ContributionTable) -> None:
    importance = dict(global_importance(table))

    for position, name in enumerate(table.features):
        assert importance[name] == pytest.approx(float(np.mean(np.abs(table.contributions[:, position]))), rel=1e-12)


def test_global_importance_is_sorted_largest_first_over_every_original_column(table: ContributionTable) -> None:
    importance = global_importance(table)

    assert sorted(name for name, _ in importance) == sorted(table.features)
    assert [value for _, value in importance] == sorted((value for _, value in importance), reverse=True)


def test_checking_account_status_is_the_most_important_feature_on_german_credit(table: ContributionTable) -> None:
    assert global_importance(table)[0][0] == "status_of_existing_checking_account"


# --- reason codes --------------------------------------------------------------------------------


def test_reason_codes_are_the_most_negative_contributions_of_the_row(
    trained: TrainedModel, frame: pd.DataFrame, table: ContributionTable
) -> None:
    index = _first_denied_row(trained, frame)

    decision = reason_codes(trained.booster, trained.spec, _row(frame, index), THRESHOLD, top_k=4)

    contributions = table.row(index)
    expected = sorted((name for name in contributions if contributions[name] < 0), key=contributions.__getitem__)[:4]
    assert [reason.feature for reason in decision.reasons] == expected
    assert [reason.contribution for reason in decision.reasons] == pytest.approx([contributions[n] for n in expected])


def test_a_denied_applicant_gets_a_deny_decision_with_its_score(trained: TrainedModel, frame: pd.DataFrame) -> None:
    index = _first_denied_row(trained, frame)
    score = float(predict_scores(trained.booster, trained.spec, frame.iloc[[index]])[0])

    decision = reason_codes(trained.booster, trained.spec, _row(frame, index), THRESHOLD, decisions=CREDIT_DECISIONS)

    assert (decision.decision, decision.favourable, decision.score) == ("deny", False, score)
    assert len(decision.reasons) == 4


def test_the_decision_approves_at_a_threshold_equal_to_the_score(trained: TrainedModel, frame: pd.DataFrame) -> None:
    row = _row(frame, _first_denied_row(trained, frame))
    score = reason_codes(trained.booster, trained.spec, row, THRESHOLD).score

    assert reason_codes(trained.booster, trained.spec, row, score, decisions=CREDIT_DECISIONS).decision == "approve"
    above = min(score + 1e-6, 0.999)
    assert reason_codes(trained.booster, trained.spec, row, above, decisions=CREDIT_DECISIONS).decision == "deny"


def test_reason_margin_adds_up_from_base_value_and_every_contribution(
    trained: TrainedModel, frame: pd.DataFrame, table: ContributionTable
) -> None:
    index = _first_denied_row(trained, frame)

    decision = reason_codes(trained.booster, trained.spec, _row(frame, index), THRESHOLD)

    assert decision.base_value == table.base_value
    assert decision.margin == pytest.approx(table.base_value + sum(table.row(index).values()), abs=FLOAT32_TOLERANCE)
    assert decision.score == pytest.approx(1 / (1 + math.exp(-decision.margin)), abs=1e-6)


def test_reason_text_names_the_feature_in_plain_words_with_the_applicant_value(
    trained: TrainedModel, frame: pd.DataFrame
) -> None:
    # Given the second applicant (48 months, checking account 0..200 DM), denied by the model
    row = _row(frame, 1)

    decision = reason_codes(trained.booster, trained.spec, row, THRESHOLD, top_k=20)

    texts = {reason.feature: reason.text for reason in decision.reasons}
    duration = next(r for r in decision.reasons if r.feature == "duration_in_month")
    checking = next(r for r in decision.reasons if r.feature == "status_of_existing_checking_account")
    assert texts["duration_in_month"] == (
        f"Duration in month of 48 lowered the score by {abs(duration.contribution):.2f} (log-odds)"
    )
    assert texts["status_of_existing_checking_account"] == (
        "Status of existing checking account '0 <= ... < 200 DM' lowered the score by "
        f"{abs(checking.contribution):.2f} (log-odds)"
    )
    assert (duration.value, checking.value) == ("48", "0 <= ... < 200 DM")


def test_an_unknown_category_is_explained_as_a_value_not_seen_in_training(
    trained: TrainedModel, frame: pd.DataFrame
) -> None:
    # Given an applicant whose purpose is a category the training data never had
    row = {**_row(frame, 1), "purpose": "spaceship"}

    decision = reason_codes(trained.booster, trained.spec, row, THRESHOLD, top_k=20)

    purpose = next(reason for reason in decision.reasons if reason.feature == "purpose")
    assert purpose.text.startswith("Purpose 'spaceship' (a value not seen in training) lowered the score by")


def test_an_unknown_category_is_explained_like_a_missing_one(trained: TrainedModel, frame: pd.DataFrame) -> None:
    # Both encode as an all-zero one-hot block, so the model cannot tell them apart
    unknown = reason_codes(trained.booster, trained.spec, {**_row(frame, 1), "purpose": "spaceship"}, THRESHOLD)
    missing = reason_codes(trained.booster, trained.spec, {**_row(frame, 1), "purpose": None}, THRESHOLD)

    assert unknown.score == missing.score
    assert [r.contribution for r in unknown.reasons] == [r.contribution for r in missing.reasons]


def test_a_missing_numeric_value_is_explained_as_missing(trained: TrainedModel, frame: pd.DataFrame) -> None:
    # Given the second applicant with no credit amount (XGBoost takes the default branch)
    row = {**_row(frame, 1), "credit_amount": ""}

    decision = reason_codes(trained.booster, trained.spec, row, THRESHOLD, top_k=20)

    amount = next(reason for reason in decision.reasons if reason.feature == "credit_amount")
    assert amount.value is None
    assert amount.text == f"Credit amount (missing) lowered the score by {abs(amount.contribution):.2f} (log-odds)"


def test_reason_codes_stop_at_top_k(trained: TrainedModel, frame: pd.DataFrame) -> None:
    decision = reason_codes(trained.booster, trained.spec, _row(frame, 1), THRESHOLD, top_k=2)

    assert len(decision.reasons) == 2


def test_reason_codes_name_only_features_that_lowered_the_score(trained: TrainedModel, frame: pd.DataFrame) -> None:
    decision = reason_codes(trained.booster, trained.spec, _row(frame, 1), THRESHOLD, top_k=20)

    assert 0 < len(decision.reasons) < 20
    assert all(reason.contribution < 0 and "lowered" in reason.text for reason in decision.reasons)


def test_reason_codes_need_every_feature_of_the_row(trained: TrainedModel, frame: pd.DataFrame) -> None:
    row = _row(frame, 1)
    del row["purpose"]

    with pytest.raises(JobInputError, match=r"missing features: \['purpose'\]"):
        reason_codes(trained.booster, trained.spec, row, THRESHOLD)


@pytest.mark.parametrize("threshold", [0.0, 1.0, float("nan")])
def test_reason_codes_refuse_a_threshold_outside_the_open_unit_interval(
    trained: TrainedModel, frame: pd.DataFrame, threshold: float
) -> None:
    with pytest.raises(JobInputError, match="threshold"):
        reason_codes(trained.booster, trained.spec, _row(frame, 1), threshold)


def test_reason_codes_refuse_a_non_numeric_amount(trained: TrainedModel, frame: pd.DataFrame) -> None:
    with pytest.raises(JobInputError, match="credit_amount"):
        reason_codes(trained.booster, trained.spec, {**_row(frame, 1), "credit_amount": "lots"}, THRESHOLD)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("status_of_existing_checking_account", "Status of existing checking account"),
        ("age_in_years", "Age in years"),
        ("credit-amount", "Credit amount"),
        ("job", "Job"),
        ("savings__DM", "Savings DM"),
    ],
)
def test_feature_names_are_humanised(name: str, expected: str) -> None:
    assert humanise_feature_name(name) == expected


# --- summary plot --------------------------------------------------------------------------------


def _svg(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def _bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def _texts_of(root: ET.Element, css_class: str) -> list[str]:
    return ["".join(text.itertext()) for text in root.iter(f"{SVG}text") if text.get("class") == css_class]


def test_summary_plot_is_an_svg_with_identical_bytes_on_every_call(table: ContributionTable) -> None:
    importance = global_importance(table)

    first = importance_bar_svg(importance, title="Global importance")
    second = importance_bar_svg(importance, title="Global importance")

    assert first == second
    assert image_mime(first) == "image/svg+xml"


def test_summary_plot_draws_the_largest_importance_first_with_its_value() -> None:
    chart = _svg(importance_bar_svg([("purpose", 0.2), ("credit_history", 0.6), ("age", 0.1)], title="t"))

    bars = _bars(chart)
    widths = [float(bar.get("width", "")) for bar in bars]
    tops = [float(bar.get("y", "")) for bar in bars]

    assert _texts_of(chart, "feature") == ["Credit history", "Purpose", "Age"]
    assert _texts_of(chart, "value") == ["0.600", "0.200", "0.100"]
    assert tops == sorted(tops)  # largest at the top
    assert widths[0] == pytest.approx(3 * widths[1], rel=1e-3)
    assert widths[1] == pytest.approx(2 * widths[2], rel=1e-3)
    assert {bar.get("fill") for bar in bars} == {BAR_COLOUR}


def test_summary_plot_is_described_for_screen_readers() -> None:
    chart = _svg(importance_bar_svg([("purpose", 0.2), ("credit_history", 0.6)], title="Top features"))

    title, desc = chart.find(f"{SVG}title"), chart.find(f"{SVG}desc")
    assert chart.get("role") == "img"
    assert title is not None
    assert title.text == "Top features"
    assert desc is not None
    assert desc.text == "Mean |SHAP value| (log-odds), largest first: 1. Credit history: 0.600; 2. Purpose: 0.200."


def test_summary_plot_shows_at_most_fifteen_features(table: ContributionTable) -> None:
    importance = global_importance(table)

    all_twenty = importance_bar_svg(importance, title="t", top_n=20)
    default = importance_bar_svg(importance, title="t")
    fifteen = importance_bar_svg(importance[:15], title="t")

    assert len(_bars(_svg(default))) == 15
    assert default == fifteen != all_twenty


def test_summary_plot_of_nothing_is_refused() -> None:
    with pytest.raises(JobInputError, match="no feature importances"):
        importance_bar_svg([], title="t")


def test_summary_plot_of_a_non_finite_importance_is_refused_naming_the_feature() -> None:
    with pytest.raises(JobInputError, match="finite numbers; not so for \\['age'\\]"):
        importance_bar_svg([("age", math.nan), ("purpose", 0.1)], title="t")


def test_summary_plot_draws_from_any_importance_list() -> None:
    chart = _svg(importance_bar_svg([("a_b", 0.0), ("c", 0.0)], title="all zero"))

    assert [float(bar.get("width", "")) for bar in _bars(chart)] == [0.0, 0.0]
    assert _texts_of(chart, "value") == ["0.000", "0.000"]
