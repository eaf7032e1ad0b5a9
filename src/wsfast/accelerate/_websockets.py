"""websockets: the frame loop of ``Protocol`` and ``Frame.serialize`` (see ``_websockets_codec``), which
every implementation on websockets' Sans-I/O ``Protocol`` shares (asyncio, sync, trio), ``apply_mask``
in the new (``websockets.frames``) and legacy (``websockets.legacy.framing``) code, and the asyncio
implementation's ``Connection.send_context`` (see ``_websockets_send``), and the asyncio and sync
implementations' ``Connection.__init__``, which tells the parser when payloads may be bytes (see
``_websockets_payload``).

:func:`verify` runs at install time: a few streams through a patched ``Protocol`` and through the
original ``parse`` must give the same frames, bytes to send, states and errors, or the installation
is undone with :class:`UnsupportedVersion`.

websockets' own C ``apply_mask`` takes bytes, bytearray and memoryview (non-contiguous ones too) and
a 4-byte mask, and returns new bytes; its pure-Python fallback takes the same but not memoryviews of
other than 1-D bytes. Those inputs go to the wsfast kernel; anything else goes to the original, so
that errors (``TypeError``, ``ValueError: mask must contain 4 bytes``) stay what they were.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..kernels import mask as _mask
from ._patching import Target, UnsupportedVersion
from ._samples import frame, sample_streams
from ._websockets_codec import make_parse, make_receive_data, make_serialize
from ._websockets_payload import make_connection_init
from ._websockets_send import is_fast, make_send_context

__all__ = ["NAME", "LEVEL", "level", "targets", "verify", "make_apply_mask"]

NAME = "websockets"
LEVEL = "frames"  # the frame parser and serializer, and masking


def level() -> str:
    """``"frames, send"`` where the asyncio send path is replaced too (a known websockets), else
    ``"frames"``."""
    module = sys.modules.get("websockets.asyncio.connection")
    connection = getattr(module, "Connection", None)
    return f"{LEVEL}, send" if is_fast(vars(connection).get("send_context") if connection else None) else LEVEL


def make_apply_mask(original: Callable[[Any, Any], bytes]) -> Callable[[Any, Any], bytes]:
    """An ``apply_mask(data, mask)`` that behaves as ``original`` and runs the wsfast kernel."""
    # Only the C original flattens any memoryview; the fallback gets lengths wrong for wide items.
    data_types: tuple[type, ...] = (bytes, bytearray)
    if not hasattr(original, "__code__"):
        data_types += (memoryview,)

    def apply_mask(data: Any, mask: Any) -> bytes:
        """``data`` XOR the 4-byte ``mask``, as new bytes.

        Raises:
            TypeError: ``data`` or ``mask`` is not a bytes-like object.
            ValueError: ``mask`` is not 4 bytes long.
        """
        if type(data) in data_types and (type(mask) is bytes or type(mask) is bytearray) and len(mask) == 4:
            return _mask(data, mask)
        return original(data, mask)

    return apply_mask


def targets() -> tuple[Target, ...]:
    # websockets.legacy warns that it is deprecated when imported: never import it on the user's behalf
    return (
        Target("websockets.protocol:Protocol.parse", make_parse),
        Target("websockets.protocol:Protocol.receive_data", make_receive_data),
        Target("websockets.frames:Frame.serialize", make_serialize),
        Target("websockets.frames:apply_mask", make_apply_mask),
        Target("websockets.asyncio.connection:Connection.send_context", make_send_context),
        Target("websockets.asyncio.connection:Connection.__init__", make_connection_init),
        Target("websockets.sync.connection:Connection.__init__", make_connection_init),
        Target("websockets.legacy.framing:apply_mask", make_apply_mask, lazy=True),
    )


def _streams(masked: bool) -> list[tuple[int | None, list[bytes]]]:
    """Streams, as chunks, of what websockets' parser must answer alike with and without wsfast,
    each with the size limit to parse it under: short ones, and a frame large enough to be read
    straight into its payload (``receive_data`` copying reads into it), followed by another."""
    large = frame(2, bytes(range(256)) * 300, masked=masked) + frame(1, b"next", masked=masked)
    pieces = [large[start : start + 20000] for start in range(0, len(large), 20000)]
    short = [*sample_streams(masked), [frame(2, b"z", masked=not masked)]]  # and the wrong mask bit
    return [*((200, chunks) for chunks in short), (None, pieces)]


def _outcome(protocol: Any, chunks: list[bytes], client: bool) -> list[Any]:
    """After each chunk: events, what is sent (a client's frames unmasked: its keys are random),
    state, close frame received, parser error."""
    from ..kernels import take_frame

    seen: list[Any] = []
    for chunk in chunks:
        if chunk:
            protocol.receive_data(chunk)
        else:
            protocol.receive_eof()
        error = protocol.parser_exc
        sent = [take_frame(bytearray(data), client, None) for data in protocol.data_to_send()]
        seen.append((protocol.events_received(), sent, protocol.state, protocol.close_rcvd,
                     None if error is None else (type(error), str(error))))  # fmt: skip
    return seen


def verify() -> None:
    """Check, on the websockets that is imported, that the patched parser answers a few streams
    exactly as websockets' own (run on the same class through the original ``parse``).

    Raises:
        UnsupportedVersion: they differ, or websockets' Protocol is not built as expected.
    """
    from websockets import protocol as module

    parse = module.Protocol.parse
    original = getattr(parse, "__wrapped__", None)
    if original is None:
        raise UnsupportedVersion("websockets.protocol.Protocol.parse is not wsfast's")
    for side in (module.Side.SERVER, module.Side.CLIENT):
        for max_size, chunks in _streams(masked=side is module.Side.SERVER):
            try:
                patched = module.Protocol(side, max_size=max_size)
                reference = module.Protocol(side, max_size=max_size)
                reference.parser = original(reference)
                next(reference.parser)
                client = side is module.Side.CLIENT
                same = _outcome(patched, chunks, client) == _outcome(reference, chunks, client)
            except Exception as error:  # noqa: BLE001 - any surprise means an unknown shape
                raise UnsupportedVersion(f"websockets' Protocol is not built as wsfast expects: {error!r}") from None
            if not same:
                raise UnsupportedVersion("websockets' parser answers differently with wsfast's codec: not installed")
