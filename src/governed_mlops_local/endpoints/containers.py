"""The model containers of local hosting: each model's archive loaded once, as ``model_fn`` loads it.

A fleet's containers start before the fleet takes traffic (:meth:`ModelContainers.provision`, called by
the deployment driver while the endpoint is Creating or the old fleet still serves): the model is
loaded, answers a CSV and a JSON warm-up request (SageMaker pings a container before routing to it),
and what the process holds then is frozen out of the garbage collector's full collections, so no
request pays for a load, a first answer or a full collection over the runtime's long-lived objects.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.errors import ArtifactNotFoundError, JobInputError
from governed_mlops.models import S3Ref
from governed_mlops_local.deferred_imports import import_without
from governed_mlops_local.endpoints.store import EndpointStore

if TYPE_CHECKING:
    from governed_mlops_ml.features import FeatureSpec
    from governed_mlops_ml.serving import ServingModel

__all__ = ["ModelContainers", "ModelLoadError"]


class ModelLoadError(Exception):
    """A model's archive cannot be read or loaded (the container would fail its ping health check)."""


class ModelContainers:
    """Loaded models by name; a model loads once, however many threads ask for it at the same time."""

    def __init__(self, endpoints: EndpointStore, objects: LocalObjectStore) -> None:
        self._endpoints = endpoints
        self._objects = objects
        # A leaf lock (never held while taking another lock), so model loading in an invoke thread
        # and a state mutation cannot wait on each other.
        self._loaded_lock = threading.Lock()
        self._loaded: dict[str, ServingModel] = {}
        self._model_locks: dict[str, threading.Lock] = {}

    def load(self, name: str) -> ServingModel:
        """The model's archive as the container loads it (``model_fn``), with the model's environment.

        Raises:
            ModelLoadError: the pinned archive is gone or does not load.
        """
        with self._loaded_lock:
            loaded = self._loaded.get(name)
            if loaded is not None:
                return loaded
            lock = self._model_locks.setdefault(name, threading.Lock())
        with lock:
            with self._loaded_lock:
                loaded = self._loaded.get(name)
            if loaded is not None:
                return loaded
            loaded = self._load_archive(name)
            with self._loaded_lock:
                self._loaded[name] = loaded
            return loaded

    def _load_archive(self, name: str) -> ServingModel:
        # Imported on the first model load, not with the runtime: serving needs pandas and XGBoost (about a
        # second of imports and 100 MB), which a runtime that has not deployed a model yet never uses.
        # Serving uses XGBoost's Booster: its scikit-learn wrappers (64 MB more) stay unloaded here.
        import_without("xgboost", "sklearn")
        from governed_mlops_ml.artifacts import extract_model_archive  # noqa: PLC0415 - see above
        from governed_mlops_ml.serving import ServingModel  # noqa: PLC0415 - see above

        model = self._endpoints.model(name)
        data = model["ModelData"]
        environment = (model.get("PrimaryContainer") or {}).get("Environment") or {}
        ref = S3Ref(bucket=data["Bucket"], key=data["Key"], version_id=data["VersionId"])
        try:
            stored = self._objects.stat(ref)
            with tempfile.TemporaryDirectory(prefix="model-", dir=self._endpoints.root) as extracted:
                model_dir = extract_model_archive(self._objects.blob_path(stored.sha256), Path(extracted))
                return ServingModel.load(model_dir, environment)
        except (ArtifactNotFoundError, JobInputError) as exc:
            raise ModelLoadError(f"cannot load model {name} from {ref.pinned_uri}: {exc}") from exc

    def provision(self, config: Mapping[str, Any]) -> str | None:
        """Start a fleet's containers before it takes traffic: load every variant's model and have it answer
        a warm-up request; the failure reason, if a model does not load.

        Then freeze what the process holds out of the garbage collector (``gc.freeze``): the runtime's
        modules, the models and their libraries live as long as the process, and a full collection
        walking them (a few hundred ms) would stop every request being served. Frozen objects are still
        freed when their reference count drops; only cyclic garbage frozen with them stays.

        A model that loads but fails its warm-up still goes in service and answers 500, as a container
        whose ``model_fn`` succeeded does.
        """
        for variant in config["ProductionVariants"]:
            try:
                model = self.load(variant["ModelName"])
            except ModelLoadError as exc:
                return (
                    f"The primary container for production variant {variant['VariantName']} did not pass the "
                    f"ping health check: {exc}"
                )
            warm_up(model)
        # The young generations' garbage first (a few ms), so little garbage is frozen with the rest; not a full
        # collection: that is the pause a request serving from the old fleet must not meet.
        gc.collect(generation=1)
        gc.freeze()
        return None


def warm_up_bodies(spec: FeatureSpec) -> tuple[bytes, bytes]:
    """One applicant as a CSV and as a JSON request body: zero for every number, each category's first value."""
    row = dict.fromkeys(spec.numeric_features, "0") | {
        feature.name: (feature.categories[0] if feature.categories else "") for feature in spec.categorical_features
    }
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([row[name] for name in spec.raw_features])
    return buffer.getvalue().encode(), json.dumps({"instances": [row]}).encode()


def warm_up(model: ServingModel) -> None:
    """Answer one CSV and one JSON request, so the first client request does not pay the first answer's costs."""
    csv_body, json_body = warm_up_bodies(model.spec)
    for body, content_type in ((csv_body, "text/csv"), (json_body, "application/json")):
        # A model that cannot answer is the container's 500 on every request, not a failed start.
        with contextlib.suppress(Exception):
            model.respond(body, content_type, content_type)
