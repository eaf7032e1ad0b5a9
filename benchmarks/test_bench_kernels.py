"""pytest-benchmark timings of the wsfast kernels and their peers, one group per kernel and size.

    python -m pytest benchmarks --benchmark-only --benchmark-group-by=group
    python -m pytest benchmarks --benchmark-only --benchmark-group-by=group -k "test_mask and 16_B"

Every benchmark calls ``lambda: <expression>``, the same expression for every contender of a group,
so the harness overhead (a lambda frame plus pytest-benchmark's loop, a few tens of nanoseconds) is
the same for all of them; it still weighs on the 16-byte groups, whose carefully measured figures
are in ``benchmarks/report.py``. The 16 MiB groups run in pedantic mode (3 rounds of 1 call after a
warm-up call) to keep the run short. Peers that are not installed are skipped, with the reason.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pytest_benchmark", reason="pip install pytest-benchmark (the [bench] extra)")

import _bench_cases as bc  # noqa: E402

PEERS = bc.load_peers()
BIG = 16 * bc.MIB


def _id(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z.]+", "_", text).strip("_")


def _params(cases: list[bc.Case], *extra: object) -> list[object]:
    return [pytest.param(case, *extra, id=_id(" ".join([case.label, *(str(e) for e in extra if e)])),
                         marks=[pytest.mark.skip(reason=case.skip)] if case.skip else [])
            for case in cases]


_INPUTS: dict[tuple[str, str | None, int], object] = {}


def inputs(input: str, kind: str | None, size: int) -> object:
    """The input of one size, made once and shared by every contender of a group: the same buffer,
    so the same alignment, for the contenders being compared."""
    key = (input, kind, size)
    if key not in _INPUTS:
        if input == "text":
            _INPUTS[key] = bc.text(kind or "ascii", size)
        elif input == "bytearray":
            _INPUTS[key] = bytearray(bc.payload(size))
        else:
            _INPUTS[key] = bc.payload(size)
    return _INPUTS[key]


def run(benchmark, case: bc.Case, data: object, size: int) -> None:
    function = case.function(data)
    # Warm up first: a slow first call (cold caches, the interpreter specializing the lambda, page
    # faults) would make pytest-benchmark calibrate to one call per round and time the timer instead.
    for _ in range(1 if size >= BIG else 20):
        function()
    if size >= BIG:
        benchmark.pedantic(function, rounds=3, iterations=1, warmup_rounds=1)
    else:
        benchmark(function)


@pytest.mark.parametrize("size", bc.SIZES, ids=[_id(bc.size_label(s)) for s in bc.SIZES])
@pytest.mark.parametrize("case", _params(bc.mask_cases(PEERS)))
def test_mask(benchmark, case: bc.Case, size: int) -> None:
    benchmark.group = f"mask {bc.size_label(size)}"
    run(benchmark, case, inputs(case.input, None, size), size)


@pytest.mark.parametrize("size", bc.SIZES, ids=[_id(bc.size_label(s)) for s in bc.SIZES])
@pytest.mark.parametrize("kind", bc.TEXT_KINDS)
@pytest.mark.parametrize("case", _params(bc.utf8_cases(PEERS)))
def test_utf8(benchmark, case: bc.Case, kind: str, size: int) -> None:
    benchmark.group = f"utf8 {kind} {bc.size_label(size)}"
    run(benchmark, case, inputs("text", kind, size), size)


_SIMD_KERNELS = [("mask_into", None), ("mask", None), ("validate_utf8", "mixed"), ("validate_utf8", "ascii")]


@pytest.mark.parametrize("size", bc.SIMD_SIZES, ids=[_id(bc.size_label(s)) for s in bc.SIMD_SIZES])
@pytest.mark.parametrize(
    "case, kind",
    [param for kernel, kind in _SIMD_KERNELS for param in _params(bc.simd_cases(kernel), kind)],
)
def test_simd_level(benchmark, simd_level, case: bc.Case, kind: str | None, size: int) -> None:
    benchmark.group = f"simd {case.label.split(' ')[0]}{f' {kind}' if kind else ''} {bc.size_label(size)}"
    simd_level(case.simd)
    run(benchmark, case, inputs(case.input, kind, size), size)


@pytest.mark.parametrize("header", list(bc.FRAME_HEADERS), ids=[_id(h) for h in bc.FRAME_HEADERS])
@pytest.mark.parametrize("case", _params(bc.frame_header_cases()))
def test_frame_header(benchmark, case: bc.Case, header: str) -> None:
    benchmark.group = f"frame header {header}"
    run(benchmark, case, bc.FRAME_HEADERS[header], 0)


@pytest.mark.parametrize("case", _params(bc.http_head_cases(PEERS)))
def test_http_head(benchmark, case: bc.Case) -> None:
    benchmark.group = f"http head {len(bc.HTTP_REQUEST)} B"
    run(benchmark, case, bc.HTTP_REQUEST, 0)
