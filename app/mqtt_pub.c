#include "app/mqtt_pub.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/bms_json.h"
#include "core/bms.h"
#include "core/jw.h"
#include "core/tb_bits.h"
#include "core/tb_err.h"

void mqtt_pub_init(mqtt_pub_t *p, const mqtt_pub_port_t *port, const mqtt_pub_ident_t *ident, const char *base,
                   const mqtt_cfg_t *cfg)
{
    memset(p, 0, sizeof *p);
    p->port = *port;
    p->ident = *ident;
    p->cfg = *cfg;
    snprintf(p->base, sizeof p->base, "%s", base);
}

void mqtt_pub_carry_take(const mqtt_pub_t *p, mqtt_pub_carry_t *out)
{
    *out = (mqtt_pub_carry_t){true, p->event_sent, p->started, p->first_view_ms};
}

void mqtt_pub_carry_give(mqtt_pub_t *p, const mqtt_pub_carry_t *c, uint32_t event_seq, uint32_t recent_count)
{
    if (c->have) {
        p->event_sent = c->event_sent;
        p->started = c->started;
        p->first_view_ms = c->first_view_ms;
    } else {
        p->event_sent = event_seq - (recent_count <= GW_VIEW_EVENTS ? recent_count : GW_VIEW_EVENTS);
    }
}

int mqtt_pub_topic(const mqtt_pub_t *p, const char *suffix, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", p->base, suffix);
    if (n < 0 || (size_t)n >= cap) {
        return TB_ERR_NOSPACE;
    }
    return n;
}

int mqtt_pub_retained_topic(const mqtt_pub_t *p, size_t i, char *out, size_t cap)
{
    static const char *const own[] = {"state", "alarms", "mqtt", "availability"};
    return i < sizeof own / sizeof own[0] ? mqtt_pub_topic(p, own[i], out, cap) : 0;
}

static int pub(mqtt_pub_t *p, const char *topic, const void *payload, size_t len, bool retain)
{
    int rc = p->port.publish(p->port.ctx, topic, payload, len, retain);
    if (rc == TB_ERR_BUSY) {
        p->stats.deferred++;
    }
    return rc;
}

static int pub_sub(mqtt_pub_t *p, const char *suffix, const void *payload, size_t len, bool retain)
{
    char t[MQTT_TOPIC_MAX + 16];
    if (mqtt_pub_topic(p, suffix, t, sizeof t) < 0) {
        return TB_ERR_NOSPACE;
    }
    return pub(p, t, payload, len, retain);
}

static void all_dirty(mqtt_pub_t *p)
{
    for (size_t i = 0; i < MQTT_PUB_SLOTS_MAX; i++) {
        p->dirty[i] = true;
    }
}

void mqtt_pub_connected(mqtt_pub_t *p, uint32_t now_ms)
{
    p->connected = true;
    p->connected_ms = now_ms;
    p->state_due = true;
    p->last_state_ms = now_ms - MQTT_PUB_MIN_GAP_MS; /* the state goes out at once */
    p->alarms_due = true;
    p->subscribed = false;
    /* what the broker holds is learnt again from the retained messages on the subscription */
    memset(p->published, 0, sizeof p->published);
    all_dirty(p);
    /* a fresh connection has an empty backlog; if this still fails the next step retries */
    p->avail_due = pub_sub(p, "availability", "online", 6, true) != TB_OK;
}

void mqtt_pub_disconnected(mqtt_pub_t *p)
{
    p->connected = false;
    p->subscribed = false;
}

int mqtt_pub_offline(mqtt_pub_t *p)
{
    if (!p->connected) {
        return TB_ERR_STATE;
    }
    return pub_sub(p, "availability", "offline", 7, true);
}

/* ---- significance ----------------------------------------------------------------------------- */

static bool moved(float a, float b, float threshold)
{
    if (isfinite(a) != isfinite(b)) {
        return true;
    }
    return isfinite(a) && fabsf(a - b) >= threshold;
}

static void capture(mqtt_pub_sig_t *s, const gw_view_t *v)
{
    const chg_limits_t *l = &v->limits;
    memset(s, 0, sizeof *s);
    s->valid = true;
    s->chg_state = (uint8_t)l->state;
    s->data = (uint8_t)l->data;
    s->limits_valid = l->valid;
    s->transmit = l->transmit;
    s->charge_stopped = l->charge_stopped;
    s->discharge_stopped = l->discharge_stopped;
    s->cvl_v = l->valid ? l->cvl_v : NAN;
    s->ccl_a = l->valid ? l->ccl_a : NAN;
    s->dcl_a = l->valid ? l->dcl_a : NAN;
    s->soc_pct = v->snap.live.valid ? v->snap.live.soc_pct : NAN;
    s->link_up = v->link.link_up;
    s->cell_count = v->snap.live.valid ? v->snap.live.cell_count : 0u;
    memcpy(s->alarm_level, v->alarms.set.level, sizeof s->alarm_level);
    snprintf(s->can_mode, sizeof s->can_mode, "%s", v->can_mode);
}

bool mqtt_pub_significant(const mqtt_pub_sig_t *s, const gw_view_t *v, const mqtt_cfg_t *cfg)
{
    mqtt_pub_sig_t n;
    if (!s->valid) {
        return true;
    }
    capture(&n, v);
    if (n.chg_state != s->chg_state || n.data != s->data || n.limits_valid != s->limits_valid ||
        n.transmit != s->transmit || n.charge_stopped != s->charge_stopped ||
        n.discharge_stopped != s->discharge_stopped || n.link_up != s->link_up || n.cell_count != s->cell_count ||
        memcmp(n.alarm_level, s->alarm_level, sizeof n.alarm_level) != 0 || strcmp(n.can_mode, s->can_mode) != 0) {
        return true;
    }
    if (moved(n.cvl_v, s->cvl_v, cfg->change_cvl_v) || moved(n.ccl_a, s->ccl_a, cfg->change_current_a) ||
        moved(n.dcl_a, s->dcl_a, cfg->change_current_a)) {
        return true;
    }
    if (cfg->change_soc_pct > 0.0f && moved(n.soc_pct, s->soc_pct, cfg->change_soc_pct)) {
        return true;
    }
    return false;
}

/* ---- discovery -------------------------------------------------------------------------------- */

void mqtt_pub_ha_device(const mqtt_pub_t *p, const gw_view_t *v, mqtt_ha_device_t *d)
{
    memset(d, 0, sizeof *d);
    const mqtt_cfg_t *c = &v->cfg.mqtt;
    snprintf(d->prefix, sizeof d->prefix, "%s", c->discovery_prefix);
    snprintf(d->node_id, sizeof d->node_id, "tinybms_%s", p->ident.device_id);
    snprintf(d->base, sizeof d->base, "%s", p->base);
    snprintf(d->name, sizeof d->name, "TinyBMS %s", p->ident.device_id);
    snprintf(d->gw_version, sizeof d->gw_version, "%s", p->ident.gw_version);
    const bms_version_t *ver = &v->snap.version;
    if (ver->valid) {
        snprintf(d->model, sizeof d->model, "TinyBMS s516 (%s)", ver->high_power ? "150 A" : "30 A");
        snprintf(d->sw_version, sizeof d->sw_version, "BMS firmware %u (build %u), gateway %s", (unsigned)ver->fw_public,
                 (unsigned)ver->fw_internal, p->ident.gw_version);
        snprintf(d->hw_version, sizeof d->hw_version, "%u.%u", (unsigned)ver->hw_version, (unsigned)ver->hw_changes);
        snprintf(d->serial, sizeof d->serial, "%04X%04X%04X%04X%04X%04X", ver->serial[0], ver->serial[1], ver->serial[2],
                 ver->serial[3], ver->serial[4], ver->serial[5]);
    } else {
        snprintf(d->model, sizeof d->model, "TinyBMS s516");
        snprintf(d->sw_version, sizeof d->sw_version, "gateway %s", p->ident.gw_version);
    }
    mqtt_web_url(c->web_url, v->cfg.gateway.http_listen, p->ident.hostname, d->config_url, sizeof d->config_url);
    d->cell_count = v->snap.live.valid ? v->snap.live.cell_count : 0u;
    if (d->cell_count > BMS_MAX_CELLS) {
        d->cell_count = BMS_MAX_CELLS;
    }
    d->enabled = c->discovery;
    d->commands = c->commands;
}

static void update_ha(mqtt_pub_t *p, const mqtt_ha_device_t *want)
{
    if (!p->ha_known) {
        p->ha = *want;
        p->ha_known = true;
        all_dirty(p);
        return;
    }
    if (mqtt_ha_device_equal(&p->ha, want)) {
        return;
    }
    if (!mqtt_ha_same_topics(&p->ha, want)) {
        if (p->old_pending) {
            return; /* finish removing the previous topics first; picked up at a later step */
        }
        p->ha_old = p->ha;
        memcpy(p->old_published, p->published, sizeof p->old_published);
        p->old_pending = true;
        if (p->subscribed) {
            char pat[MQTT_TOPIC_MAX];
            if (mqtt_ha_pattern(&p->ha, pat, sizeof pat) > 0) {
                (void)p->port.unsubscribe(p->port.ctx, pat);
            }
            p->subscribed = false;
        }
        memset(p->published, 0, sizeof p->published);
    }
    p->ha = *want;
    all_dirty(p);
}

/* Returns false while something is left to do (port busy). */
static bool run_discovery(mqtt_pub_t *p)
{
    char topic[MQTT_TOPIC_MAX];
    char *doc = p->doc;
    size_t slots = mqtt_ha_slots();
    if (p->old_pending) {
        for (size_t i = 0; i < slots; i++) {
            if (!p->old_published[i]) {
                continue;
            }
            if (mqtt_ha_topic(&p->ha_old, i, topic, sizeof topic) > 0) {
                int rc = pub(p, topic, "", 0, true);
                if (rc == TB_ERR_BUSY) {
                    return false;
                }
                p->stats.discovery_removed += rc == TB_OK;
            }
            p->old_published[i] = false;
        }
        p->old_pending = false;
    }
    if (!p->ha_known) {
        return true;
    }
    if (!p->subscribed) {
        char pat[MQTT_TOPIC_MAX];
        if (mqtt_ha_pattern(&p->ha, pat, sizeof pat) > 0 && p->port.subscribe(p->port.ctx, pat) == TB_OK) {
            p->subscribed = true;
        }
    }
    for (size_t i = 0; i < slots; i++) {
        if (!p->dirty[i]) {
            continue;
        }
        mqtt_ha_want_t w = mqtt_ha_wanted(&p->ha, i);
        if (w != MQTT_HA_UNKNOWN && mqtt_ha_topic(&p->ha, i, topic, sizeof topic) > 0) {
            if (w == MQTT_HA_YES) {
                int n = mqtt_ha_config(&p->ha, i, doc, sizeof p->doc);
                if (n > 0) {
                    int rc = pub(p, topic, doc, (size_t)n, true);
                    if (rc == TB_ERR_BUSY) {
                        return false;
                    }
                    if (rc == TB_OK) {
                        p->published[i] = true;
                        p->stats.discovery++;
                    }
                }
            } else if (p->published[i]) {
                int rc = pub(p, topic, "", 0, true);
                if (rc == TB_ERR_BUSY) {
                    return false;
                }
                if (rc == TB_OK) {
                    p->published[i] = false;
                    p->stats.discovery_removed++;
                }
            }
        }
        p->dirty[i] = false;
    }
    return true;
}

void mqtt_pub_retained(mqtt_pub_t *p, const char *topic, size_t topic_len, size_t len)
{
    if (!p->ha_known) {
        return;
    }
    int i = mqtt_ha_match(&p->ha, topic, topic_len);
    if (i < 0) {
        return;
    }
    p->published[i] = len > 0u;
    if (len > 0u && mqtt_ha_wanted(&p->ha, (size_t)i) == MQTT_HA_NO) {
        p->dirty[i] = true;
    }
}

bool mqtt_pub_remove_all(mqtt_pub_t *p)
{
    if (p->ha_known && p->ha.enabled) {
        p->ha.enabled = false;
        all_dirty(p);
    }
    if (!p->connected) {
        return false;
    }
    return run_discovery(p);
}

/* ---- events ----------------------------------------------------------------------------------- */

TB_NOINLINE static void run_events(mqtt_pub_t *p, const gw_view_t *v)
{
    uint32_t newest = v->event_seq;
    unsigned n = v->recent_count <= GW_VIEW_EVENTS ? v->recent_count : GW_VIEW_EVENTS;
    if ((int32_t)(newest - p->event_sent) <= 0 || n == 0u) {
        p->event_sent = newest; /* nothing new (or numbering restarted) */
        return;
    }
    uint32_t first = newest - n + 1u;
    uint32_t next = p->event_sent + 1u;
    uint32_t lost = 0;
    if ((int32_t)(first - next) > 0) {
        lost = first - next;
        p->stats.events_lost += lost;
        next = first;
        p->event_sent = first - 1u;
    }
    for (uint32_t seq = next; (int32_t)(seq - newest) <= 0; seq++) {
        const bms_event_t *e = &v->recent_events[n - 1u - (newest - seq)];
        char buf[320];
        jw_t w;
        jw_init(&w, buf, sizeof buf);
        jw_obj_begin(&w);
        jw_kv_uint(&w, "seq", seq);
        if (v->wall_ms) {
            jw_kv_uint(&w, "time_ms", v->wall_ms);
        } else {
            jw_kv_null(&w, "time_ms");
        }
        jw_kv_uint(&w, "timestamp_s", e->timestamp_s);
        jw_kv_uint(&w, "id", e->id);
        jw_kv_str(&w, "class", bms_event_class_name(bms_event_class(e->id)));
        jw_kv_str(&w, "name", bms_json_event_name(e->id));
        if (lost) {
            jw_kv_uint(&w, "lost_before", lost);
        }
        jw_obj_end(&w);
        int len = jw_finish(&w);
        if (len > 0) {
            int rc = pub_sub(p, "events", buf, (size_t)len, false);
            if (rc == TB_ERR_BUSY) {
                return;
            }
            if (rc == TB_OK) {
                p->stats.events++;
            }
        }
        lost = 0;
        p->event_sent = seq;
    }
}

/* ---- step ------------------------------------------------------------------------------------- */

static void run_state(mqtt_pub_t *p, const gw_view_t *v, uint32_t now)
{
    uint32_t since = now - p->last_state_ms;
    uint32_t interval = (uint32_t)p->cfg.state_interval_s * 1000u;
    bool due = since >= interval || ((p->state_due || mqtt_pub_significant(&p->sig, v, &p->cfg)) &&
                                     since >= MQTT_PUB_MIN_GAP_MS);
    if (!due || v->status_len == 0u) {
        return;
    }
    int rc = pub_sub(p, "state", v->status_json, v->status_len, true);
    if (rc == TB_OK) {
        capture(&p->sig, v);
        p->last_state_ms = now;
        p->state_due = false;
        p->stats.state++;
    } else {
        p->state_due = true;
    }
}

/* TB_NOINLINE here and below: each step's buffers are on the stack only during that step (the
 * firmware's MQTT task renders under the view lock on a small stack). */
TB_NOINLINE static void run_alarms(mqtt_pub_t *p, const gw_view_t *v)
{
    char buf[MQTT_PUB_ALARMS_MAX];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    gw_view_json_alarms(&w, &v->alarms);
    int n = jw_finish(&w);
    if (n <= 0) {
        return;
    }
    if (!p->alarms_due && (size_t)n == p->alarms_len && memcmp(buf, p->alarms_json, (size_t)n) == 0) {
        return;
    }
    int rc = pub_sub(p, "alarms", buf, (size_t)n, true);
    if (rc == TB_OK) {
        memcpy(p->alarms_json, buf, (size_t)n);
        p->alarms_len = (size_t)n;
        p->alarms_due = false;
        p->stats.alarms++;
    } else {
        p->alarms_due = true;
    }
}

/* The device description wanted for view v (held back a while for the cell count). */
TB_NOINLINE static void refresh_ha(mqtt_pub_t *p, const gw_view_t *v, uint32_t now_ms)
{
    mqtt_ha_device_t want;
    mqtt_pub_ha_device(p, v, &want);
    bool hold = !p->ha_known && want.enabled && want.cell_count == 0u &&
                (uint32_t)(now_ms - p->first_view_ms) < MQTT_PUB_DISCOVERY_HOLD_MS;
    if (!hold) {
        update_ha(p, &want);
    }
}

void mqtt_pub_step(mqtt_pub_t *p, const gw_view_t *v, uint32_t now_ms)
{
    if (!p->started) {
        p->started = true;
        p->first_view_ms = now_ms;
    }
    p->cfg = v->cfg.mqtt;
    refresh_ha(p, v, now_ms);
    if (!p->connected) {
        return;
    }
    if (p->avail_due) {
        p->avail_due = pub_sub(p, "availability", "online", 6, true) != TB_OK;
    }
    /* discovery first: Home Assistant creates the entities, then reads the retained state */
    (void)run_discovery(p);
    run_state(p, v, now_ms);
    run_alarms(p, v);
    run_events(p, v);
}

bool mqtt_pub_idle(const mqtt_pub_t *p)
{
    if (p->old_pending || p->state_due || p->alarms_due || p->avail_due) {
        return false;
    }
    for (size_t i = 0; i < mqtt_ha_slots(); i++) {
        if (p->dirty[i] && mqtt_ha_wanted(&p->ha, i) != MQTT_HA_UNKNOWN && p->ha_known) {
            return false;
        }
    }
    return true;
}
