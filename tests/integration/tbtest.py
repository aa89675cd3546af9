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
        """The first AddressSanitizer/LeakSanitizer/UBSan report in the log, or None."""
        text = self.log_text()
        m = re.search(r"(ERROR: (Address|Leak)Sanitizer|runtime error:).*", text)
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
