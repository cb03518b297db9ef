"""Named errors: the contract between the handlers and the state machine.

Every exception a handler may raise is a subclass of :class:`PipelineError`. Its class name is
what Step Functions sees as the error (``Retry`` lists the transient ones, ``Catch`` routes the
terminal ones), so renaming a class is a breaking change to every ASL file that names it.
"""

from __future__ import annotations

__all__ = [
    "ArtifactNotFoundError",
    "CapacityError",
    "ConfigError",
    "DataValidationError",
    "DatasetNotFoundError",
    "ExecutionNotFoundError",
    "InvalidEventError",
    "ModelVersionNotFoundError",
    "PipelineError",
    "QualityGateFailed",
    "RegistryConflictError",
    "RepositoryNotFoundError",
    "ResourceLimitExceeded",
    "SageMakerJobFailed",
    "TransientStorageError",
    "UnsupportedEventError",
]


class PipelineError(Exception):
    """Base class of every named error of the pipeline."""

    #: True when a retry of the same call may succeed (the ASL retries these).
    transient: bool = False


class ConfigError(PipelineError):
    """The pipeline configuration is missing, malformed or inconsistent with the data."""


class InvalidEventError(PipelineError):
    """An event does not have the shape its source documents (missing or mistyped fields)."""


class UnsupportedEventError(PipelineError):
    """A well-formed event of a kind this pipeline does not handle (source / detail-type)."""


class DatasetNotFoundError(PipelineError):
    """No dataset object exists where the pipeline expects one (e.g. a push before any upload)."""


class RepositoryNotFoundError(PipelineError):
    """The code repository or branch a trigger names cannot be resolved."""


class ArtifactNotFoundError(PipelineError):
    """An object a stage needs is not in the store (wrong key, version or bucket)."""


class TransientStorageError(PipelineError):
    """The object store or table answered with a throttling / 5xx error; retrying may succeed."""

    transient = True


class DataValidationError(PipelineError):
    """The dataset failed validation; the message lists every problem found."""


class QualityGateFailed(PipelineError):
    """A hold-out metric is outside the configured gate; the message names metric, value, limit."""


class SageMakerJobFailed(PipelineError):
    """A SageMaker training or processing job ended Failed; the message carries its FailureReason."""


class ResourceLimitExceeded(PipelineError):
    """SageMaker refused the job for an account quota; not retried blindly."""


class CapacityError(PipelineError):
    """SageMaker had no capacity for the instance type right now; retrying later may succeed."""

    transient = True


class RegistryConflictError(PipelineError):
    """A model version with the same identity is already registered with different content."""


class ModelVersionNotFoundError(PipelineError):
    """No model version with that identifier exists in the registry."""


class ExecutionNotFoundError(PipelineError):
    """No pipeline execution with that name or ARN is known."""
