"""Job file I/O: job config, CSV channels, the model archive (safe extraction) and the failure file."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import (
    extract_model_archive,
    find_single_csv,
    load_job_config,
    read_dataset,
    write_failure_reason,
    write_model_archive,
)
from governed_mlops_ml.job_config import JobConfig, parse_job_config

JOB_CONFIG = {
    "target": "outcome",
    "positive_label": "good",
    "numeric_features": ["amount"],
    "categorical_features": ["colour"],
    "seed": 7,
    "decision_threshold": 0.5,
}


def test_job_config_is_read_from_the_config_channel(tmp_path: Path) -> None:
    (tmp_path / "job_config.json").write_text(json.dumps(JOB_CONFIG), encoding="utf-8")

    assert load_job_config(tmp_path) == JobConfig("outcome", "good", ("amount",), ("colour",), 7, 0.5)


def test_job_config_round_trips_through_its_json_document() -> None:
    assert parse_job_config(JOB_CONFIG).to_json_dict() == JOB_CONFIG


def test_job_config_with_an_unknown_key_is_refused() -> None:
    with pytest.raises(JobInputError, match=r"unknown keys \['targte'\]"):
        parse_job_config({**JOB_CONFIG, "targte": "x"})


def test_job_config_with_the_target_among_the_features_is_refused() -> None:
    with pytest.raises(JobInputError, match="also listed as a feature"):
        parse_job_config({**JOB_CONFIG, "numeric_features": ["amount", "outcome"]})


@pytest.mark.parametrize("threshold", [0, 1, 1.5, True])
def test_job_config_threshold_outside_the_open_unit_interval_is_refused(threshold: object) -> None:
    with pytest.raises(JobInputError, match="decision_threshold"):
        parse_job_config({**JOB_CONFIG, "decision_threshold": threshold})


def test_missing_job_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match=r"job_config\.json not found"):
        load_job_config(tmp_path)


def test_the_single_csv_of_a_channel_is_found(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "_SUCCESS").write_text("", encoding="utf-8")

    assert find_single_csv(tmp_path).name == "train.csv"


def test_a_channel_without_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="exactly one .csv file.*found 0"):
        find_single_csv(tmp_path)


def test_a_channel_with_two_csv_files_is_refused(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("a\n1\n", encoding="utf-8")

    with pytest.raises(JobInputError, match=r"found 2: \['a.csv', 'b.csv'\]"):
        find_single_csv(tmp_path)


def test_read_dataset_treats_only_empty_fields_as_missing(tmp_path: Path) -> None:
    # Given text that pandas would take for a missing value by default
    path = tmp_path / "data.csv"
    path.write_text("guarantor,amount\nNone,1\nNA,\n", encoding="utf-8")

    frame = read_dataset(path)

    assert frame["guarantor"].tolist() == ["None", "NA"]
    assert frame["amount"].isna().tolist() == [False, True]


def test_read_dataset_refuses_duplicated_column_names(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,a\n1,2,3\n", encoding="utf-8")

    with pytest.raises(JobInputError, match=r"duplicated column names: \['a'\]"):
        read_dataset(path)


def test_read_dataset_refuses_a_header_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n", encoding="utf-8")

    with pytest.raises(JobInputError, match="no data rows"):
        read_dataset(path)


def test_model_archive_round_trips_the_model_directory(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(b"{}")
    (model_dir / "feature_spec.json").write_text("{}", encoding="utf-8")
    archive = write_model_archive(model_dir, tmp_path / "out" / "model.tar.gz")

    extracted = extract_model_archive(archive, tmp_path / "extracted")

    assert sorted(path.name for path in extracted.iterdir()) == ["feature_spec.json", "xgboost-model"]


def test_only_the_named_files_are_extracted_when_asked(tmp_path: Path) -> None:
    # Given a model archive with the inference code packed under code/, as training writes it
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "xgboost-model").write_bytes(b"{}")
    (model_dir / "feature_spec.json").write_text("{}", encoding="utf-8")
    (model_dir / "code" / "inference.py").write_text("", encoding="utf-8")
    archive = write_model_archive(model_dir, tmp_path / "out" / "model.tar.gz")

    # When a job that only scores extracts it
    extracted = extract_model_archive(archive, tmp_path / "extracted", files={"xgboost-model", "feature_spec.json"})

    # Then only the booster and the feature spec are written
    assert sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*")) == [
        "feature_spec.json",
        "xgboost-model",
    ]


def test_a_member_that_was_not_asked_for_is_still_checked(tmp_path: Path) -> None:
    # Given an archive with an escaping member next to the one a job asks for
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("xgboost-model", "../escaped.txt"):
            member = tarfile.TarInfo(name)
            member.size = 2
            tar.addfile(member, io.BytesIO(b"{}"))

    # When only the model is asked for, Then the archive is refused all the same
    with pytest.raises(JobInputError, match="outside"):
        extract_model_archive(archive, tmp_path / "dest" / "inner", files={"xgboost-model"})
    assert not (tmp_path / "dest" / "escaped.txt").exists()


def test_model_archive_bytes_do_not_depend_on_file_times(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    model_file = model_dir / "xgboost-model"
    model_file.write_bytes(b"{}")
    first = write_model_archive(model_dir, tmp_path / "first.tar.gz").read_bytes()
    model_file.touch()
    second = write_model_archive(model_dir, tmp_path / "second.tar.gz").read_bytes()

    assert first == second


def _archive_with(tmp_path: Path, member: tarfile.TarInfo, content: bytes = b"") -> Path:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member.size = len(content)
        tar.addfile(member, io.BytesIO(content))
    return archive


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/absolute.txt", "nested/../../escaped.txt"])
def test_archive_member_escaping_the_destination_is_refused_before_writing(tmp_path: Path, name: str) -> None:
    # Given an archive whose member path points outside the extraction directory
    archive = _archive_with(tmp_path, tarfile.TarInfo(name), b"owned")

    # When it is extracted, Then it is refused and nothing lands outside the destination
    with pytest.raises(JobInputError, match="outside"):
        extract_model_archive(archive, tmp_path / "dest" / "inner")
    assert not (tmp_path / "dest" / "escaped.txt").exists()


def test_archive_with_a_symlink_member_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("xgboost-model")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive = _archive_with(tmp_path, link)

    with pytest.raises(JobInputError, match="not a regular file"):
        extract_model_archive(archive, tmp_path / "dest")


def test_a_file_that_is_not_a_gzipped_tar_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not an archive")

    with pytest.raises(JobInputError, match="cannot extract model archive"):
        extract_model_archive(archive, tmp_path / "dest")


def test_failure_reason_is_written_to_the_failure_file(tmp_path: Path) -> None:
    path = write_failure_reason(tmp_path / "output", "target 'y' must have exactly two labels")

    assert path == tmp_path / "output" / "failure"
    assert path.read_text(encoding="utf-8") == "target 'y' must have exactly two labels"


def test_failure_reason_is_cut_to_the_length_sagemaker_keeps(tmp_path: Path) -> None:
    path = write_failure_reason(tmp_path, "x" * 5000)

    assert len(path.read_text(encoding="utf-8")) == 1024
