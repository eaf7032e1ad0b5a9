"""The buffers wsaccel's Cython signatures (``const unsigned char[:]``) accept, and its errors for others."""

from __future__ import annotations

from typing import Any

from ..._buffers import readable

__all__ = ["byte_view"]

_BYTE_FORMATS = frozenset({"B", "c"})


def byte_view(obj: Any) -> memoryview:
    """A flat, contiguous ``"B"`` view of a one-dimensional buffer of unsigned bytes.

    Raises:
        TypeError: ``obj`` is not a buffer.
        ValueError: the buffer has several dimensions, or items other than unsigned bytes.
    """
    view = memoryview(obj)
    if view.ndim != 1:
        raise ValueError(f"Buffer has wrong number of dimensions (expected 1, got {view.ndim})")
    if view.format.lstrip("@=<>!") not in _BYTE_FORMATS:
        raise ValueError(f"Buffer dtype mismatch, expected 'const unsigned char' but got {view.format!r}")
    return readable(view)
