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
  4. Late replies (the simulator delays every reply): 150 ms, below link.reply_timeout_ms: data
     flows, fresh, and the reported age is never below the delay; 1.5 s (beyond the poller's
     answer window of 3 x 250 ms, below stale_ms) and then 6 s (beyond stale_ms and
     failsafe_ms): no late reply is taken for a fresh one - charging stops on the bus at
     stale_ms, the fail-safe applies, link.late_replies rises; cleared: fresh data again.
Each step also reads the counters through the web API (GET /api/status: link up/down, timeouts,
CRC errors, garbage bytes, replies; data freshness and state; CAN frames sent, refused, errors)
and checks them against what the test did and against the simulator's own count of the faults it
injected: counters only grow, a re-plug keeps them, the fail-safe's silence shows as a frame
counter that stands still.
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


def status(what):
    st = tbtest.status_json(http)
    t.check(st is not None, f"{what}: GET /api/status answers")
    return st or {"link": {}, "limits": {}, "can": {}}


def injected(ctl, kind):
    """How many faults of this kind the simulator has injected so far."""
    import json
    return json.loads(ctl.cmd("stats"))["injected"][kind]


def grew(a, b, keys, what):
    """No counter of a (an earlier status) is larger in b."""
    bad = {k: (a["link"][k], b["link"][k]) for k in keys if b["link"][k] < a["link"][k]}
    t.check(not bad, f"{what}: link counters never go back ({bad})")


LINK_KEYS = ("requests", "replies", "timeouts", "crc_errors", "garbage_bytes", "truncated", "late_replies")

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
st0 = status("start")
t.check(st0["link"].get("up") is True and st0["limits"].get("data") == "fresh",
        f"start: status says link up, data fresh ({st0['link'].get('up')}, {st0['limits'].get('data')})")
t.check(st0["can"].get("tx_frames", 0) > 0 and st0["can"].get("refused") == 0 and st0["can"].get("tx_errors") == 0,
        f"start: CAN frames sent, none refused, no TX error ({ {k: st0['can'].get(k) for k in ('tx_frames', 'refused', 'tx_errors')} })")

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
st1 = status("unplugged")
print("unplugged, status:", {k: st1["link"].get(k) for k in ("up",) + LINK_KEYS}, st1["limits"].get("state"),
      st1["limits"].get("data"), st1["can"].get("tx_frames"))
t.check(st1["link"].get("up") is False and st1["limits"].get("state") == "failsafe" and st1["limits"].get("ccl_a") == 0,
        f"unplugged: status says link down, fail-safe, CCL 0 ({st1['link'].get('up')}, {st1['limits'].get('state')}, "
        f"{st1['limits'].get('ccl_a')})")
t.check(st1["link"].get("timeouts", 0) > st0["link"].get("timeouts", 0) and m is not None
        and st1["link"]["timeouts"] >= int(m.group(1)),
        f"unplugged: status counts the timeouts, at least as many as the link-down line "
        f"({st0['link'].get('timeouts')} -> {st1['link'].get('timeouts')}, log {m.group(1) if m else None})")
if st1["link"] and st0["link"]:
    grew(st0, st1, LINK_KEYS, "unplugged")
time.sleep(1.0)
st1b = status("fail-safe")
t.check(st1b["can"].get("tx_frames") == st1["can"].get("tx_frames"),
        f"fail-safe: the CAN frame counter stands still ({st1['can'].get('tx_frames')} -> {st1b['can'].get('tx_frames')})")

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
st2 = tbtest.status_wait(http, lambda s: s["link"]["up"] and s["limits"]["data"] == "fresh", 5) or status("re-plugged")
t.check(st2["link"].get("up") is True and st2["limits"].get("data") == "fresh" and st2["limits"].get("ccl_a", 0) > 0,
        "re-plugged: status says link up, data fresh, charging allowed")
if st2["link"] and st1b["link"]:
    grew(st1b, st2, LINK_KEYS, "re-plugged (the counters survive the port's reopening)")
t.check(st2["can"].get("tx_frames", 0) > st1b["can"].get("tx_frames", 0) and st2["can"].get("refused") == 0,
        "re-plugged: frames counted again, none refused by the TX guard")

# ---- 2. CRC errors, garbage -----------------------------------------------------------------
LINK_DOWN = r"TinyBMS link down \((\d+) timeouts, (\d+) CRC errors so far\)"
n_down = len(re.findall(LINK_DOWN, log_text()))
c0, sim_crc0 = status("before the CRC burst"), injected(ctl2, "crc")
ctl2.cmd("fault crc always")
t_crc = time.time()
time.sleep(0.5)  # a reply already on the wire when the fault was switched on may still be good
c0b = status("CRC burst on")
tbtest.wait_for(lambda: len(re.findall(LINK_DOWN, log_text())) > n_down, 20)
downs = re.findall(LINK_DOWN, log_text())
t.check(len(downs) > n_down and int(downs[-1][1]) > 0, f"CRC errors counted in the link-down line ({downs[-1:]})")
print(f"every reply corrupted: link down after {time.time() - t_crc:.1f} s ({downs[-1:]})")
c1, sim_crc1 = status("CRC burst"), injected(ctl2, "crc")
if c0["link"] and c1["link"]:
    d_crc, d_sim = c1["link"]["crc_errors"] - c0["link"]["crc_errors"], sim_crc1 - sim_crc0
    print(f"CRC burst: the gateway counted {d_crc} CRC errors, the simulator corrupted {d_sim} replies")
    t.check(c1["link"]["up"] is False and d_crc > 0 and c1["link"]["crc_errors"] >= int(downs[-1][1]),
            f"CRC burst: status says link down and counts the CRC errors, at least as many as the log line "
            f"({c0['link']['crc_errors']} -> {c1['link']['crc_errors']}, log {downs[-1][1]})")
    t.check(d_sim - 2 <= d_crc <= d_sim, f"CRC burst: one CRC error per corrupted reply ({d_crc} vs {d_sim})")
    t.check(c1["link"]["replies"] == c0b["link"]["replies"],
            f"CRC burst: no reply accepted while every one is corrupted ({c0b['link']['replies']} -> {c1['link']['replies']})")
    grew(c0, c1, LINK_KEYS, "CRC burst")
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
g0, sim_g0, sim_c0 = status("before the garbage"), injected(ctl2, "garbage"), injected(ctl2, "crc")
ctl2.cmd("fault garbage 0.5")
ctl2.cmd("fault crc 0.2")
cadence_ok(5, "garbage around half the replies, a CRC error in one of five")
bus_matches(ctl2, "during garbage and CRC errors")
stats = ctl2.cmd("stats")
m = re.search(r'"garbage":(\d+)', stats)
t.check(m is not None and int(m.group(1)) >= 4, f"the simulator really inserted garbage ({m.group(0) if m else stats})")
ctl2.cmd("fault clear")
t.check(log_text().count("fresh -> stale") == n_stale_before, "garbage never made the data stale")
g1, sim_g1, sim_c1 = status("garbage"), injected(ctl2, "garbage"), injected(ctl2, "crc")
if g0["link"] and g1["link"]:
    d = {k: g1["link"][k] - g0["link"][k] for k in LINK_KEYS}
    print(f"garbage and CRC errors: gateway {d}, simulator injected {sim_g1 - sim_g0} garbage, {sim_c1 - sim_c0} CRC")
    t.check(g1["link"]["up"] is True and g1["limits"]["data"] == "fresh", "garbage: status says link up, data fresh")
    t.check(d["garbage_bytes"] >= sim_g1 - sim_g0 > 0, f"garbage: at least one garbage byte counted per injection "
            f"({d['garbage_bytes']} bytes, {sim_g1 - sim_g0} injections)")
    t.check(d["crc_errors"] >= sim_c1 - sim_c0 > 0, f"garbage: every corrupted reply counted ({d['crc_errors']} CRC "
            f"errors, {sim_c1 - sim_c0} corrupted)")
    t.check(d["replies"] > 0, "garbage: replies still accepted")
    grew(g0, g1, LINK_KEYS, "garbage")

# ---- 3. replies split byte by byte ----------------------------------------------------------
ctl2.cmd("fault split 1 always")
time.sleep(0.5)
p0 = status("before the split replies")
cadence_ok(4, "replies dribbled in 1-4 byte pieces")
bus_matches(ctl2, "split replies")
ctl2.cmd("fault clear")
t.check(log_text().count("fresh -> stale") == n_stale_before, "split replies never made the data stale")

p1 = status("split replies")
if p0["link"] and p1["link"]:
    d = {k: p1["link"][k] - p0["link"][k] for k in LINK_KEYS}
    print(f"split replies: gateway {d}")
    # A reply whose pieces arrive more than link.rx_gap_ms (50 ms) apart is a broken frame to the
    # gateway, rightly: on a loaded machine the simulator's 1 ms gaps can stretch that far (seen
    # once in ~10 runs with a load average of 10, also on 72b81d3). Allow one such stall per 20
    # replies; a reassembly fault would break every reply.
    stalls = max(d["truncated"], 1 if d["garbage_bytes"] else 0)
    t.check(d["replies"] > 0 and d["crc_errors"] == 0 and stalls <= max(1, d["replies"] // 20),
            f"split replies: reassembled, no CRC error, at most a scheduling stall counted as truncation ({d})")
    t.check(p1["link"]["up"] is True and p1["limits"]["data"] == "fresh", "split replies: status says link up, fresh")
    end = p1["can"]
    t.check(end.get("refused") == 0 and end.get("tx_errors") == 0,
            f"at the end: no CAN frame refused by the TX guard, no TX error ({end.get('refused')}, {end.get('tx_errors')})")

# ---- 4. late replies ------------------------------------------------------------------------
ctl2.cmd("fault delay 150 always")
time.sleep(0.5)
l0 = status("before the 150 ms delay")
ages = []
t_end = time.time() + 3.0
while time.time() < t_end:
    st = status("150 ms delay")
    if st.get("bms", {}).get("age_ms") is not None:
        ages.append(st["bms"]["age_ms"])
    time.sleep(0.1)
l1 = status("150 ms delay")
print(f"every reply 150 ms late: bms.age_ms from {min(ages, default=None)} to {max(ages, default=None)} ms")
t.check(ages and min(ages) >= 150, f"150 ms delay: the reported age is never below the delay (smallest {min(ages, default=None)} ms)")
t.check(l1["limits"].get("data") == "fresh" and l1["link"].get("up") is True, "150 ms delay: data fresh, link up")
if l0["link"] and l1["link"]:
    t.check(l1["link"]["replies"] > l0["link"]["replies"] and l1["link"]["late_replies"] == l0["link"]["late_replies"],
            f"150 ms delay: replies accepted, none late ({l0['link']['replies']} -> {l1['link']['replies']}, late "
            f"{l0['link']['late_replies']} -> {l1['link']['late_replies']})")

for delay_ms in (1500, 6000):
    ctl2.cmd("fault clear")
    t.check(tbtest.wait_for(lambda: status("before a long delay")["limits"].get("data") == "fresh", 20),
            f"fresh data before the {delay_ms} ms delay")
    d0 = status(f"before the {delay_ms} ms delay")
    last_pack = ctl2.truth()["pack_v"]
    ctl2.cmd(f"fault delay {delay_ms} always")
    t_delay = time.time()
    datas = set()
    while time.time() < t_delay + FAILSAFE + 1.5:
        st = status(f"{delay_ms} ms delay")
        if time.time() > t_delay + STALE + 0.3:
            datas.add(st["limits"].get("data"))
        time.sleep(0.2)
    d1 = status(f"{delay_ms} ms delay")
    late_351 = frames(t_delay + STALE + 0.2, 0x351)
    print(f"every reply {delay_ms} ms late: data states after stale_ms {sorted(d for d in datas if d)}, "
          f"late replies {d0['link'].get('late_replies')} -> {d1['link'].get('late_replies')}, "
          f"0x351 after stale_ms {[tbtest.limits_351(f[2]) for f in late_351][:3]}")
    t.check("fresh" not in datas, f"{delay_ms} ms delay: the data is never reported fresh after stale_ms ({datas})")
    t.check(all(tbtest.limits_351(f[2])[1] == 0.0 and tbtest.limits_351(f[2])[0] <= last_pack + 0.1 for f in late_351),
            f"{delay_ms} ms delay: every 0x351 after stale_ms stops charging (CCL 0, CVL <= {last_pack:.2f} V)")
    t.check(d1["limits"].get("state") == "failsafe" and not frames(t_delay + FAILSAFE + 0.25),
            f"{delay_ms} ms delay: the fail-safe applies (state {d1['limits'].get('state')}, no frame after "
            f"{FAILSAFE + 0.25:.2f} s)")
    if d0["link"] and d1["link"]:
        # the first late reply arrives delay_ms after the first request the delay caught
        tbtest.wait_for(lambda: status("late replies")["link"].get("late_replies", 0) > d0["link"]["late_replies"],
                        delay_ms / 1000.0 + 5.0)
        d2 = status(f"{delay_ms} ms delay, later")
        t.check(d2["link"].get("late_replies", 0) > d0["link"]["late_replies"]
                and d2["limits"].get("data") != "fresh",
                f"{delay_ms} ms delay: the late replies are counted, the data still not fresh "
                f"({d0['link']['late_replies']} -> {d2['link'].get('late_replies')}, {d2['limits'].get('data')})")
        grew(d0, d2, LINK_KEYS, f"{delay_ms} ms delay")
ctl2.cmd("fault clear")
t_clear = time.time()
t.check(tbtest.wait_for(lambda: status("after the delays")["limits"].get("data") == "fresh", 20),
        f"fresh data again once the delay is cleared ({time.time() - t_clear:.1f} s)")
t.check(tbtest.wait_for(lambda: frames(t_clear, 0x351), 5), "0x351 again after the delays")

t.check(gw.poll() is None, "the daemon survived every fault")
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "SIGTERM: exit status 0")
ctl2.close()
t.done()
