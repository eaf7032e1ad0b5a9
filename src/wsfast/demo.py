"""The README's demo: an echo server and a client in one process, a few seconds of traffic, and
what happened and how fast. Run it with ``python -m wsfast demo``."""

from __future__ import annotations

import asyncio
from typing import TextIO

from . import kernels
from .asyncio import connect, serve
from .commands import echo_handler, run_bench

__all__ = ["run"]


async def _tour(out: TextIO) -> None:
    write = out.write
    write(f"wsfast: C kernels {'on' if kernels.IMPLEMENTATION == 'c' else 'off (pure Python)'}, "
          f"implementation={kernels.IMPLEMENTATION} simd={kernels.SIMD}\n\n")  # fmt: skip
    async with serve(echo_handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        uri = f"ws://127.0.0.1:{port}/"
        write(f"echo server listening on {uri}\n")
        async with connect(uri) as connection:
            extensions = ", ".join(e.name for e in connection.protocol.extensions) or "none"
            write(f"client connected; extensions agreed: {extensions}\n")
            for message in ("Hello, WebSocket!", "κόσμε 😀", b"\x00\x01\x02\x03"):
                await connection.send(message)
                write(f"  sent {message!r:<24} echoed {await connection.recv()!r}\n")
            latency = await (await connection.ping(b"demo"))
            write(f"  ping answered in {latency * 1e6:.0f} us\n")
        write(f"client closed the connection: code {connection.close_code}\n\n")

    write("round trips (one client sends, awaits the echo, sends again):\n")
    for size, count in ((256, 20000), (8192, 10000), (100_000, 1000)):
        result = await run_bench(None, messages=count, size=size)
        write(f"  {result.summary()}\n")


def run(out: TextIO) -> int:
    """Print the tour to ``out``; returns the process exit status."""
    asyncio.run(_tour(out))
    return 0
