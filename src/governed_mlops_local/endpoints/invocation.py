"""InvokeEndpoint on local hosting: route the request, run the model, record the measurement and capture."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from http import HTTPStatus

from governed_mlops_local.endpoints.capture import DataCapture, Invocation
from governed_mlops_local.endpoints.containers import ModelContainers
from governed_mlops_local.endpoints.metrics import Measurement, MetricsLog, score_bins
from governed_mlops_local.endpoints.routing import TrafficRouter
from governed_mlops_local.endpoints.store import EndpointStore
from governed_mlops_local.template import LOCAL_ACCOUNT
from governed_mlops_ml.monitoring import PayloadError, negotiate_accept
from governed_mlops_ml.quality import INFERENCE_ID_PATTERN

__all__ = ["SERVING_STATUSES", "InvocationError", "InvokeResult", "Invoker", "ModelError"]

SERVING_STATUSES = ("InService", "Updating", "RollingBack", "SystemUpdating")
"""Endpoint statuses in which an endpoint answers requests."""


@dataclass(frozen=True)
class InvokeResult:
    """What InvokeEndpoint returns: the model's answer and the variant (and fleet) that served it."""

    body: bytes
    content_type: str
    variant: str
    latency_ms: float
    endpoint_config_name: str


class InvocationError(Exception):
    """InvokeEndpoint failed; ``status_code`` is the HTTP status, ``error_code`` the runtime's error name.

    ``ValidationError`` (400): no such endpoint, or it is not in service. ``variant`` and
    ``endpoint_config_name`` say which fleet answered, when one did.
    """

    def __init__(
        self,
        status_code: int,
        error_code: str,
        message: str,
        *,
        variant: str | None = None,
        endpoint_config_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.variant = variant
        self.endpoint_config_name = endpoint_config_name


class ModelError(InvocationError):
    """The model container answered with an error: 4xx for a bad request (body, content type, accept), 5xx for a
    model that failed. In AWS the runtime wraps it as ``ModelError`` with the container's ``OriginalStatusCode``;
    here ``status_code`` is that original status."""

    def __init__(self, status_code: int, message: str, *, variant: str, endpoint_config_name: str) -> None:
        super().__init__(status_code, "ModelError", message, variant=variant, endpoint_config_name=endpoint_config_name)


@dataclass
class _Answer:
    """What the model container answered: 200 with a body and its scores as bins, or an error status."""

    status: int = 200
    message: str = ""
    body: bytes = b""
    content_type: str = ""
    rows: int = 0
    bins: dict[int, int] = field(default_factory=dict)


class Invoker:
    """Serves InvokeEndpoint over the endpoints' state, the router, the model containers, metrics and capture."""

    def __init__(
        self,
        endpoints: EndpointStore,
        router: TrafficRouter,
        containers: ModelContainers,
        metrics: MetricsLog,
        capture: DataCapture,
    ) -> None:
        self._endpoints = endpoints
        self._router = router
        self._containers = containers
        self._metrics = metrics
        self._capture = capture

    def invoke(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str | None = None,
        *,
        inference_id: str | None = None,
    ) -> InvokeResult:
        """Route by the current traffic shares, run the model, record metrics and capture (see
        :meth:`LocalSageMakerHosting.invoke <governed_mlops_local.endpoints.LocalSageMakerHosting.invoke>`)."""
        if inference_id is not None and not INFERENCE_ID_PATTERN.match(inference_id):
            raise InvocationError(
                400, "ValidationError", f"InferenceId {inference_id!r} must be 1-64 printable characters"
            )
        state = self._endpoints.read_state(endpoint_name)
        if state is None or state["EndpointStatus"] not in SERVING_STATUSES:
            raise InvocationError(
                400, "ValidationError", f"Endpoint {endpoint_name} of account {LOCAL_ACCOUNT} not found."
            )
        config_name = self._router.fleet(state)
        variant = self._router.variant(self._endpoints.config(config_name))
        variant_name = str(variant["VariantName"])
        started = time.perf_counter()
        answer = self._respond(variant["ModelName"], body, content_type, accept)
        latency_ms = (time.perf_counter() - started) * 1000.0
        measurement = Measurement(
            time.time(), config_name, variant_name, answer.status, latency_ms, answer.rows, answer.bins
        )
        self._metrics.append(self._endpoints.metrics_path(endpoint_name, config_name), measurement)
        if answer.status != HTTPStatus.OK:
            raise ModelError(answer.status, answer.message, variant=variant_name, endpoint_config_name=config_name)
        self._capture.record(
            Invocation(
                endpoint_name,
                config_name,
                variant_name,
                body,
                content_type,
                answer.body,
                answer.content_type,
                latency_ms,
                inference_id,
            )
        )
        return InvokeResult(answer.body, answer.content_type, variant_name, latency_ms, config_name)

    def _respond(self, model_name: str, body: bytes, content_type: str, accept: str | None) -> _Answer:
        try:
            negotiate_accept(accept)  # an unsupported accept is refused before the model is loaded
            answered = self._containers.load(model_name).respond(body, content_type, accept)
            return _Answer(
                body=answered.body,
                content_type=answered.content_type,
                rows=int(answered.scores.size),
                bins=score_bins(answered.scores),
            )
        except PayloadError as exc:
            return _Answer(status=exc.status_code, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - any model failure is the container's 500, never the caller's
            return _Answer(status=500, message=f"the model failed: {type(exc).__name__}: {exc}")
