/* The poller against a byte-level fake TinyBMS with simulated time (1 ms ticks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/tb_poll.h"
#include "fake_bms.h"

typedef struct {
    tb_poll_t p;
    fake_bms_t f;
    uint32_t now;
    bool deliver;        /* the cable carries replies */
    uint32_t delay_ms;   /* reply latency */
    bool bytewise;       /* deliver one byte per ms */
    uint8_t q[4096];     /* replies in flight */
    uint32_t q_at[4096]; /* delivery time of each byte */
    size_t q_len;
    uint8_t noise[64];   /* garbage to inject once, before the next reply */
    size_t noise_len;
} rig_t;

static rig_t g;

static void rig_init(rig_t *r, const tb_poll_cfg_t *cfg, unsigned cells)
{
    memset(r, 0, sizeof *r);
    fake_bms_init(&r->f, cells);
    r->now = 1000;
    r->deliver = true;
    r->delay_ms = 3;
    tb_poll_init(&r->p, cfg, r->now);
}

static void enqueue(rig_t *r, const uint8_t *b, size_t n)
{
    uint32_t at = r->now + r->delay_ms;
    for (size_t i = 0; i < n && r->q_len < sizeof r->q; i++) {
        r->q[r->q_len] = b[i];
        r->q_at[r->q_len] = r->bytewise ? at + (uint32_t)i : at;
        r->q_len++;
    }
}

static void rig_tick(rig_t *r)
{
    uint8_t tx[TB_FRAME_MAX];
    int n = tb_poll_step(&r->p, r->now, tx, sizeof tx);
    assert_true(n >= 0);
    if (n > 0) {
        fake_bms_request(&r->f, tx, (size_t)n);
        uint8_t rep[1024];
        size_t k = fake_bms_take(&r->f, rep, sizeof rep);
        if (r->deliver && k > 0) {
            if (r->noise_len) {
                enqueue(r, r->noise, r->noise_len);
                r->noise_len = 0;
            }
            enqueue(r, rep, k);
        }
    }
    /* deliver everything due now */
    size_t due = 0;
    while (due < r->q_len && (int32_t)(r->now - r->q_at[due]) >= 0) {
        due++;
    }
    if (due > 0) {
        tb_poll_rx(&r->p, r->q, due, r->now);
        memmove(r->q, r->q + due, r->q_len - due);
        memmove(r->q_at, r->q_at + due, (r->q_len - due) * sizeof r->q_at[0]);
        r->q_len -= due;
    }
    r->now++;
}

static void rig_run(rig_t *r, uint32_t ms)
{
    uint32_t end = r->now + ms;
    while ((int32_t)(r->now - end) < 0) {
        rig_tick(r);
    }
}

static void run_job(rig_t *r, const tb_job_t *j, uint32_t max_ms)
{
    assert_int_equal(tb_poll_submit(&r->p, j), TB_OK);
    uint32_t end = r->now + max_ms;
    while (!tb_poll_job_done(&r->p) && (int32_t)(r->now - end) < 0) {
        rig_tick(r);
    }
    assert_true(tb_poll_job_done(&r->p));
}

/* Drive the poller by hand: tick (without delivering anything) until it sends a request, at most
 * max_ms. The request is left in req (its length returned), the fake's reply in rep, not
 * delivered; *sent_at is the send time. */
static size_t send_held(rig_t *r, uint8_t *req, uint8_t *rep, size_t rep_cap, size_t *rep_len, uint32_t *sent_at,
                        uint32_t max_ms)
{
    for (uint32_t i = 0; i <= max_ms; i++) {
        int n = tb_poll_step(&r->p, r->now, req, TB_FRAME_MAX);
        assert_true(n >= 0);
        if (n > 0) {
            fake_bms_request(&r->f, req, (size_t)n);
            *rep_len = fake_bms_take(&r->f, rep, rep_cap);
            *sent_at = r->now;
            return (size_t)n;
        }
        r->now++;
    }
    fail_msg("no request within %u ms", max_ms);
    return 0;
}

/* Number of registers a 0x03 read asks for (0 for any other request). */
static unsigned read_count(const uint8_t *req, size_t n)
{
    return n == 8u && req[1] == 0x03u ? (unsigned)req[4] << 8 | req[5] : 0u;
}

static void startup_reads_every_block(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500);
    const bms_snapshot_t *s = &g.p.snap;
    assert_true(s->live.valid);
    assert_true(s->settings.valid);
    assert_true(s->version.valid);
    assert_true(s->stats.valid);
    assert_true(bms_snapshot_complete(s));
    assert_true(tb_poll_limits_valid(&g.p));
    assert_int_equal(g.p.limits.def[0], 3650);
    assert_true(g.p.events.valid);
    assert_int_equal(g.p.events.count, 2);
    uint32_t up = tb_poll_take_updates(&g.p);
    assert_int_equal(up, (1u << TB_BLK_COUNT) - 1u);
    assert_int_equal(tb_poll_take_updates(&g.p), 0);
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_true(st.link_up);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.rx.crc_errors, 0);
    assert_int_equal(st.unexpected, 0);
    assert_int_equal(st.decode_errors, 0);
    /* the first request after start treats the BMS as possibly asleep: the fake was awake and
     * answered within 3 ms, so no second copy was needed */
    assert_int_equal(st.wakeups, 0);
    assert_int_equal(st.retries, 0);
    assert_true(st.rtt_hist[1] > 0); /* 3 ms replies land in the <=5 ms bucket */
    assert_int_equal(st.last_rtt_ms, 3);
}

static void cadence_follows_config(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 8);
    rig_run(&g, 500); /* start-up reads done */
    uint32_t base = g.f.requests;
    rig_run(&g, 10000);
    /* 10 s: ~100 live reads (100 ms), 1 stats (10 s), 1 events (10 s), no settings (30 s) */
    uint32_t n = g.f.requests - base;
    assert_true(n >= 100 && n <= 103);
    /* the poller never asks to be woken later than the next due block */
    assert_true(tb_poll_wait_ms(&g.p, g.now) <= 100);
}

/* A sleeping BMS swallows the first request; the poller sends it again and counts a wake-up. */
static void wake_up_double_send(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    g.f.asleep = true;
    tb_job_t j = {.type = TB_JOB_READ_BLOCK, .block = TB_BLK_LIVE};
    run_job(&g, &j, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_true(g.p.snap.live.valid);
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.wakeups, 1);
    assert_int_equal(st.timeouts, 0);
    /* the second copy went out after the short wake timeout, not the full reply timeout */
    assert_true(g.now - 1000 < (uint32_t)cfg.reply_timeout_ms);

    /* awake and recently heard from: a single send, after one sync read - the answer above may
     * have been the first copy's, so the second copy's could still come and must not be taken
     * for the answer to a new read of the same shape */
    tb_poll_job_clear(&g.p);
    rig_run(&g, 1000);
    run_job(&g, &j, 2000);
    tb_poll_stats(&g.p, &st);
    assert_int_equal(st.requests, 4);

    /* 12 s of silence: the BMS went to sleep again */
    tb_poll_job_clear(&g.p);
    rig_run(&g, 12000);
    g.f.asleep = true;
    run_job(&g, &j, 2000);
    tb_poll_stats(&g.p, &st);
    assert_int_equal(st.wakeups, 2);
    assert_int_equal(st.requests, 6);
}

/* The BMS was awake but slow: both copies get answered; the first answer is taken, stamped with
 * the first copy's send time (the earliest send it could answer); the second is a late reply,
 * dropped and counted, and does not disturb the next transaction. */
static void duplicate_reply_after_wake_resend(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    g.delay_ms = 150; /* longer than the 100 ms wake timeout */
    tb_job_t j = {.type = TB_JOB_READ_BLOCK, .block = TB_BLK_LIVE};
    run_job(&g, &j, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_int_equal(g.p.snap.live.t_ms, 1000); /* first copy at 1000, answer at 1150 */
    tb_poll_job_clear(&g.p);
    tb_job_t s = {.type = TB_JOB_READ_BLOCK, .block = TB_BLK_SETTINGS};
    run_job(&g, &s, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_true(g.p.snap.settings.valid);
    rig_run(&g, 500);
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_int_equal(st.late_replies, 1);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.unexpected, 0);
    assert_int_equal(st.timeouts, 0);
}

/* A reply is accepted until just before its copy's reply time-out and stamped with the send time,
 * not its arrival; at the time-out it is discarded and counted, even when it arrives before
 * tb_poll_step has noticed the time-out. The next read of that shape waits for a sync read. */
static void reply_just_inside_and_outside_the_timeout(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    cfg.max_retries = 0;
    rig_init(&g, &cfg, 16);
    tb_job_t j = {.type = TB_JOB_READ_BLOCK, .block = TB_BLK_LIVE};
    run_job(&g, &j, 2000); /* awake and in step: the next copy waits the full reply time-out */
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    tb_poll_job_clear(&g.p);
    uint32_t timeout = (uint32_t)cfg.reply_timeout_ms;
    uint8_t req[TB_FRAME_MAX], rep[512];
    size_t rep_len;
    uint32_t sent;

    /* just inside: arrives at sent + timeout - 1 */
    assert_int_equal(tb_poll_submit(&g.p, &j), TB_OK);
    size_t n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 10);
    assert_int_equal(read_count(req, n), 56);
    tb_poll_rx(&g.p, rep, rep_len, sent + timeout - 1u);
    assert_true(tb_poll_job_done(&g.p));
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_int_equal(g.p.snap.live.t_ms, sent); /* aged from the send, 249 ms before it arrived */
    assert_int_equal(g.p.stats.last_rtt_ms, timeout - 1u);
    assert_int_equal(g.p.stats.late_replies, 0);
    tb_poll_job_clear(&g.p);
    g.now = sent + timeout + 10u;

    /* just outside: arrives at sent + timeout, tb_poll_step not called in between */
    assert_int_equal(tb_poll_submit(&g.p, &j), TB_OK);
    n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 10);
    assert_int_equal(read_count(req, n), 56);
    uint32_t stamp = g.p.snap.live.t_ms;
    tb_poll_rx(&g.p, rep, rep_len, sent + timeout);
    assert_true(tb_poll_job_done(&g.p));
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_ERR_TIMEOUT);
    assert_int_equal(g.p.snap.live.t_ms, stamp);
    assert_int_equal(g.p.stats.late_replies, 1);
    assert_int_equal(g.p.stats.timeouts, 1);
    tb_poll_job_clear(&g.p);
    g.now = sent + timeout + 1u;

    /* the next live read is preceded by a sync read of another shape; its in-time answer puts the
     * line back in step, and the live read follows */
    assert_int_equal(tb_poll_submit(&g.p, &j), TB_OK);
    n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 3000);
    assert_int_equal(read_count(req, n), 1);
    tb_poll_rx(&g.p, rep, rep_len, sent + 5u);
    assert_false(tb_poll_job_done(&g.p));
    g.now = sent + 5u;
    n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 10);
    assert_int_equal(read_count(req, n), 56);
    tb_poll_rx(&g.p, rep, rep_len, sent + 5u);
    assert_true(tb_poll_job_done(&g.p));
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_int_equal(g.p.snap.live.t_ms, sent);
    assert_int_equal(g.p.stats.late_replies, 1);
}

/* The reply to a timed-out live read arrives while the poller's next request is outstanding: it is
 * not that request's answer (the old poller took it for the next live read's answer and stamped
 * its old data with the new send time). */
static void late_reply_during_the_next_request_is_dropped(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    cfg.max_retries = 0;
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500); /* start-up reads done, BMS awake, live reads every 100 ms */
    g.q_len = 0;
    (void)tb_poll_take_updates(&g.p);
    uint8_t req[TB_FRAME_MAX], old_rep[512], rep[512];
    size_t old_len, rep_len;
    uint32_t sent_old, sent;
    size_t n = send_held(&g, req, old_rep, sizeof old_rep, &old_len, &sent_old, 200);
    assert_int_equal(read_count(req, n), 56);
    uint32_t stamp = g.p.snap.live.t_ms;
    float cell_old = g.p.snap.live.cell_v[0];
    g.f.regs[0] = (uint16_t)(g.f.regs[0] + 1000u); /* the battery moves on: +0.1 V */

    /* no answer within the time-out; after the backoff the next request goes out */
    n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 5000);
    assert_int_equal(g.p.stats.timeouts, 1);
    assert_true(sent - sent_old >= (uint32_t)cfg.reply_timeout_ms);
    /* the late live reply arrives now, 1 ms after that request was sent */
    tb_poll_rx(&g.p, old_rep, old_len, sent + 1u);
    assert_int_equal(g.p.snap.live.t_ms, stamp);
    assert_float_equal(g.p.snap.live.cell_v[0], cell_old, 1e-6);
    assert_int_equal(tb_poll_take_updates(&g.p) & (1u << TB_BLK_LIVE), 0);
    assert_int_equal(g.p.stats.late_replies, 1);
    /* that request was not a live read (a reply of that shape may still be on the way) */
    assert_true(read_count(req, n) != 56u);
    /* its own answer is taken; then the live read with the new data, stamped with its send time */
    tb_poll_rx(&g.p, rep, rep_len, sent + 3u);
    g.now = sent + 3u;
    for (int i = 0; i < 10 && read_count(req, n) != 56u; i++) {
        n = send_held(&g, req, rep, sizeof rep, &rep_len, &sent, 200);
        tb_poll_rx(&g.p, rep, rep_len, sent + 3u);
        g.now = sent + 3u;
    }
    assert_int_equal(read_count(req, n), 56);
    assert_int_equal(g.p.snap.live.t_ms, sent);
    assert_float_equal(g.p.snap.live.cell_v[0], cell_old + 0.1f, 1e-4);
    assert_int_equal(g.p.stats.late_replies, 1);
}

/* Unplugged: timeouts, backoff bounds the request rate, link goes down; re-plugged: recovers. */
static void unplugged_backoff_and_recovery(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 1000);
    assert_true(g.p.stats.link_up);
    uint32_t t_last = g.p.snap.live.t_ms;
    g.deliver = false;
    tb_link_stats_t st0;
    tb_poll_stats(&g.p, &st0);
    rig_run(&g, 60000);
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_false(st.link_up);
    assert_true(st.timeouts >= 3);
    /* the backoff ceiling bounds the cost of an unplugged BMS: one minute is at most
     * 60 s / backoff_max (+ the growth at the start) transactions of 3 sends each, and at least
     * 60 s / (backoff_max + the time a failed transaction takes) */
    uint32_t sent = st.requests - st0.requests;
    uint32_t most = 3u * (60000u / (uint32_t)cfg.backoff_max_ms + 6u);
    uint32_t least = 3u * (60000u / ((uint32_t)cfg.backoff_max_ms + 1000u) - 2u);
    print_message("unplugged for 60 s: %u requests (bounds %u..%u)\n", sent, least, most);
    assert_true(sent <= most);
    assert_true(sent >= least);
    assert_int_equal(g.p.snap.live.t_ms, t_last); /* nothing fresh was invented */
    g.deliver = true;
    rig_run(&g, (uint32_t)cfg.backoff_max_ms + 1000u);
    tb_poll_stats(&g.p, &st);
    assert_true(st.link_up);
    assert_int_equal(st.consecutive_failures, 0);
    assert_true(g.p.snap.live.t_ms > t_last);
}

static void corrupted_reply_is_retried(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 5);
    g.f.corrupt_next = true;
    tb_job_t j = {.type = TB_JOB_READ_BLOCK, .block = TB_BLK_LIVE};
    run_job(&g, &j, 3000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_true(st.rx.crc_errors >= 1);
    assert_true(st.retries >= 1);
    assert_true(g.p.snap.live.valid);
    assert_float_equal(g.p.snap.live.cell_v[0], 3.3f, 1e-5);
}

/* Garbage between replies and replies dribbled one byte per millisecond. */
static void garbage_and_split_replies(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    g.bytewise = true;
    const uint8_t junk[] = {0x00, 0xAA, 0x03, 0x42, 'B', 'P', 'V', ':', 0xAA, 0xAA, 0x11, 0xFF};
    for (int i = 0; i < 20; i++) {
        memcpy(g.noise, junk, sizeof junk);
        g.noise_len = sizeof junk;
        rig_run(&g, 300);
    }
    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    assert_true(g.p.snap.live.valid);
    assert_true(st.rx.garbage_bytes > 0);
    assert_int_equal(st.decode_errors, 0);
    assert_true(st.link_up);
    assert_float_equal(g.p.snap.live.pack_current_a, -12.5f, 1e-6);
}

static void nack_handling(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 5);
    g.f.nack_next = 1;
    tb_job_t j = {.type = TB_JOB_READ_REGS, .addr = 300, .count = 4};
    run_job(&g, &j, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_ERR_NACK);
    assert_int_equal(tb_poll_job_result(&g.p)->nack_err, TB_NACK_COMMAND);
    assert_true(g.p.stats.link_up); /* an error reply still proves the link */
    tb_poll_job_clear(&g.p);
    run_job(&g, &j, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_int_equal(tb_poll_job_result(&g.p)->count, 4);
    assert_int_equal(tb_poll_job_result(&g.p)->regs[0], 3650);
}

static void write_with_readback(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500);
    tb_job_t w = {.type = TB_JOB_WRITE, .addr = 315, .count = 2, .values = {3750, 2700}};
    run_job(&g, &w, 2000);
    const tb_job_result_t *res = tb_poll_job_result(&g.p);
    assert_int_equal(res->rc, TB_OK);
    assert_int_equal(res->regs[0], 3750);
    assert_int_equal(res->regs[1], 2700);
    assert_int_equal(g.f.regs[315], 3750);
    assert_int_equal(g.f.writes, 1);
    rig_run(&g, 200); /* settings block refreshed after the write */
    assert_float_equal(g.p.snap.settings.over_voltage_v, 3.75f, 1e-6);

    /* a register that reads back 0xFFFF once accepted */
    tb_poll_job_clear(&g.p);
    tb_job_t soc = {.type = TB_JOB_WRITE, .addr = 328, .count = 1, .values = {25000}};
    run_job(&g, &soc, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);

    /* a BMS that acknowledges but does not store: read-back mismatch reported */
    tb_poll_job_clear(&g.p);
    g.f.ignore_writes = true;
    tb_job_t w2 = {.type = TB_JOB_WRITE, .addr = 300, .count = 1, .values = {3600}};
    run_job(&g, &w2, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_ERR_MISMATCH);
    assert_int_equal(tb_poll_job_result(&g.p)->regs[0], 3650);
    assert_int_equal(g.p.stats.readback_mismatch, 1);

    /* invalid jobs are refused before anything is queued */
    tb_poll_job_clear(&g.p);
    tb_job_t bad = {.type = TB_JOB_WRITE, .addr = 298, .count = 4};
    assert_int_equal(tb_poll_submit(&g.p, &bad), TB_ERR_RANGE);
    bad.addr = 399;
    bad.count = 2;
    assert_int_equal(tb_poll_submit(&g.p, &bad), TB_ERR_RANGE);
    bad.type = TB_JOB_NONE;
    assert_int_equal(tb_poll_submit(&g.p, &bad), TB_ERR_ARG);
    assert_false(tb_poll_job_pending(&g.p));
}

/* Writing the operation mode reboots the BMS: no read-back, identity re-read after it settles. */
static void write_mode_restarts(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500);
    assert_false(g.p.enabled[TB_BLK_VERSION]);
    tb_job_t w = {.type = TB_JOB_WRITE, .addr = 340, .count = 1, .values = {1}};
    uint32_t before = g.f.requests;
    run_job(&g, &w, 2000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_true(tb_poll_job_result(&g.p)->restarting);
    assert_true(g.p.enabled[TB_BLK_VERSION]);
    (void)before;
    rig_run(&g, 3000);
    assert_false(g.p.enabled[TB_BLK_VERSION]); /* re-read done */
}

/* A reset must never be sent twice, even when the BMS sleeps: a probe wakes it first. */
static void reset_probes_sleeping_bms(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    g.f.asleep = true;
    tb_job_t r = {.type = TB_JOB_RESET, .option = TB_RESET_BMS};
    run_job(&g, &r, 3000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_true(tb_poll_job_result(&g.p)->restarting);
    assert_int_equal(g.f.resets[TB_RESET_BMS], 1);
    assert_int_equal(g.p.stats.wakeups, 1);

    tb_poll_job_clear(&g.p);
    tb_job_t c = {.type = TB_JOB_RESET, .option = TB_RESET_CLEAR_EVENTS};
    run_job(&g, &c, 3000);
    assert_int_equal(tb_poll_job_result(&g.p)->rc, TB_OK);
    assert_int_equal(g.f.resets[TB_RESET_CLEAR_EVENTS], 1);
    assert_int_equal(g.f.resets[TB_RESET_BMS], 1);
}

static void restart_detected_and_new_events(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500);
    bms_event_t ev[8];
    assert_int_equal(tb_poll_take_events(&g.p, ev, 8), 0); /* history is not "new" */
    /* a new event appears in the log */
    g.f.regs[206] = 0x4E40;
    g.f.regs[207] = 0x03B9; /* over-voltage cutoff */
    rig_run(&g, 10500);
    assert_int_equal(tb_poll_take_events(&g.p, ev, 8), 1);
    assert_int_equal(ev[0].id, 0x03);
    assert_int_equal(ev[0].timestamp_s, 0xB94E40);
    assert_int_equal(tb_poll_take_events(&g.p, ev, 8), 0);
    /* lifetime counter goes back: the BMS restarted */
    fake_bms_set_u32(&g.f, 32, 10);
    rig_run(&g, 300);
    assert_int_equal(g.p.stats.bms_restarts, 1);
    rig_run(&g, 300);
    assert_false(g.p.enabled[TB_BLK_VERSION]); /* version re-read */
}

/* 0x1D unsupported (some bridges, old firmware): given up after a few tries, nothing else suffers. */
static void limits_unsupported_is_harmless(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    g.f.support_0x1d = false;
    rig_run(&g, 40000);
    assert_false(tb_poll_limits_valid(&g.p));
    assert_false(g.p.enabled[TB_BLK_LIMITS_MIN]);
    assert_true(g.p.stats.link_up);
    assert_true(g.p.snap.live.valid);
    assert_true(g.now - g.p.snap.live.t_ms < 200);
    assert_int_equal(g.p.stats.nacks, 1); /* "command error" means unsupported: not asked again */
    assert_false(g.p.enabled[TB_BLK_LIMITS_MAX]);
    assert_false(g.p.enabled[TB_BLK_LIMITS_DEF]);
}

/* Implausible content: counted, block keeps its previous value and timestamp. */
static void decode_error_keeps_old_block(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    rig_init(&g, &cfg, 16);
    rig_run(&g, 500);
    uint32_t t = g.p.snap.live.t_ms;
    g.f.regs[53] = 0;
    rig_run(&g, 1000);
    assert_int_equal(g.p.snap.live.t_ms, t);
    assert_true(g.p.stats.decode_errors >= 9);
    assert_true(g.p.stats.link_up);
    g.f.regs[53] = 16;
    rig_run(&g, 200);
    assert_true(g.p.snap.live.t_ms > t);
}

static void event_and_version_jobs(void **state)
{
    (void)state;
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    rig_init(&g, &cfg, 16);
    tb_job_t e = {.type = TB_JOB_EVENTS, .option = TB_CMD_EVENTS_ALL};
    run_job(&g, &e, 2000);
    const tb_job_result_t *r = tb_poll_job_result(&g.p);
    assert_int_equal(r->rc, TB_OK);
    assert_int_equal(r->events.count, 2);
    assert_int_equal(r->events.ev[0].id, 0x64);
    assert_int_equal(r->events.bms_time_s, 123456);
    tb_poll_job_clear(&g.p);
    tb_job_t v = {.type = TB_JOB_VERSION};
    run_job(&g, &v, 2000);
    assert_int_equal(r->rc, TB_OK);
    assert_int_equal(r->version.fw_internal, 242);
    assert_int_equal(r->version.register_map, 4);
    tb_poll_job_clear(&g.p);
    tb_job_t q = {.type = TB_JOB_SETTINGS_QUERY, .option = TB_SETTINGS_DEFAULT, .count = 44};
    run_job(&g, &q, 2000);
    assert_int_equal(r->rc, TB_OK);
    assert_int_equal(r->regs[15], 3800);
    assert_int_equal(tb_poll_submit(&g.p, &q), TB_OK);
    assert_int_equal(tb_poll_submit(&g.p, &q), TB_ERR_BUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(startup_reads_every_block),
        cmocka_unit_test(cadence_follows_config),
        cmocka_unit_test(wake_up_double_send),
        cmocka_unit_test(duplicate_reply_after_wake_resend),
        cmocka_unit_test(reply_just_inside_and_outside_the_timeout),
        cmocka_unit_test(late_reply_during_the_next_request_is_dropped),
        cmocka_unit_test(unplugged_backoff_and_recovery),
        cmocka_unit_test(corrupted_reply_is_retried),
        cmocka_unit_test(garbage_and_split_replies),
        cmocka_unit_test(nack_handling),
        cmocka_unit_test(write_with_readback),
        cmocka_unit_test(write_mode_restarts),
        cmocka_unit_test(reset_probes_sleeping_bms),
        cmocka_unit_test(restart_detected_and_new_events),
        cmocka_unit_test(limits_unsupported_is_harmless),
        cmocka_unit_test(decode_error_keeps_old_block),
        cmocka_unit_test(event_and_version_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
