"""The client through real proxies on 127.0.0.1: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5),
with and without credentials, chosen explicitly or from the environment."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import wsfast
from tests.conftest import run_async
from tests.asyncio.test_server_client import echo, port_of, tls_contexts
from wsfast.exceptions import ProxyError

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the proxy did not listen within 10 s")


def start(command: list[str], port: int) -> subprocess.Popen:
    if shutil.which(command[0]) is None:
        if os.environ.get("CI"):  # .ci/run installs it
            pytest.fail(f"{command[0]} is not installed")
        pytest.skip(f"{command[0]} is not installed (apt-get install {command[0]})")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, process)
    return process


@pytest.fixture(scope="module", params=["open", "with credentials"])
def http_proxy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tinyproxy on 127.0.0.1: its URL, with credentials when it asks for them."""
    port = free_port()
    config = Path(tmp_path_factory.mktemp("tinyproxy")) / "tinyproxy.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 50", "LogLevel Error", "Allow 127.0.0.1",
             "DisableViaHeader Yes"]  # fmt: skip
    if request.param == "with credentials":
        lines.append("BasicAuth alice s3cret")
    config.write_text("\n".join(lines) + "\n")
    process = start(["tinyproxy", "-d", "-c", str(config)], port)
    yield f"http://alice:s3cret@127.0.0.1:{port}" if request.param == "with credentials" else f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module", params=["open", "with credentials"])
def socks_proxy(request: pytest.FixtureRequest) -> Iterator[str]:
    """microsocks on 127.0.0.1: its socks5:// URL."""
    pytest.importorskip("python_socks")
    port = free_port()
    credentials = ["-u", "bob", "-P", "hunter2"] if request.param == "with credentials" else []
    process = start(["microsocks", "-i", "127.0.0.1", "-p", str(port), *credentials], port)
    yield f"socks5://bob:hunter2@127.0.0.1:{port}" if credentials else f"socks5://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


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


def test_a_socks5_proxy(socks_proxy):
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            for scheme in ("socks5", "socks5h"):
                proxy = socks_proxy.replace("socks5", scheme, 1)
                assert await echo_through(f"ws://127.0.0.1:{port_of(server)}/", proxy=proxy) == "through the proxy"

    run_async(main())


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


class TlsFront:
    """An https:// proxy for the tests: TLS from the client, the bytes inside it passed on to
    tinyproxy (threads and blocking sockets, so that it outlives each test's event loop)."""

    def __init__(self, backend_port: int, context: ssl.SSLContext) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.backend_port, self.context = backend_port, context
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        back = threading.Thread(target=self._pump, args=(backend, secure), daemon=True)
        back.start()
        self._pump(secure, backend)
        back.join(30)
        secure.close()
        backend.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def https_proxy(http_proxy: str) -> Iterator[tuple[str, ssl.SSLContext]]:
    """tinyproxy behind TLS: its https:// URL (the same credentials) and a context that trusts it."""
    server_context, client_context = tls_contexts()
    front = TlsFront(int(http_proxy.rsplit(":", 1)[1]), server_context)
    yield http_proxy.replace("http://", "https://").rsplit(":", 1)[0] + f":{front.port}", client_context
    front.close()


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
