#!/usr/bin/env python3
"""A TLS WebSocket echo server (Python `websockets` on OpenSSL) for testing
rlws' wss:// client against another TLS stack.

usage: wss_echo_server.py CERT.pem KEY.pem [--client-ca CA.pem]

Listens on a free port of 127.0.0.1 and prints `PORT <n>` on a line once it
accepts connections. Echoes every message; offers permessage-deflate. With
--client-ca, requires a client certificate issued by that CA. Runs until
killed or until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for m in ws:
        await ws.send(m)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cert")
    ap.add_argument("key")
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    async with serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        loop = asyncio.get_running_loop()
        # Stop when the test closes our stdin (or dies).
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
