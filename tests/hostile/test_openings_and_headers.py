"""Hostile openings and frame headers against ``serve()`` in a child process: slowloris, header
floods, an over-long request line, giant frame lengths, a decompression bomb, and thousands of
resets mid-handshake and mid-frame. Each asserts the answer (HTTP status or close code), a bound
on the server's peak memory, and that a good client is served afterwards or meanwhile."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
import zlib
from contextlib import closing

import pytest

from tests.hostile.attack import MIB, Server, masked_frame, measure_good_client, read_close_code, upgrade

pytestmark = [pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the server's memory from /proc"),
              pytest.mark.needs_quiet_machine]

REQUEST_START = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def http_status(sock: socket.socket, timeout: float = 5.0) -> int | None:
    """The status code of the server's answer; None if it closed without one."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_slowloris_connections_are_dropped_at_the_open_timeout(loop_kind: str, api: str) -> None:
    server = Server(loop_kind, "--open-timeout", "1", api=api)
    try:
        baseline = server.reset_peak()
        sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(200)]
        try:
            for sock in sockets:
                sock.sendall(REQUEST_START)
            started = time.monotonic()
            open_ = set(sockets)
            while open_ and time.monotonic() - started < 4:
                for sock in list(open_):  # a byte now and then, never the blank line
                    try:
                        sock.sendall(b"X")
                    except OSError:
                        open_.discard(sock)
                readable, _, _ = select.select(list(open_), [], [], 0.2)
                for sock in readable:
                    try:
                        if sock.recv(1) == b"":
                            open_.discard(sock)
                    except OSError:
                        open_.discard(sock)
            # every one was dropped within the open timeout (1 s), with room for a slow machine
            assert not open_, f"{len(open_)} of 200 slow openings still open after 4 s"
        finally:
            for sock in sockets:
                sock.close()
        assert server.status("VmHWM") - baseline < 16 * MIB
        assert measure_good_client(server.port, 0.3) < 0.5
    finally:
        server.close()


def test_a_header_flood_is_answered_431_at_once(echo_server: Server) -> None:
    baseline = echo_server.reset_peak()
    with closing(socket.create_connection(("127.0.0.1", echo_server.port), timeout=5)) as sock:
        sock.sendall(REQUEST_START)
        try:
            for _ in range(100):  # up to 1 MiB of headers, unless the answer stops it first
                sock.sendall(b"X-Flood: " + b"a" * 10000 + b"\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert http_status(sock) == 431
    assert echo_server.status("VmHWM") - baseline < 8 * MIB
    assert measure_good_client(echo_server.port, 0.3) < 0.5


def test_an_over_long_request_line_is_answered_414(echo_server: Server) -> None:
    with closing(socket.create_connection(("127.0.0.1", echo_server.port), timeout=5)) as sock:
        try:
            sock.sendall(b"GET /" + b"a" * 100_000)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert http_status(sock) == 414
    assert measure_good_client(echo_server.port, 0.3) < 0.5


@pytest.mark.parametrize(("length", "code"), [((1 << 63) - 1, 1009), (1 << 20 | 1, 1009), (1 << 63, 1002)])
def test_giant_lengths_fail_at_the_header(echo_server: Server, length: int, code: int) -> None:
    baseline = echo_server.reset_peak()
    with closing(upgrade(echo_server.port)) as sock:
        sock.sendall(b"\x82\xff" + struct.pack("!Q", length) + b"\x00\x00\x00\x00" + b"x" * 1000)
        assert read_close_code(sock, time.monotonic() + 5) == code
    assert echo_server.status("VmHWM") - baseline < 4 * MIB


def test_a_decompression_bomb_is_closed_with_1009(loop_kind: str, api: str) -> None:
    """1 GiB of zeros in about 1 MB of DEFLATE: the server stops inflating at the message limit."""
    server = Server(loop_kind, "--compression", "deflate", api=api)
    try:
        baseline = server.reset_peak()
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = compressor.compress(bytes(1 << 20))
        payload = chunk + b"".join(compressor.compress(bytes(1 << 20)) for _ in range(1023))
        payload += compressor.flush(zlib.Z_SYNC_FLUSH)
        payload = payload.removesuffix(b"\x00\x00\xff\xff")
        assert len(payload) < 2 * MIB
        with closing(upgrade(server.port, extra_headers=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")) as sock:
            frame = bytearray(masked_frame(0x2, payload))
            frame[0] |= 0x40  # RSV1: a compressed message
            try:
                sock.sendall(frame)
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert read_close_code(sock, time.monotonic() + 10) == 1009
        assert server.status("VmHWM") - baseline < 24 * MIB
        assert measure_good_client(server.port, 0.3) < 0.5
    finally:
        server.close()


def test_thousands_of_resets_mid_handshake_and_mid_frame_leave_nothing_behind(echo_server: Server) -> None:
    def reset(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        sock.close()

    for _ in range(200):  # warm up: the server's pools and caches reach their working size
        reset(upgrade(echo_server.port))
    time.sleep(0.3)
    before = echo_server.status("VmRSS")
    for index in range(2000):
        if index % 2:
            sock = socket.create_connection(("127.0.0.1", echo_server.port), timeout=5)
            sock.sendall(REQUEST_START + b"Upgrade: websocket\r\n")  # half a request
        else:
            sock = upgrade(echo_server.port)
            sock.sendall(masked_frame(0x2, b"x" * 5000)[:3000])  # half a frame
        reset(sock)
    time.sleep(0.5)
    assert echo_server.status("VmRSS") - before < 4 * MIB
    assert measure_good_client(echo_server.port, 0.3) < 0.5
