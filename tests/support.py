"""Helpers shared by the test modules: what is under test, the event loop the asyncio tests run on,
TLS contexts and Hypothesis budgets. Test modules import them from here (``from tests.support
import run_async``); the fixtures built on them live in ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from wsfast import _kernels

#: The C kernels are under test: False only under WSFAST_NO_EXTENSIONS=1.
C_AVAILABLE = not _kernels.NO_EXTENSIONS

if C_AVAILABLE:
    from wsfast import _kernels_c

    C_LEVELS: tuple[str, ...] = _kernels_c.available_simd()
else:
    _kernels_c = None
    C_LEVELS = ()

#: Under CI a missing tool (uvloop, Chromium, redis-server, ...) fails the test instead of skipping it.
IN_CI = bool(os.environ.get("CI"))

#: WSFAST_HYPOTHESIS_SCALE=0.25 runs a quarter of each Hypothesis test's examples (see examples()).
#: .ci/run sets it for the other CPythons, whose suites are mostly Hypothesis examples; its two 3.11
#: runs keep the full budgets.
HYPOTHESIS_SCALE = float(os.environ.get("WSFAST_HYPOTHESIS_SCALE") or 1)
if not HYPOTHESIS_SCALE > 0:
    raise ValueError(f"WSFAST_HYPOTHESIS_SCALE must be above 0, not {HYPOTHESIS_SCALE}")


def examples(n: int) -> int:
    """A test's Hypothesis budget (``max_examples``): ``n``, scaled by WSFAST_HYPOTHESIS_SCALE, but
    never under 10 (a budget already under 10 stays as it is)."""
    return max(min(n, 10), round(n * HYPOTHESIS_SCALE))


try:
    import uvloop
except ImportError:  # CI installs it wherever it exists: the event_loop_kind fixture fails there without it
    uvloop = None

# uvloop has no Windows build and does not run on PyPy.
UVLOOP_EXPECTED = sys.platform != "win32" and sys.implementation.name == "cpython"

#: The loop run_async runs on: "asyncio" or "uvloop", set by the event_loop_kind fixture.
event_loop = "asyncio"


@contextlib.contextmanager
def frames_kept_alive() -> Iterator[list[Any]]:
    """Every Python frame called inside stays alive until the block ends (a tracer keeps them, as
    debuggers, coverage tools and tracebacks can): what a call leaves exported shows."""
    kept: list[Any] = []
    previous = sys.gettrace()

    def keep(frame: Any, event: str, arg: Any) -> None:
        kept.append(frame)

    sys.settrace(keep)
    try:
        yield kept
    finally:
        sys.settrace(previous)


def run_async(coroutine: Awaitable[object], timeout: float = 30) -> object:
    """Run ``coroutine`` on a fresh event loop of the current kind, bounded in time."""

    async def bounded() -> object:
        return await asyncio.wait_for(coroutine, timeout)

    if event_loop == "uvloop":
        return uvloop.run(bounded())
    return asyncio.run(bounded())


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client context that trusts it."""
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context
