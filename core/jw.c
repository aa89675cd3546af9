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

/* Keep one byte for the terminating NUL. Short pieces (keys, numbers, punctuation: nearly all of
 * a status document) are copied by a loop: a memcpy call costs more than the copy itself. */
static void put(jw_t *w, const char *s, size_t n)
{
    if (w->overflow) {
        return;
    }
    if (n > w->cap - 1u - w->len) {
        w->overflow = true;
        return;
    }
    char *d = w->buf + w->len;
    if (n <= 16u) {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[i];
        }
    } else {
        memcpy(d, s, n);
    }
    w->len += n;
}

static void putc1(jw_t *w, char c)
{
    if (w->overflow) {
        return;
    }
    if (w->len + 1u >= w->cap) {
        w->overflow = true;
        return;
    }
    w->buf[w->len++] = c;
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

/* The bytes that need escaping in a JSON string: controls, DEL, '"' and '\\'. A 128-byte table
 * for the ASCII half (bytes >= 0x80 never need it): one load per byte on the hot path of every
 * string of the view, where the four comparisons it replaced cost about 6 000 instructions per
 * 2.5 kB status document (make bench) for 112 bytes less flash. */
static const uint8_t k_needs_escape[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
};

static bool needs_escape(unsigned char c)
{
    return c < 0x80u && k_needs_escape[c] != 0u;
}

/* The escape sequence for c (c needs escaping); returns its length. */
static size_t escape(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789abcdef";
    char simple = 0;
    switch (c) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '\n': simple = 'n'; break;
    case '\r': simple = 'r'; break;
    case '\t': simple = 't'; break;
    case '\b': simple = 'b'; break;
    case '\f': simple = 'f'; break;
    default: break;
    }
    out[0] = '\\';
    if (simple) {
        out[1] = simple;
        return 2u;
    }
    out[1] = 'u';
    out[2] = '0';
    out[3] = '0';
    out[4] = hex[c >> 4];
    out[5] = hex[c & 0xFu];
    return 6u;
}

/* A string with its quotes. Fast path: when it fits, bytes are copied straight into the buffer
 * while a table says none needs escaping (keys and most values); the first byte that does hands
 * over to the general path for the rest. */
static void put_escaped_tail(jw_t *w, const char *s, size_t n)
{
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c)) {
            continue;
        }
        char e[6];
        size_t k = escape(c, e);
        put(w, s + run, i - run);
        put(w, e, k);
        run = i + 1u;
    }
    put(w, s + run, n - run);
    putc1(w, '"');
}

static void put_escaped(jw_t *w, const char *s, size_t n)
{
    if (!w->overflow && n + 2u <= w->cap - 1u - w->len) {
        char *d = w->buf + w->len;
        char *p = d;
        *p++ = '"';
        size_t i = 0;
        while (i < n && !needs_escape((unsigned char)s[i])) {
            *p++ = s[i++];
        }
        if (i == n) {
            *p++ = '"';
            w->len += (size_t)(p - d);
            return;
        }
        w->len += (size_t)(p - d);
        put_escaped_tail(w, s + i, n - i);
        return;
    }
    putc1(w, '"');
    put_escaped_tail(w, s, n);
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

/* A number: ["-"] ip ["." the `digits` low decimal digits of fp, leading zeros kept]. */
static void put_number(jw_t *w, uint64_t ip, uint32_t fp, unsigned digits, bool neg)
{
    char tmp[32];
    size_t i = sizeof tmp;
    if (digits != 0u) {
        while (digits-- > 0u) {
            tmp[--i] = (char)('0' + (int)(fp % 10u));
            fp /= 10u;
        }
        tmp[--i] = '.';
    }
    do {
        tmp[--i] = (char)('0' + (int)(ip % 10u));
        ip /= 10u;
    } while (ip != 0u);
    if (neg) {
        tmp[--i] = '-';
    }
    before_value(w);
    put(w, tmp + i, sizeof tmp - i);
}

void jw_uint(jw_t *w, uint64_t v)
{
    put_number(w, v, 0, 0, false);
}

void jw_int(jw_t *w, int64_t v)
{
    put_number(w, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 0, 0, v < 0);
}

/* Integers, so that the divisor needs no double-to-integer conversion; (double)10^d is exact. */
static const uint32_t k_pow10[10] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
                                     1000000000u};

void jw_double(jw_t *w, double v, unsigned decimals)
{
    if (decimals > 9u) {
        decimals = 9u;
    }
    uint32_t div = k_pow10[decimals];
    double scaled = v * (double)div;
    /* |scaled| by clearing the sign bit: NaN fails the comparison, infinities and huge values
     * fail the bound (the same test as -9e15 < scaled < 9e15). */
    union {
        double d;
        uint64_t u;
    } mag = {scaled};
    bool neg = (mag.u >> 63) != 0u; /* -0.0 and tiny negatives round to 0 and print no sign */
    mag.u &= ~((uint64_t)1 << 63);
    if (!(mag.d < 9.0e15)) {
        jw_null(w);
        return;
    }
    uint64_t q = (uint64_t)(mag.d + 0.5);
    uint64_t ip = q / div;
    uint32_t fp = (uint32_t)(q - ip * div);
    unsigned digits = fp != 0u ? decimals : 0u;
    while (digits != 0u && fp % 10u == 0u) { /* drop trailing zeros */
        fp /= 10u;
        digits--;
    }
    put_number(w, ip, fp, digits, neg && q != 0u);
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
