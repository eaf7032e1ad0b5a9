"""The third-party test suites that run.py runs with and without wsfast: where each one's tests come
from, how they are run, and what is known about them.

Each suite runs against the library *installed* in run.py's environment, never against the sdist's
copy of the library: tornado and autobahn ship their tests inside the installed package, so they run
from there and need no sdist; for the others only the test files are copied out of the sdist of the
installed version, into a folder that holds no copy of the library (sdist roots and websocket-client's
``websocket/`` would otherwise come first on ``sys.path``). The start-up hook records the file of every
library module the tests imported, and run.py checks that it lies in the environment.

websockets publishes no tests in its sdist: its test folders, as of three releases, are kept outside
the repository (``Suite.outside``), and each of those releases is installed apart from the
environment's websockets (``Suite.apart``), which stays the newest release: websocket-client's echo
server runs on it, and so does the suite websockets-latest, with the newest tests kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

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
        copy: paths inside the sdist (below its top folder), or inside the ``outside`` folder, copied
            into the work folder; empty when the tests ship with the installed package.
        outside: for tests that no sdist ships: ``"<store>/<folder>"``, a folder of a store of
            third-party tests kept outside the repository, which ``copy`` is taken from instead (the
            store is found by environment.find_store: ``$WSFAST_<STORE>``, else
            ``shared/thirdparty/<store>`` beside the repository, else
            ``/work/shared/thirdparty/<store>``). Without it the suite is skipped, saying where it looked.
        apart: requirements installed apart from the environment (``pip install --target`` into a
            folder of the cache, once per environment), ahead of it on ``PYTHONPATH`` in both runs:
            the release under test, where it is not the environment's. The library's modules must
            then be imported from that folder, and the version reported is the one installed there.
        runner: ``"pytest"``, ``"tornado"`` (tornado's own unittest runner, ``tornado.test.runtests``)
            or ``"unittest"`` (``python -m unittest -v -b`` in the work folder: verbose, for the
            outcome of each test, and buffered, so that what a test prints cannot break those lines).
        args: what the runner is given after its options: test paths below the work folder,
            ``--pyargs`` names for tests inside the installed package, or unittest's test names
            (none: ``discover`` from the work folder, where ``tests`` is the package).
        pytest_ini: a pytest.ini inside the sdist to run with (its ``addopts``, meant for the
            project's own CI, dropped); by default an empty one, so that no configuration around
            the work folder (such as wsfast's own pyproject.toml) applies.
        options: further runner options (markers to deselect, plugins to load).
        env: environment variables for both runs.
        concurrent: the control and the accelerated run run at the same time, each in a work folder
            of its own: for a suite that mostly waits
            (websockets' tests sleep and time out in units of MS), whose tests listen on ephemeral
            ports only and keep their files in temporary folders.
        echo_server: websocket-client's ``tests/echo-server.py`` (websockets, never accelerated) is
            started and its port passed as ``LOCAL_WS_SERVER_PORT``, which enables the tests that
            talk to a live peer.
        known_control_failures: test id (as in JUnit: ``module.Class::name``; for the unittest
            runners unittest's ``package.module.Class.name``) -> why it fails without wsfast too
            (environment, Python version); such a failure must then be the same in the accelerated run.
        excluded: test id (unittest's) -> why it is not run, with the unittest runner: its outcome
            depends on the machine's speed or on a race, with or without wsfast, so that comparing it
            would say nothing of wsfast (it is reported as skipped in both runs).
        rerun_env: a second chance for timing: the tests that would fail the suite (their outcome
            differs, or they failed without wsfast unexplained; at most run.MAX_RERUN of them) run
            again, by themselves, in both modes, with these environment variables added (more time,
            where the suite has a setting for it; {}: none), up to run.RERUN_ATTEMPTS times; a test
            that passes in both runs of one attempt is reported as put down to timing and does not
            fail the suite, any other keeps its first outcomes. None: no reruns.
        known_patch_losses: pytest node id -> why wsfast's replacements are gone after that test
            (the start-up hook installs them again, so the later tests still run accelerated).
        replaced_internals: test id -> why it cannot pass accelerated: it injects a fault into a
            library function that wsfast's replacement no longer calls (so nothing fails), and
            which wsfast test injects the same fault into the replacement instead. It must pass
            without wsfast; with wsfast it must fail (else the entry is stale), and is reported.
    """

    name: str
    dist: str
    modules: tuple[str, ...]
    variant: str = ""
    copy: tuple[str, ...] = ()
    outside: str = ""
    apart: tuple[str, ...] = ()
    runner: str = "pytest"
    args: tuple[str, ...] = ()
    pytest_ini: str | None = None
    options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    concurrent: bool = False
    echo_server: bool = False
    known_control_failures: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    rerun_env: dict[str, str] | None = None
    known_patch_losses: dict[str, str] = field(default_factory=dict)
    replaced_internals: dict[str, str] = field(default_factory=dict)

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
    # Its heartbeat tests give 50 ms of slack (a 0.1 s heartbeat checked at 0.2 s): a busy machine
    # misses that now and then, with or without wsfast (test_heartbeat_no_pong, once in CI).
    rerun_env={},
)



#: websockets' tests time out, and wait, in units of MS = 1 ms times a factor, which defaults to 100
#: for a released websockets from 14 on (1 before): 100 makes a run take 100 s, mostly asleep; at 1,
#: even an idle 2-core machine is too slow for some timeouts (see _RECONNECT). 10 makes a run about
#: 20 s, but a busy machine misses a 10 ms deadline now and then (one or two of the few hundred tests
#: that time something, in either run, a different one each time): those tests run again, by
#: themselves, at websockets' own default for releases (Suite.rerun_env), which tells timing from a
#: real difference. websockets' WEBSOCKETS_TESTS_TIMEOUT_FACTOR, when set, replaces the 10.
_WEBSOCKETS_MS = os.environ.get("WEBSOCKETS_TESTS_TIMEOUT_FACTOR") or "10"
_WEBSOCKETS_RERUN_MS = "100"

# Not run: their outcome depends on the machine or on a race between threads, with or without wsfast.
_SHUTDOWN_RACE = (
    "it injects a write fault with a real socket.shutdown(SHUT_WR), which also sends EOF to the peer, "
    "whose reading thread then closes the connection: whether that happens before the test's ping or "
    "pong decides between the BrokenPipeError the test expects and a ConnectionClosedError without it "
    "(in 15 runs of these four tests without wsfast here, some failed every time; websockets 17's "
    "tests inject the fault with a mock, to leave the peer out of it)"
)
_SHUTDOWN_TESTS = {
    f"tests.sync.test_connection.{side}ConnectionTests.test_writing_in_{what}_fails": _SHUTDOWN_RACE
    for side in ("Client", "Server") for what in ("recv_events", "send_context")
}  # fmt: skip
_KEEPALIVE_LOOP = (
    "it patches random.getrandbits to a constant and sets ping_timeout=None, so the first keepalive "
    "ping's payload stays waiting for its (dropped) pong: if the test lasts until keepalive sends a "
    "second ping (2 x ping_interval, 80 ms), ping() looks for a payload not yet waiting forever "
    "(seen without wsfast: one of 20 runs of the keepalive tests hung, on a busy machine)"
)
_KEEPALIVE_TESTS = {
    f"tests.asyncio.test_connection.{side}ConnectionTests.test_keepalive_ignores_timeout": _KEEPALIVE_LOOP
    for side in ("Client", "Server")
}
_RECONNECT = (
    "every handshake must finish within open_timeout = 3 MS (30 ms), and a timeout is retried: on a busy "
    "machine an attempt that misses it fails the test (successful 1 != 2, asyncio) or, trio, the retries "
    "never end (seen without wsfast: 12 minutes at 30 ms, an hour at 3 ms, each at 90 % of a core)"
)


#: websockets' tests that fake a fault inside its frame parser by patching struct.unpack, which the
#: accelerated parser (take_frame) never calls: the same fault, injected into take_frame, is
#: tests/accelerate/test_websockets_codec.py::test_an_internal_error_in_the_parser_fails_as_websockets_does.
_PARSER_FAULT = (
    "it makes struct.unpack raise inside websockets' Frame.parse to fake an internal parser error; "
    "the accelerated parser reads headers with wsfast's take_frame, not struct.unpack, so nothing "
    "fails. wsfast's test_an_internal_error_in_the_parser_fails_as_websockets_does injects the same "
    "fault into take_frame and checks websockets' answer: parser_exc, close code 1011"
)
_PARSER_FAULT_TESTS = {
    f"tests.test_protocol.ErrorTests.test_{side}_hits_internal_error_reading_frame": _PARSER_FAULT
    for side in ("client", "server")
}


def _websockets(variant: str, tests: str, release: str | None = None, **options: Any) -> Suite:
    """websockets' own tests as of the release ``tests`` (from the store websockets-tests), run
    against ``release`` installed apart, or (None) against the environment's newest release;
    ``options``: further Suite fields."""
    return Suite(
        "websockets", "websockets", ("websockets",), variant=variant, copy=("tests",),
        outside=f"websockets-tests/{tests}", apart=(f"websockets=={release}",) if release else (),
        runner="unittest", env={"WEBSOCKETS_TESTS_TIMEOUT_FACTOR": _WEBSOCKETS_MS}, concurrent=True,
        rerun_env={"WEBSOCKETS_TESTS_TIMEOUT_FACTOR": _WEBSOCKETS_RERUN_MS},
        replaced_internals=_PARSER_FAULT_TESTS, **options,
    )


_WEBSOCKETS_17_EXCLUDED = {
    "tests.asyncio.test_client.ClientTests.test_reconnect": _RECONNECT,
    "tests.trio.test_client.ClientTests.test_reconnect": _RECONNECT,
}


def _newer_than_tests(change: str, *tests: str) -> dict[str, str]:
    """``tests`` (ids below ``tests.``), each failing because the newest release ``change``d since 17.0.1."""
    return {f"tests.{test}": f"websockets' newest release {change}; the tests are 17.0.1's" for test in tests}


#: 17.0.1's tests that the newest release (17.4) fails with and without wsfast, by what changed.
_WEBSOCKETS_LATEST_FAILURES = {
    **_newer_than_tests(
        "cancels keepalive_task on close() and sets it to None", *(
            f"asyncio.test_connection.{side}ConnectionTests.test_keepalive_terminates_while_{what}"
            for side in ("Client", "Server") for what in ("sleeping", "waiting_for_pong")
        ),
    ),
    **_newer_than_tests(
        "deletes the legacy protocol's keepalive_ping_task when it cancels it on closing", *(
            f"legacy.test_protocol.{side}Tests.test_keepalive_ping_{what}"
            for side in ("Client", "Server")
            for what in (
                "not_acknowledged_closes_connection", "stops_when_connection_closed", "stops_when_connection_closing",
            )
        ),
    ),
    **_newer_than_tests("has no SimpleQueue.reset", "asyncio.test_messages.SimpleQueueTests.test_reset"),
    **_newer_than_tests(
        "refuses a max_window_bits of 8 for the compressing side (a zlib limitation)",
        "extensions.test_permessage_deflate.ClientPerMessageDeflateFactoryTests.test_init",
        "extensions.test_permessage_deflate.ServerPerMessageDeflateFactoryTests.test_init",
    ),
    **_newer_than_tests(
        "waits for close_timeout in the sync recv_events() after a failed opening handshake (still alive "
        "after 3 MS, at MS = 10 and 100 ms alike)",
        "sync.test_connection.ClientConnectionTests.test_close_expected_during_connecting",
        "sync.test_connection.ServerConnectionTests.test_close_expected_during_connecting",
    ),
    **_newer_than_tests(
        "follows redirects in the sync client, so these router tests (which patch the asyncio client's "
        "process_redirect only) follow theirs: to ws://localhost/ and wss://localhost/ (port 80 and 443, "
        "refused), to their own TLS server on a ws:// connection (SSL EOF), and to ws://other/ (a name "
        "lookup of 'other', which fails: no network is needed or used)",
        "sync.test_router.RouterTests.test_redirect", "sync.test_router.RouterTests.test_secure_redirect",
        "sync.test_router.RouterTests.test_force_secure_redirect",
        "sync.test_router.RouterTests.test_force_redirect_server_name",
    ),
    **_newer_than_tests(
        "says 'invalid content length' / 'invalid chunk size' where 17.0.1 said 'body too large' / "
        "'chunk too large'",
        "test_http11.ResponseTests.test_parse_body_with_chunked_transfer_encoding_and_chunk_way_too_large",
        "test_http11.ResponseTests.test_parse_body_with_content_length_and_body_way_too_large",
    ),
    **_newer_than_tests(
        "percent-decodes the user name and password of URIs and proxy URIs",
        "test_uri.URITests.test_parse_user_info", "test_uri.URITests.test_parse_valid_uris",
        "test_proxy.ProxyTests.test_parse_proxy_user_info", "test_proxy.ProxyTests.test_parse_valid_proxies",
    ),
}


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
    # Not run, in either mode: two tests of ws4py's pollers that fail unless poll(timeout=0.5)
    # returns within 0.48 to 0.52 s of wall time, which a busy machine misses (.ci/run failed on one
    # in the run without wsfast); wsfast replaces ws4py's masking and UTF-8 validation, not its pollers.
    Suite("ws4py", "ws4py", ("ws4py",), copy=("test",), args=("test",), options=(
        "--deselect", "test/test_manager.py::WSSelectPollerTest::test_timeout_when_no_registered_fds",
        "--deselect", "test/test_manager.py::WSEPollPollerTest::test_timeout_when_no_registered_fds",
    )),
    _AIOHTTP,
    # aiohttp's pure-Python reader and writer, where wsfast also replaces the reader's unmasking
    replace(_AIOHTTP, variant="no-extensions", env={"AIOHTTP_NO_EXTENSIONS": "1"}),
    Suite("wsaccel", "wsaccel", ("wsaccel",), copy=("tests",), args=("tests",)),
    _websockets("13.1", "13.1", "13.1", excluded={**_SHUTDOWN_TESTS, **_KEEPALIVE_TESTS}),
    _websockets("15.0.1", "15.0.1", "15.0.1", excluded={
        **_SHUTDOWN_TESTS, **_KEEPALIVE_TESTS, "tests.asyncio.test_client.ClientTests.test_reconnect": _RECONNECT,
    }),
    _websockets("17.0.1", "17.0.1", "17.0.1", excluded=_WEBSOCKETS_17_EXCLUDED),
    # the newest release, as requirements.txt pins it, with the newest tests kept
    _websockets("latest", "17.0.1", excluded=_WEBSOCKETS_17_EXCLUDED, known_control_failures=_WEBSOCKETS_LATEST_FAILURES),
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
