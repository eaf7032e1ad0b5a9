"""The synchronous client: ``with connect("ws://host/path") as ws: ws.send(...); ws.recv()``."""

from __future__ import annotations

import socket
import ssl as ssl_module
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..client import ClientConnection
from ..connection import State
from ..extensions import ClientExtensionFactory
from ..handshake import USER_AGENT
from ..headers import HeadersLike
from ..limits import MAX_FRAGMENTS, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE
from ..permessage_deflate import client_extensions
from .._sockets import naming
from ..proxy import open_tunnel, proxy_for
from .._websockets_names import UNSET, client_headers, message_limits
from .connection import Connection
from ._tls_in_tls import TLSInTLS

__all__ = ["connect"]


def connect(
    uri: str,
    *,
    path: str | None = None,
    sock: socket.socket | None = None,
    proxy: str | bool | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extra_headers: HeadersLike = (),
    user_agent: str | None = USER_AGENT,
    compression: str | None = "deflate",
    extensions: Sequence[ClientExtensionFactory] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    close_timeout: float | None = 10.0,
    max_message_size: int | None = MAX_MESSAGE_SIZE,
    max_frame_size: int | None = UNSET,
    max_fragments: int | None = MAX_FRAGMENTS,
    max_http_head_size: int = MAX_HTTP_HEAD_SIZE,
    max_http_headers: int = MAX_HTTP_HEADERS,
    max_queue: int | None = 16,
    additional_headers: HeadersLike | None = UNSET,
    user_agent_header: str | None = UNSET,
    max_size: int | None | tuple[int | None, int | None] = UNSET,
) -> Connection:
    """Open a WebSocket connection and return it once the handshake succeeded; use it in a
    ``with`` block, or call ``close()``. The options are :func:`wsfast.asyncio.connect`'s, but for
    ``write_limit`` (asyncio's); websockets' names
    ``additional_headers``, ``user_agent_header`` and ``max_size`` too.

    Raises:
        ValueError: an invalid URI or option, ``ssl`` with a ``ws://`` URI, or an unsupported
            proxy URL.
        ProxyError: the proxy refused the tunnel, or answered something that is not HTTP.
        TypeError: an option given under both its names, with different values.
        InvalidHandshake: the server refused the upgrade (InvalidStatus carries its response).
        TimeoutError: the connection was not open within ``open_timeout``.
        OSError: the TCP connection failed.
    """
    extra_headers, user_agent = client_headers(extra_headers, additional_headers, user_agent, user_agent_header, USER_AGENT)
    max_message_size, max_frame_size = message_limits(max_size, max_message_size, max_frame_size, MAX_MESSAGE_SIZE)
    protocol = ClientConnection(
        uri, origin=origin, subprotocols=subprotocols, extra_headers=extra_headers, user_agent=user_agent,
        extensions=client_extensions(compression, extensions), max_message_size=max_message_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
        max_http_head_size=max_http_head_size, max_http_headers=max_http_headers,
    )  # fmt: skip
    target = protocol.uri
    if ssl is not None and not target.secure:
        raise ValueError("ssl is for wss:// URIs")
    deadline = None if open_timeout is None else time.monotonic() + open_timeout
    if sock is None:
        if path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(open_timeout)
            try:
                sock.connect(path)
            except OSError as error:
                sock.close()
                raise naming(error, path) from None
        elif (proxy_address := proxy_for(target, proxy)) is not None:
            sock = open_tunnel(proxy_address, target.host, target.port, timeout=open_timeout, proxy_ssl=proxy_ssl)
        else:
            sock = socket.create_connection((target.host, target.port), timeout=open_timeout)
    transport: socket.socket | TLSInTLS = sock
    try:
        if target.secure:
            sock.settimeout(_left(deadline))
            context = ssl or ssl_module.create_default_context()
            if isinstance(sock, ssl_module.SSLSocket):  # through an https:// proxy: TLS inside its TLS
                transport = TLSInTLS(sock, context, target.host)
            else:
                transport = sock = context.wrap_socket(sock, server_hostname=target.host)
        open_handshake(transport, protocol, deadline)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    connection = Connection(transport, protocol, ping_interval=ping_interval, ping_timeout=ping_timeout,
                            close_timeout=close_timeout, max_queue=max_queue)  # fmt: skip
    connection.start()
    return connection


def open_handshake(sock: socket.socket | TLSInTLS, protocol: Any, deadline: float | None,
                   settle: Callable[[], None] | None = None) -> None:  # fmt: skip
    """Run the opening handshake on a blocking socket, for a client or a server connection;
    ``settle()``, if given, runs after each read (a server answers a held request there).

    Raises:
        InvalidHandshake, InvalidHTTP: the handshake failed (as the sans-IO connection says).
        TimeoutError: it did not finish by ``deadline`` (a ``time.monotonic()`` value).
        ConnectionError: the peer closed first.
    """
    while True:
        output = protocol.data_to_send()
        if output:
            sock.settimeout(_left(deadline))
            sock.sendall(output)
        if protocol.state is not State.CONNECTING:
            break
        sock.settimeout(_left(deadline))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("the opening handshake did not finish in time") from None
        if not data:
            protocol.receive_eof()
            break
        protocol.receive_data(data)
        if settle is not None:
            settle()
    if not protocol.handshake_done:
        raise protocol.handshake_error or ConnectionError("the connection closed during the opening handshake")


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline``, for a socket timeout.

    Raises:
        TimeoutError: it has passed.
    """
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the opening handshake did not finish in time")
    return left
