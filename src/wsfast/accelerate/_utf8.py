"""The incremental UTF-8 validator that autobahn, ws4py and wsaccel expose, run by wsfast's kernel.

Those libraries share one interface, built on Bjoern Hoehrmann's DFA: ``validate(chunk)`` returns
``(valid, ends_on_codepoint, current_index, total_index)``; ``state`` is the DFA state (0 accept,
1 reject, 2-8 inside a code point); ``decode(byte)`` steps one byte and keeps ``codepoint``.

:class:`HoehrmannValidator` feeds every chunk to :class:`wsfast.kernels.Utf8Validator`, which fails on
exactly the byte where the DFA rejects, and keeps only the few bytes of an unfinished code point (at
most 3) from which the DFA state is recomputed when someone asks for it. Setting ``state`` (as
``decode`` and the original validators do) restarts the kernel from a short prefix that leads to the
same state.
"""

from __future__ import annotations

import operator
from typing import Any, cast

from ..kernels import Utf8Validator

__all__ = ["ACCEPT", "REJECT", "BYTE_TYPE", "TRANSITION", "HoehrmannValidator", "run_dfa"]

ACCEPT = 0
REJECT = 1


def _build_dfa() -> tuple[bytes, bytes]:
    """The byte types and the state transitions (16 per state) of the Hoehrmann DFA."""
    types = bytearray(256)
    for low, high, kind in (
        (0x80, 0x8F, 1), (0x90, 0x9F, 9), (0xA0, 0xBF, 7), (0xC0, 0xC1, 8), (0xC2, 0xDF, 2),
        (0xE0, 0xE0, 10), (0xE1, 0xEC, 3), (0xED, 0xED, 4), (0xEE, 0xEF, 3), (0xF0, 0xF0, 11),
        (0xF1, 0xF3, 6), (0xF4, 0xF4, 5), (0xF5, 0xFF, 8),
    ):  # fmt: skip
        types[low : high + 1] = bytes([kind]) * (high - low + 1)
    transition = bytearray([REJECT]) * (9 * 16)
    # from ACCEPT: ASCII stays, each lead byte opens the state that knows which continuations follow
    for kind, state in ((0, ACCEPT), (2, 2), (3, 3), (4, 5), (5, 8), (6, 7), (10, 4), (11, 6)):
        transition[kind] = state
    any_continuation = (1, 7, 9)  # 80-8F, A0-BF, 90-9F
    for state, (kinds, target) in {
        2: (any_continuation, ACCEPT),  # one continuation left
        3: (any_continuation, 2),  # two left
        4: ((7,), 2),  # after E0: A0-BF (no overlong)
        5: ((1, 9), 2),  # after ED: 80-9F (no surrogate)
        6: ((7, 9), 3),  # after F0: 90-BF (no overlong)
        7: (any_continuation, 3),  # three left
        8: ((1,), 3),  # after F4: 80-8F (nothing above U+10FFFF)
    }.items():
        for kind in kinds:
            transition[state * 16 + kind] = target
    return bytes(types), bytes(transition)


BYTE_TYPE, TRANSITION = _build_dfa()

# A prefix that leaves the DFA in each state inside a code point, to restart the kernel there.
_PREFIX_FOR_STATE = {2: b"\xc2", 3: b"\xe1", 4: b"\xe0", 5: b"\xed", 6: b"\xf0", 7: b"\xf1", 8: b"\xf4"}


def run_dfa(data: bytes, state: int = ACCEPT) -> int:
    """The DFA state after ``data`` (a few bytes; the bulk goes through the kernel)."""
    for byte in data:
        state = TRANSITION[state * 16 + BYTE_TYPE[byte]]
    return state


def _unfinished(tail: bytes, data: Any) -> bytes:
    """The bytes of the code point that the valid stream ``... tail + data`` leaves open (b"" if none)."""
    end = bytes(data[-3:]) if len(data) >= 3 else (tail + bytes(data))[-3:]
    continuations = 0
    while continuations < len(end) and end[-1 - continuations] & 0xC0 == 0x80:
        continuations += 1
    if continuations == len(end):  # three continuations after a valid lead: a 4-byte code point
        return b""
    lead = end[-1 - continuations]
    size = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return end[-1 - continuations :] if size > continuations + 1 else b""


class HoehrmannValidator:
    """Incremental UTF-8 validation with the interface of the Hoehrmann-DFA validators.

    ``state``, ``i`` and ``codepoint`` are read and written as on the originals; :meth:`validate`
    takes bytes and bytearray here, and subclasses add the input types and quirks of the validator
    they stand in for.
    """

    UTF8_ACCEPT = ACCEPT
    UTF8_REJECT = REJECT

    __slots__ = ("_kernel", "_position", "_tail", "_rejected", "codepoint", "i")

    def __init__(self) -> None:
        self._kernel = Utf8Validator()
        self.reset()

    def reset(self) -> None:
        """Start a new text: state ACCEPT, no code point, index 0."""
        self._kernel.reset()
        self._position = 0
        self._tail = b""
        self._rejected = False
        self.codepoint = 0
        self.i = 0

    def _restart(self, prefix: bytes) -> None:
        """Restart the kernel after ``prefix``, which leads to the DFA state wanted."""
        self._kernel.reset()
        self._kernel.feed(prefix)
        self._position = len(prefix)
        self._tail = prefix
        self._rejected = False

    @property
    def state(self) -> int:
        """The DFA state: 0 on a code-point boundary, 1 after invalid UTF-8, 2 to 8 inside a code point.

        Raises:
            TypeError: (on assignment) the value is not an integer.
            ValueError: (on assignment) the value is not a state, 0 to 8.
        """
        return REJECT if self._rejected else run_dfa(self._tail)

    @state.setter
    def state(self, value: int) -> None:
        value = operator.index(value)
        if value == REJECT:
            self._restart(b"")
            self._kernel.feed(b"\xff")
            self._rejected = True
        elif value == ACCEPT or value in _PREFIX_FOR_STATE:
            self._restart(_PREFIX_FOR_STATE.get(value, b""))
        else:
            raise ValueError(f"the UTF-8 DFA has the states 0 to 8, not {value}")

    def _advance(self, data: Any) -> int:
        """Validate the next chunk: -1 if the text is still valid, else the index of the offending byte."""
        if self._kernel.feed(data):
            self._accepted(data)
            return -1
        return self._refused(data)

    def _accepted(self, data: Any) -> None:
        size = len(data)
        if size:
            self._position += size
            self._tail = _unfinished(self._tail, data) if data[-1] >= 0x80 else b""

    def _refused(self, data: Any) -> int:
        """The index in ``data`` of the byte the kernel refused (-1 for no byte: an empty chunk)."""
        if self._rejected:  # the DFA stays in REJECT: it refuses the first byte of any chunk
            return 0 if len(data) else -1
        self._rejected = True
        return cast(int, self._kernel.error_offset) - self._position  # set: the kernel refused a byte

    def _validate_bytes(self, data: Any) -> tuple[bool, bool, int, int]:
        """:meth:`validate` for a flat byte buffer, with the indexes of the DFA validators."""
        if self._kernel.feed(data):
            self._accepted(data)
            self.i += len(data)
            return True, not (self._tail or self._rejected), len(data), self.i
        bad = self._refused(data)
        if bad < 0:
            return True, False, 0, self.i
        self.i += bad
        return False, False, bad, self.i

    def validate(self, buf: Any) -> tuple[bool, bool, int, int]:
        """Validate the next chunk of the text.

        Returns:
            ``(valid, ends_on_codepoint, current_index, total_index)``: while valid, ``current_index``
            is the chunk's length and ``total_index`` the bytes validated since :meth:`reset`; at the
            first invalid byte, its index in the chunk and in the whole text. Once invalid, every
            non-empty chunk is invalid at index 0.

        Raises:
            TypeError: ``buf`` is not bytes or bytearray (subclasses take more).
        """
        if type(buf) is bytes or type(buf) is bytearray:
            return self._validate_bytes(buf)
        raise TypeError(f"a bytes-like object is required, not {type(buf).__name__!r}")

    def decode(self, b: int) -> int:
        """Step the DFA by the byte ``b`` and update ``codepoint``; returns the new state.

        A value outside 0-255 is an invalid byte.

        Raises:
            TypeError: ``b`` is not an integer.
        """
        b = operator.index(b)
        state = self.state
        kind = BYTE_TYPE[b] if 0 <= b <= 255 else 8
        self.codepoint = (b & 0x3F) | (self.codepoint << 6) if state != ACCEPT else (0xFF >> kind) & b
        self.state = new_state = TRANSITION[state * 16 + kind]
        return new_state
