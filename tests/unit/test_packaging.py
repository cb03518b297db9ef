"""What ships: the Lambda layer pins the lock file's versions; the jobs' sourcedir holds what the jobs import."""

from __future__ import annotations

import io
import re
import tarfile
import tomllib
from pathlib import Path

import pytest

from governed_mlops_local.packaging import JOB_PACKAGE_ROOTS, build_sourcedir
from governed_mlops_local.zygote import JOB_PACKAGES
from tests.conftest import PROJECT_DIR
from tests.sandbox import import_in_sandbox, imported_modules, module_file, module_name


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((PROJECT_DIR / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


def test_layer_requirements_are_pinned_to_the_lock_file():
    locked = _locked_versions()
    lines = (PROJECT_DIR / "layers/common/python/requirements.txt").read_text().splitlines()
    pins = [re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==([0-9][^ ]*)", line) for line in lines if line.strip()]
    assert all(pins), f"every layer requirement must be name==version: {lines}"
    for match in pins:
        assert match is not None
        name, version = match.group(1).lower(), match.group(3)
        assert locked.get(name) == version, f"{name}=={version} in the layer, {locked.get(name)} in uv.lock"


def test_layer_stays_free_of_ml_and_local_runtime_dependencies():
    text = (PROJECT_DIR / "layers/common/python/requirements.txt").read_text().lower()
    for heavy in ("xgboost", "pandas", "numpy", "scikit-learn", "moto", "shap"):
        assert heavy not in text


# -- the SageMaker jobs' sourcedir ----------------------------------------------------------------

#: Absent from SageMaker's XGBoost framework container, or never meant for a job.
NOT_IN_JOB_CONTAINER = frozenset(
    {
        "pydantic",
        "yaml",
        "boto3",
        "botocore",
        "aws_lambda_powertools",
        "moto",
        "click",
        "samtranslator",
        "governed_mlops_local",
    }
)
JOB_SCRIPTS = sorted(path.name for path in (PROJECT_DIR / "jobs").glob("*.py"))


@pytest.fixture(scope="module")
def sourcedir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``build_sourcedir`` extracted, as SageMaker does with ``tar -xzf sourcedir.tar.gz``."""
    root = tmp_path_factory.mktemp("sourcedir")
    with tarfile.open(fileobj=io.BytesIO(build_sourcedir(PROJECT_DIR)), mode="r:gz") as archive:
        archive.extractall(root, filter="data")
    return root


def _shipped_modules(root: Path) -> list[str]:
    return sorted(module_name(path, root) for path in root.rglob("*.py") if path.parent != root)


def test_sourcedir_has_every_job_script_at_the_top(sourcedir: Path) -> None:
    assert len(JOB_SCRIPTS) >= 5
    assert sorted(path.name for path in sourcedir.glob("*.py")) == JOB_SCRIPTS


def test_every_job_script_imports_from_the_sourcedir_alone(sourcedir: Path) -> None:
    # Given a fresh interpreter whose path is the extracted sourcedir and third-party libraries only
    # When it imports every job script (top-level imports) and every module shipped beside them
    result = import_in_sandbox(
        [*JOB_SCRIPTS, *_shipped_modules(sourcedir)],
        code_dirs=[sourcedir],
        refused=NOT_IN_JOB_CONTAINER,
        cwd=sourcedir,
    )

    # Then nothing is missing and nothing reached for a library the job container does not have
    assert result.failures == {}
    assert [" -> ".join(chain) for chain in result.refusals] == []


def test_imports_inside_functions_resolve_in_the_sourcedir(sourcedir: Path) -> None:
    # Imports a job makes only on some paths (bias.py imports the model code for --stage post only).
    unresolved = [
        f"{path.relative_to(sourcedir)}: {name}"
        for path in sorted(sourcedir.rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name.partition(".")[0] in {"governed_mlops", "governed_mlops_ml", "governed_mlops_local"}
        # ``from m import X`` names m.X too: X is then a class or function of m.
        and module_file(name, [sourcedir]) is None
        and module_file(name.rpartition(".")[0], [sourcedir]) is None
    ]

    assert unresolved == []


def test_sourcedir_ships_only_layer_modules_the_jobs_import(sourcedir: Path) -> None:
    # Given every module any shipped file imports (and the packages those live in)
    imported = {
        ".".join(name.split(".")[:depth])
        for path in sourcedir.rglob("*.py")
        for name in imported_modules(path)
        for depth in range(1, len(name.split(".")) + 1)
    }

    # Then each shipped module is one of them: the layer is not shipped wholesale
    shipped = _shipped_modules(sourcedir)
    assert [module for module in shipped if module not in imported] == []
    assert "governed_mlops.errors" in shipped
    assert "governed_mlops.settings" not in shipped


def test_zygote_purges_the_packages_a_job_brings(sourcedir: Path) -> None:
    # The warm job interpreter must forget its own copy of every package the sourcedir ships.
    assert set(JOB_PACKAGE_ROOTS) == JOB_PACKAGES
    assert {path.name for path in sourcedir.iterdir() if path.is_dir()} == JOB_PACKAGES
