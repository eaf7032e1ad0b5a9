"""A tiny echo server for the Autobahn TestSuite (kosoku in fuzzingclient mode drives it).

    python tests/autobahn/echo_server.py --impl websockets|wsfast --host 127.0.0.1 --port 9001

Settings the suite needs (see README.md beside this file):

- keepalive pings off: a ping from the server during a long 9.x/12.x/13.x case makes kosoku close
  the case, which is then reported FAILED;
- permessage-deflate on, accepting the offers of the 12.x/13.x cases (client_no_context_takeover,
  server_no_context_takeover, max window bits);
- a message size limit above the largest 9.x message (16 MiB).

Every message is echoed as it came (text as text, binary as binary). The server runs until it is
sent SIGTERM or SIGINT, or until ``--lifetime`` seconds have passed (a bound against a forgotten
process); it prints ``listening on HOST:PORT`` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

IMPLEMENTATIONS = ("websockets", "wsfast")

#: Above the 16 MiB of the largest 9.x message, with room for the frame and message limits alike.
MAX_MESSAGE_SIZE = 64 * 2**20


def _supported(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _echo_handler(closed: tuple[type[BaseException], ...]) -> Callable[[Any], Awaitable[None]]:
    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except closed:
            # An abnormal closure (the peer dropped the TCP connection, or failed the connection
            # on a protocol error): expected in many cases, nothing to report.
            pass

    return echo


def server_context(impl: str, host: str, port: int, *, compression: str | None = "deflate") -> Any:
    """The implementation's ``serve(...)`` async context manager, configured for the suite."""
    if impl == "websockets":
        # websockets fails a message of more than 4096 fragments with 1009 (9.3.x/9.4.x send up to
        # 65536); its limit is read from the environment when websockets.asyncio is first imported.
        os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(2**20))
        from websockets.asyncio.server import serve
        from websockets.exceptions import ConnectionClosed

        return serve(
            _echo_handler((ConnectionClosed,)),
            host,
            port,
            compression=compression,
            ping_interval=None,
            max_size=MAX_MESSAGE_SIZE,
        )
    if impl == "wsfast":
        import wsfast
        from wsfast.exceptions import ConnectionClosed as WsfastClosed

        wsfast_serve: Any = getattr(wsfast, "serve")  # noqa: B009 - absent until the asyncio layer lands
        options: dict[str, Any] = {"compression": compression, "ping_interval": None, "max_message_size": MAX_MESSAGE_SIZE}
        if _supported(wsfast_serve, "max_frame_size"):
            options["max_frame_size"] = MAX_MESSAGE_SIZE
        if _supported(wsfast_serve, "max_fragments"):
            options["max_fragments"] = None  # cases 9.3 and 9.4 send 4 MiB in 64-byte frames
        if compression == "deflate" and _supported(wsfast_serve, "extensions"):
            from wsfast.permessage_deflate import ServerPerMessageDeflateFactory

            # An echo server mirrors its client: compress every message, however small (kosoku's
            # 16-byte deflate cases expect a compressed echo).
            options["extensions"] = [ServerPerMessageDeflateFactory(min_size=0)]
        return wsfast_serve(_echo_handler((WsfastClosed,)), host, port, **options)
    raise ValueError(f"unknown implementation {impl!r}: choose from {', '.join(IMPLEMENTATIONS)}")


async def serve_forever(impl: str, host: str, port: int, lifetime: float, compression: str | None = "deflate") -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with server_context(impl, host, port, compression=compression):
        print(f"listening on {host}:{port}", flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default="websockets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--no-compression", action="store_true", help="decline permessage-deflate (the 12.x/13.x cases then fail)"
    )
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many seconds (default 3600)")
    parser.add_argument("--log-level", default="WARNING", help="logging level of the library's logs (stderr)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=arguments.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    compression = None if arguments.no_compression else "deflate"
    asyncio.run(serve_forever(arguments.impl, arguments.host, arguments.port, arguments.lifetime, compression))
    return 0


if __name__ == "__main__":
    sys.exit(main())
