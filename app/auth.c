#include "app/auth.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "app/json_in.h"
#include "app/log.h"
#include "core/tb_err.h"

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
    a->bucket = (uint32_t)cfg->login_global_per_min * 60000u; /* full: the budget starts unused */
    a->bucket_ms = now_ms;
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

static bool fail(auth_result_t *res, int rc, const char *reason)
{
    res->rc = rc;
    res->reason = reason;
    return false;
}

/* ---- addresses ------------------------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Dotted quad, exactly: four parts of 1..3 digits, each 0..255. */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    unsigned part = 0, val = 0, digits = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '.'; /* the end closes the last part */
        if (c >= '0' && c <= '9') {
            val = val * 10u + (unsigned)(c - '0');
            if (++digits > 3u || val > 255u) {
                return false;
            }
        } else if (c == '.' && digits > 0u && part < 4u) {
            out[part++] = (uint8_t)val;
            val = digits = 0;
        } else {
            return false;
        }
    }
    return part == 4u;
}

/* RFC 4291 text form: up to eight groups of 1..4 hex digits, at most one "::", an optional
 * dotted quad in place of the last two groups. */
static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t w[8];
    unsigned nw = 0;
    int gap = -1;
    size_t i = 0;
    if (n >= 2u && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n == 0u || s[0] == ':') {
        return false;
    }
    while (i < n) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && j - i < 5u && hexval(s[j]) >= 0) {
            v = v * 16u + (unsigned)hexval(s[j]);
            j++;
        }
        if (j < n && s[j] == '.') {
            uint8_t q[4];
            if (nw > 6u || !parse_v4(s + i, n - i, q)) {
                return false;
            }
            w[nw++] = (uint16_t)(q[0] << 8 | q[1]);
            w[nw++] = (uint16_t)(q[2] << 8 | q[3]);
            break;
        }
        if (j == i || j - i > 4u || nw >= 8u) {
            return false;
        }
        w[nw++] = (uint16_t)v;
        i = j;
        if (i == n) {
            break;
        }
        if (s[i] != ':' || i + 1u == n) {
            return false;
        }
        i++;
        if (s[i] == ':') {
            if (gap >= 0) {
                return false;
            }
            gap = (int)nw;
            i++;
        }
    }
    if (gap < 0 ? nw != 8u : nw > 7u) {
        return false;
    }
    unsigned o = 0;
    for (unsigned k = 0; k < nw; k++) {
        if (gap >= 0 && k == (unsigned)gap) {
            for (unsigned z = 0; z < 8u - nw && o < 8u; z++) {
                out[2u * o] = 0;
                out[2u * o + 1u] = 0;
                o++;
            }
        }
        if (o >= 8u) { /* cannot happen (nw <= 8): says so to the compiler at -O3 */
            return false;
        }
        out[2u * o] = (uint8_t)(w[k] >> 8);
        out[2u * o + 1u] = (uint8_t)w[k];
        o++;
    }
    while (o < 8u) { /* "::" at the end */
        out[2u * o] = 0;
        out[2u * o + 1u] = 0;
        o++;
    }
    return true;
}

void auth_peer_key(const char *peer, auth_key_t *k)
{
    memset(k, 0, sizeof *k);
    const char *p = peer ? peer : "";
    size_t n = strlen(p);
    if (n >= 2u && p[0] == '[' && p[n - 1u] == ']') {
        p++;
        n -= 2u;
    }
    const char *zone = memchr(p, '%', n);
    if (zone) {
        n = (size_t)(zone - p);
    }
    uint8_t b[16];
    if (parse_v4(p, n, b)) {
        k->fam = 4;
        memcpy(k->b, b, 4u);
        return;
    }
    if (parse_v6(p, n, b)) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, sizeof mapped) == 0) {
            k->fam = 4;
            memcpy(k->b, b + 12, 4u);
        } else {
            k->fam = 6; /* a host gets a whole /64: grouping by less would let it pick fresh keys */
            memcpy(k->b, b, 8u);
        }
        return;
    }
    memcpy(k->b, p, n < sizeof k->b ? n : sizeof k->b);
}

void auth_key_str(const auth_key_t *k, char *out, size_t cap)
{
    const uint8_t *b = k->b;
    if (k->fam == 4u) {
        snprintf(out, cap, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    } else if (k->fam == 6u) {
        snprintf(out, cap, "%x:%x:%x:%x::/64", (unsigned)(b[0] << 8 | b[1]), (unsigned)(b[2] << 8 | b[3]),
                 (unsigned)(b[4] << 8 | b[5]), (unsigned)(b[6] << 8 | b[7]));
    } else {
        char t[sizeof k->b + 1u];
        size_t i = 0;
        for (; i < sizeof k->b && b[i]; i++) {
            t[i] = b[i] >= 0x20u && b[i] < 0x7fu ? (char)b[i] : '?'; /* never a raw byte into the log */
        }
        t[i] = '\0';
        snprintf(out, cap, "%s", i ? t : "(no address)");
    }
}

/* ---- login throttling (lock held) ---------------------------------------------------------------- */

enum { KIND_LOGIN = 0, KIND_SETUP = 1 };
enum { DONE_FAILED, DONE_OK, DONE_NEUTRAL };
#define TOKEN_UNITS 60000u /* bucket units per attempt: refilled global_per_min units a ms */

static const char *kind_name(unsigned kind) { return kind == KIND_SETUP ? "set-up" : "login"; }
static const char *kind_wrong(unsigned kind) { return kind == KIND_SETUP ? "wrong setup code" : "wrong password"; }

static uint32_t ceil_s(uint32_t ms) { return ms ? (ms + 999u) / 1000u : 1u; }

static bool live_fail(const auth_rate_t *r, uint32_t now)
{
    return r->failures > 0u && (uint32_t)(now - r->fail_ms) < AUTH_RATE_FORGET_MS;
}

/* The wait after the failures-th failure in a row (failures >= F): 1 s, 2 s, 4 s ... the cap. */
static uint32_t backoff_ms(const auth_t *a, uint32_t failures)
{
    uint32_t k = failures - a->max_failures;
    uint32_t d = k >= 20u ? UINT32_MAX : AUTH_BACKOFF_FIRST_MS << k;
    return d < a->lockout_ms ? d : a->lockout_ms;
}

/* An event of a coalesced stream: true if it gets its own line now (nothing pending and the
 * window since the last line has closed), else the caller counts it as pending. */
static bool logc_now(auth_logc_t *c, uint32_t now)
{
    if (c->pend_fail == 0u && c->pend_refused == 0u &&
        (!c->logged || (uint32_t)(now - c->log_ms) >= AUTH_LOG_WINDOW_MS)) {
        c->logged = true;
        c->log_ms = now;
        return true;
    }
    return false;
}

/* The summary line of what a stream held back, once its window has closed (or at once: force). */
static void logc_flush(auth_logc_t *c, const char *who, const char *failures, const char *state, uint32_t now,
                       bool force)
{
    if ((c->pend_fail == 0u && c->pend_refused == 0u) ||
        (!force && (uint32_t)(now - c->log_ms) < AUTH_LOG_WINDOW_MS)) {
        return;
    }
    log_security(LOG_WARN, "web", "login attempts from %s: %lu more %s and %lu refused in the last %lu s%s", who,
                 (unsigned long)c->pend_fail, failures, (unsigned long)c->pend_refused,
                 (unsigned long)ceil_s((uint32_t)(now - c->log_ms)), state);
    c->pend_fail = c->pend_refused = 0;
    c->log_ms = now;
}

static void slot_state(const auth_t *a, const auth_rate_t *r, uint32_t now, char *out, size_t cap)
{
    int32_t left = (int32_t)(r->next_ms - now);
    if (r->failures >= a->max_failures && left > 0) {
        snprintf(out, cap, " (%u failures in a row; next attempt allowed in %lu s)", (unsigned)r->failures,
                 (unsigned long)ceil_s((uint32_t)left));
    } else {
        snprintf(out, cap, " (%u failures in a row)", (unsigned)r->failures);
    }
}

static void slot_flush(auth_t *a, auth_rate_t *r, uint32_t now, bool force)
{
    if (r->log.pend_fail == 0u && r->log.pend_refused == 0u) {
        return;
    }
    char who[AUTH_ADDR_MAX], state[96];
    auth_key_str(&r->key, who, sizeof who);
    slot_state(a, r, now, state, sizeof state);
    logc_flush(&r->log, who, r->kind == KIND_SETUP ? "wrong setup codes" : "wrong passwords", state, now, force);
}

/* Forget failures older than AUTH_RATE_FORGET_MS and write the summaries that are due. */
static void rate_sweep(auth_t *a, uint32_t now)
{
    for (unsigned i = 0; i < AUTH_RATE_SLOTS; i++) {
        auth_rate_t *r = &a->rate[i];
        if (!r->used) {
            continue;
        }
        slot_flush(a, r, now, false);
        if (r->failures > 0u && !live_fail(r, now)) {
            r->failures = 0;
            r->next_ms = 0;
        }
    }
    logc_flush(&a->other_log, "addresses without a slot in the throttling table", "failures", "", now, false);
}

static auth_rate_t *slot_find(auth_t *a, const auth_key_t *k)
{
    for (unsigned i = 0; i < AUTH_RATE_SLOTS; i++) {
        auth_rate_t *r = &a->rate[i];
        if (r->used && memcmp(&r->key, k, sizeof *k) == 0) {
            return r;
        }
    }
    return NULL;
}

/* A slot for a new key: a free one, else the least recently seen key without live failures and
 * without an attempt in progress, keys that never logged in before those that did (evict_good:
 * may take those at all). NULL when every slot holds live failures: the key stays untracked. */
static auth_rate_t *slot_new(auth_t *a, const auth_key_t *k, uint32_t now, bool evict_good)
{
    auth_rate_t *v = NULL;
    for (unsigned i = 0; i < AUTH_RATE_SLOTS; i++) {
        auth_rate_t *r = &a->rate[i];
        if (!r->used) {
            v = r;
            break;
        }
        if (r->inflight || r->failures > 0u || (r->good && !evict_good)) {
            continue;
        }
        if (!v || (v->good && !r->good) || (v->good == r->good && (int32_t)(r->seen_ms - v->seen_ms) < 0)) {
            v = r;
        }
    }
    if (!v) {
        return NULL;
    }
    if (v->used) {
        slot_flush(a, v, now, true); /* never lose a count */
    }
    memset(v, 0, sizeof *v);
    v->key = *k;
    v->used = true;
    v->seen_ms = now;
    return v;
}

/* Take one attempt from the global budget; false with *retry_s when it is empty. */
static bool bucket_take(auth_t *a, uint32_t now, uint32_t *retry_s)
{
    uint32_t per_ms = a->global_per_min ? a->global_per_min : 1u;
    uint32_t cap = per_ms * TOKEN_UNITS;
    if ((int32_t)(now - a->bucket_ms) > 0) {
        uint32_t dt = now - a->bucket_ms;
        dt = dt > TOKEN_UNITS ? TOKEN_UNITS : dt; /* a minute refills it completely */
        uint64_t b = (uint64_t)a->bucket + (uint64_t)dt * per_ms;
        a->bucket = b > cap ? cap : (uint32_t)b;
        a->bucket_ms = now;
    }
    if (a->bucket > cap) {
        a->bucket = cap; /* the policy was lowered */
    }
    if (a->bucket >= TOKEN_UNITS) {
        a->bucket -= TOKEN_UNITS;
        return true;
    }
    *retry_s = ceil_s((TOKEN_UNITS - a->bucket + per_ms - 1u) / per_ms);
    return false;
}

typedef struct {
    auth_key_t key;
    char who[AUTH_ADDR_MAX];
    auth_rate_t *slot; /* stable while admitted: a slot with an attempt in progress is never evicted */
    unsigned kind;
} ticket_t;

static void refused(auth_t *a, ticket_t *t, const char *why, uint32_t retry_s, uint32_t now)
{
    auth_logc_t *c = t->slot ? &t->slot->log : &a->other_log;
    if (logc_now(c, now)) {
        log_security(LOG_WARN, "web", "%s from %s refused: %s (retry in %lu s)", kind_name(t->kind), t->who, why,
                     (unsigned long)retry_s);
    } else {
        c->pend_refused++;
    }
}

/* Admission of one attempt (lock held): true, or false with res filled (TB_ERR_BUSY). */
static bool rate_admit(auth_t *a, ticket_t *t, uint32_t now, auth_result_t *res)
{
    rate_sweep(a, now);
    auth_rate_t *r = slot_find(a, &t->key);
    uint32_t retry = 1;
    const char *why = NULL;
    bool busy = false;
    if (r && r->inflight) {
        busy = true;
        why = "another attempt from this address is being checked";
    } else if (r && r->failures >= a->max_failures && (int32_t)(r->next_ms - now) > 0) {
        retry = ceil_s(r->next_ms - now);
        why = "too many wrong attempts from this address; wait before trying again";
    } else if (a->inflight >= AUTH_HASH_INFLIGHT + (r && r->good ? 1u : 0u)) {
        /* one more for an address that logged in before: a flood of others' first guesses (up to
         * AUTH_RATE_SLOTS x F of them) keeps the regular slots busy, not that one */
        busy = true;
        why = "the gateway is checking other login attempts";
    } else {
        if (!r) {
            r = slot_new(a, &t->key, now, false);
            a->n.untracked += r ? 0u : 1u;
        }
        /* only keys past their free failures (or untracked) pay from the shared budget */
        if ((!r || r->failures >= a->max_failures) && !bucket_take(a, now, &retry)) {
            why = "too many login attempts from addresses with recent failures; wait and try again";
        }
    }
    t->slot = r;
    if (why) {
        if (busy) {
            a->n.busy++;
        } else {
            a->n.rate_limited++;
        }
        refused(a, t, why, retry, now);
        res->retry_after_s = retry;
        fail(res, TB_ERR_BUSY, why);
        return false;
    }
    a->inflight++;
    if (r) {
        r->inflight = true;
        r->seen_ms = now;
    }
    return true;
}

/* The end of an admitted attempt (lock held). */
static void rate_done(auth_t *a, ticket_t *t, int outcome, uint32_t now)
{
    a->inflight -= a->inflight ? 1u : 0u;
    auth_rate_t *r = t->slot;
    if (r) {
        r->inflight = false;
    }
    if (outcome == DONE_FAILED) {
        if (!r) {
            if (logc_now(&a->other_log, now)) {
                log_security(LOG_WARN, "web", "%s failed from %s: %s (not tracked: every slot of the throttling table "
                                              "holds recent failures)",
                             kind_name(t->kind), t->who, kind_wrong(t->kind));
            } else {
                a->other_log.pend_fail++;
            }
            return;
        }
        r->failures = r->failures < UINT16_MAX ? (uint16_t)(r->failures + 1u) : r->failures;
        r->fail_ms = now;
        r->kind = (uint8_t)t->kind;
        if (r->failures >= a->max_failures) {
            r->next_ms = now + backoff_ms(a, r->failures);
        }
        if (logc_now(&r->log, now)) {
            char state[96];
            slot_state(a, r, now, state, sizeof state);
            log_security(LOG_WARN, "web", "%s failed from %s: %s%s", kind_name(t->kind), t->who, kind_wrong(t->kind),
                         state);
        } else {
            r->log.pend_fail++;
        }
    } else if (outcome == DONE_OK) {
        if (!r) {
            r = slot_new(a, &t->key, now, true);
        }
        if (r) {
            slot_flush(a, r, now, true); /* the failures before, then the success */
            r->failures = 0;
            r->next_ms = 0;
            r->good = true;
            r->seen_ms = now;
        }
    }
}

/* ---- sessions (lock held) ----------------------------------------------------------------------- */

static void expire(auth_t *a, uint32_t now)
{
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_session_t *s = &a->sessions[i];
        if (s->used && (int32_t)(now - s->expires_ms) >= 0) {
            log_security(LOG_INFO, "web", "session of %s expired after %lu min", s->peer,
                         (unsigned long)((s->expires_ms - s->created_ms) / 60000u));
            memset(s, 0, sizeof *s);
            a->n.sessions_expired++;
        }
    }
}

static void open_session(auth_t *a, const char *who, uint32_t now, const uint8_t rnd[32], auth_result_t *res)
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
        log_security(LOG_INFO, "web", "oldest session (of %s) closed: %u sessions were open", slot->peer,
                     (unsigned)AUTH_SESSIONS);
    }
    memset(slot, 0, sizeof *slot);
    b64url(rnd, 32u, slot->token);
    snprintf(slot->peer, sizeof slot->peer, "%s", who);
    slot->created_ms = now;
    slot->expires_ms = now + a->lifetime_ms;
    slot->used = true;
    memcpy(res->token, slot->token, sizeof res->token);
    res->lifetime_s = a->lifetime_ms / 1000u;
}

/* The end of a successful login, set-up or password change, called with the lock held: a new
 * session for the caller in res, the lock released, success reported. */
static void succeed(auth_t *a, const char *who, uint32_t now, const uint8_t rnd[32], auth_result_t *res)
{
    open_session(a, who, now, rnd, res);
    ulk(a);
    res->rc = TB_OK;
}

static void close_all_sessions(auth_t *a)
{
    memset(a->sessions, 0, sizeof a->sessions);
}

static auth_session_t *session_find(auth_t *a, const char *token)
{
    auth_session_t *found = NULL;
    if (!token || strlen(token) != AUTH_TOKEN_LEN) {
        return NULL;
    }
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_session_t *s = &a->sessions[i];
        /* compare against every slot (no early exit): timing says nothing about the tokens */
        bool m = s->used && ct_equal(s->token, token, AUTH_TOKEN_LEN);
        if (m && !found) {
            found = s;
        }
    }
    return found;
}

bool auth_session_valid(auth_t *a, const char *token, uint32_t now_ms, uint32_t *expires_in_s)
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN) {
        return false;
    }
    lk(a);
    expire(a, now_ms);
    const auth_session_t *s = session_find(a, token);
    if (s && expires_in_s) {
        *expires_in_s = (uint32_t)(s->expires_ms - now_ms) / 1000u;
    }
    ulk(a);
    return s != NULL;
}

void auth_logout(auth_t *a, const char *peer, const char *token)
{
    auth_key_t k;
    char who[AUTH_ADDR_MAX];
    auth_peer_key(peer, &k);
    auth_key_str(&k, who, sizeof who);
    lk(a);
    auth_session_t *s = session_find(a, token);
    if (s) {
        log_security(LOG_INFO, "web", "logout from %s (session of %s)", who, s->peer);
        memset(s, 0, sizeof *s);
        a->n.logouts++;
    }
    ulk(a);
}

void auth_tick(auth_t *a, uint32_t now_ms)
{
    lk(a);
    rate_sweep(a, now_ms);
    expire(a, now_ms);
    ulk(a);
}

/* ---- login, set-up, change ---------------------------------------------------------------------- */

/* Common prologue: fresh randomness for the session (drawn before the lock), the caller's key and
 * admission. */
static bool admit(auth_t *a, const char *peer, unsigned kind, uint32_t now, uint8_t rnd[32], ticket_t *t,
                  auth_result_t *res)
{
    memset(res, 0, sizeof *res);
    memset(t, 0, sizeof *t);
    t->kind = kind;
    auth_peer_key(peer, &t->key);
    auth_key_str(&t->key, t->who, sizeof t->who);
    if (a->port.random(a->port.ctx, rnd, 32u) != TB_OK) {
        return fail(res, TB_ERR_IO, "no randomness available for a session token");
    }
    lk(a);
    bool ok = rate_admit(a, t, now, res);
    ulk(a);
    return ok;
}

static void finish(auth_t *a, ticket_t *t, int outcome, uint32_t now)
{
    lk(a);
    rate_done(a, t, outcome, now);
    ulk(a);
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
    ticket_t t;
    if (!admit(a, peer, KIND_LOGIN, now_ms, rnd, &t, res)) {
        return;
    }
    int rc = verify_current(a, password);
    lk(a);
    if (rc == TB_ERR_STATE) {
        rate_done(a, &t, DONE_NEUTRAL, now_ms);
        ulk(a);
        fail(res, TB_ERR_STATE, "no admin password has been set yet; use the setup code");
        return;
    }
    if (rc != TB_OK) {
        a->n.login_failed++;
        rate_done(a, &t, DONE_FAILED, now_ms);
        ulk(a);
        fail(res, TB_ERR_AUTH, "wrong password");
        return;
    }
    rate_done(a, &t, DONE_OK, now_ms);
    a->n.login_ok++;
    log_security(LOG_INFO, "web", "login from %s", t.who);
    succeed(a, t.who, now_ms, rnd, res);
}

void auth_setup(auth_t *a, const char *peer, const char *code, const char *password, uint32_t now_ms,
                auth_result_t *res)
{
    uint8_t rnd[32];
    ticket_t t;
    if (!admit(a, peer, KIND_SETUP, now_ms, rnd, &t, res)) {
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
        rate_done(a, &t, DONE_NEUTRAL, now_ms);
        ulk(a);
        fail(res, TB_ERR_STATE, "the admin password is already set; log in instead");
        return;
    }
    bool ok = !too_long && a->setup_code[0] != '\0' && ct_equal(norm, a->setup_code, AUTH_SETUP_CODE_LEN);
    if (!ok) {
        a->n.setup_failed++;
        rate_done(a, &t, DONE_FAILED, now_ms);
        ulk(a);
        fail(res, TB_ERR_AUTH, "wrong setup code (it is printed when the gateway starts: in its log and the "
                               "state directory's web-setup-code file on Linux, on the serial console of an ESP32)");
        return;
    }
    ulk(a);
    const char *why = auth_password_problem(password);
    if (why) {
        finish(a, &t, DONE_NEUTRAL, now_ms);
        fail(res, TB_ERR_RANGE, why);
        return;
    }
    char hash[AUTH_HASH_MAX];
    if (a->port.hash(a->port.ctx, password, hash, sizeof hash) != TB_OK) {
        finish(a, &t, DONE_NEUTRAL, now_ms);
        fail(res, TB_ERR_IO, "the password could not be hashed (out of memory?)");
        return;
    }
    lk(a);
    if (a->password_set) { /* a concurrent set-up won */
        rate_done(a, &t, DONE_NEUTRAL, now_ms);
        ulk(a);
        fail(res, TB_ERR_STATE, "the admin password is already set; log in instead");
        return;
    }
    if (save_admin(a, hash) != TB_OK) {
        rate_done(a, &t, DONE_NEUTRAL, now_ms);
        ulk(a);
        fail(res, TB_ERR_IO, "the password could not be saved in the state directory");
        return;
    }
    memcpy(a->hash, hash, sizeof a->hash);
    a->password_set = true;
    a->setup_code[0] = '\0';
    /* the code is spent: overwrite the file so it cannot be mistaken for a valid one */
    (void)a->port.storage->save(a->port.storage->ctx, AUTH_OBJ_SETUP, "", 0u);
    rate_done(a, &t, DONE_OK, now_ms);
    a->n.setup_ok++;
    log_security(LOG_INFO, "web", "admin password set from %s with the setup code", t.who);
    succeed(a, t.who, now_ms, rnd, res);
}

/* End of a password change (lock held): the session, if it still exists, may change again. */
static auth_session_t *change_done(auth_t *a, const char *token)
{
    a->inflight -= a->inflight ? 1u : 0u;
    auth_session_t *s = session_find(a, token);
    if (s) {
        s->changing = false;
    }
    return s;
}

void auth_change_password(auth_t *a, const char *token, const char *peer, const char *current, const char *password,
                          uint32_t now_ms, auth_result_t *res)
{
    memset(res, 0, sizeof *res);
    uint8_t rnd[32];
    auth_key_t k;
    char who[AUTH_ADDR_MAX];
    auth_peer_key(peer, &k);
    auth_key_str(&k, who, sizeof who);
    if (a->port.random(a->port.ctx, rnd, 32u) != TB_OK) {
        fail(res, TB_ERR_IO, "no randomness available for a session token");
        return;
    }
    /* Admission by the session, not the address: whoever holds a session knew the password, and
     * others' failures from the same address must not stop the admin (issue 16). */
    lk(a);
    expire(a, now_ms);
    auth_session_t *s = session_find(a, token);
    if (!s) {
        ulk(a);
        fail(res, TB_ERR_AUTH, "the session has ended; log in again");
        return;
    }
    if (s->changing || a->inflight >= AUTH_HASH_INFLIGHT) {
        a->n.busy++;
        ulk(a);
        res->retry_after_s = 1;
        fail(res, TB_ERR_BUSY, "another password check is in progress; try again in a second");
        return;
    }
    s->changing = true;
    a->inflight++;
    ulk(a);

    int rc = verify_current(a, current);
    if (rc != TB_OK) {
        lk(a);
        s = change_done(a, token);
        if (rc == TB_ERR_STATE) {
            ulk(a);
            fail(res, TB_ERR_STATE, "no admin password has been set yet");
            return;
        }
        a->n.change_failed++;
        unsigned nfail = s ? (unsigned)++s->change_failures : AUTH_CHANGE_MAX_FAILURES;
        log_security(LOG_WARN, "web", "password change from %s refused: wrong current password (%u of %u for this "
                                      "session)",
                     who, nfail, (unsigned)AUTH_CHANGE_MAX_FAILURES);
        if (s && nfail >= AUTH_CHANGE_MAX_FAILURES) {
            log_security(LOG_WARN, "web", "session of %s closed after %u wrong current passwords", s->peer, nfail);
            memset(s, 0, sizeof *s);
            a->n.sessions_closed++;
            ulk(a);
            fail(res, TB_ERR_AUTH, "the current password is wrong; too many wrong tries: log in again");
            return;
        }
        ulk(a);
        fail(res, TB_ERR_AUTH, "the current password is wrong");
        return;
    }
    const char *why = auth_password_problem(password);
    char hash[AUTH_HASH_MAX];
    int hrc = why ? TB_OK : a->port.hash(a->port.ctx, password, hash, sizeof hash);
    lk(a);
    s = change_done(a, token);
    if (why || hrc != TB_OK) {
        ulk(a);
        fail(res, why ? TB_ERR_RANGE : TB_ERR_IO, why ? why : "the password could not be hashed (out of memory?)");
        return;
    }
    if (!s) { /* logged out or evicted while the password was checked */
        ulk(a);
        fail(res, TB_ERR_AUTH, "the session ended during the change; log in again");
        return;
    }
    if (save_admin(a, hash) != TB_OK) {
        ulk(a);
        fail(res, TB_ERR_IO, "the password could not be saved in the state directory; it is unchanged");
        return;
    }
    memcpy(a->hash, hash, sizeof a->hash);
    close_all_sessions(a);
    a->n.change_ok++;
    log_security(LOG_INFO, "web", "admin password changed from %s; every other session closed", who);
    succeed(a, who, now_ms, rnd, res);
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
    rate_sweep(a, now_ms);
    expire(a, now_ms);
    *out = a->n;
    uint32_t n = 0;
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        n += a->sessions[i].used ? 1u : 0u;
    }
    out->active_sessions = n;
    out->tracked_keys = out->throttled_keys = 0;
    for (unsigned i = 0; i < AUTH_RATE_SLOTS; i++) {
        const auth_rate_t *r = &a->rate[i];
        out->tracked_keys += r->used ? 1u : 0u;
        out->throttled_keys += r->used && r->failures >= a->max_failures ? 1u : 0u;
    }
    ulk(a);
}
