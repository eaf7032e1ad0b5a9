"""pytest plugin of the third-party runs (``-p wsfast_thirdparty_plugin``): after each test, including
its fixtures' teardown, check that wsfast's replacements are still in place (``sitecustomize.check``).

A test that reloads a patched module, or puts an original back, would otherwise leave every later
test running without wsfast, and the run would pass without showing it.

``WSFAST_THIRDPARTY_ONLY``, when set, holds the ids of the tests to run, one per line, as the JUnit
report names them (``module.Class::name``): the others are deselected (run.py's reruns).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sitecustomize

ONLY = frozenset(line for line in os.environ.get("WSFAST_THIRDPARTY_ONLY", "").split("\n") if line)


def junit_id(nodeid: str) -> str:
    """A node id as pytest's JUnit report names the test: ``classname::name``, where the classname
    is the file's path in dots, without ``.py``, then its classes."""
    path, bracket, parameters = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + parameters
    return f"{'.'.join(names[:-1])}::{names[-1]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ONLY:
        return
    chosen = {item: junit_id(item.nodeid) in ONLY for item in items}
    config.hook.pytest_deselected(items=[item for item in items if not chosen[item]])
    items[:] = [item for item in items if chosen[item]]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    yield
    sitecustomize.check(item.nodeid)
