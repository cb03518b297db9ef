"""Typed contracts of the state machine's Task states: what each state reads, writes and may raise.

Three things live here:

* :class:`PipelineState`, the document the training pipeline passes from state to state: the
  execution input under ``request`` (Record Request puts it there) plus one field per ``ResultPath``
  a state writes. Every ``$.…`` path the ASL reads must resolve in it.
* One input and one output model per Lambda Task state. A state's input model narrows the model its
  function's handler parses (the fields the state's ``Parameters`` must give become required, the
  stage discriminators become literals); its output model is what the function returns, or, for a
  ``waitForTaskToken`` state, what the token's holder sends back with ``SendTaskSuccess``.
* :data:`LAMBDA_STATES`, the registry: state name -> :class:`StateContract` (function, models, and the
  named errors the state's code can raise, which are all a ``Retry`` or ``Catch`` may name besides
  the ``States.*`` and service errors).

``tests/unit/test_state_contracts.py`` walks every ASL file against these models, and scans the
handlers' code for the errors listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.errors import (
    ApprovalExpired,
    ApprovalRejected,
    ArtifactNotFoundError,
    AutomaticApprovalRefused,
    BiasThresholdExceeded,
    ChampionGateFailed,
    ConfigError,
    DataValidationError,
    DeploymentError,
    DeploymentRolledBack,
    FacetError,
    PipelineError,
    QualityGateFailed,
    RegistryConflictError,
    TransientStorageError,
)
from governed_mlops.models import (
    ApprovalDecision,
    ChampionOutcome,
    DeploymentOutput,
    OutcomeOutput,
    PipelineRequest,
    PreparedData,
    RegistrationOutput,
    StageEvent,
    StageResult,
    TrainingOutput,
)
from governed_mlops.services.approval import ApprovalRequestEvent
from governed_mlops.services.approval_outcome import OutcomeEvent
from governed_mlops.services.deploy import EndpointState, VerifyEvent


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------------
# What the ASL itself builds (Pass states, ResultSelectors, Catch) and what the Lambda tasks return


class DeploySettings(_Model):
    """Built by Record Request from the model's endpoint (and its log group) and the template's fleet size
    and rollout settings."""

    endpoint_name: str
    log_group: str
    log_retention_days: int
    instance_count: int
    traffic_shift_type: str
    canary_percent: int
    linear_step_percent: int
    min_rows: int
    bake_seconds: int
    termination_wait_seconds: int
    poll_seconds: int
    max_polls: int


class PollCount(_Model):
    polls: int


class ReportLocation(_Model):
    """A processing job's ResultSelector: where its report was written."""

    report_uri: str


class EvaluationLocation(_Model):
    """An evaluation job's ResultSelector: where its metrics were written."""

    evaluation_uri: str


class StateError(_Model):
    """What a ``Catch`` with a ``ResultPath`` puts there (Step Functions' error output)."""

    Error: str
    Cause: str


class ModelArn(_Model):
    model_arn: str


class EndpointConfigArn(_Model):
    endpoint_config_arn: str


class EndpointArn(_Model):
    endpoint_arn: str


class DeployTarget(_Model):
    """Set Deployment Target: the version number this execution deploys and the config it created."""

    model_version: int
    endpoint_config: str


class ModelPackageSummary(BaseModel):
    """The fields of SageMaker's ``ModelPackageSummary`` the ASL reads (the test checks the names)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    ModelPackageGroupName: str
    ModelPackageVersion: int
    ModelPackageArn: str
    ModelApprovalStatus: str


class LatestApproved(_Model):
    latest: ModelPackageSummary


class EndpointSummary(_Model):
    """Find Endpoint's ResultSelector over DescribeEndpoint."""

    status: str
    endpoint_config_name: str


class PipelineState(_Model):
    """The training pipeline's state data: every field a state reads, and the one each ``ResultPath`` writes.

    Fields are optional because the document grows as the run goes on; which of them are present at
    a state follows from the graph (the contract test checks that every path a state reads was
    written on every way to it).
    """

    request: PipelineRequest
    approval_timeout_seconds: int
    deploy: DeploySettings
    poll: PollCount
    validation: StageResult | None = None
    prepared: PreparedData | None = None
    champion: ChampionOutcome | None = None
    bias_pre: ReportLocation | None = None
    bias_pre_gate: StageResult | None = None
    training: TrainingOutput | None = None
    evaluation: EvaluationLocation | None = None
    gates: StageResult | None = None
    explain: ReportLocation | None = None
    bias_post: ReportLocation | None = None
    bias_post_gate: StageResult | None = None
    champion_evaluation: EvaluationLocation | None = None
    registration: RegistrationOutput | None = None
    approval: ApprovalDecision | None = None
    approval_error: StateError | None = None
    outcome: OutcomeOutput | None = None
    deploy_model: ModelArn | None = None
    deploy_config: EndpointConfigArn | None = None
    deploy_target: DeployTarget | None = None
    latest_approved: LatestApproved | None = None
    #: Find Endpoint's summary, or (no endpoint yet) the error its Catch keeps here.
    existing: EndpointSummary | StateError | None = None
    deploy_endpoint: EndpointArn | None = None
    endpoint: EndpointState | None = None
    deployment: DeploymentOutput | None = None
    error: StateError | None = None


# --------------------------------------------------------------------------------------------------
# One input model per Lambda Task state


class ValidateDataInput(StageEvent):
    execution_arn: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)


class PrepareDataInput(ValidateDataInput):
    validation: StageResult


class CompareWithChampionInput(ValidateDataInput):
    champion_stage: Literal["identify"]
    validation: StageResult
    prepared: PreparedData


class GateDataBiasInput(ValidateDataInput):
    bias_stage: Literal["pre"]
    bias_pre_uri: str


class CheckQualityGatesInput(ValidateDataInput):
    evaluation_uri: str


class GateModelBiasInput(ValidateDataInput):
    bias_stage: Literal["post"]
    bias_post_uri: str


class CheckChampionGateInput(CompareWithChampionInput):
    champion_stage: Literal["gate"]  # type: ignore[assignment]  # narrower than the identify stage's
    champion: ChampionOutcome
    evaluation_uri: str
    champion_evaluation_uri: str
    bias_post_uri: str
    explain_uri: str


class RegisterModelInput(ValidateDataInput):
    validation: StageResult
    prepared: PreparedData
    training: TrainingOutput
    evaluation_uri: str
    gates: StageResult
    bias_pre_uri: str
    bias_post_uri: str
    explain_uri: str
    champion: ChampionOutcome


class RequestApprovalInput(ApprovalRequestEvent):
    """The ``Payload`` of the ``lambda:invoke.waitForTaskToken`` task."""


class RecordApprovalInput(OutcomeEvent):
    outcome: Literal["approved"]
    approval: ApprovalDecision  # type: ignore[assignment]  # the decision sent with the task token


class RecordAutomaticApprovalInput(OutcomeEvent):
    outcome: Literal["auto-approved"]
    request: PipelineRequest


class RecordRejectionInput(OutcomeEvent):
    outcome: Literal["rejected"]


class RecordApprovalExpiredInput(OutcomeEvent):
    outcome: Literal["expired"]


class VerifyDeploymentInput(VerifyEvent):
    pass


class RecordSupersededDeploymentInput(VerifyEvent):
    superseded_by: str


# --------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class StateContract:
    """One Lambda Task state: the function (``functions/<function>/app.py``) it invokes and its models.

    ``raises`` are the named errors the state's code can raise (each is checked against the code by
    the contract test); a ``Retry`` or ``Catch`` of the state may name only these besides the
    ``States.*`` and ``Lambda.*`` errors.
    """

    function: str
    input: type[BaseModel]
    output: type[BaseModel]
    raises: frozenset[type[PipelineError]]


#: Every handler that reads or writes the object store or a table may meet a throttling / 5xx answer.
_STORAGE = frozenset({TransientStorageError, ArtifactNotFoundError})
_STAGE = _STORAGE | {ConfigError}
_APPROVAL = _STORAGE | {ApprovalExpired}

LAMBDA_STATES: dict[str, StateContract] = {
    "Validate Data": StateContract("validate_data", ValidateDataInput, StageResult, _STAGE | {DataValidationError}),
    "Prepare Data": StateContract("prepare_data", PrepareDataInput, PreparedData, _STAGE),
    "Compare with Champion": StateContract("compare_champion", CompareWithChampionInput, ChampionOutcome, _STAGE),
    "Gate Data Bias": StateContract(
        "check_bias_gates", GateDataBiasInput, StageResult, _STAGE | {BiasThresholdExceeded, FacetError}
    ),
    "Check Quality Gates": StateContract(
        "check_quality_gates", CheckQualityGatesInput, StageResult, _STAGE | {QualityGateFailed}
    ),
    "Gate Model Bias": StateContract(
        "check_bias_gates", GateModelBiasInput, StageResult, _STAGE | {BiasThresholdExceeded, FacetError}
    ),
    "Check Champion Gate": StateContract(
        "compare_champion", CheckChampionGateInput, ChampionOutcome, _STAGE | {ChampionGateFailed}
    ),
    "Register Model": StateContract(
        "register_model", RegisterModelInput, RegistrationOutput, _STAGE | {RegistryConflictError}
    ),
    # The token's holder ends this state: the decision (SendTaskSuccess) or ApprovalRejected (SendTaskFailure).
    "Request Approval": StateContract(
        "request_approval", RequestApprovalInput, ApprovalDecision, _STORAGE | {ApprovalRejected}
    ),
    "Record Approval": StateContract("record_approval_outcome", RecordApprovalInput, OutcomeOutput, _APPROVAL),
    "Record Automatic Approval": StateContract(
        "record_approval_outcome",
        RecordAutomaticApprovalInput,
        OutcomeOutput,
        _APPROVAL | {AutomaticApprovalRefused},
    ),
    "Record Rejection": StateContract("record_approval_outcome", RecordRejectionInput, OutcomeOutput, _APPROVAL),
    "Record Approval Expired": StateContract(
        "record_approval_outcome", RecordApprovalExpiredInput, OutcomeOutput, _APPROVAL
    ),
    "Verify Deployment": StateContract(
        "verify_deployment",
        VerifyDeploymentInput,
        DeploymentOutput,
        _STORAGE | {DeploymentError, DeploymentRolledBack},
    ),
    "Record Superseded Deployment": StateContract(
        "verify_deployment", RecordSupersededDeploymentInput, DeploymentOutput, _STORAGE
    ),
}
