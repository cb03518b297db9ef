"""The security baseline of the deployed template and of every SageMaker request in the ASL.

The template is checked as CloudFormation will deploy it: transformed by the SAM translator
(``tools/transform_template.py``, offline), so SAM policy templates, ``Globals`` and event sources
are expanded and the generated roles, rules and stages are what is inspected.

Each checker is a plain function returning a list of problems; each is run on the real template or
ASL (must be clean) and on a copy broken in one place (must report exactly that).
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_asl_lint import iter_states

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
ASL_FILES = sorted((REPO_ROOT / "statemachines").glob("*.asl.json"))

Template = dict[str, Any]
Statement = Mapping[str, Any]


def _load_transform() -> Any:
    # tools/ is not a package: load the script by path (no sys.path edits).
    spec = importlib.util.spec_from_file_location("transform_template", REPO_ROOT / "tools" / "transform_template.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cfn() -> Template:
    """The template as CloudFormation sees it after the SAM transform."""
    return _load_transform().transform_template(TEMPLATE, "us-east-1")  # type: ignore[no-any-return]


def resources_of(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ref_target(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` points at, else None."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


# --------------------------------------------------------------------------------------------------
# IAM: function roles


def role_statements(template: Template, role_id: str) -> Iterator[tuple[str, Statement]]:
    """(where, statement) for the role's inline policies and the stack's managed policies it attaches."""
    role = template["Resources"][role_id]["Properties"]
    for policy in role.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            yield f"{role_id}/{policy['PolicyName']}", statement
    for arn in role.get("ManagedPolicyArns", []):
        target = _ref_target(arn)
        if target and template["Resources"].get(target, {}).get("Type") == "AWS::IAM::ManagedPolicy":
            document = template["Resources"][target]["Properties"]["PolicyDocument"]
            for statement in _as_list(document["Statement"]):
                yield f"{role_id}/{target}", statement


def function_roles(template: Template) -> dict[str, str]:
    """Lambda function logical id -> its role's logical id."""
    roles = {}
    for name, function in resources_of(template, "AWS::Lambda::Function").items():
        role = _ref_target(function["Properties"]["Role"])
        assert role is not None, f"{name}: role is not a resource of this stack"
        roles[name] = role
    return roles


def iam_problems(template: Template) -> list[str]:
    """Wildcard actions and *FullAccess managed policies on any function's role."""
    problems = []
    for function, role in sorted(function_roles(template).items()):
        for arn in template["Resources"][role]["Properties"].get("ManagedPolicyArns", []):
            if isinstance(arn, str) and arn.endswith("FullAccess"):
                problems.append(f"{function}: managed policy {arn.rsplit('/', 1)[-1]}")
        for where, statement in role_statements(template, role):
            if statement.get("Effect") != "Allow":
                continue
            for action in _as_list(statement.get("Action", [])):
                if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                    problems.append(f"{function}: {where} allows action {action!r}")
    return problems


def test_function_roles_allow_no_wildcard_actions_nor_full_access_policies(cfn: Template) -> None:
    assert function_roles(cfn), "the template should have Lambda functions"
    assert iam_problems(cfn) == []


@pytest.mark.parametrize("action", ["*", "s3:*"], ids=["star", "service-star"])
def test_wildcard_action_in_a_function_policy_is_reported(cfn: Template, action: str) -> None:
    broken = copy.deepcopy(cfn)
    role = function_roles(broken)["TriggerFunction"]
    broken["Resources"][role]["Properties"]["Policies"].append(
        {
            "PolicyName": "Oops",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]},
        }
    )

    assert iam_problems(broken) == [f"TriggerFunction: {role}/Oops allows action {action!r}"]


def test_full_access_managed_policy_on_a_function_role_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    role = function_roles(broken)["RegisterModelFunction"]
    broken["Resources"][role]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    )

    assert iam_problems(broken) == ["RegisterModelFunction: managed policy AmazonSageMakerFullAccess"]


# --------------------------------------------------------------------------------------------------
# IAM: only the approval API may resume an execution with its task token

TASK_TOKEN_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskFailure")
TOKEN_SENDER = "ApprovalApiFunction"


def _matches(pattern: Any, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards (``states:*``, ``states:Send*``)."""
    return isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _allowed_actions(statement: Statement, actions: tuple[str, ...]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    if "NotAction" in statement:  # Allow + NotAction grants everything it does not name
        return [a for a in actions if not any(_matches(p, a) for p in _as_list(statement["NotAction"]))]
    return [a for a in actions if any(_matches(p, a) for p in _as_list(statement.get("Action", [])))]


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return dict(json.loads(aws_managed_policies_data))


def _aws_managed_statements(arn: Any) -> list[Statement] | None:
    """The statements of an AWS managed policy, from moto's bundled copy (None: not known, cannot be checked)."""
    if not isinstance(arn, str) or ":iam::aws:policy/" not in arn:
        return None
    policy = _aws_managed_policies().get(arn.rsplit("/", 1)[-1])
    return None if policy is None else _as_list(policy["Document"]["Statement"])


def all_role_statements(template: Template, role_id: str) -> Iterator[tuple[str, Statement | None]]:
    """Every statement that applies to the role: inline, the stack's managed policies, AWS managed policies
    (``None`` for one that cannot be read), and stand-alone ``AWS::IAM::Policy``/``ManagedPolicy`` naming it."""
    yield from role_statements(template, role_id)
    for arn in template["Resources"][role_id]["Properties"].get("ManagedPolicyArns", []):
        if _ref_target(arn) is None:
            statements = _aws_managed_statements(arn)
            if statements is None:
                yield f"{role_id}/{arn}", None
            for statement in statements or []:
                yield f"{role_id}/{str(arn).rsplit('/', 1)[-1]}", statement
    for name, policy in template["Resources"].items():
        if policy.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} and role_id in {
            _ref_target(role) for role in policy["Properties"].get("Roles", [])
        }:
            for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                yield f"{role_id}/{name}", statement


def token_sender_problems(template: Template) -> list[str]:
    """Roles other than the approval API's that may call SendTaskSuccess/SendTaskFailure (or cannot be checked)."""
    allowed_role = function_roles(template)[TOKEN_SENDER]
    problems = []
    for role in sorted(resources_of(template, "AWS::IAM::Role")):
        for where, statement in all_role_statements(template, role):
            if statement is None:
                problems.append(f"{role}: {where.split('/', 1)[1]} is not a known AWS managed policy")
            elif role != allowed_role:
                problems += [f"{role}: {where} allows {a}" for a in _allowed_actions(statement, TASK_TOKEN_ACTIONS)]
    return problems


def test_only_the_approval_api_may_send_task_success_or_failure(cfn: Template) -> None:
    allowed_role = function_roles(cfn)[TOKEN_SENDER]
    assert {a for _, s in role_statements(cfn, allowed_role) for a in _allowed_actions(s, TASK_TOKEN_ACTIONS)} == set(
        TASK_TOKEN_ACTIONS
    ), "the approval API must still be able to resume the execution"
    assert token_sender_problems(cfn) == []


@pytest.mark.parametrize(
    ("action", "granted"),
    [
        ("states:SendTaskSuccess", ["states:SendTaskSuccess"]),
        ("states:sendtaskfailure", ["states:SendTaskFailure"]),
        ("states:*", list(TASK_TOKEN_ACTIONS)),
        ("states:Send*", list(TASK_TOKEN_ACTIONS)),
        ("*", list(TASK_TOKEN_ACTIONS)),
    ],
    ids=["success", "failure-any-case", "service-star", "send-star", "star"],
)
def test_another_role_allowed_to_send_a_task_result_is_reported(cfn: Template, action: str, granted: list[str]) -> None:
    broken = copy.deepcopy(cfn)
    role = function_roles(broken)["ExecutionMonitorFunction"]
    broken["Resources"][role]["Properties"]["Policies"].append(
        {
            "PolicyName": "Oops",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]},
        }
    )

    assert token_sender_problems(broken) == [f"{role}: {role}/Oops allows {a}" for a in granted]


def test_a_stand_alone_policy_or_managed_policy_granting_a_send_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    document = {"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}
    broken["Resources"]["OopsPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyName": "oops", "PolicyDocument": document, "Roles": [{"Ref": "TrainingPipelineRole"}]},
    }
    broken["Resources"]["TrainingPipelineRole"]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/AWSStepFunctionsFullAccess"
    )

    assert token_sender_problems(broken) == [
        "TrainingPipelineRole: TrainingPipelineRole/AWSStepFunctionsFullAccess allows states:SendTaskSuccess",
        "TrainingPipelineRole: TrainingPipelineRole/AWSStepFunctionsFullAccess allows states:SendTaskFailure",
        "TrainingPipelineRole: TrainingPipelineRole/OopsPolicy allows states:SendTaskSuccess",
        "TrainingPipelineRole: TrainingPipelineRole/OopsPolicy allows states:SendTaskFailure",
    ]


def test_an_unknown_aws_managed_policy_is_reported_as_unchecked(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    broken["Resources"]["SageMakerExecutionRole"]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/NoSuchPolicy"
    )

    assert token_sender_problems(broken) == [
        "SageMakerExecutionRole: arn:aws:iam::aws:policy/NoSuchPolicy is not a known AWS managed policy"
    ]


# --------------------------------------------------------------------------------------------------
# S3 buckets


def _tls_denied(statement: Statement, bucket: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    resources = {json.dumps(r, sort_keys=True) for r in _as_list(statement.get("Resource", []))}
    covers_bucket = json.dumps({"Fn::GetAtt": [bucket, "Arn"]}, sort_keys=True) in resources
    covers_objects = any(bucket in r and "/*" in r for r in resources)
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and "s3:*" in _as_list(statement.get("Action"))
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and covers_bucket
        and covers_objects
    )


def bucket_problems(template: Template) -> list[str]:
    """Buckets without SSE-KMS (the stack key), versioning, all four public-access blocks or a TLS deny."""
    policies: dict[str, list[Statement]] = {}
    for policy in resources_of(template, "AWS::S3::BucketPolicy").values():
        bucket = _ref_target(policy["Properties"]["Bucket"])
        if bucket:
            policies.setdefault(bucket, []).extend(_as_list(policy["Properties"]["PolicyDocument"]["Statement"]))
    problems = []
    for name, bucket in sorted(resources_of(template, "AWS::S3::Bucket").items()):
        props = bucket.get("Properties", {})
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        defaults = [r.get("ServerSideEncryptionByDefault", {}) for r in rules]
        if not any(d.get("SSEAlgorithm") == "aws:kms" and _ref_target(d.get("KMSMasterKeyID")) for d in defaults):
            problems.append(f"{name}: default encryption is not SSE-KMS with the stack's key")
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            problems.append(f"{name}: versioning is not enabled")
        block = props.get("PublicAccessBlockConfiguration", {})
        for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(setting) is not True:
                problems.append(f"{name}: {setting} is not true")
        if not any(_tls_denied(s, name) for s in policies.get(name, [])):
            problems.append(f"{name}: no bucket policy statement denies requests without TLS")
    return problems


def test_every_bucket_is_kms_encrypted_versioned_private_and_tls_only(cfn: Template) -> None:
    assert set(resources_of(cfn, "AWS::S3::Bucket")) >= {"DataBucket", "ArtifactsBucket", "AccessLogsBucket"}
    assert bucket_problems(cfn) == []


def test_bucket_without_tls_deny_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    statements = broken["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "DenyInsecureTransport"]

    assert bucket_problems(broken) == ["DataBucket: no bucket policy statement denies requests without TLS"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda p: p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0].update(
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ),
            "ArtifactsBucket: default encryption is not SSE-KMS with the stack's key",
        ),
        (lambda p: p.pop("VersioningConfiguration"), "ArtifactsBucket: versioning is not enabled"),
        (
            lambda p: p["PublicAccessBlockConfiguration"].update({"RestrictPublicBuckets": False}),
            "ArtifactsBucket: RestrictPublicBuckets is not true",
        ),
    ],
    ids=["sse-s3", "unversioned", "public-buckets-not-restricted"],
)
def test_bucket_setting_removed_is_reported(cfn: Template, edit: Any, problem: str) -> None:
    broken = copy.deepcopy(cfn)
    edit(broken["Resources"]["ArtifactsBucket"]["Properties"])

    assert bucket_problems(broken) == [problem]


# --------------------------------------------------------------------------------------------------
# Functions: network, dead letters, concurrency, encrypted logs


#: Functions that must reach Cognito's public endpoints (JWKS, OAuth token endpoint), which no VPC endpoint
#: serves; they hold no data and their roles reach nothing of the stack but the pool (see template.yaml).
OUTSIDE_THE_VPC = frozenset({"ApproverAuthorizerFunction", "ApprovalLoginFunction"})


def function_problems(template: Template) -> list[str]:
    problems = []
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    for name, function in sorted(resources_of(template, "AWS::Lambda::Function").items()):
        props = function["Properties"]
        vpc = props.get("VpcConfig", {})
        if name in OUTSIDE_THE_VPC:
            if vpc:
                problems.append(f"{name}: in the VPC, where Cognito's public endpoints are unreachable")
        elif not vpc.get("SubnetIds") or not vpc.get("SecurityGroupIds"):
            problems.append(f"{name}: not in the VPC (VpcConfig with SubnetIds and SecurityGroupIds)")
        if not props.get("DeadLetterConfig", {}).get("TargetArn"):
            problems.append(f"{name}: no dead-letter queue")
        if "ReservedConcurrentExecutions" not in props:
            problems.append(f"{name}: no reserved concurrency")
        if not props.get("KmsKeyArn"):
            problems.append(f"{name}: environment not encrypted with the stack's key")
        group = _ref_target(props.get("LoggingConfig", {}).get("LogGroup"))
        if group not in log_groups or not log_groups[group]["Properties"].get("KmsKeyId"):
            problems.append(f"{name}: does not log to a KMS-encrypted log group of the stack")
    return problems


def test_every_function_runs_in_the_vpc_with_dlq_concurrency_and_encrypted_logs(cfn: Template) -> None:
    assert function_problems(cfn) == []


def test_function_outside_the_vpc_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    del broken["Resources"]["ValidateDataFunction"]["Properties"]["VpcConfig"]

    assert function_problems(broken) == [
        "ValidateDataFunction: not in the VPC (VpcConfig with SubnetIds and SecurityGroupIds)"
    ]


def test_the_functions_outside_the_vpc_get_no_network_interface_rights(cfn: Template) -> None:
    # SAM attaches the ENI-management policy to any function with a VpcConfig (Globals included).
    roles = resources_of(cfn, "AWS::IAM::Role")
    for name in OUTSIDE_THE_VPC:
        role = _ref_target(cfn["Resources"][name]["Properties"]["Role"])
        managed = json.dumps(roles[role]["Properties"].get("ManagedPolicyArns", []))
        assert "AWSLambdaVPCAccessExecutionRole" not in managed, name


def test_the_functions_outside_the_vpc_reach_nothing_of_the_stack_but_the_pool(cfn: Template) -> None:
    # They run where the internet is reachable, so their roles hold no table, bucket, secret or task-token right.
    roles = function_roles(cfn)
    for name in OUTSIDE_THE_VPC:
        granted = {
            (action, json.dumps(statement.get("Resource"), sort_keys=True))
            for _, statement in role_statements(cfn, roles[name])
            if statement.get("Effect") == "Allow"
            for action in _as_list(statement["Action"])
        }
        actions = {action for action, _ in granted}
        assert actions == {"cognito-idp:ListUserPoolClients", "kms:Decrypt", "kms:GenerateDataKey", "sqs:SendMessage"}
        pool = json.dumps({"Fn::GetAtt": ["ApproverUserPool", "Arn"]}, sort_keys=True)
        assert ("cognito-idp:ListUserPoolClients", pool) in granted, name
        managed = json.dumps(cfn["Resources"][roles[name]]["Properties"].get("ManagedPolicyArns", []))
        assert "FullAccess" not in managed.replace("AWSXrayWriteOnlyAccess", ""), name


def test_every_log_group_is_encrypted_with_a_retention(cfn: Template) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")
    assert groups
    assert [n for n, g in groups.items() if not g["Properties"].get("KmsKeyId")] == []
    assert [n for n, g in groups.items() if not g["Properties"].get("RetentionInDays")] == []


def test_state_machine_logs_every_event_without_data_to_an_encrypted_group_and_traces(cfn: Template) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")
    for name, machine in resources_of(cfn, "AWS::StepFunctions::StateMachine").items():
        props = machine["Properties"]
        logging = props.get("LoggingConfiguration", {})
        assert logging.get("Level") == "ALL", name
        # Execution data would put the approval task's token (in its parameters) into CloudWatch Logs.
        assert logging.get("IncludeExecutionData") is False, name
        (destination,) = logging["Destinations"]
        group = _ref_target(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
        assert groups[group]["Properties"]["KmsKeyId"], name
        assert props.get("TracingConfiguration", {}).get("Enabled") is True, name


def test_event_rule_targets_have_retry_policy_and_dead_letter_queue(cfn: Template) -> None:
    targets = [
        (name, target)
        for name, rule in resources_of(cfn, "AWS::Events::Rule").items()
        for target in rule["Properties"].get("Targets", [])
    ]
    assert targets
    assert [n for n, t in targets if not t.get("DeadLetterConfig", {}).get("Arn")] == []
    assert [n for n, t in targets if not t.get("RetryPolicy")] == []


# --------------------------------------------------------------------------------------------------
# Encryption at rest and the key


def test_every_store_uses_the_stack_key(cfn: Template) -> None:
    key = "KmsKey"
    checks = {
        "AWS::DynamoDB::Table": lambda p: p.get("SSESpecification", {}).get("KMSMasterKeyId"),
        "AWS::SQS::Queue": lambda p: p.get("KmsMasterKeyId"),
        "AWS::SNS::Topic": lambda p: p.get("KmsMasterKeyId"),
        "AWS::SecretsManager::Secret": lambda p: p.get("KmsKeyId"),
        "AWS::Logs::LogGroup": lambda p: p.get("KmsKeyId"),
    }
    offenders = [
        name
        for kind, key_of in checks.items()
        for name, resource in resources_of(cfn, kind).items()
        if _ref_target(key_of(resource.get("Properties", {}))) != key
    ]
    assert offenders == []


def test_key_rotates_and_its_policy_has_no_wildcard_principal(cfn: Template) -> None:
    keys = resources_of(cfn, "AWS::KMS::Key")
    assert set(keys) == {"KmsKey", "AuditMacKey"}
    for name, key in keys.items():
        # KMS rotates symmetric encryption keys only; an HMAC key cannot have automatic rotation.
        if key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            assert key["Properties"]["EnableKeyRotation"] is True, name
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            principal = statement["Principal"]
            assert principal != "*"
            assert "*" not in _as_list(principal.get("AWS", [])), statement["Sid"]
            if "Service" in principal:
                assert statement.get("Condition"), f"{statement['Sid']}: a service principal needs a condition"


# --------------------------------------------------------------------------------------------------
# The audit ledger: Object Lock bucket, MAC key, and exactly its writers may append and sign

LEDGER_WRITERS = {
    "TriggerFunction",
    "RequestApprovalFunction",
    "ApprovalApiFunction",
    "RecordApprovalOutcomeFunction",
    "VerifyDeploymentFunction",
    "ExecutionMonitorFunction",
    "CompareChampionFunction",
    "MonitoringResultFunction",
}
#: What S3AuditLedger calls to append and seal (adapters/audit_ledger.py), and on what.
LEDGER_GRANTS = {
    ("s3:GetObject", json.dumps({"Fn::Sub": "${AuditBucket.Arn}/ledger/*"})),
    ("s3:PutObject", json.dumps({"Fn::Sub": "${AuditBucket.Arn}/ledger/*"})),
    ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["AuditBucket", "Arn"]})),
    ("kms:GenerateMac", json.dumps({"Fn::GetAtt": ["AuditMacKey", "Arn"]})),
}


#: Who uploaded a dataset: the trigger records it from CloudTrail, Request Approval reads it back.
UPLOAD_RECORD_GRANTS = {
    "TriggerFunction": {("s3:PutObject", json.dumps({"Fn::Sub": "${AuditBucket.Arn}/uploads/*"}))},
    "RequestApprovalFunction": {("s3:GetObject", json.dumps({"Fn::Sub": "${AuditBucket.Arn}/uploads/*"}))},
}


def audit_bucket_problems(template: Template) -> list[str]:
    """The ledger's bucket must be write-once for everyone: Object Lock (compliance) and denies."""
    problems = []
    props = template["Resources"]["AuditBucket"]["Properties"]
    if props.get("ObjectLockEnabled") is not True:
        problems.append("AuditBucket: ObjectLockEnabled is not true")
    rule = props.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention", {})
    if rule.get("Mode") != "COMPLIANCE":
        problems.append(f"AuditBucket: default retention mode is {rule.get('Mode')!r}, not 'COMPLIANCE'")
    if rule.get("Days") != {"Ref": "AuditRetentionDays"}:
        problems.append("AuditBucket: default retention is not AuditRetentionDays")
    if _ref_target(props.get("LoggingConfiguration", {}).get("DestinationBucketName")) != "AccessLogsBucket":
        problems.append("AuditBucket: access is not logged to AccessLogsBucket")
    if template["Resources"]["AuditBucket"].get("DeletionPolicy") != "Retain":
        problems.append("AuditBucket: DeletionPolicy is not Retain")
    statements = [
        s
        for policy in resources_of(template, "AWS::S3::BucketPolicy").values()
        if _ref_target(policy["Properties"]["Bucket"]) == "AuditBucket"
        for s in _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    ]
    denies = [s for s in statements if s.get("Effect") == "Deny" and s.get("Principal") in ("*", {"AWS": "*"})]
    if not any("s3:DeleteObject*" in _as_list(s.get("Action")) and not s.get("Condition") for s in denies):
        problems.append("AuditBucket: no unconditional Deny of s3:DeleteObject*")
    conditional = [
        s for s in denies if _as_list(s.get("Action")) == ["s3:PutObject"] and "Null" in s.get("Condition", {})
    ]
    if not any(s["Condition"]["Null"] == {"s3:if-none-match": "true"} for s in conditional):
        problems.append("AuditBucket: puts of records and digests without If-None-Match are not denied")
    for allow in [s for s in statements if s.get("Effect") == "Allow"]:
        # The one exception to "access through IAM only": CloudTrail delivering the upload trail's logs.
        trail = allow.get("Condition", {}).get("StringEquals", {}).get("aws:SourceArn", {})
        actions = _as_list(allow.get("Action"))
        if (
            allow.get("Principal") != {"Service": "cloudtrail.amazonaws.com"}
            or "trail/${AWS::StackName}-data-uploads" not in str(trail)
            or actions not in (["s3:GetBucketAcl"], ["s3:PutObject"])
            or (actions == ["s3:PutObject"] and "/cloudtrail/AWSLogs/" not in str(allow.get("Resource")))
        ):
            problems.append(
                f"AuditBucket: its bucket policy allows {allow.get('Sid')} (access is granted through IAM only, "
                "but for CloudTrail delivering the stack's upload trail under cloudtrail/)"
            )
    return problems


def test_audit_bucket_is_object_locked_in_compliance_mode_and_refuses_deletes(cfn: Template) -> None:
    assert audit_bucket_problems(cfn) == []
    assert cfn["Parameters"]["AuditRetentionDays"]["Default"] == 2557


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda r: r["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"].update(
                {"Mode": "GOVERNANCE"}
            ),
            "AuditBucket: default retention mode is 'GOVERNANCE', not 'COMPLIANCE'",
        ),
        (lambda r: r["Properties"].pop("ObjectLockEnabled"), "AuditBucket: ObjectLockEnabled is not true"),
        (lambda r: r.update({"DeletionPolicy": "Delete"}), "AuditBucket: DeletionPolicy is not Retain"),
    ],
    ids=["governance-mode", "no-object-lock", "deleted-with-the-stack"],
)
def test_weakened_audit_bucket_is_reported(cfn: Template, edit: Any, problem: str) -> None:
    broken = copy.deepcopy(cfn)
    edit(broken["Resources"]["AuditBucket"])

    assert audit_bucket_problems(broken) == [problem]


def test_audit_bucket_policy_without_the_delete_deny_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    statements = broken["Resources"]["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "DenyDeletes"]

    assert audit_bucket_problems(broken) == ["AuditBucket: no unconditional Deny of s3:DeleteObject*"]


def test_audit_mac_key_is_an_hmac_key(cfn: Template) -> None:
    props = cfn["Resources"]["AuditMacKey"]["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    assert cfn["Resources"]["AuditMacKey"]["DeletionPolicy"] == "Retain"


def ledger_grants(template: Template, role_id: str) -> set[tuple[str, str]]:
    """(action, resource) pairs a role is allowed on the audit bucket or the MAC key."""
    grants = set()
    for _, statement in role_statements(template, role_id):
        if statement.get("Effect") != "Allow":
            continue
        for resource in _as_list(statement.get("Resource", [])):
            text = json.dumps(resource)
            if "AuditBucket" in text or "AuditMacKey" in text:
                grants |= {(action, text) for action in _as_list(statement.get("Action", []))}
    return grants


def _environment(template: Template, function: str) -> dict[str, Any]:
    variables: dict[str, Any] = (
        template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    )
    return variables


def ledger_access_problems(template: Template) -> list[str]:
    """Functions given the ledger's variables or grants that do not write it, or writers missing them."""
    problems = []
    for function, role in sorted(function_roles(template).items()):
        writes = function in LEDGER_WRITERS
        environment = _environment(template, function)
        for variable in ("AUDIT_BUCKET", "AUDIT_MAC_KEY_ID"):
            if (variable in environment) != writes:
                problems.append(f"{function}: {'lacks' if writes else 'is given'} {variable}")
        grants = ledger_grants(template, role)
        expected = (LEDGER_GRANTS if writes else set()) | UPLOAD_RECORD_GRANTS.get(function, set())
        for action, resource in sorted(grants - expected):
            problems.append(f"{function}: may {action} on {resource}")
        for action, resource in sorted(expected - grants):
            problems.append(f"{function}: may not {action} on {resource}")
    return problems


def test_exactly_the_ledger_writers_get_the_ledger_and_only_what_the_adapter_calls(cfn: Template) -> None:
    assert ledger_access_problems(cfn) == []
    # Signatures are checked by `mlops audit verify`, never by a function.
    assert ("kms:VerifyMac", json.dumps({"Fn::GetAtt": ["AuditMacKey", "Arn"]})) not in LEDGER_GRANTS


def test_ledger_writers_are_given_the_bucket_and_the_mac_key_of_this_stack(cfn: Template) -> None:
    for function in LEDGER_WRITERS:
        environment = _environment(cfn, function)
        assert _ref_target(environment["AUDIT_BUCKET"]) == "AuditBucket", function
        assert environment["AUDIT_MAC_KEY_ID"] == {"Fn::GetAtt": ["AuditMacKey", "Arn"]}, function


def test_a_ledger_grant_to_a_function_that_does_not_write_it_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    role = function_roles(broken)["ValidateDataFunction"]
    broken["Resources"][role]["Properties"]["ManagedPolicyArns"].append({"Ref": "AuditLedgerWritePolicy"})

    assert ledger_access_problems(broken) == [
        f"ValidateDataFunction: may {action} on {resource}" for action, resource in sorted(LEDGER_GRANTS)
    ]


def test_a_ledger_writer_missing_its_variable_is_reported(cfn: Template) -> None:
    broken = copy.deepcopy(cfn)
    del broken["Resources"]["VerifyDeploymentFunction"]["Properties"]["Environment"]["Variables"]["AUDIT_MAC_KEY_ID"]

    assert ledger_access_problems(broken) == ["VerifyDeploymentFunction: lacks AUDIT_MAC_KEY_ID"]


def test_no_internet_or_nat_gateway_and_no_hard_coded_image_accounts(cfn: Template) -> None:
    kinds = {r["Type"] for r in cfn["Resources"].values()}
    assert not kinds & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"}
    # Images are parameters: no registry account baked into the template or the ASL.
    sources = [TEMPLATE.read_text(), *(p.read_text() for p in ASL_FILES)]
    assert [m for text in sources for m in re.findall(r"\d{12}\.dkr\.ecr\.", text)] == []


# --------------------------------------------------------------------------------------------------
# SageMaker requests in the ASL

SUBNETS = ["${SubnetA}", "${SubnetB}"]
SECURITY_GROUPS = ["${SageMakerSecurityGroupId}"]
KMS_KEY = "${KmsKeyArn}"
#: Per SageMaker integration: (path in Parameters, required value).
SECURITY_FIELDS: dict[str, tuple[tuple[tuple[str, ...], Any], ...]] = {
    "createTrainingJob": (
        (("VpcConfig", "Subnets"), SUBNETS),
        (("VpcConfig", "SecurityGroupIds"), SECURITY_GROUPS),
        (("EnableNetworkIsolation",), True),
        (("EnableInterContainerTrafficEncryption",), True),
        (("ResourceConfig", "VolumeKmsKeyId"), KMS_KEY),
        (("OutputDataConfig", "KmsKeyId"), KMS_KEY),
    ),
    "createProcessingJob": (
        (("NetworkConfig", "VpcConfig", "Subnets"), SUBNETS),
        (("NetworkConfig", "VpcConfig", "SecurityGroupIds"), SECURITY_GROUPS),
        (("NetworkConfig", "EnableNetworkIsolation"), True),
        (("NetworkConfig", "EnableInterContainerTrafficEncryption"), True),
        (("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"), KMS_KEY),
        (("ProcessingOutputConfig", "KmsKeyId"), KMS_KEY),
    ),
    "createModel": (
        (("VpcConfig", "Subnets"), SUBNETS),
        (("VpcConfig", "SecurityGroupIds"), SECURITY_GROUPS),
        (("EnableNetworkIsolation",), True),
    ),
    "createEndpointConfig": (
        (("KmsKeyId",), KMS_KEY),
        (("DataCaptureConfig", "KmsKeyId"), KMS_KEY),
    ),
    # Endpoint creation and updates name an existing model/config; their security lives there.
    "createEndpoint": (),
    "updateEndpoint": (),
}
_SAGEMAKER = re.compile(r"^arn:aws[a-z-]*:states:::sagemaker:(\w+)(\.sync|\.waitForTaskToken)?$")


def sagemaker_integration(state: Mapping[str, Any]) -> str | None:
    match = _SAGEMAKER.match(str(state.get("Resource", ""))) if state.get("Type") == "Task" else None
    return match.group(1) if match else None


def _lookup(parameters: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = parameters
    for part in path:
        if not isinstance(node, Mapping):
            return False, None
        if part not in node:
            # A JSONPath value (Key.$) is decided at run time: not a fixed security setting.
            return (False, None) if f"{part}.$" not in node else (True, f"<runtime {node[part + '.$']}>")
        node = node[part]
    return True, node


def sagemaker_problems(definition: Mapping[str, Any]) -> list[str]:
    """SageMaker Tasks missing a security field or setting it to anything but the stack's value."""
    problems = []
    for qualified, _, state in iter_states(definition):
        integration = sagemaker_integration(state)
        if integration is None:
            continue
        fields = SECURITY_FIELDS.get(integration)
        if fields is None:
            problems.append(f"{qualified}: no security rules for sagemaker:{integration}; add them to this test")
            continue
        parameters = state.get("Parameters", {})
        for path, required in fields:
            found, value = _lookup(parameters, path)
            where = f"{qualified}: Parameters.{'.'.join(path)}"
            if not found:
                problems.append(f"{where} is missing")
            elif value != required:
                problems.append(f"{where} is {value!r}, not {required!r}")
    return problems


def load_definition(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=[p.name for p in ASL_FILES])
def test_every_sagemaker_task_sets_the_security_fields(asl_file: Path) -> None:
    assert sagemaker_problems(load_definition(asl_file)) == []


def test_the_pipeline_has_sagemaker_tasks_to_check() -> None:
    definition = load_definition(REPO_ROOT / "statemachines" / "training_pipeline.asl.json")
    integrations = {sagemaker_integration(s) for _, _, s in iter_states(definition)}
    assert {"createTrainingJob", "createProcessingJob"} <= integrations


def _sagemaker_states() -> list[tuple[str, dict[str, Any]]]:
    definition = load_definition(REPO_ROOT / "statemachines" / "training_pipeline.asl.json")
    return [
        (name, dict(state))
        for _, name, state in iter_states(definition)
        if SECURITY_FIELDS.get(sagemaker_integration(state) or "")
    ]


def _delete(parameters: dict[str, Any], path: tuple[str, ...]) -> None:
    node = parameters
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def _set(parameters: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = parameters
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@st.composite
def broken_sagemaker_task(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A real SageMaker Task with one security field deleted, switched off or pointed elsewhere."""
    name, state = draw(st.sampled_from(_sagemaker_states()))
    integration = sagemaker_integration(state)
    assert integration is not None
    path, required = draw(st.sampled_from(SECURITY_FIELDS[integration]))
    state = copy.deepcopy(state)
    where = f"{name}: Parameters.{'.'.join(path)}"
    how = draw(st.sampled_from(["delete", "runtime", "wrong"]))
    if how == "delete":
        _delete(state["Parameters"], path)
        return state, where, f"{where} is missing"
    if how == "runtime":
        _delete(state["Parameters"], path)
        _set(state["Parameters"], (*path[:-1], f"{path[-1]}.$"), "$.security_override")
        return state, where, f"{where} is '<runtime $.security_override>', not {required!r}"
    wrong: Any = False if required is True else (["subnet-0123456789abcdef0"] if isinstance(required, list) else "")
    _set(state["Parameters"], path, wrong)
    return state, where, f"{where} is {wrong!r}, not {required!r}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_sagemaker_task())
def test_checker_flags_a_missing_or_weakened_security_field(case: tuple[dict[str, Any], str, str]) -> None:
    # Given a real Train/Evaluate state with exactly one security field removed or weakened
    state, where, expected = case
    name = where.split(":", 1)[0]
    definition = {"StartAt": name, "States": {name: state}}

    # Then the checker reports that field, and only it
    assert sagemaker_problems(definition) == [expected]


def test_sagemaker_integration_without_rules_is_reported() -> None:
    definition = {
        "StartAt": "Batch Score",
        "States": {
            "Batch Score": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                "End": True,
            }
        },
    }

    assert sagemaker_problems(definition) == [
        "Batch Score: no security rules for sagemaker:createTransformJob; add them to this test"
    ]


# --------------------------------------------------------------------------------------------------
# Preventive guardrails on the state machine's role

GUARDED_ACTIONS = {"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"}
#: condition key -> the operator of its "present but wrong" deny.
GUARDRAILS = {
    "sagemaker:VpcSubnets": "ForAnyValue:StringNotEquals",
    "sagemaker:VpcSecurityGroupIds": "ForAnyValue:StringNotEquals",
    "sagemaker:VolumeKmsKeyArn": "ArnNotEquals",
    "sagemaker:OutputKmsKeyArn": "ArnNotEquals",
    "sagemaker:NetworkIsolation": "Bool",
    "sagemaker:InterContainerTrafficEncryption": "Bool",
}


def guardrail_problems(template: Template, role_id: str) -> list[str]:
    """Each SageMaker condition key needs a Deny when absent (Null) and a Deny when wrong."""
    denies = [s for _, s in role_statements(template, role_id) if s.get("Effect") == "Deny"]

    def denied(operator: str, key: str, value: Any = None) -> bool:
        for statement in denies:
            if not set(_as_list(statement.get("Action"))) >= GUARDED_ACTIONS:
                continue
            condition = statement.get("Condition", {})
            # The deny must hang on this key alone: an extra condition would narrow it.
            if list(condition) != [operator] or list(condition[operator]) != [key]:
                continue
            if value is None or str(condition[operator][key]).lower() == value:
                return True
        return False

    problems = []
    for key, operator in GUARDRAILS.items():
        if not denied("Null", key, "true"):
            problems.append(f"{role_id}: no Deny when {key} is absent (Null: true)")
        if not denied(operator, key, "false" if operator == "Bool" else None):
            problems.append(f"{role_id}: no Deny when {key} has another value ({operator})")
    return problems


def _state_machine_role(template: Template) -> str:
    (machine,) = resources_of(template, "AWS::StepFunctions::StateMachine").values()
    role = _ref_target(machine["Properties"]["RoleArn"])
    assert role is not None
    return role


def test_state_machine_role_denies_jobs_that_drop_a_security_setting(cfn: Template) -> None:
    assert guardrail_problems(cfn, _state_machine_role(cfn)) == []


@pytest.mark.parametrize("sid", ["DenyJobsWithoutVolumeKey", "DenyJobsWithNetworkAccess"])
def test_missing_guardrail_is_reported(cfn: Template, sid: str) -> None:
    broken = copy.deepcopy(cfn)
    role = _state_machine_role(broken)
    for policy in broken["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        statements[:] = [s for s in statements if s.get("Sid") != sid]

    problems = guardrail_problems(broken, role)

    assert len(problems) == 1
    assert ("VolumeKmsKey" if "Volume" in sid else "NetworkIsolation") in problems[0]


def test_every_canary_update_names_rollback_alarms() -> None:
    # AutoRollbackConfiguration.Alarms must never be empty: a canary nobody watches is no canary.
    definition = load_definition(REPO_ROOT / "statemachines" / "training_pipeline.asl.json")
    updates = [s for _, _, s in iter_states(definition) if sagemaker_integration(s) == "updateEndpoint"]
    assert updates
    for state in updates:
        config = state["Parameters"]["DeploymentConfig"]
        assert len(config["AutoRollbackConfiguration"]["Alarms"]) >= 3
        assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] in {"CANARY", "LINEAR"}


def test_every_rule_with_a_dead_letter_queue_may_send_to_it(cfn: Template) -> None:
    # Given every EventBridge rule and the queue policies of the transformed template
    rules = resources_of(cfn, "AWS::Events::Rule")
    policies = resources_of(cfn, "AWS::SQS::QueuePolicy")
    admitted: dict[str, set[str]] = {}
    for policy in policies.values():
        queues = {_ref_target(q) for q in _as_list(policy["Properties"]["Queues"])}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            sources = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            for queue in queues:
                admitted.setdefault(str(queue), set()).update(str(_ref_target(s)) for s in _as_list(sources))
    # When a rule names a dead-letter queue
    missing = [
        (rule_id, _ref_target(target["DeadLetterConfig"]["Arn"]))
        for rule_id, rule in rules.items()
        for target in rule["Properties"].get("Targets", [])
        if "DeadLetterConfig" in target
        and rule_id not in admitted.get(str(_ref_target(target["DeadLetterConfig"]["Arn"])), set())
    ]
    # Then that queue's policy admits the rule (else EventBridge cannot dead-letter its events)
    assert rules
    assert missing == []


# --- The data perimeter (the parity tier evaluates the deployed policies: tests/parity/test_perimeter.py) ---
_ACCOUNT_ONLY = {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}


def test_every_vpc_endpoint_has_a_policy_for_this_accounts_principals(cfn: Template) -> None:
    endpoints = resources_of(cfn, "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 15
    unconditioned: dict[str, list[Any]] = {}
    for logical_id, resource in endpoints.items():
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        assert statements, logical_id
        for statement in statements:
            assert (statement["Effect"], statement["Principal"]) == ("Allow", "*"), logical_id
            assert (
                statement["Resource"] != "*"
                or statement.get("Condition") == _ACCOUNT_ONLY
                or (statement["Action"] == "ecr:GetAuthorizationToken")
            ), (logical_id, statement)
            if statement.get("Condition") != _ACCOUNT_ONLY:
                unconditioned.setdefault(logical_id, []).append(statement["Action"])
    # Only the image pull is open to principals of other accounts (ECR's presigned layer URLs, SageMaker's hosts)
    assert unconditioned == {
        "S3GatewayEndpoint": ["s3:GetObject"],
        "EcrApiEndpoint": [
            "ecr:GetAuthorizationToken",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        ],
        "EcrDockerEndpoint": [
            "ecr:GetAuthorizationToken",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        ],
    }


def test_every_bucket_policy_refuses_object_access_from_outside_the_stacks_network(cfn: Template) -> None:
    policies = resources_of(cfn, "AWS::S3::BucketPolicy")
    assert len(policies) == len(resources_of(cfn, "AWS::S3::Bucket")) == 4
    for logical_id, resource in policies.items():
        guarded = [
            s["Fn::If"]
            for s in resource["Properties"]["PolicyDocument"]["Statement"]
            if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "DenyObjectAccessOutsideTheStacksNetwork"
        ]
        ((condition, statement, otherwise),) = guarded
        assert (condition, otherwise) == ("BucketsBehindEndpoints", {"Ref": "AWS::NoValue"}), logical_id
        assert statement["Effect"] == "Deny"
        assert "s3:*Object*" in statement["Action"]
        assert "s3:PutBucketPolicy" not in statement["Action"]  # an administrator can always replace it
        assert set(statement["Condition"]) == {"StringNotEquals", "ArnNotLike", "ArnNotEquals", "Bool", "BoolIfExists"}


def test_the_approval_api_stage_is_associated_with_a_web_acl(cfn: Template) -> None:
    (association,) = resources_of(cfn, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["ResourceArn"]["Fn::Sub"][1] == {"Stage": {"Ref": "ApprovalApiprodStage"}}
    (acl,) = resources_of(cfn, "AWS::WAFv2::WebACL").values()
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
