"""``wsaccel.xormask``: the maskers of wsaccel, run by the wsfast kernel.

========================  ================================================================
``XorMaskerSimple(mask)``  ``process(data)`` -> bytes, continued across calls; ``pointer()``,
                           ``reset()``
``XorMaskerNull(mask)``    ``process(data)`` -> ``data`` itself; ``pointer()``, ``reset()``
``createXorMasker``        ``createXorMasker(mask, len=None)`` -> ``XorMaskerSimple(mask)``
========================  ================================================================

Masks and data are one-dimensional buffers of unsigned bytes (bytes, bytearray, ``memoryview``,
``array("B")``, non-contiguous views too), as wsaccel's ``const unsigned char[:]`` signatures accept.
"""

from __future__ import annotations

from typing import Any

from ...accelerate._maskers import NullMasker, PointerMasker
from ...kernels import mask as _mask
from ._buffers import byte_view

__all__ = ["XorMaskerNull", "XorMaskerSimple", "createXorMasker"]


class XorMaskerNull(NullMasker):
    """The masker for unmasked data: ``process(data)`` returns ``data`` and counts its length."""

    __slots__ = ()


class XorMaskerSimple(PointerMasker):
    """XOR with a 4-byte mask, continued from one ``process()`` call to the next.

    Raises:
        TypeError: ``mask`` is not a buffer.
        ValueError: ``mask`` is not 4 bytes, or not a one-dimensional buffer of unsigned bytes.
    """

    __slots__ = ()

    def __init__(self, mask: Any) -> None:
        key = b"" if mask is None else bytes(byte_view(mask))
        if len(key) != 4:
            raise ValueError("mask should be 4byte.")
        super().__init__(key)

    def _process_other(self, data: Any) -> bytes:
        if data is None:  # a typed memoryview argument takes None: an empty chunk
            return b""
        masked = _mask(byte_view(data), self._key, self._ptr & 3)
        self._ptr += len(masked)
        return masked


def createXorMasker(mask: Any, len: Any = None) -> XorMaskerSimple:  # noqa: A002 - wsaccel's name
    """A :class:`XorMaskerSimple` for ``mask``; ``len``, the payload size, is ignored.

    Raises:
        TypeError: ``mask`` is not a buffer.
        ValueError: ``mask`` is not 4 bytes.
    """
    return XorMaskerSimple(mask)
