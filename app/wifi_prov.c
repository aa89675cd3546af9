#include "app/wifi_prov.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "app/utf8.h"
#include "core/tb_err.h"

/* ---- configuration section "wifi" ------------------------------------------------------------ */

#define S wifi_prov_cfg_t

static const cfg_param_t k_wifi_params[] = {
    CFG_ROW_STR(S, ssid, "wifi.ssid", 0, "", 0,
                "Name (SSID) of the Wi-Fi network the firmware joins; empty = none: the setup access point "
                "TinyBMS-XXXX stays up. Firmware only: the Linux daemon leaves the network to the system."),
    CFG_ROW_STR(S, password, "wifi.password", 0, "", CFG_F_SECRET,
                "Password of that network: 8 to 63 characters, or the 64 hex digits of the key; empty for an "
                "open network."),
    CFG_ROW_INT(S, sta_attempts, "wifi.sta_attempts", "", 1, 100, 5, CFG_F_ADVANCED,
                "Failed attempts in a row, at start or with new settings, before the setup access point opens "
                "(the saved network is still tried every wifi.ap_retry_s)."),
    CFG_ROW_INT(S, auth_attempts, "wifi.auth_attempts", "", 1, 100, 2, CFG_F_ADVANCED,
                "Wrong-password failures before the setup access point opens: fewer than wifi.sta_attempts, "
                "since a wrong password does not fix itself while a router that is still starting does."),
    CFG_ROW_INT(S, backoff_min_s, "wifi.backoff_min_s", "s", 1, 3600, 2, CFG_F_ADVANCED,
                "Wait after the first failed attempt; doubled after each further one up to "
                "wifi.backoff_max_s."),
    CFG_ROW_INT(S, backoff_max_s, "wifi.backoff_max_s", "s", 1, 3600, 60, CFG_F_ADVANCED,
                "Longest wait between two attempts while the setup access point is down."),
    CFG_ROW_INT(S, connect_timeout_s, "wifi.connect_timeout_s", "s", 5, 300, 30, CFG_F_ADVANCED,
                "An attempt that has no address after this long (association, handshake and DHCP) "
                "counts as failed."),
    CFG_ROW_INT(S, ap_after_lost_s, "wifi.ap_after_lost_s", "s", 10, 86400, 300, CFG_F_ADVANCED,
                "After the network was lost, open the setup access point when it has not come back within "
                "this long (a router restart takes a minute or two)."),
    CFG_ROW_INT(S, ap_retry_s, "wifi.ap_retry_s", "s", 30, 86400, 120, CFG_F_ADVANCED,
                "While the setup access point is up and no client uses it, try the saved network again this "
                "often, so that a router that lost power brings the gateway back by itself."),
};

#undef S

const cfg_section_t wifi_prov_cfg_section = {"wifi", k_wifi_params, sizeof k_wifi_params / sizeof k_wifi_params[0],
                                             sizeof(wifi_prov_cfg_t)};

int wifi_prov_check_ssid(const char *ssid, const char **why)
{
    if (!ssid) {
        return tb_err_why(why, TB_ERR_ARG, "no network name given");
    }
    size_t n = strlen(ssid);
    if (n == 0u) {
        return tb_err_why(why, TB_ERR_RANGE, "the network name is empty");
    }
    if (n > WIFI_PROV_SSID_MAX) {
        return tb_err_why(why, TB_ERR_RANGE, "a network name (SSID) is at most 32 bytes");
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ssid[i];
        if (c < 0x20u || c == 0x7Fu) {
            return tb_err_why(why, TB_ERR_RANGE, "the network name contains a control character");
        }
    }
    if (!utf8_valid(ssid, n)) {
        return tb_err_why(why, TB_ERR_RANGE, "the network name is not valid UTF-8 text");
    }
    return TB_OK;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int wifi_prov_check_password(const char *pw, const char **why)
{
    if (!pw) {
        return tb_err_why(why, TB_ERR_ARG, "no password given");
    }
    size_t n = strlen(pw);
    if (n == 0u) {
        return TB_OK; /* open network */
    }
    if (n == 64u) {
        for (size_t i = 0; i < n; i++) {
            if (!is_hex(pw[i])) {
                return tb_err_why(why, TB_ERR_RANGE,
                                  "a 64-character password is the key itself and must be hexadecimal digits "
                                  "(a passphrase is 8 to 63 characters)");
            }
        }
        return TB_OK;
    }
    if (n < 8u || n > 63u) {
        return tb_err_why(why, TB_ERR_RANGE,
                          "a WPA2 password is 8 to 63 characters (or 64 hex digits); empty for an open network");
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (c < 0x20u || c > 0x7Eu) {
            return tb_err_why(why, TB_ERR_RANGE,
                              "a WPA2 password is printable ASCII: letters, digits, spaces and punctuation");
        }
    }
    return TB_OK;
}

int wifi_prov_cfg_check(const wifi_prov_cfg_t *c, const char **key, const char **why)
{
    if (!c) {
        if (key) {
            *key = "wifi";
        }
        return tb_err_why(why, TB_ERR_ARG, "no configuration given");
    }
    cfg_error_t e = {NULL, NULL};
    if (cfg_validate(&wifi_prov_cfg_section, c, &e) != TB_OK) {
        return cfg_refuse(key, why, e.param ? e.param->key : "wifi", e.reason ? e.reason : "invalid");
    }
    const char *w = NULL;
    if (c->ssid[0] && wifi_prov_check_ssid(c->ssid, &w) != TB_OK) {
        return cfg_refuse(key, why, "wifi.ssid", w);
    }
    if (wifi_prov_check_password(c->password, &w) != TB_OK) {
        return cfg_refuse(key, why, "wifi.password", w);
    }
    if (c->backoff_min_s > c->backoff_max_s) {
        return cfg_refuse(key, why, "wifi.backoff_min_s", "must not exceed wifi.backoff_max_s");
    }
    return TB_OK;
}

/* ---- the machine ---------------------------------------------------------------------------------- */

enum { STA_IDLE = 0, STA_CONNECTING, STA_CONNECTED };

/* Which retry policy applies while the station is not connected (see the header):
 *  BOOT  start or credentials from the configuration file: sta_attempts, then the AP;
 *  USER  credentials the user just gave (page or API): like BOOT, but AP clients do not pause it;
 *  LOST  the connection dropped: backoff, the AP after ap_after_lost_s;
 *  AP    the AP is up: one attempt every ap_retry_s while no client is on the AP. */
enum { ROUND_BOOT = 0, ROUND_USER, ROUND_LOST, ROUND_AP };

#define MS(s) ((uint32_t)(s) * 1000u)

static bool due(uint32_t at, uint32_t now)
{
    return (int32_t)(now - at) >= 0;
}

static void say(wifi_prov_t *m, wifi_prov_actions_t *a, log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(wifi_prov_t *m, wifi_prov_actions_t *a, log_level_t level, const char *fmt, ...)
{
    if (a->log_count >= WIFI_PROV_LOG_LINES) {
        m->counters.log_dropped++;
        return;
    }
    wifi_prov_log_t *l = &a->log[a->log_count];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        m->counters.log_dropped++;
        return;
    }
    if ((size_t)n >= sizeof l->text) {
        m->counters.log_truncated++;
    }
    l->level = (uint8_t)level;
    a->log_count++;
}

static bool configured(const wifi_prov_t *m)
{
    return m->cfg.ssid[0] != '\0';
}

static const char *cur_ssid(const wifi_prov_t *m)
{
    return m->trial ? m->trial_ssid : m->cfg.ssid;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1u;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void arm_sta(wifi_prov_t *m, uint32_t at)
{
    m->sta_armed = true;
    m->sta_at = at;
}

static uint32_t backoff_ms(const wifi_prov_t *m, uint32_t failures)
{
    uint32_t d = MS(m->cfg.backoff_min_s), max = MS(m->cfg.backoff_max_s);
    for (uint32_t i = 1; i < failures && d < max; i++) {
        d = d > max / 2u ? max : d * 2u;
    }
    return d < max ? d : max;
}

/* The AP round: one attempt every ap_retry_s while no client is on the AP (the AP is up). */
static void ap_round(wifi_prov_t *m, uint32_t now)
{
    m->round = ROUND_AP;
    m->lost_armed = false;
    if (m->sta == STA_IDLE) {
        if (configured(m)) {
            arm_sta(m, now + MS(m->cfg.ap_retry_s));
        } else {
            m->sta_armed = false;
        }
    }
}

/* The AP opens (if it is not up yet) and the AP round starts. */
static void open_ap(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a, const char *because)
{
    if (!m->ap_up) {
        a->ap_start = true;
        copy_str(a->ap_ssid, sizeof a->ap_ssid, m->ap_ssid);
        copy_str(a->ap_password, sizeof a->ap_password, m->ap_password);
        m->ap_up = true;
        m->ap_clients = 0;
        m->counters.ap_starts++;
        say(m, a, LOG_WARN, "Opening the Wi-Fi setup access point %s because %s.", m->ap_ssid, because);
        if (!m->scan_in_flight) {
            m->scan_pending = true; /* the setup page's list is ready when someone arrives */
        }
    }
    ap_round(m, now);
}

static void close_ap(wifi_prov_t *m, wifi_prov_actions_t *a)
{
    a->ap_stop = true;
    m->ap_up = false;
    m->ap_clients = 0;
}

static void start_attempt(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    a->sta_start = true;
    copy_str(a->sta_ssid, sizeof a->sta_ssid, cur_ssid(m));
    copy_str(a->sta_password, sizeof a->sta_password, m->trial ? m->trial_password : m->cfg.password);
    m->sta = STA_CONNECTING;
    arm_sta(m, now + MS(m->cfg.connect_timeout_s));
    m->counters.attempts++;
    unsigned k = (unsigned)m->failures + 1u;
    switch (m->round) {
    case ROUND_LOST:
        say(m, a, LOG_INFO, "Reconnecting to the Wi-Fi network \"%s\" (attempt %u).", cur_ssid(m), k);
        break;
    case ROUND_AP:
        say(m, a, LOG_INFO, "Trying the saved Wi-Fi network \"%s\" again; the setup access point stays open.",
            cur_ssid(m));
        break;
    default:
        say(m, a, LOG_INFO, "Joining the Wi-Fi network \"%s\" (attempt %u of %u).", cur_ssid(m), k,
            (unsigned)m->cfg.sta_attempts);
        break;
    }
}

/* A trial ends without being saved (failed, or replaced by other credentials). */
static void drop_trial(wifi_prov_t *m)
{
    if (m->trial) {
        m->trial = false;
        m->counters.trials_failed++;
    }
}

/* A round with new credentials (start, configuration, setup page). */
static void new_round(wifi_prov_t *m, uint32_t now, int round)
{
    m->round = (uint8_t)round;
    m->failures = 0;
    m->auth_failures = 0;
    m->lost_armed = false;
    arm_sta(m, now);
}

/* The trial of credentials from the setup page failed for good: keep the saved ones. */
static void trial_failed(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    drop_trial(m);
    say(m, a, LOG_WARN, "The Wi-Fi network \"%s\" entered on the setup page could not be joined (%s); nothing "
        "was saved.", m->trial_ssid, wifi_prov_reason_name((wifi_prov_reason_t)m->last_failure));
    if (m->ap_up) {
        ap_round(m, now);
    } else if (configured(m)) {
        new_round(m, now, ROUND_BOOT); /* back to the saved network at once */
    } else {
        open_ap(m, now, a, "no Wi-Fi network is saved");
    }
}

static void attempt_failed(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a, wifi_prov_reason_t r)
{
    m->sta = STA_IDLE;
    m->sta_armed = false;
    m->last_failure = (uint8_t)r;
    m->failures++;
    switch (r) {
    case WIFI_PROV_REASON_AUTH:
        m->counters.fail_auth++;
        m->auth_failures++;
        break;
    case WIFI_PROV_REASON_NOT_FOUND:
        m->counters.fail_not_found++;
        break;
    case WIFI_PROV_REASON_TIMEOUT:
        m->counters.fail_timeout++;
        break;
    default:
        m->counters.fail_other++;
        break;
    }
    const char *ssid = cur_ssid(m);
    const char *rn = wifi_prov_reason_name(r);
    bool auth_limit = m->auth_failures >= (uint32_t)m->cfg.auth_attempts;
    bool limit = auth_limit || m->failures >= (uint32_t)m->cfg.sta_attempts;
    if (m->round == ROUND_AP) {
        arm_sta(m, now + MS(m->cfg.ap_retry_s));
        say(m, a, LOG_INFO, "Could not join the Wi-Fi network \"%s\" (%s); next try in %u s unless a client uses "
            "the setup access point.", ssid, rn, (unsigned)m->cfg.ap_retry_s);
        return;
    }
    if (m->round == ROUND_LOST ? auth_limit : limit) {
        say(m, a, LOG_WARN, "Could not join the Wi-Fi network \"%s\" (%s, %u failed attempts).", ssid, rn,
            (unsigned)m->failures);
        if (m->trial) {
            trial_failed(m, now, a);
        } else {
            open_ap(m, now, a, auth_limit ? "the saved password was refused" : "the saved network cannot be joined");
        }
        return;
    }
    uint32_t wait = backoff_ms(m, m->failures);
    arm_sta(m, now + wait);
    say(m, a, LOG_INFO, "Could not join the Wi-Fi network \"%s\" (%s); next attempt in %u s.", ssid, rn,
        (unsigned)(wait / 1000u));
}

/* Whatever has fallen due, and the operations that waited for the radio. Each pass makes at
 * least one deadline disappear or move ahead, so the loop ends; the bound is a belt. */
static void service(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    if (!m->started) {
        return;
    }
    for (unsigned pass = 0; pass < 8u; pass++) {
        bool again = false;
        if (m->scan_in_flight && due(m->scan_at, now)) {
            m->scan_in_flight = false;
            m->scan_armed = false;
            m->scanned_once = true;
            m->scan_end_ms = now;
            m->counters.scan_timeouts++;
            say(m, a, LOG_WARN, "The Wi-Fi scan gave no result within %u s; it is given up.",
                (unsigned)(WIFI_PROV_SCAN_TIMEOUT_MS / 1000u));
            again = true;
        }
        if (m->sta == STA_CONNECTING && due(m->sta_at, now)) {
            a->sta_stop = true;
            attempt_failed(m, now, a, WIFI_PROV_REASON_TIMEOUT);
            again = true;
        }
        if (m->lost_armed && due(m->lost_at, now)) {
            m->lost_armed = false;
            open_ap(m, now, a, "the Wi-Fi network has been lost for too long");
            again = true;
        }
        if (m->scan_pending && !m->scan_in_flight) {
            if (m->sta == STA_CONNECTING) {
                m->scan_armed = false; /* starts when the attempt ends */
            } else if (!m->scanned_once || due(m->scan_end_ms + WIFI_PROV_SCAN_GAP_MS, now)) {
                a->scan_start = true;
                m->scan_pending = false;
                m->scan_in_flight = true;
                m->scan_armed = true;
                m->scan_at = now + WIFI_PROV_SCAN_TIMEOUT_MS;
                m->counters.scans++;
                again = true;
            } else {
                m->scan_armed = true;
                m->scan_at = m->scan_end_ms + WIFI_PROV_SCAN_GAP_MS;
            }
        }
        if (m->sta == STA_IDLE && m->sta_armed && due(m->sta_at, now) && !m->scan_in_flight) {
            if (m->round == ROUND_AP && m->ap_clients > 0u) {
                m->sta_armed = false; /* re-armed when the last client leaves */
            } else {
                start_attempt(m, now, a);
                again = true;
            }
        }
        if (!again) {
            break;
        }
    }
}

static void reset_radio(wifi_prov_t *m)
{
    m->sta = STA_IDLE;
    m->ap_up = false;
    m->ap_clients = 0;
    m->scan_in_flight = false;
    m->scan_pending = false;
    m->sta_armed = false;
    m->lost_armed = false;
    m->scan_armed = false;
    drop_trial(m);
    m->failures = 0;
    m->auth_failures = 0;
}

static void ev_started(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    bool again = m->started;
    reset_radio(m);
    m->started = true;
    m->counters.starts++;
    if (configured(m)) {
        say(m, a, LOG_INFO, "Wi-Fi %s; joining the saved network \"%s\".", again ? "restarted" : "started",
            m->cfg.ssid);
        new_round(m, now, ROUND_BOOT);
    } else {
        open_ap(m, now, a, "no Wi-Fi network is saved");
    }
}

static void ev_connected(wifi_prov_t *m, wifi_prov_actions_t *a)
{
    if (m->sta != STA_CONNECTING) {
        m->counters.ignored++;
        return;
    }
    m->sta = STA_CONNECTED;
    m->sta_armed = false;
    m->lost_armed = false;
    m->failures = 0;
    m->auth_failures = 0;
    m->last_failure = WIFI_PROV_REASON_NONE;
    m->round = ROUND_LOST; /* the policy if it drops */
    m->counters.connects++;
    if (m->trial) {
        a->save = true;
        copy_str(a->save_ssid, sizeof a->save_ssid, m->trial_ssid);
        copy_str(a->save_password, sizeof a->save_password, m->trial_password);
        copy_str(m->cfg.ssid, sizeof m->cfg.ssid, m->trial_ssid);
        copy_str(m->cfg.password, sizeof m->cfg.password, m->trial_password);
        m->trial = false;
        m->counters.trials_saved++;
        say(m, a, LOG_INFO, "Joined the Wi-Fi network \"%s\" entered on the setup page; it is saved.", m->cfg.ssid);
    } else {
        say(m, a, LOG_INFO, "Joined the Wi-Fi network \"%s\".", m->cfg.ssid);
    }
    if (m->ap_up) {
        if (m->ap_clients == 0u) {
            close_ap(m, a);
            say(m, a, LOG_INFO, "The setup access point is closed.");
        } else {
            say(m, a, LOG_INFO, "The setup access point stays open until its last client leaves.");
        }
    }
}

static void ev_disconnected(wifi_prov_t *m, uint32_t now, wifi_prov_reason_t r, wifi_prov_actions_t *a)
{
    if (r == WIFI_PROV_REASON_LEAVE || m->sta == STA_IDLE) {
        m->counters.ignored++;
        return;
    }
    if (m->sta == STA_CONNECTING) {
        attempt_failed(m, now, a, r);
        return;
    }
    m->sta = STA_IDLE;
    m->counters.losses++;
    m->failures = 0;
    m->auth_failures = 0;
    m->last_failure = (uint8_t)r;
    if (m->ap_up) { /* a client kept the AP open */
        say(m, a, LOG_WARN, "Lost the Wi-Fi network \"%s\" (%s); the setup access point is open.", m->cfg.ssid,
            wifi_prov_reason_name(r));
        m->round = ROUND_AP;
        arm_sta(m, now); /* paused by service() while the client stays */
        return;
    }
    say(m, a, LOG_WARN, "Lost the Wi-Fi network \"%s\" (%s); reconnecting, with the setup access point in %u s if "
        "it does not come back.", m->cfg.ssid, wifi_prov_reason_name(r), (unsigned)m->cfg.ap_after_lost_s);
    new_round(m, now, ROUND_LOST);
    m->lost_armed = true;
    m->lost_at = now + MS(m->cfg.ap_after_lost_s);
}

static void ev_client_joined(wifi_prov_t *m, wifi_prov_actions_t *a)
{
    if (!m->ap_up) {
        m->counters.ignored++;
        return;
    }
    if (m->ap_clients < UINT8_MAX) {
        m->ap_clients++;
    }
    if (m->ap_clients != 1u || m->round != ROUND_AP) {
        return;
    }
    if (m->sta == STA_CONNECTING) {
        a->sta_stop = true;
        m->sta = STA_IDLE;
        m->counters.cancelled++;
        say(m, a, LOG_INFO, "A client joined the setup access point; the attempt to join \"%s\" is stopped so that "
            "the setup page keeps working.", m->cfg.ssid);
    }
    m->sta_armed = false; /* re-armed when the last client leaves */
}

static void ev_client_left(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    if (!m->ap_up || m->ap_clients == 0u) {
        m->counters.ignored++;
        return;
    }
    m->ap_clients--;
    if (m->ap_clients != 0u) {
        return;
    }
    if (m->sta == STA_CONNECTED) {
        close_ap(m, a);
        say(m, a, LOG_INFO, "The last client left the setup access point; it is closed.");
    } else if (m->round == ROUND_AP && m->sta == STA_IDLE && configured(m)) {
        arm_sta(m, now + MS(m->cfg.ap_retry_s));
        say(m, a, LOG_INFO, "The setup access point has no client; the saved network \"%s\" is tried again in %u s.",
            m->cfg.ssid, (unsigned)m->cfg.ap_retry_s);
    }
}

static void ev_scan_done(wifi_prov_t *m, uint32_t now, uint16_t n)
{
    if (!m->scan_in_flight) {
        m->counters.ignored++;
        return;
    }
    m->scan_in_flight = false;
    m->scan_armed = false;
    m->scanned_once = true;
    m->scan_end_ms = now;
    m->scan_results = n;
}

/* Deadlines armed under the old numbers come no later than the new numbers allow. */
static void clamp(bool armed, uint32_t *at, uint32_t now, uint32_t limit)
{
    if (armed && (int32_t)(*at - (now + limit)) > 0) {
        *at = now + limit;
    }
}

static void ev_config(wifi_prov_t *m, const wifi_prov_cfg_t *c, uint32_t now, wifi_prov_actions_t *a)
{
    bool creds = strcmp(c->ssid, m->cfg.ssid) != 0 || strcmp(c->password, m->cfg.password) != 0;
    m->cfg = *c;
    if (!m->started) {
        return;
    }
    uint32_t sta_limit = m->sta == STA_CONNECTING ? MS(c->connect_timeout_s)
                         : m->round == ROUND_AP   ? MS(c->ap_retry_s)
                                                  : MS(c->backoff_max_s);
    clamp(m->sta_armed, &m->sta_at, now, sta_limit);
    clamp(m->lost_armed, &m->lost_at, now, MS(c->ap_after_lost_s));
    if (!creds) {
        return;
    }
    drop_trial(m);
    if (m->sta != STA_IDLE) {
        a->sta_stop = true;
        m->sta = STA_IDLE;
    }
    m->sta_armed = false;
    if (configured(m)) {
        say(m, a, LOG_INFO, "The Wi-Fi settings changed; joining \"%s\".", m->cfg.ssid);
        new_round(m, now, ROUND_USER);
    } else {
        m->lost_armed = false;
        say(m, a, LOG_INFO, "The Wi-Fi network setting was cleared.");
        open_ap(m, now, a, "no Wi-Fi network is saved");
    }
}

static void ev_user(wifi_prov_t *m, const char *ssid, const char *pw, uint32_t now, wifi_prov_actions_t *a)
{
    bool same = strcmp(ssid, m->cfg.ssid) == 0 && strcmp(pw, m->cfg.password) == 0;
    if (same && m->sta == STA_CONNECTED) {
        say(m, a, LOG_INFO, "Already connected to the Wi-Fi network \"%s\".", ssid);
        return;
    }
    drop_trial(m);
    if (!same) {
        m->trial = true;
        m->counters.trials++;
        copy_str(m->trial_ssid, sizeof m->trial_ssid, ssid);
        copy_str(m->trial_password, sizeof m->trial_password, pw);
    }
    if (m->sta != STA_IDLE) {
        a->sta_stop = true;
        m->sta = STA_IDLE;
    }
    say(m, a, LOG_INFO, "Trying the Wi-Fi network \"%s\" entered on the setup page.", ssid);
    new_round(m, now, ROUND_USER);
}

static int refuse(wifi_prov_t *m, wifi_prov_actions_t *a, int rc, const char *why)
{
    a->why = why;
    m->counters.rejected++;
    say(m, a, LOG_WARN, "Wi-Fi: a request was refused: %s.", why);
    return rc;
}

int wifi_prov_event(wifi_prov_t *m, const wifi_prov_ev_t *ev, uint32_t now, wifi_prov_actions_t *a)
{
    if (!m || !a) {
        return TB_ERR_ARG;
    }
    memset(a, 0, sizeof *a);
    if (!ev || (unsigned)ev->type >= (unsigned)WIFI_PROV_EV_COUNT) {
        return refuse(m, a, TB_ERR_ARG, "unknown event");
    }
    const char *why = NULL;
    switch (ev->type) {
    case WIFI_PROV_EV_STA_DISCONNECTED:
        if (ev->reason != WIFI_PROV_REASON_AUTH && ev->reason != WIFI_PROV_REASON_NOT_FOUND &&
            ev->reason != WIFI_PROV_REASON_OTHER && ev->reason != WIFI_PROV_REASON_LEAVE) {
            return refuse(m, a, TB_ERR_ARG, "a disconnection needs a reason: auth, not found, other or leave");
        }
        break;
    case WIFI_PROV_EV_USER_SUBMITTED:
        if (wifi_prov_check_ssid(ev->ssid, &why) != TB_OK || wifi_prov_check_password(ev->password, &why) != TB_OK) {
            return refuse(m, a, TB_ERR_ARG, why);
        }
        if (!m->started) {
            return refuse(m, a, TB_ERR_STATE, "Wi-Fi is not started yet");
        }
        break;
    case WIFI_PROV_EV_SCAN_REQUEST:
        if (!m->started) {
            return refuse(m, a, TB_ERR_STATE, "Wi-Fi is not started yet");
        }
        break;
    case WIFI_PROV_EV_CONFIG_CHANGED: {
        const char *key = "wifi";
        if (wifi_prov_cfg_check(ev->cfg, &key, &why) != TB_OK) {
            a->why = why;
            m->counters.rejected++;
            say(m, a, LOG_WARN, "Wi-Fi: the new configuration was refused: %s: %s.", key, why);
            return TB_ERR_ARG;
        }
        break;
    }
    default:
        break;
    }
    if (!m->started && ev->type != WIFI_PROV_EV_STARTED && ev->type != WIFI_PROV_EV_CONFIG_CHANGED) {
        m->counters.ignored++;
        return TB_OK;
    }
    switch (ev->type) {
    case WIFI_PROV_EV_STARTED:
        ev_started(m, now, a);
        break;
    case WIFI_PROV_EV_STA_CONNECTED:
        ev_connected(m, a);
        break;
    case WIFI_PROV_EV_STA_DISCONNECTED:
        ev_disconnected(m, now, ev->reason, a);
        break;
    case WIFI_PROV_EV_SCAN_REQUEST:
        if (!m->scan_in_flight) { /* one running answers this request too */
            m->scan_pending = true;
        }
        break;
    case WIFI_PROV_EV_SCAN_DONE:
        ev_scan_done(m, now, ev->scan_count);
        break;
    case WIFI_PROV_EV_USER_SUBMITTED:
        ev_user(m, ev->ssid, ev->password, now, a);
        break;
    case WIFI_PROV_EV_AP_CLIENT_JOINED:
        ev_client_joined(m, a);
        break;
    case WIFI_PROV_EV_AP_CLIENT_LEFT:
        ev_client_left(m, now, a);
        break;
    case WIFI_PROV_EV_CONFIG_CHANGED:
        ev_config(m, ev->cfg, now, a);
        break;
    case WIFI_PROV_EV_COUNT:
        break;
    }
    service(m, now, a);
    return TB_OK;
}

void wifi_prov_tick(wifi_prov_t *m, uint32_t now, wifi_prov_actions_t *a)
{
    if (!m || !a) {
        return;
    }
    memset(a, 0, sizeof *a);
    service(m, now, a);
}

uint32_t wifi_prov_max_delay_ms(const wifi_prov_t *m)
{
    uint32_t mx = WIFI_PROV_SCAN_TIMEOUT_MS > WIFI_PROV_SCAN_GAP_MS ? WIFI_PROV_SCAN_TIMEOUT_MS : WIFI_PROV_SCAN_GAP_MS;
    const int32_t v[] = {m->cfg.backoff_max_s, m->cfg.connect_timeout_s, m->cfg.ap_after_lost_s, m->cfg.ap_retry_s};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (MS(v[i]) > mx) {
            mx = MS(v[i]);
        }
    }
    return mx;
}

static void earliest(uint32_t *best, bool armed, uint32_t at, uint32_t now)
{
    if (!armed) {
        return;
    }
    uint32_t d = (int32_t)(at - now) > 0 ? at - now : 0u;
    if (d < *best) {
        *best = d;
    }
}

uint32_t wifi_prov_next_ms(const wifi_prov_t *m, uint32_t now)
{
    uint32_t best = wifi_prov_max_delay_ms(m);
    if (!m->started) {
        return best;
    }
    /* an attempt due during a scan waits for the scan's end (an event or its timeout) */
    earliest(&best, m->sta_armed && !(m->sta == STA_IDLE && m->scan_in_flight), m->sta_at, now);
    earliest(&best, m->lost_armed, m->lost_at, now);
    earliest(&best, m->scan_armed, m->scan_at, now);
    return best;
}

wifi_prov_state_t wifi_prov_state(const wifi_prov_t *m)
{
    if (!m->started) {
        return WIFI_PROV_OFF;
    }
    if (m->sta == STA_CONNECTED) {
        return WIFI_PROV_CONNECTED;
    }
    if (m->ap_up) {
        return m->sta == STA_CONNECTING ? WIFI_PROV_SETUP_CONNECTING : WIFI_PROV_SETUP;
    }
    return m->sta == STA_CONNECTING ? WIFI_PROV_CONNECTING : WIFI_PROV_WAITING;
}

const char *wifi_prov_state_name(wifi_prov_state_t s)
{
    static const char *const k[] = {"off", "connecting", "waiting", "connected", "setup", "setup_connecting"};
    return (unsigned)s < sizeof k / sizeof k[0] ? k[s] : "unknown";
}

const char *wifi_prov_reason_name(wifi_prov_reason_t r)
{
    static const char *const k[] = {"none",      "wrong password", "network not found", "connection failed",
                                    "disconnected by the gateway", "timeout"};
    return (unsigned)r < sizeof k / sizeof k[0] ? k[r] : "unknown";
}

void wifi_prov_status(const wifi_prov_t *m, uint32_t now, wifi_prov_status_t *st)
{
    memset(st, 0, sizeof *st);
    st->state = wifi_prov_state(m);
    st->configured = configured(m);
    st->trial = m->trial;
    st->ap_up = m->ap_up;
    st->ap_clients = m->ap_clients;
    st->scanning = m->scan_in_flight;
    st->scan_results = m->scan_results;
    copy_str(st->ssid, sizeof st->ssid, cur_ssid(m));
    st->failures = m->failures;
    st->last_failure = (wifi_prov_reason_t)m->last_failure;
    st->next_attempt_ms = UINT32_MAX;
    if (m->started && m->sta == STA_IDLE && m->sta_armed) {
        st->next_attempt_ms = (int32_t)(m->sta_at - now) > 0 ? m->sta_at - now : 0u;
    }
}

const wifi_prov_counters_t *wifi_prov_counters(const wifi_prov_t *m)
{
    return &m->counters;
}

const char *wifi_prov_ap_ssid(const wifi_prov_t *m)
{
    return m->ap_ssid;
}

const char *wifi_prov_ap_password(const wifi_prov_t *m)
{
    return m->ap_password;
}

int wifi_prov_init(wifi_prov_t *m, const wifi_prov_cfg_t *cfg, const wifi_prov_ident_t *id, uint32_t now,
                   const char **why)
{
    (void)now; /* nothing is scheduled before WIFI_PROV_EV_STARTED */
    if (!m || !cfg || !id) {
        return tb_err_why(why, TB_ERR_ARG, "wifi_prov_init needs the machine, a configuration and an identity");
    }
    memset(m, 0, sizeof *m);
    const char *w = NULL;
    if (wifi_prov_cfg_check(cfg, NULL, &w) != TB_OK) {
        return tb_err_why(why, TB_ERR_RANGE, w);
    }
    uint8_t any = 0;
    for (size_t i = 0; i < WIFI_PROV_AP_KEY_BYTES; i++) {
        any |= id->key[i];
    }
    if (any == 0u) {
        return tb_err_why(why, TB_ERR_RANGE, "the access point key bytes are all zero: pass random bytes");
    }
    m->cfg = *cfg;
    static const char hex[] = "0123456789ABCDEF";
    /* "TinyBMS-" + 4 hex digits */
    memcpy(m->ap_ssid, "TinyBMS-", 8);
    m->ap_ssid[8] = hex[id->mac_tail[0] >> 4];
    m->ap_ssid[9] = hex[id->mac_tail[0] & 15u];
    m->ap_ssid[10] = hex[id->mac_tail[1] >> 4];
    m->ap_ssid[11] = hex[id->mac_tail[1] & 15u];
    m->ap_ssid[12] = '\0';
    /* 5 bits of each byte: 256 is a multiple of 32, so every symbol is equally likely. The
     * alphabet of app/auth.c's setup code (no I, L, O, U). */
    static const char k32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    size_t o = 0;
    for (size_t i = 0; i < WIFI_PROV_AP_KEY_SYMBOLS; i++) {
        if (i > 0u && i % 4u == 0u) {
            m->ap_password[o++] = '-';
        }
        m->ap_password[o++] = k32[id->key[i] & 31u];
    }
    m->ap_password[o] = '\0';
    return TB_OK;
}
