#!/usr/bin/python3
"""MQTT over TLS with a CA file and a user name/password, against a real mosquitto.

A throw-away CA and a server certificate for 127.0.0.1 are made with the openssl tool; the
broker gets a TLS listener that requires a password (mosquitto_passwd) next to a plain loopback
listener on which the independent client (mosquitto_sub) watches. The gateway:
  - with a wrong password is refused (and says so in its log), never connected;
  - with the wrong CA refuses the broker's certificate;
  - once the configuration is corrected (SIGHUP: a connection setting changed, so it reconnects)
    connects over TLS and publishes its availability and state.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("mqtt_tls")
DEV = "tlstest"
BASE = f"tinybms/{DEV}"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}", cwd=d)


def wait_log(gw, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in gw.log_text():
            return True
        time.sleep(0.1)
    return False


certs = tbtest.tmpdir("tb-tls-")
os.chmod(certs, 0o755)  # a broker started as root reads them as user mosquitto
make_ca(certs, "ca")
make_ca(certs, "other-ca")
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=certs)
with open(os.path.join(certs, "san.ext"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt", cwd=certs)
subprocess.run(["mosquitto_passwd", "-b", "-c", os.path.join(certs, "passwd"), "gateway", "s3cret"], check=True)
for fn in os.listdir(certs):
    os.chmod(os.path.join(certs, fn), 0o644)

tls_port = tbtest.free_port()
broker = tbtest.Broker(extra=f"listener {tls_port} 127.0.0.1\ncafile {certs}/ca.crt\ncertfile {certs}/server.crt\n"
                             f"keyfile {certs}/server.key\nallow_anonymous false\npassword_file {certs}/passwd\n")


def cfg(password="s3cret", ca="ca.crt"):
    return {"gateway": {"device_id": DEV},
            "mqtt": {"enabled": True, "host": "127.0.0.1", "port": tls_port, "tls": True,
                     "ca_file": os.path.join(certs, ca), "username": "gateway", "password": password,
                     "state_interval_s": 2, "keepalive_s": 5}}


try:
    broker.start()
    sub = tbtest.Subscriber(broker.port)
    gw = tbtest.Gateway(cfg(password="wrong")).start()
    C.check(wait_log(gw, "refused by the broker", 15), "wrong password: refused")
    C.check(sub.wait_for(lambda m: m[1] == f"{BASE}/availability", 1) is None, "not connected with a wrong password")
    C.check("s3cret" not in gw.log_text() and "wrong" not in gw.log_text(), "the password is never logged")

    gw.reload(cfg(ca="other-ca.crt"))
    C.check(wait_log(gw, "TLS", 15), "wrong CA: the broker's certificate is refused")
    C.check(sub.wait_for(lambda m: m[1] == f"{BASE}/availability", 1) is None, "not connected with a wrong CA")

    t0 = time.monotonic()
    gw.reload(cfg())
    m = sub.wait_for(lambda m: m[1] == f"{BASE}/availability" and m[3] == "online", 70)
    C.check(m is not None, "connected over TLS with the right CA and password")
    if m:
        print(f"TLS: online {m[0] - t0:.2f} s after the configuration was corrected (back-off included)")
    m = sub.wait_for(lambda m: m[1] == f"{BASE}/state", 10)
    C.check(m is not None and "bms" in json.loads(m[3]), "state published over TLS")
    log = gw.log_text()
    C.check("(TLS)" in log, "the log says the connection uses TLS")
    for line in log.splitlines():
        if " mqtt: " in line:
            print("  log:", line.split(" mqtt: ", 1)[1])
    sub.close()
    gw.proc.terminate()
    C.check(gw.proc.wait(timeout=10) == 0, "orderly exit status 0")
    rep = gw.sanitizer_report()
    C.check(rep is None, f"sanitizer report: {rep}")
except BaseException:
    tbtest.cleanup()
    raise
C.done()
