"""Where the incident view's facts live in a deployed stack (read-only: nothing here writes).

The same facts :class:`~governed_mlops_local.incident_sources.LocalIncidentSources` reads from a data
directory, read from the stack :class:`~governed_mlops_local.aws_stack.StackResources` names:

- this run and the model's last successful run: Step Functions (DescribeExecution; ListExecutions of
  the stack's pipeline with ``statusFilter=SUCCEEDED``, newest first, each candidate's input read for
  its model), the pinned configuration read from S3 by version, the run's validation report and
  evaluation under ``runs/<name>/`` of the artifacts bucket; the dataset's sha256 from the model
  registry's lineage record of that run (registered runs) or S3's SHA-256 checksum of the version
  when the upload stored one (else unknown: the comparison falls back to key and version);
- what production serves: SageMaker DescribeEndpoint / DescribeEndpointConfig, with model versions
  from the registry's lineage table (the deployment names the model ``<execution>-model``);
- the failed state's logs: CloudWatch Logs of the failed Lambda function (its ``LoggingConfig``
  log group). How a run's lines are matched, between the run's start and five minutes after its end
  (FilterLogEvents, quoted terms): the anchors are the Powertools JSON records whose ``correlation_id``
  *is* the execution name (the handlers set it from the event), and the lines holding the failure's
  message (its first 80 characters: Lambda's record of the unhandled exception; a handler that fails
  before it logs leaves no other trace of the run). Each anchor's invocation is then shown whole: in
  its log stream (one execution environment, which runs one request at a time) every line from the
  invocation's ``START RequestId`` to its ``REPORT RequestId``. Not matched: an invocation of this
  run that neither logged with the correlation id nor failed with the message (an earlier, retried
  attempt that failed differently), and anything after the grace period;
- the files the run produced: ``runs/<name>/`` in the artifacts bucket (``s3://`` URIs with the version).

Task tokens never reach the view: the history comes through
:class:`~governed_mlops.adapters.execution_history.StepFunctionsHistory`, which redacts them, and log
lines pass through the same redaction.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from governed_mlops.domain.task_tokens import redact_text
from governed_mlops_local.aws_stack import StackResources, aws_errors
from governed_mlops_local.incident import CommandTarget, RunFacts, Serving, evaluation_metrics
from governed_mlops_local.incident_sources import (
    INLINE_LIMIT,
    LOG_LINES,
    REPORT_IN_CAUSE,
    EvidenceFile,
    IncidentView,
    incident_view,
    is_object_ref,
    json_object,
    run_prefix,
)

#: Successful runs whose input is read (one DescribeExecution each) when looking for the model's last one.
BASELINE_CANDIDATES = 25
#: Invocations of the failed function in this run whose platform lines are fetched.
REQUESTS_FOLLOWED = 3
#: Log lines may arrive a little after the execution ends.
LOG_GRACE = timedelta(minutes=5)
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "ResourceNotFoundException", "ValidationException"}


def _millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    try:
        return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except ValueError:
        return None


class AwsIncidentSources:
    """Builds :class:`~governed_mlops_local.incident_sources.IncidentView` for executions of a deployed stack.

    ``region`` is the ``--region`` the operator passed (repeated in the printed commands so they work as
    written); None when the region came from the profile or the environment.
    """

    def __init__(self, stack: StackResources, region: str | None = None) -> None:
        self._stack = stack
        self.commands = CommandTarget(stack=stack.name, region=region)
        self._clients: dict[str, Any] = {}
        self._registry_records: list[Any] | None = None

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._stack.client(service)
        return self._clients[service]

    def view(
        self,
        described: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]],
        definition: Mapping[str, Any] | None = None,
    ) -> IncidentView | None:
        """:func:`~governed_mlops_local.incident_sources.incident_view` of ``described`` from this stack."""
        with aws_errors(f"stack {self._stack.name!r}"):
            return incident_view(self, described, events, definition)

    # -- runs --------------------------------------------------------------------------------------
    def last_success(self, model: str, before: str) -> dict[str, Any] | None:
        sfn = self._client("stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._stack.pipeline_arn, statusFilter="SUCCEEDED"
        )
        read = 0
        rows = [row for page in pages for row in page["executions"]]
        rows.sort(key=lambda row: row["startDate"], reverse=True)
        for row in rows:
            started = row["startDate"].isoformat() if isinstance(row["startDate"], datetime) else str(row["startDate"])
            if started >= before:
                continue
            if read >= BASELINE_CANDIDATES:
                return None
            read += 1
            described = self._stack.executions().describe(row["executionArn"])
            if (json_object(described.get("input")).get("model") or {}).get("name") == model:
                return described
        return None

    def run_facts(self, described: Mapping[str, Any]) -> RunFacts:
        execution_input = json_object(described.get("input"))
        data = execution_input.get("data") or {}
        config = execution_input.get("config") or {}
        name = str(described.get("name", ""))
        facts: dict[str, Any] = {
            "name": name,
            "status": str(described.get("status", "")),
            "started": str(described.get("startDate") or ""),
            "data_key": data.get("key"),
            "data_version": data.get("version_id"),
            "data_sha256": self._data_sha256(name, data),
            "commit": (execution_input.get("code") or {}).get("commit_id"),
            "config_version": config.get("version_id"),
        }
        if is_object_ref(config):
            text = self._read(str(config["bucket"]), str(config["key"]), config.get("version_id"))
            if text is not None:
                facts["config_text"] = text.decode("utf-8", "replace")
        bucket, prefix = run_prefix(execution_input)
        if bucket:
            report = json_object(self._read(bucket, prefix + "validation/report.json"))
            if isinstance(report.get("rows"), int):
                facts["rows"] = report["rows"]
            evaluation = json_object(self._read(bucket, prefix + "evaluation/evaluation.json"))
            facts["metrics"] = evaluation_metrics(evaluation)
        return RunFacts(**facts)

    def _read(self, bucket: str, key: str, version_id: str | None = None) -> bytes | None:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            body: bytes = self._client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise
        return body

    def _registry(self) -> list[Any]:
        if self._registry_records is None:
            self._registry_records = self._stack.registry().list_versions()
        return self._registry_records

    def _data_sha256(self, execution: str, data: Mapping[str, Any]) -> str | None:
        for record in self._registry():
            if record.execution_name == execution:
                return str(record.data.sha256)
        if not is_object_ref(data) or not data.get("version_id"):
            return None
        try:
            head = self._client("s3").head_object(
                Bucket=str(data["bucket"]),
                Key=str(data["key"]),
                VersionId=str(data["version_id"]),
                ChecksumMode="ENABLED",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise
        checksum = str(head.get("ChecksumSHA256") or "")
        # A multipart upload's checksum is a checksum of part checksums ("...-N"): not the file's sha256.
        if not checksum or "-" in checksum or head.get("ChecksumType") == "COMPOSITE":
            return None
        return base64.b64decode(checksum).hex()

    # -- production --------------------------------------------------------------------------------
    def serving(self, endpoint: str) -> Serving | None:
        if not endpoint:
            return None
        sagemaker = self._client("sagemaker")
        try:
            state = sagemaker.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise
        config = sagemaker.describe_endpoint_config(EndpointConfigName=state["EndpointConfigName"])
        versions = {record.execution_name: record.model_version for record in self._registry()}
        served = tuple(
            (
                str(variant.get("VariantName")),
                versions.get(str(variant.get("ModelName", "")).removesuffix("-model"), str(variant.get("ModelName"))),
                float(variant.get("InitialVariantWeight", 1)),
            )
            for variant in config.get("ProductionVariants", [])
        )
        since = state.get("LastModifiedTime")
        return Serving(
            endpoint,
            str(state.get("EndpointStatus")),
            served,
            since.isoformat() if isinstance(since, datetime) else since,
        )

    # -- logs and evidence -------------------------------------------------------------------------
    def _log_group(self, function: str) -> str:
        """The function's log group: its ``LoggingConfig.LogGroup``, else Lambda's default ``/aws/lambda/<name>``."""
        try:
            configuration = self._client("lambda").get_function_configuration(FunctionName=function)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return f"/aws/lambda/{function.rsplit(':function:', 1)[-1].split(':', 1)[0]}"
            raise
        group = (configuration.get("LoggingConfig") or {}).get("LogGroup")
        return str(group or f"/aws/lambda/{configuration['FunctionName']}")

    def _filter(
        self,
        group: str,
        term: str | None,
        start: int | None,
        end: int | None,
        stream: str | None = None,
    ) -> list[dict[str, Any]]:
        """FilterLogEvents of ``group`` (one ``stream`` if given) between ``start`` and ``end`` (ms) whose message
        contains ``term`` (a quoted term: the exact phrase); every event of the window when ``term`` is None."""
        arguments: dict[str, Any] = {k: v for k, v in (("startTime", start), ("endTime", end)) if v is not None}
        if term is not None:
            arguments["filterPattern"] = json.dumps(term, ensure_ascii=False)
        if stream is not None:
            arguments["logStreamNames"] = [stream]
        pages = self._client("logs").get_paginator("filter_log_events").paginate(logGroupName=group, **arguments)
        try:
            return [event for page in pages for event in page.get("events", [])]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return []
            raise

    def _invocation(self, group: str, stream: str, at: int, request: str | None) -> list[tuple[int, str]]:
        """Every line of the invocation that wrote a line at ``at`` in ``stream``: from its ``START`` line to its
        ``REPORT`` line (a stream is one execution environment, which runs one request at a time)."""
        if request is None:
            starts = self._filter(group, "START RequestId: ", None, at, stream)
            if not starts:
                return []
            request = str(starts[-1]["message"]).split("RequestId: ", 1)[1].split()[0]
        framing = self._filter(group, request, None, None, stream)
        begin = [int(e["timestamp"]) for e in framing if str(e["message"]).startswith("START RequestId: ")]
        finish = [int(e["timestamp"]) for e in framing if str(e["message"]).startswith("REPORT RequestId: ")]
        if not begin:
            return [(int(e["timestamp"]), str(e["message"])) for e in framing]
        window = self._filter(group, None, begin[0], finish[-1] if finish else None, stream)
        lines = []
        for event in window:
            message = str(event["message"])
            if message.startswith(("START RequestId: ", "END RequestId: ", "REPORT RequestId: ")) and (
                request not in message
            ):
                continue  # the framing of a neighbouring invocation stamped in the same millisecond
            lines.append((int(event["timestamp"]), message))
        return lines

    def logs(
        self,
        name: str,
        resource: str | None,
        message: str,
        state_input: str = "",  # noqa: ARG002 - the protocol's; only Lambda tasks have a log group here
        described: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(log group, lines) of the failed Lambda function for this run (see the module docstring)."""
        function = resource or ""
        if ":function:" not in function:
            return []  # not a Lambda task (a SageMaker job, a service integration): no function log
        described = described or {}
        start = _millis(described.get("startDate"))
        stop = _millis(described.get("stopDate"))
        end = stop + int(LOG_GRACE.total_seconds() * 1000) if stop is not None else None
        group = self._log_group(function)
        # Anchors: (stream, time, request id if known) of lines that belong to this run's invocations.
        anchors: list[tuple[str, int, str | None]] = []
        for event in self._filter(group, name, start, end):
            record = json_object(event.get("message"))
            if str(record.get("correlation_id")) == name:
                request = str(record.get("function_request_id") or "") or None
                anchors.append((str(event["logStreamName"]), int(event["timestamp"]), request))
        needle = message.split('"', 1)[0].strip()[:80]
        if needle:
            anchors += [
                (str(e["logStreamName"]), int(e["timestamp"]), None) for e in self._filter(group, needle, start, end)
            ]
        anchors.sort(key=lambda anchor: anchor[1])
        records: dict[tuple[int, str, str], None] = {}
        followed: set[tuple[str, str | int]] = set()
        for stream, at, request in anchors[-REQUESTS_FOLLOWED:]:
            key = (stream, request or at)
            if key in followed:
                continue
            followed.add(key)
            for timestamp, line in self._invocation(group, stream, at, request):
                records[(timestamp, stream, line.rstrip("\n"))] = None
        ordered = sorted(records, key=lambda item: item[0])
        lines = tuple(redact_text(line) for _, _, line in ordered[-LOG_LINES:])
        return [(f"CloudWatch Logs {group}", lines)] if lines else []

    def evidence(self, name: str, cause: str) -> list[EvidenceFile]:
        named = REPORT_IN_CAUSE.search(cause)
        buckets = {self._stack.artifacts_bucket} | ({named.group(1)} if named else set())
        files: list[EvidenceFile] = []
        s3 = self._client("s3")
        for bucket in sorted(buckets):
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"runs/{name}/")
            try:
                keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"AccessDenied", "NoSuchBucket"}:
                    continue  # a bucket the cause names that the operator cannot list
                raise
            for key in keys:
                uri = f"s3://{bucket}/{key}"
                if named and (bucket, key) == (named.group(1), named.group(2)):
                    text = (self._read(bucket, key) or b"").decode("utf-8", "replace")
                    clipped = text if len(text) <= INLINE_LIMIT else text[:INLINE_LIMIT] + "\n… (the file has more)"
                    files.insert(0, EvidenceFile(key, uri, clipped))
                else:
                    files.append(EvidenceFile(key, uri))
        return files
