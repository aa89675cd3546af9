/* json_in: bounded, strict gate in front of cJSON (see json_in.h for why). */
#include "app/json_in.h"

#include "app/utf8.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TB_STR_(x) #x
#define TB_STR(x) TB_STR_(x)

/* ---- the scan ----------------------------------------------------------------------------------- */

typedef struct {
    bool object;      /* this level is an object (else an array) */
    bool expect_key;  /* in an object: the next string is a key */
    unsigned members; /* keys seen at this level */
    const char *key;  /* raw text of the last key at this level (between the quotes) */
    size_t key_len;
} level_t;

typedef struct {
    const char *text;
    size_t len;
    int line;
    int depth; /* open levels */
    level_t lv[JSON_IN_MAX_DEPTH];
    bool in_key; /* the string being scanned is a key */
    json_in_err_t *err;
} scan_t;

/* "mqtt.password", "charge.list[]", or "" at the top level. */
static void path_of(const scan_t *s, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->depth && n + 1u < cap; i++) {
        const level_t *l = &s->lv[i];
        int w;
        if (l->object) {
            if (!l->key) {
                break;
            }
            if (s->in_key && i == s->depth - 1) {
                break; /* the fault is in this key itself */
            }
            w = snprintf(buf + n, cap - n, "%s%.*s", n ? "." : "", (int)(l->key_len > 48u ? 48u : l->key_len), l->key);
        } else {
            w = snprintf(buf + n, cap - n, "[]");
        }
        if (w < 0) {
            break;
        }
        n += (size_t)w;
        if (n >= cap) {
            n = cap - 1u;
        }
    }
}

static int fail(scan_t *s, json_in_reason_t r, bool where, const char *what)
{
    if (!s->err) {
        return -1;
    }
    s->err->reason = r;
    s->err->line = s->line;
    char *path = s->err->path;
    path_of(s, path, sizeof s->err->path);
    if (where && s->in_key) {
        snprintf(s->err->msg, sizeof s->err->msg, "%s in a key name%s%s%s (line %d)", what, path[0] ? " inside \"" : "",
                 path, path[0] ? "\"" : "", s->line);
    } else if (where && path[0]) {
        snprintf(s->err->msg, sizeof s->err->msg, "%s in \"%s\" (line %d)", what, path, s->line);
    } else {
        snprintf(s->err->msg, sizeof s->err->msg, "%s (line %d)", what, s->line);
    }
    return -1;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) {
        return -1;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
        v = (v << 4) | d;
    }
    *out = v;
    return 0;
}

/* Scans the string whose opening quote is at *pp; leaves *pp after the closing quote (or at the
 * end when it is unterminated: cJSON reports that). */
static int scan_string(scan_t *s, const char **pp)
{
    const char *p = *pp + 1;
    const char *end = s->text + s->len;
    const char *start = p;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c == '\\') {
            if (end - p < 2) {
                break;
            }
            if (p[1] == 'u') {
                unsigned u;
                if (hex4(p + 2, end, &u) != 0) {
                    p += 2; /* a syntax error: cJSON names it */
                    continue;
                }
                if (u == 0u) {
                    return fail(s, JSON_IN_NUL, true, "\\u0000 (a NUL character) is not allowed");
                }
                if (u >= 0xDC00u && u <= 0xDFFFu) {
                    return fail(s, JSON_IN_ENCODING, true, "a \\u escape is a lone UTF-16 low surrogate");
                }
                if (u >= 0xD800u && u <= 0xDBFFu) {
                    unsigned lo;
                    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, end, &lo) != 0 || lo < 0xDC00u ||
                        lo > 0xDFFFu) {
                        return fail(s, JSON_IN_ENCODING, true, "a \\u escape is a lone UTF-16 high surrogate");
                    }
                    p += 12;
                    continue;
                }
                p += 6;
                continue;
            }
            p += 2;
            continue;
        }
        if (c == '\n') {
            s->line++;
        }
        if (c < 0x20u) {
            return fail(s, JSON_IN_ENCODING, true, "a control character must be escaped");
        }
        size_t k = utf8_seq_len((const uint8_t *)p, (size_t)(end - p));
        if (k == 0u) {
            return fail(s, JSON_IN_ENCODING, true, "invalid UTF-8");
        }
        p += k;
    }
    if (s->in_key && s->depth > 0) {
        level_t *l = &s->lv[s->depth - 1];
        l->key = start;
        l->key_len = (size_t)(p - start);
    }
    *pp = p < end ? p + 1 : p;
    return 0;
}

int json_in_scan(const char *text, size_t len, json_in_err_t *err)
{
    scan_t s;
    memset(&s, 0, sizeof s);
    s.text = text;
    s.len = len;
    s.line = 1;
    s.err = err;
    if (err) {
        err->reason = JSON_IN_OK;
        err->line = 0;
        err->path[0] = '\0';
        err->msg[0] = '\0';
    }
    if (!text) {
        return fail(&s, JSON_IN_SYNTAX, false, "no document");
    }
    const char *p = text;
    const char *end = text + len;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        level_t *top = s.depth ? &s.lv[s.depth - 1] : NULL;
        switch (c) {
        case '\0':
            return fail(&s, JSON_IN_NUL, false, "the document contains a NUL byte");
        case '\n':
            s.line++;
            p++;
            break;
        case '{':
        case '[':
            if (s.depth == JSON_IN_MAX_DEPTH) {
                char what[48];
                snprintf(what, sizeof what, "nested deeper than %d levels", JSON_IN_MAX_DEPTH);
                return fail(&s, JSON_IN_DEPTH, true, what);
            }
            s.lv[s.depth] = (level_t){c == '{', c == '{', 0, NULL, 0};
            s.depth++;
            p++;
            break;
        case '}':
        case ']':
            if (s.depth > 0) {
                s.depth--;
            }
            p++;
            break;
        case ',':
            if (top && top->object) {
                top->expect_key = true;
            }
            p++;
            break;
        case '"': {
            s.in_key = top && top->object && top->expect_key;
            if (s.in_key) {
                top->expect_key = false;
                if (++top->members > JSON_IN_MAX_MEMBERS) {
                    char what[64];
                    snprintf(what, sizeof what, "an object has more than %d members", JSON_IN_MAX_MEMBERS);
                    s.in_key = false;
                    return fail(&s, JSON_IN_MEMBERS, true, what);
                }
            }
            if (scan_string(&s, &p) != 0) {
                return -1;
            }
            s.in_key = false;
            break;
        }
        default: {
            size_t k = utf8_seq_len((const uint8_t *)p, (size_t)(end - p));
            if (k == 0u) {
                return fail(&s, JSON_IN_ENCODING, false, "invalid UTF-8");
            }
            p += k;
            break;
        }
        }
    }
    return 0;
}

/* ---- after the parse: duplicate keys ----------------------------------------------------------- */

/* Depth is bounded by the scan, so this recursion is too (JSON_IN_MAX_DEPTH frames). */
static const cJSON *find_duplicate(const cJSON *v, int depth)
{
    if (depth > JSON_IN_MAX_DEPTH) {
        return NULL;
    }
    for (const cJSON *c = v->child; c; c = c->next) {
        if (cJSON_IsObject(v)) {
            for (const cJSON *d = v->child; d != c; d = d->next) {
                if (c->string && d->string && strcmp(c->string, d->string) == 0) {
                    return c;
                }
            }
        }
        if (c->child) {
            const cJSON *dup = find_duplicate(c, depth + 1);
            if (dup) {
                return dup;
            }
        }
    }
    return NULL;
}

cJSON *json_in_parse(const char *text, size_t len, json_in_err_t *err)
{
    if (json_in_scan(text, len, err) != 0) {
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        if (err) {
            int line = 1;
            if (end && end >= text && end <= text + len) {
                for (const char *q = text; q < end; q++) {
                    line += *q == '\n';
                }
            }
            err->reason = JSON_IN_SYNTAX;
            err->line = line;
            snprintf(err->msg, sizeof err->msg, "JSON syntax error near line %d", line);
        }
        return NULL;
    }
    for (const char *q = end; q && q < text + len; q++) {
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t') {
            cJSON_Delete(root);
            if (err) {
                int line = 1;
                for (const char *r = text; r < q; r++) {
                    line += *r == '\n';
                }
                err->reason = JSON_IN_TRAILING;
                err->line = line;
                snprintf(err->msg, sizeof err->msg, "unexpected data after the JSON document (line %d)", line);
            }
            return NULL;
        }
    }
    const cJSON *dup = find_duplicate(root, 1);
    if (dup) {
        if (err) {
            err->reason = JSON_IN_DUPLICATE;
            err->line = 0;
            snprintf(err->path, sizeof err->path, "%s", dup->string);
            snprintf(err->msg, sizeof err->msg, "the key \"%.60s\" appears twice in one object", dup->string);
        }
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

const char *json_in_reason_str(json_in_reason_t r)
{
    switch (r) {
    case JSON_IN_OK:
        return "valid";
    case JSON_IN_SYNTAX:
        return "not valid JSON";
    case JSON_IN_TRAILING:
        return "unexpected data after the JSON document";
    case JSON_IN_DEPTH:
        return "nested deeper than " TB_STR(JSON_IN_MAX_DEPTH) " levels";
    case JSON_IN_MEMBERS:
        return "an object has more than " TB_STR(JSON_IN_MAX_MEMBERS) " members";
    case JSON_IN_NUL:
        return "contains a NUL character";
    case JSON_IN_ENCODING:
        return "not valid UTF-8 text (or a raw control character, or a lone \\u surrogate)";
    case JSON_IN_DUPLICATE:
        return "an object names the same key twice";
    }
    return "refused";
}
