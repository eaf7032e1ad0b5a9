"""The pure-Python twin of the frame codec: ``encode_frame`` and the streaming ``FrameDecoder``.

The C version in _kernels_c (frame_codec.pxi) gives the same frames and raises the same errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._buffers import DECODER_BUSY, FILL_BUSY, mask_key, non_negative, readable
from ._random import mask_key as random_mask_key
from ._kernels_py import FrameHeader, _header_at, _xor
from ._kernels_py import validate_utf8 as _utf8_valid
from .exceptions import PayloadTooBig, ProtocolError
from ._wire import MAX_CONTROL_PAYLOAD, Frame, Opcode, frame_header
from .limits import MAX_FRAME_SIZE, MAX_MESSAGE_SIZE

__all__ = ["encode_frame", "FrameDecoder", "take_frame", "PayloadFill"]

# Opcode members by value; None for the reserved values 3-7 and 11-15.
_OPCODES: tuple[Opcode | None, ...] = tuple(
    Opcode(value) if value in Opcode._value2member_map_ else None for value in range(16)
)
_new_frame = tuple.__new__

# Runs of empty, non-final continuation frames without RSV bits, masked (any key) and unmasked:
# skipped in one regular-expression match instead of a header parse each, so that a flood of them
# costs the pure-Python decoder little more per byte than data does. Keyed by the decoder's
# expect_masked, whose None (no masking rule) finds no pattern.
_EMPTY_CONTINUATIONS: dict[bool | None, re.Pattern[bytes]] = {
    True: re.compile(rb"(?:\x00\x80....)+", re.DOTALL),
    False: re.compile(rb"(?:\x00\x00)+"),
}


def _opcode_value(opcode: Any) -> int:
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int, not {type(opcode).__name__}")
    value = int(opcode)
    if not 0 <= value <= 15:
        raise ValueError(f"opcode must be 0 to 15, not {value}")
    return value


def _mask_argument(mask: Any) -> bytes | None:
    if mask is False or mask is None:
        return None
    if mask is True:
        return random_mask_key()
    return mask_key(mask)


def encode_frame(
    opcode: int,
    payload: Any,
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: Any = False,
) -> bytes:
    """One frame on the wire (RFC 6455 §5.2).

    This is the codec, not the protocol: it encodes any opcode 0-15 and any payload, so rules such
    as "control frames carry at most 125 bytes" are the connection's to apply.

    Args:
        opcode: the frame's opcode (an :class:`Opcode` or an int 0-15).
        payload: the payload, any buffer.
        fin: the FIN bit: True for the last (or only) frame of a message.
        rsv1: the RSV1 bit (permessage-deflate's "compressed" flag).
        rsv2: the RSV2 bit, for an extension that defines it.
        rsv3: the RSV3 bit, for an extension that defines it.
        mask: False for an unmasked frame (server to client), True for a fresh random key drawn
            from ``os.urandom`` (client to server), or the 4-byte key to use.

    Raises:
        TypeError: ``opcode`` is not an int, ``payload`` or ``mask`` is not a buffer.
        ValueError: ``opcode`` is not 0-15, or the key is not 4 bytes.
    """
    code = _opcode_value(opcode)
    data = payload if type(payload) is bytes else readable(payload)
    key = _mask_argument(mask)
    header = frame_header(code, len(data), fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, masked=key is not None)
    if key is None:
        return header + data
    return header + key + _xor(data, key, 0)


def _append_front(buffer: bytearray, data: Any, length: Any) -> None:
    """``buffer += data[:length]``, releasing every view of ``data`` before returning.

    Raises:
        TypeError: ``data`` is not a buffer, or ``length`` not an integer.
        ValueError: ``length`` is negative, or beyond ``data``.
    """
    with readable(data) as view:
        count = non_negative(length, "length")
        if count > len(view):
            raise ValueError(f"length must be at most the {len(view)} bytes of data, not {count}")
        with view[:count] as front:
            buffer += front


def _deliverable(payload: bytes, text: bool, decode_text: bool) -> str | bytes | None:
    """A whole message as feed_into hands it on, or None for text that is not UTF-8."""
    if not text:
        return payload
    if decode_text:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return payload if _utf8_valid(payload) else None



class FrameDecoder:
    """Turns a stream of bytes into frames, checking every rule that a single frame must obey.

    It rejects (with :class:`ProtocolError`, close code 1002) reserved opcodes, RSV bits outside
    ``allowed_rsv`` (data frames only; control frames may set none), masking that does not fit the
    role, control frames that are fragmented or longer than 125 bytes, a continuation with nothing
    to continue, and a new data frame inside a fragmented message. A frame over ``max_frame_size``,
    or an uncompressed message (first frame without RSV1) over ``max_message_size``, raises
    :class:`PayloadTooBig` (1009) as soon as its header arrives, before its payload is buffered.
    Compressed messages are limited by their decoded size, which the extension enforces. A message
    of more than ``max_fragments`` frames raises :class:`PayloadTooBig` at the header of the frame
    too many, so a message that never ends cannot cost work without end.

    Args:
        expect_masked: True for a server (client frames must be masked), False for a client,
            None to accept both.
        max_frame_size: the largest payload of one frame, or None for no limit.
        max_message_size: the largest uncompressed message, or None for no limit.
        allowed_rsv: the RSV bits negotiated extensions use, as RSV1 | RSV2 | RSV3 flags.
        max_fragments: the most frames one message may have, or None for no limit.
        drop_empty_continuations: decode a continuation frame that is empty, not final and has no
            RSV bit set (it carries nothing) without returning it, so a flood of them costs no
            more than parsing their headers.
    """

    __slots__ = (
        "expect_masked",
        "max_frame_size",
        "max_message_size",
        "allowed_rsv",
        "max_fragments",
        "drop_empty_continuations",
        "_buffer",
        "_in_message",
        "_message_size",
        "_message_limited",
        "_fragments",
        "_error",
        "_busy",
    )

    def __init__(
        self,
        *,
        expect_masked: bool | None = None,
        max_frame_size: int | None = MAX_FRAME_SIZE,
        max_message_size: int | None = MAX_MESSAGE_SIZE,
        allowed_rsv: int = 0,
        max_fragments: int | None = None,
        drop_empty_continuations: bool = False,
    ) -> None:
        self.expect_masked = expect_masked
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.allowed_rsv = allowed_rsv
        self.max_fragments = max_fragments
        self.drop_empty_continuations = drop_empty_continuations
        self._buffer = bytearray()
        self._in_message = False
        self._message_size = 0
        self._message_limited = True
        self._fragments = 0
        self._error: ProtocolError | None = None
        self._busy = False  # in a feed: from feed_into's callback, or another thread, it is refused

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def read_space(self) -> memoryview | None:
        """Where the next bytes of the stream can be read straight into the payload they belong
        to: always None here. The C decoder reads a large part-received frame's remaining bytes
        into its payload (a writable memoryview of the missing part); this one gathers every
        frame in its buffer, and what it decodes is the same."""
        return None

    def _check(self, header: FrameHeader) -> ProtocolError | None:
        """The rule this frame header breaks, if any; updates the message state otherwise."""
        fin, rsv1, rsv2, rsv3, code, masked, length, _, _ = header
        opcode = _OPCODES[code]
        if opcode is None:
            return ProtocolError(f"reserved opcode {code}")
        rsv = (rsv1 << 2) | (rsv2 << 1) | rsv3
        if self.expect_masked is not None and masked != bool(self.expect_masked):
            return ProtocolError("unmasked frame from a client" if self.expect_masked else "masked frame from a server")
        if code >= 8:
            if rsv:
                return ProtocolError("RSV bits set on a control frame")
            if not fin:
                return ProtocolError("fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                return ProtocolError(f"control frame payload of {length} bytes, more than 125")
            return None
        if rsv & ~self.allowed_rsv:
            return ProtocolError("RSV bits set without an extension that uses them")
        if code == 0:
            if not self._in_message:
                return ProtocolError("continuation frame without a message to continue")
            self._message_size += length
            self._fragments += 1
        else:
            if self._in_message:
                return ProtocolError("new data frame inside a fragmented message")
            self._message_size = length
            self._message_limited = not rsv1
            self._fragments = 1
        if self.max_fragments is not None and self._fragments > self.max_fragments:
            return PayloadTooBig(f"message in more than {self.max_fragments} frames")
        if self.max_frame_size is not None and length > self.max_frame_size:
            return PayloadTooBig(f"frame payload of {length} bytes, more than {self.max_frame_size}")
        if self._message_limited and self.max_message_size is not None and self._message_size > self.max_message_size:
            return PayloadTooBig(f"message of more than {self.max_message_size} bytes")
        self._in_message = not fin
        return None

    def feed(self, data: Any) -> list[Frame]:
        """The frames completed by ``data``, in order.

        Raises:
            ProtocolError: the stream broke a rule (see the class docstring); the frames decoded
                before the offending one are in the exception's ``frames``. The decoder is then
                spent: every later call raises the same error again.
            TypeError: ``data`` is not a buffer, or a size limit is not an integer.
            ValueError: a size limit is negative.
            RuntimeError: called from feed_into's callback, or while another thread feeds this
                decoder.
        """
        return self._feed(data, None, False)

    def feed_into(self, data: Any, deliver: Callable[[str | bytes, bool, bool], object], decode_text: bool = True,
                  length: int | None = None) -> list[Frame]:  # fmt: skip
        """As :meth:`feed`, but the whole messages at the front go to ``deliver`` as they are
        decoded, instead of being returned: every frame that is final, text or binary, without
        RSV bits, and not preceded by a returned frame (so the order of everything stays the
        stream's), is called as ``deliver(data, True, text)``; text is checked as UTF-8 and
        given as str (``decode_text``) or as its bytes. Text that is not UTF-8 is returned as a
        frame instead, for the caller to reject. What is returned is what :meth:`feed` would
        return of the rest. With ``length``, only the first ``length`` bytes of ``data`` are
        read: a read buffer filled in part, without a slice of it.

        Raises:
            ProtocolError, TypeError, ValueError, RuntimeError: as :meth:`feed`; the frames in
                the error are those not delivered. Also ValueError for a ``length`` beyond
                ``data`` or negative, TypeError for one not an integer.
            BaseException: what ``deliver`` raised; the frames after that message stay buffered.
        """
        return self._feed(data, deliver, decode_text, length)

    def _feed(self, data: Any, deliver: Callable[[str | bytes, bool, bool], object] | None, decode_text: bool,
              length: int | None = None) -> list[Frame]:  # fmt: skip
        if self._busy:
            raise RuntimeError(DECODER_BUSY)
        self._busy = True
        try:
            return self._feed_frames(data, deliver, decode_text, length)
        finally:
            self._busy = False

    def _feed_frames(self, data: Any, deliver: Callable[[str | bytes, bool, bool], object] | None,
                     decode_text: bool, length: int | None) -> list[Frame]:  # fmt: skip
        if self._error is not None:
            self._error.frames = []
            raise self._error
        limits = (
            (self.max_frame_size, "max_frame_size"),
            (self.max_message_size, "max_message_size"),
            (self.max_fragments, "max_fragments"),
        )
        for limit, name in limits:
            if limit is not None:
                non_negative(limit, name)
        buffer = self._buffer
        if length is None:
            buffer += data if type(data) is bytes else readable(data)
        else:
            _append_front(buffer, data, length)
        frames: list[Frame] = []
        position = 0
        size = len(buffer)
        drop_empty = self.drop_empty_continuations
        empties = _EMPTY_CONTINUATIONS.get(self.expect_masked) if drop_empty else None
        try:
            while True:
                if empties is not None and self._in_message:
                    position = self._skip_empty_continuations(empties, buffer, position)
                try:
                    header = _header_at(buffer, position, size)
                except ProtocolError as error:
                    self._error = error
                    break
                if header is None:
                    break
                length, key, header_length = header[6], header[7], header[8]
                if position + header_length + length > size:
                    # Check the header now, so an oversized frame fails before it is buffered; it
                    # is checked once only: the message state moves when the frame completes.
                    failure = self._check_pending(header)
                    if failure is not None:
                        self._error = failure
                    break
                failure = self._check(header)
                if failure is not None:
                    self._error = failure
                    break
                start = position + header_length
                end = start + length
                if drop_empty and not length and header[4] == 0 and not header[0] and header[1:4] == (0, 0, 0):
                    position = end
                    continue
                payload = bytes(buffer[start:end]) if key is None else _xor(buffer[start:end], key, 0)
                position = end
                opcode = header[4]
                if deliver is not None and not frames and header[0] and 1 <= opcode <= 2 and header[1:4] == (0, 0, 0):
                    message = _deliverable(payload, opcode == 1, decode_text)
                    if message is not None:
                        deliver(message, True, opcode == 1)
                        continue
                frames.append(_new_frame(Frame, (_OPCODES[opcode], payload, *header[:4])))
        finally:
            del buffer[:position]
        if self._error is not None:
            self._error.frames = frames
            raise self._error
        return frames

    def _skip_empty_continuations(self, pattern: re.Pattern[bytes], buffer: bytearray, position: int) -> int:
        """Where the run of empty continuation frames at ``position`` ends, counted as fragments
        of the message; it stops short of the frame that would break ``max_fragments``."""
        run = pattern.match(buffer, position)
        if run is None:
            return position
        frame_size = 6 if self.expect_masked else 2
        count = (run.end() - position) // frame_size
        if self.max_fragments is not None:
            count = max(0, min(count, self.max_fragments - self._fragments))
        self._fragments += count
        return position + count * frame_size

    def _check_pending(self, header: FrameHeader) -> ProtocolError | None:
        """Check a header whose payload has not fully arrived, leaving the message state as it was."""
        saved = (self._in_message, self._message_size, self._message_limited, self._fragments)
        failure = self._check(header)
        self._in_message, self._message_size, self._message_limited, self._fragments = saved
        return failure


#: The opcodes RFC 6455 defines (take_frame leaves the others to its caller).
_DEFINED_OPCODES = frozenset(opcode.value for opcode in Opcode)


def take_frame(buffer: bytearray, masked: bool, max_size: int | None, bytearray_payload: bool = False,
               strict: bool = False) -> tuple[int, bool, bool, bool, bool, bytes | bytearray] | int:
    """Take the whole frame at the front of ``buffer`` out of it, checking only what a header tells
    as soon as it is in: the opcode is one RFC 6455 defines, the mask bit is ``masked``, and the
    payload length is at most ``max_size`` (None: any; an int, else the caller decides).

    For parsers that apply every other rule themselves, in their own order (wsfast.accelerate runs
    websockets' parser on it). Non-minimal length encodings and lengths from 2**63 up are taken as
    the header says; with ``strict``, the header must also keep every rule RFC 6455 §5 gives it
    without extensions (no reserved bit set, a control frame final and at most 125 bytes, the
    length in its shortest form with the most significant bit clear), else ``-1``.

    Returns:
        ``(opcode, fin, rsv1, rsv2, rsv3, payload)``, the payload unmasked (bytes; a bytearray
        when unmasked and ``bytearray_payload``), once the whole frame is in ``buffer``, which then
        starts at the next frame; ``0`` when more bytes are needed to tell; ``-1`` when the header
        breaks one of the three rules (or ``max_size`` is not None nor an int), ``buffer`` untouched.

    Raises:
        TypeError: ``buffer`` is not a bytearray.
    """
    if type(buffer) is not bytearray:
        raise TypeError(f"buffer must be a bytearray, not {type(buffer).__name__}")
    size = len(buffer)
    if size < 2:
        return 0
    first, second = buffer[0], buffer[1]
    if first & 0x0F not in _DEFINED_OPCODES or (second >= 0x80) != bool(masked):
        return -1
    length, header = second & 0x7F, 2
    if strict and (first & 0x70 or (first & 0x08 and (first < 0x80 or length > 125))):
        return -1
    if length >= 126:
        extended = 2 if length == 126 else 8
        if size < 2 + extended:
            return 0
        length, header = int.from_bytes(buffer[2 : 2 + extended], "big"), 2 + extended
        if strict and (length < (126 if extended == 2 else 65536) or length >> 63):
            return -1
    if max_size is not None and (type(max_size) is not int or length > max_size):
        return -1
    if masked:
        header += 4
    if size < header + length:
        return 0
    if masked:
        payload: bytes | bytearray = _xor(buffer[header : header + length], bytes(buffer[header - 4 : header]), 0)
    else:
        payload = buffer[header : header + length] if bytearray_payload else bytes(buffer[header : header + length])
    del buffer[: header + length]
    return (first & 0x0F, first >= 0x80, bool(first & 0x40), bool(first & 0x20), bool(first & 0x10), payload)


class PayloadFill:
    """A frame's payload read straight into the object it ends up in, a piece at a time, for a
    parser that has read the header of a large frame and would otherwise gather the whole frame in
    its buffer and copy it out (the C build writes each piece, unmasked, into the final bytes).

    Args:
        length: the payload's length.
        key: the 4-byte masking key, or None for an unmasked frame.
        as_bytearray: hand out the payload as a bytearray instead of bytes.

    Raises:
        ValueError: ``length`` is negative, or ``key`` is not 4 bytes.
    """

    def __init__(self, length: int, key: Any = None, as_bytearray: bool = False) -> None:
        if length < 0:
            raise ValueError(f"length must be non-negative, not {length}")
        self._key = None if key is None else mask_key(key)
        self._length = length
        self._as_bytearray = as_bytearray
        self._parts: bytearray | None = bytearray()
        self._busy = False

    @property
    def received(self) -> int:
        """Payload bytes taken so far."""
        return self._length if self._parts is None else len(self._parts)

    def take(self, buffer: bytearray) -> bytes | bytearray | None:
        """Move payload bytes from the front of ``buffer`` into the payload (unmasked).

        Returns:
            The payload once complete (then this object is spent), else None.

        Raises:
            TypeError: ``buffer`` is not a bytearray.
            ValueError: the payload was returned already.
            RuntimeError: another thread is in ``take`` or ``fill_from`` on this object.
        """
        if type(buffer) is not bytearray:
            raise TypeError(f"buffer must be a bytearray, not {type(buffer).__name__}")
        parts = self._claim()
        try:
            return self._take(parts, buffer)
        finally:
            self._busy = False

    def fill_from(self, data: Any) -> int:
        """Copy payload bytes from the front of ``data``, which is left as it is (unmasked into
        the payload, as ``take``); ``take`` hands the payload out once it is whole. For a parser
        whose input need not pass through its buffer while a large frame fills.

        Returns:
            How many bytes of ``data`` were taken.

        Raises:
            TypeError: ``data`` does not support the buffer protocol.
            ValueError: the payload was returned already.
            RuntimeError: another thread is in ``take`` or ``fill_from`` on this object.
        """
        if data is None:
            raise TypeError("data must be a bytes-like object, not None")
        parts = self._claim()
        try:
            view = readable(data)
            try:
                count = min(len(view), self._length - len(parts))
                parts += view[:count]
            finally:
                view.release()  # now, not when collected: the caller may resize data next
            return count
        finally:
            self._busy = False

    def _claim(self) -> bytearray:
        """Claim the object for one call (the caller clears ``_busy`` when it ends): the payload
        so far.

        Raises:
            RuntimeError: another thread is in a call.
            ValueError: the payload was returned already.
        """
        if self._busy:
            raise RuntimeError(FILL_BUSY)
        parts = self._parts
        if parts is None:
            raise ValueError("the payload was returned already")
        self._busy = True
        return parts

    def _take(self, parts: bytearray, buffer: bytearray) -> bytes | bytearray | None:
        count = min(len(buffer), self._length - len(parts))
        parts += buffer[:count]
        del buffer[:count]
        if len(parts) < self._length:
            return None
        self._parts = None
        payload = parts if self._key is None else _xor(parts, self._key, 0)
        if self._as_bytearray:
            return payload if type(payload) is bytearray else bytearray(payload)
        return bytes(payload)
