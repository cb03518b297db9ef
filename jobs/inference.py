"""SageMaker script-mode inference entry point (XGBoost framework container).

The pipeline's CreateModel names this file in ``SAGEMAKER_PROGRAM``. With network isolation the
container cannot fetch code, so training copies the job code into the model archive (``code/``) and
``SAGEMAKER_SUBMIT_DIRECTORY`` points there (``/opt/ml/model/code``). The container calls
:func:`model_fn` once, then :func:`input_fn`, :func:`predict_fn` and :func:`output_fn` per request.

The answer is the one the local endpoint gives, since both use
:class:`governed_mlops_ml.serving.ServingModel`: score, decision, threshold, model version and the
adverse-action reason codes per row for ``application/json``; one score per line for ``text/csv``.

Each request scored also prints one behaviour metric line to stdout (rows, positive decisions, model
version, endpoint): SageMaker sends a container's stdout to the log group
``/aws/sagemaker/Endpoints/<endpoint>``, where the pipeline's metric filters count it for the canary's
rollback alarm.

Imports only the standard library, the scientific stack and ``governed_mlops_ml``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governed_mlops_ml.monitoring import parse_payload
from governed_mlops_ml.serving import ServingModel, prediction_metric_line, render


@dataclass(frozen=True)
class Request:
    """A request body and its content type, decoded with the model's feature spec in :func:`predict_fn`."""

    body: bytes
    content_type: str


def model_fn(model_dir: str) -> ServingModel:
    """Load the model directory (``/opt/ml/model``); the model version comes from the environment."""
    return ServingModel.load(Path(model_dir), os.environ)


def input_fn(request_body: bytes | str, request_content_type: str) -> Request:
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body)
    return Request(body, request_content_type)


def predict_fn(request: Request, model: ServingModel) -> list[dict[str, Any]]:
    """Score, decision, threshold, model version and reason codes per row (``PayloadError`` for a bad body).

    Prints the request's behaviour metric line to stdout (the endpoint's log; see the module docstring).
    """
    answers = model.predictions(parse_payload(request.body, request.content_type, model.spec))
    sys.stdout.write(prediction_metric_line(answers, model) + "\n")
    sys.stdout.flush()
    return answers


def output_fn(prediction: list[dict[str, Any]], accept: str) -> tuple[bytes, str]:
    """The response body and its content type (``PayloadError`` 406 for an accept it cannot give)."""
    return render(prediction, accept)
