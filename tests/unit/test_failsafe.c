/* Unit tests of the stale-data policy (core/failsafe.h): data states and their thresholds, the
 * valid/transmit flags of each fail-safe mode, plausibility checks, boot behaviour and the
 * configuration rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/failsafe.h"
#include "test_charge_util.h"

typedef struct {
    failsafe_state_t st;
    failsafe_config_t cfg;
    bms_snapshot_t snap;
    uint32_t now;
    failsafe_verdict_t v;
} rig_t;

static void rig_init(rig_t *r)
{
    memset(r, 0, sizeof *r);
    failsafe_config_defaults(&r->cfg);
    failsafe_init(&r->st);
    r->now = 50000u;
    tcu_snapshot(&r->snap, 16, 3.30f, r->now);
}

static void fresh(rig_t *r, uint32_t dt)
{
    r->now += dt;
    r->snap.live.t_ms = r->now;
    failsafe_step(&r->st, &r->snap, &r->cfg, r->now, &r->v);
}

static void silent(rig_t *r, uint32_t dt)
{
    r->now += dt;
    failsafe_step(&r->st, &r->snap, &r->cfg, r->now, &r->v);
}

static void defaults_and_schema(void **state)
{
    (void)state;
    failsafe_config_t c;
    failsafe_config_defaults(&c);
    assert_int_equal(c.stale_ms, 5000);
    assert_int_equal(c.failsafe_ms, 30000);
    assert_int_equal(c.mode, FAILSAFE_MODE_STOP_TRANSMITTING);
    cfg_error_t err;
    assert_int_equal(cfg_validate(&failsafe_section, &c, &err), TB_OK);
    assert_int_equal(failsafe_config_check(&c, NULL), TB_OK);
    const cfg_param_t *p = cfg_find(&failsafe_section, "failsafe.mode");
    assert_non_null(p);
    assert_int_equal(cfg_set_enum_name(p, &c, "zero_limits", &err), TB_OK);
    assert_int_equal(c.mode, FAILSAFE_MODE_ZERO_LIMITS);
    assert_int_equal(cfg_set_enum_name(p, &c, "keep_last", &err), TB_ERR_RANGE);
    assert_int_equal(c.mode, FAILSAFE_MODE_ZERO_LIMITS);
    c.failsafe_ms = 4000;
    const char *why = NULL;
    assert_int_equal(failsafe_config_check(&c, &why), TB_ERR_RANGE);
    assert_non_null(why);
    assert_string_equal(failsafe_mode_name(FAILSAFE_MODE_STOP_TRANSMITTING), "stop_transmitting");
    assert_string_equal(failsafe_data_name(FAILSAFE_ACTIVE), "failsafe");
    assert_string_equal(failsafe_data_name(FAILSAFE_DATA_COUNT), "unknown");
}

static void boot_no_data_then_comm_alarm(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    memset(&r.snap, 0, sizeof r.snap);
    silent(&r, 0);
    assert_int_equal(r.v.state, FAILSAFE_NO_DATA);
    assert_false(r.v.valid);
    assert_false(r.v.transmit);
    assert_false(r.v.comm_alarm); /* a boot grace of stale_ms */
    assert_string_equal(r.v.why, "no BMS data yet");
    silent(&r, 5000);
    assert_false(r.v.comm_alarm);
    silent(&r, 1);
    assert_true(r.v.comm_alarm);
    assert_int_equal(r.v.state, FAILSAFE_NO_DATA);
    assert_false(r.v.transmit);
}

static void thresholds_are_exact(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        rig_t r;
        rig_init(&r);
        r.cfg.mode = mode;
        fresh(&r, 0);
        assert_int_equal(r.v.state, FAILSAFE_FRESH);
        assert_true(r.v.valid && r.v.transmit && r.v.usable && !r.v.comm_alarm);
        assert_int_equal(r.v.age_ms, 0);
        silent(&r, 5000);
        assert_int_equal(r.v.state, FAILSAFE_FRESH);
        assert_int_equal(r.v.age_ms, 5000);
        silent(&r, 1);
        assert_int_equal(r.v.state, FAILSAFE_STALE);
        assert_true(r.v.valid && r.v.transmit && r.v.comm_alarm && !r.v.usable);
        silent(&r, 24999);
        assert_int_equal(r.v.state, FAILSAFE_STALE);
        silent(&r, 1);
        assert_int_equal(r.v.state, FAILSAFE_ACTIVE);
        assert_true(r.v.comm_alarm);
        assert_int_equal(r.v.valid, mode == FAILSAFE_MODE_ZERO_LIMITS);
        assert_int_equal(r.v.transmit, mode == FAILSAFE_MODE_ZERO_LIMITS);
        /* recovery needs fresh data; a new stamp that is already too old is not enough */
        r.now += 1000u;
        r.snap.live.t_ms = r.now - 6000u;
        failsafe_step(&r.st, &r.snap, &r.cfg, r.now, &r.v);
        assert_int_equal(r.v.state, FAILSAFE_ACTIVE);
        fresh(&r, 1000);
        assert_int_equal(r.v.state, FAILSAFE_FRESH);
        assert_true(r.v.valid && r.v.transmit && !r.v.comm_alarm);
    }
}

static void decoded_a_little_earlier_counts_from_its_stamp(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.now += 1000u;
    r.snap.live.t_ms = r.now - 4000u; /* decoded 4 s before this cycle */
    failsafe_step(&r.st, &r.snap, &r.cfg, r.now, &r.v);
    assert_int_equal(r.v.state, FAILSAFE_FRESH);
    assert_int_equal(r.v.age_ms, 4000);
    silent(&r, 1001);
    assert_int_equal(r.v.state, FAILSAFE_STALE);
}

static void unusable_snapshot_is_stale_at_once(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    fresh(&r, 1000);
    assert_int_equal(r.v.state, FAILSAFE_FRESH);
    r.snap.settings.valid = false;
    fresh(&r, 1000);
    assert_int_equal(r.v.state, FAILSAFE_STALE);
    assert_true(r.v.comm_alarm);
    assert_non_null(strstr(r.v.why, "incomplete"));
    r.snap.settings.valid = true;
    fresh(&r, 1000);
    assert_int_equal(r.v.state, FAILSAFE_FRESH);
}

static void plausibility_checks(void **state)
{
    (void)state;
    bms_snapshot_t s;
    const char *why = NULL;
    tcu_snapshot(&s, 16, 3.30f, 0);
    assert_true(failsafe_snapshot_usable(&s, &why));
    assert_string_equal(why, "");

#define BAD(stmt)                                                                                       \
    do {                                                                                                \
        tcu_snapshot(&s, 16, 3.30f, 0);                                                                 \
        stmt;                                                                                           \
        why = NULL;                                                                                     \
        assert_false(failsafe_snapshot_usable(&s, &why));                                               \
        assert_non_null(why);                                                                           \
        assert_true(strlen(why) > 5u);                                                                  \
    } while (0)

    BAD(s.live.valid = false);
    BAD(s.settings.valid = false);
    BAD((s.live.cell_count = 3, s.settings.series_cells = 3));
    BAD(s.live.cell_count = 17);
    BAD(s.live.cell_v[4] = NAN);
    BAD(s.live.cell_v[4] = 0.0f);
    BAD(s.live.cell_v[4] = 5.5f);
    BAD(s.live.max_cell_v = INFINITY);
    BAD((s.live.min_cell_v = 3.4f, s.live.max_cell_v = 3.3f));
    BAD(s.live.pack_voltage_v = NAN);
    BAD(s.live.pack_voltage_v = 0.0f);
    BAD(s.live.pack_voltage_v = 52.8f * 1.2f);
    BAD(s.live.pack_current_a = NAN);
    BAD(s.live.soc_pct = 100.5f);
    BAD(s.live.soc_pct = -1.0f);
    BAD(s.live.temp_internal_c = NAN);
    BAD(s.live.temp_ext_c[0] = 300.0f);
    BAD(s.settings.over_voltage_v = 0.0f);
    BAD(s.settings.under_voltage_v = NAN);
    BAD(s.settings.under_voltage_v = 3.6f);
    BAD(s.settings.fully_charged_v = 0.0f);
    BAD(s.settings.charge_oc_a = -1.0f);
    BAD(s.settings.discharge_oc_a = NAN);
    BAD(s.settings.over_heat_c = NAN);
    BAD(s.settings.low_temp_charge_c = 70.0f);
    BAD(s.settings.capacity_ah = NAN);
#undef BAD
    /* An absent external sensor may hold any value. */
    tcu_snapshot(&s, 16, 3.30f, 0);
    s.live.temp_ext_present[1] = false;
    s.live.temp_ext_c[1] = -3276.8f;
    assert_true(failsafe_snapshot_usable(&s, NULL));
    /* Cell count from settings when the live register is odd is not enough: the live block is
     * what the cells are read from. */
    s.live.cell_count = 0;
    assert_false(failsafe_snapshot_usable(&s, NULL));
}

static void future_stamp_and_wrap(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.now = 100u;
    r.snap.live.t_ms = 200u;
    failsafe_step(&r.st, &r.snap, &r.cfg, r.now, &r.v);
    assert_int_equal(r.v.state, FAILSAFE_NO_DATA);
    /* fresh data across the 32-bit wrap */
    rig_init(&r);
    r.now = 0xFFFFF000u;
    for (int i = 0; i < 20; i++) {
        fresh(&r, 500);
        assert_int_equal(r.v.state, FAILSAFE_FRESH);
    }
    assert_true(r.now < 0x10000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_schema),
        cmocka_unit_test(boot_no_data_then_comm_alarm),
        cmocka_unit_test(thresholds_are_exact),
        cmocka_unit_test(decoded_a_little_earlier_counts_from_its_stamp),
        cmocka_unit_test(unusable_snapshot_is_stale_at_once),
        cmocka_unit_test(plausibility_checks),
        cmocka_unit_test(future_stamp_and_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
