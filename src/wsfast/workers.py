"""Many worker processes serving one port, supervised, their hubs linked.

:func:`serve_workers` serves an application in N workers (what ``wsfast serve --workers N`` runs).
Beneath it, :func:`run_workers` starts ``workers`` processes that each run ``target(index,
listener)``, restarts one that dies (logged), and on SIGTERM or SIGINT asks each to stop (SIGTERM)
and waits for them to drain their connections, killing any that outlive ``drain_timeout``.

How the workers share the port: on Linux (and wherever ``SO_REUSEPORT`` exists) each worker binds
its own listening socket with ``reuse_port``, and the kernel spreads new connections over them;
the supervisor keeps a bound, non-listening socket on the port so that a restarted worker finds it
free and ``port=0`` resolves once for all. Elsewhere on POSIX (or with ``reuse_port=False``) the
supervisor listens and the workers inherit that one socket (they are forked). ``listener`` is that
inherited socket, or None.

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
import functools
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
from typing import Any, TextIO

from .hub_relay import MAX_MESSAGE_BYTES, MAX_QUEUE_BYTES, HubRelay

__all__ = ["serve_workers", "run_workers", "reserve_port", "worker_hub", "WorkerHub"]

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


def serve_workers(application: str | Callable[..., Any], host: str, port: int, *, workers: int = 1,
                  hub: bool = False, api: str = "await", loop: str = "asyncio", drain_timeout: float = 10.0,
                  reuse_port: bool | None = None, out: TextIO | None = None, label: str = "wsfast server",
                  **serve_options: Any) -> int:  # fmt: skip
    """Serve ``application`` on ``host:port`` until SIGTERM or SIGINT, then close every connection
    with 1001; returns 0. What ``wsfast serve`` and ``wsfast echo`` run.

    With ``workers`` above 1, or with ``hub``, ``workers`` processes serve it, supervised by
    :func:`run_workers` (a worker that dies is started again, logged; one still running
    ``drain_timeout`` seconds after SIGTERM is killed); else this process does. ``application`` may
    be named ``"MODULE:ATTRIBUTE"``: each worker imports it, and this process first, so that a bad
    name fails here, once, and not in every worker again and again.

    With ``hub``, the workers' hubs are linked: the application makes its own
    ``Hub(backend=WorkersBackend())``, in the worker (not when its module is imported: this process
    imports it too)::

        @functools.cache
        def hub():
            return Hub(backend=WorkersBackend())

        async def handler(connection):
            hub().subscribe(connection, "chat")
            async for message in connection:
                hub().publish("chat", message)

        serve_workers(handler, "0.0.0.0", 8765, workers=4, hub=True)

    Args:
        application: the await API's ``async def handler(connection)``; with ``api="callback"``, a
            :class:`~wsfast.asyncio.callbacks.Handler` subclass; or its name, ``"MODULE:ATTRIBUTE"``.
        host: the address to listen on.
        port: the port; 0 for a free one (the same for every worker).
        workers: how many worker processes; 1 serves in this process, unless ``hub``.
        hub: link the workers' hubs (see :func:`run_workers`).
        api: "await" or "callback".
        loop: "asyncio" or "uvloop".
        drain_timeout: how long the connections have to close, after SIGTERM.
        reuse_port: how the workers share the port (see :func:`reserve_port`); in this process,
            :func:`wsfast.asyncio.serve`'s.
        out: where to write the address served; None for nowhere.
        label: the name of the server there.
        serve_options: :func:`wsfast.asyncio.serve`'s (``ssl``, ``compression``, limits...), but
            for the address (``host``, ``port``, ``sock``, ``path``, ``reuse_port``).

    Raises:
        ValueError: a name not of the form ``MODULE:ATTRIBUTE`` or whose attribute is missing, an
            application that ``api`` cannot serve, an unknown ``api`` or ``loop``, uvloop missing,
            an invalid option, ``workers`` less than 1, or no way to share the port here.
        TypeError: an unknown option.
        ImportError: the application's module cannot be imported, or ``use_aiofastnet`` without
            aiofastnet installed.
        OSError: the address cannot be bound.
        KeyboardInterrupt: SIGINT, when this process serves (after the drain).
    """
    from .asyncio.application import announcement, check_application, check_loop, load_application, run
    from .asyncio.application import server_for, serve_until_terminated

    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    # Everything a worker would fail on, here and once: the supervisor would start it again forever.
    loaded = load_application(application) if isinstance(application, str) else application
    check_application(loaded, api)
    check_loop(loop)
    server_for(api)(loaded, host, port, **serve_options)  # checks the options; listens only once awaited
    if workers == 1 and not hub:
        run(serve_until_terminated(loaded, api=api, out=out, label=label, drain_timeout=drain_timeout, host=host,
                                   port=port, reuse_port=bool(reuse_port), **serve_options), loop)  # fmt: skip
        return 0
    listener, own_sockets = reserve_port(host, port, reuse_port=reuse_port)
    with listener:
        bound = listener.getsockname()
        if out is not None:
            out.write(announcement(label, serve_options.get("ssl"), bound,
                                   f" ({workers} worker{'s' if workers > 1 else ''})"))  # fmt: skip
            out.flush()
        target = functools.partial(_serve_in_worker, application=application, host=host, port=bound[1], api=api,
                                   loop=loop, serve_options=serve_options)  # fmt: skip
        return run_workers(target, workers, listener, own_sockets, drain_timeout=drain_timeout, hub=hub)


def _serve_in_worker(index: int, inherited: socket.socket | None, application: str | Callable[..., Any], host: str,
                     port: int, api: str, loop: str, serve_options: dict[str, Any]) -> None:  # fmt: skip
    """One worker of :func:`serve_workers`: the application on the inherited listening socket, or
    on its own one bound to ``host:port`` with SO_REUSEPORT, until SIGTERM. Its supervisor bounds
    the drain (it kills a worker that outlives it)."""
    from .asyncio.application import load_application, run, serve_until_terminated

    if isinstance(application, str):  # imported already when forked; by name, under spawn too
        application = load_application(application)
    if inherited is not None:
        address: dict[str, Any] = {"sock": inherited}
    else:
        address = {"host": host, "port": port, "reuse_port": True}
    run(serve_until_terminated(application, api=api, **address, **serve_options), loop)


def reserve_port(host: str, port: int, *, reuse_port: bool | None = None) -> tuple[socket.socket, bool]:
    """The socket that holds ``host:port`` (``port`` 0: a free one) for the workers, and whether
    they bind sockets of their own (``SO_REUSEPORT``: True) or inherit this one, which then listens.

    Args:
        host: the address to listen on.
        port: the port; 0 for a free one.
        reuse_port: True for sockets of their own, False for the one inherited socket, None for
            the first where ``SO_REUSEPORT`` exists.

    Raises:
        OSError: the address cannot be bound.
        ValueError: ``reuse_port`` is True and this system has no SO_REUSEPORT, or the socket is
            to be inherited and it has no fork; with None, it has neither (Windows).
    """
    if reuse_port is None:
        reuse_port = hasattr(socket, "SO_REUSEPORT")
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("this system has no SO_REUSEPORT: the workers can only inherit one socket (reuse_port=False)")
    if not reuse_port and "fork" not in multiprocessing.get_all_start_methods():
        raise ValueError("workers that inherit one socket need fork, which this system does not have")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            return sock, True
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
                logger.warning("worker pid %s did not stop within %g s; killing it", process.pid, drain_timeout)
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
