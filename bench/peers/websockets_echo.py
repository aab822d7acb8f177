#!/usr/bin/env python3
"""Echo server on Python `websockets` with permessage-deflate, the
deflate-capable peer for `scripts/bench-ws.sh`.

usage: websockets_echo.py PORT
"""

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for m in ws:
        await ws.send(m)


async def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9105
    async with serve(echo, "127.0.0.1", port, max_size=None, compression="deflate"):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
