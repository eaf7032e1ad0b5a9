"""The processes fanout.py drives: fan-out servers of every library, a raw-socket client that holds
thousands of connections, and the workers of the Redis comparison.

    python _fanout_peers.py server IMPL            (IMPL: wsfast, websockets, aiohttp)
    python _fanout_peers.py client PORT N
    python _fanout_peers.py redis-worker MODE INDEX URL SIZE COUNT RATE OUT   (MODE: hub, raw, raw-pipelined)

With FANOUT_PROFILE=PATH in the environment, redis-worker 0 runs under cProfile and writes its
statistics to PATH (``python -m pstats PATH``).
    python _fanout_peers.py redis-client OUT EXPECTED PORT...

Each speaks a line protocol on stdin/stdout with fanout.py. Times are ``time.monotonic_ns()``,
CLOCK_MONOTONIC on Linux: one clock for every process of the machine, so a server's publish time
and a client's receipt time can be subtracted.

Server commands: ``rss`` (answers ``RSS CONNECTIONS``), ``publish MODE SIZE`` (MODE: hub or
broadcast for wsfast, and transport, the floor: the frame written to each transport, no library;
broadcast for websockets; loop for aiohttp; answers ``T0 T1 USER SYSTEM``, the times before the
publish and after its last transport write returned, and the CPU time it took in user space and in
the kernel, ns), ``quit``.

Client commands: ``expect BYTES`` (answers ``armed``, then ``TLAST EXTRA`` once every connection
received BYTES: the time the last one completed, and bytes beyond BYTES seen), ``quit``.
"""

from __future__ import annotations

import array
import asyncio
import gc
import os
import resource
import select
import socket
import struct
import sys
import time
from typing import Any

from report_memory import read_head  # the raw client's handshake, as the memory benchmark reads it

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
TOPIC = "bench"
#: publisher index, sequence number, publish time (monotonic ns): the start of every Redis-benchmark payload
STAMP = struct.Struct("<IIq")


def warm_allocator() -> None:
    """Every process starts the same way: one 1 MiB block allocated and freed."""
    block = bytearray(1 << 20)
    del block


def raise_open_file_limit(connections: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, connections + 1024)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def answer(*values: object) -> None:
    sys.stdout.write(" ".join(map(str, values)) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------- servers


async def serve(impl: str) -> None:
    """A server whose every connection subscribes and stays idle; publishes on command."""
    connections: set[Any] = set()
    payloads = {size: os.urandom(size) for size in (256, 8192)}
    publishers: dict[str, Any] = {}
    if impl == "wsfast":
        import wsfast
        from wsfast.asyncio import Hub, broadcast
        from wsfast.frames import Opcode, encode_frame

        hub = Hub()

        async def wsfast_handler(ws: Any) -> None:
            hub.subscribe(ws, TOPIC)
            connections.add(ws)
            try:
                await ws.wait_closed()
            finally:
                connections.discard(ws)

        server: Any = await wsfast.serve(wsfast_handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        publishers["hub"] = lambda message: hub.publish(TOPIC, message)
        publishers["broadcast"] = lambda message: broadcast(connections, message)
        frames = {size: encode_frame(Opcode.BINARY, payloads[size]) for size in payloads}

        def floor(message: bytes) -> None:  # no WebSocket library: the frame to each transport, as it is
            frame = frames[len(message)]
            for ws in connections:
                ws.transport.write(frame)

        publishers["transport"] = floor
    elif impl == "websockets":
        from websockets.asyncio.server import broadcast as ws_broadcast
        from websockets.asyncio.server import serve as ws_serve

        async def websockets_handler(ws: Any) -> None:
            connections.add(ws)
            try:
                await ws.wait_closed()
            finally:
                connections.discard(ws)

        server = await ws_serve(websockets_handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=1024)
        port = next(iter(server.sockets)).getsockname()[1]
        publishers["broadcast"] = lambda message: ws_broadcast(connections, message)
    elif impl == "aiohttp":
        from aiohttp import web

        async def aiohttp_handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(compress=False, autoping=True)
            await ws.prepare(request)
            connections.add(ws)
            try:
                async for _ in ws:
                    pass
            finally:
                connections.discard(ws)
            return ws

        async def loop_send(message: bytes) -> None:
            for ws in list(connections):
                await ws.send_bytes(message)

        app = web.Application()
        app.router.add_get("/", aiohttp_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        publishers["loop"] = loop_send
    else:
        raise SystemExit(f"unknown server {impl!r}")
    answer(port)
    commands = await stdin_lines()
    while line := (await commands.readline()).decode().split():
        if line[0] == "rss":
            gc.collect()
            answer(rss(), len(connections))
        elif line[0] == "publish":
            publish, message = publishers[line[1]], payloads[int(line[2])]
            gc.collect()
            await asyncio.sleep(0)
            before = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic_ns()
            result = publish(message)
            if asyncio.iscoroutine(result):
                await result
            t1 = time.monotonic_ns()
            after = resource.getrusage(resource.RUSAGE_SELF)
            answer(t0, t1, round((after.ru_utime - before.ru_utime) * 1e9), round((after.ru_stime - before.ru_stime) * 1e9))
        elif line[0] == "quit":
            break


# ---------------------------------------------------------------------------------------- the raw client


def open_connections(port: int, count: int, batch: int = 50) -> list[socket.socket]:
    """``count`` WebSocket connections, handshakes done, ``batch`` at a time (the accept queue never
    overflows, whatever the server's backlog)."""
    opened: list[socket.socket] = []
    while len(opened) < count:
        group = [socket.create_connection(("127.0.0.1", port)) for _ in range(min(batch, count - len(opened)))]
        for sock in group:
            sock.sendall(REQUEST)
        for sock in group:
            if not read_head(sock).endswith(b"\r\n\r\n"):  # a frame right after it: out of step
                raise ConnectionError("the server spoke before the benchmark asked")
            sock.setblocking(False)
        opened += group
    return opened


def client(port: int, count: int) -> None:
    warm_allocator()
    raise_open_file_limit(count)
    for sock in open_connections(port, 50):  # warm the server up: its lazy imports, its pools
        sock.close()
    time.sleep(0.3)
    answer("warmed")
    sys.stdin.readline()  # the server's RSS is read meanwhile
    sockets = open_connections(port, count)
    poller = select.epoll()
    for sock in sockets:
        poller.register(sock.fileno(), select.EPOLLIN)
    answer("ready")
    read = os.read
    for line in sys.stdin:
        words = line.split()
        if words[0] == "quit":
            break
        expected = int(words[1])
        left = dict.fromkeys((sock.fileno() for sock in sockets), expected)
        pending, extra, last = count, 0, 0
        answer("armed")
        while pending:
            for fd, _ in poller.poll():
                n = len(read(fd, 65536))
                remaining = left[fd]
                if remaining <= 0:
                    extra += n
                    continue
                left[fd] = remaining - n
                if remaining - n <= 0:
                    extra += n - remaining
                    pending -= 1
                    if not pending:
                        last = time.monotonic_ns()
        answer(last, extra)


# ---------------------------------------------------------------------------------------- Redis across processes


def frames(buffer: bytearray) -> list[bytes]:
    """Cut the complete unmasked frames off the start of ``buffer``; their payloads."""
    payloads = []
    offset, size = 0, len(buffer)
    while size - offset >= 2:
        length = buffer[offset + 1] & 0x7F
        start = offset + 2
        if length == 126:
            if size - offset < 4:
                break
            length = int.from_bytes(buffer[offset + 2:offset + 4], "big")
            start = offset + 4
        elif length == 127:
            if size - offset < 10:
                break
            length = int.from_bytes(buffer[offset + 2:offset + 10], "big")
            start = offset + 10
        if size - start < length:
            break
        payloads.append(bytes(buffer[start:start + STAMP.size]))
        offset = start + length
    del buffer[:offset]
    return payloads


class Receipts:
    """Latencies of the messages that came from another process, the count of all, the last time."""

    def __init__(self) -> None:
        self.latencies = array.array("q")
        self.count = 0
        self.last = 0

    def note(self, stamp: bytes, own: int, now: int) -> None:
        publisher, _, sent = STAMP.unpack_from(stamp)
        self.count += 1
        self.last = now
        if publisher != own:
            self.latencies.append(now - sent)

    def save(self, path: str) -> None:
        with open(path, "wb") as out:
            self.latencies.tofile(out)


def redis_client(out: str, ports: list[int], expected: int) -> None:
    """One connection to each hub worker (worker i on ports[i]); receives until each connection got
    ``expected`` messages or nothing came for 5 s."""
    warm_allocator()
    sockets = [open_connections(port, 1)[0] for port in ports]
    fds = {sock.fileno(): index for index, sock in enumerate(sockets)}
    buffers = {fd: bytearray() for fd in fds}
    counts = dict.fromkeys(fds, 0)
    poller = select.epoll()
    for fd in fds:
        poller.register(fd, select.EPOLLIN)
    receipts = Receipts()
    answer("ready")
    pending = len(fds)
    while pending:
        events = poller.poll(5.0)
        if not events:
            break
        for fd, _ in events:
            buffer = buffers[fd]
            buffer += os.read(fd, 262144)
            now = time.monotonic_ns()
            own = fds[fd]
            for stamp in frames(buffer):
                receipts.note(stamp, own, now)
                counts[fd] += 1
                if counts[fd] == expected:
                    pending -= 1
    receipts.save(out)
    answer(receipts.count, receipts.last)


async def redis_worker(mode: str, index: int, url: str, size: int, count: int, rate: float, out: str) -> None:
    """Publish ``count`` messages of ``size`` bytes (``rate`` per second, 0 for as fast as it goes)
    and, in the raw modes, receive everyone's; in hub mode a client process receives them through
    this worker's WebSocket server."""
    warm_allocator()
    padding = os.urandom(size - STAMP.size)
    commands = await stdin_lines()
    receipts = Receipts()
    everyone = 0  # messages expected from all workers (raw modes)
    if mode == "hub":
        import wsfast
        from wsfast.asyncio import Hub
        from wsfast.asyncio.redis_hub import RedisBackend

        backend = RedisBackend(url)
        hub = Hub(backend=backend)
        subscribed = asyncio.Event()

        async def handler(ws: Any) -> None:
            hub.subscribe(ws, TOPIC)
            subscribed.set()
            await ws.wait_closed()

        server = await wsfast.serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None)
        answer(server.sockets[0].getsockname()[1])
        await subscribed.wait()
        while not backend.connected or TOPIC not in backend.topics:
            await asyncio.sleep(0.01)
    else:
        from redis.asyncio import Redis

        publisher = Redis.from_url(url)
        subscriber = Redis.from_url(url)
        pubsub = subscriber.pubsub()
        await pubsub.subscribe(TOPIC)
        await publisher.ping()
        answer(0)
        everyone = int((await commands.readline()).decode())  # how many messages all workers publish

        async def receive() -> None:
            while receipts.count < everyone:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None and message["type"] == "message":
                    receipts.note(message["data"], index, time.monotonic_ns())

        receiver = asyncio.ensure_future(receive())
    answer("ready")
    await commands.readline()  # go
    first = time.monotonic_ns()
    interval = 1e9 / rate if rate else 0.0
    batch: list[bytes] = []
    dropped = 0
    for seq in range(count):
        if interval:
            delay = first + seq * interval - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
        payload = STAMP.pack(index, seq, time.monotonic_ns()) + padding
        if mode == "hub":
            hub.publish(TOPIC, payload)
            if not interval and seq % 256 == 255:
                # back-pressure through the public counters: at most 8 batches queued for Redis
                while seq + 1 - backend.counters["published"] > 2048:
                    await asyncio.sleep(0.0002)
        elif mode == "raw":
            await publisher.publish(TOPIC, payload)
        else:  # raw-pipelined: batches of 256, as RedisBackend sends them
            batch.append(payload)
            if len(batch) == 256 or seq == count - 1 or interval:
                async with publisher.pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.publish(TOPIC, item)
                    await pipe.execute()
                batch.clear()
    if mode == "hub":
        while backend.counters["published"] + backend.counters["dropped_full"] < count:
            await asyncio.sleep(0.001)
        counters = backend.counters
        dropped = counters["dropped_full"] + counters["lost"] + sum(hub.dropped(ws) for ws in server.connections)
        answer("published", first, dropped)
        await commands.readline()  # the client is done
        await hub.close()
        server.close()
    else:
        answer("published", first, dropped)
        await asyncio.wait_for(receiver, 60)
        receipts.save(out)
        answer(receipts.count, receipts.last)
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()


def main() -> None:
    role = sys.argv[1]
    if role == "server":
        warm_allocator()
        raise_open_file_limit(20000)
        asyncio.run(serve(sys.argv[2]))
    elif role == "client":
        client(int(sys.argv[2]), int(sys.argv[3]))
    elif role == "redis-client":
        redis_client(sys.argv[2], [int(port) for port in sys.argv[4:]], int(sys.argv[3]))
    elif role == "redis-worker":
        mode, index, url, size, count, rate, out = sys.argv[2:9]
        work = redis_worker(mode, int(index), url, int(size), int(count), float(rate), out)
        profile = os.environ.get("FANOUT_PROFILE")  # a path: profile worker 0 there (cProfile)
        if profile and index == "0":
            import cProfile

            cProfile.runctx("asyncio.run(work)", globals(), {"work": work}, profile)
        else:
            asyncio.run(work)
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
