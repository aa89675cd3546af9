/* mqtt_pub: what the gateway publishes on MQTT, and when — independent of any MQTT library.
 *
 * The port (ports/linux/mqtt_service.c) owns the connection and calls, from one thread:
 *   mqtt_pub_connected()     after each CONNACK (the availability "online" goes out, everything
 *                            retained is republished, since a restarted broker may have lost it);
 *   mqtt_pub_disconnected()  when the connection is lost;
 *   mqtt_pub_step()          with the latest published view, whenever one arrives and at least
 *                            every few hundred ms (timers);
 *   mqtt_pub_retained()      for each retained message received on the discovery subscription
 *                            (to remove stale entities left by an earlier run);
 *   mqtt_pub_offline()       before an orderly disconnect.
 *
 * Topics under the base (docs/mqtt.md):
 *   availability  "online" / "offline"          retained; "offline" is also the last will
 *   state         the view's status_json         retained; every mqtt.state_interval_s and at
 *                 (same bytes as GET /api/status) once on a significant change (charge state,
 *                                                alarm levels, limits beyond the thresholds, BMS
 *                                                link, data freshness, SOC, cell count, CAN mode)
 *   alarms        alarm levels + summary         retained; when it changes
 *   events        one message per TinyBMS event  not retained; in order, each once (event_seq)
 * and the Home Assistant discovery documents (app/mqtt_ha.h).
 *
 * Flow control: port.publish may refuse with TB_ERR_BUSY when its backlog is full (a stalled
 * broker); the publisher keeps what is due and retries at a later step. Latest-value semantics:
 * the state and alarms documents are always rendered from the newest view, never queued.
 *
 * Memory: caller-allocated mqtt_pub_t (~6 KB), no allocation. Time: now_ms injected.
 * Thread safety: none; one thread calls everything.
 */
#ifndef APP_MQTT_PUB_H
#define APP_MQTT_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/gw_view.h"
#include "app/mqtt_cfg.h"
#include "app/mqtt_ha.h"
#include "app/mqtt_id.h"

#define MQTT_PUB_MIN_GAP_MS 200u        /* significant changes: at most 5 state documents a second */
#define MQTT_PUB_DISCOVERY_HOLD_MS 10000u /* wait this long for the cell count before discovery */
/* Build knob: room for the alarms document (the largest possible is 610 bytes: every category at
 * "unsupported", the longest reason and event name; tests/unit/test_mqtt_sizes.c checks it fits
 * this and the firmware's value). */
#ifndef MQTT_PUB_ALARMS_MAX
#define MQTT_PUB_ALARMS_MAX 1024u
#endif
#define MQTT_PUB_SLOTS_MAX MQTT_HA_SLOTS_MAX

typedef struct {
    /* Publish one message (QoS is the port's). TB_OK, TB_ERR_BUSY (backlog full: nothing sent,
     * try later) or another TB_ERR_* (not connected). */
    int (*publish)(void *ctx, const char *topic, const void *payload, size_t len, bool retain);
    /* Subscribe / unsubscribe a pattern (the discovery namespace). TB_OK or TB_ERR_*. */
    int (*subscribe)(void *ctx, const char *pattern);
    int (*unsubscribe)(void *ctx, const char *pattern);
    void *ctx;
} mqtt_pub_port_t;

/* Facts about this gateway that do not come from the view. */
typedef struct {
    char device_id[MQTT_DEVICE_ID_MAX]; /* slug, resolved by the port */
    char gw_version[24];
    char hostname[64];                  /* for the derived web UI address; may be "" */
} mqtt_pub_ident_t;

typedef struct {
    uint64_t state;          /* state documents published */
    uint64_t alarms;
    uint64_t events;
    uint64_t events_lost;    /* events that left the view's window before they could be sent */
    uint64_t discovery;      /* discovery documents published */
    uint64_t discovery_removed;
    uint64_t deferred;       /* publications postponed because the port was busy */
} mqtt_pub_stats_t;

/* significant fields of the last state document published */
typedef struct {
    bool valid;
    uint8_t chg_state;
    uint8_t data;
    bool limits_valid, transmit, charge_stopped, discharge_stopped;
    float cvl_v, ccl_a, dcl_a, soc_pct;
    bool link_up;
    uint8_t cell_count;
    uint8_t alarm_level[ALARM_COUNT];
    char can_mode[16];
} mqtt_pub_sig_t;

typedef struct {
    mqtt_pub_port_t port;
    mqtt_pub_ident_t ident;
    mqtt_cfg_t cfg;                 /* as of the last step */
    char base[MQTT_TOPIC_MAX];      /* resolved base topic (fixed for a connection) */
    bool connected;
    uint32_t connected_ms;
    bool avail_due;                 /* "online" still to be published */
    bool started;                   /* first step done */
    uint32_t first_view_ms;

    /* state */
    bool state_due;
    uint32_t last_state_ms;
    mqtt_pub_sig_t sig;

    /* alarms */
    bool alarms_due;
    size_t alarms_len;
    char alarms_json[MQTT_PUB_ALARMS_MAX];

    /* events */
    uint32_t event_sent;            /* event_seq of the last event published (or skipped) */

    /* discovery */
    mqtt_ha_device_t ha;            /* what is (being) published */
    bool ha_known;
    bool subscribed;                /* to ha's pattern */
    bool dirty[MQTT_PUB_SLOTS_MAX]; /* slot needs publishing or removing */
    bool published[MQTT_PUB_SLOTS_MAX]; /* a non-empty retained document exists at the slot's topic */
    mqtt_ha_device_t ha_old;        /* removal pass over topics that changed (prefix / node id) */
    bool old_pending;
    bool old_published[MQTT_PUB_SLOTS_MAX];

    mqtt_pub_stats_t stats;
    char doc[MQTT_HA_DOC_MAX];      /* scratch for one discovery document */
} mqtt_pub_t;

/* What carries over from one client to the next (a reconnection with new settings): the event
 * numbering, so that no event is sent twice, and when the first view was seen. Zeroed: no client
 * yet. */
typedef struct {
    bool have;
    uint32_t event_sent;
    bool started;
    uint32_t first_view_ms;
} mqtt_pub_carry_t;

/* base: the resolved base topic of the connection (port's choice, see mqtt_id.h). */
void mqtt_pub_init(mqtt_pub_t *p, const mqtt_pub_port_t *port, const mqtt_pub_ident_t *ident, const char *base,
                   const mqtt_cfg_t *cfg);

/* When a client ends: what its successor takes over (mqtt_pub_carry_give()). */
void mqtt_pub_carry_take(const mqtt_pub_t *p, mqtt_pub_carry_t *out);

/* Right after mqtt_pub_init() for a new client: what the last one left (c->have), else, for the
 * first client, the event numbering starts with the events still in the view's window (the view's
 * event_seq and recent_count), not with "lost" reports for what happened while MQTT was off. */
void mqtt_pub_carry_give(mqtt_pub_t *p, const mqtt_pub_carry_t *c, uint32_t event_seq, uint32_t recent_count);

void mqtt_pub_connected(mqtt_pub_t *p, uint32_t now_ms);
void mqtt_pub_disconnected(mqtt_pub_t *p);

/* Publish what is due for view v (the newest; may be the same as last time). */
void mqtt_pub_step(mqtt_pub_t *p, const gw_view_t *v, uint32_t now_ms);

/* A retained message arrived on topic (any bytes) with a payload of len bytes. */
void mqtt_pub_retained(mqtt_pub_t *p, const char *topic, size_t topic_len, size_t len);

/* Publish "offline" (retained) before an orderly disconnect. TB_OK or the port's error. */
int mqtt_pub_offline(mqtt_pub_t *p);

/* Remove every discovery document this publisher knows of (before the device id changes).
 * Returns true when nothing is left to remove. */
bool mqtt_pub_remove_all(mqtt_pub_t *p);

/* True if publishing what is due is finished (nothing deferred): for tests and the port's flush. */
bool mqtt_pub_idle(const mqtt_pub_t *p);

/* Topic under the base ("state" -> "<base>/state"). Length or TB_ERR_NOSPACE. */
int mqtt_pub_topic(const mqtt_pub_t *p, const char *suffix, char *out, size_t cap);

/* The i-th (from 0) retained topic the gateway keeps under the base (state, alarms, the
 * service's mqtt report, availability), to be cleared with an empty retained message when the
 * base topic changes: its length, 0 past the last one, or TB_ERR_NOSPACE. */
int mqtt_pub_retained_topic(const mqtt_pub_t *p, size_t i, char *out, size_t cap);

/* The significance test, exposed for unit tests: true if v differs from s enough to publish. */
bool mqtt_pub_significant(const mqtt_pub_sig_t *s, const gw_view_t *v, const mqtt_cfg_t *cfg);

/* The device description for discovery derived from the view, the config and the identity. */
void mqtt_pub_ha_device(const mqtt_pub_t *p, const gw_view_t *v, mqtt_ha_device_t *out);

#endif
