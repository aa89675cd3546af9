#include "health.h"

#include <inttypes.h>
#include <string.h>

#include "app/log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "nvs.h"

#define NVS_NS "tinybms"
#define KEY "reset-counts"
#define VERSION 1u

typedef struct {
    uint32_t version;
    uint32_t brownout, panic, watchdog;
} counts_t;

static counts_t s_counts;  /* written by health_boot() before the other tasks exist, read-only after */
static bool s_have_counts;
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static can_port_stats_t s_can; /* under s_mux */
static bool s_have_can;

void health_boot(void)
{
    nvs_handle_t h;
    if (nvs_open(NVS_NS, NVS_READWRITE, &h) != ESP_OK) {
        LOGW("health", "NVS unusable: resets are not counted");
        return;
    }
    counts_t c;
    size_t n = sizeof c;
    if (nvs_get_blob(h, KEY, &c, &n) != ESP_OK || n != sizeof c || c.version != VERSION) {
        memset(&c, 0, sizeof c);
        c.version = VERSION;
    }
    bool changed = true;
    switch (esp_reset_reason()) {
    case ESP_RST_BROWNOUT: c.brownout++; break;
    case ESP_RST_PANIC: c.panic++; break;
    case ESP_RST_INT_WDT:
    case ESP_RST_TASK_WDT:
    case ESP_RST_WDT: c.watchdog++; break;
    default: changed = n != sizeof c; break; /* a first start writes the zeros */
    }
    if (changed && (nvs_set_blob(h, KEY, &c, sizeof c) != ESP_OK || nvs_commit(h) != ESP_OK)) {
        LOGW("health", "the reset counts could not be saved");
    }
    nvs_close(h);
    s_counts = c;
    s_have_counts = true;
    if (c.brownout || c.panic || c.watchdog) {
        LOGI("health", "resets so far: %" PRIu32 " brown-out, %" PRIu32 " panic, %" PRIu32 " watchdog", c.brownout,
             c.panic, c.watchdog);
    }
}

void health_can_publish(const can_port_stats_t *st)
{
    portENTER_CRITICAL(&s_mux);
    s_can = *st;
    s_have_can = true;
    portEXIT_CRITICAL(&s_mux);
}

void health_fill(api_platform_t *out)
{
    out->has_resets = s_have_counts;
    out->resets_brownout = s_counts.brownout;
    out->resets_panic = s_counts.panic;
    out->resets_watchdog = s_counts.watchdog;
    portENTER_CRITICAL(&s_mux);
    out->has_can_bus = s_have_can;
    out->can_bus_off = s_can.bus_off;
    out->can_recoveries = s_can.restarts;
    out->can_error_passive = s_can.error_passive;
    out->can_error_warning = s_can.error_warning;
    portEXIT_CRITICAL(&s_mux);
}
