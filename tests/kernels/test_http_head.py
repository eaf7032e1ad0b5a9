"""parse_http_head (RFC 9112, RFC 6455 §1.3/§4), on the pure-Python twin and on the C kernels at every
SIMD level.

The twin (``wsfast._kernels_py``) is the reference: the differential tests at the end require the C
kernels to return the same value, or raise the same exception class with the same message and status
code, for any input and limits.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from wsfast import _kernels_py
from wsfast._kernels_py import (
    E_BARE_CR,
    E_BARE_LF,
    E_EMPTY_START,
    E_FOLD,
    E_LINE_TOO_LONG,
    E_METHOD,
    E_NAME,
    E_NO_COLON,
    E_REASON,
    E_STATUS,
    E_TARGET,
    E_TOO_LARGE,
    E_TOO_MANY,
    E_VALUE,
    E_VERSION,
)
from wsfast.exceptions import InvalidHTTP, ProtocolError, WsfastError
from wsfast.limits import MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS

from tests.support import examples

# Each property runs once per implementation (Python + each SIMD level): modest counts, no deadline.
PROPERTY = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIFFERENTIAL = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------- RFC 6455 §1.3

CLIENT_HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
CLIENT_PARSED = (
    ("GET", "/chat", "HTTP/1.1"),
    [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Version", "13"),
    ],
    len(CLIENT_HANDSHAKE),
)

SERVER_HANDSHAKE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)
SERVER_PARSED = (
    ("HTTP/1.1", "101", "Switching Protocols"),
    [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ],
    len(SERVER_HANDSHAKE),
)

HANDSHAKES = [
    pytest.param(CLIENT_HANDSHAKE, CLIENT_PARSED, id="client"),
    pytest.param(SERVER_HANDSHAKE, SERVER_PARSED, id="server"),
]

FRAME = bytes.fromhex("818537fa213d7f9f4d5158")  # RFC 6455 §5.7 masked "Hello"


def check_types(result: Any) -> None:
    start, headers, head_length = result
    assert type(result) is tuple and len(result) == 3
    assert type(start) is tuple and len(start) == 3 and all(type(part) is str for part in start)
    assert type(headers) is list
    for header in headers:
        assert type(header) is tuple and len(header) == 2
        assert type(header[0]) is str and type(header[1]) is str
    assert type(head_length) is int


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple:
    """The value, or the exception's class, message, status and close codes; type-exact."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any difference matters
        return (
            "raised",
            type(error),
            str(error),
            getattr(error, "status_code", None),
            getattr(error, "close_code", None),
        )
    return ("returned", repr(value), value)


def raises_invalid(kernels: Any, data: Any, message: str, status: int = 400, **limits: Any) -> None:
    with pytest.raises(InvalidHTTP) as raised:
        kernels.parse_http_head(data, **limits)
    assert type(raised.value) is InvalidHTTP
    assert str(raised.value) == message
    assert raised.value.status_code == status
    assert raised.value.close_code == 1002


@pytest.mark.parametrize(("head", "parsed"), HANDSHAKES)
def test_rfc6455_handshake(kernels, head, parsed):
    result = kernels.parse_http_head(head)
    check_types(result)
    assert result == parsed
    assert repr(result) == repr(_kernels_py.parse_http_head(head))


@pytest.mark.parametrize(("head", "parsed"), HANDSHAKES)
@pytest.mark.parametrize(
    "trailer",
    [FRAME, b"\x00", b"\n", b"\r", b"\r\n", b"garbage without end", b"\xff" * 100, CLIENT_HANDSHAKE],
    ids=["frame", "nul", "lf", "cr", "crlf", "garbage", "ff", "second-head"],
)
def test_bytes_after_the_head_are_not_consumed(kernels, head, parsed, trailer):
    result = kernels.parse_http_head(head + trailer)
    assert result == parsed
    assert result[2] == len(head)
    assert (head + trailer)[result[2] :] == trailer


@pytest.mark.parametrize(("head", "parsed"), HANDSHAKES)
def test_every_strict_prefix_needs_more(kernels, head, parsed):
    for size in range(len(head)):
        assert kernels.parse_http_head(head[:size]) is None, head[:size]
    assert kernels.parse_http_head(head) == parsed


@pytest.mark.parametrize(("head", "parsed"), HANDSHAKES)
def test_buffer_types(kernels, head, parsed):
    spread = bytearray(2 * len(head))
    spread[::2] = head
    halfwords = array.array("H")
    halfwords.frombytes(head + FRAME[: len(head) % 2])
    for buffer in (
        bytearray(head),
        memoryview(head),
        memoryview(b"..." + head + FRAME)[3:],
        memoryview(bytearray(head)).toreadonly(),
        memoryview(spread)[::2],
        memoryview(bytes(spread))[::2],
        array.array("B", head),
        halfwords,
    ):
        assert kernels.parse_http_head(buffer) == parsed, type(buffer)
    assert kernels.parse_http_head(memoryview(spread)[::2][:-1]) is None


@pytest.mark.parametrize("bad", ["GET / HTTP/1.1\r\n\r\n", 42, None, 1.5, [71, 69, 84], object()])
def test_not_a_buffer(kernels, bad):
    with pytest.raises(TypeError):
        kernels.parse_http_head(bad)


def test_limits_are_keyword_only(kernels):
    with pytest.raises(TypeError):
        kernels.parse_http_head(CLIENT_HANDSHAKE, 8192)  # type: ignore[misc]


def test_buffer_is_not_modified(kernels):
    data = bytearray(CLIENT_HANDSHAKE)
    kernels.parse_http_head(data)
    assert data == CLIENT_HANDSHAKE


# ------------------------------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    ("head", "start"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", ("HTTP/1.1", "200", "OK")),
        (b"HTTP/1.1 204 \r\n\r\n", ("HTTP/1.1", "204", "")),
        (b"HTTP/1.1 204\r\n\r\n", ("HTTP/1.1", "204", "")),
        (b"HTTP/1.0 404 Not  Found\r\n\r\n", ("HTTP/1.0", "404", "Not  Found")),
        (b"HTTP/1.1 999 a\tb\r\n\r\n", ("HTTP/1.1", "999", "a\tb")),
        (b"HTTP/1.1 400 R\xe9ponse \x80\xff\r\n\r\n", ("HTTP/1.1", "400", "R\xe9ponse \x80\xff")),
        (b"HTTP/2.0 000 !~\r\n\r\n", ("HTTP/2.0", "000", "!~")),
        (b"GET / HTTP/1.1\r\n\r\n", ("GET", "/", "HTTP/1.1")),
        (b"OPTIONS * HTTP/1.1\r\n\r\n", ("OPTIONS", "*", "HTTP/1.1")),
        (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", ("CONNECT", "example.com:443", "HTTP/1.1")),
        (
            b"GET http://example.com/a?b=c&d=%20#x HTTP/1.0\r\n\r\n",
            ("GET", "http://example.com/a?b=c&d=%20#x", "HTTP/1.0"),
        ),
        (b"get /~!$&'()*+,;=:@ HTTP/9.9\r\n\r\n", ("get", "/~!$&'()*+,;=:@", "HTTP/9.9")),
        (b"!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\n\r\n", ("!#$%&'*+-.^_`|~09azAZ", "/", "HTTP/1.1")),
    ],
)
def test_start_lines(kernels, head, start):
    result = kernels.parse_http_head(head)
    check_types(result)
    assert result == (start, [], len(head))


@pytest.mark.parametrize(
    ("line", "header"),
    [
        (b"Name: value", ("Name", "value")),
        (b"Name:value", ("Name", "value")),
        (b"Name:   value  \t ", ("Name", "value")),
        (b"Name:\t\tvalue\t", ("Name", "value")),
        (b"Name: a  b\tc", ("Name", "a  b\tc")),
        (b"Name:", ("Name", "")),
        (b"Name: \t ", ("Name", "")),
        (b"Name: a:b: c", ("Name", "a:b: c")),
        (b"Name: caf\xe9 \x80\xff", ("Name", "caf\xe9 \x80\xff")),
        (b"Name: \xa0x\xa0", ("Name", "\xa0x\xa0")),  # NBSP is obs-text, not OWS
        (b"x-lower-CASE: V", ("x-lower-CASE", "V")),
        (b"!#$%&'*+-.^_`|~09azAZ: v", ("!#$%&'*+-.^_`|~09azAZ", "v")),
        (b"a: " + bytes(range(0x21, 0x7F)), ("a", bytes(range(0x21, 0x7F)).decode())),
        (b"a: " + bytes(range(0x80, 0x100)), ("a", bytes(range(0x80, 0x100)).decode("latin-1"))),
    ],
)
def test_header_lines(kernels, line, header):
    head = b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n"
    result = kernels.parse_http_head(head)
    check_types(result)
    assert result == (("GET", "/", "HTTP/1.1"), [header], len(head))


def test_repeated_headers_are_preserved_in_order_and_case(kernels):
    head = (
        b"HTTP/1.1 200 OK\r\n"
        b"Set-Cookie: a=1\r\n"
        b"X-Dup: one\r\n"
        b"set-cookie: b=2\r\n"
        b"X-DUP: two\r\n"
        b"Set-Cookie: a=1\r\n"
        b"\r\n"
    )
    assert kernels.parse_http_head(head) == (
        ("HTTP/1.1", "200", "OK"),
        [
            ("Set-Cookie", "a=1"),
            ("X-Dup", "one"),
            ("set-cookie", "b=2"),
            ("X-DUP", "two"),
            ("Set-Cookie", "a=1"),
        ],
        len(head),
    )


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 128, 500])
def test_many_headers(kernels, count):
    head = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v%d\r\n" % (i, i) for i in range(count)) + b"\r\n"
    expected = (("GET", "/", "HTTP/1.1"), [(f"H{i}", f"v{i}") for i in range(count)], len(head))
    assert kernels.parse_http_head(head, max_size=len(head), max_headers=count) == expected
    assert kernels.parse_http_head(head, max_size=2**40, max_headers=2**40) == expected
    if count:
        raises_invalid(kernels, head, E_TOO_MANY, 431, max_size=len(head), max_headers=count - 1)
        raises_invalid(kernels, head, E_TOO_MANY, 431, max_size=len(head), max_headers=0)
    if count > MAX_HTTP_HEADERS:
        raises_invalid(kernels, head, E_TOO_MANY, 431, max_size=2**40)


def test_minimal_header_lines_fill_the_head(kernels):
    # "a:" CRLF is the shortest valid header line
    for count in (15, 16, 17, 64, 65, 200):
        head = b"GET / HTTP/1.1\r\n" + b"a:\r\n" * count + b"\r\n"
        result = kernels.parse_http_head(head, max_headers=1000)
        assert result == (("GET", "/", "HTTP/1.1"), [("a", "")] * count, len(head))
        assert kernels.parse_http_head(head + b"a:\r\n" * 50, max_headers=1000) == result


# ------------------------------------------------------------------------------------- errors

REQUEST = b"GET / HTTP/1.1\r\n"

ERRORS = [
    # bare LF
    ("lf-start-line", b"GET / HTTP/1.1\n\r\n", E_BARE_LF),
    ("lf-only", b"\n", E_BARE_LF),
    ("lf-first", b"\nGET / HTTP/1.1\r\n\r\n", E_BARE_LF),
    ("lf-header", REQUEST + b"Host: a\nX: b\r\n\r\n", E_BARE_LF),
    ("lf-header-last", REQUEST + b"Host: a\n\r\n", E_BARE_LF),
    ("lf-terminator", REQUEST + b"Host: a\r\n\n", E_BARE_LF),
    ("lf-terminator-no-headers", REQUEST + b"\n", E_BARE_LF),
    ("lf-response", b"HTTP/1.1 200 OK\n\n", E_BARE_LF),
    # bare CR
    ("cr-start-line", b"GET /\r HTTP/1.1\r\n\r\n", E_BARE_CR),
    ("cr-before-crlf", b"GET / HTTP/1.1\r\r\n\r\n", E_BARE_CR),
    ("cr-header", REQUEST + b"Host: a\rb\r\n\r\n", E_BARE_CR),
    ("cr-header-name", REQUEST + b"Ho\rst: a\r\n\r\n", E_BARE_CR),
    ("cr-terminator", REQUEST + b"\r\r\n", E_BARE_CR),
    ("cr-only-line", b"\r\r\n", E_BARE_CR),
    ("cr-reason", b"HTTP/1.1 200 O\rK\r\n\r\n", E_BARE_CR),
    # empty start line
    ("empty-start", b"\r\n", E_EMPTY_START),
    ("empty-start-then-request", b"\r\nGET / HTTP/1.1\r\n\r\n", E_EMPTY_START),
    # method
    ("method-empty", b" / HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-paren", b"GE(T / HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-slash", b"G/ET / HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-tab", b"GET\t/ HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-obs-text", b"G\xc9T / HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-nul", b"GET\x00 / HTTP/1.1\r\n\r\n", E_METHOD),
    ("method-only", b"GET\r\n\r\n", E_METHOD),
    ("method-colon", b"Host: example.com\r\n\r\n", E_METHOD),
    ("lowercase-response", b"http/1.1 200 OK\r\n\r\n", E_METHOD),
    # target
    ("target-empty", b"GET  HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-control", b"GET /a\x01b HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-nul", b"GET /\x00 HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-del", b"GET /\x7f HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-tab", b"GET /a\tb HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-non-ascii", b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-latin1", b"GET /\xff HTTP/1.1\r\n\r\n", E_TARGET),
    ("target-no-version", b"GET /chat\r\n\r\n", E_TARGET),
    # version
    ("version-short", b"GET / HTTP/1\r\n\r\n", E_VERSION),
    ("version-two-digits", b"GET / HTTP/11\r\n\r\n", E_VERSION),
    ("version-lowercase", b"GET / http/1.1\r\n\r\n", E_VERSION),
    ("version-missing", b"GET / \r\n\r\n", E_VERSION),
    ("version-trailing-space", b"GET / HTTP/1.1 \r\n\r\n", E_VERSION),
    ("version-long", b"GET / HTTP/1.10\r\n\r\n", E_VERSION),
    ("version-letter", b"GET / HTTP/1.x\r\n\r\n", E_VERSION),
    ("version-extra-part", b"GET / HTTP/1.1 x\r\n\r\n", E_VERSION),
    ("version-double-space", b"GET /  HTTP/1.1\r\n\r\n", E_VERSION),
    ("response-version-short", b"HTTP/1 200 OK\r\n\r\n", E_VERSION),
    ("response-version-two-digits", b"HTTP/11 200 OK\r\n\r\n", E_VERSION),
    ("response-version-only-prefix", b"HTTP/\r\n\r\n", E_VERSION),
    ("response-version-no-space", b"HTTP/1.1200 OK\r\n\r\n", E_VERSION),
    ("response-version-letter", b"HTTP/1.a 200 OK\r\n\r\n", E_VERSION),
    # status
    ("status-two-digits", b"HTTP/1.1 20 OK\r\n\r\n", E_STATUS),
    ("status-two-digits-end", b"HTTP/1.1 20\r\n\r\n", E_STATUS),
    ("status-four-digits", b"HTTP/1.1 2000 OK\r\n\r\n", E_STATUS),
    ("status-letters", b"HTTP/1.1 abc OK\r\n\r\n", E_STATUS),
    ("status-no-space-after", b"HTTP/1.1 200OK\r\n\r\n", E_STATUS),
    ("status-missing", b"HTTP/1.1\r\n\r\n", E_STATUS),
    ("status-missing-space", b"HTTP/1.1 \r\n\r\n", E_STATUS),
    ("response-version-tab", b"HTTP/1.1\t200 OK\r\n\r\n", E_VERSION),
    ("status-double-space", b"HTTP/1.1  200 OK\r\n\r\n", E_STATUS),
    ("status-tab-after", b"HTTP/1.1 200\tOK\r\n\r\n", E_STATUS),
    # reason
    ("reason-ctl", b"HTTP/1.1 200 O\x01K\r\n\r\n", E_REASON),
    ("reason-nul", b"HTTP/1.1 200 \x00\r\n\r\n", E_REASON),
    ("reason-del", b"HTTP/1.1 200 OK\x7f\r\n\r\n", E_REASON),
    ("reason-esc", b"HTTP/1.1 200 \x1b[0m\r\n\r\n", E_REASON),
    # obs-fold
    ("fold-space", REQUEST + b"Host: a\r\n b\r\n\r\n", E_FOLD),
    ("fold-tab", REQUEST + b"Host: a\r\n\tb\r\n\r\n", E_FOLD),
    ("fold-first-header", REQUEST + b" Host: a\r\n\r\n", E_FOLD),
    ("fold-whitespace-only", REQUEST + b"Host: a\r\n \r\n\r\n", E_FOLD),
    # colon and name
    ("no-colon", REQUEST + b"Host a\r\n\r\n", E_NO_COLON),
    ("no-colon-single-char", REQUEST + b"x\r\n\r\n", E_NO_COLON),
    ("empty-name", REQUEST + b": a\r\n\r\n", E_NAME),
    ("colon-only", REQUEST + b":\r\n\r\n", E_NAME),
    ("space-before-colon", REQUEST + b"Host : a\r\n\r\n", E_NAME),
    ("tab-before-colon", REQUEST + b"Host\t: a\r\n\r\n", E_NAME),
    ("space-in-name", REQUEST + b"Ho st: a\r\n\r\n", E_NAME),
    ("paren-in-name", REQUEST + b"Ho(st: a\r\n\r\n", E_NAME),
    ("slash-in-name", REQUEST + b"Ho/st: a\r\n\r\n", E_NAME),
    ("obs-text-in-name", REQUEST + b"H\xe9: a\r\n\r\n", E_NAME),
    ("nul-in-name", REQUEST + b"Host\x00: a\r\n\r\n", E_NAME),
    ("ctl-in-name", REQUEST + b"Ho\x01st: a\r\n\r\n", E_NAME),
    ("del-in-name", REQUEST + b"Host\x7f: a\r\n\r\n", E_NAME),
    # value
    ("value-nul", REQUEST + b"Host: a\x00b\r\n\r\n", E_VALUE),
    ("value-nul-edge", REQUEST + b"Host: \x00\r\n\r\n", E_VALUE),
    ("value-del", REQUEST + b"Host: a\x7f\r\n\r\n", E_VALUE),
    ("value-soh", REQUEST + b"Host: \x01a\r\n\r\n", E_VALUE),
    ("value-vt", REQUEST + b"Host: a\x0bb\r\n\r\n", E_VALUE),
    ("value-ff", REQUEST + b"Host: a\x0c\r\n\r\n", E_VALUE),
    ("value-us", REQUEST + b"Host: a\x1fb\r\n\r\n", E_VALUE),
    ("value-esc", REQUEST + b"Host: \x1b\r\n\r\n", E_VALUE),
    ("value-second-header", REQUEST + b"A: ok\r\nB: b\x08d\r\n\r\n", E_VALUE),
]


@pytest.mark.parametrize(("name", "head", "message"), ERRORS, ids=[error[0] for error in ERRORS])
def test_errors(kernels, name, head, message):
    raises_invalid(kernels, head, message)
    raises_invalid(kernels, bytearray(head), message)
    raises_invalid(kernels, head + FRAME, message)
    # the reference agrees (guards the table itself)
    raises_invalid(_kernels_py, head, message)


@pytest.mark.parametrize(("name", "head", "message"), ERRORS, ids=[error[0] for error in ERRORS])
def test_errors_are_found_before_the_head_is_complete(kernels, name, head, message):
    # Cut the head right after the first line that is wrong: the error is already there.
    position = 0
    while True:
        end = head.index(b"\n", position) + 1
        try:
            _kernels_py.parse_http_head(head[:end])
        except InvalidHTTP:
            break
        position = end
    raises_invalid(kernels, head[:end], message)
    raises_invalid(kernels, head[:end] + b"X-Unfinished: ", message)


def test_tab_is_allowed_in_values(kernels):
    head = REQUEST + b"A:\ta\tb\t\r\n\r\n"
    assert kernels.parse_http_head(head)[1] == [("A", "a\tb")]


def test_invalid_http_hierarchy(kernels):
    assert issubclass(InvalidHTTP, ProtocolError)
    assert issubclass(InvalidHTTP, WsfastError)
    with pytest.raises(ProtocolError):
        kernels.parse_http_head(b"\n")
    with pytest.raises(WsfastError):
        kernels.parse_http_head(b"\n")
    with pytest.raises(InvalidHTTP) as raised:
        kernels.parse_http_head(b"x" * 10, max_size=10)
    assert isinstance(raised.value, ProtocolError) and isinstance(raised.value, WsfastError)
    assert raised.value.status_code == 414


# ------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(("head", "parsed"), HANDSHAKES)
def test_max_size_boundary(kernels, head, parsed):
    size = len(head)
    assert kernels.parse_http_head(head, max_size=size) == parsed
    assert kernels.parse_http_head(head, max_size=size + 1) == parsed
    assert kernels.parse_http_head(head + FRAME, max_size=size) == parsed  # what follows does not count
    assert kernels.parse_http_head(head + b"\xff" * 10000, max_size=size) == parsed
    raises_invalid(kernels, head, E_TOO_LARGE, 431, max_size=size - 1)
    raises_invalid(kernels, head + FRAME, E_TOO_LARGE, 431, max_size=size - 1)
    raises_invalid(kernels, head, E_LINE_TOO_LONG, 414, max_size=1)  # still inside the start line
    # an unfinished head: None while shorter than max_size, an error once it reaches it
    assert kernels.parse_http_head(head[:-1], max_size=size) is None
    raises_invalid(kernels, head[:-1], E_TOO_LARGE, 431, max_size=size - 1)
    raises_invalid(kernels, head[:-2], E_TOO_LARGE, 431, max_size=size - 2)


def test_default_max_size(kernels):
    filler = b"X-Fill: " + b"a" * 100 + b"\r\n"
    head = REQUEST + filler * 70
    head += b"X-Last: " + b"b" * (MAX_HTTP_HEAD_SIZE - len(head) - len(b"X-Last: \r\n\r\n")) + b"\r\n\r\n"
    assert len(head) == MAX_HTTP_HEAD_SIZE
    result = kernels.parse_http_head(head)
    assert result[2] == MAX_HTTP_HEAD_SIZE and len(result[1]) == 71
    longer = head[:-4] + b"b\r\n\r\n"
    raises_invalid(kernels, longer, E_TOO_LARGE, 431)
    raises_invalid(kernels, b"GET /" + b"a" * MAX_HTTP_HEAD_SIZE, E_LINE_TOO_LONG, 414)
    assert kernels.parse_http_head(b"GET /" + b"a" * (MAX_HTTP_HEAD_SIZE - 6)) is None


def test_a_start_line_that_reaches_max_size_is_414_and_a_later_line_431(kernels):
    line = b"GET /" + b"a" * 50 + b" HTTP/1.1\r\n"
    raises_invalid(kernels, line, E_LINE_TOO_LONG, 414, max_size=len(line) - 1)  # its LF is past the limit
    raises_invalid(kernels, line + b"Host: x", E_TOO_LARGE, 431, max_size=len(line) + 2)
    assert kernels.parse_http_head(line[:-2], max_size=len(line)) is None  # not there yet: wait
    # a status line too (a client reading a response has nobody to answer, but the error says what it was)
    raises_invalid(kernels, b"HTTP/1.1 101 " + b"x" * 100, E_LINE_TOO_LONG, 414, max_size=64)


def test_default_max_headers(kernels):
    def head(count: int) -> bytes:
        return REQUEST + b"a:\r\n" * count + b"\r\n"

    assert len(kernels.parse_http_head(head(MAX_HTTP_HEADERS))[1]) == MAX_HTTP_HEADERS
    raises_invalid(kernels, head(MAX_HTTP_HEADERS + 1), E_TOO_MANY, 431)


def test_too_many_headers_found_before_the_head_is_complete(kernels):
    partial = REQUEST + b"a: 1\r\nb: 2\r\nc: 3\r\n"
    raises_invalid(kernels, partial, E_TOO_MANY, 431, max_headers=2)
    assert kernels.parse_http_head(partial, max_headers=3) is None
    assert kernels.parse_http_head(partial + b"d: 4", max_headers=3) is None


def test_zero_limits(kernels):
    assert kernels.parse_http_head(b"GET / HTTP/1.1\r\n\r\n", max_headers=0) == (
        ("GET", "/", "HTTP/1.1"), [], 18,
    )  # fmt: skip
    raises_invalid(kernels, b"GET / HTTP/1.1\r\nA: b\r\n\r\n", E_TOO_MANY, 431, max_headers=0)
    for data in (b"G", b"\r\n", b"\n", CLIENT_HANDSHAKE):
        raises_invalid(kernels, data, E_LINE_TOO_LONG, 414, max_size=0)
    assert outcome(kernels.parse_http_head, b"", max_size=0) == outcome(
        _kernels_py.parse_http_head, b"", max_size=0
    )


@pytest.mark.parametrize("value", [2**31, 2**32, 2**63 - 1, 2**63, 2**64, 2**64 + 1, 2**200, sys.maxsize])
def test_huge_limits(kernels, value):
    assert kernels.parse_http_head(CLIENT_HANDSHAKE, max_size=value) == CLIENT_PARSED
    assert kernels.parse_http_head(CLIENT_HANDSHAKE, max_headers=value) == CLIENT_PARSED
    assert kernels.parse_http_head(CLIENT_HANDSHAKE, max_size=value, max_headers=value) == CLIENT_PARSED
    assert kernels.parse_http_head(CLIENT_HANDSHAKE[:-1], max_size=value, max_headers=value) is None
    assert kernels.parse_http_head(b"", max_size=value, max_headers=value) is None


@pytest.mark.parametrize("bad", [1.0, "8192", None, b"1", 8192.5, [1]])
@pytest.mark.parametrize("limit", ["max_size", "max_headers"])
def test_limit_not_an_integer(kernels, limit, bad):
    with pytest.raises(TypeError):
        kernels.parse_http_head(CLIENT_HANDSHAKE, **{limit: bad})
    with pytest.raises(TypeError):
        kernels.parse_http_head(b"", **{limit: bad})


@pytest.mark.parametrize("bad", [-1, -2, -(2**63), -(2**64), -(2**200)])
@pytest.mark.parametrize("limit", ["max_size", "max_headers"])
def test_limit_negative(kernels, limit, bad):
    with pytest.raises(ValueError):
        kernels.parse_http_head(CLIENT_HANDSHAKE, **{limit: bad})
    with pytest.raises(ValueError):
        kernels.parse_http_head(b"", **{limit: bad})


def test_limit_with_index_method(kernels):
    class Limit:
        def __init__(self, value: int) -> None:
            self.value = value

        def __index__(self) -> int:
            return self.value

    size = len(SERVER_HANDSHAKE)
    assert kernels.parse_http_head(SERVER_HANDSHAKE, max_size=Limit(size), max_headers=Limit(3)) == SERVER_PARSED
    raises_invalid(kernels, SERVER_HANDSHAKE, E_TOO_LARGE, 431, max_size=Limit(size - 1))
    raises_invalid(kernels, SERVER_HANDSHAKE, E_TOO_MANY, 431, max_headers=Limit(2))


# ------------------------------------------------------------------------------------- properties

TCHARS = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHARS = bytes(range(0x21, 0x7F))
OBS_TEXT = bytes(range(0x80, 0x100))


def _bytes_from(alphabet: bytes, min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map(bytes)


tokens = _bytes_from(TCHARS, 1, 12)
targets = _bytes_from(VCHARS, 1, 30)
digits = st.integers(0, 9).map(lambda digit: b"%d" % digit)
versions = st.builds(lambda major, minor: b"HTTP/" + major + b"." + minor, digits, digits)
statuses = st.integers(0, 999).map(lambda status: b"%03d" % status)
reasons = _bytes_from(VCHARS + OBS_TEXT + b" \t", 0, 20)
ows = _bytes_from(b" \t", 0, 3)
field_vchar = st.sampled_from(VCHARS + OBS_TEXT)
# field-value: field-vchars, with SP / HTAB only inside
field_values = st.one_of(
    st.just(b""),
    st.builds(
        lambda first, middle, last: bytes([first]) + middle + (bytes([last]) if last is not None else b""),
        field_vchar,
        _bytes_from(VCHARS + OBS_TEXT + b" \t", 0, 20),
        st.none() | field_vchar,
    ).filter(lambda value: value[-1:] not in (b" ", b"\t")),
)
headers = st.lists(st.tuples(tokens, ows, field_values, ows), max_size=12)


@st.composite
def heads(draw: st.DrawFn) -> tuple[bytes, tuple]:
    """A valid head and exactly what it should parse to."""
    if draw(st.booleans()):
        method, target, version = draw(tokens), draw(targets), draw(versions)
        line = method + b" " + target + b" " + version
        start = (method, target, version)
    else:
        version, status, reason = draw(versions), draw(statuses), draw(reasons)
        line = version + b" " + status
        if reason or draw(st.booleans()):
            line += b" " + reason
        start = (version, status, reason)
    fields = draw(headers)
    head = line + b"\r\n"
    for name, before, value, after in fields:
        head += name + b":" + before + value + after + b"\r\n"
    head += b"\r\n"
    parsed = (
        tuple(part.decode("latin-1") for part in start),
        [(name.decode("latin-1"), value.decode("latin-1")) for name, _, value, _ in fields],
        len(head),
    )
    return head, parsed


@PROPERTY
@given(built=heads(), trailer=st.binary(max_size=10), cut=st.integers(0, 10**6))
@example(built=(CLIENT_HANDSHAKE, CLIENT_PARSED), trailer=FRAME, cut=0)
@example(built=(SERVER_HANDSHAKE, SERVER_PARSED), trailer=b"", cut=0)
def test_built_head_parses_back(kernels, built, trailer, cut):
    head, parsed = built
    size, count = len(head), len(parsed[1])
    result = kernels.parse_http_head(head + trailer, max_size=max(size, MAX_HTTP_HEAD_SIZE), max_headers=1000)
    check_types(result)
    assert result == parsed
    # the exact limits pass; one less fails with 431
    assert kernels.parse_http_head(head + trailer, max_size=size, max_headers=count) == parsed
    raises_invalid(kernels, head, E_TOO_LARGE, 431, max_size=size - 1, max_headers=count)
    if count:
        raises_invalid(kernels, head + trailer, E_TOO_MANY, 431, max_size=size, max_headers=count - 1)
    # strict prefixes need more: one at random, and the ones right before each line ending
    assert kernels.parse_http_head(head[: cut % size], max_size=size) is None
    for index, byte in enumerate(head):
        if byte in b"\r\n":
            assert kernels.parse_http_head(head[:index], max_size=size) is None


# ------------------------------------------------------------------------------------- differential

SPECIAL = b"\r\n \t:\x00\x7f\x80\xff\xe9\x01\x1f/aH1."
special_bytes = st.one_of(st.sampled_from(SPECIAL).map(lambda byte: bytes([byte])), st.binary(min_size=1, max_size=1))
operations = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 10**6), special_bytes),
    min_size=1,
    max_size=4,
)
base_heads = st.one_of(
    st.sampled_from([CLIENT_HANDSHAKE, SERVER_HANDSHAKE, b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"]),
    heads().map(lambda built: built[0]),
)


@st.composite
def mutated_heads(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(base_heads))
    for operation, position, byte in draw(operations):
        index = position % (len(data) + 1)
        if operation == "insert":
            data[index:index] = byte
        elif operation == "delete" and index < len(data):
            del data[index]
        elif index < len(data):
            data[index : index + 1] = byte
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


inputs = st.one_of(
    st.binary(max_size=40),
    _bytes_from(SPECIAL + b"GET HTTP/1.1 200 OK", 0, 40),
    mutated_heads(),
)
size_limits = st.one_of(st.just(None), st.integers(0, 300), st.sampled_from([2**32, 2**63, 2**64, 2**100]))
count_limits = st.one_of(st.just(None), st.integers(0, 10), st.sampled_from([2**32, 2**63, 2**64, 2**100]))


@DIFFERENTIAL
@given(data=inputs, max_size=size_limits, max_headers=count_limits)
@example(data=b"", max_size=0, max_headers=None)
@example(data=b"\r\n", max_size=1, max_headers=0)
@example(data=CLIENT_HANDSHAKE, max_size=len(CLIENT_HANDSHAKE) - 1, max_headers=None)
@example(data=CLIENT_HANDSHAKE, max_size=None, max_headers=6)
@example(data=b"GET / HTTP/1.1\r\nA: b\x00\r\n", max_size=None, max_headers=0)
def test_c_matches_python(c_kernels, data, max_size, max_headers):
    limits = {}
    if max_size is not None:
        limits["max_size"] = max_size
    if max_headers is not None:
        limits["max_headers"] = max_headers
    expected = outcome(_kernels_py.parse_http_head, data, **limits)
    assert outcome(c_kernels.parse_http_head, data, **limits) == expected
    assert outcome(c_kernels.parse_http_head, bytearray(data), **limits) == expected
    assert outcome(c_kernels.parse_http_head, memoryview(b"#" + data)[1:], **limits) == expected


@DIFFERENTIAL
@given(built=heads(), operations=operations)
def test_c_matches_python_on_mutated_built_heads(c_kernels, built, operations):
    data = bytearray(built[0])
    for operation, position, byte in operations:
        index = position % (len(data) + 1)
        if operation == "insert":
            data[index:index] = byte
        elif operation == "delete" and index < len(data):
            del data[index]
        elif index < len(data):
            data[index : index + 1] = byte
    assume(data)
    for size in (len(data), len(data) - 1, MAX_HTTP_HEAD_SIZE):
        expected = outcome(_kernels_py.parse_http_head, bytes(data), max_size=size)
        assert outcome(c_kernels.parse_http_head, bytes(data), max_size=size) == expected
