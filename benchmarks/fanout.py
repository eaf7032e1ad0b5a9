#!/usr/bin/env python3
"""Fan-out: one message to thousands of connections, and a hub across processes through Redis.

    python benchmarks/fanout.py [--part local|redis|all] [--rounds 5] [--output benchmarks/RESULTS-fanout.md]

Local part: a server process (pinned to CPU 0 with taskset) holds N subscribed connections that a
raw-socket client process (pinned to CPU 1) opened; the server publishes one binary message and
reports the times before the publish and after its last transport write returned (a); the client
reports when its last connection had the whole frame (b), both on CLOCK_MONOTONIC. Servers: wsfast
(``Hub.publish`` and ``broadcast``, the same process and connections, alternated), websockets
(``websockets.asyncio.server.broadcast``) and aiohttp (a loop of ``await ws.send_bytes``). Memory per
subscriber: the server's RSS after the N connections, over N, and its growth from before them
(after 50 warm-up connections were opened and closed), over N.

Redis part: a redis-server of its own on a free port (no output buffer limit for subscribers: at full
speed they fall behind, and Redis would otherwise disconnect them at 32 MB), 4 worker processes (pinned to CPU 0; Redis
and the receiving client to CPU 1), each publishing COUNT messages of SIZE bytes, stamped with
the publish time. Modes: ``hub`` (each worker a wsfast server with ``Hub(backend=RedisBackend)``
and one subscribed connection, that a raw-socket client process holds: receipt is there, after the
WebSocket hop), ``raw`` (redis-py: ``await publish`` per message, a ``PubSub`` receiving) and
``raw-pipelined`` (redis-py, pipelines of 256 publishes, as RedisBackend sends). Messages/s: all
published messages over the time from the first publish to the last receipt; latency: publish to
receipt of the messages that came from another worker, through Redis, at full speed and at a fixed
rate of 100 messages/s per worker.

Rounds interleave the peers (A B C A B C ...); each figure is the median of the rounds' medians. A
measurement starts only when no other process uses over 20% of a CPU (top), and is made again if
one did when it ends.
"""

from __future__ import annotations

import argparse
import array
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = str(HERE / "_fanout_peers.py")
SERVER_CPU, CLIENT_CPU = "0", "1"
LOCAL_MODES = {"wsfast": ("hub", "broadcast", "transport"), "websockets": ("broadcast",), "aiohttp": ("loop",)}
LABELS = {("wsfast", "hub"): "wsfast Hub.publish", ("wsfast", "broadcast"): "wsfast broadcast()",
          ("wsfast", "transport"): "floor: transport.write loop",
          ("websockets", "broadcast"): "websockets broadcast()", ("aiohttp", "loop"): "aiohttp send_bytes loop"}
FRAME_HEADER = {256: 4, 8192: 4}  # unmasked, 16-bit length


def spawn(cpu: str, *arguments: str) -> subprocess.Popen[str]:
    taskset = ["taskset", "-c", cpu] if shutil.which("taskset") else []
    return subprocess.Popen([*taskset, sys.executable, PEERS, *arguments], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1, cwd=HERE)  # fmt: skip


def ask(process: subprocess.Popen[str], line: str | None = None) -> list[str]:
    assert process.stdin is not None and process.stdout is not None
    if line is not None:
        process.stdin.write(line + "\n")
        process.stdin.flush()
    answer = process.stdout.readline()
    if not answer:
        raise RuntimeError(f"{process.args!r} ended (status {process.wait()})")
    return answer.split()


def stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        try:
            assert process.stdin is not None
            process.stdin.write("quit\n")
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def local_round(impl: str, count: int, sizes: list[int], publishes: int) -> dict[Any, Any]:
    """One server, one client, ``publishes`` publishes of each size and mode (after one of each to
    warm up); the figures of the round by key of ``results``."""
    results: dict[Any, Any] = {}
    server = spawn(SERVER_CPU, "server", impl)
    port = ask(server)[0]
    client = spawn(CLIENT_CPU, "client", port, str(count))
    try:
        assert ask(client) == ["warmed"]
        rss_before = int(ask(server, "rss")[0])
        assert ask(client, "go") == ["ready"]
        time.sleep(0.5)
        rss_after, connected = map(int, ask(server, "rss"))
        assert connected == count, (impl, connected, count)
        results[("rss", impl, count)] = (rss_after / count, (rss_after - rss_before) / count)
        samples: dict[tuple[str, int], list[tuple[int, int, int, int]]] = defaultdict(list)
        for repeat in range(publishes + 1):
            for size in sizes:
                for mode in LOCAL_MODES[impl]:
                    assert ask(client, f"expect {size + FRAME_HEADER[size]}") == ["armed"]
                    t0, t1, user, system = map(int, ask(server, f"publish {mode} {size}"))
                    last, extra = map(int, ask(client))
                    assert extra == 0, (impl, mode, size, extra)
                    if repeat:
                        samples[(mode, size)].append((t1 - t0, last - t0, user, system))
                    time.sleep(0.05)
        for (mode, size), values in samples.items():
            results[(impl, mode, count, size)] = tuple(statistics.median(v[i] for v in values) for i in range(4))
    finally:
        stop(client, server)
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_run(mode: str, url: str, size: int, count: int, rate: float, workers: int = 4) -> dict[str, float]:
    """One run of ``workers`` workers: messages/s, latency p50 and p99 (µs), messages lost."""
    with tempfile.TemporaryDirectory() as directory:
        outs = [os.path.join(directory, f"worker{index}") for index in range(workers)]
        procs = [spawn(SERVER_CPU, "redis-worker", mode, str(index), url, str(size), str(count), str(rate), outs[index])
                 for index in range(workers)]  # fmt: skip
        client = None
        try:
            ports = [ask(proc)[0] for proc in procs]
            total = workers * count
            if mode == "hub":
                client_out = os.path.join(directory, "client")
                client = spawn(CLIENT_CPU, "redis-client", client_out, str(total), *ports)
                assert ask(client) == ["ready"]
            else:
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write(f"{total}\n")
                    proc.stdin.flush()
            for proc in procs:
                assert ask(proc) == ["ready"]
            time.sleep(0.3)  # every subscription reached Redis
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            published = [ask(proc) for proc in procs]
            first = min(int(p[1]) for p in published)
            lost = sum(int(p[2]) for p in published)
            latencies = array.array("q")
            if client is not None:
                received, last = map(int, ask(client))
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write("done\n")
                    proc.stdin.flush()
                with open(client_out, "rb") as data:
                    latencies.frombytes(data.read())
            else:
                answers = [list(map(int, ask(proc))) for proc in procs]
                received = sum(a[0] for a in answers)
                last = max(a[1] for a in answers)
                for out in outs:
                    with open(out, "rb") as data:
                        latencies.frombytes(data.read())
            expected = total * workers
            ordered = sorted(latencies)
            return {"rate": total / ((last - first) / 1e9), "p50": ordered[len(ordered) // 2] / 1e3,
                    "p99": ordered[int(len(ordered) * 0.99)] / 1e3, "lost": expected - received + lost}  # fmt: skip
        finally:
            stop(*procs, *([client] if client else []))


def machine() -> str:
    load = open("/proc/loadavg").read().split()[:3]
    return f"load average {' '.join(load)}"


def top_heavy() -> str:
    """The processes over 20% of a CPU but this benchmark's, as top sees them."""
    out = subprocess.run(["top", "-bn1"], capture_output=True, text=True).stdout.splitlines()
    heavy = []
    for line in out[7:]:
        fields = line.split()
        if len(fields) < 12 or float(fields[8].replace(",", ".")) <= 20:
            continue
        try:
            command = Path(f"/proc/{fields[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "fanout" not in command and "redis-server" not in command and fields[11] != "top":
            heavy.append(f"{fields[0]} {fields[8]}% {command[:80]}")
    return "; ".join(heavy) or "none over 20% CPU"


def quietly(measure: Any, what: str, tries: int = 20) -> Any:
    """Run ``measure()`` once no other process is busy, before and after it; else wait and again."""
    for _ in range(tries):
        while (others := top_heavy()) != "none over 20% CPU":
            print(f"  waiting before {what}: {others}", file=sys.stderr, flush=True)
            time.sleep(5)
        result = measure()
        if (others := top_heavy()) == "none over 20% CPU":
            return result
        print(f"  {what} again, another process ran: {others}", file=sys.stderr, flush=True)
    raise RuntimeError(f"the machine was never quiet for {what}")


def fmt_us(ns: float) -> str:
    return f"{ns / 1e3:,.0f}"


def local_report(results: dict[Any, list[Any]], counts: list[int], sizes: list[int]) -> list[str]:
    lines = ["## One process: one message to N subscribers", "",
             "(a) publish → last transport write returned; (b) publish → last client had the whole frame. "
             "Medians of the rounds' medians, µs.", "",
             "| N | size | " + " | ".join(f"{LABELS[key]} (a) | (b)" for key in LABELS) + " |",
             "|---|---|" + "---|---|" * len(LABELS)]  # fmt: skip
    medians: dict[Any, tuple[float, float]] = {}
    for count in counts:
        for size in sizes:
            cells = []
            for impl, mode in LABELS:
                rounds = results.get((impl, mode, count, size), [])
                if not rounds:
                    cells.append("n/a | n/a")
                    continue
                a = statistics.median(r[0] for r in rounds)
                b = statistics.median(r[1] for r in rounds)
                medians[(impl, mode, count, size)] = (a, b)
                cells.append(f"{fmt_us(a)} | {fmt_us(b)}")
            lines.append(f"| {count:,} | {size} B | " + " | ".join(cells) + " |")
    lines += ["", f"Where (a) goes at N={counts[-1]:,}: per subscriber, ns of wall time, and the server's CPU time "
              "in user space + in the kernel (getrusage around the publish; medians):", "",
              "| size | " + " | ".join(LABELS[key] for key in LABELS) + " |", "|---|" + "---|" * len(LABELS)]
    for size in sizes:
        cells = []
        for impl, mode in LABELS:
            rounds = results.get((impl, mode, counts[-1], size), [])
            if not rounds:
                cells.append("n/a")
                continue
            wall, user, system = (statistics.median(r[i] for r in rounds) / counts[-1] for i in (0, 2, 3))
            cells.append(f"{wall:,.0f} = {user:,.0f} user + {system:,.0f} kernel")
        lines.append(f"| {size} B | " + " | ".join(cells) + " |")
    lines += ["", "### Memory per subscriber (server RSS)", "",
              "| N | " + " | ".join(f"{impl}: RSS/N | growth/N" for impl in LOCAL_MODES) + " |",
              "|---|" + "---|---|" * len(LOCAL_MODES)]  # fmt: skip
    for count in counts:
        cells = []
        for impl in LOCAL_MODES:
            rounds = results.get(("rss", impl, count), [])
            if rounds:
                cells.append(f"{statistics.median(r[0] for r in rounds) / 1024:,.1f} KiB | "
                             f"{statistics.median(r[1] for r in rounds) / 1024:,.1f} KiB")  # fmt: skip
            else:
                cells.append("n/a | n/a")
        lines.append(f"| {count:,} | " + " | ".join(cells) + " |")
    lines += ["", "### Targets", ""]
    top = counts[-1]
    for size in sizes:
        for ours in ("hub", "broadcast"):
            for peer, target in ((("websockets", "broadcast"), 5.0), (("aiohttp", "loop"), 10.0)):
                mine, theirs = medians.get(("wsfast", ours, top, size)), medians.get((*peer, top, size))
                if mine is None or theirs is None:
                    continue
                for index, what in ((0, "(a) writes"), (1, "(b) receipt")):
                    ratio = theirs[index] / mine[index]
                    lines.append(f"- N={top:,}, {size} B, {what}: {LABELS[('wsfast', ours)]} is {ratio:.2f}× "
                                 f"{LABELS[peer]} (target ≥ {target:g}×): {'met' if ratio >= target else 'MISSED'}")
    return lines


def redis_report(results: dict[Any, list[dict[str, float]]], sizes: list[int], modes: list[str]) -> list[str]:
    lines = ["## 4 processes through Redis", "",
             "| size | load | mode | messages/s | p50 µs | p99 µs | lost |", "|---|---|---|---|---|---|---|"]
    medians: dict[Any, float] = {}
    for size in sizes:
        for load in ("full speed", "100/s per worker"):
            for mode in modes:
                rounds = results.get((mode, size, load), [])
                if not rounds:
                    continue
                figures = {key: statistics.median(r[key] for r in rounds) for key in ("rate", "p50", "p99", "lost")}
                medians[(mode, size, load)] = figures["rate"]
                lines.append(f"| {size} B | {load} | {mode} | {figures['rate']:,.0f} | {figures['p50']:,.0f} | "
                             f"{figures['p99']:,.0f} | {max(r['lost'] for r in rounds):.0f} |")
    lines += ["", "### Target: the hub within 1.5× of raw redis-py throughput", ""]
    for size in sizes:
        for peer in ("raw", "raw-pipelined"):
            hub, raw = medians.get(("hub", size, "full speed")), medians.get((peer, size, "full speed"))
            if hub and raw:
                ratio = raw / hub
                lines.append(f"- {size} B: {peer} / hub = {ratio:.2f} (target ≤ 1.5): {'met' if ratio <= 1.5 else 'MISSED'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("local", "redis", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--publishes", type=int, default=5, help="publishes per size and mode in each round")
    parser.add_argument("--subscribers", default="1000,10000")
    parser.add_argument("--sizes", default="256,8192")
    parser.add_argument("--redis-count", default="256:3000,8192:1000", help="messages per worker, by size")
    parser.add_argument("--redis-modes", default="hub,raw-pipelined,raw")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, 200 subscribers")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rounds, arguments.publishes, arguments.subscribers = 1, 1, "200"
        arguments.redis_count = "256:300,8192:100"
    counts = [int(n) for n in arguments.subscribers.split(",")]
    sizes = [int(n) for n in arguments.sizes.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    lines = ["# Fan-out benchmarks", "",
             f"`python benchmarks/{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`, {started}, "
             f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
             f"{machine()} before; heavy processes before: {top_heavy()}.", ""]  # fmt: skip
    from importlib.metadata import version

    import wsfast.kernels

    lines.append(f"wsfast kernels {wsfast.kernels.IMPLEMENTATION}, websockets {version('websockets')}, "
                 f"aiohttp {version('aiohttp')}, redis-py {version('redis')}, "
                 f"redis-server {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}.")
    lines.append("")
    if arguments.part in ("local", "all"):
        results: dict[Any, list[Any]] = defaultdict(list)
        for round_ in range(arguments.rounds):
            for count in counts:
                for impl in LOCAL_MODES:
                    what = f"round {round_ + 1}: {impl}, {count} subscribers"
                    print(f"{what}; {machine()}", file=sys.stderr, flush=True)
                    figures = quietly(lambda: local_round(impl, count, sizes, arguments.publishes), what)
                    for key, value in figures.items():
                        results[key].append(value)
        lines += local_report(results, counts, sizes) + [""]
        if arguments.output:  # what is measured is kept, whatever becomes of the Redis part
            arguments.output.write_text("\n".join(lines) + "\n")
    if arguments.part in ("redis", "all"):
        per_size: dict[int, int] = {}
        for item in arguments.redis_count.split(","):
            size, count = map(int, item.split(":"))
            per_size[size] = count
        modes = arguments.redis_modes.split(",")
        port = free_port()
        broker = subprocess.Popen(["taskset", "-c", CLIENT_CPU, "redis-server", "--port", str(port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", "no", "--client-output-buffer-limit", "pubsub 0 0 0"], stdout=subprocess.DEVNULL)  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            time.sleep(0.5)
            redis_results: dict[Any, list[dict[str, float]]] = defaultdict(list)
            for round_ in range(arguments.rounds):
                for size in sizes:
                    for load, rate, count in (("full speed", 0.0, per_size[size]), ("100/s per worker", 100.0, 300)):
                        for mode in modes:
                            what = f"round {round_ + 1}: redis {mode}, {size} B, {load}"
                            print(f"{what}; {machine()}", file=sys.stderr, flush=True)
                            redis_results[(mode, size, load)].append(
                                quietly(lambda: redis_run(mode, url, size, count, rate), what))
        finally:
            broker.terminate()
            broker.wait()
        lines += redis_report(redis_results, sizes, modes) + [""]
    lines.append(f"After: {machine()}; heavy processes after: {top_heavy()}; finished "
                 f"{time.strftime('%H:%M:%S UTC', time.gmtime())}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if arguments.output:
        arguments.output.write_text(text)


if __name__ == "__main__":
    main()
