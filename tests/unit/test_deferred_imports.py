"""A deferred package runs its ``__init__`` at the first attribute it is asked for, not at a submodule's import.

The local runtime defers ``moto.batch`` (moto's Step Functions interpreter imports ``moto.batch.utils`` for
one enum; the package's ``__init__`` imports all of moto's EC2). Probes that look at ``sys.modules`` run in a
fresh interpreter: this one has imported half the stack already.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from governed_mlops_local import deferred_imports

#: What starting the runtime must not import: moto's EC2 and Batch backends, the scientific stack.
NOT_AT_START = ("moto.ec2", "moto.batch.models", "numpy", "pandas", "xgboost", "sklearn", "scipy")


def _probe(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip().splitlines()


def _package(root: Path, name: str) -> None:
    # __init__ counts its runs in a module that is not deferred; the submodule is what a caller imports.
    (root / f"{name}_runs.py").write_text("count = 0\n")
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(
        f"import time\nimport {name}_runs\n{name}_runs.count += 1\n"
        "time.sleep(0.05)\nfrom .part import VALUE\nheavy = True\n"
    )
    (package / "part.py").write_text("VALUE = 42\n")


@pytest.fixture
def deferred_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"deferred_probe_{request.node.name.replace('[', '_').replace(']', '_')}"
    _package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    deferred_imports.install((name,))
    importlib.import_module(f"{name}_runs")
    yield name
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def test_importing_a_submodule_does_not_run_the_package_init(deferred_package: str) -> None:
    # When the submodule is imported
    part = __import__(f"{deferred_package}.part", fromlist=["VALUE"])

    # Then it works, and the package's __init__ has not run
    assert part.VALUE == 42
    assert sys.modules[f"{deferred_package}_runs"].count == 0
    assert not deferred_imports.is_initialized(deferred_package)


def test_the_first_attribute_asked_for_runs_the_init_once(deferred_package: str) -> None:
    # Given the submodule imported first
    __import__(f"{deferred_package}.part")
    package = sys.modules[deferred_package]

    # When a name the __init__ defines is asked for, twice
    assert package.heavy is True
    assert package.VALUE == 42

    # Then the __init__ ran once, and the package is an ordinary module from then on
    assert sys.modules[f"{deferred_package}_runs"].count == 1
    assert deferred_imports.is_initialized(deferred_package)
    assert type(package).__name__ == "module"


def test_threads_asking_at_once_all_see_the_finished_init(deferred_package: str) -> None:
    # Given the package imported (deferred) and eight threads asking for a name its __init__ sets last
    __import__(deferred_package)
    package = sys.modules[deferred_package]
    seen: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        seen.append(package.heavy)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every thread got it (none saw a half-run __init__), and the __init__ ran once (it sleeps meanwhile)
    assert seen == [True] * 8
    assert sys.modules[f"{deferred_package}_runs"].count == 1


def test_a_missing_name_is_still_an_attribute_error(deferred_package: str) -> None:
    package = __import__(deferred_package)

    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = package.nothing_here


def test_importing_the_runtime_loads_neither_moto_ec2_nor_the_scientific_stack() -> None:
    # moto.batch itself is imported (the interpreter's batch task imports moto.batch.utils), its __init__ is not run
    probe = (
        "import sys\nimport governed_mlops_local.runtime\nfrom governed_mlops_local import deferred_imports\n"
        f"print('loaded=' + ','.join(m for m in {NOT_AT_START!r} if m in sys.modules))\n"
        "print(deferred_imports.is_initialized('moto.batch'))\n"
    )

    assert _probe(probe) == ["loaded=", "False"]


def test_moto_batch_still_works_when_it_is_used() -> None:
    # After the runtime's imports, what moto's backend lookup does for a Batch call, and the enum the parser holds
    probe = (
        "import sys, importlib\nimport governed_mlops_local.runtime\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_batch\n"
        "backends = getattr(importlib.import_module('moto.batch'), 'batch_backends')\n"
        "import moto.batch.utils\n"
        "print(type(backends).__name__)\n"
        "print(state_task_service_batch.JobStatus is moto.batch.utils.JobStatus)\n"
        "print(type(sys.modules['moto.batch'].__loader__).__name__)\n"
    )

    assert _probe(probe) == ["BackendDict", "True", "SourceFileLoader"]


@pytest.fixture
def optional_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A library that uses an optional dependency when it can import it (as xgboost does scikit-learn)."""
    name = f"lib_{request.node.name}"
    (tmp_path / f"{name}.py").write_text(
        f"try:\n    import {name}_opt.sub\n    HAS_OPT = True\nexcept ImportError:\n    HAS_OPT = False\n"
    )
    (tmp_path / f"{name}_opt").mkdir()
    (tmp_path / f"{name}_opt" / "__init__.py").write_text("")
    (tmp_path / f"{name}_opt" / "sub.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def test_import_without_leaves_the_optional_dependency_out_then_allows_it(optional_dependency: str) -> None:
    meta_path = list(sys.meta_path)

    library = deferred_imports.import_without(optional_dependency, f"{optional_dependency}_opt")

    assert library.HAS_OPT is False
    assert f"{optional_dependency}_opt" not in sys.modules
    assert sys.meta_path == meta_path  # the refusal is gone
    assert importlib.import_module(f"{optional_dependency}_opt.sub") is not None


def test_import_without_takes_an_optional_dependency_already_loaded(optional_dependency: str) -> None:
    importlib.import_module(f"{optional_dependency}_opt.sub")

    library = deferred_imports.import_without(optional_dependency, f"{optional_dependency}_opt")

    assert library.HAS_OPT is True


def test_the_first_model_load_imports_xgboost_without_scikit_learn() -> None:
    # The container loader's imports run before it reads the model: a store without the model stops it there.
    probe = (
        "import sys\n"
        "from governed_mlops_local.endpoints.containers import ModelContainers\n"
        "class NoModels:\n"
        "    root = None\n"
        "    def model(self, name):\n"
        "        raise LookupError(name)\n"
        "try:\n"
        "    ModelContainers(NoModels(), None)._load_archive('m')\n"
        "except LookupError:\n"
        "    pass\n"
        "print(','.join(m for m in ('xgboost', 'governed_mlops_ml.serving', 'sklearn') if m in sys.modules))\n"
        "import sklearn.metrics\n"
        "print('sklearn usable')\n"
    )

    assert _probe(probe) == ["xgboost,governed_mlops_ml.serving", "sklearn usable"]
