#include "app/log.h"

#include <stdio.h>
#include <string.h>

/* One rate-limiter slot per (module, format) call site seen recently. */
typedef struct {
    const char *fmt;     /* the format string's address identifies the call site */
    char module[16];
    uint32_t window_start;
    uint32_t count;      /* messages in this window */
    uint32_t suppressed; /* of which not printed */
    bool used;
} rl_slot_t;

#define RL_SLOTS 32u

static struct {
    log_port_t port;
    bool have_port;
    uint8_t level_set; /* 0 = default (info), else level + 1 */
    log_entry_t ring[LOG_RING];
    uint64_t seq;
    rl_slot_t rl[RL_SLOTS];
    uint64_t per_level[4];
    uint64_t suppressed;
    uint64_t security;
} g; /* zero-initialised: .bss, not 100+ KB of initialised data on a microcontroller */

void log_set_port(const log_port_t *port)
{
    if (port) {
        g.port = *port;
        g.have_port = true;
    } else {
        memset(&g.port, 0, sizeof g.port);
        g.have_port = false;
    }
}

/* LOG_INFO until set: stored as level + 1 so that the zero-initialised state means "default". */
void log_set_level(log_level_t max_level) { g.level_set = (uint8_t)(max_level + 1); }
log_level_t log_get_level(void) { return g.level_set == 0 ? LOG_INFO : (log_level_t)(g.level_set - 1); }

const char *log_level_name(log_level_t l)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    return (unsigned)l < 4u ? names[l] : "unknown";
}

bool log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, log_level_name((log_level_t)i)) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

static void lock(void)
{
    if (g.have_port && g.port.lock) {
        g.port.lock(g.port.ctx);
    }
}

static void unlock(void)
{
    if (g.have_port && g.port.unlock) {
        g.port.unlock(g.port.ctx);
    }
}

static uint32_t now(void)
{
    return g.have_port && g.port.now_ms ? g.port.now_ms(g.port.ctx) : 0u;
}

/* Append to the ring and hand to the sink. Called with the lock held. */
static void emit(log_level_t level, const char *module, const char *msg, uint32_t t)
{
    log_entry_t *e = &g.ring[g.seq % LOG_RING];
    e->seq = ++g.seq;
    e->t_ms = t;
    e->wall_ms = g.have_port && g.port.wall_ms ? g.port.wall_ms(g.port.ctx) : 0u;
    e->level = (uint8_t)level;
    snprintf(e->module, sizeof e->module, "%s", module);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    g.per_level[level]++;
    if (g.have_port && g.port.write) {
        g.port.write(g.port.ctx, e);
    }
}

/* Close windows that have expired, reporting what they suppressed. Lock held. */
static void flush_expired(uint32_t t)
{
    for (unsigned i = 0; i < RL_SLOTS; i++) {
        rl_slot_t *s = &g.rl[i];
        if (!s->used || (uint32_t)(t - s->window_start) < LOG_WINDOW_MS) {
            continue;
        }
        if (s->suppressed > 0u) {
            char msg[LOG_MSG_MAX];
            snprintf(msg, sizeof msg, "... %lu similar messages suppressed in the last %u s", (unsigned long)s->suppressed,
                     LOG_WINDOW_MS / 1000u);
            emit(LOG_WARN, s->module, msg, t);
        }
        s->used = false;
    }
}

/* true if this message may be printed. Lock held. */
static bool admit(const char *module, const char *fmt, uint32_t t)
{
    rl_slot_t *free_slot = NULL;
    for (unsigned i = 0; i < RL_SLOTS; i++) {
        rl_slot_t *s = &g.rl[i];
        if (!s->used) {
            if (!free_slot) {
                free_slot = s;
            }
            continue;
        }
        if (s->fmt == fmt && strncmp(s->module, module, sizeof s->module - 1u) == 0) {
            s->count++;
            if (s->count > LOG_BURST) {
                s->suppressed++;
                g.suppressed++;
                return false;
            }
            return true;
        }
    }
    if (free_slot) {
        free_slot->used = true;
        free_slot->fmt = fmt;
        snprintf(free_slot->module, sizeof free_slot->module, "%s", module);
        free_slot->window_start = t;
        free_slot->count = 1;
        free_slot->suppressed = 0;
    }
    return true; /* table full: never lose a message because of the limiter */
}

void log_vmsg(log_level_t level, const char *module, const char *fmt, va_list ap)
{
    if ((unsigned)level > (unsigned)LOG_DEBUG || level > log_get_level()) {
        return;
    }
    char msg[LOG_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    lock();
    uint32_t t = now();
    flush_expired(t);
    if (admit(module ? module : "-", fmt, t)) {
        emit(level, module ? module : "-", msg, t);
    }
    unlock();
}

void log_msg(log_level_t level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, module, fmt, ap);
    va_end(ap);
}

void log_security(log_level_t level, const char *module, const char *fmt, ...)
{
    if ((unsigned)level > (unsigned)LOG_DEBUG) {
        level = LOG_INFO;
    }
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lock();
    uint32_t t = now();
    flush_expired(t);
    /* no admit(): the limiter never sees these, so they neither get dropped nor use its slots */
    emit(level, module ? module : "-", msg, t);
    g.security++;
    unlock();
}

uint64_t log_security_count(void)
{
    lock();
    uint64_t n = g.security;
    unlock();
    return n;
}

size_t log_read(uint64_t after, log_entry_t *out, size_t cap)
{
    lock();
    uint64_t first = g.seq > LOG_RING ? g.seq - LOG_RING + 1u : 1u;
    if (after + 1u > first) {
        first = after + 1u;
    }
    size_t n = 0;
    for (uint64_t s = first; s <= g.seq && n < cap; s++) {
        out[n++] = g.ring[(s - 1u) % LOG_RING];
    }
    unlock();
    return n;
}

uint64_t log_last_seq(void)
{
    lock();
    uint64_t s = g.seq;
    unlock();
    return s;
}

void log_counts(uint64_t per_level[4], uint64_t *suppressed)
{
    lock();
    memcpy(per_level, g.per_level, sizeof g.per_level);
    *suppressed = g.suppressed;
    unlock();
}

void log_reset(void)
{
    log_port_t p = g.port;
    bool have = g.have_port;
    memset(&g, 0, sizeof g);
    g.port = p;
    g.have_port = have;
}
