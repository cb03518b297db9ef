"""The parity stack: ``template.yaml`` deployed into moto the way CloudFormation would deploy it.

It proves the AWS path without an AWS account. Call :func:`deploy_parity_stack` inside an active
``moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})``:

1. SAM-transform the template with ``tools/transform_template.py``, as ``sam deploy`` does.
2. Package like ``sam package``: zip each function's code folder and the layer folder into a code bucket
   and point every ``Code``/``Content`` at it.
3. Refuse what CloudFormation refuses before it creates anything: parameters outside their constraints,
   failed ``Rules`` assertions, references to resources that do not exist, and dependency cycles.
4. Create with moto's CloudFormation (``create_stack``) every resource whose type it models faithfully. A
   small provisioner creates the others with boto3 calls on moto (:data:`HARNESS_PROVISIONED`,
   :data:`HARNESS_PROVISIONED_WHEN`), reading their properties from the same transformed template and
   resolving intrinsics with CloudFormation semantics. Order: harness resources the stack references and
   whose identifiers cannot be chosen in advance come first (the secret); resources whose names the
   harness chooses (functions, state machine, alarms) are referenced by those names in the template given
   to ``create_stack`` and created after it, with everything else, in dependency order.
5. Apply what moto's CloudFormation accepts but drops (:data:`COMPLETED_BY_HARNESS`) through the public
   APIs, so a role has its managed policies and a security group only the egress the template allows. A
   few properties are handed to moto's models in the spelling they read (``_MOTO_INPUT_FIXES``: a log
   group's KmsKeyId, a table's SSESpecification, a key policy as text), and intrinsics moto lacks
   (Fn::Cidr) are evaluated before ``create_stack``.

Every property of every resource is either applied by moto's CloudFormation, applied by the harness, or
listed with the reason it cannot be (:data:`MOTO_GAPS`); anything else fails the deployment, so a new
property in the template cannot be dropped silently.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import importlib.util
import io
import ipaddress
import itertools
import json
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError

REPO_ROOT: Final = Path(__file__).resolve().parents[2]

# --- What the harness does instead of moto's CloudFormation, and why (README material) ---------------


def _revision_id(definition: str) -> str:
    """A state machine's revision id (AWS's changes with every update; moto keeps none): the definition's digest."""
    return hashlib.sha256(definition.encode()).hexdigest()[:36]


#: The harness's own identity (deploying, reading back, signing an approver in): the call recorder ignores it.
#: Every harness client names it explicitly: a client built from the environment while a function runs
#: in another thread would pick up that function's role credentials.
HARNESS_CREDENTIALS: Final = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_NO_MODEL = "moto's CloudFormation has no model for this type (it skips the resource with a warning)"

#: Types the harness creates itself, with boto3 calls on moto, and why moto's CloudFormation cannot.
HARNESS_PROVISIONED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AWS::ApiGateway::Stage": _NO_MODEL,
        "AWS::CloudWatch::Alarm": _NO_MODEL,
        "AWS::Cognito::UserPool": _NO_MODEL,
        "AWS::Cognito::UserPoolClient": _NO_MODEL,
        "AWS::Cognito::UserPoolGroup": _NO_MODEL,
        "AWS::Cognito::UserPoolDomain": _NO_MODEL,
        "AWS::EC2::SecurityGroupEgress": _NO_MODEL,
        "AWS::S3::BucketPolicy": _NO_MODEL,
        "AWS::SNS::Subscription": _NO_MODEL,
        "AWS::SQS::QueuePolicy": _NO_MODEL,
        "AWS::SecretsManager::Secret": _NO_MODEL,
        "AWS::StepFunctions::StateMachine": (
            "moto's model ignores DefinitionSubstitutions and registers the machine in the plain Step Functions "
            "backend, not the one whose ASL interpreter runs executions (execute_state_machine)"
        ),
        "AWS::StepFunctions::StateMachineVersion": (
            _NO_MODEL + "; and the state machine it publishes is the harness's (moto has no "
            "PublishStateMachineVersion: UpdateStateMachine with publish=True and the same definition publishes it)"
        ),
        "AWS::StepFunctions::StateMachineAlias": _NO_MODEL + "; it points at a harness-published version",
        "AWS::CloudTrail::Trail": _NO_MODEL,
        "AWS::WAFv2::WebACL": _NO_MODEL,
        "AWS::WAFv2::WebACLAssociation": _NO_MODEL,
        "AWS::WAFv2::LoggingConfiguration": _NO_MODEL,
        "AWS::Scheduler::Schedule": _NO_MODEL + "; moto's Scheduler stores it (CreateSchedule) but never fires it",
        "AWS::ApiGateway::RestApi": (
            "moto's model requires Name (SAM sets none: the title is in Body) and ignores Body, and moto's "
            "PutRestApi refuses Swagger 2.0: the harness creates the resources, methods, integrations and "
            "authorizers the Body describes"
        ),
        "AWS::ApiGateway::Deployment": (
            "moto's CreateDeployment needs the methods the harness adds to the RestApi, so it follows them"
        ),
        "AWS::Lambda::Function": (
            "moto's model drops Layers, KmsKeyArn, TracingConfig, Architectures and Tags, and moto's "
            "UpdateFunctionConfiguration cannot add them afterwards"
        ),
        "AWS::Lambda::LayerVersion": (
            "moto's model drops CompatibleArchitectures, and a published layer version cannot be changed"
        ),
        "AWS::Lambda::Permission": (
            "moto's model looks the function up while the stack is created; the functions are the harness's"
        ),
        "AWS::EC2::SubnetRouteTableAssociation": (
            "moto's model records the association apart from the route table (DescribeRouteTables shows the subnet "
            "unassociated) and reports the route table id as its Ref"
        ),
        "AWS::S3::Bucket": (
            "moto's model applies only BucketEncryption (dropping BucketKeyEnabled) and Tags: no versioning, public "
            "access block, ownership controls, lifecycle, logging, EventBridge notifications or Object Lock"
        ),
    }
)


def _kms_key_is_not_symmetric_encryption(properties: Mapping[str, Any]) -> bool:
    return properties.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or properties.get(
        "KeyUsage", "ENCRYPT_DECRYPT"
    ) not in ("ENCRYPT_DECRYPT",)


#: Types the harness creates only when a property moto's model ignores matters (type -> (test, why)).
HARNESS_PROVISIONED_WHEN: Final[Mapping[str, tuple[Callable[[Mapping[str, Any]], bool], str]]] = MappingProxyType(
    {
        "AWS::KMS::Key": (
            _kms_key_is_not_symmetric_encryption,
            "moto's model creates every key as SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT whatever KeySpec and KeyUsage "
            "say (an HMAC_256 key would become an encryption key)",
        ),
    }
)

#: Types moto's CloudFormation creates but whose listed properties it drops; the harness applies them
#: right after ``create_stack`` through the public APIs.
COMPLETED_BY_HARNESS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # moto never attaches ManagedPolicyArns, and stores each inline policy document as a Python dict that
        # GetRolePolicy returns as unparseable text: the harness attaches and re-puts them.
        "AWS::IAM::Role": ("ManagedPolicyArns", "Policies"),
        # moto keeps the default allow-all egress rule and ignores the template's SecurityGroupEgress.
        "AWS::EC2::SecurityGroup": ("SecurityGroupEgress",),
        "AWS::DynamoDB::Table": ("PointInTimeRecoverySpecification", "TimeToLiveSpecification"),
        "AWS::EC2::VPC": ("EnableDnsSupport", "EnableDnsHostnames"),
        # moto keeps a PolicyDocument object as Python's repr of a dict, which DescribeVpcEndpoints then returns
        # as text no JSON parser reads: the harness puts it again as JSON (ModifyVpcEndpoint).
        "AWS::EC2::VPCEndpoint": ("PolicyDocument",),
    }
)

#: Properties that no moto API can show, with the reason; they are checked on the template instead.
MOTO_GAPS: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {
        ("AWS::Lambda::Function", "DeadLetterConfig"): "moto's Lambda accepts and discards it",
        ("AWS::Lambda::Function", "LoggingConfig"): "moto's Lambda accepts and discards it",
        ("AWS::Lambda::Function", "VpcConfig"): "applied, but moto answers VpcId vpc-123abc whatever the subnets",
        ("AWS::EC2::SecurityGroupIngress", "Description"): "moto's model drops the rule's description",
        ("AWS::S3::Bucket", "NotificationConfiguration"): (
            "applied (moto sends the bucket's events to EventBridge) but GetBucketNotificationConfiguration omits "
            "EventBridgeConfiguration"
        ),
        ("AWS::SQS::Queue", "KmsMasterKeyId"): "applied, but moto also answers SqsManagedSseEnabled=true",
    }
)

#: Properties moto's CloudFormation applies itself (read in moto 5.2.5's models, checked by the tests).
_MOTO_APPLIES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "AWS::KMS::Key": frozenset(
            {"Description", "EnableKeyRotation", "KeyPolicy", "Tags", "Enabled", "KeySpec", "KeyUsage"}
        ),
        "AWS::KMS::Alias": frozenset({"AliasName", "TargetKeyId"}),
        "AWS::IAM::ManagedPolicy": frozenset(
            {"Description", "PolicyDocument", "ManagedPolicyName", "Path", "Groups", "Users", "Roles"}
        ),
        "AWS::IAM::Role": frozenset(
            {
                "AssumeRolePolicyDocument",
                "Tags",
                "RoleName",
                "Path",
                "PermissionsBoundary",
                "Description",
                "MaxSessionDuration",
            }
        ),
        "AWS::EC2::VPC": frozenset({"CidrBlock", "InstanceTenancy", "Tags"}),
        "AWS::EC2::Subnet": frozenset({"AvailabilityZone", "CidrBlock", "MapPublicIpOnLaunch", "Tags", "VpcId"}),
        "AWS::EC2::RouteTable": frozenset({"VpcId", "Tags"}),
        "AWS::EC2::SecurityGroup": frozenset(
            {"GroupDescription", "GroupName", "SecurityGroupIngress", "VpcId", "Tags"}
        ),
        "AWS::EC2::SecurityGroupIngress": frozenset(
            {
                "CidrIp",
                "CidrIpv6",
                "Description",
                "FromPort",
                "GroupId",
                "GroupName",
                "IpProtocol",
                "SourceSecurityGroupId",
                "SourceSecurityGroupName",
                "SourceSecurityGroupOwnerId",
                "ToPort",
            }
        ),
        "AWS::EC2::VPCEndpoint": frozenset(
            {
                "PrivateDnsEnabled",
                "RouteTableIds",
                "SecurityGroupIds",
                "ServiceName",
                "SubnetIds",
                "VpcEndpointType",
                "VpcId",
            }
        ),
        "AWS::EC2::FlowLog": frozenset(
            {
                "DeliverLogsPermissionArn",
                "LogDestination",
                "LogDestinationType",
                "LogFormat",
                "LogGroupName",
                "MaxAggregationInterval",
                "ResourceId",
                "ResourceType",
                "Tags",
                "TrafficType",
            }
        ),
        "AWS::Logs::LogGroup": frozenset({"KmsKeyId", "LogGroupName", "RetentionInDays", "Tags"}),
        "AWS::DynamoDB::Table": frozenset(
            {
                "AttributeDefinitions",
                "BillingMode",
                "DeletionProtectionEnabled",
                "GlobalSecondaryIndexes",
                "KeySchema",
                "LocalSecondaryIndexes",
                "ProvisionedThroughput",
                "SSESpecification",
                "StreamSpecification",
                "TableName",
                "Tags",
            }
        ),
        "AWS::SQS::Queue": frozenset(
            {
                "DelaySeconds",
                "FifoQueue",
                "KmsDataKeyReusePeriodSeconds",
                "KmsMasterKeyId",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "QueueName",
                "ReceiveMessageWaitTimeSeconds",
                "RedrivePolicy",
                "Tags",
                "VisibilityTimeout",
            }
        ),
        "AWS::SNS::Topic": frozenset({"DisplayName", "KmsMasterKeyId", "TopicName", "Tags"}),
        "AWS::Events::Rule": frozenset(
            {"Description", "EventBusName", "EventPattern", "Name", "RoleArn", "ScheduleExpression", "State", "Targets"}
        ),
    }
)

_PSEUDO_PARAMETERS: Final = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
_PACKAGE_PLACEHOLDER: Final = "sam-package-placeholder"
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class DeployError(Exception):
    """The template cannot be deployed (CloudFormation would refuse it too, or the harness cannot model it)."""


class ParameterError(DeployError):
    """A parameter is missing, unknown or outside its constraints, or a template rule's assertion failed."""


class CircularDependencyError(DeployError):
    """Resources depend on each other in a circle: CloudFormation refuses the template before creating anything."""

    def __init__(self, cycles: list[list[str]], loops: list[str]) -> None:
        #: The strongly connected groups of resources (what CloudFormation's message lists).
        self.cycles = cycles
        #: Each shortest loop as "A.Property -> B.Property -> A", to show which references to break.
        self.loops = loops
        listed = "; ".join(", ".join(cycle) for cycle in cycles)
        explained = "".join(f"\n  {loop}" for loop in loops)
        super().__init__(f"Circular dependency between resources: [{listed}]{explained}")


# --- Public result ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedFunction:
    logical_id: str
    name: str
    arn: str
    role_arn: str
    handler: str
    #: The function's local code folder (its CodeUri in template.yaml).
    code_dir: Path
    #: Read back from moto's Lambda (get_function_configuration): what the deployment resolved.
    environment: dict[str, str]
    timeout: int
    memory_size: int


@dataclass(frozen=True)
class DeployedRule:
    logical_id: str
    name: str
    arn: str
    #: From moto's EventBridge (describe_rule / list_targets_by_rule).
    pattern: dict[str, Any]
    targets: list[dict[str, Any]]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    function_logical_id: str
    #: Name of the authorizer in the RestApi Body's security, None for an open method.
    authorizer: str | None


@dataclass
class ParityStack:
    name: str
    region: str
    account_id: str
    #: The transformed template as deployed (``Code``/``Content`` point at the code bucket).
    template: dict[str, Any]
    parameters: dict[str, str]
    #: Logical id -> Ref value, for every resource (moto-made and harness-made).
    physical_ids: dict[str, str]
    outputs: dict[str, str]
    functions: dict[str, DeployedFunction]
    state_machine_arn: str
    state_machine_role_arn: str
    sagemaker_role_arn: str
    rules: dict[str, DeployedRule]
    api_routes: list[ApiRoute]
    #: Lambda authorizer name (the RestApi Body's securityDefinitions) -> logical id of its function.
    api_authorizer_functions: dict[str, str]
    api_id: str
    api_stage: str
    user_pool_id: str
    user_pool_client_id: str
    #: Logical id -> type, created by the harness, not by moto's CloudFormation.
    provisioned_by_harness: dict[str, str]
    code_bucket: str = ""
    stack_id: str = ""
    #: Wall-clock seconds the deployment took.
    deploy_seconds: float = 0.0
    #: AWS managed policy ARNs moto does not know; they could not be attached (role name -> ARNs).
    unknown_managed_policies: dict[str, list[str]] = field(default_factory=dict)
    _get_att: Callable[[str, str], Any] | None = field(default=None, repr=False, compare=False)

    def ref(self, logical_id: str) -> str:
        """What ``!Ref logical_id`` resolved to."""
        try:
            return self.physical_ids[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a deployed resource of {self.name}") from None

    def get_att(self, logical_id: str, attribute: str) -> str:
        """What ``!GetAtt logical_id.attribute`` resolved to."""
        if self._get_att is None:
            raise RuntimeError("this ParityStack was not built by deploy_parity_stack")
        return _scalar(self._get_att(logical_id, attribute))

    def role_policy_documents(self, role_arn: str) -> list[tuple[str, dict[str, Any]]]:
        """(policy name, document) of every inline and attached managed policy of the role, read from moto IAM.

        AWS managed policies are included when moto knows them (it bundles most); the ones it does not are in
        :attr:`unknown_managed_policies` and cannot be attached.
        """
        iam = boto3.client("iam", region_name=self.region, **HARNESS_CREDENTIALS)
        role_name = role_arn.rsplit("/", 1)[-1]
        documents: list[tuple[str, dict[str, Any]]] = []
        for name in _paged(iam, "list_role_policies", "PolicyNames", RoleName=role_name):
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            documents.append((name, _as_document(document)))
        for attached in _paged(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name):
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            documents.append((attached["PolicyName"], _as_document(version["PolicyVersion"]["Document"])))
        return documents

    def sign_in(
        self,
        username: str,
        password: str,
        *,
        authenticators: dict[str, str] | None = None,
        totp: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """Sign an approver in through the app client (USER_SRP_AUTH + TOTP); returns the AuthenticationResult."""
        return cognito_srp_sign_in(
            user_pool_id=self.user_pool_id,
            client_id=self.user_pool_client_id,
            username=username,
            password=password,
            region=self.region,
            authenticators=authenticators,
            totp=totp,
        )


# --- Template ------------------------------------------------------------------------------------------


def _transform_module() -> Any:
    # tools/ is not a package: load the script by path (no sys.path edits).
    spec = importlib.util.spec_from_file_location("transform_template", REPO_ROOT / "tools" / "transform_template.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _transformed(path: Path, modified_ns: int, region: str) -> dict[str, Any]:
    del modified_ns  # part of the cache key: an edited template is transformed again
    return _transform_module().transform_template(path, region)  # type: ignore[no-any-return]


def load_transformed_template(template_path: Path, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation ``sam deploy`` would create from ``template_path`` (cached per process; a copy)."""
    path = Path(template_path).resolve()
    return copy.deepcopy(_transformed(path, path.stat().st_mtime_ns, region))


# --- Small helpers ---------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A value as CloudFormation writes it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise DeployError(f"expected a string, number or boolean, got {value!r}")


def _canonical(value: Any) -> Any:
    """Fn::Equals compares values as strings."""
    if isinstance(value, list):
        return tuple(_canonical(item) for item in value)
    return _scalar(value)


def _as_document(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else dict(document)


def _paged(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _tags(tags: Any) -> dict[str, str]:
    """CloudFormation's [{Key, Value}] as a {key: value} dict."""
    if isinstance(tags, dict):
        return {str(key): _scalar(value) for key, value in tags.items()}
    return {tag["Key"]: _scalar(tag["Value"]) for tag in tags or []}


def _generated_name(stack_name: str, logical_id: str, *, max_length: int = 64, lower: bool = False) -> str:
    """A CloudFormation-style physical name (stack-LogicalId-SUFFIX), stable for a stack and logical id."""
    suffix = base64.b32encode(hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()).decode()[:12]
    head = f"{stack_name}-{logical_id}"[: max_length - len(suffix) - 1]
    name = f"{head}-{suffix}"
    return name.lower() if lower else name


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _NoValue:
    """``AWS::NoValue``: the property is removed."""


_NO_VALUE: Final = _NoValue()


class _Unavailable(Exception):
    """A resource another one refers to has not been created yet."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(logical_id)
        self.logical_id = logical_id


# --- Intrinsic functions with CloudFormation semantics ---------------------------------------------------


class _Intrinsics:
    """Resolves Ref / Fn::* against parameters, pseudo parameters, conditions and deployed resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        pseudo: dict[str, Any],
        *,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        availability_zones: Callable[[str], list[str]],
    ) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        self.parameters: dict[str, Any] = {}
        for name, raw in parameters.items():
            kind = str(declared.get(name, {}).get("Type", "String"))
            is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
            self.parameters[name] = [item.strip() for item in raw.split(",")] if is_list else raw
        self.pseudo = pseudo
        self._ref = ref
        self._get_att = get_att
        self._availability_zones = availability_zones
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # Conditions ----------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise DeployError(f"Template format error: Unresolved condition dependency {name}")
            if name in self._evaluating:
                raise DeployError(f"Template format error: circular condition {name}")
            self._evaluating.add(name)
            self._conditions[name] = self.truth(definitions[name])
            self._evaluating.discard(name)
        return self._conditions[name]

    def truth(self, node: Any) -> bool:
        """A condition or rule expression."""
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise DeployError(f"Template format error: not a condition: {node!r}")
        ((function, argument),) = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Not":
            return not self.truth(argument[0])
        if function == "Fn::And":
            return all(self.truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self.truth(item) for item in argument)
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return bool(_canonical(left) == _canonical(right))
        if function == "Fn::Contains":
            values, value = (self.resolve(item) for item in argument)
            return _canonical(value) in {_canonical(item) for item in values}
        if function == "Fn::EachMemberEquals":
            values, value = (self.resolve(item) for item in argument)
            return all(_canonical(item) == _canonical(value) for item in values)
        if function == "Fn::EachMemberIn":
            values, allowed = (self.resolve(item) for item in argument)
            return {_canonical(item) for item in values} <= {_canonical(item) for item in allowed}
        raise DeployError(f"the parity harness does not evaluate {function} in conditions or rules")

    # Values --------------------------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        """The value of ``node`` with every intrinsic replaced (``AWS::NoValue`` removes the key or item)."""
        value = self._resolve(node)
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in (self._resolve(item) for item in node) if value is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, argument)
        resolved = {}
        for key, value in node.items():
            item = self._resolve(value)
            if item is not _NO_VALUE:
                resolved[key] = item
        return resolved

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            value = self.pseudo[name]
            if value is None:
                raise _Unavailable(name)
            return value
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def _get_att_function(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, attribute = argument.split(".", 1)
        else:
            logical_id, attribute = argument[0], self._resolve(argument[1])
        return self._get_att(logical_id, attribute)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {key: self._resolve(value) for key, value in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return _scalar(variables[name])
            if name in self.parameters or name in self.pseudo:
                return _scalar(self.ref(name))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return _scalar(self._get_att(logical_id, attribute))
            return _scalar(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def _join(self, argument: Any) -> str:
        delimiter, values = argument
        return str(delimiter).join(_scalar(value) for value in self._resolve(values))

    def _select(self, argument: Any) -> Any:
        index, values = self._resolve(argument[0]), self._resolve(argument[1])
        return values[int(index)]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self._resolve(text)).split(delimiter)

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _get_azs(self, argument: Any) -> list[str]:
        region = self._resolve(argument) or self.pseudo["AWS::Region"]
        return self._availability_zones(str(region))

    def _cidr(self, argument: Any) -> list[str]:
        block, count, bits = (self._resolve(item) for item in argument)
        network = ipaddress.ip_network(str(block), strict=False)
        prefix = network.max_prefixlen - int(bits)
        subnets = network.subnets(new_prefix=prefix)
        return [str(next(subnets)) for _ in range(int(count))]

    def _base64(self, argument: Any) -> str:
        return base64.b64encode(_scalar(self._resolve(argument)).encode()).decode()

    def _find_in_map(self, argument: Any) -> Any:
        name, top, second = (self._resolve(item) for item in argument)
        return self.template["Mappings"][name][top][second]

    def _to_json_string(self, argument: Any) -> str:
        return json.dumps(self._resolve(argument), separators=(",", ":"))

    def _length(self, argument: Any) -> int:
        return len(self._resolve(argument))

    def _import_value(self, argument: Any) -> Any:
        raise DeployError(f"Fn::ImportValue {argument!r}: the parity stack has no other stacks to import from")

    _FUNCTIONS: Final[dict[str, Callable[[_Intrinsics, Any], Any]]] = {
        "Fn::GetAtt": _get_att_function,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::GetAZs": _get_azs,
        "Fn::Cidr": _cidr,
        "Fn::Base64": _base64,
        "Fn::FindInMap": _find_in_map,
        "Fn::ToJsonString": _to_json_string,
        "Fn::Length": _length,
        "Fn::ImportValue": _import_value,
    }

    # Dependencies --------------------------------------------------------------------------------------
    def references(self, node: Any) -> set[str]:
        """Names (resources, parameters, pseudo parameters) ``node`` refers to, taking only Fn::If's chosen branch."""
        found: set[str] = set()
        self._collect(node, found)
        return found

    def _collect(self, node: Any, found: set[str]) -> None:
        if isinstance(node, list):
            for item in node:
                self._collect(item, found)
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
                return
            if key == "Fn::GetAtt":
                found.add(argument.split(".", 1)[0] if isinstance(argument, str) else argument[0])
                return
            if key == "Fn::If":
                name, when_true, when_false = argument
                self._collect(when_true if self.condition(name) else when_false, found)
                return
            if key == "Fn::Sub":
                text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
                self._collect(list(variables.values()), found)
                for name in _SUB_VARIABLE.findall(text):
                    if not name.startswith("!") and name.strip() not in variables:
                        found.add(name.strip().split(".", 1)[0])
                return
        for value in node.values():
            self._collect(value, found)


def _parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Parameter values as CloudFormation accepts them (defaults filled, constraints checked)."""
    declared: dict[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str] = {}
    missing = []
    for name, spec in declared.items():
        if name in given:
            raw: Any = given[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            missing.append(name)
            continue
        value = ",".join(_scalar(item) for item in raw) if isinstance(raw, list) else _scalar(raw)
        _check_parameter(name, spec, value)
        values[name] = value
    if missing:
        raise ParameterError(f"Parameters: {missing} must have values")
    return values


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    kind = str(spec.get("Type", "String"))
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    items = [item.strip() for item in value.split(",")] if is_list else [value]
    constraint = spec.get("ConstraintDescription")

    def refuse(reason: str) -> ParameterError:
        return ParameterError(f"Parameter '{name}' {constraint or reason}")

    allowed = spec.get("AllowedValues")
    if allowed is not None and any(item not in {_scalar(choice) for choice in allowed} for item in items):
        raise refuse(f"must be one of AllowedValues {allowed}")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            raise refuse("must be a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise refuse(f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise refuse(f"must be a number not greater than {spec['MaxValue']}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and any(re.fullmatch(pattern, item) is None for item in items):
        raise refuse(f"failed to satisfy constraint: Must match pattern {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise refuse(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise refuse(f"must contain at most {spec['MaxLength']} characters")


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (or a self-reference): Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _topological(graph: Mapping[str, set[str]]) -> list[str]:
    """Dependencies first; ties in name order (the graph has no cycles)."""
    remaining = {node: set(dependencies) for node, dependencies in graph.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(node for node, dependencies in remaining.items() if not dependencies)
        if not ready:
            raise DeployError(f"Circular dependency between resources: {sorted(remaining)}")
        for node in ready:
            order.append(node)
            del remaining[node]
        for dependencies in remaining.values():
            dependencies.difference_update(ready)
    return order


# --- Packaging (sam package) -------------------------------------------------------------------------------


def _zip_folder(folder: Path) -> bytes:
    """The folder as a deterministic zip (sorted entries, fixed timestamps), without bytecode caches."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _package(template: dict[str, Any], root: Path, s3: Any, bucket: str) -> dict[str, Path]:
    """Upload every placeholder code folder to ``bucket`` (key: the zip's MD5, as sam package names it).

    Returns logical id -> local code folder; rewrites the template's Code/Content locations in place.
    """
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    code_dirs: dict[str, Path] = {}
    uploaded: dict[Path, str] = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("Code", "Content"):
            location = properties.get(key)
            if not isinstance(location, dict) or location.get("S3Bucket") != _PACKAGE_PLACEHOLDER:
                continue
            folder = (root / location["S3Key"]).resolve()
            if not folder.is_dir():
                raise DeployError(f"{logical_id}: code folder {folder} does not exist")
            if folder not in uploaded:
                body = _zip_folder(folder)
                uploaded[folder] = hashlib.md5(body, usedforsecurity=False).hexdigest()
                s3.put_object(Bucket=bucket, Key=uploaded[folder], Body=body)
            properties[key] = {"S3Bucket": bucket, "S3Key": uploaded[folder]}
            code_dirs[logical_id] = folder
    return code_dirs


# --- AWS managed policies moto bundles ---------------------------------------------------------------------


@functools.cache
def _moto_managed_policy(name: str) -> dict[str, Any] | None:
    """One AWS managed policy from moto's bundled copy (parsing only that entry: the whole file takes ~1 s)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    start = aws_managed_policies_data.find(f'"{name}":')
    if start < 0:
        return None
    decoder = json.JSONDecoder()
    value, _ = decoder.raw_decode(aws_managed_policies_data, aws_managed_policies_data.index("{", start))
    return dict(value)


def _ensure_aws_managed_policy(iam: Any, arn: str, account_id: str, region: str) -> bool:
    """Make moto's IAM know the AWS managed policy ``arn`` (moto loads none unless configured to load all)."""
    try:
        iam.get_policy(PolicyArn=arn)
        return True
    except ClientError:
        pass
    name = arn.rsplit("/", 1)[-1]
    data = _moto_managed_policy(name)
    if data is None:
        return False
    from moto.iam.models import AWSManagedPolicy, iam_backends
    from moto.utilities.utils import get_partition

    policy = AWSManagedPolicy.from_data(name, account_id, region, data)
    if policy.arn != arn:
        return False
    iam_backends[account_id][get_partition(region)].managed_policies[policy.arn] = policy
    return True


# --- The deployment ----------------------------------------------------------------------------------------


def _harness_reason(resource: Mapping[str, Any]) -> str | None:
    kind = resource.get("Type", "")
    if kind in HARNESS_PROVISIONED:
        return HARNESS_PROVISIONED[kind]
    conditional = HARNESS_PROVISIONED_WHEN.get(kind)
    if conditional is not None and conditional[0](resource.get("Properties", {})):
        return conditional[1]
    return None


class _Deployment:
    # Harness types whose Ref (and listed attributes) the harness chooses before creating them.
    _PREDICTABLE: Final = frozenset(
        {
            "AWS::Lambda::Function",
            "AWS::StepFunctions::StateMachine",
            "AWS::CloudWatch::Alarm",
            "AWS::Scheduler::Schedule",
            "AWS::S3::Bucket",
            "AWS::Cognito::UserPoolGroup",
            "AWS::ApiGateway::Stage",
            "AWS::S3::BucketPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::Lambda::Permission",
        }
    )
    # Intrinsic functions moto's CloudFormation does not implement (it passes them through unevaluated):
    # evaluated here and written into the template it gets.
    _MOTO_LACKS: Final = frozenset({"Fn::Cidr", "Fn::Length"})
    # Properties a harness resource can receive after creation (so it can precede the stack).
    _DEFERRABLE: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
        {"AWS::SecretsManager::Secret": frozenset({"KmsKeyId"})}
    )

    def __init__(self, template: dict[str, Any], stack_name: str, parameters: dict[str, str]) -> None:
        self.template = template
        self.stack_name = stack_name
        self.parameters = parameters
        session = boto3.session.Session()
        self.region: str = session.region_name or "us-east-1"
        self._clients: dict[str, Any] = {}
        self.account_id: str = self.client("sts").get_caller_identity()["Account"]
        self.partition = "aws"
        self.pseudo: dict[str, Any] = {
            "AWS::AccountId": self.account_id,
            "AWS::NotificationARNs": [],
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::StackId": None,
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.refs: dict[str, str] = {}
        self.attributes: dict[str, dict[str, Any]] = {}
        self.intrinsics = _Intrinsics(
            template,
            parameters,
            self.pseudo,
            ref=self._ref,
            get_att=self._get_att,
            availability_zones=self._availability_zones,
        )
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.active = {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if "Condition" not in resource or self.intrinsics.condition(resource["Condition"])
        }
        self.harness = {logical_id for logical_id, resource in self.active.items() if _harness_reason(resource)}
        self.stack_resources = set(self.active) - self.harness
        self.created: set[str] = set()
        self.deferred: list[tuple[str, dict[str, Any]]] = []
        self.last: list[Callable[[], Any]] = []
        self.unknown_managed_policies: dict[str, list[str]] = {}
        self.stack_id = ""

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region, **HARNESS_CREDENTIALS)
        return self._clients[service]

    def kind(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])

    # Checks CloudFormation makes before creating anything -------------------------------------------
    def validate(self) -> dict[str, set[str]]:
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.intrinsics.truth(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.intrinsics.truth(assertion["Assert"]):
                    raise ParameterError(assertion.get("AssertDescription") or f"Template rule {name} failed")
        graph = {logical_id: self.dependencies(logical_id) for logical_id in self.active}
        cycles = _cycles(graph)
        if cycles:
            raise CircularDependencyError(cycles, self._loops(graph, cycles))
        for logical_id in sorted(self.active):
            self._check_properties(logical_id)
        return graph

    def _loops(self, graph: Mapping[str, set[str]], cycles: list[list[str]]) -> list[str]:
        """The shortest loop through each resource of each cycle, with the property that makes each edge."""
        found: dict[frozenset[tuple[str, str]], str] = {}
        for component in cycles:
            members = set(component)
            for start in component:
                paths = {start: [start]}
                queue = [start]
                loop: list[str] | None = None
                while queue and loop is None:
                    node = queue.pop(0)
                    for successor in sorted(graph[node] & members):
                        if successor == start:
                            loop = [*paths[node], start]
                            break
                        if successor not in paths:
                            paths[successor] = [*paths[node], successor]
                            queue.append(successor)
                if loop is None:
                    continue
                edges = frozenset(itertools.pairwise(loop))
                if edges not in found:
                    steps = [
                        f"{source}.{self._referring_property(source, target)}"
                        for source, target in itertools.pairwise(loop)
                    ]
                    found[edges] = " -> ".join([*steps, loop[-1]])
        return sorted(found.values())

    def _referring_property(self, source: str, target: str) -> str:
        resource = self.active[source]
        for key, value in resource.get("Properties", {}).items():
            if target in self.intrinsics.references(value):
                return str(key)
        return "DependsOn"

    def dependencies(self, logical_id: str, *, skip: frozenset[str] = frozenset()) -> set[str]:
        resource = self.active[logical_id]
        properties = {key: value for key, value in resource.get("Properties", {}).items() if key not in skip}
        names = self.intrinsics.references(properties)
        depends_on = resource.get("DependsOn", [])
        names.update([depends_on] if isinstance(depends_on, str) else depends_on)
        found = set()
        for name in names:
            if name in self.intrinsics.parameters or name in _PSEUDO_PARAMETERS:
                continue
            if name not in self.resources:
                raise DeployError(f"Template format error: Unresolved resource dependencies [{name}] in {logical_id}")
            if name not in self.active:
                raise DeployError(
                    f"Template error: {logical_id} refers to {name}, which its condition leaves out of the stack"
                )
            found.add(name)
        return found

    def _check_properties(self, logical_id: str) -> None:
        """Every property is applied by moto's CloudFormation, by the harness, or a listed gap: never dropped."""
        kind = self.kind(logical_id)
        if logical_id in self.harness:
            return  # each provisioner refuses properties it does not apply
        handled = _MOTO_APPLIES.get(kind)
        if handled is None:
            raise DeployError(
                f"{logical_id}: type {kind} has not been checked against moto's CloudFormation; add it to "
                "_MOTO_APPLIES (and COMPLETED_BY_HARNESS) or HARNESS_PROVISIONED in tests/parity/stack.py"
            )
        completed = set(COMPLETED_BY_HARNESS.get(kind, ()))
        unknown = set(self.active[logical_id].get("Properties", {})) - handled - completed
        if unknown:
            raise DeployError(f"{logical_id} ({kind}): moto's CloudFormation drops {sorted(unknown)}")

    # Resolution --------------------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        return self.intrinsics.resolve(node)

    def properties(self, logical_id: str, *, skip: Iterable[str] = ()) -> dict[str, Any]:
        raw = {
            key: value for key, value in self.active[logical_id].get("Properties", {}).items() if key not in set(skip)
        }
        resolved = self.resolve(raw)
        return dict(resolved or {})

    def _ref(self, logical_id: str) -> str:
        if logical_id in self.refs:
            return self.refs[logical_id]
        if logical_id not in self.resources:
            raise DeployError(f"Template format error: Unresolved resource dependencies [{logical_id}]")
        raise _Unavailable(logical_id)

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        known = self.attributes.get(logical_id, {})
        if attribute in known:
            return known[attribute]
        if logical_id in self.stack_resources and logical_id in self.refs:
            value = self._stack_attribute(logical_id, attribute)
            self.attributes.setdefault(logical_id, {})[attribute] = value
            return value
        if logical_id not in self.resources:
            raise DeployError(f"Template error: Fn::GetAtt references undefined resource {logical_id}")
        if logical_id in self.created:
            raise DeployError(f"Template error: {self.kind(logical_id)} {logical_id} has no attribute {attribute}")
        raise _Unavailable(logical_id)

    @functools.cache  # noqa: B019 - one deployment object per deploy
    def _availability_zones(self, region: str) -> list[str]:
        zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
        return sorted(zone["ZoneName"] for zone in zones if zone["ZoneName"].startswith(region))

    def _stack_attribute(self, logical_id: str, attribute: str) -> Any:
        """Fn::GetAtt of a resource moto's CloudFormation made, read through the service APIs."""
        kind, ref = self.kind(logical_id), self.refs[logical_id]
        region, account, partition = self.region, self.account_id, self.partition
        values: dict[str, Callable[[], Any]] = {}
        if kind == "AWS::KMS::Key":
            values = {
                "Arn": lambda: self.client("kms").describe_key(KeyId=ref)["KeyMetadata"]["Arn"],
                "KeyId": lambda: ref,
            }
        elif kind == "AWS::IAM::Role":
            values = {
                "Arn": lambda: self.client("iam").get_role(RoleName=ref)["Role"]["Arn"],
                "RoleId": lambda: self.client("iam").get_role(RoleName=ref)["Role"]["RoleId"],
            }
        elif kind == "AWS::IAM::ManagedPolicy":
            values = {"PolicyArn": lambda: ref}
        elif kind == "AWS::S3::Bucket":
            values = {
                "Arn": lambda: f"arn:{partition}:s3:::{ref}",
                "DomainName": lambda: f"{ref}.s3.amazonaws.com",
                "RegionalDomainName": lambda: f"{ref}.s3.{region}.amazonaws.com",
                "DualStackDomainName": lambda: f"{ref}.s3.dualstack.{region}.amazonaws.com",
            }
        elif kind == "AWS::DynamoDB::Table":
            values = {
                "Arn": lambda: self.client("dynamodb").describe_table(TableName=ref)["Table"]["TableArn"],
                "StreamArn": lambda: self.client("dynamodb").describe_table(TableName=ref)["Table"]["LatestStreamArn"],
            }
        elif kind == "AWS::SQS::Queue":
            values = {
                "Arn": lambda: self.client("sqs").get_queue_attributes(QueueUrl=ref, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"],
                "QueueName": lambda: ref.rsplit("/", 1)[-1],
                "QueueUrl": lambda: ref,
            }
        elif kind == "AWS::SNS::Topic":
            values = {"TopicArn": lambda: ref, "TopicName": lambda: ref.rsplit(":", 1)[-1]}
        elif kind == "AWS::Logs::LogGroup":
            # CloudFormation's LogGroup Arn ends in ":*" (the ARN of the group's streams).
            values = {"Arn": lambda: f"arn:{partition}:logs:{region}:{account}:log-group:{ref}:*"}
        elif kind == "AWS::EC2::SecurityGroup":
            values = {
                "GroupId": lambda: ref,
                "VpcId": lambda: self.client("ec2").describe_security_groups(GroupIds=[ref])["SecurityGroups"][0][
                    "VpcId"
                ],
            }
        elif kind == "AWS::EC2::VPC":
            values = {
                "VpcId": lambda: ref,
                "CidrBlock": lambda: self.client("ec2").describe_vpcs(VpcIds=[ref])["Vpcs"][0]["CidrBlock"],
                "DefaultSecurityGroup": lambda: self.client("ec2").describe_security_groups(
                    Filters=[{"Name": "vpc-id", "Values": [ref]}, {"Name": "group-name", "Values": ["default"]}]
                )["SecurityGroups"][0]["GroupId"],
            }
        elif kind == "AWS::EC2::Subnet":
            values = {
                "SubnetId": lambda: ref,
                "AvailabilityZone": lambda: self.client("ec2").describe_subnets(SubnetIds=[ref])["Subnets"][0][
                    "AvailabilityZone"
                ],
                "VpcId": lambda: self.client("ec2").describe_subnets(SubnetIds=[ref])["Subnets"][0]["VpcId"],
            }
        elif kind == "AWS::Events::Rule":
            values = {"Arn": lambda: self.client("events").describe_rule(Name=ref)["Arn"]}
        elif kind == "AWS::EC2::VPCEndpoint":
            values = {"Id": lambda: ref}
        if attribute not in values:
            raise DeployError(f"the parity harness cannot read {kind} attribute {attribute} ({logical_id})")
        return values[attribute]()

    # Planning ----------------------------------------------------------------------------------------
    def plan(self, graph: Mapping[str, set[str]]) -> tuple[list[str], list[str]]:
        """(harness resources to create before the stack, everything after it in dependency order)."""
        for logical_id in sorted(self.harness):
            if self.kind(logical_id) in self._PREDICTABLE:
                self._predict(logical_id)
        before: set[str] = set()
        pending = [
            dependency
            for logical_id in self.stack_resources
            for dependency in graph[logical_id]
            if dependency in self.harness and dependency not in self.refs
        ]
        while pending:
            logical_id = pending.pop()
            if logical_id in before:
                continue
            before.add(logical_id)
            skip = self._DEFERRABLE.get(self.kind(logical_id), frozenset())
            for dependency in self.dependencies(logical_id, skip=skip):
                if dependency in self.stack_resources:
                    raise DeployError(
                        f"{logical_id} ({self.kind(logical_id)}) must exist before the stack (stack resources refer "
                        f"to it and its identifier cannot be chosen in advance) but needs stack resource {dependency}"
                    )
                if dependency not in self.refs:
                    pending.append(dependency)
        first = [logical_id for logical_id in _topological(graph) if logical_id in before]
        after = [logical_id for logical_id in _topological(graph) if logical_id not in before]
        return first, after

    def _predict(self, logical_id: str) -> None:
        """Choose the physical name now, so the stack can refer to a resource created after it."""
        kind, raw = self.kind(logical_id), self.active[logical_id].get("Properties", {})

        def own(key: str, default: str) -> str:
            value = raw.get(key)
            if value is None:
                return default
            try:
                return _scalar(self.resolve(value))
            except _Unavailable as missing:
                raise DeployError(f"{logical_id}.{key} must not depend on {missing.logical_id}") from None

        region, account, partition = self.region, self.account_id, self.partition
        if kind == "AWS::Lambda::Function":
            name = own("FunctionName", _generated_name(self.stack_name, logical_id))
            self._record(logical_id, name, Arn=f"arn:{partition}:lambda:{region}:{account}:function:{name}")
        elif kind == "AWS::StepFunctions::StateMachine":
            name = own("StateMachineName", _generated_name(self.stack_name, logical_id, max_length=80))
            arn = f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"
            self._record(logical_id, arn, Arn=arn, Name=name)
        elif kind == "AWS::Scheduler::Schedule":
            name = own("Name", _generated_name(self.stack_name, logical_id))
            self._record(logical_id, name, Arn=f"arn:{partition}:scheduler:{region}:{account}:schedule/default/{name}")
        elif kind == "AWS::CloudWatch::Alarm":
            name = own("AlarmName", _generated_name(self.stack_name, logical_id, max_length=255))
            self._record(logical_id, name, Arn=f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}")
        elif kind == "AWS::S3::Bucket":
            name = own("BucketName", _generated_name(self.stack_name, logical_id, max_length=63, lower=True))
            self._record(
                logical_id,
                name,
                Arn=f"arn:{partition}:s3:::{name}",
                DomainName=f"{name}.s3.amazonaws.com",
                RegionalDomainName=f"{name}.s3.{region}.amazonaws.com",
            )
        elif kind == "AWS::Cognito::UserPoolGroup":
            self._record(logical_id, own("GroupName", _generated_name(self.stack_name, logical_id, max_length=128)))
        elif kind == "AWS::ApiGateway::Stage":
            self._record(logical_id, own("StageName", logical_id))
        else:  # policies and permissions: CloudFormation's generated id
            self._record(logical_id, _generated_name(self.stack_name, logical_id, max_length=100))
        self.created.discard(logical_id)

    def _record(self, logical_id: str, ref: str, **attributes: Any) -> None:
        self.refs[logical_id] = ref
        self.attributes.setdefault(logical_id, {}).update(attributes)

    # The stack -----------------------------------------------------------------------------------------
    def create_stack(self) -> None:
        """moto's CloudFormation creates its share; harness values are written into the template it gets."""
        resources = {}
        for logical_id in sorted(self.stack_resources):
            resource = copy.deepcopy(self.active[logical_id])
            resource["Properties"] = self._inline_harness_values(logical_id, resource.get("Properties", {}))
            fix = _MOTO_INPUT_FIXES.get(resource["Type"])
            if fix is not None:
                fix(self, resource["Properties"])
            depends_on = resource.get("DependsOn")
            if depends_on is not None:
                named = [depends_on] if isinstance(depends_on, str) else depends_on
                kept = [name for name in named if name in self.stack_resources]
                if kept:
                    resource["DependsOn"] = kept
                else:
                    del resource["DependsOn"]
            resources[logical_id] = resource
        body = {key: value for key, value in self.template.items() if key not in ("Resources", "Outputs", "Rules")}
        body["Resources"] = resources
        cloudformation = self.client("cloudformation")
        response = cloudformation.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        self.stack_id = response["StackId"]
        self.pseudo["AWS::StackId"] = self.stack_id
        made = _paged(cloudformation, "list_stack_resources", "StackResourceSummaries", StackName=self.stack_name)
        for summary in made:
            if summary["ResourceStatus"] != "CREATE_COMPLETE":
                raise DeployError(
                    f"moto's CloudFormation left {summary['LogicalResourceId']} {summary['ResourceStatus']}"
                )
            self.refs[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
            self.created.add(summary["LogicalResourceId"])
        missing = sorted(self.stack_resources - {summary["LogicalResourceId"] for summary in made})
        if missing:
            raise DeployError(f"moto's CloudFormation did not create {missing}")

    def _inline_harness_values(self, logical_id: str, node: Any) -> Any:
        """Replace references to harness resources by their values (Ref, Fn::GetAtt, ${..} in Fn::Sub)."""

        def value(name: str, attribute: str | None) -> str:
            try:
                return _scalar(self._ref(name) if attribute is None else self._get_att(name, attribute))
            except _Unavailable:
                raise DeployError(f"{logical_id} refers to {name}, which is not known before the stack") from None

        def walk(item: Any) -> Any:
            if isinstance(item, list):
                return [walk(element) for element in item]
            if not isinstance(item, dict):
                return item
            if len(item) == 1:
                ((key, argument),) = item.items()
                if key in self._MOTO_LACKS:
                    return self.resolve(item)
                if key == "Ref" and argument in self.harness:
                    return value(argument, None)
                if key == "Fn::GetAtt":
                    name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                    if name in self.harness:
                        return value(name, attribute)
                if key == "Fn::Sub":
                    text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})

                    def replace(match: re.Match[str]) -> str:
                        name = match.group(1).strip()
                        head, _, attribute = name.partition(".")
                        if name.startswith("!") or name in variables or head not in self.harness:
                            return match.group(0)
                        return value(head, attribute or None)

                    text = _SUB_VARIABLE.sub(replace, text)
                    return {"Fn::Sub": [text, walk(variables)] if variables else text}
            return {key: walk(element) for key, element in item.items()}

        return walk(node)

    # Harness resources -----------------------------------------------------------------------------------
    def provision(self, logical_id: str, *, before_stack: bool = False) -> None:
        kind = self.kind(logical_id)
        skip: frozenset[str] = frozenset()
        if before_stack:
            deferrable = self._DEFERRABLE.get(kind, frozenset())
            raw = self.active[logical_id].get("Properties", {})
            later = {}
            for key in deferrable & set(raw):
                try:
                    self.resolve(raw[key])
                except _Unavailable:
                    later[key] = raw[key]
            if later:
                self.deferred.append((logical_id, later))
                skip = frozenset(later)
        creator = getattr(self, "_create_" + kind.replace("AWS::", "").replace("::", "_"))
        properties = self.properties(logical_id, skip=skip)
        creator(logical_id, properties)
        self.created.add(logical_id)

    def apply_deferred(self) -> None:
        for call in self.last:
            call()
        for logical_id, raw in self.deferred:
            resolved = self.resolve(raw)
            if self.kind(logical_id) == "AWS::SecretsManager::Secret" and "KmsKeyId" in resolved:
                self.client("secretsmanager").update_secret(
                    SecretId=self.refs[logical_id], KmsKeyId=resolved["KmsKeyId"]
                )

    @staticmethod
    def _refuse_unknown(logical_id: str, properties: Mapping[str, Any], applied: Iterable[str]) -> None:
        unknown = set(properties) - set(applied)
        if unknown:
            raise DeployError(f"{logical_id}: the parity harness does not apply {sorted(unknown)} yet")

    def _create_Cognito_UserPool(self, logical_id: str, properties: dict[str, Any]) -> None:
        passthrough = {
            "AccountRecoverySetting",
            "AdminCreateUserConfig",
            "AliasAttributes",
            "AutoVerifiedAttributes",
            "DeletionProtection",
            "DeviceConfiguration",
            "EmailConfiguration",
            "EmailVerificationMessage",
            "EmailVerificationSubject",
            "LambdaConfig",
            "MfaConfiguration",
            "Policies",
            "Schema",
            "SmsAuthenticationMessage",
            "SmsConfiguration",
            "SmsVerificationMessage",
            "UserAttributeUpdateSettings",
            "UsernameAttributes",
            "UsernameConfiguration",
            "UserPoolAddOns",
            "UserPoolTags",
            "UserPoolTier",
            "VerificationMessageTemplate",
        }
        self._refuse_unknown(logical_id, properties, passthrough | {"UserPoolName", "EnabledMfas"})
        cognito = self.client("cognito-idp")
        request = {key: value for key, value in properties.items() if key in passthrough}
        name = properties.get("UserPoolName") or _generated_name(self.stack_name, logical_id, max_length=128)
        pool = cognito.create_user_pool(PoolName=name, **request)["UserPool"]
        if "SOFTWARE_TOKEN_MFA" in properties.get("EnabledMfas", []):
            cognito.set_user_pool_mfa_config(
                UserPoolId=pool["Id"],
                SoftwareTokenMfaConfiguration={"Enabled": True},
                MfaConfiguration=properties.get("MfaConfiguration", "OFF"),
            )
        self._record(
            logical_id,
            pool["Id"],
            Arn=pool["Arn"],
            UserPoolId=pool["Id"],
            ProviderName=f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}",
            ProviderURL=f"https://cognito-idp.{self.region}.amazonaws.com/{pool['Id']}",
        )

    def _create_Cognito_UserPoolGroup(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id, properties, {"GroupName", "UserPoolId", "Description", "Precedence", "RoleArn"}
        )
        request = {key: properties[key] for key in ("Description", "Precedence", "RoleArn") if key in properties}
        self.client("cognito-idp").create_group(
            GroupName=self.refs[logical_id], UserPoolId=properties["UserPoolId"], **request
        )

    def _create_Cognito_UserPoolClient(self, logical_id: str, properties: dict[str, Any]) -> None:
        passthrough = {
            "AccessTokenValidity",
            "AllowedOAuthFlows",
            "AllowedOAuthFlowsUserPoolClient",
            "AllowedOAuthScopes",
            "AnalyticsConfiguration",
            "AuthSessionValidity",
            "CallbackURLs",
            "DefaultRedirectURI",
            "EnablePropagateAdditionalUserContextData",
            "EnableTokenRevocation",
            "ExplicitAuthFlows",
            "GenerateSecret",
            "IdTokenValidity",
            "LogoutURLs",
            "PreventUserExistenceErrors",
            "ReadAttributes",
            "RefreshTokenValidity",
            "SupportedIdentityProviders",
            "TokenValidityUnits",
            "WriteAttributes",
        }
        self._refuse_unknown(logical_id, properties, passthrough | {"UserPoolId", "ClientName"})
        request = {key: value for key, value in properties.items() if key in passthrough}
        name = properties.get("ClientName") or _generated_name(self.stack_name, logical_id, max_length=128)
        created = self.client("cognito-idp").create_user_pool_client(
            UserPoolId=properties["UserPoolId"], ClientName=name, **request
        )["UserPoolClient"]
        self._record(logical_id, created["ClientId"], ClientId=created["ClientId"], Name=name)
        if "ClientSecret" in created:
            self.attributes[logical_id]["ClientSecret"] = created["ClientSecret"]

    def _create_Cognito_UserPoolDomain(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"Domain", "UserPoolId", "CustomDomainConfig"})
        request = {key: properties[key] for key in ("CustomDomainConfig",) if key in properties}
        self.client("cognito-idp").create_user_pool_domain(
            Domain=properties["Domain"], UserPoolId=properties["UserPoolId"], **request
        )
        # Ref is the domain prefix; CloudFront's distribution is what AWS returns for the GetAtt.
        self._record(logical_id, properties["Domain"], CloudFrontDistribution="parity.cloudfront.net")

    def _create_SecretsManager_Secret(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {"Name", "Description", "KmsKeyId", "SecretString", "GenerateSecretString", "Tags"},
        )
        secrets_manager = self.client("secretsmanager")
        request: dict[str, Any] = {
            "Name": properties.get("Name") or _generated_name(self.stack_name, logical_id, max_length=256),
        }
        for key in ("Description", "KmsKeyId"):
            if key in properties:
                request[key] = properties[key]
        if "Tags" in properties:
            request["Tags"] = properties["Tags"]
        generate = properties.get("GenerateSecretString")
        if "SecretString" in properties:
            request["SecretString"] = properties["SecretString"]
        elif generate is not None:
            options = {
                key: value
                for key, value in generate.items()
                if key not in ("SecretStringTemplate", "GenerateStringKey")
            }
            password = secrets_manager.get_random_password(**options)["RandomPassword"]
            if "SecretStringTemplate" in generate:
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = password
                request["SecretString"] = json.dumps(document)
            else:
                request["SecretString"] = password
        arn = secrets_manager.create_secret(**request)["ARN"]
        self._record(logical_id, arn, Id=arn)

    def _create_CloudWatch_Alarm(self, logical_id: str, properties: dict[str, Any]) -> None:
        integers = {"Period", "EvaluationPeriods", "DatapointsToAlarm"}
        passthrough = {
            "ActionsEnabled",
            "AlarmActions",
            "AlarmDescription",
            "ComparisonOperator",
            "DatapointsToAlarm",
            "Dimensions",
            "EvaluateLowSampleCountPercentile",
            "EvaluationPeriods",
            "ExtendedStatistic",
            "InsufficientDataActions",
            "MetricName",
            "Metrics",
            "Namespace",
            "OKActions",
            "Period",
            "Statistic",
            "Threshold",
            "ThresholdMetricId",
            "TreatMissingData",
            "Unit",
        }
        self._refuse_unknown(logical_id, properties, passthrough | {"AlarmName"})
        request = {key: value for key, value in properties.items() if key in passthrough}
        for key in integers & set(request):
            request[key] = int(request[key])
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        for metric in request.get("Metrics", []):
            if "Period" in metric:
                metric["Period"] = int(metric["Period"])
            if "MetricStat" in metric:
                metric["MetricStat"]["Period"] = int(metric["MetricStat"]["Period"])
        self.client("cloudwatch").put_metric_alarm(AlarmName=self.refs[logical_id], **request)

    def _create_Scheduler_Schedule(self, logical_id: str, properties: dict[str, Any]) -> None:
        passthrough = {
            "Description",
            "EndDate",
            "FlexibleTimeWindow",
            "GroupName",
            "KmsKeyArn",
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "StartDate",
            "State",
            "Target",
        }
        self._refuse_unknown(logical_id, properties, passthrough | {"Name"})
        request = {key: value for key, value in properties.items() if key in passthrough}
        retry = request.get("Target", {}).get("RetryPolicy")
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if retry and key in retry:
                retry[key] = int(retry[key])
        self.client("scheduler").create_schedule(Name=self.refs[logical_id], **request)

    def _create_EC2_SecurityGroupEgress(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {
                "GroupId",
                "IpProtocol",
                "FromPort",
                "ToPort",
                "CidrIp",
                "CidrIpv6",
                "DestinationPrefixListId",
                "DestinationSecurityGroupId",
                "Description",
            },
        )
        permission = _ip_permission(properties, "DestinationSecurityGroupId", "DestinationPrefixListId")
        response = self.client("ec2").authorize_security_group_egress(
            GroupId=properties["GroupId"], IpPermissions=[permission]
        )
        rules = response.get("SecurityGroupRules") or []
        rule_id = rules[0]["SecurityGroupRuleId"] if rules else _generated_name(self.stack_name, logical_id)
        self._record(logical_id, rule_id, Id=rule_id)

    def _create_EC2_SubnetRouteTableAssociation(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"RouteTableId", "SubnetId"})
        association = self.client("ec2").associate_route_table(
            RouteTableId=properties["RouteTableId"], SubnetId=properties["SubnetId"]
        )["AssociationId"]
        self._record(logical_id, association, Id=association)

    def _create_S3_BucketPolicy(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"Bucket", "PolicyDocument"})
        self.client("s3").put_bucket_policy(
            Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"])
        )

    def _create_SQS_QueuePolicy(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"Queues", "PolicyDocument"})
        for queue_url in properties["Queues"]:
            self.client("sqs").set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )

    def _create_SNS_Subscription(self, logical_id: str, properties: dict[str, Any]) -> None:
        attribute_names = {
            "DeliveryPolicy",
            "FilterPolicy",
            "FilterPolicyScope",
            "RawMessageDelivery",
            "RedrivePolicy",
            "ReplayPolicy",
            "SubscriptionRoleArn",
        }
        self._refuse_unknown(logical_id, properties, attribute_names | {"TopicArn", "Protocol", "Endpoint", "Region"})
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else _scalar(value)
            for key, value in properties.items()
            if key in attribute_names
        }
        request: dict[str, Any] = {"TopicArn": properties["TopicArn"], "Protocol": properties["Protocol"]}
        if "Endpoint" in properties:
            request["Endpoint"] = properties["Endpoint"]
        if attributes:
            request["Attributes"] = attributes
        arn = self.client("sns").subscribe(ReturnSubscriptionArn=True, **request)["SubscriptionArn"]
        self._record(logical_id, arn)

    def _create_StepFunctions_StateMachine(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {
                "Definition",
                "DefinitionString",
                "DefinitionSubstitutions",
                "LoggingConfiguration",
                "RoleArn",
                "StateMachineName",
                "StateMachineType",
                "Tags",
                "TracingConfiguration",
            },
        )
        if "DefinitionString" in properties:
            definition = str(properties["DefinitionString"])
        elif "Definition" in properties:
            definition = json.dumps(properties["Definition"], indent=4)
        else:
            raise DeployError(f"{logical_id}: no DefinitionString or Definition (DefinitionS3Location is not packaged)")
        # CloudFormation replaces ${Name} by each substitution's value, and nothing else.
        for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + name + "}", _scalar(value))
        leftover = sorted(set(_SUB_VARIABLE.findall(definition)))
        if leftover:
            raise DeployError(f"{logical_id}: DefinitionSubstitutions has no value for {leftover}")
        request: dict[str, Any] = {
            "name": self.attributes[logical_id]["Name"],
            "definition": definition,
            "roleArn": properties["RoleArn"],
            "type": properties.get("StateMachineType", "STANDARD"),
        }
        logging = properties.get("LoggingConfiguration")
        if logging is not None:
            request["loggingConfiguration"] = {
                "level": logging.get("Level", "OFF"),
                "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
                "destinations": [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": destination["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                    for destination in logging.get("Destinations", [])
                ],
            }
        tracing = properties.get("TracingConfiguration")
        if tracing is not None:
            request["tracingConfiguration"] = {"enabled": bool(tracing.get("Enabled", False))}
        if properties.get("Tags"):
            request["tags"] = [{"key": tag["Key"], "value": _scalar(tag["Value"])} for tag in properties["Tags"]]
        arn = self.client("stepfunctions").create_state_machine(**request)["stateMachineArn"]
        if arn != self.refs[logical_id]:
            raise DeployError(f"{logical_id}: moto named the state machine {arn}, not {self.refs[logical_id]}")
        self._record(logical_id, arn, StateMachineRevisionId=_revision_id(definition))

    def _create_CloudTrail_Trail(self, logical_id: str, properties: dict[str, Any]) -> None:
        applied = {
            "TrailName",
            "IsLogging",
            "S3BucketName",
            "S3KeyPrefix",
            "KMSKeyId",
            "EnableLogFileValidation",
            "IsMultiRegionTrail",
            "IncludeGlobalServiceEvents",
            "EventSelectors",
        }
        self._refuse_unknown(logical_id, properties, applied)
        cloudtrail = self.client("cloudtrail")
        name = str(properties.get("TrailName") or _generated_name(self.stack_name, logical_id, max_length=128))
        request: dict[str, Any] = {"Name": name, "S3BucketName": properties["S3BucketName"]}
        for key, parameter in (
            ("S3KeyPrefix", "S3KeyPrefix"),
            ("KMSKeyId", "KmsKeyId"),
            ("EnableLogFileValidation", "EnableLogFileValidation"),
            ("IsMultiRegionTrail", "IsMultiRegionTrail"),
            ("IncludeGlobalServiceEvents", "IncludeGlobalServiceEvents"),
        ):
            if key in properties:
                request[parameter] = properties[key]
        arn = cloudtrail.create_trail(**request)["TrailARN"]
        if properties.get("EventSelectors"):
            cloudtrail.put_event_selectors(TrailName=name, EventSelectors=properties["EventSelectors"])
        if properties.get("IsLogging"):
            cloudtrail.start_logging(Name=name)
        self._record(logical_id, name, Arn=arn)

    def _create_WAFv2_WebACL(self, logical_id: str, properties: dict[str, Any]) -> None:
        applied = {"Name", "Scope", "Description", "DefaultAction", "Rules", "VisibilityConfig", "Tags"}
        self._refuse_unknown(logical_id, properties, applied)
        request = {key: properties[key] for key in applied - {"Tags"} if key in properties}
        request.setdefault("Name", _generated_name(self.stack_name, logical_id, max_length=128))
        rules = copy.deepcopy(request.get("Rules", []))
        for rule in rules:  # a Ref to a Number parameter resolves to text; the API takes an integer
            rate = rule.get("Statement", {}).get("RateBasedStatement")
            if rate is not None:
                rate["Limit"] = int(rate["Limit"])
            rule["Priority"] = int(rule["Priority"])
        request["Rules"] = rules
        if "Tags" in properties:
            request["Tags"] = properties["Tags"]
        summary = self.client("wafv2").create_web_acl(**request)["Summary"]
        ref = f"{summary['Name']}|{summary['Id']}|{request['Scope']}"
        self._record(logical_id, ref, Arn=summary["ARN"], Id=summary["Id"])

    def _create_WAFv2_WebACLAssociation(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"ResourceArn", "WebACLArn"})
        self.client("wafv2").associate_web_acl(WebACLArn=properties["WebACLArn"], ResourceArn=properties["ResourceArn"])
        self._record(logical_id, f"{properties['ResourceArn']}|{properties['WebACLArn']}")

    def _create_WAFv2_LoggingConfiguration(self, logical_id: str, properties: dict[str, Any]) -> None:
        applied = {"ResourceArn", "LogDestinationConfigs", "RedactedFields", "LoggingFilter"}
        self._refuse_unknown(logical_id, properties, applied)
        configuration = {key: properties[key] for key in applied if key in properties}
        self.client("wafv2").put_logging_configuration(LoggingConfiguration=configuration)
        self._record(logical_id, str(properties["ResourceArn"]))

    def _create_StepFunctions_StateMachineVersion(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"StateMachineArn", "StateMachineRevisionId", "Description"})
        sfn = self.client("stepfunctions")
        machine = str(properties["StateMachineArn"])
        current = sfn.describe_state_machine(stateMachineArn=machine)["definition"]
        revision = properties.get("StateMachineRevisionId")
        if revision is not None and revision != _revision_id(current):
            raise DeployError(f"{logical_id}: revision {revision} is not the current revision of {machine}")
        request: dict[str, Any] = {"stateMachineArn": machine, "definition": current, "publish": True}
        if properties.get("Description"):
            request["versionDescription"] = properties["Description"]
        version = sfn.update_state_machine(**request)["stateMachineVersionArn"]
        self._record(logical_id, version, Arn=version)

    def _create_StepFunctions_StateMachineAlias(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id, properties, {"Name", "Description", "DeploymentPreference", "RoutingConfiguration"}
        )
        preference = properties.get("DeploymentPreference")
        if preference is not None:
            # A new alias has no earlier version to shift traffic from: whatever the type, CloudFormation
            # points it at the preference's version (CANARY/LINEAR/ALL_AT_ONCE differ on updates only).
            routing = [{"stateMachineVersionArn": str(preference["StateMachineVersionArn"]), "weight": 100}]
        else:
            routing = [
                {"stateMachineVersionArn": str(route["StateMachineVersionArn"]), "weight": int(route["Weight"])}
                for route in properties.get("RoutingConfiguration", [])
            ]
        if not routing or sum(route["weight"] for route in routing) != 100:
            raise DeployError(f"{logical_id}: an alias routes 100 percent of executions, to one or two versions")
        request: dict[str, Any] = {"name": properties["Name"], "routingConfiguration": routing}
        if properties.get("Description"):
            request["description"] = properties["Description"]
        alias = self.client("stepfunctions").create_state_machine_alias(**request)["stateMachineAliasArn"]
        self._record(logical_id, alias, Arn=alias)

    def _create_Lambda_LayerVersion(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {"Content", "LayerName", "Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"},
        )
        request = {
            key: properties[key]
            for key in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
            if key in properties
        }
        name = properties.get("LayerName") or _generated_name(self.stack_name, logical_id, max_length=140)
        published = self.client("lambda").publish_layer_version(
            LayerName=name, Content=properties["Content"], **request
        )
        self._record(logical_id, published["LayerVersionArn"], LayerVersionArn=published["LayerVersionArn"])

    def _create_Lambda_Function(self, logical_id: str, properties: dict[str, Any]) -> None:
        renamed = {"KmsKeyArn": "KMSKeyArn"}
        passthrough = {
            "Architectures",
            "Code",
            "CodeSigningConfigArn",
            "DeadLetterConfig",
            "Description",
            "Environment",
            "EphemeralStorage",
            "FileSystemConfigs",
            "Handler",
            "ImageConfig",
            "KmsKeyArn",
            "Layers",
            "LoggingConfig",
            "MemorySize",
            "PackageType",
            "Role",
            "Runtime",
            "SnapStart",
            "Timeout",
            "TracingConfig",
            "VpcConfig",
        }
        self._refuse_unknown(
            logical_id, properties, passthrough | {"FunctionName", "Tags", "ReservedConcurrentExecutions"}
        )
        request = {renamed.get(key, key): value for key, value in properties.items() if key in passthrough}
        for key in ("Timeout", "MemorySize"):
            if key in request:
                request[key] = int(request[key])
        if "Tags" in properties:
            request["Tags"] = _tags(properties["Tags"])
        lambda_client = self.client("lambda")
        lambda_client.create_function(FunctionName=self.refs[logical_id], **request)
        if "ReservedConcurrentExecutions" in properties:
            lambda_client.put_function_concurrency(
                FunctionName=self.refs[logical_id],
                ReservedConcurrentExecutions=int(properties["ReservedConcurrentExecutions"]),
            )

    def _create_Lambda_Permission(self, logical_id: str, properties: dict[str, Any]) -> None:
        passthrough = {
            "Action",
            "EventSourceToken",
            "FunctionUrlAuthType",
            "Principal",
            "PrincipalOrgID",
            "SourceAccount",
            "SourceArn",
        }
        self._refuse_unknown(logical_id, properties, passthrough | {"FunctionName"})
        request = {key: value for key, value in properties.items() if key in passthrough}
        self.client("lambda").add_permission(
            FunctionName=properties["FunctionName"], StatementId=self.refs[logical_id], **request
        )

    def _create_ApiGateway_RestApi(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {"Body", "Name", "Description", "EndpointConfiguration", "Parameters", "BinaryMediaTypes", "Tags"},
        )
        body = properties.get("Body") or {}
        request: dict[str, Any] = {
            "name": properties.get("Name") or body.get("info", {}).get("title") or logical_id,
        }
        if "Description" in properties:
            request["description"] = properties["Description"]
        if "EndpointConfiguration" in properties:
            request["endpointConfiguration"] = {"types": properties["EndpointConfiguration"].get("Types", [])}
        if "BinaryMediaTypes" in properties:
            request["binaryMediaTypes"] = properties["BinaryMediaTypes"]
        if "Tags" in properties:
            request["tags"] = _tags(properties["Tags"])
        apigateway = self.client("apigateway")
        api_id = apigateway.create_rest_api(**request)["id"]
        resources = apigateway.get_resources(restApiId=api_id)["items"]
        root_id = next(item["id"] for item in resources if item["path"] == "/")
        self._record(logical_id, api_id, RootResourceId=root_id)
        self._import_swagger(logical_id, api_id, root_id, body)

    def _import_swagger(self, logical_id: str, api_id: str, root_id: str, body: Mapping[str, Any]) -> None:
        """What API Gateway's import does with SAM's Swagger 2.0 Body: authorizers, resources, methods, integrations."""
        if not body:
            return
        if body.get("swagger") != "2.0":
            raise DeployError(f"{logical_id}: the parity harness imports Swagger 2.0 bodies only")
        apigateway = self.client("apigateway")
        authorizers: dict[str, str] = {}
        authorization_types: dict[str, str] = {}
        for name, definition in body.get("securityDefinitions", {}).items():
            extension = definition.get("x-amazon-apigateway-authorizer", {})
            if extension.get("type") == "cognito_user_pools":
                authorizers[name] = apigateway.create_authorizer(
                    restApiId=api_id,
                    name=name,
                    type="COGNITO_USER_POOLS",
                    providerARNs=extension["providerARNs"],
                    identitySource=f"method.request.header.{definition.get('name', 'Authorization')}",
                )["id"]
                authorization_types[name] = "COGNITO_USER_POOLS"
            elif extension.get("type") == "request":
                # A Lambda REQUEST authorizer; with no identity source (and TTL 0) it runs for every request.
                optional = {"identitySource": extension["identitySource"]} if extension.get("identitySource") else {}
                authorizers[name] = apigateway.create_authorizer(
                    restApiId=api_id,
                    name=name,
                    type="REQUEST",
                    authorizerUri=extension["authorizerUri"],
                    authorizerResultTtlInSeconds=int(extension.get("authorizerResultTtlInSeconds", 300)),
                    **optional,
                )["id"]
                authorization_types[name] = "CUSTOM"
            else:
                raise DeployError(f"{logical_id}: authorizer {name} is neither a Cognito nor a REQUEST authorizer")
        resource_ids = {"/": root_id}
        for path in sorted(body.get("paths", {})):
            parent = "/"
            for part in [segment for segment in path.split("/") if segment]:
                current = parent.rstrip("/") + "/" + part
                if current not in resource_ids:
                    resource_ids[current] = apigateway.create_resource(
                        restApiId=api_id, parentId=resource_ids[parent], pathPart=part
                    )["id"]
                parent = current
            for method, operation in body["paths"][path].items():
                http_method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                security = operation.get("security", body.get("security", []))
                names = [name for requirement in security for name in requirement if name in authorizers]
                authorization: dict[str, Any] = {"authorizationType": "NONE"}
                if names:
                    authorization = {
                        "authorizationType": authorization_types[names[0]],
                        "authorizerId": authorizers[names[0]],
                    }
                apigateway.put_method(
                    restApiId=api_id, resourceId=resource_ids[parent], httpMethod=http_method, **authorization
                )
                integration = operation.get("x-amazon-apigateway-integration")
                if integration is not None:
                    apigateway.put_integration(
                        restApiId=api_id,
                        resourceId=resource_ids[parent],
                        httpMethod=http_method,
                        type=str(integration["type"]).upper(),
                        integrationHttpMethod=integration.get("httpMethod", "POST"),
                        uri=integration["uri"],
                    )

    def _create_ApiGateway_Deployment(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(logical_id, properties, {"RestApiId", "StageName", "Description"})
        request = {"restApiId": properties["RestApiId"]}
        if "StageName" in properties:
            request["stageName"] = properties["StageName"]
        if "Description" in properties:
            request["description"] = properties["Description"]
        deployment_id = self.client("apigateway").create_deployment(**request)["id"]
        self._record(logical_id, deployment_id, DeploymentId=deployment_id)

    def _create_ApiGateway_Stage(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {
                "AccessLogSetting",
                "CacheClusterEnabled",
                "CacheClusterSize",
                "DeploymentId",
                "Description",
                "MethodSettings",
                "RestApiId",
                "StageName",
                "Tags",
                "TracingEnabled",
                "Variables",
            },
        )
        request: dict[str, Any] = {
            "restApiId": properties["RestApiId"],
            "stageName": self.refs[logical_id],
            "deploymentId": properties["DeploymentId"],
        }
        for key in ("Description", "CacheClusterEnabled", "CacheClusterSize", "TracingEnabled", "Variables"):
            if key in properties:
                request[_camel(key)] = properties[key]
        if "Tags" in properties:
            request["tags"] = _tags(properties["Tags"])
        apigateway = self.client("apigateway")
        apigateway.create_stage(**request)
        operations: list[dict[str, str]] = []
        access = properties.get("AccessLogSetting")
        if access is not None:
            for key, path in (("DestinationArn", "destinationArn"), ("Format", "format")):
                if key in access:
                    operations.append({"op": "replace", "path": f"/accessLogSettings/{path}", "value": access[key]})
        settings = {
            "MetricsEnabled": "metrics/enabled",
            "LoggingLevel": "logging/loglevel",
            "DataTraceEnabled": "logging/dataTrace",
            "ThrottlingBurstLimit": "throttling/burstLimit",
            "ThrottlingRateLimit": "throttling/rateLimit",
            "CachingEnabled": "caching/enabled",
            "CacheTtlInSeconds": "caching/ttlInSeconds",
            "CacheDataEncrypted": "caching/dataEncrypted",
        }
        for setting in properties.get("MethodSettings", []):
            resource_path = setting.get("ResourcePath", "/*")
            target = "*" if resource_path == "/*" else resource_path.replace("/", "~1")
            prefix = f"/{target}/{setting.get('HttpMethod', '*')}"
            for key, value in setting.items():
                if key in ("ResourcePath", "HttpMethod"):
                    continue
                if key not in settings:
                    raise DeployError(f"{logical_id}: MethodSettings.{key} is not applied by the parity harness")
                operations.append({"op": "replace", "path": f"{prefix}/{settings[key]}", "value": _scalar(value)})
        if operations:
            apigateway.update_stage(
                restApiId=properties["RestApiId"], stageName=self.refs[logical_id], patchOperations=operations
            )

    def _create_KMS_Key(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._refuse_unknown(
            logical_id,
            properties,
            {
                "Description",
                "Enabled",
                "EnableKeyRotation",
                "KeyPolicy",
                "KeySpec",
                "KeyUsage",
                "MultiRegion",
                "Origin",
                "Tags",
            },
        )
        request: dict[str, Any] = {}
        if "KeyPolicy" in properties:
            request["Policy"] = json.dumps(properties["KeyPolicy"])
        for key in ("Description", "KeySpec", "KeyUsage", "MultiRegion", "Origin"):
            if key in properties:
                request[key] = properties[key]
        if "Tags" in properties:
            request["Tags"] = [{"TagKey": key, "TagValue": value} for key, value in _tags(properties["Tags"]).items()]
        kms = self.client("kms")
        metadata = kms.create_key(**request)["KeyMetadata"]
        if properties.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        if properties.get("Enabled") is False:
            kms.disable_key(KeyId=metadata["KeyId"])
        self._record(logical_id, metadata["KeyId"], Arn=metadata["Arn"], KeyId=metadata["KeyId"])

    def _create_S3_Bucket(self, logical_id: str, properties: dict[str, Any]) -> None:
        request: dict[str, Any] = {"Bucket": self.refs[logical_id]}
        if self.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        if properties.get("ObjectLockEnabled"):
            request["ObjectLockEnabledForBucket"] = True
        s3 = self.client("s3")
        s3.create_bucket(**request)
        if "BucketEncryption" in properties:
            s3.put_bucket_encryption(
                Bucket=self.refs[logical_id],
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            (
                                "ApplyServerSideEncryptionByDefault" if key == "ServerSideEncryptionByDefault" else key
                            ): value
                            for key, value in rule.items()
                        }
                        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "Tags" in properties:
            s3.put_bucket_tagging(
                Bucket=self.refs[logical_id],
                Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in _tags(properties["Tags"]).items()]},
            )
        self._complete_bucket(
            logical_id, properties, skip={"BucketName", "BucketEncryption", "Tags", "ObjectLockEnabled"}
        )

    # Completing what moto's CloudFormation dropped ------------------------------------------------------
    def complete(self, logical_id: str) -> None:
        kind = self.kind(logical_id)
        if kind == "AWS::EC2::SecurityGroupIngress":
            self.refs[logical_id] = self._ingress_rule_id(logical_id)
        dropped = [
            key for key in COMPLETED_BY_HARNESS.get(kind, ()) if key in self.active[logical_id].get("Properties", {})
        ]
        if not dropped:
            return
        properties = self.resolve({key: self.active[logical_id]["Properties"][key] for key in dropped})
        if kind == "AWS::IAM::Role":
            iam = self.client("iam")
            role_name = self.refs[logical_id]
            for policy in properties.get("Policies", []):
                self._put_role_policy(role_name, policy["PolicyName"], policy["PolicyDocument"])
            for arn in properties.get("ManagedPolicyArns", []):
                if arn.startswith(f"arn:{self.partition}:iam::aws:policy/") and not _ensure_aws_managed_policy(
                    iam, arn, self.account_id, self.region
                ):
                    self.unknown_managed_policies.setdefault(role_name, []).append(arn)
                    continue
                iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
        elif kind == "AWS::EC2::SecurityGroup":
            self._replace_egress(self.refs[logical_id], properties.get("SecurityGroupEgress", []))
        elif kind == "AWS::DynamoDB::Table":
            dynamodb = self.client("dynamodb")
            table = self.refs[logical_id]
            recovery = properties.get("PointInTimeRecoverySpecification")
            if recovery is not None:
                dynamodb.update_continuous_backups(
                    TableName=table,
                    PointInTimeRecoverySpecification={
                        "PointInTimeRecoveryEnabled": bool(recovery.get("PointInTimeRecoveryEnabled", False))
                    },
                )
            ttl = properties.get("TimeToLiveSpecification")
            if ttl is not None:
                dynamodb.update_time_to_live(
                    TableName=table,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
                )
        elif kind == "AWS::EC2::VPCEndpoint":
            self.client("ec2").modify_vpc_endpoint(
                VpcEndpointId=self.refs[logical_id], PolicyDocument=json.dumps(properties["PolicyDocument"])
            )
        elif kind == "AWS::EC2::VPC":
            for key in ("EnableDnsSupport", "EnableDnsHostnames"):  # one attribute per call
                if key in properties:
                    self.client("ec2").modify_vpc_attribute(
                        VpcId=self.refs[logical_id], **{key: {"Value": bool(properties[key])}}
                    )

    def _ingress_rule_id(self, logical_id: str) -> str:
        """moto reports an empty physical id for SecurityGroupIngress; CloudFormation's Ref is the rule id."""
        rule = self.properties(logical_id)
        ec2 = self.client("ec2")
        found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [rule["GroupId"]]}])
        for candidate in found["SecurityGroupRules"]:
            if candidate["IsEgress"] or candidate["IpProtocol"] != str(rule["IpProtocol"]):
                continue
            if candidate.get("FromPort") != int(rule.get("FromPort", -1)) or candidate.get("ToPort") != int(
                rule.get("ToPort", -1)
            ):
                continue
            source = candidate.get("ReferencedGroupInfo", {}).get("GroupId")
            if source == rule.get("SourceSecurityGroupId") and candidate.get("CidrIpv4") == rule.get("CidrIp"):
                return str(candidate["SecurityGroupRuleId"])
        raise DeployError(f"{logical_id}: moto's CloudFormation did not add the ingress rule")

    def _put_role_policy(self, role_name: str, policy_name: str, document: Mapping[str, Any]) -> None:
        """PutRolePolicy with the template's document, exactly.

        SAM's policy templates write documents without "Version", which IAM and CloudFormation accept (IAM
        reads them as 2008-10-17) but moto's PutRolePolicy refuses: those go straight into moto's role.
        """
        text = json.dumps(document)
        if "Version" in document:
            self.client("iam").put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=text)
            return
        from moto.iam.models import iam_backends

        iam_backends[self.account_id][self.partition].get_role(role_name).put_policy(policy_name, text)

    def _replace_egress(self, group_id: str, rules: list[dict[str, Any]]) -> None:
        """A group's egress becomes exactly the template's rules (CloudFormation removes the default allow-all)."""
        ec2 = self.client("ec2")
        current = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"]
        if current:
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=current)
        permissions = [_ip_permission(rule, "DestinationSecurityGroupId", "DestinationPrefixListId") for rule in rules]
        if permissions:
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=permissions)

    def _complete_bucket(self, logical_id: str, properties: Mapping[str, Any], *, skip: set[str]) -> None:
        s3 = self.client("s3")
        bucket = self.refs[logical_id]
        handled = {
            "VersioningConfiguration",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "LifecycleConfiguration",
            "LoggingConfiguration",
            "NotificationConfiguration",
            "ObjectLockConfiguration",
        }
        self._refuse_unknown(logical_id, {key: 1 for key in properties if key not in skip}, handled)
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]}
            )
        if "ObjectLockConfiguration" in properties:
            lock = properties["ObjectLockConfiguration"]
            configuration: dict[str, Any] = {"ObjectLockEnabled": lock.get("ObjectLockEnabled", "Enabled")}
            retention = lock.get("Rule", {}).get("DefaultRetention")
            if retention is not None:
                configuration["Rule"] = {
                    "DefaultRetention": {
                        key: int(value) if key in ("Days", "Years") else value for key, value in retention.items()
                    }
                }
            s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=configuration)
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    key: bool(value) for key, value in properties["PublicAccessBlockConfiguration"].items()
                },
            )
        if "OwnershipControls" in properties:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=properties["OwnershipControls"])
        if "LifecycleConfiguration" in properties:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={
                    "Rules": [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
                },
            )
        if "LoggingConfiguration" in properties:
            logging = properties["LoggingConfiguration"]
            enabled = {"TargetBucket": logging.get("DestinationBucketName", bucket)}
            enabled["TargetPrefix"] = logging.get("LogFilePrefix", "")
            # moto's PutBucketLogging insists the target's bucket policy already lets the logging service
            # write; that policy names the logged buckets, so it only exists once they do: apply last.
            self.last.append(functools.partial(self._put_bucket_logging, bucket, enabled))
        if "NotificationConfiguration" in properties:
            notification = properties["NotificationConfiguration"]
            unknown = set(notification) - {"EventBridgeConfiguration"}
            if unknown:
                raise DeployError(f"{logical_id}: NotificationConfiguration {sorted(unknown)} is not applied yet")
            request: dict[str, Any] = {}
            if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                request["EventBridgeConfiguration"] = {}
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=request)

    def _put_bucket_logging(self, bucket: str, enabled: dict[str, str]) -> None:
        """PutBucketLogging, working around moto reading every statement's Principal as a dict.

        moto's permission check crashes on a target policy with ``"Principal": "*"`` (the deny-insecure-transport
        statement): the target briefly holds only its dict-principal statements, then its policy is put back.
        """
        s3 = self.client("s3")
        target = enabled["TargetBucket"]
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=target)["Policy"])
        except ClientError:
            policy = None
        statements = policy.get("Statement", []) if policy else []
        if isinstance(statements, dict):
            statements = [statements]
        awkward = [statement for statement in statements if not isinstance(statement.get("Principal", {}), dict)]
        if policy and awkward:
            readable = {**policy, "Statement": [statement for statement in statements if statement not in awkward]}
            s3.put_bucket_policy(Bucket=target, Policy=json.dumps(readable))
        try:
            s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": enabled})
        finally:
            if policy and awkward:
                s3.put_bucket_policy(Bucket=target, Policy=json.dumps(policy))

    # Reading back ---------------------------------------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Condition" in output and not self.intrinsics.condition(output["Condition"]):
                continue
            resolved[name] = _scalar(self.resolve(output["Value"]))
        return resolved


def _ip_permission(rule: Mapping[str, Any], group_key: str, prefix_list_key: str) -> dict[str, Any]:
    """A CloudFormation security group rule as an EC2 IpPermission."""
    permission: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
    for key in ("FromPort", "ToPort"):
        if key in rule:
            permission[key] = int(rule[key])
    described = {"Description": rule["Description"]} if "Description" in rule else {}
    if "CidrIp" in rule:
        permission["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
    if "CidrIpv6" in rule:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **described}]
    if prefix_list_key in rule:
        permission["PrefixListIds"] = [{"PrefixListId": rule[prefix_list_key], **described}]
    if group_key in rule:
        permission["UserIdGroupPairs"] = [{"GroupId": rule[group_key], **described}]
    return permission


def _key_policy_as_text(deployment: _Deployment, properties: dict[str, Any]) -> None:
    # moto's KMS stores a KeyPolicy object as given, then every DescribeKey fails parsing it as JSON text;
    # CloudFormation accepts the policy as an object or as text.
    if "KeyPolicy" in properties:
        properties["KeyPolicy"] = json.dumps(deployment.resolve(properties["KeyPolicy"]))


def _log_group_kms_key(deployment: _Deployment, properties: dict[str, Any]) -> None:
    # moto's LogGroup reads the API's kmsKeyId, not CloudFormation's KmsKeyId (which it drops).
    del deployment
    if "KmsKeyId" in properties:
        properties["kmsKeyId"] = properties["KmsKeyId"]


def _table_sse_enabled(deployment: _Deployment, properties: dict[str, Any]) -> None:
    # moto's Table keeps CloudFormation's SSESpecification but reports SSE only when the API's "Enabled" is set.
    del deployment
    specification = properties.get("SSESpecification")
    if isinstance(specification, dict) and "SSEEnabled" in specification:
        specification["Enabled"] = specification["SSEEnabled"]


#: Properties rewritten into the spelling moto's CloudFormation models read (same meaning).
_MOTO_INPUT_FIXES: Final[Mapping[str, Callable[[_Deployment, dict[str, Any]], None]]] = MappingProxyType(
    {
        "AWS::KMS::Key": _key_policy_as_text,
        "AWS::Logs::LogGroup": _log_group_kms_key,
        "AWS::DynamoDB::Table": _table_sse_enabled,
    }
)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as PutBucketLifecycleConfiguration takes it."""
    known = {
        "Id",
        "Status",
        "Prefix",
        "ExpirationInDays",
        "ExpirationDate",
        "NoncurrentVersionExpiration",
        "NoncurrentVersionExpirationInDays",
        "AbortIncompleteMultipartUpload",
        "ExpiredObjectDeleteMarker",
        "TagFilters",
    }
    unknown = set(rule) - known
    if unknown:
        raise DeployError(f"lifecycle rule properties {sorted(unknown)} are not applied by the parity harness yet")
    converted: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        converted["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent is not None:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent["NoncurrentDays"])}
    elif "NoncurrentVersionExpirationInDays" in rule:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return converted


def _api_routes(template: Mapping[str, Any], active: Iterable[str]) -> list[ApiRoute]:
    """Routes of every RestApi Body: method, path, the function its integration calls, its authorizer."""
    routes: list[ApiRoute] = []
    function_arn = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}")
    for logical_id in sorted(active):
        resource = template["Resources"][logical_id]
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        body = resource.get("Properties", {}).get("Body") or {}
        for path, operations in sorted(body.get("paths", {}).items()):
            for method, operation in sorted(operations.items()):
                uri = operation.get("x-amazon-apigateway-integration", {}).get("uri")
                text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
                match = function_arn.search(text if isinstance(text, str) else json.dumps(text))
                security = operation.get("security", body.get("security", []))
                names = [name for requirement in security for name in requirement if name != "NONE"]
                routes.append(
                    ApiRoute(
                        method="ANY" if method == "x-amazon-apigateway-any-method" else method.upper(),
                        path=path,
                        function_logical_id=match.group(1) if match else "",
                        authorizer=names[0] if names else None,
                    )
                )
    return routes


def _api_authorizer_functions(template: Mapping[str, Any], active: Iterable[str]) -> dict[str, str]:
    """Lambda authorizers of every RestApi Body: name -> the function its authorizerUri names."""
    found: dict[str, str] = {}
    function_arn = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}")
    for logical_id in sorted(active):
        resource = template["Resources"][logical_id]
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        body = resource.get("Properties", {}).get("Body") or {}
        for name, definition in body.get("securityDefinitions", {}).items():
            extension = definition.get("x-amazon-apigateway-authorizer", {})
            if extension.get("type") not in {"request", "token"}:
                continue
            text = json.dumps(extension.get("authorizerUri"))
            target = re.search(r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "Arn"\]', text) or function_arn.search(text)
            if target is None:
                raise DeployError(f"{logical_id}: cannot tell which function authorizer {name} calls")
            found[name] = target.group(1)
    return found


def _only(deployment: _Deployment, kind: str) -> str | None:
    matches = sorted(logical_id for logical_id in deployment.active if deployment.kind(logical_id) == kind)
    if len(matches) > 1:
        raise DeployError(f"the parity stack expects at most one {kind}, found {matches}")
    return matches[0] if matches else None


def deploy_parity_stack(
    template_path: Path, *, stack_name: str = "governed-mlops-parity", parameters: dict[str, str]
) -> ParityStack:
    """Deploy ``template_path`` into the active moto mock as CloudFormation would; see the module docstring."""
    started = time.perf_counter()
    template_path = Path(template_path).resolve()
    region = boto3.session.Session().region_name or "us-east-1"
    template = load_transformed_template(template_path, region)
    values = _parameter_values(template, parameters)
    deployment = _Deployment(template, stack_name, values)
    graph = deployment.validate()
    first, after = deployment.plan(graph)

    code_bucket = f"{stack_name}-sam-package-{deployment.account_id}-{deployment.region}"[:63].lower()
    code_dirs = _package(template, template_path.parent, deployment.client("s3"), code_bucket)

    for logical_id in first:
        deployment.provision(logical_id, before_stack=True)
    deployment.create_stack()
    for logical_id in after:
        if logical_id in deployment.harness:
            deployment.provision(logical_id)
        else:
            deployment.complete(logical_id)
    deployment.apply_deferred()

    return _read_back(deployment, code_dirs, code_bucket, time.perf_counter() - started)


def _read_back(deployment: _Deployment, code_dirs: Mapping[str, Path], code_bucket: str, seconds: float) -> ParityStack:
    lambda_client = deployment.client("lambda")
    functions = {}
    for logical_id in sorted(deployment.active):
        if deployment.kind(logical_id) != "AWS::Lambda::Function":
            continue
        configuration = lambda_client.get_function_configuration(FunctionName=deployment.refs[logical_id])
        functions[logical_id] = DeployedFunction(
            logical_id=logical_id,
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            role_arn=configuration["Role"],
            handler=configuration["Handler"],
            code_dir=code_dirs[logical_id],
            environment=dict(configuration.get("Environment", {}).get("Variables", {})),
            timeout=int(configuration["Timeout"]),
            memory_size=int(configuration["MemorySize"]),
        )
    events = deployment.client("events")
    rules = {}
    for logical_id in sorted(deployment.active):
        if deployment.kind(logical_id) != "AWS::Events::Rule":
            continue
        described = events.describe_rule(Name=deployment.refs[logical_id])
        targets = events.list_targets_by_rule(Rule=deployment.refs[logical_id])["Targets"]
        rules[logical_id] = DeployedRule(
            logical_id=logical_id,
            name=described["Name"],
            arn=described["Arn"],
            pattern=json.loads(described.get("EventPattern", "{}")),
            targets=list(targets),
        )
    state_machine = _only(deployment, "AWS::StepFunctions::StateMachine")
    state_machine_arn = deployment.refs[state_machine] if state_machine else ""
    state_machine_role = ""
    if state_machine_arn:
        state_machine_role = deployment.client("stepfunctions").describe_state_machine(
            stateMachineArn=state_machine_arn
        )["roleArn"]
    sagemaker_roles = sorted(
        logical_id
        for logical_id in deployment.active
        if deployment.kind(logical_id) == "AWS::IAM::Role"
        and "sagemaker.amazonaws.com"
        in json.dumps(deployment.active[logical_id]["Properties"]["AssumeRolePolicyDocument"])
    )
    if len(sagemaker_roles) > 1:
        raise DeployError(f"more than one role SageMaker can assume: {sagemaker_roles}")
    api = _only(deployment, "AWS::ApiGateway::RestApi")
    stage = _only(deployment, "AWS::ApiGateway::Stage")
    pool = _only(deployment, "AWS::Cognito::UserPool")
    client = _only(deployment, "AWS::Cognito::UserPoolClient")
    physical_ids = {logical_id: deployment.refs[logical_id] for logical_id in sorted(deployment.active)}
    outputs = deployment.outputs()
    _publish_outputs(deployment, outputs)
    return ParityStack(
        name=deployment.stack_name,
        region=deployment.region,
        account_id=deployment.account_id,
        template=deployment.template,
        parameters=dict(deployment.parameters),
        physical_ids=physical_ids,
        outputs=outputs,
        functions=functions,
        state_machine_arn=state_machine_arn,
        state_machine_role_arn=state_machine_role,
        sagemaker_role_arn=_scalar(deployment._get_att(sagemaker_roles[0], "Arn")) if sagemaker_roles else "",
        rules=rules,
        api_routes=_api_routes(deployment.template, deployment.active),
        api_authorizer_functions=_api_authorizer_functions(deployment.template, deployment.active),
        api_id=deployment.refs[api] if api else "",
        api_stage=deployment.refs[stage] if stage else "",
        user_pool_id=deployment.refs[pool] if pool else "",
        user_pool_client_id=deployment.refs[client] if client else "",
        provisioned_by_harness={logical_id: deployment.kind(logical_id) for logical_id in sorted(deployment.harness)},
        code_bucket=code_bucket,
        stack_id=deployment.stack_id,
        deploy_seconds=seconds,
        unknown_managed_policies=dict(deployment.unknown_managed_policies),
        _get_att=deployment._get_att,
    )


#: Stack id -> the outputs the deployment resolved (see :func:`_publish_outputs`).
_PUBLISHED_OUTPUTS: dict[str, list[dict[str, Any]]] = {}


def _publish_outputs(deployment: _Deployment, outputs: Mapping[str, str]) -> None:
    """``DescribeStacks`` answers with every output of the template, resolved as CloudFormation resolves them.

    moto's stack holds only the resources its CloudFormation created, so it cannot resolve outputs that
    name harness-made resources (it would answer with none): the deployment's resolved outputs are what
    moto's stack reports, so tools that find a stack's resources through CloudFormation (``mlops ... --aws
    --stack``) see what they would see in AWS.
    """
    from moto.cloudformation.models import Stack

    descriptions = {name: o.get("Description") for name, o in deployment.template.get("Outputs", {}).items()}
    _PUBLISHED_OUTPUTS[deployment.stack_id] = [
        {"OutputKey": key, "OutputValue": value, "Description": descriptions.get(key)}
        for key, value in sorted(outputs.items())
    ]
    original = Stack.__dict__["outputs"]
    if getattr(original, "fget", None) is not None and getattr(original.fget, "parity", False):
        return

    def outputs_of(stack: Stack) -> list[dict[str, Any]] | None:
        published = _PUBLISHED_OUTPUTS.get(stack.stack_id)
        return published if published is not None else original.fget(stack)

    outputs_of.parity = True  # type: ignore[attr-defined]
    Stack.outputs = property(outputs_of)  # type: ignore[method-assign,assignment]


# --- Signing an approver in (Cognito USER_SRP_AUTH) -----------------------------------------------------

# RFC 5054's 3072-bit group, which Cognito uses for SRP.
_SRP_N: Final = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD"
    "3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9"
    "F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208"
    "552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C5"
    "5DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CB"
    "A64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA"
    "06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108"
    "E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
_SRP_G: Final = 2


def _srp_pad(value: int | str) -> str:
    text = value if isinstance(value, str) else format(value, "x")
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89abcdefABCDEF" else text


def _srp_hash(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest().zfill(64)


def cognito_srp_sign_in(
    *,
    user_pool_id: str,
    client_id: str,
    username: str,
    password: str,
    region: str,
    authenticators: dict[str, str] | None = None,
    totp: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Sign in with USER_SRP_AUTH (the only password flow the approver app client allows) on moto or AWS.

    Computes the real SRP proof, so the same call works against Cognito. moto hands out random SALT/SRP_B
    and does not check the proof: on moto a wrong password still signs in (use USER_PASSWORD_AUTH there to
    test wrong passwords; Cognito would refuse that flow for this client). Returns the AuthenticationResult
    (IdToken, AccessToken, RefreshToken, moto-signed RS256 JWTs).

    With MFA required (the approvers' pool), ``totp(secret)`` answers the challenges: on the first sign-in
    Cognito asks for an authenticator (MFA_SETUP) and the secret it hands out is kept in ``authenticators``
    under the username; later sign-ins answer SOFTWARE_TOKEN_MFA with the code for that secret.
    """
    cognito = boto3.client("cognito-idp", region_name=region, **HARNESS_CREDENTIALS)
    small_a = secrets.randbelow(_SRP_N - 2) + 1
    large_a = pow(_SRP_G, small_a, _SRP_N)
    challenge = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_SRP_AUTH",
        AuthParameters={"USERNAME": username, "SRP_A": format(large_a, "x")},
    )
    if challenge.get("ChallengeName") != "PASSWORD_VERIFIER":
        raise DeployError(f"unexpected Cognito challenge {challenge.get('ChallengeName')}")
    parameters = challenge["ChallengeParameters"]
    large_b = int(parameters["SRP_B"], 16)
    k = int(_srp_hash("00" + format(_SRP_N, "x") + "0" + format(_SRP_G, "x")), 16)
    u = int(_srp_hash(_srp_pad(large_a) + _srp_pad(large_b)), 16)
    pool_name = user_pool_id.split("_", 1)[1]
    user_id = parameters["USER_ID_FOR_SRP"]
    identity = hashlib.sha256(f"{pool_name}{user_id}:{password}".encode()).hexdigest()
    x = int(_srp_hash(_srp_pad(parameters["SALT"]) + identity), 16)
    shared = pow(large_b - k * pow(_SRP_G, x, _SRP_N), small_a + u * x, _SRP_N)
    pseudo_random = hmac.new(bytes.fromhex(_srp_pad(format(u, "x"))), bytes.fromhex(_srp_pad(shared)), hashlib.sha256)
    key = hmac.new(pseudo_random.digest(), b"Caldera Derived Key\x01", hashlib.sha256).digest()[:16]
    now = datetime.now(UTC)
    timestamp = f"{now:%a %b} {now.day} {now:%H:%M:%S} UTC {now:%Y}"
    secret_block = parameters["SECRET_BLOCK"]
    message = pool_name.encode() + user_id.encode() + base64.b64decode(secret_block + "=" * (-len(secret_block) % 4))
    signature = hmac.new(key, message + timestamp.encode(), hashlib.sha256).digest()
    response = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="PASSWORD_VERIFIER",
        Session=challenge.get("Session", ""),
        ChallengeResponses={
            "USERNAME": parameters.get("USERNAME", username),
            "PASSWORD_CLAIM_SECRET_BLOCK": secret_block,
            "PASSWORD_CLAIM_SIGNATURE": base64.b64encode(signature).decode(),
            "TIMESTAMP": timestamp,
        },
    )
    name = parameters.get("USERNAME", username)
    if response.get("ChallengeName") in {"MFA_SETUP", "SOFTWARE_TOKEN_MFA"}:
        if totp is None or authenticators is None:
            raise DeployError(f"{username} must answer {response['ChallengeName']}: pass totp and authenticators")
        response = _answer_mfa(cognito, client_id, name, response, authenticators=authenticators, totp=totp)
    if "AuthenticationResult" not in response:
        raise DeployError(f"Cognito asked for {response.get('ChallengeName')} instead of signing in")
    return dict(response["AuthenticationResult"])


def _answer_mfa(
    cognito: Any,
    client_id: str,
    username: str,
    response: dict[str, Any],
    *,
    authenticators: dict[str, str],
    totp: Callable[[str], str],
) -> dict[str, Any]:
    """Enrol an authenticator (MFA_SETUP) or answer with its current code (SOFTWARE_TOKEN_MFA)."""
    if response["ChallengeName"] == "MFA_SETUP":
        associated = cognito.associate_software_token(Session=response["Session"])
        secret = associated["SecretCode"]
        verified = cognito.verify_software_token(
            Session=associated.get("Session", response["Session"]), UserCode=totp(secret), FriendlyDeviceName="parity"
        )
        authenticators[username] = secret
        return dict(
            cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName="MFA_SETUP",
                Session=verified["Session"],
                ChallengeResponses={"USERNAME": username},
            )
        )
    if username not in authenticators:
        raise DeployError(f"{username} has an authenticator this harness did not enrol")
    return dict(
        cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=response["Session"],
            ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp(authenticators[username])},
        )
    )
