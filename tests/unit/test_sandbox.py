"""The sandbox the layer and sourcedir checks rely on does see only what it is given, and names who asked."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox import import_in_sandbox


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_refused_import_fails_and_names_the_chain(tmp_path: Path) -> None:
    # Given a package whose inner module imports a refused library through a function
    code = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/outer.py": "import pkg.inner\n",
            "pkg/inner.py": "def load():\n    import json_refused_here\n\nload()\n",
        },
    )

    # When the sandbox imports the outer module
    result = import_in_sandbox(["pkg.outer"], code_dirs=[code], refused={"json_refused_here"})

    # Then the import fails and the chain runs from the outer module to the refused one
    assert "refused in the sandbox: pkg.outer -> pkg.inner -> json_refused_here" in result.failures["pkg.outer"]
    assert result.refusals == [["pkg.outer", "pkg.inner", "json_refused_here"]]


def test_a_caught_refused_import_is_still_reported(tmp_path: Path) -> None:
    code = _package(tmp_path, {"quiet.py": "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"})

    result = import_in_sandbox(["quiet"], code_dirs=[code], refused={"numpy"})

    assert result.failures == {}
    assert result.refusals == [["quiet", "numpy"]]


def test_the_checkout_packages_are_not_on_the_path() -> None:
    # The editable install's .pth puts layers/common/python and src/ on sys.path; the sandbox skips it.
    result = import_in_sandbox(
        ["governed_mlops", "governed_mlops_local", "governed_mlops_ml"], code_dirs=[], refused=()
    )

    assert sorted(result.failures) == ["governed_mlops", "governed_mlops_local", "governed_mlops_ml"]
    assert all("No module named" in failure for failure in result.failures.values())


def test_third_party_libraries_are_on_the_path() -> None:
    result = import_in_sandbox(["pydantic", "yaml"], code_dirs=[], refused=())

    assert result.failures == {}
