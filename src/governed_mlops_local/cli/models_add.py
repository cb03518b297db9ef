"""``mlops models add``: onboard a new tabular credit CSV as a model project, ``models/<name>/config.yaml``.

    mlops models add loans-2027 --data exports/loans.csv --target status --positive-label repaid

It inspects the CSV (:mod:`governed_mlops_local.onboarding`), writes a commented configuration that
the same CSV passes validation with, prints what it decided and why, and names the next command.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from governed_mlops_local.project import find_project_dir

if TYPE_CHECKING:
    from governed_mlops.config import RiskTier
    from governed_mlops_local.onboarding import Proposal


def _echo(text: str = "", *, err: bool = False, **style: Any) -> None:
    click.secho(text, err=err, **style)


def _fail(message: str, hint: str = "") -> NoReturn:
    _echo(f"error: {message}", err=True, fg="red")
    if hint:
        _echo(f"  {hint}", err=True)
    raise SystemExit(2)


@click.command("add")
@click.argument("name")
@click.option(
    "--data",
    "data_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CSV to onboard (comma-separated, UTF-8, header row).",
)
@click.option("--target", required=True, help="The column to predict (two distinct values).")
@click.option("--positive-label", required=True, help="The target value meaning the favourable outcome (e.g. repaid).")
@click.option(
    "--risk-tier",
    type=click.Choice(["high", "medium", "low"]),
    default="high",
    show_default=True,
    help="high: two approvers (credit decisions about people); medium: one; low: automatic.",
)
@click.option("--attribution", default="", help="The dataset's source and licence, recorded in the configuration.")
@click.option("--force", is_flag=True, help="Overwrite an existing models/NAME/config.yaml.")
def models_add(
    name: str,
    data_file: Path,
    target: str,
    positive_label: str,
    risk_tier: str,
    attribution: str,
    force: bool,
) -> None:
    """Create models/NAME/config.yaml from a CSV: features, missing values, limits and bias facets, explained."""
    # Imported here: pandas and the config schema take ~1 s, which no other command may pay at start-up.
    from governed_mlops import model_projects
    from governed_mlops.errors import ConfigError
    from governed_mlops_local.onboarding import OnboardingError, onboard

    try:
        model_projects.check_name(name)
        project = find_project_dir()
    except (ConfigError, FileNotFoundError) as exc:
        _fail(str(exc))
    relative = Path(model_projects.MODELS_DIR) / name / model_projects.CONFIG_FILE
    path = project / relative
    if path.exists() and not force:
        _fail(f"{relative} already exists", "add --force to overwrite it (review the diff before committing)")
    command = shlex.join(
        [
            "mlops",
            "models",
            "add",
            name,
            "--data",
            str(data_file),
            "--target",
            target,
            "--positive-label",
            positive_label,
            *(["--risk-tier", risk_tier] if risk_tier != "high" else []),
        ]
    )
    try:
        proposal, text, _ = onboard(
            data_file.read_bytes(),
            source=data_file.name,
            name=name,
            target=target,
            positive_label=positive_label,
            generated_on=datetime.now(UTC).date(),
            command=command,
            risk_tier=cast("RiskTier", risk_tier),  # click.Choice admits only the three tiers
            attribution=attribution,
        )
    except OnboardingError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {data_file}: {exc}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        _, spec = model_projects.load_project(project, name)
    except ConfigError as exc:  # cannot happen: onboard() parsed the same text; kept as the last line of defence
        _fail(f"{relative} was written but does not load: {exc}")
    _summary(proposal, data_file)
    _echo()
    _echo(
        f"Wrote {relative}: endpoint {spec.endpoint_name}, registry group {spec.model_package_group}, "
        f"risk tier {spec.risk_tier} ({spec.approvals_required} approval(s) from {spec.approvers_group}).",
        fg="green",
    )
    if not attribution:
        _echo(
            "Attribution not recorded: dataset.attribution is empty; fill in the data's source and licence "
            "(or pass --attribution) before publishing the model."
        )
    _echo("Review the comments in the file, then train it:")
    _echo(f"  mlops upload {shlex.quote(str(data_file))} --model {name} --wait", bold=True)
    if spec.approvals_required:
        approvers = " ".join(["--approve-as carol.approver", "--approve-as dave.risk"][: spec.approvals_required])
        _echo(
            f"It stops at the approval with a link for {spec.approvals_required} approver(s) from "
            f"{spec.approvers_group}; locally you may add {approvers} to approve unattended."
        )


def _summary(p: Proposal, data_file: Path) -> None:
    from governed_mlops_local.onboarding import AMPLIFICATION_TOLERANCE, MIN_FACET_HOLDOUT_ROWS

    counts = ", ".join(f"{label!r} {count:,} ({count / p.rows:.1%})" for label, count in p.label_counts.items())
    _echo(f"Inspected {data_file}: {p.rows:,} rows, {p.columns} columns.")
    _echo(f"Target {p.target!r}: {counts}; positive label {p.positive_label!r}.")
    _echo()
    _echo(f"Features ({len(p.features)}):", bold=True)
    _echo(f"  numeric ({len(p.numeric)}):")
    for feature in p.numeric:
        _echo(f"    {feature.name}  - {feature.why}")
    _echo(f"  categorical ({len(p.categorical)}):")
    for feature in p.categorical:
        _echo(f"    {feature.name}  - {feature.why}")
    _echo()
    _echo(f"Not features ({len(p.dropped)}):" if p.dropped else "Not features: none (every column is used).", bold=True)
    for dropped in p.dropped:
        _echo(f"  {dropped.name}  - {dropped.why}")
    _echo()
    missing = [f for f in p.features if f.policy is not None]
    _echo("Missing values:" if missing else "Missing values: none in any feature.", bold=True)
    for feature in missing:
        _echo(
            f"  {feature.name}: {feature.missing_fraction:.1%} missing -> {feature.policy}, "
            f"max_fraction {feature.max_fraction:g}"
        )
    _echo()
    limits = ", ".join(f"{key} {limit.value:g}" for key, limit in p.limits.items())
    _echo("Validation limits (this CSV passes them):", bold=True)
    _echo(f"  {limits}")
    low, high = p.canary
    _echo(
        f"  canary band for the rate of {p.positive_label!r}: [{low:g}, {high:g}] around the observed "
        f"{p.positive_rate:.1%}"
    )
    _echo()
    if p.facets:
        _echo(f"Bias facets ({len(p.facets)}), excluded from the model features:", bold=True)
        _echo(
            "  Policy: the gate judges the model's hold-out outcomes (DI, DPPL), not the historic labels (DPL is "
            "reported); DI [0.8, 1.25] (four-fifths) and DPPL [-0.2, 0.2],"
        )
        _echo(
            f"  or 'no amplification' (the labels' own value +/- {AMPLIFICATION_TOLERANCE:g}) where the labels breach "
            f"or nearly breach them; gated when each side expects >= {MIN_FACET_HOLDOUT_ROWS} hold-out rows."
        )
        for facet in p.facets:
            selector = f"<= {facet.threshold:g}" if facet.threshold is not None else f"in {list(facet.values or ())}"
            di = f", label ratio {facet.label_di:.3f}" if facet.label_di is not None else ""
            _echo(
                f"  {facet.name}: {facet.column} {selector} ({facet.rows_d:,} rows vs {facet.rows_a:,}); "
                f"rate of {p.positive_label!r} {facet.rate_d:.1%} vs {facet.rate_a:.1%}: DPL {facet.dpl:+.3f}{di}"
            )
            facet_limits = p.bias_limits.get(facet.name)
            if facet_limits:
                gated = ", ".join(
                    f"{limit.metric} [{limit.low:g}, {limit.high:g}]"
                    + (" (no amplification: review)" if limit.rule == "no amplification" else "")
                    for limit in facet_limits
                )
                _echo(f"    gated: {gated}")
            else:
                _echo("    not gated: DPPL and DI reported only (see the note below)")
    else:
        _echo("Bias facets: none.", bold=True)
    for note in p.notes:
        _echo(f"  note: {note}")
    if p.warnings:
        _echo()
        _echo(f"Warnings ({len(p.warnings)}):", fg="yellow", bold=True)
        for warning in p.warnings:
            _echo(f"  ! {warning}", fg="yellow")
