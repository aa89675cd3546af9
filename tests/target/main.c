/* The target test image: the core's golden-vector tests on rv32imc under QEMU.
 *
 *   qemu-system-riscv32 -M virt -bios none -semihosting-config enable=on,target=native \
 *       -kernel core-vectors.elf            (tests/target/run-qemu.sh adds the rest)
 *
 * Exit status (semihosting SYS_EXIT_EXTENDED): 0 all passed, 1 a case failed, 2 CPU trap.
 * With the argument --fail-selftest one deliberately failing case is added, so that ctest
 * target-exit-status proves a failure really reaches QEMU's exit status; with --trap-selftest
 * the image executes an illegal instruction, and target-trap-status sees the trap reported.
 *
 * To add a golden-vector file tests/vectors/x_vectors.c: it is compiled in by glob; write
 * t_x_vectors() in tests/target/t_x.c, declare it in tests.h and add one line below. */
#include <string.h>

#include "core/bms.h"
#include "core/charge.h"
#include "core/jw.h"
#include "core/tb_poll.h"
#include "core/tb_proto.h"
#include "tests.h"

static const tt_case_t k_cases[] = {
    {"crc16_check_value", t_crc16_check_value},
    {"tb_vectors_requests", t_tb_vectors_requests},
    {"tb_vectors_replies", t_tb_vectors_replies},
    {"jw_output", t_jw_output},
    {"cfg_schema", t_cfg_schema},
    {"bms_decode_14s", t_bms_decode_14s},
    {"tb_regs", t_tb_regs},
    {"poll_round_trip", t_poll_round_trip},
    {"vcan_vectors", t_vcan_vectors},
    {"charge_vectors", t_charge_vectors},
    {"charge_scenario", t_charge_scenario},
};

static void fail_selftest(void)
{
    TT_EQ(1 + 1, 3);
}

static const tt_case_t k_selftest[] = {
    {"fail_selftest (deliberate failure)", fail_selftest},
};

static void put_size(const char *name, size_t n)
{
    tt_puts(" ");
    tt_puts(name);
    tt_puts("=");
    tt_put_uint(n);
}

void tt_entry(void);
void tt_entry(void)
{
    const char *cmd = tt_cmdline();
    tt_puts("core-vectors: rv32imc/ilp32, picolibc, QEMU virt; args \"");
    tt_puts(cmd);
    tt_puts("\"\n");
    /* caller-owned state of the core on a 32-bit target (docs/porting.md) */
    tt_puts("state sizes (bytes):");
    put_size("tb_poll_t", sizeof(tb_poll_t));
    put_size("tb_rx_t", sizeof(tb_rx_t));
    put_size("bms_snapshot_t", sizeof(bms_snapshot_t));
    put_size("jw_t", sizeof(jw_t));
    put_size("chg_st_t", sizeof(chg_st_t));
    put_size("chg_limits_t", sizeof(chg_limits_t));
    tt_puts("\n");

    if (strstr(cmd, "--trap-selftest") != NULL) {
        tt_puts("trap self-test: executing an illegal instruction\n");
        __asm__ volatile("unimp");
    }
    unsigned failed = tt_run(k_cases, sizeof k_cases / sizeof k_cases[0]);
    if (strstr(cmd, "--fail-selftest") != NULL) {
        failed += tt_run(k_selftest, 1);
    }
    tt_exit(failed == 0 ? 0 : 1);
}
