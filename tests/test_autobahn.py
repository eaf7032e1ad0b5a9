"""The Autobahn TestSuite, run by kosoku, in both modes (tests/autobahn/run.py does the work).

- fuzzingclient: kosoku drives wsfast's echo server (``python -m wsfast echo``, as users run it);
- fuzzingserver: kosoku serves the cases to wsfast's client (tests/autobahn/client_driver.py), once
  to the asyncio client and once more to the synchronous one (wsfast.sync).

All 517 cases, permessage-deflate on, with whichever kernels this run uses (CI runs the suite with
the C kernels and again with WSFAST_NO_EXTENSIONS=1). A case passes only if its ``behavior`` and
``behaviorClose`` are both OK, NON-STRICT or INFORMATIONAL; one failed case fails the test, whose
message is run.py's summary.

The two modes run at the same time (about 7 minutes for both here, against 9 one after the other):
the first test to need them starts both. kosoku ships for Linux x86-64 only; elsewhere the tests
skip, and under CI on Linux x86-64 a missing kosoku is a failure. ``WSFAST_AUTOBAHN=0`` skips them;
``WSFAST_AUTOBAHN_CASES="1.* 7.*"`` runs a selection; ``WSFAST_AUTOBAHN_IMPL=websockets`` runs the
harness against websockets instead, as a check of the harness itself.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import IN_CI

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("WSFAST_AUTOBAHN") == "0", reason="WSFAST_AUTOBAHN=0"),
]

RUNNER = Path(__file__).resolve().parent / "autobahn" / "run.py"
MODES = ("fuzzingclient", "fuzzingserver")
#: Bound on one mode's run: kosoku's own `timeout` (run.py --timeout) plus the time to start and stop.
KOSOKU_TIMEOUT = 1500
TEST_TIMEOUT = KOSOKU_TIMEOUT + 120
KOSOKU_PLATFORM = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")

IMPL = os.environ.get("WSFAST_AUTOBAHN_IMPL", "wsfast")
if IMPL not in ("wsfast", "websockets"):
    raise ValueError(f"WSFAST_AUTOBAHN_IMPL must be wsfast or websockets, not {IMPL!r}")
#: The runs: each mode against the library, and the client mode once more through wsfast's
#: synchronous client (wsfast.sync).
RUNS = (*MODES, "fuzzingserver-sync") if IMPL == "wsfast" else MODES
CASES = os.environ.get("WSFAST_AUTOBAHN_CASES", "").split()
#: websockets' own failures (17.x): a close frame inside a fragmented message is answered with 1002
#: "incomplete fragmented message" where the case expects the close to be echoed (1000).
WEBSOCKETS_KNOWN_FAILURES = ("7.1.5",)


def _command(run: str, outdir: Path) -> list[str]:
    selection = [argument for case in CASES for argument in ("-i", case)]
    if IMPL == "websockets":
        selection += [argument for case in WEBSOCKETS_KNOWN_FAILURES for argument in ("--known-failure", case)]
    runner_impl = "wsfast-cli" if IMPL == "wsfast" else IMPL
    mode = run
    if run == "fuzzingserver-sync":
        runner_impl, mode = ("wsfast-sync" if IMPL == "wsfast" else IMPL), "fuzzingserver"
    return [sys.executable, str(RUNNER), "--impl", runner_impl, "--mode", mode, "-p", "2",
            "--timeout", str(KOSOKU_TIMEOUT), "-o", str(outdir), *selection]  # fmt: skip


#: The DEFLATE library of wsfast's server and clients under test, run by run. Deflating the 12.x
#: and 13.x cases' 128 KiB messages is most of each mode's time with the standard library's zlib,
#: the default compressor (7.5 ms each for the Faust text; zlib-ng 1.8 ms, ISA-L 0.4 ms). So the
#: C kernels' runs use ISA-L for both directions, the twins' server (the longest run) zlib-ng, and
#: the twins' clients the defaults (zlib-ng inflates, the standard library deflates: see
#: wsfast/_zlib.py): the suite covers all three libraries. WSFAST_ZLIB, if set, decides for all.
_TWINS = bool(os.environ.get("WSFAST_NO_EXTENSIONS"))
ZLIB_BY_RUN = {
    run: ("zlib-ng" if run == "fuzzingclient" else None) if _TWINS else "isal" for run in (*MODES, "fuzzingserver-sync")
}


def _environment(run: str) -> dict[str, str]:
    environment = dict(os.environ)
    library = ZLIB_BY_RUN.get(run)
    if library is not None and importlib.util.find_spec(library.replace("-", "_")) is not None:
        environment.setdefault("WSFAST_ZLIB", library)
    return environment


@pytest.fixture(scope="module")
def autobahn_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every run, started together; each test waits for its own."""
    if importlib.util.find_spec("kosoku") is None:
        if IN_CI and KOSOKU_PLATFORM:
            pytest.fail("kosoku is not installed; CI requires it: pip install '.[test]'")
        pytest.skip("kosoku is not installed (it exists for Linux x86-64 only): pip install kosoku")
    base = tmp_path_factory.mktemp("autobahn")
    runs = {run: subprocess.Popen(_command(run, base / run), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=_environment(run)) for run in RUNS}  # fmt: skip
    try:
        yield runs
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.mark.parametrize("mode", RUNS)
def test_autobahn(mode: str, autobahn_runs: dict[str, subprocess.Popen[str]]) -> None:
    process = autobahn_runs[mode]
    try:
        output, _ = process.communicate(timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"run.py did not finish within {TEST_TIMEOUT} s:\n{output}")
    print(output)
    assert process.returncode == 0, f"Autobahn {mode} against {IMPL} (exit status {process.returncode}):\n{output}"
