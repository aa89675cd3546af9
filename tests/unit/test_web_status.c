/* The web service's state in the view (gw_ports_t.web_status -> gw_view_t.web): rendered in the
 * status document (GET /api/status, the WebSocket and the MQTT state) and in /metrics, so that
 * a web that could not listen is visible (MQTT, journal) while it is down and on record (bind
 * failures, last error) once it is back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "app/config.h"
#include "app/gw_view.h"
#include "app/metrics.h"

static gw_view_t g_view;
static char g_buf[64 * 1024];

static cJSON *render_web(void)
{
    assert_true(gw_view_render(&g_view) > 0);
    cJSON *root = cJSON_ParseWithLength(g_view.status_json, g_view.status_len);
    assert_non_null(root);
    return root;
}

static void status_document(void **state)
{
    (void)state;
    memset(&g_view, 0, sizeof g_view);
    gw_config_defaults(&g_view.cfg);
    g_view.gx_age_ms = UINT32_MAX;

    /* a port without a web service: "web": null */
    cJSON *root = render_web();
    cJSON *web = cJSON_GetObjectItemCaseSensitive(root, "web");
    assert_non_null(web);
    assert_true(cJSON_IsNull(web));
    cJSON_Delete(root);

    /* down, retrying */
    g_view.web.known = true;
    g_view.web.enabled = true;
    g_view.web.retrying = true;
    g_view.web.bind_failures = 3;
    snprintf(g_view.web.error, sizeof g_view.web.error, "cannot bind to 0.0.0.0:8080: 98 (Address already in use)");
    root = render_web();
    web = cJSON_GetObjectItemCaseSensitive(root, "web");
    assert_true(cJSON_IsObject(web));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(web, "enabled")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(web, "listening")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(web, "retrying")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(web, "bind_failures")->valuedouble, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(web, "listen")->valuestring, "0.0.0.0:8080");
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(web, "error")->valuestring, "Address already in use"));
    cJSON_Delete(root);

    metrics_extra_t x;
    memset(&x, 0, sizeof x);
    assert_true(metrics_render(&g_view, &x, g_buf, sizeof g_buf) > 0);
    assert_non_null(strstr(g_buf, "\ntinybms_web_listening 0\n"));
    assert_non_null(strstr(g_buf, "\ntinybms_web_bind_failures_total 3\n"));

    /* back up: listening, the failures stay on record */
    g_view.web.listening = true;
    g_view.web.retrying = false;
    assert_true(metrics_render(&g_view, &x, g_buf, sizeof g_buf) > 0);
    assert_non_null(strstr(g_buf, "\ntinybms_web_listening 1\n"));
    assert_non_null(strstr(g_buf, "\ntinybms_web_bind_failures_total 3\n"));

    /* no web service: no web metrics */
    g_view.web.known = false;
    assert_true(metrics_render(&g_view, &x, g_buf, sizeof g_buf) > 0);
    assert_null(strstr(g_buf, "tinybms_web_listening"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
