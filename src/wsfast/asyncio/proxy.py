"""Reaching a server through a proxy: HTTP CONNECT (RFC 9110 §9.3.6) here, SOCKS4/5 through the
optional ``python-socks`` package. The result is a connected socket to the server, on which the
client then runs TLS (for ``wss://``) and the WebSocket handshake as on a direct connection.

Which proxy, by default: the environment's, as websockets and curl read it: ``https_proxy`` for
``wss://``, ``http_proxy`` for ``ws://``, else ``all_proxy``; none for a host that ``no_proxy``
names.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import urllib.parse
import urllib.request

from ..exceptions import ProxyError
from ..uri import WebSocketURI

__all__ = ["proxy_for", "open_tunnel"]

#: The most a proxy's answer to CONNECT may take, head included.
MAX_PROXY_RESPONSE = 16384
SOCKS_SCHEMES = ("socks5", "socks5h", "socks4", "socks4a")


def proxy_for(target: WebSocketURI, proxy: str | bool | None) -> str | None:
    """The proxy URL to reach ``target`` through: ``proxy`` itself when a URL, the environment's
    when True, none when None (or when ``no_proxy`` names the host)."""
    if proxy is None or proxy is False:
        return None
    if isinstance(proxy, str):
        return proxy
    if urllib.request.proxy_bypass(f"{target.host}:{target.port}") or urllib.request.proxy_bypass(target.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get("https" if target.secure else "http") or proxies.get("all")


async def open_tunnel(proxy: str, host: str, port: int) -> socket.socket:
    """A socket connected to ``host:port`` through ``proxy`` (``http://[user:password@]host[:port]``
    or, with python-socks installed, ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://``).

    Raises:
        ValueError: an unsupported proxy URL, or SOCKS without python-socks.
        ProxyError: the proxy refused, or answered something that is not HTTP.
        OSError: the proxy could not be reached.
    """
    parts = urllib.parse.urlsplit(proxy)
    if parts.scheme == "http":
        return await _http_connect(parts, host, port)
    if parts.scheme in SOCKS_SCHEMES:
        return await _socks_connect(parts, host, port)
    raise ValueError(f"unsupported proxy {proxy!r}: http:// or, with python-socks, socks5:// or socks4://")


async def _http_connect(parts: urllib.parse.SplitResult, host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    if not parts.hostname:
        raise ValueError(f"a proxy URL needs a host: {parts.geturl()!r}")
    family, kind, proto, _, address = (await loop.getaddrinfo(parts.hostname, parts.port or 80,
                                                              type=socket.SOCK_STREAM))[0]  # fmt: skip
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if parts.username is not None:
            credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            head += f"Proxy-Authorization: Basic {base64.b64encode(credentials.encode()).decode()}\r\n"
        await loop.sock_sendall(sock, (head + "\r\n").encode())
        await _read_connect_answer(loop, sock)
        return sock
    except BaseException:
        sock.close()
        raise


async def _read_connect_answer(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Read the proxy's answer to CONNECT, up to the end of its head (the server speaks only
    after the client, so nothing of the tunnel can follow it).

    Raises:
        ProxyError: not a 2xx answer, not HTTP, too long, or the proxy closed first.
    """
    answer = b""
    while b"\r\n\r\n" not in answer:
        if len(answer) > MAX_PROXY_RESPONSE:
            raise ProxyError(f"the proxy's answer is longer than {MAX_PROXY_RESPONSE} bytes")
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise ProxyError("the proxy closed the connection before answering")
        answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    words = status_line.split(" ", 2)
    if len(words) < 2 or not words[0].startswith("HTTP/1.") or not words[1].isdigit():
        raise ProxyError(f"the proxy answered something that is not HTTP: {status_line[:100]!r}")
    status = int(words[1])
    if not 200 <= status < 300:
        raise ProxyError(f"the proxy refused the tunnel: {status_line[:100]}", status)
    if rest:
        raise ProxyError("the proxy sent bytes after its answer, before the server could speak")


async def _socks_connect(parts: urllib.parse.SplitResult, host: str, port: int) -> socket.socket:
    try:
        from python_socks.async_.asyncio import Proxy
    except ImportError:
        raise ValueError("SOCKS proxies need python-socks: pip install python-socks") from None
    from python_socks import ProxyError as SocksRefusal

    remote_names = parts.scheme in ("socks5h", "socks4a")  # the proxy resolves the server's name
    scheme = {"socks5h": "socks5", "socks4a": "socks4"}.get(parts.scheme, parts.scheme)
    connector = Proxy.from_url(parts._replace(scheme=scheme).geturl(), rdns=remote_names)
    try:
        sock: socket.socket = await connector.connect(dest_host=host, dest_port=port)
    except SocksRefusal as error:  # not reaching the proxy stays an OSError, a timeout a TimeoutError
        raise ProxyError(f"the SOCKS proxy refused the tunnel: {error}") from error
    return sock
