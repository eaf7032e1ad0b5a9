"""wsproto: the frame decoder's whole-frame case, the message decoder's whole-message case and the
frame serializer (see ``_wsproto_codec``), and ``XorMaskerSimple``, which unmasks every received
payload and masks every sent one.

:func:`verify` runs at install time: a few streams through the patched and the original decoder
must give the same frames and errors, and a few frames must serialize alike, or the installation
is undone with :class:`UnsupportedVersion`.

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

__all__ = ["NAME", "LEVEL", "targets", "verify", "XorMaskerSimple"]

NAME = "wsproto"
LEVEL = "frames"  # the frame decoder's whole-frame case and the serializer, and masking


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


def verify() -> None:
    """Check, on the wsproto that is imported, that the patched decoder and serializer answer a
    few streams and frames exactly as wsproto's own.

    Raises:
        UnsupportedVersion: they differ, or wsproto's frame protocol is not built as expected.
    """
    from wsproto import frame_protocol as module

    decode = getattr(module.FrameDecoder.process_buffer, "__wrapped__", None)
    assemble = getattr(module.MessageDecoder.process_frame, "__wrapped__", None)
    serialize = getattr(module.FrameProtocol._serialize_frame, "__wrapped__", None)
    if decode is None or assemble is None or serialize is None:
        raise UnsupportedVersion("wsproto's frame protocol is not wsfast's")
    try:
        same = True
        for client in (False, True):
            streams = [*sample_streams(masked=not client), [frame(2, b"z", masked=client)],
                       [frame(2, b"\x00" * 70_000, masked=not client)[:30_000]]]  # fmt: skip
            for chunks in streams:
                patched, reference = module.FrameProtocol(client, []), module.FrameProtocol(client, [])
                decoder: Any = reference._frame_decoder  # wsproto's private decoders: their methods are replaced
                decoder.process_buffer = types.MethodType(decode, decoder)
                messages: Any = reference._message_decoder
                messages.process_frame = types.MethodType(assemble, messages)
                same = same and _received(patched, chunks) == _received(reference, chunks)
        server = module.FrameProtocol(False, [])
        for opcode, payload in ((module.Opcode.TEXT, b"x" * 300), (module.Opcode.PING, b"p"),
                                (module.Opcode.BINARY, bytearray(70_000)), (module.Opcode.CLOSE, b"")):
            same = same and server._serialize_frame(opcode, payload, False) == serialize(server, opcode, payload, False)
    except Exception as error:  # noqa: BLE001 - any surprise means an unknown shape
        raise UnsupportedVersion(f"wsproto's frame protocol is not built as wsfast expects: {error!r}") from None
    if not same:
        raise UnsupportedVersion("wsproto's frame protocol answers differently with wsfast's codec: not installed")
