"""``mlops explain``: a registered model's decision for one input row, with the reasons for it.

The command reads ``data_dir`` from the context object the main ``mlops`` group sets up. Everything
it uses comes from the model version's lineage (archive, configuration, dataset), checked by sha256;
see :mod:`governed_mlops_local.services.explain_decision` for the rules on missing and unknown fields.
Exit codes: 0 explained, 2 unusable input (unknown model version, bad input file, row out of
range, missing features) with the reason on stderr. With ``--aws --stack NAME`` the lineage comes from
the stack's registry and the archive, configuration and dataset from its S3 buckets (by version id).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from governed_mlops.errors import PipelineError
from governed_mlops_local.cli.aws import reading_stack, stack_options

if TYPE_CHECKING:
    from governed_mlops.adapters.model_registry import ModelRegistry
    from governed_mlops.adapters.object_store import ObjectStore
    from governed_mlops_local.services.explain_decision import ExplainedDecision

_DEFAULT_TOP_K = 4  # services.explain_decision.DEFAULT_TOP_K, repeated so `mlops --help` need not import xgboost


def _fail(message: str, hint: str = "") -> NoReturn:
    click.secho(f"error: {message}", err=True, fg="red")
    if hint:
        click.echo(f"  {hint}", err=True)
    raise SystemExit(2)


def _data_dir(obj: Any) -> Path:
    data_dir = getattr(obj, "data_dir", None)
    if data_dir is None:
        raise click.UsageError("no data directory: run this as `mlops explain ...`")
    return Path(data_dir)


@click.command("explain")
@click.argument("model_version")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The row to score, as a JSON object {feature: value} (e.g. examples/applicant_denied.json).",
)
@click.option(
    "--row",
    type=click.IntRange(min=0),
    default=None,
    help="Explain data row N (0-based, after the header) of the dataset the model was trained from.",
)
@click.option(
    "--top",
    "top_k",
    type=click.IntRange(min=1),
    default=_DEFAULT_TOP_K,
    show_default=True,
    help="How many reasons to give.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Score features absent from --input as missing values instead of refusing the input.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@stack_options
@click.pass_obj
def explain(
    obj: Any,
    model_version: str,
    input_file: Path | None,
    row: int | None,
    top_k: int,
    allow_missing: bool,
    as_json: bool,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Score one row with MODEL_VERSION and say why: the decision in the model's own terms, the score, the reasons.

    The decision threshold is the one of the configuration pinned in the model's lineage. Reasons are
    the features that lowered the score most (exact TreeSHAP contributions), in plain words.
    """
    if (input_file is None) == (row is None):
        raise click.UsageError("give exactly one of --input ROW.json or --row N")
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            explained = _explain(stack.registry(), stack.store(), model_version, input_file, row, top_k, allow_missing)
    else:
        data_dir = _data_dir(obj)
        if not data_dir.is_dir():
            _fail(f"no local runtime state in {data_dir}", "register a model first (mlops demo) or pass --data-dir")
        from governed_mlops.adapters.model_registry import LocalModelRegistry
        from governed_mlops.adapters.object_store import LocalObjectStore

        registry, store = LocalModelRegistry(data_dir), LocalObjectStore(data_dir)
        try:
            explained = _explain(registry, store, model_version, input_file, row, top_k, allow_missing)
        except PipelineError as exc:
            _fail(str(exc))

    for warning in explained.warnings:
        click.secho(f"warning: {warning}", err=True, fg="yellow")
    if as_json:
        click.echo(json.dumps(explained.to_json_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(_render(explained))


def _explain(
    registry: ModelRegistry,
    store: ObjectStore,
    model_version: str,
    input_file: Path | None,
    row: int | None,
    top_k: int,
    allow_missing: bool,
) -> ExplainedDecision:
    """Load the model the lineage names, read the applicant, explain (named errors propagate)."""
    # Imported here: numpy, pandas and xgboost take a second to load and only this command needs them.
    from governed_mlops_local.services import explain_decision as service

    model = service.load_model(registry, store, model_version)
    if input_file is not None:
        document = service.parse_applicant_json(_read_text(input_file), source=str(input_file))
        applicant = service.applicant_from_json(model, document, source=str(input_file), allow_missing=allow_missing)
    else:
        assert row is not None
        applicant = service.applicant_from_training_row(model, store, row)
    return service.explain_applicant(model, applicant, top_k)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")


def _render(explained: ExplainedDecision) -> str:
    model = explained.model
    record = model.record
    decision = explained.decision
    applicant = explained.applicant
    spec = model.spec
    comparison = "at or above" if decision.favourable else "below"
    lines = [
        f"Model       {record.model_version} [{record.status}]",
        f"Input       {applicant.source}",
        f"Prediction  {decision.decision.upper()}",
        f"Score       {decision.score:.4f}, {comparison} the decision threshold {decision.threshold:g} "
        f"(the model's probability that {spec.target} is {spec.positive_label!r})",
    ]
    if applicant.actual_label is not None:
        lines.append(f"Observed    {spec.target} = {applicant.actual_label!r} (the label in the training data)")
    lines.append("")
    if explained.denied:
        lines.append(
            f"Principal reasons for {decision.decision!r} (the features that lowered the score most), strongest first:"
        )
    else:
        lines.append(
            f"{decision.decision.capitalize()}: the outcome is favourable. Factors that lowered the score, "
            "strongest first:"
        )
    if decision.reasons:
        lines += [f"  {rank}. {reason.text}" for rank, reason in enumerate(decision.reasons, start=1)]
    else:
        lines.append("  none: no feature lowered this row's score")
    lines.append("")
    if applicant.missing:
        lines.append(
            "Missing values: scored as missing (no number, no category), as an empty field of the "
            f"training data would be: {', '.join(applicant.missing)}"
        )
    else:
        lines.append("Missing values: none (every feature of the model had a value)")
    if applicant.unused_columns:
        lines.append(f"Not model inputs, ignored: {', '.join(applicant.unused_columns)}")
    lines.append(
        f"Lineage     model sha256 {record.model_artifact.sha256[:12]}, config sha256 {record.config.sha256[:12]}, "
        f"threshold from {record.config.ref.key}"
    )
    return "\n".join(lines)
