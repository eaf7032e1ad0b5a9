"""Stateful maskers in the shape autobahn and wsaccel use: ``process()`` chunk after chunk, ``pointer()``
counts the bytes seen, ``reset()`` starts the key over.
"""

from __future__ import annotations

from typing import Any

from ..kernels import mask

__all__ = ["PointerMasker", "NullMasker"]


class _Counting:
    """Counts the bytes processed: ``pointer()``, and ``reset()`` to start over."""

    __slots__ = ("_ptr",)

    def pointer(self) -> int:
        """The number of bytes processed since creation or the last :meth:`reset`."""
        return self._ptr

    def reset(self) -> None:
        """Start again from the first byte (and the first key byte)."""
        self._ptr = 0


class PointerMasker(_Counting):
    """XOR with a 4-byte key that continues where the previous chunk stopped.

    Subclasses say how to check the key and how to treat inputs other than bytes and bytearray
    (:meth:`_process_other`); the common case goes straight to the C kernel.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._ptr = 0

    def process(self, data: Any) -> bytes:
        """``data`` XOR the key, continued from the current pointer, as new bytes.

        Raises:
            TypeError: ``data`` is of a type the masker it replaces refuses (see subclasses).
        """
        if type(data) is bytes or type(data) is bytearray:
            masked = mask(data, self._key, self._ptr & 3)
            self._ptr += len(masked)
            return masked
        return self._process_other(data)

    def _rotated_key(self) -> bytes:
        """The key as it stands at the current pointer, for handing a chunk to another masker."""
        offset = self._ptr & 3
        return self._key[offset:] + self._key[:offset]

    def _process_other(self, data: Any) -> bytes:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")


class NullMasker(_Counting):
    """The masker of an unmasked frame: hands data back untouched and counts it."""

    __slots__ = ()

    def __init__(self, mask: Any = None) -> None:
        self._ptr = 0

    def process(self, data: Any) -> Any:
        """``data`` itself.

        Raises:
            TypeError: ``data`` has no length.
        """
        self._ptr += len(data)
        return data
