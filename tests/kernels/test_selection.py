"""The choice between C and Python, and the environment switches that steer it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wsfast import _kernels, kernels

from tests.support import C_AVAILABLE, C_LEVELS


def test_c_kernels_are_in_use_unless_switched_off():
    """The guard: a broken C build must never pass CI by falling back to Python."""
    if os.environ.get("WSFAST_NO_EXTENSIONS"):
        assert kernels.IMPLEMENTATION == "python"
        assert kernels.SIMD is None
        assert kernels.available_simd() == ()
    else:
        assert kernels.IMPLEMENTATION == "c"
        assert kernels.SIMD in kernels.available_simd()
        assert kernels.available_simd()[0] == "scalar"


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    env.update(environment)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


REPORT = "import wsfast.kernels as k; print(k.IMPLEMENTATION, k.SIMD, len(k.available_simd()))"


def test_no_extensions_switch():
    result = run_python(REPORT, WSFAST_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "None", "0"]


def test_contradictory_switches_are_an_import_error():
    result = run_python(REPORT, WSFAST_NO_EXTENSIONS="1", WSFAST_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "both set" in result.stderr


BLOCK_C = "import sys; sys.modules['wsfast._kernels_c'] = None; "


def test_missing_c_build_is_an_import_error_when_required():
    result = run_python(BLOCK_C + REPORT, WSFAST_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "WSFAST_REQUIRE_EXTENSIONS" in result.stderr


def test_missing_c_build_falls_back_with_a_warning():
    result = run_python("import warnings; warnings.simplefilter('always'); " + BLOCK_C + REPORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "None", "0"]
    assert "RuntimeWarning" in result.stderr and "without its C kernels" in result.stderr


c_only = pytest.mark.skipif(not C_AVAILABLE, reason="WSFAST_NO_EXTENSIONS=1: no C kernels")


@c_only
@pytest.mark.parametrize("level", C_LEVELS)
def test_simd_switch_caps_the_level(level):
    result = run_python(REPORT, WSFAST_SIMD=level, WSFAST_REQUIRE_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["c", level]


@c_only
def test_unknown_simd_level_is_an_import_error():
    result = run_python(REPORT, WSFAST_SIMD="mmx")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "unknown SIMD level 'mmx'" in result.stderr


@c_only
def test_unsupported_simd_level_is_an_import_error():
    foreign = "neon" if "sse2" in C_LEVELS else "avx2"
    result = run_python(REPORT, WSFAST_SIMD=foreign)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "not supported by this CPU" in result.stderr


@c_only
def test_select_simd_rejects_bad_levels():
    from wsfast import _kernels_c

    with pytest.raises(ValueError, match="unknown SIMD level"):
        _kernels_c._select_simd("sse5")
    assert _kernels_c._current_simd() in C_LEVELS


def test_selector_exports_the_chosen_module():
    from wsfast import _frames_py, _kernels_py

    for name in kernels.__all__:
        if name == "SIMD":
            continue
        if _kernels._c_kernels is not None:
            chosen = _kernels._c_kernels
        else:
            chosen = _frames_py if name in _frames_py.__all__ else _kernels_py
        assert getattr(kernels, name) is getattr(chosen, name), name


HOT_PATH = ("import wsfast.connection as c, wsfast.asyncio.protocol as p, wsfast.asyncio.connection as a; "
            "print(c.ConnectionCore.__module__, p.ProtocolCore.__module__, a.MessageQueue.__module__)")
COMPILED = ["wsfast._openpath_c", "wsfast._openpath_c", "wsfast.asyncio.messages_c"]
TWINS = ["wsfast._openpath", "wsfast._openpath", "wsfast.asyncio.messages"]


def test_the_hot_path_is_chosen_as_the_kernels_are():
    """The compiled OPEN-state path (_openpath_c, messages_c) comes with the C kernels, and the
    same files as plain Python come with the twins."""
    result = run_python(HOT_PATH, WSFAST_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == TWINS
    if C_AVAILABLE:
        result = run_python(HOT_PATH, WSFAST_REQUIRE_EXTENSIONS="1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == COMPILED


BLOCK_HOT_PATH = "import sys; sys.modules['wsfast._openpath_c'] = None; "


@c_only
def test_missing_compiled_hot_path_is_an_import_error_when_required():
    result = run_python(BLOCK_HOT_PATH + HOT_PATH, WSFAST_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "_openpath_c does not load" in result.stderr


@c_only
def test_missing_compiled_hot_path_falls_back_with_a_warning():
    result = run_python("import warnings; warnings.simplefilter('always'); " + BLOCK_HOT_PATH + HOT_PATH)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [TWINS[0], TWINS[1], COMPILED[2]]
    assert "RuntimeWarning" in result.stderr and "without its compiled build" in result.stderr
