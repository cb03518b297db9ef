"""Onboarding inference (``governed_mlops_local.onboarding``) on generated tables: typing, dropping, missing
values, bias facets, limits, the YAML it writes and the errors it names."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from governed_mlops.config import parse_config
from governed_mlops.domain.bias_gates import check_bias
from governed_mlops.domain.validation import validate_dataset
from governed_mlops.models import ObjectDigest, S3Ref
from governed_mlops_local.onboarding import (
    AMPLIFICATION_TOLERANCE,
    FOUR_FIFTHS,
    MIN_FACET_HOLDOUT_ROWS,
    GeneratedConfigInvalidError,
    NoUsableFeaturesError,
    PositiveLabelNotFoundError,
    Proposal,
    TargetColumnNotFoundError,
    TargetMissingValuesError,
    TargetNotBinaryError,
    TooFewRowsError,
    UnreadableDataError,
    check_generated_config,
    di_limit,
    dppl_limit,
    infer,
    onboard,
    read_table,
    render_config,
)

ROWS = 400


def _base(rows: int = ROWS, seed: int = 0) -> dict[str, list[str]]:
    """A target (good 70% / bad 30%) and one informative numeric feature."""
    rng = np.random.default_rng(seed)
    good = rng.random(rows) < 0.7
    amount = np.where(good, rng.integers(500, 5000, rows), rng.integers(3000, 9000, rows))
    return {"amount": [str(a) for a in amount], "status": ["good" if g else "bad" for g in good]}


def _csv(columns: dict[str, list[str]]) -> bytes:
    return pd.DataFrame(columns).to_csv(index=False).encode()


def _infer(columns: dict[str, list[str]], *, target: str = "status", positive: str = "good") -> Proposal:
    return infer(read_table(_csv(columns), "loans.csv"), name="loans", target=target, positive_label=positive)


def _onboard(columns: dict[str, list[str]], *, target: str = "status", positive: str = "good") -> Any:
    return onboard(
        _csv(columns),
        source="loans.csv",
        name="loans",
        target=target,
        positive_label=positive,
        generated_on=date(2026, 12, 4),
        command="mlops models add loans",
    )


def _features(proposal: Proposal) -> dict[str, str]:
    return {f.name: f.kind for f in proposal.features}


def _dropped(proposal: Proposal) -> dict[str, str]:
    return {d.name: d.why for d in proposal.dropped}


def _cycle(values: list[str], rows: int = ROWS) -> list[str]:
    return [values[i % len(values)] for i in range(rows)]


# -- typing ------------------------------------------------------------------------------------------


def test_numbers_are_numeric_and_text_is_categorical():
    columns = _base() | {"purpose": _cycle(["car", "tv", "education"])}
    proposal = _infer(columns)
    assert _features(proposal) == {"amount": "numeric", "purpose": "categorical"}


def test_zero_one_flag_is_numeric_with_range_0_to_1():
    columns = _base() | {"has_guarantor": _cycle(["0", "1", "1"])}
    feature = next(f for f in _infer(columns).features if f.name == "has_guarantor")
    assert (feature.kind, feature.range_min, feature.range_max) == ("numeric", 0.0, 1.0)
    assert "0/1 flag" in feature.why


def test_low_cardinality_integers_stay_numeric_and_say_so():
    columns = _base() | {"installment_rate": _cycle(["1", "2", "3", "4"])}
    feature = next(f for f in _infer(columns).features if f.name == "installment_rate")
    assert feature.kind == "numeric"
    assert "integer codes 1..4, 4 levels" in feature.why


def test_numeric_looking_codes_with_leading_zeros_are_categorical():
    columns = _base() | {"branch": _cycle(["007", "012", "101"])}
    feature = next(f for f in _infer(columns).features if f.name == "branch")
    assert feature.kind == "categorical"
    assert "leading zeros" in feature.why


def test_a_numeric_code_named_like_an_identifier_with_few_values_is_categorical():
    columns = _base() | {"region_id": _cycle(["1", "2", "3", "4", "5"])}
    assert _features(_infer(columns))["region_id"] == "categorical"


def test_numbers_with_a_text_marker_are_dropped_with_a_warning():
    income = [str(1000 + i) for i in range(ROWS)]
    income[::40] = ["?"] * len(income[::40])
    proposal = _infer(_base() | {"income": income})
    assert "10 text value(s) '?' (10)" in _dropped(proposal)["income"]
    assert any("income" in w and "empty fields" in w for w in proposal.warnings)


def test_missing_tokens_count_as_missing_like_the_validate_data_stage():
    income = [str(1000 + i) for i in range(ROWS)]
    income[::50] = ["NA"] * len(income[::50])
    income[1::50] = ["null"] * len(income[1::50])
    feature = next(f for f in _infer(_base() | {"income": income}).features if f.name == "income")
    assert (feature.kind, feature.missing, feature.policy) == ("numeric", 16, "allow")


# -- dropped columns --------------------------------------------------------------------------------


def test_unique_text_per_row_is_dropped_as_an_identifier():
    proposal = _infer(_base() | {"ref": [f"R{i:05d}" for i in range(ROWS)]})
    assert "identifier" in _dropped(proposal)["ref"]


def test_a_column_named_like_an_identifier_is_dropped_even_with_repeats():
    proposal = _infer(_base() | {"customerId": [str(i // 2) for i in range(ROWS)]})
    assert "identifier" in _dropped(proposal)["customerId"]


def test_consecutive_integers_are_dropped_as_a_row_number():
    proposal = _infer(_base() | {"seq": [str(i + 1) for i in range(ROWS)]})
    assert "row number" in _dropped(proposal)["seq"]


def test_unique_measurements_are_not_mistaken_for_identifiers():
    proposal = _infer(_base() | {"ratio": [f"{0.5 + i * 0.0137:.4f}" for i in range(ROWS)]})
    assert _features(proposal)["ratio"] == "numeric"


def test_constant_and_all_missing_columns_are_dropped():
    proposal = _infer(_base() | {"country": ["DE"] * ROWS, "empty": [""] * ROWS})
    dropped = _dropped(proposal)
    assert dropped["country"].startswith("constant")
    assert dropped["empty"] == "every value is missing"


def test_a_copy_of_the_target_is_dropped_as_a_leak():
    columns = _base()
    proposal = _infer(columns | {"outcome": list(columns["status"])})
    assert "identical to 'status'" in _dropped(proposal)["outcome"]


def test_a_relabelling_of_the_target_is_dropped_as_a_leak():
    columns = _base()
    flag = ["1" if s == "bad" else "0" for s in columns["status"]]
    proposal = _infer(columns | {"default_flag": flag})
    assert "one-to-one relabelling" in _dropped(proposal)["default_flag"]


def test_free_text_and_dates_are_dropped():
    columns = _base() | {
        "notes": [f"called the customer on day {i} about the loan" for i in range(ROWS)],
        "opened": [f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(ROWS)],
        "city": [f"city-{i % 150}" for i in range(ROWS)],
    }
    dropped = _dropped(_infer(columns))
    assert "free text" in dropped["notes"] or "identifier" in dropped["notes"]
    assert dropped["opened"].startswith("a date")
    assert "very high cardinality: 150 categories" in dropped["city"]


# -- missing values ---------------------------------------------------------------------------------


def _with_gaps(values: list[str], every: int) -> list[str]:
    return ["" if i % every == 0 else value for i, value in enumerate(values)]


def test_missing_numbers_are_allowed_with_a_limit_above_the_observed_share():
    columns = _base() | {"income": _with_gaps([str(2000 + i) for i in range(ROWS)], 10)}
    feature = next(f for f in _infer(columns).features if f.name == "income")
    assert feature.policy == "allow"
    assert feature.missing_fraction == pytest.approx(0.1)
    assert feature.max_fraction == pytest.approx(0.17)  # 1.5 x 10% + 2 points
    assert "XGBoost" in feature.policy_why


def test_rarely_missing_categories_are_imputed_with_the_mode_and_often_missing_ones_allowed():
    columns = _base() | {
        "job": _with_gaps(_cycle(["clerk", "manager", "trades"]), 40),
        "home": _with_gaps(_cycle(["own", "rent"]), 5),
    }
    features = {f.name: f for f in _infer(columns).features}
    assert (features["job"].policy, features["home"].policy) == ("impute-mode", "allow")


def test_a_mostly_missing_feature_is_dropped():
    columns = _base() | {"bonus": ["" if i % 3 else str(i) for i in range(ROWS)]}
    assert "more gaps than values" in _dropped(_infer(columns))["bonus"]


def test_the_global_missing_limit_covers_every_per_feature_limit():
    columns = _base() | {"income": _with_gaps([str(2000 + i) for i in range(ROWS)], 4)}
    proposal = _infer(columns)
    assert proposal.limits["max_missing_fraction"].value >= max(f.max_fraction or 0 for f in proposal.features)


# -- protected attributes and facets ----------------------------------------------------------------


def test_protected_attributes_become_facets_and_are_not_features():
    rng = np.random.default_rng(1)
    columns = _base() | {
        "applicant_age": [str(a) for a in rng.integers(19, 70, ROWS)],
        "gender": _cycle(["male", "female", "male"]),
        "Marital_Status": _cycle(["single", "married", "married", "divorced"]),
        "foreign_worker": _cycle(["no", "yes", "no", "no"]),
    }
    proposal = _infer(columns)
    assert set(_features(proposal)) == {"amount"}
    facets = {f.name: f for f in proposal.facets}
    assert facets["age_25_or_younger"].threshold == 25
    assert facets["sex"].values == ("female",)
    assert facets["marital_status"].values == ("divorced",)  # no recognised group: the smallest one
    assert facets["foreign_worker"].values == ("yes",)


def test_single_letter_sex_codes_pick_the_female_code():
    proposal = _infer(_base() | {"SEX": _cycle(["M", "F"])})
    (facet,) = proposal.facets
    assert (facet.column, facet.values) == ("SEX", ("F",))


def test_race_facet_is_every_group_other_than_white():
    proposal = _infer(_base() | {"ethnicity": _cycle(["white", "white", "black", "asian"])})
    (facet,) = proposal.facets
    assert set(facet.values or ()) == {"black", "asian"}


def test_words_hiding_protected_names_are_not_protected():
    columns = _base() | {
        "mortgage": _cycle(["yes", "no"]),
        "percentage_paid": _cycle(["10", "20", "30"]),
        "sussex_branch": _cycle(["a", "b"]),
    }
    proposal = _infer(columns)
    assert set(_features(proposal)) == {"amount", "mortgage", "percentage_paid", "sussex_branch"}
    assert proposal.facets == []


def test_without_protected_columns_bias_has_no_facet_and_a_note_says_so():
    proposal, text, config = _onboard(_base())
    assert config.bias is not None
    assert config.bias.facets == []
    assert yaml.safe_load(text)["bias"]["facets"] == []
    assert any("no protected attribute" in note for note in proposal.notes)


def test_age_with_missing_values_gives_no_threshold_facet_and_a_warning():
    ages = _with_gaps([str(20 + i % 50) for i in range(ROWS)], 20)
    proposal = _infer(_base() | {"age": ages})
    assert proposal.facets == []
    assert "age" in _dropped(proposal)
    assert any("age is missing" in w for w in proposal.warnings)


def _gendered(rows_d: int, rate_d: float, rows_a: int, rate_a: float) -> dict[str, list[str]]:
    """Facet d (female) and facet a (male) with exact label rates, and an informative amount."""
    good_d, good_a = round(rows_d * rate_d), round(rows_a * rate_a)
    status = ["good"] * good_d + ["bad"] * (rows_d - good_d) + ["good"] * good_a + ["bad"] * (rows_a - good_a)
    gender = ["female"] * rows_d + ["male"] * rows_a
    amount = [str(1000 + 37 * i % 4000 + (0 if s == "good" else 3000)) for i, s in enumerate(status)]
    return {"amount": amount, "gender": gender, "status": status}


def _thresholds(config: Any) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    assert config.bias is not None
    return {
        facet: {metric: (limit.min, limit.max) for metric, limit in metrics.items()}
        for facet, metrics in config.bias.thresholds.items()
    }


def _post_training_report(facet: str, **values: float) -> dict[str, Any]:
    """A bias report holding only the post-training metrics ``values`` of ``facet``, as the bias job writes it."""
    metrics = [{"name": name, "value": value} for name, value in values.items()]
    entry = {"value_or_threshold": "female", "metrics": metrics}
    return {"post_training_bias_metrics": {"facets": {facet: [entry]}}}


def test_labels_within_policy_get_the_four_fifths_limits_on_the_model_only():
    # Given a facet whose labels are well within the policy (ratio 0.97, gap 0.02) with 200 rows a side
    proposal, text, config = _onboard(_gendered(200, 0.68, 200, 0.70))
    # Then DI and DPPL of the model are gated at the policy values, and no label metric is gated
    assert _thresholds(config) == {"sex": dict(FOUR_FIFTHS)}
    assert all(limit.rule == "policy" for limit in proposal.bias_limits["sex"])
    assert "shown to approvers in the evidence report, not gated" in text
    assert not any("four-fifths" in w for w in proposal.warnings)


def test_a_large_label_gap_is_warned_about_but_not_gated():
    # Given labels with a 30-point gap (DPL +0.3)
    proposal, _, config = _onboard(_gendered(200, 0.5, 200, 0.8))
    # Then the gap is announced, and DPL has no limit: the gate acts on the model's outcomes
    assert any("favour the rest by DPL +0.300" in w for w in proposal.warnings)
    assert "DPL" not in _thresholds(config)["sex"]


def test_labels_breaching_the_four_fifths_rule_get_a_no_amplification_limit_to_review():
    # Given labels whose ratio (0.5 / 0.8 = 0.625) and gap (0.3) breach the policy
    proposal, text, config = _onboard(_gendered(200, 0.5, 200, 0.8))
    # Then the limits are the labels' own values plus the tolerance, in the direction of the disparity
    assert _thresholds(config)["sex"] == {"DPPL": (-0.2, 0.4), "DI": (0.525, 1.25)}
    assert "label ratio 0.625, near or beyond the four-fifths rule: no amplification, min = 0.625 - 0.1" in text
    assert any("breaches the four-fifths rule" in w and "a person must review" in w for w in proposal.warnings)
    # And a model reproducing the labels passes, while one just more disparate than the limit fails
    assert config.bias is not None
    thresholds = config.bias.thresholds
    assert check_bias(_post_training_report("sex", DI=0.625, DPPL=0.3), thresholds) == []
    breaches = check_bias(_post_training_report("sex", DI=0.524, DPPL=0.401), thresholds)
    assert sorted(breach.metric for breach in breaches) == ["DI", "DPPL"]


def test_labels_just_inside_the_policy_get_the_tolerance_too_so_the_limit_has_no_jump():
    # Given labels inside the four-fifths rule but within the tolerance of it (ratio 0.85, gap 0.06)
    proposal = _infer(_gendered(200, 0.34, 200, 0.40))
    # Then the model may drift from them by the same tolerance as from labels beyond it, and a person is told
    (dppl, di) = proposal.bias_limits["sex"]
    assert (dppl.rule, dppl.low, dppl.high) == ("policy", -0.2, 0.2)
    assert (di.rule, di.low, di.high) == ("no amplification", 0.75, 1.25)
    assert any("ratio 0.850 is within 0.1 of the four-fifths rule" in w for w in proposal.warnings)


def test_the_di_limit_moves_with_the_label_ratio_and_never_above_the_policy():
    ratios = [i / 100 for i in range(2, 101)]
    lows = []
    for ratio in ratios:
        limit = di_limit(ratio)
        assert limit is not None
        assert limit.low <= min(ratio, FOUR_FIFTHS["DI"][0])
        assert limit.high == FOUR_FIFTHS["DI"][1]
        lows.append(limit.low)
    assert lows == sorted(lows)
    assert lows[-1] == FOUR_FIFTHS["DI"][0]


def test_a_facet_with_too_few_expected_holdout_rows_is_reported_not_gated():
    # Given 100 female rows: about 25 in the hold-out, fewer than the minimum of 30
    proposal, text, config = _onboard(_gendered(100, 0.5, 300, 0.8))
    # Then the facet is analysed but has no limit, and the comment and a note say why
    assert config.bias is not None
    assert [f.name for f in config.bias.facets] == ["sex"]
    assert _thresholds(config) == {}
    assert "# sex: facet d has 100 rows, about 25 in the hold-out (fewer than 30)" in text
    assert any(note.startswith("bias facet sex: facet d has 100 rows") for note in proposal.notes)


def test_the_smallest_gated_facet_has_the_minimum_expected_holdout_rows():
    expected_rows = MIN_FACET_HOLDOUT_ROWS / 0.25
    gated = _infer(_gendered(int(expected_rows), 0.6, 200, 0.7))
    ungated = _infer(_gendered(int(expected_rows) - 1, 0.6, 200, 0.7))
    assert (list(gated.bias_limits), list(ungated.bias_limits)) == (["sex"], [])


@pytest.mark.parametrize("ratio", [0.9, 0.795, 0.6, 0.3, 0.1, 0.01])
def test_the_di_limit_is_the_same_seen_from_either_facet(ratio: float):
    # Swapping facets d and a inverts DI: the limit for 1/r is the inverse of the limit for r
    below, above = di_limit(ratio), di_limit(1 / ratio)
    assert below is not None
    assert above is not None
    assert below.low == pytest.approx(1 / above.high, abs=0.002)
    assert below.high == pytest.approx(1 / above.low, abs=0.002)


@pytest.mark.parametrize("gap", [0.1, 0.25, 0.5, 0.95])
def test_the_dppl_limit_is_the_same_seen_from_either_facet(gap: float):
    positive, negative = dppl_limit(gap), dppl_limit(-gap)
    assert positive is not None
    assert negative is not None
    assert (positive.low, positive.high) == (-negative.high, -negative.low)


@pytest.mark.parametrize("ratio", [0.89, 0.79, 0.6, 0.3, 0.1, 0.01, 1.13, 1.3, 2.0, 10.0, 100.0])
def test_a_di_limit_can_be_failed_by_amplifying_the_labels_disparity(ratio: float):
    limit = di_limit(ratio)
    assert limit is not None
    assert limit.rule == "no amplification"
    assert 0 < limit.tolerance <= AMPLIFICATION_TOLERANCE
    # The labels' own ratio passes; a model more disparate than the tolerance allows does not
    assert limit.low <= ratio <= limit.high
    assert limit.low > 0
    if ratio < 1:
        assert limit.low >= ratio - AMPLIFICATION_TOLERANCE - 0.001
    else:
        assert 1 / limit.high >= 1 / ratio - AMPLIFICATION_TOLERANCE - 0.001


@pytest.mark.parametrize("gap", [0.11, 0.21, 0.5, 0.9, 0.99, -0.15, -0.3])
def test_a_dppl_limit_can_be_failed_by_amplifying_the_labels_gap(gap: float):
    limit = dppl_limit(gap)
    assert limit is not None
    assert limit.low <= gap <= limit.high
    assert limit.low > -1
    assert limit.high < 1
    assert abs(limit.high if gap > 0 else limit.low) <= abs(gap) + AMPLIFICATION_TOLERANCE + 0.001


def test_labels_of_one_outcome_only_in_a_facet_give_no_limit_and_a_warning():
    # Given a facet never approved in the labels: no derived limit could be failed (DI 0 meets "no worse")
    assert di_limit(0.0) is None
    assert dppl_limit(1.0) is None
    proposal = _infer(_gendered(200, 0.0, 200, 0.8))
    (limit,) = proposal.bias_limits["sex"]
    assert (limit.metric, limit.low, limit.high) == ("DPPL", -0.2, 0.9)
    assert any("no DI limit" in w and "set one by hand" in w for w in proposal.warnings)


# -- limits -----------------------------------------------------------------------------------------


def test_limits_let_the_same_data_pass():
    columns = _base()
    columns = {key: values + values[:6] for key, values in columns.items()}  # 6 duplicated rows
    proposal = _infer(columns)
    rows = len(columns["status"])
    assert proposal.limits["min_rows"].value <= rows
    assert proposal.limits["max_duplicate_fraction"].value > 6 / rows
    minority = min(proposal.label_counts.values()) / rows
    assert 0 < proposal.limits["min_minority_fraction"].value <= minority


def test_numeric_ranges_contain_the_observed_values_with_a_margin():
    columns = _base() | {"balance": [str(-500 + 10 * i) for i in range(ROWS)]}
    feature = next(f for f in _infer(columns).features if f.name == "balance")
    assert feature.range_min is not None
    assert feature.range_max is not None
    assert feature.range_min < -500
    assert feature.range_max > 10 * (ROWS - 1) - 500


def test_canary_band_surrounds_the_observed_positive_rate():
    proposal = _infer(_base())
    low, high = proposal.canary
    assert low < proposal.positive_rate < high
    assert high - low == pytest.approx(0.4, abs=0.02)


# -- the YAML ---------------------------------------------------------------------------------------


def test_the_yaml_round_trips_awkward_names_and_a_yes_label():
    # Given column names YAML would misread and a yes/no target
    columns = _base()
    columns = {
        "amount: EUR": columns["amount"],
        "#kids": _cycle(["0", "1", "2"]),
        "no": _cycle(["a", "b"]),
        "paid back": ["yes" if s == "good" else "no" for s in columns["status"]],
    }
    _, _, config = _onboard(columns, target="paid back", positive="yes")
    # Then the text reads back exactly
    assert config.dataset.positive_label == "yes"
    assert config.dataset.numeric_features == ["amount: EUR", "#kids"]
    assert config.dataset.categorical_features == ["no"]
    assert set(config.dataset.ranges) == {"amount: EUR", "#kids"}


def test_every_inferred_feature_has_its_reason_in_a_comment():
    columns = _base() | {"purpose": _cycle(["car", "tv"]), "ref": [f"R{i}" for i in range(ROWS)]}
    _, text, _ = _onboard(columns)
    assert "- amount" in text
    assert "# integers" in text.split("- amount", 1)[1].splitlines()[0]
    assert "# - ref: identifier" in text
    assert "TODO" not in text
    assert "attribution: ''" in text


def test_the_generated_config_passes_validation_of_the_same_csv():
    columns = _base() | {
        "income": _with_gaps([str(2000 + i) for i in range(ROWS)], 8),
        "job": _with_gaps(_cycle(["clerk", "manager"]), 30),
        "id": [str(i) for i in range(ROWS)],
    }
    data = _csv(columns)
    _, _, config = _onboard(columns)
    ref = S3Ref(bucket="test-bucket", key="loans.csv")
    report = validate_dataset(data, config, ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=1))
    assert report.passed, report.issues


def test_a_config_that_does_not_read_back_as_inferred_is_a_bug():
    columns = _base() | {"purpose": _cycle(["car", "tv"])}
    data = _csv(columns)
    proposal = infer(read_table(data, "loans.csv"), name="loans", target="status", positive_label="good")
    text = render_config(proposal, generated_on=date(2026, 12, 4), command="x")
    assert parse_config(text).dataset.categorical_features == ["purpose"]
    tampered = text.replace("    - purpose", "    - amount2")
    with pytest.raises(GeneratedConfigInvalidError, match="bug"):
        check_generated_config(tampered, proposal, data)


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"a;b|status\n1;2|good\n", "separated by semicolons and pipes"),
        (b"a;b;status\n1;2;good\n1;good\n", "different number of fields.*quote fields that contain semicolons"),
        (b"a,b,status\n1,2,good\n1,good\n", "different number of fields"),
        (b"a,b,status\n\xe9,2,good\n", "not valid UTF-8"),
        (b"a,a,status\n1,2,good\n", "more than once"),
        (b"a,,status\n1,2,good\n", "empty name"),
        (b"a,b,status\n", "no data rows"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(data: bytes, message: str):
    with pytest.raises(UnreadableDataError, match=message):
        read_table(data, "loans.csv")


def test_an_unknown_target_lists_the_columns_and_suggests_a_close_one():
    with pytest.raises(TargetColumnNotFoundError, match=r"its columns are: amount, status; did you mean 'status'"):
        _infer(_base(), target="Status")


def test_a_positive_label_not_in_the_target_lists_the_values_with_counts():
    with pytest.raises(PositiveLabelNotFoundError, match=r"'good' \(\d+\), 'bad' \(\d+\); did you mean 'good'"):
        _infer(_base(), positive="Good")


def test_a_target_with_three_values_is_refused_as_not_binary():
    columns = _base()
    columns["status"] = _cycle(["good", "bad", "unknown"])
    with pytest.raises(TargetNotBinaryError, match="3 distinct values.*binary classification"):
        _infer(columns)


def test_a_target_with_a_single_value_is_refused():
    columns = _base()
    columns["status"] = ["good"] * ROWS
    with pytest.raises(TargetNotBinaryError, match="single value"):
        _infer(columns)


def test_a_target_with_missing_labels_is_refused():
    columns = _base()
    columns["status"][7] = ""
    with pytest.raises(TargetMissingValuesError, match="missing in 1 of"):
        _infer(columns)


def test_too_few_minority_rows_are_refused():
    columns = _base()
    columns["status"] = ["bad" if i < 5 else "good" for i in range(ROWS)]
    with pytest.raises(TooFewRowsError, match="only 5 rows"):
        _infer(columns)


def test_a_table_without_a_usable_feature_is_refused():
    columns = {"ref": [f"R{i}" for i in range(ROWS)], "status": _base()["status"]}
    with pytest.raises(NoUsableFeaturesError, match="ref: identifier"):
        _infer(columns)


def test_a_zero_one_target_keeps_its_label_as_text():
    columns = _base()
    columns["status"] = ["1" if s == "good" else "0" for s in columns["status"]]
    _, text, config = _onboard(columns, positive="1")
    assert config.dataset.positive_label == "1"
    assert "positive_label: '1'" in text


def test_two_columns_of_one_protected_kind_get_distinct_facet_names():
    proposal = _infer(_base() | {"gender": _cycle(["male", "female"]), "sex_at_birth": _cycle(["F", "M", "M"])})
    assert [(f.name, f.column) for f in proposal.facets] == [("sex", "gender"), ("sex_sex_at_birth", "sex_at_birth")]


def test_a_feature_that_almost_determines_the_target_is_warned_about():
    columns = _base()
    stage = ["closed" if s == "good" else "collections" for s in columns["status"]]
    stage[3] = "collections" if stage[3] == "closed" else "closed"  # one disagreement: not an exact leak
    proposal, _, config = _onboard(columns | {"account_stage": stage})
    assert "account_stage" in config.dataset.categorical_features
    assert any(w.startswith("account_stage: its values predict 'status'") for w in proposal.warnings)
