#include "ports/linux/can_candump.h"

#include <stdio.h>
#include <string.h>

#include "core/hex.h"
#include "core/tb_err.h"

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
} cur_t;

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_ws(cur_t *c)
{
    while (c->pos < c->len && is_ws(c->s[c->pos])) {
        c->pos++;
    }
}

/* Next whitespace-delimited token; returns its length (0 at end). */
static size_t token(cur_t *c, const char **tok)
{
    skip_ws(c);
    size_t start = c->pos;
    while (c->pos < c->len && !is_ws(c->s[c->pos])) {
        c->pos++;
    }
    *tok = c->s + start;
    return c->pos - start;
}

/* "(SEC.FRAC)" */
static int parse_time(const char *t, size_t n, candump_rec_t *r, const char **why)
{
    if (n < 4u || t[0] != '(' || t[n - 1u] != ')') {
        return tb_err_why(why, TB_ERR_FORMAT, "malformed timestamp: expected (seconds.micros)");
    }
    size_t i = 1;
    uint64_t sec = 0;
    size_t digits = 0;
    while (i < n - 1u && t[i] >= '0' && t[i] <= '9') {
        if (digits >= 19u) {
            return tb_err_why(why, TB_ERR_FORMAT, "timestamp too large");
        }
        sec = sec * 10u + (uint64_t)(t[i] - '0');
        digits++;
        i++;
    }
    if (digits == 0u || i >= n - 1u || t[i] != '.') {
        return tb_err_why(why, TB_ERR_FORMAT, "malformed timestamp: expected (seconds.micros)");
    }
    i++;
    uint32_t usec = 0;
    size_t fdigits = 0;
    while (i < n - 1u && t[i] >= '0' && t[i] <= '9') {
        if (fdigits < 6u) {
            usec = usec * 10u + (uint32_t)(t[i] - '0');
        }
        fdigits++;
        i++;
    }
    if (fdigits == 0u || fdigits > 9u || i != n - 1u) {
        return tb_err_why(why, TB_ERR_FORMAT, "malformed timestamp: expected (seconds.micros)");
    }
    for (size_t k = fdigits; k < 6u; k++) {
        usec *= 10u;
    }
    r->has_time = true;
    r->sec = sec;
    r->usec = usec;
    return TB_OK;
}

static bool iface_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || ch == '.' || ch == ':' || ch == '@';
}

static int set_iface(candump_rec_t *r, const char *t, size_t n, const char **why)
{
    if (n == 0u || n > CANDUMP_IFACE_MAX) {
        return tb_err_why(why, TB_ERR_FORMAT, "interface name missing or longer than 15 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (!iface_char(t[i])) {
            return tb_err_why(why, TB_ERR_FORMAT, "invalid character in interface name");
        }
    }
    memcpy(r->iface, t, n);
    r->iface[n] = '\0';
    return TB_OK;
}

/* Identifier of 3 (standard) or 8 (extended / error) hex digits. */
static int set_id(can_frame_t *f, const char *t, size_t n, const char **why)
{
    uint32_t v;
    if ((n != 3u && n != 8u) || !tb_hex_u32(t, n, &v)) {
        return tb_err_why(why, TB_ERR_FORMAT, "identifier must be 3 (11-bit) or 8 (29-bit) hex digits");
    }
    if (n == 3u) {
        if (v > CAN_FRAME_SFF_MASK) {
            return tb_err_why(why, TB_ERR_FORMAT, "11-bit identifier above 7FF");
        }
        f->id = v;
        return TB_OK;
    }
    if (v & CANDUMP_ERR_FLAG) {
        if (v & ~(CANDUMP_ERR_FLAG | CAN_FRAME_EFF_MASK)) {
            return tb_err_why(why, TB_ERR_FORMAT, "error frame with RTR/EFF flag bits set");
        }
        f->id = v & CAN_FRAME_EFF_MASK;
        f->flags = CAN_FLAG_ERR;
        return TB_OK;
    }
    if (v > CAN_FRAME_EFF_MASK) {
        return tb_err_why(why, TB_ERR_FORMAT, "29-bit identifier above 1FFFFFFF");
    }
    f->id = v;
    f->flags = CAN_FLAG_EXT;
    return TB_OK;
}

/* "ID#DATA" / "ID#R[n]" */
static int parse_compact(const char *t, size_t n, can_frame_t *f, const char **why)
{
    size_t hash = 0;
    while (hash < n && t[hash] != '#') {
        hash++;
    }
    if (hash == n) {
        return tb_err_why(why, TB_ERR_FORMAT, "expected ID#DATA");
    }
    int rc = set_id(f, t, hash, why);
    if (rc != TB_OK) {
        return rc;
    }
    size_t i = hash + 1u;
    if (i < n && t[i] == '#') {
        return tb_err_why(why, TB_ERR_FORMAT, "CAN FD frames are not supported");
    }
    if (i < n && (t[i] == 'R' || t[i] == 'r')) {
        if (f->flags & CAN_FLAG_ERR) {
            return tb_err_why(why, TB_ERR_FORMAT, "error frame cannot be a remote frame");
        }
        f->flags |= CAN_FLAG_RTR;
        i++;
        if (i < n) {
            if (i + 1u != n || t[i] < '0' || t[i] > '8') {
                return tb_err_why(why, TB_ERR_FORMAT, "remote frame length must be one digit 0-8");
            }
            f->dlc = (uint8_t)(t[i] - '0');
        }
        return TB_OK;
    }
    uint8_t dlc = 0;
    while (i < n) {
        if (t[i] == '.') {
            i++;
            continue;
        }
        if (i + 1u >= n) {
            return tb_err_why(why, TB_ERR_FORMAT, "odd number of hex digits in data");
        }
        int hi = tb_hex_digit(t[i]);
        int lo = tb_hex_digit(t[i + 1u]);
        if (hi < 0 || lo < 0) {
            return tb_err_why(why, TB_ERR_FORMAT, "non-hex character in data");
        }
        if (dlc >= CAN_FRAME_MAX_DLC) {
            return tb_err_why(why, TB_ERR_FORMAT, "more than 8 data bytes");
        }
        f->data[dlc++] = (uint8_t)((hi << 4) | lo);
        i += 2u;
    }
    f->dlc = dlc;
    return TB_OK;
}

/* "ID [n] b0 b1 ..." (cursor after the interface). */
static int parse_plain(cur_t *c, const char *idt, size_t idn, can_frame_t *f, const char **why)
{
    int rc = set_id(f, idt, idn, why);
    if (rc != TB_OK) {
        return rc;
    }
    const char *t;
    size_t n = token(c, &t);
    if (n != 3u || t[0] != '[' || t[2] != ']' || t[1] < '0' || t[1] > '8') {
        return tb_err_why(why, TB_ERR_FORMAT, "expected [LEN] with LEN 0-8");
    }
    uint8_t dlc = (uint8_t)(t[1] - '0');
    f->dlc = dlc;
    size_t save = c->pos;
    n = token(c, &t);
    if (n == 6u && memcmp(t, "remote", 6) == 0) {
        n = token(c, &t);
        if (n != 7u || memcmp(t, "request", 7) != 0) {
            return tb_err_why(why, TB_ERR_FORMAT, "expected 'remote request'");
        }
        if (f->flags & CAN_FLAG_ERR) {
            return tb_err_why(why, TB_ERR_FORMAT, "error frame cannot be a remote frame");
        }
        f->flags |= CAN_FLAG_RTR;
        return TB_OK;
    }
    c->pos = save;
    for (uint8_t i = 0; i < dlc; i++) {
        n = token(c, &t);
        uint32_t v;
        if (n != 2u || !tb_hex_u32(t, 2, &v)) {
            return tb_err_why(why, TB_ERR_FORMAT, "data bytes must match [LEN] and be two hex digits each");
        }
        f->data[i] = (uint8_t)v;
    }
    /* candump -e appends "ERRORFRAME" (and decoded text on further lines, which we skip). */
    save = c->pos;
    n = token(c, &t);
    if (n == 10u && memcmp(t, "ERRORFRAME", 10) == 0 && (f->flags & CAN_FLAG_ERR)) {
        c->pos = c->len;
    } else {
        c->pos = save;
    }
    return TB_OK;
}

int candump_parse_line(const char *line, size_t len, candump_rec_t *out, const char **why)
{
    if (!line) {
        return tb_err_why(why, TB_ERR_FORMAT, "no line");
    }
    /* Trailing CR/LF and whitespace do not count. */
    while (len > 0u && (line[len - 1u] == '\n' || line[len - 1u] == '\r' || is_ws(line[len - 1u]))) {
        len--;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if ((ch < 0x20u && ch != '\t') || ch > 0x7Eu) {
            return tb_err_why(why, TB_ERR_FORMAT, "control or non-ASCII byte in line");
        }
    }
    cur_t c = {line, len, 0};
    skip_ws(&c);
    if (c.pos == len) {
        return 0;
    }
    candump_rec_t r;
    memset(&r, 0, sizeof r);
    const char *t;
    size_t n = token(&c, &t);
    int rc;
    if (t[0] == '(') {
        rc = parse_time(t, n, &r, why);
        if (rc != TB_OK) {
            return rc;
        }
        n = token(&c, &t);
        if (n == 0u) {
            return tb_err_why(why, TB_ERR_FORMAT, "nothing after the timestamp");
        }
    }
    if (memchr(t, '#', n)) {
        /* bare "ID#DATA" */
        rc = parse_compact(t, n, &r.frame, why);
    } else {
        rc = set_iface(&r, t, n, why);
        if (rc != TB_OK) {
            return rc;
        }
        n = token(&c, &t);
        if (n == 0u) {
            return tb_err_why(why, TB_ERR_FORMAT, "missing frame after the interface name");
        }
        if (memchr(t, '#', n)) {
            rc = parse_compact(t, n, &r.frame, why);
        } else {
            uint32_t v;
            if (!tb_hex_u32(t, n, &v)) {
                return tb_err_why(why, TB_ERR_FORMAT,
                                  "not a candump line: expected [(TIME)] IFACE ID#DATA or IFACE ID [LEN] BYTES");
            }
            rc = parse_plain(&c, t, n, &r.frame, why);
        }
    }
    if (rc != TB_OK) {
        return rc;
    }
    skip_ws(&c);
    if (c.pos != c.len) {
        return tb_err_why(why, TB_ERR_FORMAT, "unexpected characters after the frame");
    }
    if (out) {
        *out = r;
    }
    return 1;
}

int candump_format_line(char *buf, size_t cap, const candump_rec_t *rec)
{
    if (!buf || !rec || !can_frame_valid(&rec->frame) || rec->usec > 999999u) {
        return TB_ERR_ARG;
    }
    const can_frame_t *f = &rec->frame;
    const char *iface = rec->iface[0] ? rec->iface : "can0";
    for (const char *p = iface; *p; p++) {
        if (!iface_char(*p)) {
            return TB_ERR_ARG;
        }
    }
    char frame[40];
    size_t k = 0;
    uint32_t id = f->id;
    size_t idlen = 3;
    if (f->flags & CAN_FLAG_ERR) {
        id |= CANDUMP_ERR_FLAG;
        idlen = 8;
    } else if (f->flags & CAN_FLAG_EXT) {
        idlen = 8;
    }
    k += tb_hex_put(frame + k, id, idlen);
    frame[k++] = '#';
    if (f->flags & CAN_FLAG_RTR) {
        frame[k++] = 'R';
        if (f->dlc > 0u) {
            frame[k++] = (char)('0' + f->dlc);
        }
    } else {
        k += tb_hex_bytes(frame + k, f->data, f->dlc);
    }
    frame[k] = '\0';
    int n = snprintf(buf, cap, "(%010llu.%06u) %s %s", (unsigned long long)rec->sec, (unsigned)rec->usec, iface, frame);
    if (n < 0 || (size_t)n >= cap) {
        return TB_ERR_NOSPACE;
    }
    return n;
}
