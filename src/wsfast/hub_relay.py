"""The relay that links the hubs of :func:`~wsfast.workers.run_workers`' workers, without a broker.

The relay (:class:`HubRelay`) runs in the supervisor's own loop, one thread: it listens on a Unix
socket in a directory of its own (mode 0700: only this user can connect), and each worker's backend
connects to it, so that a restarted worker, or one whose link broke, simply connects again and
sends its subscriptions again. It forwards a message only to the links subscribed to its topic
(a worker does not decode what it has no subscriber for), never back to its sender, and in the
order each worker sent them.

Wire format on a link, both ways: records of a 4-byte big-endian length (of what follows it), a
type byte, a 2-byte big-endian topic length, the topic (UTF-8; at most
:data:`~wsfast.asyncio.fanout.MAX_TOPIC_BYTES`) and the data. Types: ``TEXT`` (0x01, UTF-8 data)
and ``BINARY`` (0x02) messages, ``SUBSCRIBE`` (0x03) and ``UNSUBSCRIBE`` (0x04) a topic (no data),
``PING`` (0x05, no topic, at most 64 bytes of data) that the relay answers with a ``PONG`` (0x06)
of the same data once it has handled every record before it.

The relay's bounds, each counted in :attr:`HubRelay.counters` and logged at most once per second
and kind:

- at most ``max_queue_bytes`` (64 MiB by default) wait for each link: a worker that stops reading
  misses the messages past it (``dropped_full``) while the others get all of theirs;
- a record from a worker that does not parse (its length, type or topic; a message over
  ``max_message_bytes``, 16 MiB by default) is ``garbage``: a bug or corruption, after which the
  stream cannot be trusted, so the relay closes that link (the worker connects again);
- the topics the relay keeps for a link take at most :data:`MAX_RELAY_TOPIC_BYTES`; past it the link
  gets every topic (``unfiltered``) and its hub skips the ones it has no subscriber for;
- at most ``max_links`` links: a connection past it is closed at once (``refused``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import selectors
import shutil
import socket
import struct
import tempfile
from collections.abc import Mapping

from ._counts import Counts
from .asyncio.fanout import MAX_TOPIC_BYTES

__all__ = ["HubRelay", "MAX_MESSAGE_BYTES", "MAX_QUEUE_BYTES", "MAX_RELAY_TOPIC_BYTES", "TEXT", "BINARY", "SUBSCRIBE",
           "UNSUBSCRIBE", "PING", "PONG", "HEAD_BYTES", "record_head", "parse_head"]  # fmt: skip

logger = logging.getLogger("wsfast")

#: The largest message the relay takes from a worker, in bytes of data (of UTF-8 for text).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: The bytes that may wait in the relay for one worker that does not read fast enough.
MAX_QUEUE_BYTES = 64 * 1024 * 1024
#: The bytes of topic names (plus a fixed cost per topic) the relay keeps for one link.
MAX_RELAY_TOPIC_BYTES = 8 * 1024 * 1024
_TOPIC_OVERHEAD = 64  # about what a set entry and a bytes object cost beyond the name

#: A record's type byte.
TEXT, BINARY, SUBSCRIBE, UNSUBSCRIBE, PING, PONG = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
_MAX_PING_BYTES = 64
_HEAD = struct.Struct("!IBH")  # length, type, topic length
#: The bytes of a record before its topic: length, type and topic length.
HEAD_BYTES = _HEAD.size
_READ_BYTES = 256 * 1024
_BUFFERS_PER_SEND = 64  # iovecs per sendmsg, well under IOV_MAX
_SENDS_PER_FLUSH = 16  # so that one fast reader does not hold the loop


def record_head(kind: int, topic: bytes, data_bytes: int) -> bytes:
    """A record's start: its length, type, topic length and ``topic``; ``data_bytes`` of data follow."""
    return _HEAD.pack(3 + len(topic) + data_bytes, kind, len(topic)) + topic


def parse_head(buffer: bytes | bytearray, offset: int, max_message_bytes: int) -> tuple[int, int, int]:
    """(type, topic length, data length) of the record whose :data:`HEAD_BYTES` start at ``offset``.

    Args:
        buffer: holds at least :data:`HEAD_BYTES` from ``offset``.
        offset: where the record starts.
        max_message_bytes: the largest data allowed.

    Raises:
        ValueError: the lengths do not add up, the topic is over
            :data:`~wsfast.asyncio.fanout.MAX_TOPIC_BYTES`, or the data over ``max_message_bytes``.
    """
    length, kind, topic_bytes = _HEAD.unpack_from(buffer, offset)
    if length < 3 or topic_bytes > length - 3:
        raise ValueError(f"a record of {length} bytes with a topic of {topic_bytes}")
    if topic_bytes > MAX_TOPIC_BYTES:
        raise ValueError(f"a topic of {topic_bytes} bytes, over {MAX_TOPIC_BYTES}")
    data_bytes = length - 3 - topic_bytes
    if data_bytes > max_message_bytes:
        raise ValueError(f"a message of {data_bytes} bytes, over max_message_bytes ({max_message_bytes})")
    return kind, topic_bytes, data_bytes


class _Link:
    """One worker's connection to the relay: what it sent not yet parsed, what waits for it, its topics."""

    __slots__ = ("sock", "fd", "received", "out", "offset", "queued", "topics", "topic_bytes", "events")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.received = bytearray()
        self.out: collections.deque[bytes | bytearray] = collections.deque()
        self.offset = 0  # sent of out[0]
        self.queued = 0  # bytes in out, less offset
        self.topics: set[bytes] | None = set()  # None: every topic
        self.topic_bytes = 0
        self.events = selectors.EVENT_READ


class HubRelay:
    """The supervisor's side of linked hubs: a Unix socket that the workers' hubs connect to, and
    each message one of them sends, written to the others that subscribed to its topic.

    It does no I/O of its own accord: :func:`run_workers` (or :meth:`poll`) waits on its selector and
    hands it the events of its sockets (:meth:`handle`), then lets it write (:meth:`flush`).

    Args:
        path: where to listen; by default in a new directory that only this user can enter, removed by
            :meth:`close`.
        selector: where to register its sockets (shared with the caller's); a new one by default.
        max_links: how many connections at once; one past it is closed at once.
        max_queue_bytes: the bytes that may wait for one link (see the module's bounds).
        max_message_bytes: the largest message relayed; a record with a larger one is garbage.

    Raises:
        ValueError: a limit that is not positive, or no Unix sockets on this system.
        OSError: the socket cannot be bound.
    """

    def __init__(self, path: str | None = None, *, selector: selectors.BaseSelector | None = None,
                 max_links: int = 64, max_queue_bytes: int = MAX_QUEUE_BYTES,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:  # fmt: skip
        for name, value in [("max_links", max_links), ("max_queue_bytes", max_queue_bytes),
                            ("max_message_bytes", max_message_bytes)]:  # fmt: skip
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if not hasattr(socket, "AF_UNIX"):
            raise ValueError("linked hubs need Unix sockets, which this system does not have")
        self.max_links = max_links
        self.max_queue_bytes = max_queue_bytes
        self.max_message_bytes = max_message_bytes
        self._directory: str | None = None
        if path is None:
            # mkdtemp makes it 0700; $TMPDIR can be too long for a socket's path (about 100 bytes)
            self._directory = tempfile.mkdtemp(prefix="wsfast-hub-")
            if len(os.fsencode(self._directory)) > 80 and os.path.isdir("/tmp"):
                os.rmdir(self._directory)
                self._directory = tempfile.mkdtemp(prefix="wsfast-hub-", dir="/tmp")
            path = os.path.join(self._directory, "relay")
        self.path = path
        self._own_selector = selector is None
        self._selector = selector if selector is not None else selectors.DefaultSelector()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(path)
            self._listener.listen(128)
            self._listener.setblocking(False)
            self._selector.register(self._listener, selectors.EVENT_READ, None)
        except BaseException:
            self._listener.close()
            self._remove_files()
            if self._own_selector:
                self._selector.close()
            raise
        self._links: dict[int, _Link] = {}  # by descriptor: unique among a selector's keys
        self._pending: set[_Link] = set()  # links with something to write, not yet tried
        self._closed = False
        self._counts = Counts(["received", "relayed", "dropped_full", "garbage", "unfiltered", "links", "refused"],
                              logger)  # fmt: skip
        self._counters = self._counts.values

    # ------------------------------------------------------------------ state

    @property
    def counters(self) -> Mapping[str, int]:
        """A snapshot of the counts: ``received`` (messages from the links), ``relayed`` (copies
        queued for other links), ``dropped_full`` (copies not queued: their link's queue was full),
        ``garbage`` (records that did not parse; their link closed), ``unfiltered`` (links past
        :data:`MAX_RELAY_TOPIC_BYTES`, given every topic), ``links`` (accepted) and ``refused``."""
        return self._counts.snapshot()

    @property
    def links(self) -> int:
        """How many links are open."""
        return len(self._links)

    @property
    def queued_bytes(self) -> int:
        """The bytes waiting in the relay for all the links together."""
        return sum(link.queued for link in self._links.values())

    # ------------------------------------------------------------------ the loop

    def poll(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds for its sockets, and serve them: for a relay with a selector
        of its own (a shared selector's other events are not its)."""
        for key, events in self._selector.select(timeout):
            self.handle(key, events)
        self.flush()

    def handle(self, key: selectors.SelectorKey, events: int) -> bool:
        """Serve ``events`` of ``key``, if the key is one of the relay's; whether it was."""
        if key.fileobj is self._listener:
            self._accept()
            return True
        link = self._links.get(key.fd)
        if link is None:
            return False
        if events & selectors.EVENT_WRITE:
            self._send(link)
        if events & selectors.EVENT_READ and link.fd in self._links:
            self._read(link)
        return True

    def flush(self) -> None:
        """Write what the last events queued, as far as the links take it now."""
        pending, self._pending = self._pending, set()
        for link in pending:
            if link.fd in self._links:
                self._send(link)

    def close(self) -> None:
        """Close every link and the listening socket, and remove its path."""
        if self._closed:
            return
        self._closed = True
        for link in list(self._links.values()):
            self._drop(link)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._remove_files()
        if self._own_selector:
            self._selector.close()

    def _forget_in_child(self) -> None:
        """In a forked worker: close its copies of the relay's sockets, so that a link the relay
        closes reaches its worker's end. The selector is the supervisor's (an epoll set is shared
        across fork): not touched."""
        self._listener.close()
        for link in self._links.values():
            link.sock.close()

    def _remove_files(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # ------------------------------------------------------------------ links

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors, say: the next event tries again
                self._counts.add("refused", f"cannot accept a hub link: {error}", 0)
                return
            if len(self._links) >= self.max_links:
                self._counts.add("refused", f"refused a hub link: {self.max_links} are open already")
                sock.close()
                continue
            sock.setblocking(False)
            link = _Link(sock)
            self._links[link.fd] = link
            self._selector.register(sock, selectors.EVENT_READ, None)
            self._counters["links"] += 1

    def _drop(self, link: _Link) -> None:
        """Close a link; what waited for it goes (its worker is gone or will connect again)."""
        self._links.pop(link.fd, None)
        self._pending.discard(link)
        try:
            self._selector.unregister(link.sock)
        except (KeyError, ValueError):
            pass
        link.sock.close()
        link.out.clear()
        link.queued = 0
        link.received = bytearray()

    def _read(self, link: _Link) -> None:
        try:
            data = link.sock.recv(_READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            logger.debug("a hub link broke: %s", error)
            self._drop(link)
            return
        if not data:
            self._drop(link)  # its worker ended, or closed its hub
            return
        buffer = link.received
        buffer += data
        position = 0
        while len(buffer) - position >= HEAD_BYTES:
            try:
                kind, topic_bytes, data_bytes = parse_head(buffer, position, self.max_message_bytes)
                end = position + HEAD_BYTES + topic_bytes + data_bytes
                if len(buffer) < end:
                    break
                self._record(link, kind, buffer, position, topic_bytes, data_bytes, end)
            except ValueError as error:
                self._counts.add("garbage", f"closed a hub link that sent a record that does not parse: {error}")
                self._drop(link)
                return
            position = end
        del buffer[:position]

    def _record(self, link: _Link, kind: int, buffer: bytearray, position: int, topic_bytes: int, data_bytes: int,
                end: int) -> None:  # fmt: skip
        """Act on one record of ``link``.

        Raises:
            ValueError: an unknown type, or a record of its type with what it must not have.
        """
        start = position + HEAD_BYTES
        topic = bytes(buffer[start:start + topic_bytes])
        if kind == TEXT or kind == BINARY:
            record = buffer[position:end]  # one copy, shared by every link it goes to
            self._counters["received"] += 1
            for other in self._links.values():
                if other is not link and (other.topics is None or topic in other.topics):
                    self._queue(other, record)
        elif kind == SUBSCRIBE or kind == UNSUBSCRIBE:
            if data_bytes:
                raise ValueError("a subscription with data")
            self._subscription(link, topic, kind == SUBSCRIBE)
        elif kind == PING:
            if topic_bytes or data_bytes > _MAX_PING_BYTES:
                raise ValueError("a ping with a topic, or more than 64 bytes")
            self._queue(link, record_head(PONG, b"", data_bytes) + bytes(buffer[start:end]), counted=False)
        else:
            raise ValueError(f"an unknown record type {kind:#04x}")

    def _subscription(self, link: _Link, topic: bytes, subscribe: bool) -> None:
        topics = link.topics
        if topics is None:
            return  # unfiltered already
        cost = len(topic) + _TOPIC_OVERHEAD
        if subscribe and topic not in topics:
            if link.topic_bytes + cost > MAX_RELAY_TOPIC_BYTES:
                link.topics, link.topic_bytes = None, 0
                self._counts.add("unfiltered", f"a hub link subscribed to over {MAX_RELAY_TOPIC_BYTES} bytes of topics: "
                            "it gets every topic from now on")  # fmt: skip
                return
            topics.add(topic)
            link.topic_bytes += cost
        elif not subscribe and topic in topics:
            topics.remove(topic)
            link.topic_bytes -= cost

    def _queue(self, link: _Link, record: bytes | bytearray, counted: bool = True) -> None:
        if link.queued + len(record) > self.max_queue_bytes:
            self._counts.add("dropped_full", "a worker does not read its hub link fast enough: "
                        f"over {self.max_queue_bytes} bytes wait for it; messages to it are dropped")  # fmt: skip
            return
        link.out.append(record)
        link.queued += len(record)
        if counted:
            self._counters["relayed"] += 1
        if not link.events & selectors.EVENT_WRITE:
            self._pending.add(link)

    def _send(self, link: _Link) -> None:
        """Write what waits for ``link`` until it takes no more; then wait for it to be writable."""
        out = link.out
        for _ in range(_SENDS_PER_FLUSH):
            if not out:
                break
            buffers: list[bytes | bytearray | memoryview] = list(itertools.islice(out, _BUFFERS_PER_SEND))
            if link.offset:
                buffers[0] = memoryview(buffers[0])[link.offset:]
            try:
                sent = link.sock.sendmsg(buffers)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                logger.debug("a hub link broke: %s", error)
                self._drop(link)
                return
            link.queued -= sent
            sent += link.offset
            while out and sent >= len(out[0]):
                sent -= len(out.popleft())
            link.offset = sent
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
        if events != link.events:
            link.events = events
            self._selector.modify(link.sock, events, None)

