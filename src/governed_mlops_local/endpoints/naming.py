"""SageMaker resource names, their ARNs in the local account, and the ValidationException for a bad request."""

from __future__ import annotations

import re

from governed_mlops_local.sagemaker import SageMakerError
from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION

__all__ = ["arn", "check_name", "invalid", "is_valid_name"]

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can name a SageMaker model, endpoint config or endpoint (and so a file under the store)."""
    return _NAME.fullmatch(name) is not None


def arn(kind: str, name: str) -> str:
    """The ARN of SageMaker resource ``kind`` (``model``, ``endpoint-config``, ``endpoint``) named ``name``."""
    return f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{kind}/{name.lower()}"


def invalid(message: str) -> SageMakerError:
    """SageMaker's answer to a request it refuses."""
    return SageMakerError("SageMaker.ValidationException", message)


def check_name(name: str, what: str) -> None:
    """Raise ValidationException unless ``name`` is a valid name for a ``what``."""
    if not is_valid_name(name):
        raise invalid(
            f"{what} name {name!r} must be 1-63 letters, digits or hyphens, starting and ending with a letter or digit"
        )
