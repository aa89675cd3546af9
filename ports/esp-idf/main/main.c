/* The firmware's composition (the twin of ports/linux/bin/tinybms-gateway.c).
 *
 * app_main: NVS, log, configuration (NVS "config.json", its ".bak", else the defaults), then one
 * owner task that runs poll -> limits -> alarms -> CAN (app/gateway) on the TinyBMS UART and the
 * TWAI controller, watched by the task watchdog. The network, the web server and the MQTT client
 * start after it and only read published views and send commands through the queue: nothing they
 * do decides whether the battery path runs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "app/config_file.h"
#include "app/gateway.h"
#include "app/log.h"
#include "bootloader_random.h"
#include "can_port.h"
#include "clock.h"
#include "cmdq.h"
#include "core/tb_proto.h"
#include "driver/uart.h"
#include "esp_log.h"
#include "esp_system.h"
#include "esp_task_wdt.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "health.h"
#include "history_store.h"
#include "http_service.h"
#include "mqtt_service.h"
#include "net.h"
#include "nvs_flash.h"
#include "ota.h"
#include "serial.h"
#include "storage.h"
#include "view_store.h"

#define CONFIG_KEY "config.json"     /* NVS keys: at most 15 characters with ".bak" */
#define CONFIG_TEXT_MAX (16u * 1024u)
#define OWNER_STACK 8192u            /* 6 kB left 544 bytes after a configuration save: docs/performance.md */
#define OWNER_PRIO 10                /* above the web server (5) */
#define RESTART_DELAY_MS 500u        /* lets the HTTP reply to POST /api/system/restart leave */
#define WAKE_EVENT UART_EVENT_MAX    /* an event the UART driver never posts: "commands queued" */

/* The pins of menuconfig "TinyBMS gateway", checked when the firmware is built. */
#define TB_PINS_CLASH(a, b) ((a) == (b))
#if TB_PINS_CLASH(CONFIG_TB_UART_TX_GPIO, CONFIG_TB_UART_RX_GPIO) ||                                             \
    TB_PINS_CLASH(CONFIG_TB_UART_TX_GPIO, CONFIG_TB_CAN_TX_GPIO) ||                                              \
    TB_PINS_CLASH(CONFIG_TB_UART_TX_GPIO, CONFIG_TB_CAN_RX_GPIO) ||                                              \
    TB_PINS_CLASH(CONFIG_TB_UART_RX_GPIO, CONFIG_TB_CAN_TX_GPIO) ||                                              \
    TB_PINS_CLASH(CONFIG_TB_UART_RX_GPIO, CONFIG_TB_CAN_RX_GPIO) ||                                              \
    TB_PINS_CLASH(CONFIG_TB_CAN_TX_GPIO, CONFIG_TB_CAN_RX_GPIO)
#error "menuconfig \"TinyBMS gateway\": the UART TX/RX and CAN TX/RX pins must be four different GPIOs"
#endif
#define TB_PIN_IN(p, lo, hi) ((p) >= (lo) && (p) <= (hi))
#if CONFIG_IDF_TARGET_ESP32C3 && (TB_PIN_IN(CONFIG_TB_UART_TX_GPIO, 12, 17) || TB_PIN_IN(CONFIG_TB_UART_RX_GPIO, 12, 17) || \
                                  TB_PIN_IN(CONFIG_TB_CAN_TX_GPIO, 12, 17) || TB_PIN_IN(CONFIG_TB_CAN_RX_GPIO, 12, 17))
#error "menuconfig \"TinyBMS gateway\": GPIO12..17 of the ESP32-C3 drive its flash; pick other pins"
#endif
#if CONFIG_IDF_TARGET_ESP32S3 && (TB_PIN_IN(CONFIG_TB_UART_TX_GPIO, 26, 32) || TB_PIN_IN(CONFIG_TB_UART_RX_GPIO, 26, 32) || \
                                  TB_PIN_IN(CONFIG_TB_CAN_TX_GPIO, 26, 32) || TB_PIN_IN(CONFIG_TB_CAN_RX_GPIO, 26, 32))
#error "menuconfig \"TinyBMS gateway\": GPIO26..32 of the ESP32-S3 drive its flash; pick other pins"
#endif

/* The firmware's defaults on top of the shared ones: the web on port 80, the TinyBMS on the UART
 * of the Kconfig menu, the bus on TWAI, and 2 s for a request header (the web server has one task:
 * while it waits for a slow client's header nobody else is served; http_service.c). */
static const char k_fw_defaults[] =
    "{\"gateway\":{\"http\":\"0.0.0.0:80\",\"serial\":\"uart\",\"state_dir\":\"nvs\"},\"can\":{\"port\":\"twai\"},"
    "\"web\":{\"header_timeout_ms\":2000}}";

static struct {
    gw_config_t cfg; /* the loader's scratch and base copies are on the heap during load_config only */
    cfgfile_result_t cres;
    gateway_t gw;
    view_store_t views;
    history_store_t history;
    cmdq_t cmdq;
    serial_t serial;
    bool serial_ok;
    can_port_t can;
    nvs_storage_t ns;
    storage_t storage;
    SemaphoreHandle_t log_mu;
    StaticSemaphore_t log_mu_buf;
    TaskHandle_t owner;
    http_service_t *http;
    mqtt_service_t *mqtt;
    bool refused;              /* neither saved configuration is valid: running on the defaults */
    char web_off[sizeof ((gw_web_status_t *)0)->error]; /* why there is no web server, "" if there is one */
} G;

/* ---- log: app/log's ring and the console; ESP-IDF's own lines go through the same path ------ */

static void log_write(void *ctx, const log_entry_t *e)
{
    (void)ctx;
    static const char lv[] = "EWID";
    /* one call: lines from several tasks never interleave */
    printf("%c (%" PRIu32 ") %s: %s\n", lv[e->level], e->t_ms, e->module, e->msg);
}

static uint32_t log_now(void *ctx) { return esp_now_ms(); }
static uint64_t log_wall(void *ctx) { return esp_wall_ms(); }
static void log_lock(void *ctx) { xSemaphoreTakeRecursive(G.log_mu, portMAX_DELAY); }
static void log_unlock(void *ctx) { xSemaphoreGiveRecursive(G.log_mu); }

/* esp_log lines ("W (1234) tag: text") become app/log lines: in the UI's log, rate-limited per tag. */
static int esp_log_hook(const char *fmt, va_list ap)
{
    char line[LOG_MSG_MAX + 48u];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n <= 0) {
        return n;
    }
    char *p = line;
    while (*p == '\033') { /* colour codes */
        char *m = strchr(p, 'm');
        if (!m) {
            break;
        }
        p = m + 1;
    }
    log_level_t lvl = LOG_INFO;
    switch (p[0]) {
    case 'E': lvl = LOG_ERROR; break;
    case 'W': lvl = LOG_WARN; break;
    case 'D':
    case 'V': lvl = LOG_DEBUG; break;
    default: break;
    }
    char *tag = strstr(p, ") ");
    char *text = tag ? strstr(tag + 2, ": ") : NULL;
    if (!tag || !text) {
        fputs(line, stdout); /* not a log line: as is */
        return n;
    }
    tag += 2;
    *text = '\0';
    text += 2;
    size_t tl = strlen(text);
    while (tl && (text[tl - 1] == '\n' || text[tl - 1] == '\r' || text[tl - 1] == 'm' || text[tl - 1] == '\033')) {
        if (text[tl - 1] == 'm') { /* trailing "\033[0m" */
            char *esc = strrchr(text, '\033');
            if (!esc) {
                break;
            }
            tl = (size_t)(esc - text);
        } else {
            tl--;
        }
        text[tl] = '\0';
    }
    log_msg(lvl, tag, "%s", text);
    return n;
}

/* ---- configuration -------------------------------------------------------------------------- */

static int read_nvs(void *ctx, const char *path, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    (void)ctx;
    return nvs_storage_load_text(path, buf, cap, len, err, errlen);
}

static int save_config(void *ctx, const gw_config_t *cfg, char *err, size_t cap)
{
    (void)ctx;
    char *text = malloc(CONFIG_TEXT_MAX);
    if (!text) {
        snprintf(err, cap, "out of memory");
        return TB_ERR_NOSPACE;
    }
    int n = gw_config_to_json(cfg, text, CONFIG_TEXT_MAX, GW_CFG_OUT_SECRETS);
    if (n < 0) {
        snprintf(err, cap, "configuration too large (more than %u bytes)", CONFIG_TEXT_MAX);
        free(text);
        return n;
    }
    /* running from the backup, or on the defaults because neither is valid: the broken current
     * version must not become the backup */
    bool keep_backup = strcmp(G.gw.config_source, "backup") != 0 && !G.refused;
    int rc = nvs_storage_save_with_backup(CONFIG_KEY, keep_backup ? CONFIG_KEY ".bak" : NULL, text, (size_t)n, err, cap);
    free(text);
    return rc;
}

/* Defaults < firmware defaults < NVS. A saved configuration that no longer validates (and no valid
 * backup) does not fall back silently to defaults that may not suit the battery: the gateway runs
 * on the defaults with CAN in shadow mode (nothing sent: the GX stops charging as without a BMS)
 * until a valid configuration is saved from the web UI. */
static void load_config(void)
{
    cfg_diag_t d;
    gw_config_defaults(&G.cfg);
    if (gw_config_apply_json(&G.cfg, k_fw_defaults, strlen(k_fw_defaults), GW_CFG_ALLOW_READONLY, &d) != TB_OK) {
        LOGE("config", "internal error in the firmware defaults: %s", d.message);
    }
    /* the defaults to fall back on and the loader's scratch copy: 3.8 kB, needed only now */
    gw_config_t *base = malloc(sizeof *base), *scratch = malloc(sizeof *scratch);
    char *text = malloc(CONFIG_TEXT_MAX);
    if (base) {
        *base = G.cfg;
    }
    int rc = text && base && scratch ? cfgfile_load(&G.cfg, scratch, CONFIG_KEY, 0u, read_nvs, NULL, text,
                                                    CONFIG_TEXT_MAX - 1u, &G.cres)
                                     : TB_ERR_NOSPACE;
    free(text);
    free(scratch);
    if (rc != TB_OK || gw_config_check(&G.cfg, &d) != TB_OK) {
        LOGE("config", "%s", G.cres.message[0] ? G.cres.message : d.message);
        LOGE("config", "running on the defaults with CAN in shadow mode (nothing sent): review the configuration, "
                       "then set can.shadow to false");
        if (base) {
            G.cfg = *base;
        } else { /* out of memory at boot: the defaults again */
            gw_config_defaults(&G.cfg);
            (void)gw_config_apply_json(&G.cfg, k_fw_defaults, strlen(k_fw_defaults), GW_CFG_ALLOW_READONLY, &d);
        }
        G.cfg.can.shadow = true;
        G.refused = true;
        G.cres.source = CFGFILE_SRC_DEFAULTS;
        snprintf(G.cres.message, sizeof G.cres.message,
                 "neither saved configuration (config.json, config.json.bak) is valid: the gateway runs on the "
                 "defaults with CAN in shadow mode (nothing is sent to the GX); review the configuration, then "
                 "set can.shadow to false");
    } else if (strcmp(G.cfg.can.port, "twai") != 0) {
        /* a configuration brought over from the Linux daemon: the firmware has one CAN port */
        LOGW("config", "can.port \"%s\" is not a port of the firmware: using twai", G.cfg.can.port);
        snprintf(G.cfg.can.port, sizeof G.cfg.can.port, "twai");
    }
    if (!G.refused && G.cres.source == CFGFILE_SRC_BACKUP) {
        LOGE("config", "%s", G.cres.problem);
        LOGE("config", "started from %s.bak, the last good configuration (until a change is saved)", CONFIG_KEY);
    }
    free(base);
}

/* ---- ports for app/gateway ------------------------------------------------------------------- */

static bool can_status(void *ctx, char *err, size_t cap)
{
    (void)ctx;
    snprintf(err, cap, "%s", can_port_error(&G.can));
    return can_port_is_open(&G.can);
}

static uint64_t wall_now(void *ctx) { return esp_wall_ms(); }

static void web_status(void *ctx, gw_web_status_t *out)
{
    (void)ctx;
    http_service_status(G.http, out);
    if (!G.http && G.web_off[0]) {
        out->known = true;
        snprintf(out->error, sizeof out->error, "%s", G.web_off);
    }
}

/* cmdq's wake-up: the owner task waits on the UART driver's event queue, or on its task
 * notification when the UART could not be opened (then there may be no queue at all: a failed
 * uart_driver_install leaves it NULL, and xQueueSend(NULL) asserts) */
static void wake_owner(void *ctx)
{
    (void)ctx;
    if (G.serial_ok) {
        uart_event_t ev = {.type = WAKE_EVENT};
        (void)xQueueSend(G.serial.events, &ev, 0); /* full: the owner is awake anyway */
    } else if (G.owner) {
        xTaskNotifyGive(G.owner);
    }
}

/* CAN and UART trouble in the log, once per change (the Linux daemon's can_watch) */
static void port_watch(void)
{
    static can_bus_state_t bus = CAN_BUS_ACTIVE;
    static uint64_t tx_errors, dropped;
    static uint32_t overflows, framing;
    const can_port_stats_t *st = can_port_stats(&G.can);
    health_can_publish(st); /* bus-off, recoveries, error states: GET /api/system and /metrics */
    if (G.can.started && st->state != bus) {
        static const char *const names[] = {"active", "warning", "passive", "bus-off", "down"};
        if (st->state == CAN_BUS_ACTIVE) {
            LOGI("can", "CAN bus error-active again (%llu bus-off, %llu recoveries so far)",
                 (unsigned long long)st->bus_off, (unsigned long long)st->restarts);
        } else {
            LOGW("can", "CAN bus %s: %s", names[st->state], can_port_error(&G.can));
        }
        bus = st->state;
    }
    if (st->tx_errors != tx_errors || st->tx_dropped != dropped) {
        LOGW("can", "CAN transmit trouble: %llu failed, %llu dropped (queue full) so far: %s",
             (unsigned long long)st->tx_errors, (unsigned long long)st->tx_dropped, can_port_error(&G.can));
        tx_errors = st->tx_errors;
        dropped = st->tx_dropped;
    }
    if (G.serial.overflows != overflows || G.serial.framing_errors != framing) {
        LOGW("serial", "UART%d: %" PRIu32 " receive overflows, %" PRIu32 " framing errors so far (bytes lost; the "
                       "poller retries)",
             G.serial.uart, G.serial.overflows, G.serial.framing_errors);
        overflows = G.serial.overflows;
        framing = G.serial.framing_errors;
    }
}

static void run_commands(uint32_t now)
{
    gw_cmd_t *c;
    while ((c = cmdq_take(&G.cmdq)) != NULL) {
        if (gateway_command(&G.gw, c, now)) {
            cmdq_complete(&G.cmdq, c);
        }
    }
    while ((c = gateway_command_poll(&G.gw, now)) != NULL) {
        cmdq_complete(&G.cmdq, c);
    }
}

const char *firmware_reset_reason(void)
{
    switch (esp_reset_reason()) {
    case ESP_RST_POWERON: return "power-on";
    case ESP_RST_EXT: return "reset pin";
    case ESP_RST_SW: return "software restart";
    case ESP_RST_PANIC: return "panic";
    case ESP_RST_INT_WDT: return "interrupt watchdog";
    case ESP_RST_TASK_WDT: return "task watchdog";
    case ESP_RST_WDT: return "watchdog";
    case ESP_RST_DEEPSLEEP: return "deep sleep";
    case ESP_RST_BROWNOUT: return "brown-out";
    case ESP_RST_SDIO: return "SDIO";
    default: return "unknown";
    }
}

/* ---- the owner task ---------------------------------------------------------------------------- */

static void owner_task(void *arg)
{
    (void)arg;
    (void)esp_task_wdt_add(NULL);
    bool restart = false, first_351_logged = false;
    uint32_t restart_at = 0;
    for (;;) {
        uint32_t now = esp_now_ms();
        uint8_t tx[TB_FRAME_MAX];
        int n = gateway_uart_tx(&G.gw, now, tx, sizeof tx);
        if (n > 0 && G.serial_ok && serial_write_all(&G.serial, tx, (size_t)n, 200) != 0) {
            LOGW("serial", "UART%d: write did not complete in 200 ms", G.serial.uart);
        }
        uint32_t wait = gateway_wait_ms(&G.gw, now);
        uart_event_t ev;
        if (G.serial_ok) {
            (void)xQueuePeek(G.serial.events, &ev, pdMS_TO_TICKS(wait) ? pdMS_TO_TICKS(wait) : 1);
        } else {
            (void)ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(wait) ? pdMS_TO_TICKS(wait) : 1);
        }
        now = esp_now_ms();
        if (G.serial_ok) {
            uint8_t rx[256];
            int k;
            while ((k = serial_service(&G.serial, rx, sizeof rx)) > 0) {
                gateway_uart_rx(&G.gw, rx, (size_t)k, now);
            }
        }
        can_frame_t f;
        while (can_port_recv(&G.can, &f) > 0) {
            gateway_can_rx(&G.gw, &f, now);
        }
        can_port_service(&G.can, now);
        run_commands(now);
        gateway_run(&G.gw, now);
        if (G.can.first_351_ms && !first_351_logged) {
            LOGI("can", "first 0x351 (charge limits) %" PRIu32 " ms after boot", G.can.first_351_ms);
            first_351_logged = true;
        }
        port_watch();
        (void)esp_task_wdt_reset();
        /* a new image stays only once the battery path has run: BMS read, limits computed, 0x351
         * sent (in shadow mode nothing is sent by design: the limits are enough) */
        if (ota_probation(now, G.gw.limits.valid && (G.can.first_351_ms != 0u || G.gw.cfg.can.shadow))) {
            cmdq_shutdown(&G.cmdq);
            gateway_shutdown(&G.gw, now);
            can_port_close(&G.can);
            ota_roll_back();
        }

        if (gateway_restart_requested(&G.gw)) {
            if (!restart) {
                restart = true;
                restart_at = now + RESTART_DELAY_MS;
            } else if ((int32_t)(now - restart_at) >= 0) {
                cmdq_shutdown(&G.cmdq);
                gateway_shutdown(&G.gw, now);
                can_port_close(&G.can);
                LOGI("gateway", "restarting");
                esp_restart();
            }
        }
    }
}

void app_main(void)
{
    /* the hardware RNG's entropy source while no radio runs (setup code, salts, session tokens) */
    bootloader_random_enable();
    G.log_mu = xSemaphoreCreateRecursiveMutexStatic(&G.log_mu_buf);
    log_port_t lp = {log_write, log_now, log_wall, log_lock, log_unlock, NULL};
    log_set_port(&lp);
    esp_log_set_vprintf(esp_log_hook);

    esp_err_t e = nvs_flash_init();
    if (e == ESP_ERR_NVS_NO_FREE_PAGES || e == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        LOGW("storage", "NVS partition %s: erased (configuration and counters start from defaults)", esp_err_to_name(e));
        (void)nvs_flash_erase();
        e = nvs_flash_init();
    }
    if (e != ESP_OK) {
        LOGE("storage", "NVS unusable (%s): nothing will be saved", esp_err_to_name(e));
    }
    nvs_storage_init(&G.ns, &G.storage);
    health_boot(); /* brown-out, panic and watchdog resets counted in NVS */
    load_config();
    log_set_level((log_level_t)G.cfg.gateway.log_level);
    LOGI("gateway", "tinybms-gateway %s firmware starting on %s (reset: %s); configuration from %s", ota_version(),
         CONFIG_IDF_TARGET, firmware_reset_reason(), cfgfile_src_name(G.cres.source));
    if (esp_reset_reason() == ESP_RST_PANIC || esp_reset_reason() == ESP_RST_TASK_WDT ||
        esp_reset_reason() == ESP_RST_INT_WDT || esp_reset_reason() == ESP_RST_BROWNOUT) {
        LOGE("gateway", "the last run ended with a %s (GET /api/system: platform.reset_reason)", firmware_reset_reason());
    }

    ota_boot(esp_now_ms());
    view_store_init(&G.views);
    history_store_init(&G.history);

    char err[160];
    G.serial_ok = serial_open(&G.serial, err, sizeof err) == 0;
    if (G.serial_ok) {
        LOGI("serial", "TinyBMS on UART%d (TX GPIO %d, RX GPIO %d), 115200 8N1", G.serial.uart, CONFIG_TB_UART_TX_GPIO,
             CONFIG_TB_UART_RX_GPIO);
    } else {
        LOGE("serial", "%s: no TinyBMS data (the GX gets no limits and stops charging)", err);
    }
    cmdq_init(&G.cmdq, wake_owner, NULL);
    uint32_t now = esp_now_ms();
    if (can_port_open(&G.can, G.cfg.can.port, now) == TB_OK) {
        LOGI("can", "CAN on TWAI (TX GPIO %d, RX GPIO %d), 500 kbit/s", CONFIG_TB_CAN_TX_GPIO, CONFIG_TB_CAN_RX_GPIO);
    } else {
        LOGE("can", "%s", can_port_error(&G.can));
    }

    gw_ports_t ports = {
        .can_send = can_port_send_cb,
        .can_ctx = &G.can,
        .can_status = can_status,
        .storage = &G.storage,
        .publish = view_store_publish,
        .publish_ctx = &G.views,
        .save_config = save_config,
        .wall_ms = wall_now,
        .history_add = history_store_add,
        .history_ctx = &G.history,
        .web_status = web_status,
    };
    gateway_init(&G.gw, &G.cfg, &ports, now);
    gateway_set_config_origin(&G.gw, cfgfile_src_name(G.cres.source), G.cres.message);
    if (xTaskCreate(owner_task, "owner", OWNER_STACK, NULL, OWNER_PRIO, &G.owner) != pdPASS) {
        LOGE("gateway", "cannot create the owner task: restarting");
        esp_restart();
    }

    gw_services_t svc = {.views = &G.views, .cmdq = &G.cmdq, .history = &G.history};
    if (!net_start(&svc, &G.cfg, err, sizeof err)) {
        /* no interface: no web server either (its RAM stays free); the battery path runs on */
        LOGE("net", "%s; the web UI and API are not started", err);
        snprintf(G.web_off, sizeof G.web_off, "not started: %.140s", err);
        return;
    }
    G.http = http_service_start(&svc, &G.cfg);
    G.mqtt = mqtt_service_start(&svc, &G.cfg);
    if (!G.mqtt) {
        LOGE("mqtt", "MQTT not started (see above); the battery side (BMS -> limits -> CAN) runs on without it");
    }
}
