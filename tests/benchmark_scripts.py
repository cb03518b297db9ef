"""Load a script under ``benchmarks/`` as a module, for the unit tests of its pure parts."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType


@contextlib.contextmanager
def benchmark_module(path: Path, name: str) -> Iterator[ModuleType]:
    """``path`` executed as module ``name``, registered in ``sys.modules`` while in use.

    Registered while it runs: its dataclasses look their module up in ``sys.modules``.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]
