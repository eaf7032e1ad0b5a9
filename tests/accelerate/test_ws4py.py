"""wsfast.accelerate in ws4py: the stream parser's Utf8Validator and Frame.mask / unmask, against ws4py's own."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.accelerate._ws4py import make_mask, make_utf8_validator

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

support.require("ws4py")
framing = support.require("ws4py.framing")
streaming = support.require("ws4py.streaming")
ORIGINAL_VALIDATOR = support.require("ws4py.utf8validator").Utf8Validator
ORIGINAL_MASK = framing.Frame.__dict__["mask"]
Validator = make_utf8_validator(ORIGINAL_VALIDATOR)
mask = make_mask(ORIGINAL_MASK)

STEPS = support.utf8_steps(["bytes", "bytearray"] * 4 + list(support.BUFFER_KINDS), (-2, 420), (-5, 5))


@settings(max_examples=examples(500), deadline=None)
@given(steps=st.lists(STEPS, max_size=12))
def test_validator_same_as_the_original(steps):
    assert support.run_utf8_steps(Validator, steps) == support.run_utf8_steps(ORIGINAL_VALIDATOR, steps)


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_validator_odd_inputs(odd):
    assert support.outcome(Validator().validate, odd) == support.outcome(ORIGINAL_VALIDATOR().validate, odd)


def test_validator_counts_as_ws4py_does():
    text = "ünïcödé ✓ 😀 ".encode() * 1000
    validator = Validator()
    # ws4py counts the last index of a valid chunk, not its length
    assert validator.validate(text) == (True, True, len(text) - 1, len(text) - 1)
    assert validator.validate(b"") == (True, True, 0, len(text) - 1)
    assert validator.validate(b"\xf0\x9f") == (True, False, 1, len(text))
    assert validator.validate(b"x") == (False, False, 0, len(text))
    assert Validator.UTF8VALIDATOR_DFA is ORIGINAL_VALIDATOR.UTF8VALIDATOR_DFA
    validator.anything = 1  # a plain class, as ws4py's is


KEYS = st.one_of(st.binary(min_size=4, max_size=4), st.binary(max_size=8))
KEY_KINDS = ["bytes", "bytearray", "memoryview", "list", "str"]


def frame_mask(mask_function, key, data):
    frame = framing.Frame(opcode=framing.OPCODE_BINARY, body=b"", masking_key=key)
    return support.outcome(mask_function, frame, data)


@settings(max_examples=examples(300), deadline=None)
@given(key=KEYS, key_kind=st.sampled_from(KEY_KINDS), data=st.binary(max_size=300),
       data_kind=st.sampled_from(list(support.BUFFER_KINDS)))  # fmt: skip
def test_mask_same_as_the_original(key, key_kind, data, data_kind):
    masking_key, source = support.BUFFER_KINDS[key_kind](key), support.BUFFER_KINDS[data_kind](data)
    expected = frame_mask(ORIGINAL_MASK, masking_key, source)
    assert frame_mask(mask, masking_key, source) == expected
    if key_kind in ("bytes", "bytearray") and len(key) >= 4 and data_kind in ("bytes", "bytearray"):
        assert expected == ("returns", bytearray, bytearray(support.bytewise_xor(data, key[:4])))


@pytest.mark.parametrize("key", [None, b"", b"ab", b"abcd", b"abcdefgh"])
@pytest.mark.parametrize("odd", [*support.NOT_BUFFERS, b"", b"xy", b"xyz"])
def test_mask_odd_inputs(key, odd):
    assert frame_mask(mask, key, odd) == frame_mask(ORIGINAL_MASK, key, odd)


def test_a_long_key_as_in_ws4pys_docstring():
    def build():
        return framing.Frame(framing.OPCODE_TEXT, b"hello world", masking_key=b"XXXXXX", fin=1).build()

    expected = build()
    with support.accelerated("ws4py"):
        # ws4py's own example masks with a 6-byte key (its first 4 bytes); wsaccel's patch refused it
        assert build() == expected
        assert expected.endswith(support.bytewise_xor(b"hello world", b"XXXX"))


def test_stream_round_trip():
    with support.accelerated("ws4py"):
        assert streaming.Utf8Validator is not ORIGINAL_VALIDATOR
        assert framing.Frame.mask is not ORIGINAL_MASK
        text = "ws4py ✓ 😀 " * 5000
        key = os.urandom(4)
        wire = framing.Frame(framing.OPCODE_TEXT, text.encode(), masking_key=key, fin=1).build()
        assert text.encode() not in wire
        stream = streaming.Stream()
        for start in range(0, len(wire), 1000):
            stream.parser.send(wire[start : start + 1000])
        assert stream.has_message and stream.message.data == text.encode() and not stream.errors

        bad = framing.Frame(framing.OPCODE_TEXT, b"text \xed\xa0\x80", masking_key=key, fin=1).build()
        stream = streaming.Stream()
        stream.parser.send(bad)
        assert [error.code for error in stream.errors] == [1007]
