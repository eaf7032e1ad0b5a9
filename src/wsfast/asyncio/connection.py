"""A WebSocket connection on asyncio: the user's side of one sans-IO connection.

This layer holds no protocol logic. It feeds what the transport reads to the sans-IO connection,
writes what that connection wants sent, hands the messages it reports to the one queue that
``recv()`` reads (``messages.MessageQueue``), and keeps the timers (keepalive, closing handshake)
that the sans-IO core, having no clock, cannot keep.
It is an ``asyncio.BufferedProtocol``, not a streams user: no extra task per read, and the loop
reads into one buffer per thread instead of allocating a fresh 256 KiB bytes object per read (the
frame decoder copies out what it keeps, so the buffer is free again once ``buffer_updated`` returns).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from ..connection import Connection as SansIOConnection
from ..connection import State
from ..events import BinaryFragment, Close, Ping, Pong, TextFragment
from ..exceptions import ConnectionClosed, ConnectionClosedOK, InvalidState, ProtocolError
from .messages import MessageQueue

__all__ = ["Connection"]

logger = logging.getLogger("wsfast")

Data = str | bytes

_READ_BUFFER_SIZE = 262144  # what the stdlib loop asks for when it reads without a buffer
_thread_local = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer. One is enough for every connection of the thread's loop: the
    loop fills it and calls ``buffer_updated`` at once, which consumes it before returning."""
    try:
        return _thread_local.read_buffer  # type: ignore[no-any-return]
    except AttributeError:
        _thread_local.read_buffer = memoryview(bytearray(_READ_BUFFER_SIZE))
        return _thread_local.read_buffer  # type: ignore[no-any-return]


class Connection(asyncio.BufferedProtocol):
    """One open WebSocket connection (client or server side).

    Args:
        protocol: the sans-IO connection to drive.
        ping_interval: seconds between keepalive pings; None to send none. Any data received
            counts as a sign of life, so a large, slow message never looks like a dead peer.
        ping_timeout: seconds to wait for the pong; then the connection closes with 1011.
        close_timeout: seconds to wait for the closing handshake before dropping the connection.
        max_queue: whole messages received but not yet read; beyond it, reading pauses
            (back-pressure), inside a message too; None for no limit.
        write_limit: bytes in the write buffer above which ``send`` waits for it to drain.
    """

    def __init__(
        self,
        protocol: SansIOConnection,
        *,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float | None = 10.0,
        max_queue: int | None = 16,
        write_limit: int = 65536,
    ) -> None:
        self.protocol = protocol
        # Fragments as they arrive, so recv_streaming() can hand them on; a message in one frame
        # still comes as one final fragment, which the queue holds as a whole message.
        protocol.stream_fragments = True
        # Text as its checked UTF-8 bytes: decoded when read, or never (recv(decode=False)).
        protocol.decode_text = False
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.write_limit = write_limit
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._messages = MessageQueue(max_queue=max_queue, pause_reading=self._pause_reading,
                                      resume_reading=self._resume_reading,
                                      closed_error=protocol.closed_error)  # fmt: skip
        self._stream: _MessagePieces | None = None  # the recv_streaming() iterator reading
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._pings: dict[bytes, tuple[float, asyncio.Future[float]]] = {}
        self._last_received = time.monotonic()
        self._keepalive: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._read_view = _read_buffer()
        self._latency = 0.0
        self.connection_lost_waiter: asyncio.Future[None] = self._loop.create_future()
        self.opened: asyncio.Future[None] = self._loop.create_future()

    # ------------------------------------------------------------------ what the user sees

    @property
    def max_queue(self) -> int | None:
        """Whole messages waiting unread beyond which reading pauses (the queue's own setting)."""
        return self._messages.max_queue

    @property
    def state(self) -> State:
        """The sans-IO connection's state: CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def close_code(self) -> int | None:
        """The close code received (1006 if the connection dropped), or None while open."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received, or None while open."""
        return self.protocol.close_reason

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the opening handshake, or None."""
        return getattr(self.protocol, "subprotocol", None)

    @property
    def request(self) -> Any:
        """The opening handshake's request."""
        return getattr(self.protocol, "request", None)

    @property
    def response(self) -> Any:
        """The opening handshake's response."""
        return getattr(self.protocol, "response", None)

    @property
    def latency(self) -> float:
        """Seconds between the last ping answered and its pong (keepalive's or ``ping()``'s); 0
        until one is answered."""
        return self._latency

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it."""
        return None if self.transport is None else self.transport.get_extra_info("peername")

    @property
    def local_address(self) -> Any:
        """This end's address."""
        return None if self.transport is None else self.transport.get_extra_info("sockname")

    async def recv(self, decode: bool | None = None) -> Data:
        """The next message: str for text, bytes for binary. ``decode=False`` returns text as its
        UTF-8 bytes (checked, not decoded: for parsers such as orjson that take bytes), and
        ``decode=True`` binary as str (as websockets names them).

        Raises:
            ConnectionClosedOK: the connection closed normally and every message has been read.
            ConnectionClosedError: it closed with an error, or dropped.
            RuntimeError: another coroutine is already waiting for a message.
            UnicodeDecodeError: ``decode=True`` and a binary message that is not UTF-8 (it stays
                queued).
        """
        message = self._ready_message(decode)
        if message is not None:
            return message
        return await self._messages.get(decode)

    def _ready_message(self, decode: bool | None = None) -> Data | None:
        """The next message if it is queued whole and no recv_streaming() is open (the common case,
        without a coroutine); else None, once an unfinished recv_streaming() has been ended.

        Raises:
            RuntimeError: another coroutine is already waiting for a message.
        """
        if self._stream is None:
            return self._messages.get_nowait(decode)
        self._messages.check_single_reader()
        self._end_stream()
        return None

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
        self._messages.check_single_reader()
        self._end_stream()
        self._stream = _MessagePieces(self, decode)
        return self._stream

    def _end_stream(self) -> None:
        """Whoever reads next ends the message a recv_streaming() left unfinished: its rest goes."""
        stream, self._stream = self._stream, None
        if stream is not None and not stream.done:
            stream.done = True
            self._messages.abandon_message()

    def _pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> Data:
        """The next message; the iteration ends on a normal close and raises ConnectionClosedError
        on any other.

        Raises:
            ConnectionClosedError: the connection closed with an error, or dropped.
        """
        message = self._ready_message()
        if message is not None:
            return message
        try:
            return await self._messages.get()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def send(self, message: Data | Iterable[Data] | AsyncIterable[Data], text: bool | None = None) -> None:
        """Send a message: str as text, bytes-like as binary; an iterable or async iterable of
        str or bytes is sent as one fragmented message. ``text=True`` sends bytes as a text frame
        (they must be UTF-8: sent as they are, for serializers such as orjson that make bytes),
        ``text=False`` a str as a binary frame (its UTF-8 encoding), as websockets names them.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: a message, or a fragment, of another type, or fragments that mix str and bytes.
        """
        kind = type(message)
        if text is None and (kind is bytes or kind is str):  # the common cases, kept short
            try:
                if kind is bytes:
                    self.protocol.send_binary(message)  # type: ignore[arg-type]
                else:
                    self.protocol.send_text(message)  # type: ignore[arg-type]
            except InvalidState:
                raise self.protocol.closed_error() from None
        elif self.protocol.state is not State.OPEN:
            raise self.protocol.closed_error()
        elif text is not None and isinstance(message, (str, bytes, bytearray, memoryview)):
            data = message.encode() if isinstance(message, str) else bytes(message)
            if text:
                self.protocol.send_text(data)
            else:
                self.protocol.send_binary(data)
        elif isinstance(message, str):
            self.protocol.send_text(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self.protocol.send_binary(bytes(message))
        elif isinstance(message, AsyncIterable):
            await self._send_fragments(message.__aiter__())
            return
        elif isinstance(message, Iterable):
            await self._send_fragments(_async_iterator(message))
            return
        else:
            raise TypeError(f"cannot send {type(message).__name__}: str, bytes or an iterable of them")
        self._flush()
        if self._writing_paused:
            await self._drain()

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
                    self.protocol.send_text(pending, fin=final)  # type: ignore[arg-type]
                else:
                    self.protocol.send_binary(bytes(pending), fin=final)  # type: ignore[arg-type]
                started = True
            else:
                self.protocol.send_continuation(pending, fin=final)
            self._flush()
            await self._drain()
            if final:
                return
            pending = following  # type: ignore[assignment]

    async def ping(self, data: bytes | None = None) -> asyncio.Future[float]:
        """Send a ping. Returns a future that resolves to the round-trip latency in seconds when
        the matching pong arrives.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ValueError: ``data`` is longer than 125 bytes, or is already awaiting its pong.
        """
        self._check_open()
        payload = os.urandom(4) if data is None else bytes(data)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        self.protocol.ping(payload)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (time.monotonic(), waiter)
        self._flush()
        return waiter

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: send a close frame, wait for the peer's (at most
        ``close_timeout`` seconds), then close the transport.

        Raises:
            ValueError: ``code`` may not be sent, or ``reason`` is too long.
        """
        if self.protocol.state is State.OPEN:
            self.protocol.close(code, reason)
            self._flush()
            self._arm_close_timer()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the transport is closed."""
        await asyncio.shield(self.connection_lost_waiter)

    def _check_open(self) -> None:
        if self.protocol.state is not State.OPEN:
            raise self.protocol.closed_error()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=self.write_limit)  # type: ignore[union-attr]
        self._flush()  # a client's upgrade request

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        if self.ping_interval is not None:
            self._last_received = time.monotonic()
        protocol = self.protocol
        if protocol.state is State.OPEN:
            protocol.receive_data(self._read_view[:nbytes])
        else:
            was_connecting = protocol.state is State.CONNECTING
            protocol.receive_data(self._read_view[:nbytes])
            if was_connecting:
                if protocol.state is State.CONNECTING:
                    self._handshake_pending()
                else:
                    self._handshake_done()
        self._process_events()
        self._flush()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._process_events()
        self._messages.close()
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.protocol.state is not State.CLOSED:
            self.protocol.receive_eof()
        for timer in (self._keepalive, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(self.protocol.handshake_error or ConnectionError("connection lost"))
            self.opened.exception()  # retrieved here: the opener may be gone already
        for _, waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(self.protocol.closed_error())
                waiter.exception()
        self._pings.clear()
        for drain in self._drain_waiters:
            if not drain.done():
                drain.set_result(None)
        if not self.connection_lost_waiter.done():
            self.connection_lost_waiter.set_result(None)
        self._messages.close()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self.protocol.hold_pongs()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.protocol.release_pongs()
        self._flush()
        for drain in self._drain_waiters:
            if not drain.done():
                drain.set_result(None)
        self._drain_waiters.clear()

    # ------------------------------------------------------------------ plumbing

    async def _drain(self) -> None:
        if self._writing_paused and not self.connection_lost_waiter.done():
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _handshake_pending(self) -> None:
        """A read left the opening handshake unfinished (a server may have a request to answer)."""

    def _handshake_done(self) -> None:
        # Success is the handshake's, not the state's: a peer may answer and close in one read.
        if self.protocol.handshake_done:
            if not self.opened.done():
                self.opened.set_result(None)
            self._schedule_keepalive()
        elif not self.opened.done():
            self.opened.set_exception(self.protocol.handshake_error or ConnectionError("handshake failed"))
            self.opened.exception()  # retrieved here: a server has no opener waiting on it

    def _process_events(self) -> None:
        messages = self._messages
        for event in self.protocol.events_received():
            kind = type(event)
            if kind is BinaryFragment or kind is TextFragment:
                messages.put(event.data, event.final, kind is TextFragment)  # type: ignore[attr-defined]
            elif kind is Pong:
                self._pong_received(event.payload)  # type: ignore[attr-defined]
            elif kind is Close:
                self._arm_close_timer()
            elif kind is Ping:
                pass  # answered by the sans-IO connection
        if self.protocol.state is State.CLOSED:
            messages.close()

    def _flush(self) -> None:
        protocol = self.protocol
        chunks = protocol.chunks_to_send()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        # One write per piece: a large payload goes to the transport as it is, never joined with
        # its header into a copy (the pieces are one or two but for a few control frames).
        for chunk in chunks:
            transport.write(chunk)
        if protocol.state is State.OPEN:
            return
        if protocol.should_close_transport:
            transport.close()
        elif self.protocol.state is State.CLOSING or self.protocol.state is State.CLOSED:
            self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        """Drop the connection if the closing handshake does not finish in time."""
        if self._close_timer is None and self.close_timeout is not None:
            self._close_timer = self._loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _pong_received(self, payload: bytes) -> None:
        entry = self._pings.pop(payload, None)
        if entry is None:
            return  # unsolicited pongs are allowed (RFC 6455 §5.5.3)
        sent_at, waiter = entry
        self._latency = time.monotonic() - sent_at
        if not waiter.done():
            waiter.set_result(self._latency)

    def _schedule_keepalive(self) -> None:
        if self.ping_interval is not None:
            self._keepalive = self._loop.call_later(self.ping_interval, self._keepalive_tick)

    def _keepalive_tick(self) -> None:
        if self.protocol.state is not State.OPEN:
            return
        assert self.ping_interval is not None
        idle = time.monotonic() - self._last_received
        if idle < self.ping_interval:  # data arrived lately: the peer is alive
            self._keepalive = self._loop.call_later(self.ping_interval - idle, self._keepalive_tick)
            return
        payload = os.urandom(4)
        self.protocol.ping(payload)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (time.monotonic(), waiter)
        self._flush()
        if self.ping_timeout is not None:
            self._keepalive = self._loop.call_later(self.ping_timeout, self._keepalive_expired, payload)
        else:
            self._schedule_keepalive()

    def _keepalive_expired(self, payload: bytes) -> None:
        if payload not in self._pings:  # the pong came
            self._schedule_keepalive()
            return
        if time.monotonic() - self._last_received < self.ping_timeout:  # type: ignore[operator]
            # No pong yet, but data is flowing (a large message): still alive; ask again later.
            self._pings.pop(payload)
            self._schedule_keepalive()
            return
        logger.info("keepalive ping timed out; closing the connection")
        self.protocol.fail(ProtocolError("keepalive ping timeout", close_code=1011))
        self._flush()


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
