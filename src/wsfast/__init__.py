"""wsfast: a fast, strictly correct WebSocket library (RFC 6455, RFC 7692)."""

from .exceptions import InvalidHTTP, ProtocolError, WsfastError
from .kernels import Utf8Validator, mask, mask_into, validate_utf8

__all__ = [
    "__version__",
    "mask",
    "mask_into",
    "validate_utf8",
    "Utf8Validator",
    "WsfastError",
    "ProtocolError",
    "InvalidHTTP",
]

__version__ = "0.1.0.dev0"
