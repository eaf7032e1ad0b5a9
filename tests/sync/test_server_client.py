"""The synchronous API (wsfast.sync) over loopback: threads, blocking calls, every wait bounded."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import wsfast
from tests.asyncio.support import echo as async_echo
from tests.asyncio.support import port_of
from tests.support import run_async, tls_contexts
from tests.sync.support import running, uri
from wsfast.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, InvalidOrigin, InvalidStatus
from wsfast.connection import State
from wsfast.server import ServerConnection
from wsfast.sync.client import connect, open_handshake


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_text_binary_fragments_and_iteration(compression):
    with running(compression=compression) as server, connect(uri(server), compression=compression) as ws:
        for message in ["hello", "κόσμε" * 1000, b"\x00\xff" * 50000, b"", ""]:
            ws.send(message)
            assert ws.recv(timeout=5) == message
        ws.send(["frag", "ments"])
        assert ws.recv(timeout=5) == "fragments"
        ws.send(b"as text", text=True)
        assert ws.recv(timeout=5) == "as text"
        ws.send("streamed")
        assert list(ws.recv_streaming()) == ["streamed"]
        assert ws.response.status_code == 101 and ws.request.path == "/"


def test_recv_times_out_and_iteration_ends_on_a_normal_close():
    def closes_after_two(ws):
        ws.send("one")
        ws.send("two")
        ws.close()

    with running(closes_after_two) as server, connect(uri(server)) as ws:
        assert list(ws) == ["one", "two"]
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=5)
        assert ws.close_code == 1000
    with running(lambda ws: time.sleep(0.5)) as server, connect(uri(server)) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.1)


def test_limits_handler_errors_and_shutdown(caplog):
    def fails(ws):
        if ws.recv(timeout=5) == "boom":
            raise ValueError("application bug")

    with caplog.at_level(logging.ERROR, logger="wsfast"):
        with running(fails, max_message_size=1000) as server:
            with connect(uri(server)) as ws:
                ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError) as caught:
                    ws.recv(timeout=5)
                assert caught.value.code == 1009
            with connect(uri(server)) as ws:
                ws.send("boom")
                with pytest.raises(ConnectionClosedError) as caught:
                    ws.recv(timeout=5)
                assert caught.value.code == 1011
    assert "connection handler failed" in caplog.text
    with running() as server:
        ws = connect(uri(server))
    with pytest.raises(ConnectionClosedOK):  # the server shut down with 1001
        ws.recv(timeout=5)
    assert ws.close_code == 1001
    ws.close()


def test_ping_and_pong():
    with running() as server, connect(uri(server)) as ws:
        answered = ws.ping(b"hi")
        assert answered.wait(5) and ws.latency > 0
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)
        ws.pong(b"heartbeat")  # unsolicited: the peer takes it, and the connection goes on
        ws.pong("κ")
        with pytest.raises(ValueError):
            ws.pong(b"x" * 126)
        with pytest.raises(TypeError):
            ws.pong(7)  # type: ignore[arg-type]
        ws.send("still open")
        assert ws.recv(timeout=5) == "still open"
    with pytest.raises(ConnectionClosedOK):
        ws.pong(b"late")


def test_sync_client_and_asyncio_server_and_the_reverse():
    results = []

    async def main():
        async with wsfast.serve(async_echo, "127.0.0.1", 0) as server:
            port = port_of(server)

            def client():
                with connect(f"ws://127.0.0.1:{port}/") as ws:
                    ws.send("sync to asyncio")
                    results.append(ws.recv(timeout=5))

            thread = threading.Thread(target=client)
            thread.start()
            while thread.is_alive():
                await asyncio.sleep(0.01)

    import asyncio

    run_async(main())
    assert results == ["sync to asyncio"]

    async def asyncio_client(port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(b"asyncio to sync")
            return await ws.recv()

    with running() as server:
        assert run_async(asyncio_client(server.socket.getsockname()[1])) == b"asyncio to sync"


def test_wss_and_a_refused_handshake():
    server_context, client_context = tls_contexts()
    with running(ssl=server_context) as server:
        with connect(f"wss://127.0.0.1:{server.socket.getsockname()[1]}/", ssl=client_context) as ws:
            ws.send("secret")
            assert ws.recv(timeout=5) == "secret"
    with running(origins=["https://allowed.example"]) as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(uri(server), origin="https://elsewhere.example")
        assert refused.value.response.status_code == 403


def test_a_reader_behind_pauses_reading():
    """max_queue messages wait unread; beyond them the server reads nothing, so the sender stalls."""
    release = threading.Event()

    def slow(ws):
        release.wait(10)

    with running(slow, max_queue=4, close_timeout=1) as server:
        ws = connect(uri(server), compression=None, close_timeout=1)
        sent = []

        def sender():
            try:
                while len(sent) < 1024:  # 64 MiB, unless it stalls
                    ws.send(b"m" * 65536)
                    sent.append(1)
            except (ConnectionClosed, OSError):
                pass

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        time.sleep(1.5)
        before = len(sent)
        time.sleep(0.5)
        assert thread.is_alive() and len(sent) == before < 512, f"{len(sent)} messages went in"
        # unblock the sender first: once released, the server closes, and the client's reading
        # thread may close the socket before this line could shut it down
        ws.socket.shutdown(socket.SHUT_RDWR)
        release.set()
        thread.join(10)
        ws.close()


def test_closing_a_connection_that_never_started_reading():
    """What the server does to a connection whose handshake ends as it shuts down."""
    from wsfast.connection import Connection as SansIO
    from wsfast.connection import Role
    from wsfast.sync.connection import Connection

    ours, theirs = socket.socketpair()
    with theirs:
        Connection(ours, SansIO(Role.SERVER), close_timeout=1).close(1001, "going away")
        assert theirs.recv(100)[:2] == b"\x88\x0c"  # a close frame: 1001 and its reason


def test_process_request_and_process_response_hooks(caplog):
    seen = []

    def process_request(connection, request):
        seen.append(connection)
        if request.path == "/health":
            return connection.respond(200, "ok\n")
        if request.path == "/private":
            raise InvalidOrigin("Origin", None)
        if request.path == "/bug":
            raise RuntimeError("a bug in the hook")
        return None

    def process_response(connection, request, response):
        response.headers["X-Hooked"] = request.path

    with running(process_request=process_request, process_response=process_response) as server:
        with connect(uri(server) + "chat") as ws:
            assert ws.response.headers["X-Hooked"] == "/chat"
            ws.send("through the hooks")
            assert ws.recv(timeout=5) == "through the hooks"
        assert seen and seen[0].request.path == "/chat"
        for path, status in (("health", 200), ("private", 403), ("bug", 500)):
            with pytest.raises(InvalidStatus) as refused:
                connect(uri(server) + path)
            assert refused.value.response.status_code == status
            assert refused.value.response.headers["X-Hooked"] == "/" + path  # every answer passes process_response
    assert any("process_request failed" in record.getMessage() for record in caplog.records)


def test_keepalive_pings_an_idle_peer_and_drops_a_silent_one():
    with running() as server, connect(uri(server), ping_interval=0.05, ping_timeout=2) as ws:
        time.sleep(0.3)  # idle: the keepalive pings, the server's core answers
        assert ws.latency > 0 and ws.state is State.OPEN

    # A peer that completes the handshake, then never answers a ping nor a close frame.
    listener = socket.create_server(("127.0.0.1", 0))
    peer: list[socket.socket] = []

    def silent() -> None:
        sock, _ = listener.accept()
        peer.append(sock)
        open_handshake(sock, ServerConnection(auto_pong=False), None)

    thread = threading.Thread(target=silent, daemon=True)
    thread.start()
    started = time.monotonic()
    with connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", ping_interval=0.05, ping_timeout=0.2,
                 close_timeout=0.3) as ws:  # fmt: skip
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
    assert closed.value.sent_code == 1011 and closed.value.sent_reason == "keepalive ping timeout"
    assert time.monotonic() - started < 3
    thread.join(5)
    for sock in peer:
        sock.close()
    listener.close()


# Each child first takes Python's own SIGINT handler: a process started in the background by a
# non-interactive shell inherits SIGINT ignored, and Python then installs none.
TAKE_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"

INTERRUPTED_CLIENT = """
import threading
from wsfast.sync.client import connect
from wsfast.sync.server import serve

def echo(ws):
    for message in ws:
        ws.send(message)

server = serve(echo, "127.0.0.1", 0)
thread = threading.Thread(target=server.serve_forever, daemon=True)
thread.start()
try:
    with connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}/") as ws:
        print("ready", flush=True)
        ws.recv()  # waits until Ctrl-C
except KeyboardInterrupt:
    print("interrupted", ws.state.name, ws.protocol.close_sent, ws.protocol.close_code, flush=True)
server.shutdown()
thread.join(5)
print("server stopped:", not thread.is_alive(), flush=True)
"""

INTERRUPTED_SERVER = """
from wsfast.sync.server import serve

with serve(lambda ws: None, "127.0.0.1", 0) as server:
    print("ready", flush=True)
    try:
        server.serve_forever()  # until Ctrl-C
    except KeyboardInterrupt:
        print("interrupted", flush=True)
print("listener closed:", server.socket.fileno() == -1, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.parametrize(("script", "expected"), [
    (INTERRUPTED_CLIENT, ["interrupted CLOSED (1000, '') 1000", "server stopped: True"]),
    (INTERRUPTED_SERVER, ["interrupted", "listener closed: True"]),
])  # fmt: skip
def test_ctrl_c_in_a_blocking_call_closes_cleanly(script, expected):
    child = subprocess.Popen([sys.executable, "-c", TAKE_SIGINT + script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # into the blocking call
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=15)
    finally:
        child.kill()
        child.communicate()  # reaped, its pipes closed, whatever happened
    assert out.splitlines() == expected, err
    assert child.returncode == 0, err
