"""The client side of the Autobahn TestSuite: drives kosoku in fuzzingserver mode.

    python tests/autobahn/client_driver.py --impl websockets|wsfast|wsfast-sync --url ws://127.0.0.1:9001

``wsfast-sync`` is wsfast's synchronous client (``wsfast.sync``), each connection run in a thread.

It asks ``/getCaseCount``, connects to ``/runCase?case=N&agent=AGENT`` for N = 1..count (1-based
within kosoku's ``-i``/``-x`` selection), echoing every message it receives, then connects to
``/updateReports?agent=AGENT``, which ends kosoku's run and makes it write its reports.

Settings the suite needs (see README.md beside this file):

- keepalive pings off (a ping during a long case makes kosoku end it, reported FAILED);
- permessage-deflate offered *with* ``client_no_context_takeover``: kosoku accepts the 13.2.x,
  13.5.x and 13.6.x cases only with that in the offer (54 cases lost without it);
- a message size limit above the largest 9.x message (16 MiB);
- a per-case time limit, so that one stuck case cannot hang the run (kosoku reports the case).

It prints ``case count: N`` first and ``cases run: N`` last on stdout, and exits 0 once
``/updateReports`` was reached (the verdicts are kosoku's: read its reports, not this exit code).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from echo_server import IMPLEMENTATIONS, MAX_MESSAGE_SIZE, _supported  # the same folder: shared settings

CLIENTS = (*IMPLEMENTATIONS, "wsfast-sync")


class Implementation:
    """``connect(uri)`` for one library, configured for the suite, and its ConnectionClosed;
    ``sync`` for a blocking client, whose connections run in threads."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.note = ""
        self.sync = False
        if name == "websockets":
            # websockets fails a message of more than 4096 fragments with 1009 (9.3.x/9.4.x send up to
            # 65536); its limit is read from the environment when websockets.asyncio is first imported.
            os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(2**20))
            from websockets.asyncio.client import connect
            from websockets.exceptions import ConnectionClosed
            from websockets.extensions.permessage_deflate import (
                ClientPerMessageDeflateFactory,
            )

            self._connect: Callable[..., Any] = connect
            self.closed: tuple[type[BaseException], ...] = (ConnectionClosed,)
            self._options: dict[str, Any] = {
                "compression": None,
                "extensions": [ClientPerMessageDeflateFactory(client_no_context_takeover=True)],
                "ping_interval": None,
                "max_size": MAX_MESSAGE_SIZE,
            }
        elif name in ("wsfast", "wsfast-sync"):
            import wsfast
            from wsfast.exceptions import ConnectionClosed as WsfastClosed

            self.sync = name == "wsfast-sync"
            if self.sync:
                from wsfast.sync.client import connect as sync_connect

                self._connect = sync_connect
            else:
                self._connect = getattr(wsfast, "connect")  # noqa: B009 - absent until the asyncio layer lands
            self.closed = (WsfastClosed,)
            self._options = {"max_message_size": MAX_MESSAGE_SIZE}
            if _supported(self._connect, "ping_interval"):  # the sync client sends no keepalive pings
                self._options["ping_interval"] = None
            if _supported(self._connect, "max_frame_size"):
                self._options["max_frame_size"] = MAX_MESSAGE_SIZE
            if _supported(self._connect, "max_fragments"):
                self._options["max_fragments"] = None  # cases 9.3 and 9.4 send 4 MiB in 64-byte frames
            if _supported(self._connect, "extensions"):
                from wsfast.permessage_deflate import (
                    ClientPerMessageDeflateFactory as WsfastFactory,
                )

                self._options["compression"] = None
                self._options["extensions"] = [WsfastFactory(client_no_context_takeover=True, min_size=0)]
            else:
                self._options["compression"] = "deflate"
                self.note = (
                    "wsfast.connect takes no extensions=: offering its default permessage-deflate, "
                    "without client_no_context_takeover (kosoku then fails the 54 13.2.x/13.5.x/13.6.x cases)"
                )
        else:
            raise ValueError(f"unknown implementation {name!r}: choose from {', '.join(CLIENTS)}")

    def connect(self, uri: str) -> Any:
        return self._connect(uri, **self._options)


async def _wait_for_server(impl: Implementation, base: str, wait: float) -> str:
    """The case count from ``/getCaseCount``, retrying while kosoku is not listening yet."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if impl.sync:
                return str(await _in_thread(lambda: _first_message_sync(impl, f"{base}/getCaseCount")))
            async with impl.connect(f"{base}/getCaseCount") as ws:
                return str(await asyncio.wait_for(ws.recv(), 10))
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _echo_case(impl: Implementation, uri: str) -> None:
    if impl.sync:
        await _in_thread(lambda: _echo_case_sync(impl, uri))
        return
    async with impl.connect(uri) as ws:
        try:
            async for message in ws:
                await ws.send(message)
        except impl.closed:
            pass  # an abnormal closure: many cases end that way on purpose


def _echo_case_sync(impl: Implementation, uri: str) -> None:
    with impl.connect(uri) as ws:
        try:
            for message in ws:
                ws.send(message)
        except impl.closed:
            pass


async def _in_thread(call: Callable[[], Any]) -> Any:
    """Run a blocking call in a daemon thread (a case stuck past its timeout must not keep the
    process alive) and wait for it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not done.done():
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)

    def work() -> None:
        try:
            result: Any = call()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting coroutine
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, daemon=True).start()
    return await done


def _first_message_sync(impl: Implementation, uri: str) -> Any:
    with impl.connect(uri) as ws:
        return ws.recv(timeout=10)


async def run(impl: Implementation, base: str, agent: str, case_timeout: float, wait: float, log: Any) -> int:
    count = int(await _wait_for_server(impl, base, wait))
    print(f"case count: {count}", flush=True)
    quoted_agent = urllib.parse.quote(agent, safe="")
    run_count = 0
    # One case at a time: kosoku runs the cases of this mode one after another anyway (two clients
    # asking for different cases at once finished no sooner).
    for case in range(1, count + 1):
        uri = f"{base}/runCase?case={case}&agent={quoted_agent}"
        started = time.monotonic()
        try:
            await asyncio.wait_for(_echo_case(impl, uri), case_timeout)
        except asyncio.TimeoutError:
            print(f"case {case}: timed out after {case_timeout:g} s", file=log, flush=True)
        except Exception as error:  # noqa: BLE001 - any failure is kosoku's to judge; go on
            print(f"case {case}: {type(error).__name__}: {error}", file=log, flush=True)
        run_count += 1
        elapsed = time.monotonic() - started
        if elapsed > 5:
            print(f"case {case}: {elapsed:.1f} s", file=log, flush=True)
    # kosoku ends the run (and writes its reports) once this connection was made.
    with contextlib.suppress(*impl.closed, OSError, asyncio.TimeoutError):
        async def update() -> None:
            if impl.sync:
                await _in_thread(lambda: _echo_case_sync(impl, f"{base}/updateReports?agent={quoted_agent}"))
                return
            async with impl.connect(f"{base}/updateReports?agent={quoted_agent}") as ws:
                with contextlib.suppress(*impl.closed):
                    async for _ in ws:
                        pass

        await asyncio.wait_for(update(), 30)
    print(f"cases run: {run_count}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=CLIENTS, default="websockets")
    parser.add_argument("--url", default="ws://127.0.0.1:9001", help="kosoku's address (default ws://127.0.0.1:9001)")
    parser.add_argument("--agent", default=None, help="agent name in the reports (default: the implementation's name)")
    parser.add_argument("--case-timeout", type=float, default=60.0, help="seconds one case may take (default 60)")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for kosoku to listen (default 15)")
    arguments = parser.parse_args(argv)
    impl = Implementation(arguments.impl)
    if impl.note:
        print(f"note: {impl.note}", file=sys.stderr, flush=True)
    base = arguments.url.rstrip("/")
    agent = arguments.agent or arguments.impl
    return asyncio.run(run(impl, base, agent, arguments.case_timeout, arguments.wait, sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
