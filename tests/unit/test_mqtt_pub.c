#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "app/mqtt_pub.h"
#include "core/tb_err.h"

/* ---- a recording fake of the port ---- */

#define MAX_MSGS 1024

typedef struct {
    char topic[MQTT_TOPIC_MAX];
    char payload[GW_STATUS_JSON_MAX];
    size_t len;
    bool retain;
} msg_t;

static struct {
    msg_t m[MAX_MSGS];
    size_t n;
    int busy_after;        /* refuse with TB_ERR_BUSY once this many were accepted; -1 never */
    bool down;             /* refuse with TB_ERR_STATE */
    char subs[8][MQTT_TOPIC_MAX];
    size_t nsubs, nunsubs;
} F;

static int fake_publish(void *ctx, const char *topic, const void *payload, size_t len, bool retain)
{
    (void)ctx;
    if (F.down) {
        return TB_ERR_STATE;
    }
    if (F.busy_after >= 0 && (int)F.n >= F.busy_after) {
        return TB_ERR_BUSY;
    }
    assert_true(F.n < MAX_MSGS);
    msg_t *m = &F.m[F.n++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    assert_true(len < sizeof m->payload);
    memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->len = len;
    m->retain = retain;
    return TB_OK;
}

static int fake_subscribe(void *ctx, const char *pattern)
{
    (void)ctx;
    if (F.down) {
        return TB_ERR_STATE;
    }
    snprintf(F.subs[F.nsubs++ % 8], MQTT_TOPIC_MAX, "%s", pattern);
    return TB_OK;
}

static int fake_unsubscribe(void *ctx, const char *pattern)
{
    (void)ctx;
    (void)pattern;
    F.nunsubs++;
    return TB_OK;
}

static void reset_fake(void)
{
    memset(&F, 0, sizeof F);
    F.busy_after = -1;
}

static size_t count(const char *needle, bool nonempty)
{
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++) {
        if (strstr(F.m[i].topic, needle) && (!nonempty || F.m[i].len)) {
            k++;
        }
    }
    return k;
}

static size_t count_empty(const char *needle)
{
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++) {
        if (strstr(F.m[i].topic, needle) && F.m[i].len == 0u) {
            k++;
        }
    }
    return k;
}

/* per-cell voltage entities (not cell_min/cell_max/cell_spread) */
static size_t count_cells(bool nonempty)
{
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++) {
        const char *c = strstr(F.m[i].topic, "/cell_");
        if (c && c[6] >= '0' && c[6] <= '9' && (!nonempty || F.m[i].len)) {
            k++;
        }
    }
    return k;
}

static const msg_t *last(const char *needle)
{
    for (size_t i = F.n; i-- > 0;) {
        if (strstr(F.m[i].topic, needle)) {
            return &F.m[i];
        }
    }
    return NULL;
}

/* ---- views ---- */

static gw_view_t g_v;
static mqtt_pub_t g_p;

static void view_init(gw_view_t *v)
{
    memset(v, 0, sizeof *v);
    gw_config_defaults(&v->cfg);
    v->cfg.mqtt.enabled = true;
    v->cfg.mqtt.state_interval_s = 5;
    v->seq = 1;
    v->wall_ms = 1700000000000ull;
    v->snap.live.valid = true;
    v->snap.live.cell_count = 16;
    v->snap.live.soc_pct = 50.0f;
    v->snap.version.valid = true;
    v->snap.version.fw_public = 1;
    v->snap.version.serial[0] = 0x1234;
    v->link.link_up = true;
    v->limits.valid = true;
    v->limits.transmit = true;
    v->limits.state = CHG_STATE_BULK;
    v->limits.data = FAILSAFE_FRESH;
    v->limits.cvl_v = 55.2f;
    v->limits.ccl_a = 100.0f;
    v->limits.dcl_a = 150.0f;
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        v->alarms.set.level[i] = ALARM_LEVEL_OK;
    }
    snprintf(v->can_mode, sizeof v->can_mode, "transmitting");
    v->status_len = (size_t)snprintf(v->status_json, sizeof v->status_json, "{\"seq\":1}");
}

static void pub_init(void)
{
    reset_fake();
    view_init(&g_v);
    mqtt_pub_port_t port = {fake_publish, fake_subscribe, fake_unsubscribe, NULL};
    mqtt_pub_ident_t id;
    memset(&id, 0, sizeof id);
    snprintf(id.device_id, sizeof id.device_id, "garage");
    snprintf(id.gw_version, sizeof id.gw_version, "0.1.0");
    snprintf(id.hostname, sizeof id.hostname, "pi");
    mqtt_pub_init(&g_p, &port, &id, "tinybms/garage", &g_v.cfg.mqtt);
}

#define WANTED_16 (21u + 16u + 10u)

/* Connect: "online" first, then the discovery documents, then state and alarms (retained). */
static void connect_publishes_everything(void **state)
{
    (void)state;
    pub_init();
    mqtt_pub_step(&g_p, &g_v, 1000); /* not connected: nothing */
    assert_int_equal(F.n, 0);
    mqtt_pub_connected(&g_p, 1000);
    assert_int_equal(F.n, 1);
    assert_string_equal(F.m[0].topic, "tinybms/garage/availability");
    assert_string_equal(F.m[0].payload, "online");
    assert_true(F.m[0].retain);
    mqtt_pub_step(&g_p, &g_v, 1000);
    assert_int_equal(count("homeassistant/", true), WANTED_16);
    assert_int_equal(F.nsubs, 1);
    assert_string_equal(F.subs[0], "homeassistant/+/tinybms_garage/+/config");
    const msg_t *st = last("/state");
    assert_non_null(st);
    assert_string_equal(st->payload, "{\"seq\":1}");
    assert_true(st->retain);
    /* the discovery documents come before the state */
    assert_true(st > last("homeassistant/"));
    const msg_t *al = last("tinybms/garage/alarms");
    assert_non_null(al);
    assert_true(al->retain);
    cJSON *j = cJSON_Parse(al->payload);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "high_voltage")->valuestring, "ok");
    cJSON_Delete(j);
    for (size_t i = 0; i < F.n; i++) {
        assert_true(F.m[i].retain);
    }
    assert_true(mqtt_pub_idle(&g_p));
    /* nothing more without a reason */
    size_t n = F.n;
    mqtt_pub_step(&g_p, &g_v, 1100);
    assert_int_equal(F.n, n);
    /* offline before an orderly disconnect */
    assert_int_equal(mqtt_pub_offline(&g_p), TB_OK);
    assert_string_equal(last("availability")->payload, "offline");
    assert_true(last("availability")->retain);
}

/* The state goes out at the interval, and at once (but not closer than the minimum gap) on a
 * significant change; small moves wait for the interval. */
static void state_interval_and_significance(void **state)
{
    (void)state;
    pub_init();
    mqtt_pub_connected(&g_p, 0);
    mqtt_pub_step(&g_p, &g_v, 0);
    size_t s0 = count("/state", true);
    assert_int_equal(s0, 1);
    for (uint32_t t = 100; t < 5000; t += 100) {
        mqtt_pub_step(&g_p, &g_v, t);
    }
    assert_int_equal(count("/state", true), 1);
    mqtt_pub_step(&g_p, &g_v, 5000);
    assert_int_equal(count("/state", true), 2);

    /* below every threshold: CCL -0.5 A, CVL +0.05 V, SOC +0.5 % */
    g_v.limits.ccl_a -= 0.5f;
    g_v.limits.cvl_v += 0.05f;
    g_v.snap.live.soc_pct += 0.5f;
    mqtt_pub_step(&g_p, &g_v, 5500);
    assert_int_equal(count("/state", true), 2);

    static const struct {
        const char *what;
        void (*apply)(gw_view_t *v);
    } changes[] = {
        {"ccl", NULL}, {"dcl", NULL}, {"cvl", NULL}, {"soc", NULL}, {"state", NULL}, {"alarm", NULL},
        {"link", NULL}, {"data", NULL}, {"cells", NULL}, {"can", NULL}, {"stopped", NULL},
    };
    uint32_t t = 6000;
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const char *w = changes[i].what;
        if (!strcmp(w, "ccl")) g_v.limits.ccl_a -= 1.0f;
        if (!strcmp(w, "dcl")) g_v.limits.dcl_a = 0.0f;
        if (!strcmp(w, "cvl")) g_v.limits.cvl_v -= 0.2f;
        if (!strcmp(w, "soc")) g_v.snap.live.soc_pct += 1.0f;
        if (!strcmp(w, "state")) g_v.limits.state = CHG_STATE_ABSORPTION;
        if (!strcmp(w, "alarm")) g_v.alarms.set.level[ALARM_HIGH_VOLTAGE] = ALARM_LEVEL_WARNING;
        if (!strcmp(w, "link")) g_v.link.link_up = false;
        if (!strcmp(w, "data")) g_v.limits.data = FAILSAFE_STALE;
        if (!strcmp(w, "cells")) g_v.snap.live.cell_count = 15;
        if (!strcmp(w, "can")) snprintf(g_v.can_mode, sizeof g_v.can_mode, "shadow");
        if (!strcmp(w, "stopped")) g_v.limits.charge_stopped = true;
        size_t before = count("/state", true);
        /* within the minimum gap of the previous state: held back ... */
        mqtt_pub_step(&g_p, &g_v, t + MQTT_PUB_MIN_GAP_MS / 2u);
        size_t mid = count("/state", true);
        /* ... and sent once the gap has passed */
        mqtt_pub_step(&g_p, &g_v, t + MQTT_PUB_MIN_GAP_MS);
        if (count("/state", true) != before + 1u) {
            fail_msg("change %s: state not published", w);
        }
        (void)mid;
        t += MQTT_PUB_MIN_GAP_MS;
        /* the same view again: nothing */
        mqtt_pub_step(&g_p, &g_v, t + 50u);
        assert_int_equal(count("/state", true), before + 1u);
        t += 100u;
    }
    /* SOC threshold 0 = never for SOC alone */
    g_v.cfg.mqtt.change_soc_pct = 0.0f;
    size_t before = count("/state", true);
    g_v.snap.live.soc_pct += 5.0f;
    mqtt_pub_step(&g_p, &g_v, t + 1000u);
    assert_int_equal(count("/state", true), before);

    /* the significance test itself, with NaN (limits not valid) */
    mqtt_pub_sig_t none;
    memset(&none, 0, sizeof none);
    assert_true(mqtt_pub_significant(&none, &g_v, &g_v.cfg.mqtt));
    assert_false(mqtt_pub_significant(&g_p.sig, &g_v, &g_v.cfg.mqtt));
    g_v.limits.valid = false;
    assert_true(mqtt_pub_significant(&g_p.sig, &g_v, &g_v.cfg.mqtt));
}

/* The interval follows the running configuration (no reconnect needed). */
static void interval_from_config(void **state)
{
    (void)state;
    pub_init();
    g_v.cfg.mqtt.state_interval_s = 1;
    mqtt_pub_connected(&g_p, 0);
    for (uint32_t t = 0; t <= 10000; t += 100) {
        mqtt_pub_step(&g_p, &g_v, t);
    }
    assert_int_equal(count("/state", true), 11);
    g_v.cfg.mqtt.state_interval_s = 60;
    for (uint32_t t = 10100; t <= 30000; t += 100) {
        mqtt_pub_step(&g_p, &g_v, t);
    }
    assert_int_equal(count("/state", true), 11);
}

static void add_event(gw_view_t *v, uint8_t id, uint32_t ts)
{
    if (v->recent_count == GW_VIEW_EVENTS) {
        memmove(v->recent_events, v->recent_events + 1, (GW_VIEW_EVENTS - 1u) * sizeof v->recent_events[0]);
        v->recent_count--;
    }
    v->recent_events[v->recent_count].id = id;
    v->recent_events[v->recent_count].timestamp_s = ts;
    v->recent_count++;
    v->event_seq++;
}

/* Each event once, in order, not retained; a gap wider than the view's window is reported. */
static void events_once_in_order(void **state)
{
    (void)state;
    pub_init();
    add_event(&g_v, 0x64, 100);
    add_event(&g_v, 0x62, 101);
    /* events read before the connection are sent once it exists */
    mqtt_pub_step(&g_p, &g_v, 0);
    assert_int_equal(count("/events", false), 0);
    mqtt_pub_connected(&g_p, 0);
    mqtt_pub_step(&g_p, &g_v, 0);
    assert_int_equal(count("/events", false), 2);
    for (uint32_t t = 100; t < 1000; t += 100) {
        mqtt_pub_step(&g_p, &g_v, t); /* same events in later views: not repeated */
    }
    assert_int_equal(count("/events", false), 2);
    add_event(&g_v, 0x03, 102);
    mqtt_pub_step(&g_p, &g_v, 1000);
    assert_int_equal(count("/events", false), 3);
    const msg_t *e = last("/events");
    assert_false(e->retain);
    cJSON *j = cJSON_Parse(e->payload);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "seq")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "timestamp_s")->valueint, 102);
    assert_string_equal(cJSON_GetObjectItem(j, "class")->valuestring, "fault");
    assert_non_null(cJSON_GetObjectItem(j, "name"));
    assert_null(cJSON_GetObjectItem(j, "lost_before"));
    cJSON_Delete(j);
    /* a reconnection does not send them again */
    mqtt_pub_disconnected(&g_p);
    mqtt_pub_connected(&g_p, 1100);
    mqtt_pub_step(&g_p, &g_v, 1100);
    assert_int_equal(count("/events", false), 3);
    /* 20 events while disconnected: the 16 still in the view go out, 4 are reported lost */
    mqtt_pub_disconnected(&g_p);
    for (int i = 0; i < 20; i++) {
        add_event(&g_v, 0x61, 200u + (uint32_t)i);
    }
    mqtt_pub_step(&g_p, &g_v, 1200);
    mqtt_pub_connected(&g_p, 1300);
    mqtt_pub_step(&g_p, &g_v, 1300);
    assert_int_equal(count("/events", false), 3 + 16);
    assert_int_equal(g_p.stats.events_lost, 4);
    size_t first = 0;
    for (size_t i = 0; i < F.n; i++) {
        if (strstr(F.m[i].topic, "/events") && !first) {
            first = i;
        }
    }
    int expect = 8; /* 3 + 4 lost + 1 */
    bool saw_lost = false;
    for (size_t i = 0; i < F.n; i++) {
        if (!strstr(F.m[i].topic, "/events")) {
            continue;
        }
        j = cJSON_Parse(F.m[i].payload);
        int seq = cJSON_GetObjectItem(j, "seq")->valueint;
        if (seq >= 8) {
            assert_int_equal(seq, expect++);
            if (cJSON_GetObjectItem(j, "lost_before")) {
                assert_int_equal(cJSON_GetObjectItem(j, "lost_before")->valueint, 4);
                assert_int_equal(seq, 8);
                saw_lost = true;
            }
        }
        cJSON_Delete(j);
    }
    assert_true(saw_lost);
    assert_int_equal(expect, 24);
}

/* A new client (new settings): the event numbering carries over, nothing is sent twice; the first
 * client starts with the events still in the view's window, without "lost" reports. */
static void new_client_carries_events(void **state)
{
    (void)state;
    pub_init();
    for (int i = 0; i < 20; i++) {
        add_event(&g_v, 0x61, 100u + (uint32_t)i); /* 20 before MQTT ran: 16 in the window */
    }
    mqtt_pub_carry_t carry = {0};
    mqtt_pub_carry_give(&g_p, &carry, g_v.event_seq, g_v.recent_count);
    mqtt_pub_step(&g_p, &g_v, 0);
    mqtt_pub_connected(&g_p, 0);
    mqtt_pub_step(&g_p, &g_v, 0);
    assert_int_equal(count("/events", false), GW_VIEW_EVENTS);
    assert_int_equal(g_p.stats.events_lost, 0);

    add_event(&g_v, 0x62, 200);
    mqtt_pub_step(&g_p, &g_v, 100);
    assert_int_equal(count("/events", false), GW_VIEW_EVENTS + 1u);
    mqtt_pub_disconnected(&g_p);
    mqtt_pub_carry_take(&g_p, &carry);
    assert_true(carry.have);
    assert_int_equal(carry.event_sent, 21);
    assert_true(carry.started);

    /* the next client: only what came since */
    add_event(&g_v, 0x63, 201);
    mqtt_pub_port_t port = {fake_publish, fake_subscribe, fake_unsubscribe, NULL};
    mqtt_pub_ident_t id;
    memset(&id, 0, sizeof id);
    snprintf(id.device_id, sizeof id.device_id, "garage");
    mqtt_pub_init(&g_p, &port, &id, "tinybms/other", &g_v.cfg.mqtt);
    mqtt_pub_carry_give(&g_p, &carry, g_v.event_seq, g_v.recent_count);
    assert_true(g_p.started);
    size_t before = count("/events", false);
    mqtt_pub_connected(&g_p, 200);
    mqtt_pub_step(&g_p, &g_v, 200);
    assert_int_equal(count("/events", false), before + 1u);
    const msg_t *e = last("/events");
    assert_non_null(strstr(e->topic, "tinybms/other/events"));
    cJSON *j = cJSON_Parse(e->payload);
    assert_int_equal(cJSON_GetObjectItem(j, "seq")->valueint, 22);
    cJSON_Delete(j);
}

/* The retained topics cleared when the base topic changes. */
static void retained_topics_listed(void **state)
{
    (void)state;
    pub_init();
    char t[MQTT_TOPIC_MAX + 16];
    const char *want[] = {"tinybms/garage/state", "tinybms/garage/alarms", "tinybms/garage/mqtt",
                          "tinybms/garage/availability"};
    size_t i = 0;
    for (; mqtt_pub_retained_topic(&g_p, i, t, sizeof t) > 0; i++) {
        assert_true(i < 4);
        assert_string_equal(t, want[i]);
    }
    assert_int_equal(i, 4);
    assert_int_equal(mqtt_pub_retained_topic(&g_p, 0, t, 8), TB_ERR_NOSPACE);
}

/* A busy port defers; everything due is published later, nothing twice, nothing lost. */
static void busy_port_defers(void **state)
{
    (void)state;
    pub_init();
    add_event(&g_v, 0x64, 100);
    F.busy_after = 10;
    mqtt_pub_connected(&g_p, 0);
    mqtt_pub_step(&g_p, &g_v, 0);
    assert_int_equal(F.n, 10);
    assert_false(mqtt_pub_idle(&g_p));
    assert_true(g_p.stats.deferred > 0);
    for (uint32_t t = 100; t < 2000; t += 100) {
        F.busy_after = (int)F.n + 5; /* the backlog drains slowly */
        mqtt_pub_step(&g_p, &g_v, t);
    }
    F.busy_after = -1;
    mqtt_pub_step(&g_p, &g_v, 2000);
    assert_true(mqtt_pub_idle(&g_p));
    assert_int_equal(count("homeassistant/", true), WANTED_16);
    assert_int_equal(count("/state", true), 1);
    assert_int_equal(count("/alarms", true), 1);
    assert_int_equal(count("/events", false), 1);
    /* a port that is down (lost connection not yet noticed) changes nothing either */
    F.down = true;
    g_v.limits.state = CHG_STATE_FLOAT;
    mqtt_pub_step(&g_p, &g_v, 3000);
    F.down = false;
    mqtt_pub_step(&g_p, &g_v, 3300);
    assert_int_equal(count("/state", true), 2);
}

/* Cells follow the BMS: a disappearing cell's entity is removed with an empty retained config. */
static void cells_follow_bms(void **state)
{
    (void)state;
    pub_init();
    g_v.snap.live.valid = false;
    g_v.snap.live.cell_count = 0;
    mqtt_pub_connected(&g_p, 0);
    /* discovery waits a moment for the cell count */
    mqtt_pub_step(&g_p, &g_v, 0);
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS - 1u);
    assert_int_equal(count("homeassistant/", true), 0);
    /* then publishes without cells */
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS);
    assert_int_equal(count("homeassistant/", true), 21 + 10);
    assert_int_equal(count_cells(true), 0);
    /* a cell config retained from an earlier run is left alone while the count is unknown */
    const char *c16 = "homeassistant/sensor/tinybms_garage/cell_16/config";
    mqtt_pub_retained(&g_p, c16, strlen(c16), 900);
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS + 100u);
    assert_int_equal(count_cells(false), 0);
    /* the BMS answers with 15 cells: 15 published, the stale 16th removed */
    g_v.snap.live.valid = true;
    g_v.snap.live.cell_count = 15;
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS + 200u);
    assert_int_equal(count_cells(true), 15);
    assert_int_equal(count_empty("/cell_16/"), 1);
    /* 15 -> 14 at run time */
    g_v.snap.live.cell_count = 14;
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS + 300u);
    assert_int_equal(count_empty("/cell_15/"), 1);
    assert_true(last("/cell_15/")->retain);
    /* a retained config we never want (after a reconnect) is removed; unrelated topics ignored */
    mqtt_pub_retained(&g_p, c16, strlen(c16), 900);
    mqtt_pub_retained(&g_p, "homeassistant/sensor/other/cell_16/config", 41, 900);
    mqtt_pub_step(&g_p, &g_v, MQTT_PUB_DISCOVERY_HOLD_MS + 400u);
    assert_int_equal(count_empty("/cell_16/"), 2);
    assert_int_equal(count("/other/", false), 0);
}

/* Discovery off removes every document; commands on/off adds/removes the command entities;
 * a new prefix moves everything (old removed, new published). */
static void discovery_toggles(void **state)
{
    (void)state;
    pub_init();
    mqtt_pub_connected(&g_p, 0);
    mqtt_pub_step(&g_p, &g_v, 0);
    assert_int_equal(count("homeassistant/", true), WANTED_16);
    g_v.cfg.mqtt.commands = true;
    mqtt_pub_step(&g_p, &g_v, 100);
    assert_int_equal(count("homeassistant/button/", true), 3);
    assert_int_equal(count("homeassistant/switch/", true), 1);
    g_v.cfg.mqtt.commands = false;
    mqtt_pub_step(&g_p, &g_v, 200);
    assert_int_equal(count_empty("homeassistant/button/"), 3);
    assert_int_equal(count_empty("homeassistant/switch/"), 1);

    size_t before = F.n;
    g_v.cfg.mqtt.discovery = false;
    mqtt_pub_step(&g_p, &g_v, 300);
    size_t removed = 0;
    for (size_t i = before; i < F.n; i++) {
        if (strncmp(F.m[i].topic, "homeassistant/", 14) == 0) {
            assert_int_equal(F.m[i].len, 0);
            assert_true(F.m[i].retain);
            removed++;
        }
    }
    assert_int_equal(removed, WANTED_16);
    /* retained leftovers seen later are removed too */
    const char *pv = "homeassistant/sensor/tinybms_garage/pack_voltage/config";
    mqtt_pub_retained(&g_p, pv, strlen(pv), 500);
    mqtt_pub_step(&g_p, &g_v, 400);
    assert_int_equal(last("pack_voltage")->len, 0);

    g_v.cfg.mqtt.discovery = true;
    mqtt_pub_step(&g_p, &g_v, 500);
    before = F.n;
    snprintf(g_v.cfg.mqtt.discovery_prefix, sizeof g_v.cfg.mqtt.discovery_prefix, "ha");
    mqtt_pub_step(&g_p, &g_v, 600);
    size_t old_removed = 0, new_pub = 0;
    for (size_t i = before; i < F.n; i++) {
        if (strncmp(F.m[i].topic, "homeassistant/", 14) == 0) {
            assert_int_equal(F.m[i].len, 0);
            old_removed++;
        } else if (strncmp(F.m[i].topic, "ha/", 3) == 0) {
            assert_true(F.m[i].len > 0);
            new_pub++;
        }
    }
    assert_int_equal(old_removed, WANTED_16);
    assert_int_equal(new_pub, WANTED_16);
    assert_int_equal(F.nunsubs, 1);
    assert_string_equal(F.subs[(F.nsubs - 1u) % 8], "ha/+/tinybms_garage/+/config");

    /* remove_all (before the device id changes) */
    before = F.n;
    assert_true(mqtt_pub_remove_all(&g_p));
    assert_int_equal(F.n - before, WANTED_16);
}

/* The device description follows the view: version, web address, cells, flags. */
static void device_description(void **state)
{
    (void)state;
    pub_init();
    mqtt_ha_device_t d;
    snprintf(g_v.cfg.gateway.http_listen, sizeof g_v.cfg.gateway.http_listen, "0.0.0.0:8080");
    mqtt_pub_ha_device(&g_p, &g_v, &d);
    assert_string_equal(d.node_id, "tinybms_garage");
    assert_string_equal(d.base, "tinybms/garage");
    assert_string_equal(d.name, "TinyBMS garage");
    assert_string_equal(d.config_url, "http://pi:8080/");
    assert_string_equal(d.serial, "123400000000000000000000");
    assert_non_null(strstr(d.sw_version, "gateway 0.1.0"));
    assert_int_equal(d.cell_count, 16);
    assert_true(d.enabled);
    assert_false(d.commands);
    g_v.snap.version.valid = false;
    snprintf(g_v.cfg.mqtt.web_url, sizeof g_v.cfg.mqtt.web_url, "https://x/");
    mqtt_pub_ha_device(&g_p, &g_v, &d);
    assert_string_equal(d.serial, "");
    assert_string_equal(d.config_url, "https://x/");
    char t[MQTT_TOPIC_MAX];
    assert_true(mqtt_pub_topic(&g_p, "cmd/result", t, sizeof t) > 0);
    assert_string_equal(t, "tinybms/garage/cmd/result");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_publishes_everything),
        cmocka_unit_test(state_interval_and_significance),
        cmocka_unit_test(interval_from_config),
        cmocka_unit_test(events_once_in_order),
        cmocka_unit_test(new_client_carries_events),
        cmocka_unit_test(retained_topics_listed),
        cmocka_unit_test(busy_port_defers),
        cmocka_unit_test(cells_follow_bms),
        cmocka_unit_test(discovery_toggles),
        cmocka_unit_test(device_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
