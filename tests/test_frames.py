"""The frame codec (encode_frame, FrameDecoder) on every implementation, and close payloads."""

from __future__ import annotations

import os
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import C_AVAILABLE, _kernels_c, examples, frames_kept_alive
from wsfast import _frames_py, frames
from wsfast.exceptions import InvalidPayload, PayloadTooBig, ProtocolError
from wsfast.frames import CloseCode, Frame, Opcode, parse_close, serialize_close

KEY = bytes.fromhex("37fa213d")

# RFC 6455 §5.7, byte for byte: (wire, masked, frames)
RFC_EXAMPLES = {
    "unmasked text": ("810548656c6c6f", False, [Frame(Opcode.TEXT, b"Hello")]),
    "masked text": ("818537fa213d7f9f4d5158", True, [Frame(Opcode.TEXT, b"Hello")]),
    "fragmented text": ("010348656c" "80026c6f", False,
                        [Frame(Opcode.TEXT, b"Hel", fin=False), Frame(Opcode.CONTINUATION, b"lo")]),
    "unmasked ping": ("890548656c6c6f", False, [Frame(Opcode.PING, b"Hello")]),
    "masked pong": ("8a8537fa213d7f9f4d5158", True, [Frame(Opcode.PONG, b"Hello")]),
}  # fmt: skip


@pytest.mark.parametrize("name", RFC_EXAMPLES)
def test_rfc6455_examples(codec, name):
    wire_hex, masked, expected = RFC_EXAMPLES[name]
    wire = bytes.fromhex(wire_hex)
    encoded = b"".join(
        codec.encode_frame(f.opcode, f.payload, fin=f.fin, mask=KEY if masked else False) for f in expected
    )
    assert encoded == wire
    assert codec.FrameDecoder(expect_masked=masked).feed(wire) == expected
    decoder = codec.FrameDecoder(expect_masked=masked)
    assert [frame for byte in wire for frame in decoder.feed(bytes([byte]))] == expected
    assert decoder.buffered == 0


@pytest.mark.parametrize(("size", "header"), [(256, "827e0100"), (65536, "827f0000000000010000")])
def test_rfc6455_lengths(codec, size, header):
    payload = bytes(range(256)) * (size // 256)
    wire = codec.encode_frame(Opcode.BINARY, payload)
    assert wire[: len(header) // 2] == bytes.fromhex(header)
    [frame] = codec.FrameDecoder(max_frame_size=None, max_message_size=None).feed(wire)
    assert frame == Frame(Opcode.BINARY, payload)
    assert type(frame.opcode) is Opcode and type(frame.payload) is bytes


@pytest.mark.parametrize("length_bytes", [b"\x7e\x00\x05", b"\x7f" + (5).to_bytes(8, "big")])
def test_non_minimal_lengths_are_accepted_and_never_sent(codec, length_bytes):
    """RFC 6455 §5.2 asks senders for the minimal encoding; the length means the same either way, so
    the decoder accepts the longer forms (as websockets does) and the encoder never writes them."""
    [frame] = codec.FrameDecoder().feed(b"\x82" + length_bytes + b"hello")
    assert frame == Frame(Opcode.BINARY, b"hello")
    for size, header_length in ((125, 2), (126, 4), (65535, 4), (65536, 10)):
        assert len(codec.encode_frame(Opcode.BINARY, bytes(size))) == header_length + size


def test_frames_are_the_shared_type(codec):
    [frame] = codec.FrameDecoder().feed(codec.encode_frame(2, b"x", rsv1=False))
    assert type(frame) is Frame
    assert frame.fin is True and frame.rsv1 is False


def test_mask_true_draws_a_fresh_key(codec):
    first = codec.encode_frame(Opcode.TEXT, b"same payload", mask=True)
    second = codec.encode_frame(Opcode.TEXT, b"same payload", mask=True)
    assert first[1] & 0x80 and first[2:6] != second[2:6]
    assert codec.FrameDecoder(expect_masked=True).feed(first + second) == [Frame(Opcode.TEXT, b"same payload")] * 2


def test_encode_accepts_buffers_and_flags(codec):
    wire = codec.encode_frame(Opcode.BINARY, memoryview(b"abcdef")[::2], fin=False, rsv1=True, rsv2=True, rsv3=True)
    assert wire == bytes([0x72, 3]) + b"ace"


@pytest.mark.parametrize(("opcode", "error"), [(16, ValueError), (-1, ValueError), ("1", TypeError), (1.0, TypeError)])
def test_encode_rejects_bad_opcodes(codec, opcode, error):
    with pytest.raises(error):
        codec.encode_frame(opcode, b"")


def test_encode_rejects_bad_payloads_and_keys(codec):
    with pytest.raises(TypeError):
        codec.encode_frame(1, "text")
    with pytest.raises(ValueError):
        codec.encode_frame(1, b"x", mask=b"abc")
    with pytest.raises(TypeError):
        codec.encode_frame(1, b"x", mask="abcd")


# ----------------------------------------------------------------------------- round trips

control_frames = st.tuples(st.sampled_from([Opcode.PING, Opcode.PONG, Opcode.CLOSE]), st.binary(max_size=125)).map(
    lambda parts: Frame(*parts)
)


@st.composite
def messages(draw):
    """A valid frame sequence: fragmented messages with control frames between the fragments."""
    sequence = []
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.binary(max_size=300), min_size=1, max_size=4))
        opcode = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
        rsv1 = draw(st.booleans())
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sequence.append(Frame(opcode if index == 0 else Opcode.CONTINUATION, part, fin=last,
                                  rsv1=rsv1 and index == 0))  # fmt: skip
            sequence.extend(draw(st.lists(control_frames, max_size=2)))
    return sequence


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=examples(150), deadline=None)
@given(sequence=messages(), masked=st.booleans(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_round_trip_under_any_chunking(codec, sequence, masked, cuts):
    wire = b"".join(
        codec.encode_frame(f.opcode, f.payload, fin=f.fin, rsv1=f.rsv1, mask=masked) for f in sequence
    )
    decoder = codec.FrameDecoder(expect_masked=masked, allowed_rsv=0b100)
    decoded = [frame for piece in chunked(wire, cuts) for frame in decoder.feed(piece)]
    assert decoded == sequence
    assert decoder.buffered == 0


# ----------------------------------------------------------------------------- protocol rules


def decode_error(codec, wire: bytes, **options):
    decoder = codec.FrameDecoder(**options)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(wire)
    return decoder, info.value


@pytest.mark.parametrize(
    ("wire", "options", "message"),
    [
        ("8300", {}, "reserved opcode 3"),
        ("8b00", {}, "reserved opcode 11"),
        ("c100", {}, "RSV bits set without an extension that uses them"),
        ("a100", {"allowed_rsv": 0b100}, "RSV bits set without an extension that uses them"),
        ("c900", {"allowed_rsv": 0b100}, "RSV bits set on a control frame"),
        ("8100", {"expect_masked": True}, "unmasked frame from a client"),
        ("818000000000", {"expect_masked": False}, "masked frame from a server"),
        ("0900", {}, "fragmented control frame"),
        ("897e007e" + "00" * 126, {}, "control frame payload of 126 bytes, more than 125"),
        ("8000", {}, "continuation frame without a message to continue"),
        ("0100" "0100", {}, "new data frame inside a fragmented message"),
        ("827fffffffffffffffff", {}, "payload length has the most significant bit set"),
    ],
)
def test_protocol_errors(codec, wire, options, message):
    decoder, error = decode_error(codec, bytes.fromhex(wire), **options)
    assert type(error) is ProtocolError and error.close_code == 1002
    assert str(error) == message
    with pytest.raises(ProtocolError, match=message):  # the decoder is spent
        decoder.feed(b"\x81\x00")


def test_frames_before_an_error_are_delivered(codec):
    wire = codec.encode_frame(1, b"first") + codec.encode_frame(9, b"ping") + bytes.fromhex("8300")
    decoder, error = decode_error(codec, wire)
    assert error.frames == [Frame(Opcode.TEXT, b"first"), Frame(Opcode.PING, b"ping")]
    with pytest.raises(ProtocolError) as again:
        decoder.feed(b"")
    assert again.value.frames == []


def test_oversized_frame_fails_before_its_payload_arrives(codec):
    decoder = codec.FrameDecoder(max_frame_size=1000)
    with pytest.raises(PayloadTooBig) as info:
        decoder.feed(bytes.fromhex("827e03e9"))  # a header announcing 1001 bytes, nothing else
    assert info.value.close_code == 1009
    assert str(info.value) == "frame payload of 1001 bytes, more than 1000"
    assert decoder.buffered == 4
    assert codec.FrameDecoder(max_frame_size=1000).feed(codec.encode_frame(2, bytes(1000)))[0].payload == bytes(1000)


def test_message_limit_counts_every_fragment(codec):
    decoder = codec.FrameDecoder(max_message_size=10)
    assert decoder.feed(codec.encode_frame(1, b"123456", fin=False)) == [Frame(Opcode.TEXT, b"123456", fin=False)]
    assert decoder.feed(codec.encode_frame(9, b"control frames do not count"))
    with pytest.raises(PayloadTooBig, match="message of more than 10 bytes"):
        decoder.feed(codec.encode_frame(0, b"12345")[:3])  # fails on the header alone


def test_message_limit_resets_between_messages(codec):
    decoder = codec.FrameDecoder(max_message_size=10)
    wire = b"".join(codec.encode_frame(2, bytes(10)) for _ in range(5))
    assert len(decoder.feed(wire)) == 5


def test_compressed_messages_are_limited_per_frame_only(codec):
    decoder = codec.FrameDecoder(max_message_size=10, max_frame_size=100, allowed_rsv=0b100)
    wire = codec.encode_frame(2, bytes(50), fin=False, rsv1=True) + codec.encode_frame(0, bytes(50))
    assert len(decoder.feed(wire)) == 2
    with pytest.raises(PayloadTooBig):
        decoder.feed(codec.encode_frame(2, bytes(101), rsv1=True))


def fragmented(count: int, *, payload: bytes = b"x", mask: bytes | bool = False) -> bytes:
    """A binary message in ``count`` frames of ``payload`` each."""
    frames_ = [_frames_py.encode_frame(Opcode.BINARY if index == 0 else Opcode.CONTINUATION, payload,
                                       fin=index == count - 1, mask=mask) for index in range(count)]  # fmt: skip
    return b"".join(frames_)


def test_max_fragments_counts_the_frames_of_a_message(codec):
    assert len(codec.FrameDecoder(max_fragments=5).feed(fragmented(5))) == 5
    with pytest.raises(PayloadTooBig, match="message in more than 4 frames") as raised:
        codec.FrameDecoder(max_fragments=4).feed(fragmented(5))
    assert raised.value.close_code == 1009 and len(raised.value.frames) == 4
    # the count starts again with each message, and control frames in between do not count
    ping = _frames_py.encode_frame(Opcode.PING, b"")
    wire = fragmented(3)[:6] + ping + fragmented(3)[6:] + fragmented(3)
    assert len(codec.FrameDecoder(max_fragments=3).feed(wire)) == 7


def test_max_fragments_fails_at_the_header(codec):
    decoder = codec.FrameDecoder(max_fragments=2, max_frame_size=None, max_message_size=None)
    two = (_frames_py.encode_frame(Opcode.BINARY, b"x", fin=False)
           + _frames_py.encode_frame(Opcode.CONTINUATION, b"x", fin=False))  # fmt: skip
    assert len(decoder.feed(two)) == 2
    with pytest.raises(PayloadTooBig):  # the third frame's header is enough, its payload never came
        decoder.feed(_frames_py.encode_frame(Opcode.CONTINUATION, bytes(100_000))[:10])


@pytest.mark.parametrize("mask", [False, KEY])
def test_empty_continuations_are_dropped_on_request_but_counted(codec, mask):
    wire = (_frames_py.encode_frame(Opcode.TEXT, b"a", fin=False, mask=mask)
            + _frames_py.encode_frame(Opcode.CONTINUATION, b"", fin=False, mask=mask) * 50
            + _frames_py.encode_frame(Opcode.CONTINUATION, b"", fin=True, mask=mask))  # fmt: skip
    expect_masked = bool(mask)
    assert len(codec.FrameDecoder(expect_masked=expect_masked).feed(wire)) == 52
    kept = codec.FrameDecoder(expect_masked=expect_masked, drop_empty_continuations=True).feed(wire)
    assert kept == [Frame(Opcode.TEXT, b"a", fin=False), Frame(Opcode.CONTINUATION, b"")]  # the final one stays
    with pytest.raises(PayloadTooBig):
        codec.FrameDecoder(expect_masked=expect_masked, drop_empty_continuations=True, max_fragments=51).feed(wire)
    # one byte at a time, the same
    decoder = codec.FrameDecoder(expect_masked=expect_masked, drop_empty_continuations=True)
    assert [frame for index in range(len(wire)) for frame in decoder.feed(wire[index : index + 1])] == kept


def test_an_empty_continuation_with_an_rsv_bit_is_not_dropped(codec):
    wire = (_frames_py.encode_frame(Opcode.BINARY, b"a", fin=False, rsv1=True)
            + _frames_py.encode_frame(Opcode.CONTINUATION, b"", fin=False, rsv1=True))  # fmt: skip
    decoder = codec.FrameDecoder(allowed_rsv=0b100, drop_empty_continuations=True)
    assert [frame.rsv1 for frame in decoder.feed(wire)] == [True, True]  # the extension rejects it


def test_an_empty_continuation_outside_a_message_is_still_an_error(codec):
    with pytest.raises(ProtocolError, match="continuation frame without a message"):
        codec.FrameDecoder(drop_empty_continuations=True).feed(_frames_py.encode_frame(Opcode.CONTINUATION, b"", fin=False))


def test_unlimited(codec):
    decoder = codec.FrameDecoder(max_frame_size=None, max_message_size=None)
    assert len(decoder.feed(codec.encode_frame(2, bytes(3 << 20)))[0].payload) == 3 << 20


def test_non_buffer_data_is_a_type_error(codec):
    with pytest.raises(TypeError):
        codec.FrameDecoder().feed("text")


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=6),
       masked=st.sampled_from([None, True, False]), rsv=st.integers(0, 7),
       limit=st.sampled_from([None, 0, 5, 130, 1000]))  # fmt: skip
def test_c_and_python_decoders_agree(c_kernels, data, cuts, masked, rsv, limit):
    def run(module):
        decoder = module.FrameDecoder(expect_masked=masked, allowed_rsv=rsv, max_frame_size=limit,
                                      max_message_size=limit)  # fmt: skip
        out = []
        for piece in chunked(data, cuts):
            try:
                out.append(decoder.feed(piece))
            except ProtocolError as error:
                out.append((type(error), str(error), error.close_code, error.frames))
                break
        return out, decoder.buffered

    assert run(c_kernels) == run(_frames_py)


@settings(max_examples=examples(200), deadline=None)
@given(opcode=st.integers(0, 15), payload=st.binary(max_size=70_000), fin=st.booleans(), rsv=st.integers(0, 7),
       key=st.one_of(st.just(False), st.binary(min_size=4, max_size=4)))  # fmt: skip
def test_c_and_python_encoders_agree(c_kernels, opcode, payload, fin, rsv, key):
    options = dict(fin=fin, rsv1=bool(rsv & 4), rsv2=bool(rsv & 2), rsv3=bool(rsv & 1), mask=key)
    assert c_kernels.encode_frame(opcode, payload, **options) == _frames_py.encode_frame(opcode, payload, **options)


def test_public_module_exports_the_chosen_codec():
    from wsfast import _kernels

    assert frames.encode_frame is _kernels.encode_frame
    assert frames.FrameDecoder is _kernels.FrameDecoder
    with pytest.raises(AttributeError):
        frames.no_such_name  # noqa: B018


# ----------------------------------------------------------------------------- close payloads

VALID_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes(code):
    assert frames.is_valid_close_code(code)
    assert parse_close(serialize_close(code, "bye")) == (code, "bye")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes(code):
    assert not frames.is_valid_close_code(code)
    with pytest.raises(ProtocolError) as info:
        parse_close(code.to_bytes(2, "big"))
    assert info.value.close_code == 1002
    with pytest.raises(ValueError):
        serialize_close(code)


def test_close_payload_rules():
    assert parse_close(b"") == (CloseCode.NO_STATUS_RCVD, "")
    with pytest.raises(ProtocolError, match="1-byte"):
        parse_close(b"\x03")
    with pytest.raises(InvalidPayload) as info:
        parse_close(b"\x03\xe8\xff")
    assert info.value.close_code == 1007
    assert parse_close(b"\x03\xe8" + "κόσμε".encode()) == (1000, "κόσμε")
    assert serialize_close(1000, "x" * 123) == b"\x03\xe8" + b"x" * 123
    with pytest.raises(ValueError, match="too long"):
        serialize_close(1000, "x" * 124)


@pytest.mark.parametrize("limit", [2**64, 2**100, 2**63])
def test_huge_limits_mean_no_limit(codec, limit):
    decoder = codec.FrameDecoder(max_frame_size=limit, max_message_size=limit)
    assert decoder.feed(codec.encode_frame(2, bytes(10))) == [Frame(Opcode.BINARY, bytes(10))]


@pytest.mark.parametrize(("limit", "error"), [(-1, ValueError), (1.5, TypeError), ("10", TypeError)])
def test_invalid_limits(codec, limit, error):
    for name in ("max_frame_size", "max_message_size"):
        decoder = codec.FrameDecoder(**{name: limit})
        with pytest.raises(error, match=name):
            decoder.feed(b"")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_masking_keys_are_not_shared_with_a_forked_child():
    from wsfast import _random

    _random.mask_key()  # the parent has a pool now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first key must come from a fresh pool
        os.write(write, _random.mask_key())
        os._exit(0)
    os.close(write)
    child_key = os.read(read, 4)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_key) == 4 and child_key != _random.mask_key()


def test_both_encoders_draw_masking_keys_from_the_one_pool(codec, monkeypatch):
    """The C encoder reads the pool itself rather than calling mask_key: the same keys, in the same
    order, refilled the same way, and a forked child's forgotten pool is forgotten for it too."""
    from wsfast import _random

    pools = []
    monkeypatch.setattr(_random.os, "urandom", lambda size: pools.append(bytes(range(len(pools), len(pools) + 8)) * (size // 8)) or pools[-1])
    monkeypatch.setattr(_random.key_pool, "data", b"")
    monkeypatch.setattr(_random.key_pool, "position", 0)
    payload = b"\x00" * 3
    keys = [codec.encode_frame(Opcode.BINARY, payload, mask=True)[2:6] for _ in range(3)]
    assert keys == [bytes([0, 1, 2, 3]), bytes([4, 5, 6, 7]), bytes([0, 1, 2, 3])] and len(pools) == 1
    assert _random.mask_key() == bytes([4, 5, 6, 7])  # the pool advanced for mask_key too
    _random.key_pool.data, _random.key_pool.position = b"\x09" * 8, 8  # used up: refilled
    assert codec.encode_frame(Opcode.BINARY, payload, mask=True)[2:6] == bytes([1, 2, 3, 4]) and len(pools) == 2
    _random._forget_pool()  # the hook a forked child runs
    assert codec.encode_frame(Opcode.BINARY, payload, mask=True)[2:6] == bytes([2, 3, 4, 5]) and len(pools) == 3


@pytest.mark.parametrize("pool", ["shared", "per_thread"])
def test_a_forgotten_pool_is_never_drawn_from_again(monkeypatch, pool):
    from wsfast import _random

    draw = getattr(_random, f"_{pool}_mask_key")
    draw()  # a pool exists now
    pools = []
    monkeypatch.setattr(_random.os, "urandom", lambda size: pools.append(bytes([len(pools) + 1]) * size) or pools[-1])
    _random._forget_pool()  # the hook a forked child runs
    assert draw() == b"\x01" * 4 and len(pools) == 1


@pytest.mark.parametrize("pool", ["shared", "per_thread"])
def test_threads_never_draw_the_same_masking_key(monkeypatch, pool):
    """Eight threads draw keys at once from pools of distinct 4-byte counters: every key drawn
    is distinct. (The shared pool relies on CPython 3.11+'s GIL; elsewhere it is not used.)"""
    import itertools
    import threading

    from wsfast import _random

    if pool == "shared" and not _random.SHARED_POOL_IS_SAFE:
        pytest.skip("the shared pool serves CPython 3.11+ with the GIL only")
    draw = getattr(_random, f"_{pool}_mask_key")
    counter = itertools.count()
    monkeypatch.setattr(_random.os, "urandom",
                        lambda size: b"".join(next(counter).to_bytes(4, "big") for _ in range(size // 4)))  # fmt: skip
    _random._forget_pool()
    keys: list[list[bytes]] = [[] for _ in range(8)]
    start = threading.Barrier(len(keys))

    def draw_many(mine: list[bytes]) -> None:
        start.wait()
        mine.extend(draw() for _ in range(20000))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=draw_many, args=(mine,)) for mine in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        _random._forget_pool()
    drawn = [key for mine in keys for key in mine]
    assert len(set(drawn)) == len(drawn) == 8 * 20000


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 1 << 20])
@pytest.mark.parametrize("flags", [dict(), dict(fin=False, rsv1=True), dict(rsv2=True, rsv3=True)])
def test_frame_header_is_the_frame_up_to_its_payload(codec, length, flags):
    from wsfast.frames import frame_header

    payload = bytes(length)
    frame = codec.encode_frame(Opcode.BINARY, payload, **flags)
    assert frame_header(Opcode.BINARY, length, **flags) + payload == frame
    key = b"\x01\x02\x03\x04"
    masked = codec.encode_frame(Opcode.BINARY, payload, mask=key, **flags)
    assert frame_header(Opcode.BINARY, length, masked=True, **flags) + key == masked[: len(masked) - length]


def test_frame_header_refuses_what_no_frame_has():
    from wsfast.frames import frame_header

    for opcode, length in [(16, 0), (-1, 0), (1, -1), (1, 1 << 63)]:
        with pytest.raises(ValueError):
            frame_header(opcode, length)


# -------------------------------------------------------------------------- large frames, piecewise
# The C decoder reads a large frame straight into its payload once a quarter of it is in hand; the
# Python twin gathers it in its buffer. Both must give the same frames, errors and ``buffered``.

LARGE = 65536


def _outcome(decoder, chunk):
    try:
        frames_out = [(frame.opcode, frame.payload, frame.fin, frame.rsv1) for frame in decoder.feed(chunk)]
        return frames_out, None, decoder.buffered
    except ProtocolError as error:
        caught = [(frame.opcode, frame.payload, frame.fin, frame.rsv1) for frame in error.frames]
        return caught, (type(error), str(error)), None


@st.composite
def large_streams(draw):
    masked = draw(st.booleans())
    pieces = []
    in_message = False
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.sampled_from([0, 5, LARGE - 1, LARGE, LARGE + 3, 3 * LARGE + 1, 300_000]))
        fin = draw(st.booleans())
        opcode = Opcode.CONTINUATION if in_message else draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
        payload = bytes((index * 7 + size) & 0xFF for index in range(size)) if size < 70_000 else os.urandom(size)
        key = draw(st.binary(min_size=4, max_size=4)) if masked else False
        pieces.append(frames.encode_frame(opcode, payload, fin=fin, mask=key))
        in_message = not fin
        if draw(st.integers(0, 9)) == 0:  # now and then, a frame that breaks a rule
            pieces.append(frames.encode_frame(Opcode.PING, b"", fin=False, mask=key))
    stream = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)])]
    limits = draw(st.sampled_from([(None, None), (200_000, None), (None, 400_000), (LARGE, 2 * LARGE)]))
    return masked, chunks, limits


@pytest.mark.skipif(not C_AVAILABLE, reason="no C decoder to compare")
@settings(max_examples=examples(150), deadline=None)
@given(large_streams())
def test_large_frames_in_pieces_decode_alike_in_c_and_python(stream):
    masked, chunks, (frame_limit, message_limit) = stream
    decoders = [module.FrameDecoder(expect_masked=masked, max_frame_size=frame_limit, max_message_size=message_limit)
                for module in (_frames_py, _kernels_c)]  # fmt: skip
    for chunk in chunks:
        python, c = (_outcome(decoder, chunk) for decoder in decoders)
        assert c == python
        if python[1] is not None:
            break


@pytest.mark.skipif(not C_AVAILABLE, reason="no C decoder to compare")
def test_lowering_a_limit_in_the_middle_of_a_large_frame_fails_it_alike():
    frame = frames.encode_frame(Opcode.BINARY, bytes(300_000), mask=b"abcd")
    decoders = [module.FrameDecoder(expect_masked=True, max_frame_size=None, max_message_size=None)
                for module in (_frames_py, _kernels_c)]  # fmt: skip
    for decoder in decoders:
        assert decoder.feed(frame[:100_000]) == [] and decoder.buffered == 100_000
        decoder.max_frame_size = 200_000
    outcomes = [_outcome(decoder, frame[100_000:200_000]) for decoder in decoders]
    assert outcomes[0][:2] == outcomes[1][:2] and outcomes[0][1][0] is PayloadTooBig


def test_a_large_frame_in_pieces_is_whole_and_unmasked(codec):
    payload = os.urandom(1_000_000)
    wire = codec.encode_frame(Opcode.BINARY, payload, mask=b"\x01\x02\x03\x04") + codec.encode_frame(Opcode.TEXT, b"next", mask=b"wxyz")
    decoder = codec.FrameDecoder(expect_masked=True, max_frame_size=None, max_message_size=None)
    received = []
    for start in range(0, len(wire), 262_144):  # what one read of the asyncio layer brings
        received += decoder.feed(wire[start:start + 262_144])
        if len(received) < 2:
            assert decoder.buffered == min(start + 262_144, len(wire) - 14)
    assert [(frame.opcode, frame.payload) for frame in received] == [(Opcode.BINARY, payload), (Opcode.TEXT, b"next")]
    assert decoder.buffered == 0



def _outcome_read_in_place(decoder, chunk):
    """As _outcome, but what the decoder's read_space() can take of ``chunk`` is written there first
    and fed from there (as the asyncio layer reads into it), the rest fed as it is."""
    space = decoder.read_space()
    if space is None or not chunk:
        return _outcome(decoder, chunk)
    taken = min(len(space), len(chunk))
    space[:taken] = chunk[:taken]
    first = _outcome(decoder, space[:taken])
    if first[1] is not None or taken == len(chunk):
        return first
    rest = _outcome(decoder, chunk[taken:])
    return first[0] + rest[0], rest[1], rest[2]


@pytest.mark.skipif(not C_AVAILABLE, reason="no C decoder to compare")
@settings(max_examples=examples(150), deadline=None)
@given(large_streams())
def test_large_frames_read_into_their_payload_decode_as_the_python_twin_does(stream):
    """The C decoder's read_space(): bytes read straight into a part-received payload give the same
    frames, errors and ``buffered`` as the twin fed the same bytes from anywhere."""
    masked, chunks, (frame_limit, message_limit) = stream
    python, c = [module.FrameDecoder(expect_masked=masked, max_frame_size=frame_limit, max_message_size=message_limit)
                 for module in (_frames_py, _kernels_c)]  # fmt: skip
    for chunk in chunks:
        expected = _outcome(python, chunk)
        assert _outcome_read_in_place(c, chunk) == expected
        if expected[1] is not None:
            break


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_read_space_is_the_missing_part_of_a_large_payload(codec, masked):
    """A large frame with a quarter of it in hand: the C decoder hands out the rest of its payload
    as a writable view (None once complete); the twin gathers in its buffer and hands out None."""
    payload = os.urandom(300_000)
    wire = codec.encode_frame(Opcode.BINARY, payload, mask=b"\x09\x08\x07\x06" if masked else False)
    decoder = codec.FrameDecoder(expect_masked=masked, max_frame_size=None, max_message_size=None)
    head = len(wire) // 3
    assert decoder.feed(wire[:head]) == [] and decoder.buffered == head
    space = decoder.read_space()
    if codec is _frames_py:
        assert space is None
        return
    assert len(space) == len(wire) - head and not space.readonly
    space[:1000] = wire[head:head + 1000]
    assert decoder.feed(space[:1000]) == [] and decoder.buffered == head + 1000
    stale = space
    space = decoder.read_space()
    assert len(space) == len(wire) - head - 1000
    with pytest.raises(RuntimeError, match="after it moved on"):  # a view from before the last feed
        decoder.feed(stale[:10])
    space[:] = wire[head + 1000:]
    [frame] = decoder.feed(space)
    assert (frame.opcode, frame.payload, frame.fin) == (Opcode.BINARY, payload, True)
    assert decoder.read_space() is None and decoder.buffered == 0
    del space, stale  # the views keep the payload alive; nothing else breaks when they go


# ------------------------------------------------------------------------------------ feed_into

def _feed_into_log(decoder, chunks, decode_text=True, raise_on=None, length=None):
    """What feed_into does with ``chunks`` (each read up to ``length`` if given): every delivery
    and every return, in order."""
    log = []

    def deliver(data, final, text):
        log.append(("delivered", data, final, text))
        if raise_on is not None and data == raise_on:
            raise KeyError("from the callback")

    for chunk in chunks:
        try:
            returned = decoder.feed_into(chunk, deliver, decode_text, length)
            log.append(("returned", [(f.opcode, f.payload, f.fin, f.rsv1) for f in returned]))
        except ProtocolError as error:
            log.append(("error", type(error), str(error), [(f.opcode, f.payload) for f in error.frames]))
            break
        except KeyError:
            log.append(("raised", decoder.buffered))
    return log


def test_feed_into_delivers_whole_messages_at_the_front_and_returns_the_rest(codec):
    wire = b"".join([
        codec.encode_frame(Opcode.BINARY, b"one", mask=KEY),
        codec.encode_frame(Opcode.TEXT, "κόσμε".encode(), mask=KEY),
        codec.encode_frame(Opcode.PING, b"p", mask=KEY),
        codec.encode_frame(Opcode.BINARY, b"after the ping", mask=KEY),
    ])  # fmt: skip
    decoder = codec.FrameDecoder(expect_masked=True)
    assert _feed_into_log(decoder, [wire]) == [
        ("delivered", b"one", True, False),
        ("delivered", "κόσμε", True, True),
        ("returned", [(Opcode.PING, b"p", True, False), (Opcode.BINARY, b"after the ping", True, False)]),
    ]


def test_feed_into_returns_fragments_rsv_frames_and_bad_text(codec):
    wire = b"".join([
        codec.encode_frame(Opcode.TEXT, b"\xff", mask=KEY),  # not UTF-8: the caller rejects it
        codec.encode_frame(Opcode.TEXT, b"ok", mask=KEY),
    ])  # fmt: skip
    decoder = codec.FrameDecoder(expect_masked=True)
    assert _feed_into_log(decoder, [wire]) == [
        ("returned", [(Opcode.TEXT, b"\xff", True, False), (Opcode.TEXT, b"ok", True, False)])]
    decoder = codec.FrameDecoder(expect_masked=False, allowed_rsv=4)
    wire = codec.encode_frame(Opcode.BINARY, b"z", rsv1=True) + codec.encode_frame(Opcode.TEXT, b"a", fin=False)
    assert _feed_into_log(decoder, [wire]) == [
        ("returned", [(Opcode.BINARY, b"z", True, True), (Opcode.TEXT, b"a", False, False)])]


def test_feed_into_gives_text_as_checked_bytes_without_decode_text(codec):
    decoder = codec.FrameDecoder(expect_masked=False)
    wire = codec.encode_frame(Opcode.TEXT, "€".encode()) + codec.encode_frame(Opcode.TEXT, b"\xe2\x82")
    assert _feed_into_log(decoder, [wire], decode_text=False) == [
        ("delivered", "€".encode(), True, True), ("returned", [(Opcode.TEXT, b"\xe2\x82", True, False)])]


def test_feed_into_keeps_what_follows_a_callback_that_raised(codec):
    wire = b"".join(codec.encode_frame(Opcode.BINARY, bytes([n]) * 3) for n in range(3))
    decoder = codec.FrameDecoder(expect_masked=False)
    assert _feed_into_log(decoder, [wire], raise_on=b"\x01" * 3) == [
        ("delivered", b"\x00" * 3, True, False), ("delivered", b"\x01" * 3, True, False), ("raised", 5)]
    assert _feed_into_log(decoder, [b""]) == [("delivered", b"\x02" * 3, True, False), ("returned", [])]


def test_feed_into_errors_carry_the_frames_not_delivered(codec):
    wire = codec.encode_frame(Opcode.BINARY, b"a") + codec.encode_frame(Opcode.PONG, b"b") + b"\x83\x00"
    decoder = codec.FrameDecoder(expect_masked=False)
    assert _feed_into_log(decoder, [wire]) == [
        ("delivered", b"a", True, False), ("error", ProtocolError, "reserved opcode 3", [(Opcode.PONG, b"b")])]


def test_feed_into_refuses_to_be_fed_from_its_callback(codec):
    decoder = codec.FrameDecoder(expect_masked=False)

    def deliver(data, final, text):
        decoder.feed(b"")

    with pytest.raises(RuntimeError, match="its own feed_into callback"):
        decoder.feed_into(codec.encode_frame(Opcode.BINARY, b"x"), deliver)
    assert decoder.feed(b"") == []  # and it goes on


@settings(max_examples=examples(200), deadline=None)
@given(frames=st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING]), st.binary(max_size=300)),
                       max_size=5),
       tail=st.binary(max_size=40), cuts=st.lists(st.integers(0, 2000), min_size=1, max_size=4))  # fmt: skip
def test_feed_into_reads_the_first_length_bytes_as_a_slice_of_them(codec, frames, tail, cuts):
    """A read buffer filled in part: feeding it with ``length`` is feeding its first ``length``
    bytes, whether the decoder holds bytes already or not, and the rest of it is never read."""
    wire = b"".join(codec.encode_frame(opcode, payload) for opcode, payload in frames)
    points = sorted({cut % (len(wire) + 1) for cut in cuts})
    pieces = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)])]
    sliced, in_place = codec.FrameDecoder(expect_masked=False), codec.FrameDecoder(expect_masked=False)
    expected, got = _feed_into_log(sliced, pieces), []
    for piece in pieces:
        buffer = bytearray(piece + tail + b"\xff" * 8)  # after the length: bytes that are no frame
        got += _feed_into_log(in_place, [memoryview(buffer)], length=len(piece))
    assert got == expected
    assert in_place.buffered == sliced.buffered


@pytest.mark.parametrize(("length", "error", "message"), [
    (-1, ValueError, "length must not be negative, not -1"),
    (4, ValueError, "length must be at most the 3 bytes of data, not 4"),
    (1 << 70, ValueError, f"length must be at most the 3 bytes of data, not {1 << 70}"),
    ("2", TypeError, "length must be an integer, not str"),
])  # fmt: skip
def test_feed_into_refuses_a_length_it_cannot_read(codec, length, error, message):
    decoder = codec.FrameDecoder(expect_masked=False)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        decoder.feed_into(b"\x82\x01x", lambda *arguments: None, True, length)
    assert decoder.buffered == 0 and decoder.feed(b"\x82\x01x")[0].payload == b"x"  # nothing taken, and it goes on


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=6),
       masked=st.sampled_from([None, True, False]), rsv=st.integers(0, 7), decode_text=st.booleans(),
       limit=st.sampled_from([None, 0, 5, 130, 1000]), raise_at=st.integers(0, 3))  # fmt: skip
def test_c_and_python_feed_into_agree(c_kernels, data, cuts, masked, rsv, decode_text, limit, raise_at):
    def run(module):
        decoder = module.FrameDecoder(expect_masked=masked, allowed_rsv=rsv, max_frame_size=limit,
                                      max_message_size=limit, max_fragments=3)  # fmt: skip
        count = 0

        def deliver(message, final, text):
            nonlocal count
            count += 1
            if count == raise_at:
                raise KeyError(count)
            log.append((message, final, text))

        log = []
        for piece in chunked(data, cuts):
            try:
                log.append([(f.opcode, f.payload, f.fin, f.rsv1) for f in decoder.feed_into(piece, deliver, decode_text)])
            except ProtocolError as error:
                log.append((type(error), str(error), error.close_code, error.frames))
                break
            except KeyError:
                log.append(("raised", decoder.buffered))
        return log, decoder.buffered

    assert run(c_kernels) == run(_frames_py)


# ---------------------------------------------------------------------------------- take_frame


def _header(first: int, length: int, form: str, key: bytes | None) -> bytes:
    mask_bit = 0x80 if key is not None else 0
    if form == "64":
        head = bytes([first, 127 | mask_bit]) + length.to_bytes(8, "big")
    elif form == "16":
        head = bytes([first, 126 | mask_bit]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, length | mask_bit])
    return head + (key or b"")


def test_take_frame_takes_one_whole_frame_out(codec):
    """RFC 6455 §5.7's masked "Hello", then a binary frame; the buffer keeps what follows."""
    buffer = bytearray(bytes.fromhex("818537fa213d7f9f4d5158") + b"\x02\x01z" + b"\x81")
    assert codec.take_frame(buffer, True, None) == (1, True, False, False, False, b"Hello")
    assert buffer == b"\x02\x01z\x81"
    assert codec.take_frame(buffer, True, None) == -1  # the mask bit is not as asked
    taken = codec.take_frame(buffer, False, 1, True)
    assert taken == (2, False, False, False, False, bytearray(b"z")) and type(taken[5]) is bytearray
    assert buffer == b"\x81" and codec.take_frame(buffer, False, None) == 0


@pytest.mark.parametrize("form", ["minimal", "16", "64"])
def test_take_frame_reads_every_length_form(codec, form):
    """Non-minimal encodings are taken as the header says (websockets accepts them)."""
    wire = _header(0x82, 5, form, b"\x01\x02\x03\x04") + bytes(b ^ k for b, k in zip(b"hello", b"\x01\x02\x03\x04\x01"))
    for end in range(len(wire)):  # one byte short anywhere: more is needed, nothing is taken
        partial = bytearray(wire[:end])
        assert codec.take_frame(partial, True, None) == 0 and partial == wire[:end]
    buffer = bytearray(wire)
    assert codec.take_frame(buffer, True, None) == (2, True, False, False, False, b"hello") and buffer == b""


@pytest.mark.parametrize("length", [(1 << 63) - 1, 1 << 63, (1 << 64) - 1])
def test_take_frame_waits_on_huge_lengths_without_a_limit(codec, length):
    buffer = bytearray(_header(0x82, length, "64", None) + bytes(100))
    assert codec.take_frame(buffer, False, None) == 0
    assert codec.take_frame(buffer, False, 1 << 62) == -1
    assert codec.take_frame(buffer, False, 1 << 80) == 0  # a limit beyond any length


def test_take_frame_leaves_what_the_header_refuses(codec):
    for first in (0x83, 0x87, 0x8B, 0x8F):  # undefined opcodes
        assert codec.take_frame(bytearray([first, 0]), False, None) == -1
    assert codec.take_frame(bytearray(b"\x82\x05hello"), False, 4) == -1
    assert codec.take_frame(bytearray(b"\x82\x05hello"), False, 5) == (2, True, False, False, False, b"hello")
    assert codec.take_frame(bytearray(b"\x82\x00"), False, -1) == -1
    assert codec.take_frame(bytearray(b"\x82\x00"), False, 1.5) == -1  # not an int: the caller decides
    assert codec.take_frame(bytearray(b"\xf1\x00"), False, None) == (1, True, True, True, True, b"")
    with pytest.raises(TypeError):
        codec.take_frame(b"\x82\x00", False, None)


@pytest.mark.parametrize(("wire", "taken"), [
    (b"\x82\x00", True), (b"\x89\x00", True), (b"\x82\x7e\x00\x7e" + bytes(126), True),
    (b"\xc2\x00", False), (b"\x92\x00", False), (b"\x82\x7e\x00\x7d" + bytes(125), False),  # RSV1, RSV3, 16-bit 125
    (b"\x82\x7f" + (65535).to_bytes(8, "big") + bytes(65535), False), (b"\x09\x00", False),  # 64-bit 65535, fragmented ping
    (b"\x8a\x7e\x00\x80" + bytes(128), False), (b"\x82\x7f" + (1 << 63).to_bytes(8, "big"), False),
])  # fmt: skip
def test_take_frame_strict_takes_only_frames_with_a_lawful_header(codec, wire, taken):
    """strict: the header rules of RFC 6455 §5.2/§5.5 without extensions (wsproto's, at header time)."""
    assert type(codec.take_frame(bytearray(wire), False, None)) is tuple or wire.startswith(b"\x82\x7f\x80")
    result = codec.take_frame(bytearray(wire), False, None, False, True)
    assert (type(result) is tuple) if taken else result == -1


@settings(max_examples=examples(500), deadline=None)
@given(data=st.binary(max_size=300), masked=st.booleans(), limit=st.sampled_from([None, 0, 3, 126, 1 << 70, -2]),
       as_bytearray=st.booleans(), strict=st.booleans())  # fmt: skip
def test_c_and_python_take_frame_agree(c_kernels, data, masked, limit, as_bytearray, strict):
    def run(module):
        buffer, seen = bytearray(data), []
        while True:
            taken = module.take_frame(buffer, masked, limit, as_bytearray, strict)
            seen.append(taken if type(taken) is int else (*taken, type(taken[5])))
            if type(taken) is int:
                return seen, bytes(buffer)

    assert run(c_kernels) == run(_frames_py)


# ---------------------------------------------------------------------------------- PayloadFill


def test_payload_fill_takes_pieces_until_the_payload_is_whole(codec):
    key = b"\x37\xfa\x21\x3d"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(b"Hello, world"))
    fill = codec.PayloadFill(12, key)
    first = bytearray(masked[:5])
    assert fill.take(first) is None and first == b"" and fill.received == 5
    rest = bytearray(masked[5:] + b"\x81\x00")  # the next frame's bytes stay
    assert fill.take(rest) == b"Hello, world" and rest == b"\x81\x00"
    with pytest.raises(ValueError, match="returned already"):
        fill.take(bytearray(b"x"))
    plain = codec.PayloadFill(3, None, True)
    payload = plain.take(bytearray(b"abcdef"))
    assert payload == b"abc" and type(payload) is bytearray
    assert codec.PayloadFill(0).take(bytearray()) == b""
    with pytest.raises(ValueError):
        codec.PayloadFill(-1)
    with pytest.raises(ValueError):
        codec.PayloadFill(4, b"abc")
    with pytest.raises(TypeError):
        codec.PayloadFill(4).take(b"abcd")


def test_payload_fill_copies_from_any_buffer_left_as_it_is(codec):
    key = b"\x37\xfa\x21\x3d"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(b"Hello, world"))
    fill = codec.PayloadFill(12, key)
    first = bytearray(masked[:5])
    assert fill.fill_from(first) == 5 and first == masked[:5] and fill.received == 5
    rest = masked[5:] + b"\x81\x00"
    assert fill.fill_from(memoryview(rest)[::1]) == 7 and fill.received == 12
    assert fill.fill_from(b"more") == 0  # whole: nothing more is taken ...
    after = bytearray(b"\x81\x00")
    assert fill.take(after) == b"Hello, world" and after == b"\x81\x00"  # ... until take hands it out
    with pytest.raises(ValueError, match="returned already"):
        fill.fill_from(b"x")
    spaced = codec.PayloadFill(3)
    assert spaced.fill_from(memoryview(b"a-b-c-")[::2]) == 3  # not contiguous: read as its bytes
    assert spaced.take(bytearray()) == b"abc"
    for wrong in ("abc", 3, None):
        with pytest.raises(TypeError):
            codec.PayloadFill(4).fill_from(wrong)


def test_payload_fill_leaves_no_export_of_what_it_copied_from(codec):
    """fill_from's caller may resize its bytearray right after, also when a tracer keeps the
    call's frames alive."""
    data, fill = bytearray(b"abcdef"), codec.PayloadFill(4)
    with frames_kept_alive():
        taken = fill.fill_from(data)
    del data[:taken]  # BufferError while an export outlives the call
    assert data == b"ef" and fill.take(bytearray()) == b"abcd"


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=3000), length=st.integers(0, 3000), key=st.none() | st.binary(min_size=4, max_size=4),
       cuts=st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(["take", "fill_from"])), max_size=6),
       as_bytearray=st.booleans())  # fmt: skip
def test_c_and_python_payload_fill_agree(c_kernels, data, length, key, cuts, as_bytearray):
    """Pieces moved with take and copied with fill_from, in any mix, make the same payload."""
    ways = [way for _, way in cuts] + ["take"]

    def run(module):
        fill, seen = module.PayloadFill(length, key, as_bytearray), []
        for piece, way in zip(chunked(data, [cut for cut, _ in cuts]), ways):
            if way == "fill_from":
                seen.append((fill.received, fill.fill_from(piece)))
                continue
            buffer = bytearray(piece)
            payload = fill.take(buffer)
            seen.append((fill.received, bytes(buffer), payload, type(payload)))
            if payload is not None:
                return seen
        payload = fill.take(bytearray())  # what fill_from filled is handed out by take
        return [*seen, (fill.received, payload, type(payload))]

    assert run(c_kernels) == run(_frames_py)
