"""The callback API: the application's methods are called as data is decoded, with no task and
no future per message.

The application subclasses :class:`Handler`. Each connection gets its own handler, made by the
factory given to :func:`serve` or :func:`connect` when the opening handshake succeeds; its
methods are called synchronously from the event loop's read callback, one at a time, in the
order things arrived. Sending (:meth:`CallbackConnection.send`) is synchronous and never waits:
back-pressure is explicit, through ``on_write_paused`` / ``on_write_resumed`` and
``pause_reading`` / ``resume_reading``. By default a handler stops reading while its write
buffer is full, so a peer that sends without reading cannot make an echoing server buffer
without bound.

The handshake options, limits, keepalive, closing handshake and compression are the await API's
(the same sans-IO core and the same I/O layer, :class:`~wsfast.asyncio.protocol.WebSocketProtocol`).
::

    class Echo(Handler):
        def on_message(self, data, text):
            self.connection.send(data)

    server = await wsfast.asyncio.callbacks.serve(Echo, "127.0.0.1", 8765)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any, ClassVar

from ..client import ClientConnection
from ..connection import Connection as SansIOConnection
from ..connection import State
from ..server import ServerConnection
from . import client as await_client
from . import server as await_server
from .protocol import ProtocolCore, WebSocketProtocol

__all__ = ["Handler", "CallbackConnection", "serve", "connect"]

logger = logging.getLogger("wsfast")

Data = str | bytes


class Handler:
    """The application's side of one connection. Override what you need; none of the methods may
    block, and each runs to its end before anything else of the connection happens.

    A method that raises closes the connection with 1011 (internal error); the exception is
    logged and the server goes on. After that, nothing more is delivered.
    """

    #: The connection to send on; set before :meth:`on_open` is called.
    connection: CallbackConnection
    #: Text messages as str (True), or as their UTF-8 bytes, checked but not decoded (False:
    #: for parsers such as orjson that take bytes).
    decode_text: ClassVar[bool] = True
    #: Data frame by frame in :meth:`on_fragment` as it arrives (True), or whole messages in
    #: :meth:`on_message` (False). Size and frame-count limits hold either way.
    receive_fragments: ClassVar[bool] = False

    def on_open(self) -> None:
        """The opening handshake succeeded; the connection is open."""

    def on_message(self, data: Data, text: bool) -> None:
        """A whole message: ``text`` says whether it was sent as text (then ``data`` is str, or
        bytes when ``decode_text`` is False) or binary (bytes)."""

    def on_fragment(self, data: Data, final: bool, text: bool) -> None:
        """A piece of a message as its frame arrived (``receive_fragments``): ``final`` on its last
        piece. Text pieces hold whole characters, or, without ``decode_text``, the frame's bytes."""

    def on_ping(self, payload: bytes) -> None:
        """A ping arrived; it has been answered. Called after the messages of the same read."""

    def on_pong(self, payload: bytes) -> None:
        """A pong arrived. Called after the messages of the same read."""

    def on_write_paused(self) -> None:
        """The write buffer went over ``write_limit``: stop producing until
        :meth:`on_write_resumed`. By default, reading pauses too."""
        self.connection.pause_reading()

    def on_write_resumed(self) -> None:
        """The write buffer drained. By default, reading resumes."""
        self.connection.resume_reading()

    def on_close(self, code: int, reason: str) -> None:
        """The connection is closed (transport included): the code and reason the peer sent, or
        1006 and "" when it dropped. Called once, and only after :meth:`on_open`."""


def _ignore(data: Data, final: bool, text: bool) -> None:
    """Where data goes once the application has failed: nowhere."""


class CallbackConnection(WebSocketProtocol):
    """One connection on the callback API: the handler's calls, and what the handler calls.

    Args:
        protocol: the sans-IO connection to drive.
        handler_factory: makes the connection's :class:`Handler`, once the handshake succeeds.

    Keyword Args:
        ping_interval (float | None): seconds between keepalive pings (20 by default); None to
            send none (see :class:`~wsfast.asyncio.protocol.WebSocketProtocol`).
        ping_timeout (float | None): seconds a keepalive ping has to be answered (any data
            received counts) before the connection closes with 1011 (20 by default); None to
            wait for ever.
        close_timeout (float | None): seconds to wait for the closing handshake before dropping
            the connection (10 by default); None to wait for ever.
        write_limit (int): bytes in the write buffer (64 KiB by default) above which the
            handler's ``on_write_paused`` is called.
    """

    def __init__(self, protocol: SansIOConnection, handler_factory: Callable[[], Handler], **options: Any) -> None:
        super().__init__(protocol, **options)
        self.handler_factory = handler_factory
        #: The connection's handler, from the moment the connection opened.
        self.handler: Handler | None = None
        self._reading_paused = False
        # Frames can come right behind the handshake, in the same read: the first data starts
        # the application if the handshake's end has not yet.
        protocol.on_data = self._deliver_first

    # ------------------------------------------------------------------ what the handler calls

    @property
    def write_buffer_size(self) -> int:
        """Bytes waiting in the transport's write buffer."""
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    #: ``send(message, text=None)``: send a message at once: str as text, bytes-like as binary;
    #: ``text=True`` sends bytes (UTF-8, sent as they are) as text and ``text=False`` a str as
    #: binary. Never waits: what the peer does not take yet stays in the write buffer (see
    #: ``on_write_paused``). Raises ConnectionClosed when the connection is closed or closing, and
    #: TypeError for a message neither str nor bytes-like. It is the compiled core's method itself,
    #: so that a handler's call reaches it without a Python frame between.
    send = ProtocolCore._send

    def ping(self, data: bytes | None = None) -> Any:
        """Send a ping (4 random bytes when ``data`` is None). Returns a future that resolves to
        the round-trip latency in seconds when the matching pong arrives.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ValueError: ``data`` is longer than 125 bytes, or is already awaiting its pong.
        """
        return self._send_ping(data)[1]

    def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong, a one-way heartbeat; str as its UTF-8.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._send_pong(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; ``on_close`` follows when the connection is closed (after
        ``close_timeout`` at the latest). Closing twice does nothing.

        Raises:
            ValueError: ``code`` may not be sent, or ``reason`` is too long.
        """
        self._begin_close(code, reason)

    def pause_reading(self) -> None:
        """Read nothing more from the peer until :meth:`resume_reading`."""
        self._reading_paused = True
        self._pause_reading()

    def resume_reading(self) -> None:
        """Read from the peer again."""
        if self._reading_paused:
            self._reading_paused = False
            self._resume_reading()

    # ------------------------------------------------------------------ calling the handler

    def _start_application(self) -> None:
        if self.handler is not None:
            return
        handler = self.handler = self.handler_factory()
        handler.connection = self
        protocol = self.protocol
        protocol.decode_text = handler.decode_text
        protocol.stream_fragments = handler.receive_fragments
        self._on_message = handler.on_message  # what the core's _deliver_message calls
        protocol.on_data = self._deliver_fragment if handler.receive_fragments else self._deliver_message
        self._call("on_open")

    def _deliver_first(self, data: Data, final: bool, text: bool) -> None:
        self._start_application()
        self.protocol.on_data(data, final, text)  # type: ignore[misc]  # set by _start_application

    def _deliver_fragment(self, data: Data, final: bool, text: bool) -> None:
        try:
            self.handler.on_fragment(data, final, text)  # type: ignore[union-attr]  # started: it exists
        except Exception:  # noqa: BLE001 - as above
            self._application_failed("on_fragment")

    def _call(self, name: str, *args: Any) -> None:
        """Call the handler's method ``name``, if the handler is there and has not failed."""
        if self.handler is None or self.protocol.on_data is _ignore:
            return
        try:
            getattr(self.handler, name)(*args)
        except Exception:  # noqa: BLE001 - as above
            self._application_failed(name)

    def _application_failed(self, where: str) -> None:
        logger.exception("callback %s failed", where)
        self.protocol.on_data = _ignore  # nothing more for this application, even from this read
        if self.protocol.state is State.OPEN:
            self._fail(1011, "internal error")

    def _on_ping(self, payload: bytes) -> None:
        self._call("on_ping", payload)

    def _on_pong(self, payload: bytes) -> None:
        self._call("on_pong", payload)

    def _on_write_paused(self) -> None:
        self._call("on_write_paused")

    def _on_write_resumed(self) -> None:
        self._call("on_write_resumed")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.handler is not None:
            handler, self.handler = self.handler, None  # on_close once; nothing after it
            try:
                handler.on_close(self.protocol.close_code or 1006, self.protocol.close_reason or "")
            except Exception:  # noqa: BLE001 - logged; the connection is closed already
                logger.exception("callback on_close failed")


class CallbackServerConnection(await_server.ServerSide, CallbackConnection):
    """A server's connection on the callback API."""

    def __init__(self, protocol: ServerConnection, server: await_server.Server, **options: Any) -> None:
        super().__init__(protocol, server, handler_factory=server.handler, **options)


class serve(await_server.serve):  # noqa: N801 - used like a function, as in websockets
    """Start a WebSocket server on the callback API: ``server = await serve(EchoHandler,
    "127.0.0.1", 8765)`` or ``async with serve(...) as server: ...``.

    ``handler_factory()`` makes each connection's :class:`Handler` (a Handler subclass will do).
    Every option is :func:`wsfast.asyncio.serve`'s, but for ``max_queue``: there is no queue,
    messages go to the handler as they arrive.

    Raises:
        TypeError: ``max_queue`` was given.
        ValueError: an invalid option.
    """

    _connection_class = CallbackServerConnection

    def __init__(self, handler_factory: Callable[[], Handler], host: str | None = None, port: int | None = None,
                 **options: Any) -> None:  # fmt: skip
        if "max_queue" in options:
            raise TypeError("the callback API has no message queue: max_queue does not apply")
        super().__init__(handler_factory, host, port, **options)  # type: ignore[arg-type]  # _connection_class takes it

    def _api_options(self, *, max_queue: int | None) -> dict[str, Any]:
        return {}


class connect(await_client.connect):  # noqa: N801 - used like a function, as in websockets
    """Open a WebSocket connection on the callback API: ``connection = await connect(uri,
    handler_factory)``, or ``async with connect(...) as connection`` (closed at the end). The
    handler is ``connection.handler``; its ``on_open`` has run when this returns.

    Every option is :func:`wsfast.asyncio.connect`'s, but for ``max_queue`` (see :func:`serve`).

    Raises:
        TypeError: ``max_queue`` was given.
        ValueError: an invalid URI or option, or ``ssl`` with a ``ws://`` URI.
        InvalidHandshake: the server refused the upgrade (InvalidStatus carries its response).
        TimeoutError: the connection was not open within ``open_timeout``.
        OSError: the TCP connection failed.
    """

    def __init__(self, uri: str, handler_factory: Callable[[], Handler], **options: Any) -> None:
        if "max_queue" in options:
            raise TypeError("the callback API has no message queue: max_queue does not apply")
        super().__init__(uri, **options)
        del self._options["max_queue"]
        self._handler_factory = handler_factory

    def _make_connection(self) -> CallbackConnection:  # type: ignore[override]  # the callback API's connection
        protocol: ClientConnection = self._protocol
        return CallbackConnection(protocol, self._handler_factory, **self._options)

    def __await__(self) -> Generator[Any, None, CallbackConnection]:  # type: ignore[override]  # as above
        return self._open().__await__()

    async def __aenter__(self) -> CallbackConnection:  # type: ignore[override]  # as above
        self._connection = await self._open()
        return self._connection  # type: ignore[no-any-return]  # the one _make_connection made

    async def _close(self, connection: Any) -> None:
        connection.close()
        await connection.wait_closed()
