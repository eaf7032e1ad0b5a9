"""wsfast: a fast, strictly correct WebSocket library (RFC 6455, RFC 7692)."""

from typing import TYPE_CHECKING

from . import exceptions
from .exceptions import *  # noqa: F403 - every exception, named in __all__ below
from .kernels import Utf8Validator, mask, mask_into, validate_utf8
from .version import __version__

if TYPE_CHECKING:  # what type checkers see; at run time the asyncio layer comes on first use
    from .asyncio import broadcast, connect, serve

__all__ = [
    "__version__",
    "broadcast",
    "connect",
    "serve",
    "mask",
    "mask_into",
    "validate_utf8",
    "Utf8Validator",
]
__all__ += exceptions.__all__  # every exception, as websockets has them at its top level


def __getattr__(name: str) -> object:
    # The asyncio layer is imported on first use, so the codec alone does not pay for asyncio.
    if name in ("broadcast", "connect", "serve"):
        from . import asyncio as wsfast_asyncio

        return getattr(wsfast_asyncio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
