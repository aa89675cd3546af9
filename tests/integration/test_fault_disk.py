"""Disk full while saving the configuration: a change must be refused with a clear error, nothing
applied, the old file (and its backup) intact, no temporary file left behind; once there is space
again the same change is saved and applied, the previous file kept as the backup.

Run through the gateway's saving path in a small helper (tests/integration/fault_save.c:
gateway_command -> gw_config_apply_json -> save_config -> file_save_atomic) with two ways to fill
the disk: a small tmpfs filled up (ENOSPC), when this machine lets the test mount one, and a
file-size limit (prlimit --fsize: EFBIG) everywhere. Then the same through the running daemon's
web API, where users change the configuration: PUT /api/config with the configuration file on a
full tmpfs answers 500 with the reason, GET /api/config still shows the old value, the files are
untouched, and with space again the same PUT is saved.

Then the daemon's other writes on a full disk: at SIGTERM the energy counters cannot be saved
and the last line says so with the OS's reason (it used to say "energy counters saved"); the
candump file of a log: CAN port on a full file system keeps whole lines only, the port reports
"No space left on device" while it lasts and is healthy again (GET /api/status, /metrics) once
space is freed (it used to keep the error for good and leave a torn line)."""
import json
import os
import re
import shutil
import subprocess
import time

import tbtest

t = tbtest.Checker("fault-disk")
tmp = tbtest.tmpdir("tb-fault-disk-")
HELPER = os.path.join(os.path.dirname(tbtest.bin_path("tinybms-gateway")), "..", "tests", "fault_save")
INITIAL = '{"charge": {"ccl_max_a": 100}, "link": {"live_period_ms": 200}}\n'


def save(path, change, prefix=()):
    p = subprocess.run([*prefix, HELPER, path, change], capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 0, f"helper ran ({p.stderr.strip()})")
    return json.loads(p.stdout) if p.returncode == 0 else {}


def snapshot(d):
    """Every file in d with its content (the filler excluded)."""
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if f != "filler"}


def fill(d):
    fd = os.open(os.path.join(d, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 512) > 0:
            pass
    except OSError:
        pass
    os.close(fd)


def scenario(name, d, prefix, want_err, free):
    cfg = os.path.join(d, "config.json")
    with open(cfg, "w") as f:
        f.write(INITIAL)
    r = save(cfg, '{"charge": {"ccl_max_a": 90}}')       # a first good save: config.json + .bak
    t.check(r.get("rc") == 0, f"{name}: a save with space left works ({r})")
    before = snapshot(d)
    if not prefix:
        fill(d)
    r = save(cfg, '{"charge": {"ccl_max_a": 77}}', prefix)
    print(f"{name}: {r.get('message')}")
    t.check(r.get("rc", 0) < 0 and r.get("status") == 500, f"{name}: the change is refused (rc {r.get('rc')}, "
            f"status {r.get('status')})")
    msg = r.get("message", "")
    t.check(want_err in msg and "nothing was changed" in msg, f"{name}: the message says why: {msg!r}")
    t.check(r.get("ccl_max_a") == 90.0, f"{name}: the running configuration is unchanged ({r.get('ccl_max_a')})")
    t.check(r.get("config_version") == 1, f"{name}: no new configuration version ({r.get('config_version')})")
    after = snapshot(d)
    t.check(after == before, f"{name}: config.json and its backup are byte for byte what they were, no temporary "
            f"file left ({sorted(after)} vs {sorted(before)})")
    rc, out, err = (lambda p: (p.returncode, p.stdout, p.stderr))(subprocess.run(
        [tbtest.bin_path("tinybms-gateway"), "--config", cfg, "--check-config"], capture_output=True, text=True))
    t.check(rc == 0, f"{name}: the file on disk still loads ({err.strip()})")
    free()
    r = save(cfg, '{"charge": {"ccl_max_a": 77}}')
    t.check(r.get("rc") == 0 and r.get("ccl_max_a") == 77.0, f"{name}: with space again the change is saved ({r})")
    t.check(b'"ccl_max_a": 77' in open(cfg, "rb").read(), f"{name}: the new value is in the file")
    t.check(open(cfg + ".bak", "rb").read() == before["config.json"], f"{name}: the previous file is the backup")


# ---- a file-size limit (works anywhere) --------------------------------------------------------
d1 = os.path.join(tmp, "fsize")
os.makedirs(d1)
if shutil.which("prlimit"):
    scenario("file-size limit", d1, ["prlimit", "--fsize=1024"], "File too large", lambda: None)
else:
    print("SKIP: prlimit not installed (util-linux)")

# ---- a full tmpfs ------------------------------------------------------------------------------
d2 = os.path.join(tmp, "tmpfs")
os.makedirs(d2)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d2], capture_output=True).returncode == 0:
    try:
        scenario("full tmpfs", d2, [], "No space left on device", lambda: os.unlink(os.path.join(d2, "filler")))
    finally:
        subprocess.run(["umount", "-l", d2], capture_output=True)
else:
    print("SKIP: cannot mount a small tmpfs here; the file-size limit case covers the same path")


# ---- the daemon's web API, configuration file on a full tmpfs ----------------------------------
def api_scenario(d):
    import requests  # Debian python3-requests
    cfg = os.path.join(d, "config.json")
    with open(cfg, "w") as f:
        f.write(INITIAL)
    gw = tbtest.start_demo(args=("--config", cfg))
    s = requests.Session()
    hdr = {"Origin": gw.base}
    r = s.post(gw.base + "/api/auth/setup", json={"code": gw.setup_code(), "password": "Disk-Full-Test-Pw-1"},
               headers=hdr, timeout=30)
    t.check(r.status_code == 200, f"API: admin set up ({r.status_code} {r.text[:100]})")

    def put(ccl):
        return s.put(gw.base + "/api/config", json={"charge": {"ccl_max_a": ccl}}, headers=hdr, timeout=30)

    def running():
        return s.get(gw.base + "/api/config", timeout=10).json()["charge"]["ccl_max_a"]

    r = put(90)
    t.check(r.status_code == 200 and running() == 90, f"API: a change with space left is saved ({r.status_code})")
    before = snapshot(d)
    fill(d)
    r = put(77)
    print(f"API on a full disk: {r.status_code} {r.text[:200]}")
    t.check(r.status_code == 500 and "No space left on device" in r.text and "nothing was changed" in r.text,
            f"API: PUT /api/config on a full disk answers 500 with the reason ({r.status_code})")
    t.check(running() == 90, f"API: the running configuration is unchanged ({running()})")
    t.check(snapshot(d) == before, "API: config.json and its backup untouched, no temporary file left")
    t.check(gw.proc.poll() is None and tbtest.status_json(gw.base[len("http://"):]) is not None,
            "API: the daemon runs on and serves its status")
    os.unlink(os.path.join(d, "filler"))
    r = put(77)
    t.check(r.status_code == 200 and running() == 77, f"API: with space again the change is saved ({r.status_code})")
    t.check(b'"ccl_max_a": 77' in open(cfg, "rb").read() and open(cfg + ".bak", "rb").read() == before["config.json"],
            "API: the new value in the file, the previous file as its backup")
    t.check(gw.stop() == 0, "API: the daemon stops cleanly")
    rep = gw.sanitizer_report()
    t.check(rep is None, f"API: no sanitizer finding ({rep})")


d3 = os.path.join(tmp, "tmpfs-api")
os.makedirs(d3)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d3], capture_output=True).returncode == 0:
    try:
        api_scenario(d3)
    finally:
        subprocess.run(["umount", "-l", d3], capture_output=True)
else:
    print("SKIP: cannot mount a small tmpfs here (the web API case needs a full file system)")


# ---- the daemon on a full disk: energy counters at SIGTERM, the log: CAN port ----------------
def start_daemon(state, log_path, *extra):
    """The demo daemon, its log outside the (full) file systems."""
    port = tbtest.free_port()
    with open(log_path, "w") as log:
        p = tbtest.spawn([tbtest.bin_path("tinybms-gateway"), "--demo", "--http", f"127.0.0.1:{port}",
                          "--state-dir", state, *extra], stdout=log, stderr=subprocess.STDOUT, cwd=state)
    g = tbtest.DemoGateway(p, f"http://127.0.0.1:{port}", state, log_path)
    g.wait_ready(timeout=20)
    return g


def metric(g, name):
    import urllib.request
    with urllib.request.urlopen(g.base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^tinybms_" + name + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def energy_scenario(d):
    """State directory on a tmpfs that is full at SIGTERM: no "saved" claim, the reason logged."""
    log_path = os.path.join(tmp, "energy-full.log")
    gw = start_daemon(d, log_path, "--can", "log:" + os.path.join(tmp, "energy-can.log"))
    time.sleep(1.0)
    fill(d)
    t.check(gw.stop() == 0, "energy: the daemon stops (exit 0) on a full disk")
    log = gw.log()
    last = [line for line in log.splitlines() if "stopped" in line]
    print("energy at SIGTERM on a full disk: " + (last[-1] if last else "(no stop line)"))
    t.check("energy counters saved" not in log, "energy: no \"energy counters saved\" when the save failed")
    t.check(re.search(r"ERROR gateway: stopped: energy counters NOT saved: cannot write .*energy\.tmp\.\d+: "
                      r"No space left on device", log),
            "energy: an error line says the counters were not saved, with the OS's reason")
    t.check(not [f for f in os.listdir(d) if ".tmp." in f], "energy: no temporary file left behind")
    rep = gw.sanitizer_report()
    t.check(rep is None, f"energy: no sanitizer finding ({rep})")


def can_log_scenario(d):
    """A log: CAN port on a tmpfs that fills up and is freed again."""
    canlog = os.path.join(d, "can.log")
    state = tbtest.tmpdir("tb-fault-disk-state-")
    gw = start_daemon(state, os.path.join(tmp, "can-full.log"), "--can", "log:" + canlog)
    http = gw.base[len("http://"):]
    t.check(tbtest.status_wait(http, lambda s: s["can"]["tx_frames"] > 0 and s["can"]["port_error"] == "", 10),
            "CAN log: frames are written, no error")
    fill(d)
    st = tbtest.status_wait(http, lambda s: "No space left on device" in s["can"]["port_error"], 60)
    t.check(st is not None, "CAN log: on a full disk the port reports \"No space left on device\"")
    print(f"CAN log on a full disk: port_error {st and st['can']['port_error']!r}")
    t.check(metric(gw, "can_port_error") == 1, "CAN log: /metrics can_port_error 1 while the disk is full")
    os.unlink(os.path.join(d, "filler"))
    st = tbtest.status_wait(http, lambda s: s["can"]["port_error"] == "", 30)
    t.check(st is not None, "CAN log: space freed: the error clears once a frame is written")
    t.check(metric(gw, "can_port_error") == 0, "CAN log: /metrics can_port_error back to 0")
    t.check(tbtest.wait_for(lambda: "sends again" in gw.log(), 10), "CAN log: the recovery is logged")
    gw.stop_checked(t)
    data = open(canlog, "rb").read()
    t.check(data.endswith(b"\n"), "CAN log: the file ends with a whole line")
    p = subprocess.run([tbtest.bin_path("victron-can-decode"), canlog], capture_output=True, text=True, timeout=60)
    summary = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    print("victron-can-decode on the CAN log: " + summary)
    t.check(p.returncode == 0 and re.search(r"\d+ frames, 0 unparsable lines", summary),
            f"CAN log: every line of the candump file parses, no torn line ({summary!r})")


for name, scenario_fn in (("energy", energy_scenario), ("can-log", can_log_scenario)):
    dd = os.path.join(tmp, "tmpfs-" + name)
    os.makedirs(dd)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dd], capture_output=True).returncode == 0:
        try:
            scenario_fn(dd)
        finally:
            subprocess.run(["umount", "-l", dd], capture_output=True)
    else:
        print(f"SKIP: cannot mount a small tmpfs here (the {name} case needs a full file system)")
t.done()

