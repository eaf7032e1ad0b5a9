#!/usr/bin/env python3
"""Run other WebSocket libraries' own test suites twice: as they are, then with wsfast installed into them.

    python tests/thirdparty/run.py                     # every suite; a table on stdout, progress on stderr
    python tests/thirdparty/run.py --only wsproto,ws4py
    python tests/thirdparty/run.py --json results.json

The suites (suites.py): wsproto, tornado, autobahn, websocket-client, ws4py, aiohttp's WebSocket
tests, websockets' (as of three releases, and the newest release), each with
``wsfast.accelerate.install(<library>)``, and wsaccel's own tests against ``wsfast.compat.wsaccel``.
Each runs once as a control (wsfast cannot even be imported) and once accelerated; a library passes
when both runs give every test the same outcome, nothing failed (but the control failures listed,
with their reason, in suites.py), and the start-up hook's reports show the patch in place from start
to exit, on the very library files the tests imported. websockets' suites, whose tests time things
in tens of milliseconds, run both at once, leave out the few tests listed in suites.py that can hang
or race without wsfast, and run again (with ten times the time) any test that would fail them: one
that then passes with and without wsfast is reported as put down to timing (Suite.rerun_env).
aiohttp's suites, whose heartbeat tests allow 50 ms of slack, run such tests again by themselves too.

Where things come from:

- an environment of its own (environment.py): a virtual environment of this Python with requirements.txt installed
  (the libraries pinned, and what their suites need), made once and kept in the cache folder under a
  key of the requirements and the Python version; wsaccel is installed apart (requirements-wsaccel.txt),
  and so are the older websockets releases whose tests run (suites.py's ``apart``);
- wsfast: the one this script runs with (``import wsfast`` here), made visible to the accelerated runs
  only, through a folder holding a link to its package; the kernels follow the usual switches
  (``WSFAST_NO_EXTENSIONS=1`` runs the accelerated suites on the pure-Python twins);
- the tests: ``pip download --no-binary`` of the sdist of the installed version of each library, or
  the installed package itself where the tests ship inside it (tornado, autobahn), or for websockets,
  whose sdist has none, a store kept outside the repository (``$WSFAST_WEBSOCKETS_TESTS``, else
  ``shared/thirdparty/websockets-tests`` beside the repository; without it those suites are skipped);
- the patch: ``site/sitecustomize.py`` on ``PYTHONPATH``, in every process the suite starts.

Needs network access to the package index the first time (pip). Exit status: 0 when every library
passed or was skipped, 1 when one failed, 3 when the environment could not be made (the message
says why; tests/test_thirdparty.py skips on that outside CI).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from environment import (  # noqa: E402
    Environment, SetupError, copy_tests, extract_tests, fetch_sdist, find_store, install_apart, make_environment, progress,
)  # fmt: skip
from suites import SUITES, Suite, by_id  # noqa: E402

ROOT = HERE.parents[1]
SITE = HERE / "site"
#: In pytest's cache folder (ignored by git), so that the two CI legs and later runs share it.
DEFAULT_CACHE = ROOT / ".pytest_cache" / "d" / "wsfast-thirdparty"
SETUP_FAILED = 3
#: At most this many tests are run again (Suite.rerun_env): more than that is no matter of timing;
#: each as many times, at most, as it takes to pass in both runs at once.
MAX_RERUN = 20
RERUN_ATTEMPTS = 3
#: Bound on one run of one suite, and on each of its tests (pytest-timeout; for unittest,
#: site/wsfast_thirdparty_unittest.py).
RUN_TIMEOUT = 600
TEST_TIMEOUT = 120
MODES = ("control", "accelerated")
#: With --wsaccel, a third run (for information, not judged) of the libraries wsaccel speeds up:
#: wsaccel's own patch_autobahn() / patch_ws4py(), or (websocket-client) wsaccel merely importable.
WSACCEL_USERS = ("autobahn", "ws4py", "websocket-client")


# ------------------------------------------------------------------------------------ the tests


def drop_ini_option(text: str, option: str) -> str:
    """An ini file's text without ``option`` and its continuation lines."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if re.match(rf"{re.escape(option)}\s*[=:]", line):
            skipping = True
            continue
        if skipping and (not line.strip() or line[0].isspace()):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept) + "\n"


@dataclasses.dataclass
class Run:
    """One run of one suite: every test's outcome, and the start-up hook's reports."""

    mode: str
    outcomes: dict[str, str]  # test id -> passed / failed / error / skipped / xfailed
    returncode: int | None  # None: killed at the time limit
    seconds: float
    log: Path
    reports: list[dict[str, Any]]
    main_pid: int

    def count(self) -> Counter[str]:
        return Counter(self.outcomes.values())

    def summary(self) -> str:
        counts = self.count()
        text = f"{counts['passed']}/{counts['failed']}/{counts['skipped'] + counts['xfailed']}/{counts['error']}"
        return text + (" (timeout)" if self.returncode is None else "")

    @property
    def main_report(self) -> dict[str, Any] | None:
        return next((report for report in self.reports if report.get("pid") == self.main_pid), None)


_BAD = ("failed", "error")
#: The worse outcome wins where a test has several (setup and teardown, subtests).
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "failed": 2, "error": 3}


def parse_junit(path: Path) -> dict[str, str]:
    """Outcome per test id from pytest's JUnit XML (an error in setup or teardown counts as error)."""
    if not path.exists():
        return {}
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag == "error":
                outcome = "error"
            elif child.tag == "failure" and outcome != "error":
                outcome = "failed"
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
        if test not in outcomes or _RANK[outcome] > _RANK[outcomes[test]]:
            outcomes[test] = outcome
    return outcomes


# ``name (id) ... ok``, its docstring's first line, if any, before the `` ... ``; a subtest's result is
# indented, with the subtest's parameters after the id (and the test itself then has no line of its own);
# a test over its time limit, ``... Timeout (0:02:00)!`` (faulthandler), and nothing after it.
_RESULT = r"ok|FAIL|ERROR|skipped.*|expected failure|unexpected success"
_UNITTEST_LINE = re.compile(
    r"^(?P<subtest>  )?(?P<name>\w+) \((?P<id>[\w.]+)\)(?(subtest) [^\n]*?)(?:\n(?!\s*\w+ \().*)?? \.\.\. "
    rf"(?P<result>{_RESULT}|Timeout \(.*\)!)$",
    re.MULTILINE,
)
_UNITTEST_RESULTS = {"ok": "passed", "FAIL": "failed", "ERROR": "error", "expected failure": "xfailed",
                     "unexpected success": "failed"}  # fmt: skip


def _unittest_outcome(result: str) -> str:
    """The outcome a unittest result word stands for."""
    if result.startswith("Timeout"):  # site/wsfast_thirdparty_unittest.py's bound: the process exits
        return "error"
    return "skipped" if result.startswith("skipped") else _UNITTEST_RESULTS[result]


def parse_unittest(text: str) -> dict[str, str]:
    """Outcome per test id from a verbose unittest run (``name (id) ... ok``); a test with subtests
    gets the worst of theirs (a skipped subtest makes it skipped, as in the JUnit counts)."""
    outcomes: dict[str, str] = {}
    for match in _UNITTEST_LINE.finditer(text):
        outcome = _unittest_outcome(match["result"])
        if _RANK[outcome] >= _RANK[outcomes.get(match["id"], "passed")]:
            outcomes[match["id"]] = outcome
    ran = re.search(r"^Ran (\d+) tests? in", text, re.MULTILINE)
    if ran and int(ran[1]) != len(outcomes):
        _interrupted(text, outcomes)
    if ran and int(ran[1]) != len(outcomes):
        # a test whose line the pattern missed: keep the count honest rather than the names
        outcomes["<unparsed tests>"] = "error"
    return outcomes


#: A test's first line, ``name (id)``, as verbose unittest prints it before the test runs.
_UNITTEST_START = re.compile(r"^(?P<name>\w+) \((?P<id>[\w.]+)\)$", re.MULTILINE)
#: A result alone on its line: what is left of ``... ok`` when a thread's log output came between.
_LONE_RESULT = re.compile(rf"^({_RESULT})$", re.MULTILINE)


def _interrupted(text: str, outcomes: dict[str, str]) -> None:
    """Outcomes for the tests whose ``... result`` output from another thread split (a log record
    printed to stderr while the test ran): the one result alone on a line before the next test
    starts; where there is not exactly one, ``error``, under the test's own id (so that a rerun
    can settle it)."""
    starts = list(_UNITTEST_START.finditer(text))
    for start, following in zip(starts, [*starts[1:], None]):
        if start["id"] in outcomes:
            continue
        section = text[start.end() : following.start() if following else len(text)]
        results = _LONE_RESULT.findall(section)
        outcomes[start["id"]] = _unittest_outcome(results[0]) if len(results) == 1 else "error"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EchoServer:
    """websocket-client's tests/echo-server.py (websockets), on a free port, without wsfast."""

    def __init__(self, env: Environment, work: Path, log: Path) -> None:
        self.port = _free_port()
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("w", encoding="utf-8")
        environ = {**_clean_environ(), "LOCAL_WS_SERVER_PORT": str(self.port)}
        self.process = subprocess.Popen([str(env.python), str(work / "tests" / "echo-server.py")], cwd=work, env=environ,
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"websocket-client's echo server exited with {self.process.returncode} (log: {log})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise SetupError(f"websocket-client's echo server did not listen on port {self.port} within 30 s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _clean_environ() -> dict[str, str]:
    """This environment, less what would let another Python setup or pytest configuration leak in."""
    leaks = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV")
    environ = {name: value for name, value in os.environ.items() if name not in leaks and not name.startswith("WSFAST_THIRDPARTY")}
    environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # each suite loads the plugins it needs, by name
    return environ


def command(suite: Suite, env: Environment, work: Path, junit: Path) -> list[str]:
    python = str(env.python)
    if suite.runner == "tornado":
        return [python, "-m", "tornado.test.runtests", "--verbose", *suite.args]
    if suite.runner == "unittest":  # python -m unittest, less suite.excluded (site/wsfast_thirdparty_unittest.py)
        return [python, "-m", "wsfast_thirdparty_unittest", "-v", "-b", *suite.options, *suite.args]
    if suite.excluded:
        raise ValueError(f"{suite.id}: Suite.excluded works with the unittest runner only")
    if suite.pytest_ini:
        ini = work / "wsfast-pytest.ini"
        ini.write_text(drop_ini_option((work / suite.pytest_ini).read_text(encoding="utf-8"), "addopts"), encoding="utf-8")
    else:
        ini = work / "wsfast-pytest.ini"
        ini.write_text("[pytest]\n# tests/thirdparty/run.py: no configuration around this folder applies\n", encoding="utf-8")
    return [python, "-m", "pytest", "-c", str(ini), "--rootdir", str(work), "-p", "no:cacheprovider",
            "-p", "pytest_timeout", f"--timeout={TEST_TIMEOUT}", "-p", "wsfast_thirdparty_plugin", f"--junitxml={junit}", "-q", "-rfE",
            *suite.options, *suite.args]  # fmt: skip


def run_suite(suite: Suite, env: Environment, work: Path, out: Path, mode: str, extra_env: dict[str, str],
              apart: Path | None = None) -> Run:
    """One run of ``suite`` in ``mode``, in its work folder, with its log and reports under ``out``,
    with ``apart`` (the suite's release installed apart, if any) ahead of the environment."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    paths = [str(SITE)]
    if mode == "accelerated":
        paths.append(str(env.overlay))
    elif suite.name == "wsaccel" or mode == "wsaccel":
        paths.append(str(env.wsaccel_dir))  # the real wsaccel: wsaccel's control run, or --wsaccel
    if apart is not None:
        paths.append(str(apart))
    environ = {**_clean_environ(), **suite.env, **extra_env, "PYTHONPATH": os.pathsep.join(paths),
               "WSFAST_THIRDPARTY_MODE": mode, "WSFAST_THIRDPARTY_LIB": suite.name,
               "WSFAST_THIRDPARTY_MODULES": ",".join(suite.modules), "WSFAST_THIRDPARTY_REPORT": str(out / "reports"),
               "WSFAST_THIRDPARTY_EXCLUDE": ",".join(suite.excluded), "WSFAST_THIRDPARTY_TEST_TIMEOUT": str(TEST_TIMEOUT)}
    junit = out / "junit.xml"
    log = out / "output.log"
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as stream:
        process = subprocess.Popen(command(suite, env, work, junit), cwd=work, env=environ, stdout=stream,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode: int | None = process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None
            _kill_group(process)
    seconds = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    outcomes = parse_junit(junit) if suite.runner == "pytest" else parse_unittest(text)
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((out / "reports").glob("*.json"))]
    return Run(mode, outcomes, returncode, seconds, log, reports, process.pid)


def _kill_group(process: subprocess.Popen[Any]) -> None:
    try:
        if os.name == "nt":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    process.wait()


# ------------------------------------------------------------------------------------ judging


@dataclasses.dataclass
class Result:
    suite: Suite
    version: str | None
    runs: dict[str, Run]
    problems: list[str]
    skip: str | None = None
    replacements: list[str] = dataclasses.field(default_factory=list)
    kernels: str | None = None
    losses: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    settled: dict[str, str] = dataclasses.field(default_factory=dict)  # test -> how its rerun settled it

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skip else ("FAIL" if self.problems else "PASS")

    def as_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite.id, "library": self.suite.name, "version": self.version, "verdict": self.verdict, "skip": self.skip,
            "problems": self.problems, "replacements": self.replacements, "kernels": self.kernels, "settled": self.settled,
            "runs": {mode: {"counts": dict(run.count()), "returncode": run.returncode, "seconds": round(run.seconds, 2),
                            "log": str(run.log)} for mode, run in self.runs.items()},
        }  # fmt: skip


def _under(path: str | None, folder: Path) -> bool:
    return path is not None and os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


#: The level installed() must report where a library is accelerated as far as wsfast goes: every
#: websockets release whose tests run here has a send_context wsfast knows.
FULL_LEVEL = {"websockets": "frames, send"}


def check_reports(suite: Suite, run: Run, env: Environment, apart: Path | None = None) -> list[str]:
    """What the start-up hook's reports of ``run`` show wrong (nothing, when the run was as it should be);
    ``apart``: where the suite's release is installed apart, if it is."""
    report = run.main_report
    if report is None:
        return [f"{run.mode}: the start-up hook wrote no report for the test process (is sitecustomize shadowed?)"]
    problems = [f"{run.mode}: start-up error:\n{error}" for error in report["errors"]]
    home = env.wsaccel_dir if suite.name == "wsaccel" and run.mode == "control" else apart or env.purelib
    for name, path in report["modules"].items():
        if suite.name == "wsaccel" and run.mode == "accelerated":
            continue  # checked below: wsfast serves the name
        if not _under(path, home):
            problems.append(f"{run.mode}: the tests imported {name} from {path}, not from {home}")
    if run.mode == "control":
        if report["wsfast_imported"]:
            problems.append("control: wsfast was imported, so this is no control run")
        return problems
    for other in run.reports:
        if other is not report and other.get("errors"):
            problems.append(f"accelerated: start-up error in a child process {other['argv']}:\n{other['errors'][0]}")
    if suite.name == "wsaccel":
        if not report.get("alias_installed"):
            problems.append("accelerated: install_wsaccel_alias() did not take over (is the real wsaccel importable?)")
        if report.get("wsaccel_module") != "wsfast.compat.wsaccel":
            problems.append(f"accelerated: 'wsaccel' was {report.get('wsaccel_module')!r} at exit, not wsfast.compat.wsaccel")
        return problems
    installed = report.get("installed_at_exit", {})
    if suite.name not in installed:
        problems.append(f"accelerated: wsfast.accelerate.installed() was {installed} at exit")
    elif installed[suite.name] != FULL_LEVEL.get(suite.name, installed[suite.name]):
        problems.append(f"accelerated: {suite.name} was accelerated at level {installed[suite.name]!r}, "
                        f"not {FULL_LEVEL[suite.name]!r}")
    replacements = report.get("replacements", [])
    if not replacements:
        problems.append("accelerated: wsfast.accelerate replaced nothing")
    for item in replacements:
        if not item["origin"].startswith("wsfast."):
            problems.append(f"accelerated: {item['attribute']} was replaced by an object of {item['origin']}")
    for lost in report["lost"]:
        if lost["after"] not in suite.known_patch_losses:
            problems.append(f"accelerated: {', '.join(lost['attributes'])} no longer held wsfast's replacement "
                            f"after {lost['after']} (installed again for the tests after it)")
    return problems


def judge(suite: Suite, control: Run, accelerated: Run, env: Environment, apart: Path | None = None,
          settled: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with a suite's two runs; ``settled``: tests whose outcome a rerun put down to timing."""
    problems = []
    for run in (control, accelerated):
        if run.returncode is None:
            problems.append(f"{run.mode}: stopped after {RUN_TIMEOUT} s (log: {run.log})")
        elif run.returncode not in (0, 1):
            problems.append(f"{run.mode}: the runner exited with {run.returncode} (log: {run.log})")
        if not run.outcomes:
            problems.append(f"{run.mode}: no test ran (log: {run.log})")
        problems += check_reports(suite, run, env, apart)
    for run in (control, accelerated):
        missing = sorted(test for test in suite.excluded if run.outcomes.get(test) != "skipped")
        if missing:  # renamed or gone: the exclusion would silently stop meaning anything
            problems.append(f"{run.mode}: excluded tests not found skipped: {', '.join(missing)}")
    explained = set(suite.known_control_failures) | settled
    unexplained = sorted(test for test, outcome in control.outcomes.items() if outcome in _BAD and test not in explained)
    if unexplained:
        problems.append(f"control: {len(unexplained)} failed without wsfast (not listed in suites.py): "
                        + ", ".join(unexplained[:10]))
    for test in suite.replaced_internals:
        outcomes = control.outcomes.get(test, "absent"), accelerated.outcomes.get(test, "absent")
        if outcomes[0] != "passed" or outcomes[1] not in _BAD:
            problems.append(f"{test}: listed as injecting a fault where wsfast replaced the code, so it must "
                            f"pass without wsfast and fail with it, not {outcomes[0]} -> {outcomes[1]}")
    differ = sorted(set(control.outcomes) | set(accelerated.outcomes))
    differ = [test for test in differ if control.outcomes.get(test) != accelerated.outcomes.get(test)
              and test not in settled and test not in suite.replaced_internals]  # fmt: skip
    if differ:
        problems.append(f"{len(differ)} tests differ, control -> accelerated: " + ", ".join(
            f"{test} ({control.outcomes.get(test, 'absent')} -> {accelerated.outcomes.get(test, 'absent')})"
            for test in differ[:10]))
    return problems


def _suspects(suite: Suite, control: Run, accelerated: Run) -> list[str]:
    """The tests that fail the suite: their outcome differs, or they failed without wsfast unexplained."""
    tests = sorted(set(control.outcomes) | set(accelerated.outcomes))
    return [test for test in tests if not test.startswith("<") and test not in suite.replaced_internals and (
        control.outcomes.get(test) != accelerated.outcomes.get(test)
        or (control.outcomes.get(test) in _BAD and test not in suite.known_control_failures))]  # fmt: skip


def _outside_tests(suite: Suite) -> tuple[Path | None, str]:
    """The folder that ``suite.outside`` names, or None and why it is missing."""
    store, folder = suite.outside.split("/", 1)
    root, looked = find_store(store)
    if root is None:
        return None, f"the tests of {suite.id} are kept outside the repository and were not found: looked for {looked}"
    if not (root / folder).is_dir():
        return None, f"{root} has no folder {folder}"
    return root / folder, ""


def _apart_version(folder: Path, dist: str) -> str | None:
    """The version of ``dist`` installed in ``folder`` (by install_apart)."""
    found = list(importlib.metadata.distributions(name=dist, path=[str(folder)]))
    return found[0].version if found else None


def _fill_work(suite: Suite, env: Environment, cache: Path, version: str, outside: Path | None, work: Path) -> None:
    """A fresh work folder holding the suite's tests."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if outside:
        copy_tests(outside, suite.copy, work)
    elif suite.copy:
        extract_tests(fetch_sdist(env, cache, suite.dist, version), suite.copy, work)


def _one_run(suite: Suite, env: Environment, cache: Path, label: str, work: Path, mode: str,
             extra_env: dict[str, str], apart: Path | None, tag: str = "") -> Run:
    progress(f"{label}: {tag}{mode} run")
    run = run_suite(suite, env, work, cache / "runs" / suite.id / f"{tag}{mode}", mode, extra_env, apart)
    progress(f"{label}: {tag}{mode} run: {run.summary()} (passed/failed/skipped/errors) in {run.seconds:.1f} s")
    return run


def _runs(suite: Suite, env: Environment, cache: Path, label: str, works: dict[str, Path], modes: tuple[str, ...],
          extra_env: dict[str, str], apart: Path | None, tag: str = "") -> dict[str, Run]:
    """One run per mode, all at once when the suite is ``concurrent`` (each mode has a work folder of its own)."""
    if not suite.concurrent:
        return {mode: _one_run(suite, env, cache, label, works[mode], mode, extra_env, apart, tag) for mode in modes}
    with ThreadPoolExecutor(len(modes)) as pool:
        futures = {mode: pool.submit(_one_run, suite, env, cache, label, works[mode], mode, extra_env, apart, tag)
                   for mode in modes}  # fmt: skip
        return {mode: future.result() for mode, future in futures.items()}


def _rerun(suite: Suite, env: Environment, cache: Path, label: str, works: dict[str, Path], runs: dict[str, Run],
           apart: Path | None) -> tuple[dict[str, str], list[str]]:
    """Run the tests that fail the suite (_suspects) again, by themselves, in both modes, with ``suite.rerun_env``:
    up to RERUN_ATTEMPTS times, until each has passed in both modes in the same attempt.

    Returns:
        The tests that did (the first outcome was the machine's timing), each with what happened to
        it; and what the reruns' reports show wrong.
    """
    suspects = _suspects(suite, runs["control"], runs["accelerated"])
    if len(suspects) > MAX_RERUN:  # too much to be timing
        return {}, []
    settled: dict[str, str] = {}
    problems: list[str] = []
    for attempt in range(1, RERUN_ATTEMPTS + 1):
        left = [test for test in suspects if test not in settled]
        if not left:
            break
        rerun_env = {**suite.env, **(suite.rerun_env or {})}
        if suite.runner == "pytest":  # the same arguments, the others deselected (wsfast_thirdparty_plugin)
            again = dataclasses.replace(suite, env={**rerun_env, "WSFAST_THIRDPARTY_ONLY": "\n".join(left)})
        else:  # unittest takes the ids themselves
            again = dataclasses.replace(suite, args=tuple(left), env=rerun_env, excluded={})
        reruns = _runs(again, env, cache, label, works, MODES, {}, apart, tag=f"rerun{attempt}-")
        for run in reruns.values():
            problems += [f"rerun {attempt}: {problem}" for problem in check_reports(suite, run, env, apart)]
        for test in left:
            if all(run.outcomes.get(test) == "passed" for run in reruns.values()):
                first = " -> ".join(runs[mode].outcomes.get(test, "absent") for mode in MODES)
                more = f" with {suite.rerun_env}" if suite.rerun_env else ""
                settled[test] = (f"{first} at first, then passed in both runs when run again by themselves{more} "
                                 f"(attempt {attempt})")  # fmt: skip
    return settled, problems


def run_library(suite: Suite, env: Environment, cache: Path, with_wsaccel: bool = False) -> Result:
    outside = None
    if suite.outside:
        outside, missing = _outside_tests(suite)
        if outside is None:
            return Result(suite, None, {}, [], skip=missing)
    apart = install_apart(env, suite.apart) if suite.apart else None
    version = _apart_version(apart, suite.dist) if apart else env.version(suite.dist)
    if version is None:
        return Result(suite, None, {}, [], skip=f"{suite.dist} does not install on this Python")
    label = f"{suite.id} {version}"
    modes = MODES + (("wsaccel",) if with_wsaccel and suite.name in WSACCEL_USERS else ())
    if suite.concurrent:  # each mode in a folder of its own
        shutil.rmtree(cache / "work" / suite.id, ignore_errors=True)
        works = {mode: cache / "work" / suite.id / mode for mode in modes}
    else:
        works = dict.fromkeys(modes, cache / "work" / suite.id)
    for work in set(works.values()):
        _fill_work(suite, env, cache, version, outside, work)
    extra_env: dict[str, str] = {}
    server = EchoServer(env, works["control"], cache / "runs" / suite.id / "echo-server.log") if suite.echo_server else None
    if server:
        extra_env["LOCAL_WS_SERVER_PORT"] = str(server.port)
    try:
        runs = _runs(suite, env, cache, label, works, modes, extra_env, apart)
    finally:
        if server:
            server.close()
    settled, problems = _rerun(suite, env, cache, label, works, runs, apart) if suite.rerun_env is not None else ({}, [])
    problems = judge(suite, runs["control"], runs["accelerated"], env, apart, frozenset(settled)) + problems
    result = Result(suite, version, runs, problems, settled=settled)
    report = runs["accelerated"].main_report or {}
    result.replacements = [item["attribute"] for item in report.get("replacements", [])]
    if suite.name == "wsaccel" and report.get("wsaccel_module"):
        result.replacements = [f"wsaccel -> {report['wsaccel_module']}"]
    result.kernels = report.get("kernels")
    result.losses = report.get("lost", [])
    return result


# ------------------------------------------------------------------------------------ report


def render(results: list[Result], seconds: float) -> str:
    wsaccel = any("wsaccel" in result.runs for result in results)
    lines = [
        (f"Third-party test suites, control vs wsfast installed (Python {platform.python_version()}, "
         f"{seconds:.0f} s). Counts are passed/failed/skipped/errors, per test as the JUnit report lists "
         "them (pytest's subtests are not counted apart: a test with a skipped subtest counts as skipped)."),
        "",
        "| suite | version | control | accelerated | same outcomes | wsfast kernels | replaced | result |"
        + (" with wsaccel instead (information) |" if wsaccel else ""),
        "|---|---|---:|---:|---|---|---|---|" + ("---:|" if wsaccel else ""),
    ]
    for result in results:
        if result.skip:
            lines.append(f"| {result.suite.id} | – | – | – | – | – | – | SKIP ({result.skip}) |" + (" – |" if wsaccel else ""))
            continue
        control, accelerated = result.runs["control"], result.runs["accelerated"]
        same = "yes" if control.outcomes == accelerated.outcomes else "**no**"
        lines.append(f"| {result.suite.id} | {result.version} | {control.summary()} | {accelerated.summary()} | "
                     f"{same} | {result.kernels or '–'} | {len(result.replacements)} | "
                     f"{'PASS' if not result.problems else '**FAIL**'} |"
                     + (f" {result.runs['wsaccel'].summary() if 'wsaccel' in result.runs else '–'} |" if wsaccel else ""))
    passed = sum(result.verdict == "PASS" for result in results)
    failed = sum(result.verdict == "FAIL" for result in results)
    skipped = sum(result.verdict == "SKIP" for result in results)
    lines += ["", f"{passed} passed, {failed} failed, {skipped} skipped"]
    for result in results:
        if result.replacements:
            lines.append(f"- {result.suite.id}: {', '.join(result.replacements)}")
        for test, reason in result.suite.known_control_failures.items():
            lines.append(f"- {result.suite.id}: {test} fails with and without wsfast: {reason}")
        for test, reason in result.suite.excluded.items():
            lines.append(f"- {result.suite.id}: {test} not run: {reason}")
        for test, reason in result.suite.replaced_internals.items():
            lines.append(f"- {result.suite.id}: {test} passes without wsfast and fails with it: {reason}")
        for test, how in result.settled.items():
            lines.append(f"- {result.suite.id}: {test} put down to timing: {how}")
        for lost in result.losses:
            why = result.suite.known_patch_losses.get(lost["after"])
            if why:
                lines.append(f"- {result.suite.id}: wsfast installed again after {lost['after']}: {why}")
        for problem in result.problems:
            lines.append(f"- **{result.suite.id}**: {problem}")
        if "wsaccel" in result.runs:
            base, other = result.runs["control"].outcomes, result.runs["wsaccel"].outcomes
            differ = [f"{test} ({base.get(test, 'absent')} -> {other.get(test, 'absent')})"
                      for test in sorted(set(base) | set(other)) if base.get(test) != other.get(test)]
            lines.append(f"- {result.suite.id} with wsaccel instead of wsfast: "
                         + (", ".join(differ) if differ else "the same outcomes as the control run"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated suites (default: all): " + ", ".join(s.id for s in SUITES))
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("WSFAST_THIRDPARTY_CACHE") or DEFAULT_CACHE),
                        help=f"where the environment, sdists and logs are kept (default: {DEFAULT_CACHE}, "
                             "or $WSFAST_THIRDPARTY_CACHE)")  # fmt: skip
    parser.add_argument("--latest", action="store_true", help="the newest release of everything instead of the pins")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--wsaccel", action="store_true",
                        help=f"also run {', '.join(WSACCEL_USERS)} with wsaccel instead of wsfast (information)")
    args = parser.parse_args(argv)
    suites = [by_id(name.strip()) for name in args.only.split(",")] if args.only else list(SUITES)
    started = time.perf_counter()
    cache = args.cache.resolve()
    try:
        env = make_environment(cache, args.latest)
        results = [run_library(suite, env, cache, args.wsaccel) for suite in suites]
    except SetupError as error:
        print(f"setup failed: {error}", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps({"setup_error": str(error)}), encoding="utf-8")
        return SETUP_FAILED
    report = render(results, time.perf_counter() - started)
    print(report)
    if args.json:
        args.json.write_text(json.dumps([result.as_json() for result in results], indent=1), encoding="utf-8")
    return 1 if any(result.verdict == "FAIL" for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
