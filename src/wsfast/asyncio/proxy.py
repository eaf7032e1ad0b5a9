"""The asyncio client's tunnel through a proxy: HTTP CONNECT, or SOCKS4/5 through the optional
``python-socks`` package, on the event loop. What to send and how to read the answer is
``wsfast.proxy``'s, shared with the sync client; which proxy too (``proxy_for``).
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse

from ..proxy import ConnectAnswer, connect_request, proxy_for, proxy_url, socks_connector, socks_refused

__all__ = ["proxy_for", "open_tunnel"]


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
    return await _socks_connect(parts, host, port)


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
