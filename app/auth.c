#include "app/auth.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "app/json_in.h"
#include "app/log.h"
#include "core/tb_err.h"

#define GLOBAL_WINDOW_MS 60000u

static void lk(auth_t *a)
{
    if (a->port.lock) {
        a->port.lock(a->port.ctx);
    }
}

static void ulk(auth_t *a)
{
    if (a->port.unlock) {
        a->port.unlock(a->port.ctx);
    }
}

/* Constant-time comparison of two NUL-terminated strings of expected length n. */
static bool ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    size_t la = strlen(a), lb = strlen(b);
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < la ? (unsigned char)a[i] : 0u;
        unsigned char cb = i < lb ? (unsigned char)b[i] : 0u;
        d |= (unsigned char)(ca ^ cb);
    }
    return d == 0u && la == n && lb == n;
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8u;
        while (bits >= 6u) {
            bits -= 6u;
            out[o++] = k[(acc >> bits) & 63u];
        }
    }
    if (bits) {
        out[o++] = k[(acc << (6u - bits)) & 63u];
    }
    out[o] = '\0';
}

static bool is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* ---- persistence ------------------------------------------------------------------------------ */

static int load_admin(auth_t *a)
{
    char buf[1024];
    size_t n = 0;
    int rc = a->port.storage->load(a->port.storage->ctx, AUTH_OBJ_ADMIN, buf, sizeof buf - 1u, &n);
    if (rc != TB_OK) {
        return rc;
    }
    buf[n] = '\0';
    cJSON *root = json_in_parse(buf, n, NULL);
    const cJSON *h = root ? cJSON_GetObjectItemCaseSensitive(root, "hash") : NULL;
    rc = TB_ERR_FORMAT;
    if (cJSON_IsString(h) && h->valuestring[0] != '\0' && strlen(h->valuestring) < sizeof a->hash) {
        memcpy(a->hash, h->valuestring, strlen(h->valuestring) + 1u);
        rc = TB_OK;
    }
    cJSON_Delete(root);
    return rc;
}

static int save_admin(auth_t *a, const char *hash)
{
    char buf[AUTH_HASH_MAX + 128u];
    int n = snprintf(buf, sizeof buf, "{\"version\":1,\"user\":\"admin\",\"hash\":\"%s\"}\n", hash);
    if (n < 0 || (size_t)n >= sizeof buf) {
        return TB_ERR_NOSPACE;
    }
    return a->port.storage->save(a->port.storage->ctx, AUTH_OBJ_ADMIN, buf, (size_t)n);
}

static int make_setup_code(auth_t *a)
{
    /* Crockford-like alphabet without I, L, O, U: nothing to misread from a terminal. */
    static const char k[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t r[10];
    int rc = a->port.random(a->port.ctx, r, sizeof r);
    if (rc != TB_OK) {
        return rc;
    }
    size_t o = 0;
    for (unsigned i = 0; i < 10u; i++) {
        if (i == 5u) {
            a->setup_code[o++] = '-';
        }
        a->setup_code[o++] = k[r[i] & 31u];
    }
    a->setup_code[o] = '\0';
    char line[AUTH_SETUP_CODE_LEN + 2u];
    snprintf(line, sizeof line, "%s\n", a->setup_code);
    return a->port.storage->save(a->port.storage->ctx, AUTH_OBJ_SETUP, line, strlen(line));
}

int auth_init(auth_t *a, const auth_port_t *port, const api_web_cfg_t *cfg, uint32_t now_ms)
{
    memset(a, 0, sizeof *a);
    a->port = *port;
    auth_set_policy(a, cfg);
    a->global_window_start_ms = now_ms;
    int rc = load_admin(a);
    if (rc == TB_OK) {
        a->password_set = true;
        return TB_OK;
    }
    if (rc != TB_ERR_NOTFOUND) {
        /* Never fall back to set-up mode on a damaged file: that would let anyone take over. */
        LOGE("web", "the stored admin credentials (%s) are unreadable (%s): logins are refused until the file is "
                    "repaired or removed",
             AUTH_OBJ_ADMIN, tb_err_str(rc));
        return rc;
    }
    rc = make_setup_code(a);
    if (rc != TB_OK) {
        LOGE("web", "cannot create the one-time setup code (%s): the admin password cannot be set", tb_err_str(rc));
        a->setup_code[0] = '\0';
    }
    return rc;
}

void auth_set_policy(auth_t *a, const api_web_cfg_t *cfg)
{
    lk(a);
    a->lifetime_ms = (uint32_t)cfg->session_lifetime_min * 60000u;
    a->max_failures = (uint32_t)cfg->login_max_failures;
    a->lockout_ms = (uint32_t)cfg->login_lockout_s * 1000u;
    a->global_per_min = (uint32_t)cfg->login_global_per_min;
    a->read_only_open = cfg->read_only_open;
    ulk(a);
}

bool auth_read_only_open(auth_t *a)
{
    lk(a);
    bool r = a->read_only_open;
    ulk(a);
    return r;
}

bool auth_setup_required(auth_t *a)
{
    lk(a);
    bool r = !a->password_set;
    ulk(a);
    return r;
}

void auth_setup_code(auth_t *a, char *out, size_t cap)
{
    lk(a);
    snprintf(out, cap, "%s", a->password_set ? "" : a->setup_code);
    ulk(a);
}

const char *auth_password_problem(const char *pw)
{
    size_t n = pw ? strlen(pw) : 0u;
    if (n < AUTH_PW_MIN) {
        return "the password must have at least 8 characters";
    }
    if (n > AUTH_PW_MAX) {
        return "the password must have at most 128 bytes";
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)pw[i] < 0x20u || pw[i] == 0x7f) {
            return "the password must not contain control characters";
        }
    }
    return NULL;
}

/* ---- rate limiting (lock held) ------------------------------------------------------------------ */

static auth_rate_t *rate_find(auth_t *a, const char *peer, bool create, uint32_t now)
{
    auth_rate_t *free_slot = NULL, *old_unlocked = NULL, *old_any = NULL;
    for (unsigned i = 0; i < AUTH_RATE_SLOTS; i++) {
        auth_rate_t *r = &a->rate[i];
        if (!r->used) {
            free_slot = free_slot ? free_slot : r;
            continue;
        }
        if (strncmp(r->addr, peer, sizeof r->addr) == 0) {
            return r;
        }
        if (!r->locked && (!old_unlocked || (int32_t)(r->last_ms - old_unlocked->last_ms) < 0)) {
            old_unlocked = r;
        }
        if (!old_any || (int32_t)(r->last_ms - old_any->last_ms) < 0) {
            old_any = r;
        }
    }
    if (!create) {
        return NULL;
    }
    /* a full table forgets the least recently seen address, preferring ones not locked out */
    auth_rate_t *victim = free_slot ? free_slot : old_unlocked ? old_unlocked : old_any;
    memset(victim, 0, sizeof *victim);
    victim->used = true;
    snprintf(victim->addr, sizeof victim->addr, "%s", peer);
    victim->last_ms = now;
    return victim;
}

/* Admission of one attempt: TB_OK or TB_ERR_BUSY with *retry_s. Counts the attempt globally. */
static int rate_admit(auth_t *a, const char *peer, uint32_t now, uint32_t *retry_s)
{
    auth_rate_t *r = rate_find(a, peer, false, now);
    if (r && r->locked) {
        int32_t left = (int32_t)(r->locked_until_ms - now);
        if (left > 0) {
            *retry_s = ((uint32_t)left + 999u) / 1000u;
            a->n.rate_limited++;
            return TB_ERR_BUSY;
        }
        r->locked = false;
        r->failures = 0;
    }
    if ((uint32_t)(now - a->global_window_start_ms) >= GLOBAL_WINDOW_MS) {
        a->global_window_start_ms = now;
        a->global_attempts = 0;
    }
    if (a->global_attempts >= a->global_per_min) {
        uint32_t left = GLOBAL_WINDOW_MS - (uint32_t)(now - a->global_window_start_ms);
        *retry_s = (left + 999u) / 1000u;
        a->n.rate_limited++;
        return TB_ERR_BUSY;
    }
    a->global_attempts++;
    return TB_OK;
}

static void rate_failed(auth_t *a, const char *peer, uint32_t now)
{
    auth_rate_t *r = rate_find(a, peer, true, now);
    a->n.logins_failed++;
    if (!r) {
        return;
    }
    r->last_ms = now;
    r->failures++;
    if (r->failures >= a->max_failures) {
        r->locked = true;
        r->locked_until_ms = now + a->lockout_ms;
        r->failures = 0;
    }
}

static void rate_succeeded(auth_t *a, const char *peer)
{
    auth_rate_t *r = rate_find(a, peer, false, 0);
    if (r) {
        memset(r, 0, sizeof *r);
    }
}

/* ---- sessions (lock held) ----------------------------------------------------------------------- */

static void expire(auth_t *a, uint32_t now)
{
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_session_t *s = &a->sessions[i];
        if (s->used && (int32_t)(now - s->expires_ms) >= 0) {
            memset(s, 0, sizeof *s);
            a->n.sessions_expired++;
        }
    }
}

static void open_session(auth_t *a, uint32_t now, const uint8_t rnd[32], auth_result_t *res)
{
    expire(a, now);
    auth_session_t *slot = NULL;
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_session_t *s = &a->sessions[i];
        if (!s->used) {
            slot = s;
            break;
        }
        if (!slot || (int32_t)(s->created_ms - slot->created_ms) < 0) {
            slot = s;
        }
    }
    if (slot->used) {
        a->n.sessions_evicted++;
    }
    memset(slot, 0, sizeof *slot);
    b64url(rnd, 32u, slot->token);
    slot->created_ms = now;
    slot->expires_ms = now + a->lifetime_ms;
    slot->used = true;
    memcpy(res->token, slot->token, sizeof res->token);
    res->lifetime_s = a->lifetime_ms / 1000u;
}

/* The end of a successful login, set-up or password change, called with the lock held: a new
 * session for the caller in res, the lock released, success reported. */
static void succeed(auth_t *a, uint32_t now, const uint8_t rnd[32], auth_result_t *res)
{
    open_session(a, now, rnd, res);
    ulk(a);
    res->rc = TB_OK;
}

static void close_all_sessions(auth_t *a)
{
    memset(a->sessions, 0, sizeof a->sessions);
}

bool auth_session_valid(auth_t *a, const char *token, uint32_t now_ms, uint32_t *expires_in_s)
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN) {
        return false;
    }
    bool ok = false;
    lk(a);
    expire(a, now_ms);
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        const auth_session_t *s = &a->sessions[i];
        /* compare against every slot (no early exit): timing says nothing about the tokens */
        bool m = s->used && ct_equal(s->token, token, AUTH_TOKEN_LEN);
        if (m && !ok) {
            ok = true;
            if (expires_in_s) {
                *expires_in_s = (uint32_t)(s->expires_ms - now_ms) / 1000u;
            }
        }
    }
    ulk(a);
    return ok;
}

void auth_logout(auth_t *a, const char *token)
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN) {
        return;
    }
    lk(a);
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_session_t *s = &a->sessions[i];
        if (s->used && ct_equal(s->token, token, AUTH_TOKEN_LEN)) {
            memset(s, 0, sizeof *s);
        }
    }
    ulk(a);
}

/* ---- login, set-up, change ---------------------------------------------------------------------- */

static bool fail(auth_result_t *res, int rc, const char *reason)
{
    res->rc = rc;
    res->reason = reason;
    return false;
}

/* Common prologue: rate admission and fresh randomness for the session (drawn before the lock). */
static bool admit(auth_t *a, const char *peer, uint32_t now, uint8_t rnd[32], auth_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (a->port.random(a->port.ctx, rnd, 32u) != TB_OK) {
        return fail(res, TB_ERR_IO, "no randomness available for a session token");
    }
    lk(a);
    int rc = rate_admit(a, peer ? peer : "", now, &res->retry_after_s);
    ulk(a);
    if (rc != TB_OK) {
        return fail(res, TB_ERR_BUSY, "too many login attempts; wait and try again");
    }
    return true;
}

static int verify_current(auth_t *a, const char *password)
{
    char hash[AUTH_HASH_MAX];
    lk(a);
    bool set = a->password_set;
    memcpy(hash, a->hash, sizeof hash);
    ulk(a);
    if (!set) {
        return TB_ERR_STATE;
    }
    if (!password || strlen(password) > AUTH_PW_MAX) {
        return TB_ERR_AUTH; /* never hash unbounded input */
    }
    int rc = a->port.verify(a->port.ctx, hash, password);
    return rc == TB_OK ? TB_OK : TB_ERR_AUTH;
}

void auth_login(auth_t *a, const char *peer, const char *password, uint32_t now_ms, auth_result_t *res)
{
    uint8_t rnd[32];
    if (!admit(a, peer, now_ms, rnd, res)) {
        return;
    }
    int rc = verify_current(a, password);
    lk(a);
    if (rc == TB_ERR_STATE) {
        ulk(a);
        fail(res, TB_ERR_STATE, "no admin password has been set yet; use the setup code");
        return;
    }
    if (rc != TB_OK) {
        rate_failed(a, peer ? peer : "", now_ms);
        ulk(a);
        fail(res, TB_ERR_AUTH, "wrong password");
        return;
    }
    rate_succeeded(a, peer ? peer : "");
    a->n.logins_ok++;
    succeed(a, now_ms, rnd, res);
}

void auth_setup(auth_t *a, const char *peer, const char *code, const char *password, uint32_t now_ms,
                auth_result_t *res)
{
    uint8_t rnd[32];
    if (!admit(a, peer, now_ms, rnd, res)) {
        return;
    }
    /* normalise the code: case-insensitive, dash optional, spaces ignored */
    char norm[AUTH_SETUP_CODE_LEN + 1u] = "";
    size_t o = 0;
    bool too_long = false;
    for (const char *p = code ? code : ""; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '-') {
            continue;
        }
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (o == 5u) {
            norm[o++] = '-';
        }
        if (o >= AUTH_SETUP_CODE_LEN) {
            too_long = true;
            break;
        }
        norm[o++] = c;
    }
    norm[o] = '\0';
    lk(a);
    if (a->password_set) {
        ulk(a);
        fail(res, TB_ERR_STATE, "the admin password is already set; log in instead");
        return;
    }
    bool ok = !too_long && a->setup_code[0] != '\0' && ct_equal(norm, a->setup_code, AUTH_SETUP_CODE_LEN);
    if (!ok) {
        rate_failed(a, peer ? peer : "", now_ms);
        ulk(a);
        fail(res, TB_ERR_AUTH, "wrong setup code (it is printed in the gateway's log at start and stored in the "
                               "state directory as web-setup-code)");
        return;
    }
    ulk(a);
    const char *why = auth_password_problem(password);
    if (why) {
        fail(res, TB_ERR_RANGE, why);
        return;
    }
    char hash[AUTH_HASH_MAX];
    if (a->port.hash(a->port.ctx, password, hash, sizeof hash) != TB_OK) {
        fail(res, TB_ERR_IO, "the password could not be hashed (out of memory?)");
        return;
    }
    lk(a);
    if (a->password_set) { /* a concurrent set-up won */
        ulk(a);
        fail(res, TB_ERR_STATE, "the admin password is already set; log in instead");
        return;
    }
    if (save_admin(a, hash) != TB_OK) {
        ulk(a);
        fail(res, TB_ERR_IO, "the password could not be saved in the state directory");
        return;
    }
    memcpy(a->hash, hash, sizeof a->hash);
    a->password_set = true;
    a->setup_code[0] = '\0';
    /* the code is spent: overwrite the file so it cannot be mistaken for a valid one */
    (void)a->port.storage->save(a->port.storage->ctx, AUTH_OBJ_SETUP, "", 0u);
    rate_succeeded(a, peer ? peer : "");
    a->n.password_changes++;
    a->n.logins_ok++;
    succeed(a, now_ms, rnd, res);
}

void auth_change_password(auth_t *a, const char *peer, const char *current, const char *password, uint32_t now_ms,
                          auth_result_t *res)
{
    uint8_t rnd[32];
    if (!admit(a, peer, now_ms, rnd, res)) {
        return;
    }
    int rc = verify_current(a, current);
    if (rc != TB_OK) {
        lk(a);
        if (rc == TB_ERR_AUTH) {
            rate_failed(a, peer ? peer : "", now_ms);
        }
        ulk(a);
        fail(res, rc == TB_ERR_STATE ? TB_ERR_STATE : TB_ERR_AUTH,
             rc == TB_ERR_STATE ? "no admin password has been set yet" : "the current password is wrong");
        return;
    }
    const char *why = auth_password_problem(password);
    if (why) {
        fail(res, TB_ERR_RANGE, why);
        return;
    }
    char hash[AUTH_HASH_MAX];
    if (a->port.hash(a->port.ctx, password, hash, sizeof hash) != TB_OK) {
        fail(res, TB_ERR_IO, "the password could not be hashed (out of memory?)");
        return;
    }
    lk(a);
    if (save_admin(a, hash) != TB_OK) {
        ulk(a);
        fail(res, TB_ERR_IO, "the password could not be saved in the state directory; it is unchanged");
        return;
    }
    memcpy(a->hash, hash, sizeof a->hash);
    close_all_sessions(a);
    a->n.password_changes++;
    succeed(a, now_ms, rnd, res);
}

/* ---- helpers for the HTTP layer ------------------------------------------------------------------ */

bool auth_cookie_token(const char *h, char *out, size_t cap)
{
    if (!h || cap < AUTH_TOKEN_LEN + 1u) {
        return false;
    }
    const size_t nl = strlen(AUTH_COOKIE);
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == ';' || *p == '\t') {
            p++;
        }
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq)) {
            if (!semi) {
                break;
            }
            p = semi + 1;
            continue;
        }
        size_t klen = (size_t)(eq - p);
        while (klen > 0 && (p[klen - 1u] == ' ' || p[klen - 1u] == '\t')) {
            klen--;
        }
        const char *v = eq + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        size_t vlen = semi ? (size_t)(semi - v) : strlen(v);
        while (vlen > 0 && (v[vlen - 1u] == ' ' || v[vlen - 1u] == '\t')) {
            vlen--;
        }
        if (klen == nl && strncmp(p, AUTH_COOKIE, nl) == 0 && vlen == AUTH_TOKEN_LEN) {
            bool good = true;
            for (size_t i = 0; i < vlen; i++) {
                good = good && is_token_char(v[i]);
            }
            if (good) {
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return true;
            }
        }
        if (!semi) {
            break;
        }
        p = semi + 1;
    }
    return false;
}

/* "scheme://host[:port][/...]" -> pointer to host[:port] and its length; false if malformed. */
static bool url_authority(const char *u, const char **host, size_t *len)
{
    const char *s = strstr(u, "://");
    if (!s || s == u) {
        return false;
    }
    for (const char *c = u; c < s; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            return false;
        }
    }
    const char *h = s + 3;
    size_t n = strcspn(h, "/?#");
    if (n == 0 || memchr(h, '@', n)) {
        return false; /* userinfo in an origin is never legitimate */
    }
    *host = h;
    *len = n;
    return true;
}

static bool same_host(const char *host, const char *h, size_t n)
{
    size_t hl = strlen(host);
    if (hl != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char a = host[i], b = h[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) {
            return false;
        }
    }
    return true;
}

bool auth_same_origin(const char *host, const char *origin, const char *referer, const char *sec_fetch_site)
{
    if (sec_fetch_site && strcmp(sec_fetch_site, "cross-site") == 0) {
        return false;
    }
    const char *src = origin && origin[0] ? origin : referer && referer[0] ? referer : NULL;
    if (!src) {
        return true; /* not a browser (see the header) */
    }
    if (!host || !host[0]) {
        return false;
    }
    const char *h;
    size_t n;
    if (!url_authority(src, &h, &n)) {
        return false; /* includes Origin: null */
    }
    return same_host(host, h, n);
}

void auth_counters(auth_t *a, auth_counters_t *out, uint32_t now_ms)
{
    lk(a);
    expire(a, now_ms);
    *out = a->n;
    uint32_t n = 0;
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        n += a->sessions[i].used ? 1u : 0u;
    }
    out->active_sessions = n;
    ulk(a);
}
