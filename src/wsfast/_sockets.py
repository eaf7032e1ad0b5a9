"""What both clients share about the sockets they open."""

from __future__ import annotations

__all__ = ["naming"]


def naming(error: OSError, path: str) -> OSError:
    """``error`` from connecting to the Unix socket ``path``, with the path in its message (the
    system's error gives none: "[Errno 2] No such file or directory")."""
    if error.filename is None and error.errno is not None:
        return type(error)(error.errno, error.strerror, path)
    return error
