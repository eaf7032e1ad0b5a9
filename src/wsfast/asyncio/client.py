"""The asyncio WebSocket client: ``connect(uri)``."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl as ssl_module
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import Any, cast

from ..client import ClientConnection
from ..connection import State
from ..exceptions import InvalidHTTP, InvalidStatus, ProxyError, SecurityError
from ..extensions import ClientExtensionFactory
from ..handshake import USER_AGENT
from ..headers import HeadersLike
from ..limits import MAX_FRAGMENTS, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE
from ..permessage_deflate import client_extensions
from .._websockets_names import UNSET, client_headers, message_limits
from .connection import Connection
from .._sockets import naming
from ..proxy import proxy_url
from ._network import network, require_aiofastnet
from .proxy import open_tls_tunnel, open_tunnel, proxy_for

__all__ = ["connect", "process_exception"]

logger = logging.getLogger("wsfast")

#: Redirects followed before giving up (websockets' figure).
MAX_REDIRECTS = 10


def process_exception(error: Exception) -> Exception | None:
    """The default of ``connect(process_exception=...)``, websockets' rule: None (retry) when
    connecting again may cure ``error`` (refused or dropped TCP, a timeout, a 5xx answer from the
    server or the proxy, a broken response), else ``error`` itself, which is raised."""
    if isinstance(error, InvalidStatus):
        retryable = error.response.status_code >= 500
    elif isinstance(error, ProxyError):
        retryable = (error.proxy_status or 0) >= 500
    else:
        retryable = isinstance(error, (OSError, asyncio.TimeoutError, TimeoutError, InvalidHTTP))
    return None if retryable else error


class connect:  # noqa: N801 - used like a function, as in websockets
    """Open a WebSocket connection: ``async with connect("ws://host/path") as ws: ...`` or
    ``ws = await connect(...)``.

    Args:
        uri: ``ws://`` or ``wss://``; ``ws://user:password@host/`` sends HTTP Basic credentials.
        path: connect to this Unix socket instead of the URI's host and port (which still make the
            Host header and, for ``wss://``, the name TLS checks).
        sock: an already connected socket to use instead.
        proxy: True (the default) for the environment's proxy (``https_proxy`` for ``wss://``,
            ``http_proxy`` for ``ws://``, else ``all_proxy``; ``no_proxy`` exempts hosts), a proxy
            URL (``http://[user:password@]host:port``, ``https://`` for TLS to the proxy itself, or
            ``socks5://``, ``socks5h://``, ``socks4://`` with python-socks installed), or None for
            none. Not with ``path`` or ``sock``.
        proxy_ssl: the ``ssl.SSLContext`` for an ``https://`` proxy (default: the system's
            trusted CAs).
        process_exception: for ``async for ws in connect(...)``, websockets' hook: called with
            each error of an attempt to connect, it returns None to retry after the back-off, or
            an exception to raise (the default is :func:`process_exception`).
        origin: the ``Origin`` header of the upgrade request; None (the default) to send none.
        subprotocols: the subprotocols to offer, preferred first.
        extra_headers: more headers for the upgrade request, sent after the handshake's own.
        user_agent: the ``User-Agent`` header (``wsfast/<version>`` by default); None to send
            none.
        compression: "deflate" to offer permessage-deflate (RFC 7692), None for none.
        extensions: the extension factories to offer, instead of what ``compression`` implies.
        ssl: an ``ssl.SSLContext`` for ``wss://`` (default: the system's trusted CAs).
        open_timeout: seconds for the TCP connection, TLS and the opening handshake together.
        ping_interval: seconds between keepalive pings; None to send none (see
            :class:`~wsfast.asyncio.protocol.WebSocketProtocol`).
        ping_timeout: seconds a keepalive ping has to be answered (any data received counts)
            before the connection closes with 1011; None to wait for ever.
        close_timeout: seconds to wait for the closing handshake before dropping the connection;
            None to wait for ever.
        max_queue: whole messages received but not yet read beyond which reading pauses; None
            for no limit (see :class:`~wsfast.asyncio.connection.Connection`).
        write_limit: bytes in the write buffer above which ``send`` waits.
        max_message_size: the largest message accepted, in bytes after decompression (1009
            beyond); None for no limit (see :class:`~wsfast.connection.Connection`).
        max_frame_size: the largest frame payload accepted, in bytes, before decompression (1009
            beyond); by default ``max_message_size``, so that a message may come in one frame;
            None for no limit.
        max_fragments: the most frames one message may have (1009 beyond); None for no limit.
        max_http_head_size: the most bytes the server's response head may take (interim 1xx
            heads included); a larger one fails the handshake.
        max_http_headers: the most header lines in the server's response; more fail the
            handshake.
        use_aiofastnet: connect on aiofastnet's Cython transports instead of the loop's own
            (needs the ``aiofastnet`` package, ``pip install 'wsfast[aiofastnet]'``): on the
            standard library's loop they cost much less per read and write.
        additional_headers: websockets' name of ``extra_headers``, for code written for
            websockets.
        user_agent_header: websockets' name of ``user_agent``, for code written for websockets.
        max_size: websockets' name of ``max_message_size``, for code written for websockets;
            ``max_size=(message, fragment)`` sets ``max_frame_size`` too.

    Raises:
        ValueError: an invalid URI or option, ``ssl`` with a ``ws://`` URI, both ``path`` and
            ``sock``, or a ``wss://`` URI through an ``https://`` proxy before Python 3.11.
        TypeError: an option given under both its names, with different values.
        InvalidHandshake: the server refused the upgrade (InvalidStatus carries its response), or
            the proxy refused the tunnel (ProxyError).
        TimeoutError: the connection was not open within ``open_timeout``.
        OSError: the TCP connection failed.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
    """

    def __init__(
        self,
        uri: str,
        *,
        path: str | None = None,
        sock: socket.socket | None = None,
        proxy: str | bool | None = True,
        proxy_ssl: ssl_module.SSLContext | None = None,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
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
        write_limit: int = 65536,
        use_aiofastnet: bool = False,
        additional_headers: HeadersLike | None = UNSET,
        user_agent_header: str | None = UNSET,
        max_size: int | None | tuple[int | None, int | None] = UNSET,
    ) -> None:
        require_aiofastnet(use_aiofastnet)
        self._use_aiofastnet = use_aiofastnet
        extra_headers, user_agent = client_headers(extra_headers, additional_headers, user_agent, user_agent_header, USER_AGENT)
        max_message_size, max_frame_size = message_limits(max_size, max_message_size, max_frame_size, MAX_MESSAGE_SIZE)
        self._handshake_options: dict[str, Any] = dict(
            origin=origin, subprotocols=subprotocols, extra_headers=extra_headers, user_agent=user_agent,
            extensions=client_extensions(compression, extensions), max_message_size=max_message_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
            max_http_head_size=max_http_head_size, max_http_headers=max_http_headers,
        )  # fmt: skip
        self._uri = uri
        self._protocol = ClientConnection(uri, **self._handshake_options)
        if ssl is not None and not self._protocol.uri.secure:
            raise ValueError("ssl is for wss:// URIs")
        self._given_ssl = ssl
        if path is not None and sock is not None:
            raise ValueError("path and sock exclude each other")
        self._path, self._sock = path, sock
        self._proxy = proxy if path is None and sock is None else None
        self._proxy_ssl = proxy_ssl
        self._process_exception = process_exception
        self._open_timeout = open_timeout
        self._options: dict[str, Any] = dict(ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
                             max_queue=max_queue, write_limit=write_limit)  # fmt: skip
        self._connection: Any = None

    def _make_connection(self) -> Connection:
        """The connection the socket gets: the await API's (the callback API's in its subclass)."""
        return Connection(self._protocol, **self._options)

    async def _open(self) -> Any:
        """Connect, following redirects: each 3xx with a Location starts again at its target.

        Raises:
            SecurityError: more than MAX_REDIRECTS redirects, or one from wss:// to ws://.
            (And what the class docstring says.)
        """
        return await asyncio.wait_for(self._follow_redirects(), self._open_timeout)

    async def _follow_redirects(self) -> Any:
        if self._protocol.state is not State.CONNECTING:  # used: start afresh, at the URI given
            self._protocol = ClientConnection(self._uri, **self._handshake_options)
        for _ in range(MAX_REDIRECTS):
            try:
                return await self._open_once()
            except InvalidStatus as refused:
                location = refused.response.headers.get("Location")
                if not 300 <= refused.response.status_code < 400 or location is None:
                    raise
                self._protocol = self._redirected(location)
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    def _redirected(self, location: str) -> ClientConnection:
        """A fresh sans-IO connection to where a redirect points.

        Raises:
            SecurityError: it points from wss:// to ws://.
            ValueError: it points to no WebSocket URI.
        """
        current = self._protocol.uri
        scheme = "wss" if current.secure else "ws"
        target = urllib.parse.urljoin(f"{scheme}://{current.host_header}{current.path}", location)
        redirected = ClientConnection(target, **self._handshake_options)
        if current.secure and not redirected.uri.secure:
            raise SecurityError(f"a redirect from wss:// to ws:// ({target}) was refused")
        return redirected

    async def _open_once(self) -> Any:
        loop = network(self._use_aiofastnet)
        target = self._protocol.uri
        connection: Any = None
        ssl_context = (self._given_ssl or ssl_module.create_default_context()) if target.secure else None

        def factory() -> Any:
            nonlocal connection
            connection = self._make_connection()
            return connection

        async def handshake() -> Any:
            tls: dict[str, Any] = dict(ssl=ssl_context, server_hostname=target.host) if ssl_context else {}
            if self._path is not None:
                try:
                    await loop.create_unix_connection(factory, self._path, **tls)
                except OSError as error:
                    raise naming(error, self._path) from None
            elif self._sock is not None:
                await loop.create_connection(factory, sock=self._sock, **tls)
            elif (proxy := proxy_for(target, self._proxy)) is not None and proxy_url(proxy).scheme == "https":
                if ssl_context is not None and sys.version_info < (3, 11):
                    raise ValueError("wss:// through an https:// proxy (TLS inside TLS) needs Python 3.11")
                transport = await open_tls_tunnel(proxy, target.host, target.port, self._proxy_ssl, loop)
                factory()
                try:
                    if ssl_context is not None:  # TLS inside TLS
                        transport = await loop.start_tls(transport, connection, ssl_context, server_hostname=target.host)  # type: ignore[assignment]  # a stream
                    else:
                        transport.set_protocol(connection)
                except BaseException:
                    transport.abort()
                    raise
                connection.connection_made(transport)
            elif proxy is not None:
                tunnel = await open_tunnel(proxy, target.host, target.port)
                await loop.create_connection(factory, sock=tunnel, **tls)
            else:
                await loop.create_connection(factory, target.host, target.port, **tls)
            assert connection is not None
            await connection.opened
            return connection

        try:
            return await handshake()
        except BaseException:
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
            raise

    #: Reconnection back-off (``async for``): the first delay is up to BACKOFF_INITIAL seconds
    #: (random, so that clients dropped together do not return together), each next one
    #: BACKOFF_FACTOR times longer, up to BACKOFF_MAX.
    BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_MAX = 5.0, 1.618, 90.0

    async def __aiter__(self) -> AsyncIterator[Any]:
        """``async for ws in connect(uri):`` a connection at each turn, reconnecting for ever: an
        error that retrying may cure (refused or dropped TCP, a timeout, a 5xx answer, a broken
        response) is logged and retried after the back-off; the connection of a turn is closed
        when the next turn starts.

        Raises:
            InvalidHandshake: the server refused with a status that retrying does not cure (4xx),
                or a redirect was unsafe (SecurityError).
            ValueError: an invalid URI or redirect target.
        """
        delay: float | None = None
        while True:
            try:
                connection = await self._open()
            except Exception as error:
                raised = self._process_exception(error)
                if raised is error:
                    raise
                if raised is not None:
                    raise raised from error
                if delay is None:
                    delay = self.BACKOFF_INITIAL * random.random()
                else:
                    delay = min(max(delay, self.BACKOFF_INITIAL / 2) * self.BACKOFF_FACTOR, self.BACKOFF_MAX)
                logger.info("connecting to %s failed (%s); retrying in %.1f s", self._uri, error, delay)
                await asyncio.sleep(delay)
                continue
            delay = None
            try:
                yield connection
            finally:
                await self._close(connection)

    async def _close(self, connection: Any) -> None:
        await connection.close()

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return cast(Connection, self._connection)  # the await API's, as _make_connection made it

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._connection is not None
        await self._close(self._connection)
