#!/usr/bin/python3
"""fw-silence: the BMS goes silent under the firmware; what the GX gets, and the recovery.

The admin sets failsafe.stale_ms / failsafe_ms to 3 s / 5 s (mode stop_transmitting) and
charge.limit_hold_s to 1 s (the pause after a limit drop, 30 s by default) through the API, live
(no restart); the values the firmware then reports in GET /api/config are the ones
checked against. The simulator stops answering (`fault noreply` on its control socket):
  - stale: by stale_ms after the last good reply, GET /api/status says data stale, charging
    stopped, CCL 0; on the bus (the slcan log of QEMU's TWAI) 0x351 carries CCL 0 and a CVL no
    higher than the last pack voltage, and every later 0x351 too; not before stale_ms either
    (the data of the last 100 ms poll is still good);
  - fail-safe: by failsafe_ms the status says failsafe and CAN mode stopped, and the bus is
    silent (no frame at all, as test_fault_serial.py checks on Linux);
  - `fault clear`: data fresh again, CCL > 0 on the bus again.
The console shows the transitions and no crash. The time bounds have seconds of slack: QEMU's
clock is the host's, but a loaded host may delay the guest."""
import time

import fwrig

SLACK_S = 2.0  # host load, the 100 ms poll, the 1 s cadence of the status poll below


def main(rig):
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    s = fwrig.admin(rig, b)
    if s is None:
        return
    res = fwrig.put_config(rig, s, {"failsafe": {"stale_ms": 3000, "failsafe_ms": 5000, "mode": "stop_transmitting"},
                                    "charge": {"limit_hold_s": 1}}, "fail-safe times")
    if res is None:
        return
    C.check(res["result"]["restart_required"] == [], f"the fail-safe times apply without a restart ({res['result']})")
    fs = s.req("GET", "/api/config").json()["failsafe"]
    C.check(fs == {"stale_ms": 3000, "failsafe_ms": 5000, "mode": "stop_transmitting"}, f"GET /api/config: {fs}")
    stale_s, failsafe_s = fs["stale_ms"] / 1000.0, fs["failsafe_ms"] / 1000.0

    ok = tbtest_wait(lambda: (f := b.can.last(0x351)) and tbtest.limits_351(f[2])[1] > 0, 5)
    C.check(ok, "before the fault: 0x351 with CCL > 0 on the bus")
    last_pack = rig.ctl.truth()["pack_v"]

    rig.ctl.cmd("fault noreply")
    t_f = time.monotonic()
    print(f"fault noreply at +{t_f - rig.t0:.1f} s; stale_ms {fs['stale_ms']}, failsafe_ms {fs['failsafe_ms']}", flush=True)

    # ---- stale ---------------------------------------------------------------------------------
    st_stale, t_stale = None, None
    while time.monotonic() < t_f + stale_s + SLACK_S + 3:
        st = b.status()
        if st and st["limits"]["data"] != "fresh":
            st_stale, t_stale = st, time.monotonic()
            break
        time.sleep(0.1)
    C.check(st_stale is not None, f"the status leaves 'fresh' after the BMS went silent (stale_ms {fs['stale_ms']})")
    if st_stale is None:
        return
    lim = st_stale["limits"]
    dt = t_stale - t_f
    print(f"status not fresh after {dt:.2f} s: data {lim['data']}, state {lim['state']}, ccl {lim['ccl_a']}, "
          f"charge_stopped {lim['charge_stopped']}", flush=True)
    C.check(stale_s - 0.5 <= dt <= stale_s + SLACK_S, f"stale after {dt:.2f} s: about stale_ms ({stale_s} s)")
    C.check(lim["data"] == "stale" and lim["ccl_a"] == 0 and lim["charge_stopped"] is True,
            f"stale: data stale, CCL 0, charging stopped ({lim['data']}, {lim['ccl_a']}, {lim['charge_stopped']})")

    stopped = [f for f in b.can.since(t_f, 0x351) if tbtest.limits_351(f[2])[1] == 0.0]
    first = stopped[0][0] - t_f if stopped else None
    C.check(first is not None and first <= stale_s + SLACK_S,
            f"a 0x351 with CCL 0 reaches the bus within stale_ms + {SLACK_S} s ({first})")
    C.check(all(tbtest.limits_351(f[2])[0] <= last_pack + 0.1 for f in stopped),
            f"stale: CVL no higher than the last pack voltage {last_pack:.2f} V "
            f"({sorted({tbtest.limits_351(f[2])[0] for f in stopped})})")
    early = [f for f in b.can.since(t_f, 0x351) if f[0] < t_f + stale_s - 0.5 and tbtest.limits_351(f[2])[1] == 0.0]
    C.check(not early, f"no CCL 0 before stale_ms: the last good data still counts ({len(early)} frames)")

    # ---- fail-safe: stop transmitting ------------------------------------------------------------
    st_fs, t_fs = None, None
    while time.monotonic() < t_f + failsafe_s + SLACK_S + 3:
        st = b.status()
        if st and st["can"]["mode"] == "stopped":
            st_fs, t_fs = st, time.monotonic()
            break
        time.sleep(0.1)
    C.check(st_fs is not None, "the fail-safe stops transmission (can.mode stopped)")
    if st_fs is not None:
        dt = t_fs - t_f
        C.check(failsafe_s - 0.5 <= dt <= failsafe_s + SLACK_S, f"fail-safe after {dt:.2f} s: about failsafe_ms "
                                                                f"({failsafe_s} s)")
        C.check(st_fs["limits"]["state"] == "failsafe", f"fail-safe: limits.state {st_fs['limits']['state']}")
        between = [f for f in b.can.since(t_f + stale_s + SLACK_S, 0x351) if f[0] < t_fs - 0.3]
        C.check(all(tbtest.limits_351(f[2])[1] == 0.0 for f in between),
                f"every 0x351 between stale and fail-safe has CCL 0 ({len(between)} frames)")
        n0 = st_fs["can"]["tx_frames"]
        time.sleep(1.5)
        after = b.can.since(t_fs + 0.3)
        C.check(not after, f"fail-safe: the bus is silent ({len(after)} frames in 1.2 s: "
                           f"{sorted({hex(f[1]) for f in after})})")
        n1 = b.status()["can"]["tx_frames"]
        C.check(n1 == n0, f"fail-safe: the CAN frame counter stands still ({n0} -> {n1})")

    # ---- recovery ---------------------------------------------------------------------------------
    rig.ctl.cmd("fault clear")
    t_c = time.monotonic()
    st = tbtest_wait(lambda: (x := b.status()) and x["limits"]["data"] == "fresh" and x["can"]["mode"] == "transmitting"
                     and x["limits"]["ccl_a"] > 0 and x, 15)
    C.check(bool(st), "after fault clear: data fresh, transmitting, CCL > 0")
    back = tbtest_wait(lambda: any(tbtest.limits_351(f[2])[1] > 0 for f in b.can.since(t_c, 0x351)), 10)
    C.check(back, "after fault clear: 0x351 with CCL > 0 on the bus again")
    if st:
        print(f"recovered {time.monotonic() - t_c:.2f} s after fault clear", flush=True)
    con = b.console()
    C.check("fresh -> stale" in con and "stale -> failsafe" in con, "console: stale and fail-safe transitions logged")
    C.check("TinyBMS link down" in con, "console: link down logged")
    rig.check_no_crash(b)
    C.check(not b.can.bad, f"every slcan line is an 11-bit data frame ({b.can.bad[:3]})")


def tbtest_wait(pred, timeout):
    return fwrig.tbtest.wait_for(pred, timeout, 0.1)


tbtest = fwrig.tbtest

if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-silence", "--cells", "16", "--soc", "55", "--seed", "4", "--current", "-5"))
