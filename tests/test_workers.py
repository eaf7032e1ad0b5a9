"""``wsfast echo --workers N`` and ``wsfast serve MODULE:ATTRIBUTE --workers N``: N processes on one
port (SO_REUSEPORT, or one inherited socket), a dead one started again, SIGTERM draining every
connection with 1001 and a worker that does not drain killed, the workers' hubs linked
(wsfast/workers.py, wsfast/asyncio/application.py, __main__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import wsfast
from tests.support import run_async
from wsfast.asyncio import Connection
from wsfast.workers import reserve_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the workers from /proc")


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def replaced(supervisor: subprocess.Popen, killed: int) -> set[int]:
    """The supervisor's two workers, once ``killed`` has been replaced. One read of the children per
    check: between two, the killed one may have been reaped and not yet started again."""
    workers: list[int] = []

    def two_without_the_killed() -> bool:
        workers[:] = children(supervisor.pid)
        return len(workers) == 2 and killed not in workers

    wait_for(two_without_the_killed)
    return set(workers)


TWO_WORKERS = [sys.executable, "-m", "wsfast", "echo", "--workers", "2", "--port", "0"]


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4): each worker's own, not the supervisor's bound one."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")  # 0A: LISTEN


def workers_up(supervisor: subprocess.Popen, listening: int = 2) -> int:
    """The port from the supervisor's banner, once both its workers listen on it. The banner comes
    as the workers start: a connection made before they listen is refused (seen in CI on a busy
    machine), and one made while only one listens goes to that one. Workers that inherit the
    supervisor's socket share its one ``listening`` socket (a connection waits there for them)."""
    banner = supervisor.stdout.readline()
    port = int(re.search(r":(\d+)/ \(2 workers\)", banner).group(1))
    wait_for(lambda: len(children(supervisor.pid)) == 2 and listening_sockets(port) == listening)
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
            replaced(supervisor, first)
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


# ---------------------------------------------------------------------- wsfast serve MODULE:ATTRIBUTE

#: The application the tests serve, from a module in a directory of their own: each connection is
#: greeted with the pid of the process that serves it, then echoed; "block" blocks that process.
APPLICATION = '''
import os
import time

from wsfast.asyncio.callbacks import Handler


async def greeter(connection):
    await connection.send(f"pid {os.getpid()}")
    async for message in connection:
        if message == "block":
            await connection.send("blocking")
            time.sleep(30)  # a stuck worker: its event loop never sees SIGTERM
        await connection.send(message)


class Greeter(Handler):
    def on_open(self):
        self.connection.send(f"pid {os.getpid()}")

    def on_message(self, data, text):
        self.connection.send(data, text)
'''


@pytest.fixture
def application(tmp_path: Path) -> Path:
    """A directory holding ``app.py``: :data:`APPLICATION`."""
    (tmp_path / "app.py").write_text(APPLICATION, encoding="utf-8")
    return tmp_path


@contextlib.contextmanager
def supervisor_of(command: list[str], directory: Path):
    """``command`` run in ``directory``; stopped, its workers too, however the test ends."""
    supervisor = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=directory)
    try:
        yield supervisor
    finally:
        workers = children(supervisor.pid) if supervisor.poll() is None else []
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a test stopped it
        if supervisor.poll() is None:
            supervisor.kill()
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        supervisor.wait(5)
        for stream in (supervisor.stdout, supervisor.stderr):
            stream.close()


def serve_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "wsfast", "serve", *arguments, "--port", "0"]


async def greeted(port: int) -> tuple[Connection, int]:
    """A client of the application, and the pid of the process that serves it."""
    ws = await wsfast.connect(f"ws://127.0.0.1:{port}/")
    greeting = await asyncio.wait_for(ws.recv(), 10)
    return ws, int(greeting.split()[1])


async def closed_with(ws: Connection) -> int:
    with pytest.raises(wsfast.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    await ws.close()
    return closed.value.code


def test_serve_in_this_process_finds_the_module_in_the_current_directory(application):
    # -I: Python itself puts neither the current directory nor PYTHONPATH on sys.path; serve does
    command = [sys.executable, "-I", "-m", "wsfast", "serve", "app:greeter", "--port", "0"]
    with supervisor_of(command, application) as server:
        banner = server.stdout.readline()
        assert banner.startswith("wsfast serve app:greeter on ws://127.0.0.1:"), banner + server.stderr.read()
        port = int(banner.rsplit(":", 1)[1].strip("/\n"))

        async def served_then_drained() -> None:
            ws, pid = await greeted(port)
            assert pid == server.pid  # --workers 1: no worker process
            await ws.send("echo")
            assert await ws.recv() == "echo"
            server.send_signal(signal.SIGTERM)
            assert await closed_with(ws) == 1001

        run_async(served_then_drained())
        assert server.wait(15) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["app"], "must be named MODULE:ATTRIBUTE"),
        (["missing:greeter"], "cannot import the module of 'missing:greeter': No module named 'missing'"),
        (["app:missing"], "module 'app' has no attribute 'missing'"),
        (["app:Greeter"], "Greeter is a callbacks.Handler: serve it with the callback API"),
        (["app:greeter", "--api", "callback"], "greeter is an async function: serve it with the await API"),
    ],
    ids=["no colon", "no module", "no attribute", "callback handler, await API", "await handler, callback API"],
)  # fmt: skip
def test_a_bad_application_fails_in_the_supervisor_before_any_worker_starts(application, arguments, message):
    result = subprocess.run(serve_command(*arguments, "--workers", "2"), cwd=application, capture_output=True,
                            text=True, timeout=30)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""  # no banner: no port reserved, no worker started


def test_serve_workers_restart_one_that_dies_and_drain_with_1001(application):
    with supervisor_of(serve_command("app:greeter", "--workers", "2"), application) as supervisor:
        port = workers_up(supervisor)
        first_workers = set(children(supervisor.pid))

        async def served_restarted_drained() -> int:
            clients = [await greeted(port) for _ in range(16)]
            assert {pid for _, pid in clients} <= first_workers
            killed = clients[0][1]
            os.kill(killed, signal.SIGKILL)  # its connections drop, the other worker's stay
            serving = replaced(supervisor, killed)
            late, pid = await greeted(port)  # by the other worker or the new one
            assert pid in serving
            survivors = [ws for ws, pid in clients if pid != killed]
            assert survivors, "SO_REUSEPORT spread no connection to the other worker"
            supervisor.send_signal(signal.SIGTERM)
            for ws in [*survivors, late]:
                assert await closed_with(ws) == 1001
            for ws, _ in clients:
                await ws.close()
            return killed

        killed = run_async(served_restarted_drained(), 40)
        assert supervisor.wait(15) == 0
        errors = supervisor.stderr.read()
        assert re.search(rf"worker \d \(pid {killed}\) exited with -9; starting it again", errors), errors


def test_a_worker_that_does_not_drain_is_killed_after_the_drain_timeout(application):
    command = serve_command("app:greeter", "--workers", "2", "--drain-timeout", "1")
    with supervisor_of(command, application) as supervisor:
        port = workers_up(supervisor)

        async def one_worker_stuck_when_the_supervisor_stops() -> int:
            ws, stuck = await greeted(port)
            await ws.send("block")
            assert await asyncio.wait_for(ws.recv(), 10) == "blocking"
            supervisor.send_signal(signal.SIGTERM)
            assert await closed_with(ws) == 1006  # killed, with no closing handshake
            return stuck

        stuck = run_async(one_worker_stuck_when_the_supervisor_stops())
        assert supervisor.wait(15) == 0  # it returns, having killed the stuck worker
        assert f"worker pid {stuck} did not stop within 1 s; killing it" in supervisor.stderr.read()
        assert not os.path.exists(f"/proc/{stuck}")  # and reaped it


def test_workers_without_reuse_port_share_one_inherited_socket(application):
    # serve_workers itself, on the callback API, with the socket inherited as where SO_REUSEPORT is missing
    code = ("import sys; from wsfast.workers import serve_workers; "
            "sys.exit(serve_workers('app:Greeter', '127.0.0.1', 0, workers=2, api='callback', reuse_port=False, "
            "out=sys.stdout, label='inherited'))")  # fmt: skip
    with supervisor_of([sys.executable, "-c", code], application) as supervisor:
        port = workers_up(supervisor, listening=1)  # the supervisor's socket; the workers bind none

        async def only(pid: int, other: int) -> Connection:
            """A client served by worker ``pid``: the ``other`` worker is stopped meanwhile."""
            os.kill(other, signal.SIGSTOP)
            try:
                ws, served_by = await greeted(port)
            finally:
                os.kill(other, signal.SIGCONT)
            assert served_by == pid
            return ws

        async def served_by_every_worker() -> int:
            first, killed = await greeted(port)
            [other] = set(children(supervisor.pid)) - {killed}
            os.kill(killed, signal.SIGKILL)
            [restarted] = replaced(supervisor, killed) - {other}
            assert listening_sockets(port) == 1
            clients = [await only(restarted, other), await only(other, restarted)]
            await first.close()
            supervisor.send_signal(signal.SIGTERM)
            for ws in clients:
                assert await closed_with(ws) == 1001
            return killed

        killed = run_async(served_by_every_worker())
        assert supervisor.wait(15) == 0
        errors = supervisor.stderr.read()
        assert re.search(rf"worker \d \(pid {killed}\) exited with -9; starting it again", errors), errors


def test_reserve_port_shares_the_port_the_way_it_is_told(monkeypatch):
    def listens(sock: socket.socket) -> bool:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))

    for reuse_port, own_sockets in ((None, True), (True, True), (False, False)):
        listener, own = reserve_port("127.0.0.1", 0, reuse_port=reuse_port)
        with listener:
            assert own is own_sockets and listens(listener) is not own_sockets
    monkeypatch.delattr(socket, "SO_REUSEPORT")  # as on a system without it
    listener, own = reserve_port("127.0.0.1", 0)
    with listener:
        assert own is False and listens(listener)
    with pytest.raises(ValueError, match="no SO_REUSEPORT"):
        reserve_port("127.0.0.1", 0, reuse_port=True)


def docs_example(marker: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text(encoding="utf-8")
    [example] = [block for block in re.findall(r"```python\n(.*?)\n```", text, flags=re.DOTALL) if marker in block]
    return example


def test_serve_with_hub_the_docs_example_reaches_the_subscribers_of_every_worker(application):
    (application / "chat.py").write_text(docs_example("WorkersBackend"), encoding="utf-8")
    (application / "probe.py").write_text(textwrap.dedent("""\
        import os

        import chat


        async def handler(connection):  # chat's, after telling which worker serves the connection
            await connection.send(f"pid {os.getpid()}")
            await chat.handler(connection)
        """), encoding="utf-8")  # fmt: skip
    with supervisor_of(serve_command("probe:handler", "--workers", "2", "--hub"), application) as supervisor:
        port = workers_up(supervisor)

        async def chat() -> None:
            clients: list[tuple[Connection, int]] = []
            while len({pid for _, pid in clients}) < 2:  # SO_REUSEPORT spreads them: some reach each worker
                assert len(clients) < 40, "every connection went to one worker"
                clients.append(await greeted(port))
            received: list[list[str]] = [[] for _ in clients]

            async def receive(ws: Connection, into: list[str]) -> None:
                async for message in ws:
                    into.append(message)

            receivers = [asyncio.ensure_future(receive(ws, into)) for (ws, _), into in zip(clients, received)]
            sender = clients[0][0]
            # A subscription reaches the relay a moment after the connection: publish until it has.
            deadline = time.monotonic() + 20
            while not all(received):
                assert time.monotonic() < deadline, f"the other worker's subscribers got nothing: {received}"
                await sender.send(f"warm-up {time.monotonic()}")
                await asyncio.sleep(0.1)
            await sender.send("hello")
            while not all("hello" in messages for messages in received):
                assert time.monotonic() < deadline, f"not every subscriber got hello: {received}"
                await asyncio.sleep(0.02)
            for messages in received:
                assert len(set(messages)) == len(messages), messages  # each message once
            for ws, _ in clients:
                await ws.close()
            await asyncio.gather(*receivers, return_exceptions=True)

        run_async(chat(), 40)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(15) == 0
        assert "Traceback" not in supervisor.stderr.read()
