"""The AWS adapters against moto, on resources built from template.yaml's own properties.

The registry table and the buckets are created from the template's resource properties (key schema,
billing mode, versioning, default encryption), so a change to the template that the adapters cannot
live with fails here. The last section checks the SageMaker requests the ASL builds against
botocore's service model, offline.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from moto import mock_aws
from moto.sagemaker.models import SageMakerModelBackend
from samtranslator.yaml_helper import yaml_parse

from governed_mlops.adapters.code_repository import CodeCommitRepository
from governed_mlops.adapters.model_registry import SageMakerModelRegistry
from governed_mlops.adapters.object_store import S3ObjectStore
from governed_mlops.adapters.pipeline import DefinitionThatRan, StepFunctionsPipeline, definition_that_ran
from governed_mlops.errors import (
    ArtifactNotFoundError,
    ExecutionNotFoundError,
    ModelVersionNotFoundError,
    RepositoryNotFoundError,
)
from governed_mlops.models import CodeRef, ModelVersion, ObjectDigest, S3Ref, TriggerInfo
from governed_mlops_local.asl_engine import install_qualified_start_execution
from governed_mlops_local.runtime import LOCAL_IMAGES, LOCAL_PARAMETERS
from governed_mlops_local.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
TEMPLATE = yaml_parse(TEMPLATE_PATH.read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every client in the test, with fake credentials (never a real account)."""
    _fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def running_sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with its ASL interpreter running executions (and the local fix for alias ARNs)."""
    _fake_credentials(monkeypatch)
    undo = install_qualified_start_execution()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield
    finally:
        undo()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


# --------------------------------------------------------------------------------------------------
# Resources from the template


def create_bucket_from_template(logical_id: str, name: str) -> str:
    """A bucket with the template's versioning and default encryption (the stack key becomes a moto key)."""
    s3, props = _client("s3"), RESOURCES[logical_id]["Properties"]
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    key_arn = _client("kms").create_key(Description="stand-in for KmsKey")["KeyMetadata"]["Arn"]
    rules = []
    for rule in copy.deepcopy(props["BucketEncryption"]["ServerSideEncryptionConfiguration"]):
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        default = rule.pop("ServerSideEncryptionByDefault")
        default["KMSMasterKeyID"] = key_arn
        rules.append({**rule, "ApplyServerSideEncryptionByDefault": default})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    return name


def create_table_from_template(logical_id: str, name: str) -> str:
    props = RESOURCES[logical_id]["Properties"]
    _client("dynamodb").create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    return name


def test_template_still_has_what_these_tests_build_on() -> None:
    # A renamed resource must fail here with a clear message, not deep inside a fixture.
    assert RESOURCES["ModelRegistryTable"]["Type"] == "AWS::DynamoDB::Table"
    assert RESOURCES["ArtifactsBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert RESOURCES["DataBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


# --------------------------------------------------------------------------------------------------
# S3ObjectStore


@pytest.fixture
def store(aws: None) -> S3ObjectStore:
    create_bucket_from_template("DataBucket", "governed-mlops-data")
    return S3ObjectStore(_client("s3"))


def test_put_pins_a_version_and_get_returns_that_version(store: S3ObjectStore) -> None:
    # Given two versions of the same key
    first = store.put("governed-mlops-data", "datasets/credit.csv", b"v1")
    second = store.put("governed-mlops-data", "datasets/credit.csv", b"v2")

    # Then each pinned reference reads its own bytes
    assert first.ref.version_id
    assert first.ref.version_id != second.ref.version_id
    assert store.get(first.ref) == b"v1"
    assert store.get(second.ref) == b"v2"
    assert first.sha256 == hashlib.sha256(b"v1").hexdigest()


def test_latest_under_finds_the_newest_object_under_a_prefix(
    store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3's LastModified has one-second resolution: moto's clock is set so the newest is unambiguous, not waited for
    clock = [datetime(2026, 1, 5, 9, 0)]  # naive UTC, as moto keeps it
    monkeypatch.setattr("moto.s3.models.utcnow", lambda: clock[0])
    store.put("governed-mlops-data", "datasets/a.csv", b"a")
    clock[0] += timedelta(seconds=1)
    newest = store.put("governed-mlops-data", "datasets/b.csv", b"bb")
    store.put("governed-mlops-data", "other/c.csv", b"c")

    found = store.latest_under("governed-mlops-data", "datasets/")

    assert found is not None
    assert found.ref == newest.ref
    assert found.size == 2
    assert found.sha256 == hashlib.sha256(b"bb").hexdigest()


def test_latest_under_an_empty_prefix_is_none(store: S3ObjectStore) -> None:
    assert store.latest_under("governed-mlops-data", "datasets/") is None


def test_list_keys_is_every_current_key_under_the_prefix_once_in_order(store: S3ObjectStore) -> None:
    store.put("governed-mlops-data", "capture/b.jsonl", b"1")
    store.put("governed-mlops-data", "capture/b.jsonl", b"2")
    store.put("governed-mlops-data", "capture/a.jsonl", b"3")
    store.put("governed-mlops-data", "other/c.jsonl", b"4")

    assert store.list_keys("governed-mlops-data", "capture/") == ["capture/a.jsonl", "capture/b.jsonl"]


def test_missing_object_is_a_named_error(store: S3ObjectStore) -> None:
    with pytest.raises(ArtifactNotFoundError):
        store.get(S3Ref(bucket="governed-mlops-data", key="datasets/missing.csv"))


def test_objects_are_encrypted_with_the_bucket_kms_default(store: S3ObjectStore) -> None:
    stored = store.put("governed-mlops-data", "datasets/credit.csv", b"x")

    head = _client("s3").head_object(Bucket="governed-mlops-data", Key="datasets/credit.csv")

    assert stored.ref.version_id == head["VersionId"]
    assert head["ServerSideEncryption"] == "aws:kms"


# --------------------------------------------------------------------------------------------------
# SageMakerModelRegistry


@pytest.fixture
def honour_client_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto ignores CreateModelPackage's ClientToken; AWS returns the first package for a repeated token."""
    original = SageMakerModelBackend.create_model_package
    created: dict[str, str] = {}

    def create_model_package(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> str:
        token = kwargs.get("client_token")
        if token and token in created:
            return created[token]
        arn = original(backend, *args, **kwargs)
        if token:
            created[token] = arn
        return arn

    monkeypatch.setattr(SageMakerModelBackend, "create_model_package", create_model_package)


@pytest.fixture
def registry(aws: None, honour_client_token: None) -> SageMakerModelRegistry:
    table = create_table_from_template("ModelRegistryTable", "governed-mlops-registry")
    return SageMakerModelRegistry(_client("sagemaker"), _client("dynamodb"), table)


def _digest(key: str, data: bytes = b"x") -> ObjectDigest:
    ref = S3Ref(bucket="governed-mlops-artifacts", key=key, version_id="v1")
    return ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def draft(execution: str, model_bytes: bytes = b"model") -> ModelVersion:
    return ModelVersion(
        model_version="pending",
        model_package_group="credit-risk",
        status="PendingManualApproval",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        execution_name=execution,
        trigger=TriggerInfo(
            kind="data-arrival",
            event_id="evt-1",
            event_time=datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC),
            principal="uploader",
            source="aws.s3",
            detail_type="Object Created",
        ),
        data=_digest("datasets/credit.csv"),
        code=CodeRef(repository="model-projects", branch="main", commit_id="a" * 40),
        config=_digest("config/pipeline.yaml"),
        model_artifact=_digest(f"training-jobs/{execution}-train/output/model.tar.gz", model_bytes),
        training_job_name=f"{execution}-train",
        training_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        source_sha256="b" * 64,
        hyperparameters={"max_depth": "3"},
        seed=7,
        library_versions={"xgboost": "3.2.0"},
        metrics={"auc": 0.8},
        reports={"evaluation": _digest(f"runs/{execution}/evaluation/evaluation.json")},
    )


def _packages() -> list[dict[str, Any]]:
    return _client("sagemaker").list_model_packages(ModelPackageGroupName="credit-risk")["ModelPackageSummaryList"]


def test_registration_creates_a_versioned_package_and_a_lineage_record(registry: SageMakerModelRegistry) -> None:
    record = registry.register(draft("data-run-1"))

    assert record.model_version == "credit-risk/1"
    assert record.model_package_arn
    assert len(_packages()) == 1
    assert registry.get("credit-risk/1") == record


def test_registering_the_same_execution_twice_returns_the_same_version(registry: SageMakerModelRegistry) -> None:
    # Given a registration, When Register Model is retried for the same execution
    first = registry.register(draft("data-run-1"))
    again = registry.register(draft("data-run-1"))

    # Then the retry returns the first version and creates no second model package
    assert again.model_version == first.model_version == "credit-risk/1"
    assert len(_packages()) == 1


def test_versions_count_up_per_group_and_list_in_order(registry: SageMakerModelRegistry) -> None:
    for run in ("data-run-1", "data-run-2", "data-run-3"):
        registry.register(draft(run))

    assert [r.model_version for r in registry.list_versions()] == ["credit-risk/1", "credit-risk/2", "credit-risk/3"]
    assert [r.execution_name for r in registry.list_versions()] == ["data-run-1", "data-run-2", "data-run-3"]


def test_unknown_version_is_a_named_error(registry: SageMakerModelRegistry) -> None:
    with pytest.raises(ModelVersionNotFoundError):
        registry.get("credit-risk/99")


# --------------------------------------------------------------------------------------------------
# CodeCommitRepository (moto has no GetBranch: botocore's Stubber checks the request shape offline)


def test_branch_head_is_the_branch_commit() -> None:
    client = botocore.session.get_session().create_client("codecommit", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "get_branch",
            {"branch": {"branchName": "main", "commitId": "c" * 40}},
            {"repositoryName": "model-projects", "branchName": "main"},
        )
        assert CodeCommitRepository(client).branch_head("model-projects", "main") == "c" * 40


def test_missing_repository_is_a_named_error() -> None:
    client = botocore.session.get_session().create_client("codecommit", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_branch", "RepositoryDoesNotExistException", "no such repository")
        with pytest.raises(RepositoryNotFoundError, match="RepositoryDoesNotExistException"):
            CodeCommitRepository(client).branch_head("nope", "main")


# --------------------------------------------------------------------------------------------------
# StepFunctionsPipeline

_PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
_OTHER_MACHINE = json.dumps({"StartAt": "Other", "States": {"Other": {"Type": "Pass", "End": True}}})
_ROLE = "arn:aws:iam::123456789012:role/pipeline"


@pytest.fixture
def pipeline(aws: None) -> StepFunctionsPipeline:
    sfn = _client("stepfunctions")
    arn = sfn.create_state_machine(
        name="governed-mlops-training-pipeline",
        definition=_PASS_MACHINE,
        roleArn="arn:aws:iam::123456789012:role/pipeline",
    )["stateMachineArn"]
    return StepFunctionsPipeline(sfn, arn)


def test_start_returns_the_execution(pipeline: StepFunctionsPipeline) -> None:
    outcome = pipeline.start("data-run-1", {"execution_name": "data-run-1"})

    assert outcome.started is True
    assert outcome.execution_arn == pipeline.execution_arn("data-run-1")
    assert pipeline.describe("data-run-1")["executionArn"] == outcome.execution_arn


def _executions() -> list[dict[str, Any]]:
    machines = _client("stepfunctions").list_state_machines()["stateMachines"]
    return _client("stepfunctions").list_executions(stateMachineArn=machines[0]["stateMachineArn"])["executions"]


def test_redelivered_event_maps_onto_the_running_execution(pipeline: StepFunctionsPipeline) -> None:
    # Given an execution started for an event, When the same event is delivered again while it runs
    first = pipeline.start("data-run-1", {"execution_name": "data-run-1"})
    again = pipeline.start("data-run-1", {"execution_name": "data-run-1"})

    # Then Step Functions answers with the same execution (same name and input) and starts no second one
    assert again.execution_arn == first.execution_arn
    assert len(_executions()) == 1


def test_reusing_a_name_with_another_input_reports_a_duplicate(pipeline: StepFunctionsPipeline) -> None:
    first = pipeline.start("data-run-1", {"attempt": 1})
    again = pipeline.start("data-run-1", {"attempt": 2})

    assert again.started is False
    assert again.execution_arn == first.execution_arn
    assert len(_executions()) == 1


def test_unknown_execution_is_a_named_error(pipeline: StepFunctionsPipeline) -> None:
    with pytest.raises(ExecutionNotFoundError):
        pipeline.describe("never-started")


def test_the_recorded_definition_is_the_one_the_execution_ran(running_sfn: None) -> None:
    # Started through the alias of version 1; the machine is updated before Register Model reads it.
    sfn = _client("stepfunctions")
    created = sfn.create_state_machine(
        name="governed-mlops-training-pipeline", definition=_PASS_MACHINE, roleArn=_ROLE, publish=True
    )
    alias = sfn.create_state_machine_alias(
        name="live",
        routingConfiguration=[{"stateMachineVersionArn": created["stateMachineVersionArn"], "weight": 100}],
    )["stateMachineAliasArn"]
    started = StepFunctionsPipeline(sfn, alias).start("data-run-1", {})
    sfn.update_state_machine(stateMachineArn=created["stateMachineArn"], definition=_OTHER_MACHINE)

    ran = definition_that_ran(sfn, started.execution_arn)

    assert ran == DefinitionThatRan(
        hashlib.sha256(_PASS_MACHINE.encode()).hexdigest(), created["stateMachineVersionArn"]
    )
    assert started.execution_arn.endswith(":execution:governed-mlops-training-pipeline:data-run-1")


def test_no_execution_arn_records_no_definition() -> None:
    assert definition_that_ran(None, "") is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# The SageMaker requests the ASL builds, against botocore's service model (offline)

_SAGEMAKER_MODEL = botocore.session.get_session().get_service_model("sagemaker")
_OPERATIONS = {
    "arn:aws:states:::sagemaker:createTrainingJob.sync": "CreateTrainingJob",
    "arn:aws:states:::sagemaker:createProcessingJob.sync": "CreateProcessingJob",
}


def _sample(shape: Any) -> Any:  # noqa: PLR0911 - one return per botocore shape type
    """A value valid for ``shape``: what a JSONPath field (``Key.$``) resolves to at run time."""
    if shape.type_name == "string":
        if shape.enum:
            return shape.enum[0]
        return "s3://governed-mlops-artifacts/runs/sample/" if "Uri" in shape.name else "sample-value"
    if shape.type_name in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if shape.type_name == "boolean":
        return True
    if shape.type_name == "map":
        return {"sample_key": _sample(shape.value)}
    if shape.type_name == "list":
        return [_sample(shape.member)]
    if shape.type_name == "structure":
        return {name: _sample(shape.members[name]) for name in shape.required_members}
    raise AssertionError(f"no sample for {shape.type_name}")


def fill_runtime_fields(parameters: Any, shape: Any) -> Any:
    """Replace every ``Key.$`` by ``Key`` with a sample value of the member's shape."""
    if isinstance(parameters, list):
        return [fill_runtime_fields(item, shape.member) for item in parameters]
    if not isinstance(parameters, dict):
        return parameters
    filled = {}
    for key, value in parameters.items():
        name = key.removesuffix(".$")
        member = shape.members.get(name) if shape.type_name == "structure" else None
        assert member is not None, f"{key}: not a member of {shape.name}"
        filled[name] = _sample(member) if key.endswith(".$") else fill_runtime_fields(value, member)
    return filled


def sagemaker_requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(state, operation, Parameters with the local template's substitutions) for each SageMaker Task."""
    local = load_template(
        TEMPLATE_PATH, stack_name="governed-mlops", parameter_overrides={**LOCAL_IMAGES, **LOCAL_PARAMETERS}
    )
    definition = json.loads(local.state_machines["TrainingPipeline"].definition)
    return [
        (name, _OPERATIONS[state["Resource"]], state["Parameters"])
        for name, state in definition["States"].items()
        if state.get("Resource") in _OPERATIONS
    ]


REQUESTS = sagemaker_requests()


@pytest.mark.parametrize(("state", "operation", "parameters"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_asl_sagemaker_request_is_valid_for_the_service_model(
    state: str, operation: str, parameters: dict[str, Any]
) -> None:
    shape = _SAGEMAKER_MODEL.operation_model(operation).input_shape

    validate_parameters(fill_runtime_fields(parameters, shape), shape)


def test_train_model_request_carries_the_security_fields() -> None:
    (parameters,) = [p for _, op, p in REQUESTS if op == "CreateTrainingJob"]
    shape = _SAGEMAKER_MODEL.operation_model("CreateTrainingJob").input_shape
    request = fill_runtime_fields(parameters, shape)

    assert request["EnableNetworkIsolation"] is True
    assert request["EnableInterContainerTrafficEncryption"] is True
    assert request["ResourceConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:")
    assert request["OutputDataConfig"]["KmsKeyId"] == request["ResourceConfig"]["VolumeKmsKeyId"]
    assert [s.split("-")[0] for s in request["VpcConfig"]["Subnets"]] == ["subnet", "subnet"]
    assert [g.split("-")[0] for g in request["VpcConfig"]["SecurityGroupIds"]] == ["sg"]
    # Network isolation: the code arrives as a channel, the container never fetches it from S3.
    assert "code" in [c["ChannelName"] for c in request["InputDataConfig"]]


def test_invalid_request_is_rejected_by_the_service_model() -> None:
    # The check above can fail: a wrong type or a missing required member is caught offline.
    (parameters,) = [p for _, op, p in REQUESTS if op == "CreateTrainingJob"]
    shape = _SAGEMAKER_MODEL.operation_model("CreateTrainingJob").input_shape
    request = fill_runtime_fields(parameters, shape)
    request["EnableNetworkIsolation"] = "yes"
    del request["RoleArn"]

    with pytest.raises(ParamValidationError, match="RoleArn") as raised:
        validate_parameters(request, shape)
    assert "EnableNetworkIsolation" in str(raised.value)
