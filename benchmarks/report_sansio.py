#!/usr/bin/env python3
"""The sans-IO message path alone, in one process: a client's frame in, the message out, the echo's
frame back out, per message; wsfast's Connection against websockets' and wsproto's protocol objects.

    python benchmarks/report_sansio.py                       # Markdown on stdout, progress on stderr
    python benchmarks/report_sansio.py --output benchmarks/RESULTS-sansio.md
    python benchmarks/report_sansio.py --quick               # fewer, shorter rounds (smoke run)

Each contender is a server-side protocol object in the OPEN state, without compression, whose one
message is: ``receive_data`` of a masked client frame, take the message from its events, send it
back (a binary or text frame, unmasked), take the bytes to write. Text is handed over as its
UTF-8 bytes on every side (wsfast with ``decode_text=False``, checked as UTF-8; websockets' and
wsproto's protocol objects give the frame's bytes or str as they do), so no side decodes and
encodes again what it only echoes. Every contender's output is
checked against the expected frame before timing. Samples are the thread's CPU time for a batch of
messages; contenders run in interleaved rounds, the process pinned to one CPU; figures are medians
of the time per message. wsfast runs on the C build here and, in a child process of its own, on
the pure-Python twins (``WSFAST_NO_EXTENSIONS=1``), which is informative.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report as rp

KIB = 1024
#: (label, payload, text)
MESSAGES = (("256 B binary", os.urandom(256), False), ("8 KiB binary", os.urandom(8 * KIB), False),
            ("256 B text", ('{"price": 101.25, "size": 300, "side": "bid"} ' * 6)[:256].encode(), True))
WSFAST_EVENTS, WSFAST_SINK = "wsfast Connection, events", "wsfast Connection, on_data"
WEBSOCKETS, WSPROTO = "websockets ServerProtocol", "wsproto Connection"
#: Targets from issue 11: wsfast's time per message at most this fraction of the peer's.
TARGETS = ((WEBSOCKETS, 1 / 4), (WSPROTO, 1 / 8))


def client_frame(payload: bytes, text: bool) -> bytes:
    from wsfast.frames import Opcode, encode_frame

    return encode_frame(Opcode.TEXT if text else Opcode.BINARY, payload, mask=b"\x11\x22\x33\x44")


def server_frame(payload: bytes, text: bool) -> bytes:
    from wsfast.frames import Opcode, encode_frame

    return encode_frame(Opcode.TEXT if text else Opcode.BINARY, payload)


def wsfast_events(frame: bytes) -> Callable[[], bytes]:
    from wsfast.connection import Connection, Role
    from wsfast.events import BinaryMessage

    connection = Connection(Role.SERVER, max_message_size=None, max_frame_size=None, decode_text=False)
    receive, events, send_binary, send_text = (connection.receive_data, connection.events_received,
                                               connection.send_binary, connection.send_text)  # fmt: skip
    out = connection.data_to_send

    def one() -> bytes:
        receive(frame)
        for event in events():
            if type(event) is BinaryMessage:
                send_binary(event.data)
            else:
                send_text(event.data)  # type: ignore[attr-defined]
        return out()

    return one


def wsfast_sink(frame: bytes) -> Callable[[], bytes]:
    """The path wsfast's own asyncio layers use: data handed on from inside the decoder."""
    from wsfast.connection import Connection, Role

    connection = Connection(Role.SERVER, max_message_size=None, max_frame_size=None, decode_text=False)
    send_binary, send_text = connection.send_binary, connection.send_text
    connection.on_data = lambda data, final, text: send_text(data) if text else send_binary(data)  # type: ignore[arg-type]
    receive, out = connection.receive_data, connection.data_to_send

    def one() -> bytes:
        receive(frame)
        return out()

    return one


def websockets_protocol(frame: bytes) -> Callable[[], bytes]:
    from websockets.frames import Opcode
    from websockets.protocol import Protocol, Side, State

    protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    receive, events, out = protocol.receive_data, protocol.events_received, protocol.data_to_send
    send_binary, send_text = protocol.send_binary, protocol.send_text
    binary = Opcode.BINARY

    def one() -> bytes:
        receive(frame)
        for event in events():
            if event.opcode is binary:
                send_binary(event.data)
            else:
                send_text(event.data)
        data = out()
        return data[0] if len(data) == 1 else b"".join(data)

    return one


def wsproto_connection(frame: bytes) -> Callable[[], bytes]:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import Message

    connection = Connection(ConnectionType.SERVER)
    receive, events, send = connection.receive_data, connection.events, connection.send

    def one() -> bytes:
        receive(frame)
        out = b""
        for event in events():
            out += send(Message(data=event.data))
        return out

    return one


CONTENDERS = {WSFAST_EVENTS: wsfast_events, WSFAST_SINK: wsfast_sink, WEBSOCKETS: websockets_protocol,
              WSPROTO: wsproto_connection}


def measure(names: list[str], rounds: int, sample_s: float) -> dict[str, dict[str, list[float]]]:
    """Seconds of CPU per message, per round: {message label: {contender: [samples]}}."""
    results: dict[str, dict[str, list[float]]] = {}
    for label, payload, text in MESSAGES:
        frame, expected = client_frame(payload, text), server_frame(payload, text)
        cases = {name: CONTENDERS[name](frame) for name in names}
        counts = {}
        for name, case in cases.items():
            got = case()
            if got != expected:
                raise SystemExit(f"{name} echoed {got[:40]!r}... for {label}, not the expected frame")
            count = 100
            while True:  # calibration, also the warm-up
                started = time.thread_time()
                for _ in range(count):
                    case()
                elapsed = time.thread_time() - started
                if elapsed >= sample_s / 2:
                    break
                count *= 2
            counts[name] = max(10, round(count * sample_s / elapsed))
        samples: dict[str, list[float]] = {name: [] for name in names}
        for index in range(rounds):
            order = names[index % len(names):] + names[: index % len(names)]
            for name in order:
                case, count = cases[name], counts[name]
                started = time.thread_time()
                for _ in range(count):
                    case()
                samples[name].append((time.thread_time() - started) / count)
        results[label] = samples
    return results


def twin_figures(rounds: int, sample_s: float) -> dict[str, dict[str, list[float]]] | str:
    """wsfast's own rows on the pure-Python twins, measured in a child process."""
    command = [sys.executable, __file__, "--child", "--rounds", str(rounds), "--sample", str(sample_s)]
    env = dict(os.environ, WSFAST_NO_EXTENSIONS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        return f"the twin run failed: {result.stderr.strip()[-300:]}"
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.05 s samples (smoke run)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--sample", type=float, default=0.2, help="seconds of CPU per sample (default 0.2)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds, sample_s = (3, 0.05) if args.quick else (max(1, args.rounds), args.sample)
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    if args.child:
        print(json.dumps(measure([WSFAST_EVENTS, WSFAST_SINK], rounds, sample_s)))
        return 0
    from wsfast import kernels

    if kernels.IMPLEMENTATION != "c":
        parser.error("the C kernels are not loaded: rebuild with `pip install .`")
    load_before = rp._load()
    started = time.perf_counter()
    print("measuring the C build and the peers...", file=sys.stderr)
    results = measure(list(CONTENDERS), rounds, sample_s)
    print("measuring the pure-Python twins...", file=sys.stderr)
    twins = twin_figures(rounds, sample_s)
    elapsed = time.perf_counter() - started

    def median(samples: list[float]) -> rp.Stats:
        ordered = sorted(samples)
        q = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
        return rp.Stats(statistics.median(ordered), q[0], q[2], 0, len(ordered))

    lines = rp.report_header("wsfast sans-IO message path", "report_sansio.py", argv, args.quick, elapsed, load_before)
    lines += [
        f"- wsfast {rp._dist_version('wsfast')}: IMPLEMENTATION={kernels.IMPLEMENTATION}; peers: websockets "
        f"{rp._dist_version('websockets')}, wsproto {rp._dist_version('wsproto')}",
        f"- method: per message, a masked client frame into a server-side protocol object (OPEN, no "
        f"compression), the message out of its events, the echo sent back and its bytes taken; thread CPU "
        f"time of calibrated batches (about {sample_s:g} s), {rounds} interleaved rounds, medians, one CPU.",
        "",
        "## Targets", "",
        "From issue 11: wsfast's sans-IO path per message ≥ 4× faster than websockets' protocol objects "
        "and ≥ 8× faster than wsproto's (judged on wsfast's events API, the documented sans-IO interface).",
        "",
    ]
    checks = []
    for label in results:
        group = {name: median(samples) for name, samples in results[label].items()}
        for peer, limit in TARGETS:
            checks.append(rp.ratio_check(f"≥ {1 / limit:g}× faster than {peer}", label, group, WSFAST_EVENTS, peer,
                                         1 / limit, speedup=True))  # fmt: skip
    lines += rp.table(["target", "message", "wsfast", "peer", "ratio", "limit", "noise", "result"],
                      [check.row() for check in checks])
    failed = any(check.passed is False for check in checks)
    lines += ["", "## µs per message", ""]
    rows = []
    for name in CONTENDERS:
        rows.append([name] + [f"{median(results[label][name]).median * 1e6:.2f}" for label in results])
    if isinstance(twins, str):
        lines.append(f"Pure-Python twins: {twins}")
    else:
        for name in (WSFAST_EVENTS, WSFAST_SINK):
            rows.append([f"{name} (pure-Python twins)"]
                        + [f"{median(twins[label][name]).median * 1e6:.2f}" for label in results])
    lines += rp.table(["contender"] + list(results), rows) + [""]
    return rp.publish(lines, args.output, failed=failed, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
