#!/usr/bin/python3
"""Figures of the ESP32-C3 firmware image, measured under QEMU (docs/performance.md "Firmware").

Boots build/firmware/esp32c3-qemu/flash.bin (make firmware-qemu) (a fresh copy) with tinybms-sim on UART1, opens the UI
(GET / and its assets), sets the admin password, logs in and saves a configuration change (the
deepest stacks), connects 4 WebSocket clients, waits, then prints: the app size against
its 1.25 MB goal, the free heap (now, lowest since boot, largest block) from GET /api/system,
each task's stack high-water mark, and the time from boot to the first 0x351 as the firmware
logs it. QEMU's timing is not a board's: the boot time is printed as QEMU measured it.

With --mqtt, a Debian mosquitto on a free loopback port (anonymous, no persistence) is the broker:
the configuration change also enables MQTT towards it (the guest reaches the host as 10.0.2.2),
and the figures are taken once the broker holds the gateway's state document, with the MQTT
client connected and publishing (the number of messages the broker delivered is printed).

With --trace, the free heap and its lowest point since boot are printed after each step (where a
low point happens).

Usage: bench/firmware_figures.py [--mqtt] [--trace] [BUILD_DIR]   (needs ESP_QEMU/ESP_QEMU_BIOS: source ESP-IDF's env)
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
ARGS = [a for a in sys.argv[1:] if a not in ("--mqtt", "--trace")]
MQTT = "--mqtt" in sys.argv[1:]
TRACE = "--trace" in sys.argv[1:]
BUILD = ARGS[0] if ARGS else os.path.join(ROOT, "build")
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
        broker_port = None
        sub = None
        if MQTT:
            if not shutil.which("mosquitto") or not shutil.which("mosquitto_sub"):
                print("firmware figures: --mqtt needs Debian's mosquitto and mosquitto-clients")
                return 1
            broker_port = free_port()
            with open(os.path.join(work, "mosquitto.conf"), "w") as f:
                f.write(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
            procs.append(subprocess.Popen(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", broker_port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            sub_log = open(os.path.join(work, "mqtt.log"), "w")
            sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker_port), "-t", "#", "-v"],
                                   stdout=sub_log, stderr=subprocess.DEVNULL)
            procs.append(sub)
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

        def mark(step):
            if not TRACE:
                return
            try:
                pf = json.load(urllib.request.urlopen(base + "/api/system", timeout=10)).get("platform") or {}
                print(f"  trace: after {step:<28} heap free {pf.get('heap_free_bytes')}, lowest {pf.get('heap_min_free_bytes')}",
                      flush=True)
            except Exception as e:
                print(f"  trace: after {step}: {e}", flush=True)

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
        mark("boot")
        # the UI, as a browser loads it
        html = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        for ref in re.findall(r'(?:src|href)="(/?[^"#?]+\.(?:js|css|svg))"', html):
            urllib.request.urlopen(base + "/" + ref.lstrip("/"), timeout=5).read()
        mark("the UI loaded")
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
            mark("setup and login")
            cookie = r.headers.get("Set-Cookie", "").split(";")[0]
            change = {"charge": {"cell_bulk_v": 3.5}}
            if MQTT:
                change["mqtt"] = {"enabled": True, "host": "10.0.2.2", "port": broker_port}
            post("/api/config", change, "PUT", cookie).read()
            mark("the configuration saved")
        if MQTT:
            deadline = time.monotonic() + 30
            state = False
            while time.monotonic() < deadline and not state:
                time.sleep(0.5)
                with open(os.path.join(work, "mqtt.log"), errors="replace") as f:
                    state = any(re.match(r"tinybms/\S+/state \{", line) for line in f)
            if not state:
                print("firmware figures: no MQTT state document reached the broker in 30 s")
                return 1
            mark("MQTT state at the broker")
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
        mark("4 WebSocket clients, 10 s")
        sysinfo = json.load(urllib.request.urlopen(base + "/api/system", timeout=5))
        pf = sysinfo.get("platform") or {}
        for w in clients:
            w.close()
        with open(os.path.join(work, "console.log"), errors="replace") as f:
            console = ANSI.sub("", f.read())
        m = re.search(r"first 0x351 \(charge limits\) (\d+) ms after boot", console)
        mqtt_msgs = None
        if MQTT:
            with open(os.path.join(work, "mqtt.log"), errors="replace") as f:
                mqtt_msgs = sum(1 for line in f if re.match(r"\S+ ", line))
        print("Firmware figures (ESP32-C3 image under QEMU, 16-cell simulator, UI loaded, 4 WebSocket clients, 2 of them subscribed to everything"
              + (", MQTT connected to a local mosquitto)" if MQTT else ")"))
        print(f"  app size                 {app_size} bytes ({app_size / 1048576:.2f} MB; goal <= 1.25 MB, OTA slot 1.625 MB)")
        print(f"  heap free                {pf.get('heap_free_bytes')} bytes (goal >= 150 KB = 153600)")
        print(f"  heap lowest since boot   {pf.get('heap_min_free_bytes')} bytes")
        print(f"  largest free block       {pf.get('heap_largest_block_bytes')} bytes")
        for k, v in (pf.get("task_stack_free_bytes") or {}).items():
            print(f"  stack never used: {k:<10} {v} bytes")
        print(f"  WebSocket messages in 10 s to 4 clients: {got}")
        if MQTT:
            print(f"  MQTT messages the broker delivered: {mqtt_msgs} (discovery, state every 5 s, alarms, counters)")
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
