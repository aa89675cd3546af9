#include "app/mqtt_link.h"

#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "core/jw.h"
#include "core/tb_err.h"

#define M "mqtt"

void mqtt_link_stats_count(mqtt_link_stats_t *st, mqtt_link_count_t which)
{
    switch (which) {
    case MQTT_LINK_COUNT_OK: st->cmd_ok++; break;
    case MQTT_LINK_COUNT_FAILED: st->cmd_failed++; break;
    case MQTT_LINK_COUNT_REFUSED: st->cmd_refused++; break;
    case MQTT_LINK_COUNT_MALFORMED: st->cmd_malformed++; break;
    case MQTT_LINK_COUNT_BUSY: st->cmd_busy++; break;
    default: break;
    }
}

/* ---- the <base>/mqtt document ---------------------------------------------------------------- */

void mqtt_link_report_connected(mqtt_link_report_t *r, uint32_t now_ms)
{
    r->sent_ms = now_ms - MQTT_LINK_STATS_EVERY_MS;
}

bool mqtt_link_report_due(const mqtt_link_report_t *r, const mqtt_link_stats_t *st, bool commands, uint32_t now_ms)
{
    const mqtt_link_stats_t *o = &r->seen;
    bool changed = st->connects != o->connects || commands != r->seen_commands || st->cmd_received != o->cmd_received ||
                   st->cmd_ok != o->cmd_ok || st->cmd_failed != o->cmd_failed || st->cmd_refused != o->cmd_refused ||
                   st->cmd_malformed != o->cmd_malformed || st->cmd_busy != o->cmd_busy;
    uint32_t since = now_ms - r->sent_ms;
    return since >= MQTT_LINK_STATS_MIN_GAP_MS && (changed || since >= MQTT_LINK_STATS_EVERY_MS);
}

int mqtt_link_report_json(const mqtt_link_stats_t *st, uint64_t events_lost, bool commands, char *out, size_t cap)
{
    jw_t w;
    jw_init(&w, out, cap);
    jw_obj_begin(&w);
    jw_kv_uint(&w, "connects", st->connects);
    jw_kv_uint(&w, "connect_failures", st->connect_failures);
    jw_kv_uint(&w, "disconnects", st->disconnects);
    jw_kv_uint(&w, "published", st->published);
    jw_kv_uint(&w, "deferred", st->deferred);
    jw_kv_uint(&w, "backlog", st->backlog);
    jw_kv_uint(&w, "events_lost", events_lost);
    jw_kv_bool(&w, "commands_enabled", commands);
    jw_key(&w, "commands");
    jw_obj_begin(&w);
    jw_kv_uint(&w, "received", st->cmd_received);
    jw_kv_uint(&w, "ok", st->cmd_ok);
    jw_kv_uint(&w, "failed", st->cmd_failed);
    jw_kv_uint(&w, "refused", st->cmd_refused);
    jw_kv_uint(&w, "malformed", st->cmd_malformed);
    jw_kv_uint(&w, "busy", st->cmd_busy);
    jw_obj_end(&w);
    jw_obj_end(&w);
    return jw_finish(&w);
}

void mqtt_link_report_sent(mqtt_link_report_t *r, const mqtt_link_stats_t *st, bool commands, uint32_t now_ms)
{
    r->seen = *st;
    r->seen_commands = commands;
    r->sent_ms = now_ms;
}

/* ---- reconnect back-off ---------------------------------------------------------------------- */

/* The length of why as shown: one final '.' left out (libmosquitto's texts end with one). */
static int shown(const char *why)
{
    size_t wl = strlen(why);
    return (int)(wl && why[wl - 1u] == '.' ? wl - 1u : wl);
}

void mqtt_link_backoff_reset(mqtt_link_backoff_t *b)
{
    b->backoff_ms = MQTT_BACKOFF_MIN_MS;
    b->lost = false;
    b->last_error[0] = '\0';
}

void mqtt_link_lost(mqtt_link_backoff_t *b, const mqtt_cfg_t *c, const char *why)
{
    b->lost = true;
    if (!why) {
        return;
    }
    if (why[0]) {
        LOGW(M, "connection to %s:%d lost (%.*s); reconnecting", c->host, (int)c->port, shown(why), why);
    } else {
        LOGW(M, "connection to %s:%d lost; reconnecting", c->host, (int)c->port);
    }
    snprintf(b->last_error, sizeof b->last_error, "%s", why);
}

bool mqtt_link_retry(mqtt_link_backoff_t *b, const mqtt_cfg_t *c, uint32_t now_ms, const char *why, uint32_t rnd)
{
    bool failure = !b->lost;
    b->lost = false;
    if (why && strcmp(why, b->last_error) != 0) {
        LOGW(M, "%s:%d: %.*s; retrying (back-off up to %u s)", c->host, (int)c->port, shown(why), why,
             MQTT_BACKOFF_MAX_MS / 1000u);
        snprintf(b->last_error, sizeof b->last_error, "%s", why);
    }
    /* +-20 % jitter so that several gateways do not hammer a restarted broker in step */
    uint32_t j = b->backoff_ms / 5u;
    b->retry_at = now_ms + b->backoff_ms - j + rnd % (2u * j + 1u);
    b->backoff_ms = b->backoff_ms * 2u > MQTT_BACKOFF_MAX_MS ? MQTT_BACKOFF_MAX_MS : b->backoff_ms * 2u;
    return failure;
}

/* ---- device id --------------------------------------------------------------------------------- */

void mqtt_link_id_init(mqtt_link_id_t *d, const mqtt_link_id_port_t *port)
{
    memset(d, 0, sizeof *d);
    d->port = *port;
}

void mqtt_link_id_loaded(mqtt_link_id_t *d, const char *text, size_t len)
{
    char buf[MQTT_DEVICE_ID_MAX];
    size_t n = len < sizeof buf - 1u ? len : sizeof buf - 1u;
    memcpy(buf, text, n);
    while (n && (buf[n - 1u] == '\n' || buf[n - 1u] == ' ')) {
        n--;
    }
    buf[n] = '\0';
    if (n) {
        (void)mqtt_slug(buf, d->remembered, sizeof d->remembered);
    }
}

static void remember(mqtt_link_id_t *d, const char *id)
{
    char err[160];
    err[0] = '\0';
    if (d->port.save(d->port.ctx, id, err, sizeof err) != TB_OK) {
        LOGW(M, "cannot remember the device id: %s", err);
        return;
    }
    snprintf(d->remembered, sizeof d->remembered, "%s", id);
}

bool mqtt_link_id_resolve(mqtt_link_id_t *d, const char *cfg_id, const uint16_t *serial, uint32_t waited_ms,
                          char *out, size_t cap)
{
    if (cfg_id[0]) {
        return mqtt_slug(cfg_id, out, cap) > 0;
    }
    if (d->remembered[0]) {
        snprintf(out, cap, "%s", d->remembered);
        return true;
    }
    if (serial && mqtt_id_from_serial(serial, out, cap) > 0) {
        LOGI(M, "device id %s (from the BMS serial number; remembered in %s)", out, d->port.where);
        remember(d, out);
        return true;
    }
    if (waited_ms < MQTT_ID_WAIT_MS) {
        return false;
    }
    d->port.fallback(d->port.ctx, out, cap);
    if (!d->fallback_logged) {
        LOGW(M, "no BMS serial number yet: device id %s for now (set gateway.device_id for a fixed one)", out);
        d->fallback_logged = true;
    }
    return true;
}

/* ---- names and topics ----------------------------------------------------------------------------- */

bool mqtt_link_names(const mqtt_cfg_t *c, const char *device_id, char *base, size_t base_cap, char *client_id,
                     size_t client_cap)
{
    if (base_cap <= 8u || mqtt_base_resolve(c->base_topic, device_id, base, base_cap) < 0 ||
        !mqtt_topic_valid(base, base_cap - 8u)) {
        LOGE(M, "base topic %s with device id %s is not a valid topic; MQTT stays off", c->base_topic, device_id);
        return false;
    }
    if (c->client_id[0]) {
        snprintf(client_id, client_cap, "%s", c->client_id);
    } else {
        snprintf(client_id, client_cap, "tinybms-gw-%.40s", device_id);
    }
    return true;
}

mqtt_link_topic_t mqtt_link_topic(const char *base, const char *topic, size_t len, const char **sub, size_t *sub_len)
{
    size_t bl = strlen(base);
    if (!bl || len <= bl + 5u || memcmp(topic, base, bl) != 0 || memcmp(topic + bl, "/cmd/", 5) != 0) {
        return MQTT_LINK_TOPIC_OTHER;
    }
    *sub = topic + bl + 5u;
    *sub_len = len - bl - 5u;
    return *sub_len == 6u && memcmp(*sub, "result", 6) == 0 ? MQTT_LINK_TOPIC_RESULT : MQTT_LINK_TOPIC_CMD;
}

/* ---- commands ---------------------------------------------------------------------------------- */

static int status_of(int rc)
{
    switch (rc) {
    case TB_ERR_NOTFOUND: return 404;
    case TB_ERR_TOO_LARGE: return 413;
    default: return 400;
    }
}

void mqtt_link_cmd_answer(mqtt_link_cmd_t *v, mqtt_link_count_t count, int rc, int status, const char *message)
{
    v->run = false;
    v->count = count;
    v->rc = rc;
    v->status = status;
    v->message = message;
    v->result = NULL;
}

void mqtt_link_cmd_admit(mqtt_link_cmd_t *v, const char *sub, size_t sub_len, const uint8_t *payload, size_t len,
                         bool too_large, bool retained, bool enabled)
{
    const char *why = NULL;
    int rc = too_large ? TB_ERR_TOO_LARGE : mqtt_cmd_parse(sub, sub_len, payload, len, &v->req, &why);
    if (too_large) {
        memset(&v->req, 0, sizeof v->req);
        v->req.kind = MQTT_CMD_KIND_COUNT;
        why = "payload too large";
    }
    const char *topic = v->req.kind < MQTT_CMD_KIND_COUNT ? mqtt_cmd_topic(v->req.kind) : NULL;
    v->command = topic;
    if (!enabled) {
        LOGW(M, "command %s refused: MQTT commands are disabled", topic ? topic : "(unknown)");
        mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_REFUSED, TB_ERR_AUTH, 403,
               "MQTT commands are disabled (mqtt.commands = false); nothing was done");
        return;
    }
    if (retained) {
        LOGW(M, "command %s refused: published with the retain flag (it would run again at every reconnection)",
             topic ? topic : "(unknown)");
        mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_REFUSED, TB_ERR_STATE, 400,
               "retained command ignored: it would run again at every reconnect; publish commands without retain");
        return;
    }
    if (rc != TB_OK) {
        LOGW(M, "command %s refused: %s", topic ? topic : "(unknown topic)", why ? why : "malformed");
        mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_MALFORMED, rc, status_of(rc), why ? why : "malformed command");
        return;
    }
    mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_NONE, TB_OK, 0, NULL);
    v->run = true;
}

void mqtt_link_cmd_done(mqtt_link_cmd_t *v, int qrc, const gw_cmd_t *c)
{
    if (qrc == TB_OK) {
        LOGI(M, "command %s: %d %s", v->command, c->status, c->message);
        mqtt_link_cmd_answer(v, c->rc == TB_OK ? MQTT_LINK_COUNT_OK : MQTT_LINK_COUNT_FAILED, c->rc, c->status,
                             c->message);
        v->result = c->result;
    } else if (qrc == TB_ERR_BUSY) {
        mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_BUSY, qrc, 503, "the gateway is busy; try again");
    } else {
        mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_FAILED, qrc, 504,
               "no answer from the gateway in time; the command may still be carried out");
    }
}

void mqtt_link_cmd_busy(mqtt_link_cmd_t *v, const char *sub, size_t sub_len, const uint8_t *payload, size_t len)
{
    const char *why = NULL;
    (void)mqtt_cmd_parse(sub, sub_len, payload, len, &v->req, &why);
    v->command = v->req.kind < MQTT_CMD_KIND_COUNT ? mqtt_cmd_topic(v->req.kind) : NULL;
    mqtt_link_cmd_answer(v, MQTT_LINK_COUNT_NONE, TB_ERR_BUSY, 503, "too many commands waiting; try again");
}
