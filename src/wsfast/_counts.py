"""Counts of the events a flood could make many of (drops, garbage, losses): each one counted, each
kind logged at most once a second, so that a flood does not flood the log too."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

__all__ = ["Counts"]


class Counts:
    """Named counters, and a warning logged for a kind at most once a second.

    Args:
        names: the counters, each starting at 0.
        logger: where the warnings go.
    """

    __slots__ = ("values", "_logger", "_logged_at")

    def __init__(self, names: Iterable[str], logger: logging.Logger) -> None:
        #: The counts, by name: read them, or add to one that is not worth a warning.
        self.values = dict.fromkeys(names, 0)
        self._logger = logger
        self._logged_at: dict[str, float] = {}

    def add(self, name: str, warning: str, count: int = 1) -> None:
        """Add ``count`` to ``name``, and log ``warning`` with the total unless that kind was
        logged less than a second ago.

        Raises:
            KeyError: ``name`` is not one of the counters.
        """
        self.values[name] += count
        now = time.monotonic()
        if now - self._logged_at.get(name, -1.0) >= 1.0:
            self._logged_at[name] = now
            self._logger.warning("%s (%s: %d so far)", warning, name, self.values[name])

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts."""
        return dict(self.values)
