"""``wsfast echo --workers N``: N processes on one port (SO_REUSEPORT), a dead one started again,
SIGTERM draining every connection with 1001 (wsfast/workers.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import wsfast
from tests.support import run_async

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the workers from /proc")


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


TWO_WORKERS = [sys.executable, "-m", "wsfast", "echo", "--workers", "2", "--port", "0"]


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4): each worker's own, not the supervisor's bound one."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")  # 0A: LISTEN


def workers_up(supervisor: subprocess.Popen) -> int:
    """The port from the supervisor's banner, once both its workers listen on it. The banner comes
    as the workers start: a connection made before they listen is refused (seen in CI on a busy
    machine), and one made while only one listens goes to that one."""
    banner = supervisor.stdout.readline()
    port = int(re.search(r":(\d+)/ \(2 workers\)", banner).group(1))
    wait_for(lambda: len(children(supervisor.pid)) == 2 and listening_sockets(port) == 2)
    return port


def test_workers_share_a_port_come_back_and_drain():
    supervisor = subprocess.Popen(TWO_WORKERS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = workers_up(supervisor)
        first, second = children(supervisor.pid)

        async def echo_and_wait_for_the_drain():
            connections = [await wsfast.connect(f"ws://127.0.0.1:{port}/") for _ in range(16)]
            for index, ws in enumerate(connections):
                await ws.send(f"message {index}")
                assert await ws.recv() == f"message {index}"
            os.kill(first, signal.SIGKILL)  # a worker dies: its connections drop, the others stay
            wait_for(lambda: len(children(supervisor.pid)) == 2 and first not in children(supervisor.pid))
            async with wsfast.connect(f"ws://127.0.0.1:{port}/") as ws:  # served, by either worker
                await ws.send("after the restart")
                assert await ws.recv() == "after the restart"
            survivors = [ws for ws in connections if ws.state.name == "OPEN"]
            assert survivors, "the kill took every connection: SO_REUSEPORT spread none to the other worker"
            supervisor.send_signal(signal.SIGTERM)
            for ws in survivors:
                with pytest.raises(wsfast.ConnectionClosedOK) as closed:
                    await ws.recv()
                assert closed.value.code == 1001
            for ws in connections:
                await ws.close()

        run_async(echo_and_wait_for_the_drain(), 30)
        assert supervisor.wait(15) == 0
        assert not os.path.exists(f"/proc/{second}")  # the workers are gone too
        errors = supervisor.stderr.read()
        assert f"worker 0 (pid {first}) exited with -9; starting it again" in errors or \
            f"worker 1 (pid {first}) exited with -9; starting it again" in errors, errors
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        supervisor.wait(5)
        for stream in (supervisor.stdout, supervisor.stderr):
            stream.close()


def test_one_worker_is_the_plain_server_and_zero_is_refused():
    refused = subprocess.run([sys.executable, "-m", "wsfast", "echo", "--workers", "0", "--port", "0"],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.returncode != 0 and "workers" in refused.stderr


def test_a_killed_supervisor_takes_its_workers_with_it():
    supervisor = subprocess.Popen(TWO_WORKERS, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = workers_up(supervisor)
        workers = children(supervisor.pid)

        async def connected_when_the_supervisor_dies():
            connections = [await wsfast.connect(f"ws://127.0.0.1:{port}/") for _ in range(8)]
            for ws in connections:
                await ws.send("before")
                assert await ws.recv() == "before"
            supervisor.kill()  # SIGKILL: no chance to stop its workers itself
            for ws in connections:  # each worker drains: a clean close with 1001, not a dropped connection
                with pytest.raises(wsfast.ConnectionClosedOK) as closed:
                    await ws.recv()
                assert closed.value.code == 1001
                await ws.close()

        run_async(connected_when_the_supervisor_dies(), 30)
        wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") and "zombie" not in _state(pid) for pid in workers))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        supervisor.wait(5)
        supervisor.stdout.close()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((line for line in status if line.startswith("State:")), "").lower()
    except FileNotFoundError:
        return "zombie"  # gone meanwhile
