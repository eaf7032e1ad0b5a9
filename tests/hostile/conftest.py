"""The hostile tests' fixtures: the server under attack, on each event loop and each API."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.hostile.attack import Server


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            if os.environ.get("CI"):  # the test extra brings it wherever it installs
                pytest.fail("uvloop is not installed")
            pytest.skip("uvloop is not installed")
    return request.param


@pytest.fixture(params=["await", "callback"])
def api(request: pytest.FixtureRequest) -> str:
    """The application side: the await API's handler, or the callback API's."""
    return request.param


@pytest.fixture
def echo_server(loop_kind: str, api: str) -> Iterator[Server]:
    server = Server(loop_kind, api=api)
    try:
        yield server
    finally:
        server.close()
