#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "app/log.h"

static uint32_t g_now;
static int g_written;
static uint32_t fake_now(void *ctx) { (void)ctx; return g_now; }
static void fake_write(void *ctx, const log_entry_t *e) { (void)ctx; (void)e; g_written++; }

static void setup_port(void)
{
    log_port_t p = {fake_write, fake_now, NULL, NULL, NULL, NULL};
    log_set_port(&p);
    log_reset();
    g_now = 1000;
    g_written = 0;
}

static void levels_and_ring(void **state)
{
    (void)state;
    setup_port();
    LOGD("t", "hidden %d", 1);
    LOGI("t", "shown %d", 2);
    LOGE("t", "error %s", "x");
    assert_int_equal(g_written, 2);
    log_entry_t e[4];
    size_t n = log_read(0, e, 4);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].msg, "shown 2");
    assert_int_equal(e[1].level, LOG_ERROR);
    assert_int_equal(log_read(e[0].seq, e, 4), 1);
    log_set_level(LOG_DEBUG);
    LOGD("t", "now shown");
    assert_int_equal(g_written, 3);
    log_level_t l;
    assert_true(log_level_parse("warn", &l));
    assert_int_equal(l, LOG_WARN);
    assert_false(log_level_parse("loud", &l));
}

static void repeats_are_rate_limited(void **state)
{
    (void)state;
    setup_port();
    for (int i = 0; i < 100; i++) {
        LOGW("link", "timeout %d", i);
        g_now += 100; /* 10 s in all: one window */
    }
    assert_int_equal(g_written, LOG_BURST);
    uint64_t per[4], supp;
    log_counts(per, &supp);
    assert_int_equal(supp, 100 - LOG_BURST);
    /* another call site is not affected */
    LOGW("link", "other %d", 1);
    assert_int_equal(g_written, LOG_BURST + 1);
    /* when the window ends, one summary line, then messages flow again */
    g_now += LOG_WINDOW_MS;
    LOGW("link", "timeout %d", 1000);
    assert_int_equal(g_written, LOG_BURST + 3);
    log_entry_t e[LOG_RING];
    size_t n = log_read(0, e, LOG_RING);
    assert_non_null(strstr(e[n - 2].msg, "95 similar messages suppressed"));
    assert_string_equal(e[n - 1].msg, "timeout 1000");
}

static void security_events_are_never_dropped(void **state)
{
    (void)state;
    setup_port();
    log_set_level(LOG_ERROR); /* even a quiet level keeps the audit trail */
    for (int i = 0; i < 100; i++) {
        log_security(LOG_WARN, "web", "login failed from 10.0.0.%d", i);
        g_now += 100;
    }
    log_security(LOG_INFO, "web", "login from %s", "10.0.0.1");
    assert_int_equal(g_written, 101);
    assert_int_equal(log_security_count(), 101);
    uint64_t per[4], supp;
    log_counts(per, &supp);
    assert_int_equal(supp, 0);
    assert_int_equal(per[LOG_WARN], 100);
    assert_int_equal(per[LOG_INFO], 1);
    /* the ordinary limiter is unaffected: its own call site still gets LOG_BURST lines */
    for (int i = 0; i < 10; i++) {
        LOGE("web", "ordinary %d", i);
    }
    assert_int_equal(g_written, 101 + LOG_BURST);
    log_entry_t e[4];
    assert_int_equal(log_read(99, e, 2), 2);
    assert_string_equal(e[0].msg, "login failed from 10.0.0.99");
    assert_string_equal(e[1].msg, "login from 10.0.0.1");
    log_set_level(LOG_INFO);
}

static void ring_wraps(void **state)
{
    (void)state;
    setup_port();
    static log_entry_t e[LOG_RING];
    for (unsigned i = 0; i < LOG_RING + 10; i++) {
        g_now += LOG_WINDOW_MS; /* new window every time: nothing suppressed */
        LOGI("w", "n=%u", i);
    }
    size_t n = log_read(0, e, LOG_RING);
    assert_int_equal(n, LOG_RING);
    assert_string_equal(e[n - 1].msg, "n=521");
    assert_int_equal(e[n - 1].seq, log_last_seq());
    assert_int_equal(e[0].seq + LOG_RING - 1, e[n - 1].seq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels_and_ring),
        cmocka_unit_test(repeats_are_rate_limited),
        cmocka_unit_test(security_events_are_never_dropped),
        cmocka_unit_test(ring_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
