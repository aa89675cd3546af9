"""End to end: tinybms-sim --pty -> tinybms-gateway --can slcan:PTY -> Debian's python3-can.

The simulator plays the TinyBMS on a pty; the gateway polls it over the real serial code and
writes Victron frames through its slcan back-end to one end of a socat pty pair; python-can's
slcan interface reads the other end, as a GX's CAN port would. The test compares what arrives
on the bus with the simulator's true state (within each field's resolution), checks that 0x351
comes at least every second, that the GX keepalive python-can sends is noticed, and measures
latencies: BMS state change -> CAN frame (external, includes the 100 ms poll and the BMS's
100 ms measurement cycle) and BMS reply -> CAN frame (inside the gateway, from its log)."""
import os
import re
import signal
import statistics
import time

import can

import tbtest

t = tbtest.Checker("gateway-e2e")
tmp = tbtest.tmpdir("tb-e2e-")
sim, sim_pty, ctl = tbtest.start_sim(tmp, "--cells", "16", "--capacity", "200", "--soc", "55", "--seed", "3",
                                     "--current", "-20")
gw_end, gx_end = tbtest.pty_pair()
log_path = os.path.join(tmp, "gateway.log")
gw = tbtest.start_gateway(["--serial", sim_pty, "--can", f"slcan:{gw_end}", "--state-dir", tmp,
                           "--http", f"127.0.0.1:{tbtest.free_port()}"], log_path)
bus = can.Bus(interface="slcan", channel=gx_end, bitrate=500000, sleep_after_open=0)


def le16(d, i, signed=False):
    return int.from_bytes(d[i:i + 2], "little", signed=signed)


frames = []   # (monotonic time, id, data)
def pump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = bus.recv(timeout=0.05)
        if m is not None and not m.is_error_frame:
            frames.append((time.monotonic(), m.arbitration_id, bytes(m.data)))


# ---- cadence and content ------------------------------------------------------------------
pump(2.0)                  # start-up: first valid snapshot, first frames
frames.clear()
bus.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))  # GX keepalive
pump(6.0)
ids = {f[1] for f in frames}
for fid in (0x351, 0x355, 0x356, 0x35A, 0x35E, 0x35F, 0x373, 0x379):
    t.check(fid in ids, f"0x{fid:03X} received")
t.check(not ids & {0x305, 0x306, 0x307}, "the gateway never sends the GX's own ids")
t351 = [f[0] for f in frames if f[1] == 0x351]
gaps = [b - a for a, b in zip(t351, t351[1:])]
t.check(len(t351) >= 5, f"0x351 frames in 6 s: {len(t351)}")
t.check(gaps and max(gaps) <= 1.05, f"0x351 at least every second (largest gap {max(gaps) if gaps else None:.3f} s)")
print(f"0x351: {len(t351)} frames in 6 s, largest gap {max(gaps):.3f} s, mean {statistics.mean(gaps):.3f} s")

# compare the newest frames with the simulator's truth (read right after)
truth = ctl.truth()
last = {}
for _, fid, d in frames:
    last[fid] = d
d356 = last[0x356]
t.close(truth["pack_v"], le16(d356, 0) / 100.0, "0x356 pack voltage (0.01 V)", 0.02)
t.close(truth["pack_i"], le16(d356, 2, True) / 10.0, "0x356 current (0.1 A)", 0.11)
temps = [truth["temp_ext1"], truth["temp_ext2"]]
t.close(sum(temps) / 2, le16(d356, 4, True) / 10.0, "0x356 temperature = mean of the sensors (0.1 degC)", 0.2)
t.close(round(truth["bms_soc"]), le16(last[0x355], 0), "0x355 SOC (1 %)", 1)
d373 = last[0x373]
t.close(min(truth["cell_mv"]), le16(d373, 0), "0x373 min cell (1 mV)", 2)
t.close(max(truth["cell_mv"]), le16(d373, 2), "0x373 max cell (1 mV)", 2)
d351 = last[0x351]
cvl, ccl, dcl = le16(d351, 0) / 10.0, le16(d351, 2, True) / 10.0, le16(d351, 4, True) / 10.0
t.check(0 < cvl <= 16 * 3.65, f"CVL {cvl} V is a pack voltage for 16 cells")
t.check(ccl >= 0 and dcl > 0, f"CCL {ccl} A, DCL {dcl} A")
t.check(all(b in (0xAA, 0xA8, 0x8A, 0x82, 0x2A, 0xA2, 0x28, 0x88, 0x80, 0x0A, 0x02, 0x20, 0x08)
            for b in last[0x35A]) and all((b & 0x55) == 0 for b in last[0x35A]),
        f"0x35A: no alarm or warning active on a healthy pack ({last[0x35A].hex()})")
t.check(last[0x35E].rstrip(b"\0") == b"TinyBMS", f"0x35E is the gateway's own name ({last[0x35E]!r})")

# ---- latency: a BMS state change -> the CAN frame that carries it --------------------------
lat = []
for k in range(20):
    amps = -10.0 - 1.3 * k
    frames.clear()
    t0 = time.monotonic()
    ctl.cmd(f"current {amps:.1f}")
    seen = None
    end = t0 + 2.0
    while time.monotonic() < end and seen is None:
        m = bus.recv(timeout=0.02)
        if m is not None and m.arbitration_id == 0x356:
            if abs(le16(bytes(m.data), 2, True) / 10.0 - amps) < 0.15:
                seen = time.monotonic()
    t.check(seen is not None, f"a {amps} A change reached the bus")
    if seen:
        lat.append((seen - t0) * 1000.0)
if lat:
    lat.sort()
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"BMS state change -> 0x356 on the bus: p50 {p50:.0f} ms, p99 {p99:.0f} ms (n={len(lat)}; "
          "includes the BMS's 100 ms measurement cycle and the 100 ms poll)")
    t.check(p99 < 600, "state change reaches the bus within 600 ms")

# ---- shutdown: clean, with the internal latency and the GX noticed -------------------------
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "SIGTERM: clean exit status 0")
log = open(log_path, errors="replace").read()
t.check("Victron GX detected" in log, "GX keepalive 0x305 noticed")
m = re.search(r"latency over (\d+) bursts: p50 (\d+) ms, p99 (\d+) ms", log)
t.check(m is not None, "internal reply->CAN latency logged")
if m:
    print(f"BMS reply -> CAN frame inside the gateway: p50 {m.group(2)} ms, p99 {m.group(3)} ms over {m.group(1)} bursts")
t.check("energy counters saved" in log, "energy counters saved on SIGTERM")
bus.shutdown()
ctl.close()
t.done()
