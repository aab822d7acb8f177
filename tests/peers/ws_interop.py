#!/usr/bin/env python3
"""Interop checks of a WebSocket echo endpoint with the Python `websockets` client.

usage: ws_interop.py [--deflate] [--timeout SECONDS] ws://127.0.0.1:PORT/echo

The endpoint must echo every message unchanged (text stays text, binary stays
binary).  One line per check (PASS/FAIL), then `N passed, M failed`; exit
status 1 if any check failed.  Every network wait is bounded by --timeout
(default 20 s).  permessage-deflate is not offered unless --deflate is given.

Needs the `websockets` package (scripts/install-test-deps.sh puts it in .venv).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

MIB = 1024 * 1024
BIG = 16 * MIB

Check = Callable[[ClientConnection], Awaitable[str]]


class CheckFailed(Exception):
    pass


def expect(cond: bool, why: str) -> None:
    if not cond:
        raise CheckFailed(why)


def abort(ws: ClientConnection) -> None:
    try:
        ws.transport.abort()
    except Exception:
        pass


def describe(msg: object) -> str:
    if isinstance(msg, (bytes, bytearray)):
        return f"binary({len(msg)} bytes){bytes(msg[:16])!r}"
    if isinstance(msg, str):
        return f"text({len(msg)} chars){msg[:32]!r}"
    return repr(msg)


class Runner:
    def __init__(self, url: str, timeout: float, deflate: bool) -> None:
        self.url = url
        self.timeout = timeout
        self.deflate = deflate
        self.passed = 0
        self.failed = 0
        self.ws: ClientConnection | None = None

    async def t(self, aw: Awaitable):  # bounded await
        return await asyncio.wait_for(aw, self.timeout)

    async def open(self) -> ClientConnection:
        return await self.t(connect(
            self.url,
            compression="deflate" if self.deflate else None,
            max_size=BIG + MIB,
            max_queue=None,
            ping_interval=None,
            open_timeout=self.timeout,
            close_timeout=self.timeout,
            proxy=None,
        ))

    async def echo(self, ws: ClientConnection, msg: str | bytes) -> None:
        await self.t(ws.send(msg))
        got = await self.t(ws.recv())
        expect(type(got) is type(msg),
               f"sent {describe(msg)}, got back {describe(got)} (type changed)")
        expect(got == msg, f"sent {describe(msg)}, got back {describe(got)}")

    def report(self, name: str, ok: bool, info: str) -> None:
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f": {info}" if info else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {info}", flush=True)

    async def shared(self) -> ClientConnection:
        """The connection shared by the message checks; reopened if a previous
        check left it closed, so one failure does not cascade."""
        if self.ws is None or self.ws.state is not State.OPEN:
            if self.ws is not None:
                abort(self.ws)
            self.ws = await self.open()
        return self.ws

    async def run(self, name: str, check: Callable[[], Awaitable[str]]) -> None:
        try:
            info = await check()
            self.report(name, True, info)
        except CheckFailed as e:
            self.report(name, False, str(e))
        except asyncio.TimeoutError:
            self.report(name, False, f"timed out after {self.timeout:g}s")
        except Exception as e:  # connection errors, protocol errors, ...
            self.report(name, False, f"{type(e).__name__}: {e}")

    # --- the checks ---------------------------------------------------------

    async def c_text(self) -> str:
        ws = await self.shared()
        for msg in ("hello rlws", "héllo wörld ✓ Ωμέγα 日本語 🚀 \u0000 end"):
            await self.echo(ws, msg)
        return "ASCII and non-ASCII UTF-8 text echoed as text"

    async def c_binary(self) -> str:
        ws = await self.shared()
        await self.echo(ws, bytes(range(256)) * 4 + b"\xff\x00\xc0\xaf")
        return "1028 bytes echoed as binary"

    async def c_empty_text(self) -> str:
        await self.echo(await self.shared(), "")
        return ""

    async def c_empty_binary(self) -> str:
        await self.echo(await self.shared(), b"")
        return ""

    async def c_fragmented_text(self) -> str:
        ws = await self.shared()
        parts = ["frag", "mented ", "", "téxt ✓ ", "message"]
        await self.t(ws.send(parts))  # an iterable is sent as one fragmented message
        got = await self.t(ws.recv())
        expect(got == "".join(parts), f"got back {describe(got)}")
        return f"{len(parts)} fragments came back as one text message"

    async def c_fragmented_binary(self) -> str:
        ws = await self.shared()
        chunks = [os.urandom(n) for n in (1, 125, 126, 65535, 65536, 70000)]

        async def gen():
            for c in chunks:
                yield c

        await self.t(ws.send(gen()))  # async iterable -> fragmented message
        got = await self.t(ws.recv())
        want = b"".join(chunks)
        expect(isinstance(got, bytes), f"got back {describe(got)}, expected binary")
        expect(got == want, f"got back {describe(got)}, expected {len(want)} bytes")
        return f"{len(chunks)} fragments ({len(want)} bytes) came back as one binary message"

    async def c_ping(self) -> str:
        ws = await self.shared()
        payload = b"rlws-ping-\x00\xff-payload"
        pong_waiter = await self.t(ws.ping(payload))
        latency = await self.t(pong_waiter)  # resolves on a pong with this payload
        # the connection must still carry messages after the ping
        await self.echo(ws, "after ping")
        return f"pong with matching payload after {latency * 1000:.1f} ms"

    async def c_big(self) -> str:
        ws = await self.shared()
        data = os.urandom(BIG)
        await self.t(ws.send(data))
        got = await self.t(ws.recv())
        expect(isinstance(got, bytes), f"got back {describe(got)}")
        expect(len(got) == len(data), f"got back {len(got)} bytes, sent {len(data)}")
        expect(got == data, "16 MiB payload came back corrupted")
        return "16 MiB binary message round-tripped"

    async def c_pipelined(self) -> str:
        ws = await self.shared()
        msgs = [f"pipelined-{i:03d}-" + "x" * (i * 37) for i in range(100)]
        for m in msgs:
            await self.t(ws.send(m))
        for i, m in enumerate(msgs):
            got = await self.t(ws.recv())
            expect(got == m, f"message #{i}: expected {describe(m)}, got {describe(got)}")
        return "100 messages came back in order"

    async def close_check(self, code: int, reason: str) -> str:
        ws = await self.open()
        await self.echo(ws, "before close")
        await self.t(ws.close(code, reason))
        await self.t(ws.wait_closed())
        proto = ws.protocol
        rcvd = proto.close_rcvd
        expect(rcvd is not None,
               "no close frame from the server (TCP closed without closing handshake)")
        expect(proto.close_rcvd_then_sent is False,
               f"server sent close {rcvd.code} ({rcvd.reason!r}) on its own before "
               f"ours instead of echoing ours")
        expect(proto.close_sent is not None and proto.close_sent.code == code,
               f"our close frame was not sent as {code}: {proto.close_sent}")
        expect(rcvd.code == code,
               f"server answered close code {rcvd.code} ({rcvd.reason!r}), expected {code}")
        return f"server echoed close code {rcvd.code} reason {rcvd.reason!r}"

    async def c_close_1000(self) -> str:
        return await self.close_check(1000, "bye")

    async def c_close_4000(self) -> str:
        return await self.close_check(4000, "custom")

    async def main(self) -> int:
        checks = [
            ("text round trip", self.c_text),
            ("binary round trip", self.c_binary),
            ("empty text message", self.c_empty_text),
            ("empty binary message", self.c_empty_binary),
            ("fragmented text message", self.c_fragmented_text),
            ("fragmented binary message", self.c_fragmented_binary),
            ("ping/pong with payload", self.c_ping),
            ("16 MiB binary message", self.c_big),
            ("100 pipelined messages", self.c_pipelined),
            ("close 1000 'bye' echoed", self.c_close_1000),
            ("close 4000 echoed", self.c_close_4000),
        ]
        print(f"ws_interop: {self.url} (permessage-deflate "
              f"{'offered' if self.deflate else 'not offered'})", flush=True)
        for name, fn in checks:
            await self.run(name, fn)
        if self.ws is not None:
            try:
                await self.t(self.ws.close())
            except Exception:
                abort(self.ws)
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws://127.0.0.1:PORT/PATH of an echo endpoint")
    ap.add_argument("--timeout", type=float, default=20.0, help="bound on every wait (s)")
    ap.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    return ap.parse_args()


if __name__ == "__main__":
    a = parse_args()
    sys.exit(asyncio.run(Runner(a.url, a.timeout, a.deflate).main()))
