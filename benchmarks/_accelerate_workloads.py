"""The workloads of report_accelerate.py: one realistic piece of each library's work, run through the
library's own API, so that what wsfast.accelerate replaces is timed inside everything around it.

Each workload's ``build()`` runs in a fresh process before anything is installed and returns
``(work, check)``: ``work()`` does one unit of work (receive one message, send one, validate one text),
and ``check(result)`` raises unless the result is right. The checks use only the inputs and wsfast's
kernels, never the library's code that is being replaced, and run before and after the install.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import _bench_cases as bc

__all__ = ["WORKLOADS", "Workload", "by_name"]

Work = Callable[[], Any]
Check = Callable[[Any], None]


@dataclass(frozen=True)
class Workload:
    """One library's workload, timed before and after ``wsfast.accelerate.install(library)``.

    Attributes:
        name: a short id (the ``--only`` argument and the child process's argument).
        library: the ``wsfast.accelerate`` name.
        dist: the distribution whose version the report shows.
        title: what one unit of work is.
        build: makes ``(work, check)``; runs before the install.
        original: ``"module:attribute"`` of the object that "before" runs and the install replaces
            (the report names what it actually is here: C or Python, NVX or not, wsaccel or not).
        target: the speedup (before / after) the issue asks for, if any.
        env: environment variables of the process (set before the library is imported).
        hide: modules made unimportable in the process (an optional accelerator the library would use).
        needs: modules that must import, else the workload is skipped.
    """

    name: str
    library: str
    dist: str
    title: str
    build: Callable[[], tuple[Work, Check]]
    original: str
    target: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    hide: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


def _expect(got: Any, wanted: Any, what: str) -> None:
    if got != wanted:
        raise AssertionError(f"{what}: wrong result ({len(got) if hasattr(got, '__len__') else got!r})")


def _unmask_frame(frame: bytes) -> bytes:
    """The payload of one masked frame, unmasked with wsfast's kernel (the reference for the checks)."""
    from wsfast import kernels

    length = frame[1] & 0x7F
    offset = 2
    if length == 126:
        (length,), offset = struct.unpack_from("!H", frame, 2), 4
    elif length == 127:
        (length,), offset = struct.unpack_from("!Q", frame, 2), 10
    if not frame[1] & 0x80:
        raise AssertionError("the frame is not masked")
    key = frame[offset : offset + 4]
    payload = frame[offset + 4 :]
    _expect(len(payload), length, "frame length")
    return kernels.mask(payload, key)


# ------------------------------------------------------------------------------------ wsproto


def _wsproto_pair() -> tuple[Any, Any]:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    next(client.events())
    return client, server


def wsproto_receive(chunk: int | None) -> Callable[[], tuple[Work, Check]]:
    def build() -> tuple[Work, Check]:
        from wsproto.events import BytesMessage

        client, server = _wsproto_pair()
        data = bc.payload(bc.MIB)
        frame = client.send(BytesMessage(data=data))
        pieces = [frame] if chunk is None else [frame[i : i + chunk] for i in range(0, len(frame), chunk)]

        def work() -> Any:
            received = []
            for piece in pieces:  # as a reader would: each read handed over, then the events taken
                server.receive_data(piece)
                received += [event.data for event in server.events()]
            return b"".join(received)

        return work, lambda got: _expect(got, data, "wsproto receive")

    return build


def wsproto_send() -> tuple[Work, Check]:
    from wsproto.events import BytesMessage

    client, _ = _wsproto_pair()
    data = bc.payload(64 * bc.KIB)
    return (lambda: client.send(BytesMessage(data=data))), lambda got: _expect(_unmask_frame(got), data, "wsproto send")


# ------------------------------------------------------------------------------------ websocket-client


def websocket_client_format() -> tuple[Work, Check]:
    from websocket import ABNF

    data = bc.payload(64 * bc.KIB)

    def work() -> bytes:
        return ABNF.create_frame(data, ABNF.OPCODE_BINARY).format()

    return work, lambda got: _expect(_unmask_frame(got), data, "ABNF.format")


def websocket_client_send() -> tuple[Work, Check]:
    import websocket

    sender, receiver = socket.socketpair()
    ws = websocket.WebSocket()
    ws.sock, ws.connected = sender, True  # as after a handshake; the frame goes out through send()
    data = bc.payload(64 * bc.KIB)
    size = len(data) + 14  # 2-byte header, 8-byte length, 4-byte key
    buffer = bytearray(size)
    view = memoryview(buffer)

    def work() -> bytearray:
        ws.send_binary(data)
        got = 0
        while got < size:
            got += receiver.recv_into(view[got:])
        return buffer

    return work, lambda got: _expect(_unmask_frame(bytes(got)), data, "WebSocket.send_binary")


def websocket_client_validate() -> tuple[Work, Check]:
    from websocket import _utils

    text = bc.text("mixed", 64 * bc.KIB)
    return (lambda: _utils.validate_utf8(text)), lambda got: _expect(got, True, "validate_utf8")


# ------------------------------------------------------------------------------------ autobahn


def autobahn_validate() -> tuple[Work, Check]:
    from autobahn.websocket import protocol

    text = bc.text("mixed", 64 * bc.KIB)
    # the name the protocol reads, looked up per message, as autobahn does for every new connection
    return (lambda: protocol.Utf8Validator().validate(text)), lambda got: _expect(
        got[:3], (True, True, len(text)), "Utf8Validator.validate")


def autobahn_mask() -> tuple[Work, Check]:
    from autobahn.websocket import protocol

    from wsfast import kernels

    data = bc.payload(64 * bc.KIB)
    return (lambda: protocol.create_xor_masker(bc.KEY, len(data)).process(data)), lambda got: _expect(
        bytes(got), kernels.mask(data, bc.KEY), "create_xor_masker")


# ------------------------------------------------------------------------------------ ws4py


def ws4py_validate() -> tuple[Work, Check]:
    from ws4py import streaming

    text = bc.text("mixed", 64 * bc.KIB)
    # ws4py counts a valid chunk as its last index
    return (lambda: streaming.Utf8Validator().validate(text)), lambda got: _expect(
        got[:3], (True, True, len(text) - 1), "Utf8Validator.validate")


def ws4py_receive() -> tuple[Work, Check]:
    from ws4py.framing import OPCODE_TEXT, Frame
    from ws4py.streaming import Stream

    text = bc.text("mixed", 64 * bc.KIB)
    frame = Frame(opcode=OPCODE_TEXT, body=text, masking_key=bc.KEY, fin=1).build()

    def work() -> Any:
        stream = Stream()  # a server's stream: expects masked frames, validates text
        stream.parser.send(frame)
        return stream.message

    return work, lambda got: _expect(bytes(got.data), text, "Stream")


# ------------------------------------------------------------------------------------ tornado


def tornado_mask() -> tuple[Work, Check]:
    import tornado.websocket

    from wsfast import kernels

    data = bc.payload(100_000)
    return (lambda: tornado.websocket._websocket_mask(bc.KEY, data)), lambda got: _expect(
        got, kernels.mask(data, bc.KEY), "_websocket_mask")


def tornado_echo() -> tuple[Work, Check]:
    import tornado.httpserver
    import tornado.testing
    import tornado.web
    import tornado.websocket

    class Echo(tornado.websocket.WebSocketHandler):
        def on_message(self, message: Any) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    data = bc.payload(100_000)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def start() -> Any:
        app = tornado.web.Application([("/", Echo)])
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        return await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/")

    client = loop.run_until_complete(start())

    async def round_trip() -> Any:
        await client.write_message(data, binary=True)
        return await client.read_message()

    return (lambda: loop.run_until_complete(round_trip())), lambda got: _expect(got, data, "tornado echo")


# ------------------------------------------------------------------------------------ websockets


def websockets_receive() -> tuple[Work, Check]:
    from websockets.frames import Frame, Opcode
    from websockets.protocol import Protocol, Side, State

    data = bc.payload(bc.MIB)
    frame = Frame(Opcode.BINARY, data).serialize(mask=True)

    def work() -> Any:
        # a Protocol's frame loop is a generator made when it is created: a fresh one per call, so
        # that "after" runs the loop install() put in (about 10 µs of the time is the creation)
        server = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
        server.receive_data(frame)
        return b"".join(event.data for event in server.events_received() if isinstance(event, Frame))

    return work, lambda got: _expect(got, data, "Protocol.receive_data")


def websockets_mask() -> tuple[Work, Check]:
    from websockets import frames

    from wsfast import kernels

    data = bc.payload(bc.MIB)
    return (lambda: frames.apply_mask(data, bc.KEY)), lambda got: _expect(got, kernels.mask(data, bc.KEY), "apply_mask")


# ------------------------------------------------------------------------------------ aiohttp


def aiohttp_send() -> tuple[Work, Check]:
    from aiohttp import WSMsgType
    from aiohttp._websocket.writer import WebSocketWriter

    class Transport:
        def __init__(self) -> None:
            self.sent = b""

        def write(self, data: bytes) -> None:
            self.sent = data

        def is_closing(self) -> bool:
            return False

    class Protocol:
        _paused = False

    transport = Transport()
    writer = WebSocketWriter(Protocol(), transport, use_mask=True)  # type: ignore[arg-type]
    data = bc.payload(64 * bc.KIB)

    def work() -> bytes:
        coroutine = writer.send_frame(data, WSMsgType.BINARY)
        try:
            coroutine.send(None)  # an uncompressed frame is written without suspending
        except StopIteration:
            pass
        return transport.sent

    return work, lambda got: _expect(_unmask_frame(got), data, "WebSocketWriter.send_frame")


def aiohttp_mask() -> tuple[Work, Check]:
    from aiohttp._websocket import writer

    from wsfast import kernels

    data = bc.payload(64 * bc.KIB)
    buffer = bytearray(data)

    def work() -> bytearray:
        writer.websocket_mask(bc.KEY, buffer)  # in place, as the writer masks its copy of a payload
        return buffer

    expected = (data, kernels.mask(data, bc.KEY))  # an odd or even number of calls so far
    return work, lambda got: _expect(bytes(got) in expected, True, "websocket_mask")


# ------------------------------------------------------------------------------------ the list

_NO_WSACCEL = ("wsaccel",)

WORKLOADS: tuple[Workload, ...] = (
    Workload("wsproto-receive", "wsproto", "wsproto", "receive a 1 MiB masked binary message, fed whole "
             "(WSConnection, server side)", wsproto_receive(None), "wsproto.frame_protocol:XorMaskerSimple", 3.0),
    Workload("wsproto-receive-64k-reads", "wsproto", "wsproto", "the same 1 MiB message fed in 64 KiB reads",
             wsproto_receive(64 * bc.KIB), "wsproto.frame_protocol:XorMaskerSimple"),
    Workload("wsproto-send", "wsproto", "wsproto", "send a 64 KiB binary message (WSConnection, client side, masked)",
             wsproto_send, "wsproto.frame_protocol:XorMaskerSimple"),
    Workload("websocket-client-format", "websocket-client", "websocket-client", "build a masked 64 KiB binary frame "
             "(ABNF.create_frame(...).format()), wsaccel not installed", websocket_client_format,
             "websocket._abnf:_mask", 3.0, hide=_NO_WSACCEL),
    Workload("websocket-client-send", "websocket-client", "websocket-client", "send a 64 KiB binary message "
             "(WebSocket.send_binary) over a socketpair, read back in the same thread, wsaccel not installed",
             websocket_client_send, "websocket._abnf:_mask", hide=_NO_WSACCEL),
    Workload("websocket-client-format-wsaccel", "websocket-client", "websocket-client", "build a masked 64 KiB "
             "binary frame, with wsaccel installed (websocket-client then masks with it)", websocket_client_format,
             "websocket._abnf:_mask", needs=("wsaccel",)),
    Workload("websocket-client-validate", "websocket-client", "websocket-client", "validate a received 64 KiB "
             "mixed-language text message (validate_utf8), wsaccel not installed", websocket_client_validate,
             "websocket._utils:_validate_utf8", hide=_NO_WSACCEL),
    Workload("autobahn-validate", "autobahn", "autobahn", "validate 64 KiB of mixed-language UTF-8 "
             "(Utf8Validator().validate), autobahn as installed (its NVX C extension where built)",
             autobahn_validate, "autobahn.websocket.protocol:Utf8Validator", 20.0),
    Workload("autobahn-validate-python", "autobahn", "autobahn", "the same with AUTOBAHN_USE_NVX=0 "
             "(autobahn's pure-Python validator)", autobahn_validate, "autobahn.websocket.protocol:Utf8Validator",
             20.0, env={"AUTOBAHN_USE_NVX": "0"}),
    Workload("autobahn-mask", "autobahn", "autobahn", "unmask a 64 KiB payload (create_xor_masker(key).process)",
             autobahn_mask, "autobahn.websocket.protocol:create_xor_masker"),
    Workload("ws4py-validate", "ws4py", "ws4py", "validate 64 KiB of mixed-language UTF-8 (Utf8Validator().validate)",
             ws4py_validate, "ws4py.streaming:Utf8Validator", 20.0),
    Workload("ws4py-receive", "ws4py", "ws4py", "receive a masked 64 KiB text message (Stream: parse, unmask, "
             "validate)", ws4py_receive, "ws4py.streaming:Utf8Validator"),
    Workload("tornado-mask", "tornado", "tornado", "mask 100 KB (_websocket_mask: every frame a client sends, "
             "every frame a server receives)", tornado_mask, "tornado.websocket:_websocket_mask"),
    Workload("tornado-echo", "tornado", "tornado", "echo 100 KB over 127.0.0.1: client write_message + server "
             "echo + client read_message, both ends in one IOLoop", tornado_echo, "tornado.websocket:_websocket_mask"),
    Workload("websockets-receive", "websockets", "websockets", "receive a 1 MiB masked binary message "
             "(a new Protocol, receive_data + events_received, server side)", websockets_receive,
             "websockets.protocol:Protocol.parse"),
    Workload("websockets-mask", "websockets", "websockets", "apply_mask on 1 MiB", websockets_mask,
             "websockets.frames:apply_mask"),
    Workload("aiohttp-send", "aiohttp", "aiohttp", "send a 64 KiB binary frame (client WebSocketWriter.send_frame, "
             "masked)", aiohttp_send, "aiohttp._websocket.writer:websocket_mask"),
    Workload("aiohttp-mask", "aiohttp", "aiohttp", "websocket_mask on 64 KiB, in place", aiohttp_mask,
             "aiohttp._websocket.writer:websocket_mask"),
)


def by_name(name: str) -> Workload:
    """One workload.

    Raises:
        KeyError: no such workload.
    """
    for workload in WORKLOADS:
        if workload.name == name:
            return workload
    raise KeyError(f"no workload {name!r}: choose from {', '.join(w.name for w in WORKLOADS)}")


def apply_environment(workload: Workload) -> None:
    """Set the workload's variables and hide its modules; call before the library is imported."""
    os.environ.update(workload.env)
    for module in workload.hide:
        sys.modules[module] = None  # type: ignore[assignment]  # "import wsaccel" raises ImportError
