"""Soak of the real daemon: tinybms-gateway against tinybms-sim over a pty for TB_SOAK_SECONDS
(default 20 s in `make test`; `make soak` runs SOAK_SECONDS, 300 by default), the battery at
TB_SOAK_SPEED (default 120: two simulated hours a wall minute) on a solar day, the loop closed
(this test plays the GX: it reads the newest 0x351 from the CAN log every second and makes the
simulator's load obey it), wire faults now and then (garbage, CRC errors, lost and split replies),
and, where the daemon serves it, a client reading /api/status ten times a second.

Checked: the daemon's RSS is flat after the warm-up (sampled every second; no growth beyond
64 kB), it never exits, 0x351 keeps its <= 1 s cadence through the faults (none is long enough
to make the data stale), every 0x351 carries a pack-voltage CVL within 16 x charge.cell_bulk_v,
CCL/DCL >= 0, and the gateway never sends 0x305-0x307; at SIGTERM it stops cleanly. Prints RSS,
CPU and the simulated time covered."""
import os
import random
import re
import signal
import time

import tbtest

SECONDS = float(os.environ.get("TB_SOAK_SECONDS", "20"))
SPEED = float(os.environ.get("TB_SOAK_SPEED", "120"))
t = tbtest.Checker("soak-daemon")
tmp = tbtest.tmpdir("tb-soak-")
http = f"127.0.0.1:{tbtest.free_port()}"
sim, pty, ctl = tbtest.start_sim(tmp, "--cells", "16", "--capacity", "280", "--soc", "35", "--seed", "12",
                                 "--speed", str(SPEED), "--load", "solar 110 25")
canlog = os.path.join(tmp, "can.log")
log_path = os.path.join(tmp, "gateway.log")
gw = tbtest.start_gateway(["--serial", pty, "--can", f"log:{canlog}", "--state-dir", tmp, "--http", http], log_path)
t.check(tbtest.wait_for(lambda: tbtest.read_candump(canlog), 10) is not None, "frames on the bus after start")

rng = random.Random(7)
faults = ["garbage 0.4", "crc 0.3", "noreply 0.3", "split 1 always", "truncate 0.2", "delay 150 0.5"]
samples = []          # (elapsed s, RSS kB)
status_reads = status_ok = 0
t0 = time.monotonic()
cpu0 = tbtest.proc_status(gw.pid)[2]
next_fault = t0 + 3.0
fault_until = None
n_faults = 0
while time.monotonic() - t0 < SECONDS:
    now = time.monotonic()
    # the GX obeys the newest 0x351
    last = [f for f in tbtest.read_candump(canlog, time.time() - 1.5) if f[1] == 0x351]
    if last:
        cvl, ccl, dcl = tbtest.limits_351(last[-1][2])
        ctl.cmd(f"limits {cvl:.1f} {ccl:.1f} {dcl:.1f}")
    else:
        ctl.cmd("limits 0 0 0")
    if fault_until and now >= fault_until:
        ctl.cmd("fault clear")
        fault_until = None
    elif not fault_until and now >= next_fault:
        ctl.cmd("fault " + rng.choice(faults))
        n_faults += 1
        fault_until = now + rng.uniform(1.0, 3.0)
        next_fault = fault_until + rng.uniform(2.0, 6.0)
    samples.append((now - t0, tbtest.proc_status(gw.pid)[0]))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        st = tbtest.status_json(http, timeout=0.2) if status_reads == 0 or status_ok else None
        status_reads += 1
        status_ok += st is not None
        time.sleep(0.1)
ctl.cmd("fault clear")
wall = time.monotonic() - t0
rss, hwm, cpu1 = tbtest.proc_status(gw.pid)
t.check(gw.poll() is None, "the daemon ran through the soak")

warm = [r for s, r in samples if s >= min(5.0, SECONDS / 3)]
if len(warm) >= 4:
    first, second = warm[:len(warm) // 2], warm[len(warm) // 2:]
    growth = max(second) - max(first)
    t.check(growth <= 64, f"RSS flat after the warm-up: {max(first)} kB -> {max(second)} kB (growth {growth} kB)")
frames = tbtest.read_candump(canlog)
ids = {f[1] for f in frames}
t.check(not ids & {0x305, 0x306, 0x307}, "never sent 0x305/0x306/0x307")
l351 = [f for f in frames if f[1] == 0x351]
gap = tbtest.largest_gap([f[0] for f in l351])
t.check(gap is not None and gap <= 1.05, f"0x351 at <= 1 s cadence throughout, faults included (largest gap {gap})")
bad = [tbtest.limits_351(f[2]) for f in l351
       if not (16 * 2.0 <= tbtest.limits_351(f[2])[0] <= 16 * 3.45 + 0.05) or min(tbtest.limits_351(f[2])[1:]) < 0]
t.check(not bad, f"every 0x351 has a pack-voltage CVL and non-negative currents ({bad[:3]})")
tr = ctl.truth()
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "SIGTERM: exit status 0")
log = open(log_path, errors="replace").read()
m = re.search(r"latency over (\d+) bursts: p50 (\d+) ms, p99 (\d+) ms", log)
t.check("energy counters saved" in log, "energy counters saved at the end")
print(f"soak-daemon: {wall:.0f} s wall, {tr['model_s'] / 3600:.1f} simulated h at speed {SPEED:.0f}, "
      f"{n_faults} wire faults, {len(l351)} 0x351 frames, SOC now {tr['soc']:.1f} %")
print(f"soak-daemon: RSS {rss} kB (high-water {hwm} kB), CPU {100 * (cpu1 - cpu0) / wall:.2f} % of one core, "
      f"reply->CAN {m.group(2) + '/' + m.group(3) + ' ms p50/p99' if m else 'n/a'}, "
      f"status reads {status_ok}/{status_reads}{' (web API not merged: no client)' if not status_ok else ''}")
ctl.close()
t.done()
