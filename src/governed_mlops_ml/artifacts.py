"""File I/O of the ML jobs: channels, datasets, JSON documents, the model archive and the failure file.

Every function takes explicit paths (nothing here reads the environment), so the SageMaker entry
points stay thin and the emulator and later stages reuse the same readers and writers.
"""

from __future__ import annotations

import csv
import gzip
import json
import tarfile
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import FeatureSpec, feature_spec_from_dict
from governed_mlops_ml.job_config import JOB_CONFIG_FILE, JobConfig, parse_job_config

__all__ = [
    "FAILURE_FILE",
    "FEATURE_SPEC_FILE",
    "MAX_FAILURE_REASON_CHARS",
    "MODEL_ARCHIVE",
    "extract_model_archive",
    "find_single_csv",
    "load_feature_spec",
    "load_job_config",
    "read_dataset",
    "read_json",
    "save_feature_spec",
    "write_failure_reason",
    "write_json",
    "write_model_archive",
]

FEATURE_SPEC_FILE = "feature_spec.json"
MODEL_ARCHIVE = "model.tar.gz"
FAILURE_FILE = "failure"
MAX_FAILURE_REASON_CHARS = 1024
"""SageMaker keeps at most this many characters of a job's FailureReason."""

# A BOM is tolerated (spreadsheet exports add one) so it does not end up in the first column name.
_CSV_ENCODING = "utf-8-sig"


def find_single_csv(directory: Path) -> Path:
    """The one ``.csv`` file directly inside ``directory`` (a SageMaker input channel).

    Raises:
        JobInputError: the directory does not exist, or holds no or several ``.csv`` files.
    """
    if not directory.is_dir():
        raise JobInputError(f"input directory {directory} does not exist")
    found = sorted(path for path in directory.iterdir() if path.is_file() and path.suffix.lower() == ".csv")
    if len(found) != 1:
        names = [path.name for path in found]
        raise JobInputError(f"expected exactly one .csv file in {directory}, found {len(found)}: {names}")
    return found[0]


def read_dataset(path: Path) -> pd.DataFrame:
    """Read a comma-separated UTF-8 CSV with a header row; every column is read as text.

    Only empty fields are missing values: text such as ``NA`` or ``None`` is a category like any
    other, so training and inference see the same categories. Numeric columns are parsed by the encoder.

    Raises:
        JobInputError: the file is not UTF-8, is malformed, has duplicated column names, or has no rows.
    """
    try:
        with path.open(encoding=_CSV_ENCODING, newline="") as handle:
            header = next(csv.reader(handle), [])
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=_CSV_ENCODING)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise JobInputError(f"cannot read {path.name} as a UTF-8 CSV with a header row: {exc}") from exc
    duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicated:
        raise JobInputError(f"{path.name} has duplicated column names: {duplicated}")
    if frame.empty:
        raise JobInputError(f"{path.name} has no data rows")
    return frame


def read_json(path: Path) -> Any:
    """Decode a UTF-8 JSON file.

    Raises:
        JobInputError: the file is missing or is not valid JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobInputError(f"{path} not found") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobInputError(f"{path} is not valid UTF-8 JSON: {exc}") from exc


def write_json(path: Path, document: Any) -> Path:
    """Write ``document`` as indented JSON (strict: NaN and infinity are refused) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load_job_config(config_dir: Path) -> JobConfig:
    """Read and validate ``config_dir/job_config.json``."""
    return parse_job_config(read_json(config_dir / JOB_CONFIG_FILE))


def save_feature_spec(spec: FeatureSpec, model_dir: Path) -> Path:
    """Write ``model_dir/feature_spec.json`` and return its path."""
    return write_json(model_dir / FEATURE_SPEC_FILE, spec.to_json_dict())


def load_feature_spec(model_dir: Path) -> FeatureSpec:
    """Read ``model_dir/feature_spec.json``, as written by the training job."""
    document = read_json(model_dir / FEATURE_SPEC_FILE)
    if not isinstance(document, dict):
        raise JobInputError(f"{FEATURE_SPEC_FILE} must hold a JSON object")
    return feature_spec_from_dict(document)


def write_model_archive(model_dir: Path, archive: Path) -> Path:
    """Pack the files under ``model_dir`` into a gzipped tar, as SageMaker does with SM_MODEL_DIR.

    The archive is reproducible: members are sorted and carry no timestamps or owners, so the same
    model directory always gives the same archive bytes.
    """
    files = sorted(path for path in model_dir.rglob("*") if path.is_file())
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in files:
            info = tarfile.TarInfo(name=path.relative_to(model_dir).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as content:
                tar.addfile(info, content)
    return archive


def extract_model_archive(archive: Path, destination: Path, *, files: Collection[str] | None = None) -> Path:
    """Safely extract a ``model.tar.gz`` into ``destination`` and return ``destination``.

    Only regular files and directories are accepted, and no member may land outside ``destination``
    (absolute paths, ``..`` components, links and device files are refused before anything is written).
    ``files``: extract only the members of these names (a job that scores with the model needs its
    booster and feature spec, not the inference code packed under ``code/``); every member is checked
    all the same, so an archive that would be refused whole is refused here too.

    Raises:
        JobInputError: the archive is missing, unreadable, or holds an unsafe member.
    """
    if not archive.is_file():
        raise JobInputError(f"model archive {archive} not found")
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root)
            if files is not None:
                members = [member for member in members if member.name in files]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, members=members, filter="data")
            else:  # Python without extraction filters (< 3.11.4): members were checked above
                tar.extractall(root, members=members)  # noqa: S202
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise JobInputError(f"cannot extract model archive {archive.name}: {exc}") from exc
    return destination


def write_failure_reason(output_dir: Path, reason: str) -> Path:
    """Write a job's failure reason to ``output_dir/failure`` (SageMaker's FailureReason convention)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / FAILURE_FILE
    path.write_text(reason[:MAX_FAILURE_REASON_CHARS], encoding="utf-8")
    return path


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    if not (member.isfile() or member.isdir()):
        raise JobInputError(f"model archive member {member.name!r} is not a regular file or directory")
    target = (root / member.name).resolve()
    if Path(member.name).is_absolute() or (target != root and root not in target.parents):
        raise JobInputError(f"model archive member {member.name!r} would be extracted outside {root}")
