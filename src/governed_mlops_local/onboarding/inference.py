"""Inference: from a :class:`~governed_mlops_local.onboarding.table.Table` to a
:class:`~governed_mlops_local.onboarding.proposal.Proposal` (the target checked, every column decided,
validation limits, the canary band and the bias facets with their limits)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import pandas as pd

from governed_mlops.config import RiskTier
from governed_mlops.domain.validation import parse_number
from governed_mlops_local.onboarding.columns import ColumnProfile, decide
from governed_mlops_local.onboarding.errors import (
    NoUsableFeaturesError,
    PositiveLabelNotFoundError,
    TargetColumnNotFoundError,
    TargetMissingValuesError,
    TargetNotBinaryError,
    TooFewRowsError,
)
from governed_mlops_local.onboarding.facets import choose_bias_limits, facet_for
from governed_mlops_local.onboarding.proposal import DroppedColumn, Feature, Limit, Proposal
from governed_mlops_local.onboarding.rounding import round_down, round_down_significant, round_up
from governed_mlops_local.onboarding.rules import (
    CANARY_BAND,
    FEW_LEVELS,
    FEW_MINORITY_ROWS,
    MIN_MINORITY_ROWS,
    NEAR_LEAK_AGREEMENT,
    TEST_FRACTION,
)
from governed_mlops_local.onboarding.table import Table, missing_mask
from governed_mlops_local.onboarding.wording import counts_text, pct

#: Two values: a binary target.
_BINARY = 2
#: A share of missing or duplicate rows worth a warning.
_NOTABLE_SHARE = 0.05
#: The pipeline's default limit on the missing-value share.
_DEFAULT_MISSING_LIMIT = 0.01


def infer(
    table: Table,
    *,
    name: str,
    target: str,
    positive_label: str,
    risk_tier: RiskTier = "high",
    attribution: str = "",
) -> Proposal:
    """Infer features, missing-value policies, ranges, validation limits and bias facets from ``table``.

    Raises:
        TargetColumnNotFoundError, TargetMissingValuesError, TargetNotBinaryError,
        PositiveLabelNotFoundError, TooFewRowsError, NoUsableFeaturesError: with a message naming
            the columns, values or counts involved.
    """
    frame = table.frame
    labels = _check_target(table, target, positive_label)
    negative_label = next(label for label in labels if label != positive_label)
    proposal = Proposal(
        name=name,
        dataset_name=_dataset_name(table.source, name),
        source=table.source,
        sha256=table.sha256,
        rows=table.rows,
        columns=len(table.header),
        target=target,
        positive_label=positive_label,
        negative_label=negative_label,
        label_counts=labels,
        risk_tier=risk_tier,
        attribution=attribution,
        delimiter=table.delimiter,
        skip_initial_space=table.skip_initial_space,
    )
    positive = (frame[target] == positive_label).to_numpy(dtype=bool)
    target_values = frame[target]
    for column in table.header:
        if column == target:
            continue
        profile = ColumnProfile.of(column, frame[column])
        decision = decide(profile, target_values, proposal)
        if isinstance(decision, Feature):
            proposal.features.append(decision)
        else:
            proposal.dropped.append(decision)
        if isinstance(decision, DroppedColumn) and decision.protected:
            facet = facet_for(profile, decision.protected, positive, proposal)
            if facet is not None:
                proposal.facets.append(facet)
    if not proposal.features:
        reasons = "; ".join(f"{d.name}: {d.why}" for d in proposal.dropped)
        raise NoUsableFeaturesError(f"{table.source}: no column is usable as a feature ({reasons})")
    _choose_limits(frame, proposal)
    _choose_canary(proposal)
    choose_bias_limits(proposal)
    if not proposal.facets:
        proposal.notes.append(
            "no protected attribute (age, sex/gender, marital status, race/ethnicity, religion, nationality/"
            "foreign worker, disability) was recognised by column name: the bias jobs run with no facet and "
            "report 'not assessed' with the reason in bias.not_assessed_reason, which approvers see; if the data "
            "holds such a column under another name, add it under bias.facets and remove the reason"
        )
    return proposal


def _check_target(table: Table, target: str, positive_label: str) -> dict[str, int]:
    if target not in table.header:
        close = _close_matches(target, table.header)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise TargetColumnNotFoundError(
            f"target column {target!r} is not in {table.source}; its columns are: {', '.join(table.header)}{hint}"
        )
    column = table.frame[target]
    missing = missing_mask(column)
    if missing.any():
        first = int(missing.to_numpy().nonzero()[0][0]) + 2  # +1 header, +1 one-based (blank lines aside)
        raise TargetMissingValuesError(
            f"target {target!r} is missing in {int(missing.sum())} of {table.rows} rows (first at data row "
            f"{first - 1}): every row needs a label; drop or label those rows and onboard again"
        )
    counts = {str(value): int(count) for value, count in column.value_counts(sort=True).items()}
    shown = counts_text(counts)
    if len(counts) > _BINARY:
        raise TargetNotBinaryError(
            f"target {target!r} has {len(counts)} distinct values ({shown}); only binary classification is "
            "supported: map it to two values (the favourable outcome and the rest) and onboard again"
        )
    if positive_label not in counts:
        label = _close_label(positive_label, list(counts))
        hint = f"; did you mean {label!r}?" if label else ""
        raise PositiveLabelNotFoundError(
            f"positive label {positive_label!r} is not a value of target {target!r}, whose values are {shown}{hint}"
        )
    if len(counts) == 1:
        raise TargetNotBinaryError(
            f"target {target!r} has a single value ({shown}): there is nothing to learn; binary classification "
            "needs rows of both outcomes"
        )
    minority, minority_rows = min(counts.items(), key=lambda item: (item[1], item[0]))
    if minority_rows < MIN_MINORITY_ROWS:
        raise TooFewRowsError(
            f"the minority class {minority!r} of target {target!r} has only {minority_rows} rows ({shown}); at "
            f"least {MIN_MINORITY_ROWS} are needed to train and keep a hold-out for evaluation"
        )
    return counts


def _dataset_name(source: str, fallback: str) -> str:
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "-", stem.casefold()).strip("-")[:41].strip("-")
    return name if re.match(r"^[a-z0-9][a-z0-9-]{0,40}$", name) else fallback


def _close_matches(wanted: str, candidates: Sequence[str]) -> list[str]:
    folded = [c for c in candidates if c.strip().casefold() == wanted.strip().casefold()]
    return folded or difflib.get_close_matches(wanted, candidates, n=3, cutoff=0.6)


def _close_label(wanted: str, labels: Sequence[str]) -> str | None:
    for label in labels:
        if label.strip().casefold() == wanted.strip().casefold():
            return label
    number = parse_number(wanted)
    if number is not None:
        for label in labels:
            if parse_number(label) == number:
                return label
    close = difflib.get_close_matches(wanted, labels, n=1, cutoff=0.6)
    return close[0] if close else None


def _choose_limits(frame: pd.DataFrame, proposal: Proposal) -> None:
    rows = proposal.rows
    min_rows = max(1, round_down_significant(rows / 2, 2))
    proposal.limits["min_rows"] = Limit(
        min_rows, f"half of the {rows:,} rows onboarded: a much smaller upload is likely a truncated export"
    )
    per_column = [f.max_fraction for f in proposal.features if f.max_fraction is not None]
    global_missing = max([0.05, *per_column])
    why = "the pipeline default for features without an entry under dataset.missing (none is missing here)"
    if per_column:
        why = (
            "the largest per-feature limit of dataset.missing, so the same data passes where the Validate Data "
            "stage applies one limit to every feature"
            if global_missing > _NOTABLE_SHARE
            else "the pipeline default; every per-feature limit of dataset.missing is within it"
        )
    proposal.limits["max_missing_fraction"] = Limit(global_missing, why)
    minority, minority_rows = min(proposal.label_counts.items(), key=lambda item: (item[1], item[0]))
    share = minority_rows / rows
    proposal.limits["min_minority_fraction"] = Limit(
        min(0.5, round_down_significant(share / 2, 1)),
        f"half the observed share of {minority!r} ({pct(share)}): a batch with far fewer of them is suspect",
    )
    modelled = [*(f.name for f in proposal.features), proposal.target]
    duplicates = int(frame[modelled].duplicated().sum())
    duplicate_share = duplicates / rows
    limit = max(0.01, min(1.0, round_up(duplicate_share * 1.5 + 0.005, 3)))
    proposal.limits["max_duplicate_fraction"] = Limit(
        limit,
        f"{duplicates} rows ({pct(duplicate_share)}) repeat an earlier row in every feature and the target; "
        + ("limit 1.5 x observed + half a point" if limit > _DEFAULT_MISSING_LIMIT else "the pipeline default of 1%"),
    )
    if duplicate_share > _NOTABLE_SHARE:
        proposal.warnings.append(
            f"{duplicates} rows ({pct(duplicate_share)}) repeat an earlier row in every feature and the target: "
            "copies that land in both training and hold-out inflate the hold-out metrics; deduplicate if they are "
            "the same application recorded twice"
        )
    longest = int(frame.map(len).to_numpy().max())
    proposal.limits["max_field_length"] = Limit(
        max(1000, round_up(longest * 1.5, -2)),
        f"the longest field has {longest} characters; a field much longer than any seen is a broken export",
    )
    if minority_rows < FEW_MINORITY_ROWS:
        proposal.warnings.append(
            f"only {minority_rows} rows of {minority!r}: the hold-out ({TEST_FRACTION:.0%}) gets about "
            f"{round(minority_rows * TEST_FRACTION)}, so its metrics are noisy"
        )


def _choose_canary(proposal: Proposal) -> None:
    rate = proposal.positive_rate
    low = max(0.01, round_down(rate - CANARY_BAND, 2))
    high = min(0.99, round_up(rate + CANARY_BAND, 2))
    proposal.canary = (low, high)


def warn_near_leaks(table: Table, proposal: Proposal) -> None:
    """Warn about categorical features whose majority label per value almost always equals the target."""
    target = table.frame[proposal.target]
    for feature in proposal.categorical:
        column = table.frame[feature.name]
        if column.nunique() > FEW_LEVELS:
            continue
        crosstab = pd.crosstab(column, target)
        agreement = float(crosstab.max(axis=1).sum()) / len(target)
        if agreement >= NEAR_LEAK_AGREEMENT:
            proposal.warnings.append(
                f"{feature.name}: its values predict {proposal.target!r} for {pct(agreement)} of rows; check it is "
                "known before the credit decision (not recorded after it), or remove it"
            )
