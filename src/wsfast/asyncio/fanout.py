"""Fan-out: ``broadcast(connections, message)``, one message to many connections, its frame built once.

websockets' name and semantics: synchronous, it skips connections that are not open (and those in
the middle of sending a fragmented message), and it does not wait for the peers to read: what a slow
peer has not taken stays in its write buffer. It works on connections of both APIs.

The frame is encoded once, and the same bytes go to every connection that can send them unchanged:
a server's connection (servers do not mask) without an extension. A connection that masks (a
client's) or that agreed permessage-deflate gets the message encoded for it alone: a compressed
frame depends on the connection's compression state unless both ends agreed
``server_no_context_takeover``, and even then on its window size, so it is not shared.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from ..connection import State
from ..frames import Opcode, encode_frame
from .protocol import WebSocketProtocol

__all__ = ["broadcast"]

logger = logging.getLogger("wsfast")


def broadcast(connections: Iterable[WebSocketProtocol], message: str | bytes, raise_exceptions: bool = False) -> None:
    """Send ``message`` (str as text, bytes-like as binary) to every open connection in
    ``connections``, without waiting.

    Raises:
        TypeError: ``message`` is neither str nor bytes-like.
        ExceptionGroup: with ``raise_exceptions``, what writing to some connections raised (on
            Python 3.10, the first of those errors); without it they are logged and skipped.
    """
    if isinstance(message, str):
        text, data = True, message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        text, data = False, bytes(message)
    else:
        raise TypeError(f"cannot broadcast {type(message).__name__}: str or bytes")
    shared: bytes | None = None  # the frame, once a connection can take it as it is
    failures: list[Exception] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        if protocol.sending_fragments:
            logger.warning("skipped a broadcast to a connection sending a fragmented message")
            continue
        try:
            if protocol.sends_plain_frames:
                if shared is None:
                    shared = encode_frame(Opcode.TEXT if text else Opcode.BINARY, data)
                protocol.send_encoded(shared)
            elif text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
            connection._flush()
        except Exception as error:  # noqa: BLE001 - one connection's failure is not the others'
            if not raise_exceptions:
                logger.warning("skipped a broadcast to a connection: %s", error)
            failures.append(error)
    if failures and raise_exceptions:
        if sys.version_info >= (3, 11):
            raise ExceptionGroup("broadcast failed on some connections", failures)  # noqa: F821
        raise failures[0]
