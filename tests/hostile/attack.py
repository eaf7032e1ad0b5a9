"""What every hostile-input test uses: hand-built frames, a raw upgrade, the server in a child
process with its memory readable from /proc, and a well-behaved client that measures its echoes."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
KEY = b"\x0f\x1e\x2d\x3c"
MIB = 1 << 20


def masked_frame(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """A client frame, built here by hand rather than by the library under attack."""
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + KEY + bytes(byte ^ KEY[index % 4] for index, byte in enumerate(payload))


def upgrade(port: int, timeout: float = 5.0, extra_headers: bytes = b"") -> socket.socket:
    """A connected socket past a successful opening handshake (``extra_headers``: CRLF-ended lines)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 + extra_headers + b"\r\n")  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_close_code(sock: socket.socket, deadline: float) -> int | None:
    """Read server frames until a close frame; its code (None if the connection ended without one)."""
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:  # reset, or closed by the test
            break
        if not chunk:
            break
        data += chunk
        while len(data) >= 2:
            length = data[1] & 0x7F
            start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if len(data) < start:
                break
            if length >= 126:
                length = int.from_bytes(data[2:start], "big")
            if len(data) < start + length:
                break
            if data[0] & 0x0F == 0x8:
                return int.from_bytes(data[start : start + 2], "big") if length >= 2 else 1005
            data = data[start + length :]
    return None


class Server:
    """serve.py in a child process, with its memory readable."""

    def __init__(self, loop: str, *options: str, api: str = "await") -> None:
        self.process = subprocess.Popen([sys.executable, str(HERE / "serve.py"), "--loop", loop, "--api", api, *options],
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip
        self.port = int(self.process.stdout.readline())  # type: ignore[union-attr]

    def status(self, field: str) -> int:
        """A VmRSS/VmHWM-style field of /proc/PID/status, in bytes."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc status")

    def reset_peak(self) -> int:
        """Start measuring the peak afresh (Linux: writing 5 to clear_refs); returns the RSS now."""
        with open(f"/proc/{self.process.pid}/clear_refs", "w") as clear:
            clear.write("5")
        return self.status("VmRSS")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()  # type: ignore[union-attr]


class GoodClient(threading.Thread):
    """Echoes 256-byte messages one after the other and records each round trip."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = upgrade(port)
        self.round_trips: list[float] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def echo_once(self) -> float:
        started = time.perf_counter()
        self.sock.sendall(masked_frame(0x2, b"g" * 256))
        expected = 2 + 2 + 256  # unmasked, 16-bit length
        data = b""
        while len(data) < expected:
            chunk = self.sock.recv(expected - len(data))
            assert chunk, "the good client's connection was closed"
            data += chunk
        assert data[4:] == b"g" * 256
        return time.perf_counter() - started

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.round_trips.append(self.echo_once())
                time.sleep(0.002)
        except BaseException as error:  # reported by the test
            self.error = error

    def p99(self) -> float:
        assert self.error is None, self.error
        assert len(self.round_trips) >= 20, f"only {len(self.round_trips)} round trips"
        return statistics.quantiles(self.round_trips, n=100)[98]


def measure_good_client(port: int, seconds: float) -> float:
    client = GoodClient(port)
    client.start()
    time.sleep(seconds)
    # A loaded machine (CI beside other work) may need longer. With 100 round trips or more, the
    # p99 is not the single slowest one: one scheduling stall of the whole machine does not decide it.
    deadline = time.monotonic() + 5
    while len(client.round_trips) < 100 and client.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop.set()
    client.join(10)
    client.sock.close()
    return client.p99()
