"""Headless Chromium driven over the DevTools protocol, for the tests that
load a sample's page in a real browser (`chromium --dump-dom` returns at the load event, before a page's
scripts talk to the server).

Run the importing scripts with /usr/bin/python3: they need Debian's
python3-websockets for the DevTools connection.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

TIMEOUT = 10.0  # seconds, for a single DevTools command
PAGE_DEADLINE = 30.0  # seconds, for what a page shows (a cold browser start is slow)


class CheckFailed(Exception):
    pass


class Browser:
    """Headless Chromium in a session of its own, with a throwaway profile."""

    def __init__(self, executable, window_size="900,640"):
        self.profile = tempfile.mkdtemp(prefix="sluice-browser-check-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self.process = None
        self.executable = executable
        self.window_size = window_size

    def start(self):
        # Port 0: Chromium picks a free port and writes it to DevToolsActivePort
        # in the profile, so no port is guessed and raced for.
        args = [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-crash-reporter", "--disable-dev-shm-usage",
                f"--window-size={self.window_size}", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                "about:blank"]
        with open(self.log_path, "wb") as log:
            # Its own session: the renderer and helper processes share its
            # process group, so stopping the group by the browser's PID ends them all.
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)

    def devtools_port(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + PAGE_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"chromium exited with status {self.process.returncode}")
            try:
                with open(port_file) as f:
                    first_line = f.readline().strip()
                if first_line:
                    return int(first_line)
            except FileNotFoundError:
                pass
            time.sleep(0.05)  # polling a file Chromium writes once, with the deadline above
        raise CheckFailed(f"chromium wrote no DevToolsActivePort within {PAGE_DEADLINE:.0f} s")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                # A container has no D-Bus; Chromium's complaints about it say nothing here.
                return "".join([line for line in f if "dbus" not in line][-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        if self.process is not None:
            # Helpers that outlived the browser, if any, by the same group id.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands and their results, events ignored."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.pending = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.socket:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def call(self, method, **params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, TIMEOUT)
        if "error" in reply:
            raise CheckFailed(f"{method}: {reply['error']}")
        return reply["result"]

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CheckFailed(f"page script failed: {result['exceptionDetails'].get('text')}: {expression}")
        return result["result"].get("value")


def page_websocket_url(port):
    """The DevTools WebSocket of the about:blank tab (the list can be empty for a moment)."""
    deadline = time.monotonic() + PAGE_DEADLINE
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as response:
                targets = json.load(response)
            for target in targets:
                if target.get("type") == "page" and "webSocketDebuggerUrl" in target:
                    return target["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.05)  # polling, with the deadline above
    raise CheckFailed(f"no page target on DevTools port {port} within {PAGE_DEADLINE:.0f} s")


async def wait_for_page(devtools, expression, what, page_state="document.title"):
    """Polls `expression` in the page until it is true; returns its last value.
    On a timeout the error shows what `page_state` evaluates to."""
    deadline = time.monotonic() + PAGE_DEADLINE
    while True:
        value = await devtools.evaluate(expression)
        if value:
            return value
        if time.monotonic() >= deadline:
            shown = await devtools.evaluate(page_state)
            raise CheckFailed(f"{what} not seen within {PAGE_DEADLINE:.0f} s; the page shows {shown}")
        await asyncio.sleep(0.05)  # polling, with the deadline above


async def open_page(browser):
    """Starts `browser` and returns (websocket, DevTools) for its blank tab;
    the caller closes the websocket (use it as an async context manager)."""
    import websockets  # imported here: the caller reports its absence
    browser.start()
    port = await asyncio.to_thread(browser.devtools_port)
    target = await asyncio.to_thread(page_websocket_url, port)
    return websockets.connect(target, max_size=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT)


async def screenshot(devtools, path):
    """Saves the page as a PNG."""
    import base64
    shot = await devtools.call("Page.captureScreenshot", format="png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def run_in_browser(name, check, browser, deadline):
    """Runs the coroutine `check(browser)` within `deadline` seconds; returns
    the exit status: 0, or 1 after printing `FAIL name: why` with the end of
    the browser's log. The browser is stopped and its profile removed
    whatever happens; the test runner's SIGTERM (an overdue run) becomes
    such a failure."""
    import sys
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL run: stopped by SIGTERM"))
    try:
        asyncio.run(asyncio.wait_for(check(browser), deadline))
        return 0
    except Exception as e:  # noqa: BLE001 - any failure is reported with the browser's side of it
        print(f"FAIL {name}: {type(e).__name__}: {str(e) or 'no answer in time'}")
        tail = browser.log_tail()
        if tail:
            print("--- chromium log (tail)\n" + tail, end="")
        return 1
    finally:
        browser.stop()
