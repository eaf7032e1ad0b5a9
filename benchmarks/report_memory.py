#!/usr/bin/env python3
"""Memory per idle connection: wsfast against websockets and aiohttp, each an echo server in a
process of its own, measured from outside.

    python benchmarks/report_memory.py [--connections 5000] [--output benchmarks/RESULTS-memory.md]

For every server and setting (``_memory_servers.py``): open and close 200 connections (so the
process's pools and the allocator reach their working state), read the server's RSS, open N
connections from this process with a hand-written client and leave them idle, read the RSS again;
the difference over N is the cost of one idle connection. Settings:

- plain: no compression, over TCP and over TLS (a trustme certificate, TLS 1.3);
- deflate, idle: permessage-deflate agreed in the handshake, no message yet;
- deflate, after one message: each connection then sends one compressed 1 KB JSON-like text
  message and reads its (compressed) echo, and goes idle;
- the same two with wsfast's low-memory setting (``permessage_deflate.LOW_MEMORY``).

wsfast runs twice with compression: as installed (the standard library's zlib compresses) and
with ``WSFAST_ZLIB=zlib-ng`` (zlib-ng compresses too).

The client offers ``permessage-deflate; client_max_window_bits`` and compresses with a 512-byte
window, which every server's answer allows. Keepalive pings are off on every server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "_memory_servers.py"
KEY = b"\x01\x02\x03\x04"
REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")  # fmt: skip
OFFER = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
MESSAGE = json.dumps([{"id": index, "symbol": "ABC", "bid": 101.25 + index, "ask": 101.5 + index, "size": 300}
                      for index in range(15)]).encode()  # fmt: skip

#: wsfast-zlib-ng is wsfast with WSFAST_ZLIB=zlib-ng: zlib-ng compresses too, not only decompresses
IMPLS = ("wsfast", "wsfast-zlib-ng", "websockets", "aiohttp")
# (server, setting, TLS, one compressed message exchanged)
CELLS = [
    (impl, setting, tls, exchange)
    for setting, tls, exchange in [("plain", False, False), ("plain", True, False), ("deflate", False, False),
                                   ("deflate", False, True), ("deflate-low", False, False), ("deflate-low", False, True)]
    for impl in IMPLS
    if (impl.startswith("wsfast") or setting != "deflate-low") and (impl != "wsfast-zlib-ng" or setting != "plain")
]


def masked_frame(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    length = len(payload)
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    header = bytes((first, 0x80 | length)) if length < 126 else bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    return header + KEY + bytes(byte ^ KEY[index % 4] for index, byte in enumerate(payload))


def compressed_message() -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -9)
    payload = (compressor.compress(MESSAGE) + compressor.flush(zlib.Z_SYNC_FLUSH)).removesuffix(b"\x00\x00\xff\xff")
    return masked_frame(0x1, payload, rsv1=True)


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {data!r}")
        data += chunk
    if not data.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(data.decode("latin-1"))
    return data


def read_frame(sock: socket.socket) -> None:
    """Read one server frame of less than 64 KiB."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the echo")
        data += chunk
        if len(data) < 4:
            continue
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4], "big"), 4
        if len(data) >= start + length:
            return


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_connections(port: int, count: int, tls: ssl.SSLContext | None, deflate: bool, exchange: bool) -> list:
    sockets = []
    frame = compressed_message()
    for _ in range(count):
        sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(REQUEST + (OFFER if deflate else b"") + b"\r\n")
        head = read_head(sock)
        if deflate and b"permessage-deflate" not in head.lower():
            raise RuntimeError("the server did not agree to permessage-deflate")
        if exchange:
            sock.sendall(frame)
            read_frame(sock)
        sockets.append(sock)
    return sockets


def measure(cell: tuple, count: int, certificate: tuple[str, str] | None, client_tls: ssl.SSLContext | None) -> float:
    impl, setting, tls, exchange = cell
    argv = [sys.executable, str(SERVERS), impl.removesuffix("-zlib-ng"), setting]
    if tls:
        argv += ["--certfile", certificate[0], "--keyfile", certificate[1]]  # type: ignore[index]
    env = dict(os.environ, WSFAST_ZLIB="zlib-ng") if impl == "wsfast-zlib-ng" else None
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        deflate = setting != "plain"
        context = client_tls if tls else None
        for sock in open_connections(port, 200, context, deflate, exchange):
            sock.close()
        time.sleep(0.5)
        before = rss(server.pid)
        sockets = open_connections(port, count, context, deflate, exchange)
        time.sleep(1.0)
        after = rss(server.pid)
        for sock in sockets:
            sock.close()
        return (after - before) / count / 1024
    finally:
        server.kill()
        server.wait()
        server.stdout.close()  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--output", type=Path)
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * arguments.connections)), hard))
    import trustme

    authority = trustme.CA()
    issued = authority.issue_cert("localhost")
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    with tempfile.TemporaryDirectory() as directory:
        certfile, keyfile = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        issued.cert_chain_pems[0].write_to_path(certfile)
        for blob in issued.cert_chain_pems[1:]:
            blob.write_to_path(certfile, append=True)
        issued.private_key_pem.write_to_path(keyfile)
        results = {}
        for cell in CELLS:
            results[cell] = measure(cell, arguments.connections, (certfile, keyfile), client_tls)
            print(f"{cell}: {results[cell]:.1f} KiB per connection", file=sys.stderr, flush=True)
    report = render(results, arguments.connections)
    print(report)
    if arguments.output:
        arguments.output.write_text(report)
    return 0


def render(results: dict, count: int) -> str:
    import wsfast
    from wsfast.kernels import IMPLEMENTATION

    def versions() -> str:
        from importlib.metadata import version

        return ", ".join(f"{name} {version(name)}" for name in ("websockets", "aiohttp"))

    rows = [("plain, TCP", "plain", False, False), ("plain, TLS", "plain", True, False),
            ("permessage-deflate, idle", "deflate", False, False),
            ("permessage-deflate, after one message", "deflate", False, True),
            ("low-memory deflate, idle", "deflate-low", False, False),
            ("low-memory deflate, after one message", "deflate-low", False, True)]  # fmt: skip
    lines = [
        "# Memory per idle connection",
        "",
        f"Made by `python benchmarks/report_memory.py --connections {count} --output benchmarks/RESULTS-memory.md`"
        f" with wsfast {wsfast.__version__} (kernels: {IMPLEMENTATION}), {versions()}, Python"
        f" {platform.python_version()}, on the stdlib event loop. Each figure is the server process's RSS"
        f" growth over {count:,} idle connections, divided by {count:,}, after 200 connections opened and"
        " closed first (see the script's docstring). Low-memory deflate is wsfast's"
        " `ServerPerMessageDeflateFactory(**LOW_MEMORY)`. By default wsfast compresses with the"
        " standard library's zlib (about 30 KiB a compressor at the 12-bit windows and memLevel 5 that"
        " `serve()` negotiates) and decompresses with zlib-ng where it is installed, as here; the"
        " second column has zlib-ng compress too (faster, but 140-220 KiB a compressor whatever the"
        " settings).",
        "",
        "| KiB per connection | wsfast | wsfast, `WSFAST_ZLIB=zlib-ng` | websockets | aiohttp |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, setting, tls, exchange in rows:
        cells = [results.get((impl, setting, tls, exchange)) for impl in IMPLS]
        lines.append(f"| {label} | " + " | ".join("" if value is None else f"{value:.1f}" for value in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
