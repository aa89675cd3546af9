#!/usr/bin/python3
"""fw-ota: firmware updates over the network (POST /api/system/ota) and their rollback, under QEMU.

The images: the app .bin of the build (tinybms-gateway.bin next to the flash image, version V1)
and copies of it made by tests/firmware/espimg.py that stay valid images (checksum and SHA-256
recomputed): V2 and V4 differ in their version string only, which is what the firmware reports
(esp_app_desc); V3 also has an illegal instruction at the start of esp_log_write (it passes
every check and crashes at boot, at the app's first log line); a copy for the ESP32-S3 (chip id patched); a corrupted copy (one byte
flipped, seal unchanged).

Boot 1 (V1 in ota_0, fresh image): every refusal leaves the running image the boot partition, the
version V1 and nothing selected: no session (401), an image for another chip (400 wrong_chip,
refused before anything is written), an ELF instead of a .bin (400 bad_magic), a body declared
larger than the slot (413, not read), an upload cut off part-way (400 truncated), a corrupted
image (400 verify_failed: esp_ota_end's verification); each is counted. Then V2: 200 with its
version; the CAN frames keep coming while it is written; the firmware restarts by itself (QEMU's
esp_restart works, and QEMU keeps the flash writes and otadata across it) into ota_1, which marks
itself valid once the battery path has run. V3 panics at boot: the bootloader finds it still
pending verification at the next boot and starts V2 (reset reason panic, the rollback reported).
V4 with the simulator silent (`fault noreply`: a new image that cannot read the BMS): it boots on
probation (pending_verify; an upload meanwhile is refused 409), does not mark itself valid, and
after CONFIG_TB_OTA_VERIFY_S (20 s in the emulated image) restarts into V2; GET /api/system reports that rollback too.
`fault clear`: V2 serves valid data again. V3's panic is the only crash on the console."""
import os
import re
import socket
import time

import espimg
import fwrig

CELLS = 16


def verify_s():
    """CONFIG_TB_OTA_VERIFY_S of the image under test (its build's sdkconfig; 20 s for the emulated
    board's sdkconfig.qemu, 60 s by default)."""
    cfg = os.path.join(os.path.dirname(os.environ.get("TB_FW_IMAGE", "")), "sdkconfig")
    try:
        with open(cfg) as f:
            m = re.search(r"^CONFIG_TB_OTA_VERIFY_S=(\d+)$", f.read(), re.M)
        return int(m.group(1)) if m else 60
    except OSError:
        return 60


VERIFY_S = verify_s()
CHIP_ESP32S3 = 9
STARTING = r"tinybms-gateway (\S+) firmware starting"


def ota_state(b):
    st, doc = b.get("/api/system")
    if st != 200 or not isinstance(doc, dict) or not doc.get("platform"):
        return None
    return doc["platform"].get("ota")


def raw_upload(b, cookie, declared, data, half_close=True, timeout=30.0):
    """POST /api/system/ota over a plain socket: declares `declared` bytes, sends `data`, then
    (half_close) shuts its sending side as a client that gave up would. Returns (status, body)."""
    host = b.base[len("http://"):]
    head = (f"POST /api/system/ota HTTP/1.1\r\nHost: {host}\r\nOrigin: {b.base}\r\n"
            f"Cookie: tbgw_session={cookie}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", b.port), timeout=timeout)
    reply = b""
    try:
        try:
            s.sendall(head + data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the gateway may answer and close before everything was sent
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            reply += chunk
            if b"\r\n\r\n" in reply:
                hdr, _, body = reply.partition(b"\r\n\r\n")
                m = re.search(rb"Content-Length:\s*(\d+)", hdr, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return (int(m.group(1)) if m else None), reply.partition(b"\r\n\r\n")[2].decode(errors="replace")


def login(rig, b, what):
    """The admin session after a restart (the console still holds the first boot's setup code)."""
    s = fwrig.Session(b.base)
    r = s.req("POST", "/api/auth/login", {"password": fwrig.PASSWORD}, timeout=30)
    return s if rig.C.check(r.status_code == 200, f"{what}: login ({r.status_code} {r.text[:200]})") else None


def main(rig):
    C = rig.C
    app = open(APP, "rb").read()
    v1 = espimg.version(app)
    v2, v3, v4 = v1 + "-ota2", v1 + "-ota3-crash", v1 + "-ota4"
    img2, img4 = espimg.with_version(app, v2), espimg.with_version(app, v4)

    b, st = rig.boot()
    if st is None:
        return
    o = ota_state(b)
    C.check(o is not None and o["available"] and o["chip"] == "esp32c3" and o["running_partition"] == "ota_0"
            and o["version"] == v1 and o["next_boot_partition"] == "ota_0" and o["update_partition"] == "ota_1",
            f"boot 1: GET /api/system platform.ota: {v1} in ota_0, updates go to ota_1: {o}")
    if o is None:
        return
    slot = o["slot_bytes"]
    print(f"image {len(app)} bytes, update slot {slot} bytes ({100.0 * len(app) / slot:.0f} % used)", flush=True)
    C.check(len(app) < slot, f"the image ({len(app)} bytes) fits the slot ({slot} bytes)")

    def unchanged(what):
        # the server reads and drops the rest of a refused body first (one request at a time)
        x = fwrig.tbtest.wait_for(lambda: ota_state(b), 35, 0.5)
        C.check(x is not None and x["version"] == v1 and x["running_partition"] == "ota_0"
                and x["next_boot_partition"] == "ota_0",
                f"after {what}: still {v1} from ota_0, and ota_0 boots next ({x and (x['version'], x['running_partition'], x['next_boot_partition'])})")
        return x

    # ---- refusals ------------------------------------------------------------------------------------
    r = fwrig.Session(b.base).req("POST", "/api/system/ota", img2, timeout=60)
    C.check(r.status_code == 401, f"no session: 401 ({r.status_code} {r.text[:200]})")
    unchanged("an upload without a session")
    s = fwrig.admin(rig, b)
    if s is None:
        return
    cookie = s.s.cookies.get("tbgw_session")

    r = s.req("POST", "/api/system/ota", espimg.with_chip(app, CHIP_ESP32S3), timeout=60)
    C.check(r.status_code == 400 and r.json().get("error") == "wrong_chip" and "esp32s3" in r.json().get("reason", ""),
            f"an image for the ESP32-S3: 400 wrong_chip ({r.status_code} {r.text[:300]})")
    unchanged("an image for another chip")

    elf = b"\x7fELF\x01\x01\x01" + bytes(64 * 1024)
    r = s.req("POST", "/api/system/ota", elf, timeout=60)
    C.check(r.status_code == 400 and r.json().get("error") == "bad_magic",
            f"an ELF file: 400 bad_magic ({r.status_code} {r.text[:300]})")

    status, body = raw_upload(b, cookie, slot + 1, app[:4096])
    C.check(status == 413 and '"too_large"' in body and str(slot) in body,
            f"a body declared larger than the slot: 413 too_large, not read ({status} {body[:300]})")
    unchanged("an upload larger than the slot")

    cut = 300 * 1024
    status, body = raw_upload(b, cookie, len(app), app[:cut])
    C.check(status == 400 and '"truncated"' in body and f"after {cut} of {len(app)} bytes" in body,
            f"an upload that ends after {cut} of {len(app)} bytes: 400 truncated ({status} {body[:300]})")
    unchanged("a truncated upload")

    r = s.req("POST", "/api/system/ota", espimg.corrupted(app), timeout=60)
    C.check(r.status_code == 400 and r.json().get("error") == "verify_failed",
            f"a corrupted image (one byte flipped): 400 verify_failed ({r.status_code} {r.text[:300]})")
    x = unchanged("a corrupted image")
    if x:
        up = x["uploads"]
        want = {"wrong_chip": 1, "bad_magic": 1, "too_large": 1, "truncated": 1, "verify_failed": 1, "ok": 0}
        C.check(all(up.get(k) == n for k, n in want.items()), f"each refusal counted: {up}")
        C.check(x["last_upload"] and x["last_upload"]["result"] == "verify_failed",
                f"last_upload is the corrupted one: {x['last_upload']}")
    st = b.status()
    C.check(bool(st) and st["limits"]["valid"], "the battery path ran on through the refusals")

    # ---- V2: the update -------------------------------------------------------------------------------
    t0 = time.monotonic()
    r = s.req("POST", "/api/system/ota", img2, timeout=120)
    t_up = time.monotonic() - t0
    ok = C.check(r.status_code == 200 and r.json().get("version") == v2 and r.json().get("restarting") is True,
                 f"V2 accepted: 200 with version {v2} ({r.status_code} {r.text[:300]})")
    print(f"upload of {len(img2)} bytes: {t_up:.1f} s ({len(img2) / t_up / 1024:.0f} kB/s), the firmware says "
          f"{r.json().get('ms') if ok else '?'} ms", flush=True)
    gaps = [f2[0] - f1[0] for f1, f2 in zip(b.can.since(t0, 0x351), b.can.since(t0, 0x351)[1:]) if f2[0] <= t0 + t_up]
    C.check(len(gaps) >= 2 and max(gaps) < 3.0,
            f"0x351 kept coming while the image was written (largest gap {max(gaps) if gaps else None} s)")
    if not ok:
        return
    m = b.wait_console(STARTING + r"[\s\S]*" + STARTING, 40)
    C.check(bool(m) and m.group(2) == v2, f"the firmware restarted by itself into {v2} ({m and m.group(2)})")
    x = fwrig.tbtest.wait_for(lambda: (y := ota_state(b)) and y["version"] == v2 and y["state"] == "valid" and y, 40, 0.5)
    C.check(bool(x) and x["running_partition"] == "ota_1" and x["next_boot_partition"] == "ota_1"
            and x["last_upload"] == {"result": "ok", "version": v2, "detail": f"installed over {v1}"}
            and x["rollback"] is False,
            f"V2 runs from ota_1, marked valid, last upload ok: {x}")
    C.check(bool(b.wait_console(rf"image {re.escape(v2)} marked valid", 5)),
            "the console says V2 marked itself valid (BMS read, limits computed, CAN sent)")
    st = b.wait_ready(30)
    C.check(st is not None, "V2 serves valid BMS data and limits")
    print(f"from V2's 200 to its valid data on the web: {time.monotonic() - t0 - t_up:.1f} s", flush=True)

    # ---- V3 crashes at boot: the bootloader rolls back --------------------------------------------------
    elf = os.path.join(os.path.dirname(fwrig.IMAGE), "tinybms-gateway.elf")
    img3 = espimg.crashing(espimg.with_version(app, v3), elf)
    s = login(rig, b, "V2")
    if s is None:
        return
    r = s.req("POST", "/api/system/ota", img3, timeout=120)
    C.check(r.status_code == 200 and r.json().get("version") == v3,
            f"V3 (esp_log_write starts with an illegal instruction, a valid image otherwise) accepted ({r.status_code} "
            f"{r.text[:200]})")
    m = b.wait_console(r"App version:\s+" + re.escape(v3) + r"[\s\S]*Guru Meditation[\s\S]*" + STARTING, 60)
    C.check(bool(m) and m.group(1) == v2, f"V3 panics at boot, the bootloader starts {v2} again ({m and m.group(1)})")
    x = fwrig.tbtest.wait_for(lambda: (y := ota_state(b)) and y["version"] == v2 and y, 40, 0.5)
    C.check(bool(x) and x["running_partition"] == "ota_1" and x["state"] == "valid" and x["rollback"] is True
            and x["rolled_back"] == {"partition": "ota_0", "version": v3} and x["next_boot_partition"] == "ota_1",
            f"rolled back to V2 in ota_1, GET /api/system says so: {x}")
    st, doc = b.get("/api/system")
    C.check(st == 200 and doc["platform"]["reset_reason"] == "panic",
            f"reset_reason panic ({st == 200 and doc['platform']['reset_reason']})")
    C.check(b.wait_ready(30) is not None, "V2 serves valid data again after the rollback")

    # ---- V4 with a silent BMS: probation runs out, rollback to V2 ------------------------------------------
    s = login(rig, b, "V2 after the rollback")
    if s is None:
        return
    rig.ctl.cmd("fault noreply")
    r = s.req("POST", "/api/system/ota", img4, timeout=120)
    C.check(r.status_code == 200 and r.json().get("version") == v4, f"V4 accepted ({r.status_code} {r.text[:200]})")
    t_v4 = time.monotonic()
    m = b.wait_console(r"App version:\s+" + re.escape(v4) + r"[\s\S]*" + STARTING, 40)
    C.check(bool(m) and m.group(1) == v4, f"the firmware restarted into {v4}")
    x = fwrig.tbtest.wait_for(lambda: (y := ota_state(b)) and y["version"] == v4 and y, 30, 0.5)
    C.check(bool(x) and x["state"] == "pending_verify" and x["pending_verify"] is True
            and 0 < x["verify_left_s"] <= VERIFY_S and x["running_partition"] == "ota_0",
            f"V4 in ota_0 on probation: {x and (x['state'], x['verify_left_s'], x['running_partition'])}")
    s4 = login(rig, b, "V4")
    if s4 is not None:
        r = s4.req("POST", "/api/system/ota", img2, timeout=120)
        C.check(r.status_code == 409 and "probation" in r.text,
                f"an upload while the running image is on probation: 409 ({r.status_code} {r.text[:200]})")
    m = b.wait_console(r"did not run the battery path within \d+ s: rolling back", VERIFY_S + 30)
    t_rb = time.monotonic() - t_v4
    C.check(bool(m), f"V4 gives up after {VERIFY_S} s without the battery path ({t_rb:.0f} s after its upload)")
    x = fwrig.tbtest.wait_for(lambda: (y := ota_state(b)) and y["version"] == v2 and y, 40, 0.5)
    C.check(bool(x) and x["running_partition"] == "ota_1" and x["state"] == "valid" and x["rollback"] is True
            and x["rolled_back"] == {"partition": "ota_0", "version": v4} and x["next_boot_partition"] == "ota_1",
            f"rolled back to V2 in ota_1, GET /api/system says so: {x}")
    rig.ctl.cmd("fault clear")
    st = b.wait_ready(30)
    C.check(st is not None, "after fault clear: V2 serves valid data and limits again")

    # the console: V3's panic and nothing else
    con = b.console()
    i3 = con.find(f"App version:      {v3}")
    j3 = con.find("firmware starting", i3)
    bad, pos = [], 0
    for line in con.splitlines(keepends=True):
        if fwrig.CRASH.search(line):
            bad.append((pos, line.strip()))
        pos += len(line)
    C.check(bad and all(i3 < o < j3 for o, _ in bad),
            f"the only crash on the console is V3's, between its start and V2's: {[x for _, x in bad][:6]}")
    n = con.count(fwrig.BOOT_BANNER)
    C.check(n == 6, f"six boots on one console (V1, V2, V3 crashing, V2, V4, V2): {n}")


if __name__ == "__main__":
    APP = os.path.join(os.path.dirname(fwrig.IMAGE), "tinybms-gateway.bin")
    if os.path.isfile(fwrig.IMAGE) and not os.path.isfile(APP):
        print(f"skipped: no application image {APP} next to the flash image (make firmware-qemu)", flush=True)
        raise SystemExit(fwrig.SKIP)
    fwrig.run(main, lambda: fwrig.Rig("fw-ota", "--cells", str(CELLS), "--soc", "60", "--seed", "9"))
