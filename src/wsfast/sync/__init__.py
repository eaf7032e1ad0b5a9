"""wsfast with threads: ``wsfast.sync.client.connect`` and ``wsfast.sync.server.serve``, websockets'
``websockets.sync`` names, on the same sans-IO core and kernels as the asyncio API."""

from .client import connect
from .connection import Connection
from .server import Server, serve

__all__ = ["connect", "serve", "Connection", "Server"]
