"""The deployed stack as the CLI's ``--aws`` commands see it: CloudFormation outputs -> the layer's AWS adapters.

``mlops <command> --aws --stack NAME`` finds every resource it reads through the stack's
``DescribeStacks`` outputs (``TrainingPipelineArn``, ``ModelRegistryTableName``, ``AuditBucketName``...)
and reads it with the same adapters the deployed functions use::

    stack = StackResources.from_cloudformation(aws_session(region, profile), stack_name_or_default(name))
    record = stack.registry().get("credit-risk/3")

Nothing here writes to the stack except :func:`run_monitoring`'s reports through :meth:`StackResources.store`.
Every failure to find the stack or to talk to AWS is a named :class:`ConfigError` subclass (or
:class:`TransientStorageError` for an unreachable endpoint), so the CLI prints one line and exits non-zero.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from governed_mlops.adapters.approvals import DynamoDBApprovalStore
from governed_mlops.adapters.audit_ledger import AUDIT_PREFIX
from governed_mlops.adapters.audit_ledger_s3 import S3AuditLedger
from governed_mlops.adapters.execution_history import StepFunctionsHistory
from governed_mlops.adapters.model_registry import SageMakerModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore, ObjectStore, S3ObjectStore, StoredObject
from governed_mlops.errors import ArtifactNotFoundError, ConfigError, PipelineError, TransientStorageError
from governed_mlops.models import S3Ref
from governed_mlops_local.project import STACK_ENV

#: Where ``--stack`` defaults from.
#: The endpoint config's DataCaptureConfig writes under ``s3://<ArtifactsBucket>/data-capture/<endpoint>/``.
CAPTURE_PREFIX = "data-capture/"


class StackNameMissing(ConfigError):
    """``--aws`` without ``--stack`` and without ``MLOPS_STACK_NAME``."""


class StackNotFoundError(ConfigError):
    """CloudFormation has no stack of that name in the region."""


class StackOutputMissing(ConfigError):
    """The stack exists but lacks an output a command needs (deployed from an older template)."""


class AwsCredentialsMissing(ConfigError):
    """boto3 found no credentials (or an unknown profile)."""


class AwsRegionMissing(ConfigError):
    """No region from ``--region``, the environment or the profile."""


class AwsCallFailed(PipelineError):
    """AWS refused a call (access denied, validation...): the operation and AWS's error code."""


def aws_session(region: str | None, profile: str | None) -> Any:
    """A boto3 session; an unknown profile is :class:`AwsCredentialsMissing`."""
    import boto3  # noqa: PLC0415 - boto3 loads only when a command talks to AWS (tests/unit/test_cli_startup.py)

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise AwsCredentialsMissing(f"AWS profile {profile!r} is not configured ({exc})") from exc


def stack_name_or_default(given: str | None) -> str:
    """``--stack``, else ``$MLOPS_STACK_NAME``, else :class:`StackNameMissing`."""
    name = given or os.environ.get(STACK_ENV, "")
    if not name:
        raise StackNameMissing(
            f"--aws needs the deployed stack: pass --stack NAME or set {STACK_ENV} (e.g. governed-mlops-dev)"
        )
    return name


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore's exceptions into named errors (one line each for the CLI)."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AwsCredentialsMissing(
            f"no AWS credentials: pass --profile or configure credentials for boto3 ({exc})"
        ) from exc
    except NoRegionError as exc:
        raise AwsRegionMissing("no AWS region: pass --region or set AWS_REGION / the profile's region") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "call")
        raise AwsCallFailed(f"{what}: AWS {operation} failed: {error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise TransientStorageError(f"{what}: cannot reach AWS: {exc}") from exc


@dataclass(frozen=True)
class StackResources:
    """A deployed stack's outputs and a session to read its resources with."""

    session: Any
    name: str
    region: str
    outputs: Mapping[str, str]

    @classmethod
    def from_cloudformation(cls, session: Any, stack_name: str) -> StackResources:
        """DescribeStacks ``stack_name``; :class:`StackNotFoundError` if it does not exist in the session's region."""
        with aws_errors(f"stack {stack_name!r}"):
            cloudformation = session.client("cloudformation")
            region = str(cloudformation.meta.region_name)
            try:
                stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
            except ClientError as exc:
                error = exc.response.get("Error", {})
                if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
                    raise StackNotFoundError(
                        f"no CloudFormation stack {stack_name!r} in {region}: check --stack / {STACK_ENV} and --region"
                    ) from exc
                raise
        if not stacks:
            raise StackNotFoundError(f"no CloudFormation stack {stack_name!r} in {region}")
        outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs") or []}
        return cls(session=session, name=stack_name, region=region, outputs=outputs)

    @classmethod
    def connect(cls, stack_name: str | None, *, region: str | None, profile: str | None) -> StackResources:
        """The stack ``--stack`` (or ``$MLOPS_STACK_NAME``) names, read with ``--region`` / ``--profile``."""
        return cls.from_cloudformation(aws_session(region, profile), stack_name_or_default(stack_name))

    def output(self, key: str) -> str:
        """One output's value; :class:`StackOutputMissing` naming the output and the stack."""
        try:
            return self.outputs[key]
        except KeyError:
            have = ", ".join(sorted(self.outputs)) or "none"
            raise StackOutputMissing(
                f"stack {self.name!r} has no output {key!r} (it has: {have}); deploy the current template.yaml"
            ) from None

    def client(self, service: str) -> Any:
        with aws_errors(f"{service} client"):
            return self.session.client(service, region_name=self.region)

    # -- names ------------------------------------------------------------------------------------
    @property
    def pipeline_arn(self) -> str:
        return self.output("TrainingPipelineArn")

    @property
    def artifacts_bucket(self) -> str:
        return self.output("ArtifactsBucketName")

    @property
    def account(self) -> str:
        """The account id, from the state machine's ARN (no STS call)."""
        return self.pipeline_arn.split(":")[4]

    # -- the layer's adapters ---------------------------------------------------------------------
    def registry(self) -> SageMakerModelRegistry:
        """The SageMaker Model Registry + the DynamoDB lineage table."""
        return SageMakerModelRegistry(
            self.client("sagemaker"), self.client("dynamodb"), self.output("ModelRegistryTableName")
        )

    def approvals(self) -> DynamoDBApprovalStore:
        return DynamoDBApprovalStore(self.client("dynamodb"), self.output("ApprovalsTableName"))

    def executions(self) -> StepFunctionsHistory:
        """Executions of the stack's training pipeline (names are looked up in it)."""
        return StepFunctionsHistory(self.client("stepfunctions"), [self.pipeline_arn])

    def store(self) -> S3ObjectStore:
        """S3, writing with the stack's KMS key."""
        return S3ObjectStore(self.client("s3"), self.outputs.get("KmsKeyArn"))

    def audit_ledger(self) -> S3AuditLedger:
        """The Object Lock audit ledger, its digests checked with ``kms:VerifyMac`` on the MAC key."""
        return S3AuditLedger(
            self.client("s3"),
            self.output("AuditBucketName"),
            AUDIT_PREFIX,
            self.client("kms"),
            self.output("AuditMacKeyArn"),
        )

    def hosting(self, scratch: Path) -> SageMakerHostingReader:
        """The endpoint side of monitoring: Describe* from SageMaker, captured requests from S3."""
        return SageMakerHostingReader(self.client("sagemaker"), self.store(), self.artifacts_bucket, scratch)


class SageMakerHostingReader:
    """What :mod:`governed_mlops_local.services.monitoring` reads of a deployed endpoint.

    ``describe_model`` adds the local shape's ``ModelData`` (bucket and key of the archive; no version id
    or sha256: the registry's deployment record names the version); ``capture_files`` downloads the
    Data Capture objects under ``s3://<artifacts>/data-capture/<endpoint>/`` into ``scratch``.
    """

    def __init__(self, sagemaker: Any, store: S3ObjectStore, artifacts_bucket: str, scratch: Path) -> None:
        self._sm = sagemaker
        self._store = store
        self._bucket = artifacts_bucket
        self._scratch = scratch

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        with aws_errors(f"endpoint {name!r}"):
            return dict(self._sm.describe_endpoint(EndpointName=name))

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        with aws_errors(f"endpoint config {name!r}"):
            return dict(self._sm.describe_endpoint_config(EndpointConfigName=name))

    def describe_model(self, name: str) -> dict[str, Any]:
        with aws_errors(f"model {name!r}"):
            described = dict(self._sm.describe_model(ModelName=name))
        url = described.get("PrimaryContainer", {}).get("ModelDataUrl", "")
        ref = S3Ref.from_uri(url)
        return described | {"ModelData": {"Bucket": ref.bucket, "Key": ref.key, "VersionId": ref.version_id}}

    def capture_prefix(self, endpoint_name: str) -> str:
        return f"{CAPTURE_PREFIX}{endpoint_name}/"

    def capture_files(self, endpoint_name: str) -> list[Path]:
        """Every captured ``.jsonl`` object of the endpoint, downloaded, in key (time) order."""
        files = []
        for number, key in enumerate(self._store.list_keys(self._bucket, self.capture_prefix(endpoint_name))):
            if not key.endswith(".jsonl"):
                continue
            path = self._scratch / f"{number:06d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self._store.get(S3Ref(bucket=self._bucket, key=key)))
            files.append(path)
        return files


class LocalCopyStore:
    """Reads fall through to the stack's S3; writes stay in a local store.

    ``mlops reproduce --aws`` retrains on this machine: the pinned inputs are read from S3 by version
    id, and everything the reproduction writes (recomputed channels, job outputs, report) goes to the
    local store the job emulator reads from, never to the deployed buckets.
    """

    def __init__(self, local: LocalObjectStore, remote: ObjectStore) -> None:
        self.local = local
        self._remote = remote

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        return self.local.put(bucket, key, data, content_type)

    def get(self, ref: S3Ref) -> bytes:
        try:
            return self.local.get(ref)
        except ArtifactNotFoundError:
            return self._remote.get(ref)

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None:
        return self.local.latest_under(bucket, prefix)
