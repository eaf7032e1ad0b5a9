"""Many worker processes serving one port, supervised.

:func:`run_workers` starts ``workers`` processes that each run ``target(index, listener)``, restarts
one that dies (logged), and on SIGTERM or SIGINT asks each to stop (SIGTERM) and waits for them to
drain their connections, killing any that outlive ``drain_timeout``.

How the workers share the port: on Linux (and wherever ``SO_REUSEPORT`` exists) each worker binds
its own listening socket with ``reuse_port``, and the kernel spreads new connections over them;
the supervisor keeps a bound, non-listening socket on the port so that a restarted worker finds it
free and ``port=0`` resolves once for all. Elsewhere on POSIX the supervisor listens and the workers
inherit that one socket (they are forked). ``listener`` is that inherited socket, or None.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

__all__ = ["run_workers", "reserve_port"]

logger = logging.getLogger("wsfast")

#: A worker that dies is started again after this many seconds at least, so that one that fails at
#: once does not spin.
RESTART_DELAY = 1.0


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
                own_sockets: bool, *, drain_timeout: float = 10.0) -> int:  # fmt: skip
    """Run ``target(index, inherited)`` in ``workers`` processes until SIGTERM or SIGINT; returns 0.

    ``listener`` and ``own_sockets`` come from :func:`reserve_port`: the workers bind sockets of
    their own (``inherited`` is None) or use ``listener`` itself. ``target`` must be picklable (a
    module-level function, or a partial of one) and must stop on SIGTERM within ``drain_timeout``
    seconds, closing its connections with 1001.

    Raises:
        ValueError: ``workers`` is less than 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    # fork where it exists: the workers get the supervisor's objects (a TLS context does not
    # pickle) and, when they share its socket, that socket
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    inherited = None if own_sockets else listener
    wake_reader, wake_writer = socket.socketpair()
    wake_reader.setblocking(False)
    wake_writer.setblocking(False)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        try:
            wake_writer.send(b"x")
        except OSError:
            pass  # awake already

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}

    def start(index: int) -> Any:
        process = context.Process(target=_worker, args=(target, index, inherited), name=f"wsfast-worker-{index}")
        process.start()
        return process

    processes = {index: start(index) for index in range(workers)}
    started = {index: time.monotonic() for index in processes}
    try:
        while not stopping:
            ready = wait([wake_reader, *(process.sentinel for process in processes.values())], timeout=1.0)
            if stopping:
                break
            for index, process in list(processes.items()):
                if process.sentinel in ready or not process.is_alive():
                    process.join()
                    logger.warning("worker %d (pid %s) exited with %s; starting it again", index, process.pid,
                                   process.exitcode)  # fmt: skip
                    time.sleep(max(0.0, started[index] + RESTART_DELAY - time.monotonic()))
                    processes[index], started[index] = start(index), time.monotonic()
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
        wake_reader.close()
        wake_writer.close()
    return 0


def _worker(target: Callable[[int, socket.socket | None], object], index: int, inherited: socket.socket | None) -> None:
    # The supervisor's handlers are not the worker's: SIGINT from a terminal reaches the whole
    # process group, and the supervisor asks each worker to stop with SIGTERM, which ``target``
    # handles (until it does, the default ends the worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        target(index, inherited)
    except KeyboardInterrupt:
        pass
    sys.exit(0)
