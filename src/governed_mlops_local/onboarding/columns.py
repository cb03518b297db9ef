"""One column at a time: what it holds, and whether it becomes a feature (with its type, missing-value
policy and range) or is dropped, and why."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast

import pandas as pd

from governed_mlops.domain.validation import parse_number
from governed_mlops_local.onboarding.proposal import DroppedColumn, Feature, Proposal, ProtectedKind
from governed_mlops_local.onboarding.rounding import round_up
from governed_mlops_local.onboarding.rules import (
    FEW_LEVELS,
    IMPUTE_MODE_UP_TO,
    MAX_CATEGORIES,
    MAX_FEATURE_MISSING,
    MAX_TEXT_MARKERS,
    MIN_NUMERIC_SHARE,
    MOSTLY_UNIQUE_SHARE,
    RANGE_MARGIN,
)
from governed_mlops_local.onboarding.table import missing_mask
from governed_mlops_local.onboarding.wording import counts_text, fmt, pct, shorten

#: An id-like name with at least this share of unique values is an identifier.
_ID_NAMED_UNIQUE_SHARE = 0.5
#: Values this long on average, with spaces, are free text.
_FREE_TEXT_MEAN_LENGTH = 20
#: Up to this many distinct values a column is a category whatever its uniqueness.
_FEW_DISTINCT = 20
#: Two values: a binary column.
_BINARY = 2

_ID_TOKENS: Final = frozenset({"id", "uuid", "guid", "identifier", "index", "idx", "rownum", "key"})
_ID_NAMES: Final = frozenset({"no", "nr", "number", "row", "row_number", "record", "record_number", "unnamed_0"})
_DATE_PATTERN: Final = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\S+)?\s*$")

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


def name_tokens(name: str) -> tuple[str, ...]:
    """Lower-case words of a snake_case, kebab-case, camelCase or spaced name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return tuple(token for token in re.split(r"[^a-z0-9]+", spaced.casefold()) if token)


@dataclass(frozen=True)
class ColumnProfile:
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
    def of(cls, name: str, values: pd.Series) -> ColumnProfile:
        missing = missing_mask(values)
        present = values[~missing]
        counts = {str(value): int(count) for value, count in present.value_counts(sort=True).items()}
        parsed = {value: parse_number(value) for value in counts}
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
            tokens=name_tokens(name),
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


def decide(profile: ColumnProfile, target: pd.Series, proposal: Proposal) -> Feature | DroppedColumn:  # noqa: PLR0911 - the drop rules in order, the first that applies returns
    """The column as a feature, or why it is dropped (the first rule that drops it); warnings go to ``proposal``."""
    name = profile.name
    protected = _protected_kinds(profile.tokens)
    if profile.present == 0:
        return DroppedColumn(name, "every value is missing", protected)
    if profile.distinct == 1:
        only = shorten(next(iter(profile.counts)))
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


def _numbers_with_text_markers(profile: ColumnProfile) -> str | None:
    """``N value(s) '?' (N)`` when a few distinct text tokens are all that keeps the column from being numeric."""
    if profile.numbers is not None or not 0 < len(profile.unparsable) <= MAX_TEXT_MARKERS:
        return None
    marked = sum(profile.unparsable.values())
    if marked > (1 - MIN_NUMERIC_SHARE) * profile.present:
        return None
    return f"{marked} text value(s) {counts_text(profile.unparsable)}"


def _numeric(profile: ColumnProfile) -> Feature:
    numbers = profile.number_series()
    low, high = float(numbers.min()), float(numbers.max())
    distinct = profile.distinct
    if profile.integers and set(profile.numbers or {}) <= {"0", "1"}:
        why = "0/1 flag: kept numeric (a tree splits it exactly as a one-hot column)"
        range_min, range_max, range_why = 0.0, 1.0, "a 0/1 flag"
    else:
        if profile.integers and distinct <= FEW_LEVELS:
            why = f"integer codes {fmt(low)}..{fmt(high)}, {distinct} levels: kept numeric (ordered)"
        else:
            kind = "integers" if profile.integers else "numbers"
            why = f"{kind}, {distinct} distinct values in [{fmt(low)}, {fmt(high)}]"
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


def _categorical(profile: ColumnProfile) -> Feature:
    distinct = profile.distinct
    if profile.numbers is None:
        why = f"text, {distinct} categories"
    elif profile.leading_zeros:
        example = next(value for value in profile.counts if re.match(r"^[+-]?0\d", value))
        why = f"codes with leading zeros (e.g. {shorten(example)}), {distinct} categories: labels, not quantities"
    else:
        why = f"named like an identifier but only {distinct} distinct values: a code, treated as a category"
    return _with_missing(Feature(name=profile.name, kind="categorical", why=why), profile)


def _with_missing(feature: Feature, profile: ColumnProfile) -> Feature:
    fraction = profile.missing_fraction
    if fraction == 0:
        return feature
    limit = _missing_limit(fraction)
    observed = f"missing in {profile.missing_count} rows ({pct(fraction)})"
    margin = f"limit {pct(limit)}: 1.5 x observed + 2 points, so a batch with somewhat more gaps passes"
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
    return min(1.0, round_up(fraction * 1.5 + 0.02, 2))


def _identifier(profile: ColumnProfile) -> str | None:  # noqa: PLR0911 - one return per identifier/date/free-text rule
    """Why the column is an identifier, a date or free text, or None."""
    unique_per_row = profile.distinct == profile.present == profile.rows
    named = _is_id_named(profile.tokens)
    share = profile.distinct / profile.present
    if named and share >= _ID_NAMED_UNIQUE_SHARE:
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
    text_like = sum(len(v) for v in profile.counts) / profile.distinct >= _FREE_TEXT_MEAN_LENGTH and any(
        " " in v for v in profile.counts
    )
    what = "free text" if text_like else "very high cardinality"
    if profile.distinct > MAX_CATEGORIES:
        return (
            f"{what}: {profile.distinct} categories (more than {MAX_CATEGORIES}); one-hot columns seen a few times "
            "each overfit; group rare values into fewer categories to use it"
        )
    if profile.distinct > _FEW_DISTINCT and share > MOSTLY_UNIQUE_SHARE:
        return (
            f"{what}: {profile.distinct} categories in {profile.present} rows, mostly seen once each; group rare "
            "values to use it"
        )
    return None


def _leak(profile: ColumnProfile, target: pd.Series, target_name: str) -> str | None:
    """Why the column gives the target away (the Validate Data stage's leakage rule), or None."""
    if profile.distinct > _BINARY:
        return None
    present = ~profile.missing
    pairs = pd.DataFrame({"value": profile.values[present], "label": target[present]}).drop_duplicates()
    if len(pairs) == _BINARY and pairs["label"].nunique() == _BINARY:
        if all(pairs["value"] == pairs["label"]):
            return f"leaks the target: identical to {target_name!r}"
        mapping = ", ".join(f"{shorten(str(v))} = {shorten(str(label))}" for v, label in pairs.itertuples(index=False))
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
    why = f"observed {fmt(low)} to {fmt(high)}" + ("; not below 0" if floored else "")
    return wide_low, wide_high, why


def _round_outward(value: float, *, down: bool) -> float:
    """Round away from the observed range to two significant digits."""
    if value == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    scaled = round(value / step, 9)
    return (math.floor(scaled) if down else math.ceil(scaled)) * step
