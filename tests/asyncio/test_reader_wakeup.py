"""How a reader waiting in the message queue is woken: from the read callback, its task resumes
there and then (no call_soon, no extra turn of the loop); from a task, when closing or when
cancelled, on the loop's next turn, as a future would. Both loops, both builds of the queue."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from types import ModuleType

import pytest

import wsfast
import wsfast.asyncio.messages as messages_py
from tests.asyncio.support import close_writer, echo, port_of
from tests.support import C_AVAILABLE, run_async
from wsfast.client import ClientConnection
from wsfast.exceptions import ConnectionClosedOK
from wsfast.frames import Opcode, encode_frame

pytestmark = pytest.mark.usefixtures("event_loop_kind")  # each test on asyncio, then uvloop

QUEUE_BUILDS = [pytest.param("py", id="py"),
                pytest.param("c", id="c", marks=pytest.mark.skipif(not C_AVAILABLE, reason="no C build"))]  # fmt: skip


@pytest.fixture(params=QUEUE_BUILDS)
def messages(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "py":
        return messages_py
    import wsfast.asyncio.messages_c as messages_c

    return messages_c


def make_queue(messages: ModuleType, wake_after_reads: bool = False) -> object:
    return messages.MessageQueue(max_queue=None, pause_reading=lambda: None, resume_reading=lambda: None,
                                 closed_error=lambda: ConnectionClosedOK(1000, ""),
                                 wake_after_reads=wake_after_reads)  # fmt: skip


async def a_waiting_reader(queue, got: list) -> asyncio.Task:
    async def read() -> None:
        got.append(await queue.get())

    task = asyncio.get_running_loop().create_task(read())
    await asyncio.sleep(0)  # it waits now
    assert got == []
    return task


def from_a_callback(function) -> asyncio.Future:
    """Run ``function`` from a loop callback, where no task runs (as the transport's read callback
    does); the future gets what it returns."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(lambda: done.set_result(function()))
    return done


def test_the_queue_sees_the_running_task_as_asyncio_does(messages):
    """The queue asks which task runs without asyncio.current_task's Python frame (before 3.12)."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert messages._current_task(loop) is asyncio.current_task() is not None
        assert await from_a_callback(lambda: messages._current_task(loop)) is None

    run_async(scenario())


def test_a_message_from_the_read_callback_resumes_the_reader_before_the_callback_returns(messages):
    async def scenario() -> list:
        queue, got = make_queue(messages), []
        task = await a_waiting_reader(queue, got)

        def read_callback() -> list:
            queue.put(b"first")
            return list(got)  # what the reader had when put() returned

        seen = await from_a_callback(read_callback)
        await task
        return seen

    assert run_async(scenario()) == [b"first"]


def test_a_connections_queue_wakes_the_reader_when_the_read_is_done(messages):
    async def scenario() -> tuple[list, list]:
        queue, got = make_queue(messages, wake_after_reads=True), []
        task = await a_waiting_reader(queue, got)

        def read_callback() -> tuple[list, list]:
            queue.put(b"first")
            queue.put(b"second")
            during = list(got)  # the rest of the read is decoded before the reader runs
            queue.read_done()
            return during, list(got)

        seen = await from_a_callback(read_callback)
        await task
        return seen

    assert run_async(scenario()) == ([], [b"first"])


def test_a_message_put_from_a_task_wakes_the_reader_on_the_next_turn(messages):
    async def scenario() -> tuple[list, list]:
        queue, got = make_queue(messages), []
        task = await a_waiting_reader(queue, got)
        queue.put(b"first")  # this test's task runs: the reader cannot run inside it
        right_after = list(got)
        await task
        return right_after, got

    assert run_async(scenario()) == ([], [b"first"])


def test_closing_wakes_the_reader_on_the_next_turn_with_the_closed_error(messages):
    async def scenario() -> tuple[list, type]:
        queue = make_queue(messages)
        task = asyncio.get_running_loop().create_task(queue.get())
        await asyncio.sleep(0)

        def closing() -> bool:
            queue.close()
            return task.done()

        done_inside = await from_a_callback(closing)
        with pytest.raises(ConnectionClosedOK):
            await task
        return done_inside, type(task.exception())

    assert run_async(scenario()) == (False, ConnectionClosedOK)


def test_the_reader_resumes_in_its_own_context(messages):
    var = contextvars.ContextVar("var", default="unset")

    async def scenario() -> tuple[str, str]:
        queue = make_queue(messages)

        async def read() -> str:
            var.set("reader")
            await queue.get()
            return var.get()

        task = asyncio.get_running_loop().create_task(read())
        await asyncio.sleep(0)

        def read_callback() -> str:
            var.set("callback")
            queue.put(b"m")
            return var.get()  # the reader's set() did not leak out here

        in_callback = await from_a_callback(read_callback)
        return await task, in_callback

    assert run_async(scenario()) == ("reader", "callback")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=) is 3.11's")
def test_a_read_callback_in_the_readers_own_context_wakes_it_on_the_next_turn(messages):
    async def scenario() -> tuple[list, list]:
        loop = asyncio.get_running_loop()
        queue, got = make_queue(messages), []
        context = contextvars.copy_context()

        async def read() -> None:
            got.append(await queue.get())

        task = loop.create_task(read(), context=context)
        await asyncio.sleep(0)
        seen = loop.create_future()

        def read_callback() -> None:  # the reader's context is entered: it cannot be entered again
            queue.put(b"m")
            seen.set_result(list(got))

        loop.call_soon(read_callback, context=context)
        await task
        return await seen, got

    assert run_async(scenario()) == ([], [b"m"])


def test_a_reader_that_fails_after_waking_fails_its_own_task_only(messages):
    async def scenario() -> tuple[str, type]:
        queue = make_queue(messages)

        async def read() -> None:
            await queue.get()
            raise ValueError("the application's")

        task = asyncio.get_running_loop().create_task(read())
        await asyncio.sleep(0)
        returned = await from_a_callback(lambda: queue.put(b"m") or "returned")
        with pytest.raises(ValueError):
            await task
        return returned, type(task.exception())

    assert run_async(scenario()) == ("returned", ValueError)


def test_a_cancelled_reader_gets_its_message_and_takes_nothing_away(messages):
    async def scenario() -> tuple[tuple, bytes, bytes]:
        queue = make_queue(messages)
        task = asyncio.get_running_loop().create_task(queue.get())
        await asyncio.sleep(0)
        task.cancel("why")
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(queue.get(), 0.01)
        await from_a_callback(lambda: queue.put(b"kept"))
        await from_a_callback(lambda: queue.put(b"next"))
        return cancelled.value.args, await queue.get(), await queue.get()

    args, first, second = run_async(scenario())
    assert (first, second) == (b"kept", b"next")
    assert args in (("why",), ())  # the message reaches the task's error where the loop passes it on


_C_FUTURE = getattr(asyncio.futures, "_CFuture", None)  # None where asyncio has no C module (PyPy)
FUTURE_TYPES = [pytest.param(_C_FUTURE, id="c-future", marks=pytest.mark.skipif(_C_FUTURE is None, reason="no C future")),
                pytest.param(asyncio.futures._PyFuture, id="py-future")]  # type: ignore[attr-defined]  # PyPy's


@pytest.mark.parametrize("future_type", FUTURE_TYPES)
def test_waking_runs_every_callback_of_the_future_from_a_callback_and_none_twice(messages, future_type):
    """wake(future, True) from a callback: the future done, each of its callbacks run once before
    wake returns (the Python future's list, which removing callbacks empties, too); waking it
    again, or a cancelled one, does nothing."""

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        waiter, calls = future_type(loop=loop), []
        waiter.add_done_callback(calls.append)
        waiter.add_done_callback(lambda future: calls.append("second"))

        def read_callback() -> list:
            messages.wake(waiter, True)
            seen = [waiter.done(), waiter.result(), [call is waiter or call for call in calls]]
            messages.wake(waiter, True)
            return seen

        seen = await from_a_callback(read_callback)
        await asyncio.sleep(0)
        seen.append(len(calls) == 2)  # not run again on a later turn
        cancelled = future_type(loop=loop)
        cancelled.cancel()
        messages.wake(cancelled, True)
        return [*seen, cancelled.cancelled()]

    assert run_async(scenario()) == [True, None, [True, "second"], True, True]


def test_an_echo_server_answers_every_message_of_one_read_in_order():
    """End to end, the reader woken in the read callback: 200 small messages in one write, each
    echoed, in order (the reader runs while the rest of the read is still being decoded)."""
    sent = [bytes([n]) * 3 for n in range(200)]

    async def scenario() -> bytes:
        async with wsfast.asyncio.serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
            port = port_of(server)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ClientConnection(f"ws://127.0.0.1:{port}/", extensions=[]).data_to_send())
            writer.write(b"".join(encode_frame(Opcode.BINARY, payload, mask=True) for payload in sent))
            head = await reader.readuntil(b"\r\n\r\n")
            expected = sum(len(encode_frame(Opcode.BINARY, payload)) for payload in sent)
            received = b""
            while len(received) < expected:
                received += await reader.read(65536)
            await close_writer(writer)
            return head[:12] + received

    reply = run_async(scenario())
    assert reply == b"HTTP/1.1 101" + b"".join(encode_frame(Opcode.BINARY, payload) for payload in sent)


def test_a_reader_answering_each_message_of_one_read_at_length_stays_within_the_write_limit():
    """200 one-byte messages in one read, each answered with 1 MB by a peer that does not read:
    the reader runs after the read, so each answer is written at once and the next send waits
    for the write buffer to drain (not 200 MB gathered behind the read)."""
    connections: list = []

    async def answer(ws) -> None:
        connections.append(ws)
        async for _ in ws:
            await ws.send(b"x" * 1_000_000)

    async def scenario() -> tuple[int, int]:
        async with wsfast.asyncio.serve(answer, "127.0.0.1", 0, ping_interval=None, max_queue=None) as server:
            port = port_of(server)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ClientConnection(f"ws://127.0.0.1:{port}/", extensions=[]).data_to_send())
            await reader.readuntil(b"\r\n\r\n")
            writer.write(encode_frame(Opcode.BINARY, b"m", mask=True) * 200)
            await asyncio.sleep(0.3)  # the server reads them all, and writes until the socket is full
            ws = connections[0]
            held = ws.transport.get_write_buffer_size() + len(ws.protocol._output)
            writer.transport.abort()
            return held, len(ws._messages)

    held, queued = run_async(scenario())
    assert held < 3_000_000  # one answer beyond the limit, and what the socket did not take of one
    assert queued > 150  # the rest wait in the queue, read (the reader is where it waits to send)
