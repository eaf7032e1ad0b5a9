"""The messages a connection has received and the application has not read yet.

:class:`MessageQueue` is the one owner of a received message on the asyncio side: the queue of
whole messages, the message still arriving, how far a reader has got through it, and the
back-pressure that pauses reading. The connection puts what the sans-IO core reports (whole
messages, or the fragments of a message sent in several frames) and the readers take:
``get()`` for ``recv()``, ``get_piece()`` for ``recv_streaming()``.

Memory is bounded by what the peer is owed, however it fragments: a message still arriving is
one entry whose pieces are merged as they come once there are many (so a million one-byte
frames are a few pieces, not a million objects), the core bounds its size and its frame count,
and reading pauses while ``max_queue`` whole messages wait unread, inside a message too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["MessageQueue"]

Data = str | bytes

#: Pieces a message still arriving keeps apart (so recv_streaming hands on the frames as they
#: came); beyond it, the newest pieces are merged, each merge at least halving the piece count's
#: growth, so a message of n bytes costs O(n log n) copies and O(log n) pieces at the most.
_PIECES_KEPT = 32


class _Partial:
    """A message received in several frames, while it arrives or while a reader streams it."""

    __slots__ = ("empty", "pieces", "final", "started", "skipping")

    def __init__(self, empty: Data) -> None:
        self.empty = empty  # "" for text, b"" for binary
        self.pieces: list[Data] = []  # received and not yet taken by a reader
        self.final = False  # its last frame has arrived
        self.started = False  # a streaming reader has taken pieces of it
        self.skipping = False  # its reader left: drop what is left of it

    def add(self, data: Data, final: bool) -> None:
        if final:
            self.final = True
        if not data or self.skipping:
            return
        pieces = self.pieces
        pieces.append(data)
        while len(pieces) > _PIECES_KEPT and len(pieces[-2]) <= 2 * len(pieces[-1]):
            last = pieces.pop()
            pieces[-1] += last  # type: ignore[operator]

    def take_first(self) -> Data:
        """The oldest piece not taken yet (the list stays short: see _PIECES_KEPT)."""
        return self.pieces.pop(0) if self.pieces else self.empty

    def take(self) -> Data:
        """Every piece that has arrived and was not taken yet, as one."""
        pieces, self.pieces = self.pieces, []
        if len(pieces) == 1:
            return pieces[0]
        return self.empty.join(pieces)  # type: ignore[attr-defined]


class MessageQueue:
    """Messages received and not yet read, with back-pressure on the transport.

    Args:
        max_queue: whole messages waiting unread beyond which reading pauses; it resumes at half
            of it. None for no limit.
        pause_reading, resume_reading: called to stop and restart reading from the peer.
        closed_error: makes the exception a reader gets once the connection is closed and the
            queue is empty.
    """

    __slots__ = ("max_queue", "_pause_reading", "_resume_reading", "_closed_error", "_entries", "_receiving",
                 "_whole", "_waiter", "_paused", "_closed")  # fmt: skip

    def __init__(
        self,
        *,
        max_queue: int | None,
        pause_reading: Callable[[], None],
        resume_reading: Callable[[], None],
        closed_error: Callable[[], Exception],
    ) -> None:
        self.max_queue = max_queue
        self._pause_reading = pause_reading
        self._resume_reading = resume_reading
        self._closed_error = closed_error
        # Whole messages as str or bytes, and at most one _Partial (the last entry while it arrives).
        self._entries: deque[Data | _Partial] = deque()
        self._receiving: _Partial | None = None  # the message arriving in fragments
        self._whole = 0  # entries that are whole messages, the measure of back-pressure
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._closed = False

    def __len__(self) -> int:
        """Entries queued: whole messages, and the message arriving in fragments if any."""
        return len(self._entries)

    @property
    def paused(self) -> bool:
        """True while reading is paused for back-pressure."""
        return self._paused

    # ------------------------------------------------------------------ the connection's side

    def put(self, data: Data, final: bool = True) -> None:
        """A message, or a fragment of one, has arrived; ``final`` on a message's last fragment
        (a message in one frame is its own last fragment)."""
        partial = self._receiving
        if partial is None and final:  # a whole message, the common case
            self._entries.append(data)
            self._whole += 1
        else:
            if partial is None:
                partial = self._receiving = _Partial("" if type(data) is str else b"")
                self._entries.append(partial)
            partial.add(data, final)
            if final:
                self._receiving = None
                if not partial.skipping:  # a skipped message has left the queue already
                    self._whole += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.max_queue is not None and self._whole >= self.max_queue and not self._paused:
            # Inside a message too: a reader waiting for the end of the last one has nothing
            # whole ahead of it, and reading resumes as soon as the queue drains to half.
            self._paused = True
            self._pause_reading()

    def close(self) -> None:
        """No more messages will arrive: readers get what is queued, then the closed error."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _maybe_resume(self) -> None:
        if self._whole <= self.max_queue // 2:  # type: ignore[operator]
            self._paused = False
            self._resume_reading()

    # ------------------------------------------------------------------ the readers' side

    def get_nowait(self) -> Data | None:
        """The next message if it is queued whole and no message is part-read: the common case,
        kept short."""
        entries = self._entries
        if entries:
            entry = entries[0]
            if type(entry) is bytes or type(entry) is str:
                entries.popleft()
                self._whole -= 1
                if self._paused:
                    self._maybe_resume()
                return entry
        return None

    async def get(self) -> Data:
        """The next whole message, waiting for it. A cancelled ``get`` takes nothing away.

        Raises:
            ConnectionClosed: (from ``closed_error``) the connection closed and nothing is queued.
            RuntimeError: another coroutine is already waiting for a message.
        """
        entries = self._entries
        while True:
            if entries:
                entry = entries[0]
                if type(entry) is not _Partial:  # the common case, kept inline
                    entries.popleft()
                    self._whole -= 1
                    if self._paused:
                        self._maybe_resume()
                    return entry  # type: ignore[return-value]
                if entry.final:  # type: ignore[union-attr]
                    self._pop()
                    return entry.take()  # type: ignore[union-attr]
            waiter = self._new_waiter()
            try:
                await waiter
            finally:
                self._waiter = None

    async def get_piece(self) -> tuple[Data, bool]:
        """The next piece of the message being streamed, and whether it ends that message.

        Raises:
            ConnectionClosed: (from ``closed_error``) the connection closed and nothing is queued.
            RuntimeError: another coroutine is already waiting for a message.
        """
        entries = self._entries
        while True:
            if entries:
                entry = entries[0]
                if type(entry) is not _Partial:
                    self._pop()
                    return entry, True  # type: ignore[return-value]
                partial: _Partial = entry  # type: ignore[assignment]
                if partial.pieces or partial.final:
                    piece = partial.take_first()
                    partial.started = True
                    final = partial.final and not partial.pieces
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
        if entries and type(entries[0]) is _Partial and entries[0].started:  # type: ignore[union-attr]
            partial: _Partial = entries[0]  # type: ignore[assignment]
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
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter

    def check_single_reader(self) -> None:
        """Raises RuntimeError if a coroutine is already waiting for a message."""
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already waiting for a message on this connection")
