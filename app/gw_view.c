#include "app/gw_view.h"

#include <math.h>
#include <stdio.h>

#include "app/bms_json.h"
#include "app/chg_reason.h"

static void kv_num_or_null(jw_t *w, const char *k, float v, unsigned d)
{
    if (isfinite(v)) {
        jw_kv_float(w, k, v, d);
    } else {
        jw_kv_null(w, k);
    }
}

void gw_view_json_limits(jw_t *w, const chg_limits_t *l)
{
    jw_obj_begin(w);
    jw_kv_bool(w, "valid", l->valid);
    jw_kv_bool(w, "transmit", l->transmit);
    kv_num_or_null(w, "cvl_v", l->cvl_v, 2);
    kv_num_or_null(w, "ccl_a", l->ccl_a, 1);
    kv_num_or_null(w, "dcl_a", l->dcl_a, 1);
    kv_num_or_null(w, "dvl_v", l->dvl_v, 2);
    jw_kv_str(w, "state", chg_state_name(l->state));
    jw_kv_str(w, "phase", chg_phase_name(l->phase));
    jw_kv_str(w, "reason", l->reason);
    jw_key(w, "limiter");
    jw_obj_begin(w);
    jw_kv_str(w, "cvl", chg_limiter_name(l->cvl_lim));
    jw_kv_str(w, "ccl", chg_limiter_name(l->ccl_lim));
    jw_kv_str(w, "dcl", chg_limiter_name(l->dcl_lim));
    jw_obj_end(w);
    jw_key(w, "target");
    jw_obj_begin(w);
    kv_num_or_null(w, "cvl_v", l->cvl_target_v, 2);
    kv_num_or_null(w, "ccl_a", l->ccl_target_a, 1);
    kv_num_or_null(w, "dcl_a", l->dcl_target_a, 1);
    jw_kv_str(w, "cvl_limiter", chg_limiter_name(l->cvl_target_lim));
    jw_kv_str(w, "ccl_limiter", chg_limiter_name(l->ccl_target_lim));
    jw_kv_str(w, "dcl_limiter", chg_limiter_name(l->dcl_target_lim));
    jw_obj_end(w);
    jw_kv_str(w, "data", failsafe_data_name(l->data));
    if (l->data_age_ms == UINT32_MAX) {
        jw_kv_null(w, "data_age_ms");
    } else {
        jw_kv_uint(w, "data_age_ms", l->data_age_ms);
    }
    jw_kv_bool(w, "charge_stopped", l->charge_stopped);
    jw_kv_bool(w, "discharge_stopped", l->discharge_stopped);
    jw_kv_bool(w, "imbalance_hold", l->imbalance_hold);
    jw_kv_uint(w, "series_cells", l->series_cells);
    kv_num_or_null(w, "cell_target_v", l->cell_target_v, 3);
    jw_obj_end(w);
}

void gw_view_json_alarms(jw_t *w, const alarms_out_t *a)
{
    jw_obj_begin(w);
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        jw_kv_str(w, alarms_category_name((alarm_id_t)i), alarms_level_name((alarm_level_t)a->set.level[i]));
    }
    jw_kv_str(w, "internal_reason", alarms_internal_name(a->internal));
    if (a->fault_event_id) {
        jw_kv_uint(w, "fault_event_id", a->fault_event_id);
        jw_kv_str(w, "fault_event", bms_json_event_name(a->fault_event_id));
    }
    jw_kv_uint(w, "active_alarms", a->active_alarms);
    jw_kv_uint(w, "active_warnings", a->active_warnings);
    jw_kv_bool(w, "evaluated", a->evaluated);
    jw_obj_end(w);
}

/* The "warnings" array: one sentence per condition, bounded by the number of GW_WARN_* bits. */
static void json_warnings(jw_t *w, const gw_view_t *v)
{
    char text[256];
    jw_arr_begin(w);
    if (v->warnings & GW_WARN_BMS_FULL_VOLTAGE) {
        /* register 300 is at most 65.535 V and the target is range-checked: clamped all the same */
        float full = isfinite(v->warn_bms_full_v) ? fminf(fmaxf(v->warn_bms_full_v, 0.0f), 99.0f) : 0.0f;
        float bulk = isfinite(v->warn_bulk_v) ? fminf(fmaxf(v->warn_bulk_v, 0.0f), 99.0f) : 0.0f;
        snprintf(text, sizeof text,
                 "The TinyBMS's fully charged voltage %.3f V is above the charge target %.3f V (charge.cell_bulk_v): "
                 "it never sees a full charge and its SOC drifts. Set it to %u mV or raise the target.",
                 (double)full, (double)bulk, (unsigned)(bulk * 1000.0f + 0.5f));
        jw_obj_begin(w);
        jw_kv_str(w, "id", "bms_full_voltage");
        jw_kv_str(w, "text", text);
        jw_obj_end(w);
    }
    if (v->warnings & GW_WARN_ENERGY_UNREADABLE) {
        jw_obj_begin(w);
        jw_kv_str(w, "id", "energy_unreadable");
        jw_kv_str(w, "text", "The saved energy counters could not be read at the start: they count from 0 Wh again.");
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

#define IDLE_A 0.5f                     /* below this current the battery is idle: no time to go */
#define TIME_TO_GO_MAX_S (99u * 86400u) /* longer estimates are not worth showing */

static void time_to_go(jw_t *w, const bms_live_t *l, float cap_ah)
{
    const char *dir = "unknown", *src = NULL;
    double s = -1.0;
    if (l->valid && isfinite(l->pack_current_a)) {
        float a = l->pack_current_a;
        double rem = isfinite(cap_ah) ? (double)l->soc_pct / 100.0 * (double)cap_ah : NAN;
        if (a <= -IDLE_A) {
            dir = "empty";
            if (l->time_left_s > 0u) {
                s = (double)l->time_left_s;
                src = "bms";
            } else if (isfinite(rem)) {
                s = rem / (double)-a * 3600.0;
                src = "estimate";
            }
        } else if (a >= IDLE_A) {
            dir = "full";
            if (isfinite(cap_ah)) {
                s = ((double)cap_ah - rem) / (double)a * 3600.0;
                src = "estimate";
            }
        } else {
            dir = "idle";
        }
    }
    jw_key(w, "time_to_go");
    jw_obj_begin(w);
    jw_kv_str(w, "direction", dir);
    if (src && s >= 0.0 && s <= (double)TIME_TO_GO_MAX_S) {
        jw_kv_uint(w, "seconds", (uint32_t)(s + 0.5));
        jw_kv_str(w, "source", src);
    } else {
        jw_kv_null(w, "seconds");
        jw_kv_null(w, "source");
    }
    jw_obj_end(w);
}

/* Allowed: the GX is told it may (limits valid and sent, not stopped, the limit above 0 A). */
static void allowed(jw_t *w, const chg_limits_t *l, bool charge)
{
    char why[CHG_REASON_LEN];
    float lim = charge ? l->ccl_a : l->dcl_a;
    bool stopped = charge ? l->charge_stopped : l->discharge_stopped;
    bool ok = l->valid && l->transmit && !stopped && lim > 0.0f;
    jw_kv_bool(w, charge ? "charge_allowed" : "discharge_allowed", ok);
    chg_reason_stop(l, charge, why, sizeof why);
    if (!ok && !why[0]) {
        snprintf(why, sizeof why, "%s", l->valid ? "nothing is sent to the GX" : "no usable BMS data yet");
    }
    if (ok) {
        jw_kv_null(w, charge ? "charge_why_not" : "discharge_why_not");
    } else {
        jw_kv_str(w, charge ? "charge_why_not" : "discharge_why_not", why);
    }
}

void gw_view_json_battery(jw_t *w, const gw_view_t *v)
{
    const bms_snapshot_t *s = &v->snap;
    float cap = s->settings.valid && s->settings.capacity_ah > 0.0f ? s->settings.capacity_ah : NAN;
    jw_obj_begin(w);
    kv_num_or_null(w, "capacity_ah", cap, 2);
    bool have = s->live.valid && isfinite(cap) && isfinite(s->live.soc_pct);
    float rem = have ? s->live.soc_pct / 100.0f * cap : NAN;
    kv_num_or_null(w, "remaining_ah", rem, 1);
    kv_num_or_null(w, "consumed_ah", have ? cap - rem : NAN, 1);
    time_to_go(w, &s->live, cap);
    if (s->stats.valid) {
        jw_kv_uint(w, "charge_count", s->stats.charging_count);
        jw_kv_uint(w, "full_charge_count", s->stats.full_charge_count);
    } else {
        jw_kv_null(w, "charge_count");
        jw_kv_null(w, "full_charge_count");
    }
    allowed(w, &v->limits, true);
    allowed(w, &v->limits, false);
    jw_obj_end(w);
}

void gw_view_json_alarm_since(jw_t *w, const gw_view_t *v)
{
    /* an array, not an object keyed by category: 9 names would cost the firmware's status buffer
     * about 200 bytes more (tests/unit/test_status_size.c) */
    jw_arr_begin(w);
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        if (v->alarm_active[i]) {
            jw_uint(w, (v->t_ms - v->alarm_since_ms[i]) / 1000u);
        } else {
            jw_null(w);
        }
    }
    jw_arr_end(w);
}

static void day_pair(jw_t *w, const char *key, const energy_days_t *d, int32_t first, int32_t last)
{
    double in, out;
    energy_days_sum(d, first, last, &in, &out);
    jw_key(w, key);
    jw_obj_begin(w);
    jw_kv_double(w, "charged_wh", in, 1);
    jw_kv_double(w, "discharged_wh", out, 1);
    jw_obj_end(w);
}

void gw_view_json_energy_days(jw_t *w, const gw_view_t *v)
{
    const energy_days_t *d = &v->energy_days;
    char date[16];
    jw_obj_begin(w);
    jw_kv_bool(w, "clock_known", d->clock_known);
    if (d->clock_known) {
        energy_days_date(d->today, date, sizeof date);
        jw_kv_str(w, "date", date);
        day_pair(w, "today", d, d->today, d->today);
        day_pair(w, "yesterday", d, d->today - 1, d->today - 1);
        day_pair(w, "last_7_days", d, d->today - 6, d->today);
    } else {
        jw_kv_null(w, "date");
        jw_kv_null(w, "today");
        jw_kv_null(w, "yesterday");
        jw_kv_null(w, "last_7_days");
    }
    jw_key(w, "days");
    jw_arr_begin(w);
    for (unsigned i = 0; i < d->count && i < ENERGY_DAYS_N; i++) {
        jw_obj_begin(w);
        energy_days_date(d->d[i].day, date, sizeof date);
        jw_kv_str(w, "date", date);
        jw_kv_double(w, "charged_wh", d->d[i].in_wh, 1);
        jw_kv_double(w, "discharged_wh", d->d[i].out_wh, 1);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_kv_double(w, "undated_charged_wh", d->undated_in_wh, 1);
    jw_kv_double(w, "undated_discharged_wh", d->undated_out_wh, 1);
    jw_kv_uint(w, "clock_steps_back", d->clock_steps_back);
    jw_obj_end(w);
}

int gw_view_render(gw_view_t *v)
{
    jw_t w;
    jw_init(&w, v->status_json, sizeof v->status_json);
    jw_obj_begin(&w);
    jw_kv_uint(&w, "seq", v->seq);
    if (v->wall_ms) {
        jw_kv_uint(&w, "time_ms", v->wall_ms);
    } else {
        jw_kv_null(&w, "time_ms");
    }
    jw_kv_uint(&w, "uptime_s", v->uptime_s);
    if (v->config_source[0]) {
        jw_kv_str(&w, "config_source", v->config_source);
    } else {
        jw_kv_null(&w, "config_source");
    }
    if (v->config_warning[0]) {
        jw_kv_str(&w, "config_warning", v->config_warning);
    } else {
        jw_kv_null(&w, "config_warning");
    }
    jw_key(&w, "warnings");
    json_warnings(&w, v);
    jw_key(&w, "bms");
    bms_json_live(&w, &v->snap.live, v->t_ms);
    jw_key(&w, "limits");
    gw_view_json_limits(&w, &v->limits);
    jw_key(&w, "alarms");
    gw_view_json_alarms(&w, &v->alarms);
    jw_key(&w, "alarm_since_s");
    gw_view_json_alarm_since(&w, v);
    jw_key(&w, "battery");
    gw_view_json_battery(&w, v);
    jw_key(&w, "link");
    bms_json_link(&w, &v->link, v->t_ms);
    jw_key(&w, "can");
    jw_obj_begin(&w);
    jw_kv_str(&w, "mode", v->can_mode);
    jw_kv_bool(&w, "port_open", v->can_port_open);
    jw_kv_str(&w, "port_error", v->can_port_error);
    jw_kv_uint(&w, "tx_frames", v->can.tx_frames);
    jw_kv_uint(&w, "tx_errors", v->can.tx_errors);
    jw_kv_uint(&w, "shadow_frames", v->can.shadow_frames);
    jw_kv_uint(&w, "refused", v->can.refused);
    jw_kv_uint(&w, "rx_frames", v->can.rx_frames);
    jw_kv_uint(&w, "rx_conflicts", v->can.rx_conflicts);
    jw_key(&w, "reply_to_frame_ms");
    jw_obj_begin(&w);
    jw_kv_uint(&w, "samples", v->lat_samples);
    if (v->lat_samples) {
        jw_kv_uint(&w, "p50", v->lat_p50_ms);
        jw_kv_uint(&w, "p99", v->lat_p99_ms);
    } else {
        jw_kv_null(&w, "p50");
        jw_kv_null(&w, "p99");
    }
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_key(&w, "gx");
    jw_obj_begin(&w);
    jw_kv_bool(&w, "present", v->gx_present);
    if (v->gx_age_ms == UINT32_MAX) {
        jw_kv_null(&w, "last_seen_ms");
    } else {
        jw_kv_uint(&w, "last_seen_ms", v->gx_age_ms);
    }
    jw_obj_end(&w);
    jw_key(&w, "web");
    if (v->web.known) {
        jw_obj_begin(&w);
        jw_kv_bool(&w, "enabled", v->web.enabled);
        jw_kv_str(&w, "listen", v->cfg.gateway.http_listen);
        jw_kv_bool(&w, "listening", v->web.listening);
        jw_kv_bool(&w, "retrying", v->web.retrying);
        jw_kv_uint(&w, "bind_failures", v->web.bind_failures);
        jw_kv_str(&w, "error", v->web.error);
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_key(&w, "energy");
    jw_obj_begin(&w);
    if (v->energy_known) {
        jw_kv_double(&w, "charged_wh", v->energy_in_wh, 1);
        jw_kv_double(&w, "discharged_wh", v->energy_out_wh, 1);
    } else {
        jw_kv_null(&w, "charged_wh");
        jw_kv_null(&w, "discharged_wh");
    }
    jw_kv_uint(&w, "save_errors", v->energy_save_errors);
    jw_kv_bool(&w, "save_failing", v->energy_save_failing);
    jw_obj_end(&w);
    jw_obj_end(&w);
    int n = jw_finish(&w);
    v->status_len = n > 0 ? (size_t)n : 0u;
    return n;
}
