#!/usr/bin/python3
"""fw-reboot: what the admin saves survives a power cycle of the firmware (NVS in the flash image).

Boot 1 (fresh image): config_source "defaults"; the admin password is set with the console's
setup code; charge.cell_bulk_v and web.ws_rate_hz are changed through PUT /api/config (a change
without the session is refused first) and the running CVL follows the new cell_bulk_v. QEMU is
stopped (SIGTERM: the flash image keeps NVS) and started again on the same image with the same
simulator. Boot 2: the values are still there, GET /api/status says config_source "file" and
the CVL is the one the saved value gives, no setup code is printed (the password is kept), the
saved password logs in and a wrong one does not. No crash or reset on either console."""
import fwrig

CELLS = 16
BULK_V = 3.42  # not the default 3.45
WS_HZ = 3


def main(rig):
    C = rig.C
    b1, st = rig.boot()
    if st is None:
        return
    C.check(st["config_source"] == "defaults", f"boot 1: config_source {st['config_source']} on a fresh image")
    cfg0 = fwrig.Session(b1.base).req("GET", "/api/config").json()
    C.check(cfg0["charge"]["cell_bulk_v"] != BULK_V and cfg0["web"]["ws_rate_hz"] != WS_HZ,
            f"boot 1: the test values differ from the running ones ({cfg0['charge']['cell_bulk_v']}, "
            f"{cfg0['web']['ws_rate_hz']})")
    anon = fwrig.Session(b1.base).req("PUT", "/api/config", {"charge": {"cell_bulk_v": BULK_V}})
    C.check(anon.status_code == 401, f"boot 1: PUT /api/config without a session is refused ({anon.status_code})")
    s = fwrig.admin(rig, b1)
    if s is None:
        return
    res = fwrig.put_config(rig, s, {"charge": {"cell_bulk_v": BULK_V}, "web": {"ws_rate_hz": WS_HZ}}, "boot 1")
    if res is None:
        return
    C.check(set(res["result"]["changed"]) == {"charge.cell_bulk_v", "web.ws_rate_hz"}, f"boot 1: changed {res['result']}")
    cfg1 = s.req("GET", "/api/config").json()
    C.check(cfg1["charge"]["cell_bulk_v"] == BULK_V and cfg1["web"]["ws_rate_hz"] == WS_HZ,
            "boot 1: GET /api/config shows the change at once")
    want_cvl = round(CELLS * BULK_V, 2)  # sent in 0.1 V steps (0x351), as the status shows it
    st = fwrig.tbtest.wait_for(lambda: (x := b1.status()) and abs(x["limits"]["cvl_v"] - want_cvl) <= 0.06 and x, 10, 0.2)
    C.check(bool(st), f"boot 1: the CVL follows: {CELLS} x {BULK_V} = {want_cvl} V ({(b1.status() or {}).get('limits', {}).get('cvl_v')})")
    rig.check_no_crash(b1)
    rc = b1.stop()
    C.check(rc == 0, f"boot 1: QEMU stops on SIGTERM with status 0 ({rc})")

    # ---- the same image again: a reboot -----------------------------------------------------------
    b2, st = rig.boot()
    if st is None:
        return
    C.check(st["config_source"] == "file", f"boot 2: config_source {st['config_source']!r} (want 'file')")
    C.check(st.get("config_warning") is None, f"boot 2: no config warning ({st.get('config_warning')})")
    cfg2 = fwrig.Session(b2.base).req("GET", "/api/config").json()
    C.check(cfg2["charge"]["cell_bulk_v"] == BULK_V and cfg2["web"]["ws_rate_hz"] == WS_HZ,
            f"boot 2: the saved values are back ({cfg2['charge']['cell_bulk_v']}, {cfg2['web']['ws_rate_hz']})")
    C.check(abs(st["limits"]["cvl_v"] - want_cvl) <= 0.06, f"boot 2: CVL {st['limits']['cvl_v']} from the saved value")
    con = b2.console()
    C.check("configuration from file" in con, "boot 2: the console says the configuration comes from the saved file")
    C.check(b2.setup_code() is None, "boot 2: no setup code (the admin password was kept)")
    auth = fwrig.Session(b2.base).req("GET", "/api/auth").json()
    C.check(auth.get("setup_required") is False, f"boot 2: GET /api/auth: set-up done ({auth})")
    bad = fwrig.Session(b2.base).req("POST", "/api/auth/login", {"password": "not-the-password"})
    C.check(bad.status_code == 401, f"boot 2: a wrong password is refused ({bad.status_code})")
    s2 = fwrig.admin(rig, b2)
    if s2 is not None:
        r = s2.req("PUT", "/api/config", {"web": {"ws_rate_hz": 5}})
        C.check(r.status_code == 200, f"boot 2: the saved password's session may change the config ({r.status_code})")
    rig.check_no_crash(b2)


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-reboot", "--cells", str(CELLS), "--soc", "60", "--seed", "5"))
