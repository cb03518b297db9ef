"""The stack's network as the IAM checker sees it: which calls leave the private subnets through which endpoint.

A function with a ``VpcConfig`` and the SageMaker jobs (every job request carries the private subnets) run
in the private subnets, which have no route to the internet: each of their calls reaches AWS through the
stack's VPC endpoint for that service, whose policy AWS evaluates as well, and S3 sees the gateway
endpoint's id as ``aws:SourceVpce``. Functions without a ``VpcConfig`` (the sign-in functions) and the
services acting with their own roles (Step Functions) use the public endpoints.

:class:`StackNetwork` reads all of it from the deployed stack: the functions' ``VpcConfig`` from the
transformed template, the endpoints and their policies from moto's EC2 (``DescribeVpcEndpoints``), so a
policy the deployment dropped or changed is what the checker evaluates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import boto3

from tests.parity.iam import ApiCall, NoRouteError
from tests.parity.stack import HARNESS_CREDENTIALS, ParityStack

#: botocore service name -> the VPC endpoint service it is reached through (com.amazonaws.<region>.<name>).
ENDPOINT_SERVICES: Final[Mapping[str, str]] = {
    "s3": "s3",
    "dynamodb": "dynamodb",
    "sagemaker": "sagemaker.api",
    "sagemaker-runtime": "sagemaker.runtime",
    "sts": "sts",
    "logs": "logs",
    "cloudwatch": "monitoring",
    "kms": "kms",
    "stepfunctions": "states",
    "events": "events",
    "sns": "sns",
    "secretsmanager": "secretsmanager",
    "ecr": "ecr.api",
    "codecommit": "codecommit",
    "sqs": "sqs",
    "lambda": "lambda",
    "cognito-idp": "cognito-idp",
}


class StackNetwork:
    """``network(call)`` and ``policies(endpoint_id)`` for :class:`tests.parity.iam.IamChecker`."""

    def __init__(self, stack: ParityStack) -> None:
        ec2 = boto3.client("ec2", region_name=stack.region, **HARNESS_CREDENTIALS)
        vpc = stack.ref("Vpc")
        described = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
        prefix = f"com.amazonaws.{stack.region}."
        #: endpoint service (``s3``, ``sagemaker.api``, ...) -> endpoint id
        self.endpoints: dict[str, str] = {}
        self._policies: dict[str, dict[str, Any]] = {}
        for endpoint in described:
            service = str(endpoint["ServiceName"]).removeprefix(prefix)
            if service in self.endpoints:
                raise RuntimeError(f"two endpoints for {service} in {vpc}: requests would take either")
            self.endpoints[service] = endpoint["VpcEndpointId"]
            document = endpoint.get("PolicyDocument")
            self._policies[endpoint["VpcEndpointId"]] = json.loads(document) if isinstance(document, str) else {}
        resources = stack.template["Resources"]
        #: Role ARNs whose calls start in the private subnets.
        self.private_principals: frozenset[str] = frozenset(
            {
                function.role_arn
                for logical_id, function in stack.functions.items()
                if resources[logical_id].get("Properties", {}).get("VpcConfig")
            }
            | {stack.sagemaker_role_arn}
        )

    def endpoint_for(self, service: str) -> str:
        """The id of the endpoint serving the botocore ``service``; :class:`NoRouteError` when there is none."""
        name = ENDPOINT_SERVICES.get(service)
        endpoint = self.endpoints.get(name) if name else None
        if endpoint is None:
            raise NoRouteError(
                f"no VPC endpoint serves {service} ({name or 'unmapped'}): the private subnets have no route to it"
            )
        return endpoint

    def __call__(self, call: ApiCall) -> str | None:
        if call.principal not in self.private_principals:
            return None
        return self.endpoint_for(call.service)

    def policies(self, endpoint_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The endpoint's policy as deployed (no policy at all would be AWS's full-access default: refused here)."""
        document = self._policies[endpoint_id]
        if not document.get("Statement"):
            raise NoRouteError(f"VPC endpoint {endpoint_id} has no policy: the stack's endpoints must all have one")
        return [(f"policy of {endpoint_id}", document)]
