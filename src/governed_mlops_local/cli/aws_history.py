"""``mlops history NAME --aws``: one execution's history read from AWS Step Functions.

``mlops history`` (:mod:`governed_mlops_local.cli.executions`) calls :func:`history_from_aws` when
``--aws`` is given and prints :func:`render`, so an AWS execution reads exactly like a local one: the
failed state, error and cause first, then the event table; ``--json`` is ``{"events": [...]}`` as GetExecutionHistory.
:func:`aws_options` adds the command's ``--aws --region --profile --stack --state-machine-arn`` options::

    @aws_options
    def history(obj, name, as_json, aws, region, profile, stack_name, state_machine_arns):
        if aws:
            described, events = history_from_aws(
                name, region=region, profile=profile, state_machine_arns=state_machine_arns, stack_name=stack_name
            )
            click.echo(render(described, events, as_json))

A name is looked up in the ``--state-machine-arn`` machines, else in the ``TrainingPipelineArn`` of
``--stack`` (or ``$MLOPS_STACK_NAME``), else in every ``*-training-pipeline`` of the region.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from governed_mlops.errors import ConfigError, TransientStorageError
from governed_mlops_local.cli.aws import aws_flag_options, stack_option
from governed_mlops_local.cli.ui import render_history_table
from governed_mlops_local.project import STACK_ENV

if TYPE_CHECKING:
    from governed_mlops.adapters.execution_history import StepFunctionsHistory
    from governed_mlops_local.incident_sources import IncidentView

#: The template names the state machine ``${AWS::StackName}-training-pipeline``.
PIPELINE_SUFFIX = "-training-pipeline"


def aws_session(region: str | None, profile: str | None) -> Any:
    """:func:`governed_mlops_local.aws_stack.aws_session`, imported on first use (boto3 is slow to load)."""
    from governed_mlops_local.aws_stack import aws_session as session

    return session(region, profile)


def discover_pipelines(sfn: Any) -> list[str]:
    """ARNs of the state machines in the account and region whose name ends in ``-training-pipeline``."""
    machines = []
    try:
        for page in sfn.get_paginator("list_state_machines").paginate():
            machines += [m["stateMachineArn"] for m in page["stateMachines"] if m["name"].endswith(PIPELINE_SUFFIX)]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise TransientStorageError(f"Step Functions {code} listing state machines: {exc}") from exc
    return sorted(machines)


def _aws_history(
    name: str, *, region: str | None, profile: str | None, state_machine_arns: Sequence[str], stack_name: str | None
) -> tuple[Any, StepFunctionsHistory]:
    # The AWS adapters load only with --aws: a local `mlops history` does not pay for them.
    from governed_mlops.adapters.execution_history import StepFunctionsHistory
    from governed_mlops_local.aws_stack import StackResources

    session = aws_session(region, profile)
    try:
        sfn = session.client("stepfunctions")
    except NoRegionError as exc:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION / the profile's region") from exc
    machines = list(state_machine_arns)
    stack_name = stack_name or os.environ.get(STACK_ENV)
    if not machines and stack_name:
        machines = [StackResources.from_cloudformation(session, stack_name).pipeline_arn]
    if not machines and not name.startswith("arn:"):
        machines = discover_pipelines(sfn)
        if not machines:
            raise ConfigError(
                f"no state machine named *{PIPELINE_SUFFIX} in {sfn.meta.region_name}: pass "
                "--state-machine-arn (the stack output TrainingPipelineArn) or the execution ARN"
            )
    return sfn, StepFunctionsHistory(sfn, machines)


def history_from_aws(
    name: str,
    *,
    region: str | None,
    profile: str | None,
    state_machine_arns: Sequence[str] = (),
    stack_name: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DescribeExecution and GetExecutionHistory of ``name`` (an execution name or ARN) in Step Functions.

    A name is looked up in ``state_machine_arns``; without any, in the ``TrainingPipelineArn`` output of
    ``stack_name`` (default ``$MLOPS_STACK_NAME``); without a stack, in every state machine of the
    account and region named ``<stack>-training-pipeline``. Missing credentials, region or profile
    are :class:`ConfigError`; an unknown execution is ``ExecutionNotFoundError``.
    """
    try:
        _, history = _aws_history(
            name, region=region, profile=profile, state_machine_arns=state_machine_arns, stack_name=stack_name
        )
        described = history.describe(name)
        return described, history.history(described["executionArn"])
    except NoCredentialsError as exc:
        raise ConfigError("no AWS credentials: pass --profile or configure credentials for boto3") from exc
    except BotoCoreError as exc:
        raise TransientStorageError(f"cannot reach Step Functions: {exc}") from exc


def redrive_in_aws(
    name: str,
    *,
    region: str | None,
    profile: str | None,
    state_machine_arns: Sequence[str] = (),
    stack_name: str | None = None,
) -> tuple[str, str]:
    """RedriveExecution of ``name`` (found as :func:`history_from_aws` finds it): its ARN and redrive date."""
    from governed_mlops.adapters.pipeline import StepFunctionsPipeline

    try:
        sfn, history = _aws_history(
            name, region=region, profile=profile, state_machine_arns=state_machine_arns, stack_name=stack_name
        )
        described = history.describe(name)
        arn = described["executionArn"]
        return arn, StepFunctionsPipeline(sfn, described["stateMachineArn"]).redrive(arn)
    except NoCredentialsError as exc:
        raise ConfigError("no AWS credentials: pass --profile or configure credentials for boto3") from exc
    except BotoCoreError as exc:
        raise TransientStorageError(f"cannot reach Step Functions: {exc}") from exc


def incident_from_aws(
    described: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> IncidentView | None:
    """The incident view of an AWS execution that did not succeed, read from the stack (see
    :mod:`governed_mlops_local.aws_incident_sources`); None when it succeeded or is running, or when no
    stack is named (``--stack`` / ``$MLOPS_STACK_NAME``): the registry, buckets and logs are the stack's."""
    from governed_mlops_local.aws_incident_sources import AwsIncidentSources
    from governed_mlops_local.aws_stack import StackResources

    stack_name = stack_name or os.environ.get(STACK_ENV)
    if not stack_name or described.get("status") in {"SUCCEEDED", "RUNNING"}:
        return None
    stack = StackResources.from_cloudformation(aws_session(region, profile), stack_name)
    return AwsIncidentSources(stack, region).view(described, events)


def render(
    described: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    as_json: bool,
    incident: IncidentView | None = None,
) -> str:
    """What ``mlops history`` prints: the incident (if any) and the event table; ``{"events": [...]}`` with --json."""
    if as_json:
        return json.dumps({"events": list(events)}, indent=2)
    from governed_mlops_local.incident_text import render_incident_text

    return render_history_table(described, events, render_incident_text(incident) if incident else None)


def aws_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--aws --region --profile --stack`` and ``--state-machine-arn`` (repeatable) for ``mlops history``.

    The command receives ``aws``, ``region``, ``profile``, ``stack_name`` and ``state_machine_arns`` (a tuple).
    """
    for option in reversed(
        [
            *aws_flag_options(),
            stack_option(),
            click.option(
                "--state-machine-arn",
                "state_machine_arns",
                multiple=True,
                help=f"With --aws: where to look a name up (default: the stack's, else every *{PIPELINE_SUFFIX}).",
            ),
        ]
    ):
        command = option(command)
    return command
