#!/usr/bin/python3
"""The web UI's flows (issue 17), in headless Chromium against the demo daemon (setup from
test_web.py):

- Set-up and login return to the page the user came from: the login page offers the set-up step
  while no password is set; "Log in" from a page's header comes back to that page.
- The configuration review step: two fields changed -> the sticky bar says "2 unsaved changes"
  (on screen at the top of the page) -> Save opens a dialog that lists exactly those two, old ->
  new with units -> confirmed -> GET /api/config reads the new values back. An out-of-range value
  (configuration and BMS settings) is refused at its field before any dialog opens.
- Start-up warnings reach the UI: a charge target below the BMS's fully charged voltage shows the
  status document's warning as a banner on the configuration page and the dashboard.
- Restore: the chosen file's diff is shown before anything is applied; a file the gateway refuses
  (a cross-field rule the page cannot check) is refused inside the dialog, at the row; a file
  that is not JSON is refused in the dialog without sending anything.
- Lost session: the gateway restarts from under a logged-in page -> the header says "Log in" and
  the page says the login ended -> a write asks for the password in a dialog -> after the login
  the same write goes through, on the same page.
- Phone width (390x844): no dialog added here (review, restore, login) nor a page with a refused
  value or a warning banner scrolls sideways (the pages themselves: test_web_truth.py).
Screenshots go to a temporary directory, or to TB_SCREENSHOT_DIR when set.
"""
import json
import os
import shutil
import sys
import tempfile
import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402
from test_web import browser, phone, text  # noqa: E402
from test_web_truth import OVERFLOW_JS  # noqa: E402

C = tbtest.Checker("web_flows")
PASSWORD = "flows-test-password"


def js_errors(d, what, restart=False):
    """Console errors, but for the refusals the flows provoke on purpose (401, 400) and, with
    `restart`, the failed requests while the gateway restarts (503, connection refused/reset)."""
    allowed = ["(Unauthorized)", "(Bad Request)"] + (["(Service Unavailable)", "net::ERR_"] if restart else [])
    for e in d.get_log("browser"):
        if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed):
            C.check(False, f"{what}: console error: {e['message']}")


def is_open(d, dlg="dialog"):
    return d.execute_script("const e = document.getElementById(arguments[0]); return !!(e && e.open);", dlg)


def page(d):
    return d.execute_script("return location.hash")


def set_field(d, el_id, value):
    el = d.find_element(By.ID, el_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.clear()
    el.send_keys(str(value))
    return el


def click(d, el_id):
    el = d.find_element(By.ID, el_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def choose_file(d, path):
    """The Restore button is a label for a hidden file input: give the input the file."""
    d.execute_script("document.getElementById('cfg-restore').hidden = false")
    d.find_element(By.ID, "cfg-restore").send_keys(path)


def diff_rows(d, table):
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tr')).map((r) => "
        "({key: r.dataset.key, old: r.querySelector('.old').innerText, new: r.querySelector('.new').innerText, "
        "text: r.innerText, bad: r.classList.contains('row-bad')}))", table)


def api_config(gw):
    return requests.get(gw.base + "/api/config", timeout=5).json()


def fits(d, what):
    r = d.execute_script(OVERFLOW_JS)
    C.check(r["sw"] <= r["cw"] and r["worst"] is None,
            f"phone: {what} fits 390 px (scrollWidth {r['sw']}, clientWidth {r['cw']}; widest offender: {r['worst']})")


def login_in_dialog(d, w):
    w.until(lambda d: is_open(d, "login-dialog"))
    d.find_element(By.ID, "rl-password").send_keys(PASSWORD)
    d.find_element(By.ID, "rl-login-btn").click()
    w.until(lambda d: not is_open(d, "login-dialog"))


def main():
    t0 = time.time()
    shots = os.environ.get("TB_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="tbgw-flows-")
    os.makedirs(shots, exist_ok=True)
    tmp = tbtest.tmpdir("tbgw-flows-")
    gw = tbtest.start_demo(config={"web": {"ws_rate_hz": 5}})
    tbtest.wait_for(lambda: requests.get(gw.base + "/api/bms/settings", timeout=2).json().get("valid"), 20, 0.3)
    d = browser()
    try:
        w = WebDriverWait(d, 15, ignored_exceptions=(AssertionError,))
        # ---- set-up from the login page, back to the page it was reached from ---------------------
        d.get(gw.base + "/#/config")
        w.until(lambda d: d.find_elements(By.ID, "cfg-web-ws_rate_hz"))
        C.check(not d.find_element(By.ID, "cfg-save").is_enabled(), "config: Save disabled before any login")
        d.find_element(By.CSS_SELECTOR, "#banner a").click()
        w.until(lambda d: page(d) == "#/login")
        w.until(lambda d: d.find_elements(By.ID, "setup-code"))
        C.check(True, "the login page offers the set-up step while no password is set")
        d.find_element(By.ID, "setup-code").send_keys(gw.setup_code())
        d.find_element(By.ID, "new-pw").send_keys(PASSWORD)
        d.find_element(By.ID, "new-pw2").send_keys(PASSWORD)
        d.find_element(By.ID, "setup-btn").click()
        w.until(lambda d: d.find_elements(By.ID, "logout"))
        w.until(lambda d: page(d) == "#/config")
        C.check(page(d) == "#/config", f"after the set-up: back on the configuration page ({page(d)})")

        # ---- log out, log in from the header's link: back on the same page ------------------------
        d.find_element(By.ID, "logout").click()
        w.until(lambda d: d.find_elements(By.ID, "login-link"))
        C.check(not d.find_element(By.ID, "banner").is_displayed(), "a deliberate logout is not reported as a lost login")
        d.find_element(By.ID, "login-link").click()
        w.until(lambda d: d.find_elements(By.ID, "password"))
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.ID, "login-btn").click()
        w.until(lambda d: d.find_elements(By.ID, "logout"))
        w.until(lambda d: page(d) == "#/config")
        C.check(page(d) == "#/config", f"login from the header's link returns to that page ({page(d)})")

        # ---- the configuration review step ----------------------------------------------------------
        w.until(lambda d: d.find_element(By.ID, "cfg-web-ws_rate_hz").is_enabled())
        before = api_config(gw)
        full_v = before["charge"]["cell_bulk_v"]  # the demo sets the BMS's fully charged voltage to it
        set_field(d, "cfg-web-ws_rate_hz", 3)
        set_field(d, "cfg-charge-cell_bulk_v", "3.4")
        d.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.2)
        C.check(text(d, "#cfg-pending") == "2 unsaved changes", f"the bar counts the changes ({text(d, '#cfg-pending')!r})")
        r = d.execute_script("const r = document.getElementById('cfg-save').getBoundingClientRect(); "
                             "return {top: r.top, bottom: r.bottom, h: innerHeight}")
        C.check(r["top"] >= 0 and r["bottom"] <= r["h"], f"Save is on screen at the top of the long page: {r}")
        d.find_element(By.ID, "cfg-save").click()
        w.until(lambda d: is_open(d) and d.find_elements(By.ID, "cfg-diff"))
        rows = diff_rows(d, "cfg-diff")
        keys = sorted(x["key"] for x in rows)
        C.check(keys == ["charge.cell_bulk_v", "web.ws_rate_hz"], f"the dialog lists exactly the two changes: {keys}")
        by = {x["key"]: x for x in rows}
        C.check(by.get("web.ws_rate_hz", {}).get("old") == "5 Hz" and by["web.ws_rate_hz"]["new"] == "3 Hz",
                f"old -> new with the unit: {by.get('web.ws_rate_hz')}")
        C.check(by.get("charge.cell_bulk_v", {}).get("new") == "3.4 V", f"cell_bulk_v new value: {by.get('charge.cell_bulk_v')}")
        tbtest.screenshot(d, os.path.join(shots, "config-review.png"))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: not is_open(d))
        cfg = api_config(gw)
        C.check(cfg["web"]["ws_rate_hz"] == 3 and abs(cfg["charge"]["cell_bulk_v"] - 3.4) < 1e-6,
                f"GET /api/config reads the new values back: {cfg['web']['ws_rate_hz']}, {cfg['charge']['cell_bulk_v']}")
        C.check(text(d, "#cfg-pending") == "No unsaved changes", "after saving: no unsaved changes")

        # ---- the start-up warning (BMS fully charged above the charge target) in the UI ---------------
        if full_v > 3.42:
            try:
                w.until(lambda d: d.find_element(By.ID, "warn-banner").is_displayed())
            except Exception:
                pass
            st = requests.get(gw.base + "/api/status", timeout=5).json()
            ids = [x["id"] for x in st.get("warnings", [])]
            C.check("bms_full_voltage" in ids, f"the status document carries the warning: {st.get('warnings')}")
            shown = d.find_element(By.ID, "warn-banner").is_displayed()
            C.check(shown and "fully charged voltage" in text(d, "#warn-banner"),
                    "the warning is a banner on the configuration page")
            d.get(gw.base + "/#/")
            w.until(lambda d: d.find_element(By.ID, "warn-banner").is_displayed())
            C.check("3.400 V" in text(d, "#warn-banner"), f"and on the dashboard: {text(d, '#warn-banner')!r}")
            tbtest.screenshot(d, os.path.join(shots, "warning-banner.png"))
            d.get(gw.base + "/#/config")
            w.until(lambda d: d.find_elements(By.ID, "cfg-charge-cell_bulk_v"))
            set_field(d, "cfg-charge-cell_bulk_v", str(full_v))
            click(d, "cfg-save")
            w.until(lambda d: is_open(d))
            d.find_element(By.ID, "dialog-ok").click()
            w.until(lambda d: not d.find_element(By.ID, "warn-banner").is_displayed())
            C.check(True, "the warning goes away with its cause")
        else:
            C.check(False, f"the demo's charge target ({full_v} V) leaves no room for the warning check")

        # ---- out of range: refused at the field, no dialog ---------------------------------------
        set_field(d, "cfg-web-ws_rate_hz", 50)
        click(d, "cfg-save")
        time.sleep(0.5)
        C.check(not is_open(d), "config: an out-of-range value opens no dialog")
        err = text(d, "#err-cfg-web-ws_rate_hz")
        C.check("web.ws_rate_hz" in err and "out of range" in err and "1 … 10 Hz" in err, f"the refusal is at the field: {err!r}")
        C.check("invalid" in d.find_element(By.ID, "cfg-web-ws_rate_hz").get_attribute("class"), "the field is marked")
        tbtest.screenshot(d, os.path.join(shots, "config-refused.png"))
        click(d, "cfg-discard")
        C.check(d.find_element(By.ID, "cfg-web-ws_rate_hz").get_attribute("value") == "3", "Discard puts the value back")

        # ---- leaving with unsaved changes asks first ----------------------------------------------
        set_field(d, "cfg-web-ws_rate_hz", 4)
        d.execute_script("document.querySelector('#nav a[data-page=dashboard]').click()")  # the menu link
        w.until(lambda d: is_open(d))
        C.check(page(d) == "#/config" and "Leave without saving?" in text(d, "#dialog") and "1 unsaved change" in text(d, "#dialog"),
                f"leaving with an unsaved change asks first ({page(d)}, {text(d, '#dialog')!r})")
        d.find_element(By.ID, "dialog-cancel").click()
        w.until(lambda d: not is_open(d))
        C.check(page(d) == "#/config" and d.find_element(By.ID, "cfg-web-ws_rate_hz").get_attribute("value") == "4",
                "Cancel stays on the page with the change")
        d.execute_script("document.querySelector('#nav a[data-page=dashboard]').click()")  # the menu link
        w.until(lambda d: is_open(d))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: page(d) == "#/" and d.find_elements(By.ID, "pack-v"))
        C.check(api_config(gw)["web"]["ws_rate_hz"] == 3, "leaving saved nothing")
        d.get(gw.base + "/#/config")
        w.until(lambda d: d.find_elements(By.ID, "cfg-web-ws_rate_hz"))
        C.check(text(d, "#cfg-pending") == "No unsaved changes", "back on the page: nothing pending")

        d.get(gw.base + "/#/settings")
        w.until(lambda d: d.find_elements(By.ID, "in-over_voltage_cutoff") and
                d.find_element(By.ID, "in-over_voltage_cutoff").is_enabled())
        set_field(d, "in-over_voltage_cutoff", 9000)
        click(d, "review")
        time.sleep(0.5)
        C.check(not is_open(d), "BMS settings: 9000 mV opens no dialog")
        res = text(d, "#res-over_voltage_cutoff")
        C.check("out of range" in res and "mV" in res, f"BMS settings: the refusal is at the field: {res!r}")
        click(d, "revert")

        # ---- restore: the diff first; a refusal inside the dialog -----------------------------------
        backup = requests.get(gw.base + "/api/config?download=1", timeout=5).json()
        ok_file = os.path.join(tmp, "one-change.json")
        b1 = json.loads(json.dumps(backup))
        b1["web"]["ws_rate_hz"] = 2
        json.dump(b1, open(ok_file, "w"))
        d.get(gw.base + "/#/config")
        w.until(lambda d: d.find_elements(By.ID, "cfg-web-ws_rate_hz"))
        choose_file(d, ok_file)
        w.until(lambda d: is_open(d) and d.find_elements(By.ID, "restore-diff"))
        rows = diff_rows(d, "restore-diff")
        C.check([(x["key"], x["old"], x["new"]) for x in rows] == [("web.ws_rate_hz", "3 Hz", "2 Hz")],
                f"the restore dialog shows what would change: {rows}")
        tbtest.screenshot(d, os.path.join(shots, "restore-diff.png"))
        d.find_element(By.ID, "dialog-cancel").click()
        C.check(api_config(gw)["web"]["ws_rate_hz"] == 3, "nothing is applied before the confirmation")

        bad_file = os.path.join(tmp, "refused.json")
        b2 = json.loads(json.dumps(backup))
        b2["link"]["backoff_max_ms"] = b2["failsafe"]["stale_ms"]  # must be below it: only the gateway knows
        json.dump(b2, open(bad_file, "w"))
        choose_file(d, bad_file)
        w.until(lambda d: is_open(d) and d.find_elements(By.ID, "restore-diff"))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: d.find_element(By.ID, "dialog-err").is_displayed())
        C.check(is_open(d), "a refused restore leaves the dialog open")
        C.check("link.backoff_max_ms" in text(d, "#dialog-err"), f"the refusal is in the dialog: {text(d, '#dialog-err')!r}")
        bad = [x for x in diff_rows(d, "restore-diff") if x["bad"]]
        C.check(len(bad) == 1 and bad[0]["key"] == "link.backoff_max_ms" and "failsafe.stale_ms" in bad[0]["text"],
                f"and at the row of the refused key: {bad}")
        tbtest.screenshot(d, os.path.join(shots, "restore-refused.png"))
        d.find_element(By.ID, "dialog-cancel").click()
        C.check(api_config(gw)["link"]["backoff_max_ms"] == backup["link"]["backoff_max_ms"], "a refused restore changes nothing")

        js_errors(d, "flows")
        # ---- lost session: the gateway restarts under a logged-in page -------------------------------
        cookie = d.get_cookie("tbgw_session")
        up0 = requests.get(gw.base + "/api/status", timeout=5).json()["uptime_s"]
        r = requests.post(gw.base + "/api/system/restart", json={}, cookies={"tbgw_session": cookie["value"]},
                          headers={"Origin": gw.base}, timeout=5)
        C.check(r.status_code == 202, f"restart accepted ({r.status_code} {r.text[:100]})")
        time.sleep(1.0)
        gw.wait_ready(20)
        w2 = WebDriverWait(d, 30, ignored_exceptions=(AssertionError,))
        try:
            w2.until(lambda d: d.find_elements(By.ID, "login-link"))
        except Exception:
            pass
        C.check(bool(d.find_elements(By.ID, "login-link")) and not d.find_elements(By.ID, "logout"),
                f"after the restart the header offers 'Log in', not 'Log out' (uptime before {up0} s)")
        C.check("logged out" in text(d, "#banner"), f"the page says the login ended: {text(d, '#banner')!r}")
        tbtest.screenshot(d, os.path.join(shots, "session-lost.png"))
        set_field(d, "cfg-web-ws_rate_hz", 4)
        click(d, "cfg-save")
        w.until(lambda d: is_open(d))
        d.find_element(By.ID, "dialog-ok").click()
        w.until(lambda d: is_open(d, "login-dialog"))
        why = text(d, "#relogin-why")
        C.check("no longer logged in" in why and "POST" not in why, f"the write asks to log in, in words: {why!r}")
        tbtest.screenshot(d, os.path.join(shots, "session-relogin.png"))
        login_in_dialog(d, w)
        w.until(lambda d: api_config(gw)["web"]["ws_rate_hz"] == 4)
        C.check(True, "after the login the same write goes through")
        C.check(page(d) == "#/config" and d.find_elements(By.ID, "logout"), f"on the same page, logged in ({page(d)})")
        C.check(not d.find_element(By.ID, "banner").is_displayed(), "the lost-login banner is gone")
        w.until(lambda d: not is_open(d))
        js_errors(d, "the restart", restart=True)
        cookie = d.get_cookie("tbgw_session")
    finally:
        d.quit()

    # ---- phone width: the dialogs and refused fields fit 390 px ------------------------------------
    m = phone(390, 844)
    try:
        wm = WebDriverWait(m, 15, ignored_exceptions=(AssertionError,))
        m.get(gw.base + "/#/config")
        wm.until(lambda d: d.find_elements(By.ID, "login-link"))
        m.find_element(By.ID, "menu-btn")  # the header is the phone's
        click(m, "login-link")
        wm.until(lambda d: d.find_elements(By.ID, "password"))
        fits(m, "the login page")
        m.find_element(By.ID, "password").send_keys(PASSWORD)
        m.find_element(By.ID, "login-btn").click()
        wm.until(lambda d: page(d) == "#/config" and d.find_elements(By.ID, "cfg-web-ws_rate_hz")
                 and d.find_element(By.ID, "cfg-web-ws_rate_hz").is_enabled())
        set_field(m, "cfg-web-ws_rate_hz", 2)
        set_field(m, "cfg-web-session_lifetime_min", 700)
        click(m, "cfg-save")
        wm.until(lambda d: is_open(d))
        time.sleep(0.3)
        fits(m, "the configuration review dialog")
        tbtest.screenshot(m, os.path.join(shots, "phone-config-review.png"))
        m.find_element(By.ID, "dialog-cancel").click()
        set_field(m, "cfg-web-ws_rate_hz", 50)
        click(m, "cfg-save")
        time.sleep(0.3)
        fits(m, "the configuration page with a refused value")
        click(m, "cfg-discard")
        choose_file(m, bad_file)
        wm.until(lambda d: is_open(d))
        m.find_element(By.ID, "dialog-ok").click()
        wm.until(lambda d: d.find_element(By.ID, "dialog-err").is_displayed())
        time.sleep(0.2)
        fits(m, "the restore dialog with a refusal")
        tbtest.screenshot(m, os.path.join(shots, "phone-restore.png"))
        m.find_element(By.ID, "dialog-cancel").click()
        junk = os.path.join(tmp, "not-a-backup.json")
        with open(junk, "w") as f:
            f.write("this is no JSON\n")
        choose_file(m, junk)
        wm.until(lambda d: is_open(d) and d.find_elements(By.ID, "restore-bad"))
        C.check(not m.find_elements(By.ID, "dialog-ok") and "not a configuration backup" in text(m, "#restore-bad"),
                f"a file that is not JSON is refused in the dialog, nothing offered: {text(m, '#restore-bad')!r}")
        fits(m, "the restore dialog for a file that is not JSON")
        m.find_element(By.ID, "dialog-cancel").click()
        # the session ends server-side (logged out elsewhere): the login dialog
        c = m.get_cookie("tbgw_session")
        requests.post(gw.base + "/api/auth/logout", json={}, cookies={"tbgw_session": c["value"]},
                      headers={"Origin": gw.base}, timeout=5)
        set_field(m, "cfg-web-ws_rate_hz", 5)
        click(m, "cfg-save")
        wm.until(lambda d: is_open(d))
        m.find_element(By.ID, "dialog-ok").click()
        wm.until(lambda d: is_open(d, "login-dialog"))
        time.sleep(0.2)
        fits(m, "the login dialog")
        tbtest.screenshot(m, os.path.join(shots, "phone-relogin.png"))
        login_in_dialog(m, wm)
        wm.until(lambda d: api_config(gw)["web"]["ws_rate_hz"] == 5)
        C.check(True, "phone: a session ended server-side, the write goes through after the login dialog")
        m.get(gw.base + "/#/settings")
        wm.until(lambda d: d.find_elements(By.ID, "in-over_voltage_cutoff") and
                 d.find_element(By.ID, "in-over_voltage_cutoff").is_enabled())
        set_field(m, "in-over_voltage_cutoff", 9000)
        click(m, "review")
        time.sleep(0.3)
        fits(m, "BMS settings with a refused value")
        set_field(m, "in-over_voltage_cutoff", 3700)
        click(m, "review")
        wm.until(lambda d: is_open(d))
        time.sleep(0.2)
        fits(m, "the BMS settings review dialog")
        m.find_element(By.ID, "dialog-cancel").click()
        js_errors(m, "phone flows")
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
