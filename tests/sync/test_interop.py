"""The sync API against websockets' own sync client and server (websockets.sync), with and without
permessage-deflate: text and binary messages, a fragmented one, and the closing handshake's code."""

from __future__ import annotations

import threading

import pytest

from tests.sync.support import running, uri
from wsfast.sync.client import connect

websockets_client = pytest.importorskip("websockets.sync.client")
websockets_server = pytest.importorskip("websockets.sync.server")

MESSAGES = ["κόσμε", b"\x00\xff" * 5000, "x" * 100_000, b""]
FRAGMENTS = ["one ", "message, ", "three frames"]


def exchange(ws, compression: str | None) -> None:
    """Through a client of either library: the extension as asked, and every message echoed."""
    assert bool(ws.protocol.extensions) == (compression is not None)
    for message in MESSAGES:
        ws.send(message)
        assert ws.recv(timeout=10) == message
    ws.send(FRAGMENTS)
    assert ws.recv(timeout=10) == "".join(FRAGMENTS)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_sync_client_against_wsfast_sync_server(compression):
    with running(compression=compression) as server:
        with websockets_client.connect(uri(server), compression=compression, max_size=2**20) as ws:
            exchange(ws, compression)
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000


@pytest.mark.parametrize("compression", ["deflate", None])
def test_wsfast_sync_client_against_websockets_sync_server(compression):
    def echo(ws):
        for message in ws:
            ws.send(message)

    with websockets_server.serve(echo, "127.0.0.1", 0, compression=compression, max_size=2**20) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with connect(uri(server), compression=compression, open_timeout=10) as ws:
                exchange(ws, compression)
            assert ws.protocol.close_code == 1000
        finally:
            server.shutdown()
            thread.join(10)
