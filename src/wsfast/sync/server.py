"""The synchronous server: ``with serve(handler, host, port) as server: server.serve_forever()``,
a thread per connection."""

from __future__ import annotations

import logging
import selectors
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..exceptions import ConnectionClosed
from ..extensions import ServerExtensionFactory
from ..handshake import SERVER, ServerHandshake
from ..http11 import Request, Response
from ..headers import HeadersLike
from ..limits import MAX_FRAGMENTS, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE
from ..permessage_deflate import server_extensions
from ..server import ServerConnection
from .._websockets_names import UNSET, message_limits
from .client import open_handshake
from .connection import Connection

__all__ = ["serve", "Server"]

logger = logging.getLogger("wsfast")

#: ``process_request(connection, request)``: a response to answer instead of upgrading, or None to
#: go on with the handshake; it may raise InvalidHandshake to refuse (websockets' hook).
ProcessRequest = Callable[[Connection, Request], "Response | None"]
#: ``process_response(connection, request, response)``: the response to send instead (not another
#: 101), or None to send ``response``, whose headers it may change (websockets' hook).
ProcessResponse = Callable[[Connection, Request, Response], "Response | None"]


def _called(hook: Callable[..., object], *args: Any) -> tuple[object, Exception | None]:
    """``(hook(*args), None)``, or ``(None, error)`` when it raised ``error``."""
    try:
        return hook(*args), None
    except Exception as error:  # noqa: BLE001 - the application's failure becomes an HTTP answer
        return None, error


class Server:
    """A listening WebSocket server; :meth:`serve_forever` accepts until :meth:`shutdown`.

    Args:
        listener: the listening socket.
        handler: ``handler(connection)``, run in a thread of its own per connection; the connection
            closes (1000) when it returns, or with 1011 (logged) when it raises.
        make_protocol: a fresh sans-IO server connection per accepted socket.
        ssl: wraps each accepted socket for ``wss://``.
        open_timeout: seconds a client has for TLS and its upgrade request.
        close_timeout: seconds each connection waits for the closing handshake before dropping
            the connection; None to wait for ever (see
            :class:`~wsfast.sync.connection.Connection`).
        max_queue: messages received but not read yet beyond which a connection's reading
            pauses; None for no limit.
        ping_interval: seconds without data from the peer before a keepalive ping; None for none.
        ping_timeout: seconds that ping (or any data) has to come back before the connection
            fails with 1011; None to wait for ever.
        process_request: websockets' ``process_request(connection, request)`` hook, as
            :func:`serve` describes; the connections ``make_protocol`` makes must hold the
            request for it (``hold_request``).
        process_response: websockets' ``process_response(connection, request, response)`` hook,
            as :func:`serve` describes; the connections ``make_protocol`` makes must hold the
            response for it (``hold_response``).
    """

    def __init__(self, listener: socket.socket, handler: Callable[[Connection], Any],
                 make_protocol: Callable[[], ServerConnection], *, ssl: ssl_module.SSLContext | None,
                 open_timeout: float | None, close_timeout: float | None, max_queue: int | None,
                 ping_interval: float | None = 20.0, ping_timeout: float | None = 20.0,
                 process_request: ProcessRequest | None = None,
                 process_response: ProcessResponse | None = None) -> None:  # fmt: skip
        self.socket = listener
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self._make_protocol = make_protocol
        self._ssl = ssl
        self._open_timeout = open_timeout
        self._connection_options: dict[str, Any] = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                                        close_timeout=close_timeout, max_queue=max_queue)  # fmt: skip
        self.connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()  # shutdown() wakes serve_forever()
        self._shutting_down = False
        self._serving = False

    def serve_forever(self) -> None:
        """Accept connections, each handled in a thread of its own, until :meth:`shutdown`."""
        self._serving = True
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._shutting_down:
                    ready = {key.fileobj for key, _ in selector.select()}
                    if self._wake_reader in ready or self._shutting_down:
                        return
                    try:
                        sock, _ = self.socket.accept()
                    except OSError:
                        continue  # the client left already, or the listener is closing
                    threading.Thread(target=self._serve_one, args=(sock,), name="wsfast-connection",
                                     daemon=True).start()  # fmt: skip
        finally:
            self._serving = False
            self._close_wake_pair()

    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting, close every open connection with ``code``, and let serve_forever return."""
        self._shutting_down = True
        try:
            self._wake_writer.send(b"x")
        except OSError:
            pass  # serve_forever has ended already
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            connection.close(code, reason)
        self.socket.close()
        if not self._serving:
            self._close_wake_pair()

    def _close_wake_pair(self) -> None:
        self._wake_reader.close()
        self._wake_writer.close()

    def fileno(self) -> int:
        return self.socket.fileno()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _settle(self, connection: Connection, protocol: ServerConnection) -> None:
        """Let the hooks answer what the connection holds for them, as the sans-IO rule says."""
        while True:
            if protocol.request_waiting and self.process_request is not None:
                failure = protocol.settle_request(*_called(self.process_request, connection, protocol.request))
                hook = "process_request"
            elif protocol.response_waiting and self.process_response is not None:
                failure = protocol.settle_response(
                    *_called(self.process_response, connection, protocol.request, protocol.response))
                hook = "process_response"
            else:
                return
            if failure is not None:
                logger.error("%s failed", hook, exc_info=failure)

    def _serve_one(self, sock: socket.socket) -> None:
        deadline = None if self._open_timeout is None else time.monotonic() + self._open_timeout
        protocol = self._make_protocol()
        try:
            if self._ssl is not None:
                sock.settimeout(self._open_timeout)
                sock = self._ssl.wrap_socket(sock, server_side=True)
            connection = Connection(sock, protocol, **self._connection_options)  # the hooks see it
            open_handshake(sock, protocol, deadline, lambda: self._settle(connection, protocol))
            sock.settimeout(None)
        except Exception as error:  # noqa: BLE001 - a failed opening costs this connection only
            logger.info("opening handshake failed: %s", error)
            sock.close()
            return
        with self._lock:
            if self._shutting_down:
                connection.close(1001, "server shutting down")
                return
            self.connections.add(connection)
        connection.start()
        try:
            self.handler(connection)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("connection handler failed")
            connection.close(1011, "internal error")
        finally:
            connection.close()
            with self._lock:
                self.connections.discard(connection)


def serve(
    handler: Callable[[Connection], Any],
    host: str | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    path: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
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
    backlog: int = 100,
    max_size: int | None | tuple[int | None, int | None] = UNSET,
) -> Server:
    """Listen on ``host:port`` (or a Unix socket ``path``, or a listening ``sock`` of your own) and
    return the :class:`Server`; ``serve_forever()`` then serves, a thread per connection. The
    options are :func:`wsfast.asyncio.serve`'s, but for ``write_limit`` (asyncio's); websockets'
    ``max_size`` too; keepalive pings run in a thread per connection. ``process_request(connection, request)`` and
    ``process_response(connection, request, response)`` are websockets' hooks, plain functions
    here, with the asyncio API's rules (the same code decides: ``ServerConnection.settle_request``
    and ``settle_response``); they run in the connection's thread.

    Raises:
        ValueError: an invalid option.
        TypeError: an option given under both its names, with different values.
        OSError: the address cannot be listened on.
    """
    max_message_size, max_frame_size = message_limits(max_size, max_message_size, max_frame_size, MAX_MESSAGE_SIZE)
    handshake = ServerHandshake(
        origins=origins, subprotocols=subprotocols, select_subprotocol=select_subprotocol,
        extensions=server_extensions(compression, extensions), extra_headers=extra_headers, server_header=server_header,
    )  # fmt: skip

    def make_protocol() -> ServerConnection:
        return ServerConnection(
            handshake, max_message_size=max_message_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
            max_http_head_size=max_http_head_size, max_http_headers=max_http_headers,
            hold_request=process_request is not None, hold_response=process_response is not None,
        )  # fmt: skip

    if sock is None:
        if path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(backlog)
        else:
            sock = socket.create_server((host or "", port or 0), backlog=backlog)
    return Server(sock, handler, make_protocol, ssl=ssl, open_timeout=open_timeout, close_timeout=close_timeout,
                  ping_interval=ping_interval, ping_timeout=ping_timeout,
                  max_queue=max_queue, process_request=process_request, process_response=process_response)  # fmt: skip
