/* log: levelled log lines to a sink (stderr on Linux) and an in-memory ring for the UI.
 *
 * Repeats are rate-limited per call site: after LOG_BURST identical-format messages from one
 * module within LOG_WINDOW_MS, further ones are counted, not printed, and a single
 * "... N similar messages suppressed" line follows when the window closes. A BMS that goes
 * silent therefore produces a handful of lines, not one per poll.
 *
 * Security events (logins, password changes, set-up, logout, session expiry) go through
 * log_security() instead: never rate-limited and never filtered by the level, because an audit
 * trail with holes is worse than none. Their callers bound their own volume (app/auth.c coalesces
 * repeated failures per address into summary lines that carry the count); they are counted
 * separately (log_security_count()).
 *
 * Threads: any thread may log; the ring and the rate limiter are protected by the lock the port
 * installs (log_set_lock); readers copy entries out with log_read().
 * Secrets: never pass a secret to these functions; configuration dumps skip CFG_F_SECRET keys.
 */
#ifndef APP_LOG_H
#define APP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level_t;

/* Build knobs (a microcontroller build will want a smaller ring). */
#ifndef LOG_RING
#define LOG_RING 512u
#endif
#ifndef LOG_MSG_MAX
#define LOG_MSG_MAX 256u
#endif
#define LOG_BURST 5u
#define LOG_WINDOW_MS 60000u

typedef struct {
    uint64_t seq;          /* 1, 2, 3 ... never reused */
    uint32_t t_ms;         /* monotonic ms */
    uint64_t wall_ms;      /* wall-clock ms since the epoch (0 if unknown) */
    uint8_t level;
    char module[16];
    char msg[LOG_MSG_MAX];
} log_entry_t;

typedef struct {
    /* Called with each formatted line (after rate limiting). May be NULL. */
    void (*write)(void *ctx, const log_entry_t *e);
    uint32_t (*now_ms)(void *ctx);
    uint64_t (*wall_ms)(void *ctx);
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void *ctx;
} log_port_t;

void log_set_port(const log_port_t *port);
void log_set_level(log_level_t max_level);
log_level_t log_get_level(void);
const char *log_level_name(log_level_t l);
/* "error", "warn", "info", "debug" -> level; false if unknown. */
bool log_level_parse(const char *s, log_level_t *out);

void log_msg(log_level_t level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vmsg(log_level_t level, const char *module, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* A security event: always written to the ring and the sink, whatever the level and however many
 * came before (see the top of this header); counted in the per-level counts and in
 * log_security_count(). level chooses how it is shown (LOG_WARN for refusals, LOG_INFO for
 * successes). Same threads and secrets rules as log_msg(). */
void log_security(log_level_t level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Security lines written since the start (or log_reset()). */
uint64_t log_security_count(void);

/* Copy up to cap entries with seq > after (oldest first); returns how many. */
size_t log_read(uint64_t after, log_entry_t *out, size_t cap);
uint64_t log_last_seq(void);
/* Counts of lines logged per level (after rate limiting) and of suppressed repeats. */
void log_counts(uint64_t per_level[4], uint64_t *suppressed);
/* Reset everything (tests). */
void log_reset(void);

#define LOGE(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define LOGW(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define LOGI(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define LOGD(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)

#endif
