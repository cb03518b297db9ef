"""Writing a :class:`~governed_mlops_local.onboarding.proposal.Proposal` as the commented
``models/<name>/config.yaml``: every inferred choice explained in a comment."""

from __future__ import annotations

from datetime import date
from pathlib import PurePath

from governed_mlops.config import APPROVALS_REQUIRED
from governed_mlops_local.onboarding.proposal import Proposal
from governed_mlops_local.onboarding.rules import (
    AMPLIFICATION_TOLERANCE,
    CANARY_BAND,
    HYPERPARAMETERS,
    MIN_AUC,
    MIN_FACET_HOLDOUT_ROWS,
    MIN_KS,
    RANGE_MARGIN,
    SPLIT_SEED,
    TEST_FRACTION,
    TRAINING_SEED,
)
from governed_mlops_local.onboarding.wording import pct, shorten
from governed_mlops_local.onboarding.yaml_writer import YamlWriter

#: The configuration's ``bias.not_assessed_reason`` when no column is recognised as a protected attribute.
NOT_ASSESSED_REASON = (
    "no column of {source} is named like a protected attribute; a model-risk reviewer must confirm that the data "
    "holds none under another name"
)


def render_config(proposal: Proposal, *, generated_on: date, command: str) -> str:
    """The configuration as YAML text, every inferred choice explained in a comment."""
    out = YamlWriter()
    _render_header(out, proposal, generated_on=generated_on, command=command)
    _render_model(out, proposal)
    _render_dataset(out, proposal)
    _render_validation(out, proposal)
    _render_split_and_training(out)
    _render_gates(out, proposal)
    _render_bias(out, proposal)
    _render_monitoring(out)
    return out.text()


def _render_header(out: YamlWriter, p: Proposal, *, generated_on: date, command: str) -> None:
    """Where the file came from: the project, the command, the CSV and its digest."""
    out.comments(
        0,
        f"Pipeline configuration of model project {p.name!r} (models/{p.name}/config.yaml), generated on "
        f"{generated_on.isoformat()} by: {command}",
        f"Inferred from {p.source} ({p.rows:,} rows, {p.columns} columns, sha256 {p.sha256[:16]}...). Every "
        "inferred choice is explained in a comment: review them before the first upload. Every key is "
        'documented in README.md ("Configuration"); unknown keys are refused.',
    )


def _render_model(out: YamlWriter, p: Proposal) -> None:
    """``model``: risk tier, approvers and the canary band around the observed approval rate."""
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
        f"{pct(p.positive_rate)} of the onboarded rows are {p.positive_label!r}; a canary whose rate of "
        f"{p.positive_label!r} leaves that rate +/- {CANARY_BAND * 100:.0f} points (clipped to [0.01, 0.99]) is "
        "rolled back.",
    )
    out.key(2, "min_positive_rate", low)
    out.key(2, "max_positive_rate", high)
    out.blank()


def _render_dataset(out: YamlWriter, p: Proposal) -> None:
    """``dataset``: target, labels, the features and the columns that are not features."""
    out.key(0, "dataset", None)
    out.key(1, "name", p.dataset_name, f"from the file name {p.source}")
    out.key(1, "target", p.target)
    counts = ", ".join(f"{shorten(label)} {count:,}" for label, count in p.label_counts.items())
    out.key(1, "positive_label", p.positive_label, f"the favourable outcome (--positive-label); labels: {counts}")
    if p.attribution:
        out.key(1, "attribution", p.attribution)
    else:
        out.key(1, "attribution", "", "not given (--attribution): record the data's source and licence here")
    if p.delimiter != ",":
        words = {";": "semicolons", "\t": "tabs", "|": "pipes"}[p.delimiter]
        out.key(1, "delimiter", p.delimiter, f"{p.source} separates its fields with {words}")
    if p.skip_initial_space:
        out.key(1, "skip_initial_space", True, "values follow their separator after a space, which is not part of them")
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
    _render_ranges_and_missing(out, p)


def _render_ranges_and_missing(out: YamlWriter, p: Proposal) -> None:
    """``dataset.ranges`` and ``dataset.missing``: limits per feature, with the rule."""
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


def _render_validation(out: YamlWriter, p: Proposal) -> None:
    """``validation``: the limits chosen so this CSV passes and a broken export does not."""
    out.comments(0, "Validation limits, chosen so this CSV passes and a broken export does not.")
    out.key(0, "validation", None)
    for key in ("min_rows", "max_missing_fraction", "min_minority_fraction", "max_duplicate_fraction"):
        limit = p.limits[key]
        out.comments(1, limit.why)
        out.key(1, key, _number(limit.value))
    field_length = p.limits["max_field_length"]
    out.key(1, "max_field_length", _number(field_length.value), field_length.why)
    out.blank()


def _render_split_and_training(out: YamlWriter) -> None:
    """``split`` and ``training``: fixed seeds and the credit-risk model's settings."""
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


def _render_gates(out: YamlWriter, p: Proposal) -> None:
    """``gates``: quality minimums set as policy, not read off this data."""
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
        f"{shorten(max(p.label_counts, key=lambda k: p.label_counts[k]))} scores {pct(majority)} here).",
    )
    out.blank()


def _render_monitoring(out: YamlWriter) -> None:
    """``monitoring``: the pipeline's default sample size for a drift verdict."""
    out.key(0, "monitoring", None)
    out.key(1, "min_samples", 100, "fewer captured requests in a window give no drift verdict (the default)")


def _render_bias(out: YamlWriter, p: Proposal) -> None:
    """``bias``: the facets with their label rates, and the limits on the model's outcomes with their rule."""
    if not p.facets:
        out.comments(
            0,
            "No facet: no column name was recognised as a protected attribute (age, sex/gender, marital "
            "status, race/ethnicity, religion, nationality/foreign worker, disability). The bias jobs still run "
            "and report 'not assessed' with the reason below, which the approval page and the model card show. "
            "If the data holds such a column under another name, list it under facets and remove the reason.",
        )
        out.key(0, "bias", None)
        out.flow(1, "facets", [])
        out.key(1, "not_assessed_reason", NOT_ASSESSED_REASON.format(source=PurePath(p.source).name))
        out.blank()
        return
    out.comments(
        0,
        "Bias analysis (SageMaker Clarify metrics) on the protected attributes recognised by column name; they "
        "are not model features (see the dropped columns above). Facet d is the group that may be "
        "disadvantaged, facet a every other row. The label rates of this data are in the comments; the limits "
        "(under thresholds) are fairness policy (fair lending, for credit) unless these labels already breach it.",
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
            f"this data: {facet.rows_d:,} rows in facet d, {facet.rows_a:,} in facet a; rate of "
            f"{p.positive_label!r} "
            f"{pct(facet.rate_d)} vs {pct(facet.rate_a)}: DPL {facet.dpl:+.3f}"
            + (f", label ratio {di:.3f}" if di is not None else ""),
        )
    out.comments(
        1,
        "No group_column: set one (a column that splits the rows into strata, e.g. a product or region) to "
        "compute CDDL / CDDPL. RD (equal opportunity), AD "
        "and the other metrics are reported without a limit; add one to gate them.",
    )
    tolerance = f"{AMPLIFICATION_TOLERANCE:g}"
    out.comments(
        1,
        "Limits act on the model's outcomes: DI and DPPL of its predictions on the hold-out (post-training). "
        "Label metrics (DPL and the other pre-training metrics) describe the historic decisions this model learns "
        "from; they are computed and shown to approvers in the evidence report, not gated.",
        f"A facet is gated when each side expects at least {MIN_FACET_HOLDOUT_ROWS} hold-out rows (rows x "
        f"split.test_fraction): with fewer, one row moves a group's rate by 3.3 points or more and "
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


def _number(value: float | None) -> int | float | None:
    """An int when integral (``25`` rather than ``25.0`` in the YAML)."""
    if value is None:
        return None
    rounded = round(value, 10)
    return int(rounded) if float(rounded).is_integer() else rounded
