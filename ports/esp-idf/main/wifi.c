/* wifi: the ESP-IDF side of app/wifi_prov (wifi.h). Compiled only with CONFIG_TB_NET_WIFI. */
#include "sdkconfig.h"

#if CONFIG_TB_NET_WIFI

#include "wifi.h"
#include "net_mdns.h"
#include "http_service.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"
#include "app/wifi_prov.h"
#include "bootloader_random.h"
#include "clock.h"
#include "core/tb_err.h"
#include "esp_event.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "lwip/sockets.h"
#include "nvs.h"

#define TASK_STACK 4096u /* wifi_prov_actions_t lives in the context, not on the stack */
#define TASK_PRIO 4      /* below the web server (5), far below the owner (10) */
#define QUEUE_LEN 12u
#define LOOP_MAX_MS 1000u /* the configuration is compared at least this often */
#define SCAN_MAX 16u      /* networks kept for the setup page (strongest first, one per name) */
#define BODY_MAX 512u     /* the setup form */
#define PAGE_MAX 6144u
#define CMD_TIMEOUT_MS 5000
#define AP_MAX_CLIENTS 2
#define AP_CHANNEL 1
#define KEY_NVS "wifi-ap-key"
#define NVS_NS "tinybms"
#define DNS_STACK 2560u

typedef enum { MSG_EVENT, MSG_SCAN_DONE } msg_kind_t;

typedef struct {
    msg_kind_t kind;
    wifi_prov_ev_type_t type;
    wifi_prov_reason_t reason;
    uint16_t scan_count;
    char ssid[WIFI_PROV_SSID_MAX + 1u];
    char password[WIFI_PROV_PASSWORD_MAX + 1u];
} msg_t;

typedef struct {
    char ssid[WIFI_PROV_SSID_MAX + 1u];
    int8_t rssi;
    bool open;
} scan_entry_t;

typedef struct {
    gw_services_t svc;
    QueueHandle_t q;
    esp_netif_t *sta, *ap;
    /* the wifi task only */
    wifi_prov_t m;
    wifi_prov_actions_t act;
    wifi_prov_cfg_t cfg_seen; /* the section last given to the machine */
    wifi_prov_cfg_t cfg_view; /* read from the view (under its lock) */
    bool mode_ap;
    bool dns_started;
    /* shared with the web server task, under mu */
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    wifi_prov_status_t st;
    char ap_ssid[WIFI_PROV_AP_SSID_SIZE];
    scan_entry_t scan[SCAN_MAX];
    unsigned scan_n;
    uint32_t queue_full;
} wifi_t;

static wifi_t *W;

/* ---- events in -------------------------------------------------------------------------------------- */

static void post(const msg_t *m)
{
    if (xQueueSend(W->q, m, 0) != pdTRUE) {
        xSemaphoreTake(W->mu, portMAX_DELAY);
        W->queue_full++;
        xSemaphoreGive(W->mu);
    }
}

static void post_ev(wifi_prov_ev_type_t t, wifi_prov_reason_t r)
{
    msg_t m = {.kind = MSG_EVENT, .type = t, .reason = r};
    post(&m);
}

/* wifi_event_sta_disconnected_t.reason -> wifi_prov_reason_t (app/wifi_prov.h) */
static wifi_prov_reason_t map_reason(uint8_t r)
{
    switch (r) {
    case WIFI_REASON_AUTH_FAIL:
    case WIFI_REASON_4WAY_HANDSHAKE_TIMEOUT:
    case WIFI_REASON_HANDSHAKE_TIMEOUT: return WIFI_PROV_REASON_AUTH;
    case WIFI_REASON_NO_AP_FOUND:
    case 210: /* ..._W_COMPATIBLE_SECURITY, ..._IN_AUTHMODE_THRESHOLD,
                 ..._IN_RSSI_THRESHOLD (ESP-IDF 5.2+) */
    case 211:
    case 212: return WIFI_PROV_REASON_NOT_FOUND;
    case WIFI_REASON_ASSOC_LEAVE: return WIFI_PROV_REASON_LEAVE;
    default: return WIFI_PROV_REASON_OTHER;
    }
}

/* the default event loop's task: only queue, never call esp_wifi here */
static void on_wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    switch (id) {
    case WIFI_EVENT_STA_START: post_ev(WIFI_PROV_EV_STARTED, WIFI_PROV_REASON_NONE); break;
#if CONFIG_TB_MDNS
    case WIFI_EVENT_STA_CONNECTED: net_mdns_link_up(wifi_sta_netif()); break;
#endif
    case WIFI_EVENT_STA_DISCONNECTED: {
        const wifi_event_sta_disconnected_t *d = data;
        post_ev(WIFI_PROV_EV_STA_DISCONNECTED, map_reason(d->reason));
        break;
    }
    case WIFI_EVENT_SCAN_DONE: {
        const wifi_event_sta_scan_done_t *d = data;
        msg_t m = {.kind = MSG_SCAN_DONE, .scan_count = d->status == 0 ? d->number : 0};
        post(&m);
        break;
    }
    case WIFI_EVENT_AP_STACONNECTED: post_ev(WIFI_PROV_EV_AP_CLIENT_JOINED, WIFI_PROV_REASON_NONE); break;
    case WIFI_EVENT_AP_STADISCONNECTED: post_ev(WIFI_PROV_EV_AP_CLIENT_LEFT, WIFI_PROV_REASON_NONE); break;
    default: break;
    }
}

static void on_ip_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    if (id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *e = data;
        LOGI("net", "Wi-Fi address " IPSTR " (gateway " IPSTR ")", IP2STR(&e->ip_info.ip), IP2STR(&e->ip_info.gw));
        post_ev(WIFI_PROV_EV_STA_CONNECTED, WIFI_PROV_REASON_NONE);
    } else if (id == IP_EVENT_STA_LOST_IP) {
        /* the address expired without a disconnection: treat it as a lost connection */
        post_ev(WIFI_PROV_EV_STA_DISCONNECTED, WIFI_PROV_REASON_OTHER);
    }
}

/* ---- actions out (wifi task) ------------------------------------------------------------------------ */

static void dns_start(void);

static void check(esp_err_t e, const char *what)
{
    if (e != ESP_OK) {
        LOGW("wifi", "%s: %s", what, esp_err_to_name(e));
    }
}

static void copy_str(uint8_t *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap);
    memset(dst, 0, cap);
    memcpy(dst, src, n);
}

/* Whole scan list -> the page's short list: strongest first (ESP-IDF sorts by RSSI), one entry per name,
 * hidden networks left out. */
static void take_scan(uint16_t count)
{
    uint16_t n = count > 24u ? 24u : count;
    wifi_ap_record_t *rec = n ? calloc(n, sizeof *rec) : NULL;
    if (n && (!rec || esp_wifi_scan_get_ap_records(&n, rec) != ESP_OK)) {
        n = 0;
    }
    if (!n) {
        (void)esp_wifi_clear_ap_list(); /* frees the driver's copy */
    }
    scan_entry_t tmp[SCAN_MAX];
    unsigned k = 0;
    for (uint16_t i = 0; i < n && k < SCAN_MAX; i++) {
        char name[WIFI_PROV_SSID_MAX + 1u];
        memcpy(name, rec[i].ssid, WIFI_PROV_SSID_MAX);
        name[WIFI_PROV_SSID_MAX] = '\0';
        if (!name[0] || wifi_prov_check_ssid(name, NULL) != TB_OK) {
            continue;
        }
        bool dup = false;
        for (unsigned j = 0; j < k && !dup; j++) {
            dup = strcmp(tmp[j].ssid, name) == 0;
        }
        if (dup) {
            continue;
        }
        snprintf(tmp[k].ssid, sizeof tmp[k].ssid, "%s", name);
        tmp[k].rssi = rec[i].rssi;
        tmp[k].open = rec[i].authmode == WIFI_AUTH_OPEN;
        k++;
    }
    free(rec);
    xSemaphoreTake(W->mu, portMAX_DELAY);
    memcpy(W->scan, tmp, sizeof tmp);
    W->scan_n = k;
    xSemaphoreGive(W->mu);
}

/* wifi.ssid / wifi.password through the configuration path (the owner validates and saves them, as PUT
 * /api/config would). */
static void save_credentials(const char *ssid, const char *password)
{
    gw_cmd_t *c = calloc(1, sizeof *c);
    if (!c) {
        LOGE("wifi", "out of memory: the working Wi-Fi network was not saved (it "
                     "is used until the next start)");
        return;
    }
    c->type = GW_CMD_CONFIG_UPDATE;
    snprintf(c->source, sizeof c->source, "wifi");
    /* SSID and password are checked by wifi_prov (no control characters); JSON-escape " and \ */
    char *p = c->text;
    size_t left = sizeof c->text;
    const char *parts[] = {"{\"wifi\":{\"ssid\":\"", ssid, "\",\"password\":\"", password, "\"}}"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        bool value = i == 1 || i == 3;
        for (const char *s = parts[i]; *s && left > 2u; s++) {
            if (value && (*s == '"' || *s == '\\')) {
                *p++ = '\\';
                left--;
            }
            *p++ = *s;
            left--;
        }
    }
    *p = '\0';
    int rc = cmdq_call(W->svc.cmdq, c, CMD_TIMEOUT_MS);
    if (rc != TB_OK || c->rc != TB_OK) {
        LOGE("wifi", "the working Wi-Fi network \"%s\" was not saved: %s", ssid,
             rc != TB_OK ? tb_err_name(rc) : c->message);
    } else {
        LOGI("wifi", "Wi-Fi network \"%s\" saved (configuration section wifi)", ssid);
    }
    free(c);
}

static void run_actions(const wifi_prov_actions_t *a)
{
    if (a->sta_stop) {
        check(esp_wifi_disconnect(), "esp_wifi_disconnect");
    }
    if (a->ap_stop && W->mode_ap) {
        check(esp_wifi_set_mode(WIFI_MODE_STA), "station mode");
        W->mode_ap = false;
    }
    if (a->ap_start) {
        wifi_config_t c;
        memset(&c, 0, sizeof c);
        copy_str(c.ap.ssid, sizeof c.ap.ssid, a->ap_ssid);
        c.ap.ssid_len = (uint8_t)strlen(a->ap_ssid);
        copy_str(c.ap.password, sizeof c.ap.password, a->ap_password);
        c.ap.authmode = WIFI_AUTH_WPA2_PSK;
        c.ap.channel = AP_CHANNEL;
        c.ap.max_connection = AP_MAX_CLIENTS;
        c.ap.pmf_cfg.capable = true;
        if (!W->mode_ap) {
            check(esp_wifi_set_mode(WIFI_MODE_APSTA), "access point + station mode");
            W->mode_ap = true;
        }
        check(esp_wifi_set_config(WIFI_IF_AP, &c), "access point settings");
        if (!W->dns_started) {
            dns_start();
        }
    }
    if (a->sta_start) {
        wifi_config_t c;
        memset(&c, 0, sizeof c);
        copy_str(c.sta.ssid, sizeof c.sta.ssid, a->sta_ssid);
        copy_str(c.sta.password, sizeof c.sta.password, a->sta_password);
        /* an empty password is an open network; otherwise WPA2 at least (no WEP, no WPA) */
        c.sta.threshold.authmode = a->sta_password[0] ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
        c.sta.pmf_cfg.capable = true;
        c.sta.scan_method = WIFI_ALL_CHANNEL_SCAN;
        c.sta.sort_method = WIFI_CONNECT_AP_BY_SIGNAL;
        check(esp_wifi_set_config(WIFI_IF_STA, &c), "station settings");
        check(esp_wifi_connect(), "esp_wifi_connect");
    }
    if (a->scan_start) {
        esp_err_t e = esp_wifi_scan_start(NULL, false);
        if (e != ESP_OK) {
            LOGW("wifi", "scan not started: %s", esp_err_to_name(e));
            msg_t m = {.kind = MSG_SCAN_DONE, .scan_count = 0};
            post(&m);
        }
    }
    if (a->save) {
        save_credentials(a->save_ssid, a->save_password);
    }
    for (unsigned i = 0; i < a->log_count; i++) {
        log_msg((log_level_t)a->log[i].level, "wifi", "%s", a->log[i].text);
    }
}

static void publish_status(uint32_t now)
{
    wifi_prov_status_t st;
    wifi_prov_status(&W->m, now, &st);
    xSemaphoreTake(W->mu, portMAX_DELAY);
    W->st = st;
    xSemaphoreGive(W->mu);
}

/* under the view store's lock */
static int read_cfg(const gw_view_t *v, void *ctx)
{
    W->cfg_view = v->cfg.wifi;
    return 0;
}

static void wifi_task(void *arg)
{
    for (;;) {
        uint32_t now = esp_now_ms();
        uint32_t wait = wifi_prov_next_ms(&W->m, now);
        if (wait > LOOP_MAX_MS) {
            wait = LOOP_MAX_MS;
        }
        msg_t msg;
        bool got = xQueueReceive(W->q, &msg, pdMS_TO_TICKS(wait) ? pdMS_TO_TICKS(wait) : 1) == pdTRUE;
        now = esp_now_ms();
        if (got) {
            wifi_prov_ev_t ev = {.type = msg.type, .reason = msg.reason, .scan_count = msg.scan_count};
            if (msg.kind == MSG_SCAN_DONE) {
                take_scan(msg.scan_count);
                ev.type = WIFI_PROV_EV_SCAN_DONE;
            }
            ev.ssid = msg.ssid;
            ev.password = msg.password;
            (void)wifi_prov_event(&W->m, &ev, now, &W->act); /* a refusal is logged through act */
            memset(msg.password, 0, sizeof msg.password);
            run_actions(&W->act);
        }
        /* a configuration change (the configuration page, a restore, the save above) */
        if (view_store_read(W->svc.views, read_cfg, NULL) == 0 &&
            memcmp(&W->cfg_view, &W->cfg_seen, sizeof W->cfg_seen)) {
            W->cfg_seen = W->cfg_view;
            wifi_prov_ev_t ev = {.type = WIFI_PROV_EV_CONFIG_CHANGED, .cfg = &W->cfg_seen};
            (void)wifi_prov_event(&W->m, &ev, now, &W->act);
            run_actions(&W->act);
        }
        wifi_prov_tick(&W->m, now, &W->act);
        run_actions(&W->act);
        memset(W->act.sta_password, 0, sizeof W->act.sta_password);
        memset(W->act.save_password, 0, sizeof W->act.save_password);
        publish_status(now);
    }
}

/* ---- identity: the AP's name and its per-device password -------------------------------------------- */

static bool load_key(wifi_prov_ident_t *id)
{
    nvs_handle_t h;
    size_t n = sizeof id->key;
    if (nvs_open(NVS_NS, NVS_READWRITE, &h) != ESP_OK) {
        return false;
    }
    bool ok = nvs_get_blob(h, KEY_NVS, id->key, &n) == ESP_OK && n == sizeof id->key;
    uint8_t any = 0;
    for (size_t i = 0; ok && i < sizeof id->key; i++) {
        any |= id->key[i];
    }
    if (!ok || !any) { /* wifi_prov refuses an all-zero key */
        /* first start: random bytes from the hardware generator (its entropy source is on) */
        do {
            esp_fill_random(id->key, sizeof id->key);
        } while (!(id->key[0] | id->key[1] | id->key[2] | id->key[3]));
        ok = nvs_set_blob(h, KEY_NVS, id->key, sizeof id->key) == ESP_OK && nvs_commit(h) == ESP_OK;
        if (!ok) {
            LOGW("wifi", "the setup access point's key could not be saved: its "
                         "password changes at the next start");
        }
    }
    nvs_close(h);
    return true;
}

bool wifi_start(const gw_services_t *svc, const gw_config_t *cfg, char *err, size_t cap)
{
    W = calloc(1, sizeof *W);
    if (!W) {
        snprintf(err, cap, "Wi-Fi: out of memory");
        return false;
    }
    W->svc = *svc;
    W->mu = xSemaphoreCreateMutexStatic(&W->mu_buf);
    W->q = xQueueCreate(QUEUE_LEN, sizeof(msg_t));
    wifi_prov_ident_t id;
    memset(&id, 0, sizeof id);
    uint8_t mac[6];
    if (esp_read_mac(mac, ESP_MAC_WIFI_SOFTAP) != ESP_OK) {
        memset(mac, 0, sizeof mac);
    }
    id.mac_tail[0] = mac[4];
    id.mac_tail[1] = mac[5];
    if (!W->q || !load_key(&id)) {
        snprintf(err, cap, "Wi-Fi: %s", W->q ? "NVS unusable (the setup access point needs its key)" : "out of memory");
        return false;
    }
    const char *why = NULL;
    W->cfg_seen = cfg->wifi;
    if (wifi_prov_init(&W->m, &cfg->wifi, &id, esp_now_ms(), &why) != TB_OK) {
        snprintf(err, cap, "Wi-Fi: %s", why ? why : "bad configuration");
        return false;
    }
    memset(&id, 0, sizeof id);
    snprintf(W->ap_ssid, sizeof W->ap_ssid, "%s", wifi_prov_ap_ssid(&W->m));
    /* on the console only, at every start: never into the log ring that GET /api/logs serves */
    printf("\n    Wi-Fi setup: network %s, password %s\n"
           "    (the access point opens when no network is saved or the saved "
           "one cannot be joined;\n"
           "    then open http://192.168.4.1/setup)\n\n",
           wifi_prov_ap_ssid(&W->m), wifi_prov_ap_password(&W->m));
    /* the radio feeds the RNG from now on; ESP-IDF wants the bootloader's entropy source off first */
    bootloader_random_disable();

    W->sta = esp_netif_create_default_wifi_sta();
    W->ap = esp_netif_create_default_wifi_ap();
    wifi_init_config_t ic = WIFI_INIT_CONFIG_DEFAULT();
    const char *step = "esp_wifi_init";
    esp_err_t e = esp_wifi_init(&ic);
    if (e == ESP_OK) {
        step = "esp_wifi_set_storage";
        e = esp_wifi_set_storage(WIFI_STORAGE_RAM); /* the configuration is the truth, not the driver's
                                                       NVS copy */
    }
    if (e == ESP_OK) {
        (void)esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi_event, NULL);
        (void)esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_ip_event, NULL);
        (void)esp_event_handler_register(IP_EVENT, IP_EVENT_STA_LOST_IP, on_ip_event, NULL);
        step = "esp_wifi_set_mode";
        e = esp_wifi_set_mode(WIFI_MODE_STA);
    }
    if (e == ESP_OK) {
        step = "esp_wifi_start";
        e = esp_wifi_start(); /* WIFI_EVENT_STA_START -> WIFI_PROV_EV_STARTED */
    }
    if (e != ESP_OK) {
        snprintf(err, cap, "Wi-Fi: %s: %s", step, esp_err_to_name(e));
        return false;
    }
    if (xTaskCreate(wifi_task, "wifi", TASK_STACK, NULL, TASK_PRIO, NULL) != pdPASS) {
        snprintf(err, cap, "Wi-Fi: cannot create its task");
        return false;
    }
    return true;
}

esp_netif_t *wifi_sta_netif(void) { return W ? W->sta : NULL; }

/* ---- DNS catch-all for the captive portal ----------------------------------------------------------- */

#if CONFIG_TB_WIFI_DNS_CATCHALL
/* Every query on the access point's address gets one answer: an A record 192.168.4.1 for an A question, no
 * records (NOERROR) for anything else. Bounded: one datagram of at most 512 bytes at a time, one question,
 * names walked within the datagram. */
static void dns_task(void *arg)
{
    esp_netif_ip_info_t ip;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    if (fd < 0 || esp_netif_get_ip_info(W->ap, &ip) != ESP_OK) {
        LOGW("wifi", "captive DNS not started");
        vTaskDelete(NULL);
        return;
    }
    a.sin_addr.s_addr = ip.ip.addr;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        LOGW("wifi", "captive DNS: port 53 not available");
        close(fd);
        vTaskDelete(NULL);
        return;
    }
    uint8_t b[512];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        int n = recvfrom(fd, b, sizeof b - 16u, 0, (struct sockaddr *)&from, &fl);
        if (n < 12 || (b[2] & 0x80u) || ((b[2] >> 3) & 0x0fu) != 0 || b[4] != 0 || b[5] != 1) {
            continue; /* not a standard query with one question */
        }
        int p = 12;
        while (p < n && b[p] != 0 && (b[p] & 0xc0u) == 0) {
            p += b[p] + 1;
        }
        if (p + 5 > n || b[p] != 0) {
            continue;
        }
        int qend = p + 5; /* root label, type, class */
        bool type_a = b[p + 1] == 0 && b[p + 2] == 1 && b[p + 3] == 0 && b[p + 4] == 1;
        b[2] = (uint8_t)(0x84u | (b[2] & 0x01u)); /* response, authoritative, RD copied */
        b[3] = 0;                                 /* NOERROR */
        b[6] = 0;
        b[7] = type_a ? 1 : 0;
        memset(b + 8, 0, 4); /* no authority, no additional records (an EDNS OPT is dropped) */
        int len = qend;
        if (type_a) {
            static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
            memcpy(b + len, rr, sizeof rr);
            len += (int)sizeof rr;
            memcpy(b + len, &ip.ip.addr, 4);
            len += 4;
        }
        (void)sendto(fd, b, (size_t)len, 0, (struct sockaddr *)&from, fl);
    }
}

static void dns_start(void)
{
    W->dns_started = xTaskCreate(dns_task, "dns", DNS_STACK, NULL, TASK_PRIO - 1, NULL) == pdPASS;
}
#else
static void dns_start(void) { W->dns_started = true; }
#endif

/* ---- the setup page (web server task) --------------------------------------------------------------- */

/* true when the request came in through the setup access point (its local address is the AP's) */
static bool via_ap(httpd_req_t *req)
{
    esp_netif_ip_info_t ip;
    struct sockaddr_storage local;
    socklen_t l = sizeof local;
    if (!W || esp_netif_get_ip_info(W->ap, &ip) != ESP_OK ||
        getsockname(httpd_req_to_sockfd(req), (struct sockaddr *)&local, &l) != 0 || local.ss_family != AF_INET) {
        return false;
    }
    return ((struct sockaddr_in *)&local)->sin_addr.s_addr == ip.ip.addr;
}

static esp_err_t not_here(httpd_req_t *req)
{
    return httpd_resp_send_err(req, HTTPD_404_NOT_FOUND,
                               "The Wi-Fi setup page answers on the setup access point only; on the LAN "
                               "change the "
                               "network on the configuration page (section wifi).");
}

static void put_html(char *out, size_t cap, size_t *len, const char *s)
{
    for (; *s && *len + 7u < cap; s++) {
        const char *e = NULL;
        switch (*s) {
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '&': e = "&amp;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e) {
            size_t k = strlen(e);
            memcpy(out + *len, e, k);
            *len += k;
        } else {
            out[(*len)++] = *s;
        }
    }
    out[*len] = '\0';
}

static void put(char *out, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1u;
    }
}

/* A paragraph: the opening tag `open` ("<p>", "<p class=err id=...>"), then text escaped. */
static void put_para(char *out, size_t cap, size_t *len, const char *open, const char *text)
{
    put(out, cap, len, "%s", open);
    put_html(out, cap, len, text);
    put(out, cap, len, "</p>");
}

/* The page: status, the networks found, the form; field errors next to their field. No script
 * (captive-portal browsers often run none), no external resource. */
static esp_err_t send_page(httpd_req_t *req, int status, const char *ssid, const char *ssid_err, const char *pw_err,
                           const char *note)
{
    char *h = malloc(PAGE_MAX);
    if (!h) {
        return httpd_resp_send_err(req, HTTPD_500_INTERNAL_SERVER_ERROR, "out of memory");
    }
    wifi_prov_status_t st;
    scan_entry_t scan[SCAN_MAX];
    unsigned n;
    char ap_name[WIFI_PROV_AP_SSID_SIZE];
    xSemaphoreTake(W->mu, portMAX_DELAY);
    st = W->st;
    n = W->scan_n;
    memcpy(scan, W->scan, sizeof scan);
    memcpy(ap_name, W->ap_ssid, sizeof ap_name);
    xSemaphoreGive(W->mu);

    size_t len = 0;
    put(h, PAGE_MAX, &len,
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport "
        "content='width=device-width,initial-scale=1'><title>TinyBMS gateway: "
        "Wi-Fi setup</title>"
        "<style>body{font:16px sans-serif;max-width:32em;margin:1em "
        "auto;padding:0 1em}"
        "label{display:block;margin:.4em 0}.err{color:#b00020;margin:.2em 0 "
        ".8em}input[type=text],"
        "input[type=password]{width:100%%;box-sizing:border-box;padding:.4em}.st{"
        "background:#eef;padding:.5em}"
        "button{padding:.5em 1em;margin:.5em .5em 0 "
        "0}</style></head><body><h1>Wi-Fi setup</h1><p class=st>");
    put_html(h, PAGE_MAX, &len, ap_name);
    put(h, PAGE_MAX, &len, ": %s", wifi_prov_state_name(st.state));
    if (st.ssid[0]) {
        put(h, PAGE_MAX, &len, " &middot; network &ldquo;");
        put_html(h, PAGE_MAX, &len, st.ssid);
        put(h, PAGE_MAX, &len, "&rdquo;");
    }
    if (st.failures) {
        put(h, PAGE_MAX, &len, " &middot; %" PRIu32 " failed attempt%s, last: %s", st.failures,
            st.failures == 1 ? "" : "s", wifi_prov_reason_name(st.last_failure));
    }
    put(h, PAGE_MAX, &len, "</p>");
    if (note) {
        put_para(h, PAGE_MAX, &len, "<p>", note);
    }
    put(h, PAGE_MAX, &len,
        "<form method=post action='/setup'><fieldset><legend>Networks "
        "found%s</legend>",
        st.scanning ? " (scanning...)" : "");
    for (unsigned i = 0; i < n; i++) {
        put(h, PAGE_MAX, &len, "<label><input type=radio name=pick value=\"");
        put_html(h, PAGE_MAX, &len, scan[i].ssid);
        put(h, PAGE_MAX, &len, "\"> ");
        put_html(h, PAGE_MAX, &len, scan[i].ssid);
        put(h, PAGE_MAX, &len, " (%d dBm%s)</label>", scan[i].rssi, scan[i].open ? ", open" : "");
    }
    if (!n) {
        put(h, PAGE_MAX, &len, "<p>None yet.</p>");
    }
    put(h, PAGE_MAX, &len,
        "<button name=scan value=1>Scan again</button></fieldset>"
        "<label>Network name (or pick one above)<input type=text name=ssid "
        "maxlength=32 autocomplete=off value=\"");
    put_html(h, PAGE_MAX, &len, ssid ? ssid : "");
    put(h, PAGE_MAX, &len, "\"></label>");
    if (ssid_err) {
        put_para(h, PAGE_MAX, &len, "<p class=err id=ssid-error>", ssid_err);
    }
    put(h, PAGE_MAX, &len,
        "<label>Password (empty for an open network)<input type=password "
        "name=password maxlength=64 "
        "autocomplete=off></label>");
    if (pw_err) {
        put_para(h, PAGE_MAX, &len, "<p class=err id=password-error>", pw_err);
    }
    put(h, PAGE_MAX, &len,
        "<button name=join value=1>Join</button></form><p>The gateway tries the "
        "network while this access point "
        "stays up, and saves it only once it worked. The access point closes "
        "when you leave it; the gateway is "
        "then on your network (its address is on the serial console and in your "
        "router's list).</p>"
        "</body></html>");
    httpd_resp_set_status(req, status == 200 ? "200 OK" : status == 202 ? "202 Accepted" : "400 Bad Request");
    httpd_resp_set_type(req, "text/html; charset=utf-8");
    httpd_resp_set_hdr(req, "Cache-Control", "no-store");
    httpd_resp_set_hdr(req, "X-Frame-Options", "DENY");
    httpd_resp_set_hdr(req, "Content-Security-Policy",
                       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    esp_err_t e = httpd_resp_send(req, h, (ssize_t)len);
    free(h);
    return e;
}

/* application/x-www-form-urlencoded: the value of key into out (decoded); false if absent or bad */
static bool form_value(const char *body, const char *key, char *out, size_t cap, bool *too_long)
{
    size_t kl = strlen(key);
    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, kl) != 0 || p[kl] != '=') {
            continue;
        }
        size_t o = 0;
        for (const char *s = p + kl + 1; *s && *s != '&'; s++) {
            int c = (unsigned char)*s;
            if (c == '+') {
                c = ' ';
            } else if (c == '%') {
                if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2])) {
                    return false;
                }
                char hex[3] = {s[1], s[2], 0};
                c = (int)strtol(hex, NULL, 16);
                s += 2;
            }
            if (o + 1u >= cap) {
                *too_long = true;
                return false;
            }
            out[o++] = (char)c;
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

static esp_err_t on_setup(httpd_req_t *req)
{
    if (!via_ap(req)) {
        return not_here(req);
    }
    const char *path = req->uri;
    if (strncmp(path, "/setup", 6) != 0 || (path[6] && path[6] != '?')) {
        return httpd_resp_send_err(req, HTTPD_404_NOT_FOUND, "not found");
    }
    if (req->method == HTTP_GET) {
        return send_page(req, 200, NULL, NULL, NULL, NULL);
    }
    /* POST: the form. A cross-site form from another page in the phone's browser is refused. */
    char origin[64];
    if (httpd_req_get_hdr_value_str(req, "Origin", origin, sizeof origin) == ESP_OK && strcmp(origin, "null") != 0) {
        esp_netif_ip_info_t ip;
        char mine[32];
        (void)esp_netif_get_ip_info(W->ap, &ip);
        snprintf(mine, sizeof mine, "http://" IPSTR, IP2STR(&ip.ip));
        if (strcmp(origin, mine) != 0) {
            return httpd_resp_send_err(req, HTTPD_403_FORBIDDEN, "cross-origin form refused");
        }
    }
    if (req->content_len == 0 || req->content_len > BODY_MAX) {
        return httpd_resp_send_err(req, HTTPD_400_BAD_REQUEST, "the form is empty or longer than 512 bytes");
    }
    char body[BODY_MAX + 1u];
    size_t got = 0;
    while (got < req->content_len) {
        int n = httpd_req_recv(req, body + got, req->content_len - got);
        if (n == HTTPD_SOCK_ERR_TIMEOUT) {
            continue;
        }
        if (n <= 0) {
            return ESP_FAIL;
        }
        got += (size_t)n;
    }
    body[got] = '\0';
    msg_t m = {.kind = MSG_EVENT};
    bool too_long = false;
    char tmp[4];
    if (form_value(body, "scan", tmp, sizeof tmp, &too_long)) {
        m.type = WIFI_PROV_EV_SCAN_REQUEST;
        post(&m);
        return send_page(req, 202, NULL, NULL, NULL, "Scanning: reload this page in a few seconds.");
    }
    const char *ssid_err = NULL, *pw_err = NULL;
    if (!form_value(body, "ssid", m.ssid, sizeof m.ssid, &too_long) || !m.ssid[0]) {
        too_long = false;
        if (!form_value(body, "pick", m.ssid, sizeof m.ssid, &too_long)) {
            m.ssid[0] = '\0';
        }
    }
    if (too_long) {
        ssid_err = "At most 32 bytes.";
    } else if (!m.ssid[0]) {
        ssid_err = "Pick a network above or type its name.";
    } else if (wifi_prov_check_ssid(m.ssid, &ssid_err) != TB_OK) {
        /* ssid_err set */
    }
    too_long = false;
    if (!form_value(body, "password", m.password, sizeof m.password, &too_long)) {
        m.password[0] = '\0';
    }
    if (too_long) {
        pw_err = "At most 64 characters.";
    } else if (wifi_prov_check_password(m.password, &pw_err) != TB_OK) {
        /* pw_err set */
    }
    memset(body, 0, sizeof body);
    if (ssid_err || pw_err) {
        memset(m.password, 0, sizeof m.password);
        return send_page(req, 400, m.ssid, ssid_err, pw_err, NULL);
    }
    m.type = WIFI_PROV_EV_USER_SUBMITTED;
    post(&m);
    memset(m.password, 0, sizeof m.password);
    return send_page(req, 202, m.ssid, NULL, NULL,
                     "Joining the network now. Reload this page to see how it "
                     "went; a wrong password shows here "
                     "as \"wrong password\".");
}

/* The operating systems' connectivity checks: answered with a redirect to the setup page, so the phone
 * shows it at once ("sign in to network"). */
static esp_err_t on_probe(httpd_req_t *req)
{
    if (!via_ap(req)) {
        return httpd_resp_send_err(req, HTTPD_404_NOT_FOUND, "not found");
    }
    esp_netif_ip_info_t ip;
    char loc[48];
    (void)esp_netif_get_ip_info(W->ap, &ip);
    snprintf(loc, sizeof loc, "http://" IPSTR "/setup", IP2STR(&ip.ip));
    httpd_resp_set_status(req, "302 Found");
    httpd_resp_set_hdr(req, "Location", loc);
    httpd_resp_set_hdr(req, "Cache-Control", "no-store");
    return httpd_resp_send(req, NULL, 0);
}

void wifi_http_register(httpd_handle_t hd)
{
    static const char *const probes[] = {"/generate_204",    "/gen_204",  "/hotspot-detect.html",
                                         "/connecttest.txt", "/ncsi.txt", "/canonical.html"};
    httpd_uri_t get = {.uri = "/setup*", .method = HTTP_GET, .handler = on_setup};
    httpd_uri_t post_ = {.uri = "/setup*", .method = HTTP_POST, .handler = on_setup};
    (void)http_service_register(hd, &get);
    (void)http_service_register(hd, &post_);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        httpd_uri_t u = {.uri = probes[i], .method = HTTP_GET, .handler = on_probe};
        (void)http_service_register(hd, &u);
    }
}

#endif /* CONFIG_TB_NET_WIFI */
