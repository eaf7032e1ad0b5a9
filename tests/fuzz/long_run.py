#!/usr/bin/env python3
"""Run the atheris targets for a long time on the C build, then replay what they found under
AddressSanitizer and UBSan.

    python tests/fuzz/long_run.py --seconds 3600 [--targets fuzz_frames,fuzz_connection,fuzz_handshake]
                                  [--workdir DIR] [--parallel N]

Two builds of the extension go into WORKDIR: a plain one and one with
``-fsanitize=address,undefined`` (as tests/test_sanitized_build.py makes it).

1. Each target runs coverage-guided for ``--seconds`` on the plain build, growing a corpus of its
   own under WORKDIR, N targets at a time. (With gcc's ASan runtime preloaded, atheris takes its
   coverage symbols from it and the guidance breaks: it runs blind. Hence two phases.)
2. Every input of every corpus runs once more on the sanitized build, gcc's runtimes preloaded.

Logs: WORKDIR/TARGET.log and WORKDIR/TARGET-asan.log; a failure leaves WORKDIR/TARGET-crash-*
(atheris's artifact) and a non-zero exit. Prints one line per target and phase.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
TARGETS = ("fuzz_frames", "fuzz_connection", "fuzz_handshake")


def runtime(gcc: str, name: str) -> str:
    path = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.isabs(path):
        sys.exit(f"gcc has no {name}")
    return path


def build(workdir: Path, name: str, sanitize: bool) -> Path:
    """A package directory (to put on PYTHONPATH) with the extension built plain or sanitized."""
    env = dict(os.environ, WSFAST_BUILD_EXTENSION="yes")
    if sanitize:
        env.update(CC=shutil.which("gcc") or sys.exit("gcc is missing"), CFLAGS=SANITIZE,
                   LDFLAGS="-fsanitize=address,undefined")  # fmt: skip
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-temp", str(workdir / name / "build"),
                    "--build-lib", str(workdir / name / "lib")], cwd=ROOT, env=env, check=True)  # fmt: skip
    package = workdir / name / "pkg" / "wsfast"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(ROOT / "src" / "wsfast", package, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    built = workdir / name / "lib" / "wsfast"
    for module in built.rglob("*.so"):  # the kernels and the compiled hot path (_openpath_c, messages_c)
        shutil.copy(module, package / module.relative_to(built))
    return package.parent


def run_all(commands: dict[str, tuple[list[str], dict[str, str]]], parallel: int, workdir: Path) -> int:
    """Run the commands (name: argv, env), ``parallel`` at a time, each logging to WORKDIR/NAME.log;
    print a line per command; the first non-zero exit status, or 0."""
    pending = list(commands)
    running: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            argv, env = commands[name]
            with open(workdir / f"{name}.log", "wb") as log:
                running[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(2)
        for name, process in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            text = (workdir / f"{name}.log").read_text(errors="replace")
            # a fuzzing run ends with its stats; a replay says "Executed FILE" per input
            runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text) or [
                str(len(re.findall(r"^Executed ", text, re.MULTILINE)))]
            print(f"{name}: exit {process.returncode}, {runs[-1]} inputs run,"
                  f" log {workdir / (name + '.log')}", flush=True)  # fmt: skip
            status = status or process.returncode
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="per target (default 3600)")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    arguments = parser.parse_args()
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="wsfast-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    gcc = shutil.which("gcc") or sys.exit("gcc is missing")
    base = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    base["WSFAST_REQUIRE_EXTENSIONS"] = "1"
    plain = dict(base, PYTHONPATH=f"{build(workdir, 'plain', False)}{os.pathsep}{HERE}")
    sanitized = dict(base, PYTHONPATH=f"{build(workdir, 'sanitized', True)}{os.pathsep}{HERE}",
                     LD_PRELOAD=f"{runtime(gcc, 'libasan.so')} {runtime(gcc, 'libubsan.so')}",
                     ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1")  # fmt: skip
    targets = [name for name in arguments.targets.split(",") if name]
    for name in targets:
        (workdir / f"{name}-corpus").mkdir(exist_ok=True)
    guided = {name: ([sys.executable, str(HERE / f"{name}.py"), f"-max_total_time={arguments.seconds}",
                      f"-artifact_prefix={workdir}/{name}-", "-print_final_stats=1", str(workdir / f"{name}-corpus")],
                     plain) for name in targets}  # fmt: skip
    status = run_all(guided, arguments.parallel, workdir)
    replay = {f"{name}-asan": ([sys.executable, str(HERE / f"{name}.py"), f"-artifact_prefix={workdir}/{name}-asan-",
                                *sorted(str(path) for path in (workdir / f"{name}-corpus").iterdir())], sanitized)
              for name in targets}  # fmt: skip
    return status or run_all(replay, arguments.parallel, workdir)


if __name__ == "__main__":
    sys.exit(main())
