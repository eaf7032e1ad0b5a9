"""``python -m unittest``, less the tests that run.py excludes, for the suites run with unittest.

    python -m wsfast_thirdparty_unittest -v -b [unittest's arguments]

``WSFAST_THIRDPARTY_EXCLUDE`` holds the ids (``package.module.Class.test``) of the tests not to run,
comma-separated (suites.py's ``Suite.excluded`` says why each one is). They are still collected, and
reported as skipped, so that both runs list the same tests and a renamed or vanished id shows; but
their code never runs: one of them can retry without end on a slow machine. unittest itself has no
option to leave a test out (``-k`` only selects).

``WSFAST_THIRDPARTY_TEST_TIMEOUT`` (seconds) bounds each test, as pytest-timeout does for the pytest
suites: a test that hangs makes the process print every thread's stack and exit, so that the log
says where, rather than the whole run being killed at run.py's limit with nothing to show.
"""

from __future__ import annotations

import faulthandler
import os
import unittest
from typing import Any

EXCLUDED = frozenset(name for name in os.environ.get("WSFAST_THIRDPARTY_EXCLUDE", "").split(",") if name)
REASON = "excluded by tests/thirdparty/suites.py"
TEST_TIMEOUT = float(os.environ.get("WSFAST_THIRDPARTY_TEST_TIMEOUT") or 0)


class ExcludingLoader(unittest.TestLoader):
    """A loader whose excluded tests skip instead of running."""

    def loadTestsFromTestCase(self, testCaseClass: Any) -> unittest.TestSuite:  # noqa: N802, N803 - unittest's names
        suite = super().loadTestsFromTestCase(testCaseClass)
        for test in suite:
            if isinstance(test, unittest.TestCase) and test.id() in EXCLUDED:
                name = test._testMethodName
                # an attribute of this instance only: unittest runs getattr(test, name), and skips
                # what unittest.skip marked, for every kind of TestCase (asyncio's too)
                setattr(test, name, unittest.skip(REASON)(getattr(test, name)))
        return suite


class BoundedResult(unittest.TextTestResult):
    """A result that gives each test TEST_TIMEOUT seconds before dumping the stacks and exiting."""

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        if TEST_TIMEOUT:
            faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        super().stopTest(test)
        faulthandler.cancel_dump_traceback_later()


class BoundedRunner(unittest.TextTestRunner):
    """unittest's runner, with :class:`BoundedResult`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["resultclass"] = BoundedResult  # unittest.main makes the runner with its options as keywords
        super().__init__(*args, **kwargs)


if __name__ == "__main__":
    unittest.main(module=None, testLoader=ExcludingLoader(), testRunner=BoundedRunner)
