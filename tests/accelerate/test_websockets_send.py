"""wsfast.accelerate in websockets' asyncio send path (``Connection.send_context``): the same outcome as
websockets' own context manager in every branch, and no async generator in the common case.

Each scenario runs a websockets client against a websockets server over 127.0.0.1, once as websockets
is and once with ``install("websockets")``; what the client sees (return values and exceptions with
their causes, state, close codes, log records) and what the server received must be the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
import warnings
from typing import Any

import pytest

import wsfast.accelerate
from wsfast.accelerate._websockets_send import KNOWN, fingerprint, is_fast, make_send_context

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture

connection_module = support.require("websockets.asyncio.connection")
client_module = support.require("websockets.asyncio.client")
server_module = support.require("websockets.asyncio.server")
exceptions = support.require("websockets.exceptions")
Connection = connection_module.Connection

#: Whether the installed websockets' send_context is one the replacement knows (else it is left alone).
KNOWN_HERE = fingerprint(inspect.getsource(Connection.send_context.__wrapped__)) in KNOWN


def _describe(error: BaseException | None) -> Any:
    if error is None:
        return None
    cause = error.__cause__
    return (type(error).__name__, str(error), None if cause is None else (type(cause).__name__, str(cause)))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.levelname, record.getMessage(), record.exc_info is not None))


async def _step(awaitable: Any) -> Any:
    try:
        return ("returned", await awaitable)
    except BaseException as error:  # noqa: BLE001 - the outcome compared
        return ("raised", _describe(error))


async def _fail_write(client: Any) -> list[Any]:
    def write(data: bytes) -> None:
        raise OSError("the socket broke")

    client.transport.write = write
    return [await _step(client.send("lost")), await _step(client.send("after"))]


async def _fail_drain(client: Any) -> list[Any]:
    client.pause_writing()
    sending = asyncio.ensure_future(client.send(b"x" * 100))
    await asyncio.sleep(0.01)
    client.transport._force_close(ConnectionResetError("reset by the test"))  # connection_lost(exc)
    return [await _step(sending), await _step(client.send("after"))]


async def _cancel_in_drain(client: Any) -> list[Any]:
    client.pause_writing()
    sending = asyncio.ensure_future(client.send("held"))
    await asyncio.sleep(0.01)
    sending.cancel()
    outcome = await _step(sending)
    client.resume_writing()
    return [outcome, await _step(client.send("next")), await _step(client.close())]


async def _body_raises(client: Any, error: BaseException) -> list[Any]:
    def send_text(*args: Any, **kwargs: Any) -> None:
        raise error

    client.protocol.send_text = send_text
    return [await _step(client.send("boom")), await _step(client.send("after"))]


async def _peer_closed(client: Any) -> list[Any]:
    await client.send("close please")
    return [await _step(client.recv()), await _step(client.send("too late")), await _step(client.ping())]


async def _normal(client: Any) -> list[Any]:
    outcomes = []
    for message in ("text", b"binary", ["frag", "ments"], [b"by", b"tes"]):
        outcomes.append(await _step(client.send(message)))
        outcomes.append(await _step(client.recv()))
    latency = await (await client.ping(b"p"))
    outcomes.append(type(latency).__name__)  # the pong's latency: a float that differs run to run
    outcomes.append(await _step(client.pong(b"unsolicited")))
    outcomes.append(await _step(client.close(1000, "bye")))
    outcomes.append(await _step(client.send("after close")))
    return outcomes


SCENARIOS = {
    "normal": _normal,
    "peer_closed": _peer_closed,
    "write_fails": _fail_write,
    "drain_fails": _fail_drain,
    "cancelled_in_drain": _cancel_in_drain,
    "body_raises_an_internal_error": lambda client: _body_raises(client, RuntimeError("a bug")),
    "body_raises_a_protocol_error": lambda client: _body_raises(client, exceptions.ProtocolError("refused")),
}


async def _run(scenario: str) -> Any:
    received: list[Any] = []

    async def handler(connection: Any) -> None:
        async for message in connection:
            received.append(message)
            if message == "close please":
                await connection.close(1001, "going")
                return
            await connection.send(message)

    records = _Records()
    logger = logging.getLogger("websockets.client")
    logger.addHandler(records)
    try:
        async with server_module.serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            client = await client_module.connect(f"ws://127.0.0.1:{port}", compression=None,
                                                 close_timeout=0.5, ping_interval=None)  # fmt: skip
            client.debug = True  # the debug branches log too
            outcomes = await asyncio.wait_for(SCENARIOS[scenario](client), 5)
            client.transport.abort()
            await asyncio.wait_for(client.wait_closed(), 5)
    finally:
        logger.removeHandler(records)
    return {
        "outcomes": outcomes,
        "state": client.protocol.state,
        "close": (repr(client.protocol.close_sent), repr(client.protocol.close_rcvd)),
        "logs": [record for record in records.seen if not record[1].startswith(("> ", "< ", "= "))],
        "received": received,
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_outcome_as_websockets(scenario):
    expected = asyncio.run(_run(scenario))
    with support.accelerated("websockets"):
        assert is_fast(vars(Connection)["send_context"]) is KNOWN_HERE
        got = asyncio.run(_run(scenario))
    assert got == expected


@pytest.mark.skipif(not KNOWN_HERE, reason="this websockets' send_context is not one wsfast knows")
def test_the_common_case_makes_no_async_generator():
    """The point of the replacement: websockets' own send_context starts an async generator per
    send (the loop's first-iteration hook sees each); the replacement, none."""

    async def count_generators(sends: int) -> int:
        started = 0
        loop = asyncio.get_running_loop()
        hook = loop._asyncgen_firstiter_hook

        def firstiter(generator: Any) -> None:
            nonlocal started
            started += 1
            hook(generator)

        async def handler(connection: Any) -> None:
            async for _ in connection:  # read, or reading pauses and the close is not seen
                pass

        async with server_module.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with client_module.connect(f"ws://127.0.0.1:{port}") as client:
                previous = sys.get_asyncgen_hooks()
                sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=previous.finalizer)
                try:
                    for _ in range(sends):
                        await client.send(b"x")
                finally:
                    sys.set_asyncgen_hooks(*previous)
        return started

    assert asyncio.run(count_generators(50)) >= 50
    with support.accelerated("websockets"):
        assert asyncio.run(count_generators(50)) == 0


@pytest.mark.skipif(not KNOWN_HERE, reason="this websockets' send_context is not one wsfast knows")
def test_installed_names_the_send_level_and_uninstall_restores():
    original = vars(Connection)["send_context"]
    wsfast.accelerate.install("websockets")
    assert wsfast.accelerate.installed() == {"websockets": "frames, send"}
    assert vars(Connection)["send_context"].__wrapped__ is original
    wsfast.accelerate.uninstall("websockets")
    assert vars(Connection)["send_context"] is original


SOURCE = '''
@contextlib.asynccontextmanager
async def send_context(self, *, expected_state=OPEN):
    """Docstring."""
    if self.protocol.state is expected_state:  # a comment
        yield
'''


def test_the_fingerprint_ignores_layout_and_decorators_only():
    reference = fingerprint(SOURCE)
    assert fingerprint(SOURCE.replace("  # a comment", "").replace("@contextlib.asynccontextmanager\n", "")) == reference
    assert fingerprint(SOURCE.replace("\n    ", "\n\n        ")) == reference  # blank lines, indentation
    assert fingerprint(SOURCE.replace("yield", "yield None")) != reference
    assert fingerprint(SOURCE.replace("Docstring.", "Other.")) != reference


def test_an_unknown_send_context_is_left_alone_with_a_warning():
    @contextlib.asynccontextmanager
    async def send_context(self: Any, *, expected_state: Any = None) -> Any:
        yield

    with pytest.warns(RuntimeWarning, match="send_context as it is"):
        assert make_send_context(send_context) is send_context
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not is_fast(send_context)


def test_an_unknown_send_context_keeps_the_frames_level(monkeypatch):
    monkeypatch.setattr("wsfast.accelerate._websockets_send.KNOWN", {})
    with pytest.warns(RuntimeWarning, match="send_context as it is"):
        wsfast.accelerate.install("websockets")
    assert wsfast.accelerate.installed() == {"websockets": "frames"}
    assert not is_fast(vars(Connection)["send_context"])


def test_a_send_context_without_source_is_left_alone():
    namespace: dict[str, Any] = {"contextlib": contextlib, "OPEN": object()}
    exec(SOURCE, namespace)  # no file: inspect cannot read its source
    with pytest.warns(RuntimeWarning, match="send_context as it is"):
        assert make_send_context(namespace["send_context"]) is namespace["send_context"]


def test_a_connection_in_another_state_is_websockets_business_throughout():
    """Entered in a state other than the expected one, the original runs entry and exit (in the
    versions known, its entry raises; the exit is handed over all the same)."""
    from wsfast.accelerate._websockets_send import _SendContext

    seen = []

    @contextlib.asynccontextmanager
    async def original(connection: Any, *, expected_state: Any) -> Any:
        seen.append(("enter", expected_state))
        try:
            yield
        except KeyError as error:
            seen.append(("handled", str(error)))

    class Protocol:
        state = "CLOSING"

    class Connection:
        protocol = Protocol()

    async def use(error: BaseException | None) -> None:
        async with _SendContext(Connection(), "OPEN", original):
            if error is not None:
                raise error

    asyncio.run(use(None))
    asyncio.run(use(KeyError("k")))
    assert seen == [("enter", "OPEN"), ("enter", "OPEN"), ("handled", "'k'")]
