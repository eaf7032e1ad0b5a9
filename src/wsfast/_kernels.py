"""The one place that chooses between the C kernels and their pure-Python twins.

Environment switches, read only here, once, at import:

- ``WSFAST_NO_EXTENSIONS=1``: use the pure-Python twins even where the C build is present.
- ``WSFAST_REQUIRE_EXTENSIONS=1``: a missing or unusable C build is an ImportError, never a silent
  fallback (CI sets it, so a broken build cannot pass as pure Python).
- ``WSFAST_SIMD=scalar|sse2|avx2|avx512|neon``: cap the C kernels at that level; an unknown level,
  or one this CPU lacks, is an ImportError.

Interpreters other than CPython always get the pure-Python twins.

Threads. The kernels' module-level state is written once, at import, under the import lock: the C
SIMD dispatch pointers and UTF-8 tables (``_kernels_c``'s init), and the choices above; after that
it is only read, so any number of threads may call the kernels at once. ``_kernels_c._select_simd``
writes it again and is for tests and benchmarks only, never beside other threads. The objects
(``FrameDecoder``, ``Utf8Validator``, ``PayloadFill``) keep per-stream state, one thread at a time
each; a second use at once (from another thread, or from feed_into's own callback) raises
RuntimeError instead of tearing that state: a flag, set under a critical section on free-threaded
builds (under the GIL otherwise), since the C build lets other threads run while it works on long
pieces. A caller's buffer stays exported while C reads it, so another thread's resize fails with
BufferError instead of freeing memory under the kernel. So the extension declares itself
free-threading compatible (tests/test_threads.py; the workflow's free-threading job runs it on
free-threaded CPythons, which do not install here).
"""

from __future__ import annotations

import importlib
import os
import platform
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

# the same names, whichever implementation is chosen (_kernels_py's, then the codec's; a literal list,
# so type checkers know what is exported)
__all__ = [
    "IMPLEMENTATION",
    "SIMD",
    "available_simd",
    "mask",
    "mask_into",
    "validate_utf8",
    "Utf8Validator",
    "parse_frame_header",
    "parse_http_head",
    "encode_frame",
    "FrameDecoder",
    "take_frame",
    "PayloadFill",
]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false")


NO_EXTENSIONS = _flag("WSFAST_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("WSFAST_REQUIRE_EXTENSIONS")
_SIMD_CAP = os.environ.get("WSFAST_SIMD", "").strip().lower()

if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    raise ImportError("WSFAST_NO_EXTENSIONS and WSFAST_REQUIRE_EXTENSIONS are both set")

_load_c = not (NO_EXTENSIONS or platform.python_implementation() != "CPython")
if REQUIRE_EXTENSIONS and not _load_c:
    raise ImportError(
        "WSFAST_REQUIRE_EXTENSIONS=1, but the C kernels cannot run on "
        f"{platform.python_implementation()}"
    )

# Type checkers read only the typed pure-Python twins (the TYPE_CHECKING conditions below): the C
# kernels have the same names and signatures, so no stub of them can drift.
_c_kernels: ModuleType | None = None
if not TYPE_CHECKING and _load_c:
    try:
        from . import _kernels_c as _c_kernels
    except ImportError as error:
        if REQUIRE_EXTENSIONS:
            raise ImportError(f"WSFAST_REQUIRE_EXTENSIONS=1, but the C kernels do not load: {error}") from error
        warnings.warn(f"wsfast runs without its C kernels ({error})", RuntimeWarning, stacklevel=2)

if TYPE_CHECKING or _c_kernels is None:
    from ._frames_py import FrameDecoder, PayloadFill, encode_frame, take_frame
    from ._kernels_py import (
        IMPLEMENTATION,
        SIMD,
        Utf8Validator,
        available_simd,
        mask,
        mask_into,
        parse_frame_header,
        parse_http_head,
        validate_utf8,
    )
else:
    if _SIMD_CAP:
        try:
            _c_kernels._select_simd(_SIMD_CAP)
        except ValueError as error:
            raise ImportError(f"WSFAST_SIMD={_SIMD_CAP}: {error}") from None
    from ._kernels_c import (
        FrameDecoder,
        encode_frame,
        take_frame,
        PayloadFill,
        IMPLEMENTATION,
        SIMD,
        Utf8Validator,
        available_simd,
        mask,
        mask_into,
        parse_frame_header,
        parse_http_head,
        validate_utf8,
    )

def compiled_twin(name: str) -> ModuleType:
    """The module ``wsfast.NAME`` as the kernels are chosen: its compiled build ``wsfast.NAME_c``
    (the same source, built with the declarations of ``NAME.pxd``) beside the C kernels, else the
    pure-Python file itself.

    Raises:
        ImportError: ``WSFAST_REQUIRE_EXTENSIONS=1`` and the compiled build does not load.
    """
    if _c_kernels is not None:
        try:
            return importlib.import_module(f"{__package__}.{name}_c")
        except ImportError as error:
            if REQUIRE_EXTENSIONS:
                raise ImportError(f"WSFAST_REQUIRE_EXTENSIONS=1, but {name}_c does not load: {error}") from error
            warnings.warn(f"wsfast runs {name} without its compiled build ({error})", RuntimeWarning, stacklevel=2)
    return importlib.import_module(f"{__package__}.{name}")
