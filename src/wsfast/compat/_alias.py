"""Serving a module under another top-level name, only where no real module of that name exists."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["ModuleAlias"]


class _Existing(importlib.abc.Loader):
    """Loads a module that is imported already: the alias and the target are one module object."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def create_module(self, spec: Any) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        pass


class ModuleAlias(importlib.abc.MetaPathFinder):
    """Makes ``import alias`` and ``import alias.sub`` give ``target`` and ``target.sub``.

    It sits first in ``sys.meta_path`` (a submodule must be answered before the path finder would
    load the target's file a second time under the alias name), but answers for the top-level name
    only after every other finder has been asked and found nothing.
    """

    def __init__(self, alias: str, target: str) -> None:
        self.alias = alias
        self.target = target

    def exists_elsewhere(self) -> bool:
        """True if another finder can import a real module under the alias name."""
        module = sys.modules.get(self.alias)
        if module is not None:
            return module is not importlib.import_module(self.target)
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                if finder.find_spec(self.alias, None, None) is not None:
                    return True
            except ImportError:
                return False  # the import system would stop at this error too
        return False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == self.alias:
            if self.exists_elsewhere():
                return None
        elif not fullname.startswith(self.alias + ".") or sys.modules.get(self.alias) is not sys.modules.get(
            self.target
        ):
            return None
        name = self.target + fullname[len(self.alias) :]
        if importlib.util.find_spec(name) is None:
            return None
        module = importlib.import_module(name)
        return importlib.util.spec_from_loader(fullname, _Existing(module), is_package=hasattr(module, "__path__"))

    def install(self) -> bool:
        """Start answering, unless a real module has the alias name. True if the alias is in use."""
        if self.exists_elsewhere():
            return False
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        return True

    def uninstall(self) -> None:
        """Stop answering and forget the modules imported under the alias."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for name, module in list(sys.modules.items()):
            if (name == self.alias or name.startswith(self.alias + ".")) and module.__name__.startswith(self.target):
                del sys.modules[name]
