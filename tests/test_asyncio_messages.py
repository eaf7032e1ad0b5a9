"""The asyncio message queue alone: joining fragments as they come, back-pressure, streaming."""

from __future__ import annotations

import asyncio

import pytest

from wsfast.asyncio.messages import _PIECES_KEPT, MessageQueue
from wsfast.exceptions import ConnectionClosedOK


def make_queue(max_queue: int | None = 4) -> tuple[MessageQueue, list[str]]:
    calls: list[str] = []
    queue = MessageQueue(max_queue=max_queue, pause_reading=lambda: calls.append("pause"),
                         resume_reading=lambda: calls.append("resume"),
                         closed_error=lambda: ConnectionClosedOK(1000, ""))  # fmt: skip
    return queue, calls


@pytest.mark.parametrize("empty", [b"", ""])
def test_a_million_tiny_fragments_are_a_few_pieces(empty):
    queue, _ = make_queue()
    one = b"x" if empty == b"" else "x"
    for _ in range(1_000_000):
        queue.put(one, False)
    partial = queue._entries[0]
    assert len(partial.pieces) <= _PIECES_KEPT + 21  # 2**20: about log2 of the size more
    queue.put(one, True)
    assert asyncio.run(queue.get()) == one * 1_000_001


def test_streamed_pieces_keep_their_frames_until_there_are_many():
    queue, _ = make_queue()
    for piece in (b"a", b"b", b"c"):
        queue.put(piece, False)
    queue.put(b"", True)

    async def read() -> list[tuple[bytes, bool]]:
        return [await queue.get_piece() for _ in range(3)]

    assert asyncio.run(read()) == [(b"a", False), (b"b", False), (b"c", True)]
    assert len(queue) == 0


def test_reading_pauses_inside_a_message_and_resumes_at_half():
    queue, calls = make_queue(max_queue=4)
    for index in range(4):
        queue.put(bytes([index]))
    queue.put(b"part", False)  # the fifth message is still arriving
    assert calls == ["pause"] and queue.paused
    assert [queue.get_nowait() for _ in range(2)] == [b"\x00", b"\x01"]
    assert calls == ["pause", "resume"] and not queue.paused
    assert queue.get_nowait() == b"\x02" and queue.get_nowait() == b"\x03"
    assert queue.get_nowait() is None  # the message still arriving is not whole


def test_an_abandoned_stream_drops_the_rest_of_its_message_only():
    queue, _ = make_queue()
    queue.put(b"first", False)

    async def scenario() -> bytes:
        assert await queue.get_piece() == (b"first", False)
        queue.abandon_message()
        queue.put(b"dropped", False)
        queue.put(b"dropped too", True)
        queue.put(b"next")
        return await queue.get()

    assert asyncio.run(scenario()) == b"next"


def test_a_closed_queue_hands_out_what_it_holds_then_raises():
    queue, _ = make_queue()
    queue.put("last")
    queue.close()

    async def scenario() -> None:
        assert await queue.get() == "last"
        with pytest.raises(ConnectionClosedOK):
            await queue.get()

    asyncio.run(scenario())
