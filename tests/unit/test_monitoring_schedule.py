"""The scheduled monitor's two functions, on fakes: Start Monitoring (one processing job per endpoint in service)
and Monitoring Result (act on the job's report). The job request is checked against SageMaker's API model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.models import ObjectDigest, S3Ref
from governed_mlops.services.monitoring import ResultDeps, handle_job_state_change
from governed_mlops.services.monitoring_schedule import (
    JobSettings,
    ScheduleDeps,
    job_name,
    processing_job_request,
    start_monitoring,
)
from tests.conftest import GERMAN_CREDIT
from tests.integration.test_monitor_min_samples import make_world

BUCKET = "artifacts"
NOW = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
JOB = JobSettings(
    artifacts_bucket=BUCKET,
    training_source_uri=f"s3://{BUCKET}/code/sourcedir.tar.gz",
    role_arn="arn:aws:iam::123456789012:role/jobs",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
    instance_type="ml.t3.medium",
    kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
    security_group_id="sg-1",
    subnets=("subnet-a", "subnet-b"),
)


def _validate(operation: str, request: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    validate_parameters(request, model.operation_model(operation).input_shape)


def test_the_job_request_is_a_valid_create_processing_job_with_the_pipelines_guardrails() -> None:
    request = processing_job_request(
        job_name("credit-risk", NOW),
        "credit-risk",
        code=S3Ref(bucket=BUCKET, key="code/sourcedir.tar.gz", version_id="v1"),
        archive=S3Ref(bucket=BUCKET, key="training-jobs/x/output/model.tar.gz"),
        train=S3Ref(bucket=BUCKET, key="runs/x/prepared/train/train.csv"),
        config_uri=f"s3://{BUCKET}/monitoring/credit-risk/mon-credit-risk-20261205210000/input/",
        labels=True,
        job=JOB,
    )

    _validate("CreateProcessingJob", request)
    assert request["ProcessingJobName"] == "mon-credit-risk-20261205210000"
    assert request["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert request["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert request["NetworkConfig"]["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-a", "subnet-b"]}
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == JOB.kms_key_arn
    assert request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == JOB.kms_key_arn
    # The output is the run's folder, next to its monitor_config.json
    (output,) = request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == f"s3://{BUCKET}/monitoring/credit-risk/mon-credit-risk-20261205210000/"
    assert {i["InputName"] for i in request["ProcessingInputs"]} == {
        "code",
        "model",
        "train",
        "capture",
        "config",
        "labels",
    }
    assert request["AppSpecification"]["ContainerArguments"][0] == "run"


def test_a_long_endpoint_name_still_gives_a_job_name_sagemaker_accepts() -> None:
    name = job_name("a" * 41, NOW)

    assert len(name) <= 63
    assert name.startswith("mon-")
    assert name.endswith("-20261205210000")


class FakeSageMaker:
    def __init__(self, endpoints: dict[str, dict[str, Any]]) -> None:
        self.endpoints = endpoints
        self.created: list[dict[str, Any]] = []

    def list_endpoints(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["StatusEquals"] == "InService"
        return {"Endpoints": [{"EndpointName": name} for name in self.endpoints]}

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803 - boto3's spelling
        return {"EndpointConfigName": self.endpoints[EndpointName]["config"]}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
        return {"ProductionVariants": [{"ModelName": f"model-of-{EndpointConfigName}", "InitialVariantWeight": 1.0}]}

    def describe_model(self, ModelName: str) -> dict[str, Any]:  # noqa: N803
        (served,) = [e for e in self.endpoints.values() if ModelName == f"model-of-{e['config']}"]
        return {"PrimaryContainer": {"ModelDataUrl": served["archive"]}}

    def create_processing_job(self, **request: Any) -> dict[str, Any]:
        _validate("CreateProcessingJob", request)
        self.created.append(request)
        return {"ProcessingJobArn": "arn"}


def test_start_monitoring_starts_one_job_per_served_endpoint_and_skips_the_others(tmp_path: Any) -> None:
    import pandas as pd

    from governed_mlops_ml.artifacts import read_dataset

    frame: pd.DataFrame = read_dataset(GERMAN_CREDIT)
    world = make_world(tmp_path, frame, min_samples=100)
    store: LocalObjectStore = world.store
    store.put(BUCKET, "code/sourcedir.tar.gz", b"code")
    store.put(BUCKET, "data-capture/credit-risk/AllTraffic/2026/12/05/20/x.jsonl", b"{}\n")
    archive = world.hosting.archive.ref
    world.registry.record_deployment(world.registry.list_versions()[0].model_version, {"serving_config": "cfg-1"})
    sagemaker = FakeSageMaker(
        {
            "credit-risk": {"config": "cfg-1", "archive": f"s3://{archive.bucket}/{archive.key}"},
            "someone-elses": {"config": "cfg-9", "archive": "s3://other/model.tar.gz"},
        }
    )

    result = start_monitoring(ScheduleDeps(sagemaker, store, world.registry), JOB, now=NOW)

    assert [s["endpoint"] for s in result["started"]] == ["credit-risk"]
    # An endpoint serving an archive no registered model version has (another team's) is skipped, with why
    ((skipped),) = result["skipped"]
    assert skipped["endpoint"] == "someone-elses"
    assert "no registered model version has as its artifact" in skipped["reason"]
    (request,) = sagemaker.created
    config_key = f"monitoring/credit-risk/{request['ProcessingJobName']}/input/monitor_config.json"
    config = json.loads(store.get(S3Ref(bucket=BUCKET, key=config_key)))
    assert (config["endpoint_config_name"], config["min_samples"]) == ("cfg-1", 100)
    assert {facet["name"] for facet in config["bias"]["facets"]} == {"sex", "age_25_or_younger", "foreign_worker"}
    # No label file yet: no labels channel (an empty S3 prefix fails a SageMaker job)
    assert "labels" not in {i["InputName"] for i in request["ProcessingInputs"]}


def _inputs(request: dict[str, Any]) -> dict[str, str]:
    return {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}


def _served_world(tmp_path: Any, *, source: S3Ref | None) -> tuple[Any, LocalObjectStore, FakeSageMaker]:
    """One endpoint serving a registered version whose lineage names job code ``source`` (None: none)."""
    import pandas as pd

    from governed_mlops_ml.artifacts import read_dataset

    frame: pd.DataFrame = read_dataset(GERMAN_CREDIT)
    digest = None if source is None else ObjectDigest(ref=source, sha256="0" * 64, size=4)
    world = make_world(tmp_path, frame, min_samples=100, source=digest)
    store: LocalObjectStore = world.store
    store.put(BUCKET, "data-capture/credit-risk/AllTraffic/2026/12/05/20/x.jsonl", b"{}\n")
    (version,) = world.registry.list_versions()
    world.registry.record_deployment(version.model_version, {"serving_config": "cfg-1"})
    archive = world.hosting.archive.ref
    served = {"credit-risk": {"config": "cfg-1", "archive": f"s3://{archive.bucket}/{archive.key}"}}
    return world, store, FakeSageMaker(served)


def test_the_monitor_runs_the_job_code_its_model_version_was_trained_with(tmp_path: Any) -> None:
    # Given a model trained from a commit's code, and other job code published since
    trained = S3Ref(bucket=BUCKET, key=f"source/{'ab' * 32}/sourcedir.tar.gz", version_id="v-trained")
    world, store, sagemaker = _served_world(tmp_path, source=trained)
    store.put(BUCKET, "code/sourcedir.tar.gz", b"newer code")

    start_monitoring(ScheduleDeps(sagemaker, store, world.registry), JOB, now=NOW)

    # Then its monitoring job runs the code of its lineage (a content-addressed key: its bytes never change)
    (request,) = sagemaker.created
    assert _inputs(request)["code"] == f"s3://{BUCKET}/source/{'ab' * 32}/sourcedir.tar.gz"


def test_a_version_without_job_code_in_its_lineage_runs_the_published_code(tmp_path: Any) -> None:
    world, store, sagemaker = _served_world(tmp_path, source=None)
    store.put(BUCKET, "code/sourcedir.tar.gz", b"code")

    start_monitoring(ScheduleDeps(sagemaker, store, world.registry), JOB, now=NOW)

    (request,) = sagemaker.created
    assert _inputs(request)["code"] == f"s3://{BUCKET}/code/sourcedir.tar.gz"


def test_without_any_job_code_the_endpoint_is_skipped_with_what_to_do(tmp_path: Any) -> None:
    world, store, sagemaker = _served_world(tmp_path, source=None)

    result = start_monitoring(ScheduleDeps(sagemaker, store, world.registry), JOB, now=NOW)

    assert sagemaker.created == []
    ((skipped),) = result["skipped"]
    assert skipped["endpoint"] == "credit-risk"
    assert skipped["reason"].startswith("ArtifactNotFoundError: credit-risk/1's lineage names no job code")
    assert "publish the sourcedir, or retrain the model" in skipped["reason"]


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, str]]] = []
        self.appended: list[tuple[Any, ...]] = []
        self.events: list[dict[str, Any]] = []

    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str:
        self.published.append((subject, message, attributes))
        return "message-1"

    def append(self, *args: Any) -> None:
        self.appended.append(args)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.events += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


def _detail(status: str, name: str = "mon-credit-risk-20261205210000", bucket: str = BUCKET) -> dict[str, Any]:
    uri = f"s3://{bucket}/monitoring/credit-risk/{name}/"
    return {
        "ProcessingJobName": name,
        "ProcessingJobStatus": status,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "report", "S3Output": {"S3Uri": uri}}]},
        "FailureReason": "AlgorithmError: boom",
    }


def _result_world(tmp_path: Any, run: dict[str, Any]) -> tuple[ResultDeps, Recorder]:
    store = LocalObjectStore(tmp_path)
    prefix = "monitoring/credit-risk/mon-credit-risk-20261205210000/"
    store.put(BUCKET, prefix + "run.json", json.dumps(run).encode())
    store.put(BUCKET, prefix + "constraint_violations.json", b'{"violations": []}')
    recorder = Recorder()
    return ResultDeps(store=store, notifier=recorder, audit=recorder, events=recorder), recorder


RUN = {
    "run_id": "mon-x-1",
    "endpoint_name": "credit-risk",
    "endpoint_config_name": "cfg-1",
    "model_version": "credit-risk/1",
    "status": "violations",
    "rows": 150,
    "violations": [{"feature_name": "bias_drift", "constraint_check_type": "bias_drift", "description": "RD"}],
    "drifted_features": [],
}


def test_a_report_with_violations_alerts_audits_and_puts_model_drift_detected(tmp_path: Any) -> None:
    deps, recorder = _result_world(tmp_path, RUN)

    result = handle_job_state_change(
        _detail("Completed"), deps, artifacts_bucket=BUCKET, account="123456789012", region="us-east-1", now=NOW
    )

    assert result["action"] == "drift"
    ((subject, _, attributes),) = recorder.published
    assert subject == "Bias drift on credit-risk: bias_drift"
    assert attributes["kind"] == "model-drift"
    ((principal, action, subject_version, _details, evidence),) = recorder.appended
    assert (principal, action, subject_version) == ("system:model-monitor", "monitoring.violation", "credit-risk/1")
    assert set(evidence) == {"constraint_violations"}
    ((entry),) = recorder.events
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "governed-mlops.monitoring",
        "Model Drift Detected",
        "default",
    )
    assert json.loads(entry["Detail"])["violations_report"].endswith("/constraint_violations.json")


def test_a_report_without_violations_acts_on_nothing(tmp_path: Any) -> None:
    deps, recorder = _result_world(tmp_path, RUN | {"status": "no_violations", "violations": []})

    result = handle_job_state_change(_detail("Completed"), deps, artifacts_bucket=BUCKET, account="1", region="r")

    assert result["action"] == "none"
    assert (recorder.published, recorder.appended, recorder.events) == ([], [], [])


def test_a_failed_job_is_alerted_as_a_fault(tmp_path: Any) -> None:
    deps, recorder = _result_world(tmp_path, RUN)

    result = handle_job_state_change(_detail("Failed"), deps, artifacts_bucket=BUCKET, account="1", region="r")

    assert result["action"] == "alerted"
    ((_subject, message, attributes),) = recorder.published
    assert "AlgorithmError: boom" in message
    assert attributes["outcome"] == "fault"
    assert recorder.events == []


@pytest.mark.parametrize(
    "detail",
    [_detail("Completed", name="run-1-bias-pre-0"), _detail("Completed", bucket="another-stacks-artifacts")],
    ids=["a pipeline job", "another stack's monitoring job"],
)
def test_a_job_that_is_not_this_stacks_monitor_is_ignored(tmp_path: Any, detail: dict[str, Any]) -> None:
    deps, recorder = _result_world(tmp_path, RUN)

    result = handle_job_state_change(detail, deps, artifacts_bucket=BUCKET, account="1", region="r")

    assert result["action"] == "ignored"
    assert recorder.published == []
