"""Helpers shared by the integration tests (run with Debian's /usr/bin/python3).

Everything started here runs on loopback or ptys and is cleaned up by PID."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("TB_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin")
SRC = os.environ.get("TB_SRC_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")

_children = []
_tmpdirs = []


def screenshot(driver, path):
    """A browser test's screenshot for docs/img: the page as a user finds it, without the transient
    toast ("Configuration saved") that a test's own earlier action left showing."""
    driver.execute_script("var t = document.getElementById('toast'); if (t) t.hidden = true;")
    driver.save_screenshot(path)


def tmpdir(prefix="tb-"):
    """A temporary directory removed when the test ends (Checker.done)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def bin_path(name):
    p = os.path.join(BIN, name)
    if not os.path.exists(p):
        raise SystemExit(f"missing binary {p} (build first)")
    return p


def spawn(args, **kw):
    """Start a child that is killed (by PID) when the test exits."""
    p = subprocess.Popen(args, **kw)
    _children.append(p)
    return p


def cleanup():
    for p in reversed(_children):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=3)
            except Exception:
                p.kill()
                p.wait()
    _children.clear()


def pty_pair():
    """A linked pair of ptys made by socat: returns (path_a, path_b)."""
    log = tempfile.TemporaryFile(mode="w+")
    p = spawn(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], stderr=log)
    deadline = time.time() + 5
    while time.time() < deadline:
        log.seek(0)
        paths = re.findall(r"PTY is (/dev/pts/\d+)", log.read())
        if len(paths) == 2:
            time.sleep(0.05)
            return paths[0], paths[1]
        time.sleep(0.02)
    raise RuntimeError("socat did not create a pty pair")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Checker:
    """Counts failures instead of stopping at the first, prints a summary, sets the exit code."""

    def __init__(self, name):
        self.name = name
        self.failures = 0
        self.checks = 0

    def check(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures += 1
            print(f"FAIL: {what}", flush=True)
        return cond

    def close(self, want, got, what, tol):
        ok = got is not None and abs(got - want) <= tol
        return self.check(ok, f"{what}: want {want} +/- {tol}, got {got}")

    def done(self):
        cleanup()
        import shutil
        for d in _tmpdirs:
            if self.failures:
                print(f"kept for inspection: {d}", flush=True)
            else:
                shutil.rmtree(d, ignore_errors=True)
        print(f"{self.name}: {self.checks - self.failures}/{self.checks} checks passed", flush=True)
        sys.exit(1 if self.failures else 0)


def readline(stream, timeout=5.0):
    """One line from a child's pipe, with a deadline (None on timeout or EOF)."""
    import select
    end = time.time() + timeout
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        ch = os.read(fd, 1)
        if not ch:
            return None
        buf += ch
    return buf.decode().rstrip("\n")


class SimControl:
    """The simulator's unix-socket control channel (tinybms-sim --control PATH): one command,
    one line back."""

    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        end = time.time() + timeout
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rb")

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        ans = self.f.readline().decode().rstrip("\n")
        if ans.startswith("error"):
            raise RuntimeError(f"simulator control {line!r} -> {ans}")
        return ans

    def truth(self):
        import json
        return json.loads(self.cmd("truth"))

    def close(self):
        self.f.close()
        self.s.close()


def start_sim(tmpdir, *args):
    """tinybms-sim --pty with a control socket; returns (process, pty path, SimControl)."""
    sock = os.path.join(tmpdir, "sim.sock")
    p = spawn([bin_path("tinybms-sim"), "--pty", "--no-stdin", "--control", sock, *args],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    path = readline(p.stdout, 10)
    if not path or not path.startswith("/dev/"):
        raise RuntimeError(f"tinybms-sim did not print its pty path (got {path!r})")
    return p, path, SimControl(sock)


def start_gateway(args, log_path):
    """tinybms-gateway with stderr to a file; returns the process."""
    log = open(log_path, "wb")
    return spawn([bin_path("tinybms-gateway"), *args], stdout=log, stderr=subprocess.STDOUT)


def wait_for(pred, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def rejected_counts(metrics_text):
    """tinybms_http_rejected_total of a /metrics text, by reason."""
    return {k: int(v) for k, v in re.findall(r'tinybms_http_rejected_total\{reason="(\w+)"\} (\d+)', metrics_text)}


# ---- MQTT: a real broker and an independent client (Debian mosquitto, mosquitto-clients) ----

import json as _json
import shutil as _shutil
import threading as _threading


class Broker:
    """A Debian mosquitto on a loopback port with its own temporary configuration.

    extra: more configuration lines (e.g. a TLS listener). Stop/start keep the port, so a
    gateway sees "the same broker restarted" (persistence is off: retained messages are lost)."""

    def __init__(self, port=None, extra=""):
        if not _shutil.which("mosquitto"):
            raise SystemExit("mosquitto not installed (scripts/deps.sh test)")
        self.port = port or free_port()
        self.dir = tmpdir("tb-broker-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"per_listener_settings true\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence false\n{extra}\n")
        self.log = open(os.path.join(self.dir, "broker.log"), "a")
        self.proc = None

    def start(self, wait=5.0):
        self.proc = spawn(["mosquitto", "-c", self.conf], stdout=self.log, stderr=self.log)
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port} (see {self.dir}/broker.log)")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)


class Subscriber:
    """mosquitto_sub on the broker, every message kept as (monotonic time, topic, retain, payload).

    payload is the text, or None for an empty message (a removed retained topic)."""

    def __init__(self, port, topics=("#",), args=()):
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-F", "%j", "-q", "1"] + list(args)
        for t in topics:
            cmd += ["-t", t]
        self.proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.msgs = []
        self.lock = _threading.Lock()
        self.changed = _threading.Condition(self.lock)
        self.thread = _threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                j = _json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.msgs.append((time.monotonic(), j["topic"], bool(j["retain"]), j["payload"]))
                self.changed.notify_all()

    def snapshot(self, since=0):
        with self.lock:
            return list(self.msgs[since:])

    def count(self):
        with self.lock:
            return len(self.msgs)

    def wait_for(self, pred, timeout, since=0):
        """First message m (from index `since`) with pred(m) true, or None after timeout s."""
        deadline = time.monotonic() + timeout
        with self.lock:
            i = since
            while True:
                while i < len(self.msgs):
                    if pred(self.msgs[i]):
                        return self.msgs[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:  # e.g. still waiting for a CONNACK from a busy broker
                self.proc.kill()
                self.proc.wait()


def retained(port, topic_filter, settle=1.0):
    """What the broker holds retained under topic_filter: {topic: payload} (a fresh client)."""
    s = Subscriber(port, (topic_filter,))
    time.sleep(settle)
    s.close()
    return {t: p for (_, t, r, p) in s.snapshot() if r}


def mqtt_publish(port, topic, payload, retain=False):
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1"]
    cmd += ["-n"] if payload is None else ["-m", payload]
    if retain:
        cmd.append("-r")
    subprocess.run(cmd, check=True, timeout=10)


class Gateway:
    """tinybms-gateway --demo with its own state directory, configuration file and HTTP port."""

    def __init__(self, config, state_dir=None, http_port=None):
        self.dir = state_dir or tmpdir("tb-gw-")
        self.http_port = http_port or free_port()
        self.config_path = os.path.join(self.dir, "test-config.json")
        self.write_config(config)
        self.log_path = os.path.join(self.dir, "gateway.log")
        self.proc = None

    def write_config(self, config):
        with open(self.config_path, "w") as f:
            _json.dump(config, f)

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = spawn([bin_path("tinybms-gateway"), "--demo", "--http", f"127.0.0.1:{self.http_port}",
                           "--state-dir", self.dir, "--config", self.config_path],
                          stdout=self.log, stderr=self.log)
        return self

    def reload(self, config):
        """New configuration through SIGHUP (the file is re-read)."""
        self.write_config(config)
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def sanitizer_report(self):
        """The first AddressSanitizer/LeakSanitizer/ThreadSanitizer/UBSan report in the log, or None."""
        text = self.log_text()
        m = re.search(r"(ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:).*", text)
        return m.group(0) if m else None

    def can_times(self, can_id, since=0.0):
        """Wall-clock times of the frames with this id in the demo's candump log."""
        out = []
        try:
            with open(os.path.join(self.dir, "can.log")) as f:
                for line in f:
                    m = re.match(r"\((\d+\.\d+)\) \S+ ([0-9A-Fa-f]+)#", line)
                    if m and int(m.group(2), 16) == can_id and float(m.group(1)) >= since:
                        out.append(float(m.group(1)))
        except FileNotFoundError:
            pass
        return out


def max_gap(times, start, end):
    """Longest interval without a time in [start, end] (the window edges count)."""
    pts = [start] + [t for t in times if start <= t <= end] + [end]
    return max(b - a for a, b in zip(pts, pts[1:]))


# ---- helpers for the fault and soak tests (tests/integration/test_fault*.py, test_soak*.py) ----

def read_candump(path, since=0.0):
    """Frames in a candump -L log written by the gateway's log: back-end:
    [(wall time, id, bytes)] with time >= since."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"\((\d+\.\d+)\) \S+ ([0-9A-Fa-f]+)#([0-9A-Fa-f]*)", line)
                if m and float(m.group(1)) >= since:
                    out.append((float(m.group(1)), int(m.group(2), 16), bytes.fromhex(m.group(3))))
    except FileNotFoundError:
        pass
    return out


def le16(d, i, signed=False):
    return int.from_bytes(d[i:i + 2], "little", signed=signed)


def limits_351(d):
    """(CVL V, CCL A, DCL A) of a 0x351 payload."""
    return le16(d, 0) / 10.0, le16(d, 2, True) / 10.0, le16(d, 4, True) / 10.0


def largest_gap(times):
    """Longest interval between consecutive times (None for fewer than two)."""
    return max((b - a for a, b in zip(times, times[1:])), default=None)


def replace_symlink(link, target):
    """Point link at target atomically (a new link renamed over the old one)."""
    tmp = link + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


class SlcanReader:
    """Reads the slcan lines a gateway writes into one end of a pty pair (the other end is its
    --can slcan:PATH), without python-can, so that the pty may vanish and come back."""

    def __init__(self, path):
        import termios
        import tty
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)
        self.buf = b""

    def frames(self, timeout=0.05):
        """[(monotonic time, id, bytes)] read within timeout; [] if the pty is gone."""
        import select
        out = []
        try:
            r, _, _ = select.select([self.fd], [], [], timeout)
            if r:
                self.buf += os.read(self.fd, 4096)
        except OSError:
            return out
        now = time.monotonic()
        *lines, self.buf = self.buf.split(b"\r")
        for line in lines:
            line = line.strip(b"\x07\n")
            if line[:1] == b"t" and len(line) >= 5:
                try:
                    fid, dlc = int(line[1:4], 16), int(line[4:5], 16)
                    out.append((now, fid, bytes.fromhex(line[5:5 + 2 * dlc].decode())))
                except ValueError:
                    pass
        return out

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


def socat_pair(dir, a="can-gw", b="can-gx"):
    """A pty pair with stable names DIR/a and DIR/b (socat link=), so that it can be killed and
    made again under the same paths. Returns (process, path_a, path_b)."""
    pa, pb = os.path.join(dir, a), os.path.join(dir, b)
    p = spawn(["socat", f"pty,raw,echo=0,link={pa}", f"pty,raw,echo=0,link={pb}"], stderr=subprocess.DEVNULL)
    if not wait_for(lambda: os.path.exists(pa) and os.path.exists(pb), 5):
        raise RuntimeError("socat did not create its pty links")
    time.sleep(0.05)
    return p, pa, pb


def status_json(http, timeout=1.0):
    """GET /api/status from a gateway's web API, or None where the daemon does not serve HTTP
    (web work not merged) or does not answer."""
    import json
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{http}/api/status", timeout=timeout) as r:
            return json.loads(r.read())
    except Exception:
        return None


def status_wait(http, pred, timeout, step=0.1):
    """The first GET /api/status document (see status_json) for which pred(doc) is true, polled
    every step s for up to timeout s; None if none was."""
    end = time.time() + timeout
    while True:
        st = status_json(http)
        try:
            if st is not None and pred(st):
                return st
        except (KeyError, TypeError):
            pass
        if time.time() >= end:
            return None
        time.sleep(step)


def proc_status(pid):
    """VmRSS, VmHWM (kB) and utime+stime (s) of a process from /proc."""
    rss = hwm = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, hwm, cpu


def sanitized(pid):
    """True when the process runs with AddressSanitizer or ThreadSanitizer (build-asan,
    build-tsan): its RSS then includes ASan's quarantine of freed memory, or TSan's shadow and
    history, which grow with every allocation by design."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            m = f.read()
            return "libasan" in m or "libtsan" in m
    except OSError:
        return False


class DemoGateway:
    """tinybms-gateway --demo on a loopback port with its own state directory (see start_demo)."""

    def __init__(self, proc, base, state_dir, log_path):
        self.proc = proc
        self.base = base
        self.state_dir = state_dir
        self.log_path = log_path

    def log(self):
        """Everything the daemon wrote to stderr so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def setup_code(self):
        with open(os.path.join(self.state_dir, "web-setup-code")) as f:
            return f.read().strip()

    def wait_ready(self, timeout=10.0):
        """Until GET /api/status answers 200 with valid BMS data."""
        import urllib.request
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tinybms-gateway exited:\n" + self.log()[-2000:])
            try:
                with urllib.request.urlopen(self.base + "/api/status", timeout=1) as r:
                    if r.status == 200 and b'"bms":{"valid":true' in r.read():
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError("tinybms-gateway did not serve /api/status:\n" + self.log()[-2000:])

    def stop(self):
        """SIGTERM; returns the exit status (0 for a clean stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def sanitizer_report(self):
        """The first sanitizer finding in the log (ASan/UBSan/LSan/TSan builds), or None."""
        m = re.search(r"(ERROR: \w+Sanitizer.*|WARNING: ThreadSanitizer.*|runtime error:.*)", self.log())
        return m.group(1) if m else None

    def stop_checked(self, checker):
        """stop(), then check with `checker` (a Checker) that the exit was clean and the log holds
        no sanitizer finding."""
        rc = self.stop()
        checker.check(rc == 0, f"the daemon stops cleanly (exit {rc})")
        report = self.sanitizer_report()
        checker.check(report is None, f"no sanitizer finding: {report}")


def start_demo(config=None, args=(), state_dir=None):
    """Start the daemon in demo mode on 127.0.0.1:<free port> with a fresh state directory.

    config: optional dict written as STATE_DIR/config.json before the start. Returns a DemoGateway
    whose process is cleaned up (by PID) at exit like every spawn()."""
    import json
    state_dir = state_dir or tmpdir("tbgw-")
    if config is not None:
        with open(os.path.join(state_dir, "config.json"), "w") as f:
            json.dump(config, f)
    port = free_port()
    log_path = os.path.join(state_dir, "daemon.stderr")
    log = open(log_path, "w")
    p = spawn([bin_path("tinybms-gateway"), "--demo", "--http", f"127.0.0.1:{port}", "--state-dir", state_dir,
               *args], stdout=log, stderr=subprocess.STDOUT, cwd=state_dir)
    g = DemoGateway(p, f"http://127.0.0.1:{port}", state_dir, log_path)
    g.wait_ready()
    return g
