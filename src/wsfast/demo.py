"""A short tour of wsfast: the kernels in use, checked on the RFC's examples, and timed against
their pure-Python twins.

Run it with ``python -m wsfast demo``. Until the asyncio layer lands, this is the kernels' demo.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from . import _kernels_py, kernels

__all__ = ["run"]

MIXED_TEXT = "Hello κόσμε Привет мир 日本語のテキスト 한국어 😀🎉 ".encode()

RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _best_time(function: Callable[[], Any], budget: float = 0.15) -> float:
    """Seconds per call: the best of several timed batches, within about ``budget`` seconds."""
    calls = 1
    while True:  # grow the batch until it takes a measurable time
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed > budget / 10 or calls >= 1 << 20:
            break
        calls *= 4
    best = elapsed / calls
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def _rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e9:7.2f} GB/s" if size >= 1024 else f"{seconds * 1e9:7.0f} ns/call"


def run(out: TextIO) -> int:
    """Print the tour to ``out``; returns the process exit status."""
    write = out.write
    write(f"wsfast kernels: implementation={kernels.IMPLEMENTATION} simd={kernels.SIMD} ")
    write(f"available={','.join(kernels.available_simd()) or '-'}\n\n")

    write("RFC 6455 examples\n")
    key = bytes.fromhex("37fa213d")
    masked = kernels.mask(b"Hello", key)
    write(f"  mask(b'Hello', 37fa213d)            -> {masked.hex(' ')}   (RFC 6455 §5.7: 7f 9f 4d 51 58)\n")
    header = kernels.parse_frame_header(b"\x81\x85" + key + masked)
    assert header is not None
    write(f"  parse_frame_header(81 85 ...)       -> fin={header[0]} opcode={header[4]} masked={header[5]} "
          f"length={header[6]}\n")  # fmt: skip
    head = kernels.parse_http_head(RFC_REQUEST)
    assert head is not None
    write(f"  parse_http_head(RFC 6455 §1.3)      -> {' '.join(head[0])}, {len(head[1])} headers, "
          f"{head[2]} bytes\n")  # fmt: skip
    validator = kernels.Utf8Validator()
    verdicts = [validator.feed(b"caf\xc3"), validator.feed(b"\xa9 ok"), validator.feed(b"\xed\xa0\x80")]
    write(f"  Utf8Validator fed 'caf\\xc3', '\\xa9 ok', '\\xed\\xa0\\x80' -> {verdicts}, "
          f"error at byte {validator.error_offset}\n\n")  # fmt: skip

    write(f"Speed against the pure-Python twins ({kernels.IMPLEMENTATION} kernels)\n")
    write(f"  {'kernel':<34}{'wsfast':>16}{'pure Python':>16}{'speed-up':>10}\n")
    cases = [
        ("mask, 125 B", 125, "mask", (bytes(125), key)),
        ("mask, 1 MiB", 1 << 20, "mask", (bytes(1 << 20), key)),
        ("validate_utf8, 16 B ASCII", 16, "validate_utf8", (b"a" * 16,)),
        ("validate_utf8, 64 KiB mixed text", 65536, "validate_utf8", ((MIXED_TEXT * 1000)[:65536],)),
    ]
    for label, size, name, arguments in cases:
        fast_function, slow_function = getattr(kernels, name), getattr(_kernels_py, name)
        fast = _best_time(lambda: fast_function(*arguments))
        slow = _best_time(lambda: slow_function(*arguments))
        write(f"  {label:<34}{_rate(size, fast):>16}{_rate(size, slow):>16}{slow / fast:>9.1f}x\n")
    if kernels.IMPLEMENTATION == "python":
        write("\n  (the C kernels are not in use here, so both columns run the same Python code)\n")
    return 0
