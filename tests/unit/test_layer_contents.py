"""The Lambda layer holds what the handlers import and nothing that needs the local tools or the ML stack.

``layers/common/python`` is deployed as it is (the template's ``CommonLayer`` ContentUri), with only
``requirements.txt`` installed next to it. Each check imports layer code in a sandboxed interpreter
(``tests/sandbox.py``) whose path holds the layer directory and the virtualenv's third-party
libraries, never ``src/``, and which refuses the packages a Lambda does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import PROJECT_DIR
from tests.sandbox import SandboxResult, import_in_sandbox, imported_modules, module_file, module_name

LAYER_DIR = PROJECT_DIR / "layers" / "common" / "python"
PACKAGE_DIR = LAYER_DIR / "governed_mlops"
HANDLERS = sorted(PROJECT_DIR.glob("functions/*/app.py"))
#: Not in the layer's requirements (or not meant for a Lambda at all): importing one is a defect.
REFUSED = frozenset(
    {
        "moto",
        "click",
        "governed_mlops_local",
        "governed_mlops_ml",
        "pandas",
        "numpy",
        "xgboost",
        "shap",
        "matplotlib",
        "sklearn",
        "scipy",
        "samtranslator",
    }
)
LAYER_MODULES = sorted(module_name(path, LAYER_DIR) for path in PACKAGE_DIR.rglob("*.py"))
#: Layer modules no handler imports, and why they are in the layer anyway.
NOT_FOR_HANDLERS = {
    "governed_mlops.domain.task_tokens": "task-token redaction for the history adapter below (kept beside it)",
    "governed_mlops.adapters.execution_history": "the AWS adapter for Step Functions history (`mlops history "
    "--aws`, the history UI); an adapter, so it lives with the other boto3 code",
    "governed_mlops.contracts": "each Task state's models, narrowing the ones the handlers parse (kept beside "
    "them); read by tests/unit/test_state_contracts.py, not imported at a cold start",
}


def _chains(result: SandboxResult) -> list[str]:
    return [" -> ".join(chain) for chain in result.refusals]


def _relative(path: Path) -> str:
    return path.relative_to(PROJECT_DIR).as_posix()


def handler_closure(app: Path) -> dict[str, list[str]]:
    """First-party module -> import chain from the handler, for every module it may import (functions included).

    Read from the sources, so an import inside a function that a test never calls still counts.
    A first-party name that is not a file under the layer is a class or function (``from m import X``).
    """
    chains: dict[str, list[str]] = {}
    pending = [(app, [_relative(app)])]
    while pending:
        source, chain = pending.pop()
        for name in sorted(imported_modules(source)):
            top = name.partition(".")[0]
            if top in REFUSED:
                chains.setdefault(name, [*chain, name])
                continue
            if top != "governed_mlops":
                continue
            parts = name.split(".")
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            for prefix in (".".join(parts[:depth]) for depth in range(1, len(parts) + 1)):
                path = module_file(prefix, [LAYER_DIR])
                if path is None:
                    break
                if prefix not in chains:
                    chains[prefix] = [*chain, prefix]
                    pending.append((path, chains[prefix]))
    return chains


def deployed_environment() -> dict[str, str]:
    """Every variable the template gives any function (intrinsics resolve at deploy time), for cold starts."""
    template: dict[str, Any] = yaml_parse((PROJECT_DIR / "template.yaml").read_text(encoding="utf-8"))
    variables: dict[str, Any] = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            variables |= resource["Properties"].get("Environment", {}).get("Variables", {})
    environ = {name: value if isinstance(value, str) else "<resolved>" for name, value in variables.items()}
    # What the Lambda runtime adds; tracing off because there is no X-Ray daemon here.
    return environ | {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_TRACE_DISABLED": "true"}


@pytest.fixture(scope="module")
def handler_imports() -> SandboxResult:
    """All handlers imported (cold start: settings read, module-level code run) in one sandbox."""
    return import_in_sandbox(
        [_relative(app) for app in HANDLERS],
        code_dirs=[LAYER_DIR],
        refused=REFUSED,
        environ=deployed_environment(),
        report_loaded={"governed_mlops"},
        cwd=PROJECT_DIR,
    )


def test_there_are_layer_modules_and_handlers_to_check() -> None:
    # An empty glob would make every check below vacuous.
    assert "governed_mlops.settings" in LAYER_MODULES
    assert len(HANDLERS) >= 10


def test_every_layer_module_imports_with_only_the_layer_and_its_requirements() -> None:
    # Given a fresh interpreter with the layer directory and third-party libraries only
    result = import_in_sandbox(LAYER_MODULES, code_dirs=[LAYER_DIR], refused=REFUSED)

    # Then every module of the layer imports, and none reached for a refused package (even if caught)
    assert result.failures == {}
    assert _chains(result) == []


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: p.relative_to(LAYER_DIR).as_posix())
def test_no_layer_module_imports_a_refused_package_even_inside_a_function(path: Path) -> None:
    refused = sorted(name for name in imported_modules(path) if name.partition(".")[0] in REFUSED)

    assert refused == [], f"{path.relative_to(LAYER_DIR)} imports {refused}"


@pytest.mark.parametrize("app", HANDLERS, ids=lambda p: p.parent.name)
def test_handler_imports_only_layer_modules(app: Path) -> None:
    # Given every module the handler may import, following the layer's own imports
    closure = handler_closure(app)

    # Then all of them are layer modules: nothing from src/ and no refused third-party package
    outside = [" -> ".join(chain) for name, chain in closure.items() if name.partition(".")[0] != "governed_mlops"]
    assert outside == []
    assert "governed_mlops.observability" in closure  # the walk did follow the handler's imports


@pytest.mark.parametrize("app", HANDLERS, ids=lambda p: p.parent.name)
def test_handler_cold_starts_in_the_sandbox(app: Path, handler_imports: SandboxResult) -> None:
    failure = handler_imports.failures.get(_relative(app))

    # A ConfigError comes from reading settings, after every import of app.py has run: whether the
    # template's environment satisfies the settings is test_settings.py's question, not this one's.
    assert failure is None or failure.startswith("governed_mlops.errors.ConfigError: "), failure


def test_no_handler_cold_start_reaches_for_a_refused_package(handler_imports: SandboxResult) -> None:
    # Counted even when the layer catches the ImportError: the chain names the module that asked.
    assert _chains(handler_imports) == []


def test_every_layer_module_serves_a_handler() -> None:
    # Given the modules some handler may import
    reached = {name for app in HANDLERS for name in handler_closure(app)}

    # Then the layer ships nothing else, apart from the documented exceptions
    unreached = sorted(set(LAYER_MODULES) - reached - set(NOT_FOR_HANDLERS))
    assert unreached == [], "move code no handler imports out of the layer (to src/), or document why it stays"
    assert sorted(set(NOT_FOR_HANDLERS) - set(LAYER_MODULES)) == []


def test_report_layer_size(handler_imports: SandboxResult) -> None:
    # Figures for the record (visible with -s); the assertions keep the layer to code and its requirements.
    files = [p for p in LAYER_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    directories = [LAYER_DIR, *(p for p in LAYER_DIR.rglob("*") if p.is_dir() and p.name != "__pycache__")]
    size = sum(p.stat().st_size for p in files) + sum(p.stat().st_size for p in directories)  # as `du -sb`
    sources = [p for p in files if p.suffix == ".py"]
    lines = sum(len(p.read_bytes().splitlines()) for p in sources)
    loaded = set(handler_imports.loaded)
    loaded_lines = sum(len(p.read_bytes().splitlines()) for p in sources if module_name(p, LAYER_DIR) in loaded)
    print(
        f"\nLambda layer {LAYER_DIR.relative_to(PROJECT_DIR)}: {size:,} bytes, {len(sources)} modules, "
        f"{lines:,} lines of .py; handlers' cold starts load {len(loaded)} modules, {loaded_lines:,} lines"
    )
    assert sorted(p.relative_to(LAYER_DIR).as_posix() for p in files if p.suffix != ".py") == ["requirements.txt"]
    assert loaded <= set(LAYER_MODULES)


#: Which first-party packages each package may import: the layer none of the others, the job helpers
#: the layer's pure modules (the sourcedir tests check that purity), the local tools both.
MAY_IMPORT = {
    "governed_mlops": {"governed_mlops"},
    "governed_mlops_ml": {"governed_mlops", "governed_mlops_ml"},
    "governed_mlops_local": {"governed_mlops", "governed_mlops_ml", "governed_mlops_local"},
}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_each_other_in_one_direction(package: str) -> None:
    root = LAYER_DIR if package == "governed_mlops" else PROJECT_DIR / "src"
    sources = sorted((root / package).rglob("*.py"))
    offenders = [
        f"{path.relative_to(PROJECT_DIR)}: {name}"
        for path in sources
        for name in sorted(imported_modules(path))
        if name.partition(".")[0] in MAY_IMPORT and name.partition(".")[0] not in MAY_IMPORT[package]
    ]

    assert sources
    assert offenders == []
