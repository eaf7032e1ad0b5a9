"""An echo server whose memory per connection report_memory.py measures from outside.

    python _memory_servers.py IMPL SETTING [--certfile PEM --keyfile PEM]

IMPL: wsfast, websockets or aiohttp. SETTING: "plain" (no compression offered back), "deflate"
(the library's default permessage-deflate) or, for wsfast only, "deflate-low" (the low-memory
setting docs/deployment.md documents). Prints the port on the first line of stdout, then serves on the
stdlib event loop until killed. Keepalive pings are off, so that idle stays idle.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from typing import Any


def tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def serve_wsfast(setting: str, tls: Any) -> None:
    import wsfast
    from wsfast.permessage_deflate import LOW_MEMORY, ServerPerMessageDeflateFactory

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    options: dict[str, Any] = {"compression": None if setting == "plain" else "deflate"}
    if setting == "deflate-low":
        options["extensions"] = [ServerPerMessageDeflateFactory(**LOW_MEMORY)]
    async with wsfast.serve(echo, "127.0.0.1", 0, ssl=tls, ping_interval=None, **options) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


async def serve_websockets(setting: str, tls: Any) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    compression = None if setting == "plain" else "deflate"
    async with serve(echo, "127.0.0.1", 0, ssl=tls, ping_interval=None, compression=compression) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.Future()


async def serve_aiohttp(setting: str, tls: Any) -> None:
    from aiohttp import web

    from _echo_peers import aiohttp_echo_app

    runner = web.AppRunner(aiohttp_echo_app(compress=setting != "plain"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.Future()


def main() -> None:
    impl, setting = sys.argv[1], sys.argv[2]
    arguments = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    tls = tls_context(arguments.get("--certfile"), arguments.get("--keyfile"))
    server = {"wsfast": serve_wsfast, "websockets": serve_websockets, "aiohttp": serve_aiohttp}[impl]
    asyncio.run(server(setting, tls))


if __name__ == "__main__":
    main()
