"""The OPEN state's hot path, one source for both implementations.

A read in the OPEN state goes from the bytes the event loop read to the message handed on (to the
application's callback, or to the queue ``recv()`` reads), and a message sent goes from
``send(str | bytes)`` to ``transport.write``. This module holds that path and the state it
touches, as two base classes:

- :class:`ConnectionCore`, under the sans-IO :class:`wsfast.connection.Connection`: receiving
  data, the whole-message delivery from inside the frame decoder, and sending a message as one
  frame;
- :class:`ProtocolCore`, under the asyncio :class:`wsfast.asyncio.protocol.WebSocketProtocol`:
  ``buffer_updated``, the write of what the core made, and the conversion of what the
  application sends;
- :class:`AwaitCore`, under the await API's :class:`wsfast.asyncio.connection.Connection`:
  ``recv()``, iteration and ``send()`` of a whole message.

Everything else (handshake, control frames, fragments, extensions, failures, closing) stays in the
subclasses and is called from here by name, so a subclass can change it. Each class declares
the fields its subclass sets (the typed fields of ``_openpath.pxd``) and the hooks it calls, so
type checkers read this file as it runs.

This file is the pure-Python twin. The build compiles the same file, as ``_openpath_c``, with the
declarations of ``_openpath.pxd`` (typed fields, C-level calls between these methods): one
source, so the two cannot drift apart. ``_kernels.core_module`` chooses between them exactly as
the kernels are chosen.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .events import BinaryFragment, BinaryMessage, Ping, Pong, TextFragment, TextMessage
from .exceptions import InvalidPayload, InvalidState, PayloadTooBig, ProtocolError
from .frames import Frame, Opcode, encode_frame, frame_header
from ._buffers import message_payload
from ._states import State
from .kernels import validate_utf8

if TYPE_CHECKING:
    import asyncio
    import codecs
    from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
    from typing import TypeVar

    from .asyncio.connection import _MessagePieces
    from .asyncio.messages import MessageQueue
    from .connection import Connection
    from .events import Event
    from .extensions import Extension
    from .frames import FrameDecoder
    from .kernels import Utf8Validator

    Data = str | bytes
    _Item = TypeVar("_Item")  # write_shared_to's connections, whatever their class

__all__ = ["ConnectionCore", "ProtocolCore", "AwaitCore", "write_shared_to"]

# Module globals, not Enum lookups: these are tested on every message.
_BINARY, _TEXT, _CONTINUATION = Opcode.BINARY, Opcode.TEXT, Opcode.CONTINUATION
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
_CONNECTING, _OPEN, _CLOSING, _CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED
#: From this size an unmasked payload is sent behind its header as it is, not copied into a frame.
_SPLIT_SIZE = 65536
_monotonic = time.monotonic
#: Below this size in all, the pieces of a write are joined into one ``transport.write`` where the
#: transport's ``writelines`` does not make one system call of them (the standard library's).
#: Written apart, a large payload's header leaves as a segment of its own, which costs a system
#: call and can wake the peer for a few bytes: the copy is cheaper up to a few hundred KiB.
#: Measured here, a callback server echoing through the standard library's loop: 100 KB
#: messages 188 → 176 µs per round trip when joined, 300 KB 318 → 310, but 2 MB 2106 → 2304.
_JOIN_BELOW = 1 << 19
#: A read from this size may leave a large frame part-received (the decoder reads one straight
#: into its payload once a quarter of it is in hand, from 64 KiB): the next read asks it where to go.
_LARGE_READ = 16384
#: ``os.write`` and ``os.writev``, as ``_write_now`` and ``_gather_now`` call them: names of this
#: module, so that a test can stand in for them.
_write_fd = os.write
try:
    _writev_fd = os.writev
except AttributeError:  # not POSIX, where nothing is written straight to a socket (_direct_socket)
    pass
#: At most this many pieces go to one ``writev`` (Linux takes 1024); more are joined first.
_GATHER_MAX = 16


def _write_pieces(transport: asyncio.Transport, pieces: list[Any]) -> None:
    """Write the pieces through the transport's ``write``, in order: joined below ``_JOIN_BELOW``
    in all, else one ``write`` each (the standard library's ``writelines`` pauses no protocol from
    3.12 on, see ``asyncio.protocol._GATHERING_MODULES``)."""
    if sum(map(len, pieces)) < _JOIN_BELOW:
        transport.write(b"".join(pieces))
    else:
        for piece in pieces:
            transport.write(piece)


class ConnectionCore:
    """The receiving and sending state of a sans-IO connection in the OPEN state, and its fast
    paths. Its fields are set by :class:`wsfast.connection.Connection`, which documents them."""

    _state: State
    failure: ProtocolError | None
    on_data: Callable[[Any, bool, bool], object] | None
    _decoder: FrameDecoder
    _feed_into: Callable[..., list[Any]]  # _decoder.feed_into, bound once: a lookup per read costs more
    _sending: Opcode | None
    _events: list[Event]
    _output: list[bytes]
    _plain: bool
    _masked: bool
    decode_text: bool
    stream_fragments: bool
    extensions: list[Extension]
    max_message_size: int | None
    auto_pong: bool
    _receiving: Opcode | None
    _received_size: int
    _parts: bytearray
    _utf8: Utf8Validator
    _text_decoder: codecs.IncrementalDecoder
    _pongs_held: bool
    _held_pong: bytes | None

    # -------------------------------------------------------------------------------- hooks
    # What the subclass does; called from here by name.

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def _receive_close(self, payload: bytes) -> None:
        raise NotImplementedError

    def fail(self, error: ProtocolError) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------------------------- state

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self._state

    # -------------------------------------------------------------------------------- receiving

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Process bytes received from the peer; new events wait in :meth:`events_received`.

        ``data`` may be any bytes-like object; it is not kept, so the caller may reuse its buffer.
        """
        self._receive_data(data)

    def _receive_data(self, data: Any, length: Any = None) -> None:
        """``receive_data``; with ``length``, of the first ``length`` bytes of ``data`` only (the
        read buffer, filled in part: no slice of it is made on the common path)."""
        state = self._state
        if state is not _OPEN:
            if state is _CONNECTING:
                self._receive_handshake(data if length is None else data[:length])
                return
            if state is _CLOSED:
                return  # after the close handshake, nothing more is read
        if self.failure is not None:
            return  # nor after a failure
        try:
            if self._plain:
                # Whole messages are handed on from inside the decoder, checked: to on_data, or
                # made events; what comes back is the rest, from the first frame that needs more.
                on_data = self.on_data
                frames = self._feed_into(data, self._deliver if on_data is None else on_data, self.decode_text, length)
            else:
                frames = self._decoder.feed(data if length is None else data[:length])
            failure = None
        except ProtocolError as error:
            frames, failure = error.frames, error
        try:
            for frame in frames:
                opcode = frame.opcode
                if (opcode is _BINARY or opcode is _TEXT) and frame.fin and self._plain:
                    # the common case, kept short: a whole message in one frame, already checked
                    # against the size limits by the decoder, nothing to transform
                    if opcode is _BINARY:
                        self._deliver(frame.payload, True, False)
                    else:
                        self._deliver(self._checked_text(frame.payload), True, True)
                    continue
                self._receive_frame(frame)
                if self._state is _CLOSED:
                    return
        except ProtocolError as error:
            failure = error
        if failure is not None:
            self.fail(failure)

    def events_received(self) -> list[Event]:
        """The events since the last call, in order."""
        events = self._events
        self._events = []
        return events

    def _receive_frame(self, frame: Any) -> None:
        """A frame the decoder could not hand on as a whole message: a control frame, a fragment,
        or a frame an extension transforms."""
        opcode = frame.opcode
        if opcode is _PING:
            if self.auto_pong and self._state is _OPEN:
                if self._pongs_held:
                    self._held_pong = frame.payload
                else:
                    self._send_frame(_PONG, frame.payload)
            self._events.append(Ping(frame.payload))
        elif opcode is _PONG:
            self._events.append(Pong(frame.payload))
        elif opcode is _CLOSE:
            self._receive_close(frame.payload)
        else:
            self._receive_data_frame(frame)

    def _receive_data_frame(self, frame: Any) -> None:
        first = frame.opcode is not _CONTINUATION
        if first:
            self._receiving = frame.opcode
            self._received_size = 0
        limit = self.max_message_size
        for extension in reversed(self.extensions):
            frame = extension.decode(frame, max_size=None if limit is None else limit - self._received_size)
        payload = frame.payload
        self._received_size += len(payload)
        if limit is not None and self._received_size > limit:
            raise PayloadTooBig(f"message of more than {limit} bytes")
        text = self._receiving is _TEXT
        if first and frame.fin:  # the common case: a message in one frame
            self._deliver(self._checked_text(payload) if text else payload, True, text)
            return
        if text:
            if first:
                self._utf8.reset()
                self._text_decoder.reset()
            if not self._utf8.feed(payload) or (frame.fin and not self._utf8.finish()):
                raise InvalidPayload("invalid UTF-8 in a text message")
        if self.stream_fragments:
            if not (payload or first or frame.fin):
                pass  # a frame that carries nothing is not reported
            else:
                piece = self._text_decoder.decode(payload, frame.fin) if text and self.decode_text else payload
                self._deliver(piece, frame.fin, text)
        else:
            # Joined as they come: one buffer, however many frames (the decoder bounds their count).
            parts = self._parts
            if first:
                del parts[:]
            parts += payload
            if frame.fin:
                self._deliver(parts.decode("utf-8") if text and self.decode_text else bytes(parts), True, text)
                self._parts = bytearray()
        if frame.fin:
            self._receiving = None

    def _deliver(self, data: Any, final: bool, text: bool) -> None:
        """Hand on a message, or a fragment of one when fragments are streamed."""
        on_data = self.on_data
        if on_data is not None:
            on_data(data, final, text)
        elif self.stream_fragments:
            self._events.append(TextFragment(data, final) if text else BinaryFragment(data, final))
        else:
            self._events.append(TextMessage(data) if text else BinaryMessage(data))

    def _checked_text(self, payload: bytes) -> Any:
        """A whole text message's payload, decoded or (``decode_text=False``) only checked.

        Raises:
            InvalidPayload: it is not UTF-8 (close code 1007).
        """
        if not self.decode_text:
            if not validate_utf8(payload):
                raise InvalidPayload("invalid UTF-8 in a text message")
            return payload
        try:
            return payload.decode("utf-8")  # checks and decodes in one pass
        except UnicodeDecodeError:
            raise InvalidPayload("invalid UTF-8 in a text message") from None

    # -------------------------------------------------------------------------------- sending

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer since the last call."""
        output = self._output
        self._output = []
        return output[0] if len(output) == 1 else b"".join(output)

    def chunks_to_send(self) -> list[bytes]:
        """The same bytes as :meth:`data_to_send`, as the pieces they were made in: an unmasked
        payload of 64 KiB or more is a piece of its own behind its frame header, never copied,
        for I/O that writes pieces (``transport.write`` each, ``writelines``, ``sendmsg``)."""
        output = self._output
        self._output = []
        return output

    def send_text(self, data: str | bytes, *, fin: bool = True) -> None:
        """Send a text message, or its first fragment when ``fin`` is False.

        ``data`` as bytes must be UTF-8 (it is sent as it is).

        Raises:
            InvalidState: the connection is not OPEN, or a fragmented message is being sent.
        """
        self._send_message(_TEXT, data.encode("utf-8") if isinstance(data, str) else data, fin)

    def send_binary(self, data: bytes, *, fin: bool = True) -> None:
        """Send a binary message, or its first fragment when ``fin`` is False.

        Raises:
            InvalidState: the connection is not OPEN, or a fragmented message is being sent.
        """
        self._send_message(_BINARY, data, fin)

    def _send_message(self, opcode: Any, data: bytes, fin: bool) -> None:
        if fin and self._plain and self._state is _OPEN and self._sending is None:
            # the common case, kept short: one whole frame, nothing to transform
            if self._masked:
                self._output.append(encode_frame(opcode, data, mask=True))
            elif len(data) < _SPLIT_SIZE:
                self._output.append(encode_frame(opcode, data))  # no keyword: the compiled call's fast path
            else:
                self._send_frame(opcode, data, True, False)
            return
        self._send_data(opcode, data, fin)

    def _send_data(self, opcode: Any, payload: bytes, fin: bool) -> None:
        if self._state is not _OPEN:
            raise InvalidState(f"cannot send data when the connection is {self._state.name}")
        if opcode is _CONTINUATION:
            if self._sending is None:
                raise InvalidState("no fragmented message to continue")
        elif self._sending is not None:
            raise InvalidState("a fragmented message is being sent: finish it with send_continuation")
        frame = Frame(opcode, payload, fin)
        for extension in self.extensions:
            frame = extension.encode(frame)
        self._send_frame(frame.opcode, frame.payload, frame.fin, frame.rsv1)
        if opcode is not _CONTINUATION:
            self._sending = opcode
        if fin:
            self._sending = None

    def _send_frame(self, opcode: Any, payload: bytes, fin: bool = True, rsv1: bool = False) -> None:
        if not self._masked and len(payload) >= _SPLIT_SIZE and type(payload) is bytes:
            self._output += (frame_header(opcode, len(payload), fin=fin, rsv1=rsv1), payload)
        else:
            self._output.append(encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=self._masked))


class ProtocolCore:
    """The asyncio I/O of one connection on its hot path: reading into one buffer and feeding the
    sans-IO core, writing what it made, and sending what the application hands over. Its fields
    are set by :class:`wsfast.asyncio.protocol.WebSocketProtocol`, which documents them."""

    protocol: Connection
    transport: asyncio.Transport | None
    # transport.write and transport.is_closing, bound once (connection_made): looked up on every
    # write, they cost about 100 instructions each of a small message's few thousand
    _transport_write: Callable[[Any], object]
    _transport_closing: Callable[[], bool]
    _transport_may_hold: bool
    _read_view: memoryview
    ping_interval: float | None
    _last_received: float
    _on_message: Callable[[Any, bool], object]
    _in_read: bool
    _held: int  # bytes sent inside the current read, not yet written
    _hold_limit: int  # ... and how many may wait so: write_limit
    _writing_paused: bool
    _gather_writes: bool
    _large_frame: bool
    _read_into: memoryview | None
    _socket_fd: int

    # -------------------------------------------------------------------------------- hooks
    # What the subclass does; called from here by name.

    def _handshake_pending(self) -> None:
        raise NotImplementedError

    def _handshake_done(self) -> None:
        raise NotImplementedError

    def _process_events(self, events: list[Event] | None = None) -> None:
        raise NotImplementedError

    def _arm_close_timer(self) -> None:
        raise NotImplementedError

    def _application_failed(self, where: str) -> None:
        raise NotImplementedError

    def _read_done(self) -> None:
        """A read has been decoded and what it made written (the await API's readers wake)."""

    # -------------------------------------------------------------------------------- reading

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._large_frame:
            # After a large read, a large frame may be part-received: the rest of it is then read
            # straight into its payload, not into the read buffer and copied from there.
            space = self.protocol._decoder.read_space()
            if space is not None:
                self._read_into = space
                return space
            self._large_frame = False
        self._read_into = None
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        if self.ping_interval is not None:
            self._last_received = _monotonic()
        protocol = self.protocol
        state = protocol._state
        self._in_read = True  # what is sent from here on is written once, at the end
        self._held = 0
        read_into = self._read_into
        if read_into is None:
            protocol._receive_data(self._read_view, nbytes)
        else:
            self._read_into = None
            protocol._receive_data(read_into[:nbytes])  # the decoder sees they are in place
        if nbytes >= _LARGE_READ:
            self._large_frame = True
        if state is _CONNECTING:
            if protocol._state is _CONNECTING:
                self._handshake_pending()
            else:
                self._handshake_done()
        if protocol._events or protocol._state is not _OPEN:
            # else only data came, and it is handed on already
            self._process_events(protocol.events_received())
        self._in_read = False
        self._write_output()
        self._read_done()

    def _flush(self) -> None:
        """Write what the sans-IO core made, and close (or time) the transport as it says."""
        self._write_output()

    def _write_output(self) -> None:
        protocol = self.protocol
        chunks = protocol._output
        if not chunks and protocol._state is _OPEN:
            return
        protocol._output = []
        transport = self.transport
        if transport is None or self._transport_closing():
            return
        # A large payload goes out behind its header as it is, never copied, in one system call
        # (writev) where the transport's writelines makes one or the socket is written straight.
        if len(chunks) == 1:
            self._write_now(transport, chunks[0])
        elif not chunks:
            pass  # nothing to write: only the closing below
        elif self._gather_writes:
            transport.writelines(chunks)
        else:
            self._gather_now(transport, chunks)
        state = protocol._state
        if state is _OPEN:
            return
        if protocol.should_close_transport:
            transport.close()
        elif state is _CLOSING or state is _CLOSED:
            self._arm_close_timer()

    def write_shared(self, frame: bytes) -> bool:
        """Write ``frame``, a whole plain text or binary frame encoded once for many connections,
        straight to the transport, if this connection can take it as it is, now: OPEN, no
        fragmented message being sent, nothing of its own waiting to be written (the order
        stays), a server's frames without extension, and its write buffer under the limit.
        Returns whether it did; when not, the caller takes the general path (which holds the
        message back, encodes it for this connection, or skips it).
        """
        protocol = self.protocol
        if (protocol._state is not _OPEN or protocol._sending is not None or protocol._output or protocol._masked
                or not protocol._plain or self._writing_paused):  # fmt: skip
            return False
        transport = self.transport
        if transport is None or self._transport_closing():
            return False
        self._write_now(transport, frame)
        return True

    def _write_now(self, transport: asyncio.Transport, data: bytes) -> None:
        """``transport.write(data)`` of an open transport; on the standard library's plain socket
        transport (``_socket_fd``), with nothing waiting in its buffer, as that ``write`` does it:
        straight to the socket, the rest (or all, on any error) to ``write``, which buffers it or
        meets the error itself. The same system call, without the Python-level ``write`` around
        it, which cost more than the rest of a small message's path."""
        fd = self._socket_fd
        if fd < 0 or self._transport_holds(transport):
            self._transport_write(data)
            return
        try:
            sent = _write_fd(fd, data)
        except OSError:  # full (BlockingIOError), or the connection broke: write() handles both
            sent = 0
        if sent < len(data):
            self._transport_may_hold = True
            self._transport_write(memoryview(data)[sent:] if sent else data)  # a view: frames are bytes

    def _transport_holds(self, transport: asyncio.Transport) -> bool:
        """Whether bytes wait in the plain socket transport's buffer, to go before anything
        written straight to the socket. Only what went through its ``write`` can be there, so it
        is asked (a Python-level call) only after that, until it says its buffer is empty."""
        if self._transport_may_hold:
            if transport.get_write_buffer_size():
                return True
            self._transport_may_hold = False
        return False

    def _gather_now(self, transport: asyncio.Transport, chunks: list[bytes]) -> None:
        """``_write_now`` for several pieces: on the same socket and with the same empty buffer,
        in one ``writev`` (up to ``_GATHER_MAX`` pieces); what it leaves, from the first piece not
        sent whole, and anything not written straight, go through ``_write_pieces``."""
        fd = self._socket_fd
        if fd < 0 or len(chunks) > _GATHER_MAX or self._transport_holds(transport):
            self._transport_may_hold = True
            _write_pieces(transport, chunks)
            return
        try:
            sent = _writev_fd(fd, chunks)
        except OSError:  # as in _write_now
            sent = 0
        for index, chunk in enumerate(chunks):
            if sent < len(chunk):
                rest: list[Any] = chunks[index:]
                if sent:
                    rest[0] = memoryview(chunk)[sent:]
                self._transport_may_hold = True
                _write_pieces(transport, rest)
                return
            sent -= len(chunk)

    def _send(self, message: Any, text: Any = None) -> None:
        """Send a message now: str as text, bytes-like as binary; ``text=True`` sends bytes (UTF-8,
        sent as they are) as text and ``text=False`` a str as binary. Written at once, or at the
        end of the read when called from inside one.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``message`` is neither str nor bytes-like.
        """
        kind = type(message)
        protocol = self.protocol
        try:
            if kind is bytes and not text:
                payload = message
                protocol._send_message(_BINARY, payload, True)
            elif kind is str and text is not False:
                payload = message.encode("utf-8")
                protocol._send_message(_TEXT, payload, True)
            else:  # text overrides the type; TypeError for anything but str and bytes-like
                payload = message_payload(message)[1]
                protocol._send_message(_TEXT if text else _BINARY, payload, True)
        except InvalidState:
            raise protocol.closed_error() from None
        if self._in_read:
            # buffer_updated writes it when the read ends, with whatever else the read sends;
            # unless what waits passes write_limit: then the transport is to take it now and say
            # (pause_writing) that it is full, before the read's next message is handled
            self._held += len(payload)
            if self._held <= self._hold_limit:
                return
            self._held = 0
        self._write_output()

    def _deliver_message(self, data: Any, final: bool, text: bool) -> None:
        """``on_data`` of the callback API: a whole message to the handler's ``on_message``."""
        try:
            self._on_message(data, text)
        except Exception:  # noqa: BLE001 - the application's failure closes its connection
            self._application_failed("on_message")


class AwaitCore(ProtocolCore):
    """The await API's reading and sending of whole messages. Its fields and the rest of the API
    are :class:`wsfast.asyncio.connection.Connection`'s."""

    _messages: MessageQueue
    _stream: _MessagePieces | None

    # -------------------------------------------------------------------------------- hooks
    # What the subclass does; called from here by name.

    def _end_stream(self) -> None:
        raise NotImplementedError

    async def _drain(self) -> None:
        raise NotImplementedError

    async def _send_fragmented(self, message: Iterable[Data] | AsyncIterable[Data]) -> None:
        raise NotImplementedError

    def _read_done(self) -> None:
        self._messages.read_done()

    # -------------------------------------------------------------------------------- messages

    def recv(self, decode: bool | None = None) -> Awaitable[Data]:
        """The next message: str for text, bytes for binary. ``decode=False`` returns text as its
        UTF-8 bytes (checked, not decoded: for parsers such as orjson that take bytes), and
        ``decode=True`` binary as str (as websockets names them). Returns a coroutine, the
        queue's own (one frame fewer to resume per message than a coroutine around it).

        Raises (when awaited):
            ConnectionClosedOK: the connection closed normally and every message has been read.
            ConnectionClosedError: it closed with an error, or dropped.
            RuntimeError: another coroutine is already waiting for a message.
            UnicodeDecodeError: ``decode=True`` and a binary message that is not UTF-8 (it stays
                queued).
        """
        if self._stream is None:  # the common case: no recv_streaming() open
            return self._messages.get(decode)
        return self._next_after_stream(decode, False)

    def __aiter__(self) -> AwaitCore:
        return self

    def __anext__(self) -> Awaitable[Data]:
        """The next message, as :meth:`recv`; the iteration ends on a normal close and raises
        ConnectionClosedError on any other.

        Raises (when awaited):
            ConnectionClosedError: the connection closed with an error, or dropped.
            RuntimeError: another coroutine is already waiting for a message.
        """
        if self._stream is None:
            return self._messages.get(None, True)
        return self._next_after_stream(None, True)

    async def _next_after_stream(self, decode: bool | None, iterating: bool) -> Data:
        """The next message once the one a recv_streaming() left unfinished is dropped.

        Raises:
            as :meth:`recv` (StopAsyncIteration for ConnectionClosedOK when ``iterating``).
        """
        self._end_stream()  # or RuntimeError, if another coroutine is reading
        return await self._messages.get(decode, iterating)

    async def send(
        self, message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data], text: bool | None = None
    ) -> None:
        """Send a message: str as text, bytes-like as binary; an iterable or async iterable of
        str or bytes is sent as one fragmented message. ``text=True`` sends bytes as a text frame
        (they must be UTF-8: sent as they are, for serializers such as orjson that make bytes),
        ``text=False`` a str as a binary frame (its UTF-8 encoding), as websockets names them.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: a message, or a fragment, of another type, or fragments that mix str and bytes.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            self._send(message, text)
            if self._writing_paused:
                await self._drain()
        else:
            await self._send_fragmented(message)


def write_shared_to(connections: Iterable[_Item], frame: bytes) -> list[_Item]:
    """Write ``frame`` to each of ``connections`` that takes it as it is now
    (:meth:`ProtocolCore.write_shared`): the loop of a broadcast, compiled with the rest.

    Returns:
        The others, in order, for the caller's general path: those that cannot take it now, one
        whose write raised (that path meets the error again and deals with it), and anything
        that is not a connection of wsfast's asyncio layer.
    """
    declined = []
    for connection in connections:
        if isinstance(connection, ProtocolCore):
            core = connection  # compiled: a C call from here
            try:
                if core.write_shared(frame):
                    continue
            except Exception:  # noqa: BLE001 - the general path raises it again, where it is handled
                pass
        declined.append(connection)
    return declined
