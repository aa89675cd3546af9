#!/usr/bin/python3
"""fw-can: the frames the firmware puts on the bus (QEMU's TWAI -> can-host-chardev -> slcan log)
are the Linux daemon's frames, and they say what GET /api/status says.

Two identical simulators (same cells, SOC, seed, idle): one on the firmware's UART1, one on the
Linux daemon (tinybms-gateway --serial PTY --can log:FILE, default configuration, as the
firmware's). After both ran through an identity period (can.identity_period_ms, 5 s), both logs go
through victron-can-decode (slcan and candump -L):
  - the firmware's log decodes whole: every line a frame, every frame of the Victron set, none of
    the GX's own ids (0x305/0x306/0x307), no decode error;
  - the same frame ids as the Linux daemon's, with the same field names, and the same values
    (the last frame of each id; numbers within one unit of the field's resolution, text exact);
  - the newest 0x351 gives the CVL/CCL/DCL of the status read just before, 0x355 its SOC and
    0x356 its pack voltage (within the frame's resolution);
  - 0x351 about once a second (more than 4 in the last 5 s)."""
import json
import os
import shutil
import subprocess
import time

import fwrig

tbtest = fwrig.tbtest
SIM_ARGS = ("--cells", "16", "--soc", "71", "--seed", "9", "--capacity", "150")
WINDOW_S = 6.5  # > can.identity_period_ms (5 s): every frame of the set goes out at least once


def decode(path):
    p = subprocess.run([tbtest.bin_path("victron-can-decode"), path], capture_output=True, text=True, timeout=30)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines()], p.stderr.strip()


def complete_lines(src, dst):
    """Copy of an slcan log that QEMU is still writing, cut after its last complete line."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[:data.rfind(b"\r") + 1])


def last_by_id(objs):
    out = {}
    for o in objs:
        if "id" in o:
            out[o["id"]] = o
    return out


def same(a, b, tol):
    """Decoded field values equal: numbers within tol, everything else exactly (recursively)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= tol + 1e-9
    return a == b


# one unit of each frame's numeric resolution (docs/victron-can.md)
TOL = {"0x351": 0.1, "0x355": 1, "0x356": 0.1, "0x373": 0.001, "0x378": 0.1, "0x379": 1, "0x35F": 1}


def main(rig):
    C = rig.C
    # the Linux daemon on the twin battery, started first: it is up long before QEMU's boot ends
    lx = tbtest.tmpdir("tb-fw-can-linux-")
    _, pty2, ctl2 = tbtest.start_sim(lx, *SIM_ARGS)
    lx_log = os.path.join(lx, "can.log")
    lx_http = f"127.0.0.1:{tbtest.free_port()}"
    gw = tbtest.start_gateway(["--serial", pty2, "--can", f"log:{lx_log}", "--state-dir", lx, "--http", lx_http],
                              os.path.join(lx, "gateway.log"))
    b, st = rig.boot()
    if st is None:
        return
    time.sleep(WINDOW_S)
    C.check(gw.poll() is None, "the Linux daemon runs")

    # the status and the newest frames, back to back
    st = b.status()
    snap = os.path.join(rig.dir, "can-snapshot.slcan")
    complete_lines(b.can_path, snap)
    tr = rig.ctl.truth()
    lx_snap = os.path.join(lx, "can-snapshot.log")
    shutil.copyfile(lx_log, lx_snap)

    rc, fw, err = decode(snap)
    print(f"firmware log: {err.splitlines()[0] if err else ''}", flush=True)
    C.check(rc == 0 and fw and " 0 unparsable lines" in err, f"victron-can-decode reads the slcan log: status {rc}, {err}")
    C.check(all("error" not in o for o in fw), f"no undecodable line: {[o for o in fw if 'error' in o][:2]}")
    C.check(all(o.get("name") for o in fw), f"every frame is of the Victron set: "
                                            f"{sorted({o['id'] for o in fw if not o.get('name')})}")
    C.check(all("decode_error" not in o for o in fw), "no frame too short for its id")
    ids = {o["id"] for o in fw}
    C.check(not ids & {"0x305", "0x306", "0x307"}, f"none of the GX's ids is sent ({sorted(ids)})")

    rc2, lnx, err2 = decode(lx_snap)
    C.check(rc2 == 0 and lnx, f"victron-can-decode reads the Linux log: {rc2}, {err2}")
    fw_last, lx_last = last_by_id(fw), last_by_id(lnx)
    print("firmware ids:", " ".join(sorted(fw_last)), flush=True)
    C.check(set(fw_last) == set(lx_last), f"the same frame ids as the Linux daemon: only firmware "
                                          f"{sorted(set(fw_last) - set(lx_last))}, only Linux {sorted(set(lx_last) - set(fw_last))}")
    for fid in sorted(set(fw_last) & set(lx_last)):
        a, l2 = fw_last[fid], lx_last[fid]
        C.check(a["name"] == l2["name"] and a["dlc"] == l2["dlc"], f"{fid}: name and DLC as on Linux "
                                                                 f"({a['name']}/{a['dlc']} vs {l2['name']}/{l2['dlc']})")
        C.check(same(a.get("fields"), l2.get("fields"), TOL.get(fid, 0)),
                f"{fid}: the same fields and values as on Linux: firmware {a.get('fields')} Linux {l2.get('fields')}")

    # against the firmware's own status
    lim, bms = st["limits"], st["bms"]
    f351 = fw_last.get("0x351", {}).get("fields", {})
    f355 = fw_last.get("0x355", {}).get("fields", {})
    f356 = fw_last.get("0x356", {}).get("fields", {})
    C.close(lim["cvl_v"], f351.get("cvl_v"), "0x351 CVL vs status", 0.05)
    C.close(lim["ccl_a"], f351.get("ccl_a"), "0x351 CCL vs status", 0.05)
    C.close(lim["dcl_a"], f351.get("dcl_a"), "0x351 DCL vs status", 0.05)
    C.close(lim["dvl_v"], f351.get("dvl_v"), "0x351 DVL vs status", 0.05)
    C.close(round(bms["soc_pct"]), f355.get("soc_pct"), "0x355 SOC vs status", 0.5)
    C.close(bms["soh_pct"], f355.get("soh_pct"), "0x355 SOH vs status", 0.5)
    C.close(bms["pack_voltage_v"], f356.get("voltage_v"), "0x356 voltage vs status", 0.006)
    C.close(tr["pack_v"], f356.get("voltage_v"), "0x356 voltage vs the simulator's truth", 0.006)
    C.check(lim["transmit"] is True and st["can"]["mode"] == "transmitting", "the status says transmitting")
    C.check(st["can"]["tx_errors"] == 0 and st["can"]["refused"] == 0,
            f"no TX error, nothing refused ({st['can']['tx_errors']}, {st['can']['refused']})")
    recent = b.can.since(time.monotonic() - 5.0, 0x351)
    C.check(len(recent) >= 4, f"0x351 about once a second ({len(recent)} in the last 5 s)")
    rig.check_no_crash(b)
    C.check(gw.poll() is None, "the Linux daemon still runs")


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-can", *SIM_ARGS))
