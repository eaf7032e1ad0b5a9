#!/usr/bin/env python3
"""How much of wsproto's per-message cost its frame layer is: one echo step of a sans-IO
``WSConnection`` (``receive_data`` of one frame, ``events()``, ``send`` of the message back), CPU
µs per message, in one of three modes:

- ``plain``: wsproto as it is;
- ``wsfast``: after ``wsfast.accelerate.install("wsproto")``;
- ``frameless``: as ``wsfast``, with a frame layer that costs nothing: ``FrameDecoder.receive_bytes``
  keeps nothing, ``process_buffer`` hands out a frame made beforehand, ``_serialize_frame`` (and
  the encoder of wsfast's whole-message send) returns bytes made beforehand (no copy, no masking).
  Everything above the frame layer (the message decoder as wsfast leaves it, the event
  generators, the events, the connection's state) runs as it does with wsfast.

``wsfast`` − ``frameless`` is what wsproto's frame layer still costs with wsfast installed, and so
the most any further replacement of that layer could take off an end-to-end round trip
(``report_accelerate_echo.py`` turns it into a bound on the speedup).

    python benchmarks/_wsproto_frame_share.py MODE SIDE SIZE KIND   # prints one JSON line

SIDE is server (receives masked frames, sends unmasked) or client; KIND binary or text.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

MESSAGES = 4000
ROUNDS = 7


def echo_step(mode: str, side: str, size: int, kind: str) -> Any:
    """The function that runs one echo step, with wsproto set up in ``mode``."""
    if mode in ("wsfast", "frameless"):
        import wsfast.accelerate

        wsfast.accelerate.install("wsproto")
    from wsproto import ConnectionType, WSConnection
    from wsproto import frame_protocol as fp
    from wsproto.events import AcceptConnection, BytesMessage, Message, Request, TextMessage

    from wsfast.accelerate import _wsproto_events
    from wsfast.frames import encode_frame

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    connection = server if side == "server" else client
    text = kind == "text"
    payload = b"x" * size
    incoming = encode_frame(1 if text else 2, payload, mask=side == "server")
    if mode == "frameless":
        made = fp.Frame(fp.Opcode.TEXT if text else fp.Opcode.BINARY, payload, True, True)
        outgoing = bytearray(encode_frame(1 if text else 2, payload, mask=side == "client"))
        arrived = [False]

        def receive_bytes(self: Any, data: bytes) -> None:
            arrived[0] = True

        def process_buffer(self: Any) -> Any:
            if arrived[0]:
                arrived[0] = False
                return made
            return None

        fp.FrameDecoder.receive_bytes = receive_bytes  # type: ignore[method-assign]
        fp.FrameDecoder.process_buffer = process_buffer  # type: ignore[method-assign]
        fp.FrameProtocol._serialize_frame = lambda self, opcode, payload=b"", fin=True: outgoing  # type: ignore[method-assign]
        sent = bytes(outgoing)
        _wsproto_events.encode_frame = lambda opcode, payload, mask=False: sent  # type: ignore[assignment]  # the whole-message send
    message_class = TextMessage if text else BytesMessage

    def step() -> None:
        connection.receive_data(incoming)
        for event in connection.events():
            if isinstance(event, Message):
                connection.send(message_class(data=event.data))

    return step


def measure(mode: str, side: str, size: int, kind: str) -> float:
    """Median over ROUNDS of CPU seconds per echo step."""
    step = echo_step(mode, side, size, kind)
    for _ in range(MESSAGES // 4):
        step()
    samples = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(MESSAGES):
            step()
        samples.append((time.process_time() - started) / MESSAGES)
    return statistics.median(samples)


def main(argv: list[str]) -> int:
    mode, side, size, kind = argv[0], argv[1], int(argv[2]), argv[3]
    print(json.dumps({"mode": mode, "side": side, "size": size, "kind": kind, "seconds": measure(mode, side, size, kind)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
