"""The opening handshake (RFC 6455 §4), sans I/O: build, parse and check the upgrade request and its
response. Nothing here reads a socket or a clock; the caller moves the bytes.

A client builds a :class:`ClientHandshake`, sends ``handshake.request.serialize()``, feeds what it
receives to :func:`parse_response` until it returns a response, then calls
``handshake.process_response(response)`` for the subprotocol and extensions agreed.

A server feeds what it receives to :func:`parse_request`, then calls
:meth:`ServerHandshake.accept`; on :class:`~wsfast.exceptions.InvalidHandshake` or
:class:`~wsfast.exceptions.InvalidHTTP` it sends :func:`response_for` the error and closes.

Decisions where the RFCs leave room:

- Only ``GET`` (else 405 with ``Allow: GET``) over exactly ``HTTP/1.1`` (else 505) is a handshake
  request; a request with a body (``Content-Length`` other than 0, or ``Transfer-Encoding``) is 400.
- A ``Connection`` header without ``upgrade`` is a 426 (:class:`InvalidUpgrade`), like a bad
  ``Upgrade``; every 426 carries ``Upgrade: websocket`` and so ``Connection: Upgrade, close``
  (RFC 9110 §7.8, §15.5.22).
- A client wants ``Upgrade`` to be exactly one protocol, ``websocket`` in any case (RFC 6455 §4.1);
  a server only wants it among the listed protocols (§4.2.1).
- When no configured subprotocol was offered, the server answers without one (RFC 6455 §4.2.2 allows
  it); ``select_subprotocol`` may raise :class:`NegotiationError` to refuse instead.
- Extension names match factories exactly. Whether one extension may be agreed twice is for its
  factory to say (it sees the extensions accepted so far).

The HTTP messages and their parsers are ``http11.py``'s; they are re-exported here, where the
handshake's users have always found them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Sequence

from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHTTP,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from .extensions import ClientExtensionFactory, Extension, ExtensionParameters, ServerExtensionFactory
from .headers import (
    Headers,
    HeadersLike,
    parse_connection,
    parse_extensions,
    parse_subprotocols,
    parse_upgrade,
    serialize_extensions,
    serialize_subprotocols,
)
from .http11 import Request, Response, allows_body, parse_request, parse_response, standard_reason
from .version import __version__

__all__ = [
    "GUID",
    "USER_AGENT",
    "SERVER",
    "generate_key",
    "accept_key",
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "reject",
    "response_for",
    "ClientHandshake",
    "ServerHandshake",
]

#: The GUID that RFC 6455 §1.3 appends to the key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Default ``User-Agent`` of a client and ``Server`` of a server.
USER_AGENT = SERVER = f"wsfast/{__version__}"

# uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal, or reg-name / IPv4.
_HOST = re.compile(r"(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\]|[0-9A-Za-z\-._~!$&'()*+,;=%]+)(?::[0-9]*)?")

# Headers the handshake writes itself, so extra headers must not repeat them.
_CLIENT_MANAGED = frozenset({"host", "upgrade", "connection", "origin", "user-agent", "content-length",
                             "transfer-encoding"})  # fmt: skip
_SERVER_MANAGED = frozenset({"upgrade", "connection", "server", "content-length", "transfer-encoding"})


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes in base64 (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` that answers ``key``: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("latin-1")).digest()).decode("ascii")


def _is_valid_key(key: str) -> bool:
    # "a base64-encoded value that, when decoded, is 16 bytes in length" (RFC 6455 §4.2.1)
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        return False


def _joined(headers: Headers, name: str) -> str | None:
    values = headers.get_all(name)
    return ", ".join(values) if values else None


def _extra_headers(headers: HeadersLike, managed: frozenset[str]) -> Headers:
    extra = Headers(headers)
    for name in extra:
        lowered = name.lower()
        if lowered in managed or lowered.startswith("sec-websocket-"):
            raise ValueError(f"the handshake sets {name} itself; it cannot be an extra header")
    return extra


# ------------------------------------------------------------------------------------- rejections


def reject(status_code: int, text: str, *, headers: HeadersLike = ()) -> Response:
    """A complete response that refuses the handshake: ``text`` as a text/plain UTF-8 body, with
    ``Content-Type``, ``Content-Length`` and ``Connection: close`` (``Connection: Upgrade, close``
    when ``headers`` has ``Upgrade``, as RFC 9110 §7.8 requires), then ``headers``.

    Raises:
        ValueError: the status cannot carry a body (1xx, 204, 304), or ``headers`` sets
            Content-Type, Content-Length or Connection.
    """
    if not allows_body(status_code):
        raise ValueError(f"cannot reject with status {status_code}")
    extra = Headers(headers)
    for name in ("Content-Type", "Content-Length", "Connection"):
        if name in extra:
            raise ValueError(f"reject() sets {name} itself")
    body = text.encode("utf-8")
    response_headers = Headers([
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "Upgrade, close" if "Upgrade" in extra else "close"),
    ])  # fmt: skip
    for name, value in extra.items():
        response_headers.add(name, value)
    return Response(status_code, standard_reason(status_code), response_headers, body)


def response_for(error: InvalidHandshake | InvalidHTTP) -> Response:
    """The response that tells the client why its handshake failed: the error's status and message.

    A 426 carries ``Upgrade: websocket``, and :class:`InvalidVersion` ``Sec-WebSocket-Version: 13``
    too (RFC 6455 §4.4); a 405 carries ``Allow: GET``.
    """
    status_code = error.status_code
    headers = []
    if status_code == 426:
        headers.append(("Upgrade", "websocket"))
    if isinstance(error, InvalidVersion):
        headers.append(("Sec-WebSocket-Version", "13"))
    if status_code == 405:
        headers.append(("Allow", "GET"))
    return reject(status_code, str(error), headers=headers)


# ------------------------------------------------------------------------------------- client


class ClientHandshake:
    """The client's half: the request to send, then the check of the server's response.

    Attributes:
        key: the ``Sec-WebSocket-Key`` sent.
        request: the request to send (``request.serialize()``).
    """

    __slots__ = ("key", "request", "_subprotocols", "_extensions")

    def __init__(
        self,
        host: str,
        path: str = "/",
        *,
        origin: str | None = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtensionFactory] = (),
        extra_headers: HeadersLike = (),
        user_agent: str | None = USER_AGENT,
        key: str | None = None,
    ) -> None:
        """Build the request.

        Args:
            host: the ``Host`` header: the server's name, with ``:port`` when not the default.
            path: the resource, with its query: ``/chat?room=1``.
            origin: the ``Origin`` header, if any.
            subprotocols: the subprotocols to offer, preferred first.
            extensions: the extensions to offer, preferred first.
            extra_headers: more headers, sent after the handshake's own.
            user_agent: the ``User-Agent`` header; None to send none.
            key: a fixed ``Sec-WebSocket-Key`` (for tests); a random one by default.

        Raises:
            ValueError: an invalid host, path, key, subprotocol, extension parameter or header, or an
                extra header that the handshake sets itself.
        """
        if not _HOST.fullmatch(host):
            raise ValueError(f"invalid host: {host!r}")
        if not path.startswith("/"):
            raise ValueError(f"the path must start with '/': {path!r}")
        if key is None:
            key = generate_key()
        elif not _is_valid_key(key):
            raise ValueError(f"invalid Sec-WebSocket-Key: {key!r}")
        self.key = key
        self._subprotocols = tuple(subprotocols)
        self._extensions = tuple(extensions)
        headers = Headers([
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ])  # fmt: skip
        if origin is not None:
            headers.add("Origin", origin)
        if self._subprotocols:
            headers.add("Sec-WebSocket-Protocol", serialize_subprotocols(self._subprotocols))
        if self._extensions:
            offers = [(factory.name, factory.get_request_params()) for factory in self._extensions]
            headers.add("Sec-WebSocket-Extensions", serialize_extensions(offers))
        for name, value in _extra_headers(extra_headers, _CLIENT_MANAGED).items():
            headers.add(name, value)
        if user_agent is not None:
            headers.add("User-Agent", user_agent)
        self.request = Request(path, headers)
        self.request.serialize()  # fail here, not when sending, on header injection

    def process_response(self, response: Response) -> tuple[str | None, list[Extension]]:
        """Check the server's response: the subprotocol (or None) and the extensions agreed. Every
        error raised has ``response`` set to ``response``.

        Raises:
            InvalidStatus: the status is not 101.
            InvalidUpgrade: ``Upgrade`` is not ``websocket``, or ``Connection`` lacks ``upgrade``.
            InvalidHeader: ``Sec-WebSocket-Accept`` is missing, repeated or wrong, or a header does
                not parse.
            NegotiationError: a subprotocol that was not offered or several of them; an extension
                that no offered factory accepts.
        """
        try:
            self._check_upgrade(response)
            subprotocol = self._agreed_subprotocol(response.headers)
            extensions = self._agreed_extensions(response.headers)
        except InvalidHandshake as error:
            error.response = response  # type: ignore[attr-defined]  # for the caller, as InvalidStatus has it
            raise
        return subprotocol, extensions

    def _check_upgrade(self, response: Response) -> None:
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        upgrade = parse_upgrade(headers.get_all("Upgrade"))
        if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
            raise InvalidUpgrade("Upgrade", _joined(headers, "Upgrade"))
        if "upgrade" not in parse_connection(headers.get_all("Connection")):
            raise InvalidUpgrade("Connection", _joined(headers, "Connection"))
        accept = headers.get_all("Sec-WebSocket-Accept")
        if len(accept) != 1:
            value = _joined(headers, "Sec-WebSocket-Accept")
            raise InvalidHeader("Sec-WebSocket-Accept", value, "repeated" if accept else "")
        if accept[0] != accept_key(self.key):
            raise InvalidHeader("Sec-WebSocket-Accept", accept[0], "does not match the key")

    def _agreed_subprotocol(self, headers: Headers) -> str | None:
        chosen = parse_subprotocols(headers.get_all("Sec-WebSocket-Protocol"))
        if not chosen:
            return None
        if len(chosen) > 1:
            raise NegotiationError(f"the server chose several subprotocols: {', '.join(chosen)}")
        if chosen[0] not in self._subprotocols:
            raise NegotiationError(f"the server chose subprotocol {chosen[0]}, which was not offered")
        return chosen[0]

    def _agreed_extensions(self, headers: Headers) -> list[Extension]:
        accepted: list[Extension] = []
        for name, params in parse_extensions(headers.get_all("Sec-WebSocket-Extensions")):
            offered = False
            for factory in self._extensions:
                if factory.name != name:
                    continue
                offered = True
                try:
                    extension = factory.process_response_params(params, accepted)
                except NegotiationError:
                    continue
                accepted.append(extension)
                break
            else:
                why = "with parameters that no offer accepts" if offered else "which was not offered"
                raise NegotiationError(f"the server agreed to extension {name} {why}")
        return accepted


# ------------------------------------------------------------------------------------- server

#: ``select_subprotocol(request, offered)``: the subprotocol to use (one of ``offered``) or None.
SelectSubprotocol = Callable[[Request, Sequence[str]], "str | None"]


class ServerHandshake:
    """The server's half: check a request and answer it. One object can serve many connections."""

    __slots__ = ("_origins", "_subprotocols", "_select_subprotocol", "_extensions", "_extra_headers",
                 "_server_header")  # fmt: skip

    def __init__(
        self,
        *,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: SelectSubprotocol | None = None,
        extensions: Sequence[ServerExtensionFactory] = (),
        extra_headers: HeadersLike = (),
        server_header: str | None = SERVER,
    ) -> None:
        """Configure the checks and the answer.

        Args:
            origins: the ``Origin`` values to accept, None among them for requests without one; None
                to accept any.
            subprotocols: the subprotocols supported, preferred first: the first one the client
                offers is chosen.
            select_subprotocol: instead of ``subprotocols``, a function that picks one of the
                client's offers or None, or raises :class:`NegotiationError` to refuse.
            extensions: the extensions supported, preferred first.
            extra_headers: more headers for the 101 response.
            server_header: the ``Server`` header; None to send none.

        An application that answers some requests itself (websockets' ``process_request``) holds
        them in the connection: ``ServerConnection(hold_request=True)``, then
        :meth:`~wsfast.server.ServerConnection.settle_request`.

        Raises:
            ValueError: an invalid subprotocol, or an extra header that the handshake sets itself.
        """
        self._origins = None if origins is None else frozenset(origins)
        self._subprotocols = tuple(subprotocols)
        if self._subprotocols:
            serialize_subprotocols(self._subprotocols)  # validates them
        self._select_subprotocol = select_subprotocol
        self._extensions = tuple(extensions)
        self._extra_headers = _extra_headers(extra_headers, _SERVER_MANAGED)
        self._extra_headers.serialize()
        self._server_header = server_header

    def accept(self, request: Request) -> tuple[Response, str | None, list[Extension]]:
        """Check ``request`` and answer it: the response, the subprotocol and the extensions agreed.

        The response is a 101: the checks that fail raise instead.

        Raises:
            InvalidHeader: ``Host`` missing, repeated or invalid; ``Sec-WebSocket-Key`` missing,
                repeated or not 16 bytes in base64; ``Origin`` repeated; a header that does not parse
                (all 400).
            InvalidUpgrade: ``Upgrade`` lacks ``websocket`` or ``Connection`` lacks ``upgrade`` (426).
            InvalidVersion: ``Sec-WebSocket-Version`` is not exactly ``13`` (426).
            InvalidOrigin: ``Origin`` is missing or not allowed (403).
            NegotiationError: ``select_subprotocol`` refused (400).
            ValueError: ``select_subprotocol`` chose something the client did not offer (a bug in
                the application, not in the client).
        """
        headers = request.headers
        key = self._check_request(headers)
        subprotocol = self._choose_subprotocol(request)
        agreed, extensions = self._negotiate_extensions(headers)
        response_headers = Headers([
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
        ])  # fmt: skip
        if subprotocol is not None:
            response_headers.add("Sec-WebSocket-Protocol", subprotocol)
        if agreed:
            response_headers.add("Sec-WebSocket-Extensions", serialize_extensions(agreed))
        if self._server_header is not None:
            response_headers.add("Server", self._server_header)
        for name, value in self._extra_headers.items():
            response_headers.add(name, value)
        return Response(101, "Switching Protocols", response_headers), subprotocol, extensions

    def _check_request(self, headers: Headers) -> str:
        # In the order of RFC 6455 §4.2.1, the version before the key (§4.4: a client of another
        # version learns which one to use, whatever its key looks like).
        host = headers.get_all("Host")
        if len(host) != 1:
            raise InvalidHeader("Host", _joined(headers, "Host"), "repeated" if host else "")
        if not _HOST.fullmatch(host[0]):
            raise InvalidHeader("Host", host[0])
        if not any(protocol.lower() == "websocket" for protocol in parse_upgrade(headers.get_all("Upgrade"))):
            raise InvalidUpgrade("Upgrade", _joined(headers, "Upgrade"))
        if "upgrade" not in parse_connection(headers.get_all("Connection")):
            raise InvalidUpgrade("Connection", _joined(headers, "Connection"))
        if headers.get_all("Sec-WebSocket-Version") != ["13"]:
            raise InvalidVersion("Sec-WebSocket-Version", _joined(headers, "Sec-WebSocket-Version"))
        keys = headers.get_all("Sec-WebSocket-Key")
        if len(keys) != 1:
            raise InvalidHeader("Sec-WebSocket-Key", _joined(headers, "Sec-WebSocket-Key"), "repeated" if keys else "")
        if not _is_valid_key(keys[0]):
            raise InvalidHeader("Sec-WebSocket-Key", keys[0], "not 16 bytes in base64")
        if self._origins is not None:
            origins = headers.get_all("Origin")
            if len(origins) > 1:
                raise InvalidHeader("Origin", ", ".join(origins), "repeated")
            origin = origins[0] if origins else None
            if origin not in self._origins:
                raise InvalidOrigin("Origin", origin)
        return keys[0]

    def _choose_subprotocol(self, request: Request) -> str | None:
        offered = parse_subprotocols(request.headers.get_all("Sec-WebSocket-Protocol"))
        if self._select_subprotocol is not None:
            chosen = self._select_subprotocol(request, offered)
            if chosen is not None and chosen not in offered:
                raise ValueError(f"select_subprotocol chose {chosen!r}, which the client did not offer")
            return chosen
        return next((subprotocol for subprotocol in self._subprotocols if subprotocol in offered), None)

    def _negotiate_extensions(self, headers: Headers) -> tuple[list[tuple[str, ExtensionParameters]], list[Extension]]:
        agreed: list[tuple[str, ExtensionParameters]] = []
        extensions: list[Extension] = []
        # In the client's order; an offer that no factory takes is ignored (RFC 6455 §9.1).
        for name, params in parse_extensions(headers.get_all("Sec-WebSocket-Extensions")):
            for factory in self._extensions:
                if factory.name != name:
                    continue
                try:
                    response_params, extension = factory.process_request_params(params, extensions)
                except NegotiationError:
                    continue  # declined: the next factory may take it
                agreed.append((name, response_params))
                extensions.append(extension)
                break
        return agreed, extensions
