"""Run the Autobahn TestSuite (kosoku) against wsfast or websockets, in both modes, and summarize.

    python tests/autobahn/run.py [--impl auto|wsfast|websockets|wsfast-cli|wsfast-sync] [--mode both|fuzzingclient|fuzzingserver]
                                 [-i CASE]... [-x CASE]... [-p 2] [--outdir DIR] [--timeout 900]

- fuzzingclient: kosoku drives ``echo_server.py`` (the server under test), ``-p 2`` cases at a time;
- fuzzingserver: kosoku is the server and ``client_driver.py`` (the client under test) runs each case.

Every kosoku run is bounded by ``timeout`` (``--foreground``: kosoku stays in run.py's process group,
so that killing the group stops everything) and writes to a fresh directory (``OUTDIR/<mode>``);
the logs of the server, the driver and kosoku are kept beside them (``OUTDIR/*.log``). The summary
gives the counts per behavior, every case that is not OK on both verdicts, and the verdict:

    a case passes only if ``behavior`` and ``behaviorClose`` are both OK, NON-STRICT or
    INFORMATIONAL (UNIMPLEMENTED is a failure).

Exit status: 0 if every case of every mode passed, 1 if a case failed, 2 if a run gave no usable
report (killed by the time limit, a crash, or fewer cases than selected).
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("fuzzingclient", "fuzzingserver")
IMPLEMENTATIONS = ("auto", "wsfast", "websockets", "wsfast-cli", "wsfast-sync")
#: Cases in the whole suite as kosoku 0.1.0 has it; checked when nothing is included or excluded.
FULL_SUITE_CASES = 517
PASSING = frozenset({"OK", "NON-STRICT", "INFORMATIONAL"})
BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR")
BEHAVIORS_CLOSE = ("OK", "INFORMATIONAL", "WRONG CODE", "UNCLEAN", "FAILED", "FAILED BY CLIENT")
EXIT_PASSED, EXIT_FAILED, EXIT_NO_REPORT = 0, 1, 2


def wsfast_has_asyncio_layer() -> bool:
    """Whether ``wsfast.serve`` exists (the asyncio layer); until then the harness checks websockets."""
    try:
        import wsfast
    except ImportError:
        return False
    return hasattr(wsfast, "serve")


def resolve_impl(impl: str) -> str:
    if impl == "auto":
        return "wsfast" if wsfast_has_asyncio_layer() else "websockets"
    return impl


def kosoku_command() -> str:
    """The kosoku console script: beside this interpreter (a venv), else on PATH."""
    found = shutil.which("kosoku", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        raise SystemExit("kosoku not found: pip install kosoku")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server under test exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server under test did not listen on port {port} within {wait:g} s") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """End a process this script started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ModeResult:
    mode: str
    impl: str
    command: list[str]
    seconds: float
    kosoku_status: int | None
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id -> index entry (+ agent)
    expected_count: int | None = None
    problem: str = ""  # why there is no usable report
    note: str = ""  # something odd that still left a usable report
    known_failures: tuple[str, ...] = ()  # case ids or globs whose failure is expected (not counted)

    def _is_known(self, case: str) -> bool:
        return any(fnmatch.fnmatchcase(case, pattern) for pattern in self.known_failures)

    @property
    def all_failed(self) -> list[str]:
        return [
            case
            for case, entry in self.cases.items()
            if entry["behavior"] not in PASSING or entry["behaviorClose"] not in PASSING
        ]

    @property
    def failed(self) -> list[str]:
        """The failed cases that count: all but the known failures."""
        return [case for case in self.all_failed if not self._is_known(case)]

    @property
    def known(self) -> list[str]:
        return [case for case in self.all_failed if self._is_known(case)]

    @property
    def status(self) -> int:
        if self.problem:
            return EXIT_NO_REPORT
        return EXIT_FAILED if self.failed else EXIT_PASSED


def read_index(outdir: Path) -> dict[str, dict[str, Any]]:
    """``index.json`` flattened to case id -> entry (behavior, behaviorClose, remoteCloseCode, duration, ...)."""
    index = json.loads((outdir / "index.json").read_text())
    cases: dict[str, dict[str, Any]] = {}
    for agent, entries in index.items():
        for case, entry in entries.items():
            cases[case] = dict(entry, agent=agent)
    return dict(sorted(cases.items(), key=lambda item: [int(part) for part in item[0].split(".")]))


def selection_arguments(include: list[str], exclude: list[str]) -> list[str]:
    arguments: list[str] = []
    for case in include:
        arguments += ["-i", case]
    for case in exclude:
        arguments += ["-x", case]
    return arguments


def run_fuzzingclient(impl: str, args: argparse.Namespace, outdir: Path) -> ModeResult:
    port = free_port()
    if impl == "wsfast-cli":
        server_command = [sys.executable, "-m", "wsfast", "echo", "--host", "127.0.0.1", "--port", str(port), "--ping-interval", "0",
                          "--max-message-size", str(64 * 2**20), "--max-frame-size", str(64 * 2**20),
                          "--max-fragments", "0"]
    else:
        lifetime = str(args.timeout + 60)
        server_command = [sys.executable, str(HERE / "echo_server.py"), "--impl", impl, "--host", "127.0.0.1", "--port", str(port), "--lifetime", lifetime]
    report_dir = outdir / "fuzzingclient"
    command = ["timeout", "--foreground", "-k", "15", str(args.timeout), kosoku_command(), "-m", "fuzzingclient", "-p", str(args.parallelism),
               "-o", str(report_dir), *selection_arguments(args.include, args.exclude), f"ws://127.0.0.1:{port}"]
    with open(outdir / "echo_server.log", "wb") as server_log, open(outdir / "kosoku-fuzzingclient.log", "wb") as kosoku_log:
        server = subprocess.Popen(server_command, stdout=server_log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, server, 30)
            print(f"$ {' '.join(command)}", flush=True)
            started = time.monotonic()
            kosoku = subprocess.run(command, stdout=kosoku_log, stderr=subprocess.STDOUT, check=False)
            seconds = time.monotonic() - started
        finally:
            stop(server)
    expected = FULL_SUITE_CASES if not args.include and not args.exclude else None
    return collect("fuzzingclient", impl, command, seconds, kosoku.returncode, report_dir, expected, args.known_failure)


def run_fuzzingserver(impl: str, args: argparse.Namespace, outdir: Path) -> ModeResult:
    port = free_port()
    client_impl = "wsfast" if impl == "wsfast-cli" else impl  # wsfast-sync: the synchronous client
    report_dir = outdir / "fuzzingserver"
    # -p has no effect in this mode: kosoku runs the cases one at a time, as the client asks for them.
    command = ["timeout", "--foreground", "-k", "15", str(args.timeout), kosoku_command(), "-m", "fuzzingserver",
               "-o", str(report_dir), *selection_arguments(args.include, args.exclude), f"127.0.0.1:{port}"]
    driver_command = [sys.executable, str(HERE / "client_driver.py"), "--impl", client_impl, "--url", f"ws://127.0.0.1:{port}",
                      "--agent", client_impl, "--case-timeout", str(args.case_timeout)]
    expected: int | None = None
    with open(outdir / "kosoku-fuzzingserver.log", "wb") as kosoku_log, open(outdir / "client_driver.log", "w+b") as driver_log:
        print(f"$ {' '.join(command)}", flush=True)
        started = time.monotonic()
        kosoku = subprocess.Popen(command, stdout=kosoku_log, stderr=subprocess.STDOUT)
        try:
            driver = subprocess.run(driver_command, stdout=driver_log, stderr=subprocess.STDOUT, timeout=args.timeout + 30, check=False)
            if driver.returncode != 0:
                print(f"client_driver.py exited with status {driver.returncode} (see {driver_log.name})", flush=True)
            # After /updateReports kosoku writes its reports and exits; `timeout` bounds it anyway.
            kosoku.wait(args.timeout + 30)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop(kosoku)
            seconds = time.monotonic() - started
        driver_log.seek(0)
        for line in driver_log.read().decode(errors="replace").splitlines():
            if line.startswith("case count: "):
                expected = int(line.removeprefix("case count: "))
    return collect("fuzzingserver", impl, command, seconds, kosoku.returncode, report_dir, expected, args.known_failure)


def collect(
    mode: str, impl: str, command: list[str], seconds: float, status: int | None, report_dir: Path, expected: int | None,
    known_failures: list[str],
) -> ModeResult:
    result = ModeResult(mode, impl, command, seconds, status, expected_count=expected, known_failures=tuple(known_failures))
    if status == 124 or status == -signal.SIGKILL or status == 128 + signal.SIGKILL:
        result.problem = "kosoku was stopped by the time limit (it writes no report then)"
    if not (report_dir / "index.json").exists():
        result.problem = result.problem or f"kosoku exited with status {status} and wrote no {report_dir / 'index.json'}"
        return result
    result.cases = read_index(report_dir)
    if expected is not None and len(result.cases) != expected:
        result.problem = f"{len(result.cases)} cases in the report, {expected} selected"
    elif not result.cases:
        result.problem = "the report has no case"
    elif not result.problem and status in (0, 1) and (status == 0) != (not result.all_failed):
        result.problem = f"kosoku exited with status {status}, which disagrees with the report"
    elif not result.problem and status not in (0, 1):
        # kosoku 0.1.0 sometimes aborts (SIGABRT) while exiting, after it wrote complete reports.
        result.note = f"kosoku exited with status {status} after writing its reports, which are complete"
    return result


def summarize(result: ModeResult, report_dir: Path) -> str:
    role = "the server" if result.mode == "fuzzingclient" else "the client"
    head = f"== {result.mode}: kosoku tests {role} of {result.impl}: {len(result.cases)} cases in {result.seconds:.1f} s, "
    lines = [head + f"kosoku exit status {result.kosoku_status}"]
    lines.append(f"   command: {' '.join(result.command)}")
    if result.cases:
        agents = sorted({entry["agent"] for entry in result.cases.values()})
        lines.append(f"   agent: {', '.join(agents)}; reports: {report_dir}")
        behaviors = collections.Counter(entry["behavior"] for entry in result.cases.values())
        closes = collections.Counter(entry["behaviorClose"] for entry in result.cases.values())
        lines.append("   behavior:      " + ", ".join(f"{name} {behaviors.get(name, 0)}" for name in BEHAVIORS if name in behaviors or name != "ERROR")
                     + "".join(f", {name} {count}" for name, count in behaviors.items() if name not in BEHAVIORS))
        lines.append("   behaviorClose: " + ", ".join(f"{name} {closes[name]}" for name in BEHAVIORS_CLOSE if name in closes)
                     + "".join(f", {name} {count}" for name, count in closes.items() if name not in BEHAVIORS_CLOSE))
        slowest = sorted(result.cases.items(), key=lambda item: -item[1]["duration"])[:3]
        lines.append("   slowest: " + ", ".join(f"{case} {entry['duration']} ms" for case, entry in slowest))
        failed, known = set(result.failed), set(result.known)
        not_ok = [(case, entry) for case, entry in result.cases.items() if entry["behavior"] != "OK" or entry["behaviorClose"] != "OK"]
        if not_ok:
            lines.append(f"   cases not OK on both verdicts ({len(not_ok)}):")
        for case, entry in not_ok:
            verdict = "FAIL" if case in failed else "KNOWN" if case in known else "pass"
            line = (f"     {verdict} {case:<8} behavior={entry['behavior']} behaviorClose={entry['behaviorClose']} "
                    f"remoteCloseCode={entry['remoteCloseCode']} duration={entry['duration']}ms")
            if case in failed or case in known:
                line += detail(report_dir / entry["reportfile"])
            lines.append(line)
    if result.note:
        lines.append(f"   note: {result.note}")
    if result.problem:
        lines.append(f"   NO USABLE REPORT: {result.problem}")
    else:
        known_note = f" (and {len(result.known)} known failures: {', '.join(result.known)})" if result.known else ""
        passed = len(result.cases) - len(result.all_failed)
        lines.append(f"   {'PASSED' if not result.failed else 'FAILED'}: {passed} passed, {len(result.failed)} failed{known_note}")
    return "\n".join(lines)


def detail(path: Path) -> str:
    """The telling fields of a failed case's JSON report (its ``result`` text can mislead: not shown)."""
    try:
        case = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    parts = [f"remoteCloseReason={case.get('remoteCloseReason')!r}", f"wasClean={case.get('wasClean')}"]
    if case.get("wasNotCleanReason"):
        parts.append(f"wasNotCleanReason={case['wasNotCleanReason']!r}")
    if case.get("resultClose"):
        parts.append(f"resultClose={case['resultClose'][:120]!r}")
    return " " + " ".join(parts)


def fresh_outdir(requested: str | None, impl: str) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix=f"wsfast-autobahn-{impl}-"))
    outdir = Path(requested)
    if outdir.exists() and any(outdir.iterdir()):
        raise SystemExit(f"{outdir} is not empty: kosoku never clears its output directory, give a fresh one")
    outdir.mkdir(parents=True, exist_ok=True)
    return outdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default="auto",
                        help="auto: wsfast once wsfast.serve exists, else websockets (a self-check of the harness)")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("-i", "--include", action="append", default=[], metavar="CASE", help="case id or glob (repeatable)")
    parser.add_argument("-x", "--exclude", action="append", default=[], metavar="CASE", help="case id or glob to leave out (repeatable)")
    parser.add_argument("-p", "--parallelism", type=int, default=2, help="fuzzingclient cases at a time (default 2; 4 gave a false failure)")
    parser.add_argument("-o", "--outdir", default=None, help="a new or empty directory (default: a new temporary one)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds each kosoku run may take (default 900)")
    parser.add_argument("--case-timeout", type=float, default=60.0, help="seconds the client driver gives one case (default 60)")
    parser.add_argument("--known-failure", action="append", default=[], metavar="CASE",
                        help="a case id or glob whose failure is expected: listed as KNOWN, not counted (repeatable)")
    parser.add_argument("--summary-json", default=None, help="also write the summary as JSON to this file")
    args = parser.parse_args(argv)

    impl = resolve_impl(args.impl)
    if impl == "wsfast-sync" and args.mode != "fuzzingserver":
        parser.error("wsfast-sync is a client: use it with --mode fuzzingserver")
    if args.impl == "auto" and impl == "websockets":
        print("wsfast.serve does not exist yet: running the suite against websockets, as a self-check of the harness", flush=True)
    outdir = fresh_outdir(args.outdir, impl)
    print(f"implementation: {impl}; output: {outdir}", flush=True)

    results: list[ModeResult] = []
    for mode in MODES if args.mode == "both" else (args.mode,):
        runner = run_fuzzingclient if mode == "fuzzingclient" else run_fuzzingserver
        result = runner(impl, args, outdir)
        results.append(result)
        print(summarize(result, outdir / mode), flush=True)

    status = max(result.status for result in results)
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps([
            {"mode": r.mode, "impl": r.impl, "seconds": round(r.seconds, 1), "kosoku_status": r.kosoku_status,
             "cases": len(r.cases), "failed": r.failed, "known_failures": r.known, "problem": r.problem, "note": r.note,
             "behavior": collections.Counter(e["behavior"] for e in r.cases.values()),
             "behaviorClose": collections.Counter(e["behaviorClose"] for e in r.cases.values())}
            for r in results], indent=2))
    total = sum(len(r.cases) for r in results)
    failed = sum(len(r.failed) for r in results)
    known = sum(len(r.known) for r in results)
    print(f"autobahn ({impl}): {'PASSED' if status == EXIT_PASSED else 'FAILED' if status == EXIT_FAILED else 'NO USABLE REPORT'}: "
          f"{total - failed - known} cases passed, {failed} failed, {known} known failures, in {sum(r.seconds for r in results):.0f} s",
          flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
