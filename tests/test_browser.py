"""A real browser as the client: headless Chromium opens ws:// to a wsfast server.

The server also serves the page, through its process_request hook. The page exchanges text and
binary messages and reports what it saw in a last message. Under CI=true a missing Chromium is a
failure (``.ci/run`` installs Debian's chromium); elsewhere a skip.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest

import wsfast
from wsfast.handshake import Response
from wsfast.headers import Headers

from tests.support import IN_CI

PAGE = """<!doctype html><meta charset="utf-8"><title>wsfast</title><script>
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
const seen = [];
ws.onopen = () => {
  ws.send("hello from chromium");
  ws.send(new Uint8Array([0, 1, 2, 255]).buffer);
  ws.send("κόσμε 😀".repeat(1000));
};
ws.onmessage = (event) => {
  seen.push(typeof event.data === "string" ? `text ${event.data.length} ${event.data.slice(0, 19)}`
                                           : `binary ${new Uint8Array(event.data).join(",")}`);
  if (seen.length === 3) {
    ws.send("report " + JSON.stringify({seen, extensions: ws.extensions, protocol: ws.protocol}));
  }
};
ws.onclose = (event) => { document.title = `closed ${event.code}`; };
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if IN_CI:
        pytest.fail("CI must run the browser test: Chromium is missing")
    pytest.skip("Chromium is not installed")


def serve_page(connection, request):
    if request.path == "/page":
        return Response(200, "OK", Headers([("Content-Type", "text/html; charset=utf-8")]), PAGE.encode())
    return None


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["deflate", None])
def test_chromium_talks_to_wsfast(tmp_path, compression):
    browser = chromium()
    reports: asyncio.Queue[dict] = asyncio.Queue()

    async def handler(ws):
        async for message in ws:
            if isinstance(message, str) and message.startswith("report "):
                await reports.put(json.loads(message[len("report "):]))
                await ws.close(1000, "thanks")
            else:
                await ws.send(message)

    async def main():
        async with wsfast.serve(handler, "127.0.0.1", 0, compression=compression, process_request=serve_page) as server:
            port = server.sockets[0].getsockname()[1]
            command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync",
                       f"--user-data-dir={tmp_path / 'profile'}", f"http://127.0.0.1:{port}/page"]  # fmt: skip
            process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                return await asyncio.wait_for(reports.get(), 60)
            finally:
                process.kill()
                await process.wait()

    report = asyncio.run(main())
    assert report["seen"] == ["text 19 hello from chromium", "binary 0,1,2,255", "text 8000 κόσμε 😀κόσμε 😀κόσ"]
    assert ("permessage-deflate" in report["extensions"]) == (compression == "deflate")
