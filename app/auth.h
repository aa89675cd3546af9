/* auth: the web admin's password, login sessions, login rate limiting and the same-origin rule.
 *
 * Password: one admin account. There is no default password. Until one is set, auth_init()
 * creates a one-time setup code (AUTH_SETUP_CODE_LEN characters from the port's CSPRNG), saves it
 * as storage object AUTH_OBJ_SETUP (readable by whoever can read the state directory) and the
 * port prints it once on stderr (never into the log ring that the API serves). Whoever sets the
 * password must present that code, so the first visitor on the LAN cannot take the gateway over.
 * The password is stored only as the port's salted slow hash (libsodium Argon2id on Linux), in
 * storage object AUTH_OBJ_ADMIN; the password itself is never stored, logged or returned.
 *
 * Sessions: AUTH_TOKEN_LEN-character tokens (32 bytes from the CSPRNG, base64url), kept in memory
 * (a restart logs everyone out), valid for web.session_lifetime_min, at most AUTH_SESSIONS at once
 * (the oldest is dropped). The HTTP layer carries them in an HttpOnly SameSite=Strict cookie.
 *
 * Login throttling (docs/web.md "Login throttling" has the reasoning and the worst-case figures).
 * Every limit is decided before the slow hash runs, so a refused guess costs no CPU.
 *  - Key: the client address; IPv6 addresses are grouped by /64 (one host holds a whole /64),
 *    IPv4-mapped IPv6 counts as IPv4.
 *  - Per key: web.login_max_failures (F) wrong passwords or setup codes in a row are free; each
 *    further one makes the key wait 1 s, 2 s, 4 s ... at most web.login_lockout_s before its next
 *    attempt (exponential backoff). A success clears the key's failures; failures are forgotten
 *    AUTH_RATE_FORGET_MS after the last one. One attempt per key at a time.
 *  - Table: AUTH_RATE_SLOTS keys, fixed. A new key takes a free slot or the least recently seen
 *    one without live failures; keys with live failures are never evicted (eviction would hand an
 *    attacker a fresh start). When every slot holds live failures, a new key is not tracked.
 *  - Global budget: web.login_global_per_min attempts a minute (token bucket) shared by the keys
 *    that used up their free failures and by untracked keys. A key with fewer than F failures
 *    (a fresh address, the admin after a typo) never waits for it, so others' guessing cannot
 *    lock the admin out.
 *  - CPU: at most AUTH_HASH_INFLIGHT attempts are admitted at once (hashing or waiting for the
 *    port's hash), plus one for a key that logged in before; more get TB_ERR_BUSY at once instead
 *    of tying up HTTP threads.
 *  - Password change (auth_change_password) needs a live session and is limited per session, not
 *    per address: AUTH_CHANGE_MAX_FAILURES wrong current passwords close that session.
 *
 * Security log: every event (login, failure, refusal, set-up, change, logout, session expiry or
 * eviction) goes to log_security(), which is never rate-limited; repeated failures and refusals of
 * one key within AUTH_LOG_WINDOW_MS are coalesced into one summary line carrying their count
 * (written by the next auth call or auth_tick() after the window; no count is ever lost).
 *
 * Threads: every function may be called from any HTTP thread; state is protected by the port's
 * lock, which is never held while hashing; security lines are written with it held (the log's
 * own lock nests inside; the log never calls auth). Memory: auth_t is caller-allocated (~15 KB
 * with the default AUTH_RATE_SLOTS), no allocation except through cJSON while loading the stored
 * hash. No OS calls.
 */
#ifndef APP_AUTH_H
#define APP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api_cfg.h"
#include "app/storage.h"

#define AUTH_SESSIONS 16u
/* Build knobs of the login throttling (see the top of this header and docs/web.md). */
#ifndef AUTH_RATE_SLOTS
#define AUTH_RATE_SLOTS 256u /* keys remembered; 52 B each */
#endif
#ifndef AUTH_HASH_INFLIGHT
#define AUTH_HASH_INFLIGHT 2u /* attempts admitted at once (one hashing, one waiting) */
#endif
#ifndef AUTH_CHANGE_MAX_FAILURES
#define AUTH_CHANGE_MAX_FAILURES 5u /* wrong current passwords that close a session */
#endif
#define AUTH_RATE_FORGET_MS (24u * 3600u * 1000u) /* failures forgotten this long after the last one */
#define AUTH_BACKOFF_FIRST_MS 1000u               /* wait after the F-th failure in a row, doubling */
#define AUTH_LOG_WINDOW_MS 30000u                 /* coalescing window of the security log */
#if AUTH_RATE_SLOTS < 16u || AUTH_RATE_SLOTS > 65535u
#error "AUTH_RATE_SLOTS must be 16..65535"
#endif
#if AUTH_HASH_INFLIGHT < 1u || AUTH_HASH_INFLIGHT > 64u
#error "AUTH_HASH_INFLIGHT must be 1..64"
#endif
#if AUTH_CHANGE_MAX_FAILURES < 1u || AUTH_CHANGE_MAX_FAILURES > 100u
#error "AUTH_CHANGE_MAX_FAILURES must be 1..100"
#endif
#define AUTH_TOKEN_LEN 43u        /* base64url of 32 random bytes, no padding */
#define AUTH_HASH_MAX 256u        /* encoded hash string incl. NUL */
#define AUTH_PW_MIN 8u
#define AUTH_PW_MAX 128u          /* bytes */
#define AUTH_SETUP_CODE_LEN 11u   /* "ABCDE-FGHJK": 10 symbols of 32, 50 bits */
#define AUTH_ADDR_MAX 48u
#define AUTH_COOKIE "tbgw_session"
#define AUTH_OBJ_ADMIN "web-admin.json"
#define AUTH_OBJ_SETUP "web-setup-code"

typedef struct {
    /* Fill buf with n bytes from the OS CSPRNG. TB_OK or an error. */
    int (*random)(void *ctx, void *buf, size_t n);
    /* Salted slow hash of pw, written as a NUL-terminated self-describing string (salt and cost
     * included). TB_OK, or an error (out of memory). May take ~100 ms. */
    int (*hash)(void *ctx, const char *pw, char *out, size_t cap);
    /* TB_OK if pw matches encoded (constant time), TB_ERR_AUTH if not, other errors on failure. */
    int (*verify)(void *ctx, const char *encoded, const char *pw);
    const storage_t *storage; /* AUTH_OBJ_ADMIN and AUTH_OBJ_SETUP */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void *ctx;
} auth_port_t;

typedef struct {
    char token[AUTH_TOKEN_LEN + 1u];
    char peer[AUTH_ADDR_MAX];  /* who opened it (for the log) */
    uint32_t created_ms;
    uint32_t expires_ms;
    uint8_t change_failures;   /* wrong current passwords in auth_change_password */
    bool changing;             /* a password change of this session is being checked */
    bool used;
} auth_session_t;

/* Rate-limiting key: fam 4 = IPv4 (b[0..3]), 6 = IPv6 /64 (b[0..7]), 0 = not an address (the
 * first 16 bytes of the text). */
typedef struct {
    uint8_t fam;
    uint8_t b[16];
} auth_key_t;

/* Coalescing state of the security log for one key (or for the keys without a slot). */
typedef struct {
    uint32_t log_ms;           /* last line written */
    uint32_t pend_fail;        /* failures since then, not yet written */
    uint32_t pend_refused;     /* refused attempts since then, not yet written */
    bool logged;               /* log_ms is valid */
} auth_logc_t;

typedef struct {
    auth_key_t key;
    uint16_t failures;         /* wrong passwords/codes in a row (live: see AUTH_RATE_FORGET_MS) */
    uint8_t kind;              /* what the last failure was (for the log) */
    bool inflight;             /* an attempt of this key is being checked */
    bool good;                 /* a login succeeded from this key */
    bool used;
    uint32_t seen_ms;          /* last attempt (LRU) */
    uint32_t fail_ms;          /* last failure */
    uint32_t next_ms;          /* backoff: no attempt before (when failures >= F) */
    auth_logc_t log;
} auth_rate_t;

typedef struct {
    uint32_t login_ok;
    uint32_t login_failed;       /* wrong password */
    uint32_t setup_ok;
    uint32_t setup_failed;       /* wrong setup code */
    uint32_t change_ok;          /* password changed (set-up not included) */
    uint32_t change_failed;      /* wrong current password in a change */
    uint32_t logouts;            /* sessions closed by logout */
    uint32_t rate_limited;       /* attempts refused by the backoff or the global budget */
    uint32_t busy;               /* attempts refused because AUTH_HASH_INFLIGHT were being checked */
    uint32_t untracked;          /* attempts from keys that found the table full */
    uint32_t sessions_expired;
    uint32_t sessions_evicted;   /* dropped because AUTH_SESSIONS were in use */
    uint32_t sessions_closed;    /* closed after AUTH_CHANGE_MAX_FAILURES wrong current passwords */
    uint32_t active_sessions;    /* filled by auth_counters() */
    uint32_t tracked_keys;       /* filled by auth_counters(): table slots in use */
    uint32_t throttled_keys;     /* filled by auth_counters(): keys with at least F live failures */
} auth_counters_t;

typedef struct {
    auth_port_t port;
    bool password_set;
    char hash[AUTH_HASH_MAX];
    char setup_code[AUTH_SETUP_CODE_LEN + 1u];
    /* policy (web section) */
    uint32_t lifetime_ms;
    uint32_t max_failures;
    uint32_t lockout_ms;
    uint32_t global_per_min;
    bool read_only_open;
    /* global budget: a token bucket, 60000 units per attempt, refilled global_per_min units a ms */
    uint32_t bucket;
    uint32_t bucket_ms;
    uint32_t inflight;           /* attempts admitted and not finished */
    auth_logc_t other_log;       /* security log of attempts of keys without a slot */
    auth_session_t sessions[AUTH_SESSIONS];
    auth_rate_t rate[AUTH_RATE_SLOTS];
    auth_counters_t n;
} auth_t;

/* Loads the stored hash; without one, creates and saves a setup code. Returns TB_OK, or
 * TB_ERR_IO / TB_ERR_FORMAT if the stored credentials are unreadable (then the gateway refuses
 * every login and change until the file is fixed or removed, rather than reopen set-up). */
int auth_init(auth_t *a, const auth_port_t *port, const api_web_cfg_t *cfg, uint32_t now_ms);
/* Apply the policy part of the web section (any thread). */
void auth_set_policy(auth_t *a, const api_web_cfg_t *cfg);
bool auth_read_only_open(auth_t *a);
/* True while no admin password exists. */
bool auth_setup_required(auth_t *a);
/* Copy of the setup code ("" once a password exists), for the port to print once. */
void auth_setup_code(auth_t *a, char *out, size_t cap);

/* Outcome of auth_login/auth_setup/auth_change_password. */
typedef struct {
    int rc;                     /* TB_OK, TB_ERR_AUTH, TB_ERR_BUSY (rate limited), TB_ERR_STATE,
                                 * TB_ERR_RANGE (new password refused), TB_ERR_IO (cannot save) */
    uint32_t retry_after_s;     /* for TB_ERR_BUSY */
    const char *reason;         /* static English sentence for errors */
    char token[AUTH_TOKEN_LEN + 1u]; /* new session on TB_OK */
    uint32_t lifetime_s;
} auth_result_t;

/* Log in with the admin password. peer: client address as text ("192.0.2.7", "2001:db8::7",
 * "::ffff:192.0.2.7"; the throttling key); NULL counts as "". */
void auth_login(auth_t *a, const char *peer, const char *password, uint32_t now_ms, auth_result_t *res);
/* First start: set the admin password with the setup code. Opens a session on success. */
void auth_setup(auth_t *a, const char *peer, const char *code, const char *password, uint32_t now_ms,
                auth_result_t *res);
/* Change the password of the session `token` (needs the current one); every session is closed
 * and a new one opened. Not throttled by the address: one change at a time per session, and
 * AUTH_CHANGE_MAX_FAILURES wrong current passwords close the session (TB_ERR_AUTH; the caller
 * must log in again). TB_ERR_AUTH also if token names no live session. peer is for the log. */
void auth_change_password(auth_t *a, const char *token, const char *peer, const char *current, const char *password,
                          uint32_t now_ms, auth_result_t *res);
/* Password rules: AUTH_PW_MIN..AUTH_PW_MAX bytes, no control characters. NULL if acceptable,
 * else a static reason. */
const char *auth_password_problem(const char *pw);

/* True if token names a live session; *expires_in_s (may be NULL) gets its remaining life. */
bool auth_session_valid(auth_t *a, const char *token, uint32_t now_ms, uint32_t *expires_in_s);
/* Close the session `token` (nothing if it names none); peer is for the log. */
void auth_logout(auth_t *a, const char *peer, const char *token);
/* Housekeeping, about once a second from any thread: expires sessions and writes the security
 * summary lines whose window has closed (so they appear even when nobody calls again). */
void auth_tick(auth_t *a, uint32_t now_ms);
/* The throttling key of a peer address, and its text ("192.0.2.7", "2001:db8:1:2::/64"); for
 * tests and logs. */
void auth_peer_key(const char *peer, auth_key_t *out);
void auth_key_str(const auth_key_t *k, char *out, size_t cap);

/* The session token from a Cookie header ("a=1; tbgw_session=TOKEN"). false if absent or not a
 * well-formed token. */
bool auth_cookie_token(const char *cookie_header, char *out, size_t cap);

/* Same-origin rule for requests that change something (and WebSocket handshakes): the request's
 * Origin (or, without one, its Referer) must name the Host the request was sent to;
 * "Sec-Fetch-Site: cross-site" is refused. A request with neither Origin nor Referer is accepted:
 * browsers always send Origin on cross-site POST/PUT/DELETE and WebSocket handshakes, so such a
 * request comes from a non-browser client (curl, scripts), which cookies alone protect.
 * Returns true if allowed. Any argument may be NULL (header absent). */
bool auth_same_origin(const char *host, const char *origin, const char *referer, const char *sec_fetch_site);

void auth_counters(auth_t *a, auth_counters_t *out, uint32_t now_ms);

#endif
