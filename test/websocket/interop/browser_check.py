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
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from headless_browser import (PAGE_DEADLINE, TIMEOUT, Browser, CheckFailed, DevTools,  # noqa: E402
                              open_page, run_in_browser, screenshot, wait_for_page)

try:
    import websockets
except ImportError:
    print("FAIL import: python3-websockets is missing (tools/setup installs it)")
    sys.exit(2)

ROOM = "browsertest"
PAGE_MESSAGE = "hello from the browser"
PYTHON_MESSAGE = "hello from python"


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
    async with await open_page(browser) as socket:
        devtools = DevTools(socket)
        page_url = f"{args.url}/?room={ROOM}"
        navigation = await devtools.call("Page.navigate", url=page_url)
        if navigation.get("errorText"):
            raise CheckFailed(f"navigating to {page_url}: {navigation['errorText']}")
        await wait_for_page(devtools, f"({STATUS}) === 'open'", "#status 'open'", PAGE_STATE)
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
            "both messages in #log", PAGE_STATE)
        ok("page-log-has-both")
        heard = await asyncio.wait_for(python_task, PAGE_DEADLINE)
        if PAGE_MESSAGE not in heard:
            raise CheckFailed(f"the Python client heard {sorted(heard)}")
        ok("python-heard-page")

        if args.screenshot:
            await screenshot(devtools, args.screenshot)
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

    return run_in_browser("browser-chat", lambda browser: run(args, browser), Browser(args.chromium),
                          4 * PAGE_DEADLINE)

if __name__ == "__main__":
    sys.exit(main())
