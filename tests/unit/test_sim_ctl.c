/* Unit tests of the simulator's control channel (sim/sim_ctl.h): every command, and that a
 * refused command answers "error: ..." and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim.h"
#include "sim/sim_ctl.h"

static sim_t g_sim;
static sim_ctl_t g_ctl;
static char g_out[SIM_CTL_OUT_MAX];
static uint32_t g_now;

static int setup(void **state)
{
    (void)state;
    sim_config_t c;
    sim_config_default(&c);
    c.cells = 8;
    c.start_ms = 0;
    g_now = 0;
    assert_int_equal(sim_init(&g_sim, &c), SIM_OK);
    sim_ctl_init(&g_ctl, &g_sim, true);
    return 0;
}

static int run(const char *line)
{
    int rc = sim_ctl_exec(&g_ctl, line, g_now, g_out, sizeof g_out);
    assert_null(strchr(g_out, '\n'));
    return rc;
}

static void ok(const char *line)
{
    int rc = run(line);
    if (rc != SIM_CTL_OK) {
        fail_msg("'%s' -> %d %s", line, rc, g_out);
    }
}

/* The command is refused with an error line, and the model's state is unchanged. */
static void refused(const char *line)
{
    static char before[SIM_CTL_OUT_MAX], after[SIM_CTL_OUT_MAX];
    sim_truth_json(&g_sim, before, sizeof before);
    sim_counters_t c0, c1;
    sim_counters(&g_sim, &c0);
    int rc = run(line);
    if (rc >= 0 || strncmp(g_out, "error: ", 7) != 0) {
        fail_msg("'%s' was not refused: %d %s", line, rc, g_out);
    }
    sim_truth_json(&g_sim, after, sizeof after);
    sim_counters(&g_sim, &c1);
    assert_string_equal(before, after);
    assert_memory_equal(&c0, &c1, sizeof c0);
    char faults[256];
    sim_ctl_exec(&g_ctl, "faults", g_now, faults, sizeof faults);
    assert_string_equal(faults, "ok none");
}

static void loads_and_settings(void **state)
{
    (void)state;
    sim_truth_t t;
    ok("current -20");
    g_now += 300;
    sim_advance(&g_sim, g_now);
    sim_truth(&g_sim, &t);
    assert_float_equal(t.pack_i, -20, 1e-9);
    ok("idle");
    ok("discharge 10 40");
    ok("charge");
    ok("charge 30 27.6 1");
    ok("solar");
    ok("solar 50 5 3600 12");
    ok("day");
    ok("day 50 5 3600 12");
    ok("charger off");
    ok("charger auto");
    ok("limits 28.0 50 50");
    ok("limits off");
    ok("set soc 75");
    sim_truth(&g_sim, &t);
    assert_float_equal(t.bms_soc_pct, 75, 1e-9);
    ok("set ambient 5");
    ok("set temp 12.5");
    ok("set speed 60");
    ok("set latency 0");
    ok("set sleep off");
    ok("write 315 3700");
    ok("write 320 -10");
    ok("reg 315 1");
    assert_string_equal(g_out, "ok 3700");
    ok("reg 320");
    assert_string_equal(g_out, "ok 65526");
    ok("write 0x13B 0xE74");
    ok("reg 315");
    assert_string_equal(g_out, "ok 3700");
    ok("help");
    ok("reboot");
    ok("stats");
    assert_int_equal(g_out[0], '{');
    ok("truth");
    assert_int_equal(g_out[0], '{');
    assert_int_equal(g_out[strlen(g_out) - 1], '}');
    assert_non_null(strstr(g_out, "\"cell_mv\":["));
    assert_non_null(strstr(g_out, "\"rebooting\":true"));
    assert_int_equal(run("quit"), SIM_CTL_QUIT);
    assert_int_equal(run("exit"), SIM_CTL_QUIT);
}

static void faults_on_and_off(void **state)
{
    (void)state;
    ok("fault crc 0.2");
    ok("fault delay 300");
    ok("fault delay 300 50%");
    ok("fault split");
    ok("fault split 5 always");
    ok("fault noreply 0.01");
    ok("fault truncate");
    ok("fault garbage 1");
    ok("fault cellhigh 3");
    ok("fault celllow 8 2.5");
    ok("fault tempopen both 0.5");
    ok("fault tempopen 2");
    ok("fault bmsfault always 12");
    ok("faults");
    assert_non_null(strstr(g_out, "crc:p=0.2"));
    assert_non_null(strstr(g_out, "delay:p=0.5:param=300"));
    assert_non_null(strstr(g_out, "tempopen:p=1:param=2"));
    ok("fault clear crc");
    ok("faults");
    assert_null(strstr(g_out, "crc:"));
    ok("fault clear");
    ok("faults");
    assert_string_equal(g_out, "ok none");
    char out[256];
    assert_int_equal(sim_ctl_fault(&g_ctl, "delay:250:0.5", g_now, out, sizeof out), SIM_CTL_OK);
    sim_fault_t f;
    assert_true(sim_fault_get(&g_sim, SIM_FAULT_DELAY, &f));
    assert_int_equal(f.param, 250);
    assert_float_equal(f.probability, 0.5, 1e-12);
    assert_true(sim_ctl_fault(&g_ctl, "delay:x", g_now, out, sizeof out) < 0);
    ok("fault clear");
}

static void refusals_change_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "bogus",
        "current",
        "current abc",
        "current 1e9",
        "current nan",
        "current inf",
        "current 0x10",
        "current 5 6",
        "discharge",
        "discharge -5 200",
        "charge 0",
        "charge 10 -1",
        "solar 10 1 5",
        "solar 10 1 3600 25",
        "day 10 1 5",
        "day 10 1 3600 25",
        "day 10 1 3600 12 5",
        "day -1",
        "profile",
        "profile /nonexistent/file.csv",
        "profile a b",
        "charger maybe",
        "limits 1 2",
        "limits -1 2 3",
        "set",
        "set soc",
        "set soc 101",
        "set soc -1",
        "set speed 0",
        "set latency 1.5",
        "set sleep maybe",
        "set volume 11",
        "write 315",
        "write 315 5000",
        "write 50 1",
        "write 400 1",
        "write 315 70000",
        "write 340 2",
        "reg",
        "reg 600",
        "reg 590 20",
        "reg 0 65",
        "fault",
        "fault bogus",
        "fault crc 0",
        "fault crc 1.5",
        "fault crc 150%",
        "fault crc 0.5 7",
        "fault delay",
        "fault delay 0",
        "fault delay 60001",
        "fault split 10001",
        "fault cellhigh",
        "fault cellhigh 9",
        "fault cellhigh 0",
        "fault cellhigh 1 0",
        "fault celllow 1 5000",
        "fault tempopen",
        "fault tempopen 3",
        "fault bmsfault 0.5 256",
        "fault clear bogus",
        "truth now",
        "a b c d e f g h i j k l",
        "current\x01 5",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        refused(bad[k]);
    }
    char longline[SIM_CTL_LINE_MAX + 10];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    refused(longline);
}

static void profile_files(void **state)
{
    (void)state;
    char path[] = "/tmp/test_sim_ctl_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char good[] = "# a day in 3 points\n0,0\n60,-30\n120,10\n";
    assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
    close(fd);
    char line[128];
    snprintf(line, sizeof line, "profile %s loop", path);
    ok(line);
    assert_non_null(strstr(g_out, "3 points"));
    g_now += 30000;
    sim_advance(&g_sim, g_now);
    sim_truth_t t;
    sim_truth(&g_sim, &t);
    assert_float_equal(t.pack_i, -15, 0.6);
    /* a broken file is refused and the running profile stays */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("0,0\n60,oops\n", f);
    fclose(f);
    snprintf(line, sizeof line, "profile %s", path);
    assert_true(run(line) < 0);
    assert_non_null(strstr(g_out, ":2:"));
    g_now += 30000;
    sim_advance(&g_sim, g_now);
    sim_truth(&g_sim, &t);
    assert_float_equal(t.pack_i, -30, 0.6);
    unlink(path);
    /* files can be disabled */
    static sim_ctl_t locked;
    sim_ctl_init(&locked, &g_sim, false);
    assert_true(sim_ctl_exec(&locked, line, g_now, g_out, sizeof g_out) < 0);
}

static void small_output_buffers(void **state)
{
    (void)state;
    char tiny[8];
    memset(tiny, 'Z', sizeof tiny);
    sim_ctl_exec(&g_ctl, "help", g_now, tiny, sizeof tiny);
    assert_int_equal(tiny[7], '\0');
    memset(tiny, 'Z', sizeof tiny);
    assert_true(sim_ctl_exec(&g_ctl, "truth", g_now, tiny, sizeof tiny) < 0);
    assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
    sim_ctl_exec(&g_ctl, "stats", g_now, tiny, sizeof tiny);
    assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
    sim_ctl_exec(&g_ctl, "reg 0 64", g_now, tiny, sizeof tiny);
    assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
    char one[1];
    sim_ctl_exec(&g_ctl, "faults", g_now, one, 1);
    assert_int_equal(one[0], '\0');
    assert_int_equal(sim_ctl_exec(&g_ctl, "help", g_now, NULL, 0), SIM_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(loads_and_settings, setup),
        cmocka_unit_test_setup(faults_on_and_off, setup),
        cmocka_unit_test_setup(refusals_change_nothing, setup),
        cmocka_unit_test_setup(profile_files, setup),
        cmocka_unit_test_setup(small_output_buffers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
