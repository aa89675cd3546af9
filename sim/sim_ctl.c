/* Control channel: parses one command line and drives the simulator through its public API.
 * Every argument is checked before anything changes, so a refused command has no effect. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_ctl.h"

#define MAX_TOK 10

static int reply(char *out, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reply(char *out, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    (void)k;
    /* keep the answer on one line */
    for (char *p = out; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    return rc;
}

static int fail(char *out, size_t cap, int rc, const char *msg)
{
    return reply(out, cap, rc, "error: %s", msg);
}

/* A whole token as a finite decimal number. */
static bool num(const char *tok, double *v)
{
    if (!tok || !*tok) {
        return false;
    }
    const char *q = tok;
    if (*q == '+' || *q == '-') {
        q++;
    }
    if (!((*q >= '0' && *q <= '9') || *q == '.') || (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(tok, &end);
    if (end == tok || *end != '\0' || !isfinite(d) || errno == ERANGE) {
        return false;
    }
    *v = d;
    return true;
}

/* A whole token as an integer in [lo, hi] (decimal, or 0x hex). */
static bool inum(const char *tok, long lo, long hi, long *v)
{
    if (!tok || !*tok) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(tok, &end, 0);
    if (end == tok || *end != '\0' || errno == ERANGE || x < lo || x > hi) {
        return false;
    }
    *v = x;
    return true;
}

/* "always", "0.2" or "20%" -> probability in (0, 1]. */
static bool prob(const char *tok, double *p)
{
    if (strcmp(tok, "always") == 0) {
        *p = 1.0;
        return true;
    }
    size_t l = strlen(tok);
    if (l > 1 && l < 32 && tok[l - 1] == '%') {
        char tmp[32];
        memcpy(tmp, tok, l - 1);
        tmp[l - 1] = '\0';
        double v;
        if (!num(tmp, &v) || !(v > 0) || v > 100) {
            return false;
        }
        *p = v / 100.0;
        return true;
    }
    double v;
    if (!num(tok, &v) || !(v > 0) || v > 1) {
        return false;
    }
    *p = v;
    return true;
}

static int tokenize(char *buf, char **tok)
{
    int n = 0;
    char *p = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (!*p) {
            break;
        }
        if (n == MAX_TOK) {
            return -1;
        }
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t') {
            p++;
        }
        if (*p) {
            *p++ = '\0';
        }
    }
    return n;
}

void sim_ctl_init(sim_ctl_t *ctl, sim_t *sim, bool allow_files)
{
    if (!ctl) {
        return;
    }
    ctl->sim = sim;
    ctl->allow_files = allow_files;
    ctl->active = -1;
    ctl->n[0] = ctl->n[1] = 0;
}

/* ---- faults -------------------------------------------------------------------------------- */

static int find_fault(const char *name)
{
    for (int k = 0; k < (int)SIM_FAULT_COUNT; k++) {
        if (strcmp(name, sim_fault_name((sim_fault_kind_t)k)) == 0) {
            return k;
        }
    }
    return -1;
}

static int fault_tokens(sim_ctl_t *ctl, char **t, int n, uint32_t now, char *out, size_t cap)
{
    if (n < 1) {
        return fail(out, cap, SIM_ERR_ARG, "fault: need a kind (noreply delay crc truncate split "
                                           "garbage cellhigh celllow tempopen bmsfault) or clear");
    }
    if (strcmp(t[0], "clear") == 0) {
        if (n == 1) {
            sim_clear_faults(ctl->sim, now);
            return reply(out, cap, SIM_CTL_OK, "ok faults cleared");
        }
        int k = n == 2 ? find_fault(t[1]) : -1;
        if (k < 0) {
            return fail(out, cap, SIM_ERR_ARG, "fault clear: unknown fault kind");
        }
        sim_clear_fault(ctl->sim, (sim_fault_kind_t)k, now);
        return reply(out, cap, SIM_CTL_OK, "ok %s cleared", t[1]);
    }
    int k = find_fault(t[0]);
    if (k < 0) {
        return fail(out, cap, SIM_ERR_ARG, "fault: unknown kind");
    }
    sim_fault_t f = {1.0, 0, 0};
    long v = 0;
    bool ok = true;
    switch ((sim_fault_kind_t)k) {
    case SIM_FAULT_NOREPLY:
    case SIM_FAULT_CRC:
    case SIM_FAULT_TRUNCATE:
    case SIM_FAULT_GARBAGE:
        ok = n <= 2 && (n < 2 || prob(t[1], &f.probability));
        break;
    case SIM_FAULT_DELAY:
        ok = n >= 2 && n <= 3 && inum(t[1], 1, 60000, &v) && (n < 3 || prob(t[2], &f.probability));
        f.param = (uint32_t)v;
        break;
    case SIM_FAULT_SPLIT:
        ok = n <= 3 && (n < 2 || inum(t[1], 0, 10000, &v)) && (n < 3 || prob(t[2], &f.probability));
        f.param = n >= 2 ? (uint32_t)v : 20;
        break;
    case SIM_FAULT_CELL_HIGH:
    case SIM_FAULT_CELL_LOW:
        ok = n >= 2 && n <= 3 && inum(t[1], 1, ctl->sim->n, &v) &&
             (n < 3 || (num(t[2], &f.rate) && f.rate >= 0.001 && f.rate <= 1000));
        f.param = (uint32_t)v;
        break;
    case SIM_FAULT_TEMP_OPEN:
        if (n >= 2 && strcmp(t[1], "both") == 0) {
            v = 0;
        } else {
            ok = n >= 2 && inum(t[1], 1, 2, &v);
        }
        ok = ok && n <= 3 && (n < 3 || prob(t[2], &f.probability));
        f.param = (uint32_t)v;
        break;
    case SIM_FAULT_BMS_FAULT:
        ok = n <= 3 && (n < 2 || prob(t[1], &f.probability)) && (n < 3 || inum(t[2], 0, 255, &v));
        f.param = n >= 3 ? (uint32_t)v : 0x0B;
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        static const char *const usage[SIM_FAULT_COUNT] = {
            "fault noreply [p|always]",          "fault delay <ms 1..60000> [p|always]",
            "fault crc [p|always]",              "fault truncate [p|always]",
            "fault split [gap_ms 0..10000] [p|always]", "fault garbage [p|always]",
            "fault cellhigh <cell> [mV_per_s]",  "fault celllow <cell> [mV_per_s]",
            "fault tempopen <1|2|both> [p|always]", "fault bmsfault [p|always] [event_id]"};
        return reply(out, cap, SIM_ERR_ARG, "error: usage: %s", usage[k]);
    }
    int rc = sim_set_fault(ctl->sim, (sim_fault_kind_t)k, &f, now);
    if (rc != SIM_OK) {
        return fail(out, cap, rc, sim_err_str(rc));
    }
    return reply(out, cap, SIM_CTL_OK, "ok fault %s p=%g param=%u", t[0], f.probability,
                 (unsigned)f.param);
}

int sim_ctl_fault(sim_ctl_t *ctl, const char *spec, uint32_t now, char *out, size_t cap)
{
    if (!out || cap == 0) {
        return SIM_ERR_ARG;
    }
    if (!ctl || !ctl->sim || !spec) {
        return fail(out, cap, SIM_ERR_ARG, "no simulator");
    }
    char buf[SIM_CTL_LINE_MAX + 1];
    size_t l = strlen(spec);
    if (l > SIM_CTL_LINE_MAX) {
        return fail(out, cap, SIM_ERR_ARG, "fault spec too long");
    }
    memcpy(buf, spec, l + 1);
    for (char *p = buf; *p; p++) {
        if (*p == ':') {
            *p = ' ';
        }
    }
    char *t[MAX_TOK];
    int n = tokenize(buf, t);
    if (n < 0) {
        return fail(out, cap, SIM_ERR_ARG, "too many words");
    }
    return fault_tokens(ctl, t, n, now, out, cap);
}

/* ---- profile files ------------------------------------------------------------------------- */

static int load_profile(sim_ctl_t *ctl, const char *path, bool loop, uint32_t now, char *out,
                        size_t cap)
{
    if (!ctl->allow_files) {
        return fail(out, cap, SIM_ERR_ARG, "profile files are disabled on this channel");
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return reply(out, cap, SIM_ERR_IO, "error: cannot open %s: %s", path, strerror(errno));
    }
    static char text[SIM_CTL_FILE_MAX + 1];
    size_t len = fread(text, 1, sizeof text, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        return reply(out, cap, SIM_ERR_IO, "error: cannot read %s", path);
    }
    if (len > SIM_CTL_FILE_MAX) {
        return fail(out, cap, SIM_ERR_ARG, "profile file larger than 1 MiB");
    }
    int slot = ctl->active == 0 ? 1 : 0;
    size_t n = 0, line = 0;
    int rc = sim_profile_parse(text, len, ctl->pts[slot], SIM_CTL_MAX_POINTS, &n, &line);
    if (rc == SIM_ERR_NOSPACE) {
        return reply(out, cap, rc, "error: %s: more than %u points", path, SIM_CTL_MAX_POINTS);
    }
    if (rc != SIM_OK) {
        if (line == 0) {
            return reply(out, cap, rc, "error: %s: no points", path);
        }
        return reply(out, cap, rc,
                     "error: %s:%zu: expected \"time_s,current_a\" with increasing time", path, line);
    }
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_PROFILE;
    l.points = ctl->pts[slot];
    l.n_points = n;
    l.loop = loop;
    rc = sim_set_load(ctl->sim, &l, now);
    if (rc != SIM_OK) {
        return fail(out, cap, rc, sim_err_str(rc));
    }
    ctl->n[slot] = n;
    ctl->active = slot;
    return reply(out, cap, SIM_CTL_OK, "ok profile %zu points, %.1f s%s", n,
                 ctl->pts[slot][n - 1].time_s, loop ? ", looping" : "");
}

/* ---- commands ------------------------------------------------------------------------------ */

static int set_load(sim_ctl_t *ctl, const sim_load_t *l, uint32_t now, char *out, size_t cap,
                    const char *what)
{
    int rc = sim_set_load(ctl->sim, l, now);
    if (rc != SIM_OK) {
        return fail(out, cap, rc, "value out of range");
    }
    ctl->active = -1;
    return reply(out, cap, SIM_CTL_OK, "ok %s", what);
}

static int cmd_set(sim_ctl_t *ctl, char **t, int n, uint32_t now, char *out, size_t cap)
{
    sim_t *s = ctl->sim;
    double v = 0;
    if (n != 3) {
        return fail(out, cap, SIM_ERR_ARG, "usage: set soc|ambient|temp|speed|latency <value>, "
                                           "set sleep on|off");
    }
    int rc = SIM_ERR_ARG;
    if (strcmp(t[1], "sleep") == 0) {
        if (strcmp(t[2], "on") != 0 && strcmp(t[2], "off") != 0) {
            return fail(out, cap, SIM_ERR_ARG, "usage: set sleep on|off");
        }
        sim_set_sleep(s, strcmp(t[2], "on") == 0, now);
        return reply(out, cap, SIM_CTL_OK, "ok sleep %s", t[2]);
    }
    if (!num(t[2], &v)) {
        return fail(out, cap, SIM_ERR_ARG, "value is not a number");
    }
    if (strcmp(t[1], "soc") == 0) {
        rc = sim_set_soc(s, v, now);
    } else if (strcmp(t[1], "ambient") == 0) {
        rc = sim_set_ambient(s, v, now);
    } else if (strcmp(t[1], "temp") == 0) {
        rc = sim_set_temperature(s, v, now);
    } else if (strcmp(t[1], "speed") == 0) {
        rc = sim_set_speed(s, v, now);
    } else if (strcmp(t[1], "latency") == 0) {
        rc = (v >= 0 && v <= 1000 && v == floor(v)) ? sim_set_latency(s, (uint16_t)v) : SIM_ERR_ARG;
    } else {
        return fail(out, cap, SIM_ERR_ARG, "set: unknown item (soc ambient temp speed latency sleep)");
    }
    if (rc != SIM_OK) {
        return fail(out, cap, rc, "value out of range (soc 0..100, ambient -40..80, temp -50..120, "
                                  "speed 0.01..100000, latency 0..1000)");
    }
    return reply(out, cap, SIM_CTL_OK, "ok %s %g", t[1], v);
}

static int cmd_reg(sim_ctl_t *ctl, char **t, int n, char *out, size_t cap)
{
    long a = 0, c = 1;
    if (n < 2 || n > 3 || !inum(t[1], 0, 599, &a) || (n == 3 && !inum(t[2], 1, 64, &c)) ||
        a + c > 600) {
        return fail(out, cap, SIM_ERR_ARG, "usage: reg <0..599> [count 1..64]");
    }
    size_t len = (size_t)snprintf(out, cap, "ok");
    for (long k = 0; k < c && len < cap; k++) {
        uint16_t v = 0;
        sim_read_register(ctl->sim, (uint16_t)(a + k), &v);
        int w = snprintf(out + len, cap - len, " %u", (unsigned)v);
        if (w < 0) {
            break;
        }
        len += (size_t)w;
    }
    return SIM_CTL_OK;
}

static int cmd_stats(sim_ctl_t *ctl, char *out, size_t cap)
{
    sim_counters_t c;
    sim_counters(ctl->sim, &c);
    int len = snprintf(out, cap,
                       "{\"rx_bytes\":%u,\"rx_frames\":%u,\"rx_garbage\":%u,\"rx_partial_dropped\":%u,"
                       "\"rx_while_rebooting\":%u,\"replies\":%u,\"acks\":%u,\"nack_cmd\":%u,"
                       "\"nack_crc\":%u,\"swallowed\":%u,\"wakeups\":%u,\"reboots\":%u,"
                       "\"tx_bytes\":%u,\"tx_overflow\":%u,\"injected\":{",
                       c.rx_bytes, c.rx_frames, c.rx_garbage, c.rx_partial_dropped,
                       c.rx_while_rebooting, c.replies, c.acks, c.nack_cmd, c.nack_crc, c.swallowed,
                       c.wakeups, c.reboots, c.tx_bytes, c.tx_overflow);
    for (unsigned k = 0; k < SIM_FAULT_COUNT && len > 0 && (size_t)len < cap; k++) {
        int w = snprintf(out + len, cap - (size_t)len, "%s\"%s\":%u", k ? "," : "",
                         sim_fault_name((sim_fault_kind_t)k), c.injected[k]);
        len = w < 0 ? -1 : len + w;
    }
    if (len > 0 && (size_t)len < cap) {
        snprintf(out + len, cap - (size_t)len, "}}");
    }
    return SIM_CTL_OK;
}

static int cmd_faults(sim_ctl_t *ctl, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "ok");
    bool any = false;
    for (unsigned k = 0; k < SIM_FAULT_COUNT && len < cap; k++) {
        sim_fault_t f;
        if (sim_fault_get(ctl->sim, (sim_fault_kind_t)k, &f)) {
            int w = snprintf(out + len, cap - len, " %s:p=%g:param=%u",
                             sim_fault_name((sim_fault_kind_t)k), f.probability, (unsigned)f.param);
            if (w < 0) {
                break;
            }
            len += (size_t)w;
            any = true;
        }
    }
    if (!any && len < cap) {
        snprintf(out + len, cap - len, " none");
    }
    return SIM_CTL_OK;
}

int sim_ctl_exec(sim_ctl_t *ctl, const char *line, uint32_t now, char *out, size_t cap)
{
    if (!out || cap == 0) {
        return SIM_ERR_ARG;
    }
    out[0] = '\0';
    if (!ctl || !ctl->sim || !line) {
        return fail(out, cap, SIM_ERR_ARG, "no simulator");
    }
    size_t l = strlen(line);
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) {
        l--;
    }
    if (l > SIM_CTL_LINE_MAX) {
        return fail(out, cap, SIM_ERR_ARG, "command line too long");
    }
    char buf[SIM_CTL_LINE_MAX + 1];
    memcpy(buf, line, l);
    buf[l] = '\0';
    for (size_t k = 0; k < l; k++) {
        unsigned char ch = (unsigned char)buf[k];
        if (ch < 0x20 && ch != '\t') {
            return fail(out, cap, SIM_ERR_ARG, "control characters in command");
        }
    }
    char *t[MAX_TOK];
    int n = tokenize(buf, t);
    if (n < 0) {
        return fail(out, cap, SIM_ERR_ARG, "too many words");
    }
    if (n == 0) {
        return fail(out, cap, SIM_ERR_ARG, "empty command (try help)");
    }
    sim_t *s = ctl->sim;
    double cap_ah = s->cfg.capacity_ah;
    const char *c = t[0];
    sim_load_t ld;
    memset(&ld, 0, sizeof ld);

    if (strcmp(c, "quit") == 0 || strcmp(c, "exit") == 0) {
        return reply(out, cap, SIM_CTL_QUIT, "ok bye");
    }
    if (strcmp(c, "help") == 0) {
        return reply(out, cap, SIM_CTL_OK,
                     "ok commands: current <A> | idle | discharge <A> [stop_soc] | "
                     "charge [A] [V] [tail_A] | solar [peak_A] [load_A] [day_s] [start_hour] | "
                     "day [peak_A] [load_A] [day_s] [start_hour] | "
                     "profile <file> [loop] | charger auto|on|off | limits <cvl> <ccl> <dcl> | "
                     "limits off | fault <kind> [args] | fault clear [kind] | faults | "
                     "set soc|ambient|temp|speed|latency <v> | set sleep on|off | "
                     "write <reg> <value> | reg <reg> [count] | truth | stats | reboot | quit");
    }
    if (strcmp(c, "truth") == 0) {
        if (n != 1) {
            return fail(out, cap, SIM_ERR_ARG, "usage: truth");
        }
        sim_advance(s, now);
        int k = sim_truth_json(s, out, cap);
        return k < 0 ? fail(out, cap, k, "output buffer too small") : SIM_CTL_OK;
    }
    if (strcmp(c, "stats") == 0) {
        sim_advance(s, now);
        return cmd_stats(ctl, out, cap);
    }
    if (strcmp(c, "faults") == 0) {
        return cmd_faults(ctl, out, cap);
    }
    if (strcmp(c, "reg") == 0) {
        sim_advance(s, now);
        return cmd_reg(ctl, t, n, out, cap);
    }
    if (strcmp(c, "reboot") == 0) {
        sim_reboot(s, now);
        return reply(out, cap, SIM_CTL_OK, "ok rebooting");
    }
    if (strcmp(c, "fault") == 0) {
        return fault_tokens(ctl, t + 1, n - 1, now, out, cap);
    }
    if (strcmp(c, "set") == 0) {
        return cmd_set(ctl, t, n, now, out, cap);
    }
    if (strcmp(c, "write") == 0) {
        long a = 0, v = 0;
        if (n != 3 || !inum(t[1], 0, 65535, &a) || !inum(t[2], -32768, 65535, &v)) {
            return fail(out, cap, SIM_ERR_ARG, "usage: write <reg 300..399> <value>");
        }
        int rc = sim_write_register(s, (uint16_t)a, (uint16_t)(v & 0xFFFF), now);
        if (rc != SIM_OK) {
            return fail(out, cap, rc, sim_err_str(rc));
        }
        return reply(out, cap, SIM_CTL_OK, "ok %ld = %ld", a, v);
    }
    if (strcmp(c, "limits") == 0) {
        double cvl = 0, ccl = 0, dcl = 0;
        if (n == 2 && strcmp(t[1], "off") == 0) {
            sim_set_limits(s, false, 0, 0, 0, now);
            return reply(out, cap, SIM_CTL_OK, "ok limits off");
        }
        if (n != 4 || !num(t[1], &cvl) || !num(t[2], &ccl) || !num(t[3], &dcl) ||
            sim_set_limits(s, true, cvl, ccl, dcl, now) != SIM_OK) {
            return fail(out, cap, SIM_ERR_ARG,
                        "usage: limits <cvl_V 0..1000> <ccl_A 0..10000> <dcl_A 0..10000> | limits off");
        }
        return reply(out, cap, SIM_CTL_OK, "ok limits cvl=%g ccl=%g dcl=%g", cvl, ccl, dcl);
    }
    if (strcmp(c, "charger") == 0) {
        int mode = -1;
        if (n == 2) {
            mode = strcmp(t[1], "auto") == 0 ? 0
                   : strcmp(t[1], "on") == 0 ? 1
                   : strcmp(t[1], "off") == 0 ? 2 : -1;
        }
        if (mode < 0) {
            return fail(out, cap, SIM_ERR_ARG, "usage: charger auto|on|off");
        }
        sim_set_charger_mode(s, mode, now);
        return reply(out, cap, SIM_CTL_OK, "ok charger %s", t[1]);
    }
    if (strcmp(c, "current") == 0 || strcmp(c, "idle") == 0) {
        ld.kind = SIM_LOAD_CURRENT;
        if (strcmp(c, "idle") == 0 ? n != 1 : (n != 2 || !num(t[1], &ld.current_a))) {
            return fail(out, cap, SIM_ERR_ARG, "usage: current <amps, + charges, - discharges>");
        }
        return set_load(ctl, &ld, now, out, cap, "current");
    }
    if (strcmp(c, "discharge") == 0) {
        ld.kind = SIM_LOAD_DISCHARGE;
        if (n < 2 || n > 3 || !num(t[1], &ld.current_a) || (n == 3 && !num(t[2], &ld.stop_soc_pct))) {
            return fail(out, cap, SIM_ERR_ARG, "usage: discharge <amps> [stop_soc_pct]");
        }
        ld.current_a = fabs(ld.current_a);
        return set_load(ctl, &ld, now, out, cap, "discharge");
    }
    if (strcmp(c, "charge") == 0) {
        ld.kind = SIM_LOAD_CHARGER;
        ld.charge_a = 0.2 * cap_ah;
        ld.tail_a = 0.005 * cap_ah;
        if (n > 4 || (n >= 2 && !num(t[1], &ld.charge_a)) || (n >= 3 && !num(t[2], &ld.charge_v)) ||
            (n >= 4 && !num(t[3], &ld.tail_a))) {
            return fail(out, cap, SIM_ERR_ARG, "usage: charge [amps] [pack_volts] [tail_amps]");
        }
        return set_load(ctl, &ld, now, out, cap, "charge");
    }
    if (strcmp(c, "solar") == 0) {
        ld.kind = SIM_LOAD_SOLAR;
        ld.solar_peak_a = 0.3 * cap_ah;
        ld.solar_load_a = 0.05 * cap_ah;
        ld.day_s = 86400;
        ld.start_hour = 6;
        if (n > 5 || (n >= 2 && !num(t[1], &ld.solar_peak_a)) ||
            (n >= 3 && !num(t[2], &ld.solar_load_a)) || (n >= 4 && !num(t[3], &ld.day_s)) ||
            (n >= 5 && !num(t[4], &ld.start_hour))) {
            return fail(out, cap, SIM_ERR_ARG, "usage: solar [peak_A] [load_A] [day_s] [start_hour]");
        }
        return set_load(ctl, &ld, now, out, cap, "solar");
    }
    if (strcmp(c, "day") == 0) {
        ld.kind = SIM_LOAD_DAY;
        ld.solar_peak_a = 0.4 * cap_ah;
        ld.solar_load_a = 0.04 * cap_ah;
        ld.day_s = 86400;
        ld.start_hour = 6;
        if (n > 5 || (n >= 2 && !num(t[1], &ld.solar_peak_a)) ||
            (n >= 3 && !num(t[2], &ld.solar_load_a)) || (n >= 4 && !num(t[3], &ld.day_s)) ||
            (n >= 5 && !num(t[4], &ld.start_hour))) {
            return fail(out, cap, SIM_ERR_ARG, "usage: day [peak_A] [load_A] [day_s] [start_hour]");
        }
        return set_load(ctl, &ld, now, out, cap, "day");
    }
    if (strcmp(c, "profile") == 0) {
        if (n < 2 || n > 3 || (n == 3 && strcmp(t[2], "loop") != 0)) {
            return fail(out, cap, SIM_ERR_ARG, "usage: profile <file> [loop]");
        }
        return load_profile(ctl, t[1], n == 3, now, out, cap);
    }
    return fail(out, cap, SIM_ERR_ARG, "unknown command (try help)");
}
