"""Bytes payloads for the frames only websockets' own connections read: one copy less per message.

From websockets 14 on, its reader hands an unmasked frame's payload (every frame a client receives)
out as a bytearray, and its asyncio and sync connections turn each one into bytes before anyone
sees it: ``b"".join(frame.data for frame in frames)`` in ``Assembler.get``, ``bytes(frame.data)``
in ``Assembler.get_iter`` (from 16) and for a pong. The patched parser can make the payload bytes
in the first place (the unmasking or the read fills the final object, as it does for a server),
so that the join hands that object on instead of copying it: a whole message's copy per message.

That is exact only where the frames reach no other code. So the wrapper of ``Connection.__init__``
gives the connection's protocol a question (``_wsfast_frames_become_bytes``), which the parser asks
at its first frame, when the connection is complete; the answer is yes only when every function
on the frames' way is one this module knows, by its source
(:data:`KNOWN`): for the connection's class and each class above it that defines them,
``process_event`` and what drains the protocol's events (``data_received`` in asyncio,
``recv_events`` in sync); for its ``recv_messages`` assembler's class and those above it, ``get``
and ``get_iter``. A subclass of the user's that overrides one of them, a websockets whose
``get_iter`` hands out ``frame.data`` itself (14 and 15), or any version with a source not listed
keeps websockets' bytearray, and a sans-I/O protocol used without these connections is never marked.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from ._websockets_send import source_fingerprint

__all__ = ["KNOWN", "frames_become_bytes", "make_connection_init"]

#: Function name -> fingerprints (:func:`~._websockets_send.fingerprint`) of the sources that turn
#: every payload into bytes or never read one, in the websockets releases checked (13.0 to 17.4;
#: none before 16.0 has them all), each with the first release that has it. asyncio's and sync's
#: ``Connection.process_event`` read alike.
KNOWN = {
    "process_event": {
        "80387befd8bfa957": "13.0",  # Connection, asyncio and sync
        "8d9b001505da1e83": "17.0",
        "829ecae9dbafd6ae": "16.0",  # asyncio ServerConnection: the handshake request, then super()
        "692220b4335b7450": "16.0",  # asyncio ClientConnection: the handshake response, then super()
        "4aafc72c92e33b37": "16.0",  # sync ServerConnection
        "66980fdef4ab925a": "16.0",  # sync ClientConnection
    },
    "data_received": {  # asyncio Connection
        "9da2fbf8d2afe22a": "16.0",
        "061de402e36cbdfd": "17.4",
    },
    "recv_events": {  # sync Connection, then its ServerConnection and ClientConnection (super())
        "d6ea567fe3430f58": "16.0",
        "ff420112f79f2446": "17.0",
        "52971c6673d36b0d": "17.3",
        "8c4414f1c253e7f0": "17.4",
        "86c58effcc1cb1dd": "16.0",
        "8b7efce2a41f5c56": "16.0",
    },
    "get": {  # Assembler: b"".join(frame.data for frame in frames)
        "2995ed3a81fd054b": "14.1",  # asyncio
        "40f5a159f2573d9e": "17.0",
        "d5c63ae146ace345": "17.3",
        "0769da509b776ec7": "17.4",
        "0ebc6081bf9d5e83": "14.2",  # sync
        "ccd74b8178952840": "17.0",
        "bc6054830e620175": "17.4",
    },
    "get_iter": {  # Assembler: bytes(frame.data)
        "e683eb8a9fbf98fd": "16.0",  # asyncio
        "5707d137194d398f": "17.0",
        "fb58652dde321849": "16.0",  # sync
        "cd784f7708fb4e25": "17.0",
    },
}

#: (class, the websockets class it starts from) -> the verdict of :func:`_known_all`, computed once
#: per class (reading sources is slow).
_verdicts: weakref.WeakKeyDictionary[type, dict[type, bool]] = weakref.WeakKeyDictionary()


def _known_all(cls: type, base: type, names: tuple[str, ...]) -> bool:
    """Whether every definition of ``names`` in ``cls`` and the classes above it down to ``base``
    (websockets' own, whose methods call no further up) is known, and ``base`` is above ``cls``."""
    verdicts = _verdicts.setdefault(cls, {})
    verdict = verdicts.get(base)
    if verdict is None:
        mro = cls.__mro__
        chain = mro[: mro.index(base) + 1] if base in mro else ()
        verdict = bool(chain) and all(
            source_fingerprint(vars(klass)[name]) in KNOWN[name]
            for klass in chain for name in names if name in vars(klass)
        )
        verdicts[base] = verdict
    return verdict


def frames_become_bytes(connection: Any, base: type, assembler_base: type) -> bool:
    """Whether every frame ``connection`` (an instance of websockets' asyncio or sync ``Connection``,
    ``base``) takes from its protocol reaches only code known to make bytes of its payload, its
    assembler being an ``assembler_base`` (see the module). False once the connection is gone."""
    if connection is None:
        return False
    drain = "data_received" if "data_received" in vars(base) else "recv_events"
    assembler = getattr(connection, "recv_messages", None)
    return (_known_all(type(connection), base, ("process_event", drain))
            and _known_all(type(assembler), assembler_base, ("get", "get_iter")))  # fmt: skip


def _ask(connection: weakref.ref[Any], base: type, assembler_base: type) -> bool:
    return frames_become_bytes(connection(), base, assembler_base)


def make_connection_init(original: Callable[..., None]) -> Callable[..., None]:
    """websockets' ``Connection.__init__``, then the protocol given the question whether its frames
    may carry bytes (see the module)."""
    module_name = getattr(original, "__module__", None) or ""
    base = getattr(sys.modules.get(module_name), "Connection", None)
    assembler_base = getattr(sys.modules.get(module_name.rpartition(".")[0] + ".messages"), "Assembler", None)
    if not isinstance(base, type) or vars(base).get("__init__") is not original or not isinstance(assembler_base, type):
        return original  # not websockets' Connection as this module knows it (replaced by someone): left alone

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # asked at the first frame: the asyncio connection makes its assembler in connection_made
        self.protocol._wsfast_frames_become_bytes = partial(_ask, weakref.ref(self), base, assembler_base)

    __init__.__qualname__ = "Connection.__init__"
    __init__.__doc__ = original.__doc__
    __init__.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name: inspect.signature follows it
    return __init__
