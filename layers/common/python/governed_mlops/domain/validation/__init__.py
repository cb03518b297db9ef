"""Validate a tabular CSV dataset against the pipeline configuration ("Validate Data" stage).

Pure: standard library only, no I/O. The whole file is checked in one streaming pass and every
problem found becomes one :class:`ValidationIssue` whose message says what is wrong, where, and
what to do about it; bad data never raises. :func:`raise_for_report` turns a failed report into
one :class:`DataValidationError` listing every issue, so the Step Functions cause shows them all.

Memory stays bounded on large files: rows are decoded and parsed as a stream, each column keeps
counts for at most :data:`MAX_TRACKED_DISTINCT` distinct values (later new values are folded into
running totals, so counts, sums and extremes stay exact), and duplicate detection keeps one hash
per row rather than the row.

Check names (``ValidationIssue.check``): encoding, empty, header, delimiter, duplicate_header,
missing_column, target_missing, csv_syntax, ragged_rows, field_length, min_rows, type,
missing_values, all_missing, constant_column, range, target_not_binary, positive_label_absent,
class_balance, leakage, duplicate_rows.

One module per job: :mod:`.values` (what counts as missing, as a number, and how much may miss),
:mod:`.scan` (the streaming pass, :func:`validate_dataset`, :func:`raise_for_report`),
:mod:`.profiles` (per-column counts and row-level trackers), :mod:`.checks` (the issues drawn from
them) and :mod:`.messages` (how issues quote values). This package re-exports the public names its
callers import from ``governed_mlops.domain.validation``.
"""

from governed_mlops.domain.validation.profiles import MAX_TRACKED_DISTINCT
from governed_mlops.domain.validation.scan import DATASET_STATISTICS_KEY, raise_for_report, validate_dataset
from governed_mlops.domain.validation.values import MISSING_TOKENS, is_missing, missing_limit, parse_number

__all__ = [
    "DATASET_STATISTICS_KEY",
    "MAX_TRACKED_DISTINCT",
    "MISSING_TOKENS",
    "is_missing",
    "missing_limit",
    "parse_number",
    "raise_for_report",
    "validate_dataset",
]
