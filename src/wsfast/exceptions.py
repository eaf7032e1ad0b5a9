"""Exceptions raised by wsfast. All of them derive from :class:`WsfastError`.

.. code-block:: text

    WsfastError
    └── ProtocolError            the peer broke RFC 6455; carries the close code to send
        └── InvalidHTTP          a malformed HTTP head; carries the HTTP status to answer

A protocol error knows how the connection should end: ``close_code`` is the WebSocket close code to
send back (RFC 6455 §7.4.1), and for :class:`InvalidHTTP` ``status_code`` is the HTTP status of the
response that rejects the handshake.
"""

from __future__ import annotations

__all__ = ["WsfastError", "ProtocolError", "InvalidHTTP"]


class WsfastError(Exception):
    """The root of every exception that wsfast raises on purpose."""


class ProtocolError(WsfastError):
    """The peer sent something RFC 6455 forbids.

    Attributes:
        close_code: the close code to send before closing (1002, protocol error, by default).
    """

    default_close_code = 1002

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = self.default_close_code if close_code is None else close_code


class InvalidHTTP(ProtocolError):
    """An HTTP request or response head that cannot be parsed.

    Attributes:
        status_code: the HTTP status to answer with (400, or 431 for a head that is too large).
    """

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
