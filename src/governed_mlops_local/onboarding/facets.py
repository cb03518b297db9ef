"""Bias facets of the protected attributes recognised by column name, and the limits the bias gate applies
to the model's outcomes for each.

The one limit that reads the data is the "no amplification" bound where the historic labels already
breach the four-fifths rule: derived from the labels, it judges the model, and the command asks a person
to review it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from governed_mlops_local.onboarding.columns import ColumnProfile, name_tokens
from governed_mlops_local.onboarding.proposal import BiasLimit, FacetProposal, Proposal, ProtectedKind
from governed_mlops_local.onboarding.rounding import round_down, round_up
from governed_mlops_local.onboarding.rules import (
    AGE_THRESHOLD,
    AMPLIFICATION_TOLERANCE,
    FOUR_FIFTHS,
    LARGE_LABEL_GAP,
    LIMIT_DECIMALS,
    MIN_FACET_HOLDOUT_ROWS,
    SMALL_FACET_HOLDOUT_ROWS,
    TEST_FRACTION,
)
from governed_mlops_local.onboarding.wording import fmt, pct, shorten

#: A column whose largest value is outside these bounds does not hold ages in years.
_YOUNGEST_MAX_AGE, _OLDEST_AGE = 14, 130

_TRUTHY: Final = frozenset({"yes", "y", "true", "t", "1"})
_FALSY: Final = frozenset({"no", "n", "false", "f", "0"})
_FEMALE: Final = frozenset({"female", "f", "woman", "women", "girl", "w"})
_WHITE: Final = frozenset({"white", "caucasian"})
_FACET_NAMES: Final[dict[ProtectedKind, str]] = {
    "age": "age",
    "sex": "sex",
    "marital status": "marital_status",
    "race/ethnicity": "race_ethnicity",
    "religion": "religion",
    "nationality": "nationality",
    "disability": "disability",
}


def facet_for(
    profile: ColumnProfile, kinds: tuple[ProtectedKind, ...], positive: Any, proposal: Proposal
) -> FacetProposal | None:
    """The facet of a protected column (``kinds[0]`` decides how), or None with a note or warning on ``proposal``."""
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
    return _facet(base, profile.name, kind, why, selected, positive=positive, proposal=proposal, values=tuple(values))


def _age_threshold_facet(profile: ColumnProfile, positive: Any, proposal: Proposal) -> FacetProposal | None:
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
    if float(numbers.max()) < _YOUNGEST_MAX_AGE or float(numbers.max()) > _OLDEST_AGE:  # not years of age
        proposal.warnings.append(
            f"{name}: values {fmt(float(numbers.min()))}..{fmt(float(numbers.max()))} do not look like ages in "
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
        positive=positive,
        proposal=proposal,
        threshold=float(AGE_THRESHOLD),
    )


def _disadvantaged_values(profile: ColumnProfile, kind: ProtectedKind) -> tuple[list[str], str]:
    """Facet d's values for a categorical protected attribute, and why those."""
    values = list(profile.counts)
    lowered = {value: name_tokens(value) for value in values}
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
            reason = f"every value but the most frequent ({shorten(values[0])}, presumed the domestic group)"
    if recognised and len(recognised) < len(values):
        return recognised, f"facet d: {reason}"
    smallest = min(values, key=lambda v: (profile.counts[v], v))
    return [smallest], (
        f"facet d: the smallest group ({shorten(smallest)}, {profile.counts[smallest]} rows): no value is "
        f"recognised as the group commonly treated as disadvantaged for {kind}; replace it if another group is"
    )


def _age_band_upper(value: str) -> float | None:
    if re.search(r"\+|>|over|above|older", value, re.IGNORECASE):
        return None
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", value)]
    return max(numbers) if numbers else None


def _facet(  # noqa: PLR0913 - one facet proposal is built from all of these; all but five are keyword-only
    base: str,
    column: str,
    kind: ProtectedKind,
    why: str,
    selected: Any,
    *,
    positive: Any,
    proposal: Proposal,
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
    if round_down(allowed, LIMIT_DECIMALS) <= 0:
        return None
    if label_ratio <= 1:
        bound = round_down(allowed, LIMIT_DECIMALS)
        if bound >= low:
            return BiasLimit("DI", low, high, "policy", label_ratio)
        return BiasLimit("DI", bound, high, "no amplification", label_ratio, tolerance)
    bound = round_up(1 / allowed, LIMIT_DECIMALS)
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
    bound = round_up(gap + tolerance, LIMIT_DECIMALS)
    if bound <= high:
        return BiasLimit("DPPL", low, high, "policy", label_gap)
    if bound >= 1:
        return None
    if label_gap > 0:
        return BiasLimit("DPPL", low, bound, "no amplification", label_gap, tolerance)
    return BiasLimit("DPPL", -bound, high, "no amplification", label_gap, tolerance)


def choose_bias_limits(proposal: Proposal) -> None:
    """Per facet: the DPPL and DI limits, or why they are reported only; warnings where a person must look."""
    for facet in proposal.facets:
        rates = (
            f"rate of {proposal.positive_label!r}: {pct(facet.rate_d)} in facet d vs {pct(facet.rate_a)} in the rest"
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
