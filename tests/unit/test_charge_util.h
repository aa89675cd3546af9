/* Helpers shared by the charge/alarms/failsafe tests: a snapshot builder with TinyBMS settings of a
 * typical 16S LiFePO4 installation, and a small seeded PRNG (all static inline).
 */
#ifndef TEST_CHARGE_UTIL_H
#define TEST_CHARGE_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/bms.h"

/* Recompute min/max registers and the pack voltage from cell_v[]. */
static inline void tcu_recalc(bms_snapshot_t *s)
{
    float sum = 0.0f;
    float mn = 10.0f;
    float mx = 0.0f;
    for (unsigned i = 0; i < s->live.cell_count; i++) {
        sum += s->live.cell_v[i];
        mn = fminf(mn, s->live.cell_v[i]);
        mx = fmaxf(mx, s->live.cell_v[i]);
    }
    s->live.pack_voltage_v = sum;
    s->live.min_cell_v = mn;
    s->live.max_cell_v = mx;
}

static inline void tcu_set_cells(bms_snapshot_t *s, float v)
{
    for (unsigned i = 0; i < s->live.cell_count; i++) {
        s->live.cell_v[i] = v;
    }
    tcu_recalc(s);
}

static inline void tcu_set_temp(bms_snapshot_t *s, float t)
{
    s->live.temp_internal_c = t;
    s->live.temp_ext_c[0] = t;
    s->live.temp_ext_present[0] = true;
    s->live.temp_ext_present[1] = false;
    s->live.temp_ext_c[1] = -3276.8f;
}

/* A complete, valid snapshot: n cells at cell_v, 25 C, SOC 50 %, idle, stamped t_ms. Settings:
 * fully charged 3.60 V, OV 3.65 V, UV 2.80 V, charge OC 100 A, discharge OC 150 A, over-heat
 * 60 C, low-temperature charge cut-off 0 C, 280 Ah. */
static inline void tcu_snapshot(bms_snapshot_t *s, uint8_t n, float cell_v, uint32_t t_ms)
{
    memset(s, 0, sizeof *s);
    s->live.valid = true;
    s->live.t_ms = t_ms;
    s->live.cell_count = n;
    tcu_set_cells(s, cell_v);
    s->live.pack_current_a = 0.0f;
    s->live.soc_pct = 50.0f;
    s->live.soh_pct = 100.0f;
    tcu_set_temp(s, 25.0f);
    s->live.status = BMS_STATUS_IDLE;
    s->live.status_raw = 0x97;
    s->settings.valid = true;
    s->settings.t_ms = t_ms;
    s->settings.fully_charged_v = 3.60f;
    s->settings.fully_discharged_v = 3.00f;
    s->settings.early_balancing_v = 3.40f;
    s->settings.charge_finished_a = 1.0f;
    s->settings.capacity_ah = 280.0f;
    s->settings.series_cells = n;
    s->settings.allowed_disbalance_v = 0.015f;
    s->settings.over_voltage_v = 3.65f;
    s->settings.under_voltage_v = 2.80f;
    s->settings.discharge_oc_a = 150.0f;
    s->settings.charge_oc_a = 100.0f;
    s->settings.over_heat_c = 60.0f;
    s->settings.low_temp_charge_c = 0.0f;
    s->stats.valid = true;
    s->stats.t_ms = t_ms;
    s->version.valid = true;
    s->version.t_ms = t_ms;
}

static inline void tcu_fault(bms_snapshot_t *s, bool on)
{
    s->live.status = on ? BMS_STATUS_FAULT : BMS_STATUS_IDLE;
    s->live.status_raw = on ? 0x9B : 0x97;
}

/* xorshift32: deterministic, seedable, good enough for test input. */
typedef struct {
    uint32_t s;
} tcu_rng_t;

static inline uint32_t tcu_next(tcu_rng_t *r)
{
    uint32_t x = r->s ? r->s : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->s = x;
    return x;
}

/* Uniform in [lo, hi]. */
static inline float tcu_uniform(tcu_rng_t *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)(tcu_next(r) >> 8) / 16777215.0f;
}

/* True with probability p. */
static inline bool tcu_chance(tcu_rng_t *r, float p)
{
    return (float)(tcu_next(r) >> 8) / 16777216.0f < p;
}

#endif
