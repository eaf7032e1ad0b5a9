#!/usr/bin/env python3
"""Echo round trips over 127.0.0.1: wsfast's asyncio server and client against websockets, aiohttp and
picows, and a raw asyncio TCP echo as the ceiling, with a PASS/FAIL per target.

    python benchmarks/report_echo.py                       # Markdown on stdout, progress on stderr
    python benchmarks/report_echo.py --output benchmarks/RESULTS-echo.md
    python benchmarks/report_echo.py --quick               # fewer, shorter rounds (smoke run)

Every cell is one client process and one server process (``_echo_peers.py``), both on the same event
loop (asyncio or uvloop), talking over one connection on 127.0.0.1 (random port). The client sends one
binary message, awaits its echo, and sends the next: a round trip at a time, no pipelining. Every side
runs without compression (permessage-deflate not offered or not accepted), without keepalive pings,
and with message and frame limits of 8 MiB.

- Pilot: wsfast's and picows' clients against wsfast's and picows' servers (2 x 2 cells, every size).
  The faster client (geometric mean of its round trips/s over both servers and every size) drives
  every server in the servers matrix; the faster server is the one every client drives in the clients
  matrix.
- Servers matrix: wsfast (both APIs, on the loop's transports and with use_aiofastnet=True),
  websockets, aiohttp, picows (and picows without aiofastnet, informative),
  each driven by that one client. Clients matrix: the same (and picows without aiofastnet) against
  that one server. Ceiling: a raw asyncio.Protocol TCP echo of the bytes of the client's frame, both
  sides in asyncio.Protocol; wsfast's client against wsfast's server is the cell compared with it.
  Informative: the same echo with asyncio.BufferedProtocol on both sides, and on aiofastnet's transports.
- Method: every size runs on fresh processes (see ``Bench``). Before timing, every cell checks that 8
  distinct random messages of the size come back equal (bytes, same content). Then every cell is
  calibrated (the warm-up) to a message count that lasts about --sample seconds, and sampled in
  --rounds interleaved rounds in rotating order, so that a burst of noise on this shared machine hits
  all cells alike. A sample is the wall
  clock of COUNT round trips in the client process (and the client's last echo is compared with the
  message); figures are medians of the rounds, in round trips per second; ratios are of medians, from
  the same run. Also recorded per round trip: the CPU time of the client process
  (``time.process_time``) and of the server process (``/proc/PID/task/*/schedstat``), which on a busy
  2-core machine are steadier than the wall clock.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report as rp

HERE = Path(__file__).resolve().parent
PEERS_SCRIPT = HERE / "_echo_peers.py"

KIB = 1024
SIZES = (256, 8 * KIB, 100_000, 2_000_000)
LABELS = {256: "256 B", 8 * KIB: "8 KiB", 100_000: "100 KB", 2_000_000: "2 MB"}
LOOPS = ("asyncio", "uvloop")
WSFAST_AWAIT, WSFAST_CALLBACK = "wsfast", "wsfast-callback"
#: The same two with ``use_aiofastnet=True``: on aiofastnet's transports, as picows runs by default.
WSFAST_AWAIT_FAST, WSFAST_CALLBACK_FAST = "wsfast-aiofastnet", "wsfast-callback-aiofastnet"
WSFAST = (WSFAST_AWAIT, WSFAST_CALLBACK, WSFAST_AWAIT_FAST, WSFAST_CALLBACK_FAST)
LIBS = (*WSFAST, "websockets", "aiohttp", "picows")
#: Informative rows: picows on the event loop's own transports, and the ceiling on aiofastnet's.
PICOWS_STDLIB = "picows-stdlib"
TCP, TCP_BUFFERED, TCP_FAST, TCP_TASK = "tcp", "tcp-buffered", "tcp-aiofastnet", "tcp-task"
TCP_TASK_EAGER = "tcp-task-eager"
CEILINGS = (TCP, TCP_BUFFERED, TCP_FAST, TCP_TASK, TCP_TASK_EAGER)
#: The raw echo the overhead is measured from: the same reads as wsfast's (into one buffer).
FLOOR = TCP_BUFFERED
#: Informative rows of both matrices.
EXTRA = (PICOWS_STDLIB,)
DISPLAY = {"wsfast": "wsfast, await API", WSFAST_CALLBACK: "wsfast, callback API",
           WSFAST_AWAIT_FAST: "wsfast, await API, use_aiofastnet=True",
           WSFAST_CALLBACK_FAST: "wsfast, callback API, use_aiofastnet=True", "websockets": "websockets", "aiohttp": "aiohttp", "picows": "picows",
           PICOWS_STDLIB: "picows, use_aiofastnet=False", TCP: "raw asyncio TCP echo (ceiling)",
           TCP_BUFFERED: "raw TCP echo, asyncio.BufferedProtocol both sides",
           TCP_FAST: "raw TCP echo on aiofastnet transports",
           TCP_TASK: "raw TCP echo through one task wake-up per read (floor of an await API)",
           TCP_TASK_EAGER: "raw TCP echo through a task resumed from the read callback (floor of an await API "
                           "that wakes its readers so, as wsfast's)"}
FAST_CANDIDATES = (WSFAST_CALLBACK, WSFAST_CALLBACK_FAST, "picows")
COMMAND_TIMEOUT = 90.0
#: The CPU every client and server process runs on (``--cpu``): a round trip's two wake-ups
#: crossing vCPUs cost tens of µs here and vary 4x, far more than the libraries differ by.
PIN_CPU: int | None = max(os.sched_getaffinity(0))
START_TIMEOUT = 30.0

Stats = rp.Stats


# ------------------------------------------------------------------------------------ processes


def _pin() -> None:
    if PIN_CPU is not None:
        os.sched_setaffinity(0, {PIN_CPU})


class Worker:
    """A client or server process of ``_echo_peers.py``, talked to line by line over pipes."""

    def __init__(self, role: str, impl: str, loop: str, port: int | None, logdir: Path,
                 options: tuple[str, ...] = (), wrapper: tuple[str, ...] = ()) -> None:
        self.role, self.impl, self.loop = role, impl, loop
        command = [*wrapper, sys.executable, str(PEERS_SCRIPT), role, impl, "--loop", loop, *options]
        if port is not None:
            command += ["--port", str(port)]
        self.log = Path(tempfile.mkstemp(prefix=f"{loop}-{role}-{impl}-", suffix=".log", dir=logdir)[1])
        self.log_file = self.log.open("wb")
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log_file, bufsize=0, preexec_fn=_pin)
        self.buffer = b""
        self.port = port

    def ready(self) -> None:
        """Wait for the READY line (started processes import and listen or connect in parallel)."""
        first = self.readline(START_TIMEOUT)
        if not first.startswith("READY"):
            raise RuntimeError(f"{self.role} {self.impl} on {self.loop} did not start: {first!r}; "
                               f"{self.stderr_tail()}")
        if self.role == "server":
            self.port = int(first.split()[1])

    def readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"{self.role} {self.impl} on {self.loop}: no answer in {timeout:.0f} s; "
                                       f"{self.stderr_tail()}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.role} {self.impl} on {self.loop} exited "
                                       f"(status {self.proc.poll()}); {self.stderr_tail()}")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def command(self, line: str, timeout: float = COMMAND_TIMEOUT) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        return self.readline(timeout)

    def cpu_seconds(self) -> float:
        """CPU time of every thread of the process, in seconds (the scheduler's ns counters)."""
        total = 0
        task_dir = Path(f"/proc/{self.proc.pid}/task")
        for task in task_dir.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total / 1e9

    def stderr_tail(self) -> str:
        self.log_file.flush()
        try:
            text = self.log.read_text(errors="replace").strip()
        except OSError:
            return "no stderr"
        return f"stderr: {text[-1500:]}" if text else "no stderr"

    def stop(self) -> None:
        """quit (client) or end of input (server), then wait; kill this process only if it hangs."""
        try:
            if self.role == "client" and self.proc.poll() is None:
                self.proc.stdin.write(b"quit\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log_file.close()


# ------------------------------------------------------------------------------------ cells


@dataclass
class Cell:
    client: str
    server: str
    worker: Worker | None = None
    skip: str | None = None  # why it is not measured at the size being run
    notes: dict[int, str] = field(default_factory=dict)  # that reason, by size
    counts: dict[int, int] = field(default_factory=dict)
    wall: dict[int, list[float]] = field(default_factory=dict)  # seconds per round trip, per sample
    client_cpu: dict[int, list[float]] = field(default_factory=dict)
    server_cpu: dict[int, list[float]] = field(default_factory=dict)
    total_cpu: dict[int, list[float]] = field(default_factory=dict)  # client + server
    verified: dict[int, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.client, self.server

    def stats(self, size: int, kind: str = "wall") -> Stats | None:
        samples = {"wall": self.wall, "client": self.client_cpu, "server": self.server_cpu,
                   "cpu": self.total_cpu}[kind].get(size)
        if not samples:
            return None
        ordered = sorted(samples)
        q = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
        return Stats(statistics.median(ordered), q[0], q[2], self.counts.get(size, 0), len(ordered))


class Bench:
    """Fresh server and client processes for some cells, on one event loop; ``with`` closes them all.

    Every size is measured on fresh processes, so that no cell inherits another size's history: on
    the stdlib loop a plain ``asyncio.Protocol`` reads with ``sock.recv(256 KiB)``, which costs an
    mmap + munmap per read until the process has once freed a large block (glibc's dynamic mmap
    threshold), for instance after 2 MB messages. Fresh processes per size keep that state the same for
    every cell: the default at 256 B to 100 KB, raised during the 2 MB cells' checks."""

    def __init__(self, loop: str, logdir: Path, cells: list[Cell], size: int,
                 client_options: tuple[str, ...] = ()) -> None:
        self.loop, self.size = loop, size
        self.servers: dict[str, Worker | str] = {}  # a Worker, or why it could not start
        self.cells = cells
        for impl in dict.fromkeys(cell.server for cell in cells):
            try:
                self.servers[impl] = Worker("server", impl, loop, None, logdir)
            except Exception as error:  # noqa: BLE001 - reported as a skip
                self.servers[impl] = f"server did not start ({error})"
        for impl, server in list(self.servers.items()):
            if isinstance(server, Worker):
                try:
                    server.ready()
                except Exception as error:  # noqa: BLE001
                    server.stop()
                    self.servers[impl] = f"server did not start ({error})"
        for cell in cells:
            cell.worker, cell.skip = None, None
            host = self.servers[cell.server]
            if isinstance(host, str):
                self.fail(cell, host)
                continue
            try:
                cell.worker = Worker("client", cell.client, loop, host.port, logdir, client_options)
            except Exception as error:  # noqa: BLE001
                self.fail(cell, f"client did not start ({error})")
        for cell in cells:
            if cell.worker is not None:
                try:
                    cell.worker.ready()
                except Exception as error:  # noqa: BLE001
                    self.fail(cell, f"client did not connect ({error})")

    def fail(self, cell: Cell, reason: str) -> None:
        """Leave ``cell`` out at this size, saying why."""
        cell.skip = cell.notes[self.size] = reason
        if cell.worker is not None:
            cell.worker.stop()
            cell.worker = None

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for cell in self.cells:
            if cell.worker is not None:
                cell.worker.stop()
                cell.worker = None
        for server in self.servers.values():
            if isinstance(server, Worker):
                server.stop()

    def sample(self, cell: Cell, size: int, count: int) -> tuple[float, float, float]:
        """(wall, client CPU, server CPU) seconds for ``count`` round trips."""
        assert cell.worker is not None
        server = self.servers[cell.server]
        assert isinstance(server, Worker)
        before = server.cpu_seconds()
        answer = cell.worker.command(f"run {size} {count}")
        server_cpu = server.cpu_seconds() - before
        result = json.loads(answer)
        if not result["ok"]:
            raise RuntimeError(f"{cell.client} -> {cell.server}: the last echo differs from the message")
        return result["wall"], result["cpu"], server_cpu

    def measure(self, cells: list[Cell], rounds: int, sample_s: float) -> None:
        size = self.size
        live = [c for c in cells if c.skip is None and c.worker is not None]
        for cell in live:  # correctness first
            try:
                answer = cell.worker.command(f"verify {size}")  # type: ignore[union-attr]
            except Exception as error:  # noqa: BLE001
                answer = f"FAIL {error}"
            cell.verified[size] = answer
            if not answer.startswith("OK"):
                self.fail(cell, f"verification failed at {LABELS[size]}: {answer}")
        for cell in [c for c in live if c.skip is None]:  # calibration, also the warm-up
            count = 2 if size >= 1_000_000 else 20
            try:
                for _ in range(8):
                    wall, _, _ = self.sample(cell, size, count)
                    if wall >= sample_s / 4:
                        break
                    count *= 4
            except Exception as error:  # noqa: BLE001
                self.fail(cell, f"calibration failed: {error}")
                continue
            cell.counts[size] = max(3, round(count * sample_s / wall))
        live = [c for c in live if c.skip is None]
        for index in range(rounds):
            shift = index % len(live) if live else 0
            for cell in live[shift:] + live[:shift]:
                if cell.skip is not None:
                    continue
                count = cell.counts[size]
                try:
                    wall, client_cpu, server_cpu = self.sample(cell, size, count)
                except Exception as error:  # noqa: BLE001
                    self.fail(cell, f"failed in round {index + 1}: {error}")
                    for samples in (cell.wall, cell.client_cpu, cell.server_cpu, cell.total_cpu):
                        samples.pop(size, None)
                    continue
                cell.wall.setdefault(size, []).append(wall / count)
                cell.client_cpu.setdefault(size, []).append(client_cpu / count)
                cell.server_cpu.setdefault(size, []).append(server_cpu / count)
                cell.total_cpu.setdefault(size, []).append((client_cpu + server_cpu) / count)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


@dataclass
class LoopResult:
    loop: str
    pilot: dict[tuple[str, str], Cell]
    fast_client: str
    fast_server: str
    pilot_scores: dict[str, float]  # round trips/s, geometric mean
    servers: dict[str, Cell]  # by server, driven by fast_client
    clients: dict[str, Cell]  # by client, against fast_server
    ceilings: dict[str, Cell]
    error: str | None = None


#: From this size up, a pair of processes keeps its own pace for life: at 2 MB a fresh pair of the
#: same code is up to 1.5x faster or slower, whichever the library (measured here: six fresh sets of
#: wsfast's client on the loop's and on aiofastnet's transports and picows' client against one
#: server, each client's best and worst set 1.4-1.55x apart, in no fixed order, with the same
#: system calls and no page faults). Most likely where the pages of a message as large as the 2 MiB
#: L2 cache fall, which no allocator setting fixes. So these sizes take more sets of fresh
#: processes, with fewer rounds each.
LARGE = 1_000_000


def process_sets(size: int, rounds: int, repeats: int, large_repeats: int) -> tuple[int, int]:
    """(sets of fresh processes, rounds in each) at ``size``: the large sizes spread about as
    many samples over ``large_repeats`` sets."""
    if size < LARGE or large_repeats <= repeats:
        return repeats, rounds
    return large_repeats, max(2, math.ceil(rounds * repeats / large_repeats))


def run_loop(loop: str, sizes: tuple[int, ...], rounds: int, repeats: int, large_repeats: int, sample_s: float,
             pilot_rounds: int, pilot_sample_s: float, logdir: Path, progress: Any) -> LoopResult:
    pilot = {(c, s): Cell(c, s) for c in FAST_CANDIDATES for s in FAST_CANDIDATES}
    for size in sizes:
        progress(f"{loop}: pilot, {LABELS[size]} ({' and '.join(FAST_CANDIDATES)}, clients x servers)")
        with Bench(loop, logdir, list(pilot.values()), size) as bench:
            bench.measure(list(pilot.values()), pilot_rounds, pilot_sample_s)
    scores: dict[str, float] = {}
    for role, index in (("client", 0), ("server", 1)):
        for impl in FAST_CANDIDATES:
            rates = [1 / stats.median for key, cell in pilot.items() if key[index] == impl
                     for size in sizes if (stats := cell.stats(size)) is not None]
            scores[f"{role} {impl}"] = geomean(rates) if rates else 0.0
    fast_client = max(FAST_CANDIDATES, key=lambda impl: scores[f"client {impl}"])
    fast_server = max(FAST_CANDIDATES, key=lambda impl: scores[f"server {impl}"])

    cells: dict[tuple[str, str], Cell] = {}

    def cell(client: str, server: str) -> Cell:
        return cells.setdefault((client, server), Cell(client, server))

    servers = {impl: cell(fast_client, impl) for impl in (*LIBS, *EXTRA)}
    clients = {impl: cell(impl, fast_server) for impl in (*LIBS, *EXTRA)}
    ceilings = {impl: cell(impl, impl) for impl in CEILINGS}
    every = list(cells.values())
    for size in sizes:
        # Several sets of fresh processes, their samples pooled: a client and a server sharing a CPU
        # can settle into a slower rhythm of wake-ups for the life of the pair (seen here: the same
        # pair at 16 or at 22 µs per round trip), which one set would hand a whole cell; at the large
        # sizes, more sets (LARGE).
        sets, set_rounds = process_sets(size, rounds, repeats, large_repeats)
        for repeat in range(sets):
            progress(f"{loop}: {LABELS[size]}, {len(every)} cells x {set_rounds} rounds, process set {repeat + 1}/{sets}")
            with Bench(loop, logdir, [c for c in every if size not in c.notes], size) as bench:
                bench.measure(bench.cells, set_rounds, sample_s)
    return LoopResult(loop, pilot, fast_client, fast_server, scores, servers, clients, ceilings)


# ------------------------------------------------------------------------------------ report


def fmt_rate(stats: Stats | None) -> str:
    if stats is None:
        return "–"
    rate = 1 / stats.median
    return f"{rate / 1000:,.1f}k/s" if rate >= 10_000 else f"{rate:,.0f}/s"


def rate_or_reason(cell: Cell, size: int) -> str:
    return f"– ({cell.notes[size]})" if size in cell.notes else fmt_rate(cell.stats(size))


def fmt_us(stats: Stats | None) -> str:
    if stats is None:
        return "–"
    us = stats.median * 1e6
    return f"{us:,.1f}" if us < 100 else f"{us:,.0f}"


def group_of(cells: dict[str, Cell], size: int, kind: str = "wall") -> dict[str, Stats]:
    return {impl: s for impl, c in cells.items() if (s := c.stats(size, kind)) is not None}


def matrix_table(title: str, cells: dict[str, Cell], sizes: tuple[int, ...], varying: str) -> list[str]:
    """Rates, with wsfast's rate divided by each row's, per size."""
    rows = []
    for impl, cell in cells.items():
        row = [DISPLAY[impl]]
        for size in sizes:
            stats, ours = cell.stats(size), cells["wsfast"].stats(size)
            text = fmt_rate(stats) if size not in cell.notes else f"– ({cell.notes[size]})"
            if stats is not None:
                text += f" ±{stats.noise * 50:.0f}%"
                if ours is not None and impl != "wsfast":
                    text += f" (wsfast {stats.median / ours.median:.2f}×)"
            row.append(text)
        rows.append(row)
    return [title, ""] + rp.table([varying] + [LABELS[s] for s in sizes], rows) + [""]


def cpu_table(cells: dict[str, Cell], sizes: tuple[int, ...], varying: str) -> list[str]:
    rows = [[DISPLAY[impl]] + [f"{fmt_us(c.stats(s, 'server'))} / {fmt_us(c.stats(s, 'client'))}" for s in sizes]
            for impl, c in cells.items() if any(c.stats(s) for s in sizes)]
    return rp.table([f"{varying}: CPU µs per round trip, server / client"] + [LABELS[s] for s in sizes], rows)


#: CPU-per-round-trip targets at these sizes (issue 11): (wsfast's API, peer, limit on time(ours)/time(peer)),
#: each API checked on the loop's transports and with use_aiofastnet=True.
CPU_TARGETS = tuple((ours, peer, limit) for callback, awaiting in ((WSFAST_CALLBACK, WSFAST_AWAIT), (WSFAST_CALLBACK_FAST, WSFAST_AWAIT_FAST))
                    for ours, peer, limit in ((callback, "picows", 1.0), (awaiting, "aiohttp", 0.8), (awaiting, "websockets", 0.5)))
CPU_TARGET_SIZES = (256, 8 * KIB)
#: Round trips/s targets at these sizes: each wsfast API at least as fast as picows.
RATE_TARGET_SIZES = (100_000, 2_000_000)


def targets_for(result: LoopResult, sizes: tuple[int, ...]) -> list[rp.Check]:
    """The issue's targets at one loop: CPU per round trip of the side under test (the server's
    process in the servers matrix, the client's in the clients matrix) at small sizes, and round
    trips per second at large ones."""
    out: list[rp.Check] = []

    def skip_of(cells: dict[str, Cell], size: int, *impls: str) -> str | None:
        return next((f"{i}: {cells[i].notes[size]}" for i in impls if size in cells[i].notes), None)

    for matrix, cells, other in (("server", result.servers, f"driven by {result.fast_client}'s client"),
                                 ("client", result.clients, f"against {result.fast_server}'s server")):
        for size in (s for s in sizes if s in CPU_TARGET_SIZES):
            group = group_of(cells, size, matrix)
            for ours, peer, limit in CPU_TARGETS:
                out.append(rp.ratio_check(f"{matrix} CPU per round trip, {DISPLAY[ours]} ≤ {limit:g}× {peer}",
                                          f"{result.loop}, {LABELS[size]} ({other})", group, ours, peer, limit,
                                          skip=skip_of(cells, size, ours, peer)))
        for size in (s for s in sizes if s in RATE_TARGET_SIZES):
            group = group_of(cells, size)
            for ours in WSFAST:
                out.append(rp.ratio_check(f"{matrix} round trips/s, {DISPLAY[ours]} ≥ picows",
                                          f"{result.loop}, {LABELS[size]} ({other})", group, ours, "picows", 1.0,
                                          speedup=True, skip=skip_of(cells, size, ours, "picows")))
    return out


#: WebSocket implementations on the loop's own transports without a task per message: the least
#: WebSocket work per message measured in a run is the cheapest of these above the raw echo.
LEAST_WORK = (WSFAST_CALLBACK, PICOWS_STDLIB)
AWAIT_LIMIT = 0.8  # the await API's target against aiohttp


def await_room_table(result: LoopResult, sizes: tuple[int, ...]) -> list[str]:
    """Whether "await API ≤ 0.8× aiohttp" leaves room for any WebSocket work on this machine.

    An await API pays, per message, at least what a raw echo through a task pays (the server's
    floor; every client here awaits a future per round trip already, so a client's floor is the
    raw buffered echo's), plus the WebSocket work itself, of which the cheapest measured is the
    least of ``LEAST_WORK`` above the raw buffered echo. The limit is beyond reach when the room it
    leaves above the floor is smaller than that least work.
    """
    rows = []
    for side, cells, floor_impl in (("server", result.servers, TCP_TASK_EAGER), ("client", result.clients, FLOOR)):
        for size in (s for s in sizes if s in CPU_TARGET_SIZES):
            peer, ours = cells["aiohttp"].stats(size, side), cells[WSFAST_AWAIT].stats(size, side)
            floor, buffered = result.ceilings[floor_impl].stats(size, side), result.ceilings[FLOOR].stats(size, side)
            works = {impl: stats.median - buffered.median for impl in LEAST_WORK
                     if buffered is not None and (stats := cells[impl].stats(size, side)) is not None}
            if peer is None or ours is None or floor is None or not works:
                continue
            least = min(works, key=works.__getitem__)
            room = AWAIT_LIMIT * peer.median - floor.median
            verdict = ("beyond reach: less room than the least WebSocket work" if room < works[least]
                       else "wsfast's await API fits in it" if ours.median - floor.median <= room
                       else "reachable in principle")
            rows.append([f"{side}, {LABELS[size]}", fmt_us(peer), f"{AWAIT_LIMIT * peer.median * 1e6:,.1f}",
                         f"{fmt_us(floor)} ({floor_impl})", f"{room * 1e6:,.1f}",
                         f"{works[least] * 1e6:,.1f} ({DISPLAY[least]})", f"{(ours.median - floor.median) * 1e6:,.1f}",
                         verdict])
    if not rows:
        return []
    return rp.table(["side, size", "aiohttp µs", f"limit ({AWAIT_LIMIT:g}×)", "floor µs", "room above the floor",
                     "least WebSocket work", "wsfast await above the floor", "verdict"], rows)


def overhead_table(cells: dict[str, Cell], floor: Cell, sizes: tuple[int, ...], side: str) -> list[str]:
    """CPU per round trip of one side, and how much of it is above the raw echo's."""
    rows = []
    for impl, cell in cells.items():
        row = [DISPLAY[impl]]
        for size in sizes:
            ours, base = cell.stats(size, side), floor.stats(size, side)
            if ours is None:
                row.append("–")
            elif base is None:
                row.append(fmt_us(ours))
            else:
                row.append(f"{fmt_us(ours)} (+{(ours.median - base.median) * 1e6:,.1f})")
        rows.append(row)
    return rp.table([f"{side}: CPU µs per round trip (above the raw echo's)"] + [LABELS[s] for s in sizes], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.06 s samples, a short pilot (smoke run)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per process set (default 7)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="sets of fresh processes per size, samples pooled (default 3)")
    parser.add_argument("--large-repeats", type=int, default=9,
                        help=f"sets of fresh processes from {LARGE:,} B up, with rounds to match (default 9)")
    parser.add_argument("--sample", type=float, default=0.12, help="seconds per sample (default 0.12)")
    parser.add_argument("--loops", default=",".join(LOOPS), help="comma-separated: asyncio,uvloop")
    parser.add_argument("--sizes", help="comma-separated subset of sizes in bytes (default: 256,8192,100000,2000000)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    args = parser.parse_args(argv)
    rounds, sample_s = (3, 0.06) if args.quick else (max(1, args.rounds), args.sample)
    repeats = 1 if args.quick else max(1, args.repeats)
    large_repeats = 1 if args.quick else max(1, args.large_repeats)
    pilot_rounds, pilot_sample_s = (2, 0.04) if args.quick else (5, 0.08)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else SIZES
    for size in sizes:
        LABELS.setdefault(size, f"{size} B")
    loops = tuple(args.loops.split(","))

    from wsfast import kernels

    if kernels.IMPLEMENTATION != "c":
        parser.error("the C kernels are not loaded (wsfast.kernels.IMPLEMENTATION is "
                     f"{kernels.IMPLEMENTATION!r}): rebuild with `pip install .`")
    load_before = rp._load()
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    results: list[LoopResult] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wsfast-echo-") as tmp:
        for loop in loops:
            try:
                results.append(run_loop(loop, sizes, rounds, repeats, large_repeats, sample_s, pilot_rounds,
                                        pilot_sample_s, Path(tmp), progress))
            except Exception as error:  # noqa: BLE001 - reported: e.g. wsfast failing on uvloop
                failures.append(f"- **{loop}: the run failed**: `{type(error).__name__}: {error}`")
                progress(f"{loop}: FAILED: {error}")
    elapsed = time.perf_counter() - started
    progress("done")

    from wsfast import _kernels_c

    large_sets, large_rounds = process_sets(LARGE, rounds, repeats, large_repeats)
    lines = rp.report_header("wsfast echo round-trip benchmarks", "report_echo.py", argv, args.quick, elapsed, load_before)
    lines += [
        f"- wsfast {rp._dist_version('wsfast')}: IMPLEMENTATION={kernels.IMPLEMENTATION}, "
        f"SIMD={_kernels_c._current_simd()}; {rp._build_info(_kernels_c)}",
        "- peers: " + "; ".join(f"{name} {rp._dist_version(name)}" for name in
                                ("websockets", "aiohttp", "picows", "aiofastnet", "uvloop")),
        f"- method: one client process and one server process per cell, same event loop on both, one connection "
        f"over 127.0.0.1, fresh processes for every size; binary messages, one round trip at a time. A pilot "
        f"({pilot_rounds} rounds of {pilot_sample_s:g} s) picks the client and the server that drive the matrices. "
        f"{rounds} interleaved rounds per size on each of {repeats} sets of fresh processes (samples pooled; "
        f"from {LARGE:,} B up, {large_rounds} rounds on each of {large_sets} sets: see LARGE in the script) "
        f"(rotating order) of about {sample_s:g} s each, after an 8-message equality check and a calibration "
        "run per cell; figures are medians of round trips per second (wall clock of the client), ± is half "
        "the interquartile range; ratios are of medians from this one run. Compression off, keepalive off, "
        "limits 8 MiB, on every side. "
        f"Every process is pinned to CPU {PIN_CPU} (client and server share it: a wake-up across vCPUs costs tens "
        "of µs here and varies 4×), and every process frees an 8 MiB block before anything else, so that all "
        "start with glibc's mmap threshold raised (see below).",
        "",
    ]
    lines += failures + ([""] if failures else [])

    every_check: list[rp.Check] = []
    for result in results:
        every_check += targets_for(result, sizes)
    if every_check:
        lines += ["## Targets", "",
                  "From issue 11: at 256 B and 8 KiB, CPU per round trip of the side under test (the server "
                  "process in the servers matrix, the client process in the clients matrix): the callback API "
                  "≤ 1.0× picows', the await API ≤ 0.8× aiohttp's and ≤ 0.5× websockets'; at 100 KB and 2 MB, "
                  "round trips/s of both APIs ≥ 1.0× picows'. Ratios are of medians from this run (time of "
                  "wsfast / time of the peer for CPU, rate of wsfast / rate of the peer for round trips); noise "
                  "= ±half the interquartile range of the noisier of the two.", ""]
        lines += rp.table(["target", "where", "wsfast", "peer", "ratio", "limit", "noise", "result"],
                          [check.row() for check in every_check])
        passed = sum(c.passed is True for c in every_check)
        failed = sum(c.passed is False for c in every_check)
        skipped = sum(c.passed is None for c in every_check)
        lines += ["", f"**{passed} passed, {failed} failed, {skipped} skipped**", ""]
        by_target: dict[str, list[rp.Check]] = {}
        for check in every_check:
            by_target.setdefault(check.target, []).append(check)
        lines += ["### PASS/FAIL per target", ""]
        for target, group in by_target.items():
            for loop in loops:
                mine = [c for c in group if c.where.startswith(loop + ",")]
                if not mine:
                    continue
                values = [c.value for c in mine if c.value is not None]
                fails = [c.where.split(", ")[-1] for c in mine if c.passed is False]
                verdict = ("SKIP" if all(c.passed is None for c in mine) else "FAIL" if fails else "PASS")
                span = f" ({min(values):.2f}× to {max(values):.2f}×)" if len(values) > 1 else (
                    f" ({values[0]:.2f}×)" if values else "")
                where = f" at {', '.join(fails)}" if fails and len(mine) > 1 else ""
                lines.append(f"- {verdict}: {target}, {loop}{span}{where}")
        lines.append("")
    else:
        failed = 0

    for result in results:
        lines += [f"## {result.loop}", ""]
        pilot_rows = []
        for (client, server), cell in result.pilot.items():
            pilot_rows.append([f"{client} → {server}"] + [rate_or_reason(cell, s) for s in sizes])
        lines += [f"### Pilot: which client and server drive the matrices ({result.loop})", ""]
        lines += rp.table(["client → server"] + [LABELS[s] for s in sizes], pilot_rows)
        lines += ["", "Geometric means of round trips/s over every size and both counterparts: "
                  + "; ".join(f"{k} {v:,.0f}/s" for k, v in result.pilot_scores.items())
                  + f". So the servers are driven by **{result.fast_client}'s client** and the clients drive "
                  f"**{result.fast_server}'s server**.", ""]
        lines += matrix_table(f"### Servers, each driven by {result.fast_client}'s client ({result.loop})",
                              result.servers, sizes, "server")
        lines += matrix_table(f"### Clients, each against {result.fast_server}'s server ({result.loop})",
                              result.clients, sizes, "client")
        rows = [[DISPLAY[impl]] + [rate_or_reason(cell, s) for s in sizes] for impl, cell in result.ceilings.items()]
        lines += [f"### Floors: raw TCP echoes of the same bytes ({result.loop})", ""]
        lines += rp.table(["pair"] + [LABELS[s] for s in sizes], rows) + [""]
        floor = result.ceilings[FLOOR]
        lines += [f"### Overhead above the raw echo ({result.loop})", "",
                  f"CPU per round trip of the side under test, and in brackets how much it is above that side "
                  f"of the raw echo *{DISPLAY[FLOOR]}* (the same reads into one buffer that wsfast does), "
                  "measured in the same run.", ""]
        lines += overhead_table(result.servers, floor, sizes, "server") + [""]
        lines += overhead_table(result.clients, floor, sizes, "client") + [""]
        room = await_room_table(result, sizes)
        if room:
            lines += [f"### Room for the await API's target ({result.loop})", "",
                      f"The await API's target is {AWAIT_LIMIT:g}× aiohttp's CPU per round trip. Any await API pays "
                      f"at least a floor per message: on the server, the raw echo through a task, resumed "
                      f"from the read callback as wsfast's readers are (*{DISPLAY[TCP_TASK_EAGER]}*: below the "
                      f"same echo through a task wake-up on the loop's next turn, *{DISPLAY[TCP_TASK]}*, the way "
                      "aiohttp and websockets wake theirs); on the client, the raw buffered echo (every client here awaits "
                      "a future per round trip already). Above it comes the WebSocket work itself, of which the "
                      "least measured is the cheapest of the callback-style implementations on the loop's own "
                      "transports above the raw buffered echo. When the room the limit leaves above the floor is "
                      "smaller than that, no await API reaches it on this machine. CPU µs per round trip, "
                      "medians from this run.", ""]
            lines += room + [""]
        lines += [f"### CPU time per round trip, server process / client process, µs ({result.loop})", "",
                  "Medians over the same samples; the server's is the CPU its process used during the client's "
                  "batch (scheduler counters), the client's is its `time.process_time`.", ""]
        lines += cpu_table(result.servers, sizes, f"servers ({result.fast_client} client)") + [""]
        lines += cpu_table(result.clients, sizes, f"clients ({result.fast_server} server)") + [""]
        lines += cpu_table(result.ceilings, sizes, "floors") + [""]
        counts = {f"{c.client}→{c.server}": c.counts for c in
                  {id(c): c for c in [*result.servers.values(), *result.clients.values()]}.values()}
        lines += ["Round trips per sample: " + "; ".join(
            f"{k} " + "/".join(str(v.get(s, "–")) for s in sizes) for k, v in counts.items()) + ".", ""]

    lines += ["## What each cell measures", "",
              "- **A cell** = one client process → one server process, both on the event loop named, one WebSocket "
              "connection over 127.0.0.1. The client times COUNT round trips of one binary message (the same bytes "
              "each time): send it, await the whole echoed message as `bytes`, repeat. The client's last echo is "
              "compared with the message after each sample, and 8 distinct messages per size are checked byte for "
              "byte before timing. No pipelining, one connection: this is latency-bound, a test of per-message "
              "overhead at 256 B and of copies and buffering at 2 MB.",
              "- **wsfast, await API** server: `wsfast.serve(wsfast.commands.echo_handler, compression=None, "
              "ping_interval=None, max_message_size=8 MiB, max_frame_size=8 MiB)`; client: `wsfast.connect(...)`, "
              "`await ws.send(m); await ws.recv()`.",
              "- **wsfast, callback API** server: `wsfast.asyncio.callbacks.serve(Echo, ...)` with the same "
              "options, `Echo.on_message` calling `self.connection.send(data, text)`; client: "
              "`callbacks.connect(uri, Receiver, ...)`, whose `on_message` resolves a future per round trip, as "
              "picows' client does. *use_aiofastnet=True*: the same servers and clients with that option, "
              "on aiofastnet's Cython transports instead of the loop's (an optional dependency of wsfast; picows "
              "uses them by default).",
              "- **websockets**: `websockets.asyncio.server.serve` with `async for m in ws: await ws.send(m)`, "
              "and `websockets.asyncio.client.connect`, `compression=None, ping_interval=None, max_size=8 MiB`.",
              "- **aiohttp**: `web.WebSocketResponse(compress=False, heartbeat=None, max_msg_size=8 MiB)` in an "
              "`AppRunner` (no access log) echoing `send_bytes(msg.data)`; client `ClientSession.ws_connect("
              "compress=0, heartbeat=None)`, `send_bytes` + `receive_bytes`.",
              "- **picows**: `ws_create_server` with a `WSListener` whose `on_ws_frame` sends each data frame back "
              "(`transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)`); client "
              "`ws_connect` with a listener that resolves a future with `frame.get_payload_as_bytes()`, the round "
              "trip awaiting that future after `transport.send(BINARY, m)`. Auto-ping off, `max_frame_size` 8 MiB. "
              "By default picows runs on aiofastnet's Cython socket transports (aiofastnet is a dependency of "
              "picows) rather than the loop's own; the row *picows, use_aiofastnet=False* is picows on the loop's "
              "transports, for reference.",
              "- **raw asyncio TCP echo (ceiling)**: an `asyncio.Protocol` server whose `data_received` writes the "
              "data back, and an `asyncio.Protocol` client that writes, per round trip, as many bytes as the "
              "WebSocket client's frame (payload + header + mask key: 264 B for 256 B) and waits on a future until "
              "as many bytes have come back (joined into one bytes), on the loop's own transports. For reference: "
              "*BufferedProtocol both sides* is the same pair reading into a preallocated 256 KiB buffer (the "
              "stdlib loop then calls `recv_into` instead of `recv(256 KiB)`; the echo writes a copy), and *on "
              "aiofastnet transports* the Protocol pair on aiofastnet's. *Through one task wake-up*: the "
              "BufferedProtocol server hands each read to a task through a future and the task writes it back: "
              "what an await API pays at the least, with no WebSocket work at all; *resumed from the read "
              "callback*: the same with wsfast's reader waiter, which runs the task's wake-up from the read "
              "callback instead of on the loop's next turn.",
              "- **Allocator state**: on the stdlib loop a plain `asyncio.Protocol` reads with "
              "`sock.recv(262144)`, and CPython allocates that 256 KiB bytes object with mmap (then mremap, "
              "munmap) on every read, until the process once frees a large block and glibc raises its mmap "
              "threshold: a raw echo costs about 20 µs per round trip before, 6 µs after. Every process frees an "
              "8 MiB block first (`_echo_peers.warm_allocator`), and every size starts fresh processes, so every "
              "cell runs in the same state.",
              "- **CPU per round trip**: the server process's CPU during the batch (all its threads, "
              "`/proc/PID/task/*/schedstat`) and the client's (`time.process_time`), divided by COUNT. It is "
              "what each side costs per message, independent of how long the processes waited for a CPU.",
              ""]
    return rp.publish(lines, args.output, failed=bool(failed), strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
