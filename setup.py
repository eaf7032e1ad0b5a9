"""Build the C kernels. All package metadata is static in pyproject.toml.

WSFAST_BUILD_EXTENSION=yes  the extension must build (an error otherwise)
WSFAST_BUILD_EXTENSION=no   pure-Python install, nothing is compiled
unset                       try to build; on failure warn and install the pure-Python twins
"""

import os
import platform
import sys
from pathlib import Path

from setuptools import Extension, setup

MODE = os.environ.get("WSFAST_BUILD_EXTENSION", "").strip().lower()
if MODE not in ("", "yes", "no"):
    sys.exit(f"WSFAST_BUILD_EXTENSION must be 'yes' or 'no', not {MODE!r}")

C_SOURCES = sorted(str(p) for p in Path("csrc").glob("*.c"))


def extensions():
    if MODE == "no" or platform.python_implementation() != "CPython":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if MODE == "yes":
            raise
        print("WARNING: Cython is missing; installing wsfast without its C kernels", file=sys.stderr)
        return []
    kernels = Extension(
        "wsfast._kernels_c",
        sources=["src/wsfast/_kernels_c.pyx", *C_SOURCES],
        include_dirs=["csrc"],
        # An optional extension that fails to compile is skipped with a warning; "yes" makes it fatal.
        optional=MODE != "yes",
    )
    return cythonize(
        [kernels],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


setup(ext_modules=extensions())
