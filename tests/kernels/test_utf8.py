"""UTF-8 validation on every implementation, against CPython's strict decoder as the oracle.

For streaming, the first offending byte is found by an oracle independent of the kernels: the
shortest prefix that no continuation bytes can complete into text CPython's decoder accepts.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast import _kernels_py

from tests.support import examples


def is_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Continuation bytes at the edges of every range a second byte can be restricted to.
_EDGE_CONTINUATIONS = (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)


def is_possible_prefix(data: bytes) -> bool:
    """True if some continuation bytes can complete ``data`` into valid UTF-8."""
    if is_valid(data):
        return True
    for extra in (1, 2, 3):
        for tail in itertools.product(_EDGE_CONTINUATIONS, repeat=extra):
            if is_valid(data + bytes(tail)):
                return True
    return False


def first_offending_byte(data: bytes) -> int | None:
    """Index of the first byte after which ``data`` cannot be valid UTF-8 (None if it can)."""
    if is_possible_prefix(data):
        return None
    low, high = 0, len(data) - 1  # the prefix data[:high + 1] is impossible
    while low < high:
        middle = (low + high) // 2
        if is_possible_prefix(data[: middle + 1]):
            low = middle + 1
        else:
            high = middle
    return low


def unfinished_sequence_start(data: bytes) -> int:
    """For valid text cut mid-sequence: where the last sequence began."""
    index = len(data) - 1
    while data[index] & 0xC0 == 0x80:
        index -= 1
    return index


def expected_error_offset(data: bytes) -> int | None:
    offending = first_offending_byte(data)
    if offending is not None:
        return offending
    return None if is_valid(data) else unfinished_sequence_start(data)


# The classic stress corpus: each entry is invalid on its own.
INVALID = {
    "lone continuation": b"\x80",
    "continuation run": b"\x80\xbf\x80\xbf",
    "C0 overlong slash": b"\xc0\xaf",
    "C1 overlong": b"\xc1\xbf",
    "3-byte overlong slash": b"\xe0\x80\xaf",
    "4-byte overlong slash": b"\xf0\x80\x80\xaf",
    "max 2-byte overlong": b"\xc1\xbf",
    "max 3-byte overlong": b"\xe0\x9f\xbf",
    "max 4-byte overlong": b"\xf0\x8f\xbf\xbf",
    "overlong NUL 2": b"\xc0\x80",
    "overlong NUL 3": b"\xe0\x80\x80",
    "overlong NUL 4": b"\xf0\x80\x80\x80",
    "surrogate D800": b"\xed\xa0\x80",
    "surrogate DB7F": b"\xed\xad\xbf",
    "surrogate DC00": b"\xed\xb0\x80",
    "surrogate DFFF": b"\xed\xbf\xbf",
    "paired surrogates": b"\xed\xa0\x80\xed\xb0\x80",
    "U+110000": b"\xf4\x90\x80\x80",
    "F5 lead": b"\xf5\x80\x80\x80",
    "F7 max 4-byte form": b"\xf7\xbf\xbf\xbf",
    "5-byte form": b"\xf8\x88\x80\x80\x80",
    "6-byte form": b"\xfc\x84\x80\x80\x80\x80",
    "FE": b"\xfe",
    "FF": b"\xff",
    "lead then ASCII": b"\xc3(",
    "3-byte lead then ASCII": b"\xe2\x82(",
    "truncated 2": b"\xc3",
    "truncated 3": b"\xe2\x82",
    "truncated 4": b"\xf0\x9f\x98",
    "valid then stray": "é".encode() + b"\xbf",
}
INVALID.update({f"byte {b:02X}": bytes([b]) for b in [0xC0, 0xC1, *range(0xF5, 0x100)]})

VALID = {
    "empty": b"",
    "ascii": b"Hello, world",
    "2-byte": "é".encode(),
    "3-byte": "€".encode(),
    "4-byte": "😀".encode(),
    "U+0080": "\u0080".encode(),
    "U+07FF": "\u07ff".encode(),
    "U+0800": "\u0800".encode(),
    "U+D7FF": "\ud7ff".encode(),
    "U+E000": "\ue000".encode(),
    "U+FFFE noncharacter": b"\xef\xbf\xbe",
    "U+FFFF noncharacter": b"\xef\xbf\xbf",
    "U+10000": "\U00010000".encode(),
    "U+10FFFF": b"\xf4\x8f\xbf\xbf",
    "NUL": b"\x00",
    "mixed": "κόσμε Привет 世界 😀 ok".encode(),
}

SAMPLE_TEXT = "Hello κόσμε Привет мир 日本語のテキスト 한국어 😀🎉 𝄞 ".encode()


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_stress_corpus_invalid(kernels, data):
    assert not is_valid(data)
    assert kernels.validate_utf8(data) is False
    # the same bytes in the middle of long valid text, across a 64-byte block boundary
    for padding in (0, 1, 30, 61, 62, 63, 64, 65, 127):
        embedded = b"a" * padding + data + b"z" * 100
        assert kernels.validate_utf8(embedded) is False, padding


@pytest.mark.parametrize("data", VALID.values(), ids=VALID.keys())
def test_stress_corpus_valid(kernels, data):
    assert kernels.validate_utf8(data) is True
    for padding in (0, 1, 61, 62, 63, 64, 65):
        assert kernels.validate_utf8(b"a" * padding + data + SAMPLE_TEXT) is True


def test_every_truncation_of_every_sequence(kernels):
    for char in ["é", "€", "😀", "\U0010ffff", "\u0800", "\ud7ff", "\U00010000"]:
        encoded = char.encode()
        for cut in range(1, len(encoded)):
            for prefix in (b"", b"x" * 63, b"x" * 64):
                data = prefix + encoded[:cut]
                assert kernels.validate_utf8(data) is False
                assert kernels.validate_utf8(data + b"!") is False
                validator = kernels.Utf8Validator()
                assert validator.feed(data) is True  # still a possible prefix
                assert validator.finish() is False
                assert validator.error_offset == len(prefix)


@settings(max_examples=examples(400), deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_match_decoder(kernels, data):
    assert kernels.validate_utf8(data) is is_valid(data)


@settings(max_examples=examples(300), deadline=None)
@given(text=st.text(max_size=300))
def test_random_text_is_valid(kernels, text):
    data = text.encode("utf-8", "surrogatepass")
    assert kernels.validate_utf8(data) is is_valid(data)


@settings(max_examples=examples(300), deadline=None)
@given(text=st.text(min_size=1, max_size=200), position=st.integers(0), byte=st.integers(0, 255),
       size=st.sampled_from([0, 300, 4096 - 3, 4096, 4096 + 5]))  # fmt: skip
def test_one_corrupted_byte(kernels, text, position, byte, size):
    data = bytearray((SAMPLE_TEXT * (size // len(SAMPLE_TEXT) + 1))[:size] + text.encode("utf-8", "replace"))
    data[position % len(data)] = byte
    assert kernels.validate_utf8(bytes(data)) is is_valid(bytes(data))


@pytest.mark.parametrize("size", [1 << 20, (1 << 20) + 1])
def test_large_inputs(kernels, size):
    data = (SAMPLE_TEXT * (size // len(SAMPLE_TEXT) + 1))[:size]
    assert kernels.validate_utf8(data) is is_valid(data)
    whole = (SAMPLE_TEXT * (size // len(SAMPLE_TEXT) + 1))
    assert kernels.validate_utf8(whole) is True
    corrupted = bytearray(whole)
    corrupted[len(corrupted) - 10] = 0xFF
    assert kernels.validate_utf8(corrupted) is False
    assert kernels.validate_utf8(memoryview(corrupted)) is False


def test_buffer_types(kernels):
    data = "Grüße".encode()
    for source in (data, bytearray(data), memoryview(data)):
        assert kernels.validate_utf8(source) is True
    strided = memoryview(b"\xc3x\xa9y")[::2]  # the bytes c3 a9: "é"
    assert kernels.validate_utf8(strided) is True
    assert kernels.validate_utf8(memoryview(b"\xc3x\xa9y")) is False


def test_a_one_byte_view_with_a_stride(kernels):
    # One item with a stride of 2 counts as contiguous, but its empty slices do not: the twin
    # used to slice it and raise BufferError (found by the wsaccel differential test).
    lead = memoryview(b"\xc3x")[::2]  # the first byte of "é"
    assert kernels.validate_utf8(lead) is False
    validator = kernels.Utf8Validator()
    assert validator.feed(lead) is True
    assert validator.feed(memoryview(b"\xa9x")[::2]) is True
    assert validator.finish() is True


@pytest.mark.parametrize("data", ["text", 5, None, ["a"]])
def test_non_buffers_are_type_errors(kernels, data):
    with pytest.raises(TypeError):
        kernels.validate_utf8(data)
    with pytest.raises(TypeError):
        kernels.Utf8Validator().feed(data)


# -------------------------------------------------------------------------------- streaming


def feed_in_pieces(kernels, data: bytes, cuts: list[int]):
    validator = kernels.Utf8Validator()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    verdicts = [validator.feed(data[start:end]) for start, end in zip(bounds, bounds[1:])]
    return validator, bounds, verdicts


@settings(max_examples=examples(300), deadline=None)
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode)),
       cuts=st.lists(st.integers(0, 200), max_size=10))  # fmt: skip
def test_streaming_matches_oracle(kernels, data, cuts):
    validator, bounds, verdicts = feed_in_pieces(kernels, data, cuts)
    offending = first_offending_byte(data)
    # fail fast: every piece before the one holding the offending byte passes, that one fails
    for (start, end), verdict in zip(zip(bounds, bounds[1:]), verdicts):
        assert verdict is (offending is None or offending >= end)
    assert validator.finish() is is_valid(data)
    assert validator.error_offset == expected_error_offset(data)


@settings(max_examples=examples(100), deadline=None)
@given(text=st.text(min_size=1, max_size=60), byte=st.integers(0x80, 0xFF), position=st.integers(0))
def test_streaming_one_byte_at_a_time(kernels, text, byte, position):
    data = bytearray((SAMPLE_TEXT + text.encode()))
    data[position % len(data)] = byte
    data = bytes(data)
    validator = kernels.Utf8Validator()
    offending = first_offending_byte(data)
    for index in range(len(data)):
        assert validator.feed(data[index : index + 1]) is (offending is None or index < offending)
    assert validator.finish() is is_valid(data)
    assert validator.error_offset == expected_error_offset(data)


@pytest.mark.parametrize(
    ("pieces", "failing_piece", "offset"),
    [
        ([b"ab\xed", b"\xa0"], 1, 3),  # surrogate, caught at its second byte
        ([b"\xf4", b"\x90"], 1, 1),  # above U+10FFFF
        ([b"\xf0", b"\x8f"], 1, 1),  # overlong 4-byte form
        ([b"\xe0", b"\x80"], 1, 1),  # overlong 3-byte form
        ([b"\xc0"], 0, 0),  # never valid
        ([b"ok", b"\xf5"], 1, 2),
        ([b"\xe2\x82", b"\xac\xe2", b"\x82\xac", b"\x80"], 3, 6),  # stray continuation
    ],
)
def test_fail_fast(kernels, pieces, failing_piece, offset):
    validator = kernels.Utf8Validator()
    for index, piece in enumerate(pieces):
        assert validator.feed(piece) is (index < failing_piece)
        if index >= failing_piece:
            assert validator.error_offset == offset
    assert validator.finish() is False
    assert validator.error_offset == offset


def test_rejection_is_sticky_and_reset_clears_it(kernels):
    validator = kernels.Utf8Validator()
    assert validator.feed(b"\xff") is False
    assert validator.feed(b"plain ascii") is False
    assert validator.error_offset == 0
    validator.reset()
    assert validator.error_offset is None
    assert validator.feed(b"") is True
    assert validator.feed("😀".encode()) is True
    assert validator.finish() is True
    assert validator.error_offset is None


def test_large_stream(kernels):
    text = SAMPLE_TEXT * 20000
    rng = random.Random(7)
    validator = kernels.Utf8Validator()
    position = 0
    while position < len(text):
        size = rng.choice([1, 3, 63, 64, 65, 4096, 200_000])
        assert validator.feed(memoryview(text)[position : position + size]) is True
        position += size
    assert validator.finish() is True
    bad = bytearray(text)
    bad[len(bad) // 2] = 0xC0
    validator.reset()
    assert validator.feed(bad[: len(bad) // 2 - 100]) is True
    assert validator.feed(bad[len(bad) // 2 - 100 :]) is False
    assert validator.error_offset == len(bad) // 2


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=150), cuts=st.lists(st.integers(0, 150), max_size=6))
def test_c_and_python_agree_when_streaming(c_kernels, data, cuts):
    c_validator, _, c_verdicts = feed_in_pieces(c_kernels, data, cuts)
    py_validator, _, py_verdicts = feed_in_pieces(_kernels_py, data, cuts)
    assert c_verdicts == py_verdicts
    assert c_validator.error_offset == py_validator.error_offset
    assert c_validator.finish() == py_validator.finish()
    assert c_validator.error_offset == py_validator.error_offset
