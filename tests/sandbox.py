"""Import code in a fresh interpreter that sees only the directories a test names, never the checkout.

The interpreter runs with ``-I -S``: no ``PYTHON*`` variables, no user site and no ``site`` module, so
neither the virtualenv's site-packages nor the editable install's ``.pth`` (which puts
``layers/common/python`` and ``src`` on the path) is there. The sandbox then puts back exactly what
the test names: its code directories, then the standard library, then the virtualenv's
site-packages (third-party libraries only). A meta-path finder refuses the packages the test names,
records who asked for them (the chain of importing modules) and raises ``ModuleNotFoundError``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: The virtualenv's third-party libraries, without the ``.pth`` files that would add the checkout.
SITE_PACKAGES: tuple[str, ...] = tuple(
    dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
)

_SANDBOX = r"""
import importlib, importlib.abc, importlib.util, json, os, sys, traceback

request = json.loads(sys.argv[1])
refused = frozenset(request["refused"])
code_dirs = request["code_dirs"]
sys.path[:] = [*code_dirs, *sys.path, *request["site_packages"]]
refusals = []


def importer_chain(name):
    # Who is importing: the modules on the stack (module-level code and functions), outermost first.
    chain = []
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "?")
        internal = module.startswith(("importlib", "_frozen_importlib")) or module == "__main__"
        if not internal and module not in chain[-1:]:
            chain.append(module)
        frame = frame.f_back
    return [*reversed(chain), name]


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in refused:
            return None
        chain = importer_chain(name)
        refusals.append(chain)
        raise ModuleNotFoundError("refused in the sandbox: " + " -> ".join(chain), name=name)


def ours(module):
    # A module from the code under test (not a third-party library probing for an optional extra).
    top = module.partition(".")[0]
    return top.startswith("sandboxed_") or any(
        os.path.isdir(os.path.join(d, top)) or os.path.isfile(os.path.join(d, top + ".py")) for d in code_dirs
    )


sys.meta_path.insert(0, Refuse())
failures = {}
for module in request["modules"]:
    try:
        if module.endswith(".py"):  # a file imported under its own name (handlers are all called app)
            name = "sandboxed_" + module.replace("/", "_").removesuffix(".py")
            spec = importlib.util.spec_from_file_location(name, module)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        else:
            importlib.import_module(module)
    except BaseException as exc:
        failures[module] = "".join(traceback.format_exception_only(exc)).strip()
# A refused import the code under test asked for directly counts even if something caught it.
direct = [c for c in refusals if len(c) > 1 and ours(c[-2])]
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in request["report_loaded"])
print(json.dumps({"failures": failures, "refusals": direct, "loaded": loaded}))
"""


@dataclass(frozen=True)
class SandboxResult:
    """What happened when the sandbox imported the modules."""

    #: module (or file) -> the exception it raised, as Python prints it.
    failures: dict[str, str]
    #: importer chains (outermost first, refused module last) of refused imports the code under test made.
    refusals: list[list[str]]
    #: modules of the ``report_loaded`` packages that ended up imported.
    loaded: list[str]


def import_in_sandbox(
    modules: Iterable[str],
    *,
    code_dirs: Iterable[Path],
    refused: Iterable[str],
    environ: Mapping[str, str] | None = None,
    report_loaded: Iterable[str] = (),
    cwd: Path | None = None,
) -> SandboxResult:
    """Import ``modules`` (dotted names, or ``.py`` paths loaded under a unique name) in a fresh sandbox."""
    request = {
        "modules": list(modules),
        "code_dirs": [str(d) for d in code_dirs],
        "site_packages": list(SITE_PACKAGES),
        "refused": sorted(refused),
        "report_loaded": sorted(report_loaded),
    }
    completed = subprocess.run(
        # -B: -I ignores PYTHONDONTWRITEBYTECODE, and the checkout must not collect __pycache__.
        [sys.executable, "-I", "-S", "-B", "-c", _SANDBOX, json.dumps(request)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(environ or {})},
        cwd=cwd,
        timeout=300,
    )
    assert completed.returncode == 0, f"sandbox crashed:\n{completed.stdout}\n{completed.stderr}"
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return SandboxResult(failures=report["failures"], refusals=report["refusals"], loaded=report["loaded"])


def module_name(path: Path, root: Path) -> str:
    """``root/a/b/c.py`` -> ``a.b.c``; ``root/a/b/__init__.py`` -> ``a.b``."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name an ``import`` statement anywhere in ``path`` names (functions included).

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule or just a name).
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (this project uses absolute imports)"
            assert node.module is not None
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_file(module: str, roots: Iterable[Path]) -> Path | None:
    """The file that defines ``module`` under one of ``roots`` (package ``__init__`` or module), if any."""
    for root in roots:
        base = root.joinpath(*module.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None
