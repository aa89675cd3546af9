/* Victron CAN-bus BMS frames against tests/vectors/vcan_vectors.c (the host's
 * tests/unit/test_vcan.c runs the same tables): decode every golden frame, re-encode the exact
 * ones byte for byte, and run every encode vector. */
#include <math.h>
#include <string.h>

#include "core/vcan.h"
#include "tests.h"
#include "tests/vectors/vcan_vectors.h"

static void near(double got, double want)
{
    if (isnan(want)) {
        TT_CHECK(isnan(got));
    } else {
        TT_NEAR(got, want, VCAN_VECTOR_TOL);
    }
}

static void msg_equal(const vcan_msg_t *g, const vcan_msg_t *e)
{
    TT_EQ(g->id, e->id);
    switch (e->id) {
    case VCAN_ID_LIMITS:
        near(g->u.limits.cvl_v, e->u.limits.cvl_v);
        near(g->u.limits.ccl_a, e->u.limits.ccl_a);
        near(g->u.limits.dcl_a, e->u.limits.dcl_a);
        near(g->u.limits.dvl_v, e->u.limits.dvl_v);
        break;
    case VCAN_ID_SOC:
        near(g->u.soc.soc_pct, e->u.soc.soc_pct);
        near(g->u.soc.soh_pct, e->u.soc.soh_pct);
        near(g->u.soc.soc_hires_pct, e->u.soc.soc_hires_pct);
        break;
    case VCAN_ID_BATTERY:
        near(g->u.battery.voltage_v, e->u.battery.voltage_v);
        near(g->u.battery.current_a, e->u.battery.current_a);
        near(g->u.battery.temp_c, e->u.battery.temp_c);
        break;
    case VCAN_ID_ALARMS:
        TT_MEMEQ(g->u.alarms.levels.level, e->u.alarms.levels.level, sizeof e->u.alarms.levels.level);
        TT_EQ(g->u.alarms.status, e->u.alarms.status);
        break;
    case VCAN_ID_INFO:
        TT_EQ(g->u.info.model_id, e->u.info.model_id);
        TT_EQ(g->u.info.fw_major, e->u.info.fw_major);
        TT_EQ(g->u.info.fw_minor, e->u.info.fw_minor);
        near(g->u.info.capacity_ah, e->u.info.capacity_ah);
        TT_EQ(g->u.info.reserved, e->u.info.reserved);
        break;
    case VCAN_ID_MODULES:
        TT_EQ(g->u.modules.online, e->u.modules.online);
        TT_EQ(g->u.modules.blocking_charge, e->u.modules.blocking_charge);
        TT_EQ(g->u.modules.blocking_discharge, e->u.modules.blocking_discharge);
        TT_EQ(g->u.modules.offline, e->u.modules.offline);
        break;
    case VCAN_ID_CELLS:
        near(g->u.cells.min_cell_v, e->u.cells.min_cell_v);
        near(g->u.cells.max_cell_v, e->u.cells.max_cell_v);
        near(g->u.cells.min_temp_c, e->u.cells.min_temp_c);
        near(g->u.cells.max_temp_c, e->u.cells.max_temp_c);
        break;
    case VCAN_ID_ENERGY: /* doubles: 32-bit counters x 100 Wh, soft-float here */
        near(g->u.energy.in_wh, e->u.energy.in_wh);
        near(g->u.energy.out_wh, e->u.energy.out_wh);
        break;
    case VCAN_ID_CAPACITY:
        near(g->u.capacity.installed_ah, e->u.capacity.installed_ah);
        break;
    case VCAN_ID_GX_INVERTER:
        TT_EQ(g->u.gx_id.signature_ok, e->u.gx_id.signature_ok);
        TT_STREQ(g->u.gx_id.tag, e->u.gx_id.tag);
        break;
    case VCAN_ID_GX_KEEPALIVE:
    case VCAN_ID_GX_306:
        if (TT_EQ(g->u.raw.dlc, e->u.raw.dlc)) {
            TT_MEMEQ(g->u.raw.data, e->u.raw.data, e->u.raw.dlc);
        }
        break;
    default:
        TT_STREQ(g->u.text.text, e->u.text.text);
        break;
    }
}

static void frame_equal(const can_frame_t *g, const can_frame_t *e)
{
    TT_EQ(g->id, e->id);
    TT_EQ(g->dlc, e->dlc);
    TT_EQ(g->flags, e->flags);
    TT_MEMEQ(g->data, e->data, CAN_FRAME_MAX_DLC);
}

void t_vcan_vectors(void)
{
    TT_CHECK(vcan_decode_vector_count >= 30u);
    size_t exact = 0;
    for (size_t i = 0; i < vcan_decode_vector_count; i++) {
        const vcan_decode_vector_t *v = &vcan_decode_vectors[i];
        tt_context(v->name);
        vcan_msg_t m;
        memset(&m, 0xA5, sizeof m);
        int rc = vcan_decode(&v->frame, &m);
        TT_EQ(rc, v->rc);
        if (rc == TB_OK) {
            msg_equal(&m, &v->decoded);
        }
        if (v->encode_exact) {
            can_frame_t f;
            TT_EQ(vcan_encode(&f, &v->decoded), 8);
            frame_equal(&f, &v->frame);
            exact++;
        }
    }
    tt_context(NULL);
    TT_CHECK(exact >= 20u);

    for (size_t i = 0; i < vcan_encode_vector_count; i++) {
        const vcan_encode_vector_t *v = &vcan_encode_vectors[i];
        tt_context(v->name);
        can_frame_t f;
        memset(&f, 0x5A, sizeof f);
        can_frame_t untouched = f;
        int rc = vcan_encode(&f, &v->in);
        TT_EQ(rc, v->rc);
        if (rc >= 0) {
            frame_equal(&f, &v->frame);
        } else {
            TT_MEMEQ(&f, &untouched, sizeof f); /* refused: output untouched */
        }
    }
    tt_context(NULL);
}
