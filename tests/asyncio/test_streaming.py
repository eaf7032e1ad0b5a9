"""Receiving messages piece by piece: recv_streaming(), and recv() across fragments."""

from __future__ import annotations

import asyncio

import pytest

import wsfast
from tests.asyncio.support import port_of
from tests.support import run_async as run

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def with_server(handler, test, **options):
    async def main():
        async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
            return await test(f"ws://127.0.0.1:{port_of(server)}/")

    return run(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_pieces_arrive_before_the_message_ends(compression):
    gate = asyncio.Event()

    async def handler(ws):
        async def fragments():
            yield "caf"
            yield "é, "  # "é" is two bytes: the frames may split it, the pieces never do
            await gate.wait()
            yield "done"

        await ws.send(fragments())
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri, compression=compression) as ws:
            pieces = []
            async for piece in ws.recv_streaming():
                pieces.append(piece)
                gate.set()  # the server sends its last fragment only after the first piece came
            assert pieces == ["caf", "é, ", "done"]

    with_server(handler, test, compression=compression)


def test_a_character_split_between_frames_comes_whole():
    async def handler(ws):
        encoded = "é".encode()
        ws.protocol.send_text(b"a" + encoded[:1], fin=False)
        ws.protocol.send_continuation(encoded[1:] + b"b", fin=True)
        ws._flush()
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri, compression=None) as ws:
            assert [piece async for piece in ws.recv_streaming()] == ["a", "éb"]

    with_server(handler, test, compression=None)


def test_a_message_in_one_frame_is_one_piece_and_recv_goes_on_after():
    async def handler(ws):
        await ws.send(b"whole")
        await ws.send([b"x", b"y"])
        await ws.send("after")
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri) as ws:
            assert [piece async for piece in ws.recv_streaming()] == [b"whole"]
            assert [piece async for piece in ws.recv_streaming()] == [b"x", b"y"]
            assert await ws.recv() == "after"

    with_server(handler, test)


def test_leaving_the_loop_early_drops_the_rest_of_that_message_only():
    async def handler(ws):
        await ws.send(["one", "two", "three"])
        await ws.send("next")
        await ws.send(["four", "five"])
        await ws.send("last")
        await ws.close()

    async def test(uri):
        async with wsfast.connect(uri) as ws:
            async for piece in ws.recv_streaming():
                assert piece == "one"
                break
            assert await ws.recv() == "next"
            async for piece in ws.recv_streaming():
                assert piece == "four"
                break
            return [message async for message in ws]  # which ends on the normal close

    assert with_server(handler, test) == ["last"]


def test_a_cancelled_recv_loses_nothing_of_a_fragmented_message():
    gate = asyncio.Event()

    async def handler(ws):
        async def fragments():
            yield b"first "
            yield b"second "
            await gate.wait()
            yield b"third"

        await ws.send(fragments())
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # takes the first pieces, then times out
            gate.set()
            assert await ws.recv() == b"first second third"

    with_server(handler, test)


def test_two_readers_at_once_is_an_error():
    async def handler(ws):
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri) as ws:
            first = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already waiting"):
                await ws.recv()
            with pytest.raises(RuntimeError, match="already waiting"):
                ws.recv_streaming()
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first

    with_server(handler, test)


def test_back_pressure_never_stops_a_message_halfway():
    async def handler(ws):
        await ws.send([bytes([index]) * 1000 for index in range(40)])  # 40 frames, one message
        await ws.send(b"end")
        await ws.wait_closed()

    async def test(uri):
        async with wsfast.connect(uri, max_queue=2) as ws:
            await asyncio.sleep(0.2)  # let all 40 fragments arrive before reading
            message = await ws.recv()
            assert message == b"".join(bytes([index]) * 1000 for index in range(40))
            assert await ws.recv() == b"end"

    with_server(handler, test, compression=None)


def test_the_connection_closing_inside_a_message_raises():
    async def handler(ws):
        ws.protocol.send_binary(b"half", fin=False)
        ws._flush()
        await asyncio.sleep(0.1)
        ws.transport.abort()

    async def test(uri):
        async with wsfast.connect(uri) as ws:
            with pytest.raises(wsfast.exceptions.ConnectionClosedError):
                async for _ in ws.recv_streaming():
                    pass

    with_server(handler, test, compression=None)
