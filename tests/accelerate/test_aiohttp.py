"""wsfast.accelerate in aiohttp: websocket_mask in the writer, and in the pure-Python reader when it is
the one in use."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from unittest import mock

import pytest
from hypothesis import given, settings

import wsfast.accelerate
from wsfast.accelerate._aiohttp import make_websocket_mask

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

support.require("aiohttp")
helpers = support.require("aiohttp._websocket.helpers")
writer_module = support.require("aiohttp._websocket.writer")
reader_module = support.require("aiohttp._websocket.reader")
reader_py = support.require("aiohttp._websocket.reader_py")
models = support.require("aiohttp._websocket.models")
cython_mask = pytest.importorskip("aiohttp._websocket.mask")

ORIGINALS = {"c": cython_mask._websocket_mask_cython, "python": helpers._websocket_mask_python}


pair = support.pair_fixture(ORIGINALS, make_websocket_mask)


def in_place(function, mask, data):
    """(result, data afterwards), or the exception class."""
    return support.outcome(function, mask, data), bytes(data) if isinstance(data, (bytearray, memoryview)) else data


@settings(max_examples=examples(200), deadline=None)
@given(**support.MASK_CASES)
def test_same_as_the_original(pair, size, key, seed, data_kind, key_kind):
    original, replacement = pair
    data = support.payload(size, seed)
    ours, theirs = support.BUFFER_KINDS[data_kind](data), support.BUFFER_KINDS[data_kind](data)
    mask = support.BUFFER_KINDS[key_kind](key)
    assert in_place(replacement, mask, ours) == in_place(original, mask, theirs)
    if data_kind == "bytearray" and key_kind == "bytes":
        assert ours == support.bytewise_xor(data, key)
        assert replacement(mask, bytearray(data)) is None


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_bad_mask(pair, key):
    original, replacement = pair
    assert support.outcome(replacement, key, bytearray(b"data")) == support.outcome(original, key, bytearray(b"data"))
    assert support.outcome(replacement, key, bytearray(b"data"))[0] == "raises"


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_not_buffers(pair, odd):
    original, replacement = pair
    assert support.outcome(replacement, odd, bytearray(b"data")) == support.outcome(original, odd, bytearray(b"data"))
    assert support.outcome(replacement, b"abcd", odd) == support.outcome(original, b"abcd", odd)


def test_only_the_writer_while_the_c_reader_is_in_use():
    if reader_module.WebSocketReader is reader_py.WebSocketReader:
        pytest.skip("aiohttp runs its pure-Python reader here")
    original = reader_py.websocket_mask
    with support.accelerated("aiohttp"):
        assert writer_module.websocket_mask is not ORIGINALS["c"]
        assert reader_py.websocket_mask is original
        [(_, name, _, _)] = wsfast.accelerate._installation("aiohttp").applied
        assert name == "websocket_mask"


async def write_then_read(text: str) -> list:
    transport = mock.Mock(**{"is_closing.return_value": False, "get_write_buffer_size.return_value": 0})
    protocol = mock.Mock(_reading_paused=False, _paused=False)
    writer = writer_module.WebSocketWriter(protocol, transport, use_mask=True)
    await writer.send_frame(text.encode(), models.WSMsgType.TEXT)
    wire = b"".join(call.args[0] for call in transport.write.call_args_list)
    assert text.encode() not in wire
    queue = reader_py.WebSocketDataQueue(protocol, 2**20, loop=asyncio.get_running_loop())
    reader = reader_py.WebSocketReader(queue, 2**22, compress=False, decode_text=True)
    for start in range(0, len(wire), 5000):
        reader.feed_data(wire[start : start + 5000])
    return [await queue.read()]


def test_writer_and_pure_python_reader_round_trip(monkeypatch):
    # aiohttp picks its reader at import; pretend it picked the pure-Python one
    monkeypatch.setattr(reader_module, "WebSocketReader", reader_py.WebSocketReader)
    original = reader_py.websocket_mask
    text = "zażółć gęślą jaźń " * 10000
    with support.accelerated("aiohttp"):
        assert reader_py.websocket_mask is writer_module.websocket_mask is not original
        [message] = asyncio.run(write_then_read(text))
    assert reader_py.websocket_mask is original
    assert message.data == text


def test_aiohttp_no_extensions_gets_the_reader_patched():
    code = """
        import wsfast.accelerate as accelerate
        from aiohttp._websocket import reader, reader_py, writer
        assert reader.WebSocketReader is reader_py.WebSocketReader
        original = reader_py.websocket_mask
        accelerate.install("aiohttp")
        assert reader_py.websocket_mask is writer.websocket_mask is not original
        accelerate.uninstall()
        assert reader_py.websocket_mask is original
        print("ok")
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, "AIOHTTP_NO_EXTENSIONS": "1"}, timeout=120)  # fmt: skip
    assert result.stdout == "ok\n", result.stderr
