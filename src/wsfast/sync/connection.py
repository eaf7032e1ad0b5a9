"""The synchronous API's connection: blocking ``send`` and ``recv`` on a socket, with threads.

websockets' ``websockets.sync`` names and semantics. One background thread per connection reads
the socket and feeds the sans-IO core, and another sends the keepalive pings (unless
``ping_interval`` is None); the application's threads send. One lock guards the core,
which is not thread-safe, and keeps what goes out in order. Received messages wait in a queue of
``max_queue`` entries: while it is full the reading thread waits, so the socket is not read and
TCP pushes back on the peer.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._buffers import message_payload
from .._facts import ConnectionFacts
from ..connection import Connection as SansIOConnection
from ..connection import State
from ..events import BinaryMessage, Close, Pong, TextMessage
from ..exceptions import ConnectionClosed, ConnectionClosedOK, InvalidState, ProtocolError
from ..handshake import reject
from ..http11 import Response

if TYPE_CHECKING:
    from ._tls_in_tls import TLSInTLS

__all__ = ["Connection"]

logger = logging.getLogger("wsfast")

Data = str | bytes

_READ_SIZE = 65536
_CLOSED = object()  # put in the queue once nothing more will come


class Connection(ConnectionFacts):
    """One open WebSocket connection, used from any thread.

    Args:
        sock: the connected socket (TLS wrapped already, for ``wss://``).
        protocol: the sans-IO connection, OPEN (its handshake done on ``sock``).
        ping_interval: seconds without data from the peer before a keepalive ping; None for none.
        ping_timeout: seconds that ping (or any data) has to come back before the connection fails
            with 1011 "keepalive ping timeout"; None to wait for ever. As in the asyncio API.
        close_timeout: seconds to wait for the closing handshake before dropping the connection.
        max_queue: messages received but not read yet; beyond it, reading pauses. None: no limit.
    """

    def __init__(self, sock: socket.socket | TLSInTLS, protocol: SansIOConnection, *, ping_interval: float | None = 20.0,
                 ping_timeout: float | None = 20.0, close_timeout: float | None = 10.0,
                 max_queue: int | None = 16) -> None:  # fmt: skip
        self.socket = sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Frames go out as they are made: Nagle's algorithm would hold a small one back until
            # the previous one is acknowledged, up to the peer's delayed ACK (tens of ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self._last_received = time.monotonic()
        self._lock = threading.Lock()  # the sans-IO core and the order of what is written
        self._messages: queue.Queue[Any] = queue.Queue(maxsize=max_queue or 0)
        self._pings: dict[bytes, tuple[float, threading.Event]] = {}
        self._reading_done = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name="wsfast-reader", daemon=True)
        self._latency = 0.0
        self._closed = False

    def respond(self, status_code: int, text: str) -> Response:
        """A response refusing the handshake with ``text`` as its body, for a server's
        ``process_request`` to return (websockets' name).

        Raises:
            ValueError: the status cannot carry a body.
        """
        return reject(status_code, text)

    def start(self) -> None:
        """Start reading: deliver what came with the handshake, then read the socket."""
        self._handle(self.protocol.events_received())
        self._reader.start()
        if self.ping_interval is not None:
            threading.Thread(target=self._keepalive, name="wsfast-keepalive", daemon=True).start()

    # ------------------------------------------------------------------ what the user sees

    @property
    def remote_address(self) -> Any:
        return self.socket.getpeername()

    @property
    def local_address(self) -> Any:
        return self.socket.getsockname()

    def recv(self, timeout: float | None = None) -> Data:
        """The next message: str for text, bytes for binary, waiting at most ``timeout`` seconds.

        Raises:
            TimeoutError: nothing came within ``timeout``.
            ConnectionClosedOK: the connection closed normally and every message has been read.
            ConnectionClosedError: it closed with an error, or dropped.
        """
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no message within {timeout} s") from None
        if message is _CLOSED:
            self._messages.put(_CLOSED)  # for the next reader too
            raise self.protocol.closed_error()
        return message  # type: ignore[no-any-return]  # the queue holds messages and _CLOSED

    def recv_streaming(self) -> Iterator[Data]:
        """The next message as pieces: here, the whole message as one piece (the sync API gathers
        messages whole; websockets' name, so that code written for it runs).

        Raises:
            ConnectionClosed: as :meth:`recv`.
        """
        yield self.recv()

    def __iter__(self) -> Iterator[Data]:
        """Messages until the connection closes normally (an error raises ConnectionClosedError)."""
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def send(self, message: Data | Iterable[Data], text: bool | None = None) -> None:
        """Send a message: str as text, bytes-like as binary, an iterable of str or bytes as one
        fragmented message; ``text`` as in the asyncio API.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: a message, or fragments, of another type.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            self._write(lambda: self._send_one(message, text, True))
            return
        if not isinstance(message, Iterable):
            raise TypeError(f"cannot send {type(message).__name__}: str, bytes or an iterable of them")
        fragments = iter(message)
        current = next(fragments, None)
        first = True
        while current is not None:
            following = next(fragments, None)
            if following is not None and isinstance(following, str) is not isinstance(current, str):
                raise TypeError("fragments of one message must all be str or all be bytes")
            final = following is None
            if first:
                # _write calls at once: current is not None (pyright does not narrow it in the lambda)
                self._write(lambda: self._send_one(current, text, final))  # pyright: ignore[reportArgumentType]
            else:
                self._write(lambda: self.protocol.send_continuation(message_payload(current)[1], fin=final))
            current, first = following, False

    def _send_one(self, message: Data | bytearray | memoryview[Any], text: bool | None, final: bool) -> None:
        is_text = isinstance(message, str) if text is None else text
        if is_text:
            self.protocol.send_text(message_payload(message)[1], fin=final)
        else:
            self.protocol.send_binary(message_payload(message)[1], fin=final)

    def ping(self, data: bytes | None = None) -> threading.Event:
        """Send a ping; the event is set when the matching pong arrives (``latency`` then holds
        the round trip).

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ValueError: ``data`` is longer than 125 bytes, or already awaits its pong.
        """
        payload = os.urandom(4) if data is None else bytes(data)
        answered = threading.Event()
        with self._lock:
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
            self._pings[payload] = (time.monotonic(), answered)
        try:
            self._write(lambda: self.protocol.ping(payload))
        except BaseException:
            with self._lock:
                self._pings.pop(payload, None)
            raise
        return answered

    def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong, a one-way heartbeat (websockets' name); str as its UTF-8.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` is longer than 125 bytes.
        """
        payload = message_payload(data)[1]
        self._write(lambda: self.protocol.pong(payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame, wait for the peer's (at most ``close_timeout`` seconds),
        then close the socket.

        Raises:
            ValueError: ``code`` may not be sent, or ``reason`` is too long.
        """
        with self._lock:
            if self.protocol.state is State.OPEN:
                self.protocol.close(code, reason)
                self._send_pending()
        # Wait for the reader to see the peer's close, if it ever started reading (a server that
        # shuts down right after a handshake closes connections that never did).
        if threading.current_thread() is not self._reader and self._reader.ident is not None:
            if not self._reading_done.wait(self.close_timeout):
                self._shut()
            self._reader.join(self.close_timeout)
        self._shut()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _write(self, call: Any) -> None:
        """Run a sending call of the core under the lock, then write what it made."""
        with self._lock:
            try:
                call()
            except InvalidState:
                raise self.protocol.closed_error() from None
            self._send_pending()

    def _send_pending(self) -> None:
        """Write what the core has to send (the lock is held)."""
        data = self.protocol.data_to_send()
        if data:
            try:
                self.socket.sendall(data)
            except OSError:
                self.protocol.receive_eof()  # the peer is gone: nothing more can be sent
        if self.protocol.should_close_transport:
            self._shut()

    def _read_forever(self) -> None:
        try:
            while True:
                try:
                    data = self.socket.recv(_READ_SIZE)
                except OSError:
                    data = b""
                with self._lock:
                    if data:
                        self._last_received = time.monotonic()
                        self.protocol.receive_data(data)
                    else:
                        self.protocol.receive_eof()
                    events = self.protocol.events_received()
                    self._send_pending()
                self._handle(events)
                if not data or self.protocol.state is State.CLOSED:
                    return
        finally:
            self._reading_done.set()
            self._shut()
            self._messages.put(_CLOSED)
            with self._lock:
                for _, answered in self._pings.values():
                    answered.set()  # no pong will come: nobody waits for ever
                self._pings.clear()

    def _keepalive(self) -> None:
        """Ping after ``ping_interval`` seconds without data from the peer; fail the connection
        (1011) when neither the pong nor any data comes back within ``ping_timeout``."""
        interval = self.ping_interval
        assert interval is not None
        wait = interval
        while not self._reading_done.wait(wait):
            idle = time.monotonic() - self._last_received
            wait = interval - idle if idle < interval else interval
            if idle < interval:  # data arrived lately: the peer is alive
                continue
            payload = os.urandom(4)
            try:
                answered = self.ping(payload)
            except ConnectionClosed:
                return
            if self.ping_timeout is None or answered.wait(self.ping_timeout):
                continue
            with self._lock:
                self._pings.pop(payload, None)
            if self._reading_done.is_set() or time.monotonic() - self._last_received < self.ping_timeout:
                continue  # closed meanwhile, or data is flowing (a large message): alive
            logger.info("keepalive ping timed out; closing the connection")
            with self._lock:
                self.protocol.fail(ProtocolError("keepalive ping timeout", close_code=1011))
                self._send_pending()
            if not self._reading_done.wait(self.close_timeout):
                self._shut()  # the peer does not answer the close either: drop it
            return

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                self._messages.put(event.data)  # waits while max_queue messages are unread
            elif kind is Pong:
                with self._lock:
                    entry = self._pings.pop(event.payload, None)
                if entry is not None:
                    self._latency = time.monotonic() - entry[0]
                    entry[1].set()
            elif kind is Close:
                pass  # answered by the core; the reader ends when the socket does

    def _shut(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()
