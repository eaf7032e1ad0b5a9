"""autobahn: the maskers and the UTF-8 validator of ``autobahn.websocket.protocol``.

The protocol looks up ``create_xor_masker``, ``XorMaskerNull`` and ``Utf8Validator`` in its own module
namespace for every frame and message, so those three names are what has effect. (wsaccel's patch
set names on ``autobahn.websocket``, which the protocol no longer reads.) Each originates either in
autobahn's NVX (CFFI) extension or in its pure-Python fallback, and their contracts differ at the
edges, so each replacement is built from the original it replaces:

- ``create_xor_masker(mask, length=None)``: maskers with ``process()``, ``pointer()``, ``reset()``.
  A bytes mask of 4 and bytes or bytearray chunks go to the wsfast kernel; any other mask is checked
  by the original factory (``AssertionError`` for a wrong length, ``TypeError`` for a type it
  refuses) and any other chunk is masked by an original masker, so both fail as they did.
- ``Utf8Validator``: ``validate(chunk)`` returning ``(valid, ends_on_codepoint, current_index,
  total_index)`` and ``reset()``. Bytes go to the kernel. Other chunks: NVX takes only bytes and lists
  or tuples of ints, and is asked first (as is wsaccel's validator, which autobahn used before 25.x);
  the pure-Python validator is handed the state and runs them.
  NVX, once it has rejected, answers ``(True, False, len(chunk), total)`` to every later chunk
  until ``reset()``; the replacement keeps that, and the pure-Python one's stickier answer.
- ``XorMaskerNull``: the pass-through masker of unmasked frames, the same in every flavour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._maskers import NullMasker, PointerMasker
from ._patching import Target
from ._utf8 import HoehrmannValidator

__all__ = ["NAME", "LEVEL", "targets", "make_create_xor_masker", "make_utf8_validator"]

NAME = "autobahn"
LEVEL = "mask, utf8"  # what is replaced: masking and UTF-8 validation


def make_create_xor_masker(original: Callable[..., Any]) -> Callable[..., PointerMasker]:
    """A ``create_xor_masker(mask, length=None)`` that behaves as ``original``."""

    class XorMasker(PointerMasker):
        __slots__ = ()

        def _process_other(self, data: Any) -> bytes:
            # an original masker started at our key position treats odd inputs exactly as before
            delegate = original(self._rotated_key())
            masked: bytes = delegate.process(data)
            self._ptr += delegate.pointer()
            return masked

    def create_xor_masker(mask: Any, length: Any = None) -> PointerMasker:
        """A masker for one frame payload; ``length`` is a size hint.

        Raises:
            AssertionError: ``mask`` is not 4 long.
            TypeError: ``mask`` or ``length`` is of a type the original refuses.
        """
        if type(mask) is not bytes or len(mask) != 4 or (length is not None and type(length) is not int):
            original(mask, length)  # raises where autobahn raises
            mask = bytes(list(mask))
        return XorMasker(mask)

    return create_xor_masker


def make_utf8_validator(original: type) -> type[HoehrmannValidator]:
    """A ``Utf8Validator`` class that behaves as ``original``: NVX, pure Python, or (autobahn before
    25) wsaccel's."""
    pure_python = "_state" in getattr(original, "__slots__", ())
    nvx = original.__module__.startswith("autobahn.nvx")

    class Utf8Validator(HoehrmannValidator):
        __slots__ = ()

        def validate(self, buf: Any) -> tuple[bool, bool, int, int]:
            """Validate the next chunk of the text: ``(valid, ends_on_codepoint, current_index,
            total_index)``.

            Raises:
                TypeError: ``buf`` is of a type the original refuses.
            """
            if type(buf) is not bytes:
                if pure_python:
                    return self._run_original(buf)
                original().validate(buf)  # raises for every type the original refuses
                buf = bytes(buf)  # what is left: int sequences (NVX), byte buffers (wsaccel)
            if self._rejected and nvx:
                self.i += len(buf)
                return True, False, len(buf), self.i
            return self._validate_bytes(buf)

        def _run_original(self, buf: Any) -> tuple[bool, bool, int, int]:
            reference = original()
            reference._state, reference._index = self.state, self.i
            result: tuple[bool, bool, int, int] = reference.validate(buf)
            self.state, self.i = reference._state, reference._index
            return result

    return Utf8Validator


def targets() -> tuple[Target, ...]:
    return (
        Target("autobahn.websocket.protocol:create_xor_masker", make_create_xor_masker),
        Target("autobahn.websocket.protocol:XorMaskerNull", lambda original: NullMasker),
        Target("autobahn.websocket.protocol:Utf8Validator", make_utf8_validator),
    )
