"""pytest settings for the kernel benchmarks (run on demand, never part of the test suite).

    python -m pytest benchmarks --benchmark-only --benchmark-group-by=group

pyproject's pytest settings apply here too (``filterwarnings = error``, ``--strict-markers``,
``--strict-config``); the ``benchmark`` marker is pytest-benchmark's own. Two defaults differ from
pytest-benchmark's, each only when the command line does not set it:

- ``--benchmark-timer=time.thread_time``: the CPU time of the benchmarking thread. The machines this
  project runs on have 2 cores shared with other jobs; a wall clock then times the scheduler (medians
  off by 2-3x, interquartile ranges of 100 %), the thread's CPU time does not.
- ``--benchmark-max-time=0.25`` instead of 1 s per benchmark, which keeps a full run near a minute.

The side-by-side comparison with PASS/FAIL per target is ``benchmarks/report.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_MAX_TIME = 0.25
DEFAULT_TIMER = "time.thread_time"


def _given(config: pytest.Config, option: str) -> bool:
    words = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    return any(str(word).split("=", 1)[0] == option for word in words)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest-benchmark's own pytest_configure reads the option into its session.
    if not hasattr(config.option, "benchmark_max_time"):  # pytest-benchmark is not installed
        return
    if not _given(config, "--benchmark-max-time"):
        config.option.benchmark_max_time = DEFAULT_MAX_TIME
    if not _given(config, "--benchmark-timer"):
        config.option.benchmark_timer = DEFAULT_TIMER


@pytest.fixture
def simd_level():
    """Select a SIMD level of the C kernels for one benchmark, and restore the previous one after."""
    from wsfast import _kernels_c

    before = _kernels_c._current_simd()
    yield _kernels_c._select_simd
    _kernels_c._select_simd(before)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "_benchmarksession"):
        return
    skip = pytest.mark.skip(reason="pytest-benchmark is not active (not installed, or -p no:benchmark)")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
