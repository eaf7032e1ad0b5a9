"""websockets' option names (additional_headers, user_agent_header, max_size) on wsfast's connect
and serve, asyncio and sync, and serve(sock=): code written for websockets runs unchanged."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest

import wsfast
from tests.asyncio.support import echo, port_of
from tests.support import run_async
from tests.sync.support import running, uri
from wsfast._websockets_names import UNSET, client_headers, message_limits
from wsfast.exceptions import ConnectionClosedError
from wsfast.limits import MAX_FRAME_SIZE, MAX_MESSAGE_SIZE
from wsfast.sync.client import connect as sync_connect

DEFAULTS = (MAX_MESSAGE_SIZE, MAX_FRAME_SIZE)


@pytest.mark.parametrize(("max_size", "expected"), [
    (UNSET, DEFAULTS),
    (1000, (1000, MAX_FRAME_SIZE)),
    (None, (None, MAX_FRAME_SIZE)),
    ((1000, 100), (1000, 100)),
    ((None, None), (None, None)),
])  # fmt: skip
def test_max_size_is_the_message_limit_or_both(max_size, expected):
    assert message_limits(max_size, *DEFAULTS, DEFAULTS) == expected


def test_max_size_beside_the_same_limit_under_wsfast_s_name():
    assert message_limits(1000, 1000, MAX_FRAME_SIZE, DEFAULTS) == (1000, MAX_FRAME_SIZE)  # the same value
    assert message_limits(1000, MAX_MESSAGE_SIZE, 50, DEFAULTS) == (1000, 50)  # an int leaves frames alone
    with pytest.raises(TypeError, match="max_message_size"):
        message_limits(1000, 2000, MAX_FRAME_SIZE, DEFAULTS)
    with pytest.raises(TypeError, match="max_message_size"):
        message_limits((1000, 100), MAX_MESSAGE_SIZE, 50, DEFAULTS)


@pytest.mark.parametrize("max_size", ["1000", 1.5, True, (1, 2, 3), (1,), ("a", 1)])
def test_max_size_of_another_type(max_size):
    with pytest.raises(TypeError, match="max_size"):
        message_limits(max_size, *DEFAULTS, DEFAULTS)


def test_client_headers_under_either_name():
    assert client_headers((), UNSET, "agent", UNSET, "agent") == ((), "agent")
    assert client_headers((), {"X-A": "1"}, "agent", None, "agent") == ({"X-A": "1"}, None)
    assert client_headers((), None, "agent", "mine", "agent") == ((), "mine")  # websockets' None: no headers
    with pytest.raises(TypeError, match="extra_headers"):
        client_headers({"X-A": "1"}, {"X-B": "2"}, "agent", UNSET, "agent")
    with pytest.raises(TypeError, match="user_agent"):
        client_headers((), UNSET, "other", "mine", "agent")


@pytest.mark.usefixtures("event_loop_kind")
def test_asyncio_connect_and_serve_take_websockets_names():
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, max_size=1000, compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with wsfast.connect(uri, additional_headers={"X-Trace": "7"}, user_agent_header="bot/1") as ws:
                assert ws.request.headers["X-Trace"] == "7"
                assert ws.request.headers["User-Agent"] == "bot/1"
                await ws.send(b"x" * 1000)
                assert await ws.recv() == b"x" * 1000
                await ws.send(b"x" * 1001)  # over the server's max_size
                with pytest.raises(ConnectionClosedError) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 1009 and closed.value.sent.code == 1009
            async with wsfast.connect(uri, user_agent_header=None, max_size=(None, None)) as ws:
                assert "User-Agent" not in ws.request.headers
        with pytest.raises(TypeError):
            wsfast.connect("ws://127.0.0.1/", extra_headers={"X-A": "1"}, additional_headers={"X-B": "2"})

    run_async(main())


@pytest.mark.usefixtures("event_loop_kind")
def test_asyncio_serve_on_a_listening_socket_of_one_s_own():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def main():
        async with wsfast.serve(echo, sock=listener):
            async with wsfast.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("on my socket")
                assert await ws.recv() == "on my socket"
        with pytest.raises(ValueError, match="sock"):
            wsfast.serve(echo, "127.0.0.1", 0, sock=listener)

    try:
        run_async(main())
    finally:
        listener.close()


def test_sync_connect_and_serve_take_websockets_names():
    with running(max_size=1000, compression=None) as server:
        with sync_connect(uri(server), additional_headers={"X-Trace": "7"}, user_agent_header="bot/1") as ws:
            assert ws.request.headers["X-Trace"] == "7"
            assert ws.request.headers["User-Agent"] == "bot/1"
            ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosedError) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1009 and closed.value.sent.code == 1009
        with pytest.raises(TypeError):
            sync_connect(uri(server), user_agent="a", user_agent_header="b")


@pytest.mark.usefixtures("event_loop_kind")
def test_connections_have_websockets_id_and_logger(caplog):
    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with wsfast.connect(uri) as first, wsfast.connect(uri) as second:
                assert isinstance(first.id, uuid.UUID) and first.id == first.id != second.id
                with caplog.at_level(logging.INFO, logger="wsfast"):
                    first.logger.info("hello from %s", "the first")
                [record] = [r for r in caplog.records if r.getMessage() == "hello from the first"]
                assert record.name == "wsfast" and record.websocket is first

    run_async(main())
    with running() as server, sync_connect(uri(server)) as ws:
        assert isinstance(ws.id, uuid.UUID) and ws.logger.extra == {"websocket": ws}
