#!/usr/bin/python3
"""The REST API against the running daemon in demo mode (Debian python3-requests).

Covers every endpoint of docs/api.md and every error path: unauthenticated write -> 401,
cross-origin -> 403, bad JSON -> 400, out of range -> 400 naming the field, oversize -> 413,
unknown -> 404, wrong method -> 405, rate-limited login -> 429; each refusal is counted in
/metrics and changes nothing. Planted secrets (the admin password, the setup code once used, and
a value for every secret key of the configuration schema) must never appear in any response
body or header, nor in any line the daemon logged.
"""
import json
import os
import re
import socket
import sys
import time

import requests  # Debian python3-requests

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("api")
SEEN = []  # every response: (what, headers, body) for the secret scan
PASSWORD = "Plant3d-Admin-Pw-7391"
NEW_PASSWORD = "Plant3d-Second-Pw-4410"
CONFIG_SECRET = "Plant3d-Config-Secret-5522"


def rec(r, what=""):
    SEEN.append((what or r.request.method + " " + r.url, "\n".join(f"{k}: {v}" for k, v in r.headers.items()), r.text))
    return r


class Client:
    """A requests.Session that records every response and sends a same-origin Origin on changes."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def req(self, method, path, origin=True, **kw):
        h = kw.pop("headers", {})
        if origin and method in ("POST", "PUT", "DELETE", "PATCH") and "Origin" not in h:
            h["Origin"] = self.base
        return rec(self.s.request(method, self.base + path, headers=h, timeout=30, **kw))

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, data=body if isinstance(body, (str, bytes)) else json.dumps(body), **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, data=body if isinstance(body, (str, bytes)) else json.dumps(body), **kw)


def err(r, status, field=None, what=""):
    ok = C.check(r.status_code == status, f"{what}: status {r.status_code} (want {status}): {r.text[:200]}")
    if ok and status >= 400:
        try:
            j = r.json()
        except ValueError:
            return C.check(False, f"{what}: error body is not JSON: {r.text[:100]}")
        C.check("error" in j and "reason" in j, f"{what}: error JSON has error and reason: {j}")
        if field:
            C.check(j.get("field") == field, f"{what}: field {j.get('field')!r} (want {field!r})")
    return ok


def rejected(cl):
    return tbtest.rejected_counts(cl.get("/metrics").text)


def main():
    t0 = time.time()
    # Plant a value for every secret key of the schema (whatever sections exist at this commit).
    probe = tbtest.start_demo()
    schema = requests.get(probe.base + "/api/config/schema", timeout=5).json()
    probe.stop()
    secret_keys = [p["key"] for p in schema if p["secret"] and p["type"] == "string"]
    config = {"web": {"login_lockout_s": 10}}
    for k in secret_keys:
        a, b = k.split(".", 1)
        config.setdefault(a, {})[b] = CONFIG_SECRET
    gw = tbtest.start_demo(config=config)
    cl = Client(gw.base)
    anon = Client(gw.base)
    print(f"secret keys planted: {secret_keys or 'none in this schema'}; the admin password is planted too")

    # ---- read-only endpoints, open by default -------------------------------------------------
    r = cl.get("/api/status")
    C.check(r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), "GET /api/status")
    st = r.json()
    for k in ("bms", "limits", "alarms", "link", "can", "gx", "energy"):
        C.check(k in st, f"status has {k}")
    for k in ("cvl_v", "ccl_a", "dcl_a", "state", "reason"):
        C.check(k in st["limits"], f"status.limits has {k}")
    for k in ("pack_voltage_v", "pack_current_a", "soc_pct", "cells_v", "min_cell_v", "max_cell_v", "temperatures_c",
              "balancing_active"):
        C.check(k in st["bms"], f"status.bms has {k} (the fields of tinybms-cli live --json)")
    C.check(st["bms"]["valid"] and len(st["bms"]["cells_v"]) == 16, "demo battery: 16 cells")
    C.check("no-store" in r.headers.get("Cache-Control", ""), "API responses are not cached")
    C.check("default-src 'self'" in r.headers.get("Content-Security-Policy", ""), "CSP header")
    C.check(r.headers.get("X-Content-Type-Options") == "nosniff", "nosniff header")
    r2 = cl.req("HEAD", "/api/status")
    C.check(r2.status_code == 200 and r2.text == "", "HEAD /api/status: headers only")

    cfg = cl.get("/api/config").json()
    C.check("gateway" in cfg and "charge" in cfg and "web" in cfg, "GET /api/config has the sections")
    for k in secret_keys:
        a, b = k.split(".", 1)
        C.check(b not in cfg.get(a, {}), f"secret {k} absent from GET /api/config")
    r = cl.get("/api/config?download=1")
    C.check("attachment" in r.headers.get("Content-Disposition", ""), "config backup is a download")
    C.check(isinstance(cl.get("/api/config/schema").json(), list), "GET /api/config/schema")

    sets = cl.get("/api/bms/settings").json()
    C.check(sets["valid"] and len(sets["registers"]) > 30, "GET /api/bms/settings: all settings registers")
    ov = next(x for x in sets["registers"] if x["name"] == "over_voltage_cutoff")
    C.check(all(k in ov for k in ("value", "unit", "min", "max", "writable")), f"register has value/unit/range: {ov}")
    C.check(cl.get("/api/bms/settings/over_voltage_cutoff").json()["name"] == "over_voltage_cutoff",
            "GET /api/bms/settings/{name}")
    C.check(cl.get("/api/bms/settings/315").json()["name"] == "over_voltage_cutoff", "a setting by its address")
    ev = cl.get("/api/bms/events").json()
    C.check("events" in ev and "new_seq" in ev, "GET /api/bms/events")
    C.check("valid" in cl.get("/api/bms/stats").json(), "GET /api/bms/stats")
    C.check("valid" in cl.get("/api/bms/version").json(), "GET /api/bms/version")
    for rg in ("1h", "24h", "7d"):
        h = cl.get("/api/history?range=" + rg).json()
        C.check(h["range"] == rg and len(h["t"]) == h["count"] == len(h["pack_v"]), f"GET /api/history?range={rg}")
    r = cl.get("/api/history.csv?range=1h")
    C.check(r.status_code == 200 and r.text.startswith("time_utc,time_s,pack_v"), "GET /api/history.csv")
    C.check("attachment" in r.headers.get("Content-Disposition", ""), "CSV is a download")
    can = cl.get("/api/can/frames").json()
    ids = {f["id"]: f for f in can["frames"]}
    C.check("0x351" in ids and ids["0x351"]["direction"] == "tx" and "cvl_v" in ids["0x351"].get("fields", {}),
            "GET /api/can/frames: 0x351 decoded")
    C.check("0x305" in ids and ids["0x305"]["direction"] == "rx", "GET /api/can/frames: GX rows")
    C.check("present" in can["gx"], "GX presence in the CAN table")
    lg = cl.get("/api/logs").json()
    C.check(lg["last_seq"] > 0 and lg["entries"], "GET /api/logs")
    lw = cl.get(f"/api/logs?after=0&level=warn").json()
    C.check(all(e["level"] in ("error", "warn") for e in lw["entries"]), "GET /api/logs?level=warn filters")
    C.check(cl.get(f"/api/logs?after={lg['last_seq'] + 1000}").json()["entries"] == [], "GET /api/logs?after=")
    C.check("charged_wh" in cl.get("/api/energy").json(), "GET /api/energy")
    sysj = cl.get("/api/system").json()
    C.check(sysj["demo"] is True and sysj["version"] and sysj["config_path"].endswith("config.json"), "GET /api/system")
    C.check(sysj["auth"]["password_set"] is False, "no password at first start")
    m = cl.get("/metrics")
    C.check(m.headers["Content-Type"].startswith("text/plain"), "/metrics is text")
    helps = set(re.findall(r"^# HELP (tinybms_\w+) ", m.text, re.M))
    types = set(re.findall(r"^# TYPE (tinybms_\w+) ", m.text, re.M))
    names = {n if n in helps else re.sub(r"_(bucket|count|sum)$", "", n)
             for n in re.findall(r"^(tinybms_\w+)(?:\{| )", m.text, re.M)}
    C.check(names and names <= helps and names <= types, f"every metric has HELP and TYPE: {sorted(names - helps)}")
    C.check('tinybms_cell_voltage_volts{cell="16"}' in m.text, "per-cell metrics")
    C.check('tinybms_alarm_level{category="high_voltage"}' in m.text, "per-alarm metrics")
    for k in ("pack_voltage_volts", "soc_percent", "limit_ccl_amperes", "link_up", "gx_present", "ws_clients"):
        C.check(f"tinybms_{k} " in m.text, f"metric {k}")

    # ---- the UI ------------------------------------------------------------------------------------
    r = cl.get("/", headers={"Accept-Encoding": "gzip"})
    C.check(r.status_code == 200 and "<title>TinyBMS gateway</title>" in r.text, "GET / serves the UI")
    r = anon.s.get(gw.base + "/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    C.check(r.headers.get("Content-Encoding") == "gzip", "assets served gzip-compressed")
    et = r.headers.get("ETag")
    r = anon.s.get(gw.base + "/app.js", headers={"If-None-Match": et})
    C.check(r.status_code == 304, "ETag revalidation: 304")
    r = anon.s.get(gw.base + "/app.js", headers={"Accept-Encoding": "identity"})
    C.check("Content-Encoding" not in r.headers and "use strict" in r.text, "identity encoding on request")

    # ---- unknown, method, unauthenticated --------------------------------------------------------
    before = rejected(cl)
    err(cl.get("/api/nope"), 404, what="unknown endpoint")
    err(cl.get("/nope.html"), 404, what="unknown asset")
    err(cl.get("/api/bms/settings/no_such_register"), 404, "name", "unknown setting")
    r = cl.req("DELETE", "/api/status")
    err(r, 405, what="DELETE /api/status")
    C.check("GET" in r.headers.get("Allow", ""), "405 carries Allow")
    err(cl.put("/api/config", {"charge": {}}), 401, what="PUT /api/config without login")
    err(cl.put("/api/bms/settings/over_voltage_cutoff", {"value": 3600}), 401, what="BMS write without login")
    err(cl.post("/api/bms/reset", {"what": "stats"}), 401, what="reset without login")
    err(cl.post("/api/system/restart", {}), 401, what="restart without login")
    err(cl.post("/api/auth/login", {"password": PASSWORD}), 409, what="login before set-up")
    err(cl.post("/api/auth/setup", {"code": "AAAAA-BBBBB", "password": PASSWORD}), 401, "code", "wrong setup code")
    err(cl.post("/api/auth/setup", {"code": gw.setup_code(), "password": "short"}), 400, "password", "weak password")
    after = rejected(cl)
    C.check(after["not_found"] - before["not_found"] >= 3, "404s counted")
    C.check(after["unauthenticated"] - before["unauthenticated"] >= 5, "401s counted")
    C.check(after["method"] - before["method"] >= 1, "405 counted")

    # ---- first start: set the admin password with the setup code ---------------------------------
    code = gw.setup_code()
    C.check(re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", code) is not None, f"setup code format: {code}")
    C.check(code in gw.log(), "the setup code is printed once on stderr for the installer")
    err(cl.post("/api/auth/setup", {"code": code, "password": PASSWORD}, headers={"Origin": "http://evil.example"}),
        403, what="cross-origin set-up")
    r = cl.post("/api/auth/setup", {"code": code.lower().replace("-", ""), "password": PASSWORD})
    C.check(r.status_code == 200 and r.json()["logged_in"], f"set-up with the code: {r.text}")
    ck = r.headers.get("Set-Cookie", "")
    C.check("HttpOnly" in ck and "SameSite=Strict" in ck and "Max-Age=" in ck, f"session cookie flags: {ck}")
    C.check(open(os.path.join(gw.state_dir, "web-setup-code")).read() == "", "the used setup code is erased")
    adm = json.load(open(os.path.join(gw.state_dir, "web-admin.json")))
    C.check(adm["hash"].startswith("$argon2id$") and PASSWORD not in json.dumps(adm), "password stored as Argon2id")
    err(cl.post("/api/auth/setup", {"code": code, "password": PASSWORD}), 409, what="set-up twice")
    C.check(cl.get("/api/auth").json()["logged_in"], "GET /api/auth: logged in")

    # ---- same-origin rule on changes ----------------------------------------------------------------
    cfg0 = cl.get("/api/config").text
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 3}}, headers={"Origin": "http://evil.example"}), 403,
        what="cross-origin Origin")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 3}}, headers={"Origin": "null"}), 403, what="Origin: null")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 3}}, origin=False,
               headers={"Referer": "http://evil.example/x"}), 403, what="cross-origin Referer")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 3}}, headers={"Sec-Fetch-Site": "cross-site"}), 403,
        what="Sec-Fetch-Site: cross-site")
    C.check(cl.get("/api/config").text == cfg0, "refused changes changed nothing")

    # ---- bad input: 400 naming the field, 413; nothing changes ----------------------------------------
    err(cl.put("/api/config", "{\"web\": {"), 400, what="bad JSON")
    err(cl.put("/api/config", "[1,2]"), 400, what="JSON not an object")
    err(cl.put("/api/config", ""), 400, what="empty body")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 99}}), 400, "web.ws_rate_hz", "config out of range")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": "fast"}}), 400, "web.ws_rate_hz", "config wrong type")
    err(cl.put("/api/config", {"nosuch": {"key": 1}}), 400, "nosuch", "config unknown section")
    err(cl.put("/api/bms/settings/over_voltage_cutoff", {"value": 9000}), 400, "over_voltage_cutoff",
        "BMS setting out of range")
    err(cl.put("/api/bms/settings/over_voltage_cutoff", {"value": "3600"}), 400, "value", "BMS value not a number")
    err(cl.put("/api/bms/settings/over_voltage_cutoff", {"valu": 3600}), 400, "value", "BMS value missing")
    err(cl.post("/api/bms/reset", {"what": "everything"}), 400, "what", "reset option")
    err(cl.get("/api/history?range=2h"), 400, "range", "history range")
    err(cl.get("/api/logs?level=loud"), 400, "level", "log level")
    big = json.dumps({"gateway": {"device_id": "x" * 40000}})
    err(cl.put("/api/config", big), 413, what="oversize body")
    # chunked (no Content-Length): refused once more than web.max_body_bytes arrived
    s = socket.create_connection(("127.0.0.1", int(gw.base.rsplit(":", 1)[1])), timeout=5)
    s.sendall(b"PUT /api/config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
              b"400\r\n" + b" " * 1024 + b"\r\n")
    try:
        for _ in range(40):
            s.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close as soon as it has answered
    resp = s.recv(4096).decode(errors="replace")
    s.close()
    C.check(resp.startswith("HTTP/1.1 413"), f"oversize chunked body: {resp[:40]!r}")
    C.check(cl.get("/api/config").text == cfg0, "bad input changed no configuration")
    C.check(cl.get("/api/bms/settings/over_voltage_cutoff").json()["value"] == ov["value"],
            "bad input changed no BMS setting")
    after2 = rejected(cl)
    for k in ("bad_json", "bad_value", "too_large", "cross_origin"):
        C.check(after2[k] > after[k], f"refusals counted in /metrics: {k}")

    # ---- changes that succeed -------------------------------------------------------------------------
    r = cl.put("/api/config", {"web": {"ws_rate_hz": 4}, "can": {"battery_name": "Garage pack"}})
    C.check(r.status_code == 200 and "web.ws_rate_hz" in r.json()["result"]["changed"], f"config update: {r.text}")
    C.check(cl.get("/api/config").json()["web"]["ws_rate_hz"] == 4, "config change visible")
    r = cl.put("/api/config", {"web": {"http_threads": 7}})
    C.check(r.json()["result"]["restart_required"] == ["web.http_threads"], "restart-required keys reported")
    backup = cl.get("/api/config?download=1").text
    r = cl.put("/api/config", backup)
    C.check(r.status_code == 200 and r.json()["result"]["changed"] == [], f"restore of a backup: {r.text[:200]}")
    if secret_keys:
        k = secret_keys[0]
        a, b = k.split(".", 1)
        r = cl.put("/api/config", {a: {b: ""}})
        C.check(r.status_code == 200 and k not in r.json()["result"]["changed"], "secret \"\" keeps the value")
    target = 3650 if ov["value"] != 3650 else 3700
    r = cl.put("/api/bms/settings/over_voltage_cutoff", {"value": target})
    j = r.json()
    C.check(r.status_code == 200 and j["result"]["read_back"] == target and j["result"]["result"] == "ok",
            f"BMS setting written and read back: {r.text}")
    deadline = time.time() + 10
    while time.time() < deadline and cl.get("/api/bms/settings/over_voltage_cutoff").json()["value"] != target:
        time.sleep(0.3)
    C.check(cl.get("/api/bms/settings/over_voltage_cutoff").json()["value"] == target, "settings show the new value")
    for what in ("events", "stats"):
        r = cl.post("/api/bms/reset", {"what": what})
        C.check(r.status_code == 200, f"POST /api/bms/reset {what}: {r.text}")
    C.check("tinybms_bms_writes_total 1" in cl.get("/metrics").text, "BMS writes counted")

    # ---- read-only closed, sessions, logout, password change -----------------------------------------
    C.check(cl.put("/api/config", {"web": {"read_only_open": False}}).status_code == 200, "close the read-only view")
    time.sleep(1.2)  # the web service picks the change up with the next published view
    err(anon.get("/api/status"), 401, what="read without login when read_only_open is false")
    err(anon.get("/metrics"), 401, what="/metrics without login when read_only_open is false")
    C.check(anon.get("/api/auth").status_code == 200, "/api/auth stays open")
    C.check(anon.get("/").status_code == 200, "the UI shell stays open")
    C.check(cl.get("/api/status").status_code == 200, "read with the session")
    C.check(cl.put("/api/config", {"web": {"read_only_open": True}}).status_code == 200, "reopen the read-only view")
    other = Client(gw.base)
    C.check(other.post("/api/auth/login", {"password": PASSWORD}).status_code == 200, "second session")
    C.check(other.post("/api/auth/logout", {}).status_code == 200, "logout")
    err(other.put("/api/config", {"web": {"ws_rate_hz": 5}}), 401, what="write after logout")
    C.check(other.post("/api/auth/login", {"password": PASSWORD}).status_code == 200, "log in again")
    r = cl.put("/api/auth/password", {"current": "wrong-wrong", "password": NEW_PASSWORD})
    err(r, 401, "current", "password change with a wrong current password")
    r = cl.put("/api/auth/password", {"current": PASSWORD, "password": NEW_PASSWORD})
    C.check(r.status_code == 200, f"password change: {r.text}")
    err(other.put("/api/config", {"web": {"ws_rate_hz": 5}}), 401, what="other sessions closed by a password change")
    C.check(cl.put("/api/config", {"web": {"ws_rate_hz": 5}}).status_code == 200, "the changing session continues")

    # ---- the firmware update route: the daemon is updated by its package manager ------------------------
    r = cl.post("/api/system/ota", b"\xe9" + bytes(4095), headers={"Content-Type": "application/octet-stream"})
    err(r, 501, what="POST /api/system/ota on Linux")
    C.check("package manager" in r.json().get("reason", ""), f"the 501 says why: {r.text[:200]}")
    C.check(rejected(cl).get("unsupported") == 1, "the 501 counted as unsupported")

    # ---- restart ----------------------------------------------------------------------------------------
    pid = gw.proc.pid
    r = cl.post("/api/system/restart", {})
    C.check(r.status_code == 202, f"POST /api/system/restart: {r.status_code} {r.text}")
    time.sleep(1.0)
    gw.wait_ready(15)
    C.check(gw.proc.poll() is None and gw.proc.pid == pid, "restarted in place (same PID, re-executed)")
    comm = open(f"/proc/{pid}/comm").read().strip()
    C.check(comm == "tinybms-gateway", f"after the restart the process is still named tinybms-gateway ({comm!r})")
    up = anon.get("/api/system").json()["uptime_s"]
    C.check(up < 10, f"fresh process after restart (uptime {up} s)")
    C.check(anon.get("/api/system").json()["auth"]["password_set"], "the password survives a restart")
    err(cl.put("/api/config", {"web": {"ws_rate_hz": 5}}), 401, what="sessions do not survive a restart")
    C.check(cl.post("/api/auth/login", {"password": NEW_PASSWORD}).status_code == 200, "log in after restart")
    C.check(cl.get("/api/config").json()["web"]["ws_rate_hz"] == 5, "configuration survived the restart")

    # ---- login rate limiting (web.login_lockout_s = 10 here) -------------------------------------------
    codes = [cl.post("/api/auth/login", {"password": "wrong-%d" % i}).status_code for i in range(6)]
    C.check(codes[:5] == [401] * 5 and codes[5] == 429, f"5 failures then 429: {codes}")
    r = cl.post("/api/auth/login", {"password": NEW_PASSWORD})
    C.check(r.status_code == 429 and int(r.headers.get("Retry-After", "0")) > 0,
            "even the right password is refused while locked, with Retry-After")
    C.check(re.search(r'tinybms_auth_attempts_total\{result="rate_limited"\} [1-9]', cl.get("/metrics").text),
            "rate limiting counted")
    time.sleep(10.5)
    C.check(cl.post("/api/auth/login", {"password": NEW_PASSWORD}).status_code == 200, "login after the lockout")

    # ---- raw HTTP edge cases -----------------------------------------------------------------------------
    s = socket.create_connection(("127.0.0.1", int(gw.base.rsplit(":", 1)[1])), timeout=5)
    s.sendall(b"PUT /api/config HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    resp = s.recv(4096).decode(errors="replace")
    s.close()
    C.check(resp.startswith("HTTP/1.1 413"), f"huge Content-Length refused before reading: {resp[:40]!r}")
    C.check(cl.get("/api/status").status_code == 200, "the server still answers")

    # ---- no secret anywhere -------------------------------------------------------------------------------
    used_code = code
    planted = [PASSWORD, NEW_PASSWORD, CONFIG_SECRET, used_code, used_code.replace("-", "")]
    planted_log = [PASSWORD, NEW_PASSWORD, CONFIG_SECRET]
    for what, hdrs, body in SEEN:
        for p in planted:
            if p in body or p in hdrs:
                C.check(False, f"planted secret {p!r} appears in the response to {what}")
    for p in planted_log:
        C.check(p not in gw.log(), f"planted secret {p!r} absent from the daemon's log")
    logs = cl.get("/api/logs?limit=512").text
    C.check(used_code not in logs, "the setup code never enters the log ring served by /api/logs")
    C.check("$argon2id$" not in "".join(b for _, _, b in SEEN), "the password hash never leaves the gateway")
    print(f"{len(SEEN)} responses scanned for {len(planted)} planted secrets; {time.time() - t0:.1f} s")
    gw.stop_checked(C)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
