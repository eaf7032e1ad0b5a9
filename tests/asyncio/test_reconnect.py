"""The client's redirects and its reconnecting iterator (``async for ws in connect(uri)``)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import wsfast
from tests.asyncio.support import echo, port_of, redirect
from tests.support import run_async, tls_contexts
from wsfast.asyncio.client import process_exception
from wsfast.asyncio.client import MAX_REDIRECTS
from wsfast.exceptions import InvalidStatus, SecurityError
from wsfast.handshake import Response
from wsfast.headers import Headers

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def test_redirects_are_followed_relative_and_absolute():
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as target:
            absolute = f"ws://127.0.0.1:{port_of(target)}/there"

            def move(connection, request):
                if request.path == "/old":
                    return redirect("/new?x=1", 301)
                if request.path == "/new?x=1":
                    return redirect(absolute, 307)
                return None

            async with wsfast.serve(echo, "127.0.0.1", 0, process_request=move) as first:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(first)}/old") as ws:
                    assert ws.request.path == "/there" and ws.remote_address[1] == port_of(target)
                    await ws.send("followed")
                    assert await ws.recv() == "followed"

    run_async(main())


def test_too_many_redirects_and_a_redirect_without_location():
    async def main():
        hops = []

        def loop(connection, request):
            hops.append(request.path)
            if request.path == "/nowhere":
                return Response(302, "Found", Headers())
            return redirect(f"/hop{len(hops)}")

        async with wsfast.serve(echo, "127.0.0.1", 0, process_request=loop) as server:
            with pytest.raises(SecurityError, match=f"more than {MAX_REDIRECTS} redirects"):
                await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert len(hops) == MAX_REDIRECTS
            with pytest.raises(InvalidStatus) as info:
                await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/nowhere")
            assert info.value.response.status_code == 302

    run_async(main())


def test_a_redirect_from_wss_to_ws_is_refused():
    server_context, client_context = tls_contexts()

    async def main():
        def downgrade(connection, request):
            return redirect(f"ws://127.0.0.1:{connection.local_address[1]}/plain")

        async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, process_request=downgrade) as server:
            with pytest.raises(SecurityError, match="wss:// to ws://"):
                await wsfast.connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context)

    run_async(main())


class FastBackoff(wsfast.connect):
    BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_MAX = 0.05, 2.0, 0.2


def test_async_for_reconnects_after_drops_and_refusals(caplog):
    async def main():
        answers = ["503", "ok", "drop", "ok"]  # what the server does with each upgrade, in turn

        def flaky(connection, request):
            answer = answers.pop(0) if answers else "ok"
            if answer == "503":
                return connection.respond(503, "busy\n")
            return None

        async def handler(ws):
            async for message in ws:
                if message == "drop":
                    ws.transport.abort()
                    return
                await ws.send(message)

        async with wsfast.serve(handler, "127.0.0.1", 0, process_request=flaky) as server:
            turns = 0
            async for ws in FastBackoff(f"ws://127.0.0.1:{port_of(server)}/"):
                turns += 1
                try:
                    await ws.send("drop" if turns == 1 else "hello")
                    assert await ws.recv() == "hello"
                    break
                except wsfast.exceptions.ConnectionClosed:
                    continue
            assert turns == 2

    with caplog.at_level(logging.INFO, logger="wsfast"):
        run_async(main(), 20)
    assert "503" in caplog.text and "retrying in" in caplog.text


def test_async_for_raises_what_retrying_cannot_cure():
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, process_request=lambda c, r: c.respond(403, "no\n")) as server:
            with pytest.raises(InvalidStatus) as info:
                async for _ in FastBackoff(f"ws://127.0.0.1:{port_of(server)}/"):
                    pytest.fail("a refused connection was yielded")
            assert info.value.response.status_code == 403

    run_async(main())


def test_async_for_retries_a_refused_tcp_connection():
    async def main():
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()

        async def start_later():
            await asyncio.sleep(0.3)
            return await wsfast.serve(echo, "127.0.0.1", port)

        starting = asyncio.ensure_future(start_later())
        async for ws in FastBackoff(f"ws://127.0.0.1:{port}/"):
            await ws.send("up")
            assert await ws.recv() == "up"
            break
        server = await starting
        server.close()
        await server.wait_closed()

    run_async(main())


def test_process_exception_decides_what_is_retried():
    attempts = []

    def retry_403_twice(error):
        attempts.append(error)
        if isinstance(error, InvalidStatus) and len(attempts) < 3:
            return None  # retry what the default would raise
        return RuntimeError("gave up")

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, process_request=lambda c, r: c.respond(403, "no\n")) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            with pytest.raises(RuntimeError, match="gave up") as info:
                async for _ in FastBackoff(uri, process_exception=retry_403_twice):
                    pytest.fail("a refused connection was yielded")
            assert isinstance(info.value.__cause__, InvalidStatus) and len(attempts) == 3
        assert process_exception(ConnectionRefusedError()) is None  # the default: retry this
        error = ValueError("an invalid URI")
        assert process_exception(error) is error  # and raise that

    run_async(main())
