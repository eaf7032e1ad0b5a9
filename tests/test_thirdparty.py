"""Other libraries' own test suites pass with wsfast installed into them (tests/thirdparty/run.py).

One test per suite of tests/thirdparty/suites.py (aiohttp's twice: as built, and on its pure-Python
code; websockets' four times: the tests of three releases, each against its release, and the
newest's against the newest release): run.py runs the library's own suite without wsfast, then with
``wsfast.accelerate.install(<library>)`` (for wsaccel: wsaccel's tests against
``wsfast.compat.wsaccel``), and fails unless both runs give every test the same outcome, no test
failed, and the start-up hook saw the patch in place throughout. The assertion message is run.py's
table and what went wrong; the logs of both runs are in its cache folder.

The first test builds run.py's environment (a virtual environment with the libraries and what their
suites need, about 30 s with network access to the package index) in pytest's cache folder, where the
later tests, and the next pytest run, find it. On a 2-core machine the first eight take about
2 minutes (3 on first use), most of it websocket-client's tests that talk to a live server, and
websockets' four about 70 s more (their two runs at once, 12 to 20 s each).

websockets' tests are kept outside the repository (run.py: ``$WSFAST_WEBSOCKETS_TESTS``, else
``shared/thirdparty/websockets-tests`` beside it); without them those four suites skip, which under
CI=true fails like any other skip.

Runs on CPython on Linux and macOS. Under CI=true it must run: an environment that cannot be built
fails. Elsewhere that (no network, no pip) skips the tests. ``WSFAST_THIRDPARTY=0`` skips them,
``WSFAST_THIRDPARTY=1`` runs them on any platform.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import C_AVAILABLE, IN_CI

HERE = Path(__file__).resolve().parent / "thirdparty"
RUN = HERE / "run.py"
SETUP_FAILED = 3
#: Bound on one suite: building the environment on first use (pip's own time limits) plus two runs.
TIMEOUT = 1800
SWITCH = os.environ.get("WSFAST_THIRDPARTY", "")
SUPPORTED = platform.python_implementation() == "CPython" and sys.platform in ("linux", "darwin")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SWITCH == "0", reason="WSFAST_THIRDPARTY=0"),
    pytest.mark.skipif(not SUPPORTED and SWITCH != "1",
                       reason="the third-party suites run on CPython on Linux and macOS (WSFAST_THIRDPARTY=1 forces them)"),
]  # fmt: skip

_setup_failure: list[str] = []  # the first one, so that later tests do not wait for pip again

#: Under CI the twins' run (WSFAST_NO_EXTENSIONS=1) leaves these suites to the C run, which runs
#: them all: what they exercise of wsfast beyond the codec (the patches for each websockets release,
#: the one for aiohttp's compiled reader) is the same Python code in both runs, and the twins' codec
#: still meets websockets' and aiohttp's own suites through the newest release and aiohttp's
#: pure-Python mode. About 2.5 CPU-minutes of the twins' run (CI time: docs/development.md).
LEFT_TO_THE_C_RUN = ("aiohttp", "websockets-13.1", "websockets-15.0.1", "websockets-17.0.1")


def _suite_ids() -> list[str]:
    spec = importlib.util.spec_from_file_location("wsfast_thirdparty_suites", HERE / "suites.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [suite.id for suite in module.SUITES]


@pytest.mark.parametrize("suite", _suite_ids())
def test_own_suite_passes_with_wsfast(suite: str, tmp_path: Path) -> None:
    if IN_CI and not C_AVAILABLE and suite in LEFT_TO_THE_C_RUN:
        pytest.skip(f"CI: the C run runs {suite}'s suite; the twins' run keeps one of each library")
    if _setup_failure and not IN_CI:
        pytest.skip(_setup_failure[0])
    results = tmp_path / "results.json"
    try:
        completed = subprocess.run([sys.executable, str(RUN), "--only", suite, "--json", str(results)],
                                   capture_output=True, text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr or ""
        pytest.fail(f"run.py --only {suite} took more than {TIMEOUT} s:\n{stderr}")
    if completed.returncode == SETUP_FAILED:
        message = f"the third-party test environment could not be built:\n{completed.stderr.strip()}"
        if IN_CI:
            pytest.fail(message)
        _setup_failure.append(message)
        pytest.skip(message)
    assert results.exists(), f"run.py exited {completed.returncode} without results:\n{completed.stderr}"
    [result] = json.loads(results.read_text(encoding="utf-8"))
    if result["verdict"] == "SKIP" and not IN_CI:
        pytest.skip(result["skip"])
    assert result["verdict"] == "PASS", f"{completed.stdout}\n\nprogress:\n{completed.stderr}"
    assert completed.returncode == 0, completed.stdout
    print(completed.stdout)
