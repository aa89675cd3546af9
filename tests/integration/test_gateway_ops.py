"""The daemon as an installer meets it: configuration errors that name the key, the value and the
allowed range (and refuse to start); --print-default-config round-trips; an atomic save survives
kill -9 at any instant; SIGHUP reloads (a bad file changes nothing); energy counters survive a
restart. Runs the daemon in --demo mode (in-process simulator, CAN frames to a candump log)."""
import os
import random
import re
import signal
import subprocess
import time

import tbtest

t = tbtest.Checker("gateway-ops")
GW = tbtest.bin_path("tinybms-gateway")
tmp = tbtest.tmpdir("tb-ops-")


def run(*args, timeout=20):
    p = subprocess.run([GW, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ---- configuration errors -----------------------------------------------------------------
cfg = os.path.join(tmp, "bad.json")
cases = [
    ('{"link": {"live_period_ms": 5}}', "link.live_period_ms = 5 is out of range: allowed 50..10000 ms"),
    ('{"charge": {"cell_bulk_v": 4.2}}', "charge.cell_bulk_v = 4.2 is out of range"),
    ('{"link": {"no_such_key": 1}}', "unknown key 'link.no_such_key'"),
    ('{"gateway": {"log_level": "loud"}}', 'gateway.log_level = "loud" is not one of: error, warn, info, debug'),
    ('{"can": {"manufacturer": "BYD"}}', "can.manufacturer"),
    ('{\n  "link": {\n    "live_period_ms": 100,\n  }\n}\n', "JSON syntax error near line 4"),
    ('{"link": {"live_period_ms": "fast"}}', "link.live_period_ms must be a number in ms, got a string"),
]
for text, want in cases:
    write(cfg, text)
    rc, out, err = run("--config", cfg, "--check-config")
    t.check(rc == 2, f"bad config refused (exit 2): {text.strip()[:40]!r} -> {rc}")
    t.check(want in err, f"message names the problem: want {want!r}, got {err.strip()!r}")
    t.check("not started" in err, "says it did not start")
rc, out, err = run("--config", os.path.join(tmp, "missing.json"), "--check-config")
t.check(rc == 2 and "missing.json" in err, f"missing --config file named ({err.strip()!r})")
# no file at the default place: say that the defaults are used, never "configuration OK (PATH)"
empty = tbtest.tmpdir("tb-ops-empty-")
rc, out, err = run("--check-config", "--state-dir", empty)
t.check(rc == 0 and f"{empty}/config.json does not exist" in out and "built-in defaults" in out
        and f"OK ({empty}" not in out, f"--check-config without a file says the defaults are used ({out.strip()!r})")
write(os.path.join(empty, "config.json"), "{}\n")
rc, out, err = run("--check-config", "--state-dir", empty)
t.check(rc == 0 and out.strip() == f"configuration OK ({empty}/config.json)", f"--check-config with a file ({out.strip()!r})")
rc, out, err = run("--serial", "", "--check-config")
t.check(rc == 2 and "--serial" in err, f"empty override refused ({err.strip()!r})")
rc, out, err = run("--log-level", "loud", "--check-config", "--state-dir", tmp)
t.check(rc == 2 and "gateway.log_level" in err, f"bad override named ({err.strip()!r})")
rc, out, err = run("--bogus")
t.check(rc == 2 and "unknown option '--bogus'" in err, "unknown option")

# --print-default-config: complete, documented, and loads back as is
rc, out, err = run("--print-default-config")
t.check(rc == 0 and "// Period of the live-data read" in out and '"cell_bulk_v": 3.45' in out,
        "--print-default-config prints documented defaults")
write(os.path.join(tmp, "default.json"), out)
rc, o2, err = run("--config", os.path.join(tmp, "default.json"), "--check-config")
t.check(rc == 0, f"the printed default loads back ({err.strip()!r})")
rc, out, err = run("--help")
t.check(rc == 0 and all(o in out for o in ("--config", "--demo", "--serial", "--can", "--http", "--state-dir")),
        "--help lists the options")

# ---- atomic save: kill -9 in the middle of a save loop ------------------------------------
LOOP = os.path.join(os.path.dirname(tbtest.bin_path("tinybms-gateway")), "..", "tests", "save_loop")
target = os.path.join(tmp, "saved.json")
versions = set()
rng = random.Random(42)
bad = 0
for i in range(25):
    p = subprocess.Popen([LOOP, target], stdout=subprocess.PIPE)
    tbtest.readline(p.stdout, 10)
    time.sleep(rng.uniform(0.0, 0.05))
    p.kill()
    p.wait()
    for path in (target, target + ".bak"):
        data = open(path, "rb").read()
        rc, _, err = run("--config", path, "--check-config")
        if rc != 0:
            bad += 1
            print(f"after kill #{i}: {path} is not a complete config: {err.strip()}")
        versions.add(b"/dev/ttyAMA0" in data)
    leftovers = [f for f in os.listdir(tmp) if ".tmp." in f]
    for f in leftovers:
        os.unlink(os.path.join(tmp, f))  # a killed save may leave its temporary file; never the target
t.check(bad == 0, f"after 25 kill -9 during saves, the file and its backup were always complete ({bad} bad)")
t.check(versions == {True, False}, "both versions were observed (the kill really hit the loop)")

# ---- SIGHUP reload -------------------------------------------------------------------------
state = os.path.join(tmp, "state")
os.makedirs(state)
conf = os.path.join(tmp, "gw.json")
write(conf, '{"charge": {"ccl_max_a": 100}}')
log_path = os.path.join(tmp, "hup.log")
gw = tbtest.start_gateway(["--demo", "--config", conf, "--state-dir", state, "--http",
                           f"127.0.0.1:{tbtest.free_port()}"], log_path)
canlog = os.path.join(state, "can.log")


def last_ccl():
    try:
        lines = [l for l in open(canlog) if " 351#" in l]
    except FileNotFoundError:
        return None
    if not lines:
        return None
    d = bytes.fromhex(lines[-1].split("#")[1].strip())
    return int.from_bytes(d[2:4], "little", signed=True) / 10.0


t.check(tbtest.wait_for(lambda: last_ccl() is not None, 10) is not None, "demo sends 0x351")
time.sleep(1.0)
before = last_ccl()
write(conf, '// lowered for the test\n{"charge": {"ccl_max_a": 20}}')
gw.send_signal(signal.SIGHUP)
got = tbtest.wait_for(lambda: (lambda c: c is not None and c <= 20.0)(last_ccl()), 10)
t.check(got, f"after SIGHUP the bus carries CCL <= 20 A (before {before}, now {last_ccl()})")
write(conf, '{"charge": {"ccl_max_a": 5000}}')  # out of range: refused, nothing applied
gw.send_signal(signal.SIGHUP)
time.sleep(1.5)
t.check(last_ccl() <= 20.0, "a bad file on SIGHUP changes nothing")
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "clean exit")
log = open(log_path, errors="replace").read()
t.check("charge.ccl_max_a: 100 -> 20" in log, "the reload logs what changed")
t.check("refused" in log and "charge.ccl_max_a = 5000 is out of range" in log, "the bad reload is logged with the reason")

# ---- energy counters survive a restart ----------------------------------------------------
m = re.search(r"energy counters saved \(([\d.]+) Wh in, ([\d.]+) Wh out\)", log)
t.check(m is not None, "energy counters saved at SIGTERM")
write(conf, '{"charge": {"ccl_max_a": 20}}')  # the bad file would (rightly) refuse to start
log2 = os.path.join(tmp, "restart.log")
gw = tbtest.start_gateway(["--demo", "--config", conf, "--state-dir", state, "--http",
                           f"127.0.0.1:{tbtest.free_port()}"], log2)
restored = tbtest.wait_for(lambda: re.search(r"restored: ([\d.]+) Wh charged, ([\d.]+) Wh discharged",
                                             open(log2, errors="replace").read()), 10)
t.check(restored is not None, "counters restored at start")
if m and restored:
    # both lines print one decimal of a value stored in whole mWh: 1.1504 Wh is saved as 1150 mWh,
    # printed "1.2" on the way out and "1.1" on the way back; equal within that printing
    t.check(all(abs(float(restored.group(i)) - float(m.group(i))) <= 0.1 + 1e-9 for i in (1, 2)),
            f"restored values equal the saved ones within the 0.1 Wh printed ({m.groups()} -> {restored.groups()})")
    print(f"energy counters across a restart: {m.group(1)} Wh in, {m.group(2)} Wh out")
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "clean exit after restart")
t.done()
