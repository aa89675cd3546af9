#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <time.h>

#include "core/tb_err.h"
#include "ports/linux/cmdq.h"

static cmdq_t g_q;

static void usleep_(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void *caller(void *arg)
{
    gw_cmd_t *c = arg;
    c->rc = cmdq_call(&g_q, c, 5000) == TB_OK ? c->rc : -999;
    return NULL;
}

/* The owner wakes on the eventfd, completes later; the caller gets the result. */
static void call_and_complete(void **state)
{
    (void)state;
    assert_int_equal(cmdq_init(&g_q), TB_OK);
    static gw_cmd_t c;
    memset(&c, 0, sizeof c);
    c.type = GW_CMD_BMS_RESET;
    c.option = 5;
    pthread_t th;
    pthread_create(&th, NULL, caller, &c);
    struct pollfd p = {cmdq_fd(&g_q), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    gw_cmd_t *got = cmdq_take(&g_q);
    assert_non_null(got);
    assert_int_equal(got->option, 5);
    assert_null(cmdq_take(&g_q));
    usleep_(20000); /* "several cycles" later */
    got->rc = TB_OK;
    got->status = 200;
    strcpy(got->message, "done");
    cmdq_complete(&g_q, got);
    pthread_join(th, NULL);
    assert_int_equal(c.rc, TB_OK);
    assert_string_equal(c.message, "done");
    cmdq_destroy(&g_q);
}

typedef struct {
    gw_cmd_t cmd;
    int timeout_ms;
    int rc;
} job_t;

static void *caller_t(void *arg)
{
    job_t *j = arg;
    j->rc = cmdq_call(&g_q, &j->cmd, j->timeout_ms);
    return NULL;
}

/* A caller that times out leaves; the owner's later completion recycles the slot. A full queue
 * is refused at once, and an un-taken command is withdrawn on timeout. */
static void timeout_abandon_and_full(void **state)
{
    (void)state;
    assert_int_equal(cmdq_init(&g_q), TB_OK);
    static job_t a;
    memset(&a, 0, sizeof a);
    a.timeout_ms = 20;
    assert_int_equal(cmdq_call(&g_q, &a.cmd, 20), TB_ERR_TIMEOUT); /* never taken: withdrawn */
    assert_null(cmdq_take(&g_q));

    a.timeout_ms = 50;
    pthread_t th;
    pthread_create(&th, NULL, caller_t, &a);
    gw_cmd_t *got;
    while (!(got = cmdq_take(&g_q))) {
        usleep_(1000);
    }
    pthread_join(th, NULL);
    assert_int_equal(a.rc, TB_ERR_TIMEOUT);
    got->rc = TB_OK;
    cmdq_complete(&g_q, got); /* abandoned: slot freed, nobody woken */

    static job_t many[CMDQ_SLOTS];
    pthread_t ths[CMDQ_SLOTS];
    for (unsigned i = 0; i < CMDQ_SLOTS; i++) {
        memset(&many[i], 0, sizeof many[i]);
        many[i].timeout_ms = 2000;
        pthread_create(&ths[i], NULL, caller_t, &many[i]);
    }
    usleep_(50000);
    static gw_cmd_t extra;
    assert_int_equal(cmdq_call(&g_q, &extra, 1000), TB_ERR_BUSY);
    unsigned served = 0;
    while (served < CMDQ_SLOTS) {
        gw_cmd_t *c = cmdq_take(&g_q);
        if (!c) {
            usleep_(1000);
            continue;
        }
        c->rc = TB_OK;
        cmdq_complete(&g_q, c);
        served++;
    }
    for (unsigned i = 0; i < CMDQ_SLOTS; i++) {
        pthread_join(ths[i], NULL);
        assert_int_equal(many[i].rc, TB_OK);
    }
    cmdq_destroy(&g_q);
}

/* Shutdown wakes a caller that is waiting for a command the owner will never finish. */
static void shutdown_cancels_waiters(void **state)
{
    (void)state;
    assert_int_equal(cmdq_init(&g_q), TB_OK);
    static job_t j;
    memset(&j, 0, sizeof j);
    j.timeout_ms = 20000;
    pthread_t th;
    pthread_create(&th, NULL, caller_t, &j);
    gw_cmd_t *got;
    while (!(got = cmdq_take(&g_q))) {
        usleep_(1000);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cmdq_shutdown(&g_q);
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(j.rc, TB_ERR_CANCELLED);
    assert_true(t1.tv_sec - t0.tv_sec < 5); /* not the 20 s timeout */
    static gw_cmd_t late;
    assert_int_equal(cmdq_call(&g_q, &late, 1000), TB_ERR_CANCELLED);
    cmdq_complete(&g_q, got); /* the owner finishing later recycles the slot */
    cmdq_destroy(&g_q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_and_complete),
        cmocka_unit_test(timeout_abandon_and_full),
        cmocka_unit_test(shutdown_cancels_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
