"""Many worker processes serving one port, supervised, their hubs linked.

:func:`run_workers` starts ``workers`` processes that each run ``target(index, listener)``, restarts
one that dies (logged), and on SIGTERM or SIGINT asks each to stop (SIGTERM) and waits for them to
drain their connections, killing any that outlive ``drain_timeout``.

How the workers share the port: on Linux (and wherever ``SO_REUSEPORT`` exists) each worker binds
its own listening socket with ``reuse_port``, and the kernel spreads new connections over them;
the supervisor keeps a bound, non-listening socket on the port so that a restarted worker finds it
free and ``port=0`` resolves once for all. Elsewhere on POSIX the supervisor listens and the workers
inherit that one socket (they are forked). ``listener`` is that inherited socket, or None.

Linked hubs, with no broker (``run_workers(..., hub=True)``): the supervisor relays what the
:class:`~wsfast.asyncio.fanout.Hub` of each worker publishes to the hubs of the other workers that
have subscribers for its topic, so that a publish in any worker reaches the subscribers of every
worker, each once. In a worker, the hub's backend is a
:class:`~wsfast.asyncio.workers_hub.WorkersBackend`, which finds the relay by itself::

    def worker(index, inherited):
        asyncio.run(main())

    async def main():
        async with Hub(backend=WorkersBackend()) as hub:
            ...  # serve(..., reuse_port=True); hub.subscribe(connection, topic); hub.publish(topic, message)

    listener, own_sockets = reserve_port("0.0.0.0", 8000)
    run_workers(worker, 4, listener, own_sockets, hub=True)
The relay and its wire format are :mod:`wsfast.hub_relay`'s.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .hub_relay import MAX_MESSAGE_BYTES, MAX_QUEUE_BYTES, HubRelay

__all__ = ["run_workers", "reserve_port", "worker_hub", "WorkerHub"]

logger = logging.getLogger("wsfast")

#: A worker that dies is started again after this many seconds at least, so that one that fails at
#: once does not spin.
RESTART_DELAY = 1.0


@dataclasses.dataclass(frozen=True)
class WorkerHub:
    """Where the hub of a worker of ``run_workers(..., hub=True)`` links to (see :func:`worker_hub`).

    Args:
        path: the relay's Unix socket.
        max_message_bytes: the largest message the relay takes.
    """

    path: str
    max_message_bytes: int


_worker_hub: WorkerHub | None = None  # set in each worker of run_workers(..., hub=True)


def worker_hub() -> WorkerHub | None:
    """In a worker of ``run_workers(..., hub=True)``, where its hub links to (what
    :class:`~wsfast.asyncio.workers_hub.WorkersBackend` reads); None in any other process."""
    return _worker_hub


def reserve_port(host: str, port: int) -> tuple[socket.socket, bool]:
    """The socket that holds ``host:port`` (``port`` 0: a free one) for the workers, and whether
    they bind sockets of their own (``SO_REUSEPORT``: True) or inherit this one, which then listens.

    Raises:
        OSError: the address cannot be bound.
        ValueError: neither SO_REUSEPORT nor fork exists here (Windows).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            return sock, True
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ValueError("several workers need SO_REUSEPORT or fork, which this system has neither of")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        return sock, False
    except BaseException:
        sock.close()
        raise


def run_workers(target: Callable[[int, socket.socket | None], object], workers: int, listener: socket.socket,
                own_sockets: bool, *, drain_timeout: float = 10.0, hub: bool = False,
                hub_queue_bytes: int = MAX_QUEUE_BYTES, hub_message_bytes: int = MAX_MESSAGE_BYTES) -> int:  # fmt: skip
    """Run ``target(index, inherited)`` in ``workers`` processes until SIGTERM or SIGINT; returns 0.

    ``listener`` and ``own_sockets`` come from :func:`reserve_port`: the workers bind sockets of
    their own (``inherited`` is None) or use ``listener`` itself. ``target`` must be picklable (a
    module-level function, or a partial of one) and must stop on SIGTERM within ``drain_timeout``
    seconds, closing its connections with 1001.

    With ``hub``, the supervisor also relays the messages of the workers' hubs (see the module's
    docstring): in a worker, ``Hub(backend=WorkersBackend())`` links to the others.

    Args:
        target: what each worker runs.
        workers: how many worker processes.
        listener: from :func:`reserve_port`.
        own_sockets: from :func:`reserve_port`.
        drain_timeout: how long the workers have to stop, after SIGTERM.
        hub: relay the workers' hubs.
        hub_queue_bytes: with ``hub``, the bytes that may wait in the relay for one worker.
        hub_message_bytes: with ``hub``, the largest message relayed.

    Raises:
        ValueError: ``workers`` is less than 1; with ``hub``, a limit that is not positive, or this
            system has no Unix sockets or no fork.
        OSError: with ``hub``, the relay's socket cannot be made.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    # fork where it exists: the workers get the supervisor's objects (a TLS context does not
    # pickle) and, when they share its socket, that socket
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    inherited = None if own_sockets else listener
    selector = selectors.DefaultSelector()
    try:
        relay = None
        if hub:
            if "fork" not in multiprocessing.get_all_start_methods():
                raise ValueError("linked hubs (hub=True) need fork, which this system does not have")
            relay = HubRelay(selector=selector, max_links=max(64, 4 * workers), max_queue_bytes=hub_queue_bytes,
                             max_message_bytes=hub_message_bytes)  # fmt: skip
    except BaseException:
        selector.close()
        raise
    wake_reader, wake_writer = socket.socketpair()
    wake_reader.setblocking(False)
    wake_writer.setblocking(False)
    selector.register(wake_reader, selectors.EVENT_READ, None)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        try:
            wake_writer.send(b"x")
        except OSError:
            pass  # awake already

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    processes: dict[int, Any] = {}
    started: dict[int, float] = {}
    restart_at: dict[int, float] = {}  # the dead, and when to start them again

    def start(index: int) -> None:
        process = context.Process(target=_worker, args=(target, index, inherited, relay, os.getpid()),
                                  name=f"wsfast-worker-{index}")  # fmt: skip
        process.start()
        processes[index], started[index] = process, time.monotonic()
        selector.register(process.sentinel, selectors.EVENT_READ, index)

    try:
        for index in range(workers):
            start(index)
        next_sweep = time.monotonic() + 1.0
        while not stopping:
            now = time.monotonic()
            timeout = min([1.0, *(at - now for at in restart_at.values())])
            exited: set[int] = set()
            for key, events in selector.select(max(0.0, timeout)):
                if relay is not None and relay.handle(key, events):
                    continue
                if isinstance(key.data, int):
                    exited.add(key.data)
            if relay is not None:
                relay.flush()
            if stopping:
                break
            now = time.monotonic()
            if now >= next_sweep:  # the sentinels tell; this is in case one did not
                next_sweep = now + 1.0
                exited.update(i for i, process in processes.items() if i not in restart_at and not process.is_alive())
            for index in exited - restart_at.keys():
                process = processes[index]
                selector.unregister(process.sentinel)
                process.join()
                logger.warning("worker %d (pid %s) exited with %s; starting it again", index, process.pid,
                               process.exitcode)  # fmt: skip
                # not a sleep: the relay goes on meanwhile
                restart_at[index] = started[index] + RESTART_DELAY
            for index, at in list(restart_at.items()):
                if at <= now:
                    del restart_at[index]
                    start(index)
    finally:
        for process in processes.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: drain and stop
        deadline = time.monotonic() + drain_timeout
        for process in processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("worker pid %s did not stop within %.0f s; killing it", process.pid, drain_timeout)
                process.kill()
                process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if relay is not None:
            relay.close()
        selector.close()
        wake_reader.close()
        wake_writer.close()
    return 0


def _worker(target: Callable[[int, socket.socket | None], object], index: int, inherited: socket.socket | None,
            relay: HubRelay | None, supervisor: int) -> None:  # fmt: skip
    global _worker_hub
    # The supervisor's handlers are not the worker's: SIGINT from a terminal reaches the whole
    # process group, and the supervisor asks each worker to stop with SIGTERM, which ``target``
    # handles (until it does, the default ends the worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _stop_with(supervisor)
    if relay is not None:
        relay._forget_in_child()
        _worker_hub = WorkerHub(relay.path, relay.max_message_bytes)
    try:
        target(index, inherited)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


def _stop_with(supervisor: int) -> None:
    """SIGTERM this worker when its supervisor dies, even of SIGKILL, so that it drains and stops
    instead of serving on unsupervised: at once on Linux (the parent-death signal), else within a
    second (a thread that watches the parent)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        set_death_signal = libc.prctl if sys.platform == "linux" else None
    except (OSError, AttributeError):
        set_death_signal = None
    if set_death_signal is not None and set_death_signal(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
        if os.getppid() != supervisor:  # it died before the signal was set
            os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="wsfast-supervisor-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
