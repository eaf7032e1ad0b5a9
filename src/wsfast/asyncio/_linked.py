"""What the :class:`~wsfast.asyncio.fanout.Hub` backends that keep a link of their own (to a broker,
or to the workers' relay) share: the subscriptions to send, the bounded publish queue, the counts,
and a link that connects again with back-off whenever it breaks, until closed.

A backend subclasses :class:`LinkedBackend` and writes what its link does: ``_session`` (one link,
from connecting until it breaks), ``_queue_message`` (a message in its wire format), and the names
its log uses.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from .._counts import Counts

__all__ = ["LinkedBackend"]

logger = logging.getLogger("wsfast")


class LinkedBackend:
    """A backend's link, reconnected with back-off; its subscriptions, queue and counts.

    Args:
        max_queue: how many messages may wait to be sent.
        max_queue_bytes: how many bytes of messages may wait to be sent.
        max_message_bytes: the largest message sent or received.
        reconnect_delay: the first delay before connecting again; it doubles at each failure.
        max_reconnect_delay: the longest delay between two attempts.
        positive: more settings of the subclass, by name, that must be positive too.

    Raises:
        ValueError: a limit or delay that is not positive.
    """

    #: What the link is, and where messages go, for the log (the subclass names them).
    _LINK = "the link"
    _PEERS = "the other processes"

    def __init__(self, *, max_queue: int, max_queue_bytes: int, max_message_bytes: int, reconnect_delay: float,
                 max_reconnect_delay: float, **positive: float) -> None:  # fmt: skip
        settings = {"max_queue": max_queue, "max_queue_bytes": max_queue_bytes, "max_message_bytes": max_message_bytes,
                    "reconnect_delay": reconnect_delay, "max_reconnect_delay": max_reconnect_delay, **positive}  # fmt: skip
        for name, value in settings.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.max_message_bytes = max_message_bytes
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max(max_reconnect_delay, reconnect_delay)
        self._origin = b""
        self._deliver: Callable[[str, str | bytes], object] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None  # done when close() is called
        self._closed = False
        # "connecting" (queue what is published), "up" (queue and send), "down" (count it lost)
        self._state = "connecting"
        # What waits to be sent, in the subclass's form; how many of those are messages, and bytes.
        self._queue: collections.deque[Any] = collections.deque()
        self._queued_messages = 0
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()  # something to send: messages, or subscription changes
        # The topics with local subscribers; those this link sent a subscription for; and the
        # topics where the two differ, still to send (always a subset of the other two's union).
        self._interest: set[str] = set()
        self._sent: set[str] = set()
        self._changed: set[str] = set()
        self._counts = Counts(["published", "received", "dropped_full", "dropped_too_large", "lost", "garbage",
                               "reconnects", *self._MORE_COUNTERS], logger)  # fmt: skip
        self._counters = self._counts.values
        self._lost_in_outage = 0

    #: Counters of the subclass's own, beside the shared ones.
    _MORE_COUNTERS: tuple[str, ...] = ()

    # ------------------------------------------------------------------ HubBackend

    def start(self, origin: bytes, deliver: Callable[[str, str | bytes], object]) -> None:
        """Connect in the background, then keep connected: see
        :meth:`~wsfast.asyncio.fanout.HubBackend.start`.

        Raises:
            RuntimeError: no running event loop, or the backend was started already.
        """
        if self._task is not None or self._closed:
            raise RuntimeError(f"a {type(self).__name__} serves one hub, and starts once")
        loop = asyncio.get_running_loop()
        self._origin = origin
        self._deliver = deliver
        self._closing = loop.create_future()
        self._task = loop.create_task(self._run(), name=f"wsfast {type(self).__name__}")

    def publish(self, topic: str, message: str | bytes) -> None:
        """Queue ``message`` for the other hubs, or count why it is not sent (see the module's bounds)."""
        if self._closed or self._task is None:
            return
        data = message.encode("utf-8") if isinstance(message, str) else message
        if len(data) > self.max_message_bytes:
            self._counts.add("dropped_too_large", f"a message of {len(data)} bytes on {topic!r} is over "
                             f"max_message_bytes ({self.max_message_bytes}): not sent to {self._PEERS}")  # fmt: skip
            return
        if self._state == "down":
            self._lost_in_outage += 1
            self._counts.add("lost", f"{self._LINK} is down: messages are not sent to {self._PEERS}")
            return
        self._queue_message(topic, isinstance(message, str), data)

    def subscribe(self, topic: str) -> None:
        """Receive ``topic`` from the other hubs, as soon as the link can send the subscription."""
        self._interest.add(topic)
        self._note_change(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` from the other hubs."""
        self._interest.discard(topic)
        self._note_change(topic)

    async def close(self) -> None:
        """Stop the background task and close the link; what is queued is dropped."""
        self._closed = True
        self._state = "closed"
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)
        task, self._task = self._task, None
        if task is not None:
            # Cancelling is not always enough: a cancellation in the middle of a client library's
            # connect can be lost (seen with redis-py on uvloop); the session also ends when it
            # sees _closing done.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # the task closes its link
        self._forget_queue()

    @property
    def counters(self) -> Mapping[str, int]:
        """A snapshot of the counts: ``published`` (sent on the link), ``received`` (delivered
        from other hubs), ``dropped_full``, ``dropped_too_large``, ``lost`` (while the link was
        down), ``garbage`` (what came and did not parse) and ``reconnects``, and the subclass's."""
        return self._counts.snapshot()

    # ------------------------------------------------------------------ state, for tests and metrics

    @property
    def connected(self) -> bool:
        """Whether the link is up."""
        return self._state == "up"

    @property
    def topics(self) -> frozenset[str]:
        """The topics this backend receives (or will, once connected): those with local subscribers."""
        return frozenset(self._interest)

    # ------------------------------------------------------------------ for the subclass

    def _queue_message(self, topic: str, text: bool, data: bytes) -> None:
        """Put a message that passed the bounds of size and state in the queue (:meth:`_enqueue`)."""
        raise NotImplementedError

    async def _session(self, reconnecting: bool) -> None:
        """One link, from connecting until it breaks (it raises) or the backend closes; calls
        :meth:`_went_up` once it is up."""
        raise NotImplementedError

    def _address(self) -> str:
        """Where the link goes, for the log."""
        raise NotImplementedError

    def _expected_errors(self) -> tuple[type[BaseException], ...]:
        """The errors that break a link in the normal course of things: logged without a traceback."""
        return (OSError, asyncio.TimeoutError)

    def _enqueue(self, item: Any, size: int) -> None:
        """Queue one message of ``size`` bytes, unless the queue is full (then it is counted)."""
        if self._queued_messages >= self.max_queue or self._queued_bytes + size > self.max_queue_bytes:
            self._counts.add("dropped_full", f"the queue to {self._PEERS} is full: messages are not sent to them")
            return
        self._queue.append(item)
        self._queued_messages += 1
        self._queued_bytes += size
        self._wakeup.set()

    def _forget_queue(self) -> None:
        """Drop what waits to be sent."""
        self._queue.clear()
        self._queued_messages = self._queued_bytes = 0

    def _went_up(self, reconnecting: bool) -> None:
        """The link is up, its subscriptions sent: messages go out from now on."""
        self._state = "up"
        if reconnecting:
            self._counters["reconnects"] += 1
            logger.warning("%s is up again; %d messages were lost for %s meanwhile", self._LINK,
                           self._lost_in_outage, self._PEERS)  # fmt: skip
        self._lost_in_outage = 0
        if self._queue:
            self._wakeup.set()

    def _lost(self, count: int) -> None:
        """``count`` messages that were queued will not be sent."""
        self._lost_in_outage += count
        self._counts.add("lost", f"{self._LINK} is down: messages are not sent to {self._PEERS}", count)

    def _note_change(self, topic: str) -> None:
        """Remember that ``topic``'s subscription is to send, unless the link has it as wanted already."""
        if (topic in self._interest) == (topic in self._sent):
            self._changed.discard(topic)  # subscribed and unsubscribed again before it was sent
        else:
            self._changed.add(topic)
            self._wakeup.set()

    def _take_changes(self) -> tuple[list[str], list[str]]:
        """The subscriptions to send now: (topics wanted, topics no longer wanted), both sorted;
        they count as sent from here."""
        wanted = sorted(topic for topic in self._changed if topic in self._interest)
        unwanted = sorted(topic for topic in self._changed if topic not in self._interest)
        self._changed.clear()
        self._sent.update(wanted)
        self._sent.difference_update(unwanted)
        return wanted, unwanted

    def _start_over(self) -> list[str]:
        """A new link knows no subscription: every topic of interest is to send again (sorted)."""
        self._sent = set(self._interest)
        self._changed.clear()
        return sorted(self._sent)

    # ------------------------------------------------------------------ the link

    async def _run(self) -> None:
        """Connect, serve until the link breaks, wait, and again, until closed."""
        delay = self.reconnect_delay
        reconnecting = False
        assert self._closing is not None
        while not self._closed:
            try:
                await self._session(reconnecting)
            except Exception as error:  # noqa: BLE001 - whatever broke the link, connect again
                if self._closed:
                    return
                if self._state == "up":
                    reconnecting = True
                    delay = self.reconnect_delay
                    what = f"lost {self._LINK} ({error!r}); connecting again"
                else:
                    what = f"cannot connect {self._LINK} to {self._address()}: {error}; retrying"
                expected = isinstance(error, self._expected_errors())
                logger.warning("%s", what, exc_info=not expected)  # a traceback only for the unexpected
            finally:
                self._went_down()
            # jitter: processes do not come back in step; and close() need not wait for the delay
            await asyncio.wait([self._closing], timeout=delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_reconnect_delay)

    def _went_down(self) -> None:
        """What was queued will not be sent: lost; and new messages are lost until linked again."""
        if self._closed:
            return
        if self._queued_messages:
            self._lost(self._queued_messages)
        self._forget_queue()
        self._state = "down"

    def _delivered(self, topic: str, message: str | bytes) -> None:
        """Hand a message from another hub to this one (counted); its failure does not end the link."""
        self._counters["received"] += 1
        assert self._deliver is not None
        try:
            self._deliver(topic, message)
        except Exception:  # noqa: BLE001 - one message's failure must not end the link
            logger.exception("delivering a message from %s on %r failed", self._PEERS, topic)
