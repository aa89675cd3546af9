# Front door. Every target installs the Debian packages it needs when they are missing.
#   make            build the gateway and tools into build/bin
#   make test       build and run every test (unit, integration, ASan/UBSan, TSan, fuzz smoke;
#                   the firmware in QEMU when IDF_PATH and ESP_QEMU are set)
#   make demo       run the gateway on a simulated battery with the web UI (PORT=8081, ARGS="...")
#   make bench      print performance figures (docs/performance.md)
#   make size       footprint of core/ on rv32imc (ESP32-C3 ISA) against its budget
#   make soak       a simulated week in process + the daemon for SOAK_SECONDS with RSS sampled
#   make fuzz       run every fuzzer for FUZZ_SECONDS each
#   make lint       clang-tidy + cppcheck over core/ and app/
#   make plot       docs/img/charge-cycle.png: a simulated charge cycle (docs/charge-control.md)
SHELL := /bin/bash
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# ctest runs more tests than cores: the integration tests mostly wait (timeouts, cadences, the
# daemon's sleeps); on 2 cores the plain suite takes 75 s at 6 at once against 228 s at 2, with the
# same CPU time. 2 x JOBS keeps the timing checks of the busiest tests away from starved CPUs.
TEST_JOBS ?= $(shell echo $$(( $(JOBS) * 2 )))
# Under the sanitizers the daemon soak runs shorter with fewer WebSocket clients: it is there for
# races and leaks under concurrency (its RSS bound is skipped under ASan/TSan anyway); the full
# 60 s with 200 clients runs in the plain build.
SAN_SOAK_ENV := TB_SOAK_SECONDS=20 TB_SOAK_WS_CLIENTS=32
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4
CMAKE_FLAGS ?=
TARGET_BUILD ?= $(BUILD)/target

.PHONY: firmware firmware-qemu firmware-wifi test-firmware all build deps-build deps-test deps-target deps-docs size test test-unit test-asan test-tsan test-fuzz fuzz demo lint plot clean install bench soak

PREFIX ?= /usr/local

all: build

deps-build:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test
deps-target:
	@scripts/deps.sh target
deps-docs:
	@scripts/deps.sh docs

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps-build $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Configured again here: a tree first configured by `make demo` (no cmocka yet) gains its tests.
# With an ESP-IDF and Espressif's QEMU in the environment (IDF_PATH, ESP_QEMU: e.g. the offline
# kit's env.sh, which .ci/run sources) the firmware is built first and the fw-* tests (label
# firmware, tests/firmware/) boot it in QEMU, two at a time after the host tests; without them
# they are skipped with one line.
FW_AVAILABLE = $(and $(IDF_PATH),$(ESP_QEMU))
test: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
ifneq ($(FW_AVAILABLE),)
	@# the firmware image builds at the lowest priority while the host tests run (they mostly wait
	@# on ptys, sockets and timers: the compiler takes the idle cores, never theirs); its log after
	@echo "make test: building the firmware (nice 19, log: $(BUILD)/firmware-build.log) during the host tests"
	@( nice -n 19 $(MAKE) --no-print-directory firmware-qemu >$(BUILD)/firmware-build.log 2>&1 & fw=$$!; \
	   ctest --test-dir $(BUILD) --output-on-failure -j$(TEST_JOBS) -LE firmware; rc=$$?; \
	   wait $$fw; frc=$$?; cat $(BUILD)/firmware-build.log; [ $$rc -eq 0 ] && [ $$frc -eq 0 ] )
	ctest --test-dir $(BUILD) --output-on-failure -j2 -L firmware
else
	@echo "make test: firmware tests skipped: no ESP-IDF (IDF_PATH/ESP_QEMU unset; see docs/porting.md)"
	ctest --test-dir $(BUILD) --output-on-failure -j$(TEST_JOBS) -LE firmware
endif
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory lint
	@echo "make test: all passed"

# The whole unit + integration suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	$(SAN_SOAK_ENV) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(TEST_JOBS) -LE firmware

# The integration suite (the real daemon and tools, several threads each, concurrent clients in
# the tests) and the unit tests of the threaded modules under ThreadSanitizer: any data race fails
# the test (halt_on_error, exit code 66; tbtest also scans the daemon's log for a report).
# Only what those tests run is built (the programs, the integration helpers, three unit tests).
TSAN_UNITS := cmdq api log
TSAN_TESTS ?= integ-|$(subst $(eval) ,|,$(addprefix unit-,$(TSAN_UNITS)))
# Not under TSan: three of the browser tests (integ-web_flows stays). Their daemon side is the same
# HTTP and WebSocket traffic that integ-ws, integ-hostile and integ-soak_daemon drive harder and
# concurrently, and they run under ASan; the time goes to make test's 15-minute budget.
TSAN_SKIP ?= integ-web$$|integ-web_truth|integ-web_dash
TSAN_TARGETS := $(patsubst ports/linux/bin/%.c,%,$(wildcard ports/linux/bin/*.c)) tinybms-sim \
  $(patsubst tests/integration/%.c,%,$(wildcard tests/integration/*.c)) $(addprefix test_,$(TSAN_UNITS))
test-tsan: deps-test
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TSAN=ON >/dev/null
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(TSAN_TARGETS)
	$(SAN_SOAK_ENV) TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -j$(TEST_JOBS) -R '$(TSAN_TESTS)' -E '$(TSAN_SKIP)' -LE firmware

$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON >/dev/null

# Each libFuzzer harness runs time-boxed from its checked-in corpus (new inputs go to a scratch dir).
test-fuzz: deps-test $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@scripts/run-fuzzers.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SMOKE_SECONDS)

fuzz: deps-test $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@scripts/run-fuzzers.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS)

# `make test-firmware`: only the fw-* tests (builds the host programs and the firmware first).
test-firmware: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	$(MAKE) --no-print-directory firmware-qemu
	ctest --test-dir $(BUILD) --output-on-failure -j2 -L firmware

# The ESP32 firmware (ports/esp-idf) for FW_TARGET with the ESP-IDF of $$IDF_PATH (5.1+) and its
# toolchain on PATH; build/firmware/<target>/ gets the app, bootloader, partition table and a
# merged 4 MB flash image (flash.bin) for QEMU or esptool. docs/porting.md.
# `make firmware-qemu`: the emulated board's image (Ethernet on QEMU's open_eth) that the fw-*
# tests and scripts/firmware-qemu.sh run; never flash it onto a board.
FW_TARGET ?= esp32c3
FW_BUILD ?= $(BUILD)/firmware/$(FW_TARGET)
firmware:
	@scripts/firmware-build.sh $(FW_TARGET) $(FW_BUILD)
firmware-qemu:
	@scripts/firmware-build.sh --qemu $(FW_TARGET) $(BUILD)/firmware/$(FW_TARGET)-qemu
# `make firmware-wifi`: the board image with Wi-Fi (station + setup access point); needs an ESP-IDF
# with its esp_wifi libraries (not the offline kit's: there `ctest -R fw-compile-wifi` compiles it).
firmware-wifi:
	@scripts/firmware-build.sh --wifi $(FW_TARGET) $(BUILD)/firmware/$(FW_TARGET)-wifi

# Footprint of core/ on rv32imc at -Os, per module and total, checked against
# tests/target/size-budget.txt (docs/performance.md). Same build tree as the host build's
# target-* tests; `scripts/size-report.sh --markdown $(TARGET_BUILD)` prints the docs table.
size: deps-target
	cmake -S tests/target -B $(TARGET_BUILD) -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/riscv32-picolibc.cmake >/dev/null
	cmake --build $(TARGET_BUILD) -j$(JOBS)
	@scripts/size-report.sh --check tests/target/size-budget.txt $(TARGET_BUILD)

lint: deps-test $(BUILD)/CMakeCache.txt
	@scripts/lint.sh $(BUILD)

# Performance figures (bench/run_bench.py): printed, and written into docs/performance.md.
bench: build
	@scripts/deps.sh bench
	@scripts/bench.sh $(BUILD) $(BENCH_ARGS)

# The long soak: a simulated week in process (tests/unit/test_soak.c with TB_SOAK_DAYS=7) and the
# real daemon against the simulator for SOAK_SECONDS with its RSS sampled. make test runs short
# versions of both.
SOAK_SECONDS ?= 300
soak: deps-test build
	TB_SOAK_DAYS=7 $(BUILD)/tests/test_soak
	TB_SOAK_SECONDS=$(SOAK_SECONDS) TB_BIN_DIR=$(CURDIR)/$(BUILD)/bin TB_SRC_DIR=$(CURDIR) \
	  /usr/bin/python3 tests/integration/test_soak_daemon.py

# make demo PORT=8081: the web UI on 127.0.0.1:8081 instead of 8080; make demo ARGS="...": any
# other tinybms-gateway options (e.g. ARGS="--log-level debug --state-dir state/demo2").
demo: deps-build build
	@scripts/demo.sh $(BUILD) $(if $(PORT),--http 127.0.0.1:$(PORT)) $(ARGS)

# Installs the programs, the systemd unit and the docs (run as root).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/systemd/system $(DESTDIR)$(PREFIX)/share/doc/tinybms-gateway
	install -m 0755 $(BUILD)/bin/tinybms-gateway $(BUILD)/bin/tinybms-cli $(BUILD)/bin/tinybms-sim \
	  $(BUILD)/bin/victron-can-decode $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 packaging/systemd/tinybms-gateway.service $(DESTDIR)/etc/systemd/system/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/tinybms-gateway/
	@if [ -d web ]; then install -d $(DESTDIR)$(PREFIX)/share/tinybms-gateway && cp -r web/. $(DESTDIR)$(PREFIX)/share/tinybms-gateway/web/; fi

# The figure of docs/charge-control.md: the simulator and the gateway cycle in one process
# (build/tests/charge_cycle, default configuration, 20 % -> float), plotted with matplotlib.
# Not part of `make test`; commit the regenerated PNG.
plot: deps-docs build
	$(BUILD)/tests/charge_cycle > $(BUILD)/charge-cycle.csv
	/usr/bin/python3 scripts/plot-charge-cycle.py $(BUILD)/charge-cycle.csv docs/img/charge-cycle.png
	@echo "make plot: docs/img/charge-cycle.png written"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
