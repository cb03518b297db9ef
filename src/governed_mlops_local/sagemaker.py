"""Local emulation of the Step Functions SageMaker integrations the ASL uses.

``createTrainingJob.sync`` and ``createProcessingJob.sync`` really run the job: the request is
checked against botocore's SageMaker service model, inputs are copied from the local object
store into SageMaker's directory layout, the script runs in a subprocess with SageMaker's
environment contract, outputs are uploaded, and the result has the Describe*Job shape that
the real ``.sync`` integration returns (so the ASL's ResultSelector works unchanged).
``aws-sdk:sagemaker:listModelPackages`` answers from the local model registry, which stands in for
the SageMaker Model Registry here.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.models import S3Ref
from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION
from governed_mlops_local.zygote import ENV_SOCKET, hand_over, write_shim

TRAINING_RESOURCE = "arn:aws:states:::sagemaker:createTrainingJob.sync"
PROCESSING_RESOURCE = "arn:aws:states:::sagemaker:createProcessingJob.sync"
LIST_MODEL_PACKAGES_RESOURCE = "arn:aws:states:::aws-sdk:sagemaker:listModelPackages"
PROCESSING_ROOT = "/opt/ml/processing"
CHANNEL_ROOT = "/opt/ml/input/data/"


def local_function_arn(resource: str) -> str:
    """``arn:aws:states:::sagemaker:createTrainingJob.sync`` -> a local emulator function ARN."""
    action = resource.rsplit(":", 1)[-1].replace(".", "-")
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:local-sagemaker-{action}"


class SageMakerError(Exception):
    """Surfaces to Step Functions under ``error_type`` (e.g. ``SageMaker.ValidationException``).

    A job that ends Failed surfaces as ``SageMakerJobFailed`` (errors.py) with the
    DescribeTrainingJob / DescribeProcessingJob JSON as cause. AWS reports it as
    ``States.TaskFailed``, a name a task may not raise itself; the ASL catches both.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


_service_model = botocore.session.get_session().get_service_model("sagemaker")


def _validate(operation: str, request: dict[str, Any]) -> None:
    try:
        validate_parameters(request, _service_model.operation_model(operation).input_shape)
    except ParamValidationError as exc:
        raise SageMakerError("SageMaker.ValidationException", f"{operation}: {exc}") from exc


def deterministic_tar_gz(source: Path) -> bytes:
    """A gzipped tar of ``source`` whose bytes depend only on file names and contents.

    Compression level 6, gzip's default (what ``tar -czf`` gives): level 9 took twice as long for a
    1% smaller model archive.
    """
    buffer = io.BytesIO()
    gz = gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6)
    with gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(source).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def _run_process(argv: list[str], *, cwd: Path, env: dict[str, str], output: int, timeout: float) -> int:
    """``argv`` as a process; its exit code, or ``-SIGKILL`` once it ran past ``timeout`` seconds.

    A blocking wait with a timer that kills, not ``subprocess.run(timeout=...)``: that one polls the
    child with sleeps of up to 50 ms, which a job of a tenth of a second pays in full.
    """
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    timer = threading.Timer(timeout, process.kill)
    timer.daemon = True
    timer.start()
    try:
        return process.wait()
    finally:
        timer.cancel()


def _safe_extract(data: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(target, filter="data")


def _now() -> datetime:
    return datetime.now(UTC)


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{kind}/{name.lower()}"


class SageMakerEmulator:
    """Runs jobs under ``<root>/sagemaker``; one directory per job name (names are unique)."""

    def __init__(
        self, root: Path, store: LocalObjectStore, *, fault_hook: Callable[[str, dict[str, Any]], None] | None = None
    ) -> None:
        self._root = root / "sagemaker"
        self._data_root = root
        self._store = store
        #: Tests inject SageMaker faults (ResourceLimitExceeded, capacity) through this hook.
        self.fault_hook = fault_hook
        #: Unix socket of the warm job interpreter (zygote.py), when the runtime started one.
        self.zygote_socket: str | None = None
        #: At most this many jobs run at once (the local "account quota"); more wait their turn.
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))

    def functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            local_function_arn(TRAINING_RESOURCE): self.create_training_job_sync,
            local_function_arn(PROCESSING_RESOURCE): self.create_processing_job_sync,
            local_function_arn(LIST_MODEL_PACKAGES_RESOURCE): self.list_model_packages,
        }

    # -- model registry -------------------------------------------------------------------------
    def list_model_packages(self, request: dict[str, Any]) -> dict[str, Any]:
        """ListModelPackages (group, approval status, sort, MaxResults) over the local model registry.

        SageMaker numbers a group's versions in creation order, so here CreationTime order is
        version order. Summaries have ListModelPackages' shape; NextToken is never set.
        """
        _validate("ListModelPackages", request)
        group = request.get("ModelPackageGroupName")
        status = request.get("ModelApprovalStatus")
        versions = [
            version
            for version in LocalModelRegistry(self._data_root).version_summaries()
            if (group is None or version.model_package_group == group) and (status is None or version.status == status)
        ]
        if request.get("SortBy") != "Name":
            versions.sort(key=lambda version: version.version_number)
        if request.get("SortOrder") == "Descending":
            versions.reverse()
        return {
            "ModelPackageSummaryList": [
                {
                    "ModelPackageGroupName": version.model_package_group,
                    "ModelPackageVersion": version.version_number,
                    "ModelPackageArn": _arn("model-package", version.model_version),
                    "CreationTime": version.created_at,
                    "ModelPackageStatus": "Completed",
                    "ModelApprovalStatus": version.status,
                }
                for version in versions[: int(request.get("MaxResults", 100))]
            ]
        }

    # -- shared helpers -------------------------------------------------------------------------
    def _job_dir(self, kind: str, name: str) -> Path:
        path = self._root / kind / name
        try:
            path.mkdir(parents=True)
        except FileExistsError as exc:
            raise SageMakerError(
                "SageMaker.ResourceInUse", f"{kind[:-1].replace('-', ' ')} {name!r} already exists"
            ) from exc
        return path

    def _download(self, uri: str, target: Path) -> None:
        """Copy an S3Prefix input: every latest object under the prefix, keyed by its relative path."""
        ref = S3Ref.from_uri(uri)
        objects = self._store.list_objects(ref.bucket, ref.key)
        if not objects:
            raise SageMakerError("SageMaker.ValidationException", f"No S3 objects found under S3 URL {uri!r}")
        target.mkdir(parents=True, exist_ok=True)
        base = ref.key if ref.key.endswith("/") else ref.key.rsplit("/", 1)[0] + "/"
        for stored in objects:
            relative = stored.ref.key[len(base) :] or stored.ref.key.rsplit("/", 1)[-1]
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._store.blob_path(stored.sha256), destination)

    def _upload_dir(self, source: Path, uri: str) -> None:
        ref = S3Ref.from_uri(uri.rstrip("/") + "/x")
        prefix = ref.key[:-1]
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            self._store.put(ref.bucket, prefix + path.relative_to(source).as_posix(), path.read_bytes())

    def _run(self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: int, job: Path) -> tuple[int, str]:
        with self._slots:
            return self._run_now(argv, cwd=cwd, env=env, timeout=timeout, job=job)

    def _run_now(self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: int, job: Path) -> tuple[int, str]:
        """Run the container's entry point; its exit code (``-SIGKILL`` past ``timeout``) and its log's tail."""
        log = job / "job.log"
        with log.open("w", encoding="utf-8") as stream:
            code = None
            # The container's python3 is the shim (_base_env): do what the shim does, without starting it.
            if self.zygote_socket and shutil.which(argv[0], path=env["PATH"]) == str(job / "bin" / "python3"):
                code = hand_over(
                    self.zygote_socket, argv[1:], cwd=cwd, env=env, output=stream.fileno(), timeout=timeout
                )
            if code is None:
                code = _run_process(argv, cwd=cwd, env=env, output=stream.fileno(), timeout=timeout)
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return code, "\n".join(tail)

    def _base_env(self, bin_dir: Path) -> dict[str, str]:
        # The container's ``python3`` is our interpreter (same libraries as the lock file pins),
        # reached through a shim that hands the job to the warm zygote when one is running.
        write_shim(bin_dir)
        keep = {
            k: v
            for k, v in os.environ.items()
            if k in {"HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
        }
        zygote = {ENV_SOCKET: self.zygote_socket} if self.zygote_socket else {}
        return {
            **keep,
            **zygote,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
        }

    # -- training -------------------------------------------------------------------------------
    def create_training_job_sync(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0915 - the emulated job's lifecycle in order, as DescribeTrainingJob reports it
        _validate("CreateTrainingJob", request)
        name = request["TrainingJobName"]
        if self.fault_hook:
            self.fault_hook("CreateTrainingJob", request)
        created = _now()
        job = self._job_dir("training-jobs", name)
        (job / "request.json").write_text(json.dumps(request, indent=2, default=str))
        ml = job / "opt-ml"
        hps = dict(request.get("HyperParameters", {}))
        channels = []
        for channel in request.get("InputDataConfig", []):
            channels.append(channel["ChannelName"])
            self._download(
                channel["DataSource"]["S3DataSource"]["S3Uri"], ml / "input" / "data" / channel["ChannelName"]
            )
        code_dir = job / "code"
        program = hps.get("sagemaker_program")
        submit = hps.get("sagemaker_submit_directory")
        if not program or not submit:
            raise SageMakerError(
                "SageMaker.ValidationException", "script mode needs sagemaker_program and sagemaker_submit_directory"
            )
        code_dir.mkdir()
        # With network isolation the code arrives as an input channel and the submit directory is
        # the channel's file (what the SageMaker SDK does); otherwise the toolkit downloads it from S3.
        if submit.startswith(CHANNEL_ROOT):
            archive = (ml / "input" / "data" / submit[len(CHANNEL_ROOT) :]).read_bytes()
        else:
            archive = self._store.get(S3Ref.from_uri(submit))
        _safe_extract(archive, code_dir)
        for sub in ("model", "output/data", "input/config"):
            (ml / sub).mkdir(parents=True, exist_ok=True)
        user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        (ml / "input/config/hyperparameters.json").write_text(json.dumps(hps))
        (ml / "input/config/inputdataconfig.json").write_text(
            json.dumps(
                {
                    c["ChannelName"]: {"ContentType": c.get("ContentType", "")}
                    for c in request.get("InputDataConfig", [])
                }
            )
        )
        env = self._base_env(job / "bin") | {
            "PYTHONPATH": str(code_dir),
            "SM_MODEL_DIR": str(ml / "model"),
            "SM_OUTPUT_DATA_DIR": str(ml / "output/data"),
            "SM_OUTPUT_DIR": str(ml / "output"),
            "SM_INPUT_DIR": str(ml / "input"),
            "SM_INPUT_CONFIG_DIR": str(ml / "input/config"),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(user_hps),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NUM_CPUS": "1",
            "SM_NUM_GPUS": "0",
            "SM_MODULE_DIR": submit,
            "TRAINING_JOB_NAME": name,
        }
        env |= {f"SM_CHANNEL_{c.upper()}": str(ml / "input/data" / c) for c in channels}
        env |= {f"SM_HP_{k.upper()}": v for k, v in user_hps.items()}
        argv = [str(job / "bin" / "python3"), program]
        for key, value in user_hps.items():
            argv += [f"--{key}", value]
        started = _now()
        timeout = int(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))
        code, tail = self._run(argv, cwd=code_dir, env=env, timeout=timeout, job=job)
        ended = _now()
        output_root = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{name}/output"
        describe: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:training-job/{name.lower()}",
            "HyperParameters": hps,
            "AlgorithmSpecification": request["AlgorithmSpecification"],
            "RoleArn": request["RoleArn"],
            "InputDataConfig": request.get("InputDataConfig", []),
            "OutputDataConfig": request["OutputDataConfig"],
            "ResourceConfig": request.get("ResourceConfig", {}),
            "StoppingCondition": request.get("StoppingCondition", {}),
            "CreationTime": created.isoformat(),
            "TrainingStartTime": started.isoformat(),
            "TrainingEndTime": ended.isoformat(),
            "LastModifiedTime": ended.isoformat(),
            "TrainingTimeInSeconds": max(1, round((ended - started).total_seconds())),
            "BillableTimeInSeconds": max(1, round((ended - started).total_seconds())),
            "EnableNetworkIsolation": request.get("EnableNetworkIsolation", False),
            "EnableInterContainerTrafficEncryption": request.get("EnableInterContainerTrafficEncryption", False),
        }
        for key in ("VpcConfig", "Environment", "Tags"):
            if key in request:
                describe[key] = request[key]
        if code != 0:
            failure_file = ml / "output" / "failure"
            reason = failure_file.read_text().strip() if failure_file.exists() else ""
            if code == -signal.SIGKILL:
                reason = f"MaxRuntimeInSeconds ({timeout}) exceeded"
            describe |= {
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "FailureReason": f"AlgorithmError: {reason or tail}, exit code: {code}",
            }
            self._write_describe(job, describe)
            raise SageMakerError("SageMakerJobFailed", json.dumps(describe, default=str))
        model_tar = deterministic_tar_gz(ml / "model")
        output_ref = S3Ref.from_uri(f"{output_root}/model.tar.gz")
        self._store.put(output_ref.bucket, output_ref.key, model_tar, "application/x-tar")
        output_tar = deterministic_tar_gz(ml / "output" / "data")
        self._store.put(
            output_ref.bucket, output_ref.key.replace("model.tar.gz", "output.tar.gz"), output_tar, "application/x-tar"
        )
        describe |= {
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": output_ref.uri},
        }
        self._write_describe(job, describe)
        return describe

    # -- processing -----------------------------------------------------------------------------
    def _map_path(self, value: str, root: Path) -> str:
        return value.replace(PROCESSING_ROOT, str(root))

    def create_processing_job_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        _validate("CreateProcessingJob", request)
        name = request["ProcessingJobName"]
        if self.fault_hook:
            self.fault_hook("CreateProcessingJob", request)
        created = _now()
        job = self._job_dir("processing-jobs", name)
        (job / "request.json").write_text(json.dumps(request, indent=2, default=str))
        root = job / "processing"
        for item in request.get("ProcessingInputs", []):
            local_path = item["S3Input"]["LocalPath"]
            if not local_path.startswith(PROCESSING_ROOT):
                raise SageMakerError(
                    "SageMaker.ValidationException", f"LocalPath {local_path} is not under {PROCESSING_ROOT}"
                )
            self._download(item["S3Input"]["S3Uri"], Path(self._map_path(local_path, root)))
        outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            Path(self._map_path(item["S3Output"]["LocalPath"], root)).mkdir(parents=True, exist_ok=True)
        app = request["AppSpecification"]
        argv = [self._map_path(a, root) for a in app.get("ContainerEntrypoint", [])]
        argv += [self._map_path(a, root) for a in app.get("ContainerArguments", [])]
        env = self._base_env(job / "bin") | dict(request.get("Environment", {}))
        started = _now()
        timeout = int(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))
        code, tail = self._run(argv, cwd=job, env=env, timeout=timeout, job=job)
        ended = _now()
        describe: dict[str, Any] = {
            "ProcessingJobName": name,
            "ProcessingJobArn": f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:processing-job/{name.lower()}",
            "ProcessingInputs": request.get("ProcessingInputs", []),
            "ProcessingOutputConfig": request.get("ProcessingOutputConfig", {}),
            "ProcessingResources": request["ProcessingResources"],
            "StoppingCondition": request.get("StoppingCondition", {}),
            "AppSpecification": app,
            "RoleArn": request["RoleArn"],
            "CreationTime": created.isoformat(),
            "ProcessingStartTime": started.isoformat(),
            "ProcessingEndTime": ended.isoformat(),
            "LastModifiedTime": ended.isoformat(),
        }
        for key in ("NetworkConfig", "Environment", "Tags"):
            if key in request:
                describe[key] = request[key]
        if code != 0:
            reason = f"MaxRuntimeInSeconds ({timeout}) exceeded" if code == -signal.SIGKILL else tail
            describe |= {
                "ProcessingJobStatus": "Failed",
                "FailureReason": f"AlgorithmError: {reason}, exit code: {code}",
            }
            self._write_describe(job, describe)
            raise SageMakerError("SageMakerJobFailed", json.dumps(describe, default=str))
        for item in outputs:
            self._upload_dir(Path(self._map_path(item["S3Output"]["LocalPath"], root)), item["S3Output"]["S3Uri"])
        describe |= {"ProcessingJobStatus": "Completed", "ExitMessage": ""}
        self._write_describe(job, describe)
        return describe

    def _write_describe(self, job: Path, describe: dict[str, Any]) -> None:
        (job / "describe.json").write_text(json.dumps(describe, indent=2, default=str))
