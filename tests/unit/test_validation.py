"""Unit tests of the Validate Data domain logic: a corpus of broken CSVs built from the real data."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governed_mlops.config import DatasetConfig, PipelineConfig, ValidationLimits, ValueRange
from governed_mlops.domain.validation import (
    DATASET_STATISTICS_KEY,
    MAX_TRACKED_DISTINCT,
    is_missing,
    raise_for_report,
    validate_dataset,
)
from governed_mlops.errors import DataValidationError
from governed_mlops.models import ObjectDigest, ValidationIssue, ValidationReport

Table = tuple[list[str], list[list[str]]]
DigestOf = Callable[[bytes], ObjectDigest]

TARGET = "creditability"


def to_csv(header: Sequence[str], rows: Sequence[Sequence[str]], *, delimiter: str = ",", newline: str = "\n") -> bytes:
    """Serialise a table as the csv module would write it (minimal quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def line_of(row_index: int) -> int:
    """File line of a data row: the header is line 1 and German credit has no multi-line fields."""
    return row_index + 2


def set_column(table: Table, column: str, values: Callable[[int, str], str]) -> Table:
    header, rows = table
    position = header.index(column)
    for index, row in enumerate(rows):
        row[position] = values(index, row[position])
    return header, rows


def drop_column(table: Table, column: str) -> Table:
    header, rows = table
    position = header.index(column)
    return [name for i, name in enumerate(header) if i != position], [
        [value for i, value in enumerate(row) if i != position] for row in rows
    ]


def issues_for(report: ValidationReport, check: str) -> list[ValidationIssue]:
    return [issue for issue in report.issues if issue.check == check]


# --------------------------------------------------------------------------------------------------
# The broken-CSV corpus: each case breaks the real file in one way and names the check that must fire.


@dataclass(frozen=True)
class Broken:
    build: Callable[[Table], bytes]
    check: str
    column: str | None


def _every_tenth(value: str) -> Callable[[int, str], str]:
    return lambda index, old: value if index % 10 == 0 else old


def _latin1(table: Table) -> bytes:
    header, rows = set_column(table, "purpose", lambda i, old: "Küche (München)" if i == 10 else old)
    return to_csv(header, rows).decode("utf-8").encode("latin-1")


def _nul_bytes(table: Table) -> bytes:
    data = to_csv(*table)
    return data[:5000] + b"\x00" + data[5000:]


def _no_header(table: Table) -> bytes:
    return to_csv(*table).split(b"\n", 1)[1]


def _trailing_comma(table: Table) -> bytes:
    header, rows = table
    return to_csv([*header, ""], [[*row, ""] for row in rows])


def _duplicate_header(table: Table) -> bytes:
    header, rows = table
    position = header.index("purpose")
    return to_csv([*header, "purpose"], [[*row, row[position]] for row in rows])


def _padded_name(table: Table) -> bytes:
    header, rows = table
    return to_csv([" age_in_years " if name == "age_in_years" else name for name in header], rows)


def _ragged(table: Table) -> bytes:
    header, rows = table
    for index in (3, 30, 300):
        rows[index].append("stray")
    return to_csv(header, rows)


def _unclosed_quote(table: Table) -> bytes:
    lines = to_csv(*table).split(b"\n")
    lines[501] = lines[501].replace(b",none,", b',"none,', 1)  # opens a quote that never closes
    return b"\n".join(lines)


def _duplicates(table: Table) -> bytes:
    header, rows = table
    return to_csv(header, rows + [list(row) for row in rows[:50]])


def _imbalanced(table: Table) -> bytes:
    header, rows = table
    position = header.index(TARGET)
    good = [row for row in rows if row[position] == "good"]
    bad = [row for row in rows if row[position] == "bad"][:20]
    return to_csv(header, good + bad)


def _too_few(table: Table) -> bytes:
    header, rows = table
    return to_csv(header, rows[:50])


def _copy_target(column: str, mapping: dict[str, str]) -> Callable[[Table], bytes]:
    def build(table: Table) -> bytes:
        header, rows = table
        target = header.index(TARGET)
        position = header.index(column)
        for row in rows:
            row[position] = mapping[row[target]]
        return to_csv(header, rows)

    return build


def _huge_field(length: int) -> Callable[[Table], bytes]:
    return lambda table: to_csv(*set_column(table, "purpose", lambda i, old: "x" * length if i == 3 else old))


def _set(column: str, values: Callable[[int, str], str]) -> Callable[[Table], bytes]:
    return lambda table: to_csv(*set_column(table, column, values))


def _drop(column: str) -> Callable[[Table], bytes]:
    return lambda table: to_csv(*drop_column(table, column))


_MISSING_SPELLINGS = ["", "NA", "NaN", "null", "N/A", " "]

BROKEN_CSVS: dict[str, Broken] = {
    "empty-file": Broken(lambda table: b"", "empty", None),
    "only-blank-lines": Broken(lambda table: b"\n\r\n\n", "empty", None),
    "header-only": Broken(lambda table: to_csv(table[0], []), "empty", None),
    "latin-1-encoded": Broken(_latin1, "encoding", None),
    "utf-16-encoded": Broken(lambda table: to_csv(*table).decode("utf-8").encode("utf-16"), "encoding", None),
    "nul-bytes": Broken(_nul_bytes, "encoding", None),
    "semicolon-delimiter": Broken(lambda table: to_csv(*table, delimiter=";"), "delimiter", None),
    "tab-delimiter": Broken(lambda table: to_csv(*table, delimiter="\t"), "delimiter", None),
    "no-header-row": Broken(_no_header, "header", None),
    "empty-column-name": Broken(_trailing_comma, "header", None),
    "duplicate-header": Broken(_duplicate_header, "duplicate_header", "purpose"),
    "missing-feature-column": Broken(_drop("purpose"), "missing_column", "purpose"),
    "padded-column-name": Broken(_padded_name, "missing_column", "age_in_years"),
    "missing-target-column": Broken(_drop(TARGET), "target_missing", TARGET),
    "non-binary-target": Broken(_set(TARGET, _every_tenth("unknown")), "target_not_binary", TARGET),
    "positive-label-absent": Broken(_set(TARGET, lambda i, old: old.capitalize()), "positive_label_absent", TARGET),
    "target-missing-values": Broken(
        _set(TARGET, lambda i, old: "" if i in {5, 6, 7} else old), "missing_values", TARGET
    ),
    "all-missing-column": Broken(
        _set("credit_amount", lambda i, old: _MISSING_SPELLINGS[i % len(_MISSING_SPELLINGS)]),
        "all_missing",
        "credit_amount",
    ),
    "too-many-missing": Broken(_set("age_in_years", _every_tenth("")), "missing_values", "age_in_years"),
    "constant-column": Broken(_set("housing", lambda i, old: "own"), "constant_column", "housing"),
    "huge-field": Broken(_huge_field(5_000), "field_length", "purpose"),
    "field-beyond-csv-reader-limit": Broken(_huge_field(200_000), "field_length", None),
    "word-in-numeric-column": Broken(
        _set("age_in_years", lambda i, old: "forty" if i == 56 else old), "type", "age_in_years"
    ),
    "infinity-in-numeric-column": Broken(
        _set("credit_amount", lambda i, old: "inf" if i == 9 else old), "type", "credit_amount"
    ),
    "underscore-number": Broken(
        _set("credit_amount", lambda i, old: "1_169" if i == 0 else old), "type", "credit_amount"
    ),
    "out-of-range": Broken(_set("age_in_years", lambda i, old: "150" if i == 2 else old), "range", "age_in_years"),
    "ragged-rows": Broken(_ragged, "ragged_rows", None),
    "unclosed-quote": Broken(_unclosed_quote, "ragged_rows", None),
    "duplicate-rows": Broken(_duplicates, "duplicate_rows", None),
    "class-imbalance": Broken(_imbalanced, "class_balance", TARGET),
    "too-few-rows": Broken(_too_few, "min_rows", None),
    "leak-identical-to-target": Broken(
        _copy_target("foreign_worker", {"good": "good", "bad": "bad"}), "leakage", "foreign_worker"
    ),
    "leak-relabelled-target": Broken(_copy_target("telephone", {"good": "yes", "bad": "none"}), "leakage", "telephone"),
}


@pytest.mark.parametrize("case", BROKEN_CSVS.values(), ids=BROKEN_CSVS.keys())
def test_broken_csv_fails_with_named_check(
    case: Broken, german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given the real file broken in one way
    data = case.build(german_credit_table)

    # When it is validated
    report = validate_dataset(data, german_credit_config, digest_of(data))

    # Then it fails, and an issue of the expected check names the expected column
    assert not report.passed
    found = [(issue.check, issue.column) for issue in report.issues]
    assert (case.check, case.column) in found, found


@pytest.mark.parametrize("case", BROKEN_CSVS.values(), ids=BROKEN_CSVS.keys())
def test_broken_csv_fails_the_stage_with_every_issue_in_the_error(
    case: Broken, german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = case.build(german_credit_table)
    report = validate_dataset(data, german_credit_config, digest_of(data))

    with pytest.raises(DataValidationError) as raised:
        raise_for_report(report)

    message = str(raised.value)
    assert message.startswith(f"{len(report.issues)} problem")
    assert all(f"[{issue.check}]" in message for issue in report.issues)


def test_corpus_covers_at_least_22_kinds_of_breakage() -> None:
    assert len(BROKEN_CSVS) >= 22
    assert len({case.check for case in BROKEN_CSVS.values()}) >= 20


# --------------------------------------------------------------------------------------------------
# Files that must pass


def test_clean_german_credit_passes_with_no_issues(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    report = validate_dataset(german_credit_bytes, german_credit_config, digest_of(german_credit_bytes))

    assert report.issues == []
    assert report.passed


def test_report_records_rows_columns_digest_and_config_hash(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    digest = digest_of(german_credit_bytes)

    report = validate_dataset(german_credit_bytes, german_credit_config, digest)

    assert (report.rows, len(report.columns), report.columns[-1]) == (1000, 21, TARGET)
    assert report.dataset == digest
    assert report.config_sha256 == german_credit_config.sha256()


def test_utf8_byte_order_mark_is_accepted(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = b"\xef\xbb\xbf" + german_credit_bytes

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues
    assert report.columns[0] == "status_of_existing_checking_account"


def test_crlf_line_endings_are_accepted(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = to_csv(*german_credit_table, newline="\r\n")

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues


def test_quoted_fields_with_commas_are_one_value(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given the real file, whose telephone column holds "yes, registered under the customers name"
    report = validate_dataset(german_credit_bytes, german_credit_config, digest_of(german_credit_bytes))

    # Then that quoted value is one category, not a split row
    top = json.loads(str(report.statistics["telephone"]["top_values"]))
    assert top == {"none": 596, "yes, registered under the customers name": 404}


def test_trailing_blank_lines_are_ignored(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = german_credit_bytes + b"\n\n"

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues
    assert report.statistics[DATASET_STATISTICS_KEY]["blank_lines"] == 2


def test_unexpected_column_is_allowed_and_listed_in_statistics(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    header, rows = german_credit_table
    data = to_csv([*header, "applicant_id"], [[*row, str(i)] for i, row in enumerate(rows)])

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues
    assert json.loads(str(report.statistics[DATASET_STATISTICS_KEY]["unexpected_columns"])) == ["applicant_id"]
    assert report.statistics["applicant_id"]["role"] == "unexpected"


def test_lowercase_none_is_a_category_not_a_missing_value(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    report = validate_dataset(german_credit_bytes, german_credit_config, digest_of(german_credit_bytes))

    assert report.statistics["other_debtors_or_guarantors"]["missing"] == 0


def test_missing_values_under_the_limit_pass(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given 2% of ages missing, under the 5% limit
    data = to_csv(*set_column(german_credit_table, "age_in_years", lambda i, old: "" if i % 50 == 0 else old))

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues
    assert report.statistics["age_in_years"]["missing"] == 20


def test_duplicate_rows_under_the_limit_pass(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    header, rows = german_credit_table
    data = to_csv(header, rows + [list(row) for row in rows[:5]])

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues
    assert report.statistics[DATASET_STATISTICS_KEY]["duplicate_rows"] == 5


# --------------------------------------------------------------------------------------------------
# What the issues say


def _validate_table(table: Table, config: PipelineConfig, digest_of: DigestOf) -> ValidationReport:
    data = to_csv(*table)
    return validate_dataset(data, config, digest_of(data))


def test_type_issue_names_line_and_value(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "age_in_years", lambda i, old: "forty" if i == 56 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "type")

    assert f"line {line_of(56)}: 'forty'" in issue.message
    assert "categorical_features" in issue.message  # says what to do


def test_type_issue_counts_every_bad_value_but_quotes_the_first_three(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "duration_in_month", lambda i, old: f"{old} months" if i < 6 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "type")

    assert "6 value(s)" in issue.message
    assert f"line {line_of(2)}" in issue.message
    assert f"line {line_of(3)}" not in issue.message


def test_range_issue_names_value_and_configured_range(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "age_in_years", lambda i, old: "150" if i == 2 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "range")

    assert "[18, 100]" in issue.message
    assert f"line {line_of(2)}: '150'" in issue.message


def test_range_issue_reports_values_below_the_minimum(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "duration_in_month", lambda i, old: "0" if i == 7 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "range")

    assert issue.column == "duration_in_month"


def test_huge_field_is_not_echoed_into_the_message(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "purpose", lambda i, old: "x" * 5_000 if i == 3 else old)

    report = _validate_table(table, german_credit_config, digest_of)

    assert all(len(issue.message) < 1_000 for issue in report.issues)


def test_field_length_issue_names_the_line(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "purpose", lambda i, old: "x" * 5_000 if i == 3 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "field_length")

    assert f"first at line {line_of(3)}" in issue.message


def test_ragged_rows_issue_lists_lines_and_field_counts(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _ragged(german_credit_table)

    (issue,) = issues_for(validate_dataset(data, german_credit_config, digest_of(data)), "ragged_rows")

    assert issue.message.startswith("3 row(s)")
    assert f"line {line_of(3)} has 22" in issue.message


def test_unclosed_quote_is_named_as_the_likely_cause(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _unclosed_quote(german_credit_table)

    (issue,) = issues_for(validate_dataset(data, german_credit_config, digest_of(data)), "ragged_rows")

    assert "unclosed quote" in issue.message
    assert f"line {line_of(500)} has 20" in issue.message  # where the broken record starts


def test_delimiter_issue_names_the_delimiter_found(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = to_csv(*german_credit_table, delimiter=";")

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert [issue.check for issue in report.issues] == ["delimiter"]
    assert "semicolon" in report.issues[0].message


def test_encoding_issue_names_offset_and_line(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _latin1(german_credit_table)

    (issue,) = validate_dataset(data, german_credit_config, digest_of(data)).issues

    assert f"(line {line_of(10)})" in issue.message
    assert "0xFC" in issue.message  # 'ü' in Latin-1


def test_padded_column_name_issue_points_at_the_near_match(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _padded_name(german_credit_table)

    (issue,) = issues_for(validate_dataset(data, german_credit_config, digest_of(data)), "missing_column")

    assert "' age_in_years '" in issue.message


def test_target_not_binary_lists_the_values_with_counts(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, TARGET, _every_tenth("unknown"))

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "target_not_binary")

    assert "'unknown' (100)" in issue.message


def test_missing_target_values_are_an_issue_even_below_the_missing_limit(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given a single unlabelled row (0.1%, far under max_missing_fraction)
    table = set_column(german_credit_table, TARGET, lambda i, old: "NA" if i == 9 else old)

    (issue,) = issues_for(_validate_table(table, german_credit_config, digest_of), "missing_values")

    assert issue.column == TARGET
    assert f"line {line_of(9)}" in issue.message


def test_class_balance_issue_names_the_minority_class(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _imbalanced(german_credit_table)

    (issue,) = issues_for(validate_dataset(data, german_credit_config, digest_of(data)), "class_balance")

    assert "'bad'" in issue.message
    assert "20 of 720" in issue.message


def test_leakage_issue_shows_the_relabelling(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = _copy_target("telephone", {"good": "yes", "bad": "none"})(german_credit_table)

    (issue,) = issues_for(validate_dataset(data, german_credit_config, digest_of(data)), "leakage")

    assert "'none' = 'bad'" in issue.message
    assert "'yes' = 'good'" in issue.message


def test_feature_that_only_mostly_matches_the_target_is_not_leakage(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given telephone equal to a relabelled target except in one row
    header, rows = german_credit_table
    target, phone = header.index(TARGET), header.index("telephone")
    for index, row in enumerate(rows):
        relabelled = "yes" if row[target] == "good" else "none"
        row[phone] = relabelled if index != 500 else {"yes": "none", "none": "yes"}[relabelled]

    report = _validate_table((header, rows), german_credit_config, digest_of)

    assert issues_for(report, "leakage") == []


def test_all_missing_column_is_not_also_reported_as_missing_values(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    table = set_column(german_credit_table, "credit_amount", lambda i, old: "")

    report = _validate_table(table, german_credit_config, digest_of)

    assert [issue.check for issue in report.issues if issue.column == "credit_amount"] == ["all_missing"]


def test_every_issue_message_is_a_sentence_with_advice(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given a file broken in many ways at once
    table = set_column(german_credit_table, "age_in_years", lambda i, old: "old" if i == 1 else old)
    table = set_column(table, "housing", lambda i, old: "own")
    table = set_column(table, "duration_in_month", lambda i, old: "999" if i == 4 else old)

    report = _validate_table(table, german_credit_config, digest_of)

    # Then each issue is explained in full sentences, not a code
    assert len(report.issues) == 3
    assert all(issue.message.endswith(".") and len(issue.message.split()) >= 10 for issue in report.issues)


# --------------------------------------------------------------------------------------------------
# Statistics


def test_numeric_statistics_match_the_data(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    header, rows = german_credit_table
    ages = [float(row[header.index("age_in_years")]) for row in rows]

    stats = _validate_table(german_credit_table, german_credit_config, digest_of).statistics["age_in_years"]

    assert (stats["type"], stats["min"], stats["max"]) == ("numeric", min(ages), max(ages))
    assert stats["mean"] == pytest.approx(statistics.fmean(ages))
    assert (stats["missing"], stats["distinct"]) == (0, len(set(ages)))


def test_categorical_statistics_list_top_values(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    report = validate_dataset(german_credit_bytes, german_credit_config, digest_of(german_credit_bytes))

    stats = report.statistics[TARGET]

    assert (stats["role"], stats["type"], stats["distinct"]) == ("target", "categorical", 2)
    assert json.loads(str(stats["top_values"])) == {"good": 700, "bad": 300}


def _synthetic_config(*, max_duplicate_fraction: float = 0.01) -> PipelineConfig:
    dataset = DatasetConfig(
        name="synthetic",
        target="y",
        positive_label="yes",
        numeric_features=["x"],
        categorical_features=["c"],
        ranges={"x": ValueRange(min=0)},
    )
    limits = ValidationLimits(min_rows=10, max_duplicate_fraction=max_duplicate_fraction)
    return PipelineConfig(dataset=dataset, validation=limits)


def test_statistics_stay_exact_beyond_the_distinct_value_cap(digest_of: DigestOf) -> None:
    # Given more distinct numbers than are tracked, with bad values only after the cap
    count = MAX_TRACKED_DISTINCT + 500
    rows = [[str(i), "abc"[i % 3], "yes" if i % 2 else "no"] for i in range(count)]
    rows[-1][0], rows[-2][0] = "-5", "oops"
    data = to_csv(["x", "c", "y"], rows)

    report = validate_dataset(data, _synthetic_config(max_duplicate_fraction=1.0), digest_of(data))

    stats = report.statistics["x"]
    assert (stats["distinct_capped"], stats["non_numeric"], stats["out_of_range"]) == (1, 1, 1)
    assert (stats["min"], stats["max"]) == (-5.0, float(count - 3))
    assert {issue.check for issue in report.issues} == {"type", "range"}


# --------------------------------------------------------------------------------------------------
# raise_for_report and robustness


def test_raise_for_report_is_silent_for_a_passed_report(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    report = validate_dataset(german_credit_bytes, german_credit_config, digest_of(german_credit_bytes))

    raise_for_report(report)  # does not raise


def test_raise_for_report_message_lists_every_issue_in_order(digest_of: DigestOf) -> None:
    report = ValidationReport(
        dataset=digest_of(b""),
        config_sha256="0" * 64,
        passed=False,
        rows=0,
        columns=[],
        issues=[
            ValidationIssue(check="range", column="age", message="Too old."),
            ValidationIssue(check="min_rows", message="Too few rows."),
        ],
    )

    with pytest.raises(
        DataValidationError, match=r"^2 problems: \[range\] age: Too old\.; \[min_rows\] Too few rows\.$"
    ):
        raise_for_report(report)


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        ("", True),
        ("  ", True),
        ("NA", True),
        ("NaN", True),
        ("null", True),
        ("None", True),
        ("none", False),
        ("0", False),
    ],
)
def test_is_missing_follows_pandas_default_tokens(value: str, *, missing: bool) -> None:
    assert is_missing(value) is missing


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2_000))
def test_arbitrary_bytes_never_raise(data: bytes, digest_of: DigestOf) -> None:
    report = validate_dataset(data, _synthetic_config(), digest_of(data))

    assert report.passed is (not report.issues)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet='xcy,;"\n\r\t 01-.naNAyes', max_size=400))
def test_arbitrary_csv_like_text_never_raises(text: str, digest_of: DigestOf) -> None:
    data = text.encode("utf-8")

    report = validate_dataset(data, _synthetic_config(), digest_of(data))

    assert report.passed is (not report.issues)
