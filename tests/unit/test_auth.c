/* app/auth: set-up code, password storage through the port, sessions, rate limits, cookies and the
 * same-origin rule, with a recording fake port (deterministic randomness, a transparent "hash",
 * memory storage, a lock that counts). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/auth.h"
#include "app/config.h"
#include "app/log.h"
#include "core/tb_err.h"
#include "mem_ports.h"

/* Storage and crypto: tests/unit/support/mem_ports; the lock here counts and checks nesting. */
static struct {
    mem_store_t store;
    fake_auth_t crypto;
    int locks, unlocks;
} F;

static const char *obj(const char *name)
{
    return mem_store_get(&F.store, name, NULL);
}

static void f_lock(void *ctx)
{
    (void)ctx;
    assert_int_equal(F.locks, F.unlocks); /* never nested, never held across a call */
    F.locks++;
}

static void f_unlock(void *ctx)
{
    (void)ctx;
    F.unlocks++;
}

static auth_t g_auth;
static api_web_cfg_t g_web;

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    mem_store_init(&F.store);
    fake_auth_init(&F.crypto, 0u, &F.store.port);
    F.crypto.port.lock = f_lock;
    F.crypto.port.unlock = f_unlock;
    gw_config_t c;
    gw_config_defaults(&c);
    g_web = c.web;
    g_web.login_max_failures = 3;
    g_web.login_lockout_s = 60;
    g_web.login_global_per_min = 20;
    g_web.session_lifetime_min = 10;
    return 0;
}

static void set_up_admin(const char *pw, char *token)
{
    assert_int_equal(auth_init(&g_auth, &F.crypto.port, &g_web, 1000), TB_OK);
    char code[16];
    auth_setup_code(&g_auth, code, sizeof code);
    auth_result_t r;
    auth_setup(&g_auth, "10.0.0.1", code, pw, 1000, &r);
    assert_int_equal(r.rc, TB_OK);
    if (token) {
        memcpy(token, r.token, AUTH_TOKEN_LEN + 1u);
    }
}

static void first_start_needs_the_setup_code(void **state)
{
    (void)state;
    assert_int_equal(auth_init(&g_auth, &F.crypto.port, &g_web, 1000), TB_OK);
    assert_true(auth_setup_required(&g_auth));
    char code[16];
    auth_setup_code(&g_auth, code, sizeof code);
    assert_int_equal(strlen(code), AUTH_SETUP_CODE_LEN);
    assert_int_equal(code[5], '-');
    char line[20];
    snprintf(line, sizeof line, "%s\n", code);
    assert_string_equal(obj(AUTH_OBJ_SETUP), line); /* readable by the installer */

    auth_result_t r;
    auth_login(&g_auth, "10.0.0.1", "whatever-pw", 1000, &r);
    assert_int_equal(r.rc, TB_ERR_STATE);
    auth_setup(&g_auth, "10.0.0.1", "AAAAA-AAAAA", "good-password", 1000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    assert_int_equal(F.crypto.hashes, 0); /* nothing hashed for a wrong code */
    auth_setup(&g_auth, "10.0.0.1", code, "short", 1000, &r);
    assert_int_equal(r.rc, TB_ERR_RANGE);
    assert_true(auth_setup_required(&g_auth)); /* the code is not spent by a refused password */

    /* case-insensitive, dash and spaces optional */
    char loose[32];
    snprintf(loose, sizeof loose, " %.5s %.5s ", code, code + 6);
    for (char *p = loose; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    auth_setup(&g_auth, "10.0.0.1", loose, "good-password", 1000, &r);
    assert_int_equal(r.rc, TB_OK);
    assert_int_equal(strlen(r.token), AUTH_TOKEN_LEN);
    assert_int_equal(r.lifetime_s, 600);
    assert_false(auth_setup_required(&g_auth));
    assert_string_equal(obj(AUTH_OBJ_SETUP), "");
    assert_non_null(strstr(obj(AUTH_OBJ_ADMIN), "\"hash\":\"$fake$good-password\""));
    auth_setup_code(&g_auth, code, sizeof code);
    assert_string_equal(code, "");
    auth_setup(&g_auth, "10.0.0.1", loose, "other-password", 1000, &r);
    assert_int_equal(r.rc, TB_ERR_STATE);
    assert_true(auth_session_valid(&g_auth, r.token[0] ? r.token : "x", 1000, NULL) == false);
    assert_int_equal(F.locks, F.unlocks);
}

static void password_survives_a_restart(void **state)
{
    (void)state;
    set_up_admin("first-password", NULL);
    auth_t again;
    assert_int_equal(auth_init(&again, &F.crypto.port, &g_web, 5000), TB_OK);
    assert_false(auth_setup_required(&again));
    auth_result_t r;
    auth_login(&again, "10.0.0.2", "first-password", 5000, &r);
    assert_int_equal(r.rc, TB_OK);
    auth_login(&again, "10.0.0.2", "first-passwore", 5000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
}

static void damaged_credentials_never_reopen_setup(void **state)
{
    (void)state;
    assert_int_equal(F.store.port.save(F.store.port.ctx, AUTH_OBJ_ADMIN, "{not json", 9), TB_OK);
    assert_int_equal(auth_init(&g_auth, &F.crypto.port, &g_web, 0), TB_ERR_FORMAT);
    auth_result_t r;
    auth_setup(&g_auth, "10.0.0.1", "", "good-password", 0, &r);
    assert_int_not_equal(r.rc, TB_OK);
    auth_login(&g_auth, "10.0.0.1", "good-password", 0, &r);
    assert_int_not_equal(r.rc, TB_OK);
}

static void sessions_expire_and_log_out(void **state)
{
    (void)state;
    char tok[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", tok);
    uint32_t left = 0;
    assert_true(auth_session_valid(&g_auth, tok, 1000 + 599000, &left));
    assert_int_equal(left, 1);
    assert_false(auth_session_valid(&g_auth, tok, 1000 + 600000, NULL));
    auth_result_t r;
    auth_login(&g_auth, "10.0.0.1", "good-password", 2000, &r);
    assert_true(auth_session_valid(&g_auth, r.token, 2000, NULL));
    auth_logout(&g_auth, "10.0.0.1", r.token);
    assert_false(auth_session_valid(&g_auth, r.token, 2000, NULL));
    assert_false(auth_session_valid(&g_auth, "short", 2000, NULL));
    assert_false(auth_session_valid(&g_auth, NULL, 2000, NULL));
}

static void oldest_session_is_evicted(void **state)
{
    (void)state;
    char first[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", first);
    auth_result_t r;
    for (unsigned i = 0; i < AUTH_SESSIONS; i++) {
        auth_login(&g_auth, "10.0.0.1", "good-password", 2000 + i, &r);
        assert_int_equal(r.rc, TB_OK);
    }
    assert_false(auth_session_valid(&g_auth, first, 3000, NULL));
    assert_true(auth_session_valid(&g_auth, r.token, 3000, NULL));
    auth_counters_t n;
    auth_counters(&g_auth, &n, 3000);
    assert_int_equal(n.sessions_evicted, 1);
    assert_int_equal(n.active_sessions, AUTH_SESSIONS);
    /* tokens are distinct */
    char a[AUTH_TOKEN_LEN + 1];
    memcpy(a, r.token, sizeof a);
    auth_login(&g_auth, "10.0.0.1", "good-password", 4000, &r);
    assert_string_not_equal(a, r.token);
}

static int attempt(const char *peer, const char *pw, uint32_t now)
{
    auth_result_t r;
    auth_login(&g_auth, peer, pw, now, &r);
    return r.rc;
}

static void same_address_is_backed_off(void **state)
{
    (void)state;
    set_up_admin("good-password", NULL); /* F = 3, cap 60 s */
    auth_result_t r;
    unsigned v0 = F.crypto.verifies;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(attempt("10.0.0.9", "bad-bad-bad", 10000), TB_ERR_AUTH);
    }
    /* the 3rd failure in a row: 1 s before the next attempt, even the right one, hash not run */
    auth_login(&g_auth, "10.0.0.9", "good-password", 10000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY);
    assert_int_equal(r.retry_after_s, 1);
    assert_int_equal(F.crypto.verifies, v0 + 3);
    assert_int_equal(attempt("10.0.0.8", "good-password", 10000), TB_OK); /* others are not affected */
    /* waits double: 1, 2, 4 ... s, capped at web.login_lockout_s */
    assert_int_equal(attempt("10.0.0.9", "bad-bad-bad", 11000), TB_ERR_AUTH);
    auth_login(&g_auth, "10.0.0.9", "bad-bad-bad", 11000, &r);
    assert_int_equal(r.retry_after_s, 2);
    /* hammering every 100 ms for 10 minutes: evaluated only when the backoff allows */
    unsigned v1 = F.crypto.verifies;
    uint32_t t = 11100;
    for (; t < 11000 + 600000; t += 100) {
        (void)attempt("10.0.0.9", "bad-bad-bad", t);
    }
    unsigned evaluated = F.crypto.verifies - v1;
    /* after 2 s: 4, 8, 16, 32, then every 60 s: 13 in 600 s */
    assert_true(evaluated >= 10 && evaluated <= 14);
    auth_login(&g_auth, "10.0.0.9", "good-password", t, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY);
    assert_true(r.retry_after_s >= 1 && r.retry_after_s <= 60);
    assert_int_equal(attempt("10.0.0.9", "good-password", t + 60000), TB_OK); /* the right one after the wait */
    assert_int_equal(attempt("10.0.0.9", "bad-bad-bad", t + 60000), TB_ERR_AUTH); /* and a success clears it */
    assert_int_equal(attempt("10.0.0.9", "good-password", t + 60000), TB_OK);
    auth_counters_t n;
    auth_counters(&g_auth, &n, t + 60000);
    assert_int_equal(n.login_failed, 3 + 1 + evaluated + 1);
    assert_true(n.rate_limited > 5000);
    assert_int_equal(F.locks, F.unlocks);
}

/* Issue 16: 30 wrong logins a minute from other addresses locked the admin out (global limit). */
static void others_hammering_do_not_lock_out_the_admin(void **state)
{
    (void)state;
    set_up_admin("good-password", NULL); /* F = 3, global 20/min */
    char peer[32];
    unsigned v0 = F.crypto.verifies;
    /* typo once before the attack */
    assert_int_equal(attempt("10.7.0.1", "typo-typo", 1000), TB_ERR_AUTH);
    uint32_t t = 2000;
    for (unsigned min = 0; min < 10; min++) {
        /* 30 failures a minute from 30 other addresses (and as many refused retries) */
        for (unsigned i = 0; i < 60; i++, t += 1000) {
            snprintf(peer, sizeof peer, "10.5.0.%u", i % 30u + 1u);
            (void)attempt(peer, "guess-guess", t);
            if (i == 30u) {
                /* a fresh address with the right password gets in at once */
                snprintf(peer, sizeof peer, "10.6.0.%u", min + 1u);
                assert_int_equal(attempt(peer, "good-password", t), TB_OK);
            } else if (i == 45u) {
                /* so does an address with a typo behind it */
                assert_int_equal(attempt("10.7.0.1", "good-password", t), TB_OK);
            }
        }
    }
    auth_counters_t n;
    auth_counters(&g_auth, &n, t);
    /* the attackers got their free failures, then share the global budget: at most 30 x 3 + 20 +
     * 20 a minute over 10 minutes */
    unsigned guesses = F.crypto.verifies - v0 - 21u;
    assert_true(guesses <= 30u * 3u + 20u + 20u * 10u);
    assert_true(guesses >= 30u * 3u); /* the free ones were evaluated */
    assert_true(n.rate_limited > 0);
    assert_int_equal(n.throttled_keys, 30);
}

static void global_budget_only_for_addresses_past_their_free_failures(void **state)
{
    (void)state;
    g_web.login_global_per_min = 2;
    set_up_admin("good-password", NULL);
    /* two addresses past their free failures use up the budget */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(attempt("10.1.0.1", "bad-bad-bad", 1000), TB_ERR_AUTH);
        assert_int_equal(attempt("10.1.0.2", "bad-bad-bad", 1000), TB_ERR_AUTH);
    }
    assert_int_equal(attempt("10.1.0.1", "bad-bad-bad", 3000), TB_ERR_AUTH);
    assert_int_equal(attempt("10.1.0.2", "bad-bad-bad", 3000), TB_ERR_AUTH);
    auth_result_t r;
    auth_login(&g_auth, "10.1.0.1", "bad-bad-bad", 6000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY); /* budget empty: 2 a minute, one back in 30 s */
    assert_true(r.retry_after_s >= 20 && r.retry_after_s <= 30);
    /* fresh addresses and those within their free failures are not held by it */
    assert_int_equal(attempt("10.1.0.3", "bad-bad-bad", 6000), TB_ERR_AUTH);
    assert_int_equal(attempt("10.1.0.3", "good-password", 6000), TB_OK);
    assert_int_equal(attempt("10.1.0.4", "good-password", 6000), TB_OK);
    assert_int_equal(attempt("10.1.0.1", "bad-bad-bad", 6000 + 30000), TB_ERR_AUTH); /* refilled */
}

/* A fake verify that lets a test run another attempt while one is being checked. */
static int (*g_real_verify)(void *, const char *, const char *);
static int g_nested_rc[4];
static const char *g_nested_peer[4];
static unsigned g_nested;

static int nesting_verify(void *ctx, const char *enc, const char *pw)
{
    if (strcmp(pw, "nest-nest-nest") == 0) {
        for (unsigned i = 0; i < g_nested; i++) {
            g_nested_rc[i] = attempt(g_nested_peer[i], i == 0 ? "nest-inner" : "good-password", 5000);
        }
    } else if (strcmp(pw, "nest-inner") == 0) {
        /* second level: both slots are taken now; one more only for an address that logged in */
        g_nested_rc[3] = attempt("10.4.0.9", "good-password", 5000);
        g_nested_rc[2] = attempt("10.0.0.1", "good-password", 5000);
    }
    return g_real_verify(ctx, enc, pw);
}

static void concurrent_checks_are_bounded(void **state)
{
    (void)state;
    g_real_verify = F.crypto.port.verify;
    F.crypto.port.verify = nesting_verify;
    set_up_admin("good-password", NULL);
    g_nested = 2;
    g_nested_peer[0] = "10.4.0.2"; /* admitted (2nd slot), and nests a third */
    g_nested_peer[1] = "10.4.0.1"; /* the same address as the outer attempt: one at a time */
    auth_result_t r;
    auth_login(&g_auth, "10.4.0.1", "nest-nest-nest", 5000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    assert_int_equal(g_nested_rc[0], TB_ERR_AUTH);
    assert_int_equal(g_nested_rc[3], TB_ERR_BUSY); /* AUTH_HASH_INFLIGHT = 2 were in progress */
    assert_int_equal(g_nested_rc[1], TB_ERR_BUSY);
    assert_int_equal(g_nested_rc[2], TB_OK); /* 10.0.0.1 set the password: its reserved slot */
    auth_counters_t n;
    auth_counters(&g_auth, &n, 5000);
    assert_int_equal(n.busy, 2);
    assert_int_equal(attempt("10.4.0.9", "good-password", 5000), TB_OK); /* all released */
    assert_int_equal(attempt("10.4.0.1", "good-password", 5000), TB_OK);
    assert_int_equal(F.locks, F.unlocks);
}

static void rate_table_is_bounded(void **state)
{
    (void)state;
    set_up_admin("good-password", NULL); /* 10.0.0.1 logged in: it keeps its slot */
    assert_int_equal(attempt("10.2.0.1", "bad-bad-bad", 1000), TB_ERR_AUTH);
    char peer[32];
    uint32_t t = 2000;
    for (unsigned i = 0; i < 3u * AUTH_RATE_SLOTS; i++, t += 10) {
        snprintf(peer, sizeof peer, "10.3.%u.%u", i / 250u, i % 250u);
        (void)attempt(peer, "bad-bad-bad", t);
    }
    auth_counters_t n;
    auth_counters(&g_auth, &n, t);
    assert_int_equal(n.tracked_keys, AUTH_RATE_SLOTS); /* fixed memory */
    assert_true(n.untracked >= 2u * AUTH_RATE_SLOTS);
    /* untracked addresses share the global budget: the flood did not get 768 guesses */
    assert_true(n.login_failed <= 1u + AUTH_RATE_SLOTS + 20u + 1u);
    /* the live failures of 10.2.0.1 were not evicted by the flood */
    assert_int_equal(attempt("10.2.0.1", "bad-bad-bad", t), TB_ERR_AUTH);
    assert_int_equal(attempt("10.2.0.1", "bad-bad-bad", t), TB_ERR_AUTH);
    assert_int_equal(attempt("10.2.0.1", "good-password", t), TB_ERR_BUSY);
    /* the admin's address that logged in before still has its slot and bypasses the budget */
    assert_int_equal(attempt("10.0.0.1", "good-password", t), TB_OK);
    /* failures are forgotten a day after the last one: the slots are free again */
    t += AUTH_RATE_FORGET_MS + 1000u;
    assert_int_equal(attempt("10.8.0.1", "good-password", t), TB_OK);
    auth_counters(&g_auth, &n, t);
    assert_int_equal(n.throttled_keys, 0);
}

static void ipv6_is_grouped_by_64(void **state)
{
    (void)state;
    auth_key_t k1, k2;
    char s[64];
    auth_peer_key("2001:db8:1:2::a", &k1);
    auth_peer_key("2001:0db8:0001:0002:ffff:1:2:3", &k2);
    assert_memory_equal(&k1, &k2, sizeof k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "2001:db8:1:2::/64");
    auth_peer_key("::ffff:192.0.2.7", &k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "192.0.2.7");
    auth_peer_key("192.0.2.7", &k2);
    assert_memory_equal(&k1, &k2, sizeof k1);
    auth_peer_key("[fe80::1%eth0]", &k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "fe80:0:0:0::/64");
    auth_peer_key("::1", &k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "0:0:0:0::/64");
    auth_peer_key("1:2:3:4:5:6:7:8", &k1);
    assert_int_equal(k1.fam, 6);
    auth_peer_key("1:2:3:4:5:6:1.2.3.4", &k1);
    assert_int_equal(k1.fam, 6);
    static const char *const bad[] = {"1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:", "12345::", "1.2.3", "1.2.3.256",
                                      "1.2.3.4.5", "01234.1.1.1", "g::1", "", "1:2:3:4:5:6:7:1.2.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_peer_key(bad[i], &k1);
        assert_int_equal(k1.fam, 0);
    }
    auth_peer_key("bad\nname", &k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "bad?name");
    auth_peer_key(NULL, &k1);
    auth_key_str(&k1, s, sizeof s);
    assert_string_equal(s, "(no address)");

    set_up_admin("good-password", NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(s, sizeof s, "2001:db8:1:2::%x", i + 1);
        assert_int_equal(attempt(s, "bad-bad-bad", 1000), TB_ERR_AUTH);
    }
    assert_int_equal(attempt("2001:db8:1:2:9:9:9:9", "good-password", 1000), TB_ERR_BUSY); /* same /64 */
    assert_int_equal(attempt("2001:db8:1:3::1", "good-password", 1000), TB_OK);           /* another one */
}

static void change_password_closes_other_sessions(void **state)
{
    (void)state;
    char tok[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", tok);
    auth_result_t r;
    auth_change_password(&g_auth, tok, "10.0.0.1", "wrong-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_change_password(&g_auth, tok, "10.0.0.1", "good-password", "tiny", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_RANGE);
    auth_change_password(&g_auth, "not-a-session", "10.0.0.1", "good-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_change_password(&g_auth, tok, "10.0.0.1", "good-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK);
    assert_false(auth_session_valid(&g_auth, tok, 2000, NULL));
    assert_true(auth_session_valid(&g_auth, r.token, 2000, NULL));
    auth_login(&g_auth, "10.0.0.1", "good-password", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_login(&g_auth, "10.0.0.1", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK);
    F.store.fail_save = TB_ERR_IO;
    memcpy(tok, r.token, sizeof tok);
    auth_change_password(&g_auth, tok, "10.0.0.1", "new-password-1", "new-password-2", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_IO);
    F.store.fail_save = 0;
    auth_login(&g_auth, "10.0.0.1", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK); /* unchanged when it could not be saved */
}

/* The address lockout refused a logged-in admin's password change (issue 16). */
static void change_with_a_session_ignores_the_address_lockout(void **state)
{
    (void)state;
    char tok[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", tok);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(attempt("10.0.0.1", "bad-bad-bad", 2000), TB_ERR_AUTH); /* someone at the same address */
    }
    assert_int_equal(attempt("10.0.0.1", "good-password", 2000), TB_ERR_BUSY); /* the address is backed off */
    auth_result_t r;
    auth_change_password(&g_auth, tok, "10.0.0.1", "good-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK);
    /* its own limit: AUTH_CHANGE_MAX_FAILURES wrong current passwords close the session */
    memcpy(tok, r.token, sizeof tok);
    for (unsigned i = 0; i < AUTH_CHANGE_MAX_FAILURES; i++) {
        assert_true(auth_session_valid(&g_auth, tok, 3000, NULL));
        auth_change_password(&g_auth, tok, "10.0.0.1", "wrong-wrong", "new-password-2", 3000, &r);
        assert_int_equal(r.rc, TB_ERR_AUTH);
    }
    assert_false(auth_session_valid(&g_auth, tok, 3000, NULL));
    auth_change_password(&g_auth, tok, "10.0.0.1", "new-password-1", "new-password-2", 3000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_counters_t n;
    auth_counters(&g_auth, &n, 3000);
    assert_int_equal(n.change_failed, AUTH_CHANGE_MAX_FAILURES);
    assert_int_equal(n.sessions_closed, 1);
    assert_int_equal(attempt("10.0.0.2", "new-password-1", 3000), TB_OK);
}

/* ---- the security log ------------------------------------------------------------------------------ */

static struct {
    unsigned lines;
    unsigned failed, refused; /* counts carried by the lines */
    char last[LOG_MSG_MAX];
    unsigned logins, logouts, expired, changed, set;
} L;

static void log_capture(void *ctx, const log_entry_t *e)
{
    (void)ctx;
    L.lines++;
    snprintf(L.last, sizeof L.last, "%s", e->msg);
    unsigned long nf = 0, nr = 0;
    const char *p;
    if (strstr(e->msg, " failed from ")) {
        L.failed++;
    } else if ((p = strstr(e->msg, ": ")) && sscanf(p, ": %lu more %*s %*s and %lu refused", &nf, &nr) == 2) {
        L.failed += (unsigned)nf;
        L.refused += (unsigned)nr;
    } else if (strstr(e->msg, " refused: ") && strncmp(e->msg, "password change", 15) != 0) {
        L.refused++;
    } else if (strncmp(e->msg, "login from ", 11) == 0) {
        L.logins++;
    } else if (strncmp(e->msg, "logout from ", 12) == 0) {
        L.logouts++;
    } else if (strstr(e->msg, " expired after ")) {
        L.expired++;
    } else if (strncmp(e->msg, "admin password changed", 22) == 0) {
        L.changed++;
    } else if (strncmp(e->msg, "admin password set", 18) == 0) {
        L.set++;
    }
}

static void every_failure_is_logged_and_counted(void **state)
{
    (void)state;
    memset(&L, 0, sizeof L);
    log_port_t lp = {log_capture, NULL, NULL, NULL, NULL, NULL};
    log_set_port(&lp);
    log_reset();
    log_set_level(LOG_ERROR); /* security lines are written whatever the level */
    char tok[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", tok);
    assert_int_equal(L.set, 1);
    char peer[32];
    uint32_t t = 2000;
    /* 30 addresses, 10 minutes, one attempt a second: most are refused, some evaluated */
    for (unsigned i = 0; i < 600; i++, t += 1000) {
        snprintf(peer, sizeof peer, "10.5.0.%u", i % 30u + 1u);
        (void)attempt(peer, "guess-guess", t);
        if (i % 100u == 0u) {
            auth_tick(&g_auth, t);
        }
    }
    /* and one address hammering within a window */
    for (unsigned i = 0; i < 50; i++) {
        (void)attempt("10.9.0.1", "guess-guess", t);
    }
    auth_tick(&g_auth, t + AUTH_LOG_WINDOW_MS); /* closes every window */
    auth_counters_t n;
    auth_counters(&g_auth, &n, t + AUTH_LOG_WINDOW_MS);
    assert_true(n.login_failed > 100);
    assert_int_equal(L.failed, n.login_failed);              /* not one failure lost */
    assert_int_equal(L.refused, n.rate_limited + n.busy);    /* nor a refusal */
    assert_true(L.lines < n.login_failed + n.rate_limited); /* ... coalesced */
    assert_true(log_security_count() == L.lines);
    assert_int_equal(L.expired, 1); /* the set-up session's lifetime (10 min) is over */
    auth_result_t r;
    auth_login(&g_auth, "10.9.0.2", "good-password", t + 40000, &r);
    assert_int_equal(r.rc, TB_OK);
    assert_int_equal(L.logins, 1);
    auth_logout(&g_auth, "10.9.0.2", r.token);
    auth_logout(&g_auth, "10.9.0.2", tok); /* no such session any more: nothing happens */
    assert_int_equal(L.logouts, 1);
    assert_null(strstr(L.last, "good-password"));
    log_set_level(LOG_INFO);
    log_set_port(NULL);
}

static void password_rules(void **state)
{
    (void)state;
    assert_null(auth_password_problem("12345678"));
    assert_non_null(auth_password_problem("1234567"));
    assert_non_null(auth_password_problem(NULL));
    assert_non_null(auth_password_problem("tab\there-ok"));
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_non_null(auth_password_problem(big));
    big[AUTH_PW_MAX] = '\0';
    assert_null(auth_password_problem(big));
    assert_null(auth_password_problem("ünïcødé-pässwörd"));
}

static void cookies(void **state)
{
    (void)state;
    const char *t = "k-A30IBeLD0Sdg47YGqPsqwbcDzEbX7HoIgF1DL9zq8";
    char hdr[200], out[64];
    snprintf(hdr, sizeof hdr, "tbgw_session=%s", t);
    assert_true(auth_cookie_token(hdr, out, sizeof out));
    assert_string_equal(out, t);
    snprintf(hdr, sizeof hdr, "a=1; b=two;  tbgw_session = %s ; c=3", t);
    assert_true(auth_cookie_token(hdr, out, sizeof out));
    snprintf(hdr, sizeof hdr, "xtbgw_session=%s", t);
    assert_false(auth_cookie_token(hdr, out, sizeof out));
    assert_false(auth_cookie_token("tbgw_session=short", out, sizeof out));
    assert_false(auth_cookie_token("tbgw_session=k-A30IBeLD0Sdg47YGqPsqwbcDzEbX7HoIgF1DL9zq!", out, sizeof out));
    assert_false(auth_cookie_token(NULL, out, sizeof out));
    assert_false(auth_cookie_token("", out, sizeof out));
    assert_false(auth_cookie_token(";;;=;", out, sizeof out));
    assert_false(auth_cookie_token(hdr, out, 10));
}

static void same_origin(void **state)
{
    (void)state;
    assert_true(auth_same_origin("gw.local:8080", NULL, NULL, NULL)); /* not a browser */
    assert_true(auth_same_origin("gw.local:8080", "http://gw.local:8080", NULL, "same-origin"));
    assert_true(auth_same_origin("GW.local:8080", "http://gw.LOCAL:8080", NULL, NULL));
    assert_true(auth_same_origin("192.168.1.5", NULL, "http://192.168.1.5/#/settings", NULL));
    assert_false(auth_same_origin("gw.local:8080", "http://evil.example", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", "http://gw.local:8081", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", "http://gw.local:8080.evil.example", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", "null", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", "http://user@gw.local:8080", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", NULL, "http://evil.example/x", NULL));
    assert_false(auth_same_origin("gw.local:8080", "http://gw.local:8080", NULL, "cross-site"));
    assert_false(auth_same_origin(NULL, "http://gw.local:8080", NULL, NULL));
    assert_false(auth_same_origin("gw.local:8080", "gw.local:8080", NULL, NULL));
    /* the Origin wins over the Referer */
    assert_false(auth_same_origin("gw", "http://evil", "http://gw/", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(first_start_needs_the_setup_code, setup),
        cmocka_unit_test_setup(password_survives_a_restart, setup),
        cmocka_unit_test_setup(damaged_credentials_never_reopen_setup, setup),
        cmocka_unit_test_setup(sessions_expire_and_log_out, setup),
        cmocka_unit_test_setup(oldest_session_is_evicted, setup),
        cmocka_unit_test_setup(same_address_is_backed_off, setup),
        cmocka_unit_test_setup(others_hammering_do_not_lock_out_the_admin, setup),
        cmocka_unit_test_setup(global_budget_only_for_addresses_past_their_free_failures, setup),
        cmocka_unit_test_setup(concurrent_checks_are_bounded, setup),
        cmocka_unit_test_setup(rate_table_is_bounded, setup),
        cmocka_unit_test_setup(ipv6_is_grouped_by_64, setup),
        cmocka_unit_test_setup(change_password_closes_other_sessions, setup),
        cmocka_unit_test_setup(change_with_a_session_ignores_the_address_lockout, setup),
        cmocka_unit_test_setup(every_failure_is_logged_and_counted, setup),
        cmocka_unit_test_setup(password_rules, setup),
        cmocka_unit_test_setup(cookies, setup),
        cmocka_unit_test_setup(same_origin, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
