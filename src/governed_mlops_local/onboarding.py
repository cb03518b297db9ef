"""Onboarding a new tabular credit dataset: infer a commented ``models/<name>/config.yaml`` from its CSV.

``mlops models add NAME --data FILE --target COLUMN --positive-label VALUE`` runs this on a CSV it
has never seen. Every decision is derived from the data by a rule stated here and written into the
configuration as a YAML comment, so a reviewer reads why each column is (not) a feature, how its
missing values are treated, which limits validation applies, and which groups the bias gate compares.

Pure: bytes in, text out; no file system, no clock (the caller passes the date). The CSV is read the
way the Validate Data stage reads it (UTF-8 with an optional BOM, every field a string, blank lines
skipped, :func:`governed_mlops.domain.validation.is_missing` for missing values), so the limits
chosen here are the ones that stage checks, and :func:`check_generated_config` runs that very stage
on the same bytes before anything is written.

Policy numbers (the quality gates, the bias policy) are fixed here, never fitted to the data: a limit
derived from the data it is meant to judge would pass whatever the data shows. The one limit that reads
the data is the bias gate's "no amplification" bound where the historic labels already breach the
four-fifths rule: it is derived from the labels but judges the model, which fails it by being more
disparate than those labels (plus a bounded tolerance), and the command asks a person to review it.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import math
import re
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal, cast

import pandas as pd
import yaml

from governed_mlops import model_projects
from governed_mlops.config import APPROVALS_REQUIRED, PipelineConfig, RiskTier, parse_config
from governed_mlops.domain.validation import MISSING_TOKENS, validate_dataset
from governed_mlops.errors import ConfigError
from governed_mlops.models import ObjectDigest, S3Ref

__all__ = [
    "AMPLIFICATION_TOLERANCE",
    "FOUR_FIFTHS",
    "MIN_FACET_HOLDOUT_ROWS",
    "MIN_MINORITY_ROWS",
    "BiasLimit",
    "DroppedColumn",
    "FacetProposal",
    "Feature",
    "GeneratedConfigInvalidError",
    "NoUsableFeaturesError",
    "OnboardingError",
    "PositiveLabelNotFoundError",
    "Proposal",
    "Table",
    "TargetColumnNotFoundError",
    "TargetMissingValuesError",
    "TargetNotBinaryError",
    "TooFewRowsError",
    "UnreadableDataError",
    "check_generated_config",
    "di_limit",
    "dppl_limit",
    "infer",
    "onboard",
    "read_table",
    "render_config",
]


# --------------------------------------------------------------------------------------------------
# Errors: each names what is wrong with the file or the arguments and what to do about it.


class OnboardingError(Exception):
    """Base class: the CSV or the command's arguments cannot produce a configuration."""


class UnreadableDataError(OnboardingError):
    """The file is not a UTF-8, comma-separated CSV with a header row and data rows."""


class TargetColumnNotFoundError(OnboardingError):
    """``--target`` names no column of the CSV."""


class TargetMissingValuesError(OnboardingError):
    """Some rows have no label."""


class TargetNotBinaryError(OnboardingError):
    """The target has one value, or more than two."""


class PositiveLabelNotFoundError(OnboardingError):
    """``--positive-label`` is not a value of the target."""


class TooFewRowsError(OnboardingError):
    """The minority class has too few rows to train on and evaluate."""


class NoUsableFeaturesError(OnboardingError):
    """Every column other than the target was dropped."""


class GeneratedConfigInvalidError(OnboardingError):
    """A bug: the generated configuration does not parse, or the same CSV would fail validation with it."""


# --------------------------------------------------------------------------------------------------
# Rules. Each constant is quoted in the comments of the generated file, so changing one changes the text.

#: Fewer minority-class rows than this cannot be split into training and a hold-out that means anything.
MIN_MINORITY_ROWS: Final = 20
#: Below this many minority rows the hold-out metrics are noisy: a warning, not an error.
FEW_MINORITY_ROWS: Final = 100
#: A feature missing in more than this share of rows carries more gaps than values: dropped.
MAX_FEATURE_MISSING: Final = 0.5
#: Categorical features missing in at most this share are imputed with the mode; above it, kept missing.
IMPUTE_MODE_UP_TO: Final = 0.05
#: Categories above this count make a one-hot block too wide and too sparse to learn from: dropped.
MAX_CATEGORIES: Final = 100
#: A categorical whose distinct values exceed this share of its rows (and 20 values) is nearly unique per row.
MOSTLY_UNIQUE_SHARE: Final = 0.5
#: A column whose present values are numbers but for at most this many distinct text tokens ("?", "n/k")
#: covering at most 1 - MIN_NUMERIC_SHARE of its rows is a numeric column with odd missing markers.
MAX_TEXT_MARKERS: Final = 3
MIN_NUMERIC_SHARE: Final = 0.9
#: Integer columns with at most this many distinct values are "codes"; the typing comment says so.
FEW_LEVELS: Final = 10
#: Ranges are widened by this share of the observed span on each side.
RANGE_MARGIN: Final = 0.5
#: Canary approval-rate band around the observed positive-label rate (absolute points).
CANARY_BAND: Final = 0.2
#: A feature whose majority label per value matches the target this often is flagged as a likely leak.
NEAR_LEAK_AGREEMENT: Final = 0.99
#: Applicants this old or younger form the age facet (the convention of the credit-risk config and Clarify examples).
AGE_THRESHOLD: Final = 25

# Bias limits. The gate acts on the model's outcomes: the post-training DI and DPPL of the hold-out. Label
# metrics (DPL and the other pre-training metrics) describe the historic decisions the model learns from: they
# are computed and shown to approvers in the evidence report, never gated by a generated configuration.

#: Fair-lending policy for the model's outcomes, identical for every facet: DI is the four-fifths rule (and its
#: reciprocal, 1.25, for the other direction); DPPL allows a 20-point gap in predicted approval rates.
FOUR_FIFTHS: Final[dict[str, tuple[float, float]]] = {
    "DPPL": (-0.2, 0.2),
    "DI": (0.8, 1.25),
}
#: Where the historic labels already breach FOUR_FIFTHS, the limit is "no amplification": the model may be no
#: more disparate than the labels it learns from, plus at most this much for the noise of a hold-out of a few
#: dozen rows per group (one standard error of DI at 30 rows a side with a 70% approval rate is about 0.1).
AMPLIFICATION_TOLERANCE: Final = 0.1
#: DI and DPPL are gated only when each side of the facet expects at least this many hold-out rows
#: (rows x split.test_fraction). At 30 rows one applicant moves a group's approval rate by 3.3 points and its
#: standard error is up to 9 points; with fewer, a gate would pass or refuse a model by chance.
MIN_FACET_HOLDOUT_ROWS: Final = 30
#: Between MIN_FACET_HOLDOUT_ROWS and this many expected hold-out rows a side, the gated metrics are still noisy.
SMALL_FACET_HOLDOUT_ROWS: Final = 50
#: A label gap (DPL) beyond this is announced as large: the model will learn it (reported, not gated).
LARGE_LABEL_GAP: Final = 0.2
#: Metrics bounds are rounded outward to this many decimals (adds at most 0.001 to a tolerance).
LIMIT_DECIMALS: Final = 3

#: Training settings of the credit-risk model: shallow trees, moderate learning rate, row/column sampling.
HYPERPARAMETERS: Final[dict[str, str | int | float]] = {
    "objective": "binary:logistic",
    "max_depth": 3,
    "eta": 0.1,
    "num_round": 150,
    "subsample": 0.9,
    "colsample_bytree": 0.8,
    "min_child_weight": 2,
}
SPLIT_SEED: Final = 42
TRAINING_SEED: Final = 7
TEST_FRACTION: Final = 0.25
#: Quality gates: real minimums for a credit scorecard, not read off this data (0.5 AUC is a coin toss).
MIN_AUC: Final = 0.6
MIN_KS: Final = 0.15

_CSV_DELIMITERS: Final = {";": "semicolons", "\t": "tabs", "|": "pipes"}
_SHOWN_CHARS: Final = 40
_SHOWN_VALUES: Final = 10
_ID_TOKENS: Final = frozenset({"id", "uuid", "guid", "identifier", "index", "idx", "rownum", "key"})
_ID_NAMES: Final = frozenset({"no", "nr", "number", "row", "row_number", "record", "record_number", "unnamed_0"})
_DATE_PATTERN: Final = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\S+)?\s*$")
_TRUTHY: Final = frozenset({"yes", "y", "true", "t", "1"})
_FALSY: Final = frozenset({"no", "n", "false", "f", "0"})
_FEMALE: Final = frozenset({"female", "f", "woman", "women", "girl", "w"})
_WHITE: Final = frozenset({"white", "caucasian"})

ProtectedKind = Literal["age", "sex", "marital status", "race/ethnicity", "religion", "nationality", "disability"]

#: Protected attributes recognised by column name. Whole words (tokens of the snake/camel-cased name)
#: for short words that hide inside others ("age" in "mortgage", "race" in "trace", "sex" in "sussex");
#: substrings for words that do not.
_PROTECTED_WORDS: Final[dict[ProtectedKind, tuple[frozenset[str], tuple[str, ...]]]] = {
    "age": (frozenset({"age", "ages", "aged", "dob", "birthdate", "birthday"}), ("date_of_birth", "birth_date")),
    "sex": (frozenset({"sex", "male", "female", "women", "men"}), ("gender",)),
    "marital status": (frozenset({"married", "spouse"}), ("marital", "marriage", "personal_status", "civil_status")),
    "race/ethnicity": (frozenset({"race", "racial"}), ("ethnic",)),
    "religion": (frozenset({"faith"}), ("religio",)),
    "nationality": (
        frozenset({"citizen"}),
        ("nationality", "national_origin", "citizenship", "foreign", "immigra", "native_country", "country_of_birth"),
    ),
    "disability": (frozenset({"disabled", "handicapped"}), ("disabilit", "handicap")),
}
#: When one column matches several kinds (German credit's ``personal_status_and_sex``), the facet is
#: built for the first kind in this order: sex has recognisable disadvantaged values, marital status has none.
_FACET_PRIORITY: Final[tuple[ProtectedKind, ...]] = (
    "sex",
    "age",
    "race/ethnicity",
    "nationality",
    "disability",
    "religion",
    "marital status",
)
_FACET_NAMES: Final[dict[ProtectedKind, str]] = {
    "age": "age",
    "sex": "sex",
    "marital status": "marital_status",
    "race/ethnicity": "race_ethnicity",
    "religion": "religion",
    "nationality": "nationality",
    "disability": "disability",
}


# --------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Table:
    """A CSV as the Validate Data stage sees it: header, every field a string, blank lines skipped."""

    source: str
    sha256: str
    header: list[str]
    frame: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.frame)


def read_table(data: bytes, source: str) -> Table:
    """Parse CSV bytes into a :class:`Table`.

    Raises:
        UnreadableDataError: empty, not UTF-8, binary, not comma-separated (one column), malformed
            quoting, rows with another number of fields than the header, empty or repeated column
            names, or no data rows. Each message says what to fix.
    """
    if not data.strip():
        raise UnreadableDataError(f"{source} is empty: expected a CSV with a header row and data rows")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise UnreadableDataError(f"{source} is binary or UTF-16, not UTF-8 text: re-save it as UTF-8 CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDataError(
            f"{source} is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start}); re-save it as "
            "UTF-8 (spreadsheet exports are often Latin-1 or Windows-1252)"
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise UnreadableDataError(f"{source} cannot be parsed as CSV at line {reader.line_num}: {exc}") from exc
    if not records:
        raise UnreadableDataError(f"{source} has no header row")
    header = records[0][1]
    _check_header(header, source)
    width = len(header)
    ragged = [(line, len(row)) for line, row in records[1:] if len(row) != width]
    if ragged:
        shown = ", ".join(f"line {line} has {fields}" for line, fields in ragged[:3])
        raise UnreadableDataError(
            f"{source}: {len(ragged)} row(s) have a different number of fields from the header ({width}): {shown}; "
            "quote fields that contain commas"
        )
    rows = [row for _, row in records[1:]]
    if not rows:
        raise UnreadableDataError(f"{source} has a header row but no data rows")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return Table(source=source, sha256=hashlib.sha256(data).hexdigest(), header=header, frame=frame)


def _check_header(header: list[str], source: str) -> None:
    if len(header) < 2:
        line = header[0] if header else ""
        used = [name for delimiter, name in _CSV_DELIMITERS.items() if delimiter in line]
        hint = f"; the header seems to be separated by {used[0]}: export with commas" if used else ""
        raise UnreadableDataError(
            f"{source} has only one column ({_shorten(line)}): a comma-separated file with a target and at "
            f"least one feature is needed{hint}"
        )
    empty = [position for position, name in enumerate(header, start=1) if not name.strip()]
    if empty:
        raise UnreadableDataError(
            f"{source}: column(s) {', '.join(map(str, empty))} have an empty name in the header row (a trailing "
            "comma on every line causes this); name or remove them"
        )
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise UnreadableDataError(f"{source}: column names appear more than once in the header: {repeated}")


# --------------------------------------------------------------------------------------------------
# What inference decides


@dataclass(frozen=True)
class Feature:
    """A model feature: its type with the reason, its missing-value policy and (numeric) its range."""

    name: str
    kind: Literal["numeric", "categorical"]
    why: str
    missing: int = 0
    missing_fraction: float = 0.0
    policy: Literal["allow", "impute-mode"] | None = None
    max_fraction: float | None = None
    policy_why: str = ""
    range_min: float | None = None
    range_max: float | None = None
    range_why: str = ""


@dataclass(frozen=True)
class DroppedColumn:
    """A column that is not a feature; it stays in the data, the model never reads it."""

    name: str
    why: str
    protected: tuple[ProtectedKind, ...] = ()


@dataclass(frozen=True)
class FacetProposal:
    """A bias facet: facet d (``values`` or ``threshold``) and the label rates the data shows for it."""

    name: str
    column: str
    kind: ProtectedKind
    why: str
    values: tuple[str, ...] | None = None
    threshold: float | None = None
    rows_d: int = 0
    rows_a: int = 0
    rate_d: float = 0.0
    rate_a: float = 0.0

    @property
    def dpl(self) -> float:
        """Clarify's DPL on the labels: q_a - q_d."""
        return self.rate_a - self.rate_d

    @property
    def label_di(self) -> float | None:
        """q_d / q_a on the labels: what DI would be for a model reproducing them (None when q_a is 0)."""
        return self.rate_d / self.rate_a if self.rate_a > 0 else None


@dataclass(frozen=True)
class BiasLimit:
    """A limit on one post-training metric of one facet: ``[low, high]`` inclusive, its rule and the label value."""

    metric: Literal["DPPL", "DI"]
    low: float
    high: float
    rule: Literal["policy", "no amplification"]
    #: The same metric computed on the labels (DPL for DPPL, q_d / q_a for DI) of the onboarded rows.
    label_value: float
    #: How much more disparate than the labels the model may be (no amplification only).
    tolerance: float = 0.0

    @property
    def why(self) -> str:
        """The rule, with the label value and the formula it was derived from, for the YAML comment."""
        if self.metric == "DI":
            value = f"{self.label_value:.3f}"
            if self.rule == "policy":
                return f"q'_d / q'_a, the four-fifths rule; label ratio {value}"
            if self.label_value <= 1:
                formula = f"min = {value} - {self.tolerance:.3g}"
            else:
                formula = f"max = 1 / (1/{value} - {self.tolerance:.3g})"
            return f"label ratio {value}, near or beyond the four-fifths rule: no amplification, {formula}; REVIEW"
        value = f"{self.label_value:+.3f}"
        if self.rule == "policy":
            return f"q'_a - q'_d, the 20-point policy; label gap {value}"
        bound = f"max = {value} + " if self.label_value > 0 else f"min = {value} - "
        formula = f"{bound}{self.tolerance:.3g}"
        return f"label gap {value}, near or beyond the 20-point policy: no amplification, {formula}; REVIEW"

    @property
    def breaches_policy(self) -> bool:
        """Whether the labels themselves are outside the policy range (not merely within the tolerance of it)."""
        low, high = FOUR_FIFTHS[self.metric]
        return not low <= self.label_value <= high


@dataclass(frozen=True)
class Limit:
    """A chosen validation limit and why."""

    value: float
    why: str


@dataclass
class Proposal:
    """Everything inferred from one CSV; :func:`render_config` writes it as commented YAML."""

    name: str
    dataset_name: str
    source: str
    sha256: str
    rows: int
    columns: int
    target: str
    positive_label: str
    negative_label: str
    label_counts: dict[str, int]
    risk_tier: RiskTier
    attribution: str
    features: list[Feature] = field(default_factory=list)
    dropped: list[DroppedColumn] = field(default_factory=list)
    facets: list[FacetProposal] = field(default_factory=list)
    limits: dict[str, Limit] = field(default_factory=dict)
    #: Facet name -> the limits the bias gate applies to the model's outcomes (DPPL, DI); empty: reported only.
    bias_limits: dict[str, tuple[BiasLimit, ...]] = field(default_factory=dict)
    #: Facet name -> why its DPPL and DI are reported but not gated.
    ungated: dict[str, str] = field(default_factory=dict)
    canary: tuple[float, float] = (0.05, 0.98)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "numeric"]

    @property
    def categorical(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "categorical"]

    @property
    def positive_rate(self) -> float:
        return self.label_counts[self.positive_label] / self.rows


# --------------------------------------------------------------------------------------------------
# Inference


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
    )
    positive = (frame[target] == positive_label).to_numpy(dtype=bool)
    target_values = frame[target]
    for column in table.header:
        if column == target:
            continue
        profile = _Profile.of(column, frame[column])
        decision = _decide(profile, target_values, proposal)
        if isinstance(decision, Feature):
            proposal.features.append(decision)
        else:
            proposal.dropped.append(decision)
        if isinstance(decision, DroppedColumn) and decision.protected:
            facet = _facet_for(profile, decision.protected, positive, proposal)
            if facet is not None:
                proposal.facets.append(facet)
    if not proposal.features:
        reasons = "; ".join(f"{d.name}: {d.why}" for d in proposal.dropped)
        raise NoUsableFeaturesError(f"{table.source}: no column is usable as a feature ({reasons})")
    _choose_limits(frame, proposal)
    _choose_canary(proposal)
    _choose_bias_limits(proposal)
    if not proposal.facets:
        proposal.notes.append(
            "no protected attribute (age, sex/gender, marital status, race/ethnicity, religion, nationality/"
            "foreign worker, disability) was recognised by column name: the configuration has no bias section, "
            "so no bias gate runs; add one by hand if the data holds such a column under another name"
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
    missing = _missing_mask(column)
    if missing.any():
        first = int(missing.to_numpy().nonzero()[0][0]) + 2  # +1 header, +1 one-based (blank lines aside)
        raise TargetMissingValuesError(
            f"target {target!r} is missing in {int(missing.sum())} of {table.rows} rows (first at data row "
            f"{first - 1}): every row needs a label; drop or label those rows and onboard again"
        )
    counts = {str(value): int(count) for value, count in column.value_counts(sort=True).items()}
    shown = _counts_text(counts)
    if len(counts) > 2:
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


@dataclass(frozen=True)
class _Profile:
    """What one column holds, computed once."""

    name: str
    values: pd.Series  # the raw strings
    missing: pd.Series  # bool mask
    rows: int
    counts: dict[str, int]  # non-missing values, most frequent first
    numbers: dict[str, float] | None  # value -> number when every non-missing value parses, else None
    unparsable: dict[str, int]  # non-numeric values of a mostly numeric column
    tokens: tuple[str, ...]

    @classmethod
    def of(cls, name: str, values: pd.Series) -> _Profile:
        missing = _missing_mask(values)
        present = values[~missing]
        counts = {str(value): int(count) for value, count in present.value_counts(sort=True).items()}
        parsed = {value: _parse_number(value) for value in counts}
        bad = {value: counts[value] for value, number in parsed.items() if number is None}
        numbers = None if bad else cast("dict[str, float]", parsed)
        return cls(
            name=name,
            values=values,
            missing=missing,
            rows=len(values),
            counts=counts,
            numbers=numbers,
            unparsable=bad,
            tokens=_name_tokens(name),
        )

    @property
    def present(self) -> int:
        return self.rows - self.missing_count

    @property
    def missing_count(self) -> int:
        return int(self.missing.sum())

    @property
    def missing_fraction(self) -> float:
        return self.missing_count / self.rows

    @property
    def distinct(self) -> int:
        return len(self.counts)

    @property
    def integers(self) -> bool:
        return self.numbers is not None and all(float(n).is_integer() for n in self.numbers.values())

    @property
    def leading_zeros(self) -> bool:
        """Numeric-looking codes written with leading zeros (postcodes, branch codes): labels, not quantities."""
        return self.numbers is not None and any(re.match(r"^[+-]?0\d", value) for value in self.counts)

    def number_series(self) -> pd.Series:
        assert self.numbers is not None
        return self.values[~self.missing].map(self.numbers)


def _decide(profile: _Profile, target: pd.Series, proposal: Proposal) -> Feature | DroppedColumn:
    name = profile.name
    protected = _protected_kinds(profile.tokens)
    if profile.present == 0:
        return DroppedColumn(name, "every value is missing", protected)
    if profile.distinct == 1:
        only = _shorten(next(iter(profile.counts)))
        return DroppedColumn(name, f"constant: every present value is {only}, so it carries no information", protected)
    if protected:
        kinds = " and ".join(protected)
        return DroppedColumn(name, f"protected attribute ({kinds})", protected)
    leak = _leak(profile, target, proposal.target)
    if leak is not None:
        return DroppedColumn(name, leak)
    marker = _numbers_with_text_markers(profile)
    if marker is not None:
        proposal.warnings.append(
            f"{name}: numbers except for {marker}; those are neither numbers nor missing values to the pipeline, "
            "so the column was dropped: export them as empty fields and onboard again to use it"
        )
        return DroppedColumn(name, f"numbers except for {marker}, which a numeric column may not hold")
    identifier = _identifier(profile)
    if identifier is not None:
        return DroppedColumn(name, identifier)
    if profile.missing_fraction > MAX_FEATURE_MISSING:
        return DroppedColumn(
            name,
            f"missing in {profile.missing_fraction:.1%} of rows (more than {MAX_FEATURE_MISSING:.0%}): more gaps "
            "than values; add it by hand if the gap itself is informative",
        )
    if profile.numbers is None or profile.leading_zeros or _is_id_named(profile.tokens):
        return _categorical(profile)
    return _numeric(profile)


def _numbers_with_text_markers(profile: _Profile) -> str | None:
    """``N value(s) '?' (N)`` when a few distinct text tokens are all that keeps the column from being numeric."""
    if profile.numbers is not None or not 0 < len(profile.unparsable) <= MAX_TEXT_MARKERS:
        return None
    marked = sum(profile.unparsable.values())
    if marked > (1 - MIN_NUMERIC_SHARE) * profile.present:
        return None
    return f"{marked} text value(s) {_counts_text(profile.unparsable)}"


def _numeric(profile: _Profile) -> Feature:
    numbers = profile.number_series()
    low, high = float(numbers.min()), float(numbers.max())
    distinct = profile.distinct
    if profile.integers and set(profile.numbers or {}) <= {"0", "1"}:
        why = "0/1 flag: kept numeric (a tree splits it exactly as a one-hot column)"
        range_min, range_max, range_why = 0.0, 1.0, "a 0/1 flag"
    else:
        if profile.integers and distinct <= FEW_LEVELS:
            why = f"integer codes {_fmt(low)}..{_fmt(high)}, {distinct} levels: kept numeric (ordered)"
        else:
            kind = "integers" if profile.integers else "numbers"
            why = f"{kind}, {distinct} distinct values in [{_fmt(low)}, {_fmt(high)}]"
        range_min, range_max, range_why = _widen(low, high, integers=profile.integers)
    return _with_missing(
        Feature(
            name=profile.name,
            kind="numeric",
            why=why,
            range_min=range_min,
            range_max=range_max,
            range_why=range_why,
        ),
        profile,
    )


def _categorical(profile: _Profile) -> Feature:
    distinct = profile.distinct
    if profile.numbers is None:
        why = f"text, {distinct} categories"
    elif profile.leading_zeros:
        example = next(value for value in profile.counts if re.match(r"^[+-]?0\d", value))
        why = f"codes with leading zeros (e.g. {_shorten(example)}), {distinct} categories: labels, not quantities"
    else:
        why = f"named like an identifier but only {distinct} distinct values: a code, treated as a category"
    return _with_missing(Feature(name=profile.name, kind="categorical", why=why), profile)


def _with_missing(feature: Feature, profile: _Profile) -> Feature:
    fraction = profile.missing_fraction
    if fraction == 0:
        return feature
    limit = _missing_limit(fraction)
    observed = f"missing in {profile.missing_count} rows ({_pct(fraction)})"
    margin = f"limit {_pct(limit)}: 1.5 x observed + 2 points, so a batch with somewhat more gaps passes"
    if feature.kind == "numeric":
        policy: Literal["allow", "impute-mode"] = "allow"
        why = f"{observed}; allow: XGBoost learns a default branch for missing values at every split; {margin}"
    elif fraction <= IMPUTE_MODE_UP_TO:
        policy = "impute-mode"
        why = (
            f"{observed}; impute-mode: too rare to learn as a group of its own, the most frequent category "
            f"stands in; {margin}"
        )
    else:
        policy = "allow"
        why = (
            f"{observed}; allow: frequent enough to learn as a signal (an all-zero one-hot block), imputing "
            f"the mode would invent that many values; {margin}"
        )
    return Feature(
        name=feature.name,
        kind=feature.kind,
        why=feature.why,
        missing=profile.missing_count,
        missing_fraction=fraction,
        policy=policy,
        max_fraction=limit,
        policy_why=why,
        range_min=feature.range_min,
        range_max=feature.range_max,
        range_why=feature.range_why,
    )


def _missing_limit(fraction: float) -> float:
    return min(1.0, _ceil(fraction * 1.5 + 0.02, 2))


def _identifier(profile: _Profile) -> str | None:
    """Why the column is an identifier, a date or free text, or None."""
    unique_per_row = profile.distinct == profile.present == profile.rows
    named = _is_id_named(profile.tokens)
    share = profile.distinct / profile.present
    if named and share >= 0.5:
        return f"identifier: named like one and {profile.distinct} distinct values in {profile.present} rows"
    dates = sum(count for value, count in profile.counts.items() if _DATE_PATTERN.match(value))
    if profile.numbers is None and dates >= 0.9 * profile.present:
        return (
            "a date: the pipeline has no date features; derive a number from it (e.g. months since) before "
            "onboarding if it matters"
        )
    if profile.numbers is not None and not profile.leading_zeros:
        if unique_per_row and profile.integers:
            numbers = profile.number_series()
            if float(numbers.max() - numbers.min()) == profile.rows - 1:
                return "identifier: consecutive integers, one per row (a row number)"
        return None
    if unique_per_row:
        return "identifier or free text: a different value in every row, so no category is ever seen twice"
    text_like = sum(len(v) for v in profile.counts) / profile.distinct >= 20 and any(" " in v for v in profile.counts)
    what = "free text" if text_like else "very high cardinality"
    if profile.distinct > MAX_CATEGORIES:
        return (
            f"{what}: {profile.distinct} categories (more than {MAX_CATEGORIES}); one-hot columns seen a few times "
            "each overfit; group rare values into fewer categories to use it"
        )
    if profile.distinct > 20 and share > MOSTLY_UNIQUE_SHARE:
        return (
            f"{what}: {profile.distinct} categories in {profile.present} rows, mostly seen once each; group rare "
            "values to use it"
        )
    return None


def _leak(profile: _Profile, target: pd.Series, target_name: str) -> str | None:
    """Why the column gives the target away (the Validate Data stage's leakage rule), or None."""
    if profile.distinct > 2:
        return None
    present = ~profile.missing
    pairs = pd.DataFrame({"value": profile.values[present], "label": target[present]}).drop_duplicates()
    if len(pairs) == 2 and pairs["label"].nunique() == 2:
        if all(pairs["value"] == pairs["label"]):
            return f"leaks the target: identical to {target_name!r}"
        mapping = ", ".join(
            f"{_shorten(str(v))} = {_shorten(str(label))}" for v, label in pairs.itertuples(index=False)
        )
        return f"leaks the target: a one-to-one relabelling of {target_name!r} ({mapping})"
    return None


def _is_id_named(tokens: Sequence[str]) -> bool:
    normalised = "_".join(tokens)
    return bool(set(tokens) & _ID_TOKENS) or normalised in _ID_NAMES


def _protected_kinds(tokens: Sequence[str]) -> tuple[ProtectedKind, ...]:
    normalised = "_".join(tokens)
    found = [
        kind
        for kind, (words, substrings) in _PROTECTED_WORDS.items()
        if set(tokens) & words or any(part in normalised for part in substrings)
    ]
    return tuple(sorted(found, key=_FACET_PRIORITY.index))


# --------------------------------------------------------------------------------------------------
# Bias facets


def _facet_for(
    profile: _Profile, kinds: tuple[ProtectedKind, ...], positive: Any, proposal: Proposal
) -> FacetProposal | None:
    kind = kinds[0]
    if profile.present == 0 or profile.distinct == 1:
        state = "every value is missing" if profile.present == 0 else "it is constant"
        proposal.notes.append(f"{profile.name}: protected attribute ({kind}) but {state}: no facet")
        return None
    base = "foreign_worker" if kind == "nationality" and "foreign" in profile.tokens else _FACET_NAMES[kind]
    if kind == "age" and profile.numbers is not None:
        return _age_threshold_facet(profile, positive, proposal)
    values, why = _disadvantaged_values(profile, kind)
    selected = profile.values.isin(values).to_numpy(dtype=bool)
    return _facet(base, profile.name, kind, why, selected, positive, proposal, values=tuple(values))


def _age_threshold_facet(profile: _Profile, positive: Any, proposal: Proposal) -> FacetProposal | None:
    name = profile.name
    if profile.missing_count:
        proposal.warnings.append(
            f"{name}: age is missing in {profile.missing_count} rows; the bias job needs a number in every row "
            f"for an age threshold, so no age facet was written: fill the gaps to get one"
        )
        return None
    numbers = profile.values.map(profile.numbers or {}).astype(float).to_numpy()
    selected = numbers <= AGE_THRESHOLD
    if selected.all() or not selected.any():
        proposal.notes.append(f"{name}: no age facet: every applicant is on one side of {AGE_THRESHOLD}")
        return None
    if float(numbers.max()) < 14 or float(numbers.max()) > 130:  # not years of age
        proposal.warnings.append(
            f"{name}: values {_fmt(float(numbers.min()))}..{_fmt(float(numbers.max()))} do not look like ages in "
            "years; no age facet was written"
        )
        return None
    why = (
        f"facet d: {name} <= {AGE_THRESHOLD}, the young applicants credit scoring is most often found to "
        "disadvantage (the convention of the credit-risk configuration)"
    )
    return _facet(
        f"age_{AGE_THRESHOLD}_or_younger",
        name,
        "age",
        why,
        selected,
        positive,
        proposal,
        threshold=float(AGE_THRESHOLD),
    )


def _disadvantaged_values(profile: _Profile, kind: ProtectedKind) -> tuple[list[str], str]:
    """Facet d's values for a categorical protected attribute, and why those."""
    values = list(profile.counts)
    lowered = {value: _name_tokens(value) for value in values}
    recognised: list[str] = []
    reason = ""
    if kind == "sex":
        recognised = [v for v, tokens in lowered.items() if set(tokens) & _FEMALE]
        reason = "female applicants, the group fair-lending reviews compare against the rest"
    elif kind == "age":
        young = [v for v in values if _age_band_upper(v) is not None and (_age_band_upper(v) or 0) <= AGE_THRESHOLD]
        recognised, reason = young, f"age bands up to {AGE_THRESHOLD}, the young applicants"
    elif kind == "race/ethnicity":
        white = [v for v, tokens in lowered.items() if set(tokens) & _WHITE]
        if white:
            recognised = [v for v in values if v not in white]
            reason = "every group other than white applicants, the comparison US fair-lending reviews make"
    elif kind in ("nationality", "disability"):
        normalised = {v: v.strip().casefold() for v in values}
        if "citizen" in profile.name.casefold() and "citizenship" not in profile.name.casefold():
            recognised = [v for v, n in normalised.items() if n in _FALSY]
            reason = "non-citizens"
        elif set(normalised.values()) <= _TRUTHY | _FALSY:
            recognised = [v for v, n in normalised.items() if n in _TRUTHY]
            reason = "foreign applicants" if kind == "nationality" else "applicants with a disability"
        elif kind == "nationality":
            recognised = values[1:]
            reason = f"every value but the most frequent ({_shorten(values[0])}, presumed the domestic group)"
    if recognised and len(recognised) < len(values):
        return recognised, f"facet d: {reason}"
    smallest = min(values, key=lambda v: (profile.counts[v], v))
    return [smallest], (
        f"facet d: the smallest group ({_shorten(smallest)}, {profile.counts[smallest]} rows): no value is "
        f"recognised as the group commonly treated as disadvantaged for {kind}; replace it if another group is"
    )


def _age_band_upper(value: str) -> float | None:
    if re.search(r"\+|>|over|above|older", value, re.IGNORECASE):
        return None
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", value)]
    return max(numbers) if numbers else None


def _facet(
    base: str,
    column: str,
    kind: ProtectedKind,
    why: str,
    selected: Any,
    positive: Any,
    proposal: Proposal,
    *,
    values: tuple[str, ...] | None = None,
    threshold: float | None = None,
) -> FacetProposal:
    taken = {facet.name for facet in proposal.facets}
    name = base if base not in taken else f"{base}_{re.sub(r'[^A-Za-z0-9_.-]', '_', column)}"[:64]
    rows_d = int(selected.sum())
    rows_a = int((~selected).sum())
    rate_d = float(positive[selected].mean()) if rows_d else 0.0
    rate_a = float(positive[~selected].mean()) if rows_a else 0.0
    return FacetProposal(
        name=name,
        column=column,
        kind=kind,
        why=why,
        values=values,
        threshold=threshold,
        rows_d=rows_d,
        rows_a=rows_a,
        rate_d=rate_d,
        rate_a=rate_a,
    )


def di_limit(label_ratio: float) -> BiasLimit | None:
    """The limit on the model's DI for a facet whose labels show ``label_ratio`` (r = q_d / q_a).

    With ``s = min(r, 1/r)`` the labels' disparity (1: none) and ``t = min(AMPLIFICATION_TOLERANCE, s / 2)``
    the tolerance for hold-out noise, the limit is ``[min(0.8, s - t), 1.25]`` when facet d is approved
    less than the rest (r <= 1) and ``[0.8, max(1.25, 1 / (s - t))]`` when it is approved more: the
    four-fifths rule while the labels are inside it by at least ``t``, and otherwise "no amplification":
    the model may be no more disparate than its labels plus ``t``. Swapping facets d and a inverts DI
    and the limit with it; the bound moves continuously with r (no jump at 0.8), and rounds outward to
    :data:`LIMIT_DECIMALS` decimals. None when no limit of this rule could be failed (a label rate of
    0: nothing is more disparate).
    """
    low, high = FOUR_FIFTHS["DI"]
    if not 0 < label_ratio < math.inf:
        return None
    disparity = min(label_ratio, 1 / label_ratio)
    tolerance = min(AMPLIFICATION_TOLERANCE, disparity / 2)
    allowed = disparity - tolerance
    if _floor(allowed, LIMIT_DECIMALS) <= 0:
        return None
    if label_ratio <= 1:
        bound = _floor(allowed, LIMIT_DECIMALS)
        if bound >= low:
            return BiasLimit("DI", low, high, "policy", label_ratio)
        return BiasLimit("DI", bound, high, "no amplification", label_ratio, tolerance)
    bound = _ceil(1 / allowed, LIMIT_DECIMALS)
    if bound <= high:
        return BiasLimit("DI", low, high, "policy", label_ratio)
    return BiasLimit("DI", low, bound, "no amplification", label_ratio, tolerance)


def dppl_limit(label_gap: float) -> BiasLimit | None:
    """The limit on the model's DPPL for a facet whose labels show the gap ``label_gap`` (g = DPL = q_a - q_d).

    With ``t = min(AMPLIFICATION_TOLERANCE, (1 - |g|) / 2)``: ``[-0.2, max(0.2, g + t)]`` for g >= 0 and
    ``[min(-0.2, g - t), 0.2]`` for g < 0 (swapping d and a negates both): the 20-point policy while the
    labels are inside it by at least ``t``, otherwise no amplification of the labels' gap beyond ``t``.
    Rounded outward to :data:`LIMIT_DECIMALS` decimals. None when the bound would reach +/-1, the
    largest gap there is, so no model could fail it.
    """
    low, high = FOUR_FIFTHS["DPPL"]
    gap = abs(label_gap)
    tolerance = min(AMPLIFICATION_TOLERANCE, (1 - gap) / 2)
    bound = _ceil(gap + tolerance, LIMIT_DECIMALS)
    if bound <= high:
        return BiasLimit("DPPL", low, high, "policy", label_gap)
    if bound >= 1:
        return None
    if label_gap > 0:
        return BiasLimit("DPPL", low, bound, "no amplification", label_gap, tolerance)
    return BiasLimit("DPPL", -bound, high, "no amplification", label_gap, tolerance)


def _choose_bias_limits(proposal: Proposal) -> None:
    """Per facet: the DPPL and DI limits, or why they are reported only; warnings where a person must look."""
    for facet in proposal.facets:
        rates = (
            f"approval rate ({proposal.positive_label!r}) {_pct(facet.rate_d)} in facet d vs {_pct(facet.rate_a)} "
            "in the rest"
        )
        if abs(facet.dpl) > LARGE_LABEL_GAP:
            favoured = "the rest" if facet.dpl > 0 else "facet d"
            proposal.warnings.append(
                f"bias facet {facet.name}: {rates}: the historic labels favour {favoured} by DPL {facet.dpl:+.3f} "
                f"(more than {LARGE_LABEL_GAP:g}); label metrics are reported to approvers, not gated, and a model "
                "trained on these labels learns this gap"
            )
        smallest = min(facet.rows_d, facet.rows_a)
        side = "facet d" if facet.rows_d == smallest else "facet a (the rest)"
        expected = smallest * TEST_FRACTION
        if expected < MIN_FACET_HOLDOUT_ROWS:
            reason = (
                f"{side} has {smallest:,} rows, about {expected:.0f} in the hold-out (fewer than "
                f"{MIN_FACET_HOLDOUT_ROWS}): DPPL and DI are reported, not gated"
            )
            proposal.ungated[facet.name] = reason
            proposal.notes.append(f"bias facet {facet.name}: {reason}; collect more data for this group to gate it")
            continue
        chosen = {
            "DPPL": dppl_limit(facet.dpl),
            "DI": di_limit(facet.label_di) if facet.label_di is not None else None,
        }
        for metric, limit in chosen.items():
            if limit is None:
                proposal.warnings.append(
                    f"bias facet {facet.name}: {rates}: no {metric} limit derived from labels this one-sided could "
                    f"ever refuse a model, so {metric} is reported, not gated: a person must set one by hand"
                )
            elif limit.rule == "no amplification":
                policy_low, policy_high = FOUR_FIFTHS[metric]
                rule = "the four-fifths rule" if metric == "DI" else "the 20-point policy"
                label = "ratio" if metric == "DI" else "gap"
                position = "breaches" if limit.breaches_policy else f"is within {limit.tolerance:.3g} of"
                proposal.warnings.append(
                    f"bias facet {facet.name}: {rates}: the labels' {label} {limit.label_value:.3f} {position} {rule} "
                    f"[{policy_low:g}, {policy_high:g}]; the {metric} limit is [{limit.low:g}, {limit.high:g}] (no "
                    f"amplification: the model may be no more disparate than its labels, plus "
                    f"{limit.tolerance:.3g} for hold-out noise); a person must review this limit before "
                    "approving (the approval page shows the bias tables)"
                )
        limits = tuple(limit for limit in chosen.values() if limit is not None)
        if not limits:
            proposal.ungated[facet.name] = "no limit derived from these labels could refuse a model"
            continue
        proposal.bias_limits[facet.name] = limits
        if expected < SMALL_FACET_HOLDOUT_ROWS:
            proposal.warnings.append(
                f"bias facet {facet.name}: {side} has {smallest:,} rows, about {expected:.0f} in the hold-out where "
                "DPPL and DI are measured: gated, but a few rows move them by points; collect more data for this "
                "group"
            )


# --------------------------------------------------------------------------------------------------
# Limits


def _choose_limits(frame: pd.DataFrame, proposal: Proposal) -> None:
    rows = proposal.rows
    min_rows = max(1, _floor_significant(rows / 2, 2))
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
            if global_missing > 0.05
            else "the pipeline default; every per-feature limit of dataset.missing is within it"
        )
    proposal.limits["max_missing_fraction"] = Limit(global_missing, why)
    minority, minority_rows = min(proposal.label_counts.items(), key=lambda item: (item[1], item[0]))
    share = minority_rows / rows
    proposal.limits["min_minority_fraction"] = Limit(
        min(0.5, _floor_significant(share / 2, 1)),
        f"half the observed share of {minority!r} ({_pct(share)}): a batch with far fewer of them is suspect",
    )
    modelled = [*(f.name for f in proposal.features), proposal.target]
    duplicates = int(frame[modelled].duplicated().sum())
    duplicate_share = duplicates / rows
    limit = max(0.01, min(1.0, _ceil(duplicate_share * 1.5 + 0.005, 3)))
    proposal.limits["max_duplicate_fraction"] = Limit(
        limit,
        f"{duplicates} rows ({_pct(duplicate_share)}) repeat an earlier row in every feature and the target; "
        + ("limit 1.5 x observed + half a point" if limit > 0.01 else "the pipeline default of 1%"),
    )
    if duplicate_share > 0.05:
        proposal.warnings.append(
            f"{duplicates} rows ({_pct(duplicate_share)}) repeat an earlier row in every feature and the target: "
            "copies that land in both training and hold-out inflate the hold-out metrics; deduplicate if they are "
            "the same application recorded twice"
        )
    longest = int(frame.map(len).to_numpy().max())
    proposal.limits["max_field_length"] = Limit(
        max(1000, _ceil(longest * 1.5, -2)),
        f"the longest field has {longest} characters; a field much longer than any seen is a broken export",
    )
    if minority_rows < FEW_MINORITY_ROWS:
        proposal.warnings.append(
            f"only {minority_rows} rows of {minority!r}: the hold-out ({TEST_FRACTION:.0%}) gets about "
            f"{round(minority_rows * TEST_FRACTION)}, so its metrics are noisy"
        )


def _choose_canary(proposal: Proposal) -> None:
    rate = proposal.positive_rate
    low = max(0.01, _floor(rate - CANARY_BAND, 2))
    high = min(0.99, _ceil(rate + CANARY_BAND, 2))
    proposal.canary = (low, high)


# --------------------------------------------------------------------------------------------------
# Rendering


def render_config(proposal: Proposal, *, generated_on: date, command: str) -> str:
    """The configuration as YAML text, every inferred choice explained in a comment."""
    out = _Yaml()
    p = proposal
    out.comments(
        0,
        f"Pipeline configuration of model project {p.name!r} (models/{p.name}/config.yaml), generated on "
        f"{generated_on.isoformat()} by: {command}",
        f"Inferred from {p.source} ({p.rows:,} rows, {p.columns} columns, sha256 {p.sha256[:16]}...). Every "
        "inferred choice is explained in a comment: review them before the first upload. Every key is "
        'documented in README.md ("Configuration"); unknown keys are refused.',
    )
    out.key(0, "model", None)
    out.comments(
        1,
        f"name, endpoint_name and model_package_group default to the project directory's name ({p.name}), so "
        "this model shares no endpoint, registry group or alarm with another.",
    )
    tier_why = {
        "high": "credit decisions about people",
        "medium": "set by --risk-tier",
        "low": "set by --risk-tier; approved without a person (still gated)",
    }[p.risk_tier]
    approvals = APPROVALS_REQUIRED[p.risk_tier]
    out.key(1, "risk_tier", p.risk_tier, f"{tier_why}: {approvals} distinct approver(s) before deployment")
    out.key(1, "approvers_group", "model-approvers", "the default group of people who may approve a model version")
    out.key(1, "canary", None)
    out.key(2, "max_latency_ms", 500, "the default latency alarm")
    low, high = p.canary
    out.comments(
        2,
        f"{_pct(p.positive_rate)} of the onboarded rows are {p.positive_label!r}; a canary whose approval rate "
        f"leaves that rate +/- {CANARY_BAND * 100:.0f} points (clipped to [0.01, 0.99]) is rolled back.",
    )
    out.key(2, "min_positive_rate", low)
    out.key(2, "max_positive_rate", high)
    out.blank()

    out.key(0, "dataset", None)
    out.key(1, "name", p.dataset_name, f"from the file name {p.source}")
    out.key(1, "target", p.target)
    counts = ", ".join(f"{_shorten(label)} {count:,}" for label, count in p.label_counts.items())
    out.key(1, "positive_label", p.positive_label, f"the favourable outcome (--positive-label); labels: {counts}")
    if p.attribution:
        out.key(1, "attribution", p.attribution)
    else:
        out.key(1, "attribution", "", "not given (--attribution): record the data's source and licence here")
    out.comments(
        1,
        "Numeric: every present value is a number. Integer codes with few levels stay numeric (ordered); move "
        "one to categorical_features if its codes are unordered labels.",
    )
    out.key(1, "numeric_features", [] if not p.numeric else None)
    for feature in p.numeric:
        out.item(2, feature.name, feature.why)
    out.comments(1, "Categorical: text (one-hot encoded; a category unseen in training encodes as all zeros).")
    out.key(1, "categorical_features", [] if not p.categorical else None)
    for feature in p.categorical:
        out.item(2, feature.name, feature.why)
    if p.dropped:
        out.comments(1, "Columns that are not features (they may stay in the data; the model never reads them):")
        for dropped in p.dropped:
            why = dropped.why
            facet = next((f.name for f in p.facets if f.column == dropped.name), None)
            if facet is not None:
                why += f": bias facet {facet!r} below"
            out.comments(1, f"- {dropped.name}: {why}", hanging="    ")
        if any(d.protected for d in p.dropped):
            out.comments(
                1,
                "Protected attributes are kept out of the model, as fair-lending practice expects of credit "
                "decisions about people, and are analysed as bias facets instead. To use one as a feature anyway, "
                "add it to numeric_ or categorical_features and record why in this file.",
            )
    ranged = [f for f in p.numeric if f.range_min is not None]
    if ranged:
        out.comments(
            1,
            f"Ranges: the observed minimum and maximum widened by {RANGE_MARGIN:.0%} of the observed span on each "
            "side (not below 0 when no negative value was seen), rounded outward; a value outside is refused as "
            "a data error. Widen one knowingly if genuine values fall outside.",
        )
        out.key(1, "ranges", None)
        for feature in ranged:
            bounds = {"min": _number(feature.range_min), "max": _number(feature.range_max)}
            out.flow(2, feature.name, bounds, feature.range_why)
    with_missing = [f for f in p.features if f.policy is not None]
    if with_missing:
        out.comments(
            1,
            "Missing values per feature: policy and the share of rows that may miss it (validation). Features "
            "not listed have none here: policy allow, limit validation.max_missing_fraction.",
        )
        out.key(1, "missing", None)
        for feature in with_missing:
            out.comments(2, f"{feature.name}: {feature.policy_why}")
            out.flow(2, feature.name, {"policy": feature.policy, "max_fraction": feature.max_fraction})
    else:
        out.comments(
            1,
            "missing: no feature has a missing value here; each gets policy allow (XGBoost's native handling) "
            "and the limit validation.max_missing_fraction.",
        )
    out.blank()

    out.comments(0, "Validation limits, chosen so this CSV passes and a broken export does not.")
    out.key(0, "validation", None)
    for key in ("min_rows", "max_missing_fraction", "min_minority_fraction", "max_duplicate_fraction"):
        limit = p.limits[key]
        out.comments(1, limit.why)
        out.key(1, key, _number(limit.value))
    field_length = p.limits["max_field_length"]
    out.key(1, "max_field_length", _number(field_length.value), field_length.why)
    out.blank()

    out.key(0, "split", None)
    out.key(1, "test_fraction", TEST_FRACTION, "a quarter of the rows is held out for evaluation and the gates")
    out.key(1, "seed", SPLIT_SEED, "fixed: a rerun on the same data reproduces the split")
    out.blank()
    out.key(0, "training", None)
    out.key(1, "seed", TRAINING_SEED, "fixed: a rerun on the same data reproduces the model")
    out.comments(1, "The credit-risk model's settings: shallow trees, moderate learning rate; tune after a first run.")
    out.key(1, "hyperparameters", None)
    for key, value in HYPERPARAMETERS.items():
        out.key(2, key, value)
    out.blank()
    out.comments(
        0,
        "Quality gates: minimums a credit model must meet on the hold-out, set as policy rather than read off "
        "this data (a gate fitted to the data passes whatever the data gives).",
    )
    out.key(0, "gates", None)
    out.key(1, "decision_threshold", 0.5, "P(positive) at or above it approves")
    out.key(1, "min_auc", MIN_AUC, "0.5 is a coin toss; below 0.6 the model barely ranks applicants")
    out.key(1, "min_ks", MIN_KS, "Kolmogorov-Smirnov separation of the two classes' scores")
    majority = max(p.label_counts.values()) / p.rows
    out.comments(
        1,
        "min_accuracy is not gated: accuracy depends on the class balance (always predicting "
        f"{_shorten(max(p.label_counts, key=lambda k: p.label_counts[k]))} scores {_pct(majority)} here).",
    )
    out.blank()
    _render_bias(out, p)
    out.key(0, "monitoring", None)
    out.key(1, "min_samples", 100, "fewer captured requests in a window give no drift verdict (the default)")
    return out.text()


def _render_bias(out: _Yaml, p: Proposal) -> None:
    if not p.facets:
        out.comments(
            0,
            "No bias section: no column name was recognised as a protected attribute (age, sex/gender, marital "
            "status, race/ethnicity, religion, nationality/foreign worker, disability), so no bias gate runs. "
            "Add one if the data holds such a column under another name.",
        )
        out.blank()
        return
    out.comments(
        0,
        "Bias analysis (SageMaker Clarify metrics) on the protected attributes recognised by column name; they "
        "are not model features (see the dropped columns above). Facet d is the group that may be "
        "disadvantaged, facet a every other row. The label rates of this data are in the comments; the limits "
        "(under thresholds) are fair-lending policy unless these labels already breach it.",
    )
    out.key(0, "bias", None)
    out.key(1, "facets", None)
    for facet in p.facets:
        out.item_key(2, "name", facet.name)
        out.key(3, "column", facet.column)
        if facet.values is not None:
            out.flow(3, "values", list(facet.values), facet.why)
        else:
            out.key(3, "threshold", _number(facet.threshold), facet.why)
        di = facet.label_di
        out.comments(
            3,
            f"this data: {facet.rows_d:,} rows in facet d, {facet.rows_a:,} in facet a; approval rate "
            f"{_pct(facet.rate_d)} vs {_pct(facet.rate_a)}: DPL {facet.dpl:+.3f}"
            + (f", label ratio {di:.3f}" if di is not None else ""),
        )
    out.comments(
        1,
        "No group_column: set one (e.g. the loan's purpose) to compute CDDL / CDDPL. RD (equal opportunity), AD "
        "and the other metrics are reported without a limit; add one to gate them.",
    )
    tolerance = f"{AMPLIFICATION_TOLERANCE:g}"
    out.comments(
        1,
        "Limits act on the model's outcomes: DI and DPPL of its predictions on the hold-out (post-training). "
        "Label metrics (DPL and the other pre-training metrics) describe the historic decisions this model learns "
        "from; they are computed and shown to approvers in the evidence report, not gated.",
        f"A facet is gated when each side expects at least {MIN_FACET_HOLDOUT_ROWS} hold-out rows (rows x "
        f"split.test_fraction): with fewer, one applicant moves a group's approval rate by 3.3 points or more and "
        "the gate would decide by chance.",
        "Policy: DI in [0.8, 1.25] (the four-fifths rule, both directions) and DPPL in [-0.2, 0.2]. Where the labels "
        f"breach it, or are within {tolerance} of it, the limit is no amplification: the model may be no more "
        f"disparate than the labels it learns from, plus {tolerance} for hold-out noise (DI: min = min(0.8, label "
        f"ratio - {tolerance}), or max = max(1.25, 1 / (1/ratio - {tolerance})) when facet d is approved more; "
        f"DPPL: label gap +/- {tolerance}, away from 0). For nearly one-sided labels the tolerance shrinks so that "
        "a model can still fail the limit. Such a limit comes from this data: a person must review it (REVIEW "
        "below; the approval page shows the bias tables).",
    )
    gated = [facet for facet in p.facets if facet.name in p.bias_limits]
    out.key(1, "thresholds", {} if not gated else None)
    for facet in p.facets:
        limits = p.bias_limits.get(facet.name)
        if limits is None:
            out.comments(2, f"{facet.name}: {p.ungated[facet.name]}.")
            continue
        out.key(2, facet.name, None)
        for limit in limits:
            out.flow(3, limit.metric, {"min": _number(limit.low), "max": _number(limit.high)}, limit.why)
    out.blank()


class _Yaml:
    """Builds block YAML line by line: scalars quoted by yaml.safe_dump, comments wrapped."""

    _WIDTH: Final = 118
    _COMMENT_COLUMN: Final = 40

    def __init__(self) -> None:
        self._lines: list[str] = []

    def text(self) -> str:
        while self._lines and not self._lines[-1]:
            self._lines.pop()
        return "\n".join(self._lines) + "\n"

    def blank(self) -> None:
        self._lines.append("")

    def comments(self, level: int, *paragraphs: str, hanging: str = "") -> None:
        indent = "  " * level + "# "
        for paragraph in paragraphs:
            self._lines.extend(
                textwrap.wrap(
                    _one_line(paragraph),
                    self._WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + hanging,
                    break_on_hyphens=False,
                )
            )

    def key(self, level: int, key: str, value: Any, comment: str = "") -> None:
        head = f"{'  ' * level}{_scalar(key)}:"
        line = head if value is None else f"{head} {_scalar(value)}"
        self._with_comment(line, comment, level)

    def flow(self, level: int, key: str, value: dict[str, Any] | list[Any], comment: str = "") -> None:
        if isinstance(value, dict):
            body = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items())
            rendered = f"{{{body}}}"
        else:
            rendered = f"[{', '.join(_scalar(v) for v in value)}]"
        self._with_comment(f"{'  ' * level}{_scalar(key)}: {rendered}", comment, level)

    def item(self, level: int, value: Any, comment: str = "") -> None:
        self._with_comment(f"{'  ' * level}- {_scalar(value)}", comment, level)

    def item_key(self, level: int, key: str, value: Any) -> None:
        self._lines.append(f"{'  ' * level}- {_scalar(key)}: {_scalar(value)}")

    def _with_comment(self, line: str, comment: str, level: int) -> None:
        if not comment:
            self._lines.append(line)
            return
        text = _one_line(comment)
        padded = line.ljust(self._COMMENT_COLUMN - 1)
        if len(padded) + 3 + len(text) <= self._WIDTH:
            self._lines.append(f"{padded} # {text}")
            return
        # Too long for the line: the comment goes above the key, wrapped.
        self.comments(level, text)
        self._lines.append(line)


def _scalar(value: Any) -> str:
    """One YAML flow scalar that reads back as ``value`` (strings quoted when YAML would misread them)."""
    if isinstance(value, str) and ("\n" in value or "\r" in value or not value.isprintable()):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    if isinstance(value, list) and not value:
        return "[]"
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


# --------------------------------------------------------------------------------------------------
# Checking what was generated


def check_generated_config(text: str, proposal: Proposal, data: bytes) -> PipelineConfig:
    """Parse ``text`` back, compare it with ``proposal`` and run the Validate Data stage on ``data`` with it.

    Raises:
        GeneratedConfigInvalidError: a bug in the generator: the text does not parse, reads back
            differently from what was inferred, or the CSV it was inferred from fails validation with it.
    """
    try:
        config = parse_config(text, source=f"models/{proposal.name}/config.yaml")
        model_projects.model_spec(proposal.name, config)
    except ConfigError as exc:
        raise GeneratedConfigInvalidError(f"bug: the generated configuration is invalid: {exc}") from exc
    dataset = config.dataset
    expected = (
        [f.name for f in proposal.numeric],
        [f.name for f in proposal.categorical],
        proposal.target,
        proposal.positive_label,
    )
    actual = (dataset.numeric_features, dataset.categorical_features, dataset.target, dataset.positive_label)
    facets = [(f.column, f.values, f.threshold) for f in proposal.facets]
    read_facets = [
        (f.column, tuple(f.values) if f.values is not None else None, f.threshold)
        for f in (config.bias.facets if config.bias else [])
    ]
    limits = {
        facet: {limit.metric: (limit.low, limit.high) for limit in chosen}
        for facet, chosen in proposal.bias_limits.items()
    }
    read_limits = {
        facet: {metric: (limit.min, limit.max) for metric, limit in metrics.items()}
        for facet, metrics in (config.bias.thresholds if config.bias else {}).items()
    }
    if actual != expected or facets != read_facets or limits != read_limits:
        raise GeneratedConfigInvalidError(
            f"bug: the generated configuration reads back as {actual}, facets {read_facets}, limits {read_limits}; "
            f"expected {expected}, facets {facets}, limits {limits}"
        )
    digest = ObjectDigest(
        ref=S3Ref(bucket="onboarding", key=proposal.source, version_id=None),
        sha256=proposal.sha256,
        size=len(data),
    )
    report = validate_dataset(data, config, digest)
    if not report.passed:
        issues = "; ".join(f"[{i.check}] {i.column or ''}: {i.message}" for i in report.issues)
        raise GeneratedConfigInvalidError(
            f"bug: {proposal.source} fails validation with the generated config: {issues}"
        )
    return config


def onboard(
    data: bytes,
    *,
    source: str,
    name: str,
    target: str,
    positive_label: str,
    generated_on: date,
    command: str,
    risk_tier: RiskTier = "high",
    attribution: str = "",
) -> tuple[Proposal, str, PipelineConfig]:
    """Read, infer, render and check: the proposal, the YAML text and its parsed configuration."""
    model_projects.check_name(name)
    table = read_table(data, source)
    proposal = infer(
        table, name=name, target=target, positive_label=positive_label, risk_tier=risk_tier, attribution=attribution
    )
    _warn_near_leaks(table, proposal)
    text = render_config(proposal, generated_on=generated_on, command=command)
    config = check_generated_config(text, proposal, data)
    return proposal, text, config


def _warn_near_leaks(table: Table, proposal: Proposal) -> None:
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
                f"{feature.name}: its values predict {proposal.target!r} for {_pct(agreement)} of rows; check it is "
                "known before the credit decision (not recorded after it), or remove it"
            )


# --------------------------------------------------------------------------------------------------
# Small helpers


def _missing_mask(values: pd.Series) -> pd.Series:
    """The Validate Data stage's notion of missing: a pandas NA token, or blank."""
    text = values.astype(str)
    return cast("pd.Series", text.isin(MISSING_TOKENS) | (text.str.strip() == ""))


def _parse_number(value: str) -> float | None:
    """The Validate Data stage's numbers: finite floats, no ``_`` digit separators."""
    if "_" in value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _name_tokens(name: str) -> tuple[str, ...]:
    """Lower-case words of a snake_case, kebab-case, camelCase or spaced name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return tuple(token for token in re.split(r"[^a-z0-9]+", spaced.casefold()) if token)


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
    number = _parse_number(wanted)
    if number is not None:
        for label in labels:
            if _parse_number(label) == number:
                return label
    close = difflib.get_close_matches(wanted, labels, n=1, cutoff=0.6)
    return close[0] if close else None


def _counts_text(counts: dict[str, int]) -> str:
    shown = ", ".join(f"{_shorten(value)} ({count:,})" for value, count in list(counts.items())[:_SHOWN_VALUES])
    more = len(counts) - _SHOWN_VALUES
    return f"{shown}, and {more} more" if more > 0 else shown


def _shorten(value: str) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_CHARS else f"{shown[: _SHOWN_CHARS - 1]}...'"


def _pct(fraction: float) -> str:
    return f"{fraction:.1%}"


def _fmt(number: float) -> str:
    return f"{number:g}"


def _number(value: float | None) -> int | float | None:
    """An int when integral (``25`` rather than ``25.0`` in the YAML)."""
    if value is None:
        return None
    rounded = round(value, 10)
    return int(rounded) if float(rounded).is_integer() else rounded


def _floor(value: float, digits: int) -> float:
    scale = 10.0**digits
    return math.floor(round(value * scale, 9)) / scale


def _ceil(value: float, digits: int) -> float:
    scale = 10.0**digits
    return math.ceil(round(value * scale, 9)) / scale


def _floor_significant(value: float, digits: int) -> float:
    """Round down to ``digits`` significant digits (``0.1537`` -> ``0.15``; ``1000`` -> ``1000``)."""
    if value <= 0:
        return 0.0
    return _floor(value, digits - 1 - math.floor(math.log10(value)))


def _widen(low: float, high: float, *, integers: bool) -> tuple[float, float, str]:
    margin = (high - low) * RANGE_MARGIN
    wide_low, wide_high = low - margin, high + margin
    floored = low >= 0 and wide_low < 0
    if floored:
        wide_low = 0.0
    wide_low, wide_high = _round_outward(wide_low, down=True), _round_outward(wide_high, down=False)
    if integers:
        wide_low, wide_high = float(math.floor(wide_low)), float(math.ceil(wide_high))
    wide_low, wide_high = min(wide_low, low), max(wide_high, high)
    why = f"observed {_fmt(low)} to {_fmt(high)}" + ("; not below 0" if floored else "")
    return wide_low, wide_high, why


def _round_outward(value: float, *, down: bool) -> float:
    """Round away from the observed range to two significant digits."""
    if value == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    scaled = round(value / step, 9)
    return (math.floor(scaled) if down else math.ceil(scaled)) * step
