"""The pure-Python twin of every C kernel: same names, same results, same exceptions.

This module is the reference. It runs where the C build is absent, on PyPy, and under
``WSFAST_NO_EXTENSIONS=1``, and type checkers read it for the signatures of both implementations.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from ._buffers import (
    VALIDATOR_BUSY,
    key_offset,
    mask_key,
    non_negative,
    readable,
    start_offset,
    writable,
    write_back,
)
from .exceptions import InvalidHTTP, ProtocolError
from .limits import MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS

__all__ = [
    "IMPLEMENTATION",
    "SIMD",
    "available_simd",
    "mask",
    "mask_into",
    "validate_utf8",
    "Utf8Validator",
    "parse_frame_header",
    "parse_http_head",
]

IMPLEMENTATION: str = "python"  # "c" in the C kernels, which type checkers read as this module
SIMD: str | None = None

_utf8_decode = codecs.utf_8_decode


def available_simd() -> tuple[str, ...]:
    """The SIMD levels this implementation can use: none, for pure Python."""
    return ()


# ---------------------------------------------------------------------------------------- masking


# Below this size one big-integer XOR is fastest; above it, bytes.translate on every fourth byte.
_TRANSLATE_SIZE = 512
_XOR_TABLES: dict[int, bytes] = {}


def _xor_table(byte: int) -> bytes:
    """The translation table that XORs every byte with ``byte`` (built on first use)."""
    table = _XOR_TABLES.get(byte)
    if table is None:
        table = _XOR_TABLES[byte] = bytes(value ^ byte for value in range(256))
    return table


def _rotated(key: bytes, offset: int) -> bytes:
    return key[offset:] + key[:offset]


def _xor(view: Any, key: bytes, offset: int) -> bytes:
    """``view`` XOR the key repeated from ``offset``, as new bytes."""
    size = len(view)
    if not size:
        return b""
    rotated = _rotated(key, offset) if offset else key
    if size < _TRANSLATE_SIZE:
        pattern = (rotated * ((size >> 2) + 1))[:size]
        value = int.from_bytes(view, "little") ^ int.from_bytes(pattern, "little")
        return value.to_bytes(size, "little")
    data = bytearray(view)
    _translate_in_place(data, rotated)
    return bytes(data)


def _translate_in_place(data: Any, rotated: bytes) -> None:
    """XOR a bytearray, or a writable flat memoryview, in place with the 4-byte key ``rotated``."""
    copy_slices = not isinstance(data, bytearray)  # memoryview slices have no translate()
    for index in range(4):
        part = data[index::4]
        data[index::4] = (bytes(part) if copy_slices else part).translate(_xor_table(rotated[index]))


def mask(data: Any, key: Any, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` (RFC 6455 §5.3) into new bytes.

    Args:
        data: any buffer: bytes, bytearray, memoryview (also non-contiguous), array, ...
        key: the 4-byte masking key, any buffer.
        offset: the key byte that applies to ``data[0]`` (0 to 3).

    Raises:
        TypeError: ``data`` or ``key`` is not a buffer, or ``offset`` is not an integer.
        ValueError: ``key`` is not 4 bytes, or ``offset`` is not 0 to 3.
    """
    return _xor(readable(data), mask_key(key), key_offset(offset))


def mask_into(buffer: Any, key: Any, offset: int = 0) -> int:
    """XOR a writable ``buffer`` in place with ``key``, starting at key byte ``offset``.

    Returns the key offset for the byte after the buffer, so that a payload masked chunk by chunk
    equals the payload masked whole.

    Raises:
        TypeError: ``buffer`` is read-only or not a buffer, ``key`` is not a buffer, or ``offset`` is
            not an integer.
        ValueError: ``key`` is not 4 bytes, or ``offset`` is not 0 to 3.
    """
    view = writable(buffer)
    key_bytes = mask_key(key)
    start = key_offset(offset)
    size = len(view)
    if not view.c_contiguous:
        write_back(view, _xor(view, key_bytes, start))
    elif size >= _TRANSLATE_SIZE:
        _translate_in_place(buffer if type(buffer) is bytearray else view, _rotated(key_bytes, start))
    else:
        view[:] = _xor(view, key_bytes, start)
    return (start + size) & 3


# ---------------------------------------------------------------------------------------- UTF-8

# The automaton of csrc/utf8.c, built from the same ranges: byte classes, then states.
_ASCII, _CONT_LO, _CONT_MID, _CONT_HI, _BAD, _LEAD2, _E0, _LEAD3, _ED, _F0, _LEAD4, _F4 = range(12)
_ACCEPT, _REJECT, _CONT1, _CONT2, _S_E0, _S_ED, _CONT3, _S_F0, _S_F4 = range(9)
_N_CLASSES = 12


def _build_automaton() -> tuple[bytes, bytes]:
    classes = bytearray(256)
    for low, high, cls in (
        (0x00, 0x7F, _ASCII), (0x80, 0x8F, _CONT_LO), (0x90, 0x9F, _CONT_MID),
        (0xA0, 0xBF, _CONT_HI), (0xC0, 0xC1, _BAD), (0xC2, 0xDF, _LEAD2), (0xE0, 0xE0, _E0),
        (0xE1, 0xEC, _LEAD3), (0xED, 0xED, _ED), (0xEE, 0xEF, _LEAD3), (0xF0, 0xF0, _F0),
        (0xF1, 0xF3, _LEAD4), (0xF4, 0xF4, _F4), (0xF5, 0xFF, _BAD),
    ):  # fmt: skip
        classes[low : high + 1] = bytes([cls]) * (high - low + 1)
    table = bytearray([_REJECT]) * (9 * _N_CLASSES)

    def allow(state: int, cls: int, target: int) -> None:
        table[state * _N_CLASSES + cls] = target

    for cls, target in ((_ASCII, _ACCEPT), (_LEAD2, _CONT1), (_E0, _S_E0), (_LEAD3, _CONT2),
                        (_ED, _S_ED), (_F0, _S_F0), (_LEAD4, _CONT3), (_F4, _S_F4)):  # fmt: skip
        allow(_ACCEPT, cls, target)
    for cls in (_CONT_LO, _CONT_MID, _CONT_HI):
        allow(_CONT1, cls, _ACCEPT)
        allow(_CONT2, cls, _CONT1)
        allow(_CONT3, cls, _CONT2)
    allow(_S_E0, _CONT_HI, _CONT1)
    allow(_S_ED, _CONT_LO, _CONT1)
    allow(_S_ED, _CONT_MID, _CONT1)
    allow(_S_F0, _CONT_MID, _CONT2)
    allow(_S_F0, _CONT_HI, _CONT2)
    allow(_S_F4, _CONT_LO, _CONT2)
    return bytes(classes), bytes(table)


_BYTE_CLASS, _TRANSITION = _build_automaton()


def _run_automaton(state: int, data: Any, start: int, end: int) -> tuple[int, int, int]:
    """Step through data[start:end]. Returns (state, index of the offending byte or -1, index where
    the last unfinished sequence began)."""
    sequence = start
    for index in range(start, end):
        if state == _ACCEPT:
            sequence = index
        state = _TRANSITION[state * _N_CLASSES + _BYTE_CLASS[data[index]]]
        if state == _REJECT:
            return state, index, sequence
    return state, -1, sequence


def _sequence_length(lead: int) -> int:
    if 0xF0 <= lead <= 0xF4:
        return 4
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xC2 <= lead <= 0xDF:
        return 2
    return 1


def _check_region(data: Any, start: int, end: int) -> int:
    """Check data[start:end], which begins on a code-point boundary. Returns ``end`` if it is valid
    and ends on a boundary, the index of the first offending byte, or ``end + 1`` if it is valid but
    ends mid-sequence."""
    try:
        _utf8_decode(data[start:end], "strict", True)
        return end
    except UnicodeDecodeError as error:
        restart = start + error.start  # the start of the bad sequence: a boundary
    state, bad, _ = _run_automaton(_ACCEPT, data, restart, end)
    if bad >= 0:
        return bad
    return end if state == _ACCEPT else end + 1


def validate_utf8(data: Any) -> bool:
    """True if ``data`` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates, or code points
    above U+10FFFF).

    Raises:
        TypeError: ``data`` is not a buffer.
    """
    view = data if type(data) is bytes else readable(data)
    try:
        _utf8_decode(view, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


class Utf8Validator:
    """Incremental UTF-8 validation for text that arrives in pieces (RFC 6455 §8.1).

    ``feed`` fails as soon as the bytes seen so far cannot be the start of valid UTF-8, even in the
    middle of a sequence; ``finish`` also requires that the text ends on a code-point boundary.
    ``error_offset`` is the stream index of the first offending byte (for text cut short, the index
    where the unfinished sequence began), or None while nothing is wrong.
    """

    __slots__ = ("_state", "_position", "_error", "_sequence_start", "_busy")

    def __init__(self) -> None:
        self._busy = False  # in feed: a second feed or reset at once is refused, as the C build does
        self.reset()

    def reset(self) -> None:
        """Forget everything fed so far.

        Raises:
            RuntimeError: another thread is feeding this validator.
        """
        if self._busy:
            raise RuntimeError(VALIDATOR_BUSY)
        self._state = _ACCEPT
        self._position = 0
        self._error = 0
        self._sequence_start = 0

    @property
    def error_offset(self) -> int | None:
        """Stream index of the first offending byte, or None."""
        return self._error if self._state == _REJECT else None

    def _reject(self, at: int) -> bool:
        self._state = _REJECT
        self._error = at
        return False

    def feed(self, data: Any) -> bool:
        """Validate the next piece; False once the stream can no longer be valid UTF-8.

        Raises:
            TypeError: ``data`` is not a buffer.
            RuntimeError: another thread is feeding this validator.
        """
        if self._busy:
            raise RuntimeError(VALIDATOR_BUSY)
        self._busy = True
        try:
            return self._feed(data)
        finally:
            self._busy = False

    def _feed(self, data: Any) -> bool:
        view = data if type(data) is bytes else readable(data)
        if self._state == _REJECT:
            return False
        base = self._position
        size = len(view)
        self._position += size

        # 1. Finish a sequence left open by the previous piece.
        state, index = self._state, 0
        while index < size and state != _ACCEPT:
            state = _TRANSITION[state * _N_CLASSES + _BYTE_CLASS[view[index]]]
            if state == _REJECT:
                return self._reject(base + index)
            index += 1
        self._state = state
        if index == size:
            return True

        # 2. The bulk, up to the start of a sequence this piece leaves unfinished.
        end = size
        for back in range(1, min(3, size - index) + 1):
            byte = view[size - back]
            if byte & 0xC0 != 0x80:
                if _sequence_length(byte) > back:
                    end = size - back
                break
        bad = _check_region(view, index, end)
        if bad != end:
            return self._reject(base + min(bad, end))

        # 3. The unfinished tail, byte by byte, so that an impossible prefix fails now.
        state, bad, sequence = _run_automaton(_ACCEPT, view, end, size)
        if bad >= 0:
            return self._reject(base + bad)
        self._state = state
        if state != _ACCEPT:
            self._sequence_start = base + sequence
        return True

    def finish(self) -> bool:
        """True if everything fed was valid and ended on a code-point boundary."""
        if self._state == _ACCEPT:
            return True
        if self._state != _REJECT:
            self._reject(self._sequence_start)
        return False


# ---------------------------------------------------------------------------------------- frames

FrameHeader = tuple[bool, bool, bool, bool, int, bool, int, "bytes | None", int]


def parse_frame_header(buffer: Any, offset: int = 0) -> FrameHeader | None:
    """Parse the frame header at ``buffer[offset:]`` (RFC 6455 §5.2).

    Returns None when more bytes are needed, else ``(fin, rsv1, rsv2, rsv3, opcode, masked,
    payload_length, mask_key, header_length)`` with ``mask_key`` 4 bytes or None.

    Raises:
        ProtocolError: a 64-bit payload length with the most significant bit set (close code 1002).
        TypeError: ``buffer`` is not a buffer, or ``offset`` is not an integer.
        ValueError: ``offset`` is negative or beyond the end of ``buffer``.
    """
    if type(buffer) is bytes:
        return _header_at(buffer, start_offset(offset, len(buffer)), len(buffer))
    # Released on the way out, not when the view is collected: callers resize their bytearray next
    # (a header parsed, then taken off the front), and a tracer or a traceback that keeps this frame
    # alive would otherwise keep the bytearray exported (BufferError on the resize).
    with readable(buffer) as view:
        size = len(view)
        return _header_at(view, start_offset(offset, size), size)


def _header_at(data: Any, start: int, size: int) -> FrameHeader | None:
    """parse_frame_header without argument checks, for callers that hold flat bytes already."""
    available = size - start
    if available < 2:
        return None
    first, second = data[start], data[start + 1]
    length = second & 0x7F
    extended = 0
    if length >= 126:
        extended = 2 if length == 126 else 8
        if available < 2 + extended:
            return None
        length = int.from_bytes(data[start + 2 : start + 2 + extended], "big")
        if length >> 63:
            raise ProtocolError("payload length has the most significant bit set")
    masked = second >= 0x80
    header_length = 2 + extended + (4 if masked else 0)
    if available < header_length:
        return None
    key = bytes(data[start + 2 + extended : start + header_length]) if masked else None
    return (
        first >= 0x80,
        bool(first & 0x40),
        bool(first & 0x20),
        bool(first & 0x10),
        first & 0x0F,
        masked,
        length,
        key,
        header_length,
    )


# ---------------------------------------------------------------------------------------- HTTP

# Word for word the messages of csrc/http.c.
E_BARE_LF = "line ends with a bare LF"
E_BARE_CR = "bare CR in line"
E_TOO_LARGE = "head is larger than max_size"
E_LINE_TOO_LONG = "start line is longer than max_size"
E_TOO_MANY = "more headers than max_headers"
E_EMPTY_START = "empty start line"
E_METHOD = "invalid method in request line"
E_TARGET = "invalid target in request line"
E_VERSION = "invalid HTTP version"
E_STATUS = "invalid status code"
E_REASON = "invalid character in reason phrase"
E_FOLD = "obsolete line folding is not allowed"
E_NO_COLON = "header line without a colon"
E_NAME = "invalid header name"
E_VALUE = "invalid character in header value"

_TCHARS = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN_PREFIX = re.compile(rb"[" + _TCHARS + rb"]*")
_TOKEN = re.compile(rb"[" + _TCHARS + rb"]+")
_TARGET_PREFIX = re.compile(rb"[\x21-\x7e]*")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_DIGITS3 = re.compile(rb"[0-9]{3}")
_FORBIDDEN_IN_FIELD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

HttpHead = tuple[tuple[str, str, str], list[tuple[str, str]], int]


def _parse_start_line(line: bytes) -> tuple[str, str, str]:
    size = len(line)
    if not size:
        raise InvalidHTTP(E_EMPTY_START)
    if line.startswith(b"HTTP/"):
        # status-line = HTTP-version SP status-code SP [ reason-phrase ]
        if size < 8 or not _VERSION.fullmatch(line, 0, 8) or (size > 8 and line[8] != 0x20):
            raise InvalidHTTP(E_VERSION)
        if size < 12 or not _DIGITS3.fullmatch(line, 9, 12) or (size > 12 and line[12] != 0x20):
            raise InvalidHTTP(E_STATUS)
        if _FORBIDDEN_IN_FIELD.search(line, 13):
            raise InvalidHTTP(E_REASON)
        return line[:8].decode("latin-1"), line[9:12].decode("latin-1"), line[13:].decode("latin-1")
    # request-line = method SP request-target SP HTTP-version
    method_end = _TOKEN_PREFIX.match(line).end()  # type: ignore[union-attr]  # always matches
    if method_end == 0 or method_end == size or line[method_end] != 0x20:
        raise InvalidHTTP(E_METHOD)
    target_start = method_end + 1
    target_end = _TARGET_PREFIX.match(line, target_start).end()  # type: ignore[union-attr]  # always matches
    if target_end == target_start or target_end == size or line[target_end] != 0x20:
        raise InvalidHTTP(E_TARGET)
    if not _VERSION.fullmatch(line, target_end + 1):
        raise InvalidHTTP(E_VERSION)
    return (
        line[:method_end].decode("latin-1"),
        line[target_start:target_end].decode("latin-1"),
        line[target_end + 1 :].decode("latin-1"),
    )


def _parse_header_line(line: bytes) -> tuple[str, str]:
    # field-line = field-name ":" OWS field-value OWS
    if line[0] in b" \t":
        raise InvalidHTTP(E_FOLD)
    colon = line.find(b":")
    if colon < 0:
        raise InvalidHTTP(E_NO_COLON)
    if not _TOKEN.fullmatch(line, 0, colon):
        raise InvalidHTTP(E_NAME)
    value = line[colon + 1 :].strip(b" \t")
    if _FORBIDDEN_IN_FIELD.search(value):
        raise InvalidHTTP(E_VALUE)
    return line[:colon].decode("latin-1"), value.decode("latin-1")


def parse_http_head(
    buffer: Any, *, max_size: int = MAX_HTTP_HEAD_SIZE, max_headers: int = MAX_HTTP_HEADERS
) -> HttpHead | None:
    """Parse an HTTP/1.1 request or response head (RFC 9112), strictly.

    Returns None until the blank line that ends the head has arrived, else ``(start_line_parts,
    headers, head_length)``: the three parts of the start line (method, target, version or version,
    status, reason), the headers as ``(name, value)`` pairs in wire order and case (decoded as
    ISO-8859-1, values without surrounding whitespace), and the length of the head including the
    blank line.

    Raises:
        InvalidHTTP: a malformed start line, an invalid header name or value, obs-fold, a bare CR or
            LF, a head over ``max_size`` bytes or with more than ``max_headers`` headers (status 431
            for those two, but 414 when ``max_size`` is reached inside the start line; 400 for the
            rest). The message says which.
        TypeError: ``buffer`` is not a buffer, or a limit is not an integer.
        ValueError: a limit is negative.
    """
    data = buffer if type(buffer) is bytes else readable(buffer).tobytes()
    max_size = non_negative(max_size, "max_size")
    max_headers = non_negative(max_headers, "max_headers")
    size = len(data)
    limit = min(size, max_size)
    position = 0
    start_line: tuple[str, str, str] | None = None
    headers: list[tuple[str, str]] = []
    while True:
        end_of_line = data.find(b"\n", position, limit)
        if end_of_line < 0:
            if size >= max_size:
                if start_line is None:  # the request target is what is too long (RFC 9110 §15.5.15)
                    raise InvalidHTTP(E_LINE_TOO_LONG, 414)
                raise InvalidHTTP(E_TOO_LARGE, 431)
            return None
        if end_of_line == position or data[end_of_line - 1] != 0x0D:
            raise InvalidHTTP(E_BARE_LF)
        line = data[position : end_of_line - 1]
        if b"\r" in line:
            raise InvalidHTTP(E_BARE_CR)
        if start_line is None:
            start_line = _parse_start_line(line)
        elif not line:
            return start_line, headers, end_of_line + 1
        elif len(headers) == max_headers:
            raise InvalidHTTP(E_TOO_MANY, 431)
        else:
            headers.append(_parse_header_line(line))
        position = end_of_line + 1
