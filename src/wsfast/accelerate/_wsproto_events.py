"""wsproto's event layer on a shorter path, doing exactly what wsproto's own does.

Above its frame protocol, wsproto turns each received frame into an event through three nested
generators (``WSConnection.events``, ``H11Handshake.events`` and ``Connection.events``, then
``FrameProtocol.received_frames``), and each message sent goes through ``WSConnection.send``,
``Connection.send``, ``FrameProtocol.send_data`` and ``_serialize_frame``, whose bytearray is then
copied into the bytes returned (``data = b""; data += ...``). With wsfast's codec under it, that
layer is most of what wsproto still costs per message.

- ``Connection.events`` iterates the frame protocol's frame generator itself where
  ``received_frames`` is wsproto's own (which does nothing else), and tests the data opcodes first;
  the events, their order, the state changes, the asserts and the handling of ``ParseFailed`` are
  wsproto's, line for line. A ``TextMessage`` or ``BytesMessage`` is made as its ``__init__`` (the
  one ``dataclasses`` writes for a frozen class) makes it, by the same three
  ``object.__setattr__`` calls, without the call of that ``__init__`` and its keywords (half the
  time); a class whose ``__init__`` may do more is called as it is.
- ``WSConnection.events`` hands out the handshake's pending events itself where
  ``H11Handshake.events`` is wsproto's own (which does nothing else), then the connection's, read
  after them as wsproto reads it.
- ``Connection.send`` writes a whole ``TextMessage`` or ``BytesMessage`` of ``str``, ``bytes`` or
  ``bytearray`` data, in the OPEN state, with no extension and no message being sent in fragments,
  straight to bytes with :func:`wsfast.kernels.encode_frame`: the frame wsproto's serializer makes
  (masked by a client with a key from the same source, see ``_wsproto_codec``), as the bytes
  wsproto returns. Everything else is wsproto's own.
- ``WSConnection.send`` returns the connection's bytes as they are where wsproto's ``b"" + data``
  would give the same bytes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

from ..kernels import encode_frame
from ._patching import UnsupportedVersion
from ._wsproto_codec import masking_key

__all__ = ["make_connection_events", "make_connection_send", "make_wsconnection_events", "make_wsconnection_send"]

#: What Connection's methods take from the globals of wsproto.connection.
_NAMES = ("BytesMessage", "TextMessage", "Ping", "Pong", "CloseConnection", "ConnectionState", "FrameProtocol",
          "Opcode", "ParseFailed")  # fmt: skip


def _globals(original: Any, names: tuple[str, ...]) -> list[Any]:
    """The objects ``original`` reads from its module by these names.

    Raises:
        UnsupportedVersion: one of them is not there.
    """
    namespace = original.__globals__
    missing = [name for name in names if name not in namespace]
    if missing:
        raise UnsupportedVersion(f"{original.__qualname__} has no {', '.join(missing)} beside it in this wsproto")
    return [namespace[name] for name in names]


#: The fields of wsproto's message events, in the order their ``__init__`` sets them.
_MESSAGE_FIELDS = ("data", "frame_finished", "message_finished")


def _message_maker(event_class: Any) -> Callable[[Any, bool, bool], Any]:
    """A function making an ``event_class`` from its three fields as ``event_class(data=...,
    frame_finished=..., message_finished=...)`` does: where that is a frozen dataclass's own
    ``__init__`` setting nothing but these fields, by the same ``object.__setattr__`` calls."""
    params = getattr(event_class, "__dataclass_params__", None)
    plain = (params is not None and params.frozen and "__init__" in vars(event_class)
             and tuple(field.name for field in dataclasses.fields(event_class)) == _MESSAGE_FIELDS
             and not hasattr(event_class, "__post_init__") and event_class.__new__ is object.__new__
             and type(event_class).__call__ is type.__call__)  # fmt: skip
    if not plain:
        return lambda data, frame_finished, message_finished: event_class(
            data=data, frame_finished=frame_finished, message_finished=message_finished)
    new, set_field = object.__new__, object.__setattr__

    def make(data: Any, frame_finished: bool, message_finished: bool) -> Any:
        event = new(event_class)
        set_field(event, "data", data)
        set_field(event, "frame_finished", frame_finished)
        set_field(event, "message_finished", message_finished)
        return event

    return make


def make_connection_events(original: Any) -> Callable[[Any], Generator[Any, None, None]]:
    """wsproto's ``Connection.events`` without the ``received_frames`` generator (see the module).

    Raises:
        UnsupportedVersion: wsproto.connection is not shaped as expected.
    """
    bytes_message, text_message, ping, pong, close_connection, states, frame_protocol, opcode, parse_failed = (
        _globals(original, _NAMES))
    received_frames = getattr(frame_protocol, "received_frames", None)
    if received_frames is None:
        raise UnsupportedVersion("wsproto's FrameProtocol has no received_frames")
    binary, text, ping_opcode, pong_opcode, close_opcode = opcode.BINARY, opcode.TEXT, opcode.PING, opcode.PONG, opcode.CLOSE
    local_closing, remote_closing, closed = states.LOCAL_CLOSING, states.REMOTE_CLOSING, states.CLOSED
    bytes_event, text_event = _message_maker(bytes_message), _message_maker(text_message)

    def events(self: Any) -> Generator[Any, None, None]:
        """The events that received data and closing have produced, as wsproto yields them."""
        while self._events:
            yield self._events.popleft()
        proto = self._proto
        try:
            # received_frames yields the frame generator's frames up to the None that means
            # "more bytes needed": that loop, here, where it is wsproto's own
            frames = proto._parse_more if type(proto).received_frames is received_frames else proto.received_frames()
            for frame in frames:
                if frame is None:
                    break
                kind = frame.opcode
                if kind is binary:
                    assert isinstance(frame.payload, (bytes, bytearray))
                    yield bytes_event(frame.payload, frame.frame_finished, frame.message_finished)
                elif kind is text:
                    assert isinstance(frame.payload, str)
                    yield text_event(frame.payload, frame.frame_finished, frame.message_finished)
                elif kind is ping_opcode:
                    assert frame.frame_finished
                    assert frame.message_finished
                    assert isinstance(frame.payload, (bytes, bytearray))
                    yield ping(payload=frame.payload)
                elif kind is pong_opcode:
                    assert frame.frame_finished
                    assert frame.message_finished
                    assert isinstance(frame.payload, (bytes, bytearray))
                    yield pong(payload=frame.payload)
                elif kind is close_opcode:
                    assert isinstance(frame.payload, tuple)
                    code, reason = frame.payload
                    if self.state is local_closing:
                        self._state = closed
                    else:
                        self._state = remote_closing
                    yield close_connection(code=code, reason=reason)
        except parse_failed as exc:
            yield close_connection(code=exc.code, reason=str(exc))

    events.__qualname__ = "Connection.events"
    events.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    return events


def make_connection_send(original: Any) -> Callable[[Any, Any], bytes]:
    """wsproto's ``Connection.send`` writing a whole message straight to bytes (see the module).

    Raises:
        UnsupportedVersion: wsproto.connection is not shaped as expected.
    """
    bytes_message, text_message, _, _, _, states, frame_protocol, opcode, _ = _globals(original, _NAMES)
    open_state, binary, text = states.OPEN, opcode.BINARY, opcode.TEXT

    def send(self: Any, event: Any) -> bytes:
        """The bytes to send for ``event``.

        Raises:
            LocalProtocolError: the event cannot be sent in this state (wsproto's own).
            TypeError: a message's data is neither bytes-like nor str (wsproto's own).
        """
        kind = type(event)
        if (kind is bytes_message or kind is text_message) and event.message_finished and self.state is open_state:
            proto = self._proto
            if type(proto) is frame_protocol and proto._outbound_opcode is None and not proto.extensions:
                data = event.data
                data_type = type(data)
                if data_type is str:
                    return encode_frame(text, data.encode("utf-8"), mask=masking_key(proto.client))
                if data_type is bytes or data_type is bytearray:
                    return encode_frame(binary, data, mask=masking_key(proto.client))
        return original(self, event)  # type: ignore[no-any-return]  # wsproto's own bytes

    send.__qualname__ = "Connection.send"
    send.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return send


def make_wsconnection_events(original: Any) -> Callable[[Any], Generator[Any, None, None]]:
    """wsproto's ``WSConnection.events`` without the handshake's generator (see the module).

    Raises:
        UnsupportedVersion: wsproto is not shaped as expected.
    """
    (handshake_class,) = _globals(original, ("H11Handshake",))
    handshake_events = getattr(handshake_class, "events", None)
    if handshake_events is None:
        raise UnsupportedVersion("wsproto's H11Handshake has no events")

    def events(self: Any) -> Generator[Any, None, None]:
        """The handshake's pending events, then the connection's, as wsproto yields them."""
        handshake = self.handshake
        if type(handshake).events is handshake_events:
            while handshake._events:
                yield handshake._events.popleft()
        else:
            yield from handshake.events()
        if self.connection is not None:
            yield from self.connection.events()

    events.__qualname__ = "WSConnection.events"
    events.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return events


def make_wsconnection_send(original: Any) -> Callable[[Any, Any], bytes]:
    """wsproto's ``WSConnection.send`` without the concatenation that copies nothing (see the module)."""

    def send(self: Any, event: Any) -> bytes:
        """The bytes to send for ``event``.

        Raises:
            LocalProtocolError: the event cannot be sent now (wsproto's own).
        """
        connection = self.connection
        if connection is None:
            return original(self, event)  # type: ignore[no-any-return]  # the handshake's: wsproto's own
        data = connection.send(event)
        return data if type(data) is bytes else b"" + data  # wsproto's `data = b""; data += ...`

    send.__qualname__ = "WSConnection.send"
    send.__wrapped__ = original  # type: ignore[attr-defined]  # as above
    return send
