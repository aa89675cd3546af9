#!/usr/bin/python3
"""The dashboard a battery owner reads at a glance (issue 17), in headless Chromium against the demo.

- Battery card: time to go ("full in 2 h 10 min" while the demo charges, "empty in …" under its
  loads), remaining and consumed
  Ah, installed capacity and the BMS's charge counts, all as GET /api/status "battery" says.
- Charging and discharging allowed (or not, and why) as the status says.
- The per-cell mini bar chart: one bar per cell, the lowest and highest marked.
- Daily energy (today, yesterday, last 7 days, all time) consistent with GET /api/energy.
- The power chart is drawn from the history.
- Plain words: no label on the dashboard or the events/statistics page is a JSON key, no value is
  an identifier, temperatures in °C (never "degC"), times in 24-hour format; BMS events carry an
  approximate wall-clock time; the SOC/SOH preset registers that read 0xFFFF say "not set".
- A phone (390x844): the dashboard needs no horizontal scrolling.
Screenshots go to a temporary directory, or to TB_SCREENSHOT_DIR when set.
"""
import os
import re
import shutil
import sys
import tempfile
import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402
from test_web import browser, js_errors, phone, text  # noqa: E402
from test_web_truth import OVERFLOW_JS  # noqa: E402

C = tbtest.Checker("web_dash")
KEY_RE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


def wh_of(t):
    """'37 Wh' / '1.25 kWh' -> (Wh, rounding tolerance in Wh)."""
    m = re.fullmatch(r"(-?[\d.]+) (k?Wh)", t)
    if not m:
        return None, None
    v = float(m.group(1))
    return (v * 1000, 5.0) if m.group(2) == "kWh" else (v, 0.5)


def labels(d, css):
    return d.execute_script("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText.trim())",
                            css)


def main():
    t0 = time.time()
    shots = os.environ.get("TB_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="tbgw-dash-")
    os.makedirs(shots, exist_ok=True)
    gw = tbtest.start_demo(config={"web": {"ws_rate_hz": 5}})
    base = gw.base

    def api(path):
        return requests.get(base + path, timeout=5).json()
    # the settings and statistics are read once after the start: capacity and counts need them
    tbtest.wait_for(lambda: api("/api/status").get("battery", {}).get("capacity_ah") and
                    api("/api/status")["battery"].get("charge_count") is not None, 30, 0.3)
    tbtest.wait_for(lambda: api("/api/energy")["daily"]["today"] and
                    api("/api/energy")["daily"]["today"]["charged_wh"] > 0, 20, 0.3)
    energy_before = api("/api/energy")
    d = browser()
    try:
        w = WebDriverWait(d, 15, ignored_exceptions=(AssertionError,))
        d.get(base + "/#/")
        w.until(lambda d: text(d, "#pack-v") not in ("", "–"))
        w.until(lambda d: text(d, "#e-today-in") not in ("", "–") and text(d, "#cap") not in ("–", "not read yet"))
        st = api("/api/status")
        bt = st["battery"]

        # ---- time to go, Ah, capacity, cycles ------------------------------------------------------
        # the demo charges or runs loads (its day): the dashboard says what the status says
        # (text and visibility read together: near 0.5 A the demo's current can cross the idle line
        # between two reads, and the page follows it at the next update)
        for _ in range(20):
            ttg, tg = text(d, "#ttg"), api("/api/status")["battery"]["time_to_go"]
            shown = d.find_element(By.ID, "ttg").is_displayed()
            if (tg["direction"] in ("full", "empty") and tg["seconds"] is not None and ttg.startswith(tg["direction"])) \
                    or (tg["direction"] == "idle" and ttg == "" and not shown):
                break
            time.sleep(0.5)
        if tg["direction"] == "idle":  # below 0.5 A: nothing to tell
            C.check(ttg == "" and not shown, f"idle: no time to go ({ttg!r}, shown: {shown})")
        else:
            C.check(tg["direction"] in ("full", "empty") and tg["seconds"] is not None, f"the demo has a time to go: {tg}")
            C.check(re.fullmatch(tg["direction"] + r" in (\d+ d \d+ h|\d+ h \d+ min|\d+ min)( \(estimate\))?", ttg)
                    is not None, f"time to go in words: {ttg!r} ({tg})")
        C.check(text(d, "#cap") == f"{bt['capacity_ah']:.1f} Ah", f"installed capacity: {text(d, '#cap')!r} ({bt['capacity_ah']})")
        rem = re.match(r"([\d.]+) Ah", text(d, "#ah-rem"))
        used = re.match(r"([\d.]+) Ah", text(d, "#ah-used"))
        C.check(rem and used and abs(float(rem.group(1)) + float(used.group(1)) - bt["capacity_ah"]) < 0.3,
                f"remaining + consumed = capacity: {text(d, '#ah-rem')!r} + {text(d, '#ah-used')!r}")
        C.check(rem and abs(float(rem.group(1)) - bt["remaining_ah"]) < 3,
                f"remaining Ah as the status: {text(d, '#ah-rem')!r} ~ {bt['remaining_ah']}")
        n = bt["charge_count"]
        C.check(text(d, "#cycles") == f"{n} charge{'' if n == 1 else 's'}, {bt['full_charge_count']} full",
                f"charge counts: {text(d, '#cycles')!r}")

        # ---- charging / discharging allowed ------------------------------------------------------
        C.check(bt["charge_allowed"] and text(d, "#chg-ok").startswith("allowed, up to "),
                f"charging allowed: {text(d, '#chg-ok')!r}")
        C.check(bt["discharge_allowed"] and text(d, "#dis-ok").startswith("allowed, up to "),
                f"discharging allowed: {text(d, '#dis-ok')!r}")

        # ---- cell bars ------------------------------------------------------------------------------
        bars = d.find_elements(By.CSS_SELECTOR, "#mini-cells .mc")
        C.check(len(bars) == st["bms"]["cell_count"] == 16, f"one bar per cell on the dashboard ({len(bars)})")
        C.check(len(d.find_elements(By.CSS_SELECTOR, "#mini-cells .mc.min")) >= 1 and
                len(d.find_elements(By.CSS_SELECTOR, "#mini-cells .mc.max")) >= 1, "lowest and highest cell marked")

        # ---- daily energy = /api/energy ---------------------------------------------------------------
        w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dash-power svg"))
        shown = {k: text(d, "#e-" + k) for k in ("today-in", "today-out", "yday-in", "yday-out", "week-in", "week-out",
                                                 "total-in", "total-out")}
        energy_after = api("/api/energy")
        day_b, day_a = energy_before["daily"], energy_after["daily"]
        C.check(day_a["clock_known"] and re.fullmatch(r"\d{4}-\d\d-\d\d", day_a["date"] or ""),
                f"the gateway knows the date: {day_a['date']}")
        for k, lo, hi in (("today-in", day_b["today"]["charged_wh"], day_a["today"]["charged_wh"]),
                          ("today-out", day_b["today"]["discharged_wh"], day_a["today"]["discharged_wh"]),
                          ("yday-in", day_b["yesterday"]["charged_wh"], day_a["yesterday"]["charged_wh"]),
                          ("week-in", day_b["last_7_days"]["charged_wh"], day_a["last_7_days"]["charged_wh"]),
                          ("week-out", day_b["last_7_days"]["discharged_wh"], day_a["last_7_days"]["discharged_wh"]),
                          ("total-in", energy_before["charged_wh"], energy_after["charged_wh"])):
            v, tol = wh_of(shown[k])
            C.check(v is not None and lo - tol <= v <= hi + tol, f"energy {k}: {shown[k]!r} within {lo}..{hi} Wh of /api/energy")
        C.check(day_a["last_7_days"]["charged_wh"] >= day_a["today"]["charged_wh"], "the last 7 days include today")
        C.check(day_a["days"] and day_a["days"][0]["date"] == day_a["date"], f"the newest day is today: {day_a['days'][:1]}")

        # ---- plain words on the dashboard ------------------------------------------------------------
        dash_labels = labels(d, "#view dt, #view th, #view h2, #view label")
        raw = [t for t in dash_labels if KEY_RE.match(t)]
        C.check(not raw, f"dashboard: no label is a JSON key: {raw}")
        page = text(d, "#view")
        C.check("degC" not in page and not re.search(r"\b[AP]M\b", page), "dashboard: °C, 24-hour times")
        tbtest.screenshot(d, os.path.join(shots, "dashboard.png"))

        # ---- events and statistics: words, wall-clock times ------------------------------------------
        d.get(base + "/#/events")
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#events tbody tr")) >= 1 and
                len(d.find_elements(By.CSS_SELECTOR, "#stats dt")) > 5 and
                len(d.find_elements(By.CSS_SELECTOR, "#version dt")) > 5)
        stats, ver = api("/api/bms/stats"), api("/api/bms/version")
        keys = set(stats) | set(ver)
        dts = labels(d, "#stats dt, #version dt, #events th")
        # a JSON key, or a key with its underscores made spaces ("max cell diff v", "stats cleared s")
        bad = [t for t in dts if KEY_RE.match(t) or t in {k.replace("_", " ") for k in keys}]
        C.check(not bad, f"statistics and version: no label is a JSON key ({bad})")
        dds = labels(d, "#stats dd, #version dd")
        idents = {v for v in list(stats.values()) + list(ver.values()) if isinstance(v, str) and "_" in v}
        bad = [t for t in dds if t in idents or "_" in t]
        C.check(not bad, f"statistics and version: values in words, not identifiers ({bad})")
        C.check(any("°C" in t for t in dds), "pack temperatures in °C")
        ev = api("/api/bms/events")
        first = ev["events"][-1] if ev["events"] else None
        C.check(first is not None and first.get("time_ms"), f"events carry a wall-clock time: {first}")
        cell = text(d, "#events tbody tr:first-child td:first-child")
        C.check(re.fullmatch(r"≈ \d{4}-\d\d-\d\d \d\d:\d\d", cell) is not None, f"event time, 24-hour and approximate: {cell!r}")
        C.check("approximate" in text(d, "#ev-info"), "the page says the times are approximate")
        tbtest.screenshot(d, os.path.join(shots, "events.png"))

        # ---- 0xFFFF presets say "not set" ------------------------------------------------------------------
        regs = {r["name"]: r for r in api("/api/bms/settings")["registers"]}
        C.check(regs["state_of_charge_setting"].get("not_set") is True, "API: the SOC preset reading 0xFFFF is not set")
        d.get(base + "/#/settings")
        w.until(lambda d: d.find_elements(By.ID, "val-state_of_charge_setting"))
        for n in ("state_of_charge_setting", "state_of_health_setting"):
            C.check(text(d, "#val-" + n) == "not set", f"{n} shows 'not set' ({text(d, '#val-' + n)!r})")
        C.check("131.07" not in text(d, "#view") and "degC" not in text(d, "#view"), "settings: no 131.07 %, no degC")
        js_errors(d, "dashboard flows")
    finally:
        d.quit()

    # ---- phone: the dashboard fits 390 px ----------------------------------------------------------------
    m = phone(390, 844)
    try:
        wm = WebDriverWait(m, 15, ignored_exceptions=(AssertionError,))
        m.get(base + "/#/")
        wm.until(lambda d: text(d, "#pack-v") not in ("", "–") and d.find_elements(By.CSS_SELECTOR, "#dash-power svg"))
        r = m.execute_script(OVERFLOW_JS)
        C.check(r["cw"] == 390 and r["sw"] <= r["cw"] and r["worst"] is None,
                f"phone dashboard fits 390 px (scrollWidth {r['sw']}, widest offender: {r['worst']})")
        tbtest.screenshot(m, os.path.join(shots, "phone-dashboard.png"))
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
