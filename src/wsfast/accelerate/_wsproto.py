"""wsproto: ``XorMaskerSimple``, which unmasks every received payload and masks every sent one.

The original copies its input into a new bytearray (``bytearray(data)``, so it takes whatever
``bytearray()`` takes), XORs it in place and returns it; the key, bytes or bytearray, is read on the
first non-empty chunk and carried on across chunks.
"""

from __future__ import annotations

from typing import Any

from ..kernels import mask_into
from ._patching import Target

__all__ = ["NAME", "LEVEL", "targets", "XorMaskerSimple"]

NAME = "wsproto"
LEVEL = "mask"  # what is replaced: the masking function


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
        data = bytearray(data)
        if data:
            key = self._key
            if type(key) is not bytes or len(key) != 4:
                key = self._key = _four_bytes(key)
            self._offset = mask_into(data, key, self._offset)
        return data


def targets() -> tuple[Target, ...]:
    return (Target("wsproto.frame_protocol:XorMaskerSimple", lambda original: XorMaskerSimple),)
