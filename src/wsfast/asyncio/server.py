"""The asyncio WebSocket server: ``serve(handler, host, port)``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..connection import State
from ..exceptions import ConnectionClosed
from ..extensions import ServerExtensionFactory
from ..handshake import SERVER, ServerHandshake, reject
from ..http11 import Request, Response
from ..headers import HeadersLike
from ..limits import MAX_FRAGMENTS, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE
from ..permessage_deflate import server_extensions
from ..server import ServerConnection
from .._websockets_names import UNSET, message_limits
from ._network import network, require_aiofastnet
from .connection import Connection
from .protocol import WebSocketProtocol

__all__ = ["serve", "Server", "ServerSideConnection"]

logger = logging.getLogger("wsfast")

#: ``handler(connection)``: what serve() runs for each connection (a ServerSideConnection).
Handler = Callable[["ServerSideConnection"], Awaitable[Any]]
#: ``process_request(connection, request)``, plain or async: a response to answer instead of
#: upgrading, or None to go on with the handshake. It may raise InvalidHandshake to refuse.
ProcessRequest = Callable[[Any, Request], "Response | None | Awaitable[Response | None]"]
#: ``process_response(connection, request, response)``, plain or async: the response to send instead
#: of ``response`` (not another 101), or None to send ``response``, whose headers it may change.
ProcessResponse = Callable[[Any, Request, Response], "Response | None | Awaitable[Response | None]"]


class ServerSide(WebSocketProtocol):
    """What a server adds to a connection, whichever its API: the opening handshake's timeout,
    ``process_request`` and ``process_response``, and the server's set of connections. Each API starts the application
    its own way once the handshake succeeds (``_start_application``)."""

    def __init__(self, protocol: ServerConnection, server: Server, *, open_timeout: float | None,
                 process_request: ProcessRequest | None = None, process_response: ProcessResponse | None = None,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(protocol, **options)
        self.server = server
        self.open_timeout = open_timeout
        self.process_request = process_request
        self.process_response = process_response
        self._open_timer: asyncio.TimerHandle | None = None
        self._answering: asyncio.Task[None] | None = None

    def respond(self, status_code: int, text: str) -> Response:
        """A response refusing the handshake with ``text`` as its body, for ``process_request``
        to return (websockets' name).

        Raises:
            ValueError: the status cannot carry a body.
        """
        return reject(status_code, text)

    def _handshake_pending(self) -> None:
        """The request is read but not answered: the hooks' turn, one at a time."""
        protocol: ServerConnection = self.protocol  # type: ignore[assignment]  # a server's
        if self._answering is not None:
            return
        if protocol.request_waiting and self.process_request is not None:
            self._call_hook(self._answer_request, self.process_request, self, protocol.request)
        elif protocol.response_waiting and self.process_response is not None:
            self._call_hook(self._send_response, self.process_response, self, protocol.request, protocol.response)

    def _call_hook(self, then: Callable[[Any, Exception | None], None], hook: Callable[..., Any], *args: Any) -> None:
        """Call a plain or async hook, then ``then(result, error)``. While an async one runs, the
        connection reads nothing: the request's peer has nothing to say meanwhile."""
        try:
            answer = hook(*args)
        except Exception as error:  # noqa: BLE001 - the application's failure becomes an HTTP answer
            then(None, error)
            return
        if inspect.isawaitable(answer):
            self.transport.pause_reading()  # type: ignore[union-attr]  # connected: a request came
            self._answering = self._loop.create_task(self._call_later(then, answer))
        else:
            then(answer, None)

    async def _call_later(self, then: Callable[[Any, Exception | None], None], answer: Awaitable[Any]) -> None:
        try:
            result, error = await answer, None
        except Exception as failure:  # noqa: BLE001 - as above
            result, error = None, failure
        self._answering = None
        then(result, error)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _answer_request(self, answer: object, error: Exception | None) -> None:
        protocol: ServerConnection = self.protocol  # type: ignore[assignment]  # a server's
        if not protocol.request_waiting:
            return  # the client left meanwhile
        failure = protocol.settle_request(answer, error)
        if failure is not None:
            logger.error("process_request failed", exc_info=failure)
        self._answered()

    def _send_response(self, answer: object, error: Exception | None) -> None:
        protocol: ServerConnection = self.protocol  # type: ignore[assignment]  # a server's
        if not protocol.response_waiting:
            return  # the client left meanwhile
        failure = protocol.settle_response(answer, error)
        if failure is not None:
            logger.error("process_response failed", exc_info=failure)
        self._answered()

    def _answered(self) -> None:
        """A hook has had its say: the next hook's turn, or the handshake is over."""
        if self.protocol.state is State.CONNECTING:
            self._handshake_pending()
            return
        self._handshake_done()
        self._process_events()
        self._flush()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.connections.add(self)
        if self.open_timeout is not None:
            # A client that connects and then stalls or trickles its request is dropped.
            self._open_timer = self._loop.call_later(self.open_timeout, self._open_timed_out)

    def _open_timed_out(self) -> None:
        if self.protocol.state is State.CONNECTING:
            logger.info("opening handshake timed out from %s", self.remote_address)
            self._abort()

    def _handshake_done(self) -> None:
        super()._handshake_done()
        if self._open_timer is not None:
            self._open_timer.cancel()
        if not self.protocol.handshake_done and self.protocol.handshake_error is not None:
            logger.info("rejected a handshake from %s: %s", self.remote_address, self.protocol.handshake_error)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
        if self._answering is not None:
            self._answering.cancel()
        super().connection_lost(exc)
        self.server.connections.discard(self)


class ServerSideConnection(ServerSide, Connection):
    """A server's connection on the await API: once the handshake succeeds, it runs the handler
    on itself in a task."""

    def __init__(self, protocol: ServerConnection, server: Server, **options: Any) -> None:
        super().__init__(protocol, server, **options)
        self.handler_task: asyncio.Task[None] | None = None

    def _start_application(self) -> None:
        self.handler_task = task = self._loop.create_task(self._run_handler())
        # the server's wait_closed waits for it, also after the connection is gone
        self.server._handler_tasks.add(task)
        task.add_done_callback(self.server._handler_tasks.discard)

    async def _run_handler(self) -> None:
        try:
            await self.server.handler(self)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("connection handler failed")
            if self.protocol.state is State.OPEN:
                await self.close(1011, "internal error")
            return
        if self.protocol.state is State.OPEN:
            await self.close()


class Server:
    """A running WebSocket server; ``close()`` then ``wait_closed()`` shuts it down gracefully."""

    def __init__(self, handler: Any, make_connection: Callable[[Server], ServerSide]) -> None:
        self.handler = handler  # the await API's coroutine function, or the callback API's factory
        self.connections: set[ServerSide] = set()
        self._handler_tasks: set[asyncio.Task[None]] = set()  # the await API's handlers still running
        self._make_connection = make_connection
        self._server: asyncio.base_events.Server | None = None

    def protocol_factory(self) -> ServerSide:
        return self._make_connection(self)

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return () if self._server is None else tuple(self._server.sockets)

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections and close the open ones with 1001 (going away)."""
        if self._server is not None:
            self._server.close()
        if close_connections:
            for connection in list(self.connections):
                if connection.state is State.OPEN:
                    connection._begin_close(1001, "server shutting down")
                elif connection.state is State.CONNECTING:
                    connection._abort()

    async def wait_closed(self) -> None:
        """Wait until the listener and every connection are closed and every handler has ended."""
        if self._server is not None:
            await self._server.wait_closed()
        waits = [c.wait_closed() for c in list(self.connections)]
        await asyncio.gather(*waits, return_exceptions=True)
        # A handler may go on after its connection closed (it cleans up): wait for it too, as
        # websockets does, without cancelling it if this wait is cancelled (a drain's timeout).
        if self._handler_tasks:
            await asyncio.wait(list(self._handler_tasks))

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


class serve:  # noqa: N801 - used like a function, as in websockets
    """Start a WebSocket server: ``async with serve(handler, "127.0.0.1", 8765) as server: ...``
    or ``server = await serve(...)``.

    Args:
        handler: ``async def handler(connection)``; the connection closes when it returns (1000)
            or raises (1011, logged).
        host: the interface to listen on (a name or an address); None for all of them.
        port: the TCP port to listen on; 0 for one the system picks.
        path: a Unix socket to listen on, instead of ``host`` and ``port``.
        sock: a listening socket of your own to accept on (for example inherited from a process
            manager), instead of ``host``, ``port`` or ``path``.
        ssl: an ``ssl.SSLContext`` for ``wss://``.
        reuse_port: SO_REUSEPORT, to share the port between processes.
        origins: the ``Origin`` values to accept, None among them for requests without one; None
            (the default) to accept any (see :class:`ServerHandshake`).
        subprotocols: the subprotocols supported, preferred first: the first one the client
            offers is chosen.
        select_subprotocol: instead of ``subprotocols``, ``select_subprotocol(request, offered)``,
            which returns one of the client's offers or None, or raises NegotiationError to
            refuse.
        extra_headers: more headers for the 101 response.
        server_header: the ``Server`` header (``wsfast/<version>`` by default); None to send none.
        process_request: ``process_request(connection, request)``, a plain or an async function
            called with each upgrade request: a :class:`Response` it returns is the answer (for
            example ``connection.respond(403, "go away")``), None goes on with the handshake;
            raising InvalidHandshake refuses with that error's status, raising anything else
            answers 500 (logged). While an async one runs, the connection reads nothing.
        process_response: ``process_response(connection, request, response)``, plain or async,
            websockets' hook: called with every answer to an upgrade request before it is sent
            (the 101, a refusal, or process_request's response); it may change ``response``'s
            headers and return None, or return another response to send instead (not a 101).
            Raising, or returning anything else, answers 500 (logged).
        compression: "deflate" for permessage-deflate (RFC 7692), asking for 12-bit windows both
            ways (compressors at memLevel 5: about 20 KiB each instead of zlib's 256 KiB), None
            for none.
        extensions: the extension factories to negotiate, instead of what ``compression`` implies
            (for example a tuned ServerPerMessageDeflateFactory).
        open_timeout: seconds a client has to complete its upgrade request.
        ping_interval: seconds between keepalive pings; None to send none (see
            :class:`~wsfast.asyncio.protocol.WebSocketProtocol`).
        ping_timeout: seconds a keepalive ping has to be answered (any data received counts)
            before the connection closes with 1011; None to wait for ever.
        close_timeout: seconds to wait for the closing handshake before dropping the connection;
            None to wait for ever.
        max_queue: whole messages received but not yet read beyond which reading pauses; None
            for no limit (see :class:`~wsfast.asyncio.connection.Connection`).
        write_limit: bytes in a connection's write buffer above which ``send`` waits.
        max_message_size: the largest message accepted, in bytes after decompression (1009
            beyond); None for no limit (see :class:`~wsfast.connection.Connection`).
        max_frame_size: the largest frame payload accepted, in bytes, before decompression (1009
            beyond); by default ``max_message_size``, so that a message may come in one frame;
            None for no limit.
        max_fragments: the most frames one message may have (1009 beyond); None for no limit.
        max_http_head_size: the most bytes a request head may take (431 beyond; 414 when the
            request line alone reaches it).
        max_http_headers: the most header lines in a request head (431 beyond).
        backlog: the most connections waiting to be accepted (the ``listen()`` backlog).
        use_aiofastnet: accept on aiofastnet's Cython transports instead of the loop's own (needs
            the ``aiofastnet`` package, ``pip install 'wsfast[aiofastnet]'``): on the standard
            library's loop they cost much less per read and write (see ``asyncio/_network.py``).
        max_size: websockets' name of ``max_message_size`` (``(message, fragment)`` sets
            ``max_frame_size`` too), for code written for websockets.

    Raises:
        ValueError: ``sock`` with ``host``, ``port`` or ``path``.
        TypeError: an option given under both its names, with different values.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
    """

    def __init__(
        self,
        handler: Handler,
        host: str | None = None,
        port: int | None = None,
        *,
        path: str | None = None,
        sock: socket.socket | None = None,
        ssl: ssl_module.SSLContext | None = None,
        reuse_port: bool = False,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Any = None,
        extra_headers: HeadersLike = (),
        server_header: str | None = SERVER,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        compression: str | None = "deflate",
        extensions: Sequence[ServerExtensionFactory] | None = None,
        open_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float | None = 10.0,
        max_message_size: int | None = MAX_MESSAGE_SIZE,
        max_frame_size: int | None = UNSET,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_http_head_size: int = MAX_HTTP_HEAD_SIZE,
        max_http_headers: int = MAX_HTTP_HEADERS,
        max_queue: int | None = 16,
        write_limit: int = 65536,
        backlog: int = 100,
        use_aiofastnet: bool = False,
        max_size: int | None | tuple[int | None, int | None] = UNSET,
    ) -> None:
        require_aiofastnet(use_aiofastnet)
        max_message_size, max_frame_size = message_limits(max_size, max_message_size, max_frame_size, MAX_MESSAGE_SIZE)
        handshake = ServerHandshake(
            origins=origins, subprotocols=subprotocols, select_subprotocol=select_subprotocol,
            extensions=server_extensions(compression, extensions), extra_headers=extra_headers, server_header=server_header,
        )  # fmt: skip

        options: dict[str, Any] = dict(open_timeout=open_timeout, process_request=process_request, process_response=process_response,
                       ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
                       write_limit=write_limit, **self._api_options(max_queue=max_queue))  # fmt: skip

        def make_connection(server: Server) -> ServerSide:
            protocol = ServerConnection(
                handshake, max_message_size=max_message_size, max_frame_size=max_frame_size,
                max_fragments=max_fragments, max_http_head_size=max_http_head_size, max_http_headers=max_http_headers,
                hold_request=process_request is not None, hold_response=process_response is not None,
            )  # fmt: skip
            return self._connection_class(protocol, server, **options)

        self._server = Server(handler, make_connection)
        if sock is not None and (host is not None or port is not None or path is not None):
            raise ValueError("sock excludes host, port and path")
        self._listen: dict[str, Any] = dict(host=host, port=port, path=path, sock=sock, ssl=ssl, reuse_port=reuse_port, backlog=backlog)
        self._use_aiofastnet = use_aiofastnet

    #: The connection each accepted socket gets: the await API's, or the callback API's.
    _connection_class: type[ServerSide] = ServerSideConnection

    def _api_options(self, *, max_queue: int | None) -> dict[str, Any]:
        """The options only the await API has."""
        return {"max_queue": max_queue}

    async def _start(self) -> Server:
        loop = network(self._use_aiofastnet)
        options = self._listen
        if options["sock"] is not None:
            listener = await loop.create_server(
                self._server.protocol_factory, sock=options["sock"], ssl=options["ssl"], backlog=options["backlog"]
            )
        elif options["path"] is not None:
            listener = await loop.create_unix_server(
                self._server.protocol_factory, options["path"], ssl=options["ssl"], backlog=options["backlog"]
            )
        else:
            listener = await loop.create_server(
                self._server.protocol_factory, options["host"], options["port"], ssl=options["ssl"],
                reuse_port=options["reuse_port"] or None, backlog=options["backlog"],
            )  # fmt: skip
        self._server._server = listener
        return self._server

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
