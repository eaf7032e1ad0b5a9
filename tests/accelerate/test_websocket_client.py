"""wsfast.accelerate in websocket-client: _mask and _validate_utf8, against both of its flavours (built
on wsaccel, and pure Python)."""

from __future__ import annotations

import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.accelerate._websocket_client import make_mask, make_validate_utf8

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
