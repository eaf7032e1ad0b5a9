"""wsfast.accelerate in autobahn: create_xor_masker, XorMaskerNull and Utf8Validator of its protocol,
against both of autobahn's flavours (NVX and pure Python)."""

from __future__ import annotations

import asyncio
import importlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.accelerate._autobahn import make_create_xor_masker, make_utf8_validator
from wsfast.accelerate._maskers import NullMasker
from wsfast.accelerate._utf8 import BYTE_TYPE, TRANSITION

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

autobahn_websocket = support.require("autobahn.websocket")
protocol = support.require("autobahn.websocket.protocol")
xormasker = support.require("autobahn.websocket.xormasker")
utf8validator = support.require("autobahn.websocket.utf8validator")


def load_pure_python(name: str):
    """autobahn's pure-Python flavour of a module, whichever flavour is in use (NVX from 25.x on,
    wsaccel before)."""
    saved = getattr(autobahn_websocket, "USES_NVX", None)
    autobahn_websocket.USES_NVX = False
    try:
        return support.fresh_copy(name, hide=support.WSACCEL_MODULES)
    finally:
        if saved is None:
            del autobahn_websocket.USES_NVX
        else:
            autobahn_websocket.USES_NVX = saved


PURE_MASKER = load_pure_python("autobahn.websocket.xormasker").create_xor_masker
PURE_VALIDATOR = load_pure_python("autobahn.websocket.utf8validator").Utf8Validator
FLAVOURS = {"python": (PURE_MASKER, PURE_VALIDATOR)}
if getattr(autobahn_websocket, "HAS_NVX", False):
    FLAVOURS["nvx"] = (
        importlib.import_module("autobahn.nvx._xormasker").create_xor_masker,
        importlib.import_module("autobahn.nvx._utf8validator").Utf8Validator,
    )
try:  # autobahn before 25.x used wsaccel where installed
    import wsaccel.utf8validator
    import wsaccel.xormask

    FLAVOURS["wsaccel"] = (wsaccel.xormask.createXorMasker, wsaccel.utf8validator.Utf8Validator)
except ImportError:
    pass


@pytest.fixture(scope="module", params=list(FLAVOURS))
def maskers(request):
    original = FLAVOURS[request.param][0]
    return original, make_create_xor_masker(original)


@pytest.fixture(scope="module", params=list(FLAVOURS))
def validators(request):
    original = FLAVOURS[request.param][1]
    return original, make_utf8_validator(original)


def test_the_dfa_tables_are_autobahns():
    assert bytes(utf8validator.UTF8VALIDATOR_DFA) == BYTE_TYPE + TRANSITION


# ------------------------------------------------------------------------------------------ masking

MASK_KINDS = ["bytes", "bytearray", "memoryview", "list", "tuple", "str"]


def run_masker(create, mask, length, steps):
    """Outcomes of creating a masker and of each step: ("process", chunk) or ("reset",)."""
    made = support.outcome(create, mask, length)
    if made[0] == "raises":
        return [made]
    masker = made[2]
    results = []
    for step in steps:
        if step[0] == "reset":
            masker.reset()
        else:
            results.append(support.outcome(masker.process, step[1]))
        results.append(masker.pointer())
    return results


@settings(max_examples=examples(300), deadline=None)
@given(
    key=st.one_of(st.binary(min_size=4, max_size=4), st.binary(max_size=6)),
    key_kind=st.sampled_from(MASK_KINDS),
    length=st.sampled_from([None, 0, 127, 128, 100000, "x"]),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("process"), st.binary(max_size=300), st.sampled_from(list(support.BUFFER_KINDS))),
            st.just(("reset",)),
        ),
        max_size=8,
    ),
)
def test_masker_same_as_the_original(maskers, key, key_kind, length, steps):
    original, replacement = maskers
    mask = support.BUFFER_KINDS[key_kind](key)
    concrete = [step if step[0] == "reset" else ("process", support.BUFFER_KINDS[step[2]](step[1])) for step in steps]
    ours = run_masker(replacement, mask, length, concrete)
    assert ours == run_masker(original, mask, length, concrete)


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_masker_odd_inputs(maskers, odd):
    original, replacement = maskers
    assert support.outcome(replacement, odd)[0] == support.outcome(original, odd)[0]
    steps = [("process", odd)]
    assert run_masker(replacement, b"abcd", None, steps) == run_masker(original, b"abcd", None, steps)


def test_masker_continues_across_chunks():
    create = make_create_xor_masker(PURE_MASKER)
    key, data = os.urandom(4), os.urandom(100003)
    masker = create(key, len(data))
    pieces = [masker.process(data[start : start + 997]) for start in range(0, len(data), 997)]
    assert b"".join(pieces) == support.bytewise_xor(data, key) and masker.pointer() == len(data)
    with pytest.raises(AssertionError):
        create(b"abc")


def test_null_masker():
    masker = NullMasker(b"abcd")
    data = bytearray(b"data")
    assert masker.process(data) is data and masker.pointer() == 4
    masker.reset()
    assert masker.pointer() == 0
    with pytest.raises(TypeError):
        masker.process(5)
    assert support.outcome(xormasker.XorMaskerNull().process, 5)[0] == "raises"


# ------------------------------------------------------------------------------------------- UTF-8

CHUNK_KINDS = ["bytes"] * 6 + list(support.BUFFER_KINDS)  # mostly what autobahn passes


def run_validator(validator_class, steps):
    validator = validator_class()
    results = []
    for step in steps:
        if step[0] == "reset":
            validator.reset()
        else:
            results.append(support.outcome(validator.validate, step[1]))
    return results


@settings(max_examples=examples(500), deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("validate"), support.UTF8_PIECES, st.sampled_from(CHUNK_KINDS)),
            st.just(("reset",)),
        ),
        max_size=10,
    )
)
def test_validator_same_as_the_original(validators, steps):
    original, replacement = validators
    concrete = [step if step[0] == "reset" else ("validate", support.BUFFER_KINDS[step[2]](step[1])) for step in steps]
    assert run_validator(replacement, concrete) == run_validator(original, concrete)


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_validator_odd_inputs(validators, odd):
    original, replacement = validators
    assert run_validator(replacement, [("validate", odd)]) == run_validator(original, [("validate", odd)])


def test_validator_large_text():
    validator = make_utf8_validator(PURE_VALIDATOR)()
    text = ("ascii " * 1000 + "ünïcödé ✓ 😀 " * 1000).encode()
    assert validator.validate(text) == (True, True, len(text), len(text))
    assert validator.validate(b"ok \xf0\x9f") == (True, False, 5, len(text) + 5)
    assert validator.validate(b"A") == (False, False, 0, len(text) + 5)


@settings(max_examples=examples(200), deadline=None)
@given(data=st.binary(max_size=12), start=st.integers(0, 8))
def test_decode_and_state_same_as_pure_python(data, start):
    ours, theirs = make_utf8_validator(PURE_VALIDATOR)(), PURE_VALIDATOR()
    ours.state = theirs._state = start
    for byte in data:
        assert ours.decode(byte) == theirs.decode(byte)
        assert (ours.state, ours.codepoint) == (theirs._state, theirs._codepoint)
    assert ours.validate(b"\x80abc") == theirs.validate(b"\x80abc")


# ------------------------------------------------------------------------------------ the protocol


def open_server_protocol(loop):
    testutil = support.require("autobahn.testutil")
    types = support.require("autobahn.wamp.types")
    asyncio_websocket = support.require("autobahn.asyncio.websocket")
    txaio = support.require("txaio")
    factory = asyncio_websocket.WebSocketServerFactory(loop=loop)
    factory.log = txaio.make_logger()
    server = asyncio_websocket.WebSocketServerProtocol()
    server.log, server.factory, server.transport = txaio.make_logger(), factory, testutil.FakeTransport()
    server.transport.close = server.transport.loseConnection
    server._transport_details = types.TransportDetails()
    server._connectionMade()
    server.state = server.STATE_OPEN
    server.websocket_version = 18
    # what a completed opening handshake leaves behind (succeedHandshake)
    server.websocket_extensions_in_use, server.inside_message, server.current_frame = [], False, None
    received = []
    server.onMessage = lambda payload, is_binary: received.append(payload)
    return server, received


def masked_text_frame(payload: bytes, key: bytes) -> bytes:
    """A client's text frame, with the shortest length encoding (autobahn insists)."""
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    elif len(payload) < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, len(payload))
    return header + key + support.bytewise_xor(payload, key)


def test_a_server_protocol_uses_the_replacements():
    txaio = support.require("txaio")
    txaio.use_asyncio()
    # our own loop, closed at the end (else txaio makes one that later tests find open)
    loop, previous_loop = asyncio.new_event_loop(), txaio.config.loop
    txaio.config.loop = loop
    with support.accelerated("autobahn"):
        server, received = open_server_protocol(loop)
        try:
            text = "autobahn ✓ " * 7000
            frame = masked_text_frame(text.encode(), os.urandom(4))
            seen = set()
            for start in range(0, len(frame), 4096):
                server._dataReceived(frame[start : start + 4096])
                seen.add(type(server.current_frame_masker).__module__ if server.current_frame else None)
            assert received == [text.encode()]
            assert "wsfast.accelerate._autobahn" in seen
            assert type(server.utf8validator).__module__ == "wsfast.accelerate._autobahn"
            # invalid UTF-8 is caught by the replacement: the connection is failed (1007)
            server._dataReceived(masked_text_frame(b"bad \xc0\xaf", os.urandom(4)))
            assert received == [text.encode()]
            assert server.failedByMe and "invalid UTF-8" in server.wasNotCleanReason
        finally:
            for call in (server.autoPingPendingCall, server.autoPingTimeoutCall, server.openHandshakeTimeoutCall,
                         server.closeHandshakeTimeoutCall):  # fmt: skip
                if call is not None:
                    call.cancel()
            txaio.config.loop = previous_loop
            loop.close()


def test_install_replaces_the_names_the_protocol_reads():
    originals = (protocol.create_xor_masker, protocol.XorMaskerNull, protocol.Utf8Validator)
    with support.accelerated("autobahn"):
        assert protocol.XorMaskerNull is NullMasker
        assert protocol.create_xor_masker(b"abcd", 1000).process(b"\0\0\0\0") == b"abcd"
        assert protocol.Utf8Validator().validate(b"\xe2\x82\xac") == (True, True, 3, 3)
    assert (protocol.create_xor_masker, protocol.XorMaskerNull, protocol.Utf8Validator) == originals
