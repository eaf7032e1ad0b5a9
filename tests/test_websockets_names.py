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
from wsfast.limits import MAX_MESSAGE_SIZE
from wsfast.sync.client import connect as sync_connect

DEFAULTS = (MAX_MESSAGE_SIZE, UNSET)  # max_frame_size not given: it follows max_message_size


@pytest.mark.parametrize(("max_size", "expected"), [
    (UNSET, (MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE)),
    (1000, (1000, 1000)),  # a message may come in one frame, as with websockets
    (None, (None, None)),
    ((1000, 100), (1000, 100)),
    ((None, None), (None, None)),
    ((None, 100), (None, 100)),
])  # fmt: skip
def test_max_size_is_the_message_limit_or_both(max_size, expected):
    assert message_limits(max_size, *DEFAULTS, MAX_MESSAGE_SIZE) == expected


def test_the_frame_limit_follows_the_message_limit_unless_given():
    assert message_limits(UNSET, 5000, UNSET, MAX_MESSAGE_SIZE) == (5000, 5000)
    assert message_limits(UNSET, None, UNSET, MAX_MESSAGE_SIZE) == (None, None)
    assert message_limits(UNSET, 5000, 100, MAX_MESSAGE_SIZE) == (5000, 100)
    assert message_limits(UNSET, 5000, None, MAX_MESSAGE_SIZE) == (5000, None)


def test_max_size_beside_the_same_limit_under_wsfast_s_name():
    assert message_limits(1000, 1000, UNSET, MAX_MESSAGE_SIZE) == (1000, 1000)  # the same value
    assert message_limits(1000, MAX_MESSAGE_SIZE, 50, MAX_MESSAGE_SIZE) == (1000, 50)  # an int leaves frames alone
    assert message_limits((1000, 50), MAX_MESSAGE_SIZE, 50, MAX_MESSAGE_SIZE) == (1000, 50)
    with pytest.raises(TypeError, match="max_message_size"):
        message_limits(1000, 2000, UNSET, MAX_MESSAGE_SIZE)
    with pytest.raises(TypeError, match="max_message_size"):
        message_limits((1000, 100), MAX_MESSAGE_SIZE, 50, MAX_MESSAGE_SIZE)


@pytest.mark.parametrize(("limits", "error"), [
    ((UNSET, -1, UNSET), ValueError), ((UNSET, 1000, -1), ValueError), ((-5, MAX_MESSAGE_SIZE, UNSET), ValueError),
    ((UNSET, "1000", UNSET), TypeError), ((UNSET, 1000, 2.5), TypeError), ((UNSET, True, UNSET), TypeError),
])  # fmt: skip
def test_a_limit_out_of_range_is_refused_when_the_server_or_client_is_made(limits, error):
    with pytest.raises(error, match="max_message_size|max_frame_size"):
        message_limits(*limits, MAX_MESSAGE_SIZE)
    max_size, max_message_size, max_frame_size = limits
    options = {name: value for name, value in [("max_size", max_size), ("max_message_size", max_message_size),
                                               ("max_frame_size", max_frame_size)] if value is not UNSET}  # fmt: skip
    with pytest.raises(error):
        wsfast.serve(echo, "127.0.0.1", 0, **options)
    with pytest.raises(error):
        wsfast.connect("ws://127.0.0.1:1/", **options)


@pytest.mark.parametrize("max_size", ["1000", 1.5, True, (1, 2, 3), (1,), ("a", 1)])
def test_max_size_of_another_type(max_size):
    with pytest.raises(TypeError, match="max_size"):
        message_limits(max_size, *DEFAULTS, MAX_MESSAGE_SIZE)


@pytest.mark.usefixtures("event_loop_kind")
@pytest.mark.parametrize("limits", [{"max_size": None}, {"max_size": 3_000_000}, {"max_message_size": 3_000_000}])
@pytest.mark.parametrize("compression", [None, "deflate"])
def test_a_message_under_a_raised_limit_may_come_in_one_frame(limits, compression):
    # 2 MB of random bytes in one frame: over the 1 MiB default, under the limit raised; with
    # compression its frame is larger than the message (random data does not compress)
    message = uuid.uuid4().bytes * 125_000

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, compression=compression, **limits) as server:
            async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", compression=compression, **limits) as ws:
                await ws.send(message)
                assert await ws.recv() == message

    run_async(main(), 30)
    with running(compression=compression, **limits) as server:
        with sync_connect(uri(server), compression=compression, **limits) as ws:
            ws.send(message)
            assert ws.recv() == message


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
