"""The data perimeter on the parity stack: VPC endpoint policies and the buckets' network condition.

One pipeline run (a push to main, approved by two approvers, deployed) is recorded; every call it makes is
judged by the IAM checker with the stack's network (:mod:`tests.parity.perimeter`): a call from the private
subnets goes through its service's endpoint, whose deployed policy must allow it, and carries the endpoint's
id as ``aws:SourceVpce``. The same calls are then moved off the perimeter - to a resource outside the stack,
to a principal of another account, or out of the VPC - and must be refused.

Bucket policies are evaluated by the checker, not by moto: moto 5.2.5 evaluates a bucket policy's conditions
only for ``StringEquals`` (tests/parity/test_iam_checker.py pins it), so ``aws:SourceVpce`` with
``StringNotEquals`` would deny every request there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.parity.iam import ApiCall, IamChecker, RequiredPermission
from tests.parity.perimeter import StackNetwork
from tests.parity.world import World, iam_checker, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]

OTHER_ACCOUNT = "999999999999"
NETWORK_SID = "DenyObjectAccessOutsideTheStacksNetwork"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity"), "gm-perimeter") as active:
        yield active


@pytest.fixture(scope="module")
def run_calls(world: World) -> list[ApiCall]:
    """Every call of one run: a push to main, approved by two approvers, deployed."""
    world.seed_dataset()
    mark = world.mark()
    deliveries = world.push()
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    (run,) = deliveries[0].result["runs"]
    link = world.approval_link(str(run["execution_arn"]))
    assert world.decide(link, "carol.approver", "approve")[0] == 202
    assert world.decide(link, "dave.risk", "approve")[0] == 200
    described = world.runtime.wait(str(run["execution_arn"]))
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return world.calls_since(mark)


@pytest.fixture(scope="module")
def network(world: World) -> StackNetwork:
    return StackNetwork(world.stack)


def routed(checker: IamChecker, calls: list[ApiCall]) -> list[tuple[ApiCall, RequiredPermission]]:
    """(call, own permission) of every call that goes through a VPC endpoint."""
    return [(c, p) for c in calls for p in checker.required(c) if p.endpoint is not None]


def _foreign(resource: str) -> str:
    """The same kind of resource, not the stack's: another bucket, or the same ARN in another account."""
    if resource.startswith("arn:aws:s3:::"):
        return re.sub(r"^arn:aws:s3:::[^/]+", "arn:aws:s3:::another-teams-bucket", resource)
    parts = resource.split(":", 5)
    parts[4] = OTHER_ACCOUNT
    return ":".join(parts)


def test_every_endpoint_has_a_policy_for_this_accounts_principals(world: World, network: StackNetwork) -> None:
    # Given the stack's VPC endpoints as moto's EC2 describes them
    assert len(network.endpoints) == 15
    image_registries = {world.stack.parameters[p].split(".", 1)[0] for p in ("TrainingImage", "ProcessingImage")}
    for service, endpoint in network.endpoints.items():
        ((_, policy),) = network.policies(endpoint)
        for statement in policy["Statement"]:
            # Then every Allow is for this account's principals, except the image pull (ECR and its layer bucket)
            assert statement["Effect"] == "Allow", (service, statement)
            condition = statement.get("Condition", {}).get("StringEquals", {})
            if condition.get("aws:PrincipalAccount") == world.stack.account_id:
                continue
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if service == "s3":
                assert resources == [f"arn:aws:s3:::prod-{world.stack.region}-starport-layer-bucket/*"]
                assert statement["Action"] == "s3:GetObject"
            else:
                assert service in {"ecr.api", "ecr.dkr"}, (service, statement)
                assert (
                    statement["Action"] == "ecr:GetAuthorizationToken"
                    or {r.split(":")[4] for r in resources} == image_registries
                ), statement


def test_the_runs_calls_are_allowed_through_the_endpoints(world: World, run_calls: list[ApiCall]) -> None:
    # Given every call of a run judged with the network: identity, bucket and endpoint policies
    world.checker.assert_all_allowed(run_calls)
    # Then the run really went through the endpoints (the check was not vacuous)
    through = Counter(p.endpoint for _, p in routed(world.checker, run_calls))
    by_service = {service: through[endpoint] for service, endpoint in StackNetwork(world.stack).endpoints.items()}
    print(f"\nowned permissions checked per endpoint in one run: {by_service}")
    for service in ("s3", "dynamodb", "kms", "states", "sns", "secretsmanager", "sagemaker.api", "codecommit"):
        assert by_service[service] > 0, service


def test_the_same_calls_on_resources_outside_the_stack_are_refused_at_the_endpoint(
    world: World, run_calls: list[ApiCall]
) -> None:
    # Given each permission the run used through an endpoint, moved to the same kind of resource outside the stack
    moved = [
        (call, dataclasses.replace(permission, resource=_foreign(permission.resource)))
        for call, permission in routed(world.checker, run_calls)
        if permission.resource != "*"
    ]
    assert len(moved) > 100
    print(f"\n{len(moved)} endpoint permissions of the run moved to resources outside the stack")
    # Then the endpoint's policy refuses every one
    allowed = [f"{p.action} {p.resource}" for c, p in moved if world.checker.endpoint_decision(c, p).allowed]
    assert allowed == []


def test_another_accounts_principal_is_refused_at_the_endpoint(world: World, run_calls: list[ApiCall]) -> None:
    # Given the run's permissions asked through the stack's endpoints by a principal of another account
    moved = [
        (call, dataclasses.replace(permission, context={**permission.context, "aws:PrincipalAccount": OTHER_ACCOUNT}))
        for call, permission in routed(world.checker, run_calls)
    ]
    # Then none gets through, the stack's own resources included
    assert [f"{p.action} {p.resource}" for c, p in moved if world.checker.endpoint_decision(c, p).allowed] == []


def _outside_the_vpc(world: World) -> IamChecker:
    """The stack's checker, with every call arriving at a public endpoint (no aws:SourceVpce)."""
    return iam_checker(world.stack, world.stack.role_policy_documents, network=lambda _call: None)


def test_the_buckets_refuse_the_runs_object_requests_from_outside_the_endpoint(
    world: World, run_calls: list[ApiCall]
) -> None:
    sagemaker_role = world.stack.sagemaker_role_arn
    s3_calls = [c for c in run_calls if c.service == "s3" and c.principal != sagemaker_role]
    assert {c.operation for c in s3_calls} >= {"GetObject", "PutObject", "ListObjectVersions"}
    # Given the run's S3 requests by the functions, sent from outside the stack's VPC (stolen credentials)
    decisions = [
        d for c in s3_calls for d in _outside_the_vpc(world).decide(c) if d.permission.action.startswith("s3:")
    ]
    # Then each bucket policy refuses them by its network statement
    refused = [d for d in decisions if not d.allowed and NETWORK_SID in d.explanation]
    print(f"\n{len(refused)} of {len(decisions)} S3 permissions refused from outside the endpoint")
    assert len(refused) == len(decisions) > 0, [d.explanation for d in decisions if d not in refused][:3]


def test_the_sagemaker_role_reaches_the_artifacts_from_outside_the_vpc(world: World, run_calls: list[ApiCall]) -> None:
    # Given the jobs' S3 requests (as the SageMaker execution role) arriving from outside the VPC, as
    # SageMaker's control plane makes them (CreateModel reads the model data)
    jobs = [c for c in run_calls if c.service == "s3" and c.principal == world.stack.sagemaker_role_arn]
    assert jobs
    # Then the bucket policy lets that role through (its own policy keeps it to the artifacts bucket)
    assert _outside_the_vpc(world).failures(jobs) == []


def test_the_bucket_network_statement_names_the_stacks_endpoint(world: World, network: StackNetwork) -> None:
    s3 = world.client("s3")
    for logical_id in ("DataBucket", "ArtifactsBucket", "AuditBucket", "AccessLogsBucket"):
        policy = json.loads(s3.get_bucket_policy(Bucket=world.stack.ref(logical_id))["Policy"])
        (statement,) = [s for s in policy["Statement"] if s.get("Sid") == NETWORK_SID]
        assert statement["Condition"]["StringNotEquals"]["aws:SourceVpce"] == [network.endpoints["s3"]]
        assert statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [world.stack.sagemaker_role_arn]
        # No DeployRoleArns on the parity stack: the ArnNotLike key is left out, not given an empty pattern
        assert "ArnNotLike" not in statement["Condition"]


def _pull(world: World, network: StackNetwork, service: str, action: str, resource: str) -> tuple[Any, ...]:
    call = ApiCall(world.stack.sagemaker_role_arn, "ecr", action.split(":")[1], {}, world.stack.region)
    context = {"aws:PrincipalArn": call.principal, "aws:PrincipalAccount": world.stack.account_id}
    endpoint = network.endpoints[service]
    return call, RequiredPermission(action, resource, context, "call", frozenset({"aws:principalaccount"}), endpoint)


@pytest.mark.parametrize("service", ["ecr.api", "ecr.dkr"])
def test_the_jobs_image_pull_passes_the_ecr_endpoints_and_no_other_registry(
    world: World, network: StackNetwork, service: str
) -> None:
    # Given the pull a training job's host makes for TrainingImage (synthesized from the parameter: the parity
    # SageMaker runs the job scripts in-process, it pulls no image)
    image = world.stack.parameters["TrainingImage"]
    registry, _, rest = image.partition(".dkr.ecr.")
    repository = rest.split("/", 1)[1].split(":")[0]
    region = world.stack.region
    allowed = [
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchGetImage", f"arn:aws:ecr:{region}:{registry}:repository/{repository}"),
        ("ecr:GetDownloadUrlForLayer", f"arn:aws:ecr:{region}:{registry}:repository/{repository}"),
    ]
    for action, resource in allowed:
        assert world.checker.endpoint_decision(*_pull(world, network, service, action, resource)).allowed, action
    # When the same host pulls from another registry, the endpoint refuses it
    elsewhere = f"arn:aws:ecr:{region}:{OTHER_ACCOUNT}:repository/{repository}"
    assert not world.checker.endpoint_decision(*_pull(world, network, service, "ecr:BatchGetImage", elsewhere)).allowed


def test_image_layers_come_from_ecrs_bucket_and_no_other(world: World, network: StackNetwork) -> None:
    layers = f"arn:aws:s3:::prod-{world.stack.region}-starport-layer-bucket/layer-digest"
    call, permission = _pull(world, network, "s3", "s3:GetObject", layers)
    # ECR's presigned layer URLs are not requests of this account's principals
    permission = dataclasses.replace(permission, action="s3:GetObject", context={})
    assert world.checker.endpoint_decision(call, permission).allowed
    other = dataclasses.replace(permission, resource="arn:aws:s3:::prod-us-east-1-another-bucket/x")
    assert not world.checker.endpoint_decision(call, other).allowed
