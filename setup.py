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
COMPILED_COPIES = str(Path("build", "cython"))


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
    kernels = cythonize(
        [kernels],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
    compiled = [Extension(f"wsfast.{name}_c", sources=[compiled_copy(name)], optional=MODE != "yes")
                for name in ("_openpath", "asyncio.messages")]
    return kernels + cythonize(
        compiled,
        include_path=[COMPILED_COPIES],  # where Cython finds each copy's .pxd, by module name
        language_level=3,
        # Plain Python semantics (annotations are documentation, indexing as in Python): the same
        # file runs as the pure-Python twin.
        # Free-threaded CPython keeps its GIL off: these modules hold constants only, and each of
        # their objects serves one connection, driven by one thread at a time (its event loop).
        compiler_directives={"annotation_typing": False, "binding": False, "freethreading_compatible": True},
    )


def compiled_copy(module: str) -> str:
    """Copy wsfast's MODULE (dotted, below wsfast) and its .pxd to build/, named MODULE_c: Cython
    compiles a .py file with the .pxd of the same name, and the compiled module must not shadow
    the pure-Python twin, which is the .py file itself."""
    *package, name = module.split(".")
    source = Path("src", "wsfast", *package)
    target = Path(COMPILED_COPIES, "wsfast", *package)
    target.mkdir(parents=True, exist_ok=True)
    for suffix in (".py", ".pxd"):
        original = (source / name).with_suffix(suffix)
        copy = target / f"{name}_c{suffix}"
        if not copy.exists() or copy.read_bytes() != original.read_bytes():
            copy.write_bytes(original.read_bytes())
    return str(target / f"{name}_c.py")


setup(ext_modules=extensions())
