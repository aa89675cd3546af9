#include "app/mqtt_id.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/tb_err.h"

static int put(char *out, size_t cap, const char *s, size_t n)
{
    if (n + 1u > cap) {
        if (cap) {
            out[0] = '\0';
        }
        return TB_ERR_NOSPACE;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return (int)n;
}

int mqtt_slug(const char *in, char *out, size_t cap)
{
    if (!in || !in[0] || cap < 2u) {
        if (cap) {
            out[0] = '\0';
        }
        return TB_ERR_ARG;
    }
    size_t n = 0;
    for (; in[n] && n + 1u < cap; n++) {
        char c = in[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    return (int)n;
}

int mqtt_id_from_serial(const uint16_t serial[6], char *out, size_t cap)
{
    bool all0 = true, all1 = true;
    for (unsigned i = 0; i < 6u; i++) {
        all0 = all0 && serial[i] == 0u;
        all1 = all1 && serial[i] == 0xFFFFu;
    }
    if (all0 || all1) {
        if (cap) {
            out[0] = '\0';
        }
        return TB_ERR_ARG;
    }
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04x%04x%04x%04x%04x%04x", serial[0], serial[1], serial[2], serial[3],
                     serial[4], serial[5]);
    return put(out, cap, buf, (size_t)n);
}

int mqtt_base_resolve(const char *pattern, const char *device_id, char *out, size_t cap)
{
    const char *ph = strstr(pattern, "{device_id}");
    if (!ph) {
        return put(out, cap, pattern, strlen(pattern));
    }
    size_t head = (size_t)(ph - pattern), idl = strlen(device_id);
    const char *tail = ph + strlen("{device_id}");
    size_t tl = strlen(tail);
    if (head + idl + tl + 1u > cap) {
        if (cap) {
            out[0] = '\0';
        }
        return TB_ERR_NOSPACE;
    }
    memcpy(out, pattern, head);
    memcpy(out + head, device_id, idl);
    memcpy(out + head + idl, tail, tl + 1u);
    return (int)(head + idl + tl);
}

int mqtt_web_url(const char *web_url, const char *http_listen, const char *hostname, char *out, size_t cap)
{
    if (web_url && web_url[0]) {
        return put(out, cap, web_url, strlen(web_url));
    }
    const char *colon = http_listen ? strrchr(http_listen, ':') : NULL;
    if (!colon || !colon[1]) {
        return put(out, cap, "", 0);
    }
    const char *port = colon + 1;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') {
            return put(out, cap, "", 0);
        }
    }
    char host[128];
    size_t hl = (size_t)(colon - http_listen);
    if (hl >= sizeof host) {
        return put(out, cap, "", 0);
    }
    memcpy(host, http_listen, hl);
    host[hl] = '\0';
    const char *h = host;
    if (hl == 0u || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0) {
        h = hostname && hostname[0] ? hostname : "";
    }
    if (!h[0]) {
        return put(out, cap, "", 0);
    }
    for (const char *p = h; *p; p++) {
        if ((unsigned char)*p <= 0x20u || (unsigned char)*p >= 0x7Fu || *p == '"' || *p == '\\' || *p == '/') {
            return put(out, cap, "", 0);
        }
    }
    /* a bare IPv6 address needs brackets in a URL */
    bool v6 = strchr(h, ':') != NULL && h[0] != '[';
    char buf[MQTT_TOPIC_MAX];
    int n = snprintf(buf, sizeof buf, "http://%s%s%s:%s/", v6 ? "[" : "", h, v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= sizeof buf) {
        return put(out, cap, "", 0);
    }
    return put(out, cap, buf, (size_t)n);
}
