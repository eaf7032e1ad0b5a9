"""The await API: a WebSocket connection whose messages are read with ``await recv()``.

Received data goes from the sans-IO core straight into the one queue that ``recv()`` reads
(``messages.MessageQueue``); sending waits while the write buffer is full. The I/O and the timers
are :class:`~wsfast.asyncio.protocol.WebSocketProtocol`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from ..connection import Connection as SansIOConnection
from ..connection import State
from .._kernels import compiled_twin
from .protocol import WebSocketProtocol

__all__ = ["Connection"]

# recv(), iteration and send() of a message, and the queue recv() reads: compiled beside the C kernels
if TYPE_CHECKING:  # the twin is the source of both, so type checkers read it
    from .._openpath import AwaitCore
    from .messages import MessageQueue
else:
    AwaitCore = compiled_twin("_openpath").AwaitCore
    MessageQueue = compiled_twin("asyncio.messages").MessageQueue

Data = str | bytes


class Connection(AwaitCore, WebSocketProtocol):
    """One open WebSocket connection (client or server side). ``recv()``, iteration and ``send()``
    are :class:`~wsfast._openpath.AwaitCore`'s, on the compiled hot path.

    Args:
        protocol: the sans-IO connection to drive.
        max_queue: whole messages received but not yet read; beyond it, reading pauses
            (back-pressure), inside a message too; None for no limit.

    Keyword Args:
        ping_interval (float | None): seconds between keepalive pings (20 by default); None to
            send none (see :class:`~wsfast.asyncio.protocol.WebSocketProtocol`).
        ping_timeout (float | None): seconds a keepalive ping has to be answered (any data
            received counts) before the connection closes with 1011 (20 by default); None to
            wait for ever.
        close_timeout (float | None): seconds to wait for the closing handshake before dropping
            the connection (10 by default); None to wait for ever.
        write_limit (int): bytes in the write buffer (64 KiB by default) above which ``send``
            waits.
    """

    def __init__(self, protocol: SansIOConnection, *, max_queue: int | None = 16, **options: Any) -> None:
        super().__init__(protocol, **options)
        self._messages = MessageQueue(max_queue=max_queue, pause_reading=self._pause_reading,
                                      resume_reading=self._resume_reading,
                                      closed_error=protocol.closed_error, loop=self._loop,
                                      wake_after_reads=True)  # fmt: skip
        # Fragments as they arrive, so recv_streaming() can hand them on; a message in one frame
        # still comes as one final fragment, which the queue holds as a whole message.
        protocol.stream_fragments = True
        # Text as its checked UTF-8 bytes: decoded when read, or never (recv(decode=False)).
        protocol.decode_text = False
        protocol.on_data = self._messages.put
        self._stream: _MessagePieces | None = None  # the recv_streaming() iterator reading
        self._drain_waiters: list[asyncio.Future[None]] = []

    # ------------------------------------------------------------------ what the user sees

    @property
    def max_queue(self) -> int | None:
        """Whole messages waiting unread beyond which reading pauses (the queue's own setting)."""
        return self._messages.max_queue

    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """The next message piece by piece, as its frames arrive: ``async for piece in
        ws.recv_streaming()``. The pieces are str for text (whole characters) or bytes for binary,
        or as ``decode`` says (see :meth:`recv`; bytes of text may end inside a character);
        a message sent in one frame comes as one piece, and pieces that arrived while nobody read
        may come joined. Reading on (``recv`` or a new ``recv_streaming``) before the last piece
        drops the rest of that message.

        Raises:
            RuntimeError: another coroutine is already waiting for a message.
        """
        self._end_stream()
        self._stream = _MessagePieces(self, decode)
        return self._stream

    def _end_stream(self) -> None:
        """Whoever reads next ends the message a recv_streaming() left unfinished: its rest goes.

        Raises:
            RuntimeError: another coroutine is already waiting for a message (nothing is ended).
        """
        self._messages.check_single_reader()
        stream, self._stream = self._stream, None
        if stream is not None and not stream.done:
            stream.done = True
            self._messages.abandon_message()

    async def _send_fragmented(self, message: Iterable[Data] | AsyncIterable[Data]) -> None:
        """``send()`` of anything but str and bytes-like: an iterable or async iterable of str or
        bytes, sent as one fragmented message.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: not an iterable, or a fragment of another type, or fragments that mix str
                and bytes.
        """
        if self.protocol.state is not State.OPEN:
            raise self.protocol.closed_error()
        if isinstance(message, AsyncIterable):
            await self._send_fragments(message.__aiter__())
        elif isinstance(message, Iterable):
            await self._send_fragments(_async_iterator(message))
        else:
            raise TypeError(f"cannot send {type(message).__name__}: str, bytes or an iterable of them")

    async def _send_fragments(self, fragments: AsyncIterator[Data]) -> None:
        try:
            first = await fragments.__anext__()
        except StopAsyncIteration:
            return
        text = isinstance(first, str)
        if not text and not isinstance(first, (bytes, bytearray, memoryview)):
            raise TypeError(f"cannot send a fragment of type {type(first).__name__}")
        pending: Data = first
        started = False
        while True:
            try:
                following = await fragments.__anext__()
            except StopAsyncIteration:
                following = None
            if following is not None and isinstance(following, str) is not text:
                raise TypeError("fragments of one message must all be str or all be bytes")
            self._check_open()
            final = following is None
            if not started:
                if text:
                    self.protocol.send_text(pending, fin=final)
                else:
                    self.protocol.send_binary(bytes(pending), fin=final)  # type: ignore[arg-type]  # bytes-like
                started = True
            else:
                self.protocol.send_continuation(pending, fin=final)
            self._flush()
            await self._drain()
            if final:
                return
            pending = following  # type: ignore[assignment]  # not None: not final

    async def ping(self, data: bytes | None = None) -> asyncio.Future[float]:
        """Send a ping. Returns a future that resolves to the round-trip latency in seconds when
        the matching pong arrives.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ValueError: ``data`` is longer than 125 bytes, or is already awaiting its pong.
        """
        return self._send_ping(data)[1]

    async def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong, a one-way heartbeat (websockets' name); str as its UTF-8.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._send_pong(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: send a close frame, wait for the peer's (at most
        ``close_timeout`` seconds), then close the transport.

        Raises:
            ValueError: ``code`` may not be sent, or ``reason`` is too long.
        """
        self._begin_close(code, reason)
        await self.wait_closed()

    # ------------------------------------------------------------------ flow control

    async def _drain(self) -> None:
        if self._writing_paused and not self.connection_lost_waiter.done():
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _wake_drainers(self) -> None:
        for drain in self._drain_waiters:
            if not drain.done():
                drain.set_result(None)
        self._drain_waiters.clear()

    def _on_write_resumed(self) -> None:
        self._wake_drainers()

    def _receiving_ended(self) -> None:
        self._messages.close()
        if self.connection_lost_waiter.done():
            self._wake_drainers()  # nothing will be written any more


class _MessagePieces:
    """What recv_streaming() returns: the pieces of one message, as they arrive."""

    def __init__(self, connection: Connection, decode: bool | None) -> None:
        self.connection = connection
        self.decode = decode
        self.done = False  # the message ended, or a later read took over

    def __aiter__(self) -> _MessagePieces:
        return self

    async def __anext__(self) -> Data:
        """The next piece.

        Raises:
            StopAsyncIteration: the message is complete.
            ConnectionClosed: the connection closed before the message ended.
            RuntimeError: another coroutine is already waiting for a message.
        """
        if self.done:
            raise StopAsyncIteration
        piece, final = await self.connection._messages.get_piece(self.decode)
        if final:
            self.done = True
            if self.connection._stream is self:
                self.connection._stream = None
        return piece


async def _async_iterator(items: Iterable[Data]) -> AsyncIterator[Data]:
    for item in items:
        yield item
