#!/usr/bin/python3
"""fw-ui: the web UI served by the firmware (esp_http_server in QEMU, forwarded port) in headless
Chromium (Debian chromium + chromium-driver + python3-selenium; the browser set-up of
tests/integration/test_web.py).

- Every page renders its heading with no JavaScript console error and no request to another host.
- The dashboard goes live over the firmware's WebSocket (/ws): the page's connection pill says
  "live", the battery pill says the data is live, the pack voltage and SOC shown agree with the
  simulator, and the values move while the battery charges (the link's request counter too).
- The cells page shows one tile per cell of the simulated pack (12)."""
import json
import re
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import fwrig
from test_web import browser, text  # noqa: E402  (tests/integration, on the path through fwrig)

CELLS = 12
PAGES = ["", "cells", "charts", "settings", "events", "can", "config", "logs", "system"]


def js_errors(C, d, what):
    for e in d.get_log("browser"):
        C.check(e["level"] != "SEVERE", f"{what}: console error: {e['message']}")


def foreign_requests(C, d, host, what):
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") == "Network.requestWillBeSent":
            url = m["params"]["request"]["url"]
            if not url.startswith(("data:", "blob:")):
                C.check(url.startswith(("http://" + host, "ws://" + host)), f"{what}: request to another host: {url}")


def main(rig):
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    host = b.base.split("://", 1)[1]
    d = browser()
    try:
        w = WebDriverWait(d, 15, ignored_exceptions=(AssertionError,))
        for p in PAGES:
            d.get(b.base + "/#/" + p)
            try:
                w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#view h1") and text(d, "#view h1") != "")
                C.check(True, f"page #/{p} renders")
            except Exception:
                C.check(False, f"page #/{p or 'dashboard'} renders its heading")
            time.sleep(0.5)  # the page's data requests
            js_errors(C, d, f"#/{p}")
            foreign_requests(C, d, host, f"#/{p}")

        d.get(b.base + "/#/")
        try:
            w.until(lambda d: text(d, "#conn") == "live" and text(d, "#pack-v") not in ("", "–"))
        except Exception:
            pass
        C.check(text(d, "#conn") == "live", f"the page's WebSocket to the firmware is live ({text(d, '#conn')!r})")
        C.check("live" in text(d, "#bms-data"), f"the battery data is live ({text(d, '#bms-data')!r})")
        tr = rig.ctl.truth()
        shown_v = float(text(d, "#pack-v")) if re.fullmatch(r"\d+\.\d+", text(d, "#pack-v")) else None
        m = re.fullmatch(r"(\d+\.\d) %", text(d, "#soc"))
        shown_soc = float(m.group(1)) if m else None
        C.close(tr["pack_v"], shown_v, "pack voltage shown vs the simulator", 0.05)
        C.close(tr["bms_soc"], shown_soc, "SOC shown vs the simulator", 0.5)
        fields = ("#pack-v", "#soc", "#link-req")
        first = [text(d, f) for f in fields]
        now = first
        for _ in range(40):
            time.sleep(0.25)
            now = [text(d, f) for f in fields]
            if now[2] != first[2] and now[:2] != first[:2]:
                break
        C.check(now[2] != first[2] and now[:2] != first[:2], f"live values move on the dashboard: {first} -> {now}")
        C.check(re.fullmatch(r"\d+\.\d\d", text(d, "#cvl")) is not None, f"CVL shown ({text(d, '#cvl')!r})")
        js_errors(C, d, "dashboard, live")

        d.get(b.base + "/#/cells")
        try:
            w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells .cell")) == CELLS)
        except Exception:
            pass
        n = len(d.find_elements(By.CSS_SELECTOR, "#cells .cell"))
        C.check(n == CELLS, f"the cells page shows {CELLS} cells ({n})")
        js_errors(C, d, "#/cells, live")
    finally:
        d.quit()
    rig.check_no_crash(b)


if __name__ == "__main__":
    # charging at 10x speed: the SOC moves 0.1 % a second (shown to 0.1 %; a 1 Hz view lags up to 0.2 %)
    fwrig.run(main, lambda: fwrig.Rig("fw-ui", "--cells", str(CELLS), "--soc", "40", "--seed", "8", "--current", "40",
                                      "--speed", "10"))
