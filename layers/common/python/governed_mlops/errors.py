"""Named errors: the contract between the handlers and the state machine.

Every exception a handler may raise is a subclass of :class:`PipelineError`. Its class name is
what Step Functions sees as the error (``Retry`` lists the transient ones, ``Catch`` routes the
terminal ones), so renaming a class is a breaking change to every ASL file that names it.
"""

from __future__ import annotations

__all__ = [
    "AbandonNotPossible",
    "ApprovalAlreadyDecided",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalForbidden",
    "ApprovalLinkInvalid",
    "ApprovalNotFound",
    "ApprovalNotWaiting",
    "ApprovalRejected",
    "ArtifactNotFoundError",
    "AuditLedgerCorrupt",
    "BiasThresholdExceeded",
    "ChampionGateFailed",
    "CommitNotFoundError",
    "ConfigError",
    "DataValidationError",
    "DatasetNotFoundError",
    "DeploymentError",
    "DeploymentRolledBack",
    "EndpointNotFound",
    "EndpointNotReady",
    "ExecutionNotFoundError",
    "ExplainabilityError",
    "FacetError",
    "InvalidEventError",
    "JobInputError",
    "MalformedDecision",
    "ModelVersionNotFoundError",
    "MonitoringViolation",
    "PipelineError",
    "QualityGateFailed",
    "RedriveNotPossible",
    "RegistryConflictError",
    "RepositoryNotFoundError",
    "ReproducibilityMismatch",
    "ResourceLimitExceeded",
    "SageMakerJobFailed",
    "SourceMismatchError",
    "TransientStorageError",
    "UnknownModelError",
    "UnsupportedEventError",
]


class PipelineError(Exception):
    """Base class of every named error of the pipeline."""

    #: True when a retry of the same call may succeed (the ASL retries these).
    transient: bool = False


class ConfigError(PipelineError):
    """The pipeline configuration is missing, malformed or inconsistent with the data."""


class UnknownModelError(ConfigError):
    """An event, key or command names a model that has no project (``models/<name>/config.yaml``)."""


class InvalidEventError(PipelineError):
    """An event does not have the shape its source documents (missing or mistyped fields)."""


class UnsupportedEventError(PipelineError):
    """A well-formed event of a kind this pipeline does not handle (source / detail-type)."""


class DatasetNotFoundError(PipelineError):
    """No dataset object exists where the pipeline expects one (e.g. a push before any upload)."""


class RepositoryNotFoundError(PipelineError):
    """The code repository or branch a trigger names cannot be resolved."""


class CommitNotFoundError(RepositoryNotFoundError):
    """The commit a run names is not in its code repository, so its job code cannot be packed."""


class ArtifactNotFoundError(PipelineError):
    """An object a stage needs is not in the store (wrong key, version or bucket)."""


class TransientStorageError(PipelineError):
    """The object store or table answered with a throttling / 5xx error; retrying may succeed."""

    transient = True


class DataValidationError(PipelineError):
    """The dataset failed validation; the message lists every problem found."""


class QualityGateFailed(PipelineError):
    """A hold-out metric is outside the configured gate; the message names metric, value, limit."""


class ChampionGateFailed(PipelineError):
    """The challenger is worse than the champion (the newest approved version) beyond ``gates.champion``;
    the message names what fell short and the comparison report."""


class SageMakerJobFailed(PipelineError):
    """A SageMaker training or processing job ended Failed; the message carries its FailureReason."""


class ResourceLimitExceeded(PipelineError):
    """SageMaker refused the job for an account quota; not retried blindly."""


class RegistryConflictError(PipelineError):
    """A model version with the same identity is already registered with different content."""


class ModelVersionNotFoundError(PipelineError):
    """No model version with that identifier exists in the registry."""


class ExecutionNotFoundError(PipelineError):
    """No pipeline execution with that name or ARN is known."""


class BiasThresholdExceeded(PipelineError):
    """A Clarify bias metric is outside its configured limit; the message names facet, metric, value, limit."""


class FacetError(PipelineError):
    """A configured facet cannot be evaluated (column missing, no members, unknown metric)."""


class ExplainabilityError(PipelineError):
    """SHAP explanations could not be produced for the model or the given input row."""


class ReproducibilityMismatch(PipelineError):
    """A retrained artifact or its metrics differ from the registered ones."""


class SourceMismatchError(ReproducibilityMismatch):
    """The job code packed from a lineage's commit does not have the lineage's source sha256: the pair
    was altered, or the commit is not the one the code was packed from; nothing is retrained."""


class ApprovalError(PipelineError):
    """Base of the manual-approval errors; each maps to one HTTP status in the approval API."""


class ApprovalNotFound(ApprovalError):
    """No approval request with that id."""


class ApprovalLinkInvalid(ApprovalError):
    """The approval link's signature does not verify (tampered or forged)."""


class ApprovalExpired(ApprovalError):
    """The approval link or the waiting task has expired."""


class ApprovalNotWaiting(ApprovalError):
    """The execution is not waiting for the decision at this moment (e.g. it is resuming); nothing changed."""


class ApprovalAlreadyDecided(ApprovalError):
    """A decision was already recorded for this approval (links are single use)."""


class ApprovalForbidden(ApprovalError):
    """The approver may not decide: not in the approvers group, or they triggered the run themselves."""


class MalformedDecision(ApprovalError):
    """A decision request's body is not a decision form (not JSON / not an object, unknown decision, missing field)."""


class ApprovalRejected(PipelineError):
    """An approver rejected the model version; the message carries who and why."""


class DeploymentError(PipelineError):
    """Creating or updating the endpoint failed."""


class DeploymentRolledBack(PipelineError):
    """The endpoint rolled back to the previous configuration (an alarm fired during the canary)."""


class EndpointNotFound(PipelineError):
    """No endpoint with that name."""


class EndpointNotReady(PipelineError):
    """The endpoint is still updating; poll again."""

    transient = True


class MonitoringViolation(PipelineError):
    """Captured traffic drifted from the training baseline beyond the configured limits."""


class AuditLedgerCorrupt(PipelineError):
    """The audit ledger fails verification; the message names the first bad record's sequence number."""


class AbandonNotPossible(PipelineError):
    """The execution cannot be abandoned: it is still running in a live process, or it already ended."""


class RedriveNotPossible(PipelineError):
    """The execution cannot be redriven (it succeeded, or its recorded state is missing)."""


class JobInputError(ValueError):
    """Input to an ML job is unusable (missing column, non-binary target, bad hyperparameter, ...).

    Deliberately not a :class:`PipelineError`: a SageMaker job reports it as the job's
    ``FailureReason`` text, which reaches the state machine as the job's failure, never as a class
    name (the configuration turns it into :class:`ConfigError` before a handler sees it). The
    message is written verbatim to the job's failure file, so it names the offending field.
    """


class DuplicateApprover(ApprovalError):
    """The approver already approved this request: a second approval must come from a different person."""


class AutomaticApprovalRefused(ApprovalError):
    """An automatic approval was asked for a model version whose risk tier requires people to approve it."""


__all__ += ["AutomaticApprovalRefused", "DuplicateApprover"]


# --- Approver login (AWS): the session cookie's ID token, verified on the server -------------------------


class SignInRequired(ApprovalError):
    """The request carries no approver session: sign in through the approval API's /auth/login first."""


class SessionRejected(ApprovalError):
    """The session's ID token does not verify; the subclass names the check that failed (answered 403)."""


class MalformedToken(SessionRejected):
    """The session cookie is not a compact JWT (three base64url parts with a JSON header and claims)."""


class TokenSignatureInvalid(SessionRejected):
    """The token is not signed by a key of the user pool's JWKS (tampered, forged, or another pool's key)."""


class TokenExpired(SessionRejected):
    """The token's ``exp`` has passed: sign in again."""


class TokenIssuerMismatch(SessionRejected):
    """The token was issued by another user pool (``iss``)."""


class TokenAudienceMismatch(SessionRejected):
    """The token was issued to another app client (``aud``), not the approval login client."""


class TokenUseMismatch(SessionRejected):
    """The token is not an ID token (``token_use`` is ``access`` or missing)."""


class ApproverGroupMissing(SessionRejected):
    """The signed-in user is not in the approvers group (``cognito:groups``)."""


class LoginFailed(ApprovalError):
    """The sign-in round trip could not finish (state mismatch, expired round trip, code exchange refused)."""


__all__ += [
    "ApproverGroupMissing",
    "LoginFailed",
    "MalformedToken",
    "SessionRejected",
    "SignInRequired",
    "TokenAudienceMismatch",
    "TokenExpired",
    "TokenIssuerMismatch",
    "TokenSignatureInvalid",
    "TokenUseMismatch",
]
