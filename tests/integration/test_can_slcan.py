#!/usr/bin/python3
"""The slcan: back-end and the real CAN scheduler against an independent peer.

A socat pty pair stands in for the USB adapter's serial line. On one end runs
build/tests/can_sched_driver (the real can_port slcan back-end + can_sched + can_inputs with a
fixed healthy 16S battery); on the other end Debian's python3-can `slcan` interface plays the
CAN bus and the GX:
  - every frame of the set must arrive with the payload computed here, independently, from the
    Victron spec (struct.pack, two-bit pairs), and 0x305/0x306/0x307 must never arrive;
  - the GX's 0x305 keepalive and 0x307 identification sent by python-can must be seen by the
    gateway (GX presence), and python-can's own slcan setup lines must not count as errors.
No pass/fail depends on timing: the waits below only guard against a hang.
"""
import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest

import can  # Debian python3-can

BIN = os.environ.get("TB_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
DRIVER = os.path.join(BIN, "..", "tests", "can_sched_driver")
HANG_GUARD_S = 20.0


def pairs(levels):
    """0x35A bytes from per-category levels, written from the spec table (not from the C code).

    levels: 13 strings in 0x35A order; 'ok', 'warning', 'alarm' or 'ns' (not supported).
    alarm pairs in bytes 0-3, warning pairs in bytes 4-7; 01 active, 10 OK, 00 not supported.
    An alarm implies the warning; reserved pairs 10; byte 7 bits 2-3 system status (10 online).
    """
    data = [0] * 8
    a_pair = {"ok": 0b10, "warning": 0b10, "alarm": 0b01, "ns": 0b00}
    w_pair = {"ok": 0b10, "warning": 0b01, "alarm": 0b01, "ns": 0b00}
    for i, lvl in enumerate(levels):
        data[i // 4] |= a_pair[lvl] << (2 * (i % 4))
        data[4 + i // 4] |= w_pair[lvl] << (2 * (i % 4))
    for byte, pair in ((3, 1), (3, 2), (3, 3), (7, 2), (7, 3)):
        data[byte] |= 0b10 << (2 * pair)
    data[7] |= 0b10 << 2  # system online
    return bytes(data)


def text(s):
    b = s.encode("ascii")
    return b + bytes(8 - len(b))


# The driver's fixed battery, encoded here from the spec.
LEVELS = ["ns", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ns", "ns", "ok", "ok"]
EXPECTED = {
    0x351: struct.pack("<HhhH", 560, 500, 1000, 448),       # CVL 56.0 V, CCL 50 A, DCL 100 A, DVL 44.8 V
    0x355: struct.pack("<HHHH", 75, 98, 7540, 0),           # SOC 75 %, SOH 98 %, 75.40 %
    0x356: struct.pack("<hhhH", 5321, -123, 235, 0),        # 53.21 V, -12.3 A, 23.5 degC
    0x35A: pairs(LEVELS),
    0x35E: text("TinyBMS"),
    0x35F: struct.pack("<HBBHH", 0, 1, 242, 280, 0),        # fw 1 / 242 (major first), 280 Ah
    0x370: text("TinyBMS "),
    0x371: text("Garage 1"),
    0x372: struct.pack("<HHHH", 1, 0, 0, 0),
    0x373: struct.pack("<HHHH", 3301, 3342, 22 + 273, 25 + 273),
    0x374: text("cell 3"),
    0x375: text("cell 12"),
    0x376: text("ext 1"),
    0x377: text("ext 2"),
    0x378: struct.pack("<II", 12345, 9876),                 # 1234.5 kWh, 987.6 kWh in 100 Wh
    0x379: struct.pack("<HHHH", 280, 0, 0, 0),
    0x382: text("LFP16S"),
}
GX_IDS = {0x305, 0x306, 0x307}


class SlcanPeer(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.bus = None
        if not os.access(DRIVER, os.X_OK):
            self.fail(f"helper not built: {DRIVER}")
        self.socat = subprocess.Popen(
            ["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(self.socat)
        ptys = []
        deadline = time.monotonic() + HANG_GUARD_S
        while len(ptys) < 2 and time.monotonic() < deadline:
            line = self.socat.stderr.readline()
            if not line:
                break
            m = re.search(r"PTY is (\S+)", line)
            if m:
                ptys.append(m.group(1))
        self.assertEqual(len(ptys), 2, "socat did not report two ptys")
        self.gw_pty, self.gx_pty = ptys
        # drain socat's further chatter so it never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in self.socat.stderr], daemon=True).start()

    def tearDown(self):
        if self.bus is not None:
            try:
                self.bus.shutdown()
            except Exception:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    try:
                        f.close()
                    except Exception:
                        pass

    def start_driver(self, *extra):
        drv = subprocess.Popen(
            [DRIVER, f"slcan:{self.gw_pty}", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(drv)
        events = queue.Queue()

        def reader():
            for line in drv.stdout:
                events.put(json.loads(line))
            events.put(None)

        threading.Thread(target=reader, daemon=True).start()
        return drv, events

    @staticmethod
    def wait_event(events, name):
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            try:
                ev = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if ev is None:
                return None
            if ev.get("event") == name:
                return ev
        return None

    def test_frames_and_gx_presence(self):
        # The peer opens first so that the gateway's first burst is not lost.
        self.bus = can.Bus(interface="slcan", channel=self.gx_pty, bitrate=500000, sleep_after_open=0)
        drv, events = self.start_driver("--set", "can.battery_name=TinyBMS Garage 1",
                                        "--set", "can.family=LFP16S")
        ready = self.wait_event(events, "ready")
        self.assertIsNotNone(ready, "driver did not start")
        self.assertEqual(ready["gx_ids_refused"], 3)

        got = {}
        seen_ids = set()
        deadline = time.monotonic() + HANG_GUARD_S
        while set(EXPECTED) - set(got) and time.monotonic() < deadline:
            msg = self.bus.recv(timeout=0.5)
            if msg is None:
                continue
            seen_ids.add(msg.arbitration_id)
            self.assertFalse(msg.is_extended_id, f"29-bit frame {msg}")
            self.assertFalse(msg.is_remote_frame, f"remote frame {msg}")
            self.assertEqual(msg.dlc, 8, f"DLC of {msg}")
            got[msg.arbitration_id] = bytes(msg.data)
        missing = sorted(hex(i) for i in set(EXPECTED) - set(got))
        self.assertEqual(missing, [], "frames never received")
        for fid, payload in EXPECTED.items():
            self.assertEqual(got[fid].hex(" "), payload.hex(" "), f"payload of 0x{fid:03X}")
        self.assertFalse(seen_ids & GX_IDS, "the gateway transmitted a GX id")

        # Now play the GX: keepalive and inverter identification.
        self.bus.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))
        self.bus.send(can.Message(arbitration_id=0x307, data=bytes([0x12, 0x34, 0x56, 0x78]) + b"VIC\x00",
                                  is_extended_id=False))
        gx = self.wait_event(events, "gx_present")
        self.assertIsNotNone(gx, "gateway never reported the GX")

        # keep listening a little: still never a GX id from the gateway
        for _ in range(20):
            msg = self.bus.recv(timeout=0.05)
            if msg is not None:
                self.assertNotIn(msg.arbitration_id, GX_IDS)

        drv.stdin.close()  # ends the driver
        final = self.wait_event(events, "final")
        self.assertIsNotNone(final, "no final report")
        self.assertEqual(drv.wait(timeout=10), 0)
        sched = final["sched"]
        self.assertEqual(sched["mode"], "transmitting")
        self.assertTrue(sched["gx"]["present"])
        self.assertGreaterEqual(sched["gx"]["keepalive_frames"], 1)
        self.assertGreaterEqual(sched["gx"]["inverter_id_frames"], 1)
        self.assertTrue(sched["gx"]["inverter_signature_ok"])
        counters = sched["counters"]
        self.assertEqual(counters["refused_gx_id"], 3)
        self.assertEqual(counters["tx_errors"], 0)
        self.assertEqual(counters["rx_conflicts"], 0)
        for fr in sched["frames"]:
            if fr["id"] in ("0x305", "0x306", "0x307"):
                self.fail("GX id in the gateway's frame table")
        port = final["port"]
        self.assertEqual(port["rx_errors"], 0, "python-can's setup lines (C, S6, O) were taken for errors")
        self.assertGreaterEqual(port["rx_frames"], 2)
        self.assertEqual(port["tx_errors"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
