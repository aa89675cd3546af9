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
    auth_logout(&g_auth, r.token);
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

static void per_address_lockout(void **state)
{
    (void)state;
    set_up_admin("good-password", NULL);
    auth_result_t r;
    int h0 = F.crypto.verifies;
    for (int i = 0; i < 3; i++) {
        auth_login(&g_auth, "10.0.0.9", "bad-bad-bad", 10000, &r);
        assert_int_equal(r.rc, TB_ERR_AUTH);
    }
    auth_login(&g_auth, "10.0.0.9", "good-password", 10000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY);
    assert_int_equal(r.retry_after_s, 60);
    assert_int_equal(F.crypto.verifies, h0 + 3); /* refused before the (slow) hash */
    auth_login(&g_auth, "10.0.0.8", "good-password", 10000, &r);
    assert_int_equal(r.rc, TB_OK); /* another address is not affected */
    auth_login(&g_auth, "10.0.0.9", "good-password", 10000 + 30000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY);
    assert_int_equal(r.retry_after_s, 30);
    auth_login(&g_auth, "10.0.0.9", "good-password", 10000 + 60000, &r);
    assert_int_equal(r.rc, TB_OK);
    auth_counters_t n;
    auth_counters(&g_auth, &n, 80000);
    assert_int_equal(n.rate_limited, 2);
    assert_int_equal(n.logins_failed, 3);
}

static void global_limit(void **state)
{
    (void)state;
    set_up_admin("good-password", NULL); /* one attempt used by the set-up */
    auth_result_t r;
    char peer[32];
    for (int i = 0; i < 19; i++) {
        snprintf(peer, sizeof peer, "10.1.0.%d", i);
        auth_login(&g_auth, peer, "bad-bad-bad", 1000 + (uint32_t)i, &r);
        assert_int_equal(r.rc, TB_ERR_AUTH);
    }
    auth_login(&g_auth, "10.2.0.1", "good-password", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY);
    assert_true(r.retry_after_s > 0 && r.retry_after_s <= 60);
    auth_login(&g_auth, "10.2.0.1", "good-password", 1000 + 60000, &r);
    assert_int_equal(r.rc, TB_OK);
}

static void rate_table_is_bounded(void **state)
{
    (void)state;
    g_web.login_global_per_min = 1000;
    set_up_admin("good-password", NULL);
    auth_result_t r;
    char peer[32];
    for (unsigned i = 0; i < 3u * AUTH_RATE_SLOTS; i++) {
        snprintf(peer, sizeof peer, "10.3.%u.%u", i / 250u, i % 250u);
        auth_login(&g_auth, peer, "bad-bad-bad", 1000 + i, &r);
        assert_int_equal(r.rc, TB_ERR_AUTH);
    }
    for (int i = 0; i < 3; i++) {
        auth_login(&g_auth, "10.9.9.9", "bad-bad-bad", 5000, &r);
    }
    auth_login(&g_auth, "10.9.9.9", "good-password", 5000, &r);
    assert_int_equal(r.rc, TB_ERR_BUSY); /* still tracked after the table wrapped */
}

static void change_password_closes_other_sessions(void **state)
{
    (void)state;
    char tok[AUTH_TOKEN_LEN + 1];
    set_up_admin("good-password", tok);
    auth_result_t r;
    auth_change_password(&g_auth, "10.0.0.1", "wrong-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_change_password(&g_auth, "10.0.0.1", "good-password", "tiny", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_RANGE);
    auth_change_password(&g_auth, "10.0.0.1", "good-password", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK);
    assert_false(auth_session_valid(&g_auth, tok, 2000, NULL));
    assert_true(auth_session_valid(&g_auth, r.token, 2000, NULL));
    auth_login(&g_auth, "10.0.0.1", "good-password", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_AUTH);
    auth_login(&g_auth, "10.0.0.1", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK);
    F.store.fail_save = TB_ERR_IO;
    auth_change_password(&g_auth, "10.0.0.1", "new-password-1", "new-password-2", 2000, &r);
    assert_int_equal(r.rc, TB_ERR_IO);
    F.store.fail_save = 0;
    auth_login(&g_auth, "10.0.0.1", "new-password-1", 2000, &r);
    assert_int_equal(r.rc, TB_OK); /* unchanged when it could not be saved */
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
        cmocka_unit_test_setup(per_address_lockout, setup),
        cmocka_unit_test_setup(global_limit, setup),
        cmocka_unit_test_setup(rate_table_is_bounded, setup),
        cmocka_unit_test_setup(change_password_closes_other_sessions, setup),
        cmocka_unit_test_setup(password_rules, setup),
        cmocka_unit_test_setup(cookies, setup),
        cmocka_unit_test_setup(same_origin, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
