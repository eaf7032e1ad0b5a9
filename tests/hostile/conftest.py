"""Fixtures of the hostile-input tests: the event loop, and an echo server in a child process."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from attack import Server

collect_ignore = ["serve.py"]


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


@pytest.fixture
def echo_server(loop_kind: str) -> Iterator[Server]:
    server = Server(loop_kind)
    try:
        yield server
    finally:
        server.close()
