"""Fixtures for the pure unit tests: the real German credit data and its configuration.

Every unit test runs with network sockets disabled (pytest-socket): a test that needs a server, a port or moto's
HTTP layer belongs in tests/integration. Unix-domain sockets stay allowed (``socket.socketpair`` behind an asyncio
event loop, a subprocess's pipes)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

# The X-Ray SDK (behind Powertools' Tracer) creates its UDP emitter socket when first imported; it sends nothing
# outside Lambda. Imported here, while sockets still work, so which test imports a handler first does not matter.
import aws_xray_sdk.core  # noqa: F401
import pandas as pd
import pytest
from pytest_socket import disable_socket

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.models import ObjectDigest, S3Ref
from governed_mlops.services.stages import job_config_document
from governed_mlops_ml.artifacts import read_dataset
from governed_mlops_ml.job_config import JobConfig, parse_job_config
from governed_mlops_ml.training import TrainedModel, train_model

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"

Table = tuple[list[str], list[list[str]]]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """No network for a unit test or its fixtures (a conftest hook applies to the tests below this directory only).

    tryfirst: before pytest sets up the test's fixtures. pytest-socket's teardown hook restores the real socket after
    every test, so the integration tests that share an xdist worker keep it. Its opt-outs are refused here.
    """
    if item.get_closest_marker("enable_socket") or "socket_enabled" in getattr(item, "fixturenames", ()):
        pytest.fail(f"{item.nodeid}: a unit test gets no sockets; one that needs them is an integration test", False)
    disable_socket(allow_unix_socket=True)


@pytest.fixture(scope="session")
def german_credit_bytes() -> bytes:
    """The shipped German credit CSV, byte for byte."""
    return GERMAN_CREDIT_CSV.read_bytes()


@pytest.fixture(scope="session")
def german_credit_config() -> PipelineConfig:
    """The shipped German credit pipeline configuration."""
    return parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=str(GERMAN_CREDIT_CONFIG))


@pytest.fixture(scope="session")
def german_credit_frame() -> pd.DataFrame:
    """The German credit CSV as the jobs read it (callers must not mutate it)."""
    return read_dataset(GERMAN_CREDIT_CSV)


@pytest.fixture(scope="session")
def german_credit_job_config(german_credit_config: PipelineConfig) -> JobConfig:
    """The job configuration Prepare Data writes for the German credit configuration."""
    return parse_job_config(job_config_document(german_credit_config))


@pytest.fixture(scope="session")
def german_credit_model(
    german_credit_frame: pd.DataFrame, german_credit_job_config: JobConfig, german_credit_config: PipelineConfig
) -> TrainedModel:
    """The German credit model, trained on every row as the training job trains it."""
    hyperparameters = parse_hyperparameters(german_credit_config.training.hyperparameters)
    return train_model(german_credit_frame, german_credit_job_config, hyperparameters)


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
