"""``wsfast bench --fanout``: N clients, the server's hub publishes, delivery rate and latency."""

from __future__ import annotations

import asyncio
import os
import re
import select
import subprocess
import sys
import time

import pytest

from tests.support import run_async
from wsfast import commands, kernels

SUMMARY = re.compile(r"^(\d+) messages of (\d+) B published to (\d+) clients: (\d+) delivered of (\d+), "
                     r"([\d,]+) msg/s delivered, latency p50 ([\d,]+) us, p99 ([\d,]+) us$")  # fmt: skip


def wsfast_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsfast", *arguments], capture_output=True, text=True, timeout=60)


def figures(output: str) -> tuple[int, ...]:
    match = SUMMARY.match(output.strip())
    assert match, output
    return tuple(int(group.replace(",", "")) for group in match.groups())


def test_the_implementation_is_the_one_asked_for():
    # both runs of this file, WSFAST_REQUIRE_EXTENSIONS=1 and WSFAST_NO_EXTENSIONS=1, test what they say
    assert kernels.IMPLEMENTATION == ("python" if os.environ.get("WSFAST_NO_EXTENSIONS") else "c")


@pytest.mark.parametrize("api", ["await", "callback"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fanout_bench_delivers_every_message_to_every_client(api, loop):
    result = wsfast_command("bench", "--fanout", "--connections", "20", "-n", "30", "-s", "64", "--api", api,
                            "--loop", loop)  # fmt: skip
    assert result.returncode == 0, result.stderr
    published, size, clients, delivered, expected, rate, p50, p99 = figures(result.stdout)
    assert (published, size, clients) == (30, 64, 20)
    assert delivered == expected == 600  # every client received every message
    assert rate > 0
    assert 0 < p50 <= p99 < 10_000_000  # µs: under the 10 s a client waits at most


def test_fanout_bench_with_compression_and_large_messages():
    result = wsfast_command("bench", "--fanout", "--connections", "5", "-n", "4", "-s", "100000", "--compression")
    assert result.returncode == 0, result.stderr
    assert figures(result.stdout)[:5] == (4, 100000, 5, 20, 20)


def test_fanout_result_counts_each_client_and_message():
    result = run_async(commands.run_fanout_bench(None, connections=7, messages=11, size=8))
    assert isinstance(result, commands.FanoutResult)
    assert (result.messages, result.published, result.concurrency) == (77, 11, 7)
    assert len(result.latencies) == 77 and list(result.latencies) == sorted(result.latencies)
    assert all(latency >= 0 for latency in result.latencies)
    assert result.messages_per_second > 0 and result.seconds > 0


def test_fanout_server_publishes_stamped_messages_to_a_client_of_its_own():
    # what an external server must do, as serve_fanout does it: a plain client sees the protocol
    from wsfast.asyncio import connect

    async def main() -> list[bytes]:
        async with commands.serve_fanout("127.0.0.1", 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/") as a, connect(f"ws://127.0.0.1:{port}/") as b:
                await a.send("publish 3 40 2")
                received = [await asyncio.wait_for(client.recv(), 5) for client in (a, b) for _ in range(3)]
                assert all(isinstance(message, bytes) and len(message) == 40 for message in received)
                return received  # type: ignore[return-value]

    before = time.monotonic_ns()
    received = run_async(main())
    stamps = [int.from_bytes(message[:8], "big") for message in received]
    assert all(before <= stamp for stamp in stamps)
    assert stamps[:3] == stamps[3:] and stamps[:3] == sorted(stamps[:3])  # the same messages, in order


@pytest.mark.parametrize("arguments", [
    ["--fanout"], ["--fanout", "--connections", "0"], ["--fanout", "--connections", "3", "-n", "0"],
], ids=["no-connections", "zero-connections", "zero-messages"])  # fmt: skip
def test_fanout_bench_refuses_bad_counts(arguments):
    result = wsfast_command("bench", *arguments)
    assert result.returncode == 2
    assert result.stderr.startswith("wsfast bench: --")


def test_fanout_bench_refuses_a_size_without_room_for_the_stamp():
    result = wsfast_command("bench", "--fanout", "--connections", "2", "-s", "7")
    assert result.returncode == 1
    assert "at least 8 bytes" in result.stderr


def test_echo_bench_keeps_its_default_message_count():
    result = wsfast_command("bench", "-s", "16", "-c", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("20000 messages of 16 B at concurrency 4: ")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX's")
def test_fanout_bench_shows_progress_on_a_terminal_only():
    import pty

    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "wsfast", "bench", "--fanout", "--connections", "20", "-n", "50",
                                    "-s", "64"], stdout=subprocess.PIPE, stderr=terminal, text=True)  # fmt: skip
        os.close(terminal)
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the process closes its end (EIO on Linux)
            if not select.select([controller], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert re.search(rb"\r\[#*\s*\] +\d+%", shown), shown  # the bar, on the terminal
    assert figures(stdout)[3] == 1000  # the summary, on stdout: every message delivered
    assert "[" not in stdout and "%" not in stdout
    piped = wsfast_command("bench", "--fanout", "--connections", "20", "-n", "50", "-s", "64")
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: no bar
