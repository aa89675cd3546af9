"""Fault tests on the TinyBMS side: the real daemon against tinybms-sim over a pty, CAN frames to a
candump log (log: back-end), the simulator's faults switched through its control socket.

  1. BMS unplugged and re-plugged: --serial points at a symlink this test controls; the simulator
     is killed (the pty disappears), then a new one (another battery state) is started and the
     symlink moved to it. Expect: the port error logged and the port reopened every second,
     stale data -> charging stopped on the bus (CCL 0, CVL <= the last pack voltage), then the
     fail-safe (stop transmitting: no frame at all), then, once re-plugged, fresh data from the
     new battery and 0x351 back at <= 1 s cadence; link down/up logged with its counters.
  2. A burst of CRC errors (every reply corrupted): the link goes down, the CRC errors are counted
     in the log's link line, nothing corrupted reaches the bus, and it recovers when they stop.
     A burst of garbage (random bytes around every reply): the receiver resynchronises, the data
     stays fresh and true, the cadence holds.
  3. Replies split into 1-4 byte pieces 1 ms apart: fresh and true data, cadence holds.
Throughout: the daemon never exits; at the end SIGTERM gives exit status 0.
The failsafe thresholds are set low (3 s stale, 5 s fail-safe) to keep the test short."""
import os
import re
import signal
import time

import tbtest

t = tbtest.Checker("fault-serial")
tmp = tbtest.tmpdir("tb-fault-serial-")
http = f"127.0.0.1:{tbtest.free_port()}"
STALE, FAILSAFE = 3.0, 5.0  # failsafe.stale_ms / failsafe_ms for this test (defaults 5 s / 30 s; stale
# must stay above link.backoff_max_ms, 2 s)


def log_text():
    return open(log_path, errors="replace").read()


def frames(since, fid=None):
    return [f for f in tbtest.read_candump(canlog, since) if fid is None or f[1] == fid]


def cadence_ok(seconds, what):
    t0 = time.time()
    time.sleep(seconds)
    ts = [f[0] for f in frames(t0, 0x351)]
    gap = tbtest.largest_gap(ts)
    t.check(len(ts) >= seconds - 1 and gap is not None and gap <= 1.05,
            f"{what}: 0x351 at <= 1 s cadence ({len(ts)} frames in {seconds} s, largest gap {gap})")


def bus_matches(ctl, what):
    """The newest 0x356 voltage and 0x355 SOC agree with the simulator's truth."""
    tr = ctl.truth()
    recent = frames(time.time() - 0.6)
    last = {}
    for _, fid, d in recent:
        last[fid] = d
    ok = 0x356 in last and 0x355 in last
    if ok:
        v = tbtest.le16(last[0x356], 0) / 100.0
        soc = tbtest.le16(last[0x355], 0)
        ok = abs(v - tr["pack_v"]) <= 0.05 and abs(soc - round(tr["bms_soc"])) <= 1
        t.check(ok, f"{what}: bus {v:.2f} V, SOC {soc} % vs BMS {tr['pack_v']:.2f} V, {tr['bms_soc']:.1f} %")
    else:
        t.check(False, f"{what}: 0x355/0x356 on the bus in the last 0.6 s")


# ---- start: simulator 1 behind a symlink ----------------------------------------------------
d1 = os.path.join(tmp, "sim1")
os.makedirs(d1)
sim1, pty1, ctl1 = tbtest.start_sim(d1, "--cells", "16", "--capacity", "200", "--soc", "40", "--seed", "5",
                                    "--current", "-15")
link = os.path.join(tmp, "ttyBMS")
os.symlink(pty1, link)
canlog = os.path.join(tmp, "can.log")
cfg = os.path.join(tmp, "gw.json")
with open(cfg, "w") as f:
    f.write(f'{{"failsafe": {{"stale_ms": {int(STALE * 1000)}, "failsafe_ms": {int(FAILSAFE * 1000)},'
            ' "mode": "stop_transmitting"}, "charge": {"limit_hold_s": 1}}\n')
log_path = os.path.join(tmp, "gateway.log")
gw = tbtest.start_gateway(["--serial", link, "--can", f"log:{canlog}", "--state-dir", tmp, "--config", cfg,
                           "--http", http], log_path)
t.check(tbtest.wait_for(lambda: frames(0, 0x351), 10) is not None, "0x351 on the bus after start")
cadence_ok(3, "start")
bus_matches(ctl1, "start")

# ---- 1. unplugged ---------------------------------------------------------------------------
last_pack = ctl1.truth()["pack_v"]
t_kill = time.time()
sim1.kill()
sim1.wait()
ctl1.close()
# the device node goes away, as udev removes /dev/ttyUSB0: a freed /dev/pts/N is soon reused by
# another program's pty (other tests on this machine), which the gateway must not reopen
tbtest.replace_symlink(link, os.path.join(tmp, "unplugged"))
time.sleep(FAILSAFE + 2.0)
after = frames(t_kill)
stopped = [f for f in after if f[1] == 0x351 and tbtest.limits_351(f[2])[1] == 0.0]
t.check(stopped, f"a 0x351 with CCL 0 was sent once the data went stale ({len(stopped)} frames)")
late = [f for f in after if f[1] == 0x351 and f[0] >= t_kill + STALE + 0.15]
t.check(all(tbtest.limits_351(f[2])[1] == 0.0 for f in late),
        f"stale: CCL 0 in every 0x351 after {STALE} s ({[tbtest.limits_351(f[2]) for f in late][:3]})")
t.check(all(tbtest.limits_351(f[2])[0] <= last_pack + 0.1 for f in stopped),
        f"stale: CVL no higher than the last pack voltage {last_pack:.2f} V")
silent = [f for f in after if f[0] >= t_kill + FAILSAFE + 0.25]
t.check(not silent, f"fail-safe 'stop transmitting': no frame after {FAILSAFE + 0.25:.2f} s ({len(silent)} sent)")
t.check(gw.poll() is None, "the daemon is still running with the BMS unplugged")
log = log_text()
t.check(re.search(r"serial.*(hang-up|port error|Input/output error).*reopening", log) is not None,
        "the lost port is logged ('... reopening')")
m = re.search(r"TinyBMS link down \((\d+) timeouts, (\d+) CRC errors so far\)", log)
t.check(m is not None and int(m.group(1)) > 0, f"link down logged with its timeout count ({m.group(0) if m else None})")
t.check("fresh -> stale" in log and "stale -> failsafe" in log, "stale and fail-safe transitions logged")

# ---- re-plugged: another battery --------------------------------------------------------------
d2 = os.path.join(tmp, "sim2")
os.makedirs(d2)
sim2, pty2, ctl2 = tbtest.start_sim(d2, "--cells", "16", "--capacity", "200", "--soc", "81", "--seed", "6",
                                    "--current", "-12")
t_plug = time.time()
tbtest.replace_symlink(link, pty2)


soc2 = ctl2.truth()["bms_soc"]  # the new BMS's own estimate (about 81 %; the old one was about 40 %)


def new_soc_on_bus():
    for _, fid, d in reversed(frames(t_plug, 0x355)):
        return abs(tbtest.le16(d, 0) - soc2) <= 1.5
    return False


back = tbtest.wait_for(new_soc_on_bus, 15)
t.check(back, f"re-plugged: the new battery's SOC ({soc2:.1f} %) reaches the bus")
print(f"re-plug -> fresh data on the bus in {time.time() - t_plug:.2f} s")
cadence_ok(3, "after re-plug")
bus_matches(ctl2, "after re-plug")
t.check(tbtest.wait_for(lambda: any(tbtest.limits_351(f[2])[1] > 0 for f in frames(time.time() - 0.5, 0x351)), 10),
        "charging allowed again (CCL > 0) after the fresh snapshot")
log = log_text()
t.check("TinyBMS link up" in log.split("link down")[-1], "link up logged after the re-plug")
t.check(re.search(r"-> fresh", log.split("stale -> failsafe")[-1]) is not None, "data fresh again logged")

# ---- 2. CRC errors, garbage -----------------------------------------------------------------
LINK_DOWN = r"TinyBMS link down \((\d+) timeouts, (\d+) CRC errors so far\)"
n_down = len(re.findall(LINK_DOWN, log_text()))
ctl2.cmd("fault crc always")
t_crc = time.time()
tbtest.wait_for(lambda: len(re.findall(LINK_DOWN, log_text())) > n_down, 20)
downs = re.findall(LINK_DOWN, log_text())
t.check(len(downs) > n_down and int(downs[-1][1]) > 0, f"CRC errors counted in the link-down line ({downs[-1:]})")
print(f"every reply corrupted: link down after {time.time() - t_crc:.1f} s ({downs[-1:]})")
bad = [f for f in frames(t_crc + STALE + 0.2, 0x351) if tbtest.limits_351(f[2])[1] != 0.0]
t.check(not bad, "while every reply is corrupted, no 0x351 allows charging once the data is stale")
ctl2.cmd("fault clear")
t_clear = time.time()
t.check(tbtest.wait_for(lambda: "TinyBMS link up" in log_text().split("link down")[-1], 10),
        "link up again once the CRC errors stop")
t.check(tbtest.wait_for(lambda: frames(t_clear, 0x355), 5), "frames again after the CRC burst")
cadence_ok(2, "after the CRC burst")
bus_matches(ctl2, "after the CRC burst")

n_stale_before = log_text().count("fresh -> stale")
ctl2.cmd("fault garbage 0.5")
ctl2.cmd("fault crc 0.2")
cadence_ok(5, "garbage around half the replies, a CRC error in one of five")
bus_matches(ctl2, "during garbage and CRC errors")
stats = ctl2.cmd("stats")
m = re.search(r'"garbage":(\d+)', stats)
t.check(m is not None and int(m.group(1)) > 10, f"the simulator really inserted garbage ({m.group(0) if m else stats})")
ctl2.cmd("fault clear")
t.check(log_text().count("fresh -> stale") == n_stale_before, "garbage never made the data stale")

# ---- 3. replies split byte by byte ----------------------------------------------------------
ctl2.cmd("fault split 1 always")
time.sleep(0.5)
cadence_ok(4, "replies dribbled in 1-4 byte pieces")
bus_matches(ctl2, "split replies")
ctl2.cmd("fault clear")
t.check(log_text().count("fresh -> stale") == n_stale_before, "split replies never made the data stale")

st = tbtest.status_json(http)
if st is None:
    print("status JSON not available (the web API is not merged on this branch): counters checked in the log only")
else:
    link_st = st.get("link", {})
    print("status link counters:", link_st)
    t.check(link_st.get("timeouts", 0) > 0 and link_st.get("rx", link_st).get("crc_errors", 0) > 0,
            "status JSON counts the timeouts and CRC errors")

t.check(gw.poll() is None, "the daemon survived every fault")
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "SIGTERM: exit status 0")
ctl2.close()
t.done()
