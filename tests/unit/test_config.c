#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"

static char g_buf[256 * 1024];

static int apply(gw_config_t *c, const char *json, cfg_diag_t *d)
{
    return gw_config_apply_json(c, json, strlen(json), 0, d);
}

static void defaults_are_valid(void **state)
{
    (void)state;
    gw_config_t c;
    gw_config_defaults(&c);
    cfg_diag_t d;
    assert_int_equal(gw_config_check(&c, &d), TB_OK);
    assert_string_equal(c.gateway.serial_device, "/dev/ttyUSB0");
    assert_int_equal(c.link.live_period_ms, 100);
    assert_int_equal(c.gateway.log_level, 2);
}

static void apply_and_errors_name_the_key(void **state)
{
    (void)state;
    gw_config_t c;
    gw_config_defaults(&c);
    cfg_diag_t d;
    assert_int_equal(apply(&c, "{\"link\": {\"live_period_ms\": 250}, \"gateway\": {\"log_level\": \"debug\"}}", &d), TB_OK);
    assert_int_equal(c.link.live_period_ms, 250);
    assert_int_equal(c.gateway.log_level, 3);

    assert_int_equal(apply(&c, "{\"link\": {\"live_period_ms\": 20}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.key, "link.live_period_ms");
    assert_string_equal(d.message, "link.live_period_ms = 20 is out of range: allowed 50..10000 ms");

    /* float bounds without float artefacts (3.3, not 3.299999952) */
    assert_int_equal(apply(&c, "{\"charge\": {\"cell_bulk_v\": 3.2}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.message, "charge.cell_bulk_v = 3.2 is out of range: allowed 3.3..3.65 V");

    assert_int_equal(apply(&c, "{\"link\": {\"live_period_ms\": 100.5}}", &d), TB_ERR_RANGE);
    assert_non_null(strstr(d.message, "not an integer"));

    assert_int_equal(apply(&c, "{\"link\": {\"no_such\": 1}}", &d), TB_ERR_FORMAT);
    assert_string_equal(d.message, "unknown key 'link.no_such'");
    assert_int_equal(apply(&c, "{\"nosection\": {\"x\": 1}}", &d), TB_ERR_FORMAT);
    assert_string_equal(d.message, "unknown section 'nosection'");
    assert_int_equal(apply(&c, "{\"link\": {\"live_period_ms\": \"fast\"}}", &d), TB_ERR_FORMAT);
    assert_string_equal(d.message, "link.live_period_ms must be a number in ms, got a string");
    assert_int_equal(apply(&c, "{\"link\": {\"read_device_limits\": 1}}", &d), TB_ERR_FORMAT);
    assert_int_equal(apply(&c, "{\"gateway\": {\"log_level\": \"loud\"}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.message, "gateway.log_level = \"loud\" is not one of: error, warn, info, debug");
    assert_int_equal(apply(&c, "{\"gateway\": {\"serial\": \"\"}}", &d), TB_ERR_RANGE);
    assert_int_equal(apply(&c, "[1,2]", &d), TB_ERR_FORMAT);
    assert_int_equal(apply(&c, "{\"gateway\": {\"serial\": \"a\\u0001b\"}}", &d), TB_ERR_RANGE);
    /* a cross-key rule */
    assert_int_equal(apply(&c, "{\"link\": {\"backoff_min_ms\": 9000, \"backoff_max_ms\": 1000}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.key, "link.backoff_min_ms");
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"can\": {\"burst_gap_ms\": 60}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.key, "can.burst_gap_ms");
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"can\": {\"burst_gap_ms\": 100}, \"link\": {\"live_period_ms\": 200}}", &d), TB_OK);
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"web\": {\"max_connections\": 8, \"max_conns_per_addr\": 9}}", &d), TB_ERR_RANGE);
    assert_string_equal(d.key, "web.max_conns_per_addr");
    /* dotted keys at the top level are accepted too */
    gw_config_defaults(&c);
    assert_int_equal(apply(&c, "{\"link.stats_period_ms\": 0}", &d), TB_OK);
    assert_int_equal(c.link.stats_period_ms, 0);
}

static void syntax_errors_give_the_line(void **state)
{
    (void)state;
    gw_config_t c;
    gw_config_defaults(&c);
    cfg_diag_t d;
    const char *bad = "{\n  \"link\": {\n    \"live_period_ms\": 100,\n  }\n}\n";
    assert_int_equal(apply(&c, bad, &d), TB_ERR_FORMAT);
    assert_int_equal(d.line, 4);
    assert_non_null(strstr(d.message, "line 4"));
    const char nul[] = "{\"a\":\0 1}";
    assert_int_equal(gw_config_apply_json(&c, nul, sizeof nul - 1, 0, &d), TB_ERR_FORMAT);
}

static void comments_are_allowed(void **state)
{
    (void)state;
    gw_config_t c;
    gw_config_defaults(&c);
    cfg_diag_t d;
    const char *j = "// top\n{ /* block\n comment */ \"gateway\": { \"serial\": \"/dev/tty//x\" // tail\n } }";
    assert_int_equal(apply(&c, j, &d), TB_OK);
    assert_string_equal(c.gateway.serial_device, "/dev/tty//x");
}

/* What --print-default-config prints loads back to exactly the defaults; any config round-trips. */
static void output_round_trips(void **state)
{
    (void)state;
    gw_config_t a, b;
    cfg_diag_t d;
    gw_config_defaults(&a);
    int n = gw_config_to_json(&a, g_buf, sizeof g_buf, GW_CFG_OUT_COMMENTS | GW_CFG_OUT_SECRETS);
    assert_true(n > 0);
    assert_non_null(strstr(g_buf, "// Period of the live-data read"));
    memset(&b, 0x55, sizeof b);
    gw_config_defaults(&b);
    b.link.live_period_ms = 777;
    assert_int_equal(gw_config_apply_json(&b, g_buf, (size_t)n, 0, &d), TB_OK);
    assert_memory_equal(&a, &b, sizeof a);

    a.link.live_period_ms = 333;
    snprintf(a.gateway.serial_device, sizeof a.gateway.serial_device, "/dev/ttyAMA0");
    n = gw_config_to_json(&a, g_buf, sizeof g_buf, 0);
    assert_true(n > 0);
    assert_null(strchr(g_buf, '\n'));
    gw_config_defaults(&b);
    assert_int_equal(gw_config_apply_json(&b, g_buf, (size_t)n, 0, &d), TB_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(gw_config_to_json(&a, g_buf, 10, 0), TB_ERR_NOSPACE);
}

static void schema_json(void **state)
{
    (void)state;
    int n = gw_config_schema_json(g_buf, sizeof g_buf);
    assert_true(n > 0);
    assert_non_null(strstr(g_buf, "\"key\":\"link.live_period_ms\",\"type\":\"int\",\"unit\":\"ms\",\"min\":50,\"max\":10000,\"default\":100"));
    assert_non_null(strstr(g_buf, "\"values\":[\"error\",\"warn\",\"info\",\"debug\"]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_valid),
        cmocka_unit_test(apply_and_errors_name_the_key),
        cmocka_unit_test(syntax_errors_give_the_line),
        cmocka_unit_test(comments_are_allowed),
        cmocka_unit_test(output_round_trips),
        cmocka_unit_test(schema_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
