/* jw: a streaming JSON writer into a caller buffer.
 *
 * No allocation, no stdio: the gateway renders its status view, API replies and MQTT payloads
 * with it on the owner thread, on Linux and later on the ESP32. Commas and nesting are tracked
 * by the writer, so call sites only state structure:
 *
 *     jw_t w; jw_init(&w, buf, sizeof buf);
 *     jw_obj_begin(&w);
 *       jw_kv_float(&w, "pack_voltage_v", 53.21f, 3);
 *       jw_key(&w, "cells_v"); jw_arr_begin(&w); jw_float(&w, 3.3f, 4); jw_arr_end(&w);
 *     jw_obj_end(&w);
 *     int len = jw_finish(&w);   // >= 0: length (buffer NUL-terminated); < 0: TB_ERR_NOSPACE/FORMAT
 *
 * On overflow the writer stops writing, remembers the failure and jw_finish() reports it; the
 * buffer then holds a truncated, NUL-terminated prefix that must not be sent.
 * Non-finite floats are written as null (JSON has no NaN). Strings are escaped per RFC 8259;
 * bytes >= 0x80 are passed through (callers supply UTF-8).
 * Nesting depth is limited to JW_MAX_DEPTH.
 */
#ifndef TB_JW_H
#define TB_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tb_err.h"

#define JW_MAX_DEPTH 16u

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
    bool bad;          /* structural misuse (unbalanced, key outside object, too deep) */
    bool after_key;    /* a key was written, a value must follow */
    uint8_t depth;
    uint32_t has_items; /* bit d: container at depth d already has an element */
    uint32_t is_obj;    /* bit d: container at depth d is an object */
} jw_t;

void jw_init(jw_t *w, char *buf, size_t cap);

void jw_obj_begin(jw_t *w);
void jw_obj_end(jw_t *w);
void jw_arr_begin(jw_t *w);
void jw_arr_end(jw_t *w);
void jw_key(jw_t *w, const char *key);

void jw_str(jw_t *w, const char *s);
/* String of exactly n bytes (may contain NUL, escaped as \u0000). */
void jw_strn(jw_t *w, const char *s, size_t n);
void jw_int(jw_t *w, int64_t v);
void jw_uint(jw_t *w, uint64_t v);
/* Fixed-point with `decimals` digits after the point (0..9), trailing zeros kept off:
 * 3.3f,4 -> 3.3 ; 53.219f,2 -> 53.22. |v| beyond 9e15 / 10^decimals is written as null. */
void jw_float(jw_t *w, float v, unsigned decimals);
void jw_double(jw_t *w, double v, unsigned decimals);
void jw_bool(jw_t *w, bool v);
void jw_null(jw_t *w);
/* Already-serialised JSON value, inserted verbatim (caller guarantees validity). */
void jw_raw(jw_t *w, const char *json, size_t n);

/* Key + value shorthands. */
void jw_kv_str(jw_t *w, const char *key, const char *s);
void jw_kv_int(jw_t *w, const char *key, int64_t v);
void jw_kv_uint(jw_t *w, const char *key, uint64_t v);
void jw_kv_float(jw_t *w, const char *key, float v, unsigned decimals);
void jw_kv_double(jw_t *w, const char *key, double v, unsigned decimals);
void jw_kv_bool(jw_t *w, const char *key, bool v);
void jw_kv_null(jw_t *w, const char *key);

/* Length written (>= 0) with the buffer NUL-terminated, or TB_ERR_NOSPACE (buffer too small),
 * or TB_ERR_FORMAT (unbalanced structure / misuse). */
int jw_finish(jw_t *w);

#endif
