"""Hostile streams against ``serve()``: raw-socket attackers on 127.0.0.1, the server in a process of
its own (``serve.py``) so that its peak memory can be read from /proc, on the stdlib loop and on
uvloop, on whichever implementation the run uses. Each test asserts the answer the attacker gets
(a close code), a bound on the server's memory, and that a well-behaved client is still served.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import closing

import pytest

from tests.hostile.attack import MIB, Server, masked_frame, measure_good_client, read_close_code, upgrade

pytestmark = [pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the server's memory from /proc"),
              pytest.mark.needs_quiet_machine]


def test_a_message_that_never_ends_is_closed_with_1009(echo_server: Server) -> None:
    """A text frame without FIN, then empty continuation frames forever: the frame cap answers."""
    baseline = echo_server.reset_peak()
    with closing(upgrade(echo_server.port)) as sock:
        empties = masked_frame(0x0, fin=False) * 1000
        sock.sendall(masked_frame(0x1, b"a", fin=False))
        sent = 0
        try:
            while sent < 20 * MIB:  # 20 MiB of 6-byte frames, unless the server closes first
                sock.sendall(empties)
                sent += len(empties)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(0.5)
        assert read_close_code(sock, time.monotonic() + 10) == 1009
    assert sent < 20 * MIB, "the server was still reading after 20 MiB of empty frames"  # socket buffers hold MiBs
    assert echo_server.status("VmHWM") - baseline < 8 * MIB
    assert measure_good_client(echo_server.port, 0.3) < 0.5


def test_messages_of_empty_frames_cost_others_little_latency(loop_kind: str, api: str) -> None:
    """An attacker streams messages of 4,095 empty continuation frames each, just under the frame
    cap, as fast as it can; a good client's echo p99 stays within a bounded factor of its p99
    without the attacker."""
    server = Server(loop_kind, api=api)
    try:
        quiet = measure_good_client(server.port, 1.0)
        attacker = upgrade(server.port)
        attacker.settimeout(10)
        message = masked_frame(0x2, fin=False) + masked_frame(0x0, fin=False) * 4094 + masked_frame(0x0)
        stop = threading.Event()

        def attack() -> None:
            drain = threading.Thread(target=lambda: read_close_code(attacker, time.monotonic() + 30), daemon=True)
            drain.start()  # read the empty echoes, so the server's writes never back up
            try:
                while not stop.is_set():
                    attacker.sendall(message)
            except OSError:
                pass

        thread = threading.Thread(target=attack, daemon=True)
        thread.start()
        time.sleep(0.2)
        baseline = server.reset_peak()
        attacked = measure_good_client(server.port, 2.0)
        stop.set()
        thread.join(10)
        attacker.close()
        assert server.status("VmHWM") - baseline < 8 * MIB
        # The bound holds on the pure-Python twin, where each empty frame still costs a header
        # parse in Python; on the C build the attack costs the others far less.
        assert attacked < max(20 * quiet, 0.25), f"p99 {attacked * 1e3:.1f} ms under attack, {quiet * 1e3:.1f} ms without"
    finally:
        server.close()


def test_one_byte_frames_are_closed_with_1009_at_the_frame_cap(echo_server: Server) -> None:
    baseline = echo_server.reset_peak()
    with closing(upgrade(echo_server.port)) as sock:
        stream = masked_frame(0x2, b"x", fin=False) + masked_frame(0x0, b"x", fin=False) * 99_999
        try:
            sock.sendall(stream)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(0.5)
        assert read_close_code(sock, time.monotonic() + 10) == 1009
    assert echo_server.status("VmHWM") - baseline < 8 * MIB
    assert measure_good_client(echo_server.port, 0.3) < 0.5


def test_one_byte_frames_within_the_limits_are_joined_as_they_come(loop_kind: str, api: str) -> None:
    """With the frame cap lifted, 300,000 one-byte frames make one 300,000-byte message: memory is
    what the message holds, not an object per frame, and the echo comes back whole."""
    server = Server(loop_kind, "--max-fragments", "none", api=api)
    try:
        baseline = server.reset_peak()
        count = 300_000
        with closing(upgrade(server.port, timeout=60)) as sock:
            sock.sendall(masked_frame(0x2, b"x", fin=False) + masked_frame(0x0, b"x", fin=False) * (count - 2)
                         + masked_frame(0x0, b"x"))  # fmt: skip
            expected = 2 + 8 + count
            data = b""
            while len(data) < expected:
                chunk = sock.recv(65536)
                assert chunk
                data += chunk
        assert data[10:] == b"x" * count
        # the wire alone is 2 MiB, read 256 KiB at a time; an object per frame would be 30 MiB more
        assert server.status("VmHWM") - baseline < 12 * MIB
    finally:
        server.close()


def test_a_ping_flood_from_a_peer_that_never_reads(echo_server: Server, api: str) -> None:
    """Pings answered only as fast as the peer reads: while the write buffer is full, only the
    latest pong waits (RFC 6455 §5.5.3), so memory stays flat however many pings come. The await
    API reads on; a callback handler, by default, stops reading while it cannot write."""
    baseline = echo_server.reset_peak()
    with closing(upgrade(echo_server.port)) as sock:
        pings = masked_frame(0x9, b"p" * 125) * 2000
        sent = 0
        sock.settimeout(5)
        try:
            while sent < 100 * MIB:  # 800,000 pings, 100 MiB of pongs owed
                sock.sendall(pings)
                sent += len(pings)
        except socket.timeout:
            assert api == "callback", f"the server stopped reading after {sent} bytes of pings"
        assert echo_server.status("VmHWM") - baseline < 8 * MIB
        assert measure_good_client(echo_server.port, 0.3) < 0.5


def test_a_handler_that_never_reads_pauses_reading_inside_a_message(loop_kind: str, api: str) -> None:
    """Fragmented messages to a handler that never reads: reading pauses once max_queue messages
    wait, even in the middle of the next one, so the attacker's writes stall and memory stays flat."""
    server = Server(loop_kind, "--handler", "ignore", api=api)
    try:
        baseline = server.reset_peak()
        with closing(upgrade(server.port)) as sock:
            sock.settimeout(2)
            message = masked_frame(0x2, b"m" * 1000, fin=False) + masked_frame(0x0, b"m" * 1000, fin=False) * 60 \
                + masked_frame(0x0, b"m" * 1000)
            sent = 0
            with pytest.raises(socket.timeout):
                while sent < 200 * MIB:
                    sock.sendall(message)
                    sent += len(message)
            assert sent < 64 * MIB, f"{sent} bytes went in before reading paused"
            assert server.status("VmHWM") - baseline < 16 * MIB
            upgrade(server.port).close()  # the server still answers others
    finally:
        server.close()
