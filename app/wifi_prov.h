/* wifi_prov: the Wi-Fi provisioning policy as a pure state machine (issue 19, part 1).
 *
 * Events in, actions out, time injected. The port (the ESP-IDF firmware; not written yet) turns
 * driver events into wifi_prov_event() calls, calls wifi_prov_tick() when wifi_prov_next_ms() says,
 * and executes the returned wifi_prov_actions_t. This module decides everything else, so all of it
 * is tested on the host (tests/unit/test_wifi_prov.c). The battery path (BMS -> limits -> CAN)
 * never depends on it: nothing here is called from the gateway cycle and nothing here blocks.
 *
 * Policy (every number is a key of the configuration section "wifi", see wifi_prov_cfg_t):
 *  - Nothing saved (wifi.ssid empty): the setup access point (AP) is up, always.
 *  - At start, or when new credentials arrive: join the saved network; after a failed attempt
 *    wait wifi.backoff_min_s, doubled after each further failure, at most wifi.backoff_max_s.
 *    After wifi.sta_attempts failed attempts in a row, or sooner after wifi.auth_attempts
 *    wrong-password failures (a wrong password does not fix itself; a router that is still
 *    booting does), the AP opens. An attempt without a result within wifi.connect_timeout_s
 *    (association, WPA2 handshake and DHCP) fails as "timeout".
 *  - Connected, then the network goes away: reconnect at once, then with the same backoff; the AP
 *    opens when the network has been gone for wifi.ap_after_lost_s (or after wifi.auth_attempts
 *    wrong-password failures: the router's password was changed).
 *  - AP up and a network saved: while no client is connected to the AP, the saved network is
 *    tried again every wifi.ap_retry_s (the station and the AP share the radio; the AP stays up
 *    during the attempt). So a router that lost power brings the gateway back as soon as it is
 *    up again, at most wifi.ap_retry_s later: the device is never stranded in AP mode.
 *  - A client on the AP is never disturbed by the automatic policy: no automatic attempt starts
 *    while one is connected, a running automatic attempt is stopped when one joins (a station
 *    attempt moves the radio to the router's channel), and the AP is never torn down while one is
 *    connected, even after the station has joined: it closes when the last client leaves.
 *    Attempts the user asked for (credentials from the setup page, a configuration change) run
 *    even with a client present: that client is the user waiting for the result.
 *  - Credentials from the setup page (WIFI_PROV_EV_USER_SUBMITTED) are a trial: they are tried
 *    with the same limits and saved (WIFI_PROV_ACT save) only once they worked. If they fail, the
 *    saved ones are kept and tried again, so a typo made over the LAN does not lock the gateway
 *    out of its network. Credentials from the configuration (WIFI_PROV_EV_CONFIG_CHANGED) are
 *    already saved and replace the trial.
 *  - Scans (for the setup page's list): one when the AP opens and one per WIFI_PROV_EV_SCAN_REQUEST,
 *    never while a station attempt runs and never two within WIFI_PROV_SCAN_GAP_MS; a scan
 *    without a result within WIFI_PROV_SCAN_TIMEOUT_MS is given up. A station attempt that falls
 *    due during a scan starts when the scan ends.
 *
 * AP security: WPA2-PSK with a per-device password, not an open AP gated by the web setup code.
 * The setup page carries the home network's password; on an open AP it would cross the air in
 * clear for anyone in radio range to read (and the setup code with it), whatever the web layer
 * checks. The password is WIFI_PROV_AP_KEY_SYMBOLS symbols of 32 (60 bits, "XXXX-XXXX-XXXX",
 * the alphabet of the web setup code: nothing to misread from a terminal) drawn from random bytes
 * the caller passes (wifi_prov_ident_t.key): never from the MAC, which every nearby device can
 * read from the air. 60 bits keep an offline dictionary attack on a captured handshake (WPA2
 * PBKDF2, a few million guesses a second per GPU) beyond reach (about 10^4 GPU-years). The port
 * draws the bytes once from the hardware generator, stores them, and prints the password on the
 * console at every start (like the web setup code: never into the log ring that /api/logs serves).
 * There is no wifi.ap_password key: a chosen password would live in the configuration file and
 * its copies and be the same on every device set up from one file; the per-device one needs no
 * choice and no storage beyond the key bytes. The AP is named "TinyBMS-XXXX" from the last two
 * bytes of the MAC (wifi_prov_ident_t.mac_tail), so two gateways in one room tell apart.
 *
 * Events the current state does not expect (a result for an attempt that was stopped, a client
 * leaving an AP that is down) are counted in wifi_prov_counters_t.ignored and change nothing.
 * A disconnection the gateway asked for itself (WIFI_PROV_REASON_LEAVE) is always ignored.
 * Bad input (NULL, an unknown event or reason, invalid credentials or configuration) is refused
 * with TB_ERR_ARG, a reason in actions->why and a log line, counted (rejected), and changes
 * nothing else.
 *
 * Time: now_ms is monotonic and may wrap (compared as (int32_t)(a - b)); every deadline is at
 * most 86 400 s ahead, so the port must call wifi_prov_tick() at least every 24 days (it calls it
 * when wifi_prov_next_ms() says, which is at most the largest configured delay).
 * Memory: wifi_prov_t (376 bytes) and wifi_prov_actions_t (952 bytes; keep it off small task
 * stacks) are caller-allocated; no
 * allocation, no OS calls, no clock. Threads: one owner calls every function (not thread-safe).
 */
#ifndef APP_WIFI_PROV_H
#define APP_WIFI_PROV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg_schema.h"

#define WIFI_PROV_SSID_MAX 32u     /* bytes of an SSID (IEEE 802.11) */
#define WIFI_PROV_PASSWORD_MAX 64u /* 8..63 printable ASCII (passphrase) or 64 hex digits (PSK) */
#define WIFI_PROV_AP_KEY_BYTES 12u /* random bytes behind the AP password: 5 bits used of each */
#define WIFI_PROV_AP_KEY_SYMBOLS 12u
#define WIFI_PROV_AP_SSID_SIZE 16u     /* "TinyBMS-XXXX" + NUL, rounded up */
#define WIFI_PROV_AP_PASSWORD_SIZE 16u /* "XXXX-XXXX-XXXX" + NUL, rounded up */

/* Build knobs: scan limits (not policy a user tunes; documented above). */
#ifndef WIFI_PROV_SCAN_TIMEOUT_MS
#define WIFI_PROV_SCAN_TIMEOUT_MS 15000u /* an ESP32 all-channel scan takes ~2-4 s */
#endif
#ifndef WIFI_PROV_SCAN_GAP_MS
#define WIFI_PROV_SCAN_GAP_MS 5000u /* between the end of a scan and the start of the next */
#endif
#if WIFI_PROV_SCAN_TIMEOUT_MS < 1000u || WIFI_PROV_SCAN_TIMEOUT_MS > 600000u
#error "WIFI_PROV_SCAN_TIMEOUT_MS must be 1000..600000"
#endif
#if WIFI_PROV_SCAN_GAP_MS > 600000u
#error "WIFI_PROV_SCAN_GAP_MS must be at most 600000"
#endif

/* Log lines returned per call, and their size (the longest sentence with a 32-byte SSID is
 * about 150 characters; tests/unit/test_wifi_prov.c checks that none is cut or dropped). */
#define WIFI_PROV_LOG_LINES 4u
#define WIFI_PROV_LOG_MAX 176u

/* ---- configuration section "wifi" ------------------------------------------------------------ */

typedef struct {
    char ssid[WIFI_PROV_SSID_MAX + 1u];         /* wifi.ssid            "" = none saved: the AP is up */
    char password[WIFI_PROV_PASSWORD_MAX + 1u]; /* wifi.password        secret; "" = open network */
    int32_t sta_attempts;      /* wifi.sta_attempts      1..100, default 5 failed attempts -> AP */
    int32_t auth_attempts;     /* wifi.auth_attempts     1..100, default 2 wrong passwords -> AP */
    int32_t backoff_min_s;     /* wifi.backoff_min_s     1..3600 s, default 2 (first retry delay) */
    int32_t backoff_max_s;     /* wifi.backoff_max_s     1..3600 s, default 60 (doubling stops here) */
    int32_t connect_timeout_s; /* wifi.connect_timeout_s 5..300 s, default 30 (until an address) */
    int32_t ap_after_lost_s;   /* wifi.ap_after_lost_s   10..86400 s, default 300 */
    int32_t ap_retry_s;        /* wifi.ap_retry_s        30..86400 s, default 120 */
} wifi_prov_cfg_t;

extern const cfg_section_t wifi_prov_cfg_section;

/* Checks beyond each key's range: the SSID (wifi_prov_check_ssid, or empty), the password
 * (wifi_prov_check_password), backoff_min_s <= backoff_max_s. Returns TB_OK, or TB_ERR_RANGE with
 * *key (full key name) and *why (static English) set; either pointer may be NULL. */
int wifi_prov_cfg_check(const wifi_prov_cfg_t *c, const char **key, const char **why);

/* An SSID to join: 1..32 bytes of UTF-8 without control characters. TB_OK or TB_ERR_RANGE
 * (TB_ERR_ARG for NULL) with *why set. */
int wifi_prov_check_ssid(const char *ssid, const char **why);
/* A network password: "" (open network), 8..63 printable ASCII characters (a WPA2 passphrase)
 * or exactly 64 hexadecimal digits (the key itself). TB_OK or TB_ERR_RANGE (TB_ERR_ARG for NULL)
 * with *why set. */
int wifi_prov_check_password(const char *password, const char **why);

/* ---- identity of this device's setup AP --------------------------------------------------------- */

typedef struct {
    uint8_t mac_tail[2];                  /* last two bytes of the Wi-Fi MAC: "TinyBMS-XXXX" */
    uint8_t key[WIFI_PROV_AP_KEY_BYTES];  /* random, kept across restarts (not all zero) */
} wifi_prov_ident_t;

/* ---- events ----------------------------------------------------------------------------------------- */

typedef enum {
    WIFI_PROV_EV_STARTED = 0,        /* the driver is up (again: a second one resets the radio state) */
    WIFI_PROV_EV_STA_CONNECTED,      /* the station has an IP address */
    WIFI_PROV_EV_STA_DISCONNECTED,   /* an attempt failed or the connection dropped; .reason */
    WIFI_PROV_EV_SCAN_REQUEST,       /* the setup page wants fresh scan results */
    WIFI_PROV_EV_SCAN_DONE,          /* a scan ended; .scan_count results (0 when it failed) */
    WIFI_PROV_EV_USER_SUBMITTED,     /* .ssid / .password from the setup page (copied) */
    WIFI_PROV_EV_AP_CLIENT_JOINED,   /* a client associated with the setup AP */
    WIFI_PROV_EV_AP_CLIENT_LEFT,     /* a client left the setup AP */
    WIFI_PROV_EV_CONFIG_CHANGED,     /* .cfg is the new section "wifi" (copied) */
    WIFI_PROV_EV_COUNT
} wifi_prov_ev_type_t;

/* Why a station attempt ended. The ESP-IDF port maps wifi_event_sta_disconnected_t.reason:
 * AUTH: 202 AUTH_FAIL, 15 4WAY_HANDSHAKE_TIMEOUT, 204 HANDSHAKE_TIMEOUT (how ESP-IDF reports a
 * wrong password); NOT_FOUND: 201 NO_AP_FOUND and 210..212 (no AP found with a compatible
 * security mode or above the thresholds); LEAVE: 8 ASSOC_LEAVE (the gateway's own
 * esp_wifi_disconnect()); OTHER: everything else. TIMEOUT and NONE are this module's own. */
typedef enum {
    WIFI_PROV_REASON_NONE = 0,
    WIFI_PROV_REASON_AUTH,      /* wrong password (or a handshake that never completed) */
    WIFI_PROV_REASON_NOT_FOUND, /* no access point with this SSID answered */
    WIFI_PROV_REASON_OTHER,     /* association refused, beacon lost, DHCP failed, ... */
    WIFI_PROV_REASON_LEAVE,     /* the gateway disconnected itself: ignored */
    WIFI_PROV_REASON_TIMEOUT,   /* no address within wifi.connect_timeout_s (never an input) */
    WIFI_PROV_REASON_COUNT
} wifi_prov_reason_t;

typedef struct {
    wifi_prov_ev_type_t type;
    wifi_prov_reason_t reason;   /* STA_DISCONNECTED: AUTH, NOT_FOUND, OTHER or LEAVE */
    uint16_t scan_count;         /* SCAN_DONE */
    const char *ssid;            /* USER_SUBMITTED; read during the call only */
    const char *password;        /* USER_SUBMITTED; read during the call only */
    const wifi_prov_cfg_t *cfg;  /* CONFIG_CHANGED; read during the call only */
} wifi_prov_ev_t;

/* ---- actions ---------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t level;                 /* log_level_t (app/log.h): LOG_WARN or LOG_INFO */
    char text[WIFI_PROV_LOG_MAX];  /* one English sentence, never empty, never a password */
} wifi_prov_log_t;

/* What the port does, in this order: sta_stop, ap_stop, ap_start, sta_start, scan_start, save,
 * then the log lines (module "wifi"). A stop and a start of the same interface in one step means
 * "stop, then start with the new settings". The module never asks to start what it believes is
 * running, nor to stop what it believes is stopped (a STARTED event resets that belief). */
typedef struct {
    bool sta_stop;   /* esp_wifi_disconnect(); the resulting LEAVE event is ignored */
    bool ap_stop;    /* AP off (station-only mode) */
    bool ap_start;   /* AP on with ap_ssid / ap_password, WPA2-PSK (AP+station mode) */
    bool sta_start;  /* join sta_ssid with sta_password (AP stays as it is) */
    bool scan_start; /* start one scan; answer with WIFI_PROV_EV_SCAN_DONE */
    bool save;       /* store save_ssid / save_password as wifi.ssid / wifi.password (config file) */
    char sta_ssid[WIFI_PROV_SSID_MAX + 1u];
    char sta_password[WIFI_PROV_PASSWORD_MAX + 1u];
    char ap_ssid[WIFI_PROV_AP_SSID_SIZE];
    char ap_password[WIFI_PROV_AP_PASSWORD_SIZE];
    char save_ssid[WIFI_PROV_SSID_MAX + 1u];
    char save_password[WIFI_PROV_PASSWORD_MAX + 1u];
    const char *why; /* a refused event: static English reason (else NULL) */
    uint8_t log_count;
    wifi_prov_log_t log[WIFI_PROV_LOG_LINES];
} wifi_prov_actions_t;

/* ---- state, status, counters ---------------------------------------------------------------------- */

typedef enum {
    WIFI_PROV_OFF = 0,          /* "off": before WIFI_PROV_EV_STARTED */
    WIFI_PROV_CONNECTING,       /* "connecting": a station attempt runs, AP down */
    WIFI_PROV_WAITING,          /* "waiting": AP down, next attempt scheduled (backoff) */
    WIFI_PROV_CONNECTED,        /* "connected": the station has an address (the AP may stay up
                                   while a client is on it) */
    WIFI_PROV_SETUP,            /* "setup": AP up, no station attempt running */
    WIFI_PROV_SETUP_CONNECTING, /* "setup_connecting": AP up and a station attempt runs */
    WIFI_PROV_STATE_COUNT
} wifi_prov_state_t;

typedef struct {
    uint32_t starts;        /* STARTED events */
    uint32_t attempts;      /* station attempts started */
    uint32_t connects;      /* attempts that gave an address */
    uint32_t losses;        /* connections that dropped */
    uint32_t fail_auth, fail_not_found, fail_other, fail_timeout; /* failed attempts by reason */
    uint32_t cancelled;     /* automatic attempts stopped because a client joined the AP */
    uint32_t ap_starts;     /* times the AP opened */
    uint32_t scans, scan_timeouts;
    uint32_t trials, trials_saved, trials_failed; /* setup-page credentials: tried, saved, failed or
                                                     replaced (trials = saved + failed + the one running) */
    uint32_t ignored;       /* events the state did not expect (see the top) */
    uint32_t rejected;      /* bad events refused with TB_ERR_ARG or TB_ERR_STATE */
    uint32_t log_dropped, log_truncated; /* 0 by design (tested); kept to prove it */
} wifi_prov_counters_t;

/* The machine. Caller-allocated; members are private (read them through the functions below). */
typedef struct {
    wifi_prov_cfg_t cfg; /* numbers in use and the saved credentials */
    char trial_ssid[WIFI_PROV_SSID_MAX + 1u];
    char trial_password[WIFI_PROV_PASSWORD_MAX + 1u];
    char ap_ssid[WIFI_PROV_AP_SSID_SIZE];
    char ap_password[WIFI_PROV_AP_PASSWORD_SIZE];
    bool started, trial, ap_up, scan_in_flight, scan_pending, scanned_once;
    bool sta_armed, lost_armed, scan_armed;
    uint8_t sta;     /* idle / connecting / connected */
    uint8_t round;   /* which retry policy applies (wifi_prov.c) */
    uint8_t ap_clients;
    uint8_t last_failure; /* wifi_prov_reason_t */
    uint16_t scan_results;
    uint32_t sta_at;  /* connecting: its timeout; idle: the next attempt */
    uint32_t lost_at; /* open the AP then (network lost, AP down) */
    uint32_t scan_at; /* scan in flight: its timeout; scan pending: the end of the gap */
    uint32_t scan_end_ms;
    uint32_t failures, auth_failures; /* since the last connection or new credentials */
    wifi_prov_counters_t counters;
} wifi_prov_t;

/* Status for the UI and /api/system. */
typedef struct {
    wifi_prov_state_t state;
    bool configured;        /* a network is saved */
    bool trial;             /* trying credentials from the setup page */
    bool ap_up;
    uint8_t ap_clients;
    bool scanning;
    uint16_t scan_results;  /* of the last scan */
    char ssid[WIFI_PROV_SSID_MAX + 1u]; /* network tried or joined ("" when none) */
    uint32_t failures;      /* failed attempts since the last connection or new credentials */
    wifi_prov_reason_t last_failure;
    uint32_t next_attempt_ms; /* until the next automatic attempt; UINT32_MAX = none scheduled */
} wifi_prov_status_t;

/* ---- functions ------------------------------------------------------------------------------------- */

/* Set up the machine in state "off" (nothing happens before WIFI_PROV_EV_STARTED). cfg must pass
 * wifi_prov_cfg_check; id->key must not be all zero. Returns TB_OK, or TB_ERR_ARG (NULL) /
 * TB_ERR_RANGE (bad configuration or key) with *why set when why is not NULL, m then unusable. */
int wifi_prov_init(wifi_prov_t *m, const wifi_prov_cfg_t *cfg, const wifi_prov_ident_t *id, uint32_t now_ms,
                   const char **why);

/* Feed one event. *a is cleared first and then holds what to do. Returns TB_OK (including
 * ignored events), TB_ERR_ARG for bad input, TB_ERR_STATE for USER_SUBMITTED or SCAN_REQUEST
 * before STARTED; on an error a->why and one log line say why, and nothing but
 * counters.rejected changes. */
int wifi_prov_event(wifi_prov_t *m, const wifi_prov_ev_t *ev, uint32_t now_ms, wifi_prov_actions_t *a);

/* Handle every deadline that has passed. *a is cleared first. Harmless when nothing is due. */
void wifi_prov_tick(wifi_prov_t *m, uint32_t now_ms, wifi_prov_actions_t *a);

/* Milliseconds until wifi_prov_tick() has something to do: at least 1 after any event or tick
 * (a deadline never stays overdue), at most the largest configured delay (wifi_prov_max_delay_ms)
 * also when nothing is scheduled. */
uint32_t wifi_prov_next_ms(const wifi_prov_t *m, uint32_t now_ms);
/* The largest delay of the configuration in use (ms): the bound of wifi_prov_next_ms(). */
uint32_t wifi_prov_max_delay_ms(const wifi_prov_t *m);

wifi_prov_state_t wifi_prov_state(const wifi_prov_t *m);
/* "off", "connecting", "waiting", "connected", "setup", "setup_connecting"; "unknown" else. */
const char *wifi_prov_state_name(wifi_prov_state_t s);
/* "none", "wrong password", "network not found", "connection failed", "disconnected by the
 * gateway", "timeout"; "unknown" else. */
const char *wifi_prov_reason_name(wifi_prov_reason_t r);
void wifi_prov_status(const wifi_prov_t *m, uint32_t now_ms, wifi_prov_status_t *st);
const wifi_prov_counters_t *wifi_prov_counters(const wifi_prov_t *m);

/* The AP's name ("TinyBMS-3F2A") and WPA2 password ("XXXX-XXXX-XXXX") for the port to print on
 * the console at start; valid as long as m. Never log the password. */
const char *wifi_prov_ap_ssid(const wifi_prov_t *m);
const char *wifi_prov_ap_password(const wifi_prov_t *m);

#endif
