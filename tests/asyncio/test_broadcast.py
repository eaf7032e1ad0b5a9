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
from wsfast.permessage_deflate import (ClientPerMessageDeflateFactory, PerMessageDeflate,
                                       ServerPerMessageDeflateFactory, encode_shared)

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

    with pytest.raises(InvalidState, match="masks or keeps a compression window"):
        Connection(Role.CLIENT).send_encoded(b"\x81\x00")
    closed = Connection(Role.SERVER, state=State.CLOSED)
    with pytest.raises(InvalidState, match="CLOSED"):
        closed.send_encoded(b"\x81\x00")
    assert ClientConnection("ws://example.com/").sends_plain_frames is False


# ---------------------------------------------------------------------- permessage-deflate: the rule


def counting_encode_shared(monkeypatch) -> list[tuple]:
    """The keys fan-out compresses a shared frame for, one entry per compression."""
    keys = []
    monkeypatch.setattr(broadcast_module, "encode_shared",
                        lambda opcode, data, key: keys.append(key) or encode_shared(opcode, data, key))  # fmt: skip
    return keys


def afresh(**options) -> list[ServerPerMessageDeflateFactory]:
    return [ServerPerMessageDeflateFactory(server_no_context_takeover=True, **options)]


MESSAGES = ["a text message, " * 20, b"binary, " * 500, "short", b"", "é" * 700]


@pytest.mark.parametrize("publisher", ["broadcast", "hub"])
def test_one_compressed_frame_serves_the_connections_that_compress_each_message_afresh(monkeypatch, publisher):
    keys = counting_encode_shared(monkeypatch)
    hub = wsfast.asyncio.Hub()

    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, extensions=afresh()) as server:
            clients = await open_clients(server, 4, compression="deflate")
            for connection in server.connections:
                assert connection.protocol.shared_frame_key is not None
                hub.subscribe(connection, "t")
            for message in MESSAGES:
                if publisher == "hub":
                    assert hub.publish("t", message) == 4
                else:
                    wsfast.broadcast(server.connections, message)
                for client in clients:
                    assert await asyncio.wait_for(client.recv(), 5) == message
            for client in clients:
                await client.close()

    run_async(main())
    # one compression per message for the four connections (those under min_size go plain)
    assert len(keys) == len(MESSAGES) and len(set(keys)) == 1


def test_connections_that_keep_their_window_compress_each_message_for_themselves(monkeypatch):
    keys = counting_encode_shared(monkeypatch)
    own = []
    real = PerMessageDeflate.encode
    monkeypatch.setattr(PerMessageDeflate, "encode", lambda self, frame: own.append(self) or real(self, frame))
    hub = wsfast.asyncio.Hub()

    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, compression="deflate") as server:
            clients = await open_clients(server, 3, compression="deflate")
            for connection in server.connections:
                assert connection.protocol.shared_frame_key is None  # the server keeps its window
                hub.subscribe(connection, "t")
            for message in [*MESSAGES, *MESSAGES]:  # again: back-references into the window now
                assert hub.publish("t", message) == 3
                for client in clients:
                    assert await asyncio.wait_for(client.recv(), 5) == message
            for client in clients:
                await client.close()

    run_async(main())
    assert keys == []
    assert len(own) >= 3 * 2 * len(MESSAGES) and len(set(map(id, own))) == 3  # each with its own compressor


def test_each_window_size_gets_its_own_shared_frame_and_others_are_served_alike(monkeypatch):
    keys = counting_encode_shared(monkeypatch)

    async def main():
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, extensions=afresh()) as server:
            wide = await open_clients(server, 2, compression="deflate")
            narrow = [await wsfast.connect(uri_of(server), extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=9)])
                      for _ in range(2)]  # fmt: skip
            plain = await open_clients(server, 2, compression=None)
            while len(server.connections) < 6:
                await asyncio.sleep(0.01)
            assert len({connection.protocol.shared_frame_key for connection in server.connections}) == 3
            for message in MESSAGES:
                wsfast.broadcast(server.connections, message)
                for client in [*wide, *narrow, *plain]:
                    assert await asyncio.wait_for(client.recv(), 5) == message
            for client in [*wide, *narrow, *plain]:
                await client.close()

    run_async(main())
    assert len(keys) == 2 * len(MESSAGES) and len(set(keys)) == 2  # per message: one per window size
