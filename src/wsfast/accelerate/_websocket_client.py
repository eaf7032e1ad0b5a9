"""websocket-client: ``websocket._abnf._mask`` (every frame it sends), ``websocket._utils._validate_utf8``
(every text message and close reason it receives), and the first read of each received frame.

Both come in two forms, picked at import: one built on wsaccel when that is installed, one in pure
Python otherwise. ``_mask(mask_value, data_value)`` is called with ``array("B")`` arguments and
returns new bytes. ``_validate_utf8(utfbytes)`` returns False only on a byte that can never be
valid: text cut short inside a code point passes, as in both originals. Those inputs go to the
kernels; others go to the original.

``frame_buffer`` reads a frame field by field, each with a ``recv`` of exactly the bytes it needs
(2 for the header, 2 or 8 for a long length, then the payload): two or three system calls, each
through websocket-client's Python-level ``recv``, per frame. ``frame_buffer.recv_header`` (called
under the buffer's lock, at the start of each frame) now first reads up to ``READ_AHEAD`` bytes
when nothing is buffered, as one ``recv``; the header, length and payload are then taken from the
buffer by websocket-client's own code, and whatever follows the frame stays buffered for the next
one, as websocket-client's ``recv_strict`` keeps it. The frames, their order and every error are
the library's own; only the sizes asked of ``recv`` differ.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..kernels import Utf8Validator, mask, validate_utf8
from ._patching import Target, UnsupportedVersion
from ._samples import frame, sample_streams

__all__ = ["NAME", "LEVEL", "READ_AHEAD", "targets", "verify", "make_mask", "make_recv_header", "make_validate_utf8"]

NAME = "websocket-client"
LEVEL = "frames, mask, utf8"  # a frame's first read; masking and UTF-8 validation

#: What the read at a frame's start asks for: websocket-client's own cap per ``recv``, which keeps
#: the heap from the large, mostly unused buffers a bigger request allocates. A frame up to this
#: size arrives in one ``recv`` where it is all there.
READ_AHEAD = 16384


def make_mask(original: Callable[[Any, Any], bytes]) -> Callable[[Any, Any], bytes]:
    """A ``_mask(mask_value, data_value)`` that behaves as ``original`` and runs the wsfast kernel."""

    def _mask(mask_value: Any, data_value: Any) -> bytes:
        """``data_value`` XOR the 4-byte ``mask_value``, as new bytes.

        Raises:
            TypeError: an argument is of a type the original refuses.
            ValueError: the same, or a mask that is not 4 long, where the original checks it.
        """
        if (
            type(mask_value) is array
            and type(data_value) is array
            and mask_value.typecode == "B" == data_value.typecode
            and len(mask_value) == 4
        ):
            return mask(data_value, mask_value.tobytes())
        return original(mask_value, data_value)

    return _mask


def make_validate_utf8(original: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A ``_validate_utf8(utfbytes)`` that behaves as ``original`` and runs the wsfast kernels."""

    def _validate_utf8(utfbytes: Any) -> bool:
        """False if ``utfbytes`` holds a byte that no valid UTF-8 text can have there.

        Raises:
            TypeError: ``utfbytes`` is of a type the original refuses.
        """
        if type(utfbytes) is bytes or type(utfbytes) is bytearray:
            # whole-buffer check first (fastest); only a failure needs the prefix check
            return validate_utf8(utfbytes) or Utf8Validator().feed(utfbytes)
        return original(utfbytes)

    return _validate_utf8


def make_recv_header(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """A ``frame_buffer.recv_header`` that reads ahead at a frame's start (see the module)."""

    def recv_header(self: Any) -> None:
        """Read and parse a frame's first two bytes, reading ahead if nothing is buffered.

        Raises:
            WebSocketException: the ``recv`` raises it (closed connection, timeout), as the
                original's first ``recv`` would.
        """
        if not self.recv_buffer:
            data = self.recv(READ_AHEAD)
            if isinstance(data, bytes):
                self.recv_buffer.append(data)
            else:  # recv_strict's handling of a recv that returns something else: give it that
                recv = self.recv

                def once(bufsize: int) -> Any:
                    self.recv = recv
                    return data

                self.recv = once
        original(self)

    recv_header.__qualname__ = "frame_buffer.recv_header"
    recv_header.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    return recv_header


def targets() -> tuple[Target, ...]:
    return (
        Target("websocket._abnf:_mask", make_mask),
        Target("websocket._utils:_validate_utf8", make_validate_utf8),
        Target("websocket._abnf:frame_buffer.recv_header", make_recv_header),
    )


def received_frames(buffer_class: Any, chunks: Sequence[bytes | None], skip_utf8_validation: bool = False) -> list[Any]:
    """What ``buffer_class(recv, ...).recv_frame()`` gives, call after call, over a connection
    that delivers ``chunks`` (no more than each ``recv`` asks for; a None makes the ``recv`` that
    meets it time out), then is closed: each frame's fields, or the error (its class and words),
    up to the close."""
    from websocket._exceptions import WebSocketConnectionClosedException, WebSocketTimeoutException

    pending = [chunk if chunk is None else bytes(chunk) for chunk in chunks if chunk != b""]

    def recv(bufsize: int) -> bytes:
        if not pending:
            raise WebSocketConnectionClosedException("Connection to remote host was lost.")
        chunk = pending[0]
        if chunk is None:
            del pending[0]
            raise WebSocketTimeoutException("timed out")
        data, rest = chunk[:bufsize], chunk[bufsize:]
        if rest:
            pending[0] = rest
        else:
            del pending[0]
        return data

    buffer = buffer_class(recv, skip_utf8_validation)
    seen: list[Any] = []
    # each call takes a byte or a None from the stream at least, or the close ends it
    for _ in range(sum(1 if chunk is None else len(chunk) for chunk in pending) + 2):
        try:
            got = buffer.recv_frame()
        except WebSocketConnectionClosedException as error:
            seen.append((type(error), str(error)))
            return seen
        except Exception as error:  # noqa: BLE001 - the library's refusal, compared
            seen.append((type(error), str(error)))
            continue
        seen.append((got.fin, got.rsv1, got.rsv2, got.rsv3, got.opcode, got.mask, got.data))
    seen.append("no end")  # a buffer that answers without reading: not the library's own
    return seen


def verify() -> None:
    """Check, on the websocket-client that is imported, that the frame buffer with the read-ahead
    gives the frames and errors its own does, for a few streams fed in pieces.

    Raises:
        UnsupportedVersion: they differ, or websocket-client is not built as expected.
    """
    from websocket import _abnf

    original = getattr(_abnf.frame_buffer.recv_header, "__wrapped__", None)
    if original is None:
        raise UnsupportedVersion("websocket-client's frame_buffer.recv_header is not wsfast's")
    reference = type("Reference", (_abnf.frame_buffer,), {"recv_header": original})  # the library's own reads
    streams: list[Sequence[bytes | None]] = [*sample_streams(masked=False), [frame(2, b"y" * 70_000)[:30_000], None, b"z"]]
    try:
        same = all(received_frames(_abnf.frame_buffer, chunks) == received_frames(reference, chunks) for chunks in streams)
    except Exception as error:  # noqa: BLE001 - any surprise means an unknown shape
        raise UnsupportedVersion(f"websocket-client's frame buffer is not built as wsfast expects: {error!r}") from None
    if not same:
        raise UnsupportedVersion("websocket-client's frame buffer reads differently with wsfast's read-ahead: not installed")
