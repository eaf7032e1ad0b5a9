"""A wsfast server for the hostile-input tests, in a process of its own so that its memory can be
measured from outside: ``python serve.py --loop asyncio|uvloop --api await|callback
--handler echo|ignore [options]``. It prints its port on the first line of stdout, then serves
until killed."""

from __future__ import annotations

import argparse
import asyncio
import sys

import wsfast
from wsfast.asyncio import callbacks


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


async def ignore(ws) -> None:
    """Never reads: whatever the peer sends waits in the queue."""
    await ws.wait_closed()


class Echo(callbacks.Handler):
    def on_message(self, data, text) -> None:
        self.connection.send(data, text)


class Ignore(callbacks.Handler):
    """Never reads: the callback API's way is to pause reading, for good."""

    def on_open(self) -> None:
        self.connection.pause_reading()


HANDLERS = {"await": {"echo": echo, "ignore": ignore}, "callback": {"echo": Echo, "ignore": Ignore}}


def limit(text: str) -> int | None:
    return None if text == "none" else int(text)


async def main(arguments: argparse.Namespace) -> None:
    handler = HANDLERS[arguments.api][arguments.handler]
    serve = wsfast.serve if arguments.api == "await" else callbacks.serve
    async with serve(handler, "127.0.0.1", 0, compression=arguments.compression, ping_interval=None,
                            open_timeout=arguments.open_timeout, max_message_size=limit(arguments.max_message_size),
                            max_fragments=limit(arguments.max_fragments)) as server:  # fmt: skip
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--api", choices=["await", "callback"], default="await")
    parser.add_argument("--handler", choices=["echo", "ignore"], default="echo")
    parser.add_argument("--max-message-size", default=str(1 << 20))
    parser.add_argument("--max-fragments", default="4096")
    parser.add_argument("--compression", choices=["deflate"], default=None)
    parser.add_argument("--open-timeout", type=float, default=10.0)
    arguments = parser.parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
    sys.exit(0)
