"""Load for the daemon's web server: a fleet of WebSocket clients and a mixed REST client.

WsFleet runs N raw WebSocket clients (RFC 6455, no extension) in ONE thread with selectors, so
that hundreds of connections cost the test little CPU. Clients come in three kinds:
  - steady: connect once, subscribe (status + events, some also log or can), read everything;
  - slow:   a small receive buffer (SO_RCVBUF 4 kB), read at most 2 kB every 0.3-1 s: the
            gateway's writer must skip updates for them (latest value), never queue;
  - churn:  stay connected 1-8 s, close (a close frame, or just the TCP connection), reconnect.
Each client counts what it got; the fleet counts handshakes, refusals and broken connections.

RestMix runs a loop of mixed requests (JSON documents, metrics, logs, history, static files,
unknown paths, malformed requests) on new and kept-alive connections.
Used by test_soak_daemon.py (make test: short; make soak: SOAK_SECONDS), as a process of its own
(main(): python3 loadgen.py HOST:PORT --ws N --rest RATE)."""
import base64
import http.client
import json
import os
import random
import re
import selectors
import socket
import struct
import threading
import time


def _frame(opcode, payload):
    """A masked client frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return hdr + mask + body


STATUS_SEQ = re.compile(rb'\{"type":"status","data":\{"seq":(\d+),')
SUBS = [
    {"subscribe": ["status", "events"]},
    {"subscribe": ["status", "events", "log"], "log_level": "info"},
    {"subscribe": ["status", "can"]},
    {"subscribe": ["status"]},
]


class _Client:
    def __init__(self, idx, kind, rng):
        self.idx, self.kind, self.rng = idx, kind, rng
        self.sock = None
        self.state = "idle"          # idle -> connecting -> handshake -> open
        self.rx = b""
        self.tx = b""
        self.next_at = 0.0           # idle: when to connect; open+churn: when to leave; slow: next read
        self.messages = 0
        self.bytes = 0
        self.status_seqs = 0
        self.bad_order = 0
        self.bad_json = 0
        self.last_seq = 0
        self.connects = 0
        self.last_read = 0.0         # when data last came from the socket (monotonic)
        self.opened_at = 0.0


class WsFleet(threading.Thread):
    def __init__(self, hostport, n=200, slow=0.15, churn=0.25, seed=1, path="/ws"):
        super().__init__(daemon=True)
        self.host, port = hostport.rsplit(":", 1)
        self.addr = (self.host, int(port))
        self.path = path
        self.rng = random.Random(seed)
        self.sel = selectors.DefaultSelector()
        self.halt = False
        self.n_slow, self.n_churn = int(n * slow), int(n * churn)
        kinds = ["slow"] * self.n_slow + ["churn"] * self.n_churn
        kinds += ["steady"] * (n - len(kinds))
        self.clients = [_Client(i, k, random.Random(seed * 1000 + i)) for i, k in enumerate(kinds)]
        for c in self.clients:  # spread the first connections over the first two seconds
            c.next_at = time.monotonic() + c.rng.uniform(0.0, 2.0)
        self.lock = threading.Lock()
        self.handshakes = self.refused = self.broken = self.closed_by_us = 0
        self.errors = []
        self.max_lag = 0.0           # the longest pause of this thread's loop: a stalled load generator

    # ---- figures ----------------------------------------------------------------------------
    def open_count(self):
        return sum(1 for c in self.clients if c.state == "open")

    def summary(self):
        with self.lock:
            by = {}
            for c in self.clients:
                k = by.setdefault(c.kind, {"clients": 0, "messages": 0, "bytes": 0, "connects": 0, "bad_order": 0,
                                           "bad_json": 0})
                k["clients"] += 1
                k["messages"] += c.messages
                k["bytes"] += c.bytes
                k["connects"] += c.connects
                k["bad_order"] += c.bad_order
                k["bad_json"] += c.bad_json
            return {"handshakes": self.handshakes, "refused": self.refused, "broken": self.broken,
                    "closed_by_us": self.closed_by_us, "open": self.open_count(), "kinds": by,
                    "errors": self.errors[:5], "max_lag_s": round(self.max_lag, 2)}

    # ---- one client -------------------------------------------------------------------------
    def _connect(self, c, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if c.kind == "slow":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            s.connect(self.addr)
        except BlockingIOError:
            pass
        except OSError as e:
            s.close()
            self._broken(c, now, f"connect: {e}")
            return
        key = base64.b64encode(os.urandom(16)).decode()
        c.tx = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.addr[1]}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        c.sock, c.state, c.rx = s, "handshake", b""
        c.connects += 1
        c.last_seq = 0
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def _close(self, c, now, reconnect_in):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        c.sock, c.state, c.tx, c.rx = None, "idle", b"", b""
        c.next_at = now + reconnect_in

    def _broken(self, c, now, why):
        with self.lock:
            self.broken += 1
            if len(self.errors) < 20:
                # how long the client had read nothing, and how long it had been open: a server may
                # close a client that stops reading (web.request_timeout_ms), never one that reads
                quiet = now - c.last_read if c.last_read else None
                self.errors.append(f"{c.kind}#{c.idx}: {why}" + (
                    f" (open {now - c.opened_at:.1f} s, nothing read for {quiet:.1f} s)" if quiet is not None and c.opened_at else ""))
        self._close(c, now, c.rng.uniform(0.5, 2.0))

    def _opened(self, c, now):
        c.state = "open"
        c.opened_at = c.last_read = now
        with self.lock:
            self.handshakes += 1
        sub = SUBS[c.idx % len(SUBS)]
        c.tx += _frame(0x1, json.dumps(sub).encode())
        if c.kind == "churn":
            c.next_at = now + c.rng.uniform(1.0, 8.0)
        elif c.kind == "slow":
            c.next_at = now + c.rng.uniform(0.3, 1.0)

    def _parse(self, c, now):
        while True:
            if c.state == "handshake":
                end = c.rx.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, c.rx = c.rx[:end], c.rx[end + 4:]
                if not head.startswith(b"HTTP/1.1 101"):
                    with self.lock:
                        self.refused += 1
                    self._close(c, now, c.rng.uniform(1.0, 3.0))
                    return
                self._opened(c, now)
                continue
            if len(c.rx) < 2:
                return
            b0, b1 = c.rx[0], c.rx[1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                if len(c.rx) < 4:
                    return
                n, off = struct.unpack("!H", c.rx[2:4])[0], 4
            elif n == 127:
                if len(c.rx) < 10:
                    return
                n, off = struct.unpack("!Q", c.rx[2:10])[0], 10
            if len(c.rx) < off + n:
                return
            payload, c.rx = c.rx[off:off + n], c.rx[off + n:]
            op = b0 & 0x0f
            if op == 0x8:  # the server closes
                self._broken(c, now, "close frame from the server")
                return
            if op == 0x9:  # ping -> pong
                c.tx += _frame(0xA, payload)
                continue
            if op != 0x1:
                continue
            c.messages += 1
            c.bytes += len(payload)
            m = STATUS_SEQ.match(payload)
            if m:  # the status document starts with its seq: no need to parse all of it
                seq = int(m.group(1))
                if c.messages % 50 == 1:  # now and then the whole message must be JSON
                    try:
                        json.loads(payload)
                    except ValueError:
                        c.bad_json += 1
                c.bad_order += seq <= c.last_seq
                c.last_seq = seq
                c.status_seqs += 1

    def _io(self, c, mask, now):
        if mask & selectors.EVENT_WRITE and c.tx:
            try:
                k = c.sock.send(c.tx)
                c.tx = c.tx[k:]
            except BlockingIOError:
                pass
            except OSError as e:
                self._broken(c, now, f"send: {e}")
                return
        if mask & selectors.EVENT_READ:
            limit = 2048 if (c.kind == "slow" and c.state == "open") else 65536
            try:
                data = c.sock.recv(limit)
            except BlockingIOError:
                data = None
            except OSError as e:
                self._broken(c, now, f"recv: {e}")
                return
            if data == b"":
                self._broken(c, now, "connection closed by the server")
                return
            if data:
                c.last_read = now
                c.rx += data
                self._parse(c, now)
                if c.sock is None:
                    return
                if c.kind == "slow" and c.state == "open":
                    c.next_at = now + c.rng.uniform(0.3, 1.0)
        self._rearm(c, now)

    def _rearm(self, c, now):
        if c.sock is None:
            return
        ev = selectors.EVENT_WRITE if c.tx else 0
        if not (c.kind == "slow" and c.state == "open" and now < c.next_at):
            ev |= selectors.EVENT_READ
        try:
            if ev:
                self.sel.modify(c.sock, ev, c)
            else:
                self.sel.unregister(c.sock)
        except KeyError:
            if ev:
                self.sel.register(c.sock, ev, c)

    def run(self):
        last = time.monotonic()
        while not self.halt:
            now = time.monotonic()
            self.max_lag = max(self.max_lag, now - last)
            last = now
            for c in self.clients:
                if c.state == "idle" and now >= c.next_at:
                    self._connect(c, now)
                elif c.state == "open" and c.kind == "churn" and now >= c.next_at:
                    if c.rng.random() < 0.5:
                        try:
                            c.sock.send(_frame(0x8, struct.pack("!H", 1000)))
                        except OSError:
                            pass
                    with self.lock:
                        self.closed_by_us += 1
                    self._close(c, now, c.rng.uniform(0.2, 2.0))
                elif c.state == "open" and c.kind == "slow" and now >= c.next_at:
                    self._rearm(c, now)
            for key, mask in self.sel.select(timeout=0.05):
                self._io(key.data, mask, time.monotonic())
        for c in self.clients:
            self._close(c, time.monotonic(), 0)

    def stop(self):
        self.halt = True
        self.join(timeout=10)


# Requests of the REST mix: (method, path, body). Paths the gateway answers, ones it does not,
# and a few that it must refuse.
REST = [
    ("GET", "/api/status", None), ("GET", "/api/status", None), ("GET", "/api/status", None),
    ("GET", "/metrics", None), ("GET", "/api/system", None), ("GET", "/api/energy", None),
    ("GET", "/api/config", None), ("GET", "/api/config/schema", None), ("GET", "/api/logs?limit=50", None),
    ("GET", "/api/history?range=1h&points=120", None), ("GET", "/api/history.csv?range=1h", None),
    ("GET", "/api/can/frames", None), ("GET", "/api/bms/settings", None), ("GET", "/api/bms/events", None),
    ("GET", "/api/auth", None), ("GET", "/", None), ("GET", "/app.js", None), ("GET", "/nope", None),
    ("GET", "/api/nope", None), ("PUT", "/api/config", b'{"charge":'),  # unauthenticated or bad JSON: refused
]


class RestMix(threading.Thread):
    """Mixed REST requests, `rate` a second, half on a kept-alive connection, half on new ones."""

    def __init__(self, hostport, rate=20.0, seed=2):
        super().__init__(daemon=True)
        self.hostport = hostport
        self.rate = rate
        self.rng = random.Random(seed)
        self.halt = False
        self.done = self.failed = 0
        self.codes = {}

    def run(self):
        keep = None
        while not self.halt:
            method, path, body = self.rng.choice(REST)
            fresh = self.rng.random() < 0.5
            try:
                if fresh or keep is None:
                    conn = http.client.HTTPConnection(self.hostport, timeout=5)
                else:
                    conn = keep
                headers = {"Content-Type": "application/json"} if body else {}
                if self.rng.random() < 0.3:
                    headers["Accept-Encoding"] = "gzip"
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                self.codes[r.status] = self.codes.get(r.status, 0) + 1
                self.done += 1
                if fresh:
                    conn.close()
                else:
                    keep = conn
            except (OSError, http.client.HTTPException):
                self.failed += 1
                if keep is not None:
                    keep.close()
                keep = None
            time.sleep(self.rng.expovariate(self.rate))
        if keep is not None:
            keep.close()

    def stop(self):
        self.halt = True
        self.join(timeout=10)


def main():
    """python3 loadgen.py HOST:PORT [--ws N] [--rest RATE] [--seed S]: runs until stdin closes (or
    SIGTERM), then prints one JSON line: {"fleet": WsFleet.summary(), "rest": {...}}. A process of
    its own, so that the test's own clients never wait for this one's Python lock."""
    import argparse
    import signal
    import sys
    ap = argparse.ArgumentParser()
    ap.add_argument("hostport")
    ap.add_argument("--ws", type=int, default=200)
    ap.add_argument("--rest", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args()
    fleet = WsFleet(a.hostport, n=a.ws, seed=a.seed) if a.ws > 0 else None
    rest = RestMix(a.hostport, rate=a.rest, seed=a.seed + 1) if a.rest > 0 else None
    for th in (fleet, rest):
        if th:
            th.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("started", flush=True)
    done.wait()
    out = {"fleet": None, "rest": None}
    if fleet:
        open_at_end = fleet.open_count()
        fleet.stop()
        out["fleet"] = dict(fleet.summary(), open=open_at_end)
    if rest:
        rest.stop()
        out["rest"] = {"done": rest.done, "failed": rest.failed, "codes": rest.codes}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
