"""A dataset whose fields are separated by semicolons, tabs or pipes, configured as ``dataset.delimiter``.

UCI's Bank Marketing files (and many European spreadsheet exports) separate fields with semicolons; before,
``mlops models add`` refused them ("export with commas"). Now onboarding detects the separator and writes
it into the configuration; Validate Data and Prepare Data read the upload with it, and the prepared splits
the jobs read stay comma-separated, so nothing downstream changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date

import pytest
from pydantic import ValidationError

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.split import split_dataset
from governed_mlops.domain.validation import validate_dataset
from governed_mlops.models import ObjectDigest
from governed_mlops_local.onboarding import onboard, read_table
from governed_mlops_local.onboarding.errors import UnreadableDataError
from tests.unit.test_onboarding import _base
from tests.unit.test_validation import Table, to_csv

DigestOf = Callable[[bytes], ObjectDigest]


def _with(config: PipelineConfig, delimiter: str) -> PipelineConfig:
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["dataset"]["delimiter"] = delimiter
    return PipelineConfig.model_validate(raw)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_onboarding_detects_the_separator_and_writes_it(delimiter: str):
    columns = _base()
    data = to_csv(list(columns), [list(row) for row in zip(*columns.values(), strict=True)], delimiter=delimiter)
    assert read_table(data, "loans.csv").delimiter == delimiter
    _, text, config = onboard(
        data,
        source="loans.csv",
        name="loans",
        target="status",
        positive_label="good",
        generated_on=date(2026, 12, 5),
        command="mlops models add loans",
    )
    assert config.dataset.delimiter == delimiter
    assert "separates its fields with" in text


def test_a_header_with_two_candidate_separators_is_refused_with_both_named():
    with pytest.raises(UnreadableDataError, match="separated by semicolons and pipes: export with commas"):
        read_table(b"a;b|c\n1;2|3\n", "odd.csv")


def test_only_the_four_separators_are_accepted():
    dataset = {"name": "x", "target": "y", "positive_label": "1", "numeric_features": ["a"], "delimiter": ":"}
    with pytest.raises(ValidationError, match="delimiter"):
        PipelineConfig.model_validate({"dataset": dataset})


def test_validate_data_reads_a_semicolon_file_with_a_semicolon_configuration(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
):
    data = to_csv(*german_credit_table, delimiter=";")
    report = validate_dataset(data, _with(german_credit_config, ";"), digest_of(data))
    assert report.passed, report.issues
    assert report.rows == len(german_credit_table[1])


def test_a_comma_configuration_on_a_semicolon_file_says_how_to_configure_it(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
):
    data = to_csv(*german_credit_table, delimiter=";")
    (issue,) = validate_dataset(data, german_credit_config, digest_of(data)).issues
    assert issue.check == "delimiter"
    assert "set dataset.delimiter: ';'" in issue.message


def test_a_semicolon_configuration_on_a_comma_file_is_refused_too(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
):
    data = to_csv(*german_credit_table)
    (issue,) = validate_dataset(data, _with(german_credit_config, ";"), digest_of(data)).issues
    assert issue.check == "delimiter"
    assert "not separated by ';' (semicolon)" in issue.message


def test_the_splits_of_a_semicolon_file_equal_those_of_the_comma_file(
    german_credit_table: Table, german_credit_config: PipelineConfig
):
    comma = split_dataset(to_csv(*german_credit_table), german_credit_config)
    semicolon = split_dataset(to_csv(*german_credit_table, delimiter=";"), _with(german_credit_config, ";"))
    assert semicolon.train_csv == comma.train_csv
    assert semicolon.test_csv == comma.test_csv
    header = next(csv.reader(io.StringIO(semicolon.train_csv.decode())))
    assert len(header) > 1  # the jobs read comma-separated splits


# -- padding after the separator (UCI Adult: "39, State-gov, 77516, ...") ------------------------------------


def _padded(table: Table) -> bytes:
    header, rows = table
    lines = [",".join(header), *(", ".join(map(_quoted, row)) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if "," in value or '"' in value else value


def _skipping(config: PipelineConfig) -> PipelineConfig:
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["dataset"]["skip_initial_space"] = True
    return PipelineConfig.model_validate(raw)


def test_onboarding_reads_padded_values_without_their_space():
    data = b"amount,purpose,status\n" + b"".join(
        b"%d, car loan, %s\n" % (i, b"good" if i % 3 else b"bad") for i in range(60)
    )
    table = read_table(data, "adult.csv")
    assert table.skip_initial_space
    assert set(table.frame["status"]) == {"good", "bad"}
    assert set(table.frame["purpose"]) == {"car loan"}  # only the padding goes; inner spaces stay


def test_a_few_values_that_start_with_a_space_are_data_not_padding():
    rows = [f"{i},{' x' if i % 2 else 'y'},{'good' if i % 3 else 'bad'}" for i in range(60)]
    table = read_table(("a,b,status\n" + "\n".join(rows) + "\n").encode(), "loans.csv")
    assert not table.skip_initial_space
    assert " x" in set(table.frame["b"])


def test_validate_and_split_read_a_padded_file_as_the_plain_one(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
):
    padded = _padded(german_credit_table)
    config = _skipping(german_credit_config)
    assert validate_dataset(padded, config, digest_of(padded)).passed
    plain = split_dataset(to_csv(*german_credit_table), german_credit_config)
    assert split_dataset(padded, config).train_csv == plain.train_csv
    # Without the setting the padding is part of every value, and Validate Data says which values are off
    assert not validate_dataset(padded, german_credit_config, digest_of(padded)).passed
