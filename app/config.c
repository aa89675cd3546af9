#include "app/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/json_in.h"
#include "app/netaddr.h"
#include "core/jw.h"

/* ---- the "gateway" section ---------------------------------------------------------------- */

static const char *const k_log_levels[] = {"error", "warn", "info", "debug"};

#define GW_ROW_STR(F, KEY, MIN, DEF, FLAGS, DOC) CFG_ROW_STR(gw_main_cfg_t, F, KEY, MIN, DEF, FLAGS, DOC)

static const cfg_param_t k_gateway_params[] = {
    GW_ROW_STR(serial_device, "gateway.serial", 1, "/dev/ttyUSB0", CFG_F_RESTART,
               "Serial device of the TinyBMS UART (USB-serial adapter), 115200 8N1."),
    GW_ROW_STR(http_listen, "gateway.http", 1, "0.0.0.0:8080", CFG_F_RESTART,
               "Address and port of the web UI and API: ADDRESS:PORT (0.0.0.0:8080 = every IPv4 address, "
               "127.0.0.1:8080 = this machine only, [::1]:8080 for IPv6), port 1..65535."),
    GW_ROW_STR(state_dir, "gateway.state_dir", 1, "/var/lib/tinybms-gateway", CFG_F_RESTART,
               "Directory for energy counters, history and the web UI password."),
    CFG_ROW_ENUM(gw_main_cfg_t, log_level, "gateway.log_level", k_log_levels, 4, 2, 0,
                 "Most detailed log level written to stderr and kept for the UI."),
    GW_ROW_STR(device_id, "gateway.device_id", 0, "", 0,
               "Name of this gateway in MQTT topics and Home Assistant; empty = derived from the BMS serial number."),
};

static const cfg_section_t k_gateway_section = {"gateway", k_gateway_params,
                                                sizeof k_gateway_params / sizeof k_gateway_params[0],
                                                sizeof(gw_main_cfg_t)};

const gw_config_section_t gw_config_sections[] = {
    {&k_gateway_section, offsetof(gw_config_t, gateway)},
    {&tb_poll_cfg_section, offsetof(gw_config_t, link)},
    {&chg_section, offsetof(gw_config_t, charge)},
    {&failsafe_section, offsetof(gw_config_t, charge.failsafe)},
    {&alarms_section, offsetof(gw_config_t, alarms)},
    {&energy_section, offsetof(gw_config_t, energy)},
    {&can_sched_cfg_section, offsetof(gw_config_t, can)},
    {&mqtt_cfg_section, offsetof(gw_config_t, mqtt)},
    {&wifi_prov_cfg_section, offsetof(gw_config_t, wifi)},

    {&api_web_cfg_section, offsetof(gw_config_t, web)},
};
const size_t gw_config_section_count = sizeof gw_config_sections / sizeof gw_config_sections[0];

static void *sec_obj(gw_config_t *cfg, size_t i)
{
    return (uint8_t *)cfg + gw_config_sections[i].offset;
}

static const void *sec_cobj(const gw_config_t *cfg, size_t i)
{
    return (const uint8_t *)cfg + gw_config_sections[i].offset;
}

void gw_config_defaults(gw_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < gw_config_section_count; i++) {
        cfg_set_defaults(gw_config_sections[i].sec, sec_obj(cfg, i));
    }
}

const cfg_param_t *gw_config_find(const gw_config_t *cfg, const char *key, const void **obj)
{
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_param_t *p = cfg_find(gw_config_sections[i].sec, key);
        if (p) {
            if (obj) {
                *obj = sec_cobj(cfg, i);
            }
            return p;
        }
    }
    return NULL;
}

/* ---- diagnostics --------------------------------------------------------------------------- */

static int diag_set(cfg_diag_t *d, int rc, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int diag_set(cfg_diag_t *d, int rc, const char *key, const char *fmt, ...)
{
    if (d) {
        snprintf(d->key, sizeof d->key, "%s", key ? key : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->message, sizeof d->message, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void fmt_num(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.10g", v);
}

/* A schema bound (a float): whole numbers in full, others with a float's 7 significant digits,
 * so that 3.2f reads "3.2" and not "3.200000048". */
static void fmt_bound(char *buf, size_t cap, float f)
{
    double v = (double)f;
    if (fabs(v) < 1e15 && floor(v) == v) {
        snprintf(buf, cap, "%.0f", v);
    } else {
        snprintf(buf, cap, "%.7g", v);
    }
}

static int range_error(cfg_diag_t *d, const cfg_param_t *p, const char *key, double v, const char *reason)
{
    char lo[32], hi[32], val[32];
    fmt_bound(lo, sizeof lo, p->min);
    fmt_bound(hi, sizeof hi, p->max);
    fmt_num(val, sizeof val, v);
    const char *unit = cfg_param_unit(p);
    if (strcmp(reason, "out of range") == 0) {
        return diag_set(d, TB_ERR_RANGE, key, "%s = %s is out of range: allowed %s..%s%s%s", key, val, lo, hi,
                        unit[0] ? " " : "", unit);
    }
    return diag_set(d, TB_ERR_RANGE, key, "%s = %s is %s (allowed %s..%s%s%s)", key, val, reason, lo, hi,
                    unit[0] ? " " : "", unit);
}

/* ---- comment stripping --------------------------------------------------------------------- */

void gw_config_strip_comments(char *t, size_t len)
{
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (t[i] == '\\' && i + 1 < len) {
                i++;
            } else if (t[i] == '"') {
                in_str = false;
            }
            continue;
        }
        if (t[i] == '"') {
            in_str = true;
        } else if (t[i] == '/' && i + 1 < len && t[i + 1] == '/') {
            while (i < len && t[i] != '\n') {
                t[i++] = ' ';
            }
        } else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
            t[i] = t[i + 1] = ' ';
            i += 2;
            while (i < len && !(t[i] == '*' && i + 1 < len && t[i + 1] == '/')) {
                if (t[i] != '\n') {
                    t[i] = ' ';
                }
                i++;
            }
            if (i < len) {
                t[i] = ' ';
                if (i + 1 < len) {
                    t[i + 1] = ' ';
                }
                i++;
            }
        }
    }
}

/* ---- apply --------------------------------------------------------------------------------- */

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

static int apply_value(gw_config_t *cfg, const char *key, const cJSON *v, unsigned flags, cfg_diag_t *d)
{
    const void *cobj = NULL;
    const cfg_param_t *p = gw_config_find(cfg, key, &cobj);
    if (!p) {
        return diag_set(d, TB_ERR_FORMAT, key, "unknown key '%s'", key);
    }
    void *obj = (void *)(uintptr_t)cobj;
    if ((p->flags & CFG_F_READONLY) && !(flags & GW_CFG_ALLOW_READONLY)) {
        return diag_set(d, TB_ERR_READONLY, key, "%s is read-only", key);
    }
    cfg_error_t e = {NULL, NULL};
    switch (p->type) {
    case CFG_BOOL:
        if (!cJSON_IsBool(v)) {
            return diag_set(d, TB_ERR_FORMAT, key, "%s must be true or false, got %s", key, json_type_name(v));
        }
        return cfg_set_bool(p, obj, cJSON_IsTrue(v), &e);
    case CFG_INT:
    case CFG_FLOAT: {
        if (!cJSON_IsNumber(v)) {
            const char *unit = cfg_param_unit(p);
            return diag_set(d, TB_ERR_FORMAT, key, "%s must be a number%s%s, got %s", key, unit[0] ? " in " : "",
                            unit, json_type_name(v));
        }
        double x = v->valuedouble;
        if (cfg_set_number(p, obj, x, &e) != TB_OK) {
            return range_error(d, p, key, x, e.reason ? e.reason : "invalid");
        }
        return TB_OK;
    }
    case CFG_ENUM: {
        if (!cJSON_IsString(v)) {
            return diag_set(d, TB_ERR_FORMAT, key, "%s must be a string, got %s", key, json_type_name(v));
        }
        if (cfg_set_enum_name(p, obj, v->valuestring, &e) != TB_OK) {
            char allowed[256] = "";
            for (unsigned i = 0; i < p->name_count; i++) {
                size_t n = strlen(allowed);
                snprintf(allowed + n, sizeof allowed - n, "%s%s", i ? ", " : "", p->names[i]);
            }
            return diag_set(d, TB_ERR_RANGE, key, "%s = \"%s\" is not one of: %s", key, v->valuestring, allowed);
        }
        return TB_OK;
    }
    case CFG_STRING: {
        if (!cJSON_IsString(v)) {
            return diag_set(d, TB_ERR_FORMAT, key, "%s must be a string, got %s", key, json_type_name(v));
        }
        if ((p->flags & CFG_F_SECRET) && (flags & GW_CFG_SECRETS_KEEP_EMPTY) && v->valuestring[0] == '\0') {
            return TB_OK;
        }
        if (cfg_set_string(p, obj, v->valuestring, &e) != TB_OK) {
            if (p->flags & CFG_F_SECRET) {
                return diag_set(d, TB_ERR_RANGE, key, "%s is %s (at most %u characters)", key, e.reason,
                                (unsigned)cfg_param_size(p) - 1u);
            }
            return diag_set(d, TB_ERR_RANGE, key, "%s = \"%.60s\" is %s (%u..%u characters)", key, v->valuestring,
                            e.reason, (unsigned)p->min, (unsigned)cfg_param_size(p) - 1u);
        }
        return TB_OK;
    }
    }
    return diag_set(d, TB_ERR_FORMAT, key, "%s has an unsupported type", key);
}

/* True if some parameter key starts with "prefix." */
static bool is_prefix(const gw_config_t *cfg, const char *prefix)
{
    (void)cfg;
    size_t n = strlen(prefix);
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        for (size_t k = 0; k < s->count; k++) {
            if (strncmp(s->params[k].key, prefix, n) == 0 && s->params[k].key[n] == '.') {
                return true;
            }
        }
    }
    return false;
}

static int apply_object(gw_config_t *cfg, const cJSON *o, const char *prefix, unsigned flags, cfg_diag_t *d)
{
    for (const cJSON *c = o->child; c; c = c->next) {
        char key[96];
        int n = prefix[0] ? snprintf(key, sizeof key, "%s.%s", prefix, c->string) : snprintf(key, sizeof key, "%s", c->string);
        if (n < 0 || (size_t)n >= sizeof key) {
            return diag_set(d, TB_ERR_FORMAT, "", "key too long: '%.60s...'", key);
        }
        int rc;
        if (cJSON_IsObject(c) && !gw_config_find(cfg, key, NULL)) {
            if (!is_prefix(cfg, key)) {
                return diag_set(d, TB_ERR_FORMAT, key, "unknown section '%s'", key);
            }
            rc = apply_object(cfg, c, key, flags, d);
        } else {
            rc = apply_value(cfg, key, c, flags, d);
        }
        if (rc != TB_OK) {
            return rc;
        }
    }
    return TB_OK;
}

/* A whole-configuration check refused `key`: the message shows the value of a string key (never
 * of a secret), so that "mqtt.host = \"broker:1883\": a host only, ..." says what was read. */
static int key_error(cfg_diag_t *d, const gw_config_t *cfg, const char *key, const char *why)
{
    const void *obj = NULL;
    const cfg_param_t *p = gw_config_find(cfg, key, &obj);
    if (p && p->type == CFG_STRING && !(p->flags & CFG_F_SECRET)) {
        return diag_set(d, TB_ERR_RANGE, key, "%s = \"%.80s\": %s", key, cfg_get_string(p, obj), why);
    }
    return diag_set(d, TB_ERR_RANGE, key, "%s: %s", key, why);
}

int gw_config_check(const gw_config_t *cfg, cfg_diag_t *d)
{
    for (size_t i = 0; i < gw_config_section_count; i++) {
        cfg_error_t e = {NULL, NULL};
        if (cfg_validate(gw_config_sections[i].sec, sec_cobj(cfg, i), &e) != TB_OK) {
            const char *k = e.param ? e.param->key : gw_config_sections[i].sec->name;
            return diag_set(d, TB_ERR_RANGE, k, "%s: %s", k, e.reason ? e.reason : "invalid");
        }
    }
    const char *why = NULL;
    /* the web's listen address: a bad one would only show when the port fails to bind at the
     * next start (app/netaddr.h says what is checked) */
    const char *hl = cfg->gateway.http_listen;
    netaddr_t na;
    if (netaddr_parse(hl, strlen(hl), NETADDR_PORT_REQUIRED, &na, &why) != TB_OK) {
        return diag_set(d, TB_ERR_RANGE, "gateway.http",
                        "gateway.http = \"%.63s\" is not a valid listen address: %s (expected ADDRESS:PORT, e.g. "
                        "0.0.0.0:8080, 127.0.0.1:8080 or [::1]:8080)",
                        hl, why);
    }
    if (na.kind == NETADDR_NAME) {
        return diag_set(d, TB_ERR_RANGE, "gateway.http",
                        "gateway.http = \"%.63s\" is not a valid listen address: a listen address is a numeric IPv4 "
                        "or IPv6 address of this host, not a name (0.0.0.0:PORT for every interface, 127.0.0.1:PORT "
                        "for this host only)",
                        hl);
    }
    if (chg_config_check(&cfg->charge, &why) != TB_OK) {
        return diag_set(d, TB_ERR_RANGE, "charge", "charge: %s", why ? why : "inconsistent settings");
    }
    if (alarms_config_check(&cfg->alarms, &why) != TB_OK) {
        return diag_set(d, TB_ERR_RANGE, "alarms", "alarms: %s", why ? why : "inconsistent settings");
    }
    cfg_error_t ce = {NULL, NULL};
    if (can_sched_cfg_validate(&cfg->can, &ce) != TB_OK) {
        return key_error(d, cfg, ce.param ? ce.param->key : "can", ce.reason ? ce.reason : "invalid");
    }
    const char *mkey = NULL;
    if (mqtt_cfg_check(&cfg->mqtt, &mkey, &why) != TB_OK) {
        return key_error(d, cfg, mkey, why);
    }
    if (wifi_prov_cfg_check(&cfg->wifi, &mkey, &why) != TB_OK) {
        return key_error(d, cfg, mkey, why);
    }
    if (cfg->link.backoff_min_ms > cfg->link.backoff_max_ms) {
        return diag_set(d, TB_ERR_RANGE, "link.backoff_min_ms", "link.backoff_min_ms (%d) must not exceed link.backoff_max_ms (%d)",
                        (int)cfg->link.backoff_min_ms, (int)cfg->link.backoff_max_ms);
    }
    if (cfg->link.backoff_max_ms >= cfg->charge.failsafe.stale_ms) {
        return diag_set(d, TB_ERR_RANGE, "link.backoff_max_ms",
                        "link.backoff_max_ms (%d) must be below failsafe.stale_ms (%d): otherwise a short outage "
                        "makes the data stale before the next attempt",
                        (int)cfg->link.backoff_max_ms, (int)cfg->charge.failsafe.stale_ms);
    }
    if (cfg->can.burst_gap_ms * 2 > cfg->link.live_period_ms) {
        return diag_set(d, TB_ERR_RANGE, "can.burst_gap_ms",
                        "can.burst_gap_ms (%d) must be at most half of link.live_period_ms (%d): otherwise a delayed "
                        "CAN burst delays every following BMS snapshot too",
                        (int)cfg->can.burst_gap_ms, (int)cfg->link.live_period_ms);
    }
    if (cfg->web.max_conns_per_addr > cfg->web.max_connections) {
        return diag_set(d, TB_ERR_RANGE, "web.max_conns_per_addr",
                        "web.max_conns_per_addr (%d) must not exceed web.max_connections (%d)",
                        (int)cfg->web.max_conns_per_addr, (int)cfg->web.max_connections);
    }
    if (cfg->link.wake_timeout_ms > cfg->link.reply_timeout_ms) {
        return diag_set(d, TB_ERR_RANGE, "link.wake_timeout_ms",
                        "link.wake_timeout_ms (%d) must not exceed link.reply_timeout_ms (%d)",
                        (int)cfg->link.wake_timeout_ms, (int)cfg->link.reply_timeout_ms);
    }
    return TB_OK;
}

int gw_config_apply_json(gw_config_t *cfg, const char *text, size_t len, unsigned flags, cfg_diag_t *d)
{
    if (d) {
        memset(d, 0, sizeof *d);
    }
    char *buf = malloc(len + 1u);
    if (!buf) {
        return diag_set(d, TB_ERR_NOSPACE, "", "out of memory");
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return diag_set(d, TB_ERR_FORMAT, "", "the document contains a NUL byte");
    }
    gw_config_strip_comments(buf, len);
    json_in_err_t e;
    cJSON *root = json_in_parse(buf, len, &e);
    if (!root) {
        if (d) {
            d->line = e.line;
        }
        free(buf);
        return diag_set(d, TB_ERR_FORMAT, e.path, "%s", e.msg);
    }
    int rc;
    if (!cJSON_IsObject(root)) {
        rc = diag_set(d, TB_ERR_FORMAT, "", "the document must be a JSON object, got %s", json_type_name(root));
    } else {
        rc = apply_object(cfg, root, "", flags, d);
        if (rc == TB_OK) {
            rc = gw_config_check(cfg, d);
        }
    }
    cJSON_Delete(root);
    free(buf);
    return rc;
}

/* ---- output ---------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} sb_t;

static void sb_put(sb_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_put(sb_t *s, const char *fmt, ...)
{
    if (s->overflow) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len) {
        s->overflow = true;
        return;
    }
    s->len += (size_t)n;
}

static void sb_json_string(sb_t *s, const char *str)
{
    char tmp[600];
    jw_t w;
    jw_init(&w, tmp, sizeof tmp);
    jw_str(&w, str);
    if (jw_finish(&w) < 0) {
        s->overflow = true;
        return;
    }
    sb_put(s, "%s", tmp);
}

typedef struct {
    const cfg_param_t *p;
    const void *obj;
} kv_t;

#define MAX_KEYS 256u

static size_t collect(const gw_config_t *cfg, kv_t *out, unsigned flags)
{
    size_t n = 0;
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        for (size_t k = 0; k < s->count && n < MAX_KEYS; k++) {
            if ((s->params[k].flags & CFG_F_SECRET) && !(flags & GW_CFG_OUT_SECRETS)) {
                continue;
            }
            out[n].p = &s->params[k];
            out[n].obj = sec_cobj(cfg, i);
            n++;
        }
    }
    return n;
}

static void put_value(sb_t *s, const cfg_param_t *p, const void *obj)
{
    switch (p->type) {
    case CFG_BOOL:
        sb_put(s, "%s", cfg_get_bool(p, obj) ? "true" : "false");
        break;
    case CFG_INT:
        sb_put(s, "%.0f", cfg_get_number(p, obj));
        break;
    case CFG_FLOAT: {
        /* the fewest decimals that give back the same float: 3.45, 0.02, 100 (never 1e+02) */
        char num[64];
        double v = cfg_get_number(p, obj);
        for (int dec = 0; dec <= 9; dec++) {
            snprintf(num, sizeof num, "%.*f", dec, v);
            if ((float)strtod(num, NULL) == (float)v) {
                break;
            }
        }
        sb_put(s, "%s", num);
        break;
    }
    case CFG_STRING:
        sb_json_string(s, cfg_get_string(p, obj));
        break;
    case CFG_ENUM:
        sb_json_string(s, cfg_get_enum_name(p, obj));
        break;
    }
}

static void put_comment(sb_t *s, const cfg_param_t *p, int indent)
{
    char range[160] = "";
    char lo[32], hi[32];
    const char *unit = cfg_param_unit(p);
    fmt_bound(lo, sizeof lo, p->min);
    fmt_bound(hi, sizeof hi, p->max);
    switch (p->type) {
    case CFG_INT:
    case CFG_FLOAT:
        snprintf(range, sizeof range, " [%s..%s%s%s]", lo, hi, unit[0] ? " " : "", unit);
        break;
    case CFG_ENUM: {
        size_t n = (size_t)snprintf(range, sizeof range, " [one of:");
        for (unsigned i = 0; i < p->name_count && n < sizeof range; i++) {
            n += (size_t)snprintf(range + n, sizeof range - n, " %s", p->names[i]);
        }
        if (n < sizeof range) {
            snprintf(range + n, sizeof range - n, "]");
        }
        break;
    }
    case CFG_STRING:
        snprintf(range, sizeof range, " [string, at most %u characters]", (unsigned)cfg_param_size(p) - 1u);
        break;
    case CFG_BOOL:
        snprintf(range, sizeof range, " [true or false]");
        break;
    }
    const char *flags = (p->flags & CFG_F_SECRET) ? " (secret: never shown by the API)"
                        : (p->flags & CFG_F_RESTART) ? " (applied at restart)"
                                                     : "";
    /* wrap the documentation at ~96 columns */
    const char *doc = cfg_param_doc(p);
    sb_put(s, "%*s// ", indent, "");
    int col = indent + 3;
    const char *w = doc;
    while (*w) {
        const char *sp = strchr(w, ' ');
        size_t wl = sp ? (size_t)(sp - w) : strlen(w);
        if (col + (int)wl > 96 && col > indent + 3) {
            sb_put(s, "\n%*s// ", indent, "");
            col = indent + 3;
        }
        sb_put(s, "%s%.*s", col > indent + 3 ? " " : "", (int)wl, w);
        col += (int)wl + 1;
        w += wl;
        while (*w == ' ') {
            w++;
        }
    }
    sb_put(s, "\n%*s//%s%s\n", indent, "", range, flags);
}

/* Emit every key below `prefix` (depth = number of components in prefix). */
static void emit_level(sb_t *s, const kv_t *kv, size_t n, const char *prefix, int depth, unsigned flags, bool *first)
{
    size_t plen = strlen(prefix);
    bool pretty = (flags & (GW_CFG_OUT_PRETTY | GW_CFG_OUT_COMMENTS)) != 0u;
    int indent = pretty ? 2 * (depth + 1) : 0;
    /* leaves at this level, then sub-objects in first-seen order */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const char *key = kv[i].p->key;
            if (plen && (strncmp(key, prefix, plen) != 0 || key[plen] != '.')) {
                continue;
            }
            const char *rest = plen ? key + plen + 1 : key;
            const char *dot = strchr(rest, '.');
            if (pass == 0 && !dot) {
                if (!*first) {
                    sb_put(s, ",%s", pretty ? "\n" : "");
                }
                *first = false;
                if (flags & GW_CFG_OUT_COMMENTS) {
                    put_comment(s, kv[i].p, indent);
                }
                sb_put(s, "%*s\"%s\":%s", indent, "", rest, pretty ? " " : "");
                put_value(s, kv[i].p, kv[i].obj);
            } else if (pass == 1 && dot) {
                char child[96];
                snprintf(child, sizeof child, "%.*s%s%.*s", (int)plen, prefix, plen ? "." : "", (int)(dot - rest), rest);
                /* first occurrence of this child? */
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++) {
                    const char *k2 = kv[j].p->key;
                    size_t cl = strlen(child);
                    seen = strncmp(k2, child, cl) == 0 && k2[cl] == '.';
                }
                if (seen) {
                    continue;
                }
                if (!*first) {
                    sb_put(s, ",%s", pretty ? "\n" : "");
                }
                *first = false;
                sb_put(s, "%*s\"%.*s\":%s{%s", indent, "", (int)(dot - rest), rest, pretty ? " " : "", pretty ? "\n" : "");
                bool f2 = true;
                emit_level(s, kv, n, child, depth + 1, flags, &f2);
                sb_put(s, "%s%*s}", pretty ? "\n" : "", indent, "");
            }
        }
    }
}

int gw_config_to_json(const gw_config_t *cfg, char *buf, size_t cap, unsigned flags)
{
    /* Per call, never static: HTTP threads render GET /api/config while the owner thread renders
     * the file it saves (with secrets). A shared table let an anonymous reader see the MQTT
     * password and a save lose it (issue 16). Heap, not stack: web worker stacks are small. */
    kv_t *kv = malloc(MAX_KEYS * sizeof *kv);
    if (!kv) {
        return TB_ERR_NOSPACE;
    }
    size_t n = collect(cfg, kv, flags);
    sb_t s = {buf, cap, 0, cap == 0};
    bool pretty = (flags & (GW_CFG_OUT_PRETTY | GW_CFG_OUT_COMMENTS)) != 0u;
    if (flags & GW_CFG_OUT_COMMENTS) {
        sb_put(&s, "// TinyBMS gateway configuration. JSON with comments; every key is optional (missing keys\n"
                   "// take the default shown here). Units and allowed ranges are given in [brackets].\n");
    }
    sb_put(&s, "{%s", pretty ? "\n" : "");
    bool first = true;
    emit_level(&s, kv, n, "", 0, flags, &first);
    sb_put(&s, "%s}%s", pretty ? "\n" : "", pretty ? "\n" : "");
    free(kv);
    if (s.overflow) {
        return TB_ERR_NOSPACE;
    }
    return (int)s.len;
}

int gw_config_schema_json(char *buf, size_t cap)
{
    jw_t w;
    jw_init(&w, buf, cap);
    jw_arr_begin(&w);
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *sec = gw_config_sections[i].sec;
        for (size_t k = 0; k < sec->count; k++) {
            const cfg_param_t *p = &sec->params[k];
            static const char *const types[] = {"bool", "int", "float", "string", "enum"};
            jw_obj_begin(&w);
            jw_kv_str(&w, "key", p->key);
            jw_kv_str(&w, "type", types[p->type]);
            jw_kv_str(&w, "unit", cfg_param_unit(p));
            switch (p->type) {
            case CFG_INT:
            case CFG_FLOAT:
                jw_kv_double(&w, "min", (double)p->min, 6);
                jw_kv_double(&w, "max", (double)p->max, 6);
                jw_kv_double(&w, "default", (double)p->def, 6);
                break;
            case CFG_BOOL:
                jw_kv_bool(&w, "default", p->def > 0.5f);
                break;
            case CFG_STRING:
                jw_kv_uint(&w, "max_length", (uint64_t)cfg_param_size(p) - 1u);
                if (!(p->flags & CFG_F_SECRET)) {
                    jw_kv_str(&w, "default", p->def_str ? p->def_str : "");
                }
                break;
            case CFG_ENUM:
                jw_key(&w, "values");
                jw_arr_begin(&w);
                for (unsigned e = 0; e < p->name_count; e++) {
                    jw_str(&w, p->names[e]);
                }
                jw_arr_end(&w);
                jw_kv_str(&w, "default", p->names[(unsigned)p->def]);
                break;
            }
            jw_kv_bool(&w, "secret", (p->flags & CFG_F_SECRET) != 0u);
            jw_kv_bool(&w, "restart", (p->flags & CFG_F_RESTART) != 0u);
            jw_kv_bool(&w, "read_only", (p->flags & CFG_F_READONLY) != 0u);
            jw_kv_bool(&w, "advanced", (p->flags & CFG_F_ADVANCED) != 0u);
            jw_kv_str(&w, "doc", cfg_param_doc(p));
            jw_obj_end(&w);
        }
    }
    jw_arr_end(&w);
    return jw_finish(&w);
}

void gw_config_log_changes(const gw_config_t *a, const gw_config_t *b)
{
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        const void *oa = sec_cobj(a, i), *ob = sec_cobj(b, i);
        for (size_t k = 0; k < s->count; k++) {
            const cfg_param_t *p = &s->params[k];
            const uint8_t *fa = (const uint8_t *)oa + p->offset, *fb = (const uint8_t *)ob + p->offset;
            if (memcmp(fa, fb, cfg_param_size(p)) == 0) {
                continue;
            }
            if (p->flags & CFG_F_SECRET) {
                LOGI("config", "%s changed (secret, not shown)", p->key);
                continue;
            }
            char va[160] = "", vb[160] = "";
            sb_t sa = {va, sizeof va, 0, false}, sbb = {vb, sizeof vb, 0, false};
            put_value(&sa, p, oa);
            put_value(&sbb, p, ob);
            LOGI("config", "%s: %s -> %s", p->key, va, vb);
        }
    }
}
