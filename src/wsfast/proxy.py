"""Reaching a server through a proxy, for every API: which proxy (the environment's by default),
the HTTP CONNECT exchange (RFC 9110 §9.3.6) sans I/O, and a blocking tunnel for the sync client.
SOCKS4/5 go through the optional ``python-socks`` package. A tunnel is a connected socket to the
server, on which the client then runs TLS (for ``wss://``) and the WebSocket handshake as on a
direct connection. The asyncio client's tunnel is ``wsfast.asyncio.proxy``.

Which proxy, by default: the environment's, as websockets and curl read it: ``https_proxy`` for
``wss://``, ``http_proxy`` for ``ws://``, else ``all_proxy``; none for a host that ``no_proxy``
names.
"""

from __future__ import annotations

import base64
import socket
import ssl
import urllib.parse
import urllib.request
from typing import Any

from .exceptions import ProxyError
from .uri import WebSocketURI

__all__ = ["proxy_for", "proxy_url", "connect_request", "ConnectAnswer", "connect_answered", "open_tunnel", "socks_connector", "socks_refused"]

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


def proxy_url(proxy: str) -> urllib.parse.SplitResult:
    """``proxy`` split, once checked: ``http://`` or ``https://[user:password@]host[:port]``, or a
    SOCKS scheme.

    Raises:
        ValueError: another scheme, or no host.
    """
    parts = urllib.parse.urlsplit(proxy)
    if parts.scheme not in ("http", "https") and parts.scheme not in SOCKS_SCHEMES:
        raise ValueError(f"unsupported proxy {proxy!r}: http://, https:// or, with python-socks, socks5:// or socks4://")
    if not parts.hostname:
        raise ValueError(f"a proxy URL needs a host: {proxy!r}")
    return parts


def connect_request(parts: urllib.parse.SplitResult, host: str, port: int) -> bytes:
    """The CONNECT request that asks the HTTP proxy ``parts`` for a tunnel to ``host:port``, with
    Basic credentials from the proxy URL's user info (percent-decoded)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        head += f"Proxy-Authorization: Basic {base64.b64encode(credentials.encode()).decode()}\r\n"
    return (head + "\r\n").encode()


class ConnectAnswer:
    """The proxy's answer to CONNECT, fed as it is read."""

    def __init__(self) -> None:
        self._answer = b""

    def feed(self, chunk: bytes) -> bool:
        """Add what was read; True once the whole 2xx answer is in, False: read more.

        Raises:
            ProxyError: the proxy closed first (``chunk`` is empty), or as :func:`connect_answered`.
        """
        if not chunk:
            raise ProxyError("the proxy closed the connection before answering")
        self._answer += chunk
        return connect_answered(self._answer)


def connect_answered(answer: bytes) -> bool:
    """Whether ``answer``, what the proxy sent so far, is a whole 2xx answer to CONNECT (the server
    speaks only after the client, so nothing of the tunnel can follow it); False: read more.

    Raises:
        ProxyError: not a 2xx answer, not HTTP, longer than MAX_PROXY_RESPONSE, or bytes after it.
    """
    if b"\r\n\r\n" not in answer:
        if len(answer) > MAX_PROXY_RESPONSE:
            raise ProxyError(f"the proxy's answer is longer than {MAX_PROXY_RESPONSE} bytes")
        return False
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
    return True


def open_tunnel(proxy: str, host: str, port: int, timeout: float | None,
                proxy_ssl: ssl.SSLContext | None = None) -> socket.socket:  # fmt: skip
    """A blocking socket connected to ``host:port`` through ``proxy``, within ``timeout`` seconds
    for each step (connecting, each read). For an ``https://`` proxy it is the ``ssl.SSLSocket`` of
    the TLS to the proxy (checked with ``proxy_ssl``, or the system's CAs).

    Raises:
        ValueError: an unsupported proxy URL, or SOCKS without python-socks.
        ProxyError: the proxy refused, answered something that is not HTTP, or closed first.
        ssl.SSLError: the TLS to an ``https://`` proxy failed (its certificate, for one).
        OSError: the proxy could not be reached (TimeoutError when it did not answer in time).
    """
    parts = proxy_url(proxy)
    if parts.scheme in SOCKS_SCHEMES:
        return _socks_tunnel(parts, host, port, timeout)
    assert parts.hostname is not None  # proxy_url checked it
    secure = parts.scheme == "https"
    sock = socket.create_connection((parts.hostname, parts.port or (443 if secure else 80)), timeout=timeout)
    try:
        if secure:
            sock = (proxy_ssl or ssl.create_default_context()).wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(connect_request(parts, host, port))
        answer = ConnectAnswer()
        while not answer.feed(sock.recv(4096)):
            pass
        return sock
    except BaseException:
        sock.close()
        raise


def socks_connector(parts: urllib.parse.SplitResult, asynchronous: bool) -> Any:
    """python-socks' ``Proxy`` for the SOCKS proxy ``parts`` (its asyncio flavour or the blocking
    one); ``socks5h://`` and ``socks4a://`` let the proxy resolve the server's name.

    Raises:
        ValueError: python-socks is not installed.
    """
    try:
        if asynchronous:
            from python_socks.async_.asyncio import Proxy as AsyncProxy

            proxy_class: Any = AsyncProxy
        else:
            from python_socks.sync import Proxy as SyncProxy

            proxy_class = SyncProxy
    except ImportError:
        raise ValueError("SOCKS proxies need python-socks: pip install python-socks") from None
    remote_names = parts.scheme in ("socks5h", "socks4a")
    scheme = {"socks5h": "socks5", "socks4a": "socks4"}.get(parts.scheme, parts.scheme)
    return proxy_class.from_url(parts._replace(scheme=scheme).geturl(), rdns=remote_names)


def socks_refused(error: Exception) -> ProxyError:
    """The ProxyError for python-socks' refusal ``error``."""
    return ProxyError(f"the SOCKS proxy refused the tunnel: {error}")


def _socks_tunnel(parts: urllib.parse.SplitResult, host: str, port: int, timeout: float | None) -> socket.socket:
    connector = socks_connector(parts, asynchronous=False)
    from python_socks import ProxyError as SocksRefusal

    try:
        sock: socket.socket = connector.connect(dest_host=host, dest_port=port, timeout=timeout)
    except SocksRefusal as error:  # not reaching the proxy stays an OSError, a timeout a TimeoutError
        raise socks_refused(error) from error
    return sock
