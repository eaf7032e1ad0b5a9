"""pytest-benchmark timings of wsfast's frame codec and its peers: decoding, encoding, permessage-deflate.

    python -m pytest benchmarks/test_bench_frames.py --benchmark-only
    python -m pytest benchmarks/test_bench_frames.py --benchmark-only -k "decode and 10_B_text"

The contenders, workloads and checks are those of ``benchmarks/report_frames.py`` (see
``_frame_peers.py``), which gives the side-by-side medians and the PASS/FAIL per target. Groups:

- ``decode <stream>``: one call decodes a whole stream of 100,000 frames (divide by 100,000 for the
  time per frame), after a check that the decoder delivers exactly the stream's payloads. Run in
  pedantic mode, one call per round, as many rounds as fit in about a quarter of a second (3 to 20).
- ``encode <frame>``: one frame per call, after a check that the frame decodes back to its payload.
- ``deflate <size>``: one compress + decompress round trip of a JSON text message per call.

Encode and deflate also run in pedantic mode, calibrated here (rounds of at least 50 µs, about a
quarter of a second in all), because pytest-benchmark's own calibration sometimes picks one call per
round for these sub-microsecond calls, and then times the clock.

pytest-benchmark leaves the garbage collector on (``report_frames.py`` gives both); add
``--benchmark-disable-gc`` to time without it. Peers that are not installed are skipped, with the
reason.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pytest_benchmark", reason="pip install pytest-benchmark (the [bench] extra)")

import _frame_peers as fp  # noqa: E402

PEERS = fp.load_peers()
WORKLOADS = fp.Workloads()


def _id(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z.]+", "_", text).strip("_")


def _param(case: fp.BenchCase, *extra: Any) -> Any:
    return pytest.param(case.label, *extra, id=_id(" ".join([case.label, *(getattr(e, "label", str(e)) for e in extra)])),
                        marks=[pytest.mark.skip(reason=case.skip)] if case.skip else [])


@pytest.fixture(scope="module")
def harness() -> Iterator[fp.PicowsHarness | None]:
    """picows' objects need an event loop to be built; closed after the module's benchmarks."""
    if PEERS["picows"].skip:
        yield None
        return
    harness = fp.PicowsHarness(PEERS["picows"].names["module"])
    try:
        yield harness
    finally:
        harness.close()


def _scenario_id(scenario: fp.Scenario) -> str:
    return _id(scenario.label)


@pytest.mark.parametrize("scenario", fp.SCENARIOS, ids=_scenario_id)
@pytest.mark.parametrize("label", [_param(case) for case in fp.decode_cases(PEERS, masked=True)])
def test_decode(benchmark: Any, harness: fp.PicowsHarness | None, label: str, scenario: fp.Scenario) -> None:
    stream = WORKLOADS.stream(scenario.kind, scenario.masked)
    cases = fp.decode_cases(PEERS, scenario.masked, fp.picows_buffer_size(scenario, len(stream)))
    case = next(c for c in cases if c.label == label)
    case.build(harness)
    chunks = WORKLOADS.chunks(scenario)
    error, elapsed = fp.verify(case, chunks, WORKLOADS.payloads(scenario.kind))  # also the warm-up
    assert error is None, error
    benchmark.group = f"decode {scenario.label} ({fp.FRAMES:,} frames per call)"
    benchmark.extra_info["frames_per_call"] = fp.FRAMES
    rounds = max(3, min(20, int(0.25 / max(elapsed, 1e-6))))
    benchmark.pedantic(case.names["run"], args=(chunks,), rounds=rounds, iterations=1)


def _encode_params() -> list[Any]:
    params = []
    for kind in fp.KINDS:
        for masked in (False, True):
            for case in fp.encode_cases(PEERS, kind, masked):
                params.append(_param(case, kind, "masked" if masked else "unmasked"))
    return params


@pytest.mark.parametrize(("label", "kind", "direction"), _encode_params())
def test_encode(benchmark: Any, harness: fp.PicowsHarness | None, label: str, kind: fp.Kind, direction: str) -> None:
    masked = direction == "masked"
    case = next(c for c in fp.encode_cases(PEERS, kind, masked) if c.label == label).build(harness)
    error = fp.verify_encoder(case, kind, masked)
    assert error is None, error
    function = case.function(fp.payloads(kind, 1)[0])
    benchmark.group = f"encode {kind.label}, {direction}"
    _pedantic(benchmark, function)


def _pedantic(benchmark: Any, function: Any) -> None:
    """Calls of well under a microsecond: pytest-benchmark's own calibration sometimes settles on one
    call per round, which then mostly times the clock (a thread_time call costs a few hundred ns). So
    calibrate here: rounds of at least 50 µs, as many as fit in about a quarter of a second."""
    clock = time.perf_counter  # only to size the rounds
    for _ in range(20):  # warm up
        function()
    calls, elapsed = 1, 0.0
    while True:
        started = clock()
        for _ in range(calls):
            function()
        elapsed = clock() - started
        if elapsed >= 5e-3 or calls >= 1 << 20:
            break
        calls *= 4
    per_call = max(elapsed / calls, 1e-9)
    iterations = max(1, int(50e-6 / per_call))
    rounds = max(5, min(5000, int(0.25 / (iterations * per_call))))
    benchmark.pedantic(function, rounds=rounds, iterations=iterations, warmup_rounds=1)


@pytest.mark.parametrize("size", fp.DEFLATE_SIZES, ids=[f"{s // fp.KIB}_KiB" for s in fp.DEFLATE_SIZES])
@pytest.mark.parametrize("label", [_param(case) for case in fp.deflate_cases(fp.KIB)])
def test_deflate(benchmark: Any, label: str, size: int) -> None:
    # The labels do not depend on the size; the cases (and their messages) do.
    case = next(c for c in fp.deflate_cases(size) if c.label == label).build()  # checks a round trip per message
    benchmark.group = f"deflate round trip, {size // fp.KIB} KiB JSON text"
    _pedantic(benchmark, case.names["rt"])
