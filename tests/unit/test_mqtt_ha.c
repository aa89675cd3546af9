#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "app/mqtt_ha.h"
#include "core/bms.h"
#include "core/tb_err.h"

static void device(mqtt_ha_device_t *d, uint8_t cells, bool commands)
{
    memset(d, 0, sizeof *d);
    snprintf(d->prefix, sizeof d->prefix, "homeassistant");
    snprintf(d->node_id, sizeof d->node_id, "tinybms_garage");
    snprintf(d->base, sizeof d->base, "tinybms/garage");
    snprintf(d->name, sizeof d->name, "TinyBMS garage");
    snprintf(d->model, sizeof d->model, "TinyBMS s516 (150 A)");
    snprintf(d->sw_version, sizeof d->sw_version, "BMS firmware 1 (build 242), gateway 0.1.0");
    snprintf(d->config_url, sizeof d->config_url, "http://pi:8080/");
    snprintf(d->gw_version, sizeof d->gw_version, "0.1.0");
    d->cell_count = cells;
    d->enabled = true;
    d->commands = commands;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Which unit goes with which device class (Home Assistant's sensor rules). */
static bool unit_ok(const char *dc, const char *unit)
{
    if (!dc) {
        return true;
    }
    static const struct {
        const char *dc, *u1, *u2;
    } t[] = {{"voltage", "V", "mV"}, {"current", "A", "mA"},   {"power", "W", "kW"},
             {"battery", "%", "%"},  {"energy", "Wh", "kWh"}, {"temperature", "\xc2\xb0" "C", "\xc2\xb0" "F"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(dc, t[i].dc) == 0) {
            return unit && (strcmp(unit, t[i].u1) == 0 || strcmp(unit, t[i].u2) == 0);
        }
    }
    return !unit; /* enum, connectivity, problem, restart: no unit */
}

/* Every wanted document is valid, complete and consistent; unique ids are unique; topics map
 * back to their slots. */
static void documents_complete(void **state)
{
    (void)state;
    mqtt_ha_device_t d;
    device(&d, 16, true);
    static char doc[MQTT_HA_DOC_MAX];
    char topic[MQTT_TOPIC_MAX];
    size_t slots = mqtt_ha_slots();
    assert_true(slots <= MQTT_HA_SLOTS_MAX);
    char uids[MQTT_HA_SLOTS_MAX][96];
    size_t wanted = 0, cells = 0, alarms = 0, energy = 0, commands = 0;
    for (size_t i = 0; i < slots; i++) {
        int tn = mqtt_ha_topic(&d, i, topic, sizeof topic);
        assert_true(tn > 0);
        assert_int_equal(mqtt_ha_match(&d, topic, (size_t)tn), (int)i);
        assert_int_equal(strncmp(topic, "homeassistant/", 14), 0);
        assert_non_null(strstr(topic, "/tinybms_garage/"));
        assert_int_equal(strcmp(topic + tn - 7, "/config"), 0);
        if (mqtt_ha_wanted(&d, i) != MQTT_HA_YES) {
            snprintf(uids[i], sizeof uids[i], "-");
            continue;
        }
        wanted++;
        int n = mqtt_ha_config(&d, i, doc, sizeof doc);
        assert_true(n > 0);
        cJSON *j = cJSON_Parse(doc);
        if (!j) {
            fail_msg("slot %zu: invalid JSON: %s", i, doc);
        }
        const char *comp = strchr(topic, '/') + 1;
        assert_non_null(str(j, "name"));
        const char *uid = str(j, "unique_id");
        assert_non_null(uid);
        assert_int_equal(strncmp(uid, "tinybms_garage_", 15), 0);
        snprintf(uids[i], sizeof uids[i], "%s", uid);
        for (size_t k = 0; k < i; k++) {
            assert_string_not_equal(uids[k], uid);
        }
        /* availability: the gateway's, plus the data freshness for BMS measurements */
        const cJSON *av = cJSON_GetObjectItem(j, "availability");
        assert_true(cJSON_IsArray(av) && cJSON_GetArraySize(av) >= 1);
        assert_string_equal(str(cJSON_GetArrayItem(av, 0), "topic"), "tinybms/garage/availability");
        assert_string_equal(str(cJSON_GetArrayItem(av, 0), "payload_available"), "online");
        assert_string_equal(str(cJSON_GetArrayItem(av, 0), "payload_not_available"), "offline");
        if (cJSON_GetArraySize(av) == 2) {
            assert_string_equal(str(j, "availability_mode"), "all");
            assert_string_equal(str(cJSON_GetArrayItem(av, 1), "topic"), "tinybms/garage/state");
            assert_non_null(strstr(str(cJSON_GetArrayItem(av, 1), "value_template"), "limits.data == 'fresh'"));
        }
        const cJSON *dev = cJSON_GetObjectItem(j, "device");
        assert_true(cJSON_IsObject(dev));
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(dev, "identifiers"), 0)->valuestring, "tinybms_garage");
        assert_string_equal(str(dev, "manufacturer"), "Energus");
        assert_string_equal(str(dev, "model"), "TinyBMS s516 (150 A)");
        assert_non_null(str(dev, "sw_version"));
        assert_string_equal(str(dev, "configuration_url"), "http://pi:8080/");
        const char *dc = str(j, "device_class");
        const char *unit = str(j, "unit_of_measurement");
        if (strncmp(comp, "sensor/", 7) == 0 || strncmp(comp, "binary_sensor/", 14) == 0) {
            assert_string_equal(str(j, "state_topic"), "tinybms/garage/state");
            assert_non_null(str(j, "value_template"));
            if (!unit_ok(dc, unit)) {
                fail_msg("slot %zu (%s): device class %s with unit %s", i, uid, dc ? dc : "-", unit ? unit : "-");
            }
        }
        if (dc && strcmp(dc, "energy") == 0) {
            assert_string_equal(str(j, "state_class"), "total_increasing");
            energy++;
        }
        if (dc && strcmp(dc, "enum") == 0) {
            assert_null(str(j, "state_class"));
            assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "options")));
        }
        if (strstr(uid, "_cell_") && strcmp(dc, "voltage") == 0 && !strstr(uid, "cell_min") && !strstr(uid, "cell_max") &&
            !strstr(uid, "spread")) {
            cells++;
            assert_string_equal(str(j, "state_class"), "measurement");
        }
        if (strstr(uid, "_alarm_")) {
            alarms++;
            assert_string_equal(dc, "problem");
        }
        if (str(j, "command_topic")) {
            commands++;
            assert_int_equal(strncmp(str(j, "command_topic"), "tinybms/garage/cmd/", 19), 0);
        }
        cJSON_Delete(j);
    }
    assert_int_equal(cells, 16);
    assert_int_equal(alarms, 10); /* 13 categories minus general, contactor, short circuit */
    assert_int_equal(energy, 2);
    assert_int_equal(commands, 4);
    assert_int_equal(mqtt_ha_match(&d, "homeassistant/sensor/other/pack_voltage/config", 46), -1);
    assert_int_equal(mqtt_ha_topic(&d, slots, topic, sizeof topic), TB_ERR_ARG);
    assert_true(mqtt_ha_topic(&d, 0, topic, 10) < 0);
    printf("%zu slots, %zu wanted with 16 cells and commands\n", slots, wanted);
}

/* Cells follow the cell count; unknown count leaves cells alone; disabled wants nothing. */
static void wanted_sets(void **state)
{
    (void)state;
    mqtt_ha_device_t d;
    char topic[MQTT_TOPIC_MAX];
    size_t slots = mqtt_ha_slots();
    for (unsigned cells = 0; cells <= BMS_MAX_CELLS; cells++) {
        device(&d, (uint8_t)cells, false);
        size_t yes = 0, unknown = 0;
        for (size_t i = 0; i < slots; i++) {
            mqtt_ha_want_t w = mqtt_ha_wanted(&d, i);
            yes += w == MQTT_HA_YES;
            unknown += w == MQTT_HA_UNKNOWN;
            if (w == MQTT_HA_UNKNOWN) {
                mqtt_ha_topic(&d, i, topic, sizeof topic);
                assert_non_null(strstr(topic, "/cell_"));
            }
        }
        assert_int_equal(unknown, cells == 0 ? BMS_MAX_CELLS : 0);
        assert_int_equal(yes, 21 + cells + 10);
    }
    device(&d, 16, true);
    d.enabled = false;
    for (size_t i = 0; i < slots; i++) {
        assert_int_equal(mqtt_ha_wanted(&d, i), MQTT_HA_NO);
    }
    /* a cell entity removed when the cell disappears */
    device(&d, 15, false);
    assert_int_equal(mqtt_ha_match(&d, "homeassistant/sensor/tinybms_garage/cell_16/config", 50) >= 0, 1);
    int s16 = mqtt_ha_match(&d, "homeassistant/sensor/tinybms_garage/cell_16/config", 50);
    assert_int_equal(mqtt_ha_wanted(&d, (size_t)s16), MQTT_HA_NO);
    int s15 = mqtt_ha_match(&d, "homeassistant/sensor/tinybms_garage/cell_15/config", 50);
    assert_int_equal(mqtt_ha_wanted(&d, (size_t)s15), MQTT_HA_YES);

    char pat[MQTT_TOPIC_MAX];
    assert_true(mqtt_ha_pattern(&d, pat, sizeof pat) > 0);
    assert_string_equal(pat, "homeassistant/+/tinybms_garage/+/config");
    mqtt_ha_device_t e = d;
    assert_true(mqtt_ha_device_equal(&d, &e));
    e.cell_count = 16;
    assert_false(mqtt_ha_device_equal(&d, &e));
    assert_true(mqtt_ha_same_topics(&d, &e));
    snprintf(e.prefix, sizeof e.prefix, "ha");
    assert_false(mqtt_ha_same_topics(&d, &e));
}

/* A base topic too long for the documents gives an error, never a document with a cut topic. */
static void no_truncated_documents(void **state)
{
    (void)state;
    mqtt_ha_device_t d;
    device(&d, 16, true);
    memset(d.base, 'x', sizeof d.base - 1u);
    d.base[sizeof d.base - 1u] = '\0';
    static char doc[MQTT_HA_DOC_MAX * 2];
    for (size_t i = 0; i < mqtt_ha_slots(); i++) {
        int n = mqtt_ha_config(&d, i, doc, sizeof doc);
        if (n > 0) {
            cJSON *j = cJSON_Parse(doc);
            assert_non_null(j);
            cJSON_Delete(j);
        }
    }
    device(&d, 16, true);
    assert_true(mqtt_ha_config(&d, 0, doc, 100) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_complete),
        cmocka_unit_test(wanted_sets),
        cmocka_unit_test(no_truncated_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
