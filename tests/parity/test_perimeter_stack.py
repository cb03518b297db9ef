"""The perimeter as deployed: the approval API's web ACL, the log groups under the stack's key, and what an
operator with an existing VPC passes (its S3 endpoint ids, the deploy roles, the organisation's web ACL).

Every value is read back through the service's own API on moto (WAFv2, API Gateway, CloudWatch Logs, S3).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.parity.conftest import PARITY_PARAMETERS, REGION, TEMPLATE
from tests.parity.iam import ApiCall, IamChecker
from tests.parity.stack import ParityStack, deploy_parity_stack

pytestmark = pytest.mark.parity

NETWORK_SID = "DenyObjectAccessOutsideTheStacksNetwork"


def aws(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _stage_arn(stack: ParityStack) -> str:
    return f"arn:aws:apigateway:{stack.region}::/restapis/{stack.api_id}/stages/{stack.api_stage}"


def _log_group(name: str) -> dict[str, Any]:
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    (group,) = [g for g in groups if g["logGroupName"] == name]
    return group


def test_the_approval_api_stage_is_behind_the_stacks_web_acl(parity_stack: ParityStack) -> None:
    # Given the deployed stage, When its web ACL is looked up through WAF and through API Gateway
    acl = aws("wafv2").get_web_acl_for_resource(ResourceArn=_stage_arn(parity_stack))["WebACL"]
    stage = aws("apigateway").get_stage(restApiId=parity_stack.api_id, stageName=parity_stack.api_stage)
    # Then it is the stack's own ACL
    assert acl["ARN"] == parity_stack.get_att("ApprovalApiWebAcl", "Arn") == stage["webAclArn"]
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    # And a per-IP rate limit comes first, blocking
    rate = rules["RateLimitPerClientIp"]
    assert (rate["Priority"], rate["Action"]) == (0, {"Block": {}})
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": 300, "AggregateKeyType": "IP"}
    # And AWS's managed common and known-bad-inputs rule sets follow, with metrics and sampled requests
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    for rule in acl["Rules"]:
        assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True, rule["Name"]
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True, rule["Name"]


def test_the_web_acl_logs_to_an_encrypted_group_without_cookies_or_link_signatures(parity_stack: ParityStack) -> None:
    acl_arn = parity_stack.get_att("ApprovalApiWebAcl", "Arn")
    configuration = aws("wafv2").get_logging_configuration(ResourceArn=acl_arn)["LoggingConfiguration"]
    (destination,) = configuration["LogDestinationConfigs"]
    name = destination.split(":log-group:", 1)[1]
    assert name == f"aws-waf-logs-{parity_stack.name}-approval-api"
    group = _log_group(name)
    assert group["kmsKeyId"] == parity_stack.get_att("KmsKey", "Arn")
    assert group["retentionInDays"] == int(parity_stack.parameters["LogRetentionDays"])
    assert configuration["RedactedFields"] == [{"SingleHeader": {"Name": "cookie"}}, {"QueryString": {}}]


def test_api_gateway_execution_logs_go_to_a_group_under_the_stacks_key(parity_stack: ParityStack) -> None:
    # API Gateway writes a stage's execution logs to this fixed name; the stack creates it first
    group = _log_group(f"API-Gateway-Execution-Logs_{parity_stack.api_id}/{parity_stack.api_stage}")
    assert group["kmsKeyId"] == parity_stack.get_att("KmsKey", "Arn")
    assert group["retentionInDays"] == int(parity_stack.parameters["LogRetentionDays"])
    stage = aws("apigateway").get_stage(restApiId=parity_stack.api_id, stageName=parity_stack.api_stage)
    assert stage["methodSettings"]["*/*"]["loggingLevel"] == "ERROR"


def test_every_log_group_of_the_stack_is_under_its_key_with_the_retention(parity_stack: ParityStack) -> None:
    groups = [
        logical_id
        for logical_id, resource in parity_stack.template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup" and logical_id in parity_stack.physical_ids
    ]
    functions = [
        logical_id.removesuffix("Function")
        for logical_id, resource in parity_stack.template["Resources"].items()
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Lambda::Function"}
    ]
    # One per function, the state machine's, the VPC flow log, the API's access and execution logs, the WAF's
    services = {"TrainingPipeline", "VpcFlow", "ApprovalApiAccess", "ApprovalApiExecution", "ApprovalApiWaf"}
    assert sorted(groups) == sorted(f"{name}LogGroup" for name in [*functions, *services])
    for logical_id in groups:
        group = _log_group(parity_stack.ref(logical_id))
        assert group["kmsKeyId"] == parity_stack.get_att("KmsKey", "Arn"), logical_id
        assert group["retentionInDays"] == int(parity_stack.parameters["LogRetentionDays"]), logical_id


# --- An operator's deployment into an existing VPC ------------------------------------------------------


@pytest.fixture(scope="module")
def existing_vpc_stack(parity_aws: None) -> tuple[ParityStack, dict[str, str]]:
    """The template deployed into a VPC that already has its endpoints, with the organisation's web ACL."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    s3_endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[table]
    )["VpcEndpoint"]["VpcEndpointId"]
    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "org"}
    org_acl = aws("wafv2").create_web_acl(
        Name="org-shared", Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=[], VisibilityConfig=visibility
    )["Summary"]["ARN"]
    given = {
        "VpcId": vpc,
        "PrivateSubnetAId": subnets[0],
        "PrivateSubnetBId": subnets[1],
        "PrivateRouteTableIds": table,
        "CreateVpcEndpoints": "false",
        "S3VpcEndpointIds": s3_endpoint,
        "DeployRoleArns": "arn:aws:iam::123456789012:role/deployer-*",
        "ApprovalApiWebAclArn": org_acl,
    }
    stack = deploy_parity_stack(TEMPLATE, stack_name="gm-existing-vpc", parameters={**PARITY_PARAMETERS, **given})
    return stack, given


def test_an_existing_vpc_gets_no_endpoints_and_the_buckets_name_the_operators(
    existing_vpc_stack: tuple[ParityStack, dict[str, str]],
) -> None:
    stack, given = existing_vpc_stack
    kinds = {r["Type"] for lid, r in stack.template["Resources"].items() if lid in stack.physical_ids}
    assert "AWS::EC2::VPCEndpoint" not in kinds
    s3 = aws("s3")
    for logical_id in ("DataBucket", "ArtifactsBucket", "AuditBucket", "AccessLogsBucket"):
        policy = json.loads(s3.get_bucket_policy(Bucket=stack.ref(logical_id))["Policy"])
        (statement,) = [s for s in policy["Statement"] if s.get("Sid") == NETWORK_SID]
        assert statement["Condition"]["StringNotEquals"]["aws:SourceVpce"] == [given["S3VpcEndpointIds"]]
        assert statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [given["DeployRoleArns"]]


def test_an_existing_vpc_stack_uses_the_organisations_web_acl(
    existing_vpc_stack: tuple[ParityStack, dict[str, str]],
) -> None:
    stack, given = existing_vpc_stack
    assert "ApprovalApiWebAcl" not in stack.physical_ids
    assert "ApprovalApiWafLogGroup" not in stack.physical_ids
    acl = aws("wafv2").get_web_acl_for_resource(ResourceArn=_stage_arn(stack))["WebACL"]
    assert acl["ARN"] == given["ApprovalApiWebAclArn"]


def _bucket_checker(stack: ParityStack, principal: str, route: str | None) -> IamChecker:
    s3 = aws("s3")

    def bucket_policy(arn: str) -> list[tuple[str, dict[str, Any]]]:
        bucket = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return [("bucket policy", json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))]

    full_access = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }
    return IamChecker(
        lambda arn: [("administrator", full_access)] if arn == principal else [],
        account_id=stack.account_id,
        region=stack.region,
        implied=(),
        resource_policies=bucket_policy,
        network=lambda _call: route,
        endpoint_policies=lambda _endpoint: [("the operator's endpoint", allow_all)],
    )


@pytest.mark.parametrize(
    ("principal", "route", "allowed"),
    [
        ("arn:aws:iam::123456789012:role/deployer-ci", None, True),
        ("arn:aws:iam::123456789012:role/engineer", None, False),
        ("arn:aws:iam::123456789012:role/engineer", "given", True),
        ("arn:aws:iam::123456789012:role/engineer", "vpce-0another", False),
    ],
    ids=["deploy-role-from-outside", "other-role-from-outside", "other-role-through-the-endpoint", "another-endpoint"],
)
def test_the_buckets_admit_the_deploy_roles_and_the_operators_endpoint_only(
    existing_vpc_stack: tuple[ParityStack, dict[str, str]], principal: str, route: str | None, allowed: bool
) -> None:
    stack, given = existing_vpc_stack
    endpoint = given["S3VpcEndpointIds"] if route == "given" else route
    put = ApiCall(principal, "s3", "PutObject", {"Bucket": stack.ref("DataBucket"), "Key": "datasets/m/x.csv"}, REGION)
    decisions = _bucket_checker(stack, principal, endpoint).decide(put)
    assert all(d.allowed for d in decisions) is allowed, [d.explanation for d in decisions]
