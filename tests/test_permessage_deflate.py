"""permessage-deflate (RFC 7692): the RFC's examples, round trips, limits, errors and negotiation.

Every test that compresses or decompresses runs on every DEFLATE backend installed here (zlib-ng,
ISA-L, the standard library). Streams are also checked with an independent strict inflater: the
standard library's, fed one output byte at a time, so that a back-reference beyond the window is an
error (in one larger call zlib lets a reference reach into the bytes that call has produced).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import random
import sys
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsfast import _zlib
from wsfast.connection import Connection, Role, State
from wsfast.exceptions import NegotiationError, PayloadTooBig, ProtocolError
from wsfast.extensions import RSV1, Extension
from wsfast.frames import Frame, Opcode
from wsfast.permessage_deflate import (
    DEFAULT_MIN_SIZE,
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    encode_shared,
)

from tests.support import examples

BACKENDS = _zlib.AVAILABLE
# zlib and zlib-ng produce the RFC's bytes exactly; ISA-L encodes some of them differently.
ZLIB_LIKE = [name for name in BACKENDS if name != "isal"]
TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
H = bytes.fromhex


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    previous = _zlib.BACKEND, _zlib.COMPRESSOR_BACKEND
    _zlib._select(name)
    try:
        yield
    finally:
        _zlib.BACKEND, _zlib.COMPRESSOR_BACKEND = previous


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    with use_backend(request.param):
        yield request.param


@pytest.fixture(params=ZLIB_LIKE)
def zlib_like(request: pytest.FixtureRequest) -> Iterator[str]:
    with use_backend(request.param):
        yield request.param


def deflate(**kwargs) -> PerMessageDeflate:
    kwargs.setdefault("min_size", 0)
    return PerMessageDeflate(**kwargs)


def send(extension: PerMessageDeflate, message: bytes, cuts: list[int] = (), opcode=BINARY) -> list[Frame]:
    """``message`` cut at ``cuts`` into frames, each encoded."""
    bounds = [0, *sorted(cut % (len(message) + 1) for cut in cuts), len(message)]
    pieces = [message[start:end] for start, end in itertools.pairwise(bounds)]
    frames = []
    for index, piece in enumerate(pieces):
        raw = Frame(opcode if index == 0 else CONT, piece, fin=index == len(pieces) - 1)
        frames.append(extension.encode(raw))
    return frames


def receive(extension: PerMessageDeflate, frames: list[Frame], max_size: int | None = None) -> bytes:
    """The message the frames carry, decoded, with ``max_size`` shrinking as the message grows."""
    out = b""
    for frame in frames:
        room = None if max_size is None else max_size - len(out)
        decoded = extension.decode(frame, max_size=room)
        assert not decoded.rsv1 and decoded.opcode == frame.opcode and decoded.fin == frame.fin
        out += decoded.payload
    return out


def strict_inflate(decompressor, data: bytes) -> bytes:
    """Inflate one output byte a call: every back-reference must then fit in the window."""
    out = bytearray()
    while True:
        chunk = decompressor.decompress(data, 1)
        if not chunk:
            assert not decompressor.unconsumed_tail
            return bytes(out)
        out += chunk
        data = decompressor.unconsumed_tail


def wire_message(frames: list[Frame]) -> bytes:
    """The DEFLATE data of a compressed message as a receiver inflates it (§7.2.2)."""
    assert frames[0].rsv1 and not any(frame.rsv1 for frame in frames[1:])
    return b"".join(frame.payload for frame in frames) + b"\x00\x00\xff\xff"


# ------------------------------------------------------------------------------ RFC 7692 §7.2.3


def test_extension_identity():
    extension = PerMessageDeflate()
    assert isinstance(extension, Extension)
    assert extension.name == "permessage-deflate" and extension.rsv_bits == RSV1
    assert ClientPerMessageDeflateFactory.name == ServerPerMessageDeflateFactory.name == "permessage-deflate"
    assert "remote_max_window_bits=15" in repr(extension)


def test_rfc_hello_one_block(backend):
    # §7.2.3.1: "Hello" in one compressed DEFLATE block.
    frame = deflate().encode(Frame(TEXT, b"Hello"))
    assert frame == Frame(TEXT, H("f248cdc9c90700"), True, True)
    assert deflate().decode(frame) == Frame(TEXT, b"Hello")


def test_rfc_hello_fragmented(backend):
    # §7.2.3.1: the same data cut into two frames; RSV1 only on the first.
    decoder = deflate()
    first = decoder.decode(Frame(TEXT, H("f248cd"), fin=False, rsv1=True))
    last = decoder.decode(Frame(CONT, H("c9c90700"), fin=True))
    assert first.opcode == TEXT and not first.fin and not first.rsv1
    assert last.opcode == CONT and last.fin and not last.rsv1
    assert first.payload + last.payload == b"Hello"


def test_rfc_sharing_the_window(zlib_like):
    # §7.2.3.2: the second "Hello" refers to the first.
    encoder, decoder = deflate(), deflate()
    frames = [encoder.encode(Frame(TEXT, b"Hello")) for _ in range(2)]
    assert [frame.payload for frame in frames] == [H("f248cdc9c90700"), H("f200110000")]
    assert [decoder.decode(frame).payload for frame in frames] == [b"Hello", b"Hello"]


def test_rfc_sharing_the_window_decodes_on_every_backend(backend):
    decoder = deflate()
    for payload in (H("f248cdc9c90700"), H("f200110000")):
        assert decoder.decode(Frame(TEXT, payload, rsv1=True)).payload == b"Hello"


def test_no_context_takeover_repeats_the_first_encoding(backend):
    encoder = deflate(local_no_context_takeover=True)
    frames = [encoder.encode(Frame(TEXT, b"Hello")) for _ in range(3)]
    assert {frame.payload for frame in frames} == {H("f248cdc9c90700")}


def test_rfc_no_compression_block(backend):
    # §7.2.3.3: a stored ("no compression") block.
    frame = Frame(TEXT, H("0005 00faff 48656c6c6f 00"), rsv1=True)
    assert deflate().decode(frame).payload == b"Hello"


def test_rfc_bfinal_block(backend):
    # §7.2.3.4: a block with BFINAL set ends the DEFLATE stream; the next message starts a new one.
    decoder = deflate()
    assert decoder.decode(Frame(TEXT, H("f348cdc9c9070000"), rsv1=True)).payload == b"Hello"
    assert decoder.decode(Frame(TEXT, H("f248cdc9c90700"), rsv1=True)).payload == b"Hello"
    # ... also when it ends inside a message, and more data follows in the same message.
    data = H("f348cdc9c90700") + H("f248cdc9c90700")  # two streams, the second one open
    assert deflate().decode(Frame(TEXT, data, rsv1=True)).payload == b"HelloHello"
    decoder = deflate()
    assert decoder.decode(Frame(TEXT, H("f348cdc9c90700"), fin=False, rsv1=True)).payload == b"Hello"
    assert decoder.decode(Frame(CONT, H("f248cdc9c90700"))).payload == b"Hello"


def test_rfc_two_blocks(zlib_like):
    # §7.2.3.5: "He" and "llo" in two blocks; here each in its own frame.
    frames = send(deflate(), b"Hello", [2], TEXT)
    assert [frame.payload for frame in frames] == [H("f248050000 00ffff"), H("cac9c90700")]
    assert [frame.rsv1 for frame in frames] == [True, False]
    data = H("f24805000000ffffcac9c90700")
    assert deflate().decode(Frame(TEXT, data, rsv1=True)).payload == b"Hello"


def test_rfc_empty_fragment(zlib_like):
    # §7.2.3.6: a final empty fragment after a flushed one carries the single byte 00.
    encoder = deflate()
    first = encoder.encode(Frame(TEXT, b"Hello", fin=False))
    last = encoder.encode(Frame(CONT, b"", fin=True))
    assert first == Frame(TEXT, H("f248cdc9c90700 0000ffff"), False, True)
    assert last == Frame(CONT, H("00"), True, False)
    assert receive(deflate(), [first, last]) == b"Hello"


def test_rfc_empty_fragment_decodes_on_every_backend(backend):
    frames = [Frame(TEXT, H("f248cdc9c907000000ffff"), False, True), Frame(CONT, H("00"))]
    decoder = deflate()
    assert receive(decoder, frames) == b"Hello"
    assert decoder.decode(Frame(TEXT, H("f200110000"), rsv1=True)).payload == b"Hello"  # context intact


class StubCompressor:
    """A compressor that splits its output between ``compress`` and ``flush`` as told."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head, self.tail = head, tail

    def compress(self, data: bytes) -> bytes:
        return self.head

    def flush(self, mode: int) -> bytes:
        return self.tail


@pytest.mark.parametrize(
    ("head", "tail", "payload"),
    [
        (H("f248cdc9c907000000ffff"), b"", H("f248cdc9c90700")),  # the flush came with compress
        (H("f248cdc9c90700"), b"", H("f248cdc9c9070000")),  # aligned, no empty block: add one
        (b"", b"", H("00")),  # nothing at all since the last flush
        (H("f248cdc9c9070000"), H("00ffff"), H("f248cdc9c90700")),  # the 4 bytes span both calls
    ],
    ids=["in-head", "missing", "empty", "split"],
)
def test_final_frame_ends_with_an_empty_stored_block(head, tail, payload):
    # §7.2.1: if the data does not end with an empty stored block, one is appended (after a
    # flush the stream is byte-aligned, so it is 00 00 00 ff ff), then 00 00 ff ff removed.
    encoder = deflate()
    encoder._encoder = StubCompressor(head, tail)
    assert encoder.encode(Frame(TEXT, b"Hello")).payload == payload


def test_strict_inflate_catches_a_reference_beyond_the_window():
    message = random.Random(1).randbytes(1000) * 3  # references 1000 bytes back
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert zlib.decompressobj(-9).decompress(data) == message  # zlib alone lets it through
    assert strict_inflate(zlib.decompressobj(-10), data) == message
    with pytest.raises(zlib.error, match="too far back"):
        strict_inflate(zlib.decompressobj(-9), data)


def test_empty_messages(backend):
    encoder, decoder = deflate(), deflate()
    for _ in range(3):
        frame = encoder.encode(Frame(BINARY, b""))
        assert frame.rsv1 and frame.payload in (b"\x00", H("0200"))
        assert decoder.decode(frame) == Frame(BINARY, b"")
    # Empty frames anywhere in a fragmented message.
    frames = send(encoder, b"abc" * 20, [0, 0, 30, 30, 60])
    assert len(frames) == 6 and receive(decoder, frames) == b"abc" * 20


# ------------------------------------------------------------------------------ round trips


def messages_strategy():
    """Messages built from a few repeated chunks, so that back-references at many distances occur."""
    chunk = st.binary(min_size=1, max_size=700)
    return st.lists(chunk, min_size=1, max_size=4).flatmap(
        lambda chunks: st.lists(
            st.lists(st.sampled_from(chunks) | st.binary(max_size=20), max_size=12).map(b"".join),
            min_size=1,
            max_size=6,
        )
    )


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    backend_name=st.sampled_from(BACKENDS),
    bits=st.integers(8, 15),
    no_context_takeover=st.booleans(),
    level=st.sampled_from([-1, 0, 1, 6, 9]),
    strategy=st.sampled_from([0, 0, 0, 1, 2, 3, 4]),
    messages=messages_strategy(),
    cuts=st.lists(st.lists(st.integers(0, 10_000), max_size=4), min_size=6, max_size=6),
    min_size=st.sampled_from([0, 0, DEFAULT_MIN_SIZE]),
)
def test_round_trip(backend_name, bits, no_context_takeover, level, strategy, messages, cuts, min_size):
    with use_backend(backend_name):
        encoder = PerMessageDeflate(
            local_no_context_takeover=no_context_takeover,
            local_max_window_bits=bits,
            compress_settings={"level": level, "strategy": strategy},
            min_size=min_size,
        )
        decoder = PerMessageDeflate(remote_no_context_takeover=no_context_takeover, remote_max_window_bits=bits)
        reference = zlib.decompressobj(-bits)
        for message, message_cuts in zip(messages, cuts):
            frames = send(encoder, message, message_cuts)
            assert receive(decoder, frames) == message
            if not frames[0].rsv1:  # sent uncompressed: only a short, unfragmented message
                assert len(frames) == 1 and len(message) < min_size and frames[0].payload == message
                continue
            # The stream is valid for exactly the agreed window, and without context takeover
            # each message is valid alone.
            if no_context_takeover:
                reference = zlib.decompressobj(-bits)
            assert strict_inflate(reference, wire_message(frames)) == message


@pytest.mark.parametrize("no_context_takeover", [False, True], ids=["takeover", "no-takeover"])
@pytest.mark.parametrize("bits", range(8, 16))
def test_round_trip_every_window(backend, bits, no_context_takeover):
    rng = random.Random(bits)
    chunks = [rng.randbytes(rng.randrange(1, 2000)) for _ in range(4)] + [bytes(700)]
    encoder = deflate(local_max_window_bits=bits, local_no_context_takeover=no_context_takeover)
    decoder = deflate(remote_max_window_bits=bits, remote_no_context_takeover=no_context_takeover)
    reference = zlib.decompressobj(-bits)
    for index in range(6):
        message = b"".join(rng.choice(chunks) for _ in range(rng.randrange(1, 8)))
        frames = send(encoder, message, [rng.randrange(len(message) + 1) for _ in range(index % 3)])
        assert receive(decoder, frames) == message
        if no_context_takeover:
            reference = zlib.decompressobj(-bits)
        assert strict_inflate(reference, wire_message(frames)) == message


@pytest.mark.parametrize("no_context_takeover", [False, True], ids=["takeover", "no-takeover"])
def test_many_messages_in_sequence(backend, no_context_takeover):
    rng = random.Random(7)
    encoder = deflate(local_no_context_takeover=no_context_takeover, min_size=DEFAULT_MIN_SIZE)
    decoder = deflate(remote_no_context_takeover=no_context_takeover)
    raw = wire = 0
    for index in range(1000):
        words = " ".join(rng.choice(["bid", "ask", "fill", "cancel"]) for _ in range(rng.randrange(30)))
        document = {"id": index, "channel": rng.choice(["btc", "eth"]), "price": rng.random(), "events": words}
        message = json.dumps(document).encode()
        frames = send(encoder, message, [rng.randrange(100)] if index % 10 == 0 else [])
        assert receive(decoder, frames) == message
        raw += len(message)
        wire += sum(len(frame.payload) for frame in frames)
    assert wire < (0.8 if no_context_takeover else 0.4) * raw


def test_peer_streams_from_plain_zlib(backend):
    # Another implementation's compressor, at every window: what it sends, we decode.
    rng = random.Random(3)
    data = [rng.randbytes(300) * 3 + bytes(2000) + rng.randbytes(50) * 40 for _ in range(4)]
    for bits in range(9, 16):
        peer = zlib.compressobj(9, zlib.DEFLATED, -bits)
        decoder = deflate(remote_max_window_bits=bits)
        for message in data:
            payload = (peer.compress(message) + peer.flush(zlib.Z_SYNC_FLUSH))[:-4]
            assert decoder.decode(Frame(BINARY, payload, rsv1=True)).payload == message


def test_window_8_is_decoded_with_512_bytes(backend):
    # Peers whose zlib turned a 256-byte window into 512 bytes still interoperate.
    message = bytes(range(200)) * 2 + bytes(range(256)) * 4  # matches 400 and 256 bytes back
    peer = zlib.compressobj(9, zlib.DEFLATED, -9)
    payload = (peer.compress(message) + peer.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert deflate(remote_max_window_bits=8).decode(Frame(BINARY, payload, rsv1=True)).payload == message


def test_window_8_compression_fits_a_256_byte_window(backend):
    rng = random.Random(5)
    message = b"".join(rng.choice([rng.randbytes(100), bytes(300), b"ab" * 200]) for _ in range(100))
    for strategy in (0, zlib.Z_HUFFMAN_ONLY):
        encoder = deflate(local_max_window_bits=8, compress_settings={"strategy": strategy})
        frames = send(encoder, message)
        assert len(frames[0].payload) < len(message)
        assert strict_inflate(zlib.decompressobj(-8), wire_message(frames)) == message


# ------------------------------------------------------------------------------ min_size, passthrough


def test_min_size():
    encoder = PerMessageDeflate()
    assert encoder.min_size == DEFAULT_MIN_SIZE == 32
    short = Frame(TEXT, b"x" * 31)
    assert encoder.encode(short) is short
    assert encoder.encode(Frame(TEXT, b"x" * 32)).rsv1
    # A fragmented message is compressed whatever its first fragment's size, and its
    # continuation frames follow that decision.
    frames = send(encoder, b"abc", [1, 2])
    assert [frame.rsv1 for frame in frames] == [True, False, False]
    assert receive(PerMessageDeflate(), frames) == b"abc"
    # ... and so do the continuation frames of an uncompressed message.
    never = PerMessageDeflate(min_size=10**9)
    frames = [never.encode(Frame(TEXT, b"short")), never.encode(Frame(CONT, b"x" * 100))]
    assert frames == [Frame(TEXT, b"short"), Frame(CONT, b"x" * 100)]


def test_a_first_frame_always_takes_a_new_decision():
    # Messages never interleave (the connection sees to it), but if a first frame came before the
    # previous message ended, it would start a new message, and decide anew.
    encoder = PerMessageDeflate(min_size=10)
    first = encoder.encode(Frame(TEXT, b"a" * 100, fin=False))
    assert first.rsv1
    tiny = encoder.encode(Frame(TEXT, b"a"))  # a new message: short, so uncompressed
    assert not tiny.rsv1
    follow = encoder.encode(Frame(CONT, b"b" * 100))
    assert follow.payload == b"b" * 100 and not follow.rsv1  # no compressed message in progress


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frames_pass_unchanged(opcode):
    extension = deflate()
    frame = Frame(opcode, b"x" * 100)
    assert extension.encode(frame) is frame
    assert extension.decode(frame) is frame
    # ... also between the fragments of a compressed message, which is not disturbed.
    frames = send(extension, b"hello" * 20, [50])
    decoder = deflate()
    first = decoder.decode(frames[0])
    assert decoder.decode(frame, max_size=0) is frame
    assert first.payload + decoder.decode(frames[1]).payload == b"hello" * 20


def test_uncompressed_messages_pass_unchanged():
    decoder = deflate()
    frames = [Frame(TEXT, b"plain"), Frame(BINARY, b"one", fin=False), Frame(CONT, b"two", fin=False), Frame(CONT, b"")]
    for frame in frames:
        assert decoder.decode(frame) is frame
    stray = Frame(CONT, b"no message started")
    assert decoder.decode(stray) is stray
    assert deflate().encode(stray) is stray


# ------------------------------------------------------------------------------ limits


def test_zip_bomb_is_bounded(backend):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = (compressor.compress(bytes(10 * 2**20)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(bomb) < 20_000
    frame = Frame(BINARY, bomb, rsv1=True)
    decoder = deflate()
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig) as raised:
            decoder.decode(frame, max_size=2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.close_code == 1009
    assert peak < 3 * 2**20


def test_zip_bomb_across_frames(backend):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces = [compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_SYNC_FLUSH) for _ in range(8)]
    frames = [Frame(BINARY, pieces[0], fin=False, rsv1=True)]
    frames += [Frame(CONT, piece, fin=False) for piece in pieces[1:-1]]
    frames.append(Frame(CONT, pieces[-1][:-4]))
    assert receive(deflate(), frames, max_size=8 * 2**20) == bytes(8 * 2**20)
    with pytest.raises(PayloadTooBig):
        receive(deflate(), frames, max_size=5 * 2**20 + 17)


@pytest.mark.parametrize("size", [0, 1, 1000, 100_000])
def test_limit_is_exact(backend, size):
    message = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frames = send(deflate(), message, [size // 3])
    assert receive(deflate(), frames, max_size=size) == message
    if size:
        with pytest.raises(PayloadTooBig):
            receive(deflate(), frames, max_size=size - 1)
    with pytest.raises(PayloadTooBig):
        deflate().decode(Frame(BINARY, b"\x00" * 100), max_size=99)  # uncompressed frames too
    assert deflate().decode(Frame(BINARY, b""), max_size=-1) == Frame(BINARY, b"")


def test_limit_after_a_bfinal_block(backend):
    data = H("f348cdc9c90700") + H("f248cdc9c90700")  # "Hello" in each of two streams
    assert deflate().decode(Frame(TEXT, data, rsv1=True), max_size=10).payload == b"HelloHello"
    with pytest.raises(PayloadTooBig):
        deflate().decode(Frame(TEXT, data, rsv1=True), max_size=9)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "payload",
    [
        H("ff"),  # reserved block type 11
        H("ffffffffffff"),
        H("f248cdc9c907000000ffff" "f2"),  # fine, then a dangling block header: not an error alone
        H("0005 00fbff 48656c6c6f"),  # stored block whose NLEN is not LEN's complement
        H("f200110000"),  # a back-reference before the start of the stream
    ],
)
def test_corrupt_data_is_a_protocol_error(backend, payload):
    decoder = deflate()
    try:
        decoder.decode(Frame(BINARY, payload, rsv1=True))
    except ProtocolError as error:
        assert type(error) is ProtocolError and error.close_code == 1002
        assert "permessage-deflate" in str(error)
    else:
        # Incomplete data is not detected by the message that carries it, but by the next one.
        with pytest.raises(ProtocolError) as raised:
            decoder.decode(Frame(BINARY, H("f248cdc9c90700"), rsv1=True))
        assert raised.value.close_code == 1002


def test_no_context_takeover_is_enforced(backend):
    # The peer agreed to reset its window: a reference to the previous message is an error.
    decoder = deflate(remote_no_context_takeover=True)
    assert decoder.decode(Frame(TEXT, H("f248cdc9c90700"), rsv1=True)).payload == b"Hello"
    with pytest.raises(ProtocolError) as raised:
        decoder.decode(Frame(TEXT, H("f200110000"), rsv1=True))
    assert raised.value.close_code == 1002


def test_rsv1_on_a_continuation_frame():
    decoder = deflate()
    decoder.decode(Frame(TEXT, H("f248cd"), fin=False, rsv1=True))
    with pytest.raises(ProtocolError) as raised:
        decoder.decode(Frame(CONT, H("c9c90700"), rsv1=True))
    assert raised.value.close_code == 1002 and "continuation" in str(raised.value)
    with pytest.raises(ProtocolError):
        deflate().decode(Frame(CONT, b"x", rsv1=True))  # also when no message is in progress


def test_other_rsv_bits_are_kept():
    frame = deflate().encode(Frame(BINARY, b"x" * 50, rsv2=True))
    assert frame.rsv1 and frame.rsv2 and not frame.rsv3
    assert deflate().decode(frame).rsv2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"remote_max_window_bits": 7},
        {"local_max_window_bits": 16},
        {"local_max_window_bits": True},
        {"remote_max_window_bits": "15"},
        {"min_size": -1},
        {"min_size": 1.5},
        {"compress_settings": {"wbits": 15}},
        {"compress_settings": {"level": 10}},
        {"compress_settings": {"memLevel": 0}},
        {"compress_settings": {"strategy": 5}},
        {"compress_settings": {"level": 1.0}},
        {"compress_settings": {"memLevel": True}},
    ],
)
def test_invalid_extension_settings(kwargs):
    with pytest.raises(ValueError):
        PerMessageDeflate(**kwargs)


# ------------------------------------------------------------------------------ the backends


def test_backend_selection():
    assert _zlib.AVAILABLE[-1] == "zlib"
    assert _zlib.BACKEND in _zlib.AVAILABLE
    assert zlib.error in _zlib.ERRORS
    with pytest.raises(ValueError):
        _zlib._select("zstd")
    with pytest.raises(ValueError):
        _zlib.compressobj(16)
    with pytest.raises(ValueError):
        _zlib.compressobj(15, level=10)
    with pytest.raises(ValueError):
        _zlib.decompressobj(7)


def test_compressor_fallbacks(backend):
    expected = backend
    for wbits, level, strategy in [(15, -1, 0), (9, 9, 0), (8, -1, 0), (15, 0, 0), (15, 6, zlib.Z_RLE)]:
        name = _zlib.compressor_backend(wbits, level, strategy)
        if backend == "isal" and (wbits == 8 or level == 0 or strategy):
            expected = "zlib-ng" if "zlib-ng" in BACKENDS else "zlib"
        else:
            expected = backend
        assert name == expected
        compressor = _zlib.compressobj(wbits, level, 8, strategy)
        data = compressor.compress(b"abc" * 100) + compressor.flush(_zlib.Z_SYNC_FLUSH)
        assert zlib.decompressobj(-15).decompress(data) == b"abc" * 100


@pytest.fixture
def reload_zlib(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Re-run ``_zlib``'s import-time choice under a patched environment, then restore it."""
    previous = _zlib.BACKEND, _zlib.COMPRESSOR_BACKEND
    yield monkeypatch
    monkeypatch.undo()
    importlib.reload(_zlib)
    _zlib.BACKEND, _zlib.COMPRESSOR_BACKEND = previous


def test_by_default_the_standard_library_compresses_and_the_best_backend_decompresses(reload_zlib):
    reload_zlib.delenv("WSFAST_ZLIB", raising=False)
    importlib.reload(_zlib)
    assert (_zlib.BACKEND, _zlib.COMPRESSOR_BACKEND) == (_zlib.AVAILABLE[0], "zlib")
    assert _zlib.compressor_backend(12, -1) == "zlib"


@pytest.mark.skipif("zlib-ng" not in BACKENDS, reason="zlib-ng is not installed")
def test_environment_can_make_zlib_ng_compress_too(reload_zlib):
    reload_zlib.setenv("WSFAST_ZLIB", "zlib-ng")
    importlib.reload(_zlib)
    assert (_zlib.BACKEND, _zlib.COMPRESSOR_BACKEND, _zlib.compressor_backend(12)) == ("zlib-ng",) * 3


def test_environment_forces_the_standard_library(reload_zlib):
    reload_zlib.setenv("WSFAST_ZLIB", "zlib")
    importlib.reload(_zlib)
    assert _zlib.BACKEND == _zlib.COMPRESSOR_BACKEND == "zlib"
    assert PerMessageDeflate().decode(Frame(TEXT, H("f248cdc9c90700"), rsv1=True)).payload == b"Hello"


@pytest.mark.parametrize("value", ["zstd", "isal"])
def test_environment_asks_for_a_missing_backend(reload_zlib, value):
    reload_zlib.setitem(sys.modules, "isal", None)  # as if not installed
    reload_zlib.setenv("WSFAST_ZLIB", value)
    with pytest.raises(ImportError, match="WSFAST_ZLIB"):
        importlib.reload(_zlib)


def test_preference_order_without_the_optional_backends(reload_zlib):
    reload_zlib.delenv("WSFAST_ZLIB", raising=False)
    reload_zlib.setitem(sys.modules, "zlib_ng", None)
    reload_zlib.setitem(sys.modules, "isal", None)
    importlib.reload(_zlib)
    assert (_zlib.AVAILABLE, _zlib.BACKEND, _zlib.ERRORS) == (("zlib",), "zlib", (zlib.error,))


@pytest.mark.skipif("isal" not in BACKENDS, reason="isal is not installed")
def test_isal_is_preferred_to_the_standard_library(reload_zlib):
    reload_zlib.delenv("WSFAST_ZLIB", raising=False)
    reload_zlib.setitem(sys.modules, "zlib_ng", None)
    importlib.reload(_zlib)
    assert (_zlib.AVAILABLE, _zlib.BACKEND) == (("isal", "zlib"), "isal")


# ------------------------------------------------------------------------------ negotiation: client


def client_agrees(response, **kwargs) -> PerMessageDeflate:
    return ClientPerMessageDeflateFactory(**kwargs).process_response_params(response, [])


def test_client_default_offer():
    factory = ClientPerMessageDeflateFactory()
    assert factory.get_request_params() == [("client_max_window_bits", None)]
    extension = factory.process_response_params([], [])
    assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (15, 15)
    assert not extension.local_no_context_takeover and not extension.remote_no_context_takeover


def test_client_full_offer():
    factory = ClientPerMessageDeflateFactory(True, True, 10, 12)
    assert factory.get_request_params() == [
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", "10"),
        ("client_max_window_bits", "12"),
    ]
    assert ClientPerMessageDeflateFactory(client_max_window_bits=None).get_request_params() == []


INVALID_BITS = ["7", "16", "08", "0", "+9", " 9", "9 ", "9.0", "", "0x9", "nine", "١٠"]


@pytest.mark.parametrize(
    "response",
    [
        [("unknown", None)],
        [("server_max_window", "10")],
        [("Server_No_Context_Takeover", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_no_context_takeover", None), ("client_no_context_takeover", None)],
        [("server_max_window_bits", "10"), ("server_max_window_bits", "10")],
        [("client_max_window_bits", "10"), ("client_max_window_bits", "10")],
        [("server_no_context_takeover", "")],
        [("client_no_context_takeover", "true")],
        [("server_max_window_bits", None)],
        [("client_max_window_bits", None)],  # a response must give a value
        *[[("server_max_window_bits", bits)] for bits in INVALID_BITS],
        *[[("client_max_window_bits", bits)] for bits in INVALID_BITS],
    ],
)
def test_client_rejects_invalid_responses(response):
    with pytest.raises(NegotiationError):
        client_agrees(response)


def test_client_rejects_a_second_permessage_deflate():
    factory = ClientPerMessageDeflateFactory()
    with pytest.raises(NegotiationError, match="already"):
        factory.process_response_params([], [PerMessageDeflate()])


def test_client_server_no_context_takeover():
    response = [("server_no_context_takeover", None)]
    assert client_agrees(response).remote_no_context_takeover
    assert client_agrees(response, server_no_context_takeover=True).remote_no_context_takeover
    assert not client_agrees([]).remote_no_context_takeover
    with pytest.raises(NegotiationError, match="server_no_context_takeover"):
        client_agrees([], server_no_context_takeover=True)


def test_client_client_no_context_takeover():
    assert client_agrees([("client_no_context_takeover", None)]).local_no_context_takeover
    assert client_agrees([], client_no_context_takeover=True).local_no_context_takeover  # its own word
    assert not client_agrees([]).local_no_context_takeover


@pytest.mark.parametrize("bits", range(8, 16))
def test_client_server_max_window_bits(bits):
    assert client_agrees([("server_max_window_bits", str(bits))]).remote_max_window_bits == bits
    for asked in range(8, 16):
        if bits <= asked:
            extension = client_agrees([("server_max_window_bits", str(bits))], server_max_window_bits=asked)
            assert extension.remote_max_window_bits == bits
        else:
            with pytest.raises(NegotiationError, match="more than"):
                client_agrees([("server_max_window_bits", str(bits))], server_max_window_bits=asked)
    with pytest.raises(NegotiationError, match="lacks"):
        client_agrees([], server_max_window_bits=bits)


@pytest.mark.parametrize("bits", range(8, 16))
def test_client_client_max_window_bits(bits):
    response = [("client_max_window_bits", str(bits))]
    assert client_agrees(response).local_max_window_bits == bits  # offered without a value
    assert client_agrees(response, client_max_window_bits=12).local_max_window_bits == min(bits, 12)
    assert client_agrees([], client_max_window_bits=bits).local_max_window_bits == bits
    with pytest.raises(NegotiationError, match="not offered"):
        client_agrees(response, client_max_window_bits=None)


def test_client_passes_its_settings_on():
    extension = client_agrees([], compress_settings={"level": 1}, min_size=7)
    assert extension.compress_settings == {"level": 1} and extension.min_size == 7


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": True},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": False},
        {"min_size": -5},
        {"compress_settings": {"level": 11}},
    ],
)
def test_client_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        ClientPerMessageDeflateFactory(**kwargs)


# ------------------------------------------------------------------------------ negotiation: server


def server_agrees(offer, **kwargs) -> tuple[list, PerMessageDeflate]:
    return ServerPerMessageDeflateFactory(**kwargs).process_request_params(offer, [])


@pytest.mark.parametrize(
    "offer",
    [
        [("unknown", None)],
        [("client_max_window", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_no_context_takeover", None), ("client_no_context_takeover", None)],
        [("server_max_window_bits", "10"), ("server_max_window_bits", "11")],
        [("client_max_window_bits", None), ("client_max_window_bits", None)],
        [("server_no_context_takeover", "1")],
        [("client_no_context_takeover", "")],
        [("server_max_window_bits", None)],  # an offer's server_max_window_bits needs a value too
        *[[("server_max_window_bits", bits)] for bits in INVALID_BITS],
        *[[("client_max_window_bits", bits)] for bits in INVALID_BITS],
    ],
)
def test_server_declines_invalid_offers(offer):
    with pytest.raises(NegotiationError):
        server_agrees(offer)


def test_server_declines_a_second_permessage_deflate():
    with pytest.raises(NegotiationError, match="already"):
        ServerPerMessageDeflateFactory().process_request_params([], [PerMessageDeflate()])


def test_server_default_answer():
    response, extension = server_agrees([])
    assert response == []
    assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (15, 15)
    assert not extension.local_no_context_takeover and not extension.remote_no_context_takeover
    response, extension = server_agrees([("client_max_window_bits", None)])
    assert response == [] and extension.remote_max_window_bits == 15


def test_server_no_context_takeover():
    # Asked for by the client, or chosen by the server: either way it is in the answer.
    for offer, kwargs in [([("server_no_context_takeover", None)], {}), ([], {"server_no_context_takeover": True})]:
        response, extension = server_agrees(offer, **kwargs)
        assert response == [("server_no_context_takeover", None)] and extension.local_no_context_takeover


def test_server_client_no_context_takeover():
    for offer, kwargs in [([("client_no_context_takeover", None)], {}), ([], {"client_no_context_takeover": True})]:
        response, extension = server_agrees(offer, **kwargs)
        assert response == [("client_no_context_takeover", None)] and extension.remote_no_context_takeover


@pytest.mark.parametrize("asked", [None, *range(8, 16)])
@pytest.mark.parametrize("own", [None, *range(8, 16)])
def test_server_server_max_window_bits(asked, own):
    offer = [] if asked is None else [("server_max_window_bits", str(asked))]
    response, extension = server_agrees(offer, server_max_window_bits=own)
    expected = min(bits for bits in (asked, own, 15) if bits is not None)
    assert extension.local_max_window_bits == expected
    if asked is None and own is None:
        assert response == []
    else:
        assert response == [("server_max_window_bits", str(expected))]  # never more than asked for


@pytest.mark.parametrize("offered", ["absent", None, *range(8, 16)])
@pytest.mark.parametrize("own", [None, 8, 11, 15])
def test_server_client_max_window_bits(offered, own):
    if offered == "absent":
        offer = []
    else:
        offer = [("client_max_window_bits", None if offered is None else str(offered))]
    response, extension = server_agrees(offer, client_max_window_bits=own)
    if offered == "absent" or (offered is None and own is None):
        assert response == [] and extension.remote_max_window_bits == 15  # may not be answered
    else:
        expected = min(bits for bits in (offered, own) if bits is not None)
        assert response == [("client_max_window_bits", str(expected))]
        assert extension.remote_max_window_bits == expected


def test_server_requires_client_max_window_bits():
    factory = ServerPerMessageDeflateFactory(client_max_window_bits=10, require_client_max_window_bits=True)
    with pytest.raises(NegotiationError, match="requires"):
        factory.process_request_params([], [])
    response, extension = factory.process_request_params([("client_max_window_bits", None)], [])
    assert response == [("client_max_window_bits", "10")] and extension.remote_max_window_bits == 10


def test_server_answer_order_and_settings():
    offer = [
        ("client_max_window_bits", "11"),
        ("server_max_window_bits", "9"),
        ("client_no_context_takeover", None),
        ("server_no_context_takeover", None),
    ]
    response, extension = server_agrees(offer, compress_settings={"memLevel": 4}, min_size=0)
    assert response == [
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", "9"),
        ("client_max_window_bits", "11"),
    ]
    assert extension.compress_settings == {"memLevel": 4} and extension.min_size == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 16},
        {"client_max_window_bits": True},
        {"client_max_window_bits": 7},
        {"require_client_max_window_bits": True},
        {"min_size": None},
        {"compress_settings": {"level": "6"}},
    ],
)
def test_server_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        ServerPerMessageDeflateFactory(**kwargs)


# ------------------------------------------------------------------------------ agreement


def mirror(client: PerMessageDeflate, server: PerMessageDeflate) -> None:
    assert client.local_no_context_takeover == server.remote_no_context_takeover
    assert client.remote_no_context_takeover == server.local_no_context_takeover
    assert client.local_max_window_bits == server.remote_max_window_bits
    assert client.remote_max_window_bits == server.local_max_window_bits


CLIENT_SETTINGS = list(
    itertools.product([False, True], [False, True], [None, 8, 12, 15], [None, True, 8, 12])
)
SERVER_SETTINGS = [
    (snct, cnct, smwb, cmwb, require)
    for snct, cnct, smwb, cmwb, require in itertools.product(
        [False, True], [False, True], [None, 9, 15], [None, 8, 13], [False, True]
    )
    if cmwb is not None or not require
]


def test_client_and_server_agree_and_interoperate(backend):
    rng = random.Random(11)
    messages = [rng.randbytes(200) * 5, b"".join(rng.choice([b"abc", b"xyz", bytes(50)]) for _ in range(500))]
    agreed = 0
    for client_settings, server_settings in itertools.product(CLIENT_SETTINGS, SERVER_SETTINGS):
        client_factory = ClientPerMessageDeflateFactory(*client_settings, min_size=0)
        server_factory = ServerPerMessageDeflateFactory(*server_settings, min_size=0)
        try:
            response, server = server_factory.process_request_params(client_factory.get_request_params(), [])
        except NegotiationError:
            # Only refusal: the server requires client_max_window_bits and the client doesn't offer it.
            assert server_settings[4] and client_settings[3] is None
            continue
        client = client_factory.process_response_params(response, [])
        mirror(client, server)
        if client_settings[2] is not None:
            assert server.local_max_window_bits <= client_settings[2]
        if type(client_settings[3]) is int:
            assert client.local_max_window_bits <= client_settings[3]
        agreed += 1
        if agreed % 7:  # exchanging messages for a seventh of the pairs keeps this fast
            continue
        for message in messages:
            assert receive(server, send(client, message, [len(message) // 2])) == message
            assert receive(client, send(server, message)) == message
    assert agreed > 1000


# ---------------------------------------------------------------- one frame for many connections (fan-out)


@settings(max_examples=examples(300), deadline=None)
@given(
    data=st.binary(max_size=3000) | st.text(max_size=500).map(str.encode),
    text=st.booleans(),
    window_bits=st.integers(8, 15),
    level=st.integers(-1, 9),
    mem_level=st.integers(1, 9),
    strategy=st.integers(0, 4),
    min_size=st.sampled_from([0, 1, 32, 1000]),
    before=st.binary(max_size=300),
)
def test_the_shared_frame_is_the_frame_the_connection_itself_would_send(data, text, window_bits, level, mem_level,
                                                                        strategy, min_size, before):  # fmt: skip
    extension = PerMessageDeflate(local_no_context_takeover=True, local_max_window_bits=window_bits,
                                  compress_settings={"level": level, "memLevel": mem_level, "strategy": strategy},
                                  min_size=min_size)  # fmt: skip
    connection = Connection(Role.SERVER, state=State.OPEN, extensions=[extension])
    connection.send_binary(before)  # whatever it sent before does not matter: a fresh stream per message
    connection.data_to_send()
    if text:
        connection.send_text(data)
    else:
        connection.send_binary(data)
    opcode = Opcode.TEXT if text else Opcode.BINARY
    assert connection.shared_frame_key == extension.shared_key
    assert encode_shared(opcode, data, extension.shared_key) == connection.data_to_send()


def test_only_a_server_compressing_afresh_or_plain_takes_a_shared_frame():
    from wsfast.client import ClientConnection

    assert Connection(Role.SERVER, state=State.OPEN).shared_frame_key == "plain"
    assert Connection(Role.SERVER, state=State.OPEN, extensions=[PerMessageDeflate()]).shared_frame_key is None
    assert Connection(Role.CLIENT, state=State.OPEN, extensions=[PerMessageDeflate(local_no_context_takeover=True)]
                      ).shared_frame_key is None  # fmt: skip - a client masks
    assert ClientConnection("ws://example.com/").shared_frame_key is None
    afresh_connection = Connection(Role.SERVER, state=State.OPEN, extensions=[PerMessageDeflate(local_no_context_takeover=True)])
    afresh_connection.send_encoded(encode_shared(Opcode.TEXT, b"x" * 100, afresh_connection.shared_frame_key))
    assert afresh_connection.data_to_send()[0] == 0xC1  # FIN, RSV1, text
