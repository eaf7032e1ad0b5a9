"""wsfast.accelerate in websockets: a client's payloads made bytes at once where only websockets' own
asyncio or sync connection reads its frames (``_websockets_payload``), which would copy each into
bytes anyway; websockets' own type (bytearray from 14 on) wherever other code could see them.

The messages themselves must come out as websockets gives them: the same values and types from
``recv()`` and ``recv_streaming()``, whole, fragmented, and read straight into their payload."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from wsfast.accelerate import _websockets_payload

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.accelerate.test_websockets_codec import on_codec
from tests.support import run_async

websockets = support.require("websockets")
connection_module = support.require("websockets.asyncio.connection")
sync_connection_module = support.require("websockets.sync.connection")

VERSION = tuple(int(part) for part in websockets.version.version.split(".")[:2])
#: Whether the websockets installed here is one whose connections _websockets_payload knows.
KNOWN_HERE = (16, 0) <= VERSION <= (17, 4)
#: What websockets' own reader makes of an unmasked payload.
READER_TYPE = bytearray if VERSION >= (14, 0) else bytes

@pytest.fixture(scope="module", params=["python", "c"])
def codec(request: pytest.FixtureRequest) -> Iterator[str]:
    """The patched parser on the pure-Python twins, then on the C kernels."""
    with on_codec(request.param) as implementation:
        yield implementation


#: Sent by the client, echoed by the server; FRAGMENTED asks the server for a message in two frames.
FRAGMENTED = "fragmented, please"
MESSAGES = [b"", b"abc", "text \u00e9", b"\xab" * 70_000, "z" * 100_000, FRAGMENTED]
REPLIES = {FRAGMENTED: b"fragments"}


async def _server_handler(websocket: Any) -> None:
    async for message in websocket:
        if message == FRAGMENTED:
            await websocket.send([b"frag", b"ments"])
        else:
            await websocket.send(message)


def _record_payload_types(connection: Any) -> list[type]:
    """The payload type of every data frame ``connection`` puts into its assembler, from now on
    (the instance's ``put`` wrapped: the assembler's class stays websockets')."""
    seen: list[type] = []
    put = connection.recv_messages.put

    def recording_put(frame: Any) -> None:
        seen.append(type(frame.data))
        put(frame)

    connection.recv_messages.put = recording_put
    return seen


async def _exchange(compression: str | None, **options: Any) -> tuple[list[Any], list[type], Any]:
    """The client's replies to MESSAGES from a websockets server (recv, and recv_streaming for the
    fragmented one), the payload types its connection queued, and the connection."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async with serve(_server_handler, "127.0.0.1", 0, compression=compression, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=None, **options) as client:
            seen = _record_payload_types(client)
            replies = []
            for message in MESSAGES:
                await client.send(message)
                replies.append(await client.recv())
            await client.send(FRAGMENTED)
            replies.append([piece async for piece in client.recv_streaming()])
    return replies, seen, client


#: (websockets ends a message sent from an iterable with an empty final frame)
EXPECTED_REPLIES = [REPLIES.get(message, message) for message in MESSAGES] + [[b"frag", b"ments", b""]]


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_an_asyncio_client_gets_the_same_messages(codec, compression):
    with support.accelerated("websockets"):
        replies, seen, client = run_async(_exchange(compression))
    assert replies == EXPECTED_REPLIES
    assert [type(reply) for reply in replies] == [type(reply) for reply in EXPECTED_REPLIES]
    assert all(type(piece) is bytes for piece in replies[-1])
    assert client.protocol._wsfast_frames_become_bytes() is KNOWN_HERE
    if compression is None:  # (a decompressed payload is bytes in any case)
        assert set(seen) == {bytes if KNOWN_HERE else READER_TYPE}
        assert len(seen) > len(MESSAGES)  # every frame of every reply


def test_a_sync_client_gets_bytes_payloads_too(codec):
    from websockets.asyncio.server import serve
    from websockets.sync.client import connect

    def sync_client(port: int) -> tuple[list[Any], list[type], bool]:
        with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as client:
            seen = _record_payload_types(client)
            replies = []
            for message in MESSAGES:
                client.send(message)
                replies.append(client.recv(timeout=10))
            return replies, seen, client.protocol._wsfast_frames_become_bytes()

    async def main() -> tuple[list[Any], list[type], bool]:
        async with serve(_server_handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            return await asyncio.to_thread(sync_client, next(iter(server.sockets)).getsockname()[1])

    with support.accelerated("websockets"):
        replies, seen, asked = run_async(main())
    assert replies == EXPECTED_REPLIES[:-1]
    assert asked is KNOWN_HERE
    assert set(seen) == {bytes if KNOWN_HERE else READER_TYPE}


def test_a_connection_class_that_reads_frames_itself_keeps_websockets_type(codec):
    """A subclass overriding ``process_event`` sees the frames: they keep websockets' own type."""
    from websockets.asyncio.client import ClientConnection

    seen: list[type] = []

    class Reading(ClientConnection):  # type: ignore[misc]  # websockets' class, untyped here
        def process_event(self, event: Any) -> None:
            if isinstance(event, websockets.frames.Frame) and event.opcode in websockets.frames.DATA_OPCODES:
                seen.append(type(event.data))
            super().process_event(event)

    with support.accelerated("websockets"):
        replies, _, client = run_async(_exchange(None, create_connection=Reading))
    assert replies == EXPECTED_REPLIES
    assert client.protocol._wsfast_frames_become_bytes() is False
    assert set(seen) == {READER_TYPE}


def test_a_source_not_known_keeps_websockets_type(codec, monkeypatch):
    monkeypatch.setitem(_websockets_payload.KNOWN, "get_iter", {})
    monkeypatch.setattr(_websockets_payload, "_verdicts", weakref.WeakKeyDictionary())
    with support.accelerated("websockets"):
        replies, seen, client = run_async(_exchange(None))
    assert replies == EXPECTED_REPLIES
    assert set(seen) == {READER_TYPE}


def test_uninstall_restores_the_connections():
    originals = [vars(module.Connection)["__init__"] for module in (connection_module, sync_connection_module)]
    with support.accelerated("websockets"):
        wrapped = [vars(module.Connection)["__init__"] for module in (connection_module, sync_connection_module)]
    assert [function.__wrapped__ for function in wrapped] == originals
    assert [vars(module.Connection)["__init__"] for module in (connection_module, sync_connection_module)] == originals
    replies, _, client = run_async(_exchange(None))
    assert replies == EXPECTED_REPLIES
    assert not hasattr(client.protocol, "_wsfast_frames_become_bytes")


@pytest.mark.skipif(not KNOWN_HERE, reason="a websockets release _websockets_payload does not list")
def test_the_installed_websockets_is_known_on_every_path():
    """websockets' own asyncio and sync server and client connections, each with its assembler: a
    release whose sources changed must be checked and listed (or this speed-up is off)."""
    from websockets.asyncio.client import ClientConnection
    from websockets.asyncio.messages import Assembler
    from websockets.asyncio.server import ServerConnection
    from websockets.sync.client import ClientConnection as SyncClientConnection
    from websockets.sync.messages import Assembler as SyncAssembler
    from websockets.sync.server import ServerConnection as SyncServerConnection

    known_all = _websockets_payload._known_all
    for connection_class in (ClientConnection, ServerConnection, connection_module.Connection):
        assert known_all(connection_class, connection_module.Connection, ("process_event", "data_received"))
    for connection_class in (SyncClientConnection, SyncServerConnection, sync_connection_module.Connection):
        assert known_all(connection_class, sync_connection_module.Connection, ("process_event", "recv_events"))
    assert known_all(Assembler, Assembler, ("get", "get_iter"))
    assert known_all(SyncAssembler, SyncAssembler, ("get", "get_iter"))


def test_an_init_that_is_not_websockets_own_is_left_alone():
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        pass

    assert _websockets_payload.make_connection_init(__init__) is __init__
