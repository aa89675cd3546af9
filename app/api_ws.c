#include "app/api_ws.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "app/api_json.h"
#include "app/bms_json.h"
#include "app/json_in.h"
#include "app/utf8.h"
#include "core/jw.h"

void api_ws_sub_default(api_ws_sub_t *s)
{
    memset(s, 0, sizeof *s);
    s->status = true;
    s->events = true;
    s->log_level = LOG_INFO;
}

uint32_t api_ws_rate_wait(const api_ws_rate_t *r, uint32_t now_ms, uint32_t interval_ms)
{
    if (!r->started) {
        return 0u;
    }
    int32_t early = (int32_t)(r->tat - interval_ms / 2u - now_ms);
    return early > 0 ? (uint32_t)early : 0u;
}

void api_ws_rate_sent(api_ws_rate_t *r, uint32_t now_ms, uint32_t interval_ms)
{
    if (!r->started || (int32_t)(now_ms - r->tat) > 0) {
        r->tat = now_ms; /* behind the schedule: no credit for the time nothing was sent */
    }
    r->tat += interval_ms;
    r->started = true;
}

int api_ws_parse(const char *msg, size_t len, api_ws_sub_t *s)
{
    if (len > API_WS_CLIENT_MSG_MAX) {
        return TB_ERR_TOO_LARGE;
    }
    if (!msg || len == 0u) {
        return TB_ERR_FORMAT;
    }
    cJSON *root = json_in_parse(msg, len, NULL);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return TB_ERR_FORMAT;
    }
    api_ws_sub_t n = *s;
    int rc = TB_OK;
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(root, "subscribe");
    if (sub) {
        if (!cJSON_IsArray(sub)) {
            rc = TB_ERR_FORMAT;
        } else {
            n.status = n.events = n.log = n.can = false;
            for (const cJSON *t = sub->child; t && rc == TB_OK; t = t->next) {
                if (!cJSON_IsString(t)) {
                    rc = TB_ERR_FORMAT;
                } else if (strcmp(t->valuestring, "status") == 0) {
                    n.status = true;
                } else if (strcmp(t->valuestring, "events") == 0) {
                    n.events = true;
                } else if (strcmp(t->valuestring, "log") == 0) {
                    n.log = true;
                } else if (strcmp(t->valuestring, "can") == 0) {
                    n.can = true;
                } else {
                    rc = TB_ERR_RANGE;
                }
            }
        }
    }
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(root, "log_level");
    if (rc == TB_OK && lv) {
        log_level_t l;
        if (!cJSON_IsString(lv)) {
            rc = TB_ERR_FORMAT;
        } else if (!log_level_parse(lv->valuestring, &l)) {
            rc = TB_ERR_RANGE;
        } else {
            n.log_level = (uint8_t)l;
        }
    }
    if (rc == TB_OK && !sub && !lv) {
        rc = TB_ERR_FORMAT; /* nothing we understand */
    }
    cJSON_Delete(root);
    if (rc == TB_OK) {
        *s = n;
    }
    return rc;
}

static void sub_list(jw_t *w, const api_ws_sub_t *s)
{
    jw_arr_begin(w);
    if (s->status) jw_str(w, "status");
    if (s->events) jw_str(w, "events");
    if (s->log) jw_str(w, "log");
    if (s->can) jw_str(w, "can");
    jw_arr_end(w);
}

int api_ws_hello(char *buf, size_t cap, const char *version, int rate_hz, const api_ws_sub_t *s)
{
    jw_t w;
    jw_init(&w, buf, cap);
    jw_obj_begin(&w);
    jw_kv_str(&w, "type", "hello");
    jw_kv_str(&w, "version", version ? version : "");
    jw_kv_int(&w, "rate_hz", rate_hz);
    jw_key(&w, "subscribed");
    sub_list(&w, s);
    jw_kv_str(&w, "log_level", log_level_name((log_level_t)s->log_level));
    jw_obj_end(&w);
    return jw_finish(&w);
}

int api_ws_status(char *buf, size_t cap, const char *status_json, size_t len)
{
    static const char pre[] = "{\"type\":\"status\",\"data\":";
    size_t pl = sizeof pre - 1u;
    if (len == 0u || pl + len + 2u > cap) {
        return TB_ERR_NOSPACE;
    }
    memcpy(buf, pre, pl);
    memcpy(buf + pl, status_json, len);
    buf[pl + len] = '}';
    buf[pl + len + 1u] = '\0';
    return (int)(pl + len + 1u);
}

int api_ws_events(char *buf, size_t cap, const gw_view_t *v)
{
    jw_t w;
    jw_init(&w, buf, cap);
    jw_obj_begin(&w);
    jw_kv_str(&w, "type", "events");
    jw_kv_uint(&w, "new_seq", v->event_seq);
    jw_key(&w, "events");
    jw_arr_begin(&w);
    for (unsigned i = 0; i < v->recent_count && i < GW_VIEW_EVENTS; i++) {
        jw_obj_begin(&w);
        /* the number of each event: the newest is new_seq */
        jw_kv_uint(&w, "seq", (uint64_t)v->event_seq - (uint64_t)(v->recent_count - 1u - i));
        jw_kv_uint(&w, "timestamp_s", v->recent_events[i].timestamp_s);
        jw_kv_uint(&w, "id", v->recent_events[i].id);
        jw_kv_str(&w, "class", bms_event_class_name(bms_event_class(v->recent_events[i].id)));
        jw_kv_str(&w, "name", bms_json_event_name(v->recent_events[i].id));
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return jw_finish(&w);
}

int api_ws_can(char *buf, size_t cap, const gw_view_t *v)
{
    jw_t w;
    jw_init(&w, buf, cap);
    jw_obj_begin(&w);
    jw_kv_str(&w, "type", "can");
    jw_key(&w, "data");
    api_json_can_frames(&w, v);
    jw_obj_end(&w);
    return jw_finish(&w);
}

int api_ws_log(char *buf, size_t cap, const log_entry_t *e, size_t n, uint64_t last_seq)
{
    jw_t w;
    jw_init(&w, buf, cap);
    jw_obj_begin(&w);
    jw_kv_str(&w, "type", "log");
    jw_kv_uint(&w, "last_seq", last_seq);
    jw_key(&w, "entries");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        api_json_log_entry(&w, &e[i]);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return jw_finish(&w);
}

size_t api_ws_utf8_sanitize(char *s, size_t len)
{
    size_t bad = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len((const uint8_t *)s + i, len - i);
        if (n == 0u) {
            s[i++] = '?';
            bad++;
        } else {
            i += n;
        }
    }
    return bad;
}
