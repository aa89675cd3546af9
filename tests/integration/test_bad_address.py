#!/usr/bin/python3
"""A bad or unusable web address never takes the battery side down.

(a) Every malformed gateway.http (port 99999, port 0, no port, only a host, only a port, trailing
    text, an IPv6 address without brackets) is refused with the key named: by --check-config
    (file and --http), and by PUT /api/config (400, field gateway.http, nothing saved).
(b) A well-formed address that cannot be bound - a port already taken by this test, an address
    that is not on this host (192.0.2.1, TEST-NET-1: binding fails with EADDRNOTAVAIL, nothing is
    sent) - does not stop the daemon: with the simulator on the BMS link and a log: CAN port, 0x351
    keeps going out, the failure is logged, and once the taken port is freed the web comes up by
    itself (retry) and reports the failures in GET /api/status and /metrics. An unreachable MQTT
    broker in the same run is retried too, without any effect on CAN.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests  # Debian python3-requests

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

t = tbtest.Checker("bad-address")
GW = tbtest.bin_path("tinybms-gateway")
tmp = tbtest.tmpdir("tb-addr-")
PASSWORD = "Addr-Test-Pw-8812"

BAD = [
    ("127.0.0.1:99999", "out of range"),
    ("127.0.0.1:0", "port 0"),
    ("abc", "port is missing"),
    ("127.0.0.1", "port is missing"),
    ("8080", "only a port"),
    (":8080", "host is missing"),
    ("127.0.0.1:8080x", "after the port"),
    ("0.0.0.0:8080 junk", "after the port"),
    ("::1:8080", "brackets"),
    ("[::1]:70000", "out of range"),
    ("300.1.2.3:8080", "IPv4"),
]


def run(*args, timeout=20):
    p = subprocess.run([GW, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- (a) --check-config -----------------------------------------------------------------------
cfg = os.path.join(tmp, "bad.json")
for addr, why in BAD:
    with open(cfg, "w") as f:
        json.dump({"gateway": {"http": addr}}, f)
    rc, out, err = run("--config", cfg, "--check-config", "--state-dir", tmp)
    t.check(rc == 2, f"--check-config refuses gateway.http {addr!r} (exit {rc})")
    t.check("gateway.http" in err and why in err and "not started" in err,
            f"the message names the key and says {why!r}: {err.strip()!r}")
    rc, out, err = run("--http", addr, "--check-config", "--state-dir", tmp)
    t.check(rc == 2 and "gateway.http" in err and why in err, f"--http {addr!r} refused: {err.strip()!r}")
rc, out, err = run("--http", "127.0.0.1:8080", "--check-config", "--state-dir", tmp)
t.check(rc == 0, f"a good address passes ({err.strip()!r})")

# ---- (a) PUT /api/config ------------------------------------------------------------------------
gw = tbtest.start_demo(config={"charge": {"ccl_max_a": 90}})
cl = requests.Session()
h = {"Origin": gw.base}
r = cl.post(gw.base + "/api/auth/setup", data=json.dumps({"code": gw.setup_code(), "password": PASSWORD}),
            headers=h, timeout=30)
t.check(r.status_code == 200, f"admin set up ({r.status_code} {r.text[:100]})")
cfg_file = os.path.join(gw.state_dir, "config.json")
saved = open(cfg_file).read()
http_before = cl.get(gw.base + "/api/config", timeout=5).json()["gateway"]["http"]
for addr, why in BAD:
    r = cl.put(gw.base + "/api/config", data=json.dumps({"gateway": {"http": addr}}), headers=h, timeout=30)
    body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
    t.check(r.status_code == 400 and body.get("field") == "gateway.http" and why in body.get("reason", ""),
            f"PUT gateway.http {addr!r}: 400 naming the key ({r.status_code} {r.text[:200]})")
t.check(open(cfg_file).read() == saved, "nothing was saved")
t.check(cl.get(gw.base + "/api/config", timeout=5).json()["gateway"]["http"] == http_before,
        "the running configuration is unchanged")
r = cl.put(gw.base + "/api/config", data=json.dumps({"mqtt": {"host": "broker:1883"}}), headers=h, timeout=30)
t.check(r.status_code == 400 and r.json().get("field") == "mqtt.host", f"PUT mqtt.host with a port: 400 ({r.text[:200]})")
gw.stop_checked(t)


# ---- (b) the address cannot be bound: the battery side runs on ---------------------------------
def frames_351(canlog, since):
    return [f for f in tbtest.read_candump(canlog, since) if f[1] == 0x351]


def run_unbindable(name, http, free=None):
    """Start the daemon on the simulator with gateway.http = http; check that CAN runs while the
    web cannot listen. free: a socket holding the port, closed midway (the web must then come up)."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    sim, pty, ctl = tbtest.start_sim(d, "--cells", "16", "--capacity", "200", "--soc", "60", "--seed", "3")
    canlog = os.path.join(d, "can.log")
    conf = os.path.join(d, "gw.json")
    with open(conf, "w") as f:
        # an MQTT broker that is not there: retried in its own thread, never in the way of CAN
        json.dump({"mqtt": {"enabled": True, "host": "127.0.0.1", "port": tbtest.free_port()}}, f)
    log_path = os.path.join(d, "gateway.log")
    # the service manager's view: sd_notify datagrams, as systemd would show them in `systemctl status`
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(d, "notify.sock"))
    notify.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(d, "notify.sock"))
    p = tbtest.spawn([GW, "--serial", pty, "--can", f"log:{canlog}", "--state-dir", d, "--config", conf,
                      "--http", http], stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=env)
    statuses = []

    def drain():
        while True:
            try:
                statuses.extend(l for l in notify.recv(4096).decode(errors="replace").splitlines()
                                if l.startswith("STATUS="))
            except BlockingIOError:
                return

    def log():
        return open(log_path, errors="replace").read()

    t.check(tbtest.wait_for(lambda: frames_351(canlog, 0), 15) is not None, f"{name}: 0x351 on the bus")
    t0 = time.time()
    time.sleep(4.0)
    t.check(p.poll() is None, f"{name}: the daemon keeps running ({p.poll()}): {log()[-600:]}")
    recent = frames_351(canlog, t0)
    t.check(len(recent) >= 2, f"{name}: 0x351 keeps going out while the web is down ({len(recent)} in 4 s)")
    t.check(tbtest.largest_gap([f[0] for f in recent]) is not None and tbtest.largest_gap([f[0] for f in recent]) < 3.0,
            f"{name}: no 0x351 gap of 3 s (the GX's limit)")
    text = log()
    t.check(f"cannot serve the web UI and API on {http}" in text and "runs on" in text,
            f"{name}: the failure is logged: {[l for l in text.splitlines() if 'web' in l][:3]}")
    t.check(tbtest.wait_for(lambda: any(" mqtt: " in l and "retrying" in l for l in log().splitlines()), 15),
            f"{name}: the absent broker is retried")
    t.check(tbtest.wait_for(lambda: drain() or any(f"web UI DOWN on {http}" in x for x in statuses), 12),
            f"{name}: the systemd STATUS line says the web is down: {statuses[-1:]}")
    if free is not None:
        t.check("Address already in use" in text, f"{name}: the log gives the reason (Address already in use)")
        free.close()
        st = tbtest.status_wait(http, lambda s: s["web"]["listening"], 20)
        t.check(st is not None, f"{name}: once the port is free the web comes up by itself: {log()[-400:]}")
        if st:
            t.check(st["web"]["bind_failures"] >= 1 and "Address already in use" in st["web"]["error"],
                    f"{name}: /api/status keeps the failures on record: {st['web']}")
            m = requests.get(f"http://{http}/metrics", timeout=5).text
            t.check("tinybms_web_listening 1" in m and "tinybms_web_bind_failures_total" in m,
                    f"{name}: /metrics has the web state")
        t.check("after" in log() and "failed attempt" in log(), f"{name}: the recovery is logged")
        t2 = time.time()
        time.sleep(1.5)
        t.check(len(frames_351(canlog, t2)) >= 1, f"{name}: CAN still going after the web came up")
    else:
        t.check("Cannot assign requested address" in text, f"{name}: the log gives the reason (EADDRNOTAVAIL)")
        t.check(tbtest.status_json(http, timeout=0.5) is None, f"{name}: nothing answers on {http}")
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    t.check(rc == 0, f"{name}: clean exit while the web is retrying or up (exit {rc})")
    text = log()
    t.check("Sanitizer" not in text and "runtime error:" not in text, f"{name}: no sanitizer finding")
    sim.kill()
    sim.wait()
    ctl.close()
    notify.close()


busy = socket.socket()
busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
busy.bind(("127.0.0.1", 0))
busy.listen(1)
run_unbindable("port-taken", f"127.0.0.1:{busy.getsockname()[1]}", free=busy)
run_unbindable("not-on-this-host", "192.0.2.1:8080")

t.done()
