"""What the command line runs: an echo server, an interactive client, and a load generator."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from .asyncio import Connection, connect, serve
from .limits import MAX_FRAGMENTS
from .permessage_deflate import ServerPerMessageDeflateFactory

__all__ = ["echo_handler", "run_echo_server", "run_client", "BenchResult", "run_bench"]


async def echo_handler(connection: Connection) -> None:
    """Send every message back as it came."""
    async for message in connection:
        await connection.send(message)


async def run_echo_server(
    host: str, port: int, *, tls: ssl.SSLContext | None = None, compression: str | None = "deflate",
    ping_interval: float | None = 20.0, max_message_size: int | None = 1 << 20,
    max_frame_size: int | None = 1 << 20, max_fragments: int | None = MAX_FRAGMENTS, out: TextIO = sys.stdout,
) -> None:  # fmt: skip
    """Serve the echo handler until cancelled.

    With compression, every message is compressed (no minimum size): an echo server mirrors its
    clients, and test suites such as Autobahn's expect compressed echoes even of tiny messages.
    """
    extensions = [ServerPerMessageDeflateFactory(min_size=0)] if compression == "deflate" else []
    async with serve(echo_handler, host, port, ssl=tls, extensions=extensions, ping_interval=ping_interval,
                     max_message_size=max_message_size, max_frame_size=max_frame_size,
                     max_fragments=max_fragments) as server:  # fmt: skip
        for sock in server.sockets:
            address = sock.getsockname()
            scheme = "wss" if tls else "ws"
            out.write(f"wsfast echo server on {scheme}://{address[0]}:{address[1]}/\n")
        out.flush()
        await server.serve_forever()


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


async def run_bench(
    uri: str | None, *, messages: int, size: int, concurrency: int = 1, compression: str | None = None,
    progress: TextIO | None = None,
) -> BenchResult:  # fmt: skip
    """Echo ``messages`` binary messages of ``size`` bytes over ``concurrency`` connections, each
    sending the next message when the previous echo arrives; against ``uri``, or a server of its
    own on 127.0.0.1 when ``uri`` is None."""
    if uri is None:
        async with serve(echo_handler, "127.0.0.1", 0, compression=compression, ping_interval=None,
                         max_message_size=max(size, 1 << 20)) as server:  # fmt: skip
            port = server.sockets[0].getsockname()[1]
            return await run_bench(f"ws://127.0.0.1:{port}/", messages=messages, size=size,
                                   concurrency=concurrency, compression=compression, progress=progress)  # fmt: skip
    payload = os.urandom(size)
    latencies: list[float] = []
    shares = [messages // concurrency + (1 if i < messages % concurrency else 0) for i in range(concurrency)]

    async def driver(count: int) -> None:
        async with connect(uri, compression=compression, ping_interval=None,
                           max_message_size=max(size, 1 << 20)) as connection:  # fmt: skip
            for _ in range(count):
                sent = time.perf_counter()
                await connection.send(payload)
                await connection.recv()
                latencies.append(time.perf_counter() - sent)

    async def show_progress() -> None:
        assert progress is not None
        while True:
            done = len(latencies) / messages
            bar = "#" * int(done * 30)
            progress.write(f"\r[{bar:<30}] {done:4.0%}")
            progress.flush()
            await asyncio.sleep(0.1)

    ticker = asyncio.ensure_future(show_progress()) if progress is not None else None
    start = time.perf_counter()
    try:
        await asyncio.gather(*(driver(share) for share in shares if share))
    finally:
        if ticker is not None:
            ticker.cancel()
            progress.write("\r" + " " * 40 + "\r")  # type: ignore[union-attr]
    elapsed = time.perf_counter() - start
    return BenchResult(messages, size, concurrency, elapsed, tuple(sorted(latencies)))


def tls_context(certfile: str | None, keyfile: str | None) -> Any:
    """A server TLS context from a certificate chain and key, or None without a certificate."""
    if certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context
