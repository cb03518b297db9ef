"""One parity stack with everything that exists around it before the first event.

What an account has before the pipeline's first run, set up here as an operator would (with the
harness's identity, which is never checked): the engineers' CodeCommit repository with its main
branch (a real git repository whose first commit holds this checkout's job code, library code and
model projects: :data:`SEEDED_PATHS`), the release step's pipeline configuration and job code in
the artifacts bucket (what ``mlops package-jobs`` uploads), two approvers in the Cognito user pool's
approvers group, and the on-call and approver subscriptions (SQS queues) on the alert and approval topics.

Everything the functions see comes from the deployed stack; nothing here is given to a function.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.models import MockAWS

from tests.parity.iam import ApiCall, CallRecorder, IamChecker
from tests.parity.perimeter import StackNetwork
from tests.parity.runtime import Delivery, ParityRuntime
from tests.parity.stack import HARNESS_CREDENTIALS, ParityStack, deploy_parity_stack
from tests.waiting import within

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_DIR / "template.yaml"
GERMAN_CREDIT = PROJECT_DIR / "data" / "german_credit" / "german_credit.csv"
#: The example model project (models/credit-risk/) whose data is German credit.
MODEL = "credit-risk"
#: A dev deployment's parameters: the images' URIs (never pulled here) and short waits. The approval
#: wait is the template's minimum (60 s), so the timeout path takes a minute.
PARITY_PARAMETERS = {
    "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "ProcessingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2",
    "ApprovalTimeoutSeconds": "60",
    "CanaryBakeSeconds": "60",
    "TerminationWaitSeconds": "60",
    "EndpointPollSeconds": "1",
    "EndpointMaxPolls": "30",
    # The monitoring schedule is off by default (dev); the parity stack deploys it to prove it.
    "MonitoringEnabled": "true",
}
APPROVER_PASSWORD = "Parity-Approver-Pa55!"
APPROVERS = ("carol.approver", "dave.risk")
PUSHER_ARN = "arn:aws:iam::{account}:user/alice.engineer"
#: What the repository's first commit holds, copied from this checkout's working tree: the job scripts,
#: the code they import and the model projects (so that commit packs to build_sourcedir(PROJECT_DIR)).
SEEDED_PATHS = ("jobs", "src/governed_mlops_ml", "layers/common/python/governed_mlops", "models")
#: A file outside models/ and outside the job code: a push touching it retrains every model on unchanged code.
NOTES = "NOTES.md"


def checkout_files(root: Path = PROJECT_DIR, paths: tuple[str, ...] = SEEDED_PATHS) -> dict[str, bytes]:
    """The working tree's files under ``paths`` (no caches): the seeded commit's content."""
    return {
        file.relative_to(root).as_posix(): file.read_bytes()
        for folder in paths
        for file in sorted((root / folder).rglob("*"))
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
    }


@dataclass
class World:
    stack: ParityStack
    runtime: ParityRuntime
    recorder: CallRecorder
    checker: IamChecker
    approval_queue: str
    alert_queue: str
    sqs: Any
    seen_messages: set[str] = field(default_factory=set)
    unclaimed_approvals: list[dict[str, Any]] = field(default_factory=list)
    #: Execution name → the link its approval notification carried.
    received_links: dict[str, str] = field(default_factory=dict)
    _edits: int = 0

    def client(self, service: str) -> Any:
        """A client as the operator running the scenario (the harness's identity here)."""
        return boto3.client(service, region_name=self.stack.region, **HARNESS_CREDENTIALS)

    # -- the pipeline's inputs ------------------------------------------------------------------
    @property
    def data_bucket(self) -> str:
        return self.stack.outputs["DataBucketName"]

    @property
    def artifacts_bucket(self) -> str:
        return self.stack.outputs["ArtifactsBucketName"]

    @property
    def repository(self) -> str:
        return self.stack.parameters["CodeRepositoryName"]

    def data_key(self, name: str = "german_credit.csv", model: str = MODEL) -> str:
        return f"{self.stack.parameters['DataPrefix']}{model}/{name}"

    def seed_dataset(self, data: bytes | None = None) -> None:
        """A dataset that was in the bucket before this scenario (no ``Object Created`` now)."""
        self.runtime.s3.put_object(
            Bucket=self.data_bucket, Key=self.data_key(), Body=data or GERMAN_CREDIT.read_bytes()
        )

    def remove_object(self, bucket: str, key: str) -> None:
        """Every version of ``key`` (an operator's clean-up; the data bucket has no Object Lock)."""
        versions = self.runtime.s3.list_object_versions(Bucket=bucket, Prefix=key)
        for version in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if version["Key"] == key:
                self.runtime.s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])

    @property
    def head(self) -> str:
        """The main branch's head commit."""
        return self.runtime.codecommit.heads[(self.repository, self.stack.parameters["MainBranch"])]

    def commit(
        self,
        *,
        append: dict[str, str] | None = None,
        replace: dict[str, bytes] | None = None,
        message: str = "a change",
    ) -> str:
        """A new commit on top of main's head that appends each line of ``append`` (path -> line) to its file
        and writes each file of ``replace`` (path -> its new content).

        With neither the commit adds a line to :data:`NOTES` (a file outside models/ and the job
        code): every model retrains on unchanged job code. Nothing is pushed yet.
        """
        codecommit, head = self.runtime.codecommit, self.head
        changes: dict[str, bytes] = dict(replace or {})
        self._edits += 1
        for path, line in (append or ({} if replace else {NOTES: f"edit {self._edits}"})).items():
            try:
                before = codecommit.read(self.repository, head, path)
            except subprocess.CalledProcessError:
                before = b""
            changes[path] = before + f"{line}\n".encode()
        return codecommit.commit(self.repository, changes, message, parent=head)

    def push(self, commit: str | None = None, *, pusher_arn: str | None = None) -> list[Delivery]:
        """Push ``commit`` (default: a new :meth:`commit`) to main; EventBridge's deliveries.

        The pusher is ``pusher_arn`` (``{account}`` filled in), by default alice.engineer, an IAM user.
        """
        event = self.runtime.codecommit.push(
            self.repository,
            self.stack.parameters["MainBranch"],
            commit or self.commit(),
            pusher_arn=(pusher_arn or PUSHER_ARN).format(account=self.stack.account_id),
        )
        return self.runtime.bus.put(event)

    # -- notifications --------------------------------------------------------------------------
    def messages(self, queue_url: str, *, wait: float = 0.0) -> list[dict[str, Any]]:
        """New SNS notifications delivered to ``queue_url`` (SNS JSON envelopes)."""

        def received() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            answer = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            for message in answer.get("Messages", []):
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                if message["MessageId"] not in self.seen_messages:
                    self.seen_messages.add(message["MessageId"])
                    found.append(json.loads(message["Body"]))
            return found

        messages: list[dict[str, Any]] = within(received, wait, poll=0.1)
        return messages

    def approval_link(self, execution_arn: str, *, timeout: float = 180.0) -> str:
        """The signed link of the approval notification ``execution_arn`` sends (fails if the run ends first).

        Notifications of other executions (several models retrained by one push) are kept for their turn.
        An execution's request is notified once: asking again gives the link already received (waiting
        for a second notification would wait until the request expired, as session 5's uploader tests did).
        """
        name = execution_arn.rsplit(":", 1)[-1]
        if name in self.received_links:
            return self.received_links[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.unclaimed_approvals.extend(self.messages(self.approval_queue, wait=0.5))
            for envelope in self.unclaimed_approvals:
                if f"execution {name} " in envelope["Message"]:
                    self.unclaimed_approvals.remove(envelope)
                    self.received_links[name] = str(envelope["MessageAttributes"]["link"]["Value"])
                    return self.received_links[name]
            described = self.runtime.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                history = self.runtime.history(execution_arn)
                raise AssertionError(
                    f"{described['name']} ended {described['status']} before asking for approval: "
                    f"{described.get('error')}: {described.get('cause')}\n"
                    + "\n".join(json.dumps(e, default=str)[:400] for e in history[-6:])
                )
        raise TimeoutError(f"no approval request from {execution_arn} within {timeout:.0f} s")

    def view(self, link: str, approver: str) -> tuple[int, dict[str, Any]]:
        """What the approval page's JSON view shows ``approver`` (signed in) for the signed link."""
        token = self.runtime.api.sign_in(approver, APPROVER_PASSWORD)
        parts = urlsplit(link)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, _, body = self.runtime.api.request(
            "GET",
            parts.path.removeprefix(f"/{self.stack.api_stage}"),
            id_token=token,
            query=query,
            headers={"Accept": "application/json"},
        )
        return status, json.loads(body)

    def decide(
        self, link: str, approver: str, decision: str, reason: str = "parity test"
    ) -> tuple[int, dict[str, Any]]:
        """What an approver's browser does: sign in, GET the signed link (CSRF token), POST the decision."""
        token = self.runtime.api.sign_in(approver, APPROVER_PASSWORD)
        parts = urlsplit(link)
        path = parts.path.removeprefix(f"/{self.stack.api_stage}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, _, body = self.runtime.api.request(
            "GET", path, id_token=token, query=query, headers={"Accept": "application/json"}
        )
        if status != 200:
            return status, json.loads(body)
        form = {"decision": decision, "reason": reason, "csrf_token": json.loads(body)["csrf_token"], **query}
        status, _, body = self.runtime.api.request(
            "POST",
            f"{path}/decision",
            id_token=token,
            body=json.dumps(form),
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )
        return status, json.loads(body)

    def approve(self, link: str, approvers: tuple[str, ...] = APPROVERS) -> tuple[int, dict[str, Any]]:
        """Approve as each of ``approvers`` in turn until the model's policy is met (202 means: one more needed)."""
        status, answer = 0, {}
        for approver in approvers:
            status, answer = self.decide(link, approver, "approve")
            if status != 202:
                break
        return status, answer

    # -- IAM --------------------------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.recorder.calls)

    def calls_since(self, mark: int) -> list[ApiCall]:
        return self.recorder.since(mark)

    def assert_allowed(self, mark: int) -> None:
        self.checker.assert_all_allowed(self.calls_since(mark))


def deployed_model(sagemaker: Any, s3: Any, model_name: str, target: Path) -> tuple[Path, dict[str, str]]:
    """A deployed SageMaker model's archive unpacked into ``target`` (its ``/opt/ml/model``), and the
    environment CreateModel gave its container."""
    container = sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]
    bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target, dict(container.get("Environment") or {})


def publish_release(runtime: ParityRuntime) -> None:
    """The release step, as an operator runs it: ``mlops package-jobs --aws --stack NAME`` (every model project)."""
    from click.testing import CliRunner

    from governed_mlops_local.cli import main

    stack = runtime.stack
    result = CliRunner().invoke(
        main,
        [
            "package-jobs",
            "--models-prefix",
            stack.parameters["ModelsPrefix"],
            "--source-key",
            stack.parameters["TrainingSourceKey"],
            "--aws",
            "--stack",
            stack.name,
            "--region",
            stack.region,
        ],
    )
    if result.exit_code != 0:
        raise RuntimeError(f"mlops package-jobs failed: {result.output}")


def _kms_key_of_bucket(s3: Any, bucket: str) -> str | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except Exception:  # noqa: BLE001 - no default encryption
        return None
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms":
            return str(default.get("KMSMasterKeyID"))
    return None


def _bucket_policy(s3: Any, resource_arn: str) -> list[tuple[str, dict[str, Any]]]:
    """The bucket policy that applies to an S3 bucket or object ARN (none for other resources)."""
    if not resource_arn.startswith("arn:aws:s3:::"):
        return []
    bucket = resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    try:
        return [(f"bucket policy of {bucket}", json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))]
    except s3.exceptions.ClientError:
        return []


#: The moto configuration of every world: the ASL interpreter on, no Docker for Lambda.
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

#: Where each world leaves its per-role call table (printed at the end of the run by tests/conftest.py).
CALL_TABLES = PROJECT_DIR / ".cache" / "parity"


def _write_call_table(stack: ParityStack, recorder: CallRecorder, checker: IamChecker) -> None:
    CALL_TABLES.mkdir(parents=True, exist_ok=True)
    table = checker.table(recorder.calls)
    (CALL_TABLES / f"{stack.name}.calls.txt").write_text(f"stack {stack.name}\n{table}\n", encoding="utf-8")


def iam_checker(
    stack: ParityStack,
    policies: Callable[[str], list[tuple[str, dict[str, Any]]]],
    *,
    network: Callable[[ApiCall], str | None] | None = None,
) -> IamChecker:
    """The checker for ``stack``: the roles' ``policies``, the stack's keys, bucket policies and token owner, and
    its network: which calls go through which VPC endpoint (``network``, default the stack's own), and that
    endpoint's policy."""
    endpoints = StackNetwork(stack)
    s3 = boto3.client("s3", region_name=stack.region, **HARNESS_CREDENTIALS)
    secrets = boto3.client("secretsmanager", region_name=stack.region, **HARNESS_CREDENTIALS)
    sns = boto3.client("sns", region_name=stack.region, **HARNESS_CREDENTIALS)
    kms = boto3.client("kms", region_name=stack.region, **HARNESS_CREDENTIALS)

    def arn_of_key(key: str | None) -> str | None:
        return None if key is None else str(kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])

    # Keys and bucket policies are the stack's: set when it was deployed (before this checker exists) and
    # changed by nothing the functions may call, so each is read once (the checker asks thousands of times).
    @functools.cache
    def bucket_key(bucket: str) -> str | None:
        return arn_of_key(_kms_key_of_bucket(s3, bucket))

    @functools.cache
    def secret_key(secret: str) -> str | None:
        return arn_of_key(secrets.describe_secret(SecretId=secret).get("KmsKeyId"))

    @functools.cache
    def topic_key(topic: str) -> str | None:
        return arn_of_key(sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("KmsMasterKeyId"))

    @functools.cache
    def bucket_policy(bucket: str) -> tuple[tuple[str, dict[str, Any]], ...]:
        return tuple(_bucket_policy(s3, f"arn:aws:s3:::{bucket}"))

    def resource_policies(arn: str) -> list[tuple[str, dict[str, Any]]]:
        if not arn.startswith("arn:aws:s3:::"):
            return []
        return list(bucket_policy(arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]))

    return IamChecker(
        policies,
        account_id=stack.account_id,
        region=stack.region,
        bucket_key=bucket_key,
        secret_key=secret_key,
        topic_key=topic_key,
        # Step Functions checks SendTask* against the state machine that issued the token: the stack has one.
        task_token_owner=lambda _token: stack.state_machine_arn,
        resource_policies=resource_policies,
        network=network or endpoints,
        endpoint_policies=endpoints.policies,
    )


def _forget_managed_rules(region: str) -> None:
    """Remove the rules Step Functions creates on first use of a ``.sync`` SageMaker task in an account.

    moto's backends are process-wide, so a world deployed earlier in this worker left them behind; each
    world is a fresh account, whose first ``.sync`` task creates them as its role (``events:PutRule``).
    """
    events = boto3.client("events", region_name=region, **HARNESS_CREDENTIALS)
    for rule in events.list_rules(NamePrefix="StepFunctionsGetEventsForSageMaker")["Rules"]:
        targets = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        if targets:
            events.remove_targets(Rule=rule["Name"], Ids=targets)
        events.delete_rule(Name=rule["Name"])


@contextmanager
def parity_world(
    work_dir: Path, stack_name: str = "governed-mlops-parity", parameters: dict[str, str] | None = None
) -> Iterator[World]:
    """Deploy the stack into moto and start the services around it; everything ends with the context.

    ``parameters`` override :data:`PARITY_PARAMETERS` (a deployment with other template parameters)."""
    # moto is pinned exactly; its count of open contexts is the only witness of one left open.
    if MockAWS._nested_count:
        raise RuntimeError(
            "parity_world needs moto's backends to itself, but a moto context is already open in this process "
            "(a package- or session-scoped mock_aws?): scope it to its module, as tests/parity/conftest.py does"
        )
    with mock_aws(config=MOTO_CONFIG), pytest.MonkeyPatch.context() as environment:
        # The harness (and an operator's CLI) signs with the harness's credentials, which the recorder
        # ignores; every function and service signs with its own role's.
        environment.setenv("AWS_ACCESS_KEY_ID", HARNESS_CREDENTIALS["aws_access_key_id"])
        environment.setenv("AWS_SECRET_ACCESS_KEY", HARNESS_CREDENTIALS["aws_secret_access_key"])
        # moto's default account: a local runtime started earlier in this worker sets MOTO_ACCOUNT_ID to the
        # local one (000000000000) for the whole process, and the stack would otherwise be deployed there.
        environment.setenv("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
        stack = deploy_parity_stack(
            TEMPLATE, stack_name=stack_name, parameters={**PARITY_PARAMETERS, **(parameters or {})}
        )
        sns = boto3.client("sns", region_name=stack.region, **HARNESS_CREDENTIALS)
        checker = iam_checker(stack, stack.role_policy_documents)
        with CallRecorder() as recorder, ParityRuntime(stack, recorder, work_dir) as runtime:
            _forget_managed_rules(stack.region)
            repository, branch = stack.parameters["CodeRepositoryName"], stack.parameters["MainBranch"]
            runtime.codecommit.create(repository)
            first = runtime.codecommit.commit(repository, checkout_files(), "the project as checked out")
            runtime.codecommit.set_branch(repository, branch, first)
            publish_release(runtime)
            group = stack.parameters["ApproverGroup"]
            for approver in APPROVERS:
                runtime.api.create_user(approver, APPROVER_PASSWORD, groups=(group,))
            sqs = boto3.client("sqs", region_name=stack.region, **HARNESS_CREDENTIALS)
            queues = {}
            for output, name in (("ApprovalTopic", "approvers-inbox"), ("AlertTopic", "on-call-pager")):
                url = sqs.create_queue(QueueName=name)["QueueUrl"]
                queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                sns.subscribe(TopicArn=stack.ref(output), Protocol="sqs", Endpoint=queue_arn)
                queues[output] = url
            yield World(
                stack=stack,
                runtime=runtime,
                recorder=recorder,
                checker=checker,
                approval_queue=queues["ApprovalTopic"],
                alert_queue=queues["AlertTopic"],
                sqs=sqs,
            )
            runtime.sagemaker.wait_idle()
            _write_call_table(stack, recorder, checker)
