"""The parity scenarios' ``World``, against a real deployed stack (``MLOPS_STACK_NAME``, AWS credentials).

It offers the same operations the scenarios in ``tests/parity/test_pipeline_paths.py`` and
``test_pipeline_decisions.py`` use, done the way a person does them in AWS: uploads and drift events go to S3
and EventBridge and the test finds the execution the stack started; a push is a commit to the CodeCommit
repository; an approver signs in to
the stack's user pool (``MLOPS_E2E_APPROVER`` / ``_PASSWORD`` / ``_TOTP_SECRET``: the pool requires MFA; a member of the
approvers group) and uses the approval API over HTTPS. The approval link is the one the notification
carries (built from the approval record and the signing secret, as Request Approval builds it). Alerts
arrive in an SQS queue this fixture subscribes to the alert topic for the session.

IAM is enforced by AWS itself there, so the checker is a no-op; what the parity tier checks on moto
(every call against its role) is the reason these paths can pass at all.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3

from governed_mlops.domain.approval import approval_link
from tests.parity.runtime import Delivery
from tests.waiting import within as poll_within

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class AwsStack:
    name: str
    region: str
    account_id: str
    parameters: dict[str, str]
    outputs: dict[str, str]


class _NoChecker:
    """AWS enforces IAM itself: a call a role may not make fails the path."""

    def assert_all_allowed(self, calls: Any) -> None:
        return None


class AwsBus:
    def __init__(self, runtime: AwsRuntime) -> None:
        self._runtime = runtime

    def event(
        self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None
    ) -> dict[str, Any]:
        return {"source": source, "detail-type": detail_type, "detail": detail, "resources": resources or []}

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        before = self._runtime.execution_arns()
        self._runtime.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event.get("resources", []),
                }
            ]
        )
        return self._runtime.started_since(before)


class AwsRuntime:
    def __init__(self, stack: AwsStack, session: Any) -> None:
        self.stack = stack
        self.sfn = session.client("stepfunctions")
        self.s3 = session.client("s3")
        self.events = session.client("events")
        self.bus = AwsBus(self)
        #: Fault injection exists only on the parity stack.
        self.sagemaker = None

    def execution_arns(self) -> set[str]:
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.stack.outputs["TrainingPipelineArn"]
        )
        return {e["executionArn"] for page in pages for e in page["executions"]}

    def started_since(self, before: set[str], *, within: float = 90.0) -> list[Delivery]:
        """The execution the trigger started since ``before`` (none within ``within`` seconds: nothing started)."""
        new = poll_within(lambda: self.execution_arns() - before, within, poll=3)
        if not new:
            return []
        (arn,) = new
        return [Delivery("rule", "TriggerFunction", {"status": "started", "execution_arn": arn})]

    def upload(self, bucket: str, key: str, data: bytes, *, requester: str) -> list[Delivery]:
        before = self.execution_arns()
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        return self.started_since(before)

    def wait(self, execution_arn: str, *, timeout: float = 3600.0, until: set[str] | None = None) -> dict[str, Any]:
        wanted = until or TERMINAL
        described: dict[str, Any] = {}

        def reached() -> bool:
            described.clear()
            described.update(self.sfn.describe_execution(executionArn=execution_arn))
            return described["status"] in wanted

        if not poll_within(reached, timeout, poll=10):
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout:.0f} s")
        return described

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]

    def executions(self) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.stack.outputs["TrainingPipelineArn"]
        )
        return [e for page in pages for e in page["executions"]]


@dataclass
class AwsWorld:
    stack: AwsStack
    runtime: AwsRuntime
    session: Any
    alert_queue: str
    checker: Any = field(default_factory=_NoChecker)

    def client(self, service: str) -> Any:
        return self.session.client(service)

    @property
    def data_bucket(self) -> str:
        return self.stack.outputs["DataBucketName"]

    @property
    def artifacts_bucket(self) -> str:
        return self.stack.outputs["ArtifactsBucketName"]

    def data_key(self, name: str = "german_credit.csv", model: str = "credit-risk") -> str:
        return f"{self.stack.parameters['DataPrefix']}{model}/{name}"

    def seed_dataset(self, data: bytes | None = None) -> None:
        """In AWS every upload under the prefix starts a run: a dataset is there already (the operator's)."""
        prefix = self.data_key("")
        listed = self.client("s3").list_objects_v2(Bucket=self.data_bucket, Prefix=prefix)
        if not listed.get("KeyCount"):
            raise RuntimeError(f"upload a dataset under {prefix} before running the e2e scenarios")

    def remove_object(self, bucket: str, key: str) -> None:
        versions = self.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
        for version in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if version["Key"] == key:
                self.client("s3").delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])

    def push(self, commit: str | None = None) -> list[Delivery]:
        """A commit to the main branch of the stack's repository (what an engineer's push does).

        ``commit`` is ignored (the parity World's signature): the new commit adds one file outside
        models/ and the job code. Prepare Data packs the commit, so the repository must hold the
        project's jobs/, src/governed_mlops_ml/ and layer code.
        """
        codecommit = self.client("codecommit")
        repository, branch = self.stack.parameters["CodeRepositoryName"], self.stack.parameters["MainBranch"]
        head = codecommit.get_branch(repositoryName=repository, branchName=branch)["branch"]["commitId"]
        before = self.runtime.execution_arns()
        codecommit.put_file(
            repositoryName=repository,
            branchName=branch,
            parentCommitId=head,
            filePath=f"e2e/{uuid.uuid4().hex}.txt",
            fileContent=b"e2e scenario push\n",
            commitMessage="e2e: scenario push",
        )
        return self.runtime.started_since(before)

    # -- approvals --------------------------------------------------------------------------------
    def approval_link(self, execution_arn: str, *, timeout: float = 3600.0) -> str:
        """The signed link the notification carries: the request record plus the signing secret."""
        from governed_mlops.adapters.approvals import DynamoDBApprovalStore

        store = DynamoDBApprovalStore(self.client("dynamodb"), self.stack.outputs["ApprovalsTableName"])
        name = execution_arn.rsplit(":", 1)[-1]

        def requested() -> list[Any]:
            pending = [r for r in store.records_for_execution(name) if r.status == "pending"]
            if (
                not pending
                and self.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] != "RUNNING"
            ):
                raise AssertionError(f"{name} ended before asking for approval")
            return pending

        pending = poll_within(requested, timeout, poll=10)
        if not pending:
            raise TimeoutError(f"no approval request from {name}")
        secret_id = self._signing_secret_id()
        secret = self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"].encode()
        return approval_link(
            self.stack.outputs["ApprovalApiUrl"], secret, pending[0].approval_id, pending[0].expires_at
        )

    def _signing_secret_id(self) -> str:
        lam = self.client("lambda")
        resources = self.client("cloudformation").describe_stack_resources(StackName=self.stack.name)["StackResources"]
        function = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ApprovalApiFunction")
        return str(
            lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]["SIGNING_SECRET_ID"]
        )

    def decide(self, link: str, approver: str, decision: str, reason: str = "e2e test") -> tuple[int, dict[str, Any]]:
        """Sign in as a configured approver, GET the link (CSRF token), POST the decision.

        The parity scenarios name two approvers (carol.approver, dave.risk); here the first is
        ``MLOPS_E2E_APPROVER``, the second ``MLOPS_E2E_SECOND_APPROVER`` (a high-risk model needs both).
        """
        from governed_mlops.domain.login import SESSION_COOKIE
        from tests.parity.managed_login import totp_code
        from tests.parity.stack import cognito_srp_sign_in

        variable = "MLOPS_E2E_SECOND_APPROVER" if approver == "dave.risk" else "MLOPS_E2E_APPROVER"
        username = os.environ[variable]
        # The pool requires MFA: the approver's authenticator secret (enrolled at their first sign-in) answers it.
        token = cognito_srp_sign_in(
            user_pool_id=self.stack.outputs["ApproverUserPoolId"],
            client_id=self.stack.outputs["ApproverUserPoolClientId"],
            username=username,
            password=os.environ[f"{variable}_PASSWORD"],
            region=self.stack.region,
            authenticators={username: os.environ[f"{variable}_TOTP_SECRET"]},
            totp=totp_code,
        )["IdToken"]
        # What a signed-in browser sends: the session cookie (the managed login itself needs a browser).
        headers = {"Cookie": f"{SESSION_COOKIE}={token}", "Accept": "application/json"}
        status, summary = _http("GET", link, headers)
        if status != 200:
            return status, summary
        parts = urlsplit(link)
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        body = {"decision": decision, "reason": reason, "csrf_token": summary["csrf_token"], **query}
        url = f"{parts.scheme}://{parts.netloc}{parts.path}/decision"
        return _http("POST", url, {**headers, "Content-Type": "application/json"}, json.dumps(body).encode())

    # -- notifications and IAM --------------------------------------------------------------------
    def messages(self, queue_url: str, *, wait: float = 0.0) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        deadline = time.monotonic() + wait
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
            for message in answer.get("Messages", []):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                found.append(json.loads(message["Body"]))
            if found or time.monotonic() >= deadline:
                return found

    def mark(self) -> int:
        return 0

    def calls_since(self, mark: int) -> list[Any]:
        return []

    def assert_allowed(self, mark: int) -> None:
        return None


def _http(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(json.loads(answer.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read() or b"{}"))


@contextmanager
def aws_world(stack_name: str) -> Iterator[AwsWorld]:
    """The deployed stack, and an on-call queue subscribed to its alert topic for the session."""
    session = boto3.Session()
    (described,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    stack = AwsStack(
        name=stack_name,
        region=session.region_name,
        account_id=session.client("sts").get_caller_identity()["Account"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])},
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
    )
    sqs, sns = session.client("sqs"), session.client("sns")
    queue = sqs.create_queue(QueueName=f"{stack_name}-e2e-{datetime.now(UTC):%Y%m%d%H%M%S}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack.outputs["AlertTopicArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
    try:
        yield AwsWorld(stack=stack, runtime=AwsRuntime(stack, session), session=session, alert_queue=queue)
    finally:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        sqs.delete_queue(QueueUrl=queue)
