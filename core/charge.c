#include "core/charge.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/tb_bits.h"

/* TB_NOINLINE below: -Os inlines small helpers at each of their calls, and every copy repeats the
 * libgcc float calls and the selects around them (and adds to the register pressure of the one
 * big chg_step()); one out-of-line copy is smaller (measured per helper). */

/* ---- configuration schema ------------------------------------------------------------------ */

#define S chg_config_t
static const cfg_param_t chg_params[] = {
    /* targets */
    CFG_ROW_FLOAT(S, cell_bulk_v, "charge.cell_bulk_v", "V", 3.30, 3.65, 3.45, 0,
                  "Absorption target per cell; CVL never exceeds this times the series cell count. 3.45 V "
                  "charges LiFePO4 to ~98 % with little time spent on the steep knee."),
    CFG_ROW_FLOAT(S, cell_float_v, "charge.cell_float_v", "V", 3.20, 3.45, 3.375, 0,
                  "Float target per cell after absorption; 3.375 V holds LiFePO4 near full without "
                  "keeping the cells on the knee."),
    CFG_ROW_FLOAT(S, cell_limit_v, "charge.cell_limit_v", "V", 3.35, 3.65, 3.50, 0,
                  "The cell-voltage controller lowers CVL (never below the pack voltage) so that the "
                  "highest cell stays below this, whatever the pack voltage says."),
    CFG_ROW_FLOAT(S, ov_margin_v, "charge.ov_margin_v", "V", 0.02, 0.50, 0.10, 0,
                  "Per-cell targets and the controller limit stay this far below the TinyBMS over-voltage "
                  "cut-off (register 315) so the BMS never has to open its switch."),
    CFG_ROW_BOOL(S, cap_at_bms_full, "charge.cap_at_bms_full", 1, 0,
                 "Also cap the absorption target at the TinyBMS fully-charged voltage (register 300), so the "
                 "gateway never charges beyond what the BMS calls full."),
    CFG_ROW_FLOAT(S, absorption_band_v, "charge.absorption_band_v", "V", 0.005, 0.10, 0.02, CFG_F_ADVANCED,
                  "The pack is 'at voltage' (absorption timer runs) within this many volts per cell of the "
                  "target, or when the highest cell has reached the target."),
    CFG_ROW_FLOAT(S, dvl_cell_v, "charge.dvl_cell_v", "V", 2.50, 3.20, 2.90, 0,
                  "Discharge voltage (DVL, 0x351 bytes 6-7) per cell, raised to the BMS under-voltage "
                  "cut-off if that is higher; the GX mostly ignores it but copies it to the inverter."),
    /* transitions */
    CFG_ROW_INT(S, absorption_time_s, "charge.absorption_time_s", "s", 0, 86400, 1800, 0,
                "Time at voltage after which absorption ends (if the cells are balanced), even without "
                "tail current; 30 min lets the TinyBMS balancer work at the top."),
    CFG_ROW_INT(S, absorption_max_s, "charge.absorption_max_s", "s", 600, 172800, 7200, 0,
                "Time at voltage after which absorption ends even with unbalanced cells, so a pack never "
                "sits at the absorption voltage indefinitely."),
    CFG_ROW_FLOAT(S, tail_current_c, "charge.tail_current_c", "C", 0.0, 0.2, 0.02, 0,
                  "Absorption ends early when the charge current stays at or below this C-rate of the BMS "
                  "capacity (register 306) while at voltage; 0 disables the tail criterion."),
    CFG_ROW_INT(S, tail_time_s, "charge.tail_time_s", "s", 10, 3600, 120, CFG_F_ADVANCED,
                "The tail current must hold this long, so a passing load does not end the charge."),
    CFG_ROW_FLOAT(S, float_max_spread_v, "charge.float_max_spread_v", "V", 0.005, 0.2, 0.02, 0,
                  "Absorption ends normally only with the highest and lowest cell within this spread."),
    CFG_ROW_FLOAT(S, float_descent_v_min, "charge.float_descent_v_min", "V/min", 0.001, 0.1, 0.005,
                  CFG_F_ADVANCED,
                  "CVL descends from the absorption to the float target at this rate per cell, so the "
                  "inverter does not discharge hard into loads when float starts."),
    CFG_ROW_FLOAT(S, rebulk_soc_pct, "charge.rebulk_soc_pct", "%", 0, 99, 80, 0,
                  "In float, start a new charge when the SOC stays below this (0 = off); armed only once the "
                  "SOC was 5 % above it, so a wrong SOC cannot make the charger cycle."),
    CFG_ROW_FLOAT(S, rebulk_cell_v, "charge.rebulk_cell_v", "V", 0, 3.35, 3.20, 0,
                  "In float, start a new charge when the lowest cell stays below this (0 = off)."),
    CFG_ROW_FLOAT(S, rebulk_spread_v, "charge.rebulk_spread_v", "V", 0, 0.5, 0.08, 0,
                  "In float, start a new charge to rebalance when the cell spread stays at or above this "
                  "(0 = off); suppressed after an absorption that ended unbalanced on its time limit."),
    CFG_ROW_INT(S, rebulk_delay_s, "charge.rebulk_delay_s", "s", 0, 86400, 120, CFG_F_ADVANCED,
                "A re-bulk condition must hold this long."),
    CFG_ROW_INT(S, full_charge_days, "charge.full_charge_days", "d", 0, 60, 7, 0,
                "Start a full charge (bulk, absorption with balancing) after this many days in float or bulk "
                "without one (0 = off). The count restarts with the gateway."),
    /* current limits */
    CFG_ROW_FLOAT(S, ccl_max_a, "charge.ccl_max_a", "A", 0, 2000, 100, 0,
                  "Maximum charge current; the lower of this and the BMS charge over-current cut-off "
                  "(register 318, less the margin) is the base CCL."),
    CFG_ROW_FLOAT(S, dcl_max_a, "charge.dcl_max_a", "A", 0, 2000, 150, 0,
                  "Maximum discharge current; the lower of this and the BMS discharge over-current cut-off "
                  "(register 317, less the margin) is the base DCL."),
    CFG_ROW_FLOAT(S, bms_current_margin_pct, "charge.bms_current_margin_pct", "%", 0, 90, 20, 0,
                  "CCL/DCL stay this far below the BMS over-current cut-offs, leaving room for the GX's "
                  "regulation overshoot before the BMS trips."),
    CFG_ROW_FLOAT(S, ccl_taper_start_v, "charge.ccl_taper_start_v", "V", 3.30, 3.60, 3.40, 0,
                  "Highest cell voltage where CCL starts to taper (1 -> 0.5 -> 0.2 -> 0.05 -> 0 over the span)."),
    CFG_ROW_FLOAT(S, ccl_taper_end_v, "charge.ccl_taper_end_v", "V", 3.40, 3.70, 3.55, 0,
                  "Highest cell voltage where CCL reaches 0 and charging stops (latched; also never above the "
                  "BMS over-voltage cut-off)."),
    CFG_ROW_FLOAT(S, ov_release_v, "charge.ov_release_v", "V", 0.02, 0.40, 0.10, 0,
                  "A charge stop on cell voltage releases once the highest cell is this far below the taper "
                  "end for charge.limit_hold_s."),
    CFG_ROW_FLOAT(S, dcl_taper_start_v, "charge.dcl_taper_start_v", "V", 2.90, 3.30, 3.10, 0,
                  "Lowest cell voltage where DCL starts to taper."),
    CFG_ROW_FLOAT(S, dcl_taper_end_v, "charge.dcl_taper_end_v", "V", 2.50, 3.20, 2.90, 0,
                  "Lowest cell voltage where DCL reaches 0 (latched). DCL = 0 switches an off-grid inverter off."),
    CFG_ROW_FLOAT(S, uv_margin_v, "charge.uv_margin_v", "V", 0.0, 0.5, 0.05, 0,
                  "The DCL taper end is at least this far above the BMS under-voltage cut-off (register 316)."),
    CFG_ROW_FLOAT(S, uv_release_v, "charge.uv_release_v", "V", 0.05, 0.5, 0.15, 0,
                  "A discharge stop releases once the lowest cell is this far above the taper end for "
                  "charge.limit_hold_s; LiFePO4 rebounds ~0.1 V when the load goes, so less would cycle."),
    CFG_ROW_FLOAT(S, charge_temp_min_c, "charge.charge_temp_min_c", "°C", -20, 20, 0, 0,
                  "No charging at or below this temperature (or the BMS low-temperature charge cut-off, "
                  "register 320, if higher): lithium plating below 0 C."),
    CFG_ROW_FLOAT(S, charge_temp_max_c, "charge.charge_temp_max_c", "°C", 20, 70, 50, 0,
                  "No charging at or above this temperature (or the BMS over-heat cut-off less the margin, "
                  "if lower)."),
    CFG_ROW_FLOAT(S, discharge_temp_min_c, "charge.discharge_temp_min_c", "°C", -40, 10, -20, 0,
                  "No discharging at or below this temperature."),
    CFG_ROW_FLOAT(S, discharge_temp_max_c, "charge.discharge_temp_max_c", "°C", 20, 80, 55, 0,
                  "No discharging at or above this temperature (or the BMS over-heat cut-off less the margin)."),
    CFG_ROW_FLOAT(S, temp_margin_c, "charge.temp_margin_c", "°C", 0, 20, 5, 0,
                  "Distance kept from the BMS over-heat cut-off (register 319)."),
    CFG_ROW_FLOAT(S, temp_derate_c, "charge.temp_derate_c", "°C", 0, 30, 10, 0,
                  "Within this many degrees of a temperature limit the current is derated linearly from 100 % "
                  "to 20 % (0 at the limit)."),
    CFG_ROW_FLOAT(S, soc_ccl_taper_pct, "charge.soc_ccl_taper_pct", "%", 50, 100, 95, 0,
                  "CCL tapers linearly above this SOC down to charge.soc_taper_min_frac at 100 % (100 = off)."),
    CFG_ROW_FLOAT(S, soc_dcl_taper_pct, "charge.soc_dcl_taper_pct", "%", 0, 50, 10, 0,
                  "DCL tapers linearly below this SOC down to charge.soc_taper_min_frac at 0 % (0 = off)."),
    CFG_ROW_FLOAT(S, soc_taper_min_frac, "charge.soc_taper_min_frac", "", 0.05, 1.0, 0.25, 0,
                  "Fraction of the current left by the SOC tapers at their end; never 0, because the "
                  "TinyBMS SOC is an estimate and cell voltages do the hard stopping."),
    CFG_ROW_FLOAT(S, imbalance_hold_v, "charge.imbalance_hold_v", "V", 0.02, 0.5, 0.10, 0,
                  "Cell spread that starts the imbalance hold (small CCL so the balancer can catch up)."),
    CFG_ROW_FLOAT(S, imbalance_release_v, "charge.imbalance_release_v", "V", 0.01, 0.5, 0.05, 0,
                  "Cell spread that ends the imbalance hold."),
    CFG_ROW_FLOAT(S, imbalance_min_cell_v, "charge.imbalance_min_cell_v", "V", 3.30, 3.60, 3.40, 0,
                  "The imbalance hold applies only while the highest cell is at least this (spread in the "
                  "flat middle of the curve says little)."),
    CFG_ROW_FLOAT(S, imbalance_ccl_c, "charge.imbalance_ccl_c", "C", 0.0, 0.5, 0.02, 0,
                  "CCL during the imbalance hold as a C-rate of the BMS capacity."),
    CFG_ROW_FLOAT(S, fault_recovery_c, "charge.fault_recovery_c", "C", 0.0, 0.2, 0.05, 0,
                  "CCL while the TinyBMS is in fault with its lowest cell below the fully-discharged voltage "
                  "(an under-voltage trip), as a C-rate: the BMS recovers from that fault only when charged, so "
                  "refusing all charge would lock the pack out. 0 = no charging in any fault."),
    /* dynamics */
    CFG_ROW_FLOAT(S, ccl_ramp_a_s, "charge.ccl_ramp_a_s", "A/s", 0.1, 100, 2.0, 0,
                  "CCL increases ramp at this rate (decreases apply at once)."),
    CFG_ROW_FLOAT(S, dcl_ramp_a_s, "charge.dcl_ramp_a_s", "A/s", 0.1, 100, 5.0, 0,
                  "DCL increases ramp at this rate (decreases apply at once)."),
    CFG_ROW_INT(S, limit_hold_s, "charge.limit_hold_s", "s", 0, 600, 30, 0,
                "After a CCL/DCL decrease (or a stop) no increase for this long, so limits cannot chatter."),
    CFG_ROW_FLOAT(S, cvl_rise_v_min, "charge.cvl_rise_v_min", "V/min", 0.001, 0.2, 0.01, CFG_F_ADVANCED,
                  "CVL increases ramp at this rate per cell (decreases apply at once)."),
    CFG_ROW_INT(S, cvl_hold_s, "charge.cvl_hold_s", "s", 0, 3600, 60, CFG_F_ADVANCED,
                "After a CVL decrease no increase for this long; Victron advises >= 20 s between dynamic CVL "
                "changes."),
    CFG_ROW_FLOAT(S, voltage_hyst_v, "charge.voltage_hyst_v", "V", 0.0, 0.05, 0.01, CFG_F_ADVANCED,
                  "Cell-voltage hysteresis: a taper relaxes only after the cell moved back this far."),
    CFG_ROW_FLOAT(S, temp_hyst_c, "charge.temp_hyst_c", "°C", 0.0, 5.0, 1.0, CFG_F_ADVANCED,
                  "Temperature hysteresis for derating and for ending a temperature stop."),
    CFG_ROW_FLOAT(S, soc_hyst_pct, "charge.soc_hyst_pct", "%", 0.0, 10.0, 1.0, CFG_F_ADVANCED,
                  "SOC hysteresis for the SOC tapers and the SOC re-bulk."),
    CFG_ROW_BOOL(S, use_internal_temp, "charge.use_internal_temp", 1, 0,
                 "Include the BMS board sensor (register 48) with the external sensors when deciding the "
                 "temperature window (used alone when no external sensor is connected)."),
};
#undef S

const cfg_section_t chg_section = {"charge", chg_params, sizeof chg_params / sizeof chg_params[0],
                                   sizeof(chg_config_t)};

void chg_config_defaults(chg_config_t *cfg)
{
    cfg_set_defaults(&chg_section, cfg);
    failsafe_config_defaults(&cfg->failsafe);
}

/* Cross-field checks as rows, evaluated in order (the first failing row gives the message): each
 * fails when "a + margin OP b" holds, OP being >, >= or an int32 >; CK_GUARD_A / CK_GUARD_B
 * make it fail only when that field is also > 0 (for settings where 0 means off). Fields are
 * given by word index into chg_config_t. */
enum {
    CK_GT = 0,       /* a + margin > b (floats) */
    CK_GE = 1,       /* a >= b (floats) */
    CK_INT_GT = 2,   /* a > b (int32) */
    CK_M10MV = 4,    /* margin 0.01 */
    CK_M1 = 8,       /* margin 1.0 */
    CK_GUARD_A = 16,
    CK_GUARD_B = 32
};
#define CK_W(f) ((uint8_t)(offsetof(chg_config_t, f) / 4u))
typedef struct {
    uint8_t a, b, op;
    const char *msg;
} chg_check_t;

static const chg_check_t chg_checks[] = {
    {CK_W(cell_float_v), CK_W(cell_bulk_v), CK_GT, "charge.cell_float_v must not exceed charge.cell_bulk_v"},
    {CK_W(cell_bulk_v), CK_W(cell_limit_v), CK_GT, "charge.cell_bulk_v must not exceed charge.cell_limit_v"},
    {CK_W(ccl_taper_start_v), CK_W(ccl_taper_end_v), CK_GT | CK_M10MV,
     "charge.ccl_taper_start_v must be at least 10 mV below charge.ccl_taper_end_v"},
    {CK_W(dcl_taper_end_v), CK_W(dcl_taper_start_v), CK_GT | CK_M10MV,
     "charge.dcl_taper_end_v must be at least 10 mV below charge.dcl_taper_start_v"},
    {CK_W(dcl_taper_start_v), CK_W(ccl_taper_start_v), CK_GE, "the DCL taper must lie below the CCL taper"},
    {CK_W(charge_temp_min_c), CK_W(charge_temp_max_c), CK_GT | CK_M1,
     "charge.charge_temp_min_c must be below charge.charge_temp_max_c"},
    {CK_W(discharge_temp_min_c), CK_W(discharge_temp_max_c), CK_GT | CK_M1,
     "charge.discharge_temp_min_c must be below charge.discharge_temp_max_c"},
    {CK_W(imbalance_release_v), CK_W(imbalance_hold_v), CK_GE,
     "charge.imbalance_release_v must be below charge.imbalance_hold_v"},
    {CK_W(absorption_time_s), CK_W(absorption_max_s), CK_INT_GT,
     "charge.absorption_time_s must not exceed charge.absorption_max_s"},
    {CK_W(voltage_hyst_v), CK_W(ov_release_v), CK_GE,
     "charge.voltage_hyst_v must be smaller than the stop release distances"},
    {CK_W(voltage_hyst_v), CK_W(uv_release_v), CK_GE,
     "charge.voltage_hyst_v must be smaller than the stop release distances"},
    /* Otherwise a pack that ends absorption "balanced" at a spread above the re-bulk spread would
     * cycle float -> bulk -> absorption -> float under constant conditions. */
    {CK_W(float_max_spread_v), CK_W(rebulk_spread_v), CK_GE | CK_GUARD_B,
     "charge.rebulk_spread_v must exceed charge.float_max_spread_v"},
    {CK_W(rebulk_cell_v), CK_W(cell_float_v), CK_GE | CK_GUARD_A,
     "charge.rebulk_cell_v must be below charge.cell_float_v"},
};
#undef CK_W

int chg_config_check(const chg_config_t *c, const char **why)
{
    static const float margin[3] = {0.0f, 0.01f, 1.0f};
    /* chg_config_t is all 4-byte floats and int32s (plus bools, which no row names). */
    const union {
        float f;
        int32_t i;
    } *w = (const void *)c;
    for (size_t i = 0; i < sizeof chg_checks / sizeof chg_checks[0]; i++) {
        const chg_check_t *k = &chg_checks[i];
        float a = w[k->a].f;
        float b = w[k->b].f;
        bool bad;
        if ((k->op & (CK_GUARD_A | CK_GUARD_B)) && !((k->op & CK_GUARD_B ? b : a) > 0.0f)) {
            bad = false;
        } else if ((k->op & 3u) == CK_INT_GT) {
            bad = w[k->a].i > w[k->b].i;
        } else if ((k->op & 3u) == CK_GE) {
            bad = a >= b;
        } else {
            /* a + 0.0f compares exactly as a (only -0 becomes +0, which compares equal) */
            bad = a + margin[(k->op >> 2) & 3u] > b;
        }
        if (bad) {
            return tb_err_why(why, TB_ERR_RANGE, k->msg);
        }
    }
    return failsafe_config_check(&c->failsafe, why);
}

/* ---- names ------------------------------------------------------------------------------- */

static const char *const limiter_names[CHG_LIM_COUNT] = {
    "none",          "config_max",         "bms_cutoff",      "float",           "cell_voltage_high",
    "cell_over_voltage", "cell_voltage_low", "cell_under_voltage", "temperature_low", "temperature_high",
    "soc_taper",     "imbalance_hold",     "bms_fault",       "ramp",            "stale_data",
    "no_data",       "failsafe",
};

const char *chg_limiter_name(chg_limiter_t l)
{
    return (unsigned)l < (unsigned)CHG_LIM_COUNT ? limiter_names[l] : "unknown";
}

const char *chg_state_name(chg_state_t s)
{
    static const char *const n[CHG_STATE_COUNT] = {"no_data", "bulk", "absorption", "float", "stale", "failsafe"};
    return (unsigned)s < (unsigned)CHG_STATE_COUNT ? n[s] : "unknown";
}

const char *chg_phase_name(chg_phase_t p)
{
    static const char *const n[CHG_PHASE_COUNT] = {"bulk", "absorption", "float"};
    return (unsigned)p < (unsigned)CHG_PHASE_COUNT ? n[p] : "unknown";
}

/* ---- small numeric helpers --------------------------------------------------------------- */

float chg_interp(const float *xs, const float *ys, unsigned n, float x)
{
    if (n == 0u) {
        return 0.0f;
    }
    if (!(x > xs[0])) { /* also catches NaN: the first point is the safe end of every table here */
        return ys[0];
    }
    for (unsigned i = 1; i < n; i++) {
        if (x < xs[i]) {
            float t = (x - xs[i - 1u]) / (xs[i] - xs[i - 1u]);
            return ys[i - 1u] + t * (ys[i] - ys[i - 1u]);
        }
    }
    return ys[n - 1u];
}

static const float taper_x[CHG_TAPER_POINTS] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f};
static const float taper_y[CHG_TAPER_POINTS] = {1.0f, 0.5f, 0.2f, 0.05f, 0.0f};

float chg_taper_fraction(float x)
{
    if (isnan(x)) {
        return 0.0f;
    }
    return chg_interp(taper_x, taper_y, CHG_TAPER_POINTS, x);
}

TB_NOINLINE static float minf(float a, float b)
{
    return a < b ? a : b;
}

TB_NOINLINE static float maxf(float a, float b)
{
    return a > b ? a : b;
}

TB_NOINLINE static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Round down to a multiple of the wire step 0.1 (CHG_CVL_STEP_V = CHG_CURRENT_STEP_A = 0.1f). The
 * slack (in steps) absorbs float noise on targets computed from configuration (16 x 3.45f is
 * 55.19999...); none for values that must not be exceeded.
 *
 * The result is exactly that of the double formula this replaces,
 *     k = floor((double)x / (double)0.1f + slack),  r = (float)(k * (double)0.1f)
 * (with k - 1 when slack is 0 and r > x), slack 0 / 1e-4 / 1e-3, checked for all 2^32 float
 * inputs of each slack. It computes k exactly in integers: with step = 13421773 x 2^-27 and, for
 * 2^-4 <= x <= 2^21, A = x x 2^27 an integer below 2^49, k = floor((A + floor(slack x 13421773))
 * / 13421773) (adding the slack's fraction cannot carry into the next multiple of 13421773).
 * Below 2^-4, k is 0; above 2^21 the double formula gives x itself back. k x step is exact in
 * double, so the one rounding to float is the same as before. */
enum { Q_EXACT, Q_CURRENT, Q_VOLT };
static const uint16_t q_slack_units[] = {0u, 1342u, 13421u}; /* floor(slack x 13421773) */

static float q_down(float x, unsigned slack_idx)
{
    if (!(x > 0.0f)) {
        return 0.0f;
    }
    uint32_t b = tb_f32_bits(x);
    if (b > 0x4A000000u) { /* above 2^21 (infinity included) */
        return x;
    }
    if (b < 0x3D800000u) { /* below 2^-4 */
        return 0.0f;
    }
    uint64_t a = ((uint64_t)((b & 0x7FFFFFu) | 0x800000u) << ((b >> 23) - 123u)) + q_slack_units[slack_idx];
    uint32_t k = (uint32_t)(a / 13421773u);
    return (float)((double)k * (double)0.1f);
}

TB_NOINLINE static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return (a > UINT32_MAX - b) ? UINT32_MAX : a + b;
}

static uint32_t sat_sub(uint32_t a, uint32_t b)
{
    return a > b ? a - b : 0u;
}

TB_NOINLINE static uint32_t s_to_ms(int32_t s)
{
    return s <= 0 ? 0u : (uint32_t)s * 1000u;
}

/* Play operators (backlash). up: follows increases at once, decreases only beyond the band (the
 * held value is always >= the input). down: the mirror image (held value <= input). One function
 * for both; each direction keeps its own comparisons and arithmetic (x < v is written v > x). */
static float play(chg_play_t *p, float x, float band, bool up)
{
    float v = p->v;
    if (!p->init || (up ? x > v : v > x)) {
        p->v = x;
    } else if (up ? v - band > x : x > v + band) {
        p->v = up ? x + band : x - band;
    }
    p->init = true;
    return p->v;
}

#define play_up(p, x, band) play((p), (x), (band), true)
#define play_down(p, x, band) play((p), (x), (band), false)

/* ---- inputs -------------------------------------------------------------------------------- */

typedef struct {
    uint8_t n;
    float pack, current, soc, vmax, vmin, spread, tmin, tmax, capacity;
    bool fault;
} inputs_t;

static void read_inputs(const bms_snapshot_t *snap, const chg_config_t *cfg, inputs_t *in)
{
    const bms_live_t *l = &snap->live;
    in->n = bms_series_cells(snap);
    in->pack = l->pack_voltage_v;
    in->current = l->pack_current_a;
    in->soc = l->soc_pct;
    /* Conservative: the extreme of the per-cell values and the BMS's own min/max registers. */
    float vmax = l->max_cell_v;
    float vmin = l->min_cell_v;
    for (unsigned i = 0; i < l->cell_count && i < BMS_MAX_CELLS; i++) {
        vmax = maxf(vmax, l->cell_v[i]);
        vmin = minf(vmin, l->cell_v[i]);
    }
    in->vmax = vmax;
    in->vmin = vmin;
    in->spread = vmax - vmin;
    bool any = false;
    float tmin = 0.0f;
    float tmax = 0.0f;
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i]) {
            tmin = any ? minf(tmin, l->temp_ext_c[i]) : l->temp_ext_c[i];
            tmax = any ? maxf(tmax, l->temp_ext_c[i]) : l->temp_ext_c[i];
            any = true;
        }
    }
    if (cfg->use_internal_temp || !any) {
        tmin = any ? minf(tmin, l->temp_internal_c) : l->temp_internal_c;
        tmax = any ? maxf(tmax, l->temp_internal_c) : l->temp_internal_c;
    }
    in->tmin = tmin;
    in->tmax = tmax;
    in->capacity = snap->settings.capacity_ah;
    in->fault = l->status == BMS_STATUS_FAULT || l->status_raw == (uint16_t)BMS_STATUS_FAULT;
}

/* Per-cell thresholds after combining configuration with the TinyBMS settings. */
typedef struct {
    float ov, uv;           /* BMS cut-offs */
    float limit;            /* cell controller limit */
    float bulk;             /* absorption target */
    bool bulk_from_bms;
    float flt;              /* float target */
    float ccl_start, ccl_end, dcl_start, dcl_end;
    float tc_lo, tc_hi, td_lo, td_hi; /* charge / discharge temperature windows (exclusive) */
    float ccl_base, dcl_base;
    chg_limiter_t ccl_base_lim, dcl_base_lim;
} limits_cfg_t;

static void derive(const bms_snapshot_t *snap, const chg_config_t *c, limits_cfg_t *d)
{
    const bms_settings_t *s = &snap->settings;
    d->ov = s->over_voltage_v;
    d->uv = s->under_voltage_v;
    d->limit = minf(c->cell_limit_v, d->ov - c->ov_margin_v);
    d->bulk = c->cell_bulk_v;
    d->bulk_from_bms = false;
    float bms_cap = d->ov - c->ov_margin_v;
    if (c->cap_at_bms_full) {
        bms_cap = minf(bms_cap, s->fully_charged_v);
    }
    bms_cap = minf(bms_cap, d->limit);
    if (bms_cap < d->bulk) {
        d->bulk = bms_cap;
        d->bulk_from_bms = true;
    }
    d->flt = minf(c->cell_float_v, d->bulk);

    d->ccl_end = minf(c->ccl_taper_end_v, d->ov);
    d->ccl_start = minf(c->ccl_taper_start_v, d->ccl_end - 0.01f);
    d->dcl_end = maxf(c->dcl_taper_end_v, d->uv + c->uv_margin_v);
    d->dcl_start = maxf(c->dcl_taper_start_v, d->dcl_end + 0.01f);

    float hot = s->over_heat_c - c->temp_margin_c;
    d->tc_lo = maxf(c->charge_temp_min_c, s->low_temp_charge_c);
    d->tc_hi = minf(c->charge_temp_max_c, hot);
    d->td_lo = c->discharge_temp_min_c;
    d->td_hi = minf(c->discharge_temp_max_c, hot);

    float keep = 1.0f - clampf(c->bms_current_margin_pct, 0.0f, 100.0f) / 100.0f;
    d->ccl_base = maxf(c->ccl_max_a, 0.0f);
    d->ccl_base_lim = CHG_LIM_CONFIG_MAX;
    if (s->charge_oc_a > 0.0f && s->charge_oc_a * keep < d->ccl_base) {
        d->ccl_base = s->charge_oc_a * keep;
        d->ccl_base_lim = CHG_LIM_BMS_CUTOFF;
    }
    d->dcl_base = maxf(c->dcl_max_a, 0.0f);
    d->dcl_base_lim = CHG_LIM_CONFIG_MAX;
    if (s->discharge_oc_a > 0.0f && s->discharge_oc_a * keep < d->dcl_base) {
        d->dcl_base = s->discharge_oc_a * keep;
        d->dcl_base_lim = CHG_LIM_BMS_CUTOFF;
    }
}

/* Temperature derating: distance `dist` (degrees inside the limit). 0 at or beyond the limit,
 * 20 % just inside, linear to 100 % at `span`. */
static float temp_fraction(float dist, float span)
{
    if (!(dist > 0.0f)) {
        return 0.0f;
    }
    if (!(span > 0.0f) || dist >= span) {
        return 1.0f;
    }
    return 0.2f + 0.8f * dist / span;
}

/* Minimum tracker with a priority order: the first candidate with the smallest value wins. */
typedef struct {
    float v;
    chg_limiter_t lim;
} pick_t;

TB_NOINLINE static void pick(pick_t *p, float v, chg_limiter_t lim)
{
    if (v < p->v) {
        p->v = v;
        p->lim = lim;
    }
}

/* pick(p, base * frac, lim): the tapers and deratings scale the base current. */
TB_NOINLINE static void pick_scaled(pick_t *p, float base, float frac, chg_limiter_t lim)
{
    pick(p, base * frac, lim);
}

/* Output dynamics of a current limit: decreases at once (and restart the hold), increases after
 * the hold, at `rate` A/s. Returns the new value; *ramping tells whether it is below target.
 * *pos carries the ramp position before the rounding to the wire step, so that the rate does not
 * depend on how often the controller runs (rounding each step's increase down would lose it all
 * when steps are shorter than one wire step's worth of ramp). It is only ever a fraction of a
 * step above the output; anything else (a decrease, a stop set elsewhere) restarts it there. */
static float current_dynamics(float prev, float target, float *pos, uint32_t *hold_ms, uint32_t hold_cfg_ms,
                              float rate, uint32_t dt_ms, bool *ramping)
{
    float out;
    if (!(*pos >= prev) || !(*pos < prev + CHG_CURRENT_STEP_A)) {
        *pos = prev;
    }
    if (target <= prev) {
        out = target;
        *pos = target;
        if (target < prev) {
            *hold_ms = hold_cfg_ms;
        }
    } else if (*hold_ms > 0u) {
        *hold_ms = sat_sub(*hold_ms, dt_ms);
        out = prev;
        *pos = prev;
    } else {
        *pos = minf(target, *pos + rate * (float)dt_ms / 1000.0f);
        out = *pos;
    }
    out = q_down(out, Q_CURRENT);
    if (out > target) {
        out = target;
    }
    *ramping = out < target;
    return out;
}

/* ---- the step ---------------------------------------------------------------------------- */

void chg_init(chg_st_t *st)
{
    memset(st, 0, sizeof *st);
    failsafe_init(&st->fs);
    st->phase = CHG_PHASE_BULK;
    st->spread_rebulk_armed = true;
}

/* A new CVL; a decrease (re)starts the hold before the next increase. */
TB_NOINLINE static void set_cvl(chg_st_t *st, const chg_config_t *cfg, float cvl)
{
    if (cvl < st->cvl) {
        st->cvl_hold_ms = s_to_ms(cfg->cvl_hold_s);
    }
    st->cvl = cvl;
}

static void finish_inputs_from_state(const chg_st_t *st, chg_limits_t *out)
{
    out->series_cells = st->last_cells;
    out->pack_v = st->last_pack_v;
    out->cell_max_v = st->last_vmax;
    out->cell_min_v = st->last_vmin;
    out->spread_v = st->last_vmax - st->last_vmin;
    out->temp_min_c = st->last_tmin;
    out->temp_max_c = st->last_tmax;
}

static void not_fresh(chg_st_t *st, const chg_config_t *cfg, const failsafe_verdict_t *v, chg_limits_t *out)
{
    /* chg_step() zeroed *out: state NO_DATA, valid/transmit false, zero currents */
    finish_inputs_from_state(st, out);
    if (v->state == FAILSAFE_NO_DATA || !st->have_output) {
        out->cvl_lim = out->ccl_lim = out->dcl_lim = CHG_LIM_NO_DATA;
        out->cvl_target_lim = out->ccl_target_lim = out->dcl_target_lim = CHG_LIM_NO_DATA;
        out->charge_stopped = true;
        out->discharge_stopped = true;
        return;
    }
    /* Stop charging at once against the last known pack voltage (and never above the target). */
    float cvl = minf(q_down(st->last_pack_v, Q_EXACT),
                     q_down((float)st->last_cells * st->last_bulk_v, Q_VOLT));
    set_cvl(st, cfg, cvl);
    st->cvl_ramp = cvl;
    if (st->ccl > 0.0f) {
        st->ccl_hold_ms = s_to_ms(cfg->limit_hold_s);
    }
    st->ccl = 0.0f;
    bool failsafe = v->state == FAILSAFE_ACTIVE;
    chg_limiter_t lim = failsafe ? CHG_LIM_FAILSAFE : CHG_LIM_STALE;
    if (failsafe) {
        if (st->dcl > 0.0f) {
            st->dcl_hold_ms = s_to_ms(cfg->limit_hold_s);
        }
        st->dcl = 0.0f;
    }
    /* While merely stale, DCL is frozen: no increase on data nobody can check. */
    out->state = failsafe ? CHG_STATE_FAILSAFE : CHG_STATE_STALE;
    out->valid = v->valid;
    out->transmit = v->transmit;
    out->cvl_v = st->cvl;
    out->dcl_a = st->dcl;
    out->cvl_target_v = st->cvl;
    out->dcl_target_a = st->dcl;
    out->dvl_v = st->last_dvl_v;
    out->cvl_lim = out->ccl_lim = out->dcl_lim = lim;
    out->cvl_target_lim = out->ccl_target_lim = out->dcl_target_lim = lim;
    out->charge_stopped = true;
    out->discharge_stopped = !(st->dcl > 0.0f);
}

/* A re-bulk trigger on a quantity falling below `thr` (0 = off): it arms once the quantity was
 * `arm_margin` above the threshold. */
TB_NOINLINE static bool rebulk_trigger(bool *armed, float x, float thr, float arm_margin)
{
    if (!(thr > 0.0f)) {
        return false;
    }
    if (x >= thr + arm_margin) {
        *armed = true;
    }
    return *armed && x < thr;
}

/* dt: capped step time (for timers that must see the condition); dt_real: the whole elapsed time
 * (for the days since the last full charge). */
static void phase_machine(chg_st_t *st, const chg_config_t *c, const inputs_t *in, const limits_cfg_t *d,
                          bool charge_blocked, uint32_t dt, uint32_t dt_real)
{
    float n = (float)in->n;
    bool at_voltage = !charge_blocked &&
                      (in->pack >= n * (d->bulk - c->absorption_band_v) || in->vmax >= d->bulk);
    /* Time since the last full charge, in seconds with an ms remainder (days do not fit a
     * wrap-safe ms comparison). */
    uint32_t rem = st->since_full_rem_ms + (dt_real % 1000u);
    st->since_full_s = sat_add(st->since_full_s, dt_real / 1000u);
    st->since_full_s = sat_add(st->since_full_s, rem / 1000u);
    st->since_full_rem_ms = rem % 1000u;

    switch (st->phase) {
    case CHG_PHASE_BULK:
        if (at_voltage) {
            st->phase = CHG_PHASE_ABSORPTION;
            st->abs_ms = 0;
            st->tail_ms = 0;
        }
        break;
    case CHG_PHASE_ABSORPTION: {
        float tail_a = c->tail_current_c * in->capacity;
        if (at_voltage) {
            st->abs_ms = sat_add(st->abs_ms, dt);
            if (tail_a > 0.0f && in->current <= tail_a) {
                st->tail_ms = sat_add(st->tail_ms, dt);
            } else {
                st->tail_ms = 0;
            }
        } else {
            st->tail_ms = 0; /* a dip pauses absorption; it never ends it */
        }
        bool balanced = in->spread <= c->float_max_spread_v;
        bool normal = balanced && ((tail_a > 0.0f && st->tail_ms >= s_to_ms(c->tail_time_s)) ||
                                   st->abs_ms >= s_to_ms(c->absorption_time_s));
        bool timeout = st->abs_ms >= s_to_ms(c->absorption_max_s);
        if (normal || timeout) {
            st->phase = CHG_PHASE_FLOAT;
            st->since_full_s = 0;
            st->since_full_rem_ms = 0;
            st->spread_rebulk_armed = normal;
            st->rebulk_ms = 0;
            float start = d->bulk;
            if (st->have_output && n > 0.0f) {
                start = minf(start, st->cvl / n);
            }
            st->float_cell_v = maxf(start, d->flt);
        }
        break;
    }
    case CHG_PHASE_FLOAT: {
        float step = c->float_descent_v_min * (float)dt / 60000.0f;
        if (st->float_cell_v < d->flt) {
            st->float_cell_v = d->flt; /* target raised: the CVL ramp limits the rise */
        } else {
            st->float_cell_v = maxf(d->flt, st->float_cell_v - step);
        }
        /* Re-bulk triggers arm only once their quantity was comfortably on the good side, so a
         * wrong SOC or a weak cell cannot make the charger cycle. */
        float soc_lo = st->soc_lo.init ? st->soc_lo.v : in->soc;
        bool soc_trig = rebulk_trigger(&st->soc_rebulk_armed, soc_lo, c->rebulk_soc_pct, 5.0f);
        bool cell_trig = rebulk_trigger(&st->cell_rebulk_armed, in->vmin, c->rebulk_cell_v, 0.05f);
        bool spread_trig = c->rebulk_spread_v > 0.0f && st->spread_rebulk_armed && in->spread >= c->rebulk_spread_v;
        if (soc_trig || cell_trig || spread_trig) {
            st->rebulk_ms = sat_add(st->rebulk_ms, dt);
        } else {
            st->rebulk_ms = 0;
        }
        bool periodic = c->full_charge_days > 0 &&
                        st->since_full_s >= (uint32_t)c->full_charge_days * 86400u;
        if (periodic || (st->rebulk_ms > 0u && st->rebulk_ms >= s_to_ms(c->rebulk_delay_s))) {
            st->phase = CHG_PHASE_BULK;
            st->rebulk_ms = 0;
            st->soc_rebulk_armed = false;
            st->cell_rebulk_armed = false;
            st->spread_rebulk_armed = true;
        }
        break;
    }
    case CHG_PHASE_COUNT:
    default:
        st->phase = CHG_PHASE_BULK;
        break;
    }
}

void chg_step(chg_st_t *st, const bms_snapshot_t *snap, const chg_config_t *cfg, uint32_t now_ms,
              chg_limits_t *out)
{
    memset(out, 0, sizeof *out);

    uint32_t dt = st->started ? now_ms - st->last_now_ms : 0u;
    st->started = true;
    st->last_now_ms = now_ms;

    failsafe_verdict_t v;
    failsafe_step(&st->fs, snap, &cfg->failsafe, now_ms, &v);
    out->data = v.state;
    out->comm_alarm = v.comm_alarm;
    out->data_age_ms = v.age_ms;
    out->data_why = v.why;
    out->failsafe_mode = (failsafe_mode_t)cfg->failsafe.mode;
    out->phase = st->phase;

    if (v.state != FAILSAFE_FRESH) {
        not_fresh(st, cfg, &v, out);
        return;
    }

    /* Timers and ramps advance by at most the stale threshold per step: a step that arrives after
     * a long pause must not unlock a large increase in one go. */
    uint32_t dt_cap = cfg->failsafe.stale_ms > 0 ? (uint32_t)cfg->failsafe.stale_ms : 1000u;
    uint32_t dt_real = st->have_output ? dt : 0u;
    if (!st->have_output || dt > dt_cap) {
        dt = st->have_output ? dt_cap : 0u;
    }

    inputs_t in;
    read_inputs(snap, cfg, &in);
    limits_cfg_t d;
    derive(snap, cfg, &d);
    float n = (float)in.n;

    /* Hysteresis on the inputs of every taper. */
    float hv = maxf(cfg->voltage_hyst_v, 0.0f);
    float ht = maxf(cfg->temp_hyst_c, 0.0f);
    float hs = maxf(cfg->soc_hyst_pct, 0.0f);
    float vmax_h = play_up(&st->vmax, in.vmax, hv);
    float vmin_h = play_down(&st->vmin, in.vmin, hv);
    float tmax_h = play_up(&st->tmax, in.tmax, ht);
    float tmin_h = play_down(&st->tmin, in.tmin, ht);
    float soc_hi = play_up(&st->soc_hi, in.soc, hs);
    (void)play_down(&st->soc_lo, in.soc, hs);

    /* Voltage stop latches. The trip compares the raw reading, so it acts in this very step. */
    uint32_t hold_ms = s_to_ms(cfg->limit_hold_s);
    if (in.vmax >= d.ccl_end) {
        st->chg_stop_latched = true;
        st->chg_release_ms = 0;
    } else if (st->chg_stop_latched) {
        if (in.vmax <= d.ccl_end - cfg->ov_release_v) {
            st->chg_release_ms = sat_add(st->chg_release_ms, dt);
            if (st->chg_release_ms >= hold_ms) {
                st->chg_stop_latched = false;
            }
        } else {
            st->chg_release_ms = 0;
        }
    }
    if (in.vmin <= d.dcl_end) {
        st->dis_stop_latched = true;
        st->dis_release_ms = 0;
    } else if (st->dis_stop_latched) {
        if (in.vmin >= d.dcl_end + cfg->uv_release_v) {
            st->dis_release_ms = sat_add(st->dis_release_ms, dt);
            if (st->dis_release_ms >= hold_ms) {
                st->dis_stop_latched = false;
            }
        } else {
            st->dis_release_ms = 0;
        }
    }
    /* Temperature windows: the held minimum is <= the reading and the held maximum >= it, so a
     * reading at/beyond a limit stops at once and the stop ends only hysteresis-inside. */
    bool cold_chg = !(tmin_h > d.tc_lo);
    bool hot_chg = !(tmax_h < d.tc_hi);
    bool cold_dis = !(tmin_h > d.td_lo);
    bool hot_dis = !(tmax_h < d.td_hi);

    /* Imbalance hold (hysteresis between the hold and release spreads). */
    if (st->imbalance_hold) {
        if (in.spread <= cfg->imbalance_release_v || in.vmax < cfg->imbalance_min_cell_v - hv) {
            st->imbalance_hold = false;
        }
    } else if (in.spread >= cfg->imbalance_hold_v && in.vmax >= cfg->imbalance_min_cell_v) {
        st->imbalance_hold = true;
    }

    /* ---- CCL target: minimum over the limiters (first listed wins a tie) ---- */
    pick_t ccl = {d.ccl_base, d.ccl_base_lim};
    if (in.vmax >= d.ov) {
        pick(&ccl, 0.0f, CHG_LIM_CELL_OVER_VOLTAGE);
    }
    if (st->chg_stop_latched) {
        pick(&ccl, 0.0f, CHG_LIM_CELL_VOLTAGE_HIGH);
    }
    /* An under-voltage trip (fault status with the lowest cell below the fully-discharged
     * voltage and no cell high) clears only when the pack is charged: allow a small recovery
     * current instead of locking the pack out. Every other fault stops charging. */
    bool uv_fault = in.fault && in.vmin < snap->settings.fully_discharged_v && in.vmax < d.ccl_start;
    if (in.fault) {
        pick(&ccl, uv_fault ? maxf(cfg->fault_recovery_c * in.capacity, 0.0f) : 0.0f, CHG_LIM_BMS_FAULT);
    }
    if (cold_chg) {
        pick(&ccl, 0.0f, CHG_LIM_TEMP_LOW);
    }
    if (hot_chg) {
        pick(&ccl, 0.0f, CHG_LIM_TEMP_HIGH);
    }
    /* Conditions under which "at voltage" means nothing (the absorption timer must not run). */
    bool charge_blocked = (in.fault && !uv_fault) || cold_chg || hot_chg;
    pick_scaled(&ccl, d.ccl_base, chg_taper_fraction((vmax_h - d.ccl_start) / (d.ccl_end - d.ccl_start)),
         CHG_LIM_CELL_VOLTAGE_HIGH);
    pick_scaled(&ccl, d.ccl_base, temp_fraction(tmin_h - d.tc_lo, cfg->temp_derate_c), CHG_LIM_TEMP_LOW);
    pick_scaled(&ccl, d.ccl_base, temp_fraction(d.tc_hi - tmax_h, cfg->temp_derate_c), CHG_LIM_TEMP_HIGH);
    if (cfg->soc_ccl_taper_pct < 100.0f && soc_hi > cfg->soc_ccl_taper_pct) {
        float x = (soc_hi - cfg->soc_ccl_taper_pct) / (100.0f - cfg->soc_ccl_taper_pct);
        float f = 1.0f - (1.0f - cfg->soc_taper_min_frac) * clampf(x, 0.0f, 1.0f);
        pick_scaled(&ccl, d.ccl_base, f, CHG_LIM_SOC_TAPER);
    }
    if (st->imbalance_hold) {
        pick(&ccl, maxf(cfg->imbalance_ccl_c * in.capacity, 0.0f), CHG_LIM_IMBALANCE_HOLD);
    }
    float ccl_target = q_down(maxf(ccl.v, 0.0f), Q_CURRENT);

    /* ---- DCL target ---- */
    pick_t dcl = {d.dcl_base, d.dcl_base_lim};
    if (in.vmin <= d.uv) {
        pick(&dcl, 0.0f, CHG_LIM_CELL_UNDER_VOLTAGE);
    }
    if (st->dis_stop_latched) {
        pick(&dcl, 0.0f, CHG_LIM_CELL_VOLTAGE_LOW);
    }
    if (cold_dis) {
        pick(&dcl, 0.0f, CHG_LIM_TEMP_LOW);
    }
    if (hot_dis) {
        pick(&dcl, 0.0f, CHG_LIM_TEMP_HIGH);
    }
    pick_scaled(&dcl, d.dcl_base, chg_taper_fraction((d.dcl_start - vmin_h) / (d.dcl_start - d.dcl_end)),
         CHG_LIM_CELL_VOLTAGE_LOW);
    pick_scaled(&dcl, d.dcl_base, temp_fraction(tmin_h - d.td_lo, cfg->temp_derate_c), CHG_LIM_TEMP_LOW);
    pick_scaled(&dcl, d.dcl_base, temp_fraction(d.td_hi - tmax_h, cfg->temp_derate_c), CHG_LIM_TEMP_HIGH);
    float soc_lo = st->soc_lo.v;
    if (cfg->soc_dcl_taper_pct > 0.0f && soc_lo < cfg->soc_dcl_taper_pct) {
        float x = soc_lo / cfg->soc_dcl_taper_pct;
        float f = cfg->soc_taper_min_frac + (1.0f - cfg->soc_taper_min_frac) * clampf(x, 0.0f, 1.0f);
        pick_scaled(&dcl, d.dcl_base, f, CHG_LIM_SOC_TAPER);
    }
    float dcl_target = q_down(maxf(dcl.v, 0.0f), Q_CURRENT);

    /* ---- phase ---- */
    phase_machine(st, cfg, &in, &d, charge_blocked, dt, dt_real);

    /* ---- current dynamics ---- */
    if (!st->have_output) {
        /* First usable data (recovery after NO_DATA never happens): start at the targets, as any
         * BMS does at boot. Not at 0: an off-grid inverter switches OFF on DCL = 0 (a gateway
         * restart must not black the house out), and CCL = 0 means "stop charging", which pins
         * CVL to the pack voltage and would hold charging back for minutes after every restart.
         * The limiters (cell voltages, temperatures, BMS cut-offs) are all in the targets. */
        st->ccl = ccl_target;
        st->dcl = dcl_target;
        st->ccl_hold_ms = 0;
        st->dcl_hold_ms = 0;
    }
    bool ccl_ramping = false;
    bool dcl_ramping = false;
    st->ccl = current_dynamics(st->ccl, ccl_target, &st->ccl_pos, &st->ccl_hold_ms, hold_ms, cfg->ccl_ramp_a_s, dt,
                               &ccl_ramping);
    st->dcl = current_dynamics(st->dcl, dcl_target, &st->dcl_pos, &st->dcl_hold_ms, hold_ms, cfg->dcl_ramp_a_s, dt,
                               &dcl_ramping);
    out->ccl_lim = ccl_ramping ? CHG_LIM_RAMP : ccl.lim;
    out->dcl_lim = dcl_ramping ? CHG_LIM_RAMP : dcl.lim;
    out->ccl_target_lim = ccl.lim;
    out->dcl_target_lim = dcl.lim;

    /* ---- CVL ---- */
    float cvl_target;
    chg_limiter_t cvl_lim;
    bool stopped = !(st->ccl > 0.0f);
    if (stopped) {
        /* Stop charging: CVL at the pack voltage rounded down. It is never above the pack voltage;
         * it follows the pack voltage up only once it is two wire steps below it, so measurement
         * noise does not make CVL chatter; and it never exceeds series cells x target (invariant 2
         * wins over "not below the pack voltage" when the pack is above the target: discharging
         * back to the target is then wanted). */
        float cap = q_down(n * d.bulk, Q_VOLT);
        float track = q_down(in.pack, Q_EXACT);
        float keep = st->cvl;
        if (!(keep <= in.pack) || keep + 2.0f * CHG_CVL_STEP_V <= in.pack + 1e-4f || !(keep > 0.0f)) {
            keep = track;
        }
        cvl_target = minf(keep, cap);
        cvl_lim = out->ccl_lim;
        out->cvl_target_lim = cvl_lim;
        set_cvl(st, cfg, cvl_target);
        st->cvl_ramp = cvl_target;
    } else {
        float phase_v;
        if (st->phase == CHG_PHASE_FLOAT) {
            phase_v = n * st->float_cell_v;
            cvl_lim = CHG_LIM_FLOAT;
        } else {
            phase_v = n * d.bulk;
            cvl_lim = d.bulk_from_bms ? CHG_LIM_BMS_CUTOFF : CHG_LIM_CONFIG_MAX;
        }
        /* Cell-voltage controller: the pack voltage at which the highest cell would reach the
         * limit if the imbalance stayed as it is. Never below the present pack voltage. */
        float ctrl = in.pack + n * (d.limit - vmax_h);
        ctrl = play_down(&st->cvl_ctrl, ctrl, n * hv);
        ctrl = maxf(ctrl, in.pack);
        float desired = phase_v;
        /* 5 mV of slack: with balanced cells and limit == target both are equal, and the phase
         * target is the better explanation. */
        if (ctrl < desired - 0.005f) {
            desired = ctrl;
            cvl_lim = CHG_LIM_CELL_VOLTAGE_HIGH;
        }
        cvl_target = q_down(desired, Q_VOLT);
        out->cvl_target_lim = cvl_lim;
        if (!st->have_output) {
            /* Start at the target (what any BMS advertises at boot); charging still soft-starts
             * through the CCL ramp, and the cell-voltage controller is already in `desired`. */
            st->cvl_ramp = desired;
            st->cvl = q_down(st->cvl_ramp, Q_EXACT);
            st->cvl_hold_ms = 0;
        }
        if (desired <= st->cvl_ramp) {
            st->cvl_ramp = desired;
        } else if (st->cvl_hold_ms > 0u) {
            st->cvl_hold_ms = sat_sub(st->cvl_hold_ms, dt);
        } else {
            st->cvl_ramp = minf(desired, st->cvl_ramp + n * cfg->cvl_rise_v_min * (float)dt / 60000.0f);
        }
        float cvl = q_down(st->cvl_ramp, Q_VOLT);
        if (cvl > cvl_target) {
            cvl = cvl_target;
        }
        if (cvl < cvl_target) {
            cvl_lim = CHG_LIM_RAMP;
        }
        set_cvl(st, cfg, cvl);
    }

    st->have_output = true;
    st->last_pack_v = in.pack;
    st->last_bulk_v = d.bulk;
    st->last_cells = in.n;
    st->last_vmax = in.vmax;
    st->last_vmin = in.vmin;
    st->last_tmin = in.tmin;
    st->last_tmax = in.tmax;

    out->valid = true;
    out->transmit = true;
    out->phase = st->phase;
    /* phase_machine() leaves a valid phase; the states list the phases in the same order */
    _Static_assert(CHG_STATE_ABSORPTION == CHG_STATE_BULK + CHG_PHASE_ABSORPTION &&
                       CHG_STATE_FLOAT == CHG_STATE_BULK + CHG_PHASE_FLOAT,
                   "chg_state_t lists the phases as chg_phase_t does");
    out->state = (chg_state_t)(CHG_STATE_BULK + st->phase);
    out->cvl_v = st->cvl;
    out->ccl_a = st->ccl;
    out->dcl_a = st->dcl;
    out->cvl_target_v = cvl_target;
    out->ccl_target_a = ccl_target;
    out->dcl_target_a = dcl_target;
    out->cvl_lim = cvl_lim;
    out->dvl_v = q_down(n * maxf(cfg->dvl_cell_v, d.uv), Q_VOLT);
    st->last_dvl_v = out->dvl_v;
    out->charge_stopped = stopped;
    out->discharge_stopped = !(st->dcl > 0.0f);
    out->imbalance_hold = st->imbalance_hold;
    out->series_cells = in.n;
    out->pack_v = in.pack;
    out->cell_max_v = in.vmax;
    out->cell_min_v = in.vmin;
    out->spread_v = in.spread;
    out->temp_min_c = in.tmin;
    out->temp_max_c = in.tmax;
    out->cell_target_v = d.bulk;
    out->cell_ov_v = d.ov;
    out->cell_uv_v = d.uv;

    out->ccl_taper_v[0] = d.ccl_start;
    out->ccl_taper_v[1] = d.ccl_end;
    out->dcl_taper_v[0] = d.dcl_start;
    out->dcl_taper_v[1] = d.dcl_end;
    out->temp_charge_c[0] = d.tc_lo;
    out->temp_charge_c[1] = d.tc_hi;
    out->temp_discharge_c[0] = d.td_lo;
    out->temp_discharge_c[1] = d.td_hi;
    out->soc_pct = in.soc;
    out->cell_limit_v = d.limit;
    out->cell_float_v = st->phase == CHG_PHASE_FLOAT ? st->float_cell_v : d.flt;
    out->soc_taper_pct[0] = cfg->soc_ccl_taper_pct;
    out->soc_taper_pct[1] = cfg->soc_dcl_taper_pct;
    out->imbalance_v[0] = cfg->imbalance_hold_v;
    out->imbalance_v[1] = cfg->imbalance_release_v;
}
