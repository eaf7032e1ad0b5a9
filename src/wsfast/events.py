"""What a connection reports to its user: frozen, slotted dataclasses, one per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Event",
    "TextMessage",
    "BinaryMessage",
    "TextFragment",
    "BinaryFragment",
    "Ping",
    "Pong",
    "Close",
]


@dataclass(frozen=True, slots=True)
class Event:
    """The base of every event."""


@dataclass(frozen=True, slots=True)
class TextMessage(Event):
    """A complete text message, validated as UTF-8: decoded, or its bytes when the connection
    was made with ``decode_text=False``."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class BinaryMessage(Event):
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class TextFragment(Event):
    """Part of a text message, as it arrives (only when fragments are streamed).

    ``data`` holds whole characters: a character split across frames is delivered with the fragment
    that completes it; with ``decode_text=False`` it is the frame's bytes as they came.
    ``final`` is True on the message's last fragment.
    """

    data: str | bytes
    final: bool


@dataclass(frozen=True, slots=True)
class BinaryFragment(Event):
    """Part of a binary message, as it arrives (only when fragments are streamed)."""

    data: bytes
    final: bool


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """A ping from the peer (answered automatically unless ``auto_pong`` is off)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """A pong from the peer."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close(Event):
    """The peer's close frame: its code (1005 when it gave none) and reason."""

    code: int
    reason: str
