"""Replacing attributes of other libraries, reversibly, now or when their module is first imported.

A :class:`Target` names one attribute (``"package.module:name"`` or ``"package.module:Class.name"``)
and a factory that builds the replacement from the original, so that a replacement can hand the
inputs it does not speed up back to the original. An :class:`Installation` applies the targets of
one library and undoes them, restoring the very objects it found.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

__all__ = ["Target", "Installation", "UnsupportedVersion"]


class UnsupportedVersion(ImportError):
    """The library imports, but lacks an attribute that wsfast replaces (a version it does not know)."""


@dataclass(frozen=True)
class Target:
    """One attribute to replace.

    Attributes:
        path: ``"module:attribute"`` or ``"module:Class.attribute"``.
        make: builds the replacement from the original object (or returns the original itself
            to leave it alone).
        lazy: never import the module for this target (importing it has side effects, such as a
            deprecation warning); patch it now if it is imported already, else when it is imported.
    """

    path: str
    make: Callable[[Any], Any]
    lazy: bool = False

    @property
    def module(self) -> str:
        return self.path.partition(":")[0]


def _locate(module: ModuleType, target: Target) -> tuple[Any, str, Any]:
    """(owner, attribute name, original) for ``target`` in its imported ``module``.

    Raises:
        UnsupportedVersion: the attribute, or the class holding it, is not there.
    """
    *owners, name = target.path.partition(":")[2].split(".")
    owner: Any = module
    for part in owners:
        owner = getattr(owner, part, None)
    # vars() rather than getattr(): a class attribute must be restored exactly as it was stored
    namespace = vars(owner) if owner is not None else {}
    if name not in namespace:
        raise UnsupportedVersion(f"{target.path} does not exist in this version, so wsfast cannot replace it")
    return owner, name, namespace[name]


class Installation:
    """The replacements made in one library; :meth:`undo` puts every original back."""

    def __init__(self) -> None:
        self._applied: list[tuple[Any, str, Any, Any]] = []  # owner, name, original, replacement
        self._watches: list[str] = []
        self._made: list[tuple[Any, Any, Any]] = []  # (factory, original, replacement): one per pair

    @classmethod
    def prepare(cls, targets: Iterable[Target]) -> Installation:
        """Import and locate every target first, so that nothing is patched if any is missing.

        Raises:
            ImportError: a module does not import.
            UnsupportedVersion: an attribute is missing.
        """
        installation = cls()
        located = []
        for target in targets:
            if target.lazy and target.module not in sys.modules:
                installation._watches.append(target.module)
                _AFTER_IMPORT.watch(target.module, partial(installation._apply_late, target=target))
                continue
            located.append((target, _locate(importlib.import_module(target.module), target)))
        for target, (owner, name, original) in located:
            installation._apply(owner, name, original, target.make)
        return installation

    def _apply(self, owner: Any, name: str, original: Any, make: Callable[[Any], Any]) -> None:
        for made_by, made_from, replacement in self._made:
            if made_by is make and made_from is original:
                break
        else:
            replacement = make(original)
            self._made.append((make, original, replacement))
        if replacement is original:  # the factory left this one alone (a version it does not know)
            return
        setattr(owner, name, replacement)
        self._applied.append((owner, name, original, replacement))

    def _apply_late(self, module: ModuleType, *, target: Target) -> None:
        try:
            owner, name, original = _locate(module, target)
        except UnsupportedVersion:
            return  # a version without this hot spot: it simply stays as it is
        with LOCK:
            self._apply(owner, name, original, target.make)

    def undo(self) -> None:
        """Restore every original that still holds our replacement (leave anyone else's alone)."""
        for module in self._watches:
            _AFTER_IMPORT.unwatch(module)
        self._watches.clear()
        for owner, name, original, replacement in reversed(self._applied):
            if vars(owner).get(name) is replacement:
                setattr(owner, name, original)
        self._applied.clear()

    @property
    def applied(self) -> list[tuple[Any, str, Any, Any]]:
        """(owner, name, original, replacement) of each replacement in place, in order."""
        return list(self._applied)


# Re-entrant: a patch applied during an import may run while install() holds the lock.
LOCK = threading.RLock()


class _PatchAfterExec(importlib.abc.Loader):
    """Runs a module's real loader, then a callback; leaves no trace of itself on the module."""

    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self._loader  # type: ignore[union-attr]  # found by its spec
        self._loader.exec_module(module)
        self._callback(module)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls back once a watched module has been imported (Python has no post-import hook)."""

    def __init__(self) -> None:
        self._callbacks: dict[str, Callable[[ModuleType], None]] = {}

    def watch(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self._callbacks[name] = callback
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def unwatch(self, name: str) -> None:
        self._callbacks.pop(name, None)
        if not self._callbacks and self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        callback = self._callbacks.get(fullname)
        if callback is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        self.unwatch(fullname)  # once: a later re-import is a new module the user asked for
        spec.loader = _PatchAfterExec(spec.loader, callback)
        return spec


_AFTER_IMPORT = _AfterImport()
