"""Test support: headless Chromium driven over the Chrome DevTools Protocol.

`chromium` (module fixture) starts the system's Chromium (Debian's
`chromium` package, `/usr/bin/chromium`) headless with a fresh profile and
remote debugging on a free port; `Browser.page()` opens a tab in its own
browser context (cookies of one test never leak into another). The client
is a few dozen lines over aiohttp's websocket: `goto`, `evaluate`,
`wait_for` (a JavaScript condition), `screenshot` (PNG).

When Chromium is missing the browser tests skip with a message saying so,
unless `WATCHER_REQUIRE_BROWSER` is set (CI installs Chromium and sets it):
then they fail, so a run that was meant to drive a browser cannot pass
without one.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-allow-origins=*",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_path() -> str | None:
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


class BrowserError(Exception):
    """Chromium answered a command with an error, or a page condition timed out."""


class Page:
    """One tab attached over a flat CDP session."""

    def __init__(self, conn: _Connection, session_id: str) -> None:
        self._conn = conn
        self._session = session_id

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._conn.send(method, params, self._session)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        answer = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression!r}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 10.0) -> None:
        """Poll until the JavaScript `condition` is true."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await self.evaluate(f"Boolean({condition})"):
                    return
            except BrowserError:
                pass  # the page is navigating: its context went away
            if time.monotonic() > deadline:
                url = await self.evaluate("location.href")
                raise BrowserError(f"timed out waiting for {condition!r} on {url}")
            await asyncio.sleep(0.05)

    async def goto(self, url: str) -> None:
        """Navigate and wait until the new document has loaded."""
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        await self.wait_for("document.readyState === 'complete'")

    async def screenshot(self, name: str) -> Path:
        """A PNG of the page under test-artifacts/console/NAME.png; returns its path."""
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class _Connection:
    """The browser's websocket: commands by id, answers routed back to their callers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(BrowserError(str(data["error"])))
                else:
                    future.set_result(data.get("result", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()


class Browser:
    """A running headless Chromium: its websocket address and process."""

    def __init__(
        self, ws_url: str, process: subprocess.Popen[bytes], drain: threading.Thread
    ) -> None:
        self.ws_url = ws_url
        self.process = process
        self.drain = drain

    def stop(self) -> None:
        """Terminate Chromium (kill after 10 s) and close its stderr pipe."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.drain.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()

    @asynccontextmanager
    async def page(self, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
        """A fresh tab in a fresh browser context (its own cookies)."""
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(self.ws_url, max_msg_size=64 * 1024 * 1024)
            conn = _Connection(ws)
            context = (await conn.send("Target.createBrowserContext"))["browserContextId"]
            target = await conn.send(
                "Target.createTarget", {"url": "about:blank", "browserContextId": context}
            )
            attached = await conn.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            page = Page(conn, attached["sessionId"])
            await page.send("Page.enable")
            await page.send("Runtime.enable")
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            try:
                yield page
            finally:
                await conn.send("Target.disposeBrowserContext", {"browserContextId": context})
                await conn.close()


def _drain(stream: IO[bytes]) -> None:
    for _line in stream:
        pass


def _launch(path: str, profile: Path) -> Browser:
    process = subprocess.Popen(
        [path, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline().decode(errors="replace")
        if not line and process.poll() is not None:
            break
        seen.append(line)
        found = _LISTENING.search(line)
        if found:
            # Keep draining stderr so Chromium never blocks on a full pipe.
            drain = threading.Thread(target=_drain, args=(process.stderr,), daemon=True)
            drain.start()
            return Browser(found.group(1), process, drain)
    process.kill()
    process.wait()
    process.stderr.close()
    raise RuntimeError("chromium did not start:\n" + "".join(seen[-20:]))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium for the module's tests (skipped, or failed under
    WATCHER_REQUIRE_BROWSER, when it is not installed)."""
    path = chromium_path()
    if path is None:
        message = "Chromium not found at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("WATCHER_REQUIRE_BROWSER"):
            pytest.fail(f"{message}, and WATCHER_REQUIRE_BROWSER is set")
        pytest.skip(f"{message}; set WATCHER_REQUIRE_BROWSER=1 to make this a failure")
    with tempfile.TemporaryDirectory(prefix="watcher-chromium-") as profile:
        browser = _launch(path, Path(profile))
        try:
            yield browser
        finally:
            browser.stop()
