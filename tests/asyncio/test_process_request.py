"""The server's process_request hook, plain or async: answer a request instead of upgrading."""

from __future__ import annotations

import asyncio
import logging

import pytest

import wsfast
from tests.asyncio.support import echo, port_of, raw_exchange
from tests.support import run_async as run
from wsfast.client import ClientConnection
from wsfast.exceptions import InvalidOrigin, InvalidStatus
from wsfast.frames import Opcode, encode_frame
from wsfast.handshake import Response
from wsfast.headers import Headers

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop


def serve_and(test, process_request, **options):
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, process_request=process_request, **options) as server:
            return await test(server, port_of(server))

    return run(main())


def upgrade_request(port: int, path: str = "/") -> bytes:
    return ClientConnection(f"ws://127.0.0.1:{port}{path}").data_to_send()


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_hook_answers_some_paths_and_lets_others_upgrade(kind):
    seen = []

    def decide(connection, request):
        seen.append((type(connection).__name__, request.path))
        if request.path == "/health":
            return connection.respond(200, "ok\n")
        return None

    async def decide_later(connection, request):
        await asyncio.sleep(0.01)
        return decide(connection, request)

    async def test(server, port):
        answer = await raw_exchange(port, upgrade_request(port, "/health"))
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok\n")
        async with wsfast.connect(f"ws://127.0.0.1:{port}/chat") as ws:
            await ws.send("still upgrades")
            assert await ws.recv() == "still upgrades"

    serve_and(test, decide if kind == "plain" else decide_later)
    assert seen == [("ServerSideConnection", "/health"), ("ServerSideConnection", "/chat")]


def test_frames_sent_right_behind_the_request_wait_for_the_async_answer():
    async def slow(connection, request):
        await asyncio.sleep(0.1)

    async def test(server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # a client that does not wait for the 101 before its first frame
        writer.write(upgrade_request(port) + encode_frame(Opcode.TEXT, b"early", mask=True))
        received = b""
        while b"early" not in received:
            received += await asyncio.wait_for(reader.read(65536), 5)
        assert received.startswith(b"HTTP/1.1 101 ")
        writer.close()
        await writer.wait_closed()

    serve_and(test, slow, compression=None)


def test_invalid_handshake_from_the_hook_is_its_http_error():
    async def forbid(connection, request):
        raise InvalidOrigin("not from here")

    async def test(server, port):
        with pytest.raises(InvalidStatus) as info:
            await wsfast.connect(f"ws://127.0.0.1:{port}/")
        assert info.value.response.status_code == 403

    serve_and(test, forbid)


@pytest.mark.parametrize("hook", ["process_request", "process_response"])
@pytest.mark.parametrize("answer", ["raises", "returns 101", "returns junk"])
def test_a_broken_hook_answers_500_and_is_logged(caplog, hook, answer):
    def broken(connection, request, *response):
        if answer == "raises":
            raise KeyError("bug")
        if answer == "returns 101":
            return Response(101, "Switching Protocols", Headers())
        return "junk"

    async def test(server, port):
        with pytest.raises(InvalidStatus) as info:
            await wsfast.connect(f"ws://127.0.0.1:{port}/")
        assert info.value.response.status_code == 500

    with caplog.at_level(logging.ERROR, logger="wsfast"):
        if hook == "process_request":
            serve_and(test, broken)
        else:
            serve_and(test, None, process_response=broken)
    assert f"{hook} failed" in caplog.text


def test_a_hook_slower_than_the_open_timeout_drops_the_client():
    async def stall(connection, request):
        await asyncio.sleep(10)

    async def test(server, port):
        answer = await raw_exchange(port, upgrade_request(port), read_timeout=5)
        assert answer == b""  # dropped without an answer
        for _ in range(100):
            if not server.connections:
                break
            await asyncio.sleep(0.01)
        assert not server.connections

    serve_and(test, stall, open_timeout=0.2)


def test_basic_auth_from_the_uri_reaches_process_request():
    import base64

    def require_credentials(connection, request):
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(401, "who are you?\n")
        return None

    async def test(server, port):
        async with wsfast.connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
            await ws.send("in")
            assert await ws.recv() == "in"
        with pytest.raises(InvalidStatus) as refused:
            await wsfast.connect(f"ws://alice:wrong@127.0.0.1:{port}/")
        assert refused.value.response.status_code == 401

    serve_and(test, require_credentials)


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_process_response_changes_headers_or_answers_instead(kind):
    seen = []

    def amend(connection, request, response):
        seen.append((request.path, response.status_code))
        if request.path == "/closed":
            return connection.respond(503, "come back later\n")
        response.headers.add("X-Served-By", "wsfast")
        return None

    async def amend_async(connection, request, response):
        await asyncio.sleep(0)
        return amend(connection, request, response)

    async def test(server, port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/chat") as ws:
            assert ws.response.headers["X-Served-By"] == "wsfast"
            await ws.send("after the hook")
            assert await ws.recv() == "after the hook"
        with pytest.raises(InvalidStatus) as refused:
            await wsfast.connect(f"ws://127.0.0.1:{port}/closed")
        assert refused.value.response.status_code == 503
        assert refused.value.response.body == b"come back later\n"

    serve_and(test, None, process_response=amend if kind == "plain" else amend_async)
    assert seen == [("/chat", 101), ("/closed", 101)]


def test_process_response_sees_refusals_and_process_requests_answers_too():
    seen = []

    def refuse_some(connection, request):
        return connection.respond(403, "no\n") if request.path == "/private" else None

    def record(connection, request, response):
        seen.append((request.path, response.status_code))

    async def test(server, port):
        for path, status in (("/private", 403),):
            with pytest.raises(InvalidStatus) as refused:
                await wsfast.connect(f"ws://127.0.0.1:{port}{path}")
            assert refused.value.response.status_code == status
        with pytest.raises(InvalidStatus):
            await wsfast.connect(f"ws://127.0.0.1:{port}/", origin="https://elsewhere.example")

    serve_and(test, refuse_some, process_response=record, origins=["https://allowed.example"])
    assert seen == [("/private", 403), ("/", 403)]
