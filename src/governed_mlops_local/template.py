"""Read ``template.yaml`` into what the local runtime needs, resolving intrinsics locally.

Resources get deterministic local names (``<stack>-<logical id>``) and ARNs in a fixed local
account, so an execution name or ARN means the same thing in every process.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from governed_mlops.errors import ConfigError

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
#: The stack name the local runtime loads template.yaml under (names its buckets, tables, state machines).
LOCAL_STACK_NAME = "governed-mlops"
PARTITION = "aws"


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition_path: Path
    definition: str
    #: ``AutoPublishAlias``: each deployment publishes a version and points this alias at it.
    alias: str | None = None

    @property
    def alias_arn(self) -> str | None:
        return f"{self.arn}:{self.alias}" if self.alias else None


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    eventbridge: bool


@dataclass
class LocalTemplate:
    path: Path
    stack_name: str
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    #: CloudWatch alarms (logical id -> resolved properties), evaluated locally by the hosting emulator.
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def function_by_arn(self, arn_or_name: str) -> FunctionSpec | None:
        for spec in self.functions.values():
            if arn_or_name in (spec.arn, spec.name) or arn_or_name.startswith(spec.arn + ":"):
                return spec
        return None


def _local_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}".lower()


def local_resource_name(logical_id: str) -> str:
    """The name the local runtime gives a named resource of the template (a bucket, a table)."""
    return _local_name(LOCAL_STACK_NAME, logical_id)


def _local_id(stack: str, logical_id: str, length: int = 17) -> str:
    """A stable hex id for resources AWS names by id (``subnet-…``, ``sg-…``, KMS key ids)."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:length]


def _local_key_id(stack: str, logical_id: str) -> str:
    hexid = _local_id(stack, logical_id, 32)
    return f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"


#: ``!Ref`` of these resource types gives an AWS-style id, so request shapes look like AWS's.
_ID_PREFIXES = {
    "AWS::EC2::VPC": "vpc",
    "AWS::EC2::Subnet": "subnet",
    "AWS::EC2::SecurityGroup": "sg",
    "AWS::EC2::RouteTable": "rtb",
    "AWS::EC2::VPCEndpoint": "vpce",
}


class _Resolver:
    """Evaluates Ref / GetAtt / Sub / Join against local names."""

    def __init__(
        self,
        stack: str,
        resources: dict[str, Any],
        parameters: dict[str, Any],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self._stack = stack
        self._resources = resources
        self._parameters = parameters
        self._conditions = conditions or {}
        self._evaluated: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        """The value of a template condition (``Conditions`` section), evaluated once."""
        if name not in self._evaluated:
            if name not in self._conditions:
                raise ConfigError(f"template: condition {name} is not defined")
            self._evaluated[name] = self._truth(self._conditions[name])
        return self._evaluated[name]

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(v) for v in arg)
            if key == "Fn::Or":
                return any(self._truth(v) for v in arg)
        raise ConfigError(f"template: cannot evaluate condition {value!r}")

    def ref(self, name: str) -> str:  # noqa: PLR0911 - one return per CloudFormation pseudo parameter or resource kind
        pseudo = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self._stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            return self._parameters[name]  # type: ignore[no-any-return]
        resource = self._resources.get(name)
        if resource is None:
            alias = self._published_alias(name)
            if alias is not None:
                return alias
            raise ConfigError(f"template: !Ref {name} names no parameter or resource")
        kind = resource["Type"]
        local = _local_name(self._stack, name)
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:{PARTITION}:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:{local}"
        if kind in _ID_PREFIXES:
            return f"{_ID_PREFIXES[kind]}-{_local_id(self._stack, name)}"
        if kind == "AWS::KMS::Key":
            return _local_key_id(self._stack, name)
        if kind == "AWS::CloudWatch::Alarm" and "AlarmName" in resource.get("Properties", {}):
            # Ref of an alarm is its name; the template names alarms explicitly.
            return str(self(resource["Properties"]["AlarmName"]))
        return local

    def _published_alias(self, name: str) -> str | None:
        """Ref of the alias SAM generates for a state machine's AutoPublishAlias (``<Id>Alias<name>``)."""
        for logical_id, resource in self._resources.items():
            alias = resource.get("Properties", {}).get("AutoPublishAlias")
            if resource["Type"] == "AWS::Serverless::StateMachine" and alias and name == f"{logical_id}Alias{alias}":
                return f"{self.ref(logical_id)}:{alias}"
        return None

    def get_att(self, name: str, attribute: str) -> str:
        resource = self._resources.get(name)
        if resource is None:
            raise ConfigError(f"template: !GetAtt {name}.{attribute} names no resource")
        kind, local = resource["Type"], _local_name(self._stack, name)
        if attribute == "Arn":
            arns = {
                "AWS::Serverless::Function": f"arn:{PARTITION}:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{local}",
                "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{local}",
                "AWS::IAM::Role": f"arn:{PARTITION}:iam::{LOCAL_ACCOUNT}:role/{local}",
                "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{local}",
                "AWS::KMS::Key": f"arn:{PARTITION}:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT}:key/{self.ref(name)}",
                "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{local}",
                "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:log-group:{local}:*",
            }
            if kind in arns:
                return arns[kind]
        if attribute == "GroupId" and kind == "AWS::EC2::SecurityGroup":
            return self.ref(name)
        if attribute == "Name":
            return local
        return f"arn:{PARTITION}:local:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{local}/{attribute}"

    def __call__(self, value: Any) -> Any:  # noqa: PLR0911 - one return per CloudFormation intrinsic function
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
                return self._sub(text, variables)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self(v)) for v in self(arg[1]))
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self(if_true if self.condition(name) else if_false)
            if key == "Fn::Select":
                index, items = arg
                return self(items)[int(self(index))]
            if key == "Fn::GetAZs":
                return [f"{LOCAL_REGION}{zone}" for zone in "abc"]
            if key in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
                return self._truth(value)
        return {k: self(v) for k, v in value.items()}

    def _sub(self, text: str, variables: dict[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(variables[token])
            if "." in token and not token.startswith("AWS::"):
                name, attribute = token.split(".", 1)
                return self.get_att(name, attribute)
            return self.ref(token)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """``samtranslator.yaml_helper.yaml_parse``'s reading (short-form intrinsics as ``{"Fn::...": ...}``) on
    libyaml's scanner when PyYAML has it: the pure-Python one took ~0.3 s of every runtime's start (140 KB).
    """


_TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def parse_template(text: str) -> dict[str, Any]:
    """``template.yaml``'s document as ``samtranslator.yaml_helper.yaml_parse`` reads it."""
    document: dict[str, Any] = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a safe loader (SafeLoader's constructors)
    return document


def load_template(path: Path, *, stack_name: str, parameter_overrides: dict[str, str]) -> LocalTemplate:
    """Parse the SAM template and resolve what the local runtime creates."""
    document = parse_template(path.read_text())
    declared = document.get("Parameters", {})
    parameters: dict[str, str] = {}
    for name, spec in declared.items():
        if name in parameter_overrides:
            parameters[name] = parameter_overrides[name]
        elif "Default" in spec:
            parameters[name] = str(spec["Default"])
        else:
            raise ConfigError(f"template parameter {name} has no default and no local value")
    resources: dict[str, Any] = document["Resources"]
    # !Ref of a list parameter is a list, as in CloudFormation.
    list_types = ("CommaDelimitedList", "List<")
    values: dict[str, Any] = {
        name: value.split(",") if str(declared[name].get("Type", "")).startswith(list_types) else value
        for name, value in parameters.items()
    }
    resolve = _Resolver(stack_name, resources, values, document.get("Conditions", {}))
    template = LocalTemplate(path=path, stack_name=stack_name, parameters=parameters)
    globals_ = document.get("Globals", {}).get("Function", {})
    global_env = resolve(globals_.get("Environment", {}).get("Variables", {}))
    root = path.parent
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            env = {**global_env, **resolve(props.get("Environment", {}).get("Variables", {}))}
            rules = tuple(
                RuleSpec(logical_id=event_id, pattern=resolve(event["Properties"]["Pattern"]))
                for event_id, event in props.get("Events", {}).items()
                if event["Type"] == "EventBridgeRule"
            )
            name = _local_name(stack_name, logical_id)
            template.functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=resolve.get_att(logical_id, "Arn"),
                code_dir=root / props["CodeUri"],
                handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                environment={k: str(v) for k, v in env.items()},
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
                rules=rules,
            )
        elif kind == "AWS::Serverless::StateMachine":
            definition_path = root / props["DefinitionUri"]
            substitutions = {k: str(resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
            text = definition_path.read_text()
            missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions))
            if missing:
                raise ConfigError(f"{definition_path.name}: no DefinitionSubstitutions for {missing}")
            for key, value in substitutions.items():
                text = text.replace("${" + key + "}", value)
            json.loads(text)  # a substitution must not break the JSON
            template.state_machines[logical_id] = StateMachineSpec(
                logical_id=logical_id,
                name=_local_name(stack_name, logical_id),
                arn=resolve.ref(logical_id),
                definition_path=definition_path,
                definition=text,
                alias=props.get("AutoPublishAlias"),
            )
        elif kind == "AWS::S3::Bucket":
            notification = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
            template.buckets[logical_id] = BucketSpec(
                logical_id=logical_id,
                name=_local_name(stack_name, logical_id),
                eventbridge=bool(notification.get("EventBridgeEnabled", False)),
            )
        elif kind == "AWS::CloudWatch::Alarm":
            template.alarms[logical_id] = resolve(props)
        elif kind == "AWS::DynamoDB::Table":
            template.tables[logical_id] = _local_name(stack_name, logical_id)
    return template
