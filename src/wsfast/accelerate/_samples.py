"""Short frame streams for the checks some libraries' replacements make of themselves at install
time: the same chunks go through the patched and the original code, which must answer alike."""

from __future__ import annotations

from ..kernels import encode_frame

__all__ = ["frame", "sample_streams"]

_KEY = b"\x37\xfa\x21\x3d"


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = False) -> bytes:
    """One frame on the wire, any opcode and RSV bits (4: RSV1, 2: RSV2, 1: RSV3), masked with a fixed key."""
    return encode_frame(opcode, payload, fin=fin, rsv1=bool(rsv & 4), rsv2=bool(rsv & 2), rsv3=bool(rsv & 1),
                        mask=_KEY if masked else False)  # fmt: skip


def sample_streams(masked: bool) -> list[list[bytes]]:
    """Streams as chunks (an empty chunk stands for EOF where the library has one): whole and split
    frames, a fragmented message around a ping, a close, then a frame over 200 bytes, invalid
    UTF-8, a reserved bit, an undefined opcode, and a frame cut short."""
    text = frame(1, "h\u00e9llo".encode(), masked=masked)
    parts = frame(2, b"ab", fin=False, masked=masked) + frame(9, b"p", masked=masked) + frame(0, b"cd", masked=masked)
    close = frame(8, b"\x03\xe8bye", masked=masked)
    large = frame(1, b"x" * 300, masked=masked)
    return [
        [text + parts[:5], parts[5:] + close, frame(1, b"after", masked=masked)],
        [large[:7], large[7:]],
        [frame(1, b"\xff", masked=masked)],
        [frame(2, b"z", rsv=2, masked=masked)],
        [frame(3, b"", masked=masked)],
        [frame(2, b"partial", masked=masked)[:-2], b""],
    ]
