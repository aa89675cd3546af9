#include "core/jw.h"

#include <string.h>

void jw_init(jw_t *w, char *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    if (cap == 0u) {
        w->overflow = true;
    } else {
        buf[0] = '\0';
    }
}

/* Keep one byte for the terminating NUL. */
static void put(jw_t *w, const char *s, size_t n)
{
    if (w->overflow) {
        return;
    }
    if (n > w->cap - 1u - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void putc1(jw_t *w, char c)
{
    put(w, &c, 1u);
}

static uint32_t bit(uint8_t d)
{
    return (uint32_t)1u << d;
}

/* Emit the separator a new value needs in the current container. */
static void before_value(jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0u) {
        if (w->len != 0u) {
            w->bad = true; /* a second top-level value */
        }
        return;
    }
    if (w->is_obj & bit(w->depth)) {
        w->bad = true; /* value inside an object without a key */
        return;
    }
    if (w->has_items & bit(w->depth)) {
        putc1(w, ',');
    }
    w->has_items |= bit(w->depth);
}

static void push(jw_t *w, char c, bool obj)
{
    before_value(w);
    if (w->depth + 1u >= JW_MAX_DEPTH) {
        w->bad = true;
        return;
    }
    w->depth++;
    w->has_items &= ~bit(w->depth);
    if (obj) {
        w->is_obj |= bit(w->depth);
    } else {
        w->is_obj &= ~bit(w->depth);
    }
    putc1(w, c);
}

static void pop(jw_t *w, char c, bool obj)
{
    if (w->depth == 0u || w->after_key || (((w->is_obj & bit(w->depth)) != 0u) != obj)) {
        w->bad = true;
        return;
    }
    w->depth--;
    putc1(w, c);
}

void jw_obj_begin(jw_t *w) { push(w, '{', true); }
void jw_obj_end(jw_t *w) { pop(w, '}', true); }
void jw_arr_begin(jw_t *w) { push(w, '[', false); }
void jw_arr_end(jw_t *w) { pop(w, ']', false); }

static void put_escaped(jw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    putc1(w, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20u || c == 0x7fu) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 0xFu];
                put(w, s + run, i - run);
                put(w, u, 6u);
                run = i + 1u;
            }
            continue;
        }
        put(w, s + run, i - run);
        put(w, esc, strlen(esc));
        run = i + 1u;
    }
    put(w, s + run, n - run);
    putc1(w, '"');
}

void jw_key(jw_t *w, const char *key)
{
    if (w->depth == 0u || !(w->is_obj & bit(w->depth)) || w->after_key) {
        w->bad = true;
        return;
    }
    if (w->has_items & bit(w->depth)) {
        putc1(w, ',');
    }
    w->has_items |= bit(w->depth);
    put_escaped(w, key, strlen(key));
    putc1(w, ':');
    w->after_key = true;
}

void jw_strn(jw_t *w, const char *s, size_t n)
{
    before_value(w);
    put_escaped(w, s, n);
}

void jw_str(jw_t *w, const char *s)
{
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

/* Decimal digits of v into the end of tmp; returns the start index. */
static size_t utoa_rev(uint64_t v, char *tmp, size_t size)
{
    size_t i = size;
    do {
        tmp[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    return i;
}

void jw_uint(jw_t *w, uint64_t v)
{
    char tmp[24];
    before_value(w);
    size_t i = utoa_rev(v, tmp, sizeof tmp);
    put(w, tmp + i, sizeof tmp - i);
}

void jw_int(jw_t *w, int64_t v)
{
    char tmp[24];
    before_value(w);
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t i = utoa_rev(mag, tmp, sizeof tmp);
    if (v < 0) {
        tmp[--i] = '-';
    }
    put(w, tmp + i, sizeof tmp - i);
}

static const double k_pow10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

void jw_double(jw_t *w, double v, unsigned decimals)
{
    if (decimals > 9u) {
        decimals = 9u;
    }
    /* NaN fails every comparison, infinities and huge values fail the bound. */
    double scaled = v * k_pow10[decimals];
    if (!(scaled < 9.0e15 && scaled > -9.0e15)) {
        jw_null(w);
        return;
    }
    bool neg = scaled < 0.0;
    double mag = neg ? -scaled : scaled;
    uint64_t q = (uint64_t)(mag + 0.5);
    uint64_t div = (uint64_t)k_pow10[decimals];
    uint64_t ip = q / div;
    uint64_t fp = q % div;

    char tmp[48];
    size_t end = sizeof tmp;
    size_t i = end;
    if (fp != 0u) {
        unsigned digits = decimals;
        while (fp % 10u == 0u) { /* drop trailing zeros */
            fp /= 10u;
            digits--;
        }
        for (unsigned d = 0; d < digits; d++) {
            tmp[--i] = (char)('0' + (int)(fp % 10u));
            fp /= 10u;
        }
        tmp[--i] = '.';
    }
    do {
        tmp[--i] = (char)('0' + (int)(ip % 10u));
        ip /= 10u;
    } while (ip != 0u);
    if (neg && q != 0u) {
        tmp[--i] = '-';
    }
    before_value(w);
    put(w, tmp + i, end - i);
}

void jw_float(jw_t *w, float v, unsigned decimals)
{
    jw_double(w, (double)v, decimals);
}

void jw_bool(jw_t *w, bool v)
{
    before_value(w);
    if (v) {
        put(w, "true", 4u);
    } else {
        put(w, "false", 5u);
    }
}

void jw_null(jw_t *w)
{
    before_value(w);
    put(w, "null", 4u);
}

void jw_raw(jw_t *w, const char *json, size_t n)
{
    before_value(w);
    put(w, json, n);
}

void jw_kv_str(jw_t *w, const char *key, const char *s) { jw_key(w, key); jw_str(w, s); }
void jw_kv_int(jw_t *w, const char *key, int64_t v) { jw_key(w, key); jw_int(w, v); }
void jw_kv_uint(jw_t *w, const char *key, uint64_t v) { jw_key(w, key); jw_uint(w, v); }
void jw_kv_float(jw_t *w, const char *key, float v, unsigned d) { jw_key(w, key); jw_float(w, v, d); }
void jw_kv_double(jw_t *w, const char *key, double v, unsigned d) { jw_key(w, key); jw_double(w, v, d); }
void jw_kv_bool(jw_t *w, const char *key, bool v) { jw_key(w, key); jw_bool(w, v); }
void jw_kv_null(jw_t *w, const char *key) { jw_key(w, key); jw_null(w); }

int jw_finish(jw_t *w)
{
    if (w->cap == 0u) {
        return TB_ERR_NOSPACE;
    }
    w->buf[w->len] = '\0';
    if (w->overflow) {
        return TB_ERR_NOSPACE;
    }
    if (w->bad || w->depth != 0u || w->after_key) {
        return TB_ERR_FORMAT;
    }
    return (int)w->len;
}
