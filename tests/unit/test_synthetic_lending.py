"""The synthetic lending generator (scripts/make_synthetic_lending.py) and the file it wrote."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from governed_mlops.config import parse_config
from tests.conftest import PROJECT_DIR

SCRIPT = PROJECT_DIR / "scripts" / "make_synthetic_lending.py"
DATA_DIR = PROJECT_DIR / "data" / "synthetic_lending"
CSV_FILE = DATA_DIR / "synthetic_lending.csv"
CONFIG_FILE = PROJECT_DIR / "models" / "synthetic-lending" / "config.yaml"
DOCUMENTED_COLUMNS = [
    "loan_amount",
    "annual_income",
    "debt_to_income",
    "employment_years",
    "loan_term_months",
    "delinquencies_2y",
    "home_ownership",
    "loan_purpose",
    "region",
    "applicant_age",
    "gender",
    "loan_status",
]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    # scripts/ is not a package: load the script as a module from its file.
    spec = importlib.util.spec_from_file_location("make_synthetic_lending", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_same_seed_gives_the_same_bytes_twice(generator: ModuleType):
    first = generator.to_csv_bytes(generator.generate_rows(300, seed=5))
    second = generator.to_csv_bytes(generator.generate_rows(300, seed=5))
    assert first == second


def test_another_seed_gives_other_rows(generator: ModuleType):
    assert generator.generate_rows(300, seed=5) != generator.generate_rows(300, seed=6)


def test_the_committed_csv_is_what_the_script_writes(tmp_path: Path):
    # Given the script run as documented, twice, each in its own process
    outputs = []
    for name in ("a.csv", "b.csv"):
        subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / name)], check=True, capture_output=True)
        outputs.append((tmp_path / name).read_bytes())
    # Then both runs wrote the committed file byte for byte
    assert outputs[0] == outputs[1] == CSV_FILE.read_bytes()


def test_readme_records_the_files_sha256():
    readme = (DATA_DIR / "README.md").read_text()
    assert hashlib.sha256(CSV_FILE.read_bytes()).hexdigest() in readme
    assert "synthetic" in readme.lower()


def test_columns_are_the_documented_ones(generator: ModuleType):
    header = CSV_FILE.read_text().splitlines()[0].split(",")
    assert header == DOCUMENTED_COLUMNS == list(generator.COLUMNS)
    documented = re.findall(r"^\| `([a-z_0-9]+)` \|", (DATA_DIR / "README.md").read_text(), flags=re.MULTILINE)
    assert documented == DOCUMENTED_COLUMNS


def test_values_have_the_documented_shape():
    rows = _rows(CSV_FILE.read_bytes())
    assert len(rows) == 2000
    assert {row["loan_status"] for row in rows} == {"repaid", "defaulted"}
    assert {row["gender"] for row in rows} == {"female", "male"}
    assert {row["home_ownership"] for row in rows} == {"rent", "mortgage", "own"}
    assert {row["loan_term_months"] for row in rows} == {"36", "60"}
    assert all(int(row["employment_years"]) <= int(row["applicant_age"]) - 18 for row in rows)
    assert all(row[column] != "" for row in rows for column in DOCUMENTED_COLUMNS)
    defaulted = sum(row["loan_status"] == "defaulted" for row in rows) / len(rows)
    assert 0.15 < defaulted < 0.35


def test_the_configuration_names_columns_of_the_data():
    config = parse_config(CONFIG_FILE.read_text(), source=str(CONFIG_FILE))
    assert config.bias is not None
    named = {config.dataset.target, *config.dataset.features, *(facet.column for facet in config.bias.facets)}
    assert named <= set(DOCUMENTED_COLUMNS)
    assert {"gender", "applicant_age"}.isdisjoint(config.dataset.features)


def test_rows_must_be_positive(generator: ModuleType):
    with pytest.raises(ValueError, match="rows must be at least 1"):
        generator.generate_rows(0)
