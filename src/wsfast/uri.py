"""WebSocket URIs (RFC 6455 §3): ``ws://host[:port]/path?query`` and ``wss://...``."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

__all__ = ["WebSocketURI", "parse_uri"]


@dataclass(frozen=True, slots=True)
class WebSocketURI:
    """The parts of a WebSocket URI that the handshake and the transport need."""

    secure: bool
    host: str
    port: int
    path: str  # path and query, at least "/"
    #: ``(user, password)`` from ``ws://user:password@host/`` (percent-decoded), for HTTP Basic auth.
    user_info: tuple[str, str] | None = None

    @property
    def host_header(self) -> str:
        """The Host header: the host, with the port unless it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """Split a ``ws://`` or ``wss://`` URI.

    Raises:
        ValueError: another scheme, no host, a fragment (forbidden by RFC 6455 §3), a user name
            without a password, or a port outside 1-65535.
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URI (ws:// or wss://): {uri!r}")
    if parts.fragment or uri.endswith("#"):
        raise ValueError(f"a WebSocket URI cannot have a fragment: {uri!r}")
    user_info = None
    if parts.username is not None or parts.password is not None:
        if parts.username is None or parts.password is None:
            raise ValueError(f"a user name without a password in {uri!r}")
        user_info = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password))
    if not parts.hostname:
        raise ValueError(f"a WebSocket URI needs a host: {uri!r}")
    secure = parts.scheme == "wss"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {uri!r}") from None
    if port == 0:
        raise ValueError(f"invalid port in {uri!r}")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return WebSocketURI(secure, parts.hostname, port or (443 if secure else 80), path, user_info)
