#!/usr/bin/env python3
"""Instructions per echo round trip, counted by callgrind: the echo benchmark in a unit this
machine cannot blur.

CPU time per round trip (``report_echo.py``) is what the targets of issue 11 are stated in, but on
this shared 2-CPU machine a cell moves by 5-15% between runs, and a side's CPU time includes the
kernel's work for both ends of the loopback connection (the sender's system call delivers to the
receiver). Here the process under test runs under ``valgrind --tool=callgrind``, which counts
every instruction it executes in user space, exactly and the same in every run: the event loop,
the transport, the WebSocket library, the interpreter. What it leaves out is the kernel (system
calls, the network stack) and how fast the instructions run (caches, branch prediction).

Each cell: the process under test (a server, or a client) under callgrind and the other end
without it, both ``_echo_peers.py`` processes as in ``report_echo.py`` (same options, allocator
warm, one message in flight); 300 round trips to warm up, then callgrind's counters are zeroed,
COUNT round trips are made, and the counters are dumped. Figures: thousands of instructions per
round trip (the dump's total / COUNT). Servers are driven by picows' client, clients talk to
picows' server; the raw echo of the same bytes (``tcp-buffered``, asyncio.BufferedProtocol on both
sides) is the floor.

    python benchmarks/report_instructions.py --output benchmarks/RESULTS-instructions.md

Needs valgrind (``apt-get install valgrind``) and what report_echo.py needs. About 8 minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report as rp
import report_echo as echo

#: Round trips counted per cell, after WARM_UP.
COUNT = 2000
WARM_UP = 300
SIZES = (256, 8 * echo.KIB)
#: The sides measured, in the tables' order; DRIVER is the other end of every WebSocket cell.
IMPLS = (echo.WSFAST_AWAIT, echo.WSFAST_CALLBACK, echo.WSFAST_AWAIT_FAST, echo.WSFAST_CALLBACK_FAST,
         "picows", echo.PICOWS_STDLIB, "aiohttp", "websockets", echo.FLOOR)  # fmt: skip
DRIVER = "picows"
CALLGRIND = ("valgrind", "--tool=callgrind", "--dump-instr=no")


def counted(role: str, impl: str, loop: str, logdir: Path) -> dict[int, float]:
    """Instructions per round trip of ``impl`` as ``role`` (its process under callgrind), by size.

    Raises:
        RuntimeError: a process did not start, or an echo came back wrong.
    """
    dumps = Path(tempfile.mkdtemp(prefix=f"callgrind-{role}-{impl}-", dir=logdir))
    other = impl if impl == echo.FLOOR else DRIVER  # the raw echo talks to itself
    wrapper = (*CALLGRIND, f"--callgrind-out-file={dumps}/out")
    environment = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"  # the same dict layouts in every run
    try:
        if role == "server":
            server = echo.Worker("server", impl, loop, None, logdir, wrapper=wrapper)
            server.ready()
            client = echo.Worker("client", other, loop, server.port, logdir)
            measured = server
        else:
            server = echo.Worker("server", other, loop, None, logdir)
            server.ready()
            client = echo.Worker("client", impl, loop, server.port, logdir, wrapper=wrapper)
            measured = client
        try:
            client.ready()
            per_size = {}
            for size in SIZES:
                client.command(f"run {size} {WARM_UP}", timeout=600)
                _control("-z", measured.proc.pid)
                answer = client.command(f"run {size} {COUNT}", timeout=600)
                if '"ok": true' not in answer:
                    raise RuntimeError(f"{role} {impl} on {loop}, {size} B: the echo came back wrong: {answer}")
                before = set(dumps.iterdir())
                _control("-d", measured.proc.pid)
                per_size[size] = _total(_new_dump(dumps, before)) / COUNT
            return per_size
        finally:
            client.stop()
            server.stop()
    finally:
        if environment is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = environment


def _control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True, timeout=120)


def _new_dump(dumps: Path, before: set[Path]) -> Path:
    """The dump file callgrind_control -d has just written (it may take a moment to appear)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = [path for path in dumps.iterdir() if path not in before]
        if new:
            time.sleep(0.2)  # written whole by now: callgrind_control returns once it is done
            return new[0]
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump appeared in {dumps}")


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {dump}")


def table(loop: str, role: str, figures: dict[str, dict[int, float]]) -> list[str]:
    """One side's figures on one loop: thousands of instructions per round trip, against picows,
    aiohttp and websockets, and above the floor."""
    floor = figures.get(echo.FLOOR)
    lines = [f"### {role.capitalize()}s ({loop})", "",
             "| " + role + " | " + " | ".join(echo.LABELS[size] for size in SIZES)
             + " | " + " | ".join(f"{echo.LABELS[size]}: / picows, / aiohttp, / websockets, above the floor" for size in SIZES) + " |",
             "|---|" + "---:|" * (2 * len(SIZES))]  # fmt: skip
    for impl, per_size in figures.items():
        cells = [f"{per_size[size] / 1000:.1f}k" for size in SIZES]
        for size in SIZES:
            ratios = [f"{per_size[size] / figures[peer][size]:.2f}×" if peer in figures else "-"
                      for peer in ("picows", "aiohttp", "websockets")]  # fmt: skip
            above = f"+{(per_size[size] - floor[size]) / 1000:.1f}k" if floor else "-"
            cells.append(", ".join(ratios) + ", " + above)
        lines.append(f"| {echo.DISPLAY.get(impl, impl)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="write the markdown report here too")
    parser.add_argument("--loops", default=",".join(echo.LOOPS), help="comma-separated: asyncio,uvloop")
    args = parser.parse_args(argv)
    started, load_before = time.monotonic(), rp._load()
    logdir = Path(tempfile.mkdtemp(prefix="wsfast-instructions-"))
    sections: list[str] = []
    for loop in args.loops.split(","):
        for role in ("server", "client"):
            figures = {}
            for impl in IMPLS:
                print(f"[{time.monotonic() - started:6.0f} s] {loop} {role} {impl}", file=sys.stderr, flush=True)
                figures[impl] = counted(role, impl, loop, logdir)
            sections += table(loop, role, figures)
    lines = rp.report_header("Instructions per echo round trip (callgrind)", "report_instructions.py", argv, False,
                             time.monotonic() - started, load_before)
    lines += [
        f"- wsfast {rp._dist_version('wsfast')}; peers: "
        + "; ".join(f"{name} {rp._dist_version(name)}" for name in ("websockets", "aiohttp", "picows", "aiofastnet", "uvloop")),
        f"- method: see the script's docstring. {COUNT} round trips per cell after {WARM_UP} to warm up, one "
        "message in flight, binary messages; user-space instructions of the process under test (the "
        "interpreter, the event loop, the transport, the library; not the kernel), in thousands per round "
        f"trip. Servers are driven by {DRIVER}'s client, clients talk to {DRIVER}'s server; the floor is "
        f"{echo.DISPLAY[echo.FLOOR]}, talking to itself. The counts do not depend on the machine's load.", "",
        *sections,
    ]  # fmt: skip
    return rp.publish(lines, args.output, failed=False, strict=False)


if __name__ == "__main__":
    sys.exit(main())
