/* A poller round trip on the target: tb_poll against the byte-level test double
 * tests/unit/support/fake_bms.c (written independently of the gateway's codec), in simulated
 * time with 1 ms ticks. Startup reads every block; a settings write is read back. */
#include <string.h>

#include "core/tb_poll.h"
#include "fake_bms.h"
#include "tests.h"

typedef struct {
    tb_poll_t p;
    fake_bms_t f;
    uint32_t now;
    uint8_t q[1024]; /* reply bytes in flight, delivered on the next tick */
    size_t q_len;
    uint32_t sent;
} rig_t;

static rig_t g;

static void tick(void)
{
    if (g.q_len > 0) {
        tb_poll_rx(&g.p, g.q, g.q_len, g.now);
        g.q_len = 0;
    }
    uint8_t tx[TB_FRAME_MAX];
    int n = tb_poll_step(&g.p, g.now, tx, sizeof tx);
    TT_CHECK(n >= 0);
    if (n > 0) {
        g.sent++;
        fake_bms_request(&g.f, tx, (size_t)n);
        g.q_len = fake_bms_take(&g.f, g.q, sizeof g.q);
    }
    g.now++;
}

static void run(uint32_t ms)
{
    for (uint32_t i = 0; i < ms; i++) {
        tick();
    }
}

void t_poll_round_trip(void)
{
    memset(&g, 0, sizeof g);
    fake_bms_init(&g.f, 16);
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    g.now = 0xFFFFFF00u; /* 256 ms before the 32-bit millisecond counter wraps */
    tb_poll_init(&g.p, &cfg, g.now);
    run(500);

    const bms_snapshot_t *s = &g.p.snap;
    TT_CHECK(s->live.valid);
    TT_CHECK(s->settings.valid);
    TT_CHECK(s->version.valid);
    TT_CHECK(s->stats.valid);
    TT_CHECK(bms_snapshot_complete(s));
    TT_CHECK(tb_poll_limits_valid(&g.p));
    TT_EQ(g.p.limits.def[0], 3650);
    TT_CHECK(g.p.events.valid);
    TT_EQ(g.p.events.count, 2);
    TT_EQ(tb_poll_take_updates(&g.p), (1u << TB_BLK_COUNT) - 1u);
    TT_EQ(s->live.cell_count, 16);
    TT_NEAR(s->live.pack_voltage_v, 3.3045 * 16, 1e-3);
    TT_NEAR(s->settings.over_voltage_v, 3.8, 1e-6);

    tb_link_stats_t st;
    tb_poll_stats(&g.p, &st);
    TT_CHECK(st.link_up);
    TT_EQ(st.timeouts, 0);
    TT_EQ(st.rx.crc_errors, 0);
    TT_EQ(st.requests, g.sent);
    TT_CHECK(st.replies > 0);

    /* live data keeps flowing at its 100 ms period across the counter wrap */
    uint32_t before = g.f.requests;
    run(1000);
    TT_CHECK(g.f.requests - before >= 10u);
    TT_CHECK(tb_poll_wait_ms(&g.p, g.now) <= 100u);

    /* a settings write with read-back */
    tb_job_t w = {.type = TB_JOB_WRITE, .addr = 315, .count = 2, .values = {3750, 2700}};
    TT_EQ(tb_poll_submit(&g.p, &w), TB_OK);
    for (unsigned i = 0; i < 2000u && !tb_poll_job_done(&g.p); i++) {
        tick();
    }
    if (TT_CHECK(tb_poll_job_done(&g.p))) {
        const tb_job_result_t *res = tb_poll_job_result(&g.p);
        TT_EQ(res->rc, TB_OK);
        TT_EQ(res->regs[0], 3750);
        TT_EQ(res->regs[1], 2700);
    }
    TT_EQ(g.f.regs[315], 3750);
    TT_EQ(g.f.writes, 1);
    tb_poll_job_clear(&g.p);
    run(200);
    TT_NEAR(g.p.snap.settings.over_voltage_v, 3.75, 1e-6);

    /* the BMS stops answering: timeouts counted, link reported down, no crash */
    g.f.drop_next = 1000000;
    run(5000);
    tb_poll_stats(&g.p, &st);
    TT_CHECK(!st.link_up);
    TT_CHECK(st.timeouts >= 3u);
}
