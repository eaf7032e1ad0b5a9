"""Masking keys (RFC 6455 §10.3: unpredictable, from a strong source), cheaply.

One ``os.urandom`` call per 1024 keys instead of one per frame, which dominated the cost of
sending a small masked frame. The pool is dropped in a child process after ``fork``, so parent
and child never share keys.
"""

from __future__ import annotations

import os

__all__ = ["mask_key"]

_POOL_SIZE = 4096
_pool = b""
_position = 0


def mask_key() -> bytes:
    """4 fresh random bytes."""
    global _pool, _position
    if _position >= len(_pool):
        _pool = os.urandom(_POOL_SIZE)
        _position = 0
    key = _pool[_position : _position + 4]
    _position += 4
    return key


def _forget_pool() -> None:
    global _pool, _position
    _pool, _position = b"", 0


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_pool)
