"""What every I/O layer's connection tells about itself, read from its sans-IO core."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from .connection import Connection, State

__all__ = ["ConnectionFacts"]


class ConnectionFacts:
    """The connection facts both the asyncio and the sync connections expose: the sans-IO core
    (``self.protocol``) owns them; ``self._latency`` is the I/O layer's, which keeps the clock."""

    protocol: Connection
    _latency: float

    @property
    def state(self) -> State:
        """The sans-IO connection's state: CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def close_code(self) -> int | None:
        """The close code received (1006 if the connection dropped), or None while open."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received, or None while open."""
        return self.protocol.close_reason

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the opening handshake, or None."""
        return getattr(self.protocol, "subprotocol", None)

    @property
    def request(self) -> Any:
        """The opening handshake's request."""
        return getattr(self.protocol, "request", None)

    @property
    def response(self) -> Any:
        """The opening handshake's response."""
        return getattr(self.protocol, "response", None)

    @property
    def latency(self) -> float:
        """Seconds between the last ping answered and its pong; 0 until one is answered."""
        return self._latency

    @functools.cached_property
    def id(self) -> uuid.UUID:
        """A unique identifier of this connection, for logs (websockets' ``id``); made on first use."""
        return uuid.uuid4()

    @functools.cached_property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """The ``wsfast`` logger with this connection in each record's ``websocket`` attribute
        (websockets' ``logger``); made on first use."""
        return logging.LoggerAdapter(logging.getLogger("wsfast"), {"websocket": self})
