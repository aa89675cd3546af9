#!/usr/bin/python3
"""fw-stall_http: a stuck web server never stops the CAN output (issue 19, part 5).

The firmware in QEMU, then for STALL_S seconds its web server is kept busy by clients that never
finish anything, all at once:
  - slowloris: SLOW_N connections that send a request header line a second and never end it
    (reconnecting when the server closes them);
  - slow readers: clients that ask for the biggest UI file with a 2 kB receive buffer and read it
    one byte a second;
  - WebSocket clients that subscribe to everything (status, events, log, CAN) with a 2 kB receive
    buffer and never read.
Meanwhile the CAN log (fwrig's slcan follower) must show 0x351 (the charge limits) at its period:
no gap of GAP_MAX (1.5 s) or more (can.fast_period_ms is 1 s) and at least 80 % of the rate measured
before the stall; the console
must show no task-watchdog message, panic or second boot. Afterwards the web answers again (within 60 s: esp_http_server has one task and no header time-out,
so the web itself is unavailable while a slowloris client holds it; docs/porting.md), and
GET /api/system "platform" carries the reset counts (all 0 after a power-on in QEMU) and the CAN
controller's counters (no bus-off), /metrics their tinybms_resets_total and tinybms_can_bus_off_total.
(The MQTT side's stall is fw-mqtt's: a stopped broker.)"""
import os
import socket
import struct
import threading
import time

import fwrig

tbtest = fwrig.tbtest
STALL_S = 15
BASE_S = 5     # 0x351's rate is measured this long before the stall
GAP_MAX = 1.5  # s: can.fast_period_ms (1 s) bounds the gap between two 0x351, plus QEMU's slack
WEB_BACK_S = 60
SLOW_N = 16
READERS = 2
WS_N = 2
RCVBUF = 2048


def small_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.settimeout(10)
    return s


def ws_frame(text):
    """A masked client text frame."""
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    head += bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(data))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class Stallers:
    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.n = {"slow_conns": 0, "slow_reconnects": 0, "reader_bytes": 0, "ws_open": 0, "ws_refused": 0}
        self.socks = []
        # the clients that need an answer first, then the slowloris that holds the server
        self.threads = [threading.Thread(target=self.ws, daemon=True) for _ in range(WS_N)]
        self.threads += [threading.Thread(target=self.reader, daemon=True) for _ in range(READERS)]
        self.loris = threading.Thread(target=self.slowloris, daemon=True)

    def count(self, k, d=1):
        with self.lock:
            self.n[k] += d

    def keep(self, s):
        with self.lock:
            self.socks.append(s)

    def start(self):
        for t in self.threads:
            t.start()
        # WebSocket clients subscribed and readers being fed before the slowloris starts
        tbtest.wait_for(lambda: self.n["ws_open"] + self.n["ws_refused"] >= WS_N and self.n["reader_bytes"] >= READERS,
                        10, step=0.1)
        self.loris.start()
        self.threads.append(self.loris)

    def slowloris(self):
        conns = []
        while not self.stop.is_set():
            while len(conns) < SLOW_N and not self.stop.is_set():
                s = small_socket()
                try:
                    s.connect(("127.0.0.1", self.port))
                    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
                    conns.append(s)
                    self.keep(s)
                    self.count("slow_conns")
                except OSError:
                    s.close()
                    break
            alive = []
            for s in conns:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                    alive.append(s)
                except OSError:
                    self.count("slow_reconnects")
                    s.close()
            conns = alive
            self.stop.wait(1.0)

    def reader(self):
        while not self.stop.is_set():
            s = small_socket()
            try:
                s.connect(("127.0.0.1", self.port))
                self.keep(s)
                s.sendall(b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n")
                while not self.stop.is_set():
                    b = s.recv(1)
                    if not b:
                        break
                    self.count("reader_bytes")
                    self.stop.wait(1.0)
            except OSError:
                pass
            s.close()
            self.stop.wait(0.5)

    def ws(self):
        s = small_socket()
        try:
            s.connect(("127.0.0.1", self.port))
            self.keep(s)
            s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nOrigin: http://127.0.0.1:{self.port}\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                c = s.recv(1)
                if not c:
                    break
                head += c
            if not head.startswith(b"HTTP/1.1 101"):
                self.count("ws_refused")
                return
            self.count("ws_open")
            s.sendall(ws_frame('{"subscribe":["status","events","log","can"],"log_level":"debug"}'))
            self.stop.wait()  # never read again
        except OSError:
            self.count("ws_refused")

    def close(self):
        self.stop.set()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5)


def main(rig):
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    time.sleep(3)  # the first seconds after boot read the BMS's settings: fewer live snapshots
    tb = time.monotonic()
    time.sleep(BASE_S)
    before = b.can.since(tb, 0x351)
    rate = len(before) / BASE_S
    C.check(len(before) >= 2, f"0x351 on the bus before the stall ({len(before)} frames in {BASE_S} s)")

    stall = Stallers(b.port)
    t0 = time.monotonic()
    stall.start()
    time.sleep(STALL_S)
    t1 = time.monotonic()
    frames = [f[0] for f in b.can.since(t0, 0x351)]
    stall.close()
    marks = [t0] + frames + [t1]
    longest = max(y - x for x, y in zip(marks, marks[1:]))
    print(f"stall: {stall.n}; 0x351 during {STALL_S} s: {len(frames)} frames ({rate:.1f}/s before), longest gap "
          f"{longest:.2f} s", flush=True)
    C.check(stall.n["slow_conns"] >= SLOW_N, f"the slowloris connections were opened ({stall.n['slow_conns']})")
    C.check(stall.n["ws_open"] >= 1, f"at least one WebSocket client subscribed and stopped reading ({stall.n})")
    C.check(stall.n["reader_bytes"] >= READERS, f"the slow readers were being fed ({stall.n})")
    C.check(len(frames) >= 0.8 * rate * STALL_S and longest < GAP_MAX,
            f"0x351 kept its rate while the web server was stalled: {len(frames)} frames in {STALL_S} s "
            f"({rate:.1f}/s before), longest gap {longest:.2f} s (< {GAP_MAX} s)")

    # the web comes back once the stallers are gone (esp_http_server has one task and no header
    # time-out: each connection it was blocked on costs up to web.request_timeout_ms, 10 s)
    t2 = time.monotonic()
    ok = tbtest.wait_for(lambda: isinstance(b.get("/api/status", timeout=2)[1], dict), WEB_BACK_S, step=0.5)
    C.check(ok, f"the web answers again within {WEB_BACK_S} s after the stalling clients left")
    print(f"web back {time.monotonic() - t2:.1f} s after the stalling clients left", flush=True)
    code, sysinfo = b.get("/api/system", timeout=5)
    pf = sysinfo.get("platform") if isinstance(sysinfo, dict) else None
    C.check(isinstance(pf, dict) and pf.get("reset_counts") == {"brownout": 0, "panic": 0, "watchdog": 0},
            f"/api/system platform.reset_counts all 0 after a power-on: {pf and pf.get('reset_counts')}")
    cb = pf.get("can_bus") if isinstance(pf, dict) else None
    C.check(isinstance(cb, dict) and cb.get("bus_off") == 0 and "recoveries" in cb and "error_passive" in cb,
            f"/api/system platform.can_bus counts bus-off (0 here): {cb}")
    code, metrics = b.get("/metrics", timeout=5)
    text = metrics if isinstance(metrics, str) else ""
    C.check('tinybms_resets_total{reason="brownout"} 0' in text and "tinybms_can_bus_off_total 0" in text,
            "/metrics has tinybms_resets_total and tinybms_can_bus_off_total")
    time.sleep(1)
    rig.check_no_crash(b)


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-stall_http"))
