"""The public names, and that both implementations offer the same API."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest

import wsfast
import wsfast.exceptions
import wsfast.kernels
import wsfast.version
from wsfast import _kernels_py

from tests.support import C_AVAILABLE

KERNEL_NAMES = {
    "IMPLEMENTATION", "SIMD", "available_simd", "mask", "mask_into", "validate_utf8", "Utf8Validator",
    "parse_frame_header", "parse_http_head",
}  # fmt: skip


def test_top_level_exports():
    assert set(wsfast.__all__) == {
        "__version__", "broadcast", "connect", "serve", "mask", "mask_into", "validate_utf8", "Utf8Validator",
        *wsfast.exceptions.__all__,
    }  # fmt: skip
    for name in wsfast.__all__:
        assert hasattr(wsfast, name), name
    for name in wsfast.exceptions.__all__:
        assert getattr(wsfast, name) is getattr(wsfast.exceptions, name)
    assert wsfast.__version__ == wsfast.version.__version__ == importlib.metadata.version("wsfast")  # pyproject reads it
    assert issubclass(wsfast.InvalidHTTP, wsfast.InvalidHandshake) and issubclass(wsfast.InvalidHTTP, wsfast.ProtocolError)
    assert wsfast.mask is wsfast.kernels.mask
    assert wsfast.Utf8Validator is wsfast.kernels.Utf8Validator


CODEC_NAMES = {"encode_frame", "FrameDecoder", "take_frame", "PayloadFill"}


def test_kernel_exports():
    assert set(wsfast.kernels.__all__) == KERNEL_NAMES | CODEC_NAMES
    for name in wsfast.kernels.__all__:
        assert hasattr(wsfast.kernels, name), name
    assert set(_kernels_py.__all__) == KERNEL_NAMES


@pytest.mark.skipif(not C_AVAILABLE, reason="WSFAST_NO_EXTENSIONS=1: no C kernels")
def test_both_implementations_have_the_same_signatures():
    from wsfast import _kernels_c

    from wsfast import _frames_py

    assert set(_kernels_c.__all__) == KERNEL_NAMES | CODEC_NAMES
    twins = {name: _kernels_py for name in KERNEL_NAMES} | {name: _frames_py for name in CODEC_NAMES}
    for name in twins.keys() - {"IMPLEMENTATION", "SIMD", "Utf8Validator", "FrameDecoder", "PayloadFill"}:
        python_signature = inspect.signature(getattr(twins[name], name))
        c_signature = inspect.signature(getattr(_kernels_c, name))
        assert [(p.name, p.kind, p.default) for p in c_signature.parameters.values()] == [
            (p.name, p.kind, p.default) for p in python_signature.parameters.values()
        ], name
    for method in ("feed", "finish", "reset"):
        assert hasattr(_kernels_c.Utf8Validator, method)
    for attribute in ("feed", "buffered", "expect_masked", "max_frame_size", "max_message_size", "allowed_rsv"):
        assert hasattr(_kernels_c.FrameDecoder(), attribute)


def test_exception_tree():
    from wsfast.exceptions import InvalidHTTP, ProtocolError, WsfastError

    assert issubclass(ProtocolError, WsfastError)
    assert issubclass(InvalidHTTP, ProtocolError)
    assert ProtocolError("x").close_code == 1002
    assert ProtocolError("x", close_code=1009).close_code == 1009
    error = InvalidHTTP("bad", 431)
    assert (error.status_code, error.close_code, str(error)) == (431, 1002, "bad")
    for name in wsfast.exceptions.__all__:
        error = getattr(wsfast.exceptions, name)
        assert issubclass(error, WsfastError), name
    assert issubclass(wsfast.exceptions.PayloadTooBig, ProtocolError)
    assert wsfast.exceptions.PayloadTooBig("x").close_code == 1009
    assert wsfast.exceptions.InvalidPayload("x").close_code == 1007
