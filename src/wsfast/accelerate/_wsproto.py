"""wsproto: the frame decoder's whole-frame case, the message decoder's whole-message case and the
frame serializer (see ``_wsproto_codec``), ``XorMaskerSimple``, which unmasks every received
payload and masks every sent one, and the event layer above them (see ``_wsproto_events``).

:func:`verify` runs at install time: a few streams through the patched and the original decoder
must give the same frames and errors, and a few frames must serialize alike, or the installation
is undone with :class:`UnsupportedVersion`; so must a few streams through a ``Connection`` and an
opening handshake through a ``WSConnection``, with their patched and their original event layer.

The original copies its input into a new bytearray (``bytearray(data)``, so it takes whatever
``bytearray()`` takes), XORs it in place and returns it; the key, bytes or bytearray, is read on the
first non-empty chunk and carried on across chunks.
"""

from __future__ import annotations

import types
from typing import Any

from ..kernels import mask_into
from ._patching import Target, UnsupportedVersion
from ._samples import frame, sample_streams
from ._wsproto_codec import make_process_buffer, make_process_frame, make_serialize_frame
from ._wsproto_events import make_connection_events, make_connection_send, make_wsconnection_events, make_wsconnection_send

__all__ = ["NAME", "LEVEL", "targets", "verify", "XorMaskerSimple"]

NAME = "wsproto"
LEVEL = "frames, events"  # the frame layer's common cases and masking; the event layer's short path


def _four_bytes(key: Any) -> bytes:
    """The key as bytes; a key of another length fails as the original's unpacking does."""
    first, second, third, fourth = key  # ValueError: not enough / too many values to unpack
    return bytes((first, second, third, fourth))


class XorMaskerSimple:
    """Masks a payload chunk by chunk with a 4-byte key."""

    __slots__ = ("_key", "_offset")

    def __init__(self, masking_key: bytes | bytearray) -> None:
        self._key: Any = masking_key
        self._offset = 0

    def process(self, data: Any) -> bytearray:
        """A new bytearray holding ``data`` XOR the key, continued from the previous chunk.

        Raises:
            TypeError: ``bytearray(data)`` fails, or (on the first non-empty chunk) the key holds
                something other than integers.
            ValueError: the key is not 4 long (on the first non-empty chunk).
        """
        masked = bytearray(data)
        if masked:
            key = self._key
            if type(key) is not bytes or len(key) != 4:
                key = self._key = _four_bytes(key)
            self._offset = mask_into(masked, key, self._offset)
        return masked


def targets() -> tuple[Target, ...]:
    return (
        Target("wsproto.frame_protocol:FrameDecoder.process_buffer", make_process_buffer),
        Target("wsproto.frame_protocol:MessageDecoder.process_frame", make_process_frame),
        Target("wsproto.frame_protocol:FrameProtocol._serialize_frame", make_serialize_frame),
        Target("wsproto.frame_protocol:XorMaskerSimple", lambda original: XorMaskerSimple),
        Target("wsproto.connection:Connection.events", make_connection_events),
        Target("wsproto.connection:Connection.send", make_connection_send),
        Target("wsproto:WSConnection.events", make_wsconnection_events),
        Target("wsproto:WSConnection.send", make_wsconnection_send),
    )


def _received(protocol: Any, chunks: list[bytes]) -> list[Any]:
    """After each chunk: the frames received, or the error."""
    seen: list[Any] = []
    for chunk in chunks:
        if not chunk:
            continue  # EOF: wsproto's frame layer has none
        protocol.receive_bytes(chunk)
        try:
            seen.append([tuple(received) for received in protocol.received_frames()])
        except Exception as error:  # noqa: BLE001 - ParseFailed, compared
            seen.append((type(error), str(error), getattr(error, "code", None)))
    return seen


def _conversed(connection: Any, chunks: list[bytes]) -> list[Any]:
    """After each chunk (an empty one: EOF): the events, the state, and what sending a text and a
    binary message gives (a server's: a client's are masked with keys of their own)."""
    from wsproto.events import BytesMessage, TextMessage

    seen: list[Any] = []
    for chunk in chunks:
        try:
            connection.receive_data(chunk or None)
            seen.append([(event, type(getattr(event, "data", None))) for event in connection.events()])
            seen.append(connection.state)
            for event in (TextMessage(data="t\u00e9"), BytesMessage(data=b"b" * 200)) if not connection.client else ():
                sent = connection.send(event)
                seen.append((type(sent), sent))
        except Exception as error:  # noqa: BLE001 - LocalProtocolError once closed, compared
            seen.append((type(error), str(error)))
    return seen


def _opened(connection: Any, request: bytes) -> list[Any]:
    """A server's opening handshake with a frame in the request's read: the events, the state and
    the bytes sent at each step."""
    from wsproto.events import AcceptConnection, TextMessage

    seen: list[Any] = []
    connection.receive_data(request + frame(1, b"hi", masked=True))
    seen.append(list(connection.events()))
    for event in (AcceptConnection(), TextMessage(data="back")):
        sent = connection.send(event)
        seen.append((list(connection.events()), connection.state, type(sent), sent))
    return seen


def _originals() -> dict[str, Any]:
    """wsproto's own functions behind the installed replacements, by their names.

    Raises:
        UnsupportedVersion: one of them is not wsfast's replacement.
    """
    import wsproto
    from wsproto import connection, frame_protocol

    replaced = {"decode": frame_protocol.FrameDecoder.process_buffer, "assemble": frame_protocol.MessageDecoder.process_frame,
                "serialize": frame_protocol.FrameProtocol._serialize_frame, "events": connection.Connection.events,
                "send": connection.Connection.send, "opened_events": wsproto.WSConnection.events,
                "opened_send": wsproto.WSConnection.send}  # fmt: skip
    originals = {name: getattr(function, "__wrapped__", None) for name, function in replaced.items()}
    if None in originals.values():
        raise UnsupportedVersion("wsproto's frame protocol is not wsfast's")
    return originals


def _same_as_originals(originals: dict[str, Any]) -> bool:
    """Whether the sample streams, the opening handshake and a few frames to serialize give the same
    results through the patched objects as through objects whose methods are wsproto's own."""
    import wsproto
    from wsproto import connection as connections
    from wsproto import frame_protocol as module
    from wsproto.events import Request

    def original(instance: Any, **methods: str) -> Any:
        for name, original_name in methods.items():
            setattr(instance, name, types.MethodType(originals[original_name], instance))  # on the instance only
        return instance

    same = True
    for client in (False, True):
        side = connections.ConnectionType.CLIENT if client else connections.ConnectionType.SERVER
        streams = [*sample_streams(masked=not client), [frame(2, b"z", masked=client)],
                   [frame(2, b"\x00" * 70_000, masked=not client)[:30_000]]]  # fmt: skip
        for chunks in streams:
            reference = module.FrameProtocol(client, [])
            original(reference._frame_decoder, process_buffer="decode")  # wsproto's private decoders
            original(reference._message_decoder, process_frame="assemble")
            same = same and _received(module.FrameProtocol(client, []), chunks) == _received(reference, chunks)
            theirs = original(connections.Connection(side), events="events", send="send")
            same = same and _conversed(connections.Connection(side), chunks) == _conversed(theirs, chunks)
    request = wsproto.WSConnection(connections.ConnectionType.CLIENT).send(Request(host="localhost", target="/"))
    theirs = original(wsproto.WSConnection(connections.ConnectionType.SERVER), events="opened_events", send="opened_send")
    same = same and _opened(wsproto.WSConnection(connections.ConnectionType.SERVER), request) == _opened(theirs, request)
    server = module.FrameProtocol(False, [])
    for opcode, payload in ((module.Opcode.TEXT, b"x" * 300), (module.Opcode.PING, b"p"),
                            (module.Opcode.BINARY, bytearray(70_000)), (module.Opcode.CLOSE, b"")):
        same = same and server._serialize_frame(opcode, payload, False) == originals["serialize"](server, opcode, payload, False)
    return same


def verify() -> None:
    """Check, on the wsproto that is imported, that the patched decoder, serializer and event layer
    answer a few streams and frames exactly as wsproto's own.

    Raises:
        UnsupportedVersion: they differ, or wsproto is not built as expected.
    """
    originals = _originals()
    try:
        same = _same_as_originals(originals)
    except Exception as error:  # noqa: BLE001 - any surprise means an unknown shape
        raise UnsupportedVersion(f"wsproto's frame protocol is not built as wsfast expects: {error!r}") from None
    if not same:
        raise UnsupportedVersion("wsproto's frame protocol answers differently with wsfast's codec: not installed")
