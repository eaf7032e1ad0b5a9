"""websockets: ``apply_mask`` in the new (``websockets.frames``) and legacy (``websockets.legacy.framing``)
protocol code.

websockets' own C ``apply_mask`` takes bytes, bytearray and memoryview (non-contiguous ones too) and
a 4-byte mask, and returns new bytes; its pure-Python fallback takes the same but not memoryviews of
other than 1-D bytes. Those inputs go to the wsfast kernel; anything else goes to the original, so
that errors (``TypeError``, ``ValueError: mask must contain 4 bytes``) stay what they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..kernels import mask as _mask
from ._patching import Target

__all__ = ["NAME", "targets", "make_apply_mask"]

NAME = "websockets"


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
        Target("websockets.frames:apply_mask", make_apply_mask),
        Target("websockets.legacy.framing:apply_mask", make_apply_mask, lazy=True),
    )
