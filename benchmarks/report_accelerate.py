#!/usr/bin/env python3
"""Other libraries' own workloads before and after ``wsfast.accelerate.install(<library>)``, with PASS/FAIL per target.

    python benchmarks/report_accelerate.py                     # Markdown on stdout, progress on stderr
    python benchmarks/report_accelerate.py --output benchmarks/RESULTS-accelerate.md
    python benchmarks/report_accelerate.py --quick             # a third of the rounds, for a smoke run

The workloads (``_accelerate_workloads.py``) go through each library's own API: wsproto receiving a
1 MiB masked message, websocket-client building and sending 64 KiB frames, autobahn and ws4py
validating 64 KiB of text, tornado masking and echoing 100 KB, websockets and aiohttp masking.

Method: each workload runs in a process of its own (so that its environment, such as
``AUTOBAHN_USE_NVX=0`` or a hidden wsaccel, and its install affect nothing else), as two contenders,
"before" and "after": the same ``work()`` function, timed right after ``wsfast.accelerate.uninstall()``
or ``install()``. Their results are checked first, against a reference computed from the inputs with
wsfast's kernels. Timing is ``report.py``'s: calibrated timeit loops (one sample lasts about
``--sample-ms``), the two contenders sampled interleaved, round after round in alternating order, the
medians of the rounds compared, the CPU time of the thread (``time.thread_time``) unless ``--clock
wall``, garbage collection off while timing. The speedup is time(before) / time(after).

Needs the libraries (``pip install -e .[bench]``; autobahn, ws4py and websocket-client too). A library
that is not installed is skipped, and the report says why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _accelerate_workloads as aw  # noqa: E402
import _bench_cases as bc  # noqa: E402
import report as rp  # noqa: E402

BEFORE, AFTER = "before", "after"
CHILD_TIMEOUT = 600


# ------------------------------------------------------------------------------------ the child process


class StateSampler(rp.Sampler):
    """A sampler that puts the library in its state (installed or not) before every sample."""

    def __init__(self, case: bc.Case, enter: Any, clock: Any) -> None:
        super().__init__(case, None, None, clock)
        self.enter = enter

    def _run(self, number: int) -> float:
        self.enter()
        return super()._run(number)


def _describe(obj: Any) -> str:
    """``module.name`` of an object, and whether it is Python code or compiled."""
    module = getattr(obj, "__module__", "?")
    if module not in sys.modules:  # a C module that names itself wrongly (websockets: "websocket.speedups")
        tail = "." + module.rpartition(".")[2]
        module = next((name for name, loaded in list(sys.modules.items())
                       if name.endswith(tail) and getattr(loaded, getattr(obj, "__name__", ""), None) is obj), module)
    name = f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"
    if isinstance(obj, type):
        return f"class {name}"
    return f"{name} ({'Python' if isinstance(obj, types.FunctionType) else 'compiled'})"


def _resolve(path: str) -> Any:
    import importlib

    module, _, attribute = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):  # "Class.method" too
        found = getattr(found, part)
    return found


def measure(workload: aw.Workload, rounds: int, sample: float, clock: Any) -> dict[str, Any]:
    """Build, check and time one workload, before and after the install (in this process)."""
    from wsfast import accelerate, kernels

    aw.apply_environment(workload)
    for module in workload.needs:
        __import__(module)
    work, check = workload.build()
    original = _resolve(workload.original)

    def before() -> None:
        accelerate.uninstall(workload.library)

    def after() -> None:
        accelerate.install(workload.library)

    after()
    replacement = _resolve(workload.original)
    if replacement is original or not getattr(replacement, "__module__", "").startswith("wsfast."):
        raise AssertionError(f"install({workload.library!r}) did not replace {workload.original}")
    check(work())
    before()
    if _resolve(workload.original) is not original:
        raise AssertionError(f"uninstall({workload.library!r}) did not restore {workload.original}")
    check(work())

    samplers = [StateSampler(bc.Case(label, "work()", {"work": work}), enter, clock)
                for label, enter in ((BEFORE, before), (AFTER, after))]  # fmt: skip
    for sampler in samplers:
        sampler.calibrate(sample)
    for index in range(rounds):
        for sampler in samplers if index % 2 == 0 else samplers[::-1]:
            sampler.sample()
    before()
    stats = {sampler.case.label: sampler.stats() for sampler in samplers}
    return {
        "stats": {label: [s.median, s.q1, s.q3, s.number, s.rounds] for label, s in stats.items()},
        "before_runs": _describe(original),
        "after_runs": _describe(replacement),
        "kernels": kernels.IMPLEMENTATION,
    }


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--sample", type=float, required=True)
    parser.add_argument("--clock", choices=rp.CLOCKS, required=True)
    args = parser.parse_args(argv)
    workload = aw.by_name(args.name)
    try:
        result = measure(workload, args.rounds, args.sample, rp.CLOCKS[args.clock])
    except ImportError as error:
        result = {"skip": f"{type(error).__name__}: {error}"}
    print(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------ the report


def run_child(workload: aw.Workload, rounds: int, sample: float, clock: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", workload.name, "--rounds", str(rounds), "--sample", str(sample),
               "--clock", clock]  # fmt: skip
    try:
        done = subprocess.run(command, env={**os.environ, **workload.env}, capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {CHILD_TIMEOUT} s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _left(table: list[str], columns: int) -> list[str]:
    """``table`` (from report.table) with its first ``columns`` columns aligned left: they hold text."""
    cells = table[1].strip("|").split("|")
    table[1] = "|" + "|".join(["---"] * columns + cells[columns:]) + "|"
    return table


def _stats(raw: list[float]) -> rp.Stats:
    median, q1, q3, number, rounds = raw
    return rp.Stats(median, q1, q3, int(number), int(rounds))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="a third of the rounds (smoke run)")
    parser.add_argument("--only", help="comma-separated workloads: " + ", ".join(w.name for w in aw.WORKLOADS))
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds per workload (default 25)")
    parser.add_argument("--sample-ms", type=float, default=20.0, help="length of one sample (default 20 ms)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    parser.add_argument("--clock", choices=rp.CLOCKS, default="cpu",
                        help="cpu: time.thread_time (default, robust on a busy machine); wall: time.perf_counter")
    args = parser.parse_args(argv)
    workloads = [aw.by_name(name.strip()) for name in args.only.split(",")] if args.only else list(aw.WORKLOADS)
    rounds = max(3, args.rounds // 3) if args.quick else args.rounds

    from wsfast import kernels

    load_before = rp._load()
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        print(f"[{time.perf_counter() - started:6.1f} s] {workload.name}", file=sys.stderr, flush=True)
        results[workload.name] = run_child(workload, rounds, args.sample_ms / 1000, args.clock)
    elapsed = time.perf_counter() - started

    lines = rp.report_header("wsfast.accelerate: other libraries before and after", "report_accelerate.py", argv,
                             args.quick, elapsed, load_before)  # fmt: skip
    dists = sorted({workload.dist for workload in workloads} | {"wsaccel"})
    lines += [
        f"- wsfast {rp._dist_version('wsfast')}: IMPLEMENTATION={kernels.IMPLEMENTATION}, SIMD={kernels.SIMD}",
        "- libraries: " + ", ".join(f"{dist} {rp._dist_version(dist)}" for dist in dists),
        (f"- method: each workload in a process of its own, timed right after `wsfast.accelerate.uninstall()` "
         f"(before) and `install()` (after), {rounds} interleaved rounds of calibrated timeit loops, medians, "
         f"{'CPU time of the thread (time.thread_time)' if args.clock == 'cpu' else 'wall clock'}, GC off; "
         "results checked against wsfast's kernels before timing. Speedup = time(before) / time(after); "
         "noise is ±half the interquartile range of the noisier of the two."),
        "",
        "## Targets",
        "",
    ]
    checks = []
    for workload in workloads:
        if workload.target is None:
            continue
        result = results[workload.name]
        group = {label: _stats(raw) for label, raw in result.get("stats", {}).items()}
        checks.append(rp.ratio_check(workload.name, workload.title, group or None, AFTER,
                                     BEFORE, workload.target, speedup=True,
                                     skip=result.get("skip") or result.get("error")))  # fmt: skip
    lines += _left(rp.table(["target", "workload", "after (wsfast)", "before", "speedup", "limit", "noise", "result"],
                            [check.row() for check in checks]), 2)  # fmt: skip
    passed = sum(check.passed is True for check in checks)
    failed = sum(check.passed is False for check in checks)
    skipped = sum(check.passed is None for check in checks)
    lines += ["", f"**{passed} passed, {failed} failed, {skipped} skipped**", "", "## Every workload", ""]
    rows = []
    for workload in workloads:
        result = results[workload.name]
        if "stats" not in result:
            reason = result.get("skip") or f"**error**: {result.get('error')}"
            rows.append([workload.library, workload.title, "–", "–", "–", "–", f"SKIP ({reason})"])
            continue
        b, a = _stats(result["stats"][BEFORE]), _stats(result["stats"][AFTER])
        rows.append([workload.library, workload.title, f"`{result['before_runs']}`", rp.fmt_time(b.median),
                     rp.fmt_time(a.median), f"{b.median / a.median:.2f}×", f"±{max(a.noise, b.noise) * 50:.0f}%"])
    lines += _left(rp.table(["library", "workload", "before runs", "before", "after", "speedup", "noise"], rows), 3)
    lines += ["", "Why some speedups are small:", "",
              "- websockets (SSE2) and aiohttp (Cython, 8 bytes at a time, vectorized by the compiler) mask in C "
              "at close to the speed of the memory already, so wsfast's kernel gains little there, and the rest "
              "of each workload (copies, parsing) is what it was.",
              "- tornado's C mask is several times slower than wsfast's, but in an echo over TCP masking is a "
              "small part of the time: the sockets, the event loop and tornado's own code are the rest.",
              "- wsproto fed in 64 KiB reads: after the install, masking is a few per cent of the time; the rest "
              "is wsproto's own buffering (`bytearray +=` per read, a slice copy per piece of the frame) and "
              "joining the pieces, which wsfast.accelerate does not replace.", ""]
    return rp.publish(lines, args.output, failed=bool(failed), strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
