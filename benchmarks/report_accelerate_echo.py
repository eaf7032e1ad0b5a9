#!/usr/bin/env python3
"""Echo round trips of other libraries' servers and clients, with and without ``wsfast.accelerate``:
CPU per round trip of the side under test, with a PASS/FAIL per target.

    python benchmarks/report_accelerate_echo.py                  # Markdown on stdout, progress on stderr
    python benchmarks/report_accelerate_echo.py --output benchmarks/RESULTS-accelerate-echo.md
    python benchmarks/report_accelerate_echo.py --quick          # fewer, shorter rounds (smoke run)

The processes, the measurement and its controls are report_echo.py's (``Bench``, ``_echo_peers.py``):
one client process and one server process per cell, one connection over 127.0.0.1, one round trip at a
time, every process pinned to the same CPU and started with glibc's allocator warm, fresh processes for
every size and kind, every cell checked with 8 distinct messages before it is timed, interleaved rounds,
medians. A library "+wsfast" is the same library in a process that called
``wsfast.accelerate.install(<library>)`` first.

- servers: wsfast's callback client drives the library's echo server, without and with wsfast: the
  server process's CPU per round trip (wsproto, which has no I/O of its own, in an asyncio.Protocol
  as its examples do: ``_echo_peers.py``);
- clients: the library's client drives wsfast's callback server: the client process's CPU;
- the floor: a raw asyncio TCP echo of the same bytes, both sides, measured with the binary cells; a
  target that fails is set against it (the most any drop-in could take off that process's CPU).

Kinds: binary messages, and text messages of ASCII letters (the same size in bytes).

``--libraries`` adds the libraries whose masking and UTF-8 validation only are patched: tornado (server
and client), websocket-client (a blocking client; no server) and ws4py (its wsgiref server and its
threaded client).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report as rp  # noqa: E402
import report_echo as re_  # noqa: E402

KIB = 1024
SIZES = (256, 8 * KIB, 1024 * KIB)
LABELS = {256: "256 B", 8 * KIB: "8 KiB", 1024 * KIB: "1 MiB"}
KINDS = ("binary", "text")
LIBRARIES = ("websockets", "wsproto")
#: The others wsfast.accelerate patches (masking and UTF-8 only), measured on request (--libraries):
#: issue 12 asks what their end-to-end gain is, and a deeper treatment where it would reach 1.3×.
OTHERS = ("tornado", "websocket-client", "ws4py")
#: Libraries without a server of their own: their client only.
CLIENT_ONLY = ("websocket-client",)
DRIVER = "wsfast-callback"
#: The raw asyncio TCP echo of the same bytes (an asyncio.Protocol each side, as websockets' and
#: wsproto's I/O are): the CPU any library on asyncio's transports pays at least per round trip.
FLOOR = "tcp"
#: (library, size, kind) -> the least CPU ratio (without / with wsfast) issue 12 asks, server and client.
TARGETS = {
    ("websockets", 256, "binary"): 1.3,
    ("websockets", 8 * KIB, "binary"): 1.3,
    ("websockets", 8 * KIB, "text"): 1.2,
    ("websockets", 1024 * KIB, "binary"): 1.35,
    ("wsproto", 8 * KIB, "binary"): 2.0,
    ("wsproto", 8 * KIB, "text"): 2.0,
    ("wsproto", 1024 * KIB, "binary"): 2.0,
    ("wsproto", 1024 * KIB, "text"): 2.0,
}


def cells_for(library: str) -> dict[tuple[str, str], re_.Cell]:
    """(side, variant) -> cell: the library's server or client, plain or "+wsfast"."""
    cells = {}
    for variant in (library, f"{library}+wsfast"):
        if library not in CLIENT_ONLY:
            cells[("server", variant)] = re_.Cell(DRIVER, variant)
        cells[("client", variant)] = re_.Cell(variant, DRIVER)
    return cells


def run(libraries: tuple[str, ...], sizes: tuple[int, ...], kinds: tuple[str, ...], rounds: int, repeats: int,
        large_repeats: int, sample_s: float, logdir: Path, progress: object
        ) -> tuple[dict[tuple[str, int, str], dict[tuple[str, str], re_.Cell]], dict[int, re_.Cell]]:
    """The cells of every library, size and kind, and by size the raw echo (``FLOOR``, binary runs).
    From report_echo.LARGE up, the samples are spread over ``large_repeats`` sets of processes: how
    a process set's large buffers fall decides its figures there (report_echo.py's docstring)."""
    results = {}
    floors: dict[int, re_.Cell] = {}
    for kind in kinds:
        for size in sizes:
            re_.LABELS.setdefault(size, LABELS[size])
            cells = {(library, key): cell for library in libraries for key, cell in cells_for(library).items()}
            every = list(cells.values())
            if kind == "binary":
                floors[size] = re_.Cell(FLOOR, FLOOR)
                every.append(floors[size])
            sets, set_rounds = re_.process_sets(size, rounds, repeats, large_repeats)
            for repeat in range(sets):
                progress(f"{kind} {LABELS[size]}: {len(every)} cells x {set_rounds} rounds, process set {repeat + 1}/{sets}")  # type: ignore[operator]
                options = ("--text",) if kind == "text" else ()
                with re_.Bench("asyncio", logdir, [c for c in every if size not in c.notes], size, options) as bench:
                    bench.measure(bench.cells, set_rounds, sample_s)
            for library in libraries:
                results[(library, size, kind)] = {key: cell for (name, key), cell in cells.items() if name == library}
    return results, floors


def cpu(cell: re_.Cell, size: int, side: str) -> rp.Stats | None:
    return cell.stats(size, side)


FRAME_SHARE = Path(__file__).resolve().parent / "_wsproto_frame_share.py"
#: Fresh processes per mode for the frame layer's share (run in turn; the least of their medians).
SHARE_PROCESSES = 5


def frame_layer_left(side: str, size: int, kind: str, processes: int) -> tuple[float, float]:
    """CPU seconds per sans-IO echo step of wsproto, with wsfast and with a frame layer that costs
    nothing (``_wsproto_frame_share.py``), each the least over ``processes`` fresh processes run
    in turn, pinned as the echo processes are: a process that shared its CPU with a neighbour's
    burst (steal time here) is slower in one mode, and the difference of two medians carried it."""
    samples: dict[str, list[float]] = {"wsfast": [], "frameless": []}
    for _ in range(processes):
        for mode, found in samples.items():
            output = subprocess.run([sys.executable, str(FRAME_SHARE), mode, side, str(size), kind], check=True,
                                    capture_output=True, text=True, timeout=re_.COMMAND_TIMEOUT,
                                    preexec_fn=re_._pin).stdout  # fmt: skip
            found.append(json.loads(output)["seconds"])
    return min(samples["wsfast"]), min(samples["frameless"])


def verdict_of(bound: float, limit: float) -> str:
    """Whether a frame layer of no cost reaches the target: within 1% of it is level, not past."""
    if bound < 0.99 * limit:
        return "beyond any frame-layer patch"
    if bound < 1.01 * limit:
        return "level with the target only if the frame layer cost nothing"
    return "within reach"


def frame_bound_table(results: dict[tuple[str, int, str], dict[tuple[str, str], re_.Cell]],
                      failing: list[tuple[str, int, str]], processes: int, progress: Any) -> list[str]:
    """For each wsproto target that failed: the most a frame layer of no cost could give.

    With wsfast, wsproto's frame layer still costs (wsfast − frameless) per message, measured
    sans-IO; taking all of it off the round trip with wsfast gives the bound
    without / (with − that). Below the target, no replacement of the frame layer alone reaches it.
    """
    library = "wsproto"
    rows = []
    for side, size, kind in failing:
        where = f"{LABELS[size]} {kind}"
        progress(f"wsproto {side} {where}: the frame layer's share, {processes} processes per mode")
        with_wsfast, frameless = frame_layer_left(side, size, kind, processes)
        left = with_wsfast - frameless
        plain, fast = results[(library, size, kind)][(side, library)], results[(library, size, kind)][(side, f"{library}+wsfast")]
        a, b = cpu(plain, size, side), cpu(fast, size, side)
        if a is None or b is None:
            continue
        bound = a.median / (b.median - left) if b.median > left else float("inf")
        limit = TARGETS[(library, size, kind)]
        rows.append([f"{library} {side}", where, re_.fmt_us(a), re_.fmt_us(b),
                     f"{with_wsfast * 1e6:.1f} / {frameless * 1e6:.1f}", f"{left * 1e6:.1f}", f"{bound:.2f}×",
                     f"≥ {limit:g}×", verdict_of(bound, limit)])
    if not rows:
        return []
    return rp.table(["side", "message", "without wsfast", "with wsfast", "sans-IO step: wsfast / frameless",
                     "frame layer left", "bound", "target", "verdict"], rows)


def floor_bound_table(results: dict[tuple[str, int, str], dict[tuple[str, str], re_.Cell]],
                      floors: dict[int, re_.Cell], failing: list[tuple[str, str, int, str]]) -> list[str]:
    """For each failed target of a library other than wsproto: CPU without wsfast over the raw
    echo's, the most a WebSocket layer of no cost could give (see the report's section)."""
    rows = []
    for library, side, size, kind in failing:
        floor = floors.get(size)
        a = cpu(results[(library, size, kind)][(side, library)], size, side)
        b = cpu(results[(library, size, kind)][(side, f"{library}+wsfast")], size, side)
        f = cpu(floor, size, side) if floor else None
        if a is None or b is None or f is None:
            continue
        bound, limit = a.median / f.median, TARGETS[(library, size, kind)]
        verdict = "beyond any drop-in" if bound < 0.99 * limit else "not ruled out by the floor"
        rows.append([f"{library} {side}", f"{LABELS[size]} {kind}", re_.fmt_us(a), re_.fmt_us(b), re_.fmt_us(f),
                     f"{a.median / b.median:.2f}×", f"{bound:.2f}×", f"≥ {limit:g}×", verdict])
    if not rows:
        return []
    return rp.table(["side", "message", "without wsfast", "with wsfast", "raw echo", "speedup", "bound",
                     "target", "verdict"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.06 s samples, one process set")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per process set (default 7)")
    parser.add_argument("--repeats", type=int, default=3, help="sets of fresh processes per size (default 3)")
    parser.add_argument("--large-repeats", type=int, default=9,
                        help=f"sets of fresh processes from {re_.LARGE:,} B up, with rounds to match (default 9)")
    parser.add_argument("--sample", type=float, default=0.15, help="seconds per sample (default 0.15)")
    parser.add_argument("--sizes", help="comma-separated subset of 256,8192,1048576")
    parser.add_argument("--kinds", help="comma-separated subset of binary,text")
    parser.add_argument("--libraries", help=f"comma-separated, from {','.join(LIBRARIES + OTHERS)} (default {','.join(LIBRARIES)})")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    args = parser.parse_args(argv)
    libraries = tuple(args.libraries.split(",")) if args.libraries else LIBRARIES
    if unknown := set(libraries) - set(LIBRARIES + OTHERS):
        parser.error(f"unknown libraries: {', '.join(sorted(unknown))}")
    sizes = tuple(int(size) for size in args.sizes.split(",")) if args.sizes else SIZES
    kinds = tuple(args.kinds.split(",")) if args.kinds else KINDS
    rounds, sample_s, repeats = (3, 0.06, 1) if args.quick else (max(1, args.rounds), args.sample, max(1, args.repeats))
    large_repeats = 1 if args.quick else max(1, args.large_repeats)

    from wsfast import kernels

    if kernels.IMPLEMENTATION != "c":
        parser.error("the C kernels are not loaded: rebuild with `pip install .`")
    load_before = rp._load()
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="wsfast-accelerate-echo-") as tmp:
        results, floors = run(libraries, sizes, kinds, rounds, repeats, large_repeats, sample_s, Path(tmp), progress)

    checks: list[rp.Check] = []
    failing: list[tuple[str, int, str]] = []  # wsproto's failed targets: (side, size, kind)
    failing_elsewhere: list[tuple[str, str, int, str]] = []  # the others': (library, side, size, kind)
    rows = []
    for (library, size, kind), cells in results.items():
        for side in ("server", "client"):
            if (side, library) not in cells:
                continue  # a client-only library
            plain, fast = cells[(side, library)], cells[(side, f"{library}+wsfast")]
            a, b = cpu(plain, size, side), cpu(fast, size, side)
            note = plain.notes.get(size) or fast.notes.get(size) or ""
            speedup = a.median / b.median if a and b else None
            rows.append([library, side, f"{LABELS[size]} {kind}", re_.fmt_us(a), re_.fmt_us(b),
                         f"{speedup:.2f}×" if speedup else f"– {note}"])
            limit = TARGETS.get((library, size, kind))
            if limit is not None:
                group = {library: a, f"{library}+wsfast": b} if a and b else None
                checks.append(rp.ratio_check(f"{library} {side} CPU", f"{LABELS[size]} {kind}", group,
                                             f"{library}+wsfast", library, limit, speedup=True,
                                             skip=None if group else note or "not measured"))
                if library == "wsproto" and checks[-1].passed is False:
                    failing.append((side, size, kind))
                elif checks[-1].passed is False:
                    failing_elsewhere.append((library, side, size, kind))
    processes = 1 if args.quick else SHARE_PROCESSES
    bounds = frame_bound_table(results, failing, processes, progress)
    floor_rows = floor_bound_table(results, floors, failing_elsewhere)
    elapsed = time.perf_counter() - started

    large_sets, large_rounds = re_.process_sets(re_.LARGE, rounds, repeats, large_repeats)
    lines = rp.report_header("wsfast.accelerate: other libraries' echo servers and clients, without and with it",
                             "report_accelerate_echo.py", argv, args.quick, elapsed, load_before)  # fmt: skip
    lines += [
        "- peers: " + "; ".join(f"{name} {rp._dist_version(name)}" for name in libraries),
        f"- method: report_echo.py's processes and controls (see the script's docstring): {rounds} interleaved "
        f"rounds of about {sample_s:g} s on each of {repeats} sets of fresh processes per size and kind (from "
        f"{re_.LARGE:,} B up, {large_rounds} rounds on each of {large_sets} sets), every process pinned to CPU "
        f"{re_.PIN_CPU} and started with the allocator warm. The driver on the other end "
        f"is wsfast's callback API. Figures: medians of CPU µs per round trip of the side under test; ± is "
        "half the interquartile range; speedup = CPU without / CPU with wsfast, from this one run.",
        "",
    ]
    lines += ["## CPU per round trip", ""]
    lines += rp.table(["library", "side", "message", "without wsfast", "with wsfast", "speedup"], rows)
    lines += ["", "## Targets (issue 12)", ""]
    lines += rp.table(["target", "where", "with wsfast", "without", "ratio", "limit", "noise", "result"],
                      [check.row() for check in checks])
    if bounds:
        lines += ["", "## What a frame layer of no cost would give (wsproto)", "",
                  "issue 12 asks for wsproto's frame parsing and serializing on wsfast's codec. What is left of "
                  "wsproto's frame layer with wsfast installed is measured without I/O "
                  "(`benchmarks/_wsproto_frame_share.py`: one echo step of a `WSConnection`, receive, events, "
                  "send, CPU µs per message, the least of the medians of "
                  f"{processes} fresh process{'es' if processes > 1 else ''} per mode, pinned as above): with wsfast, and with wsfast "
                  "and a frame layer that costs nothing (it keeps no bytes, hands out a frame made beforehand "
                  "and returns bytes made beforehand, neither copied nor masked), everything above it (message "
                  "decoder, event generators, events, state) as it runs with wsfast. The difference is the most that any further "
                  "work on the frame layer could take off a round trip; the bound is CPU without wsfast / (CPU "
                  "with wsfast − that difference). A target above its bound is beyond any patch of the frame "
                  "layer: the rest of the cost is wsproto's event layer.", ""]
        lines += bounds
    if floor_rows:
        lines += ["", "## What a WebSocket layer of no cost would give", "",
                  "Under every library here lies the same asyncio transport work: reading the bytes, writing "
                  "them back. The raw asyncio TCP echo of the same bytes (an `asyncio.Protocol` on each side, "
                  "measured in this run with the others, binary) is its CPU per round trip; a library whose "
                  "WebSocket work cost nothing would cost that much. So CPU without wsfast / the raw echo's "
                  "is the most any drop-in could take off: a target above it is beyond this machine for that "
                  "process, whatever the patch. The bound is generous: the raw echo writes each read back as it "
                  "comes, where a WebSocket library holds a message until its end and writes it at once, which "
                  "at 1 MiB is more than the socket takes in one send (the rest is copied into the transport's "
                  "buffer and sent on a later turn of the loop).", ""]
        lines += floor_rows
    failed = any(check.passed is False for check in checks)
    return rp.publish(lines, args.output, failed=failed, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
