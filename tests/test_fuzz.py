"""Fuzzing the sans-IO core with Hypothesis: only documented exceptions escape, invariants hold.

Targets (the invariants are written out in tests/fuzz/harness.py, shared with the atheris scripts):

- the frame decoder, Python twin and C at every SIMD level (``codec``): arbitrary and mutated
  frames, in arbitrary chunks of every buffer kind, under every option combination;
- ServerConnection / ClientConnection after a real handshake, with and without permessage-deflate:
  valid traffic, mutated traffic, crafted frames and decompression bombs in random chunks,
  interleaved with random API calls; and the same sessions run once with the C kernels and once
  with the twins, which must agree step by step (events at both ends, states, close codes,
  failures), masking keys drawn alike;
- the opening handshake: parse_request, parse_response, and both connections fed arbitrary,
  mutated and grammar-built upgrade requests and responses; ClientConnection on arbitrary URIs.

Inputs that hit a bug already reported are skipped (harness.KnownBug); each such bug has a strict
xfail test at the end of this file.

Budget: by default each test runs a few dozen to a few hundred examples, so that the whole file
takes well under a minute per implementation (the CI budget). For a long, on-demand run set
``WSFAST_FUZZ_EXAMPLES=N``: every test here then runs N examples (Hypothesis ``max_examples``):

    WSFAST_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q

Coverage-guided fuzzing with atheris (on demand, not collected by pytest):
``python tests/fuzz/fuzz_frames.py -atheris_runs=N`` (also fuzz_connection.py, fuzz_handshake.py);
``test_atheris_targets_run`` below runs each briefly when atheris is installed.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsfast import _frames_py, frames
from wsfast.client import ClientConnection
from wsfast.connection import Connection, Role, State
from wsfast.events import BinaryMessage
from wsfast.exceptions import PayloadTooBig, ProtocolError
from wsfast.handshake import parse_request
from wsfast.server import ServerConnection

from tests.support import C_AVAILABLE, examples

_FUZZ_DIR = Path(__file__).with_name("fuzz")


def _load_harness():
    spec = importlib.util.spec_from_file_location("wsfast_fuzz_harness", _FUZZ_DIR / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

#: WSFAST_FUZZ_EXAMPLES=N runs every test here with N examples instead of its CI budget.
EXAMPLES = int(os.environ.get("WSFAST_FUZZ_EXAMPLES") or 0)


def budget(default: int) -> settings:
    return settings(
        max_examples=EXAMPLES or examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def tolerating_known_bugs(test):
    """Skip an input that hits a bug already reported (harness.KnownBug; each has a strict xfail
    test at the end of this file), so the fuzzer goes on looking for new ones."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        try:
            test(*args, **kwargs)
        except harness.KnownBug:
            pass

    return wrapper


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


# ------------------------------------------------------------------------------ frame decoder

OPCODES = st.one_of(st.sampled_from([0, 1, 2, 8, 9, 10]), st.integers(0, 15))
PAYLOADS = st.one_of(
    st.binary(max_size=130),
    st.builds(lambda size, byte: bytes([byte]) * size, st.integers(120, 300), st.integers(0, 255)),
    st.sampled_from([b"\x00" * 65535, b"\x01" * 65536]),
)
KEYS = st.one_of(st.none(), st.binary(min_size=4, max_size=4))
SIZE_LIMITS = st.one_of(st.none(), st.integers(0, 300),
                        st.sampled_from([125, 65535, 65536, 1 << 20, (1 << 63) - 1, 1 << 63, 1 << 64, 1 << 70]))
INVALID_LIMITS = st.sampled_from([-1, -(1 << 70), 1.5, "10"])  # every feed fails: ValueError / TypeError


@st.composite
def wire_frames(draw) -> bytes:
    """One frame as encode_frame writes it: any opcode, flags, payload, masked or not."""
    fin, rsv1, rsv2, rsv3 = draw(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()))
    key = draw(KEYS)
    return _frames_py.encode_frame(draw(OPCODES), draw(PAYLOADS), fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3,
                                   mask=key if key is not None else False)


@st.composite
def lying_headers(draw) -> bytes:
    """A frame header alone, with any length in any of the three length encodings (minimal or not,
    most significant bit set or not), masked or not: the payload never comes."""
    first = draw(st.integers(0, 255))
    length = draw(st.one_of(st.integers(0, (1 << 64) - 1),
                            st.sampled_from([125, 126, 127, 65535, 65536, (1 << 63) - 1, 1 << 63, (1 << 64) - 1])))
    form = draw(st.integers(0, 2))
    masked = draw(st.booleans())
    mask_bit = 0x80 if masked else 0
    if form == 0 and length < 126:
        header = bytes([first, mask_bit | length])
    elif form <= 1 and length < 65536:
        header = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    return header + (b"\x01\x02\x03\x04" if masked else b"")


@st.composite
def decoder_options(draw) -> dict:
    def limit():  # an invalid limit one time in twenty
        return draw(INVALID_LIMITS) if draw(st.integers(0, 19)) == 0 else draw(SIZE_LIMITS)

    return {
        "expect_masked": draw(st.sampled_from([None, True, False])),
        "max_frame_size": limit(),
        "max_message_size": limit(),
        "allowed_rsv": draw(st.integers(0, 7)),
        "max_fragments": draw(st.one_of(st.none(), st.integers(0, 12), INVALID_LIMITS))
        if draw(st.integers(0, 19)) == 0 else draw(st.sampled_from([None, 1, 3, 4096])),
        "drop_empty_continuations": draw(st.booleans()),
    }


@st.composite
def empty_continuations(draw) -> bytes:
    """A run of empty, non-final continuation frames, masked or not: what the decoder may skip."""
    frame = b"\x00\x80" + draw(st.binary(min_size=4, max_size=4)) if draw(st.booleans()) else b"\x00\x00"
    return frame * draw(st.integers(1, 10))


@st.composite
def decoder_chunks(draw) -> list[tuple[bytes, str]]:
    pieces = draw(st.lists(st.one_of(wire_frames(), wire_frames(), lying_headers(), empty_continuations(),
                                     st.binary(max_size=40)), max_size=8))  # fmt: skip
    stream = bytearray(b"".join(pieces))
    for position, bits in draw(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), max_size=3)):
        if stream:
            stream[position % len(stream)] ^= bits
    chunks = _cut(bytes(stream), draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    kinds = st.sampled_from(harness.BUFFER_KINDS + (harness.NON_BUFFER,))
    result = []
    for chunk in chunks:
        kind = draw(kinds)
        if kind == harness.NON_BUFFER:
            result.append((b"", kind))  # a non-buffer between chunks, then the chunk itself
            kind = draw(st.sampled_from(harness.BUFFER_KINDS))
        result.append((chunk, kind))
    return result


@budget(250)
@given(options=decoder_options(), chunks=decoder_chunks(), into=st.sampled_from([None, False, True]))
@tolerating_known_bugs
def test_frame_decoder(codec, options, chunks, into):
    harness.check_frame_decoder(codec.FrameDecoder, options, chunks, into)


@budget(100)
@given(
    options=decoder_options(),
    specs=st.lists(st.tuples(st.sampled_from([0, 1, 2, 8, 9, 10]), st.binary(max_size=200), st.booleans(), KEYS),
                    max_size=10),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=10),
)
@tolerating_known_bugs
def test_frame_decoder_round_trip(codec, options, specs, cuts):
    """Frames that break no rule come back as they were encoded, however the bytes are chunked."""
    wire = b"".join(codec.encode_frame(op, payload, fin=fin, mask=key if key else False) for op, payload, fin, key in specs)
    for into in (None, True):
        harness.check_frame_decoder(codec.FrameDecoder, options, [(chunk, "bytes") for chunk in _cut(wire, cuts)], into)
    decoder = _frames_py.FrameDecoder(max_frame_size=None, max_message_size=None)
    try:
        decoded = decoder.feed(wire)
    except ProtocolError:
        return  # the sequence itself breaks a rule (fragmentation, control frame size)
    assert [(f.opcode, f.payload, f.fin) for f in decoded] == [(op, payload, fin) for op, payload, fin, _ in specs]


# -------------------------------------------------------------------------------- connection

TEXTS = st.text(st.characters(codec="utf-8"), max_size=40)
UTF8 = st.one_of(TEXTS, TEXTS.map(lambda text: text.encode("utf-8")))
SMALL = st.binary(max_size=60)
CONTROL = st.one_of(st.binary(max_size=125), st.binary(min_size=120, max_size=130))
REASONS = st.one_of(st.text(max_size=20), st.text(st.characters(codec="utf-8"), min_size=30, max_size=70))
CUTS = st.lists(st.integers(0, 1 << 20), max_size=6)


@st.composite
def peer_fragmented(draw) -> tuple:
    text = draw(st.booleans())
    data = draw(TEXTS).encode("utf-8") if text else draw(SMALL)  # text cut anywhere, even inside a character
    return ("peer_fragmented", text, data, draw(st.lists(st.integers(0, 200), max_size=4)), draw(st.booleans()))


PEER_OPS = st.one_of(
    st.tuples(st.just("peer_text"), TEXTS),
    st.tuples(st.just("peer_binary"), st.one_of(SMALL, st.integers(0, 5000).map(lambda size: b"\x07" * size))),
    peer_fragmented(),
    st.tuples(st.just("peer_ping"), st.binary(max_size=125)),
    st.tuples(st.just("peer_pong"), st.binary(max_size=125)),
    st.tuples(st.just("peer_close"), st.sampled_from(harness.SENDABLE_CODES), st.text(max_size=20)),
    st.tuples(st.just("peer_close"), st.none(), st.just("")),
)
DELIVER = st.tuples(st.just("deliver"), CUTS)
API_OPS = st.one_of(
    st.tuples(st.just("send_text"), UTF8, st.booleans()),
    st.tuples(st.just("send_binary"), SMALL, st.booleans()),
    st.tuples(st.just("send_continuation"), UTF8, st.booleans()),
    st.tuples(st.just("ping"), CONTROL),
    st.tuples(st.just("pong"), CONTROL),
    st.tuples(st.just("close"), st.one_of(st.none(), st.sampled_from(harness.SENDABLE_CODES + harness.UNSENDABLE_CODES)),
              st.one_of(st.just(""), REASONS)),
)
RARELY = st.integers(0, 3).map(lambda n: n == 0)  # True one time in four
# Payloads that get past the frame checks more often: text (valid or not), close payloads.
FRAME_PAYLOADS = st.one_of(
    st.binary(max_size=140),
    TEXTS.map(lambda text: text.encode("utf-8")),
    st.builds(lambda code, reason: code.to_bytes(2, "big") + reason,
              st.sampled_from(harness.SENDABLE_CODES + harness.UNSENDABLE_CODES), st.binary(max_size=8)),
)
HOSTILE_OPS = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=30)),
    st.tuples(st.just("frame"), OPCODES, FRAME_PAYLOADS, RARELY.map(lambda rare: not rare), RARELY, RARELY, RARELY,
              RARELY.map(lambda rare: not rare)),
    st.tuples(st.just("bomb"), st.one_of(st.integers(0, 4000), st.integers(0, 300_000)), st.integers(1, 4),
              st.booleans(), st.just(True)),
    st.tuples(st.just("mutate"), st.integers(0, 4), st.integers(0, 1 << 16), st.binary(max_size=4)),
)
WINDOW_BITS = st.one_of(st.none(), st.integers(8, 15))


@st.composite
def connection_configs(draw, deflate: bool) -> object:
    agreed = None
    if deflate:
        agreed = (draw(st.booleans()), draw(st.booleans()), draw(WINDOW_BITS), draw(WINDOW_BITS | st.just(True)))
    limits = st.one_of(st.none(), st.integers(0, 3000), st.just(1 << 20))
    return harness.ConnectionConfig(
        side=draw(st.sampled_from(["server", "client"])),
        deflate=agreed,
        max_message_size=draw(limits),
        max_frame_size=draw(limits),
        stream_fragments=draw(st.booleans()),
        auto_pong=draw(st.booleans()),
        on_data=draw(st.booleans()),
    )


def with_eof(data, ops: list) -> list:
    """One time in ten, the peer's EOF somewhere among ``ops``."""
    if data.draw(st.integers(0, 9)) == 0:
        ops.insert(data.draw(st.integers(0, len(ops))), ("eof",))
    return ops


def run_session(config, ops) -> None:
    session = harness.ConnectionSession(config)
    for op in ops:
        session.apply(op)
    session.finish()


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@budget(120)
@given(data=st.data())
@tolerating_known_bugs
def test_connection_valid_traffic(deflate, data):
    """Valid traffic both ways: besides the invariants, each end receives exactly what the other
    sent (or a prefix of it, then a 1009 when a limit is legitimately exceeded)."""
    config = data.draw(connection_configs(deflate))
    ops = data.draw(st.lists(st.one_of(PEER_OPS, DELIVER, DELIVER, API_OPS), min_size=1, max_size=25))
    run_session(config, with_eof(data, ops))


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@budget(200)
@given(data=st.data())
@tolerating_known_bugs
def test_connection_hostile_traffic(deflate, data):
    """Mutated traffic, crafted frames, bombs and garbage, interleaved with API calls."""
    config = data.draw(connection_configs(deflate))
    ops = data.draw(st.lists(st.one_of(PEER_OPS, HOSTILE_OPS, HOSTILE_OPS, DELIVER, DELIVER, API_OPS),
                             min_size=1, max_size=30))
    run_session(config, with_eof(data, ops))


# ---------------------------------------------------------------- connection, C against Python


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@budget(150)
@given(data=st.data())
def test_connection_c_and_python_agree(c_kernels, deflate, data):
    """The same traffic and API calls, with the C kernels and with the twins: the same events at
    both ends, states, close codes and failures after every step (masking keys drawn alike)."""
    config = data.draw(connection_configs(deflate))
    ops = data.draw(st.lists(st.one_of(PEER_OPS, HOSTILE_OPS, HOSTILE_OPS, DELIVER, DELIVER, API_OPS),
                             min_size=1, max_size=30))  # fmt: skip
    ops = with_eof(data, ops)
    assert harness.transcript(config, ops, twins=False) == harness.transcript(config, ops, twins=True)


@budget(60)
@given(
    side=st.sampled_from(["server", "client"]),
    size=st.integers(0, 2_000_000),
    fragments=st.integers(1, 5),
    limit=st.integers(0, 100_000),
    stream=st.booleans(),
    cuts=CUTS,
)
@tolerating_known_bugs
def test_decompression_bomb_is_bounded(side, size, fragments, limit, stream, cuts):
    """A deflate bomb never produces an event, nor a streamed message, over max_message_size; over
    the limit it fails the connection with 1009."""
    config = harness.ConnectionConfig(side=side, deflate=(False, False, None, True), max_message_size=limit,
                                      max_frame_size=None, stream_fragments=stream)
    session = harness.ConnectionSession(config)
    session.apply(("bomb", size, fragments, True, True))
    session.apply(("deliver", cuts))
    if size > limit:
        assert isinstance(session.side.failure, PayloadTooBig)
    else:
        assert session.side.failure is None
    session.finish()


# ---------------------------------------------------------------------------------- handshake

_VALUE_ALPHABET = st.sampled_from(list(' \t,;="\\/:abzAZ09-_.~!#%') + ["\x80", "\xff", "\x7f", "\x00"])
_GOOD_VALUES = {
    "Host": ["example.com", "example.com:8080", "[::1]:80", "a b", ""],
    "Upgrade": ["websocket", "WebSocket", "h2c, websocket", "websocket/13", "websocket, ", "foo"],
    "Connection": ["Upgrade", "keep-alive, Upgrade", "upgrade,,", "close"],
    "Sec-WebSocket-Key": [harness.KEY, "dGhlIHNhbXBsZSBub25jZQ", "AAAAAAAAAAAAAAAAAAAAAA==", "é" * 24],
    "Sec-WebSocket-Version": ["13", "8", "13, 8", " 13", "013"],
    "Sec-WebSocket-Protocol": ["chat", "superchat, chat", "v2.chat", ",", "a b", ""],
    "Sec-WebSocket-Extensions": [
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        'permessage-deflate; client_max_window_bits="10"; server_max_window_bits=9',
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=10, permessage-deflate",
        "x-unknown; a=1, permessage-deflate; foo",
        'permessage-deflate; client_max_window_bits="1\\0"',
        "permessage-deflate;;",
    ],
    "Origin": ["http://example.com", "https://a.example", "null"],
    "Content-Length": ["0", "00", "1", "-1", "0, 0", "99999999999999999999999"],
    "Transfer-Encoding": ["chunked"],
    "X-Other": ["anything"],
}
_NAMES = st.sampled_from(sorted(_GOOD_VALUES))


@st.composite
def header_lists(draw, base: list[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = list(base)
    for edit in draw(st.lists(st.integers(0, 3), max_size=5)):
        name = draw(_NAMES)
        value = draw(st.one_of(st.sampled_from(_GOOD_VALUES[name]), st.text(_VALUE_ALPHABET, max_size=30)))
        if edit == 0 or not headers:
            headers.insert(draw(st.integers(0, len(headers))), (name, value))
        else:
            index = draw(st.integers(0, len(headers) - 1))
            if edit == 1:
                del headers[index]
            elif edit == 2:
                headers[index] = (headers[index][0], value)
            else:
                headers.insert(index, headers[index])
    return headers


def _head(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"{start}\r\n{lines}\r\n".encode("latin-1") + body


@st.composite
def grammar_requests(draw) -> bytes:
    start = draw(st.one_of(st.just("GET /chat HTTP/1.1"),
                           st.sampled_from(["POST /chat HTTP/1.1", "GET /chat HTTP/1.0", "GET  HTTP/1.1",
                                            "GET /private/x HTTP/1.1", "HTTP/1.1 101 Switching Protocols",
                                            "GET /chat HTTP/2", "get /chat HTTP/1.1"])))
    base = [("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", harness.KEY), ("Sec-WebSocket-Version", "13")]
    return _head(start, draw(header_lists(base)))


@st.composite
def grammar_responses(draw) -> bytes:
    start = draw(st.one_of(st.just("HTTP/1.1 101 Switching Protocols"),
                           st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.0 404 Not Found", "HTTP/1.1 100 Continue",
                                            "HTTP/1.0 101 Switching Protocols", "HTTP/1.1 099 Low",
                                            "HTTP/1.1 204 No Content", "GET / HTTP/1.1"])))
    base = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", harness.ACCEPT_PLACEHOLDER.decode())]
    interim = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"]))
    headers = draw(header_lists(base))
    if draw(st.booleans()):
        headers.append(("Content-Length", str(draw(st.integers(0, 20)))))
    return interim + _head(start, headers, draw(st.binary(max_size=30)))


@st.composite
def mutated(draw, valid: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(valid))
    for kind, position, extra in draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16),
                                                         st.binary(max_size=6)), max_size=4)):
        where = position % (len(data) + 1)
        if kind == 0 and data:
            data[where % len(data)] ^= (extra[0] if extra else 0x20) or 1
        elif kind == 1:
            del data[where : where + 1 + len(extra)]
        elif kind == 2:
            data[where:where] = extra
        else:
            data[where:where] = data[where : where + 8]
    return bytes(data)


VALID_REQUESTS = st.builds(harness.valid_request, st.integers(0, 3), st.sampled_from(["/chat", "/private/x", "/"]))
VALID_RESPONSES = st.builds(harness.valid_response, st.integers(0, 3), st.integers(0, 5))
REQUESTS = st.one_of(st.binary(max_size=200), VALID_REQUESTS, mutated(VALID_REQUESTS), grammar_requests(),
                     mutated(grammar_requests()))
RESPONSES = st.one_of(st.binary(max_size=200), VALID_RESPONSES, mutated(VALID_RESPONSES), grammar_responses(),
                      mutated(grammar_responses()))
# A frame or two after the head: the connection reads them once open.
TRAILERS = st.one_of(st.just(b""), st.binary(max_size=20),
                     st.sampled_from([b"\x89\x82\x01\x02\x03\x04pk", b"\x88\x80\x01\x02\x03\x04", b"\x81\x02hi",
                                      b"\x89\x00", b"\x88\x02\x03\xe8"]))
HEAD_LIMITS = st.one_of(st.just(8192), st.integers(0, 400))
HEADER_LIMITS = st.one_of(st.just(128), st.integers(0, 12))


@budget(300)
@given(buffer=REQUESTS, split=st.integers(0, 1 << 16), max_size=HEAD_LIMITS, max_headers=HEADER_LIMITS)
@tolerating_known_bugs
def test_parse_request(buffer, split, max_size, max_headers):
    harness.check_parse_request(buffer, split, max_size, max_headers)


@budget(300)
@given(buffer=RESPONSES, split=st.integers(0, 1 << 16), max_size=HEAD_LIMITS, max_headers=HEADER_LIMITS,
       max_body_size=st.one_of(st.just(65536), st.integers(0, 40)))
@tolerating_known_bugs
def test_parse_response(buffer, split, max_size, max_headers, max_body_size):
    harness.check_parse_response(buffer, split, max_size, max_headers, max_body_size)


@budget(300)
@given(
    handshake=st.integers(0, len(harness.SERVER_HANDSHAKES) - 1),
    request=REQUESTS,
    trailer=TRAILERS,
    cuts=CUTS,
    max_head=HEAD_LIMITS,
    max_headers=HEADER_LIMITS,
    eof=st.booleans(),
)
@tolerating_known_bugs
def test_server_handshake(handshake, request, trailer, cuts, max_head, max_headers, eof):
    harness.check_server_handshake(handshake, request + trailer, cuts, max_head, max_headers, eof)


@budget(300)
@given(options=st.integers(0, len(harness.CLIENT_OPTIONS) - 1), response=RESPONSES, trailer=TRAILERS, cuts=CUTS,
       eof=st.booleans())
@tolerating_known_bugs
def test_client_handshake(options, response, trailer, cuts, eof):
    harness.check_client_handshake(options, response + trailer, cuts, eof)


_URI_ALPHABET = st.sampled_from(list("ws:/[]@?#%.-_~!$&'()*+,;=09azAZ \t\r\n\x00") + ["\u0130", "\u00e9", "\uff0e", "\u2100"])
URIS = st.one_of(
    st.text(_URI_ALPHABET, max_size=30).map(lambda rest: "ws://" + rest),
    st.text(_URI_ALPHABET, max_size=30),
    st.builds(lambda host, port: f"wss://{host}:{port}/", st.text(_URI_ALPHABET, max_size=8), st.integers(-5, 70000)),
)


@budget(300)
@given(uri=URIS)
def test_client_uri(uri):
    """ClientConnection(uri) raises only ValueError; an accepted URI gives a request that parses
    back to its path and Host."""
    try:
        client = ClientConnection(uri)
    except ValueError:
        return
    request = client.data_to_send()
    parsed = parse_request(request)
    assert parsed is not None and parsed[1] == len(request)
    assert parsed[0].path == client.uri.path
    assert parsed[0].headers["Host"] == client.uri.host_header


# ------------------------------------------------------------------------------------ atheris

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed (it is not in the test extra)")
@pytest.mark.parametrize("target", ["fuzz_frames", "fuzz_connection", "fuzz_handshake"])
def test_atheris_targets_run(target, tmp_path):
    """Each atheris target runs a few thousand inputs without finding anything."""
    runs = max(EXAMPLES, 3000)
    result = subprocess.run(
        [sys.executable, str(_FUZZ_DIR / f"{target}.py"), f"-atheris_runs={runs}", f"-artifact_prefix={tmp_path}/",
         "-seed=1"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


# ------------------------------------------------------------------------- bugs found by fuzzing

# A frame whose 64-bit payload length has its most significant bit set, right after a complete frame.
_MSB_AFTER_A_FRAME = b"\x82\x00" + b"\x82\x7f\x80" + b"\x00" * 7


def test_regression_python_decoder_msb_length_after_a_frame():
    # The Python twin used to raise BufferError here: the ProtocolError's traceback held a
    # memoryview of the buffer that feed() then had to resize.
    decoder = _frames_py.FrameDecoder()
    with pytest.raises(ProtocolError, match="most significant bit") as raised:
        decoder.feed(_MSB_AFTER_A_FRAME)
    assert raised.value.frames == [frames.Frame(frames.Opcode.BINARY, b"")]
    assert decoder.buffered == 10


def test_regression_connection_msb_length_after_a_frame():
    # ... and the BufferError escaped Connection.receive_data, losing the message before it.
    connection = Connection(Role.CLIENT)
    connection.receive_data(_MSB_AFTER_A_FRAME)
    assert connection.events_received() == [BinaryMessage(b"")]
    assert connection.failure is not None and connection.failure.close_code == 1002
    assert connection.state is State.CLOSING


class _Limit(enum.IntEnum):
    SMALL = 4


@pytest.mark.parametrize(("option", "limit"), [("max_frame_size", _Limit.SMALL), ("max_message_size", True)])
def test_regression_c_decoder_enforces_int_subclass_limits(c_kernels, option, limit):
    """Found by fuzzing: the C decoder once took an int subclass (IntEnum, bool) as no limit."""
    wire = _frames_py.encode_frame(2, b"0123456789")
    with pytest.raises(PayloadTooBig):
        _frames_py.FrameDecoder(**{option: limit}).feed(wire)
    with pytest.raises(PayloadTooBig):
        c_kernels.FrameDecoder(**{option: limit}).feed(wire)


def test_the_twin_runs_rebuild_the_connections_on_the_pure_python_hot_path():
    """The differential runs compare the compiled hot path with its twin, not with itself."""
    from wsfast import _openpath

    with harness.python_twins():
        for cls in (harness.ServerConnection, harness.ClientConnection):
            assert _openpath.ConnectionCore in cls.__mro__
            assert not any(base.__module__.endswith("_c") for base in cls.__mro__)
    assert harness.ServerConnection is ServerConnection
    if C_AVAILABLE:
        assert ServerConnection.__mro__[-2].__module__ == "wsfast._openpath_c"
    with harness.python_twins():  # the classes were rebuilt once, and are again the twins
        assert harness.ServerConnection is not ServerConnection or not C_AVAILABLE
