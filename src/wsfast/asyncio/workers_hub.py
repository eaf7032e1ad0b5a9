"""A :class:`~wsfast.asyncio.fanout.Hub` backend with no broker: the hubs of the workers of one
:func:`~wsfast.workers.run_workers` supervisor, linked through the supervisor.

``run_workers(target, n, listener, own_sockets, hub=True)`` in the supervisor, and in each worker's
``target``, ``Hub(backend=WorkersBackend())``: a publish in any worker then reaches the subscribers
of every worker, each once (see :mod:`wsfast.hub_relay` for the relay and its wire format)::

    async def main():  # in each worker
        async with Hub(backend=WorkersBackend()) as hub:
            ...  # serve(..., reuse_port=True); hub.subscribe(connection, topic); hub.publish(topic, message)

The backend connects to the relay's Unix socket, sends it the topics that have local subscribers
(the relay forwards only those), and connects again whenever the link breaks: when the supervisor
closed it (a record it could not parse) or was restarted at the same path.

Bounds, and what happens past them (each counted in :attr:`WorkersBackend.counters`, with the names
of :class:`~wsfast.asyncio.redis_hub.RedisBackend`'s, and logged at most once per second and kind):

- the publish queue holds at most ``max_queue`` messages and ``max_queue_bytes`` bytes: past either,
  a message is not sent to the other workers (``dropped_full``);
- a message over ``max_message_bytes`` (the relay's, 16 MiB by default) is delivered to the local
  subscribers but not sent (``dropped_too_large``);
- while the link is down, what is published is ``lost`` for the other workers (local delivery goes
  on), and so is what was queued when it broke; the backend connects again after a delay that
  doubles from ``reconnect_delay`` up to ``max_reconnect_delay``, sends its subscriptions again, and
  counts ``reconnects``;
- a record from the relay that does not parse is ``garbage``, never delivered; one whose length is
  wrong leaves the stream out of step, so the backend also breaks the link and connects again.

The relay writes to a worker what it has not read yet up to its own bound
(:data:`~wsfast.hub_relay.MAX_QUEUE_BYTES`), and drops what comes past it: a worker whose event loop is
too busy to read its link misses messages from the others, counted in the supervisor.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..hub_relay import BINARY, HEAD_BYTES, MAX_MESSAGE_BYTES, PING, PONG, SUBSCRIBE, TEXT, UNSUBSCRIBE
from ..hub_relay import parse_head, record_head
from ..workers import worker_hub
from ._linked import LinkedBackend
from .fanout import MAX_TOPIC_BYTES

if TYPE_CHECKING:
    from .fanout import HubBackend

__all__ = ["WorkersBackend"]

logger = logging.getLogger("wsfast")

#: Messages per write to the link: one system call for many publishes.
_MESSAGES_PER_BATCH = 256


class WorkersBackend(LinkedBackend):
    """The link of one worker's :class:`~wsfast.asyncio.fanout.Hub` to the supervisor's relay, and
    through it to the hubs of the other workers.

    Args:
        path: the relay's Unix socket; by default the one of the supervisor of this worker (see
            :func:`~wsfast.workers.worker_hub`).
        max_queue: how many messages may wait to be written to the link.
        max_queue_bytes: how many bytes of messages may wait to be written to the link.
        max_message_bytes: the largest message sent to or received from the other workers; by
            default the relay's (:data:`~wsfast.hub_relay.MAX_MESSAGE_BYTES` when ``path`` is given).
        reconnect_delay: the first delay before connecting again; it doubles at each failure.
        max_reconnect_delay: the longest delay between two attempts.

    Raises:
        RuntimeError: no ``path``, and this process is not a worker of
            ``run_workers(..., hub=True)``.
        ValueError: a limit or delay that is not positive, ``max_message_bytes`` over the relay's,
            or no Unix sockets on this system.
    """

    _LINK = "the link to the other workers' hubs"
    _PEERS = "the other workers"

    def __init__(self, path: str | None = None, *, max_queue: int = 10_000, max_queue_bytes: int = 64 * 1024 * 1024,
                 max_message_bytes: int | None = None, reconnect_delay: float = 0.05,
                 max_reconnect_delay: float = 2.0) -> None:  # fmt: skip
        if not hasattr(socket, "AF_UNIX"):
            raise ValueError("linked hubs need Unix sockets, which this system does not have")
        relay = worker_hub()
        if path is None:
            if relay is None:
                raise RuntimeError("WorkersBackend() without a path works in a worker of run_workers(..., hub=True) "
                                   "only")  # fmt: skip
            path = relay.path
        limit = relay.max_message_bytes if relay is not None and relay.path == path else MAX_MESSAGE_BYTES
        super().__init__(max_queue=max_queue, max_queue_bytes=max_queue_bytes,
                         max_message_bytes=limit if max_message_bytes is None else max_message_bytes,
                         reconnect_delay=reconnect_delay, max_reconnect_delay=max_reconnect_delay)  # fmt: skip
        if self.max_message_bytes > limit:
            raise ValueError(f"max_message_bytes is at most the relay's, {limit}, not {max_message_bytes}")
        self.path = path
        self._relay_limit = limit  # what the relay may send: a longer record is out of step
        # sync()'s pings, by token: they wait in the queue beside the messages, outside its bounds
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._ping_ids = itertools.count()

    @property
    def counters(self) -> Mapping[str, int]:
        """A snapshot of the counts: ``published`` (written to the link), ``received`` (delivered
        from other workers), ``dropped_full``, ``dropped_too_large``, ``lost`` (while the link was
        down), ``garbage`` (records that did not parse) and ``reconnects``. What the link's socket
        buffers held when it broke is lost without being counted."""
        return self._counts.snapshot()

    async def sync(self) -> None:
        """Wait until the relay has handled everything this backend sent or queued before: the
        subscriptions and unsubscriptions are then in effect, and the messages on their way to the
        other workers. Bound it with ``asyncio.wait_for``.

        Raises:
            ConnectionError: the link is down or closed, or it breaks before the relay answers.
            RuntimeError: the backend was not started.
        """
        if self._task is None and not self._closed:
            raise RuntimeError("the backend was not started: subscribe or publish first, or start the hub")
        if self._state not in ("connecting", "up"):
            raise ConnectionError("the link to the other workers is down")
        token = next(self._ping_ids).to_bytes(8, "big")
        answered = asyncio.get_running_loop().create_future()
        self._pings[token] = answered
        self._queue.append((record_head(PING, b"", len(token)), token))  # not a message: out of the bounds
        self._queued_bytes += HEAD_BYTES + len(token)
        self._wakeup.set()
        try:
            await answered
        finally:
            self._pings.pop(token, None)

    # ------------------------------------------------------------------ the link

    def _queue_message(self, topic: str, text: bool, data: bytes) -> None:
        name = _encode_topic(topic)
        if len(name) > MAX_TOPIC_BYTES:  # the hub refuses them; a backend used alone must too
            self._counts.add("dropped_too_large", f"a topic of {len(name)} bytes is over {MAX_TOPIC_BYTES}: not sent "
                             f"to {self._PEERS}")  # fmt: skip
            return
        head = record_head(TEXT if text else BINARY, name, len(data))
        self._enqueue((head, data), len(head) + len(data))

    def _address(self) -> str:
        return self.path

    def _expected_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError, asyncio.IncompleteReadError, ValueError)

    async def _session(self, reconnecting: bool) -> None:
        """One link, from connecting until it breaks (it raises)."""
        reader, writer = await asyncio.open_unix_connection(self.path)
        tasks: list[asyncio.Task[None]] = []
        try:
            _write_pieces(writer, [record_head(SUBSCRIBE, _encode_topic(topic), 0) for topic in self._start_over()])
            await writer.drain()
            self._went_up(reconnecting)
            tasks = [asyncio.create_task(self._receive(reader)), asyncio.create_task(self._send(writer))]
            assert self._closing is not None
            done, _ = await asyncio.wait([*tasks, self._closing], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done:
                    task.result()  # raises what ended the link
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # retrieved: raised above already, or the link's end
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError) as error:
                if isinstance(error, asyncio.CancelledError) and not self._closed:
                    raise
                logger.debug("closing the link to the other workers: %r", error)

    def _forget_queue(self) -> None:
        super()._forget_queue()
        for answered in self._pings.values():
            if not answered.done():
                answered.set_exception(ConnectionError("the link to the other workers broke"))
        self._pings.clear()

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        """Write the subscription changes and the queued records as they come."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._write_subscriptions(writer)
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), _MESSAGES_PER_BATCH))]
                messages = sum(1 for head, _ in batch if head[4] != PING)
                self._queued_messages -= messages
                self._queued_bytes -= sum(len(head) + len(data) for head, data in batch)
                writer.writelines(itertools.chain.from_iterable(batch))  # never empty: a record has a head
                self._counters["published"] += messages
                await writer.drain()  # the transport's buffer stays small: the bounded queue holds the rest
                self._write_subscriptions(writer)  # between batches, so that a long queue does not hold them

    def _write_subscriptions(self, writer: asyncio.StreamWriter) -> None:
        if not self._changed:
            return
        wanted, unwanted = self._take_changes()
        _write_pieces(writer, [record_head(SUBSCRIBE, _encode_topic(topic), 0) for topic in wanted]
                      + [record_head(UNSUBSCRIBE, _encode_topic(topic), 0) for topic in unwanted])

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        """Deliver the messages from the other workers, as they come; answer the pongs."""
        while True:
            head = await reader.readexactly(HEAD_BYTES)
            try:
                kind, topic_bytes, data_bytes = parse_head(head, 0, self._relay_limit)
            except ValueError as error:
                self._counts.add("garbage", f"a record from the relay does not parse ({error}): linking again")
                raise
            body = await reader.readexactly(topic_bytes + data_bytes)  # at most the relay's limit
            if data_bytes > self.max_message_bytes:
                self._counts.add("garbage", f"ignored a message of {data_bytes} bytes from another worker: over "
                            f"max_message_bytes ({self.max_message_bytes})")  # fmt: skip
                continue
            self._received(kind, body, topic_bytes)

    def _received(self, kind: int, body: bytes, topic_bytes: int) -> None:
        if kind == PONG:
            answered = self._pings.pop(body[topic_bytes:], None)
            if answered is not None and not answered.done():
                answered.set_result(None)
            return
        try:
            if kind != TEXT and kind != BINARY:
                raise ValueError(f"an unknown record type {kind:#04x}")
            topic = body[:topic_bytes].decode("utf-8")
            message: str | bytes = body[topic_bytes:]
            if kind == TEXT:
                message = body[topic_bytes:].decode("utf-8")
        except ValueError as error:  # UnicodeDecodeError is one
            self._counts.add("garbage", f"ignored a record from the relay that does not parse: {error}")
            return
        if topic in self._interest:  # else: unsubscribed while it was on its way, or the relay sends every topic
            self._delivered(topic, message)


def _write_pieces(writer: asyncio.StreamWriter, pieces: list[bytes]) -> None:
    """Write ``pieces`` if there are any: CPython 3.12.0, 3.12.1 and 3.13.0 fail an assertion in
    ``writelines`` of nothing (their ``_write_sendmsg`` requires a non-empty buffer)."""
    if pieces:
        writer.writelines(pieces)


def _encode_topic(topic: str) -> bytes:
    """A topic's bytes on the link: UTF-8 (the hub refuses a topic that is not, as for any backend)."""
    return topic.encode("utf-8")


if TYPE_CHECKING:

    def _is_a_hub_backend(backend: WorkersBackend) -> HubBackend:
        return backend  # mypy and pyright check here that WorkersBackend is a HubBackend
