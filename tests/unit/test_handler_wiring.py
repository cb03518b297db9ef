"""Every handler builds its dependencies the same way.

``functions/<name>/app.py`` reads one settings class at cold start
(``SETTINGS = XSettings.from_environ(os.environ)``) and has one ``@cache def dependencies() -> Deps``
whose body is ``return <builder>(SETTINGS)``: one typed dependencies object per function, built lazily
on first use. Nothing else in the handler reads the environment or builds adapters or clients.
The handlers are read as source (importing one would read its environment).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import typing
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = sorted((REPO_ROOT / "functions").glob("*/app.py"))


def _tree(app: Path) -> ast.Module:
    return ast.parse(app.read_text(encoding="utf-8"))


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> ``module`` or ``module.attribute`` it was imported as."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Import):
            names.update({alias.asname or alias.name: alias.name for alias in node.names})
    return names


def _resolve(expression: ast.expr, names: dict[str, str]) -> object:
    dotted = ast.unparse(expression).split(".")
    qualified = names[dotted[0]].split(".") + dotted[1:]
    for split in range(len(qualified), 0, -1):
        try:
            value: object = importlib.import_module(".".join(qualified[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in qualified[split:]:
            value = getattr(value, attribute)
        return value
    raise AssertionError(f"cannot resolve {ast.unparse(expression)}")


def _dependencies_function(tree: ast.Module) -> ast.FunctionDef:
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "dependencies"]
    assert len(found) == 1, "exactly one top-level dependencies()"
    return found[0]


def dependencies_class(app: Path) -> type:
    """The class ``dependencies()`` of ``app`` is annotated to return."""
    tree = _tree(app)
    function = _dependencies_function(tree)
    assert function.returns is not None, f"{app}: dependencies() has no return annotation"
    resolved = _resolve(function.returns, _imported_names(tree))
    assert isinstance(resolved, type), f"{app}: dependencies() returns {resolved!r}, not a class"
    return resolved


def test_there_are_handlers_to_check() -> None:
    assert len(APPS) >= 12


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_settings_are_read_once_at_module_level(app: Path) -> None:
    tree = _tree(app)
    settings = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["SETTINGS"]
    ]

    assert len(settings) == 1
    call = settings[0].value
    assert isinstance(call, ast.Call)
    assert ast.unparse(call.func).endswith("Settings.from_environ")
    assert [ast.unparse(arg) for arg in call.args] == ["os.environ"]
    # No other reading of the environment anywhere in the handler.
    assert ast.unparse(tree).count("os.environ") == 1


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_dependencies_are_one_cached_builder_call_on_the_settings(app: Path) -> None:
    function = _dependencies_function(_tree(app))

    assert [ast.unparse(d) for d in function.decorator_list] == ["cache"]
    assert not function.args.args
    (statement,) = function.body
    assert isinstance(statement, ast.Return)
    assert isinstance(statement.value, ast.Call)
    assert [ast.unparse(arg) for arg in statement.value.args] == ["SETTINGS"]
    assert not statement.value.keywords


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_dependencies_are_a_typed_object_the_builder_returns(app: Path) -> None:
    tree = _tree(app)
    names = _imported_names(tree)
    function = _dependencies_function(tree)
    builder = _resolve(function.body[0].value.func, names)  # type: ignore[attr-defined]
    deps_class = dependencies_class(app)

    # A dataclass with a type on every field, and the builder is declared to return exactly it.
    assert dataclasses.is_dataclass(deps_class)
    assert all(field.type not in {None, ""} for field in dataclasses.fields(deps_class))
    assert typing.get_type_hints(builder)["return"] is deps_class


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_the_handler_builds_no_adapter_itself(app: Path) -> None:
    source = ast.unparse(_tree(app))

    assert "factory." not in source
    assert "boto3" not in source


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_the_handler_uses_its_dependencies_through_the_one_function(app: Path) -> None:
    tree = _tree(app)
    cached = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "cache" for d in node.decorator_list)
    ]

    assert cached == ["dependencies"]
