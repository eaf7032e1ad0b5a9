"""Type checkers see what runs: ``mypy --strict`` and pyright are clean on src/wsfast.

They read the pure-Python twins (see ``_kernels.py``), so one leg is enough: the C leg runs this
test, and ``WSFAST_NO_EXTENSIONS=1`` skips it. The check reads the types of the optional libraries
src/wsfast imports, so it needs them installed; `pip install '.[test]'` brings them all on
Linux x86-64 CPython. Without a checker or one of those libraries the test skips, and fails
instead when CI is set (CI must run it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds, for each checker (a first run has no cache)

# What src/wsfast imports beyond the standard library: optional, so installed only where the
# [test] extra's markers allow.
OPTIONAL_IMPORTS = ("isal", "python_socks", "uvloop", "websockets", "werkzeug", "wsproto", "zlib_ng")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WSFAST_NO_EXTENSIONS")),
    reason="WSFAST_NO_EXTENSIONS=1: type checking does not depend on the kernels; the C leg runs it",
)


def require(module: str) -> None:
    """Skip without ``module``, or fail when CI is set."""
    if importlib.util.find_spec(module) is None:
        if IN_CI:
            pytest.fail(f"{module} is not installed, and CI is set: the type checks must run in CI", pytrace=False)
        pytest.skip(f"{module} is not installed")


def check(tool: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tool arguments`` from the repository's root."""
    for module in (tool, *OPTIONAL_IMPORTS):
        require(module)
    command = [sys.executable, "-m", tool, *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)


def test_mypy_strict_is_clean():
    result = check("mypy", "--strict", "src/wsfast")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_is_clean():
    # the interpreter running the tests, so pyright reads the libraries installed beside it
    result = check("pyright", "--pythonpath", sys.executable, "src/wsfast")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout, result.stdout
