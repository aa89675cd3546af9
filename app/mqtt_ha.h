/* mqtt_ha: Home Assistant MQTT discovery documents for one gateway (one HA device).
 *
 * The gateway's entities form a fixed universe of "slots" (mqtt_ha_slots()): measurement and
 * limit sensors, one voltage sensor per possible cell (BMS_MAX_CELLS), one binary sensor per
 * alarm category, and the command buttons/switch. For a given device description
 * (mqtt_ha_device_t) each slot is wanted, not wanted, or unknown (a cell while the cell count is
 * not known yet); the publisher (app/mqtt_pub.h) publishes the wanted ones, removes the unwanted
 * ones with an empty retained message and leaves the unknown ones as they are.
 *
 * Topic of slot i: <prefix>/<component>/<node_id>/<object>/config; unique_id <node_id>_<object>;
 * the device's identifier is <node_id>. Every entity reads the retained
 * state document (<base>/state, the same JSON as GET /api/status) through a value_template, is
 * tied to <base>/availability and, for BMS measurements, also to the freshness of the BMS data
 * (limits.data == "fresh"), so that stale numbers show as unavailable instead of as current.
 *
 * No allocation, no OS calls; pure functions of their arguments.
 */
#ifndef APP_MQTT_HA_H
#define APP_MQTT_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/mqtt_cfg.h"
#include "app/mqtt_id.h"

/* Build knob: room for one discovery document. The largest possible one (every field of
 * mqtt_ha_device_t at its array's length) is 1 864 bytes; tests/unit/test_mqtt_sizes.c checks
 * that it fits this and the firmware's value (ports/esp-idf/components/tinybms_app). A document
 * that does not fit is refused (an error), never cut. */
#ifndef MQTT_HA_DOC_MAX
#define MQTT_HA_DOC_MAX 2560u
#endif
#define MQTT_HA_SLOTS_MAX 64u /* upper bound of mqtt_ha_slots() */

/* Everything the documents depend on. Compare two with mqtt_ha_device_equal(). */
typedef struct {
    char prefix[MQTT_PREFIX_MAX];      /* discovery prefix, e.g. "homeassistant" */
    char node_id[MQTT_DEVICE_ID_MAX + 8u]; /* "tinybms_" + slug of the device id */
    char base[MQTT_TOPIC_MAX];         /* resolved base topic */
    char name[64];                     /* device name shown by Home Assistant */
    char model[48];
    char sw_version[64];
    char hw_version[32];               /* "" = unknown */
    char serial[32];                   /* "" = unknown */
    char config_url[MQTT_URL_MAX];     /* "" = none */
    char gw_version[24];               /* origin sw */
    uint8_t cell_count;                /* 0 = not known yet */
    bool enabled;                      /* discovery on: otherwise nothing is wanted */
    bool commands;                     /* command entities wanted */
} mqtt_ha_device_t;

typedef enum { MQTT_HA_NO = 0, MQTT_HA_YES = 1, MQTT_HA_UNKNOWN = 2 } mqtt_ha_want_t;

/* Number of slots (constant). */
size_t mqtt_ha_slots(void);

mqtt_ha_want_t mqtt_ha_wanted(const mqtt_ha_device_t *d, size_t slot);

/* Discovery topic of a slot. Length or TB_ERR_NOSPACE / TB_ERR_ARG (slot out of range). */
int mqtt_ha_topic(const mqtt_ha_device_t *d, size_t slot, char *out, size_t cap);

/* Discovery document (JSON) of a slot, whether wanted or not. Length or TB_ERR_*. */
int mqtt_ha_config(const mqtt_ha_device_t *d, size_t slot, char *out, size_t cap);

/* Slot whose topic (under d's prefix and node id) equals topic[0..len), or -1. Any bytes. */
int mqtt_ha_match(const mqtt_ha_device_t *d, const char *topic, size_t len);

/* Subscription pattern that covers every slot's topic: <prefix>/+/<node_id>/+/config. */
int mqtt_ha_pattern(const mqtt_ha_device_t *d, char *out, size_t cap);

/* True if a and b give the same topics (same prefix and node id). */
bool mqtt_ha_same_topics(const mqtt_ha_device_t *a, const mqtt_ha_device_t *b);
bool mqtt_ha_device_equal(const mqtt_ha_device_t *a, const mqtt_ha_device_t *b);

#endif
