"""Fuzz harnesses for the sans-IO core, shared by tests/test_fuzz.py (Hypothesis) and the atheris
scripts beside this file (fuzz_frames.py, fuzz_connection.py, fuzz_handshake.py).

Each ``check_*`` function (and :class:`ConnectionSession`) takes concrete inputs, drives one part of
the core with them and checks its invariants, raising AssertionError on a violation. The inputs are
plain data (bytes, ints, tuples), so Hypothesis strategies and atheris' FuzzedDataProvider can both
build them. The checks use ``raise AssertionError`` rather than ``assert``, so they hold under -O.

The references used as oracles are independent of the implementation under test where it matters:
the pure-Python twin ``_frames_py.FrameDecoder`` parses every byte a connection sends, and a real
peer connection (without size limits) must accept all of it.
"""

from __future__ import annotations

import array
import contextlib
import importlib
import sys
import types
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from wsfast import _frames_py, _kernels, _kernels_py, _random
from wsfast.client import ClientConnection
from wsfast.connection import Connection, State
from wsfast.events import (
    BinaryFragment,
    BinaryMessage,
    Close,
    Event,
    Ping,
    Pong,
    TextFragment,
    TextMessage,
)
from wsfast.exceptions import (
    InvalidHandshake,
    InvalidHTTP,
    InvalidState,
    InvalidVersion,
    PayloadTooBig,
    ProtocolError,
)
from wsfast.extensions import RSV1
from wsfast.frames import (
    CONTROL_OPCODES,
    MAX_CONTROL_PAYLOAD,
    Frame,
    Opcode,
    encode_frame,
    parse_close,
)
from wsfast.handshake import (
    ClientHandshake,
    Response,
    ServerHandshake,
    accept_key,
    parse_request,
    parse_response,
    reject,
)
from wsfast.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from wsfast.server import ServerConnection

__all__ = [
    "ACCEPT_PLACEHOLDER",
    "BUFFER_KINDS",
    "CLIENT_OPTIONS",
    "KEY",
    "NON_BUFFER",
    "SENDABLE_CODES",
    "SERVER_HANDSHAKES",
    "UNSENDABLE_CODES",
    "ConnectionConfig",
    "ConnectionSession",
    "KnownBug",
    "as_buffer",
    "check_client_handshake",
    "check_frame_decoder",
    "check_parse_request",
    "check_parse_response",
    "check_server_handshake",
    "deflate_bomb",
    "valid_request",
    "valid_response",
]


def fail(message: str) -> None:
    raise AssertionError(message)


class KnownBug(Exception):
    """An undocumented exception that is already reported, with a strict xfail test of its own in
    tests/test_fuzz.py. The fuzzers skip the input instead of failing, to keep looking for new bugs;
    remove the entry in ``_known_bug`` once that test passes (it then fails as XPASS)."""


#: One predicate per reported bug, true for the exception it raises. None are open: the last one,
#: a BufferError from the Python FrameDecoder on a 64-bit length with its top bit set behind a
#: complete frame, is fixed (test_regression_python_decoder_msb_length_after_a_frame).
_KNOWN_BUGS: tuple[Callable[[BaseException], bool], ...] = ()


def _known_bug(error: BaseException) -> bool:
    return any(known(error) for known in _KNOWN_BUGS)


def undocumented(error: BaseException, what: str) -> None:
    """Fail on an exception that ``what`` must not raise, unless it is a KnownBug."""
    if _known_bug(error):
        raise KnownBug(f"{what}: {error!r}") from error
    fail(f"{what} raised an undocumented {error!r}")


def require(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


SENDABLE_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999)
UNSENDABLE_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)

# ------------------------------------------------------------------------------------ buffers

#: How a chunk is handed to ``feed``: every kind of buffer the decoder documents, or not a buffer.
BUFFER_KINDS = ("bytes", "bytearray", "memoryview", "noncontiguous", "array")
NON_BUFFER = "not-a-buffer"
_NON_BUFFERS: tuple[Any, ...] = ("text", 42, None, [1, 2], 3.5)


def as_buffer(data: bytes, kind: str) -> Any:
    """``data`` as the buffer ``kind`` names (``array`` holds 2-byte items when the length allows)."""
    if kind == "bytes":
        return bytes(data)
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "noncontiguous":
        spread = bytearray(2 * len(data))
        spread[::2] = data
        return memoryview(spread)[::2]
    if kind == "array":
        return array.array("H" if len(data) % 2 == 0 else "B", data)
    raise ValueError(kind)


# ------------------------------------------------------------------------------- frame decoder


def _check_frame_sequence(frames: Sequence[Frame], options: dict[str, Any]) -> None:
    """Frames as a decoder may return them: typed fields, the control-frame rules, RSV bits within
    ``allowed_rsv``, continuations only inside a message, and the size limits."""
    allowed = options.get("allowed_rsv", 0)
    max_frame = options.get("max_frame_size")
    max_message = options.get("max_message_size")
    max_fragments = options.get("max_fragments")
    drop_empty = options.get("drop_empty_continuations", False)
    in_message = compressed = False
    size = fragments = 0
    for frame in frames:
        require(type(frame) is Frame and len(frame) == 6, f"not a Frame: {frame!r}")
        require(type(frame.payload) is bytes, f"payload of type {type(frame.payload).__name__}")
        require(type(frame.opcode) is Opcode, f"opcode {frame.opcode!r} is not an Opcode member")
        require(all(type(flag) is bool for flag in frame[2:]), f"flags are not bools: {frame!r}")
        length = len(frame.payload)
        if frame.opcode in CONTROL_OPCODES:
            require(frame.fin, f"fragmented control frame returned: {frame!r}")
            require(length <= MAX_CONTROL_PAYLOAD, f"control frame of {length} bytes returned")
            require(not (frame.rsv1 or frame.rsv2 or frame.rsv3), f"control frame with RSV bits: {frame!r}")
            continue
        rsv = (frame.rsv1 << 2) | (frame.rsv2 << 1) | frame.rsv3
        require(not rsv & ~allowed, f"RSV bits {rsv:03b} outside allowed_rsv {allowed:03b}")
        if frame.opcode is Opcode.CONTINUATION:
            require(in_message, "continuation frame returned outside a message")
            require(not (drop_empty and not length and not frame.fin and not rsv), "an empty continuation was returned")
            size += length
            fragments += 1
        else:
            require(not in_message, "new data frame returned inside a fragmented message")
            size, compressed, fragments = length, frame.rsv1, 1
        require(max_fragments is None or fragments <= max_fragments, f"{fragments} frames in a message, over {max_fragments}")
        require(max_frame is None or length <= max_frame, f"frame of {length} bytes over max_frame_size={max_frame}")
        if not compressed:
            require(max_message is None or size <= max_message, f"message of {size} bytes over {max_message}")
        in_message = not frame.fin


def _invalid_limit(options: dict[str, Any]) -> type[Exception] | None:
    """The error a decoder with these limits raises on every feed (the first bad limit decides)."""
    for name in ("max_frame_size", "max_message_size", "max_fragments"):
        value = options.get(name)
        if value is None:
            continue
        if not isinstance(value, int):
            return TypeError
        if value < 0:
            return ValueError
    return None


def _feed_outcome(decoder: Any, data: bytes) -> tuple[list[Frame], ProtocolError | None]:
    try:
        return decoder.feed(data), None
    except ProtocolError as error:
        return list(error.frames), error
    except Exception as error:
        undocumented(error, "the reference decoder's feed")
        raise  # unreachable


def check_frame_decoder(decoder_class: Callable[..., Any], options: dict[str, Any], chunks: Sequence[tuple[bytes, str]],
                        into: bool | None = None) -> None:
    """Feed ``chunks`` (data and buffer kind, see BUFFER_KINDS / NON_BUFFER) to a fresh decoder.

    With ``into`` (False or True: its ``decode_text``), every buffer goes through ``feed_into``
    instead, and what it delivers counts as frames, in order before what it returns: whole text
    or binary messages, final, str for text exactly when decoding, so the checks below hold alike.

    Checks: only ProtocolError subclasses escape ``feed`` (TypeError for a non-buffer, which changes
    nothing; with a negative or non-integer limit, every feed raises ValueError / TypeError); ``buffered`` stays within what was fed, and the frames returned account for no more
    bytes than were consumed; the frames obey :func:`_check_frame_sequence`; after an error every
    call raises the same error with no frames; and the frames and error equal those of the
    pure-Python twin fed everything in one call (chunking and implementation change nothing).
    """
    decoder = decoder_class(**options)
    invalid = _invalid_limit(options)
    if invalid is not None:
        # A negative or non-integer limit fails every feed, whatever the data, and changes nothing.
        for data, kind in chunks:
            argument = _NON_BUFFERS[0] if kind == NON_BUFFER else as_buffer(data, kind)
            try:
                decoder.feed(argument)
            except invalid:
                pass
            except Exception as raised:  # noqa: BLE001 - anything else is a finding
                undocumented(raised, f"feed with an invalid limit ({invalid.__name__} expected)")
            else:
                fail(f"feed accepted the limits {options!r}")
            require(decoder.buffered == 0, "feed buffered data despite an invalid limit")
        return
    fed = 0
    frames: list[Frame] = []
    error: ProtocolError | None = None
    for data, kind in chunks:
        buffered = decoder.buffered
        if kind == NON_BUFFER:
            try:
                decoder.feed(_NON_BUFFERS[len(data) % len(_NON_BUFFERS)])
            except ProtocolError as raised:
                require(error is not None and type(raised) is type(error), f"{raised!r} on a non-buffer")
            except TypeError:
                require(error is None, "a spent decoder raised TypeError instead of its error")
            except Exception as raised:  # noqa: BLE001 - anything else is a finding
                undocumented(raised, "feed(non-buffer)")
            else:
                fail("feed accepted a non-buffer")
            require(decoder.buffered == buffered, "a rejected non-buffer changed buffered")
            continue
        fed += len(data)
        delivered: list[Frame] = []

        def deliver(message: Any, final: bool, text: bool) -> None:
            require(final is True and type(text) is bool, f"feed_into delivered final={final!r}, text={text!r}")
            require(type(message) is (str if text and into else bytes), f"feed_into delivered {message!r} (text={text})")
            payload = message.encode("utf-8") if type(message) is str else message
            delivered.append(Frame(Opcode.TEXT if text else Opcode.BINARY, payload))

        try:
            if into is None:
                new = decoder.feed(as_buffer(data, kind))
            else:
                new = delivered + decoder.feed_into(as_buffer(data, kind), deliver, into)
        except ProtocolError as raised:
            if error is None:
                error, new = raised, delivered + list(raised.frames)
                require(raised.close_code == (1009 if isinstance(raised, PayloadTooBig) else 1002),
                        f"{raised!r} carries close code {raised.close_code}")
            else:
                require((type(raised), str(raised)) == (type(error), str(error)),
                        f"a spent decoder raised {raised!r}, not its error {error!r}")
                require(list(raised.frames) == [] and not delivered, "a spent decoder returned frames with its error")
                new = []
        except Exception as raised:  # noqa: BLE001 - anything else is a finding
            undocumented(raised, "feed")
        else:
            require(error is None, "a spent decoder returned normally")
        require(0 <= decoder.buffered <= fed, f"buffered={decoder.buffered} but {fed} bytes were fed")
        frames.extend(new)
    _check_frame_sequence(frames, options)
    masked = 4 if options.get("expect_masked") else 0
    least = sum(2 + masked + len(frame.payload) for frame in frames)
    require(least <= fed - decoder.buffered, f"{len(frames)} frames need {least} bytes, {fed - decoder.buffered} consumed")
    whole = b"".join(data for data, kind in chunks if kind != NON_BUFFER)
    reference = _frames_py.FrameDecoder(**options)
    expected, expected_error = _feed_outcome(reference, whole)
    require(frames == expected, f"frames differ from the one-call reference:\n{frames!r}\n{expected!r}")
    got = None if error is None else (type(error), str(error))
    want = None if expected_error is None else (type(expected_error), str(expected_error))
    require(got == want, f"error {error!r} where the one-call reference raised {expected_error!r}")
    if error is None:
        require(decoder.buffered == reference.buffered, f"buffered {decoder.buffered} != {reference.buffered}")


# ---------------------------------------------------------------------------------- connection


def deflate_bomb(size: int, fragments: int = 1) -> list[bytes]:
    """``size`` zero bytes compressed as permessage-deflate payloads (RFC 7692 §7.2.1), in
    ``fragments`` pieces; each fits a 512-byte window, so it decodes whatever window was agreed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -9)
    step = -(-size // fragments) if size else 0
    pieces = []
    for index in range(fragments):
        chunk = b"\x00" * min(step, max(size - index * step, 0))
        pieces.append(compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH))
    pieces[-1] = pieces[-1].removesuffix(b"\x00\x00\xff\xff")
    return pieces


#: Masking keys for a differential run: both implementations must draw the same ones.
_FIXED_KEYS = bytes(range(256)) * 256


@contextlib.contextmanager
def python_twins() -> Iterator[None]:
    """Within the block, every loaded wsfast module sees the pure-Python twins where it bound a C
    kernel (the codec included), and masking keys come from a fixed pool; restored on exit.

    With the C build absent it only fixes the keys: both runs are then the twins.
    """
    twins = {name: getattr(_frames_py if name in _frames_py.__all__ else _kernels_py, name)
             for name in _kernels.__all__ if callable(getattr(_kernels, name))}
    by_identity = {id(getattr(_kernels, name)): twin for name, twin in twins.items()}
    patched: list[tuple[Any, str, Any]] = []
    # The sans-IO classes derive from the compiled hot path (_openpath_c): the harness' own names
    # for them become the same classes rebuilt on its pure-Python twin.
    this_module = sys.modules[__name__]
    for name in ("ClientConnection", "ServerConnection"):
        patched.append((this_module, name, getattr(this_module, name)))
        setattr(this_module, name, _on_twin_cores(getattr(this_module, name)))
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith("wsfast") or module_name.startswith("wsfast._kernels"):
            continue
        for attribute, value in list(vars(module).items()):
            twin = by_identity.get(id(value))
            if twin is not None and twin is not value:
                patched.append((module, attribute, value))
                setattr(module, attribute, twin)
    try:
        with fixed_mask_keys():
            yield
    finally:
        for module, attribute, value in patched:
            setattr(module, attribute, value)


_twin_classes: dict[type, type] = {}


def _on_twin_cores(cls: type) -> type:
    """``cls`` rebuilt, once, with every base class from a compiled module (``wsfast.X_c``)
    replaced by its pure-Python twin (``wsfast.X``), and the classes between rebuilt too; ``cls``
    itself when none of its bases is compiled."""
    if cls in _twin_classes:
        return _twin_classes[cls]
    module = cls.__module__
    if module.startswith("wsfast.") and module.endswith("_c") and module != "wsfast._kernels_c":
        twin = getattr(importlib.import_module(module[:-2]), cls.__name__)
    else:
        bases = tuple(_on_twin_cores(base) for base in cls.__bases__)
        if bases == cls.__bases__:
            twin = cls
        else:
            namespace = {key: value for key, value in vars(cls).items() if key not in ("__dict__", "__weakref__")}
            twin = type(cls)(cls.__name__, bases, namespace)
            for key, value in namespace.items():
                # zero-argument super() reads the class from a closure cell: the copy's own
                if isinstance(value, types.FunctionType) and "__class__" in value.__code__.co_freevars:
                    cells = tuple(types.CellType(twin) if name == "__class__" else cell for name, cell
                                  in zip(value.__code__.co_freevars, value.__closure__ or ()))  # fmt: skip
                    copy = types.FunctionType(value.__code__, value.__globals__, value.__name__,
                                              value.__defaults__, cells)  # fmt: skip
                    copy.__kwdefaults__, copy.__qualname__, copy.__doc__ = (value.__kwdefaults__,
                                                                            value.__qualname__, value.__doc__)  # fmt: skip
                    setattr(twin, key, copy)
    _twin_classes[cls] = twin
    return twin


@contextlib.contextmanager
def fixed_mask_keys() -> Iterator[None]:
    """Masking keys from a fixed pool within the block (a differential run's two sides draw the same)."""
    # both pools: which one mask_key draws from depends on the interpreter (see wsfast._random)
    pools = (_random._shared_pool, _random._thread_pool)
    saved = [(pool.data, pool.position) for pool in pools]
    for pool in pools:
        pool.data, pool.position = _FIXED_KEYS, 0
    try:
        yield
    finally:
        for pool, (data, position) in zip(pools, saved):
            pool.data, pool.position = data, position


def transcript(config: ConnectionConfig, ops: Sequence[tuple], twins: bool) -> list[tuple]:
    """A session's snapshot after each operation, on the kernels chosen at import (``twins=False``)
    or on the pure-Python twins, and once more after :meth:`ConnectionSession.finish`; masking keys
    come from a fixed pool either way, so two runs compare. A known bug ends it with its message."""
    with python_twins() if twins else fixed_mask_keys():
        session = ConnectionSession(config)
        result = []
        for op in ops:
            try:
                session.apply(op)
            except KnownBug as bug:
                result.append(("known bug", str(bug)))
                return result
            result.append(session.snapshot())
        session.finish()
        result.append(session.snapshot())
    return result


@dataclass(frozen=True)
class ConnectionConfig:
    """The connection under test: which side, what the handshake agrees, and its options.

    ``deflate`` is None for no extension, else ``(server_no_context_takeover,
    client_no_context_takeover, server_max_window_bits, client_max_window_bits)`` as both factories
    take them (client_max_window_bits: None, True or 8-15 in the client's offer, and the server
    limits it to the same value when it is an int). Both factories use min_size=0: every message is
    compressed.
    """

    side: str = "server"
    deflate: tuple[bool, bool, int | None, int | bool | None] | None = None
    max_message_size: int | None = 1 << 20
    max_frame_size: int | None = 1 << 20
    stream_fragments: bool = False
    auto_pong: bool = True
    #: Data through ``Connection.on_data`` instead of events (then it comes before the control
    #: events of the same read, and the two are compared apart).
    on_data: bool = False


def _split_data(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """The messages in order, and the control events in order."""
    data = [event for event in events if isinstance(event, (TextMessage, BinaryMessage))]
    return data, [event for event in events if not isinstance(event, (TextMessage, BinaryMessage))]


def _normalize(events: Sequence[Event]) -> list[Event]:
    """Fragments joined into messages, as the peer sent them (an unfinished message is dropped)."""
    result: list[Event] = []
    parts: list[Any] = []
    for event in events:
        if isinstance(event, (TextFragment, BinaryFragment)):
            parts.append(event.data)
            if event.final:
                text = isinstance(event, TextFragment)
                result.append(TextMessage("".join(parts)) if text else BinaryMessage(b"".join(parts)))
                parts = []
        else:
            result.append(event)
    return result


def _message_size(event: Event) -> int:
    data = event.data  # type: ignore[attr-defined]
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


@dataclass
class _Model:
    """What the connection under test must do next, kept apart from what it does."""

    sending: str | None = None  # "text" / "binary" while a fragmented message is being sent
    parts: list[bytes] = field(default_factory=list)


class ConnectionSession:
    """A connection under test (``side``) and a real ``peer``, connected by a real handshake.

    Operations (tuples; ``apply`` dispatches on the first item):

    - peer traffic, always valid: ``("peer_text", str)``, ``("peer_binary", bytes)``,
      ``("peer_fragmented", is_text, bytes, cuts, ping_between)``, ``("peer_ping", bytes)``,
      ``("peer_pong", bytes)``, ``("peer_close", code, reason)``;
    - hostile traffic (the session is no longer "clean"): ``("raw", bytes)``,
      ``("frame", opcode, payload, fin, rsv1, rsv2, rsv3, right_mask)``,
      ``("bomb", size, fragments, is_text, right_mask)``, ``("mutate", kind, position, data)``;
    - ``("deliver", cuts)``: everything pending goes to ``side.receive_data`` in chunks;
    - API calls on the side: ``("send_text", str | bytes, fin)``, ``("send_binary", bytes, fin)``,
      ``("send_continuation", bytes, fin)``, ``("ping", bytes)``, ``("pong", bytes)``,
      ``("close", code, reason)``, ``("eof",)``.

    Invariants checked after every step: receive_data / receive_eof never raise; API calls succeed
    or raise exactly as documented (InvalidState, ValueError), decided by an independent model;
    the state never goes back; nothing is delivered or sent once CLOSED or failed; no message, and
    no streamed message in total, exceeds max_message_size (decompression bombs included); every
    byte sent parses as whole frames masked as the role requires, with at most one close frame and
    nothing after it; a step's output is exactly what the model says (pongs for pings, the close
    echo, the failure's close code); and the peer, fed all of it, never fails and sees exactly the
    messages sent. :meth:`finish` adds, for a session without hostile traffic, that the side
    received exactly what the peer sent.
    """

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        client_extensions: list[Any] = []
        server_handshake = ServerHandshake()
        if config.deflate is not None:
            server_nct, client_nct, server_bits, client_bits = config.deflate
            client_extensions = [ClientPerMessageDeflateFactory(server_nct, client_nct, server_bits, client_bits, min_size=0)]
            server_factory = ServerPerMessageDeflateFactory(
                server_nct, client_nct, server_bits, client_bits if type(client_bits) is int else None, min_size=0
            )
            server_handshake = ServerHandshake(extensions=[server_factory])
        side_options = {
            "max_message_size": config.max_message_size,
            "max_frame_size": config.max_frame_size,
            "stream_fragments": config.stream_fragments,
            "auto_pong": config.auto_pong,
        }
        peer_options = {"max_message_size": None, "max_frame_size": None}
        is_server = config.side == "server"
        client = ClientConnection("ws://example.com/chat", extensions=client_extensions,
                                  **(peer_options if is_server else side_options))
        server = ServerConnection(server_handshake, **(side_options if is_server else peer_options))
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
        require(client.state is State.OPEN and server.state is State.OPEN, "the handshake failed")
        agreed = 0 if config.deflate is None else 1
        require(len(client.extensions) == len(server.extensions) == agreed, "permessage-deflate was not agreed")
        self.side: Connection = server if is_server else client
        self.peer: Connection = client if is_server else server
        self.side_masks = not is_server
        rsv = RSV1 if agreed else 0
        # Independent parsers of everything each end sends.
        self._side_wire = _frames_py.FrameDecoder(expect_masked=self.side_masks, max_frame_size=None,
                                                  max_message_size=None, allowed_rsv=rsv)
        self._peer_wire = _frames_py.FrameDecoder(expect_masked=not self.side_masks, max_frame_size=None,
                                                  max_message_size=None, allowed_rsv=rsv)
        self.compressed = bool(agreed)
        self.pending = bytearray()
        self.clean = True
        self.oversized = False  # the peer sent something over the side's limits
        self.expected_at_side: list[Event] = []
        self.expected_at_peer: list[Event] = []
        self.side_events: list[Event] = []
        self.peer_events: list[Event] = []
        self.close_sent = False
        self.close_received = False
        self.eof = False
        self.state = self.side.state
        self.streamed = 0  # bytes of the streamed message being received
        self.model = _Model()
        self._delivered: list[Event] = []  # what on_data received during one receive_data
        self.sent_frames: list[Frame] = []  # everything the side sent, unmasked
        self.api_outcomes: list[Any] = []  # per API call: None or (exception type, message)
        if config.on_data:
            self.side.on_data = self._on_data

    def snapshot(self) -> tuple:
        """Everything an implementation decides, so far: where the side stands, what it delivered,
        the frames it sent, what the peer received, and how each API call ended."""
        side = self.side
        failure = side.failure
        return (side.state, side.close_code, side.close_reason, side.close_sent,
                None if failure is None else (type(failure), str(failure), failure.close_code),
                tuple(self.side_events), tuple(self.sent_frames), tuple(self.peer_events),
                tuple(self.api_outcomes))  # fmt: skip

    def _on_data(self, data: Any, final: bool, text: bool) -> None:
        if self.config.stream_fragments:
            self._delivered.append(TextFragment(data, final) if text else BinaryFragment(data, final))
        else:
            require(final, "on_data called with an unfinished message without stream_fragments")
            self._delivered.append(TextMessage(data) if text else BinaryMessage(data))

    # -------------------------------------------------------------------------- the peer

    def _peer_output(self) -> None:
        data = self.peer.data_to_send()
        try:
            frames = self._peer_wire.feed(data)
        except ProtocolError as error:
            fail(f"the peer sent invalid frames: {error!r}")
        limit = self.config.max_frame_size
        for frame in frames:
            if frame.opcode not in CONTROL_OPCODES and limit is not None and len(frame.payload) > limit:
                self.oversized = True
        self.pending += data

    def _expect_at_side(self, event: Event) -> None:
        limit = self.config.max_message_size
        if isinstance(event, (TextMessage, BinaryMessage)) and limit is not None and _message_size(event) > limit:
            self.oversized = True
        self.expected_at_side.append(event)

    def _peer_call(self, call: Callable[[], None], *events: Event) -> None:
        try:
            call()
        except InvalidState:
            require(self.peer.state is not State.OPEN, "the peer refused to send while OPEN")
            return
        for event in events:
            self._expect_at_side(event)
        self._peer_output()

    def _peer_fragmented(self, text: bool, data: bytes, cuts: Sequence[int], ping_between: bool) -> None:
        if self.peer.state is not State.OPEN:
            return
        points = sorted({cut % (len(data) + 1) for cut in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
        first = self.peer.send_text if text else self.peer.send_binary
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            if index == 0:
                first(piece, fin=final)
            else:
                self.peer.send_continuation(piece, fin=final)
            if ping_between and not final:
                self.peer.ping(piece[:MAX_CONTROL_PAYLOAD])
                self._expect_at_side(Ping(piece[:MAX_CONTROL_PAYLOAD]))
        self._expect_at_side(TextMessage(data.decode("utf-8")) if text else BinaryMessage(data))
        self._peer_output()

    # -------------------------------------------------------------------------- steps

    def apply(self, op: tuple) -> None:
        """Run one operation (see the class docstring), then check the invariants."""
        name, args = op[0], op[1:]
        peer = self.peer
        if name == "peer_text":
            self._peer_call(lambda: peer.send_text(args[0]), TextMessage(args[0]))
        elif name == "peer_binary":
            self._peer_call(lambda: peer.send_binary(args[0]), BinaryMessage(args[0]))
        elif name == "peer_fragmented":
            self._peer_fragmented(*args)
        elif name == "peer_ping":
            self._peer_call(lambda: peer.ping(args[0]), Ping(args[0]))
        elif name == "peer_pong":
            self._peer_call(lambda: peer.pong(args[0]), Pong(args[0]))
        elif name == "peer_close":
            code, reason = args
            if peer.state is State.OPEN:  # else close() does nothing
                self._peer_call(lambda: peer.close(code, reason), Close(1005 if code is None else code, reason))
        elif name == "raw":
            self.clean = False
            self.pending += args[0]
        elif name == "frame":
            opcode, payload, fin, rsv1, rsv2, rsv3, right_mask = args
            self.clean = False
            self.pending += encode_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3,
                                         mask=self._peer_mask(right_mask))
        elif name == "bomb":
            size, fragments, text, right_mask = args
            self.clean = False
            pieces = deflate_bomb(size, fragments)
            for index, piece in enumerate(pieces):
                opcode = (Opcode.TEXT if text else Opcode.BINARY) if index == 0 else Opcode.CONTINUATION
                self.pending += encode_frame(opcode, piece, fin=index == len(pieces) - 1, rsv1=index == 0,
                                             mask=self._peer_mask(right_mask))
        elif name == "mutate":
            self.clean = False
            self._mutate(*args)
        elif name == "deliver":
            self.deliver(args[0])
        elif name == "eof":
            self._eof()
        else:
            self._api(name, args)

    def _peer_mask(self, right: bool) -> bytes | bool:
        masks = not self.side_masks  # the peer masks when the side is a server
        return b"\x5a\xc3\x0f\x96" if masks == right else False

    def _mutate(self, kind: int, position: int, data: bytes) -> None:
        pending = self.pending
        where = position % (len(pending) + 1)
        kind %= 5
        if kind == 0 and pending:  # flip bits
            pending[where % len(pending)] ^= (data[0] if data else 0x80) or 1
        elif kind == 1:  # delete
            del pending[where : where + 1 + len(data)]
        elif kind == 2:  # insert
            pending[where:where] = data
        elif kind == 3:  # duplicate a range
            pending[where:where] = pending[where : where + 1 + len(data) * 7]
        else:  # truncate
            del pending[where:]

    def deliver(self, cuts: Sequence[int]) -> None:
        data = bytes(self.pending)
        self.pending.clear()
        points = sorted({cut % (len(data) + 1) for cut in cuts})
        for start, end in zip([0, *points], [*points, len(data)]):
            self._receive(data[start:end])

    def _receive(self, chunk: bytes) -> None:
        side = self.side
        before = side.state
        done = before is State.CLOSED or side.failure is not None
        had_failure = side.failure is not None
        try:
            side.receive_data(chunk)
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            undocumented(error, "receive_data")
        events = self._delivered + side.events_received()
        self._delivered = []
        output = side.data_to_send()
        if done:
            require(events == [] and output == b"", f"CLOSED or failed, yet delivered {events!r} / sent {output!r}")
        self._check_events(events)
        failed_now = side.failure is not None and not had_failure
        if failed_now:
            require(side.should_close_transport, "a failed connection keeps its transport")
            require(side.state >= State.CLOSING, f"failed but {side.state.name}")
        # Exactly what the model says: a pong for each ping while OPEN, then a close frame when the
        # peer's close is echoed or the connection fails while OPEN.
        expected: list[tuple[Opcode, Any]] = []
        if before is State.OPEN and not done:
            if self.config.auto_pong:
                expected += [(Opcode.PONG, event.payload) for event in events if isinstance(event, Ping)]
            closes = [event for event in events if isinstance(event, Close)]
            if closes:
                code = closes[0].code
                expected.append((Opcode.CLOSE, (None if code == 1005 else code, "")))
            elif failed_now:
                expected.append((Opcode.CLOSE, (side.failure.close_code, side.close_sent[1] if side.close_sent else None)))
        frames = self._side_output(output)
        got = [(frame.opcode, frame.payload if frame.opcode is Opcode.PONG else self._close_of(frame)) for frame in frames]
        require(got == expected, f"after receiving, sent {got!r}, expected {expected!r}")
        self._after()

    @staticmethod
    def _close_of(frame: Frame) -> Any:
        if frame.opcode is not Opcode.CLOSE:
            return frame
        if not frame.payload:
            return (None, "")
        return parse_close(frame.payload)

    def _check_events(self, events: list[Event]) -> None:
        limit = self.config.max_message_size
        for event in events:
            require(not self.close_received, f"{event!r} delivered after a Close event")
            if isinstance(event, (TextMessage, BinaryMessage)):
                size = _message_size(event)
                require(limit is None or size <= limit, f"a {size}-byte message over max_message_size={limit}")
                require(type(event.data) is (str if isinstance(event, TextMessage) else bytes), "bad data type")
            elif isinstance(event, (TextFragment, BinaryFragment)):
                require(self.config.stream_fragments, "a fragment event without stream_fragments")
                self.streamed += _message_size(event)
                require(limit is None or self.streamed <= limit, f"a streamed message of {self.streamed} bytes over {limit}")
                if event.final:
                    self.streamed = 0
            elif isinstance(event, Close):
                self.close_received = True
                require(self.side.state is State.CLOSED, f"a Close event in state {self.side.state.name}")
                require(event.code == 1005 or 1000 <= event.code <= 4999, f"close code {event.code} delivered")
            elif isinstance(event, (Ping, Pong)):
                require(type(event.payload) is bytes and len(event.payload) <= MAX_CONTROL_PAYLOAD, f"bad {event!r}")
            else:
                fail(f"unknown event {event!r}")
        self.side_events += events

    def _side_output(self, output: bytes) -> list[Frame]:
        """Parse what the side sent, check it as frames, and hand it to the peer."""
        try:
            frames = self._side_wire.feed(output)
        except ProtocolError as error:
            fail(f"the side sent invalid frames ({error!r}): {output!r}")
        require(self._side_wire.buffered == 0, "data_to_send() ended inside a frame")
        self.sent_frames += frames
        for frame in frames:
            require(not self.close_sent, f"{frame!r} sent after the close frame")
            # Data frames are expected by the API model; control frames as they are, after
            # _api / _receive have checked them against their own model.
            if frame.opcode is Opcode.CLOSE:
                self.close_sent = True
                code, reason = self._close_of(frame)
                self.expected_at_peer.append(Close(1005 if code is None else code, reason))
            elif frame.opcode is Opcode.PING:
                self.expected_at_peer.append(Ping(frame.payload))
            elif frame.opcode is Opcode.PONG:
                self.expected_at_peer.append(Pong(frame.payload))
        if output:
            self._to_peer(output, frames)
        return frames

    def _to_peer(self, output: bytes, frames: list[Frame]) -> None:
        peer = self.peer
        before = peer.state
        try:
            peer.receive_data(output)
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            fail(f"the peer's receive_data raised {error!r}")
        require(peer.failure is None, f"the peer failed on what the side sent: {peer.failure!r}")
        events = peer.events_received()
        self.peer_events += events
        if before is not State.CLOSED:
            want = self.expected_at_peer
            require(self.peer_events == want, f"the peer received {self.peer_events!r}, expected {want!r}")
        for event in events:
            if before is State.OPEN and isinstance(event, Ping):
                self._expect_at_side(Pong(event.payload))  # the peer's automatic answer
            elif before is State.OPEN and isinstance(event, Close):
                self._expect_at_side(Close(event.code, ""))  # the peer's echo
        self._peer_output()

    def _after(self) -> None:
        state = self.side.state
        require(state >= self.state, f"the state went back from {self.state.name} to {state.name}")
        self.state = state
        if self.side.failure is not None:
            require(self.side.should_close_transport, "a failed connection keeps its transport")

    def _eof(self) -> None:
        try:
            self.side.receive_eof()
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            fail(f"receive_eof raised {error!r}")
        self.eof = True
        require(self.side.state is State.CLOSED, f"{self.side.state.name} after EOF")
        require(self.side.close_code is not None and self.side.should_close_transport, "EOF left no close code")
        require(self.side.events_received() == [] and self.side.data_to_send() == b"", "EOF produced something")
        self._after()

    def _api(self, name: str, args: tuple) -> None:
        side, model = self.side, self.model
        state = side.state
        expected: type[Exception] | None = None
        if name in ("send_text", "send_binary", "send_continuation"):
            data, fin = args
            if state is not State.OPEN or (name == "send_continuation") != (model.sending is not None):
                expected = InvalidState
            call = lambda: getattr(side, name)(data, fin=fin)
        elif name in ("ping", "pong"):
            (payload,) = args
            if state is not State.OPEN:
                expected = InvalidState
            elif len(payload) > MAX_CONTROL_PAYLOAD:
                expected = ValueError
            call = lambda: getattr(side, name)(payload)
        elif name == "close":
            code, reason = args
            if code is None and reason or state is State.OPEN and code is not None and (
                code not in SENDABLE_CODES and not 3000 <= code <= 4999 or len(reason.encode("utf-8")) > 123
            ):
                expected = ValueError
            call = lambda: side.close(code, reason)
        else:
            raise ValueError(f"unknown operation {name!r}")
        try:
            call()
        except (InvalidState, ValueError) as error:
            self.api_outcomes.append((type(error), str(error)))
            require(type(error) is expected, f"{name}{args!r} in {state.name} raised {error!r}, expected {expected}")
            require(side.data_to_send() == b"" and side.state is state, f"the failed {name} changed something")
            self._after()
            return
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            fail(f"{name}{args!r} raised an undocumented {error!r}")
        self.api_outcomes.append(None)
        require(expected is None, f"{name}{args!r} in {state.name} should have raised {expected}")
        frames = self._side_output_checked(name, args, state)
        if name == "close":
            want_state = State.CLOSING if state is State.OPEN else state
            require(side.state is want_state, f"close() in {state.name} left {side.state.name}")
            require(len(frames) == (state is State.OPEN), f"close() in {state.name} sent {frames!r}")
        self._after()

    def _side_output_checked(self, name: str, args: tuple, state: State) -> list[Frame]:
        model = self.model
        output = self.side.data_to_send()
        if name in ("send_text", "send_binary", "send_continuation"):
            data, fin = args
            payload = data.encode("utf-8") if isinstance(data, str) else data
            if name != "send_continuation":
                model.sending, model.parts = ("text" if name == "send_text" else "binary"), []
            model.parts.append(payload)
            if fin:
                whole = b"".join(model.parts)
                event = TextMessage(whole.decode("utf-8")) if model.sending == "text" else BinaryMessage(whole)
                model.sending, model.parts = None, []
                self.expected_at_peer.append(event)
            opcode = {"send_text": Opcode.TEXT, "send_binary": Opcode.BINARY}.get(name, Opcode.CONTINUATION)
            frames = self._side_output(output)
            require(len(frames) == 1 and frames[0].opcode is opcode and frames[0].fin == fin,
                    f"{name}(fin={fin}) sent {frames!r}")
            require(frames[0].rsv1 == (self.compressed and opcode is not Opcode.CONTINUATION),
                    f"RSV1 wrong on {frames[0]!r}")
            if not self.compressed:
                require(frames[0].payload == payload, "the payload was not sent as given")
            return frames
        if name in ("ping", "pong"):
            (payload,) = args
            frames = self._side_output(output)
            require(frames == [Frame(Opcode.PING if name == "ping" else Opcode.PONG, payload)], f"{name} sent {frames!r}")
            return frames
        # close: _side_output records the Close the peer must see
        frames = self._side_output(output)
        if frames:
            code, reason = args
            require(self._close_of(frames[0]) == (code, reason), f"close({code}, {reason!r}) sent {frames!r}")
        return frames

    def finish(self) -> None:
        """Deliver what is pending, then, for clean traffic, compare what the side received."""
        self.deliver(())
        if not self.clean:
            return
        got = _normalize(self.side_events)
        want = self.expected_at_side
        failure = self.side.failure
        if failure is not None:
            require(isinstance(failure, PayloadTooBig) and self.oversized, f"clean traffic failed the side: {failure!r}")
        # With on_data, data and control events are each in order, but not among each other.
        comparisons = list(zip(_split_data(got), _split_data(want))) if self.config.on_data else [(got, want)]
        for got_part, want_part in comparisons:
            if failure is not None or self.eof:
                require(got_part == want_part[: len(got_part)], f"received {got_part!r}, not a prefix of {want_part!r}")
            else:
                require(got_part == want_part, f"received {got_part!r}, expected {want_part!r}")


# ---------------------------------------------------------------------------------- handshake


def _outcome(parse: Callable[[bytes], Any], data: bytes) -> tuple:
    try:
        return ("ok", parse(data))
    except InvalidHTTP as error:
        require(error.status_code in (400, 405, 414, 431, 505), f"{error!r} with status {error.status_code}")
        return ("error", type(error), error.status_code, str(error))
    except Exception as error:
        fail(f"the parser raised an undocumented {error!r} on {data!r}")
        raise  # unreachable


def _check_prefix_stable(parse: Callable[[bytes], Any], buffer: bytes, split: int) -> tuple:
    """The parser on ``buffer`` and on a prefix: a result or an error on the prefix stays the same
    with more data (the connection re-parses a growing buffer), and a result needs only its bytes."""
    whole = _outcome(parse, buffer)
    part = _outcome(parse, buffer[: split % (len(buffer) + 1)])
    if part[0] == "error" or part[1] is not None:
        require(part == whole, f"{part!r} on a prefix but {whole!r} on the whole")
    if whole[0] == "ok" and whole[1] is not None:
        consumed = whole[1][1]
        require(0 < consumed <= len(buffer), f"consumed {consumed} of {len(buffer)} bytes")
        require(_outcome(parse, buffer[:consumed]) == whole, "the result changes without the bytes after it")
    return whole


def check_parse_request(buffer: bytes, split: int, max_size: int, max_headers: int) -> None:
    """parse_request raises only InvalidHTTP (400/405/414/431/505), and streams consistently."""
    whole = _check_prefix_stable(lambda data: parse_request(data, max_size=max_size, max_headers=max_headers),
                                 buffer, split)
    if whole[0] == "ok" and whole[1] is not None:
        request, consumed = whole[1]
        require(consumed <= max_size, f"a {consumed}-byte head over max_size={max_size}")
        require(len(request.headers) <= max_headers, f"{len(request.headers)} headers over {max_headers}")
        require(type(request.path) is str and request.path, "empty request target")


def check_parse_response(buffer: bytes, split: int, max_size: int, max_headers: int, max_body_size: int) -> None:
    """parse_response raises only InvalidHTTP, streams consistently, and reads a body exactly."""
    whole = _check_prefix_stable(
        lambda data: parse_response(data, max_size=max_size, max_headers=max_headers, max_body_size=max_body_size),
        buffer,
        split,
    )
    if whole[0] == "ok" and whole[1] is not None:
        response, consumed = whole[1]
        status = response.status_code
        require(status == 101 or 200 <= status <= 999, f"status {status} returned")
        require(len(response.body) <= max_body_size, "a body over max_body_size")
        require(buffer[consumed - len(response.body) : consumed] == response.body, "the body is not the bytes read")
        if response.status_code == 101:
            require(response.body == b"", "a 101 with a body")


def _deflate_server(**params: Any) -> ServerHandshake:
    return ServerHandshake(extensions=[ServerPerMessageDeflateFactory(**params)])


def _forbid_private(request: Any) -> Response | None:
    return reject(403, "private") if request.path.startswith("/private") else None


#: Server configurations the handshake fuzzers pick from.
SERVER_HANDSHAKES: tuple[Callable[[], ServerHandshake], ...] = (
    ServerHandshake,
    lambda: ServerHandshake(origins=["http://example.com", None], subprotocols=["chat", "superchat"]),
    lambda: _deflate_server(),
    lambda: _deflate_server(server_no_context_takeover=True, client_max_window_bits=10,
                            require_client_max_window_bits=True, min_size=0),
    lambda: ServerHandshake(
        origins=["https://a.example"],
        subprotocols=["v2.chat"],
        extensions=[ServerPerMessageDeflateFactory(server_max_window_bits=9), ServerPerMessageDeflateFactory()],
        extra_headers=[("X-Extra", "1")],
        server_header=None,
    ),
    lambda: ServerHandshake(select_subprotocol=lambda request, offered: offered[-1] if offered else None),
)
#: The process_request hook of some of SERVER_HANDSHAKES, by index: the server holds each request
#: for it and settles it with its answer.
PROCESS_REQUEST: dict[int, Callable[[Any], Response | None]] = {4: _forbid_private}


def _server(handshake_index: int, **options: Any) -> tuple[ServerConnection, Callable[[Any], Response | None] | None]:
    """A server with one of SERVER_HANDSHAKES, and its process_request hook if it has one."""
    index = handshake_index % len(SERVER_HANDSHAKES)
    hook = PROCESS_REQUEST.get(index)
    return ServerConnection(SERVER_HANDSHAKES[index](), hold_request=hook is not None, **options), hook


def _receive(server: ServerConnection, hook: Callable[[Any], Response | None] | None, data: bytes) -> None:
    """``server.receive_data(data)``, then the hook's answer if a request waits for it."""
    server.receive_data(data)
    if hook is not None and server.request_waiting:
        require(server.settle_request(hook(server.request), None) is None, "the hook's answer was refused")

#: Client options the handshake fuzzers pick from (keyword arguments of both ClientConnection and
#: ClientHandshake).
CLIENT_OPTIONS: tuple[dict[str, Any], ...] = (
    {},
    {"origin": "http://example.com", "subprotocols": ["chat", "superchat"]},
    {"extensions": [ClientPerMessageDeflateFactory()]},
    {"extensions": [ClientPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=9,
                                                   client_max_window_bits=10)],
     "subprotocols": ["v2.chat"], "origin": "https://a.example", "extra_headers": [("X-Token", "abc")]},
)

#: The Sec-WebSocket-Key of the requests that valid_request builds.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: Stands for the Sec-WebSocket-Accept that a client's random key needs, in the responses that
#: valid_response builds; check_client_handshake puts the right value in (same length, 28 bytes).
ACCEPT_PLACEHOLDER = b"<<<<sec-websocket-accept>>>>"


def valid_request(options_index: int, path: str = "/chat") -> bytes:
    """The upgrade request of a client with one of CLIENT_OPTIONS, with the fixed KEY."""
    options = CLIENT_OPTIONS[options_index % len(CLIENT_OPTIONS)]
    return ClientHandshake("example.com", path, key=KEY, **options).request.serialize()


def valid_response(options_index: int, handshake_index: int, path: str = "/chat") -> bytes:
    """What a server with one of SERVER_HANDSHAKES answers to ``valid_request``, its accept key
    replaced by ACCEPT_PLACEHOLDER."""
    server, hook = _server(handshake_index)
    _receive(server, hook, valid_request(options_index, path))
    return server.data_to_send().replace(accept_key(KEY).encode(), ACCEPT_PLACEHOLDER)


def _split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


def check_server_handshake(handshake_index: int, data: bytes, cuts: Sequence[int], max_head: int,
                           max_headers: int, eof: bool = False) -> None:
    """A ServerConnection fed ``data`` in chunks never raises, says nothing until it decides, then
    answers with exactly one complete response: the error's status and message for a rejection,
    the application's answer, or a 101 with the right accept key followed only by valid frames."""
    server, hook = _server(handshake_index, max_http_head_size=max_head, max_http_headers=max_headers)
    answer = b""
    wire = _frames_py.FrameDecoder(expect_masked=False, max_frame_size=None, max_message_size=None, allowed_rsv=RSV1)
    for chunk in _split(data, cuts):
        before = server.state
        try:
            _receive(server, hook, chunk)
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            undocumented(error, "ServerConnection.receive_data")
        output = server.data_to_send()
        if before is State.CONNECTING:
            if server.state is State.CONNECTING:
                require(output == b"" and server.handshake_error is None, f"answered {output!r} before deciding")
                continue
            answer = output
            _check_server_answer(server, output, wire)
        elif before is State.CLOSED:
            require(output == b"", f"sent {output!r} after closing")
        else:
            try:
                wire.feed(output)
            except ProtocolError as error:
                fail(f"invalid frames after the 101: {error!r}")
    if server.state is State.CONNECTING:
        require(answer == b"", "an answer while still CONNECTING")
    if eof:
        try:
            server.receive_eof()
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            fail(f"ServerConnection.receive_eof raised {error!r}")
        require(server.state is State.CLOSED and server.data_to_send() == b"", "EOF left the server open")


def _check_server_answer(server: ServerConnection, output: bytes, wire: Any) -> None:
    try:
        parsed = parse_response(output, max_size=1 << 20, max_body_size=1 << 20)
    except InvalidHTTP as error:
        fail(f"the server's answer does not parse ({error!r}): {output!r}")
    require(parsed is not None, f"the server's answer is incomplete: {output!r}")
    response, consumed = parsed  # type: ignore[misc]
    headers = response.headers
    error = server.handshake_error
    require(server.response is not None and server.response.status_code == response.status_code,
            "server.response is not what was sent")
    if error is not None:
        require(isinstance(error, (InvalidHTTP, InvalidHandshake)), f"handshake_error {error!r}")
        require(server.state is State.CLOSED and server.should_close_transport, "a rejection left the transport open")
        require(consumed == len(output), f"bytes after the rejection: {output[consumed:]!r}")
        require(response.status_code == error.status_code, f"{response.status_code} for {error!r}")
        require(response.body == str(error).encode("utf-8"), "the body is not the error's message")
        require("close" in headers["Connection"].lower(), "a rejection without Connection: close")
        if response.status_code == 426:
            require(headers.get("Upgrade") == "websocket", "a 426 without Upgrade: websocket")
        if isinstance(error, InvalidVersion):
            require(headers.get("Sec-WebSocket-Version") == "13", "InvalidVersion without Sec-WebSocket-Version")
        if response.status_code == 405:
            require(headers.get("Allow") == "GET", "a 405 without Allow: GET")
    elif response.status_code != 101:  # process_request's answer
        require(server.state is State.CLOSED and consumed == len(output), "process_request's answer is not whole")
    else:  # frames right behind the request may have closed the connection already
        require(server.state >= State.OPEN, f"{server.state.name} after {response!r}")
        request = server.request
        require(request is not None, "OPEN without a request")
        key = request.headers["Sec-WebSocket-Key"]  # type: ignore[union-attr]
        require(headers["Sec-WebSocket-Accept"] == accept_key(key), "wrong Sec-WebSocket-Accept")
        require(headers["Upgrade"] == "websocket" and headers["Connection"] == "Upgrade", "bad 101 headers")
        try:
            wire.feed(output[consumed:])
        except ProtocolError as error:
            fail(f"invalid frames after the 101: {error!r}")


def check_client_handshake(options_index: int, response: bytes, cuts: Sequence[int], eof: bool = False) -> None:
    """A ClientConnection (with one of CLIENT_OPTIONS) fed ``response`` in chunks, ACCEPT_PLACEHOLDER
    replaced by its accept key, never raises and sends nothing during the
    handshake; it ends OPEN only on a 101 with the right accept key, else CLOSED with an
    InvalidHandshake / InvalidHTTP in ``handshake_error``."""
    client = ClientConnection("ws://example.com/chat", **CLIENT_OPTIONS[options_index % len(CLIENT_OPTIONS)])
    client.data_to_send()
    response = response.replace(ACCEPT_PLACEHOLDER, accept_key(client.handshake.key).encode())
    wire = _frames_py.FrameDecoder(expect_masked=True, max_frame_size=None, max_message_size=None, allowed_rsv=RSV1)
    for chunk in _split(response, cuts):
        before = client.state
        try:
            client.receive_data(chunk)
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            undocumented(error, "ClientConnection.receive_data")
        output = client.data_to_send()
        if before is State.CONNECTING and client.state is State.CONNECTING:
            require(output == b"" and client.handshake_error is None, f"sent {output!r} during the handshake")
        elif client.handshake_error is not None:
            require(isinstance(client.handshake_error, (InvalidHandshake, InvalidHTTP)),
                    f"handshake_error {client.handshake_error!r}")
            require(client.state is State.CLOSED and client.should_close_transport and output == b"",
                    "a failed handshake left something behind")
        else:
            require(client.response is not None and client.response.status_code == 101, "OPEN without a 101")
            accept = client.response.headers["Sec-WebSocket-Accept"]
            require(accept == accept_key(client.handshake.key), "OPEN with a wrong accept key")
            try:
                wire.feed(output)
            except ProtocolError as error:
                fail(f"the client sent invalid frames: {error!r}")
    if eof:
        state = client.state
        try:
            client.receive_eof()
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            fail(f"ClientConnection.receive_eof raised {error!r}")
        require(client.state is State.CLOSED, "EOF left the client open")
        if state is State.CONNECTING:
            require(isinstance(client.handshake_error, InvalidHTTP), "EOF during the handshake is not an error")
