"""Unit tests of the Prepare Data split: deterministic, stratified, a partition of the rows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governed_mlops.config import DatasetConfig, PipelineConfig, SplitConfig
from governed_mlops.domain.split import SplitResult, holdout_rows_for_class, split_dataset
from governed_mlops.domain.validation import is_missing
from governed_mlops.errors import DataValidationError

Table = tuple[list[str], list[list[str]]]
TARGET = "creditability"


def to_csv(header: Sequence[str], rows: Sequence[Sequence[str]], *, newline: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def parse(data: bytes) -> Table:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def label_counts(data: bytes) -> Counter[str]:
    header, rows = parse(data)
    return Counter(row[header.index(TARGET)] for row in rows)


# --------------------------------------------------------------------------------------------------
# The German credit split


def test_german_credit_splits_three_to_one(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    result = split_dataset(german_credit_bytes, german_credit_config)

    assert (result.train_rows, result.test_rows) == (750, 250)


def test_german_credit_test_set_keeps_the_class_ratio(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    # Given 700 good and 300 bad rows and a test fraction of 0.25
    result = split_dataset(german_credit_bytes, german_credit_config)

    # Then a quarter of each class is held out
    assert label_counts(result.test_csv) == {"good": 175, "bad": 75}
    assert label_counts(result.train_csv) == {"good": 525, "bad": 225}


def test_output_columns_are_features_in_config_order_then_target(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    result = split_dataset(german_credit_bytes, german_credit_config)

    expected = [*german_credit_config.dataset.features, TARGET]
    assert parse(result.train_csv)[0] == expected
    assert parse(result.test_csv)[0] == expected


def test_row_counts_match_the_files(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    result = split_dataset(german_credit_bytes, german_credit_config)

    assert len(parse(result.train_csv)[1]) == result.train_rows
    assert len(parse(result.test_csv)[1]) == result.test_rows


def test_output_uses_lf_line_endings_and_ends_with_a_newline(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    result = split_dataset(german_credit_bytes, german_credit_config)

    assert b"\r" not in result.train_csv + result.test_csv
    assert result.train_csv.endswith(b"\n")
    assert result.test_csv.endswith(b"\n")


def test_quoted_values_with_commas_survive_the_split(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    result = split_dataset(german_credit_bytes, german_credit_config)

    header, rows = parse(result.train_csv)
    phones = {row[header.index("telephone")] for row in rows}
    assert phones == {"none", "yes, registered under the customers name"}


def test_rows_keep_their_input_order(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    _, original = parse(split_dataset(german_credit_bytes, german_credit_config).train_csv)
    source_header, source_rows = parse(german_credit_bytes)
    columns = [*german_credit_config.dataset.features, TARGET]
    projected = [[row[source_header.index(name)] for name in columns] for row in source_rows]

    # Then the train rows appear in the same relative order as in the input
    positions = iter(range(len(projected)))
    assert all(any(projected[i] == row for i in positions) for row in original)


# --------------------------------------------------------------------------------------------------
# Determinism


def test_identical_input_gives_byte_identical_output(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    first = split_dataset(german_credit_bytes, german_credit_config)
    second = split_dataset(bytes(german_credit_bytes), german_credit_config)

    assert first == second


def test_crlf_and_bom_in_the_input_do_not_change_the_output(
    german_credit_table: Table, german_credit_bytes: bytes, german_credit_config: PipelineConfig
) -> None:
    windows_style = b"\xef\xbb\xbf" + to_csv(*german_credit_table, newline="\r\n")

    assert split_dataset(windows_style, german_credit_config) == split_dataset(
        german_credit_bytes, german_credit_config
    )


def test_another_seed_gives_another_split(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    reseeded = german_credit_config.model_copy(update={"split": SplitConfig(test_fraction=0.25, seed=1)})

    first = split_dataset(german_credit_bytes, german_credit_config)
    second = split_dataset(german_credit_bytes, reseeded)

    assert first.test_csv != second.test_csv
    assert (first.train_rows, first.test_rows) == (second.train_rows, second.test_rows)


# --------------------------------------------------------------------------------------------------
# What goes into the files


def test_unconfigured_columns_are_dropped(german_credit_table: Table, german_credit_config: PipelineConfig) -> None:
    header, rows = german_credit_table
    data = to_csv(["applicant_id", *header], [[str(i), *row] for i, row in enumerate(rows)])

    result = split_dataset(data, german_credit_config)

    assert "applicant_id" not in parse(result.train_csv)[0]


def test_missing_value_spellings_are_written_as_empty_fields(
    german_credit_table: Table, german_credit_config: PipelineConfig
) -> None:
    header, rows = german_credit_table
    age = header.index("age_in_years")
    for index, spelling in enumerate(["NA", "NaN", "null", " "]):
        rows[index][age] = spelling

    result = split_dataset(to_csv(header, rows), german_credit_config)

    out_header, out_rows = parse(result.train_csv + result.test_csv.split(b"\n", 1)[1])
    ages = Counter(row[out_header.index("age_in_years")] for row in out_rows)
    assert ages[""] == 4
    assert not {"NA", "NaN", "null", " "} & set(ages)


def test_blank_lines_are_skipped(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    result = split_dataset(german_credit_bytes + b"\n\n", german_credit_config)

    assert result.train_rows + result.test_rows == 1000


# --------------------------------------------------------------------------------------------------
# Guards: data Validate Data would have refused


def test_missing_configured_column_is_refused(german_credit_table: Table, german_credit_config: PipelineConfig) -> None:
    header, rows = german_credit_table
    data = to_csv([name if name != "purpose" else "reason" for name in header], rows)

    with pytest.raises(DataValidationError, match="purpose"):
        split_dataset(data, german_credit_config)


def test_ragged_row_is_refused(german_credit_table: Table, german_credit_config: PipelineConfig) -> None:
    header, rows = german_credit_table
    rows[3].append("stray")

    with pytest.raises(DataValidationError, match="line 5 has 22 fields"):
        split_dataset(to_csv(header, rows), german_credit_config)


def test_missing_target_is_refused(german_credit_table: Table, german_credit_config: PipelineConfig) -> None:
    header, rows = german_credit_table
    rows[7][header.index(TARGET)] = "NA"

    with pytest.raises(DataValidationError, match="target 'creditability' is missing at line 9"):
        split_dataset(to_csv(header, rows), german_credit_config)


@pytest.mark.parametrize("data", [b"", b"\n\n"], ids=["empty", "blank-lines"])
def test_empty_file_is_refused(data: bytes, german_credit_config: PipelineConfig) -> None:
    with pytest.raises(DataValidationError, match="empty"):
        split_dataset(data, german_credit_config)


def test_non_utf8_file_is_refused(german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> None:
    with pytest.raises(DataValidationError, match="not UTF-8"):
        split_dataset(german_credit_bytes + "Küche,1\n".encode("latin-1"), german_credit_config)


# --------------------------------------------------------------------------------------------------
# Rounding per class


@pytest.mark.parametrize(
    ("class_rows", "fraction", "expected"),
    [
        (700, 0.25, 175),
        (300, 0.25, 75),
        (10, 0.25, 3),  # 2.5 rounds half up, not to even
        (14, 0.25, 4),  # 3.5 rounds half up
        (1, 0.25, 0),  # a single row stays in train
        (2, 0.1, 1),  # each side keeps at least one row
        (5, 0.9, 4),
        (0, 0.25, 0),
    ],
)
def test_holdout_rows_per_class(class_rows: int, fraction: float, expected: int) -> None:
    assert holdout_rows_for_class(class_rows, fraction) == expected


# --------------------------------------------------------------------------------------------------
# Properties over generated datasets


def _config(test_fraction: float, seed: int) -> PipelineConfig:
    dataset = DatasetConfig(
        name="generated",
        target="label",
        positive_label="yes",
        numeric_features=["x"],
        categorical_features=["c"],
    )
    return PipelineConfig(dataset=dataset, split=SplitConfig(test_fraction=test_fraction, seed=seed))


_values = st.text(alphabet='ab ,"\né', min_size=1, max_size=6).filter(lambda value: not is_missing(value))
_rows = st.lists(
    st.tuples(st.integers(-50, 50).map(str), _values, st.sampled_from(["yes", "no", "maybe"])),
    min_size=1,
    max_size=120,
)
_fractions = st.floats(min_value=0.05, max_value=0.95)
_seeds = st.integers(min_value=0, max_value=2**32)


def _split(rows: list[tuple[str, str, str]], fraction: float, seed: int) -> tuple[Counter[str], SplitResult]:
    data = to_csv(["x", "c", "label"], rows)
    return Counter(label for _, _, label in rows), split_dataset(data, _config(fraction, seed))


@settings(max_examples=200, deadline=None)
@given(rows=_rows, fraction=_fractions, seed=_seeds)
def test_split_is_a_partition_of_the_rows(rows: list[tuple[str, str, str]], fraction: float, seed: int) -> None:
    _, result = _split(rows, fraction, seed)

    train, test = parse(result.train_csv)[1], parse(result.test_csv)[1]
    assert Counter(map(tuple, train)) + Counter(map(tuple, test)) == Counter(rows)
    assert (result.train_rows, result.test_rows) == (len(train), len(test))


@settings(max_examples=200, deadline=None)
@given(rows=_rows, fraction=_fractions, seed=_seeds)
def test_split_is_deterministic(rows: list[tuple[str, str, str]], fraction: float, seed: int) -> None:
    _, first = _split(rows, fraction, seed)
    _, second = _split(list(rows), fraction, seed)

    assert first == second


@settings(max_examples=200, deadline=None)
@given(rows=_rows, fraction=_fractions, seed=_seeds)
def test_split_is_stratified_within_one_row_per_class(
    rows: list[tuple[str, str, str]], fraction: float, seed: int
) -> None:
    classes, result = _split(rows, fraction, seed)

    held_out = Counter(row[-1] for row in parse(result.test_csv)[1])
    for label, count in classes.items():
        assert abs(held_out[label] - count * fraction) <= 1, (label, count, held_out[label])
