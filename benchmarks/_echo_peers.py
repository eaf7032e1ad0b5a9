#!/usr/bin/env python3
"""Echo servers and echo clients for ``report_echo.py``, each run in a process of its own.

    python benchmarks/_echo_peers.py server IMPL --loop asyncio|uvloop
        prints "READY <port>" once listening on 127.0.0.1 (a random port), then serves until its
        standard input closes.
    python benchmarks/_echo_peers.py client IMPL --loop asyncio|uvloop --port PORT
        opens one connection, prints "READY", then answers one command per input line:
          verify SIZE        sends VERIFY_MESSAGES distinct random binary messages of SIZE bytes, one at a
                             time, and checks that each echo is bytes equal to what was sent: "OK ..." or
                             "FAIL <reason>"
          run SIZE COUNT     COUNT round trips of one SIZE-byte binary message (send it, await its echo,
                             send it again); prints {"wall": s, "cpu": s, "ok": bool}: wall clock and this
                             process's CPU time for the batch, and whether the last echo equals the message
          quit               closes the connection (closing handshake) and exits

IMPL is one of wsfast, wsfast-callback (and both with "-aiofastnet": use_aiofastnet=True), websockets, aiohttp, picows, picows-stdlib, tcp, tcp-buffered, tcp-aiofastnet,
tornado, websocket-client (a client only), ws4py; "<library>+wsfast" is one of the ACCELERATED libraries
after ``wsfast.accelerate.install(<library>)`` (before anything is imported). With ``--text`` a client sends text messages of SIZE ASCII
characters (and expects str back) instead of binary ones.
"tcp" is the ceiling: an asyncio.Protocol that writes back whatever it reads, and a Protocol client that
sends, per round trip, as many bytes as a client's SIZE-byte binary frame (masked: header + 4-byte key +
payload) and waits until that many bytes have come back. "tcp-buffered" is the same with
asyncio.BufferedProtocol on both sides (reads into a preallocated 256 KiB buffer: the stdlib loop then
calls recv_into instead of allocating a 256 KiB bytes per read). picows runs by default on aiofastnet's Cython transports
(a dependency of picows) instead of the event loop's own; "picows-stdlib" is picows with
``use_aiofastnet=False``, and "tcp-aiofastnet" the tcp ceiling on aiofastnet's transports, to tell the
transport's share from the WebSocket layer's. Every WebSocket side runs without compression, without keepalive pings, and with its
message (and frame) size limit raised to LIMIT. All commands are bounded by TIMEOUT seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

IMPLS = ("wsproto", "wsfast", "wsfast-callback", "wsfast-aiofastnet", "wsfast-callback-aiofastnet", "websockets", "aiohttp", "picows", "picows-stdlib", "tcp", "tcp-buffered", "tcp-aiofastnet", "tcp-task",
         "tcp-task-eager", "tornado", "websocket-client", "ws4py")
#: Libraries that also run with wsfast.accelerate installed in them, as "<name>+wsfast".
ACCELERATED = ("websockets", "wsproto", "aiohttp", "tornado", "websocket-client", "ws4py")
#: Libraries with a client and no server of their own.
CLIENT_ONLY = ("websocket-client",)
#: Message and frame size limit on every side: room for the largest message (2 MB) with margin.
LIMIT = 8 * 1024 * 1024
VERIFY_MESSAGES = 8
TIMEOUT = 60.0


def frame_size(size: int) -> int:
    """Bytes on the wire of a client's (masked) binary frame with a ``size``-byte payload."""
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8) + 4 + size


def warm_allocator() -> None:
    """Put glibc's allocator in the state a long-running process reaches: once a block served by
    mmap is freed, glibc raises its mmap threshold to that block's size, and later large buffers
    (the stdlib loop's 256 KiB reads) come from the heap instead of an mmap + munmap each. Measured
    here: a raw asyncio echo costs about 20 µs per round trip before and 6 µs after. Every peer
    process does this first, so that no library wins or loses by the state it happens to start in."""
    block = bytearray(8 * 1024 * 1024)
    block[-1] = 1
    del block


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# ------------------------------------------------------------------------------------ servers


async def serve_wsfast(aiofastnet: bool = False) -> tuple[int, Any]:
    import wsfast
    from wsfast.commands import echo_handler

    server = await wsfast.serve(echo_handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                                max_message_size=LIMIT, max_frame_size=LIMIT, use_aiofastnet=aiofastnet)
    return server.sockets[0].getsockname()[1], server


async def serve_wsfast_callback(aiofastnet: bool = False) -> tuple[int, Any]:
    from wsfast.asyncio import callbacks

    class Echo(callbacks.Handler):
        def on_message(self, data: Any, text: bool) -> None:
            self.connection.send(data, text)

    server = await callbacks.serve(Echo, "127.0.0.1", 0, compression=None, ping_interval=None,
                                   max_message_size=LIMIT, max_frame_size=LIMIT, use_aiofastnet=aiofastnet)
    return server.sockets[0].getsockname()[1], server


async def serve_websockets() -> tuple[int, Any]:
    from websockets.asyncio.server import serve

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=LIMIT)
    return next(iter(server.sockets)).getsockname()[1], server


def aiohttp_echo_app(**options: Any) -> Any:
    """An aiohttp application that echoes on "/", its WebSocketResponse made with ``options``."""
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, **options)
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type is WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    return app


async def serve_aiohttp() -> tuple[int, Any]:
    from aiohttp import web

    app = aiohttp_echo_app(compress=False, max_msg_size=LIMIT)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner.addresses[0][1], runner


async def serve_picows(use_aiofastnet: bool | None = None) -> tuple[int, Any]:
    import picows

    class Echo(picows.WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is picows.WSMsgType.CLOSE:
                transport.send_close(picows.WSCloseCode.OK)
                transport.disconnect()
            elif kind is not picows.WSMsgType.PING and kind is not picows.WSMsgType.PONG:
                # Frame by frame, as picows delivers them (the payload view is valid during the call;
                # send copies it into the transport).
                transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)

    server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0, max_frame_size=LIMIT,
                                           enable_auto_ping=False, use_aiofastnet=use_aiofastnet)
    return server.sockets[0].getsockname()[1], server


class _TcpEcho(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _TcpBufferedEcho(asyncio.BufferedProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = memoryview(bytearray(READ_BUFFER))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A copy: a transport may keep what it could not send yet, and the buffer is reused.
        self.transport.write(bytes(self.buffer[:nbytes]))


READ_BUFFER = 256 * 1024


class _TcpTaskEcho(asyncio.BufferedProtocol):
    """The floor of any await API: what is read goes to a task, through a future, and the task
    writes it back; the same buffered reads as tcp-buffered, plus one task wake-up per read."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = memoryview(bytearray(READ_BUFFER))
        self.loop = asyncio.get_running_loop()
        self.pending: list[bytes] = []
        self.waiter: Any = None
        self.task = self.loop.create_task(self.echo())

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.pending.append(bytes(self.buffer[:nbytes]))
        if self.waiter is not None:
            self.wake(self.waiter)

    def new_waiter(self) -> Any:
        return self.loop.create_future()

    def wake(self, waiter: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)

    async def echo(self) -> None:
        while True:
            if not self.pending:
                self.waiter = self.new_waiter()
                await self.waiter
                self.waiter = None
            data = self.pending.pop(0)
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.task.cancel()


class _TcpEagerTaskEcho(_TcpTaskEcho):
    """The same, with the task resumed from the read callback instead of on the loop's next turn,
    as wsfast's await API wakes its readers (``wsfast.asyncio.messages.wake``): the floor of an
    await API that wakes them so."""

    def connection_made(self, transport: Any) -> None:
        from wsfast._kernels import compiled_twin

        self.wake_now = compiled_twin("asyncio.messages").wake
        super().connection_made(transport)

    def wake(self, waiter: Any) -> None:
        self.wake_now(waiter, True)


async def serve_tcp(aiofastnet: bool = False, buffered: bool = False, task: bool = False,
                    eager: bool = False) -> tuple[int, Any]:
    loop = asyncio.get_running_loop()
    factory = (_TcpEagerTaskEcho if eager else _TcpTaskEcho) if task else _TcpBufferedEcho if buffered else _TcpEcho
    if aiofastnet:
        import aiofastnet as fastnet

        server = await fastnet.create_server(loop, factory, "127.0.0.1", 0)
    else:
        server = await loop.create_server(factory, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], server


class _WsprotoMessages:
    """wsproto hands a message out in pieces as they arrive: gather them until its end."""

    parts: list[Any]

    def _gathered(self, event: Any) -> Any:
        """The whole message once ``event`` (a wsproto Message) ends it, else None."""
        self.parts.append(event.data)
        if not event.message_finished:
            return None
        parts, self.parts = self.parts, []
        return parts[0] if len(parts) == 1 else ("" if isinstance(parts[0], str) else b"").join(parts)


class _WsprotoEcho(_WsprotoMessages, asyncio.Protocol):
    """wsproto has no I/O of its own: an asyncio.Protocol around its sans-IO WSConnection, as its
    examples do; a message's pieces are joined and it is sent back whole, as its type came. Its
    event classes are bound once, as a module-level import would: an import statement per message
    costs about 7,500 instructions here, a tenth of wsproto's own work with wsfast."""

    def connection_made(self, transport: Any) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, Request

        self.transport = transport
        self.ws = WSConnection(ConnectionType.SERVER)
        self.parts: list[Any] = []
        self.events = (AcceptConnection, CloseConnection, Message, Ping, Request)

    def data_received(self, data: bytes) -> None:
        AcceptConnection, CloseConnection, Message, Ping, Request = self.events
        ws, write = self.ws, self.transport.write
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Message):
                whole = self._gathered(event)
                if whole is not None:
                    write(ws.send(type(event)(data=whole)))
            elif isinstance(event, Ping):
                write(ws.send(event.response()))
            elif isinstance(event, Request):
                write(ws.send(AcceptConnection()))
            elif isinstance(event, CloseConnection):
                write(ws.send(event.response()))
                self.transport.close()


async def serve_wsproto() -> tuple[int, Any]:
    server = await asyncio.get_running_loop().create_server(_WsprotoEcho, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], server


async def serve_tornado() -> tuple[int, Any]:
    """tornado's WebSocketHandler, as its documentation's echo example writes it."""
    import tornado.httpserver
    import tornado.netutil
    import tornado.web
    import tornado.websocket

    class Echo(tornado.websocket.WebSocketHandler):
        def on_message(self, message: Any) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    application = tornado.web.Application([(r"/", Echo)], websocket_max_message_size=LIMIT)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(application)
    server.add_sockets(sockets)
    return sockets[0].getsockname()[1], server


async def serve_ws4py() -> tuple[int, Any]:
    """ws4py's EchoWebSocket on its wsgiref server (its documented setup), served from a thread of
    this process: ws4py has threads, not an event loop; its manager thread does the reading."""
    import threading
    from wsgiref.simple_server import make_server

    from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import EchoWebSocket

    class QuietHandler(WebSocketWSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass  # wsgiref logs every request on stderr

    server = make_server("127.0.0.1", 0, server_class=WSGIServer, handler_class=QuietHandler,
                         app=WebSocketWSGIApplication(handler_cls=EchoWebSocket))
    server.initialize_websockets_manager()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_port, server


SERVERS = {"wsproto": serve_wsproto, "wsfast": serve_wsfast, "wsfast-callback": serve_wsfast_callback,
           "wsfast-aiofastnet": lambda: serve_wsfast(aiofastnet=True), "wsfast-callback-aiofastnet": lambda: serve_wsfast_callback(aiofastnet=True), "websockets": serve_websockets, "aiohttp": serve_aiohttp,
           "picows": serve_picows, "picows-stdlib": lambda: serve_picows(False), "tcp": serve_tcp,
           "tcp-buffered": lambda: serve_tcp(buffered=True), "tcp-aiofastnet": lambda: serve_tcp(aiofastnet=True), "tcp-task": lambda: serve_tcp(task=True),
           "tcp-task-eager": lambda: serve_tcp(task=True, eager=True), "tornado": serve_tornado, "ws4py": serve_ws4py}


def run_server(impl: str, loop_kind: str) -> int:
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        port, _server = await SERVERS[impl]()
        print(f"READY {port}", flush=True)
        stop = loop.create_future()
        stdin = sys.stdin.fileno()

        def readable() -> None:
            if not os.read(stdin, 4096) and not stop.done():
                stop.set_result(None)

        loop.add_reader(stdin, readable)
        await stop

    loop.run_until_complete(main())
    return 0


# ------------------------------------------------------------------------------------ clients


class Client:
    """One open connection: ``roundtrips(payload, count)`` returns the last echo."""

    async def roundtrips(self, payload: bytes, count: int) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class AwaitingClient(Client):
    """A client whose library sends with one coroutine and receives with another: ``open`` sets
    ``ws`` and the two bound methods, and a round trip awaits one after the other."""

    ws: Any
    send: Any
    receive: Any

    async def roundtrips(self, payload: bytes, count: int) -> Any:
        send, receive = self.send, self.receive
        echo = None
        for _ in range(count):
            await send(payload)
            echo = await receive()
        return echo

    async def close(self) -> None:
        await self.ws.close()


class WsfastClient(AwaitingClient):
    use_aiofastnet = False

    async def open(self, port: int) -> None:
        import wsfast

        self.ws = await wsfast.connect(f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None,
                                       max_message_size=LIMIT, max_frame_size=LIMIT, use_aiofastnet=self.use_aiofastnet)
        self.send, self.receive = self.ws.send, self.ws.recv


class WsfastCallbackClient(Client):
    """wsfast's callback API: the handler resolves a future per round trip, as picows' listener does."""

    use_aiofastnet = False

    async def open(self, port: int) -> None:
        from wsfast.asyncio import callbacks

        owner = self

        class Receiver(callbacks.Handler):
            def on_message(self, data: Any, text: bool) -> None:
                owner.waiter.set_result(data)

            def on_close(self, code: int, reason: str) -> None:
                if owner.waiter is not None and not owner.waiter.done():
                    owner.waiter.set_exception(ConnectionError(f"closed with {code}"))

        self.waiter: asyncio.Future[bytes] | None = None
        self.ws = await callbacks.connect(f"ws://127.0.0.1:{port}/", Receiver, compression=None, ping_interval=None,
                                          max_message_size=LIMIT, max_frame_size=LIMIT, use_aiofastnet=self.use_aiofastnet)

    async def roundtrips(self, payload: bytes, count: int) -> Any:
        create_future = asyncio.get_running_loop().create_future
        send = self.ws.send
        echo = None
        for _ in range(count):
            self.waiter = waiter = create_future()
            send(payload)
            echo = await waiter
        return echo

    async def close(self) -> None:
        self.ws.close()
        await self.ws.wait_closed()


class WebsocketsClient(AwaitingClient):
    async def open(self, port: int) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None, max_size=LIMIT)
        self.send, self.receive = self.ws.send, self.ws.recv


class AiohttpClient(AwaitingClient):
    async def open(self, port: int) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"ws://127.0.0.1:{port}/", compress=0, max_msg_size=LIMIT,
                                                heartbeat=None, autoping=True)
        self.send, self.receive = self.ws.send_bytes, self.ws.receive_bytes

    async def close(self) -> None:
        await super().close()
        await self.session.close()


class PicowsClient(Client):
    """picows delivers frames to a listener callback; a round trip awaits a future that the callback
    resolves with the message's bytes (fragments joined, in case a server fragments)."""

    use_aiofastnet: bool | None = None

    async def open(self, port: int) -> None:
        import picows

        binary, continuation = picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION
        text, close = picows.WSMsgType.TEXT, picows.WSMsgType.CLOSE
        owner = self

        class Listener(picows.WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                kind = frame.msg_type
                if kind is binary or kind is text:
                    if frame.fin:
                        owner.waiter.set_result(frame.get_payload_as_bytes())
                    else:
                        owner.parts = [frame.get_payload_as_bytes()]
                elif kind is continuation:
                    owner.parts.append(frame.get_payload_as_bytes())
                    if frame.fin:
                        owner.waiter.set_result(b"".join(owner.parts))
                elif kind is close:
                    transport.disconnect()

            def on_ws_disconnected(self, transport: Any) -> None:
                if owner.waiter is not None and not owner.waiter.done():
                    owner.waiter.set_exception(ConnectionError("disconnected"))

        self.waiter: asyncio.Future[bytes] | None = None
        self.parts: list[bytes] = []
        self.binary = binary
        self.transport, _ = await picows.ws_connect(Listener, f"ws://127.0.0.1:{port}/", max_frame_size=LIMIT,
                                                    enable_auto_ping=False, use_aiofastnet=self.use_aiofastnet)

    async def roundtrips(self, payload: bytes, count: int) -> Any:
        create_future = asyncio.get_running_loop().create_future
        send, binary = self.transport.send, self.binary
        echo = None
        for _ in range(count):
            self.waiter = waiter = create_future()
            send(binary, payload)
            echo = await waiter
        return echo

    async def close(self) -> None:
        import picows

        self.transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(self.transport.wait_disconnected(), 5)


class _TcpClientProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None
        self.expected = 0
        self.parts: list[bytes] = []
        self.received = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parts.append(data)
        self.received += len(data)
        if self.received >= self.expected and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))


class _TcpBufferedClientProtocol(_TcpClientProtocol, asyncio.BufferedProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = memoryview(bytearray(READ_BUFFER))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.buffer[:nbytes]))


class TcpClient(Client):
    """The ceiling: the same bytes as a WebSocket client's frame, echoed by a plain TCP server. The
    payload is sent as a frame-sized blob (header bytes included), so the payload handed to it is the
    already framed message; the echo is the joined bytes read back."""

    aiofastnet = False
    factory: Any = _TcpClientProtocol

    async def open(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        if self.aiofastnet:
            import aiofastnet as fastnet

            _, self.protocol = await fastnet.create_connection(loop, self.factory, "127.0.0.1", port)
        else:
            _, self.protocol = await loop.create_connection(self.factory, "127.0.0.1", port)

    async def roundtrips(self, payload: bytes, count: int) -> Any:
        protocol = self.protocol
        write = protocol.transport.write
        create_future = asyncio.get_running_loop().create_future
        size = len(payload)
        echo = None
        for _ in range(count):
            protocol.parts = []
            protocol.received = 0
            protocol.expected = size
            protocol.waiter = waiter = create_future()
            write(payload)
            await waiter
            parts = protocol.parts
            echo = parts[0] if len(parts) == 1 else b"".join(parts)
        return echo

    async def close(self) -> None:
        self.protocol.transport.close()


class _WsprotoClientProtocol(_WsprotoMessages, asyncio.Protocol):
    def __init__(self, owner: WsprotoClient) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, CloseConnection, Message, Ping

        self.owner = owner
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.parts: list[Any] = []
        self.events = (AcceptConnection, CloseConnection, Message, Ping)  # bound once, as _WsprotoEcho's

    def connection_made(self, transport: Any) -> None:
        from wsproto.events import Request

        self.transport = transport
        transport.write(self.ws.send(Request(host="127.0.0.1", target="/")))

    def data_received(self, data: bytes) -> None:
        AcceptConnection, CloseConnection, Message, Ping = self.events
        ws, owner = self.ws, self.owner
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Message):
                whole = self._gathered(event)
                if whole is not None:
                    owner.waiter.set_result(whole)
            elif isinstance(event, AcceptConnection):
                owner.waiter.set_result(None)
            elif isinstance(event, Ping):
                self.transport.write(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.owner.waiter is not None and not self.owner.waiter.done():
            self.owner.waiter.set_exception(ConnectionError("connection lost"))


class WsprotoClient(Client):
    """wsproto's sans-IO client in an asyncio.Protocol; a round trip awaits a future resolved by
    the protocol once the echo's last piece is in."""

    async def open(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.waiter: asyncio.Future[Any] | None = loop.create_future()
        _, self.protocol = await loop.create_connection(lambda: _WsprotoClientProtocol(self), "127.0.0.1", port)
        await self.waiter

    async def roundtrips(self, payload: Any, count: int) -> Any:
        from wsproto.events import BytesMessage, TextMessage

        create_future = asyncio.get_running_loop().create_future
        protocol = self.protocol
        send, write = protocol.ws.send, protocol.transport.write
        kind = TextMessage if isinstance(payload, str) else BytesMessage
        echo = None
        for _ in range(count):
            self.waiter = waiter = create_future()
            write(send(kind(data=payload)))
            echo = await waiter
        return echo

    async def close(self) -> None:
        from wsproto.events import CloseConnection

        self.protocol.transport.write(self.protocol.ws.send(CloseConnection(code=1000)))
        self.protocol.transport.close()


class TornadoClient(Client):
    """tornado's websocket_connect: ``write_message`` (awaited: its flow control) and ``read_message``."""

    async def open(self, port: int) -> None:
        from tornado.websocket import websocket_connect

        self.ws = await websocket_connect(f"ws://127.0.0.1:{port}/", max_message_size=LIMIT)

    async def roundtrips(self, payload: Any, count: int) -> Any:
        ws = self.ws
        write, read, binary = ws.write_message, ws.read_message, isinstance(payload, bytes)
        echo = None
        for _ in range(count):
            await write(payload, binary=binary)
            echo = await read()
        return echo

    async def close(self) -> None:
        self.ws.close()


class WebsocketClientClient(Client):
    """websocket-client, a blocking client: a round trip is ``send`` then ``recv`` (the loop is idle
    meanwhile: nothing else runs in this process)."""

    async def open(self, port: int) -> None:
        import websocket

        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)

    async def roundtrips(self, payload: Any, count: int) -> Any:
        ws = self.ws
        send, recv = ws.send_binary if isinstance(payload, bytes) else ws.send, ws.recv
        echo = None
        for _ in range(count):
            send(payload)
            echo = recv()
        return echo

    async def close(self) -> None:
        self.ws.close()


class Ws4pyClient(Client):
    """ws4py's threaded client: its thread reads and calls ``received_message``, which hands the
    message over through a queue; a round trip is ``send`` then a wait on that queue."""

    async def open(self, port: int) -> None:
        import queue

        from ws4py.client.threadedclient import WebSocketClient

        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

        class Receiver(WebSocketClient):  # type: ignore[misc]  # untyped library
            def received_message(self, message: Any) -> None:
                inbox.put(message.data if message.is_binary else str(message))

            def closed(self, code: int, reason: Any = None) -> None:
                inbox.put(ConnectionError(f"closed with {code}"))

        self.inbox = inbox
        self.ws = Receiver(f"ws://127.0.0.1:{port}/")
        self.ws.daemon = True
        self.ws.connect()

    async def roundtrips(self, payload: Any, count: int) -> Any:
        send, get, binary = self.ws.send, self.inbox.get, isinstance(payload, bytes)
        echo = None
        for _ in range(count):
            send(payload, binary)
            echo = get(timeout=TIMEOUT)
            if isinstance(echo, Exception):
                raise echo
        return echo

    async def close(self) -> None:
        self.ws.close()


class PicowsStdlibClient(PicowsClient):
    use_aiofastnet = False


class WsfastFastnetClient(WsfastClient):
    use_aiofastnet = True


class WsfastCallbackFastnetClient(WsfastCallbackClient):
    use_aiofastnet = True


class TcpFastnetClient(TcpClient):
    aiofastnet = True


class TcpBufferedClient(TcpClient):
    factory = _TcpBufferedClientProtocol


CLIENTS = {"wsproto": WsprotoClient, "wsfast": WsfastClient, "wsfast-callback": WsfastCallbackClient,
           "wsfast-aiofastnet": WsfastFastnetClient, "wsfast-callback-aiofastnet": WsfastCallbackFastnetClient, "websockets": WebsocketsClient, "aiohttp": AiohttpClient,
           "picows": PicowsClient, "picows-stdlib": PicowsStdlibClient, "tcp": TcpClient,
           "tcp-buffered": TcpBufferedClient, "tcp-aiofastnet": TcpFastnetClient, "tcp-task": TcpBufferedClient,
           "tcp-task-eager": TcpBufferedClient, "tornado": TornadoClient, "websocket-client": WebsocketClientClient, "ws4py": Ws4pyClient}


def message(impl: str, size: int, seed: int, text: bool = False) -> bytes | str:
    """What a client sends per round trip: ``size`` random bytes (``size`` random ASCII letters with
    ``text``), or for tcp a frame-sized blob."""
    import random

    generator = random.Random(seed * 7919 + size)
    if text:
        return "".join(generator.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", k=size))
    return generator.randbytes(frame_size(size) if impl.startswith("tcp") else size)


def run_client(impl: str, loop_kind: str, port: int, text: bool = False) -> int:
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)
    client = CLIENTS[impl]()
    loop.run_until_complete(asyncio.wait_for(client.open(port), TIMEOUT))
    print("READY", flush=True)
    payloads: dict[int, bytes] = {}
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            size = int(words[1])
            if words[0] == "verify":
                problem = None
                for seed in range(1, VERIFY_MESSAGES + 1):
                    sent = message(impl, size, seed, text)
                    echo = loop.run_until_complete(asyncio.wait_for(client.roundtrips(sent, 1), TIMEOUT))
                    if type(echo) is not type(sent):
                        problem = f"echo #{seed} is {type(echo).__name__}, not {type(sent).__name__}"
                    elif echo != sent:
                        problem = f"echo #{seed} differs ({len(echo)} bytes back for {len(sent)} sent)"
                    if problem:
                        break
                print(f"FAIL {problem}" if problem else f"OK {VERIFY_MESSAGES} echoes of {size} B equal", flush=True)
            elif words[0] == "run":
                count = int(words[2])
                payload = payloads.get(size) or payloads.setdefault(size, message(impl, size, 0, text))
                times, cpu, wall = os.times(), time.process_time(), time.perf_counter()
                echo = loop.run_until_complete(asyncio.wait_for(client.roundtrips(payload, count), TIMEOUT))
                wall, cpu, after = time.perf_counter() - wall, time.process_time() - cpu, os.times()
                print(json.dumps({"wall": wall, "cpu": cpu, "user": after.user - times.user,
                                  "system": after.system - times.system, "ok": echo == payload}), flush=True)
            else:
                print(f"FAIL unknown command {words[0]!r}", flush=True)
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(client.close(), 5))
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        loop.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("impl", choices=IMPLS + tuple(f"{name}+wsfast" for name in ACCELERATED))
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--port", type=int)
    parser.add_argument("--text", action="store_true", help="a client sends text messages")
    args = parser.parse_args(argv)
    warm_allocator()
    impl, _, accelerated = args.impl.partition("+")
    if accelerated:
        import wsfast.accelerate

        wsfast.accelerate.install(impl)
    if args.role == "server":
        if impl in CLIENT_ONLY:
            parser.error(f"{impl} has no server")
        return run_server(impl, args.loop)
    if args.port is None:
        parser.error("a client needs --port")
    return run_client(impl, args.loop, args.port, args.text)


if __name__ == "__main__":
    sys.exit(main())
