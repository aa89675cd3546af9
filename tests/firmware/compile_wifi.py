#!/usr/bin/python3
"""ctest fw-compile-wifi: the Wi-Fi firmware (Kconfig TB_NET_WIFI) compiles against ESP-IDF's
headers, and a type error in it fails the test.

The kit (../shared/esp-kit) has esp_wifi's headers but not its binary libraries, so the Wi-Fi image
cannot be linked here. This test configures the Wi-Fi build (cmake -DTB_WIFI=1 with
sdkconfig.wifi: esp_wifi in the build, CONFIG_TB_NET_WIFI=y), then compiles every source of the
firmware's main component with the exact command of that build's compile_commands.json (the same
flags, includes and sdkconfig.h as the build, -Werror included) into a temporary directory; no
link. Then it proves it would catch a mistake: two deliberately broken copies of wifi.c (a struct
passed where esp_wifi_set_config wants a pointer; a field that wifi_config_t does not have) must
each fail to compile with the compiler's diagnostic.

Without IDF_PATH: one line and exit 77 (ctest: skipped). Needs TB_SRC_DIR and TB_BUILD_DIR.
"""
import json
import re
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

NAME = "fw-compile-wifi"


def main():
    idf = os.environ.get("IDF_PATH", "")
    if not idf or not os.path.isfile(os.path.join(idf, "tools/cmake/project.cmake")):
        print(f"{NAME}: skipped: no ESP-IDF (IDF_PATH unset; source ../shared/esp-kit/env.sh)")
        return 77
    src = os.environ.get("TB_SRC_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
    build = os.environ.get("TB_BUILD_DIR") or os.path.join(src, "build")
    out = os.path.join(build, "firmware", "esp32c3-wifi-compile")
    os.makedirs(out, exist_ok=True)
    port = os.path.join(src, "ports", "esp-idf")
    defaults = ";".join(os.path.join(port, f) for f in ("sdkconfig.defaults", "sdkconfig.defaults.esp32c3",
                                                         "sdkconfig.wifi"))
    py = os.environ.get("ESP_KIT_PYTHON", "/usr/bin/python3")
    t0 = time.monotonic()
    # a fresh sdkconfig each time: the Wi-Fi choice must come from the defaults files
    for f in ("sdkconfig", "sdkconfig.old"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    r = subprocess.run(["cmake", "-G", "Ninja", "-S", port, "-B", out, "-DIDF_TARGET=esp32c3", f"-DPYTHON={py}",
                        "-DPYTHON_DEPS_CHECKED=1", "-DTB_WIFI=1", f"-DSDKCONFIG={out}/sdkconfig",
                        f"-DSDKCONFIG_DEFAULTS={defaults}"], capture_output=True, text=True)
    if r.returncode != 0:
        print((r.stdout + r.stderr)[-3000:])
        print(f"{NAME}: FAIL: cmake could not configure the Wi-Fi build")
        return 1
    sdk = open(os.path.join(out, "sdkconfig")).read()
    for want in ("CONFIG_TB_NET_WIFI=y", "CONFIG_ESP_WIFI_ENABLED=y"):
        if want not in sdk.splitlines():
            print(f"{NAME}: FAIL: {want} is not in the Wi-Fi build's sdkconfig")
            return 1
    t_cfg = time.monotonic() - t0
    cmds = json.load(open(os.path.join(out, "compile_commands.json")))
    main_dir = os.path.join(port, "main") + os.sep
    jobs = [e for e in cmds if e["file"].startswith(main_dir) and e["file"].endswith(".c")]
    names = sorted(os.path.basename(e["file"]) for e in jobs)
    if "wifi.c" not in names or "net.c" not in names:
        print(f"{NAME}: FAIL: wifi.c / net.c not in the build's compile commands: {names}")
        return 1
    tmp = tempfile.mkdtemp(prefix="tb-wifi-cc-")
    try:
        def command(entry, source, obj):
            argv = shlex.split(entry["command"])
            o = argv.index("-o")
            argv[o + 1] = obj
            argv = [source if a == entry["file"] else a for a in argv]
            # the dependency file (-MF) of the real build is not ours to write
            if "-MF" in argv:
                i = argv.index("-MF")
                argv[i + 1] = obj + ".d"
            return argv

        # every source of the firmware's main component, two at a time
        procs, failed = [], []
        for e in jobs:
            obj = os.path.join(tmp, os.path.basename(e["file"]) + ".o")
            procs.append((e, obj, subprocess.Popen(command(e, e["file"], obj), cwd=e["directory"],
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
            while sum(1 for _, _, p in procs if p.poll() is None) >= 2:
                time.sleep(0.05)
        for e, obj, p in procs:
            log, _ = p.communicate()
            if p.returncode != 0:
                failed.append(os.path.basename(e["file"]))
                print(log[-4000:])
        if failed:
            print(f"{NAME}: FAIL: the Wi-Fi build does not compile: {', '.join(failed)}")
            return 1
        nm = shutil.which("riscv64-unknown-elf-nm") or shutil.which("riscv32-esp-elf-nm")
        if nm:
            syms = subprocess.run([nm, os.path.join(tmp, "wifi.c.o")], capture_output=True, text=True).stdout
            if " T wifi_start" not in syms or " T wifi_http_register" not in syms:
                print(f"{NAME}: FAIL: wifi.c compiled to an object without wifi_start/wifi_http_register "
                      "(was CONFIG_TB_NET_WIFI off?)")
                return 1
        t_ok = time.monotonic() - t0

        # the same command on broken copies must fail
        wifi = next(e for e in jobs if e["file"].endswith(os.sep + "wifi.c"))
        text = open(wifi["file"]).read()
        broken = [
            ("a struct where a pointer is wanted", "esp_wifi_set_config(WIFI_IF_AP, &c)",
             "esp_wifi_set_config(WIFI_IF_AP, c)", "incompatible type for argument 2"),
            ("a field wifi_config_t does not have", "c.ap.max_connection = AP_MAX_CLIENTS;",
             "c.ap.max_clients = AP_MAX_CLIENTS;", "has no member named 'max_clients'"),
        ]
        for what, old, new, diag in broken:
            if old not in text:
                print(f"{NAME}: FAIL: wifi.c no longer contains {old!r}: update the negative case ({what})")
                return 1
            bad_dir = os.path.join(tmp, "bad")
            os.makedirs(bad_dir, exist_ok=True)
            bad = os.path.join(bad_dir, "wifi.c")
            with open(bad, "w") as f:
                f.write(text.replace(old, new, 1))
            r = subprocess.run(command(wifi, bad, os.path.join(bad_dir, "wifi.o")), cwd=wifi["directory"],
                               capture_output=True, text=True)
            log = re.sub(r"\x1b\[[0-9;]*[mK]", "", r.stdout + r.stderr)
            if r.returncode == 0:
                print(f"{NAME}: FAIL: a broken wifi.c ({what}) compiled: the test would not catch a type error")
                return 1
            if diag not in log.replace("\u2018", "'").replace("\u2019", "'"):
                print(log[-3000:])
                print(f"{NAME}: FAIL: a broken wifi.c ({what}) failed, but not with \"{diag}\"")
                return 1
            print(f"{NAME}: broken copy refused as it should be ({what}): {diag}")
        print(f"{NAME}: PASS: {len(jobs)} sources of the Wi-Fi firmware compiled (configure {t_cfg:.1f} s, "
              f"compile {t_ok - t_cfg:.1f} s); 2 broken copies of wifi.c refused; not linked (no esp_wifi "
              "libraries in this ESP-IDF)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
