"""Packages whose ``__init__`` runs at their first real use, not when a submodule of theirs is imported.

moto's Step Functions interpreter imports ``moto.batch.utils`` for one enum (``JobStatus``, used only by
the ``batch:submitJob`` integration). Importing a submodule runs its package's ``__init__`` first, and
``moto/batch/__init__.py`` imports moto's Batch backend, which imports all of moto's EC2 (region and
instance-type tables built at import time): about 0.8 s of every runtime's start and 100 MB of its
memory, for a service the local stack never calls.

:func:`install` puts a finder on ``sys.meta_path`` that imports each named package as an empty package
(its ``__path__`` and ``__spec__`` set, so its submodules import as usual) whose ``__init__`` runs the
first time anything asks the package for an attribute it does not have yet, e.g. ``from moto.batch
import batch_backends`` when a Batch call reaches moto. Nothing is imported by installing the finder.

:func:`import_without` imports a library without one of its optional integrations (XGBoost without its
scikit-learn wrappers, for the models the runtime serves).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from importlib.machinery import PathFinder
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

#: Packages imported only for a submodule of theirs on the runtime's start-up path (see the module docstring).
DEFERRED_PACKAGES = ("moto.batch",)

#: One lock for every deferred package: an ``__init__`` runs once, and a thread that asks for an
#: attribute while another runs it waits for the whole ``__init__``.
_init_lock = threading.RLock()
#: Package name -> the real loader of its ``__init__``, until that has run.
_pending: dict[str, Loader] = {}


class _DeferredPackage(types.ModuleType):
    """A package module whose ``__init__`` runs on the first lookup of an attribute it lacks."""

    def __getattr__(self, name: str) -> object:
        with _init_lock:
            loader = _pending.pop(self.__name__, None)
            if loader is not None:
                try:
                    loader.exec_module(self)
                finally:
                    self.__class__ = types.ModuleType  # type: ignore[assignment]
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


class _DeferringLoader:  # the loader protocol; importlib.abc would cost the CLI 25 ms of imports
    """Creates the package as a :class:`_DeferredPackage` and keeps its real loader for later."""

    def __init__(self, real: Loader) -> None:
        self._real = real

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        return _DeferredPackage(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system has set __spec__, __path__, __file__ and __package__: submodules import.
        # Tools that read the loader (inspect.getsource, importlib.reload) get the real one.
        module.__loader__ = self._real
        if module.__spec__ is not None:
            module.__spec__.loader = self._real
        _pending[module.__name__] = self._real


class _DeferringFinder:  # the meta path finder protocol
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return None  # not a package on the file system: import it the ordinary way
        spec.loader = cast("Loader", _DeferringLoader(spec.loader))
        return spec


def install(names: Sequence[str] = DEFERRED_PACKAGES) -> None:
    """Defer the ``__init__`` of each named package (one not imported yet); installing twice changes nothing."""
    if any(isinstance(finder, _DeferringFinder) and finder.names == frozenset(names) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferringFinder(names))


def is_initialized(name: str) -> bool:
    """Whether the package ``name`` has run its ``__init__`` (False also when it is not imported at all)."""
    return name in sys.modules and name not in _pending


class _RefusingFinder:
    """Refuses to find ``refused`` (and its submodules) for imports made by one thread."""

    def __init__(self, refused: str, thread: int) -> None:
        self.refused = refused
        self.thread = thread

    def find_spec(
        self,
        fullname: str,
        _path: Sequence[str] | None,
        _target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if threading.get_ident() == self.thread and fullname.partition(".")[0] == self.refused:
            raise ModuleNotFoundError(f"{fullname} is not loaded by this import", name=fullname)
        return None


def import_without(module: str, optional: str) -> types.ModuleType:
    """Import ``module`` as if its optional dependency ``optional`` were not installed.

    The local runtime serves models with XGBoost's Booster; ``import xgboost`` also imports
    scikit-learn (and scipy.special) when it finds it, only for its scikit-learn estimator wrappers
    (``XGBClassifier``...), which nothing in the runtime's process uses: 64 MB of the runtime's memory
    and about a second of its first model load. Only this thread's import is refused, and only while
    ``module`` is being imported: ``import sklearn`` works as usual afterwards (and in other threads).
    A process that has loaded ``optional`` already, or ``module``, gets them as they are.
    """
    if module in sys.modules or optional in sys.modules:
        return importlib.import_module(module)
    finder = _RefusingFinder(optional, threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(module)
    finally:
        sys.meta_path.remove(finder)
