#!/usr/bin/python3
"""The web UI tells the truth at a glance (issue 17), in headless Chromium (setup from test_web.py).

- Phone: at 390x844 no page (route) needs horizontal scrolling and no element is wider than the
  viewport; a failure names the page and the offending element.
- Stale data: the gateway reads tinybms-sim over a pty; the simulator is made silent
  (`fault noreply always` on its control socket). The header then says the battery data is lost
  (not just "live" for the page's WebSocket), the Battery, Cells and Temperatures cards are
  marked stale with the age of their data, the charge badge no longer claims a charge phase (nor
  while discharging: it says "discharging"), and
  once the fail-safe stops transmission the limits card says that nothing is sent.
Screenshots go to a temporary directory, or to TB_SCREENSHOT_DIR when set.
"""
import os
import re
import shutil
import sys
import tempfile
import time

import requests
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402
from test_web import browser, js_errors, phone, text  # noqa: E402

C = tbtest.Checker("web_truth")
PAGES = ["", "cells", "charts", "settings", "events", "can", "config", "logs", "system", "login", "setup"]

# The widest element that sticks out of the viewport, as "tag#id.class (left..right px): text".
OVERFLOW_JS = """
const vw = document.documentElement.clientWidth;
let worst = null;
for (const e of document.querySelectorAll('body *')) {
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.right > vw + 1 || r.left < -1) {
    if (!worst || r.width > worst.w) {
      worst = {w: r.width, d: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : '') +
        ' (' + Math.round(r.left) + '..' + Math.round(r.right) + ' px): ' + (e.innerText || '').slice(0, 60)};
    }
  }
}
return {sw: document.documentElement.scrollWidth, cw: vw, worst: worst && worst.d};
"""


def main():
    t0 = time.time()
    shots = os.environ.get("TB_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="tbgw-truth-")
    os.makedirs(shots, exist_ok=True)
    tmp = tbtest.tmpdir("tbgw-truth-")
    sim, pty, ctl = tbtest.start_sim(tmp, "--cells", "16", "--capacity", "200", "--soc", "70", "--seed", "7",
                                     "--current", "20")
    cfg = os.path.join(tmp, "gw.json")
    with open(cfg, "w") as f:
        # stale after 1.5 s, fail-safe (stop transmitting) after 3 s: the whole story in seconds
        f.write('{"failsafe": {"stale_ms": 1500, "failsafe_ms": 3000, "mode": "stop_transmitting"},'
                ' "link": {"backoff_max_ms": 1000}}\n')
    port = tbtest.free_port()
    base = f"http://127.0.0.1:{port}"
    gw = tbtest.start_gateway(["--serial", pty, "--can", "log:" + os.path.join(tmp, "can.log"), "--state-dir", tmp,
                               "--config", cfg, "--http", f"127.0.0.1:{port}"], os.path.join(tmp, "gateway.log"))

    def status():
        try:
            return requests.get(base + "/api/status", timeout=2).json()
        except Exception:
            return None
    # (503 {"error":"starting"} until the first view: no "limits" yet; the sanitizer builds start slowly)
    st = tbtest.wait_for(lambda: (s := status()) and s.get("limits", {}).get("data") == "fresh"
                         and s["limits"].get("transmit") and s, 30, 0.2)
    if not st:
        print(open(os.path.join(tmp, "gateway.log"), errors="replace").read()[-2000:])
    C.check(bool(st), "the gateway reads the simulator: data fresh, limits sent")
    # the BMS settings are read once after the start: the settings page needs them
    tbtest.wait_for(lambda: requests.get(base + "/api/bms/settings", timeout=2).json().get("valid"), 20, 0.3)

    # ---- phone: no page scrolls sideways --------------------------------------------------------
    m = phone(390, 844)
    try:
        wm = WebDriverWait(m, 10, ignored_exceptions=(AssertionError,))
        for p in PAGES:
            m.get(base + "/#/" + p)
            wm.until(lambda d: d.find_elements("css selector", "#view h1"))
            time.sleep(1.2)  # the page's data arrives (settings, events, CAN frames, config schema)
            r = m.execute_script(OVERFLOW_JS)
            C.check(r["cw"] == 390, f"phone #/{p}: the viewport is 390 px wide ({r['cw']})")
            C.check(r["sw"] <= r["cw"] and r["worst"] is None,
                    f"phone #/{p or 'dashboard'}: fits 390 px (scrollWidth {r['sw']}, clientWidth {r['cw']}; "
                    f"widest offender: {r['worst']})")
            m.save_screenshot(os.path.join(shots, f"phone-{p or 'dashboard'}.png"))
        js_errors(m, "phone")
    finally:
        m.quit()

    d = browser()
    try:
        w = WebDriverWait(d, 15, ignored_exceptions=(AssertionError,))
        d.get(base + "/#/")
        w.until(lambda d: text(d, "#conn") == "live")
        w.until(lambda d: text(d, "#pack-v") not in ("", "–"))
        C.check(d.find_elements("css selector", "#bms-data") and "live" in text(d, "#bms-data"),
                "fresh data: the header says the battery data is live")
        C.check(not d.find_elements("css selector", "#card-battery.stale"), "fresh data: the Battery card is not stale")
        C.check(text(d, "#chg-state") == "bulk", f"charging: the badge shows the phase ({text(d, '#chg-state')!r})")
        d.save_screenshot(os.path.join(shots, "fresh.png"))
        # discharging: the phase the controller is in (bulk) is not what the battery does
        ctl.cmd("discharge 30")
        try:
            w.until(lambda d: text(d, "#chg-state") == "discharging")
        except Exception:
            pass
        C.check(text(d, "#chg-state") == "discharging",
                f"discharging: the badge says so, not the charge phase ({text(d, '#chg-state')!r}, "
                f"pack {text(d, '#pack-a')} A)")

        # ---- the BMS goes silent ----------------------------------------------------------------
        ctl.cmd("fault noreply always")
        t_silent = time.time()
        try:
            w.until(lambda d: "stale" in text(d, "#bms-data") or "lost" in text(d, "#bms-data"))
        except Exception:
            C.check(False, f"stale: the header says the battery data is not live ({text(d, '#bms-data') if d.find_elements('css selector', '#bms-data') else 'no #bms-data'}; #conn {text(d, '#conn')!r})")
        w.until(lambda d: (status() or {}).get("can", {}).get("mode") == "stopped")
        time.sleep(1.5)  # a status after the fail-safe reaches the page
        hdr = text(d, "#bms-data") if d.find_elements("css selector", "#bms-data") else ""
        C.check("battery data lost" in hdr and re.search(r"\d+ s", hdr) is not None,
                f"fail-safe: the header says the battery data is lost, with its age ({hdr!r})")
        C.check(text(d, "#conn") == "live", "the page connection itself is still live")
        for card in ("card-battery", "card-cells", "card-temps"):
            el = d.find_elements("css selector", f"#{card}.stale")
            note = text(d, f"#{card} .age-note") if el else ""
            C.check(bool(el) and re.search(r"\d+ s ago", note) is not None,
                    f"fail-safe: #{card} is marked stale with the age of its data ({note!r})")
            if el:
                # the opacity a value is drawn with: its own times its ancestors'
                op = d.execute_script("let o = 1; for (let e = arguments[0]; e; e = e.parentElement) "
                                      "o *= Number(getComputedStyle(e).opacity); return o;",
                                      d.find_element("css selector", f"#{card} dd"))
                C.check(float(op) < 0.8, f"#{card}: its values are greyed (opacity {op})")
        sent = text(d, "#sent") if d.find_elements("css selector", "#sent") else text(d, "#view")
        C.check("nothing is sent" in sent, f"fail-safe: the limits card says nothing is sent ({sent!r})")
        C.check("limited by" not in text(d, "#cvl-lim"), f"no 'CVL limited by' while nothing is sent ({text(d, '#cvl-lim')!r})")
        chg = text(d, "#chg-state")
        C.check(chg not in ("bulk", "absorption", "float") and "stopped" in chg,
                f"fail-safe: the badge says charging stopped, not a phase ({chg!r})")
        C.check("battery values below are the last ones" in text(d, "#dash-wait"), "the dashboard says its values are old")
        d.save_screenshot(os.path.join(shots, "failsafe.png"))
        d.get(base + "/#/cells")
        w.until(lambda d: d.find_elements("css selector", "#cells .cell"))
        time.sleep(1.2)
        C.check(bool(d.find_elements("css selector", "#card-cellpage.stale")) and "ago" in text(d, "#card-cellpage .age-note"),
                "fail-safe: the Cells page is marked stale with the age")
        d.save_screenshot(os.path.join(shots, "failsafe-cells.png"))
        js_errors(d, "stale")
        print(f"silence -> checked in {time.time() - t_silent:.1f} s")
    finally:
        d.quit()
    ctl.cmd("fault clear")
    print(f"screenshots in {shots}; {time.time() - t0:.1f} s")
    if not os.environ.get("TB_SCREENSHOT_DIR"):
        shutil.rmtree(shots, ignore_errors=True)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
