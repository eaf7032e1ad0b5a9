"""Where connections and listeners are opened: the event loop's own transports, or aiofastnet's.

aiofastnet (PyPI, picows' dependency) provides socket and TLS transports written in Cython that
work under any asyncio loop, the standard library's and uvloop alike. On the standard library's
loop they cost much less per read and write than its pure-Python selector transports, and that
cost is a large part of a small message's round trip. ``serve`` and ``connect`` take
``use_aiofastnet=True`` to open their sockets with them; everything above the transport is the
same code either way.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

__all__ = ["require_aiofastnet", "network"]


def require_aiofastnet(use_aiofastnet: bool) -> None:
    """Check, when the option is given, that aiofastnet can be imported, so that ``serve`` and
    ``connect`` fail when called rather than when they first open a socket.

    Raises:
        ImportError: ``use_aiofastnet`` is true and aiofastnet is not installed.
    """
    if use_aiofastnet:
        _aiofastnet()


def _aiofastnet() -> Any:
    try:
        import aiofastnet
    except ImportError:
        raise ImportError("use_aiofastnet=True needs aiofastnet: pip install 'wsfast[aiofastnet]'") from None
    return aiofastnet


class _AiofastnetOpener:
    """The loop's methods that open connections and listeners, on aiofastnet's transports: its
    functions of the same names take the loop as their first argument, and then the loop's."""

    METHODS = frozenset({"create_server", "create_unix_server", "create_connection", "create_unix_connection", "start_tls"})

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._aiofastnet = _aiofastnet()

    def __getattr__(self, name: str) -> Any:
        if name not in self.METHODS:
            raise AttributeError(name)
        return functools.partial(getattr(self._aiofastnet, name), self._loop)


def network(use_aiofastnet: bool) -> asyncio.AbstractEventLoop:
    """What opens connections and listeners on the running loop: the loop itself, or (with
    ``use_aiofastnet``) the same methods on aiofastnet's transports.

    Raises:
        ImportError: ``use_aiofastnet`` is true and aiofastnet is not installed.
    """
    loop = asyncio.get_running_loop()
    if not use_aiofastnet:
        return loop
    # typed as the loop: it has the loop's methods that open things, with their signatures
    return cast(asyncio.AbstractEventLoop, _AiofastnetOpener(loop))
