"""The whole of ``mlops models add``'s inference: read, infer, render, and check what was rendered by
running the Validate Data stage on the same bytes before anything is written."""

from __future__ import annotations

from datetime import date

from governed_mlops import model_projects
from governed_mlops.config import PipelineConfig, RiskTier, parse_config
from governed_mlops.domain.validation import validate_dataset
from governed_mlops.errors import ConfigError
from governed_mlops.models import ObjectDigest, S3Ref
from governed_mlops_local.onboarding.errors import GeneratedConfigInvalidError
from governed_mlops_local.onboarding.inference import infer, warn_near_leaks
from governed_mlops_local.onboarding.proposal import Proposal
from governed_mlops_local.onboarding.render import render_config
from governed_mlops_local.onboarding.table import read_table


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


def onboard(  # noqa: PLR0913 - keyword-only past the table: the onboarding options, named at the call site
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
    warn_near_leaks(table, proposal)
    text = render_config(proposal, generated_on=generated_on, command=command)
    config = check_generated_config(text, proposal, data)
    return proposal, text, config
