"""The demo the README's first command runs, and the command line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.support import IN_CI


def wsfast_command(*arguments: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsfast", *arguments], capture_output=True, text=True,
                          timeout=120, **options)  # fmt: skip


def test_demo_talks_to_its_echo_server_and_reports_speed():
    result = wsfast_command("demo")
    assert result.returncode == 0, result.stderr
    expected = "python" if os.environ.get("WSFAST_NO_EXTENSIONS") else "c"
    assert f"implementation={expected}" in result.stdout
    assert "extensions agreed: permessage-deflate" in result.stdout
    assert "echoed 'Hello, WebSocket!'" in result.stdout and "echoed 'κόσμε 😀'" in result.stdout
    assert "client closed the connection: code 1000" in result.stdout
    assert result.stdout.count(" msg/s, ") == 3


def test_command_line_requires_a_command():
    result = wsfast_command()
    assert result.returncode == 2
    assert "usage: wsfast" in result.stderr


@pytest.mark.parametrize("api", ["await", "callback"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_bench_against_its_own_server(api, loop):
    result = wsfast_command("bench", "-n", "300", "-s", "64", "-c", "3", "--api", api, "--loop", loop)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("300 messages of 64 B at concurrency 3: ")
    assert "latency p50" in result.stdout and "p99" in result.stdout
    assert wsfast_command("bench", "-n", "0").returncode == 2


@pytest.mark.parametrize("api", ["await", "callback"])
def test_bench_and_fanout_on_aiofastnet(api):
    if importlib.util.find_spec("aiofastnet") is None:
        if IN_CI and sys.implementation.name == "cpython":
            pytest.fail("aiofastnet is not installed: `pip install '.[test]'` brings it")
        pytest.skip("aiofastnet is not installed")
    result = wsfast_command("bench", "-n", "300", "-s", "64", "-c", "2", "--api", api, "--aiofastnet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("300 messages of 64 B at concurrency 2: ")
    result = wsfast_command("bench", "--fanout", "--connections", "5", "-n", "10", "-s", "64", "--api", api, "--aiofastnet")
    assert result.returncode == 0, result.stderr
    assert "50 delivered of 50" in result.stdout


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="memory is read from /proc")
@pytest.mark.parametrize("compression", [[], ["--compression"]], ids=["plain", "deflate"])
def test_bench_connections_prints_memory_per_idle_connection(compression):
    result = wsfast_command("bench", "--connections", "300", *compression)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("300 idle connections" + (" (compressed, after one message each)" if compression else ""))
    client, server = (float(part.split(" KiB")[0].rsplit(" ", 1)[-1]) for part in line.split(", ")[-2:])
    # an idle plain connection is some KiB; a compressed one holds its DEFLATE streams, under 200 KiB
    assert 0 < client < 200 and 0 < server < 200, line
    assert wsfast_command("bench", "--connections", "0").returncode == 2


@pytest.mark.parametrize("api", ["await", "callback"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_echo_server_and_client_commands(api, loop):
    command = [sys.executable, "-m", "wsfast", "echo", "--port", "0", "--ping-interval", "0", "--api", api,
               "--loop", loop]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert banner.startswith("wsfast echo server on ws://127.0.0.1:")
        uri = banner.split()[-1]
        client = wsfast_command("client", uri, input="first line\nsecond line\n")
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == ["< first line", "< second line"]
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["client", "http://not-websocket"], 1, "not a WebSocket URI"),
        (["client", "ws://127.0.0.1:1/"], 1, "ConnectionRefusedError"),
        (["echo", "--port", "notanumber"], 2, "invalid int value"),
        (["echo", "--api", "threads"], 2, "invalid choice"),
        (["bench", "--loop", "trio"], 2, "invalid choice"),
    ],
)
def test_bad_arguments_fail_cleanly(arguments, status, message):
    result = wsfast_command(*arguments)
    assert result.returncode == status
    assert message in result.stderr and "Traceback" not in result.stderr
