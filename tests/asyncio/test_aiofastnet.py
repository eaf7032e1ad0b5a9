"""``use_aiofastnet=True``: both APIs, server and client, on aiofastnet's transports instead of the
loop's own, on asyncio and uvloop: plain and TLS, TCP, Unix sockets and given sockets, the closing
handshake, pings, back-pressure, and the proxies that tunnel."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

import wsfast
from tests.asyncio.support import a_peer_that_never_reads, echo, port_of
from tests.proxies import free_port, http_proxy, https_proxy  # noqa: F401 - fixtures
from tests.support import IN_CI, run_async, tls_contexts
from wsfast.asyncio import callbacks
from wsfast.exceptions import ConnectionClosedOK

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop

if IN_CI and sys.implementation.name == "cpython":
    import aiofastnet  # noqa: F401 - '.[test]' installs it on CPython: its absence is a failure here
else:
    pytest.importorskip("aiofastnet")

MESSAGES = ["hello", "κόσμε" * 1000, b"\x00\xff" * 300_000, b"", ""]


class Echo(callbacks.Handler):
    def on_message(self, data, text):
        self.connection.send(data, text)


def serve(api: str, *args, **options):
    """An echo server of ``api`` ("await" or "callback") on aiofastnet's transports."""
    if api == "await":
        return wsfast.serve(echo, *args, use_aiofastnet=True, **options)
    return callbacks.serve(Echo, *args, use_aiofastnet=True, **options)


def on_aiofastnet(connection) -> bool:
    return type(connection.transport).__module__.startswith("aiofastnet.")


async def exchange(uri: str, **options) -> None:
    """Echo MESSAGES and a fragmented message through a client on aiofastnet, then close."""
    async with wsfast.connect(uri, use_aiofastnet=True, proxy=None, **options) as ws:
        assert on_aiofastnet(ws)
        for message in MESSAGES:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "ments"])
        assert await ws.recv() == "fragments"
        latency = await (await ws.ping())
        assert 0 <= latency < 5
    assert ws.close_code == 1000


@pytest.mark.parametrize("api", ["await", "callback"])
@pytest.mark.parametrize("compression", ["deflate", None])
def test_both_apis_echo_on_aiofastnet(api, compression):
    async def main():
        async with serve(api, "127.0.0.1", 0, compression=compression) as server:
            await exchange(f"ws://127.0.0.1:{port_of(server)}/", compression=compression)
            assert not server.connections or all(on_aiofastnet(c) for c in server.connections)

    run_async(main())


@pytest.mark.parametrize("api", ["await", "callback"])
def test_tls_on_aiofastnet(api):
    server_context, client_context = tls_contexts()

    async def main():
        async with serve(api, "127.0.0.1", 0, ssl=server_context) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            await exchange(uri, ssl=client_context)
            async with wsfast.connect(uri, use_aiofastnet=True, ssl=client_context) as ws:
                assert ws.transport.get_extra_info("ssl_object") is not None
                (server_side,) = server.connections
                assert on_aiofastnet(server_side) and server_side.transport.get_extra_info("ssl_object") is not None

    run_async(main())


def test_unix_sockets_and_given_sockets_on_aiofastnet(tmp_path):
    async def main():
        path = str(tmp_path / "ws.sock")
        async with serve("callback", path=path):
            await exchange("ws://localhost/", path=path)
        listener = socket.create_server(("127.0.0.1", 0))
        async with serve("await", sock=listener) as server:
            client_socket = socket.create_connection(("127.0.0.1", port_of(server)))
            await exchange("ws://127.0.0.1/", sock=client_socket)

    run_async(main())


def test_callback_client_and_server_shutdown_on_aiofastnet():
    class Recorder(callbacks.Handler):
        def __init__(self):
            self.messages = asyncio.Queue()
            self.closed = asyncio.get_running_loop().create_future()

        def on_message(self, data, text):
            self.messages.put_nowait(data)

        def on_close(self, code, reason):
            self.closed.set_result(code)

    async def main():
        server = await serve("await", "127.0.0.1", 0)
        connection = await callbacks.connect(f"ws://127.0.0.1:{port_of(server)}/", Recorder, use_aiofastnet=True)
        handler = connection.handler
        assert on_aiofastnet(connection)
        connection.send(b"x" * 100_000)
        assert await handler.messages.get() == b"x" * 100_000
        async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", use_aiofastnet=True) as ws:
            server.close()  # every connection closes with 1001
            with pytest.raises(ConnectionClosedOK) as closed:
                await ws.recv()
            assert closed.value.code == 1001
        assert await handler.closed == 1001
        await server.wait_closed()

    run_async(main())


@pytest.mark.parametrize("size", [16384, 100_000], ids=["16KiB", "100KB"])  # write, or writelines
def test_a_peer_that_never_reads_is_bounded_on_aiofastnet(size):
    """aiofastnet's transports tell the protocol when their write buffer fills, as the loop's do:
    the echo server stops reading instead of buffering what a peer that never reads sends."""
    paused = 0

    class Watched(Echo):
        def on_write_paused(self):
            nonlocal paused
            paused += 1
            super().on_write_paused()

    async def main():
        async with callbacks.serve(Watched, "127.0.0.1", 0, compression=None, use_aiofastnet=True) as server:
            async with a_peer_that_never_reads(port_of(server), size) as (stalled, sent):
                assert stalled, f"the server read {sent} bytes from a peer that never reads"
                (connection,) = server.connections
                return connection.write_buffer_size

    buffered = run_async(main(), 60)
    assert paused >= 1
    assert 0 < buffered < 2 * 1024 * 1024  # write_limit plus one read's echoes, not what was sent


def test_proxies_tunnel_on_aiofastnet(http_proxy, https_proxy):
    proxy, proxy_ssl = https_proxy
    server_context, client_context = tls_contexts()

    async def through(uri, **options):
        async with wsfast.connect(uri, use_aiofastnet=True, **options) as ws:
            assert on_aiofastnet(ws)
            await ws.send("through the proxy")
            assert await ws.recv() == "through the proxy"

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            await through(f"ws://127.0.0.1:{port_of(server)}/", proxy=http_proxy)
            await through(f"ws://127.0.0.1:{port_of(server)}/", proxy=proxy, proxy_ssl=proxy_ssl)
        if sys.version_info >= (3, 11):  # TLS inside TLS: start_tls over TLS came with 3.11
            async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
                await through(f"wss://127.0.0.1:{port_of(server)}/", proxy=proxy, proxy_ssl=proxy_ssl, ssl=client_context)

    run_async(main())


def test_use_aiofastnet_without_aiofastnet_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiofastnet", None)  # import aiofastnet now raises ImportError
    for make in (lambda: wsfast.serve(echo, "127.0.0.1", 0, use_aiofastnet=True),
                 lambda: callbacks.serve(Echo, "127.0.0.1", 0, use_aiofastnet=True),
                 lambda: wsfast.connect("ws://127.0.0.1:1/", use_aiofastnet=True),
                 lambda: callbacks.connect("ws://127.0.0.1:1/", Echo, use_aiofastnet=True)):  # fmt: skip
        with pytest.raises(ImportError, match=r"wsfast\[aiofastnet\]"):
            make()
