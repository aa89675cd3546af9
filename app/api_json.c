#include "app/api_json.h"

#include "app/bms_json.h"
#include "core/tb_regs.h"
#include "core/vcan.h"

static void kv_age(jw_t *w, bool valid, uint32_t t_ms, uint32_t now_ms)
{
    jw_kv_bool(w, "valid", valid);
    if (valid) {
        jw_kv_uint(w, "age_ms", (uint32_t)(now_ms - t_ms));
    } else {
        jw_kv_null(w, "age_ms");
    }
}

void api_json_settings(jw_t *w, const gw_view_t *v)
{
    const bms_settings_t *s = &v->snap.settings;
    jw_obj_begin(w);
    kv_age(w, s->valid, s->t_ms, v->t_ms);
    jw_kv_bool(w, "device_limits", v->bms_limits.valid);
    jw_key(w, "registers");
    jw_arr_begin(w);
    if (s->valid) {
        for (size_t i = 0; i < tb_regs_count; i++) {
            const tb_reg_t *r = &tb_regs[i];
            if (r->group == TB_GRP_SETTINGS) {
                bms_json_register(w, r, &s->raw[r->addr - BMS_SETTINGS_FIRST],
                                  v->bms_limits.valid ? &v->bms_limits : NULL);
            }
        }
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* The BMS's lifetime clock (ms) now, from the live block (registers 32-33, read every second) or
 * else from the event log's own time stamp (0x11/0x12 replies carry it; a register read does not).
 * false if neither is known. */
static bool bms_lifetime_now(const gw_view_t *v, uint64_t *ms)
{
    const bms_live_t *l = &v->snap.live;
    if (l->valid && l->lifetime_s) {
        *ms = (uint64_t)l->lifetime_s * 1000u + (uint32_t)(v->t_ms - l->t_ms);
        return true;
    }
    if (v->events.valid && v->events.bms_time_s) {
        *ms = (uint64_t)v->events.bms_time_s * 1000u + (uint32_t)(v->t_ms - v->events.t_ms);
        return true;
    }
    return false;
}

/* One event with its wall-clock time: it happened (lifetime now - timestamp_s) of BMS lifetime
 * before the gateway's wall clock now. Approximate: the lifetime clock does not run while the BMS
 * is off. null while the wall clock or the BMS's clock is unknown, or the event is "in the future". */
static void event_row(jw_t *w, const bms_event_t *ev, const gw_view_t *v)
{
    jw_obj_begin(w);
    jw_kv_uint(w, "timestamp_s", ev->timestamp_s);
    jw_kv_uint(w, "id", ev->id);
    jw_kv_str(w, "class", bms_event_class_name(bms_event_class(ev->id)));
    jw_kv_str(w, "name", bms_json_event_name(ev->id));
    uint64_t life = 0;
    bool known = v->wall_ms && bms_lifetime_now(v, &life);
    /* the record's time stamp is 24 bits (194 days): put it in the lifetime's current window */
    uint64_t life_s = life / 1000u, at_s = (life_s & ~(uint64_t)0xFFFFFFu) | (ev->timestamp_s & 0xFFFFFFu);
    if (at_s > life_s && at_s >= 0x1000000u) {
        at_s -= 0x1000000u;
    }
    uint64_t at = at_s * 1000u;
    if (known && at <= life && life - at < v->wall_ms) {
        jw_kv_uint(w, "time_ms", v->wall_ms - (life - at));
    } else {
        jw_kv_null(w, "time_ms");
    }
    jw_obj_end(w);
}

void api_json_events(jw_t *w, const gw_view_t *v)
{
    const bms_events_t *e = &v->events;
    jw_obj_begin(w);
    kv_age(w, e->valid, e->t_ms, v->t_ms);
    if (e->valid) {
        jw_kv_uint(w, "bms_time_s", e->bms_time_s);
    } else {
        jw_kv_null(w, "bms_time_s");
    }
    if (v->wall_ms) {
        jw_kv_uint(w, "time_ms", v->wall_ms);
    } else {
        jw_kv_null(w, "time_ms");
    }
    jw_key(w, "events");
    jw_arr_begin(w);
    for (unsigned i = 0; e->valid && i < e->count && i < BMS_EVENT_SLOTS; i++) {
        event_row(w, &e->ev[i], v);
    }
    jw_arr_end(w);
    jw_kv_uint(w, "new_seq", v->event_seq);
    jw_key(w, "new_events");
    jw_arr_begin(w);
    for (unsigned i = 0; i < v->recent_count && i < GW_VIEW_EVENTS; i++) {
        event_row(w, &v->recent_events[i], v);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static void rx_row(jw_t *w, uint32_t id, uint32_t count, const char *what)
{
    jw_obj_begin(w);
    can_sched_json_id(w, "id", id);
    const char *n = vcan_id_name(id);
    jw_kv_str(w, "name", n ? n : "");
    jw_kv_str(w, "direction", "rx");
    jw_kv_str(w, "description", what);
    jw_kv_uint(w, "count", count);
    jw_obj_end(w);
}

void api_json_can_frames(jw_t *w, const gw_view_t *v)
{
    const can_sched_counters_t *n = &v->can;
    jw_obj_begin(w);
    jw_kv_str(w, "mode", v->can_mode);
    jw_kv_bool(w, "shadow", v->cfg.can.shadow);
    jw_kv_str(w, "port", v->cfg.can.port);
    jw_kv_bool(w, "port_open", v->can_port_open);
    jw_kv_str(w, "port_error", v->can_port_error);
    jw_key(w, "gx");
    jw_obj_begin(w);
    jw_kv_bool(w, "present", v->gx_present);
    if (v->gx_age_ms == UINT32_MAX) {
        jw_kv_null(w, "last_seen_ms");
    } else {
        jw_kv_uint(w, "last_seen_ms", v->gx_age_ms);
    }
    jw_kv_uint(w, "keepalive_frames", n->rx_gx_keepalive);
    jw_kv_uint(w, "inverter_id_frames", n->rx_gx_inverter);
    jw_obj_end(w);
    jw_key(w, "counters");
    jw_obj_begin(w);
    can_sched_json_counters(w, n);
    jw_obj_end(w);
    jw_key(w, "frames");
    jw_arr_begin(w);
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        const can_sched_slot_t *sl = &v->can_slots[i];
        if (sl->id == 0u) {
            continue;
        }
        jw_obj_begin(w);
        can_sched_json_id(w, "id", sl->id);
        const char *name = vcan_id_name(sl->id);
        jw_kv_str(w, "name", name ? name : "");
        jw_kv_str(w, "direction", sl->has_last && sl->last_was_shadow ? "shadow" : "tx");
        jw_kv_uint(w, "count", sl->sent);
        jw_kv_uint(w, "errors", sl->errors);
        jw_kv_uint(w, "shadow", sl->shadow);
        can_sched_json_last(w, sl, v->t_ms);
        jw_obj_end(w);
    }
    rx_row(w, 0x305u, n->rx_gx_keepalive, "GX keep-alive");
    rx_row(w, 0x306u, n->rx_gx_306, "GX (undocumented)");
    rx_row(w, 0x307u, n->rx_gx_inverter, "GX inverter identification");
    jw_arr_end(w);
    jw_obj_end(w);
}

void api_json_log_entry(jw_t *w, const log_entry_t *e)
{
    jw_obj_begin(w);
    jw_kv_uint(w, "seq", e->seq);
    if (e->wall_ms) {
        jw_kv_uint(w, "time_ms", e->wall_ms);
    } else {
        jw_kv_null(w, "time_ms");
    }
    jw_kv_str(w, "level", log_level_name((log_level_t)e->level));
    jw_kv_str(w, "module", e->module);
    jw_kv_str(w, "msg", e->msg);
    jw_obj_end(w);
}
