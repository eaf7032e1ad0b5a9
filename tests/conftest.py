"""Fixtures that run every kernel test on every implementation.

``kernels`` is the pure-Python twin, then the C kernels at each SIMD level this CPU has. Under
WSFAST_NO_EXTENSIONS=1 only the twin is tested; otherwise the C module must import (it is never
wrapped in try/except here, so a broken build fails the run instead of hiding behind Python).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Iterator
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

try:
    import uvloop
except ImportError:  # CI installs it wherever it exists: the fixture below fails there without it
    uvloop = None

# uvloop has no Windows build and does not run on PyPy.
UVLOOP_EXPECTED = sys.platform != "win32" and sys.implementation.name == "cpython"
_event_loop = "asyncio"


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test's ``run_async`` calls on the stdlib event loop, then on uvloop."""
    global _event_loop
    if request.param == "uvloop" and uvloop is None:
        if IN_CI and UVLOOP_EXPECTED:
            pytest.fail("uvloop is not installed: `pip install '.[test]'` brings it")
        pytest.skip("uvloop is not installed")
    _event_loop = request.param
    try:
        yield request.param
    finally:
        _event_loop = "asyncio"


def run_async(coroutine: Awaitable[object], timeout: float = 30) -> object:
    """Run ``coroutine`` on a fresh event loop of the current kind, bounded in time."""

    async def bounded() -> object:
        return await asyncio.wait_for(coroutine, timeout)

    if _event_loop == "uvloop":
        return uvloop.run(bounded())
    return asyncio.run(bounded())


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``waits_for_background`` go after the others, in their order: they only wait for
    work their module started after collection (see ``pytest_collection_finish``), which runs
    meanwhile. Tests marked ``needs_quiet_machine`` (latency and time bounds) go after them, once
    that work is over: beside it, even at nice 19, two of them failed their bounds."""

    def place(item: pytest.Item) -> int:
        if item.get_closest_marker("needs_quiet_machine"):
            return 2
        return 1 if item.get_closest_marker("waits_for_background") else 0

    items.sort(key=place)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background work of each module that has a selected ``waits_for_background`` test:
    the module's ``start_in_background()`` (tests/test_autobahn.py: the Autobahn runs)."""
    if session.config.option.collectonly:
        return
    modules = {item.module for item in session.items if item.get_closest_marker("waits_for_background")}  # type: ignore[attr-defined]
    for module in modules:
        module.start_in_background()
