"""Fixtures that run every kernel test on every implementation.

``kernels`` is the pure-Python twin, then the C kernels at each SIMD level this CPU has. Under
WSFAST_NO_EXTENSIONS=1 only the twin is tested; otherwise the C module must import (it is never
wrapped in try/except here, so a broken build fails the run instead of hiding behind Python).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from wsfast import _frames_py, _kernels, _kernels_py

C_AVAILABLE = not _kernels.NO_EXTENSIONS

if C_AVAILABLE:
    from wsfast import _kernels_c

    C_LEVELS: tuple[str, ...] = _kernels_c.available_simd()
else:
    _kernels_c = None
    C_LEVELS = ()

IN_CI = bool(os.environ.get("CI"))


def _implementation_params() -> list:
    params = [pytest.param("python", id="python")]
    params += [pytest.param(f"c-{level}", id=f"c-{level}") for level in C_LEVELS]
    return params


def _use(name: str, python_module: ModuleType = _kernels_py) -> Iterator[ModuleType]:
    if name == "python":
        yield python_module
        return
    assert _kernels_c is not None
    level = name.removeprefix("c-")
    previous = _kernels_c._current_simd()
    _kernels_c._select_simd(level)
    try:
        yield _kernels_c
    finally:
        _kernels_c._select_simd(previous)


@pytest.fixture(scope="module", params=_implementation_params())
def kernels(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """One implementation of the kernel API: Python, or C at one SIMD level."""
    yield from _use(request.param)


@pytest.fixture(scope="module", params=[pytest.param(f"c-{level}", id=f"c-{level}") for level in C_LEVELS] or [
    pytest.param("none", marks=pytest.mark.skip(reason="WSFAST_NO_EXTENSIONS=1: no C kernels to compare"))
])
def c_kernels(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The C kernels at one SIMD level, for differential tests against the twin."""
    yield from _use(request.param)


@pytest.fixture(scope="module", params=_implementation_params())
def codec(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """One implementation of the frame codec (encode_frame, FrameDecoder): Python, or C at one level."""
    yield from _use(request.param, _frames_py)
