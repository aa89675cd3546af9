#!/usr/bin/python3
"""The web UI in headless Chromium (Debian chromium + chromium-driver + python3-selenium).

- The UI fits the ESP32 budget (300 KB gzipped) and names no other host: every asset is local.
- Every page loads without a JavaScript error and without a request to any other host.
- Live values change on the dashboard (WebSocket).
- First start through the UI: the admin password is set with the setup code.
- A BMS setting is changed end to end: edit -> the diff is shown -> confirm -> the read-back is
  shown, and the API agrees.
- A configuration value out of range is refused at its field before the review dialog; a valid
  one is saved through it (the review flows in detail: test_web_flows.py).
Screenshots go to a temporary directory, or to TB_SCREENSHOT_DIR (e.g. docs/img) when set;
TB_SCREENSHOT_HISTORY_S waits that long first so that the charts have data.
"""
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time

import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("web")
BUDGET_GZ = 300 * 1024
# Namespace names are identifiers, never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
PAGES = ["", "cells", "charts", "settings", "events", "can", "config", "logs", "system", "login"]
PASSWORD = "browser-test-password"


def ui_budget():
    web = os.path.join(tbtest.SRC, "web")
    total, raw, files = 0, 0, 0
    for root, _, names in os.walk(web):
        for n in names:
            if not re.search(r"\.(html|js|css|svg|png|ico|webmanifest|txt)$", n):
                continue
            data = open(os.path.join(root, n), "rb").read()
            raw += len(data)
            total += len(gzip.compress(data, 9))
            files += 1
            for url in re.findall(rb"https?://[^\s\"'<>)]+", data):
                u = url.decode(errors="replace")
                C.check(u in NAMESPACES, f"{n}: no URL to another host ({u})")
    print(f"UI: {files} files, {raw} bytes, {total} bytes gzipped (budget {BUDGET_GZ})")
    C.check(total <= BUDGET_GZ, f"UI within 300 KB gzipped: {total}")
    return total


def browser(width=1280, height=900):
    o = Options()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
              "--disable-default-apps", f"--window-size={width},{height}"):
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def phone(width=390, height=844):
    """A browser with a phone's viewport. Chromium's window is never narrower than 500 px, so
    --window-size=390,... alone would test 500 px: the device metrics are emulated instead (a
    mobile viewport, which honours the page's <meta name=viewport>)."""
    d = browser(width, height)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    return d


def check_requests(d, host, what):
    """Every network request the page made went to the gateway itself."""
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") == "Network.requestWillBeSent":
            url = m["params"]["request"]["url"]
            if url.startswith(("data:", "blob:")):
                continue
            C.check(url.startswith(("http://" + host, "ws://" + host)), f"{what}: request to another host: {url}")
        elif m.get("method") == "Network.webSocketCreated":
            C.check(m["params"]["url"].startswith("ws://" + host), f"{what}: WebSocket elsewhere: {m['params']['url']}")


def js_errors(d, what):
    for e in d.get_log("browser"):
        if e["level"] == "SEVERE":
            C.check(False, f"{what}: console error: {e['message']}")


def text(d, css):
    """The rendered text of an element, read in one step (live pages replace their elements)."""
    t = d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)
    if t is None:
        raise AssertionError(f"no element {css}")
    return t.strip()


def main():
    t0 = time.time()
    ui_budget()
    shots = os.environ.get("TB_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="tbgw-shots-")
    os.makedirs(shots, exist_ok=True)
    gw = tbtest.start_demo(config={"web": {"ws_rate_hz": 5}})
    host = gw.base.split("://", 1)[1]
    served = requests.get(gw.base + "/api/system", timeout=5).json()["ui"]
    C.check(served["gzip_bytes"] <= BUDGET_GZ, f"served UI within budget: {served}")
    wait_hist = float(os.environ.get("TB_SCREENSHOT_HISTORY_S", "0"))
    d = browser()
    try:
        w = WebDriverWait(d, 10, ignored_exceptions=(AssertionError,))
        # ---- every page loads, no errors, no foreign requests ------------------------------------
        for p in PAGES:
            d.get(gw.base + "/#/" + p)
            w.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#view h1")))
            time.sleep(0.6)
            C.check(text(d, "#view h1") != "", f"page #{p or 'dashboard'} renders")
            js_errors(d, "#/" + p)
            check_requests(d, host, "#/" + p)

        # ---- live values change on the dashboard --------------------------------------------------
        d.get(gw.base + "/#/")
        w.until(lambda d: text(d, "#conn") == "live")
        w.until(lambda d: text(d, "#pack-v") not in ("", "–"))
        # the demo battery charges from 62 % at 30x speed: its values move while the link counters
        # prove that every update arrives
        fields = ("#pack-v", "#pack-a", "#soc", "#cell-min", "#cell-max", "#link-req")
        first = [text(d, f) for f in fields]
        changed = False
        for _ in range(60):
            time.sleep(0.25)
            now = [text(d, f) for f in fields]
            if now[5] != first[5] and now[:5] != first[:5]:
                changed = True
                break
        C.check(changed, f"live values change on the dashboard: {first} -> {now}")
        C.check(re.fullmatch(r"\d+\.\d\d", text(d, "#cvl")) is not None, "CVL shown")
        C.check("limited by" in text(d, "#ccl-lim"), "the binding limiter of CCL is shown")
        C.check(text(d, "#reason") not in ("", "–"), "the reason of the limits is shown")
        C.check(text(d, "#gx") in ("GX present", "GX not seen"), "GX presence shown")
        C.check(text(d, "#link") == "link up", "link health shown")
        tbtest.screenshot(d, os.path.join(shots, "dashboard.png"))

        d.get(gw.base + "/#/cells")
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells .cell")) == 16)
        C.check(len(d.find_elements(By.CSS_SELECTOR, "#cells .cell.min")) >= 1, "the lowest cell is marked")
        tbtest.screenshot(d, os.path.join(shots, "cells.png"))

        if wait_hist:
            print(f"collecting {wait_hist:.0f} s of history for the charts")
            time.sleep(wait_hist)
        d.get(gw.base + "/#/charts")
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#ch-v svg")) == 1)
        C.check(d.find_element(By.ID, "csv").get_attribute("href").endswith("/api/history.csv?range=1h"), "CSV link")
        d.find_element(By.ID, "range-24h").click()
        w.until(lambda d: d.find_element(By.ID, "csv").get_attribute("href").endswith("range=24h"))
        d.find_element(By.ID, "range-1h").click()
        time.sleep(1.0)
        d.set_window_size(1280, 1900)
        d.find_element(By.ID, "range-1h").click()  # redraw at the new width
        time.sleep(1.0)
        tbtest.screenshot(d, os.path.join(shots, "charts.png"))
        d.set_window_size(1280, 900)

        d.get(gw.base + "/#/can")
        w.until(lambda d: d.find_elements(By.ID, "can-0x351"))
        c1 = text(d, "#can-0x351 td:nth-child(4)")
        w.until(lambda d: text(d, "#can-0x351 td:nth-child(4)") != c1)
        C.check(True, "CAN monitor updates live")
        tbtest.screenshot(d, os.path.join(shots, "can.png"))

        d.get(gw.base + "/#/logs")
        try:
            w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log div")) > 3)
        except Exception:
            print(text(d, "#view")[:400], d.get_log("browser"))
            raise
        tbtest.screenshot(d, os.path.join(shots, "logs.png"))

        # ---- first start: set the admin password through the UI ----------------------------------
        d.get(gw.base + "/#/settings")
        w.until(lambda d: d.find_elements(By.ID, "in-over_voltage_cutoff"))
        C.check(not d.find_element(By.ID, "in-over_voltage_cutoff").is_enabled(), "settings read-only without login")
        C.check(d.find_element(By.ID, "banner").is_displayed(), "the set-the-password banner is shown")
        d.get(gw.base + "/#/setup")
        w.until(lambda d: d.find_elements(By.ID, "setup-code"))
        tbtest.screenshot(d, os.path.join(shots, "setup.png"))
        d.find_element(By.ID, "setup-code").send_keys(gw.setup_code())
        d.find_element(By.ID, "new-pw").send_keys(PASSWORD)
        d.find_element(By.ID, "new-pw2").send_keys(PASSWORD)
        d.find_element(By.ID, "setup-btn").click()
        w.until(lambda d: d.find_elements(By.ID, "logout"))
        C.check(not d.find_element(By.ID, "banner").is_displayed(), "logged in after set-up; banner gone")
        cookie = d.get_cookie("tbgw_session")
        C.check(cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", f"session cookie: {cookie}")
        C.check(d.execute_script("return document.cookie").find("tbgw_session") < 0, "the session is not readable by JS")

        # ---- change a BMS setting end to end ------------------------------------------------------
        d.get(gw.base + "/#/settings")
        w.until(lambda d: d.find_elements(By.ID, "in-over_voltage_cutoff") and
                d.find_element(By.ID, "in-over_voltage_cutoff").is_enabled())
        old = float(d.find_element(By.ID, "in-over_voltage_cutoff").get_attribute("value"))
        new = 3650 if old != 3650 else 3700
        inp = d.find_element(By.ID, "in-over_voltage_cutoff")
        inp.clear()
        inp.send_keys(str(new))
        C.check("changed" in inp.get_attribute("class"), "the edited field is marked")
        rv = d.find_element(By.ID, "review")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", rv)
        rv.click()
        w.until(lambda d: d.find_elements(By.ID, "diff"))
        diff = text(d, "#diff")
        C.check(str(int(old)) in diff and str(new) in diff, f"the diff shows old and new: {diff!r}")
        tbtest.screenshot(d, os.path.join(shots, "settings-diff.png"))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: "read back" in text(d, "#res-over_voltage_cutoff"))
        rb = text(d, "#res-over_voltage_cutoff")
        C.check(f"read back {new}" in rb, f"the read-back is shown: {rb!r}")
        C.check(text(d, "#val-over_voltage_cutoff").startswith(str(new)), "the current value shows the read-back")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", d.find_element(By.ID, "row-over_voltage_cutoff"))
        time.sleep(0.3)
        tbtest.screenshot(d, os.path.join(shots, "settings.png"))
        api = requests.get(gw.base + "/api/bms/settings/over_voltage_cutoff", timeout=5).json()
        deadline = time.time() + 10
        while api["value"] != new and time.time() < deadline:
            time.sleep(0.3)
            api = requests.get(gw.base + "/api/bms/settings/over_voltage_cutoff", timeout=5).json()
        C.check(api["value"] == new, f"the BMS holds the new value ({api['value']})")

        # ---- an out-of-range edit is refused and names the field ------------------------------------
        d.get(gw.base + "/#/config")
        w.until(lambda d: d.find_elements(By.ID, "cfg-web-ws_rate_hz"))
        f = d.find_element(By.ID, "cfg-web-ws_rate_hz")
        f.clear()
        f.send_keys("50")
        save = d.find_element(By.ID, "cfg-save")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
        save.click()
        w.until(lambda d: text(d, "#err-cfg-web-ws_rate_hz") != "")
        C.check("web.ws_rate_hz" in text(d, "#err-cfg-web-ws_rate_hz"), "a refused config value is shown at its field")
        C.check(not d.execute_script("return document.getElementById('dialog').open"), "and refused before the review dialog")
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        C.check(not errors, f"no error in the console: {errors}")
        f.clear()
        f.send_keys("4")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
        save.click()
        w.until(lambda d: d.find_elements(By.ID, "cfg-diff"))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: "changed" in text(d, "#cfg-result"))
        C.check(requests.get(gw.base + "/api/config", timeout=5).json()["web"]["ws_rate_hz"] == 4, "config saved")
        d.execute_script("window.scrollTo(0, 0)")
        tbtest.screenshot(d, os.path.join(shots, "config.png"))

        d.get(gw.base + "/#/events")
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#events tbody tr")) >= 1)
        tbtest.screenshot(d, os.path.join(shots, "events.png"))
        d.get(gw.base + "/#/system")
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sys dt")) > 5)
        tbtest.screenshot(d, os.path.join(shots, "system.png"))
        js_errors(d, "after the flows")
        check_requests(d, host, "after the flows")
    finally:
        d.quit()

    # ---- readable on a phone ---------------------------------------------------------------------------
    m = phone(390, 844)
    try:
        m.get(gw.base + "/#/")
        WebDriverWait(m, 10).until(lambda d: text(d, "#pack-v") not in ("", "–"))
        C.check(m.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
                "no horizontal scrolling on a phone")
        C.check(not m.find_element(By.ID, "nav").is_displayed(), "the menu folds away on a phone")
        m.find_element(By.ID, "menu-btn").click()
        C.check(m.find_element(By.ID, "nav").is_displayed(), "the menu button opens it")
        m.find_element(By.ID, "menu-btn").click()
        tbtest.screenshot(m, os.path.join(shots, "phone-dashboard.png"))
        m.get(gw.base + "/#/cells")
        WebDriverWait(m, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells .cell")) == 16)
        C.check(m.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
                "cells fit a phone")
        tbtest.screenshot(m, os.path.join(shots, "phone-cells.png"))
        js_errors(m, "phone")
    finally:
        m.quit()
    print(f"screenshots in {shots}; {time.time() - t0:.1f} s")
    if not os.environ.get("TB_SCREENSHOT_DIR"):
        shutil.rmtree(shots, ignore_errors=True)
    gw.stop_checked(C)
    C.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
