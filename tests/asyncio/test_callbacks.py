"""The callback API (wsfast.asyncio.callbacks) over loopback, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

import wsfast
from tests.asyncio.support import a_peer_that_never_reads, port_of
from tests.support import C_AVAILABLE, run_async
from wsfast._kernels import compiled_twin
from wsfast.asyncio import callbacks
from wsfast.client import ClientConnection
from wsfast.exceptions import ConnectionClosedError, ConnectionClosedOK
from wsfast.frames import Opcode, encode_frame

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


class Echo(callbacks.Handler):
    def on_message(self, data, text):
        self.connection.send(data, text)


class Recorder(callbacks.Handler):
    """Records what it is called with; ``messages`` is a queue for the test to await."""

    decode_text = True
    receive_fragments = False

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.messages: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()

    def on_open(self) -> None:
        self.calls.append(("open",))

    def on_message(self, data, text):
        self.calls.append(("message", data, text))
        self.messages.put_nowait((data, text))

    def on_fragment(self, data, final, text):
        self.calls.append(("fragment", data, final, text))
        self.messages.put_nowait((data, final, text))

    def on_ping(self, payload):
        self.calls.append(("ping", payload))

    def on_pong(self, payload):
        self.calls.append(("pong", payload))

    def on_close(self, code, reason):
        self.calls.append(("close", code, reason))
        self.closed.set_result((code, reason))


def uri_of(server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


@pytest.mark.parametrize("compression", ["deflate", None])
def test_callback_server_echoes_for_an_await_client(compression):
    async def main():
        async with callbacks.serve(Echo, "127.0.0.1", 0, compression=compression) as server:
            async with wsfast.connect(uri_of(server), compression=compression) as ws:
                for message in ["hello", "κόσμε" * 1000, b"\x00\xff" * 50000, b"", ""]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "ments"])  # a fragmented message comes whole to on_message
                assert await ws.recv() == "fragments"
                await ws.send(b"as text", text=True)
                assert await ws.recv() == "as text"

    run_async(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_callback_client_against_an_await_server(compression):
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, compression=compression) as server:
            async with callbacks.connect(uri_of(server), Recorder, compression=compression) as connection:
                handler = connection.handler
                assert handler.calls == [("open",)] and handler.connection is connection
                connection.send("text")
                connection.send(b"binary")
                connection.send(bytearray(b"buffer"))
                connection.send("str as binary", text=False)
                results = [await handler.messages.get() for _ in range(4)]
                assert results == [("text", True), (b"binary", False), (b"buffer", False), (b"str as binary", False)]
            assert await handler.closed == (1000, "")
            assert handler.calls[-1] == ("close", 1000, "") and sum(c[0] == "close" for c in handler.calls) == 1

    run_async(main())


def test_text_as_bytes_and_fragments_as_they_arrive():
    class Pieces(Recorder):
        decode_text = False
        receive_fragments = True

    async def main():
        handlers = []

        def factory():
            handlers.append(Pieces())
            return handlers[-1]

        async with callbacks.serve(factory, "127.0.0.1", 0, compression=None) as server:
            async with wsfast.connect(uri_of(server), compression=None) as ws:
                await ws.send(["κό", "σμε"])
                await ws.send(b"whole")
                got = [await handlers[0].messages.get() for _ in range(3)]
                assert got == [("κό".encode(), False, True), ("σμε".encode(), True, True), (b"whole", True, False)]

    run_async(main())


def test_a_failing_callback_closes_its_connection_with_1011_and_the_server_lives_on(caplog):
    class Fails(callbacks.Handler):
        def on_message(self, data, text):
            if data == "boom":
                raise ValueError("application bug")
            self.connection.send(data)

    async def main():
        async with callbacks.serve(Fails, "127.0.0.1", 0) as server:
            async with wsfast.connect(uri_of(server)) as ws:
                await ws.send("boom")
                await ws.send("never seen")
                with pytest.raises(ConnectionClosedError) as caught:
                    await ws.recv()
                assert caught.value.code == 1011
            async with wsfast.connect(uri_of(server)) as ws:  # the next connection is served
                await ws.send("fine")
                assert await ws.recv() == "fine"

    with caplog.at_level(logging.ERROR, logger="wsfast"):
        run_async(main())
    assert any("callback on_message failed" in record.message and record.exc_info for record in caplog.records)


def test_a_failing_on_open_closes_with_1011():
    class Fails(callbacks.Handler):
        def on_open(self):
            raise RuntimeError("cannot start")

    async def main():
        async with callbacks.serve(Fails, "127.0.0.1", 0) as server:
            async with wsfast.connect(uri_of(server)) as ws:
                with pytest.raises(ConnectionClosedError) as caught:
                    await ws.recv()
                assert caught.value.code == 1011

    run_async(main())


def test_limits_hold_on_the_callback_api():
    async def main():
        async with callbacks.serve(Echo, "127.0.0.1", 0, max_message_size=1000, max_fragments=4) as server:
            async with wsfast.connect(uri_of(server)) as ws:
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError) as caught:
                    await ws.recv()
                assert caught.value.code == 1009
            async with wsfast.connect(uri_of(server)) as ws:
                await ws.send([b"a"] * 5)
                with pytest.raises(ConnectionClosedError) as caught:
                    await ws.recv()
                assert caught.value.code == 1009

    run_async(main())


def test_pings_pongs_and_latency():
    async def main():
        async with callbacks.serve(Echo, "127.0.0.1", 0) as server:
            async with callbacks.connect(uri_of(server), Recorder) as connection:
                latency = await connection.ping(b"hi")
                assert latency >= 0 and connection.latency == latency
                assert ("pong", b"hi") in connection.handler.calls
        async with wsfast.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
            async with callbacks.connect(uri_of(server), Recorder) as connection:
                server_side = next(iter(server.connections))
                await (await server_side.ping(b"from server"))
                assert ("ping", b"from server") in connection.handler.calls

    run_async(main())


def test_unsolicited_pongs_from_both_apis():
    """pong() (websockets' name) sends a heartbeat pong that the peer sees, from either API;
    str goes as its UTF-8; a closed connection, a long or a wrong payload raise."""
    async def main():
        handlers = []

        def factory():
            handlers.append(Recorder())
            return handlers[-1]

        async with callbacks.serve(factory, "127.0.0.1", 0) as server:
            async with wsfast.connect(uri_of(server)) as ws:
                await ws.pong(b"beat")
                await ws.pong("κ")
                await ws.send("after")
                assert await handlers[0].messages.get() == ("after", True)
                assert [call for call in handlers[0].calls if call[0] == "pong"] == [("pong", b"beat"),
                                                                                      ("pong", "κ".encode())]
                with pytest.raises(ValueError):
                    await ws.pong(b"x" * 126)
                with pytest.raises(TypeError):
                    await ws.pong(42)  # type: ignore[arg-type]
            with pytest.raises(ConnectionClosedOK):
                await ws.pong(b"late")
        async with wsfast.serve(lambda ws: ws.recv(), "127.0.0.1", 0) as server:
            async with callbacks.connect(uri_of(server), Recorder) as connection:
                connection.pong(bytearray(b"cb"))
                connection.send("done")  # the server's handler returns after one message
                code, _ = await asyncio.wait_for(connection.handler.closed, 5)
                assert code == 1000
                with pytest.raises(ConnectionClosedOK):
                    connection.pong(b"late")

    run_async(main())


def test_sending_after_close_raises_and_server_shutdown_says_1001():
    async def main():
        handlers = []

        def factory():
            handlers.append(Recorder())
            return handlers[-1]

        server = await callbacks.serve(factory, "127.0.0.1", 0)
        async with wsfast.connect(uri_of(server)) as ws:
            await ws.send("hello")
            await handlers[0].messages.get()
            server.close()
            await server.wait_closed()
            assert await handlers[0].closed == (1001, "")  # what the client sent back
            with pytest.raises(ConnectionClosedOK):
                handlers[0].connection.send("too late")
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()

    run_async(main())


def test_max_queue_does_not_apply():
    with pytest.raises(TypeError, match="max_queue"):
        callbacks.serve(Echo, "127.0.0.1", 0, max_queue=4)
    with pytest.raises(TypeError, match="max_queue"):
        callbacks.connect("ws://127.0.0.1:1/", Echo, max_queue=4)


class _RecordedWrites:
    """A transport that records what is written through it and passes it on."""

    def __init__(self, transport) -> None:
        self._transport = transport
        self.writes: list = []

    def write(self, data) -> None:
        self.writes.append(("write", data))
        self._transport.write(data)

    def writelines(self, chunks) -> None:
        self.writes.append(("writelines", list(chunks)))
        self._transport.writelines(chunks)

    def __getattr__(self, name):
        return getattr(self._transport, name)


@pytest.mark.parametrize("through", [False, True], ids=["as-made", "through-transport"])
@pytest.mark.parametrize("size", [100_000, 600_000], ids=["100KB", "600KB"])
def test_a_large_payload_leaves_in_one_write_or_uncopied_behind_its_header(size, through, monkeypatch):
    """A payload of 64 KiB or more is never copied into its frame by the core. Where the transport
    gathers writes (uvloop's), header and payload go in one writelines; on the standard library's
    plain socket, in one writev straight to it (``_write_now``'s rule). Through the standard
    library's ``write`` (``through``: as for TLS), they are joined into one write below 512 KiB in
    all (a header written alone is one more system call and a segment of its own), and from there
    written one after the other, the payload as it was handed over."""
    received: list = []
    gathered: list = []
    openpath = compiled_twin("_openpath")

    def writev(fd, pieces):
        gathered.append(list(pieces))
        return os.writev(fd, pieces)

    monkeypatch.setattr(openpath, "_writev_fd", writev)

    class Keeping(Echo):
        def on_message(self, data, text):
            received.append(data)
            super().on_message(data, text)

    async def main():
        async with callbacks.serve(Keeping, "127.0.0.1", 0, compression=None) as server:
            async with wsfast.connect(uri_of(server), compression=None) as client:
                await client.send(b"ping")
                await client.recv()
                [connection] = server.connections
                direct = connection._socket_fd >= 0
                if through:
                    connection._socket_fd = -1
                recorded = connection.transport = _RecordedWrites(connection.transport)
                connection._transport_write = recorded.write  # bound in connection_made
                await client.send(bytes(range(256)) * (size // 256))
                echo = await client.recv()
                return connection._gather_writes, direct, list(recorded.writes), echo  # before the close frame

    gathers, direct, writes, echo = run_async(main())
    payload = received[-1]
    assert echo == payload and len(payload) == size // 256 * 256
    if direct and not through:
        # one writev; a short one leaves the rest to the transport (a loopback buffer takes 600 KB)
        assert len(gathered) == 1 and len(gathered[0]) == 2 and gathered[0][1] is payload
        return
    assert gathered == []
    kind, data = writes[0]
    if gathers:
        assert kind == "writelines" and len(data) == 2 and data[1] is payload
    elif size < 1 << 19:
        assert writes == [("write", data)] and data.endswith(payload) and len(data) <= len(payload) + 10
    else:
        assert [kind for kind, _ in writes] == ["write", "write"] and writes[1][1] is payload


class _WatchedDecoder:
    """A frame decoder that records the size of each space its read_space() hands out."""

    def __init__(self, decoder, handed_out: list[int]) -> None:
        self._decoder = decoder
        self._handed_out = handed_out

    def read_space(self):
        space = self._decoder.read_space()
        if space is not None:
            self._handed_out.append(len(space))
        return space

    def __getattr__(self, name):
        return getattr(self._decoder, name)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_a_large_message_is_read_straight_into_its_payload(compression):
    """Once a large frame is part-received, the C build reads the rest of it straight into its
    payload (get_buffer hands out the decoder's read_space(), the missing part) instead of into the
    read buffer, to be copied from there; the twins read every byte into the read buffer. The
    message is the same, compressed or not."""
    handed_out: list[int] = []
    message = os.urandom(1 << 20)  # incompressible: as large a frame with deflate

    async def main():
        async with callbacks.serve(Echo, "127.0.0.1", 0, compression=compression, max_size=(None, None)) as server:
            async with wsfast.connect(uri_of(server), compression=compression, max_size=(None, None)) as client:
                await client.send(b"hello")
                await client.recv()
                [connection] = server.connections
                connection.protocol._decoder = _WatchedDecoder(connection.protocol._decoder, handed_out)
                for _ in range(3):
                    await client.send(message)
                    assert await client.recv() == message

    run_async(main())
    if C_AVAILABLE:
        assert handed_out and all(0 < size < len(message) + 1024 for size in handed_out)
    else:
        assert handed_out == []


@pytest.mark.parametrize("size", [16384, 100_000, 1_000_000], ids=["16KiB", "100KB", "1MB"])  # see above
def test_a_peer_that_never_reads_cannot_make_an_echo_server_buffer_without_bound(size):
    """By default a handler stops reading while its write buffer is over write_limit: the peer's
    sends then stall in TCP instead of piling up as echoes in the server's memory. A payload of
    64 KiB or more goes out behind its header: by writelines where the transport gathers writes,
    else joined with it below 512 KiB, and written apart from there."""
    seen = {"most buffered": 0, "paused": 0}

    class Watched(Echo):
        def on_message(self, data, text):
            super().on_message(data, text)
            seen["most buffered"] = max(seen["most buffered"], self.connection.write_buffer_size)

        def on_write_paused(self):
            seen["paused"] += 1
            super().on_write_paused()

    async def main():
        async with callbacks.serve(Watched, "127.0.0.1", 0, compression=None, write_limit=65536) as server:
            async with a_peer_that_never_reads(port_of(server), size) as flooded:
                return flooded

    stalled, sent = run_async(main(), 60)
    assert stalled, f"the server read {sent} bytes from a peer that never reads"
    assert seen["paused"] >= 1
    assert seen["most buffered"] < 2 * 1024 * 1024  # write_limit plus one read's echoes, not what was sent


def test_a_handler_answering_each_message_of_one_read_at_length_hears_the_write_limit_at_once():
    """200 one-byte messages in one read, each answered with 1 MB while writing is not paused, to
    a peer that does not read: what is sent inside the read is written as soon as it passes
    write_limit, so on_write_paused comes once the socket takes no more, not after the read (when
    200 MB would have gathered)."""
    seen = {"answered": 0, "held back": 0, "most pending": 0}

    class Amplifier(callbacks.Handler):
        paused = False

        def on_message(self, data, text):
            if self.paused:
                seen["held back"] += 1
                return
            self.connection.send(b"x" * 1_000_000)
            seen["answered"] += 1
            pending = self.connection.write_buffer_size + sum(map(len, self.connection.protocol._output))
            seen["most pending"] = max(seen["most pending"], pending)

        def on_write_paused(self):
            self.paused = True

        def on_write_resumed(self):
            self.paused = False

    async def main():
        async with callbacks.serve(Amplifier, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
            port = port_of(server)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ClientConnection(f"ws://127.0.0.1:{port}/", extensions=[]).data_to_send())
            await reader.readuntil(b"\r\n\r\n")
            writer.write(encode_frame(Opcode.BINARY, b"m", mask=True) * 200)
            for _ in range(100):  # until the server has read them all
                await asyncio.sleep(0.01)
                if seen["answered"] + seen["held back"] == 200:
                    break
            writer.transport.abort()

    run_async(main())
    assert seen["answered"] + seen["held back"] == 200
    assert seen["answered"] < 10  # answers went out until the socket was full, and no further
    assert seen["most pending"] < 2_000_000  # one answer, not the read's 200
