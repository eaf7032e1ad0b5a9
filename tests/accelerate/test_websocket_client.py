"""wsfast.accelerate in websocket-client: _mask and _validate_utf8, against both of its flavours (built
on wsaccel, and pure Python)."""

from __future__ import annotations

import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.accelerate._websocket_client import make_mask, make_recv_header, make_validate_utf8
from wsfast.kernels import mask

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

websocket = support.require("websocket")
abnf = support.require("websocket._abnf")
utils = support.require("websocket._utils")


# websocket-client as it is built without wsaccel
FLAVOURS = {
    "python": (
        support.fresh_copy("websocket._abnf", hide=support.WSACCEL_MODULES)._mask,
        support.fresh_copy("websocket._utils", hide=support.WSACCEL_MODULES)._validate_utf8,
    )
}
if "XorMaskerSimple" in abnf._mask.__code__.co_names:
    FLAVOURS["wsaccel"] = (abnf._mask, utils._validate_utf8)


@pytest.fixture(scope="module", params=list(FLAVOURS))
def flavour(request):
    return FLAVOURS[request.param]


@settings(max_examples=examples(200), deadline=None)
@given(size=support.SIZES, key=st.one_of(support.KEYS, st.binary(max_size=6)), seed=st.binary(min_size=1),
       data_kind=st.sampled_from(["array-B"] * 4 + list(support.BUFFER_KINDS)),
       key_kind=st.sampled_from(["array-B"] * 4 + list(support.BUFFER_KINDS)))  # fmt: skip
def test_mask_same_as_the_original(flavour, size, key, seed, data_kind, key_kind):
    original = flavour[0]
    data = support.payload(size, seed)
    source, mask_value = support.BUFFER_KINDS[data_kind](data), support.BUFFER_KINDS[key_kind](key)
    expected = support.outcome(original, mask_value, source)
    assert support.outcome(make_mask(original), mask_value, source) == expected
    if data_kind == key_kind == "array-B" and len(key) == 4:
        assert expected == ("returns", bytes, support.bytewise_xor(data, key))


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_mask_odd_inputs(flavour, odd):
    original = flavour[0]
    key = array.array("B", b"abcd")
    assert support.outcome(make_mask(original), key, odd) == support.outcome(original, key, odd)
    assert support.outcome(make_mask(original), odd, key) == support.outcome(original, odd, key)


TEXTS = st.one_of(
    st.text().map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(),
    st.text(min_size=1).map(lambda text: text.encode()[:-1]),  # cut short inside a code point, maybe
)


@settings(max_examples=examples(500), deadline=None)
@given(text=TEXTS, kind=st.sampled_from(["bytes", "bytes", "bytearray", *support.BUFFER_KINDS]))
def test_validate_utf8_same_as_the_original(flavour, text, kind):
    original = flavour[1]
    data = support.BUFFER_KINDS[kind](text)
    assert support.outcome(make_validate_utf8(original), data) == support.outcome(original, data)


@pytest.mark.parametrize(
    ("data", "valid"),
    [(b"", True), (b"\xe2\x82\xac", True), (b"\xe2\x82", True), (b"\xf0", True), (b"\xff", False),
     (b"\xed\xa0\x80", False), (b"ok\xc0\xaf", False), ("é".encode() * 1000 + b"\xe2", True)],
)  # fmt: skip
def test_validate_utf8_accepts_text_cut_short(flavour, data, valid):
    assert make_validate_utf8(flavour[1])(data) is valid is flavour[1](data)


@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_validate_utf8_odd_inputs(flavour, odd):
    original = flavour[1]
    assert support.outcome(make_validate_utf8(original), odd) == support.outcome(original, odd)


def test_abnf_frames_with_it_installed():
    def masked_frame():
        frame = abnf.ABNF.create_frame("héllo wörld " * 5000, abnf.ABNF.OPCODE_TEXT)
        frame.get_mask_key = lambda length: b"\x01\x02\x03\x04"
        return frame.format()

    expected = masked_frame()
    with support.accelerated("websocket-client"):
        assert abnf._mask is not FLAVOURS.get("wsaccel", FLAVOURS["python"])[0]
        assert masked_frame() == expected
        assert abnf.ABNF.mask(b"abcd", abnf.ABNF.mask(b"abcd", "latin-1 text")) == b"latin-1 text"
        assert websocket._utils.validate_utf8("text ✓") is True
        bad_close = abnf.ABNF(1, 0, 0, 0, abnf.ABNF.OPCODE_CLOSE, 0, b"\x03\xe8\xc0\xaf")
        with pytest.raises(websocket.WebSocketProtocolException, match="Invalid close frame"):
            bad_close.validate(skip_utf8_validation=False)
        abnf.ABNF(1, 0, 0, 0, abnf.ABNF.OPCODE_CLOSE, 0, b"\x03\xe8bye \xe2\x82\xac").validate(False)


# ------------------------------------------------------------------ the read-ahead at a frame's start

class _Reference(abnf.frame_buffer):
    """websocket-client's frame buffer with its own recv_header, whatever is installed."""

    recv_header = getattr(abnf.frame_buffer.recv_header, "__wrapped__", abnf.frame_buffer.recv_header)


class _ReadingAhead(abnf.frame_buffer):
    recv_header = make_recv_header(_Reference.recv_header)


def _hostile_frame(draw) -> bytes:
    """A frame as a peer may send it: any opcode and RSV bits, masked or not, any length form
    (including non-minimal ones), text that may not be UTF-8, a close with any payload."""
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10]) | st.integers(0, 15))
    payload = draw(st.binary(max_size=300) | st.sampled_from([b"\xff\xfe", "h\u00e9".encode(), b"\x03\xe8ok"])
                   | st.integers(60_000, 70_000).map(lambda n: bytes(n)))  # fmt: skip
    first = draw(st.booleans()) << 7 | draw(st.integers(0, 7)) << 4 | opcode
    masked = draw(st.booleans())
    size = len(payload)
    form = draw(st.sampled_from(["minimal", "16", "64"]))
    if form == "minimal" and size < 126:
        head = bytes([first, masked << 7 | size])
    elif form != "64" and size < 65536:
        head = bytes([first, masked << 7 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, masked << 7 | 127]) + size.to_bytes(8, "big")
    key = draw(st.binary(min_size=4, max_size=4)) if masked else b""
    body = mask(payload, key) if masked else payload
    return head + key + body


@st.composite
def _streams(draw) -> list:
    """Frames, cut anywhere, with timeouts (None) between some pieces, and maybe cut short."""
    data = b"".join(_hostile_frame(draw) for _ in range(draw(st.integers(1, 6))))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)])]
    stream: list = []
    for piece in pieces:
        stream.append(piece)
        if draw(st.integers(0, 4)) == 0:
            stream.append(None)
    return stream


@settings(max_examples=examples(300), deadline=None)
@given(stream=_streams(), skip=st.booleans())
def test_reading_ahead_gives_the_frames_and_errors_of_websocket_clients_own(stream, skip):
    from wsfast.accelerate._websocket_client import received_frames

    assert received_frames(_ReadingAhead, stream, skip) == received_frames(_Reference, stream, skip)


def test_a_frame_in_one_piece_is_one_recv():
    """The point of it: a frame that is all there is read with one recv (websocket-client's own
    asks three times here: header, 16-bit length, payload), the next frame's start stays buffered."""
    from wsfast.accelerate._websocket_client import READ_AHEAD

    data = support.payload(300, b"abc")
    wire = bytes([0x82, 126]) + (300).to_bytes(2, "big") + data + bytes([0x81, 2]) + b"hi"
    asked: list[int] = []

    def recv(bufsize: int) -> bytes:
        asked.append(bufsize)
        nonlocal wire
        out, wire = wire[:bufsize], wire[bufsize:]
        return out

    reading_ahead = _ReadingAhead(recv, False)
    assert reading_ahead.recv_frame().data == data
    assert reading_ahead.recv_frame().data == b"hi"
    assert asked == [READ_AHEAD]
    wire = bytes([0x82, 126]) + (300).to_bytes(2, "big") + data
    asked.clear()
    assert _Reference(recv, False).recv_frame().data == data
    assert asked == [2, 2, 300]


@pytest.mark.parametrize("odd", [0, None, "text"])
def test_a_recv_that_returns_no_bytes_is_answered_as_websocket_client_answers_it(odd):
    """websocket-client's recv_strict stops reading when a recv returns something other than
    bytes; the read-ahead hands that value to it, and the outcome is the library's own."""

    def outcome(buffer_class) -> tuple:
        calls: list[int] = []

        def recv(bufsize: int):
            calls.append(bufsize)
            return odd if len(calls) == 1 else bytes([0x81, 1]) + b"x"

        return support.outcome(buffer_class(recv, False).recv_frame), len(calls) > 1

    assert outcome(_ReadingAhead) == outcome(_Reference)


def test_install_reads_ahead_and_checks_itself(monkeypatch):
    import wsfast.accelerate

    from wsfast.accelerate import _websocket_client

    assert wsfast.accelerate.install("websocket-client") == ("websocket-client",)
    try:
        assert wsfast.accelerate.installed()["websocket-client"] == "frames, mask, utf8"
        assert abnf.frame_buffer.recv_header.__wrapped__ is _Reference.recv_header
    finally:
        wsfast.accelerate.uninstall()
    assert abnf.frame_buffer.recv_header is _Reference.recv_header

    def wrong(original):  # a read-ahead that loses what it read
        def recv_header(self):
            self.recv(1)
            original(self)

        recv_header.__wrapped__ = original
        return recv_header

    monkeypatch.setattr(_websocket_client, "make_recv_header", wrong)
    with pytest.raises(wsfast.accelerate.UnsupportedVersion):
        wsfast.accelerate.install("websocket-client")
    assert abnf.frame_buffer.recv_header is _Reference.recv_header
