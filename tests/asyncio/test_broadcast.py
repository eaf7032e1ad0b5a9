"""wsfast.broadcast: one message to many connections, its frame built once where it can be shared."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

import wsfast
from tests.asyncio.support import open_clients, uri_of
from tests.support import run_async
from wsfast.asyncio import fanout as broadcast_module
from wsfast.asyncio import callbacks
from wsfast.exceptions import InvalidState

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def test_every_open_connection_gets_the_message_and_plain_ones_share_one_frame(monkeypatch):
    encoded = []
    real = broadcast_module.encode_frame

    def counting(*args, **kwargs):
        encoded.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(broadcast_module, "encode_frame", counting)

    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
            plain = await open_clients(server, 5, compression=None)
            compressed = await wsfast.connect(uri_of(server), compression="deflate")
            while len(server.connections) < 6:
                await asyncio.sleep(0.01)
            closing = await wsfast.connect(uri_of(server), compression=None)
            while len(server.connections) < 7:
                await asyncio.sleep(0.01)
            await closing.close()
            for message in ["tick", b"\x00" * 10_000]:
                wsfast.broadcast(server.connections, message)
                for client in [*plain, compressed]:
                    assert await asyncio.wait_for(client.recv(), 5) == message
            assert len(encoded) == 2  # once per message, for the five plain connections
            for client in [*plain, compressed]:
                await client.close()

    run_async(main())


def test_callback_connections_and_client_sides_too():
    class Quiet(callbacks.Handler):
        def __init__(self):
            self.got = asyncio.get_running_loop().create_future()

        def on_message(self, data, text):
            self.got.set_result(data)

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with callbacks.serve(Quiet, "127.0.0.1", 0) as cb_server, wsfast.serve(echo, "127.0.0.1", 0) as server:
            clients = [await callbacks.connect(uri_of(server), Quiet) for _ in range(3)]  # masking client sides
            wsfast.broadcast(clients, "to the servers")  # each masked for its connection; echoed back
            assert [await asyncio.wait_for(c.handler.got, 5) for c in clients] == ["to the servers"] * 3
            for client in clients:
                client.close()
            cb_clients = await open_clients(cb_server, 2, compression=None)
            wsfast.broadcast(cb_server.connections, b"from a callback server")
            assert [await asyncio.wait_for(client.recv(), 5) for client in cb_clients] == [b"from a callback server"] * 2
            for client in cb_clients:
                await client.close()

    run_async(main())


def test_a_connection_sending_fragments_is_skipped_with_a_warning(caplog):
    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
            [client] = await open_clients(server, 1, compression=None)
            [connection] = server.connections
            connection.protocol.send_binary(b"first half", fin=False)
            with caplog.at_level(logging.WARNING, logger="wsfast"):
                wsfast.broadcast([connection], b"not now")
            assert "fragmented message" in caplog.text
            connection.protocol.send_continuation(b"", fin=True)
            connection._flush()
            assert await asyncio.wait_for(client.recv(), 5) == b"first half"
            await client.close()

    run_async(main())


def test_raise_exceptions_collects_what_failed():
    class Broken:
        """A connection whose writing fails."""

        def __init__(self, protocol):
            self.protocol = protocol

        def _flush(self):
            raise OSError("the transport is gone")

    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
            [client] = await open_clients(server, 1, compression=None)
            [connection] = server.connections
            broken = Broken(connection.protocol)
            wsfast.broadcast([broken], "logged, not raised")
            with pytest.raises(OSError if sys.version_info < (3, 11) else ExceptionGroup):  # noqa: F821
                wsfast.broadcast([broken], "raised", raise_exceptions=True)
            await client.close()

    run_async(main())


def test_a_message_of_another_type_is_a_type_error():
    with pytest.raises(TypeError):
        wsfast.broadcast([], 42)


def test_send_encoded_refuses_what_a_shared_frame_does_not_fit():
    from wsfast.client import ClientConnection
    from wsfast.connection import Connection, Role, State

    with pytest.raises(InvalidState, match="masks or transforms"):
        Connection(Role.CLIENT).send_encoded(b"\x81\x00")
    closed = Connection(Role.SERVER, state=State.CLOSED)
    with pytest.raises(InvalidState, match="CLOSED"):
        closed.send_encoded(b"\x81\x00")
    assert ClientConnection("ws://example.com/").sends_plain_frames is False
