"""ws4py: the UTF-8 validator of its stream parser and the masking of its frames.

- ``ws4py.streaming.Utf8Validator``: the parser creates one per stream from this module-level name.
  ws4py's ``validate()`` counts a valid chunk as ``len(chunk) - 1`` in ``current_index`` and
  ``total_index`` (the last index, not the length); the replacement counts the same way. Bytes and
  bytearray go to the kernel; other chunks, and ``decode()``, run ws4py's own code on the
  replacement's state, so odd inputs behave exactly as before.
- ``ws4py.framing.Frame.mask`` and ``Frame.unmask`` (the same function): XOR with the first 4 bytes
  of ``masking_key`` into a new bytearray. Keys longer than 4 bytes are allowed, as ws4py allows
  them; anything but bytes-like data with a key of at least 4 bytes goes to ws4py's own method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..kernels import mask_into
from ._patching import Target
from ._utf8 import HoehrmannValidator

__all__ = ["NAME", "LEVEL", "targets", "make_mask", "make_utf8_validator"]

NAME = "ws4py"
LEVEL = "mask, utf8"  # what is replaced: masking and UTF-8 validation


def make_mask(original: Callable[[Any, Any], bytearray]) -> Callable[[Any, Any], bytearray]:
    """A ``Frame.mask(self, data)`` that behaves as ``original`` and runs the wsfast kernel."""

    def mask(self: Any, data: Any) -> bytearray:
        """A new bytearray: ``data`` XOR the first 4 bytes of ``self.masking_key``.

        Raises:
            TypeError: ``data`` or the key is of a type ws4py refuses (a missing key included).
            IndexError: the key is shorter than 4 bytes and ``data`` longer than the key.
        """
        key = self.masking_key
        if (
            (type(data) is bytes or type(data) is bytearray)
            and (type(key) is bytes or type(key) is bytearray)
            and len(key) >= 4
        ):
            masked = bytearray(data)
            mask_into(masked, key if len(key) == 4 and type(key) is bytes else bytes(key[:4]))
            return masked
        return original(self, data)

    return mask


def make_utf8_validator(original: Any) -> type[HoehrmannValidator]:
    """A ``Utf8Validator`` class that behaves as ws4py's ``original``."""

    class Utf8Validator(HoehrmannValidator):
        # ws4py's validator is a plain class: instances take new attributes
        UTF8VALIDATOR_DFA = original.UTF8VALIDATOR_DFA

        # ws4py's parameter name, which a caller may pass by keyword (the base class names it buf)
        def validate(self, ba: Any) -> tuple[bool, bool, int, int]:  # pyright: ignore[reportIncompatibleMethodOverride]
            """Validate the next chunk: ``(valid, ends_on_codepoint, current_index, total_index)``,
            the indexes counted as ws4py counts them.

            Raises:
                TypeError: ``ba`` does not iterate over integers.
            """
            if type(ba) is not bytes and type(ba) is not bytearray:
                return cast("tuple[bool, bool, int, int]", original.validate(self, ba))
            bad = self._advance(ba)
            if bad >= 0:
                self.i += bad
                return False, False, bad, self.i
            last = len(ba) - 1 if ba else 0
            self.i += last
            return True, not (self._tail or self._rejected), last, self.i

        def decode(self, b: int) -> int:
            """Step the DFA by one byte, as ws4py does.

            Raises:
                TypeError: ``b`` is not an integer.
                IndexError: ``b`` is out of the range of ws4py's table.
            """
            return cast(int, original.decode(self, b))

    return Utf8Validator


def targets() -> tuple[Target, ...]:
    return (
        Target("ws4py.streaming:Utf8Validator", make_utf8_validator),
        Target("ws4py.framing:Frame.mask", make_mask),
        Target("ws4py.framing:Frame.unmask", make_mask),
    )
