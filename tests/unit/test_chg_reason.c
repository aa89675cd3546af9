/* app/chg_reason: the controller's decision in words. Every limiter code has its sentence for
 * each limit it can bind (pinned below, so the docs' list can be checked against them), and a
 * property test words every code in every slot and state with extreme values: no sentence is
 * truncated by CHG_REASON_LEN, each is valid UTF-8, and none carries an internal name (an
 * identifier with an underscore such as "config_max"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/chg_reason.h"
#include "app/utf8.h"
#include "test_chg_reason_example.h"

/* absorption, 16 cells, CVL 55.2 V (configured maximum), CCL 12.3 A (taper), DCL 150 A */
static chg_limits_t fresh(void)
{
    return chg_reason_example();
}

static void expect(const chg_limits_t *l, const char *want)
{
    char buf[CHG_REASON_LEN];
    chg_reason_format(l, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* The limit clause alone: what follows "CVL …; " etc. in the sentence. */
static void expect_clause(const chg_limits_t *l, const char *tag, const char *want)
{
    char buf[CHG_REASON_LEN];
    chg_reason_format(l, buf, sizeof buf);
    const char *p = strstr(buf, tag);
    assert_non_null(p);
    size_t n = strcspn(p, ";");
    char got[CHG_REASON_LEN];
    memcpy(got, p, n);
    got[n] = '\0';
    assert_string_equal(got, want);
}

static void whole_sentence(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    expect(&l, "absorption — CVL 55.20 V: the configured maximum (16 × 3.45 V); CCL 12.3 A: highest cell "
               "3.483 V (taper 3.40 up to 3.55 V); DCL 150.0 A: the configured maximum");
    l.phase = CHG_PHASE_BULK;
    l.cvl_lim = CHG_LIM_CONFIG_MAX;
    l.ccl_a = 48.0f;
    l.ccl_lim = CHG_LIM_BMS_CUTOFF;
    l.dcl_a = 80.0f;
    l.dcl_lim = CHG_LIM_BMS_CUTOFF;
    expect(&l, "bulk — CVL 55.20 V: the configured maximum (16 × 3.45 V); CCL 48.0 A: the BMS's charge current "
               "limit; DCL 80.0 A: the BMS's discharge current limit");
}

/* Every limiter code, for each limit it can bind, with the values behind it. */
static void cvl_limiters(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    static const struct {
        chg_limiter_t lim;
        const char *want;
    } cases[] = {
        {CHG_LIM_NONE, "CVL 55.20 V: not limited"},
        {CHG_LIM_CONFIG_MAX, "CVL 55.20 V: the configured maximum (16 × 3.45 V)"},
        {CHG_LIM_BMS_CUTOFF, "CVL 55.20 V: the BMS's cell voltage settings (16 × 3.45 V)"},
        {CHG_LIM_FLOAT, "CVL 55.20 V: the float target (16 × 3.375 V)"},
        {CHG_LIM_CELL_VOLTAGE_HIGH, "CVL 55.20 V: highest cell 3.483 V, kept below 3.50 V"},
        {CHG_LIM_RAMP, "CVL 55.20 V: rising to 56.00 V"},
    };
    l.cvl_target_v = 56.0f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        l.cvl_lim = cases[i].lim;
        expect_clause(&l, "CVL", cases[i].want);
    }
    /* stopped: CVL at the pack voltage, or capped by the target when the pack is above it */
    l.charge_stopped = true;
    l.cvl_v = 54.4f;
    expect_clause(&l, "CVL", "CVL 54.40 V: charging stopped, held at the pack voltage 54.43 V");
    l.cvl_v = 55.2f;
    l.pack_v = 55.61f;
    expect_clause(&l, "CVL", "CVL 55.20 V: charging stopped, the pack is above the absorption target (16 × 3.45 V)");
}

static void ccl_limiters(void **state)
{
    (void)state;
    static const struct {
        chg_limiter_t lim;
        float ccl;
        const char *want;
    } cases[] = {
        {CHG_LIM_CONFIG_MAX, 12.3f, "CCL 12.3 A: the configured maximum"},
        {CHG_LIM_BMS_CUTOFF, 48.0f, "CCL 48.0 A: the BMS's charge current limit"},
        {CHG_LIM_CELL_VOLTAGE_HIGH, 12.3f, "CCL 12.3 A: highest cell 3.483 V (taper 3.40 up to 3.55 V)"},
        {CHG_LIM_CELL_VOLTAGE_HIGH, 0.0f, "CCL 0 A: highest cell 3.483 V, stopped at the taper end 3.55 V until it falls back"},
        {CHG_LIM_CELL_OVER_VOLTAGE, 0.0f, "CCL 0 A: highest cell 3.483 V at or above the BMS's over-voltage cut-off 3.65 V"},
        {CHG_LIM_TEMP_LOW, 12.3f, "CCL 12.3 A: battery -2.3 °C, derated near the low-temperature cut-off 0.0 °C"},
        {CHG_LIM_TEMP_LOW, 0.0f, "CCL 0 A: battery -2.3 °C, at or below the low-temperature cut-off 0.0 °C"},
        {CHG_LIM_TEMP_HIGH, 12.3f, "CCL 12.3 A: battery 41.0 °C, derated near the high-temperature cut-off 50.0 °C"},
        {CHG_LIM_TEMP_HIGH, 0.0f, "CCL 0 A: battery 41.0 °C, stopped at the high-temperature cut-off 50.0 °C until it cools down"},
        {CHG_LIM_SOC_TAPER, 12.3f, "CCL 12.3 A: state of charge 97.4 %, tapering above 95 %"},
        {CHG_LIM_IMBALANCE_HOLD, 5.0f, "CCL 5.0 A: cells 0.182 V apart, held for balancing until within 0.030 V"},
        {CHG_LIM_BMS_FAULT, 0.0f, "CCL 0 A: the TinyBMS reports a fault (status 0x9B)"},
        {CHG_LIM_BMS_FAULT, 2.0f, "CCL 2.0 A: TinyBMS under-voltage fault (status 0x9B), lowest cell 3.301 V: recovery current only"},
        {CHG_LIM_RAMP, 5.0f, "CCL 5.0 A: ramping up to 12.3 A"},
        {CHG_LIM_RAMP, 0.0f, "CCL 0 A: paused after a limit drop, then ramps up to 12.3 A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        chg_limits_t l = fresh();
        l.ccl_lim = cases[i].lim;
        l.ccl_a = cases[i].ccl;
        l.charge_stopped = !(cases[i].ccl > 0.0f);
        expect_clause(&l, "CCL", cases[i].want);
    }
    /* the README's example, and the temperature stop at its edge */
    chg_limits_t l = fresh();
    l.ccl_a = 12.3f;
    l.cell_max_v = 3.482f;
    expect_clause(&l, "CCL", "CCL 12.3 A: highest cell 3.482 V (taper 3.40 up to 3.55 V)");
    l.ccl_a = 0.0f;
    l.cell_max_v = 3.551f;
    expect_clause(&l, "CCL", "CCL 0 A: highest cell 3.551 V at or above the taper end 3.55 V");
    l.ccl_lim = CHG_LIM_TEMP_LOW;
    l.temp_min_c = 2.1f;
    l.temp_charge_c[0] = 3.0f;
    expect_clause(&l, "CCL", "CCL 0 A: battery 2.1 °C, at or below the low-temperature cut-off 3.0 °C");
    l.temp_min_c = 3.4f; /* back above, still inside the hysteresis */
    expect_clause(&l, "CCL", "CCL 0 A: battery 3.4 °C, stopped at the low-temperature cut-off 3.0 °C until it warms up");
}

static void dcl_limiters(void **state)
{
    (void)state;
    static const struct {
        chg_limiter_t lim;
        float dcl;
        const char *want;
    } cases[] = {
        {CHG_LIM_CONFIG_MAX, 150.0f, "DCL 150.0 A: the configured maximum"},
        {CHG_LIM_BMS_CUTOFF, 80.0f, "DCL 80.0 A: the BMS's discharge current limit"},
        {CHG_LIM_CELL_VOLTAGE_LOW, 40.0f, "DCL 40.0 A: lowest cell 3.301 V (taper 3.10 down to 2.90 V)"},
        {CHG_LIM_CELL_VOLTAGE_LOW, 0.0f, "DCL 0 A: lowest cell 3.301 V, stopped at the taper end 2.90 V until it recovers"},
        {CHG_LIM_CELL_UNDER_VOLTAGE, 0.0f, "DCL 0 A: lowest cell 3.301 V at or below the BMS's under-voltage cut-off 2.80 V"},
        {CHG_LIM_TEMP_LOW, 30.0f, "DCL 30.0 A: battery -2.3 °C, derated near the low-temperature cut-off -20.0 °C"},
        {CHG_LIM_TEMP_LOW, 0.0f, "DCL 0 A: battery -2.3 °C, stopped at the low-temperature cut-off -20.0 °C until it warms up"},
        {CHG_LIM_TEMP_HIGH, 30.0f, "DCL 30.0 A: battery 41.0 °C, derated near the high-temperature cut-off 55.0 °C"},
        {CHG_LIM_SOC_TAPER, 60.0f, "DCL 60.0 A: state of charge 97.4 %, tapering below 10 %"},
        {CHG_LIM_RAMP, 100.0f, "DCL 100.0 A: ramping up to 150.0 A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        chg_limits_t l = fresh();
        l.dcl_lim = cases[i].lim;
        l.dcl_a = cases[i].dcl;
        l.discharge_stopped = !(cases[i].dcl > 0.0f);
        expect_clause(&l, "DCL", cases[i].want);
    }
    chg_limits_t l = fresh();
    l.dcl_lim = CHG_LIM_CELL_UNDER_VOLTAGE;
    l.dcl_a = 0.0f;
    l.cell_min_v = 2.799f;
    expect_clause(&l, "DCL", "DCL 0 A: lowest cell 2.799 V at or below the BMS's under-voltage cut-off 2.80 V");
    l.dcl_lim = CHG_LIM_CELL_VOLTAGE_LOW;
    expect_clause(&l, "DCL", "DCL 0 A: lowest cell 2.799 V at or below the taper end 2.90 V");
    l.dcl_lim = CHG_LIM_TEMP_HIGH;
    l.temp_max_c = 55.0f;
    expect_clause(&l, "DCL", "DCL 0 A: battery 55.0 °C, at or above the high-temperature cut-off 55.0 °C");
}

/* The data states: whole sentences (the limiter codes stale_data, failsafe and no_data). */
static void data_not_fresh(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    l.state = CHG_STATE_NO_DATA;
    l.cvl_lim = l.ccl_lim = l.dcl_lim = CHG_LIM_NO_DATA;
    l.data_why = "no BMS data yet";
    expect(&l, "waiting for usable BMS data: no BMS data yet");
    l.data_why = "series cell count unknown";
    expect(&l, "waiting for usable BMS data: series cell count unknown");
    l.data_why = "";
    expect(&l, "waiting for usable BMS data");
    l.state = CHG_STATE_STALE;
    l.cvl_lim = l.ccl_lim = l.dcl_lim = CHG_LIM_STALE;
    l.data_age_ms = 6249u;
    l.dcl_a = 80.0f;
    l.data_why = "BMS data too old";
    expect(&l, "charging stopped — CCL 0 A: BMS data stale for 6.2 s (BMS data too old); DCL 80.0 A: held until "
               "the data is usable again");
    l.data_why = "";
    l.dcl_a = 0.0f;
    expect(&l, "charging stopped — CCL 0 A: BMS data stale for 6.2 s; DCL 0 A: held until the data is usable again");
    l.state = CHG_STATE_FAILSAFE;
    l.cvl_lim = l.ccl_lim = l.dcl_lim = CHG_LIM_FAILSAFE;
    l.data_age_ms = 31000u;
    l.failsafe_mode = FAILSAFE_MODE_ZERO_LIMITS;
    expect(&l, "fail-safe, zero limits — CCL 0 A, DCL 0 A: no usable BMS data for 31.0 s");
    l.failsafe_mode = FAILSAFE_MODE_STOP_TRANSMITTING;
    l.data_why = NULL; /* tolerated */
    expect(&l, "fail-safe, not transmitting: no usable BMS data for 31.0 s");
    /* the clauses of these codes, should a fresh state ever carry them */
    l = fresh();
    l.data_age_ms = 6249u;
    l.ccl_a = 0.0f;
    l.ccl_lim = CHG_LIM_STALE;
    expect_clause(&l, "CCL", "CCL 0 A: BMS data stale for 6.2 s");
    l.ccl_lim = CHG_LIM_FAILSAFE;
    expect_clause(&l, "CCL", "CCL 0 A: fail-safe, no usable BMS data for 6.2 s");
    l.ccl_lim = CHG_LIM_NO_DATA;
    expect_clause(&l, "CCL", "CCL 0 A: no usable BMS data yet");
    l.ccl_lim = (chg_limiter_t)CHG_LIM_COUNT;
    expect_clause(&l, "CCL", "CCL 0 A: unknown limiter");
}

static void truncates_and_fills(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    char small[10];
    chg_reason_format(&l, small, sizeof small);
    assert_string_equal(small, "absorptio");
    /* never inside a character: "absorption —" does not fit in 14 bytes, the dash is left out */
    char mid[14];
    chg_reason_format(&l, mid, sizeof mid);
    assert_string_equal(mid, "absorption ");
    chg_reason_format(&l, small, 0); /* writes nothing */
    chg_reason_fill(&l);
    assert_non_null(strstr(l.reason, "CVL 55.20 V: the configured maximum (16 × 3.45 V)"));
    l.cvl_v = NAN;
    chg_reason_fill(&l);
    assert_non_null(strstr(l.reason, "CVL ? V"));
}

/* An identifier-like token with an underscore ("config_max", "stale_data"): an internal name. */
static bool has_internal_name(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '_') {
            return true;
        }
    }
    return false;
}

/* Every code in every slot, in every state and stop combination, with ordinary and extreme
 * values: the sentence fits CHG_REASON_LEN with room to spare, is valid UTF-8, carries no
 * internal name, and every fresh sentence says each limit with its value. */
static void every_sentence_is_plain_and_fits(void **state)
{
    (void)state;
    static const float extremes[] = {0.0f, 3.3f, -1e9f, 1e9f, -123456.789f, NAN, INFINITY};
    size_t longest = 0;
    char longest_s[CHG_REASON_LEN];
    unsigned checked = 0;
    for (size_t e = 0; e < sizeof extremes / sizeof extremes[0]; e++) {
        for (int st = 0; st < (int)CHG_STATE_COUNT; st++) {
            for (int lim = 0; lim <= (int)CHG_LIM_COUNT; lim++) {
                for (int slot = 0; slot < 3; slot++) {
                    for (int stop = 0; stop < 4; stop++) {
                        chg_limits_t l = fresh();
                        float x = extremes[e];
                        if (e > 0u) {
                            l.cvl_v = l.cvl_target_v = l.pack_v = x;
                            l.cell_max_v = l.cell_min_v = l.spread_v = x;
                            l.temp_min_c = l.temp_max_c = x;
                            l.cell_target_v = l.cell_float_v = l.cell_limit_v = x;
                            l.cell_ov_v = l.cell_uv_v = x;
                            l.ccl_taper_v[0] = l.ccl_taper_v[1] = l.dcl_taper_v[0] = l.dcl_taper_v[1] = x;
                            l.temp_charge_c[0] = l.temp_charge_c[1] = x;
                            l.temp_discharge_c[0] = l.temp_discharge_c[1] = x;
                            l.soc_pct = l.soc_taper_pct[0] = l.soc_taper_pct[1] = x;
                            l.imbalance_v[1] = x;
                            l.ccl_target_a = l.dcl_target_a = x;
                            l.series_cells = 255;
                            l.data_age_ms = 0xFFFFFFFFu;
                            l.data_why = "snapshot incomplete (live or settings block missing)";
                        }
                        l.state = (chg_state_t)st;
                        l.phase = st == CHG_STATE_FLOAT ? CHG_PHASE_FLOAT : CHG_PHASE_ABSORPTION;
                        l.failsafe_mode = (failsafe_mode_t)(lim % 2);
                        l.charge_stopped = (stop & 1) != 0;
                        l.discharge_stopped = (stop & 2) != 0;
                        l.ccl_a = l.charge_stopped ? 0.0f : (e > 0u ? x : 12.3f);
                        l.dcl_a = l.discharge_stopped ? 0.0f : (e > 0u ? x : 150.0f);
                        chg_limiter_t *slots[3] = {&l.cvl_lim, &l.ccl_lim, &l.dcl_lim};
                        *slots[slot] = (chg_limiter_t)lim;
                        char buf[CHG_REASON_LEN];
                        chg_reason_format(&l, buf, sizeof buf);
                        size_t n = strlen(buf);
                        if (n > longest) {
                            longest = n;
                            memcpy(longest_s, buf, n + 1u);
                        }
                        if (has_internal_name(buf) || !utf8_valid(buf, n) || n + 1u >= sizeof buf) {
                            fail_msg("limiter %d slot %d state %d: \"%s\"", lim, slot, st, buf);
                        }
                        if (st >= (int)CHG_STATE_BULK && st <= (int)CHG_STATE_FLOAT) {
                            assert_non_null(strstr(buf, "CVL "));
                            assert_non_null(strstr(buf, "; CCL "));
                            assert_non_null(strstr(buf, "; DCL "));
                        }
                        checked++;
                    }
                }
            }
        }
    }
    /* the buffer keeps a margin over the longest sentence (growth in wording must not truncate) */
    print_message("%u sentences, longest %zu bytes of %u: %s\n", checked, longest, (unsigned)CHG_REASON_LEN,
                  longest_s);
    assert_true(longest + 32u < CHG_REASON_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_sentence),
        cmocka_unit_test(cvl_limiters),
        cmocka_unit_test(ccl_limiters),
        cmocka_unit_test(dcl_limiters),
        cmocka_unit_test(data_not_fresh),
        cmocka_unit_test(truncates_and_fills),
        cmocka_unit_test(every_sentence_is_plain_and_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
