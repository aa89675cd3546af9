#!/usr/bin/python3
"""ctest fw-compile-pins: a firmware whose menuconfig pins clash does not build.

main.c refuses, with #error, UART/CAN pins that are not four different GPIOs and pins that drive
the chip's flash (ESP32-C3 GPIO12..17, ESP32-S3 GPIO26..32): a board flashed with such an image
would never reach the BMS or the bus, or would not boot. This test compiles main.c with the exact
command of the QEMU image's build (compile_commands.json of build/firmware/esp32c3-qemu, made by
`make firmware-qemu` before the firmware tests) against edited copies of its sdkconfig.h: the
shipped pins must compile; a CAN RX on the UART RX pin and a CAN RX on GPIO14 must each fail with
their own message.

Without IDF_PATH or the build: one line and exit 77 (ctest: skipped). Needs TB_BUILD_DIR.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

NAME = "fw-compile-pins"


def main():
    if not os.environ.get("IDF_PATH"):
        print(f"{NAME}: skipped: no ESP-IDF (IDF_PATH unset; source ../shared/esp-kit/env.sh)")
        return 77
    src = os.environ.get("TB_SRC_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
    build = os.path.join(os.environ.get("TB_BUILD_DIR") or os.path.join(src, "build"), "firmware", "esp32c3-qemu")
    db = os.path.join(build, "compile_commands.json")
    if not os.path.isfile(db):
        print(f"{NAME}: skipped: {db} is missing (make firmware-qemu)")
        return 77
    cc = [c for c in json.load(open(db)) if c["file"].endswith("/main/main.c")]
    if len(cc) != 1:
        print(f"{NAME}: FAIL: main.c is not in {db}")
        return 1
    cc = cc[0]
    config = os.path.join(build, "config")
    header = open(os.path.join(config, "sdkconfig.h")).read()
    rx = re.search(r"#define CONFIG_TB_CAN_RX_GPIO (\d+)", header)
    uart_rx = re.search(r"#define CONFIG_TB_UART_RX_GPIO (\d+)", header)
    if not rx or not uart_rx:
        print(f"{NAME}: FAIL: the pins are not in {config}/sdkconfig.h")
        return 1
    cases = [
        ("the shipped pins", None, None),
        (f"CAN RX on the UART RX pin (GPIO{uart_rx.group(1)})", uart_rx.group(1), "four different GPIOs"),
        ("CAN RX on GPIO14 (the ESP32-C3's flash)", "14", "GPIO12..17 of the ESP32-C3 drive its flash"),
    ]
    failed = 0
    for what, pin, want in cases:
        with tempfile.TemporaryDirectory(prefix="tb-pins-") as d:
            text = header if pin is None else header.replace(rx.group(0), f"#define CONFIG_TB_CAN_RX_GPIO {pin}")
            open(os.path.join(d, "sdkconfig.h"), "w").write(text)
            cmd = cc["command"].replace(f"-I{config} ", f"-I{d} ")
            if f"-I{d} " not in cmd:
                print(f"{NAME}: FAIL: the build's config include ({config}) is not in main.c's command")
                return 1
            cmd = re.sub(r" -o \S+", f" -o {d}/main.o", cmd).replace(" -MD ", " ")
            cmd = re.sub(r" -M[TF] \S+", "", cmd)
            r = subprocess.run(cmd, shell=True, cwd=cc["directory"], capture_output=True, text=True)
            if want is None:
                ok = r.returncode == 0
                print(f"{NAME}: {what}: {'compiled' if ok else 'FAILED to compile'}")
                if not ok:
                    print(r.stderr[-2000:])
            else:
                ok = r.returncode != 0 and want in r.stderr
                print(f"{NAME}: {what}: {'refused: ' + want if ok else 'NOT refused as it should be'}")
                if not ok:
                    print(r.stderr[-2000:])
            failed += not ok
    print(f"{NAME}: {'PASS' if not failed else 'FAIL'}: {len(cases) - failed}/{len(cases)} cases")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
