"""websockets' frame loop and serializer on wsfast's codec: ``Protocol.parse`` and ``Frame.serialize``.

websockets reads frames with a generator, ``Protocol.parse``, that pulls each header field and
payload out of its ``StreamReader`` with ``read_exact`` (a generator and two slices per read) and
passes each frame to ``recv_frame``. The replacement takes each whole frame at the front of the
reader's buffer in one C call (:func:`wsfast.kernels.take_frame`: the header, the length, the
unmasking; a large frame is read straight into its payload, :class:`wsfast.kernels.PayloadFill`,
once its header and a quarter of it are in) and hands websockets' own ``Frame`` to websockets' own code, in websockets' order: the
extensions' ``decode`` (with the same ``max_size``), ``Frame.check``, ``recv_frame``. What a header
alone decides (an undefined opcode, a wrong mask bit, a length over the limit) and a frame cut
short by EOF go to websockets' own ``Frame.parse``, which raises as it always did. So the events,
the state, the bytes sent, close codes, exceptions and their messages, ``parser_exc`` and the size
accounting are websockets' own, however the input is split.

The loop around it is websockets' ``parse``, whose only differences across versions are the size
limit (``max_size``/``cur_size`` up to 15, ``max_message_size``/``current_size`` and
``max_fragment_size`` from 16) and whether ``PayloadTooBig`` learns the current size (14 and 15:
``cur_size``; from 16: ``current_size``). :func:`make_parse` tells them apart by the names the
original's code uses, and refuses a shape it does not know.

While a large frame fills, ``Protocol.receive_data`` copies each read straight into its payload
(:meth:`PayloadFill.fill_from`) instead of appending it to the reader's buffer first, from which the
fill would copy it again; the bytes after the frame's end go to the reader as before. Any other
time, and whenever the reader holds bytes or has seen EOF, it is websockets' own.

A frame's payload has the type websockets' reader gives it (bytearray when unmasked, from 14 on),
except where only websockets' own connection reads the protocol's frames and makes bytes of every
payload anyway (:mod:`._websockets_payload`): then bytes at once, and one copy less.

``Frame.serialize`` keeps websockets' checks and extensions, and writes the frame with
:func:`wsfast.kernels.encode_frame`; payloads other than bytes and bytearray go to the original.
Its masking keys come from wsfast's pool of ``os.urandom`` bytes (``secrets.token_bytes``, which
websockets calls, is ``os.urandom``; one call per 1024 keys instead of one per frame), unless
``secrets.token_bytes`` has been replaced (a test that fixes the keys), which is then called as
websockets would.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from ..exceptions import ProtocolError as _HeaderError
from ..kernels import PayloadFill, encode_frame, parse_frame_header, take_frame
from ._patching import UnsupportedVersion

if TYPE_CHECKING:
    from .._kernels_py import FrameHeader

__all__ = ["make_parse", "make_receive_data", "make_serialize"]

#: ``secrets.token_bytes`` as imported: while it is still this, keys come from wsfast's pool.
_TOKEN_BYTES = secrets.token_bytes

#: From this payload length up, a frame whose header is in is read straight into its payload
#: (PayloadFill) instead of being gathered in the reader's buffer and copied out, once a quarter of
#: it has arrived: what a peer makes us allocate stays within 4 times what it sent.
FILL_SIZE = 65536

#: What the replacement takes from the globals of websockets.protocol, as the original does.
_NAMES = ("Frame", "SERVER", "CloseCode", "ProtocolError", "PayloadTooBig")


def _limit_up_to_15(protocol: Any) -> int | None:
    if protocol.max_size is None:
        return None
    if protocol.cur_size is None:
        return protocol.max_size  # type: ignore[no-any-return]  # websockets' attributes are untyped here
    return protocol.max_size - protocol.cur_size  # type: ignore[no-any-return]  # as above


def _limit_from_16(protocol: Any) -> int | None:
    max_size = None
    if protocol.max_message_size is not None:
        if protocol.current_size is None:
            max_size = protocol.max_message_size
        else:
            max_size = protocol.max_message_size - protocol.current_size
    if protocol.max_fragment_size is not None:
        if max_size is None:
            max_size = protocol.max_fragment_size
        else:
            max_size = min(max_size, protocol.max_fragment_size)
    return max_size


def _no_size_note(protocol: Any, error: Any) -> None:
    pass


def _note_cur_size(protocol: Any, error: Any) -> None:
    error.set_current_size(protocol.cur_size)


def _note_current_size(protocol: Any, error: Any) -> None:
    error.set_current_size(protocol.current_size)


def _shape(original: Any) -> tuple[Callable[[Any], int | None], Callable[[Any, Any], None]]:
    """The size limit and the PayloadTooBig note of the websockets version ``original`` comes from.

    Raises:
        UnsupportedVersion: the original does not read like any known version's.
    """
    code = getattr(original, "__code__", None)
    names = set(code.co_names) if code is not None else set()
    needed = {"reader", "at_eof", "read_exact", "extensions", "recv_frame", "fail", "parser_exc", "parse"}
    if needed <= names and {"max_message_size", "current_size", "max_fragment_size", "set_current_size"} <= names:
        return _limit_from_16, _note_current_size
    if needed <= names and {"max_size", "cur_size"} <= names:
        return _limit_up_to_15, _note_cur_size if "set_current_size" in names else _no_size_note
    raise UnsupportedVersion("websockets.protocol.Protocol.parse is not shaped as in websockets 13 to 17")


def _reader_payload_is_bytearray(reader_class: Any) -> bool:
    """Whether ``StreamReader.read_exact`` hands out bytearray (websockets 14 and later) or bytes."""
    reader = reader_class()
    reader.feed_data(b"\x00")
    step = reader.read_exact(1)
    try:
        next(step)
    except StopIteration as done:
        return type(done.value) is bytearray
    raise UnsupportedVersion("websockets.streams.StreamReader.read_exact waits with a byte in hand")


def make_parse(original: Any) -> Callable[[Any], Generator[None, None, None]]:
    """websockets' ``Protocol.parse`` on :func:`take_frame`, from the original (see the module).

    Raises:
        UnsupportedVersion: the original, or the globals it uses, are not shaped as expected.
    """
    limit_of, note_size = _shape(original)
    namespace = original.__globals__
    missing = [name for name in _NAMES if name not in namespace]
    if missing or "StreamReader" not in namespace:
        raise UnsupportedVersion(f"websockets.protocol lacks {', '.join(missing) or 'StreamReader'}")
    frame_class, server = namespace["Frame"], namespace["SERVER"]
    close_code, protocol_error, payload_too_big = namespace["CloseCode"], namespace["ProtocolError"], namespace["PayloadTooBig"]
    opcodes = _opcode_table(sys.modules[frame_class.__module__])
    reader_class = namespace["StreamReader"]
    bytearray_payload = _reader_payload_is_bytearray(reader_class)

    def parse(self: Any) -> Generator[None, None, None]:
        """Parse incoming data into frames (websockets' ``Protocol.parse``, on wsfast's codec)."""
        # (the protocol's parser, the PayloadFill of the large frame being filled) for receive_data,
        # else None; this parser is its one writer. Set when Protocol.__init__ starts the parser, so
        # that it exists from then on. The parser is the generator websockets drives (a handshake's
        # parse delegates to this one): fail() replacing it ends the fast path even before this
        # generator is finalized (at once on CPython, later elsewhere).
        self._wsfast_filling = None
        driven_by = getattr(self, "parser", None)
        reader = self.reader
        masked = self.side is server
        # The payload type websockets' reader would give, unless only websockets' own connection
        # reads these frames and turns payloads into bytes: asked once, at the first frame, when
        # that connection is complete (_websockets_payload).
        as_bytearray = None
        try:
            while True:
                buffer = reader.buffer
                if not buffer:
                    if reader.eof:
                        if self.debug:
                            self.logger.debug("< EOF")
                        raise EOFError("unexpected end of stream")
                    yield
                    continue
                if as_bytearray is None:
                    become_bytes = getattr(self, "_wsfast_frames_become_bytes", None)
                    as_bytearray = bytearray_payload and not masked and not (become_bytes and become_bytes())
                max_size = limit_of(self)
                taken = take_frame(buffer, masked, max_size, as_bytearray)
                if type(taken) is not tuple and taken == 0 and not reader.eof:
                    fill = _fill_for(buffer, as_bytearray)
                    if fill is None:
                        yield
                        continue
                    taken = yield from _filled(self, driven_by, fill, reader_class)
                if type(taken) is tuple:
                    code, fin, rsv1, rsv2, rsv3, data = taken
                    frame = frame_class(opcodes[code], data, fin, rsv1, rsv2, rsv3)
                    for extension in reversed(self.extensions):
                        frame = extension.decode(frame, max_size=max_size)
                    frame.check()
                else:  # what the header alone decides, or a frame cut short: websockets' own parser
                    frame = yield from frame_class.parse(reader.read_exact, mask=masked, max_size=max_size,
                                                         extensions=self.extensions)
                if self.debug:
                    self.logger.debug("< %s", frame)
                self.recv_frame(frame)

        except protocol_error as exc:
            self.fail(close_code.PROTOCOL_ERROR, str(exc))
            self.parser_exc = exc

        except EOFError as exc:
            self.fail(close_code.ABNORMAL_CLOSURE, str(exc))
            self.parser_exc = exc

        except UnicodeDecodeError as exc:
            self.fail(close_code.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self.parser_exc = exc

        except payload_too_big as exc:
            note_size(self, exc)
            self.fail(close_code.MESSAGE_TOO_BIG, str(exc))
            self.parser_exc = exc

        except Exception as exc:
            self.logger.error("parser failed", exc_info=True)
            # as websockets: no details, which may be security-sensitive
            self.fail(close_code.INTERNAL_ERROR)
            self.parser_exc = exc

        yield
        raise AssertionError("parse() shouldn't step after error")

    parse.__qualname__ = "Protocol.parse"
    parse.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    return parse


def _fill_for(buffer: bytearray, bytearray_payload: bool) -> tuple[FrameHeader, PayloadFill] | None:
    """For a frame at the front of ``buffer`` whose header take_frame accepted but whose payload is
    not all in: the header and a PayloadFill with what is in, if the frame is large and a quarter
    of it has arrived; else None (the bytes stay in the buffer)."""
    if len(buffer) < FILL_SIZE // 4:
        return None
    try:
        header = parse_frame_header(buffer)
    except _HeaderError:  # a length from 2**63 up: websockets waits for it, and so do we
        return None
    if header is None:
        return None
    length, key, header_length = header[6], header[7], header[8]
    if length < FILL_SIZE or 4 * (len(buffer) - header_length) < length:
        return None
    del buffer[:header_length]
    return header, PayloadFill(length, key, bytearray_payload and key is None)


def _filled(
    protocol: Any, parser: Any, started: tuple[FrameHeader, PayloadFill], reader_class: Any
) -> Generator[None, None, tuple[Any, ...]]:
    """Read the rest of the frame ``_fill_for`` started, yielding while more is needed (meanwhile
    ``receive_data`` may copy reads into the fill itself); at EOF, websockets' own reader raises
    what it would have (the header was read, the payload was not).

    Returns:
        ``(opcode, fin, rsv1, rsv2, rsv3, payload)``, as take_frame.
    """
    header, fill = started
    reader = protocol.reader
    protocol._wsfast_filling = (parser, fill)
    try:
        while True:
            payload = fill.take(reader.buffer)
            if payload is not None:
                fin, rsv1, rsv2, rsv3, opcode = header[:5]
                return opcode, fin, rsv1, rsv2, rsv3, payload
            if reader.eof:
                stand_in = reader_class()
                stand_in.feed_data(bytes(fill.received))
                stand_in.feed_eof()
                yield from stand_in.read_exact(header[6])  # raises EOFError, worded by websockets
                raise AssertionError("websockets' reader read past its end")
            yield
    finally:
        protocol._wsfast_filling = None


def make_receive_data(original: Any) -> Callable[[Any, Any], None]:
    """websockets' ``Protocol.receive_data``, with a read copied straight into the payload of the
    large frame its parser is filling (see the module)."""

    def receive_data(self: Any, data: Any) -> None:
        """Receive data from the network (websockets' ``Protocol.receive_data``).

        Raises:
            EOFError: ``receive_eof`` was called earlier (websockets' own error).
        """
        # (not self.__dict__.get: on CPython 3.11+ that materializes the instance's dict, and every
        # attribute access on the protocol gets slower: 500 ns per 256 B echo measured)
        try:
            filling = self._wsfast_filling
        except AttributeError:  # a protocol started before install(): websockets' parser
            filling = None
        if filling is not None and filling[0] is self.parser:
            fill, reader = filling[1], self.reader
            if not reader.buffer and not reader.eof and (type(data) is bytes or type(data) is bytearray):
                taken = fill.fill_from(data)
                if taken < len(data):  # the frames after this one: to the reader, as websockets would
                    reader.feed_data(memoryview(data)[taken:])
                next(self.parser)
                return
        original(self, data)

    receive_data.__qualname__ = "Protocol.receive_data"
    receive_data.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    return receive_data


def _opcode_table(frames_module: Any) -> tuple[Any, ...]:
    """websockets' Opcode members by value (None where RFC 6455 defines none).

    Raises:
        UnsupportedVersion: websockets.frames has no Opcode enumeration of RFC 6455's six.
    """
    opcode = getattr(frames_module, "Opcode", None)
    members = getattr(opcode, "_value2member_map_", None)
    if not isinstance(members, dict) or sorted(members) != [0, 1, 2, 8, 9, 10]:
        raise UnsupportedVersion("websockets.protocol.Opcode is not RFC 6455's six opcodes")
    return tuple(members.get(value) for value in range(16))


def make_serialize(original: Any) -> Callable[..., bytes]:
    """websockets' ``Frame.serialize`` writing with :func:`encode_frame` (see the module)."""

    def serialize(self: Any, *, mask: bool, extensions: Any = None) -> bytes:
        """Serialize a WebSocket frame (websockets' ``Frame.serialize``, on wsfast's codec).

        Raises:
            ProtocolError: the frame has values websockets' ``Frame.check`` rejects.
        """
        data_type = type(self.data)
        if data_type is not bytes and data_type is not bytearray:
            return original(self, mask=mask, extensions=extensions)  # type: ignore[no-any-return]  # websockets' bytes
        self.check()
        if extensions is None:
            extensions = []
        for extension in extensions:
            self = extension.encode(self)
        key: bool | bytes = False
        if mask:  # True: a key from wsfast's pool, the same source (see the module)
            key = True if secrets.token_bytes is _TOKEN_BYTES else secrets.token_bytes(4)
        return encode_frame(self.opcode, self.data, fin=self.fin, rsv1=self.rsv1, rsv2=self.rsv2,
                            rsv3=self.rsv3, mask=key)  # fmt: skip

    serialize.__qualname__ = "Frame.serialize"
    serialize.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return serialize
