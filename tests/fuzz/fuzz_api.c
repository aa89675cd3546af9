/* libFuzzer harness for everything the web API parses from the network: request routing, query
 * strings, JSON bodies of every endpoint (the configuration document goes through the real
 * gw_config_apply_json, as the owner thread would run it), login/set-up bodies, cookies, Origin
 * headers, and WebSocket client messages (app/api.c, app/auth.c, app/api_ws.c).
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - every answer has a status 200..599 and, when JSON, is a complete JSON document;
 *   - nothing is ever executed without the session cookie, or with a cross-site Origin;
 *   - a refused request (4xx) never reaches the owner;
 *   - an accepted configuration document applied to a copy leaves a configuration that still
 *     passes gw_config_check (bad input changes nothing else);
 *   - api_ws_parse returns TB_OK, TB_ERR_FORMAT, TB_ERR_RANGE or TB_ERR_TOO_LARGE and changes the
 *     subscription only on TB_OK.
 * Input: byte 0 selects flags (bit 0: send the valid session cookie, bit 1: cross-site Origin,
 * bit 2: read-only view closed, bit 3: also parse the whole input as a WebSocket message); the
 * rest is "METHOD\nPATH\nQUERY\nBODY" (missing parts are empty).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "app/api_ws.h"
#include "app/config.h"
#include "core/tb_err.h"
#include "mem_ports.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

static gw_view_t g_view;
static gw_config_t g_cfg;
static int g_cmds;
static bool g_allow_cmd;

static bool p_view(void *ctx, gw_view_t *out)
{
    (void)ctx;
    *out = g_view;
    return true;
}

static size_t p_status(void *ctx, char *buf, size_t cap)
{
    (void)ctx;
    if (g_view.status_len >= cap) {
        return 0;
    }
    memcpy(buf, g_view.status_json, g_view.status_len + 1u);
    return g_view.status_len;
}

static int p_command(void *ctx, gw_cmd_t *c, int timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    CHECK(g_allow_cmd);
    g_cmds++;
    c->rc = TB_OK;
    c->status = 200;
    c->result[0] = '\0';
    c->message[0] = '\0';
    if (c->type == GW_CMD_CONFIG_UPDATE) {
        /* what the owner does with it */
        static gw_config_t next;
        next = g_cfg;
        cfg_diag_t d;
        int rc = gw_config_apply_json(&next, c->text, strlen(c->text), GW_CFG_SECRETS_KEEP_EMPTY, &d);
        if (rc == TB_OK) {
            CHECK(gw_config_check(&next, &d) == TB_OK);
        } else {
            c->rc = rc;
            c->status = 400;
            CHECK(d.message[0] != '\0');
            snprintf(c->message, sizeof c->message, "%s", d.message);
        }
    }
    return TB_OK;
}

static size_t p_history(void *ctx, history_range_t r, uint32_t now_s, history_sample_t *out, size_t cap)
{
    (void)ctx;
    (void)r;
    size_t n = cap < 5u ? cap : 5u;
    for (size_t i = 0; i < n; i++) {
        out[i] = (history_sample_t){now_s - 50u + 10u * (uint32_t)i, 53.0f, 1.0f, 50.0f, 3.3f, 3.4f, 25.0f, 55.0f,
                                    10.0f, 20.0f};
    }
    return n;
}

static uint32_t p_now(void *ctx)
{
    (void)ctx;
    return 5000;
}

static uint64_t p_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000ull;
}

static mem_store_t g_store; /* tests/unit/support/mem_ports */
static fake_auth_t g_crypto;
static const api_port_t g_port = {p_view, p_status, p_command, p_history, p_now, p_wall, NULL, NULL, NULL, NULL, NULL};
static auth_t g_auth;
static api_t g_api;
static char g_cookie[96];

static void init(void)
{
    gw_config_defaults(&g_cfg);
    g_cfg.web.login_global_per_min = 1000;
    memset(&g_view, 0, sizeof g_view);
    g_view.seq = 1;
    g_view.cfg = g_cfg;
    g_view.snap.settings.valid = true;
    g_view.snap.settings.raw[0] = 3550; /* fully charged */
    g_view.snap.settings.raw[1] = 3000;
    g_view.snap.settings.raw[15] = 3800; /* over-voltage */
    g_view.snap.settings.raw[16] = 2800;
    g_view.snap.settings.raw[7] = 16;
    snprintf(g_view.can_mode, sizeof g_view.can_mode, "waiting");
    gw_view_render(&g_view);
    mem_store_init(&g_store);
    fake_auth_init(&g_crypto, 7u, &g_store.port);
    CHECK(auth_init(&g_auth, &g_crypto.port, &g_cfg.web, 0) == TB_OK);
    char code[16];
    auth_setup_code(&g_auth, code, sizeof code);
    auth_result_t r;
    auth_setup(&g_auth, "seed", code, "fuzz-password", 0, &r);
    CHECK(r.rc == TB_OK);
    snprintf(g_cookie, sizeof g_cookie, "%s=%s", AUTH_COOKIE, r.token);
    api_info_t info = {"0", "fuzz", true, "", "", "", NULL, 0};
    api_init(&g_api, &g_port, &info, &g_auth, &g_cfg.web);
}

/* next '\n'-separated part of [*p, end) as a NUL-terminated copy in out */
static void part(const uint8_t **p, const uint8_t *end, char *out, size_t cap, bool rest)
{
    const uint8_t *nl = rest ? NULL : memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    size_t n = (size_t)(stop - *p);
    if (n >= cap) {
        n = cap - 1u;
    }
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = nl ? nl + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1u) {
        return 0;
    }
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    static char method[16], path[256], query[256], body[70000];
    part(&p, end, method, sizeof method, false);
    part(&p, end, path, sizeof path, false);
    part(&p, end, query, sizeof query, false);
    size_t blen = (size_t)(end - p) < sizeof body - 1u ? (size_t)(end - p) : sizeof body - 1u;
    memcpy(body, p, blen); /* may contain NUL bytes: the API must cope */
    body[blen] = '\0';

    g_cfg.web.read_only_open = !(flags & 4u);
    api_set_web_cfg(&g_api, &g_cfg.web);
    api_req_t q;
    memset(&q, 0, sizeof q);
    q.method = api_method_parse(method);
    q.path = path;
    q.query = query;
    q.host = "gw";
    q.origin = (flags & 2u) ? "http://evil" : "http://gw";
    q.cookie = (flags & 1u) ? g_cookie : "tbgw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    q.body = body;
    q.body_len = blen;
    q.peer = (flags & 1u) ? "good" : "other"; /* so that guessing never locks the session's address */
    g_allow_cmd = (flags & 1u) && !(flags & 2u);
    int before = g_cmds;
    api_resp_t r;
    api_handle(&g_api, &q, &r);
    CHECK(r.status >= 200 && r.status <= 599);
    CHECK(r.body != NULL || r.len == 0u);
    if (r.status >= 400) {
        /* refused before the owner, except what only the owner can judge (the configuration as
         * a whole) and the owner's own answers (busy, BMS errors) */
        CHECK(g_cmds == before || r.status >= 409 || strcmp(path, "/api/config") == 0);
    }
    if (r.content_type && strcmp(r.content_type, "application/json") == 0 && r.len) {
        cJSON *j = cJSON_ParseWithLength(r.body, r.len);
        CHECK(j != NULL);
        cJSON_Delete(j);
    }
    api_resp_free(&r);

    if (flags & 8u) {
        api_ws_sub_t s, s0;
        api_ws_sub_default(&s);
        s0 = s;
        int rc = api_ws_parse((const char *)data, size, &s);
        CHECK(rc == TB_OK || rc == TB_ERR_FORMAT || rc == TB_ERR_RANGE || rc == TB_ERR_TOO_LARGE);
        if (rc != TB_OK) {
            CHECK(memcmp(&s, &s0, sizeof s) == 0);
        }
        char buf[4096];
        memcpy(buf, data, size < sizeof buf ? size : sizeof buf);
        api_ws_utf8_sanitize(buf, size < sizeof buf ? size : sizeof buf);
    }
    return 0;
}
