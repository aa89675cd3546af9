/* libFuzzer harness: the poller fed hostile bytes as "replies", interleaved with time steps and
 * jobs. Invariant: whatever arrives, a block marked valid holds plausible values (the decoders'
 * plausibility rules), the poller keeps producing well-formed requests, and counters stay sane. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc16.h"
#include "core/tb_poll.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static tb_poll_t g_p;

static void check_snapshot(const bms_snapshot_t *s)
{
    if (s->live.valid) {
        CHECK(s->live.cell_count >= 4 && s->live.cell_count <= 16);
        for (unsigned i = 0; i < s->live.cell_count; i++) {
            CHECK(s->live.cell_v[i] >= 0.5f && s->live.cell_v[i] <= 5.0f);
        }
        CHECK(isfinite(s->live.pack_voltage_v) && s->live.pack_voltage_v >= 0.0f && s->live.pack_voltage_v <= 100.0f);
        CHECK(isfinite(s->live.pack_current_a));
        CHECK(s->live.soc_pct >= 0.0f && s->live.soc_pct <= 100.0f);
    }
    if (s->settings.valid) {
        CHECK(s->settings.series_cells >= 4 && s->settings.series_cells <= 16);
        CHECK(s->settings.under_voltage_v < s->settings.over_voltage_v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb_poll_cfg_t cfg;
    tb_poll_cfg_defaults(&cfg);
    uint32_t now = 1000;
    tb_poll_init(&g_p, &cfg, now);
    size_t off = 0;
    while (off < size) {
        uint8_t ctl = data[off++];
        uint8_t tx[TB_FRAME_MAX];
        int n = tb_poll_step(&g_p, now, tx, sizeof tx);
        CHECK(n >= 0);
        if (n > 0) {
            CHECK(tx[0] == TB_ADDR && crc16_modbus(tx, (size_t)n) == 0);
        }
        if (ctl & 0x80u) {
            /* a job from the control byte */
            tb_job_t j;
            memset(&j, 0, sizeof j);
            j.type = (tb_job_type_t)((ctl >> 4) & 7u);
            j.block = (tb_block_t)(ctl % TB_BLK_COUNT);
            j.addr = (uint16_t)(300u + (ctl & 0x3Fu));
            j.count = (uint8_t)((ctl & 7u) + 1u);
            j.option = (uint8_t)((ctl & 3u) ? (ctl & 3u) : TB_CMD_EVENTS_ALL);
            (void)tb_poll_submit(&g_p, &j);
        }
        size_t len = (size_t)(ctl & 0x3Fu);
        if (len > size - off) {
            len = size - off;
        }
        tb_poll_rx(&g_p, data + off, len, now);
        off += len;
        now += (uint32_t)(ctl & 0x0Fu) * 17u;
        check_snapshot(&g_p.snap);
        CHECK(tb_poll_wait_ms(&g_p, now) <= 60000u);
        if (tb_poll_job_done(&g_p)) {
            CHECK(tb_poll_job_result(&g_p)->count <= TB_READ_MAX_REGS);
            tb_poll_job_clear(&g_p);
        }
    }
    tb_link_stats_t st;
    tb_poll_stats(&g_p, &st);
    CHECK(st.replies <= st.requests + st.duplicates + st.unexpected + 1000000u);
    return 0;
}
