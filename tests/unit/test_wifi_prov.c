/* The Wi-Fi provisioning state machine (app/wifi_prov.h) on the host: every state x event, every
 * time-out, the backoff, the AP policy (clients, retries, lost network), setup-page trials,
 * configuration changes at run time, wrap-around of now_ms, bad input, the configuration section
 * "wifi", and a seeded random walk of 100 000 event sequences that checks the invariants after
 * every step. Time is simulated: nothing here depends on the host clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "app/log.h"
#include "app/wifi_prov.h"
#include "core/tb_err.h"

/* ---- rig: the machine, the time, and a model of what the radio runs ---------------------------- */

#define HOME "Home"
#define HOME_PW "hunter2hunter2"
#define OTHER "Other"
#define OTHER_PW "password2"

typedef struct {
    wifi_prov_t m;
    wifi_prov_actions_t a;
    uint32_t now;
    int rc;
    /* model of the radio, driven only by the actions (and STARTED / driver results) */
    bool ap, sta, scan;
    uint32_t scan_timeouts;
    /* what happened since the last mark */
    unsigned n_ap_start, n_ap_stop, n_sta_start, n_sta_stop, n_scan, n_save;
    char last_sta_ssid[WIFI_PROV_SSID_MAX + 1u];
    char last_sta_pw[WIFI_PROV_PASSWORD_MAX + 1u];
    char last_save_ssid[WIFI_PROV_SSID_MAX + 1u];
    char last_save_pw[WIFI_PROV_PASSWORD_MAX + 1u];
    char logs[4096]; /* every log line since the mark, one per line */
} rig_t;

static const wifi_prov_ident_t k_ident = {{0x3F, 0x2A}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};

static wifi_prov_cfg_t cfg_with(const char *ssid, const char *pw)
{
    wifi_prov_cfg_t c;
    memset(&c, 0, sizeof c);
    cfg_set_defaults(&wifi_prov_cfg_section, &c);
    snprintf(c.ssid, sizeof c.ssid, "%s", ssid);
    snprintf(c.password, sizeof c.password, "%s", pw);
    return c;
}

static const char *const k_secrets[] = {HOME_PW, OTHER_PW, "1234-5678-9ABC", "s3cretpass", "0123456789abcdef"};

/* English sentence: starts with a capital letter, ends with a full stop, fits, no password. */
static void check_log_line(const wifi_prov_log_t *l)
{
    size_t n = strnlen(l->text, sizeof l->text);
    assert_true(n > 0u && n < sizeof l->text);
    assert_true(isupper((unsigned char)l->text[0]));
    assert_int_equal(l->text[n - 1u], '.');
    assert_true(l->level == LOG_INFO || l->level == LOG_WARN);
    for (size_t i = 0; i < sizeof k_secrets / sizeof k_secrets[0]; i++) {
        assert_null(strstr(l->text, k_secrets[i]));
    }
}

/* Invariants that hold after every step (the random walk checks them 100 000 times over). */
static void check_invariants(rig_t *r)
{
    const wifi_prov_t *m = &r->m;
    const wifi_prov_counters_t *c = wifi_prov_counters(m);
    wifi_prov_status_t st;
    wifi_prov_status(m, r->now, &st);
    uint32_t next = wifi_prov_next_ms(m, r->now);
    assert_true(next <= wifi_prov_max_delay_ms(m));
    assert_int_equal(c->log_dropped, 0);
    assert_int_equal(c->log_truncated, 0);
    assert_int_equal(c->trials, c->trials_saved + c->trials_failed + (st.trial ? 1u : 0u));
    if (st.state == WIFI_PROV_OFF) {
        return;
    }
    /* nothing stays overdue: the port never spins on next_ms() == 0 */
    assert_true(next >= 1u);
    /* the model agrees with the machine */
    assert_int_equal(r->ap, st.ap_up);
    bool sta_busy = st.state == WIFI_PROV_CONNECTING || st.state == WIFI_PROV_SETUP_CONNECTING ||
                    st.state == WIFI_PROV_CONNECTED;
    assert_int_equal(r->sta, sta_busy);
    assert_int_equal(r->scan, st.scanning);
    if (!st.ap_up) {
        assert_int_equal(st.ap_clients, 0);
    }
    /* reachable: nothing saved means the AP is up (a trial of the setup page aside) */
    if (!st.configured && !st.trial) {
        assert_true(st.ap_up);
    }
    /* never neither an AP nor a station that is running or scheduled */
    assert_true(st.ap_up || sta_busy || st.next_attempt_ms != UINT32_MAX);
    /* never stranded in AP mode: a saved network is always scheduled while no client is on the AP */
    if (st.configured && st.ap_up && !sta_busy && st.ap_clients == 0u) {
        assert_true(st.next_attempt_ms != UINT32_MAX);
        assert_true(st.next_attempt_ms <= wifi_prov_max_delay_ms(m));
    }
    if (st.state == WIFI_PROV_CONNECTED) {
        assert_int_equal(st.next_attempt_ms, UINT32_MAX);
        assert_int_equal(st.failures, 0);
    }
    if (st.state == WIFI_PROV_CONNECTED && st.ap_up) {
        assert_true(st.ap_clients > 0u); /* the AP lingers only for a client */
    }
}

/* Apply the actions to the model in the documented order, asserting each makes sense. */
static void absorb(rig_t *r)
{
    const wifi_prov_actions_t *a = &r->a;
    const wifi_prov_counters_t *c = wifi_prov_counters(&r->m);
    if (c->scan_timeouts != r->scan_timeouts) {
        assert_int_equal(c->scan_timeouts, r->scan_timeouts + 1u);
        assert_true(r->scan);
        r->scan = false; /* the machine gave the scan up */
        r->scan_timeouts = c->scan_timeouts;
    }
    if (a->sta_stop) {
        assert_true(r->sta);
        r->sta = false;
        r->n_sta_stop++;
    }
    if (a->ap_stop) {
        assert_true(r->ap);
        r->ap = false;
        r->n_ap_stop++;
    }
    if (a->ap_start) {
        assert_false(r->ap); /* never two starts without a stop */
        assert_string_equal(a->ap_ssid, "TinyBMS-3F2A");
        assert_string_equal(a->ap_password, wifi_prov_ap_password(&r->m));
        r->ap = true;
        r->n_ap_start++;
    }
    assert_false(a->sta_start && a->scan_start);
    if (a->sta_start) {
        assert_false(r->sta);
        assert_false(r->scan); /* the radio does one thing at a time */
        assert_int_equal(wifi_prov_check_ssid(a->sta_ssid, NULL), TB_OK);
        assert_int_equal(wifi_prov_check_password(a->sta_password, NULL), TB_OK);
        snprintf(r->last_sta_ssid, sizeof r->last_sta_ssid, "%s", a->sta_ssid);
        snprintf(r->last_sta_pw, sizeof r->last_sta_pw, "%s", a->sta_password);
        r->sta = true;
        r->n_sta_start++;
    }
    if (a->scan_start) {
        assert_false(r->scan);
        assert_false(r->sta && wifi_prov_state(&r->m) != WIFI_PROV_CONNECTED); /* not during an attempt */
        r->scan = true;
        r->n_scan++;
    }
    if (a->save) {
        assert_int_equal(wifi_prov_check_ssid(a->save_ssid, NULL), TB_OK);
        snprintf(r->last_save_ssid, sizeof r->last_save_ssid, "%s", a->save_ssid);
        snprintf(r->last_save_pw, sizeof r->last_save_pw, "%s", a->save_password);
        r->n_save++;
    }
    assert_true(a->log_count <= WIFI_PROV_LOG_LINES);
    for (unsigned i = 0; i < a->log_count; i++) {
        check_log_line(&a->log[i]);
        size_t n = strlen(r->logs);
        snprintf(r->logs + n, sizeof r->logs - n, "%s\n", a->log[i].text);
    }
    check_invariants(r);
}

static void mark(rig_t *r)
{
    r->n_ap_start = r->n_ap_stop = r->n_sta_start = r->n_sta_stop = r->n_scan = r->n_save = 0;
    r->logs[0] = '\0';
}

static void rig_init(rig_t *r, const wifi_prov_cfg_t *c, uint32_t now)
{
    memset(r, 0, sizeof *r);
    r->now = now;
    assert_int_equal(wifi_prov_init(&r->m, c, &k_ident, now, NULL), TB_OK);
    check_invariants(r);
}

static int send(rig_t *r, wifi_prov_ev_t ev)
{
    if (ev.type == WIFI_PROV_EV_STARTED) {
        r->ap = r->sta = r->scan = false; /* a (re)started driver runs nothing */
    }
    bool was_off = wifi_prov_state(&r->m) == WIFI_PROV_OFF;
    if (!was_off && ev.type == WIFI_PROV_EV_STA_DISCONNECTED && ev.reason != WIFI_PROV_REASON_LEAVE &&
        wifi_prov_state(&r->m) != WIFI_PROV_SETUP && wifi_prov_state(&r->m) != WIFI_PROV_WAITING) {
        r->sta = false; /* the driver's attempt or connection is over */
    }
    if (!was_off && ev.type == WIFI_PROV_EV_SCAN_DONE && r->scan) {
        r->scan = false;
    }
    r->rc = wifi_prov_event(&r->m, &ev, r->now, &r->a);
    absorb(r);
    return r->rc;
}

static int ev(rig_t *r, wifi_prov_ev_type_t t)
{
    return send(r, (wifi_prov_ev_t){.type = t});
}

static int disc(rig_t *r, wifi_prov_reason_t why)
{
    return send(r, (wifi_prov_ev_t){.type = WIFI_PROV_EV_STA_DISCONNECTED, .reason = why});
}

static int scan_done(rig_t *r, uint16_t n)
{
    return send(r, (wifi_prov_ev_t){.type = WIFI_PROV_EV_SCAN_DONE, .scan_count = n});
}

static int user(rig_t *r, const char *ssid, const char *pw)
{
    return send(r, (wifi_prov_ev_t){.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = ssid, .password = pw});
}

static int config(rig_t *r, const wifi_prov_cfg_t *c)
{
    return send(r, (wifi_prov_ev_t){.type = WIFI_PROV_EV_CONFIG_CHANGED, .cfg = c});
}

static void tick(rig_t *r)
{
    wifi_prov_tick(&r->m, r->now, &r->a);
    absorb(r);
}

/* Let time pass by ms, ticking at every deadline on the way (as the port does). */
static void advance(rig_t *r, uint32_t ms)
{
    uint32_t end = r->now + ms;
    for (;;) {
        uint32_t next = wifi_prov_next_ms(&r->m, r->now);
        uint32_t left = end - r->now;
        if (next > left) {
            r->now = end;
            tick(r); /* harmless when nothing is due */
            return;
        }
        r->now += next;
        tick(r);
    }
}

/* Let time pass until the next deadline and tick there; returns how long that was. */
static uint32_t to_next(rig_t *r)
{
    uint32_t next = wifi_prov_next_ms(&r->m, r->now);
    r->now += next;
    tick(r);
    return next;
}

static wifi_prov_state_t st_of(const rig_t *r)
{
    return wifi_prov_state(&r->m);
}

static void scan_settle(rig_t *r)
{
    if (r->scan) {
        scan_done(r, 3);
    }
}

/* ---- identity, names, init --------------------------------------------------------------------- */

static void init_and_identity(void **state)
{
    (void)state;
    wifi_prov_t m;
    wifi_prov_cfg_t c = cfg_with("", "");
    const char *why = NULL;
    assert_int_equal(wifi_prov_init(&m, &c, &k_ident, 0, &why), TB_OK);
    assert_string_equal(wifi_prov_ap_ssid(&m), "TinyBMS-3F2A");
    /* key bytes 1..12 -> symbols 1..C of the setup-code alphabet, in groups of four */
    assert_string_equal(wifi_prov_ap_password(&m), "1234-5678-9ABC");
    assert_int_equal(wifi_prov_check_password(wifi_prov_ap_password(&m), NULL), TB_OK);
    assert_int_equal(wifi_prov_state(&m), WIFI_PROV_OFF);

    /* the password follows the key bytes, not the MAC: same MAC, other key -> other password */
    wifi_prov_ident_t id2 = k_ident;
    id2.key[0] = 0xFF; /* 31 -> 'Z' */
    id2.key[11] = 0x20; /* 32 & 31 = 0 -> '0' */
    assert_int_equal(wifi_prov_init(&m, &c, &id2, 0, NULL), TB_OK);
    assert_string_equal(wifi_prov_ap_password(&m), "Z234-5678-9AB0");
    assert_string_equal(wifi_prov_ap_ssid(&m), "TinyBMS-3F2A");
    id2.mac_tail[0] = 0x00;
    id2.mac_tail[1] = 0xE9;
    assert_int_equal(wifi_prov_init(&m, &c, &id2, 0, NULL), TB_OK);
    assert_string_equal(wifi_prov_ap_ssid(&m), "TinyBMS-00E9");
    assert_string_equal(wifi_prov_ap_password(&m), "Z234-5678-9AB0");

    /* refusals, each with a reason */
    assert_int_equal(wifi_prov_init(NULL, &c, &k_ident, 0, &why), TB_ERR_ARG);
    assert_int_equal(wifi_prov_init(&m, NULL, &k_ident, 0, &why), TB_ERR_ARG);
    assert_int_equal(wifi_prov_init(&m, &c, NULL, 0, &why), TB_ERR_ARG);
    assert_non_null(strstr(why, "identity"));
    wifi_prov_ident_t zero = {{1, 2}, {0}};
    assert_int_equal(wifi_prov_init(&m, &c, &zero, 0, &why), TB_ERR_RANGE);
    assert_string_equal(why, "the access point key bytes are all zero: pass random bytes");
    wifi_prov_cfg_t badc = cfg_with("Home", "short");
    assert_int_equal(wifi_prov_init(&m, &badc, &k_ident, 0, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "8 to 63"));
    badc = cfg_with("Home", "");
    badc.backoff_min_s = 100;
    badc.backoff_max_s = 10;
    assert_int_equal(wifi_prov_init(&m, &badc, &k_ident, 0, &why), TB_ERR_RANGE);
    assert_string_equal(why, "must not exceed wifi.backoff_max_s");
    assert_int_equal(wifi_prov_init(&m, &badc, &k_ident, 0, NULL), TB_ERR_RANGE); /* why optional */
}

static void names(void **state)
{
    (void)state;
    static const char *const states[] = {"off", "connecting", "waiting", "connected", "setup", "setup_connecting"};
    for (int i = 0; i < WIFI_PROV_STATE_COUNT; i++) {
        assert_string_equal(wifi_prov_state_name((wifi_prov_state_t)i), states[i]);
    }
    assert_string_equal(wifi_prov_state_name(WIFI_PROV_STATE_COUNT), "unknown");
    assert_string_equal(wifi_prov_state_name((wifi_prov_state_t)-1), "unknown");
    assert_string_equal(wifi_prov_reason_name(WIFI_PROV_REASON_AUTH), "wrong password");
    assert_string_equal(wifi_prov_reason_name(WIFI_PROV_REASON_NOT_FOUND), "network not found");
    assert_string_equal(wifi_prov_reason_name(WIFI_PROV_REASON_TIMEOUT), "timeout");
    assert_string_equal(wifi_prov_reason_name(WIFI_PROV_REASON_COUNT), "unknown");
}

/* ---- checks of credentials and of the section "wifi" ----------------------------------------------- */

static void credential_checks(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(wifi_prov_check_ssid("Home", &why), TB_OK);
    assert_int_equal(wifi_prov_check_ssid("Caf\xc3\xa9 WLAN 5 GHz", &why), TB_OK);
    assert_int_equal(wifi_prov_check_ssid("12345678901234567890123456789012", &why), TB_OK); /* 32 */
    assert_int_equal(wifi_prov_check_ssid("123456789012345678901234567890123", &why), TB_ERR_RANGE);
    assert_string_equal(why, "a network name (SSID) is at most 32 bytes");
    assert_int_equal(wifi_prov_check_ssid("", &why), TB_ERR_RANGE);
    assert_string_equal(why, "the network name is empty");
    assert_int_equal(wifi_prov_check_ssid("a\tb", &why), TB_ERR_RANGE);
    assert_string_equal(why, "the network name contains a control character");
    assert_int_equal(wifi_prov_check_ssid("a\x7f", &why), TB_ERR_RANGE);
    assert_int_equal(wifi_prov_check_ssid("caf\xe9", &why), TB_ERR_RANGE);
    assert_string_equal(why, "the network name is not valid UTF-8 text");
    assert_int_equal(wifi_prov_check_ssid(NULL, &why), TB_ERR_ARG);

    assert_int_equal(wifi_prov_check_password("", &why), TB_OK);
    assert_int_equal(wifi_prov_check_password("12345678", &why), TB_OK);
    assert_int_equal(wifi_prov_check_password("with spaces and ~!", &why), TB_OK);
    assert_int_equal(wifi_prov_check_password("123456789012345678901234567890123456789012345678901234567890123", &why),
                     TB_OK); /* 63 */
    assert_int_equal(
        wifi_prov_check_password("0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef", &why), TB_OK);
    assert_int_equal(wifi_prov_check_password("1234567", &why), TB_ERR_RANGE);
    assert_string_equal(why, "a WPA2 password is 8 to 63 characters (or 64 hex digits); empty for an open network");
    assert_int_equal(
        wifi_prov_check_password("0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdeg", &why),
        TB_ERR_RANGE);
    assert_non_null(strstr(why, "hexadecimal"));
    assert_int_equal(
        wifi_prov_check_password("0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef0", &why),
        TB_ERR_RANGE);
    assert_int_equal(wifi_prov_check_password("passw\xc3\xb6rd", &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "printable ASCII"));
    assert_int_equal(wifi_prov_check_password("pass\nword", &why), TB_ERR_RANGE);
    assert_int_equal(wifi_prov_check_password(NULL, &why), TB_ERR_ARG);
}

static int apply(gw_config_t *c, const char *json, cfg_diag_t *d)
{
    return gw_config_apply_json(c, json, strlen(json), 0, d);
}

static char g_buf[256 * 1024];

/* The section is registered like the others: defaults, loading, refusals naming the key, the
 * secret never shown, the rows in the schema. */
static void config_section(void **state)
{
    (void)state;
    gw_config_t c;
    cfg_diag_t d;
    gw_config_defaults(&c);
    assert_string_equal(c.wifi.ssid, "");
    assert_string_equal(c.wifi.password, "");
    assert_int_equal(c.wifi.sta_attempts, 5);
    assert_int_equal(c.wifi.auth_attempts, 2);
    assert_int_equal(c.wifi.backoff_min_s, 2);
    assert_int_equal(c.wifi.backoff_max_s, 60);
    assert_int_equal(c.wifi.connect_timeout_s, 30);
    assert_int_equal(c.wifi.ap_after_lost_s, 300);
    assert_int_equal(c.wifi.ap_retry_s, 120);
    assert_int_equal(gw_config_check(&c, &d), TB_OK);
    assert_int_equal(wifi_prov_cfg_check(&c.wifi, NULL, NULL), TB_OK);

    assert_int_equal(apply(&c, "{\"wifi\":{\"ssid\":\"Home\",\"password\":\"s3cretpass\",\"sta_attempts\":3,"
                               "\"auth_attempts\":1,\"backoff_min_s\":5,\"backoff_max_s\":5,\"connect_timeout_s\":20,"
                               "\"ap_after_lost_s\":60,\"ap_retry_s\":600}}",
                           &d),
                     TB_OK);
    assert_string_equal(c.wifi.ssid, "Home");
    assert_string_equal(c.wifi.password, "s3cretpass");
    assert_int_equal(c.wifi.ap_retry_s, 600);

    static const struct {
        const char *json, *key, *msg;
    } bad[] = {
        {"{\"wifi\":{\"ssid\":\"123456789012345678901234567890123\"}}", "wifi.ssid", NULL},
        {"{\"wifi\":{\"ssid\":\"a\\u0001b\"}}", "wifi.ssid", NULL}, /* refused by the row itself */
        {"{\"wifi\":{\"password\":\"short\"}}", "wifi.password",
         "wifi.password: a WPA2 password is 8 to 63 characters (or 64 hex digits); empty for an open network"},
        {"{\"wifi\":{\"password\":\"0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdeX\"}}",
         "wifi.password", NULL},
        {"{\"wifi\":{\"backoff_min_s\":61}}", "wifi.backoff_min_s",
         "wifi.backoff_min_s: must not exceed wifi.backoff_max_s"},
        {"{\"wifi\":{\"sta_attempts\":0}}", "wifi.sta_attempts", "wifi.sta_attempts = 0 is out of range: allowed 1..100"},
        {"{\"wifi\":{\"auth_attempts\":101}}", "wifi.auth_attempts", NULL},
        {"{\"wifi\":{\"backoff_max_s\":3601}}", "wifi.backoff_max_s", NULL},
        {"{\"wifi\":{\"connect_timeout_s\":4}}", "wifi.connect_timeout_s",
         "wifi.connect_timeout_s = 4 is out of range: allowed 5..300 s"},
        {"{\"wifi\":{\"ap_after_lost_s\":9}}", "wifi.ap_after_lost_s", NULL},
        {"{\"wifi\":{\"ap_retry_s\":86401}}", "wifi.ap_retry_s", NULL},
        {"{\"wifi\":{\"ap_retry_s\":\"often\"}}", "wifi.ap_retry_s", NULL},
        {"{\"wifi\":{\"ap_password\":\"x\"}}", "wifi.ap_password", "unknown key 'wifi.ap_password'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_config_t w;
        gw_config_defaults(&w);
        assert_int_not_equal(apply(&w, bad[i].json, &d), TB_OK);
        assert_string_equal(d.key, bad[i].key);
        if (bad[i].msg) {
            assert_string_equal(d.message, bad[i].msg);
        }
        assert_null(strstr(d.message, "s3cretpass"));
    }

    /* the password is a secret: never in the API's rendering, kept when "" comes back */
    assert_true(gw_config_to_json(&c, g_buf, sizeof g_buf, 0) > 0);
    assert_null(strstr(g_buf, "s3cretpass"));
    assert_non_null(strstr(g_buf, "\"ssid\":\"Home\""));
    assert_true(gw_config_to_json(&c, g_buf, sizeof g_buf, GW_CFG_OUT_SECRETS) > 0);
    assert_non_null(strstr(g_buf, "s3cretpass"));
    const char *keep = "{\"wifi\":{\"password\":\"\"}}";
    assert_int_equal(gw_config_apply_json(&c, keep, strlen(keep), GW_CFG_SECRETS_KEEP_EMPTY, &d), TB_OK);
    assert_string_equal(c.wifi.password, "s3cretpass");

    /* documented in the generated file and the schema */
    assert_true(gw_config_to_json(&c, g_buf, sizeof g_buf, GW_CFG_OUT_COMMENTS | GW_CFG_OUT_SECRETS) > 0);
    assert_non_null(strstr(g_buf, "\"wifi\": {"));
    assert_non_null(strstr(g_buf, "\"ap_retry_s\": 600"));
    assert_true(gw_config_schema_json(g_buf, sizeof g_buf) > 0);
    assert_non_null(strstr(g_buf, "\"key\":\"wifi.ssid\""));
    assert_non_null(strstr(g_buf, "\"key\":\"wifi.password\",\"type\":\"string\",\"unit\":\"\",\"max_length\":64,"
                                  "\"secret\":true"));
    for (size_t i = 0; i < wifi_prov_cfg_section.count; i++) {
        const cfg_param_t *p = &wifi_prov_cfg_section.params[i];
        assert_int_equal(strncmp(p->key, "wifi.", 5), 0);
        assert_true(strlen(cfg_param_doc(p)) > 20u);
        assert_ptr_equal(gw_config_find(&c, p->key, NULL), p);
    }
    assert_int_equal(wifi_prov_cfg_section.count, 9);
}

/* ---- state x event ------------------------------------------------------------------------------- */

enum { F_AP_START = 1, F_AP_STOP = 2, F_STA_START = 4, F_STA_STOP = 8, F_SCAN = 16, F_SAVE = 32 };
#define EV_TICK WIFI_PROV_EV_COUNT /* a tick at the next deadline, in the table */

static unsigned flags(const wifi_prov_actions_t *a)
{
    return (a->ap_start ? F_AP_START : 0u) | (a->ap_stop ? F_AP_STOP : 0u) | (a->sta_start ? F_STA_START : 0u) |
           (a->sta_stop ? F_STA_STOP : 0u) | (a->scan_start ? F_SCAN : 0u) | (a->save ? F_SAVE : 0u);
}

/* Reach each state the shortest way, the scan settled. */
static void reach(rig_t *r, wifi_prov_state_t s)
{
    wifi_prov_cfg_t home = cfg_with(HOME, HOME_PW), none = cfg_with("", "");
    rig_init(r, s == WIFI_PROV_SETUP ? &none : &home, 1000);
    if (s == WIFI_PROV_OFF) {
        return;
    }
    ev(r, WIFI_PROV_EV_STARTED);
    scan_settle(r);
    r->now += WIFI_PROV_SCAN_GAP_MS; /* a scan request is served at once (no deadline passes) */
    if (s == WIFI_PROV_WAITING) {
        disc(r, WIFI_PROV_REASON_NOT_FOUND);
    } else if (s == WIFI_PROV_CONNECTED) {
        ev(r, WIFI_PROV_EV_STA_CONNECTED);
    } else if (s == WIFI_PROV_SETUP_CONNECTING) {
        while (st_of(r) != WIFI_PROV_SETUP) {
            if (st_of(r) == WIFI_PROV_CONNECTING) {
                disc(r, WIFI_PROV_REASON_NOT_FOUND);
            } else {
                to_next(r);
            }
        }
        scan_settle(r);
        to_next(r); /* the AP round's attempt */
    }
    assert_int_equal(st_of(r), s);
    mark(r);
}

static void state_by_event(void **state)
{
    (void)state;
    const unsigned SS = F_STA_STOP | F_STA_START;
    static const struct {
        wifi_prov_state_t from;
        int ev;
        int rc;
        wifi_prov_state_t to;
        unsigned flags;
    } t[] = {
        /* off: nothing happens before the driver is up; the page gets an error */
        {WIFI_PROV_OFF, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_OFF, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_SCAN_REQUEST, TB_ERR_STATE, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_USER_SUBMITTED, TB_ERR_STATE, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_OFF, 0},
        {WIFI_PROV_OFF, EV_TICK, TB_OK, WIFI_PROV_OFF, 0},
        /* connecting (AP down) */
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_CONNECTED, 0},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_SCAN_REQUEST, TB_OK, WIFI_PROV_CONNECTING, 0}, /* after the attempt */
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_CONNECTING, 0},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_USER_SUBMITTED, TB_OK, WIFI_PROV_CONNECTING, SS},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_CONNECTING, 0},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_CONNECTING, 0},
        {WIFI_PROV_CONNECTING, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_CONNECTING, SS},
        {WIFI_PROV_CONNECTING, EV_TICK, TB_OK, WIFI_PROV_WAITING, F_STA_STOP}, /* connect time-out */
        /* waiting for the next attempt (AP down) */
        {WIFI_PROV_WAITING, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_SCAN_REQUEST, TB_OK, WIFI_PROV_WAITING, F_SCAN},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_USER_SUBMITTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_WAITING, 0},
        {WIFI_PROV_WAITING, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_WAITING, EV_TICK, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        /* connected (AP down) */
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_CONNECTED, 0},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START}, /* lost */
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_SCAN_REQUEST, TB_OK, WIFI_PROV_CONNECTED, F_SCAN},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_CONNECTED, 0},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_USER_SUBMITTED, TB_OK, WIFI_PROV_CONNECTING, SS},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_CONNECTED, 0},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_CONNECTED, 0},
        {WIFI_PROV_CONNECTED, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_CONNECTING, SS},
        {WIFI_PROV_CONNECTED, EV_TICK, TB_OK, WIFI_PROV_CONNECTED, 0},
        /* setup: AP up, nothing saved */
        {WIFI_PROV_SETUP, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_SETUP, F_AP_START | F_SCAN},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_SCAN_REQUEST, TB_OK, WIFI_PROV_SETUP, F_SCAN},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_USER_SUBMITTED, TB_OK, WIFI_PROV_SETUP_CONNECTING, F_STA_START},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_SETUP_CONNECTING, F_STA_START},
        {WIFI_PROV_SETUP, EV_TICK, TB_OK, WIFI_PROV_SETUP, 0},
        /* setup_connecting: AP up, the AP round's attempt at the saved network */
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_STARTED, TB_OK, WIFI_PROV_CONNECTING, F_STA_START},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_STA_CONNECTED, TB_OK, WIFI_PROV_CONNECTED, F_AP_STOP},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_STA_DISCONNECTED, TB_OK, WIFI_PROV_SETUP, 0},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_SCAN_REQUEST, TB_OK, WIFI_PROV_SETUP_CONNECTING, 0},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_SCAN_DONE, TB_OK, WIFI_PROV_SETUP_CONNECTING, 0},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_USER_SUBMITTED, TB_OK, WIFI_PROV_SETUP_CONNECTING, SS},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_AP_CLIENT_JOINED, TB_OK, WIFI_PROV_SETUP, F_STA_STOP},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_AP_CLIENT_LEFT, TB_OK, WIFI_PROV_SETUP_CONNECTING, 0},
        {WIFI_PROV_SETUP_CONNECTING, WIFI_PROV_EV_CONFIG_CHANGED, TB_OK, WIFI_PROV_SETUP_CONNECTING, SS},
        {WIFI_PROV_SETUP_CONNECTING, EV_TICK, TB_OK, WIFI_PROV_SETUP, F_STA_STOP},
    };
    assert_int_equal(sizeof t / sizeof t[0], (size_t)WIFI_PROV_STATE_COUNT * (WIFI_PROV_EV_COUNT + 1u));
    wifi_prov_cfg_t changed = cfg_with("Changed", "changed-pw");
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        rig_t r;
        reach(&r, t[i].from);
        int rc = TB_OK;
        switch (t[i].ev) {
        case WIFI_PROV_EV_STA_DISCONNECTED:
            rc = disc(&r, WIFI_PROV_REASON_NOT_FOUND);
            break;
        case WIFI_PROV_EV_SCAN_DONE:
            rc = scan_done(&r, 4);
            break;
        case WIFI_PROV_EV_USER_SUBMITTED:
            rc = user(&r, OTHER, OTHER_PW);
            break;
        case WIFI_PROV_EV_CONFIG_CHANGED:
            rc = config(&r, &changed);
            break;
        case EV_TICK:
            to_next(&r);
            break;
        default:
            rc = ev(&r, (wifi_prov_ev_type_t)t[i].ev);
            break;
        }
        if (rc != t[i].rc || st_of(&r) != t[i].to || flags(&r.a) != t[i].flags) {
            print_error("row %zu: %s + event %d: rc %d state %s flags %#x (expected rc %d state %s flags %#x)\n", i,
                        wifi_prov_state_name(t[i].from), t[i].ev, rc, wifi_prov_state_name(st_of(&r)), flags(&r.a),
                        t[i].rc, wifi_prov_state_name(t[i].to), t[i].flags);
            fail();
        }
    }
}

/* ---- time-outs, backoff, limits ---------------------------------------------------------------------- */

/* Boot: not found 5 times with 2, 4, 8, 16 s between -> AP; exact deadlines from next_ms. */
static void boot_failures_open_the_ap(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 5000);
    ev(&r, WIFI_PROV_EV_STARTED);
    assert_int_equal(r.n_sta_start, 1);
    assert_string_equal(r.last_sta_ssid, HOME);
    assert_string_equal(r.last_sta_pw, HOME_PW);
    assert_non_null(strstr(r.logs, "Joining the Wi-Fi network \"Home\" (attempt 1 of 5)."));
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), 30000); /* connect time-out */
    static const uint32_t waits[] = {2000, 4000, 8000, 16000};
    for (int i = 0; i < 4; i++) {
        r.now += 700;
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        assert_int_equal(st_of(&r), WIFI_PROV_WAITING);
        assert_int_equal(wifi_prov_next_ms(&r.m, r.now), waits[i]);
        wifi_prov_status_t st;
        wifi_prov_status(&r.m, r.now, &st);
        assert_int_equal(st.next_attempt_ms, waits[i]);
        assert_int_equal(st.failures, (uint32_t)i + 1u);
        assert_int_equal(st.last_failure, WIFI_PROV_REASON_NOT_FOUND);
        /* a tick one millisecond early does nothing */
        r.now += waits[i] - 1u;
        mark(&r);
        tick(&r);
        assert_int_equal(flags(&r.a), 0);
        assert_int_equal(r.a.log_count, 0);
        r.now += 1u;
        tick(&r);
        assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
        assert_int_equal(r.n_sta_start, 1);
    }
    mark(&r);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(r.n_ap_start, 1);
    assert_int_equal(r.n_scan, 1);
    assert_non_null(strstr(r.logs, "Could not join the Wi-Fi network \"Home\" (network not found, 5 failed attempts)."));
    assert_non_null(strstr(r.logs, "Opening the Wi-Fi setup access point TinyBMS-3F2A because the saved network "
                                   "cannot be joined."));
    const wifi_prov_counters_t *k = wifi_prov_counters(&r.m);
    assert_int_equal(k->attempts, 5);
    assert_int_equal(k->fail_not_found, 5);
    assert_int_equal(k->ap_starts, 1);
}

/* Doubling from backoff_min_s stops at backoff_max_s; each reason is counted as itself. */
static void backoff_growth_and_cap(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    c.sta_attempts = 100;
    c.auth_attempts = 100;
    c.backoff_min_s = 3;
    c.backoff_max_s = 40;
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    static const uint32_t expect[] = {3000, 6000, 12000, 24000, 40000, 40000, 40000, 40000};
    static const wifi_prov_reason_t why[] = {WIFI_PROV_REASON_NOT_FOUND, WIFI_PROV_REASON_OTHER,
                                             WIFI_PROV_REASON_AUTH, WIFI_PROV_REASON_OTHER};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (i % 5u == 4u) {
            assert_int_equal(to_next(&r), 30000); /* a time-out is a failure too */
        } else {
            disc(&r, why[i % 4u]);
        }
        assert_int_equal(st_of(&r), WIFI_PROV_WAITING);
        assert_int_equal(to_next(&r), expect[i]);
        assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
    }
    const wifi_prov_counters_t *k = wifi_prov_counters(&r.m);
    assert_int_equal(k->fail_timeout, 1);
    assert_int_equal(k->fail_auth, 2);
    assert_int_equal(k->fail_not_found, 1);
    assert_int_equal(k->fail_other, 4);

    /* after a loss the count is unlimited: 1 s doubling to 3600 s, then 3600 s for ever */
    c.backoff_min_s = 1;
    c.backoff_max_s = 3600;
    c.ap_after_lost_s = 86400;
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    disc(&r, WIFI_PROV_REASON_OTHER);
    uint32_t want = 1000;
    for (int i = 0; i < 20; i++) {
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        assert_int_equal(to_next(&r), want);
        want = want * 2u > 3600000u ? 3600000u : want * 2u;
    }
    assert_false(r.ap);
    assert_int_equal(want, 3600000);
}

/* A wrong password opens the AP after auth_attempts, sooner than sta_attempts; a not-found
 * in between does not reset the count. */
static void auth_failures_count_differently(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_WAITING);
    to_next(&r);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    to_next(&r);
    mark(&r);
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(wifi_prov_counters(&r.m)->attempts, 3);
    assert_non_null(strstr(r.logs, "because the saved password was refused."));
    /* with auth_attempts = 1 the first wrong password is enough */
    c.auth_attempts = 1;
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
}

/* No answer at all: the connect time-out fails the attempt and stops it. */
static void connect_timeout(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    c.connect_timeout_s = 7;
    c.sta_attempts = 2;
    rig_init(&r, &c, 100);
    ev(&r, WIFI_PROV_EV_STARTED);
    mark(&r);
    assert_int_equal(to_next(&r), 7000);
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_WAITING);
    assert_non_null(strstr(r.logs, "(timeout); next attempt in 2 s."));
    assert_int_equal(to_next(&r), 2000);
    assert_int_equal(to_next(&r), 7000);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP); /* the second time-out reaches sta_attempts */
    assert_int_equal(wifi_prov_counters(&r.m)->fail_timeout, 2);
    /* the AP round's attempts time out as well, and are retried after ap_retry_s */
    scan_settle(&r);
    assert_int_equal(to_next(&r), 120000);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    mark(&r);
    assert_int_equal(to_next(&r), 7000);
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), 120000);
}

/* Scans: one when the AP opens, gaps between them, merged requests, the time-out, never during
 * an attempt, and an attempt that falls due during a scan waits for its end. */
static void scans(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t none = cfg_with("", "");
    rig_init(&r, &none, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    assert_int_equal(r.n_scan, 1);
    assert_true(r.scan);
    ev(&r, WIFI_PROV_EV_SCAN_REQUEST); /* merged into the running one */
    r.now += 2500;
    scan_done(&r, 7);
    wifi_prov_status_t st;
    wifi_prov_status(&r.m, r.now, &st);
    assert_int_equal(st.scan_results, 7);
    assert_false(st.scanning);
    mark(&r);
    r.now += 1000;
    ev(&r, WIFI_PROV_EV_SCAN_REQUEST); /* within the gap: later */
    assert_int_equal(r.n_scan, 0);
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), WIFI_PROV_SCAN_GAP_MS - 1000u);
    to_next(&r);
    assert_int_equal(r.n_scan, 1);
    /* no result: given up after the time-out */
    mark(&r);
    assert_int_equal(to_next(&r), WIFI_PROV_SCAN_TIMEOUT_MS);
    assert_non_null(strstr(r.logs, "The Wi-Fi scan gave no result within 15 s; it is given up."));
    assert_int_equal(wifi_prov_counters(&r.m)->scan_timeouts, 1);
    scan_done(&r, 2); /* late result: ignored */
    assert_int_equal(wifi_prov_counters(&r.m)->ignored, 1);

    /* an attempt blocks a scan; the scan starts when the attempt ends */
    r.now += WIFI_PROV_SCAN_GAP_MS;
    user(&r, OTHER, OTHER_PW);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    mark(&r);
    ev(&r, WIFI_PROV_EV_SCAN_REQUEST);
    assert_int_equal(r.n_scan, 0);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(r.n_scan, 1);
    /* ... and the next attempt of the trial, due during the scan, waits for its end */
    r.now += 2000;
    tick(&r);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), WIFI_PROV_SCAN_TIMEOUT_MS - 2000u);
    mark(&r);
    scan_done(&r, 5);
    assert_int_equal(r.n_sta_start, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
}

/* ---- the AP policy -------------------------------------------------------------------------------- */

/* Connected, the router goes away: immediate reconnect, backoff, AP exactly ap_after_lost_s after
 * the loss, attempts every ap_retry_s while the AP is up, and back to station mode. */
static void lost_network_ap_and_back(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    r.now += 3600000;
    mark(&r);
    disc(&r, WIFI_PROV_REASON_OTHER);
    uint32_t lost = r.now;
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
    assert_int_equal(r.n_sta_start, 1);
    assert_non_null(strstr(r.logs, "Lost the Wi-Fi network \"Home\" (connection failed); reconnecting, with the setup "
                                   "access point in 300 s if it does not come back."));
    assert_non_null(strstr(r.logs, "Reconnecting to the Wi-Fi network \"Home\" (attempt 1)."));
    /* the router is off: every attempt finds nothing after 3 s; far more than sta_attempts,
     * and no AP before the delay */
    while (!r.ap) {
        if (st_of(&r) == WIFI_PROV_CONNECTING && wifi_prov_next_ms(&r.m, r.now) > 3000u) {
            r.now += 3000;
            disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        } else {
            to_next(&r);
        }
    }
    assert_int_equal(r.n_sta_start, 9); /* at 0, 5, 12, 23, 42, 77, 140, 203 and 266 s */
    assert_int_equal(r.n_ap_start, 1);
    assert_int_equal(r.now, lost + 300000u); /* exactly on time */
    assert_non_null(strstr(r.logs, "because the Wi-Fi network has been lost for too long."));
    if (st_of(&r) == WIFI_PROV_SETUP_CONNECTING) { /* an attempt was running: it goes on */
        r.now += 3000;
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    }
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    /* AP up, nobody on it: the saved network every 120 s */
    scan_settle(&r);
    for (int i = 0; i < 3; i++) {
        mark(&r);
        assert_int_equal(to_next(&r), 120000);
        assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
        assert_string_equal(r.last_sta_ssid, HOME);
        assert_non_null(strstr(r.logs, "Trying the saved Wi-Fi network \"Home\" again; the setup access point stays "
                                       "open."));
        r.now += 4000;
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
        assert_int_equal(r.n_ap_stop, 0);
    }
    /* the router is back */
    to_next(&r);
    mark(&r);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    assert_int_equal(r.n_ap_stop, 1);
    assert_non_null(strstr(r.logs, "The setup access point is closed."));
    assert_int_equal(wifi_prov_counters(&r.m)->losses, 1);
}

/* After a loss, wrong passwords (the router's password changed) open the AP before the delay. */
static void lost_then_auth(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    disc(&r, WIFI_PROV_REASON_AUTH); /* the loss itself is not an attempt */
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_WAITING);
    to_next(&r);
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_true(r.now < 300000u);
}

/* A client on the AP: no automatic attempt starts, a running one is stopped, and the AP is never
 * torn down under it, even once the station has joined. */
static void ap_client_blocks_teardown(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    c.sta_attempts = 1;
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    scan_settle(&r);
    /* a client joins during the AP round's attempt: the attempt stops */
    to_next(&r);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    mark(&r);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_non_null(strstr(r.logs, "A client joined the setup access point; the attempt to join \"Home\" is stopped so "
                                   "that the setup page keeps working."));
    assert_int_equal(wifi_prov_counters(&r.m)->cancelled, 1);
    disc(&r, WIFI_PROV_REASON_LEAVE); /* the driver's answer to our stop */
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    /* a day with the client on it: no attempt, no teardown */
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED); /* a second client */
    mark(&r);
    advance(&r, 86400000u);
    assert_int_equal(r.n_sta_start + r.n_ap_stop + r.n_sta_stop, 0);
    wifi_prov_status_t st;
    wifi_prov_status(&r.m, r.now, &st);
    assert_int_equal(st.ap_clients, 2);
    assert_int_equal(st.next_attempt_ms, UINT32_MAX);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), wifi_prov_max_delay_ms(&r.m)); /* one is still there */
    mark(&r);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    assert_non_null(strstr(r.logs, "The setup access point has no client; the saved network \"Home\" is tried again "
                                   "in 120 s."));
    assert_int_equal(to_next(&r), 120000);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);

    /* the user submits on the page with the client present: that attempt runs, joins, and the AP
     * stays until the client leaves */
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    mark(&r);
    user(&r, OTHER, OTHER_PW);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED); /* another client: the user's attempt is not stopped */
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    assert_int_equal(r.n_ap_stop, 0);
    assert_non_null(strstr(r.logs, "The setup access point stays open until its last client leaves."));
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    assert_int_equal(r.n_ap_stop, 0);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    assert_int_equal(r.n_ap_stop, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    assert_non_null(strstr(r.logs, "The last client left the setup access point; it is closed."));
}

/* Connected with the AP kept open for a client, then the network drops: the AP round applies. */
static void lost_while_ap_lingers(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with("", "");
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    scan_settle(&r);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    user(&r, HOME, HOME_PW);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    assert_true(r.ap);
    mark(&r);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(r.n_sta_start, 0); /* the client is there */
    assert_non_null(strstr(r.logs, "Lost the Wi-Fi network \"Home\" (network not found); the setup access point is "
                                   "open."));
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    assert_int_equal(to_next(&r), 120000);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
}

/* ---- credentials from the setup page ------------------------------------------------------------------ */

/* First setup: wrong password twice -> nothing saved, reason shown; then right -> saved once. */
static void first_setup_trial(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t none = cfg_with("", "");
    rig_init(&r, &none, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    scan_settle(&r);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    mark(&r);
    assert_int_equal(user(&r, HOME, "wrong-password"), TB_OK);
    assert_string_equal(r.last_sta_pw, "wrong-password");
    wifi_prov_status_t st;
    wifi_prov_status(&r.m, r.now, &st);
    assert_true(st.trial);
    assert_string_equal(st.ssid, HOME);
    disc(&r, WIFI_PROV_REASON_AUTH);
    to_next(&r);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);
    disc(&r, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_int_equal(r.n_save, 0);
    assert_non_null(strstr(r.logs, "The Wi-Fi network \"Home\" entered on the setup page could not be joined (wrong "
                                   "password); nothing was saved."));
    wifi_prov_status(&r.m, r.now, &st);
    assert_false(st.trial);
    assert_false(st.configured);
    assert_int_equal(st.last_failure, WIFI_PROV_REASON_AUTH);
    assert_int_equal(st.next_attempt_ms, UINT32_MAX); /* nothing saved to retry */
    mark(&r);
    advance(&r, 3600000);
    assert_int_equal(r.n_sta_start, 0);
    /* right password */
    user(&r, HOME, HOME_PW);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(r.n_save, 1);
    assert_string_equal(r.last_save_ssid, HOME);
    assert_string_equal(r.last_save_pw, HOME_PW);
    assert_non_null(strstr(r.logs, "Joined the Wi-Fi network \"Home\" entered on the setup page; it is saved."));
    wifi_prov_status(&r.m, r.now, &st);
    assert_true(st.configured);
    const wifi_prov_counters_t *k = wifi_prov_counters(&r.m);
    assert_int_equal(k->trials, 2);
    assert_int_equal(k->trials_saved, 1);
    assert_int_equal(k->trials_failed, 1);
    /* the port stores them and reports the configuration back: nothing restarts */
    wifi_prov_cfg_t saved = cfg_with(HOME, HOME_PW);
    mark(&r);
    config(&r, &saved);
    assert_int_equal(flags(&r.a), 0);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
}

/* Credentials submitted while connected (over the LAN): a typo does not lose the network. */
static void submitted_while_connected(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    /* the same network again: nothing to do */
    mark(&r);
    user(&r, HOME, HOME_PW);
    assert_int_equal(flags(&r.a), 0);
    assert_non_null(strstr(r.logs, "Already connected to the Wi-Fi network \"Home\"."));
    /* another network with a typo: tried sta_attempts times, then back to the saved one */
    mark(&r);
    user(&r, OTHER, "typo-typo");
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(r.n_sta_start, 1);
    assert_string_equal(r.last_sta_ssid, OTHER);
    for (int i = 0; i < 4; i++) {
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        to_next(&r);
    }
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
    assert_string_equal(r.last_sta_ssid, HOME);
    assert_string_equal(r.last_sta_pw, HOME_PW);
    assert_int_equal(r.n_ap_start, 0);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(r.n_save, 0);
    /* a good one: saved once it worked, and from then on the saved network */
    mark(&r);
    user(&r, OTHER, OTHER_PW);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    assert_int_equal(r.n_save, 1);
    assert_string_equal(r.last_save_ssid, OTHER);
    disc(&r, WIFI_PROV_REASON_OTHER);
    assert_string_equal(r.last_sta_ssid, OTHER);
    /* a trial replaced by another trial counts the first as failed */
    user(&r, HOME, "another-one");
    user(&r, HOME, "and-another");
    const wifi_prov_counters_t *k = wifi_prov_counters(&r.m);
    assert_int_equal(k->trials, 4);
    assert_int_equal(k->trials_failed, 2);
    assert_int_equal(k->trials_saved, 1);
}

/* ---- configuration at run time ------------------------------------------------------------------------------ */

static void config_changes(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    /* before the start: taken, nothing happens */
    wifi_prov_cfg_t other = cfg_with(OTHER, OTHER_PW);
    assert_int_equal(config(&r, &other), TB_OK);
    assert_int_equal(flags(&r.a), 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    assert_string_equal(r.last_sta_ssid, OTHER);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);

    /* only numbers: nothing restarts */
    other.ap_retry_s = 600;
    mark(&r);
    config(&r, &other);
    assert_int_equal(flags(&r.a), 0);
    assert_int_equal(r.a.log_count, 0);
    /* lost, then ap_after_lost_s shortened below what is left: the new limit applies from now */
    disc(&r, WIFI_PROV_REASON_OTHER);
    r.now += 1000;
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    other.ap_after_lost_s = 10;
    other.backoff_min_s = 1;
    other.backoff_max_s = 1;
    config(&r, &other);
    assert_int_equal(wifi_prov_next_ms(&r.m, r.now), 1000); /* the backoff shrank too */
    advance(&r, 10000);
    assert_int_equal(st_of(&r) == WIFI_PROV_SETUP || st_of(&r) == WIFI_PROV_SETUP_CONNECTING, true);
    assert_int_equal(r.now, 11000);

    /* the SSID cleared: the saved network is no more; the AP stays, no attempts */
    if (st_of(&r) == WIFI_PROV_SETUP_CONNECTING) {
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    }
    wifi_prov_cfg_t none = cfg_with("", "");
    mark(&r);
    config(&r, &none);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_non_null(strstr(r.logs, "The Wi-Fi network setting was cleared."));
    wifi_prov_status_t st;
    wifi_prov_status(&r.m, r.now, &st);
    assert_int_equal(st.next_attempt_ms, UINT32_MAX);

    /* cleared while connected: the station stops, the AP opens */
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    mark(&r);
    config(&r, &none);
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(r.n_ap_start, 1);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
    assert_non_null(strstr(r.logs, "because no Wi-Fi network is saved."));

    /* new credentials from the configuration replace a running trial */
    scan_settle(&r);
    user(&r, OTHER, OTHER_PW);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    mark(&r);
    config(&r, &c);
    assert_int_equal(r.n_sta_stop, 1);
    assert_int_equal(r.n_sta_start, 1);
    assert_string_equal(r.last_sta_ssid, HOME);
    wifi_prov_status(&r.m, r.now, &st);
    assert_false(st.trial);
    /* a configuration change is the user's act: its round runs although a client is on the AP */
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    to_next(&r);
    assert_int_equal(st_of(&r), WIFI_PROV_SETUP_CONNECTING);

    /* a password-only change counts as new credentials */
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    wifi_prov_cfg_t c2 = cfg_with(HOME, "new-password");
    mark(&r);
    config(&r, &c2);
    assert_int_equal(flags(&r.a), F_STA_STOP | F_STA_START);
    assert_string_equal(r.last_sta_pw, "new-password");
}

/* ---- bad input, stale events, the clock wrapping ----------------------------------------------------------- */

static void bad_input_changes_nothing(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    wifi_prov_cfg_t bad = cfg_with(HOME, HOME_PW);
    bad.ap_retry_s = 5;
    wifi_prov_cfg_t bad2 = cfg_with("a\nb", "");
    char ssid33[34];
    memset(ssid33, 'x', 33);
    ssid33[33] = '\0';
    static const char *const whys[] = {
        "unknown event",
        "unknown event",
        "a disconnection needs a reason: auth, not found, other or leave",
        "a disconnection needs a reason: auth, not found, other or leave",
        "a disconnection needs a reason: auth, not found, other or leave",
        "the network name is empty",
        "a network name (SSID) is at most 32 bytes",
        "no network name given",
        "no password given",
        "a WPA2 password is 8 to 63 characters (or 64 hex digits); empty for an open network",
        "out of range",
        "the network name contains a control character",
        "no configuration given",
    };
    const wifi_prov_ev_t evs[] = {
        {.type = WIFI_PROV_EV_COUNT},
        {.type = (wifi_prov_ev_type_t)-1},
        {.type = WIFI_PROV_EV_STA_DISCONNECTED, .reason = WIFI_PROV_REASON_NONE},
        {.type = WIFI_PROV_EV_STA_DISCONNECTED, .reason = WIFI_PROV_REASON_TIMEOUT},
        {.type = WIFI_PROV_EV_STA_DISCONNECTED, .reason = WIFI_PROV_REASON_COUNT},
        {.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = "", .password = ""},
        {.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = ssid33, .password = ""},
        {.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = NULL, .password = ""},
        {.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = "x", .password = NULL},
        {.type = WIFI_PROV_EV_USER_SUBMITTED, .ssid = "x", .password = "1234567"},
        {.type = WIFI_PROV_EV_CONFIG_CHANGED, .cfg = &bad},
        {.type = WIFI_PROV_EV_CONFIG_CHANGED, .cfg = &bad2},
        {.type = WIFI_PROV_EV_CONFIG_CHANGED, .cfg = NULL},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        wifi_prov_t before = r.m;
        assert_int_equal(wifi_prov_event(&r.m, &evs[i], r.now, &r.a), TB_ERR_ARG);
        assert_string_equal(r.a.why, whys[i]);
        assert_int_equal(flags(&r.a), 0);
        assert_int_equal(r.a.log_count, 1);
        assert_int_equal(r.a.log[0].level, LOG_WARN);
        check_log_line(&r.a.log[0]);
        assert_non_null(strstr(r.a.log[0].text, whys[i]));
        assert_int_equal(r.m.counters.rejected, before.counters.rejected + 1u);
        before.counters.rejected++;
        assert_memory_equal(&before, &r.m, sizeof before);
    }
    assert_string_equal(r.a.log[0].text, "Wi-Fi: the new configuration was refused: wifi: no configuration given.");
    assert_int_equal(wifi_prov_event(&r.m, &evs[10], r.now, &r.a), TB_ERR_ARG);
    assert_string_equal(r.a.log[0].text, "Wi-Fi: the new configuration was refused: wifi.ap_retry_s: out of range.");
    assert_int_equal(wifi_prov_event(&r.m, NULL, r.now, &r.a), TB_ERR_ARG);
    assert_int_equal(wifi_prov_event(NULL, &evs[0], r.now, &r.a), TB_ERR_ARG);
    assert_int_equal(wifi_prov_event(&r.m, &evs[0], r.now, NULL), TB_ERR_ARG);
    wifi_prov_tick(NULL, 0, &r.a);
    wifi_prov_tick(&r.m, 0, NULL);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);

    /* before the start, the page is told so */
    rig_init(&r, &c, 0);
    assert_int_equal(user(&r, OTHER, OTHER_PW), TB_ERR_STATE);
    assert_string_equal(r.a.why, "Wi-Fi is not started yet");
    assert_int_equal(ev(&r, WIFI_PROV_EV_SCAN_REQUEST), TB_ERR_STATE);
}

/* Results for attempts that were stopped, our own disconnections, clients of an AP that is down. */
static void stale_events_are_ignored(void **state)
{
    (void)state;
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    uint32_t ign = wifi_prov_counters(&r.m)->ignored;
    mark(&r);
    disc(&r, WIFI_PROV_REASON_LEAVE); /* our own esp_wifi_disconnect() */
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    scan_done(&r, 1);
    assert_int_equal(flags(&r.a), 0);
    assert_int_equal(r.n_sta_start + r.n_sta_stop + r.n_ap_start, 0);
    assert_int_equal(wifi_prov_counters(&r.m)->ignored, ign + 5u);
    /* a second STARTED: the driver restarted, everything starts over */
    mark(&r);
    ev(&r, WIFI_PROV_EV_STARTED);
    assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
    assert_non_null(strstr(r.logs, "Wi-Fi restarted; joining the saved network \"Home\"."));
    assert_int_equal(wifi_prov_counters(&r.m)->starts, 2);
}

/* The whole boot -> AP -> retry -> back story with now_ms crossing UINT32_MAX on the way. */
static void wrap_around(void **state)
{
    (void)state;
    for (uint32_t k = 0; k < 5u; k++) {
        uint32_t start = UINT32_MAX - 30000u + 7000u * k; /* the boot story takes 32.5 s */
        rig_t r;
        wifi_prov_cfg_t c = cfg_with(HOME, HOME_PW);
        rig_init(&r, &c, start);
        ev(&r, WIFI_PROV_EV_STARTED);
        static const uint32_t waits[] = {2000, 4000, 8000, 16000};
        for (int i = 0; i < 4; i++) {
            r.now += 500;
            disc(&r, WIFI_PROV_REASON_NOT_FOUND);
            assert_int_equal(to_next(&r), waits[i]);
            assert_int_equal(st_of(&r), WIFI_PROV_CONNECTING);
        }
        r.now += 500;
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        assert_int_equal(st_of(&r), WIFI_PROV_SETUP);
        assert_true(r.now < start); /* wrapped */
        scan_settle(&r);
        assert_int_equal(to_next(&r), 120000);
        ev(&r, WIFI_PROV_EV_STA_CONNECTED);
        assert_int_equal(st_of(&r), WIFI_PROV_CONNECTED);
        assert_false(r.ap);
        /* a loss across the wrap: the AP after exactly 300 s */
        rig_init(&r, &c, start);
        ev(&r, WIFI_PROV_EV_STARTED);
        ev(&r, WIFI_PROV_EV_STA_CONNECTED);
        r.now = UINT32_MAX - 100000u;
        disc(&r, WIFI_PROV_REASON_OTHER);
        uint32_t lost = r.now;
        while (!r.ap) {
            if (st_of(&r) == WIFI_PROV_CONNECTING) {
                disc(&r, WIFI_PROV_REASON_NOT_FOUND);
            } else {
                to_next(&r);
            }
        }
        assert_int_equal(r.now - lost, 300000u);
    }
}

/* ---- the random walk: 100 000 sequences, invariants after every step --------------------------------------- */

static uint64_t g_rng;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: fixed seed, same walk on every run */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

/* 32 bytes: the longest SSID, so that every sentence is checked at its longest */
#define S32 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"

static wifi_prov_cfg_t random_cfg(void)
{
    static const char *const ssids[] = {"", HOME, OTHER, S32};
    static const char *const pws[] = {"", HOME_PW, OTHER_PW};
    wifi_prov_cfg_t c = cfg_with(ssids[rnd(4)], pws[rnd(3)]);
    c.sta_attempts = (int32_t)(1u + rnd(6));
    c.auth_attempts = (int32_t)(1u + rnd(3));
    c.backoff_min_s = (int32_t)(1u + rnd(5));
    c.backoff_max_s = c.backoff_min_s + (int32_t)rnd(40);
    c.connect_timeout_s = (int32_t)(5u + rnd(30));
    c.ap_after_lost_s = (int32_t)(10u + rnd(200));
    c.ap_retry_s = (int32_t)(30u + rnd(150));
    return c;
}

static void random_walk(void **state)
{
    (void)state;
    g_rng = 0x9E3779B97F4A7C15ULL;
    static const wifi_prov_reason_t reasons[] = {WIFI_PROV_REASON_AUTH, WIFI_PROV_REASON_NOT_FOUND,
                                                 WIFI_PROV_REASON_OTHER, WIFI_PROV_REASON_LEAVE};
    static const char *const ssids[] = {HOME, OTHER, S32, ""};
    static const char *const pws[] = {HOME_PW, OTHER_PW, "", "bad"};
    unsigned long steps = 0, reached[WIFI_PROV_STATE_COUNT] = {0};
    unsigned max_lines = 0;
    for (unsigned seq = 0; seq < 100000u; seq++) {
        rig_t r;
        wifi_prov_cfg_t c = random_cfg();
        /* a quarter of the walks start just before the wrap */
        uint32_t start = rnd(4) == 0 ? UINT32_MAX - rnd(600000) : rnd(UINT32_MAX);
        rig_init(&r, &c, start);
        unsigned len = 10u + rnd(50);
        for (unsigned k = 0; k < len; k++) {
            uint32_t pick = rnd(100);
            if (k == 0 && rnd(8) != 0) {
                pick = 0; /* usually start first */
            }
            if (pick < 3) {
                ev(&r, WIFI_PROV_EV_STARTED);
            } else if (pick < 15) {
                /* a driver result only when something runs (a real driver does not make them up)
                 * or, rarely, as a stale one */
                if (r.sta || rnd(10) == 0) {
                    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
                }
            } else if (pick < 32) {
                if (r.sta || rnd(10) == 0) {
                    disc(&r, reasons[rnd(4)]);
                }
            } else if (pick < 37) {
                ev(&r, WIFI_PROV_EV_SCAN_REQUEST);
            } else if (pick < 42) {
                if (r.scan || rnd(10) == 0) {
                    scan_done(&r, (uint16_t)rnd(20));
                }
            } else if (pick < 47) {
                int rc = user(&r, ssids[rnd(4)], pws[rnd(4)]);
                assert_true(rc == TB_OK || rc == TB_ERR_ARG || rc == TB_ERR_STATE);
            } else if (pick < 53) {
                if (r.ap || rnd(10) == 0) {
                    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
                }
            } else if (pick < 59) {
                ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
            } else if (pick < 62) {
                wifi_prov_cfg_t nc = random_cfg();
                if (rnd(10) == 0) {
                    nc.backoff_min_s = nc.backoff_max_s + 1; /* refused, changes nothing */
                    wifi_prov_t before = r.m;
                    assert_int_equal(config(&r, &nc), TB_ERR_ARG);
                    before.counters.rejected++;
                    assert_memory_equal(&before, &r.m, sizeof before);
                } else {
                    assert_int_equal(config(&r, &nc), TB_OK);
                }
            } else if (pick < 80) {
                /* a tick early does nothing at all */
                uint32_t next = wifi_prov_next_ms(&r.m, r.now);
                if (next > 1u) {
                    wifi_prov_t before = r.m;
                    r.now += rnd(next - 1u);
                    tick(&r);
                    assert_int_equal(flags(&r.a), 0);
                    assert_int_equal(r.a.log_count, 0);
                    assert_memory_equal(&before, &r.m, sizeof before);
                }
            } else if (pick < 97) {
                to_next(&r);
            } else {
                r.now += rnd(wifi_prov_max_delay_ms(&r.m)); /* the port was late */
                tick(&r);
            }
            if (r.a.log_count > max_lines) {
                max_lines = r.a.log_count;
            }
            reached[st_of(&r)]++;
            steps++;
        }
    }
    for (int s = 0; s < WIFI_PROV_STATE_COUNT; s++) {
        assert_true(reached[s] > 1000u); /* the walk visits every state */
    }
    print_message("random walk: %lu steps; states off %lu, connecting %lu, waiting %lu, connected %lu, setup %lu, "
                  "setup_connecting %lu; at most %u log lines per step\n",
                  steps, reached[0], reached[1], reached[2], reached[3], reached[4], reached[5], max_lines);
}

/* The longest line fits: every sentence with a 32-byte SSID. */
static void longest_lines_fit(void **state)
{
    (void)state;
    const char *s32 = S32;
    assert_int_equal(strlen(s32), 32);
    rig_t r;
    wifi_prov_cfg_t c = cfg_with(s32, HOME_PW);
    c.sta_attempts = 100;
    c.auth_attempts = 100;
    c.ap_after_lost_s = 86400;
    c.ap_retry_s = 86400;
    c.backoff_max_s = 3600;
    rig_init(&r, &c, 0);
    ev(&r, WIFI_PROV_EV_STARTED);
    for (int i = 0; i < 99; i++) {
        disc(&r, WIFI_PROV_REASON_NOT_FOUND);
        to_next(&r);
    }
    disc(&r, WIFI_PROV_REASON_NOT_FOUND); /* the hundredth: AP, with the longest messages */
    assert_true(r.ap);
    scan_settle(&r);
    to_next(&r);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    ev(&r, WIFI_PROV_EV_AP_CLIENT_LEFT);
    user(&r, s32, "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef");
    ev(&r, WIFI_PROV_EV_AP_CLIENT_JOINED);
    ev(&r, WIFI_PROV_EV_STA_CONNECTED);
    disc(&r, WIFI_PROV_REASON_NOT_FOUND);
    assert_int_equal(wifi_prov_counters(&r.m)->log_truncated, 0);
    assert_int_equal(wifi_prov_counters(&r.m)->log_dropped, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_and_identity),
        cmocka_unit_test(names),
        cmocka_unit_test(credential_checks),
        cmocka_unit_test(config_section),
        cmocka_unit_test(state_by_event),
        cmocka_unit_test(boot_failures_open_the_ap),
        cmocka_unit_test(backoff_growth_and_cap),
        cmocka_unit_test(auth_failures_count_differently),
        cmocka_unit_test(connect_timeout),
        cmocka_unit_test(scans),
        cmocka_unit_test(lost_network_ap_and_back),
        cmocka_unit_test(lost_then_auth),
        cmocka_unit_test(ap_client_blocks_teardown),
        cmocka_unit_test(lost_while_ap_lingers),
        cmocka_unit_test(first_setup_trial),
        cmocka_unit_test(submitted_while_connected),
        cmocka_unit_test(config_changes),
        cmocka_unit_test(bad_input_changes_nothing),
        cmocka_unit_test(stale_events_are_ignored),
        cmocka_unit_test(wrap_around),
        cmocka_unit_test(longest_lines_fit),
        cmocka_unit_test(random_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
