"""wsfast.accelerate in wsproto: XorMaskerSimple, chunk by chunk, against wsproto's own."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.accelerate._wsproto import XorMaskerSimple

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

support.require("wsproto")
frame_protocol = support.require("wsproto.frame_protocol")
ORIGINAL = frame_protocol.XorMaskerSimple

CHUNK_KINDS = [kind for kind in support.BUFFER_KINDS if kind not in ("str", "view-2d")] + ["str", "view-2d"]


def process_all(masker_class, key, chunks):
    masker = masker_class(key)
    return [support.outcome(masker.process, chunk) for chunk in chunks]


@settings(max_examples=examples(300), deadline=None)
@given(
    key=st.binary(min_size=4, max_size=4),
    key_kind=st.sampled_from(["bytes", "bytearray"]),
    chunks=st.lists(st.tuples(st.binary(max_size=300), st.sampled_from(CHUNK_KINDS)), max_size=8),
)
def test_same_as_the_original_across_chunks(key, key_kind, chunks):
    pieces = [support.BUFFER_KINDS[kind](data) for data, kind in chunks]
    results = process_all(XorMaskerSimple, support.BUFFER_KINDS[key_kind](key), pieces)
    assert results == process_all(ORIGINAL, support.BUFFER_KINDS[key_kind](key), pieces)
    masked = b"".join(result[2] for result in results if result[0] == "returns")
    plain = b"".join(bytearray(piece) for piece, result in zip(pieces, results, strict=True) if result[0] == "returns")
    assert masked == support.bytewise_xor(plain, key)

@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 1000, 70000])
def test_a_new_bytearray_and_the_input_untouched(size):
    data = bytearray(os.urandom(size))
    before = bytes(data)
    result = XorMaskerSimple(b"abcd").process(data)
    assert type(result) is bytearray and result is not data
    assert data == before
    assert result == ORIGINAL(b"abcd").process(before)


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde", bytearray(b"abcdef"), "abcd", None, 1234])
def test_bad_keys_fail_on_the_first_non_empty_chunk(key):
    ours, theirs = XorMaskerSimple(key), ORIGINAL(key)
    empty = ("returns", bytearray, bytearray())
    assert support.outcome(ours.process, b"") == support.outcome(theirs.process, b"") == empty
    assert support.outcome(ours.process, b"data")[:2] == support.outcome(theirs.process, b"data")[:2]


def test_bad_key_length_message():
    with pytest.raises(ValueError, match="not enough values to unpack"):
        XorMaskerSimple(b"abc").process(b"x")
    with pytest.raises(ValueError, match="too many values to unpack"):
        XorMaskerSimple(b"abcde").process(b"x")


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_odd_chunks(odd):
    assert support.outcome(XorMaskerSimple(b"abcd").process, odd) == support.outcome(ORIGINAL(b"abcd").process, odd)


def test_a_bytearray_key_changed_before_first_use_counts():
    key = bytearray(b"abcd")
    ours, theirs = XorMaskerSimple(key), ORIGINAL(key)
    key[0] = 0
    assert ours.process(b"xyzw") == theirs.process(b"xyzw")
    key[1] = 0  # after the first chunk, both have their own copy
    assert ours.process(b"xyzw") == theirs.process(b"xyzw")


def test_connection_round_trip():
    wsproto = support.require("wsproto")
    events = support.require("wsproto.events")
    with support.accelerated("wsproto"):
        assert frame_protocol.XorMaskerSimple is XorMaskerSimple
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        server.receive_data(client.send(events.Request(host="example.com", target="/")))
        assert isinstance(next(server.events()), events.Request)
        client.receive_data(server.send(events.AcceptConnection()))
        assert isinstance(next(client.events()), events.AcceptConnection)
        text = "héllo wörld " * 20000
        wire = client.send(events.TextMessage(data=text))
        assert text.encode() not in wire  # masked
        received, maskers = [], set()
        for start in range(0, len(wire), 7001):  # chunked: the masker carries on across calls
            server.receive_data(wire[start : start + 7001])
            received += [event.data for event in server.events()]
            decoder = server.connection._proto._frame_decoder
            maskers.add(type(decoder.masker))
        assert "".join(received) == text
        assert maskers == {XorMaskerSimple, type(None)}  # in use between the chunks of the frame
        client.receive_data(server.send(events.BytesMessage(data=b"back")))
        assert [event.data for event in client.events()] == [b"back"]
