"""The third-party test suites that run.py runs with and without wsfast: where each one's tests come
from, how they are run, and what is known about them.

Each suite runs against the library *installed* in run.py's environment, never against the sdist's
copy of the library: tornado and autobahn ship their tests inside the installed package, so they run
from there and need no sdist; for the others only the test files are copied out of the sdist of the
installed version, into a folder that holds no copy of the library (sdist roots and websocket-client's
``websocket/`` would otherwise come first on ``sys.path``). The start-up hook records the file of every
library module the tests imported, and run.py checks that it lies in the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["SUITES", "Suite", "by_id"]


@dataclass(frozen=True)
class Suite:
    """One library's own tests.

    Attributes:
        name: the ``wsfast.accelerate`` name (``"wsaccel"``: wsaccel's tests against wsfast.compat).
        variant: set for a second run of the same library in another configuration (see ``env``);
            the suite's id is then ``name-variant``.
        dist: the distribution on PyPI, whose installed version picks the sdist.
        modules: the library's top-level import names (their files are checked after the run).
        copy: paths inside the sdist (below its top folder) copied into the work folder; empty when
            the tests ship with the installed package and no sdist is needed.
        runner: ``"pytest"`` or ``"tornado"`` (tornado's own unittest runner, ``tornado.test.runtests``).
        args: what the runner is given after its options: test paths below the work folder, or
            ``--pyargs`` names for tests inside the installed package.
        pytest_ini: a pytest.ini inside the sdist to run with (its ``addopts``, meant for the
            project's own CI, dropped); by default an empty one, so that no configuration around
            the work folder (such as wsfast's own pyproject.toml) applies.
        options: further runner options (markers to deselect, plugins to load).
        env: environment variables for both runs.
        echo_server: websocket-client's ``tests/echo-server.py`` (websockets, never accelerated) is
            started and its port passed as ``LOCAL_WS_SERVER_PORT``, which enables the tests that
            talk to a live peer.
        known_control_failures: test id (as in JUnit: ``module.Class::name``) -> why it fails
            without wsfast too (environment, Python version); such a failure must then be the same
            in the accelerated run.
        known_patch_losses: pytest node id -> why wsfast's replacements are gone after that test
            (the start-up hook installs them again, so the later tests still run accelerated).
    """

    name: str
    dist: str
    modules: tuple[str, ...]
    variant: str = ""
    copy: tuple[str, ...] = ()
    runner: str = "pytest"
    args: tuple[str, ...] = ()
    pytest_ini: str | None = None
    options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    echo_server: bool = False
    known_control_failures: dict[str, str] = field(default_factory=dict)
    known_patch_losses: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}" if self.variant else self.name


_AIOHTTP = Suite(
    "aiohttp", "aiohttp", ("aiohttp",), copy=("tests", "pytest.ini"), pytest_ini="pytest.ini",
    args=(
        "tests/test_websocket_data_queue.py", "tests/test_websocket_handshake.py", "tests/test_websocket_parser.py",
        "tests/test_websocket_writer.py", "tests/test_client_ws.py", "tests/test_client_ws_functional.py",
        "tests/test_web_websocket.py", "tests/test_web_websocket_functional.py",
    ),
    # as aiohttp's pytest.ini selects by default; pytest-mock for the mocker fixture
    options=("-m", "not dev_mode and not autobahn and not internal", "-p", "pytest_mock"),
)


SUITES: tuple[Suite, ...] = (
    Suite("wsproto", "wsproto", ("wsproto",), copy=("tests",), args=("tests",)),
    Suite(
        "tornado", "tornado", ("tornado",), runner="tornado", args=("tornado.test.websocket_test",),
    ),
    Suite(
        "autobahn", "autobahn", ("autobahn",), args=("--pyargs", "autobahn.websocket.test"),
        # txaio on asyncio, as autobahn's own asyncio test phase runs them
        env={"USE_ASYNCIO": "1"},
    ),
    Suite(
        "websocket-client", "websocket-client", ("websocket",), copy=("websocket/tests",), args=("tests",),
        echo_server=True,
        known_patch_losses={
            "tests/test_abnf.py::AbnfPureUnitTests::test_mask_without_wsaccel": (
                "it reloads websocket._abnf (twice, to test the pure-Python _mask without wsaccel), which "
                "re-creates the original _mask in the module wsfast patched"
            ),
        },
    ),
    Suite("ws4py", "ws4py", ("ws4py",), copy=("test",), args=("test",)),
    _AIOHTTP,
    # aiohttp's pure-Python reader and writer, where wsfast also replaces the reader's unmasking
    replace(_AIOHTTP, variant="no-extensions", env={"AIOHTTP_NO_EXTENSIONS": "1"}),
    Suite("wsaccel", "wsaccel", ("wsaccel",), copy=("tests",), args=("tests",)),
)


def by_id(suite_id: str) -> Suite:
    """One suite, by its id (the library's name, and its variant if any).

    Raises:
        KeyError: no such suite.
    """
    for suite in SUITES:
        if suite.id == suite_id:
            return suite
    raise KeyError(f"no third-party suite {suite_id!r}: choose from {', '.join(s.id for s in SUITES)}")
