"""Shared by the tests of wsfast.accelerate and wsfast.compat: peers, inputs, outcome comparison."""

from __future__ import annotations

import array
import contextlib
import importlib
import importlib.util
import platform
import reprlib
import sys
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import strategies as st

import wsfast.accelerate


def require(name: str) -> ModuleType:
    """A peer library: the test extra installs it on CPython, so there it must import."""
    if platform.python_implementation() == "CPython":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@contextlib.contextmanager
def accelerated(name: str) -> Iterator[None]:
    """wsfast installed into one library for the duration of the block."""
    wsfast.accelerate.install(name)
    try:
        yield
    finally:
        wsfast.accelerate.uninstall(name)


def outcome(function: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call does, comparable across implementations: its result (and type) or its exception
    class. Messages are left out: a fast path and the original may word a refusal differently."""
    try:
        result = function(*args)
    except Exception as error:  # noqa: BLE001 - the class is what is compared
        return ("raises", type(error))
    return ("returns", type(result), result)


def strided(data: bytes) -> memoryview:
    """A non-contiguous view of ``data``: every other byte of a buffer twice as long."""
    doubled = bytearray(2 * len(data))
    doubled[::2] = data
    return memoryview(doubled)[::2]


def two_rows(data: bytes) -> memoryview:
    """A two-dimensional view of ``data`` (of as many bytes as fill two rows; flat below 2 bytes)."""
    if len(data) < 2:
        return memoryview(data)
    return memoryview(data[: len(data) // 2 * 2]).cast("B", (2, len(data) // 2))


BUFFER_KINDS: dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": memoryview,
    "strided": strided,
    "array-B": lambda data: array.array("B", data),
    "array-b": lambda data: array.array("b", data),
    "array-i": lambda data: array.array("i", data[: len(data) // 4 * 4]),
    "view-c": lambda data: memoryview(data).cast("c"),
    "view-2d": two_rows,
    "list": list,
    "tuple": tuple,
    "str": lambda data: data.decode("latin-1"),
}

#: Things that are not byte buffers at all.
NOT_BUFFERS: tuple[Any, ...] = (None, 5, 1.5, object(), "text", [1, 300], [-1])

KEYS = st.binary(min_size=4, max_size=4)
#: Lengths around the kernels' block sizes and the GIL-release threshold.
SIZES = st.one_of(st.integers(0, 70), st.integers(250, 260), st.integers(4090, 4100), st.integers(65530, 65540))


#: Pieces of text for the UTF-8 validators: valid, random, and parts of code points cut anywhere.
UTF8_PIECES = st.one_of(
    st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=8),
    st.sampled_from([b"\xe2", b"\x82", b"\xac", b"\xf0\x9f", b"\x98\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90"]),
)


def utf8_steps(chunk_kinds: list[str], byte_range: tuple[int, int], index_range: tuple[int, int]) -> Any:
    """Calls on a Hoehrmann validator: validate a chunk, decode a byte, set ``state`` or ``i``, reset."""
    return st.one_of(
        st.tuples(st.just("validate"), UTF8_PIECES, st.sampled_from(chunk_kinds)),
        st.tuples(st.just("decode"), st.integers(*byte_range)),
        st.tuples(st.just("state"), st.integers(0, 8)),
        st.tuples(st.just("i"), st.integers(*index_range)),
        st.just(("reset",)),
    )


def run_utf8_steps(validator_class: type, steps: list) -> list:
    """The outcome of each step and the public state after it."""
    validator, results = validator_class(), []
    for step in steps:
        if step[0] == "validate":
            results.append(outcome(validator.validate, BUFFER_KINDS[step[2]](step[1])))
        elif step[0] == "decode":
            results.append(outcome(validator.decode, step[1]))
        elif step[0] == "reset":
            validator.reset()
        else:
            setattr(validator, step[0], step[1])
        results.append((validator.state, validator.i, validator.codepoint))
    return results


def fresh_copy(name: str, *, hide: tuple[str, ...] = ()) -> ModuleType:
    """A new execution of module ``name``, not registered in sys.modules, for which the modules in
    ``hide`` do not import (to get the flavour of a library built without them)."""
    saved = {key: sys.modules.get(key) for key in hide}
    sys.modules.update(dict.fromkeys(hide))  # None: importing them fails
    try:
        spec = importlib.util.find_spec(name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for key, value in saved.items():
            if value is None:
                del sys.modules[key]
            else:
                sys.modules[key] = value


WSACCEL_MODULES = ("wsaccel", "wsaccel.xormask", "wsaccel.utf8validator")


def pair_fixture(originals: dict[str, Any], make: Callable[[Any], Any]) -> Any:
    """A fixture giving (original, replacement made from it) for each flavour of a library."""

    @pytest.fixture(scope="module", params=list(originals))
    def pair(request: pytest.FixtureRequest) -> tuple[Any, Any]:
        original = originals[request.param]
        return original, make(original)

    return pair


#: The arguments of a differential masking test: payload size and bytes, key, and their buffer types.
MASK_CASES = {
    "size": SIZES,
    "key": KEYS,
    "seed": st.binary(min_size=1),
    "data_kind": st.sampled_from(list(BUFFER_KINDS)),
    "key_kind": st.sampled_from(list(BUFFER_KINDS)),
}


def payload(size: int, seed: bytes) -> bytes:
    return (seed * (size // len(seed) + 1))[:size]


def bytewise_xor(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(byte ^ key[(offset + index) % 4] for index, byte in enumerate(data))


@pytest.fixture(autouse=True)
def _nothing_installed() -> Iterator[None]:
    """Every test starts and ends with every library as it was."""
    wsfast.accelerate.uninstall()
    yield
    wsfast.accelerate.uninstall()


# ---------------------------------------------------------------------------------- streams


def unmasked(frame: bytes) -> tuple[bytes, bytes]:
    """The key and the payload of a masked frame of at most 125 bytes."""
    key = frame[2:6]
    return key, bytes(byte ^ key[index % 4] for index, byte in enumerate(frame[6:]))


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool,
              length_form: str = "minimal", claimed: int | None = None) -> bytes:
    """A frame as an attacker writes it: any opcode and RSV bits, the mask bit as asked, the length
    in any of its three forms (non-minimal ones included), or a ``claimed`` length with no payload."""
    length = len(payload) if claimed is None else claimed
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    if length_form == "64" or length > 0xFFFF:
        head = bytes([first, 127]) + length.to_bytes(8, "big")
    elif length_form == "16" or length > 125:
        head = bytes([first, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, length])
    if not masked:
        return head + (payload if claimed is None else b"")
    key = b"\x5a\xc3\x0f\x96"
    body = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes([head[0], head[1] | 0x80]) + head[2:] + key + (body if claimed is None else b"")


def deflate_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(b"\x00" * size) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]  # RFC 7692 §7.2.1: the sender drops the final empty block's 00 00 ff ff


def short(value: Any) -> str:
    """A snapshot for a failure message, long payloads elided."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 160
    short.maxlist = short.maxtuple = 12
    return short.repr(value)
