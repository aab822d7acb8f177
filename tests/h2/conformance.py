#!/usr/bin/env python3
"""HTTP/2 error handling checks (RFC 9113, RFC 7541) against a server, with
hand-made frames.

usage: conformance.py HOST PORT [--tls CA_FILE]

Each case opens its own connection, sends something a server must refuse,
and checks the answer: a GOAWAY with the right error code (connection
errors), an RST_STREAM (stream errors), or a response. At the end the server
must still answer a plain GET. Prints one line per case and exits 1 if any
failed. Standard library only.
"""

import socket
import ssl
import struct
import sys
import time

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x4, 0x5, 0x6, 0x7
CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xA, 0xB
NAMES = {v: k for k, v in dict(globals()).items() if k.endswith("_ERROR") or k in (
    "STREAM_CLOSED", "REFUSED_STREAM", "CANCEL", "ENHANCE_YOUR_CALM", "NO_ERROR", "SETTINGS_TIMEOUT")}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

HOST, PORT = sys.argv[1], int(sys.argv[2])
CA = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--tls" else None


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def block(headers):
    return b"".join(hpack_literal(k, v) for k, v in headers)


def get_headers(path="/", method="GET", extra=()):
    authority = "localhost" if CA else f"{HOST}:{PORT}"
    scheme = "https" if CA else "http"
    return [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)] + list(extra)


class Conn:
    def __init__(self, preface=PREFACE, settings=b""):
        raw = socket.create_connection((HOST, PORT), timeout=5)
        if CA:
            ctx = ssl.create_default_context(cafile=CA)
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            assert raw.selected_alpn_protocol() == "h2", "server did not pick h2 by ALPN"
        self.s = raw
        self.buf = b""
        self.s.sendall(preface + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False

    def read_frame(self, deadline):
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            left = deadline - time.time()
            if left <= 0:
                return "timeout"
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return "timeout"
            except (ConnectionError, ssl.SSLError, OSError):
                return None
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF, self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if f[0] == SETTINGS and not f[1] & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        if f[0] == PING and not f[1] & ACK:
            self.send(frame(PING, ACK, 0, f[3]))
        return f

    def wait_for(self, want, secs=5.0):
        """Reads until want(frame) is true; returns the frame, None (closed) or 'timeout'."""
        deadline = time.time() + secs
        while True:
            f = self.read_frame(deadline)
            if f is None or f == "timeout" or want(f):
                return f

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def goaway_code(c, secs=5.0):
    """The GOAWAY error code, 'closed' without one, or 'timeout'."""
    f = c.wait_for(lambda f: f[0] == GOAWAY, secs)
    if f is None:
        return "closed"
    if f == "timeout":
        return "timeout"
    return struct.unpack(">I", f[3][4:8])[0]


def rst_code(c, stream):
    f = c.wait_for(lambda f: (f[0] == RST_STREAM and f[2] == stream) or f[0] == GOAWAY)
    if f is None or f == "timeout":
        return f or "closed"
    if f[0] == GOAWAY:
        return ("goaway", struct.unpack(">I", f[3][4:8])[0])
    return struct.unpack(">I", f[3])[0]


def status_of(c, stream):
    """The :status of the response on stream (our literal-only HPACK decoder
    is not needed: servers send :status from the static table)."""
    f = c.wait_for(lambda f: (f[0] in (HEADERS, RST_STREAM) and f[2] == stream) or f[0] == GOAWAY)
    if f is None or f == "timeout":
        return f or "closed"
    if f[0] != HEADERS:
        return ("frame", f[0])
    b = f[3]
    if f[1] & PADDED:
        b = b[1:len(b) - b[0]]
    static = {0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500}
    if b[:1] and b[0] in static:
        return static[b[0]]
    # ":status" as a literal with indexed name 8 (any representation).
    for i in range(len(b) - 4):
        if b[i] & 0x0F == 8 and b[i] & 0xC0 != 0x80 and b[i + 1] == 3:
            try:
                return int(b[i + 2:i + 5])
            except ValueError:
                pass
    return ("undecoded", b[:16].hex())


results = []
gaps = []

# Cases where a server closes the connection as it must but with another
# error code than the RFC names, tolerated while listed here: they print GAP,
# and the run fails if the answer changes to anything else (including the
# right code: then remove the entry). rlws has none left; the h2 crate alone
# answers PROTOCOL_ERROR to frame-size, SETTINGS, STREAM_CLOSED and HPACK
# cases, which rlws' frame check in front of it now answers precisely.
TOLERATED = {}


def show(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return NAMES.get(v, v)
    if isinstance(v, tuple):
        return tuple(show(x) for x in v)
    return v


def case(name, expect, got):
    ok = got in expect if isinstance(expect, list) else got == expect
    want = [show(e) for e in expect] if isinstance(expect, list) else show(expect)
    if not ok and name in TOLERATED and got == TOLERATED[name]:
        gaps.append(name)
        print(f"GAP  {name}: got {show(got)}, RFC wants {want}", flush=True)
        return
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: got {show(got)}, want {want}", flush=True)


def fresh(**kw):
    c = Conn(**kw)
    return c


def conn_error(name, payload, code, **kw):
    c = fresh(**kw)
    c.send(payload)
    case(name, code, goaway_code(c))
    c.close()


def stream_error(name, payload, stream, code):
    """A stream error; RFC 9113 5.4.1 lets a server treat it as a connection
    error, so a GOAWAY with the same code passes too."""
    codes = code if isinstance(code, list) else [code]
    codes = codes + [("goaway", c) for c in codes if isinstance(c, int)]
    c = fresh()
    c.send(payload)
    case(name, codes, rst_code(c, stream))
    c.close()


H = lambda s, hdrs, flags=END_HEADERS | END_STREAM: frame(HEADERS, flags, s, block(hdrs))

# 3.4 preface
c = fresh(preface=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
got = goaway_code(c)
case("3.4 bad connection preface is a connection error", ["closed", PROTOCOL_ERROR], got)
c.close()

# sanity
c = fresh()
c.send(H(1, get_headers()))
case("a plain GET is answered", 200, status_of(c, 1))
c.close()

# 4.2 frame size
conn_error("4.2 PING with 9 bytes", frame(PING, 0, 0, b"\0" * 9), FRAME_SIZE_ERROR)
conn_error("4.2 frame above SETTINGS_MAX_FRAME_SIZE",
           H(1, get_headers("/", "POST"), END_HEADERS) + frame(DATA, 0, 1, b"x" * 16385), FRAME_SIZE_ERROR)
conn_error("6.4 RST_STREAM with 3 bytes", H(1, get_headers(), END_HEADERS) + frame(RST_STREAM, 0, 1, b"\0\0\0"),
           FRAME_SIZE_ERROR)
conn_error("6.9 WINDOW_UPDATE with 3 bytes", frame(WINDOW_UPDATE, 0, 0, b"\0\0\1"), FRAME_SIZE_ERROR)

# 6.5 SETTINGS
conn_error("6.5 SETTINGS length not a multiple of 6", frame(SETTINGS, 0, 0, b"\0" * 7), FRAME_SIZE_ERROR)
conn_error("6.5 SETTINGS ACK with a payload", frame(SETTINGS, ACK, 0, b"\0" * 6), FRAME_SIZE_ERROR)
conn_error("6.5 SETTINGS on a stream", frame(SETTINGS, 0, 1, b""), PROTOCOL_ERROR)
conn_error("6.5.2 ENABLE_PUSH = 2", frame(SETTINGS, 0, 0, struct.pack(">HI", 2, 2)), PROTOCOL_ERROR)
conn_error("6.5.2 INITIAL_WINDOW_SIZE above 2^31-1", frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 31)),
           FLOW_CONTROL_ERROR)
conn_error("6.5.2 MAX_FRAME_SIZE below 16384", frame(SETTINGS, 0, 0, struct.pack(">HI", 5, 16383)), PROTOCOL_ERROR)
conn_error("6.5.2 MAX_FRAME_SIZE above 2^24-1", frame(SETTINGS, 0, 0, struct.pack(">HI", 5, 1 << 24)),
           PROTOCOL_ERROR)

# 5.1 stream states and identifiers
conn_error("6.1 DATA on stream 0", frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR)
conn_error("6.2 HEADERS on stream 0", H(0, get_headers()), PROTOCOL_ERROR)
conn_error("5.1.1 HEADERS on an even stream", H(2, get_headers()), PROTOCOL_ERROR)
conn_error("5.1 DATA on an idle stream", frame(DATA, 0, 1, b"x"), PROTOCOL_ERROR)
conn_error("5.1.1 stream identifier going backwards", H(5, get_headers()) + H(3, get_headers()), PROTOCOL_ERROR)
conn_error("6.4 RST_STREAM on an idle stream", frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)), PROTOCOL_ERROR)
conn_error("6.9 WINDOW_UPDATE on an idle stream", frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1)), PROTOCOL_ERROR)
conn_error("6.10 CONTINUATION without HEADERS", frame(CONTINUATION, END_HEADERS, 1, block(get_headers())),
           PROTOCOL_ERROR)
conn_error("6.10 another frame inside a header block",
           H(1, get_headers(), 0) + frame(PING, 0, 0, b"\0" * 8), PROTOCOL_ERROR)
stream_error("5.3.1 PRIORITY: a stream depending on itself", frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 16)), 1,
             PROTOCOL_ERROR)
stream_error("5.1 DATA on a half-closed (remote) stream",
             H(1, get_headers("/", "POST")) + frame(DATA, 0, 1, b"x"), 1, STREAM_CLOSED)

# 6.9 flow control
conn_error("6.9 WINDOW_UPDATE of 0 on the connection", frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)),
           PROTOCOL_ERROR)
stream_error("6.9 WINDOW_UPDATE of 0 on a stream",
             H(1, get_headers("/", "POST"), END_HEADERS) + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)), 1,
             PROTOCOL_ERROR)
conn_error("6.9.1 connection window above 2^31-1",
           frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)), FLOW_CONTROL_ERROR)
stream_error("6.9.1 stream window above 2^31-1",
             H(1, get_headers("/", "POST"), END_HEADERS) + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0x7FFFFFFF)),
             1, FLOW_CONTROL_ERROR)
c = fresh()
# Send the stream window the server advertised plus two frames, then stop:
# a bounded overrun, so the server has read everything before it closes and
# its GOAWAY is not lost to a TCP reset caused by unread data.
first = c.wait_for(lambda f: f[0] == SETTINGS and not f[1] & ACK)
window = 65535
if isinstance(first, tuple):
    for i in range(0, len(first[3]) - 5, 6):
        ident, value = struct.unpack(">HI", first[3][i:i + 6])
        if ident == 0x4:
            window = value
c.send(H(1, get_headers("/", "POST"), END_HEADERS))
sent = 0
while sent < window + 2 * 16384 and c.send(frame(DATA, 0, 1, b"x" * 16384)):
    sent += 16384
# The server may instead answer at once and stop the upload with
# RST_STREAM(NO_ERROR) (RFC 9113 8.1); either way it must not take more.
case("6.9.1 DATA beyond the advertised window is refused or the upload stopped",
     [FLOW_CONTROL_ERROR, ("goaway", FLOW_CONTROL_ERROR), NO_ERROR], rst_code(c, 1))
c.close()

# HPACK (RFC 7541)
conn_error("RFC 7541 2.3.3 index beyond the tables", frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xbe"),
           COMPRESSION_ERROR)
conn_error("RFC 7541 4.2 table size update above the setting",
           frame(HEADERS, END_HEADERS | END_STREAM, 1, hpack_int(8192, 5, 0x20) + block(get_headers())),
           COMPRESSION_ERROR)
conn_error("RFC 7541 5.2 truncated string",
           frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x00\x05ab"), COMPRESSION_ERROR)

# 8.2, 8.3 malformed requests: stream errors
stream_error("8.2 upper-case header name", H(1, get_headers(extra=[("X-Upper", "1")])), 1, PROTOCOL_ERROR)
stream_error("8.2.2 connection-specific header", H(1, get_headers(extra=[("connection", "keep-alive")])), 1,
             PROTOCOL_ERROR)
stream_error("8.3 pseudo-header after a regular one",
             H(1, [(":method", "GET"), ("x-a", "1"), (":path", "/"), (":scheme", "http")]), 1, PROTOCOL_ERROR)
stream_error("8.3.1 request without :method", H(1, [h for h in get_headers() if h[0] != ":method"]), 1,
             PROTOCOL_ERROR)
stream_error("8.3.1 unknown pseudo-header", H(1, get_headers(extra=[(":foo", "1")])), 1, PROTOCOL_ERROR)

# Defences
c = fresh()
c.send(H(1, get_headers(), END_STREAM))  # header block left open
filler = block([("x-filler", "a" * 1000)])
sent = 0
while sent < (20 << 20) and c.send(frame(CONTINUATION, 0, 1, filler)):
    sent += len(filler)
got = goaway_code(c)
case("CONTINUATION flood is cut off", True, got != "timeout" and sent < (20 << 20))
c.close()

c = fresh()
big = [("x-h%d" % i, "v" * 100) for i in range(400)]  # ~40 KiB of headers, limit 16 KiB
c.send(frame(HEADERS, END_STREAM, 1, block(big)[:16000]) + frame(CONTINUATION, END_HEADERS, 1, block(big)[16000:]))
got = status_of(c, 1)
case("header list above the limit is refused", True, got in (431, "closed") or
     (isinstance(got, tuple) and got[0] == "frame"))
c.close()

c = fresh()
payload = b"".join(H(s, get_headers()) + frame(RST_STREAM, 0, s, struct.pack(">I", CANCEL))
                   for s in range(1, 4000, 2))
c.send(payload)
got = goaway_code(c, 10)
case("rapid reset (many streams opened and cancelled) ends the connection", [ENHANCE_YOUR_CALM, "closed"], got)
c.close()

# The server survived all of it.
c = fresh()
c.send(H(1, get_headers()))
case("still serving after every case", 200, status_of(c, 1))
c.close()

failed = results.count(False)
print(f"{len(results) - failed}/{len(results)} cases passed, {len(gaps)} known gaps (connection closed, "
      f"other error code)")
sys.exit(1 if failed else 0)
