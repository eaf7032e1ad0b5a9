"""Helpers shared by the sync test modules: a sync server in a thread, and its URI."""

from __future__ import annotations

import threading

from wsfast.sync.server import serve


def echo(ws) -> None:
    for message in ws:
        ws.send(message)


class running:
    """A sync server serving in a thread for the length of a ``with``."""

    def __init__(self, handler=echo, **options) -> None:
        self.server = serve(handler, "127.0.0.1", 0, **options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.server

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.thread.join(10)
        assert not self.thread.is_alive()


def uri(server) -> str:
    return f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
