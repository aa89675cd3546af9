#!/usr/bin/python3
"""Figures of the ESP32-C3 firmware image, measured under QEMU (docs/performance.md "Firmware").

Boots build/firmware/esp32c3-qemu/flash.bin (make firmware-qemu) (a fresh copy) with tinybms-sim on UART1, opens the UI
(GET / and its assets), sets the admin password, logs in and saves a configuration change (the
deepest stacks), connects 4 WebSocket clients, waits, then prints: the app size against
its 1.25 MB goal, the free heap (now, lowest since boot, largest block) from GET /api/system,
each task's stack high-water mark, and the time from boot to the first 0x351 as the firmware
logs it. QEMU's timing is not a board's: the boot time is printed as QEMU measured it.

Usage: bench/firmware_figures.py [BUILD_DIR]   (needs ESP_QEMU/ESP_QEMU_BIOS: source ESP-IDF's env)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # python3-websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
IMAGE = os.path.join(BUILD, "firmware", "esp32c3-qemu", "flash.bin")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    if not os.environ.get("ESP_QEMU") or not os.path.exists(IMAGE):
        print("firmware figures: skipped (no ESP_QEMU or no image; make firmware-qemu)")
        return 0
    app = [f for f in os.listdir(os.path.dirname(IMAGE)) if f == "tinybms-gateway.bin"]
    app_size = os.path.getsize(os.path.join(os.path.dirname(IMAGE), app[0])) if app else 0
    work = tempfile.mkdtemp(prefix="tb-fwfig-")
    procs = []
    try:
        img = os.path.join(work, "flash.bin")
        shutil.copyfile(IMAGE, img)
        sim = subprocess.Popen([os.path.join(BUILD, "bin", "tinybms-sim"), "--pty", "--no-stdin"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(sim)
        pty = sim.stdout.readline().strip()
        port = free_port()
        log = open(os.path.join(work, "console.log"), "w")
        qemu = subprocess.Popen([os.path.join(ROOT, "scripts", "firmware-qemu.sh"), "--bms", pty,
                                 "--http-port", str(port), "--image", img],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(qemu)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status = json.load(urllib.request.urlopen(base + "/api/status", timeout=2))
                if status.get("bms", {}).get("valid"):
                    break
            except Exception:
                time.sleep(0.3)
        if not status:
            print("firmware figures: the image did not answer")
            return 1
        # the UI, as a browser loads it
        html = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        for ref in re.findall(r'(?:src|href)="(/?[^"#?]+\.(?:js|css|svg))"', html):
            urllib.request.urlopen(base + "/" + ref.lstrip("/"), timeout=5).read()
        # the write path (setup code, PBKDF2 login, a configuration saved to NVS): the owner's and
        # the server's deepest stacks
        with open(os.path.join(work, "console.log"), errors="replace") as f:
            code = re.search(r"setup code:\s+([0-9A-Z]{5}-[0-9A-Z]{5})", ANSI.sub("", f.read()))
        t_login = None
        if code:
            def post(path, body, method="POST", cookie=None):
                rq = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                            headers={"Origin": base, "Content-Type": "application/json",
                                                     **({"Cookie": cookie} if cookie else {})})
                return urllib.request.urlopen(rq, timeout=30)
            r = post("/api/auth/setup", {"code": code.group(1), "password": "a long passphrase"})
            t0 = time.monotonic()
            r = post("/api/auth/login", {"password": "a long passphrase"})
            t_login = time.monotonic() - t0
            cookie = r.headers.get("Set-Cookie", "").split(";")[0]
            post("/api/config", {"charge": {"cell_bulk_v": 3.5}}, "PUT", cookie).read()
        clients = []
        for _ in range(4):
            w = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=5,
                                            origin=base, host=f"127.0.0.1:{port}")
            w.recv()  # hello
            if len(clients) % 2:
                # half of them take everything: the pusher's deepest stack and largest messages
                w.send(json.dumps({"subscribe": ["status", "events", "log", "can"], "log_level": "debug"}))
            clients.append(w)
        end = time.monotonic() + 10
        got = 0
        while time.monotonic() < end:
            for w in clients:
                try:
                    w.settimeout(0.2)
                    w.recv()
                    got += 1
                except Exception:
                    pass
        sysinfo = json.load(urllib.request.urlopen(base + "/api/system", timeout=5))
        pf = sysinfo.get("platform") or {}
        for w in clients:
            w.close()
        with open(os.path.join(work, "console.log"), errors="replace") as f:
            console = ANSI.sub("", f.read())
        m = re.search(r"first 0x351 \(charge limits\) (\d+) ms after boot", console)
        print("Firmware figures (ESP32-C3 image under QEMU, 16-cell simulator, UI loaded, 4 WebSocket clients, 2 of them subscribed to everything)")
        print(f"  app size                 {app_size} bytes ({app_size / 1048576:.2f} MB; goal <= 1.25 MB, OTA slot 1.625 MB)")
        print(f"  heap free                {pf.get('heap_free_bytes')} bytes (goal >= 150 KB = 153600)")
        print(f"  heap lowest since boot   {pf.get('heap_min_free_bytes')} bytes")
        print(f"  largest free block       {pf.get('heap_largest_block_bytes')} bytes")
        for k, v in (pf.get("task_stack_free_bytes") or {}).items():
            print(f"  stack never used: {k:<10} {v} bytes")
        print(f"  WebSocket messages in 10 s to 4 clients: {got}")
        print(f"  boot to first 0x351      {m.group(1) if m else '?'} ms (QEMU time, not a board's)")
        if t_login is not None:
            print(f"  login (PBKDF2-SHA256)    {t_login:.1f} s (QEMU time, not a board's)")
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
