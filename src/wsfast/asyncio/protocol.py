"""The asyncio side of one sans-IO connection: the I/O and the clocks, for both APIs.

:class:`WebSocketProtocol` holds no protocol logic and no application API. It feeds what the
transport reads to the sans-IO connection, writes what that connection wants sent, and keeps the
timers (keepalive, closing handshake) that the sans-IO core, having no clock, cannot keep. What
happens to received data is its subclasses' business: the await API queues it for ``recv()``
(``connection.Connection``), the callback API hands it to the application at once
(``callbacks.CallbackConnection``).

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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .._buffers import message_payload
from .._facts import ConnectionFacts
from .._kernels import compiled_twin
from ..connection import Connection as SansIOConnection
from ..connection import State
from ..events import Close, Event, Ping, Pong
from ..exceptions import ProtocolError

__all__ = ["WebSocketProtocol"]

# the hot path (buffer_updated, the writes, sending a message), compiled beside the C kernels
if TYPE_CHECKING:  # the twin is the source of both, so type checkers read it
    from .._openpath import ProtocolCore as ProtocolCore  # re-exported for the callback API
else:
    ProtocolCore = compiled_twin("_openpath").ProtocolCore

logger = logging.getLogger("wsfast")

_READ_BUFFER_SIZE = 262144  # what the stdlib loop asks for when it reads without a buffer
_thread_local = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer. One is enough for every connection of the thread's loop: the
    loop fills it and calls ``buffer_updated`` at once, which consumes it before returning."""
    try:
        return _thread_local.read_buffer  # type: ignore[no-any-return]  # threading.local is untyped
    except AttributeError:
        _thread_local.read_buffer = memoryview(bytearray(_READ_BUFFER_SIZE))
        return _thread_local.read_buffer  # type: ignore[no-any-return]  # as above


#: Transports whose ``writelines`` sends its pieces in one system call and applies the write
#: buffer's limits as ``write`` does: uvloop's and aiofastnet's. The standard library's joins the
#: pieces into a copy before 3.12, and from 3.12 on its ``writelines`` does not pause the protocol
#: when the buffer goes over the limit (3.12.1 checked), so it gets one ``write``: of the pieces
#: joined, or of each piece for a large payload (``_openpath._JOIN_BELOW``).
_GATHERING_MODULES = ("uvloop.", "aiofastnet.")


def _no_transport(*args: object) -> bool:
    """The transport's ``write`` and ``is_closing`` until connection_made binds them: never
    called, as every write checks first that there is a transport."""
    return True


def _gathers_writes(transport: asyncio.BaseTransport) -> bool:
    return type(transport).__module__.startswith(_GATHERING_MODULES)


def _direct_socket(transport: asyncio.BaseTransport) -> int:
    """The file descriptor of a plain (not TLS) socket under the standard library's selector
    transport, whose ``write`` sends straight to it when its buffer is empty (``_write_now`` does
    the same without that Python-level ``write``); -1 for any other transport, or off POSIX."""
    if os.name != "posix" or type(transport).__module__ != "asyncio.selector_events":
        return -1
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    return -1 if sock is None else sock.fileno()


class WebSocketProtocol(ProtocolCore, ConnectionFacts, asyncio.BufferedProtocol):
    """One WebSocket connection's I/O (client or server side).

    Args:
        protocol: the sans-IO connection to drive.
        ping_interval: seconds between keepalive pings; None to send none. Any data received
            counts as a sign of life, so a large, slow message never looks like a dead peer.
        ping_timeout: seconds to wait for the pong; then the connection closes with 1011.
        close_timeout: seconds to wait for the closing handshake before dropping the connection.
        write_limit: bytes in the write buffer above which writing counts as paused: the await
            API's ``send`` waits, the callback API calls ``on_write_paused``, and automatic
            pongs are held back (only the latest is kept).
    """

    def __init__(
        self,
        protocol: SansIOConnection,
        *,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float | None = 10.0,
        write_limit: int = 65536,
    ) -> None:
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.write_limit = write_limit
        self.transport: asyncio.Transport | None = None
        self._transport_write: Callable[[Any], object] = _no_transport  # bound in connection_made
        self._transport_closing: Callable[[], bool] = _no_transport
        self._loop = asyncio.get_running_loop()
        self._writing_paused = False
        self._pings: dict[bytes, tuple[float, asyncio.Future[float]]] = {}
        self._last_received = time.monotonic()
        self._keepalive: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._read_view = _read_buffer()
        self._latency = 0.0
        self._in_read = False  # inside buffer_updated, which flushes what is sent when it ends
        self._held = 0
        self._hold_limit = write_limit
        self._large_frame = False  # the last read was large: the next may go straight into a payload
        self._read_into: memoryview | None = None  # what get_buffer handed out instead of _read_view
        self._gather_writes = False  # the transport's writelines is one system call (connection_made)
        self._socket_fd = -1  # a plain socket written straight to when its transport holds nothing
        self._transport_may_hold = True  # bytes went through transport.write since it was last empty
        self._writable_listeners: list[Callable[[], object]] = []  # told when writing resumes
        self.connection_lost_waiter: asyncio.Future[None] = self._loop.create_future()
        self.opened: asyncio.Future[None] = self._loop.create_future()

    # ------------------------------------------------------------------ what the user sees

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it."""
        return None if self.transport is None else self.transport.get_extra_info("peername")

    @property
    def local_address(self) -> Any:
        """This end's address."""
        return None if self.transport is None else self.transport.get_extra_info("sockname")

    async def wait_closed(self) -> None:
        """Wait until the transport is closed."""
        await asyncio.shield(self.connection_lost_waiter)

    def _check_open(self) -> None:
        if self.protocol.state is not State.OPEN:
            raise self.protocol.closed_error()

    def _send_ping(self, data: bytes | None) -> tuple[bytes, asyncio.Future[float]]:
        """Send a ping (4 random bytes when ``data`` is None): its payload, and a future that
        resolves to the latency when its pong arrives.

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
        return payload, waiter

    def _send_pong(self, data: str | bytes) -> None:
        """Send an unsolicited pong (a heartbeat, RFC 6455 §5.5.3): str as its UTF-8 bytes.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._check_open()
        self.protocol.pong(message_payload(data)[1])
        self._flush()

    def _begin_close(self, code: int, reason: str) -> None:
        """Send a close frame (when open) and drop the connection if the peer has not answered
        within ``close_timeout``.

        Raises:
            ValueError: ``code`` may not be sent, or ``reason`` is too long.
        """
        if self.protocol.state is State.OPEN:
            self.protocol.close(code, reason)
            self._flush()
            self._arm_close_timer()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection with ``code`` (for instance 1011 after the application failed)."""
        self.protocol.fail(ProtocolError(reason, close_code=code))
        self._flush()

    # ------------------------------------------------------------------ what subclasses add

    def _start_application(self) -> None:
        """The opening handshake succeeded (a server starts its handler here)."""

    def _receiving_ended(self) -> None:
        """No more data will come: the connection closed, or the peer sent EOF."""

    def _on_ping(self, payload: bytes) -> None:
        """A ping arrived (the sans-IO connection has answered it)."""

    def _on_pong(self, payload: bytes) -> None:
        """A pong arrived (after the latency of a ping waiting for it was recorded)."""

    def _on_write_paused(self) -> None:
        """The write buffer went over ``write_limit``."""

    def _on_write_resumed(self) -> None:
        """The write buffer drained below its low-water mark."""

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream, for this stream protocol
        self._transport_write = self.transport.write
        self._transport_closing = self.transport.is_closing
        self._gather_writes = _gathers_writes(transport)
        self._socket_fd = _direct_socket(transport)
        self._transport_may_hold = True  # it may hold what was written before it came here (a proxy's)
        self.transport.set_write_buffer_limits(high=self.write_limit)
        self._flush()  # a client's upgrade request

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._process_events()
        self._receiving_ended()
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._socket_fd = -1  # closed: its number may be another file's soon
        if not self.transport.is_closing():  # type: ignore[union-attr]  # connection_made set it
            # The peer closed first. Python 3.10's TLS transport does not mark itself closed
            # then, and warns "unclosed transport" when it is collected.
            self.transport.close()  # type: ignore[union-attr]  # as above
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
        if not self.connection_lost_waiter.done():
            self.connection_lost_waiter.set_result(None)
        self._receiving_ended()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self.protocol.hold_pongs()
        self._on_write_paused()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.protocol.release_pongs()
        self._flush()
        self._on_write_resumed()
        for listener in list(self._writable_listeners):
            listener()

    def add_writable_listener(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` each time the write buffer drains after going over ``write_limit``
        (for a fan-out hub that held messages back), until :meth:`remove_writable_listener`."""
        self._writable_listeners.append(listener)

    def remove_writable_listener(self, listener: Callable[[], object]) -> None:
        """Stop calling ``listener``; not an error if it was not listening."""
        if listener in self._writable_listeners:
            self._writable_listeners.remove(listener)

    @property
    def writing_paused(self) -> bool:
        """True while the write buffer is over ``write_limit``."""
        return self._writing_paused

    # ------------------------------------------------------------------ plumbing

    def _handshake_pending(self) -> None:
        """A read left the opening handshake unfinished (a server may have a request to answer)."""

    def _handshake_done(self) -> None:
        # Success is the handshake's, not the state's: a peer may answer and close in one read.
        if self.protocol.handshake_done:
            if not self.opened.done():
                self.opened.set_result(None)
            self._schedule_keepalive()
            self._start_application()
        elif not self.opened.done():
            self.opened.set_exception(self.protocol.handshake_error or ConnectionError("handshake failed"))
            self.opened.exception()  # retrieved here: a server has no opener waiting on it

    def _process_events(self, events: list[Event] | None = None) -> None:
        """Act on the sans-IO connection's events (``events``, already taken, or its own): data
        went to ``on_data`` as it was decoded, so these are pings, pongs and close frames."""
        if events is None:
            events = self.protocol.events_received()
        for event in events:
            kind = type(event)
            if kind is Pong:
                self._pong_received(event.payload)  # type: ignore[attr-defined]  # a Pong: its type is kind
            elif kind is Close:
                self._arm_close_timer()
            elif kind is Ping:
                self._on_ping(event.payload)  # type: ignore[attr-defined]  # a Ping: its type is kind
        if self.protocol.state is State.CLOSED:
            self._receiving_ended()

    def _arm_close_timer(self) -> None:
        """Drop the connection if the closing handshake does not finish in time."""
        if self._close_timer is None and self.close_timeout is not None:
            self._close_timer = self._loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _pong_received(self, payload: bytes) -> None:
        entry = self._pings.pop(payload, None)
        if entry is not None:  # else unsolicited, which is allowed (RFC 6455 §5.5.3)
            sent_at, waiter = entry
            self._latency = time.monotonic() - sent_at
            if not waiter.done():
                waiter.set_result(self._latency)
        self._on_pong(payload)

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
        payload, _ = self._send_ping(None)
        if self.ping_timeout is not None:
            self._keepalive = self._loop.call_later(self.ping_timeout, self._keepalive_expired, payload)
        else:
            self._schedule_keepalive()

    def _keepalive_expired(self, payload: bytes) -> None:
        if payload not in self._pings:  # the pong came
            self._schedule_keepalive()
            return
        if time.monotonic() - self._last_received < self.ping_timeout:  # type: ignore[operator]  # set: it armed this
            # No pong yet, but data is flowing (a large message): still alive; ask again later.
            self._pings.pop(payload)
            self._schedule_keepalive()
            return
        logger.info("keepalive ping timed out; closing the connection")
        self._fail(1011, "keepalive ping timeout")
