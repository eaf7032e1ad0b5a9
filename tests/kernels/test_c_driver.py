"""The C kernels on their own: tests/c/test_kernels.c built against csrc/ and run outside Python.

The driver compares every SIMD level of the masking and UTF-8 kernels with simple reference code and
checks the frame-header and HTTP-head parsers. It is built natively with gcc and clang in strict C11,
with AddressSanitizer and UndefinedBehaviorSanitizer, and cross-compiled for aarch64 (NEON) and s390x
(big-endian) to run under qemu-user. A missing compiler or emulator skips its test, except when CI is
set: then the tool must be there and its absence fails the test.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CSRC = ROOT / "csrc"
DRIVER_DIR = ROOT / "tests" / "c"

IN_CI = bool(os.environ.get("CI"))
TIMEOUT = 300  # seconds, for each build and each run

# The drivers run no Python: the C leg runs them, the twins' leg (WSFAST_NO_EXTENSIONS=1) need not.
pytestmark = pytest.mark.skipif(bool(os.environ.get("WSFAST_NO_EXTENSIONS")),
                                reason="WSFAST_NO_EXTENSIONS=1: the C drivers do not depend on it; the C leg runs them")

STRICT = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}

SUMMARY = re.compile(r"^c-kernels: (\d+) passed, (\d+) failed$", re.MULTILINE)
LEVELS_TESTED = re.compile(r"^levels tested: (.*)$", re.MULTILINE)
UNSUPPORTED_LEVEL = 77  # the driver's exit status for --level=NAME on a CPU without it


def _host_levels() -> list[str]:
    """The SIMD levels that can exist on this machine (the driver says which the CPU really has)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return ["scalar", "sse2", "avx2", "avx512"]
    if machine in ("aarch64", "arm64"):
        return ["scalar", "neon"]
    return ["scalar"]


def require_tool(name: str) -> str:
    """The tool's path; skip without it, or fail when CI is set (CI must run these tests)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed, and CI is set: the C kernel tests must run in CI", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return path


def sources() -> list[str]:
    files = sorted(CSRC.glob("*.c")) + sorted(DRIVER_DIR.glob("*.c"))
    assert any(f.parent == CSRC for f in files), f"no C sources in {CSRC}"
    return [str(f) for f in files]


def build(compiler: str, flags: list[str], output: Path) -> Path:
    cmd = [compiler, *STRICT, *flags, f"-I{CSRC}", *sources(), "-o", str(output)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"build failed ({proc.returncode}):\n$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}", pytrace=False)
    return output


def run_driver(cmd: list[str], env: dict[str, str] | None = None) -> str:
    """Run the driver; assert it exited 0 with a clean summary line; return its output."""
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout
    if proc.returncode == UNSUPPORTED_LEVEL:
        pytest.skip(out.strip().splitlines()[-1] if out.strip() else "SIMD level not supported on this CPU")
    shown = f"$ {' '.join(cmd)}\n{out}"
    if proc.returncode != 0:
        pytest.fail(f"driver exited with {proc.returncode}:\n{shown}", pytrace=False)
    summaries = SUMMARY.findall(out)
    if not summaries:
        pytest.fail(f"no summary line in the driver's output:\n{shown}", pytrace=False)
    passed, failed = map(int, summaries[-1])
    if failed or not passed:
        pytest.fail(f"driver reported {passed} passed, {failed} failed:\n{shown}", pytrace=False)
    return out


def levels_tested(out: str) -> list[str]:
    found = LEVELS_TESTED.findall(out)
    assert found, f"no 'levels tested' line in the driver's output:\n{out}"
    return found[-1].split()


_builds: dict[tuple[str, ...], Path] = {}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("c-kernels")


def cached_build(build_dir: Path, compiler: str, flags: list[str], name: str) -> Path:
    """Build once per module for the tests that share a binary (the per-level sanitizer runs)."""
    key = (compiler, *flags)
    if key not in _builds:
        _builds[key] = build(compiler, flags, build_dir / name)
    return _builds[key]


def test_csrc_has_no_python_h() -> None:
    """The kernels are plain C: nothing in csrc/ may include Python.h."""
    files = sorted(CSRC.glob("*.[ch]"))
    assert files, f"no C sources in {CSRC}"
    include = re.compile(r'^\s*#\s*include\s*[<"]Python\.h[>"]', re.MULTILINE)
    offenders = [f.name for f in files if include.search(f.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, f"csrc/ files include Python.h: {offenders}"


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_native(compiler: str, tmp_path: Path) -> None:
    """Strict C11 with -O2; every SIMD level this CPU has, in one full run."""
    cc = require_tool(compiler)
    exe = build(cc, ["-O2"], tmp_path / f"test_kernels_{compiler}")
    out = run_driver([str(exe)])
    tested = levels_tested(out)
    assert "scalar" in tested, out
    detected = re.search(r"detected=(\w+)", out)
    assert detected and detected.group(1) in tested, f"the detected level was not tested:\n{out}"
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "sse2" in tested, out


@pytest.mark.slow
@pytest.mark.parametrize("level", _host_levels())
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_sanitizers(compiler: str, level: str, build_dir: Path) -> None:
    """AddressSanitizer (with leak checks) and UBSan, one SIMD level a run; the parsers run every time.

    The gcc build runs the full driver; the clang build, a second opinion, its quick mode.
    """
    cc = require_tool(compiler)
    exe = cached_build(build_dir, cc, SANITIZE, f"test_kernels_{compiler}_asan")
    args = [f"--level={level}"] + (["--quick"] if compiler == "clang" else [])
    out = run_driver([str(exe), *args], env=SANITIZER_ENV)
    assert levels_tested(out) == [level], out


@pytest.mark.slow
def test_qemu_aarch64(tmp_path: Path) -> None:
    """Cross-compiled for aarch64 and run under qemu-user: the NEON kernels and scalar."""
    cc = require_tool("aarch64-linux-gnu-gcc")
    qemu = require_tool("qemu-aarch64")
    exe = build(cc, ["-O2", "-static"], tmp_path / "test_kernels_aarch64")
    out = run_driver([qemu, str(exe), "--quick"])
    assert "byte-order=little-endian" in out, out
    assert levels_tested(out) == ["scalar", "neon"], f"the NEON level was not tested:\n{out}"


@pytest.mark.slow
def test_qemu_s390x(tmp_path: Path) -> None:
    """Cross-compiled for s390x and run under qemu-user: big-endian, scalar kernels only."""
    cc = require_tool("s390x-linux-gnu-gcc")
    qemu = require_tool("qemu-s390x")
    exe = build(cc, ["-O2", "-static"], tmp_path / "test_kernels_s390x")
    out = run_driver([qemu, str(exe), "--quick"])
    assert "byte-order=big-endian" in out, f"not a big-endian run:\n{out}"
    assert levels_tested(out) == ["scalar"], out
