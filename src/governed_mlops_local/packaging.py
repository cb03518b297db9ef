"""Build the SageMaker script-mode ``sourcedir.tar.gz``: the job scripts and exactly the code they import.

The job scripts (``jobs/*.py``) import ``governed_mlops_ml``, which imports a few pure modules of the
Lambda layer (``governed_mlops.errors``, ``governed_mlops.domain.bias_names``...). The archive holds
the transitive closure of those first-party imports, found by reading the sources (every ``import``
statement, including those inside functions), and nothing else of the layer: the job container has
no pydantic, boto3 or PyYAML, and code that is not shipped cannot change the archive's hash.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path

from governed_mlops.errors import ConfigError
from governed_mlops_local.sagemaker import deterministic_tar_gz

__all__ = ["build_sourcedir", "job_code_files"]

#: First-party packages a job may import, and where each lives relative to the project directory.
JOB_PACKAGE_ROOTS: dict[str, Path] = {
    "governed_mlops": Path("layers/common/python"),
    "governed_mlops_ml": Path("src"),
}


def _module_file(module: str, roots: dict[str, Path]) -> Path | None:
    """The source file of a first-party ``module`` (package ``__init__`` or plain module), if it exists."""
    base = roots[module.partition(".")[0]].joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: Path, module: str) -> list[tuple[str, bool]]:
    """Every module ``source`` may import, with whether it must exist.

    ``from package import name`` yields ``package`` (required) and ``package.name`` (only a module
    when such a file exists: usually ``name`` is a class or function).
    """
    tree = ast.parse(source.read_bytes(), filename=str(source))
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append((base, True))
            found += [(f"{base}.{alias.name}", False) for alias in node.names if alias.name != "*"]
    return found


def job_code_files(project_dir: Path) -> dict[str, Path]:
    """Path inside the sourcedir -> source file: the job scripts and the first-party modules they import.

    Raises:
        ConfigError: a job script or a module it ships imports a first-party module that does not exist.
    """
    roots = {name: project_dir / root for name, root in JOB_PACKAGE_ROOTS.items()}
    files: dict[str, Path] = {}
    pending: list[tuple[Path, str]] = []
    for script in sorted((project_dir / "jobs").glob("*.py")):
        files[script.name] = script
        pending.append((script, script.stem))
    seen: set[str] = set()
    while pending:
        source, module = pending.pop()
        for name, required in _imports(source, module):
            if name.partition(".")[0] not in roots:
                continue
            parts = name.split(".")
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first: they ship too.
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in seen:
                    continue
                path = _module_file(prefix, roots)
                if path is None:
                    if required or depth < len(parts):
                        raise ConfigError(f"{source}: imports {name}, but {prefix} is not a module under {roots}")
                    break
                seen.add(prefix)
                files[path.relative_to(roots[parts[0]]).as_posix()] = path
                pending.append((path, prefix))
    return dict(sorted(files.items()))


def build_sourcedir(project_dir: Path) -> bytes:
    """Job scripts at the top level plus the packages they import (:func:`job_code_files`).

    The bytes depend only on file names and contents, so the tarball's sha256 identifies the code
    version in lineage and ``mlops reproduce`` can check it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, source in job_code_files(project_dir).items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return deterministic_tar_gz(root)
