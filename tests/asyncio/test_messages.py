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


@pytest.mark.parametrize("text", [False, True])
def test_a_million_tiny_fragments_are_a_few_pieces(text):
    queue, _ = make_queue()
    for _ in range(1_000_000):
        queue.put(b"x", False, text)
    partial = queue._entries[0]
    assert len(partial.pieces) <= _PIECES_KEPT + 21  # 2**20: about log2 of the size more
    queue.put(b"x", True, text)
    assert asyncio.run(queue.get()) == ("x" * 1_000_001 if text else b"x" * 1_000_001)


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


@pytest.mark.parametrize(("decode", "text", "binary"), [
    (None, "é", b"\xc3\xa9"), (True, "é", "é"), (False, b"\xc3\xa9", b"\xc3\xa9"),
])  # fmt: skip
def test_decode_chooses_str_or_bytes_for_whole_and_fragmented_messages(decode, text, binary):
    queue, _ = make_queue(max_queue=None)
    queue.put("é".encode(), True, True)
    queue.put(b"\xc3\xa9")
    queue.put(b"\xc3", False, True)
    queue.put(b"\xa9", True, True)
    assert queue.get_nowait(decode) == text and queue.get_nowait(decode) == binary
    assert asyncio.run(queue.get(decode)) == text


def test_streamed_text_comes_in_whole_characters_unless_bytes_are_asked_for():
    for decode, expected in ((None, [("", False), ("é", False), ("!", True)]),
                             (False, [(b"\xc3", False), (b"\xa9", False), (b"!", True)])):  # fmt: skip
        queue, _ = make_queue()
        for piece in (b"\xc3", b"\xa9"):
            queue.put(piece, False, True)
        queue.put(b"!", True, True)

        async def read(decode=decode) -> list:
            return [await queue.get_piece(decode) for _ in range(3)]

        assert asyncio.run(read()) == expected


def test_binary_that_is_not_utf8_stays_queued_when_decoding_fails():
    queue, _ = make_queue()
    queue.put(b"\xff")
    with pytest.raises(UnicodeDecodeError):
        queue.get_nowait(True)
    assert queue.get_nowait() == b"\xff"


def test_a_closed_queue_hands_out_what_it_holds_then_raises():
    queue, _ = make_queue()
    queue.put(b"last", True, True)
    queue.close()

    async def scenario() -> None:
        assert await queue.get() == "last"
        with pytest.raises(ConnectionClosedOK):
            await queue.get()

    asyncio.run(scenario())
