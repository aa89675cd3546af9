#!/usr/bin/python3
"""fw-boot: the ESP32-C3 image boots in QEMU and serves the simulator's battery.

tinybms-sim (12 cells, 63 % SOC: not the firmware's defaults, so a value that merely looks right
cannot pass) on UART1; the console must show the gateway's start lines and no crash, assertion,
watchdog or reset; GET /api/status over QEMU's emulated Ethernet (slirp, forwarded port) must
give the simulator's truth: cell count, SOC, pack voltage and each cell voltage within the
TinyBMS register resolution; the link must count replies and no CRC error; /api/system must
say it is the firmware (esp_http_server, TWAI, NVS). Five seconds later it still runs: the uptime
grew (no reset), new views, data fresh, no CRC error. QEMU stops cleanly on SIGTERM."""
import time

import fwrig

CELLS, SOC = 12, 63
STAY_S = 5  # how long it must keep running after the checks (a crash soon after the start)


def main(rig):
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    con = b.console()
    C.check("firmware starting on esp32c3" in con, "console: the gateway's start line")
    C.check("TinyBMS link up" in con, "console: the TinyBMS link comes up on UART1")
    C.check("CAN on TWAI" in con, "console: CAN on TWAI")
    C.check("net: Ethernet link up" in con or "Ethernet link up" in con, "console: the emulated Ethernet is up")
    C.check(b.setup_code() is not None, "console: a one-time setup code is printed on the first start")

    # the simulator's truth against the status, sampled back to back (idle battery: it does not move)
    tr = rig.ctl.truth()
    st = b.status()
    bms = st["bms"]
    print(f"truth: {tr['cells']} cells, pack {tr['pack_v']:.3f} V, BMS SOC {tr['bms_soc']:.2f} %; "
          f"status: {bms['cell_count']} cells, {bms['pack_voltage_v']} V, {bms['soc_pct']} %", flush=True)
    C.check(bms["cell_count"] == tr["cells"] == CELLS, f"cell count {bms['cell_count']} (sim {tr['cells']})")
    # TinyBMS registers: SOC in 0.000001 % steps, pack voltage as a float, cells in 0.1 mV
    C.close(tr["bms_soc"], bms["soc_pct"], "SOC %", 0.05)
    C.close(tr["pack_v"], bms["pack_voltage_v"], "pack voltage V", 0.01)
    cells = bms.get("cells_v") or []
    C.check(len(cells) == CELLS, f"{len(cells)} cell voltages")
    worst = max((abs(v - mv / 1000.0) for v, mv in zip(cells, tr["cell_mv"])), default=None)
    C.check(worst is not None and worst <= 0.0002, f"every cell voltage within 0.2 mV of the truth (worst {worst})")
    C.check(st["limits"]["data"] == "fresh" and st["limits"]["transmit"] is True,
            f"limits fresh and transmitted ({st['limits']['data']}, {st['limits']['transmit']})")
    C.check(st["link"]["up"] is True and st["link"]["replies"] > 0 and st["link"]["crc_errors"] == 0,
            f"link up, replies counted, no CRC error ({ {k: st['link'].get(k) for k in ('up', 'replies', 'crc_errors')} })")
    C.check(st["config_source"] == "defaults", f"config_source defaults on a fresh image ({st['config_source']})")
    code, sysdoc = b.get("/api/system")
    sysdoc = sysdoc if code == 200 and isinstance(sysdoc, dict) else {}
    C.check("ESP-IDF" in sysdoc.get("server", "") and sysdoc.get("can_port") == "twai"
            and sysdoc.get("state_dir") == "nvs" and sysdoc.get("demo") is False,
            f"GET /api/system: the firmware's server, TWAI, NVS, not demo "
            f"({ {k: sysdoc.get(k) for k in ('server', 'can_port', 'state_dir', 'demo')} })")
    code, page = b.get("/")
    C.check(code == 200 and isinstance(page, str) and "<html" in page.lower(), f"GET / serves the UI ({code})")

    # it keeps running: a crash or a reset a few seconds after the start shows here
    time.sleep(STAY_S)
    st2 = b.status()
    C.check(st2 is not None, f"{STAY_S} s later: /api/status still answers")
    if st2:
        C.check(st2["uptime_s"] >= st["uptime_s"] + STAY_S - 1, f"{STAY_S} s later: uptime {st['uptime_s']} -> "
                                                                 f"{st2['uptime_s']} s (no reset)")
        C.check(st2["seq"] > st["seq"] and st2["limits"]["data"] == "fresh" and st2["link"]["crc_errors"] == 0,
                f"{STAY_S} s later: new views, data fresh, no CRC error (seq {st['seq']} -> {st2['seq']})")
    rig.check_no_crash(b)
    rc = b.stop()
    C.check(rc == 0, f"QEMU stops on SIGTERM with status 0 ({rc})")


if __name__ == "__main__":
    fwrig.run(main, lambda: fwrig.Rig("fw-boot", "--cells", str(CELLS), "--soc", str(SOC), "--seed", "3"))
