"""Feature encoding: learned categories, one-hot layout, missing and unknown values, the target, the spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import (
    FeatureSpec,
    encode_frame,
    encode_target,
    feature_spec_from_dict,
    fit_feature_spec,
)
from governed_mlops_ml.job_config import JobConfig

CONFIG = JobConfig(
    target="outcome",
    positive_label="good",
    numeric_features=("amount", "age"),
    categorical_features=("colour", "size"),
    seed=7,
    decision_threshold=0.5,
)


def _training_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": ["100", "250.5", "80", "40"],
            "age": ["30", "41", "22", "35"],
            "colour": ["red", "blue", "red", "green"],
            "size": ["L", "S", "M", "S"],
            "outcome": ["good", "bad", "good", "bad"],
            "ignored": ["x", "y", "z", "w"],
        }
    )


@pytest.fixture
def spec() -> FeatureSpec:
    return fit_feature_spec(_training_frame(), CONFIG)


def test_fit_learns_sorted_categories_per_feature(spec: FeatureSpec) -> None:
    assert [(f.name, f.categories) for f in spec.categorical_features] == [
        ("colour", ("blue", "green", "red")),
        ("size", ("L", "M", "S")),
    ]


def test_fit_learns_the_negative_label(spec: FeatureSpec) -> None:
    assert (spec.positive_label, spec.negative_label) == ("good", "bad")


def test_encoded_columns_are_numeric_then_one_hot_in_category_order(spec: FeatureSpec) -> None:
    assert spec.encoded_columns == (
        "amount",
        "age",
        "colour=blue",
        "colour=green",
        "colour=red",
        "size=L",
        "size=M",
        "size=S",
    )


def test_encode_frame_parses_numbers_and_sets_one_hot_of_the_row_category(spec: FeatureSpec) -> None:
    matrix = encode_frame(_training_frame(), spec)

    np.testing.assert_array_equal(matrix[1], [250.5, 41.0, 1, 0, 0, 0, 0, 1])


def test_unknown_category_at_predict_time_encodes_as_all_zero(spec: FeatureSpec) -> None:
    # Given a colour never seen in training
    frame = _training_frame().assign(colour=["purple", "red", "red", "red"])

    # When it is encoded
    matrix = encode_frame(frame, spec)

    # Then its whole colour block is zero and the other blocks are untouched
    np.testing.assert_array_equal(matrix[0, 2:5], [0, 0, 0])
    np.testing.assert_array_equal(matrix[0, 5:8], [1, 0, 0])


def test_missing_category_encodes_as_all_zero(spec: FeatureSpec) -> None:
    frame = _training_frame().assign(size=[None, "S", "M", "S"])

    np.testing.assert_array_equal(encode_frame(frame, spec)[0, 5:8], [0, 0, 0])


def test_missing_numeric_encodes_as_nan(spec: FeatureSpec) -> None:
    frame = _training_frame().assign(age=[None, "41", np.nan, "35"])

    matrix = encode_frame(frame, spec)

    assert np.isnan(matrix[0, 1])
    assert np.isnan(matrix[2, 1])
    assert matrix[1, 1] == 41.0


def test_numeric_values_given_as_numbers_encode_like_text(spec: FeatureSpec) -> None:
    as_numbers = _training_frame().assign(amount=[100, 250.5, 80, 40], age=[30, 41, 22, 35])

    np.testing.assert_array_equal(encode_frame(as_numbers, spec), encode_frame(_training_frame(), spec))


def test_categories_learned_from_text_match_numbers_at_predict_time() -> None:
    # Given a categorical feature whose training values look like integers (read as text)
    config = JobConfig("outcome", "good", (), ("grade",), 1, 0.5)
    spec = fit_feature_spec(pd.DataFrame({"grade": ["1", "2"], "outcome": ["good", "bad"]}), config)

    # When a request sends them as JSON integers
    matrix = encode_frame(pd.DataFrame({"grade": [2, 1]}), spec)

    # Then they hit the same one-hot columns
    np.testing.assert_array_equal(matrix, [[0, 1], [1, 0]])


def test_non_numeric_text_in_a_numeric_feature_is_refused(spec: FeatureSpec) -> None:
    frame = _training_frame().assign(age=["30", "forty", "22", "35"])

    with pytest.raises(JobInputError, match=r"numeric feature 'age' has 1 non-numeric values.*forty"):
        encode_frame(frame, spec)


def test_infinite_numeric_value_is_refused(spec: FeatureSpec) -> None:
    frame = _training_frame().assign(amount=["inf", "1", "2", "3"])

    with pytest.raises(JobInputError, match="infinite"):
        encode_frame(frame, spec)


def test_encode_frame_ignores_column_order_and_extra_columns(spec: FeatureSpec) -> None:
    frame = _training_frame()
    shuffled = frame[["size", "ignored", "outcome", "colour", "age", "amount"]]

    np.testing.assert_array_equal(encode_frame(shuffled, spec), encode_frame(frame, spec))


def test_encode_frame_needs_no_target_column(spec: FeatureSpec) -> None:
    frame = _training_frame().drop(columns=["outcome"])

    assert encode_frame(frame, spec).shape == (4, 8)


def test_encode_frame_names_a_missing_feature_column(spec: FeatureSpec) -> None:
    with pytest.raises(JobInputError, match=r"missing required columns: \['size'\]"):
        encode_frame(_training_frame().drop(columns=["size"]), spec)


def test_fit_names_a_missing_configured_column() -> None:
    with pytest.raises(JobInputError, match=r"missing required columns: \['colour'\]"):
        fit_feature_spec(_training_frame().drop(columns=["colour"]), CONFIG)


def test_fit_refuses_a_target_with_three_labels() -> None:
    frame = _training_frame().assign(outcome=["good", "bad", "unknown", "bad"])

    with pytest.raises(JobInputError, match="exactly two labels, found 3"):
        fit_feature_spec(frame, CONFIG)


def test_fit_refuses_a_target_with_one_label() -> None:
    frame = _training_frame().assign(outcome=["good"] * 4)

    with pytest.raises(JobInputError, match="exactly two labels, found 1"):
        fit_feature_spec(frame, CONFIG)


def test_fit_refuses_a_target_without_the_positive_label() -> None:
    frame = _training_frame().assign(outcome=["yes", "no", "yes", "no"])

    with pytest.raises(JobInputError, match="positive label 'good' does not occur"):
        fit_feature_spec(frame, CONFIG)


def test_fit_refuses_missing_target_values() -> None:
    frame = _training_frame().assign(outcome=["good", None, "good", "bad"])

    with pytest.raises(JobInputError, match="1 missing values"):
        fit_feature_spec(frame, CONFIG)


def test_fit_refuses_encoded_column_names_that_collide() -> None:
    # Given a numeric feature named like the one-hot column of a categorical feature
    config = JobConfig("outcome", "good", ("colour=red",), ("colour",), 1, 0.5)
    frame = pd.DataFrame({"colour=red": ["1", "2"], "colour": ["red", "blue"], "outcome": ["good", "bad"]})

    with pytest.raises(JobInputError, match="collide"):
        fit_feature_spec(frame, config)


def test_encode_target_marks_the_positive_label_as_one(spec: FeatureSpec) -> None:
    np.testing.assert_array_equal(encode_target(_training_frame(), spec), [1, 0, 1, 0])


def test_encode_target_refuses_a_label_unseen_in_training(spec: FeatureSpec) -> None:
    frame = _training_frame().assign(outcome=["good", "bad", "maybe", "bad"])

    with pytest.raises(JobInputError, match=r"\['maybe'\]"):
        encode_target(frame, spec)


def test_feature_spec_round_trips_through_its_json_document(spec: FeatureSpec) -> None:
    assert feature_spec_from_dict(spec.to_json_dict()) == spec


def test_feature_spec_document_lists_encoded_columns_in_matrix_order(spec: FeatureSpec) -> None:
    assert spec.to_json_dict()["encoded_columns"] == list(spec.encoded_columns)


def test_feature_spec_with_edited_encoded_columns_is_refused(spec: FeatureSpec) -> None:
    document = spec.to_json_dict()
    document["encoded_columns"] = list(reversed(document["encoded_columns"]))

    with pytest.raises(JobInputError, match="does not match"):
        feature_spec_from_dict(document)


def test_feature_spec_of_another_format_version_is_refused(spec: FeatureSpec) -> None:
    document = {**spec.to_json_dict(), "format_version": 99}

    with pytest.raises(JobInputError, match="format_version 99"):
        feature_spec_from_dict(document)


def test_feature_spec_missing_a_key_is_refused(spec: FeatureSpec) -> None:
    document = spec.to_json_dict()
    del document["negative_label"]

    with pytest.raises(JobInputError, match="malformed"):
        feature_spec_from_dict(document)
