"""Local SageMaker hosting: endpoints, invocations, blue/green canary updates that roll back, capture, HTTP.

Models are real XGBoost models trained on German credit. The bad canaries are genuinely bad
artifacts built here, not switches in the server: one trained on flipped labels (it answers, but
approves the wrong applicants), one whose feature spec was edited after training so it no longer
fits its booster (every request fails with a 5xx), one whose booster file is not a model (it never
passes the health check).
"""

from __future__ import annotations

import contextlib
import csv
import gc
import http.client
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops_local.endpoints import (
    PROVISION_SECONDS,
    AlarmRule,
    InvocationError,
    LocalSageMakerHosting,
    Measurement,
    ModelError,
    evaluate_alarm,
)
from governed_mlops_local.endpoints import store as store_module
from governed_mlops_local.endpoints.containers import ModelContainers
from governed_mlops_local.model_server import CONFIG_HEADER, VARIANT_HEADER, serve
from governed_mlops_local.sagemaker import SageMakerError, local_function_arn
from governed_mlops_ml.artifacts import read_dataset, save_feature_spec, write_model_archive
from governed_mlops_ml.features import CategoricalFeature, FeatureSpec, encode_frame, encode_target
from governed_mlops_ml.job_config import DecisionLabels, JobConfig
from governed_mlops_ml.model import MODEL_FILE, predict_scores, save_booster, train_booster
from governed_mlops_ml.monitoring import read_capture
from governed_mlops_ml.serving import ServingModel, write_inference_settings
from governed_mlops_ml.training import train_model
from tests.waiting import until, within

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
TIME_SCALE = 0.02
ROLE = "arn:aws:iam::000000000000:role/local-sagemaker"
MODELS_BUCKET = "governed-mlops-artifacts"
CAPTURE_URI = "s3://governed-mlops-monitoring/datacapture"

#: What the German credit model is configured to answer (models/credit-risk/config.yaml).
CREDIT_DECISIONS = DecisionLabels(favourable="approve", unfavourable="deny")


# -- models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    """model.tar.gz archives and what the tests compare them with."""

    frame: pd.DataFrame
    spec: FeatureSpec
    booster: Any
    baseline_rate: float
    archives: dict[str, bytes]


def _archive(directory: Path, booster: Any, spec: FeatureSpec) -> bytes:
    save_booster(booster, directory / "model")
    save_feature_spec(spec, directory / "model")
    write_inference_settings(directory / "model", 0.5, decisions=CREDIT_DECISIONS)
    return write_model_archive(directory / "model", directory / "model.tar.gz").read_bytes()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    config: PipelineConfig = parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"))
    dataset = config.dataset
    job_config = JobConfig(
        target=dataset.target,
        positive_label=dataset.positive_label,
        numeric_features=tuple(dataset.numeric_features),
        categorical_features=tuple(dataset.categorical_features),
        seed=config.training.seed,
        decision_threshold=config.gates.decision_threshold,
    )
    hyperparameters = parse_hyperparameters(config.training.hyperparameters)
    frame = read_dataset(GERMAN_CREDIT_CSV)
    trained = train_model(frame, job_config, hyperparameters)
    features, labels = encode_frame(frame, trained.spec), encode_target(frame, trained.spec)
    retrained = train_booster(features, labels, hyperparameters, seed=job_config.seed + 1)
    flipped = train_booster(features, 1 - labels, hyperparameters, seed=job_config.seed)
    # The spec edited after training: one purpose category fewer, so it encodes 60 columns for a 61-column booster.
    purpose = next(f for f in trained.spec.categorical_features if f.name == "purpose")
    edited = replace(
        trained.spec,
        categorical_features=tuple(
            CategoricalFeature(f.name, f.categories[:-1]) if f is purpose else f
            for f in trained.spec.categorical_features
        ),
    )
    root = tmp_path_factory.mktemp("models")
    archives = {
        "good": _archive(root / "good", trained.booster, trained.spec),
        "retrained": _archive(root / "retrained", retrained, trained.spec),
        "flipped": _archive(root / "flipped", flipped, trained.spec),
        "spec-mismatch": _archive(root / "mismatch", trained.booster, edited),
    }
    unloadable = root / "unloadable" / "model"
    save_feature_spec(trained.spec, unloadable)
    (unloadable / MODEL_FILE).write_bytes(b"this is not an XGBoost model")
    archives["unloadable"] = write_model_archive(unloadable, root / "unloadable.tar.gz").read_bytes()
    scores = predict_scores(trained.booster, trained.spec, frame)
    return Models(frame, trained.spec, trained.booster, float((scores >= 0.5).mean()), archives)


def csv_body(models: Models, rows: range | list[int]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([models.frame.iloc[row][name] for name in models.spec.raw_features])
    return buffer.getvalue().encode()


def scores_of(body: bytes) -> list[float]:
    return [float(line) for line in body.decode().splitlines()]


# -- hosting ------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, models: Models) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path)
    for name, archive in models.archives.items():
        store.put(MODELS_BUCKET, f"models/{name}/model.tar.gz", archive, "application/x-tar")
    return store


@pytest.fixture
def hosting(tmp_path: Path, store: LocalObjectStore) -> Iterator[LocalSageMakerHosting]:
    with LocalSageMakerHosting(tmp_path, store, time_scale=TIME_SCALE, rng_seed=7) as active:
        yield active


def add_config(
    hosting: LocalSageMakerHosting, model: str, *, config: str | None = None, capture_percent: int | None = None
) -> str:
    """Model ``m-<model>`` (created once) and endpoint config ``c-<model>`` with one variant of the same name."""
    model_name = f"m-{model}"
    try:
        hosting.describe_model(model_name)
    except SageMakerError:
        hosting.create_model(
            {
                "ModelName": model_name,
                "PrimaryContainer": {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                    "ModelDataUrl": f"s3://{MODELS_BUCKET}/models/{model}/model.tar.gz",
                },
                "ExecutionRoleArn": ROLE,
            }
        )
    name = config or f"c-{model}"
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": model,
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    }
    if capture_percent is not None:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": capture_percent,
            "DestinationS3Uri": CAPTURE_URI,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        }
    hosting.create_endpoint_config(request)
    return name


def in_service(hosting: LocalSageMakerHosting, endpoint: str, model: str = "good", **kwargs: Any) -> None:
    hosting.create_endpoint({"EndpointName": endpoint, "EndpointConfigName": add_config(hosting, model, **kwargs)})
    assert hosting.wait_for_status(endpoint, ["InService", "Failed"], 10)["EndpointStatus"] == "InService"


def alarms(models: Models) -> list[AlarmRule]:
    return [
        AlarmRule("canary-5xx", "Invocation5XXErrors rate", 0.05),
        AlarmRule(
            "canary-approval-rate",
            "PositivePredictionRate delta vs baseline",
            0.25,
            baseline_rate=models.baseline_rate,
            min_samples=40,
        ),
    ]


def canary(config: str, *, wait: int = 60, termination: int = 30, percent: int = 20) -> dict[str, Any]:
    return {
        "EndpointName": "credit",
        "EndpointConfigName": config,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": wait,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
                },
                "TerminationWaitInSeconds": termination,
                "MaximumExecutionTimeoutInSeconds": 28800,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "canary-5xx"}, {"AlarmName": "canary-approval-rate"}]
            },
        },
    }


@dataclass(frozen=True)
class Answer:
    time: float
    endpoint_config: str | None
    status: int


class Traffic:
    """Client threads invoking the endpoint back to back with German credit rows, recording who answered."""

    def __init__(self, hosting: LocalSageMakerHosting, models: Models, endpoint: str = "credit", threads: int = 3):
        self._hosting, self._endpoint = hosting, endpoint
        self._bodies = [csv_body(models, [row]) for row in range(len(models.frame))]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def _run(self, offset: int) -> None:
        index = offset * 331
        while not self._stop.is_set():
            body = self._bodies[index % len(self._bodies)]
            index += 1
            try:
                result = self._hosting.invoke(self._endpoint, body, "text/csv")
                answer = Answer(time.time(), result.endpoint_config_name, 200)
            except InvocationError as exc:
                answer = Answer(time.time(), exc.endpoint_config_name, exc.status_code)
            with self._lock:
                self.answers.append(answer)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def failures(self) -> Counter[str | None]:
        return Counter(a.endpoint_config for a in self.answers if a.status != 200)

    def served(self) -> Counter[str | None]:
        return Counter(a.endpoint_config for a in self.answers if a.status == 200)

    def answered_after(self, moment: float, count: int = 20, timeout: float = 30) -> None:
        """Wait until ``count`` requests sent after ``moment`` (a time.time()) were answered."""
        until(
            lambda: sum(1 for a in list(self.answers) if a.time > moment) >= count,
            timeout,
            f"{count} requests answered after the endpoint settled",
            poll=0.01,
        )


def watch(hosting: LocalSageMakerHosting, endpoint: str, timeout: float) -> list[dict[str, Any]]:
    """Poll DescribeEndpoint as the ASL would, until the endpoint is InService again; every distinct answer."""
    seen: list[dict[str, Any]] = []

    def settled() -> bool:
        answer = hosting.describe_endpoint(endpoint)
        pending = answer.get("PendingDeploymentSummary", {}).get("ProductionVariants", [{}])[0]
        key = (answer["EndpointStatus"], answer["EndpointConfigName"], pending.get("VariantStatus"))
        if not seen or seen[-1]["key"] != key:
            seen.append({"key": key, "describe": answer})
        return answer["EndpointStatus"] in ("InService", "Failed")

    if within(settled, timeout, poll=0.005):
        return seen
    pytest.fail(f"endpoint {endpoint} did not settle within {timeout} s: {seen[-1]['key'] if seen else None}")


# -- endpoints and invocations ------------------------------------------------------------------


def test_new_endpoint_is_creating_then_in_service(hosting: LocalSageMakerHosting) -> None:
    arn = hosting.create_endpoint({"EndpointName": "credit", "EndpointConfigName": add_config(hosting, "good")})
    assert arn == {"EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/credit"}
    assert hosting.describe_endpoint("credit")["EndpointStatus"] == "Creating"
    described = hosting.wait_for_status("credit", ["InService"], 10)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "c-good"
    assert described["ProductionVariants"] == [
        {
            "VariantName": "good",
            "DeployedImages": [
                {
                    "SpecifiedImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                    "ResolvedImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                }
            ],
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 1,
        }
    ]
    assert "PendingDeploymentSummary" not in described


def test_csv_scores_equal_the_offline_scores_of_every_row(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    result = hosting.invoke("credit", csv_body(models, range(len(models.frame))), "text/csv")
    expected = predict_scores(models.booster, models.spec, models.frame)
    assert result.content_type == "text/csv"
    assert result.variant == "good"
    assert scores_of(result.body) == expected.tolist()


def test_encoded_csv_rows_score_like_raw_rows(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    encoded = encode_frame(models.frame.head(5), models.spec)
    body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in encoded).encode()
    raw = hosting.invoke("credit", csv_body(models, range(5)), "text/csv")
    assert hosting.invoke("credit", body, "text/csv").body == raw.body


def test_json_instances_answer_json_predictions(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    instances = [{name: models.frame.iloc[i][name] for name in models.spec.raw_features} for i in range(3)]
    result = hosting.invoke(
        "credit", json.dumps({"instances": instances}).encode(), "application/json", accept="application/json"
    )
    expected = predict_scores(models.booster, models.spec, models.frame.head(3))
    assert result.content_type == "application/json"
    predictions = json.loads(result.body)["predictions"]
    assert [p["score"] for p in predictions] == expected.tolist()
    assert [p["decision"] for p in predictions] == ["approve" if s >= 0.5 else "deny" for s in expected]
    # The hand-made model was not registered: no MLOPS_MODEL_VERSION in its container environment
    assert {(p["threshold"], p["model_version"]) for p in predictions} == {(0.5, None)}
    assert all(isinstance(p["reasons"], list) for p in predictions)


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "words"),
    [
        (b"1,2,3\n", "text/csv", None, 400, "row 1 has 3 values"),
        (b'{"instances": []}', "application/json", None, 400, "at least one instance"),
        (b"<xml/>", "application/xml", None, 415, "unsupported content type 'application/xml'"),
        (b"1,2,3\n", "text/csv", "image/png", 406, "unsupported accept 'image/png'"),
    ],
)
def test_bad_requests_are_client_errors_naming_the_problem(
    hosting: LocalSageMakerHosting, *, body: bytes, content_type: str, accept: str | None, status: int, words: str
) -> None:
    in_service(hosting, "credit")
    with pytest.raises(ModelError) as caught:
        hosting.invoke("credit", body, content_type, accept)
    assert caught.value.status_code == status
    assert words in str(caught.value)
    assert caught.value.variant == "good"
    assert hosting.invocation_stats("credit")["Variants"][0]["Invocation4XXErrors"] == 1


def test_invoking_an_unknown_endpoint_is_a_validation_error(hosting: LocalSageMakerHosting) -> None:
    with pytest.raises(InvocationError) as caught:
        hosting.invoke("nowhere", b"1\n", "text/csv")
    assert (caught.value.status_code, caught.value.error_code) == (400, "ValidationError")
    assert "Endpoint nowhere of account 000000000000 not found." in str(caught.value)


def test_describing_an_unknown_endpoint_is_sagemakers_validation_exception(hosting: LocalSageMakerHosting) -> None:
    with pytest.raises(SageMakerError) as caught:
        hosting.describe_endpoint("nowhere")
    assert caught.value.error_type == "SageMaker.ValidationException"
    assert 'Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/nowhere".' in str(caught.value)


def test_model_data_must_exist_in_the_store(hosting: LocalSageMakerHosting) -> None:
    request = {"ModelName": "ghost", "PrimaryContainer": {"ModelDataUrl": f"s3://{MODELS_BUCKET}/none.tar.gz"}}
    with pytest.raises(SageMakerError, match="Could not access model data"):
        hosting.create_model(request)


def _variant(model: str) -> dict[str, Any]:
    return {"VariantName": "a", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}


def _endpoint(name: str, config: str) -> dict[str, Any]:
    return {"EndpointName": name, "EndpointConfigName": config}


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda h: h.create_model({"ModelName": "m-good"}), "PrimaryContainer.ModelDataUrl"),
        (lambda h: h.create_endpoint(_endpoint("x", "missing")), "Could not find endpoint configuration"),
        (lambda h: h.create_endpoint(_endpoint("../x", "c-good")), "must be 1-63 letters"),
        (lambda h: h.create_endpoint(_endpoint("credit", "c-good")), "Cannot create already existing endpoint"),
        (
            lambda h: h.create_endpoint_config(
                {"EndpointConfigName": "c-good", "ProductionVariants": [_variant("m-good")]}
            ),
            "Cannot create already existing endpoint configuration",
        ),
        (
            lambda h: h.create_endpoint_config(
                {"EndpointConfigName": "c-x", "ProductionVariants": [_variant("m-none")]}
            ),
            "Could not find model",
        ),
        (
            lambda h: h.create_endpoint_config(
                {"EndpointConfigName": "c-x", "ProductionVariants": [{"VariantName": "a"}]}
            ),
            "needs a ModelName",
        ),
    ],
)
def test_invalid_requests_are_validation_exceptions(hosting: LocalSageMakerHosting, call: Any, words: str) -> None:
    in_service(hosting, "credit")
    with pytest.raises(SageMakerError) as caught:
        call(hosting)
    assert caught.value.error_type == "SageMaker.ValidationException"
    assert words in str(caught.value)


def test_endpoint_whose_model_cannot_load_fails(hosting: LocalSageMakerHosting) -> None:
    hosting.create_endpoint({"EndpointName": "credit", "EndpointConfigName": add_config(hosting, "unloadable")})
    described = hosting.wait_for_status("credit", ["InService", "Failed"], 10)
    assert described["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in described["FailureReason"]


# -- update validation --------------------------------------------------------------------------


def _policy(request: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    return policy


def _alarm_list(request: dict[str, Any]) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = request["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    return listed


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r["DeploymentConfig"].pop("AutoRollbackConfiguration"), "must name at least one alarm"),
        (lambda r: _alarm_list(r).append({"AlarmName": "nobody"}), "not registered for endpoint credit: ['nobody']"),
        (lambda r: _policy(r)["TrafficRoutingConfiguration"]["CanarySize"].update(Value=60), "at most 50%"),
        (
            lambda r: _policy(r).update(MaximumExecutionTimeoutInSeconds=600, TerminationWaitInSeconds=600),
            "must be larger than the total waiting time",
        ),
        (lambda r: _policy(r).update(MaximumExecutionTimeoutInSeconds=60), "valid min value: 600"),
        (lambda r: r.update(EndpointConfigName="c-good"), "already uses endpoint configuration c-good"),
        (lambda r: r.update(EndpointConfigName="c-none"), "Could not find endpoint configuration"),
    ],
)
def test_update_requests_are_checked_before_anything_changes(
    hosting: LocalSageMakerHosting, models: Models, change: Any, words: str
) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    request = canary(add_config(hosting, "retrained"))
    change(request)
    with pytest.raises(SageMakerError) as caught:
        hosting.update_endpoint(request)
    assert caught.value.error_type == "SageMaker.ValidationException"
    assert words in str(caught.value)
    assert hosting.describe_endpoint("credit")["EndpointStatus"] == "InService"


def test_a_second_update_during_an_update_is_refused(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    hosting.update_endpoint(canary(add_config(hosting, "retrained")))
    with pytest.raises(SageMakerError, match="Cannot update in-progress endpoint"):
        hosting.update_endpoint(canary(add_config(hosting, "flipped")))


# -- blue/green updates -------------------------------------------------------------------------


def test_good_canary_bakes_then_serves_all_traffic(hosting: LocalSageMakerHosting, models: Models) -> None:
    # Given an endpoint serving the good model, alarms registered, and clients sending traffic
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    green = add_config(hosting, "retrained")
    with Traffic(hosting, models) as traffic:
        # When a canary update shifts 20% to the retrained model, bakes 60 s, then 30 s before terminating blue
        hosting.update_endpoint(canary(green))
        seen = watch(hosting, "credit", timeout=30)
        switched = time.time()
        traffic.answered_after(switched)
    # Then describe shows the old config while updating, the canary's share, and finally the new config
    statuses = [step["key"][0] for step in seen]
    assert statuses[0] == "Updating"
    assert statuses[-1] == "InService"
    assert "RollingBack" not in statuses
    during = [s["describe"] for s in seen if s["key"][0] == "Updating"]
    assert all(d["EndpointConfigName"] == "c-good" for d in during)
    assert all(d["PendingDeploymentSummary"]["EndpointConfigName"] == green for d in during)
    messages = [
        d["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"] for d in during
    ]
    assert any(m.startswith("20% of endpoint traffic; canary") for m in messages)
    final = seen[-1]["describe"]
    assert final["EndpointConfigName"] == green
    assert "PendingDeploymentSummary" not in final
    assert "FailureReason" not in final
    assert final["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    # And no client request failed; after the switch every request is served by the new fleet
    assert traffic.failures() == Counter()
    assert {a.endpoint_config for a in traffic.answers if a.time > switched} == {green}
    assert traffic.served()[green] >= 40
    shares = [e.get("GreenTraffic") for e in hosting.deployment_events("credit") if "GreenTraffic" in e]
    assert shares == [0.2, 1.0, 1.0]


def test_canary_traffic_share_is_about_the_canary_size(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    hosting.update_endpoint(canary(add_config(hosting, "retrained"), wait=3600, termination=0))
    until(
        lambda: "Baking" in json.dumps(hosting.describe_endpoint("credit").get("PendingDeploymentSummary")),
        10 + PROVISION_SECONDS * TIME_SCALE,
        "the canary to start baking",
        poll=0.005,
    )
    bodies = [csv_body(models, [row]) for row in range(1000)]
    served = Counter(hosting.invoke("credit", body, "text/csv").endpoint_config_name for body in bodies)
    assert 0.15 < served["c-retrained"] / 1000 < 0.25
    assert hosting.describe_endpoint("credit")["EndpointStatus"] == "Updating"


def test_flipped_canary_rolls_back_on_the_behaviour_alarm(hosting: LocalSageMakerHosting, models: Models) -> None:
    # Given an endpoint serving the good model and a canary that approves the applicants the good model rejects
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    with Traffic(hosting, models) as traffic:
        # When it is deployed as a canary (a long bake: only an alarm can end it early)
        hosting.update_endpoint(canary(add_config(hosting, "flipped"), wait=3600))
        seen = watch(hosting, "credit", timeout=30)
        settled = time.time()
        traffic.answered_after(settled)
    # Then the approval-rate alarm fires, the endpoint rolls back and serves the old config
    statuses = [step["key"][0] for step in seen]
    assert statuses[-2:] == ["RollingBack", "InService"]
    final = seen[-1]["describe"]
    assert final["EndpointConfigName"] == "c-good"
    assert "PendingDeploymentSummary" not in final
    assert "alarm canary-approval-rate went to ALARM: Threshold Crossed" in final["FailureReason"]
    rollback = hosting.rollbacks("credit")[-1]
    assert rollback["AlarmName"] == "canary-approval-rate"
    states = {a["AlarmName"]: a["StateValue"] for a in hosting.describe_alarms("credit")}
    assert states == {"canary-5xx": "OK", "canary-approval-rate": "ALARM"}
    assert (rollback["AttemptedEndpointConfigName"], rollback["RestoredEndpointConfigName"]) == ("c-flipped", "c-good")
    # And no client request failed, and after the rollback the old fleet serves everything
    assert traffic.failures() == Counter()
    assert traffic.served()["c-flipped"] >= 40
    assert {a.endpoint_config for a in traffic.answers if a.time > settled} == {"c-good"}


def test_failing_canary_rolls_back_on_the_5xx_alarm(hosting: LocalSageMakerHosting, models: Models) -> None:
    # Given a canary whose feature spec no longer fits its booster: every request it serves fails
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    with Traffic(hosting, models) as traffic:
        hosting.update_endpoint(canary(add_config(hosting, "spec-mismatch"), wait=3600))
        seen = watch(hosting, "credit", timeout=30)
        settled = time.time()
        traffic.answered_after(settled)
    final = seen[-1]["describe"]
    assert final["EndpointConfigName"] == "c-good"
    assert "alarm canary-5xx went to ALARM" in final["FailureReason"]
    # Only canary requests failed (5xx); the old fleet never failed one, during the shift or the rollback
    failures = traffic.failures()
    assert set(failures) == {"c-spec-mismatch"}
    assert {a.status for a in traffic.answers if a.status != 200} == {500}
    assert traffic.served()["c-good"] > 0
    assert {a.endpoint_config for a in traffic.answers if a.time > settled} == {"c-good"}
    stats = {v["EndpointConfigName"]: v for v in hosting.invocation_stats("credit")["Variants"]}
    assert stats["c-spec-mismatch"]["Invocation5XXErrors"] == failures["c-spec-mismatch"]
    assert stats["c-good"]["Invocation5XXErrors"] == 0


def test_unloadable_canary_fails_the_update_before_any_traffic(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    with Traffic(hosting, models) as traffic:
        hosting.update_endpoint(canary(add_config(hosting, "unloadable")))
        seen = watch(hosting, "credit", timeout=30)
    final = seen[-1]["describe"]
    assert [step["key"][0] for step in seen][-1] == "InService"
    assert final["EndpointConfigName"] == "c-good"
    assert "did not pass the ping health check" in final["FailureReason"]
    assert set(traffic.served()) == {"c-good"}
    assert traffic.failures() == Counter()


def test_linear_update_steps_through_its_shares(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    request = canary(add_config(hosting, "retrained"), wait=5, termination=5)
    request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] = {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 5,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
    }
    hosting.update_endpoint(request)
    assert watch(hosting, "credit", timeout=30)[-1]["describe"]["EndpointConfigName"] == "c-retrained"
    shares = [e["GreenTraffic"] for e in hosting.deployment_events("credit") if "GreenTraffic" in e]
    assert shares == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_all_at_once_update_needs_no_alarm(hosting: LocalSageMakerHosting) -> None:
    in_service(hosting, "credit")
    hosting.update_endpoint(
        {
            "EndpointName": "credit",
            "EndpointConfigName": add_config(hosting, "retrained"),
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 1}
                }
            },
        }
    )
    assert watch(hosting, "credit", timeout=30)[-1]["describe"]["EndpointConfigName"] == "c-retrained"


def test_missing_canary_data_can_be_treated_as_breaching(hosting: LocalSageMakerHosting, models: Models) -> None:
    # Given an alarm that wants evidence: no canary traffic at all means the update must not proceed
    in_service(hosting, "credit")
    hosting.register_alarms(
        "credit",
        [*alarms(models), AlarmRule("canary-5xx", "Invocation5XXErrors rate", 0.05, treat_missing_data="breaching")],
    )
    hosting.update_endpoint(canary(add_config(hosting, "retrained"), wait=5, termination=5))
    final = watch(hosting, "credit", timeout=30)[-1]["describe"]
    assert final["EndpointConfigName"] == "c-good"
    assert "missing data is treated as breaching" in final["FailureReason"]


# -- alarms (pure) ------------------------------------------------------------------------------


def _measure(status: int, latency: float = 1.0, bins: dict[int, int] | None = None) -> Measurement:
    return Measurement(0.0, "c", "v", status, latency, rows=sum((bins or {}).values()), score_bins=bins or {})


def test_5xx_rate_alarm_ignores_client_errors() -> None:
    rule = AlarmRule("a", "Invocation5XXErrors rate", 0.1, min_samples=10)
    window = [_measure(200)] * 9 + [_measure(500)] + [_measure(400)] * 50
    assert evaluate_alarm(rule, window).state == "OK"
    assert evaluate_alarm(rule, [*window, _measure(503)]).state == "ALARM"


def test_latency_alarm_uses_the_99th_percentile() -> None:
    rule = AlarmRule("a", "ModelLatency p99", 50.0, min_samples=100)
    window = [_measure(200, 5.0)] * 98 + [_measure(200, 500.0)] * 2
    evaluation = evaluate_alarm(rule, window)
    assert (evaluation.state, evaluation.samples) == ("ALARM", 100)


def test_prediction_rate_alarm_counts_rows_at_the_score_threshold() -> None:
    rule = AlarmRule("a", "PositivePredictionRate delta vs baseline", 0.1, baseline_rate=0.7, min_samples=10)
    # 7 of 10 rows at exactly 0.5 (bin 500) are positive: on the baseline
    assert evaluate_alarm(rule, [_measure(200, bins={500: 7, 499: 3})]).state == "OK"
    assert evaluate_alarm(rule, [_measure(200, bins={500: 2, 499: 8})]).state == "ALARM"


def test_too_few_samples_leave_an_alarm_without_data() -> None:
    rule = AlarmRule("a", "Invocation5XXErrors rate", 0.1)
    evaluation = evaluate_alarm(rule, [_measure(500)] * 19)
    assert evaluation.state == "INSUFFICIENT_DATA"
    assert "19 samples" in evaluation.reason


def test_prediction_rate_alarm_needs_a_baseline() -> None:
    with pytest.raises(ValueError, match="baseline_rate"):
        AlarmRule("a", "PositivePredictionRate delta vs baseline", 0.1)


# -- capture, persistence, recovery -------------------------------------------------------------


def test_data_capture_records_read_back_as_the_rows_sent(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit", capture_percent=100)
    for row in range(30):
        hosting.invoke("credit", csv_body(models, [row]), "text/csv")
    files = hosting.capture_files("credit")
    assert len(files) == 1
    assert files[0].parts[-9:-5] == ("endpoints", "credit", "capture", "good")
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(records) == 30
    first = records[0]
    assert first["eventVersion"] == "0"
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": csv_body(models, [0]).decode(),
        "encoding": "CSV",
    }
    assert first["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert float(first["captureData"]["endpointOutput"]["data"]) == pytest.approx(
        predict_scores(models.booster, models.spec, models.frame.head(1))[0]
    )
    assert {"eventId", "inferenceTime", "variant", "latencyMs"} <= set(first["eventMetadata"])
    assert first["eventMetadata"]["endpointConfigName"] == "c-good"
    captured = read_capture(files, models.spec)
    np.testing.assert_array_equal(encode_frame(captured, models.spec), encode_frame(models.frame.head(30), models.spec))


def test_capture_uploads_under_sagemakers_key_layout(
    hosting: LocalSageMakerHosting, store: LocalObjectStore, models: Models
) -> None:
    in_service(hosting, "credit", capture_percent=100)
    hosting.invoke("credit", csv_body(models, [0]), "text/csv")
    uploaded = hosting.upload_capture("credit")
    assert [ref.bucket for ref in uploaded] == ["governed-mlops-monitoring"]
    assert uploaded[0].key.startswith(f"datacapture/credit/good/{time.strftime('%Y/%m/%d')}/")
    assert store.get(uploaded[0]) == hosting.capture_files("credit")[0].read_bytes()


def test_capture_samples_by_percentage(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit", capture_percent=0)
    hosting.invoke("credit", csv_body(models, [0]), "text/csv")
    assert hosting.capture_files("credit") == []


def test_a_new_instance_sees_and_serves_the_endpoint(
    tmp_path: Path, store: LocalObjectStore, hosting: LocalSageMakerHosting, models: Models
) -> None:
    in_service(hosting, "credit")
    before = hosting.invoke("credit", csv_body(models, [0]), "text/csv")
    hosting.close()
    with LocalSageMakerHosting(tmp_path, store, time_scale=TIME_SCALE) as later:
        assert later.describe_endpoint("credit")["EndpointStatus"] == "InService"
        assert later.list_endpoints()["Endpoints"][0]["EndpointName"] == "credit"
        assert later.invoke("credit", csv_body(models, [0]), "text/csv").body == before.body
        assert later.invocation_stats("credit")["Variants"][0]["Invocations"] == 2


def test_an_update_whose_driver_stopped_is_rolled_back(
    tmp_path: Path, store: LocalObjectStore, hosting: LocalSageMakerHosting, models: Models
) -> None:
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    hosting.update_endpoint(canary(add_config(hosting, "retrained"), wait=3600))
    hosting.wait_for_status("credit", ["InService"], 0.3)
    hosting.close()  # the process driving the update goes away mid-canary
    with LocalSageMakerHosting(tmp_path, store, time_scale=TIME_SCALE) as later:
        described = later.describe_endpoint("credit")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "c-good"
        assert "the update was interrupted" in described["FailureReason"]


def test_another_instance_serving_the_canary_feeds_the_alarms(
    tmp_path: Path, store: LocalObjectStore, hosting: LocalSageMakerHosting, models: Models
) -> None:
    # Given one instance driving the update and another (as another process would) serving the traffic
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    with (
        LocalSageMakerHosting(tmp_path, store, time_scale=TIME_SCALE, rng_seed=3) as server,
        Traffic(server, models) as traffic,
    ):
        hosting.update_endpoint(canary(add_config(hosting, "flipped"), wait=3600))
        final = watch(hosting, "credit", timeout=30)[-1]["describe"]
    # Then the server's measurements reached the driver's alarms
    assert final["EndpointConfigName"] == "c-good"
    assert "canary-approval-rate" in final["FailureReason"]
    assert traffic.served()["c-flipped"] > 0
    assert traffic.failures() == Counter()


def test_step_functions_integrations_are_exposed(hosting: LocalSageMakerHosting) -> None:
    functions = hosting.functions()
    assert local_function_arn("arn:aws:states:::sagemaker:updateEndpoint") in functions
    describe = functions[local_function_arn("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint")]
    in_service(hosting, "credit")
    assert describe({"EndpointName": "credit"})["EndpointStatus"] == "InService"


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_round_trip(hosting: LocalSageMakerHosting, models: Models) -> None:
    in_service(hosting, "credit")
    server, _ = serve(hosting, port=0)
    try:
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
        connection.request("GET", "/ping")
        ping = connection.getresponse()
        assert (ping.status, ping.read()) == (200, b"")
        # InvokeEndpoint's path, keep-alive on one connection
        connection.request(
            "POST", "/endpoints/credit/invocations", csv_body(models, [0, 1]), {"Content-Type": "text/csv"}
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader(VARIANT_HEADER) == "good"
        assert response.getheader(CONFIG_HEADER) == "c-good"
        expected = predict_scores(models.booster, models.spec, models.frame.head(2))
        assert scores_of(response.read()) == expected.tolist()
        connection.request(
            "POST", "/endpoints/credit/invocations", b"<a/>", {"Content-Type": "application/xml", "Accept": "*/*"}
        )
        refused = connection.getresponse()
        assert refused.status == 415
        assert json.loads(refused.read())["ErrorCode"] == "ModelError"
        connection.request("POST", "/endpoints/nowhere/invocations", b"1", {"Content-Type": "text/csv"})
        missing = connection.getresponse()
        assert (missing.status, json.loads(missing.read())["ErrorCode"]) == (400, "ValidationError")
        connection.request("GET", "/endpoints")
        listed = json.loads(connection.getresponse().read())
        assert [e["EndpointName"] for e in listed["Endpoints"]] == ["credit"]
        connection.request("GET", "/endpoints/credit")
        described = json.loads(connection.getresponse().read())
        assert described["InvocationStats"][0]["Invocations"] == 2
        connection.close()
    finally:
        server.shutdown()
        server.server_close()


# -- the serving path: nothing slow in front of a request ---------------------------------------


def _answered_by(hosting: LocalSageMakerHosting, models: Models, count: int) -> Counter[str]:
    """``count`` invocations from a worker thread; who answered, or AssertionError when they are held up.

    The wait is a deadlock detector, not a latency bound: a request held by the work it must not wait for
    would never finish while that work is held.
    """
    answered: Counter[str] = Counter()
    done = threading.Event()

    def send() -> None:
        for row in range(count):
            answered[hosting.invoke("credit", csv_body(models, [row]), "text/csv").endpoint_config_name] += 1
        done.set()

    threading.Thread(target=send, daemon=True).start()
    assert done.wait(timeout=30), f"invocations are held up: {sum(answered.values())} of {count} answered"
    return answered


def test_an_invocation_does_not_wait_for_a_state_change_being_written(
    hosting: LocalSageMakerHosting, models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an UpdateEndpoint whose state file write (and its fsync) is held midway
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    green = add_config(hosting, "retrained")
    writing, release = threading.Event(), threading.Event()
    real_write = store_module.atomic_write

    def held_write(path: Path, data: bytes) -> None:
        if path.name == "endpoint.json":
            writing.set()
            release.wait(timeout=60)
        real_write(path, data)

    monkeypatch.setattr(store_module, "atomic_write", held_write)
    updater = threading.Thread(target=hosting.update_endpoint, args=(canary(green, wait=3600),), daemon=True)
    updater.start()
    try:
        assert writing.wait(timeout=30), "the update never wrote the endpoint state"
        # When requests arrive while the state is being written
        answered = _answered_by(hosting, models, 5)
    finally:
        release.set()
        updater.join(timeout=30)
    # Then they were served by the fleet in service, without waiting for the write
    assert answered == Counter({"c-good": 5})


def test_the_new_fleet_takes_no_traffic_until_its_model_is_loaded_and_requests_do_not_wait_for_the_load(
    hosting: LocalSageMakerHosting, models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a canary update whose new model's load is held
    in_service(hosting, "credit")
    hosting.register_alarms("credit", alarms(models))
    loading, release = threading.Event(), threading.Event()
    real_load = ModelContainers._load_archive

    def held_load(self: ModelContainers, name: str) -> Any:
        if name == "m-retrained":
            loading.set()
            release.wait(timeout=60)
        return real_load(self, name)

    monkeypatch.setattr(ModelContainers, "_load_archive", held_load)
    hosting.update_endpoint(canary(add_config(hosting, "retrained"), wait=3600, percent=50))
    try:
        assert loading.wait(timeout=30), "the new fleet's model never started loading"
        # When requests arrive during the load
        answered = _answered_by(hosting, models, 40)
        pending = hosting.describe_endpoint("credit")
    finally:
        release.set()
    # Then the old fleet answered all of them at once, and the new fleet had no share of the traffic yet
    assert answered == Counter({"c-good": 40})
    assert pending["EndpointStatus"] == "Updating"
    (status,) = pending["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"]
    assert status["Status"] == "Creating"
    assert status["StatusMessage"].startswith("0% of endpoint traffic")
    # And once loaded, the new fleet takes its canary share
    until(lambda: _answered_by(hosting, models, 20)["c-retrained"] > 0, 30, "the canary fleet answering")


def test_a_fleet_answers_csv_and_json_warm_up_requests_before_it_takes_traffic(
    hosting: LocalSageMakerHosting, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[tuple[str, str]] = []
    real_respond = ServingModel.respond

    def recorded(self: ServingModel, body: bytes, content_type: str | None, accept: str | None) -> Any:
        answer = real_respond(self, body, content_type, accept)
        answered.append((str(content_type), answer.content_type))
        return answer

    monkeypatch.setattr(ServingModel, "respond", recorded)
    # When an endpoint goes in service (no request sent yet)
    in_service(hosting, "credit")
    # Then its model has already answered one CSV and one JSON request, each in its own format
    assert answered == [("text/csv", "text/csv"), ("application/json", "application/json")]


def test_provisioning_a_fleet_freezes_the_long_lived_objects_out_of_full_collections(
    hosting: LocalSageMakerHosting,
) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    in_service(hosting, "credit")
    assert gc.get_freeze_count() > 0


def test_an_invocation_does_not_wait_for_its_measurement_to_reach_the_disk(
    tmp_path: Path, hosting: LocalSageMakerHosting, models: Models
) -> None:
    # Given a fleet whose measurements file cannot be written yet (a FIFO nobody reads: a write waiting on the disk)
    in_service(hosting, "credit")
    fifo = tmp_path / "endpoints" / "credit" / "metrics" / "c-good.jsonl"
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    try:
        # When requests arrive
        answered = _answered_by(hosting, models, 3)
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the held write can go through now
    # Then they were answered while the write waited, and their measurements reach the file afterwards
    assert answered == Counter({"c-good": 3})
    received = bytearray()

    def three_lines() -> bool:
        with contextlib.suppress(BlockingIOError):
            received.extend(os.read(reader, 65536))
        return received.count(b"\n") == 3

    try:
        until(three_lines, 30, "the three measurements written once the file could be written")
    finally:
        os.close(reader)
    assert [json.loads(line)["status"] for line in received.splitlines()] == [200, 200, 200]
