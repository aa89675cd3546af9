#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "app/mqtt_cmd.h"
#include "core/tb_err.h"
#include "core/tb_proto.h"

static int parse(const char *sub, const char *payload, mqtt_cmd_req_t *r, const char **why)
{
    return mqtt_cmd_parse(sub, strlen(sub), (const uint8_t *)payload, strlen(payload), r, why);
}

/* Every documented form is accepted and mapped onto the same gw_cmd_t as the web API uses. */
static void accepted_forms(void **state)
{
    (void)state;
    mqtt_cmd_req_t r;
    const char *why = NULL;
    static gw_cmd_t c;

    assert_int_equal(parse("bms/reset", "", &r, &why), TB_OK);
    assert_int_equal(r.kind, MQTT_CMD_BMS_RESET);
    assert_string_equal(r.id_json, "");
    mqtt_cmd_to_gw(&r, &c);
    assert_int_equal(c.type, GW_CMD_BMS_RESET);
    assert_int_equal(c.option, TB_RESET_BMS);
    assert_string_equal(c.source, "mqtt");

    assert_int_equal(parse("bms/reset", "PRESS", &r, &why), TB_OK);
    assert_int_equal(parse("bms/reset", " press\n", &r, &why), TB_OK);
    assert_int_equal(parse("bms/clear_events", "{\"id\":\"abc-1\"}", &r, &why), TB_OK);
    assert_int_equal(r.kind, MQTT_CMD_BMS_CLEAR_EVENTS);
    assert_string_equal(r.id_json, "\"abc-1\"");
    mqtt_cmd_to_gw(&r, &c);
    assert_int_equal(c.option, TB_RESET_CLEAR_EVENTS);
    assert_int_equal(parse("bms/clear_stats", "{\"id\":42}", &r, &why), TB_OK);
    assert_string_equal(r.id_json, "42");
    mqtt_cmd_to_gw(&r, &c);
    assert_int_equal(c.type, GW_CMD_BMS_RESET);
    assert_int_equal(c.option, TB_RESET_CLEAR_STATS);

    assert_int_equal(parse("bms/set", "{\"name\":\"over_voltage_cutoff\",\"value\":3.65,\"id\":7}", &r, &why), TB_OK);
    assert_int_equal(r.kind, MQTT_CMD_BMS_SET);
    assert_string_equal(r.name, "over_voltage_cutoff");
    assert_true(r.value > 3.6499 && r.value < 3.6501);
    mqtt_cmd_to_gw(&r, &c);
    assert_int_equal(c.type, GW_CMD_BMS_WRITE);
    assert_string_equal(c.name, "over_voltage_cutoff");

    static const struct {
        const char *p;
        bool on;
    } sh[] = {{"ON", true},          {"off", false},           {"true", true},         {"FALSE", false},
              {"{\"on\":true}", true}, {" {\"on\": false} ", false}, {"{\"on\":true,\"id\":\"x\"}", true}};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
        assert_int_equal(parse("can/shadow", sh[i].p, &r, &why), TB_OK);
        assert_int_equal(r.on, sh[i].on);
        mqtt_cmd_to_gw(&r, &c);
        assert_int_equal(c.type, GW_CMD_CAN_SHADOW);
        assert_int_equal(c.flag, sh[i].on);
    }
}

/* Malformed input is refused with a reason, the id kept when it could be read. */
static void refused_forms(void **state)
{
    (void)state;
    mqtt_cmd_req_t r;
    const char *why = NULL;
    static const struct {
        const char *sub, *payload;
        int rc;
    } bad[] = {
        {"bms/explode", "", TB_ERR_NOTFOUND},
        {"bms", "", TB_ERR_NOTFOUND},
        {"result", "", TB_ERR_NOTFOUND},
        {"bms/reset", "yes", TB_ERR_FORMAT},
        {"bms/reset", "{\"force\":true}", TB_ERR_FORMAT},
        {"bms/reset", "{\"id\":{}}", TB_ERR_FORMAT},
        {"bms/reset", "{\"id\":1.5}", TB_ERR_FORMAT},
        {"bms/reset", "{\"id\":\"\"}", TB_ERR_FORMAT},
        {"bms/reset", "[1]", TB_ERR_FORMAT},
        {"bms/reset", "{", TB_ERR_FORMAT},
        {"bms/reset", "{}x", TB_ERR_FORMAT},
        {"bms/set", "", TB_ERR_FORMAT},
        {"bms/set", "{}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"x\"}", TB_ERR_FORMAT},
        {"bms/set", "{\"value\":1}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"x\",\"value\":\"1\"}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"x\",\"value\":1e999}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"\",\"value\":1}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"a b\",\"value\":1}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"x\",\"value\":1,\"extra\":1}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":\"x\",\"value\":1,\"value\":2}", TB_ERR_FORMAT},
        {"bms/set", "{\"name\":1,\"value\":1}", TB_ERR_FORMAT},
        {"can/shadow", "", TB_ERR_FORMAT},
        {"can/shadow", "maybe", TB_ERR_FORMAT},
        {"can/shadow", "{\"on\":1}", TB_ERR_FORMAT},
        {"can/shadow", "{}", TB_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        int rc = parse(bad[i].sub, bad[i].payload, &r, &why);
        if (rc != bad[i].rc) {
            fail_msg("%s %s: rc %d, want %d", bad[i].sub, bad[i].payload, rc, bad[i].rc);
        }
        assert_non_null(why);
    }
    /* the id survives a refusal, for the error reply */
    assert_int_equal(parse("bms/set", "{\"id\":\"req-9\",\"name\":\"x\"}", &r, &why), TB_ERR_FORMAT);
    assert_string_equal(r.id_json, "\"req-9\"");
    assert_int_equal(parse("bms/nothing", "{\"id\":5}", &r, &why), TB_ERR_NOTFOUND);
    assert_string_equal(r.id_json, "5");
    assert_int_equal(r.kind, MQTT_CMD_KIND_COUNT);

    /* size, NUL bytes, non-ASCII names */
    static uint8_t big[MQTT_CMD_PAYLOAD_MAX + 1];
    memset(big, ' ', sizeof big);
    assert_int_equal(mqtt_cmd_parse("bms/reset", 9, big, sizeof big, &r, &why), TB_ERR_TOO_LARGE);
    static const uint8_t nul[] = {'{', '}', 0};
    assert_int_equal(mqtt_cmd_parse("bms/reset", 9, nul, sizeof nul, &r, &why), TB_ERR_FORMAT);
    const char *utf = "{\"name\":\"caf\xc3\xa9\",\"value\":1}";
    assert_int_equal(parse("bms/set", utf, &r, &why), TB_ERR_FORMAT);
    /* the topic is compared by length, not up to a NUL */
    assert_int_equal(mqtt_cmd_parse("bms/resetX", 9, NULL, 0, &r, &why), TB_OK);
    assert_int_equal(mqtt_cmd_parse("bms/rese", 8, NULL, 0, &r, &why), TB_ERR_NOTFOUND);
}

/* The result document is valid JSON in every combination. */
static void result_json(void **state)
{
    (void)state;
    char buf[MQTT_CMD_RESULT_MAX];
    int n = mqtt_cmd_result_json(buf, sizeof buf, "\"r1\"", "bms/set", 0, 200, "over_voltage_cutoff written",
                                 "{\"register\":\"over_voltage_cutoff\",\"new\":3.65}");
    assert_true(n > 0);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "r1");
    assert_string_equal(cJSON_GetObjectItem(j, "command")->valuestring, "bms/set");
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "ok");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "result")));
    cJSON_Delete(j);

    n = mqtt_cmd_result_json(buf, sizeof buf, "", NULL, TB_ERR_FORMAT, 400, "bad \"quote\"\n", NULL);
    assert_true(n > 0);
    j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "command")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "result")));
    assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring, "bad \"quote\"\n");
    assert_int_equal(cJSON_GetObjectItem(j, "rc")->valueint, TB_ERR_FORMAT);
    cJSON_Delete(j);
    assert_true(mqtt_cmd_result_json(buf, 20, "", NULL, 0, 200, "x", NULL) < 0);
    assert_string_equal(mqtt_cmd_topic(MQTT_CMD_CAN_SHADOW), "can/shadow");
    assert_string_equal(mqtt_cmd_topic(MQTT_CMD_KIND_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_forms),
        cmocka_unit_test(refused_forms),
        cmocka_unit_test(result_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
