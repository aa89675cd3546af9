"""Rig for the firmware tests (tests/firmware/test_*.py, ctest fw-*): the ESP32-C3 image
(TB_FW_IMAGE, default build/firmware/esp32c3-qemu/flash.bin) in Espressif's QEMU through
scripts/firmware-qemu.sh, tinybms-sim on its UART1, its web server forwarded to a free loopback
port, every CAN frame it sends in an slcan log. Run with Debian's /usr/bin/python3.

Each test copies the image into its own temporary directory (QEMU writes NVS into it), so a test
never changes the build's image; booting the same copy again is a reboot that keeps what was
saved. Everything started here is cleaned up by PID (tests/integration/tbtest.py). On failure the
consoles of every boot are printed (their tail) and the directory is kept."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import tbtest  # noqa: E402

SKIP = 77
IMAGE = os.environ.get("TB_FW_IMAGE") or os.path.join(tbtest.SRC, "build", "firmware", "esp32c3-qemu", "flash.bin")
QEMU_SCRIPT = os.path.join(tbtest.SRC, "scripts", "firmware-qemu.sh")
# What a crash, an assertion or a watchdog leaves on the console of ESP-IDF 5.1.
CRASH = re.compile(r"Guru Meditation|abort\(\) was called|stack overflow|Stack canary|assert failed|"
                   r"Task watchdog got triggered|Backtrace:|Rebooting\.\.\.|CORRUPT HEAP|panic'ed")
SETUP_CODE = re.compile(r"setup code:\s*\n\s*\n\s*([0-9A-Z]{5}-[0-9A-Z]{5})")
BOOT_BANNER = "ESP-ROM:"


def free_udp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_qemu(programs=(), where=""):
    """Exit 77 (ctest SKIP_RETURN_CODE) with one line when the firmware cannot be run here, or when
    one of programs (host tools a test needs besides QEMU, found on PATH) is missing; where says
    how to get them."""
    missing = [v for v in ("ESP_QEMU", "ESP_QEMU_BIOS") if not os.environ.get(v)]
    if missing:
        print(f"skipped: {' and '.join(missing)} unset (source the ESP-IDF kit's env.sh; docs/porting.md)", flush=True)
        sys.exit(SKIP)
    if not os.path.isfile(IMAGE):
        print(f"skipped: no firmware image at {IMAGE} (make firmware-qemu)", flush=True)
        sys.exit(SKIP)
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed ({where})", flush=True)
        sys.exit(SKIP)


def ws_frame(data, opcode=0x1):
    """A masked client WebSocket frame (data: str or bytes; opcode 0x1 text, 0x2 binary, 0x9 ping)."""
    import struct
    data = data.encode() if isinstance(data, str) else data
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_handshake(sock, port):
    """The /ws upgrade on a connected socket, with the device's own Origin; True on 101 Switching
    Protocols (the reply header is read byte by byte: nothing of the first frame is taken)."""
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = sock.recv(1)
        if not c:
            return False
        head += c
    return head.startswith(b"HTTP/1.1 101")


def ws_read_frame(sock):
    """(opcode, payload) of the next server frame (unmasked); OSError when the connection ends."""
    import struct

    def exact(n):
        d = b""
        while len(d) < n:
            c = sock.recv(n - len(d))
            if not c:
                raise OSError("connection closed")
            d += c
        return d
    h = exact(2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", exact(8))[0]
    return h[0] & 0x0F, exact(n)


class CanLog:
    """Follows the slcan file QEMU writes (one "tIIIL<data>\\r" per frame the firmware sends) and
    stamps each frame with the host's monotonic time when it was read (polled every 20 ms)."""

    def __init__(self, path):
        self.path = path
        self.frames = []  # (monotonic s, id, bytes)
        self.bad = []     # lines that are not 11-bit data frames
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        buf = b""
        f = None
        while not self._stop.is_set():
            if f is None:
                try:
                    f = open(self.path, "rb")
                except FileNotFoundError:
                    time.sleep(0.02)
                    continue
            chunk = f.read()
            if chunk:
                now = time.monotonic()
                buf += chunk
                *lines, buf = buf.split(b"\r")
                parsed = []
                for line in lines:
                    line = line.strip(b"\n")
                    m = re.fullmatch(rb"t([0-7][0-9A-Fa-f]{2})([0-8])([0-9A-Fa-f]*)", line)
                    if m and len(m.group(3)) == 2 * int(m.group(2)):
                        parsed.append((now, int(m.group(1), 16), bytes.fromhex(m.group(3).decode())))
                    elif line:
                        self.bad.append(line)
                with self.lock:
                    self.frames.extend(parsed)
            else:
                time.sleep(0.02)
        if f:
            f.close()

    def since(self, t0=0.0, fid=None):
        with self.lock:
            return [x for x in self.frames if x[0] >= t0 and (fid is None or x[1] == fid)]

    def last(self, fid, t0=0.0):
        fr = self.since(t0, fid)
        return fr[-1] if fr else None

    def stop(self):
        self._stop.set()
        self._t.join(timeout=2)


class Boot:
    """One run of QEMU on the rig's image: its console, HTTP port and CAN log."""

    def __init__(self, rig, n):
        self.rig = rig
        self.n = n
        self.port = tbtest.free_port()
        self.mdns_port = free_udp_port()  # the firmware's mDNS port 5353, for a unicast query
        self.base = f"http://127.0.0.1:{self.port}"
        self.console_path = os.path.join(rig.dir, f"console-{n}.log")
        self.can_path = os.path.join(rig.dir, f"can-{n}.slcan")
        self.t_start = time.monotonic()
        self._log = open(self.console_path, "wb")
        self.proc = tbtest.spawn([QEMU_SCRIPT, "--bms", rig.pty, "--http-port", str(self.port), "--image", rig.image,
                                  "--can-log", self.can_path, "--mdns-port", str(self.mdns_port)], stdin=subprocess.DEVNULL, stdout=self._log,
                                 stderr=subprocess.STDOUT)
        self.can = CanLog(self.can_path)
        self.stopped = False  # by stop(); QEMU gone without it = killed or crashed
        self.death = None     # died() as stop() found it

    def died(self):
        """None while QEMU runs or after stop(); else why it ended (its status and, when a signal
        ended it, QEMU's own line naming the sender: another program on the machine may kill it)."""
        if self.stopped or self.proc.poll() is None:
            return None
        m = re.search(r"terminating on signal \d+ from pid \d+ \([^)]*\)", self.console())
        return f"QEMU ended before the test stopped it (status {self.proc.returncode})" + (f" ({m.group(0)})" if m else "")

    def console(self):
        with open(self.console_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace").replace("\r\n", "\n")

    def crash_lines(self):
        """Console lines that show a crash, and more than one boot banner (an unwanted reset)."""
        text = self.console()
        bad = [line for line in text.splitlines() if CRASH.search(line)]
        if text.count(BOOT_BANNER) > 1:
            bad.append(f"{text.count(BOOT_BANNER)} boot banners ({BOOT_BANNER}): the chip reset")
        return bad

    def setup_code(self):
        m = SETUP_CODE.search(self.console())
        return m.group(1) if m else None

    def get(self, path, timeout=3.0):
        """(status, parsed JSON or text) of GET path, or (None, why)."""
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        except Exception as e:  # connection refused/reset while the guest boots
            return None, str(e)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def status(self):
        st, doc = self.get("/api/status")
        return doc if st == 200 and isinstance(doc, dict) else None

    def wait_ready(self, timeout=40.0):
        """Until GET /api/status shows valid BMS data and limits (the battery path runs and the web
        answers through QEMU's forwarded port). Returns that status or None (the console is kept)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                print(f"QEMU exited with status {self.proc.returncode}", flush=True)
                return None
            st = self.status()
            if st and st.get("bms", {}).get("valid") and st.get("limits", {}).get("valid"):
                self.ready_s = time.monotonic() - self.t_start
                return st
            time.sleep(0.2)
        return None

    def wait_console(self, pattern, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.console())
            if m:
                return m
            time.sleep(0.1)
        return None

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM to QEMU (firmware-qemu.sh execs it, so the PID is QEMU's): it flushes the flash
        image and exits. Returns its exit status."""
        self.can.stop()
        self.death = self.died()
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL to QEMU: the guest ends at once, as on a power cut, but its TCP connections are
        sockets of QEMU's slirp on the host, so their peers see them close at once, without a
        goodbye (an MQTT broker gets no DISCONNECT and publishes the will); a board that loses power
        is noticed when the keep-alive runs out. Returns the exit status (-9)."""
        return self.stop(signal.SIGKILL)


class Session:
    """requests.Session on a boot's web server; changes carry the gateway's own Origin, as the
    web UI's do (docs/api.md)."""

    def __init__(self, base):
        import requests  # Debian python3-requests
        self.base = base
        self.s = requests.Session()

    def req(self, method, path, body=None, timeout=15):
        h = {"Origin": self.base} if method in ("POST", "PUT", "PATCH", "DELETE") else {}
        data = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        return self.s.request(method, self.base + path, data=data, headers=h, timeout=timeout)


PASSWORD = "fw-test-admin-passphrase"


def admin(rig, b, password=PASSWORD, timeout=15):
    """The admin session on boot b: the password set with the setup code the console printed
    (first start), or a login with it (later boots); timeout s for each answer. Returns a
    Session, or None (checks failed)."""
    C = rig.C
    s = Session(b.base)
    code = b.setup_code()
    if code:
        r = s.req("POST", "/api/auth/setup", {"code": code, "password": password}, timeout=timeout)
        ok = C.check(r.status_code == 200, f"boot {b.n}: POST /api/auth/setup with the console's code: {r.status_code} "
                                           f"{r.text[:200]}")
    else:
        r = s.req("POST", "/api/auth/login", {"password": password}, timeout=timeout)
        ok = C.check(r.status_code == 200, f"boot {b.n}: POST /api/auth/login: {r.status_code} {r.text[:200]}")
    if not ok:
        return None
    C.check(s.s.cookies.get("tbgw_session") is not None, f"boot {b.n}: the session cookie is set")
    st = s.req("GET", "/api/auth", timeout=timeout).json()
    C.check(st.get("logged_in") is True and st.get("setup_required") is False,
            f"boot {b.n}: GET /api/auth says logged in, set-up done: {st}")
    return s


def put_config(rig, s, body, what, timeout=15):
    """PUT /api/config; returns the answer's JSON when it was accepted."""
    r = s.req("PUT", "/api/config", body, timeout=timeout)
    ok = rig.C.check(r.status_code == 200, f"{what}: PUT /api/config {json.dumps(body)}: {r.status_code} {r.text[:300]}")
    return r.json() if ok else None


class Rig:
    """A test's device: its own copy of the image and a simulator on a pty."""

    def __init__(self, name, *sim_args):
        require_qemu()
        self.C = tbtest.Checker(name)
        self.t0 = time.monotonic()
        self.dir = tbtest.tmpdir(f"tb-fw-{name}-")
        self.image = os.path.join(self.dir, "flash.bin")
        shutil.copyfile(IMAGE, self.image)
        self.sim, self.pty, self.ctl = tbtest.start_sim(self.dir, *sim_args)
        self.boots = []

    def boot(self, timeout=40.0):
        """Starts QEMU and waits until the gateway serves valid data. Returns (Boot, status); the
        check fails (and status is None) when it does not come up."""
        b = Boot(self, len(self.boots) + 1)
        self.boots.append(b)
        st = b.wait_ready(timeout)
        self.C.check(st is not None, f"boot {b.n}: /api/status with valid BMS data and limits within {timeout:.0f} s")
        if st is not None:
            print(f"boot {b.n}: serving valid data {b.ready_s:.1f} s after QEMU started", flush=True)
        return b, st

    def check_no_crash(self, b):
        bad = b.crash_lines()
        self.C.check(not bad, f"boot {b.n}: no crash, assertion or reset on the console: {bad[:5]}")

    def done(self):
        for b in self.boots:
            why = b.death or b.died()
            if why:
                self.C.check(False, f"boot {b.n}: {why}")
            if b.proc.poll() is None:
                b.stop()
        if self.C.failures:
            for b in self.boots:
                lines = b.console().splitlines()
                print(f"---- console of boot {b.n} (last 80 of {len(lines)} lines; whole: {b.console_path}) ----")
                print("\n".join(lines[-80:]))
            print("----", flush=True)
        print(f"{self.C.name}: {time.monotonic() - self.t0:.1f} s", flush=True)
        self.C.done()


def run(main, rig_factory):
    """Runs main(rig) with the rig's cleanup guaranteed and an exception counted as a failure."""
    rig = rig_factory()
    try:
        main(rig)
    except Exception as e:  # a broken firmware may answer anything: report it, keep the console
        import traceback
        traceback.print_exc()
        rig.C.check(False, f"exception: {e!r}")
    finally:
        try:
            rig.done()
        finally:
            tbtest.cleanup()
