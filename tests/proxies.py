"""Real proxies on 127.0.0.1 for the clients' tests, asyncio and sync: tinyproxy (HTTP CONNECT),
microsocks (SOCKS5), each with and without credentials, tinyproxy behind TLS (https://), and
Dante (SOCKS4 and 4a; SOCKS4 has no password).

The fixtures are used by name: a test module imports the ones it needs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tls_contexts


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


def start(command: list[str], port: int, package: str | None = None) -> subprocess.Popen:
    """Start a proxy (``package``: its Debian package, when not named as its command) as a process
    group of its own, and wait until it listens.

    Raises:
        RuntimeError: it exited, or did not listen within 10 s.
    """
    if shutil.which(command[0]) is None:
        if os.environ.get("CI"):  # .ci/run installs it
            pytest.fail(f"{command[0]} is not installed")
        pytest.skip(f"{command[0]} is not installed (apt-get install {package or command[0]})")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_listening(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a proxy and whatever processes it forked."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    process.wait(10)


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
    stop(process)


@pytest.fixture(scope="module", params=["open", "with credentials"])
def socks_proxy(request: pytest.FixtureRequest) -> Iterator[str]:
    """microsocks on 127.0.0.1: its socks5:// URL."""
    pytest.importorskip("python_socks")
    port = free_port()
    credentials = ["-u", "bob", "-P", "hunter2"] if request.param == "with credentials" else []
    process = start(["microsocks", "-i", "127.0.0.1", "-p", str(port), *credentials], port)
    yield f"socks5://bob:hunter2@127.0.0.1:{port}" if credentials else f"socks5://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def socks4_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Dante (Debian's dante-server) on 127.0.0.1, open to loopback: its socks4:// URL."""
    pytest.importorskip("python_socks")
    port = free_port()
    config = Path(tmp_path_factory.mktemp("dante")) / "danted.conf"
    config.write_text(
        f"logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n"
        "clientmethod: none\nsocksmethod: none\nuser.privileged: root\nuser.unprivileged: nobody\n"
        "client pass {\n    from: 127.0.0.0/8 to: 0.0.0.0/0\n}\n"
        "socks pass {\n    from: 127.0.0.0/8 to: 127.0.0.0/8\n    command: connect\n}\n"
    )
    process = start(["danted", "-f", str(config), "-N", "1", "-p", str(config.with_suffix(".pid"))], port, "dante-server")
    yield f"socks4://127.0.0.1:{port}"
    stop(process)


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
