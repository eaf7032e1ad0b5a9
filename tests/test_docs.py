"""The documentation site builds with warnings as errors: ``mkdocs build --strict`` (mkdocs.yml).

Its pages are docs/*.md (the benchmark results included from benchmarks/) and the reference is
generated from the docstrings, so a broken link, a missing include or a docstring griffe cannot
read fails this test. One leg is enough: the C leg runs it,
``WSFAST_NO_EXTENSIONS=1`` skips it. Without mkdocs it skips, and fails instead when CI is set.
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

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WSFAST_NO_EXTENSIONS")),
    reason="WSFAST_NO_EXTENSIONS=1: the site does not depend on the kernels; the C leg builds it",
)


def test_the_site_builds_strictly(tmp_path):
    for module in ("mkdocs", "mkdocstrings_handlers.python", "pymdownx"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            if IN_CI:
                pytest.fail(f"{module} is not installed, and CI is set: the docs must build in CI", pytrace=False)
            pytest.skip(f"{module} is not installed: pip install '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    switching = (site / "switching" / "index.html").read_text(encoding="utf-8")
    assert "<table>" in switching and "additional_headers" in switching  # the switching table
    reference = (site / "reference" / "asyncio" / "index.html").read_text(encoding="utf-8")
    assert "process_exception" in reference and "proxy_ssl" in reference  # from the docstrings
