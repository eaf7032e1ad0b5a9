"""Writes straight to the socket (``ProtocolCore._write_now``): on the standard library's plain
socket transport with nothing in its buffer, a frame goes to the socket as that transport's own
``write`` would send it, without that Python-level ``write``; what a short send leaves, and all of
it after an error, goes to the transport's ``write``, in order. TLS, uvloop and aiofastnet
transports are always written through."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

import wsfast
from tests.asyncio.support import echo, port_of
from tests.support import run_async, tls_contexts
from wsfast._kernels import compiled_twin
from wsfast.asyncio import callbacks
from wsfast.frames import Opcode, encode_frame

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop

#: The module whose ``_write_now`` runs: the compiled build, or the twin (as the kernels are chosen).
openpath = compiled_twin("_openpath")
#: Larger than a loopback socket's send buffer: its send is short, the rest waits in the transport.
LARGE = 6_000_000


def messages() -> list[bytes]:
    return [os.urandom(size) for size in (10, LARGE, 20, 70_000, 5, LARGE // 3)]


@pytest.fixture
def writes(monkeypatch):
    """Every direct write, ``os.write`` or ``os.writev``: (bytes asked, bytes sent), with the
    fault set in ``writes_fault`` able to make them short (3 bytes), cut them in the middle (a
    write at half its bytes, a ``writev`` 3 bytes into its second piece) or fail them."""
    log: list[tuple[int, int | str]] = []
    real = os.write

    def send(fd: int, data: bytes, middle: int) -> int:
        fault = writes_fault[0]
        if fault == "fail":
            log.append((len(data), "failed"))
            raise ConnectionResetError("injected")
        cut = {"short": 3, "middle": middle}.get(fault, len(data)) if len(data) > 3 else len(data)
        sent = real(fd, data[:cut])
        log.append((len(data), sent))
        return sent

    def write(fd: int, data: bytes) -> int:
        return send(fd, data, len(data) // 2)

    def writev(fd: int, pieces: list[bytes]) -> int:
        gathered.append(len(pieces))
        return send(fd, b"".join(pieces), len(pieces[0]) + 3)

    writes_fault: list[str | None] = [None]
    gathered: list[int] = []
    monkeypatch.setattr(openpath, "_write_fd", write)
    monkeypatch.setattr(openpath, "_writev_fd", writev)
    return log, writes_fault, gathered


async def echoed(uri: str, sent: list[bytes], **options) -> list[bytes]:
    async with wsfast.connect(uri, proxy=None, **options) as ws:
        for message in sent:
            await ws.send(message)
        return [await ws.recv() for _ in sent]


def test_a_plain_connection_writes_straight_to_its_socket_and_every_byte_arrives_in_order(event_loop_kind, writes):
    log, _, gathered = writes
    sent = messages()

    async def main() -> list[bytes]:
        async with wsfast.serve(echo, "127.0.0.1", 0, max_message_size=2 * LARGE, compression=None) as server:
            return await echoed(f"ws://127.0.0.1:{port_of(server)}/", sent, max_message_size=2 * LARGE, compression=None)

    assert run_async(main()) == sent
    if event_loop_kind == "uvloop":
        assert log == []  # uvloop's transport writes as it is
    else:
        assert len(log) > 2 * len(sent)  # both ends, messages and handshakes, went straight out
        assert any(isinstance(done, int) and done < asked for asked, done in log)  # a short send happened
        # the server's large payloads (from 64 KiB) went out behind their headers, in one writev each
        assert gathered.count(2) >= 3


@pytest.mark.parametrize("fault", ["short", "middle", "fail"])
@pytest.mark.parametrize("api", ["await", "callback"])
def test_what_a_direct_write_leaves_goes_to_the_transport_in_order(event_loop_kind, writes, fault, api):
    """Short sends (3 bytes, or cut in the middle: inside a gathered write's payload) and failed
    ones (an error the socket did not have) at every write: the transport's write sends the rest,
    and the peer gets every message whole, in order."""
    log, writes_fault, gathered = writes
    sent = messages()[:5]

    class Echo(callbacks.Handler):
        def on_message(self, data, text):
            self.connection.send(data, text)

    async def main() -> list[bytes]:
        serve = wsfast.serve(echo, "127.0.0.1", 0, max_message_size=2 * LARGE, compression=None) if api == "await" else \
            callbacks.serve(Echo, "127.0.0.1", 0, max_message_size=2 * LARGE, compression=None)  # fmt: skip
        async with serve as server:
            writes_fault[0] = fault
            return await echoed(f"ws://127.0.0.1:{port_of(server)}/", sent, max_message_size=2 * LARGE, compression=None)

    assert run_async(main()) == sent
    if event_loop_kind == "asyncio":
        assert log and all(done != asked for asked, done in log if asked > 3)  # every one cut or failed
        assert gathered  # the 70,000-byte message's echo, at least


def test_tls_is_written_through_its_transport(event_loop_kind, writes):
    log, _, _ = writes
    server_context, client_context = tls_contexts()
    sent = messages()[:3]

    async def main() -> list[bytes]:
        async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, max_message_size=2 * LARGE, compression=None) as server:
            return await echoed(f"wss://127.0.0.1:{port_of(server)}/", sent, ssl=client_context,
                                max_message_size=2 * LARGE, compression=None)  # fmt: skip

    assert run_async(main()) == sent
    assert log == []


@contextlib.asynccontextmanager
async def open_pair() -> AsyncIterator[tuple[Any, Any]]:
    """A client and the server side of its connection (echo, no compression), past one echo."""
    async with wsfast.serve(echo, "127.0.0.1", 0, compression=None) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None, proxy=None) as ws:
            await ws.send(b"open")
            assert await ws.recv() == b"open"
            (connection,) = server.connections
            yield ws, connection


@pytest.mark.parametrize("size", [100, 70_000], ids=["frame", "gathered"])
def test_after_a_short_send_the_next_write_waits_behind_its_rest(event_loop_kind, writes, size):
    """A short send's rest that the transport keeps (its socket full) goes before the next frame:
    that frame goes through the transport's write too, not straight to the socket ahead of it,
    whether the short send was a frame's write or a large payload's writev; once the transport
    says its buffer is empty, frames go straight to the socket again."""
    log, writes_fault, _ = writes
    first = os.urandom(size)

    async def main() -> None:
        async with open_pair() as (ws, connection):
            if event_loop_kind == "uvloop":
                assert connection._socket_fd == -1  # its transport's write is C already
                return
            transport, held = connection.transport, []
            real_write = transport.write
            transport.write = connection._transport_write = lambda data: held.append(bytes(data))  # kept
            transport.get_write_buffer_size = lambda: sum(map(len, held))
            writes_fault[0], log[:] = "middle", []
            await connection.send(first)
            writes_fault[0] = None
            await connection.send(b"second")
            assert len(log) == 1 and log[0][1] < log[0][0]  # the first, cut; the second held behind it
            assert held[-1] == encode_frame(Opcode.BINARY, b"second")
            del transport.get_write_buffer_size
            transport.write = connection._transport_write = real_write
            for piece in held:  # the transport sends what it held
                real_write(piece)
            await connection.send(b"third")
            assert len(log) == 2 and log[1][1] == log[1][0]  # straight to the socket again
            asked: list[int] = []
            transport.get_write_buffer_size = lambda: asked.append(0) or 0
            await connection.send(b"fourth")
            assert asked == [] and len(log) == 3  # nothing went through write since: not asked
            assert [await ws.recv() for _ in range(4)] == [first, b"second", b"third", b"fourth"]

    run_async(main())


def test_a_write_waits_behind_what_the_transport_holds(event_loop_kind, writes):
    """While the transport's buffer holds bytes (a short send's rest), a frame goes behind them,
    through its write, never straight to the socket ahead of them; so does a large payload that
    would be gathered behind its header."""
    log, _, gathered = writes

    async def main() -> None:
        async with open_pair() as (ws, connection):
            if event_loop_kind == "uvloop":
                assert connection._socket_fd == -1  # its transport's write is C already
                return
            transport = connection.transport
            frame = encode_frame(Opcode.BINARY, b"late")
            through: list[bytes] = []
            transport.get_write_buffer_size = lambda: 1  # as if a short send's rest were waiting
            connection._transport_may_hold = True  # as a short send leaves it
            transport.write, real_write = through.append, transport.write
            connection._transport_write = transport.write  # bound in connection_made
            log.clear()
            assert connection.write_shared(frame)
            large = os.urandom(70_000)
            await connection.send(large)
            assert (through, log, gathered) == ([frame, encode_frame(Opcode.BINARY, large)], [], [])
            del transport.get_write_buffer_size
            transport.write = connection._transport_write = real_write
            for held in through:  # what the transport held goes first
                real_write(held)
            assert connection.write_shared(encode_frame(Opcode.BINARY, b"after"))
            assert [size for size, _ in log] == [len(b"after") + 2]  # straight to the socket
            assert [await ws.recv() for _ in range(3)] == [b"late", large, b"after"]

    run_async(main())
