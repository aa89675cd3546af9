/* The battery model and the TinyBMS's own logic: cells, heat, balancing, SOC counting,
 * protections, status, events and statistics. See docs/simulator.md for the figures used. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

/* ---- physical constants (documented in docs/simulator.md) ---------------------------------- */
#define TAU_POL_S 30.0                    /* polarisation (RC) time constant */
#define RP_RATIO 1.0                      /* polarisation resistance / ohmic resistance */
#define SD_PER_S (0.03 / (30.0 * 86400.0)) /* self-discharge: 3 % of capacity per month at 25 degC */
#define R_OHM_AH 0.05                     /* cell resistance x capacity: 100 Ah -> 0.5 mOhm */
#define HEAT_J_PER_K_AH 20.0              /* cell heat capacity per Ah (~2 kg, 1 J/gK per 100 Ah) */
#define TAU_PACK_S 3600.0                 /* pack thermal time constant (sensor 1) */
#define TAU_EXT2_S 1800.0                 /* sensor 2: near the terminals, faster and hotter */
#define EXT2_GAIN 1.3
#define R_FET_OHM 0.0003                  /* switch resistance on the BMS board */
#define RTH_BOARD_K_W 3.0
#define TAU_BOARD_S 300.0
#define MAX_SUB_S 1.0                     /* physics sub-step (model seconds) ... */
#define MAX_SUBSTEPS 100                  /* ... unless that needs more sub-steps per 100 ms */
#define Q_MIN_FRAC (-0.05)                /* a cell can be driven 5 % below empty ... */
#define Q_MAX_FRAC 1.05                   /* ... or 5 % above full (then its voltage soars) */
#define TAIL_HOLD_S 60.0
#define TAPER_WARN_S 60.0
#define OT_HYST_C 5.0
#define UT_CHG_HYST_C 2.0
#define SIM_PI 3.14159265358979323846

/* Protection indices: bit i of sim_t.prot is SIM_PROT_* (same order). */
enum { P_OV, P_UV, P_OC_DIS, P_OC_CHG, P_OT, P_UT_CHG, P_UT, P_EMPTY, P_INJ, P_COUNT };
_Static_assert(P_COUNT == SIM_PROT_COUNT, "protection table size");
_Static_assert(sizeof ((sim_t *)0)->prot_clear_since / sizeof(double) == P_COUNT, "timers");
_Static_assert(SIM_PROT_INJECTED == 1u << P_INJ, "flag order");

/* ---- PRNG ---------------------------------------------------------------------------------- */

uint64_t sim__rng_seed(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t sim__rng_next(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double sim__rng_unit(uint64_t *st)
{
    return (double)(sim__rng_next(st) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t sim__rng_below(uint64_t *st, uint32_t n)
{
    return n ? (uint32_t)(sim__rng_next(st) % n) : 0;
}

bool sim__rng_hit(uint64_t *st, double p)
{
    if (p >= 1.0) {
        return true;
    }
    if (p <= 0.0) {
        return false;
    }
    return sim__rng_unit(st) < p;
}

/* Approximately normal, mean 0, sigma 1, clamped to +-3 (Irwin-Hall with 12 terms). */
double sim__rng_gauss(uint64_t *st)
{
    double s = -6.0;
    for (int i = 0; i < 12; i++) {
        s += sim__rng_unit(st);
    }
    return s < -3.0 ? -3.0 : (s > 3.0 ? 3.0 : s);
}

/* ---- OCV ----------------------------------------------------------------------------------- */

/* LiFePO4 open-circuit voltage at 25 degC: the steep lower knee, the 3.25-3.35 V plateau and the
 * upper knee. Typical published curves for prismatic LFP cells; see docs/simulator.md. */
static const double k_ocv_pct[] = {0, 1, 2, 4, 7, 10, 15, 20, 30, 40, 50,
                                   60, 70, 80, 90, 95, 97, 98, 99, 99.5, 100};
static const double k_ocv_v[] = {2.500, 2.800, 2.950, 3.080, 3.160, 3.200, 3.225,
                                 3.250, 3.275, 3.290, 3.300, 3.315, 3.328, 3.335,
                                 3.345, 3.360, 3.380, 3.400, 3.440, 3.470, 3.500};
#define OCV_N (sizeof k_ocv_pct / sizeof k_ocv_pct[0])

double sim_lfp_ocv(double pct)
{
    if (isnan(pct)) {
        return k_ocv_v[0];
    }
    if (pct <= 0.0) {
        return k_ocv_v[0] + 0.3 * pct; /* 0.3 V per % below empty */
    }
    if (pct >= 100.0) {
        return k_ocv_v[OCV_N - 1] + 0.6 * (pct - 100.0); /* 0.6 V per % of over-charge */
    }
    size_t lo = 0, hi = OCV_N - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (k_ocv_pct[mid] <= pct) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    double f = (pct - k_ocv_pct[lo]) / (k_ocv_pct[hi] - k_ocv_pct[lo]);
    return k_ocv_v[lo] + f * (k_ocv_v[hi] - k_ocv_v[lo]);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static double quant(double v, double step)
{
    return floor(v / step + 0.5) * step;
}

static double rfac(double t_c)
{
    return exp(0.025 * (25.0 - clampd(t_c, -40.0, 80.0)));
}

uint32_t sim__lifetime(const sim_t *s)
{
    return s->cfg.lifetime_s + (uint32_t)s->t_model;
}

void sim__log_event(sim_t *s, uint8_t id)
{
    s->ev[s->ev_head].ts = sim__lifetime(s) & 0xFFFFFFu;
    s->ev[s->ev_head].id = id;
    s->ev_head = (uint8_t)((s->ev_head + 1u) % SIM_EVENT_SLOTS);
    if (s->ev_count < SIM_EVENT_SLOTS) {
        s->ev_count++;
    }
    if (s->ev_unreported < SIM_EVENT_SLOTS) {
        s->ev_unreported++;
    }
}

void sim__set_bms_soc(sim_t *s, double pct)
{
    s->bms_soc = clampd(pct, 0.0, 100.0);
}

static double cell_soc_pct(const sim_cell_t *c)
{
    return c->q_ah / c->cap_ah * 100.0;
}

double sim__true_soc(const sim_t *s)
{
    double sum = 0;
    for (unsigned i = 0; i < s->n; i++) {
        sum += cell_soc_pct(&s->cell[i]);
    }
    return sum / s->n;
}

static double bleed_a(const sim_t *s, unsigned i)
{
    return (s->bal_active >> i) & 1u ? SIM_BLEED_A : 0.0;
}

static bool temp_valid(const sim_t *s, int sensor)
{
    return !s->temp_open_now[sensor];
}

/* Recompute every cell's OCV and terminal voltage from its state at current i (after a change
 * that was not a physics step: init, set soc, set temperature). */
void sim__refresh_voltages(sim_t *s)
{
    for (unsigned k = 0; k < s->n; k++) {
        sim_cell_t *c = &s->cell[k];
        double r = c->r_ohm * rfac(s->t_ext1);
        c->ocv = sim_lfp_ocv(cell_soc_pct(c));
        c->v = c->ocv + c->vp + c->i * r + c->fault_mv / 1000.0;
    }
}

bool sim__charge_allowed(const sim_t *s)
{
    uint32_t block = SIM_PROT_OV | SIM_PROT_OC_CHG | SIM_PROT_OT | SIM_PROT_UT | SIM_PROT_UT_CHG |
                     SIM_PROT_INJECTED;
    if (SIM_SET(s, 340) == 1) {
        /* single port: one switch for both directions. A discharge over-current opens it for
         * charge too; under-voltage and fully-discharged still let a charger in, or the pack
         * could never recover. */
        block |= SIM_PROT_OC_DIS;
    }
    return !(s->prot & block) && !s->rebooting;
}

bool sim__discharge_allowed(const sim_t *s)
{
    uint32_t block = SIM_PROT_UV | SIM_PROT_OC_DIS | SIM_PROT_OT | SIM_PROT_UT | SIM_PROT_EMPTY |
                     SIM_PROT_INJECTED;
    if (SIM_SET(s, 340) == 1) {
        block |= SIM_PROT_OV | SIM_PROT_OC_CHG | SIM_PROT_UT_CHG;
    }
    return !(s->prot & block) && !s->rebooting;
}

/* ---- loads --------------------------------------------------------------------------------- */

/* Current that brings the pack terminal voltage to v_set at the end of a sub-step of dt, with
 * the polarisation and the OCV slope taken implicitly (stable for any dt). */
static double cv_current(const sim_t *s, double v_set, double dt)
{
    double e = exp(-dt / TAU_POL_S);
    double k = dt / 3600.0;
    double num = v_set, den = 0;
    for (unsigned i = 0; i < s->n; i++) {
        const sim_cell_t *c = &s->cell[i];
        double rf = rfac(s->t_ext1);
        double r = c->r_ohm * rf, rp = r * RP_RATIO;
        double b = bleed_a(s, i);
        double pct = cell_soc_pct(c);
        double slope = (sim_lfp_ocv(pct + 0.05) - sim_lfp_ocv(pct - 0.05)) / 0.1 * 100.0 / c->cap_ah;
        num -= c->ocv + c->vp * e + c->fault_mv / 1000.0 - slope * b * k - b * rp * (1.0 - e) - b * r;
        den += slope * k + rp * (1.0 - e) + r;
    }
    return den > 0 ? num / den : 0.0;
}

static double charge_setpoint(const sim_t *s, double v)
{
    return v > 0 ? v : s->n * SIM_SET(s, 300) / 1000.0;
}

static double profile_current(const sim_t *s, double t)
{
    const sim_point_t *p = s->load.points;
    size_t n = s->load.n_points;
    if (!p || n == 0) {
        return 0.0;
    }
    double last = p[n - 1].time_s;
    if (s->load.loop && last > 0 && t > last) {
        t = fmod(t, last);
    }
    if (t <= p[0].time_s) {
        return p[0].current_a;
    }
    if (t >= last) {
        return p[n - 1].current_a;
    }
    size_t lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p[mid].time_s <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    double f = (t - p[lo].time_s) / (p[hi].time_s - p[lo].time_s);
    return p[lo].current_a + f * (p[hi].current_a - p[lo].current_a);
}

/* DAY load: the weather of day n (0 = the first), 0.35 (overcast) .. 1 (clear), the same for the
 * same seed and day. */
static double day_weather(const sim_t *s, double n_day)
{
    uint64_t st = sim__rng_seed(((uint64_t)s->cfg.seed << 20) ^ (uint64_t)(n_day < 0 ? 0 : n_day) ^ 0x5EA5u);
    return 0.35 + 0.65 * sim__rng_unit(&st);
}

/* SOLAR and DAY loads: PV minus the household. A surplus charges the battery, but never above what
 * the charger's constant-voltage stage accepts; a deficit is drawn from it. */
static double pv_net_current(const sim_t *s, const sim_load_t *l, double pv, double load_a, double dt)
{
    double net = pv - load_a;
    if (net > 0) {
        double icv = cv_current(s, charge_setpoint(s, l->charge_v), dt);
        return net < icv ? net : (icv > 0 ? icv : 0.0);
    }
    return net;
}

/* DAY load: the household's draw at time of day tod (0..1) as a multiple of its mean, one point per
 * hour from midnight, linear between them (the 24 values average 0.99). */
static double house_load(double tod)
{
    static const double k_hour[24] = {0.45, 0.4, 0.4, 0.4, 0.4, 0.5, 1.0, 1.6, 1.4, 0.9, 0.8, 0.9,
                                      1.1,  0.9, 0.8, 0.8, 1.0, 1.5, 1.9, 2.0, 1.7, 1.3, 0.9, 0.6};
    double h = tod * 24.0;
    int k = (int)floor(h);
    if (k < 0 || k > 23) {
        k = 0;
        h = 0;
    }
    double f = h - k;
    return k_hour[k] + f * (k_hour[(k + 1) % 24] - k_hour[k]);
}

/* The current the load asks for during the next sub-step; sets the automatic charger detection. */
static double load_current(sim_t *s, double dt, bool *auto_charger)
{
    const sim_load_t *l = &s->load;
    double t = s->t_model - s->load_t0;
    double i = 0;
    *auto_charger = false;
    switch (l->kind) {
    case SIM_LOAD_CURRENT:
        i = l->current_a;
        *auto_charger = i > 0;
        break;
    case SIM_LOAD_DISCHARGE:
        if (l->stop_soc_pct > 0 && sim__true_soc(s) <= l->stop_soc_pct) {
            s->load_done = true; /* discharge finished */
        }
        i = s->load_done ? 0.0 : -l->current_a;
        break;
    case SIM_LOAD_CHARGER: {
        *auto_charger = true;
        if (s->load_done) {
            break;
        }
        double icv = cv_current(s, charge_setpoint(s, l->charge_v), dt);
        i = clampd(icv, 0.0, l->charge_a);
        if (sim__charge_allowed(s) && l->tail_a > 0 && icv < l->charge_a && i < l->tail_a) {
            if (s->chg_tail_since < 0) {
                s->chg_tail_since = s->t_model;
            } else if (s->t_model - s->chg_tail_since >= TAIL_HOLD_S) {
                s->load_done = true; /* charger terminated */
                i = 0;
            }
        } else {
            s->chg_tail_since = -1;
        }
        break;
    }
    case SIM_LOAD_SOLAR: {
        double day = l->day_s > 0 ? l->day_s : 86400.0;
        double tod = fmod(l->start_hour / 24.0 * day + t, day) / day; /* 0..1 */
        double pv = 0;
        if (tod > 0.25 && tod < 0.75) {
            pv = l->solar_peak_a * sin(SIM_PI * (tod - 0.25) / 0.5);
        }
        i = pv_net_current(s, l, pv, l->solar_load_a, dt);
        *auto_charger = pv > 0;
        break;
    }
    case SIM_LOAD_DAY: {
        double day = l->day_s > 0 ? l->day_s : 86400.0;
        double td = l->start_hour / 24.0 * day + t;
        double n_day = floor(td / day);
        double tod = (td - n_day * day) / day; /* 0..1 */
        double pv = 0;
        if (tod > 0.25 && tod < 0.75) {
            double w = day_weather(s, n_day);
            /* passing clouds on the duller days: up to 60 % of the rest gone, periods of 40 and 11
             * minutes of a 24-hour day */
            double h = tod * 24.0;
            double c = (1.0 - w) * 0.6 * (0.5 + 0.25 * sin(2.0 * SIM_PI * h * 1.5) + 0.25 * sin(2.0 * SIM_PI * h * 5.5));
            pv = l->solar_peak_a * w * (1.0 - c) * sin(SIM_PI * (tod - 0.25) / 0.5);
        }
        i = pv_net_current(s, l, pv, l->solar_load_a * house_load(tod), dt);
        *auto_charger = pv > 0;
        break;
    }
    case SIM_LOAD_PROFILE:
        i = profile_current(s, t);
        *auto_charger = i > 0;
        break;
    }
    return isfinite(i) ? i : 0.0;
}

/* ---- protections --------------------------------------------------------------------------- */

static const uint8_t k_trip_event[P_COUNT] = {0x03, 0x02, 0x05, 0x06, 0x04, 0x37, 0x0A, 0x31, 0};
static const uint8_t k_recover_event[P_COUNT] = {0x79, 0x7B, 0x77, 0x76, 0x73, 0x74, 0x75, 0x7A, 0};
static const int k_stat_index[P_COUNT] = {1, 0, 2, 3, 4, -1, -1, -1, -1};

static void trip(sim_t *s, int p)
{
    if (s->prot & (1u << p)) {
        return;
    }
    s->prot |= 1u << p;
    s->prot_clear_since[p] = -1;
    sim__log_event(s, k_trip_event[p]);
    int si = k_stat_index[p];
    if (si >= 0 && s->st_count[si] < 0xFFFF) {
        s->st_count[si]++;
    }
    if (p == P_EMPTY) {
        sim__set_bms_soc(s, 0.0);
    }
}

/* Recover protection p once its cause has been gone for register 332 seconds (332 = 0: only a
 * connected charger recovers it). */
static void maybe_recover(sim_t *s, int p, bool cause_gone)
{
    if (!(s->prot & (1u << p))) {
        return;
    }
    if (!cause_gone) {
        s->prot_clear_since[p] = -1;
        return;
    }
    if (s->prot_clear_since[p] < 0) {
        s->prot_clear_since[p] = s->t_model;
    }
    uint16_t delay = SIM_SET(s, 332) & 0xFF;
    bool ok = delay ? (s->t_model - s->prot_clear_since[p] >= delay) : s->charger_present;
    if (ok) {
        s->prot &= ~(1u << p);
        s->prot_clear_since[p] = -1;
        sim__log_event(s, k_recover_event[p]);
    }
}

static void protections(sim_t *s, double dt, double vmin, double vmax, double tmin, double tmax,
                        double i_req)
{
    double act = s->cfg.activity_a;
    double i = s->i_pack;
    double ov = SIM_SET(s, 315) / 1000.0, uv = SIM_SET(s, 316) / 1000.0;
    double full = SIM_SET(s, 300) / 1000.0, empty = SIM_SET(s, 301) / 1000.0;
    double t_hot = (int16_t)SIM_SET(s, 319), t_cold = (int16_t)SIM_SET(s, 320);

    if (vmax >= ov) {
        trip(s, P_OV);
    }
    maybe_recover(s, P_OV, vmax < full);

    if (vmin <= uv) {
        trip(s, P_UV);
    }
    /* Latched: needs all cells above the cutoff and a charger (or a restart). */
    maybe_recover(s, P_UV, vmin > uv && s->charger_present);

    double oc_timeout = (double)(SIM_SET(s, 330) >> 8);
    if (-i > SIM_SET(s, 305)) {
        trip(s, P_OC_DIS); /* peak cutoff: instantaneous */
    } else if (-i > SIM_SET(s, 317)) {
        if (s->oc_dis_since < 0) {
            s->oc_dis_since = s->t_model - dt;
        }
        if (s->t_model - s->oc_dis_since >= oc_timeout) {
            trip(s, P_OC_DIS);
        }
    } else {
        s->oc_dis_since = -1;
    }
    maybe_recover(s, P_OC_DIS, -i <= SIM_SET(s, 317));

    if (i > SIM_SET(s, 318)) {
        trip(s, P_OC_CHG);
    }
    maybe_recover(s, P_OC_CHG, i <= SIM_SET(s, 318));

    if (tmax >= t_hot) {
        trip(s, P_OT);
    }
    maybe_recover(s, P_OT, tmax < t_hot - OT_HYST_C);

    if (tmin <= t_cold && (i > act || i_req > act)) {
        trip(s, P_UT_CHG);
    }
    maybe_recover(s, P_UT_CHG, tmin > t_cold + UT_CHG_HYST_C);

    if (tmin < -40.0) {
        trip(s, P_UT);
    }
    maybe_recover(s, P_UT, tmin >= -38.0);

    if (vmin <= empty && i < -act) {
        trip(s, P_EMPTY);
    }
    maybe_recover(s, P_EMPTY, s->charger_present && vmin > empty);
}

/* ---- one physics sub-step ------------------------------------------------------------------ */

static void substep(sim_t *s, double dt)
{
    bool auto_chg = false;
    double i_req = load_current(s, dt, &auto_chg);
    bool present = s->charger_mode == 1 ? true : (s->charger_mode == 2 ? false : auto_chg);
    if (present != s->charger_present) {
        s->charger_present = present;
        sim__log_event(s, present ? 0x64 : 0x65);
        if (!present) {
            s->chg_session_bulk = false;
            s->chg_warned = false;
            s->chg_taper_since = -1;
        }
    }

    double i = i_req;
    if (s->lim_on) {
        /* a system that obeys the limits it was sent (CVL/CCL/DCL) */
        if (i > 0) {
            double icv = cv_current(s, s->lim_cvl, dt);
            i = fmin(i, fmin(s->lim_ccl, fmax(icv, 0.0)));
        } else if (i < -s->lim_dcl) {
            i = -s->lim_dcl;
        }
    }
    if (i > 0 && !sim__charge_allowed(s)) {
        i = 0;
    }
    if (i < 0 && !sim__discharge_allowed(s)) {
        i = 0;
    }
    i = clampd(i, -10000.0, 10000.0);
    s->i_pack = i;

    /* cells */
    double e = exp(-dt / TAU_POL_S);
    double h = dt / 3600.0;
    double rf = rfac(s->t_ext1);
    double sdf = pow(2.0, (clampd(s->t_ext1, -40.0, 80.0) - 25.0) / 10.0);
    double p_cells = 0, p_bleed = 0, pack_v = 0;
    for (unsigned k = 0; k < s->n; k++) {
        sim_cell_t *c = &s->cell[k];
        double b = bleed_a(s, k);
        double ic = i - b;
        double r = c->r_ohm * rf, rp = r * RP_RATIO;
        double target = ic * rp;
        c->vp = target + (c->vp - target) * e;
        double sd = c->cap_ah * SD_PER_S * 3600.0 * c->sd_factor * sdf; /* A */
        c->q_ah = clampd(c->q_ah + (ic - sd) * h, Q_MIN_FRAC * c->cap_ah, Q_MAX_FRAC * c->cap_ah);
        double ocv0 = c->ocv;
        c->ocv = sim_lfp_ocv(cell_soc_pct(c));
        c->i = ic;
        if (s->fault_on[SIM_FAULT_CELL_HIGH] && s->fault[SIM_FAULT_CELL_HIGH].param == k + 1) {
            c->fault_mv = clampd(c->fault_mv + s->fault[SIM_FAULT_CELL_HIGH].rate * dt, 0, 2000.0);
        }
        if (s->fault_on[SIM_FAULT_CELL_LOW] && s->fault[SIM_FAULT_CELL_LOW].param == k + 1) {
            c->fault_mv = clampd(c->fault_mv - s->fault[SIM_FAULT_CELL_LOW].rate * dt, -3000.0, 0);
        }
        c->v = c->ocv + c->vp + ic * r + c->fault_mv / 1000.0;
        if (c->v < 0) {
            c->v = 0;
        }
        double loss = ic * ic * r + (rp > 0 ? c->vp * c->vp / rp : 0.0);
        p_cells += loss;
        s->wh_loss += loss * h;
        double ocv_mid = 0.5 * (ocv0 + c->ocv);
        s->ah_bled += b * h;
        s->wh_bled += b * ocv_mid * h;
        p_bleed += b * c->v;
        s->ah_sd += sd * h;
        pack_v += c->v;
    }
    if (i > 0) {
        s->ah_in += i * h;
        s->wh_in += i * pack_v * h;
    } else {
        s->ah_out += -i * h;
        s->wh_out += -i * pack_v * h;
    }

    /* heat */
    double c_pack = HEAT_J_PER_K_AH * s->cfg.capacity_ah * s->n;
    double rth = TAU_PACK_S / c_pack;
    double ss1 = s->t_amb + p_cells * rth;
    s->t_ext1 = ss1 + (s->t_ext1 - ss1) * exp(-dt / TAU_PACK_S);
    double ss2 = s->t_amb + EXT2_GAIN * p_cells * rth;
    s->t_ext2 = ss2 + (s->t_ext2 - ss2) * exp(-dt / TAU_EXT2_S);
    double ssb = s->t_amb + (i * i * R_FET_OHM + p_bleed) * RTH_BOARD_K_W;
    s->t_int = ssb + (s->t_int - ssb) * exp(-dt / TAU_BOARD_S);

    s->t_model += dt;

    /* the BMS measures, at its resolution: 0.1 mV per cell, 0.1 degC */
    double vmin = 1e9, vmax = -1e9;
    for (unsigned k = 0; k < s->n; k++) {
        double v = quant(s->cell[k].v, 1e-4);
        vmin = v < vmin ? v : vmin;
        vmax = v > vmax ? v : vmax;
    }
    double tmin = quant(s->t_int, 0.1), tmax = tmin;
    if (temp_valid(s, 0)) {
        tmin = fmin(tmin, quant(s->t_ext1, 0.1));
        tmax = fmax(tmax, quant(s->t_ext1, 0.1));
    }
    if (temp_valid(s, 1)) {
        tmin = fmin(tmin, quant(s->t_ext2, 0.1));
        tmax = fmax(tmax, quant(s->t_ext2, 0.1));
    }

    /* SOC counter: the BMS integrates its shunt against its capacity setting (306). */
    double cap_set = SIM_SET(s, 306) / 100.0;
    if (cap_set > 0) {
        sim__set_bms_soc(s, s->bms_soc + i * h / cap_set * 100.0);
    }

    /* injected BMS fault latches with probability p per model second */
    if (s->fault_on[SIM_FAULT_BMS_FAULT] && !(s->prot & SIM_PROT_INJECTED)) {
        double p = s->fault[SIM_FAULT_BMS_FAULT].probability;
        double pdt = p >= 1.0 ? 1.0 : 1.0 - pow(1.0 - p, dt);
        if (sim__rng_hit(&s->rng_fault, pdt)) {
            s->prot |= SIM_PROT_INJECTED;
            uint32_t id = s->fault[SIM_FAULT_BMS_FAULT].param;
            if (id) {
                sim__log_event(s, (uint8_t)id);
            }
        }
    }

    if (!s->rebooting) {
        protections(s, dt, vmin, vmax, tmin, tmax, i_req);
    }

    /* end of charge, as the TinyBMS judges it */
    double act = s->cfg.activity_a;
    double i_fin = SIM_SET(s, 304) / 1000.0;
    double full_v = SIM_SET(s, 300) / 1000.0;
    if (s->charger_present) {
        if (i >= i_fin) {
            s->chg_session_bulk = true;
            s->chg_taper_since = -1;
        }
        if (!s->full_flag && sim__charge_allowed(s) && i >= 0 && i < i_fin && vmax >= full_v) {
            s->full_flag = true;
            sim__set_bms_soc(s, 100.0);
            sim__log_event(s, 0x63);
            if (s->st_full < 0xFFFF) {
                s->st_full++;
            }
        } else if (!s->full_flag && !s->chg_warned && s->chg_session_bulk && i >= 0 && i < i_fin &&
                   vmax < full_v) {
            if (s->chg_taper_since < 0) {
                s->chg_taper_since = s->t_model;
            } else if (s->t_model - s->chg_taper_since >= TAPER_WARN_S) {
                s->chg_warned = true;
                sim__log_event(s, 0x39); /* charging done, charger voltage too low */
            }
        }
    }
    if (i < -act) {
        s->full_flag = false;
    }

    /* status */
    uint16_t st;
    if (s->prot & SIM_PROT_FAULTS) {
        st = SIM_STATUS_FAULT;
    } else if (i > act) {
        st = (SIM_SET(s, 340) == 1 || s->charger_present) ? SIM_STATUS_CHARGING : SIM_STATUS_REGEN;
    } else if (i < -act) {
        st = SIM_STATUS_DISCHARGING;
    } else if (s->full_flag) {
        st = SIM_STATUS_FULL;
    } else {
        st = SIM_STATUS_IDLE;
    }
    if (st == SIM_STATUS_CHARGING && s->status != SIM_STATUS_CHARGING) {
        sim__log_event(s, 0x62);
        if (s->st_charging < 0xFFFF) {
            s->st_charging++;
        }
    }
    s->status = st;

    /* balancing decision for the next sub-step: cells above the early-balancing threshold (303)
     * and more than the allowed disbalance (308) above the lowest cell; they bleed while
     * charging, regenerating, fully charged on the charger, or in over-voltage fault. */
    double v_bal = SIM_SET(s, 303) / 1000.0, dis = SIM_SET(s, 308) / 1000.0;
    uint16_t dec = 0;
    for (unsigned k = 0; k < s->n; k++) {
        double v = quant(s->cell[k].v, 1e-4);
        if (v > v_bal && v - vmin > dis) {
            dec |= (uint16_t)(1u << k);
        }
    }
    bool bleed = !s->rebooting &&
                 (st == SIM_STATUS_CHARGING || st == SIM_STATUS_REGEN || (s->prot & SIM_PROT_OV) ||
                  (s->full_flag && s->charger_present));
    s->bal_decision = dec;
    s->bal_active = bleed ? dec : 0;

    /* statistics */
    double da = fabs(i) * 10.0;
    uint16_t da16 = (uint16_t)clampd(da, 0, 65535);
    if (i < 0 && da16 > s->st_max_dis_da) {
        s->st_max_dis_da = da16;
    }
    if (i > 0 && da16 > s->st_max_chg_da) {
        s->st_max_chg_da = da16;
    }
    uint16_t diff = (uint16_t)clampd((vmax - vmin) * 10000.0, 0, 65535);
    if (diff > s->st_max_diff_01mv) {
        s->st_max_diff_01mv = diff;
    }
    double tp = temp_valid(s, 0) ? s->t_ext1 : s->t_int;
    int8_t tp8 = (int8_t)clampd(floor(tp + 0.5), -128, 127);
    if (tp8 < s->st_tmin) {
        s->st_tmin = tp8;
    }
    if (tp8 > s->st_tmax) {
        s->st_tmax = tp8;
    }
}

/* ---- measurement publishing ---------------------------------------------------------------- */

static int16_t temp_raw(double c)
{
    return (int16_t)clampd(floor(c * 10.0 + 0.5), -32767, 32767);
}

void sim__publish(sim_t *s)
{
    sim_pub_t *p = &s->pub;
    double pack = 0, vmin = 1e9, vmax = -1e9;
    for (unsigned k = 0; k < SIM_MAX_CELLS; k++) {
        p->cell_01mv[k] = 0;
    }
    for (unsigned k = 0; k < s->n; k++) {
        double v = s->cell[k].v;
        p->cell_01mv[k] = (uint16_t)clampd(floor(v * 10000.0 + 0.5), 0, 65535);
        pack += v;
        vmin = v < vmin ? v : vmin;
        vmax = v > vmax ? v : vmax;
    }
    p->pack_v = (float)pack;
    p->pack_i = (float)s->i_pack;
    p->min_mv = (uint16_t)clampd(floor(vmin * 1000.0 + 0.5), 0, 65535);
    p->max_mv = (uint16_t)clampd(floor(vmax * 1000.0 + 0.5), 0, 65535);
    /* open temperature sensors: decided per measurement */
    for (int k = 0; k < 2; k++) {
        s->temp_open_now[k] = false;
    }
    if (s->fault_on[SIM_FAULT_TEMP_OPEN]) {
        const sim_fault_t *f = &s->fault[SIM_FAULT_TEMP_OPEN];
        if (sim__rng_hit(&s->rng_fault, f->probability)) {
            s->temp_open_now[0] = f->param == 0 || f->param == 1;
            s->temp_open_now[1] = f->param == 0 || f->param == 2;
        }
    }
    p->t_ext1 = s->temp_open_now[0] ? INT16_MIN : temp_raw(s->t_ext1);
    p->t_ext2 = s->temp_open_now[1] ? INT16_MIN : temp_raw(s->t_ext2);
    p->t_int = temp_raw(s->t_int);
    p->soc_raw = (uint32_t)clampd(floor(s->bms_soc * 1e6 + 0.5), 0, 100000000.0);
    p->status = s->status;
    p->bal_decision = s->bal_decision;
    p->bal_active = s->bal_active;
    double cap_set = SIM_SET(s, 306) / 100.0;
    if (s->i_pack < -s->cfg.activity_a) {
        p->time_left_s = (uint32_t)clampd(s->bms_soc / 100.0 * cap_set / -s->i_pack * 3600.0, 0,
                                          4294967295.0);
    } else {
        p->time_left_s = 0;
    }
}

/* ---- reboot, sleep, stepping ---------------------------------------------------------------- */

void sim__begin_reboot(sim_t *s, uint32_t now)
{
    if (!s->rebooting) {
        s->mode_before_reboot = SIM_SET(s, 340);
    }
    s->rebooting = true;
    s->reboot_until = now + SIM_REBOOT_MS;
    s->asleep = false;
    s->bal_active = 0;
    s->cnt.reboots++;
    sim__rx_reset(s);
}

static void finish_reboot(sim_t *s, uint32_t t)
{
    s->rebooting = false;
    s->prot &= SIM_PROT_INJECTED; /* a restart clears every protection (causes re-trip) */
    for (int p = 0; p < P_COUNT; p++) {
        s->prot_clear_since[p] = -1;
    }
    s->st_reset_cause = 4; /* software reset */
    s->last_rx = t;
    s->quiet_since = t;
    s->full_flag = false;
    s->chg_session_bulk = false;
    s->chg_warned = false;
    sim__log_event(s, 0x61);
    uint16_t mode = SIM_SET(s, 340);
    if (mode != s->mode_before_reboot) {
        sim__log_event(s, mode == 1 ? 0x67 : 0x66);
    }
    sim__rx_reset(s);
    s->last_pub = t;
    sim__publish(s);
}

void sim__wake(sim_t *s, uint8_t src)
{
    s->asleep = false;
    s->st_wake_src = src;
    s->cnt.wakeups++;
}

/* One 100 ms measurement period ending at wire time t. */
static void step_wire(sim_t *s, uint32_t t)
{
    double total = SIM_MEASURE_MS / 1000.0 * s->speed;
    int nsub = (int)ceil(total / MAX_SUB_S - 1e-9);
    if (nsub < 1) {
        nsub = 1;
    }
    if (nsub > MAX_SUBSTEPS) {
        nsub = MAX_SUBSTEPS;
    }
    for (int k = 0; k < nsub; k++) {
        substep(s, total / nsub);
    }
    if (s->rebooting && (int32_t)(t - s->reboot_until) >= 0) {
        finish_reboot(s, t);
    }
    double act = s->cfg.activity_a;
    bool busy = fabs(s->i_pack) >= act || s->charger_present ||
                (s->prot & (SIM_PROT_OC_DIS | SIM_PROT_OC_CHG));
    if (busy) {
        s->quiet_since = t;
        if (s->asleep) {
            sim__wake(s, s->charger_present ? 0 : 2);
        }
    }
    if (!s->asleep && !s->rebooting && s->cfg.sleep_enabled &&
        (int32_t)(t - s->last_rx) >= (int32_t)SIM_SLEEP_MS &&
        (int32_t)(t - s->quiet_since) >= (int32_t)SIM_SLEEP_MS) {
        s->asleep = true;
    }
    /* Awake: measure every 100 ms. Asleep: cells sampled once a minute. */
    if (!s->rebooting && (!s->asleep || (int32_t)(t - s->last_pub) >= 60000)) {
        sim__publish(s);
        s->last_pub = t;
    }
    if (!s->rebooting && !s->asleep) {
        sim__broadcast(s, t);
    }
}

void sim_advance(sim_t *s, uint32_t now)
{
    if (!s) {
        return;
    }
    if ((int32_t)(now - s->now) > 0) {
        s->now = now;
    }
    while ((int32_t)(s->now - s->next_step) >= 0) {
        uint32_t t = s->next_step;
        step_wire(s, t);
        s->next_step = t + SIM_MEASURE_MS;
    }
}

/* Give every cell its capacity, resistance, self-discharge rate and SOC offset from the seed
 * (the order of the draws is part of the determinism contract: do not reorder). */
void sim__init_cells(sim_t *s)
{
    const sim_config_t *cfg = &s->cfg;
    for (unsigned k = 0; k < s->n; k++) {
        sim_cell_t *c = &s->cell[k];
        c->cap_ah = cfg->capacity_ah * (1.0 + cfg->cap_spread_pct / 100.0 * sim__rng_gauss(&s->rng_model));
        double rf = 1.0 + cfg->ir_spread_pct / 100.0 * sim__rng_gauss(&s->rng_model);
        c->r_ohm = R_OHM_AH / cfg->capacity_ah * (rf < 0.2 ? 0.2 : rf);
        c->sd_factor = 0.5 + sim__rng_unit(&s->rng_model);
        c->soc_offset = cfg->soc_spread_pct / 100.0 * sim__rng_gauss(&s->rng_model);
    }
}

/* Place the cells at pack SOC pct as a top-balanced pack (the state a BMS that balances at the
 * top keeps a pack in): every cell misses the same charge from full, (1 - pct) x nominal
 * capacity, plus its own seeded offset. Capacity differences then show at the bottom. */
void sim__place_soc(sim_t *s, double pct)
{
    double nominal = s->cfg.capacity_ah;
    for (unsigned k = 0; k < s->n; k++) {
        sim_cell_t *c = &s->cell[k];
        double missing = (1.0 - pct / 100.0 - c->soc_offset) * nominal;
        c->q_ah = clampd(c->cap_ah - missing, 0.0, c->cap_ah);
        c->vp = 0;
    }
    sim__set_bms_soc(s, pct);
}
