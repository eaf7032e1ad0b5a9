"""The one place that chooses the DEFLATE library behind permessage-deflate (RFC 7692).

Three libraries offer the standard library's ``zlib`` API (``compressobj`` / ``decompressobj`` with
``wbits``, ``Z_SYNC_FLUSH``, ``decompress(data, max_length)`` and ``unconsumed_tail``):

==========  =====================  ==========================================================
name        module                 notes
==========  =====================  ==========================================================
"zlib-ng"   ``zlib_ng.zlib_ng``    PyPI ``zlib-ng``: a faster zlib; same levels and strategies
"isal"      ``isal.isal_zlib``     PyPI ``isal``: Intel ISA-L; levels 0-3 only, no strategies
"zlib"      ``zlib``               the standard library, always there
==========  =====================  ==========================================================

:data:`BACKEND` is the first of these that imports, in that order; it decompresses.
:data:`COMPRESSOR_BACKEND` compresses: the standard library's zlib, because a zlib-ng compressor
takes 140-220 KiB whatever its window and memLevel (measured here: 160 KiB at 12 bits and memLevel
5, where the standard library's takes 31 KiB and ISA-L's 81 KiB), and a compressor lives as long as
its connection; zlib-ng's 1.6-1.9 times faster compression saves about 2 us on a 1 KB message.
``WSFAST_ZLIB=zlib`` (or ``zlib-ng`` / ``isal``), read only here, once, at import, forces one
backend for both; a backend that is not installed, or an unknown name, is an ImportError.

What every stream gets:

- Decompression always uses :data:`BACKEND` (the three decode the same streams).
- Compression uses :data:`COMPRESSOR_BACKEND` unless it cannot honour the settings, then the next
  backend that can (zlib-ng, else the standard library):

  - no raw DEFLATE library here compresses with a 256-byte window (``wbits=-8`` is refused). A
    window of 8 bits is served by a 512-byte window with the ``Z_RLE`` strategy (or
    ``Z_HUFFMAN_ONLY`` if asked for): their only back-reference distance is 1, so the stream is
    valid for a 256-byte window. ISA-L has no strategies, so this case never uses it.
  - ISA-L has levels 0-3 where zlib has 0-9: zlib's levels (the API of this module) are mapped
    1-3 → 1, 4-6 and the default → 2, 7-9 → 3. Level 0 (stored blocks only) and any strategy
    other than the default are left to zlib-ng or the standard library.
"""

from __future__ import annotations

import os
import zlib
from types import ModuleType
from typing import Protocol, cast

__all__ = [
    "BACKEND",
    "COMPRESSOR_BACKEND",
    "AVAILABLE",
    "ERRORS",
    "Z_SYNC_FLUSH",
    "Z_FULL_FLUSH",
    "Z_DEFAULT_STRATEGY",
    "Z_HUFFMAN_ONLY",
    "Z_RLE",
    "Compressor",
    "Decompressor",
    "compressobj",
    "decompressobj",
    "compressor_backend",
]

# The flush modes and strategies have the same values in all three modules (checked below).
Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
Z_FULL_FLUSH = zlib.Z_FULL_FLUSH
Z_DEFAULT_STRATEGY = zlib.Z_DEFAULT_STRATEGY
Z_HUFFMAN_ONLY = zlib.Z_HUFFMAN_ONLY
Z_RLE = zlib.Z_RLE


class Compressor(Protocol):
    """A raw DEFLATE compressor, as ``zlib.compressobj`` returns it."""

    def compress(self, data: bytes, /) -> bytes: ...  # pragma: no cover

    def flush(self, mode: int = ..., /) -> bytes: ...  # pragma: no cover


class Decompressor(Protocol):
    """A raw DEFLATE decompressor, as ``zlib.decompressobj`` returns it."""

    @property
    def unconsumed_tail(self) -> bytes: ...  # pragma: no cover

    @property
    def unused_data(self) -> bytes: ...  # pragma: no cover

    @property
    def eof(self) -> bool: ...  # pragma: no cover

    def decompress(self, data: bytes, /, max_length: int = ...) -> bytes: ...  # pragma: no cover


def _load(name: str) -> ModuleType | None:
    module: ModuleType  # one of three modules with zlib's interface
    try:
        if name == "zlib-ng":
            from zlib_ng import zlib_ng as module
        elif name == "isal":
            from isal import isal_zlib as module
        else:
            module = zlib
    except ImportError:
        return None
    for constant in ("Z_SYNC_FLUSH", "Z_FULL_FLUSH", "Z_DEFAULT_STRATEGY", "Z_HUFFMAN_ONLY", "Z_RLE", "DEFLATED"):
        if getattr(module, constant, None) != getattr(zlib, constant):  # pragma: no cover - defensive
            return None
    return module


_PREFERENCE = ("zlib-ng", "isal", "zlib")
_MODULES: dict[str, ModuleType] = {}
for _name in _PREFERENCE:
    _module = _load(_name)
    if _module is not None:
        _MODULES[_name] = _module

#: The backends that import here, best first; "zlib" is always last.
AVAILABLE: tuple[str, ...] = tuple(_MODULES)

_FORCED = os.environ.get("WSFAST_ZLIB", "").strip().lower()
if _FORCED and _FORCED not in _PREFERENCE:
    raise ImportError(f"WSFAST_ZLIB={_FORCED}: unknown backend, expected one of {', '.join(_PREFERENCE)}")
if _FORCED and _FORCED not in _MODULES:
    raise ImportError(f"WSFAST_ZLIB={_FORCED}: that backend is not installed")

#: The backend that decompresses: "zlib-ng", "isal" or "zlib".
BACKEND: str = _FORCED or AVAILABLE[0]

#: The backend that compresses (see the module docstring for why it is zlib unless forced).
COMPRESSOR_BACKEND: str = _FORCED or "zlib"

#: What a backend raises on corrupt input: catch all of them, whichever produced the stream.
ERRORS: tuple[type[Exception], ...] = tuple({module.error for module in _MODULES.values()})

_ISAL_LEVELS = {-1: 2, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 3, 8: 3, 9: 3}


def _select(name: str) -> None:
    """Switch the backend of both directions (tests only; a connection keeps the objects it
    already made)."""
    global BACKEND, COMPRESSOR_BACKEND
    if name not in _MODULES:
        raise ValueError(f"zlib backend {name!r} is not available here: {', '.join(AVAILABLE)}")
    BACKEND = COMPRESSOR_BACKEND = name


def compressor_backend(wbits: int, level: int = -1, strategy: int = Z_DEFAULT_STRATEGY) -> str:
    """The backend :func:`compressobj` uses for these settings (see the module docstring)."""
    if COMPRESSOR_BACKEND == "isal" and (wbits == 8 or level == 0 or strategy != Z_DEFAULT_STRATEGY):
        return "zlib-ng" if "zlib-ng" in _MODULES else "zlib"
    return COMPRESSOR_BACKEND


def compressobj(wbits: int, level: int = -1, mem_level: int = 8, strategy: int = Z_DEFAULT_STRATEGY) -> Compressor:
    """A raw DEFLATE compressor whose back-references stay within ``2 ** wbits`` bytes.

    Args:
        wbits: the window's size, 8 to 15 (as a positive number).
        level: zlib's compression level, -1 (default) or 0 to 9.
        mem_level: zlib's memLevel, 1 to 9.
        strategy: zlib's strategy constant.

    Raises:
        ValueError: a setting out of range.
    """
    if not 8 <= wbits <= 15:
        raise ValueError(f"window bits must be 8 to 15, not {wbits}")
    if level not in _ISAL_LEVELS and level != 0:
        raise ValueError(f"compression level must be -1 or 0 to 9, not {level}")
    name = compressor_backend(wbits, level, strategy)
    module = _MODULES[name]
    if wbits == 8:
        # A 512-byte window whose matches are all at distance 1 fits a 256-byte window.
        wbits = 9
        if strategy != Z_HUFFMAN_ONLY:
            strategy = Z_RLE
    if name == "isal":
        return cast(Compressor, module.compressobj(_ISAL_LEVELS[level], module.DEFLATED, -wbits, mem_level))
    return cast(Compressor, module.compressobj(level, module.DEFLATED, -wbits, mem_level, strategy))


def decompressobj(wbits: int) -> Decompressor:
    """A raw DEFLATE decompressor for a window of ``2 ** wbits`` bytes (8 to 15).

    Raises:
        ValueError: ``wbits`` out of range.
    """
    if not 8 <= wbits <= 15:
        raise ValueError(f"window bits must be 8 to 15, not {wbits}")
    return cast(Decompressor, _MODULES[BACKEND].decompressobj(-wbits))
