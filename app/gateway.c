#include "app/gateway.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/bms_json.h"
#include "app/can_inputs.h"
#include "app/chg_reason.h"
#include "app/log.h"
#include "core/jw.h"
#include "core/tb_regs.h"

#define ENERGY_OBJECT "energy"
#define ENERGY_DAYS_OBJECT "energy_days" /* an NVS key too: at most 15 characters */
#define PUBLISH_MIN_MS 100u  /* at most 10 views a second */
#define PUBLISH_MAX_MS 1000u /* and at least one, for ages and timers */
#define RUN_MAX_WAIT_MS 100u
#define BMS_COMMAND_TIMEOUT_MS 15000u
#define ENERGY_RETRY_MS 60000u /* after a failed save of the energy counters */

static void restore_energy(gateway_t *g, uint32_t now)
{
    energy_init(&g->energy, now);
    if (!g->ports.storage) {
        return;
    }
    uint8_t blob[64];
    size_t n = 0;
    int rc = g->ports.storage->load(g->ports.storage->ctx, ENERGY_OBJECT, blob, sizeof blob, &n);
    if (rc == TB_ERR_NOTFOUND) {
        LOGI("energy", "no saved energy counters: starting from 0 Wh");
        return;
    }
    if (rc != TB_OK || energy_restore(&g->energy, blob, n, now) != TB_OK) {
        LOGW("energy", "saved energy counters unreadable (%s): starting from 0 Wh", rc != TB_OK ? tb_err_str(rc) : "corrupt");
        g->energy_unreadable = true;
        return;
    }
    g->energy_restored = true;
    LOGI("energy", "restored: %.1f Wh charged, %.1f Wh discharged", g->energy.charged_wh, g->energy.discharged_wh);
}

static void restore_energy_days(gateway_t *g)
{
    energy_days_init(&g->energy_days);
    if (!g->ports.storage) {
        return;
    }
    uint8_t blob[ENERGY_DAYS_BLOB_SIZE + 16u];
    size_t n = 0;
    int rc = g->ports.storage->load(g->ports.storage->ctx, ENERGY_DAYS_OBJECT, blob, sizeof blob, &n);
    if (rc == TB_ERR_NOTFOUND) {
        return;
    }
    if (rc == TB_OK) {
        rc = energy_days_restore(&g->energy_days, blob, n);
    }
    if (rc != TB_OK) {
        LOGW("energy", "saved daily energy unreadable (%s): the days start empty", tb_err_str(rc));
    }
}

/* The local calendar day of the wall clock, or ENERGY_DAYS_NO_CLOCK while the gateway does not
 * know the time (energy_days_local). */
static int32_t local_day(const gateway_t *g)
{
    return energy_days_local(g->ports.wall_ms ? g->ports.wall_ms(g->ports.wall_ctx) : 0u);
}

/* TB_OK when the counters are on storage. On failure the reason (the storage port's sentence with
 * the OS's words when it has one) goes to why, the failure is counted, and the periodic save waits
 * ENERGY_RETRY_MS before trying again instead of retrying every cycle on a full disk. */
static int save_energy(gateway_t *g, uint32_t now, char *why, size_t cap)
{
    why[0] = '\0';
    if (!g->ports.storage) {
        snprintf(why, cap, "no storage");
        return TB_ERR_STATE;
    }
    uint8_t blob[ENERGY_DAYS_BLOB_SIZE + 16u];
    int n = energy_serialize(&g->energy, blob, sizeof blob);
    const storage_t *st = g->ports.storage;
    int rc = n < 0 ? n : st->save(st->ctx, ENERGY_OBJECT, blob, (size_t)n);
    if (rc == TB_OK) {
        /* the days after the counters: a crash between the two loses at most the days' last growth */
        n = energy_days_serialize(&g->energy_days, blob, sizeof blob);
        rc = n < 0 ? n : st->save(st->ctx, ENERGY_DAYS_OBJECT, blob, (size_t)n);
    }
    if (rc == TB_OK) {
        energy_mark_saved(&g->energy, now);
        g->energy_failing = false;
        return TB_OK;
    }
    g->energy_save_errors++;
    g->energy_failing = true;
    g->energy_retry_ms = now + ENERGY_RETRY_MS;
    const char *detail = n >= 0 && st->error ? st->error(st->ctx) : "";
    snprintf(why, cap, "%s", detail && detail[0] ? detail : tb_err_str(rc));
    g->dirty = true;
    return rc;
}

int gateway_init(gateway_t *g, const gw_config_t *cfg, const gw_ports_t *ports, uint32_t now_ms)
{
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->ports = *ports;
    g->start_ms = now_ms;
    g->config_version = 1;
    log_set_level((log_level_t)cfg->gateway.log_level);
    tb_poll_init(&g->poll, &g->cfg.link, now_ms);
    chg_init(&g->chg);
    alarms_init(&g->alarms_st);
    restore_energy(g, now_ms);
    restore_energy_days(g);
    cfg_error_t err = {NULL, NULL};
    int rc = can_sched_init(&g->can, &g->cfg.can, ports->can_send, ports->can_ctx, &err);
    if (rc != TB_OK) {
        LOGE("can", "CAN output disabled: %s: %s", err.param ? err.param->key : "can", err.reason ? err.reason : "invalid");
    }
    /* the "no data" decision is the baseline: nothing to log or send until the BMS answers */
    chg_step(&g->chg, &g->poll.snap, &g->cfg.charge, now_ms, &g->limits);
    chg_reason_fill(&g->limits);
    alarms_step(&g->alarms_st, &g->poll.snap, NULL, g->limits.data, g->limits.comm_alarm, &g->cfg.alarms, now_ms,
                &g->alarms);
    g->dirty = true;
    g->last_publish_ms = now_ms - PUBLISH_MAX_MS;
    return rc;
}

int gateway_uart_tx(gateway_t *g, uint32_t now_ms, uint8_t *buf, size_t cap)
{
    return tb_poll_step(&g->poll, now_ms, buf, cap);
}

void gateway_uart_rx(gateway_t *g, const uint8_t *data, size_t n, uint32_t now_ms)
{
    tb_poll_rx(&g->poll, data, n, now_ms);
}

void gateway_can_rx(gateway_t *g, const can_frame_t *f, uint32_t now_ms)
{
    bool was = can_sched_gx_present(&g->can, now_ms);
    can_sched_on_rx(&g->can, f, now_ms);
    if (!was && can_sched_gx_present(&g->can, now_ms)) {
        LOGI("can", "Victron GX detected (frame 0x%03X)", (unsigned)f->id);
        g->dirty = true;
    }
}

/* Log what an operator needs to know about a change of the decision. */
static void log_transitions(gateway_t *g, const chg_limits_t *old, const chg_limits_t *now_l)
{
    if (old->data != now_l->data) {
        log_level_t lvl = now_l->data == FAILSAFE_FRESH ? LOG_INFO : LOG_WARN;
        log_msg(lvl, "charge", "BMS data %s -> %s: %s", failsafe_data_name(old->data), failsafe_data_name(now_l->data),
                now_l->reason);
    }
    if (old->state != now_l->state) {
        LOGI("charge", "state %s -> %s (CVL %.2f V, CCL %.1f A, DCL %.1f A)", chg_state_name(old->state),
             chg_state_name(now_l->state), (double)now_l->cvl_v, (double)now_l->ccl_a, (double)now_l->dcl_a);
    }
    /* the controller's reason already says what stopped and why */
    if (old->charge_stopped != now_l->charge_stopped) {
        log_msg(now_l->charge_stopped ? LOG_WARN : LOG_INFO, "charge", "charging %s (%s)",
                now_l->charge_stopped ? "stopped" : "allowed again", now_l->reason);
    }
    if (old->discharge_stopped != now_l->discharge_stopped) {
        log_msg(now_l->discharge_stopped ? LOG_WARN : LOG_INFO, "charge", "discharging %s (%s)",
                now_l->discharge_stopped ? "stopped" : "allowed again", now_l->reason);
    }
}

static void take_events(gateway_t *g)
{
    bms_event_t ev[BMS_EVENT_SLOTS];
    unsigned n = tb_poll_take_events(&g->poll, ev, BMS_EVENT_SLOTS);
    for (unsigned i = 0; i < n; i++) {
        bms_event_class_t c = bms_event_class(ev[i].id);
        log_msg(c == BMS_EVENT_FAULT ? LOG_WARN : LOG_INFO, "bms", "TinyBMS event 0x%02X (%s): %s at %lu s", ev[i].id,
                bms_event_class_name(c), bms_json_event_name(ev[i].id), (unsigned long)ev[i].timestamp_s);
        if (g->recent_count == GW_VIEW_EVENTS) {
            memmove(g->recent_events, g->recent_events + 1, (GW_VIEW_EVENTS - 1u) * sizeof g->recent_events[0]);
            g->recent_count--;
        }
        g->recent_events[g->recent_count++] = ev[i];
        g->event_seq++;
        g->dirty = true;
    }
}

static void percentiles(const uint32_t *hist, uint32_t *n, uint32_t *p50, uint32_t *p99)
{
    uint32_t total = 0;
    for (unsigned i = 0; i < GW_LAT_BUCKETS; i++) {
        total += hist[i];
    }
    *n = total;
    *p50 = *p99 = 0;
    uint32_t acc = 0;
    bool have50 = false;
    for (unsigned i = 0; i < GW_LAT_BUCKETS && total; i++) {
        acc += hist[i];
        if (!have50 && (uint64_t)acc * 2u >= total) {
            *p50 = i;
            have50 = true;
        }
        if ((uint64_t)acc * 100u >= (uint64_t)total * 99u) {
            *p99 = i;
            break;
        }
    }
}

static void publish(gateway_t *g, uint32_t now)
{
    gw_view_t *v = &g->view;
    v->seq++;
    v->t_ms = now;
    v->wall_ms = g->ports.wall_ms ? g->ports.wall_ms(g->ports.wall_ctx) : 0u;
    v->uptime_s = (now - g->start_ms) / 1000u;
    v->snap = g->poll.snap;
    v->events = g->poll.events;
    v->bms_limits = g->poll.limits;
    tb_poll_stats(&g->poll, &v->link);
    v->limits = g->limits;
    v->alarms = g->alarms;
    v->energy_known = true;
    v->energy_in_wh = g->energy.charged_wh;
    v->energy_out_wh = g->energy.discharged_wh;
    v->energy_save_errors = g->energy_save_errors;
    v->energy_save_failing = g->energy_failing;
    v->energy_days = g->energy_days;
    memcpy(v->alarm_active, g->alarm_active, sizeof v->alarm_active);
    memcpy(v->alarm_since_ms, g->alarm_since_ms, sizeof v->alarm_since_ms);
    v->can = g->can.n;
    memcpy(v->can_slots, g->can.slot, sizeof v->can_slots);
    snprintf(v->can_mode, sizeof v->can_mode, "%s", can_sched_mode(&g->can));
    v->can_port_error[0] = '\0';
    v->can_port_open = g->ports.can_status ? g->ports.can_status(g->ports.can_ctx, v->can_port_error, sizeof v->can_port_error)
                                           : g->ports.can_send != NULL;
    percentiles(g->lat_hist, &v->lat_samples, &v->lat_p50_ms, &v->lat_p99_ms);
    memset(&v->web, 0, sizeof v->web);
    if (g->ports.web_status) {
        g->ports.web_status(g->ports.web_ctx, &v->web);
        v->web.known = true;
        v->web.error[sizeof v->web.error - 1u] = '\0';
    }
    v->gx_present = can_sched_gx_present(&g->can, now);
    v->gx_age_ms = can_sched_gx_age_ms(&g->can, now);
    v->event_seq = g->event_seq;
    v->recent_count = g->recent_count;
    memcpy(v->recent_events, g->recent_events, sizeof v->recent_events);
    v->config_version = g->config_version;
    memcpy(v->config_source, g->config_source, sizeof v->config_source);
    memcpy(v->config_warning, g->config_warning, sizeof v->config_warning);
    v->warnings = (g->warned_full_voltage ? GW_WARN_BMS_FULL_VOLTAGE : 0u) | (g->energy_unreadable ? GW_WARN_ENERGY_UNREADABLE : 0u);
    v->warn_bms_full_v = g->poll.snap.settings.fully_charged_v;
    v->warn_bulk_v = g->cfg.charge.cell_bulk_v;
    v->cfg = g->cfg;
    if (gw_view_render(v) < 0) {
        LOGE("view", "status JSON does not fit in %u bytes", (unsigned)sizeof v->status_json);
    }
    if (g->ports.publish) {
        g->ports.publish(g->ports.publish_ctx, v);
    }
    g->last_publish_ms = now;
    g->dirty = false;
}

/* Settings of the TinyBMS that fight the gateway's own decisions: say so once per change. */
static void check_bms_settings(gateway_t *g)
{
    const bms_settings_t *s = &g->poll.snap.settings;
    float full = s->fully_charged_v, bulk = g->cfg.charge.cell_bulk_v;
    bool mismatch = full > bulk + 0.02f;
    if (mismatch && !g->warned_full_voltage) {
        LOGW("charge",
             "TinyBMS fully_charged_voltage %.3f V > charge.cell_bulk_v %.3f V: the BMS never sees a full charge "
             "and its SOC drifts; set it to %u mV or raise charge.cell_bulk_v",
             (double)full, (double)bulk, (unsigned)(bulk * 1000.0f + 0.5f));
    }
    if (mismatch != g->warned_full_voltage) {
        g->dirty = true; /* the status document's "warnings" changes */
    }
    g->warned_full_voltage = mismatch;
}

/* One observation per wall-clock second while the live data is usable. */
static void record_history(gateway_t *g)
{
    if (!g->ports.history_add || !g->ports.wall_ms) {
        return;
    }
    uint32_t t = (uint32_t)(g->ports.wall_ms(g->ports.wall_ctx) / 1000u);
    if (t == g->last_history_s || g->limits.data != FAILSAFE_FRESH) {
        return;
    }
    g->last_history_s = t;
    const bms_live_t *l = &g->poll.snap.live;
    history_sample_t s = {
        .t = t,
        .pack_v = l->pack_voltage_v,
        .pack_a = l->pack_current_a,
        .soc_pct = l->soc_pct,
        .cell_min_v = l->min_cell_v,
        .cell_max_v = l->max_cell_v,
        .temp_max_c = g->limits.temp_max_c,
        .cvl_v = g->limits.valid ? g->limits.cvl_v : NAN,
        .ccl_a = g->limits.valid ? g->limits.ccl_a : NAN,
        .dcl_a = g->limits.valid ? g->limits.dcl_a : NAN,
    };
    g->ports.history_add(g->ports.history_ctx, t, &s);
}

static bool limits_changed(const chg_limits_t *a, const chg_limits_t *b)
{
    return a->valid != b->valid || a->transmit != b->transmit || a->state != b->state || a->data != b->data ||
           fabsf(a->cvl_v - b->cvl_v) > 0.005f || fabsf(a->ccl_a - b->ccl_a) > 0.05f || fabsf(a->dcl_a - b->dcl_a) > 0.05f ||
           a->charge_stopped != b->charge_stopped || a->discharge_stopped != b->discharge_stopped;
}

void gateway_run(gateway_t *g, uint32_t now_ms)
{
    g->last_cycle_ms = now_ms;
    uint32_t up = tb_poll_take_updates(&g->poll);
    const bms_snapshot_t *snap = &g->poll.snap;
    if (up) {
        g->dirty = true;
    }
    if (up & (1u << TB_BLK_LIVE)) {
        g->fresh_live = true;
        g->lat_pending = true;
        g->lat_reply_ms = g->poll.stats.last_reply_ms;
        energy_sample(&g->energy, &g->cfg.energy, snap->live.t_ms, snap->live.pack_voltage_v, snap->live.pack_current_a);
    }
    if ((up & (1u << TB_BLK_LIVE)) || (int32_t)(now_ms - g->energy_days_ms) >= 1000) {
        g->energy_days_ms = now_ms;
        int32_t day = g->day_clock ? g->day_clock(g->day_ctx, now_ms) : local_day(g);
        energy_days_update(&g->energy_days, day, g->energy.charged_wh, g->energy.discharged_wh);
    }
    if (up & (1u << TB_BLK_SETTINGS)) {
        check_bms_settings(g);
    }
    take_events(g);

    chg_limits_t before = g->limits;
    chg_step(&g->chg, snap, &g->cfg.charge, now_ms, &g->limits);
    chg_reason_fill(&g->limits);
    log_transitions(g, &before, &g->limits);
    if (limits_changed(&before, &g->limits)) {
        g->dirty = true;
    }

    alarm_set_t alarms_before = g->alarms.set;
    alarms_step(&g->alarms_st, snap, g->poll.events.valid ? &g->poll.events : NULL, g->limits.data, g->limits.comm_alarm,
                &g->cfg.alarms, now_ms, &g->alarms);
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        bool active = g->alarms.set.level[i] == ALARM_LEVEL_WARNING || g->alarms.set.level[i] == ALARM_LEVEL_ALARM;
        if (active && !g->alarm_active[i]) {
            g->alarm_since_ms[i] = now_ms;
        }
        g->alarm_active[i] = active;
        if (alarms_before.level[i] != g->alarms.set.level[i] && g->alarms.set.level[i] != ALARM_LEVEL_UNSUPPORTED) {
            uint8_t lvl = g->alarms.set.level[i];
            log_msg(lvl == ALARM_LEVEL_ALARM ? LOG_ERROR : lvl == ALARM_LEVEL_WARNING ? LOG_WARN : LOG_INFO, "alarm",
                    "%s: %s -> %s", alarms_category_name((alarm_id_t)i), alarms_level_name((alarm_level_t)alarms_before.level[i]),
                    alarms_level_name((alarm_level_t)lvl));
            g->dirty = true;
        }
    }

    can_inputs_src_t src;
    memset(&src, 0, sizeof src);
    can_inputs_src_from_charge(&src, &g->limits);
    src.alarms = g->alarms.set;
    src.energy_in_wh = g->energy.charged_wh;
    src.energy_out_wh = g->energy.discharged_wh;
    src.identity = can_sched_identity(&g->cfg.can);
    can_inputs_t in;
    can_inputs_build(&in, snap, &src);
    /* The fast group goes out promptly after a fresh snapshot and after any change of the decision:
     * "stale" and the zero-limits fail-safe are decided without fresh data, and must not wait for
     * the next periodic 0x351 (up to can.fast_period_ms) to stop charging on the bus. */
    can_sched_update(&g->can, &in, g->fresh_live || limits_changed(&before, &g->limits), now_ms);
    g->fresh_live = false;
    uint32_t bursts = g->can.n.bursts;
    (void)can_sched_poll(&g->can, now_ms);
    if (g->lat_pending && g->can.n.bursts != bursts) {
        uint32_t lat = now_ms - g->lat_reply_ms;
        g->lat_hist[lat < GW_LAT_BUCKETS - 1u ? lat : GW_LAT_BUCKETS - 1u]++;
        g->lat_pending = false;
    }

    if (energy_should_save(&g->energy, &g->cfg.energy, now_ms) &&
        (!g->energy_failing || (int32_t)(now_ms - g->energy_retry_ms) >= 0)) {
        char why[640];
        if (save_energy(g, now_ms, why, sizeof why) != TB_OK) {
            LOGW("energy", "energy counters not saved (%lu failures so far; next try in %u s): %s",
                 (unsigned long)g->energy_save_errors, ENERGY_RETRY_MS / 1000u, why);
        }
    }

    tb_link_stats_t ls;
    tb_poll_stats(&g->poll, &ls);
    if (ls.link_up != g->link_up) {
        log_msg(ls.link_up ? LOG_INFO : LOG_WARN, "link", "TinyBMS link %s (%lu timeouts, %lu CRC errors so far)",
                ls.link_up ? "up" : "down", (unsigned long)ls.timeouts, (unsigned long)ls.rx.crc_errors);
        g->link_up = ls.link_up;
        g->dirty = true;
    }
    record_history(g);
    uint32_t since = now_ms - g->last_publish_ms;
    if ((g->dirty && since >= PUBLISH_MIN_MS) || since >= PUBLISH_MAX_MS) {
        publish(g, now_ms);
    }
}

uint32_t gateway_wait_ms(const gateway_t *g, uint32_t now_ms)
{
    if (g->poll.updated != 0u) {
        return 0; /* fresh BMS data waits for gateway_run(): the CAN frames must follow at once */
    }
    uint32_t w = tb_poll_wait_ms(&g->poll, now_ms);
    uint32_t c = can_sched_next_due_ms(&g->can, now_ms);
    if (c < w) {
        w = c;
    }
    if (g->dirty) {
        uint32_t since = now_ms - g->last_publish_ms;
        uint32_t p = since >= PUBLISH_MIN_MS ? 0u : PUBLISH_MIN_MS - since;
        if (p < w) {
            w = p;
        }
    }
    return w < RUN_MAX_WAIT_MS ? w : RUN_MAX_WAIT_MS;
}

const gw_view_t *gateway_view(const gateway_t *g)
{
    return &g->view;
}

/* ---- commands ---------------------------------------------------------------------------------- */

static bool finish(gw_cmd_t *c, int rc, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool finish(gw_cmd_t *c, int rc, int status, const char *fmt, ...)
{
    c->rc = rc;
    c->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    return true;
}

/* Keys whose value differs, as a JSON array of strings; also whether any needs a restart. */
static void changed_keys(jw_t *w, const gw_config_t *a, const gw_config_t *b, bool restart_only)
{
    jw_arr_begin(w);
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        const uint8_t *oa = (const uint8_t *)a + gw_config_sections[i].offset;
        const uint8_t *ob = (const uint8_t *)b + gw_config_sections[i].offset;
        for (size_t k = 0; k < s->count; k++) {
            const cfg_param_t *p = &s->params[k];
            if (memcmp(oa + p->offset, ob + p->offset, cfg_param_size(p)) != 0 && (!restart_only || (p->flags & CFG_F_RESTART))) {
                jw_str(w, p->key);
            }
        }
    }
    jw_arr_end(w);
}

void gateway_reconfigure(gateway_t *g, const gw_config_t *cfg, uint32_t now_ms)
{
    gw_config_t old = g->cfg;
    gw_config_log_changes(&old, cfg);
    /* keys applied at restart keep their running value in the live copy */
    g->cfg = *cfg;
    memcpy(g->cfg.gateway.serial_device, old.gateway.serial_device, sizeof old.gateway.serial_device);
    memcpy(g->cfg.gateway.http_listen, old.gateway.http_listen, sizeof old.gateway.http_listen);
    memcpy(g->cfg.gateway.state_dir, old.gateway.state_dir, sizeof old.gateway.state_dir);
    memcpy(g->cfg.can.port, old.can.port, sizeof old.can.port);
    log_set_level((log_level_t)g->cfg.gateway.log_level);
    if (g->poll.snap.settings.valid) {
        check_bms_settings(g); /* a new charge target can make or end the mismatch */
    }
    tb_poll_reconfigure(&g->poll, &g->cfg.link, now_ms);
    cfg_error_t err = {NULL, NULL};
    if (can_sched_configure(&g->can, &g->cfg.can, &err) != TB_OK) {
        LOGE("can", "new CAN configuration refused: %s", err.reason ? err.reason : "invalid");
    }
    g->config_version++;
    g->dirty = true;
}

static bool cmd_config_in(gateway_t *g, gw_cmd_t *c, uint32_t now, bool replace, gw_config_t *next)
{
    cfg_diag_t d;
    if (replace) {
        gw_config_defaults(next);
    } else {
        *next = g->cfg;
    }
    unsigned flags = replace ? GW_CFG_ALLOW_READONLY : GW_CFG_SECRETS_KEEP_EMPTY;
    int rc = gw_config_apply_json(next, c->text, strlen(c->text), flags, &d);
    if (rc != TB_OK) {
        if (c->result[0] == '\0') {
            jw_t w;
            jw_init(&w, c->result, sizeof c->result);
            jw_obj_begin(&w);
            jw_kv_str(&w, "error", tb_err_name(rc));
            jw_kv_str(&w, "field", d.key);
            jw_kv_str(&w, "reason", d.message);
            if (d.line) {
                jw_kv_int(&w, "line", d.line);
            }
            jw_obj_end(&w);
            if (jw_finish(&w) < 0) {
                c->result[0] = '\0';
            }
        }
        LOGW("config", "%s refused (%s): %s", replace ? "reload" : "change", c->source, d.message);
        return finish(c, rc, 400, "%s", d.message);
    }
    jw_t w;
    jw_init(&w, c->result, sizeof c->result);
    jw_obj_begin(&w);
    jw_key(&w, "changed");
    changed_keys(&w, &g->cfg, next, false);
    jw_key(&w, "restart_required");
    changed_keys(&w, &g->cfg, next, true);
    jw_obj_end(&w);
    if (jw_finish(&w) < 0) {
        c->result[0] = '\0';
    }
    if (!replace && g->ports.save_config) {
        char err[256] = "";
        rc = g->ports.save_config(g->ports.config_ctx, next, err, sizeof err);
        if (rc != TB_OK) {
            LOGE("config", "change not applied: cannot save the configuration: %s", err);
            c->result[0] = '\0';
            return finish(c, rc, 500, "could not save the configuration (%s); nothing was changed", err);
        }
        if (g->config_warning[0]) {
            LOGI("config", "configuration saved: the file holds the running configuration again");
        }
        gateway_set_config_origin(g, "file", ""); /* the file now holds exactly what runs */
    }
    gateway_reconfigure(g, next, now);
    return finish(c, TB_OK, 200, "configuration %s", replace ? "reloaded" : "updated");
}

/* The candidate configuration (1.9 kB) is on the heap only while a change is checked: too big for
 * the stack of small systems, and a static copy would keep that RAM for the rare change. */
static bool cmd_config(gateway_t *g, gw_cmd_t *c, uint32_t now, bool replace)
{
    gw_config_t *next = malloc(sizeof *next);
    if (!next) {
        LOGW("config", "%s refused (%s): out of memory", replace ? "reload" : "change", c->source);
        return finish(c, TB_ERR_NOSPACE, 503, "out of memory; nothing was changed, try again");
    }
    bool done = cmd_config_in(g, c, now, replace, next);
    free(next);
    return done;
}

static bool cmd_bms_write(gateway_t *g, gw_cmd_t *c, uint32_t now)
{
    const tb_reg_t *r = tb_reg_lookup(c->name);
    if (!r) {
        return finish(c, TB_ERR_NOTFOUND, 404, "unknown TinyBMS register '%s'", c->name);
    }
    uint16_t words[2];
    const char *why = NULL;
    const tb_settings_limits_t *lim = g->poll.limits.valid ? &g->poll.limits : NULL;
    int rc = tb_reg_encode(r, c->value, lim, words, &why);
    if (rc != TB_OK) {
        return finish(c, rc, 400, "%s = %g %s refused: %s", tb_reg_name(r), c->value, tb_reg_unit(r), why);
    }
    if (!g->poll.snap.settings.valid) {
        return finish(c, TB_ERR_STATE, 503, "the BMS settings have not been read yet; try again when the BMS answers");
    }
    uint16_t projected[BMS_SETTINGS_COUNT];
    memcpy(projected, g->poll.snap.settings.raw, sizeof projected);
    unsigned idx = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
    g->pending_old[0] = projected[idx];
    g->pending_old[1] = r->words == 2u && idx + 1u < BMS_SETTINGS_COUNT ? projected[idx + 1u] : 0u;
    for (unsigned i = 0; i < r->words && idx + i < BMS_SETTINGS_COUNT; i++) {
        projected[idx + i] = words[i];
    }
    if (tb_settings_check(projected, &why) != TB_OK) {
        return finish(c, TB_ERR_RANGE, 400, "%s = %g %s refused: %s", tb_reg_name(r), c->value, tb_reg_unit(r), why);
    }
    tb_job_t j;
    memset(&j, 0, sizeof j);
    j.type = TB_JOB_WRITE;
    j.addr = r->addr;
    j.count = r->words;
    memcpy(j.values, words, r->words * sizeof(uint16_t));
    rc = tb_poll_submit(&g->poll, &j);
    if (rc != TB_OK) {
        return finish(c, rc, 409, "the BMS is busy with another request; try again");
    }
    g->pending = c;
    g->pending_reg = r;
    g->pending_new[0] = words[0];
    g->pending_new[1] = r->words == 2u ? words[1] : 0u;
    g->pending_deadline_ms = now + BMS_COMMAND_TIMEOUT_MS;
    LOGI("bms", "writing %s = %g %s (%s)", tb_reg_name(r), c->value, tb_reg_unit(r), c->source);
    return false;
}

static bool cmd_bms_reset(gateway_t *g, gw_cmd_t *c, uint32_t now)
{
    tb_job_t j;
    memset(&j, 0, sizeof j);
    j.type = TB_JOB_RESET;
    j.option = c->option;
    int rc = tb_poll_submit(&g->poll, &j);
    if (rc == TB_ERR_ARG) {
        return finish(c, rc, 400, "unknown reset option %u", c->option);
    }
    if (rc != TB_OK) {
        return finish(c, rc, 409, "the BMS is busy with another request; try again");
    }
    g->pending = c;
    g->pending_reg = NULL;
    g->pending_deadline_ms = now + BMS_COMMAND_TIMEOUT_MS;
    LOGI("bms", "reset option %u requested (%s)", c->option, c->source);
    return false;
}

bool gateway_command(gateway_t *g, gw_cmd_t *c, uint32_t now_ms)
{
    c->result[0] = '\0';
    c->message[0] = '\0';
    switch (c->type) {
    case GW_CMD_CONFIG_UPDATE:
        return cmd_config(g, c, now_ms, false);
    case GW_CMD_CONFIG_RELOAD:
        return cmd_config(g, c, now_ms, true);
    case GW_CMD_BMS_WRITE:
    case GW_CMD_BMS_RESET:
        if (g->pending || tb_poll_job_pending(&g->poll)) {
            return finish(c, TB_ERR_BUSY, 409, "another BMS request is in progress; try again");
        }
        return c->type == GW_CMD_BMS_WRITE ? cmd_bms_write(g, c, now_ms) : cmd_bms_reset(g, c, now_ms);
    case GW_CMD_CAN_SHADOW: {
        snprintf(c->text, sizeof c->text, "{\"can\":{\"shadow\":%s}}", c->flag ? "true" : "false");
        return cmd_config(g, c, now_ms, false);
    }
    case GW_CMD_RESTART:
        g->restart_requested = true;
        LOGW("gateway", "restart requested (%s)", c->source);
        return finish(c, TB_OK, 202, "the gateway restarts now");
    case GW_CMD_COUNT:
        break;
    }
    return finish(c, TB_ERR_ARG, 400, "unknown command");
}

bool gateway_restart_requested(const gateway_t *g)
{
    return g->restart_requested;
}

static void write_result(gateway_t *g, gw_cmd_t *c, const tb_job_result_t *res)
{
    const tb_reg_t *r = g->pending_reg;
    jw_t w;
    jw_init(&w, c->result, sizeof c->result);
    jw_obj_begin(&w);
    jw_kv_str(&w, "register", tb_reg_name(r));
    jw_kv_uint(&w, "address", r->addr);
    jw_kv_str(&w, "unit", tb_reg_unit(r));
    jw_key(&w, "old");
    jw_double(&w, tb_reg_decode(r, g->pending_old), tb_reg_decimals(r));
    jw_key(&w, "new");
    jw_double(&w, tb_reg_decode(r, g->pending_new), tb_reg_decimals(r));
    if (res->restarting || res->count == 0u) {
        jw_kv_null(&w, "read_back");
    } else {
        jw_key(&w, "read_back");
        jw_double(&w, tb_reg_decode(r, res->regs), tb_reg_decimals(r));
    }
    jw_kv_str(&w, "result", res->rc == TB_OK ? (res->restarting ? "ok_bms_restarting" : "ok")
                            : res->rc == TB_ERR_MISMATCH ? "readback_mismatch"
                                                         : tb_err_name(res->rc));
    jw_obj_end(&w);
    if (jw_finish(&w) < 0) {
        c->result[0] = '\0';
    }
}

gw_cmd_t *gateway_command_poll(gateway_t *g, uint32_t now_ms)
{
    gw_cmd_t *c = g->pending;
    if (!c) {
        return NULL;
    }
    if (!tb_poll_job_done(&g->poll)) {
        if ((int32_t)(now_ms - g->pending_deadline_ms) < 0) {
            return NULL;
        }
        /* The job is still queued or running: leave it to finish, but answer the caller. */
        g->pending = NULL;
        finish(c, TB_ERR_TIMEOUT, 504, "the BMS did not complete the request in time");
        return c;
    }
    const tb_job_result_t *res = tb_poll_job_result(&g->poll);
    g->pending = NULL;
    if (c->type == GW_CMD_BMS_WRITE) {
        write_result(g, c, res);
        const tb_reg_t *r = g->pending_reg;
        switch (res->rc) {
        case TB_OK:
            LOGI("bms", "%s written and read back", tb_reg_name(r));
            finish(c, TB_OK, 200, "%s written%s", tb_reg_name(r), res->restarting ? "; the BMS restarts to apply it" : " and read back");
            break;
        case TB_ERR_MISMATCH:
            LOGW("bms", "%s: the BMS acknowledged the write but reads back a different value", tb_reg_name(r));
            finish(c, res->rc, 502, "the BMS acknowledged the write but holds a different value");
            break;
        case TB_ERR_NACK:
            finish(c, res->rc, 502, "the BMS refused the write (error code %u)", (unsigned)(res->nack_err & 0xFFu));
            break;
        default:
            finish(c, res->rc, 504, "no valid answer from the BMS (%s)", tb_err_str(res->rc));
            break;
        }
    } else {
        if (res->rc == TB_OK) {
            finish(c, TB_OK, 200, "reset acknowledged by the BMS%s", res->restarting ? "; it restarts now" : "");
        } else {
            finish(c, res->rc, res->rc == TB_ERR_NACK ? 502 : 504, "reset failed: %s", tb_err_str(res->rc));
        }
    }
    tb_poll_job_clear(&g->poll);
    return c;
}

void gateway_shutdown(gateway_t *g, uint32_t now_ms)
{
    char why[640];
    int saved = save_energy(g, now_ms, why, sizeof why);
    can_sched_set_shadow(&g->can, true); /* nothing more leaves; the GX stops within 3 s */
    uint32_t n, p50, p99;
    percentiles(g->lat_hist, &n, &p50, &p99);
    if (n) {
        LOGI("gateway", "BMS reply -> CAN frame latency over %lu bursts: p50 %lu ms, p99 %lu ms", (unsigned long)n,
             (unsigned long)p50, (unsigned long)p99);
    }
    if (saved == TB_OK) {
        LOGI("gateway", "stopped: energy counters saved (%.1f Wh in, %.1f Wh out)", g->energy.charged_wh,
             g->energy.discharged_wh);
    } else if (g->ports.storage) {
        LOGE("gateway", "stopped: energy counters NOT saved: %s", why);
        LOGE("energy", "the next start restores the last saved counters (%.1f Wh in, %.1f Wh out); %.1f Wh in, "
             "%.1f Wh out counted since are lost (%lu failed saves since the start)",
             g->energy.saved_charged_wh, g->energy.saved_discharged_wh, g->energy.charged_wh - g->energy.saved_charged_wh,
             g->energy.discharged_wh - g->energy.saved_discharged_wh, (unsigned long)g->energy_save_errors);
    } else {
        LOGI("gateway", "stopped (energy counters not persisted: %.1f Wh in, %.1f Wh out)", g->energy.charged_wh,
             g->energy.discharged_wh);
    }
}

void gateway_set_config_origin(gateway_t *g, const char *source, const char *warning)
{
    snprintf(g->config_source, sizeof g->config_source, "%s", source ? source : "");
    snprintf(g->config_warning, sizeof g->config_warning, "%s", warning ? warning : "");
    g->dirty = true;
}

void gateway_set_energy_time_scale(gateway_t *g, double scale)
{
    g->energy.time_scale = scale > 0.0 ? scale : 0.0;
}

void gateway_set_day_clock(gateway_t *g, int32_t (*day)(void *ctx, uint32_t now_ms), void *ctx)
{
    g->day_clock = day;
    g->day_ctx = day ? ctx : NULL;
}
