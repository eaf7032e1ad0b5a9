"""Connecting that cannot succeed: a proxy that stalls, a redirect to something that is not a
WebSocket URI, a Unix socket path that does not exist. Each is a clear, typed exception within
the open timeout, on the asyncio and the sync clients, and leaves no socket, task or thread."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time

import pytest

import wsfast
from tests.asyncio.support import echo, port_of, redirect
from tests.support import run_async
from wsfast.sync.client import connect as sync_connect


def open_descriptors() -> dict[str, str]:
    """The process's open file descriptors and what each is."""
    found = {}
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            found[descriptor] = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            pass  # the directory's own descriptor, closed by now
    return found


def without_leaks(scenario) -> None:
    """Run ``scenario()`` twice, the first time to let the loop and the libraries make what they
    make once; the second leaves no more threads nor descriptors than it found."""
    scenario()
    threads, descriptors = threading.active_count(), open_descriptors() if sys.platform == "linux" else {}
    scenario()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)  # a reader thread that is ending
    assert threading.active_count() <= threads
    if sys.platform == "linux":
        opened = {number: what for number, what in open_descriptors().items() if descriptors.get(number) != what}
        assert opened == {}


class StallingProxy:
    """Accepts connections and never answers."""

    def __enter__(self) -> str:
        self.listener = socket.create_server(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()


@pytest.mark.usefixtures("event_loop_kind")
def test_asyncio_client_fails_clearly_in_time():
    async def main():
        tasks = asyncio.all_tasks()  # this one, and those of the runner
        with StallingProxy() as proxy:
            started = time.monotonic()
            with pytest.raises((asyncio.TimeoutError, TimeoutError)):
                await wsfast.connect("ws://example.com/", proxy=proxy, open_timeout=0.3)
            assert time.monotonic() - started < 2
        with pytest.raises(FileNotFoundError) as missing:
            await wsfast.connect("ws://localhost/", path="/nonexistent/ws.sock")
        assert "/nonexistent/ws.sock" in str(missing.value)
        async with wsfast.serve(echo, "127.0.0.1", 0, process_request=lambda c, r: redirect("http://[not a uri")) as server:
            with pytest.raises(ValueError, match="not a uri|URI|IPv6"):
                await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/")
        assert asyncio.all_tasks() <= tasks

    without_leaks(lambda: run_async(main()))


def test_sync_client_fails_clearly_in_time():
    def scenario() -> None:
        with StallingProxy() as proxy:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                sync_connect("ws://example.com/", proxy=proxy, open_timeout=0.3)
            assert time.monotonic() - started < 2
        with pytest.raises(FileNotFoundError) as missing:
            sync_connect("ws://localhost/", path="/nonexistent/ws.sock")
        assert "/nonexistent/ws.sock" in str(missing.value)

    without_leaks(scenario)
