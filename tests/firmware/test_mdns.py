#!/usr/bin/python3
"""fw-mdns: the firmware answers mDNS for tinybms-XXXX.local and announces its web UI (lwIP's own
responder, Kconfig TB_MDNS, on by default; skipped for an image built without it; docs/porting.md
"mDNS"; issue 19 part 4).

lwIP's responder answers only once it has finished probing the name, and it finishes only when
its probes go out on IPv4 and IPv6: the answers below also show that the interface got its IPv6
link-local address. The image without it (the 2026-12-07 one) probed every 250 ms for ever (214
probes in 28 s, counted with lwIP's MDNS_DEBUG) and failed the three answer checks.

QEMU's user network does not carry multicast, so a browser's multicast query cannot reach the
guest here; the rig forwards a host UDP port to the guest's 5353 instead, and this test sends
"legacy unicast" queries (RFC 6762 section 6.7: from a port other than 5353, answered by unicast to
the sender), which lwIP's responder answers like multicast ones. Checks:
  - the console names the host, tinybms-XXXX.local (XXXX from the Ethernet MAC);
  - an A query for it is answered with the guest's address 10.0.2.15, with the query's id;
  - a PTR query for _http._tcp.local names the instance "TinyBMS gateway._http._tcp.local", and
    an SRV query for that instance gives the web server's port 80 on tinybms-XXXX.local;
  - a query for another name gets no answer;
  - after the largest answers (ANY for the instance and the name, the service enumeration), lwIP's
    task tiT, on which the responder runs, still has TIT_MARGIN bytes of its stack never used
    (GET /api/system): with the 2.5 kB stack it had before mDNS, 154 were left."""
import os
import re
import socket
import sys
import struct
import time

import fwrig

A, PTR, SRV, ANY = 1, 12, 33, 255
TIT_MARGIN = 768  # bytes of tiT's stack never used after the answers (1 178 measured with 3.5 kB)


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, i):
    labels, jumped, end = [], False, i
    for _ in range(64):
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = i + 2
            jumped = True
            i = ((n & 0x3F) << 8) | msg[i + 1]
            continue
        labels.append(msg[i + 1:i + 1 + n].decode(errors="replace"))
        i += n + 1
    return ".".join(labels), (end if jumped else i)


def query(port, name, qtype, qid, timeout=1.0):
    """Answers [(name, type, rdata bytes, rdata offset, msg)] to one legacy unicast query, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, 1),
                 ("127.0.0.1", port))
        msg, _ = s.recvfrom(2048)
    except OSError:
        return None
    finally:
        s.close()
    rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        return []
    i = 12
    for _ in range(qd):
        _, i = read_name(msg, i)
        i += 4
    out = []
    for _ in range(an + ns + ar):
        rname, i = read_name(msg, i)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        out.append((rname, rtype, msg[i:i + rdlen], i, msg))
        i += rdlen
    return out


def ask(port, name, qtype, qid, tries=10):
    """The answers (probing takes the responder about a second after the address comes)."""
    for _ in range(tries):
        r = query(port, name, qtype, qid)
        if r:
            return r
        time.sleep(0.5)
    return r


def main(rig):
    C = rig.C
    b, st = rig.boot()
    if st is None:
        return
    m = re.search(r"mDNS: (tinybms-[0-9a-f]{4})\.local", b.console())
    C.check(m is not None, "the console names the gateway's mDNS host, tinybms-XXXX.local")
    if not m:
        return
    host = m.group(1) + ".local"
    ans = ask(b.mdns_port, host, A, 0x4A01) or []
    addrs = [socket.inet_ntoa(r[2]) for r in ans if r[1] == A and len(r[2]) == 4 and r[0].lower() == host]
    C.check(addrs == ["10.0.2.15"], f"A {host}: the guest's address 10.0.2.15 ({addrs}; {len(ans)} records)")

    ans = ask(b.mdns_port, "_http._tcp.local", PTR, 0x4A02) or []
    inst = [read_name(r[4], r[3])[0] for r in ans if r[1] == PTR]
    C.check("TinyBMS gateway._http._tcp.local" in inst, f"PTR _http._tcp.local names the web UI's instance: {inst}")
    ans = ask(b.mdns_port, "TinyBMS gateway._http._tcp.local", SRV, 0x4A03) or []
    srv = [(struct.unpack(">HHH", r[2][:6])[2], read_name(r[4], r[3] + 6)[0]) for r in ans if r[1] == SRV]
    C.check((80, host) in srv, f"SRV of the instance: port 80 on {host} ({srv})")

    other = query(b.mdns_port, "someone-else.local", A, 0x4A04, timeout=1.5)
    C.check(not other, f"no answer for another name ({other})")

    # the responder runs on lwIP's task: after its largest answers (every record of the instance,
    # the service enumeration) that task keeps a margin (a stack overflow there restarts the
    # gateway; 154 bytes were left when tiT had 2.5 kB)
    for qid, (name, qtype) in enumerate((("TinyBMS gateway._http._tcp.local", ANY),
                                          ("_services._dns-sd._udp.local", PTR), (host, ANY)), 0x4A10):
        query(b.mdns_port, name, qtype, qid, timeout=1.0)
    code, doc = b.get("/api/system")
    tit = (doc.get("platform") or {}).get("task_stack_free_bytes", {}).get("tiT") if isinstance(doc, dict) else None
    print(f"tiT stack never used after the answers: {tit} bytes", flush=True)
    C.check(isinstance(tit, int) and tit >= TIT_MARGIN,
            f"lwIP's task kept at least {TIT_MARGIN} bytes of its stack after the mDNS answers ({tit})")
    rig.check_no_crash(b)


if __name__ == "__main__":
    sdk = os.path.join(os.path.dirname(fwrig.IMAGE), "sdkconfig")
    if not os.path.isfile(sdk) or "CONFIG_TB_MDNS=y" not in open(sdk).read().splitlines():
        print("skipped: the image was built without Kconfig TB_MDNS (menuconfig: TinyBMS gateway > mDNS)", flush=True)
        sys.exit(fwrig.SKIP)
    fwrig.run(main, lambda: fwrig.Rig("fw-mdns"))
