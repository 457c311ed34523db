#!/usr/bin/python3
"""Interoperability checks of the sluice-ws sample with Python's `websockets`.

Run with /usr/bin/python3: it needs Debian's python3-websockets (10.4, the
asyncio API), which a pyenv python3 on PATH does not see.

    /usr/bin/python3 python_client.py --url ws://127.0.0.1:PORT [--http http://127.0.0.1:PORT]

Prints `ok NAME` or `FAIL NAME: why` per check; exits 1 if any check failed.
"""

import argparse
import asyncio
import contextlib
import os
import sys
import urllib.request

try:
    import websockets
    from websockets.frames import Opcode
except ImportError:
    print("FAIL import: python3-websockets is missing (tools/setup installs it)")
    sys.exit(2)

TIMEOUT = 10.0  # seconds, for every single wait
MAX_MESSAGE = 1048576  # the sample's default --max-message-bytes, inclusive


@contextlib.asynccontextmanager
async def connect(url):
    # The client's own limit is above the server's so that the server's is
    # the one tested.
    ws = await websockets.connect(url, max_size=4 * MAX_MESSAGE, open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    try:
        yield ws
    except BaseException:
        ws.transport.abort()  # a failed check does not wait out a close handshake too
        raise
    try:
        await asyncio.wait_for(ws.close(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"the server did not finish the close handshake within {TIMEOUT:.0f} s")


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def close_code_after(ws, send):
    """Runs `send` (which the server may cut short) and returns the close code the server sent."""
    arrived = 0
    try:
        await asyncio.wait_for(send(), TIMEOUT)
        # The server's close arrives as the end of the message stream.
        while True:
            await recv(ws)
            arrived += 1
    except websockets.ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        raise AssertionError(f"no close from the server within {TIMEOUT:.0f} s ({arrived} message(s) came instead)")
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    return ws.close_code


def expect(condition, why):
    if not condition:
        raise AssertionError(why)


def describe(data):
    if isinstance(data, (bytes, str)) and len(data) > 40:
        return f"{type(data).__name__} of {len(data)}"
    return repr(data)


async def expect_echo(ws, message):
    await ws.send(message)
    got = await recv(ws)
    expect(type(got) is type(message), f"sent {type(message).__name__}, got {type(got).__name__}")
    expect(got == message, f"sent {describe(message)}, got {describe(got)}")


async def check_text(args):
    async with connect(args.url + "/ws/echo") as ws:
        await expect_echo(ws, "hello, sluice \u00e9\u4e16\U0001f30d")


async def check_binary(args):
    async with connect(args.url + "/ws/echo") as ws:
        await expect_echo(ws, bytes(range(256)) + b"\x00\xff")


async def check_fragmented(args):
    async with connect(args.url + "/ws/echo") as ws:
        # An iterable makes websockets send one frame per item: TEXT, CONT, CONT(fin).
        await ws.send(["frag", "ment", "ed \u00e9"])
        got = await recv(ws)
        expect(got == "fragmented \u00e9", f"got {got!r}")
        await ws.send([b"\x01\x02", b"\x03", b"\x04\x05"])
        got = await recv(ws)
        expect(got == b"\x01\x02\x03\x04\x05", f"got {got!r}")


async def check_ping(args):
    async with connect(args.url + "/ws/echo") as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)


async def check_64k(args):
    async with connect(args.url + "/ws/echo") as ws:
        await expect_echo(ws, os.urandom(65536))


async def check_1mib(args):
    async with connect(args.url + "/ws/echo") as ws:
        await expect_echo(ws, os.urandom(MAX_MESSAGE))
        await expect_echo(ws, "x" * MAX_MESSAGE)


async def check_too_big(args):
    async with connect(args.url + "/ws/echo") as ws:
        code = await close_code_after(ws, lambda: ws.send(os.urandom(MAX_MESSAGE + 1)))
        expect(code == 1009, f"close code {code}, want 1009")


async def check_invalid_utf8(args):
    async with connect(args.url + "/ws/echo") as ws:
        # send() only takes valid str for text; write the frame by hand.
        code = await close_code_after(ws, lambda: ws.write_frame(True, Opcode.TEXT, b"ok \xff\xfe"))
        expect(code == 1007, f"close code {code}, want 1007")


async def check_close_echo(args):
    async with connect(args.url + "/ws/echo") as ws:
        try:
            await asyncio.wait_for(ws.close(code=4001, reason="interop done"), TIMEOUT)
        except asyncio.TimeoutError:
            pass  # the close code, if one came, says more than the timeout
        expect(ws.close_code == 4001, f"server answered close code {ws.close_code}, want 4001")


async def check_chat(args):
    room = f"/ws/chat/py-{os.getpid()}"
    async with connect(args.url + room) as a, connect(args.url + room) as b:
        await a.send("hello from a")
        await b.send("hello from b")
        # Everyone in the room hears everything, the sender included.
        for name, ws in (("a", a), ("b", b)):
            heard = {await recv(ws), await recv(ws)}
            expect(heard == {"hello from a", "hello from b"}, f"{name} heard {heard}")


def post(url, body):
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.status, response.read().decode()


async def check_push(args):
    topic = f"py-{os.getpid()}"
    async with connect(args.url + "/ws/push") as ws:
        await ws.send(f"subscribe {topic}")
        got = await recv(ws)
        expect(got == f"subscribed {topic}", f"subscribe answered {got!r}")
        status, body = await asyncio.to_thread(post, f"{args.http}/publish/{topic}", "news \u00e9")
        expect(status == 200 and body == "published\n", f"POST answered {status} {body!r}")
        got = await recv(ws)
        expect(got == "news \u00e9", f"pushed {got!r}")
        await ws.send(f"unsubscribe {topic}")
        got = await recv(ws)
        expect(got == f"unsubscribed {topic}", f"unsubscribe answered {got!r}")


CHECKS = [
    ("echo-text", check_text),
    ("echo-binary", check_binary),
    ("echo-fragmented", check_fragmented),
    ("ping-pong", check_ping),
    ("echo-64KiB", check_64k),
    ("echo-1MiB", check_1mib),
    ("too-big-1009", check_too_big),
    ("invalid-utf8-1007", check_invalid_utf8),
    ("close-4001-echoed", check_close_echo),
    ("chat-two-clients", check_chat),
    ("push-publish", check_push),
]


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="ws://HOST:PORT of the sample")
    parser.add_argument("--http", help="http://HOST:PORT for POST /publish (default: from --url)")
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    if args.http is None:
        args.http = "http" + args.url[len("ws"):]
    failures = 0
    for name, check in CHECKS:
        try:
            # A check is a handful of waits of TIMEOUT each: this bounds it whole.
            await asyncio.wait_for(check(args), 6 * TIMEOUT)
            print(f"ok {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            failures += 1
            why = str(e) or "no answer in time"
            print(f"FAIL {name}: {type(e).__name__}: {why}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
