"""websockets' asyncio ``Connection.send_context`` without an async generator per message.

Every ``send()``, ``ping()`` and ``pong()`` of websockets' asyncio implementation runs its body in
``async with self.send_context():``, a ``contextlib.asynccontextmanager``: per message an async
generator is made, registered with the loop's async-generator hooks, stepped twice and finished with
``StopAsyncIteration``. That is about a sixth of the CPU of a small echo round trip.

The replacement is a plain context object that runs the common case itself, the one line every
websockets version from 13.0 to 17.4 has: the state is the expected one on entry, the body returns,
no close is expected, and then ``send_data()`` and ``drain()``. Everything else runs websockets' own
generator, so that its code decides:

- the state is not the expected one on entry: the original is entered, and waits and raises as it
  always did;
- the body raised, or a close is expected on exit: the original is entered at that point (with the
  state it then has as the expected one: the state was checked on entry already) and given the
  body's outcome, so its ``except`` branches and its closing logic run on it;
- ``send_data()`` or ``drain()`` raised: the original is entered the same way and made to meet the
  same exception where it calls ``send_data()`` (its ``close_expected()`` answers False, as it did
  for the common case), so its error handling, logging and ``ConnectionClosed`` are its own. The
  exception's traceback gains the frame that raises it again.

Because the common case is written here, it is used only where ``send_context``'s source is one this
module knows, token for token (:data:`KNOWN`); a websockets whose ``send_context`` differs keeps its
own, with a RuntimeWarning.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import tokenize
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["KNOWN", "fingerprint", "source_fingerprint", "make_send_context", "is_fast"]

#: Fingerprints (:func:`fingerprint`) of ``websockets.asyncio.connection.Connection.send_context``
#: in the releases checked, each with the first release that has it. All share the common case
#: above; they differ in comments and in the error branches.
KNOWN = {
    "a0154feb99cce6e9": "13.0",
    "d2dbfad2b1bf8540": "13.1",
    "078fb77eb0127239": "14.0",
    "2e7c8c60150d3425": "14.2",
    "80ee5dd4b5d4b9ac": "16.0",
    "dd3c36d6cf59e8f2": "17.0",
    "d72339849afc6c3b": "17.4",
}

_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}  # fmt: skip


def fingerprint(source: str) -> str:
    """A digest of a function's source from its ``async`` or ``def`` on (decorators left out),
    blind to comments, blank lines and indentation.

    Raises:
        tokenize.TokenError, IndentationError: ``source`` is not Python.
    """
    tokens = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
              if token.type not in _LAYOUT]  # fmt: skip
    start = min((tokens.index(word) for word in ("async", "def") if word in tokens), default=0)
    return hashlib.sha256("\x00".join(tokens[start:]).encode()).hexdigest()[:16]


def source_fingerprint(function: Any) -> str | None:
    """:func:`fingerprint` of ``function``'s source, or None where there is no source to read."""
    try:
        return fingerprint(inspect.getsource(function))
    except (OSError, TypeError, SyntaxError, tokenize.TokenError):
        return None


def _false() -> bool:
    return False


class _SendContext:
    """``async with connection.send_context(...)``: the common case here, the rest websockets'."""

    __slots__ = ("_connection", "_expected_state", "_original", "_delegate")

    def __init__(self, connection: Any, expected_state: Any, original: Callable[..., Any]) -> None:
        self._connection = connection
        self._expected_state = expected_state
        self._original = original
        self._delegate: Any = None

    async def __aenter__(self) -> None:
        connection = self._connection
        if connection.protocol.state is not self._expected_state:
            self._delegate = self._original(connection, expected_state=self._expected_state)
            await self._delegate.__aenter__()

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool | None:
        connection = self._connection
        if self._delegate is not None:
            return await self._delegate.__aexit__(exc_type, exc, traceback)  # type: ignore[no-any-return]  # contextlib's
        protocol = connection.protocol
        if exc_type is None and not protocol.close_expected():
            try:
                connection.send_data()
                await connection.drain()
            except Exception as error:  # noqa: BLE001 - handed to websockets' own handling below
                failure = error
            else:
                return None
            # As the original met it: close_expected() False, then send_data() raising. The stand-ins
            # remove themselves before the original awaits anything.
            def raise_failure() -> None:
                del connection.send_data, protocol.close_expected
                raise failure

            protocol.close_expected = _false
            connection.send_data = raise_failure
        delegate = self._original(connection, expected_state=protocol.state)
        try:
            await delegate.__aenter__()
            return await delegate.__aexit__(exc_type, exc, traceback)  # type: ignore[no-any-return]  # contextlib's
        finally:
            vars(connection).pop("send_data", None)
            vars(protocol).pop("close_expected", None)


def is_fast(send_context: Any) -> bool:
    """Whether ``send_context`` is this module's replacement."""
    return getattr(send_context, "_wsfast_send_context", False) is True


def make_send_context(original: Callable[..., Any]) -> Callable[..., Any]:
    """websockets' ``Connection.send_context`` with the common case run here (see the module), or
    ``original`` itself, with a RuntimeWarning, where its source is not one in :data:`KNOWN`."""
    generator = getattr(original, "__wrapped__", None)
    defaults = getattr(generator, "__kwdefaults__", None) or {}
    known = source_fingerprint(generator) in KNOWN
    if not inspect.isasyncgenfunction(generator) or "expected_state" not in defaults or not known:
        warnings.warn("wsfast.accelerate leaves websockets' asyncio send_context as it is: its source is not "
                      "one wsfast knows", RuntimeWarning, stacklevel=2)  # fmt: skip
        return original
    open_state = defaults["expected_state"]

    def send_context(self: Any, *, expected_state: Any = open_state) -> _SendContext:
        """websockets' ``send_context``, with its common case run without an async generator."""
        return _SendContext(self, expected_state, original)

    send_context.__qualname__ = "Connection.send_context"
    send_context.__wrapped__ = original  # type: ignore[attr-defined]  # functools' name for the original
    send_context._wsfast_send_context = True  # type: ignore[attr-defined]  # is_fast()
    return send_context
