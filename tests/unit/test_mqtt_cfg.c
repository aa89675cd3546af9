#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "app/mqtt_cfg.h"
#include "app/mqtt_id.h"
#include "core/tb_err.h"

static char g_buf[256 * 1024];

/* Defaults: off, commands off, discovery on, base topic with the placeholder; all valid. */
static void defaults(void **state)
{
    (void)state;
    gw_config_t c;
    gw_config_defaults(&c);
    assert_false(c.mqtt.enabled);
    assert_false(c.mqtt.commands);
    assert_true(c.mqtt.discovery);
    assert_false(c.mqtt.tls);
    assert_string_equal(c.mqtt.base_topic, "tinybms/{device_id}");
    assert_string_equal(c.mqtt.discovery_prefix, "homeassistant");
    assert_int_equal(c.mqtt.port, 1883);
    assert_int_equal(c.mqtt.qos, 1);
    assert_int_equal(c.mqtt.state_interval_s, 5);
    cfg_diag_t d;
    assert_int_equal(gw_config_check(&c, &d), TB_OK);
}

static int apply(gw_config_t *c, const char *json, cfg_diag_t *d)
{
    return gw_config_apply_json(c, json, strlen(json), 0, d);
}

/* Keys load from JSON; bad values are refused with the key named; nothing half-applied matters
 * because the caller keeps the copy only on TB_OK. */
static void load_and_refuse(void **state)
{
    (void)state;
    gw_config_t c;
    cfg_diag_t d;
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"mqtt\":{\"enabled\":true,\"host\":\"broker.lan\",\"port\":8883,\"tls\":true,"
                               "\"ca_file\":\"/etc/ca.pem\",\"username\":\"gw\",\"password\":\"s3cret\","
                               "\"base_topic\":\"home/battery/{device_id}\",\"commands\":true}}",
                           &d),
                     TB_OK);
    assert_true(c.mqtt.enabled);
    assert_string_equal(c.mqtt.password, "s3cret");
    assert_int_equal(c.mqtt.port, 8883);

    static const struct {
        const char *json, *key;
    } bad[] = {
        {"{\"mqtt\":{\"port\":0}}", "mqtt.port"},
        {"{\"mqtt\":{\"port\":70000}}", "mqtt.port"},
        {"{\"mqtt\":{\"qos\":3}}", "mqtt.qos"},
        {"{\"mqtt\":{\"keepalive_s\":2}}", "mqtt.keepalive_s"},
        {"{\"mqtt\":{\"state_interval_s\":0}}", "mqtt.state_interval_s"},
        {"{\"mqtt\":{\"base_topic\":\"a/+/b\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"a/#\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"/a\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"a/\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"a//b\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"a b\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"$SYS/x\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"{device_id}/{device_id}\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"base_topic\":\"\"}}", "mqtt.base_topic"},
        {"{\"mqtt\":{\"discovery_prefix\":\"home+assistant\"}}", "mqtt.discovery_prefix"},
        {"{\"mqtt\":{\"web_url\":\"ftp://x\"}}", "mqtt.web_url"},
        {"{\"mqtt\":{\"web_url\":\"http://a b/\"}}", "mqtt.web_url"},
        {"{\"mqtt\":{\"enabled\":true,\"host\":\"\"}}", "mqtt.host"},
        {"{\"mqtt\":{\"host\":\"bad host\"}}", "mqtt.host"},
        {"{\"mqtt\":{\"client_id\":\"a b\"}}", "mqtt.client_id"},
        {"{\"mqtt\":{\"enabled\":\"yes\"}}", "mqtt.enabled"},
        {"{\"mqtt\":{\"nope\":1}}", "mqtt.nope"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_config_t t;
        gw_config_defaults(&t);
        int rc = apply(&t, bad[i].json, &d);
        if (rc == TB_OK) {
            fail_msg("accepted %s", bad[i].json);
        }
        assert_string_equal(d.key, bad[i].key);
    }
}

/* The password is written to the file but never to API output; "" from the API keeps it. */
static void secret_password(void **state)
{
    (void)state;
    gw_config_t c;
    cfg_diag_t d;
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"mqtt\":{\"password\":\"hunter2\"}}", &d), TB_OK);
    assert_true(gw_config_to_json(&c, g_buf, sizeof g_buf, 0) > 0);
    assert_null(strstr(g_buf, "hunter2"));
    assert_null(strstr(g_buf, "\"password\""));
    assert_true(gw_config_to_json(&c, g_buf, sizeof g_buf, GW_CFG_OUT_SECRETS) > 0);
    assert_non_null(strstr(g_buf, "hunter2"));
    const char *keep = "{\"mqtt\":{\"password\":\"\"}}";
    assert_int_equal(gw_config_apply_json(&c, keep, strlen(keep), GW_CFG_SECRETS_KEEP_EMPTY, &d), TB_OK);
    assert_string_equal(c.mqtt.password, "hunter2");
}

/* Only connection parameters count as a connection change. */
static void conn_equal(void **state)
{
    (void)state;
    gw_config_t a, b;
    gw_config_defaults(&a);
    b = a;
    assert_true(mqtt_cfg_conn_equal(&a.mqtt, &b.mqtt));
    b.mqtt.state_interval_s = 60;
    b.mqtt.discovery = false;
    b.mqtt.commands = true;
    b.mqtt.change_current_a = 5;
    b.mqtt.change_cvl_v = 1;
    b.mqtt.change_soc_pct = 0;
    snprintf(b.mqtt.discovery_prefix, sizeof b.mqtt.discovery_prefix, "ha");
    snprintf(b.mqtt.web_url, sizeof b.mqtt.web_url, "http://x/");
    assert_true(mqtt_cfg_conn_equal(&a.mqtt, &b.mqtt));
#define CHANGED(stmt)                                   \
    do {                                                \
        b = a;                                          \
        stmt;                                           \
        assert_false(mqtt_cfg_conn_equal(&a.mqtt, &b.mqtt)); \
    } while (0)
    CHANGED(b.mqtt.enabled = true);
    CHANGED(b.mqtt.port = 1884);
    CHANGED(b.mqtt.tls = true);
    CHANGED(b.mqtt.keepalive_s = 60);
    CHANGED(b.mqtt.qos = 0);
    CHANGED(snprintf(b.mqtt.host, sizeof b.mqtt.host, "other"));
    CHANGED(snprintf(b.mqtt.password, sizeof b.mqtt.password, "x"));
    CHANGED(snprintf(b.mqtt.username, sizeof b.mqtt.username, "x"));
    CHANGED(snprintf(b.mqtt.client_id, sizeof b.mqtt.client_id, "x"));
    CHANGED(snprintf(b.mqtt.ca_file, sizeof b.mqtt.ca_file, "/x"));
    CHANGED(snprintf(b.mqtt.base_topic, sizeof b.mqtt.base_topic, "x/y"));
#undef CHANGED
}

static void topic_syntax(void **state)
{
    (void)state;
    assert_true(mqtt_topic_valid("tinybms/abc", 100));
    assert_true(mqtt_topic_valid("a", 100));
    assert_false(mqtt_topic_valid("", 100));
    assert_false(mqtt_topic_valid("abc", 2));
    assert_false(mqtt_topic_valid("a\tb", 100));
    assert_false(mqtt_topic_valid("a\x80", 100));
}

/* Ids, base topics and the web UI address. */
static void ids(void **state)
{
    (void)state;
    char out[MQTT_TOPIC_MAX];
    assert_int_equal(mqtt_slug("My Battery #1", out, sizeof out), 13);
    assert_string_equal(out, "My_Battery__1");
    assert_int_equal(mqtt_slug("", out, sizeof out), TB_ERR_ARG);
    assert_int_equal(mqtt_slug("abcdef", out, 4), 3);
    assert_string_equal(out, "abc");

    uint16_t serial[6] = {0x6e6c, 0xcda8, 0xfd24, 0x5bd0, 0x9027, 0xd345};
    assert_int_equal(mqtt_id_from_serial(serial, out, sizeof out), 24);
    assert_string_equal(out, "6e6ccda8fd245bd09027d345");
    uint16_t zero[6] = {0}, ones[6] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    assert_int_equal(mqtt_id_from_serial(zero, out, sizeof out), TB_ERR_ARG);
    assert_int_equal(mqtt_id_from_serial(ones, out, sizeof out), TB_ERR_ARG);
    assert_int_equal(mqtt_id_from_serial(serial, out, 10), TB_ERR_NOSPACE);

    assert_true(mqtt_base_resolve("tinybms/{device_id}", "abc", out, sizeof out) > 0);
    assert_string_equal(out, "tinybms/abc");
    assert_true(mqtt_base_resolve("x/{device_id}/y", "abc", out, sizeof out) > 0);
    assert_string_equal(out, "x/abc/y");
    assert_true(mqtt_base_resolve("fixed/topic", "abc", out, sizeof out) > 0);
    assert_string_equal(out, "fixed/topic");
    assert_int_equal(mqtt_base_resolve("tinybms/{device_id}", "abc", out, 8), TB_ERR_NOSPACE);

    assert_true(mqtt_web_url("", "0.0.0.0:8080", "pi", out, sizeof out) > 0);
    assert_string_equal(out, "http://pi:8080/");
    assert_true(mqtt_web_url("", "192.168.1.5:80", "pi", out, sizeof out) > 0);
    assert_string_equal(out, "http://192.168.1.5:80/");
    assert_true(mqtt_web_url("", "[::]:8080", "pi", out, sizeof out) > 0);
    assert_string_equal(out, "http://pi:8080/");
    assert_true(mqtt_web_url("", "::1:8080", "pi", out, sizeof out) > 0);
    assert_string_equal(out, "http://[::1]:8080/");
    assert_true(mqtt_web_url("https://bms.example/", "0.0.0.0:8080", "pi", out, sizeof out) > 0);
    assert_string_equal(out, "https://bms.example/");
    assert_int_equal(mqtt_web_url("", "0.0.0.0:8080", "", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(mqtt_web_url("", "nonsense", "pi", out, sizeof out), 0);
    assert_int_equal(mqtt_web_url("", "1.2.3.4:http", "pi", out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),       cmocka_unit_test(load_and_refuse), cmocka_unit_test(secret_password),
        cmocka_unit_test(conn_equal),     cmocka_unit_test(topic_syntax),    cmocka_unit_test(ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
