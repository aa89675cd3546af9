/* app/conn_budget: a web connection's time budget by phase (the firmware's single-task server). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "app/conn_budget.h"

/* A header's budget runs from its first byte: when it was seen if it was, else when it is entered. */
static void header_from_first_byte(void **state)
{
    (void)state;
    conn_budget_t c = {0};
    conn_budget_enter(&c, CB_IDLE, 0, 100);
    conn_budget_enter(&c, CB_HEADER, 2000, 500);
    assert_int_equal(conn_budget_left(&c, 500), 2000);
    assert_int_equal(conn_budget_left(&c, 1499), 1001);
    assert_int_equal(conn_budget_left(&c, 2500), 0);
    assert_int_equal(conn_budget_left(&c, 9000), 0);

    /* seen at 1000 while the task waited elsewhere, read from 2600: 400 ms left, not 2000 */
    conn_budget_enter(&c, CB_IDLE, 0, 900);
    conn_budget_seen(&c, 1000);
    conn_budget_seen(&c, 1800); /* only the first time counts */
    assert_int_equal(c.seen, 1000);
    conn_budget_enter(&c, CB_HEADER, 2000, 2600);
    assert_int_equal(c.start, 1000);
    assert_int_equal(c.seen, 0);
    assert_int_equal(conn_budget_left(&c, 2600), 400);
    assert_int_equal(conn_budget_left(&c, 3100), 0);

    /* seen only counts while idle; 0 is taken as 1 (0 means not seen) */
    conn_budget_seen(&c, 3000);
    assert_int_equal(c.seen, 0);
    conn_budget_enter(&c, CB_IDLE, 0, 3200);
    conn_budget_seen(&c, 0);
    assert_int_equal(c.seen, 1);
}

/* A body and a reply: 1 s, then one more second per 4 096 bytes moved, at most the budget. */
static void body_and_reply_at_a_minimum_rate(void **state)
{
    (void)state;
    conn_budget_t c = {0};
    conn_budget_enter(&c, CB_REPLY, 10000, 0);
    assert_int_equal(conn_budget_left(&c, 0), CONN_RATE_GRACE_MS);
    assert_int_equal(conn_budget_left(&c, 999), 1);
    assert_int_equal(conn_budget_left(&c, 1000), 0); /* nothing taken in its first second */
    conn_budget_moved(&c, 8192);                      /* two seconds more */
    assert_int_equal(conn_budget_left(&c, 1000), 2000);
    assert_int_equal(conn_budget_left(&c, 3000), 0);
    conn_budget_moved(&c, 1000000); /* a fast client: the cap */
    assert_int_equal(conn_budget_left(&c, 3000), 7000);
    assert_int_equal(conn_budget_left(&c, 10000), 0);

    /* a new phase starts with nothing moved */
    conn_budget_enter(&c, CB_BODY, 10000, 20000);
    assert_int_equal(c.moved, 0);
    assert_int_equal(conn_budget_left(&c, 20500), 500);
    conn_budget_moved(&c, 2048);
    assert_int_equal(conn_budget_left(&c, 21000), 500);

    /* the count saturates rather than wrapping to a small number */
    conn_budget_moved(&c, SIZE_MAX);
    conn_budget_moved(&c, SIZE_MAX);
    assert_int_equal(c.moved, UINT32_MAX);
    assert_int_equal(conn_budget_left(&c, 21000), 9000);
}

/* A stream and an idle connection's lone send have the whole budget for each wait; a push from
 * its start. Wrapping clocks work. */
static void stream_idle_push_and_wrap(void **state)
{
    (void)state;
    conn_budget_t c = {0};
    conn_budget_enter(&c, CB_STREAM, 10000, 0);
    assert_int_equal(conn_budget_left(&c, 500000), 10000);
    conn_budget_enter(&c, CB_IDLE, 1000, 0);
    assert_int_equal(conn_budget_left(&c, 500000), 1000);
    conn_budget_enter(&c, CB_PUSH, 2000, 100);
    assert_int_equal(conn_budget_left(&c, 1100), 1000);
    assert_int_equal(conn_budget_left(&c, 2100), 0);

    conn_budget_enter(&c, CB_HEADER, 2000, UINT32_MAX - 499u);
    assert_int_equal(conn_budget_left(&c, 500), 1000); /* 1 000 ms after the clock wrapped */
}

static void why_names_the_phase(void **state)
{
    (void)state;
    assert_non_null(strstr(conn_budget_why(CB_HEADER), "web.header_timeout_ms"));
    assert_non_null(strstr(conn_budget_why(CB_BODY), "request body slower than 4 kB/s"));
    assert_non_null(strstr(conn_budget_why(CB_REPLY), "reply taken slower than 4 kB/s"));
    assert_non_null(strstr(conn_budget_why(CB_PUSH), "WebSocket"));
    assert_non_null(conn_budget_why((cb_phase_t)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_from_first_byte),
        cmocka_unit_test(body_and_reply_at_a_minimum_rate),
        cmocka_unit_test(stream_idle_push_and_wrap),
        cmocka_unit_test(why_names_the_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
