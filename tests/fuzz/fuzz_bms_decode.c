/* libFuzzer harness: block decoders on arbitrary register contents. A decode either fails and
 * leaves the block untouched, or succeeds with values inside the documented plausibility rules. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bms.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t regs[98];
    memset(regs, 0, sizeof regs);
    memcpy(regs, data, size < sizeof regs ? size : sizeof regs);
    bms_live_t l, before;
    memset(&l, 0x5A, sizeof l);
    before = l;
    const char *why = NULL;
    if (bms_decode_live(&l, regs, BMS_LIVE_COUNT, 7, &why) == TB_OK) {
        CHECK(l.valid && l.t_ms == 7);
        CHECK(l.cell_count >= 4 && l.cell_count <= 16);
        for (unsigned i = 0; i < 16; i++) {
            CHECK(i < l.cell_count ? (l.cell_v[i] >= 0.5f && l.cell_v[i] <= 5.0f) : l.cell_v[i] == 0.0f);
        }
        CHECK(isfinite(l.pack_voltage_v) && isfinite(l.pack_current_a));
        CHECK(l.soc_pct >= 0.0f && l.soc_pct <= 100.0f);
        CHECK(isnan(l.soh_pct) || (l.soh_pct >= 0.0f && l.soh_pct <= 100.0f));
    } else {
        CHECK(why != NULL);
        CHECK(memcmp(&l, &before, sizeof l) == 0);
    }
    bms_settings_t s;
    if (bms_decode_settings(&s, regs, BMS_SETTINGS_COUNT, 7, &why) == TB_OK) {
        CHECK(s.series_cells >= 4 && s.series_cells <= 16 && s.under_voltage_v < s.over_voltage_v);
    }
    bms_stats_t st;
    (void)bms_decode_stats(&st, regs, BMS_STATS_COUNT, 7, &why);
    bms_version_t v;
    (void)bms_decode_version(&v, regs, BMS_VERSION_COUNT, 7, &why);
    bms_events_t e;
    CHECK(bms_decode_event_regs(&e, regs, 98, 7) == TB_OK);
    CHECK(e.count <= BMS_EVENT_SLOTS);
    for (unsigned i = 1; i < e.count; i++) {
        CHECK(e.ev[i - 1].timestamp_s <= e.ev[i].timestamp_s);
    }
    return 0;
}
