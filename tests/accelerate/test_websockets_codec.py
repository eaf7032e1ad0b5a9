"""wsfast.accelerate in websockets: the frame loop (``Protocol.parse``) and ``Frame.serialize`` on wsfast's
codec, checked against websockets' own on the same streams.

The differential checker: one stream of bytes (a websockets peer's messages, pings and closes,
with or without permessage-deflate, mixed with hostile frames) is fed in the same chunks, with the
same API calls in between, to a websockets ``Protocol`` without wsfast, then to one with
``install("websockets")``. After every step both must show the same events (and payload types),
bytes to send, state, close frames, ``parser_exc`` (type and message), exception from the call, and
size accounting. Masking keys come from one counter in both runs, so a client's bytes compare too.
Hypothesis shrinks a disagreement to a small stream, which the assertion prints.
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
from wsfast import _frames_py, _kernels_py, _random, kernels
from wsfast.accelerate import _websockets_codec

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

protocol_module = support.require("websockets.protocol")
frames_module = support.require("websockets.frames")
deflate_module = support.require("websockets.extensions.permessage_deflate")

Protocol, Side, State = protocol_module.Protocol, protocol_module.Side, protocol_module.State
#: websockets 16 split max_size into max_message_size and max_fragment_size.
SPLIT_LIMITS = hasattr(Protocol(Side.SERVER), "max_message_size")
SIZE_ATTRIBUTE = "current_size" if SPLIT_LIMITS else "cur_size"
LIMITS: list[Any] = [None, 0, 1, 125, 1000, 70000, 1 << 20]
if SPLIT_LIMITS:
    LIMITS += [(1000, 100), (None, 125), (70000, None), (1 << 20, 100_000)]

EOF = None  # a chunk that stands for the end of the stream


@contextlib.contextmanager
def on_codec(implementation: str) -> Iterator[str]:
    """The patched parser and serializer on the pure-Python twins ("python") or on the C kernels
    ("c", skipped where they are not in use)."""
    if implementation == "python":
        with mock.patch.object(_websockets_codec, "take_frame", _frames_py.take_frame), \
                mock.patch.object(_websockets_codec, "PayloadFill", _frames_py.PayloadFill), \
                mock.patch.object(_websockets_codec, "parse_frame_header", _kernels_py.parse_frame_header), \
                mock.patch.object(_websockets_codec, "encode_frame", _frames_py.encode_frame):  # fmt: skip
            yield "python"
        return
    if kernels.IMPLEMENTATION != "c":
        pytest.skip("the C kernels are not in use (not built, or WSFAST_NO_EXTENSIONS=1)")
    assert _websockets_codec.take_frame is kernels.take_frame and kernels.take_frame is not _frames_py.take_frame
    yield "c"


@pytest.fixture(scope="module", params=["python", "c"])
def codec(request: pytest.FixtureRequest) -> Iterator[str]:
    """The patched parser and serializer on the pure-Python twins, then on the C kernels."""
    with on_codec(request.param) as implementation:
        yield implementation


@contextlib.contextmanager
def counted_keys() -> Iterator[None]:
    """secrets.token_bytes (websockets' masking keys) from a counter, the same in every run."""
    count = iter(range(1, 1 << 30))
    with mock.patch("secrets.token_bytes", lambda size: next(count).to_bytes(size, "big")):
        yield


# ---------------------------------------------------------------------------------- streams


PAYLOADS = st.binary(max_size=300) | st.sampled_from([b"", b"\xff", "é".encode(), b"\xe2\x82", b"x" * 126])
TEXTS = st.text(max_size=120)

PEER_ITEMS = st.one_of(
    st.tuples(st.just("text"), TEXTS, st.lists(st.integers(0, 200), max_size=3)),
    st.tuples(st.just("binary"), PAYLOADS, st.lists(st.integers(0, 400), max_size=3)),
    st.tuples(st.sampled_from(["ping", "pong"]), st.binary(max_size=125)),
    # large enough to be read straight into its payload (PayloadFill), whole or in fragments
    st.tuples(st.just("binary"), st.integers(65536, 140_000).map(lambda n: b"\x5a" * n),
              st.lists(st.integers(0, 140_000), max_size=2)),
)
DEFINED = st.sampled_from([0, 1, 2, 8, 9, 10])
FORMS = st.sampled_from(["minimal", "minimal", "16", "64"])  # non-minimal lengths too


def _frames(opcode: Any, payload: Any = PAYLOADS, fin: Any = st.booleans(), rsv: Any = st.just(0),
            right_mask: Any = st.just(True), form: Any = FORMS) -> Any:
    return st.tuples(st.just("frame"), opcode, payload, fin, rsv, right_mask, form)


HOSTILE_ITEMS = st.one_of(
    _frames(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])),  # reserved opcodes
    _frames(DEFINED, rsv=st.integers(1, 7)),  # reserved bits (RSV1 is permessage-deflate's)
    _frames(DEFINED, right_mask=st.just(False)),  # the wrong mask bit
    _frames(st.sampled_from([8, 9, 10]), st.binary(min_size=120, max_size=130)),  # control frames over 125
    _frames(DEFINED),  # continuations out of place, fragmented control frames, non-minimal lengths
    _frames(st.integers(0, 15), rsv=st.integers(0, 7), right_mask=st.booleans()),  # anything
    st.tuples(st.just("close"), st.sampled_from([b"", b"\x03", b"\x03\xe8", b"\x03\xe8bye", b"\x03\xe7",
                                                 b"\x0b\xb8\xff", b"\x0f\xa0ok", b"\x03\xec"])),
    st.tuples(st.just("claim"), st.sampled_from([126, 70000, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1])),
    st.tuples(st.just("bomb"), st.sampled_from([1000, 100_000, 1 << 20])),
    st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=12)),
)
CALLS = st.one_of(
    st.tuples(st.just("send_text"), TEXTS),
    st.tuples(st.just("send_binary"), PAYLOADS),
    st.tuples(st.just("send_ping"), st.binary(max_size=125)),
    st.tuples(st.just("send_close"), st.sampled_from([None, 1000, 4000])),
)


def deflate_pair(params: tuple[bool, bool, int, int]) -> tuple[Any, Any]:
    """permessage-deflate for the side under test and its peer, agreed on ``params``."""
    side_nct, peer_nct, side_bits, peer_bits = params
    make = deflate_module.PerMessageDeflate
    return make(peer_nct, side_nct, peer_bits, side_bits), make(side_nct, peer_nct, side_bits, peer_bits)


def build_stream(side: Any, deflate: tuple[bool, bool, int, int] | None, items: list[tuple]) -> bytes:
    """The bytes a peer of ``side`` sends: its own messages (websockets' peer, unpatched) and the
    hostile frames, in order."""
    masked = side is Side.SERVER
    peer = Protocol(Side.CLIENT if masked else Side.SERVER, max_size=None)
    if deflate is not None:
        peer.extensions = [deflate_pair(deflate)[1]]
    out = bytearray()
    for item in items:
        kind = item[0]
        if kind in ("text", "binary"):
            data = item[1].encode() if kind == "text" else item[1]
            cuts = sorted({cut % (len(data) + 1) for cut in item[2]})
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
            for index, piece in enumerate(pieces):
                fin = index == len(pieces) - 1
                if index == 0:
                    (peer.send_text if kind == "text" else peer.send_binary)(piece, fin=fin)
                else:
                    peer.send_continuation(piece, fin=fin)
        elif kind in ("ping", "pong"):
            (peer.send_ping if kind == "ping" else peer.send_pong)(item[1])
        elif kind == "frame":
            _, opcode, payload, fin, rsv, right_mask, form = item
            out += b"".join(peer.data_to_send())
            out += support.raw_frame(opcode, payload, fin=fin, rsv=rsv, masked=masked == right_mask, length_form=form)
        elif kind == "close":
            out += b"".join(peer.data_to_send()) + support.raw_frame(8, item[1], masked=masked)
        elif kind == "claim":
            out += b"".join(peer.data_to_send()) + support.raw_frame(2, b"", masked=masked, claimed=item[1])
        elif kind == "bomb":
            out += b"".join(peer.data_to_send()) + support.raw_frame(2, support.deflate_bomb(item[1]), rsv=4, masked=masked)
        else:
            out += b"".join(peer.data_to_send()) + item[1]
        out += b"".join(peer.data_to_send())
    return bytes(out)


def chunks_of(stream: bytes, how: str, cuts: list[int], eof: bool) -> list[bytes | None]:
    if how == "whole":
        pieces = [stream]
    elif how == "reads":  # as a socket reads: fixed-size pieces, the first cut's size
        size = 1000 + (cuts[0] if cuts else 0) % 20_000
        pieces = [stream[index : index + size] for index in range(0, len(stream), size)]
    elif how == "bytes":
        pieces = [stream[index : index + 1] for index in range(len(stream))]
    else:
        points = sorted({cut % (len(stream) + 1) for cut in cuts})
        pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    return [*pieces, EOF] if eof else pieces


# ---------------------------------------------------------------------------------- one run


def _error(error: BaseException | None) -> tuple | None:
    return None if error is None else (type(error), str(error))


def snapshot(protocol: Any, raised: BaseException | None) -> tuple:
    events = protocol.events_received()
    return (
        [(frame, type(frame.data)) for frame in events],
        protocol.data_to_send(),
        protocol.state,
        protocol.close_rcvd,
        protocol.close_sent,
        protocol.close_rcvd_then_sent,
        _error(protocol.parser_exc),
        _error(raised),
        getattr(protocol, SIZE_ATTRIBUTE),
    )


def run(side: Any, limit: Any, deflate: tuple | None, steps: list[tuple]) -> list[tuple]:
    """A fresh Protocol through ``steps`` (("data", bytes), ("eof",) or an API call): its snapshots."""
    protocol = Protocol(side, max_size=limit)
    if deflate is not None:
        protocol.extensions = [deflate_pair(deflate)[0]]
    seen = []
    with counted_keys():
        for step in steps:
            raised = None
            try:
                if step[0] == "data":
                    protocol.receive_data(step[1])
                elif step[0] == "eof":
                    protocol.receive_eof()
                elif step[0] == "send_close":
                    protocol.send_close(step[1])
                else:
                    getattr(protocol, step[0])(step[1])
            except Exception as error:  # noqa: BLE001 - compared, not judged
                raised = error
            seen.append(snapshot(protocol, raised))
    return seen


def differential(side: Any, limit: Any, deflate: tuple | None, steps: list[tuple]) -> None:
    wsfast.accelerate.uninstall("websockets")
    expected = run(side, limit, deflate, steps)
    wsfast.accelerate.install("websockets")
    try:
        got = run(side, limit, deflate, steps)
    finally:
        wsfast.accelerate.uninstall("websockets")
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        assert mine == theirs, f"step {index} ({steps[index][0]}): with wsfast {support.short(mine)}, without {support.short(theirs)}"
    assert len(got) == len(expected)


DEFLATE = st.none() | st.tuples(st.booleans(), st.booleans(), st.integers(9, 15), st.integers(9, 15))


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    server=st.booleans(),
    limit=st.sampled_from(LIMITS),
    deflate=DEFLATE,
    items=st.lists(st.one_of(PEER_ITEMS, PEER_ITEMS, HOSTILE_ITEMS), max_size=8),
    how=st.sampled_from(["whole", "bytes", "splits", "splits", "reads"]),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=6),
    eof=st.booleans(),
    truncate=st.none() | st.integers(0, 1 << 18),
    calls=st.lists(st.tuples(st.integers(0, 1 << 16), CALLS), max_size=3),
)
def test_same_as_websockets_own(codec, server, limit, deflate, items, how, cuts, eof, truncate, calls):
    side = Side.SERVER if server else Side.CLIENT
    stream = build_stream(side, deflate, items)
    if truncate is not None:
        stream = stream[: truncate % (len(stream) + 1)]
    if how == "bytes" and len(stream) > 2000:
        how = "splits"  # byte by byte, but bounded in time
    steps: list[tuple] = [("data", chunk) if chunk is not None else ("eof",)
                          for chunk in chunks_of(stream, how, cuts, eof)]  # fmt: skip
    for position, call in calls:
        steps.insert(position % (len(steps) + 1), call)
    differential(side, limit, deflate, steps)


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("deflate", [None, (False, False, 15, 15)], ids=["plain", "deflate"])
def test_a_conversation_byte_by_byte(codec, server, deflate):
    """Every kind of traffic, one byte per call: waiting mid-header, mid-key and mid-payload."""
    side = Side.SERVER if server else Side.CLIENT
    items = [("text", "héllo wörld " * 20, [5, 100]), ("ping", b"p"), ("binary", b"\x00" * 70000, []),
             ("pong", b""), ("close", b"\x03\xe8bye"), ("text", "late", [])]  # fmt: skip
    stream = build_stream(side, deflate, items)
    steps: list[tuple] = [("data", stream[index : index + 1]) for index in range(len(stream))]
    differential(side, 1 << 20, deflate, [*steps[:40], ("send_text", "between"), *steps[40:], ("eof",)])


@pytest.mark.parametrize("claim", [(1 << 63) - 1, 1 << 63, (1 << 64) - 1])
@pytest.mark.parametrize("limit", [None, 1 << 20])
def test_huge_lengths(codec, claim, limit):
    """A 64-bit length websockets either refuses at once (over the limit) or waits on (no limit)."""
    stream = support.raw_frame(2, b"", masked=True, claimed=claim) + b"\x00" * 100
    differential(Side.SERVER, limit, None, [("data", stream[:5]), ("data", stream[5:]), ("eof",)])


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    server=st.booleans(),
    limit=st.sampled_from([None, 100_000, 1 << 20] + ([(1 << 20, 80_000)] if SPLIT_LIMITS else [])),
    deflate=st.none() | st.just((False, False, 15, 15)),
    # mostly sizes whose larger fragment is read straight into its payload (from 65,536 bytes)
    sizes=st.lists(st.integers(100_000, 300_000) | st.integers(100_000, 300_000) | st.integers(0, 100_000),
                   min_size=1, max_size=3),
    read=st.integers(500, 40_000),
    truncate=st.none() | st.integers(0, 1 << 19),
    eof=st.booleans(),
)
def test_large_frames_in_reads(codec, server, limit, deflate, sizes, read, truncate, eof):
    """Large messages (some over the limit) in socket-sized reads, possibly cut short: the frames
    read straight into their payloads must be websockets' own, and so must every error."""
    side = Side.SERVER if server else Side.CLIENT
    items = [("binary", bytes(range(256)) * (size // 256) + b"\x01" * (size % 256), [size // 3]) for size in sizes]
    stream = build_stream(side, deflate, items)
    if truncate is not None:
        stream = stream[: truncate % (len(stream) + 1)]
    steps: list[tuple] = [("data", stream[index : index + read]) for index in range(0, len(stream), read)]
    differential(side, limit, deflate, [*steps, ("eof",)] if eof else steps)


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("end", [0, 1, 4, 10, 14, 30_000, 70_000, 140_013, None])
def test_a_large_frame_cut_anywhere(codec, server, end):
    """A 140,000-byte frame in 7,000-byte reads, ending at EOF anywhere: in its header, before a
    quarter of it is in (gathered in the buffer), or after (read straight into its payload)."""
    side = Side.SERVER if server else Side.CLIENT
    stream = support.raw_frame(2, bytes(range(256)) * 546 + b"tail", masked=server, length_form="64")[:end]
    steps: list[tuple] = [("data", stream[index : index + 7000]) for index in range(0, len(stream), 7000)]
    differential(side, 1 << 20, None, [*steps, ("eof",)])
    differential(side, 1 << 20, None, steps)


def test_a_fail_while_a_large_frame_fills_leaves_the_rest_to_websockets(codec):
    """fail() replaces the parser while a large frame is read into its payload: the reads after it
    are websockets' discard()'s, also while the abandoned parser lives on (CPython finalizes it at
    once, PyPy later; here a reference keeps it), and nothing more goes into its payload."""
    stream = support.raw_frame(2, bytes(range(256)) * 800, masked=True)
    differential(Side.SERVER, None, None, [("data", stream[:100_000]), ("fail", 1011),
                                           ("data", stream[100_000:150_000]), ("eof",)])  # fmt: skip
    wsfast.accelerate.install("websockets")
    try:
        protocol = Protocol(Side.SERVER, max_size=None)
        protocol.receive_data(stream[:100_000])  # over a quarter: the payload fills from here
        abandoned, (_, fill) = protocol.parser, protocol._wsfast_filling
        protocol.fail(1011)
        received = fill.received
        protocol.receive_data(stream[100_000:150_000])
        assert fill.received == received and protocol.parser is not abandoned
    finally:
        wsfast.accelerate.uninstall("websockets")


def test_a_deflate_bomb_is_refused_alike(codec):
    stream = support.raw_frame(2, support.deflate_bomb(1 << 22), rsv=4, masked=True)
    differential(Side.SERVER, 1 << 20, (False, False, 15, 15), [("data", stream)])


@pytest.mark.parametrize("side, data", [(Side.CLIENT, b"\x81\x00"), (Side.SERVER, b"\x81\x80\x00\x00\x00\x00")])
def test_an_internal_error_in_the_parser_fails_as_websockets_does(codec, side, data):
    """websockets' ErrorTests.test_*_hits_internal_error_reading_frame fake a parser bug by making
    struct.unpack raise, which the patched parser never calls; the same fault in take_frame must
    get websockets' answer: parser_exc is the error, and the connection fails with 1011."""
    wsfast.accelerate.install("websockets")
    try:
        protocol = Protocol(side)
        with mock.patch.object(_websockets_codec, "take_frame", side_effect=RuntimeError("BOOM")):
            protocol.receive_data(data)
        assert isinstance(protocol.parser_exc, RuntimeError) and str(protocol.parser_exc) == "BOOM"
        assert protocol.close_sent is not None and (protocol.close_sent.code, protocol.close_sent.reason) == (1011, "")
        assert protocol.state is State.CLOSING
        assert protocol.close_expected()  # as websockets' assertConnectionFailing checks
    finally:
        wsfast.accelerate.uninstall("websockets")


def test_the_data_types_are_websockets_own(codec):
    """A client's unmasked payloads come out of websockets' reader as bytearray (14 and later) or
    bytes (13); the patch hands out the same type."""
    stream = support.raw_frame(2, b"abc", masked=False)
    wsfast.accelerate.uninstall("websockets")
    expected = run(Side.CLIENT, None, None, [("data", stream)])
    wsfast.accelerate.install("websockets")
    got = run(Side.CLIENT, None, None, [("data", stream)])
    assert got == expected
    assert got[0][0][0][1] in (bytes, bytearray)


def test_masking_keys_come_from_wsfast_pool_unless_token_bytes_is_replaced(codec):
    """secrets.token_bytes is os.urandom; the patch draws the same bytes from wsfast's pool of them,
    one os.urandom call per 1024 keys. A replaced token_bytes (a test fixing keys) is called instead."""
    wsfast.accelerate.install("websockets")
    try:
        _random._forget_pool()
        frames = [frames_module.Frame(frames_module.Opcode.BINARY, b"abc%d" % n).serialize(mask=True) for n in range(3)]
        assert _random.key_pool.position == 12  # three keys drawn from a fresh pool
        keys = [support.unmasked(frame)[0] for frame in frames]
        assert [support.unmasked(frame)[1] for frame in frames] == [b"abc0", b"abc1", b"abc2"]
        assert len(set(keys)) == 3
        with counted_keys():
            frames = [frames_module.Frame(frames_module.Opcode.BINARY, b"abc").serialize(mask=True) for _ in range(2)]
        assert [support.unmasked(frame) for frame in frames] == [(bytes([0, 0, 0, n]), b"abc") for n in (1, 2)]
        assert _random.key_pool.position == 12
    finally:
        wsfast.accelerate.uninstall("websockets")


def test_install_checks_websockets_shape(monkeypatch):
    """A websockets whose parse() reads differently is refused by name, and skipped with a warning."""
    from wsfast.accelerate import _websockets

    def broken_verify() -> None:
        raise wsfast.accelerate.UnsupportedVersion("not as expected")

    monkeypatch.setattr(_websockets, "verify", broken_verify)
    original = Protocol.parse
    with pytest.raises(wsfast.accelerate.UnsupportedVersion):
        wsfast.accelerate.install("websockets")
    assert Protocol.parse is original and "websockets" not in wsfast.accelerate.installed()
    with pytest.warns(RuntimeWarning, match="leaves websockets as it is"):
        wsfast.accelerate.install()
    assert Protocol.parse is original and "websockets" not in wsfast.accelerate.installed()


def test_an_unknown_parse_is_refused():
    def parse(self: Any) -> Iterator[None]:
        yield

    with pytest.raises(wsfast.accelerate.UnsupportedVersion):
        _websockets_codec.make_parse(parse)


def test_installed_names_the_level():
    wsfast.accelerate.install("websockets")
    # "frames, send" where the asyncio send path is known too (tests/accelerate/test_websockets_send.py)
    assert wsfast.accelerate.installed()["websockets"] in ("frames", "frames, send")
    assert Protocol.parse.__wrapped__ is not None and frames_module.Frame.serialize.__wrapped__ is not None
    wsfast.accelerate.uninstall("websockets")
    assert not hasattr(Protocol.parse, "__wrapped__")


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_websockets_asyncio_and_sync_echo_with_it_installed(compression):
    """websockets' own asyncio server, and its asyncio and sync clients, all on the patched Protocol:
    every message comes back as sent, at every length form, compressed or not."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.sync.client import connect as sync_connect

    from tests.support import run_async

    wsfast.accelerate.install("websockets")
    assert hasattr(Protocol.parse, "__wrapped__")
    messages = ["", "é" * 40, "x" * 126, b"\x00" * 65536, b"\xab" * (1 << 20) + b"!", "z" * 70000]

    async def main() -> None:
        async def echo(websocket: Any) -> None:
            async for message in websocket:
                await websocket.send(message)

        async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=None) as client:
                for message in messages:
                    await client.send(message)
                    assert await client.recv() == message

            def sync_client() -> list[Any]:
                with sync_connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=None) as ws:
                    echoes = []
                    for message in messages:
                        ws.send(message)
                        echoes.append(ws.recv(timeout=10))
                    return echoes

            assert await asyncio.to_thread(sync_client) == messages

    run_async(main(), timeout=60)
