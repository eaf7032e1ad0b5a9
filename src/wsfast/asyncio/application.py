"""One application served until SIGTERM: what ``wsfast serve`` and ``wsfast echo`` run, in this
process or in each worker of :func:`wsfast.workers.serve_workers`.

An application is the await API's ``async def handler(connection)`` (what
:func:`wsfast.asyncio.serve` takes) or the callback API's :class:`~wsfast.asyncio.callbacks.Handler`
subclass (what :func:`wsfast.asyncio.callbacks.serve` takes). On the command line it is named
``MODULE:ATTRIBUTE``, as uvicorn names one (``ATTRIBUTE`` may be dotted).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TextIO, TypeVar

from . import callbacks
from .server import serve

__all__ = ["APIS", "LOOPS", "load_application", "check_application", "server_for", "announcement",
           "serve_until_terminated", "check_loop", "run"]  # fmt: skip

logger = logging.getLogger("wsfast")

APIS = ("await", "callback")
LOOPS = ("asyncio", "uvloop")

_T = TypeVar("_T")


def load_application(reference: str) -> Any:
    """The object that ``reference``, ``"MODULE:ATTRIBUTE"``, names, importing ``MODULE``.

    Raises:
        ValueError: ``reference`` is not of that form, or ``MODULE`` has no ``ATTRIBUTE``.
        ImportError: ``MODULE``, or a module it imports, cannot be imported.
    """
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"the application must be named MODULE:ATTRIBUTE (for example chat:handler), "
                         f"not {reference!r}")  # fmt: skip
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"cannot import the module of {reference!r}: {error}") from error
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise ValueError(f"{reference!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return found


def check_application(application: object, api: str) -> None:
    """Refuse what ``api`` cannot serve, before a server starts (and fails on each connection).

    Raises:
        ValueError: ``application`` is not callable, or is made for the other API, or ``api`` is
            neither "await" nor "callback".
    """
    server_for(api)
    if not callable(application):
        raise ValueError(f"the application must be callable, not {application!r}")
    if api == "await" and isinstance(application, type) and issubclass(application, callbacks.Handler):
        raise ValueError(f"{application.__name__} is a callbacks.Handler: serve it with the callback API "
                         "(api='callback', --api callback)")  # fmt: skip
    if api == "callback" and inspect.iscoroutinefunction(application):
        name = getattr(application, "__name__", repr(application))
        raise ValueError(f"{name} is an async function: serve it with the await API "
                         "(api='await', --api await)")  # fmt: skip


def server_for(api: str) -> type[serve]:
    """:func:`wsfast.asyncio.serve` for the await API, :func:`wsfast.asyncio.callbacks.serve` for the
    callback API.

    Raises:
        ValueError: ``api`` is neither "await" nor "callback".
    """
    if api == "await":
        return serve
    if api == "callback":
        return callbacks.serve
    raise ValueError(f"api must be 'await' or 'callback', not {api!r}")


def announcement(label: str, tls: object, address: tuple[Any, ...], note: str = "") -> str:
    """The line that tells where a server listens: ``"{label} on ws://host:port/{note}"``."""
    return f"{label} on {'wss' if tls else 'ws'}://{address[0]}:{address[1]}/{note}\n"


async def serve_until_terminated(application: Any, *, api: str = "await", out: TextIO | None = None,
                                 label: str = "wsfast server", drain_timeout: float | None = None,
                                 **serve_options: Any) -> None:  # fmt: skip
    """Serve ``application`` until SIGTERM (caught on the main thread, outside Windows) or until
    cancelled; then close every connection with 1001 and wait for them, at most ``drain_timeout``
    seconds (None: as long as they take), leaving the ones still open with a warning.

    Args:
        application: what ``api``'s serve takes.
        api: "await" or "callback".
        out: where to write a line per listening socket (see :func:`announcement`); None for none.
        label: the name of the server in that line.
        drain_timeout: how long the connections have to close, after SIGTERM.
        serve_options: :func:`wsfast.asyncio.serve`'s (``host``, ``port`` or ``sock``, ``ssl``...).

    Raises:
        ValueError: an unknown ``api``, or an invalid option.
        TypeError: an unknown option.
        OSError: the address cannot be bound.
        ImportError: ``use_aiofastnet`` without aiofastnet installed.
    """
    server = await server_for(api)(application, **serve_options)
    loop = asyncio.get_running_loop()
    catch_sigterm = threading.current_thread() is threading.main_thread() and sys.platform != "win32"
    try:
        if out is not None:
            for listening in server.sockets:
                out.write(announcement(label, serve_options.get("ssl"), listening.getsockname()))
            out.flush()
        terminated = asyncio.Event()
        if catch_sigterm:
            loop.add_signal_handler(signal.SIGTERM, terminated.set)
        await terminated.wait()
    finally:
        server.close()  # the open connections: 1001, going away
        try:
            await asyncio.wait_for(server.wait_closed(), drain_timeout)
        except asyncio.TimeoutError:
            logger.warning("connections still open %g s after the server closed; leaving them", drain_timeout)
        if catch_sigterm:
            loop.remove_signal_handler(signal.SIGTERM)


def check_loop(loop: str) -> None:
    """Refuse an event loop :func:`run` cannot run, before anything starts.

    Raises:
        ValueError: ``loop`` is neither "asyncio" nor "uvloop", or uvloop is not installed.
    """
    if loop not in LOOPS:
        raise ValueError(f"loop must be 'asyncio' or 'uvloop', not {loop!r}")
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ValueError("uvloop is not installed (pip install uvloop)")


def run(coroutine: Coroutine[Any, Any, _T], loop: str = "asyncio") -> _T:
    """Run ``coroutine`` to its end on a new event loop: the standard library's, or uvloop's.

    Raises:
        ValueError: ``loop`` is neither "asyncio" nor "uvloop", or uvloop is not installed.
    """
    try:
        check_loop(loop)
    except ValueError:
        coroutine.close()
        raise
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)
