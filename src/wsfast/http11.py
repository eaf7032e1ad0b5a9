"""HTTP/1.1 as the opening handshake uses it (RFC 9112): the request and response values, their
serialization, and the parsers that read them from bytes, sans I/O. The head itself is parsed by
the kernels (``kernels.parse_http_head``); what is a valid *handshake* is for ``handshake.py``.

- :func:`parse_request` takes only ``GET`` over exactly ``HTTP/1.1`` without a body.
- :func:`parse_response` skips interim 1xx responses before the final one and reads a rejection's
  body only by ``Content-Length``; a chunked body or one without a length is treated as empty (the
  connection is closed after a rejection anyway).
"""

from __future__ import annotations

import dataclasses
import http
import re
from typing import Any

from .exceptions import InvalidHTTP
from .headers import Headers
from .kernels import parse_http_head
from .limits import MAX_HTTP_BODY_SIZE, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS

__all__ = [
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "standard_reason",
    "allows_body",
]

_TARGET = re.compile(r"[\x21-\x7e]+")
_REASON_FORBIDDEN = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_DIGITS = re.compile(r"[0-9]+")
_NO_BODY_STATUSES = frozenset({204, 304})


def standard_reason(status_code: int) -> str:
    """The reason phrase RFC 9110 gives ``status_code``, or "" for a status it does not name."""
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def allows_body(status_code: int) -> bool:
    """Whether a response with ``status_code`` may carry a body (not 1xx, 204 or 304)."""
    return status_code >= 200 and status_code not in _NO_BODY_STATUSES


# ------------------------------------------------------------------------------------- messages


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A handshake request: ``GET path HTTP/1.1`` and its headers."""

    path: str
    headers: Headers

    def serialize(self) -> bytes:
        """The request head, ready to send.

        Raises:
            ValueError: ``path`` is empty or holds a character outside visible ASCII (percent-encode
                it), or a header is invalid (see :meth:`Headers.serialize`).
        """
        if not _TARGET.fullmatch(self.path):
            raise ValueError(f"invalid request target: {self.path!r}")
        return b"GET " + self.path.encode("ascii") + b" HTTP/1.1\r\n" + self.headers.serialize() + b"\r\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A handshake response: 101 to upgrade, anything else to refuse (with an optional body)."""

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""

    def serialize(self) -> bytes:
        """The response head and body, ready to send. A status that allows a body gets a
        ``Content-Length`` when it has neither that nor ``Transfer-Encoding`` (the headers are not
        modified).

        Raises:
            ValueError: the status is not three digits, the reason phrase holds a control character,
                a 1xx, 204 or 304 response has a body, ``Content-Length`` disagrees with the body, or
                a header is invalid (see :meth:`Headers.serialize`).
        """
        if not 100 <= self.status_code <= 999:
            raise ValueError(f"invalid status code: {self.status_code!r}")
        if _REASON_FORBIDDEN.search(self.reason_phrase):
            raise ValueError(f"invalid reason phrase: {self.reason_phrase!r}")
        headers = self.headers
        if not allows_body(self.status_code):
            if self.body:
                raise ValueError(f"a {self.status_code} response cannot have a body")
        elif "Content-Length" in headers:
            if headers.get_all("Content-Length") != [str(len(self.body))]:
                raise ValueError("Content-Length does not match the body")
        elif "Transfer-Encoding" not in headers:
            headers = headers.copy()
            headers.add("Content-Length", str(len(self.body)))
        start = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("latin-1")
        return start + headers.serialize() + b"\r\n" + bytes(self.body)


def _content_length(values: list[str]) -> int:
    # Exactly one, plain digits: a list or conflicting copies smell of request smuggling.
    if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
        raise InvalidHTTP(f"invalid Content-Length: {', '.join(values)!r}")
    digits = values[0].lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 1 << 62  # int() refuses over 4300 digits


def parse_request(
    buffer: Any, *, max_size: int = MAX_HTTP_HEAD_SIZE, max_headers: int = MAX_HTTP_HEADERS
) -> tuple[Request, int] | None:
    """Parse a handshake request from the start of ``buffer``.

    Returns None until the head is complete, else the request and the number of bytes it took.

    Raises:
        InvalidHTTP: a malformed head, or one too large (431, or 414 for a request line that
            reaches the limit, see ``kernels.parse_http_head``); a response instead of a request
            (400); a method other than GET (405); a version other than HTTP/1.1 (505); a body (400).
        TypeError: ``buffer`` is not a buffer, or a limit is not an integer.
        ValueError: a limit is negative.
    """
    head = parse_http_head(buffer, max_size=max_size, max_headers=max_headers)
    if head is None:
        return None
    (method, target, version), pairs, length = head
    if method.startswith("HTTP/"):
        raise InvalidHTTP("expected a request, received a response")
    if method != "GET":
        raise InvalidHTTP(f"method {method} not allowed: the WebSocket handshake is a GET", 405)
    if version != "HTTP/1.1":
        raise InvalidHTTP(f"{version} not supported: the WebSocket handshake needs HTTP/1.1", 505)
    headers = Headers(pairs)
    if "Transfer-Encoding" in headers or _content_length(headers.get_all("Content-Length") or ["0"]):
        raise InvalidHTTP("a WebSocket handshake request cannot have a body")
    return Request(target, headers), length


def parse_response(
    buffer: Any,
    *,
    max_size: int = MAX_HTTP_HEAD_SIZE,
    max_headers: int = MAX_HTTP_HEADERS,
    max_body_size: int = MAX_HTTP_BODY_SIZE,
) -> tuple[Response, int] | None:
    """Parse a handshake response from the start of ``buffer``, skipping interim 1xx responses.

    Returns None until the response is complete, else the response and the number of bytes it took
    (interim responses included). A 101 ends at its head: what follows is WebSocket frames. Another
    status brings the body that ``Content-Length`` announces, so that a client can report the
    server's reason; without one (or with ``Transfer-Encoding``) the body is taken as empty.

    Raises:
        InvalidHTTP: a malformed head, or heads over ``max_size`` bytes in all (431, see
            ``kernels.parse_http_head``); a request instead of a response; a status under 100; a
            version other than HTTP/1.1 (HTTP/1.0 is allowed for a final non-101 answer); an invalid
            ``Content-Length``, or one over ``max_body_size``.
        TypeError: ``buffer`` is not a buffer, or a limit is not an integer.
        ValueError: a limit is negative.
    """
    data = buffer if type(buffer) is bytes else bytes(buffer)
    offset = 0
    while True:
        # All heads together, interim ones included, stay within max_size.
        head = parse_http_head(data[offset:] if offset else data, max_size=max_size - offset, max_headers=max_headers)
        if head is None:
            return None
        (version, status, reason), pairs, length = head
        if not version.startswith("HTTP/"):
            raise InvalidHTTP("expected a response, received a request")
        status_code = int(status)
        if status_code < 100:
            raise InvalidHTTP(f"invalid status code {status}")
        if version != "HTTP/1.1" and not (version == "HTTP/1.0" and status_code >= 200):
            raise InvalidHTTP(f"{version} {status} not supported: the WebSocket handshake needs HTTP/1.1")
        end = offset + length
        if status_code < 200 and status_code != 101:
            offset = end  # RFC 9110 §15.2: a client must accept interim responses before the final one
            continue
        headers = Headers(pairs)
        body = b""
        lengths = headers.get_all("Content-Length")
        if allows_body(status_code) and lengths and "Transfer-Encoding" not in headers:
            size = _content_length(lengths)
            if size > max_body_size:
                raise InvalidHTTP(f"response body of {size} bytes is larger than max_body_size ({max_body_size})")
            if len(data) < end + size:
                return None
            body = data[end : end + size]
            end += size
        return Response(status_code, reason, headers, body), end
