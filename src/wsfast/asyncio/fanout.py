"""Fan-out: one message to many connections, its frame built once.

:func:`broadcast` sends to the connections given; :class:`Hub` keeps topics and their subscribers,
with a policy for slow ones.

``broadcast`` has websockets' name and semantics: synchronous, it skips connections that are not open (and those in
the middle of sending a fragmented message), and it does not wait for the peers to read: what a slow
peer has not taken stays in its write buffer. It works on connections of both APIs.

The frame is encoded once, and the same bytes go to every connection that can send them unchanged:
a server's connection (servers do not mask) without an extension. With permessage-deflate the rule
is this: a compressed frame is shared only by connections that compress each message afresh, that
is a server's connections that agreed ``server_no_context_takeover``: the message is compressed
once for each combination of their window size and zlib settings (one, when they were all served
alike), and that frame goes to all of them. A server keeps its window between messages unless it
agreed that, and then a compressed frame depends on what the connection sent before, so each such
connection compresses the message for itself; so does a connection that masks (a client's). To
share compressed frames, serve hub subscribers with
``extensions=[ServerPerMessageDeflateFactory(server_no_context_takeover=True, ...)]`` (uWebSockets'
shared compressor makes the same bargain: a little compression ratio for one compression per
message instead of one per subscriber, and no window kept per idle connection).

A :class:`Hub` given a :class:`HubBackend` (:class:`~wsfast.asyncio.redis_hub.RedisBackend`, for
one) also reaches the subscribers of other processes, on this machine or others: what it publishes
goes to its own subscribers at once and to the backend, and what the backend receives from the
other hubs goes to its subscribers.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from .._buffers import message_payload
from .._kernels import compiled_twin
from ..connection import State
from ..frames import Opcode, encode_frame
from ..permessage_deflate import encode_shared
from .protocol import WebSocketProtocol

# the loop over the connections, compiled beside the rest of the hot path
if TYPE_CHECKING:
    from .._openpath import write_shared_to
else:
    write_shared_to = compiled_twin("_openpath").write_shared_to

__all__ = ["broadcast", "Hub", "HubBackend", "MAX_TOPIC_BYTES", "MAX_PUBLISH_SIZE"]

logger = logging.getLogger("wsfast")

#: The longest topic name, in bytes of UTF-8, that a hub takes: it holds one per subscription, and
#: with a backend a topic is a channel name there, sent with every message.
MAX_TOPIC_BYTES = 1024

#: The largest message a hub publishes unless told otherwise (``max_message_size``), in bytes (of
#: UTF-8, for text): what its subscribers' write buffers may hold beyond their limit is one message
#: each. The backends carry up to the same by default.
MAX_PUBLISH_SIZE = 16 * 1024 * 1024


def broadcast(connections: Iterable[WebSocketProtocol], message: str | bytes, raise_exceptions: bool = False) -> None:
    """Send ``message`` (str as text, bytes-like as binary) to every open connection in
    ``connections``, without waiting.

    Raises:
        TypeError: ``message`` is neither str nor bytes-like.
        ExceptionGroup: with ``raise_exceptions``, what writing to some connections raised (on
            Python 3.10, the first of those errors); without it they are logged and skipped.
    """
    frames = _Frames(*message_payload(message))
    failures: list[Exception] = []
    # most connections (a server's, without compression) take the plain frame as it is
    for connection in write_shared_to(connections, frames.plain):  # the others
        try:
            protocol = connection.protocol
            if protocol.state is not State.OPEN:
                continue
            if protocol.sending_fragments:
                logger.warning("skipped a broadcast to a connection sending a fragmented message")
                continue
            _send(connection, frames)
        except Exception as error:  # noqa: BLE001 - one connection's failure is not the others'
            if not raise_exceptions:
                logger.warning("skipped a broadcast to a connection: %s", error)
            failures.append(error)
    if failures and raise_exceptions:
        if sys.version_info >= (3, 11):
            raise ExceptionGroup("broadcast failed on some connections", failures)  # noqa: F821
        raise failures[0]


class HubBackend(Protocol):
    """What carries a :class:`Hub`'s messages to the hubs of other processes, and theirs to it.

    A backend serves one hub. The hub calls ``start`` once, inside a running event loop, before
    anything else; then ``subscribe`` when a topic gets its first local subscriber and
    ``unsubscribe`` when it loses its last (so that a process receives only the topics it has
    subscribers for), ``publish`` for every message published on it, and ``close`` at the end.

    None of the synchronous methods may block or raise for a broker that is slow or unreachable:
    they queue, and what cannot be queued or sent is counted (``counters``) and logged, while local
    delivery goes on. A backend reconnects by itself and restores its subscriptions.
    """

    def start(self, origin: bytes, deliver: Callable[[str, str | bytes], object]) -> None:
        """Start the backend's work in the running event loop, and return at once.

        Args:
            origin: the hub's random id: the backend tags what it publishes with it, and must not
                deliver back a message that carries it (the hub delivered it already).
            deliver: called as ``deliver(topic, message)`` with each message published on a
                subscribed topic by another hub: str for text, bytes for binary, as published.

        Raises:
            RuntimeError: no running event loop, or the backend was started already.
        """
        ...

    def publish(self, topic: str, message: str | bytes) -> None:
        """Queue ``message`` (str as text, bytes as binary) for the other hubs, without waiting."""
        ...

    def subscribe(self, topic: str) -> None:
        """Receive ``topic``'s messages from now on (it has a local subscriber)."""
        ...

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``'s messages (it has no local subscriber left)."""
        ...

    async def close(self) -> None:
        """Stop the backend's tasks and close its connections; what is still queued is not sent."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """A snapshot of the backend's counts (messages published, received, dropped, lost...)."""
        ...


class Hub:
    """Topics, their subscribers, and publishing to them, in one process.

    Any connection can subscribe (either API, server or client side). ``publish`` encodes a
    message once for every subscriber that takes a shared frame (see :func:`broadcast`) and sends
    it to each subscriber of the topic, without waiting.

    A subscriber is slow while its write buffer is over its ``write_limit``; then ``policy``
    decides what becomes of a message for it, so that a slow subscriber never holds up the others
    and never makes its buffer grow beyond ``write_limit`` plus one message:

    - ``"drop"``: the message is dropped for that subscriber (and counted);
    - ``"latest"``: only the latest message of each topic waits for it, and goes out as soon as its
      buffer drains (the ones it replaces are counted as dropped): for state that supersedes
      itself, such as prices;
    - ``"close"``: the subscriber is closed with ``close_code`` (1013, try again later, by default;
      1008 for a policy violation).

    A subscriber in the middle of sending a fragmented message of its own cannot take a message
    either, for as long as that lasts: ``"drop"`` and ``"latest"`` treat it as slow (``"close"``
    does not close it for that). :meth:`dropped` counts what a connection missed while it is
    subscribed; ``on_drop`` sees every message dropped.

    A message over ``max_message_size`` is refused by :meth:`publish` (ValueError), so that what a
    publish can make the subscribers' buffers hold stays bounded: ``write_limit`` plus one message
    each, the message's bytes shared by all those that take the same frame.

    With a ``backend``, a publish also reaches the subscribers of the hubs of other processes that
    share the backend (a Redis server, for :class:`~wsfast.asyncio.redis_hub.RedisBackend`), and
    theirs reach this hub's, each message once: local subscribers get it at once, whether the
    backend is up or not. The backend starts with the first subscribe or publish (or ``start``,
    or ``async with hub``), inside the event loop, and stops with ``await hub.close()``.

    Topics are str of at most :data:`MAX_TOPIC_BYTES` bytes of UTF-8, and one connection subscribes
    to at most ``max_topics``: what a hub holds per connection stays bounded even where clients
    choose their topics (past either bound, ``subscribe`` raises ValueError and changes nothing).

    Args:
        policy: "drop", "latest" or "close".
        close_code: the close code of the "close" policy.
        on_drop: called as ``on_drop(connection, topic, message)`` for every message dropped.
        backend: what carries messages to and from the other processes' hubs; None for this
            process alone.
        max_topics: the most topics one connection may subscribe to; None for no limit.
        max_message_size: the largest message :meth:`publish` takes, in bytes (UTF-8 for text);
            None for no limit.

    Raises:
        ValueError: an unknown policy, or ``max_topics`` or ``max_message_size`` less than 1.
    """

    def __init__(self, *, policy: str = "drop", close_code: int = 1013,
                 on_drop: Callable[[WebSocketProtocol, str, str | bytes], object] | None = None,
                 backend: HubBackend | None = None, max_topics: int | None = 10_000,
                 max_message_size: int | None = MAX_PUBLISH_SIZE) -> None:  # fmt: skip
        if policy not in ("drop", "latest", "close"):
            raise ValueError(f"policy must be 'drop', 'latest' or 'close', not {policy!r}")
        if max_topics is not None and max_topics < 1:
            raise ValueError(f"max_topics must be at least 1, not {max_topics}")
        if max_message_size is not None and max_message_size < 1:
            raise ValueError(f"max_message_size must be at least 1, not {max_message_size}")
        self.max_topics = max_topics
        self.max_message_size = max_message_size
        self.policy = policy
        self.close_code = close_code
        self.on_drop = on_drop
        self.backend = backend
        #: Tags what this hub publishes through its backend, so that it is not delivered twice.
        self.origin = secrets.token_bytes(16)
        self._backend_state = "new" if backend is not None else "none"  # then "started", "closed"
        self._subscribers: dict[str, set[WebSocketProtocol]] = {}
        self._subscriber_state: dict[WebSocketProtocol, _Subscriber] = {}

    # ------------------------------------------------------------------ the backend

    def start(self) -> None:
        """Start the backend, if there is one and it has not started (the first subscribe or
        publish does it otherwise); a hub without a backend has nothing to start.

        Raises:
            RuntimeError: no running event loop, or the hub was closed.
        """
        if self._backend_state == "closed":
            raise RuntimeError("this hub was closed")
        if self._backend_state != "new" or self.backend is None:
            return
        self.backend.start(self.origin, self._publish_locally)
        self._backend_state = "started"
        for topic in self._subscribers:  # subscribed before the start
            self.backend.subscribe(topic)

    async def close(self) -> None:
        """Stop the backend and close its connections; the hub goes on publishing to its own
        subscribers only. Closing twice does nothing."""
        started = self._backend_state == "started"
        if self._backend_state != "none":
            self._backend_state = "closed"
        if started and self.backend is not None:
            await self.backend.close()

    async def __aenter__(self) -> Hub:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:  # fmt: skip
        await self.close()

    def _check_topic(self, topic: str) -> None:
        """A topic is a bounded str (with a backend, a channel name there). Starts the backend."""
        if not isinstance(topic, str):
            raise TypeError(f"a topic is a str, not {type(topic).__name__}")
        if not (topic.isascii() and len(topic) <= MAX_TOPIC_BYTES):
            # UnicodeEncodeError (a ValueError) for a lone surrogate, which no broker could carry
            size = len(topic.encode("utf-8"))
            if size > MAX_TOPIC_BYTES:
                raise ValueError(f"a topic is at most {MAX_TOPIC_BYTES} bytes of UTF-8, not {size}")
        if self._backend_state == "new":
            self.start()

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, connection: WebSocketProtocol, topic: str) -> None:
        """Send ``connection`` what is published on ``topic`` from now on, until it unsubscribes or
        closes (a closed connection leaves every topic by itself).

        Raises:
            TypeError: ``topic`` is not a str.
            ValueError: ``topic`` is longer than :data:`MAX_TOPIC_BYTES` or is not UTF-8 (a lone
                surrogate), or ``connection`` has ``max_topics`` topics already.
            RuntimeError: with a backend, no running event loop to start it in.
        """
        self._check_topic(topic)
        state = self._subscriber_state.get(connection)
        if state is not None and self.max_topics is not None and len(state.topics) >= self.max_topics and (
                topic not in state.topics):  # fmt: skip
            raise ValueError(f"a connection subscribes to at most {self.max_topics} topics (max_topics)")
        if state is None:
            state = self._subscriber_state[connection] = _Subscriber(self, connection)
        state.topics.add(topic)
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            subscribers = self._subscribers[topic] = set()
            if self._backend_state == "started" and self.backend is not None:
                self.backend.subscribe(topic)  # the first local subscriber
        subscribers.add(connection)

    def unsubscribe(self, connection: WebSocketProtocol, topic: str | None = None) -> None:
        """Stop sending ``connection`` what ``topic`` gets, or any topic's when ``topic`` is None."""
        state = self._subscriber_state.get(connection)
        if state is None:
            return
        for name in [topic] if topic is not None else list(state.topics):
            state.topics.discard(name)
            state.latest.pop(name, None)
            subscribers = self._subscribers.get(name)
            if subscribers is not None:
                subscribers.discard(connection)
                if not subscribers:
                    del self._subscribers[name]
                    if self._backend_state == "started" and self.backend is not None:
                        self.backend.unsubscribe(name)  # the last local subscriber left
        if not state.topics:
            state.forget()
            del self._subscriber_state[connection]

    def subscribers(self, topic: str) -> frozenset[WebSocketProtocol]:
        """The connections subscribed to ``topic``."""
        return frozenset(self._subscribers.get(topic, ()))

    def topics(self, connection: WebSocketProtocol) -> frozenset[str]:
        """The topics ``connection`` is subscribed to."""
        state = self._subscriber_state.get(connection)
        return frozenset(state.topics) if state is not None else frozenset()

    def dropped(self, connection: WebSocketProtocol) -> int:
        """How many messages were dropped for ``connection`` because it was slow."""
        state = self._subscriber_state.get(connection)
        return state.dropped if state is not None else 0

    # ------------------------------------------------------------------ publishing

    def publish(self, topic: str, message: str | bytes) -> int:
        """Send ``message`` (str as text, bytes-like as binary) to the subscribers of ``topic``,
        without waiting, and hand it to the backend for the other hubs' subscribers. Returns how
        many local subscribers it was written to.

        Raises:
            TypeError: ``message`` is neither str nor bytes-like; with a backend, ``topic`` is not
                a str.
            ValueError: ``message`` is over ``max_message_size``; with a backend, ``topic`` is
                longer than :data:`MAX_TOPIC_BYTES` or is not UTF-8 (a lone surrogate).
            RuntimeError: with a backend, no running event loop to start it in.
        """
        if self.max_message_size is not None:
            self._check_size(message, self.max_message_size)
        if self.backend is None:
            return self._publish_locally(topic, message)
        self._check_topic(topic)
        if not isinstance(message, (str, bytes)):
            message_payload(message)  # TypeError for anything but bytes-like
            message = bytes(message)  # a bytearray or memoryview the caller may reuse
        written = self._publish_locally(topic, message)
        if self._backend_state == "started":
            self.backend.publish(topic, message)
        return written

    @staticmethod
    def _check_size(message: str | bytes, limit: int) -> None:
        if isinstance(message, str):
            if len(message) * 4 <= limit:  # at most 4 bytes of UTF-8 a character: no need to encode
                return
            size = len(message.encode("utf-8", "surrogatepass"))
        elif isinstance(message, memoryview):
            size = message.nbytes
        elif isinstance(message, (bytes, bytearray)):
            size = len(message)
        else:
            return  # not a message: publishing it raises TypeError
        if size > limit:
            raise ValueError(f"a message of {size} bytes is over the hub's max_message_size ({limit})")

    def _publish_locally(self, topic: str, message: str | bytes) -> int:
        """Send ``message`` to this hub's subscribers of ``topic``; how many it was written to."""
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return 0
        frames = _Frames(*message_payload(message))
        targets = list(subscribers)  # a copy: a subscriber closed by the policy below leaves the set
        # most subscribers (a server's, without compression) take the plain frame as it is
        declined = write_shared_to(targets, frames.plain)
        written = len(targets) - len(declined)
        for connection in declined:
            protocol = connection.protocol
            if protocol.state is not State.OPEN:
                continue  # closing: it leaves by itself when closed
            state = self._subscriber_state[connection]
            if connection.writing_paused or protocol.sending_fragments:
                self._hold_back(state, topic, message)
                continue
            _send(connection, frames)
            written += 1
        return written

    def _hold_back(self, state: _Subscriber, topic: str, message: str | bytes) -> None:
        if self.policy == "close" and state.connection.writing_paused:
            logger.info("closing a slow subscriber of %r with %d", topic, self.close_code)
            state.connection._begin_close(self.close_code, "too slow")
            return
        if self.policy == "latest":
            replaced = state.latest.pop(topic, None)
            state.latest[topic] = message
            if replaced is None:
                return
            message = replaced
        state.dropped += 1
        if self.on_drop is not None:
            self.on_drop(state.connection, topic, message)


class _Subscriber:
    """One connection's part in a hub: its topics, what waits for it, and what it missed."""

    __slots__ = ("hub", "connection", "topics", "latest", "dropped")

    def __init__(self, hub: Hub, connection: WebSocketProtocol) -> None:
        self.hub = hub
        self.connection = connection
        self.topics: set[str] = set()
        self.latest: dict[str, str | bytes] = {}  # policy "latest": the message waiting, per topic
        self.dropped = 0
        connection.add_writable_listener(self.writable)
        connection.connection_lost_waiter.add_done_callback(self.closed)

    def writable(self) -> None:
        """Its buffer drained: send what waits, the oldest topic first, while it stays writable."""
        while self.latest and not self.connection.writing_paused and self.connection.protocol.state is State.OPEN:
            topic = next(iter(self.latest))
            _send(self.connection, _Frames(*message_payload(self.latest.pop(topic))))

    def closed(self, _: object) -> None:
        self.hub.unsubscribe(self.connection)

    def forget(self) -> None:
        self.connection.remove_writable_listener(self.writable)
        self.connection.connection_lost_waiter.remove_done_callback(self.closed)


class _Frames:
    """One message's frames for many connections, each made once, when first needed: the plain
    frame, and one per :attr:`~wsfast.connection.Connection.shared_frame_key` of permessage-deflate."""

    __slots__ = ("text", "data", "plain", "_compressed")

    def __init__(self, text: bool, data: bytes) -> None:
        self.text = text
        self.data = data
        self.plain = encode_frame(Opcode.TEXT if text else Opcode.BINARY, data)
        self._compressed: dict[object, bytes] | None = None  # made when a compressed one is

    def shared(self, key: object) -> bytes:
        """The frame for the connections whose shared frame key is ``key`` (not None)."""
        if key == "plain":
            return self.plain
        if self._compressed is None:
            self._compressed = {}
        frame = self._compressed.get(key)
        if frame is None:
            opcode = Opcode.TEXT if self.text else Opcode.BINARY
            frame = self._compressed[key] = encode_shared(opcode, self.data, key)  # type: ignore[arg-type]
        return frame


def _send(connection: WebSocketProtocol, frames: _Frames) -> None:
    """Send a message: the frame shared by the connections like this one where it takes one, else
    the message encoded for this connection alone; then write it."""
    protocol = connection.protocol
    key = protocol.shared_frame_key
    if key is not None:
        protocol.send_encoded(frames.shared(key))
    elif frames.text:
        protocol.send_text(frames.data)
    else:
        protocol.send_binary(frames.data)
    connection._flush()
