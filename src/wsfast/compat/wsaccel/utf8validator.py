"""``wsaccel.utf8validator``: wsaccel's incremental UTF-8 validator, run by the wsfast kernel.

``Utf8Validator().validate(buf)`` returns ``(valid, ends_on_codepoint, current_index, total_index)``;
``state`` (0 accept, 1 reject, 2-8 inside a code point), ``i`` (the total index) and ``codepoint``
are public and writable; ``decode(b)`` steps one byte; ``reset()`` starts over.
"""

from __future__ import annotations

from typing import Any

from ...accelerate._utf8 import HoehrmannValidator
from ._buffers import byte_view

__all__ = ["Utf8Validator"]


class Utf8Validator(HoehrmannValidator):
    """Incremental UTF-8 validation with constant memory, chunk by chunk."""

    __slots__ = ()

    def validate(self, buf: Any) -> tuple[bool, bool, int, int]:
        """Validate the next chunk, a one-dimensional buffer of unsigned bytes.

        Returns:
            ``(valid, ends_on_codepoint, current_index, total_index)``: while valid,
            ``current_index`` is the chunk's length and ``total_index`` the bytes validated since
            :meth:`reset`; at the first invalid byte, its index in the chunk and in the whole text.

        Raises:
            TypeError: ``buf`` is not a buffer.
            ValueError: ``buf`` is not a one-dimensional buffer of unsigned bytes.
        """
        if type(buf) is bytes or type(buf) is bytearray:
            return self._validate_bytes(buf)
        if buf is None:
            raise TypeError("'NoneType' object is not iterable")
        return self._validate_bytes(byte_view(buf))

    def decode(self, b: int) -> int:
        """Step the DFA by the byte ``b`` and update ``codepoint``; returns the new state.

        ``codepoint`` is a 32-bit signed integer, as in wsaccel (it wraps around when bytes keep
        coming after invalid UTF-8). A value outside 0-255 is an invalid byte.

        Raises:
            TypeError: ``b`` is not an integer.
        """
        state = super().decode(b)
        self.codepoint = (self.codepoint + 2**31) % 2**32 - 2**31
        return state
