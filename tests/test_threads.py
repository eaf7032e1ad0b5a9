"""Many threads at once: the kernels, the codecs and connections, each thread with objects of its
own and the module-level state shared (the masking-key pool, the kernels' tables and dispatch).

With the GIL this checks that nothing module-level is shared unsafely between threads that the
interpreter switches between; on a free-threaded CPython (the workflow's free-threading job) it is
the stress test of running truly in parallel. Every thread's results are compared with what one
thread computes alone.
"""

from __future__ import annotations

import os
import random
import sys
import threading
from collections.abc import Callable

import pytest

from test_sync import running, uri
from wsfast import kernels
from wsfast._random import mask_key
from wsfast.frames import Frame, FrameDecoder, Opcode, encode_frame
from wsfast.permessage_deflate import PerMessageDeflate
from wsfast.sync.client import connect

THREADS = 8
ROUNDS = 200


def in_threads(work: Callable[[int], object]) -> list[object]:
    """``work(i)`` for i in range(THREADS), all started together; their results, or the first error."""
    start = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish within 60 s"
    if errors:
        raise errors[0]
    return results


@pytest.fixture(autouse=True)
def _switch_often():
    # With the GIL, switch threads as often as the interpreter allows, so that any step of a shared
    # read-modify-write can be interleaved.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def payloads(seed: int) -> list[bytes]:
    generator = random.Random(seed)
    return [generator.randbytes(generator.choice((0, 1, 7, 125, 126, 1000, 70000))) for _ in range(ROUNDS)]


def test_kernels_from_many_threads():
    def work(index: int) -> list[object]:
        out: list[object] = []
        for data in payloads(index):
            key = data[:4].ljust(4, b"k")
            out.append(kernels.mask(data, key, index % 4))
            buffer = bytearray(data)
            kernels.mask_into(buffer, key)
            out.append(bytes(buffer))
            text = data.decode("latin-1").encode()
            out.append((kernels.validate_utf8(data), kernels.validate_utf8(text)))
            validator = kernels.Utf8Validator()
            out.append((validator.feed(text[: len(text) // 2]), validator.feed(text[len(text) // 2 :]), validator.finish()))
        return out

    expected = [work(index) for index in range(THREADS)]
    assert in_threads(work) == expected


def test_frame_codec_and_deflate_from_many_threads():
    def work(index: int) -> list[object]:
        out: list[object] = []
        decoder = FrameDecoder(expect_masked=True, max_frame_size=None, max_message_size=None)
        encoder, inflater = PerMessageDeflate(), PerMessageDeflate()
        for data in payloads(100 + index):
            wire = encode_frame(Opcode.BINARY, data, mask=b"\x01\x02\x03\x04")
            frames = [frame for chunk in (wire[:3], wire[3:]) for frame in decoder.feed(chunk)]
            out.append([(frame.opcode, frame.payload) for frame in frames])
            piece = data[:2048]  # deflate is the slow part: a piece is enough to share its state
            compressed = encoder.encode(Frame(Opcode.BINARY, piece))
            out.append(inflater.decode(compressed).payload == piece)
        return out

    expected = [work(index) for index in range(THREADS)]
    assert in_threads(work) == expected


def test_masking_keys_from_many_threads_never_repeat():
    keys = in_threads(lambda _: [mask_key() for _ in range(2000)])
    drawn = [key for thread_keys in keys for key in thread_keys]  # type: ignore[union-attr]
    assert all(len(key) == 4 for key in drawn)
    # 16,000 keys of 32 random bits: a repeat is possible by chance (about 3%), a shared position
    # read twice gives many
    assert len(drawn) - len(set(drawn)) <= 2


@pytest.mark.skipif(not hasattr(os, "fork") and sys.platform == "win32", reason="threads over loopback")
def test_sync_connections_from_many_threads():
    with running() as server:

        def work(index: int) -> list[object]:
            with connect(uri(server), ping_interval=None) as ws:
                received = []
                for data in payloads(200 + index)[:50]:
                    ws.send(data)
                    received.append(ws.recv(timeout=10))
                    ws.send(data.hex())
                    received.append(ws.recv(timeout=10))
                return received

        results = in_threads(work)
    for index, received in enumerate(results):
        sent = payloads(200 + index)[:50]
        assert received == [item for data in sent for item in (data, data.hex())]
