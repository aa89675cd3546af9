/* Unit tests of alarm evaluation (core/alarms.h): each Victron category, debounce, hysteresis,
 * the TinyBMS-setting caps, "while charging", BMS internal from status, events and link loss,
 * boot and stale behaviour, configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/alarms.h"
#include "test_charge_util.h"

typedef struct {
    alarms_state_t st;
    alarms_config_t cfg;
    bms_snapshot_t snap;
    bms_events_t ev;
    bool use_ev;
    failsafe_data_t data;
    bool comm;
    uint32_t now;
    alarms_out_t out;
} rig_t;

static void rig_init(rig_t *r)
{
    memset(r, 0, sizeof *r);
    alarms_config_defaults(&r->cfg);
    alarms_init(&r->st);
    r->now = 1000u;
    tcu_snapshot(&r->snap, 16, 3.30f, r->now);
    r->data = FAILSAFE_FRESH;
}

static void step(rig_t *r, uint32_t dt)
{
    r->now += dt;
    r->snap.live.t_ms = r->now;
    alarms_step(&r->st, &r->snap, r->use_ev ? &r->ev : NULL, r->data, r->comm, &r->cfg, r->now, &r->out);
}

static void run(rig_t *r, uint32_t ms)
{
    for (uint32_t t = 0; t < ms; t += 1000u) {
        step(r, 1000u);
    }
}

static uint8_t lvl(const rig_t *r, alarm_id_t id)
{
    return r->out.set.level[id];
}

static void healthy_battery_all_ok(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    run(&r, 60000);
    for (unsigned id = 0; id < ALARM_COUNT; id++) {
        if (id == ALARM_GENERAL || id == ALARM_CONTACTOR || id == ALARM_SHORT_CIRCUIT) {
            assert_int_equal(lvl(&r, (alarm_id_t)id), ALARM_LEVEL_UNSUPPORTED);
        } else {
            assert_int_equal(lvl(&r, (alarm_id_t)id), ALARM_LEVEL_OK);
        }
    }
    assert_true(r.out.evaluated);
    assert_int_equal(r.out.active_alarms, 0);
    assert_int_equal(r.out.active_warnings, 0);
}

static void boot_zeros_raise_nothing(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    memset(&r.snap, 0, sizeof r.snap); /* what a gateway has before the first reply */
    r.data = FAILSAFE_NO_DATA;
    for (int i = 0; i < 60; i++) {
        r.now += 1000u;
        alarms_step(&r.st, &r.snap, NULL, r.data, false, &r.cfg, r.now, &r.out);
        assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_OK);
        assert_int_equal(lvl(&r, ALARM_LOW_TEMP), ALARM_LEVEL_OK);
        assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
        assert_false(r.out.evaluated);
    }
    /* Even a snapshot that claims validity with zero cells must not be evaluated while the
     * policy says there is no usable data. */
    r.snap.live.valid = true;
    r.now += 1000u;
    alarms_step(&r.st, &r.snap, NULL, FAILSAFE_NO_DATA, false, &r.cfg, r.now, &r.out);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_OK);
    /* The BMS never answers: link alarm (BMS internal), nothing else. */
    alarms_step(&r.st, &r.snap, NULL, FAILSAFE_NO_DATA, true, &r.cfg, r.now, &r.out);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_ALARM);
    assert_int_equal(r.out.internal, ALARMS_INTERNAL_NO_ANSWER);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_OK);
}

static void high_voltage_debounce_and_hysteresis(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    tcu_set_cells(&r.snap, 3.45f); /* near the top, so the runner is no imbalance alarm */
    run(&r, 5000);
    /* A 4 s spike above the alarm threshold: nothing (raise_ms 5 s). */
    r.snap.live.cell_v[3] = 3.62f;
    tcu_recalc(&r.snap);
    run(&r, 4000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_OK);
    r.snap.live.cell_v[3] = 3.45f;
    tcu_recalc(&r.snap);
    run(&r, 3000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_OK);
    /* Warning after 5 s at 3.56. */
    r.snap.live.cell_v[3] = 3.56f;
    tcu_recalc(&r.snap);
    run(&r, 4000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_OK);
    run(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_WARNING);
    /* Alarm at 3.61. */
    r.snap.live.cell_v[3] = 3.61f;
    tcu_recalc(&r.snap);
    run(&r, 5000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_ALARM);
    assert_int_equal(r.out.active_alarms, 1);
    /* 3.58: below 3.60 but inside the 30 mV hysteresis: alarm stays for ever. */
    r.snap.live.cell_v[3] = 3.58f;
    tcu_recalc(&r.snap);
    run(&r, 120000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_ALARM);
    /* 3.55: alarm clears after clear_ms (30 s), warning stays (inside its hysteresis). */
    r.snap.live.cell_v[3] = 3.55f;
    tcu_recalc(&r.snap);
    run(&r, 29000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_ALARM);
    run(&r, 2000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_WARNING);
    r.snap.live.cell_v[3] = 3.40f;
    tcu_recalc(&r.snap);
    run(&r, 31000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_OK);
}

static void bms_settings_tighten_thresholds(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.snap.settings.over_voltage_v = 3.57f; /* below the configured 3.60 alarm */
    r.snap.live.cell_v[0] = 3.575f;
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_ALARM);

    rig_init(&r);
    r.snap.settings.under_voltage_v = 2.95f; /* above the configured 2.90 alarm */
    r.snap.live.cell_v[0] = 2.94f;
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_ALARM);

    rig_init(&r);
    r.snap.settings.over_heat_c = 52.0f;
    tcu_set_temp(&r.snap, 52.0f);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP), ALARM_LEVEL_ALARM);
}

static void low_voltage_levels(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.snap.live.cell_v[9] = 2.99f;
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_WARNING);
    r.snap.live.cell_v[9] = 2.85f;
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_ALARM);
}

static void temperatures_and_while_charging(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    tcu_set_temp(&r.snap, 3.0f);
    r.snap.live.pack_current_a = -20.0f; /* discharging at 3 C: fine */
    run(&r, 10000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP_CHARGE), ALARM_LEVEL_OK);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP), ALARM_LEVEL_OK);
    r.snap.live.pack_current_a = 10.0f; /* charging at 3 C: warning (5 C) */
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP_CHARGE), ALARM_LEVEL_WARNING);
    tcu_set_temp(&r.snap, -1.0f);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP_CHARGE), ALARM_LEVEL_ALARM);
    r.snap.live.pack_current_a = 0.0f; /* charging ended: clears after clear_ms */
    run(&r, 31000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP_CHARGE), ALARM_LEVEL_OK);

    tcu_set_temp(&r.snap, -12.0f);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP), ALARM_LEVEL_WARNING);
    tcu_set_temp(&r.snap, -21.0f);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_LOW_TEMP), ALARM_LEVEL_ALARM);

    rig_init(&r);
    tcu_set_temp(&r.snap, 47.0f);
    r.snap.live.pack_current_a = 10.0f;
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP_CHARGE), ALARM_LEVEL_WARNING);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP), ALARM_LEVEL_OK);
    tcu_set_temp(&r.snap, 56.0f);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP_CHARGE), ALARM_LEVEL_ALARM);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP), ALARM_LEVEL_ALARM);
    /* The board sensor counts for alarms too. */
    rig_init(&r);
    tcu_set_temp(&r.snap, 25.0f);
    r.snap.live.temp_internal_c = 58.0f;
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_TEMP), ALARM_LEVEL_ALARM);
}

static void currents_relative_to_bms_cutoffs(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.snap.live.pack_current_a = -120.0f; /* 80 %: the gateway's own DCL, not a warning */
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_DISCHARGE_CURRENT), ALARM_LEVEL_OK);
    r.snap.live.pack_current_a = -138.0f; /* 92 % of 150 A */
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_DISCHARGE_CURRENT), ALARM_LEVEL_WARNING);
    assert_int_equal(lvl(&r, ALARM_HIGH_CHARGE_CURRENT), ALARM_LEVEL_OK);
    r.snap.live.pack_current_a = -145.0f; /* 96.7 % */
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_DISCHARGE_CURRENT), ALARM_LEVEL_ALARM);
    r.snap.live.pack_current_a = 96.0f; /* 96 % of 100 A */
    run(&r, 40000);
    assert_int_equal(lvl(&r, ALARM_HIGH_CHARGE_CURRENT), ALARM_LEVEL_ALARM);
    assert_int_equal(lvl(&r, ALARM_HIGH_DISCHARGE_CURRENT), ALARM_LEVEL_OK);
    /* Cut-off unknown (0): the category cannot be evaluated. */
    r.snap.settings.charge_oc_a = 0.0f;
    step(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_HIGH_CHARGE_CURRENT), ALARM_LEVEL_UNSUPPORTED);
}

static void imbalance(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.snap.live.cell_v[0] = 3.14f; /* spread 0.16 */
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_CELL_IMBALANCE), ALARM_LEVEL_WARNING);
    r.snap.live.cell_v[0] = 2.99f; /* spread 0.31 (and a low-voltage warning) */
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_CELL_IMBALANCE), ALARM_LEVEL_ALARM);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_WARNING);
}

static void bms_internal_from_status(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    run(&r, 1000);
    tcu_fault(&r.snap, true);
    run(&r, 4000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK); /* debounced */
    run(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_ALARM);
    assert_int_equal(r.out.internal, ALARMS_INTERNAL_FAULT_STATUS);
    tcu_fault(&r.snap, false);
    run(&r, 31000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    /* An undocumented status code is not a fault. */
    r.snap.live.status = BMS_STATUS_UNKNOWN;
    r.snap.live.status_raw = 0x95;
    run(&r, 10000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
}

static void add_event(bms_events_t *ev, uint32_t ts, uint8_t id)
{
    ev->ev[ev->count].timestamp_s = ts & 0xFFFFFFu;
    ev->ev[ev->count].id = id;
    ev->count++;
}

static void bms_internal_from_events(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.use_ev = true;
    r.ev.valid = true;
    r.ev.t_ms = r.now;
    r.ev.bms_time_s = 100000u;
    add_event(&r.ev, 1000u, 0x61);  /* started, long ago */
    add_event(&r.ev, 99800u, 0x62); /* charging started */
    add_event(&r.ev, 99900u, 0x03); /* over-voltage cut-off 100 s ago */
    step(&r, 0);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_WARNING);
    assert_int_equal(r.out.internal, ALARMS_INTERNAL_FAULT_EVENT);
    assert_int_equal(r.out.fault_event_id, 0x03);
    /* Recovered from over-voltage afterwards: OK. */
    add_event(&r.ev, 99950u, 0x79);
    step(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    /* A fault older than fault_event_s (600 s): OK. */
    r.ev.count = 0;
    add_event(&r.ev, 99000u, 0x05);
    step(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    /* The event log was read 10 minutes ago: the 100 s old fault is now 700 s old. */
    r.ev.count = 0;
    add_event(&r.ev, 99900u, 0x05);
    r.ev.t_ms = r.now - 600000u;
    step(&r, 0);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    /* 24-bit time stamps wrap: the BMS lifetime passed 2^24 s since the event. */
    r.ev.t_ms = r.now;
    r.ev.count = 0;
    r.ev.bms_time_s = 0x01000010u;
    add_event(&r.ev, 0x00FFFFF0u, 0x0B); /* 32 s before */
    step(&r, 0);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_WARNING);
    /* Warnings and information events are not faults. */
    r.ev.count = 0;
    add_event(&r.ev, 0x00FFFFF0u, 0x37);
    add_event(&r.ev, 0x00FFFFF8u, 0x63);
    step(&r, 0);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    /* Switched off. */
    r.cfg.fault_event_s = 0;
    r.ev.count = 0;
    add_event(&r.ev, 0x01000000u, 0x03);
    step(&r, 0);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
}

static void stale_data_freezes_levels_and_raises_link(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r);
    r.snap.live.cell_v[2] = 3.57f;
    tcu_recalc(&r.snap);
    run(&r, 6000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_WARNING);
    r.data = FAILSAFE_STALE;
    r.comm = true;
    tcu_set_cells(&r.snap, 2.0f); /* whatever the stale snapshot says is not evaluated */
    run(&r, 120000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_WARNING);
    assert_int_equal(lvl(&r, ALARM_LOW_VOLTAGE), ALARM_LEVEL_OK);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_ALARM);
    assert_int_equal(r.out.internal, ALARMS_INTERNAL_COMM_LOST);
    assert_false(r.out.evaluated);
    r.data = FAILSAFE_ACTIVE;
    step(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_ALARM);
    /* Fresh again: link OK at once, the data categories re-evaluate with their debounce. */
    r.data = FAILSAFE_FRESH;
    r.comm = false;
    tcu_set_cells(&r.snap, 3.30f);
    step(&r, 1000);
    assert_int_equal(lvl(&r, ALARM_BMS_INTERNAL), ALARM_LEVEL_OK);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_WARNING);
    run(&r, 31000);
    assert_int_equal(lvl(&r, ALARM_HIGH_VOLTAGE), ALARM_LEVEL_OK);
}

static void config_and_names(void **state)
{
    (void)state;
    alarms_config_t c;
    alarms_config_defaults(&c);
    cfg_error_t err;
    assert_int_equal(cfg_validate(&alarms_section, &c, &err), TB_OK);
    assert_int_equal(alarms_config_check(&c, NULL), TB_OK);
    size_t covered = 0;
    for (size_t i = 0; i < alarms_section.count; i++) {
        const cfg_param_t *p = &alarms_section.params[i];
        assert_true(strncmp(p->key, "alarms.", 7) == 0);
        assert_true(strlen(cfg_param_doc(p)) > 20u);
        assert_true(p->def >= p->min && p->def <= p->max);
        covered += cfg_param_size(p);
    }
    assert_int_equal(covered, sizeof(alarms_config_t)); /* every field has a row */
    alarms_config_t b = c;
    b.cell_high_warn_v = 3.7f;
    const char *why = NULL;
    assert_int_equal(alarms_config_check(&b, &why), TB_ERR_RANGE);
    assert_non_null(why);
    b = c;
    b.charge_temp_low_warn_c = -5.0f;
    assert_int_equal(alarms_config_check(&b, &why), TB_ERR_RANGE);

    assert_string_equal(alarms_category_name(ALARM_HIGH_VOLTAGE), "high_voltage");
    assert_string_equal(alarms_category_name(ALARM_BMS_INTERNAL), "bms_internal");
    assert_string_equal(alarms_category_name(ALARM_CELL_IMBALANCE), "cell_imbalance");
    assert_string_equal(alarms_category_name(ALARM_COUNT), "unknown");
    assert_string_equal(alarms_level_name(ALARM_LEVEL_UNSUPPORTED), "unsupported");
    assert_string_equal(alarms_internal_name(ALARMS_INTERNAL_COMM_LOST), "communication_lost");
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        for (unsigned j = 0; j < i; j++) {
            assert_string_not_equal(alarms_category_name((alarm_id_t)i), alarms_category_name((alarm_id_t)j));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthy_battery_all_ok),
        cmocka_unit_test(boot_zeros_raise_nothing),
        cmocka_unit_test(high_voltage_debounce_and_hysteresis),
        cmocka_unit_test(bms_settings_tighten_thresholds),
        cmocka_unit_test(low_voltage_levels),
        cmocka_unit_test(temperatures_and_while_charging),
        cmocka_unit_test(currents_relative_to_bms_cutoffs),
        cmocka_unit_test(imbalance),
        cmocka_unit_test(bms_internal_from_status),
        cmocka_unit_test(bms_internal_from_events),
        cmocka_unit_test(stale_data_freezes_levels_and_raises_link),
        cmocka_unit_test(config_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
