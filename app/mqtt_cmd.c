#include "app/mqtt_cmd.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/json_in.h"
#include "core/jw.h"
#include "core/tb_err.h"
#include "core/tb_proto.h"

static const char *const k_topics[MQTT_CMD_KIND_COUNT] = {"bms/reset", "bms/clear_events", "bms/clear_stats", "bms/set",
                                                          "can/shadow"};

const char *mqtt_cmd_topic(mqtt_cmd_kind_t k)
{
    return (unsigned)k < (unsigned)MQTT_CMD_KIND_COUNT ? k_topics[k] : "unknown";
}

static bool printable(const char *s, size_t n, bool allow_space)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < (allow_space ? 0x20u : 0x21u) || c > 0x7Eu) {
            return false;
        }
    }
    return true;
}

/* Case-insensitive equality of a byte range with a lower-case word. */
static bool word_is(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    if (n != wl) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != word[i]) {
            return false;
        }
    }
    return true;
}

/* id member -> out->id_json. TB_OK (also when absent) or TB_ERR_FORMAT. */
static int take_id(const cJSON *id, mqtt_cmd_req_t *out, const char **why)
{
    jw_t w;
    jw_init(&w, out->id_json, sizeof out->id_json);
    if (cJSON_IsString(id)) {
        size_t n = strlen(id->valuestring);
        if (n == 0u || n >= MQTT_CMD_ID_MAX || !printable(id->valuestring, n, true)) {
            return tb_err_why(why, TB_ERR_FORMAT, "\"id\" must be 1..64 printable ASCII characters");
        }
        jw_str(&w, id->valuestring);
    } else if (cJSON_IsNumber(id)) {
        double v = id->valuedouble;
        if (!isfinite(v) || v != floor(v) || fabs(v) > 9007199254740992.0) {
            return tb_err_why(why, TB_ERR_FORMAT, "\"id\" must be a string or an integer");
        }
        jw_int(&w, (int64_t)v);
    } else {
        return tb_err_why(why, TB_ERR_FORMAT, "\"id\" must be a string or an integer");
    }
    if (jw_finish(&w) < 0) {
        out->id_json[0] = '\0';
        return tb_err_why(why, TB_ERR_FORMAT, "\"id\" too long");
    }
    return TB_OK;
}

static mqtt_cmd_kind_t kind_of(const char *sub, size_t n)
{
    for (unsigned k = 0; k < MQTT_CMD_KIND_COUNT; k++) {
        if (strlen(k_topics[k]) == n && memcmp(k_topics[k], sub, n) == 0) {
            return (mqtt_cmd_kind_t)k;
        }
    }
    return MQTT_CMD_KIND_COUNT;
}

/* The members a kind accepts besides "id". */
static bool member_allowed(mqtt_cmd_kind_t k, const char *name)
{
    if (strcmp(name, "id") == 0) {
        return true;
    }
    switch (k) {
    case MQTT_CMD_BMS_SET:
        return strcmp(name, "name") == 0 || strcmp(name, "value") == 0;
    case MQTT_CMD_CAN_SHADOW:
        return strcmp(name, "on") == 0;
    default:
        return false;
    }
}

static int parse_object(const cJSON *root, mqtt_cmd_req_t *out, const char **why)
{
    /* the id first, so that every later refusal can still name the request */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id) {
        int rc = take_id(id, out, why);
        if (rc != TB_OK) {
            return rc;
        }
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string || !member_allowed(out->kind, c->string)) {
            return tb_err_why(why, TB_ERR_FORMAT, "unknown member in the payload");
        }
        for (const cJSON *d = c->next; d; d = d->next) {
            if (d->string && strcmp(d->string, c->string) == 0) {
                return tb_err_why(why, TB_ERR_FORMAT, "duplicate member in the payload");
            }
        }
    }
    switch (out->kind) {
    case MQTT_CMD_BMS_SET: {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(root, "value");
        if (!cJSON_IsString(name)) {
            return tb_err_why(why, TB_ERR_FORMAT, "\"name\" (the register name, a string) is required");
        }
        size_t n = strlen(name->valuestring);
        if (n == 0u || n >= sizeof out->name || !printable(name->valuestring, n, false)) {
            return tb_err_why(why, TB_ERR_FORMAT,
                              "\"name\" must be 1..63 printable ASCII characters without spaces");
        }
        if (!cJSON_IsNumber(value) || !isfinite(value->valuedouble)) {
            return tb_err_why(why, TB_ERR_FORMAT,
                              "\"value\" (a finite number in the register's unit) is required");
        }
        memcpy(out->name, name->valuestring, n + 1u);
        out->value = value->valuedouble;
        return TB_OK;
    }
    case MQTT_CMD_CAN_SHADOW: {
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(root, "on");
        if (!cJSON_IsBool(on)) {
            return tb_err_why(why, TB_ERR_FORMAT, "\"on\" (true or false) is required");
        }
        out->on = cJSON_IsTrue(on);
        return TB_OK;
    }
    default:
        return TB_OK; /* reset and clear commands take nothing but the id */
    }
}

int mqtt_cmd_parse(const char *sub, size_t sub_len, const uint8_t *payload, size_t len, mqtt_cmd_req_t *out,
                   const char **why)
{
    memset(out, 0, sizeof *out);
    out->kind = sub ? kind_of(sub, sub_len) : MQTT_CMD_KIND_COUNT;
    if (len > MQTT_CMD_PAYLOAD_MAX) {
        return tb_err_why(why, TB_ERR_TOO_LARGE, "payload too large");
    }
    char buf[MQTT_CMD_PAYLOAD_MAX + 1u];
    if (len) {
        if (!payload || memchr(payload, 0, len)) {
            return tb_err_why(why, TB_ERR_FORMAT, "the payload contains a NUL byte");
        }
        memcpy(buf, payload, len);
    }
    buf[len] = '\0';
    /* trim ASCII white space */
    const char *s = buf;
    size_t n = len;
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n && (s[n - 1u] == ' ' || s[n - 1u] == '\t' || s[n - 1u] == '\r' || s[n - 1u] == '\n')) {
        n--;
    }

    cJSON *root = NULL;
    if (n && s[0] == '{') {
        json_in_err_t e;
        root = json_in_parse(s, n, &e);
        if (!root) {
            if (out->kind == MQTT_CMD_KIND_COUNT) {
                return tb_err_why(why, TB_ERR_FORMAT, "unknown command topic");
            }
            return tb_err_why(why, TB_ERR_FORMAT,
                              e.reason == JSON_IN_SYNTAX ? "the payload is not valid JSON" : json_in_reason_str(e.reason));
        }
        /* best effort: the id, for an error reply about an unknown topic */
        if (out->kind == MQTT_CMD_KIND_COUNT) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
            if (id && take_id(id, out, NULL) != TB_OK) {
                out->id_json[0] = '\0';
            }
        }
    }
    if (out->kind == MQTT_CMD_KIND_COUNT) {
        cJSON_Delete(root);
        return tb_err_why(why, TB_ERR_NOTFOUND, "unknown command topic");
    }
    if (root) {
        int rc = parse_object(root, out, why);
        cJSON_Delete(root);
        return rc;
    }
    /* plain payloads */
    switch (out->kind) {
    case MQTT_CMD_BMS_RESET:
    case MQTT_CMD_BMS_CLEAR_EVENTS:
    case MQTT_CMD_BMS_CLEAR_STATS:
        if (n == 0u || word_is(s, n, "press")) {
            return TB_OK;
        }
        return tb_err_why(why, TB_ERR_FORMAT, "expected an empty payload, PRESS or a JSON object");
    case MQTT_CMD_CAN_SHADOW:
        if (word_is(s, n, "on") || word_is(s, n, "true")) {
            out->on = true;
            return TB_OK;
        }
        if (word_is(s, n, "off") || word_is(s, n, "false")) {
            out->on = false;
            return TB_OK;
        }
        return tb_err_why(why, TB_ERR_FORMAT, "expected ON, OFF, true, false or {\"on\": true|false}");
    case MQTT_CMD_BMS_SET:
        return tb_err_why(why, TB_ERR_FORMAT, "expected a JSON object {\"name\": ..., \"value\": ...}");
    default:
        break;
    }
    return tb_err_why(why, TB_ERR_NOTFOUND, "unknown command topic");
}

void mqtt_cmd_to_gw(const mqtt_cmd_req_t *r, gw_cmd_t *c)
{
    c->name[0] = '\0';
    c->text[0] = '\0';
    c->value = 0.0;
    c->option = 0;
    c->flag = false;
    c->rc = 0;
    c->status = 0;
    c->message[0] = '\0';
    c->result[0] = '\0';
    snprintf(c->source, sizeof c->source, "mqtt");
    switch (r->kind) {
    case MQTT_CMD_BMS_RESET:
        c->type = GW_CMD_BMS_RESET;
        c->option = TB_RESET_BMS;
        break;
    case MQTT_CMD_BMS_CLEAR_EVENTS:
        c->type = GW_CMD_BMS_RESET;
        c->option = TB_RESET_CLEAR_EVENTS;
        break;
    case MQTT_CMD_BMS_CLEAR_STATS:
        c->type = GW_CMD_BMS_RESET;
        c->option = TB_RESET_CLEAR_STATS;
        break;
    case MQTT_CMD_BMS_SET:
        c->type = GW_CMD_BMS_WRITE;
        snprintf(c->name, sizeof c->name, "%s", r->name);
        c->value = r->value;
        break;
    case MQTT_CMD_CAN_SHADOW:
    default:
        c->type = GW_CMD_CAN_SHADOW;
        c->flag = r->on;
        break;
    }
}

int mqtt_cmd_result_json(char *out, size_t cap, const char *id_json, const char *command, int rc, int status,
                         const char *message, const char *result_json)
{
    jw_t w;
    jw_init(&w, out, cap);
    jw_obj_begin(&w);
    jw_key(&w, "id");
    if (id_json && id_json[0]) {
        jw_raw(&w, id_json, strlen(id_json));
    } else {
        jw_null(&w);
    }
    if (command && command[0]) {
        jw_kv_str(&w, "command", command);
    } else {
        jw_kv_null(&w, "command");
    }
    jw_kv_int(&w, "rc", rc);
    jw_kv_str(&w, "error", rc == TB_OK ? "ok" : tb_err_name(rc));
    jw_kv_int(&w, "status", status);
    jw_kv_str(&w, "message", message ? message : "");
    jw_key(&w, "result");
    if (result_json && result_json[0]) {
        jw_raw(&w, result_json, strlen(result_json));
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    return jw_finish(&w);
}
