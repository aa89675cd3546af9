#!/usr/bin/python3
"""The WebSocket /ws against the running daemon in demo mode (Debian python3-websocket).

1. Protocol: hello, live status at web.ws_rate_hz with the newest view each time, subscriptions
   (log lines, CAN table), bad client messages counted and ignored, cross-origin handshakes and
   clients beyond web.ws_max_clients refused, the login rule when the read-only view is closed.
2. Slow client: one client with a tiny receive buffer never reads. Meanwhile the CAN frames the
   owner thread writes (the demo's candump log) keep their cadence - 0x351 at least every second -
   and a second client keeps receiving every update at the configured rate. The stalled client
   is dropped once its socket stays full for web.request_timeout_ms, and that is counted.
"""
import json
import os
import re
import socket
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
