"""Hyperparameters from SM_HPS and the command line: typing, precedence, and refused names."""

from __future__ import annotations

import pytest

from governed_mlops.domain.hyperparameters import (
    hyperparameters_from_command_line,
    hyperparameters_from_sm_hps,
    parse_hyperparameters,
    resolve_hyperparameters,
)
from governed_mlops.errors import JobInputError


def test_string_values_are_converted_to_their_xgboost_types() -> None:
    parsed = parse_hyperparameters({"num_round": "150", "max_depth": "3", "eta": "0.1", "tree_method": "hist"})

    assert (parsed.num_round, dict(parsed.booster_params)) == (
        150,
        {"max_depth": 3, "eta": 0.1, "tree_method": "hist", "objective": "binary:logistic"},
    )


def test_json_scalars_decoded_by_the_training_toolkit_are_accepted() -> None:
    parsed = parse_hyperparameters({"num_round": 20, "subsample": 1, "max_depth": 4})

    assert (parsed.num_round, parsed.booster_params["subsample"], parsed.booster_params["max_depth"]) == (
        20,
        1.0,
        4,
    )


def test_num_round_is_required() -> None:
    with pytest.raises(JobInputError, match="'num_round'.*required"):
        parse_hyperparameters({"max_depth": "3"})


def test_num_round_must_be_positive() -> None:
    with pytest.raises(JobInputError, match="positive integer"):
        parse_hyperparameters({"num_round": "0"})


def test_a_non_integer_for_an_integer_hyperparameter_is_refused() -> None:
    with pytest.raises(JobInputError, match="'max_depth' must be an integer, got '3.5'"):
        parse_hyperparameters({"num_round": "5", "max_depth": "3.5"})


def test_a_non_number_for_a_float_hyperparameter_is_refused() -> None:
    with pytest.raises(JobInputError, match="'eta' must be a number"):
        parse_hyperparameters({"num_round": "5", "eta": "fast"})


def test_an_objective_other_than_binary_logistic_is_refused() -> None:
    with pytest.raises(JobInputError, match="'objective' must be 'binary:logistic'"):
        parse_hyperparameters({"num_round": "5", "objective": "reg:squarederror"})


def test_an_unknown_hyperparameter_is_refused_by_name() -> None:
    with pytest.raises(JobInputError, match=r"unknown hyperparameters \['max_dept'\]"):
        parse_hyperparameters({"num_round": "5", "max_dept": "3"})


@pytest.mark.parametrize("name", ["seed", "nthread"])
def test_seed_and_thread_count_are_not_hyperparameters(name: str) -> None:
    with pytest.raises(JobInputError, match=f"{name}.*may not be set"):
        parse_hyperparameters({"num_round": "5", name: "3"})


def test_sagemaker_settings_travelling_with_the_hyperparameters_are_ignored() -> None:
    parsed = parse_hyperparameters({"num_round": "5", "sagemaker_program": "train.py"})

    assert "sagemaker_program" not in parsed.booster_params


def test_sm_hps_absent_means_no_hyperparameters() -> None:
    assert hyperparameters_from_sm_hps(None) == {}


def test_sm_hps_that_is_not_a_json_object_is_refused() -> None:
    with pytest.raises(JobInputError, match="SM_HPS must be a JSON object"):
        hyperparameters_from_sm_hps('["num_round", 5]')


def test_command_line_pairs_are_read_as_strings() -> None:
    assert hyperparameters_from_command_line(["--num_round", "5", "--eta", "0.3"]) == {
        "num_round": "5",
        "eta": "0.3",
    }


def test_unknown_command_line_names_reach_validation_as_pairs() -> None:
    assert hyperparameters_from_command_line(["--max_dept", "3"]) == {"max_dept": "3"}


def test_a_dangling_command_line_argument_is_refused() -> None:
    with pytest.raises(JobInputError, match="--name value pairs"):
        hyperparameters_from_command_line(["--num_round", "5", "stray"])


def test_command_line_wins_over_sm_hps() -> None:
    resolved = resolve_hyperparameters('{"num_round": "150", "eta": "0.1"}', ["--num_round", "5"])

    assert (resolved.num_round, resolved.booster_params["eta"]) == (5, 0.1)
