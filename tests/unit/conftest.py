"""Fixtures for the pure unit tests: the real German credit data and its configuration."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.models import ObjectDigest, S3Ref

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"

Table = tuple[list[str], list[list[str]]]


@pytest.fixture(scope="session")
def german_credit_bytes() -> bytes:
    """The shipped German credit CSV, byte for byte."""
    return GERMAN_CREDIT_CSV.read_bytes()


@pytest.fixture(scope="session")
def german_credit_config() -> PipelineConfig:
    """The shipped German credit pipeline configuration."""
    return parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=str(GERMAN_CREDIT_CONFIG))


@pytest.fixture
def german_credit_table(german_credit_bytes: bytes) -> Table:
    """Header and rows of the German credit CSV, a fresh copy per test so tests may mutate it."""
    rows = list(csv.reader(io.StringIO(german_credit_bytes.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


@pytest.fixture
def digest_of() -> Callable[[bytes], ObjectDigest]:
    """Build the ObjectDigest the Validate Data stage would pass for some bytes."""

    def build(data: bytes) -> ObjectDigest:
        ref = S3Ref(bucket="governed-mlops-data", key="datasets/credit-risk/german_credit.csv", version_id="v1")
        return ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    return build
