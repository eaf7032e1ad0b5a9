"""wsfast.accelerate in wsproto: the frame decoder's whole-frame case and the serializer on wsfast's codec,
and the event layer above them, checked against wsproto's own on the same streams.

The differential checker: one stream of bytes (valid messages whole and fragmented, control frames,
and hostile frames) is fed in the same chunks, with the same sends in between, to a wsproto
``Connection`` (and, with the opening handshake in front, a ``WSConnection``) without wsfast, then
to one with ``install("wsproto")``. After every step both must show the same events (and payload
types), state, bytes returned by ``send`` and exception; some steps take only the first event and
drop the generator, as an application that stops reading events may. Masking keys
(``os.urandom(4)``) come from one counter in both runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wsfast.accelerate
from wsfast import _frames_py, _random, kernels
from wsfast.accelerate import _wsproto_codec, _wsproto_events

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

connection_module = support.require("wsproto.connection")
wsproto = support.require("wsproto")
events_module = support.require("wsproto.events")
frame_protocol = support.require("wsproto.frame_protocol")
deflate_module = support.require("wsproto.extensions")

Connection, ConnectionType = connection_module.Connection, connection_module.ConnectionType


@pytest.fixture(scope="module", params=["python", "c"])
def codec(request: pytest.FixtureRequest) -> Iterator[str]:
    """The patched decoder and serializer on the pure-Python twins, then on the C kernels."""
    if request.param == "python":
        with mock.patch.object(_wsproto_codec, "take_frame", _frames_py.take_frame), \
                mock.patch.object(_wsproto_codec, "encode_frame", _frames_py.encode_frame), \
                mock.patch.object(_wsproto_events, "encode_frame", _frames_py.encode_frame):  # fmt: skip
            yield "python"
        return
    if kernels.IMPLEMENTATION != "c":
        pytest.skip("the C kernels are not in use (not built, or WSFAST_NO_EXTENSIONS=1)")
    yield "c"


@contextlib.contextmanager
def counted_keys() -> Iterator[None]:
    """os.urandom (wsproto's masking keys) from a counter, the same in every run."""
    count = iter(range(1, 1 << 30))
    with mock.patch("os.urandom", lambda size: next(count).to_bytes(size, "big")):
        yield


def connection(server: bool, deflate: bool) -> Any:
    extensions = []
    if deflate:
        extension = deflate_module.PerMessageDeflate()
        if server:
            extension.accept("permessage-deflate")
        else:
            extension.finalize("permessage-deflate")
        extensions = [extension]
    return Connection(ConnectionType.SERVER if server else ConnectionType.CLIENT, extensions=extensions)


def run(protocol: Any, steps: list[tuple]) -> list[tuple]:
    """``protocol`` through ``steps`` (("data", bytes), ("eof",), ("send", event), ("one",): only
    the first event is taken, ("data-one", bytes): data, then only the first event): snapshots
    after each."""
    seen = []
    with counted_keys():
        for step in steps:
            result: Any = None
            try:
                if step[0] == "data" or step[0] == "data-one":
                    protocol.receive_data(step[1])
                elif step[0] == "eof":
                    protocol.receive_data(None)
                elif step[0] == "send":
                    result = protocol.send(step[1])
                received = protocol.events()
                if step[0] == "one" or step[0] == "data-one":
                    received = [next(received, None)]
                events = [(event, type(getattr(event, "data", None))) for event in received]
            except Exception as error:  # noqa: BLE001 - compared, not judged
                events, result = [], (type(error), str(error))
            seen.append((events, type(result), result, protocol.state))
    return seen


def differential(server: bool, deflate: bool, steps: list[tuple], make: Any = None) -> None:
    """The same ``steps`` through a new protocol (``make()``, else a ``Connection``) without, then
    with wsfast: every snapshot the same."""
    make = make or (lambda: connection(server, deflate))
    wsfast.accelerate.uninstall("wsproto")
    expected = run(make(), steps)
    wsfast.accelerate.install("wsproto")
    try:
        got = run(make(), steps)
    finally:
        wsfast.accelerate.uninstall("wsproto")
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        assert mine == theirs, f"step {index} ({steps[index][0]}): with wsfast {support.short(mine)}, without {support.short(theirs)}"
    assert len(got) == len(expected)


PAYLOADS = st.binary(max_size=300) | st.sampled_from([b"", b"\xff", "é".encode(), b"\xe2\x82", b"x" * 126])
ITEMS = st.one_of(
    # lawful frames: messages whole or in fragments, control frames, closes (any opcode order)
    st.tuples(st.sampled_from([0, 1, 2, 8, 9, 10]), PAYLOADS, st.booleans(), st.just(0), st.just(True), st.just("minimal")),
    st.tuples(st.just(1), st.text(max_size=80).map(str.encode), st.just(True), st.just(0), st.just(True), st.just("minimal")),
    st.tuples(st.just(2), st.integers(60_000, 140_000).map(lambda n: b"\x5a" * n), st.booleans(), st.just(0),
              st.just(True), st.just("minimal")),
    # what wsproto refuses at header time: opcodes, RSV bits, control frames, lengths, the mask bit
    st.tuples(st.integers(0, 15), PAYLOADS, st.booleans(), st.integers(0, 7), st.booleans(),
              st.sampled_from(["minimal", "16", "64"])),
)
CALLS = st.one_of(
    st.builds(events_module.TextMessage, data=st.text(max_size=100)),
    st.builds(events_module.BytesMessage, data=PAYLOADS, message_finished=st.booleans()),
    st.builds(events_module.Ping, payload=st.binary(max_size=125)),
    st.builds(events_module.CloseConnection, code=st.sampled_from([1000, 1001, 4000])),
)


def stream_of(server: bool, items: list[tuple]) -> bytes:
    return b"".join(support.raw_frame(opcode, payload, fin=fin, rsv=rsv, masked=server == right_mask, length_form=form)
                    for opcode, payload, fin, rsv, right_mask, form in items)  # fmt: skip


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    server=st.booleans(),
    deflate=st.booleans(),
    items=st.lists(ITEMS, max_size=8),
    how=st.sampled_from(["whole", "splits", "reads"]),
    cuts=st.lists(st.integers(0, 1 << 17), max_size=6),
    eof=st.booleans(),
    calls=st.lists(st.tuples(st.integers(0, 1 << 16), CALLS | st.just(None) | st.just("alone")), max_size=3),
)
def test_same_as_wsprotos_own(codec, server, deflate, items, how, cuts, eof, calls):
    differential(server, deflate, steps_of(stream_of(server, items), how, cuts, eof, calls))


def steps_of(stream: bytes, how: str, cuts: list[int], eof: bool, calls: list[tuple[int, Any]]) -> list[tuple]:
    """``stream`` in pieces (whole, split at ``cuts``, or in reads of one size), then EOF if asked,
    with each call (an event sent, None: take one event, or "alone": the read at that position
    takes only its first event) at its position."""
    if how == "whole":
        pieces = [stream]
    elif how == "reads":
        size = 1000 + (cuts[0] if cuts else 0) % 20_000
        pieces = [stream[index : index + size] for index in range(0, len(stream), size)]
    else:
        points = sorted({cut % (len(stream) + 1) for cut in cuts})
        pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    steps: list[tuple] = [("data", piece) for piece in pieces] + ([("eof",)] if eof else [])
    for position, call in calls:
        if call == "alone":
            index = position % (len(steps) + 1)
            if index < len(steps) and steps[index][0] == "data":
                steps[index] = ("data-one", steps[index][1])
            continue
        steps.insert(position % (len(steps) + 1), ("one",) if call is None else ("send", call))
    return steps


def opening(server: bool) -> tuple[list[tuple], bytes]:
    """What a ``WSConnection`` on this side does before the frames: (the steps, the peer's bytes
    that the stream starts with), keys from the counter as in :func:`run`."""
    with counted_keys():
        client, peer = wsproto.WSConnection(ConnectionType.CLIENT), wsproto.WSConnection(ConnectionType.SERVER)
        request = client.send(events_module.Request(host="localhost", target="/"))
        peer.receive_data(request)
        list(peer.events())
        response = peer.send(events_module.AcceptConnection())
    if server:
        return [], request
    return [("send", events_module.Request(host="localhost", target="/"))], response


@settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    server=st.booleans(),
    items=st.lists(ITEMS, max_size=6),
    how=st.sampled_from(["whole", "splits", "reads"]),
    cuts=st.lists(st.integers(0, 1 << 17), max_size=6),
    eof=st.booleans(),
    calls=st.lists(st.tuples(st.integers(0, 1 << 16),
                             CALLS | st.just(None) | st.just("alone") | st.just(events_module.AcceptConnection())),
                   max_size=4),
)
def test_a_wsconnection_the_same_as_wsprotos_own(codec, server, items, how, cuts, eof, calls):
    """The whole connection object: the opening handshake's bytes, then frames, possibly in the
    same read; events taken during and after the handshake; sends in every state."""
    before, head = opening(server)
    steps = steps_of(head + stream_of(server, items), how, cuts, eof, calls)
    side = ConnectionType.SERVER if server else ConnectionType.CLIENT
    differential(server, False, before + steps, make=lambda: wsproto.WSConnection(side))


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
def test_a_conversation_byte_by_byte(codec, server):
    """Every kind of frame, one byte per call: wsproto's own code takes each frame that arrives in
    pieces, and hands out the pieces of data frames."""
    items = [(1, "héllo wörld".encode() * 20, False, 0, True, "minimal"), (9, b"p", True, 0, True, "minimal"),
             (0, b"more", True, 0, True, "minimal"), (2, b"\x00" * 3000, True, 0, True, "minimal"),
             (8, b"\x03\xe8bye", True, 0, True, "minimal")]  # fmt: skip
    stream = stream_of(server, items)
    steps: list[tuple] = [("data", stream[index : index + 1]) for index in range(len(stream))]
    differential(server, False, [*steps[:40], ("send", events_module.TextMessage(data="between")), *steps[40:]])


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("first", ["local", "remote"])
def test_closing_handshakes(codec, server, first):
    """Who closes first decides the state the peer's close leads to (CLOSED after our own close,
    REMOTE_CLOSING before it); what comes after a close is never read."""
    close = events_module.CloseConnection(code=1000, reason="bye")
    wire = stream_of(server, [(2, b"last", True, 0, True, "minimal"), (8, b"\x03\xe8ok", True, 0, True, "minimal"),
                              (2, b"after", True, 0, True, "minimal")])  # fmt: skip
    steps: list[tuple] = [("data", wire)]
    if first == "local":
        steps.insert(0, ("send", close))
    else:
        steps.append(("send", close))
    differential(server, False, [*steps, ("data", wire[:6]), ("send", events_module.BytesMessage(data=b"late"))])


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("before", [0, 1, 2], ids=["first-read", "after-a-read", "after-a-message"])
def test_a_close_taken_alone_ends_what_is_read(codec, server, before):
    """A close frame whose event is the only one taken (the application stops reading events
    there) ends the reading all the same: the frames behind it, and any that come later, are
    never read, however the frames before it were read."""
    message, close, after = (stream_of(server, [item]) for item in (
        (2, b"first", True, 0, True, "minimal"), (8, b"\x03\xe8", True, 0, True, "minimal"),
        (2, b"after", True, 0, True, "minimal")))  # fmt: skip
    steps: list[tuple] = [[], [("one",)], [("data", message)]][before]
    steps += [("data-one", close + after), ("one",), ("data", after), ("send", events_module.BytesMessage(data=b"x"))]
    differential(server, False, steps)


@pytest.mark.parametrize("wire", [
    b"\x83\x80" + b"abcd",  # reserved opcode
    b"\x09\x80" + b"abcd",  # fragmented ping
    b"\x89\xfe\x00\x7e" + b"abcd" + bytes(126),  # ping over 125
    b"\x82\xfe\x00\x05" + b"abcd" + bytes(5),  # non-minimal 16-bit length
    b"\x82\xff" + (5).to_bytes(8, "big") + b"abcd" + bytes(5),  # non-minimal 64-bit length
    b"\x82\xff" + (1 << 63).to_bytes(8, "big"),  # most significant bit set
    b"\xc2\x80" + b"abcd",  # RSV1 without an extension
    b"\x82\x00",  # unmasked, to a server
])  # fmt: skip
def test_what_wsproto_refuses_is_refused_alike(codec, wire):
    differential(True, False, [("data", wire)])
    differential(True, False, [("data", wire[index : index + 1]) for index in range(len(wire))])


def test_masking_keys_come_from_wsfast_pool_unless_urandom_is_replaced(codec):
    """wsproto calls os.urandom(4) per frame; the patch draws the same bytes from wsfast's pool of
    them, one os.urandom call per 1024 keys. A replaced os.urandom (a test fixing keys) is called."""
    wsfast.accelerate.install("wsproto")
    try:
        protocol = frame_protocol.FrameProtocol(client=True, extensions=[])
        _random._forget_pool()
        frames = [bytes(protocol._serialize_frame(frame_protocol.Opcode.BINARY, b"abc%d" % n)) for n in range(3)]
        assert _random.key_pool.position == 12  # three keys drawn from a fresh pool
        keys = [support.unmasked(frame)[0] for frame in frames]
        assert [support.unmasked(frame)[1] for frame in frames] == [b"abc0", b"abc1", b"abc2"]
        assert len(set(keys)) == 3
        with counted_keys():
            frames = [bytes(protocol._serialize_frame(frame_protocol.Opcode.BINARY, b"abc")) for _ in range(2)]
        assert [support.unmasked(frame) for frame in frames] == [(bytes([0, 0, 0, n]), b"abc") for n in (1, 2)]
        assert _random.key_pool.position == 12
    finally:
        wsfast.accelerate.uninstall("wsproto")


def test_installed_names_the_level():
    wsfast.accelerate.install("wsproto")
    assert wsfast.accelerate.installed() == {"wsproto": "frames, events"}
    assert frame_protocol.FrameDecoder.process_buffer.__wrapped__ is not None
    wsfast.accelerate.uninstall("wsproto")
    assert not hasattr(frame_protocol.FrameDecoder.process_buffer, "__wrapped__")
