#include "app/chg_reason.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Numbers: round half up on the double value, no stdio. Text: UTF-8 ("°C", "×", "—"); a
 * truncated buffer never ends inside a character. */

typedef struct {
    char *b;
    size_t cap;
    size_t len;
    bool full; /* something did not fit: nothing more is appended */
} rs_t;

/* Appends s, whole UTF-8 characters only: one that does not fit ends the text. */
static void rs_str(rs_t *r, const char *s)
{
    while (*s && !r->full) {
        unsigned char c = (unsigned char)*s;
        size_t n = 1u;
        if (c >= 0xC0u) {
            n = c >= 0xF0u ? 4u : c >= 0xE0u ? 3u : 2u;
        }
        size_t k = 1u;
        while (k < n && s[k] != '\0') {
            k++;
        }
        if (r->len + k + 1u > r->cap) {
            r->full = true;
            break;
        }
        for (size_t i = 0; i < k; i++) {
            r->b[r->len++] = s[i];
        }
        s += k;
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


/* A per-cell voltage with 2 or 3 decimals (3.45, 3.482): as it was configured or measured. */
static void rs_cell(rs_t *r, float v, const char *after)
{
    float v100 = v * 100.0f;
    if (isfinite(v) && fabsf(v100 - roundf(v100)) < 0.0005f) {
        rs_num(r, v, 2, after);
    } else {
        rs_num(r, v, 3, after);
    }
}

/* A current: "0 A" when nothing may flow, else one decimal. */
static void rs_amps(rs_t *r, float a, const char *after)
{
    if (a == 0.0f) {
        rs_str(r, "0");
        rs_str(r, after);
    } else {
        rs_num(r, a, 1, after);
    }
}

static void rs_series(rs_t *r, const chg_limits_t *l, float cell_v)
{
    rs_str(r, " (");
    rs_num(r, (float)l->series_cells, 0, " × ");
    rs_cell(r, cell_v, " V)");
}

/* Age of the last usable data, in seconds with one decimal (truncated to 0.1 s). */
static void rs_age(rs_t *r, const chg_limits_t *l)
{
    rs_num(r, (float)(l->data_age_ms / 100u) / 10.0f, 1, " s");
    const char *why = l->data_why ? l->data_why : "";
    if (why[0] != '\0') {
        rs_str(r, " (");
        rs_str(r, why);
        rs_str(r, ")");
    }
}

typedef enum { SLOT_CVL, SLOT_CCL, SLOT_DCL } slot_t;

/* The temperature limiters: the battery's reading against the window's edge in force. */
static void cause_temp(rs_t *r, const chg_limits_t *l, slot_t slot, bool low, float value)
{
    const float *win = slot == SLOT_DCL ? l->temp_discharge_c : l->temp_charge_c;
    float t = low ? l->temp_min_c : l->temp_max_c;
    float edge = low ? win[0] : win[1];
    rs_str(r, "battery ");
    rs_num(r, t, 1, " °C, ");
    bool beyond = low ? !(t > edge) : !(t < edge);
    if (value > 0.0f) {
        rs_str(r, "derated near ");
    } else if (beyond) {
        rs_str(r, low ? "at or below " : "at or above ");
    } else {
        rs_str(r, "stopped at ");
    }
    rs_str(r, low ? "the low-temperature cut-off " : "the high-temperature cut-off ");
    rs_num(r, edge, 1, " °C");
    if (!(value > 0.0f) && !beyond) {
        rs_str(r, low ? " until it warms up" : " until it cools down");
    }
}

/* The voltage tapers: CCL by the highest cell (taper start [0] up to end [1]), DCL by the lowest
 * (start [0] down to end [1]). 0 A: the stop latch, at the end or until the cell is back. */
static void cause_taper(rs_t *r, bool high, float cell, const float *taper, float value)
{
    rs_str(r, high ? "highest cell " : "lowest cell ");
    rs_num(r, cell, 3, " V");
    if (value > 0.0f) {
        rs_str(r, " (taper ");
        rs_cell(r, taper[0], high ? " up to " : " down to ");
        rs_cell(r, taper[1], " V)");
        return;
    }
    bool beyond = high ? !(cell < taper[1]) : !(cell > taper[1]);
    rs_str(r, beyond ? (high ? " at or above the taper end " : " at or below the taper end ")
                     : ", stopped at the taper end ");
    rs_cell(r, taper[1], " V");
    if (!beyond) {
        rs_str(r, high ? " until it falls back" : " until it recovers");
    }
}

/* The cause of one limit: what limiter `lim` means for `slot`, with the values behind it.
 * `value` is the limit (CVL volts, CCL/DCL amps) and `target` what it ramps towards. */
static void cause(rs_t *r, const chg_limits_t *l, slot_t slot, chg_limiter_t lim, float value, float target)
{
    switch (lim) {
    case CHG_LIM_NONE:
        rs_str(r, "not limited");
        break;
    case CHG_LIM_CONFIG_MAX:
        rs_str(r, "the configured maximum");
        if (slot == SLOT_CVL) {
            rs_series(r, l, l->cell_target_v);
        }
        break;
    case CHG_LIM_BMS_CUTOFF:
        if (slot == SLOT_CVL) {
            rs_str(r, "the BMS's cell voltage settings");
            rs_series(r, l, l->cell_target_v);
        } else {
            rs_str(r, slot == SLOT_CCL ? "the BMS's charge current limit" : "the BMS's discharge current limit");
        }
        break;
    case CHG_LIM_FLOAT:
        rs_str(r, "the float target");
        rs_series(r, l, l->cell_float_v);
        break;
    case CHG_LIM_CELL_VOLTAGE_HIGH:
        if (slot == SLOT_CVL) {
            rs_str(r, "highest cell ");
            rs_num(r, l->cell_max_v, 3, " V, kept below ");
            rs_cell(r, l->cell_limit_v, " V");
        } else {
            cause_taper(r, true, l->cell_max_v, l->ccl_taper_v, value);
        }
        break;
    case CHG_LIM_CELL_OVER_VOLTAGE:
        rs_str(r, "highest cell ");
        rs_num(r, l->cell_max_v, 3, " V at or above the BMS's over-voltage cut-off ");
        rs_cell(r, l->cell_ov_v, " V");
        break;
    case CHG_LIM_CELL_VOLTAGE_LOW:
        cause_taper(r, false, l->cell_min_v, l->dcl_taper_v, value);
        break;
    case CHG_LIM_CELL_UNDER_VOLTAGE:
        rs_str(r, "lowest cell ");
        rs_num(r, l->cell_min_v, 3, " V at or below the BMS's under-voltage cut-off ");
        rs_cell(r, l->cell_uv_v, " V");
        break;
    case CHG_LIM_TEMP_LOW:
    case CHG_LIM_TEMP_HIGH:
        cause_temp(r, l, slot, lim == CHG_LIM_TEMP_LOW, value);
        break;
    case CHG_LIM_SOC_TAPER:
        rs_str(r, "state of charge ");
        rs_num(r, l->soc_pct, 1, slot == SLOT_DCL ? " %, tapering below " : " %, tapering above ");
        rs_num(r, l->soc_taper_pct[slot == SLOT_DCL ? 1 : 0], 0, " %");
        break;
    case CHG_LIM_IMBALANCE_HOLD:
        rs_str(r, "cells ");
        rs_num(r, l->spread_v, 3, " V apart, held for balancing until within ");
        rs_num(r, l->imbalance_v[1], 3, " V");
        break;
    case CHG_LIM_BMS_FAULT:
        if (value > 0.0f) {
            rs_str(r, "TinyBMS under-voltage fault (status 0x9B), lowest cell ");
            rs_num(r, l->cell_min_v, 3, " V: recovery current only");
        } else {
            rs_str(r, "the TinyBMS reports a fault (status 0x9B)");
        }
        break;
    case CHG_LIM_RAMP:
        if (slot == SLOT_CVL) {
            rs_str(r, "rising to ");
            rs_num(r, target, 2, " V");
        } else if (value > 0.0f) {
            rs_str(r, "ramping up to ");
            rs_amps(r, target, " A");
        } else {
            rs_str(r, "paused after a limit drop, then ramps up to ");
            rs_amps(r, target, " A");
        }
        break;
    case CHG_LIM_STALE:
        rs_str(r, "BMS data stale for ");
        rs_age(r, l);
        break;
    case CHG_LIM_NO_DATA:
        rs_str(r, "no usable BMS data yet");
        break;
    case CHG_LIM_FAILSAFE:
        rs_str(r, "fail-safe, no usable BMS data for ");
        rs_age(r, l);
        break;
    default:
        rs_str(r, "unknown limiter");
        break;
    }
}

static void clause(rs_t *r, const chg_limits_t *l, slot_t slot)
{
    switch (slot) {
    case SLOT_CVL:
        rs_str(r, "CVL ");
        rs_num(r, l->cvl_v, 2, " V: ");
        if (l->charge_stopped) {
            /* CVL pinned to the pack voltage (capped by the target when the pack is above it);
             * the CCL clause says why */
            if (l->pack_v > l->cvl_v + 2.5f * CHG_CVL_STEP_V) {
                rs_str(r, "charging stopped, the pack is above the absorption target");
                rs_series(r, l, l->cell_target_v);
            } else {
                rs_str(r, "charging stopped, held at the pack voltage ");
                rs_num(r, l->pack_v, 2, " V");
            }
        } else {
            cause(r, l, slot, l->cvl_lim, l->cvl_v, l->cvl_target_v);
        }
        break;
    case SLOT_CCL:
        rs_str(r, "CCL ");
        rs_amps(r, l->ccl_a, " A: ");
        cause(r, l, slot, l->ccl_lim, l->ccl_a, l->ccl_target_a);
        break;
    default:
        rs_str(r, "DCL ");
        rs_amps(r, l->dcl_a, " A: ");
        cause(r, l, slot, l->dcl_lim, l->dcl_a, l->dcl_target_a);
        break;
    }
}

void chg_reason_format(const chg_limits_t *l, char *buf, size_t cap)
{
    if (cap == 0u) {
        return;
    }
    rs_t r = {buf, cap, 0, false};
    buf[0] = '\0';
    if (l->state == CHG_STATE_NO_DATA) {
        rs_str(&r, "waiting for usable BMS data");
        const char *why = l->data_why ? l->data_why : "";
        if (why[0] != '\0') {
            rs_str(&r, ": ");
            rs_str(&r, why);
        }
    } else if (l->state == CHG_STATE_FAILSAFE) {
        rs_str(&r, l->failsafe_mode == FAILSAFE_MODE_ZERO_LIMITS ? "fail-safe, zero limits — CCL 0 A, DCL 0 A: "
                                                                 : "fail-safe, not transmitting: ");
        rs_str(&r, "no usable BMS data for ");
        rs_age(&r, l);
    } else if (l->state == CHG_STATE_STALE) {
        rs_str(&r, "charging stopped — CCL 0 A: BMS data stale for ");
        rs_age(&r, l);
        rs_str(&r, "; DCL ");
        rs_amps(&r, l->dcl_a, " A: held until the data is usable again");
    } else {
        rs_str(&r, chg_phase_name(l->phase));
        rs_str(&r, " — ");
        clause(&r, l, SLOT_CVL);
        rs_str(&r, "; ");
        clause(&r, l, SLOT_CCL);
        rs_str(&r, "; ");
        clause(&r, l, SLOT_DCL);
    }
}

void chg_reason_stop(const chg_limits_t *l, bool charge, char *buf, size_t cap)
{
    if (cap == 0u) {
        return;
    }
    rs_t r = {buf, cap, 0, false};
    buf[0] = '\0';
    bool stopped = charge ? l->charge_stopped || (l->valid && !(l->ccl_a > 0.0f))
                          : l->discharge_stopped || (l->valid && !(l->dcl_a > 0.0f));
    if (!stopped) {
        return;
    }
    if (l->state == CHG_STATE_NO_DATA) {
        rs_str(&r, "no usable BMS data yet");
    } else if (l->state == CHG_STATE_FAILSAFE) {
        rs_str(&r, "fail-safe, no usable BMS data for ");
        rs_age(&r, l);
    } else if (l->state == CHG_STATE_STALE && charge) {
        rs_str(&r, "BMS data stale for ");
        rs_age(&r, l);
    } else if (charge) {
        cause(&r, l, SLOT_CCL, l->ccl_lim, l->ccl_a, l->ccl_target_a);
    } else {
        cause(&r, l, SLOT_DCL, l->dcl_lim, l->dcl_a, l->dcl_target_a);
    }
}

void chg_reason_fill(chg_limits_t *l)
{
    chg_reason_format(l, l->reason, sizeof l->reason);
}
