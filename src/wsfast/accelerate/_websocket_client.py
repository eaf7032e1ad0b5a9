"""websocket-client: ``websocket._abnf._mask`` (every frame it sends) and ``websocket._utils._validate_utf8``
(every text message and close reason it receives).

Both come in two forms, picked at import: one built on wsaccel when that is installed, one in pure
Python otherwise. ``_mask(mask_value, data_value)`` is called with ``array("B")`` arguments and
returns new bytes. ``_validate_utf8(utfbytes)`` returns False only on a byte that can never be
valid: text cut short inside a code point passes, as in both originals. Those inputs go to the
kernels; others go to the original.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

from ..kernels import Utf8Validator, mask, validate_utf8
from ._patching import Target

__all__ = ["NAME", "LEVEL", "targets", "make_mask", "make_validate_utf8"]

NAME = "websocket-client"
LEVEL = "mask, utf8"  # what is replaced: masking and UTF-8 validation


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


def targets() -> tuple[Target, ...]:
    return (
        Target("websocket._abnf:_mask", make_mask),
        Target("websocket._utils:_validate_utf8", make_validate_utf8),
    )
