"""Champion and challenger (pure): is a retrain identical to the champion, can the two be compared, and
does the challenger hold its ground against the champion on the same hold-out rows.

The champion is the newest Approved version of the run's model package group; the challenger is the
model this run trains.

*No change*: a run whose data, job code and configuration have the same SHA-256 as the champion's
would retrain the champion byte for byte (training is seeded), so it ends before training.

*Comparison*: the evaluation job scores the champion's artifact on the challenger's hold-out split.
The champion may have been trained on some of those rows (a new dataset version usually shares most
rows with the old one, and the split is positional), which would flatter it, so AUC is compared on
the hold-out rows the champion did not train on (its training split is recomputed from its pinned
data and configuration). Fewer than ``min_unseen_rows`` such rows, or only one label among them, and
the AUC comparison is *not assessed*: reported as such, not failed.

*Bias*: for every post-training Clarify metric the challenger's configuration limits, the metric's
*severity* is how far a value sits from where the limit wants it: ``|value - (min + max) / 2|`` for a
``[min, max]`` limit, ``value`` for a max-only limit, ``-value`` for a min-only one (larger is worse in
each case). The challenger's severity may exceed the champion's (read from the champion's registered
post-training bias report, i.e. on the champion's own hold-out) by at most ``max_bias_worsening``.
A facet with several groups counts its worst group. A metric either side could not compute is
reported, not compared (an undefined challenger value has already failed the bias gate).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.config import ChampionGate, MetricLimit, PipelineConfig
from governed_mlops.domain.bias_names import STAGE_SECTIONS, metric_stage
from governed_mlops.domain.split import bias_only_columns
from governed_mlops.errors import ArtifactNotFoundError

__all__ = [
    "AucComparison",
    "BiasComparison",
    "ChampionComparison",
    "InputDigests",
    "bias_severity",
    "compare",
    "compare_bias",
    "incomparable_reason",
    "read_predictions",
    "roc_auc",
    "top_features",
    "unseen_rows",
]

#: Inputs whose digests decide "no change", in the order reports list them.
INPUTS = ("data", "code", "config")
#: How many features of each model's global SHAP importance the comparison lists.
TOP_FEATURES = 5


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputDigests(_Frozen):
    """SHA-256 of what a model version is trained from: dataset, job code (``sourcedir.tar.gz``), configuration."""

    data: str
    code: str
    config: str

    def changed_since(self, champion: InputDigests) -> list[str]:
        """Names of the inputs that differ from ``champion``'s (empty: an identical retrain)."""
        return [name for name in INPUTS if getattr(self, name) != getattr(champion, name)]


def incomparable_reason(champion: PipelineConfig, challenger: PipelineConfig) -> str | None:
    """Why the champion cannot be scored on the challenger's hold-out split, or ``None`` if it can.

    The evaluation job refuses a model that predicts another target or favourable label, and the
    champion needs every one of its features among the columns of the challenger's split files.
    """
    old, new = champion.dataset, challenger.dataset
    if (old.target, old.positive_label) != (new.target, new.positive_label):
        return (
            f"the champion predicts {old.target} == {old.positive_label!r}, the challenger "
            f"{new.target} == {new.positive_label!r}: their scores do not measure the same thing"
        )
    columns = {*new.features, *bias_only_columns(challenger), new.target}
    missing = [feature for feature in old.features if feature not in columns]
    if missing:
        return f"the challenger's hold-out split lacks the champion's features {missing}"
    return None


def _csv_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader, [])
    return header, [row for row in reader if row]


def unseen_rows(test_csv: bytes, champion_train_csv: bytes) -> list[int]:
    """0-based rows of the challenger's test split that are not rows of the champion's training split.

    Rows are compared on the columns both files have (the split files' columns follow each model's
    configuration); a duplicate of a training row counts as seen.
    """
    test_header, test = _csv_rows(test_csv)
    train_header, train = _csv_rows(champion_train_csv)
    common = [column for column in test_header if column in train_header]
    in_test = [test_header.index(column) for column in common]
    in_train = [train_header.index(column) for column in common]
    seen = {tuple(row[i] for i in in_train) for row in train}
    return [n for n, row in enumerate(test) if tuple(row[i] for i in in_test) not in seen]


def read_predictions(data: bytes, positive_label: str) -> dict[int, tuple[bool, float]]:
    """The evaluation job's ``predictions.csv`` as ``row_index -> (actual is positive, score)``."""
    header, rows = _csv_rows(data)
    try:
        index, actual, score = (header.index(name) for name in ("row_index", "actual", "score"))
        return {int(row[index]): (row[actual] == positive_label, float(row[score])) for row in rows}
    except (ValueError, IndexError) as exc:
        raise ArtifactNotFoundError(f"predictions.csv is not row_index,actual,score ({exc})") from exc


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic; tied scores count one half), or ``None``
    when one of the two labels is absent. Equal to scikit-learn's ``roc_auc_score``."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    rank_sum, start = 0.0, 0
    while start < len(ranked):
        end = start
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[start][0]:
            end += 1
        average_rank = (start + end) / 2 + 1  # ranks are 1-based; ties share their mean rank
        rank_sum += average_rank * sum(1 for _, label in ranked[start : end + 1] if label)
        start = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _auc_of(predictions: Mapping[int, tuple[bool, float]], rows: Iterable[int]) -> float | None:
    chosen = [predictions[row] for row in rows if row in predictions]
    return roc_auc([label for label, _ in chosen], [score for _, score in chosen])


def bias_severity(value: float, limit: MetricLimit) -> float:
    """How far ``value`` sits from where ``limit`` wants it; larger is worse (see the module docstring)."""
    if limit.min is not None and limit.max is not None:
        return abs(value - (limit.min + limit.max) / 2)
    if limit.max is not None:
        return value
    assert limit.min is not None  # a MetricLimit has at least one bound
    return -value


class BiasComparison(_Frozen):
    """One limited post-training metric of one facet, champion against challenger."""

    facet: str
    metric: str
    limit: dict[str, float]
    champion: float | None
    challenger: float | None
    worsening: float | None = Field(description="challenger severity - champion severity")
    passed: bool | None = Field(description="None: not compared (a value is missing or undefined)")
    note: str = ""


def _metric_values(report: Mapping[str, Any] | None, facet: str, metric: str) -> list[float | None]:
    section = report.get(STAGE_SECTIONS["post"]) if isinstance(report, Mapping) else None
    facets = section.get("facets") if isinstance(section, Mapping) else None
    entries = facets.get(facet) if isinstance(facets, Mapping) else None
    values: list[float | None] = []
    for entry in entries if isinstance(entries, list) else []:
        for reported in entry.get("metrics", []) if isinstance(entry, Mapping) else []:
            if isinstance(reported, Mapping) and reported.get("name") == metric:
                value = reported.get("value")
                values.append(float(value) if isinstance(value, int | float) and math.isfinite(value) else None)
    return values


def _worst(values: list[float | None], limit: MetricLimit) -> float | None:
    defined = [value for value in values if value is not None]
    if not defined or len(defined) < len(values):
        return None
    return max(defined, key=lambda value: bias_severity(value, limit))


def compare_bias(
    champion_report: Mapping[str, Any] | None,
    challenger_report: Mapping[str, Any],
    thresholds: Mapping[str, Mapping[str, MetricLimit]],
    max_worsening: float,
) -> list[BiasComparison]:
    """Every post-training metric limited in ``thresholds`` (the challenger's configuration), compared."""
    compared = []
    for facet, limits in thresholds.items():
        for metric, limit in limits.items():
            if metric_stage(metric) != "post":
                continue
            old = _worst(_metric_values(champion_report, facet, metric), limit)
            new = _worst(_metric_values(challenger_report, facet, metric), limit)
            worsening = None if old is None or new is None else bias_severity(new, limit) - bias_severity(old, limit)
            note = ""
            if champion_report is None:
                note = "the champion has no post-training bias report"
            elif old is None:
                note = "the champion's value is missing or undefined"
            elif new is None:
                note = "the challenger's value is missing or undefined"
            compared.append(
                BiasComparison(
                    facet=facet,
                    metric=metric,
                    limit=limit.to_json_dict(),
                    champion=old,
                    challenger=new,
                    worsening=None if worsening is None else round(worsening, 12),
                    # Rounded so that a worsening of exactly the allowance passes despite binary fractions.
                    passed=None if worsening is None else round(worsening, 12) <= max_worsening,
                    note=note,
                )
            )
    return compared


def top_features(explainability: Mapping[str, Any] | None, count: int = TOP_FEATURES) -> list[tuple[str, float]]:
    """The ``count`` largest global mean |SHAP| values of an explainability report (empty if none)."""
    explanations = explainability.get("explanations") if isinstance(explainability, Mapping) else None
    tree_shap = explanations.get("tree_shap") if isinstance(explanations, Mapping) else None
    label = tree_shap.get("label0") if isinstance(tree_shap, Mapping) else None
    values = label.get("global_shap_values") if isinstance(label, Mapping) else None
    if not isinstance(values, Mapping):
        return []
    pairs = [(str(name), float(value)) for name, value in values.items() if isinstance(value, int | float)]
    return sorted(pairs, key=lambda pair: -abs(pair[1]))[:count]


class AucComparison(_Frozen):
    """AUC of both models on the hold-out rows the champion did not train on."""

    rows: int = Field(description="hold-out rows the champion did not train on")
    challenger: float | None
    champion: float | None
    drop: float | None = Field(description="champion AUC - challenger AUC (positive: the challenger is worse)")
    max_drop: float
    passed: bool | None = Field(description="None: not assessed (see note)")
    note: str = ""


Verdict = Literal["challenger-accepted", "champion-retained", "not-comparable"]


class ChampionComparison(_Frozen):
    """``champion_comparison.json``: what the champion gate compared and decided (part of the challenger's lineage)."""

    verdict: Verdict
    champion: str = Field(description="the champion's model version")
    champion_execution: str
    challenger_execution: str
    changed: list[str] = Field(description="inputs whose sha256 differs from the champion's: data, code, config")
    digests: dict[str, InputDigests] = Field(description="'champion' and 'challenger'")
    reason: str = ""
    limits: ChampionGate | None = None
    hold_out_rows: int | None = None
    metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="'challenger' and 'champion': evaluation-job metrics on the whole challenger hold-out",
    )
    auc: AucComparison | None = None
    bias: list[BiasComparison] = Field(default_factory=list)
    top_features: dict[str, list[tuple[str, float]]] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)


def compare(  # noqa: PLR0913 - keyword-only: each input of the comparison is named at the call site
    *,
    champion: str,
    champion_execution: str,
    challenger_execution: str,
    digests: Mapping[str, InputDigests],
    limits: ChampionGate,
    thresholds: Mapping[str, Mapping[str, MetricLimit]],
    metrics: Mapping[str, Mapping[str, float]],
    predictions: Mapping[str, Mapping[int, tuple[bool, float]]],
    hold_out_rows: int,
    unseen: Sequence[int],
    bias_reports: Mapping[str, Mapping[str, Any] | None],
    explainability: Mapping[str, Mapping[str, Any] | None],
) -> ChampionComparison:
    """The champion gate's decision: the challenger fails if its AUC on the rows the champion never saw
    is lower than the champion's by more than ``limits.max_auc_drop``, or if a limited post-training
    bias metric worsened by more than ``limits.max_bias_worsening``.

    ``metrics``, ``predictions``, ``bias_reports`` and ``explainability`` are keyed ``"champion"`` and
    ``"challenger"``; ``unseen`` lists the hold-out rows the champion did not train on.
    """
    auc = _compare_auc(predictions, unseen, limits)
    bias_report = bias_reports.get("challenger")
    if bias_report is None:
        raise ArtifactNotFoundError("the champion gate needs the challenger's post-training bias report")
    bias = compare_bias(bias_reports.get("champion"), bias_report, thresholds, limits.max_bias_worsening)
    failures = []
    if auc.passed is False:
        failures.append(
            f"auc {auc.challenger:.4f} is {auc.drop:.4f} below the champion's {auc.champion:.4f} on "
            f"{auc.rows} hold-out rows it never trained on (allowed drop {limits.max_auc_drop:g})"
        )
    failures.extend(
        f"facet {row.facet!r} {row.metric} {row.challenger:.4f} is {row.worsening:.4f} further from its "
        f"limit's centre than the champion's {row.champion:.4f} (allowed {limits.max_bias_worsening:g})"
        for row in bias
        if row.passed is False
    )
    return ChampionComparison(
        verdict="champion-retained" if failures else "challenger-accepted",
        champion=champion,
        champion_execution=champion_execution,
        challenger_execution=challenger_execution,
        changed=digests["challenger"].changed_since(digests["champion"]),
        digests=dict(digests),
        limits=limits,
        hold_out_rows=hold_out_rows,
        metrics={side: dict(values) for side, values in metrics.items()},
        auc=auc,
        bias=bias,
        top_features={side: top_features(report) for side, report in explainability.items()},
        failures=failures,
    )


def _compare_auc(
    predictions: Mapping[str, Mapping[int, tuple[bool, float]]], unseen: Sequence[int], limits: ChampionGate
) -> AucComparison:
    challenger = _auc_of(predictions["challenger"], unseen)
    champion = _auc_of(predictions["champion"], unseen)
    measured = {"rows": len(unseen), "challenger": challenger, "champion": champion, "max_drop": limits.max_auc_drop}
    if len(unseen) < limits.min_unseen_rows:
        note = (
            f"not assessed: only {len(unseen)} hold-out rows are unseen by the champion "
            f"(min_unseen_rows {limits.min_unseen_rows})"
        )
        return AucComparison(**measured, drop=None, passed=None, note=note)
    if challenger is None or champion is None:
        note = "not assessed: the hold-out rows unseen by the champion hold only one label"
        return AucComparison(**measured, drop=None, passed=None, note=note)
    drop = round(champion - challenger, 12)
    return AucComparison(**measured, drop=drop, passed=drop <= limits.max_auc_drop)
