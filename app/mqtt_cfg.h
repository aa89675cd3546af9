/* mqtt_cfg: configuration section "mqtt" (broker connection, topics, publishing policy, Home
 * Assistant discovery, commands) and the checks that span its keys.
 *
 * The rows live in mqtt_cfg.c (mqtt_cfg_section); docs/mqtt.md explains each key. Which keys are
 * "connection parameters" is decided here (mqtt_cfg_conn_equal): only a change of one of those
 * makes the MQTT service reconnect; every other key applies to the running connection.
 *
 * No allocation, no OS calls. Thread safety: pure functions over caller data.
 */
#ifndef APP_MQTT_CFG_H
#define APP_MQTT_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg_schema.h"

#define MQTT_HOST_MAX 128u
#define MQTT_PATH_MAX 200u
#define MQTT_USER_MAX 64u
#define MQTT_PASS_MAX 128u
#define MQTT_CLIENT_ID_MAX 64u
#define MQTT_BASE_MAX 96u
#define MQTT_PREFIX_MAX 48u
#define MQTT_URL_MAX 128u

/* The placeholder in mqtt.base_topic replaced by the device id. */
#define MQTT_DEVICE_ID_PLACEHOLDER "{device_id}"

typedef struct {
    bool enabled;                        /* mqtt.enabled          default false */
    char host[MQTT_HOST_MAX];            /* mqtt.host             default "localhost" */
    int32_t port;                        /* mqtt.port             1..65535, default 1883 */
    bool tls;                            /* mqtt.tls              default false */
    char ca_file[MQTT_PATH_MAX];         /* mqtt.ca_file          "" = system CA store */
    char username[MQTT_USER_MAX];        /* mqtt.username         "" = anonymous */
    char password[MQTT_PASS_MAX];        /* mqtt.password         secret */
    char client_id[MQTT_CLIENT_ID_MAX];  /* mqtt.client_id        "" = tinybms-gw-<device id> */
    int32_t keepalive_s;                 /* mqtt.keepalive_s      5..900, default 30 */
    int32_t qos;                         /* mqtt.qos              0..2, default 1 */
    char base_topic[MQTT_BASE_MAX];      /* mqtt.base_topic       default "tinybms/{device_id}" */
    int32_t state_interval_s;            /* mqtt.state_interval_s 1..3600, default 5 */
    float change_cvl_v;                  /* mqtt.change_cvl_v     0.01..10, default 0.1 */
    float change_current_a;              /* mqtt.change_current_a 0.1..500, default 1 */
    float change_soc_pct;                /* mqtt.change_soc_pct   0..100, default 1 (0 = off) */
    bool discovery;                      /* mqtt.discovery        default true */
    char discovery_prefix[MQTT_PREFIX_MAX]; /* mqtt.discovery_prefix default "homeassistant" */
    char web_url[MQTT_URL_MAX];          /* mqtt.web_url          "" = derived from gateway.http */
    bool commands;                       /* mqtt.commands         default false */
} mqtt_cfg_t;

extern const cfg_section_t mqtt_cfg_section;

/* Checks beyond each key's range: topic syntax (no wildcards, no empty levels, no leading or
 * trailing '/', at most one {device_id}), a host when enabled, the URL scheme.
 * Returns TB_OK, or TB_ERR_RANGE with *key (full key name) and *why (static English) set. */
int mqtt_cfg_check(const mqtt_cfg_t *c, const char **key, const char **why);

/* True if s is a valid topic name for publishing: 1..max_len bytes, printable ASCII without
 * '+', '#', NUL or spaces, no leading or trailing '/', no empty level ("a//b"). */
bool mqtt_topic_valid(const char *s, size_t max_len);

/* True if every key that the connection depends on (enabled, host, port, TLS, CA file,
 * credentials, client id, keep-alive, QoS of the will, base topic) is equal in a and b. */
bool mqtt_cfg_conn_equal(const mqtt_cfg_t *a, const mqtt_cfg_t *b);

#endif
