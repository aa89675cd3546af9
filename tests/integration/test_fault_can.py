"""Fault tests on the CAN side: the real daemon against tinybms-sim over a pty.

  1. slcan adapter lost: --can slcan:PATH where PATH is one end of a socat pty pair with a stable
     name; socat is killed (both ptys vanish) and started again under the same names. Expect: the
     loss logged, the port reopened with backoff (100 ms doubling, at most 5 s), 0x351 back at
     <= 1 s cadence with fresh values, and the BMS side untouched (no stale data, no link down).
  2. log back-end whose directory does not exist at start: the daemon starts anyway (BMS side up),
     logs the error, and the frames appear once the directory is created, at <= 1 s cadence.
  3. log back-end on a full file system (a small tmpfs, when this machine lets the test mount
     one): writes fail with ENOSPC and are logged (rate-limited); the daemon keeps running; once
     space is freed the frames flow again.
Each step also reads the CAN counters through the web API (GET /api/status "can": port open or
its error, frames sent, TX errors, frames refused by the TX guard) and the BMS side's (link up,
data fresh): a lost port shows as port_open false with the reason and the frames it could not
take counted as TX errors, frames are counted again once it is back, no frame is ever refused by
the TX guard, and the BMS side stays up.
Throughout: the daemon never exits; at the end SIGTERM gives exit status 0."""
import os
import re
import shutil
import signal
import subprocess
import time

import tbtest

t = tbtest.Checker("fault-can")
tmp = tbtest.tmpdir("tb-fault-can-")


def text(path):
    return open(path, errors="replace").read()


def gateway(args, name):
    global http
    log = os.path.join(tmp, name + ".log")
    http = f"127.0.0.1:{tbtest.free_port()}"
    return tbtest.start_gateway([*args, "--http", http], log), log


def status(what):
    st = tbtest.status_json(http)
    t.check(st is not None, f"{what}: GET /api/status answers")
    st = st or {"link": {}, "limits": {}, "can": {}}
    print(f"{what}: can {st['can']}")
    return st


def bms_side_ok(st, what):
    t.check(st["link"].get("up") is True and st["limits"].get("data") == "fresh",
            f"{what}: the BMS side is up and fresh in the status ({st['link'].get('up')}, {st['limits'].get('data')})")


sim, pty, ctl = tbtest.start_sim(tmp, "--cells", "16", "--capacity", "200", "--soc", "60", "--seed", "8",
                                 "--current", "-10")

# ---- 1. slcan pty pair killed and made again ------------------------------------------------
sdir = os.path.join(tmp, "s1")
os.makedirs(sdir)
socat, gw_end, gx_end = tbtest.socat_pair(sdir)
gw, log1 = gateway(["--serial", pty, "--can", f"slcan:{gw_end}", "--state-dir", sdir], "slcan")
rd = tbtest.SlcanReader(gx_end)


def collect(reader, seconds):
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += reader.frames(0.05)
    return out


got = collect(rd, 3)
ts = [f[0] for f in got if f[1] == 0x351]
t.check(len(ts) >= 2 and tbtest.largest_gap(ts) <= 1.05, f"slcan: 0x351 at <= 1 s cadence before the fault ({len(ts)})")
sa = status("slcan before the fault")
t.check(sa["can"].get("port_open") is True and sa["can"].get("tx_frames", 0) > 0 and sa["can"].get("tx_errors") == 0
        and sa["can"].get("refused") == 0, "slcan before the fault: port open, frames counted, no error, none refused")
rd.close()
socat.kill()
socat.wait()
# the device node goes away, as udev removes /dev/ttyACM0: a killed socat leaves its links, and
# the freed /dev/pts/N behind them is soon reused by another program's pty (a test running beside
# this one), which the gateway would then "reopen" (seen under TSan with 4 tests at once)
for link in (gw_end, gx_end):
    if os.path.lexists(link):
        os.unlink(link)
t_lost = time.time()
t.check(tbtest.wait_for(lambda: re.search(r"can: .*CAN port lost", text(log1)), 5) is not None,
        "the lost CAN adapter is logged")
time.sleep(2.0)
t.check(gw.poll() is None, "the daemon runs on without its CAN adapter")
sb = status("slcan adapter lost")
t.check(sb["can"].get("port_open") is False and sb["can"].get("port_error"),
        f"slcan lost: status says the port is closed, with the reason ({sb['can'].get('port_error')!r})")
t.check(sb["can"].get("tx_errors", 0) > 0, f"slcan lost: the frames it could not send are counted as TX errors "
        f"({sb['can'].get('tx_errors')})")
bms_side_ok(sb, "slcan lost")
socat, gw_end, gx_end = tbtest.socat_pair(sdir)
t_back = time.time()
rd = tbtest.SlcanReader(gx_end)
first = None
end = time.monotonic() + 8
while time.monotonic() < end and first is None:
    for f in rd.frames(0.05):
        if f[1] == 0x351:
            first = time.time()
t.check(first is not None and first - t_back <= 5.5, f"0x351 back within the 5 s backoff ({(first or 0) - t_back:.2f} s)")
got = collect(rd, 3)
ts = [f[0] for f in got if f[1] == 0x351]
t.check(len(ts) >= 2 and tbtest.largest_gap(ts) <= 1.05, f"slcan: 0x351 at <= 1 s cadence after the reopen ({len(ts)})")
tr = ctl.truth()
d356 = [f[2] for f in got if f[1] == 0x356]
t.check(d356 and abs(tbtest.le16(d356[-1], 0) / 100.0 - tr["pack_v"]) <= 0.05, "fresh pack voltage after the reopen")
log = text(log1)
t.check(re.search(r"can: CAN port .* open again", log) is not None, "the reopen is logged")
t.check("fresh -> stale" not in log and "link down" not in log, "the BMS side was not disturbed")
sc = status("slcan back")
t.check(sc["can"].get("port_open") is True and sc["can"].get("tx_frames", 0) > sb["can"].get("tx_frames", 0),
        f"slcan back: port open, frames counted again ({sb['can'].get('tx_frames')} -> {sc['can'].get('tx_frames')})")
time.sleep(1.0)
sd = status("slcan back, a second later")
t.check(sd["can"].get("tx_errors") == sc["can"].get("tx_errors") and sd["can"].get("refused") == 0,
        f"slcan back: no new TX error, none refused ({sc['can'].get('tx_errors')} -> {sd['can'].get('tx_errors')})")
bms_side_ok(sd, "slcan back")
rd.close()
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "slcan: SIGTERM exit status 0")
print(f"slcan adapter lost at {t_lost:.1f}, back {first - t_back if first else None} s after it reappeared")

# ---- 2. log directory missing at start --------------------------------------------------------
ldir = os.path.join(tmp, "later")
canlog = os.path.join(ldir, "can.log")
gw, log2 = gateway(["--serial", pty, "--can", f"log:{canlog}", "--state-dir", os.path.join(tmp, "s2")], "logdir")
# (waits rather than sleeps: the sanitizer builds start several times slower)
t.check(tbtest.wait_for(lambda: gw.poll() is not None or "link up" in text(log2), 15) and gw.poll() is None,
        "the daemon starts without its CAN log directory")
t.check(re.search(r"can: .*No such file or directory \(retrying\)", text(log2)) is not None,
        "the CAN port error is logged at start")
t.check("link up" in text(log2), "the BMS side is up meanwhile")
tbtest.wait_for(lambda: ((tbtest.status_json(http) or {}).get("limits") or {}).get("data") == "fresh", 15)
se = status("log directory missing")
t.check(se["can"].get("port_open") is False and "No such file" in (se["can"].get("port_error") or ""),
        f"log directory missing: status says the port is closed and why ({se['can'].get('port_error')!r})")
t.check(se["can"].get("tx_frames") == 0, "log directory missing: no frame counted as sent")
bms_side_ok(se, "log directory missing")
os.makedirs(ldir)
t_mk = time.time()
t.check(tbtest.wait_for(lambda: tbtest.read_candump(canlog), 7) is not None,
        f"frames in the log once the directory exists ({time.time() - t_mk:.1f} s)")
time.sleep(3)
ts = [f[0] for f in tbtest.read_candump(canlog) if f[1] == 0x351]
t.check(len(ts) >= 3 and tbtest.largest_gap(ts) <= 1.05, f"log: 0x351 at <= 1 s cadence ({len(ts)} frames)")
sf = status("log directory created")
t.check(sf["can"].get("port_open") is True and sf["can"].get("tx_frames", 0) > 0 and sf["can"].get("refused") == 0,
        "log directory created: port open, frames counted, none refused")
gw.send_signal(signal.SIGTERM)
t.check(gw.wait(timeout=10) == 0, "log: SIGTERM exit status 0")

# ---- 3. log on a full file system -------------------------------------------------------------
mnt = os.path.join(tmp, "small")
os.makedirs(mnt)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
                         capture_output=True).returncode == 0
if not mounted:
    print("SKIP: cannot mount a small tmpfs here (needs root in a mount namespace that allows it)")
else:
    try:
        canlog = os.path.join(mnt, "can.log")
        gw, log3 = gateway(["--serial", pty, "--can", f"log:{canlog}", "--state-dir", os.path.join(tmp, "s3")],
                           "full")
        t.check(tbtest.wait_for(lambda: tbtest.read_candump(canlog), 5) is not None, "full fs: frames logged at first")
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        t_full = time.time()
        t.check(tbtest.wait_for(lambda: re.search(r"can: .*No space left on device", text(log3)), 5) is not None,
                "the failing writes are logged (No space left on device)")
        time.sleep(2)
        t.check(gw.poll() is None, "the daemon runs on with a full disk")
        n_warn = len(re.findall(r"No space left on device", text(log3)))
        t.check(n_warn <= 6, f"the write errors are rate-limited in the log ({n_warn} lines in 2 s)")
        sg = status("full fs")
        time.sleep(0.5)
        sh = status("full fs, half a second later")
        t.check(sh["can"].get("tx_errors", 0) > sg["can"].get("tx_errors", 0) > 0,
                f"full fs: the failing writes are counted as TX errors ({sg['can'].get('tx_errors')} -> "
                f"{sh['can'].get('tx_errors')})")
        bms_side_ok(sh, "full fs")
        os.unlink(filler)
        t_free = time.time()
        t.check(tbtest.wait_for(lambda: tbtest.read_candump(canlog, t_free), 5) is not None,
                "frames logged again once space is freed")
        time.sleep(2.2)
        ts = [f[0] for f in tbtest.read_candump(canlog, t_free) if f[1] == 0x351]
        t.check(len(ts) >= 2 and tbtest.largest_gap(ts) <= 1.05, f"full fs: 0x351 at <= 1 s cadence after ({len(ts)})")
        t.check("fresh -> stale" not in text(log3), "the BMS side was not disturbed by the full disk")
        si = status("full fs, space freed")
        time.sleep(0.5)
        sj = status("full fs, space freed, half a second later")
        t.check(sj["can"].get("tx_frames", 0) > si["can"].get("tx_frames", 0) > sh["can"].get("tx_frames", 0)
                and sj["can"].get("tx_errors") == si["can"].get("tx_errors") and sj["can"].get("refused") == 0,
                "full fs, space freed: frames counted again, no new TX error, none refused")
        gw.send_signal(signal.SIGTERM)
        t.check(gw.wait(timeout=10) == 0, "full fs: SIGTERM exit status 0")
        print(f"log on a full tmpfs: errors from {t_full:.1f}, recovered after space was freed")
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)

ctl.close()
t.done()
