"""The one error the SageMaker job scripts report as a bad-input failure.

The job scripts run inside a SageMaker container where only this subpackage is importable, so this
error deliberately does not extend ``governed_mlops.errors.PipelineError``: the job's failure reaches
the state machine as the training or processing job's ``FailureReason`` text, not as a class name.
"""

from __future__ import annotations

__all__ = ["JobInputError"]


class JobInputError(ValueError):
    """Input to an ML job is unusable (missing column, non-binary target, bad hyperparameter, ...).

    The message is written verbatim to the job's failure file, so it names the offending field.
    """
