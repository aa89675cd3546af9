/* app/can_sched: cadences with injected time, the safety gates (no 0x351 before valid limits,
 * stop flag, shadow mode), the TX guard (0x305/0x306/0x307 and every other forbidden frame can
 * never reach the send callback), identity hygiene, GX presence and statistics. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/can_sched.h"
#include "core/vcan.h"

/* ---- recording fake bus ------------------------------------------------------------------- */

#define REC_MAX 4096
typedef struct {
    can_frame_t f[REC_MAX];
    uint32_t t[REC_MAX];
    size_t n;
    uint32_t now;
    int fail_rc; /* != 0: every send returns this */
} rec_t;

static int rec_send(void *ctx, const can_frame_t *f)
{
    rec_t *r = ctx;
    if (r->fail_rc) {
        return r->fail_rc;
    }
    if (r->n < REC_MAX) {
        r->f[r->n] = *f;
        r->t[r->n] = r->now;
        r->n++;
    }
    return f->dlc;
}

static size_t count_id(const rec_t *r, uint32_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        n += r->f[i].id == id;
    }
    return n;
}

static const can_frame_t *last_of(const rec_t *r, uint32_t id)
{
    for (size_t i = r->n; i-- > 0;) {
        if (r->f[i].id == id) {
            return &r->f[i];
        }
    }
    return NULL;
}

static void default_cfg(can_sched_cfg_t *cfg)
{
    cfg_set_defaults(&can_sched_cfg_section, cfg);
}

static void healthy_inputs(can_inputs_t *in)
{
    can_inputs_init(in);
    in->transmit = true;
    in->limits_valid = true;
    in->measurements_valid = true;
    in->cvl_v = 56.0f;
    in->ccl_a = 50.0f;
    in->dcl_a = 100.0f;
    in->dvl_v = 44.8f;
    in->soc_pct = 75.4f;
    in->soh_pct = 98.0f;
    in->pack_v = 53.21f;
    in->pack_a = -12.3f;
    in->pack_temp_c = 24.5f;
    memset(&in->alarms, ALARM_LEVEL_OK, sizeof in->alarms);
    in->alarms.level[ALARM_GENERAL] = ALARM_LEVEL_UNSUPPORTED;
    in->system_status = VCAN_STATUS_ONLINE;
    in->fw_major = 1;
    in->fw_minor = 0xF2;
    in->capacity_online_ah = 280.0f;
    in->capacity_installed_ah = 280.0f;
    in->modules = (vcan_modules_t){1, 0, 0, 0};
    in->cell_min_v = 3.301f;
    in->cell_max_v = 3.342f;
    strcpy(in->cell_min_id, "cell 3");
    strcpy(in->cell_max_id, "cell 12");
    in->temp_min_c = 22.0f;
    in->temp_max_c = 25.0f;
    strcpy(in->temp_min_id, "ext 1");
    strcpy(in->temp_max_id, "ext 2");
    in->energy_in_wh = 1234500.0;
    in->energy_out_wh = 987600.0;
    strcpy(in->manufacturer, "TinyBMS");
}

static void setup_sched(can_sched_t *s, rec_t *r, can_sched_cfg_t *cfg)
{
    memset(r, 0, sizeof *r);
    default_cfg(cfg);
    assert_int_equal(can_sched_init(s, cfg, rec_send, r, NULL), TB_OK);
}

/* Runs the scheduler from t0 to t1 (exclusive) polling every step ms. */
static void run(can_sched_t *s, rec_t *r, uint32_t t0, uint32_t t1, uint32_t step)
{
    for (uint32_t t = t0; (int32_t)(t1 - t) > 0; t += step) {
        r->now = t;
        (void)can_sched_poll(s, t);
    }
}

static bool is_gx(uint32_t id)
{
    return id == 0x305 || id == 0x306 || id == 0x307;
}

/* ---- configuration ------------------------------------------------------------------------ */

static void config_defaults(void **state)
{
    (void)state;
    can_sched_cfg_t cfg;
    default_cfg(&cfg);
    cfg_error_t err;
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_OK);
    assert_int_equal(cfg.fast_period_ms, 1000);
    assert_int_equal(cfg.burst_gap_ms, 50);
    assert_int_equal(cfg.status_period_ms, 2000);
    assert_int_equal(cfg.identity_period_ms, 5000);
    assert_int_equal(cfg.gx_timeout_ms, 5000);
    assert_false(cfg.shadow);
    assert_string_equal(cfg.port, "socketcan:can0");
    assert_string_equal(cfg.manufacturer, "TinyBMS");
    assert_false(vcan_is_known_brand(cfg.manufacturer, NULL));
    assert_string_equal(cfg.battery_name, "");
    assert_string_equal(cfg.family, "");
    assert_non_null(cfg_find(&can_sched_cfg_section, "can.manufacturer"));
    assert_non_null(cfg_find(&can_sched_cfg_section, "can.shadow"));
    for (size_t i = 0; i < can_sched_cfg_section.count; i++) {
        assert_non_null(cfg_param_doc(&can_sched_cfg_section.params[i]));
        assert_true(strncmp(can_sched_cfg_section.params[i].key, "can.", 4) == 0);
    }
}

static void config_refuses_brands_and_junk(void **state)
{
    (void)state;
    static const char *const brands[] = {"PYLON", "BYD", "LG", "DYNESS", "PELIO", "FREEDOMWON", "Pylontech", "byd",
                                         "LG RESU", "Freedom Won", "VICTRON"};
    static const char *const keys[] = {"can.manufacturer", "can.battery_name", "can.family"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t b = 0; b < sizeof brands / sizeof brands[0]; b++) {
            can_sched_cfg_t cfg;
            default_cfg(&cfg);
            const cfg_param_t *p = cfg_find(&can_sched_cfg_section, keys[k]);
            assert_non_null(p);
            if (strlen(brands[b]) >= cfg_param_size(p)) {
                continue; /* does not fit this field anyway */
            }
            /* the generic setter checks length only ... */
            assert_int_equal(cfg_set_string(p, &cfg, brands[b], NULL), TB_OK);
            /* ... the section validation refuses the brand */
            cfg_error_t err = {0};
            assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
            assert_ptr_equal(err.param, p);
            assert_non_null(strstr(err.reason, "brand"));
            /* and a scheduler never accepts it */
            can_sched_t s;
            rec_t r;
            memset(&r, 0, sizeof r);
            assert_int_equal(can_sched_init(&s, &cfg, rec_send, &r, NULL), TB_ERR_RANGE);
            can_inputs_t in;
            healthy_inputs(&in);
            can_sched_update(&s, &in, true, 0);
            run(&s, &r, 0, 3000, 10);
            assert_int_equal(r.n, 0);
            assert_string_equal(can_sched_mode(&s), "unconfigured");
        }
    }
    can_sched_cfg_t cfg;
    cfg_error_t err;
    default_cfg(&cfg);
    strcpy(cfg.manufacturer, "Caf\xC3\xA9");
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
    default_cfg(&cfg);
    cfg.burst_gap_ms = 1000;
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
    assert_string_equal(err.param->key, "can.burst_gap_ms");
    default_cfg(&cfg);
    strcpy(cfg.port, "can0");
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
    strcpy(cfg.port, "slcan:");
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
    strcpy(cfg.port, "slcan:/dev/ttyACM0");
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_OK);
    default_cfg(&cfg);
    cfg.fast_period_ms = 2000; /* longer than Victron's 1 s recommendation: refused by the row */
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_ERR_RANGE);
    /* the serial number is not matched by the GX: allowed to contain anything printable */
    default_cfg(&cfg);
    strcpy(cfg.serial, "LG-12345");
    assert_int_equal(can_sched_cfg_validate(&cfg, &err), TB_OK);
}

/* 0x35E carries the default identity, which is not a brand. */
static void default_identity_on_the_bus(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    can_identity_t id = can_sched_identity(&cfg);
    strcpy(in.manufacturer, id.manufacturer);
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 100, 10);
    const can_frame_t *f = last_of(&r, 0x35E);
    assert_non_null(f);
    vcan_msg_t m;
    assert_int_equal(vcan_decode(f, &m), TB_OK);
    assert_string_equal(m.u.text.text, "TinyBMS");
    assert_false(vcan_is_known_brand(m.u.text.text, NULL));
    assert_int_equal(count_id(&r, 0x370), 0); /* no battery name configured: 0x370/0x371 omitted */
    assert_int_equal(count_id(&r, 0x382), 0);
    assert_int_equal(count_id(&r, 0x380), 0);
}

/* ---- invariant 1 and the gates ------------------------------------------------------------ */

static void nothing_before_data(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    run(&s, &r, 0, 5000, 10);
    assert_int_equal(r.n, 0);
    assert_string_equal(can_sched_mode(&s), "waiting");
    can_inputs_t in;
    can_inputs_init(&in); /* transmit true, nothing valid */
    can_sched_update(&s, &in, true, 5000);
    run(&s, &r, 5000, 10000, 10);
    assert_int_equal(r.n, 0);
}

static void no_351_before_valid_limits(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    in.limits_valid = false; /* snapshot read, controller not yet decided */
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 3000, 10);
    assert_true(r.n > 0);
    assert_int_equal(count_id(&r, 0x351), 0);
    assert_true(count_id(&r, 0x355) >= 3);
    assert_true(count_id(&r, 0x35A) >= 3);
    /* the TX path itself refuses a hand-made 0x351 */
    can_frame_t f;
    vcan_limits_t l = {56.0f, 10.0f, 10.0f, 44.0f};
    assert_int_equal(vcan_encode_limits(&f, &l), 8);
    assert_int_equal(can_sched_transmit(&s, &f, 3000), TB_ERR_STATE);
    assert_int_equal(s.n.refused_limits, 1);
    assert_int_equal(count_id(&r, 0x351), 0);
    /* limits become valid: 0x351 at the very next poll after the fresh snapshot */
    in.limits_valid = true;
    can_sched_update(&s, &in, true, 3000);
    r.now = 3000;
    can_sched_poll(&s, 3000);
    assert_int_equal(count_id(&r, 0x351), 1);
    vcan_msg_t m;
    assert_int_equal(vcan_decode(last_of(&r, 0x351), &m), TB_OK);
    assert_float_equal(m.u.limits.cvl_v, 56.0f, 0.01f);
    assert_float_equal(m.u.limits.ccl_a, 50.0f, 0.01f);
    assert_float_equal(m.u.limits.dcl_a, 100.0f, 0.01f);
    assert_float_equal(m.u.limits.dvl_v, 44.8f, 0.01f);
}

static void no_measurement_frames_without_fresh_data(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    in.measurements_valid = false; /* stale data, "keep sending zero limits" policy */
    in.ccl_a = 0.0f;
    in.dcl_a = 0.0f;
    can_sched_update(&s, &in, false, 0);
    run(&s, &r, 0, 3000, 10);
    assert_int_equal(count_id(&r, 0x355), 0);
    assert_int_equal(count_id(&r, 0x356), 0);
    assert_true(count_id(&r, 0x351) >= 3);
    assert_true(count_id(&r, 0x35A) >= 3);
    const can_frame_t *f = last_of(&r, 0x351);
    assert_int_equal(f->data[2] | f->data[3] | f->data[4] | f->data[5], 0);
}

static void stop_transmitting(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 2000, 10);
    size_t before = r.n;
    assert_true(before > 0);
    in.transmit = false; /* fail-safe: go silent */
    can_sched_update(&s, &in, true, 2000);
    run(&s, &r, 2000, 10000, 10);
    assert_int_equal(r.n, before);
    assert_string_equal(can_sched_mode(&s), "stopped");
    can_frame_t f;
    assert_int_equal(vcan_encode_text(&f, 0x35E, "TinyBMS"), 8);
    assert_int_equal(can_sched_transmit(&s, &f, 10000), TB_ERR_STATE);
    assert_int_equal(r.n, before);
    assert_true(s.n.stopped >= 1);
    /* and back */
    in.transmit = true;
    can_sched_update(&s, &in, true, 10000);
    r.now = 10000;
    assert_true(can_sched_poll(&s, 10000) >= 4);
}

static void shadow_mode(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    memset(&r, 0, sizeof r);
    default_cfg(&cfg);
    cfg.shadow = true;
    assert_int_equal(can_sched_init(&s, &cfg, rec_send, &r, NULL), TB_OK);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 6000, 10);
    assert_int_equal(r.n, 0); /* nothing on the bus */
    assert_string_equal(can_sched_mode(&s), "shadow");
    assert_true(s.n.shadow_frames > 20);
    assert_int_equal(s.n.tx_frames, 0);
    const can_sched_slot_t *sl = can_sched_slot(&s, 0x351);
    assert_non_null(sl);
    assert_true(sl->has_last);
    assert_true(sl->last_was_shadow);
    assert_true(sl->shadow >= 6);
    assert_int_equal(sl->sent, 0);
    vcan_msg_t m;
    assert_int_equal(vcan_decode(&sl->last, &m), TB_OK);
    assert_float_equal(m.u.limits.cvl_v, 56.0f, 0.01f);
    /* the guard applies in shadow mode too */
    can_frame_t f = {.id = 0x305, .dlc = 8, .flags = 0, .data = {0}};
    assert_int_equal(can_sched_transmit(&s, &f, 6000), TB_ERR_UNSUPPORTED);
    /* switching shadow off starts transmitting without losing state */
    can_sched_set_shadow(&s, false);
    r.now = 7000;
    can_sched_update(&s, &in, true, 7000);
    assert_true(can_sched_poll(&s, 7000) >= 4);
    assert_true(count_id(&r, 0x351) == 1);
    /* a scheduler without a send callback can only shadow */
    can_sched_t s2;
    cfg.shadow = false;
    assert_int_equal(can_sched_init(&s2, &cfg, NULL, NULL, NULL), TB_OK);
    can_sched_update(&s2, &in, true, 0);
    assert_true(can_sched_poll(&s2, 0) > 0);
    assert_int_equal(s2.n.tx_frames, 0);
}

/* ---- the TX guard ------------------------------------------------------------------------- */

static void gx_ids_never_transmitted(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    /* try hard: every 11-bit id, every DLC, with and without flags */
    uint32_t x = 1u;
    for (uint32_t id = 0; id <= 0x7FFu; id++) {
        for (uint8_t dlc = 0; dlc <= 9; dlc++) {
            can_frame_t f = {.id = id, .dlc = dlc, .flags = 0, .data = {0}};
            for (unsigned b = 0; b < 8; b++) {
                x = x * 1103515245u + 12345u;
                f.data[b] = (uint8_t)(x >> 24);
            }
            int rc = can_sched_transmit(&s, &f, 0);
            if (is_gx(id)) {
                assert_int_equal(rc, dlc <= 8 ? TB_ERR_UNSUPPORTED : TB_ERR_ARG);
            }
            f.flags = CAN_FLAG_EXT;
            assert_true(can_sched_transmit(&s, &f, 0) < 0);
            f.flags = CAN_FLAG_RTR;
            assert_true(can_sched_transmit(&s, &f, 0) < 0);
        }
    }
    /* 29-bit frames whose low bits look like 0x305 */
    can_frame_t e = {.id = 0x305, .dlc = 8, .flags = CAN_FLAG_EXT, .data = {0}};
    assert_int_equal(can_sched_transmit(&s, &e, 0), TB_ERR_ARG);
    run(&s, &r, 0, 10000, 10);
    for (size_t i = 0; i < r.n; i++) {
        assert_false(is_gx(r.f[i].id));
        assert_true(vcan_is_bms_tx_id(r.f[i].id));
        assert_int_equal(r.f[i].flags, 0);
        assert_true(r.f[i].dlc <= 8);
    }
    assert_int_equal(s.n.refused_gx_id, 3u * 9u);
    assert_true(s.n.refused_id > 2000u);
    assert_true(s.n.refused_format > 4000u);
    /* nothing the scheduler computes is ever a GX id either */
    assert_int_equal(count_id(&r, 0x305) + count_id(&r, 0x306) + count_id(&r, 0x307), 0);
}

static void guard_content_checks(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    /* negative CCL or DCL on the wire */
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x30, 0x02, 0xF6, 0xFF, 0x64, 0x00, 0xC0, 0x01}};
    assert_int_equal(can_sched_transmit(&s, &f, 0), TB_ERR_RANGE);
    f.data[2] = 0x64;
    f.data[3] = 0x00;
    f.data[5] = 0x80;
    assert_int_equal(can_sched_transmit(&s, &f, 0), TB_ERR_RANGE);
    f.data[5] = 0x00;
    f.dlc = 6; /* a 0x351 without DVL is not ours */
    assert_int_equal(can_sched_transmit(&s, &f, 0), TB_ERR_RANGE);
    f.dlc = 8;
    assert_true(can_sched_transmit(&s, &f, 0) >= 0);
    assert_int_equal(count_id(&r, 0x351), 1);
    assert_int_equal(s.n.refused_limits, 3);
    /* SOC/SOH above 100 % */
    can_frame_t soc = {.id = 0x355, .dlc = 8, .flags = 0, .data = {0x65, 0x00, 0x64, 0x00, 0, 0, 0, 0}};
    assert_int_equal(can_sched_transmit(&s, &soc, 0), TB_ERR_RANGE);
    soc.data[0] = 0x64;
    soc.data[2] = 0x65;
    assert_int_equal(can_sched_transmit(&s, &soc, 0), TB_ERR_RANGE);
    soc.data[2] = 0xFF;
    soc.data[3] = 0xFF; /* SOH not supported is fine */
    assert_true(can_sched_transmit(&s, &soc, 0) >= 0);
    /* brand texts in identity frames, even when the inputs (not the config) carry them */
    static const char *const brands[] = {"BYD", "PYLON", "LG", "DYNESS", "PELIO", "Dyness48"};
    static const uint16_t ids[] = {0x35E, 0x370, 0x382};
    for (size_t b = 0; b < sizeof brands / sizeof brands[0]; b++) {
        for (size_t k = 0; k < 3; k++) {
            can_frame_t t;
            assert_int_equal(vcan_encode_text(&t, ids[k], brands[b]), 8);
            assert_int_equal(can_sched_transmit(&s, &t, 0), TB_ERR_RANGE);
        }
    }
    strcpy(in.manufacturer, "BYD");
    strcpy(in.family, "PREMIUM");
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 6000, 10);
    assert_int_equal(count_id(&r, 0x35E), 0);
    assert_int_equal(count_id(&r, 0x382), 0);
    assert_true(s.n.refused_brand >= 18u + 2u);
}

/* ---- cadences ----------------------------------------------------------------------------- */

static void cadences(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    strcpy(in.battery_name, "TinyBMS Garage 1");
    strcpy(in.serial, "SN0001");
    strcpy(in.family, "LFP16S");
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 60000, 10);
    /* fast group: at t=0, then every 1000 ms */
    static const uint16_t fast[] = {0x351, 0x355, 0x356, 0x35A};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(count_id(&r, fast[k]), 60);
    }
    static const uint16_t status[] = {0x372, 0x373, 0x374, 0x375, 0x376, 0x377, 0x378};
    for (size_t k = 0; k < 7; k++) {
        assert_int_equal(count_id(&r, status[k]), 30);
    }
    static const uint16_t ident[] = {0x35E, 0x35F, 0x370, 0x371, 0x379, 0x380, 0x381, 0x382};
    for (size_t k = 0; k < 8; k++) {
        assert_int_equal(count_id(&r, ident[k]), 12);
    }
    /* the largest gap between two 0x351 is the fast period */
    uint32_t prev = 0;
    bool have = false;
    for (size_t i = 0; i < r.n; i++) {
        if (r.f[i].id == 0x351) {
            if (have) {
                assert_true(r.t[i] - prev <= 1000u);
            }
            prev = r.t[i];
            have = true;
        }
    }
    /* name split over 0x370/0x371, serial zero-padded in 0x381 */
    vcan_msg_t m;
    assert_int_equal(vcan_decode(last_of(&r, 0x370), &m), TB_OK);
    assert_string_equal(m.u.text.text, "TinyBMS ");
    assert_int_equal(vcan_decode(last_of(&r, 0x371), &m), TB_OK);
    assert_string_equal(m.u.text.text, "Garage 1");
    assert_int_equal(vcan_decode(last_of(&r, 0x381), &m), TB_OK);
    assert_string_equal(m.u.text.text, "");
    assert_int_equal(count_id(&r, 0x305) + count_id(&r, 0x306) + count_id(&r, 0x307), 0);
    /* bus load: well below a few tens of frames per second */
    assert_true(r.n / 60u < 20u);
}

static void fresh_snapshot_is_prompt_but_rate_limited(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    const uint32_t gap = (uint32_t)cfg.burst_gap_ms;
    assert_true(gap < 100u); /* below the 100 ms live poll, so every snapshot goes out */
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    r.now = 0;
    can_sched_poll(&s, 0);
    assert_int_equal(count_id(&r, 0x351), 1);
    /* a fresh snapshot half a gap later waits for the gap ... */
    in.cvl_v = 55.0f;
    can_sched_update(&s, &in, true, gap / 2u);
    assert_int_equal(can_sched_next_due_ms(&s, gap / 2u), gap - gap / 2u);
    r.now = gap / 2u;
    can_sched_poll(&s, gap / 2u);
    r.now = gap - 1u;
    can_sched_poll(&s, gap - 1u);
    assert_int_equal(count_id(&r, 0x351), 1);
    /* ... and goes out when it has passed, with the new value */
    r.now = gap;
    can_sched_poll(&s, gap);
    assert_int_equal(count_id(&r, 0x351), 2);
    vcan_msg_t m;
    assert_int_equal(vcan_decode(last_of(&r, 0x351), &m), TB_OK);
    assert_float_equal(m.u.limits.cvl_v, 55.0f, 0.01f);
    /* snapshots every 10 ms: fresh bursts no closer than the gap */
    for (uint32_t t = 100; t < 1100; t += 5) {
        if (t % 10u == 0u) {
            can_sched_update(&s, &in, true, t);
        }
        r.now = t;
        can_sched_poll(&s, t);
    }
    uint32_t prev = 0;
    bool have = false;
    for (size_t i = 0; i < r.n; i++) {
        if (r.f[i].id == 0x351) {
            if (have) {
                assert_true(r.t[i] - prev >= gap);
            }
            prev = r.t[i];
            have = true;
        }
    }
    assert_true(count_id(&r, 0x351) >= 1000u / gap);
    /* without fresh snapshots the 1 s period applies */
    size_t n = count_id(&r, 0x351);
    run(&s, &r, 1100, 3100, 10);
    assert_int_equal(count_id(&r, 0x351), n + 2);
}

/* A burst on the 1 s cadence just before a reply must not delay that reply by a whole gap:
 * otherwise every later reply waits too and the lag locks in (found by the daemon soak). */
static void periodic_burst_never_delays_fresh_data(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    cfg.burst_gap_ms = 100; /* the worst case: gap equal to the poll period */
    cfg_error_t err;
    assert_int_equal(can_sched_configure(&s, &cfg, &err), TB_OK);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, false, 0);
    r.now = 0;
    can_sched_poll(&s, 0); /* first burst, no fresh data */
    r.now = 1000;
    can_sched_poll(&s, 1000); /* the cadence burst */
    size_t n = count_id(&r, 0x351);
    for (uint32_t k = 0; k < 10; k++) {
        uint32_t t = 1002u + 100u * k; /* replies 2 ms after the cadence, then every 100 ms */
        can_sched_update(&s, &in, true, t);
        r.now = t;
        can_sched_poll(&s, t);
        assert_int_equal(count_id(&r, 0x351), n + 1u + k); /* out at once, every time */
    }
}

static void next_due_and_time_wrap(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    uint32_t t0 = UINT32_MAX - 2500u; /* the monotonic clock wraps during the run */
    can_sched_update(&s, &in, true, t0);
    assert_int_equal(can_sched_next_due_ms(&s, t0), 0);
    r.now = t0;
    can_sched_poll(&s, t0);
    assert_int_equal(can_sched_next_due_ms(&s, t0), 1000);
    assert_int_equal(can_sched_next_due_ms(&s, t0 + 400u), 600);
    run(&s, &r, t0 + 10u, t0 + 10010u, 10);
    assert_int_equal(count_id(&r, 0x351), 11);
    assert_int_equal(count_id(&r, 0x35E), 3);
}

/* ---- errors and statistics ---------------------------------------------------------------- */

static void send_errors_and_encode_errors(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    r.fail_rc = TB_ERR_IO;
    can_sched_update(&s, &in, true, 0);
    r.now = 0;
    assert_int_equal(can_sched_poll(&s, 0), 0);
    assert_int_equal(s.n.tx_errors, 4 + 7 + 3); /* fast, status, identity (0x35E 0x35F 0x379) */
    assert_int_equal(can_sched_slot(&s, 0x351)->errors, 1);
    r.fail_rc = 0;
    in.cvl_v = NAN; /* a controller bug: limits "valid" but not a number */
    in.energy_in_wh = NAN;
    can_sched_update(&s, &in, true, 1000);
    r.now = 1000;
    can_sched_poll(&s, 1000);
    assert_int_equal(count_id(&r, 0x351), 0); /* never a made-up limit */
    assert_int_equal(s.n.encode_errors, 1);
    r.now = 2000;
    can_sched_poll(&s, 2000);
    assert_int_equal(count_id(&r, 0x378), 0); /* unknown energy: frame omitted, not an error */
    assert_true(count_id(&r, 0x373) >= 1);
}

static void gx_presence_and_conflicts(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    assert_false(can_sched_gx_present(&s, 0));
    assert_int_equal(can_sched_gx_age_ms(&s, 0), UINT32_MAX);
    can_frame_t ka = {.id = 0x305, .dlc = 8, .flags = 0, .data = {0x10, 0x02, 0, 0, 0, 0, 0, 0}};
    can_sched_on_rx(&s, &ka, 1000);
    assert_true(can_sched_gx_present(&s, 1000));
    assert_true(can_sched_gx_present(&s, 5999));
    assert_false(can_sched_gx_present(&s, 6000));
    assert_int_equal(can_sched_gx_age_ms(&s, 6000), 5000);
    can_frame_t id = {.id = 0x307, .dlc = 8, .flags = 0, .data = {0x12, 0x34, 0x56, 0x78, 'V', 'I', 'C', 0}};
    can_sched_on_rx(&s, &id, 7000);
    assert_true(can_sched_gx_present(&s, 7000));
    assert_true(s.gx_signature_ok);
    can_frame_t g306 = {.id = 0x306, .dlc = 8, .flags = 0, .data = {0}};
    can_sched_on_rx(&s, &g306, 7000);
    /* a 29-bit 0x305 is not the GX */
    can_frame_t ext = {.id = 0x305, .dlc = 8, .flags = CAN_FLAG_EXT, .data = {0}};
    can_sched_on_rx(&s, &ext, 20000);
    assert_false(can_sched_gx_present(&s, 20000));
    /* another battery on the bus sending 0x351 */
    can_frame_t other = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0}};
    can_sched_on_rx(&s, &other, 20000);
    can_frame_t err = {.id = 0x40, .dlc = 8, .flags = CAN_FLAG_ERR, .data = {0}};
    can_sched_on_rx(&s, &err, 20000);
    assert_int_equal(s.n.rx_gx_keepalive, 1);
    assert_int_equal(s.n.rx_gx_inverter, 1);
    assert_int_equal(s.n.rx_gx_306, 1);
    assert_int_equal(s.n.rx_conflicts, 1);
    assert_int_equal(s.n.last_conflict_id, 0x351);
    assert_int_equal(s.n.rx_other, 1);
    assert_int_equal(s.n.rx_frames, 5);
    assert_int_equal(r.n, 0); /* receiving never transmits */
}

static void json_view(void **state)
{
    (void)state;
    can_sched_t s;
    rec_t r;
    can_sched_cfg_t cfg;
    setup_sched(&s, &r, &cfg);
    can_inputs_t in;
    healthy_inputs(&in);
    can_sched_update(&s, &in, true, 0);
    run(&s, &r, 0, 1500, 10);
    can_frame_t ka = {.id = 0x305, .dlc = 8, .flags = 0, .data = {0}};
    can_sched_on_rx(&s, &ka, 1400);
    static char buf[16384];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    can_sched_json(&s, &w, 1500);
    assert_true(jw_finish(&w) > 0);
    assert_non_null(strstr(buf, "\"mode\":\"transmitting\""));
    assert_non_null(strstr(buf, "\"present\":true,\"last_seen_ms_ago\":100"));
    assert_non_null(strstr(buf, "{\"id\":\"0x351\",\"name\":\"limits\",\"sent\":2,\"errors\":0,\"shadow\":0,\"age_ms\":500,"
                                "\"data\":\"3002F401E803C001\",\"fields\":{\"cvl_v\":56,\"ccl_a\":50,\"dcl_a\":100,\"dvl_v\":44.8}}"));
    assert_non_null(strstr(buf, "\"refused_gx_id\":0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults),
        cmocka_unit_test(config_refuses_brands_and_junk),
        cmocka_unit_test(default_identity_on_the_bus),
        cmocka_unit_test(nothing_before_data),
        cmocka_unit_test(no_351_before_valid_limits),
        cmocka_unit_test(no_measurement_frames_without_fresh_data),
        cmocka_unit_test(stop_transmitting),
        cmocka_unit_test(shadow_mode),
        cmocka_unit_test(gx_ids_never_transmitted),
        cmocka_unit_test(guard_content_checks),
        cmocka_unit_test(cadences),
        cmocka_unit_test(fresh_snapshot_is_prompt_but_rate_limited),
        cmocka_unit_test(periodic_burst_never_delays_fresh_data),
        cmocka_unit_test(next_due_and_time_wrap),
        cmocka_unit_test(send_errors_and_encode_errors),
        cmocka_unit_test(gx_presence_and_conflicts),
        cmocka_unit_test(json_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
