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
