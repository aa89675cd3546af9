#!/usr/bin/python3
"""victron-can-decode against known captures, and the log: back-end closed loop.

1. Victron's candump example and the BYD/Pylontech captures (docs/victron-can.md) decode to the
   documented values; lines that are not CAN frames give {"error": ..., "line": N}, the exit
   status stays 0 and the count of bad lines goes to stderr.
2. The real scheduler writes its frames through the log: back-end (build/tests/can_sched_driver
   log:FILE); victron-can-decode reads that file back: the frame set, the values and the absence
   of 0x305/0x306/0x307.
3. slcan input (QEMU's can-host-chardev log of the firmware, serial-line CAN adapters): CR, LF
   and CR LF line ends, the same objects as the same frames in candump -L form (time null, iface
   ""), 29-bit and remote frames, acknowledgements skipped, malformed slcan lines named as such.
"""
import json
import os
import subprocess
import tempfile
import unittest

BIN = os.environ.get("TB_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
DECODE = os.path.join(BIN, "victron-can-decode")
DRIVER = os.path.join(BIN, "..", "tests", "can_sched_driver")

CAPTURE = """\
(1618650000.000001) can0 351#45024C044C040000
(1618650000.000002) can0 355#5900640000000000
(1618650000.000003) can0 356#3116CE003E010000
(1618650000.000004) can0 35A#0000000000000000
this is not a frame
(1650000000.000001) can0 351#480200050005AE01
(1650000000.000002) can0 356#BE14F9FF8C000000
(1650000000.000003) can0 35A#AAAAAAAAAAAAAAAA
(1650000000.000004) can0 35E#4259440000000000
(1650000000.000005) can0 35F#4C69011769000000
(1650000000.000006) can0 372#0200000000000000
(1650000000.000007) can0 373#EA0C010D1F012201

  can0  378   [8]  40 08 00 00 2B 07 00 00
  can0  379   [8]  9C 00 00 00 00 00 00 00
can0 382#5052454D49554D00
can0 351##00
(1700000000.000000) can0 351#14
can0 1ABCDEF0#00
can0 20000040#0000000000000000
(1650000000.000008) can0 307#1234567856494300
"""


def run_decode(args, stdin=None):
    p = subprocess.run([DECODE, *args], input=stdin, capture_output=True, text=True, timeout=30)
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    return p.returncode, objs, p.stderr


class Decode(unittest.TestCase):
    def test_known_captures(self):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write(CAPTURE)
            path = f.name
        try:
            rc, objs, err = run_decode([path])
        finally:
            os.unlink(path)
        self.assertEqual(rc, 0)
        self.assertIn("18 frames, 2 unparsable lines", err)
        by_line = {o["line"]: o for o in objs}
        self.assertEqual(by_line[1]["name"], "limits")
        self.assertEqual(by_line[1]["time"], "1618650000.000001")
        self.assertEqual(by_line[1]["fields"], {"cvl_v": 58.1, "ccl_a": 110, "dcl_a": 110, "dvl_v": 0})
        self.assertEqual(by_line[2]["fields"]["soc_pct"], 89)
        self.assertEqual(by_line[2]["fields"]["soh_pct"], 100)
        self.assertEqual(by_line[3]["fields"], {"voltage_v": 56.81, "current_a": 20.6, "temperature_c": 31.8})
        self.assertTrue(all(v == "unsupported" for v in by_line[4]["fields"]["levels"].values()))
        self.assertEqual(by_line[5], {"error": "not a candump line: expected [(TIME)] IFACE ID#DATA or IFACE ID [LEN] BYTES", "line": 5})
        self.assertEqual(by_line[6]["fields"], {"cvl_v": 58.4, "ccl_a": 128, "dcl_a": 128, "dvl_v": 43})
        self.assertEqual(by_line[7]["fields"], {"voltage_v": 53.1, "current_a": -0.7, "temperature_c": 14})
        self.assertTrue(all(v == "ok" for v in by_line[8]["fields"]["levels"].values()))
        self.assertEqual(by_line[8]["fields"]["system_status"], "online")
        self.assertEqual(by_line[9]["fields"], {"text": "BYD"})
        self.assertEqual(by_line[10]["fields"]["firmware"], "1.17")
        self.assertEqual(by_line[10]["fields"]["capacity_online_ah"], 105)
        self.assertEqual(by_line[11]["fields"]["online"], 2)
        self.assertEqual(by_line[12]["fields"], {"min_cell_v": 3.306, "max_cell_v": 3.329,
                                                 "min_temperature_c": 14, "max_temperature_c": 17})
        self.assertNotIn(13, by_line)  # blank line skipped
        self.assertEqual(by_line[14]["fields"], {"energy_in_kwh": 211.2, "energy_out_kwh": 183.5})
        self.assertEqual(by_line[14]["time"], None)
        self.assertEqual(by_line[15]["fields"], {"capacity_installed_ah": 156})
        self.assertEqual(by_line[16]["fields"], {"text": "PREMIUM"})
        self.assertEqual(by_line[17], {"error": "CAN FD frames are not supported", "line": 17})
        self.assertEqual(by_line[18]["decode_error"], "frame too short for this id")
        self.assertIsNone(by_line[19]["name"])
        self.assertTrue(by_line[19]["ext"])
        self.assertEqual(by_line[20]["error_class"], ["bus_off"])
        self.assertTrue(by_line[21]["fields"]["signature_ok"])

    def test_stdin_and_errors(self):
        rc, objs, err = run_decode(["-"], stdin="can0 355#4300640000000000\n")
        self.assertEqual(rc, 0)
        self.assertEqual(objs[0]["fields"]["soc_pct"], 67)
        rc, objs, err = run_decode([], stdin="\x00\x01garbage\n")
        self.assertEqual(rc, 1)  # nothing decodable: the wrong file, said and not 0
        self.assertIn("error", objs[0])
        self.assertIn("0 frames, 1 unparsable lines", err)
        self.assertIn("no CAN frame found", err)
        rc, objs, err = run_decode([], stdin="")
        self.assertEqual(rc, 1)
        rc, objs, err = run_decode([], stdin="junk\ncan0 355#4300640000000000\n")
        self.assertEqual(rc, 0)  # some frames, some bad lines: decoded, bad lines counted
        p = subprocess.run([DECODE, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("victron-can-decode "), p.stdout)
        rc, objs, err = run_decode(["--bogus"])
        self.assertEqual(rc, 2)
        self.assertIn("unknown option --bogus", err)
        rc, objs, err = run_decode(["/nonexistent/bus.log"])
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent/bus.log", err)
        rc, objs, err = run_decode(["a", "b"])
        self.assertEqual(rc, 2)

    def test_slcan(self):
        # the frames of Victron's candump example, once as candump -L and once as slcan lines
        candump = ("(1618650000.000001) can0 351#45024C044C040000\n"
                   "(1618650000.000002) can0 355#5900640000000000\n"
                   "(1618650000.000003) can0 356#3116CE003E010000\n")
        slcan = "t35184502 4C044C040000\rt35585900640000000000\rt3568 3116CE003E010000\r".replace(" ", "")
        rc, want, _ = run_decode([], stdin=candump)
        self.assertEqual(rc, 0)
        for ends in ("\r", "\n", "\r\n"):
            rc, objs, err = run_decode([], stdin=slcan.replace("\r", ends))
            self.assertEqual(rc, 0, err)
            self.assertIn("3 frames, 0 unparsable lines", err)
            self.assertEqual(len(objs), 3)
            for got, exp in zip(objs, want):
                self.assertEqual(got["time"], None)
                self.assertEqual(got["iface"], "")
                for k in ("line", "id", "dlc", "data", "name", "fields"):
                    self.assertEqual(got[k], exp[k], f"{k} with line end {ends!r}")
        # mixed with candump lines, 29-bit, remote, a timestamp suffix, acknowledgements, errors
        mixed = ("z\rt35585900640000000000ABCD\r"        # ack skipped; 4-digit timestamp ignored
                 "T1ABCDEF02AABB\rr3510\rR1ABCDEF00\r"   # 29-bit data, 11- and 29-bit remote
                 "t3514\r"                                # DLC 4 without its data
                 "t8001AA\r"                              # 11-bit id above 7FF
                 "t3559450064000000000000\r"              # one data digit too many
                 "can0 355#4300640000000000\n"            # candump in the same input
                 "tap0\n")                                # a t-word that is no frame
        rc, objs, err = run_decode([], stdin=mixed)
        self.assertEqual(rc, 0, err)
        self.assertIn("5 frames, 4 unparsable lines", err)
        by_line = {o["line"]: o for o in objs}
        self.assertNotIn(1, by_line)
        self.assertEqual(by_line[2]["fields"]["soc_pct"], 89)
        self.assertEqual(by_line[3]["id"], "0x1ABCDEF0")
        self.assertTrue(by_line[3]["ext"])
        self.assertEqual(by_line[3]["data"], "AABB")
        self.assertTrue(by_line[4]["rtr"])
        self.assertEqual(by_line[4]["id"], "0x351")
        self.assertNotIn("fields", by_line[4])
        self.assertTrue(by_line[5]["rtr"] and by_line[5]["ext"])
        for n in (6, 7, 8, 10):
            self.assertTrue(by_line[n]["error"].startswith("not an slcan frame: expected tIIIL<data>"), by_line[n])
        self.assertEqual(by_line[9]["fields"]["soc_pct"], 67)
        self.assertEqual(by_line[9]["iface"], "can0")
        # nothing but bad slcan lines: status 1 and the hint names both formats
        rc, objs, err = run_decode([], stdin="t3514\r")
        self.assertEqual(rc, 1)
        self.assertIn("slcan lines such as", err)
        p = subprocess.run([DECODE, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("slcan", p.stdout)

    def test_log_backend_closed_loop(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "can.log")
            drv = subprocess.Popen([DRIVER, f"log:{log}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            try:
                ready = json.loads(drv.stdout.readline())
                self.assertEqual(ready["event"], "ready")
                self.assertEqual(ready["gx_ids_refused"], 3)
                out, err = drv.communicate(input="", timeout=30)  # EOF on stdin ends the driver
            finally:
                if drv.poll() is None:
                    drv.kill()
                    drv.wait()
            self.assertEqual(drv.returncode, 0, err)
            final = json.loads(out.splitlines()[-1])
            self.assertEqual(final["event"], "final")
            rc, objs, err = run_decode([log])
        self.assertEqual(rc, 0)
        self.assertIn(" 0 unparsable lines", err)
        names = {o["id"]: o for o in objs}
        for fid in ("0x351", "0x355", "0x356", "0x35A", "0x35E", "0x35F", "0x372", "0x373", "0x374",
                    "0x375", "0x376", "0x377", "0x378", "0x379"):
            self.assertIn(fid, names, f"{fid} missing from the log")
        for fid in ("0x305", "0x306", "0x307"):
            self.assertNotIn(fid, names)
        self.assertEqual(names["0x351"]["fields"], {"cvl_v": 56, "ccl_a": 50, "dcl_a": 100, "dvl_v": 44.8})
        self.assertEqual(names["0x35E"]["fields"]["text"], "TinyBMS")
        self.assertEqual(names["0x351"]["iface"], "can0")
        self.assertEqual(final["sched"]["counters"]["tx_frames"], final["port"]["tx_frames"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
