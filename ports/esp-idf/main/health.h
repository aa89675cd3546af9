/* health: what /api/system "platform" and /metrics report about the chip's own troubles, beyond
 * heap and stacks: resets by cause counted across restarts (brown-out, panic, watchdogs; NVS key
 * "reset-counts") and the TWAI controller's bus-off, recovery and error-state counts. */
#ifndef PORTS_ESP_HEALTH_H
#define PORTS_ESP_HEALTH_H

#include "app/api.h"
#include "can_port.h"

/* app_main, after nvs_flash_init() and before any task reads them: counts this start's cause
 * (esp_reset_reason()) in NVS. A failure to save is logged; the counts then start from what was
 * read. */
void health_boot(void);
/* The owner task, every cycle: a copy of the CAN controller's counters for other tasks. */
void health_can_publish(const can_port_stats_t *st);
/* Any task: fills the reset and CAN fields of *out. */
void health_fill(api_platform_t *out);

#endif
