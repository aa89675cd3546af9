#include "app/mqtt_ha.h"

#include <stdio.h>
#include <string.h>

#include "core/alarm_types.h"
#include "core/alarms.h"
#include "core/bms.h"
#include "core/charge.h"
#include "core/jw.h"
#include "core/tb_err.h"

/* flags of an entity */
enum {
    F_BMS = 1u << 0,     /* a BMS measurement: unavailable while the BMS data is not fresh */
    F_DIAG = 1u << 1,    /* entity_category diagnostic */
    F_CONFIG = 1u << 2,  /* entity_category config */
    F_ENUM_STATE = 1u << 3 /* enum sensor with the charge-state names as options */
};

typedef struct {
    const char *component;
    const char *object;
    const char *name;
    const char *device_class; /* NULL: none */
    const char *state_class;  /* NULL: none */
    const char *unit;         /* NULL: none */
    const char *tmpl;         /* value_template */
    int8_t precision;         /* suggested_display_precision, -1: none */
    uint8_t flags;
    const char *icon;         /* NULL: the device class's */
} ent_t;

/* A JSON path as a template that renders "None" (Home Assistant: unknown) when absent or null. */
#define NUM(path) "{{ value_json." path " | default(None) }}"
/* A value inside a nested object that is absent before the BMS answers. */
#define TEMP(key) "{{ value_json.bms.temperatures_c." key " if value_json.bms.temperatures_c is defined else None }}"
/* A limit only while limits are valid (before that nothing is sent on the bus: unknown, not 0). */
#define LIMIT(path) "{{ value_json.limits." path " if value_json.limits.valid else None }}"

static const ent_t k_fixed[] = {
    {"sensor", "pack_voltage", "Pack voltage", "voltage", "measurement", "V", NUM("bms.pack_voltage_v"), 2, F_BMS, NULL},
    {"sensor", "pack_current", "Pack current", "current", "measurement", "A", NUM("bms.pack_current_a"), 1, F_BMS, NULL},
    {"sensor", "power", "Power", "power", "measurement", "W", NUM("bms.power_w"), 0, F_BMS, NULL},
    {"sensor", "soc", "State of charge", "battery", "measurement", "%", NUM("bms.soc_pct"), 1, F_BMS, NULL},
    {"sensor", "soh", "State of health", NULL, "measurement", "%", NUM("bms.soh_pct"), 0, F_BMS | F_DIAG,
     "mdi:battery-heart-variant"},
    {"sensor", "temperature_internal", "BMS temperature", "temperature", "measurement", "\xc2\xb0" "C",
     TEMP("internal"), 1, F_BMS, NULL},
    {"sensor", "temperature_1", "Temperature 1", "temperature", "measurement", "\xc2\xb0" "C",
     TEMP("external_1"), 1, F_BMS, NULL},
    {"sensor", "temperature_2", "Temperature 2", "temperature", "measurement", "\xc2\xb0" "C",
     TEMP("external_2"), 1, F_BMS, NULL},
    {"sensor", "cell_min", "Lowest cell voltage", "voltage", "measurement", "V", NUM("bms.min_cell_v"), 3, F_BMS, NULL},
    {"sensor", "cell_max", "Highest cell voltage", "voltage", "measurement", "V", NUM("bms.max_cell_v"), 3, F_BMS, NULL},
    {"sensor", "cell_spread", "Cell voltage spread", "voltage", "measurement", "mV",
     "{{ (value_json.bms.cell_spread_v * 1000) | round(0) if value_json.bms.cell_spread_v is number else None }}", 0,
     F_BMS, "mdi:align-vertical-distribute"},
    {"sensor", "bms_status", "BMS status", NULL, NULL, NULL, NUM("bms.status"), -1, F_BMS | F_DIAG, "mdi:battery-sync"},
    {"sensor", "cvl", "Charge voltage limit", "voltage", "measurement", "V", LIMIT("cvl_v"), 2, 0, NULL},
    {"sensor", "ccl", "Charge current limit", "current", "measurement", "A", LIMIT("ccl_a"), 1, 0, NULL},
    {"sensor", "dcl", "Discharge current limit", "current", "measurement", "A", LIMIT("dcl_a"), 1, 0, NULL},
    {"sensor", "charge_state", "Charge state", "enum", NULL, NULL, NUM("limits.state"), -1, F_ENUM_STATE, "mdi:battery-charging"},
    {"sensor", "charge_reason", "Charge limit reason", NULL, NULL, NULL, "{{ value_json.limits.reason[:250] }}", -1,
     F_DIAG, "mdi:information-outline"},
    {"sensor", "energy_charged", "Energy charged", "energy", "total_increasing", "kWh",
     "{{ (value_json.energy.charged_wh / 1000) | round(3) if value_json.energy.charged_wh is number else None }}", 3, 0,
     NULL},
    {"sensor", "energy_discharged", "Energy discharged", "energy", "total_increasing", "kWh",
     "{{ (value_json.energy.discharged_wh / 1000) | round(3) if value_json.energy.discharged_wh is number else None }}", 3,
     0, NULL},
    {"binary_sensor", "bms_link", "BMS link", "connectivity", NULL, NULL, "{{ 'ON' if value_json.link.up else 'OFF' }}", -1,
     F_DIAG, NULL},
    {"binary_sensor", "gx", "Victron GX", "connectivity", NULL, NULL, "{{ 'ON' if value_json.gx.present else 'OFF' }}", -1,
     F_DIAG, NULL},
};
#define N_FIXED (sizeof k_fixed / sizeof k_fixed[0])

/* Alarm categories that get a binary sensor: the ones this gateway evaluates for a TinyBMS
 * (general, contactor and short circuit are always "unsupported", see core/alarms.c). */
static bool alarm_has_entity(unsigned cat)
{
    return cat != ALARM_GENERAL && cat != ALARM_CONTACTOR && cat != ALARM_SHORT_CIRCUIT;
}

typedef struct {
    const char *component;
    const char *object;
    const char *name;
    const char *cmd;          /* topic suffix under <base>/cmd/ */
    const char *device_class; /* button: restart / NULL */
} cmd_ent_t;

static const cmd_ent_t k_cmds[] = {
    {"button", "bms_reset", "Restart BMS", "bms/reset", "restart"},
    {"button", "bms_clear_events", "Clear BMS events", "bms/clear_events", NULL},
    {"button", "bms_clear_stats", "Clear BMS statistics", "bms/clear_stats", NULL},
    {"switch", "can_shadow", "CAN listen-only", "can/shadow", NULL},
};
#define N_CMDS (sizeof k_cmds / sizeof k_cmds[0])

#define SLOT_CELL0 N_FIXED
#define SLOT_ALARM0 (SLOT_CELL0 + BMS_MAX_CELLS)
#define SLOT_CMD0 (SLOT_ALARM0 + ALARM_COUNT)
#define N_SLOTS (SLOT_CMD0 + N_CMDS)
_Static_assert(N_SLOTS <= MQTT_HA_SLOTS_MAX, "MQTT_HA_SLOTS_MAX too small");

size_t mqtt_ha_slots(void)
{
    return N_SLOTS;
}

mqtt_ha_want_t mqtt_ha_wanted(const mqtt_ha_device_t *d, size_t slot)
{
    if (slot >= N_SLOTS || !d->enabled) {
        return MQTT_HA_NO;
    }
    if (slot < SLOT_CELL0) {
        return MQTT_HA_YES;
    }
    if (slot < SLOT_ALARM0) {
        if (d->cell_count == 0u) {
            return MQTT_HA_UNKNOWN;
        }
        return slot - SLOT_CELL0 < d->cell_count ? MQTT_HA_YES : MQTT_HA_NO;
    }
    if (slot < SLOT_CMD0) {
        return alarm_has_entity((unsigned)(slot - SLOT_ALARM0)) ? MQTT_HA_YES : MQTT_HA_NO;
    }
    return d->commands ? MQTT_HA_YES : MQTT_HA_NO;
}

/* component and object id of a slot; object written to obj (cap >= 32) */
static const char *slot_names(size_t slot, char *obj, size_t cap)
{
    if (slot < SLOT_CELL0) {
        snprintf(obj, cap, "%s", k_fixed[slot].object);
        return k_fixed[slot].component;
    }
    if (slot < SLOT_ALARM0) {
        snprintf(obj, cap, "cell_%02u", (unsigned)(slot - SLOT_CELL0 + 1u));
        return "sensor";
    }
    if (slot < SLOT_CMD0) {
        snprintf(obj, cap, "alarm_%s", alarms_category_name((alarm_id_t)(slot - SLOT_ALARM0)));
        return "binary_sensor";
    }
    snprintf(obj, cap, "%s", k_cmds[slot - SLOT_CMD0].object);
    return k_cmds[slot - SLOT_CMD0].component;
}

int mqtt_ha_topic(const mqtt_ha_device_t *d, size_t slot, char *out, size_t cap)
{
    if (slot >= N_SLOTS) {
        return TB_ERR_ARG;
    }
    char obj[48];
    const char *comp = slot_names(slot, obj, sizeof obj);
    int n = snprintf(out, cap, "%s/%s/%s/%s/config", d->prefix, comp, d->node_id, obj);
    if (n < 0 || (size_t)n >= cap) {
        return TB_ERR_NOSPACE;
    }
    return n;
}

int mqtt_ha_pattern(const mqtt_ha_device_t *d, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/+/%s/+/config", d->prefix, d->node_id);
    if (n < 0 || (size_t)n >= cap) {
        return TB_ERR_NOSPACE;
    }
    return n;
}

int mqtt_ha_match(const mqtt_ha_device_t *d, const char *topic, size_t len)
{
    if (!topic || len >= MQTT_TOPIC_MAX) {
        return -1;
    }
    char t[MQTT_TOPIC_MAX];
    for (size_t i = 0; i < N_SLOTS; i++) {
        int n = mqtt_ha_topic(d, i, t, sizeof t);
        if (n > 0 && (size_t)n == len && memcmp(t, topic, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

bool mqtt_ha_same_topics(const mqtt_ha_device_t *a, const mqtt_ha_device_t *b)
{
    return strcmp(a->prefix, b->prefix) == 0 && strcmp(a->node_id, b->node_id) == 0;
}

bool mqtt_ha_device_equal(const mqtt_ha_device_t *a, const mqtt_ha_device_t *b)
{
    return mqtt_ha_same_topics(a, b) && strcmp(a->base, b->base) == 0 && strcmp(a->name, b->name) == 0 &&
           strcmp(a->model, b->model) == 0 && strcmp(a->sw_version, b->sw_version) == 0 &&
           strcmp(a->hw_version, b->hw_version) == 0 && strcmp(a->serial, b->serial) == 0 &&
           strcmp(a->config_url, b->config_url) == 0 && strcmp(a->gw_version, b->gw_version) == 0 &&
           a->cell_count == b->cell_count && a->enabled == b->enabled && a->commands == b->commands;
}

/* ---- documents ------------------------------------------------------------------------------ */

static void topic_kv(jw_t *w, const char *key, const mqtt_ha_device_t *d, const char *suffix)
{
    char t[MQTT_TOPIC_MAX + 64];
    int n = snprintf(t, sizeof t, "%s/%s", d->base, suffix);
    if (n < 0 || (size_t)n >= sizeof t) {
        w->bad = true; /* never publish a document with a cut topic */
        return;
    }
    jw_kv_str(w, key, t);
}

static void common_head(jw_t *w, const mqtt_ha_device_t *d, const char *obj, const char *name)
{
    char uid[MQTT_DEVICE_ID_MAX + 72];
    snprintf(uid, sizeof uid, "%s_%s", d->node_id, obj);
    jw_kv_str(w, "name", name);
    jw_kv_str(w, "unique_id", uid);
}

static void common_tail(jw_t *w, const mqtt_ha_device_t *d, bool bms_data)
{
    jw_key(w, "availability");
    jw_arr_begin(w);
    jw_obj_begin(w);
    topic_kv(w, "topic", d, "availability");
    jw_kv_str(w, "payload_available", "online");
    jw_kv_str(w, "payload_not_available", "offline");
    jw_obj_end(w);
    if (bms_data) {
        jw_obj_begin(w);
        topic_kv(w, "topic", d, "state");
        jw_kv_str(w, "value_template", "{{ 'online' if value_json.limits.data == 'fresh' else 'offline' }}");
        jw_obj_end(w);
    }
    jw_arr_end(w);
    if (bms_data) {
        jw_kv_str(w, "availability_mode", "all");
    }
    jw_key(w, "device");
    jw_obj_begin(w);
    jw_key(w, "identifiers");
    jw_arr_begin(w);
    jw_str(w, d->node_id);
    jw_arr_end(w);
    jw_kv_str(w, "name", d->name);
    jw_kv_str(w, "manufacturer", "Energus");
    jw_kv_str(w, "model", d->model);
    jw_kv_str(w, "sw_version", d->sw_version);
    if (d->hw_version[0]) {
        jw_kv_str(w, "hw_version", d->hw_version);
    }
    if (d->serial[0]) {
        jw_kv_str(w, "serial_number", d->serial);
    }
    if (d->config_url[0]) {
        jw_kv_str(w, "configuration_url", d->config_url);
    }
    jw_obj_end(w);
    jw_key(w, "origin");
    jw_obj_begin(w);
    jw_kv_str(w, "name", "tinybms-gateway");
    jw_kv_str(w, "sw_version", d->gw_version);
    jw_obj_end(w);
}

static void fixed_doc(jw_t *w, const mqtt_ha_device_t *d, const ent_t *e)
{
    common_head(w, d, e->object, e->name);
    topic_kv(w, "state_topic", d, "state");
    jw_kv_str(w, "value_template", e->tmpl);
    if (e->device_class) {
        jw_kv_str(w, "device_class", e->device_class);
    }
    if (e->state_class) {
        jw_kv_str(w, "state_class", e->state_class);
    }
    if (e->unit) {
        jw_kv_str(w, "unit_of_measurement", e->unit);
    }
    if (e->precision >= 0) {
        jw_kv_int(w, "suggested_display_precision", e->precision);
    }
    if (e->flags & F_ENUM_STATE) {
        jw_key(w, "options");
        jw_arr_begin(w);
        for (unsigned s = 0; s < CHG_STATE_COUNT; s++) {
            jw_str(w, chg_state_name((chg_state_t)s));
        }
        jw_arr_end(w);
    }
    if (e->icon) {
        jw_kv_str(w, "icon", e->icon);
    }
    if (e->flags & F_DIAG) {
        jw_kv_str(w, "entity_category", "diagnostic");
    }
    common_tail(w, d, (e->flags & F_BMS) != 0u);
}

static void cell_doc(jw_t *w, const mqtt_ha_device_t *d, unsigned idx /* 0-based */)
{
    char obj[16], name[32], tmpl[200];
    snprintf(obj, sizeof obj, "cell_%02u", idx + 1u);
    snprintf(name, sizeof name, "Cell %u voltage", idx + 1u);
    snprintf(tmpl, sizeof tmpl,
             "{{ value_json.bms.cells_v[%u] if value_json.bms.cells_v is defined and value_json.bms.cells_v | length > "
             "%u else None }}",
             idx, idx);
    common_head(w, d, obj, name);
    topic_kv(w, "state_topic", d, "state");
    jw_kv_str(w, "value_template", tmpl);
    jw_kv_str(w, "device_class", "voltage");
    jw_kv_str(w, "state_class", "measurement");
    jw_kv_str(w, "unit_of_measurement", "V");
    jw_kv_int(w, "suggested_display_precision", 3);
    common_tail(w, d, true);
}

static void alarm_doc(jw_t *w, const mqtt_ha_device_t *d, unsigned cat)
{
    const char *cn = alarms_category_name((alarm_id_t)cat);
    char obj[48], name[64], tmpl[200], attr[120];
    snprintf(obj, sizeof obj, "alarm_%s", cn);
    /* "high_charge_temperature" -> "High charge temperature alarm" */
    size_t n = 0;
    for (; cn[n] && n + 1u < sizeof name - 8u; n++) {
        name[n] = cn[n] == '_' ? ' ' : cn[n];
    }
    if (n >= 4u && memcmp(name, "bms ", 4) == 0) {
        memcpy(name, "BMS", 3);
    } else if (n && name[0] >= 'a' && name[0] <= 'z') {
        name[0] = (char)(name[0] - 'a' + 'A');
    }
    snprintf(name + n, sizeof name - n, " alarm");
    snprintf(tmpl, sizeof tmpl,
             "{%% set l = value_json.alarms.%s %%}{{ 'ON' if l in ('warning', 'alarm') else ('OFF' if l == 'ok' else "
             "None) }}",
             cn);
    snprintf(attr, sizeof attr, "{{ {'level': value_json.alarms.%s} | tojson }}", cn);
    common_head(w, d, obj, name);
    topic_kv(w, "state_topic", d, "state");
    jw_kv_str(w, "value_template", tmpl);
    jw_kv_str(w, "device_class", "problem");
    topic_kv(w, "json_attributes_topic", d, "state");
    jw_kv_str(w, "json_attributes_template", attr);
    common_tail(w, d, false);
}

static void cmd_doc(jw_t *w, const mqtt_ha_device_t *d, const cmd_ent_t *c)
{
    char t[64];
    snprintf(t, sizeof t, "cmd/%s", c->cmd);
    common_head(w, d, c->object, c->name);
    topic_kv(w, "command_topic", d, t);
    if (strcmp(c->component, "switch") == 0) {
        topic_kv(w, "state_topic", d, "state");
        jw_kv_str(w, "value_template", "{{ 'ON' if value_json.can.mode == 'shadow' else 'OFF' }}");
        jw_kv_str(w, "payload_on", "ON");
        jw_kv_str(w, "payload_off", "OFF");
        jw_kv_str(w, "icon", "mdi:ear-hearing");
    } else {
        jw_kv_str(w, "payload_press", "PRESS");
    }
    if (c->device_class) {
        jw_kv_str(w, "device_class", c->device_class);
    }
    jw_kv_str(w, "entity_category", "config");
    common_tail(w, d, false);
}

int mqtt_ha_config(const mqtt_ha_device_t *d, size_t slot, char *out, size_t cap)
{
    if (slot >= N_SLOTS) {
        return TB_ERR_ARG;
    }
    jw_t w;
    jw_init(&w, out, cap);
    jw_obj_begin(&w);
    if (slot < SLOT_CELL0) {
        fixed_doc(&w, d, &k_fixed[slot]);
    } else if (slot < SLOT_ALARM0) {
        cell_doc(&w, d, (unsigned)(slot - SLOT_CELL0));
    } else if (slot < SLOT_CMD0) {
        alarm_doc(&w, d, (unsigned)(slot - SLOT_ALARM0));
    } else {
        cmd_doc(&w, d, &k_cmds[slot - SLOT_CMD0]);
    }
    jw_obj_end(&w);
    return jw_finish(&w);
}
