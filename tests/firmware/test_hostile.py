#!/usr/bin/python3
"""fw-hostile: the firmware refuses hostile input the way the daemon does, and none of it harms it.

The handlers are app/api's on both (integ-hostile is the daemon's test); what is the firmware's own
is how esp_http_server and http_service.c read a request (the body into the heap, a 7 kB server
stack, a 1 kB header limit, the time budgets), so the daemon's refusals are sent to the image in
QEMU and must come back the same:
  - bodies nested far beyond 16 levels (1 000 arrays, 3 000 objects, 20 000 unclosed '['), to the
    login, the configuration, a BMS write and the restart, without and with a session: 400 whose
    reason says "nested deeper than 16 levels" (or 401 without a session where the route needs
    one), each counted as bad_json; the restart is not done;
  - configuration strings with invalid UTF-8 or \\u0000 and duplicate keys: 400 naming the key,
    and the configuration unchanged;
  - a body above web.max_body_bytes: 413, counted as too_large;
  - a request header above the server's 1 024 bytes: 431, and the next request is answered;
  - WebSocket messages: above 512 bytes closed with 1009, binary with 1003, a nested one refused
    (bad_json) with the connection kept;
  - a body sent one byte a second: the connection is closed once it falls below 4 kB/s after its
    first second (long before web.request_timeout_ms, 10 s), logged, while the web keeps answering
    afterwards. (A reply the client does not take cannot be made here: QEMU's user-mode network
    takes more than 1 MB of what the device sends whatever the client reads; the same rule for
    replies is unit-conn_budget's.)
Then the device still serves valid data, 0x351 is still on the bus, and the console shows no
crash, assertion, watchdog or reset."""
import socket
import struct
import time

import fwrig

tbtest = fwrig.tbtest
BODY_TIMEOUT_S = 10  # web.request_timeout_ms's default
RATE_CLOSE_S = 6  # a body or reply below 4 kB/s after 1 s (http_service.c RATE_MIN): closed well within this


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


BODIES = ['{"password":' + nested(1000) + "}",
          '{"value":' + '{"a":' * 3000 + "1" + "}" * 3000 + "}",
          "[" * 20000]
ROUTES = [("POST", "/api/auth/login"), ("PUT", "/api/config"), ("PUT", "/api/bms/settings/over_voltage_cutoff"),
          ("POST", "/api/system/restart")]  # last: a body it took would restart the device


def rejected(b):
    st, text = b.get("/metrics", timeout=10)
    return tbtest.rejected_counts(text if isinstance(text, str) else "")


def raw(b, data, timeout=10):
    """Sends data on a new connection; the status line of the answer ("" when it closed without one)."""
    s = socket.create_connection(("127.0.0.1", b.port), timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        while b"\r\n" not in got:
            c = s.recv(4096)
            if not c:
                break
            got += c
        return got.split(b"\r\n", 1)[0].decode(errors="replace")
    finally:
        s.close()


def ws_connect(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    if fwrig.ws_handshake(s, b.port):
        return s
    s.close()
    return None


def ws_close_code(s, within=5.0):
    """The code of the server's close frame (other frames skipped), or None."""
    end = time.monotonic() + within
    s.settimeout(within)
    while time.monotonic() < end:
        try:
            op, payload = fwrig.ws_read_frame(s)
        except OSError:  # closed without a close frame, or nothing within the time
            return None
        if op == 0x8:
            return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


def main(rig):
    import requests  # Debian python3-requests
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    s = fwrig.admin(rig, b, timeout=30)
    if s is None:
        return

    # nested bodies, without and with a session
    before = rejected(b)
    n400 = 0
    for session in (None, s):
        for method, path in ROUTES:
            for body in BODIES:
                h = {"Origin": b.base, "Content-Type": "application/json"}
                try:
                    if session:
                        r = session.s.request(method, b.base + path, data=body, headers=h, timeout=30)
                    else:
                        r = requests.request(method, b.base + path, data=body, headers=h, timeout=30)
                except requests.RequestException as e:
                    C.check(False, f"{method} {path} nested {len(body)} B: no answer ({type(e).__name__})")
                    return
                anonymous_ok = (400,) if path == "/api/auth/login" else (400, 401)
                C.check(r.status_code in ((400,) if session else anonymous_ok),
                        f"{method} {path} nested {len(body)} B ({'session' if session else 'anonymous'}): "
                        f"{r.status_code} {r.text[:120]}")
                if r.status_code == 400:
                    n400 += 1
                    reason = r.json().get("reason", "")
                    C.check("nested deeper than 16 levels" in reason, f"{method} {path}: the reason says why: {reason!r}")
    after = rejected(b)
    C.check(after.get("bad_json", 0) - before.get("bad_json", 0) >= n400,
            f"every nested-body refusal counted as bad_json ({n400}; {before.get('bad_json')} -> {after.get('bad_json')})")

    # configuration strings and duplicate keys
    cfg0 = s.req("GET", "/api/config").text
    for body, key, what in ((b'{"gateway":{"device_id":"ab\xffcd"}}', "gateway.device_id", "invalid UTF-8"),
                            (b'{"gateway":{"device_id":"ab\\u0000cd"}}', "gateway.device_id", "\\u0000"),
                            (b'{"web":{"ws_rate_hz":3,"ws_rate_hz":4}}', "ws_rate_hz", "appears twice")):
        r = s.req("PUT", "/api/config", body)
        ok = r.status_code == 400 and what in r.json().get("reason", "") and key in r.text
        C.check(ok, f"PUT /api/config {body[:40]!r}: 400 naming {key!r} and saying {what!r}: {r.status_code} {r.text[:160]}")
    C.check(s.req("GET", "/api/config").text == cfg0, "the refused configurations changed nothing")

    # a body above web.max_body_bytes (32 KB)
    before = rejected(b)
    r = s.req("PUT", "/api/config", "{" + " " * 40000 + "}", timeout=30)
    C.check(r.status_code == 413, f"a 40 kB body: 413 ({r.status_code} {r.text[:120]})")
    C.check(rejected(b).get("too_large", 0) > before.get("too_large", 0), "the 413 is counted as too_large")

    # a request header above the server's 1 024 bytes
    line = raw(b, b"GET /api/status HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * 2000 + b"\r\n\r\n")
    C.check(line.startswith("HTTP/1.1 431"), f"a 2 kB header: 431 ({line!r})")
    code, doc = b.get("/api/status", timeout=10)
    C.check(code == 200, f"the next request is answered ({code})")

    # WebSocket messages
    before = rejected(b)
    w = ws_connect(b)
    C.check(w is not None, "WebSocket: handshake")
    if w:
        w.sendall(fwrig.ws_frame("{" + " " * 600 + "}"))
        c = ws_close_code(w)
        C.check(c == 1009, f"WebSocket: a 602-byte message closed with 1009 ({c})")
        w.close()
    w = ws_connect(b)
    if w:
        w.sendall(fwrig.ws_frame(b"\x00\x01binary", opcode=0x2))
        c = ws_close_code(w)
        C.check(c == 1003, f"WebSocket: a binary message closed with 1003 ({c})")
        w.close()
    w = ws_connect(b)
    if w:
        w.sendall(fwrig.ws_frame('{"subscribe":' + nested(100, '"status"') + "}"))
        time.sleep(1.0)
        w.sendall(fwrig.ws_frame('{"subscribe":["status"]}'))
        c = ws_close_code(w, within=2.0)
        C.check(c is None, f"WebSocket: a nested message is refused without closing the connection ({c})")
        w.close()
    C.check(rejected(b).get("bad_json", 0) > before.get("bad_json", 0), "the nested WebSocket message counted as bad_json")

    # a body sent one byte a second: closed when it falls below the minimum rate
    cookie = "; ".join(f"{k}={v}" for k, v in s.s.cookies.items())
    sock = socket.create_connection(("127.0.0.1", b.port), timeout=BODY_TIMEOUT_S + 10)
    sock.sendall((f"PUT /api/config HTTP/1.1\r\nHost: 127.0.0.1:{b.port}\r\nOrigin: {b.base}\r\nCookie: {cookie}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{").encode())
    t0 = time.monotonic()
    closed = None
    while time.monotonic() - t0 < BODY_TIMEOUT_S + 8:
        try:
            sock.sendall(b" ")
            sock.settimeout(1.0)
            if sock.recv(4096) == b"":
                closed = time.monotonic() - t0
                break
        except socket.timeout:
            continue
        except OSError:
            closed = time.monotonic() - t0
            break
    sock.close()
    print(f"slow body: closed by the server after {closed if closed is None else round(closed, 1)} s", flush=True)
    C.check(closed is not None and closed < RATE_CLOSE_S,
            f"a body at one byte a second: the connection closed after {closed if closed is None else round(closed, 1)} s "
            f"(< {RATE_CLOSE_S} s: 4 kB/s after the first second; web.request_timeout_ms {BODY_TIMEOUT_S} s at most)")
    C.check(b.wait_console(r"request body slower than 4 kB/s", 5) is not None,
            "the slow body's close is logged")


    # still the gateway it was
    t1 = time.monotonic()
    st = b.status()
    C.check(st is not None and st["bms"]["valid"] and st["limits"]["valid"], "still serving valid data")
    time.sleep(2)
    C.check(len(b.can.since(t1, 0x351)) >= 1, "0x351 still on the bus")
    rig.check_no_crash(b)


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-hostile"))
