"""Masking (RFC 6455 §5.3) on every implementation, against a bytewise XOR oracle."""

from __future__ import annotations

import array
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast import _kernels_py

from tests.support import examples


def oracle(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ key[(offset + i) % 4] for i, b in enumerate(data))


KEYS = st.binary(min_size=4, max_size=4)
OFFSETS = st.integers(0, 3)
SIZES = st.one_of(st.integers(0, 300), st.integers(4096 - 70, 4096 + 70))
BUFFER_KINDS = ["bytes", "bytearray", "memoryview", "strided", "array"]


def as_kind(data: bytes, kind: str):
    """``data`` in another buffer type with the same bytes."""
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "strided":  # non-contiguous: every other byte of a buffer twice as long
        doubled = bytearray(2 * len(data))
        doubled[::2] = data
        return memoryview(doubled)[::2]
    if kind == "array":
        return array.array("B", data)
    raise AssertionError(kind)


def test_rfc6455_masked_hello(kernels):
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d
    assert kernels.mask(b"Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")


def test_mask_is_an_involution(kernels):
    key = os.urandom(4)
    data = os.urandom(1000)
    assert kernels.mask(kernels.mask(data, key), key) == data


@settings(max_examples=examples(300), deadline=None)
@given(size=SIZES, key=KEYS, offset=OFFSETS, kind=st.sampled_from(BUFFER_KINDS), seed=st.binary(min_size=1))
def test_mask_matches_oracle(kernels, size, key, offset, kind, seed):
    data = (seed * (size // len(seed) + 1))[:size]
    source = as_kind(data, kind)
    result = kernels.mask(source, key, offset)
    assert type(result) is bytes
    assert result == oracle(data, key, offset)
    assert bytes(source) == data  # the input is left alone


@settings(max_examples=examples(300), deadline=None)
@given(size=SIZES, key=KEYS, offset=OFFSETS, kind=st.sampled_from(["bytearray", "memoryview", "strided", "array"]),
       seed=st.binary(min_size=1))  # fmt: skip
def test_mask_into_matches_oracle(kernels, size, key, offset, kind, seed):
    data = (seed * (size // len(seed) + 1))[:size]
    target = as_kind(data, kind)
    if kind == "memoryview":
        target = memoryview(bytearray(data))
    assert kernels.mask_into(target, key, offset) == (offset + size) % 4
    assert bytes(target) == oracle(data, key, offset)


@settings(max_examples=examples(200), deadline=None)
@given(data=st.binary(max_size=600), key=KEYS, cuts=st.lists(st.integers(0, 600), max_size=8))
def test_mask_into_in_pieces_equals_whole(kernels, data, key, cuts):
    buffer = bytearray(data)
    view = memoryview(buffer)
    offset = 0
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for start, end in zip(bounds, bounds[1:]):
        offset = kernels.mask_into(view[start:end], key, offset)
    assert bytes(buffer) == oracle(data, key)
    assert offset == len(data) % 4


@pytest.mark.parametrize("size", [1 << 20, (1 << 20) + 3, 16 << 20])
def test_large_buffers(kernels, size):
    # large enough for the C glue to release the GIL
    data = os.urandom(size)
    key = bytes.fromhex("a1b2c3d4")
    expected = _kernels_py.mask(data, key, 2)
    assert kernels.mask(data, key, 2) == expected
    assert kernels.mask(memoryview(data), key, 2) == expected
    buffer = bytearray(data)
    assert kernels.mask_into(buffer, key, 2) == (2 + size) % 4
    assert buffer == expected


def test_keys_of_any_buffer_type(kernels):
    data = b"payload!"
    expected = oracle(data, b"\x01\x02\x03\x04")
    for key in (b"\x01\x02\x03\x04", bytearray(b"\x01\x02\x03\x04"), memoryview(b"\x01\x02\x03\x04"),
                array.array("B", [1, 2, 3, 4]), memoryview(b"\x01.\x02.\x03.\x04.")[::2]):  # fmt: skip
        assert kernels.mask(data, key) == expected


def test_multibyte_items_are_masked_as_raw_bytes(kernels):
    items = array.array("I", [0x01020304, 0xA0B0C0D0])
    raw = items.tobytes()
    key = b"\x10\x20\x30\x40"
    assert kernels.mask(items, key) == oracle(raw, key)
    assert kernels.mask_into(items, key) == 0
    assert items.tobytes() == oracle(raw, key)


def test_empty(kernels):
    assert kernels.mask(b"", b"abcd") == b""
    assert kernels.mask_into(bytearray(), b"abcd", 3) == 3


@pytest.mark.parametrize("data", ["text", 12, None, 1.5, [1, 2]])
def test_mask_rejects_non_buffers(kernels, data):
    with pytest.raises(TypeError):
        kernels.mask(data, b"abcd")
    with pytest.raises(TypeError):
        kernels.mask_into(data, b"abcd")


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde", bytearray(8), memoryview(b"abcdef")[::2]])
def test_wrong_key_size_is_value_error(kernels, key):
    with pytest.raises(ValueError):
        kernels.mask(b"data", key)
    with pytest.raises(ValueError):
        kernels.mask_into(bytearray(b"data"), key)


@pytest.mark.parametrize("key", ["abcd", 1234, None])
def test_non_buffer_key_is_type_error(kernels, key):
    with pytest.raises(TypeError):
        kernels.mask(b"data", key)
    with pytest.raises(TypeError):
        kernels.mask_into(bytearray(b"data"), key)


@pytest.mark.parametrize("offset", [-1, 4, 2**70, -(2**70)])
def test_offset_out_of_range_is_value_error(kernels, offset):
    with pytest.raises(ValueError):
        kernels.mask(b"data", b"abcd", offset)
    with pytest.raises(ValueError):
        kernels.mask_into(bytearray(b"data"), b"abcd", offset)


@pytest.mark.parametrize("offset", [1.0, "1", None])
def test_non_integer_offset_is_type_error(kernels, offset):
    with pytest.raises(TypeError):
        kernels.mask(b"data", b"abcd", offset)
    with pytest.raises(TypeError):
        kernels.mask_into(bytearray(b"data"), b"abcd", offset)


@pytest.mark.parametrize("readonly", [b"data", memoryview(b"data"), memoryview(bytearray(b"data")).toreadonly(),
                                      memoryview(b"data-data")[::2]])  # fmt: skip
def test_mask_into_rejects_read_only_buffers(kernels, readonly):
    with pytest.raises(TypeError):
        kernels.mask_into(readonly, b"abcd")


def test_mask_into_contiguous_2d(kernels):
    raw = bytes(range(16))
    grid = memoryview(bytearray(raw)).cast("B", (4, 4))
    assert kernels.mask_into(grid, b"abcd") == 0
    assert grid.tobytes() == oracle(raw, b"abcd")


@settings(max_examples=examples(300), deadline=None)
@given(
    data=st.one_of(st.binary(max_size=300), st.text(max_size=5), st.integers(), st.none()),
    key=st.one_of(st.binary(max_size=6), st.text(max_size=4), st.integers()),
    offset=st.one_of(st.integers(-2, 6), st.floats(), st.none()),
    in_place=st.booleans(),
)
def test_c_and_python_agree_on_results_and_errors(c_kernels, data, key, offset, in_place):
    def run(module):
        target = bytearray(data) if in_place and isinstance(data, bytes) else data
        try:
            if in_place:
                return ("ok", module.mask_into(target, key, offset), bytes(target))
            return ("ok", module.mask(target, key, offset))
        except Exception as error:  # noqa: BLE001 - the class is what is compared
            return ("error", type(error))

    assert run(c_kernels) == run(_kernels_py)
