"""Fan-out: one message to many connections, its frame built once.

:func:`broadcast` sends to the connections given; :class:`Hub` keeps topics and their subscribers,
with a policy for slow ones.

``broadcast`` has websockets' name and semantics: synchronous, it skips connections that are not open (and those in
the middle of sending a fragmented message), and it does not wait for the peers to read: what a slow
peer has not taken stays in its write buffer. It works on connections of both APIs.

The frame is encoded once, and the same bytes go to every connection that can send them unchanged:
a server's connection (servers do not mask) without an extension. A connection that masks (a
client's) or that agreed permessage-deflate gets the message encoded for it alone: a compressed
frame depends on the connection's compression state unless both ends agreed
``server_no_context_takeover``, and even then on its window size, so it is not shared.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable

from .._buffers import message_payload
from ..connection import State
from ..frames import Opcode, encode_frame
from .protocol import WebSocketProtocol

__all__ = ["broadcast", "Hub"]

logger = logging.getLogger("wsfast")


def broadcast(connections: Iterable[WebSocketProtocol], message: str | bytes, raise_exceptions: bool = False) -> None:
    """Send ``message`` (str as text, bytes-like as binary) to every open connection in
    ``connections``, without waiting.

    Raises:
        TypeError: ``message`` is neither str nor bytes-like.
        ExceptionGroup: with ``raise_exceptions``, what writing to some connections raised (on
            Python 3.10, the first of those errors); without it they are logged and skipped.
    """
    text, data = message_payload(message)
    shared: bytes | None = None  # the frame, once a connection can take it as it is
    failures: list[Exception] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        if protocol.sending_fragments:
            logger.warning("skipped a broadcast to a connection sending a fragmented message")
            continue
        try:
            if protocol.sends_plain_frames and shared is None:
                shared = encode_frame(Opcode.TEXT if text else Opcode.BINARY, data)
            _send(connection, text, data, shared)
        except Exception as error:  # noqa: BLE001 - one connection's failure is not the others'
            if not raise_exceptions:
                logger.warning("skipped a broadcast to a connection: %s", error)
            failures.append(error)
    if failures and raise_exceptions:
        if sys.version_info >= (3, 11):
            raise ExceptionGroup("broadcast failed on some connections", failures)  # noqa: F821
        raise failures[0]


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

    Args:
        policy: "drop", "latest" or "close".
        close_code: the close code of the "close" policy.
        on_drop: called as ``on_drop(connection, topic, message)`` for every message dropped.

    Raises:
        ValueError: an unknown policy.
    """

    def __init__(self, *, policy: str = "drop", close_code: int = 1013,
                 on_drop: Callable[[WebSocketProtocol, str, str | bytes], object] | None = None) -> None:  # fmt: skip
        if policy not in ("drop", "latest", "close"):
            raise ValueError(f"policy must be 'drop', 'latest' or 'close', not {policy!r}")
        self.policy = policy
        self.close_code = close_code
        self.on_drop = on_drop
        self._subscribers: dict[str, set[WebSocketProtocol]] = {}
        self._subscriber_state: dict[WebSocketProtocol, _Subscriber] = {}

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, connection: WebSocketProtocol, topic: str) -> None:
        """Send ``connection`` what is published on ``topic`` from now on, until it unsubscribes or
        closes (a closed connection leaves every topic by itself)."""
        state = self._subscriber_state.get(connection)
        if state is None:
            state = self._subscriber_state[connection] = _Subscriber(self, connection)
        state.topics.add(topic)
        self._subscribers.setdefault(topic, set()).add(connection)

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
        without waiting. Returns how many subscribers it was written to.

        Raises:
            TypeError: ``message`` is neither str nor bytes-like.
        """
        text, data = message_payload(message)
        frame: bytes | None = None
        written = 0
        for connection in list(self._subscribers.get(topic, ())):
            protocol = connection.protocol
            if protocol.state is not State.OPEN:
                continue  # closing: it leaves by itself when closed
            state = self._subscriber_state[connection]
            if connection.writing_paused or protocol.sending_fragments:
                self._hold_back(state, topic, message)
                continue
            if protocol.sends_plain_frames and frame is None:
                frame = encode_frame(Opcode.TEXT if text else Opcode.BINARY, data)
            _send(connection, text, data, frame)
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
            text, data = message_payload(self.latest.pop(topic))
            _send(self.connection, text, data, None)

    def closed(self, _: object) -> None:
        self.hub.unsubscribe(self.connection)

    def forget(self) -> None:
        self.connection.remove_writable_listener(self.writable)
        self.connection.connection_lost_waiter.remove_done_callback(self.closed)


def _send(connection: WebSocketProtocol, text: bool, data: bytes, frame: bytes | None) -> None:
    """Send a message: ``frame`` as it is where the connection takes shared frames (and one was
    made), else encoded for this connection alone; then write it."""
    protocol = connection.protocol
    if frame is not None and protocol.sends_plain_frames:
        protocol.send_encoded(frame)
    elif text:
        protocol.send_text(data)
    else:
        protocol.send_binary(data)
    connection._flush()
