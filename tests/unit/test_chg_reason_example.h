/* The limits of one example step, shared by the reason tests (tests/unit/test_chg_reason.c) and
 * the generated sentence list of docs/charge-control.md (tests/unit/test_charge_doc.c): absorption,
 * 16 cells, CVL 55.2 V from the configured maximum, CCL 12.3 A from the highest-cell taper, DCL
 * 150 A from the configured maximum; every threshold the reason can quote is set. */
#ifndef TEST_CHG_REASON_EXAMPLE_H
#define TEST_CHG_REASON_EXAMPLE_H

#include <string.h>

#include "core/charge.h"

static inline chg_limits_t chg_reason_example(void)
{
    chg_limits_t l;
    memset(&l, 0, sizeof l);
    l.valid = l.transmit = true;
    l.state = CHG_STATE_ABSORPTION;
    l.phase = CHG_PHASE_ABSORPTION;
    l.data = FAILSAFE_FRESH;
    l.data_why = "";
    l.series_cells = 16;
    l.pack_v = 54.43f;
    l.cvl_v = 55.2f;
    l.ccl_a = 12.3f;
    l.dcl_a = 150.0f;
    l.cvl_target_v = 55.2f;
    l.ccl_target_a = 12.3f;
    l.dcl_target_a = 150.0f;
    l.cvl_lim = l.cvl_target_lim = CHG_LIM_CONFIG_MAX;
    l.ccl_lim = l.ccl_target_lim = CHG_LIM_CELL_VOLTAGE_HIGH;
    l.dcl_lim = l.dcl_target_lim = CHG_LIM_CONFIG_MAX;
    l.cell_max_v = 3.4825f;
    l.cell_min_v = 3.301f;
    l.spread_v = 0.1815f;
    l.temp_min_c = -2.25f;
    l.temp_max_c = 41.04f;
    l.cell_target_v = 3.45f;
    l.cell_ov_v = 3.65f;
    l.cell_uv_v = 2.8f;
    l.ccl_taper_v[0] = 3.4f;
    l.ccl_taper_v[1] = 3.55f;
    l.dcl_taper_v[0] = 3.1f;
    l.dcl_taper_v[1] = 2.9f;
    l.temp_charge_c[0] = 0.0f;
    l.temp_charge_c[1] = 50.0f;
    l.temp_discharge_c[0] = -20.0f;
    l.temp_discharge_c[1] = 55.0f;
    l.soc_pct = 97.44f;
    l.cell_limit_v = 3.5f;
    l.cell_float_v = 3.375f;
    l.soc_taper_pct[0] = 95.0f;
    l.soc_taper_pct[1] = 10.0f;
    l.imbalance_v[0] = 0.1f;
    l.imbalance_v[1] = 0.03f;
    return l;
}

#endif
