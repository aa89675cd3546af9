#!/usr/bin/python3
"""fw-mqtt: the firmware's MQTT client (esp-mqtt, ports/esp-idf/main/mqtt_service.c) against a real
broker: a Debian mosquitto on a free loopback port of the host, which the guest reaches through
QEMU's slirp as 10.0.2.2; Debian's mosquitto_sub watches everything.

- MQTT is enabled through the API (setup code from the console, then PUT /api/config): no restart.
- The device id comes from the simulated TinyBMS's serial number (24 hex digits).
- The availability topic holds "online", retained.
- The Home Assistant discovery documents are retained under homeassistant/: valid JSON, one per
  measurement and one per cell of the simulated pack, each reading <base>/state and tied to
  <base>/availability.
- The state document (retained, every mqtt.state_interval_s) has the simulator's SOC and pack
  voltage, and the same top-level fields as GET /api/status.
- A command is refused while mqtt.commands is false (the default): 403 on <base>/cmd/result with the
  request's id, and nothing changes (CAN keeps transmitting).
- A stalled broker (SIGSTOP for 8 s) never stops the CAN output (the status's frame counter, and
  0x351 in QEMU's CAN log with no gap of GAP_MAX) nor the views; publishing resumes after it
  continues.
- QEMU killed (SIGKILL: the connection ends without DISCONNECT): the broker publishes the last
  will, "offline", retained.
The free heap with MQTT connected (GET /api/system "platform") is printed.

Exits 77 with one line when ESP_QEMU/ESP_QEMU_BIOS are unset, the image is missing or mosquitto
is not installed. Run with Debian's /usr/bin/python3 (python3-requests)."""
import json
import re
import time

import fwrig

tbtest = fwrig.tbtest
INTERVAL_S = 2
KEEPALIVE_S = 5
CELLS = 12
# s between two 0x351 on the bus: the bound can.fast_period_ms (1 s) guarantees, plus QEMU's slack, as
# fw-stall_http's (with the simulator it also goes out after each fresh snapshot, ~10 a second)
GAP_MAX = 1.5
STATE_KEYS = {"seq", "time_ms", "uptime_s", "bms", "limits", "alarms", "link", "can", "gx", "energy"}


def main(rig):
    C = rig.C
    broker = tbtest.Broker().start()
    sub = tbtest.Subscriber(broker.port)
    b, st = rig.boot(timeout=60)
    if st is None:
        return

    # ---- MQTT on through the API (no restart) --------------------------------------------------
    if not C.check(b.setup_code() is not None, "the console printed the setup code"):
        return
    s = fwrig.admin(rig, b, timeout=20)
    if s is None:
        return
    cfg = {"mqtt": {"enabled": True, "host": "10.0.2.2", "port": broker.port, "state_interval_s": INTERVAL_S,
                    "keepalive_s": KEEPALIVE_S}}
    res = fwrig.put_config(rig, s, cfg, "mqtt on", timeout=20)
    C.check(res is None or res["result"]["restart_required"] == [], "the mqtt keys apply without a restart")
    t_cfg = time.monotonic()

    # ---- availability, device id --------------------------------------------------------------
    online = sub.wait_for(lambda m: m[1].endswith("/availability") and m[3] == "online", 30)
    if not C.check(online is not None, "availability \"online\" reaches the broker within 30 s of the change"):
        return
    print(f"online {online[0] - t_cfg:.1f} s after PUT /api/config", flush=True)
    base = online[1][: -len("/availability")]
    dev = base.split("/", 1)[1] if base.startswith("tinybms/") else ""
    C.check(re.fullmatch(r"[0-9a-f]{24}", dev) is not None,
            f"base topic tinybms/<device id> with the id from the BMS serial number: {base}")
    node = f"tinybms_{dev}"
    time.sleep(3 * INTERVAL_S)  # discovery, state and alarms go out meanwhile
    held = tbtest.retained(broker.port, "#", settle=1.5)
    C.check(held.get(f"{base}/availability") == "online", f"availability retained \"online\": "
                                                            f"{held.get(f'{base}/availability')!r}")

    # ---- Home Assistant discovery -----------------------------------------------------------------
    disc = {t: p for t, p in held.items() if t.startswith("homeassistant/") and f"/{node}/" in t and p}
    C.check(len(disc) >= 30, f"discovery documents retained under homeassistant/: {len(disc)}")
    docs = {}
    for t, p in disc.items():
        try:
            docs[t] = json.loads(p)
        except ValueError:
            C.check(False, f"{t}: valid JSON: {p[:120]!r}")
    for obj in ["soc", "pack_voltage", "pack_current", "cvl", "ccl", "dcl"] + [f"cell_{i:02d}" for i in range(1, CELLS + 1)]:
        t = f"homeassistant/sensor/{node}/{obj}/config"
        C.check(t in docs, f"discovery: {t}")
    C.check(f"homeassistant/sensor/{node}/cell_{CELLS + 1:02d}/config" not in docs,
            f"discovery: no sensor for a cell beyond the pack's {CELLS}")
    bad = []
    for t, d in docs.items():
        avail = json.dumps(d.get("availability", d.get("availability_topic", "")))
        if d.get("state_topic") != f"{base}/state" or f"{base}/availability" not in avail or \
                not d.get("unique_id", "").startswith(node) or node not in json.dumps(d.get("device", {})):
            bad.append(t)
    C.check(not bad, f"every discovery document reads {base}/state, is tied to {base}/availability and to "
                     f"device {node}: wrong ones {bad[:3]}")

    # ---- state against the simulator -----------------------------------------------------------
    C.check(f"{base}/state" in held, f"{base}/state is retained")
    n0 = sub.count()
    m = sub.wait_for(lambda m: m[1] == f"{base}/state", INTERVAL_S + 3, n0)
    truth = rig.ctl.truth()
    if C.check(m is not None, f"a new state document within {INTERVAL_S + 3} s (mqtt.state_interval_s {INTERVAL_S})"):
        state = json.loads(m[3])
        C.check(STATE_KEYS <= set(state), f"state has the fields of /api/status: missing {STATE_KEYS - set(state)}")
        bms = state.get("bms", {})
        C.close(truth["bms_soc"], bms.get("soc_pct"), "state SOC vs the simulator", 0.5)
        C.close(truth["pack_v"], bms.get("pack_voltage_v"), "state pack voltage vs the simulator", 0.1)
        C.check(bms.get("cell_count") == CELLS, f"state cell count {bms.get('cell_count')} = {CELLS}")
        later = sub.wait_for(lambda m: m[1] == f"{base}/state", INTERVAL_S + 3, sub.count())
        C.check(later is not None and json.loads(later[3])["seq"] > state["seq"],
                "the state document keeps coming with newer views")

    # ---- a command while mqtt.commands is false -----------------------------------------------
    n0 = sub.count()
    tbtest.mqtt_publish(broker.port, f"{base}/cmd/can/shadow", '{"on": true, "id": "fw-1"}')
    m = sub.wait_for(lambda m: m[1] == f"{base}/cmd/result" and m[3] and json.loads(m[3]).get("id") == "fw-1", 15, n0)
    res = json.loads(m[3]) if m else None
    C.check(res is not None and res.get("status") == 403 and res.get("command") == "can/shadow",
            f"can/shadow refused with 403 while mqtt.commands is false: {res}")
    n0 = sub.count()
    tbtest.mqtt_publish(broker.port, f"{base}/cmd/bms/set", '{"name": "nope", "value": 1, "id": 7}')
    m = sub.wait_for(lambda m: m[1] == f"{base}/cmd/result" and m[3] and json.loads(m[3]).get("id") == 7, 15, n0)
    C.check(m is not None and json.loads(m[3]).get("status") == 403, f"bms/set refused too: {m and m[3]}")
    time.sleep(1)
    _, st = b.get("/api/status")
    C.check(isinstance(st, dict) and st.get("can", {}).get("mode") == "transmitting",
            f"CAN still transmitting after the refused commands: {isinstance(st, dict) and st.get('can', {}).get('mode')}")
    stats = sub.wait_for(lambda m: m[1] == f"{base}/mqtt" and m[3] and json.loads(m[3])["commands"]["refused"] >= 2,
                         10, 0)
    C.check(stats is not None, f"{base}/mqtt counts the refused commands")

    # ---- a stalled broker never stops the CAN output ------------------------------------------
    STALL_S = 8
    samples = []
    _, sysinfo = b.get("/api/system")
    heap_before = (sysinfo.get("platform") or {}).get("heap_free_bytes") if isinstance(sysinfo, dict) else None
    broker.pause()  # SIGSTOP: TCP still accepted by the host's kernel, nothing answered
    t_stall = time.monotonic()
    try:
        while time.monotonic() - t_stall < STALL_S:
            _, st = b.get("/api/status", timeout=2)
            if isinstance(st, dict):
                samples.append((time.monotonic(), st.get("can", {}).get("tx_frames", 0), st.get("seq", 0)))
            time.sleep(0.5)
    finally:
        broker.resume()
    # when each status read first showed more frames sent than the one before
    seen = [samples[i][0] for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    marks = [t_stall] + seen + [t_stall + STALL_S]
    longest = max(b2 - a for a, b2 in zip(marks, marks[1:]))
    C.check(len(samples) >= STALL_S, f"the web answered during the {STALL_S} s stall ({len(samples)} status reads)")
    C.check(len(seen) >= STALL_S and longest < 2.0,
            f"CAN frames kept going out while the broker was stopped: {len(seen)} reads saw new frames, longest "
            f"time without one {longest:.1f} s")
    # and on the bus itself (the CAN log of fwrig's Boot), not only by the firmware's own counter
    f351 = [f[0] for f in b.can.since(t_stall, 0x351) if f[0] <= t_stall + STALL_S]
    gap = tbtest.max_gap(f351, t_stall, t_stall + STALL_S)
    C.check(gap < GAP_MAX, f"0x351 on the bus all through the stall (QEMU's CAN log): {len(f351)} frames, longest gap "
                           f"{gap:.1f} s (limit {GAP_MAX} s)")
    C.check(len(samples) >= 2 and samples[-1][2] > samples[0][2], "views kept being published during the stall")
    n0 = sub.count()
    m = sub.wait_for(lambda m: m[1] == f"{base}/state", 40, n0)
    C.check(m is not None, "state documents reach the broker again after it resumed (within 40 s)")
    if m:
        print(f"state again {m[0] - (t_stall + STALL_S):.1f} s after the broker resumed", flush=True)

    # ---- heap with MQTT connected, then the last will -----------------------------------------
    time.sleep(3)  # what was in flight when the broker resumed is acknowledged
    _, sysinfo = b.get("/api/system")
    pf = sysinfo.get("platform") if isinstance(sysinfo, dict) else None
    if pf:
        print(f"heap free with MQTT connected: {heap_before} bytes before the stall, {pf.get('heap_free_bytes')} after "
              f"(lowest {pf.get('heap_min_free_bytes')}); "
              f"stacks never used: {pf.get('task_stack_free_bytes')}", flush=True)
    rig.check_no_crash(b)
    n0 = sub.count()
    t_kill = time.monotonic()
    b.kill()
    m = sub.wait_for(lambda m: m[1] == f"{base}/availability" and m[3] == "offline", 3 * KEEPALIVE_S + 10, n0)
    C.check(m is not None, f"QEMU killed: the broker publishes the last will \"offline\" (keep-alive {KEEPALIVE_S} s)")
    if m:
        print(f"last will {m[0] - t_kill:.1f} s after QEMU was killed", flush=True)
        C.check(tbtest.retained(broker.port, f"{base}/availability").get(f"{base}/availability") == "offline",
                "availability retained \"offline\"")
    sub.close()


if __name__ == "__main__":
    fwrig.require_qemu(("mosquitto", "mosquitto_sub", "mosquitto_pub"), "Debian mosquitto, mosquitto-clients; scripts/deps.sh test")
    fwrig.run(main, lambda: fwrig.Rig("fw-mqtt", "--cells", str(CELLS)))
