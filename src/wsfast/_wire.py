"""The wire types of RFC 6455 §5, on the ground floor: opcodes, close codes, the Frame value, close
payloads and frame headers. They import nothing of wsfast's but its exceptions, so that both codecs
(``_frames_py.py`` and the C kernels) can build on them; ``wsfast.frames`` is their public face,
with the codec beside them.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .exceptions import InvalidPayload, ProtocolError

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "MAX_CONTROL_PAYLOAD",
    "is_valid_close_code",
    "parse_close",
    "serialize_close",
    "frame_header",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})

#: Control frames carry at most this many payload bytes (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD = 125


class CloseCode(enum.IntEnum):
    """Close codes (RFC 6455 §7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never sent: no code in the close frame
    ABNORMAL_CLOSURE = 1006  # never sent: the connection dropped
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never sent


class Frame(NamedTuple):
    """One WebSocket frame. ``payload`` is unmasked; masking is a matter of the wire format."""

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False


# Codes that may appear in a close frame: the assigned ones above except those "never sent", and
# the ranges for libraries (3000-3999) and applications (4000-4999).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_close_code(code: int) -> bool:
    """True if ``code`` may be sent in a close frame (RFC 6455 §7.4)."""
    return code in _SENDABLE or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a close frame's payload; (1005, "") for an empty payload.

    Raises:
        ProtocolError: a 1-byte payload, or a code that may not be sent (close code 1002).
        InvalidPayload: a reason that is not UTF-8 (close code 1007).
    """
    if not payload:
        return CloseCode.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("close reason is not valid UTF-8") from None
    return code, reason


def serialize_close(code: int, reason: str = "") -> bytes:
    """The payload of a close frame with ``code`` and ``reason``.

    Raises:
        ValueError: ``code`` may not be sent, or the payload would exceed 125 bytes.
    """
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    payload = code.to_bytes(2, "big") + reason.encode("utf-8")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"close reason is too long: {len(payload) - 2} bytes, at most 123")
    return payload


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, rsv2: bool = False,
                 rsv3: bool = False, masked: bool = False) -> bytes:  # fmt: skip
    """The first bytes of a frame (RFC 6455 §5.2) up to its payload length; the 4-byte masking key,
    when ``masked``, follows them. ``frame_header(...) + payload`` is the unmasked frame, so a large
    payload can go out behind its header without being copied into one frame object.

    Raises:
        ValueError: ``opcode`` is not 0-15, or ``length`` is negative or 2^63 or more.
    """
    if not 0 <= opcode <= 15:
        raise ValueError(f"opcode must be 0-15, not {opcode}")
    if not 0 <= length < 1 << 63:
        raise ValueError(f"invalid payload length: {length}")
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")

