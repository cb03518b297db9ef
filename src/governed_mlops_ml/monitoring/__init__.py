"""Model monitoring: how an endpoint reads request bodies, the training baseline, and drift detection.

Four modules on numpy / pandas (scipy for drift) and one without: this package runs inside a SageMaker
processing container and in the endpoint's inference code.

- :mod:`.payloads` (:func:`parse_payload`): the request and response formats of the model endpoint, as
  SageMaker's XGBoost container reads them;
- :mod:`.content_types` (:func:`negotiate_accept`, :class:`PayloadError`): the content types, the 6 MB
  limit and the refusals, with no numpy or pandas (the local runtime imports them at start-up);
- :mod:`.capture` (:func:`read_capture`): requests recorded by Data Capture, decoded with the
  same parser, so captured traffic is read back exactly as the endpoint read it;
- :mod:`.baseline_statistics` (:func:`baseline`): ``statistics.json`` and ``constraints.json`` in the shape
  SageMaker Model Monitor writes, plus the per-feature drift baseline;
- :mod:`.drift` (:func:`detect_drift`): a ``constraint_violations.json`` document with per-feature
  PSI and KS or chi-square tests, data type and completeness checks.

This package re-exports the public names its callers import from ``governed_mlops_ml.monitoring``,
each loaded from its submodule on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governed_mlops_ml.monitoring.baseline_statistics import baseline
    from governed_mlops_ml.monitoring.capture import read_capture
    from governed_mlops_ml.monitoring.content_types import (
        CSV_CONTENT_TYPE,
        JSON_CONTENT_TYPE,
        MAX_PAYLOAD_BYTES,
        PayloadError,
        media_type,
        negotiate_accept,
    )
    from governed_mlops_ml.monitoring.drift import (
        INSUFFICIENT_DATA,
        NO_VIOLATIONS,
        VIOLATIONS,
        DriftThresholds,
        detect_drift,
        spec_from_statistics,
    )
    from governed_mlops_ml.monitoring.payloads import InferencePayload, parse_payload

#: Public name -> the submodule that defines it. Loaded on first use (PEP 562): the local runtime
#: imports the payload helpers at start-up, and drift (scipy.stats) or the baseline would cost it
#: about a second there.
_SOURCES = {
    "baseline": "baseline_statistics",
    "read_capture": "capture",
    **dict.fromkeys(
        ("INSUFFICIENT_DATA", "NO_VIOLATIONS", "VIOLATIONS", "DriftThresholds", "detect_drift", "spec_from_statistics"),
        "drift",
    ),
    **dict.fromkeys(
        (
            "CSV_CONTENT_TYPE",
            "JSON_CONTENT_TYPE",
            "MAX_PAYLOAD_BYTES",
            "PayloadError",
            "media_type",
            "negotiate_accept",
        ),
        "content_types",
    ),
    **dict.fromkeys(("InferencePayload", "parse_payload"), "payloads"),
}


def __getattr__(name: str) -> Any:
    """The public name from its submodule, imported on first use."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CSV_CONTENT_TYPE",
    "INSUFFICIENT_DATA",
    "JSON_CONTENT_TYPE",
    "MAX_PAYLOAD_BYTES",
    "NO_VIOLATIONS",
    "VIOLATIONS",
    "DriftThresholds",
    "InferencePayload",
    "PayloadError",
    "baseline",
    "detect_drift",
    "media_type",
    "negotiate_accept",
    "parse_payload",
    "read_capture",
    "spec_from_statistics",
]
