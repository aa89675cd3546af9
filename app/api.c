#include "app/api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api_json.h"
#include "app/bms_json.h"
#include "app/config.h"
#include "app/json_in.h"
#include "app/log.h"
#include "app/metrics.h"
#include "app/ota_img.h"
#include "core/hex.h"
#include "core/jw.h"
#include "core/tb_proto.h"
#include "core/tb_regs.h"

#define JSON_TYPE "application/json"
#define CMD_TIMEOUT_MS 5000
#define BMS_CMD_TIMEOUT_MS 20000 /* the owner gives the BMS 15 s */
#define RENDER_MAX (8u * 1024u * 1024u)
#define LOG_LIMIT_DEFAULT 200u
#define LOG_LIMIT_MAX 512u

/* ---- small helpers ------------------------------------------------------------------------------- */

const char *api_reject_name(api_reject_t r)
{
    static const char *const k[API_REJ_COUNT] = {"bad_json", "bad_value", "too_large", "unauthenticated",
                                                 "cross_origin", "not_found", "method", "busy",
                                                 "rate_limited", "unavailable", "bms_timeout",
                                                 "conn_per_addr", "conn_total", "header_timeout",
                                                 "unsupported"};
    return (unsigned)r < API_REJ_COUNT ? k[r] : "unknown";
}

api_method_t api_method_parse(const char *m)
{
    static const char *const k[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (unsigned i = 0; m && i < sizeof k / sizeof k[0]; i++) {
        if (strcmp(m, k[i]) == 0) {
            return (api_method_t)i;
        }
    }
    return API_OTHER;
}

void api_add_header(api_resp_t *r, const char *name, const char *value)
{
    size_t need = strlen(name) + strlen(value) + 4u;
    if (r->headers_len + need >= sizeof r->headers) {
        return;
    }
    int n = snprintf(r->headers + r->headers_len, sizeof r->headers - r->headers_len, "%s: %s\r\n", name, value);
    if (n > 0) {
        r->headers_len += (size_t)n;
    }
}

static void resp_reset(api_resp_t *r)
{
    free(r->heap);
    r->heap = NULL;
    r->body = "";
    r->len = 0;
    r->content_type = JSON_TYPE;
}

void api_resp_free(api_resp_t *r)
{
    free(r->heap);
    r->heap = NULL;
    r->body = NULL;
    r->len = 0;
}

static void count_rej(api_t *api, api_reject_t rej)
{
    if ((unsigned)rej < API_REJ_COUNT) {
        atomic_fetch_add(&api->n.rejected[rej], 1u);
    }
}

/* Render a JSON document with fn into a heap buffer, growing it until it fits. */
typedef void (*render_fn)(jw_t *w, const void *ctx);

static bool render(api_resp_t *r, int status, size_t hint, render_fn fn, const void *ctx)
{
    size_t cap = hint < 256u ? 256u : hint;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) {
            break;
        }
        jw_t w;
        jw_init(&w, buf, cap);
        fn(&w, ctx);
        int n = jw_finish(&w);
        if (n >= 0) {
            resp_reset(r);
            r->heap = buf;
            r->body = buf;
            r->len = (size_t)n;
            r->status = status;
            r->content_type = JSON_TYPE;
            return true;
        }
        free(buf);
        if (n != TB_ERR_NOSPACE || cap >= RENDER_MAX) {
            break;
        }
        cap *= 2u;
    }
    resp_reset(r);
    static const char k_fail[] = "{\"error\":\"internal\",\"reason\":\"the response could not be rendered\"}";
    r->status = 500;
    r->body = k_fail;
    r->len = sizeof k_fail - 1u;
    return false;
}

typedef struct {
    const char *code, *field, *reason;
} err_ctx_t;

static void render_error(jw_t *w, const void *p)
{
    const err_ctx_t *e = p;
    jw_obj_begin(w);
    jw_kv_str(w, "error", e->code);
    if (e->field) {
        jw_kv_str(w, "field", e->field);
    }
    jw_kv_str(w, "reason", e->reason ? e->reason : "");
    jw_obj_end(w);
}

void api_error(api_t *api, api_resp_t *resp, int status, api_reject_t rej, const char *code, const char *field,
               const char *reason)
{
    err_ctx_t e = {code, field, reason};
    count_rej(api, rej);
    render(resp, status, 256u + (reason ? strlen(reason) : 0u), render_error, &e);
}

static void api_errorf(api_t *api, api_resp_t *resp, int status, api_reject_t rej, const char *code, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void api_errorf(api_t *api, api_resp_t *resp, int status, api_reject_t rej, const char *code, const char *field,
                       const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    api_error(api, resp, status, rej, code, field, reason);
}

int api_query_get(const char *q, const char *key, char *out, size_t cap)
{
    if (!q || !key || cap == 0u) {
        return 0;
    }
    size_t kl = strlen(key);
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg >= kl && strncmp(p, key, kl) == 0 && (seg == kl || p[kl] == '=')) {
            const char *v = seg == kl ? p + kl : p + kl + 1u;
            size_t vl = seg == kl ? 0u : seg - kl - 1u;
            size_t o = 0;
            for (size_t i = 0; i < vl; i++) {
                char c = v[i];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && i + 2u < vl && tb_hex_digit(v[i + 1u]) >= 0 && tb_hex_digit(v[i + 2u]) >= 0) {
                    c = (char)(tb_hex_digit(v[i + 1u]) * 16 + tb_hex_digit(v[i + 2u]));
                    i += 2u;
                    if (c == '\0') {
                        out[0] = '\0';
                        return -1;
                    }
                }
                if (o + 1u >= cap) {
                    out[0] = '\0';
                    return -1;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return 1;
        }
        if (!amp) {
            break;
        }
        p = amp + 1;
    }
    return 0;
}

/* ---- JSON bodies --------------------------------------------------------------------------------- */

/* Parse the body as a JSON object through the json_in gate (bounded nesting, UTF-8, no NUL, no
 * duplicate keys); on failure answers 400 with the reason and returns NULL. */
static cJSON *parse_body(api_t *api, const api_req_t *req, api_resp_t *resp)
{
    if (!req->body || req->body_len == 0u) {
        api_error(api, resp, 400, API_REJ_BAD_JSON, "bad_json", NULL, "the request needs a JSON object as its body");
        return NULL;
    }
    json_in_err_t e;
    cJSON *root = json_in_parse(req->body, req->body_len, &e);
    if (!root) {
        api_errorf(api, resp, 400, API_REJ_BAD_JSON, "bad_json", NULL, "%s", e.msg);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_error(api, resp, 400, API_REJ_BAD_JSON, "bad_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* A string member of at most maxlen bytes; answers 400 naming it otherwise. */
static const char *body_string(api_t *api, api_resp_t *resp, const cJSON *o, const char *key, size_t maxlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) {
        api_errorf(api, resp, 400, API_REJ_BAD_JSON, "bad_json", key, "\"%s\" must be a string", key);
        return NULL;
    }
    if (strlen(v->valuestring) > maxlen) {
        api_errorf(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", key, "\"%s\" is longer than %u bytes", key,
                   (unsigned)maxlen);
        return NULL;
    }
    return v->valuestring;
}

/* ---- commands ------------------------------------------------------------------------------------- */

typedef struct {
    const gw_cmd_t *c;
} cmd_ctx_t;

/* {"message": ..., <fields of the result object>} */
static void render_cmd_ok(jw_t *w, const void *p)
{
    const gw_cmd_t *c = ((const cmd_ctx_t *)p)->c;
    jw_obj_begin(w);
    jw_kv_str(w, "message", c->message);
    size_t rl = strlen(c->result);
    if (rl > 2u && c->result[0] == '{' && c->result[rl - 1u] == '}') {
        /* splice the owner's result members in (it is a JSON object rendered by jw) */
        jw_key(w, "result");
        jw_raw(w, c->result, rl);
    }
    jw_obj_end(w);
}

/* Send cmd and turn its outcome into a response. field: the name errors refer to. */
static void run_command(api_t *api, const api_req_t *req, api_resp_t *resp, gw_cmd_t *cmd, int timeout_ms,
                        const char *field)
{
    (void)req;
    snprintf(cmd->source, sizeof cmd->source, "http");
    atomic_fetch_add(&api->n.commands, 1u);
    int rc = api->port.command(api->port.ctx, cmd, timeout_ms);
    if (rc == TB_ERR_BUSY) {
        api_error(api, resp, 409, API_REJ_BUSY, "busy", NULL, "the gateway is busy with other requests; try again");
        return;
    }
    if (rc == TB_ERR_TIMEOUT) {
        api_error(api, resp, 504, API_REJ_TIMEOUT, "timeout", NULL,
                  "the gateway did not finish the request in time; it may still be carried out");
        return;
    }
    if (rc == TB_ERR_CANCELLED) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "unavailable", NULL,
                  "the gateway is stopping; try again when it is back");
        api_add_header(resp, "Retry-After", "5");
        return;
    }
    if (rc != TB_OK) {
        api_error(api, resp, 500, API_REJ_UNAVAILABLE, tb_err_name(rc), NULL, tb_err_str(rc));
        return;
    }
    if (cmd->rc == TB_OK) {
        cmd_ctx_t cc = {cmd};
        render(resp, cmd->status ? cmd->status : 200, 512u + strlen(cmd->result), render_cmd_ok, &cc);
        return;
    }
    int st = cmd->status >= 400 ? cmd->status : 500;
    api_reject_t rej = st == 400 ? API_REJ_BAD_VALUE : st == 404 ? API_REJ_NOT_FOUND : st == 409 ? API_REJ_BUSY
                       : st == 503 ? API_REJ_UNAVAILABLE : API_REJ_TIMEOUT;
    size_t rl = strlen(cmd->result);
    if (st == 400 && rl > 2u && cmd->result[0] == '{' && strstr(cmd->result, "\"error\"")) {
        /* the owner's own {"error","field","reason"} (configuration diagnostics) */
        count_rej(api, rej);
        resp_reset(resp);
        resp->heap = malloc(rl + 1u);
        if (resp->heap) {
            memcpy(resp->heap, cmd->result, rl + 1u);
            resp->body = resp->heap;
            resp->len = rl;
            resp->status = st;
            return;
        }
    }
    const char *code = st == 400 ? "out_of_range" : st == 404 ? "not_found" : st == 409 ? "busy" : st == 503 ? "unavailable"
                       : st == 502 ? "bms_refused" : st == 504 ? "bms_timeout" : tb_err_name(cmd->rc);
    api_error(api, resp, st, rej, code, field, cmd->message);
}

static gw_cmd_t *new_cmd(api_t *api, api_resp_t *resp, gw_cmd_type_t type)
{
    gw_cmd_t *c = calloc(1, sizeof *c);
    if (!c) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return NULL;
    }
    c->type = type;
    return c;
}

/* ---- views ---------------------------------------------------------------------------------------- */

static gw_view_t *get_view(api_t *api, api_resp_t *resp)
{
    gw_view_t *v = malloc(sizeof *v);
    if (!v) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return NULL;
    }
    if (!api->port.view(api->port.ctx, v)) {
        free(v);
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "starting", NULL, "the gateway has not published any data yet");
        api_add_header(resp, "Retry-After", "1");
        return NULL;
    }
    return v;
}

/* ---- handlers ------------------------------------------------------------------------------------- */

typedef struct api_route api_route_t;
typedef void (*handler_fn)(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg);

static void h_status(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    /* the hot path: no allocation when the caller lends a buffer */
    bool lent = req->scratch && req->scratch_cap >= GW_STATUS_JSON_MAX;
    char *buf = lent ? req->scratch : malloc(GW_STATUS_JSON_MAX);
    if (!buf) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return;
    }
    size_t n = api->port.status(api->port.ctx, buf, GW_STATUS_JSON_MAX);
    if (n == 0u) {
        if (!lent) {
            free(buf);
        }
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "starting", NULL, "the gateway has not published any data yet");
        api_add_header(resp, "Retry-After", "1");
        return;
    }
    resp_reset(resp);
    resp->status = 200;
    resp->heap = lent ? NULL : buf;
    resp->body = buf;
    resp->len = n;
}

static void h_config_get(api_t *api, const api_req_t *req, api_resp_t *resp)
{
    gw_view_t *v = get_view(api, resp);
    if (!v) {
        return;
    }
    char dl[8] = "";
    bool download = api_query_get(req->query, "download", dl, sizeof dl) != 0 && strcmp(dl, "0") != 0;
    size_t cap = 16384u;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) {
            break;
        }
        /* never GW_CFG_OUT_SECRETS: secrets are write-only */
        int n = gw_config_to_json(&v->cfg, buf, cap, download ? GW_CFG_OUT_PRETTY : 0u);
        if (n >= 0) {
            resp_reset(resp);
            resp->status = 200;
            resp->heap = buf;
            resp->body = buf;
            resp->len = (size_t)n;
            if (download) {
                api_add_header(resp, "Content-Disposition", "attachment; filename=\"tinybms-gateway-config.json\"");
            }
            free(v);
            return;
        }
        free(buf);
        if (cap > RENDER_MAX) {
            break;
        }
        cap *= 2u;
    }
    free(v);
    api_error(api, resp, 500, API_REJ_UNAVAILABLE, "internal", NULL, "the configuration could not be rendered");
}

static void h_config(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    if (req->method != API_PUT && req->method != API_POST) {
        h_config_get(api, req, resp);
        return;
    }
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    char *compact = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!compact) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return;
    }
    if (strlen(compact) >= GW_CMD_TEXT_MAX) {
        free(compact);
        api_errorf(api, resp, 413, API_REJ_TOO_LARGE, "too_large", NULL,
                   "the configuration document is larger than %u bytes", (unsigned)GW_CMD_TEXT_MAX - 1u);
        return;
    }
    gw_cmd_t *c = new_cmd(api, resp, GW_CMD_CONFIG_UPDATE);
    if (c) {
        memcpy(c->text, compact, strlen(compact) + 1u);
        run_command(api, req, resp, c, CMD_TIMEOUT_MS, NULL);
        if (c->rc == TB_OK && resp->status == 200 && api->port.sync) {
            api->port.sync(api->port.ctx, 2000); /* a GET right after this PUT sees the change */
        }
        free(c);
    }
    free(compact);
}

static void h_schema(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)req;
    (void)arg;
    size_t cap = 32768u;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) {
            break;
        }
        int n = gw_config_schema_json(buf, cap);
        if (n >= 0) {
            resp_reset(resp);
            resp->status = 200;
            resp->heap = buf;
            resp->body = buf;
            resp->len = (size_t)n;
            return;
        }
        free(buf);
        if (cap > RENDER_MAX) {
            break;
        }
        cap *= 2u;
    }
    api_error(api, resp, 500, API_REJ_UNAVAILABLE, "internal", NULL, "the schema could not be rendered");
}

static void render_settings(jw_t *w, const void *p)
{
    const gw_view_t *v = p;
    api_json_settings(w, v);
}

static void render_one_setting(jw_t *w, const void *p)
{
    const void *const *pp = p;
    const gw_view_t *v = pp[0];
    const tb_reg_t *r = pp[1];
    bms_json_register(w, r, &v->snap.settings.raw[r->addr - BMS_SETTINGS_FIRST],
                      v->bms_limits.valid ? &v->bms_limits : NULL);
}

static const tb_reg_t *setting_lookup(api_t *api, api_resp_t *resp, const char *name)
{
    const tb_reg_t *r = name && name[0] ? tb_reg_lookup(name) : NULL;
    if (!r || r->group != TB_GRP_SETTINGS) {
        api_errorf(api, resp, 404, API_REJ_NOT_FOUND, "not_found", "name", "unknown TinyBMS setting '%.60s'",
                   name ? name : "");
        return NULL;
    }
    return r;
}

static void put_setting(api_t *api, const api_req_t *req, api_resp_t *resp, const tb_reg_t *r)
{
    if (!(r->flags & TB_REGF_WRITABLE)) {
        api_errorf(api, resp, 400, API_REJ_BAD_VALUE, "read_only", tb_reg_name(r), "%s is not writable", tb_reg_name(r));
        return;
    }
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(root, "value");
    if (!cJSON_IsNumber(val)) {
        cJSON_Delete(root);
        api_errorf(api, resp, 400, API_REJ_BAD_JSON, "bad_json", "value",
                   "the body must be {\"value\": <number in %s>}", tb_reg_unit(r)[0] ? tb_reg_unit(r) : "the register's unit");
        return;
    }
    double value = val->valuedouble;
    cJSON_Delete(root);
    gw_view_t *v = get_view(api, resp);
    if (!v) {
        return;
    }
    /* validate here too, so that a bad value never occupies the command queue */
    uint16_t words[2];
    const char *why = NULL;
    const tb_settings_limits_t *lim = v->bms_limits.valid ? &v->bms_limits : NULL;
    int rc = tb_reg_encode(r, value, lim, words, &why);
    if (rc != TB_OK) {
        char range[96] = "";
        if (r->flags & TB_REGF_RANGE) {
            unsigned idx = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
            double lo = (double)tb_reg_min(r) * (double)tb_reg_scale(r), hi = (double)tb_reg_max(r) * (double)tb_reg_scale(r);
            if (lim && r->words == 1u && idx < BMS_SETTINGS_COUNT) {
                bool s = r->type == TB_T_INT16;
                double dlo = (double)(s ? (int16_t)lim->min[idx] : lim->min[idx]) * (double)tb_reg_scale(r);
                double dhi = (double)(s ? (int16_t)lim->max[idx] : lim->max[idx]) * (double)tb_reg_scale(r);
                lo = dlo > lo ? dlo : lo;
                hi = dhi < hi ? dhi : hi;
            }
            /* with the register's decimals: 3.2 V, not 3.200000048 (the scale is a float) */
            int dec = (int)tb_reg_decimals(r);
            snprintf(range, sizeof range, " (allowed %.*f..%.*f%s%s)", dec, lo, dec, hi, tb_reg_unit(r)[0] ? " " : "",
                     tb_reg_unit(r));
        }
        api_errorf(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", tb_reg_name(r), "%s = %g%s%s refused: %s%s", tb_reg_name(r), value,
                   tb_reg_unit(r)[0] ? " " : "", tb_reg_unit(r), why ? why : "invalid", range);
        free(v);
        return;
    }
    bool have = v->snap.settings.valid;
    free(v);
    if (!have) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "unavailable", NULL,
                  "the BMS settings have not been read yet; try again when the BMS answers");
        return;
    }
    gw_cmd_t *c = new_cmd(api, resp, GW_CMD_BMS_WRITE);
    if (!c) {
        return;
    }
    snprintf(c->name, sizeof c->name, "%s", tb_reg_name(r));
    c->value = value;
    run_command(api, req, resp, c, BMS_CMD_TIMEOUT_MS, tb_reg_name(r));
    if (c->rc == TB_OK && resp->status == 200) {
        atomic_fetch_add(&api->n.bms_writes_ok, 1u);
    }
    free(c);
}

static void h_settings(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    if (arg) {
        const tb_reg_t *r = setting_lookup(api, resp, arg);
        if (!r) {
            return;
        }
        if (req->method == API_PUT) {
            put_setting(api, req, resp, r);
            return;
        }
        gw_view_t *v = get_view(api, resp);
        if (!v) {
            return;
        }
        if (!v->snap.settings.valid) {
            free(v);
            api_error(api, resp, 503, API_REJ_UNAVAILABLE, "unavailable", NULL, "the BMS settings have not been read yet");
            return;
        }
        const void *pp[2] = {v, r};
        render(resp, 200, 1024u, render_one_setting, pp);
        free(v);
        return;
    }
    gw_view_t *v = get_view(api, resp);
    if (!v) {
        return;
    }
    render(resp, 200, 32768u, render_settings, v);
    free(v);
}

static void render_events(jw_t *w, const void *p)
{
    api_json_events(w, p);
}

static void render_stats(jw_t *w, const void *p)
{
    const gw_view_t *v = p;
    bms_json_stats(w, &v->snap.stats, v->t_ms);
}

static void render_version(jw_t *w, const void *p)
{
    const gw_view_t *v = p;
    bms_json_version(w, &v->snap.version, v->t_ms);
}

static void render_can(jw_t *w, const void *p)
{
    api_json_can_frames(w, p);
}

static void render_energy(jw_t *w, const void *p)
{
    const gw_view_t *v = p;
    jw_obj_begin(w);
    jw_kv_bool(w, "known", v->energy_known);
    jw_kv_double(w, "charged_wh", v->energy_in_wh, 1);
    jw_kv_double(w, "discharged_wh", v->energy_out_wh, 1);
    jw_kv_double(w, "net_wh", v->energy_in_wh - v->energy_out_wh, 1);
    jw_kv_double(w, "charged_kwh", v->energy_in_wh / 1000.0, 3);
    jw_kv_double(w, "discharged_kwh", v->energy_out_wh / 1000.0, 3);
    jw_key(w, "daily");
    gw_view_json_energy_days(w, v);
    jw_obj_end(w);
}

static void view_endpoint(api_t *api, api_resp_t *resp, render_fn fn, size_t hint)
{
    gw_view_t *v = get_view(api, resp);
    if (!v) {
        return;
    }
    render(resp, 200, hint, fn, v);
    free(v);
}

static void h_reset(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    const char *what = body_string(api, resp, root, "what", 16u);
    uint8_t opt = 0;
    if (what && !gw_cmd_reset_option(what, &opt)) {
        api_errorf(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "what",
                   "\"what\" = \"%.16s\" is not one of: bms, events, stats", what);
        what = NULL;
    }
    cJSON_Delete(root);
    if (!what) {
        return;
    }
    gw_cmd_t *c = new_cmd(api, resp, GW_CMD_BMS_RESET);
    if (c) {
        c->option = opt;
        run_command(api, req, resp, c, BMS_CMD_TIMEOUT_MS, "what");
        free(c);
    }
}

static void h_restart(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    if (req->body_len > 0u) { /* no body is needed; one that is sent must still be a sound JSON object */
        cJSON *root = parse_body(api, req, resp);
        if (!root) {
            return;
        }
        cJSON_Delete(root);
    }
    gw_cmd_t *c = new_cmd(api, resp, GW_CMD_RESTART);
    if (c) {
        run_command(api, req, resp, c, CMD_TIMEOUT_MS, NULL);
        free(c);
    }
}

/* ---- history -------------------------------------------------------------------------------------- */

typedef struct {
    const history_sample_t *s;
    size_t n;
    const char *range;
    uint32_t interval_s;
} hist_ctx_t;

static const char *const k_hist_fields[] = {"pack_v", "pack_a", "soc_pct", "cell_min_v", "cell_max_v",
                                            "temp_max_c", "cvl_v", "ccl_a", "dcl_a"};
static const unsigned k_hist_dec[] = {3, 2, 2, 4, 4, 1, 2, 1, 1};

static float hist_field(const history_sample_t *s, unsigned f)
{
    switch (f) {
    case 0: return s->pack_v;
    case 1: return s->pack_a;
    case 2: return s->soc_pct;
    case 3: return s->cell_min_v;
    case 4: return s->cell_max_v;
    case 5: return s->temp_max_c;
    case 6: return s->cvl_v;
    case 7: return s->ccl_a;
    default: return s->dcl_a;
    }
}

static void render_history(jw_t *w, const void *p)
{
    const hist_ctx_t *h = p;
    jw_obj_begin(w);
    jw_kv_str(w, "range", h->range);
    jw_kv_uint(w, "interval_s", h->interval_s);
    jw_kv_uint(w, "count", h->n);
    jw_key(w, "t");
    jw_arr_begin(w);
    for (size_t i = 0; i < h->n; i++) {
        jw_uint(w, h->s[i].t);
    }
    jw_arr_end(w);
    for (unsigned f = 0; f < sizeof k_hist_fields / sizeof k_hist_fields[0]; f++) {
        jw_key(w, k_hist_fields[f]);
        jw_arr_begin(w);
        for (size_t i = 0; i < h->n; i++) {
            jw_float(w, hist_field(&h->s[i], f), k_hist_dec[f]); /* NaN -> null */
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

/* Average consecutive samples into at most `points` (min cell keeps the minimum, max cell the
 * maximum, so that a short excursion stays visible at any zoom). */
static size_t downsample(history_sample_t *s, size_t n, size_t points)
{
    if (points == 0u || n <= points) {
        return n;
    }
    size_t out = 0;
    for (size_t b = 0; b < points; b++) {
        size_t lo = b * n / points, hi = (b + 1u) * n / points;
        if (hi <= lo) {
            continue;
        }
        history_sample_t acc = s[hi - 1u];
        float sum[9] = {0};
        unsigned cnt[9] = {0};
        float mn = NAN, mx = NAN;
        for (size_t i = lo; i < hi; i++) {
            for (unsigned f = 0; f < 9u; f++) {
                float x = hist_field(&s[i], f);
                if (isfinite(x)) {
                    sum[f] += x;
                    cnt[f]++;
                }
            }
            if (isfinite(s[i].cell_min_v) && (!isfinite(mn) || s[i].cell_min_v < mn)) mn = s[i].cell_min_v;
            if (isfinite(s[i].cell_max_v) && (!isfinite(mx) || s[i].cell_max_v > mx)) mx = s[i].cell_max_v;
        }
        float avg[9];
        for (unsigned f = 0; f < 9u; f++) {
            avg[f] = cnt[f] ? sum[f] / (float)cnt[f] : NAN;
        }
        acc.pack_v = avg[0];
        acc.pack_a = avg[1];
        acc.soc_pct = avg[2];
        acc.cell_min_v = mn;
        acc.cell_max_v = mx;
        acc.temp_max_c = avg[5];
        acc.cvl_v = avg[6];
        acc.ccl_a = avg[7];
        acc.dcl_a = avg[8];
        s[out++] = acc;
    }
    return out;
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian), after H. Hinnant's algorithm. */
static void civil(uint32_t t, char *out, size_t cap)
{
    long z = (long)(t / 86400u) + 719468L;
    long era = z / 146097L;
    long doe = z - era * 146097L;
    long yoe = (doe - doe / 1460L + doe / 36524L - doe / 146096L) / 365L;
    long y = yoe + era * 400L;
    long doy = doe - (365L * yoe + yoe / 4L - yoe / 100L);
    long mp = (5L * doy + 2L) / 153L;
    long d = doy - (153L * mp + 2L) / 5L + 1L;
    long m = mp < 10L ? mp + 3L : mp - 9L;
    y += m <= 2L;
    unsigned sec = (unsigned)(t % 86400u);
    snprintf(out, cap, "%04ld-%02ld-%02ldT%02u:%02u:%02uZ", y, m, d, sec / 3600u, sec / 60u % 60u, sec % 60u);
}

static void h_history(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    bool csv = arg != NULL;
    char rs[8] = "1h", ps[16] = "";
    history_range_t range;
    if (api_query_get(req->query, "range", rs, sizeof rs) < 0 || !history_range_parse(rs, &range)) {
        api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "range", "range must be one of: 1h, 24h, 7d");
        return;
    }
    size_t points = 0;
    int qp = api_query_get(req->query, "points", ps, sizeof ps);
    if (qp != 0) {
        char *end = NULL;
        long pv = strtol(ps, &end, 10);
        if (qp < 0 || !end || *end != '\0' || pv < 10 || pv > 100000) {
            api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "points", "points must be an integer 10..100000");
            return;
        }
        points = (size_t)pv;
    }
    size_t cap = history_max_samples(range);
    history_sample_t *s = malloc(cap * sizeof *s);
    if (!s) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return;
    }
    uint64_t wall = api->port.wall_ms(api->port.ctx);
    size_t n = api->port.history(api->port.ctx, range, (uint32_t)(wall / 1000u), s, cap);
    uint32_t interval = history_interval_s(range);
    if (points && n > points) {
        interval = (uint32_t)((double)interval * (double)n / (double)points + 0.5);
        n = downsample(s, n, points);
    }
    if (!csv) {
        hist_ctx_t h = {s, n, rs, interval};
        render(resp, 200, 256u + n * 96u, render_history, &h);
        free(s);
        return;
    }
    size_t bcap = 256u + n * 128u;
    char *b = malloc(bcap);
    if (!b) {
        free(s);
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return;
    }
    size_t o = (size_t)snprintf(b, bcap, "time_utc,time_s");
    for (unsigned f = 0; f < 9u; f++) {
        o += (size_t)snprintf(b + o, bcap - o, ",%s", k_hist_fields[f]);
    }
    o += (size_t)snprintf(b + o, bcap - o, "\r\n");
    for (size_t i = 0; i < n && o + 128u < bcap; i++) {
        char iso[32];
        civil(s[i].t, iso, sizeof iso);
        o += (size_t)snprintf(b + o, bcap - o, "%s,%u", iso, (unsigned)s[i].t);
        for (unsigned f = 0; f < 9u; f++) {
            float x = hist_field(&s[i], f);
            if (isfinite(x)) {
                o += (size_t)snprintf(b + o, bcap - o, ",%.*f", (int)k_hist_dec[f], (double)x);
            } else {
                o += (size_t)snprintf(b + o, bcap - o, ",");
            }
        }
        o += (size_t)snprintf(b + o, bcap - o, "\r\n");
    }
    free(s);
    resp_reset(resp);
    resp->status = 200;
    resp->content_type = "text/csv; charset=utf-8";
    resp->heap = b;
    resp->body = b;
    resp->len = o;
    char cd[96];
    snprintf(cd, sizeof cd, "attachment; filename=\"tinybms-history-%s.csv\"", rs);
    api_add_header(resp, "Content-Disposition", cd);
}

/* ---- logs ----------------------------------------------------------------------------------------- */

typedef struct {
    const log_entry_t *e;
    size_t n;
    uint64_t last;
} logs_ctx_t;

static void render_logs(jw_t *w, const void *p)
{
    const logs_ctx_t *l = p;
    jw_obj_begin(w);
    jw_kv_uint(w, "last_seq", l->last);
    jw_key(w, "entries");
    jw_arr_begin(w);
    for (size_t i = 0; i < l->n; i++) {
        api_json_log_entry(w, &l->e[i]);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static void h_logs(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    char a[24] = "0", lv[8] = "debug", li[8] = "";
    uint64_t after = 0;
    int qa = api_query_get(req->query, "after", a, sizeof a);
    if (qa != 0) {
        char *end = NULL;
        unsigned long long x = strtoull(a, &end, 10);
        if (qa < 0 || !end || *end != '\0' || a[0] < '0' || a[0] > '9') {
            api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "after", "after must be a log sequence number");
            return;
        }
        after = x;
    }
    log_level_t level = LOG_DEBUG;
    if (api_query_get(req->query, "level", lv, sizeof lv) != 0 && !log_level_parse(lv, &level)) {
        api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "level", "level must be one of: error, warn, info, debug");
        return;
    }
    size_t limit = LOG_LIMIT_DEFAULT;
    int ql = api_query_get(req->query, "limit", li, sizeof li);
    if (ql != 0) {
        char *end = NULL;
        long x = strtol(li, &end, 10);
        if (ql < 0 || !end || *end != '\0' || x < 1 || x > (long)LOG_LIMIT_MAX) {
            api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "limit", "limit must be 1..512");
            return;
        }
        limit = (size_t)x;
    }
    log_entry_t *all = malloc(LOG_RING * sizeof *all);
    if (!all) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory");
        return;
    }
    uint64_t last = log_last_seq();
    size_t got = log_read(after, all, LOG_RING);
    if (got && all[got - 1u].seq > last) {
        last = all[got - 1u].seq;
    }
    /* keep the newest `limit` entries at or below the level */
    size_t k = 0;
    for (size_t i = 0; i < got; i++) {
        if (all[i].level <= (uint8_t)level) {
            all[k++] = all[i];
        }
    }
    size_t first = k > limit ? k - limit : 0u;
    logs_ctx_t lc = {all + first, k - first, last};
    render(resp, 200, 512u + lc.n * 320u, render_logs, &lc);
    free(all);
}

/* ---- system, auth ---------------------------------------------------------------------------------- */

typedef struct {
    api_t *api;
    const gw_view_t *v; /* may be NULL */
    uint32_t now;
    const api_platform_t *pf; /* NULL: the port has no such figures */
    const api_ota_state_t *ota; /* NULL: no firmware update on this platform */
} sys_ctx_t;

static void kv_str_or_null(jw_t *w, const char *k, const char *v)
{
    if (v[0]) {
        jw_kv_str(w, k, v);
    } else {
        jw_kv_null(w, k);
    }
}

static void render_ota_state(jw_t *w, const api_t *api, const api_ota_state_t *o)
{
    char chip[24];
    jw_key(w, "ota");
    jw_obj_begin(w);
    jw_kv_bool(w, "available", o->available);
    jw_kv_str(w, "chip", ota_chip_name(o->chip_id, chip, sizeof chip));
    jw_kv_str(w, "running_partition", o->running);
    jw_kv_str(w, "version", o->version);
    jw_kv_str(w, "state", o->state);
    jw_kv_bool(w, "pending_verify", o->verify_left_s >= 0);
    if (o->verify_left_s >= 0) {
        jw_kv_int(w, "verify_left_s", o->verify_left_s);
    } else {
        jw_kv_null(w, "verify_left_s");
    }
    jw_kv_str(w, "next_boot_partition", o->next_boot);
    kv_str_or_null(w, "update_partition", o->update_slot);
    jw_kv_uint(w, "slot_bytes", o->slot_bytes);
    jw_key(w, "last_upload");
    if (o->last_result[0]) {
        jw_obj_begin(w);
        jw_kv_str(w, "result", o->last_result);
        kv_str_or_null(w, "version", o->last_version);
        kv_str_or_null(w, "detail", o->last_detail);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_kv_bool(w, "rollback", o->rolled_back_partition[0] != '\0');
    jw_key(w, "rolled_back");
    if (o->rolled_back_partition[0]) {
        jw_obj_begin(w);
        jw_kv_str(w, "partition", o->rolled_back_partition);
        kv_str_or_null(w, "version", o->rolled_back_version);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "uploads");
    jw_obj_begin(w);
    for (unsigned i = 0; i < API_OTA_COUNT; i++) {
        jw_kv_uint(w, api_ota_result_name((api_ota_result_t)i), (uint64_t)atomic_load(&api->n.ota[i]));
    }
    jw_obj_end(w);
    jw_obj_end(w);
}

static void render_system(jw_t *w, const void *p)
{
    const sys_ctx_t *s = p;
    api_t *api = s->api;
    jw_obj_begin(w);
    jw_kv_str(w, "product", "tinybms-gateway");
    jw_kv_str(w, "version", api->info.version ? api->info.version : "");
    jw_kv_str(w, "server", api->info.server ? api->info.server : "");
    jw_kv_bool(w, "demo", api->info.demo);
    jw_kv_uint(w, "uptime_s", (uint32_t)(s->now - api->start_ms) / 1000u);
    uint64_t wall = api->port.wall_ms(api->port.ctx);
    if (wall) {
        jw_kv_uint(w, "time_ms", wall);
    } else {
        jw_kv_null(w, "time_ms");
    }
    jw_kv_str(w, "config_path", api->info.config_path ? api->info.config_path : "");
    jw_kv_str(w, "state_dir", api->info.state_dir ? api->info.state_dir : "");
    jw_kv_str(w, "http_listen", api->info.http_listen ? api->info.http_listen : "");
    if (s->v) {
        jw_kv_uint(w, "view_seq", s->v->seq);
        jw_kv_uint(w, "config_version", s->v->config_version);
        jw_kv_str(w, "device_id", s->v->cfg.gateway.device_id);
        jw_kv_str(w, "serial", s->v->cfg.gateway.serial_device);
        jw_kv_str(w, "can_port", s->v->cfg.can.port);
        jw_kv_str(w, "log_level", log_level_name((log_level_t)s->v->cfg.gateway.log_level));
    }
    jw_key(w, "auth");
    jw_obj_begin(w);
    jw_kv_bool(w, "password_set", !auth_setup_required(api->auth));
    jw_kv_bool(w, "read_only_open", auth_read_only_open(api->auth));
    jw_obj_end(w);
    uint32_t clients = 0;
    uint64_t sent = 0, skipped = 0, dropped = 0;
    if (api->port.transport_stats) {
        api->port.transport_stats(api->port.ctx, &clients, &sent, &skipped, &dropped);
    }
    jw_key(w, "websocket");
    jw_obj_begin(w);
    jw_kv_uint(w, "clients", clients);
    jw_kv_int(w, "rate_hz", atomic_load(&api->ws_rate_hz));
    jw_obj_end(w);
    jw_key(w, "ui");
    jw_obj_begin(w);
    jw_kv_uint(w, "files", api->info.asset_count);
    jw_kv_uint(w, "bytes", api->ui_bytes);
    jw_kv_uint(w, "gzip_bytes", api->ui_gz_bytes);
    jw_obj_end(w);
    jw_key(w, "platform");
    if (s->pf) {
        jw_obj_begin(w);
        jw_kv_uint(w, "heap_free_bytes", s->pf->heap_free);
        jw_kv_uint(w, "heap_min_free_bytes", s->pf->heap_min_free);
        jw_kv_uint(w, "heap_largest_block_bytes", s->pf->heap_largest);
        jw_kv_str(w, "reset_reason", s->pf->reset_reason);
        jw_key(w, "task_stack_free_bytes");
        jw_obj_begin(w);
        for (uint32_t i = 0; i < s->pf->ntasks && i < API_TASKS_MAX; i++) {
            jw_kv_uint(w, s->pf->task[i].name, s->pf->task[i].stack_free);
        }
        jw_obj_end(w);
        if (s->ota) {
            render_ota_state(w, api, s->ota);
        }
        if (s->pf->has_resets) {
            jw_key(w, "reset_counts");
            jw_obj_begin(w);
            jw_kv_uint(w, "brownout", s->pf->resets_brownout);
            jw_kv_uint(w, "panic", s->pf->resets_panic);
            jw_kv_uint(w, "watchdog", s->pf->resets_watchdog);
            jw_obj_end(w);
        }
        if (s->pf->has_can_bus) {
            jw_key(w, "can_bus");
            jw_obj_begin(w);
            jw_kv_uint(w, "bus_off", s->pf->can_bus_off);
            jw_kv_uint(w, "recoveries", s->pf->can_recoveries);
            jw_kv_uint(w, "error_passive", s->pf->can_error_passive);
            jw_kv_uint(w, "error_warning", s->pf->can_error_warning);
            jw_obj_end(w);
        }
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_obj_end(w);
}

static void h_system(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)req;
    (void)arg;
    gw_view_t *v = malloc(sizeof *v);
    bool have = v && api->port.view(api->port.ctx, v);
    api_platform_t pf;
    memset(&pf, 0, sizeof pf);
    if (api->port.platform) {
        api->port.platform(api->port.ctx, &pf);
    }
    api_ota_state_t *ota = api->port.ota ? calloc(1, sizeof *ota) : NULL;
    if (ota) {
        ota->verify_left_s = -1;
        api->port.ota->state(api->port.ota->ctx, ota);
    }
    sys_ctx_t s = {api, have ? v : NULL, api->port.now_ms(api->port.ctx), api->port.platform ? &pf : NULL, ota};
    render(resp, 200, 2048u, render_system, &s);
    free(ota);
    free(v);
}

static void h_metrics(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)req;
    (void)arg;
    gw_view_t *v = malloc(sizeof *v);
    bool have = v && api->port.view(api->port.ctx, v);
    metrics_extra_t x;
    memset(&x, 0, sizeof x);
    x.api = &api->n;
    auth_counters(api->auth, &x.auth, api->port.now_ms(api->port.ctx));
    log_counts(x.log_lines, &x.log_suppressed);
    x.log_security = log_security_count();
    x.uptime_s = (uint32_t)(api->port.now_ms(api->port.ctx) - api->start_ms) / 1000u;
    if (api->port.transport_stats) {
        api->port.transport_stats(api->port.ctx, &x.ws_clients, &x.ws_sent, &x.ws_skipped, &x.ws_dropped);
    }
    api_platform_t pf;
    if (api->port.platform) {
        memset(&pf, 0, sizeof pf);
        api->port.platform(api->port.ctx, &pf);
        x.platform = &pf;
    }
    /* ~20 kB for 16 cells: a first try that fits without asking a microcontroller's heap for 64 kB */
    size_t cap = 24576u;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) {
            break;
        }
        int n = metrics_render(have ? v : NULL, &x, buf, cap);
        if (n >= 0) {
            resp_reset(resp);
            resp->status = 200;
            resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
            resp->heap = buf;
            resp->body = buf;
            resp->len = (size_t)n;
            free(v);
            return;
        }
        free(buf);
        if (cap > RENDER_MAX) {
            break;
        }
        cap *= 2u;
    }
    free(v);
    api_error(api, resp, 500, API_REJ_UNAVAILABLE, "internal", NULL, "the metrics could not be rendered");
}

typedef struct {
    bool setup_required, logged_in, read_only_open;
    uint32_t expires_in_s;
} auth_state_t;

static void render_auth_state(jw_t *w, const void *p)
{
    const auth_state_t *s = p;
    jw_obj_begin(w);
    jw_kv_bool(w, "setup_required", s->setup_required);
    jw_kv_bool(w, "logged_in", s->logged_in);
    jw_kv_bool(w, "read_only_open", s->read_only_open);
    if (s->logged_in) {
        jw_kv_uint(w, "expires_in_s", s->expires_in_s);
    } else {
        jw_kv_null(w, "expires_in_s");
    }
    jw_obj_end(w);
}

static bool session_of(api_t *api, const api_req_t *req, uint32_t *expires)
{
    char tok[AUTH_TOKEN_LEN + 1u];
    return auth_cookie_token(req->cookie, tok, sizeof tok) &&
           auth_session_valid(api->auth, tok, api->port.now_ms(api->port.ctx), expires);
}

static void h_auth_state(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    auth_state_t s;
    memset(&s, 0, sizeof s);
    s.setup_required = auth_setup_required(api->auth);
    s.logged_in = session_of(api, req, &s.expires_in_s);
    s.read_only_open = auth_read_only_open(api->auth);
    render(resp, 200, 256u, render_auth_state, &s);
}

static void set_cookie(api_resp_t *resp, const char *token, uint32_t max_age_s)
{
    char v[160];
    snprintf(v, sizeof v, "%s=%s; Path=/; Max-Age=%lu; HttpOnly; SameSite=Strict", AUTH_COOKIE, token,
             (unsigned long)max_age_s);
    api_add_header(resp, "Set-Cookie", v);
}

static void auth_outcome(api_t *api, api_resp_t *resp, const auth_result_t *r, const char *field)
{
    char retry[16];
    switch (r->rc) {
    case TB_OK: {
        auth_state_t s = {false, true, auth_read_only_open(api->auth), r->lifetime_s};
        render(resp, 200, 256u, render_auth_state, &s);
        set_cookie(resp, r->token, r->lifetime_s);
        return; /* app/auth.c writes every security event to the log (log_security) */
    }
    case TB_ERR_BUSY:
        api_error(api, resp, 429, API_REJ_RATE_LIMITED, "rate_limited", NULL, r->reason);
        snprintf(retry, sizeof retry, "%lu", (unsigned long)(r->retry_after_s ? r->retry_after_s : 1u));
        api_add_header(resp, "Retry-After", retry);
        return;
    case TB_ERR_AUTH:
        api_error(api, resp, 401, API_REJ_UNAUTHENTICATED, "unauthenticated", field, r->reason);
        return;
    case TB_ERR_STATE:
        api_error(api, resp, 409, API_REJ_BUSY, "state", NULL, r->reason);
        return;
    case TB_ERR_RANGE:
        api_error(api, resp, 400, API_REJ_BAD_VALUE, "out_of_range", "password", r->reason);
        return;
    default:
        api_error(api, resp, 500, API_REJ_UNAVAILABLE, "internal", NULL, r->reason ? r->reason : "internal error");
        return;
    }
}

static void h_login(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    const char *pw = body_string(api, resp, root, "password", AUTH_PW_MAX);
    if (pw) {
        auth_result_t r;
        auth_login(api->auth, req->peer, pw, api->port.now_ms(api->port.ctx), &r);
        auth_outcome(api, resp, &r, "password");
    }
    cJSON_Delete(root);
}

static void h_setup(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    const char *code = body_string(api, resp, root, "code", 32u);
    const char *pw = code ? body_string(api, resp, root, "password", 4096u) : NULL;
    if (code && pw) {
        auth_result_t r;
        auth_setup(api->auth, req->peer, code, pw, api->port.now_ms(api->port.ctx), &r);
        auth_outcome(api, resp, &r, "code");
    }
    cJSON_Delete(root);
}

static void h_password(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    cJSON *root = parse_body(api, req, resp);
    if (!root) {
        return;
    }
    const char *cur = body_string(api, resp, root, "current", AUTH_PW_MAX);
    const char *pw = cur ? body_string(api, resp, root, "password", 4096u) : NULL;
    if (cur && pw) {
        auth_result_t r;
        char tok[AUTH_TOKEN_LEN + 1u] = "";
        (void)auth_cookie_token(req->cookie, tok, sizeof tok); /* the route requires a session */
        auth_change_password(api->auth, tok, req->peer, cur, pw, api->port.now_ms(api->port.ctx), &r);
        auth_outcome(api, resp, &r, "current");
    }
    cJSON_Delete(root);
}

static void h_logout(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    char tok[AUTH_TOKEN_LEN + 1u];
    if (auth_cookie_token(req->cookie, tok, sizeof tok)) {
        auth_logout(api->auth, req->peer, tok);
    }
    auth_state_t s = {auth_setup_required(api->auth), false, auth_read_only_open(api->auth), 0};
    render(resp, 200, 256u, render_auth_state, &s);
    set_cookie(resp, "", 0u);
}

/* ---- static assets ---------------------------------------------------------------------------------- */

static bool accepts_gzip(const char *ae)
{
    for (const char *p = ae; p && (p = strstr(p, "gzip")) != NULL; p += 4) {
        const char *q = p + 4;
        while (*q == ' ') {
            q++;
        }
        if (strncmp(q, ";q=0", 4) == 0 && (q[4] == '\0' || q[4] == ',' || (q[4] == '.' && strspn(q + 5, "0") > 0 &&
                                                                           (q[5 + strspn(q + 5, "0")] == '\0' ||
                                                                            q[5 + strspn(q + 5, "0")] == ',')))) {
            return false;
        }
        return true;
    }
    return false;
}

static bool serve_asset(api_t *api, const api_req_t *req, api_resp_t *resp)
{
    const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
    for (size_t i = 0; i < api->info.asset_count; i++) {
        const api_asset_t *a = &api->info.assets[i];
        if (strcmp(a->path, path) != 0) {
            continue;
        }
        resp_reset(resp);
        resp->content_type = a->content_type;
        resp->cacheable = true;
        if (a->etag) {
            api_add_header(resp, "ETag", a->etag);
        }
        api_add_header(resp, "Vary", "Accept-Encoding");
        if (a->etag && req->if_none_match && strstr(req->if_none_match, a->etag)) {
            resp->status = 304;
            return true;
        }
        resp->status = 200;
        if (a->gz && accepts_gzip(req->accept_encoding)) {
            api_add_header(resp, "Content-Encoding", "gzip");
            resp->body = (const char *)a->gz;
            resp->len = a->gz_len;
        } else {
            resp->body = (const char *)a->data;
            resp->len = a->len;
        }
        return true;
    }
    return false;
}

/* ---- firmware update --------------------------------------------------------------------------------- */

#define OTA_CHUNK 4096u

const char *api_ota_result_name(api_ota_result_t r)
{
    static const char *const k[API_OTA_COUNT] = {"ok",        "no_length",     "too_large",   "bad_magic",
                                                 "wrong_chip", "not_this_app", "truncated",   "verify_failed",
                                                 "flash_error", "busy"};
    return (unsigned)r < API_OTA_COUNT ? k[r] : "unknown";
}

/* The request body, streamed by the adapter or in memory. */
typedef struct {
    const api_req_t *req;
    size_t off;
} body_src_t;

/* Up to want bytes into buf, fewer only at the end of the body or on a failure. */
static size_t body_fill(body_src_t *b, uint8_t *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        int n;
        if (b->req->body_read) {
            n = b->req->body_read(b->req->body_ctx, buf + got, want - got);
        } else {
            size_t left = b->req->body_len - b->off;
            n = (int)(left < want - got ? left : want - got);
            memcpy(buf + got, b->req->body + b->off, (size_t)n);
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        b->off += (size_t)n;
    }
    return got;
}

static void ota_refuse(api_t *api, api_resp_t *resp, api_ota_result_t r, const char *version, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void ota_refuse(api_t *api, api_resp_t *resp, api_ota_result_t r, const char *version, const char *fmt, ...)
{
    char reason[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    static const int k_status[API_OTA_COUNT] = {200, 411, 413, 400, 400, 400, 400, 400, 500, 409};
    static const api_reject_t k_rej[API_OTA_COUNT] = {
        API_REJ_COUNT,     API_REJ_BAD_VALUE, API_REJ_TOO_LARGE, API_REJ_BAD_VALUE,   API_REJ_BAD_VALUE,
        API_REJ_BAD_VALUE, API_REJ_BAD_VALUE, API_REJ_BAD_VALUE, API_REJ_UNAVAILABLE, API_REJ_BUSY};
    atomic_fetch_add(&api->n.ota[r], 1u);
    api->port.ota->record(api->port.ota->ctx, r, version, reason);
    LOGW("ota", "firmware update refused (%s): %s; the running image stays", api_ota_result_name(r), reason);
    api_error(api, resp, k_status[r], k_rej[r], api_ota_result_name(r), NULL, reason);
}

typedef struct {
    const char *version, *previous, *message;
    size_t bytes;
    uint32_t ms;
    bool restarting;
} ota_ok_t;

static void render_ota_ok(jw_t *w, const void *p)
{
    const ota_ok_t *o = p;
    jw_obj_begin(w);
    jw_kv_str(w, "result", "ok");
    jw_kv_str(w, "version", o->version);
    jw_kv_str(w, "previous_version", o->previous);
    jw_kv_uint(w, "bytes", o->bytes);
    jw_kv_uint(w, "ms", o->ms);
    jw_kv_bool(w, "restarting", o->restarting);
    jw_kv_str(w, "message", o->message);
    jw_obj_end(w);
}

static void h_ota(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    const api_ota_port_t *o = api->port.ota;
    if (!o) {
        api_error(api, resp, 501, API_REJ_UNSUPPORTED, "unsupported", NULL,
                  "updates over the network are for the ESP32 firmware; the Linux daemon is updated by its package "
                  "manager (for example apt upgrade tinybms-gateway)");
        return;
    }
    api_ota_state_t *st = calloc(1, sizeof *st);
    uint8_t *buf = malloc(OTA_CHUNK);
    if (!st || !buf) {
        free(st);
        free(buf);
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "no_memory", NULL, "out of memory; try again");
        return;
    }
    st->verify_left_s = -1;
    o->state(o->ctx, st);
    size_t len = req->body_read ? req->content_length : req->body_len;
    uint32_t t0 = api->port.now_ms(api->port.ctx);
    body_src_t src = {req, 0u};
    ota_img_info_t info;
    char why[200];
    memset(&info, 0, sizeof info);
    if (!st->available) {
        api_error(api, resp, 503, API_REJ_UNAVAILABLE, "unavailable", NULL,
                  "this firmware has no update slot (partition table without OTA partitions)");
        goto out;
    }
    if (len == 0u) {
        ota_refuse(api, resp, API_OTA_NO_LENGTH, NULL,
                   "send the application image (.bin) as the request body with a Content-Length (no chunked "
                   "encoding)");
        goto out;
    }
    if (len > st->slot_bytes) {
        ota_refuse(api, resp, API_OTA_TOO_LARGE, NULL, "the image is %zu bytes, the update slot %s holds %" PRIu32,
                   len, st->update_slot, st->slot_bytes);
        goto out;
    }
    size_t first = len < OTA_CHUNK ? len : OTA_CHUNK;
    size_t got = body_fill(&src, buf, first);
    if (got < first && got < OTA_IMG_HEAD_LEN) {
        ota_refuse(api, resp, API_OTA_TRUNCATED, NULL, "the upload ended after %zu of %zu bytes (Content-Length)", got,
                   len);
        goto out;
    }
    ota_img_result_t ir = ota_img_check(buf, got, st->chip_id, st->project, &info, why, sizeof why);
    if (ir != OTA_IMG_OK) {
        api_ota_result_t r = ir == OTA_IMG_WRONG_CHIP ? API_OTA_WRONG_CHIP
                             : ir == OTA_IMG_BAD_MAGIC ? API_OTA_BAD_MAGIC : API_OTA_NOT_THIS_APP;
        ota_refuse(api, resp, r, info.version[0] ? info.version : NULL, "%s; nothing was written", why);
        goto out;
    }
    if (got < first) {
        ota_refuse(api, resp, API_OTA_TRUNCATED, info.version, "the upload ended after %zu of %zu bytes (Content-Length)",
                   got, len);
        goto out;
    }
    LOGI("ota", "firmware update: %s (%s, ESP-IDF %s), %zu bytes, into %s", info.version, info.project, info.idf_ver,
         len, st->update_slot);
    int rc = o->begin(o->ctx, len, why, sizeof why);
    if (rc != TB_OK) {
        ota_refuse(api, resp, rc == TB_ERR_BUSY ? API_OTA_BUSY : API_OTA_FLASH_ERROR, info.version, "%s", why);
        goto out;
    }
    size_t done = 0;
    for (;;) {
        rc = o->write(o->ctx, buf, got, why, sizeof why);
        if (rc != TB_OK) {
            o->abort(o->ctx);
            ota_refuse(api, resp, API_OTA_FLASH_ERROR, info.version, "writing at byte %zu: %s", done, why);
            goto out;
        }
        done += got;
        if (done >= len) {
            break;
        }
        size_t want = len - done < OTA_CHUNK ? len - done : OTA_CHUNK;
        got = body_fill(&src, buf, want);
        if (got < want) {
            o->abort(o->ctx);
            ota_refuse(api, resp, API_OTA_TRUNCATED, info.version,
                       "the upload ended after %zu of %zu bytes (Content-Length); the partial image was dropped",
                       done + got, len);
            goto out;
        }
    }
    rc = o->finish(o->ctx, why, sizeof why);
    if (rc != TB_OK) {
        ota_refuse(api, resp, rc == TB_ERR_CRC ? API_OTA_VERIFY_FAILED : API_OTA_FLASH_ERROR, info.version, "%s", why);
        goto out;
    }
    uint32_t ms = api->port.now_ms(api->port.ctx) - t0;
    atomic_fetch_add(&api->n.ota[API_OTA_OK], 1u);
    o->record(o->ctx, API_OTA_OK, info.version, "");
    LOGI("ota", "firmware update: %s written and verified (%zu bytes in %" PRIu32 " ms); it starts at the next boot "
                "and must run the battery path to stay",
         info.version, len, ms);
    /* the reply leaves first: the owner waits before it restarts (as for POST /api/system/restart) */
    gw_cmd_t *c = calloc(1, sizeof *c);
    int crc = TB_ERR_NOSPACE;
    if (c) {
        c->type = GW_CMD_RESTART;
        snprintf(c->source, sizeof c->source, "ota");
        atomic_fetch_add(&api->n.commands, 1u);
        crc = api->port.command(api->port.ctx, c, CMD_TIMEOUT_MS);
        if (crc == TB_OK && c->rc != TB_OK) {
            crc = c->rc;
        }
        free(c);
    }
    ota_ok_t ok = {info.version, st->version,
                   crc == TB_OK ? "the gateway restarts into the new image now; it rolls back to the previous one "
                                  "unless the new one reads the BMS and sends the limits"
                                : "written, but the restart could not be queued: restart the gateway "
                                  "(POST /api/system/restart) to run the new image",
                   len, ms, crc == TB_OK};
    render(resp, 200, 512u, render_ota_ok, &ok);
out:
    free(buf);
    free(st);
}

/* ---- routing ---------------------------------------------------------------------------------------- */

enum {
    M_GET = 1u << API_GET,
    M_POST = 1u << API_POST,
    M_PUT = 1u << API_PUT,
    R_PREFIX = 1u << 0,       /* path + "/" + argument */
    R_OPEN = 1u << 1,         /* readable even when web.read_only_open is false */
    R_NO_SESSION = 1u << 2,   /* a change that needs no session (login, set-up, logout) */
};

struct api_route {
    const char *path;
    unsigned methods;
    unsigned flags;
    handler_fn fn;      /* NULL for a read-only view of the gateway: `view` renders it */
    const char *allow;
    render_fn view;     /* with fn NULL: rendered from a fresh gateway view (view_endpoint) */
    size_t hint;        /* its usual size, the first buffer tried */
};

static void h_history_csv(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    h_history(api, req, resp, "csv");
}

static void h_history_json(api_t *api, const api_req_t *req, api_resp_t *resp, const char *arg)
{
    (void)arg;
    h_history(api, req, resp, NULL);
}

/* A handler route, and a read-only view of the gateway rendered by view_endpoint(). */
#define ROUTE(PATH, METHODS, FLAGS, FN, ALLOW) {PATH, METHODS, FLAGS, FN, ALLOW, NULL, 0u}
#define VIEW(PATH, RENDER, HINT) {PATH, M_GET, 0, NULL, "GET, HEAD", RENDER, HINT}

static const api_route_t k_routes[] = {
    ROUTE("/api/status", M_GET, 0, h_status, "GET, HEAD"),
    ROUTE("/api/config", M_GET | M_PUT, 0, h_config, "GET, HEAD, PUT"),
    ROUTE("/api/config/schema", M_GET, 0, h_schema, "GET, HEAD"),
    ROUTE("/api/bms/settings", M_GET, 0, h_settings, "GET, HEAD"),
    ROUTE("/api/bms/settings", M_GET | M_PUT, R_PREFIX, h_settings, "GET, HEAD, PUT"),
    VIEW("/api/bms/events", render_events, 8192u),
    VIEW("/api/bms/stats", render_stats, 2048u),
    VIEW("/api/bms/version", render_version, 1024u),
    ROUTE("/api/bms/reset", M_POST, 0, h_reset, "POST"),
    ROUTE("/api/history", M_GET, 0, h_history_json, "GET, HEAD"),
    ROUTE("/api/history.csv", M_GET, 0, h_history_csv, "GET, HEAD"),
    VIEW("/api/can/frames", render_can, 16384u),
    ROUTE("/api/logs", M_GET, 0, h_logs, "GET, HEAD"),
    VIEW("/api/energy", render_energy, 2048u),
    ROUTE("/api/system", M_GET, 0, h_system, "GET, HEAD"),
    ROUTE("/api/system/restart", M_POST, 0, h_restart, "POST"),
    ROUTE("/api/system/ota", M_POST, 0, h_ota, "POST"),
    ROUTE("/api/auth", M_GET, R_OPEN, h_auth_state, "GET, HEAD"),
    ROUTE("/api/auth/login", M_POST, R_NO_SESSION, h_login, "POST"),
    ROUTE("/api/auth/setup", M_POST, R_NO_SESSION, h_setup, "POST"),
    ROUTE("/api/auth/logout", M_POST, R_NO_SESSION, h_logout, "POST"),
    ROUTE("/api/auth/password", M_PUT | M_POST, 0, h_password, "PUT, POST"),
    ROUTE("/metrics", M_GET, 0, h_metrics, "GET, HEAD"),
};

static const api_route_t *route_find(const char *path, const char **arg)
{
    *arg = NULL;
    for (size_t i = 0; i < sizeof k_routes / sizeof k_routes[0]; i++) {
        const api_route_t *r = &k_routes[i];
        size_t n = strlen(r->path);
        if (!(r->flags & R_PREFIX)) {
            if (strcmp(path, r->path) == 0) {
                return r;
            }
        } else if (strncmp(path, r->path, n) == 0 && path[n] == '/' && path[n + 1u] != '\0' &&
                   !strchr(path + n + 1u, '/')) {
            *arg = path + n + 1u;
            return r;
        }
    }
    return NULL;
}

static bool is_change(api_method_t m)
{
    return m == API_POST || m == API_PUT || m == API_DELETE || m == API_PATCH;
}

bool api_streams_body(const api_t *api, const api_req_t *req)
{
    return api->port.ota && req->method == API_POST && req->path && strcmp(req->path, "/api/system/ota") == 0;
}

bool api_may_read(api_t *api, const api_req_t *req)
{
    return auth_read_only_open(api->auth) || session_of(api, req, NULL);
}

static void dispatch(api_t *api, const api_req_t *req, api_resp_t *resp)
{
    if (req->body_too_large) {
        api_errorf(api, resp, 413, API_REJ_TOO_LARGE, "too_large", NULL, "the request body is larger than %d bytes",
                   atomic_load(&api->max_body));
        return;
    }
    if (!req->path || req->path[0] != '/') {
        api_error(api, resp, 400, API_REJ_BAD_VALUE, "bad_request", NULL, "malformed request path");
        return;
    }
    const char *arg = NULL;
    const api_route_t *r = route_find(req->path, &arg);
    bool is_api = strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0;
    if (!r) {
        if (!is_api && (req->method == API_GET || req->method == API_HEAD) && serve_asset(api, req, resp)) {
            return;
        }
        api_errorf(api, resp, 404, API_REJ_NOT_FOUND, "not_found", NULL, "no such resource: %.80s", req->path);
        return;
    }
    api_method_t m = req->method == API_HEAD ? API_GET : req->method;
    if (m >= API_OTHER || !(r->methods & (1u << m))) {
        api_errorf(api, resp, 405, API_REJ_METHOD, "method", NULL, "%s supports %s", r->path, r->allow);
        api_add_header(resp, "Allow", r->allow);
        return;
    }
    if (is_change(m)) {
        if (!auth_same_origin(req->host, req->origin, req->referer, req->sec_fetch_site)) {
            LOGW("web", "cross-origin %s %s from %s refused", m == API_PUT ? "PUT" : "POST", r->path,
                 req->peer ? req->peer : "?");
            api_error(api, resp, 403, API_REJ_CROSS_ORIGIN, "cross_origin", NULL,
                      "changes must come from a page served by this gateway (Origin/Referer does not match Host)");
            return;
        }
        if (!(r->flags & R_NO_SESSION) && !session_of(api, req, NULL)) {
            api_error(api, resp, 401, API_REJ_UNAUTHENTICATED, "unauthenticated", NULL,
                      auth_setup_required(api->auth) ? "set the admin password first (POST /api/auth/setup)"
                                                     : "log in first (POST /api/auth/login)");
            return;
        }
    } else if (!(r->flags & R_OPEN) && !api_may_read(api, req)) {
        api_error(api, resp, 401, API_REJ_UNAUTHENTICATED, "unauthenticated", NULL,
                  "this gateway requires a login to read (web.read_only_open is false)");
        return;
    }
    if (r->fn) {
        r->fn(api, req, resp, arg);
    } else {
        view_endpoint(api, resp, r->view, r->hint);
    }
}

void api_handle(api_t *api, const api_req_t *req, api_resp_t *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 500;
    resp->content_type = JSON_TYPE;
    resp->body = "";
    atomic_fetch_add(&api->n.requests, 1u);
    dispatch(api, req, resp);
    unsigned cls = (unsigned)resp->status / 100u;
    if (cls >= 1u && cls <= 5u) {
        atomic_fetch_add(&api->n.by_class[cls], 1u);
    }
}

void api_tick(api_t *api)
{
    auth_tick(api->auth, api->port.now_ms(api->port.ctx));
}

void api_set_web_cfg(api_t *api, const api_web_cfg_t *cfg)
{
    atomic_store(&api->max_body, cfg->max_body_bytes);
    atomic_store(&api->ws_rate_hz, cfg->ws_rate_hz);
    auth_set_policy(api->auth, cfg);
}

void api_init(api_t *api, const api_port_t *port, const api_info_t *info, auth_t *auth, const api_web_cfg_t *cfg)
{
    memset(api, 0, sizeof *api);
    api->port = *port;
    api->info = *info;
    api->auth = auth;
    api->start_ms = port->now_ms(port->ctx);
    for (size_t i = 0; i < info->asset_count; i++) {
        api->ui_bytes += info->assets[i].len;
        api->ui_gz_bytes += info->assets[i].gz ? info->assets[i].gz_len : info->assets[i].len;
    }
    api_set_web_cfg(api, cfg);
}
