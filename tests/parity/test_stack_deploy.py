"""The parity stack: template.yaml deployed into moto holds every resource, wired as CloudFormation wires it.

Each resource is looked up through its own service's API (not through the harness's records), so a
resource the deployer skipped, or created unlike the template says, fails here.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.parity.conftest import PARITY_PARAMETERS, REGION
from tests.parity.managed_login import totp_code
from tests.parity.stack import (
    HARNESS_PROVISIONED,
    HARNESS_PROVISIONED_WHEN,
    CircularDependencyError,
    ParameterError,
    ParityStack,
    deploy_parity_stack,
)

Probe = Callable[[ParityStack, str, dict[str, Any]], None]


def aws(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def of_type(stack: ParityStack, kind: str) -> dict[str, dict[str, Any]]:
    """Deployed resources of one type: logical id -> its Properties in the transformed template."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == kind and logical_id in stack.physical_ids
    }


def target(value: Any) -> str:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` names."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def sids(document: Any) -> list[str]:
    """The statements' Sids; a template statement under ``Fn::If`` counts with its true branch (the parity
    stack provisions its own VPC endpoints, so the buckets' network condition, BucketsBehindEndpoints, holds)."""
    policy = json.loads(document) if isinstance(document, str) else document
    statements = [s["Fn::If"][1] if "Fn::If" in s else s for s in policy["Statement"]]
    return sorted(statement.get("Sid", "") for statement in statements)


# --- One look-up per resource type, through the service's API ----------------------------------------


def _rest_api(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    api = aws("apigateway").get_rest_api(restApiId=stack.ref(logical_id))
    assert api["name"] == stack.name  # SAM's Body title is the stack name


def _deployment(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    aws("apigateway").get_deployment(
        restApiId=stack.ref(target(properties["RestApiId"])), deploymentId=stack.ref(logical_id)
    )


def _stage(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    stage = aws("apigateway").get_stage(
        restApiId=stack.ref(target(properties["RestApiId"])), stageName=stack.ref(logical_id)
    )
    assert stage["tracingEnabled"] is properties["TracingEnabled"]
    assert stage["accessLogSettings"]["destinationArn"] == stack.get_att(
        target(properties["AccessLogSetting"]["DestinationArn"]), "Arn"
    )
    assert (
        stage["methodSettings"]["*/*"]["throttlingBurstLimit"]
        == properties["MethodSettings"][0]["ThrottlingBurstLimit"]
    )


def _alarm(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    alarms = aws("cloudwatch").describe_alarms(AlarmNames=[stack.ref(logical_id)])["MetricAlarms"]
    assert len(alarms) == 1
    assert alarms[0]["ComparisonOperator"] == properties["ComparisonOperator"]


def _user_pool(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    pool = aws("cognito-idp").describe_user_pool(UserPoolId=stack.ref(logical_id))["UserPool"]
    minimum = properties["Policies"]["PasswordPolicy"]["MinimumLength"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == minimum
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == properties["MfaConfiguration"] == "ON"
    mfa = aws("cognito-idp").get_user_pool_mfa_config(UserPoolId=stack.ref(logical_id))
    assert mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}


def _user_pool_domain(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    described = aws("cognito-idp").describe_user_pool_domain(Domain=stack.ref(logical_id))["DomainDescription"]
    assert described["UserPoolId"] == stack.ref(target(properties["UserPoolId"]))
    # The default prefix (ApproverLoginDomainPrefix empty): <stack name>-<account id>
    assert described["Domain"] == f"{stack.name}-{stack.account_id}"


def _user_pool_group(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    aws("cognito-idp").get_group(
        GroupName=stack.ref(logical_id), UserPoolId=stack.ref(target(properties["UserPoolId"]))
    )


def _user_pool_client(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    client = aws("cognito-idp").describe_user_pool_client(
        UserPoolId=stack.ref(target(properties["UserPoolId"])), ClientId=stack.ref(logical_id)
    )["UserPoolClient"]
    assert client["ExplicitAuthFlows"] == properties["ExplicitAuthFlows"]
    assert "ClientSecret" not in client
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    api = f"https://{stack.api_id}.execute-api.{stack.region}.amazonaws.com/{stack.api_stage}"
    assert client["CallbackURLs"] == [f"{api}/auth/callback"]
    assert client["LogoutURLs"] == [f"{api}/auth/signed-out"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert (client["IdTokenValidity"], client["TokenValidityUnits"]["IdToken"]) == (15, "minutes")


def _table(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    dynamodb = aws("dynamodb")
    table = dynamodb.describe_table(TableName=stack.ref(logical_id))["Table"]
    assert table["SSEDescription"]["KMSMasterKeyArn"] == stack.get_att("KmsKey", "Arn")
    backups = dynamodb.describe_continuous_backups(TableName=stack.ref(logical_id))["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def _flow_log(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    logs = aws("ec2").describe_flow_logs(FlowLogIds=[stack.ref(logical_id)])["FlowLogs"]
    assert logs[0]["LogGroupName"] == stack.ref(target(properties["LogGroupName"]))


def _route_table(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    routes = aws("ec2").describe_route_tables(RouteTableIds=[stack.ref(logical_id)])["RouteTables"][0]["Routes"]
    gateways = {route.get("GatewayId", "") for route in routes} | {route.get("NatGatewayId", "") for route in routes}
    endpoints = {stack.ref(name) for name in of_type(stack, "AWS::EC2::VPCEndpoint")}
    assert gateways - {"", "local"} <= endpoints, "only the VPC and the gateway endpoints are routed to"


def _association(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    table = aws("ec2").describe_route_tables(RouteTableIds=[stack.ref(target(properties["RouteTableId"]))])
    associations = {
        item["RouteTableAssociationId"]: item.get("SubnetId") for item in table["RouteTables"][0]["Associations"]
    }
    assert associations[stack.ref(logical_id)] == stack.ref(target(properties["SubnetId"]))


def _normalised_egress(permissions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rules = []
    for permission in permissions:
        for cidr in permission.get("IpRanges", []):
            rules.append(
                (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), cidr["CidrIp"])
            )
        for pair in permission.get("UserIdGroupPairs", []):
            rules.append(
                (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), pair["GroupId"])
            )
    return sorted(rules, key=str)


def _security_group(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    group = aws("ec2").describe_security_groups(GroupIds=[stack.ref(logical_id)])["SecurityGroups"][0]
    template_rules = [
        (str(rule["IpProtocol"]), rule.get("FromPort"), rule.get("ToPort"), rule["CidrIp"])
        for rule in properties.get("SecurityGroupEgress", [])
    ]
    standalone = [
        (str(rule["IpProtocol"]), rule["FromPort"], rule["ToPort"], stack.ref(logical_id))
        for rule in of_type(stack, "AWS::EC2::SecurityGroupEgress").values()
        if target(rule["GroupId"]) == logical_id
    ]
    protocol_rules = [(p, None, None, c) if p == "-1" else (p, f, t, c) for p, f, t, c in template_rules + standalone]
    assert _normalised_egress(group["IpPermissionsEgress"]) == sorted(protocol_rules, key=str)


def _security_group_rule(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    rules = aws("ec2").describe_security_group_rules(SecurityGroupRuleIds=[stack.ref(logical_id)])["SecurityGroupRules"]
    assert rules[0]["GroupId"] == stack.get_att(target(properties["GroupId"]), "GroupId")


def _subnet(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    subnet = aws("ec2").describe_subnets(SubnetIds=[stack.ref(logical_id)])["Subnets"][0]
    assert subnet["MapPublicIpOnLaunch"] is False


def _vpc(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    ec2 = aws("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[stack.ref(logical_id)])["Vpcs"][0]
    assert vpc["CidrBlock"] == stack.parameters["VpcCidr"]
    hostnames = ec2.describe_vpc_attribute(VpcId=stack.ref(logical_id), Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"]["Value"] is True


def _vpc_endpoint(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    endpoint = aws("ec2").describe_vpc_endpoints(VpcEndpointIds=[stack.ref(logical_id)])["VpcEndpoints"][0]
    assert endpoint["ServiceName"].endswith(properties["ServiceName"]["Fn::Sub"].rsplit("}.", 1)[1])


def _rule(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    events = aws("events")
    events.describe_rule(Name=stack.ref(logical_id))
    targets = events.list_targets_by_rule(Rule=stack.ref(logical_id))["Targets"]
    assert [item["Id"] for item in targets] == [item["Id"] for item in properties["Targets"]]


def _managed_policy(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    aws("iam").get_policy(PolicyArn=stack.ref(logical_id))


def _role(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    role = aws("iam").get_role(RoleName=stack.ref(logical_id))["Role"]
    names = {name for name, _ in stack.role_policy_documents(role["Arn"])}
    assert {policy["PolicyName"] for policy in properties.get("Policies", [])} <= names
    assert len(names) == len(properties.get("Policies", [])) + len(properties.get("ManagedPolicyArns", []))


def _alias(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    aliases = {alias["AliasName"]: alias.get("TargetKeyId") for alias in aws("kms").list_aliases()["Aliases"]}
    assert aliases[stack.ref(logical_id)] == stack.ref(target(properties["TargetKeyId"]))


def _key(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    metadata = aws("kms").describe_key(KeyId=stack.ref(logical_id))["KeyMetadata"]
    assert metadata["KeySpec"] == properties.get("KeySpec", "SYMMETRIC_DEFAULT")
    assert metadata["KeyUsage"] == properties.get("KeyUsage", "ENCRYPT_DECRYPT")


def _function(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    configuration = aws("lambda").get_function(FunctionName=stack.ref(logical_id))["Configuration"]
    assert configuration["Architectures"] == properties["Architectures"]
    assert configuration["TracingConfig"] == properties["TracingConfig"]
    assert configuration["KMSKeyArn"] == stack.get_att("KmsKey", "Arn")
    assert [layer["Arn"] for layer in configuration["Layers"]] == [
        stack.ref(target(layer)) for layer in properties["Layers"]
    ]


def _layer(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    *_, name, version = stack.ref(logical_id).split(":")  # moto lacks GetLayerVersionByArn
    layer = aws("lambda").get_layer_version(LayerName=name, VersionNumber=int(version))
    assert layer["CompatibleArchitectures"] == properties["CompatibleArchitectures"]


def _permission(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    policy = json.loads(aws("lambda").get_policy(FunctionName=stack.ref(target(properties["FunctionName"])))["Policy"])
    assert stack.ref(logical_id) in {statement["Sid"] for statement in policy["Statement"]}


def _log_group(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=stack.ref(logical_id))["logGroups"]
    group = next(item for item in groups if item["logGroupName"] == stack.ref(logical_id))
    assert group["kmsKeyId"] == stack.get_att("KmsKey", "Arn")
    assert group["retentionInDays"] == int(stack.parameters["LogRetentionDays"])


def _bucket(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    s3 = aws("s3")
    bucket = stack.ref(logical_id)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == properties["VersioningConfiguration"]["Status"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == stack.get_att("KmsKey", "Arn")
    assert rules[0]["BucketKeyEnabled"] is True


def _bucket_policy(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    policy = aws("s3").get_bucket_policy(Bucket=stack.ref(target(properties["Bucket"])))["Policy"]
    assert sids(policy) == sids(properties["PolicyDocument"])


def _subscription(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    found = aws("sns").list_subscriptions_by_topic(TopicArn=stack.ref(target(properties["TopicArn"])))
    assert stack.ref(logical_id) in {item["SubscriptionArn"] for item in found["Subscriptions"]}


def _topic(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    attributes = aws("sns").get_topic_attributes(TopicArn=stack.ref(logical_id))["Attributes"]
    assert attributes["KmsMasterKeyId"] == stack.get_att("KmsKey", "Arn")


def _queue(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    attributes = aws("sqs").get_queue_attributes(QueueUrl=stack.ref(logical_id), AttributeNames=["All"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == stack.get_att("KmsKey", "Arn")
    assert attributes["MessageRetentionPeriod"] == str(properties["MessageRetentionPeriod"])


def _queue_policy(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    for queue in properties["Queues"]:
        attributes = aws("sqs").get_queue_attributes(QueueUrl=stack.ref(target(queue)), AttributeNames=["Policy"])
        assert sids(attributes["Attributes"]["Policy"]) == sids(properties["PolicyDocument"])


def _secret(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    secret = aws("secretsmanager").describe_secret(SecretId=stack.ref(logical_id))
    assert secret["KmsKeyId"] == stack.get_att(target(properties["KmsKeyId"]), "Arn")


def _state_machine(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    described = aws("stepfunctions").describe_state_machine(stateMachineArn=stack.ref(logical_id))
    assert "${" not in described["definition"]
    assert described["roleArn"] == stack.get_att(target(properties["RoleArn"]), "Arn")


def _trail(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    cloudtrail = aws("cloudtrail")
    (trail,) = cloudtrail.describe_trails(trailNameList=[stack.ref(logical_id)])["trailList"]
    assert trail["S3BucketName"] == stack.ref(target(properties["S3BucketName"]))
    assert trail["KmsKeyId"] == stack.get_att("KmsKey", "Arn")
    assert trail["LogFileValidationEnabled"] is True
    assert cloudtrail.get_trail_status(Name=stack.ref(logical_id))["IsLogging"] is True
    (selector,) = cloudtrail.get_event_selectors(TrailName=stack.ref(logical_id))["EventSelectors"]
    # Writes to the data prefix only, no management events
    assert (selector["ReadWriteType"], selector["IncludeManagementEvents"]) == ("WriteOnly", False)
    ((resource_type, values),) = [(r["Type"], r["Values"]) for r in selector["DataResources"]]
    assert resource_type == "AWS::S3::Object"
    assert values == [f"arn:aws:s3:::{stack.ref('DataBucket')}/{stack.parameters['DataPrefix']}"]


def _schedule(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    schedule = aws("scheduler").get_schedule(Name=stack.ref(logical_id))
    assert schedule["Arn"] == stack.get_att(logical_id, "Arn")
    expression = stack.parameters[target(properties["ScheduleExpression"])]
    assert (schedule["ScheduleExpression"], schedule["State"]) == (expression, "ENABLED")
    assert schedule["FlexibleTimeWindow"] == properties["FlexibleTimeWindow"]
    assert schedule["Target"]["Arn"] == stack.get_att(target(properties["Target"]["Arn"]), "Arn")
    assert schedule["Target"]["RoleArn"] == stack.get_att(target(properties["Target"]["RoleArn"]), "Arn")
    assert schedule["Target"]["Input"] == properties["Target"]["Input"]


def _state_machine_version(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    sfn = aws("stepfunctions")
    version = sfn.describe_state_machine(stateMachineArn=stack.ref(logical_id))
    machine = sfn.describe_state_machine(stateMachineArn=stack.ref(target(properties["StateMachineArn"])))
    # The published version holds the deployed definition (the revision the template names).
    assert stack.ref(logical_id).startswith(machine["stateMachineArn"] + ":")
    assert version["definition"] == machine["definition"]


def _state_machine_alias(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    alias = aws("stepfunctions").describe_state_machine_alias(stateMachineAliasArn=stack.ref(logical_id))
    assert alias["name"] == properties["Name"]
    version = stack.ref(target(properties["DeploymentPreference"]["StateMachineVersionArn"]))
    assert [(r["stateMachineVersionArn"], r["weight"]) for r in alias["routingConfiguration"]] == [(version, 100)]


def _web_acl(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    name, acl_id, scope = stack.ref(logical_id).split("|")
    acl = aws("wafv2").get_web_acl(Name=name, Scope=scope, Id=acl_id)["WebACL"]
    assert acl["VisibilityConfig"]["SampledRequestsEnabled"] is True
    assert acl["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    assert [rule["Name"] for rule in acl["Rules"]] == [rule["Name"] for rule in properties["Rules"]]


def _web_acl_association(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    resource_arn, acl_arn = stack.ref(logical_id).split("|")
    assert aws("wafv2").get_web_acl_for_resource(ResourceArn=resource_arn)["WebACL"]["ARN"] == acl_arn


def _waf_logging(stack: ParityStack, logical_id: str, properties: dict[str, Any]) -> None:
    configuration = aws("wafv2").get_logging_configuration(ResourceArn=stack.ref(logical_id))["LoggingConfiguration"]
    (destination,) = configuration["LogDestinationConfigs"]
    assert destination.rsplit(":", 1)[-1].startswith("aws-waf-logs-")


PROBES: dict[str, Probe] = {
    "AWS::ApiGateway::Deployment": _deployment,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::ApiGateway::Stage": _stage,
    "AWS::CloudTrail::Trail": _trail,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Cognito::UserPoolGroup": _user_pool_group,
    "AWS::Cognito::UserPoolDomain": _user_pool_domain,
    "AWS::DynamoDB::Table": _table,
    "AWS::EC2::FlowLog": _flow_log,
    "AWS::EC2::RouteTable": _route_table,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::SecurityGroupEgress": _security_group_rule,
    "AWS::EC2::SecurityGroupIngress": _security_group_rule,
    "AWS::EC2::Subnet": _subnet,
    "AWS::EC2::SubnetRouteTableAssociation": _association,
    "AWS::EC2::VPC": _vpc,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::Events::Rule": _rule,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::IAM::Role": _role,
    "AWS::KMS::Alias": _alias,
    "AWS::KMS::Key": _key,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::LayerVersion": _layer,
    "AWS::Lambda::Permission": _permission,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::StepFunctions::StateMachineAlias": _state_machine_alias,
    "AWS::StepFunctions::StateMachineVersion": _state_machine_version,
    "AWS::WAFv2::LoggingConfiguration": _waf_logging,
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::WAFv2::WebACLAssociation": _web_acl_association,
}


def test_every_resource_whose_condition_holds_is_deployed(parity_stack: ParityStack) -> None:
    # Given the transformed template and the default parameters (no approval e-mail, a VPC of our own)
    resources = parity_stack.template["Resources"]
    # When the deployed logical ids are compared with the template's
    left_out = {
        logical_id: resources[logical_id].get("Condition")
        for logical_id in set(resources) - set(parity_stack.physical_ids)
    }
    # Then only resources whose condition is false are missing, and every Ref value is a real id
    assert left_out == {"ApprovalEmailSubscription": "HasApprovalEmail"}
    assert all(parity_stack.physical_ids.values())


def test_every_resource_exists_in_moto_as_the_template_describes_it(parity_stack: ParityStack) -> None:
    # Given every deployed resource and one look-up per type through that service's API
    problems: dict[str, str] = {}
    for logical_id, resource in sorted(parity_stack.template["Resources"].items()):
        if logical_id not in parity_stack.physical_ids:
            continue
        probe = PROBES.get(resource["Type"])
        # When it is looked up
        if probe is None:
            problems[logical_id] = f"no look-up for {resource['Type']}: add one to PROBES"
            continue
        try:
            probe(parity_stack, logical_id, resource.get("Properties", {}))
        except (AssertionError, ClientError, KeyError, IndexError, StopIteration) as exc:
            problems[logical_id] = f"{type(exc).__name__}: {exc}"
    # Then it is there, configured as the template says
    assert problems == {}


def test_moto_made_resources_are_the_stack_resources_moto_reports(parity_stack: ParityStack) -> None:
    # Given moto's own list of what its CloudFormation created
    cloudformation = aws("cloudformation")
    reported = {
        item["LogicalResourceId"]: item.get("PhysicalResourceId", "")
        for item in cloudformation.describe_stack_resources(StackName=parity_stack.name)["StackResources"]
    }
    # When it is compared with the stack's record of physical ids (ingress rules: moto reports no id)
    moto_made = {
        logical_id: physical_id
        for logical_id, physical_id in parity_stack.physical_ids.items()
        if logical_id not in parity_stack.provisioned_by_harness
    }
    ingress = set(of_type(parity_stack, "AWS::EC2::SecurityGroupIngress"))
    # Then the two agree on every resource and every id
    assert set(reported) == set(moto_made)
    assert {key: value for key, value in reported.items() if key not in ingress} == {
        key: value for key, value in moto_made.items() if key not in ingress
    }


def test_provisioned_by_harness_lists_exactly_the_types_moto_does_not_create(parity_stack: ParityStack) -> None:
    # Given what moto's CloudFormation created
    created_by_moto = {
        item["LogicalResourceId"]
        for item in aws("cloudformation").describe_stack_resources(StackName=parity_stack.name)["StackResources"]
    }
    resources = parity_stack.template["Resources"]
    # When the harness's list is compared with it and with the documented tables
    harness = parity_stack.provisioned_by_harness
    # Then every deployed resource was made by exactly one of them, for a documented reason
    assert set(harness).isdisjoint(created_by_moto)
    assert set(harness) | created_by_moto == set(parity_stack.physical_ids)
    for logical_id, kind in harness.items():
        assert resources[logical_id]["Type"] == kind
        conditional = HARNESS_PROVISIONED_WHEN.get(kind)
        assert kind in HARNESS_PROVISIONED or (conditional and conditional[0](resources[logical_id]["Properties"]))
    assert not {resources[logical_id]["Type"] for logical_id in created_by_moto} & set(HARNESS_PROVISIONED)


def test_the_hmac_key_is_made_by_the_harness_and_the_encryption_key_by_moto(parity_stack: ParityStack) -> None:
    # Given the template's two KMS keys (an encryption key and the audit ledger's HMAC key)
    keys = of_type(parity_stack, "AWS::KMS::Key")
    # When their origin and key spec are read back
    specs = {
        logical_id: aws("kms").describe_key(KeyId=parity_stack.ref(logical_id))["KeyMetadata"]["KeySpec"]
        for logical_id in keys
    }
    # Then only the HMAC key needed the harness, and both are what the template asks for
    assert specs == {
        logical_id: properties.get("KeySpec", "SYMMETRIC_DEFAULT") for logical_id, properties in keys.items()
    }
    assert {logical_id for logical_id in keys if logical_id in parity_stack.provisioned_by_harness} == {
        logical_id
        for logical_id, properties in keys.items()
        if properties.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
    }


def test_object_locked_buckets_keep_their_compliance_retention(parity_stack: ParityStack) -> None:
    # Given the buckets the template puts under Object Lock
    locked = {
        logical_id: p
        for logical_id, p in of_type(parity_stack, "AWS::S3::Bucket").items()
        if p.get("ObjectLockEnabled")
    }
    if not locked:
        pytest.skip("template.yaml has no Object Lock bucket")
    for logical_id, properties in locked.items():
        # When the lock configuration is read back
        lock = aws("s3").get_object_lock_configuration(Bucket=parity_stack.ref(logical_id))["ObjectLockConfiguration"]
        # Then every new object version is retained in compliance mode for the configured days
        retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        assert lock["Rule"]["DefaultRetention"]["Mode"] == retention["Mode"]
        assert lock["Rule"]["DefaultRetention"]["Days"] == int(parity_stack.parameters[target(retention["Days"])])


def test_data_bucket_sends_object_events_to_eventbridge(parity_stack: ParityStack) -> None:
    # Given the bucket whose new objects trigger training
    bucket = parity_stack.outputs["DataBucketName"]
    # When its notification configuration is read back (from moto's model: moto's
    # GetBucketNotificationConfiguration leaves EventBridgeConfiguration out of its answer)
    from moto.s3.models import s3_backends

    configuration = s3_backends[parity_stack.account_id]["aws"].get_bucket(bucket).notification_configuration
    # Then EventBridge receives its events (the DatasetCreated rule matches on them)
    assert configuration is not None
    assert configuration.event_bridge == {}


def test_rules_target_their_functions_with_retries_and_a_dead_letter_queue(parity_stack: ParityStack) -> None:
    # Given the EventBridge rules SAM made from the functions' events
    dead_letters = parity_stack.get_att("TriggerEventsDeadLetterQueue", "Arn")
    assert parity_stack.rules
    for rule in parity_stack.rules.values():
        template_targets = parity_stack.template["Resources"][rule.logical_id]["Properties"]["Targets"]
        # When their targets are read from moto's EventBridge
        deployed = {item["Id"]: item for item in rule.targets}
        # Then each target is the deployed function, retried and dead-lettered as the template says
        for expected in template_targets:
            item = deployed[expected["Id"]]
            assert item["Arn"] == parity_stack.functions[target(expected["Arn"])].arn
            assert item["DeadLetterConfig"]["Arn"] == dead_letters
            assert item["RetryPolicy"] == expected["RetryPolicy"]
        assert "Ref" not in json.dumps(rule.pattern)


def test_state_machine_is_the_template_definition_with_every_substitution_resolved(parity_stack: ParityStack) -> None:
    # Given the state machine resource and its DefinitionSubstitutions
    ((logical_id, properties),) = of_type(parity_stack, "AWS::StepFunctions::StateMachine").items()
    described = aws("stepfunctions").describe_state_machine(stateMachineArn=parity_stack.state_machine_arn)
    # When the deployed definition is read back from the Step Functions API
    definition = described["definition"]
    # Then no ${...} is left, every function the substitutions name is in it, and the rest matches the template
    assert "${" not in definition
    for name, value in properties["DefinitionSubstitutions"].items():
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in parity_stack.functions:
            assert parity_stack.functions[value["Fn::GetAtt"][0]].arn in definition, name
    assert described["name"] == parity_stack.get_att(logical_id, "Name")
    assert (
        described["roleArn"]
        == parity_stack.state_machine_role_arn
        == parity_stack.get_att("TrainingPipelineRole", "Arn")
    )
    logging = properties["LoggingConfiguration"]
    assert described["loggingConfiguration"]["level"] == logging["Level"]
    assert described["loggingConfiguration"]["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"] == (
        parity_stack.get_att(target(logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]), "Arn")
    )
    assert described["tracingConfiguration"]["enabled"] is properties["TracingConfiguration"]["Enabled"]


def _expected_value(stack: ParityStack, node: Any) -> str:
    """A test-side resolution of the intrinsics environment variables use (Ref, Fn::GetAtt, Fn::Sub)."""
    pseudo = {
        "AWS::Region": stack.region,
        "AWS::AccountId": stack.account_id,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::Partition": "aws",
        "AWS::StackName": stack.name,
    }

    def named(name: str) -> str:
        if name in pseudo:
            return pseudo[name]
        if name in stack.parameters:
            return stack.parameters[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return stack.get_att(logical_id, attribute)
        return stack.ref(name)

    if isinstance(node, str):
        return node
    if "Ref" in node:
        return named(node["Ref"])
    if "Fn::GetAtt" in node:
        return stack.get_att(*node["Fn::GetAtt"])
    if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda match: named(match.group(1)), node["Fn::Sub"])
    if "Fn::If" in node:
        condition, taken, other = node["Fn::If"]
        return _expected_value(stack, taken if _condition_holds(stack, condition) else other)
    if "Fn::Join" in node:
        separator, values = node["Fn::Join"]
        if isinstance(values, dict):  # a CommaDelimitedList parameter's Ref: its items
            return separator.join(item.strip() for item in _expected_value(stack, values).split(","))
        return separator.join(_expected_value(stack, value) for value in values)
    raise AssertionError(f"environment variable uses an intrinsic this test does not resolve: {node}")


def _condition_holds(stack: ParityStack, name: str) -> bool:
    """A template condition (Fn::Equals / Not / And / Or / Condition over parameters), as CloudFormation does."""

    def truth(node: Any) -> Any:
        if isinstance(node, str):
            return node
        if "Ref" in node:
            return stack.parameters[node["Ref"]]
        if "Condition" in node:
            return truth(stack.template["Conditions"][node["Condition"]])
        (function, arguments), *_ = node.items()
        values = [truth(argument) for argument in arguments]
        return {
            "Fn::Equals": lambda: values[0] == values[1],
            "Fn::Not": lambda: not values[0],
            "Fn::And": lambda: all(values),
            "Fn::Or": lambda: any(values),
        }[function]()

    return bool(truth(stack.template["Conditions"][name]))


def test_function_environment_is_the_template_environment_resolved(parity_stack: ParityStack) -> None:
    # Given each function's Environment in the transformed template (Globals merged by SAM)
    assert parity_stack.functions
    for logical_id, function in parity_stack.functions.items():
        variables = parity_stack.template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        # When it is compared with what moto's Lambda holds
        expected = {name: _expected_value(parity_stack, value) for name, value in variables.items()}
        # Then every variable is there, resolved to the deployed resource, with nothing left unresolved
        assert function.environment == expected, logical_id
        assert function.environment["MLOPS_BACKEND"] == "aws"
        assert not any("${" in value or "Fn::" in value or value == "Ref" for value in function.environment.values())


def test_functions_run_the_packaged_code_of_their_code_folder(parity_stack: ParityStack) -> None:
    # Given each function and the code folder its CodeUri names
    s3 = aws("s3")
    for logical_id, function in parity_stack.functions.items():
        code = parity_stack.template["Resources"][logical_id]["Properties"]["Code"]
        # When the packaged zip in the code bucket is read
        body = s3.get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
        # Then it holds the folder's handler module, and the handler names it
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        module = function.handler.split(".")[0] + ".py"
        assert module in names, logical_id
        assert (function.code_dir / module).is_file(), logical_id


def test_roles_carry_their_inline_and_aws_managed_policies(parity_stack: ParityStack) -> None:
    # Given the SageMaker role and the state machine's role
    documents = dict(parity_stack.role_policy_documents(parity_stack.state_machine_role_arn))
    sagemaker = dict(parity_stack.role_policy_documents(parity_stack.sagemaker_role_arn))
    # When their policies are read back from moto's IAM
    # Then the state machine's role has its per-function invoke policies and AWS's X-Ray policy, readable
    assert "AWSXrayWriteOnlyAccess" in documents
    assert any("xray:PutTraceSegments" in json.dumps(document) for document in documents.values())
    assert any("lambda:InvokeFunction" in json.dumps(document) for document in documents.values())
    assert "training-and-processing-jobs" in sagemaker
    assert parity_stack.unknown_managed_policies == {}


def test_outputs_are_resolved(parity_stack: ParityStack) -> None:
    # Given the template's Outputs
    declared = parity_stack.template["Outputs"]
    # When the stack's outputs are read
    outputs = parity_stack.outputs
    # Then each is a plain value pointing at the deployed resources
    assert set(outputs) == set(declared)
    assert outputs["TrainingPipelineArn"] == parity_stack.state_machine_arn
    assert outputs["ApproverUserPoolId"] == parity_stack.user_pool_id
    assert outputs["ApproverUserPoolClientId"] == parity_stack.user_pool_client_id
    assert (
        outputs["ApprovalApiUrl"]
        == f"https://{parity_stack.api_id}.execute-api.{REGION}.amazonaws.com/{parity_stack.api_stage}"
    )


#: Routes that must be reachable without a session: the sign-in round trip itself.
SIGN_IN_ROUTES = {
    ("GET", "/auth/login"),
    ("GET", "/auth/callback"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/signed-out"),
}


def test_approval_routes_sit_behind_the_session_authorizer_and_sign_in_routes_are_open(
    parity_stack: ParityStack,
) -> None:
    # Given the routes parsed from the RestApi Body
    apigateway = aws("apigateway")
    authorizers = {item["id"]: item for item in apigateway.get_authorizers(restApiId=parity_stack.api_id)["items"]}
    resources = {item["path"]: item for item in apigateway.get_resources(restApiId=parity_stack.api_id)["items"]}
    assert {(r.method, r.path) for r in parity_stack.api_routes} >= SIGN_IN_ROUTES
    for route in parity_stack.api_routes:
        # When the deployed method and integration are read from moto's API Gateway
        method = apigateway.get_method(
            restApiId=parity_stack.api_id, resourceId=resources[route.path]["id"], httpMethod=route.method
        )
        assert parity_stack.functions[route.function_logical_id].arn in method["methodIntegration"]["uri"]
        if (route.method, route.path) in SIGN_IN_ROUTES:
            # Then the sign-in routes call the login function with no authorizer
            assert route.function_logical_id == "ApprovalLoginFunction"
            assert (route.authorizer, method["authorizationType"]) == (None, "NONE")
            continue
        # Then every other route calls its function through the Lambda REQUEST authorizer (no caching)
        assert route.function_logical_id == "ApprovalApiFunction"
        assert route.authorizer is not None
        assert method["authorizationType"] == "CUSTOM"
        authorizer = authorizers[method["authorizerId"]]
        assert (authorizer["name"], authorizer["type"]) == (route.authorizer, "REQUEST")
        assert parity_stack.functions["ApproverAuthorizerFunction"].arn in authorizer["authorizerUri"]
        assert authorizer["authorizerResultTtlInSeconds"] == 0
        assert parity_stack.api_authorizer_functions[route.authorizer] == "ApproverAuthorizerFunction"


def test_the_access_log_records_the_authorizers_principal(parity_stack: ParityStack) -> None:
    stage = aws("apigateway").get_stage(restApiId=parity_stack.api_id, stageName=parity_stack.api_stage)
    assert '"user":"$context.authorizer.principalId"' in stage["accessLogSettings"]["format"]


def test_an_approver_signs_in_with_srp_and_totp_and_gets_an_id_token_with_the_group(parity_stack: ParityStack) -> None:
    # Given an approver created by an administrator with a permanent password, in the approvers group
    cognito = aws("cognito-idp")
    username, password = "parity.approver.srp", "Correct-Horse-Battery-9"
    cognito.admin_create_user(UserPoolId=parity_stack.user_pool_id, Username=username, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=parity_stack.user_pool_id, Username=username, Password=password, Permanent=True
    )
    group = parity_stack.ref("ApproverGroupResource")
    cognito.admin_add_user_to_group(UserPoolId=parity_stack.user_pool_id, Username=username, GroupName=group)
    # When they sign in (SRP), enrolling an authenticator at the first sign-in (the pool requires MFA)
    authenticators: dict[str, str] = {}
    first = parity_stack.sign_in(username, password, authenticators=authenticators, totp=totp_code)
    # Then a second sign-in needs the authenticator's current code, and a wrong code is refused
    again = parity_stack.sign_in(username, password, authenticators=authenticators, totp=totp_code)
    with pytest.raises(ClientError, match="CodeMismatch"):
        parity_stack.sign_in(username, password, authenticators=authenticators, totp=lambda _: "000000")
    # And the ID token is signed with the pool's published key, for the client, and names the approvers' group
    issuer = parity_stack.get_att("ApproverUserPool", "ProviderURL")
    keys = KeySet.import_key_set(requests.get(f"{issuer}/.well-known/jwks.json", timeout=5).json())
    for tokens in (first, again):
        claims = jwt.decode(tokens["IdToken"], keys).claims
        assert claims["iss"] == issuer
        assert claims["aud"] == parity_stack.user_pool_client_id
        assert claims["token_use"] == "id"
        assert group in claims["cognito:groups"]
    assert list(authenticators) == [username]


def test_a_template_with_a_dependency_cycle_is_refused_before_anything_is_created(
    parity_aws: None, tmp_path: Path
) -> None:
    # Given a template whose two topics name each other (CloudFormation: "Circular dependency between resources")
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  First:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !GetAtt Second.TopicName\n"
        "  Second:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !GetAtt First.TopicName\n",
        encoding="utf-8",
    )
    # When it is deployed
    with pytest.raises(CircularDependencyError) as refused:
        deploy_parity_stack(template, stack_name="parity-cycle", parameters={})
    # Then the cycle is named with the properties that close it, and no stack was created
    assert refused.value.cycles == [["First", "Second"]]
    assert "First.DisplayName -> Second.DisplayName -> First" in str(refused.value)
    stacks = aws("cloudformation").list_stacks()["StackSummaries"]
    assert "parity-cycle" not in {stack["StackName"] for stack in stacks}


def test_a_parameter_without_default_must_be_given(parity_aws: None) -> None:
    # Given the real template and every parameter but TrainingImage
    from tests.parity.conftest import TEMPLATE

    parameters = {key: value for key, value in PARITY_PARAMETERS.items() if key != "TrainingImage"}
    # When it is deployed, Then CloudFormation's refusal is reproduced before anything is created
    with pytest.raises(ParameterError, match=r"\['TrainingImage'\] must have values"):
        deploy_parity_stack(TEMPLATE, stack_name="parity-missing-parameter", parameters=parameters)


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        # One instance: no canary or linear step can be at most half of the new fleet
        ({"EndpointInstanceCount": "1"}, r"TrafficShiftNeedsTwoInstances - .*EndpointInstanceCount to 2 or more"),
        (
            {"TrafficShiftType": "ALL_AT_ONCE"},
            r"TrafficShiftType' must be one of AllowedValues \['CANARY', 'LINEAR'\]",
        ),
        ({"CanaryPercent": "60"}, r"CanaryPercent' .*not greater than 50"),
        ({"LinearStepPercent": "5"}, r"LinearStepPercent' .*not less than 10"),
        ({"CanaryBakeSeconds": "3601"}, r"CanaryBakeSeconds' .*not greater than 3600"),
        ({"TerminationWaitSeconds": "-1"}, r"TerminationWaitSeconds' .*not less than 0"),
        ({"CanaryMinRows": "0"}, r"CanaryMinRows' .*not less than 1"),
    ],
)
def test_a_rollout_sagemaker_would_refuse_is_refused_at_deploy_time_by_name(
    parity_aws: None, overrides: dict[str, str], refusal: str
) -> None:
    from tests.parity.conftest import TEMPLATE

    # When the real template is deployed with a traffic shift outside SageMaker's blue/green rules
    with pytest.raises(ParameterError, match=refusal):
        deploy_parity_stack(TEMPLATE, stack_name="parity-bad-rollout", parameters={**PARITY_PARAMETERS, **overrides})
    # Then nothing was created
    stacks = aws("cloudformation").list_stacks()["StackSummaries"]
    assert "parity-bad-rollout" not in {stack["StackName"] for stack in stacks}
