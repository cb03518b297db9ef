"""The checks after the scan: rows, each column, the target, leakage and duplicates, each adding its issues.

Every message says what is wrong, where, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.validation.messages import Findings, examples, join, range_text, shorten
from governed_mlops.domain.validation.profiles import BINARY, ColumnProfile, Profiles
from governed_mlops.domain.validation.values import missing_limit

__all__ = ["check_column", "check_duplicates", "check_leakage", "check_missing", "check_rows", "check_target"]


def check_rows(
    findings: Findings, config: PipelineConfig, header: Sequence[str], rows: int, profiles: Profiles
) -> None:
    """Ragged rows, too few rows and over-long fields."""
    limits = config.validation
    ragged = profiles.ragged
    if ragged.count:
        width = len(header)
        shown = join(f"line {line} has {fields}" for line, fields in ragged.examples)
        unclosed = ragged.flagged
        hint = " A field spans several lines, which suggests an unclosed quote." if unclosed else ""
        findings.add(
            "ragged_rows",
            f"{ragged.count} row(s) have a different number of fields from "
            f"the header ({width}): {shown}.{hint} Quote fields that contain commas and remove stray "
            "delimiters; these rows were left out of all other checks.",
        )
    if rows == 0:
        findings.add("empty", "The file has a header row but no data rows. Upload the full export.")
    elif rows < limits.min_rows:
        findings.add(
            "min_rows",
            f"The file has only {rows} data row(s); at least {limits.min_rows} are "
            "required (validation.min_rows). Upload the full dataset.",
        )
    for profile in profiles.slots:
        long_fields = profile.long_fields
        if long_fields.count:
            findings.add(
                "field_length",
                f"{long_fields.count} value(s) are longer than "
                f"{limits.max_field_length} characters (validation.max_field_length); the longest has "
                f"{long_fields.largest}, first at line {long_fields.examples[0][0]}. This usually means a broken "
                "export (e.g. an unclosed quote); fix the source or raise the limit.",
                profile.name,
            )


def check_column(findings: Findings, config: PipelineConfig, profile: ColumnProfile) -> None:
    """One finished column: all missing, missing values, constant, non-numeric or out-of-range values."""
    if profile.role == "unexpected" or profile.rows == 0:
        return
    name, tally = profile.name, profile.tally
    if tally.missing == profile.rows:
        findings.add(
            "all_missing",
            "Every value is missing (empty, NA, NaN, null, ...). Check the export, or "
            "remove the column from the configuration.",
            name,
        )
        return
    if profile.role == "target":
        if tally.missing:
            findings.add(
                "missing_values",
                f"The target is missing in {tally.missing} row(s), first at "
                f"{examples(tally.missing_examples)}. Every row needs a label: fill them in or "
                "drop those rows.",
                name,
            )
        return
    check_missing(findings, config, profile)
    if profile.distinct == 1 and not profile.capped:
        findings.add(
            "constant_column",
            f"Every row has the same value {shorten(profile.only_value())}, so the "
            "column carries no information. Check the export, or remove the column from the "
            "configuration.",
            name,
        )
    if profile.numeric:
        if tally.non_numeric:
            findings.add(
                "type",
                f"The column is declared numeric but {tally.non_numeric} value(s) are not "
                f"finite numbers: {examples(tally.non_numeric_examples)}. Correct these values, or "
                "declare the column in dataset.categorical_features.",
                name,
            )
        if tally.out_of_range:
            findings.add(
                "range",
                f"{tally.out_of_range} value(s) are outside the configured range "
                f"{range_text(profile.value_range)}: {examples(tally.out_of_range_examples)}. "
                f"Correct the values, or widen dataset.ranges.{name} if they are genuine.",
                name,
            )


def check_missing(findings: Findings, config: PipelineConfig, feature: ColumnProfile) -> None:
    """A feature's missing values against its missing-value policy and limit."""
    name, tally, dataset = feature.name, feature.tally, config.dataset
    if not tally.missing:
        return
    policy = dataset.missing_policy(name)
    if policy == "reject":
        findings.add(
            "missing_values",
            f"Column {name!r} has missing-value policy reject (dataset.missing.{name}.policy), but "
            f"{tally.missing} row(s) miss a value, first at {examples(tally.missing_examples)}. Every "
            "row needs a value: fill them in at the source, drop those rows, or choose another policy.",
            name,
        )
        return
    limit = missing_limit(config, name)
    fraction = tally.missing / feature.rows
    if fraction > limit:
        entry = dataset.missing.get(name)
        source = (
            f"dataset.missing.{name}.max_fraction"
            if entry is not None and entry.max_fraction is not None
            else "validation.max_missing_fraction"
        )
        findings.add(
            "missing_values",
            f"{fraction:.1%} of the values ({tally.missing} of {feature.rows}) are "
            f"missing, above the limit of {limit:.1%} ({source}) for missing-value policy {policy}; "
            f"first at {examples(tally.missing_examples)}. Fill the gaps at the source, raise the "
            "limit knowingly, or remove the column from the configuration.",
            name,
        )


def check_target(findings: Findings, config: PipelineConfig, profiles: Profiles) -> None:
    """The target: exactly two labels, the positive label present, the minority class large enough."""
    target, dataset = profiles.target, config.dataset
    if target is None or target.rows in (0, target.tally.missing):
        return
    labels = target.label_counts()
    shown = join(f"{shorten(label)} ({count})" for label, count in labels[:10])
    if len(labels) != BINARY or target.capped:
        findings.add(
            "target_not_binary",
            f"The target must have exactly 2 distinct values but has "
            f"{len(labels)}{' or more' if target.capped else ''}: {shown}. Fix or remove the rows "
            "with other values, or choose a binary target.",
            target.name,
        )
    # Past the distinct cap the label may sit among the untracked values; not binary is reported already.
    if dataset.positive_label not in dict(labels) and not target.capped:
        findings.add(
            "positive_label_absent",
            f"The positive label {dataset.positive_label!r} "
            f"(dataset.positive_label) never occurs in the target, whose values are {shown}. Fix the "
            "labels in the data or dataset.positive_label in the configuration.",
            target.name,
        )
    if len(labels) == BINARY and not target.capped:
        labelled = sum(count for _, count in labels)
        minority, minority_count = labels[-1]
        fraction = minority_count / labelled
        if fraction < config.validation.min_minority_fraction:
            findings.add(
                "class_balance",
                f"The minority class {shorten(minority)} is only {fraction:.1%} of "
                f"the labelled rows ({minority_count} of {labelled}), below the limit of "
                f"{config.validation.min_minority_fraction:.1%} (validation.min_minority_fraction). "
                "Add examples of the minority class or lower the limit knowingly.",
                target.name,
            )


def check_leakage(findings: Findings, profiles: Profiles) -> None:
    """Features that are the target or a one-to-one relabelling of it."""
    if profiles.leakage is None or profiles.target is None:
        return
    target_name = profiles.target.name
    for name, mapping in profiles.leakage.bijections():
        if all(value == label for value, label in mapping):
            relation = f"is identical to the target {target_name!r}"
        else:
            pairs = join(f"{shorten(value)} = {shorten(label)}" for value, label in mapping)
            relation = f"is a one-to-one relabelling of the target {target_name!r} ({pairs})"
        findings.add(
            "leakage",
            f"The feature {relation}, so it gives the answer away and the model would be useless in "
            "production. Remove it from the features (or from the data).",
            name,
        )


def check_duplicates(findings: Findings, config: PipelineConfig, rows: int, profiles: Profiles) -> None:
    """Rows repeating an earlier row in every feature and the target, above the configured share."""
    duplicates = profiles.duplicates
    parsed = rows - profiles.ragged.count
    if duplicates is None or parsed == 0 or not duplicates.count:
        return
    limit = config.validation.max_duplicate_fraction
    fraction = duplicates.count / parsed
    if fraction > limit:
        findings.add(
            "duplicate_rows",
            f"{duplicates.count} row(s) ({fraction:.1%}) repeat an earlier row in "
            f"every feature and the target (first at line {duplicates.first_line}), above the limit "
            f"of {limit:.1%} (validation.max_duplicate_fraction). Remove the duplicated records; "
            "they inflate hold-out metrics when copies land in both train and test.",
        )
