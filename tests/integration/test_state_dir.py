"""The state directory after a power cut, a full disk or a bad edit: the daemon starts from the
last good configuration file, says so, and never quietly on the built-in defaults.

- config.json missing, config.json.bak valid: starts with the backup's values, an error line in the
  log, config_source "backup" and a config_warning in GET /api/status; the next saved change
  writes config.json, keeps the good backup, and clears the warning.
- config.json corrupt (cut short), config.json.bak valid: the same; the unreadable file never
  becomes the backup.
- both unreadable: not started (exit 2), the message names both files and the way out.
- --check-config and SIGHUP look at config.json only: a missing or corrupt one is refused even
  when the backup would do.
- leftovers of interrupted saves (NAME.tmp.PID of a dead process: configuration, its backup,
  energy counters, web credentials) are removed at start, each with a log line.
On the code before this test, the first case started on the defaults without a word and the
second refused to start."""
import json
import os
import re
import signal
import subprocess

import tbtest

t = tbtest.Checker("state-dir")
GW = tbtest.bin_path("tinybms-gateway")
tmp = tbtest.tmpdir("tb-state-dir-")
GOOD_OLD = '{"charge": {"ccl_max_a": 70}}\n'     # the backup: the previous good version
GOOD_NEW = '{"charge": {"ccl_max_a": 90}}\n'
TORN = '{"charge": {"ccl_max_a": 9'             # a save cut short by a power cut on a careless file system
DEAD = "999999999"                              # above any pid_max: no such process


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def start(state, name, *extra):
    """The demo daemon on its own port with STATE as state directory; the log outside it."""
    log_path = os.path.join(tmp, name + ".log")
    port = tbtest.free_port()
    with open(log_path, "w") as log:
        p = tbtest.spawn([GW, "--demo", "--http", f"127.0.0.1:{port}", "--state-dir", state, *extra],
                         stdout=log, stderr=subprocess.STDOUT, cwd=state)
    g = tbtest.DemoGateway(p, f"http://127.0.0.1:{port}", state, log_path)
    g.wait_ready(timeout=20)
    return g


def state_dir(name, config=None, backup=None):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    if config is not None:
        write(os.path.join(d, "config.json"), config)
    if backup is not None:
        write(os.path.join(d, "config.json.bak"), backup)
    return d


def put_config(g, ccl):
    import requests  # Debian python3-requests
    s = requests.Session()
    hdr = {"Origin": g.base}
    r = s.post(g.base + "/api/auth/setup", json={"code": g.setup_code(), "password": "State-Dir-Test-Pw-1"},
               headers=hdr, timeout=30)
    t.check(r.status_code == 200, f"admin set up ({r.status_code} {r.text[:100]})")
    return s.put(g.base + "/api/config", json={"charge": {"ccl_max_a": ccl}}, headers=hdr, timeout=30)


def from_backup(name, config, want_problem):
    d = state_dir(name, config=config, backup=GOOD_OLD)
    cfg, bak = os.path.join(d, "config.json"), os.path.join(d, "config.json.bak")
    g = start(d, name)
    http = g.base[len("http://"):]
    st = tbtest.status_json(http)
    t.check(st is not None and st.get("config_source") == "backup",
            f"{name}: GET /api/status says config_source backup ({st and st.get('config_source')})")
    warn = (st or {}).get("config_warning") or ""
    print(f"{name}: config_warning: {warn}")
    t.check(want_problem in warn and "started from " + bak in warn,
            f"{name}: config_warning names the problem and the backup ({warn!r})")
    import requests
    ccl = requests.get(g.base + "/api/config", timeout=10).json()["charge"]["ccl_max_a"]
    t.check(ccl == 70, f"{name}: the running configuration is the backup's (ccl_max_a {ccl}, defaults would be 100+)")
    log = g.log()
    t.check(re.search(r"ERROR config: .*" + re.escape(want_problem), log) and
            re.search(r"ERROR config: started from .*config\.json\.bak, the last good configuration", log),
            f"{name}: error lines in the log say what happened")
    # a change saved through the API writes config.json; the good backup is not replaced by the bad file
    r = put_config(g, 90)
    t.check(r.status_code == 200, f"{name}: a change is saved ({r.status_code} {r.text[:100]})")
    t.check('"ccl_max_a": 90' in read(cfg), f"{name}: config.json holds the running configuration again")
    t.check(read(bak) == GOOD_OLD, f"{name}: config.json.bak is still the last good file")
    st = tbtest.status_wait(http, lambda s: s.get("config_source") == "file", 5)
    t.check(st is not None and st.get("config_warning") is None,
            f"{name}: after the save config_source is file and the warning is gone")
    g.stop_checked(t)


# ---- config.json missing / corrupt, config.json.bak valid ------------------------------------
from_backup("missing", None, "config.json is missing")
from_backup("corrupt", TORN, "config.json: JSON syntax error")
from_backup("empty", "", "config.json: JSON syntax error")

# ---- nothing valid: a clear refusal, no start on the defaults --------------------------------
for name, config, backup in (("both-corrupt", TORN, '{"charge": {"ccl_max_a": 90000}}'),
                             ("only-a-bad-backup", None, TORN),
                             ("bad-file-no-backup", TORN, None)):
    d = state_dir(name, config=config, backup=backup)
    p = subprocess.run([GW, "--demo", "--http", f"127.0.0.1:{tbtest.free_port()}", "--state-dir", d],
                       capture_output=True, text=True, timeout=30)
    print(f"{name}: exit {p.returncode}: {p.stderr.strip()}")
    t.check(p.returncode == 2 and "not started" in p.stderr, f"{name}: refused to start (exit {p.returncode})")
    t.check("config.json" in p.stderr and "config.json.bak" in p.stderr, f"{name}: the message names both files")
    t.check("move " in p.stderr and "aside" in p.stderr, f"{name}: the message says how to start on the defaults")

# ---- --check-config and SIGHUP use config.json only --------------------------------------------
d = state_dir("check", config=None, backup=GOOD_OLD)
p = subprocess.run([GW, "--state-dir", d, "--check-config"], capture_output=True, text=True, timeout=30)
t.check(p.returncode == 2 and "config.json is missing" in p.stderr and "a start would use the backup" in p.stderr,
        f"--check-config: a missing config.json with a backup is reported ({p.returncode}: {p.stderr.strip()!r})")
write(os.path.join(d, "config.json"), TORN)
p = subprocess.run([GW, "--state-dir", d, "--check-config"], capture_output=True, text=True, timeout=30)
t.check(p.returncode == 2 and "JSON syntax error" in p.stderr, "--check-config: a corrupt config.json is refused")
d = state_dir("nothing-saved")
p = subprocess.run([GW, "--state-dir", d, "--check-config"], capture_output=True, text=True, timeout=30)
t.check(p.returncode == 0 and "built-in defaults" in p.stdout, f"--check-config: nothing saved means the defaults "
        f"({p.stdout.strip()!r})")

d = state_dir("hup", config=GOOD_NEW, backup=GOOD_OLD)
g = start(d, "hup")
os.unlink(os.path.join(d, "config.json"))
g.proc.send_signal(signal.SIGHUP)
t.check(tbtest.wait_for(lambda: "SIGHUP: reload refused" in g.log(), 10), "SIGHUP with config.json gone: refused")
import requests
t.check(requests.get(g.base + "/api/config", timeout=10).json()["charge"]["ccl_max_a"] == 90,
        "SIGHUP with config.json gone: the running configuration is unchanged (not the defaults)")
g.stop_checked(t)

# ---- leftovers of interrupted saves ------------------------------------------------------------
d = state_dir("orphans", config=GOOD_NEW)
orphans = ["config.json.tmp." + DEAD, "config.json.bak.tmp." + DEAD, "energy.tmp." + DEAD,
           "web-admin.json.tmp." + DEAD]
for o in orphans:
    write(os.path.join(d, o), "half a save")
write(os.path.join(d, "notes.tmp"), "not ours")
g = start(d, "orphans")
left = [o for o in orphans if os.path.exists(os.path.join(d, o))]
t.check(not left, f"orphaned temporary files removed at start (left: {left})")
t.check(os.path.exists(os.path.join(d, "notes.tmp")), "other files are left alone")
log = g.log()
t.check(all(re.search(r"WARN\s+storage: removed .*" + re.escape(o), log) for o in orphans),
        "each removal is logged")
st = tbtest.status_json(g.base[len("http://"):])
t.check(st and st.get("config_source") == "file" and st.get("config_warning") is None,
        "a normal start: config_source file, no warning")
g.stop_checked(t)

# a configuration file outside the state directory: its own leftovers are removed too
cdir = os.path.join(tmp, "etc")
os.makedirs(cdir)
write(os.path.join(cdir, "gw.json"), GOOD_NEW)
write(os.path.join(cdir, "gw.json.tmp." + DEAD), "half")
write(os.path.join(cdir, "other.json.tmp." + DEAD), "someone else's")
d = state_dir("outside")
g = start(d, "outside", "--config", os.path.join(cdir, "gw.json"))
t.check(not os.path.exists(os.path.join(cdir, "gw.json.tmp." + DEAD)), "--config FILE: FILE.tmp.PID removed")
t.check(os.path.exists(os.path.join(cdir, "other.json.tmp." + DEAD)), "--config FILE: other files there left alone")
g.stop_checked(t)
t.done()
