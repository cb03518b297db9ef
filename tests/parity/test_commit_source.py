"""Every run trains exactly its commit, job code and configuration, on the parity stack.

Two commits that differ by one line under ``jobs/`` are pushed one after the other. For each push,
Prepare Data (under its own role, every call IAM-checked) reads the commit through CodeCommit's
``GetFolder``/``GetFile`` (answered from a real git repository: tests/parity/codecommit.py), packs
it and stores ``source/<sha256>/sourcedir.tar.gz``; the training job's code channel is that object and the
registered lineage pairs the commit with the digest. ``mlops reproduce --aws`` packs the commit again
and refuses a lineage whose pair was tampered with, before anything is trained.

Then a third commit changes only ``models/credit-risk/config.yaml`` (one hyperparameter) and is pushed
with no publish step: the Trigger reads the file from the commit, stores it under
``config/<sha256>/config.yaml`` and the run trains with it. A dataset arriving next runs the branch head
(that commit), packed like a push. Last, a commit with a broken configuration is pushed: the model is
skipped with the ConfigError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from governed_mlops.adapters.code_repository import CodeCommitRepository
from governed_mlops.domain.sourcedir import content_addressed_key, pack_sourcedir
from governed_mlops.model_projects import commit_config_key, config_key
from governed_mlops_local.cli import main
from governed_mlops_local.packaging import build_sourcedir
from tests.parity.runtime import Delivery
from tests.parity.stack import HARNESS_CREDENTIALS
from tests.parity.world import GERMAN_CREDIT, MODEL, PROJECT_DIR, World, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]

#: The one line the second commit adds to a job script (a comment: the job still runs).
ONE_LINE = "# tuned: nothing but this line differs between the two commits"
CONFIG_PATH = f"models/{MODEL}/config.yaml"
#: The third commit's configuration: the checkout's with one hyperparameter changed.
TUNED = (PROJECT_DIR / CONFIG_PATH).read_bytes().replace(b"num_round: 150", b"num_round: 40")


@dataclass
class Pushed:
    """One pushed commit and the lineage its run registered."""

    commit: str
    execution_arn: str
    record: dict[str, Any]
    #: The model package's CustomerMetadataProperties, read right after registration.
    metadata: dict[str, str]


@dataclass
class TwoPushes:
    world: World
    first: Pushed
    second: Pushed
    data_dir: Path
    mark: int
    #: A push changing only the model's configuration (no publish step).
    tuned: Pushed
    #: A dataset's arrival after it: the run of the branch head.
    arrival: Pushed
    #: The Trigger's answer to a push whose configuration does not parse.
    broken: dict[str, Any]
    broken_commit: str

    def mlops(self, *args: str) -> Result:
        stack = self.world.stack
        aws = ["--aws", "--stack", stack.name, "--region", stack.region]
        return CliRunner().invoke(main, ["--data-dir", str(self.data_dir), *args, *aws])


def _registered(world: World, commit: str, deliveries: list[Delivery] | None = None) -> Pushed:
    """Push ``commit`` (or take the ``deliveries`` of its run's event), wait for its approval request (the
    version is registered by then) and reject it."""
    deliveries = world.push(commit) if deliveries is None else deliveries
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    (run,) = deliveries[0].result["runs"]
    execution_arn = str(run["execution_arn"])
    link = world.approval_link(execution_arn)
    table = world.stack.outputs["ModelRegistryTableName"]
    items = world.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    records = [json.loads(i["record"]["S"]) for i in items]
    (record,) = [r for r in records if r["execution_name"] == execution_arn.rsplit(":", 1)[-1]]
    # Read while pending: moto's UpdateModelPackage (the rejection below) drops CustomerMetadataProperties
    # it is not given, where SageMaker keeps them.
    package = world.client("sagemaker").describe_model_package(ModelPackageName=record["model_package_arn"])
    status, answer = world.decide(link, "carol.approver", "reject", "parity: lineage only")
    assert status == 200, answer
    assert world.runtime.wait(execution_arn)["status"] == "FAILED"
    return Pushed(commit, execution_arn, record, dict(package["CustomerMetadataProperties"]))


@pytest.fixture(scope="module")
def pushes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoPushes]:
    # Its own stack name: the package's parity_stack deploys the default one into the same moto account.
    with parity_world(tmp_path_factory.mktemp("commit-source"), "gm-source") as world:
        world.seed_dataset()
        mark = world.mark()
        first = _registered(world, world.commit(message="first"))
        second = _registered(world, world.commit(append={"jobs/train.py": ONE_LINE}, message="one line in jobs/"))
        tuned = _registered(world, world.commit(replace={CONFIG_PATH: TUNED}, message="num_round 150 -> 40"))
        upload = world.runtime.upload(
            world.data_bucket,
            world.data_key("arrival.csv"),
            GERMAN_CREDIT.read_bytes(),
            requester=world.stack.account_id,
        )
        arrival = _registered(world, world.head, upload)
        broken_commit = world.commit(replace={CONFIG_PATH: b"model:\n  risk_tier: extreme\n"}, message="broken")
        (broken,) = world.push(broken_commit)
        yield TwoPushes(
            world,
            first,
            second,
            tmp_path_factory.mktemp("cli-data") / "mlops-data",
            mark,
            tuned,
            arrival,
            dict(broken.result or {}),
            broken_commit,
        )


def _operator_pack(world: World, commit: str) -> str:
    """The commit packed as an operator would: read through the CodeCommit API, the same packer."""
    client = boto3.client("codecommit", region_name=world.stack.region, **HARNESS_CREDENTIALS)
    return pack_sourcedir(CodeCommitRepository(client).source_tree(world.repository, commit)).sha256


def test_one_line_under_jobs_changes_the_lineages_source_sha256(pushes: TwoPushes) -> None:
    first, second = pushes.first.record, pushes.second.record

    # Then each lineage pairs its own commit with the digest of that commit's job code
    assert (first["code"]["commit_id"], first["source_commit"]) == (pushes.first.commit, pushes.first.commit)
    assert (second["code"]["commit_id"], second["source_commit"]) == (pushes.second.commit, pushes.second.commit)
    assert first["source_sha256"] != second["source_sha256"]
    assert first["source_sha256"] == _operator_pack(pushes.world, pushes.first.commit)
    assert second["source_sha256"] == _operator_pack(pushes.world, pushes.second.commit)
    # And the model packages carry the pair in their metadata
    for pushed in (pushes.first, pushes.second):
        metadata, record = pushed.metadata, pushed.record
        assert (metadata["commit_id"], metadata["source_commit"], metadata["source_sha256"]) == (
            pushed.commit,
            pushed.commit,
            record["source_sha256"],
        )
    # And the first commit (the seeded checkout plus a NOTES.md line) packs to this checkout's job code
    assert first["source_sha256"] == hashlib.sha256(build_sourcedir(PROJECT_DIR)).hexdigest()


def test_training_read_its_code_from_the_content_addressed_object(pushes: TwoPushes) -> None:
    world = pushes.world
    for pushed in (pushes.first, pushes.second):
        # Given the training job the run started
        job = world.client("sagemaker").describe_training_job(TrainingJobName=pushed.record["training_job_name"])
        code = next(c for c in job["InputDataConfig"] if c["ChannelName"] == "code")

        # Then its code channel is source/<sha256>/sourcedir.tar.gz, holding bytes of that sha256, under the stack's key
        key = content_addressed_key(pushed.record["source_sha256"])
        assert code["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{world.artifacts_bucket}/{key}"
        stored = world.client("s3").get_object(Bucket=world.artifacts_bucket, Key=key)
        assert hashlib.sha256(stored["Body"].read()).hexdigest() == pushed.record["source_sha256"]
        assert stored["ServerSideEncryption"] == "aws:kms"
        assert pushed.record["source"]["ref"]["key"] == key


def test_every_call_the_two_runs_made_was_allowed_and_prepare_data_read_the_commits(pushes: TwoPushes) -> None:
    calls = pushes.world.calls_since(pushes.mark)
    pushes.world.checker.assert_all_allowed(calls)
    reads = {(c.operation, c.params.get("commitSpecifier")) for c in calls if c.service == "codecommit"}
    assert {("GetFolder", p.commit) for p in (pushes.first, pushes.second)} <= reads
    assert {("GetFile", p.commit) for p in (pushes.first, pushes.second)} <= reads
    roles = {c.principal.rsplit("/", 1)[-1] for c in calls if c.operation in {"GetFolder", "GetFile"}}
    # The Trigger reads the run's configuration from the commit; Prepare Data packs its job code
    assert roles == {pushes.world.stack.ref("TriggerFunctionRole"), pushes.world.stack.ref("PrepareDataFunctionRole")}


def test_the_trigger_and_prepare_data_may_read_only_the_stacks_repository(pushes: TwoPushes) -> None:
    world = pushes.world
    calls = world.calls_since(pushes.mark)
    for role in ("TriggerFunctionRole", "PrepareDataFunctionRole"):
        # Given the role's own GetFile call, When the same call names another repository
        get_file = next(
            c for c in calls if c.operation == "GetFile" and c.principal.endswith("/" + world.stack.ref(role))
        )
        elsewhere = dataclasses.replace(get_file, params={**get_file.params, "repositoryName": "other"})

        # Then the role's policy does not allow it
        assert world.checker.failures([elsewhere]), role
        assert not world.checker.failures([get_file]), role


def _tamper(pushes: TwoPushes, record: dict[str, Any], **changes: Any) -> None:
    table = pushes.world.stack.outputs["ModelRegistryTableName"]
    tampered = json.loads(json.dumps(record))
    for path, value in changes.items():
        target = tampered
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    pushes.world.client("dynamodb").put_item(
        TableName=table,
        Item={
            "model_version": {"S": record["model_version"]},
            "execution_name": {"S": record["execution_name"]},
            "record": {"S": json.dumps(tampered)},
        },
    )


def test_reproduce_refuses_a_lineage_whose_source_sha256_is_another_commits(pushes: TwoPushes) -> None:
    # Given the first version's lineage altered to claim the second commit's job code
    first, second = pushes.first.record, pushes.second.record
    _tamper(pushes, first, source_sha256=second["source_sha256"])
    try:
        # When it is reproduced against the stack
        result = pushes.mlops("reproduce", first["model_version"])
    finally:
        _tamper(pushes, first)

    # Then the commit is packed again, the digests disagree, and nothing is trained
    assert result.exit_code == 1, result.output
    assert "refused: SourceMismatchError" in result.output
    assert second["source_sha256"] in result.output
    assert first["source_sha256"] in result.output
    assert not list((pushes.data_dir / "aws").rglob("*.tar.gz"))


def test_reproduce_refuses_a_lineage_whose_commit_was_swapped(pushes: TwoPushes) -> None:
    # Given the second version's lineage altered to name the first commit (its digest left alone)
    first, second = pushes.first.record, pushes.second.record
    _tamper(pushes, second, code__commit_id=first["code"]["commit_id"], source_commit=first["source_commit"])
    try:
        result = pushes.mlops("reproduce", second["model_version"])
    finally:
        _tamper(pushes, second)

    assert result.exit_code == 1, result.output
    assert "refused: SourceMismatchError" in result.output
    assert f"commit {pushes.first.commit[:12]}" in result.output


# -- the configuration that runs is the commit's ----------------------------------------------------
def test_a_commit_changing_only_the_configuration_trains_with_it_without_a_publish_step(pushes: TwoPushes) -> None:
    world, record = pushes.world, pushes.tuned.record

    # Then the lineage's configuration is the commit's file, stored under its digest, encrypted
    sha = hashlib.sha256(TUNED).hexdigest()
    assert (record["config_path"], record["config"]["sha256"]) == (CONFIG_PATH, sha)
    assert record["config"]["ref"]["key"] == commit_config_key(sha)
    stored = world.client("s3").get_object(
        Bucket=world.artifacts_bucket, Key=commit_config_key(sha), VersionId=record["config"]["ref"]["version_id"]
    )
    assert stored["Body"].read() == TUNED
    assert stored["ServerSideEncryption"] == "aws:kms"
    # And the training job ran with the commit's hyperparameter, while the published copy still says 150
    job = world.client("sagemaker").describe_training_job(TrainingJobName=record["training_job_name"])
    assert job["HyperParameters"]["num_round"] == "40"
    assert pushes.first.record["hyperparameters"]["num_round"] == "150"
    published = world.client("s3").get_object(
        Bucket=world.artifacts_bucket, Key=config_key(world.stack.parameters["ModelsPrefix"], MODEL)
    )
    assert b"num_round: 150" in published["Body"].read()
    # And the model package's metadata carries the configuration's digest and path
    metadata = pushes.tuned.metadata
    assert (metadata["config_sha256"], metadata["config_path"]) == (sha, CONFIG_PATH)


def test_a_data_arrival_runs_and_packs_the_branch_head(pushes: TwoPushes) -> None:
    record = pushes.arrival.record

    # Then the run is the branch head's (the tuned commit): its job code packed, its configuration read
    assert record["trigger"]["kind"] == "data-arrival"
    assert (record["code"]["commit_id"], record["source_commit"]) == (pushes.tuned.commit, pushes.tuned.commit)
    assert record["source_sha256"] == _operator_pack(pushes.world, pushes.tuned.commit)
    assert record["source"]["ref"]["key"] == content_addressed_key(record["source_sha256"])
    assert (record["config_path"], record["config"]["sha256"]) == (CONFIG_PATH, hashlib.sha256(TUNED).hexdigest())


def test_a_push_whose_configuration_does_not_parse_is_skipped_with_the_config_error(pushes: TwoPushes) -> None:
    assert pushes.broken["runs"] == []
    (skipped,) = pushes.broken["skipped"]
    assert skipped["model"] == MODEL
    assert skipped["reason"].startswith(f"ConfigError: {CONFIG_PATH} at commit {pushes.broken_commit[:12]}")
    assert "risk_tier" in skipped["reason"]


def test_reproduce_refuses_a_lineage_whose_configuration_digest_is_not_the_commits(pushes: TwoPushes) -> None:
    # Given the tuned version's lineage altered to claim the first run's configuration digest
    tuned, first = pushes.tuned.record, pushes.first.record
    _tamper(pushes, tuned, config__sha256=first["config"]["sha256"])
    try:
        result = pushes.mlops("reproduce", tuned["model_version"])
    finally:
        _tamper(pushes, tuned)

    # Then the commit's configuration is hashed, the digests disagree, and nothing is trained
    assert result.exit_code == 1, result.output
    assert "refused: SourceMismatchError" in result.output
    assert "configuration digest disagree" in result.output
    assert not list((pushes.data_dir / "aws").rglob("*.tar.gz"))
