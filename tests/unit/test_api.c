/* app/api (+ api_json, api_ws, metrics): routing, the security rules, every handler's answers and
 * refusals, with a fake platform: a fixed view decoded from the test TinyBMS's registers, a
 * recording command queue, synthetic history, and the auth module with a transparent hash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "app/api_ws.h"
#include "app/config.h"
#include "app/log.h"
#include "app/metrics.h"
#include "core/tb_err.h"
#include "core/tb_proto.h"
#include "fake_bms.h"
#include "mem_ports.h"

/* ---- fake platform --------------------------------------------------------------------------- */

static struct {
    gw_view_t view;
    bool have_view;
    gw_cmd_t last;
    int cmds;
    int cmd_rc;          /* what cmdq_call returns */
    int result_rc;       /* cmd->rc the owner sets */
    int result_status;
    const char *result_json;
    history_sample_t hist[400];
    size_t hist_n;
    uint32_t now;
    int syncs;
    mem_store_t store;  /* tests/unit/support/mem_ports */
    fake_auth_t crypto;
} P;

static bool p_view(void *ctx, gw_view_t *out)
{
    (void)ctx;
    if (P.have_view) {
        *out = P.view;
    }
    return P.have_view;
}

static size_t p_status(void *ctx, char *buf, size_t cap)
{
    (void)ctx;
    if (!P.have_view || P.view.status_len >= cap) {
        return 0;
    }
    memcpy(buf, P.view.status_json, P.view.status_len + 1u);
    return P.view.status_len;
}

static int p_command(void *ctx, gw_cmd_t *c, int timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    P.cmds++;
    P.last = *c;
    if (P.cmd_rc != TB_OK) {
        return P.cmd_rc;
    }
    c->rc = P.result_rc;
    c->status = P.result_status;
    snprintf(c->message, sizeof c->message, "%s", P.result_rc == TB_OK ? "done" : "refused by the owner");
    snprintf(c->result, sizeof c->result, "%s", P.result_json ? P.result_json : "");
    return TB_OK;
}

static size_t p_history(void *ctx, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    (void)ctx;
    (void)r;
    (void)now_s;
    size_t n = P.hist_n < cap ? P.hist_n : cap;
    memcpy(out, P.hist, n * sizeof *out);
    return n;
}

static uint32_t p_now(void *ctx)
{
    (void)ctx;
    return P.now;
}

static uint64_t p_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000ull;
}

static void p_sync(void *ctx, int timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    P.syncs++;
}

static const api_port_t g_port = {p_view, p_status, p_command, p_history, p_now, p_wall, p_sync, NULL, NULL, NULL, NULL};

static const unsigned char k_js[] = "console.log(1)";
static const unsigned char k_js_gz[] = {0x1f, 0x8b, 0x08, 0x00};
static const api_asset_t k_assets[] = {
    {"/index.html", "text/html; charset=utf-8", (const unsigned char *)"<html></html>", 13, NULL, 0, "\"aaaa\""},
    {"/app.js", "text/javascript; charset=utf-8", k_js, sizeof k_js - 1u, k_js_gz, sizeof k_js_gz, "\"bbbb\""},
};

static auth_t g_auth;
static api_t g_api;
static gw_config_t g_cfg;
static char g_cookie[96];

static void build_view(void)
{
    fake_bms_t f;
    fake_bms_init(&f, 16);
    memset(&P.view, 0, sizeof P.view);
    gw_view_t *v = &P.view;
    assert_int_equal(bms_decode_live(&v->snap.live, f.regs, BMS_LIVE_COUNT, 900, NULL), TB_OK);
    assert_int_equal(bms_decode_stats(&v->snap.stats, f.regs + 100, BMS_STATS_COUNT, 900, NULL), TB_OK);
    assert_int_equal(bms_decode_settings(&v->snap.settings, f.regs + 300, BMS_SETTINGS_COUNT, 900, NULL), TB_OK);
    assert_int_equal(bms_decode_version(&v->snap.version, f.regs + 500, BMS_VERSION_COUNT, 900, NULL), TB_OK);
    v->seq = 42;
    v->t_ms = 1000;
    v->wall_ms = 1700000000000ull;
    v->limits.valid = true;
    v->limits.cvl_v = 55.2f;
    v->limits.ccl_a = 12.0f;
    v->limits.dcl_a = 80.0f;
    snprintf(v->limits.reason, sizeof v->limits.reason, "cell voltage taper");
    v->can_slots[0].id = 0x351;
    v->can_slots[0].sent = 7;
    v->can_slots[0].has_last = true;
    v->can_slots[0].last_ms = 900;
    v->can_slots[0].last.id = 0x351;
    v->can_slots[0].last.dlc = 8;
    const uint8_t d[8] = {0x28, 0x02, 0x78, 0x00, 0x20, 0x03, 0xD0, 0x01};
    memcpy(v->can_slots[0].last.data, d, 8);
    snprintf(v->can_mode, sizeof v->can_mode, "transmitting");
    v->gx_age_ms = UINT32_MAX;
    v->energy_known = true;
    v->energy_in_wh = 1234.5;
    v->recent_count = 1;
    v->event_seq = 5;
    v->recent_events[0].id = 0x02;
    v->recent_events[0].timestamp_s = 100;
    v->cfg = g_cfg;
    assert_true(gw_view_render(v) > 0);
    P.have_view = true;
}

static int setup(void **state)
{
    (void)state;
    memset(&P, 0, sizeof P);
    P.now = 1000;
    P.result_status = 200;
    gw_config_defaults(&g_cfg);
    build_view();
    mem_store_init(&P.store);
    fake_auth_init(&P.crypto, 12345u, &P.store.port);
    assert_int_equal(auth_init(&g_auth, &P.crypto.port, &g_cfg.web, 1000), TB_OK);
    api_info_t info = {"9.9.9", "test", true, "/etc/x.json", "/var/lib/x", "127.0.0.1:1", k_assets, 2};
    api_init(&g_api, &g_port, &info, &g_auth, &g_cfg.web);
    g_cookie[0] = '\0';
    return 0;
}

/* ---- request helpers ---------------------------------------------------------------------------- */

static api_resp_t R;

static const api_resp_t *call(api_method_t m, const char *path, const char *query, const char *body,
                              const char *origin)
{
    api_resp_free(&R);
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = m;
    q.path = path;
    q.query = query;
    q.host = "gw:80";
    q.origin = origin;
    q.cookie = g_cookie[0] ? g_cookie : NULL;
    q.body = body;
    q.body_len = body ? strlen(body) : 0u;
    q.peer = "10.0.0.7";
    q.accept_encoding = "gzip, deflate";
    api_handle(&g_api, &q, &R);
    return &R;
}

static const api_resp_t *get(const char *path, const char *query) { return call(API_GET, path, query, NULL, NULL); }
static const api_resp_t *put(const char *path, const char *body) { return call(API_PUT, path, NULL, body, "http://gw:80"); }
static const api_resp_t *post(const char *path, const char *body) { return call(API_POST, path, NULL, body, "http://gw:80"); }

static bool body_has(const char *s)
{
    return R.body && R.len && strstr(R.body, s) != NULL;
}

static void login(void)
{
    char code[16], body[128];
    auth_setup_code(&g_auth, code, sizeof code);
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"password\":\"correct horse\"}", code);
    post("/api/auth/setup", body);
    assert_int_equal(R.status, 200);
    const char *sc = strstr(R.headers, "Set-Cookie: ");
    assert_non_null(sc);
    sc += strlen("Set-Cookie: ");
    const char *semi = strchr(sc, ';');
    snprintf(g_cookie, sizeof g_cookie, "%.*s", (int)(semi - sc), sc);
    assert_non_null(strstr(R.headers, "HttpOnly"));
    assert_non_null(strstr(R.headers, "SameSite=Strict"));
}

static uint64_t rej(api_reject_t r)
{
    return atomic_load(&g_api.n.rejected[r]);
}

/* ---- tests ------------------------------------------------------------------------------------------ */

static void status_is_the_prerendered_view(void **state)
{
    (void)state;
    get("/api/status", NULL);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.len, P.view.status_len);
    assert_memory_equal(R.body, P.view.status_json, R.len);
    assert_string_equal(R.content_type, "application/json");
    call(API_HEAD, "/api/status", NULL, NULL, NULL);
    assert_int_equal(R.status, 200);
    /* with a buffer lent by the server thread: no allocation, the body is in that buffer */
    static char scratch[GW_STATUS_JSON_MAX];
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = API_GET;
    q.path = "/api/status";
    q.scratch = scratch;
    q.scratch_cap = sizeof scratch;
    api_resp_free(&R);
    api_handle(&g_api, &q, &R);
    assert_int_equal(R.status, 200);
    assert_ptr_equal(R.body, scratch);
    assert_null(R.heap);
    assert_memory_equal(scratch, P.view.status_json, P.view.status_len);
    P.have_view = false;
    get("/api/status", NULL);
    assert_int_equal(R.status, 503);
    assert_non_null(strstr(R.headers, "Retry-After: 1"));
}

static void routing(void **state)
{
    (void)state;
    get("/api/nope", NULL);
    assert_int_equal(R.status, 404);
    assert_true(body_has("\"error\":\"not_found\""));
    get("/api", NULL);
    assert_int_equal(R.status, 404);
    call(API_DELETE, "/api/status", NULL, NULL, "http://gw:80");
    assert_int_equal(R.status, 405);
    assert_non_null(strstr(R.headers, "Allow: GET, HEAD"));
    call(API_OTHER, "/api/config", NULL, NULL, NULL);
    assert_int_equal(R.status, 405);
    get("/api/bms/settings/a/b", NULL);
    assert_int_equal(R.status, 404);
    get("/api/bms/settings/", NULL);
    assert_int_equal(R.status, 404);
    get("relative", NULL);
    assert_int_equal(R.status, 400);
    assert_int_equal(rej(API_REJ_NOT_FOUND), 4);
    assert_int_equal(rej(API_REJ_METHOD), 2);
    assert_int_equal(atomic_load(&g_api.n.by_class[4]), 7);
}

static void assets(void **state)
{
    (void)state;
    get("/", NULL);
    assert_int_equal(R.status, 200);
    assert_string_equal(R.content_type, "text/html; charset=utf-8");
    assert_true(R.cacheable);
    get("/app.js", NULL);
    assert_non_null(strstr(R.headers, "Content-Encoding: gzip"));
    assert_int_equal(R.len, sizeof k_js_gz);
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = API_GET;
    q.path = "/app.js";
    q.accept_encoding = "gzip;q=0, identity";
    api_resp_free(&R);
    api_handle(&g_api, &q, &R);
    assert_null(strstr(R.headers, "Content-Encoding"));
    assert_int_equal(R.len, sizeof k_js - 1u);
    q.if_none_match = "\"bbbb\"";
    api_resp_free(&R);
    api_handle(&g_api, &q, &R);
    assert_int_equal(R.status, 304);
    get("/missing.js", NULL);
    assert_int_equal(R.status, 404);
    post("/app.js", "{}");
    assert_int_equal(R.status, 404);
}

static void writes_need_a_session_and_the_same_origin(void **state)
{
    (void)state;
    put("/api/config", "{\"web\":{\"ws_rate_hz\":3}}");
    assert_int_equal(R.status, 401);
    assert_true(body_has("set the admin password first"));
    post("/api/system/restart", "{}");
    assert_int_equal(R.status, 401);
    login();
    call(API_PUT, "/api/config", NULL, "{}", "http://evil.example");
    assert_int_equal(R.status, 403);
    call(API_POST, "/api/bms/reset", NULL, "{\"what\":\"bms\"}", "null");
    assert_int_equal(R.status, 403);
    assert_int_equal(P.cmds, 0);
    assert_int_equal(rej(API_REJ_CROSS_ORIGIN), 2);
    assert_int_equal(rej(API_REJ_UNAUTHENTICATED), 2);
    /* a non-browser client (no Origin, no Referer) with a session is accepted */
    call(API_PUT, "/api/config", NULL, "{\"web\":{\"ws_rate_hz\":3}}", NULL);
    assert_int_equal(R.status, 200);
    assert_int_equal(P.cmds, 1);
    /* a stolen-but-expired session */
    P.now += 720u * 60000u;
    put("/api/config", "{}");
    assert_int_equal(R.status, 401);
}

static void read_only_closed(void **state)
{
    (void)state;
    g_cfg.web.read_only_open = false;
    api_set_web_cfg(&g_api, &g_cfg.web);
    get("/api/status", NULL);
    assert_int_equal(R.status, 401);
    get("/metrics", NULL);
    assert_int_equal(R.status, 401);
    get("/api/auth", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"read_only_open\":false"));
    get("/", NULL);
    assert_int_equal(R.status, 200);
    login();
    get("/api/status", NULL);
    assert_int_equal(R.status, 200);
}

static void config_update(void **state)
{
    (void)state;
    login();
    put("/api/config", "{\"web\": {");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"bad_json\""));
    put("/api/config", "[1]");
    assert_int_equal(R.status, 400);
    put("/api/config", "{} x");
    assert_int_equal(R.status, 400);
    put("/api/config", "");
    assert_int_equal(R.status, 400);
    assert_int_equal(P.cmds, 0);
    assert_int_equal(rej(API_REJ_BAD_JSON), 4);

    P.result_json = "{\"changed\":[\"web.ws_rate_hz\"],\"restart_required\":[]}";
    put("/api/config", "{\n  \"web\": { \"ws_rate_hz\": 3 }\n}");
    assert_int_equal(R.status, 200);
    assert_int_equal(P.last.type, GW_CMD_CONFIG_UPDATE);
    assert_string_equal(P.last.text, "{\"web\":{\"ws_rate_hz\":3}}"); /* compacted */
    assert_string_equal(P.last.source, "http");
    assert_true(body_has("\"result\":{\"changed\":[\"web.ws_rate_hz\"]"));
    assert_int_equal(P.syncs, 1);

    /* the owner's own diagnostics pass through */
    P.result_rc = TB_ERR_RANGE;
    P.result_status = 400;
    P.result_json = "{\"error\":\"range\",\"field\":\"web.ws_rate_hz\",\"reason\":\"too fast\"}";
    put("/api/config", "{\"web\":{\"ws_rate_hz\":99}}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"web.ws_rate_hz\""));
    assert_int_equal(P.syncs, 1);

    P.cmd_rc = TB_ERR_BUSY;
    put("/api/config", "{}");
    assert_int_equal(R.status, 409);
    P.cmd_rc = TB_ERR_TIMEOUT;
    put("/api/config", "{}");
    assert_int_equal(R.status, 504);
    P.cmd_rc = TB_ERR_CANCELLED;
    put("/api/config", "{}");
    assert_int_equal(R.status, 503);
    assert_non_null(strstr(R.headers, "Retry-After: 5"));

    /* bigger than a command can carry */
    size_t n = GW_CMD_TEXT_MAX + 100u;
    char *big = malloc(n + 64u);
    int k = snprintf(big, n + 64u, "{\"gateway\":{\"device_id\":\"");
    memset(big + k, 'x', n);
    snprintf(big + k + n, 64u, "\"}}");
    P.cmd_rc = TB_OK;
    int before = P.cmds;
    put("/api/config", big);
    assert_int_equal(R.status, 413);
    assert_int_equal(P.cmds, before);
    free(big);
}

static void config_read_never_shows_secrets(void **state)
{
    (void)state;
    get("/api/config", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"web\":{"));
    get("/api/config", "download=1");
    assert_non_null(strstr(R.headers, "Content-Disposition: attachment"));
    get("/api/config/schema", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"key\":\"web.read_only_open\""));
    /* every secret of the schema is absent from the configuration output */
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        for (size_t k = 0; k < s->count; k++) {
            if (s->params[k].flags & CFG_F_SECRET) {
                get("/api/config", NULL);
                const char *leaf = strrchr(s->params[k].key, '.') + 1;
                char key[64];
                snprintf(key, sizeof key, "\"%s\":", leaf);
                assert_false(body_has(key));
            }
        }
    }
}

static void bms_settings(void **state)
{
    (void)state;
    get("/api/bms/settings", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"name\":\"over_voltage_cutoff\""));
    assert_true(body_has("\"valid\":true"));
    get("/api/bms/settings/over_voltage_cutoff", NULL);
    assert_int_equal(R.status, 200);
    get("/api/bms/settings/315", NULL);
    assert_true(body_has("\"address\":315"));
    get("/api/bms/settings/cell_1_voltage", NULL);
    assert_int_equal(R.status, 404); /* a live register is not a setting */

    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600}");
    assert_int_equal(R.status, 401);
    login();
    put("/api/bms/settings/nope", "{\"value\":1}");
    assert_int_equal(R.status, 404);
    assert_true(body_has("\"field\":\"name\""));
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":9000}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"over_voltage_cutoff\""));
    assert_true(body_has("allowed"));
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":\"3600\"}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"value\""));
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600.5}");
    assert_int_equal(R.status, 400);
    assert_int_equal(P.cmds, 0);

    P.result_json = "{\"register\":\"over_voltage_cutoff\",\"old\":3800,\"new\":3600,\"read_back\":3600,\"result\":\"ok\"}";
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600}");
    assert_int_equal(R.status, 200);
    assert_int_equal(P.last.type, GW_CMD_BMS_WRITE);
    assert_string_equal(P.last.name, "over_voltage_cutoff");
    assert_true(fabs(P.last.value - 3600.0) < 1e-9);
    assert_true(body_has("\"read_back\":3600"));
    assert_int_equal(atomic_load(&g_api.n.bms_writes_ok), 1);

    P.result_rc = TB_ERR_TIMEOUT;
    P.result_status = 504;
    P.result_json = "";
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600}");
    assert_int_equal(R.status, 504);
    assert_true(body_has("\"error\":\"bms_timeout\""));
    P.result_rc = TB_ERR_MISMATCH;
    P.result_status = 502;
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600}");
    assert_int_equal(R.status, 502);

    P.view.snap.settings.valid = false;
    P.result_rc = TB_OK;
    P.result_status = 200;
    int before = P.cmds;
    put("/api/bms/settings/over_voltage_cutoff", "{\"value\":3600}");
    assert_int_equal(R.status, 503);
    assert_int_equal(P.cmds, before);
}

static void bms_reset_and_restart(void **state)
{
    (void)state;
    login();
    post("/api/bms/reset", "{\"what\":\"all\"}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"what\""));
    post("/api/bms/reset", "{\"what\":7}");
    assert_int_equal(R.status, 400);
    assert_int_equal(P.cmds, 0);
    post("/api/bms/reset", "{\"what\":\"events\"}");
    assert_int_equal(R.status, 200);
    assert_int_equal(P.last.type, GW_CMD_BMS_RESET);
    assert_int_equal(P.last.option, TB_RESET_CLEAR_EVENTS);
    post("/api/bms/reset", "{\"what\":\"stats\"}");
    assert_int_equal(P.last.option, TB_RESET_CLEAR_STATS);
    post("/api/bms/reset", "{\"what\":\"bms\"}");
    assert_int_equal(P.last.option, TB_RESET_BMS);
    P.result_status = 202;
    post("/api/system/restart", "{}");
    assert_int_equal(R.status, 202);
    assert_int_equal(P.last.type, GW_CMD_RESTART);
}

static void view_endpoints(void **state)
{
    (void)state;
    get("/api/bms/events", NULL);
    assert_true(body_has("\"new_seq\":5"));
    get("/api/bms/stats", NULL);
    assert_true(body_has("\"valid\":true"));
    get("/api/bms/version", NULL);
    assert_true(body_has("\"valid\":true"));
    get("/api/energy", NULL);
    assert_true(body_has("\"charged_wh\":1234.5"));
    get("/api/can/frames", NULL);
    assert_true(body_has("\"id\":\"0x351\""));
    assert_true(body_has("\"direction\":\"tx\""));
    assert_true(body_has("\"age_ms\":100"));
    assert_true(body_has("\"cvl_v\":55.2"));
    assert_true(body_has("\"id\":\"0x305\",\"name\":\"gx_keepalive\",\"direction\":\"rx\""));
    get("/api/system", NULL);
    assert_true(body_has("\"version\":\"9.9.9\""));
    assert_true(body_has("\"config_path\":\"/etc/x.json\""));
    assert_true(body_has("\"password_set\":false"));
    assert_true(body_has("\"platform\":null")); /* a port without heap/stack figures (Linux) */
    get("/api/auth", NULL);
    assert_true(body_has("\"setup_required\":true"));
    P.have_view = false;
    get("/api/bms/events", NULL);
    assert_int_equal(R.status, 503);
}

/* A firmware port's heap and stack figures: in GET /api/system and /metrics. */
static void p_platform(void *ctx, api_platform_t *out)
{
    (void)ctx;
    out->heap_free = 151000;
    out->heap_min_free = 140500;
    out->heap_largest = 65536;
    snprintf(out->reset_reason, sizeof out->reset_reason, "task watchdog");
    out->ntasks = 2;
    snprintf(out->task[0].name, sizeof out->task[0].name, "owner");
    out->task[0].stack_free = 1868;
    snprintf(out->task[1].name, sizeof out->task[1].name, "httpd");
    out->task[1].stack_free = 2048;
    out->has_resets = true;
    out->resets_brownout = 3;
    out->resets_panic = 1;
    out->resets_watchdog = 2;
    out->has_can_bus = true;
    out->can_bus_off = 4;
    out->can_recoveries = 4;
    out->can_error_passive = 7;
    out->can_error_warning = 9;
}

static void platform_figures(void **state)
{
    (void)state;
    api_port_t port = g_port;
    port.platform = p_platform;
    api_info_t info = {"9.9.9", "test", false, "nvs:config.json", "nvs", "0.0.0.0:80", k_assets, 2};
    api_init(&g_api, &port, &info, &g_auth, &g_cfg.web);
    get("/api/system", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"platform\":{\"heap_free_bytes\":151000,\"heap_min_free_bytes\":140500,"
                         "\"heap_largest_block_bytes\":65536,\"reset_reason\":\"task watchdog\","
                         "\"task_stack_free_bytes\":{\"owner\":1868,\"httpd\":2048},"
                         "\"reset_counts\":{\"brownout\":3,\"panic\":1,\"watchdog\":2},"
                         "\"can_bus\":{\"bus_off\":4,\"recoveries\":4,\"error_passive\":7,\"error_warning\":9}}"));
    get("/metrics", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("tinybms_heap_free_bytes 151000\n"));
    assert_true(body_has("tinybms_heap_min_free_bytes 140500\n"));
    assert_true(body_has("tinybms_task_stack_free_bytes{task=\"owner\"} 1868\n"));
    assert_true(body_has("tinybms_resets_total{reason=\"brownout\"} 3\n"));
    assert_true(body_has("tinybms_resets_total{reason=\"panic\"} 1\n"));
    assert_true(body_has("tinybms_resets_total{reason=\"watchdog\"} 2\n"));
    assert_true(body_has("tinybms_can_bus_off_total 4\n"));
    assert_true(body_has("tinybms_can_bus_recoveries_total 4\n"));
    assert_true(body_has("tinybms_can_error_passive_total 7\n"));
    assert_true(body_has("tinybms_can_error_warning_total 9\n"));
}

static void history(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 100; i++) {
        P.hist[i] = (history_sample_t){1700000000u + 10u * i, 53.0f, (float)i, 50.0f, 3.3f - (i == 37 ? 0.2f : 0.0f),
                                       3.35f, 25.0f, 55.2f, NAN, 80.0f};
    }
    P.hist_n = 100;
    get("/api/history", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"range\":\"1h\""));
    assert_true(body_has("\"count\":100"));
    assert_true(body_has("\"ccl_a\":[null,"));
    get("/api/history", "range=7d&points=10");
    assert_true(body_has("\"count\":10"));
    assert_true(body_has("\"interval_s\":600"));
    assert_true(body_has("\"cell_min_v\":[3.3,3.3,3.3,3.1,")); /* the dip survives downsampling */
    get("/api/history", "range=2h");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"range\""));
    get("/api/history", "points=5");
    assert_int_equal(R.status, 400);
    get("/api/history", "range=1h1h1h1h1h");
    assert_int_equal(R.status, 400);
    get("/api/history.csv", "range=24h");
    assert_int_equal(R.status, 200);
    assert_string_equal(R.content_type, "text/csv; charset=utf-8");
    assert_non_null(strstr(R.headers, "tinybms-history-24h.csv"));
    assert_true(body_has("time_utc,time_s,pack_v,pack_a,soc_pct,cell_min_v,cell_max_v,temp_max_c,cvl_v,ccl_a,dcl_a\r\n"));
    assert_true(body_has("2023-11-14T22:13:20Z,1700000000,53.000,0.00,50.00,3.3000,3.3500,25.0,55.20,,80.0\r\n"));
}

static void logs(void **state)
{
    (void)state;
    log_reset();
    LOGI("test", "first line");
    LOGW("test", "second line");
    LOGE("test", "third line");
    get("/api/logs", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"last_seq\":3"));
    assert_true(body_has("first line"));
    get("/api/logs", "level=warn");
    assert_false(body_has("first line"));
    assert_true(body_has("second line"));
    get("/api/logs", "after=2");
    assert_false(body_has("second line"));
    assert_true(body_has("third line"));
    get("/api/logs", "limit=1");
    assert_false(body_has("second line"));
    assert_true(body_has("third line"));
    get("/api/logs", "after=-1");
    assert_int_equal(R.status, 400);
    get("/api/logs", "after=1x");
    assert_int_equal(R.status, 400);
    get("/api/logs", "level=loud");
    assert_int_equal(R.status, 400);
    get("/api/logs", "limit=0");
    assert_int_equal(R.status, 400);
    get("/api/logs", "limit=513");
    assert_int_equal(R.status, 400);
}

static void login_endpoints(void **state)
{
    (void)state;
    post("/api/auth/login", "{\"password\":\"x\"}");
    assert_int_equal(R.status, 409);
    post("/api/auth/setup", "{\"code\":\"00000-00000\",\"password\":\"correct horse\"}");
    assert_int_equal(R.status, 401);
    post("/api/auth/setup", "{\"code\":1,\"password\":\"correct horse\"}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"code\""));
    login();
    get("/api/auth", NULL);
    assert_true(body_has("\"logged_in\":true"));
    char cookie[96];
    memcpy(cookie, g_cookie, sizeof cookie);
    g_cookie[0] = '\0';
    post("/api/auth/login", "{\"password\":\"wrong one\"}");
    assert_int_equal(R.status, 401);
    post("/api/auth/login", "{\"password\":\"correct horse\"}");
    assert_int_equal(R.status, 200);
    memcpy(g_cookie, cookie, sizeof cookie);
    put("/api/auth/password", "{\"current\":\"correct horse\",\"password\":\"short\"}");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"field\":\"password\""));
    post("/api/auth/logout", "{}");
    assert_int_equal(R.status, 200);
    assert_non_null(strstr(R.headers, "Max-Age=0"));
    put("/api/config", "{}");
    assert_int_equal(R.status, 401);
    for (int i = 0; i < 10; i++) {
        post("/api/auth/login", "{\"password\":\"wrong one\"}");
    }
    assert_int_equal(R.status, 429);
    assert_non_null(strstr(R.headers, "Retry-After: "));
    assert_true(rej(API_REJ_RATE_LIMITED) >= 1);
}

static void oversize_is_refused_first(void **state)
{
    (void)state;
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = API_PUT;
    q.path = "/api/nowhere";
    q.body_too_large = true;
    api_resp_free(&R);
    api_handle(&g_api, &q, &R);
    assert_int_equal(R.status, 413);
    assert_int_equal(rej(API_REJ_TOO_LARGE), 1);
}

static void query_strings(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(api_query_get("a=1&range=24h&b", "range", out, sizeof out), 1);
    assert_string_equal(out, "24h");
    assert_int_equal(api_query_get("b&a=1", "b", out, sizeof out), 1);
    assert_string_equal(out, "");
    assert_int_equal(api_query_get("xrange=1h", "range", out, sizeof out), 0);
    assert_int_equal(api_query_get("r=%31h%2", "r", out, sizeof out), 1);
    assert_string_equal(out, "1h%2");
    assert_int_equal(api_query_get("r=a+b", "r", out, sizeof out), 1);
    assert_string_equal(out, "a b");
    assert_int_equal(api_query_get("r=%00", "r", out, sizeof out), -1);
    assert_int_equal(api_query_get("r=12345678", "r", out, sizeof out), -1);
    assert_int_equal(api_query_get(NULL, "r", out, sizeof out), 0);
    assert_int_equal(api_method_parse("PUT"), API_PUT);
    assert_int_equal(api_method_parse("put"), API_OTHER);
    assert_int_equal(api_method_parse(NULL), API_OTHER);
}

static void metrics(void **state)
{
    (void)state;
    get("/metrics", NULL);
    assert_int_equal(R.status, 200);
    assert_true(body_has("# TYPE tinybms_pack_voltage_volts gauge\ntinybms_pack_voltage_volts "));
    assert_true(body_has("tinybms_cell_voltage_volts{cell=\"16\"} 3.315"));
    assert_true(body_has("tinybms_limit_ccl_amperes 12\n"));
    assert_true(body_has("tinybms_charge_state{state=\"no_data\"} 1\n"));
    assert_true(body_has("tinybms_can_frame_sent_total{id=\"0x351\"} 7\n"));
    assert_true(body_has("tinybms_link_rtt_seconds_bucket{le=\"+Inf\"} 0\n"));
    assert_true(body_has("tinybms_http_rejected_total{reason=\"bad_json\"} 0\n"));
    assert_true(body_has("tinybms_energy_charged_wh_total 1234.5\n"));
    assert_false(body_has("nan"));
    /* every sample line belongs to a metric announced with HELP and TYPE */
    char *copy = malloc(R.len + 1u);
    memcpy(copy, R.body, R.len);
    copy[R.len] = '\0';
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            continue;
        }
        char name[96];
        size_t n = strcspn(line, "{ ");
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        char *suffix = strstr(name, "_bucket");
        if (suffix && !suffix[7]) {
            *suffix = '\0';
        }
        suffix = strstr(name, "_rtt_seconds_count");
        if (suffix) {
            suffix[12] = '\0';
        }
        char help[128];
        snprintf(help, sizeof help, "# HELP %s ", name);
        assert_non_null(strstr(R.body, help));
    }
    free(copy);
    char small[64];
    metrics_extra_t x;
    memset(&x, 0, sizeof x);
    assert_int_equal(metrics_render(&P.view, &x, small, sizeof small), TB_ERR_NOSPACE);
    char buf[8192];
    assert_true(metrics_render(NULL, &x, buf, sizeof buf) > 0);
    assert_null(strstr(buf, "pack_voltage"));
}

/* A writer that sends the newest view as soon as the rate limit allows, on a 1 ms clock from t0
 * for ms milliseconds; views are published every period_min + [0, span] ms (a fixed LCG).
 * Reports the views published and sent, the largest lag (send - publication) and the most
 * messages in any 1000 ms window. */
typedef struct {
    unsigned views, sent;
    uint32_t max_lag;
    unsigned max_per_s;
} ws_rate_run_t;

static ws_rate_run_t ws_rate_sim(uint32_t t0, uint32_t ms, uint32_t interval, uint32_t period_min, uint32_t span)
{
    ws_rate_run_t out = {0, 0, 0, 0};
    api_ws_rate_t r;
    memset(&r, 0, sizeof r);
    uint32_t seed = 12345u, next_view = t0 + 5u, pending = 0;
    bool have = false;
    static uint32_t sends[4096];
    for (uint32_t i = 0; i < ms; i++) {
        uint32_t now = t0 + i;
        if (now == next_view) {
            out.views++;
            pending = now;
            have = true;
            seed = seed * 1103515245u + 12345u;
            next_view = now + period_min + (span ? (seed >> 16) % (span + 1u) : 0u);
        }
        if (have && api_ws_rate_wait(&r, now, interval) == 0u) {
            api_ws_rate_sent(&r, now, interval);
            if (now - pending > out.max_lag) {
                out.max_lag = now - pending;
            }
            if (out.sent < 4096u) {
                sends[out.sent] = i;
            }
            out.sent++;
            have = false;
        }
    }
    for (unsigned a = 0, b = 0; b < out.sent && b < 4096u; b++) {
        while (sends[b] - sends[a] >= 1000u) {
            a++;
        }
        if (b - a + 1u > out.max_per_s) {
            out.max_per_s = b - a + 1u;
        }
    }
    return out;
}

static void websocket_rate_limit(void **state)
{
    (void)state;
    /* Views at 10 Hz with a few ms of jitter (97..104 ms, mean 100.5) and a 10 Hz limit: every
     * view goes out when it is published. (Timing the interval from the previous send, as the
     * writer once did, lets the lag random-walk up to tens of ms and stay there.) */
    ws_rate_run_t r = ws_rate_sim(0u, 600000u, 100u, 97u, 7u);
    assert_int_equal(r.sent, r.views);
    assert_true(r.max_lag <= 1u);
    assert_true(r.max_per_s <= 11u);
    /* the same across the wrap of the 32-bit millisecond clock */
    r = ws_rate_sim(0xFFFF0000u, 600000u, 100u, 97u, 7u);
    assert_int_equal(r.sent, r.views);
    assert_true(r.max_lag <= 1u);
    /* views faster than the limit (100 Hz): at most rate + 1 in any second, the newest sent */
    r = ws_rate_sim(0u, 60000u, 100u, 10u, 0u);
    assert_true(r.max_per_s <= 11u);
    assert_true(r.sent <= 60000u / 100u + 1u);
    assert_true(r.sent >= 60000u / 100u - 1u);
    assert_true(r.max_lag < 10u);
    /* slower than the limit: each at once */
    r = ws_rate_sim(0u, 60000u, 200u, 250u, 30u);
    assert_int_equal(r.sent, r.views);
    assert_int_equal(r.max_lag, 0u);
}

static void websocket_protocol(void **state)
{
    (void)state;
    api_ws_sub_t s;
    api_ws_sub_default(&s);
    assert_true(s.status && s.events && !s.log && !s.can);
    const char *m = "{\"subscribe\":[\"log\",\"can\"],\"log_level\":\"warn\"}";
    assert_int_equal(api_ws_parse(m, strlen(m), &s), TB_OK);
    assert_true(!s.status && !s.events && s.log && s.can);
    assert_int_equal(s.log_level, LOG_WARN);
    api_ws_sub_t before = s;
    m = "{\"subscribe\":[\"log\",\"everything\"]}";
    assert_int_equal(api_ws_parse(m, strlen(m), &s), TB_ERR_RANGE);
    assert_memory_equal(&s, &before, sizeof s);
    m = "{\"subscribe\":\"status\"}";
    assert_int_equal(api_ws_parse(m, strlen(m), &s), TB_ERR_FORMAT);
    m = "{\"log_level\":\"loud\"}";
    assert_int_equal(api_ws_parse(m, strlen(m), &s), TB_ERR_RANGE);
    m = "{\"hello\":1}";
    assert_int_equal(api_ws_parse(m, strlen(m), &s), TB_ERR_FORMAT);
    assert_int_equal(api_ws_parse("nope", 4, &s), TB_ERR_FORMAT);
    assert_int_equal(api_ws_parse("{}", 1000, &s), TB_ERR_TOO_LARGE);
    assert_int_equal(api_ws_parse("{\"a\":\0}", 7, &s), TB_ERR_FORMAT);
    assert_memory_equal(&s, &before, sizeof s);

    char buf[16384];
    int n = api_ws_status(buf, sizeof buf, P.view.status_json, P.view.status_len);
    assert_int_equal((size_t)n, P.view.status_len + 25u);
    assert_int_equal(strncmp(buf, "{\"type\":\"status\",\"data\":{\"seq\":42", 33), 0);
    assert_int_equal(api_ws_status(buf, 20, P.view.status_json, P.view.status_len), TB_ERR_NOSPACE);
    n = api_ws_events(buf, sizeof buf, &P.view);
    assert_true(n > 0 && strstr(buf, "\"seq\":5,\"timestamp_s\":100"));
    n = api_ws_can(buf, sizeof buf, &P.view);
    assert_true(n > 0 && strstr(buf, "{\"type\":\"can\",\"data\":{\"mode\":\"transmitting\""));
    n = api_ws_hello(buf, sizeof buf, "1.0", 5, &before);
    assert_true(n > 0 && strstr(buf, "\"subscribed\":[\"log\",\"can\"]"));
    log_entry_t e = {7, 1, 0, LOG_WARN, "web", "hello"};
    n = api_ws_log(buf, sizeof buf, &e, 1, 9);
    assert_true(n > 0 && strstr(buf, "\"last_seq\":9,\"entries\":[{\"seq\":7,\"time_ms\":null,\"level\":\"warn\""));

    char u[] = "ok \xc3\xa9 bad \xff \xc3 \xe2\x82\xac \xed\xa0\x80 \xf0\x9f\x94\x8b";
    assert_int_equal(api_ws_utf8_sanitize(u, strlen(u)), 5u);
    assert_string_equal(u, "ok \xc3\xa9 bad ? ? \xe2\x82\xac ??? \xf0\x9f\x94\x8b");
}

/* ---- firmware update (POST /api/system/ota) with a fake update slot -------------------------------- */

#include "app/ota_img.h"

#define IMG_LEN 10000u
#define SLOT_LEN 16384u

static struct {
    uint8_t slot[SLOT_LEN];
    size_t written;
    int begins, aborts, finishes, finish_rc, begin_rc;
    api_ota_result_t last;
    char last_detail[200];
    int records;
    /* the request body, streamed in chunks of up to `step` bytes, ending after `stop` bytes */
    const uint8_t *body;
    size_t body_len, off, step, stop;
} O;

static uint8_t g_img[IMG_LEN + 16u];

static void make_image(uint16_t chip, const char *project, const char *version)
{
    for (size_t i = 0; i < sizeof g_img; i++) {
        g_img[i] = (uint8_t)(i * 7u + 3u);
    }
    g_img[0] = OTA_IMG_MAGIC;
    g_img[1] = 4;
    g_img[12] = (uint8_t)chip;
    g_img[13] = (uint8_t)(chip >> 8);
    g_img[32] = 0x32;
    g_img[33] = 0x54;
    g_img[34] = 0xcd;
    g_img[35] = 0xab;
    memset(g_img + 48, 0, 32);
    memcpy(g_img + 48, version, strlen(version));
    memset(g_img + 80, 0, 32);
    memcpy(g_img + 80, project, strlen(project));
    memset(g_img + 144, 0, 32);
    memcpy(g_img + 144, "v5.1.4", 6);
}

static void o_state(void *ctx, api_ota_state_t *out)
{
    (void)ctx;
    out->available = true;
    out->slot_bytes = SLOT_LEN;
    out->chip_id = OTA_CHIP_ESP32C3;
    snprintf(out->project, sizeof out->project, "tinybms-gateway");
    snprintf(out->running, sizeof out->running, "ota_0");
    snprintf(out->version, sizeof out->version, "1.0.0");
    snprintf(out->state, sizeof out->state, "valid");
    snprintf(out->next_boot, sizeof out->next_boot, "ota_0");
    snprintf(out->update_slot, sizeof out->update_slot, "ota_1");
}

static int o_begin(void *ctx, size_t len, char *err, size_t cap)
{
    (void)ctx;
    O.begins++;
    O.written = 0;
    snprintf(err, cap, "begin refused");
    return len <= SLOT_LEN ? O.begin_rc : TB_ERR_TOO_LARGE;
}

static int o_write(void *ctx, const void *p, size_t n, char *err, size_t cap)
{
    (void)ctx;
    if (O.written + n > SLOT_LEN) {
        snprintf(err, cap, "past the slot");
        return TB_ERR_IO;
    }
    memcpy(O.slot + O.written, p, n);
    O.written += n;
    return TB_OK;
}

static int o_finish(void *ctx, char *err, size_t cap)
{
    (void)ctx;
    O.finishes++;
    snprintf(err, cap, "image verification failed (SHA-256)");
    return O.finish_rc;
}

static void o_abort(void *ctx)
{
    (void)ctx;
    O.aborts++;
}

static void o_record(void *ctx, api_ota_result_t r, const char *version, const char *detail)
{
    (void)ctx;
    (void)version;
    O.records++;
    O.last = r;
    snprintf(O.last_detail, sizeof O.last_detail, "%s", detail ? detail : "");
}

static const api_ota_port_t g_ota = {o_state, o_begin, o_write, o_finish, o_abort, o_record, NULL};

static int o_read(void *ctx, void *buf, size_t cap)
{
    (void)ctx;
    size_t end = O.stop < O.body_len ? O.stop : O.body_len;
    if (O.off >= end) {
        return O.stop < O.body_len ? -1 : 0; /* a connection that failed, or the end */
    }
    size_t n = end - O.off;
    n = n < cap ? n : cap;
    n = n < O.step ? n : O.step;
    memcpy(buf, O.body + O.off, n);
    O.off += n;
    O.step = O.step % 1500u + 97u; /* uneven chunks, as TCP delivers them */
    return (int)n;
}

/* POST /api/system/ota streaming `len` bytes of g_img (declared), of which only `stop` arrive. */
static const api_resp_t *upload(size_t len, size_t stop, const char *origin)
{
    api_resp_free(&R);
    O.body = g_img;
    O.body_len = len;
    O.off = 0;
    O.step = 1000;
    O.stop = stop;
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = API_POST;
    q.path = "/api/system/ota";
    q.host = "gw:80";
    q.origin = origin;
    q.cookie = g_cookie[0] ? g_cookie : NULL;
    q.peer = "10.0.0.7";
    assert_true(api_streams_body(&g_api, &q));
    q.body_read = o_read;
    q.content_length = len;
    api_handle(&g_api, &q, &R);
    return &R;
}

static void ota_on_linux_is_501(void **state)
{
    (void)state;
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = API_POST;
    q.path = "/api/system/ota";
    assert_false(api_streams_body(&g_api, &q)); /* no update slot: the adapter reads the body as usual */
    post("/api/system/ota", "\xe9");
    assert_int_equal(R.status, 401);            /* the same rules as every change first */
    login();
    post("/api/system/ota", "\xe9");
    assert_int_equal(R.status, 501);
    assert_true(body_has("\"error\":\"unsupported\"") && body_has("package manager"));
    assert_int_equal(rej(API_REJ_UNSUPPORTED), 1);
    get("/api/system", NULL);
    assert_true(body_has("\"platform\":null"));
}

static void ota_upload(void **state)
{
    (void)state;
    memset(&O, 0, sizeof O);
    api_port_t port = g_port;
    port.platform = p_platform;
    port.ota = &g_ota;
    api_info_t info = {"1.0.0", "test", false, "nvs:config.json", "nvs", "0.0.0.0:80", k_assets, 2};
    api_init(&g_api, &port, &info, &g_auth, &g_cfg.web);
    make_image(OTA_CHIP_ESP32C3, "tinybms-gateway", "2.0.0-test");

    /* the shared rules first: no session, another origin */
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 401);
    assert_int_equal(rej(API_REJ_UNAUTHENTICATED), 1);
    login();
    upload(IMG_LEN, IMG_LEN, "http://evil.example");
    assert_int_equal(R.status, 403);
    assert_int_equal(O.begins, 0);

    /* refusals before anything is written */
    upload(SLOT_LEN + 1u, SLOT_LEN + 1u, "http://gw:80");
    assert_int_equal(R.status, 413);
    assert_true(body_has("\"error\":\"too_large\"") && body_has("16385 bytes") && body_has("ota_1 holds 16384"));
    upload(0, 0, "http://gw:80");
    assert_int_equal(R.status, 411);
    g_img[0] = 0x7f; /* an ELF */
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"bad_magic\"") && body_has("0x7f"));
    make_image(OTA_CHIP_ESP32S3, "tinybms-gateway", "2.0.0-test");
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"wrong_chip\"") && body_has("for the esp32s3, this gateway is an esp32c3"));
    make_image(0x1234u, "tinybms-gateway", "2.0.0-test");
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_true(body_has("for the chip id 0x1234"));
    make_image(OTA_CHIP_ESP32C3, "hello_world", "1.0");
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_true(body_has("\"error\":\"not_this_app\"") && body_has("\\\"hello_world\\\""));
    make_image(OTA_CHIP_ESP32C3, "tinybms-gateway", "2.0.0-test");
    upload(IMG_LEN, 200, "http://gw:80"); /* not even a header */
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"truncated\"") && body_has("after 200 of 10000 bytes"));
    assert_int_equal(O.begins, 0);
    assert_int_equal(O.written, 0);

    /* refusals after writing began: the slot is abandoned, nothing is selected */
    upload(IMG_LEN, 7000, "http://gw:80");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"truncated\"") && body_has("after 7000 of 10000 bytes"));
    assert_int_equal(O.begins, 1);
    assert_int_equal(O.aborts, 1);
    assert_int_equal(O.finishes, 0);
    O.finish_rc = TB_ERR_CRC;
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 400);
    assert_true(body_has("\"error\":\"verify_failed\"") && body_has("SHA-256"));
    O.finish_rc = TB_OK;
    O.begin_rc = TB_ERR_BUSY;
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 409);
    O.begin_rc = TB_OK;
    assert_int_equal(P.cmds, 0); /* no restart for any of them */
    assert_int_equal(O.last, API_OTA_BUSY);

    /* the good one: written whole, verified, the restart queued after the reply */
    upload(IMG_LEN, IMG_LEN, "http://gw:80");
    assert_int_equal(R.status, 200);
    assert_true(body_has("\"result\":\"ok\",\"version\":\"2.0.0-test\",\"previous_version\":\"1.0.0\",\"bytes\":10000"));
    assert_true(body_has("\"restarting\":true"));
    assert_int_equal(O.written, IMG_LEN);
    assert_memory_equal(O.slot, g_img, IMG_LEN);
    assert_int_equal(P.last.type, GW_CMD_RESTART);
    assert_int_equal(O.last, API_OTA_OK);

    /* counted by outcome, in GET /api/system under platform */
    static const api_ota_result_t k_once[] = {API_OTA_TOO_LARGE,  API_OTA_NO_LENGTH,    API_OTA_BAD_MAGIC,
                                              API_OTA_VERIFY_FAILED, API_OTA_BUSY,     API_OTA_OK};
    for (size_t i = 0; i < sizeof k_once / sizeof k_once[0]; i++) {
        assert_int_equal(atomic_load(&g_api.n.ota[k_once[i]]), 1);
    }
    assert_int_equal(atomic_load(&g_api.n.ota[API_OTA_WRONG_CHIP]), 2);
    assert_int_equal(atomic_load(&g_api.n.ota[API_OTA_TRUNCATED]), 2);
    get("/api/system", NULL);
    assert_true(body_has("\"ota\":{\"available\":true,\"chip\":\"esp32c3\",\"running_partition\":\"ota_0\","
                         "\"version\":\"1.0.0\",\"state\":\"valid\",\"pending_verify\":false,\"verify_left_s\":null,"
                         "\"next_boot_partition\":\"ota_0\",\"update_partition\":\"ota_1\",\"slot_bytes\":16384,"
                         "\"last_upload\":null,\"rollback\":false,\"rolled_back\":null,\"uploads\":{\"ok\":1,"));
    get("/metrics", NULL);
    assert_true(body_has("tinybms_ota_uploads_total{result=\"wrong_chip\"} 2\n"));
}

static void ota_image_header(void **state)
{
    (void)state;
    ota_img_info_t info;
    char why[200];
    make_image(OTA_CHIP_ESP32C3, "tinybms-gateway", "0.9.0\x01\xff");
    assert_int_equal(ota_img_check(g_img, OTA_IMG_HEAD_LEN, OTA_CHIP_ESP32C3, "tinybms-gateway", &info, why, sizeof why),
                     OTA_IMG_OK);
    assert_string_equal(info.version, "0.9.0??"); /* printable only */
    assert_string_equal(info.idf_ver, "v5.1.4");
    assert_int_equal(info.segments, 4);
    assert_int_equal(ota_img_check(g_img, OTA_IMG_HEAD_LEN - 1u, OTA_CHIP_ESP32C3, NULL, &info, why, sizeof why),
                     OTA_IMG_BAD_MAGIC);
    g_img[1] = 0;
    assert_int_equal(ota_img_check(g_img, OTA_IMG_HEAD_LEN, OTA_CHIP_ESP32C3, NULL, &info, why, sizeof why),
                     OTA_IMG_BAD_MAGIC);
    g_img[1] = 4;
    g_img[32] = 0;
    assert_int_equal(ota_img_check(g_img, OTA_IMG_HEAD_LEN, OTA_CHIP_ESP32C3, NULL, &info, why, sizeof why),
                     OTA_IMG_NO_DESC);
    memset(g_img + 80, 'x', 32); /* a project name without its NUL: cut at 32 */
    g_img[32] = 0x32;
    assert_int_equal(ota_img_check(g_img, OTA_IMG_HEAD_LEN, OTA_CHIP_ESP32C3, "tinybms-gateway", &info, why, sizeof why),
                     OTA_IMG_WRONG_PROJECT);
    assert_int_equal(strlen(info.project), 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(status_is_the_prerendered_view, setup),
        cmocka_unit_test_setup(routing, setup),
        cmocka_unit_test_setup(assets, setup),
        cmocka_unit_test_setup(platform_figures, setup),
        cmocka_unit_test_setup(writes_need_a_session_and_the_same_origin, setup),
        cmocka_unit_test_setup(read_only_closed, setup),
        cmocka_unit_test_setup(config_update, setup),
        cmocka_unit_test_setup(config_read_never_shows_secrets, setup),
        cmocka_unit_test_setup(bms_settings, setup),
        cmocka_unit_test_setup(bms_reset_and_restart, setup),
        cmocka_unit_test_setup(view_endpoints, setup),
        cmocka_unit_test_setup(history, setup),
        cmocka_unit_test_setup(logs, setup),
        cmocka_unit_test_setup(login_endpoints, setup),
        cmocka_unit_test_setup(oversize_is_refused_first, setup),
        cmocka_unit_test_setup(query_strings, setup),
        cmocka_unit_test_setup(metrics, setup),
        cmocka_unit_test_setup(websocket_protocol, setup),
        cmocka_unit_test(websocket_rate_limit),
        cmocka_unit_test_setup(ota_on_linux_is_501, setup),
        cmocka_unit_test_setup(ota_upload, setup),
        cmocka_unit_test(ota_image_header),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    api_resp_free(&R);
    return rc;
}
