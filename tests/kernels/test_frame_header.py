"""parse_frame_header (RFC 6455 §5.2), on the pure-Python twin and on the C kernels at every SIMD level.

The twin (``wsfast._kernels_py``) is the reference: the differential tests at the end require the C
kernels to return the same value, or raise the same exception class with the same message, for any
input.
"""

from __future__ import annotations

import array
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsfast import _kernels_py
from wsfast.exceptions import InvalidHTTP, ProtocolError, WsfastError

from tests.support import examples, frames_kept_alive

MSB_MESSAGE = "payload length has the most significant bit set"
MAX_LENGTH = 2**63 - 1

# Hypothesis budget: each property runs once per implementation (Python + each SIMD level), so keep
# the counts modest; no deadline, since timing on a shared 2-core machine is not a test criterion.
PROPERTY = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIFFERENTIAL = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------- helpers


def encode_header(
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    opcode: int,
    key: bytes | None,
    length: int,
) -> bytes:
    """A frame header with the minimal length encoding (RFC 6455 §5.2), independent of the kernels."""
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    mask_bit = 0x80 if key is not None else 0
    if length <= 125:
        header = bytes([first, mask_bit | length])
    elif length <= 0xFFFF:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    return header + (key or b"")


def check_types(result: Any) -> None:
    """The exact result types, the same in both implementations."""
    assert type(result) is tuple and len(result) == 9
    fin, rsv1, rsv2, rsv3, opcode, masked, length, key, header_length = result
    for flag in (fin, rsv1, rsv2, rsv3, masked):
        assert type(flag) is bool
    assert type(opcode) is int
    assert type(length) is int
    assert type(header_length) is int
    if masked:
        assert type(key) is bytes and len(key) == 4
    else:
        assert key is None


def unmask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple:
    """The value, or the exception's class, message and close code; type-exact (True != 1 here)."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any difference matters
        return ("raised", type(error), str(error), getattr(error, "close_code", None))
    return ("returned", repr(value), value)


# ------------------------------------------------------------------------------------- RFC 6455 §5.7

KEY = bytes.fromhex("37fa213d")

# (name, wire bytes, expected result, payload)
RFC_EXAMPLES = [
    (
        "unmasked-hello",
        bytes.fromhex("810548656c6c6f"),
        (True, False, False, False, 0x1, False, 5, None, 2),
        b"Hello",
    ),
    (
        "masked-hello",
        bytes.fromhex("818537fa213d7f9f4d5158"),
        (True, False, False, False, 0x1, True, 5, KEY, 6),
        b"Hello",
    ),
    (
        "fragment-1-hel",
        bytes.fromhex("010348656c"),
        (False, False, False, False, 0x1, False, 3, None, 2),
        b"Hel",
    ),
    (
        "fragment-2-lo",
        bytes.fromhex("80026c6f"),
        (True, False, False, False, 0x0, False, 2, None, 2),
        b"lo",
    ),
    (
        "unmasked-ping",
        bytes.fromhex("890548656c6c6f"),
        (True, False, False, False, 0x9, False, 5, None, 2),
        b"Hello",
    ),
    (
        "masked-pong",
        bytes.fromhex("8a8537fa213d7f9f4d5158"),
        (True, False, False, False, 0xA, True, 5, KEY, 6),
        b"Hello",
    ),
    (
        "binary-256",
        bytes.fromhex("827e0100") + bytes(range(256)),
        (True, False, False, False, 0x2, False, 256, None, 4),
        bytes(range(256)),
    ),
    (
        "binary-64k",
        bytes.fromhex("827f0000000000010000") + b"\xa5" * 65536,
        (True, False, False, False, 0x2, False, 65536, None, 10),
        b"\xa5" * 65536,
    ),
]
RFC_IDS = [name for name, *_ in RFC_EXAMPLES]


@pytest.mark.parametrize(("name", "wire", "expected", "payload"), RFC_EXAMPLES, ids=RFC_IDS)
def test_rfc6455_examples(kernels, name, wire, expected, payload):
    result = kernels.parse_frame_header(wire)
    check_types(result)
    assert result == expected
    assert repr(result) == repr(expected)  # type-exact: bool fields are bools, not 0/1
    header_length = result[8]
    body = wire[header_length : header_length + result[6]]
    assert (unmask(body, result[7]) if result[5] else body) == payload
    # the payload itself never changes the header
    assert kernels.parse_frame_header(wire[:header_length]) == expected


@pytest.mark.parametrize(("name", "wire", "expected", "payload"), RFC_EXAMPLES, ids=RFC_IDS)
def test_rfc6455_examples_identical_in_both_implementations(kernels, name, wire, expected, payload):
    reference = _kernels_py.parse_frame_header(wire)
    result = kernels.parse_frame_header(wire)
    assert repr(result) == repr(reference)
    assert [type(field) for field in result] == [type(field) for field in reference]


@pytest.mark.parametrize(("name", "wire", "expected", "payload"), RFC_EXAMPLES, ids=RFC_IDS)
def test_every_strict_prefix_needs_more(kernels, name, wire, expected, payload):
    header_length = expected[8]
    for size in range(header_length):
        assert kernels.parse_frame_header(wire[:size]) is None, size
        assert kernels.parse_frame_header(bytearray(wire[:size])) is None, size
    assert kernels.parse_frame_header(wire[:header_length]) == expected


def test_all_opcodes_and_flag_bits(kernels):
    for first in range(256):
        result = kernels.parse_frame_header(bytes([first, 0x00]))
        check_types(result)
        assert result == (
            bool(first & 0x80),
            bool(first & 0x40),
            bool(first & 0x20),
            bool(first & 0x10),
            first & 0x0F,
            False,
            0,
            None,
            2,
        )


def test_short_length_boundaries(kernels):
    assert kernels.parse_frame_header(b"\x82\x7d")[6] == 125
    assert kernels.parse_frame_header(b"\x82\x7e\x00\x7e")[6:] == (126, None, 4)
    assert kernels.parse_frame_header(b"\x82\x7e\xff\xff")[6:] == (65535, None, 4)
    assert kernels.parse_frame_header(b"\x82\x7f" + (65536).to_bytes(8, "big"))[6:] == (65536, None, 10)
    assert kernels.parse_frame_header(b"\x82\xfe\xff\xff" + KEY)[6:] == (65535, KEY, 8)
    assert kernels.parse_frame_header(b"\x82\xff" + (2**32).to_bytes(8, "big") + KEY)[6:] == (
        2**32,
        KEY,
        14,
    )


def test_non_minimal_length_encodings_are_reported_as_sent(kernels):
    # The kernel only parses; the MSB rule is the one length check it makes (see its docstring).
    assert kernels.parse_frame_header(b"\x82\x7e\x00\x05")[6:] == (5, None, 4)
    assert kernels.parse_frame_header(b"\x82\x7f" + (5).to_bytes(8, "big"))[6:] == (5, None, 10)


# ------------------------------------------------------------------------------------- offset


def test_the_buffer_can_be_resized_right_after_even_if_the_call_s_frames_live_on(kernels):
    """A parser resizes its bytearray right after reading a header from it. A tracer (or a
    traceback) that keeps the call's frames alive must not keep the bytearray exported."""
    buffer = bytearray(b"\x82\x83\x01\x02\x03\x04abc")
    with frames_kept_alive():
        header = kernels.parse_frame_header(buffer)
    assert header is not None and header[8] == 6
    del buffer[: header[8]]  # BufferError while an export outlives the call
    assert buffer == b"abc"


def test_offset_in_the_middle_of_a_buffer(kernels):
    first = bytes.fromhex("810548656c6c6f")
    second = bytes.fromhex("8a8537fa213d7f9f4d5158")
    stream = b"junk" + first + second
    assert kernels.parse_frame_header(stream, 4) == (True, False, False, False, 1, False, 5, None, 2)
    assert kernels.parse_frame_header(stream, 4 + len(first)) == (
        True, False, False, False, 0xA, True, 5, KEY, 6,
    )  # fmt: skip
    assert kernels.parse_frame_header(stream, offset=4 + len(first)) == kernels.parse_frame_header(second)
    # a header cut short by the end of the buffer, seen from an offset
    for end in range(4 + len(first), 4 + len(first) + 6):
        assert kernels.parse_frame_header(stream[:end], 4 + len(first)) is None


def test_offset_at_and_near_the_end(kernels):
    data = bytes.fromhex("810548656c6c6f")
    assert kernels.parse_frame_header(data, len(data)) is None
    assert kernels.parse_frame_header(data, len(data) - 1) is None
    assert kernels.parse_frame_header(b"", 0) is None
    assert kernels.parse_frame_header(b"") is None
    assert kernels.parse_frame_header(b"\x81") is None


@pytest.mark.parametrize("offset", [-1, -2**70, 8, 9, 2**31, 2**63, 2**70])
def test_offset_out_of_range(kernels, offset):
    data = bytes.fromhex("810548656c6c6f")  # 7 bytes: offsets 0 to 7 are valid
    with pytest.raises(ValueError):
        kernels.parse_frame_header(data, offset)
    with pytest.raises(ValueError):
        kernels.parse_frame_header(bytearray(data), offset)
    with pytest.raises(ValueError):
        kernels.parse_frame_header(memoryview(data), offset)


def test_offset_out_of_range_on_an_empty_buffer(kernels):
    with pytest.raises(ValueError):
        kernels.parse_frame_header(b"", 1)
    with pytest.raises(ValueError):
        kernels.parse_frame_header(b"", -1)


@pytest.mark.parametrize("offset", [1.0, 0.0, "1", None, b"\x01", [1]])
def test_offset_not_an_integer(kernels, offset):
    with pytest.raises(TypeError):
        kernels.parse_frame_header(bytes.fromhex("810548656c6c6f"), offset)
    with pytest.raises(TypeError):
        kernels.parse_frame_header(bytearray.fromhex("810548656c6c6f"), offset)


def test_offset_with_index_method(kernels):
    class Position:
        def __index__(self) -> int:
            return 2

    data = b"\x00\x00\x81\x05Hello"
    assert kernels.parse_frame_header(data, Position()) == (True, False, False, False, 1, False, 5, None, 2)


# ------------------------------------------------------------------------------------- buffer types


@pytest.mark.parametrize("bad", ["\x81\x05", 0x8105, None, 1.5, [0x81, 0x05], object()])
def test_not_a_buffer(kernels, bad):
    with pytest.raises(TypeError):
        kernels.parse_frame_header(bad)
    with pytest.raises(TypeError):
        kernels.parse_frame_header(bad, 0)


def _buffer_variants(wire: bytes) -> list[tuple[str, Any]]:
    spread = bytearray(2 * len(wire))
    spread[::2] = wire  # the header on the even bytes, junk (0xEE) on the odd ones
    spread[1::2] = b"\xee" * len(wire)
    halfwords = array.array("H")
    halfwords.frombytes(wire + b"\x00" * (len(wire) % 2))
    return [
        ("bytes", wire),
        ("bytearray", bytearray(wire)),
        ("memoryview", memoryview(wire)),
        ("readonly-memoryview-of-bytearray", memoryview(bytearray(wire)).toreadonly()),
        ("memoryview-slice", memoryview(b"xx" + wire + b"yy")[2:-2]),
        ("non-contiguous-memoryview", memoryview(bytes(spread))[::2]),
        ("non-contiguous-writable-memoryview", memoryview(spread)[::2]),
        ("array-B", array.array("B", wire)),
        ("array-H", halfwords),
        ("2d-memoryview", memoryview(wire + b"\x00" * (len(wire) % 2)).cast("B", (2, (len(wire) + 1) // 2))),
    ]


@pytest.mark.parametrize(
    ("name", "wire", "expected", "payload"),
    [example for example in RFC_EXAMPLES if len(example[1]) < 1000],
    ids=[example[0] for example in RFC_EXAMPLES if len(example[1]) < 1000],
)
def test_buffer_types(kernels, name, wire, expected, payload):
    for variant, buffer in _buffer_variants(wire):
        result = kernels.parse_frame_header(buffer)
        check_types(result)
        assert result == expected, variant
        assert kernels.parse_frame_header(buffer, 0) == expected, variant


def test_buffer_types_with_offset(kernels):
    wire = b"\x00\x00\x00" + bytes.fromhex("818537fa213d7f9f4d5158")
    expected = (True, False, False, False, 1, True, 5, KEY, 6)
    for variant, buffer in _buffer_variants(wire):
        assert kernels.parse_frame_header(buffer, 3) == expected, variant


def test_buffer_types_prefixes(kernels):
    wire = bytes.fromhex("82ff000000000001000037fa213d")
    for size in range(len(wire)):
        spread = bytearray(2 * size)
        spread[::2] = wire[:size]
        assert kernels.parse_frame_header(memoryview(spread)[::2]) is None
        assert kernels.parse_frame_header(array.array("B", wire[:size])) is None
        assert kernels.parse_frame_header(memoryview(wire)[:size]) is None


def test_buffer_is_not_modified(kernels):
    data = bytearray.fromhex("818537fa213d7f9f4d5158")
    before = bytes(data)
    kernels.parse_frame_header(data)
    assert data == before


# ------------------------------------------------------------------------------------- 64-bit MSB


@pytest.mark.parametrize(
    "length_bytes",
    [
        bytes.fromhex("8000000000000000"),
        bytes.fromhex("8000000000000001"),
        bytes.fromhex("ffffffffffffffff"),
        bytes.fromhex("c000000000000000"),
    ],
)
@pytest.mark.parametrize("second", [0x7F, 0xFF], ids=["unmasked", "masked"])
def test_length_with_most_significant_bit_set(kernels, length_bytes, second):
    wire = bytes([0x82, second]) + length_bytes
    # raised as soon as the 8 length bytes are there, without waiting for the mask key
    for tail in (b"", KEY[:1], KEY[:3], KEY, KEY + b"payload"):
        with pytest.raises(ProtocolError) as raised:
            kernels.parse_frame_header(wire + tail)
        assert type(raised.value) is ProtocolError
        assert not isinstance(raised.value, InvalidHTTP)
        assert isinstance(raised.value, WsfastError)
        assert str(raised.value) == MSB_MESSAGE
        assert raised.value.close_code == 1002
    # ... but not before
    for size in range(len(wire)):
        assert kernels.parse_frame_header(wire[:size]) is None


def test_length_with_most_significant_bit_set_at_an_offset(kernels):
    wire = b"\x81\x05Hello" + bytes.fromhex("82ff8000000000000000")
    assert kernels.parse_frame_header(wire, 0)[6] == 5
    with pytest.raises(ProtocolError, match="most significant bit"):
        kernels.parse_frame_header(wire, 7)
    with pytest.raises(ProtocolError, match="most significant bit"):
        kernels.parse_frame_header(bytearray(wire), 7)
    spread = bytearray(2 * len(wire))
    spread[::2] = wire
    with pytest.raises(ProtocolError, match="most significant bit"):
        kernels.parse_frame_header(memoryview(spread)[::2], 7)
    assert kernels.parse_frame_header(wire[:16], 7) is None


def test_largest_length_is_accepted(kernels):
    for second, tail, header_length in ((0x7F, b"", 10), (0xFF, KEY, 14)):
        wire = bytes([0x82, second]) + MAX_LENGTH.to_bytes(8, "big") + tail
        result = kernels.parse_frame_header(wire)
        check_types(result)
        assert result[6] == MAX_LENGTH
        assert result[7] == (tail or None)
        assert result[8] == header_length
        if tail:
            assert kernels.parse_frame_header(wire[:-1]) is None


# ------------------------------------------------------------------------------------- properties

boundary_lengths = st.sampled_from(
    [0, 1, 124, 125, 126, 127, 128, 255, 256, 65534, 65535, 65536, 65537, 2**32 - 1, 2**32,
     2**62, MAX_LENGTH - 1, MAX_LENGTH]
)  # fmt: skip
lengths = st.one_of(
    boundary_lengths,
    st.integers(0, 125),
    st.integers(120, 131),
    st.integers(65530, 65541),
    st.integers(0, MAX_LENGTH),
)
keys = st.one_of(st.none(), st.binary(min_size=4, max_size=4))


@PROPERTY
@given(
    fin=st.booleans(),
    rsv1=st.booleans(),
    rsv2=st.booleans(),
    rsv3=st.booleans(),
    opcode=st.integers(0, 15),
    key=keys,
    length=lengths,
    prefix=st.binary(max_size=6),
    suffix=st.binary(max_size=6),
)
@example(fin=True, rsv1=False, rsv2=False, rsv3=False, opcode=1, key=None, length=125, prefix=b"", suffix=b"")
@example(fin=True, rsv1=False, rsv2=False, rsv3=False, opcode=2, key=KEY, length=126, prefix=b"", suffix=b"")
@example(fin=False, rsv1=True, rsv2=True, rsv3=True, opcode=15, key=None, length=65535, prefix=b"", suffix=b"")
@example(fin=True, rsv1=False, rsv2=False, rsv3=False, opcode=0, key=b"\0\0\0\0", length=65536, prefix=b"", suffix=b"")
@example(fin=True, rsv1=False, rsv2=False, rsv3=False, opcode=8, key=KEY, length=MAX_LENGTH, prefix=b"", suffix=b"")
def test_encoded_header_parses_back(kernels, fin, rsv1, rsv2, rsv3, opcode, key, length, prefix, suffix):
    header = encode_header(fin, rsv1, rsv2, rsv3, opcode, key, length)
    expected = (fin, rsv1, rsv2, rsv3, opcode, key is not None, length, key, len(header))
    result = kernels.parse_frame_header(header)
    check_types(result)
    assert result == expected
    assert repr(result) == repr(expected)
    # trailing bytes (payload) are ignored, and an offset skips leading ones
    assert kernels.parse_frame_header(prefix + header + suffix, len(prefix)) == expected
    assert kernels.parse_frame_header(bytearray(prefix + header + suffix), len(prefix)) == expected
    # every strict prefix needs more
    for size in range(len(header)):
        assert kernels.parse_frame_header(prefix + header[:size], len(prefix)) is None


# ------------------------------------------------------------------------------------- differential

header_like = st.builds(
    lambda first, second, rest: bytes([first, second]) + rest,
    st.integers(0, 255),
    st.sampled_from([0x00, 0x05, 0x7D, 0x7E, 0x7F, 0x80, 0x85, 0xFD, 0xFE, 0xFF]) | st.integers(0, 255),
    st.binary(max_size=16),
)
msb_like = st.builds(
    lambda second, top, rest: bytes([0x82, second, top]) + rest,
    st.sampled_from([0x7F, 0xFF]),
    st.integers(0, 255),
    st.binary(max_size=12),
)
any_bytes = st.one_of(st.binary(max_size=24), header_like, msb_like)


@DIFFERENTIAL
@given(data=any_bytes, leading=st.binary(max_size=4), offset_shift=st.integers(-3, 3), plain=st.booleans())
@example(data=bytes.fromhex("82ff8000000000000000"), leading=b"", offset_shift=0, plain=False)
@example(data=bytes.fromhex("82ff7fffffffffffffff37fa21"), leading=b"", offset_shift=0, plain=False)
@example(data=b"", leading=b"", offset_shift=1, plain=False)
@example(data=b"", leading=b"", offset_shift=-1, plain=False)
def test_c_matches_python(c_kernels, data, leading, offset_shift, plain):
    buffer = leading + data
    # mostly right at the header; a shift can land before the start or past the end
    offset = len(leading) + offset_shift
    for candidate in (buffer, bytearray(buffer), memoryview(buffer)):
        if plain and not leading:
            expected = outcome(_kernels_py.parse_frame_header, candidate)
            assert outcome(c_kernels.parse_frame_header, candidate) == expected
        expected = outcome(_kernels_py.parse_frame_header, candidate, offset)
        assert outcome(c_kernels.parse_frame_header, candidate, offset) == expected


@DIFFERENTIAL
@given(data=st.binary(max_size=20), offset=st.integers(-(2**65), 2**65) | st.integers(-2, 22))
def test_c_matches_python_any_offset(c_kernels, data, offset):
    expected = outcome(_kernels_py.parse_frame_header, data, offset)
    assert outcome(c_kernels.parse_frame_header, data, offset) == expected
