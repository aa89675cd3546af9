#!/usr/bin/python3
"""The WebSocket /ws against the running daemon in demo mode (Debian python3-websocket).

1. Protocol: hello, live status at web.ws_rate_hz with the newest view each time, subscriptions
   (log lines, CAN table), bad client messages counted and ignored, cross-origin handshakes and
   clients beyond web.ws_max_clients refused, the login rule when the read-only view is closed.
2. RFC 6455 (raw sockets, every bit under control): each frame a client may not send fails the
   connection with the right close code (1002 protocol error, unmasked frames included, 1003 binary, 1007 not UTF-8, 1009
   message too big, the limit applying to the sum of a fragmented message), is counted in
   tinybms_ws_protocol_errors_total{reason} and leaves the daemon serving; a valid fragmented
   message with a ping between its fragments works; a client's close is answered; a cross-origin
   handshake is answered 403 with the JSON error, not a bare close. The MASK bit is checked by the
   connection gate, also on a frame sent in the same write as the handshake; a handshake that is
   not the first request of its connection is refused (400): the gate would not scan it.
3. Slow client: one client with a tiny receive buffer never reads. Meanwhile the CAN frames the
   owner thread writes (the demo's candump log) keep their cadence - 0x351 at least every second -
   and a second client keeps receiving every update at the configured rate. The stalled client
   is dropped once its socket stays full for web.request_timeout_ms, and that is counted.
"""
import base64
import json
import os
import re
import socket
import struct
import sys
import threading
import time

import requests  # Debian python3-requests
import websocket  # Debian python3-websocket

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("ws")
RATE = 10
MAX_CLIENTS = 3  # web.ws_max_clients
BURST = 12
SLOW_TEST_S = 14.0


def ws_url(gw):
    return gw.base.replace("http://", "ws://") + "/ws"


def connect(gw, **kw):
    kw.setdefault("origin", gw.base)
    return websocket.create_connection(ws_url(gw), timeout=5, **kw)


def recv_json(ws, timeout=5.0):
    ws.settimeout(timeout)
    return json.loads(ws.recv())


def wait_for(ws, typ, timeout=5.0, pred=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = recv_json(ws, max(0.1, deadline - time.time()))
        except websocket.WebSocketTimeoutException:
            break
        if m.get("type") == typ and (pred is None or pred(m)):
            return m
    return None


def metric(gw, name):
    t = requests.get(gw.base + "/metrics", timeout=5).text
    m = re.search(r"^tinybms_" + name + r" (\d+)", t, re.M)
    return int(m.group(1)) if m else None


def rejected(gw, *reasons):
    counts = tbtest.rejected_counts(requests.get(gw.base + "/metrics", timeout=5).text)
    return sum(counts.get(r, 0) for r in reasons)


def wait_clients(gw, n, timeout=5.0):
    return tbtest.wait_for(lambda: metric(gw, "ws_clients") == n, timeout) is not None


# ---- a raw WebSocket client: the frames the library would never send --------------------------------

def raw_handshake(gw, origin=None, after=b"", s=None):
    """(socket, status line, headers+body text, bytes after the header). after: bytes sent in the
    same write as the handshake; s: an open connection to send it on."""
    host, port = gw.base.replace("http://", "").split(":")
    s = s or socket.create_connection((host, int(port)), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ["GET /ws HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
           f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Origin: {origin or gw.base}"]
    s.sendall(("\r\n".join(req) + "\r\n\r\n").encode() + after)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return s, head.split(b"\r\n")[0].decode(errors="replace"), head.decode(errors="replace"), rest


def frame(op, payload=b"", fin=True, rsv=0, mask=True):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + bytes(c ^ k[i & 3] for i, c in enumerate(payload))


class RawReader:
    """Server frames from a raw socket."""

    def __init__(self, s, rest=b""):
        self.s, self.buf = s, rest

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def frame(self, timeout=5.0):
        """(first header byte, payload)"""
        dl = time.time() + timeout
        self._need(2, dl)
        n, off = self.buf[1] & 127, 2
        if n == 126:
            self._need(4, dl)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, dl)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, dl)
        b0, p = self.buf[0], self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0, p

    def until(self, op, timeout=5.0):
        """The payload of the next frame with this opcode (data frames skipped); None if the
        connection ends or nothing comes in time."""
        dl = time.time() + timeout
        try:
            while time.time() < dl:
                b0, p = self.frame(dl - time.time())
                if b0 & 0x0F == op:
                    return p
        except (EOFError, OSError):
            return None
        return None

    def closed_by_server(self, timeout=3.0):
        """After the close frame: the server ends the TCP connection."""
        dl = time.time() + timeout
        try:
            while time.time() < dl:
                self.frame(dl - time.time())
        except EOFError:
            return True
        except OSError:
            return False
        return False


def raw_open(gw):
    s, status, _, rest = raw_handshake(gw)
    C.check(status.startswith("HTTP/1.1 101"), f"raw handshake accepted: {status}")
    r = RawReader(s, rest)
    r.until(0x1)  # hello
    return s, r


def ws_errors(gw):
    t = requests.get(gw.base + "/metrics", timeout=5).text
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^tinybms_ws_protocol_errors_total\{reason="(\w+)"\} (\d+)', t, re.M)}


def rfc6455(gw):
    """Frames a client must not send fail the connection with the right close code, counted."""
    big = b" " * 300
    cases = [
        ("unknown data opcode 0x3", [frame(0x3, b"x")], 1002, "protocol_error"),
        ("unknown control opcode 0xB", [frame(0xB)], 1002, "protocol_error"),
        ("RSV1 set (no extension negotiated)", [frame(0x1, b"{}", rsv=4)], 1002, "protocol_error"),
        ("RSV2 set on a ping", [frame(0x9, rsv=2)], 1002, "protocol_error"),
        ("ping of 126 bytes", [frame(0x9, b"p" * 126)], 1002, "protocol_error"),
        ("pong of 126 bytes", [frame(0xA, b"p" * 126)], 1002, "protocol_error"),
        ("fragmented ping", [frame(0x9, b"p", fin=False)], 1002, "protocol_error"),
        ("fragmented close", [frame(0x8, b"\x03\xe8", fin=False)], 1002, "protocol_error"),
        ("continuation without a start", [frame(0x0, b"{}")], 1002, "protocol_error"),
        ("new message inside a fragmented one", [frame(0x1, b"{", fin=False), frame(0x1, b"{}")], 1002,
         "protocol_error"),
        ("close with a 1-byte payload", [frame(0x8, b"\x03")], 1002, "protocol_error"),
        ("close with code 1005 (reserved)", [frame(0x8, b"\x03\xed")], 1002, "protocol_error"),
        ("unmasked text frame", [frame(0x1, b'{"subscribe":["can"]}', mask=False)], 1002, "protocol_error"),
        ("unmasked close frame", [frame(0x8, b"\x03\xe8", mask=False)], 1002, "protocol_error"),
        ("masked fragment, then an unmasked one", [frame(0x1, b"{", fin=False), frame(0x0, b"}", mask=False)], 1002,
         "protocol_error"),
        ("binary message", [frame(0x2, b"{}")], 1003, "unsupported_data"),
        ("text that is not UTF-8", [frame(0x1, b'{"subscribe":["\xc3\x28"]}')], 1007, "invalid_utf8"),
        ("one frame of 513 bytes", [frame(0x1, b" " * 513)], 1009, "too_big"),
        ("fragments of 300 + 300 bytes", [frame(0x1, big, fin=False), frame(0x0, big)], 1009, "too_big"),
        ("fragments of 200 x 3 bytes", [frame(0x1, big[:200], fin=False), frame(0x0, big[:200], fin=False),
                                        frame(0x0, big[:200])], 1009, "too_big"),
    ]
    for name, frames, code, reason in cases:
        before = ws_errors(gw)
        s, r = raw_open(gw)
        for f in frames:
            s.sendall(f)
        p = r.until(0x8)
        got = struct.unpack("!H", p[:2])[0] if p and len(p) >= 2 else None
        C.check(got == code, f"{name}: closed with {code} ({got}, {p[2:].decode(errors='replace') if p else ''})")
        C.check(r.closed_by_server(), f"{name}: the server closes the TCP connection after the close frame")
        s.close()
        after = ws_errors(gw)
        C.check(after.get(reason, 0) - before.get(reason, 0) == 1, f"{name}: counted as {reason}")
        C.check(requests.get(gw.base + "/api/status", timeout=5).status_code == 200, f"{name}: the daemon serves on")

    # A header that declares a 2 GB frame, and nothing after it: refused on the header (1009) by the
    # gate, before civetweb 1.15 would malloc the declared length and wait for it.
    before = ws_errors(gw)
    rss0 = tbtest.proc_status(gw.proc.pid)[0]
    for _ in range(4):
        s, r = raw_open(gw)
        s.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 0x7FFFFFFF) + os.urandom(4))
        p = r.until(0x8)
        got = struct.unpack("!H", p[:2])[0] if p and len(p) >= 2 else None
        C.check(got == 1009, f"a frame declared 2 GB long: closed with 1009 at once ({got})")
        s.close()
    rss1 = tbtest.proc_status(gw.proc.pid)[0]
    C.check(ws_errors(gw).get("too_big", 0) - before.get("too_big", 0) == 4, "each counted as too_big")
    C.check(rss1 - rss0 < 64 * 1024, f"and nothing of the declared size was allocated (RSS {rss0} -> {rss1} kB)")

    # A fragmented message under the limit, a ping between its fragments: it works.
    s, r = raw_open(gw)
    head_, tail_ = b'{"subscribe":["can"],', b'"log_level":"warn"}'
    msg = head_ + b" " * (511 - len(head_) - len(tail_)) + tail_  # 511 bytes, JSON whitespace inside
    s.sendall(frame(0x1, msg[:200], fin=False) + frame(0x9, b"are you there") + frame(0x0, msg[200:400], fin=False)
              + frame(0x0, msg[400:]))
    C.check(r.until(0xA) == b"are you there", "a ping between fragments is answered with its payload")
    got_can = False
    dl = time.time() + 5
    while time.time() < dl and not got_can:
        p = r.until(0x1, dl - time.time())
        got_can = p is not None and json.loads(p).get("type") == "can"
    C.check(got_can, "a 511-byte message in three fragments is taken (the CAN table arrives)")
    # the client closes: the server answers with the same code
    s.sendall(frame(0x8, b"\x03\xe8bye"))
    p = r.until(0x8)
    C.check(p is not None and p[:2] == b"\x03\xe8", f"a client's close is answered with 1000 ({p})")
    s.close()

    # Cross-origin: an HTTP answer (403 and the JSON error), not a bare close.
    co0 = rejected(gw, "cross_origin")
    s, status, head, rest = raw_handshake(gw, origin="http://evil.example")
    body = rest
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            body += d
    except OSError:
        pass
    s.close()
    C.check(status.startswith("HTTP/1.1 403"), f"cross-origin handshake answered 403 ({status!r})")
    err = json.loads(body or b"{}").get("error") if body.startswith(b"{") else None
    C.check(err == "cross_origin", f"with the JSON error cross_origin ({body[:80]!r})")
    C.check(rejected(gw, "cross_origin") - co0 == 1, "and counted as cross_origin")

    # The MASK bit is checked by the gate. A client that sends an unmasked frame right behind its
    # handshake (before the 101 answer; civetweb would read both at once) is failed all the same:
    # the gate holds what follows the handshake until civetweb has answered it.
    before = ws_errors(gw)
    s, status, _, rest = raw_handshake(gw, after=frame(0x1, b'{"subscribe":["can"]}', mask=False))
    C.check(status.startswith("HTTP/1.1 101"), f"handshake with an unmasked frame behind it: {status}")
    r = RawReader(s, rest)
    p = r.until(0x8)
    got = struct.unpack("!H", p[:2])[0] if p and len(p) >= 2 else None
    C.check(got == 1002, f"an unmasked frame sent with the handshake: closed with 1002 ({got})")
    C.check(r.closed_by_server(), "and the server closes the TCP connection")
    s.close()
    C.check(ws_errors(gw).get("protocol_error", 0) - before.get("protocol_error", 0) == 1,
            "an unmasked frame sent with the handshake: counted as protocol_error")

    # While the server streams (status, CAN table, debug log), an unmasked frame: the gate lets the
    # server frame in progress finish before its close frame, so every frame up to it parses.
    before = ws_errors(gw)
    s, r = raw_open(gw)
    s.sendall(frame(0x1, b'{"subscribe":["status","events","log","can"],"log_level":"debug"}'))
    got_can = False
    dl = time.time() + 5
    while time.time() < dl and not got_can:
        p = r.until(0x1, dl - time.time())
        got_can = p is not None and json.loads(p).get("type") == "can"
    C.check(got_can, "streaming: the CAN table arrives")
    s.sendall(frame(0x1, b"{}", mask=False))
    ops, code = [], None
    try:
        dl = time.time() + 5
        while time.time() < dl:
            b0, p = r.frame(dl - time.time())
            ops.append(b0 & 0x0F)
            if b0 & 0x0F == 0x8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
                break
            json.loads(p)  # a whole server frame, not one cut by the close frame
    except (EOFError, OSError, ValueError) as e:
        C.check(False, f"streaming, then an unmasked frame: the frames before the close parse ({e!r}, {ops})")
    C.check(code == 1002, f"streaming, then an unmasked frame: closed with 1002 ({code}, after {len(ops) - 1} frames)")
    C.check(r.closed_by_server(), "streaming, then an unmasked frame: the server closes the TCP connection")
    s.close()
    C.check(ws_errors(gw).get("protocol_error", 0) - before.get("protocol_error", 0) == 1,
            "streaming, then an unmasked frame: counted once")

    # The gate scans only connections that begin with the handshake: one after another request on
    # a kept-alive connection is refused (browsers open a connection of their own per WebSocket).
    bad0 = rejected(gw, "bad_value")
    host, port = gw.base.replace("http://", "").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(f"GET /api/status HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(body) < n:
        body += s.recv(65536)
    C.check(head.startswith(b"HTTP/1.1 200") and len(body) == n, "keep-alive: GET /api/status first")
    s, status, _, rest = raw_handshake(gw, s=s)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            rest += d
    except OSError:
        pass
    C.check(status.startswith("HTTP/1.1 400"), f"a handshake as the second request is refused with 400 ({status})")
    C.check(b'"bad_request"' in rest, f"with the JSON error bad_request ({rest[:80]!r})")
    s.close()
    C.check(rejected(gw, "bad_value") - bad0 == 1, "and counted as bad_value")


def can_gaps(path, since, until, can_id="351"):
    """Largest gap (s) between frames of can_id in the candump log within [since, until]."""
    ts = []
    with open(path) as f:
        for line in f:
            m = re.match(r"\((\d+\.\d+)\) \S+ ([0-9A-F]+)#", line)
            if m and m.group(2) == can_id:
                t = float(m.group(1))
                if since <= t <= until:
                    ts.append(t)
    if len(ts) < 2:
        return None, len(ts)
    return max(b - a for a, b in zip(ts, ts[1:])), len(ts)


def protocol(gw):
    ws = connect(gw)
    hello = recv_json(ws)
    C.check(hello["type"] == "hello" and hello["subscribed"] == ["status", "events"], f"hello: {hello}")
    C.check(hello["rate_hz"] == RATE, "hello announces the rate")
    seqs, t0 = [], time.time()
    while time.time() - t0 < 2.0:
        m = recv_json(ws)
        if m["type"] == "status":
            seqs.append(m["data"]["seq"])
            C.check("limits" in m["data"] and "bms" in m["data"], "status message carries /api/status") if len(seqs) == 1 else None
    C.check(len(seqs) >= RATE, f"status at about {RATE} Hz: {len(seqs)} in 2 s")
    C.check(all(b > a for a, b in zip(seqs, seqs[1:])), "every status is newer than the last")
    # The newest view: once GET /api/status has shown view S, the WebSocket catches up to S
    # (a message already in flight may be older). Not a timing bound: a loaded machine (the
    # sanitizer run next to other tests) may take longer between the two reads.
    st = requests.get(gw.base + "/api/status", timeout=5).json()
    m = wait_for(ws, "status", pred=lambda m: m["data"]["seq"] >= st["seq"])
    C.check(m is not None, f"the WebSocket sends the newest view (seq {st['seq']} of /api/status reached)")

    ws.send(json.dumps({"subscribe": ["status", "log", "can"], "log_level": "warn"}))
    m = wait_for(ws, "can")
    C.check(m is not None and any(f["id"] == "0x351" for f in m["data"]["frames"]), "CAN table while subscribed")
    requests.put(gw.base + "/api/config", json={}, headers={"Origin": "http://evil.example"}, timeout=5)
    m = wait_for(ws, "log", pred=lambda m: any("cross-origin" in e["msg"] for e in m["entries"]))
    C.check(m is not None, "log lines arrive while subscribed")
    if m:
        C.check(all(e["level"] in ("warn", "error") for e in m["entries"]), "log level filter applies")
    before = rejected(gw, "bad_json", "bad_value")
    ws.send("not json")
    ws.send(json.dumps({"subscribe": ["everything"]}))
    ws.send(json.dumps({"subscribe": "status"}))
    time.sleep(0.3)
    after = rejected(gw, "bad_json", "bad_value")
    C.check(after - before == 3, f"bad client messages counted ({after - before})")
    C.check(wait_for(ws, "status") is not None, "the connection survives bad messages")
    ws.send(json.dumps({"subscribe": ["events"]}))
    time.sleep(0.5)
    ws.settimeout(0.1)
    try:
        while True:
            ws.recv()
    except websocket.WebSocketTimeoutException:
        pass
    C.check(wait_for(ws, "status", timeout=1.0) is None, "unsubscribed status stops")
    ws.close()

    try:
        bad = connect(gw, origin="http://evil.example")
        bad.close()
        C.check(False, "cross-origin handshake refused")
    except (websocket.WebSocketException, OSError):
        C.check(True, "cross-origin handshake refused")

    C.check(wait_clients(gw, 0), "the closed clients are gone (ws_clients 0)")
    conns = [connect(gw) for _ in range(MAX_CLIENTS)]
    try:
        extra = connect(gw)
        extra.close()
        C.check(False, "a client beyond web.ws_max_clients is refused")
    except (websocket.WebSocketException, OSError):
        C.check(True, "a client beyond web.ws_max_clients is refused")
    for c in conns:
        c.close()

    # Handshakes at the same moment: the slot is taken when the handshake is accepted, not when
    # the client is ready, so no burst gets more than web.ws_max_clients through.
    C.check(wait_clients(gw, 0), "the closed clients are gone (ws_clients 0)")
    busy0 = rejected(gw, "busy")
    burst, lock = [], threading.Lock()
    go = threading.Barrier(BURST)

    def one():
        go.wait()
        try:
            c = connect(gw)
        except (websocket.WebSocketException, OSError):
            return
        with lock:
            burst.append(c)

    threads = [threading.Thread(target=one) for _ in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    C.check(len(burst) == MAX_CLIENTS, f"{BURST} handshakes at once: {len(burst)} accepted, {MAX_CLIENTS} allowed")
    C.check(rejected(gw, "busy") - busy0 == BURST - len(burst), "every refused handshake is counted (busy)")
    C.check(metric(gw, "ws_clients") == len(burst), "ws_clients counts the accepted ones")
    for c in burst:
        c.close()


def slow_client(gw):
    C.check(wait_clients(gw, 0), "the burst's clients are gone (ws_clients 0)")
    good = connect(gw)
    recv_json(good)
    slow = websocket.create_connection(ws_url(gw), timeout=5, origin=gw.base,
                                       sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 2048),))
    # ask the stalled client for the most data, then never read again
    slow.send(json.dumps({"subscribe": ["status", "events", "log", "can"], "log_level": "debug"}))
    t_start = time.time()
    arrivals, seqs = [], []
    while time.time() - t_start < SLOW_TEST_S:
        m = recv_json(good, 3.0)
        if m["type"] == "status":
            arrivals.append(time.time())
            seqs.append(m["data"]["seq"])
    t_end = time.time()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    rate = len(arrivals) / (t_end - t_start)
    print(f"good client: {len(arrivals)} updates in {t_end - t_start:.1f} s ({rate:.1f}/s), largest gap "
          f"{max(gaps) * 1000:.0f} ms, while a stalled client was connected")
    C.check(rate >= RATE * 0.7, f"the other client keeps its rate ({rate:.1f}/s, configured {RATE})")
    C.check(max(gaps) < 1.0, f"the other client never waits a second ({max(gaps):.2f} s)")
    C.check(all(b > a for a, b in zip(seqs, seqs[1:])), "the other client always gets newer views")
    gap, n = can_gaps(os.path.join(gw.state_dir, "can.log"), t_start, t_end)
    print(f"CAN 0x351: {n} frames in the window, largest gap {gap * 1000 if gap else -1:.0f} ms")
    C.check(gap is not None and gap <= 1.0, f"0x351 at least every second while a client stalls (gap {gap})")
    dropped = metric(gw, "ws_clients_dropped_total")
    skipped = metric(gw, "ws_updates_skipped_total")
    print(f"stalled client: dropped counter {dropped}, skipped updates {skipped}")
    C.check(dropped is not None and dropped >= 1, "the stalled client was dropped and counted")
    C.check(metric(gw, "ws_clients") == 1, "the dropped client's connection is closed")
    C.check("dropped: it stopped reading" in gw.log(), "the drop is logged")
    good.close()
    try:
        slow.close(timeout=0.2)
    except Exception:
        pass


def read_only_closed(gw):
    s = requests.Session()
    s.post(gw.base + "/api/auth/setup", json={"code": gw.setup_code(), "password": "ws-test-password"},
           headers={"Origin": gw.base}, timeout=10).raise_for_status()
    s.put(gw.base + "/api/config", json={"web": {"read_only_open": False}}, headers={"Origin": gw.base},
          timeout=10).raise_for_status()
    time.sleep(1.2)
    try:
        c = connect(gw)
        c.close()
        C.check(False, "no WebSocket without login when read_only_open is false")
    except (websocket.WebSocketException, OSError):
        C.check(True, "no WebSocket without login when read_only_open is false")
    cookie = "tbgw_session=" + s.cookies.get("tbgw_session")
    c = connect(gw, cookie=cookie)
    C.check(recv_json(c)["type"] == "hello", "WebSocket with the session cookie")
    c.close()


def main():
    t0 = time.time()
    gw = tbtest.start_demo(config={"web": {"ws_rate_hz": RATE, "ws_max_clients": MAX_CLIENTS, "request_timeout_ms": 2000}})
    protocol(gw)
    rfc6455(gw)
    slow_client(gw)
    read_only_closed(gw)
    print(f"{time.time() - t0:.1f} s")
    gw.stop_checked(C)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
