"""The failed state's logs, found in a data directory as the local Lambda host and SageMaker emulator write it."""

from __future__ import annotations

import json
from pathlib import Path

from governed_mlops_local.incident_sources import LocalIncidentSources

RUN = "data-aaa"
FUNCTION = "arn:aws:lambda:us-east-1:0:function:governed-mlops-validatedatafunction"


def line(correlation: str, message: str) -> str:
    return json.dumps({"level": "INFO", "message": message, "correlation_id": correlation})


def test_a_lambda_states_logs_are_its_runs_lines_and_the_traceback_of_its_error(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ValidateDataFunction.log").write_text(
        "\n".join([line("data-other", "not this run"), line(RUN, "validating"), "EMF metrics line"]) + "\n"
    )
    (logs / "TrainFunction.log").write_text(line(RUN, "another function") + "\n")
    (logs / "errors.log").write_text(
        "Traceback (most recent call last):\n  File x\nValueError: older failure\n"
        "Traceback (most recent call last):\n  File a\nKeyError: boom in row 7\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n  File b\nInvocationError: boom in row 7\n"
    )

    found = dict(LocalIncidentSources(tmp_path, store=None).logs(RUN, FUNCTION, "boom in row 7"))

    assert found[str(logs / "ValidateDataFunction.log")] == (line(RUN, "validating"),)
    traceback = found[str(logs / "errors.log")]
    assert traceback[0] == "Traceback (most recent call last):"
    assert "KeyError: boom in row 7" in traceback
    assert "InvocationError: boom in row 7" in traceback
    assert "ValueError: older failure" not in traceback
    assert len(found) == 2


def test_a_sagemaker_states_logs_are_the_log_of_the_job_its_request_names(tmp_path: Path) -> None:
    for job in (f"{RUN}-train-0", f"{RUN}-evaluate-0"):
        folder = tmp_path / "sagemaker" / "jobs" / job
        folder.mkdir(parents=True)
        (folder / "job.log").write_text(f"log of {job}\n")
    state_input = json.dumps({"TrainingJobName": f"{RUN}-train-0"}, indent=2)

    found = LocalIncidentSources(tmp_path, store=None).logs(
        RUN, "arn:aws:lambda:us-east-1:0:function:local-sagemaker-createTrainingJob-sync", "", state_input
    )

    assert [lines for _, lines in found] == [(f"log of {RUN}-train-0",)]


def test_no_logs_without_a_data_directory_layout(tmp_path: Path) -> None:
    assert LocalIncidentSources(tmp_path, store=None).logs(RUN, FUNCTION, "x") == []
