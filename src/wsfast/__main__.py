"""The wsfast command line: ``python -m wsfast`` or ``wsfast``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from .exceptions import WsfastError
from .limits import MAX_FRAGMENTS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsfast", description="A fast, strictly correct WebSocket library.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="an echo server and a client in one process: what happens, how fast")

    echo = commands.add_parser("echo", help="run an echo server")
    _add_server_options(echo)

    serve = commands.add_parser(
        "serve", help="serve your application, in supervised worker processes with --workers N",
        epilog="The module is imported from the current directory too, in this process (so that a bad name fails "
               "at once) and in each worker. With --hub, the application makes its own hub, in the worker: "
               "functools.cache a function that returns Hub(backend=WorkersBackend()) "
               "(wsfast.asyncio.workers_hub; see the deployment docs).")  # fmt: skip
    serve.add_argument("application", metavar="MODULE:ATTRIBUTE",
                       help="an async def handler(connection); with --api callback, a wsfast.asyncio.callbacks.Handler "
                            "subclass")  # fmt: skip
    serve.add_argument("--hub", action="store_true",
                       help="link the workers' hubs: a publish in any worker reaches the subscribers of every worker "
                            "(supervised, even with one worker)")  # fmt: skip
    _add_server_options(serve)

    client = commands.add_parser("client", help="send stdin lines as messages, print what comes back")
    client.add_argument("uri")
    client.add_argument("--no-compression", action="store_true")

    bench = commands.add_parser(
        "bench", help="echo round trips against a server (its own by default)",
        epilog="With --fanout against a server of yours (URI), that server must subscribe every connection and, "
               "when one sends the text message 'publish M SIZE N', wait for N connections, then send each of "
               "them M binary messages of SIZE bytes whose first 8 are the publish time (CLOCK_MONOTONIC ns, "
               "big-endian: time.monotonic_ns() on the same machine), dropping none; "
               "wsfast.commands.serve_fanout is that server.")  # fmt: skip
    bench.add_argument("uri", nargs="?", help="a server to drive; default: start one on 127.0.0.1")
    bench.add_argument("-n", "--messages", type=int, help="echo: messages sent (20000); --fanout: published (100)")
    bench.add_argument("-s", "--size", type=int, default=256, help="message size in bytes")
    bench.add_argument("-c", "--concurrency", type=int, default=1)
    bench.add_argument("--compression", action="store_true", help="offer permessage-deflate")
    bench.add_argument("--connections", type=int, metavar="N",
                       help="instead of echoes: open N idle connections and print KiB per connection")
    bench.add_argument("--fanout", action="store_true",
                       help="with --connections N: N clients subscribe, the server publishes -n messages to them "
                            "all through its hub; print messages delivered/s and publish-to-receipt latency")
    _add_api_and_loop(bench)
    return parser


def _add_server_options(command: argparse.ArgumentParser) -> None:
    """echo's and serve's options: where, TLS, compression, limits, workers."""
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=8765)
    command.add_argument("--certfile", help="TLS certificate chain (PEM): serve wss://")
    command.add_argument("--keyfile", help="TLS private key (PEM), if not in the certificate file")
    command.add_argument("--no-compression", action="store_true", help="do not accept permessage-deflate")
    command.add_argument("--ping-interval", type=float, default=20.0, help="keepalive seconds; 0 for none")
    command.add_argument("--max-message-size", type=int, default=1 << 20, help="bytes; 0 for no limit")
    command.add_argument("--max-frame-size", type=int, default=None,
                         help="bytes; 0 for no limit (default: --max-message-size)")  # fmt: skip
    command.add_argument("--max-fragments", type=int, default=MAX_FRAGMENTS, help="frames per message; 0 for no limit")
    command.add_argument("--workers", type=int, default=1,
                         help="processes serving the port, supervised: one that dies is started again (default: 1, "
                              "this process)")  # fmt: skip
    command.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                         help="on SIGTERM, how long the connections have to close (1001) before the workers are "
                              "killed")  # fmt: skip
    _add_api_and_loop(command)


def _serve_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """serve_workers' options from echo's and serve's."""
    from .commands import tls_context

    options = dict(
        host=arguments.host, port=arguments.port, workers=arguments.workers, api=arguments.api, loop=arguments.loop,
        drain_timeout=arguments.drain_timeout, out=sys.stdout, ssl=tls_context(arguments.certfile, arguments.keyfile),
        compression=None if arguments.no_compression else "deflate", ping_interval=arguments.ping_interval or None,
        max_message_size=arguments.max_message_size or None, max_fragments=arguments.max_fragments or None,
        use_aiofastnet=arguments.aiofastnet,
    )  # fmt: skip
    if arguments.max_frame_size is not None:  # else serve's default: the message limit
        options["max_frame_size"] = arguments.max_frame_size or None
    return options


def _add_api_and_loop(command: argparse.ArgumentParser) -> None:
    command.add_argument("--api", choices=("await", "callback"), default="await",
                         help="the await API (recv/send coroutines) or the callback API (wsfast.asyncio.callbacks)")
    command.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the event loop")
    command.add_argument("--aiofastnet", action="store_true",
                         help="sockets on aiofastnet's transports instead of the loop's (use_aiofastnet=True)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "demo":
            from .demo import run

            return run(sys.stdout)
        from . import commands

        if arguments.command in ("echo", "serve"):
            if arguments.workers < 1 or arguments.drain_timeout < 0:
                print(f"wsfast {arguments.command}: --workers must be at least 1, --drain-timeout at least 0",
                      file=sys.stderr)  # fmt: skip
                return 2
            if arguments.command == "echo":
                return commands.serve_echo(**_serve_options(arguments))
            from .workers import serve_workers

            sys.path.insert(0, os.getcwd())  # the application's module may be here, as with uvicorn
            application = arguments.application
            return serve_workers(application, hub=arguments.hub, label=f"wsfast serve {application}",
                                 **_serve_options(arguments))  # fmt: skip
        if arguments.command == "client":
            return commands.run(commands.run_client(arguments.uri,
                                                   compression=None if arguments.no_compression else "deflate"))
        compression = "deflate" if arguments.compression else None
        progress = sys.stderr if sys.stderr.isatty() else None
        if arguments.fanout:
            if arguments.connections is None or arguments.connections < 1:
                print("wsfast bench: --fanout needs --connections N, N at least 1", file=sys.stderr)
                return 2
            messages = 100 if arguments.messages is None else arguments.messages
            if messages < 1:
                print("wsfast bench: --messages must be at least 1", file=sys.stderr)
                return 2
            commands.raise_open_file_limit(arguments.connections)
            print(commands.run(commands.run_fanout_bench(
                arguments.uri, connections=arguments.connections, messages=messages, size=arguments.size,
                compression=compression, api=arguments.api, use_aiofastnet=arguments.aiofastnet, progress=progress,
            ), arguments.loop).summary())  # fmt: skip
            return 0
        if arguments.connections is not None:
            if arguments.connections < 1:
                print("wsfast bench: --connections must be at least 1", file=sys.stderr)
                return 2
            commands.raise_open_file_limit(arguments.connections)
            commands.run(commands.run_idle_connections(arguments.uri, connections=arguments.connections,
                                                       compression=compression, use_aiofastnet=arguments.aiofastnet),
                         arguments.loop)  # fmt: skip
            return 0
        messages = 20000 if arguments.messages is None else arguments.messages
        if messages < 1 or arguments.size < 0 or arguments.concurrency < 1:
            print("wsfast bench: --messages and --concurrency must be at least 1", file=sys.stderr)
            return 2
        result = commands.run(commands.run_bench(
            arguments.uri, messages=messages, size=arguments.size,
            concurrency=arguments.concurrency, compression=compression, api=arguments.api,
            use_aiofastnet=arguments.aiofastnet, progress=progress,
        ), arguments.loop)  # fmt: skip
        print(result.summary())
        return 0
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, ImportError, WsfastError, asyncio.TimeoutError) as error:
        print(f"wsfast {arguments.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
