"""Linked hubs with no broker: ``run_workers(..., hub=True)``, its HubRelay and WorkersBackend
(wsfast/workers.py, wsfast/hub_relay.py, wsfast/asyncio/workers_hub.py).

The backends' tests run the relay in a thread and several hubs in one event loop, standing for the
workers; the relay's own tests talk to it through bare sockets; the last test starts a supervisor
with three workers on 127.0.0.1 in a subprocess, whose program is this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

import wsfast
from tests.asyncio.support import hub_process, hub_server, open_clients, server_side, subscribe
from tests.support import run_async
from wsfast.asyncio import Hub
from wsfast.hub_relay import BINARY, PING, PONG, SUBSCRIBE, TEXT, UNSUBSCRIBE, HubRelay, record_head

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets and fork")
on_both_loops = pytest.mark.usefixtures("event_loop_kind")  # asyncio, then uvloop


# ---------------------------------------------------------------------- helpers


class RelayThread:
    """A HubRelay served by a thread of its own, as the supervisor's loop serves it."""

    def __init__(self, **options) -> None:
        self.relay = HubRelay(**options)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, name="relay", daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping.is_set():
            self.relay.poll(0.02)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        assert not self.thread.is_alive()
        self.relay.close()


@contextlib.contextmanager
def relay_thread(**options) -> Iterator[HubRelay]:
    running = RelayThread(**options)
    try:
        yield running.relay
        assert running.thread.is_alive(), "the relay's thread died"
    finally:
        running.close()


def backend(path: str, **options):
    from wsfast.asyncio.workers_hub import WorkersBackend

    return WorkersBackend(path, reconnect_delay=0.02, max_reconnect_delay=0.1, **options)


@contextlib.asynccontextmanager
async def worker(path: str, clients: int = 1, **options) -> AsyncIterator:
    """One "worker": a hub linked to the relay at ``path``, its server, and ``clients`` clients."""
    async with hub_process(backend(path, **options), clients) as process:
        yield process


async def recv(client) -> str | bytes:
    return await asyncio.wait_for(client.recv(), 5)


async def synced(*hubs: Hub) -> None:
    for hub in hubs:
        await asyncio.wait_for(hub.backend.sync(), 5)


async def eventually(condition, timeout: float = 5, what: str = "the condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def no_tasks_left(before: set[asyncio.Task]) -> None:
    await eventually(lambda: not asyncio.all_tasks() - before, 2, "the end of every other task")


def short_directory() -> str:
    """A directory for a relay's socket whose path stays under the ~100 bytes a Unix socket takes."""
    return tempfile.mkdtemp(prefix="wsfast-test-", dir="/tmp" if os.path.isdir("/tmp") else None)


def record(kind: int, topic: bytes = b"", data: bytes = b"") -> bytes:
    return record_head(kind, topic, len(data)) + data


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_record(sock: socket.socket) -> tuple[int, bytes, bytes]:
    length, kind, topic_bytes = struct.unpack("!IBH", read_exactly(sock, 7))
    body = read_exactly(sock, length - 3)
    return kind, body[:topic_bytes], body[topic_bytes:]


def endpoint(relay: HubRelay, *topics: bytes, receive_buffer: int | None = None) -> socket.socket:
    """A bare link to the relay, subscribed to ``topics`` once the relay has handled it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(10)
        sock.connect(relay.path)
        sock.sendall(b"".join(record(SUBSCRIBE, topic) for topic in topics))
        ping(sock)
    except BaseException:
        sock.close()
        raise
    return sock


def assert_closed(sock: socket.socket) -> None:
    """The relay closed ``sock``'s link (a reset, when it closed with what ``sock`` sent unread)."""
    try:
        assert sock.recv(16) == b""
    except ConnectionResetError:
        pass


def ping(sock: socket.socket, token: bytes = b"ping") -> None:
    """Wait until the relay has handled what ``sock`` sent before (no message may come meanwhile)."""
    sock.sendall(record(PING, data=token))
    assert read_record(sock) == (PONG, b"", token)


# ---------------------------------------------------------------------- backends on a relay


@on_both_loops
def test_a_publish_in_one_worker_reaches_every_workers_subscribers_once_text_and_binary():
    async def main():
        before = asyncio.all_tasks()
        with relay_thread() as relay:
            async with worker(relay.path) as (a, _, [a_client]), worker(relay.path) as (b, _, [b_client]), \
                    worker(relay.path) as (c, c_server, [c_client]):  # fmt: skip
                everyone = [a_client, b_client, c_client]
                for client in everyone:
                    await subscribe(client, "news")
                await synced(a, b, c)  # the relay has their subscriptions
                assert a.publish("news", "hello") == 1  # to the local subscriber, at once
                assert a.publish("news", b"\x00\xff binary") == 1
                b.publish("news", "the end")
                for client in everyone:  # each once, in each publisher's order
                    received = [await recv(client) for _ in range(3)]
                    assert sorted(map(repr, received)) == sorted(map(repr, ["hello", b"\x00\xff binary", "the end"]))
                    assert received.index("hello") < received.index(b"\x00\xff binary")
                await synced(a, b, c)
                assert (a.backend.counters["published"], b.backend.counters["published"]) == (2, 1)
                assert [hub.backend.counters["received"] for hub in (a, b, c)] == [1, 2, 3]
                assert relay.counters["received"] == 3 and relay.counters["relayed"] == 6
                assert a.backend.topics == {"news"} and a.backend.connected

                # c leaves "news": the relay no longer sends it there
                c.unsubscribe(server_side(c_server, c_client), "news")
                await subscribe(c_client, "other")
                await synced(c)
                a.publish("news", "not for c")
                a.publish("other", "for c")
                assert await recv(c_client) == "for c"
                assert await recv(b_client) == "not for c" and await recv(a_client) == "not for c"
                await synced(a)
                assert relay.counters["relayed"] == 6 + 2  # "not for c" to b, "for c" to c
                assert c.backend.topics == {"other"} and c.backend.counters["received"] == 4
                c.subscribe(server_side(c_server, c_client), "é, 話題")  # UTF-8 both ways
                await synced(c)
                a.publish("é, 話題", "odd topic")
                assert await recv(c_client) == "odd topic"
                with pytest.raises(ValueError, match="surrogate"):  # a str, but not UTF-8: refused
                    a.publish("\ud800 a lone surrogate", "never")
                for hub in (a, b, c):
                    counters = hub.backend.counters
                    assert counters["lost"] == counters["garbage"] == counters["dropped_full"] == 0
        await no_tasks_left(before)

    run_async(main(), 20)


@on_both_loops
def test_a_message_over_the_max_size_is_delivered_locally_only():
    async def main():
        with relay_thread() as relay:
            async with worker(relay.path, max_message_bytes=1000) as (a, _, [a_client]), \
                    worker(relay.path) as (b, _, [b_client]):  # fmt: skip
                for client in (a_client, b_client):
                    await subscribe(client, "t")
                await synced(a, b)
                assert a.publish("t", b"z" * 1001) == 1
                assert a.publish("t", "é" * 501) == 1  # 1002 bytes of UTF-8
                a.publish("t", b"y" * 1000)
                assert [await recv(a_client) for _ in range(3)] == [b"z" * 1001, "é" * 501, b"y" * 1000]
                assert await recv(b_client) == b"y" * 1000  # the first b gets
                assert a.backend.counters["dropped_too_large"] == 2 and a.backend.counters["published"] == 1

    run_async(main(), 20)


@on_both_loops
def test_while_the_relay_is_gone_local_delivery_goes_on_lost_is_counted_and_the_links_come_back():
    directory = short_directory()
    path = os.path.join(directory, "relay")

    async def main():
        before = asyncio.all_tasks()
        first = RelayThread(path=path)
        try:
            async with worker(path) as (a, _, [a_client]), worker(path) as (b, _, [b_client]):
                for client in (a_client, b_client):
                    await subscribe(client, "feed")
                await synced(a, b)
                a.publish("feed", "before")
                assert await recv(a_client) == "before" and await recv(b_client) == "before"

                first.close()  # the supervisor's relay is gone: the links break
                await eventually(lambda: not a.backend.connected and not b.backend.connected, what="the links' end")
                for number in range(3):
                    assert a.publish("feed", f"while down {number}") == 1
                    assert await recv(a_client) == f"while down {number}"
                assert a.backend.counters["lost"] == 3
                with pytest.raises(ConnectionError):
                    await a.backend.sync()

                second = RelayThread(path=path)  # at the same path, as a restarted supervisor's would be
                try:
                    await eventually(lambda: a.backend.connected and b.backend.connected, what="the links again")
                    await synced(a, b)  # the subscriptions were sent again
                    assert second.relay.links == 2
                    a.publish("feed", "after")
                    b.publish("feed", b"from b")
                    assert {await recv(b_client), await recv(b_client)} == {"after", b"from b"}
                    assert {await recv(a_client), await recv(a_client)} == {"after", b"from b"}
                    assert a.backend.counters["reconnects"] == b.backend.counters["reconnects"] == 1
                    assert b.backend.counters["received"] == 2  # "before" and "after"
                finally:
                    second.close()
        finally:
            if first.thread.is_alive():
                first.close()
        await no_tasks_left(before)

    try:
        run_async(main(), 20)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@on_both_loops
def test_garbage_from_the_relay_is_counted_never_delivered_and_a_bad_length_relinks():
    directory = short_directory()
    path = os.path.join(directory, "fake relay")
    bad = [
        record(TEXT, b"t", b"\xff\xfe not UTF-8"),
        record(0x09, b"t", b"an unknown type"),
        record(TEXT, b"\xff", b"a topic not UTF-8"),
        record(TEXT, b"t", b"from elsewhere"),  # the wire format, by hand
        record(BINARY, b"nobody", b"a topic without subscribers: skipped"),
        record(BINARY, b"t", b"x" * 101),  # over this backend's max_message_bytes
        struct.pack("!IBH", 2, TEXT, 0),  # a length shorter than a record's head: out of step
    ]

    async def main():
        links = []

        async def fake_relay(reader, writer):
            links.append(writer)
            if len(links) == 1:
                await reader.readexactly(len(record(SUBSCRIBE, b"t")))
                writer.write(b"".join(bad))
            await reader.read()

        server = await asyncio.start_unix_server(fake_relay, path)
        async with server:
            async with Hub(backend=backend(path, max_message_bytes=100)) as hub:
                server_side_hub = await hub_server(hub, compression=None)
                async with server_side_hub:
                    [client] = await open_clients(server_side_hub, 1, compression=None)
                    await subscribe(client, "t")
                    assert await recv(client) == "from elsewhere"
                    await eventually(lambda: len(links) == 2, what="the backend to link again")
                    counters = hub.backend.counters
                    assert counters["garbage"] == 5 and counters["received"] == 1 and counters["reconnects"] == 1
                    await client.close()
            for writer in links:
                writer.close()

    try:
        run_async(main(), 20)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@on_both_loops
def test_one_backend_serves_one_hub_and_bad_settings_are_refused():
    from wsfast.asyncio.workers_hub import WorkersBackend

    with pytest.raises(RuntimeError, match="run_workers"):
        WorkersBackend()  # not in a worker
    with pytest.raises(ValueError, match="max_queue must be positive"):
        WorkersBackend("/nowhere", max_queue=0)
    with pytest.raises(ValueError, match="at most the relay's"):
        WorkersBackend("/nowhere", max_message_bytes=17 * 1024 * 1024)

    async def main():
        unstarted = WorkersBackend("/nowhere")
        with pytest.raises(RuntimeError, match="not started"):
            await unstarted.sync()
        with relay_thread() as relay:
            shared = backend(relay.path)
            async with Hub(backend=shared):
                with pytest.raises(RuntimeError, match="one hub"):
                    Hub(backend=shared).start()
                await asyncio.wait_for(shared.sync(), 5)
            with pytest.raises(ConnectionError):
                await shared.sync()  # closed

    run_async(main(), 20)


def test_run_workers_with_a_hub_needs_fork(monkeypatch):
    import multiprocessing

    from wsfast.workers import reserve_port, run_workers

    listener, own_sockets = reserve_port("127.0.0.1", 0)
    with listener:
        monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
        with pytest.raises(ValueError, match="need fork"):
            run_workers(print, 1, listener, own_sockets, hub=True)
    with pytest.raises(ValueError, match="max_links must be positive"):
        HubRelay(max_links=0)


# ---------------------------------------------------------------------- the relay, bare


def test_a_worker_that_stops_reading_gets_a_bounded_queue_and_drops_while_the_others_get_everything():
    count, size = 4000, 1024
    with relay_thread(max_queue_bytes=256 * 1024) as relay, endpoint(relay) as publisher, \
            endpoint(relay, b"t") as fast, endpoint(relay, b"t", receive_buffer=4096) as stalled:  # fmt: skip
        # stalled subscribed, then never reads again
        got: list[bytes] = []
        messages = [b"%06d" % number + b"." * (size - 6) for number in range(count)]
        for start in range(0, count, 100):  # paced by the one that reads: its queue stays short
            publisher.sendall(b"".join(record(BINARY, b"t", data) for data in messages[start:start + 100]))
            for _ in range(100):
                kind, topic, data = read_record(fast)
                assert (kind, topic) == (BINARY, b"t")
                got.append(data)
        ping(publisher)  # the relay handled every message
        assert got == messages  # every one, once, in order
        counters = relay.counters
        assert counters["received"] == count
        assert counters["dropped_full"] > 0 and counters["relayed"] + counters["dropped_full"] == 2 * count
        assert relay.queued_bytes <= 256 * 1024  # what waits for the stalled one, at most
        first = read_record(stalled)  # it reads again: what was kept comes, in order
        assert first[0] == BINARY and first[2] == messages[0]


def test_garbage_closes_the_link_that_sent_it_and_the_relay_goes_on():
    with relay_thread(max_message_bytes=1000) as relay, endpoint(relay) as publisher, \
            endpoint(relay, b"t") as subscriber:  # fmt: skip
        for garbage in [record(0x09, b"t", b"an unknown type"), struct.pack("!IBH", 0xFFFFFFFF, TEXT, 1),
                        struct.pack("!IBH", 5, TEXT, 9) + b"12", record(SUBSCRIBE, b"t", b"with data"),
                        record(UNSUBSCRIBE, b"x" * 1025), record(PING, b"t", b"with a topic"),
                        record(TEXT, b"t", b"x" * 1001)]:  # fmt: skip
            with endpoint(relay) as sender:
                sender.sendall(garbage)
                assert_closed(sender)
        assert relay.counters["garbage"] == 7 and relay.links == 2
        publisher.sendall(record(TEXT, b"t", b"still relayed") + record(TEXT, b"t", b"x" * 1000))
        assert read_record(subscriber) == (TEXT, b"t", b"still relayed")
        assert read_record(subscriber) == (TEXT, b"t", b"x" * 1000)
        subscriber.sendall(record(UNSUBSCRIBE, b"t"))
        ping(subscriber)
        publisher.sendall(record(TEXT, b"t", b"to nobody"))
        ping(publisher)
        assert relay.counters["relayed"] == 2
    assert not os.path.exists(relay.path)  # closing removed it


def test_a_link_past_the_topic_budget_gets_every_topic(monkeypatch):
    from wsfast import hub_relay

    monkeypatch.setattr(hub_relay, "MAX_RELAY_TOPIC_BYTES", 10 * (hub_relay._TOPIC_OVERHEAD + 1))
    with relay_thread() as relay, endpoint(relay) as publisher, \
            endpoint(relay, *[b"%d" % digit for digit in range(10)]) as many:  # fmt: skip
        assert relay.counters["unfiltered"] == 0
        many.sendall(record(SUBSCRIBE, b"x"))
        ping(many)
        assert relay.counters["unfiltered"] == 1
        publisher.sendall(record(TEXT, b"anything", b"comes"))
        assert read_record(many) == (TEXT, b"anything", b"comes")


def test_links_past_max_links_are_refused():
    with relay_thread(max_links=1) as relay, endpoint(relay), \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:  # fmt: skip
        second.settimeout(5)
        second.connect(relay.path)
        assert_closed(second)
        assert relay.counters["refused"] == 1 and relay.links == 1


# ---------------------------------------------------------------------- run_workers, three workers


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def hub_worker(index: int, inherited: socket.socket | None, port: int) -> None:
    """A worker of the supervisor below: it greets each client with its index and pid, then runs
    the client's commands on its hub, answering each once the relay has handled it."""
    asyncio.run(serve_hub_worker(index, port))


async def serve_hub_worker(index: int, port: int) -> None:
    from wsfast.asyncio.workers_hub import WorkersBackend

    async with Hub(backend=WorkersBackend()) as hub:
        backend = hub.backend

        async def handler(ws) -> None:
            await ws.send(f"worker {index} {os.getpid()}")
            async for command in ws:
                verb, _, rest = command.partition(" ")
                topic, _, argument = rest.partition(" ")
                if verb == "sub":
                    hub.subscribe(ws, topic)
                elif verb == "unsub":
                    hub.unsubscribe(ws, topic)
                elif verb == "text":
                    hub.publish(topic, argument)
                elif verb == "binary":
                    hub.publish(topic, bytes.fromhex(argument))
                await backend.sync()
                await ws.send(f"done {command}")

        async with wsfast.serve(handler, "127.0.0.1", port, reuse_port=True, compression=None):
            terminated = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
            await terminated.wait()


def supervise() -> int:
    from wsfast.workers import reserve_port, run_workers

    listener, own_sockets = reserve_port("127.0.0.1", 0)
    with listener:
        port = listener.getsockname()[1]
        print(port, flush=True)
        return run_workers(functools.partial(hub_worker, port=port), 3, listener, own_sockets, drain_timeout=5,
                           hub=True)  # fmt: skip


async def client_of(port: int, index: int | None, deadline: float, exclude: frozenset[int] = frozenset()):
    """A client of worker ``index`` (any worker: None) whose pid is not in ``exclude``: SO_REUSEPORT
    spreads connections over the workers, so connect until one lands there."""
    while time.monotonic() < deadline:
        try:
            ws = await wsfast.connect(f"ws://127.0.0.1:{port}/", compression=None)
        except (OSError, wsfast.InvalidHandshake):  # no worker listens yet, or it landed on one just killed
            await asyncio.sleep(0.05)
            continue
        try:
            _, number, pid = (await recv(ws)).split()
        except wsfast.ConnectionClosed:
            continue
        if (index is None or int(number) == index) and int(pid) not in exclude:
            return ws, int(number), int(pid)
        await ws.close()
    raise AssertionError(f"no connection reached worker {index}")


def stop(supervisor: subprocess.Popen) -> None:
    """SIGTERM, so that it stops its workers too (SIGKILL would leave them serving), then SIGKILL."""
    if supervisor.poll() is not None:
        return
    workers = children(supervisor.pid)
    supervisor.send_signal(signal.SIGTERM)
    try:
        supervisor.wait(10)
    except subprocess.TimeoutExpired:
        supervisor.kill()
        supervisor.wait(5)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def command(ws, text: str, *own: str | bytes) -> None:
    """Run ``text`` in ``ws``'s worker; ``own``: what its publish sends ``ws`` itself, before the answer."""
    await ws.send(text)
    for message in own:
        assert await recv(ws) == message
    assert await recv(ws) == f"done {text}"


@pytest.mark.skipif(sys.platform != "linux", reason="reads the workers from /proc; SO_REUSEPORT spreading")
def test_three_workers_hubs_reach_each_other_and_a_restarted_worker_links_again():
    # `python -m tests.asyncio.test_workers_hub` from the repository root, where `tests` is importable
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    supervisor = subprocess.Popen([sys.executable, "-m", __name__], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=root)  # fmt: skip
    try:
        assert select.select([supervisor.stdout], [], [], 30)[0], "the supervisor did not start"
        port = int(supervisor.stdout.readline())

        opened = []

        async def main() -> int:
            try:
                return await exchange()
            finally:
                for ws in opened:
                    await ws.close()

        async def exchange() -> int:
            deadline = time.monotonic() + 40
            clients = {}
            while len(clients) < 3:
                ws, index, pid = await client_of(port, None, deadline)
                opened.append(ws)
                if index in clients:
                    await ws.close()
                else:
                    clients[index] = ws, pid
            [(first, _), (second, _), (third, third_pid)] = [clients[index] for index in range(3)]
            for ws in (first, second, third):
                await command(ws, "sub news")

            # Each message once, text and binary as published: a duplicate would come before the next.
            await command(first, "text news hello", "hello")
            await command(first, "binary news 00ff", b"\x00\xff")
            for ws in (second, third):
                assert [await recv(ws), await recv(ws)] == ["hello", b"\x00\xff"]
            await command(second, "text news the end", "the end")
            for ws in (first, third):
                assert await recv(ws) == "the end"

            await command(third, "unsub news")
            await command(third, "sub other")
            await command(first, "text news not for the third", "not for the third")
            await command(first, "text other for the third")
            assert await recv(third) == "for the third"  # not "not for the third" first
            assert await recv(second) == "not for the third"

            os.kill(third_pid, signal.SIGKILL)  # it is started again, and its new hub links again
            with pytest.raises(wsfast.ConnectionClosed):
                await recv(third)
            new, _, new_pid = await client_of(port, 2, deadline, exclude=frozenset({third_pid}))
            opened.append(new)
            assert new_pid in children(supervisor.pid) and len(children(supervisor.pid)) == 3
            await command(new, "sub news")
            await command(first, "text news after the restart", "after the restart")
            assert await recv(second) == "after the restart" and await recv(new) == "after the restart"
            await command(new, "binary news 01", b"\x01")
            assert await recv(first) == b"\x01" and await recv(second) == b"\x01"
            await command(second, "text news last", "last")  # nothing else came before it
            assert await recv(first) == "last" and await recv(new) == "last"
            return third_pid

        killed = run_async(main(), 60)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(15) == 0
        errors = supervisor.stderr.read()
        assert "Traceback" not in errors, errors
        assert f"worker 2 (pid {killed}) exited with -9; starting it again" in errors, errors
    finally:
        stop(supervisor)
        for stream in (supervisor.stdout, supervisor.stderr):
            stream.close()


if __name__ == "__main__":  # the supervisor of the last test
    sys.exit(supervise())
