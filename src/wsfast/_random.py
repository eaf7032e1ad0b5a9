"""Masking keys (RFC 6455 §10.3: unpredictable, from a strong source), cheaply.

One ``os.urandom`` call per 1024 keys instead of one per frame, which dominated the cost of
sending a small masked frame. The pool is dropped in a child process after ``fork``, so parent
and child never share keys.

Two threads must never draw the same key. On CPython 3.11 and later with the GIL, :func:`mask_key`
reads and advances the shared position with no call in between, where the interpreter never
switches threads. CPython 3.10 switches between any two instructions (measured: 40 duplicate keys
in 160,000 drawn by 8 threads) and a free-threaded interpreter runs them at once, so there each
thread draws from a pool of its own (about 170 ns more per key, which is why the others keep the
shared pool).
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["mask_key"]

_POOL_SIZE = 4096


class _Pool:
    """Random bytes and the position of the next key in them."""

    data = b""
    position = 0


class _ThreadPool(_Pool, threading.local):
    """A pool for each thread."""


def _draw(pool: _Pool) -> bytes:
    """4 fresh random bytes from ``pool``."""
    if pool.position >= len(pool.data):
        pool.data = os.urandom(_POOL_SIZE)
        pool.position = 0
    # no call from reading the position to advancing it: with the GIL (3.11+) no thread switch
    position = pool.position
    pool.position = position + 4
    return pool.data[position : position + 4]


_shared_pool = _Pool()
_thread_pool = _ThreadPool()


def _shared_mask_key() -> bytes:
    """4 fresh random bytes from the pool every thread shares."""
    return _draw(_shared_pool)


def _per_thread_mask_key() -> bytes:
    """4 fresh random bytes from the calling thread's pool."""
    return _draw(_thread_pool)

#: Whether one pool can serve every thread (see the module docstring): CPython 3.11+ with the GIL
#: (``sys._is_gil_enabled`` exists from 3.13 on and is False on a free-threaded interpreter).
SHARED_POOL_IS_SAFE = (
    sys.version_info >= (3, 11)
    and sys.implementation.name == "cpython"
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)

mask_key = _shared_mask_key if SHARED_POOL_IS_SAFE else _per_thread_mask_key
#: The pool ``mask_key`` draws from. The C encoder reads and advances it itself (a Python call per
#: key cost more than the rest of encoding a small frame), and calls ``mask_key`` to refill it.
key_pool: _Pool = _shared_pool if SHARED_POOL_IS_SAFE else _thread_pool


def use_shared_pool(pool: _Pool) -> None:
    """Make ``pool``, an object with the same two attributes (the C build's, which its encoder
    reads without lookups), the pool every thread shares, from now on; what the old one held goes
    over to it."""
    global _shared_pool, key_pool
    pool.data, pool.position = _shared_pool.data, _shared_pool.position
    _shared_pool = pool
    if SHARED_POOL_IS_SAFE:
        key_pool = pool


def _forget_pool() -> None:
    """Drop the pools: the next key in this process comes from a fresh ``os.urandom`` call.
    (After ``fork`` the child has one thread, the one that forked, whose pool this also drops.)"""
    for pool in (_shared_pool, _thread_pool):
        pool.data, pool.position = b"", 0


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_pool)
