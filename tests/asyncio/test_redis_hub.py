"""wsfast.asyncio.Hub across processes on a real Redis: RedisBackend, against a redis-server started
here on 127.0.0.1 (skipped without redis-server or the redis package, failed instead when CI is set).

Two hubs in one event loop stand for two processes: each has its own server, clients and
connections to Redis, and only Redis between them. For what a real Redis does not do on demand, a
hub connects through a proxy that makes Redis go away in the middle of a publish (RedisProxy), or
to a fake Redis that answers garbage (FakeRedis).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.asyncio.support import hub_process, hub_server, open_clients, server_side, subscribe
from tests.support import run_async
from wsfast.asyncio import Hub
from wsfast.asyncio.fanout import MAX_TOPIC_BYTES

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def require(what: str, missing: bool, install: str) -> None:
    if missing:
        if os.environ.get("CI"):  # .ci/run installs it
            pytest.fail(f"{what} is not installed", pytrace=False)
        pytest.skip(f"{what} is not installed ({install})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server on 127.0.0.1 that a test can kill and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it answers PING
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def ensure_running(self) -> None:
        """Start it again if a test killed it and failed before restarting it."""
        if self.process is None or self.process.poll() is not None:
            self.start()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    require("redis-server", shutil.which("redis-server") is None, "apt-get install redis-server")
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        require("the redis package", True, "pip install 'wsfast[redis]'")
    server = RedisServer()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(10)


_prefixes = iter(range(1_000_000))


def new_prefix() -> str:
    """A prefix of its own for each test, so that no test sees another's channels."""
    return f"wsfast-test-{os.getpid()}-{next(_prefixes)}:"


def backend(redis_server: RedisServer | RedisProxy | FakeRedis, prefix: str, **options):
    from wsfast.asyncio.redis_hub import RedisBackend

    return RedisBackend(redis_server.url, prefix=prefix, reconnect_delay=0.05, max_reconnect_delay=0.3, **options)


@contextlib.asynccontextmanager
async def redis_client(redis_server: RedisServer) -> AsyncIterator:
    """A plain redis-py client, to look at Redis and to publish on it directly."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def eventually(condition, timeout: float = 5, what: str = "the condition") -> None:
    """Wait until ``condition()`` (a bool, or an awaitable of one) is true."""

    async def holds() -> bool:
        result = condition()
        return await result if inspect.isawaitable(result) else result

    deadline = asyncio.get_running_loop().time() + timeout
    while not await holds():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def subscribed_in_redis(client, channel: str, count: int) -> None:
    """Wait until ``count`` connections subscribe to ``channel`` in Redis."""

    async def subscribed():
        [(_, number)] = await client.pubsub_numsub(channel)
        return number == count

    await eventually(subscribed, what=f"{count} subscriptions to {channel}")


async def recv(client) -> str | bytes:
    return await asyncio.wait_for(client.recv(), 5)


async def no_tasks_left(before: set[asyncio.Task]) -> None:
    """Every task started since ``before`` is done: the hubs' and the servers' included."""

    async def alone():
        return not asyncio.all_tasks() - before

    try:
        await eventually(alone, 2, "the end of every other task")
    except AssertionError:
        raise AssertionError(f"tasks left: {asyncio.all_tasks() - before}") from None


class ProxyLink:
    """One connection through a RedisProxy: the client's side and Redis's."""

    def __init__(self, to_client: asyncio.StreamWriter, to_redis: asyncio.StreamWriter) -> None:
        self.to_client, self.to_redis = to_client, to_redis
        self.swallowing = False  # Redis went away with it: what the client sends goes nowhere

    def abort(self) -> None:
        self.to_client.transport.abort()
        self.to_redis.transport.abort()


class LoopbackServer:
    """A server on 127.0.0.1 in the test's event loop, that a hub reaches at :attr:`url`; closing it
    aborts its connections (the subclass's ``_abort_connections``)."""

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        self._abort_connections()
        await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def _abort_connections(self) -> None:
        raise NotImplementedError


class RedisProxy(LoopbackServer):
    """A TCP proxy on 127.0.0.1 (in the test's event loop) between one hub and a RedisServer, that
    makes Redis go away at the next PUBLISH: that PUBLISH never reaches Redis and no answer comes
    back; the connection that sent it breaks first, or the others do while it waits for its answer.
    Then it refuses connections until Redis comes back."""

    def __init__(self, redis_server: RedisServer) -> None:
        self.redis_server = redis_server
        self.away = False
        self.refused = 0  # connections refused while Redis was away
        self._break_first: str | None = None  # "publisher" or "subscriber", once armed
        self._links: list[ProxyLink] = []

    def _abort_connections(self) -> None:
        for link in self._links:
            link.abort()

    def go_away_at_the_next_publish(self, break_first: str) -> None:
        self._break_first = break_first

    def come_back(self) -> None:
        self.away = False

    async def _serve(self, from_client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        if self.away:
            self.refused += 1
            to_client.transport.abort()
            return
        from_redis, to_redis = await asyncio.open_connection("127.0.0.1", self.redis_server.port)
        link = ProxyLink(to_client, to_redis)
        self._links.append(link)
        pumps = [asyncio.create_task(self._from_client(from_client, link)),
                 asyncio.create_task(self._pump(from_redis, to_client))]  # fmt: skip
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            link.abort()
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps)
            self._links.remove(link)

    async def _from_client(self, reader: asyncio.StreamReader, link: ProxyLink) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if link.swallowing:
                    continue
                if self._break_first is not None and b"PUBLISH" in data:
                    self._go_away(link)
                    if link.swallowing:
                        continue
                    return
                link.to_redis.write(data)
                await link.to_redis.drain()

    def _go_away(self, publishing: ProxyLink) -> None:
        """Redis goes away in the middle of the publishing link's pipeline, which it never reads."""
        self.away = True
        if self._break_first == "publisher":
            publishing.abort()
        else:  # the others break now, and the publisher waits for answers that never come
            publishing.swallowing = True
            for link in self._links:
                if link is not publishing:
                    link.abort()
        self._break_first = None

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


class FakeClient:
    """One connection to a FakeRedis."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.channels: set[bytes] = set()
        self.garbled = False  # it was sent garbage: it answers nothing more, and receives nothing


class FakeRedis(LoopbackServer):
    """Just enough of Redis on 127.0.0.1 (in the test's event loop) for RedisBackends, in RESP2:
    PING, SUBSCRIBE, UNSUBSCRIBE and PUBLISH (to its subscribers), +OK to the rest. A test makes
    it send garbage to the connections subscribed to a channel, or in answer to the next PUBLISH."""

    #: How much a garbage stream goes on, if the connection takes it all.
    STREAM_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._clients: list[FakeClient] = []
        self._publish_answer: bytes | None = None

    def _abort_connections(self) -> None:
        for client in self._clients:
            client.writer.transport.abort()

    def subscribers(self, channel: str) -> int:
        """How many connections that were not garbled subscribe to ``channel``."""
        return sum(1 for client in self._clients if channel.encode() in client.channels and not client.garbled)

    def send(self, channel: str, data: bytes) -> FakeClient:
        """Send ``data`` as it is to the connection subscribed to ``channel``."""
        [client] = [client for client in self._clients if channel.encode() in client.channels]
        client.writer.write(data)
        return client

    async def garble(self, channel: str, garbage: bytes, filler: bytes | None) -> int:
        """Send ``garbage`` to the connection subscribed to ``channel``, then ``filler`` over and over
        (None: nothing more) until :data:`STREAM_BYTES` or the connection breaks. Returns the bytes
        of filler that went into the socket."""
        client = self.send(channel, garbage)
        client.garbled = True
        sent = 0
        if filler is not None:
            chunk = filler * (65536 // len(filler))
            with contextlib.suppress(OSError):
                while sent < self.STREAM_BYTES and not client.writer.is_closing():
                    client.writer.write(chunk)
                    await client.writer.drain()
                    sent += len(chunk)
        return sent

    def answer_the_next_publish(self, garbage: bytes) -> None:
        self._publish_answer = garbage

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = FakeClient(writer)
        self._clients.append(client)
        try:
            while (command := await self._read_command(reader)) is not None:
                if not client.garbled:
                    writer.write(self._answer(client, command))
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.remove(client)
            writer.transport.abort()

    @staticmethod
    async def _read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
        """A command, as redis-py sends it: an array of bulk strings; None at the end."""
        line = await reader.readline()
        if not line:
            return None
        arguments = []
        for _ in range(int(line[1:])):
            length = int((await reader.readline())[1:])
            arguments.append((await reader.readexactly(length + 2))[:-2])
        return arguments

    def _answer(self, client: FakeClient, command: list[bytes]) -> bytes:
        name, arguments = command[0].upper(), command[1:]
        if name == b"PING":
            return b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" if client.channels else b"+PONG\r\n"
        if name in (b"SUBSCRIBE", b"UNSUBSCRIBE"):
            answers = []
            for channel in arguments:
                (client.channels.add if name == b"SUBSCRIBE" else client.channels.discard)(channel)
                answers.append(b"*3\r\n" + bulk(name.lower()) + bulk(channel) + b":%d\r\n" % len(client.channels))
            return b"".join(answers)
        if name == b"PUBLISH":
            if self._publish_answer is not None:
                client.garbled = True
                answer, self._publish_answer = self._publish_answer, None
                return answer
            channel, payload = arguments
            receivers = [other for other in self._clients if channel in other.channels and not other.garbled]
            for receiver in receivers:
                receiver.writer.write(b"*3\r\n" + bulk(b"message") + bulk(channel) + bulk(payload))
            return b":%d\r\n" % len(receivers)
        return b"+OK\r\n"  # CLIENT SETINFO, SELECT


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


@contextlib.asynccontextmanager
async def process(redis_server: RedisServer | RedisProxy | FakeRedis, prefix: str, clients: int = 2,
                  **options) -> AsyncIterator:  # fmt: skip
    """One "process": a hub on Redis (or on a proxy to it, or a fake), its server, and ``clients``
    clients of it."""
    async with hub_process(backend(redis_server, prefix, **options), clients) as hub_and_clients:
        yield hub_and_clients


def test_a_publish_reaches_the_subscribers_of_every_hub_once_text_and_binary(redis_server):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with redis_client(redis_server) as redis, process(redis_server, prefix) as (a, _, a_clients), \
                process(redis_server, prefix) as (b, _, b_clients):  # fmt: skip
            for client in [*a_clients, *b_clients]:
                await subscribe(client, "news")
            await subscribed_in_redis(redis, prefix + "news", 2)  # one subscription per hub, not per client
            assert a.publish("news", "hello") == 2  # written to the local subscribers at once
            assert a.publish("news", b"\x00\xff binary") == 2
            for client in [*a_clients, *b_clients]:
                assert [await recv(client), await recv(client)] == ["hello", b"\x00\xff binary"]
            b.publish("news", "the end")  # after a's echoes on a's Redis connection: a duplicate would come first
            for client in [*a_clients, *b_clients]:
                assert await recv(client) == "the end"
            await eventually(lambda: a.backend.counters["echoes"] == 2 and b.backend.counters["echoes"] == 1)
            assert a.backend.counters["received"] == 1 and b.backend.counters["received"] == 2
            assert a.backend.counters["published"] == 2 and b.backend.counters["published"] == 1
            for counters in (a.backend.counters, b.backend.counters):
                assert counters["lost"] == counters["garbage"] == counters["dropped_full"] == 0
        await no_tasks_left(before)

    run_async(main(), 10)


def test_a_hub_receives_only_the_topics_it_has_subscribers_for_and_floods_leave_nothing(redis_server):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with redis_client(redis_server) as redis, process(redis_server, prefix) as (a, a_server, a_clients), \
                process(redis_server, prefix, clients=1) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_clients[0], "a only")
            await subscribe(a_clients[1], "both")
            await subscribe(b_client, "both")
            await subscribed_in_redis(redis, prefix + "both", 2)
            await subscribed_in_redis(redis, prefix + "a only", 1)
            assert sorted(await redis.pubsub_channels(prefix + "*")) == [f"{prefix}a only".encode(), f"{prefix}both".encode()]
            assert a.backend.topics == {"a only", "both"} and b.backend.topics == {"both"}
            b.publish("a only", "to a")
            assert await recv(a_clients[0]) == "to a"
            a.publish("b nobody", "to no one")  # published, received by no hub
            b.publish("both", "to both")
            assert await recv(a_clients[1]) == "to both" and await recv(b_client) == "to both"
            assert b.backend.counters["received"] == 0  # "to a" and "to no one" never came to b

            # One connection subscribes to many topics and leaves them, twice: nothing stays behind.
            flooder = server_side(a_server, a_clients[0])
            for _ in range(2):
                for number in range(3000):
                    a.subscribe(flooder, f"flood {number}")
                await asyncio.sleep(0)  # some SUBSCRIBEs go out, some not yet
                for number in range(3000):
                    a.unsubscribe(flooder, f"flood {number}")
            assert a.topics(flooder) == {"a only"} and a.backend.topics == {"a only", "both"}

            async def settled():
                channels = await redis.pubsub_channels(prefix + "*")
                return len(channels) == 2 and not a.backend._changed and len(a.backend._sent) == 2

            await eventually(settled, what="the flood's subscriptions to leave Redis")
            await a_clients[0].close()  # its last topic goes with it
            await eventually(lambda: a.backend.topics == {"both"})

            async def only_both_left():
                return await redis.pubsub_channels(prefix + "*") == [f"{prefix}both".encode()]

            await eventually(only_both_left, what="'a only' to leave Redis")
        await no_tasks_left(before)

    run_async(main(), 10)


def test_redis_killed_local_delivery_goes_on_lost_is_counted_and_it_reconnects(redis_server):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with process(redis_server, prefix, clients=1) as (a, _, [a_client]), \
                process(redis_server, prefix, clients=1) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_client, "feed")
            await subscribe(b_client, "feed")
            async with redis_client(redis_server) as redis:
                await subscribed_in_redis(redis, prefix + "feed", 2)
            a.publish("feed", "before")
            assert await recv(a_client) == "before" and await recv(b_client) == "before"

            redis_server.kill()
            await eventually(lambda: not a.backend.connected and not b.backend.connected,
                             what="the hubs to see Redis gone")  # fmt: skip
            for number in range(5):
                assert a.publish("feed", f"while down {number}") == 1
                assert await recv(a_client) == f"while down {number}"  # local delivery goes on
            assert a.backend.counters["lost"] == 5

            redis_server.start()  # the same port
            await eventually(lambda: a.backend.connected and b.backend.connected, what="the reconnection")
            async with redis_client(redis_server) as redis:
                await subscribed_in_redis(redis, prefix + "feed", 2)  # subscriptions restored
            a.publish("feed", "after")
            assert await recv(a_client) == "after" and await recv(b_client) == "after"
            b.publish("feed", b"after, from b")
            assert await recv(a_client) == b"after, from b" and await recv(b_client) == b"after, from b"
            assert a.backend.counters["reconnects"] == b.backend.counters["reconnects"] == 1
            assert b.backend.counters["received"] == 2  # "before" and "after": none of the lost ones
        await no_tasks_left(before)

    try:
        run_async(main(), 10)
    finally:
        redis_server.ensure_running()


def test_a_hub_whose_redis_never_answers_still_delivers_locally_and_closes_cleanly():
    async def main():
        before = asyncio.all_tasks()
        from wsfast.asyncio.redis_hub import RedisBackend

        nobody = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", reconnect_delay=0.05, max_reconnect_delay=0.1)
        async with Hub(backend=nobody) as hub:
            server = await hub_server(hub, compression=None)
            async with server:
                [client] = await open_clients(server, 1, compression=None)
                await subscribe(client, "t")
                await eventually(lambda: nobody._state == "down", what="the first failed connection")
                assert hub.publish("t", "local") == 1 and await recv(client) == "local"
                assert nobody.counters["lost"] == 1 and not nobody.connected
                await client.close()
        await no_tasks_left(before)

    run_async(main(), 10)


def test_garbage_on_a_channel_is_counted_and_never_delivered(redis_server):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with redis_client(redis_server) as redis, \
                process(redis_server, prefix, clients=1, max_message_bytes=1000) as (a, _, [client]):  # fmt: skip
            await subscribe(client, "t")
            await subscribed_in_redis(redis, prefix + "t", 1)
            other = bytes(range(16))  # another hub's origin id
            channel = prefix + "t"
            for payload in [b"", b"short", other + b"\x09data", other + b"\x01\xff\xfe not UTF-8",
                            other + b"\x02" + b"x" * 1001]:  # fmt: skip
                await redis.publish(channel, payload)
            await redis.publish(channel, other + b"\x01text from elsewhere")  # the wire format, by hand
            await redis.publish(channel, other + b"\x02" + b"y" * 1000)
            assert await recv(client) == "text from elsewhere"  # the garbage before it was not delivered
            assert await recv(client) == b"y" * 1000
            assert a.backend.counters["garbage"] == 5 and a.backend.counters["received"] == 2
            a.publish("t", "still fine")
            assert await recv(client) == "still fine"
        await no_tasks_left(before)

    run_async(main(), 10)


def counted(counters) -> int:
    """The messages a backend accounted for: each one published is sent, lost or dropped."""
    return counters["published"] + counters["lost"] + counters["dropped_full"] + counters["dropped_too_large"]


@pytest.mark.parametrize("break_first", ["publisher", "subscriber"])
def test_redis_gone_mid_publish_every_message_is_delivered_locally_and_sent_or_counted_lost(redis_server, break_first,
                                                                                           caplog):  # fmt: skip
    burst = 1000  # four pipelines: Redis goes away during the first, the others are still queued

    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with RedisProxy(redis_server) as proxy, redis_client(redis_server) as redis, \
                process(proxy, prefix, clients=1) as (a, _, [a_client]), \
                process(redis_server, prefix, clients=1) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_client, "burst")
            await subscribe(b_client, "burst")
            await subscribed_in_redis(redis, prefix + "burst", 2)
            a.publish("burst", "before")
            assert await recv(a_client) == "before" and await recv(b_client) == "before"

            proxy.go_away_at_the_next_publish(break_first)
            for number in range(burst):  # without yielding: all queued before the first is sent
                assert a.publish("burst", str(number)) == 1
            assert [await recv(a_client) for _ in range(burst)] == [str(number) for number in range(burst)]
            await eventually(lambda: proxy.refused >= 2, what="attempts to connect while Redis is away")
            for number in range(5):
                assert a.publish("burst", f"while away {number}") == 1
                assert await recv(a_client) == f"while away {number}"  # local delivery goes on
            assert a.backend.counters["published"] == 1 and a.backend.counters["lost"] == burst + 5
            assert counted(a.backend.counters) == 1 + burst + 5  # nothing unaccounted for

            proxy.come_back()
            await eventually(lambda: a.backend.connected, what="the reconnection")
            await subscribed_in_redis(redis, prefix + "burst", 2)  # a's subscription restored
            a.publish("burst", "after")
            assert await recv(b_client) == "after"  # and none of the lost ones before it
            assert await recv(a_client) == "after"
            b.publish("burst", b"from b")
            assert await recv(a_client) == b"from b" and await recv(b_client) == b"from b"
            assert a.backend.counters["reconnects"] == 1 and b.backend.counters["reconnects"] == 0
            # a counts a batch published once Redis answers it, which may come after the delivery
            await eventually(lambda: a.backend.counters["published"] == 2, what="the count of the publish")
            assert b.backend.counters["received"] == 2
            assert counted(a.backend.counters) == 1 + burst + 5 + 1
        await no_tasks_left(before)

    with caplog.at_level(logging.WARNING, logger="wsfast"):
        run_async(main(), 20)
    assert "lost the connection to Redis" in caplog.text
    assert "messages are not sent to the other processes (lost: " in caplog.text
    assert "cannot connect the connection to Redis" in caplog.text  # retried while it was away
    assert f"is up again; {burst + 5} messages were lost for the other processes meanwhile" in caplog.text


def test_a_quiet_hub_pings_both_connections_and_a_real_redis_keeps_it_up(redis_server):
    async def main():
        before = asyncio.all_tasks()
        async with process(redis_server, new_prefix(), clients=1, ping_interval=0.3) as (hub, _, [client]):
            await subscribe(client, "quiet")  # in subscribed mode, Redis answers a PING with a pong message
            await eventually(lambda: hub.backend.connected, what="the connection to Redis")
            replies = hub.backend._replies_read
            await eventually(lambda: hub.backend._replies_read >= replies + 3, what="three pongs")
            assert hub.backend.connected and hub.backend.counters["reconnects"] == 0
        await no_tasks_left(before)

    run_async(main(), 10)


#: Garbage a fake Redis sends to a hub's subscribing connection, and what it sends after it over and over.
GARBAGE = {
    "a reply of the wrong type": (b":42\r\n", None),
    "a line that is not RESP": (b"hello, I am not Redis\r\n", None),
    "a string of 9999999999999 bytes": (b"*3\r\n$7\r\nmessage\r\n$9999999999999\r\n", b"x"),
    "a line that never ends": (b"+", b"x"),
    "an array of 10**12 items": (b"*1000000000000\r\n", b":1\r\n"),
    "a string of negative length, then a long one": (b"*3\r\n$7\r\nmessage\r\n$-20000000000\r\n$9999999999\r\n", b"x"),
    "a reply cut short, then silence": (b"*3\r\n$7\r\nmessage\r\n$100\r\nabc", None),
}


@pytest.mark.parametrize("case", GARBAGE)
def test_redis_answering_garbage_ends_the_session_within_bounds_and_it_reconnects(case, caplog):
    garbage, filler = GARBAGE[case]
    silent = case == "a reply cut short, then silence"  # found by the PINGs, not counted as garbage

    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with FakeRedis() as fake, process(fake, prefix, clients=1) as (a, _, [a_client]), \
                process(fake, prefix, clients=1, ping_interval=0.5 if silent else 15) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_client, "feed")
            await subscribe(b_client, "feed")
            await subscribe(b_client, "b only")
            await eventually(lambda: fake.subscribers(prefix + "feed") == 2 and fake.subscribers(prefix + "b only") == 1)
            a.publish("feed", "before")
            assert await recv(a_client) == "before" and await recv(b_client) == "before"

            sent = await asyncio.wait_for(fake.garble(prefix + "b only", garbage, filler), 10)
            assert sent < fake.STREAM_BYTES  # b stopped reading: it did not take in all that came
            assert b.publish("b only", "local") == 1 and await recv(b_client) == "local"  # local delivery goes on
            await eventually(lambda: b.backend.counters["reconnects"] == 1, 10, "the reconnection")
            b.backend.ping_interval = 15  # from here, a loaded machine's slow PONG must not look like a stall
            assert b.backend.counters["garbage"] == (0 if silent else 1)
            await eventually(lambda: fake.subscribers(prefix + "feed") == 2 and fake.subscribers(prefix + "b only") == 1)
            a.publish("feed", "after")  # from the hub that saw no garbage, to both again
            assert await recv(a_client) == "after" and await recv(b_client) == "after"
            b.publish("feed", b"from b")
            assert await recv(a_client) == b"from b" and await recv(b_client) == b"from b"
            assert a.backend.counters["reconnects"] == a.backend.counters["garbage"] == 0
        await no_tasks_left(before)

    with caplog.at_level(logging.WARNING, logger="wsfast"):
        run_async(main(), 30)
    assert "lost the connection to Redis" in caplog.text
    assert ("read no reply in 0.5 s" if silent else "Redis sent a reply that does not parse") in caplog.text
    assert "Traceback" not in caplog.text  # an expected error, each of them


def test_garbage_in_answer_to_a_publish_loses_the_batch_and_it_reconnects(caplog):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with FakeRedis() as fake, process(fake, prefix, clients=1) as (a, _, [a_client]), \
                process(fake, prefix, clients=1) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_client, "feed")
            await subscribe(b_client, "feed")
            await eventually(lambda: fake.subscribers(prefix + "feed") == 2)
            fake.answer_the_next_publish(b"hello, I am not Redis\r\n")
            for number in range(3):
                assert a.publish("feed", str(number)) == 1
            assert [await recv(a_client) for _ in range(3)] == ["0", "1", "2"]
            await eventually(lambda: a.backend.counters["reconnects"] == 1, what="the reconnection")
            assert a.backend.counters["lost"] == 3 and a.backend.counters["garbage"] == 1
            await eventually(lambda: fake.subscribers(prefix + "feed") == 2)
            a.publish("feed", "after")
            assert await recv(a_client) == "after" and await recv(b_client) == "after"  # not the lost ones
            # counted published once Redis answers the publish, which may come after the delivery
            await eventually(lambda: counted(a.backend.counters) == 4, what="the count of the publish")
        await no_tasks_left(before)

    with caplog.at_level(logging.WARNING, logger="wsfast"):
        run_async(main(), 20)
    assert "Redis sent a reply that does not parse" in caplog.text and "Traceback" not in caplog.text


def test_a_message_of_the_wrong_shape_is_garbage_and_the_session_goes_on():
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with FakeRedis() as fake, process(fake, prefix, clients=1) as (a, _, [client]):
            await subscribe(client, "feed")
            await eventually(lambda: fake.subscribers(prefix + "feed") == 1)
            fake.send(prefix + "feed", b"*3\r\n$7\r\nmessage\r\n:1\r\n:2\r\n")  # integers, not strings
            fake.send(prefix + "feed", b"*3\r\n" + bulk(b"message") + bulk((prefix + "feed").encode())
                      + bulk(bytes(16) + b"\x01from elsewhere"))  # fmt: skip
            assert await recv(client) == "from elsewhere"  # the same connection, after the garbage
            assert a.backend.counters["garbage"] == 1 and a.backend.counters["reconnects"] == 0
        await no_tasks_left(before)

    run_async(main(), 10)


def test_topics_are_bounded_str_with_a_backend(redis_server):
    async def main():
        before = asyncio.all_tasks()
        async with process(redis_server, new_prefix(), clients=1) as (hub, server, [client]):
            connection = server_side(server, client)
            longest = "é" * (MAX_TOPIC_BYTES // 2)  # 2 bytes each in UTF-8
            hub.subscribe(connection, longest)
            hub.publish(longest, "fine")
            assert await recv(client) == "fine"
            for call in (lambda: hub.subscribe(connection, longest + "x"), lambda: hub.publish(longest + "x", "no")):
                with pytest.raises(ValueError, match="at most 1024 bytes"):
                    call()
                with pytest.raises(TypeError, match="a topic is a str"):
                    hub.publish(b"bytes", "no")
            # a lone surrogate is a str that no channel name can carry: refused, not sent to Redis
            for call in (lambda: hub.subscribe(connection, "\udc80"), lambda: hub.publish("a\ud800", "no")):
                with pytest.raises(ValueError, match="surrogate"):
                    call()
            assert hub.topics(connection) == {longest}
            hub.publish(longest, "still fine")  # and the connection to Redis is still up
            assert await recv(client) == "still fine"
        local = Hub()  # without a backend, nothing changes
        local.publish("x" * 10_000, "to nobody")
        await no_tasks_left(before)

    run_async(main(), 10)


def test_past_the_queue_and_message_bounds_the_other_processes_miss_it_and_it_is_counted(redis_server):
    async def main():
        before = asyncio.all_tasks()
        prefix = new_prefix()
        async with process(redis_server, prefix, clients=1, max_queue=5, max_message_bytes=1000) as (a, _, [a_client]), \
                process(redis_server, prefix, clients=1, max_queue_bytes=3 * (17 + 100)) as (b, _, [b_client]):  # fmt: skip
            await subscribe(a_client, "t")
            await subscribe(b_client, "t")
            async with redis_client(redis_server) as redis:
                await subscribed_in_redis(redis, prefix + "t", 2)
            assert a.publish("t", b"z" * 1001) == 1  # too large for Redis: local subscribers still get it
            assert await recv(a_client) == b"z" * 1001
            assert a.backend.counters["dropped_too_large"] == 1
            for number in range(20):  # without yielding: the queue fills before anything is sent
                a.publish("t", str(number))
            assert a.backend.counters["dropped_full"] == 15
            for number in range(5):  # b has only 3 messages of 100 bytes of room
                b.publish("t", b"%d" % number + b"." * 99)
            assert b.backend.counters["dropped_full"] == 2
            await eventually(lambda: a.backend.counters["published"] == 5, what="a's queue to be sent")
            a.publish("t", "end")  # room again
            at_b = [await recv(b_client) for _ in range(5 + 6)]  # its own 5, and a's 5 queued and "end"
            assert [m for m in at_b if isinstance(m, str)] == ["0", "1", "2", "3", "4", "end"]  # not the 1001 bytes
            at_a = [await recv(a_client) for _ in range(21 + 3)]  # its own 21, and b's 3 queued
            assert [m[:1] for m in at_a if isinstance(m, bytes)] == [b"0", b"1", b"2"]
        await no_tasks_left(before)

    run_async(main(), 10)


def test_close_stops_everything_and_the_hub_goes_on_locally(redis_server):
    async def main():
        before = asyncio.all_tasks()
        hub = Hub(backend=backend(redis_server, new_prefix()))
        assert asyncio.all_tasks() == before  # nothing before the first use
        server = await hub_server(hub, compression=None)
        async with server:
            [client] = await open_clients(server, 1, compression=None)
            await subscribe(client, "t")  # starts the backend
            await eventually(lambda: hub.backend.connected, what="the connection to Redis")
            await hub.close()
            await hub.close()  # twice is fine
            assert not hub.backend.connected
            assert hub.publish("t", "local only") == 1 and await recv(client) == "local only"
            with pytest.raises(RuntimeError, match="closed"):
                hub.start()
            await client.close()
        await no_tasks_left(before)
        async with Hub() as plain:  # without a backend, start and close do nothing
            assert plain.publish("t", "x") == 0

    run_async(main(), 10)


def test_one_backend_serves_one_hub_and_limits_are_positive(redis_server):
    from wsfast.asyncio.redis_hub import RedisBackend

    with pytest.raises(ValueError, match="max_queue must be positive"):
        RedisBackend(max_queue=0)

    async def main():
        before = asyncio.all_tasks()
        shared = backend(redis_server, new_prefix())
        async with Hub(backend=shared):
            with pytest.raises(RuntimeError, match="one hub"):
                Hub(backend=shared).start()
        await no_tasks_left(before)

    run_async(main(), 10)


def test_without_redis_py_the_error_says_what_to_install(monkeypatch):
    from wsfast.asyncio import redis_hub

    monkeypatch.setitem(sys.modules, "redis", None)  # import redis fails
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"pip install 'wsfast\[redis\]'"):
        redis_hub.RedisBackend()

