#!/usr/bin/python3
"""A broker that speaks only MQTT 3.1.1 (a small fake on a loopback port).

The gateway connects with MQTT 5 (for retain-as-published on its command topics, see
docs/mqtt.md "Commands"). A 3.1.1-only broker answers that CONNECT with "unacceptable protocol
version"; the gateway must then connect with 3.1.1, subscribe to its commands without the MQTT 5
subscription options (a 3.1.1 broker would take them as a malformed SUBSCRIBE), and warn that a
command published live with the retain flag cannot be told apart there.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import tbtest  # noqa: E402

C = tbtest.Checker("mqtt_v311")
DEV = "v311"


class FakeBroker:
    """Accepts MQTT 3.1.1 only; records each CONNECT's protocol level and each subscription."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.levels, self.subs, self.stop = [], [], False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read(c, n):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise EOFError
            b += d
        return b

    def _packet(self, c):
        b0 = self._read(c, 1)[0]
        n, mul = 0, 1
        while True:
            d = self._read(c, 1)[0]
            n += (d & 127) * mul
            mul *= 128
            if not d & 128:
                break
        return b0, self._read(c, n)

    def _serve(self, c):
        try:
            while True:
                b0, body = self._packet(c)
                t = b0 >> 4
                if t == 1:  # CONNECT: protocol name, then the level
                    nl = struct.unpack("!H", body[:2])[0]
                    level = body[2 + nl]
                    self.levels.append(level)
                    if level != 4:
                        c.sendall(b"\x20\x02\x00\x01")  # 3.1.1 CONNACK: unacceptable protocol version
                        return
                    c.sendall(b"\x20\x02\x00\x00")
                elif t == 8:  # SUBSCRIBE
                    pid, i, codes = body[:2], 2, b""
                    while i < len(body):
                        tl = struct.unpack("!H", body[i:i + 2])[0]
                        topic, opts = body[i + 2:i + 2 + tl].decode(), body[i + 2 + tl]
                        self.subs.append((topic, opts))
                        codes += bytes([min(opts & 3, 2) if opts <= 2 else 0x80])
                        i += 3 + tl
                    c.sendall(bytes([0x90, 2 + len(codes)]) + pid + codes)
                elif t == 3:  # PUBLISH
                    qos = (b0 >> 1) & 3
                    if qos:
                        tl = struct.unpack("!H", body[:2])[0]
                        pid = body[2 + tl:4 + tl]
                        c.sendall((b"\x40\x02" if qos == 1 else b"\x50\x02") + pid)
                elif t == 6:  # PUBREL
                    c.sendall(b"\x70\x02" + body[:2])
                elif t == 12:  # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif t == 14:  # DISCONNECT
                    return
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.srv.close()


def main():
    broker = FakeBroker()
    gw = tbtest.Gateway({"gateway": {"device_id": DEV},
                         "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port, "commands": True,
                                  "keepalive_s": 5}}).start()
    ok = tbtest.wait_for(lambda: "(MQTT 3.1.1)" in gw.log_text(), 20)
    C.check(ok is not None, "connected with MQTT 3.1.1 after the broker refused MQTT 5")
    C.check(broker.levels[:2] == [5, 4], f"CONNECT protocol levels {broker.levels} (5, then 4)")
    C.check("does not support MQTT 5" in gw.log_text(), "the fallback is logged")
    C.check("cannot be refused" in gw.log_text(), "the retained-command limitation is logged")
    tbtest.wait_for(lambda: any(t.endswith("/cmd/#") for t, _ in broker.subs), 5)
    cmd = [(t, o) for t, o in broker.subs if t == f"tinybms/{DEV}/cmd/#"]
    C.check(cmd == [(f"tinybms/{DEV}/cmd/#", 2)], f"commands subscribed with QoS 2 and no MQTT 5 options: {cmd}")
    gw.proc.terminate()
    C.check(gw.proc.wait(timeout=10) == 0, "orderly exit status 0")
    rep = gw.sanitizer_report()
    C.check(rep is None, f"sanitizer report: {rep}")
    broker.close()


if __name__ == "__main__":
    try:
        main()
    finally:
        tbtest.cleanup()
    C.done()
