"""The client through real proxies on 127.0.0.1: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5),
with and without credentials, and Dante (SOCKS4), chosen explicitly or from the environment."""

from __future__ import annotations

import ssl
import sys

import pytest

import wsfast
from tests.asyncio.support import echo, port_of
from tests.proxies import free_port, http_proxy, https_proxy, socks4_proxy, socks_proxy  # noqa: F401 - fixtures
from tests.support import run_async, tls_contexts
from wsfast.exceptions import ProxyError

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


async def echo_through(uri: str, **options) -> str:
    async with wsfast.connect(uri, **options) as ws:
        await ws.send("through the proxy")
        return await ws.recv()


def test_an_http_connect_proxy(http_proxy):
    server_context, client_context = tls_contexts()

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            assert await echo_through(f"ws://127.0.0.1:{port_of(server)}/", proxy=http_proxy) == "through the proxy"
        async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:  # TLS inside the tunnel
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            assert await echo_through(uri, proxy=http_proxy, ssl=client_context) == "through the proxy"

    run_async(main())


def echo_through_each_scheme(proxy: str, schemes: tuple[str, ...]) -> None:
    """An echo through ``proxy`` under each of ``schemes`` (the proxy resolving the name, or not)."""

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            for scheme in schemes:
                through = scheme + proxy[proxy.index(":"):]
                assert await echo_through(f"ws://127.0.0.1:{port_of(server)}/", proxy=through) == "through the proxy"

    run_async(main())


def test_a_socks5_proxy(socks_proxy):
    echo_through_each_scheme(socks_proxy, ("socks5", "socks5h"))


def test_a_socks4_proxy(socks4_proxy):
    echo_through_each_scheme(socks4_proxy, ("socks4", "socks4a"))


def test_the_environment_chooses_the_proxy_and_no_proxy_or_none_skips_it(http_proxy, monkeypatch):
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")  # nothing listens there
            with pytest.raises(OSError):
                await echo_through(uri)
            assert await echo_through(uri, proxy=None) == "through the proxy"  # None: no proxy at all
            monkeypatch.setenv("no_proxy", "127.0.0.1")
            assert await echo_through(uri) == "through the proxy"
            monkeypatch.delenv("no_proxy")
            monkeypatch.setenv("http_proxy", http_proxy)
            assert await echo_through(uri) == "through the proxy"

    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    run_async(main())


def test_a_proxy_that_refuses_is_a_proxy_error(http_proxy):
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            wrong = http_proxy.replace("alice:s3cret@", "alice:wrong@") if "@" in http_proxy else None
            if wrong is not None:
                with pytest.raises(ProxyError) as refused:
                    await echo_through(f"ws://127.0.0.1:{port_of(server)}/", proxy=wrong)
                assert refused.value.proxy_status in (401, 407)  # tinyproxy: 401 for wrong credentials
            with pytest.raises(ProxyError) as refused:  # the proxy cannot reach the server
                await echo_through(f"ws://127.0.0.1:{free_port()}/", proxy=http_proxy)
            assert refused.value.proxy_status is not None and refused.value.proxy_status >= 500

    run_async(main())


def test_a_socks_proxy_that_refuses_is_a_proxy_error(socks_proxy):
    async def main():
        if "@" not in socks_proxy:
            return
        with pytest.raises(ProxyError):
            await echo_through(f"ws://127.0.0.1:{free_port()}/", proxy=socks_proxy.replace("hunter2", "nope"))

    run_async(main())


def test_unsupported_proxies_are_value_errors():
    async def main():
        with pytest.raises(ValueError, match="unsupported proxy"):
            await echo_through("ws://127.0.0.1:1/", proxy="ftp://127.0.0.1:21")

    run_async(main())


def test_an_https_proxy(https_proxy):
    proxy, proxy_ssl = https_proxy
    server_context, client_context = tls_contexts()

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            assert await echo_through(uri, proxy=proxy, proxy_ssl=proxy_ssl) == "through the proxy"
            with pytest.raises(ssl.SSLError):  # the proxy's certificate is checked
                await echo_through(uri, proxy=proxy)
        if sys.version_info >= (3, 11):  # TLS inside TLS: asyncio's start_tls over TLS came with 3.11
            async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
                uri = f"wss://127.0.0.1:{port_of(server)}/"
                assert await echo_through(uri, proxy=proxy, proxy_ssl=proxy_ssl, ssl=client_context) == "through the proxy"

    run_async(main())
