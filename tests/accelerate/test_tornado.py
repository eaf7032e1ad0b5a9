"""wsfast.accelerate in tornado: _websocket_mask, against tornado's C and Python versions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from wsfast.accelerate._tornado import make_websocket_mask

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

support.require("tornado")
tornado_util = support.require("tornado.util")
tornado_websocket = support.require("tornado.websocket")
speedups = pytest.importorskip("tornado.speedups")

ORIGINALS = {"c": speedups.websocket_mask, "python": tornado_util._websocket_mask_python}


pair = support.pair_fixture(ORIGINALS, make_websocket_mask)


@settings(max_examples=examples(200), deadline=None)
@given(**support.MASK_CASES)
def test_same_as_the_original(pair, size, key, seed, data_kind, key_kind):
    original, replacement = pair
    data = support.payload(size, seed)
    if size > 5000 and original is tornado_util._websocket_mask_python:
        data = data[:5000]  # tornado's pure-Python loop is slow
    source, mask = support.BUFFER_KINDS[data_kind](data), support.BUFFER_KINDS[key_kind](key)
    expected = support.outcome(original, mask, source)
    assert support.outcome(replacement, mask, source) == expected
    if data_kind == key_kind == "bytes":
        assert expected == ("returns", bytes, support.bytewise_xor(data, key))


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_bad_mask_is_a_value_error(pair, key):
    original, replacement = pair
    with pytest.raises(ValueError, match="mask must be 4 bytes"):
        replacement(key, b"data")


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_not_buffers(pair, odd):
    original, replacement = pair
    assert support.outcome(replacement, odd, b"data") == support.outcome(original, odd, b"data")
    assert support.outcome(replacement, b"abcd", odd) == support.outcome(original, b"abcd", odd)


def test_websocket_protocol_uses_it():
    with support.accelerated("tornado"):
        mask = tornado_websocket._websocket_mask
        assert mask is not speedups.websocket_mask
        # RFC 6455 §5.7
        assert mask(bytes.fromhex("37fa213d"), b"Hello") == bytes.fromhex("7f9f4d5158")
        data = bytes(range(256)) * 300
        assert mask(b"\x01\x02\x03\x04", mask(b"\x01\x02\x03\x04", data)) == data
