"""wsfast.accelerate in websockets: apply_mask, against websockets' C and Python versions."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings

from wsfast.accelerate._websockets import make_apply_mask

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

frames = support.require("websockets.frames")
utils = support.require("websockets.utils")
streams = support.require("websockets.streams")
speedups = pytest.importorskip("websockets.speedups")  # websockets builds it where it can

ORIGINALS = {"c": speedups.apply_mask, "python": utils.apply_mask}


pair = support.pair_fixture(ORIGINALS, make_apply_mask)


@settings(max_examples=examples(200), deadline=None)
@given(**support.MASK_CASES)
def test_same_as_the_original(pair, size, key, seed, data_kind, key_kind):
    original, replacement = pair
    data = support.payload(size, seed)
    source, mask = support.BUFFER_KINDS[data_kind](data), support.BUFFER_KINDS[key_kind](key)
    snapshot = bytes(data)
    expected = support.outcome(original, source, mask)
    assert support.outcome(replacement, source, mask) == expected
    if data_kind in ("bytes", "bytearray", "memoryview", "strided") and key_kind in ("bytes", "bytearray"):
        assert expected == ("returns", bytes, support.bytewise_xor(data, key))
    assert bytes(support.BUFFER_KINDS["bytes"](data)) == snapshot  # input untouched


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde", bytearray(b"ab")])
def test_bad_mask_is_a_value_error(pair, key):
    original, replacement = pair
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        replacement(b"data", key)
    assert support.outcome(replacement, b"data", key) == support.outcome(original, b"data", key)


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_not_buffers(pair, odd):
    original, replacement = pair
    assert support.outcome(replacement, odd, b"abcd") == support.outcome(original, odd, b"abcd")
    assert support.outcome(replacement, b"data", odd) == support.outcome(original, b"data", odd)


def test_keywords():
    replacement = make_apply_mask(speedups.apply_mask)
    assert replacement(data=b"Hello", mask=bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")


def test_frames_use_it():
    with support.accelerated("websockets"):
        assert frames.apply_mask is not speedups.apply_mask
        frame = frames.Frame(frames.Opcode.TEXT, b"Hello, world" * 100)
        masked = frame.serialize(mask=True)
        reader = streams.StreamReader()
        reader.feed_data(masked)
        parser = frames.Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            assert done.value == frame
        else:
            raise AssertionError("the frame did not parse")
        key = os.urandom(4)
        assert frames.apply_mask(bytearray(b"x" * 1000), key) == support.bytewise_xor(b"x" * 1000, key)
