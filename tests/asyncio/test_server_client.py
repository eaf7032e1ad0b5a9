"""The asyncio client and server over loopback (127.0.0.1 only; every wait is bounded)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

import wsfast
from tests.asyncio.support import close_writer, echo, port_of, raw_exchange
from tests.support import run_async, tls_contexts
from wsfast.client import ClientConnection
from wsfast.connection import State
from wsfast.events import Close
from wsfast.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from wsfast.frames import Opcode, encode_frame


pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop
run = run_async


def with_echo_server(test: Callable[..., Awaitable[object]], handler=echo, timeout: float = 30,
                     **options) -> object:  # fmt: skip
    async def main() -> object:
        async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
            return await test(server, f"ws://127.0.0.1:{port_of(server)}/")

    return run(main(), timeout)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_text_binary_and_fragments(compression):
    async def test(server, uri):
        async with wsfast.connect(uri, compression=compression) as ws:
            assert [e.name for e in ws.protocol.extensions] == (["permessage-deflate"] if compression else [])
            for message in ["hello", "κόσμε" * 1000, b"\x00\xff" * 50000, b""]:
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["frag", "ments"])
            assert await ws.recv() == "fragments"

            async def pieces():
                yield b"a"
                yield b"b"

            await ws.send(pieces())
            assert await ws.recv() == b"ab"
            assert ws.remote_address[0] == "127.0.0.1"

    with_echo_server(test, compression=compression)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_text_as_bytes_both_ways(compression):
    """recv(decode=False) and send(text=True), websockets' names: JSON bytes in and out unencoded."""
    document = '{"name": "κόσμε", "values": [1, 2, 3]}'.encode()

    async def test(server, uri):
        async with wsfast.connect(uri, compression=compression) as ws:
            await ws.send(document, text=True)  # bytes sent as a text frame
            assert await ws.recv(decode=False) == document
            await ws.send(document, text=True)
            assert await ws.recv() == document.decode()  # it was text
            await ws.send("κόσμε", text=False)  # a str sent as binary
            assert await ws.recv() == "κόσμε".encode()
            await ws.send(b"\x00\xff", text=False)
            assert await ws.recv(decode=False) == b"\x00\xff"
            await ws.send(b"caf\xc3\xa9")
            assert await ws.recv(decode=True) == "café"  # binary decoded on request
            await ws.send(b"\xff")
            with pytest.raises(UnicodeDecodeError):
                await ws.recv(decode=True)
            assert await ws.recv() == b"\xff"  # and nothing was lost
            await ws.send(["caf", "é"])  # fragmented text
            assert await ws.recv(decode=False) == "café".encode()

    with_echo_server(test, compression=compression)


def test_invalid_utf8_sent_as_text_is_refused_by_the_peer_with_1007():
    async def test(server, uri):
        async with wsfast.connect(uri, compression=None) as ws:
            await ws.send(b"\xff", text=True)  # sent as it is: the receiver checks
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.code == 1007  # the server failed the connection

    with_echo_server(test, compression=None)


def test_ping_resolves_with_the_latency():
    async def test(server, uri):
        async with wsfast.connect(uri) as ws:
            assert ws.latency == 0
            latency = await (await ws.ping(b"hello"))
            assert 0 <= latency < 5 and ws.latency == latency
            with pytest.raises(ValueError):
                await ws.ping(bytes(126))

    with_echo_server(test)


def test_handler_return_closes_normally_and_iteration_ends():
    async def handler(ws):
        await ws.send("bye")

    async def test(server, uri):
        async with wsfast.connect(uri) as ws:
            assert [m async for m in ws] == ["bye"]
            assert ws.close_code == 1000
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            with pytest.raises(ConnectionClosedOK):
                await ws.send("too late")

    with_echo_server(test, handler=handler)


def test_failing_handler_closes_with_1011_and_the_server_lives_on(caplog):
    async def handler(ws):
        if ws.request.path == "/boom":
            raise RuntimeError("boom")
        await echo(ws)

    async def test(server, uri):
        async with wsfast.connect(uri + "boom") as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011
        async with wsfast.connect(uri) as ws:
            await ws.send("still serving")
            assert await ws.recv() == "still serving"

    with caplog.at_level(logging.ERROR, logger="wsfast"):
        with_echo_server(test, handler=handler)
    assert "connection handler failed" in caplog.text


def test_graceful_shutdown_closes_connections_with_1001():
    async def main():
        server = await wsfast.serve(echo, "127.0.0.1", 0)
        ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/")
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == 1001 and not server.connections

    run(main())


def test_wait_closed_waits_for_handlers_that_go_on_after_their_connection_closed():
    cleaned_up = []
    released = None  # the handlers' cleanup ends once this is set, not at a time

    async def handler(ws):
        try:
            await ws.wait_closed()
        finally:
            await asyncio.sleep(0.2)  # cleaning up, after the connection is gone
            await released.wait()
            cleaned_up.append(ws.close_code)

    async def main():
        nonlocal released
        released = asyncio.Event()
        released.set()
        async with wsfast.serve(handler, "127.0.0.1", 0) as server:
            clients = [await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/") for _ in range(3)]
            await clients[0].close()  # one handler left before the shutdown, the others with it
            while server.connections and len(server.connections) > 2:
                await asyncio.sleep(0.01)
        assert cleaned_up == [1000, 1001, 1001] and not server.connections and not server._handler_tasks
        released.clear()  # this handler goes on until the timeout below has passed
        cancelled = wsfast.serve(handler, "127.0.0.1", 0)
        async with cancelled as server:
            await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/")
            server.close()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 0.05)  # a drain's timeout
            [task] = server._handler_tasks
            assert not task.cancelled()  # the handler is not cut short by it: it finishes
            released.set()
        assert len(cleaned_up) == 4

    run(main())


def test_rejected_handshake_carries_the_response():
    async def test(server, uri):
        with pytest.raises(InvalidStatus) as info:
            await wsfast.connect(uri)
        assert info.value.response.status_code == 403

    with_echo_server(test, origins=["https://only.example"])


def test_garbage_gets_400_and_the_server_keeps_serving():
    async def test(server, uri):
        answer = await raw_exchange(port_of(server), b"\x16\x03\x01 not http at all\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 ")
        async with wsfast.connect(uri) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"

    with_echo_server(test)


def test_silent_client_is_dropped_after_the_open_timeout():
    async def test(server, uri):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        writer.write(b"GET / HTTP/1.1\r\n")  # and then nothing
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await close_writer(writer)

    with_echo_server(test, open_timeout=0.2)


async def raw_client(port: int) -> tuple[ClientConnection, asyncio.StreamReader, asyncio.StreamWriter]:
    """A sans-IO client over a plain socket, past the handshake: tests drive every byte by hand.
    It never answers pings (auto_pong off)."""
    protocol = ClientConnection(f"ws://127.0.0.1:{port}/", auto_pong=False)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(protocol.data_to_send())
    protocol.receive_data(await reader.readuntil(b"\r\n\r\n"))
    assert protocol.state is State.OPEN
    return protocol, reader, writer


def test_frame_claiming_2_63_bytes_is_closed_with_1002():
    async def test(server, uri):
        protocol, reader, writer = await raw_client(port_of(server))
        writer.write(b"\x82\xff" + b"\x80" + b"\x00" * 7 + b"\x01\x02\x03\x04")
        protocol.receive_data(await asyncio.wait_for(reader.read(), 5))
        assert protocol.events_received() == [Close(1002, "payload length has the most significant bit set")]
        await close_writer(writer)
        async with wsfast.connect(uri) as ws:  # everyone else is still served
            await ws.send("ok")
            assert await ws.recv() == "ok"

    with_echo_server(test)


def test_keepalive_closes_a_silent_peer_with_1011():
    async def test(server, uri):
        protocol, reader, writer = await raw_client(port_of(server))
        protocol.receive_data(await asyncio.wait_for(reader.read(), 5))
        events = protocol.events_received()
        assert any(type(e).__name__ == "Ping" for e in events)
        assert events[-1] == Close(1011, "keepalive ping timeout")
        await close_writer(writer)

    with_echo_server(test, ping_interval=0.05, ping_timeout=0.1)


def test_keepalive_counts_incoming_data_as_liveness():
    async def test(server, uri):
        async with wsfast.connect(uri, ping_interval=None) as ws:
            ws.protocol.auto_pong = False  # this client never answers pings ...
            # ... but keeps talking for twice ping_interval + ping_timeout, so the server keeps it.
            # A gap of 0.05 s against a 1 s timeout: the margin a loaded machine needs (a CI run
            # once stalled past 0.5 s).
            for _ in range(48):
                await ws.send("tick")
                assert await ws.recv() == "tick"
                await asyncio.sleep(0.05)
            assert ws.state is State.OPEN

    with_echo_server(test, ping_interval=0.1, ping_timeout=1.0)


def test_back_pressure_pauses_reading():
    async def flood(ws):
        for index in range(50):
            await ws.send(b"x" * 10000 + bytes([index]))
        await ws.wait_closed()

    async def test(server, uri):
        async with wsfast.connect(uri, max_queue=4) as ws:
            await asyncio.sleep(0.2)
            # one read may bring several messages, but once paused the queue stops growing
            assert ws._messages.paused
            queued = len(ws._messages)
            await asyncio.sleep(0.2)
            assert len(ws._messages) == queued < 50
            received = [await ws.recv() for _ in range(50)]
            assert [m[-1] for m in received] == list(range(50))

    with_echo_server(test, handler=flood, compression=None)


def test_max_queue_none_never_pauses_reading():
    async def flood(ws):
        for index in range(100):
            await ws.send(bytes([index]) * 1000)
        await ws.wait_closed()

    async def test(server, uri):
        async with wsfast.connect(uri, max_queue=None) as ws:
            for _ in range(200):
                if len(ws._messages) == 100:
                    break
                await asyncio.sleep(0.01)
            assert len(ws._messages) == 100 and not ws._messages.paused
            assert [(await ws.recv())[0] for _ in range(100)] == list(range(100))

    with_echo_server(test, handler=flood, compression=None)


def test_message_over_the_limit_closes_with_1009():
    async def test(server, uri):
        async with wsfast.connect(uri) as ws:
            await ws.send(b"x" * 2000)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1009

    with_echo_server(test, max_message_size=1000, compression=None)


def test_wss_with_trustme_certificates():
    server_context, client_context = tls_contexts()

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            async with wsfast.connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"
            # the server closed the TCP connection first; the client's TLS transport is closed too
            # (Python 3.10's does not say so unless closed, and warns when collected)
            assert ws.transport.is_closing()
        with pytest.raises(ValueError):
            wsfast.connect("ws://127.0.0.1/", ssl=client_context)

    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_unix_socket(tmp_path):
    path = str(tmp_path / "ws.sock")

    async def main():
        async with wsfast.serve(echo, path=path):
            reader, writer = await asyncio.open_unix_connection(path)
            protocol = ClientConnection("ws://localhost/")
            writer.write(protocol.data_to_send())
            protocol.receive_data(await reader.readuntil(b"\r\n\r\n"))
            protocol.send_text("over a unix socket")
            writer.write(protocol.data_to_send())
            while not (events := protocol.events_received()):
                protocol.receive_data(await reader.read(65536))
            assert events[0].data == "over a unix socket"
            await close_writer(writer)

    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_client_over_a_unix_socket_and_over_a_socket_of_ones_own(tmp_path):
    import socket

    path = str(tmp_path / "ws.sock")

    async def main():
        async with wsfast.serve(echo, path=path):
            async with wsfast.connect("ws://localhost/chat", path=path) as ws:
                await ws.send("over a unix socket")
                assert await ws.recv() == "over a unix socket"
                assert ws.request.headers["Host"] == "localhost"
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            sock = socket.create_connection(("127.0.0.1", port_of(server)))
            async with wsfast.connect("ws://example.com/", sock=sock) as ws:
                await ws.send(b"given socket")
                assert await ws.recv() == b"given socket"
        with socket.socket() as unused, pytest.raises(ValueError, match="exclude"):
            wsfast.connect("ws://localhost/", path=path, sock=unused)

    run(main())


# Allocations made by wsfast's own lines (objects it creates, containers it grows), not those made
# inside the event loop on its behalf: the loop's tables keep the capacity they grew to.
WSFAST_LINES = tracemalloc.Filter(True, os.path.join(os.path.dirname(wsfast.__file__), "*"))


def open_fds() -> int | None:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


@pytest.mark.slow
@pytest.mark.needs_quiet_machine
def test_no_leak_after_thousands_of_connections():
    """3,600 connections, in rounds of 1,000 one after the other then 500 at once: every task,
    socket and server-side connection goes away, and the last round leaves no memory behind."""

    async def exchange(uri: str, index: int) -> None:
        async with wsfast.connect(uri, compression=None if index % 2 else "deflate") as ws:
            await ws.send(f"hello {index}")
            assert await ws.recv() == f"hello {index}"

    async def round_of(uri: str, server, sequential: int) -> None:
        for index in range(sequential):
            await exchange(uri, index)
        await asyncio.gather(*(exchange(uri, index) for index in range(500)))
        for _ in range(500):
            if not server.connections and len(asyncio.all_tasks()) <= tasks_before:
                break
            await asyncio.sleep(0.01)
        gc.collect()

    def wsfast_memory(server) -> int:
        """Bytes still allocated by wsfast's own lines, less the capacity of the server's sets of
        connections and of running handlers: each table is sized by how many members it had at its
        last resize, so it differs by 16 or 32 KiB from round to round although it is empty (a
        connection or a handler that leaked would stay in it, which the test asserts against)."""
        snapshot = tracemalloc.take_snapshot().filter_traces([WSFAST_LINES])
        sets = (server.connections, server._handler_tasks)
        set_capacity = sum(sys.getsizeof(table) - sys.getsizeof(set()) for table in sets)
        return sum(stat.size for stat in snapshot.statistics("filename")) - set_capacity

    async def test(server, uri):
        nonlocal tasks_before
        tasks_before = len(asyncio.all_tasks())
        # Traced from the warm-up on, so that the set's table is traced whichever round sized it
        tracemalloc.start()
        try:
            await round_of(uri, server, 100)  # warm up: caches and pools
            fds_before = open_fds()
            # The first round may still grow containers to what 500 connections need (a set or a
            # dict keeps its capacity); a leak grows in every round, so the second one tells.
            await round_of(uri, server, 1000)
            memory_before = wsfast_memory(server)
            await round_of(uri, server, 1000)
            memory_growth = wsfast_memory(server) - memory_before
        finally:
            tracemalloc.stop()
        assert not server.connections and not server._handler_tasks
        assert len(asyncio.all_tasks()) <= tasks_before
        if fds_before is not None:
            assert open_fds() <= fds_before
        # 16 KiB over 1,500 connections: about 10 bytes each, under anything a connection could leak
        assert memory_growth < 16 * 1024, f"{memory_growth} bytes still allocated after 1,500 more connections"

    tasks_before = 0
    with_echo_server(test, timeout=120)


def test_close_handshake_times_out_and_aborts():
    async def test(server, uri):
        protocol, reader, writer = await raw_client(port_of(server))
        server.close()  # the server closes with 1001; this client never answers
        data = await asyncio.wait_for(reader.read(), 5)
        protocol.receive_data(data)
        assert Close(1001, "server shutting down") in protocol.events_received()
        await close_writer(writer)
        await server.wait_closed()

    with_echo_server(test, close_timeout=0.2)


def test_connect_timeout():
    async def main():
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)  # never answers
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(asyncio.TimeoutError):
            await wsfast.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
        for writer in accepted:
            await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(main())


def test_send_type_errors():
    async def test(server, uri):
        async with wsfast.connect(uri) as ws:
            with pytest.raises(TypeError):
                await ws.send(42)
            with pytest.raises(TypeError):
                await ws.send(["a", b"b"])

    with_echo_server(test)


def test_raw_frames_keep_their_order_with_pings():
    async def test(server, uri):
        protocol, reader, writer = await raw_client(port_of(server))
        key = b"\x01\x02\x03\x04"
        writer.write(encode_frame(Opcode.TEXT, b"a", fin=False, mask=key) + encode_frame(Opcode.PING, b"p", mask=key)
                     + encode_frame(Opcode.CONTINUATION, b"b", mask=key))  # fmt: skip
        received: list = []
        while len(received) < 2:
            protocol.receive_data(await asyncio.wait_for(reader.read(65536), 5))
            received += protocol.events_received()
        assert [type(e).__name__ for e in received] == ["Pong", "TextMessage"]
        await close_writer(writer)

    with_echo_server(test, compression=None)
