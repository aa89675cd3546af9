"""tinybms-cli against an independent Modbus RTU server (Debian's python3-pymodbus) on a pty pair.

The register values are computed here from the vendor document (Tiny BMS Communication Protocols
Rev D): big-endian registers, 32-bit values and floats low word first, cells top-aligned for
N < 16. The test then checks that `tinybms-cli live/settings --json` decode them to the right
physical values, that `set` writes the right raw value and read-back, and that refused values
never reach the bus."""
import asyncio
import json
import struct
import subprocess
import threading
import time

import tbtest
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer
from pymodbus.transaction import ModbusRtuFramer

t = tbtest.Checker("cli-pymodbus")

# ---- a 14S pack as the vendor document describes it ---------------------------------------
CELLS = [3.2871, 3.2905, 3.3012, 3.2950, 3.3101, 3.2999, 3.3050,
         3.2888, 3.2912, 3.3000, 3.3075, 3.2930, 3.2968, 3.3020]
N = len(CELLS)
PACK_V = 46.178
PACK_I = -23.75
SOC = 80.587318
regs = [0] * 600


def f32(addr, v):
    lo, hi = struct.unpack("<HH", struct.pack("<f", v))  # low word at the lower address
    regs[addr], regs[addr + 1] = lo, hi


def u32(addr, v):
    regs[addr], regs[addr + 1] = v & 0xFFFF, v >> 16


for i, v in enumerate(CELLS):            # 0.1 mV units, registers 16-N .. 15, cell 1 first
    regs[16 - N + i] = round(v * 10000)
u32(32, 987654)                         # lifetime s
u32(34, 4 * 3600)                       # time left s
f32(36, PACK_V)
f32(38, PACK_I)
regs[40] = round(min(CELLS) * 1000)     # mV
regs[41] = round(max(CELLS) * 1000)
regs[42] = 187                          # 18.7 degC
regs[43] = 0x8000                       # not connected
regs[45] = 48500                        # 97 % (0.002 %)
u32(46, round(SOC * 1e6))               # 1e-6 %
regs[48] = (-35) & 0xFFFF               # -3.5 degC internal
regs[50] = 0x91                         # charging
regs[51] = 0b101
regs[52] = 0b100
regs[53] = N
# settings (vendor units)
SET = {300: 3600, 301: 3000, 303: 3450, 304: 1500, 305: 200, 306: 28000, 307: N, 308: 20,
       310: 20, 311: 5, 315: 3800, 316: 2700, 317: 150, 318: 100, 319: 55, 320: (-10) & 0xFFFF,
       321: 80, 322: 4000, 330: 0x0A01, 332: 5, 333: 1, 335: 1, 342: 0}
for a, v in SET.items():
    regs[a] = v
u32(312, 100000)
regs[500], regs[501], regs[502], regs[503] = 0x0201, 0x0303, 242, 0x0418


class CountingContext(ModbusSlaveContext):
    """Counts register reads and writes so the test can prove "nothing was sent"."""
    reads = 0
    writes = 0

    def getValues(self, fc_as_hex, address, count=1):
        CountingContext.reads += 1
        return super().getValues(fc_as_hex, address, count)

    def setValues(self, fc_as_hex, address, values):
        CountingContext.writes += 1
        return super().setValues(fc_as_hex, address, values)


store = CountingContext(hr=ModbusSequentialDataBlock(0, list(regs)), zero_mode=True)
context = ModbusServerContext(slaves={0xAA: store}, single=False)

server_end, gateway_end = tbtest.pty_pair()


def serve():
    asyncio.run(StartAsyncSerialServer(context=context, framer=ModbusRtuFramer, port=server_end,
                                       baudrate=115200))


threading.Thread(target=serve, daemon=True).start()
time.sleep(1.0)
CLI = tbtest.bin_path("tinybms-cli")


def cli(*args):
    p = subprocess.run([CLI, "--device", gateway_end, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def hr(addr):
    # read the datablock directly: the test's own look-ups must not count as bus traffic
    return store.store["h"].getValues(addr, 1)[0]


# ---- live --------------------------------------------------------------------------------
rc, out, err = cli("live", "--json")
t.check(rc == 0, f"live exit 0 (got {rc}, stderr {err!r})")
live = json.loads(out) if rc == 0 else {}
t.check(live.get("valid") is True, "live valid")
t.check(len(live.get("cells_v", [])) == N, f"one cells_v entry per series cell ({N})")
for i, v in enumerate(CELLS):
    t.close(v, (live.get("cells_v") or [None] * N)[i], f"cell {i + 1} V", 0.00005)
t.close(PACK_V, live.get("pack_voltage_v"), "pack_voltage_v", 0.001)
t.close(PACK_I, live.get("pack_current_a"), "pack_current_a", 0.005)
t.close(SOC, live.get("soc_pct"), "soc_pct", 0.005)
t.close(97.0, live.get("soh_pct"), "soh_pct", 0.05)
t.close(min(CELLS), live.get("min_cell_v"), "min_cell_v", 0.0005)
t.close(max(CELLS), live.get("max_cell_v"), "max_cell_v", 0.0005)
temps = live.get("temperatures_c", {})
t.close(-3.5, temps.get("internal"), "internal temperature", 0.05)
t.close(18.7, temps.get("external_1"), "external 1 temperature", 0.05)
t.check("external_2" in temps and temps["external_2"] is None, "absent sensor is null")
t.check(live.get("status") == "charging", f"status charging (got {live.get('status')})")
t.check(live.get("balancing_active", [None])[2] is True and live["balancing_active"][0] is False,
        "balancing bit 2 -> cell 3")
t.check(live.get("lifetime_s") == 987654, "lifetime_s")

# ---- settings ----------------------------------------------------------------------------
rc, out, err = cli("settings", "--json")
t.check(rc == 0, f"settings exit 0 ({err!r})")
settings = {r["name"]: r for r in json.loads(out).get("registers", [])} if rc == 0 else {}
expect = {"fully_charged_voltage": 3600, "fully_discharged_voltage": 3000, "charge_finished_current": 1500,
          "battery_capacity": 280.0, "number_of_series_cells": N, "over_voltage_cutoff": 3800,
          "under_voltage_cutoff": 2700, "discharge_over_current_cutoff": 150, "charge_over_current_cutoff": 100,
          "over_heat_cutoff": 55, "low_temperature_charger_cutoff": -10, "pulses_per_unit": 100000,
          "automatic_recovery": 5}
for name, want in expect.items():
    t.close(want, settings.get(name, {}).get("value"), f"setting {name}", 1e-6)
t.check(settings.get("battery_capacity", {}).get("unit") == "Ah", "capacity unit Ah")
t.check(settings.get("low_temperature_charger_cutoff", {}).get("raw") == 0xFFF6, "negative setting raw 0xFFF6")

# ---- set writes the right raw value and reads it back -------------------------------------
writes0 = CountingContext.writes
rc, out, err = cli("set", "over_voltage_cutoff", "3750", "--json")
t.check(rc == 0, f"set over_voltage_cutoff 3750 exit 0 ({err!r})")
t.check(hr(315) == 3750, f"register 315 now 3750 (got {hr(315)})")
res = json.loads(out) if rc == 0 else {}
t.check(res.get("read_back") == 3750 and res.get("result") == "ok", f"read-back reported ({res})")
t.check(CountingContext.writes == writes0 + 1, "exactly one write")

rc, out, err = cli("set", "low_temperature_charger_cutoff", "-5")
t.check(rc == 0, f"set a negative value exit 0 ({err!r})")
t.check(hr(320) == (-5) & 0xFFFF, f"register 320 raw 0xFFFB (got {hr(320):#x})")

rc, out, err = cli("set", "battery_capacity", "300.5")
t.check(rc == 0 and hr(306) == 30050, f"capacity 300.5 Ah -> raw 30050 (got {hr(306)}, rc {rc})")

# ---- refused values never touch the bus -----------------------------------------------------
for args, why in [(("set", "over_voltage_cutoff", "4600"), "out of range"),
                  (("set", "over_voltage_cutoff", "3750.5"), "not a multiple of 1 mV"),
                  (("set", "pack_voltage", "50"), "read-only"),
                  (("set", "no_such_setting", "1"), "unknown name"),
                  (("set", "over_voltage_cutoff", "abc"), "not a number")]:
    time.sleep(0.3)  # let the server finish any request still in flight from the previous run
    r0, w0 = CountingContext.reads, CountingContext.writes
    rc, out, err = cli(*args)
    time.sleep(0.3)
    t.check(rc == 2, f"{why}: exit 2 (got {rc})")
    t.check(err.strip() != "", f"{why}: says why on stderr")
    t.check(CountingContext.reads == r0 and CountingContext.writes == w0, f"{why}: no bus traffic")
t.check(hr(315) == 3750, "register 315 unchanged by refused sets")

# a value in range but inconsistent with the other settings is refused after reading them
w0 = CountingContext.writes
rc, out, err = cli("set", "fully_charged_voltage", "3745")
t.check(rc == 2 and "over_voltage_cutoff" in err, f"cross-register rule refused ({rc}, {err!r})")
t.check(CountingContext.writes == w0 and hr(300) == 3600, "no write for the inconsistent value")

# ---- get -----------------------------------------------------------------------------------
rc, out, err = cli("get", "315", "--json")
t.check(rc == 0 and json.loads(out).get("value") == 3750, f"get 315 ({out!r})")
rc, out, err = cli("get", "state_of_charge", "--json")
t.check(rc == 0, "get a 32-bit register")
t.close(SOC, json.loads(out).get("value") if rc == 0 else None, "get state_of_charge", 1e-5)
rc, out, err = cli("version", "--json")
v = json.loads(out) if rc == 0 else {}
t.check(v.get("firmware_internal") == 242 and v.get("power_type") == "high_power_150a", f"version ({v})")

t.done()
