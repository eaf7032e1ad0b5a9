"""The demo the README's first command runs."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_and_reports_the_rfc_example():
    result = subprocess.run([sys.executable, "-m", "wsfast", "demo"], capture_output=True, text=True,
                            timeout=120, env=os.environ.copy())  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = "python" if os.environ.get("WSFAST_NO_EXTENSIONS") else "c"
    assert f"implementation={expected}" in result.stdout
    assert "-> 7f 9f 4d 51 58" in result.stdout
    assert "GET /chat HTTP/1.1, 7 headers" in result.stdout
    assert "[True, True, False], error at byte 9" in result.stdout
    assert result.stdout.count("x\n") == 4  # four speed-up lines


def test_command_line_requires_a_command():
    result = subprocess.run([sys.executable, "-m", "wsfast"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "usage: wsfast" in result.stderr
