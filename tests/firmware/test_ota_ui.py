#!/usr/bin/python3
"""fw-ota_ui: the web UI's firmware update card against the firmware in QEMU (headless Chromium
through selenium, the browser set-up of tests/integration/test_web.py).

The admin password is set on the set-up page with the console's code; the system page shows the
"Firmware update" card (GET /api/system says OTA is available) with the running version. An image
for the ESP32-S3 chosen in the file input is refused and the card shows the reason. V2 (the
build's image with another version string, tests/firmware/espimg.py) is uploaded with the upload
throttled to 300 kB/s in the browser, so that the progress bar is seen between 0 and 100 %; the
card says it was written and verified, waits for the gateway to come back, and shows V2 running.
No JavaScript error before the restart but Chromium's own line for the refused request (while
the gateway restarts the browser logs failed requests, which are expected and not checked)."""
import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import espimg
import fwrig
from test_web import browser, text  # noqa: E402  (tests/integration, on the path through fwrig)


def js_errors(C, d, what):
    for e in d.get_log("browser"):
        C.check(e["level"] != "SEVERE", f"{what}: console error: {e['message']}")


def choose(d, path):
    d.find_element(By.ID, "ota-file").send_keys(path)
    d.find_element(By.ID, "ota-upload").click()
    WebDriverWait(d, 10).until(lambda d: d.find_elements(By.ID, "dialog-ok"))
    d.find_element(By.ID, "dialog-ok").click()


def main(rig):
    C = rig.C
    app = open(APP, "rb").read()
    v1 = espimg.version(app)
    v2 = v1 + "-ui2"
    p_s3 = os.path.join(rig.dir, "for-esp32s3.bin")
    p_v2 = os.path.join(rig.dir, "tinybms-gateway-v2.bin")
    with open(p_s3, "wb") as f:
        f.write(espimg.with_chip(app, 9))
    with open(p_v2, "wb") as f:
        f.write(espimg.with_version(app, v2))

    b, st = rig.boot()
    if st is None:
        return
    code = b.setup_code()
    C.check(code is not None, "the console printed the setup code")
    d = browser()
    try:
        w = WebDriverWait(d, 30, ignored_exceptions=(AssertionError,))
        d.get(b.base + "/#/setup")
        w.until(lambda d: d.find_elements(By.ID, "setup-code"))
        d.find_element(By.ID, "setup-code").send_keys(code)
        d.find_element(By.ID, "new-pw").send_keys(fwrig.PASSWORD)
        d.find_element(By.ID, "new-pw2").send_keys(fwrig.PASSWORD)
        d.find_element(By.ID, "setup-btn").click()
        w.until(lambda d: d.find_elements(By.ID, "logout"))

        d.get(b.base + "/#/system")
        w.until(lambda d: d.find_elements(By.ID, "ota-card"))
        C.check(text(d, "#ota-version") == v1, f"the card shows the running version {v1} ({text(d, '#ota-version')!r})")
        C.check(d.find_element(By.ID, "ota-upload").get_attribute("disabled") is not None,
                "the upload button waits for a file")
        js_errors(C, d, "#/system")

        choose(d, p_s3)
        w.until(lambda d: text(d, "#ota-msg").startswith("Refused"))
        msg = text(d, "#ota-msg")
        C.check("400" in msg and "wrong_chip" in msg and "esp32s3" in msg,
                f"an image for the ESP32-S3: the card shows the refusal ({msg!r})")
        for e in d.get_log("browser"):  # Chromium logs the refused request itself; nothing else
            C.check(e["level"] != "SEVERE" or ("/api/system/ota" in e["message"] and "400" in e["message"]),
                    f"the refusal: console error: {e['message']}")

        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                               "downloadThroughput": -1,
                                                               "uploadThroughput": 300 * 1024})
        d.get(b.base + "/#/system")  # a fresh card (the input was used)
        w.until(lambda d: d.find_elements(By.ID, "ota-card"))
        t0 = time.monotonic()
        choose(d, p_v2)
        seen = set()
        end = time.monotonic() + 90
        while time.monotonic() < end:
            v = d.execute_script("const e = document.getElementById('ota-progress'); return e && !e.hidden ? e.value : null;")
            if v is not None:
                seen.add(int(v))
            m = text(d, "#ota-msg")
            if m.startswith(("Written", "Refused", "The upload failed")):
                break
            time.sleep(0.1)
        t_up = time.monotonic() - t0
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                               "downloadThroughput": -1, "uploadThroughput": -1})
        mid = sorted(x for x in seen if 0 < x < 100)
        C.check(len(mid) >= 3, f"the progress bar moved between 0 and 100 % ({mid[:10]}...)")
        msg = text(d, "#ota-msg")
        C.check(msg.startswith("Written and verified: " + v2), f"the card says V2 was written and verified ({msg!r})")
        print(f"upload through the browser (throttled to 300 kB/s): {t_up:.1f} s", flush=True)
        js_errors(C, d, "the upload")
        try:
            WebDriverWait(d, 90, ignored_exceptions=(AssertionError,)).until(
                lambda d: text(d, "#ota-msg").startswith("Back after"))
        except Exception:
            pass
        msg = text(d, "#ota-msg")
        C.check(msg.startswith("Back after") and ("version " + v2) in msg,
                f"the card waited for the gateway and shows {v2} running ({msg!r})")
        C.check(text(d, "#ota-version") == v2, f"the card's running version is {v2} ({text(d, '#ota-version')!r})")
        print(f"from the upload's start to the card's 'Back after': {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        d.quit()
    bad = [line for line in b.console().splitlines() if fwrig.CRASH.search(line)]
    C.check(not bad, f"no crash on the console: {bad[:5]}")


if __name__ == "__main__":
    APP = os.path.join(os.path.dirname(fwrig.IMAGE), "tinybms-gateway.bin")
    if os.path.isfile(fwrig.IMAGE) and not os.path.isfile(APP):
        print(f"skipped: no application image {APP} next to the flash image (make firmware-qemu)", flush=True)
        raise SystemExit(fwrig.SKIP)
    fwrig.run(main, lambda: fwrig.Rig("fw-ota_ui", "--cells", "8", "--soc", "50", "--seed", "4"))
