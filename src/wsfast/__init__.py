"""wsfast: a fast, strictly correct WebSocket library (RFC 6455, RFC 7692)."""

from typing import TYPE_CHECKING

from .exceptions import InvalidHTTP, ProtocolError, WsfastError
from .kernels import Utf8Validator, mask, mask_into, validate_utf8

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
    "WsfastError",
    "ProtocolError",
    "InvalidHTTP",
]

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> object:
    # The asyncio layer is imported on first use, so the codec alone does not pay for asyncio.
    if name in ("broadcast", "connect", "serve"):
        from . import asyncio as wsfast_asyncio

        return getattr(wsfast_asyncio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
