"""pytest plugin of the third-party runs (``-p wsfast_thirdparty_plugin``): after each test, including
its fixtures' teardown, check that wsfast's replacements are still in place (``sitecustomize.check``).

A test that reloads a patched module, or puts an original back, would otherwise leave every later
test running without wsfast, and the run would pass without showing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sitecustomize


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    yield
    sitecustomize.check(item.nodeid)
