#!/usr/bin/env python3
"""A plain WebSocket server (Python `websockets`) to stand behind rlws'
reverse proxy in tests.

usage: ws_backend.py

Listens on a free port of 127.0.0.1 and prints `PORT <n>` once it accepts
connections. On each connection it first sends `hello <path> xff=<X-Forwarded-For>`,
then echoes every message (text as text, binary as binary); the text
`close-me <code>` makes it close with that code and reason "asked". Runs
until killed or until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def handler(ws: ServerConnection) -> None:
    xff = ws.request.headers.get("X-Forwarded-For", "-")
    await ws.send(f"hello {ws.request.path} xff={xff}")
    async for m in ws:
        if isinstance(m, str) and m.startswith("close-me "):
            await ws.close(int(m.split()[1]), "asked")
            return
        await ws.send(m)


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
