"""Who an end of a connection is and where it stands: shared by the sans-IO connection and its
compiled hot path (``_openpath``), which must test the very same members."""

from __future__ import annotations

import enum

__all__ = ["Role", "State"]


class Role(enum.Enum):
    """Which end of the connection this is; it decides who masks (RFC 6455 §5.3)."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.IntEnum):
    """The connection's state (RFC 6455 §4, §7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
