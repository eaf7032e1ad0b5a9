"""Turning whatever buffer a caller hands over into flat bytes, the same way for both kernels.

The C glue takes bytes and bytearray directly and comes here only for other objects, so the rules for
odd buffers (non-contiguous views, multi-byte items, read-only memory) live in one place.
"""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["readable", "writable", "write_back", "mask_key", "key_offset", "start_offset", "non_negative",
           "DECODER_BUSY", "FILL_BUSY", "VALIDATOR_BUSY"]

# The RuntimeError of a kernel object used twice at once: from its own callback, or from two
# threads (the C build lets other threads run while it works on long pieces; free-threaded
# builds always do). Its state would be torn, so the second use is refused instead.
DECODER_BUSY = "the frame decoder is in use: fed from its own feed_into callback, or from two threads at once"
FILL_BUSY = "the payload fill is in use by another thread"
VALIDATOR_BUSY = "the UTF-8 validator is in use by another thread"


def readable(data: Any) -> memoryview:
    """A flat, contiguous view of the bytes of ``data``, copied only if ``data`` is not contiguous.

    Raises:
        TypeError: ``data`` does not support the buffer protocol (str, int, ...).
    """
    view = memoryview(data)
    if not view.c_contiguous:
        return memoryview(view.tobytes())
    if view.format != "B" or view.strides != (1,):
        # a one-item view with a stride counts as contiguous, but its empty slices do not:
        # cast gives it the stride of 1 that slicing needs
        view = view.cast("B")
    return view


def writable(buffer: Any) -> memoryview:
    """A view through which ``buffer`` can be changed in place.

    Contiguous buffers come back flat (format "B"); a non-contiguous one comes back as it is, and
    :func:`write_back` stores into it.

    Raises:
        TypeError: ``buffer`` is not a buffer, is read-only, or is non-contiguous with several
            dimensions.
    """
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError(f"a writable buffer is required, not read-only {type(buffer).__name__}")
    if view.c_contiguous:
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    if view.ndim != 1:
        raise TypeError("non-contiguous buffers must be one-dimensional")
    return view


def write_back(view: memoryview, data: bytes) -> None:
    """Store ``data`` (as many bytes as ``view`` holds) into a non-contiguous 1-D ``view``."""
    view_format: Any = view.format  # any struct format: typeshed's cast() overloads name only literal ones
    view[:] = memoryview(data).cast(view_format)


def mask_key(key: Any) -> bytes:
    """The 4 bytes of a masking key.

    Raises:
        TypeError: ``key`` is not a buffer.
        ValueError: ``key`` is not exactly 4 bytes long.
    """
    view = memoryview(key)
    if view.nbytes != 4:
        raise ValueError(f"the mask key must be 4 bytes long, not {view.nbytes}")
    return view.tobytes()


def key_offset(offset: Any) -> int:
    """A key offset, 0 to 3.

    Raises:
        TypeError: ``offset`` is not an integer.
        ValueError: ``offset`` is outside 0..3.
    """
    value = operator.index(offset)
    if not 0 <= value <= 3:
        raise ValueError(f"the key offset must be 0, 1, 2 or 3, not {value}")
    return value


def start_offset(offset: Any, size: int) -> int:
    """A position inside a buffer of ``size`` bytes (``size`` itself included).

    Raises:
        TypeError: ``offset`` is not an integer.
        ValueError: ``offset`` is negative or beyond ``size``.
    """
    start = operator.index(offset)
    if not 0 <= start <= size:
        raise ValueError(f"offset {start} is outside the buffer (0 to {size})")
    return start


def non_negative(value: Any, name: str) -> int:
    """A limit given by the caller.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is negative.
    """
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative, not {number}")
    return number


def message_payload(message: Any) -> tuple[bool, bytes]:
    """(is it text?, its payload) of a message to send: str as UTF-8 text, bytes-like as binary.

    Raises:
        TypeError: ``message`` is neither str nor bytes-like.
    """
    if isinstance(message, str):
        return True, message.encode("utf-8")
    if isinstance(message, (bytes, bytearray, memoryview)):
        return False, bytes(message)
    raise TypeError(f"cannot send {type(message).__name__}: str or bytes")
