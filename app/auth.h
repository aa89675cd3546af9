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
 * Rate limiting (before the slow hash runs, so guessing also costs no CPU): per client address,
 * web.login_max_failures wrong passwords (or setup codes) lock that address for
 * web.login_lockout_s; all addresses together get web.login_global_per_min attempts per minute.
 *
 * Threads: every function may be called from any HTTP thread; state is protected by the port's
 * lock, which is never held while hashing. Memory: auth_t is caller-allocated (~10 KB), no
 * allocation except through cJSON while loading the stored hash. No OS calls.
 */
#ifndef APP_AUTH_H
#define APP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api_cfg.h"
#include "app/storage.h"

#define AUTH_SESSIONS 16u
#define AUTH_RATE_SLOTS 64u
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
    uint32_t created_ms;
    uint32_t expires_ms;
    bool used;
} auth_session_t;

typedef struct {
    char addr[AUTH_ADDR_MAX];
    uint32_t failures;
    uint32_t last_ms;
    uint32_t locked_until_ms;
    bool locked;
    bool used;
} auth_rate_t;

typedef struct {
    uint32_t logins_ok;
    uint32_t logins_failed;      /* wrong password or setup code */
    uint32_t rate_limited;       /* attempts refused by the per-address or global limit */
    uint32_t sessions_expired;
    uint32_t sessions_evicted;   /* dropped because AUTH_SESSIONS were in use */
    uint32_t password_changes;
    uint32_t active_sessions;    /* filled by auth_counters() */
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
    /* global attempt window */
    uint32_t global_window_start_ms;
    uint32_t global_attempts;
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

/* Log in with the admin password. peer: client address (rate limiting key). */
void auth_login(auth_t *a, const char *peer, const char *password, uint32_t now_ms, auth_result_t *res);
/* First start: set the admin password with the setup code. Opens a session on success. */
void auth_setup(auth_t *a, const char *peer, const char *code, const char *password, uint32_t now_ms,
                auth_result_t *res);
/* Change the password (needs the current one); every session is closed and a new one opened. */
void auth_change_password(auth_t *a, const char *peer, const char *current, const char *password, uint32_t now_ms,
                          auth_result_t *res);
/* Password rules: AUTH_PW_MIN..AUTH_PW_MAX bytes, no control characters. NULL if acceptable,
 * else a static reason. */
const char *auth_password_problem(const char *pw);

/* True if token names a live session; *expires_in_s (may be NULL) gets its remaining life. */
bool auth_session_valid(auth_t *a, const char *token, uint32_t now_ms, uint32_t *expires_in_s);
void auth_logout(auth_t *a, const char *token);

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
