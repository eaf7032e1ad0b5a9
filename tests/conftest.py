"""Fixtures that run every kernel test on every implementation, and the asyncio tests on every loop.

``kernels`` is the pure-Python twin, then the C kernels at each SIMD level this CPU has. Under
WSFAST_NO_EXTENSIONS=1 only the twin is tested; otherwise the C module must import (it is never
wrapped in try/except here, so a broken build fails the run instead of hiding behind Python).

Test modules never import this file: what they share is in ``tests/support.py`` and the other
``support`` modules (see tests/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests import support
from tests.support import C_AVAILABLE, C_LEVELS, IN_CI, UVLOOP_EXPECTED, _kernels_c, uvloop
from wsfast import _frames_py, _kernels_py


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test's ``run_async`` calls on the stdlib event loop, then on uvloop."""
    if request.param == "uvloop" and uvloop is None:
        if IN_CI and UVLOOP_EXPECTED:
            pytest.fail("uvloop is not installed: `pip install '.[test]'` brings it")
        pytest.skip("uvloop is not installed")
    support.event_loop = request.param
    try:
        yield request.param
    finally:
        support.event_loop = "asyncio"


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


#: The slowest differential tests (1500 examples against wsproto's and websockets' own codecs), whose
#: ``python`` case tests the pure-Python twins: under CI the C kernels' run skips that case, since the
#: twins' run (WSFAST_NO_EXTENSIONS=1: .ci/run's second run, the GitHub workflow's kernels=python
#: jobs) runs the same case. .ci/run's other CPythons have no twins run: WSFAST_NO_TWINS_RUN=1 keeps it.
TWINS_RUN_DOES = {("tests.accelerate.test_wsproto_codec", "test_same_as_wsprotos_own"),
                  ("tests.accelerate.test_websockets_codec", "test_same_as_websockets_own")}  # fmt: skip
LEAVE_TO_TWINS_RUN = IN_CI and C_AVAILABLE and not os.environ.get("WSFAST_NO_TWINS_RUN")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``waits_for_background`` go after the others, in their order: they only wait for
    work their module started after collection (see ``pytest_collection_finish``), which runs
    meanwhile. Tests marked ``needs_quiet_machine`` (latency and time bounds) go after them, once
    that work is over: beside it, even at nice 19, two of them failed their bounds. Under CI, the C
    kernels' run skips the cases of ``TWINS_RUN_DOES`` that the twins' run does."""

    def place(item: pytest.Item) -> int:
        if item.get_closest_marker("needs_quiet_machine"):
            return 2
        return 1 if item.get_closest_marker("waits_for_background") else 0

    items.sort(key=place)
    if LEAVE_TO_TWINS_RUN:
        for item in items:
            callspec = getattr(item, "callspec", None)
            if (callspec is not None and callspec.params.get("codec") == "python"
                    and (item.module.__name__, item.originalname) in TWINS_RUN_DOES):  # type: ignore[attr-defined]  # fmt: skip
                item.add_marker(pytest.mark.skip(reason="CI: the twins' run (WSFAST_NO_EXTENSIONS=1) runs the "
                                                        "pure-Python case of this test"))  # fmt: skip


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background work of each module that has a selected ``waits_for_background`` test:
    the module's ``start_in_background()`` (tests/test_autobahn.py: the Autobahn runs)."""
    if session.config.option.collectonly:
        return
    modules = {item.module for item in session.items if item.get_closest_marker("waits_for_background")}  # type: ignore[attr-defined]
    for module in modules:
        module.start_in_background()
