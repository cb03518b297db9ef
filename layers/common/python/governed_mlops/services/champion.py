"""Champion and challenger stages: "Compare with Champion" (after Prepare Data) and "Check Champion Gate"
(after the challenger's own gates). The rules are in :mod:`governed_mlops.domain.champion`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore, StoredObject
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.champion import (
    ChampionComparison,
    InputDigests,
    compare,
    incomparable_reason,
    read_predictions,
    unseen_rows,
)
from governed_mlops.domain.gates import read_metrics
from governed_mlops.domain.split import split_dataset
from governed_mlops.errors import ArtifactNotFoundError, ChampionGateFailed, ConfigError
from governed_mlops.models import ChampionOutcome, ModelVersion, PipelineRequest, S3Ref, StageEvent, StageResult
from governed_mlops.services.audit import AuditSink
from governed_mlops.services.stages import json_document

#: Where the comparison is written, under the run's artifacts prefix.
COMPARISON_REPORT = "gates/champion_comparison.json"
ACTOR = "system:compare-champion"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digests(record: ModelVersion) -> InputDigests:
    return InputDigests(data=record.data.sha256, code=record.source_sha256, config=record.config.sha256)


def _put_report(store: ObjectStore, request: PipelineRequest, comparison: ChampionComparison) -> StoredObject:
    prefix = S3Ref.from_uri(request.artifacts_prefix + COMPARISON_REPORT)
    return store.put(prefix.bucket, prefix.key, json_document(comparison.model_dump(mode="json")), "application/json")


def _stage_result(stored: StoredObject, comparison: ChampionComparison) -> StageResult:
    drop = comparison.auc.drop if comparison.auc is not None else None
    return StageResult(
        report=stored.ref,
        report_sha256=stored.sha256,
        summary={"verdict": comparison.verdict, "champion": comparison.champion, "auc_drop": drop},
    )


def _champion_config(store: ObjectStore, champion: ModelVersion) -> PipelineConfig | str:
    """The champion's pinned configuration, or why it no longer parses (the schema may have moved on)."""
    try:
        return parse_config(store.get(champion.config.ref), source=champion.config.ref.pinned_uri)
    except ConfigError as exc:
        return f"the champion's configuration no longer parses: {exc}"


def compare_with_champion(
    event: StageEvent, store: ObjectStore, registry: ModelRegistry, audit: AuditSink
) -> ChampionOutcome:
    """Find the champion and decide what this run is: the group's first version, an identical retrain
    (``NoChange``: recorded in the audit ledger, the run ends), a challenger, or not comparable with it."""
    request, prepared = event.request, event.prepared
    if prepared is None or event.validation is None:
        raise ArtifactNotFoundError("Compare with Champion needs the validation and prepared-data results")
    group = request.model.model_package_group
    champion = registry.latest_approved(group)
    if champion is None:
        return ChampionOutcome(
            outcome="FirstVersion", model_package_group=group, reason=f"{group} has no approved version yet"
        )
    config_bytes = store.get(request.config)
    recorded = event.validation.summary.get("data_sha256")
    challenger = InputDigests(
        data=recorded if isinstance(recorded, str) else _sha256(store.get(request.data)),
        code=_sha256(store.get(prepared.source)),
        config=_sha256(config_bytes),
    )
    known = _digests(champion)
    changed = challenger.changed_since(known)
    outcome: dict[str, Any] = {
        "model_package_group": group,
        "champion": champion.model_version,
        "champion_artifact": champion.model_artifact.ref.uri,
    }
    if not changed:
        audit.append(
            ACTOR,
            "pipeline.no_change",
            event.execution_name,
            {
                "model": request.model.name,
                "champion": champion.model_version,
                "champion_execution": champion.execution_name,
            },
            {"data": challenger.data, "code": challenger.code, "config": challenger.config},
        )
        reason = f"same data, job code and configuration (sha256) as the champion {champion.model_version}"
        return ChampionOutcome(outcome="NoChange", reason=reason, **outcome)
    champion_config = _champion_config(store, champion)
    config = parse_config(config_bytes, source=request.config.pinned_uri)
    why_not = champion_config if isinstance(champion_config, str) else incomparable_reason(champion_config, config)
    if why_not is None:
        reason = f"{', '.join(changed)} changed since the champion {champion.model_version}"
        return ChampionOutcome(outcome="Challenge", reason=reason, **outcome)
    comparison = ChampionComparison(
        verdict="not-comparable",
        champion=champion.model_version,
        champion_execution=champion.execution_name,
        challenger_execution=event.execution_name,
        changed=changed,
        digests={"champion": known, "challenger": challenger},
        reason=why_not,
    )
    stored = _put_report(store, request, comparison)
    return ChampionOutcome(
        outcome="Incomparable", reason=why_not, comparison=_stage_result(stored, comparison), **outcome
    )


def _json(store: ObjectStore, uri: str, name: str) -> dict[str, Any]:
    return dict(json.loads(store.get(S3Ref.from_uri(uri.rstrip("/") + "/" + name))))


def _registered_json(store: ObjectStore, record: ModelVersion, name: str) -> dict[str, Any] | None:
    digest = record.reports.get(name)
    return dict(json.loads(store.get(digest.ref))) if digest is not None else None


def check_champion_gate(event: StageEvent, store: ObjectStore, registry: ModelRegistry) -> ChampionOutcome:
    """Compare the challenger with the champion scored on the same hold-out; write ``champion_comparison.json``
    (always, before deciding) and raise :class:`ChampionGateFailed` if the challenger falls short."""
    request, prepared, outcome = event.request, event.prepared, event.champion
    if outcome is None or outcome.outcome != "Challenge" or outcome.champion is None:
        raise ArtifactNotFoundError("Check Champion Gate runs only for a challenger (champion outcome 'Challenge')")
    evaluation_uri, champion_uri = event.evaluation_uri, event.champion_evaluation_uri
    bias_uri, explain_uri = event.bias_post_uri, event.explain_uri
    if (
        prepared is None
        or event.validation is None
        or evaluation_uri is None
        or champion_uri is None
        or bias_uri is None
        or explain_uri is None
    ):
        raise ArtifactNotFoundError(
            "Check Champion Gate needs the prepared data and both evaluations, the bias and explainability outputs"
        )
    config_bytes = store.get(request.config)
    config = parse_config(config_bytes, source=request.config.pinned_uri)
    champion = registry.get(outcome.champion)
    champion_config = _champion_config(store, champion)
    if isinstance(champion_config, str):
        raise ConfigError(champion_config)
    # The rows the champion trained on: its split, recomputed from its pinned data and configuration.
    champion_split = split_dataset(store.get(champion.data.ref), champion_config)
    test_csv = store.get(prepared.test)
    recorded = event.validation.summary.get("data_sha256")
    challenger = InputDigests(
        data=recorded if isinstance(recorded, str) else _sha256(store.get(request.data)),
        code=_sha256(store.get(prepared.source)),
        config=_sha256(config_bytes),
    )
    positive = config.dataset.positive_label
    evaluations = {"challenger": evaluation_uri, "champion": champion_uri}
    comparison = compare(
        champion=champion.model_version,
        champion_execution=champion.execution_name,
        challenger_execution=event.execution_name,
        digests={"champion": _digests(champion), "challenger": challenger},
        limits=config.gates.champion,
        thresholds=config.bias.thresholds if config.bias is not None else {},
        metrics={side: read_metrics(_json(store, uri, "evaluation.json")) for side, uri in evaluations.items()},
        predictions={
            side: read_predictions(store.get(S3Ref.from_uri(uri.rstrip("/") + "/predictions.csv")), positive)
            for side, uri in evaluations.items()
        },
        hold_out_rows=prepared.test_rows,
        unseen=unseen_rows(test_csv, champion_split.train_csv),
        bias_reports={
            "challenger": _json(store, bias_uri, "analysis.json"),
            "champion": _registered_json(store, champion, "bias_post"),
        },
        explainability={
            "challenger": _json(store, explain_uri, "explainability.json"),
            "champion": _registered_json(store, champion, "explainability"),
        },
    )
    stored = _put_report(store, request, comparison)
    if comparison.failures:
        raise ChampionGateFailed(
            f"the challenger falls short of the champion {champion.model_version}: "
            f"{'; '.join(comparison.failures)} (report: {stored.ref.uri})"
        )
    return outcome.model_copy(update={"comparison": _stage_result(stored, comparison)})
