"""The messages a connection has received and the application has not read yet.

:class:`MessageQueue` is the one owner of a received message on the asyncio side: the queue of
whole messages, the message still arriving, how far a reader has got through it, and the
back-pressure that pauses reading. The connection puts what the sans-IO core reports (whole
messages, or the fragments of a message sent in several frames) and the readers take:
``get()`` for ``recv()``, ``get_piece()`` for ``recv_streaming()``.

Text is kept as the UTF-8 bytes received (the core has checked them) and decoded when a reader
takes it, unless the reader asks for bytes (``decode=False``, as websockets names it).

Memory is bounded by what the peer is owed, however it fragments: a message still arriving is
one entry whose pieces are merged as they come once there are many (so a million one-byte
frames are a few pieces, not a million objects), the core bounds its size and its frame count,
and reading pauses while ``max_queue`` whole messages wait unread, inside a message too.
"""

from __future__ import annotations

import asyncio
import codecs
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

from ..exceptions import ConnectionClosedOK

__all__ = ["MessageQueue"]

Data = str | bytes

#: Pieces a message still arriving keeps apart (so recv_streaming hands on the frames as they
#: came); beyond it, the newest pieces are merged, each merge at least halving the piece count's
#: growth, so a message of n bytes costs O(n log n) copies and O(log n) pieces at the most.
_PIECES_KEPT = 32


def _converted(data: bytes, text: bool, decode: bool | None) -> Data:
    """A message's bytes as the reader asked: decode None gives str for text and bytes for
    binary, True str for both, False bytes for both.

    Raises:
        UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True``.
    """
    if decode is None:
        return data.decode() if text else data
    return data.decode() if decode else data


class _Text:
    """A whole text message in the queue: its UTF-8 bytes (bytes alone mean binary)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Partial:
    """A message received in several frames, while it arrives or while a reader streams it."""

    __slots__ = ("text", "pieces", "final", "started", "skipping", "decoder")

    def __init__(self, text: bool) -> None:
        self.text = text
        self.pieces: list[bytes] = []  # received and not yet taken by a reader
        self.final = False  # its last frame has arrived
        self.started = False  # a streaming reader has taken pieces of it
        self.skipping = False  # its reader left: drop what is left of it
        self.decoder: codecs.IncrementalDecoder | None = None  # a streaming reader's, for str pieces

    def add(self, data: bytes, final: bool) -> None:
        if final:
            self.final = True
        if not data or self.skipping:
            return
        pieces = self.pieces
        pieces.append(data)
        while len(pieces) > _PIECES_KEPT and len(pieces[-2]) <= 2 * len(pieces[-1]):
            last = pieces.pop()
            pieces[-1] += last

    def take_first(self, decode: bool | None) -> tuple[Data, bool]:
        """The oldest piece not taken yet (the list stays short: see _PIECES_KEPT), as the reader
        asked (str pieces hold whole characters), and whether it ends the message.

        Raises:
            UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True``.
        """
        piece = self.pieces.pop(0) if self.pieces else b""
        final = self.final and not self.pieces
        if decode or (decode is None and self.text):
            if self.decoder is None:
                self.decoder = codecs.getincrementaldecoder("utf-8")()
            return self.decoder.decode(piece, final), final
        return piece, final

    def take(self, decode: bool | None) -> Data:
        """Every piece that has arrived and was not taken yet, as one, as the reader asked.

        Raises:
            UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True``.
        """
        pieces = self.pieces
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        converted = _converted(data, self.text, decode)
        self.pieces = []
        return converted


_PENDING, _DONE, _CANCELLED = 0, 1, 2


def _current_task_finder() -> Callable[[asyncio.AbstractEventLoop], Any]:
    """``asyncio.current_task`` without a Python frame per call (about 1,200 instructions per
    message): the C function from CPython 3.12; before, the dict that the Python function reads."""
    accelerated = sys.modules.get("_asyncio")
    if accelerated is not None and hasattr(accelerated, "current_task"):
        return accelerated.current_task  # type: ignore[no-any-return]  # the C twin of asyncio's
    tasks = getattr(asyncio.tasks, "_current_tasks", None)
    return tasks.get if isinstance(tasks, dict) else asyncio.current_task


_current_task = _current_task_finder()
_Future = asyncio.Future  # the C future where asyncio has one


def wake(waiter: asyncio.Future[None], now: bool) -> None:
    """Make the future a reader awaits done (nothing if it is done already). With ``now`` and no
    task running (a read callback), its task resumes before this returns, in the task's own
    context, instead of on the loop's next turn: on the standard loop that turn costs a
    ``call_soon`` and an extra ``epoll_wait`` per message (a 256 B echo server's CPU per round trip
    went from 21.3 to 19.5 us here; uvloop's turn is cheap). Else, or from inside a task, its
    callbacks run on the loop's next turn, as ``set_result`` does.

    The waiter is the loop's own future type, not a look-alike: asyncio's C tasks wait for one
    without the attribute look-ups and calls that any other awaitable costs them (about 1,800
    instructions per message).
    """
    if waiter.done():
        return
    if not now or _current_task(waiter.get_loop()) is not None:
        waiter.set_result(None)
        return
    # [(callback, context)]: a copy, as the Python future's own list empties as they are removed
    callbacks = tuple(waiter._callbacks or ())
    for callback, _context in callbacks:
        waiter.remove_done_callback(callback)
    waiter.set_result(None)  # done, with no callback left to schedule: they run here
    for callback, context in callbacks:
        try:
            context.run(callback, waiter)
        except RuntimeError:  # the context is entered already (run() checks before calling)
            waiter.get_loop().call_soon(callback, waiter, context=context)


class MessageQueue:
    """Messages received and not yet read, with back-pressure on the transport.

    Args:
        max_queue: whole messages waiting unread beyond which reading pauses; it resumes at half
            of it. None for no limit.
        pause_reading: called to stop reading from the peer, once ``max_queue`` whole messages
            wait unread.
        resume_reading: called to restart reading from the peer, once they are down to half of
            ``max_queue``.
        closed_error: makes the exception a reader gets once the connection is closed and the
            queue is empty.
        loop: the event loop the readers run on; by default the one running when a reader
            waits (asking for it costs a system call per wait on CPython 3.11: getpid).
        wake_after_reads: ``put()`` leaves the waiting reader to :meth:`read_done`, which the
            connection calls once each read has been decoded and its answers written. The
            reader then runs from the read callback, but after it: what it sends goes out at
            once, under the write buffer's back-pressure, not behind the rest of the read.
    """

    __slots__ = ("max_queue", "_pause_reading", "_resume_reading", "_closed_error", "_entries", "_receiving",
                 "_whole", "_waiter", "_paused", "_closed", "_loop", "_wake_after_reads", "_wake_due")  # fmt: skip

    def __init__(
        self,
        *,
        max_queue: int | None,
        pause_reading: Callable[[], None],
        resume_reading: Callable[[], None],
        closed_error: Callable[[], Exception],
        loop: asyncio.AbstractEventLoop | None = None,
        wake_after_reads: bool = False,
    ) -> None:
        self.max_queue = max_queue
        self._pause_reading = pause_reading
        self._resume_reading = resume_reading
        self._closed_error = closed_error
        # Whole messages (bytes for binary, _Text for text), and at most one _Partial (the last
        # entry while it arrives).
        self._entries: deque[bytes | _Text | _Partial] = deque()
        self._receiving: _Partial | None = None  # the message arriving in fragments
        self._whole = 0  # entries that are whole messages, the measure of back-pressure
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._closed = False
        self._loop = loop
        self._wake_after_reads = wake_after_reads
        self._wake_due = False  # a message came for the waiting reader during this read

    def __len__(self) -> int:
        """Entries queued: whole messages, and the message arriving in fragments if any."""
        return len(self._entries)

    @property
    def paused(self) -> bool:
        """True while reading is paused for back-pressure."""
        return self._paused

    # ------------------------------------------------------------------ the connection's side

    def put(self, data: bytes, final: bool = True, text: bool = False) -> None:
        """A message, or a fragment of one, has arrived; ``final`` on a message's last fragment
        (a message in one frame is its own last fragment), ``text`` for text (its UTF-8 bytes,
        checked already), on every fragment of the message."""
        partial = self._receiving
        if partial is None and final:  # a whole message, the common case
            self._entries.append(_Text(data) if text else data)
            self._whole += 1
        else:
            if partial is None:
                partial = self._receiving = _Partial(text)
                self._entries.append(partial)
            partial.add(data, final)
            if final:
                self._receiving = None
                if not partial.skipping:  # a skipped message has left the queue already
                    self._whole += 1
        if self.max_queue is not None and self._whole >= self.max_queue and not self._paused:
            # Inside a message too: a reader waiting for the end of the last one has nothing
            # whole ahead of it, and reading resumes as soon as the queue drains to half.
            self._paused = True
            self._pause_reading()
        waiter = self._waiter
        if waiter is not None:
            if self._wake_after_reads:
                self._wake_due = True  # read_done() wakes it
            else:  # the reader may run before this returns (see wake()): the queue is whole
                wake(waiter, True)

    def read_done(self) -> None:
        """The connection's read callback has done its own work (what it sends is written): the
        reader a message came for resumes now, from the callback (see ``wake_after_reads``)."""
        if self._wake_due:
            self._wake_due = False
            waiter = self._waiter
            if waiter is not None:
                wake(waiter, True)

    def close(self) -> None:
        """No more messages will arrive: readers get what is queued, then the closed error."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            wake(waiter, False)  # closing: the reader runs after the connection's own bookkeeping

    def _maybe_resume(self) -> None:
        if self._whole <= self.max_queue // 2:  # type: ignore[operator]  # paused, so max_queue is set
            self._paused = False
            self._resume_reading()

    # ------------------------------------------------------------------ the readers' side

    def get_nowait(self, decode: bool | None = None) -> Data | None:
        """The next message if it is queued whole and no message is part-read: the common case,
        kept short. ``decode`` as for :meth:`get`.

        Raises:
            UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True`` (the
                message stays queued).
        """
        entries = self._entries
        if entries:
            entry: Any = entries[0]  # told apart by type() in a local, which type checkers do not follow
            kind = type(entry)
            if kind is bytes:
                message: Data = entry if not decode else entry.decode()
            elif kind is _Text:
                message = entry.data.decode() if decode is not False else entry.data
            else:
                return None
            entries.popleft()
            self._whole -= 1
            if self._paused:
                self._maybe_resume()
            return message
        return None

    async def get(self, decode: bool | None = None, iterating: bool = False) -> Data:
        """The next whole message, waiting for it. A cancelled ``get`` takes nothing away.
        ``decode``: None for str from text and bytes from binary, True for str, False for bytes.
        ``iterating``: for ``async for`` (the connection's ``__anext__`` returns this coroutine),
        a normal close ends the iteration.

        Raises:
            ConnectionClosed: (from ``closed_error``) the connection closed and nothing is queued.
            StopAsyncIteration: instead of ConnectionClosedOK, when ``iterating``.
            RuntimeError: another coroutine is already waiting for a message.
            UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True`` (the
                message stays queued).
        """
        entries = self._entries
        while True:
            message = self.get_nowait(decode)
            if message is not None:
                return message
            if entries and entries[0].final:  # type: ignore[union-attr]  # a _Partial, arrived whole
                message = entries[0].take(decode)  # type: ignore[union-attr]  # the _Partial, as above
                self._pop()
                return message
            try:
                waiter = self._new_waiter()
            except ConnectionClosedOK:
                if iterating:
                    raise StopAsyncIteration from None
                raise
            try:
                await waiter
            finally:
                self._waiter = None

    async def get_piece(self, decode: bool | None = None) -> tuple[Data, bool]:
        """The next piece of the message being streamed, and whether it ends that message.
        ``decode`` as for :meth:`get`; str pieces hold whole characters.

        Raises:
            ConnectionClosed: (from ``closed_error``) the connection closed and nothing is queued.
            RuntimeError: another coroutine is already waiting for a message.
            UnicodeDecodeError: a binary message that is not UTF-8, with ``decode=True``.
        """
        entries = self._entries
        while True:
            message = self.get_nowait(decode)
            if message is not None:
                return message, True
            if entries:
                partial: _Partial = entries[0]  # type: ignore[assignment]  # no whole message: a _Partial
                if partial.pieces or partial.final:
                    piece, final = partial.take_first(decode)
                    partial.started = True
                    if final:
                        self._pop()
                    return piece, final
            waiter = self._new_waiter()
            try:
                await waiter
            finally:
                self._waiter = None

    def _pop(self) -> None:
        """The head entry, a whole message, is taken."""
        self._entries.popleft()
        self._whole -= 1
        if self._paused:
            self._maybe_resume()

    def abandon_message(self) -> None:
        """A streaming reader left its message before the end: the rest of it is dropped."""
        entries = self._entries
        if entries and type(entries[0]) is _Partial and entries[0].started:
            partial: _Partial = entries[0]
            partial.pieces.clear()
            if partial.final:
                self._pop()
            else:
                partial.skipping = True
                entries.popleft()  # put() drops its other pieces and never queues it again

    def _new_waiter(self) -> asyncio.Future[None]:
        """The future the reader awaits until something arrives; the caller clears ``_waiter``.

        Raises:
            RuntimeError: another coroutine is already waiting.
            ConnectionClosed: (from ``closed_error``) nothing more will arrive.
        """
        self.check_single_reader()
        if self._closed:
            raise self._closed_error()
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        waiter = self._waiter = _Future(loop=loop)
        return waiter

    def check_single_reader(self) -> None:
        """Raises RuntimeError if a coroutine is already waiting for a message."""
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already waiting for a message on this connection")
