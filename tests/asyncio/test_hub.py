"""wsfast.asyncio.Hub: topics, publish, and what becomes of a slow subscriber's messages."""

from __future__ import annotations

import asyncio
import socket

import pytest

import wsfast
from tests.asyncio.support import hub_server, open_clients, server_side, subscribe, uri_of
from tests.support import run_async
from wsfast.asyncio import Hub, callbacks
from wsfast.asyncio import fanout
from wsfast.client import ClientConnection
from wsfast.connection import State

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def test_publish_reaches_each_topics_subscribers_and_closed_ones_leave(monkeypatch):
    encoded = []
    real = fanout.encode_frame
    monkeypatch.setattr(fanout, "encode_frame", lambda *a, **k: encoded.append(a) or real(*a, **k))

    async def main():
        hub = Hub()
        server = await hub_server(hub, compression=None)
        async with server:
            prices = await open_clients(server, 3, compression=None)
            news = [await wsfast.connect(uri_of(server), compression="deflate")]
            for client in prices:
                await subscribe(client, "prices")
            await subscribe(news[0], "news")
            await subscribe(prices[0], "news")
            assert hub.publish("prices", b"101.25") == 3
            assert hub.publish("news", "hello") == 2
            assert hub.publish("nobody", "lost") == 0
            assert [await c.recv() for c in prices] == [b"101.25"] * 3
            assert await news[0].recv() == "hello" and await prices[0].recv() == "hello"
            assert len(encoded) == 2  # one frame per publish, shared by the plain subscribers
            hub.unsubscribe(server_side(server, news[0]), "news")
            assert hub.publish("news", "again") == 1
            assert await prices[0].recv() == "again"
            await prices[2].close()
            for _ in range(100):
                if len(hub.subscribers("prices")) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(hub.subscribers("prices")) == 2
            for client in [*prices[:2], *news]:
                await client.close()
            await asyncio.sleep(0.05)
            assert hub.subscribers("prices") == frozenset() and hub._subscriber_state == {}

    run_async(main())


def test_callback_connections_subscribe_too():
    hub = Hub()

    class Subscriber(callbacks.Handler):
        def on_open(self):
            hub.subscribe(self.connection, "ticks")

    async def main():
        async with callbacks.serve(Subscriber, "127.0.0.1", 0) as server:
            clients = await open_clients(server, 2)
            assert hub.publish("ticks", "t1") == 2
            assert [await asyncio.wait_for(c.recv(), 5) for c in clients] == ["t1", "t1"]
            for client in clients:
                await client.close()

    run_async(main())


def test_client_side_connections_subscribe_too():
    hub = Hub()
    received = []

    class Server(callbacks.Handler):
        def on_message(self, data, text):
            received.append(data)

    class Quiet(callbacks.Handler):
        pass

    async def main():
        async with callbacks.serve(Server, "127.0.0.1", 0) as server:
            clients = [await wsfast.connect(uri_of(server)), await callbacks.connect(uri_of(server), Quiet),
                       await wsfast.connect(uri_of(server), compression=None)]  # fmt: skip
            for client in clients:
                hub.subscribe(client, "up")
                assert client.protocol.shared_frame_key is None  # a client masks each frame for itself
            assert hub.publish("up", "to every server") == 3
            assert hub.publish("up", b"\x00" * 5000) == 3
            for _ in range(500):
                if len(received) == 6:
                    break
                await asyncio.sleep(0.01)
            assert sorted(received, key=str) == sorted(["to every server"] * 3 + [b"\x00" * 5000] * 3, key=str)
            for client in clients:
                if isinstance(client, callbacks.CallbackConnection):
                    client.close()
                    await client.wait_closed()
                else:
                    await client.close()

    run_async(main())


def test_a_publish_over_the_message_size_is_refused_whole():
    published = []

    class Backend:
        counters: dict = {}

        def start(self, origin, deliver):
            pass

        def subscribe(self, topic):
            pass

        def unsubscribe(self, topic):
            pass

        def publish(self, topic, message):
            published.append(message)

        async def close(self):
            pass

    async def main():
        for backend in [None, Backend()]:
            hub = Hub(max_message_size=1000, backend=backend)
            server = await hub_server(hub, compression=None)
            async with server:
                [client] = await open_clients(server, 1, compression=None)
                await subscribe(client, "t")
                for too_big in [b"x" * 1001, bytearray(1001), memoryview(b"x" * 1001), "é" * 501]:  # é: 2 bytes
                    with pytest.raises(ValueError, match="max_message_size"):
                        hub.publish("t", too_big)
                assert hub.publish("t", "é" * 500) == 1 and hub.publish("t", memoryview(b"y" * 1000)) == 1
                assert await client.recv() == "é" * 500 and await client.recv() == b"y" * 1000
                await client.close()
            await hub.close()
        assert published == ["é" * 500, b"y" * 1000]  # what was refused reached no backend either
        unlimited = Hub(max_message_size=None)
        assert unlimited.publish("nobody", b"x" * (fanout.MAX_PUBLISH_SIZE + 1)) == 0

    run_async(main())
    with pytest.raises(ValueError, match="max_message_size"):
        Hub(max_message_size=0)


async def never_reading_subscriber(port: int, topic: str) -> socket.socket:
    """A raw client that subscribes and then never reads: its server-side buffer fills up. Its
    socket is non-blocking: the server answering the handshake runs on this same loop."""
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    handshake = ClientConnection(f"ws://127.0.0.1:{port}/", extensions=[])
    await loop.sock_sendall(sock, handshake.data_to_send())
    while handshake.state is State.CONNECTING:
        handshake.receive_data(await asyncio.wait_for(loop.sock_recv(sock, 65536), 5))
    handshake.send_text(topic)
    await loop.sock_sendall(sock, handshake.data_to_send())
    await asyncio.sleep(0.05)
    return sock


@pytest.mark.parametrize("policy, close_code", [("drop", 1013), ("latest", 1013), ("close", 1013), ("close", 1008)])
def test_a_slow_subscriber_does_not_slow_the_others_or_grow_without_bound(policy, close_code):
    dropped = []

    async def main():
        hub = Hub(policy=policy, close_code=close_code, on_drop=lambda connection, topic, message: dropped.append(message))
        server = await hub_server(hub, compression=None, write_limit=65536)
        async with server:
            [good] = await open_clients(server, 1, compression=None)
            await subscribe(good, "feed")
            slow_sock = await never_reading_subscriber(server.sockets[0].getsockname()[1], "feed")
            while len(hub.subscribers("feed")) < 2:
                await asyncio.sleep(0.01)
            [slow] = hub.subscribers("feed") - {server_side(server, good)}
            payload = b"x" * 10_000
            most_buffered = 0
            for number in range(2000):  # 20 MB published; the slow one reads nothing
                hub.publish("feed", payload[:-8] + number.to_bytes(8, "big"))
                most_buffered = max(most_buffered, slow.transport.get_write_buffer_size() if slow.transport else 0)
                assert (await asyncio.wait_for(good.recv(), 5))[-8:] == number.to_bytes(8, "big")
            assert most_buffered < 65536 + 2 * 10_000  # write_limit plus a message or so, never 20 MB
            if policy == "close":
                assert slow.protocol.close_sent == (close_code, "too slow")
                assert not dropped
            else:
                assert hub.dropped(slow) == len(dropped) > 1000
            if policy == "latest":
                state = hub._subscriber_state[slow]
                assert list(state.latest) == ["feed"] and state.latest["feed"][-8:] == (1999).to_bytes(8, "big")
                slow_sock.setblocking(False)
                loop = asyncio.get_running_loop()
                received = b""
                while not received.endswith((1999).to_bytes(8, "big")):  # it reads at last: the latest comes
                    received += await asyncio.wait_for(loop.sock_recv(slow_sock, 1 << 20), 5)
            slow_sock.close()
            await good.close()

    run_async(main(), 60)


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="policy"):
        Hub(policy="buffer everything")


def test_hostile_subscriptions_are_bounded_and_leave_nothing_behind():
    # What a client that chooses its topics can do (a server that subscribes it to whatever it
    # asks for): a 1 MB topic name, 100,000 topics, subscribe/unsubscribe floods.
    hub = Hub(max_topics=1000)

    async def main():
        server = await hub_server(hub, compression=None)
        async with server:
            [client, other] = await open_clients(server, 2, compression=None)
            connection, neighbour = server_side(server, client), server_side(server, other)
            hub.subscribe(neighbour, "news")
            for topic in ("x" * 1_000_000, "é" * 513, "\udc80"):  # 1 MB; 1026 bytes of UTF-8; not UTF-8
                with pytest.raises(ValueError):
                    hub.subscribe(connection, topic)
            with pytest.raises(TypeError, match="a topic is a str"):
                hub.subscribe(connection, b"news")  # type: ignore[arg-type]
            assert hub.topics(connection) == frozenset()  # nothing kept of what was refused
            hub.subscribe(connection, "é" * 512)  # 1024 bytes: the longest taken

            refused = 0
            for number in range(100_000):
                try:
                    hub.subscribe(connection, f"topic {number}")
                except ValueError as error:
                    assert "max_topics" in str(error)
                    refused += 1
            assert len(hub.topics(connection)) == 1000 and refused == 100_000 - 999
            hub.subscribe(connection, "topic 5")  # one it has already: no error
            hub.unsubscribe(connection, "é" * 512)
            hub.subscribe(connection, "one more")  # room again

            for _ in range(3):  # floods: everything subscribed goes away again
                for number in range(2000):
                    hub.unsubscribe(connection)
                    hub.subscribe(connection, f"flood {number}")
            hub.unsubscribe(connection)
            assert hub.topics(connection) == frozenset() and hub.subscribers("flood 1") == frozenset()
            assert set(hub._subscribers) == {"news"} and set(hub._subscriber_state) == {neighbour}

            assert hub.publish("news", "still here") == 1  # the neighbour lost nothing it was owed
            assert await asyncio.wait_for(other.recv(), 5) == "still here"
            for each in (client, other):
                await each.close()

    run_async(main())
    with pytest.raises(ValueError, match="max_topics"):
        Hub(max_topics=0)
