"""Scheduled model monitoring in AWS, the schedule's side: **Start Monitoring** starts one processing job per endpoint.

EventBridge Scheduler invokes :func:`start_monitoring` on the stack's schedule. For every SageMaker
endpoint ``InService`` that serves a registered model version (many models: the endpoints are listed,
nothing is keyed to one), it plans the window, writes ``monitor_config.json`` and starts a SageMaker
processing job that runs ``jobs/monitor.py run`` with the job code its model version was trained
with. :mod:`governed_mlops.services.monitoring` holds the planning and what is done with the report.

Pure logic plus the calls passed in (SageMaker client, object store, registry).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import CatalogueStore
from governed_mlops.errors import ArtifactNotFoundError
from governed_mlops.models import ModelVersion, S3Ref
from governed_mlops.services.monitoring import (
    CAPTURE_PREFIX,
    GROUND_TRUTH_PREFIX,
    JOB_PREFIX,
    MONITOR_CONFIG_FILE,
    MONITORING_PREFIX,
    PROCESSING_ROOT,
    TRAIN_SPLIT_KEY,
    DriftSettings,
    MonitoringError,
    SageMakerHosting,
    monitor_job_config,
    pinned_config,
    previous_runs,
    serving_model,
)


@dataclass(frozen=True)
class JobSettings:
    """How the monitor's processing job runs: as the training pipeline's jobs (image, role, VPC, KMS)."""

    artifacts_bucket: str
    training_source_uri: str
    role_arn: str
    image_uri: str
    instance_type: str
    kms_key_arn: str
    security_group_id: str
    subnets: tuple[str, ...]
    max_runtime_seconds: int = 3600


def job_name(endpoint: str, now: datetime) -> str:
    """``mon-<endpoint>-<YYYYmmddHHMMSS>`` (at most 63 characters, as SageMaker allows)."""
    return f"{JOB_PREFIX}{endpoint[: 63 - len(JOB_PREFIX) - 15]}-{now.strftime('%Y%m%d%H%M%S')}"


def _input(name: str, uri: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"{PROCESSING_ROOT}/input/{name}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def processing_job_request(
    name: str,
    endpoint: str,
    *,
    code: S3Ref,
    archive: S3Ref,
    train: S3Ref,
    config_uri: str,
    labels: bool,
    job: JobSettings,
) -> dict[str, Any]:
    """The CreateProcessingJob request of one monitoring run (``jobs/monitor.py run``)."""
    bucket = job.artifacts_bucket
    inputs = [
        _input("code", code.uri),
        _input("model", archive.uri),
        _input("train", train.uri),
        _input("capture", f"s3://{bucket}/{CAPTURE_PREFIX.format(endpoint=endpoint)}"),
        _input("config", config_uri),
    ]
    if labels:
        inputs.append(_input("labels", f"s3://{bucket}/{GROUND_TRUTH_PREFIX.format(endpoint=endpoint)}"))
    arguments = [
        "run",
        *("--model-dir", f"{PROCESSING_ROOT}/input/model"),
        *("--train-dir", f"{PROCESSING_ROOT}/input/train"),
        *("--capture-dir", f"{PROCESSING_ROOT}/input/capture"),
        *("--config-dir", f"{PROCESSING_ROOT}/input/config"),
        *("--output-dir", f"{PROCESSING_ROOT}/output/report"),
    ]
    if labels:
        arguments += ["--labels-dir", f"{PROCESSING_ROOT}/input/labels"]
    output_uri = config_uri.rsplit("/input/", 1)[0] + "/"
    return {
        "ProcessingJobName": name,
        "AppSpecification": {
            "ImageUri": job.image_uri,
            "ContainerEntrypoint": [
                "/bin/sh",
                "-c",
                f'cd {PROCESSING_ROOT}/input/code && tar -xzf sourcedir.tar.gz && exec python3 monitor.py "$@"',
                "monitor",
            ],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "report",
                    "S3Output": {
                        "S3Uri": output_uri,
                        "LocalPath": f"{PROCESSING_ROOT}/output/report",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": job.kms_key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": job.instance_type,
                "VolumeSizeInGB": 10,
                "VolumeKmsKeyId": job.kms_key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
        "RoleArn": job.role_arn,
        "NetworkConfig": {
            "VpcConfig": {"SecurityGroupIds": [job.security_group_id], "Subnets": list(job.subnets)},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        },
        "Environment": {"MONITORED_ENDPOINT": endpoint},
        "Tags": [{"Key": "governed-mlops:endpoint", "Value": endpoint}],
    }


@dataclass(frozen=True)
class ScheduleDeps:
    sagemaker: Any
    store: CatalogueStore
    registry: ModelRegistry


def endpoints_in_service(sagemaker: Any) -> list[str]:
    """Every endpoint of the account and region that is ``InService`` (paged)."""
    names: list[str] = []
    token: str | None = None
    while True:
        page = sagemaker.list_endpoints(
            StatusEquals="InService", MaxResults=100, **({"NextToken": token} if token else {})
        )
        names += [str(e["EndpointName"]) for e in page.get("Endpoints", [])]
        token = page.get("NextToken")
        if not token:
            return sorted(names)


def monitoring_code(
    store: CatalogueStore, job: JobSettings, version: ModelVersion, published: dict[str, S3Ref]
) -> S3Ref:
    """The job code a model version's monitor runs: the sourcedir the version was trained with.

    The lineage pins it by version id (``source``: the run's commit packed, or the release's code the run
    used), so ``monitor.py`` computes the model's inputs exactly as its training did, whatever was
    published since. A version registered before lineages recorded it runs the newest published job
    code (``training_source_uri``), looked up once per call (``published`` caches it).

    Raises:
        ArtifactNotFoundError: the version has no job code of its own and none has been published.
    """
    if version.source is not None:
        return version.source.ref
    if "code" not in published:
        source = S3Ref.from_uri(job.training_source_uri)
        code = store.latest_under(source.bucket, source.key)
        if code is None or code.ref.key != source.key:
            raise ArtifactNotFoundError(
                f"{version.model_version}'s lineage names no job code and {job.training_source_uri} is missing: "
                "publish the sourcedir, or retrain the model"
            )
        published["code"] = code.ref
    return published["code"]


def start_monitoring(
    deps: ScheduleDeps, job: JobSettings, *, endpoints: Sequence[str] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Start one monitoring job per endpoint in service that serves a registered model version.

    ``endpoints`` narrows the run to those names (the schedule's Input may list them); an endpoint that
    serves no registered model (another team's), or whose model has no job code to run, is skipped
    with the reason, not failed. Each job runs the job code its model version was trained with (see
    :func:`monitoring_code`).
    """
    moment = now or datetime.now(UTC)
    published: dict[str, S3Ref] = {}
    names = endpoints_in_service(deps.sagemaker)
    if endpoints is not None:
        names = [name for name in names if name in set(endpoints)]
    hosting = SageMakerHosting(deps.sagemaker)
    started: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    for endpoint in names:
        try:
            config_name, version, archive = serving_model(hosting, deps.registry, endpoint)
            config = pinned_config(deps.store, version)
            code = monitoring_code(deps.store, job, version, published)
        except (MonitoringError, ArtifactNotFoundError) as exc:
            skipped.append({"endpoint": endpoint, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        bucket = job.artifacts_bucket
        if not deps.store.list_keys(bucket, CAPTURE_PREFIX.format(endpoint=endpoint)):
            skipped.append({"endpoint": endpoint, "reason": "insufficient data: no request was captured yet"})
            continue
        labels_prefix = GROUND_TRUTH_PREFIX.format(endpoint=endpoint)
        labels = any(k.endswith(".csv") for k in deps.store.list_keys(bucket, labels_prefix))
        runs = previous_runs(deps.store, bucket, endpoint)
        document = monitor_job_config(
            config,
            version,
            endpoint,
            config_name,
            runs=runs,
            labels_uri=f"s3://{bucket}/{labels_prefix}",
            drift=DriftSettings(),
        )
        name = job_name(endpoint, moment)
        stored = deps.store.put(
            bucket,
            f"{MONITORING_PREFIX.format(endpoint=endpoint)}{name}/input/{MONITOR_CONFIG_FILE}",
            json.dumps(document, indent=2, sort_keys=True).encode(),
            "application/json",
        )
        config_uri = stored.ref.uri.rsplit("/", 1)[0] + "/"
        train = S3Ref(bucket=bucket, key=TRAIN_SPLIT_KEY.format(execution=version.execution_name))
        request = processing_job_request(
            name, endpoint, code=code, archive=archive, train=train, config_uri=config_uri, labels=labels, job=job
        )
        deps.sagemaker.create_processing_job(**request)
        started.append({"endpoint": endpoint, "model_version": version.model_version, "processing_job": name})
    return {"started": started, "skipped": skipped}
