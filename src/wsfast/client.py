"""The client side of a connection, sans-IO: the upgrade request, then the WebSocket protocol."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from .connection import Connection, Role, State
from .exceptions import InvalidHandshake, InvalidHTTP
from .extensions import ClientExtensionFactory
from .handshake import USER_AGENT, ClientHandshake
from .http11 import Request, Response, parse_response
from .headers import Headers, HeadersLike
from .limits import MAX_FRAGMENTS, MAX_FRAME_SIZE, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE
from .uri import WebSocketURI, parse_uri

__all__ = ["ClientConnection"]


class ClientConnection(Connection):
    """A client's connection: the upgrade request is in :meth:`data_to_send` from the start.

    While CONNECTING it reads the server's response; a valid 101 opens the connection, anything
    else ends it in CLOSED with ``handshake_error`` set (an :class:`InvalidStatus` carries the
    server's response, with its body).

    Args:
        uri: the ``ws://`` or ``wss://`` URI to connect to.
        origin: the ``Origin`` header to send; None (the default) to send none.
        subprotocols: the subprotocols to offer, preferred first (see :class:`ClientHandshake`).
        extensions: the extension factories to offer, preferred first.
        extra_headers: more headers for the upgrade request, sent after the handshake's own
            (HTTP Basic credentials from the URI are added unless they hold ``Authorization``).
        user_agent: the ``User-Agent`` header (``wsfast/<version>`` by default); None to send
            none.
        max_message_size: the largest message accepted, in bytes after decompression; None for
            no limit (as for :class:`Connection`).
        max_frame_size: the largest frame payload accepted, in bytes; None for no limit.
        max_fragments: the most frames one message may have; None for no limit.
        max_http_head_size: the most bytes the response head may take (interim 1xx heads
            included); a larger one fails the handshake (:class:`InvalidHTTP`).
        max_http_headers: the most header lines in the response head; more fail the handshake.
        auto_pong: answer every ping with a pong carrying the same payload.
        stream_fragments: report text and binary data as fragments as frames arrive, instead of
            whole messages (see :class:`Connection`).

    Raises:
        ValueError: an invalid URI or handshake option.

    Attributes:
        uri: the parsed URI.
        request: the upgrade request sent.
        response: the server's response, once read.
        subprotocol: the subprotocol agreed, or None.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: str | None = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtensionFactory] = (),
        extra_headers: HeadersLike = (),
        user_agent: str | None = USER_AGENT,
        max_message_size: int | None = MAX_MESSAGE_SIZE,
        max_frame_size: int | None = MAX_FRAME_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_http_head_size: int = MAX_HTTP_HEAD_SIZE,
        max_http_headers: int = MAX_HTTP_HEADERS,
        auto_pong: bool = True,
        stream_fragments: bool = False,
    ) -> None:
        super().__init__(
            Role.CLIENT,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            max_fragments=max_fragments,
            auto_pong=auto_pong,
            stream_fragments=stream_fragments,
            state=State.CONNECTING,
        )
        self.uri: WebSocketURI = parse_uri(uri)
        self.handshake = ClientHandshake(
            self.uri.host_header,
            self.uri.path,
            origin=origin,
            subprotocols=subprotocols,
            extensions=extensions,
            extra_headers=_with_basic_auth(extra_headers, self.uri.user_info),
            user_agent=user_agent,
        )
        self.max_http_head_size = max_http_head_size
        self.max_http_headers = max_http_headers
        self.request: Request = self.handshake.request
        self.response: Response | None = None
        self.subprotocol: str | None = None
        self._head = bytearray()
        self._output.append(self.request.serialize())

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> None:
        """Read the handshake response from the server; frames follow once it is complete."""
        self._head += data
        try:
            parsed = parse_response(self._head, max_size=self.max_http_head_size, max_headers=self.max_http_headers)
            if parsed is None:
                return
            self.response, consumed = parsed
            self.subprotocol, extensions = self.handshake.process_response(self.response)
        except InvalidHandshake as error:  # InvalidHTTP too
            self.handshake_error = error
            self._set_state(State.CLOSED)
            return
        rest = bytes(self._head[consumed:])
        self._head = bytearray()
        self._open(extensions, rest)

    def receive_eof(self) -> None:
        """The server closed the transport (during the handshake: the handshake failed)."""
        if self._state is State.CONNECTING:
            self.handshake_error = InvalidHTTP("connection closed during the opening handshake")
        super().receive_eof()


def _with_basic_auth(extra_headers: HeadersLike, user_info: tuple[str, str] | None) -> HeadersLike:
    """``extra_headers``, with HTTP Basic credentials (RFC 7617) from the URI's user info unless
    they carry an Authorization header of their own."""
    if user_info is None:
        return extra_headers
    headers = Headers(extra_headers)
    if headers.get("Authorization") is None:
        credentials = base64.b64encode(f"{user_info[0]}:{user_info[1]}".encode()).decode()
        headers.add("Authorization", f"Basic {credentials}")
    return headers
