#!/usr/bin/env python3
"""Protocol-violation checks of a WebSocket server, with raw asyncio sockets.

usage: ws_bad_input.py [--timeout S] [--protocol NAME] [--no-reply] [--only a,b,..]
                       ws://127.0.0.1:PORT/PATH

For each case a fresh connection does a hand-written opening handshake (random
Sec-WebSocket-Key, checks the 101 and Sec-WebSocket-Accept), sends one bad
frame and expects the server to fail the connection: a close frame (unmasked,
as server frames must be) carrying the expected code, then the TCP connection
closed by the server.  Frames the server sends before its close (pings, data)
are skipped.  After the server's close frame this client answers with its own
close frame, as a normal client would (RFC 6455 5.5.1), unless --no-reply is
given, in which case the server must drop TCP without waiting for it.

  (a) unmasked text frame                          -> 1002
  (b) text frame with invalid UTF-8 (C0 AF)        -> 1007
  (c) frame with RSV2 set                          -> 1002
  (d) reserved opcode 0x3                          -> 1002
  (e) ping with a 126-byte payload (> 125)         -> 1002
  (f) binary frame declaring 17 MiB (header only)  -> 1009
  (g) continuation frame with no message started   -> 1002
  (h) close frame with code 999                    -> 1002
  (i) close frame with a 1-byte payload            -> 1002

One PASS/FAIL line per case, then `N passed, M failed`; exit 1 on any failure.
Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import struct
import sys
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MIB = 1024 * 1024


def frame(b0: int, payload: bytes, *, mask: bool = True, declared_len: int | None = None,
          with_payload: bool = True) -> bytes:
    """Encode a client frame. b0 = FIN|RSV|opcode byte. declared_len overrides
    the length field (the payload is then omitted when with_payload is False)."""
    n = len(payload) if declared_len is None else declared_len
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not with_payload:
        payload = b""
    if mask:
        key = os.urandom(4)
        head += key
        payload = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return head + payload


# (letter, description, bytes to send, expected close code)
CASES = [
    ("a", "unmasked text frame", frame(0x81, b"hello", mask=False), 1002),
    ("b", "text frame with invalid UTF-8 C0 AF", frame(0x81, b"\xc0\xaf"), 1007),
    ("c", "frame with RSV2 set", frame(0x80 | 0x20 | 0x1, b"rsv2"), 1002),
    ("d", "reserved opcode 0x3", frame(0x83, b"op3"), 1002),
    ("e", "ping with 126-byte payload", frame(0x89, b"p" * 126), 1002),
    ("f", "binary frame declaring 17 MiB (header only)",
     frame(0x82, b"", declared_len=17 * MIB, with_payload=False), 1009),
    ("g", "continuation frame with no message started", frame(0x80, b"cont"), 1002),
    ("h", "close frame with code 999", frame(0x88, struct.pack("!H", 999)), 1002),
    ("i", "close frame with 1-byte payload", frame(0x88, b"\x03"), 1002),
]


class CaseFailed(Exception):
    pass


async def handshake(url: str, protocol: str | None):
    u = urlsplit(url)
    if u.scheme != "ws":
        raise CaseFailed(f"only ws:// URLs are supported, got {url!r}")
    host = u.hostname or "127.0.0.1"
    port = u.port or 80
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\n"
           f"Host: {host}:{port}\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\n"
           "Sec-WebSocket-Version: 13\r\n")
    if protocol:
        req += f"Sec-WebSocket-Protocol: {protocol}\r\n"
    writer.write((req + "\r\n").encode())
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise CaseFailed(f"connection closed during handshake: {e.partial[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise CaseFailed(f"handshake refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != want:
        raise CaseFailed(f"bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, "
                         f"expected {want!r}")
    if headers.get("upgrade", "").lower() != "websocket":
        raise CaseFailed(f"bad Upgrade header {headers.get('upgrade')!r}")
    return reader, writer


async def read_frame(reader: asyncio.StreamReader):
    h = await reader.readexactly(2)
    fin, rsv, op = h[0] >> 7, (h[0] >> 4) & 7, h[0] & 0x0F
    masked, n = h[1] >> 7, h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    if n > 64 * MIB:
        raise CaseFailed(f"server frame with absurd length {n}")
    key = await reader.readexactly(4) if masked else None
    payload = await reader.readexactly(n)
    if key:
        payload = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return fin, rsv, op, bool(masked), payload


async def run_case(url: str, data: bytes, expected: int, timeout: float,
                   protocol: str | None, reply: bool) -> str:
    reader, writer = await asyncio.wait_for(handshake(url, protocol), timeout)
    try:
        writer.write(data)
        await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        skipped = 0
        last_op, last_payload = 0, b""
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                fin, rsv, op, masked, payload = await asyncio.wait_for(read_frame(reader), left)
            except asyncio.TimeoutError:
                raise CaseFailed(f"no close frame within {timeout:g}s"
                                 + (f" ({skipped} other frames received, last opcode "
                                    f"{last_op:#x} {last_payload[:40]!r})" if skipped else ""))
            except asyncio.IncompleteReadError:
                raise CaseFailed("server closed TCP without sending a close frame"
                                 + (f" ({skipped} other frames first)" if skipped else ""))
            except ConnectionResetError:
                raise CaseFailed("connection reset by server without a close frame")
            if op == 0x8:
                break
            skipped += 1
            last_op, last_payload = op, payload
        if masked:
            raise CaseFailed("server's close frame is masked (server frames must not be)")
        if len(payload) < 2:
            raise CaseFailed(f"server's close frame has no status code (payload {payload!r}), "
                             f"expected {expected}")
        code = struct.unpack("!H", payload[:2])[0]
        reason = payload[2:].decode("utf-8", "replace")
        if code != expected:
            raise CaseFailed(f"server closed with {code} ({reason!r}), expected {expected}")
        if reply:
            try:
                writer.write(frame(0x88, payload[:2]))
                await writer.drain()
            except (ConnectionError, OSError):
                pass
        # now the server must close the TCP connection
        how = "EOF"
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise asyncio.TimeoutError
                chunk = await asyncio.wait_for(reader.read(65536), left)
                if not chunk:
                    break
        except asyncio.TimeoutError:
            raise CaseFailed(f"got close {code} but the server did not close TCP "
                             f"within {timeout:g}s")
        except ConnectionResetError:
            how = "reset"
        extra = f", {skipped} frames skipped before it" if skipped else ""
        return f"close {code} ({reason!r}) then {how}{extra}"
    finally:
        writer.transport.abort()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws://127.0.0.1:PORT/PATH")
    ap.add_argument("--timeout", type=float, default=10.0, help="bound per case (s)")
    ap.add_argument("--protocol", help="Sec-WebSocket-Protocol to request")
    ap.add_argument("--no-reply", action="store_true",
                    help="do not answer the server's close frame")
    ap.add_argument("--only", help="comma-separated case letters to run")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None

    passed = failed = 0
    print(f"ws_bad_input: {a.url}", flush=True)
    for letter, desc, data, expected in CASES:
        if only and letter not in only:
            continue
        name = f"({letter}) {desc} -> {expected}"
        try:
            info = await run_case(a.url, data, expected, a.timeout, a.protocol, not a.no_reply)
            passed += 1
            print(f"PASS {name}: {info}", flush=True)
        except CaseFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except asyncio.TimeoutError:
            failed += 1
            print(f"FAIL {name}: no close frame within {a.timeout:g}s", flush=True)
        except Exception as e:
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
