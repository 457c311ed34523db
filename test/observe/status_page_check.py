#!/usr/bin/python3
"""The status page (/status) of a sample's admin listener, in headless Chromium.

    /usr/bin/python3 status_page_check.py --url http://127.0.0.1:ADMIN_PORT --loops N
        [--load http://127.0.0.1:PUBLIC_PORT/PATH] [--screenshot FILE [--settle S]] [--chromium PATH]

Loads /status and waits until the page has drawn at least three updates from
/status.json, with a row and four charts for each of the N loops, every
chart holding at least two points, and no error shown. With --load, a
thread sends requests to that URL meanwhile, and the page must show a
non-zero request rate for some loop. Prints `ok NAME` / `FAIL NAME: why`;
exit 1 on failure. The browser is stopped and its profile removed whatever
happens.
"""

import argparse
import asyncio
import os
import shutil
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from headless_browser import (PAGE_DEADLINE, Browser, CheckFailed, DevTools, open_page,  # noqa: E402
                              run_in_browser, screenshot, wait_for_page)

PAGE_STATE = "JSON.stringify(window.sluiceStatus || null)"
CHARTS = "document.querySelectorAll('canvas[data-chart]').length"
ROWS = "document.querySelectorAll('#loops tr').length"
# The largest request rate the page shows, from the rows' second value cells.
MAX_RATE = """(() => {
  let best = 0;
  for (const row of document.querySelectorAll('#loops tr')) {
    const cells = row.querySelectorAll('td.v');
    if (cells.length > 1) best = Math.max(best, parseFloat(cells[1].textContent) || 0);
  }
  return best;
})()"""


def ok(name):
    print(f"ok {name}", flush=True)


def keep_loading(url, stop):
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
        except OSError:
            pass


async def run(args, browser):
    async with await open_page(browser) as socket:
        devtools = DevTools(socket)
        page_url = f"{args.url}/status"
        navigation = await devtools.call("Page.navigate", url=page_url)
        if navigation.get("errorText"):
            raise CheckFailed(f"navigating to {page_url}: {navigation['errorText']}")
        await wait_for_page(devtools, "window.sluiceStatus !== undefined", "window.sluiceStatus", PAGE_STATE)
        ok("page-loaded")
        await wait_for_page(
            devtools,
            f"window.sluiceStatus.updates >= 3 && window.sluiceStatus.points >= 2 && "
            f"window.sluiceStatus.loops === {args.loops} && !window.sluiceStatus.error",
            f"three updates with {args.loops} loop(s)", PAGE_STATE)
        ok("charts-have-data")
        rows = await devtools.evaluate(ROWS)
        charts = await devtools.evaluate(CHARTS)
        if rows != args.loops or charts != 4 * args.loops:
            raise CheckFailed(f"{rows} rows and {charts} charts for {args.loops} loop(s)")
        ok("one-row-and-four-charts-per-loop")
        if args.load:
            await wait_for_page(devtools, f"{MAX_RATE} > 0", "a non-zero request rate", PAGE_STATE)
            ok("request-rate-shown")
        if args.screenshot:
            await asyncio.sleep(args.settle)  # more history in the charts (a picture, not a check)
            await screenshot(devtools, args.screenshot)
            ok(f"screenshot {args.screenshot}")
        state = await devtools.evaluate(PAGE_STATE)
        print(f"page state: {state}", flush=True)
        devtools.reader.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://HOST:PORT of the admin listener")
    parser.add_argument("--loops", type=int, required=True, help="the server's loop count")
    parser.add_argument("--load", help="a URL to request over and over while the page runs")
    parser.add_argument("--screenshot", help="save the page as a PNG here")
    parser.add_argument("--settle", type=float, default=0, help="seconds to wait before the screenshot")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the browser (default: chromium on PATH)")
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    if not args.chromium:
        print("FAIL chromium: not on PATH (tools/setup installs the chromium package)")
        return 2
    try:
        import websockets  # noqa: F401 - the DevTools connection needs it
    except ImportError:
        print("FAIL import: python3-websockets is missing (tools/setup installs it)")
        return 2

    stop = threading.Event()
    loaders = []
    if args.load:
        loaders = [threading.Thread(target=keep_loading, args=(args.load, stop), daemon=True) for _ in range(2)]
        for t in loaders:
            t.start()
    try:
        return run_in_browser("status-page", lambda browser: run(args, browser),
                              Browser(args.chromium, window_size="1000,360"), 4 * PAGE_DEADLINE + args.settle)
    finally:
        stop.set()
        for t in loaders:
            t.join(timeout=10)

if __name__ == "__main__":
    sys.exit(main())
