#!/usr/bin/python3
"""fw-stall_http: a stuck web server never stops the CAN output (issue 19, part 5).

The firmware in QEMU, then for STALL_S seconds its web server is kept busy by clients that never
finish anything, all at once:
  - slowloris: SLOW_N connections that send a request header line a second and never end it
    (reconnecting when the server closes them);
  - slow readers: clients that ask for the biggest UI file with a 2 kB receive buffer and read it
    one byte a second (QEMU's user-mode network takes a reply whole whatever the client reads, so
    here they cost the server little; on a board each costs at most its reply's minimum-rate
    budget, unit-conn_budget);
  - WebSocket clients that subscribe to everything (status, events, log, CAN) with a 2 kB receive
    buffer and never read.
Meanwhile the CAN log (fwrig's slcan follower) must show 0x351 (the charge limits) at its period:
no gap of GAP_MAX (1.5 s) or more (can.fast_period_ms is 1 s) and at least 80 % of the rate measured
before the stall; the console must show no task-watchdog message, panic or second boot. Meanwhile
a user's GET /api/status, one after the other, must be answered every time (at least PROBES_MIN
times, each within PROBE_TIMEOUT_S): the server has one task, and the connection time budgets of
http_service.c bound what each stalling connection costs it (docs/porting.md). Before the budgets
it answered nothing until the stallers left; with budgets that ran one connection after the other
it answered in 4-30 s; with the header clocks running together and a minimum rate for replies,
in 0.1-2.3 s.
Afterwards the web answers again within WEB_BACK_S, and
GET /api/system "platform" carries the reset counts (all 0 after a power-on in QEMU) and the CAN
controller's counters (no bus-off), /metrics their tinybms_resets_total and tinybms_can_bus_off_total.
(The MQTT side's stall is fw-mqtt's: a stopped broker.)"""
import socket
import threading
import time

import fwrig

tbtest = fwrig.tbtest
STALL_S = 15
BASE_S = 5     # 0x351's rate is measured this long before the stall
GAP_MAX = 1.5  # s: can.fast_period_ms (1 s) bounds the gap between two 0x351, plus QEMU's slack
WEB_BACK_S = 15
PROBE_TIMEOUT_S = 10  # a GET /api/status during the stall must be answered within this
PROBES_MIN = 3         # ... at least this many times in STALL_S
SLOW_N = 16
READERS = 2
WS_N = 2
RCVBUF = 2048


def small_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.settimeout(10)
    return s


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
            if not fwrig.ws_handshake(s, self.port):
                self.count("ws_refused")
                return
            self.count("ws_open")
            s.sendall(fwrig.ws_frame('{"subscribe":["status","events","log","can"],"log_level":"debug"}'))
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
    # before the stall, alone on the server: after it, sockets the stallers left may still be open
    # and esp_http_server's LRU purge could close this quiet client for a new connection
    C.check(quiet_websocket(b.port), "a WebSocket client quiet for longer than the header budget is still served "
                                      "(a ping after 3 s answered, a subscription after 3 s more answered)")
    time.sleep(3)  # the first seconds after boot read the BMS's settings: fewer live snapshots
    tb = time.monotonic()
    time.sleep(BASE_S)
    before = b.can.since(tb, 0x351)
    rate = len(before) / BASE_S
    C.check(len(before) >= 2, f"0x351 on the bus before the stall ({len(before)} frames in {BASE_S} s)")

    stall = Stallers(b.port)
    t0 = time.monotonic()
    stall.start()
    # a user's GET /api/status, one after the other, while the stallers hold the server
    probes = []
    probe_stop = threading.Event()

    def probe():
        while not probe_stop.is_set():
            ts = time.monotonic()
            code, body = b.get("/api/status", timeout=PROBE_TIMEOUT_S)
            probes.append((ts - t0, time.monotonic() - ts, isinstance(body, dict)))
            probe_stop.wait(1.0)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    time.sleep(STALL_S)
    t1 = time.monotonic()
    frames = [f[0] for f in b.can.since(t0, 0x351)]
    probe_stop.set()
    prober.join(timeout=PROBE_TIMEOUT_S + 5)
    stall.close()
    marks = [t0] + frames + [t1]
    longest = max(y - x for x, y in zip(marks, marks[1:]))
    print(f"stall: {stall.n}; 0x351 during {STALL_S} s: {len(frames)} frames ({rate:.1f}/s before), longest gap "
          f"{longest:.2f} s", flush=True)
    C.check(stall.n["slow_conns"] >= SLOW_N, f"the slowloris connections were opened ({stall.n['slow_conns']})")
    C.check(stall.n["ws_open"] >= 1, f"at least one WebSocket client subscribed and stopped reading ({stall.n})")
    C.check(stall.n["reader_bytes"] >= READERS, f"the slow readers were being fed ({stall.n})")
    answered = [p for p in probes if p[2]]
    print("status probes during the stall (start s, took s, answered): " +
          ", ".join(f"{a:.1f}/{d:.1f}/{'y' if ok else 'n'}" for a, d, ok in probes), flush=True)
    C.check(len(answered) == len(probes) >= PROBES_MIN and max(d for _, d, _ in probes) < PROBE_TIMEOUT_S,
            f"the web answered a user while it was being stalled: {len(answered)} of {len(probes)} GET /api/status "
            f"answered, the slowest in {max((d for _, d, _ in probes), default=0):.1f} s (< {PROBE_TIMEOUT_S} s)")
    C.check(len(frames) >= 0.8 * rate * STALL_S and longest < GAP_MAX,
            f"0x351 kept its rate while the web server was stalled: {len(frames)} frames in {STALL_S} s "
            f"({rate:.1f}/s before), longest gap {longest:.2f} s (< {GAP_MAX} s)")

    # the web comes back once the stallers are gone
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
    n = tbtest.rejected_counts(text).get("header_timeout")
    C.check(n is not None and n >= 1,
            f"slowloris connections were closed for their header time and counted as header_timeout "
            f"({'no line' if n is None else n}; others went to the LRU purge or were open at the end)")
    time.sleep(1)
    rig.check_no_crash(b)


def quiet_websocket(port):
    """A WebSocket client that says nothing for longer than web.header_timeout_ms between frames
    keeps its connection: the budgets start at a frame's first byte, not at the last frame."""
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
        if not fwrig.ws_handshake(s, port):
            return False
        fwrig.ws_read_frame(s)  # the hello
        s.sendall(fwrig.ws_frame('{"subscribe":[]}'))  # nothing is pushed to it: it and the server are both quiet
        time.sleep(0.5)
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
        s.settimeout(10)
        time.sleep(3)
        s.sendall(fwrig.ws_frame(b"ping", opcode=0x9))
        op, data = fwrig.ws_read_frame(s)
        if (op, data) != (0xA, b"ping"):
            print(f"quiet WebSocket: expected the pong, got opcode {op:#x} {data[:40]!r}", flush=True)
            return False
        time.sleep(3)
        s.sendall(fwrig.ws_frame('{"subscribe":["status"]}'))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            op, data = fwrig.ws_read_frame(s)
            if op == 0x1 and b'"status"' in data[:64]:
                return True
            if op == 0x8:
                print(f"quiet WebSocket: closed by the server: {data!r}", flush=True)
                return False
        return False
    except OSError as e:
        print(f"quiet WebSocket: {e}", flush=True)
        return False
    finally:
        s.close()


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-stall_http"))
