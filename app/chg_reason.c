#include "app/chg_reason.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Moved from core/charge.c unchanged in wording and number formatting (the same digits as
 * before: round half up on the double value, no stdio), so UI, API, MQTT and logs read as they
 * always did. */

typedef struct {
    char *b;
    size_t cap;
    size_t len;
} rs_t;

static void rs_str(rs_t *r, const char *s)
{
    while (*s && r->len + 1u < r->cap) {
        r->b[r->len++] = *s++;
    }
    r->b[r->len] = '\0';
}

/* v with `decimals` digits after the point, then the text `after` (a unit, the next words). */
static void rs_num(rs_t *r, float v, unsigned decimals, const char *after)
{
    char tmp[24];
    size_t n = 0;
    if (!isfinite(v)) {
        rs_str(r, "?");
        rs_str(r, after);
        return;
    }
    double scale = 1.0;
    for (unsigned i = 0; i < decimals; i++) {
        scale *= 10.0;
    }
    double d = (double)v;
    bool neg = d < 0.0;
    if (neg) {
        d = -d;
    }
    if (d > 1e9) {
        rs_str(r, "?");
        rs_str(r, after);
        return;
    }
    uint64_t u = (uint64_t)(d * scale + 0.5);
    if (u == 0u) {
        neg = false;
    }
    unsigned digits = 0;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
        digits++;
        if (digits == decimals) {
            tmp[n++] = '.';
        }
    } while ((u > 0u || digits <= decimals) && n + 2u < sizeof tmp);
    if (tmp[n - 1u] == '.') {
        tmp[n++] = '0';
    }
    if (neg) {
        tmp[n++] = '-';
    }
    char out[24];
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1u - i];
    }
    out[n] = '\0';
    rs_str(r, out);
    rs_str(r, after);
}

static void describe_stop(rs_t *r, chg_limiter_t lim, const chg_limits_t *l, bool charge)
{
    switch (lim) {
    case CHG_LIM_CELL_OVER_VOLTAGE:
        rs_str(r, "highest cell ");
        rs_num(r, l->cell_max_v, 3, " V at/above BMS over-voltage cut-off ");
        rs_num(r, l->cell_ov_v, 3, " V");
        break;
    case CHG_LIM_CELL_VOLTAGE_HIGH:
        rs_str(r, "highest cell ");
        rs_num(r, l->cell_max_v, 3, " V (taper ");
        rs_num(r, l->ccl_taper_v[0], 3, "-");
        rs_num(r, l->ccl_taper_v[1], 3, " V)");
        break;
    case CHG_LIM_CELL_UNDER_VOLTAGE:
        rs_str(r, "lowest cell ");
        rs_num(r, l->cell_min_v, 3, " V at/below BMS under-voltage cut-off ");
        rs_num(r, l->cell_uv_v, 3, " V");
        break;
    case CHG_LIM_CELL_VOLTAGE_LOW:
        rs_str(r, "lowest cell ");
        rs_num(r, l->cell_min_v, 3, " V (taper ");
        rs_num(r, l->dcl_taper_v[0], 3, "-");
        rs_num(r, l->dcl_taper_v[1], 3, " V)");
        break;
    case CHG_LIM_TEMP_LOW:
        rs_str(r, "lowest temperature ");
        rs_num(r, l->temp_min_c, 1, " C, limit ");
        rs_num(r, charge ? l->temp_charge_c[0] : l->temp_discharge_c[0], 1, " C");
        break;
    case CHG_LIM_TEMP_HIGH:
        rs_str(r, "highest temperature ");
        rs_num(r, l->temp_max_c, 1, " C, limit ");
        rs_num(r, charge ? l->temp_charge_c[1] : l->temp_discharge_c[1], 1, " C");
        break;
    case CHG_LIM_BMS_FAULT:
        rs_str(r, "TinyBMS reports a fault (status 0x9B)");
        break;
    default:
        rs_str(r, chg_limiter_name(lim));
        break;
    }
}

static void not_fresh(rs_t *r, const chg_limits_t *l)
{
    const char *why = l->data_why ? l->data_why : "";
    if (l->state == CHG_STATE_NO_DATA) {
        rs_str(r, "no usable BMS data yet: ");
        rs_str(r, why);
        return;
    }
    if (l->state == CHG_STATE_FAILSAFE) {
        rs_str(r, l->failsafe_mode == FAILSAFE_MODE_ZERO_LIMITS
                      ? "fail-safe: zero limits, no usable BMS data for "
                      : "fail-safe: not transmitting, no usable BMS data for ");
    } else {
        rs_str(r, "charging stopped: no usable BMS data for ");
    }
    rs_num(r, (float)(l->data_age_ms / 100u) / 10.0f, 1, " s");
    if (why[0] != '\0') {
        rs_str(r, " (");
        rs_str(r, why);
        rs_str(r, ")");
    }
}

void chg_reason_format(const chg_limits_t *l, char *buf, size_t cap)
{
    if (cap == 0u) {
        return;
    }
    rs_t r = {buf, cap, 0};
    buf[0] = '\0';
    if (l->state == CHG_STATE_NO_DATA || l->state == CHG_STATE_STALE || l->state == CHG_STATE_FAILSAFE) {
        not_fresh(&r, l);
    } else if (l->charge_stopped && l->ccl_target_a > 0.0f) {
        rs_str(&r, "charging paused after a limit drop: CCL held at 0 A, then ramps to ");
        rs_num(&r, l->ccl_target_a, 1, " A");
    } else if (l->charge_stopped) {
        rs_str(&r, "charge stopped: ");
        describe_stop(&r, l->ccl_target_lim, l, true);
    } else if (l->discharge_stopped) {
        rs_str(&r, "discharge stopped: ");
        describe_stop(&r, l->dcl_target_lim, l, false);
    } else {
        rs_str(&r, chg_phase_name(l->phase));
        rs_str(&r, ": CVL ");
        rs_num(&r, l->cvl_v, 1, " V ");
        rs_str(&r, chg_limiter_name(l->cvl_lim));
        rs_str(&r, ", CCL ");
        rs_num(&r, l->ccl_a, 1, " A ");
        rs_str(&r, chg_limiter_name(l->ccl_lim));
        rs_str(&r, ", DCL ");
        rs_num(&r, l->dcl_a, 1, " A ");
        rs_str(&r, chg_limiter_name(l->dcl_lim));
    }
}

void chg_reason_fill(chg_limits_t *l)
{
    chg_reason_format(l, l->reason, sizeof l->reason);
}
