#!/usr/bin/python3
"""The sluice-ws chat page in headless Chromium, with a Python client in the same room.

Run with /usr/bin/python3 (it needs Debian's python3-websockets, here the
DevTools client as well as the chat client):

    /usr/bin/python3 browser_check.py --url http://127.0.0.1:PORT [--screenshot FILE] [--chromium PATH]

Chromium is driven over the DevTools protocol: `--dump-dom` returns at the
load event, before the page's WebSocket says anything. The page opens
/?room=browsertest; once its #status reads `open` it sends a message through
its input and #send button once a Python client in the same room has heard its
own line back, and the check passes when the page's #log shows both lines and
the Python client heard the page's. The browser is killed and its profile
removed whatever happens. Prints `ok NAME` / `FAIL NAME: why`; exit 1 on failure.
"""

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import websockets
except ImportError:
    print("FAIL import: python3-websockets is missing (tools/setup installs it)")
    sys.exit(2)

TIMEOUT = 10.0  # seconds, for a single exchange
PAGE_DEADLINE = 30.0  # seconds, for what the page shows (a cold browser start is slow)
ROOM = "browsertest"
PAGE_MESSAGE = "hello from the browser"
PYTHON_MESSAGE = "hello from python"


class CheckFailed(Exception):
    pass


class Browser:
    """Headless Chromium in a session of its own, with a throwaway profile."""

    def __init__(self, executable):
        self.profile = tempfile.mkdtemp(prefix="sluice-browser-check-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self.process = None
        self.executable = executable

    def start(self):
        # Port 0: Chromium picks a free port and writes it to DevToolsActivePort
        # in the profile, so no port is guessed and raced for.
        args = [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-crash-reporter", "--disable-dev-shm-usage",
                "--window-size=900,640", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
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


async def wait_for_page(devtools, expression, what):
    """Polls `expression` in the page until it is true; returns its last value."""
    deadline = time.monotonic() + PAGE_DEADLINE
    while True:
        value = await devtools.evaluate(expression)
        if value:
            return value
        if time.monotonic() >= deadline:
            shown = await devtools.evaluate(PAGE_STATE)
            raise CheckFailed(f"{what} not seen within {PAGE_DEADLINE:.0f} s; the page shows {shown}")
        await asyncio.sleep(0.05)  # polling, with the deadline above


STATUS = "document.getElementById('status') ? document.getElementById('status').textContent : null"
LOG_LINES = "(document.getElementById('log') ? document.getElementById('log').innerText : '').split('\\n')"
PAGE_STATE = f"JSON.stringify({{status: {STATUS}, log: {LOG_LINES}}})"
# The page's one text input, whatever its id.
SEND_FROM_PAGE = f"""(() => {{
  document.querySelector('input').value = {json.dumps(PAGE_MESSAGE)};
  document.getElementById('send').click();
  return true;
}})()"""


async def python_chat_client(ws_url, joined):
    """Joins the room, sends its line and, once it has heard that line back (so
    it is subscribed), sets `joined`; returns everything it heard once the
    page's line has arrived too."""
    async with websockets.connect(f"{ws_url}/ws/chat/{ROOM}", open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        await ws.send(PYTHON_MESSAGE)
        heard = set()
        while not {PAGE_MESSAGE, PYTHON_MESSAGE} <= heard:
            heard.add(await asyncio.wait_for(ws.recv(), PAGE_DEADLINE))
            if PYTHON_MESSAGE in heard:
                joined.set()
        return heard


def ok(name):
    print(f"ok {name}", flush=True)


async def run(args, browser):
    browser.start()
    port = await asyncio.to_thread(browser.devtools_port)
    target = await asyncio.to_thread(page_websocket_url, port)
    async with websockets.connect(target, max_size=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as socket:
        devtools = DevTools(socket)
        page_url = f"{args.url}/?room={ROOM}"
        navigation = await devtools.call("Page.navigate", url=page_url)
        if navigation.get("errorText"):
            raise CheckFailed(f"navigating to {page_url}: {navigation['errorText']}")
        await wait_for_page(devtools, f"({STATUS}) === 'open'", "#status 'open'")
        ok("page-open")

        # The page sends only once the Python client has heard its own line
        # back: a room delivers only to those in it when the line arrives, so
        # sending earlier would race the Python client's join.
        joined = asyncio.Event()
        python_task = asyncio.create_task(python_chat_client("ws" + args.url[len("http"):], joined))
        joined_wait = asyncio.create_task(joined.wait())
        await asyncio.wait({python_task, joined_wait}, timeout=PAGE_DEADLINE,
                           return_when=asyncio.FIRST_COMPLETED)
        if not joined.is_set():
            joined_wait.cancel()
            if python_task.done():
                python_task.result()  # raises what stopped it
            raise CheckFailed(f"the Python client did not hear its own line within {PAGE_DEADLINE:.0f} s")
        ok("python-joined")
        await devtools.evaluate(SEND_FROM_PAGE)
        await wait_for_page(
            devtools,
            f"(() => {{ const lines = {LOG_LINES}.map(l => l.trim());"
            f" return lines.includes({json.dumps(PAGE_MESSAGE)}) && lines.includes({json.dumps(PYTHON_MESSAGE)}); }})()",
            "both messages in #log")
        ok("page-log-has-both")
        heard = await asyncio.wait_for(python_task, PAGE_DEADLINE)
        if PAGE_MESSAGE not in heard:
            raise CheckFailed(f"the Python client heard {sorted(heard)}")
        ok("python-heard-page")

        if args.screenshot:
            shot = await devtools.call("Page.captureScreenshot", format="png")
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            ok(f"screenshot {args.screenshot}")
        devtools.reader.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://HOST:PORT of the sample")
    parser.add_argument("--screenshot", help="save the page as a PNG here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the browser (default: chromium on PATH)")
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    if not args.chromium:
        print("FAIL chromium: not on PATH (tools/setup installs the chromium package)")
        return 2

    # The test runner ends an overdue run with SIGTERM: turn it into an
    # exception so the browser is still stopped and its profile removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL run: stopped by SIGTERM"))
    browser = Browser(args.chromium)
    try:
        asyncio.run(asyncio.wait_for(run(args, browser), 4 * PAGE_DEADLINE))
        return 0
    except Exception as e:  # noqa: BLE001 - any failure is reported with the browser's side of it
        print(f"FAIL browser-chat: {type(e).__name__}: {str(e) or 'no answer in time'}")
        tail = browser.log_tail()
        if tail:
            print("--- chromium log (tail)\n" + tail, end="")
        return 1
    finally:
        browser.stop()


if __name__ == "__main__":
    sys.exit(main())
