/* MQTT's scratch buffers against their largest documents. The firmware builds app/ with smaller
 * MQTT_HA_DOC_MAX and MQTT_PUB_ALARMS_MAX (ports/esp-idf/components/tinybms_app/CMakeLists.txt,
 * passed here as FW_MQTT_HA_DOC_MAX and FW_MQTT_PUB_ALARMS_MAX) to save RAM:
 *  - the alarms document has no free text (category, level and reason names, the longest TinyBMS
 *    event name, counts): its largest possible rendering must fit both values;
 *  - every discovery document of a 16-cell device with commands, with every string field of
 *    mqtt_ha_device_t filled to its array's length with plain characters, must fit both values.
 *    Strings made of characters JSON escapes (quotes, control characters) can make a document
 *    larger than either; such a document is refused, never cut (test_mqtt_ha.c,
 *    no_truncated_documents). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/bms_json.h"
#include "app/gw_view.h"
#include "app/mqtt_ha.h"
#include "app/mqtt_pub.h"
#include "core/jw.h"

#ifndef FW_MQTT_HA_DOC_MAX
#error "FW_MQTT_HA_DOC_MAX: the firmware's value, set by tests/CMakeLists.txt"
#endif
#ifndef FW_MQTT_PUB_ALARMS_MAX
#error "FW_MQTT_PUB_ALARMS_MAX: the firmware's value, set by tests/CMakeLists.txt"
#endif

static void fill(char *s, size_t cap)
{
    memset(s, 'x', cap - 1u);
    s[cap - 1u] = '\0';
}

static void largest_discovery_document(void **state)
{
    (void)state;
    mqtt_ha_device_t d;
    memset(&d, 0, sizeof d);
    fill(d.prefix, sizeof d.prefix);
    fill(d.node_id, sizeof d.node_id);
    fill(d.base, sizeof d.base);
    fill(d.name, sizeof d.name);
    fill(d.model, sizeof d.model);
    fill(d.sw_version, sizeof d.sw_version);
    fill(d.hw_version, sizeof d.hw_version);
    fill(d.serial, sizeof d.serial);
    fill(d.config_url, sizeof d.config_url);
    fill(d.gw_version, sizeof d.gw_version);
    d.cell_count = 16;
    d.enabled = true;
    d.commands = true;
    static char doc[16384];
    int largest = 0;
    size_t n_docs = 0;
    for (size_t i = 0; i < mqtt_ha_slots(); i++) {
        int n = mqtt_ha_config(&d, i, doc, sizeof doc);
        assert_true(n > 0 || n == 0); /* a slot may be unused; never an error with room to spare */
        n_docs += n > 0;
        if (n > largest) {
            largest = n;
        }
    }
    printf("largest discovery document: %d bytes of %zu (%u here, %u on the firmware)\n", largest, n_docs,
           (unsigned)MQTT_HA_DOC_MAX, (unsigned)FW_MQTT_HA_DOC_MAX);
    assert_true(n_docs > 40u);
    assert_true((unsigned)largest < FW_MQTT_HA_DOC_MAX);
    assert_true((unsigned)largest < MQTT_HA_DOC_MAX);
}

static void largest_alarms_document(void **state)
{
    (void)state;
    alarms_out_t a;
    memset(&a, 0, sizeof a);
    int level = 0;
    size_t best = 0;
    for (int l = ALARM_LEVEL_OK; l <= ALARM_LEVEL_UNSUPPORTED; l++) {
        size_t k = strlen(alarms_level_name((alarm_level_t)l));
        if (k > best) {
            best = k;
            level = l;
        }
    }
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        a.set.level[i] = (uint8_t)level;
    }
    best = 0;
    for (int r = ALARMS_INTERNAL_NONE; r <= ALARMS_INTERNAL_FAULT_EVENT; r++) {
        size_t k = strlen(alarms_internal_name((alarms_internal_t)r));
        if (k > best) {
            best = k;
            a.internal = (alarms_internal_t)r;
        }
    }
    best = 0;
    for (unsigned e = 1; e < 256u; e++) {
        const char *name = bms_json_event_name((uint8_t)e);
        if (name && strlen(name) > best) {
            best = strlen(name);
            a.fault_event_id = (uint8_t)e;
        }
    }
    a.active_alarms = 255;
    a.active_warnings = 255;
    a.evaluated = true;
    static char buf[8192];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    gw_view_json_alarms(&w, &a);
    int n = jw_finish(&w);
    printf("largest alarms document: %d bytes (%u here, %u on the firmware)\n", n, (unsigned)MQTT_PUB_ALARMS_MAX,
           (unsigned)FW_MQTT_PUB_ALARMS_MAX);
    assert_true(n > 400);
    assert_true((unsigned)n < FW_MQTT_PUB_ALARMS_MAX);
    assert_true((unsigned)n < MQTT_PUB_ALARMS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(largest_discovery_document),
        cmocka_unit_test(largest_alarms_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
