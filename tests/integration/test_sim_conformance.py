#!/usr/bin/env python3
"""Conformance of tinybms-sim against an independent Modbus master.

Starts `tinybms-sim --pty` (TB_BIN_DIR gives the bin dir), reads it over the pty with Debian's
python3-pymodbus 3.0 RTU client (slave 0xAA), and compares the registers with the model's true
state read over the control channel (unix socket and stdin): cells, pack voltage (float, low
word first), current, SOC, status, temperatures, settings and version; writes settings through
pymodbus and reads them back; checks the NACK of a refused write byte for byte; checks that a
fault injected at run time reaches the wire and clears; checks clean exits (quit, SIGTERM).

Runs in a few seconds; every process it starts is stopped by PID in a finally block.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import serial  # noqa: F401  (python3-serial, used by pymodbus)
from pymodbus.client import ModbusSerialClient

import tbtest

BIN = os.path.join(os.environ.get("TB_BIN_DIR", "build/bin"), "tinybms-sim")
UNIT = 0xAA
CELLS = 14

# Documented defaults of the settings registers (docs/simulator.md), 300..343.
DEFAULTS = {300: 3550, 301: 3000, 302: 0, 303: 3400, 304: 1000, 305: 200, 306: 10000, 307: CELLS,
            308: 15, 309: 0, 310: 20, 311: 5, 312: 1000, 313: 0, 314: 2, 315: 3800, 316: 2800,
            317: 100, 318: 60, 319: 60, 320: 0, 321: 90, 322: 3000, 323: 0xFFFF, 324: 0, 325: 0,
            326: 0, 327: 0, 328: 0xFFFF, 329: 0, 330: 1, 331: 0, 332: 5, 333: 1, 334: 0, 335: 1,
            336: 0, 337: 0, 338: 3, 339: 0, 340: 0, 341: 0, 342: 0, 343: 0}


def crc16(data):
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return bytes([c & 0xFF, c >> 8])


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def readline(stream, timeout=5.0):
    """One line from a pipe, with a deadline."""
    line = tbtest.readline(stream, timeout)
    if line is None:
        fail("timed out or EOF waiting for a line")
    return line


class Control(tbtest.SimControl):
    """The simulator's unix-socket control channel; a refused command fails the test."""

    def cmd(self, line):
        try:
            return super().cmd(line)
        except RuntimeError as e:
            fail(str(e))


def regs(client, addr, count):
    rr = client.read_holding_registers(addr, count, slave=UNIT)
    if rr.isError():
        fail("read %d+%d: %s" % (addr, count, rr))
    check(len(rr.registers) == count, "register count")
    return rr.registers


def f32(lo, hi):
    """Low word first (CDAB), each word big-endian on the wire."""
    return struct.unpack("<f", struct.pack("<HH", lo, hi))[0]


def u32(lo, hi):
    return lo | (hi << 16)


def s16(v):
    return v - 0x10000 if v & 0x8000 else v


def conformance(proc, ctl, path):
    client = ModbusSerialClient(port=path, baudrate=115200, timeout=1, retries=0)
    check(client.connect(), "pymodbus cannot open %s" % path)
    try:
        time.sleep(0.25)  # let a few 100 ms measurements pass
        t = ctl.truth()
        live = regs(client, 0, 56)

        # cells: top-aligned, register 16-N is cell 1
        check(t["cells"] == CELLS, "truth cells")
        check(live[53] == CELLS, "register 53 = %d" % live[53])
        for k in range(16 - CELLS):
            check(live[k] == 0, "unused cell slot %d reads %d" % (k, live[k]))
        for k in range(CELLS):
            mv = live[16 - CELLS + k] / 10.0
            check(abs(mv - t["cell_mv"][k]) < 0.2,
                  "cell %d: register %.1f mV, truth %.3f mV" % (k + 1, mv, t["cell_mv"][k]))
        check(abs(live[40] - min(t["cell_mv"])) <= 1, "min cell %d" % live[40])
        check(abs(live[41] - max(t["cell_mv"])) <= 1, "max cell %d" % live[41])
        pack_v = f32(live[36], live[37])
        check(abs(pack_v - t["pack_v"]) < 0.002, "pack V %.5f vs %.5f" % (pack_v, t["pack_v"]))
        check(f32(live[38], live[39]) == 0.0, "idle current")
        soc = u32(live[46], live[47]) / 1e6
        check(abs(soc - t["bms_soc"]) < 1e-4, "SOC %.6f vs %.6f" % (soc, t["bms_soc"]))
        check(abs(soc - 63.0) < 1e-6, "initial BMS SOC 63 %%, got %f" % soc)
        check(live[50] == t["status"] == 0x97, "status %#x / %#x" % (live[50], t["status"]))
        check(abs(s16(live[42]) / 10.0 - t["temp_ext1"]) < 0.06, "ext temp 1")
        check(abs(s16(live[48]) / 10.0 - t["temp_int"]) < 0.06, "internal temp")
        check(u32(live[32], live[33]) == t["lifetime_s"], "lifetime")
        check(live[45] == 50000, "SOH 100 %")

        # settings and version
        sets = regs(client, 300, 44)
        for k, v in enumerate(sets):
            check(v == DEFAULTS[300 + k], "setting %d = %d, documented %d" % (300 + k, v, DEFAULTS[300 + k]))
        ver = regs(client, 500, 10)
        check(ver[0:4] == [0x0102, 0x0301, 242, 0x0418], "version block %s" % ver[0:4])
        stats = regs(client, 100, 18)
        check(stats[14] & 0xFF == 5, "last reset cause: power-on")
        events = regs(client, 200, 98)
        check(events[1] >> 8 == 0x61, "first event: system started")
        check(u32(events[0], events[1] & 0xFF) == 86400, "event timestamp = lifetime at start")

        # a load set over the control channel reaches the registers within a measurement
        ctl.cmd("current -20")
        time.sleep(0.3)
        live = regs(client, 32, 24)
        t = ctl.truth()
        check(f32(live[38 - 32], live[39 - 32]) == -20.0, "current after 'current -20'")
        check(t["pack_i"] == -20.0, "truth current")
        check(live[50 - 32] == t["status"] == 0x93, "discharging status %#x" % live[50 - 32])
        ctl.cmd("idle")

        # writes through pymodbus, read back through pymodbus and through the control channel
        wr = client.write_registers(315, [3700], slave=UNIT)
        check(not wr.isError(), "write 315: %s" % wr)
        check(regs(client, 315, 1) == [3700], "read back 315")
        check(ctl.cmd("reg 315") == "ok 3700", "control reg 315")
        wr = client.write_registers(300, [3600, 2900], slave=UNIT)
        check(not wr.isError(), "write 300-301: %s" % wr)
        check(regs(client, 300, 2) == [3600, 2900], "read back 300-301")
        wr = client.write_registers(320, [0xFFF6], slave=UNIT)  # -10 degC, signed
        check(not wr.isError(), "write 320")
        check(ctl.cmd("reg 320") == "ok 65526", "control reg 320")

        # a refused write answers the proprietary NACK AA 00 10 00 CRC and changes nothing
        port = client.socket
        port.reset_input_buffer()
        req = bytes([0xAA, 0x10, 0x01, 0x3B, 0x00, 0x01, 0x02, 0x13, 0x88])  # 315 = 5000 mV
        port.write(req + crc16(req))
        ans = port.read(6)
        want = bytes([0xAA, 0x00, 0x10, 0x00])
        check(ans == want + crc16(want), "NACK for 315=5000: %s" % ans.hex())
        check(regs(client, 315, 1) == [3700], "315 unchanged after a refused write")

        # a proprietary command on the same line: 0x1D option 1 (minimum values), 44 registers
        port.reset_input_buffer()
        req = bytes([0xAA, 0x1D, 0x01, 0x00, 0x2C])
        port.write(req + crc16(req))
        ans = port.read(5 + 88)
        check(len(ans) == 93 and ans[:3] == bytes([0xAA, 0x1D, 88]) and crc16(ans[:-2]) == ans[-2:],
              "0x1D reply %s" % ans[:8].hex())
        check(struct.unpack_from("<H", ans, 3)[0] == 1200, "min of 300")

        # a fault injected at run time reaches the wire, and clears
        ctl.cmd("fault crc always")
        rr = None
        try:
            rr = client.read_holding_registers(0, 4, slave=UNIT)
        except Exception:  # pymodbus may raise on a frame it cannot check
            rr = None
        check(rr is None or rr.isError(), "a corrupted reply was accepted")
        ctl.cmd("fault clear")
        time.sleep(0.05)
        client.close()  # pymodbus may have closed the port after the error; start afresh
        check(client.connect(), "pymodbus reconnect")
        check(len(regs(client, 0, 4)) == 4, "service after 'fault clear'")
        st = json.loads(ctl.cmd("stats"))
        check(st["injected"]["crc"] >= 1, "crc fault counted")
    finally:
        client.close()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    if not os.access(BIN, os.X_OK):
        fail("no simulator binary at %s" % BIN)
    tmp = tempfile.mkdtemp(prefix="tb-sim-")
    sock = os.path.join(tmp, "ctl.sock")
    procs = []
    try:
        proc = subprocess.Popen([BIN, "--pty", "--cells", str(CELLS), "--seed", "7", "--soc", "63",
                                 "--control", sock],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        path = readline(proc.stdout)
        check(path.startswith("/dev/"), "first line is the pty path, got %r" % path)
        ctl = Control(sock)
        try:
            conformance(proc, ctl, path)
        finally:
            ctl.close()

        # stdin carries the same commands; 'quit' ends the process cleanly
        proc.stdin.write(b"set soc 40\ntruth\nbogus\nquit\n")
        proc.stdin.flush()
        check(readline(proc.stdout).startswith("ok soc"), "stdin: set soc")
        t = json.loads(readline(proc.stdout))
        check(abs(t["bms_soc"] - 40.0) < 1e-6, "stdin: truth after set soc")
        check(readline(proc.stdout).startswith("error: "), "stdin: a bad command is an error line")
        check(readline(proc.stdout) == "ok bye", "stdin: quit")
        check(proc.wait(3) == 0, "exit status after quit")
        check(not os.path.exists(sock), "control socket removed on exit")

        # SIGTERM is a clean exit too; bad arguments are refused with status 2
        proc2 = subprocess.Popen([BIN, "--pty", "--no-stdin"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        procs.append(proc2)
        readline(proc2.stdout)
        proc2.send_signal(signal.SIGTERM)
        check(proc2.wait(3) == 0, "exit status after SIGTERM")
        for bad in (["--cells", "3"], ["--speed", "x"], ["--fault", "crc 7"], ["--bogus"],
                    ["--set", "315=9999"], ["--profile", os.path.join(tmp, "missing.csv")]):
            r = subprocess.run([BIN] + bad, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
            check(r.returncode == 2 and r.stderr.startswith(b"tinybms-sim: ") and not r.stdout,
                  "bad arguments %s: rc %d, %r" % (bad, r.returncode, r.stderr))
        r = subprocess.run([BIN, "--bogus"], stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        check(b"unknown option" in r.stderr, "an unknown option is named as unknown: %r" % r.stderr)
        r = subprocess.run([BIN, "--cells"], stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        check(b"needs a value" in r.stderr, "a known option without its value: %r" % r.stderr)
        r = subprocess.run([BIN, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        check(r.returncode == 0 and r.stdout.startswith(b"tinybms-sim "), "--version: %r" % r.stdout)
        r = subprocess.run([BIN, "--help"], stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        check(b"initial SOC spread, 0..10 (0.2)" in r.stdout, "--help gives the --spread-soc default of the code")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print("sim conformance: ok")


if __name__ == "__main__":
    main()
