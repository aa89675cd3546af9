/* The simulator's public API around the model: configuration, initialisation, setters, faults,
 * and the observation of the true state (sim_truth, JSON). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- init and setters ---------------------------------------------------------------------- */

void sim_config_default(sim_config_t *cfg)
{
    if (!cfg) {
        return;
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->cells = 16;
    cfg->capacity_ah = 100.0;
    cfg->soc_pct = 50.0;
    cfg->ambient_c = 25.0;
    cfg->temp_c = NAN;
    cfg->seed = 1;
    cfg->cap_spread_pct = 1.0;
    cfg->ir_spread_pct = 10.0;
    cfg->soc_spread_pct = 0.2;
    cfg->speed = 1.0;
    cfg->reply_latency_ms = 1;
    cfg->sleep_enabled = true;
    cfg->lifetime_s = 86400;
    cfg->activity_a = 0.8;
    cfg->start_ms = 0;
}

static bool in(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

static bool config_ok(const sim_config_t *c)
{
    return c->cells >= SIM_MIN_CELLS && c->cells <= SIM_MAX_CELLS && in(c->capacity_ah, 1, 2000) &&
           in(c->soc_pct, 0, 100) && in(c->ambient_c, -40, 80) &&
           (isnan(c->temp_c) || in(c->temp_c, -50, 120)) && in(c->cap_spread_pct, 0, 10) &&
           in(c->ir_spread_pct, 0, 50) && in(c->soc_spread_pct, 0, 10) &&
           in(c->speed, 0.01, 100000) && c->reply_latency_ms <= 1000 && in(c->activity_a, 0.01, 10) &&
           c->lifetime_s <= 0xF0000000u;
}

int sim_init(sim_t *s, const sim_config_t *cfg)
{
    if (!s) {
        return SIM_ERR_ARG;
    }
    memset(s, 0, sizeof *s);
    if (!cfg || !config_ok(cfg)) {
        return SIM_ERR_ARG;
    }
    s->cfg = *cfg;
    s->n = cfg->cells;
    s->speed = cfg->speed;
    s->rng_model = sim__rng_seed(cfg->seed);
    s->rng_fault = sim__rng_seed((uint64_t)cfg->seed ^ 0xF00DFACEu);
    sim__init_cells(s);
    for (unsigned k = 0; k < 6; k++) {
        s->serial[k] = (uint16_t)(sim__rng_next(&s->rng_model) >> 48);
    }
    s->hw[0] = 0x0102; /* hardware 2, changes 1 (as observed on a 150 A board) */
    s->hw[1] = 0x0301; /* public fw 1, high-power board, internal Hall sensor */
    s->hw[2] = 242;    /* internal firmware version */
    s->hw[3] = 0x0418; /* bootloader 0x18, register-map version 4 */
    sim__settings_defaults(s);
    s->t_amb = cfg->ambient_c;
    double t0 = isnan(cfg->temp_c) ? cfg->ambient_c : cfg->temp_c;
    s->t_ext1 = s->t_ext2 = s->t_int = t0;
    s->st_tmin = (int8_t)clampd(floor(t0 + 0.5), -128, 127);
    s->st_tmax = s->st_tmin;
    s->st_reset_cause = 5; /* power-on */
    s->st_wake_src = 0;
    s->st_cleared_ts = cfg->lifetime_s;
    for (unsigned p = 0; p < SIM_PROT_COUNT; p++) {
        s->prot_clear_since[p] = -1;
    }
    s->oc_dis_since = -1;
    s->chg_tail_since = -1;
    s->chg_taper_since = -1;
    s->load.kind = SIM_LOAD_CURRENT;
    sim__place_soc(s, cfg->soc_pct);
    sim__refresh_voltages(s);
    s->status = SIM_STATUS_IDLE;
    s->now = cfg->start_ms;
    s->next_step = cfg->start_ms + SIM_MEASURE_MS;
    s->last_rx = cfg->start_ms;
    s->quiet_since = cfg->start_ms;
    s->last_pub = cfg->start_ms;
    s->bcast_next = cfg->start_ms;
    s->tx_last_due = cfg->start_ms;
    sim__log_event(s, 0x61);
    sim__publish(s);
    return SIM_OK;
}

int sim_set_load(sim_t *s, const sim_load_t *l, uint32_t now)
{
    if (!s || !l) {
        return SIM_ERR_ARG;
    }
    bool ok = false;
    switch (l->kind) {
    case SIM_LOAD_CURRENT:
        ok = in(l->current_a, -10000, 10000);
        break;
    case SIM_LOAD_DISCHARGE:
        ok = in(l->current_a, 0, 10000) && in(l->stop_soc_pct, 0, 100);
        break;
    case SIM_LOAD_CHARGER:
        ok = in(l->charge_a, 0.001, 10000) && in(l->charge_v, 0, 1000) && in(l->tail_a, 0, 10000);
        break;
    case SIM_LOAD_SOLAR:
    case SIM_LOAD_DAY:
        ok = in(l->solar_peak_a, 0, 10000) && in(l->solar_load_a, 0, 10000) &&
             in(l->charge_v, 0, 1000) && in(l->day_s, 0, 1e7) && (l->day_s == 0 || l->day_s >= 60) &&
             in(l->start_hour, 0, 24);
        break;
    case SIM_LOAD_PROFILE:
        ok = l->points && l->n_points > 0;
        for (size_t k = 0; ok && k < l->n_points; k++) {
            ok = in(l->points[k].time_s, 0, 1e9) && in(l->points[k].current_a, -10000, 10000) &&
                 (k == 0 || l->points[k].time_s > l->points[k - 1].time_s);
        }
        break;
    }
    if (!ok) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->load = *l;
    s->load_t0 = s->t_model;
    s->load_done = false;
    s->chg_tail_since = -1;
    return SIM_OK;
}

int sim_set_current(sim_t *s, double amps, uint32_t now)
{
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_CURRENT;
    l.current_a = amps;
    return sim_set_load(s, &l, now);
}

int sim_set_limits(sim_t *s, bool on, double cvl_v, double ccl_a, double dcl_a, uint32_t now)
{
    if (!s || (on && (!in(cvl_v, 0, 1000) || !in(ccl_a, 0, 10000) || !in(dcl_a, 0, 10000)))) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->lim_on = on;
    s->lim_cvl = on ? cvl_v : 0;
    s->lim_ccl = on ? ccl_a : 0;
    s->lim_dcl = on ? dcl_a : 0;
    return SIM_OK;
}

int sim_set_charger_mode(sim_t *s, int mode, uint32_t now)
{
    if (!s || mode < 0 || mode > 2) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->charger_mode = mode;
    return SIM_OK;
}

int sim_set_soc(sim_t *s, double pct, uint32_t now)
{
    if (!s || !in(pct, 0, 100)) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    sim__place_soc(s, pct);
    sim__refresh_voltages(s);
    return SIM_OK;
}

int sim_set_ambient(sim_t *s, double c, uint32_t now)
{
    if (!s || !in(c, -40, 80)) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->t_amb = c;
    return SIM_OK;
}

int sim_set_temperature(sim_t *s, double c, uint32_t now)
{
    if (!s || !in(c, -50, 120)) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->t_ext1 = s->t_ext2 = s->t_int = c;
    sim__refresh_voltages(s);
    return SIM_OK;
}

int sim_set_speed(sim_t *s, double speed, uint32_t now)
{
    if (!s || !in(speed, 0.01, 100000)) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    s->speed = speed;
    return SIM_OK;
}

int sim_set_latency(sim_t *s, uint16_t ms)
{
    if (!s || ms > 1000) {
        return SIM_ERR_ARG;
    }
    s->cfg.reply_latency_ms = ms;
    return SIM_OK;
}

void sim_set_sleep(sim_t *s, bool enabled, uint32_t now)
{
    if (!s) {
        return;
    }
    sim_advance(s, now);
    s->cfg.sleep_enabled = enabled;
    if (!enabled && s->asleep) {
        sim__wake(s, 3);
    }
}

void sim_reboot(sim_t *s, uint32_t now)
{
    if (!s) {
        return;
    }
    sim_advance(s, now);
    sim__begin_reboot(s, now);
}

/* ---- faults -------------------------------------------------------------------------------- */

static const char *const k_fault_names[SIM_FAULT_COUNT] = {
    "noreply", "delay", "crc", "truncate", "split", "garbage", "cellhigh", "celllow", "tempopen",
    "bmsfault"};

const char *sim_fault_name(sim_fault_kind_t kind)
{
    return (unsigned)kind < SIM_FAULT_COUNT ? k_fault_names[kind] : NULL;
}

int sim_set_fault(sim_t *s, sim_fault_kind_t kind, const sim_fault_t *f, uint32_t now)
{
    if (!s || !f || (unsigned)kind >= SIM_FAULT_COUNT) {
        return SIM_ERR_ARG;
    }
    sim_fault_t v = *f;
    if (kind == SIM_FAULT_CELL_HIGH || kind == SIM_FAULT_CELL_LOW) {
        v.probability = 1.0;
        if (v.rate == 0) {
            v.rate = 5.0;
        }
        if (v.param < 1 || v.param > s->n || !in(v.rate, 0.001, 1000)) {
            return SIM_ERR_ARG;
        }
    } else if (!in(v.probability, 1e-9, 1.0)) {
        return SIM_ERR_ARG;
    }
    switch (kind) {
    case SIM_FAULT_DELAY:
        if (v.param < 1 || v.param > 60000) {
            return SIM_ERR_ARG;
        }
        break;
    case SIM_FAULT_SPLIT:
        if (v.param > 10000) {
            return SIM_ERR_ARG;
        }
        break;
    case SIM_FAULT_TEMP_OPEN:
        if (v.param > 2) {
            return SIM_ERR_ARG;
        }
        break;
    case SIM_FAULT_BMS_FAULT:
        if (v.param > 0xFF) {
            return SIM_ERR_ARG;
        }
        break;
    default:
        break;
    }
    sim_advance(s, now);
    if (s->fault_on[kind]) {
        (void)sim_clear_fault(s, kind, now);
    }
    s->fault[kind] = v;
    s->fault_on[kind] = true;
    return SIM_OK;
}

int sim_clear_fault(sim_t *s, sim_fault_kind_t kind, uint32_t now)
{
    if (!s || (unsigned)kind >= SIM_FAULT_COUNT) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    if (!s->fault_on[kind]) {
        return SIM_OK;
    }
    if (kind == SIM_FAULT_CELL_HIGH || kind == SIM_FAULT_CELL_LOW) {
        uint32_t c = s->fault[kind].param;
        if (c >= 1 && c <= s->n) {
            s->cell[c - 1].fault_mv = 0;
        }
        s->fault_on[kind] = false;
        sim__refresh_voltages(s);
        return SIM_OK;
    }
    if (kind == SIM_FAULT_BMS_FAULT) {
        s->prot &= ~SIM_PROT_INJECTED;
    }
    if (kind == SIM_FAULT_TEMP_OPEN) {
        s->temp_open_now[0] = s->temp_open_now[1] = false;
    }
    s->fault_on[kind] = false;
    memset(&s->fault[kind], 0, sizeof s->fault[kind]);
    return SIM_OK;
}

void sim_clear_faults(sim_t *s, uint32_t now)
{
    for (unsigned k = 0; s && k < SIM_FAULT_COUNT; k++) {
        (void)sim_clear_fault(s, (sim_fault_kind_t)k, now);
    }
}

bool sim_fault_get(const sim_t *s, sim_fault_kind_t kind, sim_fault_t *f)
{
    if (!s || (unsigned)kind >= SIM_FAULT_COUNT || !s->fault_on[kind]) {
        return false;
    }
    if (f) {
        *f = s->fault[kind];
    }
    return true;
}

/* ---- observation --------------------------------------------------------------------------- */

void sim_truth(const sim_t *s, sim_truth_t *t)
{
    if (!s || !t) {
        return;
    }
    memset(t, 0, sizeof *t);
    t->cells = s->n;
    double pack = 0;
    for (unsigned k = 0; k < s->n; k++) {
        const sim_cell_t *c = &s->cell[k];
        t->cell_v[k] = c->v;
        t->cell_ocv[k] = c->ocv;
        t->cell_soc[k] = c->q_ah / c->cap_ah;
        t->cell_ah[k] = c->q_ah;
        t->cell_cap_ah[k] = c->cap_ah;
        t->cell_r_mohm[k] = c->r_ohm * 1000.0;
        pack += c->v;
    }
    t->pack_v = pack;
    t->pack_i = s->i_pack;
    t->soc_pct = sim__true_soc(s);
    t->bms_soc_pct = s->bms_soc;
    t->temp_ext1_c = s->t_ext1;
    t->temp_ext2_c = s->t_ext2;
    t->temp_int_c = s->t_int;
    t->ambient_c = s->t_amb;
    t->status = s->status;
    t->bal_decision = s->bal_decision;
    t->bal_active = s->bal_active;
    t->charge_switch = sim__charge_allowed(s);
    t->discharge_switch = sim__discharge_allowed(s);
    t->charger_present = s->charger_present;
    t->asleep = s->asleep;
    t->rebooting = s->rebooting;
    t->protections = s->prot;
    t->lifetime_s = sim__lifetime(s);
    t->model_s = s->t_model;
    t->speed = s->speed;
    t->ah_in = s->ah_in;
    t->ah_out = s->ah_out;
    t->wh_in = s->wh_in;
    t->wh_out = s->wh_out;
    t->wh_loss = s->wh_loss;
    t->ah_bled = s->ah_bled;
    t->wh_bled = s->wh_bled;
    t->ah_self_discharge = s->ah_sd;
}

void sim_counters(const sim_t *s, sim_counters_t *c)
{
    if (s && c) {
        *c = s->cnt;
    }
}

static const char *const k_prot_names[SIM_PROT_COUNT] = {"ov", "uv", "oc_discharge", "oc_charge",
                                                  "overheat", "lowtemp_charge", "lowtemp",
                                                  "empty", "injected"};

/* Append with snprintf semantics; *len stays > cap after an overflow. */
static void app(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void app(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap) {
        *len = cap + 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *len) {
        *len = cap + 1;
        return;
    }
    *len += (size_t)k;
}

static double fin(double v)
{
    return isfinite(v) ? v : 0.0;
}

int sim_truth_json(const sim_t *s, char *buf, size_t cap)
{
    if (!s || !buf || cap == 0) {
        return SIM_ERR_ARG;
    }
    sim_truth_t t;
    sim_truth(s, &t);
    size_t n = 0;
    app(buf, cap, &n, "{\"model_s\":%.3f,\"lifetime_s\":%u,\"speed\":%g,\"cells\":%u,\"cell_mv\":[",
        fin(t.model_s), (unsigned)t.lifetime_s, fin(t.speed), (unsigned)t.cells);
    for (unsigned k = 0; k < t.cells; k++) {
        app(buf, cap, &n, "%s%.3f", k ? "," : "", fin(t.cell_v[k] * 1000.0));
    }
    app(buf, cap, &n, "],\"cell_soc\":[");
    for (unsigned k = 0; k < t.cells; k++) {
        app(buf, cap, &n, "%s%.5f", k ? "," : "", fin(t.cell_soc[k] * 100.0));
    }
    app(buf, cap, &n,
        "],\"pack_v\":%.5f,\"pack_i\":%.4f,\"soc\":%.5f,\"bms_soc\":%.6f,\"temp_ext1\":%.3f,"
        "\"temp_ext2\":%.3f,\"temp_int\":%.3f,\"ambient\":%.2f,\"status\":%u,\"bal_decision\":%u,"
        "\"bal_active\":%u,\"charge_switch\":%s,\"discharge_switch\":%s,\"charger\":%s,"
        "\"asleep\":%s,\"rebooting\":%s,\"protections\":[",
        fin(t.pack_v), fin(t.pack_i), fin(t.soc_pct), fin(t.bms_soc_pct), fin(t.temp_ext1_c),
        fin(t.temp_ext2_c), fin(t.temp_int_c), fin(t.ambient_c), (unsigned)t.status,
        (unsigned)t.bal_decision, (unsigned)t.bal_active, t.charge_switch ? "true" : "false",
        t.discharge_switch ? "true" : "false", t.charger_present ? "true" : "false",
        t.asleep ? "true" : "false", t.rebooting ? "true" : "false");
    bool first = true;
    for (unsigned p = 0; p < SIM_PROT_COUNT; p++) {
        if (t.protections & (1u << p)) {
            app(buf, cap, &n, "%s\"%s\"", first ? "" : ",", k_prot_names[p]);
            first = false;
        }
    }
    app(buf, cap, &n, "],\"faults\":[");
    first = true;
    for (unsigned k = 0; k < SIM_FAULT_COUNT; k++) {
        if (s->fault_on[k]) {
            app(buf, cap, &n, "%s\"%s\"", first ? "" : ",", k_fault_names[k]);
            first = false;
        }
    }
    app(buf, cap, &n,
        "],\"ah_in\":%.6f,\"ah_out\":%.6f,\"wh_in\":%.5f,\"wh_out\":%.5f,\"wh_loss\":%.5f,"
        "\"ah_bled\":%.6f}",
        fin(t.ah_in), fin(t.ah_out), fin(t.wh_in), fin(t.wh_out), fin(t.wh_loss), fin(t.ah_bled));
    if (n > cap - 1) {
        buf[0] = '\0';
        return SIM_ERR_NOSPACE;
    }
    return (int)n;
}

const char *sim_err_str(int err)
{
    switch (err) {
    case SIM_OK:
        return "ok";
    case SIM_ERR_ARG:
        return "invalid argument";
    case SIM_ERR_RANGE:
        return "value out of range";
    case SIM_ERR_READONLY:
        return "register not writable";
    case SIM_ERR_FORMAT:
        return "malformed input";
    case SIM_ERR_NOSPACE:
        return "buffer too small";
    case SIM_ERR_IO:
        return "i/o error";
    case SIM_ERR_BUSY:
        return "BMS is rebooting";
    default:
        return "unknown error";
    }
}
