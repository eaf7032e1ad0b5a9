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
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from tests.sync.support import running, uri
from wsfast import kernels
from wsfast._buffers import DECODER_BUSY
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


# --------------------------------------------------------------- one object, two threads at once
# Using one decoder, validator or payload fill from two threads at once is a caller's mistake, but
# it must not crash: the C build lets other threads run while it works on long pieces (and a
# free-threaded build always does), so the second use is refused with RuntimeError and a buffer
# the kernels read stays exported, so that another thread cannot resize it under them.


def test_a_decoder_fed_by_another_thread_during_its_callback_refuses(codec):
    decoder = codec.FrameDecoder(expect_masked=False)
    in_callback, release = threading.Event(), threading.Event()
    refused: list[BaseException] = []

    def other_thread() -> None:
        in_callback.wait(10)
        try:
            decoder.feed(codec.encode_frame(Opcode.TEXT, b"late"))
        except RuntimeError as error:
            refused.append(error)
        release.set()

    def deliver(data: object, final: bool, text: bool) -> None:
        in_callback.set()
        assert release.wait(10)

    thread = threading.Thread(target=other_thread)
    thread.start()
    stream = codec.encode_frame(Opcode.BINARY, b"first") + codec.encode_frame(Opcode.PING, b"p")
    assert decoder.feed_into(stream, deliver) == [Frame(Opcode.PING, b"p")]
    thread.join(10)
    assert [str(error) for error in refused] == [DECODER_BUSY]
    # the refused bytes were not taken: the decoder goes on where it was
    assert decoder.feed(codec.encode_frame(Opcode.TEXT, b"next")) == [Frame(Opcode.TEXT, b"next")]


RACES = r'''
import sys, threading, time
from wsfast import kernels
from wsfast._buffers import DECODER_BUSY, FILL_BUSY, VALIDATOR_BUSY
from wsfast.frames import FrameDecoder, Opcode, encode_frame
from wsfast._kernels import PayloadFill, take_frame
assert kernels.IMPLEMENTATION == sys.argv[1], kernels.IMPLEMENTATION
BIG = int(sys.argv[2])
KEY = b"\x01\x02\x03\x04"
unexpected = []

def at_once(first, second):
    # first() and second() in two threads started together; errors other than those allowed are kept
    start = threading.Barrier(2)
    def run(work):
        start.wait()
        try:
            work()
        except (BufferError, RuntimeError) as error:
            if isinstance(error, RuntimeError) and str(error) not in (DECODER_BUSY, FILL_BUSY, VALIDATOR_BUSY):
                unexpected.append(error)
        except BaseException as error:
            unexpected.append(error)
    threads = [threading.Thread(target=run, args=(work,)) for work in (first, second)]
    for thread in threads: thread.start()
    for thread in threads: thread.join(60)

def resize_after(buffer, delay):
    def clobber():
        time.sleep(delay)  # while the kernel unmasks from it, as likely as not
        buffer.clear()  # BufferError while a kernel holds it
    return clobber

for delay in (0.0005, 0.001, 0.002, 0.004, 0.008):
    # a caller's buffer resized while the kernel unmasks from it
    buffer = bytearray(BIG)
    fill = PayloadFill(BIG, KEY)
    at_once(lambda: fill.take(buffer), resize_after(buffer, delay))
    buffer = bytearray(encode_frame(Opcode.BINARY, bytes(BIG), mask=KEY))
    at_once(lambda: take_frame(buffer, True, None), resize_after(buffer, delay))
for turn in range(3):
    # one object, two threads: one take (or fill_from) is refused, or they take one after the
    # other, never both at once
    fill = PayloadFill(3 * BIG, KEY)
    second = (lambda: fill.take(bytearray(b"\x22" * BIG))) if turn % 2 else (lambda: fill.fill_from(b"\x22" * BIG))
    at_once(lambda: fill.take(bytearray(b"\x11" * BIG)), second)
    taken = fill.received
    assert taken in (BIG, 2 * BIG), taken
    payload = fill.take(bytearray(3 * BIG - taken))
    unmasked = kernels.mask(payload, KEY)
    pieces = {unmasked[start:start + BIG] for start in range(0, taken, BIG)}
    assert pieces <= {b"\x11" * BIG, b"\x22" * BIG} and len(pieces) == taken // BIG, "torn payload"
    validator = kernels.Utf8Validator()
    text = "é".encode() * (BIG // 2)
    at_once(lambda: validator.feed(text), lambda: validator.feed(text))
    assert validator.finish()
    decoder = FrameDecoder(expect_masked=True, max_frame_size=None, max_message_size=None)
    frame = encode_frame(Opcode.BINARY, bytes(4 * BIG), mask=KEY)
    decoder.feed(frame[:BIG])
    at_once(lambda: decoder.feed(frame[BIG:2 * BIG]), lambda: decoder.feed(frame[2 * BIG:3 * BIG]))
if unexpected:
    raise unexpected[0]
print("no crash")
'''


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_one_object_from_two_threads_never_crashes(implementation):
    if implementation == "c" and os.environ.get("WSFAST_NO_EXTENSIONS"):
        pytest.skip("WSFAST_NO_EXTENSIONS=1: no C kernels")
    switch = "WSFAST_NO_EXTENSIONS" if implementation == "python" else "WSFAST_REQUIRE_EXTENSIONS"
    others = ("WSFAST_NO_EXTENSIONS", "WSFAST_REQUIRE_EXTENSIONS")
    environment = {**{name: value for name, value in os.environ.items() if name not in others}, switch: "1"}
    # in a process of its own: what this guards against is a segmentation fault
    # C: pieces long enough to let go of the GIL for milliseconds; the twin never does
    size = 32 << 20 if implementation == "c" else 1 << 20
    result = subprocess.run([sys.executable, "-c", RACES, implementation, str(size)], env=environment,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "no crash"
