#!/usr/bin/python3
"""Hostile input and concurrent clients against the running daemon in demo mode (issue 16).

1. Deeply nested JSON on every endpoint that takes a body, with and without a session, and on the
   WebSocket: the old daemon died with SIGSEGV on one 2 KB body nested ~1000 deep (cJSON recursed
   on a web worker's stack). Now: 400 naming the limit, counted, the process alive, CAN still sent.
2. GET /api/config from anonymous readers while the admin saves the configuration: the old
   renderer shared one function-static table between threads, so an anonymous reader could get
   the MQTT password and an acknowledged PUT could save the previous value and lose mqtt.password
   from config.json. Now every response is checked for the planted secret, every acknowledged
   PUT's value is read back from the file, and the file always keeps the secret. Run under
   ThreadSanitizer by `make test` (build-tsan) as well.
3. Strings that are not UTF-8, \\u0000 escapes and duplicate keys in configuration and API bodies:
   refused with the key named, nothing saved.
"""
import json
import os
import sys
import threading
import time

import requests  # Debian python3-requests
import websocket  # Debian python3-websocket

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("hostile")
PASSWORD = "Hostile-Admin-Pw-8812"
MQTT_SECRET = "Plant3d-Mqtt-Secret-9931"


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


def post(s, base, method, path, body, **kw):
    h = {"Origin": base, "Content-Type": "application/json"}
    return s.request(method, base + path, data=body, headers=h, timeout=30, **kw)


def alive(gw, what):
    if not C.check(gw.proc.poll() is None, f"the daemon is alive after {what} (exit {gw.proc.poll()})"):
        return
    r = requests.get(gw.base + "/api/status", timeout=10)
    C.check(r.status_code == 200, f"/api/status answers after {what}")


BODY_ROUTES = [("POST", "/api/auth/login"), ("POST", "/api/auth/setup"), ("PUT", "/api/auth/password"),
               ("PUT", "/api/config"), ("PUT", "/api/bms/settings/over_voltage_cutoff"), ("POST", "/api/bms/reset"),
               ("POST", "/api/system/restart")]  # last: a body it took would restart the daemon


def deep_bodies():
    """Bodies nested far beyond the limit, the shapes of the report and a few more (all < 32 KB)."""
    return [
        '{"password":' + nested(1000) + "}",
        '{"password":' + nested(15000) + "}",
        '{"code":"AAAAA-BBBBB","password":' + nested(300, '"x"') + "}",
        '{"value":' + "{\"a\":" * 3000 + "1" + "}" * 3000 + "}",
        "[" * 30000,  # openers only, never closed
    ]


def nesting(gw, s, logged_in):
    before = tbtest.rejected_counts(requests.get(gw.base + "/metrics", timeout=10).text)
    n400 = 0
    for method, path in BODY_ROUTES:
        for body in deep_bodies():
            try:
                r = post(s, gw.base, method, path, body)
            except requests.RequestException as e:
                time.sleep(0.5)
                C.check(False, f"{method} {path} nested {len(body)} B: no answer ({type(e).__name__}); "
                               f"daemon exit status {gw.proc.poll()}")
                return
            ok = r.status_code in ((400,) if logged_in or path.startswith("/api/auth/") and path != "/api/auth/password"
                                   else (400, 401))
            C.check(ok, f"{method} {path} nested {len(body)} B ({'session' if logged_in else 'anonymous'}): "
                        f"status {r.status_code} {r.text[:120]}")
            if r.status_code == 400:
                n400 += 1
                reason = r.json().get("reason", "")
                C.check("nested deeper than 16 levels" in reason, f"{method} {path}: the reason says why: {reason!r}")
            if gw.proc.poll() is not None:
                C.check(False, f"the daemon died on {method} {path} with a nested body")
                return
    after = tbtest.rejected_counts(requests.get(gw.base + "/metrics", timeout=10).text)
    C.check(after["bad_json"] - before["bad_json"] >= n400, f"every nested-body refusal counted ({n400})")
    alive(gw, "nested bodies " + ("with a session" if logged_in else "without a session"))


def ws_nesting(gw):
    url = gw.base.replace("http://", "ws://") + "/ws"
    for body in ('{"subscribe":' + nested(200, '"status"') + "}", "[" * 500):
        try:
            ws = websocket.create_connection(url, timeout=5, origin=gw.base)
            ws.send(body)
            time.sleep(0.2)
            ws.close()
        except (websocket.WebSocketException, OSError):
            pass
    alive(gw, "nested WebSocket messages")


def concurrent_config(gw, s):
    """Anonymous readers against admin saves; the secret never leaks, every acked save is on disk."""
    stop = threading.Event()
    leaks = []
    reads = [0]
    errors = []

    def reader(path):
        rs = requests.Session()
        while not stop.is_set():
            try:
                r = rs.get(gw.base + path, timeout=10)
            except requests.RequestException as e:
                errors.append(str(e))
                continue
            reads[0] += 1
            if MQTT_SECRET in r.text:
                leaks.append(path)

    readers = [threading.Thread(target=reader, args=(p,), daemon=True)
               for p in ("/api/config",) * 6 + ("/api/config?download=1", "/api/status", "/metrics")]
    for t in readers:
        t.start()
    cfg_path = os.path.join(gw.state_dir, "config.json")
    lost = []
    puts = 0
    t0 = time.time()
    for i in range(120):
        want = 3 + i % 7
        r = post(s, gw.base, "PUT", "/api/config", json.dumps({"web": {"ws_rate_hz": want}}))
        if r.status_code == 429:
            time.sleep(0.2)
            continue
        if not C.check(r.status_code == 200, f"PUT /api/config #{i}: {r.status_code} {r.text[:120]}"):
            break
        puts += 1
        with open(cfg_path, errors="replace") as f:
            text = f.read()
        try:
            saved = json.loads(text)
        except ValueError:
            lost.append(f"#{i}: config.json is not JSON")
            continue
        if saved.get("web", {}).get("ws_rate_hz") != want:
            lost.append(f"#{i}: saved ws_rate_hz {saved.get('web', {}).get('ws_rate_hz')} (acked {want})")
        if saved.get("mqtt", {}).get("password") != MQTT_SECRET:
            lost.append(f"#{i}: mqtt.password missing from config.json")
    stop.set()
    for t in readers:
        t.join(timeout=15)
    C.check(not leaks, f"no anonymous response carried the MQTT password ({len(leaks)} of {reads[0]} did)")
    C.check(not lost, f"every acknowledged save is what config.json holds: {lost[:5]}")
    C.check(puts >= 60, f"enough saves raced the readers ({puts} saves, {reads[0]} reads, {time.time() - t0:.1f} s)")
    C.check(len(errors) < 5, f"readers were served: {errors[:3]}")
    print(f"concurrent config: {puts} saves against {reads[0]} reads, {len(leaks)} leaks, {len(lost)} lost")


def strings_and_duplicates(gw, s):
    cfg0 = requests.get(gw.base + "/api/config", timeout=10).text
    cases = [
        (b'{"gateway":{"device_id":"ab\xffcd"}}', "gateway.device_id", "invalid UTF-8"),
        (b'{"gateway":{"device_id":"ab\\u0000cd"}}', "gateway.device_id", "\\u0000"),
        (b'{"mqtt":{"password":"x\xc0\xafy"}}', "mqtt.password", "invalid UTF-8"),
        (b'{"web":{"ws_rate_hz":3,"ws_rate_hz":4}}', "ws_rate_hz", "appears twice"),
        (b'{"web":{"ws_rate_hz":3},"web":{"ws_rate_hz":4}}', "web", "appears twice"),
    ]
    for body, key, what in cases:
        r = post(s, gw.base, "PUT", "/api/config", body)
        C.check(r.status_code == 400, f"PUT /api/config {body[:40]!r}: 400 (got {r.status_code} {r.text[:120]})")
        if r.status_code == 400:
            j = r.json()
            C.check(what in j.get("reason", "") and key in j.get("reason", "") + str(j.get("field", "")),
                    f"the refusal names {key!r} and says {what!r}: {j}")
    r = post(s, gw.base, "PUT", "/api/bms/settings/over_voltage_cutoff", '{"value":3600,"value":4200}')
    C.check(r.status_code == 400 and "appears twice" in r.text, f"duplicate key in a BMS write refused: {r.text[:120]}")
    C.check(requests.get(gw.base + "/api/config", timeout=10).text == cfg0, "refused bodies changed nothing")
    # the configuration file: the daemon refuses to load them, naming the key
    for body, key in ((b'{"gateway":{"device_id":"a\xffb"}}', "gateway.device_id"),
                      (b'{"web":{"ws_rate_hz":3,"ws_rate_hz":4}}', "ws_rate_hz"),
                      (b'{"web":' * 40 + b"1" + b"}" * 40, "nested")):
        d = tbtest.tmpdir("tbcfg-")
        p = os.path.join(d, "config.json")
        with open(p, "wb") as f:
            f.write(body)
        r = tbtest.spawn([tbtest.bin_path("tinybms-gateway"), "--check-config", "--state-dir", d],
                         stdout=tbtest.subprocess.PIPE, stderr=tbtest.subprocess.STDOUT)
        out = r.communicate(timeout=30)[0].decode(errors="replace")
        C.check(r.returncode != 0 and key in out, f"--check-config refuses {body[:30]!r} naming {key!r}: {out.strip()}")


def start():
    gw = tbtest.start_demo(config={"mqtt": {"password": MQTT_SECRET}, "web": {"login_lockout_s": 10}})
    return gw, requests.Session()


def login(gw, s):
    r = post(s, gw.base, "POST", "/api/auth/setup", json.dumps({"code": gw.setup_code(), "password": PASSWORD}))
    C.check(r.status_code == 200, f"set-up: {r.text[:120]}")


def main():
    t0 = time.time()
    gw, s = start()
    nesting(gw, s, logged_in=False)
    if gw.proc.poll() is not None:  # the old daemon: carry on with a new one to show the other faults
        gw, s = start()
    ws_nesting(gw)
    login(gw, s)
    nesting(gw, s, logged_in=True)
    if gw.proc.poll() is not None:
        gw, s = start()
        login(gw, s)
    concurrent_config(gw, s)
    strings_and_duplicates(gw, s)
    # the battery path went on through all of it
    can = requests.get(gw.base + "/api/can/frames", timeout=10).json()
    row = next((f for f in can["frames"] if f["id"] == "0x351"), None)
    C.check(row is not None and row.get("age_ms", 1e9) < 3000, f"0x351 still sent: {row}")
    print(f"hostile: {time.time() - t0:.1f} s")
    gw.stop_checked(C)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
