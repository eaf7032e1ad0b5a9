"""Exceptions raised by wsfast. All of them derive from :class:`WsfastError`.

.. code-block:: text

    WsfastError
    ├── ProtocolError               the peer broke RFC 6455 or RFC 7692; carries the close code to send
    │   ├── InvalidHTTP             a malformed HTTP head; carries the HTTP status to answer
    │   ├── PayloadTooBig           a frame or message over the limit (1009)
    │   └── InvalidPayload          text that is not UTF-8, a bad close payload (1007)
    ├── InvalidHandshake            the opening handshake failed; carries the HTTP status (server side)
    │   ├── InvalidHTTP             (also under ProtocolError) the head of the handshake is malformed
    │   ├── InvalidStatus           the server did not answer 101 (client side); carries the response
    │   ├── SecurityError           following the answer would be unsafe: too many redirects, wss:// to ws://
    │   ├── ProxyError              the proxy did not open the tunnel; carries its status
    │   ├── InvalidHeader           a missing or wrong header; carries its name and value
    │   │   ├── InvalidUpgrade      Upgrade / Connection are not "websocket" / "upgrade"
    │   │   ├── InvalidOrigin       an Origin outside the allow-list (403)
    │   │   └── InvalidVersion      Sec-WebSocket-Version is not 13 (426)
    │   └── NegotiationError        an unacceptable subprotocol or extension
    ├── ConnectionClosed            the connection is closed; carries the close codes and reasons
    │   ├── ConnectionClosedOK      ... with 1000 or 1001 both ways
    │   └── ConnectionClosedError   ... any other way
    └── InvalidState                an operation that the connection's state does not allow

A protocol error knows how the connection should end: ``close_code`` is the WebSocket close code to
send back (RFC 6455 §7.4.1). A handshake error raised by a server knows the HTTP status to answer with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .events import Close

if TYPE_CHECKING:  # handshake.py imports this module
    from .http11 import Response

__all__ = [
    "WsfastError",
    "ProtocolError",
    "InvalidHTTP",
    "PayloadTooBig",
    "InvalidPayload",
    "InvalidHandshake",
    "InvalidStatus",
    "SecurityError",
    "ProxyError",
    "InvalidHeader",
    "InvalidUpgrade",
    "InvalidOrigin",
    "InvalidVersion",
    "NegotiationError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
]


class WsfastError(Exception):
    """The root of every exception that wsfast raises on purpose."""


# ------------------------------------------------------------------------------ protocol errors


class ProtocolError(WsfastError):
    """The peer sent something RFC 6455 (or an extension's RFC) forbids.

    Attributes:
        close_code: the close code to send before closing (1002, protocol error, by default).
        frames: frames decoded before the error in the same call (see ``FrameDecoder.feed``).
    """

    default_close_code = 1002

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = self.default_close_code if close_code is None else close_code
        self.frames: list[Any] = []


class PayloadTooBig(ProtocolError):
    """A frame or message larger than the configured limit (close code 1009)."""

    default_close_code = 1009


class InvalidPayload(ProtocolError):
    """Data inconsistent with its type: text that is not UTF-8 (close code 1007)."""

    default_close_code = 1007


# ------------------------------------------------------------------------------ handshake errors


class InvalidHandshake(WsfastError):
    """The opening handshake failed.

    Attributes:
        status_code: the HTTP status a server answers with (400 unless a subclass says otherwise).
    """

    status_code = 400


class InvalidHTTP(InvalidHandshake, ProtocolError):
    """An HTTP request or response head that cannot be parsed: the opening handshake failed (as
    websockets' ``InvalidMessage`` is an ``InvalidHandshake``), and the peer broke the protocol.

    Attributes:
        status_code: the HTTP status to answer with (400; 431 for a head that is too large, 414
            when its start line alone reaches the size limit).
    """

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class SecurityError(InvalidHandshake):
    """Following the server's answer would be unsafe: too many redirects, or a redirect from
    ``wss://`` to ``ws://``."""


class ProxyError(InvalidHandshake):
    """The proxy did not open the tunnel to the server: it refused, or answered something that is
    not HTTP.

    Attributes:
        proxy_status: the status the proxy answered with (407: it wants credentials), if any.
    """

    def __init__(self, message: str, proxy_status: int | None = None) -> None:
        super().__init__(message)
        self.proxy_status = proxy_status


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with something other than 101.

    Attributes:
        response: the server's response (status, headers and body).
    """

    def __init__(self, response: Response) -> None:
        super().__init__(f"server rejected the WebSocket connection: HTTP {response.status_code}")
        self.response = response


class InvalidHeader(InvalidHandshake):
    """A header is missing, repeated, or has a wrong value.

    Attributes:
        name: the header's name.
        value: its value, or None when it is missing.
        response: on the client side, the server's response; else None.
    """

    def __init__(self, name: str, value: str | None = None, reason: str = "", *, response: Any = None) -> None:
        if value is None:
            message = f"missing {name} header"
        else:
            message = f"invalid {name} header: {value!r}"
        if reason:
            message = f"{message} ({reason})"
        super().__init__(message)
        self.name = name
        self.value = value
        self.response = response


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket upgrade."""

    status_code = 426


class InvalidOrigin(InvalidHeader):
    """The Origin header is not in the server's allow-list."""

    status_code = 403


class InvalidVersion(InvalidHeader):
    """Sec-WebSocket-Version is not 13; the server answers 426 with ``Sec-WebSocket-Version: 13``."""

    status_code = 426


class NegotiationError(InvalidHandshake):
    """A subprotocol or an extension could not be agreed on."""


# ------------------------------------------------------------------------------ connection errors


class ConnectionClosed(WsfastError):
    """The connection is closed.

    Attributes:
        code: the close code received (1006 when the connection dropped without a close frame).
        reason: the close reason received.
        sent_code: the close code sent, or None (no close frame sent, or one without a code).
        sent_reason: the close reason sent, or None when no close frame was sent.
        rcvd: websockets' view of ``code`` and ``reason``: the close frame received, as a
            :class:`~wsfast.events.Close`, or None when the connection dropped without one (1006).
        sent: websockets' view of ``sent_code`` and ``sent_reason``: the close frame sent, as a
            :class:`~wsfast.events.Close` (1005 for one without a code), or None.
    """

    def __init__(self, code: int, reason: str = "", sent_code: int | None = None, sent_reason: str | None = None) -> None:
        super().__init__(f"connection closed: {code}" + (f" {reason}" if reason else ""))
        self.code = code
        self.reason = reason
        self.sent_code = sent_code
        self.sent_reason = sent_reason

    @property
    def rcvd(self) -> Close | None:
        return None if self.code == 1006 else Close(self.code, self.reason)

    @property
    def sent(self) -> Close | None:
        if self.sent_reason is None:
            return None
        return Close(1005 if self.sent_code is None else self.sent_code, self.sent_reason)


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed normally (1000 or 1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error, or dropped."""


class InvalidState(WsfastError):
    """The connection's state does not allow this operation (for example sending after close)."""
