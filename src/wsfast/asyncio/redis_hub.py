"""A :class:`~wsfast.asyncio.fanout.Hub` backend on Redis pub/sub: one hub's publish reaches the
subscribers of every process, on every machine, whose hub shares the Redis server.

``Hub(backend=RedisBackend("redis://host:6379/0"))`` in each process. It needs the ``redis`` package
(redis-py 5.0.1 or later, its asyncio API): ``pip install 'wsfast[redis]'``.

Wire format: a topic is the channel ``prefix + topic`` (``"wsfast:"`` by default; UTF-8), and a
message's payload on it is the publishing hub's 16-byte random origin id, one type byte (``0x01``
text, ``0x02`` binary; the others are reserved) and the message's data (UTF-8 for text). A payload
that does not parse (too short, an unknown type byte, text that is not UTF-8, over
``max_message_bytes``) is counted as ``garbage`` and logged, never delivered; one that carries this
hub's own origin is its own publish coming back, skipped (``echoes``): the hub delivered it already.

Bounds, and what happens past them (each counted in :attr:`RedisBackend.counters`, and logged at most
once per second and kind):

- the publish queue holds at most ``max_queue`` messages and ``max_queue_bytes`` bytes: past either,
  a message is not sent to the other processes (``dropped_full``);
- a message over ``max_message_bytes`` (16 MiB by default) is delivered to the local subscribers but
  not sent (``dropped_too_large``), and one received over it is ``garbage`` (over it by more than
  64 KiB, it is garbage that ends the session: below);
- while Redis is unreachable, what is published is ``lost`` for the other processes (local delivery
  goes on), and so is what was queued or being sent when the connection broke; the backend
  reconnects after a delay that doubles from ``reconnect_delay`` up to ``max_reconnect_delay``
  (with jitter), restores its subscriptions, and counts ``reconnects``;
- Redis going away in the middle of a publish: the batch being sent (at most 256 messages) counts
  as ``lost`` whichever connection breaks first, even if Redis forwarded some of it before it went
  (at most once), so that every message published is ``published``, ``lost`` or ``dropped_*``;
- Redis answering garbage (a reply that is not RESP, or of a type redis-py cannot take, a line over
  the stream's 64 KiB limit, a reply whose strings are over ``max_message_bytes`` + 64 KiB + the
  prefix's length together, or of more than 16 values): it counts as ``garbage``, the session ends (logged) and
  reconnects as above. Reading stops at the bound, so a connection holds a few times that bound at
  most, whatever Redis sends: both read with redis-py's pure-Python parser, bounded here, even
  where hiredis is installed. A message of the wrong shape in a well-formed reply is ``garbage``
  alone, and the session goes on;
- a connection that stops in the middle of a reply, or gets no answers, ends the session too: the
  subscribing one must read a reply between two PINGs, sent ``ping_interval`` apart (it is found
  within twice that), the publishing one gets ``socket_timeout`` for each answer;
- the subscriptions the backend keeps are those of the topics that have local subscribers, and the
  changes it still has to send Redis: a subscribe/unsubscribe flood grows neither.

Redis may itself disconnect a subscriber that falls behind (its ``client-output-buffer-limit
pubsub``, 32 MiB by default): that is a lost connection like any other here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._linked import LinkedBackend

if TYPE_CHECKING:
    from redis._parsers import _AsyncRESP2Parser
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from .fanout import HubBackend

__all__ = ["RedisBackend", "TEXT", "BINARY", "ORIGIN_BYTES"]

logger = logging.getLogger("wsfast")

#: The payload's type byte: the message is text (UTF-8), or binary.
TEXT, BINARY = 0x01, 0x02
#: The length of the origin id that starts every payload.
ORIGIN_BYTES = 16
_HEADER_BYTES = ORIGIN_BYTES + 1
#: Channels per SUBSCRIBE or UNSUBSCRIBE command: a flood becomes a few commands of bounded size.
_CHANNELS_PER_COMMAND = 512
#: Messages per pipeline sent to Redis: one round trip for many publishes.
_MESSAGES_PER_BATCH = 256
#: Room in one reply from Redis beside a message's payload and the prefix: its topic, header and framing.
_REPLY_ROOM = 64 * 1024
#: Values in one reply from Redis: a pub/sub message has 4 (its array and three strings), a pong 3.
_MAX_REPLY_PARTS = 16


class RedisBackend(LinkedBackend):
    """Redis pub/sub for a :class:`~wsfast.asyncio.fanout.Hub`: one connection publishes, one
    subscribes, each message is published once per hub and received once per subscribing hub.

    Args:
        url: the Redis server, as redis-py's ``Redis.from_url`` takes it (``redis://``,
            ``rediss://``, ``unix://``).
        prefix: starts every channel name, so that several applications can share a server.
        max_queue: how many messages may wait to be sent to Redis.
        max_queue_bytes: how many bytes of payload may wait to be sent to Redis.
        max_message_bytes: the largest message sent or received through Redis.
        reconnect_delay: the first delay before reconnecting; it doubles at each failure.
        max_reconnect_delay: the longest delay between two attempts to reconnect.
        ping_interval: how long the publishing connection stays idle before a PING checks it (a
            broker that stopped answering is found within this plus ``socket_timeout``), and how
            often the subscribing connection is pinged (one that stopped is found within twice this).
        redis_options: more keyword arguments for ``Redis.from_url`` (the defaults here:
            ``socket_connect_timeout=5``, ``socket_timeout=10`` for the publishing connection only,
            and no retries: this backend reconnects by itself). ``decode_responses``, ``protocol``
            (2) and ``parser_class`` are the backend's own.

    Raises:
        ImportError: the ``redis`` package is not installed.
        ValueError: a limit or delay that is not positive.
    """

    _LINK = "the connection to Redis"
    _PEERS = "the other processes"
    _MORE_COUNTERS = ("echoes",)

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "wsfast:", max_queue: int = 10_000,
                 max_queue_bytes: int = 64 * 1024 * 1024, max_message_bytes: int = 16 * 1024 * 1024,
                 reconnect_delay: float = 0.1, max_reconnect_delay: float = 10.0, ping_interval: float = 15.0,
                 **redis_options: Any) -> None:  # fmt: skip
        _import_redis()  # fail now rather than in the background task
        super().__init__(max_queue=max_queue, max_queue_bytes=max_queue_bytes, max_message_bytes=max_message_bytes,
                         reconnect_delay=reconnect_delay, max_reconnect_delay=max_reconnect_delay,
                         ping_interval=ping_interval)  # fmt: skip
        self.url = url
        self.prefix = prefix
        self.ping_interval = ping_interval
        self.redis_options = redis_options
        self._prefix_bytes = prefix.encode("utf-8")
        # a reply carries a payload, its channel and some framing: room for them, and no more
        self._parser_class = _bounded_parser(max_message_bytes + _REPLY_ROOM + len(self._prefix_bytes))
        self._replies_read = 0  # by the subscribing connection: the PINGs check that it goes on

    # ------------------------------------------------------------------ HubBackend

    def start(self, origin: bytes, deliver: Callable[[str, str | bytes], object]) -> None:
        """Connect in the background, then keep connected: see
        :meth:`~wsfast.asyncio.fanout.HubBackend.start`.

        Raises:
            RuntimeError: no running event loop, or the backend was started already.
            ValueError: ``origin`` is not :data:`ORIGIN_BYTES` long.
        """
        if len(origin) != ORIGIN_BYTES:
            raise ValueError(f"the origin is {ORIGIN_BYTES} bytes, not {len(origin)}")
        super().start(origin, deliver)

    @property
    def counters(self) -> Mapping[str, int]:
        """A snapshot of the counts: ``published`` (sent to Redis), ``received`` (delivered from
        other hubs), ``echoes`` (this hub's own, skipped), ``dropped_full``, ``dropped_too_large``,
        ``lost`` (while Redis was unreachable), ``garbage`` (payloads that did not parse) and
        ``reconnects``."""
        return self._counts.snapshot()

    @property
    def connected(self) -> bool:
        """Whether both connections to Redis are up."""
        return self._state == "up"

    # ------------------------------------------------------------------ the connections

    def _queue_message(self, topic: str, text: bool, data: bytes) -> None:
        payload = self._origin + bytes((TEXT if text else BINARY,)) + data
        self._enqueue((self._channel(topic), payload), len(payload))

    def _address(self) -> str:
        return self.url

    def _expected_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError, asyncio.TimeoutError, _redis_errors())

    async def _session(self, reconnecting: bool) -> None:
        """One connection of each kind, from connecting until one of them fails (it raises)."""
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options: dict[str, Any] = {"socket_connect_timeout": 5, "retry": Retry(NoBackoff(), 0), **self.redis_options,
                                   "decode_responses": False,  # the payloads are bytes
                                   "protocol": 2, "parser_class": self._parser_class}  # fmt: skip
        # socket_timeout would cut the subscriber's wait for messages on redis-py 5: the publisher's only
        publisher = Redis.from_url(self.url, **{"socket_timeout": 10, **options})
        subscriber = Redis.from_url(self.url, **options)
        pubsub = subscriber.pubsub()
        tasks: list[asyncio.Task[None]] = []
        over = asyncio.Event()  # the session's end, for a task whose cancellation was lost
        try:
            await publisher.ping()
            await pubsub.ping()  # connects it now: get_message needs a connection, even with no subscription
            for channels in _chunks(self._start_over(), self._channel):
                await pubsub.subscribe(*channels)
            self._went_up(reconnecting)
            tasks = [asyncio.create_task(self._receive(pubsub, over)),
                     asyncio.create_task(self._send(publisher, pubsub, over))]  # fmt: skip
            assert self._closing is not None
            done, _ = await asyncio.wait([*tasks, self._closing], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done:
                    task.result()  # raises what ended the session
            if not self._closing.done():
                raise ConnectionError("the connection to Redis ended")  # not reached: both loop until they fail
        finally:
            # On Python < 3.12, asyncio.wait_for (which redis-py uses) can lose a cancellation: a task
            # may go on after cancel(). The event and the closed connections stop it all the same.
            over.set()
            self._wakeup.set()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=1)
            await _close_quietly(pubsub.aclose(), subscriber.aclose(), publisher.aclose())
            if tasks:
                await asyncio.wait(tasks, timeout=5)
            for task in tasks:
                if not task.done():
                    logger.error("a task of the Redis backend did not stop: %r", task)
                elif not task.cancelled():
                    task.exception()  # retrieved: an error of the session's end is not worth a warning

    async def _send(self, publisher: Redis, pubsub: PubSub, over: asyncio.Event) -> None:
        """Send the subscription changes and the queued messages as they come; PING when idle.

        Raises:
            TimeoutError: the subscribing connection read no reply since the previous PING.
            redis.exceptions.RedisError: the publishing connection broke, or Redis answered garbage.
        """
        loop = asyncio.get_running_loop()
        pinged_at = loop.time()
        replies_at_ping: int | None = None  # the subscriber's count when this task last pinged it
        while not over.is_set():
            # Not wait_for: before 3.12 it can swallow a cancellation that comes as the event is set.
            ping = loop.call_later(self.ping_interval, self._wakeup.set)
            try:
                await self._wakeup.wait()
            finally:
                ping.cancel()
            if over.is_set():
                return
            self._wakeup.clear()
            if loop.time() - pinged_at >= self.ping_interval:
                replies_at_ping = await self._ping_subscriber(pubsub, replies_at_ping)
                pinged_at = loop.time()
            if not self._changed and not self._queue:
                await publisher.ping()  # idle for ping_interval: is Redis still there?
                continue
            await self._send_subscriptions(pubsub)
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), _MESSAGES_PER_BATCH))]
                self._queued_messages -= len(batch)
                self._queued_bytes -= sum(len(payload) for _, payload in batch)
                try:
                    async with publisher.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(channel, payload)
                        try:
                            await pipe.execute()
                        except _garbling_errors() as error:
                            raise self._garbled(error) from error
                except BaseException:  # cancelled too: the subscribing connection may break first
                    if not self._closed:  # close() drops what was on its way, uncounted
                        self._lost(len(batch))
                    raise
                self._counters["published"] += len(batch)
                await self._send_subscriptions(pubsub)  # between batches, so a long queue does not hold them

    async def _ping_subscriber(self, pubsub: PubSub, replies_at_ping: int | None) -> int:
        """PING the subscribing connection, if it read a reply since the previous PING: one stuck in
        the middle of a reply (or that Redis no longer answers) never reads one. Its reads wait with
        no timeout, so that a quiet channel does not end them: this is their bound.

        Returns:
            The count of replies read when this PING was sent.

        Raises:
            TimeoutError: it read none since the previous PING.
        """
        if replies_at_ping == self._replies_read:
            raise TimeoutError(f"the subscribing connection to Redis read no reply in {self.ping_interval} s")
        replies = self._replies_read
        await pubsub.ping()
        return replies

    def _garbled(self, error: BaseException) -> Exception:
        """Count ``error``, one of :func:`_garbling_errors` (a reply that did not parse), as
        ``garbage``; the RedisError that ends the session."""
        from redis.exceptions import InvalidResponse

        self._counts.add("garbage", f"Redis sent a reply that does not parse ({error!r}): connecting again")
        return InvalidResponse(f"a reply that does not parse: {error!r}")

    async def _send_subscriptions(self, pubsub: PubSub) -> None:
        if not self._changed:
            return
        wanted, unwanted = self._take_changes()
        for channels in _chunks(wanted, self._channel):
            await pubsub.subscribe(*channels)
        for channels in _chunks(unwanted, self._channel):
            await pubsub.unsubscribe(*channels)

    async def _receive(self, pubsub: PubSub, over: asyncio.Event) -> None:
        """Deliver the messages of the subscribed channels, as they come.

        Raises:
            redis.exceptions.RedisError: the subscribing connection broke, or Redis answered garbage.
        """
        garbling = _garbling_errors()
        while not over.is_set():
            try:
                reply = await pubsub.parse_response(block=True)
                # A message is taken apart here: get_message would first make a dict of it, and
                # await redis-py's metrics hook. Other replies (subscriptions, pongs) go through
                # redis-py, which keeps its books with them.
                if not (type(reply) is list and len(reply) == 3 and reply[0] == b"message"):
                    if reply is not None:
                        await pubsub.handle_message(reply, ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    reply = None
            except garbling as error:
                raise self._garbled(error) from error
            self._replies_read += 1
            if reply is not None and not over.is_set():
                parsed = self._parse(reply[1], reply[2])
                if parsed is not None:
                    self._delivered(*parsed)

    def _parse(self, channel: bytes, payload: bytes) -> tuple[str, str | bytes] | None:
        """(topic, message) of a payload from Redis; None for an echo or garbage (counted)."""
        if isinstance(payload, bytes) and payload[:ORIGIN_BYTES] == self._origin and len(payload) >= _HEADER_BYTES:
            self._counters["echoes"] += 1
            return None
        try:
            return _decode(channel, payload, self._prefix_bytes, self.max_message_bytes)
        except ValueError as error:  # UnicodeDecodeError is one
            self._counts.add("garbage", f"ignored a payload from Redis that does not parse: {error}")
            return None

    def _channel(self, topic: str) -> bytes:
        return self._prefix_bytes + topic.encode("utf-8")


def _decode(channel: bytes, payload: bytes, prefix: bytes, max_message_bytes: int) -> tuple[str, str | bytes]:
    """(topic, message) of a channel and payload from Redis, in the wire format of the module's docstring.

    Raises:
        ValueError: they do not parse.
    """
    if not isinstance(channel, bytes) or not isinstance(payload, bytes):
        raise ValueError("not bytes")
    if len(payload) < _HEADER_BYTES:
        raise ValueError("a payload shorter than its header")
    if len(payload) - _HEADER_BYTES > max_message_bytes:
        raise ValueError(f"a message over max_message_bytes ({max_message_bytes})")
    if not channel.startswith(prefix):
        raise ValueError("a channel without the prefix")
    topic = channel[len(prefix):].decode("utf-8")
    kind = payload[ORIGIN_BYTES]
    if kind == TEXT:
        return topic, payload[_HEADER_BYTES:].decode("utf-8")
    if kind == BINARY:
        return topic, payload[_HEADER_BYTES:]
    raise ValueError(f"an unknown type byte {kind:#04x}")


def _bounded_parser(max_reply_bytes: int) -> type[_AsyncRESP2Parser]:
    """redis-py's RESP2 parser, with bounds on one reply: its strings together at most
    ``max_reply_bytes``, and at most :data:`_MAX_REPLY_PARTS` values (a pub/sub message has 4: its
    array and three strings).
    Unbounded, a string waits for as many bytes as it declares, taking in whatever comes until
    then, and an array for as many values as it declares. (A line is bounded already: the stream's
    limit, 64 KiB.)

    Past a bound, a read raises InvalidResponse, and redis-py closes the connection. Each check
    wraps the parser's own method without a coroutine of its own (it returns the method's), which
    costs a call per value, not a coroutine frame.
    """
    from redis._parsers import _AsyncRESP2Parser
    from redis.exceptions import InvalidResponse

    too_large = f"a reply with strings over {max_reply_bytes} bytes or over {_MAX_REPLY_PARTS} values"

    class BoundedParser(_AsyncRESP2Parser):
        _values = 0  # in the reply being read
        _string_bytes = 0  # ... and the length of its strings

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            self._values = self._string_bytes = 0
            return super().read_response(*args, **kwargs)

        def _read_response(self, *args: Any, **kwargs: Any) -> Any:
            self._values += 1
            if self._values > _MAX_REPLY_PARTS:
                raise InvalidResponse(too_large)
            return super()._read_response(*args, **kwargs)

        def _read(self, length: int) -> Any:
            if length < 0:  # a nil string ($-1) never comes here; another would lower the sum below
                raise InvalidResponse(f"a string of negative length {length}")
            self._string_bytes += length
            if self._string_bytes > max_reply_bytes:
                raise InvalidResponse(too_large)
            return super()._read(length)

    return BoundedParser


@functools.cache
def _garbling_errors() -> tuple[type[BaseException], ...]:
    """What redis-py raises for a reply that does not parse: InvalidResponse for what is not RESP
    (and the parser's bounds), ValueError for a line over the stream's limit, TypeError or
    LookupError for a reply its PubSub cannot take apart, RecursionError for arrays nested too deep."""
    from redis.exceptions import InvalidResponse

    return (InvalidResponse, ValueError, TypeError, LookupError, RecursionError)


def _import_redis() -> None:
    """Raises: ImportError with what to install, when redis-py is missing."""
    try:
        import redis.asyncio  # noqa: F401
    except ImportError as error:
        raise ImportError("wsfast's Redis backend needs the redis package: pip install 'wsfast[redis]'") from error


def _redis_errors() -> type[Exception]:
    """redis-py's base exception: every connection, timeout and protocol error derives from it."""
    from redis.exceptions import RedisError

    return RedisError


def _chunks(topics: Iterable[str], channel: Callable[[str], bytes]) -> Iterable[list[bytes]]:
    """The channels of ``topics``, a bounded number at a time."""
    chunk: list[bytes] = []
    for topic in topics:
        chunk.append(channel(topic))
        if len(chunk) == _CHANNELS_PER_COMMAND:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _close_quietly(*closing: Any) -> None:
    """Await each closing coroutine; one that fails (the connection is broken) does not stop the others."""
    for coroutine in closing:
        try:
            await coroutine
        except Exception as error:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
            logger.debug("closing a Redis connection: %s", error)


if TYPE_CHECKING:

    def _is_a_hub_backend(backend: RedisBackend) -> HubBackend:
        return backend  # mypy and pyright check here that RedisBackend is a HubBackend
