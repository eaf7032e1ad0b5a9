"""wsfast against other implementations over loopback: their clients on our server, our client on
their servers, with and without permessage-deflate."""

from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.exceptions import ConnectionClosedOK

MESSAGES = ["hello", "κόσμε 😀" * 500, b"\x00\xff" * 40000, b"", "x" * 70000]


def run(coroutine, timeout: float = 30):
    async def bounded():
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_client_against_wsfast_server(compression):
    client = pytest.importorskip("websockets.asyncio.client")

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, compression=compression) as server:
            port = server.sockets[0].getsockname()[1]
            async with client.connect(f"ws://127.0.0.1:{port}/", compression=compression) as ws:
                assert (ws.response.headers.get("Sec-WebSocket-Extensions") is not None) == bool(compression)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "ments"])
                assert await ws.recv() == "fragments"
                await ws.ping()
            assert ws.close_code == 1000

    run(main())


@pytest.mark.parametrize("compress", [15, 0])
def test_aiohttp_client_against_wsfast_server(compress):
    aiohttp = pytest.importorskip("aiohttp")

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"ws://127.0.0.1:{port}/", compress=compress) as ws:
                    for message in MESSAGES:
                        if isinstance(message, str):
                            await ws.send_str(message)
                        else:
                            await ws.send_bytes(message)
                        reply = await ws.receive()
                        assert reply.data == message
                    await ws.close()
                assert ws.close_code == 1000

    run(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_wsfast_client_against_websockets_server(compression):
    server_module = pytest.importorskip("websockets.asyncio.server")

    async def main():
        async with server_module.serve(echo, "127.0.0.1", 0, compression=compression) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", compression=compression) as ws:
                assert bool(ws.protocol.extensions) == bool(compression)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                assert await (await ws.ping()) >= 0
            assert ws.close_code == 1000

    run(main())


def test_wsfast_client_against_aiohttp_server():
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def handler(request):
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with wsfast.connect(f"ws://127.0.0.1:{port}/") as ws:
                assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == 1000
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
        finally:
            await runner.cleanup()

    run(main())
