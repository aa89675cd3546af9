/* Profile text parser: "time_s,current_a" lines, '#' comments. Distrusts its input: every line
 * is bounded, every number checked for syntax, range and order; nothing is used on error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define LINE_MAX_CHARS 256

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r') {
        p++;
    }
    return p;
}

/* Parse one decimal number at *pp (no leading spaces, no inf/nan, no hex). */
static bool number(const char **pp, double *out)
{
    const char *p = *pp;
    const char *q = p;
    if (*q == '+' || *q == '-') {
        q++;
    }
    if (!((*q >= '0' && *q <= '9') || *q == '.')) {
        return false;
    }
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
        return false;
    }
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v)) {
        return false;
    }
    *out = v;
    *pp = end;
    return true;
}

/* 1: a point parsed, 0: blank/comment line, -1: malformed. */
static int parse_line(const char *line, double *t, double *i)
{
    const char *p = skip_ws(line);
    if (*p == '\0' || *p == '#') {
        return 0;
    }
    if (!number(&p, t)) {
        return -1;
    }
    p = skip_ws(p);
    if (*p != ',') {
        return -1;
    }
    p = skip_ws(p + 1);
    if (!number(&p, i)) {
        return -1;
    }
    p = skip_ws(p);
    return (*p == '\0' || *p == '#') ? 1 : -1;
}

int sim_profile_parse(const char *text, size_t len, sim_point_t *pts, size_t cap, size_t *n,
                      size_t *err_line)
{
    if (!n || (!text && len) || (!pts && cap)) {
        return SIM_ERR_ARG;
    }
    *n = 0;
    if (err_line) {
        *err_line = 0;
    }
    size_t count = 0, lineno = 0, pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') {
            end++;
        }
        lineno++;
        size_t l = end - pos;
        char line[LINE_MAX_CHARS + 1];
        int r;
        if (l > LINE_MAX_CHARS || memchr(text + pos, '\0', l) != NULL) {
            r = -1;
        } else {
            memcpy(line, text + pos, l);
            line[l] = '\0';
            double t = 0, i = 0;
            r = parse_line(line, &t, &i);
            if (r == 1) {
                if (t < 0 || t > 1e9 || fabs(i) > 10000 ||
                    (count > 0 && !(t > pts[count - 1].time_s))) {
                    r = -1;
                } else if (count >= cap) {
                    if (err_line) {
                        *err_line = lineno;
                    }
                    return SIM_ERR_NOSPACE;
                } else {
                    pts[count].time_s = t;
                    pts[count].current_a = i;
                    count++;
                }
            }
        }
        if (r < 0) {
            if (err_line) {
                *err_line = lineno;
            }
            return SIM_ERR_FORMAT;
        }
        pos = end + 1;
    }
    if (count == 0) {
        return SIM_ERR_FORMAT; /* a profile needs at least one point */
    }
    *n = count;
    return SIM_OK;
}
