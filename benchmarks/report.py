#!/usr/bin/env python3
"""Side-by-side timings of the wsfast kernels against their peers, with a PASS/FAIL per target.

    python benchmarks/report.py                       # Markdown on stdout, progress on stderr
    python benchmarks/report.py --output benchmarks/RESULTS-kernels.md
    python benchmarks/report.py --quick               # fewer rounds, for a smoke run

Method: every contender is a ``timeit`` loop of N calls of one expression whose names are all locals
(no attribute or global look-up inside the loop), divided by N. N is calibrated per contender so that
one sample lasts about ``--sample-ms`` (a single call for the slowest ones), which keeps the loop's own
cost to a few nanoseconds per call even at 16 B (it is measured and printed as "empty loop"; every
figure includes it). The clock is the CPU time of this thread (``time.thread_time``) unless
``--clock wall``: on a 2-core machine shared with other jobs, a wall clock also times the waits for a
CPU, which makes medians 2-3x too high and interquartile ranges 100 %; CPU time does not (memory
bandwidth shared with the other jobs still shows in the largest sizes). The contenders of one group (one kernel at one size) are sampled interleaved,
round after round in rotating order, so that a burst of noise on this shared machine hits all of them
alike; the figures are the medians of the rounds, and "noise" is the interquartile range relative to
the median. Garbage collection is off while timing (timeit's default).

All in one process, so every contender sees the same interpreter, allocator state and CPU.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_cases as bc  # noqa: E402

# ------------------------------------------------------------------------------------ measuring


@dataclass
class Stats:
    median: float  # seconds per call
    q1: float
    q3: float
    number: int  # calls per sample
    rounds: int

    @property
    def noise(self) -> float:
        return (self.q3 - self.q1) / self.median if self.median else 0.0


class Sampler:
    """Times one case on one input: calibrate once, then one sample per call of :meth:`sample`."""

    def __init__(self, case: bc.Case, data: Any, simd: Any, clock: Any) -> None:
        self.case = case
        names = case.bind(data)
        setup = "; ".join(f"{name} = __names[{name!r}]" for name in names) or "pass"
        self.timer = timeit.Timer(case.expr, setup=setup, globals={"__names": names}, timer=clock)
        self.simd = simd
        self.number = 1
        self.samples: list[float] = []

    def _run(self, number: int) -> float:
        if self.case.simd:
            self.simd.select(self.case.simd)
        try:
            return self.timer.timeit(number)
        finally:
            if self.case.simd:
                self.simd.restore()

    def calibrate(self, target: float) -> None:
        self._run(1)  # warm-up: a first call may build caches (aiohttp's XOR table, ...)
        number = 1
        while True:
            elapsed = self._run(number)
            if elapsed >= target / 5 or number >= 10**7:
                break
            number *= 10 if elapsed < target / 50 else 2
        self.number = max(1, round(number * target / elapsed)) if elapsed > 0 else number

    def sample(self) -> None:
        self.samples.append(self._run(self.number) / self.number)

    def stats(self) -> Stats:
        ordered = sorted(self.samples)
        quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
        return Stats(statistics.median(ordered), quartiles[0], quartiles[2], self.number, len(ordered))


class Simd:
    """Switches the C kernels' SIMD level and back to the level chosen at import."""

    def __init__(self) -> None:
        from wsfast import _kernels_c

        self.kernels = _kernels_c
        self.default = _kernels_c._current_simd()

    def select(self, level: str) -> None:
        self.kernels._select_simd(level)

    def restore(self) -> None:
        self.kernels._select_simd(self.default)


def budget(size: int, quick: bool) -> tuple[int, float]:
    """(rounds, seconds per sample) for one group at ``size`` bytes of input."""
    if size >= 16 * bc.MIB:
        rounds, sample = 15, 0.0
    elif size >= bc.MIB:
        rounds, sample = 25, 0.004
    else:
        rounds, sample = 51, 0.001
    if quick:
        rounds = max(3, rounds // 3)
    return rounds, sample


def buffer_address(obj: Any) -> int | None:
    """Where the bytes of ``obj`` start (CPython), for the alignment footnote."""
    try:
        if type(obj) is bytes:
            return id(obj) + sys.getsizeof(b"") - 1
        if type(obj) is bytearray and obj:
            cell = ctypes.c_char.from_buffer(obj)
            try:
                return ctypes.addressof(cell)
            finally:
                del cell
    except Exception:  # noqa: BLE001 - informative only
        return None
    return None


Results = dict[tuple[Any, ...], dict[str, Stats]]


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
CLOCK = CLOCKS["cpu"]


def run_group(cases: list[bc.Case], inputs: dict[str, Any], rounds: int, sample: float,
              simd: Simd) -> dict[str, Stats]:
    samplers = [Sampler(case, inputs[case.input], simd, CLOCK) for case in cases if not case.skip]
    for sampler in samplers:  # also the warm-up
        sampler.calibrate(sample)
    for index in range(rounds):
        shift = index % len(samplers)
        for sampler in samplers[shift:] + samplers[:shift]:
            sampler.sample()
    return {sampler.case.label: sampler.stats() for sampler in samplers}


# ------------------------------------------------------------------------------------ formatting


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ns = seconds * 1e9
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def case_table(first: str, cases: list[bc.Case], columns: list[tuple[str, dict[str, Stats]]]) -> list[str]:
    rows = []
    for case in cases:
        if case.skip:
            rows.append([f"{case.label} *(skipped)*"] + ["–"] * len(columns))
            continue
        rows.append([case.label] + [fmt_time(group[case.label].median) if case.label in group else "–"
                                    for _, group in columns])
    return table([first] + [name for name, _ in columns], rows)


# ------------------------------------------------------------------------------------ targets


@dataclass
class Check:
    target: str
    where: str
    ours: str
    ours_time: float | None
    peer: str
    peer_time: float | None
    limit: str
    value: float | None
    passed: bool | None
    noise: float | None = None
    note: str = ""

    def row(self) -> list[str]:
        verdict = "SKIP" if self.passed is None else ("PASS" if self.passed else "**FAIL**")
        value = "–" if self.value is None else (f"{self.value:.2f}×" if self.peer else f"{self.value:.1f} ns")
        noise = "–" if self.noise is None else f"±{self.noise * 50:.0f}%"
        return [self.target, self.where, f"{self.ours}: {fmt_time(self.ours_time)}",
                f"{self.peer}: {fmt_time(self.peer_time)}" if self.peer else "–",
                value, self.limit, noise, verdict + (f" ({self.note})" if self.note else "")]


def ratio_check(target: str, where: str, group: dict[str, Stats] | None, ours: str, peer: str,
                limit: float, *, speedup: bool = False, skip: str | None = None) -> Check:
    """time(ours) / time(peer) <= limit, or, with ``speedup``, time(peer) / time(ours) >= limit."""
    op = f"≥ {limit:g}× faster" if speedup else f"≤ {limit:g}×"
    if skip or not group or ours not in group or peer not in group:
        return Check(target, where, ours, None, peer, None, op, None, None, note=skip or "not measured")
    a, b = group[ours], group[peer]
    value = b.median / a.median if speedup else a.median / b.median
    passed = value >= limit if speedup else value <= limit
    return Check(target, where, ours, a.median, peer, b.median, op, value, passed, max(a.noise, b.noise))


def checks(results: Results, peers: dict[str, bc.Peer], sizes: tuple[int, ...]) -> list[Check]:
    out: list[Check] = []
    aio, ws = "aiohttp websocket_mask (Cython, in place)", "websockets apply_mask (C)"
    for size in sizes:
        out.append(ratio_check("mask_into vs aiohttp in-place", bc.size_label(size), results.get(("mask", size)),
                               "wsfast mask_into (C)", aio, 0.7, skip=peers["aiohttp"].skip))
    for size in (s for s in sizes if s >= bc.KIB):
        out.append(ratio_check("mask vs copy bytearray(data)", bc.size_label(size), results.get(("mask", size)),
                               "wsfast mask (C)", "copy baseline bytearray(data)", 1.1))
    for size in (s for s in sizes if s <= 64 * bc.KIB):
        out.append(ratio_check("mask vs websockets apply_mask", bc.size_label(size), results.get(("mask", size)),
                               "wsfast mask (C)", ws, 0.6, skip=peers["websockets"].skip))
    for kind, limit in (("mixed", 10.0), ("ascii", 2.0)):
        size = 64 * bc.KIB
        if size in sizes:
            out.append(ratio_check(f"validate_utf8 vs bytes.decode, {kind}", bc.size_label(size),
                                   results.get(("utf8", kind, size)), "wsfast validate_utf8 (C)",
                                   "bytes.decode('utf-8')", limit, speedup=True))
    if 16 in sizes:
        for kind in bc.TEXT_KINDS:
            group = results.get(("utf8", kind, 16), {})
            stats = group.get("wsfast validate_utf8 (C)")
            value = stats.median * 1e9 if stats else None
            out.append(Check(f"validate_utf8 absolute, {kind}", "16 B", "wsfast validate_utf8 (C)",
                             stats.median if stats else None, "", None, "< 25 ns", value,
                             None if value is None else value < 25, stats.noise if stats else None))
    for size in sizes:
        for peer, label in (("wsproto", "wsproto XorMaskerSimple (translate)"),
                            ("aiohttp-python", "aiohttp _websocket_mask_python (translate, in place)")):
            out.append(ratio_check(f"Python mask vs {peer} translate", bc.size_label(size),
                                   results.get(("mask", size)), "wsfast mask (Python twin)", label, 1.0,
                                   skip=peers[peer].skip))
    return out


# ------------------------------------------------------------------------------------ main


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report_header(title: str, script: str, argv: list[str] | None, quick: bool, elapsed: float,
                  load_before: str) -> list[str]:
    """The opening lines every RESULTS-*.md shares: title, the command that made it, date, machine
    and Python. Each report adds its own lines about wsfast and the peers after these."""
    command = "python " + shlex.join([os.path.relpath(sys.argv[0]) if sys.argv[0] else script,
                                      *(argv if argv is not None else sys.argv[1:])])
    return [
        f"# {title}", "", "```", command, "```", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; run time {elapsed:.0f} s"
        + (" (--quick)" if quick else ""),
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}; "
        f"load average {load_before} at the start, {_load()} at the end",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
    ]  # fmt: skip


def publish(lines: list[str], output: Path | None, *, failed: bool, strict: bool) -> int:
    """Print the report, write it to ``output`` if asked; the exit status (1: a target failed
    and ``strict`` asks for that to count)."""
    report = "\n".join(lines)
    print(report)
    if output:
        output.write_text(report)
    return 1 if failed and strict else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="a third of the rounds (smoke run)")
    parser.add_argument("--sizes", help="comma-separated subset of sizes in bytes (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu: time.thread_time (default, robust on a busy machine); wall: time.perf_counter")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = CLOCKS[args.clock]

    import wsfast.kernels as kernels

    if kernels.IMPLEMENTATION != "c":
        parser.error("the C kernels are not loaded (wsfast.kernels.IMPLEMENTATION is "
                     f"{kernels.IMPLEMENTATION!r}): rebuild with `pip install .`")
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else bc.SIZES
    load_before = _load()
    started = time.perf_counter()
    simd = Simd()
    peers = bc.load_peers()
    results: Results = {}

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    # The loop's own cost: an expression that does nothing.
    empty = bc.Case("empty loop", "None", {})
    loop = run_group([empty], {"bytes": b""}, 21, 0.002, simd)["empty loop"]

    mask_cases = bc.mask_cases(peers)
    alignment: dict[int, tuple[int | None, ...]] = {}
    from wsfast import _kernels_c
    for size in sizes:
        progress(f"mask {bc.size_label(size)}")
        blob = bc.payload(size)
        inputs = {"bytes": blob, "bytearray": bytearray(blob)}
        results[("mask", size)] = run_group(mask_cases, inputs, *budget(size, args.quick), simd)
        # Where a new result lands: in a steady loop the allocator hands out the same block each call.
        alignment[size] = (buffer_address(inputs["bytes"]), buffer_address(inputs["bytearray"]),
                           buffer_address(_kernels_c.mask(blob, bc.KEY)))

    utf8_cases = bc.utf8_cases(peers)
    for kind in bc.TEXT_KINDS:
        for size in sizes:
            progress(f"utf8 {kind} {bc.size_label(size)}")
            inputs = {"text": bc.text(kind, size)}
            results[("utf8", kind, size)] = run_group(utf8_cases, inputs, *budget(size, args.quick), simd)

    simd_kernels = (("mask_into", None), ("mask", None), ("validate_utf8", "mixed"), ("validate_utf8", "ascii"))
    for size in bc.SIMD_SIZES:
        for kernel, kind in simd_kernels:
            progress(f"simd {kernel} {kind or ''} {bc.size_label(size)}")
            blob = bc.payload(size)
            inputs = {"bytes": blob, "bytearray": bytearray(blob), "text": bc.text(kind or "ascii", size)}
            results[("simd", kernel, kind, size)] = run_group(bc.simd_cases(kernel), inputs,
                                                              *budget(size, args.quick), simd)

    # mask_into on the same page-aligned memory at each offset mod 64: how much alignment matters.
    import mmap

    sweep_sizes = [s for s in (16 * bc.KIB, 64 * bc.KIB, bc.MIB) if s in sizes]
    sweep: dict[int, dict[int, Stats]] = {}
    if sweep_sizes:
        progress("alignment sweep")
        memory = mmap.mmap(-1, max(sweep_sizes) + 64)
        view = memoryview(memory)
        offsets = (0, 16, 32, 48)
        cases = [bc.Case(f"+{o}", "f(data, key)", {"f": _kernels_c.mask_into}, f"+{o}") for o in offsets]
        for size in sweep_sizes:
            inputs = {f"+{o}": view[o:o + size] for o in offsets}
            group = run_group(cases, inputs, *budget(size, args.quick), simd)
            sweep[size] = {o: group[f"+{o}"] for o in offsets}
            del inputs, group
        del view

    progress("frame headers, HTTP head")
    frame_cases = bc.frame_header_cases()
    for name, header in bc.FRAME_HEADERS.items():
        results[("frame", name)] = run_group(frame_cases, {"bytes": header}, *budget(16, args.quick), simd)
    http_cases = bc.http_head_cases(peers)
    results[("http",)] = run_group(http_cases, {"bytes": bc.HTTP_REQUEST}, *budget(1024, args.quick), simd)
    elapsed = time.perf_counter() - started
    progress("done")

    # ---------------------------------------------------------------------------- the report
    lines = report_header("wsfast kernel benchmarks", "report.py", argv, args.quick, elapsed, load_before)
    lines += [
        f"- wsfast {_dist_version('wsfast')}: IMPLEMENTATION={kernels.IMPLEMENTATION}, SIMD={simd.default}, "
        f"available {', '.join(kernels.available_simd())}; {_build_info(simd.kernels)}",
        "- peers: " + "; ".join(f"{p.name} {p.version}" if not p.skip else f"{p.name}: SKIPPED ({p.skip})"
                               for p in peers.values()),
        f"- method: medians of interleaved rounds of timeit loops (N calls / N), GC off, "
        f"{'CPU time of the thread (time.thread_time)' if args.clock == 'cpu' else 'wall clock'}; an empty loop costs "
        f"{fmt_time(loop.median)} per call, included in every figure. Ratios are time(wsfast) / time(peer) "
        "unless marked 'faster'; noise is ±half the interquartile range of the noisier of the two.",
        "",
    ]

    lines += ["## Targets", ""]
    found = checks(results, peers, sizes)
    lines += table(["target", "size", "wsfast", "peer", "ratio / value", "limit", "noise", "result"],
                   [c.row() for c in found])
    passed = sum(c.passed is True for c in found)
    failed = sum(c.passed is False for c in found)
    skipped = sum(c.passed is None for c in found)
    lines += ["", f"**{passed} passed, {failed} failed, {skipped} skipped** (one row per target and size)", ""]
    lines += ["### PASS/FAIL per target", ""]
    by_target: dict[str, list[Check]] = {}
    for check in found:
        by_target.setdefault(check.target, []).append(check)
    for target, group in by_target.items():
        fails = [c.where for c in group if c.passed is False]
        skips = [c.where for c in group if c.passed is None]
        verdict = "SKIP" if len(skips) == len(group) else ("FAIL" if fails else "PASS")
        detail = f" at {', '.join(fails)}" if fails else ""
        detail += f" (skipped at {', '.join(skips)})" if skips and verdict != "SKIP" else ""
        lines.append(f"- {verdict}: {target}{detail}")
    lines.append("")

    lines += ["## Masking (median time per call)", ""]
    lines += case_table("contender", mask_cases, [(bc.size_label(s), results[("mask", s)]) for s in sizes])
    lines += ["", "Buffer alignment, address mod 64 (the 64-byte vectors of AVX-512 split a cache line when "
              "it is not 0): " + "; ".join(f"{bc.size_label(s)}: input bytes {_mod(a[0])}, input bytearray "
                                          f"{_mod(a[1])}, mask() output {_mod(a[2])}"
                                          for s, a in alignment.items()), ""]

    if sweep:
        lines += ["### mask_into (C) by buffer alignment", "",
                  "The same page-aligned memory, passed as a memoryview starting at each offset (the buffer "
                  "protocol path of the glue, a few ns slower than a bytearray).", ""]
        lines += table(["size"] + [f"address mod 64 = {o}" for o in (0, 16, 32, 48)],
                       [[bc.size_label(size)] + [fmt_time(row[o].median) for o in (0, 16, 32, 48)]
                        for size, row in sweep.items()])
        lines.append("")

    for kind in bc.TEXT_KINDS:
        lines += [f"## UTF-8 validation, {kind} text (median time per call)", ""]
        lines += case_table("contender", utf8_cases, [(bc.size_label(s), results[("utf8", kind, s)]) for s in sizes])
        lines.append("")

    lines += ["## C kernels per SIMD level", ""]
    levels = bc.simd_levels()
    rows = []
    for size in bc.SIMD_SIZES:
        for kernel, kind in simd_kernels:
            group = results[("simd", kernel, kind, size)]
            name = f"{kernel}{f' ({kind})' if kind else ''} {bc.size_label(size)}"
            rows.append([name] + [fmt_time(group[f"{kernel} [{lv}]"].median) if f"{kernel} [{lv}]" in group
                                  else "n/a" for lv in levels])
    lines += table(["kernel, input"] + list(levels), rows)
    lines.append("")

    lines += ["## Frame header and HTTP head parsing (median time per call)", ""]
    lines += case_table("contender", frame_cases, [(name, results[("frame", name)]) for name in bc.FRAME_HEADERS])
    lines.append("")
    lines += case_table("contender", http_cases, [(f"{len(bc.HTTP_REQUEST)}-byte upgrade request", results[("http",)])])
    lines.append("")

    return publish(lines, args.output, failed=bool(failed), strict=args.strict)


def _build_info(module: Any) -> str:
    """When the C extension in use was built, and the commit of the tree this script is in."""
    import subprocess

    info = []
    try:
        built = datetime.datetime.fromtimestamp(Path(module.__file__).stat().st_mtime, datetime.timezone.utc)
        info.append(f"extension built {built:%Y-%m-%d %H:%M} UTC")
    except (OSError, TypeError):
        pass
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        info.append(f"tree at {commit}{' with local changes' if dirty else ''}")
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(info) or "build unknown"


def _load() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def _mod(address: int | None) -> str:
    return "?" if address is None else str(address % 64)


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    sys.exit(main())
