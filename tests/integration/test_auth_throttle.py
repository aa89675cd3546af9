#!/usr/bin/python3
"""Login throttling against the real daemon (issue 16), with clients on many loopback addresses
(all of 127/8 is loopback on Linux; each request binds its socket's source address).

1. Others hammering cannot lock the admin out: 30 wrong logins from 127.0.0.2 .. 127.0.0.31 (the
   old global limit was 30 a minute), then the right password from a fresh 127.0.0.40 gets 200.
2. One address hammering is backed off (429 with Retry-After), even with the right password.
3. A logged-in admin changes the password while the session's address is backed off.
4. Every failure is in the security log and counted in /metrics.
"""
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("auth_throttle")
PASSWORD = "Thr0ttle-Admin-Pw-5150"
NEW_PASSWORD = "Thr0ttle-Second-Pw-8080"


def call(gw, src, method, path, body=None, cookie=None):
    """One request from source address src; returns (status, headers dict, text)."""
    host, port = gw.base.rsplit("/", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(src, 0))
    h = {"Origin": gw.base, "Content-Type": "application/json"}
    if cookie:
        h["Cookie"] = cookie
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace"))
    conn.close()
    return out


def session_cookie(headers):
    m = re.search(r"(tbgw_session=[A-Za-z0-9_-]{43})", headers.get("set-cookie", ""))
    return m.group(1) if m else None


def metric(text, name, labels):
    m = re.search(r"^tinybms_%s\{%s\} (\d+)" % (name, re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else None


def main():
    t0 = time.time()
    gw = tbtest.start_demo()
    st, h, body = call(gw, "127.0.0.1", "POST", "/api/auth/setup", {"code": gw.setup_code(), "password": PASSWORD})
    C.check(st == 200, f"set-up: {st} {body[:200]}")
    setup_session = session_cookie(h)  # the admin's session from 127.0.0.1, used in part 3

    # ---- 1. 30 wrong logins from 30 other addresses, then the admin from a fresh one ----------------
    codes = [call(gw, f"127.0.0.{i}", "POST", "/api/auth/login", {"password": f"guess-{i}"})[0] for i in range(2, 32)]
    C.check(codes == [401] * 30, f"30 wrong passwords from 127.0.0.2..31 are evaluated: {codes}")
    st, h, body = call(gw, "127.0.0.40", "POST", "/api/auth/login", {"password": PASSWORD})
    C.check(st == 200, f"the right password from a fresh 127.0.0.40 while others guess: {st} {body[:200]}")
    admin = session_cookie(h)
    C.check(admin is not None, "login sets the session cookie")
    # a second wave from the same 30 addresses does not stop the admin either
    for i in range(2, 32):
        call(gw, f"127.0.0.{i}", "POST", "/api/auth/login", {"password": f"again-{i}"})
    st, _, body = call(gw, "127.0.0.41", "POST", "/api/auth/login", {"password": PASSWORD})
    C.check(st == 200, f"the right password from 127.0.0.41 after a second wave: {st} {body[:200]}")

    # ---- 2. one address hammering is backed off --------------------------------------------------------
    got = [call(gw, "127.0.0.50", "POST", "/api/auth/login", {"password": "wrong-%d" % i}) for i in range(8)]
    codes = [g[0] for g in got]
    C.check(codes[:5] == [401] * 5 and 429 in codes[5:], f"5 free failures, then backed off: {codes}")
    st, h, _ = call(gw, "127.0.0.50", "POST", "/api/auth/login", {"password": PASSWORD})
    C.check(st == 429 and int(h.get("retry-after", "0")) >= 1,
            f"the backed-off address is refused even with the right password, with Retry-After: {st} {h}")

    # ---- 3. password change with a session while its address is backed off -----------------------------
    for i in range(8):
        call(gw, "127.0.0.1", "POST", "/api/auth/login", {"password": "intruder-%d" % i})
    st, _, _ = call(gw, "127.0.0.1", "POST", "/api/auth/login", {"password": PASSWORD})
    C.check(st == 429, f"127.0.0.1 is backed off now: {st}")
    st, h, body = call(gw, "127.0.0.1", "PUT", "/api/auth/password", {"current": PASSWORD, "password": NEW_PASSWORD},
                       cookie=setup_session)
    C.check(st == 200, f"the logged-in admin changes the password from the backed-off address: {st} {body[:200]}")
    admin = session_cookie(h) or admin

    # ---- 4. the security log and the counters -----------------------------------------------------------
    # Repeats of one address within 30 s are coalesced into a summary line written when the window
    # closes (the web service's tick, every 250 ms): wait for it, then the log must hold every count.
    time.sleep(31.5)
    st, _, mtext = call(gw, "127.0.0.1", "GET", "/metrics")
    failed = metric(mtext, "auth_events_total", 'event="login_failed"')
    refused = (metric(mtext, "auth_events_total", 'event="backed_off"') or 0) + \
        (metric(mtext, "auth_events_total", 'event="busy"') or 0)
    C.check(failed is not None and failed >= 60 + 5, f"failed logins counted: {failed}")
    C.check(metric(mtext, "auth_events_total", 'event="login"') == 2, "successful logins counted")
    C.check(metric(mtext, "auth_events_total", 'event="password_changed"') == 1, "password change counted")
    sec = re.search(r"^tinybms_log_security_lines_total (\d+)", mtext, re.M)
    C.check(sec and int(sec.group(1)) > 0, "security log lines counted")
    st, _, logs = call(gw, "127.0.0.1", "GET", "/api/logs?limit=512", cookie=admin)
    entries = [e["msg"] for e in json.loads(logs)["entries"] if e.get("module") == "web"]
    for i in range(2, 32):
        C.check(any(f"login failed from 127.0.0.{i}:" in m for m in entries),
                f"the failure from 127.0.0.{i} is in the log")
    logged_failed = sum(1 for m in entries if " failed from " in m)
    logged_failed += sum(int(x) for m in entries for x in re.findall(r": (\d+) more wrong", m))
    logged_refused = sum(1 for m in entries if re.search(r"^login from \S+ refused", m))
    logged_refused += sum(int(x) for m in entries for x in re.findall(r"and (\d+) refused in the last", m))
    C.check(logged_failed == failed, f"every failure in the log: {logged_failed} of {failed}")
    C.check(logged_refused == refused, f"every refusal in the log: {logged_refused} of {refused}")
    C.check(any(m.startswith("login from 127.0.0.40") for m in entries), "the successful login is logged")
    C.check(any(m.startswith("admin password changed from 127.0.0.1") for m in entries), "the change is logged")
    C.check(not any(PASSWORD in m or NEW_PASSWORD in m or "guess-" in m for m in entries),
            "no typed password in the log")
    print("\n".join(entries[-12:]))
    print(f"{failed} failures, {refused} refusals counted; {len(entries)} web log lines; {time.time() - t0:.1f} s")
    gw.stop_checked(C)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
