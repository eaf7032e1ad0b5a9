"""The asyncio client's tunnel through a proxy: HTTP CONNECT (to an ``http://`` proxy, or inside
TLS to an ``https://`` one), or SOCKS4/5 through the optional ``python-socks`` package, on the
event loop. What to send and how to read the answer is ``wsfast.proxy``'s, shared with the sync
client; which proxy too (``proxy_for``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
import urllib.parse

from ..exceptions import ProxyError
from ..proxy import ConnectAnswer, connect_request, proxy_for, proxy_url, socks_connector, socks_refused

__all__ = ["proxy_for", "open_tunnel", "open_tls_tunnel"]


async def open_tunnel(proxy: str, host: str, port: int) -> socket.socket:
    """A socket connected to ``host:port`` through ``proxy`` (``http://[user:password@]host[:port]``
    or, with python-socks installed, ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://``).

    Raises:
        ValueError: an unsupported proxy URL, or SOCKS without python-socks.
        ProxyError: the proxy refused, or answered something that is not HTTP.
        OSError: the proxy could not be reached.
    """
    parts = proxy_url(proxy)
    if parts.scheme == "http":
        return await _http_connect(parts, host, port)
    if parts.scheme == "https":
        raise ValueError("an https:// proxy gives a TLS transport, not a socket: open_tls_tunnel")
    return await _socks_connect(parts, host, port)


async def open_tls_tunnel(proxy: str, host: str, port: int, proxy_ssl: ssl_module.SSLContext | None,
                          opener: asyncio.AbstractEventLoop) -> asyncio.Transport:
    """A transport to ``host:port`` through the ``https://`` proxy ``proxy``: TLS to the proxy
    (``proxy_ssl``, or the system's trusted CAs), then CONNECT inside it, opened by ``opener``
    (the running loop, or ``_network``'s aiofastnet opener). The caller gives the transport its
    protocol, after ``opener.start_tls`` for a ``wss://`` server.

    Raises:
        ProxyError: the proxy refused, answered something that is not HTTP, or closed first.
        OSError: the proxy could not be reached, or its TLS handshake failed (ssl.SSLError).
    """
    parts = proxy_url(proxy)
    assert parts.hostname is not None  # proxy_url checked it
    transport, opening = await opener.create_connection(
        _TunnelOpening, parts.hostname, parts.port or 443, ssl=proxy_ssl or ssl_module.create_default_context(),
        server_hostname=parts.hostname,
    )  # fmt: skip
    try:
        transport.write(connect_request(parts, host, port))
        await opening.answered
    except BaseException:
        transport.abort()
        raise
    return transport


class _TunnelOpening(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; the tunnel's user takes the transport over after it."""

    def __init__(self) -> None:
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._answer = ConnectAnswer()

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return
        try:
            if self._answer.feed(data):
                self.answered.set_result(None)
        except ProxyError as error:
            self.answered.set_exception(error)

    def eof_received(self) -> bool | None:
        self.connection_lost(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc or ProxyError("the proxy closed the connection before answering"))


async def _http_connect(parts: urllib.parse.SplitResult, host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    assert parts.hostname is not None  # proxy_url checked it
    family, kind, proto, _, address = (await loop.getaddrinfo(parts.hostname, parts.port or 80,
                                                              type=socket.SOCK_STREAM))[0]  # fmt: skip
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        await loop.sock_sendall(sock, connect_request(parts, host, port))
        answer = ConnectAnswer()
        while not answer.feed(await loop.sock_recv(sock, 4096)):
            pass
        return sock
    except BaseException:
        sock.close()
        raise


async def _socks_connect(parts: urllib.parse.SplitResult, host: str, port: int) -> socket.socket:
    connector = socks_connector(parts, asynchronous=True)
    from python_socks import ProxyError as SocksRefusal

    try:
        sock: socket.socket = await connector.connect(dest_host=host, dest_port=port)
    except SocksRefusal as error:  # not reaching the proxy stays an OSError, a timeout a TimeoutError
        raise socks_refused(error) from error
    return sock
