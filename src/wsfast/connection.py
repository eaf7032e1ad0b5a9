"""The sans-IO WebSocket connection (RFC 6455 §5-§7): bytes in, events out; calls in, bytes out.

No sockets, no asyncio, no clocks. The I/O layer feeds what it reads to :meth:`receive_data` and
:meth:`receive_eof`, hands the user :meth:`events_received`, writes :meth:`data_to_send` to the
peer, and closes the transport when :attr:`should_close_transport` says so.

States (every transition happens in ``_set_state``)::

    CONNECTING --handshake--> OPEN --close sent or connection failed--> CLOSING --close received--> CLOSED
                               |--------------close received (answered at once)------------------^
    any state --EOF--> CLOSED
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .events import Close, Event
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    ProtocolError,
)
from .extensions import Extension
from .frames import (
    MAX_CONTROL_PAYLOAD,
    CloseCode,
    FrameDecoder,
    Opcode,
    parse_close,
    serialize_close,
)
from ._kernels import compiled_twin
from ._states import Role, State
from .kernels import Utf8Validator
from .limits import MAX_FRAGMENTS, MAX_FRAME_SIZE, MAX_MESSAGE_SIZE
from .permessage_deflate import PerMessageDeflate

__all__ = ["Role", "State", "Connection"]

# the hot path (receiving, delivering, sending a whole message), compiled beside the C kernels
if TYPE_CHECKING:  # the twin is the source of both, so type checkers read it
    from ._openpath import ConnectionCore
else:
    ConnectionCore = compiled_twin("_openpath").ConnectionCore


_REASON_LIMIT = MAX_CONTROL_PAYLOAD - 2
_OPEN = State.OPEN


def _shared_frame_key(masked: bool, extensions: Sequence[Extension]) -> object:
    """:attr:`Connection.shared_frame_key` of a connection that masks or not, with these extensions."""
    if masked:
        return None
    if not extensions:
        return "plain"
    if len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate):
        return extensions[0].shared_key
    return None


def _truncate_reason(reason: str) -> str:
    """``reason`` cut to fit a close frame, on a character boundary."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= _REASON_LIMIT:
        return reason
    return encoded[:_REASON_LIMIT].decode("utf-8", "ignore")


class Connection(ConnectionCore):
    """One WebSocket connection, after (or during, in the subclasses) the opening handshake.

    Args:
        role: CLIENT masks every frame it sends and expects unmasked frames; SERVER the reverse.
        extensions: the agreed extensions, in the order the handshake agreed them.
        max_message_size: the largest message accepted (after decompression), or None.
        max_frame_size: the largest frame payload accepted, or None.
        max_fragments: the most frames one message may have, or None. Empty continuation frames
            count too, though they are dropped unseen.
        auto_pong: answer every ping with a pong carrying the same payload.
        stream_fragments: report text and binary data as TextFragment / BinaryFragment events as
            frames arrive, instead of whole messages.
        decode_text: deliver text as str. False delivers it as the UTF-8 bytes received, checked
            but not decoded (a fragment's bytes may end inside a character), for applications
            that parse JSON from bytes; validity is checked either way (1007).
        state: the state to start in (OPEN when the handshake happened elsewhere).

    Data can also go to a callable instead of becoming events: set :attr:`on_data` to
    ``on_data(data, final, text)`` and every message (or, with ``stream_fragments``, every
    fragment) is handed to it as it is decoded, in order, without an event object; pings, pongs
    and close frames stay events, so they are seen after the data of the same read. It should not
    raise: an exception leaves :meth:`receive_data` and the rest of that read is not processed.
    """

    def __init__(
        self,
        role: Role,
        *,
        extensions: Sequence[Extension] = (),
        max_message_size: int | None = MAX_MESSAGE_SIZE,
        max_frame_size: int | None = MAX_FRAME_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        auto_pong: bool = True,
        stream_fragments: bool = False,
        decode_text: bool = True,
        state: State = State.OPEN,
    ) -> None:
        self.role = role
        self.max_message_size = max_message_size
        self.auto_pong = auto_pong
        self.stream_fragments = stream_fragments
        self.decode_text = decode_text
        #: Where data goes instead of the event list, if set (see the class docstring).
        self.on_data: Callable[[Any, bool, bool], object] | None = None  # str or bytes, final, text
        self._state = state
        self._events: list[Event] = []
        self._output: list[bytes] = []
        self._masked = role is Role.CLIENT
        self._decoder = FrameDecoder(
            expect_masked=role is Role.SERVER,
            max_frame_size=max_frame_size,
            max_message_size=max_message_size,
            max_fragments=max_fragments,
            drop_empty_continuations=True,
        )
        self._feed_into = self._decoder.feed_into
        self._set_extensions(extensions)
        # the message being received
        self._receiving: Opcode | None = None
        self._parts = bytearray()  # what has come of it, when messages are delivered whole
        self._received_size = 0
        self._utf8 = Utf8Validator()
        self._text_decoder = codecs.getincrementaldecoder("utf-8")()
        # the message being sent in fragments
        self._sending: Opcode | None = None
        # While the I/O layer's write buffer is full, automatic pongs wait here: only the one for
        # the latest ping, as RFC 6455 §5.5.3 allows, so a ping flood cannot grow the buffer.
        self._pongs_held = False
        self._held_pong: bytes | None = None
        #: The close code and reason received (1006 and "" when the connection dropped without one).
        self.close_code: int | None = None
        self.close_reason: str | None = None
        #: The close code and reason sent, if any.
        self.close_sent: tuple[int | None, str] | None = None
        #: The protocol error that failed the connection, if any.
        self.failure: ProtocolError | None = None
        #: The reason the opening handshake failed, if it did (then the state is CLOSED).
        self.handshake_error: Exception | None = None
        #: True once the opening handshake succeeded (it stays True after the connection closes).
        self.handshake_done = state is not State.CONNECTING
        self.eof_received = False

    def _open(self, extensions: Sequence[Extension], rest: bytes) -> None:
        """The opening handshake succeeded: apply the agreed extensions, then read the frames that
        came right behind the handshake."""
        self._set_extensions(extensions)
        self._set_state(State.OPEN)
        self.handshake_done = True
        if rest:
            Connection.receive_data(self, rest)

    def _set_extensions(self, extensions: Sequence[Extension]) -> None:
        self.extensions = list(extensions)
        # Without extensions a whole binary frame is a whole message as it is, already checked
        # against the size limits by the decoder, and a message is sent as one plain frame.
        self._plain = not self.extensions
        self._shared_key = _shared_frame_key(self._masked, self.extensions)
        rsv = 0
        for extension in self.extensions:
            rsv |= extension.rsv_bits
        self._decoder.allowed_rsv = rsv

    # -------------------------------------------------------------------------------- state

    def _set_state(self, state: State) -> None:
        # The only place the state changes: it never goes back.
        if state > self._state:
            self._state = state

    @property
    def should_close_transport(self) -> bool:
        """True once the I/O layer should close the TCP connection (RFC 6455 §7.1.1).

        A server closes it as soon as the close handshake is complete; a client waits for the
        server to do so (and closes it itself after a timeout, the I/O layer's business). After a
        failure, or once the peer has closed its side, either end closes at once.
        """
        if self.failure is not None or self.eof_received or self.handshake_error is not None:
            return True
        return self._state is State.CLOSED and self.role is Role.SERVER

    # -------------------------------------------------------------------------------- receiving

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> None:
        """Read the opening handshake; the client and server connections know how.

        Raises:
            InvalidState: this connection was created without an opening handshake to read.
        """
        raise InvalidState("this connection has no opening handshake to read")

    def receive_eof(self) -> None:
        """The peer closed its side of the transport."""
        self.eof_received = True
        if self.close_code is None:
            self.close_code, self.close_reason = CloseCode.ABNORMAL_CLOSURE, ""
        self._set_state(State.CLOSED)

    def _receive_close(self, payload: bytes) -> None:
        code, reason = parse_close(payload)  # ProtocolError / InvalidPayload fail the connection
        self.close_code, self.close_reason = code, reason
        self._events.append(Close(code, reason))
        if self._state is State.OPEN:
            # Echo the peer's code (RFC 6455 §5.5.1), or send no code when it gave none.
            self._send_close(None if code == CloseCode.NO_STATUS_RCVD else code, "")
        self._set_state(State.CLOSED)

    def closed_error(self) -> ConnectionClosed:
        """The exception that tells the application this connection is closed: ConnectionClosedOK
        when both ends closed with 1000 or 1001 (this end may have sent no code) and nothing failed,
        ConnectionClosedError otherwise (1006 when the connection dropped, or is not closed yet)."""
        code = self.close_code if self.close_code is not None else CloseCode.ABNORMAL_CLOSURE
        sent, sent_reason = self.close_sent if self.close_sent else (None, None)
        normal = code in (1000, 1001) and sent in (None, 1000, 1001) and self.failure is None
        kind = ConnectionClosedOK if normal else ConnectionClosedError
        return kind(code, self.close_reason or "", sent, sent_reason)

    def fail(self, error: ProtocolError) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame with the error's code, stop
        reading, and ask for the transport to be closed."""
        if self.failure is not None or self._state is State.CLOSED:
            return
        self.failure = error
        if self._state is State.OPEN:
            self._send_close(error.close_code, _truncate_reason(str(error)))
        self._set_state(State.CLOSING)

    # -------------------------------------------------------------------------------- sending

    def hold_pongs(self) -> None:
        """Hold automatic pongs back, keeping only the latest (the I/O layer's write buffer is full)."""
        self._pongs_held = True

    def release_pongs(self) -> None:
        """Send the pong held back since :meth:`hold_pongs`, if any, and answer pings at once again."""
        self._pongs_held = False
        pong, self._held_pong = self._held_pong, None
        if pong is not None and self._state is State.OPEN:
            self._send_frame(Opcode.PONG, pong)

    @property
    def sending_fragments(self) -> bool:
        """True while a message begun with ``fin=False`` is being sent."""
        return self._sending is not None

    @property
    def sends_plain_frames(self) -> bool:
        """True when a message goes out as a plain frame: no mask (a server's), no extension. Then
        :meth:`send_encoded` takes a plain frame encoded once for many connections."""
        return self._shared_key == "plain"

    @property
    def shared_frame_key(self) -> object:
        """Which frames, encoded once for many connections, this one sends as they are
        (:meth:`send_encoded`): ``"plain"`` for plain frames (a server's, without extension); the
        :attr:`~wsfast.permessage_deflate.PerMessageDeflate.shared_key` of a server whose only
        extension is permessage-deflate compressing each message afresh (it agreed
        ``server_no_context_takeover``); None when each message must be encoded for this
        connection alone (a client masks every frame; a compressor that keeps its window between
        messages makes frames that fit this connection only). Set when the connection opens.
        """
        return self._shared_key

    def send_encoded(self, frame: bytes) -> None:
        """Send ``frame``, a whole unmasked text or binary frame encoded once for every connection
        with this :attr:`shared_frame_key` (a broadcast), as it is: the caller made it for that key
        (a plain frame, or :func:`~wsfast.permessage_deflate.encode_shared`'s).

        Raises:
            InvalidState: the connection is not OPEN, a fragmented message is being sent, or it
                takes no shared frame (:attr:`shared_frame_key` is None).
        """
        if self._state is not _OPEN or self._sending is not None:
            raise InvalidState(f"cannot send a message when the connection is {self._state.name}"
                               + (" and sending a fragmented one" if self._sending is not None else ""))  # fmt: skip
        if self._shared_key is None:
            raise InvalidState("this connection masks or keeps a compression window: a shared frame does not fit")
        self._output.append(frame)

    def send_continuation(self, data: str | bytes, *, fin: bool) -> None:
        """Send the next fragment of the message begun with ``fin=False``.

        Raises:
            InvalidState: the connection is not OPEN, or no fragmented message is being sent.
        """
        self._send_data(Opcode.CONTINUATION, data.encode("utf-8") if isinstance(data, str) else data, fin)

    def _send_control(self, opcode: Opcode, data: bytes) -> None:
        if self._state is not State.OPEN:
            raise InvalidState(f"cannot send a {opcode.name.lower()} when the connection is {self._state.name}")
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"a control frame carries at most 125 bytes, not {len(data)}")
        self._send_frame(opcode, data)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping.

        Raises:
            InvalidState: the connection is not OPEN.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._send_control(Opcode.PING, data)

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a heartbeat, RFC 6455 §5.5.3).

        Raises:
            InvalidState: the connection is not OPEN.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._send_control(Opcode.PONG, data)

    def close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; ``code=None`` sends a close frame without a code.

        Closing twice, or after the peer closed, does nothing.

        Raises:
            ValueError: ``code`` may not be sent, ``reason`` is too long (123 bytes of UTF-8), or a
                reason comes without a code.
        """
        if code is None and reason:
            raise ValueError("a close reason needs a close code")
        if self._state is not State.OPEN:
            return
        self._send_close(code, reason)
        self._set_state(State.CLOSING)

    def _send_close(self, code: int | None, reason: str) -> None:
        payload = b"" if code is None else serialize_close(code, reason)
        self._send_frame(Opcode.CLOSE, payload)
        self.close_sent = (code, reason)
