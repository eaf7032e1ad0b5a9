"""Start-up hook of every Python process of a third-party test run (run.py puts this folder on PYTHONPATH).

It reads the environment that run.py sets:

- ``WSFAST_THIRDPARTY_MODE``: ``control`` (touch nothing) or ``accelerated``: call
  ``wsfast.accelerate.install(LIB)`` before the suite imports anything, or, for ``LIB=wsaccel``,
  ``wsfast.compat.install_wsaccel_alias()``, so that the suite's ``import wsaccel`` gets wsfast's;
  or ``wsaccel`` (run.py --wsaccel, for comparison): wsaccel's own ``patch_<LIB>()`` where it has one;
- ``WSFAST_THIRDPARTY_LIB``: the library, by its ``wsfast.accelerate`` name (or ``wsaccel``);
- ``WSFAST_THIRDPARTY_MODULES``: the library's top-level import names, comma-separated;
- ``WSFAST_THIRDPARTY_REPORT``: a folder for one JSON report per process, written at exit.

The report is the evidence run.py judges by, so that a patch that was never applied, was undone
during the run, or landed on a copy of the library other than the one the tests import, cannot pass:
which wsfast replacements are in place at exit (owner, attribute, the replacement's module), whether
wsfast was imported at all (it must not be in a control run), and the file of each library module.
Under pytest, ``wsfast_thirdparty_plugin`` also checks after every test (see :func:`check`); under
unittest (``wsfast_thirdparty_unittest``) the check is made at exit only.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import traceback
from typing import Any

MODE = os.environ.get("WSFAST_THIRDPARTY_MODE", "")
LIB = os.environ.get("WSFAST_THIRDPARTY_LIB", "")
MODULES = [name for name in os.environ.get("WSFAST_THIRDPARTY_MODULES", "").split(",") if name]
REPORT = os.environ.get("WSFAST_THIRDPARTY_REPORT", "")
PATCHING = MODE == "accelerated" and LIB != "wsaccel"

_report: dict[str, Any] = {"pid": os.getpid(), "argv": sys.argv, "mode": MODE, "lib": LIB, "errors": [],
                           "lost": []}  # fmt: skip
_applied: list[tuple[Any, str, Any]] = []  # owner, attribute, replacement


def _origin(obj: Any) -> str:
    """The module an object (function, class, C function) comes from."""
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else type(obj).__module__


def _attribute(owner: Any, name: str) -> str:
    """``package.module.name`` or ``package.module.Class.name``."""
    where = f"{owner.__module__}.{owner.__qualname__}" if isinstance(owner, type) else owner.__name__
    return f"{where}.{name}"


def _install() -> None:
    import wsfast.accelerate

    _report["install_returned"] = list(wsfast.accelerate.install(LIB))
    installation = wsfast.accelerate._installation(LIB)
    _applied[:] = [] if installation is None else [(owner, name, new) for owner, name, _, new in installation.applied]


def _accelerate() -> None:
    if LIB == "wsaccel":
        import wsfast.compat

        _report["alias_installed"] = wsfast.compat.install_wsaccel_alias()
    else:
        _install()


def _track_late() -> None:
    """Add to what is checked the replacements made after install(): a lazy target's, applied when the
    tests first imported its module (websockets.legacy.framing)."""
    import wsfast.accelerate

    installation = wsfast.accelerate._installation(LIB)
    for owner, name, _, new in [] if installation is None else installation.applied:
        if not any(owner is known and name == known_name for known, known_name, _ in _applied):
            _applied.append((owner, name, new))


def check(after: str) -> None:
    """If a replacement is no longer in place (a test reloaded the module, or restored the original),
    record which, and ``after`` what (a test id), then install again so that the rest of the suite
    still runs accelerated. run.py fails the library for it unless suites.py explains it.
    """
    if not PATCHING:
        return
    _track_late()
    lost = [_attribute(owner, name) for owner, name, new in _applied if vars(owner).get(name) is not new]
    if lost:
        import wsfast.accelerate

        _report["lost"].append({"after": after, "attributes": lost})
        wsfast.accelerate.uninstall(LIB)
        _install()


def _write() -> None:
    wsfast_modules = sorted(name for name in sys.modules if name == "wsfast" or name.startswith("wsfast."))
    _report["wsfast_imported"] = bool(wsfast_modules)
    _report["modules"] = {name: getattr(sys.modules[name], "__file__", None) for name in MODULES if name in sys.modules}
    if MODE == "accelerated":
        if LIB == "wsaccel":
            _report["wsaccel_module"] = getattr(sys.modules.get("wsaccel"), "__name__", None)
        else:
            import wsfast.accelerate

            check("the end of the run")
            _report["installed_at_exit"] = wsfast.accelerate.installed()
            _report["replacements"] = [{"attribute": _attribute(owner, name), "origin": _origin(new)}
                                       for owner, name, new in _applied]  # fmt: skip
        from wsfast import kernels

        _report["kernels"] = kernels.IMPLEMENTATION
    os.makedirs(REPORT, exist_ok=True)
    path = os.path.join(REPORT, f"{os.getpid()}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(_report, stream, indent=1)
    os.replace(path + ".tmp", path)


def _wsaccel_patch() -> None:
    import wsaccel

    patch = getattr(wsaccel, f"patch_{LIB}", None)
    _report["wsaccel_patch"] = patch and patch.__name__
    if patch is not None:
        patch()


if MODE and REPORT:
    if MODE == "wsaccel":
        try:
            _wsaccel_patch()
        except Exception:  # noqa: BLE001 - reported
            _report["errors"].append(traceback.format_exc())
    if MODE == "accelerated":
        try:
            _accelerate()
        except Exception:  # noqa: BLE001 - reported, and run.py fails the library for it
            _report["errors"].append(traceback.format_exc())
    atexit.register(_write)
