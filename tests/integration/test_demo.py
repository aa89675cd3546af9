"""The demo tells the truth (issue 17): `tinybms-gateway --demo` and scripts/demo.sh (make demo).

  1. a simulated GX sends 0x305 / 0x307 every second: the gateway reports the GX present, the
     candump log holds the frames as on a bus, victron-can-decode reads them with a good signature;
  2. the energy counters follow the simulated battery's clock (30x): the net energy matches the
     SOC change of the 280 Ah pack (counters in wall time would show a 30th of it);
  3. the simulated BMS survives a stop and a start: same serial number (so the same MQTT device id),
     a setting written through the API is still there, STATE_DIR/demo-bms.txt holds them; a
     damaged file is reported and replaced by a new battery;
  4. the CAN log is bounded: log:PATH@SIZE keeps PATH below SIZE and the previous one as PATH.1,
     both whole candump lines;
  5. a busy web port: scripts/demo.sh refuses to start and says what to do (make demo PORT=...),
     the daemon in demo mode says it too; scripts/demo.sh passes its options on to the gateway.
"""
import os
import re
import socket
import subprocess
import time

import requests  # Debian python3-requests

import tbtest

t = tbtest.Checker("demo")
DECODE = tbtest.bin_path("victron-can-decode")
SRC = os.environ.get("TB_SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.dirname(tbtest.bin_path("tinybms-gateway")))
PASSWORD = "demo-test-passw0rd"
CANDUMP = re.compile(r"^\(\d+\.\d{6}\) can0 [0-9A-F]{3}#[0-9A-F]*$")


def status(g):
    return requests.get(g.base + "/api/status", timeout=5).json()


def login(g):
    s = requests.Session()
    r = s.post(g.base + "/api/auth/setup", json={"code": g.setup_code(), "password": PASSWORD},
               headers={"Origin": g.base}, timeout=10)
    if r.status_code == 409:  # a password was set by an earlier run on this state directory
        r = s.post(g.base + "/api/auth/login", json={"password": PASSWORD}, headers={"Origin": g.base}, timeout=10)
    t.check(r.status_code == 200, f"logged in: {r.status_code} {r.text[:200]}")
    return s


def serial(g):
    deadline = time.time() + 10
    while time.time() < deadline:
        v = requests.get(g.base + "/api/bms/version", timeout=5).json()
        if v.get("serial_hex"):
            return v["serial_hex"]
        time.sleep(0.2)
    return None


def setting(g, name):
    return requests.get(g.base + f"/api/bms/settings/{name}", timeout=5).json().get("value")


state = tbtest.tmpdir("tb-demo-")
# a battery at 20:00 (the evening peak, no PV: a steady discharge of about 24 A), so that 12 s of it
# (6 simulated minutes) move the SOC by far more than its 0.01 % resolution; a new battery starts
# at 07:00, when PV and loads nearly cancel and the SOC barely moves
with open(os.path.join(state, "demo-bms.txt"), "w") as f:
    f.write("seed 12\nsoc 50\nhour 20\n")
g = tbtest.start_demo(state_dir=state)

# ---- 1. the GX ---------------------------------------------------------------------------------
t.check(tbtest.wait_for(lambda: status(g)["gx"]["present"], 5), f"the simulated GX is seen: {status(g)['gx']}")
t.check("Victron GX detected" in g.log(), "the log says the GX was detected")
time.sleep(2.2)
can_log = os.path.join(state, "can.log")
lines = open(can_log).read().splitlines()
ka = [x for x in lines if " can0 305#0000000000000000" in x]
gid = [x for x in lines if " can0 307#1234567856494300" in x]
t.check(len(ka) >= 2 and len(gid) >= 2, f"0x305 and 0x307 in the candump log as on the bus ({len(ka)}, {len(gid)})")
p = subprocess.run([DECODE, can_log], capture_output=True, text=True, timeout=20)
t.check(p.returncode == 0 and '"name":"gx_inverter_id","fields":{"signature_ok":true' in p.stdout,
        "victron-can-decode reads the GX identification with its signature")
t.check(all(CANDUMP.match(x) for x in lines), "every line of the log is a candump -L line")

# ---- 2. energy on the battery's clock -------------------------------------------------------------
s0 = status(g)
time.sleep(12)
s1 = status(g)
net = (s1["energy"]["charged_wh"] - s1["energy"]["discharged_wh"]) - (s0["energy"]["charged_wh"] - s0["energy"]["discharged_wh"])
soc_wh = (s1["bms"]["soc_pct"] - s0["bms"]["soc_pct"]) / 100.0 * 280.0 * (s0["bms"]["pack_voltage_v"] + s1["bms"]["pack_voltage_v"]) / 2
ratio = net / soc_wh if abs(soc_wh) > 1e-6 else float("nan")
print(f"energy: {net:.1f} Wh counted, {soc_wh:.1f} Wh from the SOC change ({s0['bms']['soc_pct']} -> "
      f"{s1['bms']['soc_pct']} %), ratio {ratio:.2f}")
t.check(abs(soc_wh) > 5 and 0.6 < ratio < 1.6, f"the energy counters agree with the SOC (ratio {ratio:.2f}, wall-time "
        f"counters would give 0.03)")

# ---- 3. the simulated BMS across runs -----------------------------------------------------------------
sn1 = serial(g)
t.check(sn1 is not None and re.fullmatch(r"[0-9A-F]{24}", sn1), f"serial number {sn1}")
sess = login(g)
ov = setting(g, "over_voltage_cutoff")
target = 3650 if ov != 3650 else 3700
r = sess.put(g.base + "/api/bms/settings/over_voltage_cutoff", json={"value": target}, headers={"Origin": g.base},
             timeout=30)
t.check(r.status_code == 200 and r.json()["result"]["read_back"] == target, f"BMS setting written: {r.text[:200]}")
soc_before = status(g)["bms"]["soc_pct"]
g.stop_checked(t)
saved = open(os.path.join(state, "demo-bms.txt")).read()
t.check(re.search(r"^seed \d+$", saved, re.M) and f"reg 315 {target}\n" in saved,
        "demo-bms.txt holds the seed and the written setting")
g = tbtest.start_demo(state_dir=state)
sn2 = serial(g)
t.check(sn2 == sn1, f"the same serial number after a restart ({sn1} -> {sn2}), so the same MQTT device id")
t.check(tbtest.wait_for(lambda: setting(g, "over_voltage_cutoff") == target, 10),
        f"the written setting survives the restart ({setting(g, 'over_voltage_cutoff')}, want {target})")
soc_after = status(g)["bms"]["soc_pct"]
t.check(abs(soc_after - soc_before) < 2.0, f"the battery resumes at its state of charge ({soc_before} -> {soc_after} %)")
t.check("restored from demo-bms.txt" in g.log(), "the log says the battery was restored")
g.stop_checked(t)
# the daily energy is filed under the simulated battery's day, the clock its counters follow: a
# battery saved at 23:54 of day 20000 (2024-10-04) is on 2024-10-05 after 12 s (6 simulated minutes)
saved = open(os.path.join(state, "demo-bms.txt")).read()
t.check(re.search(r"^day \d+$", saved, re.M) is not None, "demo-bms.txt holds the simulated day")
with open(os.path.join(state, "demo-bms.txt"), "w") as f:
    f.write(re.sub(r"^hour .*$", "hour 23.9", re.sub(r"^day .*$", "day 20000", saved, flags=re.M), flags=re.M))
g = tbtest.start_demo(state_dir=state)
daily = lambda: requests.get(g.base + "/api/energy", timeout=5).json()["daily"]
t.check(daily()["date"] == "2024-10-04", f"the energy day is the simulated battery's ({daily()['date']})")
t.check(tbtest.wait_for(lambda: daily()["date"] == "2024-10-05", 30),
        f"a simulated midnight starts a new energy day ({[d['date'] for d in daily()['days']]})")
g.stop_checked(t)
t.check(re.search(r"^day 20001$", open(os.path.join(state, "demo-bms.txt")).read(), re.M) is not None,
        "the next simulated day is saved")
with open(os.path.join(state, "demo-bms.txt"), "w") as f:
    f.write("seed 12\nreg 315 banana\n")
g = tbtest.start_demo(state_dir=state)
t.check("demo-bms.txt: line 2 is not understood; starting a new simulated battery" in g.log(),
        "a damaged demo-bms.txt is reported and replaced")
t.check(serial(g) != sn1, "... by a new battery")
g.stop_checked(t)

# ---- 4. the CAN log is bounded ------------------------------------------------------------------------
state2 = tbtest.tmpdir("tb-demo-rot-")
path = os.path.join(state2, "bus.log")
g = tbtest.start_demo(state_dir=state2, args=("--can", f"log:{path}@4k"))
t.check(tbtest.wait_for(lambda: os.path.exists(path + ".1") and os.path.getsize(path) > 1024, 20),
        "the log was rotated to PATH.1")
time.sleep(1)
for f in (path, path + ".1"):
    size = os.path.getsize(f)
    text = open(f).read()
    t.check(size <= 4096, f"{os.path.basename(f)} stays within 4 KiB ({size} bytes)")
    t.check(text.endswith("\n") and all(CANDUMP.match(x) for x in text.splitlines()), f"{os.path.basename(f)}: whole lines")
t.check("a new log begins" in g.log(), "the rotation is logged")
g.stop_checked(t)
rc = subprocess.run([tbtest.bin_path("tinybms-gateway"), "--demo", "--check-config", "--state-dir", state2, "--can",
                     f"log:{path}@lots"], capture_output=True, text=True, timeout=20)
t.check(rc.returncode == 2 and "the size after '@'" in rc.stderr, f"a bad size is refused: {rc.stderr.strip()!r}")

# ---- 5. make demo: options and a busy port ------------------------------------------------------------
hold = socket.socket()
hold.bind(("127.0.0.1", 0))
hold.listen(1)
port = hold.getsockname()[1]
state3 = tbtest.tmpdir("tb-demo-port-")
p = subprocess.run(["bash", os.path.join(SRC, "scripts", "demo.sh"), BUILD, "--http", f"127.0.0.1:{port}",
                    "--state-dir", state3], capture_output=True, text=True, timeout=20)
t.check(p.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in p.stderr
        and f"make demo PORT={port + 1}" in p.stderr, f"demo.sh on a busy port says what to do: {p.stderr.strip()!r}")
log_path = os.path.join(state3, "daemon.stderr")
proc = tbtest.spawn([tbtest.bin_path("tinybms-gateway"), "--demo", "--http", f"127.0.0.1:{port}", "--state-dir", state3],
                    stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
t.check(tbtest.wait_for(lambda: "make demo PORT=8081" in open(log_path).read(), 10),
        "the daemon in demo mode says what to do on a busy port")
proc.terminate()
out = proc.communicate(timeout=10)[0]
t.check("web UI is not available" in out and "web UI at" not in out, f"no 'web UI at' promise on stdout: {out.strip()!r}")
hold.close()
# options pass through demo.sh: --check-config (exits at once) with a state directory of our own
p = subprocess.run(["bash", os.path.join(SRC, "scripts", "demo.sh"), BUILD, "--check-config", "--state-dir", state3,
                    "--http", f"127.0.0.1:{tbtest.free_port()}"], capture_output=True, text=True, timeout=20)
t.check(p.returncode == 0 and "configuration OK" in p.stdout, f"demo.sh passes options to the gateway: {p.stdout!r}")
t.done()
