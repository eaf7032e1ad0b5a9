"""wsfast on asyncio: ``serve`` and ``connect``, built on ``asyncio.Protocol`` and the sans-IO core."""

from .fanout import Hub, broadcast
from .client import connect
from .connection import Connection
from .server import Server, serve

__all__ = ["broadcast", "connect", "serve", "Connection", "Hub", "Server"]
