"""Build the SageMaker script-mode ``sourcedir.tar.gz`` from ``jobs/`` and the ML helpers."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from governed_mlops.local.sagemaker import deterministic_tar_gz


def build_sourcedir(project_dir: Path) -> bytes:
    """Job scripts at the top level plus ``governed_mlops/ml`` (imported by the scripts).

    The bytes depend only on file contents, so the tarball's sha256 identifies the code version
    in lineage and ``mlops reproduce`` can check it.
    """
    package = project_dir / "layers" / "common" / "python" / "governed_mlops"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for script in sorted((project_dir / "jobs").glob("*.py")):
            shutil.copyfile(script, root / script.name)
        target = root / "governed_mlops"
        target.mkdir()
        (target / "__init__.py").write_text('"""Subset of the governed_mlops package shipped to SageMaker jobs."""\n')
        shutil.copytree(package / "ml", target / "ml", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return deterministic_tar_gz(root)
