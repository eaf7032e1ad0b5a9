"""aiohttp: ``websocket_mask(mask, data)``, which masks a bytearray in place and returns None.

The writer always calls it through ``aiohttp._websocket.writer``. The reader calls it only in its
pure-Python form (``reader_py``, in use where aiohttp's C extensions are not, e.g. with
``AIOHTTP_NO_EXTENSIONS=1``); aiohttp's C reader calls its own C function directly, so there is
nothing to replace then. A bytes mask of 4 and a bytearray go to the wsfast kernel; anything else
goes to the original, which raises what it always did (``TypeError`` from the C version,
``AssertionError`` from the Python one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..kernels import mask_into
from ._patching import Target

__all__ = ["NAME", "LEVEL", "targets", "make_websocket_mask"]

NAME = "aiohttp"
LEVEL = "mask"  # what is replaced: the masking function


def make_websocket_mask(original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """A ``websocket_mask(mask, data)`` that behaves as ``original`` and runs the wsfast kernel."""

    def websocket_mask(mask: Any, data: Any) -> None:
        """XOR the bytearray ``data`` in place with the 4-byte ``mask``.

        Raises:
            TypeError: an argument is of a type the original refuses.
            AssertionError: the same, where the original is aiohttp's Python version.
        """
        if type(data) is bytearray and type(mask) is bytes and len(mask) == 4:
            mask_into(data, mask)
            return None
        return original(mask, data)

    return websocket_mask


def pure_python_reader_active() -> bool:
    """True if aiohttp reads frames with its pure-Python reader."""
    reader: type = importlib.import_module("aiohttp._websocket.reader").WebSocketReader
    return reader.__module__ == "aiohttp._websocket.reader_py"


def targets() -> tuple[Target, ...]:
    found = [Target("aiohttp._websocket.writer:websocket_mask", make_websocket_mask)]
    if pure_python_reader_active():
        found.append(Target("aiohttp._websocket.reader_py:websocket_mask", make_websocket_mask))
    return tuple(found)
