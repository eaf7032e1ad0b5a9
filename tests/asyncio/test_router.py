"""route(): connections dispatched by URL path to handlers on werkzeug's routing, as websockets' router."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import wsfast
from tests.asyncio.support import port_of, raw_exchange
from tests.support import run_async as run
from wsfast.asyncio.router import Router, route, unix_route
from wsfast.client import ClientConnection
from wsfast.exceptions import InvalidStatus

routing = pytest.importorskip("werkzeug.routing", reason="werkzeug is the router's optional dependency")
Map, Rule = routing.Map, routing.Rule

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


async def channel(websocket, channel_id):
    await websocket.send(f"channel {channel_id!s} ({type(channel_id).__name__})")


async def room(websocket, name, number):
    async for message in websocket:
        await websocket.send(f"{name}/{number}: {message}")


URL_MAP = Map([
    Rule("/channel/<uuid:channel_id>", endpoint=channel),
    Rule("/room/<name>/<int:number>", endpoint=room),
    Rule("/old", redirect_to="/room/moved/1"),
])  # fmt: skip


def with_router(test, url_map=URL_MAP, **options):
    async def main():
        async with route(url_map, "127.0.0.1", 0, **options) as server:
            return await test(port_of(server))

    return run(main())


def test_each_path_reaches_its_handler_with_the_captured_values():
    key = uuid.UUID("8f1f6bd2-6f47-4d6b-b7a8-5c2e4e2a9b10")

    async def test(port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/channel/{key}") as ws:
            assert await ws.recv() == f"channel {key} (UUID)"
        async with wsfast.connect(f"ws://127.0.0.1:{port}/room/lobby/7?x=1") as ws:
            await ws.send("hi")
            assert await ws.recv() == "lobby/7: hi"

    with_router(test)


def test_an_unknown_path_is_refused_with_404_before_the_upgrade():
    async def test(port):
        with pytest.raises(InvalidStatus) as refused:
            await wsfast.connect(f"ws://127.0.0.1:{port}/nowhere")
        assert refused.value.response.status_code == 404
        assert refused.value.response.body == b"Not Found"
        # a converter that does not match is no route either
        with pytest.raises(InvalidStatus, match="404"):
            await wsfast.connect(f"ws://127.0.0.1:{port}/room/lobby/seven")

    with_router(test)


def test_a_redirect_answers_302_with_location_and_the_client_follows_it():
    async def test(port):
        answer = await raw_exchange(port, ClientConnection(f"ws://127.0.0.1:{port}/old").data_to_send())
        head = answer.split(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.1 302 ")
        assert f"\r\nLocation: ws://127.0.0.1:{port}/room/moved/1" in head
        async with wsfast.connect(f"ws://127.0.0.1:{port}/old") as ws:  # wsfast's client follows it
            await ws.send("x")
            assert await ws.recv() == "moved/1: x"

    with_router(test)


def test_server_name_and_wss_scheme_shape_redirects():
    async def test(port):
        answer = await raw_exchange(port, ClientConnection(f"ws://127.0.0.1:{port}/old").data_to_send())
        assert b"\r\nLocation: wss://example.com/room/moved/1" in answer

    with_router(test, server_name="example.com", ssl=True)


def test_process_request_runs_first_and_routing_when_it_passes():
    def health(connection, request):
        return connection.respond(200, "ok\n") if request.path == "/health" else None

    async def test(port):
        with pytest.raises(InvalidStatus, match="200"):
            await wsfast.connect(f"ws://127.0.0.1:{port}/health")
        async with wsfast.connect(f"ws://127.0.0.1:{port}/room/a/1") as ws:
            await ws.send("b")
            assert await ws.recv() == "a/1: b"

    with_router(test, process_request=health)


def test_a_custom_router():
    class Everywhere(Router):
        def not_found(self, connection):
            return connection.respond(410, "Gone")

    async def test(port):
        with pytest.raises(InvalidStatus, match="410"):
            await wsfast.connect(f"ws://127.0.0.1:{port}/nowhere")

    with_router(test, create_router=Everywhere)


def test_unix_route(tmp_path):
    path = str(tmp_path / "router.sock")

    async def main():
        async with unix_route(URL_MAP, path):
            async with wsfast.connect("ws://localhost/room/unix/2", path=path) as ws:
                await ws.send("y")
                return await asyncio.wait_for(ws.recv(), 5)

    assert run(main()) == "unix/2: y"
