"""wsfast.accelerate: install(), uninstall(), installed(), and that they restore exactly what was there.

The replacements themselves are tested library by library in tests/accelerate/test_<library>.py.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import wsfast.accelerate
from wsfast.accelerate import LIBRARIES, UnsupportedVersion, install, installed, uninstall
from wsfast.accelerate._patching import _locate

from tests.accelerate.support import _nothing_installed, require  # noqa: F401 - autouse fixture

ALL_TARGETS = {
    name: [target.path for target in wsfast.accelerate._REGISTRY[name].targets()] for name in LIBRARIES
}


def current(path: str):
    """The object now stored at a "module:attribute" target."""
    target = wsfast.accelerate._patching.Target(path, lambda original: original)
    return _locate(importlib.import_module(target.module), target)[2]


@pytest.fixture(scope="module", autouse=True)
def peers() -> None:
    for module in ("websockets", "wsproto", "tornado", "aiohttp", "autobahn", "ws4py", "websocket"):
        require(module)


def test_supported_libraries():
    assert LIBRARIES == ("websockets", "wsproto", "tornado", "aiohttp", "autobahn", "ws4py", "websocket-client")


def test_install_everything_then_uninstall_restores_the_very_objects():
    paths = [path for paths in ALL_TARGETS.values() for path in paths if not path.startswith("websockets.legacy")]
    before = {path: current(path) for path in paths}
    assert install() == LIBRARIES
    assert tuple(installed()) == LIBRARIES
    for path, original in before.items():
        assert current(path) is not original, path
    assert uninstall() == LIBRARIES
    assert installed() == {}
    for path, original in before.items():
        assert current(path) is original, path


@pytest.mark.parametrize("name", LIBRARIES)
def test_each_library_alone(name):
    before = {path: current(path) for path in ALL_TARGETS[name] if not path.startswith("websockets.legacy")}
    assert install(name) == (name,)
    assert tuple(installed()) == (name,)
    replaced = {owner_path: current(owner_path) for owner_path in before}
    assert all(replaced[path] is not before[path] for path in before)
    record = wsfast.accelerate._installation(name)
    assert [original for _, _, original, _ in record.applied] == list(before.values())
    assert uninstall(name) == (name,)
    assert all(current(path) is before[path] for path in before)


def test_install_is_idempotent():
    assert install("wsproto") == ("wsproto",)
    import wsproto.frame_protocol

    first = wsproto.frame_protocol.XorMaskerSimple
    assert install("wsproto", "tornado") == ("wsproto", "tornado")
    assert wsproto.frame_protocol.XorMaskerSimple is first
    assert install() == LIBRARIES
    assert uninstall("tornado") == ("tornado",)
    assert uninstall("tornado") == ()
    assert "tornado" not in installed()


def test_one_replacement_for_one_original():
    import ws4py.framing

    install("ws4py")
    assert ws4py.framing.Frame.__dict__["mask"] is ws4py.framing.Frame.__dict__["unmask"]


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown library name 'wsacel'"):
        install("wsproto", "wsacel")
    assert installed() == {}
    with pytest.raises(ValueError, match="websocket-client"):
        uninstall("websocket")


def test_a_library_that_does_not_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "ws4py.streaming", None)
    with pytest.raises(ImportError):
        install("ws4py")
    # a named install is all or nothing
    with pytest.raises(ImportError):
        install("wsproto", "ws4py")
    assert installed() == {}
    # without names, what does not import is skipped
    assert install() == tuple(name for name in LIBRARIES if name != "ws4py")


def test_a_version_without_the_hot_spot(monkeypatch):
    import tornado.websocket

    monkeypatch.delattr(tornado.websocket, "_websocket_mask")
    with pytest.raises(UnsupportedVersion, match="tornado.websocket:_websocket_mask"):
        install("tornado")
    assert issubclass(UnsupportedVersion, ImportError)
    # without names it is skipped, and said so
    with pytest.warns(RuntimeWarning, match="leaves tornado as it is: tornado.websocket:_websocket_mask"):
        assert "tornado" not in install()


def test_uninstall_leaves_a_later_patch_alone():
    import tornado.websocket

    original = tornado.websocket._websocket_mask
    install("tornado")

    def someone_elses(mask, data):
        return original(mask, data)

    tornado.websocket._websocket_mask = someone_elses
    try:
        uninstall("tornado")
        assert tornado.websocket._websocket_mask is someone_elses
    finally:
        tornado.websocket._websocket_mask = original


def run_python(code: str, *options: str) -> str:
    result = subprocess.run(
        [sys.executable, *options, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_websockets_legacy_is_patched_when_imported_not_before():
    # -W error: install() must not import websockets.legacy (it warns that it is deprecated)
    output = run_python(
        """
        import sys, warnings
        import wsfast.accelerate as accelerate
        import websockets.frames
        assert accelerate.install("websockets") == ("websockets",)
        assert "websockets.legacy" not in sys.modules
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import websockets.legacy.framing as framing
        from websockets.speedups import apply_mask
        assert framing.apply_mask is websockets.frames.apply_mask is not apply_mask
        assert framing.__loader__ is framing.__spec__.loader and "Patch" not in type(framing.__loader__).__name__
        assert framing.apply_mask(b"Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")
        accelerate.uninstall()
        assert framing.apply_mask is apply_mask
        print("ok")
        """,
        "-W",
        "error",
    )
    assert output == "ok\n"


def test_uninstall_before_the_legacy_import_cancels_its_patch():
    output = run_python(
        """
        import warnings
        import wsfast.accelerate as accelerate
        accelerate.install("websockets")
        accelerate.uninstall("websockets")
        warnings.simplefilter("ignore", DeprecationWarning)
        import websockets.legacy.framing as framing
        from websockets.speedups import apply_mask
        assert framing.apply_mask is apply_mask
        print("ok")
        """
    )
    assert output == "ok\n"


def test_installed_legacy_module_is_patched_at_once():
    output = run_python(
        """
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        import websockets.legacy.framing as framing
        import wsfast.accelerate as accelerate
        from websockets.speedups import apply_mask
        accelerate.install("websockets")
        assert framing.apply_mask is not apply_mask
        accelerate.uninstall()
        assert framing.apply_mask is apply_mask
        print("ok")
        """
    )
    assert output == "ok\n"


def test_usage_in_the_module_docstring_runs():
    assert "wsfast.accelerate.install()" in wsfast.accelerate.__doc__
    for name in LIBRARIES:
        assert f"``{name}``" in wsfast.accelerate.__doc__
