/* libFuzzer harness for MQTT commands (app/mqtt_cmd): topic suffix + payload from anyone who can
 * publish to the broker, and the discovery topic matcher (app/mqtt_ha) fed with broker topics.
 *
 * Input: "<topic suffix>\n<payload>" (any bytes in either part), or without a newline the first
 * byte picks one of the known command topics and the rest is the payload.
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - the parser returns a defined code, and a reason with every refusal; payloads above
 *     MQTT_CMD_PAYLOAD_MAX are always refused as too large;
 *   - an accepted command is fully valid: a known kind; for bms/set a register name of 1..63
 *     printable ASCII bytes without spaces and a finite value; the id, when present, is a JSON
 *     string or integer that cJSON reads back;
 *   - parsing is deterministic and the mapping onto gw_cmd_t gives the type/option the owner
 *     validates (the same path as the web API);
 *   - the result document (with the refusal reason or the owner's JSON result) is valid JSON;
 *   - the discovery matcher returns -1 or the slot whose topic is exactly the input.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/mqtt_cmd.h"
#include "app/mqtt_ha.h"
#include "core/tb_err.h"
#include "core/tb_proto.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

static void check_json_object(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL && cJSON_IsObject(j));
    cJSON_Delete(j);
}

static void check_accepted(const mqtt_cmd_req_t *r)
{
    CHECK((unsigned)r->kind < (unsigned)MQTT_CMD_KIND_COUNT);
    if (r->id_json[0]) {
        cJSON *id = cJSON_Parse(r->id_json);
        CHECK(id != NULL && (cJSON_IsString(id) || cJSON_IsNumber(id)));
        cJSON_Delete(id);
    }
    static gw_cmd_t c;
    memset(&c, 0x5A, sizeof c);
    mqtt_cmd_to_gw(r, &c);
    CHECK(strcmp(c.source, "mqtt") == 0 && c.result[0] == '\0' && c.message[0] == '\0');
    switch (r->kind) {
    case MQTT_CMD_BMS_SET: {
        size_t n = strnlen(r->name, sizeof r->name);
        CHECK(n > 0u && n < sizeof r->name);
        for (size_t i = 0; i < n; i++) {
            CHECK(r->name[i] > 0x20 && r->name[i] < 0x7F);
        }
        CHECK(isfinite(r->value));
        CHECK(c.type == GW_CMD_BMS_WRITE && strcmp(c.name, r->name) == 0);
        break;
    }
    case MQTT_CMD_BMS_RESET:
        CHECK(c.type == GW_CMD_BMS_RESET && c.option == TB_RESET_BMS);
        break;
    case MQTT_CMD_BMS_CLEAR_EVENTS:
        CHECK(c.type == GW_CMD_BMS_RESET && c.option == TB_RESET_CLEAR_EVENTS);
        break;
    case MQTT_CMD_BMS_CLEAR_STATS:
        CHECK(c.type == GW_CMD_BMS_RESET && c.option == TB_RESET_CLEAR_STATS);
        break;
    case MQTT_CMD_CAN_SHADOW:
        CHECK(c.type == GW_CMD_CAN_SHADOW && c.flag == r->on);
        break;
    default:
        CHECK(0);
    }
}

static void check_topic_match(const char *t, size_t n)
{
    mqtt_ha_device_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.prefix, sizeof d.prefix, "homeassistant");
    snprintf(d.node_id, sizeof d.node_id, "tinybms_x");
    int slot = mqtt_ha_match(&d, t, n);
    if (slot >= 0) {
        char topic[MQTT_TOPIC_MAX];
        int k = mqtt_ha_topic(&d, (size_t)slot, topic, sizeof topic);
        CHECK(k > 0 && (size_t)k == n && memcmp(topic, t, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const topics[] = {"bms/reset", "bms/clear_events", "bms/clear_stats", "bms/set", "can/shadow",
                                         "result"};
    const char *sub;
    size_t sub_len;
    const uint8_t *payload;
    size_t len;
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    if (nl) {
        sub = (const char *)data;
        sub_len = (size_t)(nl - data);
        payload = nl + 1;
        len = size - sub_len - 1u;
    } else {
        sub = size ? topics[data[0] % 6u] : topics[0];
        sub_len = strlen(sub);
        payload = size ? data + 1 : data;
        len = size ? size - 1u : 0u;
    }
    mqtt_cmd_req_t a, b;
    const char *why = NULL, *why2 = NULL;
    int rc = mqtt_cmd_parse(sub, sub_len, payload, len, &a, &why);
    CHECK(rc == TB_OK || rc == TB_ERR_NOTFOUND || rc == TB_ERR_TOO_LARGE || rc == TB_ERR_FORMAT);
    int rc2 = mqtt_cmd_parse(sub, sub_len, payload, len, &b, &why2);
    CHECK(rc2 == rc && memcmp(&a, &b, sizeof a) == 0);
    if (len > MQTT_CMD_PAYLOAD_MAX) {
        CHECK(rc == TB_ERR_TOO_LARGE);
    }
    static char out[MQTT_CMD_RESULT_MAX];
    if (rc == TB_OK) {
        check_accepted(&a);
        CHECK(mqtt_cmd_result_json(out, sizeof out, a.id_json, mqtt_cmd_topic(a.kind), 0, 200, "done",
                                   "{\"register\":\"x\",\"new\":1}") > 0);
    } else {
        CHECK(why != NULL && why == why2);
        if (a.id_json[0]) {
            cJSON *id = cJSON_Parse(a.id_json);
            CHECK(id != NULL);
            cJSON_Delete(id);
        }
        CHECK(mqtt_cmd_result_json(out, sizeof out, a.id_json,
                                   a.kind < MQTT_CMD_KIND_COUNT ? mqtt_cmd_topic(a.kind) : NULL, rc, 400, why, NULL) > 0);
    }
    check_json_object(out);
    check_topic_match((const char *)data, size);
    return 0;
}
