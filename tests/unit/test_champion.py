"""Champion and challenger: no-change detection, comparability, and the champion gate's rules."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import roc_auc_score

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.config import ChampionGate, MetricLimit, parse_config
from governed_mlops.domain.champion import (
    InputDigests,
    bias_severity,
    compare,
    compare_bias,
    incomparable_reason,
    read_predictions,
    roc_auc,
    unseen_rows,
)
from governed_mlops.domain.split import split_dataset
from governed_mlops.errors import ConfigError
from governed_mlops.model_projects import model_spec
from governed_mlops.models import (
    ApprovalDecision,
    CodeRef,
    ModelVersion,
    ObjectDigest,
    PipelineRequest,
    PreparedData,
    S3Ref,
    StageEvent,
    StageResult,
    TriggerInfo,
)
from governed_mlops.services.champion import compare_with_champion
from tests.unit.conftest import GERMAN_CREDIT_CONFIG, REPO_ROOT

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ARTIFACTS = "governed-mlops-artifacts"
DATA = "governed-mlops-data"


# --------------------------------------------------------------------------------------------------
# AUC, severity, rows


def test_auc_equals_scikit_learn_with_tied_scores() -> None:
    rng = random.Random(7)
    labels = [rng.random() < 0.3 for _ in range(400)]
    # Scores on a coarse grid: many ties, as a shallow tree ensemble gives.
    scores = [round(rng.random() * 0.6 + (0.3 if label else 0.0), 1) for label in labels]

    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_of_one_label_is_undefined() -> None:
    assert roc_auc([True, True], [0.2, 0.9]) is None


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        (1.10, MetricLimit(min=0.8, max=1.2), 0.10),  # |1.1 - 1.0|
        (0.85, MetricLimit(min=0.8, max=1.2), 0.15),
        (0.30, MetricLimit(max=0.5), 0.30),  # max only: larger is worse
        (0.30, MetricLimit(min=0.1), -0.30),  # min only: smaller is worse
    ],
    ids=["two-sided-above", "two-sided-below", "max-only", "min-only"],
)
def test_bias_severity_is_the_distance_from_where_the_limit_wants_the_value(
    value: float, limit: MetricLimit, expected: float
) -> None:
    assert bias_severity(value, limit) == pytest.approx(expected)


def test_rows_the_champion_trained_on_are_not_unseen(german_credit_bytes: bytes) -> None:
    config = parse_config(GERMAN_CREDIT_CONFIG.read_text())
    # Given the champion trained on the full dataset, and a challenger on the same rows minus the first 100
    champion = split_dataset(german_credit_bytes, config)
    lines = german_credit_bytes.decode().splitlines(keepends=True)
    challenger = split_dataset("".join([lines[0], *lines[101:]]).encode(), config)

    unseen = unseen_rows(challenger.test_csv, champion.train_csv)

    # Then only the challenger's hold-out rows that were in the champion's hold-out too are unseen
    test_lines = challenger.test_csv.decode().splitlines()[1:]
    champion_test = set(champion.test_csv.decode().splitlines()[1:])
    assert unseen == [n for n, line in enumerate(test_lines) if line in champion_test]
    assert 0 < len(unseen) < challenger.test_rows


def test_the_same_split_leaves_every_hold_out_row_unseen(german_credit_bytes: bytes) -> None:
    config = parse_config(GERMAN_CREDIT_CONFIG.read_text())
    split = split_dataset(german_credit_bytes, config)

    assert unseen_rows(split.test_csv, split.train_csv) == list(range(split.test_rows))


def test_predictions_are_read_by_row_with_the_positive_label() -> None:
    data = b"row_index,actual,score\n0,good,0.9\n1,bad,0.2\n"

    assert read_predictions(data, "good") == {0: (True, 0.9), 1: (False, 0.2)}


# --------------------------------------------------------------------------------------------------
# What may be compared, and what counts as no change


GERMAN_CONFIG_TEXT = GERMAN_CREDIT_CONFIG.read_text()


def test_the_same_configuration_is_comparable() -> None:
    config = parse_config(GERMAN_CONFIG_TEXT)

    assert incomparable_reason(config, config) is None


def test_another_favourable_label_is_not_comparable() -> None:
    champion = parse_config(GERMAN_CONFIG_TEXT)
    challenger = parse_config(GERMAN_CONFIG_TEXT.replace("positive_label: good", "positive_label: bad"))

    reason = incomparable_reason(champion, challenger)

    assert reason is not None
    assert "'bad'" in reason


def test_a_champion_feature_missing_from_the_challengers_split_is_not_comparable() -> None:
    champion = parse_config(GERMAN_CONFIG_TEXT)
    challenger = parse_config(GERMAN_CONFIG_TEXT.replace("    - telephone\n", ""))

    reason = incomparable_reason(champion, challenger)

    assert reason is not None
    assert "telephone" in reason


def test_changed_inputs_are_named_in_order() -> None:
    champion = InputDigests(data="d", code="c", config="g")

    assert InputDigests(data="d", code="c", config="g").changed_since(champion) == []
    assert InputDigests(data="D", code="c", config="G").changed_since(champion) == ["data", "config"]


# --------------------------------------------------------------------------------------------------
# The champion gate


def _bias_report(facet: str, metric: str, value: float | None) -> dict[str, Any]:
    entry = {"value_or_threshold": "female*", "metrics": [{"name": metric, "value": value}]}
    return {"post_training_bias_metrics": {"facets": {facet: [entry]}}}


DI_LIMIT = {"sex": {"DI": MetricLimit(min=0.8, max=1.25)}}


def test_bias_worsening_beyond_the_allowance_fails() -> None:
    # Given DI 1.06 for the champion, 1.12 for the challenger: 0.06 further from the centre 1.025
    (row,) = compare_bias(_bias_report("sex", "DI", 1.06), _bias_report("sex", "DI", 1.12), DI_LIMIT, 0.05)

    assert row.passed is False
    assert row.worsening == pytest.approx(0.06)


def test_bias_worsening_within_the_allowance_passes() -> None:
    (row,) = compare_bias(_bias_report("sex", "DI", 1.06), _bias_report("sex", "DI", 1.08), DI_LIMIT, 0.05)

    assert row.passed is True


def test_a_bias_improvement_passes_whatever_the_allowance() -> None:
    (row,) = compare_bias(_bias_report("sex", "DI", 1.20), _bias_report("sex", "DI", 1.02), DI_LIMIT, 0.0)

    assert row.passed is True
    assert row.worsening is not None
    assert row.worsening < 0


def test_a_champion_without_a_bias_report_is_not_compared() -> None:
    (row,) = compare_bias(None, _bias_report("sex", "DI", 1.5), DI_LIMIT, 0.0)

    assert row.passed is None
    assert "no post-training bias report" in row.note


def test_pre_training_limits_are_not_compared() -> None:
    limits = {"sex": {"DPL": MetricLimit(min=-0.1, max=0.1)}}

    assert compare_bias(_bias_report("sex", "DPL", 0.0), _bias_report("sex", "DPL", 0.09), limits, 0.0) == []


def _predictions(scores: list[float], labels: list[bool]) -> dict[int, tuple[bool, float]]:
    return {n: (label, score) for n, (label, score) in enumerate(zip(labels, scores, strict=True))}


LABELS = [True, False] * 40
GOOD = [0.9 if label else 0.1 for label in LABELS]  # AUC 1.0
NOISY = [0.9 if (label != (n % 5 == 0)) else 0.1 for n, label in enumerate(LABELS)]  # AUC 0.8


def _compare(
    challenger: list[float], champion: list[float], unseen: list[int], limits: ChampionGate | None = None
) -> Any:
    digests = InputDigests(data="a", code="b", config="c")
    return compare(
        champion="credit-risk/1",
        champion_execution="data-1",
        challenger_execution="data-2",
        digests={"champion": digests, "challenger": digests.model_copy(update={"data": "z"})},
        limits=limits or ChampionGate(),
        thresholds=DI_LIMIT,
        metrics={"challenger": {"auc": 0.8}, "champion": {"auc": 1.0}},
        predictions={"challenger": _predictions(challenger, LABELS), "champion": _predictions(champion, LABELS)},
        hold_out_rows=len(LABELS),
        unseen=unseen,
        bias_reports={"challenger": _bias_report("sex", "DI", 1.0), "champion": _bias_report("sex", "DI", 1.0)},
        explainability={"challenger": None, "champion": None},
    )


def test_an_auc_drop_beyond_the_allowance_retains_the_champion() -> None:
    comparison = _compare(NOISY, GOOD, list(range(len(LABELS))))

    assert comparison.verdict == "champion-retained"
    assert comparison.auc.drop == pytest.approx(0.2)
    assert comparison.changed == ["data"]
    (failure,) = comparison.failures
    assert failure.startswith("auc 0.8000 is 0.2000 below the champion's 1.0000")


def test_an_auc_drop_within_the_allowance_accepts_the_challenger() -> None:
    comparison = _compare(NOISY, GOOD, list(range(len(LABELS))), ChampionGate(max_auc_drop=0.25))

    assert comparison.verdict == "challenger-accepted"
    assert comparison.failures == []


def test_auc_is_compared_only_on_rows_the_champion_did_not_train_on() -> None:
    # Given the challenger is worse on every row, but the champion trained on the rows where it is worse
    unseen = [n for n in range(len(LABELS)) if n % 5 != 0]

    comparison = _compare(NOISY, GOOD, unseen, ChampionGate(min_unseen_rows=10))

    assert comparison.auc.rows == len(unseen)
    assert comparison.auc.drop == pytest.approx(0.0)
    assert comparison.verdict == "challenger-accepted"


def test_too_few_unseen_rows_is_reported_as_not_assessed_not_as_a_failure() -> None:
    comparison = _compare(NOISY, GOOD, list(range(20)))

    assert comparison.auc.passed is None
    assert "only 20 hold-out rows" in comparison.auc.note
    assert comparison.verdict == "challenger-accepted"


# --------------------------------------------------------------------------------------------------
# Configuration


def test_the_champion_gate_defaults_when_the_section_is_absent() -> None:
    # Given a configuration whose gates section has no champion part (the rest of the file is not needed)
    config = parse_config(GERMAN_CONFIG_TEXT.split("\ngates:\n")[0] + "\ngates:\n  min_auc: 0.7\n")

    assert config.gates.champion == ChampionGate(max_auc_drop=0.01, max_bias_worsening=0.05, min_unseen_rows=50)


@pytest.mark.parametrize("field", ["max_auc_drop", "max_bias_worsening"])
def test_a_negative_allowance_is_refused_by_name(field: str) -> None:
    text = GERMAN_CONFIG_TEXT.split("\ngates:\n")[0] + f"\ngates:\n  champion:\n    {field}: -0.01\n"

    with pytest.raises(ConfigError, match=f"gates.champion.{field}"):
        parse_config(text)


@pytest.mark.parametrize("model", ["credit-risk", "synthetic-lending"])
def test_the_shipped_models_configure_their_champion_gate(model: str) -> None:
    config = parse_config((REPO_ROOT / "models" / model / "config.yaml").read_text())

    assert config.gates.champion.max_auc_drop == 0.01
    assert config.gates.champion.max_bias_worsening == 0.05


# --------------------------------------------------------------------------------------------------
# Compare with Champion (the stage, on the local adapters)


class Ledger:
    """Records what the stage appends to the audit ledger."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = []

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        self.records.append((actor, action, subject, details or {}, evidence or {}))

    def seal(self) -> None:
        return None


def _digest(stored: Any) -> ObjectDigest:
    return ObjectDigest(ref=stored.ref, sha256=stored.sha256, size=stored.size)


class Stack:
    """A data directory with a dataset, a configuration and job code, as the stage finds them."""

    def __init__(self, root: Path, data: bytes, config: bytes) -> None:
        self.store = LocalObjectStore(root)
        self.registry = LocalModelRegistry(root)
        self.data = self.store.put(DATA, "datasets/credit-risk/german_credit.csv", data)
        self.config = self.store.put(ARTIFACTS, "models/credit-risk/config.yaml", config)
        self.source = self.store.put(ARTIFACTS, "code/sourcedir.tar.gz", b"job code v1")

    def register(self, execution: str, status: str = "Approved") -> ModelVersion:
        artifact = self.store.put(ARTIFACTS, f"training-jobs/{execution}/output/model.tar.gz", execution.encode())
        record = self.registry.register(
            ModelVersion(
                model_version="pending",
                model_package_group="credit-risk",
                status="PendingManualApproval",
                created_at=NOW,
                execution_name=execution,
                trigger=TRIGGER,
                data=_digest(self.data),
                code=CODE,
                config=_digest(self.config),
                model_artifact=_digest(artifact),
                training_job_name=f"{execution}-train-0",
                training_image="image",
                source_sha256=self.source.sha256,
                hyperparameters={},
                seed=7,
                library_versions={},
                metrics={"auc": 0.8},
                reports={},
            )
        )
        decision = "approved" if status == "Approved" else "rejected"
        decided = ApprovalDecision(approval_id=execution, decision=decision, decided_by="carol", decided_at=NOW)
        return self.registry.record_decision(record.model_version, decided)

    def event(self, execution: str) -> StageEvent:
        request = PipelineRequest(
            execution_name=execution,
            trigger=TRIGGER,
            model=SPEC,
            data=self.data.ref,
            code=CODE,
            config=self.config.ref,
            artifacts_prefix=f"s3://{ARTIFACTS}/runs/{execution}/",
        )
        ref = S3Ref(bucket=ARTIFACTS, key=f"runs/{execution}/prepared/test/test.csv")
        prepared = PreparedData(
            train=ref, test=ref, job_config=ref, source=self.source.ref, channels={}, hyperparameters={},
            train_rows=750, test_rows=250,
        )  # fmt: skip
        validation = StageResult(report=ref, report_sha256="0" * 64, summary={"data_sha256": self.data.sha256})
        return StageEvent(
            execution_name=execution, request=request, validation=validation, prepared=prepared,
            champion_stage="identify",
        )  # fmt: skip


TRIGGER = TriggerInfo(
    kind="data-arrival", event_id="e", event_time=NOW, principal="alice", source="aws.s3", detail_type="Object Created"
)
CODE = CodeRef(repository="model-projects", branch="main", commit_id="a" * 40)
SPEC = model_spec("credit-risk", parse_config(GERMAN_CREDIT_CONFIG.read_text()))


@pytest.fixture
def stack(tmp_path: Path, german_credit_bytes: bytes) -> Stack:
    return Stack(tmp_path, german_credit_bytes, GERMAN_CONFIG_TEXT.encode())


def test_the_first_version_of_a_group_has_no_champion(stack: Stack) -> None:
    outcome = compare_with_champion(stack.event("data-1"), stack.store, stack.registry, Ledger())

    assert (outcome.outcome, outcome.champion) == ("FirstVersion", None)


def test_an_identical_retrain_is_no_change_and_is_recorded_in_the_audit_ledger(stack: Stack) -> None:
    # Given an approved champion trained from this data, job code and configuration
    champion = stack.register("data-1")
    ledger = Ledger()

    # When a second run with the same three inputs reaches Compare with Champion
    outcome = compare_with_champion(stack.event("push-2"), stack.store, stack.registry, ledger)

    # Then it is NoChange naming the champion, and the ledger says so with the three digests
    assert (outcome.outcome, outcome.champion) == ("NoChange", champion.model_version)
    ((actor, action, subject, details, evidence),) = ledger.records
    assert (actor, action, subject) == ("system:compare-champion", "pipeline.no_change", "push-2")
    assert details["champion"] == "credit-risk/1"
    assert evidence == {
        "data": stack.data.sha256,
        "code": stack.source.sha256,
        "config": hashlib.sha256(GERMAN_CONFIG_TEXT.encode()).hexdigest(),
    }


def test_new_data_makes_a_challenger_of_the_newest_approved_version(stack: Stack, german_credit_bytes: bytes) -> None:
    # Given two approved versions and a newer rejected one
    stack.register("data-1")
    stack.register("data-2")
    stack.register("data-3", status="Rejected")
    # When the data changes
    stack.data = stack.store.put(DATA, "datasets/credit-risk/v2.csv", german_credit_bytes + b"\n")

    outcome = compare_with_champion(stack.event("data-4"), stack.store, stack.registry, Ledger())

    # Then the champion is the newest APPROVED version, challenged on the data
    assert (outcome.outcome, outcome.champion) == ("Challenge", "credit-risk/2")
    assert outcome.champion_artifact == f"s3://{ARTIFACTS}/training-jobs/data-2/output/model.tar.gz"
    assert outcome.reason == "data changed since the champion credit-risk/2"


def test_a_champion_predicting_another_label_is_not_comparable_and_says_why_in_a_report(stack: Stack) -> None:
    stack.register("data-1")
    flipped = GERMAN_CONFIG_TEXT.replace("positive_label: good", "positive_label: bad")
    stack.config = stack.store.put(ARTIFACTS, "models/credit-risk/config.yaml", flipped.encode())

    outcome = compare_with_champion(stack.event("push-2"), stack.store, stack.registry, Ledger())

    assert outcome.outcome == "Incomparable"
    assert outcome.comparison is not None
    report = stack.store.get(outcome.comparison.report)
    assert b'"verdict": "not-comparable"' in report
    assert b"'bad'" in report


# --------------------------------------------------------------------------------------------------
# The comparison on the evidence report and the approval page


def _comparison(facet: str = "sex") -> dict[str, Any]:
    comparison = _compare(NOISY, GOOD, list(range(len(LABELS))))
    document: dict[str, Any] = comparison.model_dump(mode="json")
    document["bias"][0]["facet"] = facet
    document["top_features"] = {"champion": [["duration_in_month", 0.41]], "challenger": [[facet, 0.39]]}
    return document


def test_the_evidence_report_shows_the_comparison_escaped() -> None:
    from tests.unit.test_reports import MALICIOUS, _html

    page = _html(champion=_comparison(MALICIOUS))

    assert "Compared with the champion" in page
    assert "✗ Champion retained" in page
    assert "auc 0.8000 is 0.2000 below the champion&#x27;s 1.0000" in page
    assert MALICIOUS not in page
    assert "&lt;script&gt;" in page


def test_the_evidence_report_of_a_first_version_says_there_was_no_champion() -> None:
    from tests.unit.test_reports import _html

    assert "No approved version of this model package group existed" in _html(champion=None)


def test_the_approval_page_shows_the_comparison_escaped() -> None:
    from governed_mlops.reports.approval_page import render_approval_page
    from tests.conftest import pending_approval
    from tests.unit.test_reports import MALICIOUS, _record

    page = render_approval_page(
        approval=pending_approval(NOW),
        record=_record(),
        gates=None,
        bias={},
        explainability=None,
        images={},
        csrf_token="t",
        viewer="dave.risk",
        link_query={"exp": "1", "sig": "s"},
        champion=_comparison(MALICIOUS),
    )

    assert "<h2>Compared with the champion</h2>" in page
    assert "data-testid='champion-verdict'>champion-retained<" in page
    assert "1.0000" in page
    assert MALICIOUS not in page
