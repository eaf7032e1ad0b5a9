"""tornado: ``tornado.websocket._websocket_mask(mask, data)``, which masks every frame a client sends
and unmasks every frame a server receives.

tornado's C version takes bytes (and str, as UTF-8), its Python fallback anything ``array("B", ...)``
takes; both return new bytes and raise ``ValueError`` for a mask that is not 4 long. Bytes go to the
wsfast kernel, everything else to the original.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..kernels import mask as _mask
from ._patching import Target

__all__ = ["NAME", "LEVEL", "targets", "make_websocket_mask"]

NAME = "tornado"
LEVEL = "mask"  # what is replaced: the masking function


def make_websocket_mask(original: Callable[[Any, Any], bytes]) -> Callable[[Any, Any], bytes]:
    """A ``_websocket_mask(mask, data)`` that behaves as ``original`` and runs the wsfast kernel."""

    def _websocket_mask(mask: Any, data: Any) -> bytes:
        """``data`` XOR the 4-byte ``mask``, as new bytes.

        Raises:
            TypeError: an argument is of a type the original refuses.
            ValueError: ``mask`` is not 4 bytes long.
        """
        if type(mask) is bytes and type(data) is bytes and len(mask) == 4:
            return _mask(data, mask)
        return original(mask, data)

    return _websocket_mask


def targets() -> tuple[Target, ...]:
    return (Target("tornado.websocket:_websocket_mask", make_websocket_mask),)
