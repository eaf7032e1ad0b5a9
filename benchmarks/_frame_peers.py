"""What the frame-codec benchmarks measure: workloads, contenders and peers, shared by
``report_frames.py`` and ``test_bench_frames.py``.

Three families of contenders, each a :class:`_bench_cases.Case` (an expression over bound names) so
that ``report.py``'s sampler times them exactly like the kernels:

- **decode**: ``run(data)`` turns a whole stream of :data:`FRAMES` frames (``data`` is a list of
  chunks: one for "whole", 64 KiB pieces for "chunked") into one Python object per frame that holds
  the frame's payload, with a fresh decoder per call (picows: one protocol reused, see
  :func:`picows_decoder`). The result is dropped after the call, so freeing the frames is timed too,
  for every contender alike. Per-frame time = time per call / :data:`FRAMES`.
- **encode**: one frame per call, ``payload`` in, wire bytes out (or handed to a fake transport).
- **deflate**: one permessage-deflate round trip per call (compress + decompress one message), the
  messages taken in turn from a fixed list so that the shared window sees varied data.

Every peer is optional: a missing one gives a case with a ``skip`` reason. :func:`verify` decodes
each stream once with every decoder and checks the payloads against the ones the stream was built
from, so a contender that skipped work (or misread the stream) cannot produce a figure.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import _bench_cases as bc

KIB = bc.KIB
#: Frames per decoded stream (the issue's workload).
FRAMES = 100_000
#: The size of the pieces a "chunked" stream is fed in.
CHUNK = 64 * KIB
#: The limits given to the decoders that take one (wsfast's default, and websockets').
MAX_SIZE = 1 << 20

TEXT, BINARY = 1, 2


# ------------------------------------------------------------------------------------ workloads


@dataclass(frozen=True)
class Kind:
    """A frame shape: opcode and payload size."""

    name: str
    opcode: int
    size: int

    @property
    def label(self) -> str:
        return f"{self.size} B {self.name}"


KINDS = (Kind("text", TEXT, 10), Kind("binary", BINARY, 125))
FEEDS = ("whole", "64 KiB chunks")


@dataclass(frozen=True)
class Scenario:
    """One decode workload: a kind of frame, masked (client to server) or not, fed whole or chunked."""

    kind: Kind
    masked: bool
    feed: str

    @property
    def label(self) -> str:
        return f"{self.kind.label}, {'masked' if self.masked else 'unmasked'}, {self.feed}"


SCENARIOS = tuple(Scenario(kind, masked, feed) for kind in KINDS for masked in (False, True) for feed in FEEDS)


def payloads(kind: Kind, count: int = FRAMES) -> list[bytes]:
    """``count`` payloads of one kind, the same on every run: ASCII text ("msg 000042" for 10 bytes)
    or pseudo-random bytes."""
    if kind.name == "text":
        return [f"msg {i:0{kind.size - 4}d}".encode() for i in range(count)]
    blob = random.Random(kind.size).randbytes(4096 + kind.size)
    return [blob[(i * 37) % 4096:(i * 37) % 4096 + kind.size] for i in range(count)]


def _xor(data: bytes, key: bytes) -> bytes:
    """``data`` masked with ``key``, written here (not wsfast's code) so the streams do not depend on
    the codec under test."""
    size = len(data)
    keystream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(size, "big")


def build_stream(opcode: int, items: list[bytes], masked: bool) -> bytes:
    """The frames carrying ``items``, FIN set, masked with a fresh (seeded) key each if ``masked``."""
    rng = random.Random(len(items) * 2 + masked)
    parts = []
    for payload in items:
        size = len(payload)
        bit = 0x80 if masked else 0
        if size < 126:
            head = bytes((0x80 | opcode, bit | size))
        elif size < 65536:
            head = bytes((0x80 | opcode, bit | 126)) + size.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, bit | 127)) + size.to_bytes(8, "big")
        if masked:
            key = rng.randbytes(4)
            parts.append(head + key + _xor(payload, key))
        else:
            parts.append(head + payload)
    return b"".join(parts)


class Workloads:
    """The streams and chunk lists, built on first use and shared by every contender."""

    def __init__(self) -> None:
        self._payloads: dict[Kind, list[bytes]] = {}
        self._streams: dict[tuple[Kind, bool], bytes] = {}
        self._chunks: dict[Scenario, list[bytes]] = {}

    def payloads(self, kind: Kind) -> list[bytes]:
        if kind not in self._payloads:
            self._payloads[kind] = payloads(kind)
        return self._payloads[kind]

    def stream(self, kind: Kind, masked: bool) -> bytes:
        key = (kind, masked)
        if key not in self._streams:
            self._streams[key] = build_stream(kind.opcode, self.payloads(kind), masked)
        return self._streams[key]

    def chunks(self, scenario: Scenario) -> list[bytes]:
        if scenario not in self._chunks:
            data = self.stream(scenario.kind, scenario.masked)
            if scenario.feed == "whole":
                self._chunks[scenario] = [data]
            else:
                self._chunks[scenario] = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
        return self._chunks[scenario]


# ------------------------------------------------------------------------------------ peers


def load_peers() -> dict[str, bc.Peer]:
    """The peer libraries, imported if installed (see :class:`_bench_cases.Peer`)."""
    peers: dict[str, bc.Peer] = {}

    def add(name: str, dist: str, loader: Callable[[], dict[str, Any]], hint: str = "") -> None:
        try:
            names = loader()
        except Exception as error:  # noqa: BLE001 - any import failure means "not available"
            reason = f"{name} is not available ({type(error).__name__}: {error})"
            peers[name] = bc.Peer(name, skip=reason + (f"; {hint}" if hint else ""))
            return
        peers[name] = bc.Peer(name, names, bc._version(dist))

    def websockets() -> dict[str, Any]:
        frames = importlib.import_module("websockets.frames")
        return {"Frame": frames.Frame, "Opcode": frames.Opcode,
                "StreamReader": importlib.import_module("websockets.streams").StreamReader,
                "Protocol": importlib.import_module("websockets.protocol").Protocol,
                "Side": importlib.import_module("websockets.protocol").Side}

    def wsproto() -> dict[str, Any]:
        module = importlib.import_module("wsproto.frame_protocol")
        return {"FrameProtocol": module.FrameProtocol, "Opcode": module.Opcode}

    def aiohttp(flavour: str) -> Callable[[], dict[str, Any]]:
        def load() -> dict[str, Any]:
            module = importlib.import_module(f"aiohttp._websocket.reader_{flavour}")
            names = {"Reader": module.WebSocketReader, "Queue": module.WebSocketDataQueue}
            if flavour == "py":
                names["Writer"] = importlib.import_module("aiohttp._websocket.writer").WebSocketWriter
            return names
        return load

    def picows() -> dict[str, Any]:
        module = importlib.import_module("picows.picows")
        return {"module": module}

    add("websockets", "websockets", websockets)
    add("wsproto", "wsproto", wsproto)
    add("aiohttp", "aiohttp", aiohttp("c"), "the Cython extension is missing (AIOHTTP_NO_EXTENSIONS build?)")
    add("aiohttp-python", "aiohttp", aiohttp("py"))
    add("picows", "picows", picows, "pip install picows")
    return peers


# ------------------------------------------------------------------------------------ cases


@dataclass
class BenchCase(bc.Case):
    """A contender whose bound names are made by ``factory(harness)`` when it is about to run (picows
    needs the event-loop harness; building every decoder at collection time would cost seconds)."""

    factory: Callable[[Any], dict[str, Any]] | None = None
    #: What exactly is measured, one or two sentences for the report.
    note: str = ""

    def build(self, harness: PicowsHarness | None = None) -> BenchCase:
        if self.factory is not None and not self.skip:
            self.names = self.factory(harness)
            self.factory = None
        return self


@dataclass
class DecodeCase(BenchCase):
    """A decoder: ``run(data)`` over the chunks. ``payloads`` turns its result into the payload bytes
    (for :func:`verify` only, never timed); None for a contender that keeps no payload."""

    payloads: Callable[[Any], list[bytes]] | None = None


# ------------------------------------------------------------------------------------ decoders


# Every decoder below is a ``run(chunks, keep=False)``. With ``keep`` it returns every frame object of
# the stream (for verify); without, each feed's batch is dropped when the next chunk arrives, as an
# application that handles the frames of one read before the next would do, and nothing is returned:
# fed whole, the one batch holds all 100,000 frames until the call returns; fed in 64 KiB chunks, a
# few hundred at a time.
Run = Callable[..., Any]


def _wsfast_decoder(Decoder: Any, masked: bool) -> Run:
    def run(chunks: list[bytes], keep: bool = False) -> Any:
        decoder = Decoder(expect_masked=masked, max_frame_size=MAX_SIZE, max_message_size=MAX_SIZE)
        feed = decoder.feed
        if keep:
            return [frame for chunk in chunks for frame in feed(chunk)]
        for chunk in chunks:
            batch = feed(chunk)  # noqa: F841 - delivered, then dropped with the next batch
        return None
    return run


def _websockets_frames(names: dict[str, Any], masked: bool) -> Run:
    parse = names["Frame"].parse
    StreamReader = names["StreamReader"]

    def parser(read_exact: Any, append: Any) -> Any:
        # What Protocol.parse does per frame, minus recv_frame (close handling, message size).
        extensions: list[Any] = []
        while True:
            append((yield from parse(read_exact, mask=masked, max_size=MAX_SIZE, extensions=extensions)))

    def run(chunks: list[bytes], keep: bool = False) -> Any:
        reader = StreamReader()
        frames: list[Any] = []
        gen = parser(reader.read_exact, frames.append)
        next(gen)
        feed = reader.feed_data
        for chunk in chunks:
            feed(chunk)
            next(gen)
            if not keep:
                frames.clear()
        return frames if keep else None
    return run


def _websockets_protocol(names: dict[str, Any], masked: bool) -> Run:
    Protocol, Side = names["Protocol"], names["Side"]
    side = Side.SERVER if masked else Side.CLIENT

    def run(chunks: list[bytes], keep: bool = False) -> Any:
        protocol = Protocol(side, max_size=MAX_SIZE)
        receive, events = protocol.receive_data, protocol.events_received
        if keep:
            frames: list[Any] = []
            for chunk in chunks:
                receive(chunk)
                frames += events()
            return frames
        for chunk in chunks:
            receive(chunk)
            batch = events()  # noqa: F841
        return None
    return run


def _wsproto(names: dict[str, Any], masked: bool) -> Run:
    FrameProtocol = names["FrameProtocol"]

    def run(chunks: list[bytes], keep: bool = False) -> Any:
        protocol = FrameProtocol(client=not masked, extensions=[])
        receive, received = protocol.receive_bytes, protocol.received_frames
        if keep:
            frames: list[Any] = []
            for chunk in chunks:
                receive(chunk)
                frames += received()
            return frames
        for chunk in chunks:
            receive(chunk)
            batch = list(received())  # noqa: F841
        return None
    return run


def _wsproto_payloads(result: list[Any]) -> list[bytes]:
    # wsproto hands out the part of a data frame that has arrived: a frame cut by a chunk boundary
    # comes as two Frame events, the first with frame_finished False.
    payloads, parts = [], []
    for frame in result:
        parts.append(frame.payload.encode() if isinstance(frame.payload, str) else bytes(frame.payload))
        if frame.frame_finished:
            payloads.append(b"".join(parts))
            parts = []
    return payloads


class _FlowControl:
    """What aiohttp's queue asks of its protocol (only when it goes over its limit, never here)."""

    _reading_paused = False

    def pause_reading(self) -> None:  # pragma: no cover - the limit is never reached
        self._reading_paused = True

    def resume_reading(self) -> None:  # pragma: no cover
        self._reading_paused = False


def _aiohttp(names: dict[str, Any]) -> Run:
    Reader, Queue = names["Reader"], names["Queue"]
    protocol = _FlowControl()

    def run(chunks: list[bytes], keep: bool = False) -> Any:
        # limit: the queue pauses the transport (and the reader stalls) above 2 x limit bytes
        # queued; the largest value its C counters hold, so that 100,000 queued messages fit.
        queue = Queue(protocol, 2**31 - 1, loop=None)
        reader = Reader(queue, MAX_SIZE, False, False)  # no compression, text left as bytes
        feed, queued = reader.feed_data, queue._buffer  # a deque of (WSMessage, size)
        for chunk in chunks:
            feed(chunk)
            if not keep:
                queued.clear()
        return queued if keep else None
    return run


# --- picows: its parser lives in WSProtocol, an asyncio.BufferedProtocol; fed through a fake transport.


class _FakeSocket:
    """What picows' connection_made and WSTransport ask of the socket."""

    def fileno(self) -> int:
        return -1

    def setsockopt(self, *args: Any) -> None:
        pass

    def getsockopt(self, *args: Any) -> int:
        return 0


class _FakeTransport:
    """An asyncio transport that keeps the last write. ``get_write_buffer_size`` says 1, so picows
    hands every frame to ``write`` as a new bytes object instead of calling send(2) on the socket."""

    def __init__(self) -> None:
        import collections

        self.sink: collections.deque[Any] = collections.deque(maxlen=1)
        self.write = self.sink.append
        self.writes: list[bytes] = []
        self.get_write_buffer_size = itertools.repeat(1).__next__
        self._socket = _FakeSocket()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._socket if name == "socket" else default

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


class PicowsHarness:
    """One event loop (never running while timed) for picows' objects, which need one to be built."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.loop = asyncio.new_event_loop()
        self.logger = logging.getLogger("wsfast.benchmarks.picows")
        self.logger.setLevel(logging.WARNING)
        self.logger.propagate = False
        self.logger.addHandler(logging.NullHandler())

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()

    def listener_class(self, keep_payload: bool) -> type:
        WSListener = self.module.WSListener

        if keep_payload:
            class Collect(WSListener):  # type: ignore[misc, valid-type]
                payloads: list[bytes] | None = None

                def on_ws_frame(self, transport: Any, frame: Any) -> None:
                    self.payloads.append(frame.get_payload_as_bytes())  # type: ignore[union-attr]
        else:
            class Collect(WSListener):  # type: ignore[misc, valid-type, no-redef]
                payloads: list[bytes] | None = None

                def on_ws_frame(self, transport: Any, frame: Any) -> None:
                    pass
        return Collect

    def protocol(self, server: bool, keep_payload: bool, buffer_size: int) -> tuple[Any, Any]:
        """A WSProtocol past its handshake, and its listener."""
        listener = self.listener_class(keep_payload)()

        async def build() -> Any:
            protocol = self.module.WSProtocol(
                None if server else "example.com:80", None if server else "/", not server,
                lambda *args: listener, self.logger, False, None, False, 10.0, 5.0,
                self.module.WSAutoPingStrategy.PING_WHEN_IDLE, True,
                MAX_SIZE, None, buffer_size)
            transport = _FakeTransport()
            written: list[bytes] = []
            transport.write = written.append  # capture the handshake
            protocol.connection_made(transport)
            if server:
                request = (b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                _buffered_feed(protocol, [request])
            else:
                key = next(line.split(b":", 1)[1].strip() for line in b"".join(written).split(b"\r\n")
                           if line.lower().startswith(b"sec-websocket-key:"))
                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                _buffered_feed(protocol, [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"])
            if not any(b" 101 " in w for w in written) and server:
                raise RuntimeError(f"picows refused the handshake: {written!r}")
            transport.write = transport.sink.append
            return protocol

        protocol = self.loop.run_until_complete(build())
        if protocol.listener is not listener:
            raise RuntimeError("picows did not complete the handshake")
        return protocol, listener

    def transport(self, client: bool) -> Any:
        """A bare WSTransport for encoding, over a fake transport."""
        async def build() -> Any:
            return self.module.WSTransport(client, _FakeTransport(), self.logger, self.loop)
        return self.loop.run_until_complete(build())


def _buffered_feed(protocol: Any, chunks: list[bytes]) -> None:
    """Feed ``chunks`` the way an event loop feeds a BufferedProtocol: copy into get_buffer()."""
    get_buffer, updated = protocol.get_buffer, protocol.buffer_updated
    for chunk in chunks:
        size = len(chunk)
        view = get_buffer(-1)
        if len(view) >= size:
            view[:size] = chunk
            del view
            updated(size)
            continue
        whole, position = memoryview(chunk), 0
        while position < size:
            view = get_buffer(-1)
            n = min(len(view), size - position)
            view[:n] = whole[position:position + n]
            del view
            updated(n)
            position += n


def picows_decoder(harness: PicowsHarness | None, masked: bool, keep_payload: bool, buffer_size: int) -> Run:
    # Building a WSProtocol needs a running event loop, so one protocol per case is built up front and
    # reused: every stream ends on a frame boundary, so each call starts from the same parser state.
    if harness is None:
        raise RuntimeError("picows needs a PicowsHarness")
    protocol, listener = harness.protocol(server=masked, keep_payload=keep_payload, buffer_size=buffer_size)
    get_buffer, updated = protocol.get_buffer, protocol.buffer_updated

    def run(chunks: list[bytes], keep: bool = False) -> Any:
        payloads: list[bytes] = []
        listener.payloads = payloads
        for chunk in chunks:
            if not keep:
                listener.payloads = []  # the previous batch is dropped
            size = len(chunk)
            view = get_buffer(-1)
            if len(view) >= size:  # always, fed whole; 64 KiB chunks: but for the first few
                view[:size] = chunk
                del view
                updated(size)
            else:
                del view
                _buffered_feed(protocol, [chunk])
        if keep:
            return payloads
        listener.payloads = []  # drop the last batch inside the call, as the others do
        return None
    return run


def picows_buffer_size(scenario: Scenario, stream_size: int) -> int:
    """picows' initial read buffer: its default (16 KiB, then it grows) for chunks; for a whole
    stream, room for all of it, since a BufferedProtocol can only take what its buffer holds."""
    return stream_size + 4 * KIB if scenario.feed == "whole" else 16 * KIB


def decode_cases(peers: dict[str, bc.Peer], masked: bool, picows_buffer: int = 16 * KIB) -> list[DecodeCase]:
    """Every decoder for one masking direction (server side for masked frames, client side else).
    Call :meth:`BenchCase.build` on a case before running it."""

    def case(label: str, peer: str | None, make: Callable[[Any], Callable[[list[bytes]], Any]],
             extract: Callable[[Any], list[bytes]] | None, note: str) -> DecodeCase:
        return DecodeCase(label, "run(data)", {}, "chunks", peers[peer].skip if peer else None,
                          factory=lambda harness: {"run": make(harness)}, note=note, payloads=extract)

    def wsfast(flavour: str) -> Callable[[Any], Callable[[list[bytes]], Any]]:
        def make(harness: Any) -> Callable[[list[bytes]], Any]:
            module = importlib.import_module(f"wsfast.{flavour}")
            return _wsfast_decoder(module.FrameDecoder, masked)
        return make

    frames = lambda result: [bytes(f[1]) for f in result]  # wsfast Frame: payload is [1]
    messages = lambda result: [bytes(m[0][1]) for m in result]  # aiohttp: (WSMessage, size)
    side = "server" if masked else "client"
    return [
        case("wsfast FrameDecoder (C)", None, wsfast("_kernels_c"), frames,
             f"`FrameDecoder(expect_masked={masked}).feed(chunk)` per chunk: a list of `Frame` tuples "
             "(Opcode member, payload bytes, 4 flags); checks opcode, RSV, masking direction, control-frame "
             "rules, continuation order, frame and message size limits."),
        case("wsfast FrameDecoder (Python twin)", None, wsfast("_frames_py"), frames,
             "the same, pure Python."),
        case("picows WSProtocol + Python listener (Cython)", "picows",
             lambda harness: picows_decoder(harness, masked, True, picows_buffer), list,
             f"the {side}-side `WSProtocol` after its handshake, fed like an event loop feeds a "
             "BufferedProtocol (copy into `get_buffer()`, then `buffer_updated(n)`); its Cython parser calls a "
             "Python `WSListener.on_ws_frame`, which keeps `frame.get_payload_as_bytes()` in a list. Checks "
             "opcode, masking direction, control-frame rules, frame size; not RSV bits nor the continuation "
             "order (left to the listener). Includes the copy into its read buffer, which the others skip."),
        case("picows WSProtocol, listener keeps nothing (Cython)", "picows",
             lambda harness: picows_decoder(harness, masked, False, picows_buffer), None,
             "the same with an `on_ws_frame` that does nothing: no payload object, so below the bar the "
             "others clear; shown as picows' floor through its Python callback."),
        case("aiohttp WebSocketReader (reader_c, Cython)", "aiohttp", lambda harness: _aiohttp(peers["aiohttp"].names),
             messages,
             "`WebSocketReader(queue, 1 MiB, compress=False, decode_text=False).feed_data(chunk)`: one "
             "`WSMessage` tuple per frame (payload bytes; text left undecoded) in its `WebSocketDataQueue` "
             "deque; assembles fragmented messages, checks opcode, RSV, control-frame rules, message size; "
             "accepts masked and unmasked frames alike (no masking-direction check)."),
        case("aiohttp WebSocketReader (reader_py, Python)", "aiohttp-python",
             lambda harness: _aiohttp(peers["aiohttp-python"].names), messages,
             "the same, pure Python (its unmasking still calls aiohttp's Cython `websocket_mask`)."),
        case("websockets Frame.parse + StreamReader (Python)", "websockets",
             lambda harness: _websockets_frames(peers["websockets"].names, masked),
             lambda result: [bytes(f.data) for f in result],
             f"`Frame.parse(reader.read_exact, mask={masked}, max_size=1 MiB)` in a generator resumed once per "
             "`feed_data(chunk)`, as `Protocol.parse` drives it: `Frame` dataclasses (payload a bytearray "
             "unmasked, bytes masked, unmasked by websockets' C `apply_mask`); checks opcode, RSV, masking "
             "direction, control-frame rules, frame size; not the continuation order nor the message size."),
        case("websockets Protocol.receive_data + events_received (Python)", "websockets",
             lambda harness: _websockets_protocol(peers["websockets"].names, masked),
             lambda result: [bytes(f.data) for f in result],
             f"the sans-IO `Protocol(Side.{side.upper()})` in OPEN state: the parser above plus "
             "`recv_frame` (continuation order, message size, close/ping handling) and its event list."),
        case("wsproto FrameProtocol (Python)", "wsproto", lambda harness: _wsproto(peers["wsproto"].names, masked),
             _wsproto_payloads,
             f"`FrameProtocol(client={not masked}, extensions=[])`: `receive_bytes(chunk)` then "
             "`received_frames()`: `Frame` tuples; checks opcode, RSV, masking direction, control-frame rules, "
             "continuation order, and *decodes text payloads to str* (UTF-8 validation, work the others skip); "
             "a frame cut by a chunk boundary comes out as two partial `Frame` events."),
    ]


def verify(case: DecodeCase, chunks: list[bytes], expected: list[bytes],
           clock: Callable[[], float] = time.thread_time) -> tuple[str | None, float]:
    """Run a built ``case`` once on ``chunks`` (also its warm-up): (None if it delivered the payloads
    ``expected``, else what went wrong; the time that call took)."""
    started = clock()
    try:
        result = case.names["run"](chunks, True)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"{type(error).__name__}: {error}", clock() - started
    elapsed = clock() - started
    if case.payloads is None:
        return None, elapsed
    got = case.payloads(result)
    if len(got) != len(expected):
        return f"{len(got)} payloads instead of {len(expected)}", elapsed
    if got != expected:
        index = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        return f"payload {index} differs: {got[index]!r} != {expected[index]!r}", elapsed
    return None, elapsed


# ------------------------------------------------------------------------------------ encoders


def encode_cases(peers: dict[str, bc.Peer], kind: Kind, masked: bool) -> list[BenchCase]:
    """Every encoder for one frame shape and direction (masked: a client's frame with a fresh random
    key). ``data`` is the payload. Call :meth:`BenchCase.build` on a case before running it."""
    op = kind.opcode

    def ours(label: str, flavour: str, expr: str, note: str) -> BenchCase:
        def factory(harness: Any) -> dict[str, Any]:
            return {"enc": importlib.import_module(f"wsfast.{flavour}").encode_frame, "op": op, "m": masked}
        return BenchCase(label, expr, {}, factory=factory, note=note)

    cases = [ours("wsfast encode_frame (C)", "_kernels_c", "enc(op, data, mask=m)",
                  f"`encode_frame({op}, payload, mask={masked})` → bytes"
                  + ("; the key from `os.urandom(4)` (one syscall, most of the time)." if masked else "."))]
    if masked:
        cases.append(ours("wsfast encode_frame (C, key given)", "_kernels_c", "enc(op, data, mask=key)",
                          "the same with a 4-byte key passed in: no `os.urandom` call."))
    cases.append(ours("wsfast encode_frame (Python twin)", "_frames_py", "enc(op, data, mask=m)", "pure Python."))

    def peer(label: str, name: str, expr: str, factory: Callable[[dict[str, Any], Any], dict[str, Any]],
             note: str) -> BenchCase:
        p = peers[name]
        return BenchCase(label, expr, {}, skip=p.skip, factory=lambda harness: factory(p.names, harness), note=note)

    def ws(n: dict[str, Any], harness: Any) -> dict[str, Any]:
        return {"Frame": n["Frame"], "op": n["Opcode"](op), "m": masked, "ext": [],
                "frame": n["Frame"](n["Opcode"](op), payloads(kind, 1)[0])}

    def wsproto(n: dict[str, Any], harness: Any) -> dict[str, Any]:
        protocol = n["FrameProtocol"](client=masked, extensions=[])
        return {"ser": protocol._serialize_frame, "op": n["Opcode"](op)}

    def aiohttp(n: dict[str, Any], harness: Any) -> dict[str, Any]:
        transport = _FakeTransport()
        writer = n["Writer"](_FlowControl(), transport, use_mask=masked)
        return {"write": writer._write_websocket_frame, "op": op, "_sink": transport.sink}

    def picows(n: dict[str, Any], harness: Any) -> dict[str, Any]:
        if harness is None:
            raise RuntimeError("picows needs a PicowsHarness")
        transport = harness.transport(client=masked)
        return {"send": transport.send, "op": n["module"].WSMsgType(op),
                "_sink": transport.underlying_transport.sink}

    source = {"websockets": "`secrets.token_bytes(4)` (os.urandom)", "wsproto": "`os.urandom(4)`",
              "aiohttp": "`random.getrandbits(32)` (not a CSPRNG)", "picows": "C `rand()` (not a CSPRNG)"}
    key = (lambda name: f"; key from {source[name]}") if masked else (lambda name: "")
    cases += [
        peer("websockets Frame(...).serialize (Python)", "websockets",
             "Frame(op, data).serialize(mask=m, extensions=ext)", ws,
             f"`Frame(Opcode, payload).serialize(mask={masked}, extensions=[])` → bytes: builds the dataclass "
             f"(opcode and payload in, as for wsfast), `check()`, header and payload via a BytesIO{key('websockets')}."),
        peer("websockets serialize only, Frame prebuilt (Python)", "websockets",
             "frame.serialize(mask=m, extensions=ext)", ws, "the same on a `Frame` built beforehand."),
        peer("wsproto FrameProtocol._serialize_frame (Python)", "wsproto", "ser(op, data)", wsproto,
             f"`FrameProtocol(client={masked})._serialize_frame(Opcode, payload)` → bytearray (the core of "
             f"`send_data`, without its str/bytes dispatch){key('wsproto')}."),
        peer("aiohttp WebSocketWriter._write_websocket_frame (Python)", "aiohttp-python", "write(data, op, 0)",
             aiohttp, f"`WebSocketWriter(use_mask={masked})._write_websocket_frame(payload, opcode, 0)` (the "
             "synchronous core of `send_frame` for an uncompressed frame): header + payload concatenated and "
             f"passed to a fake transport's `write` (a C `deque.append`){key('aiohttp')}."),
        peer("picows WSTransport.send (Cython)", "picows", "send(op, data)", picows,
             f"`WSTransport(is_client_side={masked}).send(WSMsgType, payload)`: header and payload built in its "
             "write buffer, handed to a fake transport as a new bytes object (its path when the transport "
             f"already holds data; otherwise it calls send(2) itself){key('picows')}."),
    ]
    return cases


def verify_encoder(case: BenchCase, kind: Kind, masked: bool) -> str | None:
    """None if a built encoder ``case`` makes one frame that wsfast's pure-Python decoder reads back as
    the payload with the right opcode and masking, else what went wrong."""
    from wsfast import _frames_py

    data = payloads(kind, 1)[0]
    names = case.bind(data)
    try:
        result = eval(case.expr, dict(names))  # our own expressions
        wire = bytes(result if result is not None else names["_sink"][-1])
        frames = _frames_py.FrameDecoder(expect_masked=masked).feed(wire)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"{type(error).__name__}: {error}"
    if len(frames) != 1 or frames[0].opcode != kind.opcode or frames[0].payload != data or not frames[0].fin:
        return f"wrote {wire[:20]!r}..., which decodes to {frames!r}"
    return None


# ------------------------------------------------------------------------------------ deflate

DEFLATE_SIZES = (KIB, 64 * KIB)
_TAIL = b"\x00\x00\xff\xff"


def json_messages(size: int, count: int) -> list[bytes]:
    """``count`` different JSON documents of exactly ``size`` bytes (an array of records, padded with
    spaces), the same on every run."""
    rng = random.Random(size)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
             "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
    out = []
    for _ in range(count):
        records: list[str] = []
        length = 2  # the brackets
        while True:
            record = json.dumps({"id": rng.randrange(10**9), "user": f"{rng.choice(words)}_{rng.randrange(10**4)}",
                                 "price": round(rng.uniform(0, 1000), 2), "qty": rng.randrange(100),
                                 "side": rng.choice(("buy", "sell")), "tags": rng.sample(words, 3),
                                 "ts": 1_700_000_000_000 + rng.randrange(10**9)}, separators=(",", ":"))
            if length + len(record) + (1 if records else 0) > size:
                break
            length += len(record) + (1 if records else 0)
            records.append(record)
        text = "[" + ",".join(records) + "]"
        out.append((text + " " * (size - len(text))).encode())
        json.loads(out[-1])
    return out


def deflate_cases(size: int) -> list[BenchCase]:
    """A permessage-deflate round trip per call: wsfast's extension against the bare DEFLATE objects
    of the backend it uses and of the standard library, with the same window, level and flushes."""
    import zlib

    from wsfast import _zlib
    from wsfast.frames import Frame, Opcode
    from wsfast.permessage_deflate import PerMessageDeflate

    messages = json_messages(size, max(4, 256 * KIB // size))

    def wsfast_roundtrip() -> Callable[[], Any]:
        frames = itertools.cycle([Frame(Opcode.TEXT, m) for m in messages])
        sender, receiver = PerMessageDeflate(), PerMessageDeflate()
        encode, decode = sender.encode, receiver.decode

        def roundtrip() -> Any:
            return decode(encode(next(frames)), max_size=MAX_SIZE)
        return roundtrip

    def plain_roundtrip(module: Any) -> Callable[[], Any]:
        items = itertools.cycle(messages)
        compressor = module.compressobj(-1, module.DEFLATED, -15, 8, module.Z_DEFAULT_STRATEGY)
        decompressor = module.decompressobj(-15)
        compress, flush, decompress = compressor.compress, compressor.flush, decompressor.decompress
        sync = module.Z_SYNC_FLUSH

        def roundtrip() -> Any:
            data = compress(next(items)) + flush(sync)
            if data.endswith(_TAIL):
                data = data[:-4]
            return decompress(data + _TAIL, MAX_SIZE + 1)
        return roundtrip

    def checked(make: Callable[[], Callable[[], Any]]) -> Callable[[Any], dict[str, Any]]:
        def factory(harness: Any) -> dict[str, Any]:
            roundtrip = make()
            for index, message in enumerate(messages):  # one full cycle: every message comes back intact
                result = roundtrip()
                if getattr(result, "payload", result) != message:
                    raise AssertionError(f"the round trip changed message {index}")
            return {"rt": roundtrip}
        return factory

    backend = _zlib.BACKEND
    cases = [BenchCase(f"wsfast PerMessageDeflate encode + decode ({backend})", "rt()", {},
                       factory=checked(wsfast_roundtrip),
                       note="`sender.encode(Frame(TEXT, message))` then `receiver.decode(frame, max_size=1 MiB)`: "
                            "window 15 bits, context takeover, level -1 (6), Z_SYNC_FLUSH, tail removed and re-added.")]
    if backend != "zlib":
        cases.append(BenchCase(f"plain {backend} compressobj/decompressobj", "rt()", {},
                               factory=checked(lambda: plain_roundtrip(_zlib._MODULES[backend])),
                               note="`compress(m) + flush(Z_SYNC_FLUSH)`, tail stripped, then "
                                    "`decompress(data + tail, 1 MiB + 1)`: the same pattern and backend as wsfast."))
    cases.append(BenchCase("plain zlib (stdlib) compressobj/decompressobj", "rt()", {},
                           factory=checked(lambda: plain_roundtrip(zlib)),
                           note="the same with the standard library's zlib."))
    return cases
