"""What the command line runs: an echo server, an interactive client, and a load generator."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from collections.abc import Awaitable, Callable

from .asyncio import Connection, Hub, callbacks, connect, serve
from .asyncio.application import APIS, run, server_for
from .permessage_deflate import ServerPerMessageDeflateFactory
from .workers import serve_workers

__all__ = ["echo_handler", "EchoHandler", "echo_application", "run", "serve_echo", "run_client", "BenchResult",
           "run_bench", "FanoutResult", "FANOUT_TOPIC", "serve_fanout", "run_fanout_bench"]


async def echo_handler(connection: Connection) -> None:
    """Send every message back as it came (the await API)."""
    async for message in connection:
        await connection.send(message)


class EchoHandler(callbacks.Handler):
    """Send every message back as it came (the callback API)."""

    def on_message(self, data: str | bytes, text: bool) -> None:
        self.connection.send(data, text)


def echo_application(api: str) -> Any:
    """The echo handler of ``api``: :func:`echo_handler` (await), :class:`EchoHandler` (callback)."""
    return EchoHandler if api == "callback" else echo_handler


_T = TypeVar("_T")


def serve_echo(host: str, port: int, *, api: str = "await", compression: str | None = "deflate",
               **options: Any) -> int:  # fmt: skip
    """``wsfast echo``: the echo handler of ``api`` served by :func:`wsfast.workers.serve_workers`
    (``options`` are its and :func:`wsfast.asyncio.serve`'s), in this process or in ``workers``
    supervised ones, until SIGTERM or SIGINT; returns 0.

    With compression, every message is compressed (no minimum size): an echo server mirrors its
    clients, and test suites such as Autobahn's expect compressed echoes even of tiny messages.

    Raises:
        ValueError: an unknown ``api`` or ``loop``, or an invalid option.
        OSError: the address cannot be bound.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
    """
    if compression == "deflate":
        options.setdefault("extensions", [ServerPerMessageDeflateFactory(min_size=0)])
    return serve_workers(echo_application(api), host, port, api=api, compression=compression,
                         label="wsfast echo server", **options)  # fmt: skip


async def run_client(uri: str, *, compression: str | None = "deflate", lines: TextIO = sys.stdin,
                     out: TextIO = sys.stdout) -> int:  # fmt: skip
    """Send each input line as a text message and print every message received."""
    async with connect(uri, compression=compression) as connection:

        async def printer() -> None:
            async for message in connection:
                shown = message if isinstance(message, str) else f"<{len(message)} bytes: {message[:32].hex()}>"
                out.write(f"< {shown}\n")
                out.flush()

        reader = asyncio.ensure_future(printer())
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, lines.readline)
            if not line:
                break
            await connection.send(line.rstrip("\n"))
        await asyncio.sleep(0.1)  # let the last echoes arrive
        await connection.close()
        await reader
    return 0


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What a benchmark run measured."""

    messages: int
    size: int
    concurrency: int
    seconds: float
    latencies: tuple[float, ...]  # sorted, in seconds

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        """Payload megabytes echoed per second (each counted once)."""
        return self.messages * self.size / self.seconds / 1e6

    def percentile(self, fraction: float) -> float:
        index = min(len(self.latencies) - 1, int(fraction * len(self.latencies)))
        return self.latencies[index]

    def summary(self) -> str:
        return (f"{self.messages} messages of {self.size} B at concurrency {self.concurrency}: "
                f"{self.messages_per_second:,.0f} msg/s, {self.megabytes_per_second:,.1f} MB/s, "
                f"latency p50 {self.percentile(0.5) * 1e6:,.0f} us, p99 {self.percentile(0.99) * 1e6:,.0f} us")  # fmt: skip


class _EchoDriver(callbacks.Handler):
    """The callback API's bench client: sends the next message from the callback of an echo,
    ``count`` times, then resolves ``done``."""

    def __init__(self, payload: bytes, count: int, latencies: list[float], done: asyncio.Future[None]) -> None:
        self.payload, self.left, self.latencies, self.done = payload, count, latencies, done
        self.sent = 0.0

    def on_open(self) -> None:
        self._send()

    def _send(self) -> None:
        if self.left == 0:
            self.done.set_result(None)
            return
        self.left -= 1
        self.sent = time.perf_counter()
        self.connection.send(self.payload)

    def on_message(self, data: str | bytes, text: bool) -> None:
        self.latencies.append(time.perf_counter() - self.sent)
        self._send()

    def on_close(self, code: int, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"the connection closed with {code} {reason}".strip()))


async def run_bench(
    uri: str | None, *, messages: int, size: int, concurrency: int = 1, compression: str | None = None,
    api: str = "await", use_aiofastnet: bool = False, progress: TextIO | None = None,
) -> BenchResult:  # fmt: skip
    """Echo ``messages`` binary messages of ``size`` bytes over ``concurrency`` connections, each
    sending the next message when the previous echo arrives; against ``uri``, or a server of its
    own on 127.0.0.1 when ``uri`` is None. ``api`` and ``use_aiofastnet`` are the clients' and
    its own server's.

    Raises:
        ValueError: an unknown ``api``.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
        ConnectionError: a connection closed before its last echo.
    """
    if uri is None:
        echo_server = server_for(api)(echo_application(api), "127.0.0.1", 0, compression=compression,
                                      ping_interval=None, max_message_size=max(size, 1 << 20),
                                      use_aiofastnet=use_aiofastnet)  # fmt: skip
        async with echo_server as server:
            port = server.sockets[0].getsockname()[1]
            return await run_bench(f"ws://127.0.0.1:{port}/", messages=messages, size=size, concurrency=concurrency,
                                   compression=compression, api=api, use_aiofastnet=use_aiofastnet, progress=progress)  # fmt: skip
    payload = os.urandom(size)
    latencies: list[float] = []
    shares = [messages // concurrency + (1 if i < messages % concurrency else 0) for i in range(concurrency)]
    options: dict[str, Any] = dict(compression=compression, ping_interval=None, max_message_size=max(size, 1 << 20),
                                   use_aiofastnet=use_aiofastnet)  # fmt: skip

    async def driver(count: int) -> None:
        if api == "callback":
            done = asyncio.get_running_loop().create_future()
            async with callbacks.connect(uri, lambda: _EchoDriver(payload, count, latencies, done), **options):
                await done
            return
        async with connect(uri, **options) as connection:
            for _ in range(count):
                sent = time.perf_counter()
                await connection.send(payload)
                await connection.recv()
                latencies.append(time.perf_counter() - sent)

    start = time.perf_counter()
    await _with_progress(asyncio.gather(*(driver(share) for share in shares if share)), progress,
                         lambda: len(latencies) / messages)  # fmt: skip
    elapsed = time.perf_counter() - start
    return BenchResult(messages, size, concurrency, elapsed, tuple(sorted(latencies)))


async def _with_progress(work: Awaitable[object], progress: TextIO | None, done: Callable[[], float]) -> None:
    """Await ``work``, showing ``done()`` (the fraction done) as a bar on ``progress`` if given."""

    async def show_progress(out: TextIO) -> None:
        while True:
            fraction = done()
            out.write(f"\r[{'#' * int(fraction * 30):<30}] {fraction:4.0%}")
            out.flush()
            await asyncio.sleep(0.1)

    ticker = asyncio.ensure_future(show_progress(progress)) if progress is not None else None
    try:
        await work
    finally:
        if ticker is not None and progress is not None:
            ticker.cancel()
            progress.write("\r" + " " * 40 + "\r")


def serve_echo_defaults(compression: str | None) -> None:
    """Run an echo server with serve()'s defaults (keepalive off) on a free port of 127.0.0.1;
    print its URI, then serve until killed. The server ``run_idle_connections`` measures."""

    async def main() -> None:
        async with serve(echo_handler, "127.0.0.1", 0, compression=compression, ping_interval=None) as server:
            print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
            await server.serve_forever()

    asyncio.run(main())


def raise_open_file_limit(connections: int) -> None:
    """Let this process (and the processes it starts) hold two sockets per connection."""
    try:
        import resource
    except ImportError:  # not on Windows: its limit is not the issue
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(hard, wanted), hard))


def _rss(pid: int | str = "self") -> int | None:
    """A process's resident memory in bytes, where /proc tells (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def run_idle_connections(uri: str | None, *, connections: int, compression: str | None = None,
                               use_aiofastnet: bool = False, out: TextIO = sys.stdout) -> dict[str, float | None]:  # fmt: skip
    """Open ``connections`` connections, leave them idle, and report KiB per connection: this
    process's (the clients') and, when ``uri`` is None, that of a ``wsfast echo`` server started
    for the purpose in a process of its own. With compression each connection first exchanges one
    1 KB message, so that both ends hold their DEFLATE streams. Figures are RSS growth (Linux).
    ``use_aiofastnet`` is the clients' (the server runs with ``serve``'s defaults).

    Raises:
        OSError: a connection failed (the limit on open files is the usual cause).
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
    """
    server = None
    if uri is None:
        code = f"from wsfast.commands import serve_echo_defaults; serve_echo_defaults({compression!r})"
        server = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
        assert server.stdout is not None
        uri = (await server.stdout.readline()).decode().strip()
    message = ('{"symbol": "ABC", "bid": 101.25, "ask": 101.5, "size": 300}, ' * 17).encode()
    opened: list[Connection] = []
    try:
        async def open_one() -> Connection:
            connection = await connect(uri, compression=compression, ping_interval=None, use_aiofastnet=use_aiofastnet)
            if compression is not None:
                await connection.send(message)
                await connection.recv()
            return connection

        for connection in [await open_one() for _ in range(8)]:  # warm up: imports, pools
            await connection.close()
        await asyncio.sleep(0.2)
        before = (_rss(), _rss(server.pid) if server else None)
        await _open_many(open_one, connections, opened)
        await asyncio.sleep(0.5)
        after = (_rss(), _rss(server.pid) if server else None)
        figures: dict[str, float | None] = {
            side: None if b is None or a is None else (a - b) / connections / 1024
            for side, b, a in (("client", before[0], after[0]), ("server", before[1], after[1]))
        }
        shown = {side: "n/a" if value is None else f"{value:.1f} KiB" for side, value in figures.items()}
        out.write(f"{connections} idle connections{' (compressed, after one message each)' if compression else ''}: "
                  f"client {shown['client']} per connection"
                  + (f", server {shown['server']} per connection\n" if server else "\n"))  # fmt: skip
        return figures
    finally:
        await asyncio.gather(*(connection.close() for connection in opened), return_exceptions=True)
        if server is not None:
            server.kill()
            await server.wait()


async def _open_many(open_one: Callable[[], Awaitable[_T]], count: int, opened: list[_T]) -> None:
    """Open ``count`` connections with ``open_one``, 100 at a time (a server's accept queue is
    short), appending each to ``opened`` (so that the caller can close them all if one fails)."""
    for start in range(0, count, 100):
        opened += await asyncio.gather(*(open_one() for _ in range(min(100, count - start))))


# ---------------------------------------------------------------------------------------- fan-out

#: The topic ``wsfast bench --fanout``'s server publishes on.
FANOUT_TOPIC = "bench"
#: The payload of every message starts with its publish time: CLOCK_MONOTONIC (time.monotonic_ns),
#: 8 bytes, big-endian; one clock for every process of a machine (Linux).
_STAMP_BYTES = 8
_FANOUT_IDLE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class FanoutResult(BenchResult):
    """What ``wsfast bench --fanout`` measured: ``messages`` delivered (every client's, counted
    once each) of ``published`` published, over ``concurrency`` clients; latencies from publish
    to receipt."""

    published: int = 0

    def summary(self) -> str:
        return (f"{self.published} messages of {self.size} B published to {self.concurrency} clients: "
                f"{self.messages} delivered of {self.published * self.concurrency}, "
                f"{self.messages_per_second:,.0f} msg/s delivered, "
                f"latency p50 {self.percentile(0.5) * 1e6:,.0f} us, p99 {self.percentile(0.99) * 1e6:,.0f} us")  # fmt: skip


async def _fanout_handler(hub: Hub, connection: Connection) -> None:
    """Subscribe the connection; on the text message ``publish M SIZE N``, wait for N subscribers
    and publish M stamped messages of SIZE bytes (see :func:`serve_fanout`)."""
    hub.subscribe(connection, FANOUT_TOPIC)
    publishing: list[asyncio.Task[None]] = []
    async for message in connection:
        words = message.split() if isinstance(message, str) else []
        if len(words) == 4 and words[0] == "publish" and all(word.isdigit() for word in words[1:]):
            count, size, subscribers = map(int, words[1:])
            publishing.append(asyncio.ensure_future(_publish_stamped(hub, count, size, subscribers)))
    for task in publishing:
        task.cancel()


async def _publish_stamped(hub: Hub, count: int, size: int, subscribers: int) -> None:
    """Publish ``count`` messages of ``size`` bytes (at least the stamp) once ``subscribers``
    connections subscribed; before each, wait until no subscriber is slow, so that none is
    dropped."""
    deadline = time.monotonic() + _FANOUT_IDLE_TIMEOUT
    while len(hub.subscribers(FANOUT_TOPIC)) < subscribers and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    padding = os.urandom(max(size - _STAMP_BYTES, 0))
    for _ in range(count):
        while any(connection.writing_paused for connection in hub.subscribers(FANOUT_TOPIC)):
            await asyncio.sleep(0.001)
        hub.publish(FANOUT_TOPIC, time.monotonic_ns().to_bytes(_STAMP_BYTES, "big") + padding)
        await asyncio.sleep(0)  # let the subscribers (and a client in this process) read


def serve_fanout(host: str | None, port: int | None, **options: Any) -> Any:
    """A fan-out server, the one ``wsfast bench --fanout`` starts (a :func:`wsfast.asyncio.serve`
    context; ``options`` are serve's). Every connection subscribes to one topic of a
    :class:`~wsfast.asyncio.Hub`; the text message ``publish M SIZE N`` from any of them makes it
    wait for N subscribers, then publish M binary messages of SIZE bytes to them all, each starting
    with its publish time (``time.monotonic_ns()``, 8 bytes big-endian), none dropped (it waits for
    slow subscribers). An external server that does the same can be benchmarked."""
    hub = Hub()
    return serve(functools.partial(_fanout_handler, hub), host, port, **options)


class _FanoutReceiver(callbacks.Handler):
    """The callback API's fan-out client: counts the messages and their latencies."""

    def __init__(self, receipt: Callable[[bytes], bool], done: asyncio.Future[None]) -> None:
        self.receipt, self.done = receipt, done

    def on_message(self, data: str | bytes, text: bool) -> None:
        if self.receipt(data if isinstance(data, bytes) else data.encode()) and not self.done.done():
            self.done.set_result(None)

    def on_close(self, code: int, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"the connection closed with {code} {reason}".strip()))


async def run_fanout_bench(
    uri: str | None, *, connections: int, messages: int, size: int, compression: str | None = None,
    api: str = "await", use_aiofastnet: bool = False, progress: TextIO | None = None,
) -> FanoutResult:  # fmt: skip
    """Open ``connections`` clients, have the server publish ``messages`` messages of ``size``
    bytes to them all through its hub, and measure the delivery rate (messages received per second
    across all clients, from the first publish to the last receipt) and the latency of each
    receipt. Against ``uri``, a server that does what :func:`serve_fanout` does (on this machine:
    the latency compares its clock with ours); else :func:`serve_fanout` on 127.0.0.1, in this
    process. ``api`` is the clients'; ``use_aiofastnet`` theirs and its own server's.

    Raises:
        ValueError: ``size`` is less than the 8 bytes of the stamp, or an unknown ``api``.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
        ConnectionError: a connection closed before its last message.
        asyncio.TimeoutError: no client received anything for 10 s while some waited.
    """
    if size < _STAMP_BYTES:
        raise ValueError(f"the message size must be at least {_STAMP_BYTES} bytes with --fanout (the send time)")
    if api not in APIS:
        raise ValueError(f"api must be 'await' or 'callback', not {api!r}")
    options: dict[str, Any] = dict(compression=compression, ping_interval=None, max_message_size=max(size, 1 << 20),
                                   use_aiofastnet=use_aiofastnet)  # fmt: skip
    if uri is None:
        async with serve_fanout("127.0.0.1", 0, **options) as server:
            port = server.sockets[0].getsockname()[1]
            return await run_fanout_bench(f"ws://127.0.0.1:{port}/", connections=connections, messages=messages,
                                          size=size, compression=compression, api=api, use_aiofastnet=use_aiofastnet,
                                          progress=progress)  # fmt: skip
    latencies: list[float] = []
    first_stamp: list[int] = []
    last_receipt = [0]

    def receipt_counter() -> Callable[[bytes], bool]:
        """A client's count: note one message; True once it has them all."""
        left = [messages]

        def receipt(data: bytes) -> bool:
            now = time.monotonic_ns()
            stamp = int.from_bytes(data[:_STAMP_BYTES], "big")
            if not first_stamp or stamp < first_stamp[0]:
                first_stamp[:] = [stamp]
            last_receipt[0] = now
            latencies.append((now - stamp) / 1e9)
            left[0] -= 1
            return left[0] == 0

        return receipt

    receivers: list[Awaitable[None]] = []

    async def open_one() -> Any:
        receipt = receipt_counter()
        if api == "callback":
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            receivers.append(done)
            return await callbacks.connect(uri, lambda: _FanoutReceiver(receipt, done), **options)
        connection = await connect(uri, **options)

        async def receive() -> None:
            for _ in range(messages):  # all_received() watches for a client that waits too long
                message = await connection.recv()
                receipt(message if isinstance(message, bytes) else message.encode())

        receivers.append(asyncio.ensure_future(receive()))
        return connection

    async def all_received() -> None:
        pending = set(map(asyncio.ensure_future, receivers))
        while pending:
            received = len(latencies)
            done, pending = await asyncio.wait(pending, timeout=_FANOUT_IDLE_TIMEOUT,
                                               return_when=asyncio.FIRST_EXCEPTION)  # fmt: skip
            for task in done:
                task.result()  # raises a client's failure
            if pending and len(latencies) == received:
                raise asyncio.TimeoutError(
                    f"nothing received for {_FANOUT_IDLE_TIMEOUT:.0f} s: {len(latencies)} of {connections * messages} "
                    "messages (a server must answer the text message 'publish M SIZE N' by publishing M stamped "
                    "messages to every subscriber: see wsfast bench --help)")  # fmt: skip

    opened: list[Any] = []
    try:
        await _open_many(open_one, connections, opened)
        await _maybe_await(opened[0].send(f"publish {messages} {size} {connections}"))
        await _with_progress(all_received(), progress, lambda: len(latencies) / (connections * messages))
    finally:
        for receiver in receivers:
            if isinstance(receiver, asyncio.Future) and not receiver.done():
                receiver.cancel()
        await asyncio.gather(*(_close(connection) for connection in opened), return_exceptions=True)
    elapsed = max(last_receipt[0] - first_stamp[0], 1) / 1e9 if first_stamp else float("nan")
    return FanoutResult(len(latencies), size, connections, elapsed, tuple(sorted(latencies)), messages)


async def _maybe_await(result: Any) -> None:
    """What a method of either API returned: the await API's coroutine is awaited, the callback
    API's None is not."""
    if asyncio.iscoroutine(result):
        await result


async def _close(connection: Any) -> None:
    """Close a connection of either API, and wait until it is closed."""
    await _maybe_await(connection.close())
    await connection.wait_closed()


def tls_context(certfile: str | None, keyfile: str | None) -> Any:
    """A server TLS context from a certificate chain and key, or None without a certificate."""
    if certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context
