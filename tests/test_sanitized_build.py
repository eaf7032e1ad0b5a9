"""The kernel and protocol tests again, against the extensions built with AddressSanitizer and UBSan.

The C driver (kernels/test_c_driver.py) checks csrc/ alone; this checks the Cython glue as Python uses
it: buffers, the frame decoder's own buffer, object creation, and the compiled hot path of both
asyncio APIs. It needs gcc with its sanitizer
runtimes on Linux; under CI=true their absence is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import C_AVAILABLE, IN_CI

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    "tests/kernels/test_mask.py",
    "tests/kernels/test_utf8.py",
    "tests/kernels/test_frame_header.py",
    "tests/kernels/test_http_head.py",
    "tests/test_frames.py",
    "tests/test_connection.py",
    "tests/test_server_client.py",
    "tests/asyncio/test_callbacks.py",  # the compiled hot path, both APIs
    "tests/asyncio/test_server_client.py",
    "tests/asyncio/test_messages.py",
]
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"


def runtime(gcc: str, name: str) -> str | None:
    path = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run the sanitizer build: {reason}")
    pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.skipif(not C_AVAILABLE, reason="WSFAST_NO_EXTENSIONS=1: the C build is not under test")
def test_suite_passes_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    if platform.system() != "Linux" or platform.python_implementation() != "CPython":
        pytest.skip("sanitizer runtimes are preloaded the Linux way")
    gcc = shutil.which("gcc")
    if gcc is None:
        unavailable("gcc is missing")
    libraries = [runtime(gcc, "libasan.so"), runtime(gcc, "libubsan.so")]
    if None in libraries:
        unavailable("gcc's sanitizer runtimes are missing")
    build_env = dict(os.environ, CC=gcc, CFLAGS=SANITIZE, LDFLAGS="-fsanitize=address,undefined",
                     WSFAST_BUILD_EXTENSION="yes")  # fmt: skip
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-temp", str(tmp_path / "build"),
         "--build-lib", str(tmp_path / "lib")],
        cwd=ROOT, env=build_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    package = tmp_path / "pkg" / "wsfast"
    shutil.copytree(ROOT / "src" / "wsfast", package, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    built = tmp_path / "lib" / "wsfast"
    for module in built.rglob("*.so"):  # the kernels and the compiled hot path (_openpath_c, messages_c)
        shutil.copy(module, package / module.relative_to(built))

    run_env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    run_env.update(
        PYTHONPATH=str(package.parent),
        LD_PRELOAD=" ".join(libraries),  # type: ignore[arg-type]
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
        UBSAN_OPTIONS="print_stacktrace=1",
        WSFAST_REQUIRE_EXTENSIONS="1",
    )
    probe = subprocess.run([sys.executable, "-c", "import wsfast._kernels_c, wsfast._openpath_c, wsfast.asyncio.messages_c; "
                            "print(wsfast._kernels_c.__file__, wsfast._openpath_c.__file__, wsfast.asyncio.messages_c.__file__)"],
                           env=run_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert all(path.startswith(str(package)) for path in probe.stdout.split()), "the sanitized build was not imported"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SUITES],
                            cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert " passed" in result.stdout
