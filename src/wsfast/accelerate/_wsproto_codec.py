"""wsproto's frame decoder and serializer on wsfast's codec, where that is exactly what wsproto does.

``FrameDecoder.process_buffer`` reads a header field by field through its ``Buffer`` (a slice per
field, ``struct``, a rollback when short) and hands out data frames piece by piece as they arrive.
The replacement takes the case that is most of the traffic: at a frame boundary, without
extensions, a whole frame at the front of the buffer whose header keeps every rule wsproto checks
(:func:`wsfast.kernels.take_frame` with ``strict``: a defined opcode, no reserved bit, a control
frame final and at most 125 bytes, the shortest length form, the mask bit the side expects). One C
call takes it out of the buffer, unmasked, and it becomes the ``Frame`` wsproto would have made;
fewer than two bytes there (the call that ends each read's frames) is None at once, as wsproto's
header parser answers it, without its slice and rollback. Everything else goes to wsproto's own
code: a frame still arriving (which wsproto then owns until its end, handing out its pieces), a
header wsproto refuses (its exception, its message), and connections with permessage-deflate.

``MessageDecoder.process_frame`` hands a message that arrived whole in one frame straight on (a
binary frame as it is, a text frame decoded by ``bytes.decode``) instead of setting up its
per-message state and an incremental UTF-8 decoder; a text frame that is not UTF-8, a fragment, and
a message already under way go to wsproto's own, which raises its error with its message.

``FrameProtocol._serialize_frame`` without extensions writes the frame with
:func:`wsfast.kernels.encode_frame` and returns it as the bytearray wsproto returns; other payload
types, oversized control frames and extensions go to the original. Its masking keys come from
wsfast's pool of ``os.urandom`` bytes (one call per 1024 keys; wsproto calls ``os.urandom(4)`` per
frame), unless ``os.urandom`` has been replaced (a test that fixes the keys), which is then called
as wsproto would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..kernels import encode_frame, take_frame
from ._patching import UnsupportedVersion

__all__ = ["make_process_buffer", "make_process_frame", "make_serialize_frame", "masking_key"]

#: ``os.urandom`` as imported: while it is still this, keys come from wsfast's pool.
_URANDOM = os.urandom


def masking_key(client: bool) -> bool | bytes:
    """``encode_frame``'s ``mask`` for a frame wsproto sends: none from a server; from a client,
    True (a key from wsfast's pool) or, where ``os.urandom`` has been replaced, what it returns."""
    if not client:
        return False
    return True if os.urandom is _URANDOM else os.urandom(4)


def _opcodes(namespace: dict[str, Any]) -> tuple[Any, Any]:
    """(Opcode, its members by value) from wsproto.frame_protocol's globals.

    Raises:
        UnsupportedVersion: there is no Opcode of RFC 6455's six, or no Frame.
    """
    opcode = namespace.get("Opcode")
    members = getattr(opcode, "_value2member_map_", None)
    if not isinstance(members, dict) or sorted(members) != [0, 1, 2, 8, 9, 10] or "Frame" not in namespace:
        raise UnsupportedVersion("wsproto.frame_protocol has no Opcode of RFC 6455's six opcodes, or no Frame")
    return opcode, tuple(members.get(value) for value in range(16))


#: wsproto's Frame, a NamedTuple, by the fields its ``__new__`` takes in this order.
_FRAME_FIELDS = ("opcode", "payload", "frame_finished", "message_finished")


def _frame_maker(frame_class: Any) -> Callable[[Any, Any, bool, bool], Any]:
    """A function making a ``Frame`` as ``Frame(opcode, payload, frame_finished, message_finished)``
    does: where that is the ``__new__`` that ``namedtuple`` writes, by the ``tuple.__new__`` call it
    makes (without the call of that ``__new__``)."""
    if (getattr(frame_class, "_fields", None) != _FRAME_FIELDS or not issubclass(frame_class, tuple)
            or getattr(frame_class.__new__, "__module__", None) != f"namedtuple_{frame_class.__name__}"):  # fmt: skip
        return frame_class  # type: ignore[no-any-return]  # a class: called as it is
    new = tuple.__new__
    return lambda opcode, payload, frame_finished, message_finished: new(
        frame_class, (opcode, payload, frame_finished, message_finished))


def make_process_buffer(original: Any) -> Callable[[Any], Any]:
    """wsproto's ``FrameDecoder.process_buffer`` taking whole lawful frames in one call (see the module).

    Raises:
        UnsupportedVersion: wsproto.frame_protocol is not shaped as expected.
    """
    namespace = original.__globals__
    _, opcodes = _opcodes(namespace)
    make_frame = _frame_maker(namespace["Frame"])

    def process_buffer(self: Any) -> Any:
        """The next frame (or piece of a data frame), or None when more bytes are needed.

        Raises:
            ParseFailed: as wsproto's own.
        """
        if self.header is None and not self.extensions:
            buffer = self.buffer
            if not buffer.bytes_used:
                data = buffer.buffer
                if len(data) < 2:
                    return None  # as wsproto's parse_header, short of a header's first two bytes
                taken = take_frame(data, not self.client, None, False, True)
                if type(taken) is tuple:
                    return make_frame(opcodes[taken[0]], taken[5], True, taken[1])
        return original(self)

    process_buffer.__qualname__ = "FrameDecoder.process_buffer"
    process_buffer.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    return process_buffer


def make_process_frame(original: Any) -> Callable[[Any, Any], Any]:
    """wsproto's ``MessageDecoder.process_frame`` with a message in one frame handed on at once (see
    the module).

    Raises:
        UnsupportedVersion: wsproto.frame_protocol is not shaped as expected.
    """
    opcode_class, _ = _opcodes(original.__globals__)
    make_frame = _frame_maker(original.__globals__["Frame"])
    binary, text = opcode_class.BINARY, opcode_class.TEXT

    def process_frame(self: Any, frame: Any) -> Any:
        """A data frame as the message layer hands it out (text decoded).

        Raises:
            ParseFailed: as wsproto's own (a continuation out of place, text that is not UTF-8).
        """
        if self.opcode is None and frame.frame_finished and frame.message_finished:
            # nothing under way, so wsproto's own would end where it starts: no message, no decoder
            opcode = frame.opcode
            if opcode is binary:
                return frame  # what wsproto makes of it: the same four fields
            if opcode is text and type(frame.payload) is bytes:
                try:
                    return make_frame(text, frame.payload.decode("utf-8"), True, True)
                except UnicodeDecodeError:
                    pass  # wsproto's own raises, worded as it words it
        return original(self, frame)

    process_frame.__qualname__ = "MessageDecoder.process_frame"
    process_frame.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return process_frame


def make_serialize_frame(original: Any) -> Callable[..., bytearray]:
    """wsproto's ``FrameProtocol._serialize_frame`` on :func:`encode_frame` (see the module).

    Raises:
        UnsupportedVersion: wsproto.frame_protocol is not shaped as expected.
    """
    opcode_class, _ = _opcodes(original.__globals__)

    def _serialize_frame(self: Any, opcode: Any, payload: Any = b"", fin: bool = True) -> bytearray:
        """One frame on the wire, as a new bytearray.

        Raises:
            ValueError: a control frame's payload is over 125 bytes (wsproto's own error).
        """
        kind = type(payload)
        if (self.extensions or type(opcode) is not opcode_class or (kind is not bytes and kind is not bytearray)
                or (len(payload) > 125 and opcode.iscontrol())):  # fmt: skip
            return original(self, opcode, payload, fin)  # type: ignore[no-any-return]  # wsproto's own bytes
        return bytearray(encode_frame(opcode, payload, fin=fin, mask=masking_key(self.client)))

    _serialize_frame.__qualname__ = "FrameProtocol._serialize_frame"
    _serialize_frame.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return _serialize_frame
