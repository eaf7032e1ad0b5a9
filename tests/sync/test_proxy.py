"""The sync client through the same real proxies as asyncio/test_proxy.py (tinyproxy for HTTP
CONNECT, microsocks for SOCKS5, with and without credentials, Dante for SOCKS4), and a proxy that
answers garbage."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from tests.proxies import free_port, http_proxy, https_proxy, socks4_proxy, socks_proxy  # noqa: F401 - fixtures
from tests.support import tls_contexts
from tests.sync.support import running, uri
from wsfast.exceptions import ProxyError
from wsfast.sync.client import connect


def echo_through(target: str, **options) -> str:
    with connect(target, open_timeout=10, **options) as ws:
        ws.send("through the proxy")
        return ws.recv(timeout=10)


def test_an_http_connect_proxy(http_proxy):  # noqa: F811 - the fixture
    with running() as server:
        assert echo_through(uri(server), proxy=http_proxy) == "through the proxy"
    server_context, client_context = tls_contexts()
    with running(ssl=server_context) as server:  # TLS inside the tunnel
        target = uri(server).replace("ws://", "wss://")
        assert echo_through(target, proxy=http_proxy, ssl=client_context) == "through the proxy"


def test_a_socks5_proxy(socks_proxy):  # noqa: F811 - the fixture
    with running() as server:
        for scheme in ("socks5", "socks5h"):
            assert echo_through(uri(server), proxy=socks_proxy.replace("socks5", scheme, 1)) == "through the proxy"


def test_a_socks4_proxy(socks4_proxy):  # noqa: F811 - the fixture
    with running() as server:
        for scheme in ("socks4", "socks4a"):
            assert echo_through(uri(server), proxy=socks4_proxy.replace("socks4", scheme, 1)) == "through the proxy"


def test_the_environment_chooses_the_proxy_and_none_skips_it(http_proxy, monkeypatch):  # noqa: F811
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with running() as server:
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")  # nothing listens there
        with pytest.raises(OSError):
            echo_through(uri(server))
        assert echo_through(uri(server), proxy=None) == "through the proxy"
        monkeypatch.setenv("http_proxy", http_proxy)
        assert echo_through(uri(server)) == "through the proxy"


def test_a_proxy_that_refuses_or_answers_garbage(http_proxy):  # noqa: F811 - the fixture
    with pytest.raises(ProxyError) as refused:  # the proxy cannot reach the server
        echo_through(f"ws://127.0.0.1:{free_port()}/", proxy=http_proxy)
    assert refused.value.proxy_status is not None and refused.value.proxy_status >= 500
    with pytest.raises(ValueError, match="unsupported proxy"):
        echo_through("ws://127.0.0.1:1/", proxy="ftp://127.0.0.1:21")

    listener = socket.create_server(("127.0.0.1", 0))

    def garbage() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.recv(4096)
            sock.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    with listener, pytest.raises(ProxyError, match="not HTTP"):
        echo_through("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{listener.getsockname()[1]}")
    thread.join(5)


def test_an_https_proxy_and_tls_inside_its_tls(https_proxy):  # noqa: F811 - the fixture
    proxy, proxy_ssl = https_proxy
    with running() as server:
        assert echo_through(uri(server), proxy=proxy, proxy_ssl=proxy_ssl) == "through the proxy"
        with pytest.raises(ssl.SSLError):  # the proxy's certificate is checked
            echo_through(uri(server), proxy=proxy)
    server_context, client_context = tls_contexts()
    with running(ssl=server_context) as server:  # wss:// through it: TLS inside the proxy's TLS
        target = uri(server).replace("ws://", "wss://")
        assert echo_through(target, proxy=proxy, proxy_ssl=proxy_ssl, ssl=client_context) == "through the proxy"
        with pytest.raises(ssl.SSLError):  # and the server's certificate is checked, inside
            echo_through(target, proxy=proxy, proxy_ssl=proxy_ssl)
        # both ways at once, in pieces of every size around the TLS record's (16 KiB)
        with connect(target, open_timeout=10, proxy=proxy, proxy_ssl=proxy_ssl, ssl=client_context,
                     max_size=None) as ws:  # fmt: skip
            messages = [bytes([size % 251]) * size for size in (0, 1, 1000, 16383, 16384, 16385, 100_000, 1 << 20)]
            sender = threading.Thread(target=lambda: [ws.send(message) for message in messages])
            sender.start()
            assert [ws.recv(timeout=20) for _ in messages] == messages
            sender.join(20)
            ws.send("the end")
            assert ws.recv(timeout=10) == "the end"
