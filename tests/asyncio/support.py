"""Helpers shared by the asyncio test modules (and the sync ones that talk to an asyncio peer):
servers, clients and raw exchanges over 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import wsfast
from wsfast.asyncio import Hub
from wsfast.asyncio.connection import Connection
from wsfast.client import ClientConnection
from wsfast.frames import Opcode, encode_frame
from wsfast.handshake import Response
from wsfast.headers import Headers


async def echo(ws: Connection) -> None:
    async for message in ws:
        await ws.send(message)


def port_of(server: wsfast.asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass  # the server dropped us first


async def raw_exchange(uri_port: int, data: bytes, read_timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", uri_port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        await close_writer(writer)


@contextlib.asynccontextmanager
async def a_peer_that_never_reads(port: int, size: int) -> AsyncIterator[tuple[bool, int]]:
    """A raw WebSocket client of the server on ``port`` that sends masked binary messages of ``size``
    bytes, four at a time, and never reads, until a send stalls for a second or 200 MB went out.
    Yields whether it stalled and the bytes sent, the connection still open; aborts it on exit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(ClientConnection(f"ws://127.0.0.1:{port}/", extensions=[]).data_to_send())
        await reader.readuntil(b"\r\n\r\n")
        frames = encode_frame(Opcode.BINARY, b"x" * size, mask=True) * 4
        sent, stalled = 0, False
        while sent < 200_000_000:
            writer.write(frames)
            sent += len(frames)
            try:
                await asyncio.wait_for(writer.drain(), 1.0)
            except asyncio.TimeoutError:  # the builtin only from Python 3.11 on
                stalled = True
                break
        yield stalled, sent
    finally:
        writer.transport.abort()


def uri_of(server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def open_clients(server, count: int, **options) -> list:
    clients = [await wsfast.connect(uri_of(server), **options) for _ in range(count)]
    while len(server.connections) < count:  # the server side of each is registered
        await asyncio.sleep(0.01)
    return clients


def server_side(server, client):
    """The server's connection that talks to ``client``."""
    [connection] = [c for c in server.connections if c.remote_address == client.local_address]
    return connection


async def hub_server(hub: Hub, **options):
    """A server whose clients subscribe by sending a topic name."""

    async def subscriber(ws):
        async for topic in ws:
            hub.subscribe(ws, topic)
            await ws.send(f"subscribed to {topic}")

    return await wsfast.serve(subscriber, "127.0.0.1", 0, **options)


@contextlib.asynccontextmanager
async def hub_process(backend, clients: int) -> AsyncIterator:
    """One "process" of a hub with ``backend``: the hub, its server, and ``clients`` clients of it."""
    async with Hub(backend=backend) as hub:
        server = await hub_server(hub, compression=None)
        async with server:
            connected = await open_clients(server, clients, compression=None)
            try:
                yield hub, server, connected
            finally:
                for client in connected:
                    await client.close()


async def subscribe(client, topic: str) -> None:
    await client.send(topic)
    assert await asyncio.wait_for(client.recv(), 5) == f"subscribed to {topic}"


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, "Found", Headers([("Location", location)]))
